#!/usr/bin/env bash
# Fleet mode on Redis, the walking skeleton (docs/cluster.md): a
# redis-server on loopback, two edges and one detector, each with its own
# socket, table, store and admin port.
#   1. a scanner's 200 requests, half through edge A and half through
#      edge B, all reach the detector through the consumer group; it
#      blocks the address and both edges enforce the block (propagation
#      time printed, bounded);
#   2. a manual block through edge B's API is enforced on edge A;
#   3. an edge restarted has the fleet's decisions before it is ready;
#   4. the counters in /metrics say what went through Redis.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is required (Debian redis-server)"
command -v curl >/dev/null || fail "curl is required"
now_ms() { date +%s%3N; }

start_redis
PORT=$REDIS_PORT
check "redis-server is up on 127.0.0.1:$PORT" test "$(rcli ping)" = PONG

for role in edge detector; do
  printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: %s\n' "$PORT" "$role" > "$TMP/$role.yaml"
done
check "check-config accepts the cluster section" "$RAMPART" check-config "$TMP/edge.yaml"
make_token
start_serve det --config "$TMP/detector.yaml"; DET=$ADMIN; DET_PID=$SERVE_PID
start_serve ea --config "$TMP/edge.yaml"; EA=$ADMIN; EA_PID=$SERVE_PID
start_serve eb --config "$TMP/edge.yaml"; EB=$ADMIN; EB_PID=$SERVE_PID

echo "1. a scanner spread over two edges"
SCANNER=198.51.100.66
for i in $(seq 1 200); do
  printf '%s - - [25/Nov/2026:10:00:%02d +0000] "GET /admin/backup-%d.php HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' "$SCANNER" $((i % 60)) "$i"
done > "$TMP/scan.log"
head -n 100 "$TMP/scan.log" > "$TMP/scan-a.log"
tail -n 100 "$TMP/scan.log" > "$TMP/scan-b.log"
t0=$(now_ms)
"$RAMPART" send --socket "$TMP/ea.sock" --now "$TMP/scan-a.log"
"$RAMPART" send --socket "$TMP/eb.sock" --now "$TMP/scan-b.log"
status() { curl -s -o /dev/null -w '%{http_code}' "$1/v1/check?ip=$2"; }
t_det=""; t_ea=""; t_eb=""
for _ in $(seq 1 1000); do # 10 s at most
  [ -z "$t_det" ] && [ "$(status "$DET" "$SCANNER")" = 403 ] && t_det=$(now_ms)
  [ -z "$t_ea" ] && [ "$(status "$EA" "$SCANNER")" = 403 ] && t_ea=$(now_ms)
  [ -z "$t_eb" ] && [ "$(status "$EB" "$SCANNER")" = 403 ] && t_eb=$(now_ms)
  [ -n "$t_det" ] && [ -n "$t_ea" ] && [ -n "$t_eb" ] && break
  sleep 0.01
done
check "the detector blocks the scanner (403)" test -n "$t_det"
check "edge A enforces the block (403)" test -n "$t_ea"
check "edge B enforces the block (403)" test -n "$t_eb"
slowest=$(( t_ea > t_eb ? t_ea : t_eb ))
echo "  events sent -> detector blocks: $((t_det - t0)) ms; -> edge A: $((t_ea - t0)) ms," \
     "edge B: $((t_eb - t0)) ms; propagation detector -> both edges: $((slowest - t_det)) ms" \
     "(polled every ~10 ms, curl included)"
check "propagation to both edges within 1000 ms of the detector" test $((slowest - t_det)) -le 1000
ADMIN=$DET
check "the detector's engine saw all 200 events (100 from each edge)" wait_engine_events 200
m=$(curl -s "$DET/metrics")
check "the detector consumed 200 events through the group" \
  grep -Eq '^rampart_cluster_events_consumed_total 200$' <<<"$m"
check "and acknowledged every entry it read" \
  test "$(rcli XPENDING rampart:events rampart-detectors | head -1)" = 0
check "the block came from the engine (scan)" grep -q 'rampart_decision_findings_total{detector="scan"} 1' <<<"$m"
for e in "$EA" "$EB"; do
  m=$(curl -s "$e/metrics")
  check "edge $e forwarded 100 events, no errors" \
    grep -Eq '^rampart_cluster_events_forwarded_total 100$' <<<"$m"
  check "  and its engine saw none (it forwards)" grep -Eq '^rampart_engine_events_total 0$' <<<"$m"
  check "  and mirrored the fleet's decision" \
    grep -Eq '^rampart_cluster_decisions_mirrored_total [1-9]' <<<"$m"
  grep -E '^rampart_cluster_forward_(entries|round_trips)_total' <<<"$m" | sed 's/^/    /'
done
check "the stream holds the 200 events" test "$(rcli XLEN rampart:events)" -ge 1
check "the decision is in Redis with its expiry" \
  test -n "$(rcli HGET rampart:decisions "ip:$SCANNER")"
check "  and scored in the expiry set" test -n "$(rcli ZSCORE rampart:decisions:expiry "ip:$SCANNER")"
"$RAMPART" decisions --url "$EA" list > "$TMP/out"
check "edge A's table lists the scanner" grep -q "^ip:$SCANNER" "$TMP/out"

echo "2. a manual block through edge B is enforced on edge A"
MANUAL=203.0.113.77
t1=$(now_ms)
"$RAMPART" decisions --url "$EB" --token-file "$TMP/token" add "ip:$MANUAL" block 10m "fleet test" > "$TMP/out"
check "added through edge B's API" grep -q "block ip:$MANUAL until" "$TMP/out"
t_ma=""
for _ in $(seq 1 500); do
  [ "$(status "$EA" "$MANUAL")" = 403 ] && { t_ma=$(now_ms); break; }
  sleep 0.01
done
check "edge A enforces it (403)" test -n "$t_ma"
echo "  manual block on edge B -> enforced on edge A: $((t_ma - t1)) ms (CLI and polling included)"
check "and so does the detector" test "$(status "$DET" "$MANUAL")" = 403

echo "3. an edge restarted loads the fleet's decisions before it is ready"
stop_serve "$EA_PID"
rm -f "$TMP/ea.db" "$TMP/ea.db-wal" "$TMP/ea.db-shm" # nothing from its own store
start_serve ea --config "$TMP/edge.yaml"; EA=$ADMIN; EA_PID=$SERVE_PID
check "at once after ready: the engine's block (403)" test "$(status "$EA" "$SCANNER")" = 403
check "at once after ready: the manual block (403)" test "$(status "$EA" "$MANUAL")" = 403
check "its log says it loaded them" grep -q 'active fleet decisions loaded' "$TMP/ea.log"
check "an address never decided is allowed (204)" test "$(status "$EA" 192.0.2.10)" = 204

echo "4. a removal through edge A reaches edge B"
"$RAMPART" decisions --url "$EA" --token-file "$TMP/token" delete "ip:$MANUAL" > /dev/null
for _ in $(seq 1 200); do [ "$(status "$EB" "$MANUAL")" = 204 ] && break; sleep 0.01; done
check "edge B no longer blocks it (204)" test "$(status "$EB" "$MANUAL")" = 204
check "and Redis no longer holds it" test -z "$(rcli HGET rampart:decisions "ip:$MANUAL")"

stop_serve "$EA_PID"; stop_serve "$EB_PID"; stop_serve "$DET_PID"
check "no daemon logged an error" no_error_lines $TMP/ea.log $TMP/eb.log $TMP/det.log
kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
echo "cluster_basic: ok"
