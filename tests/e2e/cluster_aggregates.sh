#!/usr/bin/env bash
# Cross-network aggregates under partitioned detection (docs/cluster.md,
# "Aggregate streams", issue 12): a redis-server on loopback and two
# fleets on it, fed the same traffic through their edges:
#   - "one": cluster.partitions 1, one detector (the reference);
#   - "four": cluster.partitions 4, four detectors (one partition each).
# The traffic, in eight parts 0.3 s apart: credential stuffing against
# ONE account from 192 addresses in 96 /24s (one attempt each, under every
# address threshold) with one browser build (user agent + header set),
# and people beside it: four /24s of NAT with several people each,
# logging in to their own accounts (a typo now and then), and a partner
# polling with its API key.
#   1. the account's incident and the decision on the browser build on
#      the login route (fingerprint:FP@SCOPE) are reached at about the
#      same request count in "four" as in "one" (each engine of "four"
#      sees ~1/4 without the aggregate streams), and the decision is on
#      four's edge; the attacking addresses are stopped one by one in
#      "four" (at least 3/4 as many as in "one": those outside the
#      aggregates' partitions through the witness scores published in
#      <stream>:witness); nobody legitimate is decided on in either fleet;
#   2. kill -9 of the detector holding the partition whose aggregate
#      stream took the most copies: a survivor takes its partition and
#      its aggregate stream within 5 s; a second wave (the same browser
#      build on another login route) reaches its route decision; every
#      stream's group (address and aggregate) read every entry once,
#      nothing pending, and the engines consumed exactly what the edge
#      forwarded plus the copies.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is required (Debian redis-server)"
command -v curl >/dev/null || fail "curl is required"
N=4

start_redis
check "redis-server is up" test "$(rcli ping)" = PONG
# fleet_yaml FLEET ROLE SETTINGS...: $TMP/FLEET-ROLE.yaml
fleet_yaml() {
  local fleet=$1 role=$2; shift 2
  { printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: %s\n' "$REDIS_PORT" "$role"
    printf '  %s\n' "$@"; } > "$TMP/$fleet-$role.yaml"
}
for role in edge detector; do
  fleet_yaml four "$role" "partitions: $N"
  fleet_yaml one "$role" "stream: one:events" "decisions: one:decisions"
done
make_token
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
held() { metric "$1" rampart_cluster_partitions_held; }
consumed() { local s=0 u; for u in "$@"; do s=$((s + $(metric "$u" rampart_cluster_events_consumed_total))); done; echo $s; }

# The traffic, as JSON lines (the nginx module's fields: the header set is
# known, so the fingerprint is the browser build). wave ROUTE ACCOUNT FIRST_NET
python3 - "$TMP" <<'EOF2'
import json, sys
tmp = sys.argv[1]
bot_ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36"
bot_headers = "host,user-agent,accept,content-type,content-length"
person_ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
person_headers = "host,user-agent,accept,accept-language,accept-encoding,referer,cookie,content-type"
def line(ip, method, uri, status, ua, headers, **kw):
    d = {"time": "2026-11-25T10:00:00+00:00", "ip": ip, "method": method, "uri": uri,
         "status": status, "user_agent": ua, "header_names": headers, "body_bytes_sent": 80}
    d.update(kw)
    return json.dumps(d)
def wave(name, route, account, first):
    out = []
    for a in range(2):
        for i in range(96):  # 96 /24s, two addresses each, one attempt each
            ip = "%d.%d.%d.%d" % (20 + (first + i) % 200, 1 + i // 50, 3 + i, 9 + a)
            out.append(line(ip, "POST", route, 401, bot_ua, bot_headers, username=account))
        # people behind four NAT /24s: several per /24, each their own account
        for n in range(4):
            for p in range(4):
                ip = "100.64.%d.%d" % (10 + n, 5 + p % 2)
                user = "person%d%d" % (n, p)
                out.append(line(ip, "GET", "/shop/products", 200, person_ua, person_headers))
                if (n + p + a) % 5 == 0:  # a typo, then in
                    out.append(line(ip, "POST", route, 401, person_ua, person_headers, username=user))
                out.append(line(ip, "POST", route, 200, person_ua, person_headers, username=user))
        # a partner polling with its key from its own /24
        for k in range(10):
            out.append(line("192.0.2.77", "GET", "/api/orders", 200, "partner-sync/3.1", "host,user-agent,authorization",
                            http_authorization="Bearer partner-key-0001"))
    open("%s/%s.log" % (tmp, name), "w").write("\n".join(out) + "\n")
wave("wave1", "/api/login", "victim@example.com", 0)
wave("wave2", "/api/v2/login", "victim2@example.com", 100)
EOF2

start_serve one-d --config "$TMP/one-detector.yaml"; ONE_D=$ADMIN
start_serve one-e --config "$TMP/one-edge.yaml"; ONE_E=$ADMIN
DETS=(); DPIDS=()
for i in 1 2 3 4; do
  start_serve "d$i" --config "$TMP/four-detector.yaml"; DETS+=("$ADMIN"); DPIDS+=("$SERVE_PID")
done
start_serve edge --config "$TMP/four-edge.yaml"; EDGE=$ADMIN
for _ in $(seq 1 100); do
  h=""; for u in "${DETS[@]}"; do h="$h$(held "$u")"; done; [ "$h" = 1111 ] && break; sleep 0.05
done
check "four detectors hold one partition each" test "$h" = 1111

# send_both WAVE: the same lines through both fleets' edges, in eight
# parts 0.3 s apart (an attack lasts: the witness published by the
# aggregate's engine reaches the members' engines within a period), then
# wait until every event and every copy was consumed.
send_both() {
  local part
  split -n l/8 "$TMP/$1.log" "$TMP/$1.part."
  for part in "$TMP/$1".part.*; do
    "$RAMPART" send --socket "$TMP/one-e.sock" --now "$part" > /dev/null
    "$RAMPART" send --socket "$TMP/edge.sock" --now "$part" > /dev/null
    sleep 0.3
  done
  local want_one want_four
  for _ in $(seq 1 300); do
    want_one=$(metric "$ONE_E" rampart_cluster_events_forwarded_total)
    want_four=$(( $(metric "$EDGE" rampart_cluster_events_forwarded_total) +
                  $(metric "$EDGE" rampart_cluster_aggregate_copies_total) ))
    [ "$(consumed "$ONE_D")" = "$want_one" ] && [ "$(consumed "${LIVE[@]}")" = "$((want_four - GONE))" ] &&
      [ "$want_one" -ge "$(wc -l < "$TMP/$1.log")" ] && return 0
    sleep 0.05
  done
  return 1
}
# incident_requests PREFIX KEY-PATTERN: the request count of the key's
# first incident (the fewest requests), from the fleet's incidents stream.
incident_requests() {
  rcli --raw XRANGE "$1:decisions:incidents" - + | python3 -c '
import json, re, sys
pat = re.compile(sys.argv[1]); best = None
for l in sys.stdin:
    l = l.strip()
    if not l.startswith("{"): continue
    j = json.loads(l)
    if pat.match(j.get("key", "")) and (best is None or j["requests"] < best): best = j["requests"]
print(best if best is not None else "none")' "$2"
}
LIVE=("${DETS[@]}"); GONE=0

echo "1. stuffing one account from 192 addresses in 96 /24s, one attempt each"
check "both fleets consumed every event (four: every copy too)" send_both wave1
copies=$(metric "$EDGE" rampart_cluster_aggregate_copies_total)
copied=$(metric "$EDGE" rampart_cluster_events_copied_total)
fwd=$(metric "$EDGE" rampart_cluster_events_forwarded_total)
echo "  four's edge: $fwd events forwarded, $copied of them copied to an aggregate stream ($copies copies)"
check "  the edge wrote copies, at most one per event and aggregate partition" \
  test "$copies" -gt 0 -a "$copied" -le "$fwd" -a "$copies" -le $((copied * 3))
one_route=$(incident_requests one 'fingerprint:[0-9a-f]+@')
four_route=$(incident_requests rampart 'fingerprint:[0-9a-f]+@')
one_acct=$(incident_requests one 'username:')
four_acct=$(incident_requests rampart 'username:')
echo "  route decision on the browser build at request $one_route (one detector), $four_route (4 partitions)"
echo "  the account's incident at request $one_acct (one detector), $four_acct (4 partitions)"
# "About the same": the account's engine reads its partition's address
# stream and aggregate stream in one read, so the attempts it sees come in
# another order than one engine's (a few requests either way); without the
# aggregate streams each engine would see ~1/4 of them.
about_same() { [ "$1" != none ] && [ "$2" != none ] && [ $(( $2 * 4 )) -le $(( $1 * 5 + 8 )) ]; }
check "  one detector decided on the browser build on the login route" test "$one_route" != none
check "  four partitions decided within 25 % (+2) of the same request count" \
  about_same "$one_route" "$four_route"
check "  the account's incident: the same" about_same "$one_acct" "$four_acct"
route_key=$(rcli --raw HKEYS rampart:decisions | grep -E '^fingerprint:[0-9a-f]+@' | head -1)
check "  the route decision is on four's edge" \
  test "$(curl -s -H "Authorization: Bearer $(cat "$TMP/token")" "$EDGE/v1/decisions" | grep -c "\"$route_key\"")" -ge 1
# The members: each attacking address is charged on its own attempt with
# the account's or the browser build's score. In "four" most of them are
# judged by an engine that does not count the account nor the browser
# build: it charges them with the witness score the aggregate's engine
# published (<stream>:witness), one period (250 ms) or so later.
addresses() { rcli --raw HKEYS "$1" | grep -c '^ip:' || true; }
one_members=$(addresses one:decisions); four_members=$(addresses rampart:decisions)
published=0; for u in "${DETS[@]}"; do
  published=$((published + $(metric "$u" rampart_cluster_witness_published_total))); done
echo "  attacking addresses stopped one by one: $one_members (one detector), $four_members" \
     "(4 partitions); witness scores published: $published, in the hash:" \
     "$(rcli --raw HKEYS rampart:events:witness | tr '\n' ' ')"
check "  the aggregates' witness scores were published" test "$published" -gt 0
check "  4 partitions stop at least 3/4 as many attacking addresses as one detector" \
  test $((four_members * 4)) -ge $((one_members * 3))
legit_decided() { rcli --raw HKEYS "$1" | grep -E '^(ip|subnet):(100\.64\.|192\.0\.2\.)|^token:' || true; }
check "  no person (NAT /24s) nor the partner decided on, in either fleet" \
  test -z "$(legit_decided rampart:decisions)$(legit_decided one:decisions)"

echo "2. kill -9 of the detector holding the busiest aggregate stream"
best=0; bq=0
for q in $(seq 0 $((N - 1))); do
  l=$(rcli XLEN "rampart:events:x:$q"); [ "$l" -gt "$best" ] && { best=$l; bq=$q; }
done
holder=$(rcli GET "rampart:events:$bq:lease")
victim=""
for i in 0 1 2 3; do grep -q "as consumer $holder" "$TMP/d$((i + 1)).log" && victim=$i; done
check "partition $bq ($best aggregate entries) is held by a detector" test -n "$victim"
GONE=$(metric "${DETS[$victim]}" rampart_cluster_events_consumed_total)
x_before=$(rcli XLEN "rampart:events:x:$bq")
t_kill=$EPOCHREALTIME
kill -KILL "${DPIDS[$victim]}"
LIVE=(); for i in 0 1 2 3; do [ "$i" = "$victim" ] || LIVE+=("${DETS[$i]}"); done
t_took=""
for _ in $(seq 1 200); do
  l=$(rcli GET "rampart:events:$bq:lease"); [ -n "$l" ] && [ "$l" != "$holder" ] && { t_took=$EPOCHREALTIME; break; }
  sleep 0.05
done
check "a survivor took partition $bq" test -n "$t_took"
took_ms=$(ms_since "$t_kill" "$t_took")
echo "  partition $bq taken $took_ms ms after the kill -9"
check "  within 5 s" awk -v t="$took_ms" 'BEGIN { exit !(t <= 5000) }'
check "the second wave is consumed, the dead one's aggregate stream included" send_both wave2
check "  partition $bq's aggregate stream took more copies after the kill" \
  test "$(rcli XLEN "rampart:events:x:$bq")" -gt "$x_before"
four_route2=$(rcli --raw HKEYS rampart:decisions | grep -cE '^fingerprint:[0-9a-f]+@' || true)
check "  the browser build is decided on the second login route too (2 route decisions)" \
  test "$four_route2" = 2
check "  still no person nor the partner decided on" \
  test -z "$(legit_decided rampart:decisions)$(legit_decided one:decisions)"

echo "3. every entry of every stream read once"
sleep 0.5 # the last acknowledgements
for q in $(seq 0 $((N - 1))); do
  for s in "rampart:events:$q" "rampart:events:x:$q"; do
    info=$(rcli XINFO GROUPS "$s" | paste -sd' ')
    len=$(rcli XLEN "$s")
    read_=$(echo "$info" | grep -o 'entries-read [0-9]*' | cut -d' ' -f2)
    pend=$(echo "$info" | grep -o 'pending [0-9]*' | cut -d' ' -f2)
    lag=$(echo "$info" | grep -o 'lag [0-9]*' | cut -d' ' -f2)
    check "  $s: $len entries, all read by the group, none pending" test "$read_ $pend $lag" = "$len 0 0"
  done
done
fwd=$(metric "$EDGE" rampart_cluster_events_forwarded_total)
copies=$(metric "$EDGE" rampart_cluster_aggregate_copies_total)
total=$(( $(consumed "${LIVE[@]}") + GONE ))
echo "  forwarded $fwd + $copies copies; consumed $total (the dead detector's $GONE included)"
check "consumed == forwarded + copies: nothing lost, nothing read twice" test "$total" = $((fwd + copies))
check "no daemon logged an error" no_error_lines "$TMP"/one-*.log "$TMP"/edge.log \
  $(for i in 0 1 2 3; do [ "$i" = "$victim" ] || echo "$TMP/d$((i + 1)).log"; done)
echo "PASS cluster_aggregates"
