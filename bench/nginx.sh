#!/usr/bin/env bash
# The nginx module's budget: wrk against nginx (1 worker) proxying to a
# small static upstream (a second server block of the same nginx), with
# the module enforcing and reporting every request (`rampart on`, a
# running `rampart serve` receiving the events) versus the same nginx and
# config without `rampart on`. Target: >= 95 % of the throughput, p99
# within 5 %.
#
#   bash bench/nginx.sh [SECONDS] [ROUNDS]     (defaults 10 and 3)
#
# Rounds alternate off/on and the best round of each is reported (a
# 2-core machine is noisy; the best round is the least disturbed one).
# Pinning: nginx on core 0, wrk and the daemon on core 1 when there are
# two cores or more. When Debian's ModSecurity module and the OWASP CRS are
# installed (libnginx-mod-http-modsecurity modsecurity-crs; MODSEC=0 skips
# it), a fourth configuration runs the same proxy under ModSecurity + CRS
# (SecRuleEngine On, audit log off) as a reference point for what a
# rule-based WAF costs on the same path. The daemon allowlists 127.0.0.0/8 so the flood from
# wrk is counted but never blocked (a 403 would be cheaper than the
# proxied 200 and flatter the module); the lookups still run in full.
# When redis-server is installed (EDGE=0 skips it), a fleet configuration
# runs too (docs/cluster.md): the module's daemon is an edge
# (cluster.role: edge) forwarding every event into a redis-server started
# here on loopback, read by a detector (also allowlisting 127.0.0.0/8):
# the module does the same work, its daemon and the machine more.
# Redis, the edge and the detector are pinned with wrk and the daemon.
#
# CALLGRIND=SECONDS: instead of the timed rounds, the worker's own
# instructions per request in each configuration, counted by valgrind's
# callgrind (nginx in one process, `master_process off`; counting switched on
# after a warm-up, wrk for SECONDS). Unlike requests/s and CPU time this
# figure does not move with what else the machine runs, so it shows the
# module's cost on a busy machine. It counts user space only: the kernel's
# share of sending the datagrams is in the CPU-time figures of the rounds.
set -euo pipefail
source "$(dirname "$0")/../tests/e2e/lib.sh"
DUR=${1:-10}
ROUNDS=${2:-3}
command -v wrk >/dev/null || bash "$ROOT/tools/install-deps.sh" wrk
bash "$ROOT/tools/install-deps.sh" nginx nginx-dev
[ -x "$RAMPART" ] || make -s -C "$ROOT" all >/dev/null
# The module of $RAMPART's build directory (as tests/e2e/lib.sh does).
MODULE=${MODULE:-$(bash "$ROOT/nginx/build.sh" "$(dirname "$RAMPART")" | tail -1)}
NGINX=${NGINX:-/usr/sbin/nginx}
PIN_NGINX="" PIN_LOAD=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then PIN_NGINX="taskset -c 0"; PIN_LOAD="taskset -c 1"; fi

NGINX_PID=""
cleanup() { # nginx, then the daemons and redis-server (CLEANUP_PIDS, tests/e2e/lib.sh)
  local p
  [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null
  for p in $CLEANUP_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3; rm -rf "$TMP"
}
trap cleanup EXIT

printf 'allow:\n  cidrs: [127.0.0.0/8]\n' > "$TMP/rampart.yaml"
make_token
$PIN_LOAD true
start_serve b --config "$TMP/rampart.yaml"
[ -n "$PIN_LOAD" ] && taskset -pc 1 "$SERVE_PID" > /dev/null
B_ADMIN=$ADMIN
EDGE_MODE=""
if [ "${EDGE:-1}" = 1 ] && command -v redis-server >/dev/null; then
  EDGE_MODE=edge
  start_redis
  for role in edge detector; do
    { printf 'allow:\n  cidrs: [127.0.0.0/8]\n'
      printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: %s\n' "$REDIS_PORT" "$role"; } > "$TMP/$role.yaml"
  done
  start_serve e --config "$TMP/edge.yaml"; E_ADMIN=$ADMIN; E_PID=$SERVE_PID
  start_serve det --config "$TMP/detector.yaml"; DET_ADMIN=$ADMIN; DET_PID=$SERVE_PID
  [ -n "$PIN_LOAD" ] && for p in "$REDIS_PID" "$E_PID" "$DET_PID"; do taskset -apc 1 "$p" > /dev/null; done
fi
ADMIN=$B_ADMIN

mkdir -p "$TMP/ng/logs" "$TMP/ng/tmp"
USER_LINE=""; [ "$(id -u)" -eq 0 ] && USER_LINE="user root;"
PORT=$(free_port); UPORT=$(free_port)
MODSEC_SO=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so
MODES="off table on $EDGE_MODE"
if [ "${MODSEC:-1}" = 1 ] && [ -f "$MODSEC_SO" ] && [ -f /usr/share/modsecurity-crs/owasp-crs.load ]; then
  MODES="off table on $EDGE_MODE modsec"
  { echo "Include /etc/nginx/modsecurity.conf"
    echo "SecRuleEngine On"
    echo "SecAuditEngine Off"
    echo "SecDebugLogLevel 0"
    # owasp-crs.load uses IncludeOptional, which libmodsecurity 3 lacks
    echo "Include /etc/modsecurity/crs/crs-setup.conf"
    echo "Include /etc/modsecurity/crs/REQUEST-900-EXCLUSION-RULES-BEFORE-CRS.conf"
    echo "Include /usr/share/modsecurity-crs/rules/*.conf"
    echo "Include /etc/modsecurity/crs/RESPONSE-999-EXCLUSION-RULES-AFTER-CRS.conf"; } > "$TMP/modsec.conf"
fi
conf() { # conf on|off|table|edge|modsec (table: rampart on, rampart_socket off: lookups only;
        # edge: rampart on, the edge daemon's socket and table)
  local onoff=$1 sock="$TMP/b.sock" table="$TMP/b.tbl" modload="" modsec=""
  [ "$1" = table ] && { onoff=on; sock=off; }
  [ "$1" = edge ] && { onoff=on; sock="$TMP/e.sock"; table="$TMP/e.tbl"; }
  if [ "$1" = modsec ]; then
    onoff=off; modload="load_module $MODSEC_SO;"
    modsec="modsecurity on; modsecurity_rules_file $TMP/modsec.conf;"
  fi
  cat > "$TMP/ng/nginx.conf" <<CONF
$USER_LINE
${NGINX_MAIN_EXTRA:-}
worker_processes 1;
pid $TMP/ng/nginx.pid;
error_log $TMP/ng/logs/error.log notice;
load_module $MODULE;
$modload
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/ng/tmp/body;
  proxy_temp_path $TMP/ng/tmp/proxy;
  rampart_table $table;
  rampart_socket $sock;
  upstream app { server 127.0.0.1:$UPORT; keepalive 32; }
  server {
    listen 127.0.0.1:$UPORT;
    location / { return 200 "{\"id\":42,\"name\":\"widget\",\"price\":9.99}\n"; }
  }
  server {
    listen 127.0.0.1:$PORT;
    rampart $onoff;
    $modsec
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
CONF
}
run_nginx() { # run_nginx on|off|table
  conf "$1"
  $PIN_NGINX "$NGINX" -p "$TMP/ng" -c "$TMP/ng/nginx.conf"
  for _ in $(seq 1 50); do [ -s "$TMP/ng/nginx.pid" ] && break; sleep 0.05; done
  NGINX_PID=$(cat "$TMP/ng/nginx.pid")
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/api/products/42" && break; sleep 0.05; done
}
stop_nginx() {
  kill -TERM "$NGINX_PID"; for _ in $(seq 1 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.05; done
  rm -f "$TMP/ng/nginx.pid"; NGINX_PID=""
}
# CPU time (utime + stime, clock ticks) of nginx's worker process.
worker_ticks() {
  local w; w=$(cat "/proc/$NGINX_PID/task/$NGINX_PID/children" 2>/dev/null | awk '{print $1}')
  awk '{print $14 + $15}' "/proc/$w/stat"
}
# wrk's summary -> "RPS P99_MS CPU_US_PER_REQUEST"
measure() {
  local t0 t1; t0=$(worker_ticks)
  $PIN_LOAD wrk -t1 -c32 -d"${DUR}s" --latency -H "User-Agent: Mozilla/5.0 (bench)" \
    -H "Accept-Language: en" "http://127.0.0.1:$PORT/api/products/42" > "$TMP/wrk.out"
  t1=$(worker_ticks)
  local rps p99 n cpu
  n=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
  cpu=$(awk -v d=$((t1 - t0)) -v n="$n" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", d * 1e6 / hz / n}')
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.out")
  p99=$(awk '$1 == "99%" {v = $2; if (v ~ /us$/) {sub(/us$/, "", v); v /= 1000} else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) {sub(/s$/, "", v); v *= 1000}; print v}' "$TMP/wrk.out")
  echo "$rps $p99 $cpu"
}
if [ -n "${CALLGRIND:-}" ]; then
  command -v valgrind >/dev/null || bash "$ROOT/tools/install-deps.sh" valgrind
  # instructions_per_request MODE -> "IR REQUESTS": nginx under callgrind,
  # counting from after the first answered request to the end of wrk's run.
  instructions_per_request() {
    NGINX_MAIN_EXTRA="daemon off; master_process off;" conf "$1"
    rm -f "$TMP"/cg.out*
    $PIN_NGINX valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$TMP/cg.out.%p" \
      "$NGINX" -p "$TMP/ng" -c "$TMP/ng/nginx.conf" 2> "$TMP/valgrind.log" &
    local vg=$! n
    for _ in $(seq 1 400); do curl -s -o /dev/null "http://127.0.0.1:$PORT/api/products/42" && break; sleep 0.05; done
    for _ in 1 2 3 4 5 6 7 8; do curl -s -o /dev/null "http://127.0.0.1:$PORT/api/products/42"; done
    callgrind_control --instr=on "$vg" > /dev/null 2>&1
    $PIN_LOAD wrk -t1 -c4 -d"${CALLGRIND}s" -H "User-Agent: Mozilla/5.0 (bench)" \
      -H "Accept-Language: en" "http://127.0.0.1:$PORT/api/products/42" > "$TMP/wrk.out"
    callgrind_control --dump "$vg" > /dev/null 2>&1
    kill -TERM "$vg"; wait "$vg" 2>/dev/null || true
    n=$(awk '/requests in/ {print $1}' "$TMP/wrk.out")
    local out; out=$(ls "$TMP"/cg.out.*.1 | head -1)
    # CALLGRIND_KEEP=DIR keeps the profiles (callgrind_annotate DIR/MODE.callgrind)
    [ -z "${CALLGRIND_KEEP:-}" ] || cp "$out" "$CALLGRIND_KEEP/$1.callgrind"
    awk -v n="$n" '/^(summary|totals):/ { print $2, n; exit }' "$out"
  }
  echo "== nginx worker instructions per request (callgrind, user space; wrk -t1 -c4 -d${CALLGRIND}s)"
  ir_off=""
  for mode in $MODES; do
    [ "$mode" = modsec ] && continue # minutes under valgrind; its cost is in the timed rounds
    read -r ir n < <(instructions_per_request "$mode")
    per=$(awk -v i="$ir" -v n="$n" 'BEGIN { printf "%.0f", i / n }')
    [ -z "$ir_off" ] && ir_off=$per
    echo "rampart $mode: $per instructions/request over $n requests" \
      "($(awk -v a="$ir_off" -v b="$per" 'BEGIN { printf "+%.1f %% on without; capacity %.1f %%", 100 * (b - a) / a, 100 * a / b }'))"
  done
  exit 0
fi
best_off="0 0" best_on="0 0" best_table="0 0" best_modsec="0 0" best_edge="0 0"
cpu_off=1e9 cpu_on=1e9 cpu_table=1e9 cpu_modsec=1e9 cpu_edge=1e9
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2; exit }'; }
ev0=$(curl -s "$ADMIN/v1/stats" | grep -o '"events":[0-9]*' | head -1 | cut -d: -f2)
for r in $(seq 1 "$ROUNDS"); do
  for mode in $MODES; do
    run_nginx "$mode"
    res=$(measure); stop_nginx
    echo "round $r rampart $mode: $(awk '{printf "%.0f req/s, p99 %.2f ms, worker CPU %.2f us/request", $1, $2, $3}' <<<"$res")"
    var=best_$mode cvar=cpu_$mode
    c=$(awk '{print $3}' <<<"$res")
    awk -v a="$c" -v b="${!cvar}" 'BEGIN{exit !(a < b)}' && printf -v "$cvar" '%s' "$c"
    awk -v a="$res" -v b="${!var}" 'BEGIN{split(a,x," ");split(b,y," "); exit !(x[1]>y[1])}' && printf -v "$var" '%s' "$res"
  done
done
ev1=$(curl -s "$ADMIN/v1/stats" | grep -o '"events":[0-9]*' | head -1 | cut -d: -f2)
drops=$(awk '/worker exits:/ {for (i = 1; i < NF; i++) if ($(i + 1) ~ /^dropped/) s += $i} END {print s + 0}' "$TMP/ng/logs/error.log")
echo "== nginx 1 worker -> static upstream, wrk -t1 -c32 -d${DUR}s, best of $ROUNDS"
awk -v off="$best_off" -v on="$best_on" -v tb="$best_table" 'BEGIN {
  split(off, a, " "); split(on, b, " "); split(tb, c, " ");
  printf "without rampart:            %8.0f req/s   p99 %6.2f ms\n", a[1], a[2];
  printf "rampart on, lookups only:   %8.0f req/s   p99 %6.2f ms   (%.1f %% / %.1f %%)\n", c[1], c[2], 100 * c[1] / a[1], 100 * c[2] / a[2];
  printf "rampart on, lookups+events: %8.0f req/s   p99 %6.2f ms   (%.1f %% / %.1f %%)\n", b[1], b[2], 100 * b[1] / a[1], 100 * b[2] / a[2] }'
if [ -n "$EDGE_MODE" ]; then
  awk -v off="$best_off" -v e="$best_edge" 'BEGIN {
    split(off, a, " "); split(e, b, " ");
    printf "rampart on, an edge behind: %8.0f req/s   p99 %6.2f ms   (%.1f %% / %.1f %%)\n", b[1], b[2], 100 * b[1] / a[1], 100 * b[2] / a[2] }'
fi
if [[ $MODES == *modsec* ]]; then
  awk -v off="$best_off" -v m="$best_modsec" -v co="$cpu_off" -v cm="$cpu_modsec" 'BEGIN {
    split(off, a, " "); split(m, b, " ");
    printf "reference, ModSecurity+CRS: %8.0f req/s   p99 %6.2f ms   (%.1f %% / %.1f %%), worker CPU %.2f us/request\n", b[1], b[2], 100 * b[1] / a[1], 100 * b[2] / a[2], cm }'
fi
# Throughput on a shared 2-core box moves with everything else running; the
# worker's own CPU time per request does not, and is what the module costs.
awk -v off="$cpu_off" -v tb="$cpu_table" -v on="$cpu_on" 'BEGIN {
  printf "nginx worker CPU per request (lowest of the rounds): without %.2f us, lookups only %.2f us, lookups+events %.2f us\n", off, tb, on;
  printf "  -> capacity with rampart on: %.1f %% of without (lookups only: %.1f %%)\n", 100 * off / on, 100 * off / tb }'
[ -n "$EDGE_MODE" ] && awk -v off="$cpu_off" -v e="$cpu_edge" 'BEGIN {
  printf "  with an edge behind the module: %.2f us, capacity %.1f %% of without\n", e, 100 * off / e }'
echo "events received by the daemon: $((ev1 - ev0)); dropped by nginx workers (their exit reports): $drops"
if [ -n "$EDGE_MODE" ]; then
  sleep 1 # the detector catches up with the stream
  echo "fleet: the edge dropped $(curl -s "$E_ADMIN/metrics" | awk '$1 ~ /^rampart_events_dropped_total/ { s += $2 } END { print s + 0 }')," \
       "forwarded $(metric "$E_ADMIN" rampart_cluster_events_forwarded_total)" \
       "(errors $(metric "$E_ADMIN" rampart_cluster_forward_errors_total));" \
       "the detector consumed $(metric "$DET_ADMIN" rampart_cluster_events_consumed_total)," \
       "its engine saw $(metric "$DET_ADMIN" rampart_engine_events_total)"
fi
