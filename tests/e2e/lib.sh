# Shared helpers for end-to-end tests (sourced).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RAMPART=${RAMPART:-$ROOT/build/rampart}
TRAFFICGEN=${TRAFFICGEN:-$ROOT/build/trafficgen}
SHARED=${SHARED:-$ROOT/../shared}
TMP=$(mktemp -d)
# Processes to kill when the test ends, however it ends: add PIDs with
# `cleanup_pid PID` (start_serve does it for its daemon).
CLEANUP_PIDS=""
cleanup_pid() { CLEANUP_PIDS="$CLEANUP_PIDS $*"; }
cleanup() {
  local p
  for p in $CLEANUP_PIDS; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "  ok: $what"; else fail "$what"; fi
}
# Extract "key action" pairs from analyze's JSON lines.
incident_actions() {
  awk '{ k = ""; a = "";
         if (match($0, /"key":"[^"]*"/)) k = substr($0, RSTART + 7, RLENGTH - 8);
         if (match($0, /"action":"[^"]*"/)) a = substr($0, RSTART + 10, RLENGTH - 11);
         print k, a }' "$1"
}

# --- rampart serve helpers -------------------------------------------------
# start_serve NAME [extra args...]: starts a daemon with its files in
# $TMP/NAME.*, waits until it is ready; sets SERVE_PID and ADMIN.
start_serve() {
  local name=$1; shift
  rm -f "$TMP/$name.ready"
  "$RAMPART" serve --socket "$TMP/$name.sock" --table "$TMP/$name.tbl" --store "$TMP/$name.db" \
    --admin 127.0.0.1:0 --token-file "$TMP/token" --ready-file "$TMP/$name.ready" "$@" \
    2>> "$TMP/$name.log" &
  SERVE_PID=$!
  cleanup_pid "$SERVE_PID"
  for _ in $(seq 1 100); do
    [ -s "$TMP/$name.ready" ] && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$TMP/$name.log"; fail "serve $name died at start"; }
    sleep 0.05
  done
  [ -s "$TMP/$name.ready" ] || fail "serve $name not ready after 5 s"
  ADMIN=$(grep -o 'http://[^"]*' "$TMP/$name.ready")
}
stop_serve() { # stop_serve PID: SIGTERM and wait (10 s at most)
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  kill -KILL "$1" 2>/dev/null; fail "serve did not stop within 10 s"
}
make_token() { head -c 24 /dev/urandom | base64 | tr -d '\n/+=' > "$TMP/token"; }
# http METHOD URL [curl args...] -> prints "STATUS BODY"
http() {
  local m=$1 u=$2; shift 2
  curl -s -o "$TMP/http.body" -w '%{http_code}' -X "$m" "$u" "$@"; echo " $(cat "$TMP/http.body")"
}
# engine_events: events the daemon's engine has seen
engine_events() { curl -s "$ADMIN/v1/stats" | grep -o '"engine":{"events":[0-9]*' | grep -o '[0-9]*$'; }
# wait_engine_events N: until the daemon's engine has seen N events (10 s)
wait_engine_events() {
  local n
  for _ in $(seq 1 200); do
    n=$(engine_events)
    [ "$n" = "$1" ] && return 0
    sleep 0.05
  done
  echo "engine saw $n events, expected $1"; return 1
}

# free_port: a free TCP port on 127.0.0.1 (bind 0 and read what the kernel gave).
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# start_redis [redis-server options...]: a throwaway redis-server on a free
# loopback port, nothing persisted, killed when the test ends; sets
# REDIS_PORT and REDIS_PID once it answers PING. rcli talks to it.
start_redis() {
  REDIS_PORT=$(free_port)
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" "$@" \
    > "$TMP/redis.log" 2>&1 &
  REDIS_PID=$!
  cleanup_pid "$REDIS_PID"
  local _i
  for _i in $(seq 1 100); do [ "$(rcli ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
}
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
