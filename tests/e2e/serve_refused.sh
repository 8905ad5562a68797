#!/usr/bin/env bash
# Rampart's own refusals are never evidence (issue 10, part 1), live: real
# nginx, the module, `rampart serve` and the demo API on free loopback ports.
#
#  - A client blocked by a manual decision keeps reading valid products and
#    posting logins: it gets the module's 403s, each event reaches the
#    daemon flagged RP_EVENT_REFUSED (rampart_events_refused_total grows by
#    exactly that many), and no incident or decision is made against it or
#    its fingerprint. A throttled client's 429s likewise, and a 403 that
#    nginx answers through error_page (`rampart_response status`: the flag
#    survives the internal redirect). Once the decision is removed the
#    client is served normally.
#  - The same without the module: nginx auth_request to /v1/check, with
#    examples/nginx-auth-request.conf as shipped (X-Rampart-Verdict logged as
#    the JSON member "rampart"), the daemon following that access log: the
#    403 and 429 lines are counted as refused, judged by nothing.
#  - Control: an unblocked client sending the same logins, answered 401 by
#    the upstream, is judged (an incident): the silence above is the flag's.
#  - rampart_requests_refused_total{action,detector} (issue 13): every
#    refusal above counted under the decision in force for its request --
#    block or throttle, manual -- and, once the control client is stopped
#    by the engine, its refusals under its incident's main detector; the
#    labelled counts add up to rampart_events_refused_total.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is required"
command -v jq >/dev/null || fail "jq is required"
NGINX=${NGINX:-/usr/sbin/nginx}
BUILD_DIR=$(dirname "$RAMPART")
DEMO=${DEMO:-$BUILD_DIR/demo-api}
MODULE=${MODULE:-$(bash "$ROOT/nginx/build.sh" "$BUILD_DIR" | tail -1)}
[ -f "$MODULE" ] || fail "module not built"
[ -x "$RAMPART" ] || fail "$RAMPART not built"
[ -x "$DEMO" ] || fail "$DEMO not built (make $BUILD_DIR/demo-api)"

NGINX_PID=""
cleanup_nginx() { [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null; NGINX_PID=""; }
trap 'cleanup_nginx; cleanup' EXIT

# --- the demo API, the daemon (module socket + the auth_request access log) -
"$DEMO" --listen 127.0.0.1:0 --seed 1 --ready-file "$TMP/demo.url" > /dev/null 2> "$TMP/demo.err" &
DEMO_PID=$!
cleanup_pid "$DEMO_PID"
for _ in $(seq 1 100); do [ -s "$TMP/demo.url" ] && break; sleep 0.05; done
[ -s "$TMP/demo.url" ] || { cat "$TMP/demo.err"; fail "demo-api not ready after 5 s"; }
DEMO_URL=$(cat "$TMP/demo.url")

mkdir -p "$TMP/ng/logs" "$TMP/ng/tmp" "$TMP/ng/html"
echo "custom blocked page" > "$TMP/ng/html/blocked.html"
: > "$TMP/ng/api.json.log"
make_token
start_serve d --tail "$TMP/ng/api.json.log"
ADMIN_HOSTPORT=${ADMIN#http://}

# --- nginx: the module on one port, the shipped auth_request example on another
USER_LINE=""; [ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
write_conf() { # write_conf MODULE_PORT CHECK_PORT
  sed -e "s|127.0.0.1:9090|$ADMIN_HOSTPORT|; s|http://127.0.0.1:8081|$DEMO_URL|" \
      -e "s|listen 127.0.0.1:8080|listen 127.0.0.1:$2|; s|/var/log/nginx/api.json.log|$TMP/ng/api.json.log|" \
      "$ROOT/examples/nginx-auth-request.conf" > "$TMP/ng/auth_request.conf"
  cat > "$TMP/ng/nginx.conf" <<CONF
$USER_LINE
worker_processes 1;
pid $TMP/ng/nginx.pid;
error_log $TMP/ng/logs/error.log notice;
load_module $MODULE;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $TMP/ng/tmp/body;
  proxy_temp_path $TMP/ng/tmp/proxy;
  fastcgi_temp_path $TMP/ng/tmp/fastcgi;
  uwsgi_temp_path $TMP/ng/tmp/uwsgi;
  scgi_temp_path $TMP/ng/tmp/scgi;
  rampart_table $TMP/d.tbl;
  rampart_socket $TMP/d.sock;
  set_real_ip_from 127.0.0.1;
  real_ip_header X-Forwarded-For;
  server {
    listen 127.0.0.1:$1;
    rampart on;
    location / { proxy_pass $DEMO_URL; }
    location = /api/login { rampart_username_field username; proxy_pass $DEMO_URL; }
    location /custom/ {           # nginx answers the refusal: error_page redirects
      rampart_response status;
      error_page 403 /blocked.html;
      proxy_pass $DEMO_URL/;
    }
    location = /blocked.html { internal; root $TMP/ng/html; }
  }
  include $TMP/ng/auth_request.conf;
}
CONF
}
for _ in 1 2 3 4 5; do
  PORT=$(shuf -i 20000-60000 -n 1); CPORT=$((PORT + 1))
  write_conf "$PORT" "$CPORT"
  if "$NGINX" -p "$TMP/ng" -c "$TMP/ng/nginx.conf" 2>> "$TMP/ng/start.log"; then
    for _ in $(seq 1 50); do [ -s "$TMP/ng/nginx.pid" ] && break; sleep 0.05; done
    NGINX_PID=$(cat "$TMP/ng/nginx.pid")
    break
  fi
done
[ -n "$NGINX_PID" ] || { cat "$TMP/ng/start.log" >&2; fail "nginx did not start"; }
BASE="http://127.0.0.1:$PORT"     # the module enforces
CHECKED="http://127.0.0.1:$CPORT" # auth_request to /v1/check enforces
for _ in $(seq 1 50); do curl -s -o /dev/null "$BASE/health" && break; sleep 0.05; done

metric() { curl -s "$ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
refused() { metric rampart_events_refused_total; }
# refused_by ACTION DETECTOR: rampart_requests_refused_total{action,detector}
refused_by() { metric "rampart_requests_refused_total{action=\"$1\",detector=\"$2\"}"; }
refused_sum() { curl -s "$ADMIN/metrics" | awk '/^rampart_requests_refused_total\{/ { s += $2 } END { print s + 0 }'; }
events() { metric rampart_engine_events_total; }
incidents() { curl -s "$ADMIN/v1/stats" | jq '.engine.incidents'; }
key_incidents() { curl -s "$ADMIN/v1/incidents?key=$1" | jq '.total'; }
engine_decisions() { curl -s "$ADMIN/metrics" | awk '/^rampart_decisions_total\{.*source="engine"/ { s += $2 } END { print s + 0 }'; }
decision_keys() { curl -s "$ADMIN/v1/decisions" | jq -r '[.decisions[].key] | sort | join(" ")'; }
decisions() { "$RAMPART" decisions --url "$ADMIN" --token-file "$TMP/token" "$@" > /dev/null; }
# settle: until the engine's event count stops moving (the module sends
# 1 ms after a request, the tail reads every ~100 ms)
settle() {
  local a b
  b=$(events)
  for _ in $(seq 1 50); do sleep 0.3; a=$b; b=$(events); [ "$a" = "$b" ] && return 0; done
  fail "the engine's event count never settled"
}
# wait_metric NAME WANT: until the metric reaches WANT (10 s)
wait_metric() {
  for _ in $(seq 1 200); do [ "$(metric "$1")" = "$2" ] && return 0; sleep 0.05; done
  echo "    $1 = $(metric "$1"), expected $2"; return 1
}
codes() { sort | uniq -c | awk '{ printf "%s%s x%s", sep, $2, $1; sep = ", " }'; }

X=198.51.100.40                                   # blocked, module
UA_X="Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"
T=198.51.100.43                                   # throttled, module
P() { curl -s -o /dev/null -w '%{http_code}\n' "$@"; }

# (1) the client is served, then blocked by hand -----------------------------
check "before the decision: 5 product pages served (200)" \
  test "$(P -A "$UA_X" -H "X-Forwarded-For: $X" "$BASE/api/products/[1-5]" | grep -c '^200$')" = 5
decisions add "ip:$X" block 10m "e2e: refused requests"
decisions add "ip:$T" throttle 10m "e2e: refused requests"
for _ in $(seq 1 40); do [ "$(P -A "$UA_X" -H "X-Forwarded-For: $X" "$BASE/api/products/1")" = 403 ] && break; sleep 0.05; done
check "manual block enforced by the module" test "$(P -A "$UA_X" -H "X-Forwarded-For: $X" "$BASE/api/products/1")" = 403
settle
R0=$(refused); E0=$(events); I0=$(incidents); D0=$(engine_decisions)
BM0=$(refused_by block manual); TM0=$(refused_by throttle manual)
check "the refusals so far were counted (rampart_events_refused_total = $R0)" test "$R0" -ge 1

# (2) it keeps reading valid products and posting logins: 403s --------------
P -A "$UA_X" -H "X-Forwarded-For: $X" "$BASE/api/products/[1001-1300]" > "$TMP/x.codes"
P -A "$UA_X" -H "X-Forwarded-For: $X" -H 'Content-Type: application/json' \
  -d '{"username":"user7","password":"wrong"}' "$BASE/api/login?try=[1-60]" >> "$TMP/x.codes"
P -H "X-Forwarded-For: $T" "$BASE/api/products/[2001-2040]" > "$TMP/t.codes"
P -A "$UA_X" -H "X-Forwarded-For: $X" "$BASE/custom/api/products/[3001-3020]" > "$TMP/c.codes"
echo "    blocked client: $(codes < "$TMP/x.codes"); throttled client: $(codes < "$TMP/t.codes"); through error_page: $(codes < "$TMP/c.codes")"
check "all 360 requests of the blocked client answered 403 by the module" test "$(grep -c '^403$' "$TMP/x.codes")" = 360
check "all 40 requests of the throttled client answered 429" test "$(grep -c '^429$' "$TMP/t.codes")" = 40
check "all 20 requests through error_page answered 403" test "$(grep -c '^403$' "$TMP/c.codes")" = 20
check "... with the error_page body" grep -q "custom blocked page" <(curl -s -A "$UA_X" -H "X-Forwarded-For: $X" "$BASE/custom/api/products/3001")
check "rampart_events_refused_total grows by exactly 421 ($R0 -> $((R0 + 421)))" wait_metric rampart_events_refused_total $((R0 + 421))
settle
check "... and so does rampart_engine_events_total (the refusals are counted as requests)" test "$(events)" = $((E0 + 421))
check "rampart_requests_refused_total{action=\"block\",detector=\"manual\"} grows by 381 ($BM0 -> $((BM0 + 381)))" \
  test "$(refused_by block manual)" = $((BM0 + 381))
check "rampart_requests_refused_total{action=\"throttle\",detector=\"manual\"} grows by 40 ($TM0 -> $((TM0 + 40)))" \
  test "$(refused_by throttle manual)" = $((TM0 + 40))
check "no incident from the refusals (engine incidents stay $I0)" test "$(incidents)" = "$I0"
check "no engine decision from the refusals (stays $D0)" test "$(engine_decisions)" = "$D0"
check "no stored incident on ip:$X" test "$(key_incidents "ip:$X")" = 0
check "no stored incident on ip:$T" test "$(key_incidents "ip:$T")" = 0
check "the decision list holds only the two manual decisions" test "$(decision_keys)" = "ip:$X ip:$T"
check "no fingerprint incident at all" \
  test "$(curl -s "$ADMIN/v1/incidents" | jq '[.incidents[] | select(.key | startswith("fingerprint"))] | length')" = 0

# (3) without the module: auth_request + the shipped example + the access log
X2=198.51.100.50; T2=198.51.100.51; OK2=198.51.100.52
decisions add "ip:$X2" block 10m "e2e: auth_request"
decisions add "ip:$T2" throttle 10m "e2e: auth_request"
sleep 0.2
settle
R1=$(refused); E1=$(events); I1=$(incidents)
BM1=$(refused_by block manual); TM1=$(refused_by throttle manual)
P -A "$UA_X" -H "X-Forwarded-For: $X2" "$CHECKED/api/products/[1-40]" > "$TMP/x2.codes"
P -A "$UA_X" -H "X-Forwarded-For: $X2" -H 'Content-Type: application/json' \
  -d '{"username":"user7","password":"wrong"}' "$CHECKED/api/login?try=[1-20]" >> "$TMP/x2.codes"
curl -s -D "$TMP/t2.head" -o /dev/null -H "X-Forwarded-For: $T2" "$CHECKED/api/products/1"
P -H "X-Forwarded-For: $T2" "$CHECKED/api/products/[2-20]" > "$TMP/t2.codes"
P -H "X-Forwarded-For: $OK2" "$CHECKED/api/products/[1-10]" > "$TMP/ok2.codes"
echo "    auth_request: blocked $(codes < "$TMP/x2.codes"); throttled (after the first) $(codes < "$TMP/t2.codes"); allowed $(codes < "$TMP/ok2.codes")"
check "auth_request: the blocked client gets 60 x 403" test "$(grep -c '^403$' "$TMP/x2.codes")" = 60
check "auth_request: the throttled client gets 429 (not auth_request's 500)" test "$(grep -c '^429$' "$TMP/t2.codes")" = 19
check "... with Retry-After from /v1/check" grep -Eqi '^Retry-After: [1-9]' "$TMP/t2.head"
check "auth_request: an allowed client is served" test "$(grep -c '^200$' "$TMP/ok2.codes")" = 10
check "the access log says \"rampart\":\"block\" on the 403s" test "$(grep -c '"status":"403".*"rampart":"block"' "$TMP/ng/api.json.log")" = 60
check "... \"rampart\":\"throttle\" on the 429s" test "$(grep -c '"status":"429".*"rampart":"throttle"' "$TMP/ng/api.json.log")" = 20
check "... and \"rampart\":\"\" on the served requests" test "$(grep -c '"status":"200".*"rampart":""' "$TMP/ng/api.json.log")" = 10
check "followed log: rampart_events_refused_total grows by exactly 80 ($R1 -> $((R1 + 80)))" wait_metric rampart_events_refused_total $((R1 + 80))
settle
check "... out of 90 events" test "$(events)" = $((E1 + 90))
check "... 60 under {action=\"block\",detector=\"manual\"}, 20 under {action=\"throttle\",detector=\"manual\"}" \
  test "$(( $(refused_by block manual) - BM1 )) $(( $(refused_by throttle manual) - TM1 ))" = "60 20"
check "no incident from the auth_request refusals (engine incidents stay $I1)" test "$(incidents)" = "$I1"
check "no stored incident on ip:$X2 or ip:$T2" test "$(key_incidents "ip:$X2")$(key_incidents "ip:$T2")" = 00
check "the decision list holds only the four manual decisions" \
  test "$(decision_keys)" = "ip:$X ip:$T ip:$X2 ip:$T2"

# (4) the decision removed: served normally, nothing refused ------------------
decisions delete "ip:$X"
for _ in $(seq 1 40); do [ "$(P -A "$UA_X" -H "X-Forwarded-For: $X" "$BASE/api/products/1")" = 200 ] && break; sleep 0.05; done
settle
R2=$(refused)
P -A "$UA_X" -H "X-Forwarded-For: $X" "$BASE/api/products/[1301-1320]" > "$TMP/x.after"
echo "    after the delete: $(codes < "$TMP/x.after")"
check "after the delete: the client's 20 product pages are served (200)" test "$(grep -c '^200$' "$TMP/x.after")" = 20
settle
check "... and not counted as refused (stays $R2)" test "$(refused)" = "$R2"
check "... and still no incident on ip:$X" test "$(key_incidents "ip:$X")" = 0

# (5) control: the same logins answered 401 by the upstream are judged -------
Y=198.51.100.60
P -A "curl/8.5.0" -H "X-Forwarded-For: $Y" -H 'Content-Type: application/json' \
  -d '{"username":"user7","password":"wrong"}' "$BASE/api/login?try=[1-60]" > "$TMP/y.codes"
echo "    control client: $(codes < "$TMP/y.codes")"
for _ in $(seq 1 100); do [ "$(key_incidents "ip:$Y")" -ge 1 ] && break; sleep 0.1; done
check "control: 60 failed logins (401 from the upstream) give an incident on ip:$Y" test "$(key_incidents "ip:$Y")" -ge 1
echo "    control incident: $(curl -s "$ADMIN/v1/incidents?key=ip:$Y&limit=1" | jq -r '.incidents[0] | "\(.action): \([.findings[].summary] | join("; "))"' | head -c 300)"

# A blocked client that names another address itself (auth_request passes
# its headers on to /v1/check): the hop nginx appended still counts.
code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Forwarded-For: $X2" -H "X-Real-IP: 1.1.1.1" "$CHECKED/api/products/1")
check "auth_request: the blocked client's own X-Real-IP: 1.1.1.1 changes nothing ($code)" test "$code" = 403

# (6) the control client stopped by the engine: its refusals are counted
# under its incident's main detector.
for _ in $(seq 1 100); do
  dec=$(curl -s "$ADMIN/v1/decisions" | jq -c --arg k "ip:$Y" '.decisions[] | select(.key == $k)')
  [ -n "$dec" ] && break; sleep 0.1
done
check "control: the engine decided on ip:$Y" test -n "$dec"
YA=$(jq -r .action <<<"$dec"); YI=$(jq -r .incident_id <<<"$dec")
YD=$(curl -s "$ADMIN/v1/incidents/$YI" | jq -r '.findings[0].detector')
settle
YN0=$(refused_by "$YA" "$YD")
P -A "curl/8.5.0" -H "X-Forwarded-For: $Y" "$BASE/api/products/[1-10]" > "$TMP/y.after"
echo "    control client after its $YA (incident $YI, main detector $YD): $(codes < "$TMP/y.after")"
check "control: 10 requests refused" test "$(grep -cE '^(403|429)$' "$TMP/y.after")" = 10
settle
check "rampart_requests_refused_total{action=\"$YA\",detector=\"$YD\"} grows by 10 ($YN0 -> $((YN0 + 10)))" \
  test "$(refused_by "$YA" "$YD")" = $((YN0 + 10))
check "the labelled refusals add up to rampart_events_refused_total ($(refused))" test "$(refused_sum)" = "$(refused)"
echo "    $(curl -s "$ADMIN/metrics" | grep '^rampart_requests_refused_total' | awk '$2 > 0' | tr '\n' ' ')"
check "no worker died" test "$(grep -c 'exited on signal' "$TMP/ng/logs/error.log")" = 0
cleanup_nginx
stop_serve "$SERVE_PID"
kill -TERM "$DEMO_PID"; wait "$DEMO_PID" 2>/dev/null || true
echo "serve_refused: all checks passed"
