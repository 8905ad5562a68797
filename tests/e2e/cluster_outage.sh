#!/usr/bin/env bash
# Fleet mode: a Redis outage seen from an edge (docs/cluster.md, "Redis
# unreachable"). A persistent redis-server (AOF in $TMP, as a real one
# keeps its data across a restart), one detector, edge E (outage buffer)
# and edge L (cluster.local_detection).
#   1. before: a scanner blocked by the detector, two manual blocks; E has them;
#   2. Redis stopped (SIGTERM): E keeps enforcing, takes a scanner's events
#      (counted, buffered), a manual block on E is enforced at once; L
#      blocks a scanner with its own engine;
#   3. meanwhile a decision disappears from Redis without a change entry
#      (as if the change stream had been trimmed): Redis started on a side
#      port on the same data, HDEL, stopped;
#   4. Redis back: the buffered events reach the detector (which blocks
#      that scanner everywhere), E's manual block and L's local decision
#      reach Redis and the detector, the removed decision leaves E and the
#      detector, and nothing decided before the outage is lost (times printed);
#   5. an ACL user: the edge authenticates with cluster.user and the
#      password file, and the password is in no log, /metrics or /v1/config.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is required (Debian redis-server)"
command -v curl >/dev/null || fail "curl is required"
now_ms() { date +%s%3N; }
PORT=$(free_port)
REDIS_PID=""
start_redis() { # start_redis PORT: persistent (AOF), data in $TMP/redis
  mkdir -p "$TMP/redis"
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly yes --appendfsync always \
    --dir "$TMP/redis" >> "$TMP/redis.log" 2>&1 &
  REDIS_PID=$!
  cleanup_pid "$REDIS_PID"
  for _ in $(seq 1 100); do [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.02; done
  fail "redis-server did not start on $1"
}
stop_redis() { kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true; }
rcli() { redis-cli -p "$PORT" "$@"; }
status() { curl -s -o /dev/null -w '%{http_code}' "$1/v1/check?ip=$2"; }
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
# wait_for MS COMMAND...: until the command succeeds (polled every 10 ms)
wait_for() {
  local until=$(( $(now_ms) + $1 )); shift
  while [ "$(now_ms)" -lt "$until" ]; do "$@" && return 0; sleep 0.01; done
  return 1
}
is() { [ "$(status "$1" "$2")" = "$3" ]; }

start_redis "$PORT"
check "redis-server (AOF) is up on 127.0.0.1:$PORT" test "$(rcli ping)" = PONG
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: detector\n' "$PORT" > "$TMP/det.yaml"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n  buffer_mb: 4\n' "$PORT" > "$TMP/e.yaml"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n  local_detection: true\n' "$PORT" > "$TMP/l.yaml"
check "check-config accepts buffer_mb and local_detection" \
  sh -c "'$RAMPART' check-config '$TMP/e.yaml' >/dev/null && '$RAMPART' check-config '$TMP/l.yaml' >/dev/null"
make_token
start_serve det --config "$TMP/det.yaml"; DET=$ADMIN; DET_PID=$SERVE_PID
start_serve e --config "$TMP/e.yaml"; E=$ADMIN; E_PID=$SERVE_PID
start_serve l --config "$TMP/l.yaml"; L=$ADMIN; L_PID=$SERVE_PID

echo "1. before the outage"
S1=198.51.100.1; S2=198.51.100.2; S3=198.51.100.3   # scanners
K1=203.0.113.1; K2=203.0.113.2; M=203.0.113.9       # manual blocks
scan_log "$S1" 200 > "$TMP/s1.log"; scan_log "$S2" 200 > "$TMP/s2.log"; scan_log "$S3" 200 > "$TMP/s3.log"
"$RAMPART" send --socket "$TMP/e.sock" --now "$TMP/s1.log"
for k in "$K1" "$K2"; do
  "$RAMPART" decisions --url "$DET" --token-file "$TMP/token" add "ip:$k" block 10m "before" > /dev/null
done
for k in "$S1" "$K1" "$K2"; do
  check "edge E enforces $k before the outage (403)" wait_for 5000 is "$E" "$k" 403
done
check "Redis holds 3 decisions" test "$(rcli HLEN rampart:decisions)" = 3
consumed() { [ "$(metric "$DET" rampart_cluster_events_consumed_total)" = "$1" ]; }
check "the detector consumed S1's 200 events" wait_for 5000 consumed 200

echo "2. Redis stopped"
t_down=$(now_ms)
stop_redis
for k in "$S1" "$K1" "$K2"; do
  check "edge E keeps enforcing $k (403)" is "$E" "$k" 403
done
check "an address never decided is allowed on E (204)" is "$E" 192.0.2.10 204
"$RAMPART" send --socket "$TMP/e.sock" --now "$TMP/s2.log"
buffered() { [ "$(metric "$E" rampart_cluster_events_buffered_total)" = 200 ]; }
check "E counts the 200 events it could not forward and buffers them" wait_for 5000 buffered
check "  rampart_cluster_forward_errors_total 200" \
  test "$(metric "$E" rampart_cluster_forward_errors_total)" = 200
check "  none dropped" test "$(metric "$E" rampart_cluster_buffer_dropped_total)" = 0
check "  the buffer gauge says 200 events" test "$(metric "$E" rampart_cluster_buffer_events)" = 200
t1=$(now_ms)
"$RAMPART" decisions --url "$E" --token-file "$TMP/token" add "ip:$M" block 10m "during the outage" > "$TMP/out"
check "a manual block on E during the outage is accepted" grep -q "block ip:$M until" "$TMP/out"
check "  and enforced on E at once (403)" is "$E" "$M" 403
echo "  manual block on E during the outage -> enforced on E: $(( $(now_ms) - t1 )) ms"
check "  and waits for the publisher" test "$(metric "$E" rampart_cluster_publish_pending)" -ge 1
t2=$(now_ms)
"$RAMPART" send --socket "$TMP/l.sock" --now "$TMP/s3.log"
check "L (local detection) blocks a scanner with its own engine (403)" wait_for 5000 is "$L" "$S3" 403
echo "  scanner on L during the outage -> blocked by L itself: $(( $(now_ms) - t2 )) ms"
check "  its local detection gauge is 1" test "$(metric "$L" rampart_cluster_local_detection)" = 1
# L dies (kill -9) and comes back while Redis is still down: its engine's
# decision, not yet published, is in <store>.unpublished-local and is
# published when Redis returns (section 4).
check "  its unpublished decision is journaled ($(basename "$TMP/l.db.unpublished-local"))" \
  grep -q " E ip:$S3 " "$TMP/l.db.unpublished-local"
kill -KILL "$L_PID"; wait "$L_PID" 2>/dev/null || true
start_serve l --config "$TMP/l.yaml"; L=$ADMIN; L_PID=$SERVE_PID
check "L restarted (kill -9) restores it to publish (rampart_cluster_unpublished_restored_total 1)" \
  test "$(metric "$L" rampart_cluster_unpublished_restored_total)" = 1
check "  and still blocks the scanner (403)" is "$L" "$S3" 403
check "  it moved it to $(basename "$TMP/l.db.unpublished") (fsynced), the appended file is gone" \
  sh -c "grep -q ' E ip:$S3 ' '$TMP/l.db.unpublished' && [ ! -e '$TMP/l.db.unpublished-local' ]"
S4=198.51.100.4
scan_log "$S4" 200 > "$TMP/s4.log"
"$RAMPART" send --socket "$TMP/l.sock" --now "$TMP/s4.log"
check "restarted L blocks another scanner with its own engine, journaled too" \
  sh -c "for _ in \$(seq 1 500); do grep -qs ' E ip:$S4 ' '$TMP/l.db.unpublished-local' && exit 0; sleep 0.01; done; exit 1"

echo "3. a removal in the fleet that no change entry announces"
SIDE=$(free_port)
start_redis "$SIDE"
check "Redis (side port, same data) still holds the 3 decisions" \
  test "$(redis-cli -p "$SIDE" HLEN rampart:decisions)" = 3
redis-cli -p "$SIDE" HDEL rampart:decisions "ip:$K2" > /dev/null
redis-cli -p "$SIDE" ZREM rampart:decisions:expiry "ip:$K2" > /dev/null
stop_redis
check "E still enforces $K2 (it cannot see Redis)" is "$E" "$K2" 403

echo "4. Redis back"
start_redis "$PORT"
t_up=$(now_ms)
echo "  Redis down for $((t_up - t_down)) ms"
t_s2=""; t_m=""; t_k2=""; t_s3=""
until_ms=$((t_up + 15000))
while [ "$(now_ms)" -lt "$until_ms" ]; do
  [ -z "$t_s2" ] && is "$DET" "$S2" 403 && is "$E" "$S2" 403 && t_s2=$(now_ms)
  [ -z "$t_m" ] && [ -n "$(rcli HGET rampart:decisions "ip:$M")" ] && is "$DET" "$M" 403 && t_m=$(now_ms)
  [ -z "$t_k2" ] && is "$E" "$K2" 204 && is "$DET" "$K2" 204 && t_k2=$(now_ms)
  [ -z "$t_s3" ] && [ -n "$(rcli HGET rampart:decisions "ip:$S3")" ] && is "$DET" "$S3" 403 &&
    [ -n "$(rcli HGET rampart:decisions "ip:$S4")" ] && is "$DET" "$S4" 403 && t_s3=$(now_ms)
  [ -n "$t_s2" ] && [ -n "$t_m" ] && [ -n "$t_k2" ] && [ -n "$t_s3" ] && break
  sleep 0.01
done
check "the buffered events reach the detector, which blocks S2 on itself and E" test -n "$t_s2"
check "E's manual block reaches Redis and the detector" test -n "$t_m"
check "the decision removed in Redis is removed from E and the detector (resync)" test -n "$t_k2"
check "L's local decisions (before and after its restart) reach Redis and the detector" test -n "$t_s3"
journals_gone() { [ ! -e "$TMP/l.db.unpublished" ] && [ ! -e "$TMP/l.db.unpublished-local" ]; }
check "  and L's journals are gone once Redis has them" wait_for 5000 journals_gone
echo "  after Redis returned: buffered events -> S2 blocked fleet-wide $((t_s2 - t_up)) ms;" \
     "E's manual block in Redis and on the detector $((t_m - t_up)) ms;" \
     "resync removal on E and the detector $((t_k2 - t_up)) ms;" \
     "L's local decision on the detector $((t_s3 - t_up)) ms (reconnect backoff included)"
wait_for 5000 consumed 400 || metric "$DET" rampart_cluster_events_consumed_total
check "the detector consumed exactly the 200 buffered events (400 in all)" consumed 400
check "E replayed its buffer, which is empty" \
  sh -c "[ '$(metric "$E" rampart_cluster_buffer_replayed_total)' = 200 ] && [ '$(metric "$E" rampart_cluster_buffer_events)' = 0 ]"
check "E counted its resync removal" test "$(metric "$E" rampart_cluster_resync_removed_total)" -ge 1
check "L is forwarding again" wait_for 5000 sh -c "[ \"\$(curl -s '$L/metrics' | awk '\$1 == \"rampart_cluster_local_detection\" { print \$2 }')\" = 0 ]"
for k in "$S1" "$K1" "$M" "$S2" "$S3" "$S4"; do
  check "no decision lost: $k blocked on E, L and the detector, held by Redis" \
    sh -c "[ '$(status "$E" "$k")$(status "$L" "$k")$(status "$DET" "$k")' = 403403403 ] && [ -n \"\$(redis-cli -p $PORT HGET rampart:decisions ip:$k)\" ]"
done
stop_serve "$E_PID"; stop_serve "$L_PID"; stop_serve "$DET_PID"
check "no daemon logged an error" no_error_lines $TMP/e.log $TMP/l.log $TMP/det.log
stop_redis

echo "5. an ACL user and its password"
APORT=$(free_port)
PASS="s3cr3t-$(head -c 9 /dev/urandom | base64 | tr -d '\n/+=')"
redis-server --port "$APORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
  --user rampart-edge on ">$PASS" '~rampart:*' '-@all' '+@stream' '+@hash' '+@sortedset' \
  '+@string' '+@transaction' '+eval' '+evalsha' '+ping' --user default off \
  --user admin on ">$PASS-admin" '~*' '&*' '+@all' >> "$TMP/redis.log" 2>&1 &
REDIS_PID=$!; cleanup_pid "$REDIS_PID"
acli() { redis-cli -p "$APORT" --no-auth-warning --user rampart-edge --pass "$PASS" "$@"; }
for _ in $(seq 1 100); do [ "$(acli ping 2>/dev/null)" = PONG ] && break; sleep 0.02; done
check "redis-server with an ACL user limited to rampart:* and the commands docs/cluster.md lists (default user off)" test "$(acli ping)" = PONG
check "  and refuses a client without it" sh -c "! redis-cli -p $APORT set x 1 | grep -q OK"
printf '%s\n' "$PASS" > "$TMP/redis.pass"; chmod 600 "$TMP/redis.pass"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n  user: rampart-edge\n  password_file: %s\n' \
  "$APORT" "$TMP/redis.pass" > "$TMP/a.yaml"
start_serve a --config "$TMP/a.yaml"; A=$ADMIN; A_PID=$SERVE_PID
scan_log 198.51.100.50 20 > "$TMP/a.log.in"
"$RAMPART" send --socket "$TMP/a.sock" --now "$TMP/a.log.in"
forwarded() { [ "$(metric "$A" rampart_cluster_events_forwarded_total)" = 20 ]; }
check "the edge authenticates as rampart-edge and forwards 20 events" wait_for 5000 forwarded
check "  they are in the stream" test "$(acli XLEN rampart:events)" -ge 1
curl -s "$A/metrics" > "$TMP/a.metrics"
curl -s "$A/v1/config" > "$TMP/a.config"
curl -s -H "Authorization: Bearer $(cat "$TMP/token")" "$A/v1/config" > "$TMP/a.config.token"
check "/v1/config shows the password file's path" grep -q "redis.pass" "$TMP/a.config.token"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n  password_file: %s\n' "$APORT" "$TMP/redis.pass" > "$TMP/b.yaml"
start_serve b --config "$TMP/b.yaml"; B_PID=$SERVE_PID
check "an edge with the password but not the user is refused (logged)" \
  wait_for 5000 grep -q "AUTH refused" "$TMP/b.log"
conns() { [ "$(metric "$A" rampart_cluster_connections)" = 4 ]; }
check "the edge's forwarder, mirror, publisher (which prunes with EVAL) and incident mirror are connected" wait_for 5000 conns
check "Redis denied the edge nothing (ACL LOG has no command or key refusal: XADD, XTRIM, XREVRANGE, HSCAN, XREAD, EVAL suffice)" \
  sh -c "! redis-cli -p $APORT --no-auth-warning --user admin --pass '$PASS-admin' ACL LOG | grep -qx 'command\|key\|channel'"
stop_serve "$B_PID"; stop_serve "$A_PID"
check "the password is in no log, /metrics or /v1/config (with or without the token)" \
  sh -c "! grep -rqF -- '$PASS' $TMP/a.log $TMP/b.log $TMP/a.metrics $TMP/a.config $TMP/a.config.token"
kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
echo "cluster_outage: ok"
