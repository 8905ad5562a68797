#!/usr/bin/env bash
# make demo: generate a labelled half hour of mixed traffic (humans,
# partners, monitors, crawlers and every attack kind), analyse it with the
# built-in defaults, and compare the verdicts with the labels.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/demo
mkdir -p "$out"
echo "== Generating a labelled corpus (tools/trafficgen, seed 42) -> $out/access.log"
build/trafficgen --seed 42 --out "$out/access.log" --labels "$out/labels.tsv"
echo
echo "== rampart analyze $out/access.log"
build/rampart analyze --top 25 --no-samples "$out/access.log"
build/rampart analyze --format json --quiet "$out/access.log" > "$out/incidents.jsonl"
echo
echo "== Verdicts against the labels (per client IP)"
awk '{ k = ""; a = "";
       if (match($0, /"key":"ip:[^"]*"/)) k = substr($0, RSTART + 10, RLENGTH - 11);
       if (match($0, /"action":"[^"]*"/)) a = substr($0, RSTART + 10, RLENGTH - 11);
       if (k != "") print k "\t" a }' "$out/incidents.jsonl" > "$out/actions.tsv"
awk -F'\t' 'NR == FNR { act[$1] = $2; next }
            FNR == 1 { next }
            { n[$2 " " $3]++; if ($1 in act) { f[$2 " " $3]++; if (act[$1] != "monitor") s[$2 " " $3]++ } }
            END { printf "%-8s %-24s %8s %8s %18s\n", "label", "kind", "clients", "flagged", "throttled/blocked"
                  for (k in n) { split(k, p, " "); printf "%-8s %-24s %8d %8d %18d\n", p[1], p[2], n[k], f[k], s[k] } }' \
    "$out/actions.tsv" "$out/labels.tsv" | sort
echo
echo "Full report: $out/incidents.jsonl (one JSON incident per line; schema in docs/analyze.md)"
