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
if ! docker image inspect local/busybox:latest >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/root/bin" "$tmp/root/tmp" "$tmp/root/etc"
  cp /bin/busybox "$tmp/root/bin/busybox"
  for app in $("$tmp/root/bin/busybox" --list); do
    [ "$app" = busybox ] || ln -sf busybox "$tmp/root/bin/$app"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$tmp/root/etc/passwd"
  echo 'root:x:0:' > "$tmp/root/etc/group"
  tar -C "$tmp/root" -cf "$tmp/rootfs.tar" .
  docker import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' "$tmp/rootfs.tar" local/busybox:latest >/dev/null
  echo "engine: imported local/busybox:latest"
fi
