#!/usr/bin/env bash
# rampart serve end to end: events over the unix socket become a decision
# in the shared table and in /v1/check; manual decisions need the token;
# a restart restores active decisions; bad requests get 4xx JSON.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is required"
make_token
start_serve a

# a scanner: 150 requests for missing sensitive paths
for i in $(seq 1 150); do
  printf '198.51.100.66 - - [25/Nov/2026:10:00:%02d +0000] "GET /admin/backup-%d.php HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' $((i % 60)) "$i"
done > "$TMP/scan.log"
# and a quiet human
for i in $(seq 1 5); do
  printf '192.0.2.10 - - [25/Nov/2026:10:00:%02d +0000] "GET /api/products HTTP/1.1" 200 2048 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"\n' $((i * 5))
done >> "$TMP/scan.log"
"$RAMPART" send --socket "$TMP/a.sock" --now "$TMP/scan.log"
check "all 155 events reached the engine" wait_engine_events 155

# the decision shows up (poll up to 5 s)
for _ in $(seq 1 100); do
  r=$(http GET "$ADMIN/v1/check?ip=198.51.100.66"); [ "${r%% *}" = 403 ] && break; sleep 0.05
done
check "scanner blocked by /v1/check (403)" test "${r%% *}" = 403
check "block answer names the incident" grep -q '"incident_id":[1-9]' <<<"$r"
r=$(http GET "$ADMIN/v1/check" -H "X-Forwarded-For: 192.0.2.10")
check "the human is allowed (204)" test "${r%% *}" = 204
r=$(http GET "$ADMIN/v1/check" -H "X-Forwarded-For: 10.0.0.1, 198.51.100.66")
check "X-Forwarded-For last hop is the client (403)" test "${r%% *}" = 403
r=$(http GET "$ADMIN/v1/decisions")
check "decision listed" grep -q '"key":"ip:198.51.100.66","level":"ip","action":"block"' <<<"$r"
r=$(http GET "$ADMIN/v1/clients/ip:198.51.100.66")
check "client explains the scan" grep -q '"detector":"scan"' <<<"$r"
for _ in $(seq 1 50); do
  r=$(http GET "$ADMIN/v1/incidents?detector=scan"); grep -q '198.51.100.66' <<<"$r" && break; sleep 0.1
done
check "incident stored and queryable" grep -q '"key":"ip:198.51.100.66"' <<<"$r"
r=$(http GET "$ADMIN/metrics")
check "metrics count the block" grep -q 'rampart_incidents_total{action="block"} 1' <<<"$r"
check "metrics name the detector behind the block" grep -q 'rampart_decision_findings_total{detector="scan"} 1' <<<"$r"
check "metrics count events" grep -Eq '^rampart_engine_events_total 155$' <<<"$r"

# manual decisions need the token
r=$(http POST "$ADMIN/v1/decisions" -d '{"key":"ip:203.0.113.5","action":"throttle","duration":"10m"}')
check "POST without token: 401" test "${r%% *}" = 401
r=$(http POST "$ADMIN/v1/decisions" -H "Authorization: Bearer wrong-token-wrong-token" -d '{"key":"ip:203.0.113.5","action":"throttle"}')
check "POST with a wrong token: 401" test "${r%% *}" = 401
"$RAMPART" decisions --url "$ADMIN" --token-file "$TMP/token" add ip:203.0.113.5 throttle 10m "load test from a partner" > "$TMP/out"
check "decisions add through the CLI" grep -q 'throttle ip:203.0.113.5 until' "$TMP/out"
curl -s -D "$TMP/h" -o /dev/null "$ADMIN/v1/check?ip=203.0.113.5"
check "throttle: 429 with Retry-After" grep -Eq '^HTTP/1.1 429|^Retry-After: [0-9]+' "$TMP/h"
check "Retry-After present" grep -qi '^Retry-After: [1-9]' "$TMP/h"
"$RAMPART" decisions --url "$ADMIN" list > "$TMP/out"
check "decisions list shows both" test "$(grep -c "^ip:" "$TMP/out")" -eq 2

# a fingerprint on a route: added, listed, removed (with '@' escaped)
FK='fingerprint:00000000deadbeef@00000000000c0ffe'
"$RAMPART" decisions --url "$ADMIN" --token-file "$TMP/token" add "$FK" block 10m "a rotating swarm" > "$TMP/out"
check "a fingerprint-on-a-route decision is added" grep -q "block $FK until" "$TMP/out"
check "and listed with its level" grep -q "\"key\":\"$FK\",\"level\":\"fingerprint\"" <<<"$(curl -s "$ADMIN/v1/decisions")"
r=$(http DELETE "$ADMIN/v1/decisions/fingerprint:00000000deadbeef%4000000000000c0ffe" -H "Authorization: Bearer $(cat "$TMP/token")")
check "and removed by its escaped key" test "${r%% *}" = 200
check "and gone" test "$(curl -s "$ADMIN/v1/decisions" | grep -c deadbeef)" -eq 0
r=$(http POST "$ADMIN/v1/decisions" -H "Authorization: Bearer $(cat "$TMP/token")" -d '{"key":"token:00ab@0cd","action":"block"}')
check "only a fingerprint takes a route: 400" grep -q '^400' <<<"$r"

# bad requests: clear 4xx JSON
r=$(http POST "$ADMIN/v1/decisions" -H "Authorization: Bearer $(cat "$TMP/token")" -d '{"key":"ip:999.1.1.1","action":"block"}')
check "bad key: 400 with message" grep -q '^400 {"error":"key must be' <<<"$r"
r=$(http POST "$ADMIN/v1/decisions" -H "Authorization: Bearer $(cat "$TMP/token")" -d 'not json')
check "bad JSON: 400" grep -q '^400 {"error":"the body must be a JSON object' <<<"$r"
r=$(http POST "$ADMIN/v1/decisions" -H "Authorization: Bearer $(cat "$TMP/token")" -d '{"key":"ip:1.2.3.4","action":"nuke"}')
check "bad action: 400" grep -q '^400' <<<"$r"
r=$(http GET "$ADMIN/v1/incidents?limit=5000")
check "bad limit: 400" grep -q '^400' <<<"$r"
r=$(http GET "$ADMIN/v1/nothing")
check "unknown endpoint: 404 JSON" grep -q '^404 {"error"' <<<"$r"
allow=$(curl -s -o /dev/null -D - -X PUT "$ADMIN/v1/decisions" | tr -d '\r' | grep -i '^Allow:')
check "a known path with another method: 405, Allow from the route table" test "$allow" = "Allow: GET, HEAD, POST"
r=$(http DELETE "$ADMIN/v1/decisions/ip:192.0.2.99" -H "Authorization: Bearer $(cat "$TMP/token")")
check "delete of a key without decision: 404" grep -q '^404' <<<"$r"
r=$(http GET "$ADMIN/v1/check")
check "check without a client: 400" grep -q '^400' <<<"$r"

# garbage datagrams are counted, the daemon lives on
python3 - "$TMP/a.sock" <<'PY' 2>/dev/null || perl -e 'use Socket; socket(my $s, AF_UNIX, SOCK_DGRAM, 0); my $a = pack_sockaddr_un($ARGV[0]); for (1..50) { send($s, join("", map { chr(int(rand(256))) } 1..(1+int(rand(300)))), 0, $a) }' "$TMP/a.sock"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for i in range(50): s.sendto(os.urandom(1 + i * 7), sys.argv[1])
PY
sleep 0.3
r=$(http GET "$ADMIN/metrics")
check "garbage datagrams counted as dropped" grep -Eq 'rampart_events_dropped_total\{input="datagram",reason="decode_[a-z]+"\} [1-9]' <<<"$r"
r=$(http GET "$ADMIN/healthz")
check "still healthy" test "${r%% *}" = 200

# restart: active decisions come back before any event
stop_serve "$SERVE_PID"
check "clean stop logged" grep -q 'stopped cleanly' "$TMP/a.log"
start_serve a
r=$(http GET "$ADMIN/v1/check?ip=198.51.100.66")
check "engine decision restored after restart" test "${r%% *}" = 403
r=$(http GET "$ADMIN/v1/check?ip=203.0.113.5")
check "manual decision restored after restart" test "${r%% *}" = 429
"$RAMPART" decisions --url "$ADMIN" --token-file "$TMP/token" delete ip:203.0.113.5 > /dev/null
r=$(http GET "$ADMIN/v1/check?ip=203.0.113.5")
check "deleted decision no longer applies" test "${r%% *}" = 204
stop_serve "$SERVE_PID"
