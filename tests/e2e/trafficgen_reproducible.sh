#!/usr/bin/env bash
# trafficgen end to end: the generator is seeded and reproducible (same
# seed, same bytes; another seed, other bytes), its labels cover every
# scenario and name each address exactly once, every combined line is
# well-formed, JSON lines are sorted by time.
set -euo pipefail
cd "$(dirname "$0")/../.."

gen=${TRAFFICGEN:-build/trafficgen}
[ -x "$gen" ] || make --no-print-directory "$gen" >/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; exit 1; }

# --help is a real usage text and exits 0.
"$gen" --help | grep -q '^usage: trafficgen' || fail "--help has no usage text"
if "$gen" --no-such-option 1 2>/dev/null; then fail "an unknown option was accepted"; fi

# Same seed, byte-identical log and labels; another seed, different.
"$gen" --seed 5 --duration 600 --out "$tmp/a.log" --labels "$tmp/a.tsv"
"$gen" --seed 5 --duration 600 --out "$tmp/b.log" --labels "$tmp/b.tsv"
"$gen" --seed 6 --duration 600 --out "$tmp/c.log" --labels "$tmp/c.tsv"
cmp -s "$tmp/a.log" "$tmp/b.log" || fail "same seed, different logs"
cmp -s "$tmp/a.tsv" "$tmp/b.tsv" || fail "same seed, different labels"
cmp -s "$tmp/a.log" "$tmp/c.log" && fail "different seeds, same log"
"$gen" --seed 5 --duration 600 --format json --out "$tmp/a.jsonl"
"$gen" --seed 5 --duration 600 --format json --out "$tmp/b.jsonl"
cmp -s "$tmp/a.jsonl" "$tmp/b.jsonl" || fail "same seed, different JSON logs"
[ "$(wc -l < "$tmp/a.jsonl")" -eq "$(wc -l < "$tmp/a.log")" ] || fail "JSON and combined differ in length"

# The default run: 30 minutes, every kind present.
"$gen" --out "$tmp/d.log" --labels "$tmp/d.tsv"
lines=$(wc -l < "$tmp/d.log")
[ "$lines" -ge 30000 ] && [ "$lines" -le 90000 ] || fail "default log has $lines lines"
[ "$(head -1 "$tmp/d.tsv")" = "$(printf 'ip\tlabel\tkind\tgroup')" ] || fail "labels header"
for kind in human mobile partner monitor crawler credential_stuffing brute_force \
            password_spraying account_takeover flood flood_rotating_ua scanner scraper \
            enumeration undeclared_probe consumption distributed_stuffing \
            distributed_scraping distributed_enumeration; do
  grep -q "	$kind	" "$tmp/d.tsv" || fail "no $kind in the labels"
done
bad=$(awk -F'\t' 'NR > 1 && !(($2 == "legit" && $3 ~ /^(human|mobile|partner|monitor|crawler)$/) ||
                              ($2 == "attack" && $3 !~ /^(human|mobile|partner|monitor|crawler)$/))' \
      "$tmp/d.tsv" | wc -l)
[ "$bad" -eq 0 ] || fail "$bad label lines with a label that does not match the kind"
[ "$(tail -n +2 "$tmp/d.tsv" | cut -f1 | sort | uniq -d | wc -l)" -eq 0 ] || fail "an address has two labels"
distributed=$(awk -F'\t' '$3 == "distributed_stuffing"' "$tmp/d.tsv" | cut -f4 | sort -u | wc -l)
[ "$distributed" -eq 1 ] || fail "distributed stuffing spans $distributed groups, want 1"

# Every address in the log is labelled, and every label is in the log.
cut -d' ' -f1 "$tmp/d.log" | sort -u > "$tmp/ips.log"
tail -n +2 "$tmp/d.tsv" | cut -f1 | sort -u > "$tmp/ips.tsv"
cmp -s "$tmp/ips.log" "$tmp/ips.tsv" || fail "log addresses and labelled addresses differ"

# Every line is nginx combined.
re='^[0-9a-f.:]+ - - \[[0-3][0-9]/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/[0-9]{4}:[0-2][0-9]:[0-5][0-9]:[0-5][0-9] \+0000\] "[A-Z]+ /[^ "]* HTTP/(1\.1|2\.0)" [1-5][0-9][0-9] [0-9]+ "[^"]*" "[^"]+"$'
malformed=$(grep -Evc "$re" "$tmp/d.log" || true)
[ "$malformed" -eq 0 ] || { grep -Ev "$re" "$tmp/d.log" | head -3; fail "$malformed malformed lines"; }

# Sorted by time (JSON has milliseconds; ISO strings sort as text).
"$gen" --format json --out "$tmp/d.jsonl"
unsorted=$(sed 's/^{"time_iso8601":"\([^"]*\)".*/\1/' "$tmp/d.jsonl" | LC_ALL=C sort -c 2>&1 | wc -l)
[ "$unsorted" -eq 0 ] || fail "JSON log not sorted by time"
grep -q '"username":"' "$tmp/d.jsonl" || fail "no username field"
grep -q '"api_key":"pk_live_' "$tmp/d.jsonl" || fail "no partner api_key"
grep -q '"header_names":"host,' "$tmp/d.jsonl" || fail "no header_names"

# Failed form logins answer 200 with the same page as every other failure.
sizes=$(grep -E '"POST /login HTTP/[0-9.]+" 200 ' "$tmp/d.log" | awk '{print $10}' | sort -u | wc -l)
[ "$sizes" -eq 1 ] || fail "form login failures have $sizes sizes, want 1"

# Shared networks (off by default): reproducible; every NAT and VPN address
# labelled legit with its network's kind; carrier NATs carry hundreds of
# people per /24 and share each /24 with members of the stuffing swarm.
shared=(--seed 5 --duration 600 --carrier-nat 2 --office-nat 1 --vpn-exit 2)
"$gen" "${shared[@]}" --out "$tmp/s1.log" --labels "$tmp/s1.tsv"
"$gen" "${shared[@]}" --out "$tmp/s2.log" --labels "$tmp/s2.tsv"
cmp -s "$tmp/s1.log" "$tmp/s2.log" && cmp -s "$tmp/s1.tsv" "$tmp/s2.tsv" || fail "shared networks: same seed, different output"
for kind in carrier_nat office_nat vpn_exit; do
  grep -q "	legit	$kind	" "$tmp/s1.tsv" || fail "no legit $kind in the labels"
done
[ "$(grep -c '	attack	distributed_nat_stuffing	' "$tmp/s1.tsv")" -eq 6 ] || fail "want 3 swarm members per carrier /24"
awk -F'\t' '$3 == "carrier_nat" || $3 == "distributed_nat_stuffing" { split($1, o, "."); print $3, o[1] "." o[2] "." o[3] }' \
  "$tmp/s1.tsv" | sort -u > "$tmp/s1.nets"
[ "$(cut -d' ' -f2 "$tmp/s1.nets" | sort | uniq -d | wc -l)" -eq 2 ] || fail "the swarm is not inside both carrier /24s"
"$gen" "${shared[@]}" --format json --out "$tmp/s1.jsonl"
grep -q '"api_key":"st_' "$tmp/s1.jsonl" || fail "no staff token in the office"
carrier=$(awk -F'\t' '$3 == "carrier_nat" { print $1 }' "$tmp/s1.tsv" | head -1)
uas=$(grep -F "\"remote_addr\":\"$carrier\"" "$tmp/s1.jsonl" | grep -o '"http_user_agent":"[^"]*"' | sort -u | wc -l)
[ "$uas" -ge 15 ] || fail "carrier NAT address $carrier shows $uas user agents, want dozens of people"
"$gen" --carrier-nat 65 2>/dev/null && fail "--carrier-nat 65 was accepted"
"$gen" --attacks distributed_nat_stuffing 2>/dev/null && fail "--attacks took a shared-network kind"

echo "trafficgen: reproducible, $lines lines, all kinds labelled, all lines well-formed, shared networks"
