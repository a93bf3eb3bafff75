#!/usr/bin/env bash
# ansible-test sanity on a controller (system: Debian 12's 2.14, trixie: Debian 13's 2.19), on a
# copy of the collection laid out as ansible-test wants it (ansible_collections/jenkins_ha/buildkit),
# with its sanity environments made from that release's Debian packages
# (tests/scripts/ansible_test_offline.py); then that release's ansible-lint, production profile.
#   tests/scripts/sanity.sh system|trixie [TEST...]
set -euo pipefail
cd "$(dirname "$0")/../.."
c=${1:?usage: $0 system|trixie [TEST...]}
shift
bin=$(tests/scripts/controller.sh "$c")
py=$("$bin/python3" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dest=$work/ansible_collections/jenkins_ha/buildkit
mkdir -p "$dest"
# What git has (ansible-test lists files with git), built output left out as in the tarball.
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -d -t "$dest"
rm -rf "$dest/collections"
(cd "$dest" && git init -q && git add -A && git -c user.name=ci -c user.email=ci@localhost commit -qm sanity)

# In: the host for the system's controller; a chroot of the release's root for the others (their
# Python cannot make virtual environments from the host's side), with the copy bind-mounted.
cat > "$work/in-controller.sh" <<'EOF'
#!/bin/sh
# $1: the collection copy; then the command.
cd "$1" && shift && exec "$@"
EOF
chmod 0755 "$work/in-controller.sh"
if [ "$c" = system ]; then
  inside() { PATH="$bin:/usr/bin:$PATH" "$work/in-controller.sh" "$dest" "$@"; }
  top=$work
else
  root=${bin%/.bin}
  inside() {
    # shellcheck disable=SC2016 # the inner sh expands them
    unshare -m -- sh -c 'mount --bind "$1" "$2/mnt" && mount -t proc proc "$2/proc" && r=$2 && shift 2 && exec chroot "$r" "$@"' \
      sh "$work" "$root" env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 /mnt/in-controller.sh /mnt/ansible_collections/jenkins_ha/buildkit "$@"
  }
  top=/mnt
fi

# The tests that need what no Debian release packages (changelog: antsibull-changelog; 2.15+
# validate-modules: antsibull-docs-parser) are skipped on that controller and said so.
skip=()
inside python3 -c 'import antsibull_changelog' 2>/dev/null || skip+=(--skip-test changelog)
if ! inside python3 -c 'import antsibull_docs_parser' 2>/dev/null &&
  inside python3 -c 'import ansible_test, os, sys; sys.exit("antsibull_docs_parser" not in open(os.path.join(os.path.dirname(ansible_test.__file__), "_util/controller/sanity/validate-modules/validate_modules/main.py")).read())'; then
  skip+=(--skip-test validate-modules)
fi
version=$(inside python3 -c 'from ansible.release import __version__; print(__version__)')
echo "== ansible-test sanity ($c: ansible-core $version, Python $py)${skip:+; skipped, not packaged by Debian: ${skip[*]}}"
inside python3 tests/scripts/ansible_test_offline.py sanity --python "$py" --color no "${skip[@]}" "$@"

echo "== ansible-lint --profile production ($c: $(inside python3 -c 'from ansiblelint.version import __version__; print(__version__)'))"
# (It cannot load binary modules for option checks and says so per task: those lines are dropped.)
lint_rc=0
lint_out=$(ANSIBLE_COLLECTIONS_PATH="$top" inside env ANSIBLE_COLLECTIONS_PATH="$top" ansible-lint --profile production -q roles/ playbooks/ tests/playbooks/ 2>&1) || lint_rc=$?
echo "$lint_out" | grep -v 'for options validation' || true
[ "$lint_rc" -eq 0 ] || { echo "ansible-lint ($c) found problems"; exit 1; }
