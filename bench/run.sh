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
