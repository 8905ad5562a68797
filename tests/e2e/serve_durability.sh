#!/usr/bin/env bash
# rampart serve under load: kill -9 loses no committed decision; SIGHUP
# and /v1/reload apply a good config and reject a bad one, keeping state.
source "$(dirname "$0")/lib.sh"
make_token
cat > "$TMP/rampart.yaml" <<YAML
profiles:
  default:
    tolerance: normal
YAML
start_serve k --config "$TMP/rampart.yaml"

# background load: a generated corpus replayed at 3,000 events/s, in a loop
"$TRAFFICGEN" --seed 5 --duration 600 --out "$TMP/load.log" --labels /dev/null
( while :; do "$RAMPART" send --quiet --socket "$TMP/k.sock" --rate 3000 --now "$TMP/load.log" || exit 0; done ) &
LOAD_PID=$!
cleanup_pid "$LOAD_PID"
sleep 1
# 40 manual decisions, each confirmed by the API (committed before 201)
T="Authorization: Bearer $(cat "$TMP/token")"
for i in $(seq 1 40); do
  r=$(http POST "$ADMIN/v1/decisions" -H "$T" -d "{\"key\":\"ip:203.0.113.$i\",\"action\":\"block\",\"duration\":\"2h\",\"reason\":\"kill test $i\"}")
  [ "${r%% *}" = 201 ] || fail "decision $i not confirmed: $r"
done
echo "  40 decisions confirmed under load ($(engine_events) events so far)"
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
kill "$LOAD_PID" 2>/dev/null; wait "$LOAD_PID" 2>/dev/null || true
start_serve k --config "$TMP/rampart.yaml"
lost=0
for i in $(seq 1 40); do
  r=$(http GET "$ADMIN/v1/check?ip=203.0.113.$i"); [ "${r%% *}" = 403 ] || lost=$((lost + 1))
done
check "kill -9 under load: 0 of 40 committed decisions lost" test "$lost" -eq 0
r=$(http GET "$ADMIN/v1/decisions?history=1&key=ip:203.0.113.7")
check "history keeps the reason" grep -q 'kill test 7' <<<"$r"

# reload: a bad config is rejected and the old one stays
"$RAMPART" send --quiet --socket "$TMP/k.sock" --now "$TMP/load.log"
sleep 0.5
before=$(curl -s "$ADMIN/v1/stats" | grep -o '"ip":{"tracked":[0-9]*' | grep -o '[0-9]*$')
printf 'profiles:\n  default:\n    tolerance: extreme\n' > "$TMP/rampart.yaml"
r=$(http POST "$ADMIN/v1/reload" -H "$T")
check "bad config rejected with its location" grep -q '^422 .*rampart.yaml:3:' <<<"$r"
r=$(http POST "$ADMIN/v1/reload")
check "reload without token: 401" test "${r%% *}" = 401
printf 'profiles:\n  default:\n    tolerance: high\n' > "$TMP/rampart.yaml"
kill -HUP "$SERVE_PID"
for _ in $(seq 1 50); do grep -q 'configuration reloaded' "$TMP/k.log" && break; sleep 0.05; done
check "SIGHUP reloads a good config" grep -q 'configuration reloaded' "$TMP/k.log"
after=$(curl -s "$ADMIN/v1/stats" | grep -o '"ip":{"tracked":[0-9]*' | grep -o '[0-9]*$')
check "client state kept across reload ($before -> $after tracked)" test "$after" -ge "$before"
r=$(http GET "$ADMIN/v1/check?ip=203.0.113.9")
check "decisions kept across reload" test "${r%% *}" = 403
m=$(curl -s "$ADMIN/metrics")
check "reloads counted" grep -q 'rampart_reloads_total{result="rejected"} 1' <<<"$m"
stop_serve "$SERVE_PID"
