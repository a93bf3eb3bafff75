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

# The tests that need what no Debian release packages (changelog: antsibull-changelog; 2.15+
# validate-modules: antsibull-docs-parser) are skipped on that controller and said so.
skip=()
"$bin/python3" -c 'import antsibull_changelog' 2>/dev/null || skip+=(--skip-test changelog)
if ! "$bin/python3" -c 'import antsibull_docs_parser' 2>/dev/null && grep -q antsibull_docs_parser \
    "$("$bin/python3" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_util/controller/sanity/validate-modules/validate_modules/main.py"; then
  skip+=(--skip-test validate-modules)
fi
echo "== ansible-test sanity ($c: ansible-core $("$bin/python3" -c 'from ansible.release import __version__; print(__version__)'), Python $py)${skip:+; skipped, not packaged by Debian: ${skip[*]}}"
(cd "$dest" && PATH="$bin:$PATH" python3 "$OLDPWD/tests/scripts/ansible_test_offline.py" sanity --python "$py" --color no "${skip[@]}" "$@")

echo "== ansible-lint --profile production ($c: $("$bin/python3" -c 'from ansiblelint.version import __version__; print(__version__)'))"
# (It cannot load binary modules for option checks and says so per task: those lines are dropped.)
lint_rc=0
lint_out=$(cd "$dest" && PATH="$bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$work" ansible-lint --profile production -q roles/ playbooks/ tests/playbooks/ 2>&1) || lint_rc=$?
echo "$lint_out" | grep -v 'for options validation' || true
[ "$lint_rc" -eq 0 ] || { echo "ansible-lint ($c) found problems"; exit 1; }
