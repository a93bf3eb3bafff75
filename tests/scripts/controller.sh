#!/usr/bin/env bash
# An Ansible controller of another Debian release, beside the system's, without touching
# the system's packages: a minimal root of that release (debootstrap --variant=minbase) with
# its ansible-core (and ansible-lint, and what ansible-test sanity needs) installed by its
# own apt, run on this host with the root's own Python and libraries (the root's dynamic
# loader with --library-path: nothing of the root leaks into the host's processes). Targets
# stay this host: modules run by the local connection use the host's /usr/bin/python3 and
# see the host's Docker, as they would from a controller of that release.
#
#   tests/scripts/controller.sh system|trixie|sid   -> prints a directory to put first on PATH
#                                                      (ansible, ansible-playbook, ansible-galaxy,
#                                                      ansible-doc, ansible-test, ansible-lint, python3)
#
# The roots are cached in ~/.cache/jenkins_ha.buildkit/controllers/<release> (about 250 MB each,
# a minute or two to make); a root older than CONTROLLER_MAX_AGE_DAYS (7) is refreshed so that
# sid follows what Debian ships. CONTROLLER_REFRESH=1 remakes it now.
set -euo pipefail

release=${1:?usage: $0 system|trixie|sid}
cache=${CONTROLLERS_CACHE:-$HOME/.cache/jenkins_ha.buildkit/controllers}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
max_age=${CONTROLLER_MAX_AGE_DAYS:-7}
tools=(ansible ansible-playbook ansible-galaxy ansible-doc ansible-config ansible-inventory ansible-test ansible-lint)
# ansible-core and ansible-lint of that release; the rest is what ansible-test sanity's
# tests import (its own virtual environments are made from them: see tests/scripts/sanity.sh).
packages=(ansible-core ansible-lint python3-venv python3-pip-whl python3-setuptools-whl
  python3-voluptuous python3-yaml python3-jinja2 python3-packaging python3-pycodestyle pylint yamllint
  shellcheck git)

if [ "$release" = system ]; then
  # Debian 12's own ansible-core (2.14) in /usr/bin: a directory of links, so that putting it
  # first on PATH also puts Debian's python3 before pyenv's.
  dir=$cache/system/bin
  mkdir -p "$dir"
  for t in "${tools[@]}" python3; do ln -sfn "/usr/bin/$t" "$dir/$t"; done
  echo "$dir"
  exit 0
fi
case "$release" in trixie|sid|forky) ;; *) echo "unknown release $release (system, trixie, sid)" >&2; exit 2 ;; esac

root=$cache/$release
stamp=$root/.jenkins_ha-ready
if [ -f "$stamp" ] && [ -z "${CONTROLLER_REFRESH:-}" ] && [ -n "$(find "$stamp" -mtime -"$max_age")" ]; then
  echo "$root/.bin"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "== installing debootstrap" >&2; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >&2; }

mkdir -p "$cache"
exec 9>"$cache/.$release.lock"
flock 9
new=$cache/.$release.new
rm -rf "$new"
echo "== controller root: debootstrap $release (minbase) into $new" >&2
debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$release" "$new" "$mirror" >&2
# Its apt installs into the root only (chroot: /proc for dpkg's maintainer scripts, in a
# private mount namespace so nothing stays mounted).
echo "== controller root: apt-get install ${packages[*]}" >&2
# sid's Release file carries a Valid-Until a few days ahead; a mirror that lags past it is still
# signed and checked, so its age alone does not stop the install.
echo 'Acquire::Check-Valid-Until "false";' > "$new/etc/apt/apt.conf.d/99jenkins-ha-controller"
unshare -m -- sh -c "mount -t proc proc '$new/proc' && chroot '$new' sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${packages[*]} && apt-get clean'" >&2

# Wrappers: the root's Python, run by the root's own dynamic loader with its libraries.
# --argv0 makes sys.executable this wrapper, so anything Ansible starts with it works too.
loaders=("$new"/usr/lib/*-linux-gnu/ld-linux*.so.*)
loader=${loaders[0]#"$new"/}
libs=${loader%/*}
mkdir -p "$new/.bin"
cat > "$new/.bin/python3" <<EOF
#!/bin/sh
# Debian $release's python3 on this host (tests/scripts/controller.sh).
r=\$(cd "\$(dirname "\$0")/.." && pwd)
# (No PYTHONHOME: it would reach the host's Python that runs modules. From --argv0 Python finds
# its prefix, the root, by itself.) -s: no user site-packages.
exec "\$r/$loader" --library-path "\$r/$libs" --argv0 "\$r/.bin/python3" "\$r/usr/bin/python3" -s "\$@"
EOF
chmod 0755 "$new/.bin/python3"
for t in "${tools[@]}"; do
  [ -e "$new/usr/bin/$t" ] || continue
  cat > "$new/.bin/$t" <<EOF
#!/bin/sh
exec "\$(dirname "\$0")/python3" "\$(dirname "\$0")/../usr/bin/$t" "\$@"
EOF
  chmod 0755 "$new/.bin/$t"
done
"$new/.bin/ansible" --version >&2
touch "$new/.jenkins_ha-ready"
rm -rf "$root"
mv "$new" "$root"
# The root moved: the wrappers find it from their own path, nothing else to fix.
echo "$root/.bin"
