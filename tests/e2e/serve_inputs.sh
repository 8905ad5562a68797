#!/usr/bin/env bash
# rampart serve's other inputs: a followed access log that is rotated by
# rename and by truncation (no line missed or doubled), and nginx JSON
# lines over syslog UDP (bad ones counted).
source "$(dirname "$0")/lib.sh"
make_token
: > "$TMP/access.log"
start_serve t --tail "$TMP/access.log" --syslog 127.0.0.1:0 --socket ""

line() { printf '192.0.2.%d - - [25/Nov/2026:10:%02d:%02d +0000] "GET /api/products/%d HTTP/1.1" 200 512 "-" "curl/8.5.0"\n' $(( $1 % 200 + 1 )) $(( $1 / 60 % 60 )) $(( $1 % 60 )) "$1"; }

sleep 0.3 # the tail starts at the end of the (empty) file
for i in $(seq 1 100); do line "$i"; done >> "$TMP/access.log"
check "100 appended lines seen" wait_engine_events 100
# rotation by rename, like logrotate's default; more lines to the old file first
for i in $(seq 101 120); do line "$i"; done >> "$TMP/access.log"
mv "$TMP/access.log" "$TMP/access.log.1"
for i in $(seq 121 150); do line "$i"; done >> "$TMP/access.log.1"
sleep 0.2
for i in $(seq 151 250); do line "$i"; done >> "$TMP/access.log"
check "rename rotation: 250 lines, none missed or doubled" wait_engine_events 250
# rotation by truncation (copytruncate)
: > "$TMP/access.log"
sleep 0.3
for i in $(seq 251 300); do line "$i"; done >> "$TMP/access.log"
check "truncate rotation: 300 lines" wait_engine_events 300
# a partial line waits for its newline
printf '192.0.2.9 - - [25/Nov/2026:11:00:00 +0000] "GET /api/cart HTTP/1.1" 200 5' >> "$TMP/access.log"
sleep 0.3
check "partial line not yet counted" wait_engine_events 300
printf '12 "-" "curl/8.5.0"\n' >> "$TMP/access.log"
check "completed line counted" wait_engine_events 301

# syslog: nginx access_log syslog:server=127.0.0.1:PORT,tag=rampart json
PORT=$(grep -o '"syslog_port":[0-9]*' "$TMP/t.ready" | grep -o '[0-9]*$')
check "syslog port bound" test "$PORT" -gt 0
for i in $(seq 1 20); do
  printf '<190>Nov 25 10:00:%02d web1 rampart: {"time_iso8601":"2026-11-25T10:00:%02d+00:00","remote_addr":"203.0.113.%d","request":"GET /api/search?q=x%d HTTP/1.1","status":"200","body_bytes_sent":"900","http_user_agent":"Mozilla/5.0"}' "$i" "$i" "$i" "$i" > /dev/udp/127.0.0.1/"$PORT"
done
printf '<190>Nov 25 10:00:00 web1 rampart: {"remote_addr": broken' > /dev/udp/127.0.0.1/"$PORT"
printf 'no syslog header at all' > /dev/udp/127.0.0.1/"$PORT"
head -c 700 /dev/urandom > /dev/udp/127.0.0.1/"$PORT"
check "20 syslog events reach the engine" wait_engine_events 321
sleep 0.2
m=$(curl -s "$ADMIN/metrics")
check "bad syslog packets counted" test "$(grep -E '^rampart_events_dropped_total\{input="syslog",reason="[a-z_]+"\}' <<<"$m" | awk '{s += $2} END {print s}')" -ge 3
check "tail rotations counted" grep -q '"input":"tail".*"rotations":[1-9]' <(curl -s "$ADMIN/v1/stats")
stop_serve "$SERVE_PID"
