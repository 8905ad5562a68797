#!/usr/bin/env bash
# Fleet mode on Redis Cluster (docs/cluster.md#redis-cluster): three
# masters and three replicas on loopback (cluster-node-timeout 1000 ms),
# one edge and two detectors that know a single seed node
# (cluster.redis_cluster), the master that serves the fleet's slot.
#   1. check-config: the default names are hash-tagged ({rampart}:...),
#      names in two slots are refused, and so is redis_cluster with
#      cluster.redis; the daemon's slot is redis-cli's CLUSTER KEYSLOT;
#   2. a scanner fed through the edge is blocked on the edge's /v1/check;
#      the decision is on the slot's master (and nowhere else), with a
#      manual block made on the edge;
#   3. kill -9 of that master (the only seed): the cluster promotes its
#      replica, the fleet finds it through the slot map it remembered
#      from the seed, and a scanner sent at the moment of the kill is
#      blocked (time to recover printed, bounded);
#   4. the decisions made before are on the new master and still enforced
#      (nothing removed at the resync); a new attacker after the failover
#      is blocked;
#   5. the old master restarted rejoins as a replica and takes the slot
#      back by a manual CLUSTER FAILOVER: the connections to the demoted
#      node get MOVED, the fleet follows it, a scanner is blocked.
# The nodes authenticate through a least-privilege ACL user (the line
# docs/cluster.md gives, set on every node): no node's ACL LOG shows a
# refusal, and the password is in no daemon's log.
# Everything on 127.0.0.1, free ports, stopped by PID.
source "$(dirname "$0")/lib.sh"
for b in redis-server redis-cli curl python3; do
  command -v "$b" >/dev/null || fail "$b is required (Debian redis-server, curl, python3)"
done
now_ms() { date +%s%3N; }
# 12 distinct free ports: a client port and a cluster bus port per node.
mapfile -t PORTS < <(python3 -c '
import socket
socks = []
for _ in range(12):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks: print(s.getsockname()[1])')
# cluster-replica-validity-factor 0: a replica fails over however long
# ago it last heard from its master (with the default 10 and a quiet
# master, a replica may judge its data too old and never take over).
# repl-diskless-sync-delay 0: a replica's first sync starts at once, not
# 5 s later (the test waits for every replica's link to be up).
# The fleet's ACL user on every node (ACLs are per node), from the start.
RPASS="fleet-$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$RPASS" > "$TMP/redis.pass"
declare -A NODE_PID BUS
start_node() { # start_node PORT: (again) the node of that port, its nodes.conf kept
  local p=$1
  mkdir -p "$TMP/n$p"
  redis-server --port "$p" --cluster-port "${BUS[$p]}" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file "$TMP/n$p/nodes.conf" --cluster-node-timeout 1000 \
    --cluster-replica-validity-factor 0 --repl-diskless-sync-delay 0 \
    --save '' --appendonly no --dir "$TMP/n$p" \
    --user rampart on ">$RPASS" '~{rampart}:*' -@all +@stream +@hash +@sortedset +@string \
    +@transaction +eval +evalsha +ping +time +wait +del '+cluster|slots' +role +info \
    >> "$TMP/n$p.log" 2>&1 &
  NODE_PID[$p]=$!; cleanup_pid "$!"
}
for i in 0 1 2 3 4 5; do BUS[${PORTS[$i]}]=${PORTS[$((i + 6))]}; start_node "${PORTS[$i]}"; done
for i in 0 1 2 3 4 5; do
  for _ in $(seq 1 100); do [ "$(redis-cli -p "${PORTS[$i]}" ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
done
redis-cli --cluster create $(for i in 0 1 2 3 4 5; do printf '127.0.0.1:%s ' "${PORTS[$i]}"; done) \
  --cluster-replicas 1 --cluster-yes > "$TMP/create.log" 2>&1 || { cat "$TMP/create.log"; fail "redis-cli --cluster create"; }
cluster_ok() { # every live node says cluster_state:ok
  local p
  for p in "$@"; do
    redis-cli -p "$p" CLUSTER INFO 2>/dev/null | tr -d '\r' | grep -qx 'cluster_state:ok' || return 1
  done
}
for _ in $(seq 1 100); do cluster_ok "${PORTS[@]:0:6}" && break; sleep 0.1; done
check "the cluster of 3 masters + 3 replicas is up (cluster_state:ok on every node)" \
  cluster_ok "${PORTS[@]:0:6}"
replicas_synced() { # every replica's link to its master is up
  local p n=0
  for p in "${PORTS[@]:0:6}"; do
    redis-cli -p "$p" INFO replication | tr -d '\r' | grep -qx 'master_link_status:up' && n=$((n + 1))
  done
  [ "$n" = 3 ]
}
for _ in $(seq 1 100); do replicas_synced && break; sleep 0.1; done
check "the 3 replicas are in sync with their masters" replicas_synced

P1=${PORTS[0]}
SLOT=$(redis-cli -p "$P1" CLUSTER KEYSLOT '{rampart}:decisions')
# The master serving SLOT and its replica, from CLUSTER NODES:
# "<id> <ip:port@bus> <flags> <master id|-> ... <slot ranges>".
owner_of() { # owner_of PORT SLOT -> "port id" of the master serving the slot
  redis-cli -p "$1" CLUSTER NODES | tr -d '\r' | awk -v s="$2" '
    $3 ~ /master/ && $3 !~ /fail/ { for (i = 9; i <= NF; i++) { n = split($i, r, "-");
      lo = r[1]; hi = n > 1 ? r[2] : r[1];
      if ($i !~ /^\[/ && s + 0 >= lo + 0 && s + 0 <= hi + 0) { split($2, a, "[:@]"); print a[2], $1 } } }'
}
read -r OWNER OWNER_ID < <(owner_of "$P1" "$SLOT")
REPLICA=$(redis-cli -p "$P1" CLUSTER NODES | tr -d '\r' |
  awk -v m="$OWNER_ID" '$4 == m { split($2, a, "[:@]"); print a[2] }' | head -1)
check "slot $SLOT ({rampart}) is served by 127.0.0.1:$OWNER, replicated to 127.0.0.1:$REPLICA" \
  test -n "$OWNER" -a -n "$REPLICA"
OTHER=""
for i in 0 1 2 3 4 5; do
  p=${PORTS[$i]}
  [ "$p" != "$OWNER" ] && [ "$p" != "$REPLICA" ] && [ "$(redis-cli -p "$p" ROLE | head -1)" = master ] &&
    { OTHER=$p; break; }
done

echo "1. configuration"
for role in edge detector; do
  printf 'cluster:\n  redis_cluster: [127.0.0.1:%s]\n  role: %s\n  user: rampart\n  password_file: %s\n' \
    "$OWNER" "$role" "$TMP/redis.pass" > "$TMP/$role.yaml"
done
check "check-config accepts cluster.redis_cluster" "$RAMPART" check-config "$TMP/edge.yaml"
printf 'cluster:\n  redis_cluster: [127.0.0.1:%s]\n  stream: fleet:events\n' "$OWNER" > "$TMP/slots.yaml"
check "check-config refuses names in two slots, naming them" \
  sh -c "! '$RAMPART' check-config '$TMP/slots.yaml' 2> '$TMP/slots.err' && grep -q 'one slot' '$TMP/slots.err' && grep -q \"'fleet:events:detectors' in slot\" '$TMP/slots.err'"
printf 'cluster:\n  redis_cluster: [127.0.0.1:%s]\n  redis: 127.0.0.1:%s\n' "$OWNER" "$OWNER" > "$TMP/both.yaml"
check "check-config refuses redis_cluster with cluster.redis" \
  sh -c "! '$RAMPART' check-config '$TMP/both.yaml' 2> '$TMP/both.err' && grep -q exclusive '$TMP/both.err'"
make_token
start_serve det1 --config "$TMP/detector.yaml"; DET1=$ADMIN; DET1_PID=$SERVE_PID
start_serve det2 --config "$TMP/detector.yaml"; DET2=$ADMIN; DET2_PID=$SERVE_PID
start_serve edge --config "$TMP/edge.yaml"; EDGE=$ADMIN; EDGE_PID=$SERVE_PID
check "the edge found the slot's master in the slot map" \
  grep -q "redis cluster slot $SLOT ({rampart}:events, {rampart}:decisions) is served by 127.0.0.1:$OWNER" "$TMP/edge.log"
for k in '{rampart}:events' '{rampart}:events:lease' '{rampart}:events:detectors' \
         '{rampart}:decisions:expiry' '{rampart}:decisions:changes'; do
  check "CLUSTER KEYSLOT $k = $SLOT, the daemon's slot" test "$(redis-cli -p "$P1" CLUSTER KEYSLOT "$k")" = "$SLOT"
done

status() { curl -s -o /dev/null -w '%{http_code}' "$1/v1/check?ip=$2"; }
scan_log() { # scan_log IP FILE: 200 requests of a scanner
  for i in $(seq 1 200); do
    printf '%s - - [25/Nov/2026:10:00:%02d +0000] "GET /admin/backup-%d.php HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' "$1" $((i % 60)) "$i"
  done > "$2"
}
wait_403() { # wait_403 URL IP TENTHS
  for _ in $(seq 1 "$3"); do [ "$(status "$1" "$2")" = 403 ] && return 0; sleep 0.1; done
  return 1
}
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

echo "2. before the failover: a scanner blocked through the fleet, a manual block"
A=198.51.100.66; B=198.51.100.77; C=198.51.100.88; MANUAL=203.0.113.77
scan_log "$A" "$TMP/a.log"; scan_log "$B" "$TMP/b.log"; scan_log "$C" "$TMP/c.log"
t0=$(now_ms)
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/a.log"
check "scanner A is blocked on the edge" wait_403 "$EDGE" "$A" 100
echo "  scanner A sent -> blocked on the edge: $(( $(now_ms) - t0 )) ms"
"$RAMPART" decisions --url "$EDGE" --token-file "$TMP/token" add "ip:$MANUAL" block 10m \
  "before the failover" > /dev/null
check "the manual block is enforced by both detectors" \
  sh -c "$(declare -f status wait_403); wait_403 $DET1 $MANUAL 100 && wait_403 $DET2 $MANUAL 100"
for k in "ip:$A" "ip:$MANUAL"; do
  check "$k is in {rampart}:decisions on the slot's master" \
    test -n "$(redis-cli -p "$OWNER" HGET '{rampart}:decisions' "$k")"
done
check "another master does not serve the slot (MOVED)" \
  sh -c "redis-cli -p $OTHER HGET '{rampart}:decisions' ip:$A | grep -q MOVED"
active=0
for d in "$DET1" "$DET2"; do active=$((active + $(metric "$d" rampart_cluster_detector_active))); done
check "one detector is active, the other a standby" test "$active" = 1
# A cluster replica answers reads with MOVED unless the connection says
# READONLY first.
replica_get() { printf 'READONLY\nHGET {rampart}:decisions %s\n' "$1" | redis-cli -p "$REPLICA" | tail -1; }
for k in "ip:$A" "ip:$MANUAL"; do
  for _ in $(seq 1 50); do [ -n "$(replica_get "$k")" ] && break; sleep 0.05; done
  check "  and $k on its replica" test -n "$(replica_get "$k")"
done
check "no publisher's WAIT was short while the replica was up" \
  test "$(( $(metric "$EDGE" rampart_cluster_wait_short_total) + $(metric "$DET1" rampart_cluster_wait_short_total) + $(metric "$DET2" rampart_cluster_wait_short_total) ))" = 0
loads0=$(metric "$EDGE" rampart_cluster_loads_total)

echo "3. kill -9 of the slot's master (the only seed)"
kill -KILL "${NODE_PID[$OWNER]}" 2>/dev/null
t_kill=$(now_ms)
wait "${NODE_PID[$OWNER]}" 2>/dev/null || true
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/b.log"
t_prom=""; t_b=""
for _ in $(seq 1 400); do # 40 s at most
  [ -z "$t_prom" ] && [ "$(redis-cli -p "$REPLICA" ROLE 2>/dev/null | head -1)" = master ] && t_prom=$(now_ms)
  [ -z "$t_b" ] && [ "$(status "$EDGE" "$B")" = 403 ] && t_b=$(now_ms)
  [ -n "$t_prom" ] && [ -n "$t_b" ] && break
  sleep 0.1
done
check "the cluster promoted the replica (127.0.0.1:$REPLICA)" test -n "$t_prom"
check "scanner B, sent as the master died, is blocked on the edge" test -n "$t_b"
echo "  master killed -> replica promoted by the cluster: $((t_prom - t_kill)) ms;" \
     "-> scanner B blocked on the edge (fleet recovered): $((t_b - t_kill)) ms"
check "the fleet recovered within 20 s of the master's death" test $((t_b - t_kill)) -le 20000
check "the edge found the new master in the slot map (its seed is dead)" \
  grep -q "slot $SLOT .* is served by 127.0.0.1:$REPLICA (from the slot map)" "$TMP/edge.log"
check "  and so did both detectors" \
  sh -c "grep -q 'is served by 127.0.0.1:$REPLICA' '$TMP/det1.log' && grep -q 'is served by 127.0.0.1:$REPLICA' '$TMP/det2.log'"

echo "4. after the failover"
for _ in $(seq 1 100); do
  [ "$(metric "$EDGE" rampart_cluster_loads_total)" -gt "$loads0" ] && break; sleep 0.1
done
check "the edge reloaded the fleet's decisions from the new master" \
  test "$(metric "$EDGE" rampart_cluster_loads_total)" -gt "$loads0"
for k in "ip:$A" "ip:$MANUAL" "ip:$B"; do
  check "$k is in Redis on the new master" \
    test -n "$(redis-cli -p "$REPLICA" HGET '{rampart}:decisions' "$k")"
done
check "scanner A is still blocked on the edge" test "$(status "$EDGE" "$A")" = 403
check "the manual block too" test "$(status "$EDGE" "$MANUAL")" = 403
check "the edge removed nothing at the resync" \
  test "$(metric "$EDGE" rampart_cluster_resync_removed_total)" = 0
t_c0=$(now_ms)
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/c.log"
check "scanner C, after the failover, is blocked on the edge" wait_403 "$EDGE" "$C" 100
echo "  scanner C sent -> blocked on the edge: $(( $(now_ms) - t_c0 )) ms"
check "its decision is on the new master" \
  test -n "$(redis-cli -p "$REPLICA" HGET '{rampart}:decisions' "ip:$C")"
for _ in $(seq 1 50); do
  [ "$(redis-cli -p "$REPLICA" XPENDING '{rampart}:events' rampart-detectors | head -1)" = 0 ] && break; sleep 0.1
done
check "the detectors consumed everything, nothing pending" \
  test "$(redis-cli -p "$REPLICA" XPENDING '{rampart}:events' rampart-detectors | head -1)" = 0
echo "  edge reconnects: $(metric "$EDGE" rampart_cluster_reconnects_total)," \
     "events buffered during the failover: $(metric "$EDGE" rampart_cluster_events_buffered_total)," \
     "consumed: $(( $(metric "$DET1" rampart_cluster_events_consumed_total) + $(metric "$DET2" rampart_cluster_events_consumed_total) ))"

echo "5. the old master back as a replica, then CLUSTER FAILOVER to it (MOVED)"
start_node "$OWNER"
for _ in $(seq 1 50); do [ "$(redis-cli -p "$OWNER" ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
for _ in $(seq 1 100); do
  redis-cli -p "$OWNER" INFO replication 2>/dev/null | tr -d '\r' | grep -qx 'master_link_status:up' && break
  sleep 0.1
done
check "the old master rejoined as a replica of the new one, in sync" \
  sh -c "redis-cli -p $OWNER INFO replication | tr -d '\r' | grep -qx 'master_link_status:up'"
reconnects0=$(metric "$EDGE" rampart_cluster_reconnects_total)
# A manual failover times out (5 s) if the master has not yet heard of its
# new replica on the cluster bus: wait until it lists it as its replica;
# asked again, at most 3 times, all the same.
NEW_ID=$(redis-cli -p "$REPLICA" CLUSTER MYID)
for _ in $(seq 1 100); do
  redis-cli -p "$REPLICA" CLUSTER NODES | awk -v p=":$OWNER@" -v m="$NEW_ID" \
    'index($2, p) && $3 ~ /slave/ && $4 == m && $NF != "disconnected" { f = 1 } END { exit !f }' && break
  sleep 0.05
done
t_fo=$(now_ms)
for _ in 1 2 3; do
  check "CLUSTER FAILOVER accepted" test "$(redis-cli -p "$OWNER" CLUSTER FAILOVER)" = OK
  for _ in $(seq 1 140); do [ "$(redis-cli -p "$OWNER" ROLE | head -1)" = master ] && break; sleep 0.05; done
  [ "$(redis-cli -p "$OWNER" ROLE | head -1)" = master ] && break
done
check "127.0.0.1:$OWNER is the slot's master again" test "$(redis-cli -p "$OWNER" ROLE | head -1)" = master
D=198.51.100.99; scan_log "$D" "$TMP/d.log"
"$RAMPART" send --socket "$TMP/edge.sock" --now "$TMP/d.log"
check "scanner D, after the switch, is blocked on the edge" wait_403 "$EDGE" "$D" 200
echo "  CLUSTER FAILOVER -> scanner D blocked on the edge: $(( $(now_ms) - t_fo )) ms"
check "its decision is on the slot's master 127.0.0.1:$OWNER" \
  test -n "$(redis-cli -p "$OWNER" HGET '{rampart}:decisions' "ip:$D")"
check "the fleet was told MOVED by the demoted node and followed it" \
  sh -c "grep -h 'MOVED $SLOT 127.0.0.1:$OWNER' $TMP/edge.log $TMP/det1.log $TMP/det2.log | grep -q reconnecting"
check "the edge reconnected" test "$(metric "$EDGE" rampart_cluster_reconnects_total)" -gt "$reconnects0"
check "the decisions from before are still enforced" \
  sh -c "$(declare -f status); [ \$(status $EDGE $A) = 403 ] && [ \$(status $EDGE $MANUAL) = 403 ] && [ \$(status $EDGE $C) = 403 ]"

stop_serve "$EDGE_PID"; stop_serve "$DET1_PID"; stop_serve "$DET2_PID"
check "no daemon logged an error" \
  no_error_lines $TMP/edge.log $TMP/det1.log $TMP/det2.log
for p in "$OWNER" "$REPLICA"; do
  acl_log=$(redis-cli -p "$p" ACL LOG | tr '\n' ' ' | sed 's/ *$//')
  check "the ACL user was refused nothing on 127.0.0.1:$p (ACL LOG empty) ${acl_log:0:400}" \
    test -z "$acl_log"
done
check "the password is in no daemon's log" \
  sh -c "! grep -qF -- '$RPASS' $TMP/edge.log $TMP/det1.log $TMP/det2.log"
echo "cluster_rediscluster: ok"
