#!/usr/bin/env bash
# Local container registries for the tests (no registry on the internet is reachable).
#   plain  127.0.0.1:5000  no auth
#   auth   127.0.0.1:5001  htpasswd auth, realm bk-test, bkuser / bkpass-7f3a
# Both run Debian's docker-registry (distribution v2) with deletes enabled; config,
# storage, log and pid file live in /var/tmp/bk-test-registries/<name>/.
# The Docker Engine treats 127.0.0.0/8 registries as insecure, so plain HTTP works.
#
# usage: tests/scripts/registry.sh start|stop|status
set -euo pipefail

base=/var/tmp/bk-test-registries
registry_bin=/usr/bin/docker-registry
user=bkuser
password=bkpass-7f3a
realm=bk-test

names=(plain auth)
declare -A addr=([plain]=127.0.0.1:5000 [auth]=127.0.0.1:5001)
declare -A want=([plain]=200 [auth]=401)

usage() { echo "usage: $0 start|stop|status" >&2; exit 2; }

# code NAME: HTTP status of GET /v2/ (000 when nothing answers).
code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 3 "http://${addr[$1]}/v2/" 2>/dev/null || true
}

# ours NAME: the registry answers /v2/ the way ours does (auth: with our realm).
ours() {
  local name=$1
  if [ "$name" = auth ]; then
    curl -s -o /dev/null -D - --max-time 3 "http://${addr[$name]}/v2/" 2>/dev/null |
      tr -d '\r' | grep -qi "^www-authenticate: basic realm=\"$realm\"" || return 1
  fi
  [ "$(code "$name")" = "${want[$name]}" ]
}

pid_alive() {
  local pidfile="$base/$1/registry.pid"
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

write_config() {
  local name=$1 dir="$base/$1"
  mkdir -p "$dir/data"
  {
    cat <<EOF
version: 0.1
log:
  level: info
  fields:
    service: bk-test-registry-$name
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${addr[$name]}
  secret: bk-test-registry-$name
  headers:
    X-Content-Type-Options: [nosniff]
EOF
    if [ "$name" = auth ]; then
      cat <<EOF
auth:
  htpasswd:
    realm: $realm
    path: $dir/htpasswd
EOF
    fi
  } >"$dir/config.yml"
  if [ "$name" = auth ]; then
    htpasswd -Bbn "$user" "$password" >"$dir/htpasswd"
  fi
}

start_one() {
  local name=$1 dir="$base/$1"
  if ours "$name"; then
    echo "registry $name: already answering on ${addr[$name]}"
    return 0
  fi
  if pid_alive "$name"; then
    # Started by an earlier run but not answering (yet, or wedged): restart it.
    kill "$(cat "$dir/registry.pid")" 2>/dev/null || true
    sleep 1
  fi
  local c
  c=$(code "$name")
  if [ "$c" != 000 ]; then
    echo "registry $name: ${addr[$name]} is taken by something else (GET /v2/ -> $c)." >&2
    echo "  Is Debian's docker-registry service running? (systemctl disable --now docker-registry)" >&2
    exit 1
  fi
  write_config "$name"
  setsid nohup "$registry_bin" serve "$dir/config.yml" >"$dir/registry.log" 2>&1 </dev/null &
  echo $! >"$dir/registry.pid"
  echo "registry $name: started on ${addr[$name]} (pid $!)"
}

wait_one() {
  local name=$1 dir="$base/$1"
  for _ in $(seq 1 60); do
    ours "$name" && return 0
    pid_alive "$name" || break
    sleep 0.5
  done
  echo "registry $name did not answer ${want[$name]} on http://${addr[$name]}/v2/ (got $(code "$name"))" >&2
  echo "--- $dir/registry.log" >&2
  tail -50 "$dir/registry.log" >&2 || true
  exit 1
}

stop_one() {
  local name=$1 dir="$base/$1"
  if pid_alive "$name"; then
    local pid
    pid=$(cat "$dir/registry.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
    echo "registry $name: stopped (pid $pid)"
  else
    echo "registry $name: not running"
  fi
  rm -rf "$dir"
}

status_one() {
  local name=$1 c
  c=$(code "$name")
  if ours "$name"; then
    echo "registry $name: answering on ${addr[$name]} (GET /v2/ -> $c)"
  elif [ "$c" = 000 ]; then
    echo "registry $name: not answering on ${addr[$name]}"
    return 1
  else
    echo "registry $name: ${addr[$name]} answers GET /v2/ -> $c, not ours"
    return 1
  fi
}

[ $# -eq 1 ] || usage
case $1 in
  start)
    [ -x "$registry_bin" ] || { echo "$registry_bin not found: apt-get install docker-registry" >&2; exit 1; }
    command -v htpasswd >/dev/null 2>&1 || { echo "htpasswd not found: apt-get install apache2-utils" >&2; exit 1; }
    command -v curl >/dev/null 2>&1 || { echo "curl not found: apt-get install curl" >&2; exit 1; }
    mkdir -p "$base"
    for n in "${names[@]}"; do start_one "$n"; done
    for n in "${names[@]}"; do wait_one "$n"; done
    ;;
  stop)
    for n in "${names[@]}"; do stop_one "$n"; done
    rmdir "$base" 2>/dev/null || true
    ;;
  status)
    rc=0
    for n in "${names[@]}"; do status_one "$n" || rc=1; done
    exit $rc
    ;;
  *) usage ;;
esac
