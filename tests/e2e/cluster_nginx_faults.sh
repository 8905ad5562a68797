#!/usr/bin/env bash
# Fleet mode on Redis behind real nginx, the faults of issue 12's Proof:
# kill -9 of the active detector mid-attack, and Redis stopped and started
# mid-attack. The setting of cluster_nginx.sh (lib.sh's helpers): the demo
# API, three nginx with the module, one edge daemon per nginx, every client
# address through X-Forwarded-For; here TWO detectors (d1 active, d2 the
# standby, the default lease_ms 2000 / claim_idle_ms 3000).
#
# Redis runs as an operator runs it: --appendonly yes with Redis's default
# appendfsync everysec, stopped with SIGTERM (what `systemctl stop` and
# `redis-cli shutdown` do: the AOF is flushed and fsynced) and started again
# on the same port and data directory.
#
#   1. before the faults: credential stuffing and a scanner round-robined
#      over the three nginx, stopped on all three by d1; a manual block
#      through edge A's API;
#   2. kill -9 of d1 while a credential-stuffing run (a fresh address,
#      round-robin) is under way: d2 takes the lease within 5 s (measured
#      from the kill), claims d1's unacknowledged entries, and the attack is
#      stopped on all three nginx (time and attempts printed); d1's
#      decisions are still in Redis and refused by all three, its incidents
#      still in its SQLite store; d1 restarted (as systemd would) is the
#      standby;
#   3. Redis stopped while another stuffing run is under way (a scanner
#      starts during the outage): the three nginx keep refusing every
#      decision made before, serve new traffic (fail open: the attacks get
#      through until Redis is back), a manual block on edge C is enforced
#      by C at once; each edge counts and buffers what it could not
#      forward. Redis started again: the edges replay their buffers and
#      resynchronise, both attacks are stopped on all three (time from
#      Redis's return printed), edge C's block reaches A and B, and every
#      decision held before the outage is in Redis and refused by all three;
#   4. at the end: the group has nothing pending and no lag (every event
#      the edges wrote was read and acknowledged, i.e. fed to an engine);
#      no buffered event dropped; a person and a partner, round-robined
#      over the three nginx through all of it, were never refused.
# Everything on 127.0.0.1 free ports, started here and stopped by PID;
# ~20 s on 2 cores. KEEP_TMP=1 keeps the files.
source "$(dirname "$0")/lib.sh"
nginx_fleet_init
REDIS_OPTS=(--appendonly yes)
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
now() { echo "$EPOCHREALTIME"; }
incidents_in() { # incidents_in STORE TEXT: incidents whose key contains TEXT
  python3 -c 'import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from incidents where key like ?",
                                           ("%" + sys.argv[2] + "%",)).fetchone()[0])' "$1" "$2"; }
# hosts_refusing IP: how many of the three nginx refuse IP now
hosts_refusing() { local h n=0; for h in 0 1 2; do refused "${FLEET[h]}" "$1" && n=$((n + 1)); done; echo $n; }
# enforced KEY: the three edges' tables hold KEY, and the three nginx refuse
# what it covers: for ip:A a request from A; for a fingerprint (the
# stuffers' tool on the login route) a login attempt from a fresh address
# with that tool.
PROBE=100
enforced() {
  local k=$1 e h
  for e in "${EDGES[@]}"; do curl -s "$e/v1/decisions" | grep -qF "\"$k\"" || return 1; done
  case $k in
    ip:*) [ "$(hosts_refusing "${k#ip:}")" = 3 ] ;;
    fingerprint:*)
      PROBE=$((PROBE + 1))
      for h in 0 1 2; do
        req "${FLEET[h]}/api/login" -H "X-Forwarded-For: 192.0.2.$PROBE" -A "$BROWSER" \
          -H 'Content-Type: application/json' -d '{"username":"probe","password":"probe"}'
        [ "$R_RAMPART" = 1 ] || return 1
      done ;;
  esac
}
# bg_attack NAME KIND IP [UA]: an attack in the background, logged in $TMP/NAME.att
bg_attack() {
  ATTACK_LOG=$TMP/$1.att ATTACK_UA=${4:-$BROWSER} attack "$2" "$3" 4000 "${FLEET[@]}" &
  ATTACK_PID=$!; cleanup_pid $ATTACK_PID
  for _ in $(seq 1 500); do [ -s "$TMP/$1.att" ] && return 0; sleep 0.01; done
  fail "the attack $1 did not start"
}
sent() { wc -l < "$TMP/$1.att"; }
wait_sent() { for _ in $(seq 1 500); do [ "$(sent "$1")" -ge "$2" ] && return 0; sleep 0.01; done; return 1; }
# end_attack NAME PID SECONDS: wait for it to end (every host refused),
# stop it after SECONDS; then FIRST[h] (attempt of host h's first refusal),
# FIRST_T[h] (its time), STOPPED_T (the last of them), SENT.
end_attack() {
  local h
  for _ in $(seq 1 $(($3 * 20))); do kill -0 "$2" 2>/dev/null || break; sleep 0.05; done
  touch "$TMP/$1.att.stop"; wait "$2" 2>/dev/null || true
  for h in 0 1 2; do
    read -r FIRST[h] FIRST_T[h] < <(awk -v h=$h '$2 == h && $4 == 1 { print $1, $5; f = 1; exit }
                                             END { if (!f) print 0, 0 }' "$TMP/$1.att")
  done
  STOPPED_T=$(printf '%s\n' "${FIRST_T[@]}" | sort -g | tail -1)
  SENT=$(sent "$1")
}
all_stopped() { [ "${FIRST[0]}" -gt 0 ] && [ "${FIRST[1]}" -gt 0 ] && [ "${FIRST[2]}" -gt 0 ]; }
# lag_and_pending: "PENDING LAG" of the detectors' group
lag_and_pending() {
  rcli XINFO GROUPS rampart:events > "$TMP/groups"
  awk 'p == "pending" { pe = $0 } p == "lag" { lg = $0 } { p = $0 } END { print pe, (lg == "" ? "nil" : lg) }' "$TMP/groups"
}

# --- Redis, the demo API, the daemons, nginx ----------------------------------
start_redis "${REDIS_OPTS[@]}"
RPORT=$REDIS_PORT
check "redis-server (appendonly yes) is up on 127.0.0.1:$RPORT" test "$(rcli CONFIG GET appendonly | tail -1)" = yes
start_demo_api
printf 'inventory:\n  openapi: %s\ncluster:\n  redis: 127.0.0.1:%s\n  role: detector\n' \
  "$ROOT/examples/openapi.yaml" "$RPORT" > "$TMP/detector.yaml"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n' "$RPORT" > "$TMP/edge.yaml"
check "check-config accepts the detectors' and the edges' files" \
  sh -c "'$RAMPART' check-config '$TMP/detector.yaml' >/dev/null && '$RAMPART' check-config '$TMP/edge.yaml' >/dev/null"
make_token
TOKEN=$(cat "$TMP/token")
start_serve d1 --config "$TMP/detector.yaml"; D1=$ADMIN; D1_PID=$SERVE_PID
for _ in $(seq 1 100); do [ "$(metric "$D1" rampart_cluster_detector_active)" = 1 ] && break; sleep 0.05; done
start_serve d2 --config "$TMP/detector.yaml"; D2=$ADMIN; D2_PID=$SERVE_PID
start_serve ea --config "$TMP/edge.yaml"; EA=$ADMIN
start_serve eb --config "$TMP/edge.yaml"; EB=$ADMIN
start_serve ec --config "$TMP/edge.yaml"; EC=$ADMIN
EDGES=("$EA" "$EB" "$EC")
start_fleet_nginx a ea; NA=$NG_URL
start_fleet_nginx b eb; NB=$NG_URL
start_fleet_nginx c ec; NC=$NG_URL
FLEET=("$NA" "$NB" "$NC")
echo "  nginx A $NA, B $NB, C $NC; detectors d1 $D1, d2 $D2; API $API_URL; redis :$RPORT"
check "d1 holds the lease, d2 is the standby" \
  sh -c "[ '$(metric "$D1" rampart_cluster_detector_active)' = 1 ] && sleep 0.5 && [ \"\$(curl -s $D2/metrics | awk '\$1 == \"rampart_cluster_detector_active\" { print \$2 }')\" = 0 ]"
C1=$(grep -o 'as consumer [^ "]*' "$TMP/d1.log" | head -1 | cut -d' ' -f3)

start_legit

echo "1. before the faults: d1 stops a stuffer and a scanner; a manual block on edge A"
S1=198.51.100.10 SC1=203.0.113.20 M1=100.64.0.1
attack stuff "$S1" 200 "${FLEET[@]}"
check "stuffing ($S1) stopped on all three by d1 (attempts ${FIRST[*]})" all_stopped
attack scan "$SC1" 600 "${FLEET[@]}"
check "the scanner ($SC1) stopped on all three by d1 (requests ${FIRST[*]})" all_stopped
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST "$EA/v1/decisions" \
    -d "{\"key\":\"ip:$M1\",\"action\":\"block\",\"duration\":\"10m\"}")
check "a manual block of $M1 through edge A's API (201)" test "$c" = 201
for _ in $(seq 1 100); do [ "$(hosts_refusing "$M1")" = 3 ] && break; sleep 0.02; done
check "  refused by all three nginx" test "$(hosts_refusing "$M1")" = 3

echo "2. kill -9 of the active detector (d1) mid-attack"
S2=198.51.100.30
bg_attack s2 stuff "$S2"; A2=$ATTACK_PID
wait_sent s2 4 || fail "the stuffing did not reach its 4th attempt"
kill -KILL "$D1_PID"; T_KILL=$(now); AT_KILL=$(sent s2)
wait "$D1_PID" 2>/dev/null || true
INFLIGHT=$(rcli XPENDING rampart:events rampart-detectors - + 10000 "$C1" | awk 'NR % 4 == 1' | grep -c . || true)
echo "  d1 killed at attempt $AT_KILL of the stuffing ($S2); $INFLIGHT stream entries read by d1 and not acknowledged"
T_ACTIVE=""
for _ in $(seq 1 800); do
  [ "$(metric "$D2" rampart_cluster_detector_active)" = 1 ] && { T_ACTIVE=$(now); AT_ACTIVE=$(sent s2); break; }
  sleep 0.01
done
check "d2 took the lease" test -n "$T_ACTIVE"
TAKEOVER=$(ms_since "$T_KILL" "$T_ACTIVE")
echo "  d2 active ${TAKEOVER} ms after the kill -9 (at attempt $AT_ACTIVE)"
check "the takeover within 5 s (${TAKEOVER} ms)" awk -v t="$TAKEOVER" 'BEGIN { exit !(t <= 5000) }'
end_attack s2 "$A2" 15
STOP2=$(ms_since "$T_KILL" "$STOPPED_T")
echo "  the stuffing stopped on nginx A, B, C at attempts ${FIRST[*]} ($SENT sent):" \
     "$STOP2 ms after the kill, $(ms_since "$T_ACTIVE" "$STOPPED_T") ms after d2 became active"
check "the stuffing during the takeover is stopped on all three nginx" all_stopped
ATT2=$(IFS=/; echo "${FIRST[*]}")
# As fast as one host once a detector reads again: the backlog d2 reads at
# once holds more attempts than a threshold (a single host stops this
# stuffing at ~11, cluster_nginx.sh), so it decides on its first read.
last=$(printf '%s\n' "${FIRST[@]}" | sort -n | tail -1)
check "  within 10 attempts of the takeover (the last host at $last, d2 active at $AT_ACTIVE)" \
  test "$last" -le $((AT_ACTIVE + 10))
T_CLAIMED=""
for _ in $(seq 1 800); do
  [ "$(rcli XPENDING rampart:events rampart-detectors - + 10000 "$C1" | grep -c . || true)" = 0 ] && { T_CLAIMED=$(now); break; }
  sleep 0.01
done
check "d1's unacknowledged entries were claimed by d2 (none left under $C1)" test -n "$T_CLAIMED"
CLAIMED=$(metric "$D2" rampart_cluster_entries_claimed_total) CLAIM_MS=$(ms_since "$T_KILL" "$T_CLAIMED")
if [ "$INFLIGHT" -gt 0 ]; then
  echo "  d1's entries claimed $CLAIM_MS ms after the kill; d2 claimed $CLAIMED entries"
  check "  within 5 s of the kill" awk -v t="$CLAIM_MS" 'BEGIN { exit !(t <= 5000) }'
else
  CLAIM_MS=none # d1 had acknowledged all it read: the takeover reads on from there
fi
check "  d2 claimed at least the $INFLIGHT d1 held" test "${CLAIMED:-0}" -ge "$INFLIGHT"
CONSUMED2=$(metric "$D2" rampart_cluster_events_consumed_total)
check "d2 read every attempt the stuffing made after the kill ($CONSUMED2 events consumed >= $((SENT - AT_KILL)))" \
  test "$CONSUMED2" -ge $((SENT - AT_KILL))
for _ in $(seq 1 100); do [ "$(lag_and_pending)" = "0 0" ] && break; sleep 0.05; done
read -r PEND LAG < <(lag_and_pending)
check "the group has nothing pending and no lag after the takeover (XPENDING $PEND, lag $LAG)" \
  test "$PEND" = 0 -a "$LAG" = 0
for k in "$S1" "$SC1" "$M1"; do
  check "decision on $k (made before d1 died) still in Redis" test -n "$(rcli HGET rampart:decisions "ip:$k")"
  check "  and enforced by the three edges and nginx" enforced "ip:$k"
done
for k in "$S1" "$SC1"; do
  check "d1's incident on $k is still in its SQLite store" \
    test "$(incidents_in "$TMP/d1.db" "$k")" -ge 1
done
start_serve d1 --config "$TMP/detector.yaml"; D1=$ADMIN; D1_PID=$SERVE_PID
sleep 0.5
check "d1 restarted (same store, same consumer name) is the standby" \
  test "$(metric "$D1" rampart_cluster_detector_active)" = 0

echo "3. Redis stopped and started mid-attack"
S3=198.51.100.50 SC3=203.0.113.60 M2=100.64.0.2 FRESH=192.0.2.200
# New tools, not only new addresses: the fleet already refuses the first
# stuffers' header fingerprint on the login route (a swarm decision), which
# would stop a third one with the same browser string at its first attempt.
CHROME='Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
SAFARI='Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15'
rcli HKEYS rampart:decisions | sort > "$TMP/before.keys"
BEFORE=$(wc -l < "$TMP/before.keys")
echo "  Redis holds $BEFORE decisions before the outage: $(tr '\n' ' ' < "$TMP/before.keys")"
declare -A ERR0
for e in "${EDGES[@]}"; do ERR0[$e]=$(metric "$e" rampart_cluster_forward_errors_total); done
# This stuffer paces itself (~15 attempts/s): Redis is down before it has
# made the attempts that stop it on one host, and it goes on during the outage.
ATTACK_PACE=0.05 bg_attack s3 stuff "$S3" "$CHROME"; A3=$ATTACK_PID
wait_sent s3 2 || fail "the stuffing did not reach its 2nd attempt"
T_STOP=$(now)
stop_redis
T_DOWN=$(now) AT_DOWN=$(sent s3)
echo "  Redis stopped (SIGTERM) at attempt $AT_DOWN of the stuffing ($S3), $(ms_since "$T_STOP" "$T_DOWN") ms to shut down"
check "  the stuffing was not stopped yet (no refusal in its $AT_DOWN attempts)" \
  test "$(awk '$4 == 1' "$TMP/s3.att" | wc -l)" = 0
bg_attack sc3 scan "$SC3" "$SAFARI"; A3S=$ATTACK_PID
for k in $(cat "$TMP/before.keys"); do
  check "during the outage: $k (decided before) enforced by the three edges and nginx" enforced "$k"
done
check "during the outage: a new address is served by all three (200)" \
  sh -c "for u in ${FLEET[*]}; do [ \"\$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: $FRESH' \$u/health)\" = 200 ] || exit 1; done"
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST "$EC/v1/decisions" \
    -d "{\"key\":\"ip:$M2\",\"action\":\"block\",\"duration\":\"10m\"}")
check "during the outage: a manual block of $M2 through edge C's API (201)" test "$c" = 201
check "  refused by nginx C at once" refused "$NC" "$M2"
while [ "$(ms_since "$T_DOWN" | cut -d. -f1)" -lt 2500 ]; do sleep 0.05; done
for i in 0 1 2; do
  e=${EDGES[i]}
  err=$(( $(metric "$e" rampart_cluster_forward_errors_total) - ${ERR0[$e]} ))
  buf=$(metric "$e" rampart_cluster_buffer_events)
  check "edge ${i}: counts the events it could not forward ($err) and holds them ($buf buffered)" \
    test "$err" -gt 0 -a "$buf" -gt 0
done
AT_UP=$(sent s3) AT_UPS=$(sent sc3)
DURING3=$(awk -v t="$T_DOWN" '$4 == 1 && $5 >= t' "$TMP/s3.att" | wc -l)
DURING3S=$(awk -v t="$T_DOWN" '$4 == 1 && $5 >= t' "$TMP/sc3.att" | wc -l)
check "fail open: no attempt refused during the outage (stuffing $((AT_UP - AT_DOWN)) attempts, scanner $AT_UPS requests)" \
  test "$DURING3" = 0 -a "$DURING3S" = 0 -a "$AT_UP" -gt "$AT_DOWN"
restart_redis "${REDIS_OPTS[@]}"; T_UP=$(now)
DOWN_MS=$(ms_since "$T_STOP" "$T_UP")
AFTER_LOAD=$(rcli HLEN rampart:decisions)
echo "  Redis started again $DOWN_MS ms after its SIGTERM; it loaded $AFTER_LOAD decisions from its AOF"
check "Redis came back with the $BEFORE decisions it held" test "$AFTER_LOAD" -ge "$BEFORE"
T_M2=""
for _ in $(seq 1 1000); do
  refused "$NA" "$M2" && refused "$NB" "$M2" && { T_M2=$(now); break; }
  sleep 0.01
done
check "edge C's block made during the outage reaches nginx A and B" test -n "$T_M2"
end_attack s3 "$A3" 20
STOP3=$(ms_since "$T_UP" "$STOPPED_T") ATT3=$(IFS=/; echo "${FIRST[*]}")
echo "  the stuffing stopped on nginx A, B, C at attempts ${FIRST[*]} ($SENT sent): $STOP3 ms after Redis returned"
check "the stuffing under way at the outage is stopped on all three nginx" all_stopped
end_attack sc3 "$A3S" 20
STOP3S=$(ms_since "$T_UP" "$STOPPED_T")
echo "  the scanner started during the outage stopped on A, B, C at requests ${FIRST[*]} ($SENT sent): $STOP3S ms after Redis returned"
check "the scanner started during the outage is stopped on all three nginx" all_stopped
M2_MS=$(ms_since "$T_UP" "$T_M2")
echo "  edge C's block on A and B $M2_MS ms after Redis returned"
for k in $(cat "$TMP/before.keys"); do
  check "no decision lost: $k in Redis" test -n "$(rcli HGET rampart:decisions "$k")"
  check "  and enforced by the three edges and nginx" enforced "$k"
done
for k in "$M2" "$S3" "$SC3"; do
  check "the decision on $k (made during/after the outage) is in Redis" \
    test -n "$(rcli HGET rampart:decisions "ip:$k")"
  check "  and enforced by the three edges and nginx" enforced "ip:$k"
done
AFTER=$(rcli HLEN rampart:decisions)
for i in 0 1 2; do
  e=${EDGES[i]}
  for _ in $(seq 1 100); do [ "$(metric "$e" rampart_cluster_buffer_events)" = 0 ] && break; sleep 0.05; done
  b=$(metric "$e" rampart_cluster_events_buffered_total) r=$(metric "$e" rampart_cluster_buffer_replayed_total)
  check "edge $i replayed its buffer ($b buffered, $r replayed, none dropped, reconnected)" \
    test "$b" = "$r" -a "$(metric "$e" rampart_cluster_buffer_dropped_total)" = 0 \
    -a "$(metric "$e" rampart_cluster_buffer_events)" = 0 -a "$(metric "$e" rampart_cluster_reconnects_total)" -ge 1
done
ACTIVE=""
for d in d1 d2; do
  u=$D1; [ $d = d2 ] && u=$D2
  [ "$(metric "$u" rampart_cluster_detector_active)" = 1 ] && ACTIVE="$ACTIVE$d"
done
echo "  after the outage the active detector is: ${ACTIVE:-none}"
check "exactly one detector active after the outage" test "$ACTIVE" = d1 -o "$ACTIVE" = d2

echo "4. nothing pending, legitimate clients untouched"
sleep 0.3 # the last events of the legitimate clients
for _ in $(seq 1 160); do # claim_idle_ms 3000 + a claim period, should the lease have moved
  [ "$(lag_and_pending)" = "0 0" ] && break; sleep 0.05
done
read -r PEND LAG < <(lag_and_pending)
paste - - < "$TMP/groups" | sed 's/^/    /'
check "every event the edges wrote was read and acknowledged (XPENDING $PEND, lag $LAG)" \
  test "$PEND" = 0 -a "$LAG" = 0
legit_verdict " through both faults"
check "no daemon logged an error (warnings about the outage only)" \
  sh -c "! grep -E '^[^ ]+ error ' $TMP/d1.log $TMP/d2.log $TMP/ea.log $TMP/eb.log $TMP/ec.log"
for n in a b c; do
  check "nginx $n: no worker died" test "$(grep -c 'exited on signal' "$TMP/ng-$n/error.log")" = 0
done
echo "SUMMARY takeover=${TAKEOVER}ms kill_to_stopped=${STOP2}ms attempts=$ATT2 inflight=$INFLIGHT claimed=$CLAIMED claim_ms=${CLAIM_MS}" \
     "redis_down=${DOWN_MS}ms up_to_stuffing_stopped=${STOP3}ms attempts=$ATT3 up_to_scanner_stopped=${STOP3S}ms" \
     "up_to_manual_block_everywhere=${M2_MS}ms" \
     "decisions before_outage=$BEFORE after_restart=$AFTER_LOAD after=$AFTER lost=0"
echo "cluster_nginx_faults: ok"
