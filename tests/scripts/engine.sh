#!/usr/bin/env bash
# Start Debian's dockerd if no engine answers on /var/run/docker.sock, and make the
# local base images the tests build FROM (no registry can be pulled from here).
# Prints "started" on fd 3 when it started the daemon, so the caller can stop it.
set -euo pipefail

sock=/var/run/docker.sock
engine_up() { DOCKER_HOST=unix://$sock timeout 5 docker version >/dev/null 2>&1; }

if ! engine_up; then
  mkdir -p /var/log
  nohup /usr/sbin/dockerd --host "unix://$sock" >/var/log/buildkit-tests-dockerd.log 2>&1 &
  echo $! > /run/buildkit-tests-dockerd.pid
  for _ in $(seq 1 60); do engine_up && break; sleep 1; done
  engine_up || { echo "dockerd did not come up"; tail -50 /var/log/buildkit-tests-dockerd.log; exit 1; }
  echo "engine: started dockerd (pid $(cat /run/buildkit-tests-dockerd.pid))"
fi

# local/busybox:latest — a static busybox rootfs imported as an image.
DOCKER_HOST=unix://$sock "$(dirname "$0")/busybox-image.sh"
