#!/usr/bin/env bash
# Imports local/busybox:latest — a static busybox rootfs (Debian's busybox-static)
# — into the engine at $DOCKER_HOST unless it is there: the base image the tests
# build FROM, since no registry can be pulled from here.
set -euo pipefail
docker=${DOCKER:-docker}
"$docker" image inspect local/busybox:latest >/dev/null 2>&1 && exit 0
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
"$docker" import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/bin' "$tmp/rootfs.tar" local/busybox:latest >/dev/null
echo "imported local/busybox:latest into ${DOCKER_HOST:-the default engine}"
