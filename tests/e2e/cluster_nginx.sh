#!/usr/bin/env bash
# Fleet mode on Redis behind real nginx (issue 12, Proof): a redis-server on
# loopback, the demo API, three nginx instances with the module in front of
# it, one edge daemon per nginx, one detector. Every client address is set
# through X-Forwarded-For (nginx trusts 127.0.0.1 as a proxy, as the other
# nginx tests do), so one attacking address is spread over three hosts.
#
#   0. the baseline: a fourth nginx with a standalone daemon (one host as
#      today); the same credential stuffing and the same scanner against it
#      give "the point a single host stops them";
#   1. credential stuffing (a curl loop over the leaked-looking pairs,
#      JSON login) round-robined over the three nginx: stopped on ALL
#      THREE hosts within 10 attempts of the single host's point;
#   2. a scanner (a curl loop over dirb's common wordlist) round-robined
#      the same way: stopped on all three within 100 requests of it;
#   3. 20 manual blocks of fresh addresses through edge A's API: each is
#      enforced by all three nginx within 100 ms (p50/p99 printed; time from
#      the API's answer to the first 403 from each nginx, polled with curl);
#   4. a person browsing and a partner polling, round-robined the same way
#      during all of the above, are never refused.
# Everything on 127.0.0.1 free ports, started here and stopped by PID;
# bounded counts; ~30 s on 2 cores. KEEP_TMP=1 keeps the files.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is required (Debian redis-server)"
command -v curl >/dev/null || fail "curl is required"
bash "$ROOT/tools/install-deps.sh" nginx nginx-dev curl || fail "cannot install nginx and nginx-dev"
NGINX=${NGINX:-/usr/sbin/nginx}
BUILD_DIR=$(dirname "$RAMPART")
MODULE=${MODULE:-$(bash "$ROOT/nginx/build.sh" "$BUILD_DIR" | tail -1)}
[ -f "$MODULE" ] || fail "module not built"
DEMO=${DEMO:-$BUILD_DIR/demo-api}
[ -x "$DEMO" ] || fail "$DEMO not built (make $DEMO)"
WORDLIST=${WORDLIST:-/usr/share/dirb/wordlists/common.txt}
[ -f "$WORDLIST" ] || WORDLIST=""
PAIRS_FILE=$ROOT/tests/data/wordlists/credential-pairs.txt

NGINX_PIDS=""
cleanup() {
  local p
  touch "$TMP/stop" 2>/dev/null || true
  for p in $NGINX_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  for p in $CLEANUP_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in $NGINX_PIDS $CLEANUP_PIDS; do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
ms_since() { # ms_since T0 [T1]: milliseconds between two $EPOCHREALTIME values
  awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }

# --- Redis, the demo API, the daemons ---------------------------------------
start_redis
RPORT=$REDIS_PORT
check "redis-server is up on 127.0.0.1:$RPORT" test "$(rcli ping)" = PONG

"$DEMO" --listen 127.0.0.1:0 --ready-file "$TMP/api.ready" > "$TMP/api.log" 2>&1 &
cleanup_pid $!
for _ in $(seq 1 100); do [ -s "$TMP/api.ready" ] && break; sleep 0.05; done
API_URL=$(grep -o 'http://[0-9.:]*' "$TMP/api.ready" | head -1)
[ -n "$API_URL" ] || { cat "$TMP/api.log"; fail "demo-api not ready after 5 s"; }
API_HOSTPORT=${API_URL#http://}

# The detector (and the single host) know the API: the OpenAPI document is
# the inventory and marks POST /login and POST /api/login as auth routes.
# The edges only forward.
printf 'inventory:\n  openapi: %s\n' "$ROOT/examples/openapi.yaml" > "$TMP/solo.yaml"
{ cat "$TMP/solo.yaml"; printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: detector\n' "$RPORT"; } > "$TMP/detector.yaml"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n' "$RPORT" > "$TMP/edge.yaml"
case $("$RAMPART" check-config "$TMP/edge.yaml" 2>&1 || true) in
  *"unknown key 'cluster'"*) fail "$RAMPART does not know the cluster section: a build older than fleet mode (make all, or RAMPART=...)" ;;
esac
check "check-config accepts the detector's and the edges' files" \
  sh -c "'$RAMPART' check-config '$TMP/detector.yaml' >/dev/null && '$RAMPART' check-config '$TMP/edge.yaml' >/dev/null"
make_token
TOKEN=$(cat "$TMP/token")
start_serve det --config "$TMP/detector.yaml"; DET=$ADMIN
start_serve ea --config "$TMP/edge.yaml"; EA=$ADMIN
start_serve eb --config "$TMP/edge.yaml"; EB=$ADMIN
start_serve ec --config "$TMP/edge.yaml"; EC=$ADMIN
start_serve solo --config "$TMP/solo.yaml"

# --- nginx ------------------------------------------------------------------
USER_LINE=""; [ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
start_nginx() { # start_nginx NAME DAEMON -> sets NG_URL
  local name=$1 d=$2 dir=$TMP/ng-$1 port
  mkdir -p "$dir/tmp"
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    cat > "$dir/nginx.conf" <<CONF
$USER_LINE
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
start_nginx a ea; NA=$NG_URL
start_nginx b eb; NB=$NG_URL
start_nginx c ec; NC=$NG_URL
start_nginx solo solo; NSOLO=$NG_URL
FLEET=("$NA" "$NB" "$NC") NAMES=(A B C)
echo "  nginx A $NA, B $NB, C $NC (edges), single host $NSOLO; API $API_URL; redis :$RPORT"

# req URL [curl args]: one request; sets R_CODE and R_RAMPART (1 when the
# answer is the module's own 403/429, whose JSON body names the action)
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

# --- legitimate clients, all the time ---------------------------------------
# A person (Firefox, 0.2-1 s between requests as a single page application
# loads, logs in with the right password once, then browses) and a partner
# (its API key, polls every second), each
# round-robined over the three nginx. One line per request: "CODE RAMPART URL".
legit() { # legit human|partner XFF OUT
  local mode=$1 ip=$2 out=$3 i=0 t=1764547200 base
  local ua='Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0'
  local words=(lamp chair desk mug kettle shoes jacket)
  local h=(-A "$ua" -H 'Accept-Language: en-GB,en;q=0.8' -H 'Accept: text/html,application/json;q=0.9,*/*;q=0.8')
  : > "$out"
  while [ ! -e "$TMP/stop" ] && [ "$i" -lt 200 ]; do
    base=${FLEET[i % 3]}; i=$((i + 1))
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
HUMAN=192.0.2.44 PARTNER=192.0.2.77
legit human "$HUMAN" "$TMP/human.out" &
cleanup_pid $!; LEGIT_PIDS=$!
legit partner "$PARTNER" "$TMP/partner.out" &
cleanup_pid $!; LEGIT_PIDS="$LEGIT_PIDS $!"

# --- the attacks --------------------------------------------------------------
mapfile -t PAIRS < "$PAIRS_FILE"
if [ -n "$WORDLIST" ]; then mapfile -t WORDS < <(grep '^[a-z]' "$WORDLIST" | head -n 400)
else mapfile -t WORDS < <(for i in $(seq 1 400); do echo "admin/backup-$i.php"; done); fi
# attack KIND IP MAX URL...: round-robin over the URLs until every one has
# answered with Rampart's 403/429 (MAX requests at most); sets FIRST[h] =
# the attempt (counted over all hosts, from 1) of host h's first refusal,
# 0 if none, and SENT.
attack() {
  local kind=$1 ip=$2 max=$3; shift 3
  local bases=("$@") n=$# i h pair done_n=0 t0=$EPOCHREALTIME
  FIRST=(); for ((h = 0; h < n; h++)); do FIRST[h]=0; done
  for ((i = 1; i <= max; i++)); do
    h=$(( (i - 1) % n ))
    if [ "$kind" = stuff ]; then
      pair=${PAIRS[(i - 1) % ${#PAIRS[@]}]}
      req "${bases[h]}/api/login" -H "X-Forwarded-For: $ip" -A "$BROWSER" \
        -H 'Content-Type: application/json' -d "{\"username\":\"${pair%%:*}\",\"password\":\"${pair#*:}\"}"
    else
      req "${bases[h]}/${WORDS[(i - 1) % ${#WORDS[@]}]}" -H "X-Forwarded-For: $ip" -A "$BROWSER"
    fi
    if [ "$R_RAMPART" = 1 ] && [ "${FIRST[h]}" = 0 ]; then
      FIRST[h]=$i; done_n=$((done_n + 1))
      [ "$done_n" = "$n" ] && break
    fi
  done
  SENT=$(( i > max ? max : i ))
  RATE=$(awk -v n="$SENT" -v ms="$(ms_since "$t0")" 'BEGIN { printf "%.0f", n * 1000 / ms }')
}
fleet_ok() { # fleet_ok BUDGET: every host refused, each within BUDGET of the single host
  local h
  for h in 0 1 2; do
    [ "${FIRST[h]}" -gt 0 ] && [ "${FIRST[h]}" -le $((SOLO_AT + $1)) ] || return 1
  done
}
STUFFER=198.51.100.10 SCANNER=203.0.113.20
# Both attackers hide their tool behind a browser's user agent: what stops
# them is what they do, seen over all three hosts, not a signature.
BROWSER='Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0'

echo "0. the single host (one nginx, one standalone daemon): the same attacks"
attack stuff "$STUFFER" 80 "$NSOLO"; SOLO_AT=${FIRST[0]}
check "credential stuffing stopped by the single host (attempt $SOLO_AT, $RATE attempts/s)" test "$SOLO_AT" -gt 0
STUFF_SOLO=$SOLO_AT
attack scan "$SCANNER" 400 "$NSOLO"; SCAN_SOLO=${FIRST[0]}
check "the scanner stopped by the single host (request $SCAN_SOLO, $RATE requests/s)" test "$SCAN_SOLO" -gt 0

echo "1. credential stuffing round-robined over the three nginx (one address, $STUFFER)"
SOLO_AT=$STUFF_SOLO
attack stuff "$STUFFER" 160 "${FLEET[@]}"
echo "  attempts until the first refusal: nginx A ${FIRST[0]}, B ${FIRST[1]}, C ${FIRST[2]}" \
     "(single host: $STUFF_SOLO; $RATE attempts/s, $SENT sent)"
check "stuffing stopped on all three hosts within 10 attempts of the single host" fleet_ok 10
STUFF_FLEET="${FIRST[*]}"

echo "2. a scanner round-robined over the three nginx (one address, $SCANNER)"
SOLO_AT=$SCAN_SOLO
attack scan "$SCANNER" 600 "${FLEET[@]}"
echo "  requests until the first refusal: nginx A ${FIRST[0]}, B ${FIRST[1]}, C ${FIRST[2]}" \
     "(single host: $SCAN_SOLO; $RATE requests/s, $SENT sent)"
check "the scanner stopped on all three hosts within 100 requests of the single host" fleet_ok 100
SCAN_FLEET="${FIRST[*]}"
curl -s "$DET/v1/decisions" > "$TMP/decisions"
check "the detector decided on the stuffer and the scanner" \
  sh -c "grep -q 'ip:$STUFFER\"' '$TMP/decisions' && grep -q 'ip:$SCANNER\"' '$TMP/decisions'"

echo "3. 20 manual blocks through edge A's API, enforced by the three nginx"
poll() { # poll URL IP OUT: curl until the first 403 (3 s at most); its time
  local end=$((SECONDS + 3)) c
  while [ "$SECONDS" -le "$end" ]; do
    c=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Forwarded-For: $2" "$1/health")
    [ "$c" = 403 ] && { echo "$EPOCHREALTIME" > "$3"; return 0; }
  done
}
: > "$TMP/prop"
for k in $(seq 1 20); do
  ip=100.100.$k.$((10 + k))
  rm -f "$TMP"/p.*
  pp=""
  for h in 0 1 2; do poll "${FLEET[h]}" "$ip" "$TMP/p.$h" & pp="$pp $!"; done
  sleep 0.05 # the pollers run (and see 200) before the block exists
  c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST "$EA/v1/decisions" \
      -d "{\"key\":\"ip:$ip\",\"action\":\"block\",\"duration\":\"10m\"}")
  t0=$EPOCHREALTIME
  [ "$c" = 201 ] || fail "manual block $k refused by edge A's API ($c)"
  for p in $pp; do wait "$p" || true; done
  for h in 0 1 2; do
    [ -s "$TMP/p.$h" ] || fail "manual block of $ip not enforced by nginx ${FLEET[h]} within 3 s"
    echo "$h $(ms_since "$t0" "$(cat "$TMP/p.$h")")" >> "$TMP/prop"
  done
  sleep 0.1
done
pct() { # pct FILE: "p50 p99 max" of the numbers in FILE (negative counted as 0)
  awk '{ print ($1 < 0 ? 0 : $1) }' "$1" | sort -n | awk '{ v[NR] = $1 } END {
    printf "%.1f %.1f %.1f\n", v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.99) + 1], v[NR] }'; }
awk '{ print $2 }' "$TMP/prop" > "$TMP/prop.all"
read -r P50 P99 PMAX < <(pct "$TMP/prop.all")
for h in 0 1 2; do
  awk -v h=$h '$1 == h { print $2 }' "$TMP/prop" > "$TMP/prop.$h"
  read -r a _ c < <(pct "$TMP/prop.$h")
  echo "  nginx ${NAMES[h]}: p50 $a ms, max $c ms"
done
echo "  API answer -> 403 from each nginx, 60 samples: p50 $P50 ms, p99 $P99 ms, max $PMAX ms (curl polling included)"
check "every manual block enforced by all three nginx within 100 ms (p99 $P99 ms)" \
  awk -v p="$P99" 'BEGIN { exit !(p <= 100) }'

echo "4. the legitimate clients"
for _ in $(seq 1 150); do # until each made 15 requests (15 s at most)
  [ "$(wc -l < "$TMP/human.out")" -ge 15 ] && [ "$(wc -l < "$TMP/partner.out")" -ge 15 ] && break
  sleep 0.1
done
touch "$TMP/stop"
for p in $LEGIT_PIDS; do wait "$p" 2>/dev/null || true; done
for who in human partner; do
  n=$(wc -l < "$TMP/$who.out"); ok=$(grep -c '^2' "$TMP/$who.out" || true)
  refused=$(awk '$1 == 403 || $1 == 429 || $2 == 1' "$TMP/$who.out" | wc -l)
  echo "  $who: $n requests over the three nginx, $ok answered 2xx, $refused refused"
  grep -v '^2' "$TMP/$who.out" | sed 's/^/    not 2xx: /' || true
  check "the $who made $n requests and was never refused (no 403/429)" test "$n" -ge 15 -a "$refused" = 0
  check "  and its answers came from the API: $ok of $n 2xx" test "$ok" -ge $((n * 9 / 10))
done

m=$(curl -s "$DET/metrics")
echo "  detector: $(grep -E '^rampart_cluster_(events_consumed|entries_acked|decisions_published)_total' <<<"$m" | tr '\n' ' ')"
fwd=0
for e in "$EA" "$EB" "$EC"; do
  m=$(curl -s "$e/metrics")
  check "edge $e: no forward error, no publish error" \
    grep -Eq '^rampart_cluster_forward_errors_total 0$' <<<"$m"
  f=$(grep -E '^rampart_cluster_events_forwarded_total' <<<"$m" | awk '{print $2}')
  check "  it forwarded its nginx's events ($f)" test "${f:-0}" -gt 0
  fwd=$((fwd + f))
done
echo "  the three edges forwarded $fwd events"
for n in a b c solo; do
  check "nginx $n: no worker died" test "$(grep -c 'exited on signal' "$TMP/ng-$n/error.log")" = 0
done
echo "SUMMARY stuffing solo=$STUFF_SOLO fleet=$STUFF_FLEET scan solo=$SCAN_SOLO fleet=$SCAN_FLEET propagation p50=$P50 p99=$P99 max=$PMAX"
echo "cluster_nginx: ok"
