#!/usr/bin/env bash
# make demo: generate a labelled half hour of mixed traffic (humans, mobile
# apps, partners, monitors, crawlers and every attack kind) as an nginx JSON
# access log, analyse it the way an operator would set Rampart up (the API's
# OpenAPI document, the partners' API keys allowlisted), and compare the
# verdicts with the labels.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/demo
mkdir -p "$out"
echo "== Generating a labelled corpus (tools/trafficgen, seed 42) -> $out/access.json"
build/trafficgen --seed 42 --format json --out "$out/access.json" --labels "$out/labels.tsv"
keys=$(grep -o '"api_key":"pk_live_[^"]*"' "$out/access.json" | cut -d'"' -f4 | sort -u | paste -sd, -)
cat > "$out/rampart.yaml" <<YAML
# The demo API's endpoints, so probes of undocumented ones stand out.
inventory:
  openapi: $PWD/examples/openapi.yaml
# Verified partner integrations: their API keys bypass detection.
allow:
  tokens: [$keys]
YAML
echo "== Configuration ($out/rampart.yaml):"
sed 's/^/   /' "$out/rampart.yaml"
echo
echo "== rampart analyze -c $out/rampart.yaml $out/access.json"
build/rampart analyze -c "$out/rampart.yaml" --top 15 --no-samples "$out/access.json"
build/rampart analyze -c "$out/rampart.yaml" --format json --quiet "$out/access.json" > "$out/incidents.jsonl"
echo
echo "== Verdicts against the labels (per client IP)"
awk '{ k = ""; a = "";
       if (match($0, /"key":"ip:[^"]*"/)) k = substr($0, RSTART + 10, RLENGTH - 11);
       if (match($0, /"action":"[^"]*"/)) a = substr($0, RSTART + 10, RLENGTH - 11);
       if (k != "") print k "\t" a }' "$out/incidents.jsonl" > "$out/actions.tsv"
printf '%-8s %-24s %8s %8s %18s\n' label kind clients flagged throttled/blocked
awk -F'\t' 'NR == FNR { act[$1] = $2; next }
            FNR == 1 { next }
            { n[$2 " " $3]++; if ($1 in act) { f[$2 " " $3]++; if (act[$1] != "monitor") s[$2 " " $3]++ } }
            END { for (k in n) { split(k, p, " "); printf "%-8s %-24s %8d %8d %18d\n", p[1], p[2], n[k], f[k], s[k] } }' \
    "$out/actions.tsv" "$out/labels.tsv" | sort
echo
echo "Distributed attacks (one request a minute per IP from hundreds of IPs) need aggregation"
echo "beyond the IP, which is the next step of the engine."
echo "Full report: $out/incidents.jsonl (one JSON incident per line; schema in docs/analyze.md)"
