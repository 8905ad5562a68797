#!/usr/bin/env bash
# `make demo` (examples/demo-live.sh) at its start and its end (issue 13):
#   1. without a terminal (CI, a pipe): it runs, prints the admin token's
#      path, stops everything at the end by itself, and prints no dashboard
#      address after the dashboard has stopped (which no longer answers);
#   2. from a terminal (util-linux `script` gives it one): after the summary
#      it keeps the stack up -- the dashboard it prints answers, the token
#      file it names exists -- until Ctrl-C (SIGINT), which stops every
#      process it started.
# The attack schedule is the demo's own, squeezed into 15 s
# (DEMO_MIN_DURATION): this checks the demo's behaviour, attack_tools.sh
# checks the detections. Needs root (network namespaces), as the demo does.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces)"
command -v script >/dev/null || bash "$ROOT/tools/install-deps.sh" bsdutils || fail "util-linux script is required"
DEMO=$ROOT/examples/demo-live.sh
export DEMO_MIN_DURATION=10
# the demo's own processes, by their stack directory (it prints it at the end)
stack_procs() { pgrep -f "$1/" || true; }

echo "1. without a terminal"
timeout 150 bash "$DEMO" --duration 15 < /dev/null > "$TMP/plain.out" 2>&1 || { cat "$TMP/plain.out"; fail "the demo failed"; }
sed 's/^/    /' "$TMP/plain.out" | tail -8
token=$(sed -n 's/^ *admin token (dashboard changes): //p' "$TMP/plain.out")
check "it printed the admin token's path ($token)" test -n "$token"
dash=$(sed -n 's/^ *dashboard: *\(http:[^ ]*\)$/\1/p' "$TMP/plain.out" | head -1)
check "and the dashboard's address while it ran ($dash)" test -n "$dash"
check "it printed the per-actor table" grep -q '^alice *legit' "$TMP/plain.out"
stop_line=$(grep -n 'demo-live: stopped everything' "$TMP/plain.out" | cut -d: -f1)
check "it stopped everything by itself" test -n "$stop_line"
check "no address printed after the stop" \
  sh -c "! tail -n +$stop_line '$TMP/plain.out' | grep -q 'http://'"
check "it says how to keep the dashboard up" grep -q -- '--keep' <(tail -n +"$stop_line" "$TMP/plain.out")
check "the dashboard no longer answers" sh -c "! curl -s -m 2 -o /dev/null '$dash'"
stack=$(sed -n 's/.*files kept in \(\/tmp\/rampart-demo\.[A-Za-z0-9]*\).*/\1/p' "$TMP/plain.out")
for _ in $(seq 1 50); do [ -z "$(stack_procs "$stack")" ] && break; sleep 0.1; done
pgrep -af "$stack/" | sed 's/^/    left: /' | cut -c1-160 || true
check "none of its processes is left ($stack)" test -z "$(stack_procs "$stack")"

echo "2. from a terminal"
# job control on: a background job of a script would otherwise start with
# SIGINT ignored, which a terminal's Ctrl-C never meets
set -m
script -qfec "bash $DEMO --duration 15" "$TMP/term.out" > /dev/null 2>&1 &
SCRIPT_PID=$!
set +m
cleanup_pid "$SCRIPT_PID"
up=""
for _ in $(seq 1 1200); do # 120 s at most
  grep -q 'The stack stays up until Ctrl-C' "$TMP/term.out" 2>/dev/null && { up=1; break; }
  kill -0 "$SCRIPT_PID" 2>/dev/null || break
  sleep 0.1
done
check "after the summary it says the stack stays up until Ctrl-C" test -n "$up"
sleep 0.5
tr -d '\r' < "$TMP/term.out" > "$TMP/term.txt"
dash=$(sed -n '/stays up until Ctrl-C/,$ s/^ *dashboard: *\(http:[^ ]*\)$/\1/p' "$TMP/term.txt" | head -1)
token=$(sed -n '/stays up until Ctrl-C/,$ s/^ *admin token: \([^ ]*\) .*/\1/p' "$TMP/term.txt" | head -1)
check "the dashboard it prints answers ($dash)" \
  test "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$dash")" = 200
check "the token file it names exists ($token)" test -s "$token"
stack=$(dirname "$token")
check "its stack is running" test -n "$(stack_procs "$stack")"
demo_pid=$(pgrep -f "^bash $DEMO --duration 15" | head -1) # the demo, not script
# however this test ends, the demo's own trap stops its stack (TERM)
trap 'kill -TERM "$demo_pid" 2>/dev/null && sleep 3; cleanup' EXIT
# Ctrl-C: SIGINT to the terminal's foreground process group (the demo leads
# it: script makes it a session of its own)
kill -INT -- "-$(ps -o pgid= -p "$demo_pid" | tr -d ' ')"
for _ in $(seq 1 150); do kill -0 "$demo_pid" 2>/dev/null || break; sleep 0.1; done
check "Ctrl-C ends it" sh -c "! kill -0 $demo_pid 2>/dev/null"
tr -d '\r' < "$TMP/term.out" > "$TMP/term.txt"
check "it says it was interrupted and stopped everything" \
  sh -c "grep -q 'demo-live: interrupted' '$TMP/term.txt' && grep -q 'demo-live: stopped everything' '$TMP/term.txt'"
check "the dashboard no longer answers" sh -c "! curl -s -m 2 -o /dev/null '$dash'"
for _ in $(seq 1 50); do [ -z "$(stack_procs "$stack")" ] && break; sleep 0.1; done
check "none of its processes is left" test -z "$(stack_procs "$stack")"
echo "demo_live: ok"
