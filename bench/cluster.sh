#!/usr/bin/env bash
# Fleet mode on Redis (docs/cluster.md, issue 12): what the fleet costs.
#
#   bash bench/cluster.sh [EVENTS] [DECISIONS]     (defaults 1000000 and 5000)
#
# Everything on loopback, started here and stopped by PID:
#   1. edge -> Redis: a pre-generated corpus (trafficgen, EVENTS lines) sent
#      with `rampart send` at full speed into one edge (role edge, no
#      detector running); the edge's forwarded counter is sampled every
#      100 ms: events/s over the run and the best second;
#   2. Redis memory per million events in the stream: INFO memory
#      (used_memory) before and after the edge filled it;
#   3. through one detector: the stream holds EVENTS events; the detector
#      starts and reads them through the group; time from its start (and
#      from its ready file) until it has consumed, acknowledged and fed
#      them all to its engine; per-thread CPU of the detector and Redis's
#      CPU during it (where the time goes);
#   4. decision propagation to three edges: 100 manual blocks through edge
#      A's API; time from the API's answer to the first 403 of each edge's
#      /v1/check (three pollers on keep-alive connections, python3);
#   5. Redis memory per active decision: DECISIONS manual blocks through
#      edge A's API (keep-alive), used_memory before and after.
# STOP_AFTER=3 ends after step 3 (the detector's speed alone, for
# interleaved runs of two builds: RAMPART=<build>/rampart); STOP_AFTER=2
# after step 2 (the edge alone).
# PARTITIONS=N: cluster.partitions N on the edge and the detector (which
# then holds all N): step 1 also counts the events copied to aggregate
# streams (docs/cluster.md, "Aggregate streams"), step 3 reads them too.
# FORMAT=json: the corpus as JSON lines (header names, keys, sessions and
# usernames: every aggregate level), combined by default.
# Run it on a quiet machine; 2 cores are shared by sender, edge, Redis and
# detector, which is part of what it measures.
set -euo pipefail
source "$(dirname "$0")/../tests/e2e/lib.sh"
trap 'echo "bench/cluster.sh: failed at line $LINENO" >&2' ERR
N=${1:-1000000}
NDEC=${2:-5000}
command -v redis-server >/dev/null || fail "redis-server is required"
[ -x "$RAMPART" ] || make -s -C "$ROOT" all >/dev/null
TRAFFICGEN=${TRAFFICGEN:-$(dirname "$RAMPART")/trafficgen}
[ -x "$TRAFFICGEN" ] || TRAFFICGEN=$ROOT/build/trafficgen
stop_all() { local p; for p in $CLEANUP_PIDS; do kill -TERM "$p" 2>/dev/null || true; done; sleep 0.3; cleanup; }
trap stop_all EXIT
now() { echo "$EPOCHREALTIME"; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
# A poll that fails (the admin port busy under the flood) reads as nothing
# and is retried: not the end of the bench.
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2; exit }' || true; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" > "$TMP/redis.log" 2>&1 &
REDIS_PID=$!
cleanup_pid "$REDIS_PID"
rcli() { redis-cli -p "$PORT" "$@"; }
for _ in $(seq 1 100); do [ "$(rcli ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
used_memory() { rcli INFO memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)

PARTITIONS=${PARTITIONS:-1}
streams() { # the events' streams (docs/cluster.md, Keys and streams)
  if [ "$PARTITIONS" -le 1 ]; then echo rampart:events; return; fi
  local p; for p in $(seq 0 $((PARTITIONS - 1))); do echo "rampart:events:$p rampart:events:x:$p"; done
}
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n  partitions: %s\n' "$PORT" "$PARTITIONS" > "$TMP/edge.yaml"
{ printf 'inventory:\n  openapi: %s\n' "$ROOT/examples/openapi.yaml"
  printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: detector\n  partitions: %s\n' "$PORT" "$PARTITIONS"
} > "$TMP/detector.yaml"
make_token

echo "corpus: trafficgen --lines $N --format ${FORMAT:-combined}; partitions: $PARTITIONS"
"$TRAFFICGEN" --seed 7 --lines "$N" --format "${FORMAT:-combined}" --out "$TMP/corpus.log"
N=$(wc -l < "$TMP/corpus.log")
echo "  $N lines, $(du -m "$TMP/corpus.log" | cut -f1) MB"

# --- 1. edge -> Redis ---------------------------------------------------------
start_serve ea --config "$TMP/edge.yaml"; EA=$ADMIN; EA_PID=$SERVE_PID
MEM0=$(used_memory)
( while :; do echo "$EPOCHREALTIME $(metric "$EA" rampart_cluster_events_forwarded_total)"; sleep 0.1; done ) > "$TMP/fwd.samples" &
SAMPLER=$!
cleanup_pid "$SAMPLER"
EDGE_CPU0=$(cpu_ticks "$EA_PID"); REDIS_CPU0=$(cpu_ticks "$REDIS_PID")
t0=$(now)
"$RAMPART" send --socket "$TMP/ea.sock" --now "$TMP/corpus.log" 2> "$TMP/send.out" || true
t_send=$(now)
for _ in $(seq 1 600); do
  f=$(metric "$EA" rampart_cluster_events_forwarded_total); [ "${f:-0}" -ge "$N" ] && break
  e=$(metric "$EA" rampart_cluster_forward_errors_total)
  [ $(( ${f:-0} + ${e:-0} )) -ge "$N" ] && break
  sleep 0.05
done
t_fwd=$(now)
sleep 0.3; kill "$SAMPLER" 2>/dev/null || true
EDGE_CPU=$(( $(cpu_ticks "$EA_PID") - EDGE_CPU0 )); REDIS_CPU=$(( $(cpu_ticks "$REDIS_PID") - REDIS_CPU0 ))
m=$(curl -s "$EA/metrics")
FWD=$(awk '$1 == "rampart_cluster_events_forwarded_total" { print $2 }' <<<"$m")
ERR=$(awk '$1 == "rampart_cluster_forward_errors_total" { print $2 }' <<<"$m")
ENT=$(awk '$1 == "rampart_cluster_forward_entries_total" { print $2 }' <<<"$m")
RT=$(awk '$1 == "rampart_cluster_forward_round_trips_total" { print $2 }' <<<"$m")
COPIES=$(awk '$1 == "rampart_cluster_aggregate_copies_total" { print $2 }' <<<"$m")
COPIED=$(awk '$1 == "rampart_cluster_events_copied_total" { print $2 }' <<<"$m")
COPIES=${COPIES:-0}
DROP=$(grep -E '^rampart_events_dropped_total' <<<"$m" | awk '{ s += $2 } END { print s + 0 }'); RECV=$(grep -E '^rampart_events_received_total' <<<"$m" | awk '{ s += $2 } END { print s + 0 }')
SEND_MS=$(ms "$t0" "$t_send"); FWD_MS=$(ms "$t0" "$t_fwd")
BEST=$(awk 'NR > 1 { print $1, $2 }' "$TMP/fwd.samples" | awk '{ t[NR] = $1; v[NR] = $2 } END {
  best = 0; j = 1
  for (i = 1; i <= NR; i++) { while (t[i] - t[j] > 1.0) j++; if (t[i] - t[j] >= 0.5) { r = (v[i] - v[j]) / (t[i] - t[j]); if (r > best) best = r } }
  printf "%.0f", best }')
echo "1. edge -> Redis: $FWD of $N events forwarded in $FWD_MS ms ($(awk -v n="$FWD" -v ms="$FWD_MS" 'BEGIN { printf "%.0f", n * 1000 / ms }') events/s)," \
     "rampart send took $SEND_MS ms; best second $BEST events/s; received $RECV, forward errors $ERR, dropped $DROP;" \
     "$ENT entries ($(awk -v a="$FWD" -v b="$ENT" 'BEGIN { printf "%.1f", a / b }') events an entry), $RT round trips;" \
     "CPU: edge $((EDGE_CPU * 1000 / TCK)) ms, redis $((REDIS_CPU * 1000 / TCK)) ms"
grep -v '^$' "$TMP/send.out" | tail -2 | sed 's/^/   send: /'
[ "$PARTITIONS" -gt 1 ] && echo "   aggregate streams: $COPIES copies of ${COPIED:-0} events" \
  "($(awk -v a="${COPIED:-0}" -v n="$FWD" 'BEGIN { printf "%.1f", 100 * a / n }') % of the events" \
  "written twice or more; $(awk -v a="$COPIES" -v n="$FWD" 'BEGIN { printf "%.3f", a / n }') copies an event)"

# --- 2. memory per million events ------------------------------------------------
MEM1=$(used_memory)
XLEN=0
for s in $(streams); do XLEN=$((XLEN + $(rcli XLEN "$s"))); done
echo "2. Redis used_memory $MEM0 -> $MEM1 bytes for $FWD events in $XLEN entries:" \
     "$(awk -v a="$MEM0" -v b="$MEM1" -v n="$FWD" 'BEGIN { printf "%.1f MB per million events (%.0f bytes an event)", (b - a) / n, (b - a) / n }')"

[ "${STOP_AFTER:-5}" -le 2 ] && { echo "cluster bench: done (steps 1-2)"; exit 0; }

# --- 3. through one detector --------------------------------------------------------
FWD=$((FWD + COPIES)) # what the detector reads: the events and their copies
rm -f "$TMP/det.ready"
DET_CPU_T=$TMP/det.threads
REDIS_CPU0=$(cpu_ticks "$REDIS_PID")
t0=$(now)
# CALLGRIND=1: the detector under callgrind, each thread counted apart:
# instructions per event, which the machine's load does not change (the
# wall-clock figures then mean nothing).
VG=()
[ -n "${CALLGRIND:-}" ] && VG=(valgrind -q --tool=callgrind --separate-threads=yes --dump-instr=no
                               --callgrind-out-file="${CG_DIR:-$TMP}/cg.out") # CG_DIR=DIR keeps them
"${VG[@]}" "$RAMPART" serve --config "$TMP/detector.yaml" --socket "$TMP/det.sock" --table "$TMP/det.tbl" \
  --store "$TMP/det.db" --admin 127.0.0.1:0 --token-file "$TMP/token" --ready-file "$TMP/det.ready" 2>> "$TMP/det.log" &
DET_PID=$!
cleanup_pid "$DET_PID"
for _ in $(seq 1 3000); do [ -s "$TMP/det.ready" ] && break; sleep 0.02; done
t_ready=$(now)
PERF_PID=""
if [ -n "${PERF:-}" ] && command -v perf >/dev/null; then # PERF=1: where the detector's time goes
  PERF_DATA=${PERF_DATA:-$TMP/perf.data} # PERF_DATA=FILE keeps it for perf report
  perf record -q -F "${PERF_FREQ:-499}" -g -p "$DET_PID" -o "$PERF_DATA" > /dev/null 2>&1 &
  PERF_PID=$!
fi
DET=$(grep -o 'http://[^"]*' "$TMP/det.ready")
t_cons=""; t_eng=""
for _ in $(seq 1 6000); do # 5 minutes at most
  m=$(curl -s "$DET/metrics")
  c=$(awk '$1 == "rampart_cluster_events_consumed_total" { print $2 }' <<<"$m")
  e=$(awk '$1 == "rampart_engine_events_total" { print $2 }' <<<"$m")
  [ -z "$t_cons" ] && [ "${c:-0}" -ge "$FWD" ] && t_cons=$(now)
  [ -z "$t_eng" ] && [ "${e:-0}" -ge "$FWD" ] && t_eng=$(now)
  [ -n "$t_cons" ] && [ -n "$t_eng" ] && break
  sleep 0.05
done
# Per thread: CPU ticks, and the time it was ready to run but waited for a
# core (schedstat's run-queue delay, ns): the machine's load, not ours.
for t in /proc/"$DET_PID"/task/*; do
  echo "${t##*/} $(awk '{ print $14 + $15 }' "$t/stat") $(awk '{ print $2 }' "$t/schedstat" 2>/dev/null || echo 0)"
done > "$DET_CPU_T"
REDIS_CPU=$(( $(cpu_ticks "$REDIS_PID") - REDIS_CPU0 ))
if [ -n "$PERF_PID" ]; then
  kill -INT "$PERF_PID"; wait "$PERF_PID" 2>/dev/null || true
  perf report -i "$PERF_DATA" --no-children --sort pid --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -6 | sed 's/^/   perf by thread: /' || true
  perf report -i "$PERF_DATA" --no-children --sort pid,sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -25 | sed 's/^/   perf: /' || true
fi
PENDING=0
for s in $(streams); do
  PENDING=$((PENDING + $(rcli XPENDING "$s" rampart-detectors | head -1)))
done
if [ -n "${CALLGRIND:-}" ]; then # a clean stop writes one file per thread
  kill -TERM "$DET_PID"; for _ in $(seq 1 600); do kill -0 "$DET_PID" 2>/dev/null || break; sleep 0.1; done
  for f in "${CG_DIR:-$TMP}"/cg.out-*; do
    ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$f")
    who=other
    grep -qE 'fn=\([0-9]+\) engine_main$' "$f" && who=engine
    grep -qE 'fn=\([0-9]+\) rp_cluster_detect_main$' "$f" && who=reader
    grep -qE 'fn=\([0-9]+\) store_main$' "$f" && who=store
    echo "$who $ir"
  done | awk -v n="$FWD" '$2 > 0 { t[$1] += $2; s += $2 } END {
    printf "   callgrind: instructions per event: engine thread %.0f, reader thread %.0f, store thread %.0f, other threads %.0f, all %.0f\n",
           t["engine"] / n, t["reader"] / n, t["store"] / n, t["other"] / n, s / n }'
fi
[ -n "$t_cons" ] || { echo "detector did not consume $FWD events in 5 minutes: $c"; t_cons=$(now); }
[ -n "$t_eng" ] || { echo "detector's engine did not see $FWD events in 5 minutes: $e"; t_eng=$(now); }
C_MS=$(ms "$t0" "$t_cons"); E_MS=$(ms "$t0" "$t_eng"); R_MS=$(ms "$t0" "$t_ready")
echo "3. one detector: $FWD events consumed and acknowledged in $C_MS ms from its start" \
     "($(awk -v n="$FWD" -v ms="$C_MS" 'BEGIN { printf "%.0f", n * 1000 / ms }') events/s), fed to its engine in $E_MS ms" \
     "($(awk -v n="$FWD" -v ms="$E_MS" 'BEGIN { printf "%.0f", n * 1000 / ms }') events/s); ready after $R_MS ms;" \
     "from ready: $(awk -v n="$FWD" -v ms="$(ms "$t_ready" "$t_eng")" 'BEGIN { printf "%.0f", n * 1000 / ms }') events/s; pending after: $PENDING"
echo "   CPU during it: redis $((REDIS_CPU * 1000 / TCK)) ms; detector $(awk -v k="$TCK" '{ s += $2 } END { printf "%d", s * 1000 / k }' "$DET_CPU_T") ms," \
     "its busiest threads (by thread id, ms of CPU / ms waiting for a core): $(sort -k2,2nr "$DET_CPU_T" | head -4 |
       awk -v k="$TCK" '{ printf "%s %d / %d; ", $1, $2 * 1000 / k, $3 / 1e6 }')"
grep -E '^rampart_(engine_events_total|cluster_entries_acked_total|cluster_decode_errors_total|decision_findings_total)' <<<"$m" | head -12 | sed 's/^/   /'

[ "${STOP_AFTER:-5}" -le 3 ] && { echo "cluster bench: done (steps 1-3)"; exit 0; }

# --- 4. propagation to three edges ------------------------------------------------------
start_serve eb --config "$TMP/edge.yaml"; EB=$ADMIN
start_serve ec --config "$TMP/edge.yaml"; EC=$ADMIN
cat > "$TMP/fleet.py" <<'PY'
import http.client, json, sys, threading, time
mode, token = sys.argv[1], sys.argv[2]
def conn(url):
    h, p = url.split("//")[1].split(":")
    return http.client.HTTPConnection(h, int(p), timeout=5)
def post(c, key):
    c.request("POST", "/v1/decisions", json.dumps({"key": key, "action": "block", "duration": "1h"}),
              {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    return r.status
if mode == "propagation":      # propagation TOKEN API EDGE... : 100 blocks
    api, edges = sys.argv[3], sys.argv[3:]
    c = conn(api); lat = [[] for _ in edges]
    for k in range(100):
        ip = "100.90.%d.%d" % (k // 200, k % 200 + 1)
        seen = [None] * len(edges); go = threading.Event()
        def poll(i):
            pc = conn(edges[i]); go.wait(); end = time.time() + 3
            while time.time() < end:
                pc.request("GET", "/v1/check?ip=" + ip); r = pc.getresponse(); r.read()
                if r.status == 403: seen[i] = time.time(); return
        ts = [threading.Thread(target=poll, args=(i,)) for i in range(len(edges))]
        for t in ts: t.start()
        go.set(); time.sleep(0.01)
        assert post(c, "ip:" + ip) == 201
        t0 = time.time()
        for t in ts: t.join()
        for i in range(len(edges)):
            lat[i].append(max(0.0, (seen[i] - t0) * 1000) if seen[i] else float("inf"))
        time.sleep(0.02)
    def pct(v, p): v = sorted(v); return v[min(len(v) - 1, int((len(v) - 1) * p))]
    allv = [x for v in lat for x in v]
    for i, v in enumerate(lat):
        print("   edge %s: p50 %.2f ms, p99 %.2f ms, max %.2f ms" % ("ABC"[i], pct(v, .5), pct(v, .99), max(v)))
    print("PROP %.2f %.2f %.2f %d" % (pct(allv, .5), pct(allv, .99), max(allv), len(allv)))
else:                           # bulk TOKEN API N : N blocks, keep-alive
    api, n = sys.argv[3], int(sys.argv[4]); c = conn(api); t0 = time.time()
    for k in range(n):
        assert post(c, "ip:100.%d.%d.%d" % (91 + k // 64000, (k // 250) % 256, k % 250 + 1)) == 201
    print("BULK %d %.0f" % (n, (time.time() - t0) * 1000))
PY
echo "4. propagation: 100 manual blocks through edge A's API, polled on edges A, B, C (/v1/check, keep-alive)"
python3 "$TMP/fleet.py" propagation "$(cat "$TMP/token")" "$EA" "$EB" "$EC" | tee "$TMP/prop.out" | grep -v '^PROP'
read -r _ P50 P99 PMAX PN < <(grep '^PROP' "$TMP/prop.out")
echo "   $PN samples: p50 $P50 ms, p99 $P99 ms, max $PMAX ms"

# --- 5. memory per active decision -------------------------------------------------------
sleep 0.5
D0=$(rcli HLEN rampart:decisions); M0=$(used_memory)
python3 "$TMP/fleet.py" bulk "$(cat "$TMP/token")" "$EA" "$NDEC" > "$TMP/bulk.out"
for _ in $(seq 1 200); do [ "$(rcli HLEN rampart:decisions)" -ge $((D0 + NDEC)) ] && break; sleep 0.05; done
sleep 0.3
D1=$(rcli HLEN rampart:decisions); M1=$(used_memory)
echo "5. $((D1 - D0)) decisions added through edge A's API in $(awk '{ print $3 }' "$TMP/bulk.out") ms:" \
     "used_memory +$((M1 - M0)) bytes, $(( (M1 - M0) / (D1 - D0) )) bytes per active decision" \
     "(hash + expiry zset + change stream entry); change stream length $(rcli XLEN rampart:decisions:changes)"
for e in "$EA" "$EB" "$EC"; do
  echo "   edge $e: table active $(metric "$e" rampart_decision_table_active) (Redis hash: $D1)," \
       "mirrored $(metric "$e" rampart_cluster_decisions_mirrored_total), loads $(metric "$e" rampart_cluster_loads_total)"
done
echo "cluster bench: done"
