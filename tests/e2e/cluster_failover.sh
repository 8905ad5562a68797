#!/usr/bin/env bash
# Detector takeover (docs/cluster.md, issue 12): a redis-server on
# loopback, one edge, two detectors with the default settings
# (cluster.lease_ms 2000, cluster.claim_idle_ms 3000) and the default,
# stable consumer names (host-<store path hash>).
#   1. the first detector started holds the lease and reads; the second
#      is a standby; a scanner through the edge is blocked by the active
#      one and enforced on the edge;
#   2. a second scanner's attack is under way when the active detector
#      dies: it is frozen (SIGSTOP) while blocked in XREADGROUP, so the
#      first entries of the attack are delivered to it and stay pending
#      under its name (in flight, read and not acknowledged), the rest
#      wait in the stream; then kill -9. The standby takes the lease,
#      reads on, claims the dead detector's pending entries (XAUTOCLAIM)
#      and blocks the second scanner; the takeover time is measured from
#      the freeze (the last moment the dead detector could act) and
#      printed, and must be under 5 s;
#   3. every event the edge forwarded was consumed and acknowledged
#      (XPENDING empty, XINFO GROUPS lag 0), each by exactly one engine;
#      the dead detector's decision is still in Redis and on the edge, its
#      incident still in its store; restarted, it keeps its name and
#      waits as the standby.
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
make_token
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
status() { curl -s -o /dev/null -w '%{http_code}' "$1/v1/check?ip=$2"; }
wait_403() { # wait_403 URL IP [tries of 10 ms]
  for _ in $(seq 1 "${3:-500}"); do [ "$(status "$1" "$2")" = 403 ] && return 0; sleep 0.01; done
  return 1
}
scan_log() { # scan_log IP FIRST LAST
  for i in $(seq "$2" "$3"); do
    printf '%s - - [25/Nov/2026:10:00:%02d +0000] "GET /admin/backup-%d.php HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' "$1" $((i % 60)) "$i"
  done
}

start_serve d1 --config "$TMP/detector.yaml"; D1=$ADMIN; D1_PID=$SERVE_PID
for _ in $(seq 1 100); do [ "$(metric "$D1" rampart_cluster_detector_active)" = 1 ] && break; sleep 0.05; done
start_serve d2 --config "$TMP/detector.yaml"; D2=$ADMIN; D2_PID=$SERVE_PID
start_serve edge --config "$TMP/edge.yaml"; EDGE=$ADMIN; EDGE_PID=$SERVE_PID

echo "1. one active detector, one standby"
check "detector 1 holds the lease (active 1)" test "$(metric "$D1" rampart_cluster_detector_active)" = 1
sleep 0.6 # a standby's few tries
check "detector 2 is the standby (active 0)" test "$(metric "$D2" rampart_cluster_detector_active)" = 0
C1=$(grep -o 'as consumer [^ "]*' "$TMP/d1.log" | head -1 | cut -d' ' -f3)
check "the lease names detector 1's stable consumer ($C1)" test "$(rcli GET rampart:events:lease)" = "$C1"
check "  host-<store path hash>" grep -Eq -- '-[0-9a-f]{8}$' <<<"$C1"
check "detector 2 logs that it waits" grep -q "standby as consumer .*: $C1 holds the lease" "$TMP/d2.log"
SCAN1=198.51.100.66
scan_log "$SCAN1" 1 200 > "$TMP/scan1.log"
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/scan1.log"
check "detector 1 blocks the first scanner" wait_403 "$D1" "$SCAN1"
check "the edge enforces it" wait_403 "$EDGE" "$SCAN1"
ADMIN=$D1
check "detector 1's engine saw the 200 events" wait_engine_events 200
ADMIN=$D2
check "detector 2's engine saw none (standby)" test "$(engine_events)" = 0
check "detector 2 mirrors detector 1's decision" wait_403 "$D2" "$SCAN1"

echo "2. the active detector dies mid-attack"
SCAN2=198.51.100.77
scan_log "$SCAN2" 1 100 > "$TMP/scan2a.log"
scan_log "$SCAN2" 101 200 > "$TMP/scan2b.log"
scan_log "$SCAN2" 201 300 > "$TMP/scan2c.log"
consumed1=$(metric "$D1" rampart_cluster_events_consumed_total)
sleep 0.3 # detector 1 back in its blocking read
kill -STOP "$D1_PID"; t_stop=$(now_ms)
# Delivered to the frozen detector's blocked XREADGROUP: pending under its name.
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/scan2a.log"
sleep 0.2
# Not delivered to anyone: the stream holds them past the group's position.
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/scan2b.log"
sleep 0.1
inflight=$(rcli XPENDING rampart:events rampart-detectors - + 1000 "$C1" | awk 'NR % 4 == 1' | wc -l)
echo "  entries read by detector 1 and not acknowledged when it died: $inflight"
check "detector 1 dies with entries in flight" test "$inflight" -ge 1
kill -KILL "$D1_PID"; t_kill=$(now_ms)
wait "$D1_PID" 2>/dev/null || true
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/scan2c.log" # the attack goes on
t_active=""; t_claimed=""
for _ in $(seq 1 800); do # 8 s at most
  [ -z "$t_active" ] && [ "$(metric "$D2" rampart_cluster_detector_active)" = 1 ] && t_active=$(now_ms)
  if [ -z "$t_claimed" ] && [ -n "$t_active" ]; then
    left=$(rcli XPENDING rampart:events rampart-detectors - + 1000 "$C1" | grep -c . || true)
    [ "$left" = 0 ] && t_claimed=$(now_ms)
  fi
  [ -n "$t_active" ] && [ -n "$t_claimed" ] && break
  sleep 0.01
done
check "detector 2 took the lease" test -n "$t_active"
check "and claimed detector 1's pending entries" test -n "$t_claimed"
echo "  takeover: detector 2 active $((t_active - t_stop)) ms after detector 1 froze" \
     "($((t_active - t_kill)) ms after the kill -9); its pending entries claimed" \
     "$((t_claimed - t_stop)) ms after it froze ($((t_claimed - t_kill)) ms after the kill)"
check "the takeover (lease and claim) within 5 s of the freeze" test $((t_claimed - t_stop)) -le 5000
check "detector 2 blocks the second scanner" wait_403 "$D2" "$SCAN2" 800
check "the edge enforces it" wait_403 "$EDGE" "$SCAN2"
check "detector 2's log says it took over" grep -q 'active: .* holds the lease' "$TMP/d2.log"
check "  and claimed entries" grep -q 'claimed [0-9]* entries left unacknowledged' "$TMP/d2.log"

echo "3. nothing lost, nothing judged twice, nothing forgotten"
ADMIN=$D2
check "detector 2's engine saw the whole second attack (300 events, once each)" \
  wait_engine_events 300
m=$(curl -s "$D2/metrics")
grep -E '^rampart_cluster_(events_consumed|entries_acked|entries_claimed|lease_takeovers)_total' \
  <<<"$m" | sed 's/^/    /'
check "detector 2 claimed what detector 1 held" \
  test "$(awk '$1 == "rampart_cluster_entries_claimed_total" { print $2 }' <<<"$m")" -ge "$inflight"
check "the edge forwarded 500 events, no errors" \
  test "$(metric "$EDGE" rampart_cluster_events_forwarded_total)" = 500
consumed2=$(awk '$1 == "rampart_cluster_events_consumed_total" { print $2 }' <<<"$m")
check "  = what detector 1 judged before it died ($consumed1) + detector 2 ($consumed2)" \
  test $((consumed1 + consumed2)) = 500
check "nothing pending in the group (XPENDING 0)" \
  test "$(rcli XPENDING rampart:events rampart-detectors | head -1)" = 0
rcli XINFO GROUPS rampart:events > "$TMP/groups"
paste - - < "$TMP/groups" | sed 's/^/    /'
lag=$(awk 'prev == "lag" { print; exit } { prev = $0 }' "$TMP/groups")
check "every entry delivered (XINFO GROUPS lag 0)" test "$lag" = 0
check "detector 1's decision is still in Redis" test -n "$(rcli HGET rampart:decisions "ip:$SCAN1")"
check "  and enforced on the edge" test "$(status "$EDGE" "$SCAN1")" = 403
check "detector 1's incident is still in its store" \
  test "$(sqlite3 "$TMP/d1.db" "select count(*) from incidents where key like '%$SCAN1%'" 2>/dev/null || echo 0)" -ge 1

echo "4. the dead detector restarted keeps its name and waits as the standby"
start_serve d1 --config "$TMP/detector.yaml"; D1=$ADMIN; D1_PID=$SERVE_PID
sleep 0.6
check "restarted detector 1 is the standby" test "$(metric "$D1" rampart_cluster_detector_active)" = 0
check "  under its old name ($C1)" grep -q "standby as consumer $C1: " "$TMP/d1.log"
check "the lease stays with detector 2" test "$(rcli GET rampart:events:lease)" != "$C1"
check "and still blocks both scanners on restart (its store and the fleet's)" \
  sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' '$D1/v1/check?ip=$SCAN1')\" = 403 ] &&
         [ \"\$(curl -s -o /dev/null -w '%{http_code}' '$D1/v1/check?ip=$SCAN2')\" = 403 ]"

stop_serve "$EDGE_PID"; stop_serve "$D2_PID"; stop_serve "$D1_PID"
check "no daemon logged an error" no_error_lines $TMP/edge.log $TMP/d1.log $TMP/d2.log
kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
echo "cluster_failover: ok"
