#!/usr/bin/env bash
# The swarm view: a distributed credential-stuffing attack (200 addresses in
# a few /24s sharing one header fingerprint) replayed into a real
# `rampart serve`; /v1/swarms, /v1/clients/{key}/members and
# /v1/incidents/{id} must name the swarm and exactly its members. Every
# expectation is computed from the input and the labels, not from the API.
source "$(dirname "$0")/lib.sh"
command -v jq >/dev/null || bash "$ROOT/tools/install-deps.sh" jq
jqe() { jq -e "$@" >/dev/null; }
make_token
start_serve s

"$TRAFFICGEN" --seed 7 --format json --attacks distributed_stuffing --duration 600 \
  --out "$TMP/events.jsonl" --labels "$TMP/labels.tsv"
"$RAMPART" send --quiet --socket "$TMP/s.sock" --now "$TMP/events.jsonl"
lines=$(wc -l < "$TMP/events.jsonl")
check "all $lines events reached the engine" wait_engine_events "$lines"

# --- expectations, from the input ---------------------------------------
awk -F'\t' '$2 == "attack" { print $1 }' "$TMP/labels.tsv" | sort -u > "$TMP/attackers"
jq -r '[.remote_addr, .http_user_agent, .header_names] | @tsv' "$TMP/events.jsonl" > "$TMP/triples"
# The attackers' (user agent, header names): the engine's fingerprint.
awk -F'\t' 'NR == FNR { a[$1] = 1; next } ($1 in a) { print $2 "\t" $3 }' "$TMP/attackers" "$TMP/triples" \
  | sort -u > "$TMP/attacker_fps"
check "the attackers share one fingerprint" test "$(wc -l < "$TMP/attacker_fps")" -eq 1
# Every address that sent an event with that fingerprint, attacker or not.
awk -F'\t' 'NR == FNR { fp[$0] = 1; next } (($2 "\t" $3) in fp) { print $1 }' "$TMP/attacker_fps" "$TMP/triples" \
  | sort -u > "$TMP/fp_members"
cut -f1 "$TMP/triples" | sort -u > "$TMP/all_ips"
comm -23 "$TMP/all_ips" "$TMP/attackers" > "$TMP/legit"
want=$(wc -l < "$TMP/fp_members")
check "the input has 200 attacker addresses with the fingerprint ($want)" test "$want" -eq 200

# --- the swarm's key: named by an attacker's own incident ("via") --------
one=$(head -1 "$TMP/attackers")
for _ in $(seq 1 100); do
  fp=$(curl -s "$ADMIN/v1/incidents?key=ip:$one" | jq -r '[.incidents[].findings[].via // empty][0] // empty')
  [ -n "$fp" ] && break; sleep 0.05
done
check "an attacker's incident links to its swarm ($fp)" grep -q '^fingerprint:[0-9a-f]\{16\}$' <<<"$fp"
inc=$(curl -s "$ADMIN/v1/incidents?key=ip:$one" | jq -r '.incidents[0].id')
r=$(curl -s "$ADMIN/v1/incidents/$inc")
check "the attacker's incident names the swarm" test "$(jq -r '.swarms[0]' <<<"$r")" = "$fp"

# --- /v1/swarms ----------------------------------------------------------
for _ in $(seq 1 100); do
  curl -s "$ADMIN/v1/swarms?top=10" > "$TMP/swarms.json"
  jqe --arg k "$fp" '.swarms[] | select(.key == $k)' "$TMP/swarms.json" && break
  sleep 0.05
done
s=$(jq -c --arg k "$fp" '.swarms[] | select(.key == $k)' "$TMP/swarms.json")
check "/v1/swarms lists the fingerprint swarm" test -n "$s"
check "its level is fingerprint" test "$(jq -r .level <<<"$s")" = fingerprint
got=$(jq -r .members <<<"$s")
check "its member count is the number of addresses with the fingerprint ($got = $want)" test "$got" -eq "$want"
check "it carries its incident and summary" jqe '(.incidents | length) >= 1 and (.incidents[0].id > 0) and (.summary | test("addresses acting as one"))' <<<"$s"
check "members stopped > 0 ($(jq -r .stopped <<<"$s"))" jqe '.stopped > 0 and .stopped == .throttled + .blocked' <<<"$s"
check "window requests = the fingerprint's events in the input" \
  test "$(jq -r .window.requests <<<"$s")" -eq "$(awk -F'\t' 'NR == FNR { fp[$0] = 1; next } (($2 "\t" $3) in fp)' "$TMP/attacker_fps" "$TMP/triples" | wc -l)"
check "top members: 10, busiest first" jqe '(.top_members | length) == 10 and ([.top_members[].requests] | . == (sort | reverse))' <<<"$s"
check "top members are attackers" test "$(jq -r '.top_members[].key | sub("^ip:"; "")' <<<"$s" | sort | comm -23 - "$TMP/attackers" | wc -l)" -eq 0
# The fingerprint decided on the login route (fingerprint:FP@SCOPE), when the
# engine made one: its members are the addresses with FP that posted logins.
scoped=$(jq -r --arg k "$fp@" '[.swarms[] | select(.key | startswith($k))][0].key // empty' "$TMP/swarms.json")
if [ -n "$scoped" ]; then
  login_want=$(jq -r 'select(.request_uri | startswith("/api/login")) | [.remote_addr, .http_user_agent, .header_names] | @tsv' "$TMP/events.jsonl" \
    | awk -F'\t' 'NR == FNR { fp[$0] = 1; next } (($2 "\t" $3) in fp) { print $1 }' "$TMP/attacker_fps" - | sort -u | wc -l)
  check "fingerprint on the login route $scoped: $login_want members" \
    test "$(jq -r --arg k "$scoped" '.swarms[] | select(.key == $k) | .members' "$TMP/swarms.json")" -eq "$login_want"
fi
# Subnet swarms: every member is in the subnet, and the count is the input's.
sub=$(jq -r '[.swarms[] | select(.level == "subnet")][0].key // empty' "$TMP/swarms.json")
if [ -n "$sub" ]; then
  prefix=$(sed 's/^subnet://; s/0\/24$//' <<<"$sub")
  sub_want=$(grep -c "^${prefix//./\\.}" "$TMP/all_ips")
  check "subnet swarm $sub: $sub_want members" \
    test "$(jq -r --arg k "$sub" '.swarms[] | select(.key == $k) | .members' "$TMP/swarms.json")" -eq "$sub_want"
fi

# --- /v1/clients/{key}/members ------------------------------------------
curl -s "$ADMIN/v1/clients/$fp/members?limit=1000" > "$TMP/members.json"
jq -r '.top_members[].key | sub("^ip:"; "")' "$TMP/members.json" | sort -u > "$TMP/api_members"
check "members: exactly the addresses with the fingerprint" cmp -s "$TMP/api_members" "$TMP/fp_members"
check "no legitimate client is a member of the attacker's fingerprint" \
  test "$(comm -12 "$TMP/api_members" "$TMP/legit" | wc -l)" -eq 0
check "member rows: requests, times, status mix, action" jqe '.top_members[0] | (.requests > 0) and (.first_seen <= .last_seen)
  and (.status["4xx"] >= 0) and (.action | IN("none", "monitor", "throttle", "block", "allow"))' "$TMP/members.json"
# A member's requests equal its events in the input.
m=$(jq -r '.top_members[0].key | sub("^ip:"; "")' "$TMP/members.json")
check "member $m: its requests are its events in the input" \
  test "$(jq -r '.top_members[0].requests' "$TMP/members.json")" -eq "$(awk -F'\t' -v ip="$m" '$1 == ip' "$TMP/triples" | wc -l)"
r=$(curl -s "$ADMIN/v1/clients/$fp/members?limit=3")
check "members ?limit=3 lists 3 and still counts them all" jqe --argjson n "$want" '(.top_members | length) == 3 and .members == $n' <<<"$r"
r=$(http GET "$ADMIN/v1/clients/ip:$one/members")
check "members of an IP key: 400" test "${r%% *}" = 400

# --- /v1/incidents/{id} of the swarm -------------------------------------
sid=$(jq -r '.incidents[0].id' <<<"$s")
r=$(curl -s "$ADMIN/v1/incidents/$sid")
check "the swarm's incident $sid carries its members as evidence" \
  jqe --arg k "$fp" --argjson n "$want" '.key == $k and .members.members == $n and (.members.top_members | length) == 20' <<<"$r"
r=$(http GET "$ADMIN/v1/incidents/987654321")
check "an unknown incident: 404" test "${r%% *}" = 404
r=$(http GET "$ADMIN/v1/incidents/x1")
check "a bad incident id: 400" test "${r%% *}" = 400
stop_serve "$SERVE_PID"
