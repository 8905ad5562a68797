#!/usr/bin/env bash
# Fleet mode: an edge restarted while Redis is unreachable loses none of the
# operators' changes made through it (docs/cluster.md, "Redis unreachable:
# what an edge does"). A persistent redis-server (AOF), one detector, edges
# A and B.
#   1. before: two decisions made on the detector (O and X, blocks), on
#      every node;
#   2. Redis stopped: through A's API a manual block M, an allow of X, the
#      removal of O, and a block of N; A enforces them, and keeps them in
#      <store>.unpublished (4 lines); a scanner's 1,200 events sent to A are
#      buffered, in memory and in a segment under <store>.spool;
#   3. A restarted twice while Redis is still down, by SIGTERM and by
#      kill -9: it restores the 4 and still enforces them, and reads the
#      1,200 buffered events back (a stray file in the spool is removed,
#      counted);
#   4. meanwhile the fleet decides on N after A did (an allow written into
#      the hash on a side port, the same data, as another node would have);
#   5. Redis back: B and the detector receive M, the allow of X and the
#      removal of O (time measured); M has its original expiry in Redis;
#      N keeps the fleet's newer allow, on A too (newer wins); A's journal
#      is gone once Redis has acknowledged it all; the detector consumes
#      exactly the 1,200 buffered events (3 replay batches: the segment's
#      forwarded count is written after each), blocks the scanner
#      fleet-wide, and A's spool is empty.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is required (Debian redis-server)"
command -v curl >/dev/null || fail "curl is required"
now_ms() { date +%s%3N; }
AOF=(--appendonly yes --appendfsync always)
status() { curl -s -o /dev/null -w '%{http_code}' "$1/v1/check?ip=$2"; }
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
wait_for() { # wait_for MS COMMAND...: until the command succeeds (polled every 10 ms)
  local until=$(( $(now_ms) + $1 )); shift
  while [ "$(now_ms)" -lt "$until" ]; do "$@" && return 0; sleep 0.01; done
  return 1
}
is() { [ "$(status "$1" "$2")" = "$3" ]; }
# action NODE IP: the action of the node's active decision on ip:IP ("" when none)
action() {
  curl -s -H "Authorization: Bearer $(cat "$TMP/token")" "$1/v1/decisions" |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print("".join(x["action"] for x in d["decisions"] if x["key"]==sys.argv[1]))' "ip:$2"
}
has() { [ "$(action "$1" "$2")" = "$3" ]; }
dec() { "$RAMPART" decisions --url "$1" --token-file "$TMP/token" "${@:2}" > /dev/null; }

start_redis "${AOF[@]}"
check "redis-server (AOF) is up on 127.0.0.1:$REDIS_PORT" test "$(rcli ping)" = PONG
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: detector\n' "$REDIS_PORT" > "$TMP/det.yaml"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n' "$REDIS_PORT" > "$TMP/edge.yaml"
make_token
start_serve det --config "$TMP/det.yaml"; DET=$ADMIN; DET_PID=$SERVE_PID
start_serve a --config "$TMP/edge.yaml"; A=$ADMIN; A_PID=$SERVE_PID
start_serve b --config "$TMP/edge.yaml"; B=$ADMIN; B_PID=$SERVE_PID

echo "1. before the outage"
O=203.0.113.5; X=203.0.113.7; M=203.0.113.9; N=203.0.113.11
dec "$DET" add "ip:$O" block 10m "older, removed through A later"
dec "$DET" add "ip:$X" block 10m "older, allowed through A later"
for n in "$A" "$B" "$DET"; do
  for k in "$O" "$X"; do check "$n enforces $k (403)" wait_for 5000 is "$n" "$k" 403; done
done

echo "2. Redis stopped; operators' changes through edge A"
stop_redis
dec "$A" add "ip:$M" block 10m "during the outage"
dec "$A" add "ip:$X" allow 10m "a partner"
dec "$A" delete "ip:$O"
dec "$A" add "ip:$N" block 10m "the fleet decides on it later"
check "A enforces M (403), the allow of X, the removal of O (204), N (403)" \
  sh -c "[ '$(status "$A" "$M")$(action "$A" "$X")$(status "$A" "$O")$(status "$A" "$N")' = 403allow204403 ]"
J=$TMP/a.db.unpublished
check "A keeps the 4 unpublished changes in $(basename "$J")" test "$(wc -l < "$J")" = 4
check "  a put and a removal, each line with its checksum" \
  sh -c "grep -Eq '^[0-9a-f]{8} P ip:$M 3 ' '$J' && grep -Eq '^[0-9a-f]{8} D ip:$O [0-9]+$' '$J'"
M_EXPIRES=$(awk -v k="ip:$M" '$2 == "P" && $3 == k { print $6 }' "$J")
N_START=$(awk -v k="ip:$N" '$2 == "P" && $3 == k { print $5 }' "$J")
check "  M's expiry is in it ($M_EXPIRES)" test -n "$M_EXPIRES"
S=198.51.100.77
scan_log "$S" 1200 > "$TMP/s.log"
"$RAMPART" send --socket "$TMP/a.sock" --now "$TMP/s.log"
buffered() { [ "$(metric "$A" rampart_cluster_buffer_events)" = 1200 ]; }
check "A buffers a scanner's 1,200 events" wait_for 5000 buffered
SPOOL=$TMP/a.db.spool
check "  in one segment under $(basename "$SPOOL")" test "$(ls "$SPOOL" | grep -c '^[0-9a-f]\{16\}\.seg$')" = 1
# Synced at most once a second while it fills: the burst's pops (512 events
# at most each, so 3 or more) cost the first pop's fdatasync and one a second
# later for the rest, not one each.
syncs() { metric "$A" rampart_cluster_spool_syncs_total; }
synced() { [ "$(syncs)" -ge 1 ]; }
check "  synced to disk at its first write (rampart_cluster_spool_syncs_total)" wait_for 1000 synced
sleep 1.5
check "  and the rest of the burst a second later: 2 syncs, not one a pop ($(syncs))" test "$(syncs)" = 2

echo "3. A restarted while Redis is down: SIGTERM, then kill -9"
restored() {
  check "$1: A restored the 4 (metric)" test "$(metric "$A" rampart_cluster_unpublished_restored_total)" = 4
  check "$1: A still enforces M (403), the allow of X, the removal of O (204), N (403)" \
    sh -c "[ '$(status "$A" "$M")$(action "$A" "$X")$(status "$A" "$O")$(status "$A" "$N")' = 403allow204403 ]"
  check "$1: the journal still holds the 4" test "$(wc -l < "$J")" = 4
  check "$1: A read the 1,200 buffered events back" \
    sh -c "[ '$(metric "$A" rampart_cluster_spool_restored_total)' = 1200 ] && [ '$(metric "$A" rampart_cluster_buffer_events)' = 1200 ]"
}
stop_serve "$A_PID"
start_serve a --config "$TMP/edge.yaml"; A=$ADMIN; A_PID=$SERVE_PID
check "A logged the restore" grep -q "4 unpublished manual decisions and removals restored" "$TMP/a.log"
restored "after SIGTERM"
kill -KILL "$A_PID"; wait "$A_PID" 2>/dev/null || true
echo "not a segment" > "$SPOOL/stray"
start_serve a --config "$TMP/edge.yaml"; A=$ADMIN; A_PID=$SERVE_PID
restored "after kill -9"
check "  the stray file in the spool is counted and removed" \
  sh -c "[ '$(metric "$A" rampart_cluster_spool_damaged_total)' = 1 ] && [ ! -e '$SPOOL/stray' ]"

echo "4. the fleet decides on N after A did (side port, the same data)"
SIDE=$(free_port)
redis-server --port "$SIDE" --bind 127.0.0.1 --save '' "${AOF[@]}" --dir "$TMP" >> "$TMP/redis.log" 2>&1 &
SIDE_PID=$!; cleanup_pid "$SIDE_PID"
for _ in $(seq 1 100); do [ "$(redis-cli -p "$SIDE" ping 2>/dev/null)" = PONG ] && break; sleep 0.02; done
N_NEWER="4 $((N_START + 1000000)) $((N_START + 600000000)) 0 0.000"
redis-cli -p "$SIDE" HSET rampart:decisions "ip:$N" "$N_NEWER" > /dev/null
redis-cli -p "$SIDE" ZADD rampart:decisions:expiry $(((N_START + 600000000) / 1000)) "ip:$N" > /dev/null
check "Redis (side port) holds O and X from before, and N's newer allow" \
  test "$(redis-cli -p "$SIDE" HLEN rampart:decisions)" = 3
kill -TERM "$SIDE_PID"; wait "$SIDE_PID" 2>/dev/null || true

echo "5. Redis back"
restart_redis "${AOF[@]}"
t_up=$(now_ms)
t_all=""; t_ev=""
consumed() { [ "$(metric "$DET" rampart_cluster_events_consumed_total)" = 1200 ]; }
until_ms=$((t_up + 15000))
while [ "$(now_ms)" -lt "$until_ms" ]; do
  [ -z "$t_all" ] && is "$B" "$M" 403 && is "$DET" "$M" 403 && is "$B" "$O" 204 &&
    is "$DET" "$O" 204 && has "$B" "$X" allow && has "$DET" "$X" allow && t_all=$(now_ms)
  [ -z "$t_ev" ] && consumed && t_ev=$(now_ms)
  [ -n "$t_all" ] && [ -n "$t_ev" ] && break
  sleep 0.01
done
check "B and the detector receive A's block of M, allow of X and removal of O" test -n "$t_all"
echo "  Redis back -> A's 3 changes on B and the detector: $((t_all - t_up)) ms;" \
     "A's 1,200 spooled events consumed by the detector: $((t_ev - t_up)) ms (reconnect backoff included)"
check "M is in Redis with its original expiry" \
  test "$(rcli HGET rampart:decisions "ip:$M" | awk '{ print $3 }')" = "$M_EXPIRES"
check "  and B shows that expiry too" \
  test "$(curl -s -H "Authorization: Bearer $(cat "$TMP/token")" "$B/v1/decisions" | python3 -c 'import json,sys; print([x["expires"] for x in json.load(sys.stdin)["decisions"] if x["key"]==sys.argv[1]][0])' "ip:$M")" = \
       "$(curl -s -H "Authorization: Bearer $(cat "$TMP/token")" "$A/v1/decisions" | python3 -c 'import json,sys; print([x["expires"] for x in json.load(sys.stdin)["decisions"] if x["key"]==sys.argv[1]][0])' "ip:$M")"
check "O is no longer in Redis" test -z "$(rcli HGET rampart:decisions "ip:$O")"
check "N keeps the fleet's newer allow in Redis (newer wins)" \
  test "$(rcli HGET rampart:decisions "ip:$N")" = "$N_NEWER"
check "  and A takes it instead of its own older block" wait_for 5000 has "$A" "$N" allow
check "  counted as superseded on A" test "$(metric "$A" rampart_cluster_publish_superseded_total)" = 1
check "A's journal is gone once Redis acknowledged the 4" wait_for 5000 test ! -e "$J"
check "the detector consumed the 1,200 events A buffered across its restarts" test -n "$t_ev"
scanner_blocked() { is "$DET" "$S" 403 && is "$B" "$S" 403; }
check "  and blocks the scanner on itself and B" wait_for 5000 scanner_blocked
spool_empty() { [ -z "$(ls "$SPOOL")" ] && [ "$(metric "$A" rampart_cluster_buffer_events)" = 0 ]; }
check "A's spool is empty once they were forwarded" wait_for 5000 spool_empty
sleep 0.5
check "  and not one more event reached the detector (1,200)" consumed
check "  in 3 batches, the segment's forwarded count written after each (no write error)" \
  test "$(metric "$A" rampart_cluster_spool_write_errors_total)" = 0
stop_serve "$A_PID"; stop_serve "$B_PID"; stop_serve "$DET_PID"
check "no daemon logged an error" no_error_lines "$TMP/a.log" "$TMP/b.log" "$TMP/det.log"
check "A logged the stray spool file (warn)" grep -q "1 damaged, truncated or foreign files" "$TMP/a.log"
stop_redis
echo "cluster_restart: ok"
