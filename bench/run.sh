#!/usr/bin/env bash
# make bench: the budgets of DESIGN.md section 5 that the engine and
# `rampart analyze` own. Prints figures; BENCHMARKS.md records them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p build/bench
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -r)"
echo "== engine throughput (bench/bench_engine.c)"
taskset -c 0 build/bench/bench_engine throughput 5000000
echo "== memory under a spray of 10,000,000 distinct IPs, table capped at 262,144"
taskset -c 0 build/bench/bench_engine spray 10000000 262144
echo "== rampart analyze, 1,000,000-line generated combined log, end to end"
[ -f build/bench/1m.log ] || build/trafficgen --seed 3 --lines 1000000 --out build/bench/1m.log --labels build/bench/1m.labels
wc -l build/bench/1m.log
for i in 1 2 3; do
  /usr/bin/time -f "  %e s elapsed, %M KiB peak RSS" taskset -c 0 build/rampart analyze --quiet --format json build/bench/1m.log > /dev/null
done 2>&1
taskset -c 0 build/rampart analyze --top 0 build/bench/1m.log | grep -E 'lines read|time '
echo "== rampart analyze, 1,000,000 lines, every line from a new client address (worst case for the tables)"
# Each line a new IPv4 address (10 M distinct would cycle the table the same way):
# the IP table evicts on every line once full, and every /24 is new every 256 lines.
[ -f build/bench/1m-new.log ] || awk 'BEGIN {
  srand(7); split("/ /api/products /api/products/17 /api/login /search?q=lamp /static/app.js", p, " ");
  for (i = 0; i < 1000000; i++) {
    a = 11 + int(i / 16777216) % 200; b = int(i / 65536) % 256; c = int(i / 256) % 256; d = i % 256;
    printf "%d.%d.%d.%d - - [17/May/2015:10:%02d:%02d +0000] \"GET %s HTTP/1.1\" 200 %d \"-\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0\"\n",
      a, b, c, d, int(i / 16667) % 60, int(i / 278) % 60, p[1 + i % 6], 200 + i % 5000 }
}' > build/bench/1m-new.log
for i in 1 2 3; do
  /usr/bin/time -f "  %e s elapsed, %M KiB peak RSS" taskset -c 0 build/rampart analyze --quiet --format json build/bench/1m-new.log > /dev/null
done 2>&1
taskset -c 0 build/rampart analyze --top 0 build/bench/1m-new.log | grep -E 'lines read|clients tracked|time '
