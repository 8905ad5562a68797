#!/usr/bin/env bash
# ngx_http_rampart_module end to end, in a real nginx: events reach
# `rampart serve`; manual decisions are enforced (403 / 429 + Retry-After /
# gone again); monitor mode only logs; fail open and fail closed; a table
# replaced by a daemon restart is picked up without reload; hostile input
# (huge header, garbage X-Forwarded-For, a table overwritten and truncated
# in place) kills no worker; a scanner burst is blocked by nginx itself;
# the login username is extracted from a JSON body (the top-level member,
# not a decoy nested before it).
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is required"
bash "$ROOT/tools/install-deps.sh" nginx nginx-dev curl || fail "cannot install nginx and nginx-dev"
NGINX=${NGINX:-/usr/sbin/nginx}
# the build directory of $RAMPART (RAMPART=$PWD/build-x/rampart tests build-x)
BUILD_DIR=$(dirname "$RAMPART")
MODULE=${MODULE:-$(bash "$ROOT/nginx/build.sh" "$BUILD_DIR" | tail -1)}
[ -f "$MODULE" ] || fail "module not built"
[ -x "$RAMPART" ] || make -s -C "$ROOT" all >/dev/null

NGINX_PID=""
SERVE_PID=""
cleanup() {
  [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null
  [ -n "$SERVE_PID" ] && kill -KILL "$SERVE_PID" 2>/dev/null
  sleep 0.2; if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

make_token
start_serve d
TOKEN=$(cat "$TMP/token")

# --- nginx -----------------------------------------------------------------
mkdir -p "$TMP/ng/logs" "$TMP/ng/tmp" "$TMP/ng/html"
echo "hello from the upstream" > "$TMP/ng/html/index.html"
echo "custom blocked page" > "$TMP/ng/html/blocked.html"
USER_LINE=""; [ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
HAVE6=0; grep -q '^0\{31\}1 .* lo$' /proc/net/if_inet6 2>/dev/null && HAVE6=1
write_conf() { # write_conf PORT UPSTREAM_PORT
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
  large_client_header_buffers 4 16k;
  rampart_table $TMP/d.tbl;
  rampart_socket $TMP/d.sock;
  set_real_ip_from 127.0.0.1;
  real_ip_header X-Forwarded-For;

  server {                       # the application: a static upstream
    listen 127.0.0.1:$2;
    root $TMP/ng/html;
    location / { try_files \$uri =404; }
    location = /login { return 200 "welcome\n"; }
  }
  server {
    listen 127.0.0.1:$1;
    $LISTEN6
    rampart on;
    location / { proxy_pass http://127.0.0.1:$2; }
    location = /login {
      rampart_username_field username;
      proxy_pass http://127.0.0.1:$2;
    }
    location /monitor/ { rampart_mode monitor; proxy_pass http://127.0.0.1:$2/; }
    location /closed/ { rampart_fail closed; proxy_pass http://127.0.0.1:$2/; }
    location /off/ { rampart off; return 200 "off\n"; }
    location /custom/ {             # nginx answers; error_page gives the body
      rampart_response status;
      rampart_block_status 451;
      error_page 451 /blocked.html;
      proxy_pass http://127.0.0.1:$2/;
    }
    location = /blocked.html { root $TMP/ng/html; }
  }
}
CONF
}
start_nginx() {
  for _ in 1 2 3 4 5; do
    PORT=$(shuf -i 20000-60000 -n 1); UPORT=$((PORT + 1))
    LISTEN6=""; [ "$HAVE6" = 1 ] && LISTEN6="listen [::1]:$PORT;"
    write_conf "$PORT" "$UPORT"
    : > "$TMP/ng/logs/error.log"
    if "$NGINX" -p "$TMP/ng" -c "$TMP/ng/nginx.conf" 2>> "$TMP/ng/start.log"; then
      for _ in $(seq 1 50); do [ -s "$TMP/ng/nginx.pid" ] && break; sleep 0.05; done
      NGINX_PID=$(cat "$TMP/ng/nginx.pid")
      BASE="http://127.0.0.1:$PORT"
      for _ in $(seq 1 50); do curl -s -o /dev/null "$BASE/off/" && return 0; sleep 0.05; done
    fi
  done
  cat "$TMP/ng/start.log" "$TMP/ng/logs/error.log" >&2; fail "nginx did not start"
}
# configuration mistakes are refused by nginx -t (with file:line)
bad_conf() { # bad_conf "DIRECTIVES" -> nginx -t output
  printf 'load_module %s;\nerror_log %s/ng/logs/t.log;\npid %s/ng/t.pid;\nevents {}\nhttp { %s server { listen 127.0.0.1:1; } }\n' \
    "$MODULE" "$TMP" "$TMP" "$1" > "$TMP/ng/bad.conf"
  "$NGINX" -t -p "$TMP/ng" -c "$TMP/ng/bad.conf" 2>&1 || true
}
check "rampart_mode bogus: refused" grep -q 'invalid value "bogus" in .*bad.conf:5' <<<"$(bad_conf 'rampart_mode bogus;')"
check "rampart_block_status 99: refused" grep -q 'value must be between 300 and 599' <<<"$(bad_conf 'rampart_block_status 99;')"
check "rampart_fail maybe: refused" grep -q 'invalid value "maybe"' <<<"$(bad_conf 'rampart_fail maybe;')"
check "rampart_username_field outside a location: refused" grep -q '"rampart_username_field" directive is not allowed here' <<<"$(bad_conf 'rampart_username_field u;')"
check "a valid configuration passes nginx -t" grep -q 'test is successful' <<<"$(bad_conf 'rampart on; rampart_mode monitor; rampart_response status; rampart_token_header X-Key;')"

start_nginx
stats_events() { curl -s "$ADMIN/v1/stats" | grep -o '"events":[0-9]*' | head -1 | cut -d: -f2; }
code() { curl -s -o "$TMP/body" -w '%{http_code}' "$@"; }
admin() { curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$@"; }

# (1) events arrive --------------------------------------------------------
before=$(stats_events)
for i in $(seq 1 10); do curl -s -o /dev/null "$BASE/index.html?i=$i"; done
for _ in $(seq 1 40); do [ "$(stats_events)" -ge $((before + 10)) ] && break; sleep 0.05; done
check "10 requests through nginx -> 10 events in the daemon" test "$(stats_events)" -eq $((before + 10))
check "upstream answered through the module" test "$(code "$BASE/index.html")" = 200

# (2) manual decisions are enforced ----------------------------------------
wait_code() { # wait_code WANT URL [curl args]: poll up to 2 s
  local want=$1; shift
  for _ in $(seq 1 40); do [ "$(code "$@")" = "$want" ] && return 0; sleep 0.05; done
  return 1
}
check "manual block accepted (201)" test "$(admin -X POST "$ADMIN/v1/decisions" \
  -d '{"key":"ip:198.51.100.7","action":"block","duration":"10m"}')" = 201
check "block: 403 from nginx within 1 s" wait_code 403 "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.7"
check "block body is JSON with the action" grep -q '"error":"blocked","action":"block","incident_id":0' "$TMP/body"
check "others still pass" test "$(code "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.8")" = 200
admin -X POST "$ADMIN/v1/decisions" -d '{"key":"ip:198.51.100.9","action":"throttle","duration":"10m"}' >/dev/null
check "throttle: 429" wait_code 429 "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.9"
curl -s -D "$TMP/h" -o /dev/null "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.9"
check "throttle: Retry-After in seconds" grep -Eqi '^Retry-After: [1-9][0-9]*' "$TMP/h"
check "throttle: JSON content type" grep -qi '^Content-Type: application/json' "$TMP/h"
admin -X DELETE "$ADMIN/v1/decisions/ip:198.51.100.7" >/dev/null
check "deleted decision: 200 again within 1 s" wait_code 200 "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.7"
admin -X POST "$ADMIN/v1/decisions" -d '{"key":"subnet:203.0.113.0/24","action":"block","duration":"10m"}' >/dev/null
check "subnet block: any address of the /24 gets 403" wait_code 403 "$BASE/index.html" -H "X-Forwarded-For: 203.0.113.200"
admin -X POST "$ADMIN/v1/decisions" -d '{"key":"ip:203.0.113.201","action":"allow","duration":"10m"}' >/dev/null
check "allow on the IP wins over the block of its subnet" wait_code 200 "$BASE/index.html" -H "X-Forwarded-For: 203.0.113.201"
check "rampart_response status: error_page body, custom status 451" wait_code 451 "$BASE/custom/index.html" -H "X-Forwarded-For: 203.0.113.200"
check "... with the error_page body" grep -q "custom blocked page" "$TMP/body"
curl -s -D "$TMP/h" -o "$TMP/body" "$BASE/custom/index.html" -H "X-Forwarded-For: 198.51.100.9"
check "rampart_response status: throttle keeps Retry-After" grep -Eqi '^Retry-After: [1-9]' "$TMP/h"
check "... and nginx's own 429 page" grep -q "429 Too Many Requests" "$TMP/body"
admin -X DELETE "$ADMIN/v1/decisions/subnet:203.0.113.0%2F24" >/dev/null
if [ "$HAVE6" = 1 ]; then
  admin -X POST "$ADMIN/v1/decisions" -d '{"key":"ip:::1","action":"block","duration":"10m"}' >/dev/null
  check "IPv6 client (::1) blocked" wait_code 403 -g "http://[::1]:$PORT/index.html"
  admin -X DELETE "$ADMIN/v1/decisions/ip:::1" >/dev/null
  check "IPv6 client served after delete" wait_code 200 -g "http://[::1]:$PORT/index.html"
fi
check "rampart off location ignores decisions" test "$(code "$BASE/off/" -H "X-Forwarded-For: 198.51.100.9")" = 200

# (9) keys computed in nginx are the daemon's keys --------------------------
# A helper linked with librampart parses a JSON log line describing the
# same request (src/ingest/json.c) and prints the keys the engine derives.
cat > "$TMP/keys.c" <<'C'
#include <stdio.h>
#include <string.h>
#include "rampart.h"
#include "ingest.h"
#include "keys.h"
int main(int argc, char **argv) {
    rp_log_parser *p = rp_log_parser_new(RP_FORMAT_JSON);
    rp_event ev;
    rp_skip_reason why;
    if (argc < 2 || rp_log_parser_parse(p, argv[1], strlen(argv[1]), &ev, &why) != RP_OK) return 1;
    printf("fingerprint:%016llx token:%016llx username:%016llx\n",
           (unsigned long long)rp_event_fingerprint(&ev), /* src/common/keys.c */
           (unsigned long long)ev.token_id, (unsigned long long)ev.credential_id);
    rp_log_parser_free(p);
    return 0;
}
C
${CC:-cc} -std=c11 -I"$ROOT/include" -I"$ROOT/src/common" -I"$ROOT/src/ingest" -I"$ROOT/src/engine" -o "$TMP/keys" "$TMP/keys.c" \
  "$BUILD_DIR/librampart.a" -lyaml -ljansson -lz -lm -lpthread || fail "cannot build the key helper"
line='{"msec":"1700000000.000","remote_addr":"192.0.2.1","request":"GET / HTTP/1.1","status":200,'
read -r FP TK UN < <("$TMP/keys" "$line\"http_user_agent\":\"parity-agent/1.0\",\"header_names\":\"Host,User-Agent,Accept,X-Forwarded-For,Authorization\",\"http_authorization\":\"Bearer tok-123\",\"username\":\"dave\"}")
admin -X POST "$ADMIN/v1/decisions" -d "{\"key\":\"$FP\",\"action\":\"block\",\"duration\":\"10m\"}" >/dev/null
check "fingerprint block ($FP) matches curl's headers in nginx" wait_code 403 "$BASE/index.html" \
  -A "parity-agent/1.0" -H "X-Forwarded-For: 198.51.100.20" -H "Authorization: Bearer other"
check "same agent, other header set: not that fingerprint" test "$(code "$BASE/index.html" \
  -A "parity-agent/1.0" -H "X-Forwarded-For: 198.51.100.20" -H "Accept-Language: en")" = 200
admin -X POST "$ADMIN/v1/decisions" -d "{\"key\":\"$TK\",\"action\":\"throttle\",\"duration\":\"10m\"}" >/dev/null
check "bearer token throttle ($TK) enforced" wait_code 429 "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.21" -H "Authorization: Bearer tok-123"
check "the same token as X-API-Key is the same key" test "$(code "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.22" -H "X-API-Key: tok-123")" = 429
code "$BASE/login" -H "X-Forwarded-For: 192.0.2.51" -H 'Content-Type: application/json' -d '{"username":"dave","password":"p"}' >/dev/null
for _ in $(seq 1 40); do [ "$(code "$ADMIN/v1/clients/$UN")" = 200 ] && break; sleep 0.05; done
check "username hashed in nginx is the daemon's $UN" test "$(code "$ADMIN/v1/clients/$UN")" = 200
# a decoy nested before the top-level member hides nobody (issue 11)
read -r _ _ UE < <("$TMP/keys" "$line\"username\":\"erin\"}")
read -r _ _ UD < <("$TMP/keys" "$line\"username\":\"decoy\"}")
code "$BASE/login" -H "X-Forwarded-For: 192.0.2.52" -H 'Content-Type: application/json' \
  -d '{"meta":{"username":"decoy"},"user\u006eame":"erin","password":"p"}' >/dev/null
for _ in $(seq 1 40); do [ "$(code "$ADMIN/v1/clients/$UE")" = 200 ] && break; sleep 0.05; done
check "decoy body: the top-level username erin is the key ($UE)" test "$(code "$ADMIN/v1/clients/$UE")" = 200
check "decoy body: the nested decoy is not ($UD)" test "$(code "$ADMIN/v1/clients/$UD")" = 404

# (3) monitor mode only logs ------------------------------------------------
admin -X POST "$ADMIN/v1/decisions" -d '{"key":"ip:198.51.100.7","action":"block","duration":"10m"}' >/dev/null
wait_code 403 "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.7" || fail "block not back"
check "monitor location serves a blocked client" test "$(code "$BASE/monitor/index.html" -H "X-Forwarded-For: 198.51.100.7")" = 200
check "monitor mode logs what it would do" grep -q 'rampart: would block (incident 0, monitor mode)' "$TMP/ng/logs/error.log"

# (8) the login username, hashed, from a JSON and a form body ---------------
users() { curl -s "$ADMIN/v1/stats" | grep -o '"username":{"tracked":[0-9]*' | grep -o '[0-9]*$'; }
for u in alice bob; do
  code "$BASE/login" -H "X-Forwarded-For: 192.0.2.50" -H 'Content-Type: application/json' \
    -d "{\"password\":\"x\",\"username\": \"$u\"}" >/dev/null
done
code "$BASE/login" -H "X-Forwarded-For: 192.0.2.50" -d 'username=carol%40example.com&password=x' >/dev/null
for _ in $(seq 1 40); do [ "$(users)" -ge 3 ] && break; sleep 0.05; done
check "daemon tracks the 3 usernames sent to /login (JSON and form)" test "$(users)" -ge 3

# (7) a scanner burst through nginx ends in a 403 from nginx itself --------
first403=0
for i in $(seq 1 60); do
  c=$(code "$BASE/wp-admin/x$i.php" -H "X-Forwarded-For: 203.0.113.66" -A "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0")
  if [ "$c" = 403 ]; then first403=$i; break; fi
  sleep 0.02
done
check "scanner blocked by nginx within 60 requests (at request $first403)" test "$first403" -gt 0
echo "  (scanner answer: $(cat "$TMP/body"))"
check "the block names a detected incident" grep -Eq '"incident_id":[1-9]' "$TMP/body"

# (5) the daemon killed mid-traffic and restarted: nginx serves throughout;
# the restart replaces the table, which is picked up without a reload ------
( for i in $(seq 1 60); do
    curl -s -H "X-Forwarded-For: 192.0.2.201" "$BASE/index.html?k=$i" | head -c 5; echo; sleep 0.04
  done ) > "$TMP/during" &
LOOP=$!
sleep 0.3; kill -KILL "$SERVE_PID"; wait "$SERVE_PID" 2>/dev/null || true
sleep 0.3; start_serve d
wait "$LOOP"
check "all 60 requests served while the daemon died and came back" test "$(grep -c '^hello' "$TMP/during")" = 60
admin -X POST "$ADMIN/v1/decisions" -d '{"key":"ip:198.51.100.11","action":"block","duration":"10m"}' >/dev/null
check "decision in the new table enforced within 2 s (no reload)" wait_code 403 "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.11"
before=$(stats_events)
for i in $(seq 1 15); do curl -s -o /dev/null "$BASE/index.html"; sleep 0.1; done
sleep 0.2
check "events flow to the restarted daemon (reconnect)" test "$(stats_events)" -gt "$before"

# a stalled daemon (SIGSTOP): its socket fills, nginx answers at full speed,
# drops are counted and logged; once it runs again events flow ------------
kill -STOP "$SERVE_PID"
start=$(date +%s%N)
curl -s -o /dev/null -w '%{http_code}\n' -H "X-Forwarded-For: 192.0.2.200" "$BASE/index.html?stall=[1-600]" > "$TMP/stall"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
kill -CONT "$SERVE_PID"
check "600 requests served while the daemon is stopped (${ms} ms)" test "$(grep -c '^200$' "$TMP/stall")" = 600
check "... without waiting on it (under 10 s)" test "$ms" -lt 10000
check "drops logged (at most one warning a minute)" grep -q 'rampart: [0-9]* events dropped in this worker' "$TMP/ng/logs/error.log"
before=$(stats_events)
for i in $(seq 1 5); do curl -s -o /dev/null -H "X-Forwarded-For: 192.0.2.202" "$BASE/index.html?after=$i"; sleep 0.05; done
for _ in $(seq 1 40); do [ "$(stats_events)" -ge $((before + 5)) ] && break; sleep 0.05; done
check "events flow again once the daemon runs" test "$(stats_events)" -ge $((before + 5))

# (4) fail open / fail closed --------------------------------------------
stop_serve "$SERVE_PID"; SERVE_PID=""
rm -f "$TMP/d.tbl"
check "no daemon, no table: fail open serves 200" wait_code 200 "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.7"
check "rampart_fail closed answers 503" wait_code 503 "$BASE/closed/index.html"
check "error log says the table is absent" grep -q 'decision table .* is absent' "$TMP/ng/logs/error.log"
start_serve d
check "closed location serves again once the table is back" wait_code 200 "$BASE/closed/index.html"
check "restored decisions apply again" wait_code 403 "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.7"

# (6) hostile input --------------------------------------------------------
big=$(head -c 8192 /dev/zero | tr '\0' a)
check "8 KiB header: served" test "$(code "$BASE/index.html" -H "X-Big: $big")" = 200
huge=$(head -c 40000 /dev/zero | tr '\0' a)
c=$(code "$BASE/index.html" -H "X-Huge: $huge")
check "40 KiB header: refused by nginx ($c), no crash" test "$c" = 400 -o "$c" = 494 -o "$c" = 431
check "garbage X-Forwarded-For: served" test "$(code "$BASE/index.html" -H $'X-Forwarded-For: ,;;\x01garbage, 999.1.1.1, ::::')" = 200
c=$(code "$BASE/$(head -c 6000 /dev/zero | tr '\0' b)%ff%00?q=$(head -c 3000 /dev/zero | tr '\0' c)")
check "very long URL with odd bytes: answered ($c), no crash" test "$c" = 404 -o "$c" = 400
stop_serve "$SERVE_PID"; SERVE_PID=""     # nobody else writes the table now
for round in 1 2 3; do
  curl -s -o /dev/null "$BASE/index.html"
  : > "$TMP/d.tbl"                          # truncated in place under the mapping
  c1=$(code "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.7")
  head -c 100000 /dev/urandom > "$TMP/d.tbl" # garbage, another size
  c2=$(code "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.7")
  [ "$c1" = 200 ] && [ "$c2" = 200 ] || fail "corrupt table round $round: $c1 $c2"
  sleep 0.4
done
check "truncated and garbage tables: nginx keeps serving (fail open)" test "$(code "$BASE/index.html")" = 200
check "error log says the table is unusable" grep -Eq 'decision table .* (unusable|truncated)' "$TMP/ng/logs/error.log"
check "no worker died" test "$(grep -c 'exited on signal' "$TMP/ng/logs/error.log")" = 0
start_serve d
check "a valid table again: decisions apply" wait_code 403 "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.7"
check "no worker died during the whole test" test "$(grep -c 'exited on signal' "$TMP/ng/logs/error.log")" = 0
kill -HUP "$NGINX_PID"   # reload: new workers open table and socket afresh
sleep 0.5
check "after an nginx reload: decisions still enforced" wait_code 403 "$BASE/index.html" -H "X-Forwarded-For: 198.51.100.7"
before=$(stats_events)
for i in $(seq 1 5); do curl -s -o /dev/null -H "X-Forwarded-For: 192.0.2.203" "$BASE/index.html?reload=$i"; done
for _ in $(seq 1 40); do [ "$(stats_events)" -ge $((before + 5)) ] && break; sleep 0.05; done
check "after an nginx reload: events still reach the daemon" test "$(stats_events)" -ge $((before + 5))
stop_serve "$SERVE_PID"; SERVE_PID=""
kill -TERM "$NGINX_PID"
for _ in $(seq 1 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$NGINX_PID" 2>/dev/null && fail "nginx did not stop within 5 s"
NGINX_PID=""
check "nginx stopped cleanly: no worker died at exit either" test "$(grep -c 'exited on signal' "$TMP/ng/logs/error.log")" = 0
check "the worker reported its event counts at exit" grep -q 'rampart: worker exits: [0-9]* events sent' "$TMP/ng/logs/error.log"
dropped=$(grep -o 'sendmmsg calls, [0-9]* dropped' "$TMP/ng/logs/error.log" | awk '{s += $3} END {print s + 0}')
# (events are packed several to a datagram, so how many the kernel queue
# holds depends on their sizes: the overflow must be counted, and bounded)
check "the stall's overflow was counted ($dropped of 600 dropped)" test "${dropped:-0}" -ge 1 -a "${dropped:-0}" -le 600
echo "nginx_module: all checks passed"
