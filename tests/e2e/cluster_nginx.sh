#!/usr/bin/env bash
# Fleet mode on Redis behind real nginx (issue 12, Proof): a redis-server on
# loopback, the demo API, three nginx instances with the module in front of
# it, one edge daemon per nginx, one detector. Every client address is set
# through X-Forwarded-For (nginx trusts 127.0.0.1 as a proxy, as the other
# nginx tests do), so one attacking address is spread over three hosts.
#
#   0. the baseline: a fourth nginx with a standalone daemon (one host as
#      today); the same credential stuffing and the same scanner against it
#      give "the point a single host stops them";
#   1. credential stuffing (a curl loop over the leaked-looking pairs,
#      JSON login) round-robined over the three nginx: stopped on ALL
#      THREE hosts within 10 attempts of the single host's point;
#   2. a scanner (a curl loop over dirb's common wordlist) round-robined
#      the same way: stopped on all three within 100 requests of it;
#   3. 20 manual blocks of fresh addresses through edge A's API: each is
#      enforced by all three nginx within 100 ms (p50/p99 printed; time from
#      the API's answer to the first 403 from each nginx, polled with curl);
#   4. a person browsing and a partner polling, round-robined the same way
#      during all of the above, are never refused.
# The faults (kill -9 of the active detector, Redis stopped and started, both
# mid-attack, two detectors): cluster_nginx_faults.sh, on the same helpers.
# Everything on 127.0.0.1 free ports, started here and stopped by PID;
# bounded counts; ~30 s on 2 cores. KEEP_TMP=1 keeps the files.
source "$(dirname "$0")/lib.sh"
nginx_fleet_init

# --- Redis, the demo API, the daemons ---------------------------------------
start_redis
RPORT=$REDIS_PORT
check "redis-server is up on 127.0.0.1:$RPORT" test "$(rcli ping)" = PONG

start_demo_api

# The detector (and the single host) know the API: the OpenAPI document is
# the inventory and marks POST /login and POST /api/login as auth routes.
# The edges only forward.
printf 'inventory:\n  openapi: %s\n' "$ROOT/examples/openapi.yaml" > "$TMP/solo.yaml"
{ cat "$TMP/solo.yaml"; printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: detector\n' "$RPORT"; } > "$TMP/detector.yaml"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n' "$RPORT" > "$TMP/edge.yaml"
case $("$RAMPART" check-config "$TMP/edge.yaml" 2>&1 || true) in
  *"unknown key 'cluster'"*) fail "$RAMPART does not know the cluster section: a build older than fleet mode (make all, or RAMPART=...)" ;;
esac
check "check-config accepts the detector's and the edges' files" \
  sh -c "'$RAMPART' check-config '$TMP/detector.yaml' >/dev/null && '$RAMPART' check-config '$TMP/edge.yaml' >/dev/null"
make_token
TOKEN=$(cat "$TMP/token")
start_serve det --config "$TMP/detector.yaml"; DET=$ADMIN
start_serve ea --config "$TMP/edge.yaml"; EA=$ADMIN
start_serve eb --config "$TMP/edge.yaml"; EB=$ADMIN
start_serve ec --config "$TMP/edge.yaml"; EC=$ADMIN
start_serve solo --config "$TMP/solo.yaml"

# --- nginx ------------------------------------------------------------------
start_fleet_nginx a ea; NA=$NG_URL
start_fleet_nginx b eb; NB=$NG_URL
start_fleet_nginx c ec; NC=$NG_URL
start_fleet_nginx solo solo; NSOLO=$NG_URL
FLEET=("$NA" "$NB" "$NC") NAMES=(A B C)
echo "  nginx A $NA, B $NB, C $NC (edges), single host $NSOLO; API $API_URL; redis :$RPORT"

# --- legitimate clients, all the time ---------------------------------------
# A person and a partner (lib.sh, legit), each round-robined over the three
# nginx during all of the below.
start_legit

# --- the attacks --------------------------------------------------------------
fleet_ok() { # fleet_ok BUDGET: every host refused, each within BUDGET of the single host
  local h
  for h in 0 1 2; do
    [ "${FIRST[h]}" -gt 0 ] && [ "${FIRST[h]}" -le $((SOLO_AT + $1)) ] || return 1
  done
}
STUFFER=198.51.100.10 SCANNER=203.0.113.20
echo "0. the single host (one nginx, one standalone daemon): the same attacks"
attack stuff "$STUFFER" 80 "$NSOLO"; SOLO_AT=${FIRST[0]}
check "credential stuffing stopped by the single host (attempt $SOLO_AT, $RATE attempts/s)" test "$SOLO_AT" -gt 0
STUFF_SOLO=$SOLO_AT
attack scan "$SCANNER" 400 "$NSOLO"; SCAN_SOLO=${FIRST[0]}
check "the scanner stopped by the single host (request $SCAN_SOLO, $RATE requests/s)" test "$SCAN_SOLO" -gt 0

echo "1. credential stuffing round-robined over the three nginx (one address, $STUFFER)"
SOLO_AT=$STUFF_SOLO
attack stuff "$STUFFER" 160 "${FLEET[@]}"
echo "  attempts until the first refusal: nginx A ${FIRST[0]}, B ${FIRST[1]}, C ${FIRST[2]}" \
     "(single host: $STUFF_SOLO; $RATE attempts/s, $SENT sent)"
check "stuffing stopped on all three hosts within 10 attempts of the single host" fleet_ok 10
STUFF_FLEET="${FIRST[*]}"

echo "2. a scanner round-robined over the three nginx (one address, $SCANNER)"
SOLO_AT=$SCAN_SOLO
attack scan "$SCANNER" 600 "${FLEET[@]}"
echo "  requests until the first refusal: nginx A ${FIRST[0]}, B ${FIRST[1]}, C ${FIRST[2]}" \
     "(single host: $SCAN_SOLO; $RATE requests/s, $SENT sent)"
check "the scanner stopped on all three hosts within 100 requests of the single host" fleet_ok 100
SCAN_FLEET="${FIRST[*]}"
curl -s "$DET/v1/decisions" > "$TMP/decisions"
check "the detector decided on the stuffer and the scanner" \
  sh -c "grep -q 'ip:$STUFFER\"' '$TMP/decisions' && grep -q 'ip:$SCANNER\"' '$TMP/decisions'"

echo "3. 20 manual blocks through edge A's API, enforced by the three nginx"
poll() { # poll URL IP OUT: curl until the first 403 (3 s at most); its time
  local end=$((SECONDS + 3)) c
  while [ "$SECONDS" -le "$end" ]; do
    c=$(curl -s -o /dev/null -w '%{http_code}' -H "X-Forwarded-For: $2" "$1/health")
    [ "$c" = 403 ] && { echo "$EPOCHREALTIME" > "$3"; return 0; }
  done
}
: > "$TMP/prop"
for k in $(seq 1 20); do
  ip=100.100.$k.$((10 + k))
  rm -f "$TMP"/p.*
  pp=""
  for h in 0 1 2; do poll "${FLEET[h]}" "$ip" "$TMP/p.$h" & pp="$pp $!"; done
  sleep 0.05 # the pollers run (and see 200) before the block exists
  c=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -X POST "$EA/v1/decisions" \
      -d "{\"key\":\"ip:$ip\",\"action\":\"block\",\"duration\":\"10m\"}")
  t0=$EPOCHREALTIME
  [ "$c" = 201 ] || fail "manual block $k refused by edge A's API ($c)"
  for p in $pp; do wait "$p" || true; done
  for h in 0 1 2; do
    [ -s "$TMP/p.$h" ] || fail "manual block of $ip not enforced by nginx ${FLEET[h]} within 3 s"
    echo "$h $(ms_since "$t0" "$(cat "$TMP/p.$h")")" >> "$TMP/prop"
  done
  sleep 0.1
done
pct() { # pct FILE: "p50 p99 max" of the numbers in FILE (negative counted as 0)
  awk '{ print ($1 < 0 ? 0 : $1) }' "$1" | sort -n | awk '{ v[NR] = $1 } END {
    printf "%.1f %.1f %.1f\n", v[int((NR - 1) * 0.5) + 1], v[int((NR - 1) * 0.99) + 1], v[NR] }'; }
awk '{ print $2 }' "$TMP/prop" > "$TMP/prop.all"
read -r P50 P99 PMAX < <(pct "$TMP/prop.all")
for h in 0 1 2; do
  awk -v h=$h '$1 == h { print $2 }' "$TMP/prop" > "$TMP/prop.$h"
  read -r a _ c < <(pct "$TMP/prop.$h")
  echo "  nginx ${NAMES[h]}: p50 $a ms, max $c ms"
done
echo "  API answer -> 403 from each nginx, 60 samples: p50 $P50 ms, p99 $P99 ms, max $PMAX ms (curl polling included)"
check "every manual block enforced by all three nginx within 100 ms (p99 $P99 ms)" \
  awk -v p="$P99" 'BEGIN { exit !(p <= 100) }'

echo "   what each nginx refused, on its edge, by the decision's detector"
# rampart_requests_refused_total{action,detector}: an edge labels a refusal
# under a fleet decision with the detector the fleet's value carries, as the
# detector (which reads the same refused events) labels it. Each nginx
# refused the stuffer and the scanner, and each manual block once. (Label
# by label the two may differ: each looks the decision up when it counts, and
# the detector may have escalated it in between.)
refused() { curl -s "$1/metrics" | awk '/^rampart_requests_refused_total\{/ && $2 > 0 { print $1, $2 }' | sort; }
no_unknown() { ! grep -q 'unknown' <<<"$1"; }
total() { awk '{ s += $2 } END { print s + 0 }'; }
edges_total() { for e in "$EA" "$EB" "$EC"; do refused "$e"; done | total; }
end=$((SECONDS + 5))
until [ "$(edges_total)" = "$(refused "$DET" | total)" ] || [ "$SECONDS" -gt "$end" ]; do sleep 0.1; done
for e in "$EA" "$EB" "$EC"; do
  r=$(refused "$e")
  echo "  edge $e: $(tr '\n' ' ' <<<"$r")"
  check "  20 refusals under the manual blocks" grep -qx 'rampart_requests_refused_total{action="block",detector="manual"} 20' <<<"$r"
  check "  the stuffer's and the scanner's under the detector's decisions, by their detector" \
    test "$(grep -v 'detector="manual"\|detector="unknown"' <<<"$r" | total)" -ge 2
  check "  none labelled unknown" no_unknown "$r"
done
echo "  detector: $(refused "$DET" | tr '\n' ' ')"
check "the three edges counted as many refusals as the detector ($(edges_total))" \
  test "$(edges_total)" = "$(refused "$DET" | total)"

echo "4. the legitimate clients"
legit_verdict

m=$(curl -s "$DET/metrics")
echo "  detector: $(grep -E '^rampart_cluster_(events_consumed|entries_acked|decisions_published)_total' <<<"$m" | tr '\n' ' ')"
fwd=0
for e in "$EA" "$EB" "$EC"; do
  m=$(curl -s "$e/metrics")
  check "edge $e: no forward error, no publish error" \
    grep -Eq '^rampart_cluster_forward_errors_total 0$' <<<"$m"
  f=$(grep -E '^rampart_cluster_events_forwarded_total' <<<"$m" | awk '{print $2}')
  check "  it forwarded its nginx's events ($f)" test "${f:-0}" -gt 0
  fwd=$((fwd + f))
done
echo "  the three edges forwarded $fwd events"
for n in a b c solo; do
  check "nginx $n: no worker died" test "$(grep -c 'exited on signal' "$TMP/ng-$n/error.log")" = 0
done
echo "SUMMARY stuffing solo=$STUFF_SOLO fleet=$STUFF_FLEET scan solo=$SCAN_SOLO fleet=$SCAN_FLEET propagation p50=$P50 p99=$P99 max=$PMAX"
echo "cluster_nginx: ok"
