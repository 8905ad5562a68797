#!/usr/bin/env bash
# Who may send events to `rampart serve` (issue 11): a local user who is
# not nginx must not be able to get an address blocked.
#   - the event socket is 0660 with the configured group; a user outside it
#     cannot even send; a user in it (by primary group) can;
#   - with the mode opened by the operator, datagrams from a uid/gid that is
#     not allowed are still refused, and counted in /metrics;
#   - syslog from a source address that is not allowed (127.0.0.2 on lo) is
#     refused and counted; 127.0.0.1 is read.
# Runs as root (it sends as nobody with setpriv).
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "serve_senders: skipped (needs root to send as another user)"; exit 0; }
command -v setpriv >/dev/null || fail "setpriv (util-linux) is required"
make_token
chmod 711 "$TMP" # others may reach the socket file; its own mode decides

as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_www() { setpriv --reuid=www-data --regid=www-data --clear-groups "$@"; }
event() { printf '192.0.2.%d - - [25/Nov/2026:10:00:%02d +0000] "GET /api/items/%d HTTP/1.1" 200 512 "-" "curl/8.5.0"\n' "$1" "$1" "$1"; }
metric() { curl -s "$ADMIN/metrics" | awk -v k="$1" '$1 == k {print $2}'; }

# (1) 0660, group nogroup: nobody (primary group nogroup) sends, www-data cannot
cat > "$TMP/a.yaml" <<EOF
serve:
  socket_group: nogroup
EOF
start_serve a --config "$TMP/a.yaml"
check "socket is 0660 with the configured group" test "$(stat -c '%a %G' "$TMP/a.sock")" = "660 nogroup"
event 1 | as_nobody "$RAMPART" send --socket "$TMP/a.sock" -q - || fail "nobody (group nogroup) could not send"
check "an event from the socket's group reaches the engine" wait_engine_events 1
if event 2 | as_www "$RAMPART" send --socket "$TMP/a.sock" -q - 2>"$TMP/www.err"; then
  fail "www-data, outside the socket's group, could send"
fi
check "a user outside the group cannot send at all" grep -qi 'permission denied\|refused' "$TMP/www.err"
stop_serve "$SERVE_PID"

# (2) the operator opens the mode: the credentials still refuse, and count
cat > "$TMP/b.yaml" <<EOF
serve:
  socket_group: root
  socket_mode: "0666"
EOF
start_serve b --config "$TMP/b.yaml"
check "socket mode as configured" test "$(stat -c '%a %G' "$TMP/b.sock")" = "666 root"
for i in $(seq 1 25); do event "$i"; done | as_nobody "$RAMPART" send --socket "$TMP/b.sock" -q - \
  || fail "the datagrams were not even delivered"
event 30 | "$RAMPART" send --socket "$TMP/b.sock" -q - # root: read
check "root's event reaches the engine" wait_engine_events 1
sleep 0.2
check "25 forged datagrams refused and counted in /metrics" \
  test "$(metric 'rampart_events_dropped_total{input="datagram",reason="refused_sender"}')" = 25
check "none of them reached the engine" test "$(engine_events)" = 1
check "no incident or client for the forged addresses" test "$(http GET "$ADMIN/v1/clients/ip:192.0.2.5" | cut -d' ' -f1)" = 404
stop_serve "$SERVE_PID"

# (3) syslog only from the allowed sources (default 127.0.0.1, ::1)
start_serve c --syslog 127.0.0.1:0 --socket ""
PORT=$(grep -o '"syslog_port":[0-9]*' "$TMP/c.ready" | grep -o '[0-9]*$')
check "syslog port bound" test "$PORT" -gt 0
send_from() { # send_from SOURCE TEXT
  python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
s.sendto(sys.argv[3].encode(), ("127.0.0.1", int(sys.argv[2])))' "$1" "$PORT" "$2"
}
line() { printf '<190>Nov 25 10:00:%02d web1 rampart: {"time_iso8601":"2026-11-25T10:00:%02d+00:00","remote_addr":"203.0.113.%d","request":"GET /api/x HTTP/1.1","status":"200"}' "$1" "$1" "$1"; }
for i in 1 2 3 4 5; do send_from 127.0.0.2 "$(line "$i")"; done
send_from 127.0.0.1 "$(line 9)"
check "the packet from 127.0.0.1 reaches the engine" wait_engine_events 1
sleep 0.2
check "5 packets from 127.0.0.2 refused and counted in /metrics" \
  test "$(metric 'rampart_events_dropped_total{input="syslog",reason="refused_source"}')" = 5
check "none of them reached the engine" test "$(engine_events)" = 1
stop_serve "$SERVE_PID"

# (4) a bad sender setting is a start-up error that names it
printf 'serve:\n  socket_users: [no-such-user-x]\n' > "$TMP/d.yaml"
if "$RAMPART" serve --config "$TMP/d.yaml" --socket "$TMP/d.sock" --table "$TMP/d.tbl" \
     --store "$TMP/d.db" --admin 127.0.0.1:0 2> "$TMP/d.err" & then
  pid=$!; cleanup_pid "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && fail "serve started with an unknown socket user"
fi
check "unknown socket user named in the error" grep -q "serve.socket_users: no user 'no-such-user-x'" "$TMP/d.err"
echo "serve_senders: all checks passed"
