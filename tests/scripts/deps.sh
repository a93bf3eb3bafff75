#!/usr/bin/env bash
# Installs what the test suite needs on Debian 12 (as root), and only what is missing:
# run by tests/run (make test, make test-matrix) and so by .ci/run.
set -euo pipefail

# arm64 binaries run under qemu-user-static when binfmt_misc can be mounted
# (tests/playbooks/test_arch_dispatch.yml checks the dispatch either way).
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true

need=()
[ -x /usr/sbin/dockerd ] || need+=(docker.io)
[ -x /usr/bin/ansible-playbook ] || need+=(ansible-core)
[ -x /usr/bin/ansible-lint ] || need+=(ansible-lint)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v make >/dev/null 2>&1 || need+=(make)
dpkg -s qemu-user-static >/dev/null 2>&1 || need+=(qemu-user-static binfmt-support)
# Registries for push/pull tests, htpasswd for the one with auth, ssh-agent for build.ssh.
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v ssh-agent >/dev/null 2>&1 || need+=(openssh-client)
# cron: where systemd does not run, troubleshoot-buildkit.yml's optimize mode schedules the cleanup with it.
command -v crontab >/dev/null 2>&1 || need+=(cron)
# chromium: the HTML build report is checked in a real headless browser.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# xmllint checks the JUnit report against its schema; a JDK and Node.js (>= 20, with npm) run
# npm-groovy-lint on the example Jenkinsfile; npm also fetches the pinned schemas (tests/scripts/schemas.sh).
command -v xmllint >/dev/null 2>&1 || need+=(libxml2-utils)
command -v java >/dev/null 2>&1 || need+=(default-jre-headless)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
# The benchmark harness (quick mode): sshd for the per-task SSH workload, and
# community.docker (Debian's ansible package; it carries its own Docker API client) as a contender.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
[ -d /usr/lib/python3/dist-packages/ansible_collections/community/docker ] || need+=(ansible)
# The current engine of the matrix: runc is built with seccomp (cgo).
dpkg -s libseccomp-dev >/dev/null 2>&1 || need+=(libseccomp-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
# community.docker's docker_image (the benchmark's anchor) needs requests on the host; Ansible's
# file transfers over SSH use sftp.
dpkg -s python3-requests >/dev/null 2>&1 || need+=(python3-requests)
[ -x /usr/lib/openssh/sftp-server ] || need+=(openssh-sftp-server)
# The other Ansible controllers (tests/scripts/controller.sh: trixie, sid roots) and ansible-test
# sanity on Debian 12's 2.14 (tests/scripts/sanity.sh: its sanity environments are made from these).
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
for p in python3-venv python3-voluptuous python3-pycodestyle pylint yamllint shellcheck; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's docker-registry and openssh-server start services where systemd runs; the tests run their own.
systemctl disable --now docker-registry >/dev/null 2>&1 || true

[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true

