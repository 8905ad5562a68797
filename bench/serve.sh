#!/usr/bin/env bash
# Benchmarks of `rampart serve` (issue: the real-time service):
#  1. events/s accepted over the unix socket and through the engine;
#  2. decision latency, event sent -> visible in the table (bench_latency);
#  3. /v1/check requests/s with wrk on loopback;
#  4. memory with 1,000,000 tracked clients.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh wrk curl bc
B=build/bench/serve
rm -rf "$B" && mkdir -p "$B"
head -c 24 /dev/urandom | base64 | tr -d '\n/+=' > "$B/token"
cat > "$B/rampart.yaml" <<YAML
engine:
  clients: { ip: 1048576 }
serve:
  queue: 256MiB
YAML
start() {
  build/rampart serve -c "$B/rampart.yaml" --socket "$B/ev.sock" --table "$B/t.tbl" --store "$B/db" \
    --admin 127.0.0.1:0 --token-file "$B/token" --ready-file "$B/ready" 2> "$B/log" &
  PID=$!
  for _ in $(seq 1 100); do [ -s "$B/ready" ] && break; sleep 0.05; done
  ADMIN=$(grep -o 'http://[^"]*' "$B/ready")
}
engine_events() { curl -s "$ADMIN/v1/stats" | grep -o '"engine":{"events":[0-9]*' | grep -o '[0-9]*$'; }

echo "== 1. events over the socket and through the engine (1,003,434-line generated log)"
[ -f build/bench/1m.log ] || build/trafficgen --seed 3 --lines 1000000 --out build/bench/1m.log --labels /dev/null
start
t0=$(date +%s.%N)
build/rampart send --socket "$B/ev.sock" build/bench/1m.log
prev=-1
while :; do n=$(engine_events); [ "$n" = "$prev" ] && break; prev=$n; sleep 0.2; done
t1=$(date +%s.%N)
drops=$(curl -s "$ADMIN/metrics" | awk '/^rampart_events_dropped_total/ {s += $2} END {print s + 0}')
echo "  engine saw $n events; dropped $drops; $(echo "$n / ($t1 - $t0 - 0.2)" | bc) events/s end to end"
kill "$PID"; wait "$PID" || true; rm -f "$B/ready"

echo "== 2. decision latency"
start
build/bench/bench_latency "$B/ev.sock" "$B/t.tbl" "$B/db" 300

echo "== 3. /v1/check with wrk (2 threads, 32 connections, 10 s)"
curl -s -X POST -H "Authorization: Bearer $(cat "$B/token")" "$ADMIN/v1/decisions" -d '{"key":"ip:203.0.113.9","action":"block"}' > /dev/null
wrk -t2 -c32 -d10s -H 'X-Real-IP: 192.0.2.1' "$ADMIN/v1/check" | grep -E 'Requests/sec|Latency|requests in'
wrk -t2 -c32 -d5s -H 'X-Real-IP: 203.0.113.9' "$ADMIN/v1/check" | grep -E 'Requests/sec|Non-2xx'
kill "$PID"; wait "$PID" || true; rm -f "$B/ready"

echo "== 4. memory with 1,000,000 tracked clients"
awk 'BEGIN { for (i = 0; i < 1000000; i++) printf "10.%d.%d.%d - - [25/Nov/2026:10:00:00 +0000] \"GET /api/products HTTP/1.1\" 200 512 \"-\" \"curl/8\"\n", int(i / 65536) % 256, int(i / 256) % 256, i % 256 }' > "$B/1m-ips.log"
start
rss0=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
build/rampart send --quiet --socket "$B/ev.sock" --rate 400000 "$B/1m-ips.log"
prev=-1
while :; do n=$(engine_events); [ "$n" = "$prev" ] && break; prev=$n; sleep 0.3; done
tracked=$(curl -s "$ADMIN/v1/stats" | grep -o '"ip":{"tracked":[0-9]*' | grep -o '[0-9]*$')
rss1=$(awk '/VmRSS/ {print $2}' /proc/$PID/status)
echo "  $tracked IP clients tracked; RSS $((rss0 / 1024)) MiB at start, $((rss1 / 1024)) MiB after"
kill "$PID"; wait "$PID" || true
