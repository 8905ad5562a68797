#!/usr/bin/env bash
# Fleet mode: an operator's decision made on one node binds every node's
# engine, not only every node's table (docs/cluster.md, "Operators'
# decisions in a fleet"). A redis-server on loopback, edges A and B, one
# detector.
#   1. an allow made through edge A's API: the same address then scans
#      through edge B -- the detector does not judge it, the allow stays in
#      Redis (a detector's block would overwrite it) and no edge refuses it;
#   2. a removal made through edge A is a pardon on the detector too: the
#      scanner it stopped is not stopped again by its next requests (its
#      counters were over the thresholds), and is stopped again only when
#      it goes on, as a first offense (same duration as the first time).
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is required (Debian redis-server)"
command -v curl >/dev/null || fail "curl is required"

start_redis
for role in edge detector; do
  printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: %s\n' "$REDIS_PORT" "$role" > "$TMP/$role.yaml"
done
make_token
start_serve det --config "$TMP/detector.yaml"; DET=$ADMIN; DET_PID=$SERVE_PID
start_serve ea --config "$TMP/edge.yaml"; EA=$ADMIN; EA_PID=$SERVE_PID
start_serve eb --config "$TMP/edge.yaml"; EB=$ADMIN; EB_PID=$SERVE_PID
status() { curl -s -o /dev/null -w '%{http_code}' "$1/v1/check?ip=$2"; }
# scan_lines IP FROM TO: a scanner's requests, one never-served path each
scan_lines() {
  local i
  for i in $(seq "$2" "$3"); do
    printf '%s - - [25/Nov/2026:10:%02d:%02d +0000] "GET /docs/page-%d.html HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' \
      "$1" $((i / 60 % 60)) $((i % 60)) "$i"
  done
}
wait_status() { # wait_status URL IP CODE...: until one of the codes, 5 s at most
  local _ s c
  for _ in $(seq 1 500); do
    s=$(status "$1" "$2")
    for c in "${@:3}"; do [ "$s" = "$c" ] && return 0; done
    sleep 0.01
  done
  return 1
}

echo "1. an allow made on edge A binds the detector"
PARTNER=198.51.100.80
"$RAMPART" decisions --url "$EA" --token-file "$TMP/token" add "ip:$PARTNER" allow 1h "partner" > /dev/null
check "the allow is in Redis" grep -q '^4 ' <<<"$(rcli HGET rampart:decisions "ip:$PARTNER")"
for _ in $(seq 1 500); do
  curl -s "$DET/v1/decisions" | grep -q "ip:$PARTNER" && break; sleep 0.01
done
check "the detector holds it" sh -c "curl -s '$DET/v1/decisions' | grep -q 'ip:$PARTNER'"
scan_lines "$PARTNER" 1 200 > "$TMP/partner.log"
"$RAMPART" send --socket "$TMP/eb.sock" --now "$TMP/partner.log"
ADMIN=$DET
check "the detector's engine saw its 200 requests" wait_engine_events 200
sleep 1
check "the allow is still the decision in Redis" \
  grep -q '^4 ' <<<"$(rcli HGET rampart:decisions "ip:$PARTNER")"
for e in "$EA" "$EB"; do
  s=$(status "$e" "$PARTNER")
  check "edge $e does not refuse it ($s)" test "$s" != 403 -a "$s" != 429
done
check "the detector made no decision on it" \
  sh -c "! grep -q 'decision [a-z]* ip:$PARTNER' '$TMP/det.log'"

echo "2. a removal made on edge A is a pardon on the detector"
SCANNER=198.51.100.81
scan_lines "$SCANNER" 1 200 > "$TMP/scan1.log"
"$RAMPART" send --socket "$TMP/eb.sock" --now "$TMP/scan1.log"
check "the detector stops the scanner; edge A enforces it" wait_status "$EA" "$SCANNER" 403 429
check "the detector's engine saw its 200 requests" wait_engine_events 400
sleep 0.5 # its last decision on them published and mirrored
first=$(rcli HGET rampart:decisions "ip:$SCANNER")
first_duration=$(awk '{ print int(($3 - $2) / 1000000) }' <<<"$first")
"$RAMPART" decisions --url "$EA" --token-file "$TMP/token" delete "ip:$SCANNER" > /dev/null
check "removed: edge B serves it again" wait_status "$EB" "$SCANNER" 204
sleep 0.5 # the removal reaches the detector through the change stream
scan_lines "$SCANNER" 201 203 > "$TMP/scan2.log"
"$RAMPART" send --socket "$TMP/eb.sock" --now "$TMP/scan2.log"
check "the detector's engine saw its next 3 requests" wait_engine_events 403
sleep 1
check "not re-blocked by them (edge B: 204)" test "$(status "$EB" "$SCANNER")" = 204
check "nothing in Redis for it" test -z "$(rcli HGET rampart:decisions "ip:$SCANNER")"
scan_lines "$SCANNER" 204 403 > "$TMP/scan3.log"
"$RAMPART" send --socket "$TMP/eb.sock" --now "$TMP/scan3.log"
check "going on, it is stopped again" wait_status "$EA" "$SCANNER" 403 429
check "the detector's engine saw those 200 too" wait_engine_events 603
sleep 0.5 # its last decision on them published (a throttle may become a block)
again=$(rcli HGET rampart:decisions "ip:$SCANNER")
again_duration=$(awk '{ print int(($3 - $2) / 1000000) }' <<<"$again")
echo "  first block ${first_duration}s, after the pardon ${again_duration}s"
check "as a first offense (the same action and duration, not escalated)" \
  test "${again%% *} $again_duration" = "${first%% *} $first_duration"

stop_serve "$EA_PID"; stop_serve "$EB_PID"; stop_serve "$DET_PID"
check "no daemon logged an error" no_error_lines "$TMP/ea.log" "$TMP/eb.log" "$TMP/det.log"
kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
echo "cluster_operator: ok"
