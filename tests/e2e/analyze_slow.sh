#!/usr/bin/env bash
# rampart analyze on the long-horizon attack kinds of trafficgen, each
# mixed with legitimate traffic (JSON logs: sessions and header sets are
# present; the demo API's OpenAPI inventory; partner keys allowlisted):
#  1. slow_stuffing, 3 hours: 300 addresses in 30 /24s, 2-4 login attempts
#     an hour each. Their /24s and shared fingerprint get monitor
#     incidents naming the run of failures, and (nearly) every address is
#     throttled or blocked on its own failed attempts.
#  2. persistent_ato, 3 days: one account tried 2-5 times an hour from
#     addresses used 1-3 times. The account (key username:...) gets a
#     monitor incident "N failed logins for this account over D days from
#     M addresses"; most attacking addresses are stopped on their attempt
#     once the account's long view has crossed the line.
#  3. session_rotation, 30 min: one address taking a new session cookie
#     every 1-2 requests is throttled or blocked ("session rotation").
#  4. distributed_flood, 30 min: a botnet of 400 addresses, each with its
#     own browser and only 2-6 requests/s, on one or two targets: stopped
#     address by address as new clients of a surging route.
# In every run no legitimate client is throttled or blocked.
source "$(dirname "$0")/lib.sh"

# run NAME TRAFFICGEN-ARGS...: generates, analyzes; leaves $TMP/NAME.jsonl
# (incidents), $TMP/NAME.labels and $TMP/NAME.max ("key max-action" per key).
run() {
  local name=$1; shift
  "$TRAFFICGEN" --format json --out "$TMP/$name.json" --labels "$TMP/$name.labels" "$@"
  local keys
  keys=$(grep -o '"api_key":"pk_live_[^"]*"' "$TMP/$name.json" | cut -d'"' -f4 | sort -u | paste -sd, -)
  cat > "$TMP/$name.yaml" <<YAML
inventory:
  openapi: $ROOT/examples/openapi.yaml
allow:
  tokens: [${keys}]
YAML
  "$RAMPART" analyze --config "$TMP/$name.yaml" --format json --quiet "$TMP/$name.json" \
    > "$TMP/$name.jsonl"
  incident_actions "$TMP/$name.jsonl" |
    awk '{ r = $2 == "block" ? 3 : $2 == "throttle" ? 2 : $2 == "monitor" ? 1 : 0
           if (!($1 in m) || r > m[$1]) m[$1] = r }
         END { for (k in m) print k, m[k] }' > "$TMP/$name.max"
  echo "  $(wc -l < "$TMP/$name.json") lines, $(wc -l < "$TMP/$name.jsonl") incidents"
}

# count NAME KIND MIN-RANK -> addresses of KIND whose strongest action >= MIN-RANK
count() {
  awk -v kind="$2" -v min="$3" 'NR == FNR { sub(/^ip:/, "", $1); m[$1] = $2; next }
       FNR > 1 && $3 == kind && ($1 in m) && m[$1] >= min { n++ } END { print n + 0 }' \
    "$TMP/$1.max" "$TMP/$1.labels"
}
total() { awk -v kind="$2" 'FNR > 1 && $3 == kind { n++ } END { print n + 0 }' "$TMP/$1.labels"; }
legit_stopped() {
  awk 'NR == FNR { sub(/^ip:/, "", $1); m[$1] = $2; next }
       FNR > 1 && $2 == "legit" && ($1 in m) && m[$1] >= 2 { print $1, $3 }' \
    "$TMP/$1.max" "$TMP/$1.labels"
}
no_legit_stopped() {
  local stopped
  stopped=$(legit_stopped "$1")
  [ -z "$stopped" ] || { echo "$stopped" | head -5; return 1; }
}
summary_of() { # summary_of NAME KEY-PREFIX TEXT: an incident on such a key whose text has TEXT
  [ "$(grep "\"key\":\"$2" "$TMP/$1.jsonl" | grep -cF "$3")" -gt 0 ]
}

echo "== slow_stuffing, 3 hours"
run slow --seed 5 --duration 10800 --humans 100 --mobile 30 --attacks slow_stuffing
n=$(total slow slow_stuffing); s=$(count slow slow_stuffing 2); f=$(count slow slow_stuffing 1)
echo "  slow_stuffing: $n addresses, $f flagged, $s throttled or blocked"
check "300 slow stuffing addresses in the log" [ "$n" -eq 300 ]
check "at least 95% of them throttled or blocked" [ $((s * 100)) -ge $((n * 95)) ]
check "a /24 or the fingerprint has a monitor incident naming the run" \
  summary_of slow "\(subnet\|fingerprint\):" "failed logins in a row without a success"
check "no legitimate client throttled or blocked" no_legit_stopped slow

echo "== persistent_ato, 3 days"
run ato --seed 5 --duration 259200 --humans 60 --mobile 6 --partners 2 --monitors 1 \
  --crawlers 1 --attacks persistent_ato
n=$(total ato persistent_ato); s=$(count ato persistent_ato 2); f=$(count ato persistent_ato 1)
echo "  persistent_ato: $n addresses, $f flagged, $s throttled or blocked"
grep -o '"summary":"auth: [0-9]* failed logins for this account[^"]*"' "$TMP/ato.jsonl" |
  tail -1 | sed 's/^/  /' || true
check "the account has a monitor incident over days" \
  summary_of ato "username:" "failed logins for this account over"
check "at least half of the attacking addresses throttled or blocked" [ $((s * 2)) -ge "$n" ]
check "no legitimate client throttled or blocked" no_legit_stopped ato

echo "== session_rotation, 30 minutes"
run rot --seed 5 --attacks session_rotation
n=$(total rot session_rotation); s=$(count rot session_rotation 2)
echo "  session_rotation: $n address(es), $s throttled or blocked"
check "the rotating address is throttled or blocked" [ "$s" -eq "$n" ] && [ "$n" -ge 1 ]
check "its incident names session rotation" summary_of rot "ip:" "(session rotation)"
check "no legitimate client throttled or blocked" no_legit_stopped rot

echo "== distributed_flood, 30 minutes: 400 addresses, each its own browser, 2-6 requests/s"
run dflood --seed 7 --attacks distributed_flood
n=$(total dflood distributed_flood); s=$(count dflood distributed_flood 2)
echo "  distributed_flood: $n addresses, $s throttled or blocked"
check "400 flooding addresses in the log" [ "$n" -eq 400 ]
check "at least 95% of them throttled or blocked" [ $((s * 100)) -ge $((n * 95)) ]
check "their incidents name the route surge" summary_of dflood "ip:" "while the route surges"
check "no legitimate client throttled or blocked" no_legit_stopped dflood
echo "ok"
