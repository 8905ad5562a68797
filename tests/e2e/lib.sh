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
# no_error_lines [--except TEXT]... LOG...: true when no daemon log line is at
# level error -- rp_log writes "TIMESTAMP error message" (the level, then a
# space), or "level":"error" with serve.log_json; a message that merely has
# the word in it is not one. The lines found are printed. --except: a line a
# test provokes on purpose, by its exact text (grep -F).
no_error_lines() {
  local except=() lines
  while [ "${1:-}" = --except ]; do except+=(-e "$2"); shift 2; done
  lines=$(grep -hE '^[^ ]+ error |"level":"error"' "$@" || true)
  [ ${#except[@]} -eq 0 ] || lines=$(grep -vF "${except[@]}" <<<"$lines" || true)
  [ -z "$lines" ] && return 0
  echo "$lines" >&2
  return 1
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
# scan_log IP N: an access log (combined) of a scanner's N requests for
# missing backup files under /admin/, one a second.
scan_log() {
  awk -v ip="$1" -v n="$2" 'BEGIN { for (i = 1; i <= n; i++)
    printf "%s - - [25/Nov/2026:10:00:%02d +0000] \"GET /admin/backup-%d.php HTTP/1.1\" 404 162 \"-\" \"Mozilla/5.0 (compatible; scanner)\"\n", ip, i % 60, i }'
}
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

# --- a fleet of nginx with the module (cluster_nginx.sh, cluster_nginx_faults.sh)
# ms_since T0 [T1]: milliseconds between two $EPOCHREALTIME values.
ms_since() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
# stop_redis: SIGTERM (as `systemctl stop` or `redis-cli shutdown` does: AOF
# fsynced, an RDB written if save is set) and wait. restart_redis OPTIONS...:
# the same port and --dir as start_redis, the options given again.
stop_redis() { kill -TERM "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; }
restart_redis() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" "$@" \
    >> "$TMP/redis.log" 2>&1 &
  REDIS_PID=$!
  cleanup_pid "$REDIS_PID"
  local _i
  for _i in $(seq 1 200); do [ "$(rcli ping 2>/dev/null)" = PONG ] && return 0; sleep 0.02; done
  fail "redis-server did not restart on $REDIS_PORT"
}
# nginx_fleet_init: nginx, the module and the demo API of $RAMPART's build
# directory, the attack lists; nginx stopped too when the test ends.
# Sets NGINX BUILD_DIR MODULE DEMO PAIRS WORDS BROWSER NGINX_PIDS.
nginx_fleet_init() {
  command -v redis-server >/dev/null || fail "redis-server is required (Debian redis-server)"
  command -v curl >/dev/null || fail "curl is required"
  bash "$ROOT/tools/install-deps.sh" nginx nginx-dev curl || fail "cannot install nginx and nginx-dev"
  NGINX=${NGINX:-/usr/sbin/nginx}
  BUILD_DIR=$(dirname "$RAMPART")
  MODULE=${MODULE:-$(bash "$ROOT/nginx/build.sh" "$BUILD_DIR" | tail -1)}
  [ -f "$MODULE" ] || fail "module not built"
  DEMO=${DEMO:-$BUILD_DIR/demo-api}
  [ -x "$DEMO" ] || fail "$DEMO not built (make $DEMO)"
  local wordlist=${WORDLIST:-/usr/share/dirb/wordlists/common.txt}
  mapfile -t PAIRS < "$ROOT/tests/data/wordlists/credential-pairs.txt"
  if [ -f "$wordlist" ]; then mapfile -t WORDS < <(grep '^[a-z]' "$wordlist" | head -n 400)
  else mapfile -t WORDS < <(for i in $(seq 1 400); do echo "admin/backup-$i.php"; done); fi
  # The attackers hide their tool behind a browser's user agent: what stops
  # them is what they do, seen over all the hosts, not a signature.
  BROWSER='Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0'
  NGINX_PIDS=""
  trap nginx_fleet_cleanup EXIT
}
nginx_fleet_cleanup() {
  local p
  touch "$TMP/stop" 2>/dev/null || true
  for p in $NGINX_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $CLEANUP_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in $NGINX_PIDS $CLEANUP_PIDS; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
# start_demo_api: the demo API on a free port; sets API_URL, API_HOSTPORT.
start_demo_api() {
  "$DEMO" --listen 127.0.0.1:0 --ready-file "$TMP/api.ready" > "$TMP/api.log" 2>&1 &
  cleanup_pid $!
  for _ in $(seq 1 100); do [ -s "$TMP/api.ready" ] && break; sleep 0.05; done
  API_URL=$(grep -o 'http://[0-9.:]*' "$TMP/api.ready" | head -1)
  [ -n "$API_URL" ] || { cat "$TMP/api.log"; fail "demo-api not ready after 5 s"; }
  API_HOSTPORT=${API_URL#http://}
}
# start_fleet_nginx NAME DAEMON: nginx with the module in front of the demo
# API, talking to the daemon started as `start_serve DAEMON`; the client
# address from X-Forwarded-For (127.0.0.1 is a trusted proxy); sets NG_URL.
start_fleet_nginx() {
  local name=$1 d=$2 dir=$TMP/ng-$1 port user_line=""
  [ "$(id -u)" -eq 0 ] && user_line="user root;"
  mkdir -p "$dir/tmp"
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    cat > "$dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log notice;
load_module $MODULE;
events { worker_connections 512; }
http {
  access_log $dir/access.log;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  rampart_table $TMP/$d.tbl;
  rampart_socket $TMP/$d.sock;
  set_real_ip_from 127.0.0.1;
  real_ip_header X-Forwarded-For;
  upstream api { server $API_HOSTPORT; keepalive 16; }
  server {
    listen 127.0.0.1:$port;
    rampart on;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    location / { proxy_pass http://api; }
    location = /login { rampart_username_field username; proxy_pass http://api; }
    location = /api/login { rampart_username_field username; proxy_pass http://api; }
  }
}
CONF
    rm -f "$dir/nginx.pid"
    if "$NGINX" -p "$dir" -c "$dir/nginx.conf" 2>> "$dir/start.log"; then
      for _ in $(seq 1 50); do [ -s "$dir/nginx.pid" ] && break; sleep 0.05; done
      NGINX_PIDS="$NGINX_PIDS $(cat "$dir/nginx.pid")"
      NG_URL="http://127.0.0.1:$port"
      for _ in $(seq 1 50); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$NG_URL/health")" = 200 ] && return 0
        sleep 0.05
      done
    fi
  done
  cat "$dir/start.log" "$dir/error.log" >&2; fail "nginx $name did not start"
}
# req URL [curl args]: one request; sets R_CODE and R_RAMPART (1 when the
# answer is the module's own 403/429, whose JSON body names the action).
req() {
  local out
  R_URL=$1
  out=$(curl -s -m 5 -w $'\n%{http_code}' "$@") || true
  R_CODE=${out##*$'\n'}
  R_RAMPART=0
  case $R_CODE in
    403|429) [[ $out == *'","action":"'*'"incident_id":'* ]] && R_RAMPART=1 ;;
  esac
  return 0
}
# refused URL IP: the module at URL refuses the client IP (its 403/429).
refused() { req "$1/health" -H "X-Forwarded-For: $2"; [ "$R_RAMPART" = 1 ]; }
# legit human|partner IP OUT: a person (Firefox, 0.2-1 s between requests as
# a single page application loads, logs in with the right password once,
# then browses) or a partner (its API key, polls every second), round-robined
# over the URLs in FLEET until $TMP/stop exists (200 requests at most). One
# line per request in OUT: "CODE RAMPART URL".
legit() {
  local mode=$1 ip=$2 out=$3 i=0 t=1764547200 base n=${#FLEET[@]}
  local ua='Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0'
  local words=(lamp chair desk mug kettle shoes jacket)
  local h=(-A "$ua" -H 'Accept-Language: en-GB,en;q=0.8' -H 'Accept: text/html,application/json;q=0.9,*/*;q=0.8')
  : > "$out"
  while [ ! -e "$TMP/stop" ] && [ "$i" -lt 200 ]; do
    base=${FLEET[i % n]}; i=$((i + 1))
    if [ "$mode" = partner ]; then
      req "$base/api/orders?updated_since=$(date -u -d "@$t" +%Y-%m-%dT%H:%M:%SZ)" -H "X-Forwarded-For: $ip" \
        -A 'AcmeSync/2.1 (+https://partner.example/bot)' \
        -H 'Authorization: Bearer pk_live_demo_partner1' -H 'Accept: application/json'
      echo "$R_CODE $R_RAMPART $base/api/orders" >> "$out"
      t=$((t + 600)); sleep 1; continue
    fi
    case $((i % 7)) in
      1) req "$base/" -H "X-Forwarded-For: $ip" "${h[@]}" ;;
      2) if [ "$i" -le 7 ]; then           # logs in once, with the right password
           req "$base/api/login" -H "X-Forwarded-For: $ip" "${h[@]}" -H 'Content-Type: application/json' \
             -d '{"username":"user7","password":"pass-7"}'
         else req "$base/api/products?page=1&limit=20" -H "X-Forwarded-For: $ip" "${h[@]}"; fi ;;
      3) req "$base/api/products?page=$((1 + RANDOM % 20))&limit=20" -H "X-Forwarded-For: $ip" "${h[@]}" ;;
      4) req "$base/api/products/$((1 + RANDOM % 5000))" -H "X-Forwarded-For: $ip" "${h[@]}" ;;
      5) req "$base/api/search?q=${words[RANDOM % 7]}" -H "X-Forwarded-For: $ip" "${h[@]}" ;;
      6) req "$base/products/$((1 + RANDOM % 5000))" -H "X-Forwarded-For: $ip" "${h[@]}" ;;
      0) req "$base/static/app.js" -H "X-Forwarded-For: $ip" "${h[@]}" ;;
    esac
    echo "$R_CODE $R_RAMPART $R_URL" >> "$out"
    sleep "0.$((2 + RANDOM % 8))"
  done
}
# start_legit: the person (192.0.2.44) and the partner (192.0.2.77) above,
# each in the background for the whole test; legit_verdict [TEXT]: once
# each has made 15 requests (15 s at most) stops them and checks that
# neither was ever refused and that the API answered them.
start_legit() {
  HUMAN=192.0.2.44 PARTNER=192.0.2.77
  legit human "$HUMAN" "$TMP/human.out" &
  cleanup_pid $!; LEGIT_PIDS=$!
  legit partner "$PARTNER" "$TMP/partner.out" &
  cleanup_pid $!; LEGIT_PIDS="$LEGIT_PIDS $!"
}
legit_verdict() {
  local who n ok refused p
  for _ in $(seq 1 150); do
    [ "$(wc -l < "$TMP/human.out")" -ge 15 ] && [ "$(wc -l < "$TMP/partner.out")" -ge 15 ] && break
    sleep 0.1
  done
  touch "$TMP/stop"
  for p in $LEGIT_PIDS; do wait "$p" 2>/dev/null || true; done
  for who in human partner; do
    n=$(wc -l < "$TMP/$who.out"); ok=$(grep -c '^2' "$TMP/$who.out" || true)
    refused=$(awk '$1 == 403 || $1 == 429 || $2 == 1' "$TMP/$who.out" | wc -l)
    echo "  $who: $n requests over the ${#FLEET[@]} nginx${1:-}, $ok answered 2xx, $refused refused"
    grep -v '^2' "$TMP/$who.out" | sed 's/^/    not 2xx: /' || true
    check "the $who made $n requests and was never refused (no 403/429)" test "$n" -ge 15 -a "$refused" = 0
    check "  and its answers came from the API: $ok of $n 2xx" test "$ok" -ge $((n * 9 / 10))
  done
}
# attack stuff|scan IP MAX URL...: credential stuffing (JSON login, the
# leaked-looking pairs) or a scanner (dirb's common list) from IP,
# round-robin over the URLs, until every one has answered with Rampart's
# 403/429 (MAX requests at most); sets FIRST[h] = the attempt (counted over
# all hosts, from 1) of host h's first refusal, 0 if none, SENT and RATE.
# With ATTACK_LOG set, one line a request: "ATTEMPT HOST CODE RAMPART
# EPOCHREALTIME", and the file $ATTACK_LOG.stop ends it (for an attack run
# in the background while the test breaks something). ATTACK_UA replaces
# $BROWSER (another tool: another header fingerprint); ATTACK_PACE sleeps
# that many seconds between requests (a slower attacker).
attack() {
  local kind=$1 ip=$2 max=$3; shift 3
  local bases=("$@") n=$# i h pair done_n=0 t0=$EPOCHREALTIME log=${ATTACK_LOG:-} ua=${ATTACK_UA:-$BROWSER}
  FIRST=(); for ((h = 0; h < n; h++)); do FIRST[h]=0; done
  [ -z "$log" ] || : > "$log"
  for ((i = 1; i <= max; i++)); do
    h=$(( (i - 1) % n ))
    if [ "$kind" = stuff ]; then
      pair=${PAIRS[(i - 1) % ${#PAIRS[@]}]}
      req "${bases[h]}/api/login" -H "X-Forwarded-For: $ip" -A "$ua" \
        -H 'Content-Type: application/json' -d "{\"username\":\"${pair%%:*}\",\"password\":\"${pair#*:}\"}"
    else
      req "${bases[h]}/${WORDS[(i - 1) % ${#WORDS[@]}]}" -H "X-Forwarded-For: $ip" -A "$ua"
    fi
    if [ -n "$log" ]; then
      echo "$i $h $R_CODE $R_RAMPART $EPOCHREALTIME" >> "$log"
      [ -e "$log.stop" ] && break
    fi
    [ -z "${ATTACK_PACE:-}" ] || sleep "$ATTACK_PACE"
    if [ "$R_RAMPART" = 1 ] && [ "${FIRST[h]}" = 0 ]; then
      FIRST[h]=$i; done_n=$((done_n + 1))
      [ "$done_n" = "$n" ] && break
    fi
  done
  SENT=$(( i > max ? max : i ))
  RATE=$(awk -v n="$SENT" -v ms="$(ms_since "$t0")" 'BEGIN { printf "%.0f", n * 1000 / ms }')
}
