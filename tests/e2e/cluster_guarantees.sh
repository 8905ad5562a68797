#!/usr/bin/env bash
# Fleet mode on Redis: the guarantees of issue 12 that the other cluster_*
# scripts do not prove with values (docs/cluster-requirements.md lists
# every requirement and the script and check line that proves it).
# A redis-server on loopback with a password (requirepass, AOF in $TMP),
# one detector, edges A, B, C and D (D with a 1 MiB outage buffer), every
# node with cluster.password_file; A, the host that floods, with
# cluster.stream_maxlen 1000 (the smallest allowed, so that its flood
# meets it).
#   1. a stalled edge (C frozen with SIGSTOP, events waiting on its socket)
#      slows no other: a scanner through A and B is blocked on both, and 20
#      manual blocks through A are enforced by B within 100 ms (p50/p99
#      printed); C resumed catches up on every decision and forwards its
#      events;
#   2. a flood from one host (edge A, rounds of 50,000 events as fast as
#      `rampart send` goes) is bounded by the stream trimming: XLEN sampled during
#      the flood never passes stream_maxlen + one node, the trimmed entries
#      are counted in /metrics (entries written - entries trimmed = XLEN,
#      exactly), and 10 manual blocks through B are still enforced by C
#      within 100 ms while it lasts;
#   3. an edge restarted with an empty store loads the fleet's 100,000
#      decisions (written into Redis here) before it reports ready: all
#      enforced at once after ready (load time printed); an edge with the
#      default table refuses what does not fit, counts it and says so in
#      one log line;
#   4. Redis stopped: the edges keep enforcing and answering; edge D counts
#      every event it could not forward (forward_errors), keeps 1 MiB of
#      them and counts the rest as dropped (buffered = kept + dropped);
#      Redis back: D replays exactly what it kept, none refused while Redis
#      loads its AOF (LOADING: kept and retried, each node saying so once),
#      the detector consumes it, and no decision is lost (HLEN as before,
#      still enforced);
#   5. a swarm (trafficgen's distributed stuffing) dealt round-robin over
#      edges B, C and D is one swarm on the detector (all its members), and
#      its decisions are in every edge's table;
#   6. the password is in no log (a node refused for a wrong password
#      included), no API answer of any node (every GET endpoint, with and
#      without the token, error answers) and no command line.
# Everything on 127.0.0.1 free ports, started here and stopped by PID;
# ~30 s on 2 shared cores. KEEP_TMP=1 keeps the files.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is required (Debian redis-server)"
command -v curl >/dev/null || fail "curl is required"
if [ -n "${KEEP_TMP:-}" ]; then trap 'for p in $CLEANUP_PIDS; do kill -KILL "$p" 2>/dev/null || true; done; echo "kept $TMP" >&2' EXIT; fi

metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
# metric_sum URL NAME [TEXT]: the sum of a labelled metric's series (those with TEXT)
metric_sum() {
  curl -s "$1/metrics" | awk -v m="$2{" -v t="${3:-}" 'index($1, m) == 1 && index($1, t) { s += $2 } END { printf "%d\n", s }'
}
queue_dropped() { metric_sum "$1" rampart_events_dropped_total 'reason="queue_full"'; }
status() { curl -s -o /dev/null -w '%{http_code}' "$1/v1/check?ip=$2"; }
is() { [ "$(status "$1" "$2")" = "$3" ]; }
wait_for() { # wait_for MS COMMAND...: until the command succeeds (polled every 10 ms)
  local t0=$EPOCHREALTIME; local ms=$1; shift
  while :; do
    "$@" && return 0
    awk -v a="$t0" -v b="$EPOCHREALTIME" -v ms="$ms" 'BEGIN { exit !((b - a) * 1000 > ms) }' && return 1
    sleep 0.01
  done
}
# propagation FROM TO N BASE: N manual blocks of BASE.1..N through FROM's API,
# each timed from the API's answer (201) to TO's first 403 on /v1/check,
# polled every ms over one kept-alive connection (one light process, so
# that the poller itself does not load the 2 shared cores); sets P50, P99
# (the largest of N <= 100) and MISSED (not enforced within 2 s).
propagation() {
  local out
  out=$(TOKEN=$TOKEN python3 - "$@" <<'PY'
import http.client, json, os, sys, time
src, dst, n, base = sys.argv[1][7:], sys.argv[2][7:], int(sys.argv[3]), sys.argv[4]
auth = {"Authorization": "Bearer " + os.environ["TOKEN"]}
a, b = http.client.HTTPConnection(src, timeout=5), http.client.HTTPConnection(dst, timeout=5)
lat, missed = [], 0
for i in range(1, n + 1):
    ip = "%s.%d" % (base, i)
    a.request("POST", "/v1/decisions", json.dumps({"key": "ip:" + ip, "action": "block", "duration": "10m"}), auth)
    r = a.getresponse(); r.read()
    if r.status != 201: sys.exit("POST %s: %d" % (ip, r.status))
    t0 = time.monotonic()
    while True:
        b.request("GET", "/v1/check?ip=" + ip); r = b.getresponse(); r.read()
        dt = (time.monotonic() - t0) * 1000
        if r.status == 403: lat.append(dt); break
        if dt > 2000: missed += 1; break
        time.sleep(0.001)
lat.sort()
print("%.1f %.1f %d" % (lat[(len(lat) - 1) // 2] if lat else -1, lat[-1] if lat else -1, missed))
PY
) || fail "propagation $*: $out"
  read -r P50 P99 MISSED <<<"$out"
}
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }

# --- Redis with a password, the fleet -----------------------------------------
PASS="fleet-$(head -c 12 /dev/urandom | base64 | tr -d '\n/+=')"
# redis-cli takes it from its environment (never on a command line), and
# only redis-cli: the daemons must not inherit it (their environ is searched)
rcli() { REDISCLI_AUTH=$PASS redis-cli -p "$REDIS_PORT" "$@"; }
REDIS_OPTS=(--requirepass "$PASS" --appendonly yes --stream-node-max-entries 100)
start_redis "${REDIS_OPTS[@]}"
check "redis-server (requirepass, appendonly) is up on 127.0.0.1:$REDIS_PORT" test "$(rcli ping)" = PONG
check "  and refuses a client without the password" \
  sh -c "redis-cli -p $REDIS_PORT set x 1 2>&1 | grep -q NOAUTH"
printf '%s\n' "$PASS" > "$TMP/redis.pass"; chmod 600 "$TMP/redis.pass"
MAXLEN=1000
# serve.table_capacity 524288: the decision table wants 4x the live decisions
# (docs/decision-table.md#sizing), and section 3 gives the fleet 100,000.
conf() { # conf ROLE [extra lines]
  printf 'serve:\n  table_capacity: 524288\ncluster:\n  redis: 127.0.0.1:%s\n  role: %s\n  password_file: %s\n%s' \
    "$REDIS_PORT" "$1" "$TMP/redis.pass" "${2:-}"
}
conf detector > "$TMP/det.yaml"
conf edge > "$TMP/edge.yaml"
# A, the host that floods, trims the stream to 1000 entries (an edge trims
# the shared stream after each of its round trips: the others, quiet
# during the flood, do not undo it; and their traffic in section 5 is not
# trimmed away before the detector reads it)
conf edge "  stream_maxlen: $MAXLEN
" > "$TMP/edge-a.yaml"
conf edge "  buffer_mb: 1
" > "$TMP/edge-d.yaml"
check "check-config accepts the files" sh -c "'$RAMPART' check-config '$TMP/det.yaml' > '$TMP/check.out' 2>&1 && '$RAMPART' check-config '$TMP/edge-d.yaml' >> '$TMP/check.out' 2>&1"
make_token
TOKEN=$(cat "$TMP/token")
start_serve det --config "$TMP/det.yaml"; DET=$ADMIN; DET_PID=$SERVE_PID
start_serve ea --config "$TMP/edge-a.yaml"; EA=$ADMIN; EA_PID=$SERVE_PID
start_serve eb --config "$TMP/edge.yaml"; EB=$ADMIN; EB_PID=$SERVE_PID
start_serve ec --config "$TMP/edge.yaml"; EC=$ADMIN; EC_PID=$SERVE_PID
start_serve ed --config "$TMP/edge-d.yaml"; ED=$ADMIN; ED_PID=$SERVE_PID
NODES=("$DET" "$EA" "$EB" "$EC" "$ED")
# forwarder or reader, mirror, publisher (and the incident mirror, when up)
conns() { [ "$(metric "$1" rampart_cluster_connections)" -ge 3 ]; }
for n in "${NODES[@]}"; do
  wait_for 5000 conns "$n" || true
  check "$n is connected to Redis with the password ($(metric "$n" rampart_cluster_connections) connections >= 3)" conns "$n"
done

echo "1. a stalled edge slows no other"
kill -STOP "$EC_PID"
stopped() { [ "$(awk '{ print $3 }' "/proc/$EC_PID/stat")" = T ]; }
check "edge C is stopped (SIGSTOP)" wait_for 1000 stopped
SCAN1=198.51.100.61
scan_log "$SCAN1" 200 > "$TMP/scan1.log"
head -n 100 "$TMP/scan1.log" > "$TMP/scan1-a.log"; tail -n 100 "$TMP/scan1.log" > "$TMP/scan1-b.log"
scan_log 198.51.100.99 100 > "$TMP/scan-c.log"
# C's socket takes a few datagrams and then the sender waits: C's host is stuck
timeout 30 "$RAMPART" send --socket "$TMP/ec.sock" --now "$TMP/scan-c.log" > /dev/null 2>&1 &
SEND_C=$!
fwd_a0=$(metric "$EA" rampart_cluster_events_forwarded_total)
t0=$EPOCHREALTIME
"$RAMPART" send --socket "$TMP/ea.sock" --now "$TMP/scan1-a.log"
"$RAMPART" send --socket "$TMP/eb.sock" --now "$TMP/scan1-b.log"
blocked_ab() { is "$EA" "$SCAN1" 403 && is "$EB" "$SCAN1" 403; }
check "a scanner through A and B is blocked on both while C is stalled" wait_for 5000 blocked_ab
echo "  scanner sent -> blocked on A and B: $(ms_since "$t0") ms"
check "  A forwarded its 100 events" test "$(( $(metric "$EA" rampart_cluster_events_forwarded_total) - fwd_a0 ))" = 100
propagation "$EA" "$EB" 20 100.64.1
echo "  manual block on A -> enforced on B, C stalled (20 blocks): p50 $P50 ms, p99 $P99 ms, missed $MISSED"
check "  all 20 enforced on B, p99 <= 100 ms" sh -c "[ $MISSED = 0 ] && awk 'BEGIN { exit !($P99 <= 100) }'"
t0=$EPOCHREALTIME
kill -CONT "$EC_PID"
caught_up() {
  is "$EC" "$SCAN1" 403 || return 1
  local i; for i in $(seq 1 20); do is "$EC" "100.64.1.$i" 403 || return 1; done
}
check "C resumed enforces the scanner's block and the 20 manual blocks" wait_for 3000 caught_up
echo "  C resumed -> has all 21 decisions: $(ms_since "$t0") ms"
wait "$SEND_C" || fail "rampart send to C failed"
fwd_c() { [ "$(metric "$EC" rampart_cluster_events_forwarded_total)" = 100 ]; }
check "  and forwards the 100 events that waited on its socket" wait_for 3000 fwd_c

echo "2. a flood from one host, bounded by the stream trimming"
scan_log 192.0.2.200 50000 > "$TMP/flood.log"
recv_a0=$(metric_sum "$EA" rampart_events_received_total)
drop_a0=$(queue_dropped "$EA")
fwd_a0=$(metric "$EA" rampart_cluster_events_forwarded_total)
rm -f "$TMP/flood.done" "$TMP/flood.stop"
( r=0 # 50,000 events a round, until the blocks below are timed (40 rounds at most)
  while [ ! -e "$TMP/flood.stop" ] && [ $r -lt 40 ]; do
    "$RAMPART" send --socket "$TMP/ea.sock" --now "$TMP/flood.log" >> "$TMP/flood.out" 2>&1 || exit 1
    r=$((r + 1))
  done; echo "$r" > "$TMP/flood.done" ) &
FLOOD_PID=$!
: > "$TMP/xlen"
( while [ ! -e "$TMP/flood.done" ]; do rcli XLEN rampart:events >> "$TMP/xlen"; sleep 0.02; done ) &
SAMPLER=$!
t0=$EPOCHREALTIME
sleep 0.3 # the flood is under way
# The detector falls behind (frozen 0.5 s): A's trimming removes entries the
# group has not read, which the detector counts once it has caught up.
kill -STOP "$DET_PID"; sleep 0.5; kill -CONT "$DET_PID"
propagation "$EB" "$EC" 10 100.64.2
touch "$TMP/flood.stop"
wait "$FLOOD_PID" || fail "the flood's rampart send failed"
FLOOD_N=$(( $(cat "$TMP/flood.done") * 50000 ))
echo "  flood of $FLOOD_N events through A: $(ms_since "$t0") ms of sending"
wait "$SAMPLER" || true
recv_a=$(( $(metric_sum "$EA" rampart_events_received_total) - recv_a0 ))
fwd_done() { # every event A received was forwarded or counted as dropped
  local f d
  f=$(( $(metric "$EA" rampart_cluster_events_forwarded_total) - fwd_a0 ))
  d=$(( $(queue_dropped "$EA") - drop_a0 ))
  [ $((f + d)) -ge "$FLOOD_N" ]
}
check "A forwarded the flood (or counted what its queue dropped)" wait_for 10000 fwd_done
fwd_a=$(( $(metric "$EA" rampart_cluster_events_forwarded_total) - fwd_a0 ))
drop_a=$(( $(queue_dropped "$EA") - drop_a0 ))
echo "  during the flood, manual block on B -> enforced on C (10 blocks): p50 $P50 ms, p99 $P99 ms, missed $MISSED"
check "  all 10 enforced on C, p99 <= 100 ms" sh -c "[ $MISSED = 0 ] && awk 'BEGIN { exit !($P99 <= 100) }'"
max_xlen=$(sort -n "$TMP/xlen" | tail -1)
xlen=$(rcli XLEN rampart:events)
entries=0; trimmed=0
for e in "$EA" "$EB" "$EC" "$ED"; do
  entries=$((entries + $(metric "$e" rampart_cluster_forward_entries_total)))
  trimmed=$((trimmed + $(metric "$e" rampart_cluster_stream_trimmed_total)))
done
used=$(rcli INFO memory | awk -F: '$1 == "used_memory" { print $2 + 0 }')
echo "  A received $recv_a, forwarded $fwd_a, its queue dropped $drop_a; $(metric "$EA" rampart_cluster_stream_trimmed_total) entries trimmed by A;" \
     "XLEN sampled $(wc -l < "$TMP/xlen") times, at most $max_xlen, now $xlen; Redis used_memory $((used / 1024)) KiB"
check "A's trimming is counted in /metrics (rampart_cluster_stream_trimmed_total > 0)" \
  test "$(metric "$EA" rampart_cluster_stream_trimmed_total)" -gt 0
check "  the stream never held more than stream_maxlen + one node (+ one pop in flight per edge): $max_xlen <= $((MAXLEN + 100 + 64))" \
  test "$max_xlen" -le $((MAXLEN + 100 + 64))
check "  and holds at most stream_maxlen + one node now: $xlen <= $((MAXLEN + 100))" test "$xlen" -le $((MAXLEN + 100))
check "  every entry is accounted for: written $entries - trimmed $trimmed = XLEN $xlen" test $((entries - trimmed)) = "$xlen"
check "  every event A received was forwarded or counted: $fwd_a + $drop_a = $recv_a" test $((fwd_a + drop_a)) = "$recv_a"
check "  Redis's memory stays small (< 64 MiB) after $FLOOD_N events" test "$used" -lt $((64 << 20))
check "  the detector still blocks the flooding address on A and B" wait_for 5000 sh -c "[ \$(curl -s -o /dev/null -w '%{http_code}' '$EA/v1/check?ip=192.0.2.200') = 403 ]"
# Once the group has read to the stream's end, Redis's lag for it is what
# was trimmed unread since it was made (docs/cluster-requirements.md,
# finding 5): the detector's counter says the same.
group_lag() { rcli XINFO GROUPS rampart:events | awk 'prev == "lag" { print; exit } { prev = $0 }'; }
trimmed_unread() { metric "$DET" rampart_cluster_entries_trimmed_unread_total; }
counted_lag() { [ "$(group_lag)" -gt 0 ] && [ "$(trimmed_unread)" = "$(group_lag)" ]; }
wait_for 10000 counted_lag || true
check "  the detector counts the entries trimmed before it read them ($(trimmed_unread) = the group's lag in Redis, $(group_lag))" \
  counted_lag
TRIMMED_UNREAD=$(trimmed_unread)

echo "3. an edge restarted loads the fleet's 100,000 decisions before it reports ready"
BIG=100000
now_us=$(date +%s%6N); exp_us=$((now_us + 3600 * 1000000)); exp_ms=$((exp_us / 1000))
# RESP for redis-cli --pipe: HSET of each decision and its ZADD in the expiry set
awk -v n="$BIG" -v s="$now_us" -v x="$exp_us" -v xms="$exp_ms" 'function bulk(a) { printf "$%d\r\n%s\r\n", length(a), a }
  BEGIN { for (i = 1; i <= n; i++) {
    k = sprintf("ip:10.%d.%d.%d", int(i / 65536), int(i / 256) % 256, i % 256)
    printf "*4\r\n"; bulk("HSET"); bulk("rampart:decisions"); bulk(k); bulk(sprintf("3 %s %s 0 1", s, x))
    printf "*4\r\n"; bulk("ZADD"); bulk("rampart:decisions:expiry"); bulk(xms); bulk(k) } }' \
  > "$TMP/big.resp"
rcli --pipe < "$TMP/big.resp" > "$TMP/pipe.out" 2>&1 || { cat "$TMP/pipe.out"; fail "redis-cli --pipe"; }
hlen=$(rcli HLEN rampart:decisions)
check "Redis holds the $BIG decisions and the fleet's (HLEN $hlen)" test "$hlen" -ge $BIG
stop_serve "$EB_PID"
rm -f "$TMP/eb.db" "$TMP/eb.db-wal" "$TMP/eb.db-shm" # nothing from its own store
rcli CONFIG RESETSTAT > /dev/null; rcli SLOWLOG RESET > /dev/null
t0=$EPOCHREALTIME
start_serve eb --config "$TMP/edge.yaml"; EB=$ADMIN; EB_PID=$SERVE_PID
t_ready=$(ms_since "$t0")
check "at once after ready: the first, a middle and the last of them are enforced (403)" \
  sh -c "[ '$(status "$EB" 10.0.0.1)$(status "$EB" 10.0.195.80)$(status "$EB" 10.1.134.160)' = 403403403 ]"
check "  and the decisions made before (the scanner, a manual block)" \
  sh -c "[ '$(status "$EB" "$SCAN1")$(status "$EB" 100.64.1.20)' = 403403 ]"
active=$(metric "$EB" rampart_decision_table_active)
check "  its table holds all $hlen (rampart_decision_table_active $active)" test "$active" = "$hlen"
loaded=$(grep -o '[0-9]* active fleet decisions loaded' "$TMP/eb.log" | tail -1 | cut -d' ' -f1)
check "  its log says $loaded loaded" test "$loaded" = "$hlen"
# In pages (HSCAN ... COUNT 1000), never one HGETALL of the whole set: Redis
# answers the other clients between pages.
cmdstat() { rcli INFO commandstats | tr -d '\r' | awk -F'[:,=]' -v c="cmdstat_$1" '$1 == c { print $3 }'; }
hscans=$(cmdstat hscan)
check "  loaded in pages: $hscans HSCANs (>= $((hlen / 1000))), no HGETALL" \
  sh -c "[ '${hscans:-0}' -ge $((hlen / 1000)) ] && [ -z '$(cmdstat hgetall)' ]"
echo "  Redis's slowest commands meanwhile (SLOWLOG, > 10 ms): $(rcli SLOWLOG GET 3 | awk 'NR % 6 == 3 { printf "%s us ", $1 } NR % 6 == 4 { printf "%s; ", $1 }')"
echo "  edge restarted with an empty store -> ready with $hlen fleet decisions: $t_ready ms (start_serve polls every 50 ms);" \
     "its log: $(grep -o '[0-9]* active fleet decisions loaded ([0-9]* ms)' "$TMP/eb.log" | tail -1)"
# The same load into the default table (65,536 slots, ~16,000 decisions
# comfortably): what does not fit is refused, counted, and said in one line
# that names the key to raise (docs/cluster-requirements.md, finding 3).
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n  password_file: %s\n' "$REDIS_PORT" "$TMP/redis.pass" > "$TMP/edge-small.yaml"
start_serve es --config "$TMP/edge-small.yaml"; ES_PID=$SERVE_PID
s_active=$(metric "$ADMIN" rampart_decision_table_active); s_full=$(metric "$ADMIN" rampart_decision_table_full_total)
s_mirrored=$(metric "$ADMIN" rampart_cluster_decisions_mirrored_total)
S_LINE="cluster mirror: loaded $s_active of $hlen active fleet decisions; $s_full refused: the decision table is full, raise serve.table_capacity (65536 slots now): see docs/cluster.md#sizing-the-decision-table"
echo "  an edge with the default serve.table_capacity (65,536): $s_active enforced, $s_full refused, $s_mirrored counted as mirrored;" \
     "its log: $(grep -c ' error ' "$TMP/es.log") error line(s), '$(grep -o 'loaded [0-9]* of [0-9]* active fleet decisions; [0-9]* refused' "$TMP/es.log")'," \
     "'$(grep -o '[0-9]* active fleet decisions loaded' "$TMP/es.log")'"
check "  there, every decision is enforced or counted as refused: $s_active + $s_full = $hlen" test $((s_active + s_full)) = "$hlen"
check "  some were refused ($s_full > 0), and counted as mirrored only those enforced ($s_mirrored)" \
  test "$s_full" -gt 0 -a "$s_mirrored" = "$s_active"
check "  its log says so in one error line: '$S_LINE'" \
  test "$(grep -c ' error ' "$TMP/es.log")" = 1 -a "$(grep -cF "Z error cluster mirror: loaded $s_active of $hlen" "$TMP/es.log")" = 1 -a "$(grep -cF "$S_LINE" "$TMP/es.log")" = 1
check "  and its info line counts the $s_active loaded, not $hlen" grep -q "[^0-9]$s_active active fleet decisions loaded" "$TMP/es.log"
stop_serve "$ES_PID"

echo "4. Redis unreachable: the edges keep enforcing, D counts what it could not forward"
OUT_N=20000
scan_log 192.0.2.201 "$OUT_N" > "$TMP/outage.log"
err0=$(metric "$ED" rampart_cluster_forward_errors_total)
buf0=$(metric "$ED" rampart_cluster_events_buffered_total)
con0=$(metric "$DET" rampart_cluster_events_consumed_total)
rcli HKEYS rampart:decisions | sort > "$TMP/keys.before"
stop_redis
check "A, B and C keep enforcing (scanner, a manual block, one of the 50,000) and answering" \
  sh -c "[ '$(status "$EA" "$SCAN1")$(status "$EB" 100.64.1.1)$(status "$EB" 10.0.0.7)$(status "$EA" 192.0.2.10)' = 403403403204 ]"
"$RAMPART" send --socket "$TMP/ed.sock" --now "$TMP/outage.log"
errs() { [ "$(( $(metric "$ED" rampart_cluster_forward_errors_total) - err0 ))" = "$OUT_N" ]; }
check "D counts all $OUT_N events it could not forward (rampart_cluster_forward_errors_total)" wait_for 5000 errs
buffered=$(( $(metric "$ED" rampart_cluster_events_buffered_total) - buf0 ))
kept=$(metric "$ED" rampart_cluster_buffer_events)
bytes=$(metric "$ED" rampart_cluster_buffer_bytes)
dropped=$(metric "$ED" rampart_cluster_buffer_dropped_total)
echo "  D: $buffered buffered, $kept kept in $bytes bytes, $dropped dropped (buffer_mb 1)"
check "  it kept what fits in 1 MiB ($bytes bytes) and counted the rest as dropped" \
  test "$bytes" -le $((1 << 20)) -a "$dropped" -gt 0 -a "$kept" -gt 0
check "  buffered $buffered = kept $kept + dropped $dropped" test "$buffered" = $((kept + dropped))
restart_redis "${REDIS_OPTS[@]}"
t0=$EPOCHREALTIME
replayed() { [ "$(metric "$ED" rampart_cluster_buffer_replayed_total)" = "$kept" ] && [ "$(metric "$ED" rampart_cluster_buffer_events)" = 0 ]; }
check "Redis back: D replays exactly the $kept events it kept" wait_for 10000 replayed
# While Redis still loads its AOF it answers LOADING: "not now", never
# "no" -- the forwarder keeps those events and sends them again once
# Redis serves (docs/cluster-requirements.md, finding 1): none refused,
# none dropped, every kept event consumed.
sleep 0.5
refused=$(( $(metric "$ED" rampart_cluster_forward_errors_total) - err0 - OUT_N ))
# at least once: the detector also reads again the batch it had not yet
# acknowledged when Redis stopped (its pending list), hence >=
consumed() { [ "$(( $(metric "$DET" rampart_cluster_events_consumed_total) - con0 ))" -ge "$kept" ]; }
check "  and the detector consumes all $kept" wait_for 10000 consumed
echo "  Redis back -> D's buffer replayed: $(ms_since "$t0") ms; $refused of the $kept replayed events refused;" \
     "the detector consumed $(( $(metric "$DET" rampart_cluster_events_consumed_total) - con0 )) events since the stop;" \
     "D's not-ready replies (LOADING): $(metric "$ED" rampart_cluster_redis_not_ready_total)"
check "  none of them refused by Redis while it loaded its AOF (forward_errors grew by the $OUT_N of the outage alone: +$refused)" \
  test "$refused" = 0
NOT_READY=$(for n in "$DET" "$EA" "$EB" "$EC" "$ED"; do printf '%s ' "$(metric "$n" rampart_cluster_redis_not_ready_total)"; done)
drained() { [ "$(rcli XPENDING rampart:events rampart-detectors | head -1)" = 0 ]; }
check "  and acknowledged everything (XPENDING 0)" wait_for 5000 drained
# once the detector has sampled the restarted Redis (its run_id noted)
sampled_restarted() {
  [ "$(rcli HGET rampart:events:trimmed rampart-detectors:run)" = "$(rcli INFO server | tr -d '\r' | awk -F: '$1 == "run_id" { print $2 }')" ]
}
check "  the detector sampled the restarted Redis's lag" wait_for 5000 sampled_restarted
check "  the count of entries trimmed unread survives Redis's restart ($TRIMMED_UNREAD; Redis's lag now $(group_lag))" \
  test "$(trimmed_unread)" = "$TRIMMED_UNREAD"
rcli HKEYS rampart:decisions | sort > "$TMP/keys.after"
check "no decision lost: Redis's hash has the $(wc -l < "$TMP/keys.before") it held before (now $(wc -l < "$TMP/keys.after"): the replayed scanner's may be new)" \
  test -z "$(comm -23 "$TMP/keys.before" "$TMP/keys.after")"
check "  and A, B, C, D enforce the scanner, a manual block and one of the 50,000 (after their resync)" \
  wait_for 10000 sh -c "for e in $EA $EB $EC $ED; do [ \"\$(curl -s -o /dev/null -w '%{http_code}' \$e/v1/check?ip=$SCAN1)\$(curl -s -o /dev/null -w '%{http_code}' \$e/v1/check?ip=100.64.2.5)\$(curl -s -o /dev/null -w '%{http_code}' \$e/v1/check?ip=10.0.100.100)\" = 403403403 ] || exit 1; done"

echo "5. a swarm spread over three hosts is one swarm"
# trafficgen's distributed stuffing (200 addresses in a few /24s, one header
# fingerprint), its events dealt round-robin to edges B, C and D (each host
# sees a third of every member's requests), at 8,000 events/s each. What
# to expect is computed from the input.
"$TRAFFICGEN" --seed 7 --format json --attacks distributed_stuffing --duration 600 \
  --out "$TMP/swarm.jsonl" --labels "$TMP/swarm-labels.tsv"
SW_N=$(wc -l < "$TMP/swarm.jsonl")
python3 - "$TMP" <<'PY' > "$TMP/swarm.expect"
import json, sys
t = sys.argv[1]
attackers = {l.split("\t")[0] for l in open(t + "/swarm-labels.tsv") if l.split("\t")[1:2] == ["attack"]}
ev = [json.loads(l) for l in open(t + "/swarm.jsonl")]
fps = {(e["http_user_agent"], e["header_names"]) for e in ev if e["remote_addr"] in attackers}
members = {e["remote_addr"] for e in ev if (e["http_user_agent"], e["header_names"]) in fps}
outs = [open("%s/swarm-%d.jsonl" % (t, h), "w") for h in range(3)]
for i, l in enumerate(open(t + "/swarm.jsonl")): outs[i % 3].write(l)
print(len(fps), len(members), sorted(attackers)[0])
PY
read -r SW_FPS SW_MEMBERS SW_ONE < "$TMP/swarm.expect"
check "the input: $SW_N events, the attackers share $SW_FPS fingerprint, $SW_MEMBERS addresses with it" \
  test "$SW_FPS" = 1 -a "$SW_MEMBERS" -ge 100
con0=$(metric "$DET" rampart_cluster_events_consumed_total)
pids=""
for n in 0 1 2; do
  h=$(cut -c$((n + 1)) <<<bcd)
  "$RAMPART" send --quiet --rate 8000 --socket "$TMP/e$h.sock" --now "$TMP/swarm-$n.jsonl" &
  pids="$pids $!"
done
for p in $pids; do wait "$p" || fail "rampart send of the swarm failed"; done
all_read() { [ "$(( $(metric "$DET" rampart_cluster_events_consumed_total) - con0 ))" -ge "$SW_N" ]; }
wait_for 10000 all_read || true
echo "  the detector consumed $(( $(metric "$DET" rampart_cluster_events_consumed_total) - con0 )) events;" \
     "the edges: $(for e in "$EB" "$EC" "$ED"; do printf '%s forwarded, %s errors, %s buffered; ' \
       "$(metric "$e" rampart_cluster_events_forwarded_total)" "$(metric "$e" rampart_cluster_forward_errors_total)" \
       "$(metric "$e" rampart_cluster_buffer_events)"; done)"
check "the detector consumed the $SW_N events from the three edges (B, C, D)" all_read
check "  exactly them (none trimmed before it read them)" \
  test "$(( $(metric "$DET" rampart_cluster_events_consumed_total) - con0 ))" = "$SW_N"
swarm_json() { # the swarm named by an attacker's incident, from the detector
  python3 - "$DET" "$SW_ONE" <<'PY'
import json, sys, urllib.request
det, one = sys.argv[1], sys.argv[2]
inc = json.load(urllib.request.urlopen(det + "/v1/incidents?key=ip:" + one))["incidents"]
via = [f.get("via") for i in inc for f in i.get("findings", []) if f.get("via")]
if not via: sys.exit(1)
sw = [s for s in json.load(urllib.request.urlopen(det + "/v1/swarms?top=0&limit=100"))["swarms"] if s["key"] == via[0]]
if not sw: sys.exit(1)
print(sw[0]["key"], sw[0]["level"], sw[0]["members"], sw[0]["stopped"])
PY
}
sw=""; for _ in $(seq 1 50); do sw=$(swarm_json 2>/dev/null) && break; sleep 0.1; done
read -r SW_KEY SW_LEVEL SW_GOT SW_STOPPED <<<"${sw:-none none 0 0}"
echo "  the detector's swarm: $SW_KEY ($SW_LEVEL), $SW_GOT members, $SW_STOPPED stopped"
check "an attacker's incident on the detector names one $SW_LEVEL swarm with all $SW_MEMBERS members, though each host saw a third of them" \
  test "$SW_LEVEL" = fingerprint -a "$SW_GOT" = "$SW_MEMBERS"
check "  its members stopped ($SW_STOPPED > 0)" test "$SW_STOPPED" -gt 0
# every decision the detector made on the swarm (its members, its fingerprint)
# is in every edge's table
decision_keys() { curl -s "$1/v1/decisions" | python3 -c '
import json, sys
keys = [d["key"] for d in json.load(sys.stdin)["decisions"]]
print("\n".join(sorted(k for k in keys if k.startswith("fingerprint:") or k in sys.argv[1:])))' $(sed 's/^/ip:/' <<<"$(awk -F'\t' '$2 == "attack" { print $1 }' "$TMP/swarm-labels.tsv" | sort -u)"); }
decision_keys "$DET" > "$TMP/swarm.det"
same_on_edges() { local e; for e in "$EA" "$EB" "$EC" "$ED"; do decision_keys "$e" | cmp -s - "$TMP/swarm.det" || return 1; done; }
check "  it decided on the swarm ($(wc -l < "$TMP/swarm.det") decisions on its members or its fingerprint)" \
  test "$(wc -l < "$TMP/swarm.det")" -gt 0
check "  and every one of them is in the tables of A, B, C and D" wait_for 3000 same_on_edges

echo "6. the password appears in no log, API answer or command line"
printf 'not-%s\n' "$PASS" > "$TMP/wrong.pass"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n  password_file: %s\n' "$REDIS_PORT" "$TMP/wrong.pass" > "$TMP/wrong.yaml"
start_serve ew --config "$TMP/wrong.yaml"; EW_PID=$SERVE_PID
check "a node with a wrong password is refused, and says so in its log" wait_for 5000 grep -q 'AUTH refused' "$TMP/ew.log"
mkdir -p "$TMP/answers"
i=0
NODES=("$DET" "$EA" "$EB" "$EC" "$ED") # B's address changed with its restart
for n in "${NODES[@]}"; do
  for p in /healthz /metrics /v1/stats /v1/config /v1/incidents /v1/incidents/1 /v1/decisions /v1/inventory \
           /v1/check?ip=10.0.0.1 /v1/clients/ip:198.51.100.61 /v1/clients/ip:198.51.100.61/requests \
           /v1/clients/ip:198.51.100.61/related /v1/timeseries?minutes=5 /v1/top?minutes=5 /v1/swarms \
           /v1/no-such-thing /ui/; do
    i=$((i + 1))
    curl -s -i "$n$p" > "$TMP/answers/$i" || fail "GET $n$p"
    i=$((i + 1))
    curl -s -i -H "Authorization: Bearer $TOKEN" "$n$p" > "$TMP/answers/$i"
  done
  i=$((i + 1)) # error answers: a bad body, a bad key, a refused token
  curl -s -i -H "Authorization: Bearer $TOKEN" -X POST "$n/v1/decisions" -d '{"key":' > "$TMP/answers/$i"
  i=$((i + 1))
  curl -s -i -H "Authorization: Bearer $TOKEN" -X DELETE "$n/v1/decisions/nope:1" > "$TMP/answers/$i"
  i=$((i + 1))
  curl -s -i -H "Authorization: Bearer wrong" -X POST "$n/v1/reload" > "$TMP/answers/$i"
done
check "  $i API answers collected, /v1/config shows the password file's path" grep -rqF "$TMP/redis.pass" "$TMP/answers"
for p in "$DET_PID" "$EA_PID" "$EB_PID" "$EC_PID" "$ED_PID" "$EW_PID"; do
  tr '\0' ' ' < "/proc/$p/cmdline" > "$TMP/answers/cmdline.$p"
  tr '\0' '\n' < "/proc/$p/environ" > "$TMP/answers/environ.$p" || true
done
"$RAMPART" check-config "$TMP/wrong.yaml" >> "$TMP/check.out" 2>&1 || true
stop_serve "$EW_PID"; stop_serve "$EA_PID"; stop_serve "$EB_PID"; stop_serve "$EC_PID"; stop_serve "$ED_PID"
stop_serve "$DET_PID"
logs=$(ls "$TMP"/*.log | grep -v -e '/redis.log$' -e '/scan' -e '/flood.log$' -e '/outage.log$' | tr '\n' ' ')
echo "  logs searched: $(for f in $logs; do printf '%s (%s lines) ' "$(basename "$f")" "$(wc -l < "$f")"; done)"
check "the password is in no daemon log, check-config output, API answer, command line or environment" \
  sh -c "! grep -rlF -e '$PASS' $logs '$TMP/check.out' '$TMP/answers'"
# LOADING: Redis replaying its AOF after the restart (section 4). Each node
# says so once (the episode), each of its threads (forwarder or reader,
# mirror, incident mirror, publisher, config watcher) at most once more,
# at warn: no node reconnects in a loop (docs/cluster-requirements.md,
# finding 2: 318-1,237 lines a run before).
echo "  'LOADING' lines while Redis replayed its AOF: $(cat $logs | grep -c LOADING) ($(cat $logs | grep LOADING | grep -c 'Z error ') at level error);" \
     "not-ready replies counted (det, A-D): $NOT_READY"
check "  the fleet met Redis loading (rampart_cluster_redis_not_ready_total > 0 on a node)" \
  test "$(awk '{ for (i = 1; i <= NF; i++) s += $i } END { print s + 0 }' <<<"$NOT_READY")" -gt 0
for f in det ea eb ec ed; do
  check "  $f: the episode logged at most once ($(grep -c 'is not ready (LOADING' "$TMP/$f.log")), LOADING in at most 6 lines ($(grep -c LOADING "$TMP/$f.log"))" \
    test "$(grep -c 'is not ready (LOADING' "$TMP/$f.log")" -le 1 -a "$(grep -c LOADING "$TMP/$f.log")" -le 6
done
# es's one error line is section 3's refusal summary, on purpose
check "no daemon logged an error (but es's summary of its refusals)" no_error_lines --except "$S_LINE" $logs
stop_redis
echo "cluster_guarantees: ok"
