#!/usr/bin/env bash
# The API behind the dashboard: live time series, top offenders, a key's
# requests and related keys, the configuration, what-if and config writes.
source "$(dirname "$0")/lib.sh"
make_token
printf 'profiles:\n  default:\n    tolerance: normal\n' > "$TMP/rampart.yaml"
start_serve w --config "$TMP/rampart.yaml"
T="Authorization: Bearer $(cat "$TMP/token")"
# a scanner and five quiet humans sharing a /24, one of them with the scanner's user agent
{
  for i in $(seq 1 120); do printf '198.51.100.66 - - [25/Nov/2026:10:%02d:%02d +0000] "GET /old/backup-%d.sql HTTP/1.1" 404 153 "-" "Mozilla/5.0 (compatible; probe)"\n' $((i / 60)) $((i % 60)) "$i"; done
  for h in 1 2 3 4 5; do for i in 1 2 3; do printf '198.51.100.%d - - [25/Nov/2026:10:00:%02d +0000] "GET /api/products/%d HTTP/1.1" 200 900 "-" "%s"\n' $((h + 10)) $((i * 10)) "$i" "$([ $h = 1 ] && echo 'Mozilla/5.0 (compatible; probe)' || echo 'Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0')"; done; done
} > "$TMP/mix.log"
"$RAMPART" send --quiet --socket "$TMP/w.sock" --now "$TMP/mix.log"
check "all 135 events reached the engine" wait_engine_events 135
for _ in $(seq 1 100); do r=$(http GET "$ADMIN/v1/check?ip=198.51.100.66"); [ "${r%% *}" = 403 ] && break; sleep 0.05; done

r=$(curl -s "$ADMIN/v1/timeseries?minutes=5")
check "time series: 30 steps of 10 s" test "$(grep -o '"t":\[[^]]*\]' <<<"$r" | tr ',' '\n' | wc -l)" -eq 30
total=$(grep -o '"requests":\[[^]]*\]' <<<"$r" | grep -o '[0-9]*' | awk '{s += $1} END {print s}')
check "time series counts all 135 requests ($total)" test "$total" -eq 135
check "time series shows blocked requests" grep -Eq '"blocked":\[[0-9,]*[1-9]' <<<"$r"
for _ in $(seq 1 50); do r=$(curl -s "$ADMIN/v1/top?limit=5"); grep -q 198.51.100.66 <<<"$r" && break; sleep 0.1; done
check "top clients: the scanner first" grep -q '"clients":\[{"key":"ip:198.51.100.66","action":"block"' <<<"$r"
check "top routes listed" grep -q '"routes":\[{"method"' <<<"$r"
r=$(curl -s "$ADMIN/v1/clients/ip:198.51.100.66/requests?limit=1000")
check "the key's 120 requests" grep -q '"matched":120' <<<"$r"
check "requests carry path and status" grep -q '"path":"/old/backup-120.sql","query":"","status":404' <<<"$r"
r=$(curl -s "$ADMIN/v1/clients/ip:198.51.100.66/related")
# A combined log has no header names: a user agent alone is no fingerprint
# (keys.c), so the human with the same agent is not "the same fingerprint".
check "same fingerprint: none without header names" grep -q '"same_fingerprint":\[\]' <<<"$r"
check "same subnet: the five others" test "$(grep -o '"same_subnet":\[[^]]*\]' <<<"$r" | grep -o 'ip:' | wc -l)" -eq 5
# The client view reads the table itself (the file nginx enforces), with
# the decisions that cover the client and the reason of a manual one.
r=$(curl -s "$ADMIN/v1/clients/ip:198.51.100.66")
check "client view: the engine's block, from the table" grep -q '"decision":{"action":"block",.*"source":"engine"' <<<"$r"
check "client view: the block is the one in force" grep -q '"in_force":{"action":"block",.*"key":"ip:198.51.100.66"' <<<"$r"
"$RAMPART" decisions -u "$ADMIN" -t "$TMP/token" add subnet:198.51.100.0/24 throttle 1h "ticket 4711" > "$TMP/out"
check "a subnet throttle with a reason through the CLI" grep -q 'throttle subnet:198.51.100.0/24' "$TMP/out"
r=$(curl -s "$ADMIN/v1/clients/ip:198.51.100.12")
check "client view: the subnet's decision covers a neighbour, with its reason" \
  grep -q '"covering":\[{"action":"throttle",[^]]*"source":"manual","reason":"ticket 4711","key":"subnet:198.51.100.0/24"' <<<"$r"
check "client view: the neighbour has none of its own, the subnet's is in force" \
  grep -q '"decision":null.*"in_force":{"action":"throttle".*"key":"subnet:198.51.100.0/24"' <<<"$r"
r=$(curl -s "$ADMIN/v1/clients/ip:198.51.100.66")
check "client view: the scanner's own block outranks the subnet's throttle" grep -q '"in_force":{"action":"block"' <<<"$r"
r=$(curl -s "$ADMIN/v1/decisions")
check "active decisions carry the manual reason" grep -q '"key":"subnet:198.51.100.0/24",[^}]*"source":"manual","reason":"ticket 4711"' <<<"$r"
check "and the engine's its source" grep -q '"key":"ip:198.51.100.66",[^}]*"source":"engine","reason":null' <<<"$r"
# The incident list by actor: one row per key, its evidence, its refused count.
all=$(curl -s "$ADMIN/v1/incidents?limit=1000")
r=$(curl -s "$ADMIN/v1/incidents?group=key&limit=1000")
keys=$(grep -o '"key":"[^"]*"' <<<"$all" | sort -u | wc -l)
check "incidents by key: one row per key ($keys)" test "$(grep -o '"total":[0-9]*' <<<"$r")" = "\"total\":$keys"
check "incidents by key: the scanner's row has its evidence line" grep -q '"key":"ip:198.51.100.66".*"evidence":"[a-z]' <<<"$r"
check "incidents by key: and how many incidents it had" grep -q '"incidents":[1-9]' <<<"$r"
check "incidents: an unknown grouping is 400" test "$(http GET "$ADMIN/v1/incidents?group=route" | cut -d' ' -f1)" = 400
r=$(curl -s "$ADMIN/v1/config")
check "config: path and profile" grep -q '"path":"'"$TMP"'/rampart.yaml"' <<<"$r"
check "config: detector catalogue with presets" grep -q '"name":"auth","description"' <<<"$r"
r=$(http POST "$ADMIN/v1/whatif" -d '{"config":"profiles:\n  default:\n    tolerance: low\n"}')
check "what-if needs the token" test "${r%% *}" = 401
r=$(http POST "$ADMIN/v1/whatif" -H "$T" -d '{"config":"profiles:\n  default:\n    detectors:\n      scan: { enabled: false }\n      signature: { enabled: false }\n"}')

# (what remains -- regular timing, coverage -- is at most a monitor; where the replay's
# 5-minute and 1-minute windows fall depends on the wall clock, so either is right)
check "what-if: without scan and signature the scanner is no longer blocked" grep -Eq '"key":"ip:198.51.100.66","before":"block","after":"(monitor|none)"' <<<"$r"
check "what-if replayed the window" grep -q '"events":135' <<<"$r"
r=$(http POST "$ADMIN/v1/whatif" -H "$T" -d '{"config":"profiles:\n  default:\n    tolerance: extreme\n"}')
check "what-if: bad YAML is 422 with its location" grep -q '^422 .*:3:' <<<"$r"
r=$(http POST "$ADMIN/v1/config" -H "$T" -d '{"config":"profiles:\n  default:\n    tolerance: high\n"}')
check "config write + reload" grep -q '^200 {"status":"reloaded"}' <<<"$r"
check "file rewritten" grep -q 'tolerance: high' "$TMP/rampart.yaml"
r=$(http POST "$ADMIN/v1/config" -H "$T" -d '{"config":"nonsense: [\n"}')
check "bad config not written" test "${r%% *}" = 422
check "file untouched after the bad write" grep -q 'tolerance: high' "$TMP/rampart.yaml"
stop_serve "$SERVE_PID"
