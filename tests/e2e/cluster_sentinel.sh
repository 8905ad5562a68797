#!/usr/bin/env bash
# Fleet mode behind Redis Sentinel (docs/cluster.md#redis-sentinel): a
# master and a replica (--replicaof, appendonly yes), one sentinel with
# short timeouts (down-after 1000 ms, failover-timeout 3000 ms), one edge
# and one detector that know only the sentinel (cluster.sentinels).
#   1. scanner A is blocked through the fleet; a manual block is made on
#      the edge; both reach the replica;
#   2. a manual block on the edge, then kill -9 of the master within a few
#      ms of the API's answer (cluster.wait_replicas defaults to 1 with
#      sentinels: the publisher's WAIT 1 keeps the decision in flight until
#      the replica has it, or writes it again to the promoted one); scanner
#      B is sent at once (the edge buffers it); the sentinel promotes the
#      replica; the
#      fleet finds it through the sentinel and B is blocked on the edge
#      (time from the master's death printed, bounded);
#   3. the decisions made before the failover, the last one included, are
#      in Redis on the new master and still enforced on the edge after its
#      resync (nothing removed);
#   4. scanner C, sent once the failover is over, is blocked as usual; the
#      new master has no replica yet: its WAIT is short, counted and logged;
#   5. what WAIT 1 <ms> after a decision's MULTI/EXEC costs (printed).
# The sentinel requires AUTH (requirepass, and an ACL user): the edge
# sends the default user's password (cluster.sentinel_password_file), the
# detector its ACL user's (cluster.sentinel_user); a wrong password is
# refused and logged without itself, and no password is ever logged.
# Everything on 127.0.0.1, free ports, stopped by PID.
source "$(dirname "$0")/lib.sh"
for b in redis-server redis-cli redis-sentinel curl python3; do
  command -v "$b" >/dev/null || fail "$b is required (Debian redis-server, redis-sentinel, curl)"
done
now_ms() { date +%s%3N; }
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PM=$(free_port); PR=$(free_port); PS=$(free_port)
while [ "$PR" = "$PM" ]; do PR=$(free_port); done
while [ "$PS" = "$PM" ] || [ "$PS" = "$PR" ]; do PS=$(free_port); done
mkdir -p "$TMP/m" "$TMP/r" "$TMP/s"
redis-server --port "$PM" --bind 127.0.0.1 --save '' --appendonly yes --dir "$TMP/m" \
  > "$TMP/m.log" 2>&1 &
M_PID=$!; cleanup_pid "$M_PID"
redis-server --port "$PR" --bind 127.0.0.1 --save '' --appendonly yes --dir "$TMP/r" \
  --replicaof 127.0.0.1 "$PM" > "$TMP/r.log" 2>&1 &
R_PID=$!; cleanup_pid "$R_PID"
SPASS="sentinel-$(head -c 9 /dev/urandom | base64 | tr -d '/+=')"
WPASS="watcher-$(head -c 9 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$SPASS" > "$TMP/sentinel.pass"; printf '%s\n' "$WPASS" > "$TMP/watcher.pass"
cat > "$TMP/s/sentinel.conf" <<EOF
port $PS
bind 127.0.0.1
dir $TMP/s
requirepass $SPASS
user watcher on >$WPASS allchannels +@all
sentinel monitor rampart 127.0.0.1 $PM 1
sentinel down-after-milliseconds rampart 1000
sentinel failover-timeout rampart 3000
sentinel parallel-syncs rampart 1
EOF
redis-sentinel "$TMP/s/sentinel.conf" > "$TMP/s.log" 2>&1 &
S_PID=$!; cleanup_pid "$S_PID"
rm_() { redis-cli -p "$PM" "$@"; }
rr() { redis-cli -p "$PR" "$@"; }
rs() { redis-cli -p "$PS" --no-auth-warning -a "$SPASS" "$@"; }
for _ in $(seq 1 100); do
  [ "$(rr INFO replication 2>/dev/null | tr -d '\r' | grep -c '^master_link_status:up')" = 1 ] &&
    [ "$(rs SENTINEL replicas rampart 2>/dev/null | grep -c "^$PR\$")" -ge 1 ] && break
  sleep 0.1
done
check "the replica is in sync with the master" \
  sh -c "redis-cli -p $PR INFO replication | tr -d '\r' | grep -q '^master_link_status:up'"
check "the sentinel knows the master and its replica" \
  sh -c "redis-cli -p $PS --no-auth-warning -a $SPASS SENTINEL replicas rampart | grep -qx $PR"
check "the sentinel names the master ($PM)" \
  test "$(rs SENTINEL get-master-addr-by-name rampart | tail -1)" = "$PM"

check "the sentinel refuses a client without AUTH" \
  sh -c "redis-cli -p $PS SENTINEL get-master-addr-by-name rampart | grep -q NOAUTH"
for role in edge detector; do
  printf 'cluster:\n  sentinels: [127.0.0.1:%s]\n  master_name: rampart\n  role: %s\n' \
    "$PS" "$role" > "$TMP/$role.yaml"
done
printf '  sentinel_password_file: %s\n' "$TMP/sentinel.pass" >> "$TMP/edge.yaml"
printf '  sentinel_user: watcher\n  sentinel_password_file: %s\n' "$TMP/watcher.pass" >> "$TMP/detector.yaml"
check "check-config accepts cluster.sentinels" "$RAMPART" check-config "$TMP/edge.yaml"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  sentinels: [127.0.0.1:%s]\n' "$PM" "$PS" > "$TMP/both.yaml"
check "check-config refuses redis and sentinels together" \
  sh -c "! '$RAMPART' check-config '$TMP/both.yaml' 2> '$TMP/both.err' && grep -q exclusive '$TMP/both.err'"
make_token
printf 'wrong-%s\n' "$SPASS" > "$TMP/wrong.pass"
sed "s|$TMP/sentinel.pass|$TMP/wrong.pass|" "$TMP/edge.yaml" > "$TMP/wrong.yaml"
start_serve wrong --config "$TMP/wrong.yaml"; WRONG_PID=$SERVE_PID
for _ in $(seq 1 40); do grep -q "AUTH refused" "$TMP/wrong.log" && break; sleep 0.05; done
stop_serve "$WRONG_PID"
check "a wrong sentinel password is refused and logged (the sentinel's WRONGPASS)" \
  grep -q "sentinel 127.0.0.1:$PS: AUTH refused: WRONGPASS" "$TMP/wrong.log"
check "  without the password" sh -c "! grep -qF -- '$SPASS' '$TMP/wrong.log'"
start_serve det --config "$TMP/detector.yaml"; DET=$ADMIN; DET_PID=$SERVE_PID
start_serve edge --config "$TMP/edge.yaml"; EDGE=$ADMIN; EDGE_PID=$SERVE_PID
check "the edge found the master through the sentinel (AUTH with the default user)" \
  grep -q "redis master rampart is 127.0.0.1:$PM (from the sentinels)" "$TMP/edge.log"
check "  and the detector (AUTH with the ACL user watcher)" \
  grep -q "redis master rampart is 127.0.0.1:$PM (from the sentinels)" "$TMP/det.log"

status() { curl -s -o /dev/null -w '%{http_code}' "$1/v1/check?ip=$2"; }
scan_log() { # scan_log IP FILE: 200 requests of a scanner
  for i in $(seq 1 200); do
    printf '%s - - [25/Nov/2026:10:00:%02d +0000] "GET /admin/backup-%d.php HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' "$1" $((i % 60)) "$i"
  done > "$2"
}
wait_403() { # wait_403 URL IP TENTHS: until the node answers 403 for IP
  for _ in $(seq 1 "$3"); do
    [ "$(status "$1" "$2")" = 403 ] && return 0
    sleep 0.1
  done
  return 1
}
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

echo "1. before the failover: a scanner blocked, a manual block"
A=198.51.100.66; B=198.51.100.77; C=198.51.100.88; MANUAL=203.0.113.77; LAST=203.0.113.99
scan_log "$A" "$TMP/a.log"; scan_log "$B" "$TMP/b.log"; scan_log "$C" "$TMP/c.log"
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/a.log"
check "scanner A is blocked on the edge" wait_403 "$EDGE" "$A" 100
"$RAMPART" decisions --url "$EDGE" --token-file "$TMP/token" add "ip:$MANUAL" block 10m \
  "before the failover" > /dev/null
check "the manual block is enforced by the detector" wait_403 "$DET" "$MANUAL" 100
for k in "ip:$A" "ip:$MANUAL"; do
  check "$k is in the master's hash" test -n "$(rm_ HGET rampart:decisions "$k")"
  for _ in $(seq 1 50); do [ -n "$(rr HGET rampart:decisions "$k")" ] && break; sleep 0.02; done
  check "  and replicated to the replica" test -n "$(rr HGET rampart:decisions "$k")"
done
loads0=$(metric "$EDGE" rampart_cluster_loads_total)
check "no WAIT was short while the replica was up (edge)" \
  test "$(metric "$EDGE" rampart_cluster_wait_short_total)" = 0
check "  nor on the detector" test "$(metric "$DET" rampart_cluster_wait_short_total)" = 0

echo "2. a manual block, then kill -9 of the master within a few ms of the API's answer"
t_api=$(now_ms)
"$RAMPART" decisions --url "$EDGE" --token-file "$TMP/token" add "ip:$LAST" block 10m \
  "just before the failover" > /dev/null && kill -KILL "$M_PID"
t_kill=$(now_ms)
echo "  API call sent -> master killed: $((t_kill - t_api)) ms (the kill right after the answer)"
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/b.log"
t_prom=""; t_b=""
for _ in $(seq 1 300); do # 30 s at most
  [ -z "$t_prom" ] && [ "$(rs SENTINEL get-master-addr-by-name rampart 2>/dev/null | tail -1)" = "$PR" ] &&
    t_prom=$(now_ms)
  [ -z "$t_b" ] && [ "$(status "$EDGE" "$B")" = 403 ] && t_b=$(now_ms)
  [ -n "$t_prom" ] && [ -n "$t_b" ] && break
  sleep 0.1
done
check "the sentinel promoted the replica ($PR)" test -n "$t_prom"
check "the replica says it is the master" sh -c "redis-cli -p $PR ROLE | head -1 | grep -qx master"
check "scanner B, sent as the master died, is blocked on the edge" test -n "$t_b"
echo "  master killed -> replica promoted by the sentinel: $((t_prom - t_kill)) ms;" \
     "-> scanner B blocked on the edge (fleet working again): $((t_b - t_kill)) ms"
check "the fleet works again within 20 s of the master's death" test $((t_b - t_kill)) -le 20000
check "the edge found the new master through the sentinel" \
  grep -q "redis master rampart is 127.0.0.1:$PR (from the sentinels)" "$TMP/edge.log"
check "  and so did the detector" \
  grep -q "redis master rampart is 127.0.0.1:$PR (from the sentinels)" "$TMP/det.log"

echo "3. the decisions made before the failover survived it"
for _ in $(seq 1 100); do
  [ "$(metric "$EDGE" rampart_cluster_loads_total)" -gt "$loads0" ] && break; sleep 0.1
done
check "the edge reloaded the fleet's decisions from the new master" \
  test "$(metric "$EDGE" rampart_cluster_loads_total)" -gt "$loads0"
for _ in $(seq 1 50); do # the edge's publisher may still be writing it to the new master
  [ -n "$(rr HGET rampart:decisions "ip:$LAST")" ] && break; sleep 0.1
done
for k in "ip:$A" "ip:$MANUAL" "ip:$LAST"; do
  check "$k is in Redis on the new master" test -n "$(rr HGET rampart:decisions "$k")"
done
check "scanner A is still blocked on the edge after its resync" test "$(status "$EDGE" "$A")" = 403
check "the manual block too" test "$(status "$EDGE" "$MANUAL")" = 403
check "and the one made just before the kill" test "$(status "$EDGE" "$LAST")" = 403
check "  which reached the detector through the new master" wait_403 "$DET" "$LAST" 50
if grep -q "cluster publisher: .*decisions retried" "$TMP/edge.log"; then
  echo "  (this run: the kill caught the edge's batch in flight; written again to the promoted replica)"
else
  echo "  (this run: the edge's batch was written and acknowledged by the replica, or queued, before the kill)"
fi
check "the edge removed nothing at the resync" \
  test "$(metric "$EDGE" rampart_cluster_resync_removed_total)" = 0

echo "4. after the failover: a new scanner is blocked as usual"
t_c0=$(now_ms)
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/c.log"
check "scanner C is blocked on the edge" wait_403 "$EDGE" "$C" 100
echo "  scanner C sent -> blocked on the edge: $(( $(now_ms) - t_c0 )) ms"
check "its decision is on the new master" test -n "$(rr HGET rampart:decisions "ip:$C")"
check "the new master has no replica yet: the detector's WAIT was short, counted" \
  test "$(metric "$DET" rampart_cluster_wait_short_total)" -ge 1
check "  and logged" grep -q "cluster publisher: WAIT 1 100: 0 replicas acknowledged" "$TMP/det.log"
# The last batch's XACK goes with the detector's next read (within one
# blocking read, 500 ms): wait for it.
for _ in $(seq 1 50); do
  [ "$(redis-cli -p "$PR" XPENDING rampart:events rampart-detectors | head -1)" = 0 ] && break
  sleep 0.1
done
check "the detector consumed A, B and C (600 events) with nothing pending" \
  sh -c "[ \"\$(redis-cli -p $PR XPENDING rampart:events rampart-detectors | head -1)\" = 0 ]"
echo "  edge reconnects: $(metric "$EDGE" rampart_cluster_reconnects_total)," \
     "events buffered during the failover: $(metric "$EDGE" rampart_cluster_events_buffered_total)," \
     "detector consumed: $(metric "$DET" rampart_cluster_events_consumed_total)"

echo "5. the cost of WAIT 1 <ms> after a decision's transaction (loopback, one replica)"
# The new master has no replica now: bring the old one back; the
# sentinel turns it into a replica of the new master.
redis-server --port "$PM" --bind 127.0.0.1 --save '' --appendonly yes --dir "$TMP/m" \
  > "$TMP/m2.log" 2>&1 &
M_PID=$!; cleanup_pid "$M_PID"
for _ in $(seq 1 150); do # 15 s at most: the sentinel reconfigures it, then it syncs
  [ "$(rm_ ROLE 2>/dev/null | head -1)" = slave ] &&
    [ -n "$(rm_ HGET rampart:decisions "ip:$C" 2>/dev/null)" ] && break
  sleep 0.1
done
check "the sentinel turned the old master into a replica of the new one" \
  sh -c "redis-cli -p $PM ROLE | head -1 | grep -qx slave"
check "  which holds the fleet's decisions" test -n "$(rm_ HGET rampart:decisions "ip:$C")"
tx() { # tx N WAIT?: N decision transactions, one round trip each, timed
  local n=$1 w=$2
  for i in $(seq 1 "$n"); do
    printf 'MULTI\nHSET bench:d ip:%s v\nZADD bench:e %s ip:%s\nXADD bench:c MAXLEN ~ 1000 * op put\nEXEC\n' \
      "$i" "$i" "$i"
    [ "$w" = 1 ] && printf 'WAIT 1 100\n'
  done > "$TMP/tx.txt"
  local t0; t0=$(date +%s%N)
  rr < "$TMP/tx.txt" > "$TMP/tx.out"
  echo $(( ($(date +%s%N) - t0) / n / 1000 ))
}
us0=$(tx 500 0); us1=$(tx 500 1)
echo "  per decision (MULTI HSET ZADD XADD EXEC, redis-cli one command a round trip):" \
     "${us0} us without WAIT, ${us1} us with WAIT 1 100 (+$((us1 - us0)) us)"
rr DEL bench:d bench:e bench:c > /dev/null

stop_serve "$EDGE_PID"; stop_serve "$DET_PID"
check "no daemon logged an error" no_error_lines $TMP/edge.log $TMP/det.log
check "no sentinel password in any log" \
  sh -c "! grep -qF -e '$SPASS' -e '$WPASS' $TMP/edge.log $TMP/det.log $TMP/wrong.log"
for p in "$S_PID" "$R_PID" "$M_PID"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
echo "cluster_sentinel: ok"
