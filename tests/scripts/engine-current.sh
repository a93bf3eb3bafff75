#!/usr/bin/env bash
# A current Docker Engine (moby v2 / Docker 29.x, containerd image store) beside
# Debian's Docker 20.10 on /var/run/docker.sock, so the tests can run against both.
# dockerd, docker-proxy, containerd, containerd-shim-runc-v2 and runc are built from
# the Go module proxy by .ci/tools/build.sh (pinned in .ci/tools/{moby,containerd,runc})
# and cached.
#
#   tests/scripts/engine-current.sh          start it (if it does not answer yet), import
#                                            local/busybox:latest, print the socket
#   tests/scripts/engine-current.sh stop     stop the dockerd and containerd it started
#   tests/scripts/engine-current.sh status
#   ENGINE_CURRENT_INSTANCE=x ENGINE_CURRENT_LIB=/mnt/small ENGINE_CURRENT_BRIDGE=bkx0 \
#   ENGINE_CURRENT_BRIDGE_CIDR=10.213.214.1/24 tests/scripts/engine-current.sh
#                                            a second, separate instance
#
# Use it with DOCKER_HOST=unix:///run/jenkins_ha.buildkit-current/docker.sock.
#
# Everything is its own: socket, data roots, exec roots, pid files, daemon.json, and a
# containerd of its own (its own root, state and socket; not /run/containerd, not the
# 20.10 engine's). dockerd gets that containerd with --containerd, so it never picks up
# a system containerd on /run/containerd/containerd.sock.
#
# Networking beside a running 20.10: no iptables (--iptables=false --ip6tables=false),
# and its own user-managed bridge ($bridge, $bridge_cidr) made here, not --bridge=none:
#  - with --bridge=none this dockerd DELETES the docker0 interface at start-up
#    (removeDefaultBridgeInterface in moby's daemon_unix.go), which breaks the 20.10
#    engine's default network ("could not find bridge docker0");
#  - with no "bridge" network, BuildKit's RUN steps on the default network fail with
#    "network bridge not found" (only network=host/none builds work).
# Containers on $bridge get an address but no NAT to the outside (no iptables), which
# build steps here do not need: the registries are reached by the daemon, not by RUN.
# Do not add --default-address-pool: with it, a restart also deletes docker0.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

# Another instance beside this one (a test's throwaway engine, say) takes
# ENGINE_CURRENT_INSTANCE=<name>, and ENGINE_CURRENT_LIB for where its images live.
inst=${ENGINE_CURRENT_INSTANCE:-current}
run=/run/jenkins_ha.buildkit-$inst
lib=${ENGINE_CURRENT_LIB:-/var/lib/jenkins_ha.buildkit-$inst}
sock=$run/docker.sock
host=unix://$sock
bindir=$run/bin
ctd_state=$run/containerd
ctd_sock=$ctd_state/containerd.sock
ctd_config=$ctd_state/containerd.toml
ctd_root=$lib/containerd
ctd_pidfile=/run/buildkit-tests-containerd-$inst.pid
ctd_log=/var/log/buildkit-tests-containerd-$inst.log
exec_root=$run/docker
data_root=$lib/docker
daemon_json=$run/daemon.json
pidfile=/run/buildkit-tests-dockerd-$inst.pid
bridge=${ENGINE_CURRENT_BRIDGE:-bkcurrent0}
bridge_cidr=${ENGINE_CURRENT_BRIDGE_CIDR:-10.213.213.1/24}  # outside Docker's default pools
log=/var/log/buildkit-tests-dockerd-$inst.log
[ "$bridge" != docker0 ] || { echo "engine-current: docker0 is the 20.10 engine's bridge" >&2; exit 2; }
# Debian's docker CLI (20.10) unless told otherwise; it negotiates down to API 1.41,
# which this dockerd still accepts (its minimum is 1.40).
docker=${DOCKER:-/usr/bin/docker}

engine_up() { DOCKER_HOST=$host timeout 5 "$docker" version >/dev/null 2>&1; }
pid_alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pid PIDFILE NAME SECONDS: SIGTERM the process in PIDFILE, SIGKILL after SECONDS.
stop_pid() {
  local pidfile=$1 name=$2 secs=$3 pid
  if ! pid_alive "$pidfile"; then
    echo "engine-current: $name not running"
    rm -f "$pidfile"
    return 0
  fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for _ in $(seq 1 "$secs"); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "engine-current: $name (pid $pid) did not stop in ${secs}s, killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
  echo "engine-current: stopped $name (pid $pid)"
}

case "${1:-start}" in
  start) ;;
  stop)
    stop_pid "$pidfile" dockerd 60
    stop_pid "$ctd_pidfile" containerd 20
    rm -f "$sock" "$ctd_sock" "$ctd_sock.ttrpc"
    if ip link show "$bridge" >/dev/null 2>&1; then ip link del "$bridge" && echo "engine-current: removed bridge $bridge"; fi
    [ "$inst" = current ] || rm -rf "$run"   # a throwaway instance leaves nothing behind
    exit 0 ;;
  status)
    if engine_up; then
      DOCKER_HOST=$host "$docker" info --format 'engine-current: {{.ServerVersion}} up on '"$sock"', driver {{.Driver}}, {{json .DriverStatus}}'
      exit 0
    fi
    echo "engine-current: not answering on $sock"; exit 1 ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

if ! engine_up; then
  # The binaries, built once and cached by version; dockerd and containerd look up
  # containerd, containerd-shim-runc-v2, runc and docker-proxy on PATH, so link them
  # under their names. (docker-init stays Debian's tini.)
  mkdir -p "$bindir" "$ctd_state" "$ctd_root" "$exec_root" "$data_root" /var/log
  for tool in dockerd docker-proxy containerd containerd-shim-runc-v2 runc; do
    bin=$("$repo/.ci/tools/build.sh" "$tool")
    ln -sfn "$bin" "$bindir/$tool"
  done
  export PATH=$bindir:$PATH

  # Our own containerd (what dockerd's managed containerd would be, with fixed paths).
  if ! pid_alive "$ctd_pidfile"; then
    rm -f "$ctd_sock" "$ctd_sock.ttrpc"
    cat > "$ctd_config" <<EOF
version = 2
root = "$ctd_root"
state = "$ctd_state/daemon"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"]

[grpc]
  address = "$ctd_sock"

[ttrpc]
  address = "$ctd_sock.ttrpc"

[debug]
  address = "$ctd_state/containerd-debug.sock"
EOF
    nohup "$bindir/containerd" --config "$ctd_config" --log-level info >"$ctd_log" 2>&1 &
    echo $! > "$ctd_pidfile"
    for _ in $(seq 1 30); do [ -S "$ctd_sock" ] && break; pid_alive "$ctd_pidfile" || break; sleep 1; done
    [ -S "$ctd_sock" ] || { echo "engine-current: containerd did not come up"; tail -50 "$ctd_log"; exit 1; }
    echo "engine-current: started containerd $("$bindir/containerd" --version | awk '{print $3}') (pid $(cat "$ctd_pidfile"))"
  fi

  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    if ! ip link show "$bridge" >/dev/null 2>&1; then
      ip link add name "$bridge" type bridge
      ip addr add "$bridge_cidr" dev "$bridge"
      ip link set "$bridge" up
      echo "engine-current: created bridge $bridge ($bridge_cidr)"
    fi
    # Its own daemon.json, so /etc/docker/daemon.json (the 20.10 engine's) never applies.
    echo '{}' > "$daemon_json"
    nohup "$bindir/dockerd" \
      --config-file "$daemon_json" \
      --host "$host" \
      --containerd "$ctd_sock" \
      --data-root "$data_root" \
      --exec-root "$exec_root" \
      --pidfile "$pidfile" \
      --feature containerd-snapshotter=true \
      --bridge "$bridge" --iptables=false --ip6tables=false \
      >"$log" 2>&1 &
    echo "engine-current: starting dockerd (pid $!)"
  fi
  for _ in $(seq 1 60); do engine_up && break; sleep 1; done
  engine_up || { echo "engine-current: dockerd did not come up"; tail -50 "$log"; exit 1; }
  echo "engine-current: dockerd $(DOCKER_HOST=$host "$docker" version --format '{{.Server.Version}} (API {{.Server.APIVersion}})') answers (pid $(cat "$pidfile"))"
fi

# The containerd image store must be on: that is what this engine is for.
snap=$(DOCKER_HOST=$host "$docker" info --format '{{json .DriverStatus}}')
case "$snap" in
  *'"driver-type","io.containerd.snapshotter.v1"'*) ;;
  *) echo "engine-current: not using the containerd image store: $snap"; exit 1 ;;
esac

# local/busybox:latest, as for 20.10.
DOCKER_HOST=$host DOCKER=$docker "$here/busybox-image.sh" >&2

echo "$host"
