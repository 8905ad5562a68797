#!/usr/bin/env bash
# Partitioned detection (docs/cluster.md, issue 12): a redis-server on
# loopback, cluster.partitions 4, one edge, detectors with the default
# lease settings (lease_ms 2000, claim_idle_ms 3000).
#   1. two detectors: each holds 2 of the 4 partition leases
#      (rampart_cluster_partitions_held); a scanner in each partition
#      (4 different /24s) is blocked by the detector that reads its
#      partition and enforced on the edge; both detectors judged some;
#   2. kill -9 of detector 1: detector 2 takes all 4 partitions within
#      5 s (measured) and blocks scanners in every partition, those that
#      were detector 1's included;
#   3. a third detector started: the leases are rebalanced 2 + 2
#      (measured), and scanners in every partition are still blocked;
#   4. no partition was read by two detectors at once: each partition's
#      group read every entry exactly once (XINFO GROUPS entries-read ==
#      XLEN, pending 0, lag 0), and the events consumed by the three
#      engines add up to exactly the events the edge forwarded.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is required (Debian redis-server)"
command -v curl >/dev/null || fail "curl is required"
now_ms() { date +%s%3N; }
N=4

start_redis
PORT=$REDIS_PORT
check "redis-server is up on 127.0.0.1:$PORT" test "$(rcli ping)" = PONG

for role in edge detector; do
  printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: %s\n  partitions: %s\n' "$PORT" "$role" "$N" \
    > "$TMP/$role.yaml"
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
held() { metric "$1" rampart_cluster_partitions_held; }
# The edge's partition of an IPv4 client (src/common/partition.c): FNV-1a of the
# family byte (4) and the /24, mod N. Three scanners per partition, each
# in its own /24: "PARTITION IP" lines.
python3 - "$N" > "$TMP/scanners" <<'EOF'
import sys
n = int(sys.argv[1]); per = {p: [] for p in range(n)}
for x in range(1, 250):
    h = 2166136261
    for b in (4, 198, 51, x):
        h = ((h ^ b) * 16777619) & 0xffffffff
    if len(per[h % n]) < 3: per[h % n].append("198.51.%d.66" % x)
for p in range(n):
    for ip in per[p]: print(p, ip)
EOF
scanners() { awk -v k="$1" '{ if (++seen[$1] == k) print $2 }' "$TMP/scanners"; }
attack() { # attack ROUND: one scanner per partition, 200 requests each, through the edge
  local ip
  for ip in $(scanners "$1"); do scan_log "$ip" 1 200; done > "$TMP/scan$1.log"
  "$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/scan$1.log"
}
blocked_all() { # blocked_all ROUND DETECTOR_URL...: every scanner of the round, everywhere
  local ip url shift_urls
  for ip in $(scanners "$1"); do
    shift_urls=("${@:2}")
    wait_403 "$EDGE" "$ip" || { echo "    $ip not blocked on the edge"; return 1; }
    for url in "${shift_urls[@]}"; do
      wait_403 "$url" "$ip" || { echo "    $ip not blocked on $url"; return 1; }
    done
  done
}
# Which consumer holds each partition's lease: "p=name ..."
leases() {
  local p out=""
  for p in $(seq 0 $((N - 1))); do out="$out $p=$(rcli GET "rampart:events:$p:lease")"; done
  echo "$out"
}

start_serve d1 --config "$TMP/detector.yaml"; D1=$ADMIN; D1_PID=$SERVE_PID
start_serve d2 --config "$TMP/detector.yaml"; D2=$ADMIN
start_serve edge --config "$TMP/edge.yaml"; EDGE=$ADMIN

echo "1. two detectors share the 4 partitions"
t0=$(now_ms)
for _ in $(seq 1 100); do
  [ "$(held "$D1")" = 2 ] && [ "$(held "$D2")" = 2 ] && break; sleep 0.05
done
echo "  balanced 2 + 2 $(($(now_ms) - t0)) ms after both were ready; leases:$(leases)"
check "detector 1 holds 2 partitions" test "$(held "$D1")" = 2
check "detector 2 holds 2 partitions" test "$(held "$D2")" = 2
check "both count 2 live detectors" \
  test "$(metric "$D1" rampart_cluster_live_detectors)$(metric "$D2" rampart_cluster_live_detectors)" = 22
C1=$(grep -o 'as consumer [^ "]*' "$TMP/d1.log" | head -1 | cut -d' ' -f3)
check "every partition's lease is held" test "$(leases | grep -o '=[^ ]' | wc -l)" = "$N"
check "  detector 1 ($C1) holds 2 of them" test "$(leases | grep -o "=$C1" | wc -l)" = 2
attack 1
check "a scanner in each of the 4 partitions (4 /24s) is blocked on the edge and both detectors" \
  blocked_all 1 "$D1" "$D2"
c1=$(metric "$D1" rampart_cluster_events_consumed_total)
c2=$(metric "$D2" rampart_cluster_events_consumed_total)
echo "  events consumed: detector 1 $c1, detector 2 $c2"
check "each detector judged its 2 partitions' scanners (400 events each)" test "$c1 $c2" = "400 400"
check "the edge forwarded 800 events" test "$(metric "$EDGE" rampart_cluster_events_forwarded_total)" = 800

echo "2. kill -9 of detector 1"
D1_PARTS=$(leases | tr ' ' '\n' | grep "=$C1" | cut -d= -f1 | tr '\n' ' ')
t_kill=$(now_ms)
kill -KILL "$D1_PID"
t_all=""
for _ in $(seq 1 200); do
  [ "$(held "$D2")" = 4 ] && { t_all=$(now_ms); break; }; sleep 0.05
done
check "detector 2 took all 4 partitions" test -n "$t_all"
echo "  takeover: detector 2 holds all 4 partitions $((t_all - t_kill)) ms after the kill -9" \
     "(detector 1's partitions were: $D1_PARTS)"
check "  within 5 s" test $((t_all - t_kill)) -le 5000
attack 2
check "a scanner in each partition (detector 1's included) is blocked on the edge and detector 2" \
  blocked_all 2 "$D2"

echo "3. a third detector joins: the leases are rebalanced"
start_serve d3 --config "$TMP/detector.yaml"; D3=$ADMIN
t_start=$(now_ms)
t_bal=""
for _ in $(seq 1 200); do
  [ "$(held "$D2")" = 2 ] && [ "$(held "$D3")" = 2 ] && { t_bal=$(now_ms); break; }; sleep 0.05
done
check "rebalanced: detector 2 and detector 3 hold 2 each" test -n "$t_bal"
echo "  rebalance: 2 + 2 $((t_bal - t_start)) ms after detector 3 was ready; leases:$(leases)"
check "  within 5 s" test $((t_bal - t_start)) -le 5000
attack 3
check "a scanner in each partition is blocked on the edge, detector 2 and detector 3" \
  blocked_all 3 "$D2" "$D3"

echo "4. each event consumed exactly once"
sleep 0.5 # the last acknowledgements
total_forwarded=$(metric "$EDGE" rampart_cluster_events_forwarded_total)
check "the edge forwarded 2400 events, none in error" \
  test "$total_forwarded $(metric "$EDGE" rampart_cluster_forward_errors_total)" = "2400 0"
for p in $(seq 0 $((N - 1))); do
  s="rampart:events:$p"
  info=$(rcli XINFO GROUPS "$s" | paste -sd' ')
  len=$(rcli XLEN "$s")
  read_=$(echo "$info" | grep -o 'entries-read [0-9]*' | cut -d' ' -f2)
  pend=$(echo "$info" | grep -o 'pending [0-9]*' | cut -d' ' -f2)
  lag=$(echo "$info" | grep -o 'lag [0-9]*' | cut -d' ' -f2)
  echo "  $s: $len entries, group read $read_, pending $pend, lag $lag"
  check "  partition $p: every entry read once by the group, none pending" \
    test "$read_ $pend $lag" = "$len 0 0"
done
c2=$(metric "$D2" rampart_cluster_events_consumed_total)
c3=$(metric "$D3" rampart_cluster_events_consumed_total)
echo "  consumed: detector 1 $c1 (before its death), detector 2 $c2, detector 3 $c3"
check "consumed by the three engines == forwarded ($total_forwarded): no event read twice" \
  test $((c1 + c2 + c3)) = "$total_forwarded"
check "no daemon logged an error" \
  no_error_lines $TMP/edge.log $TMP/d2.log $TMP/d3.log
echo "PASS cluster_partitions"
