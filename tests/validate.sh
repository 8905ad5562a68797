#!/usr/bin/env bash
# make validate: recall and false positives of `rampart analyze` on labelled
# traffic, scored by the shared scorer (../shared/eval/score.py).
#
#  1. every labelled corpus under ../shared/data/validation/*/ (a folder with
#     labels.csv and access.log.gz and/or access.json.log.gz), built-in
#     defaults, no configuration at all: traffic no one here generated;
#  2. tools/trafficgen corpora with shared networks (carrier-grade NAT /24s
#     with a stuffing swarm inside, offices, VPN exits), a few seeds, combined
#     and JSON, with the configuration an operator would write: the demo
#     API's OpenAPI document and the partners allowlisted (their keys in
#     JSON; their addresses in combined, which has no keys).
#
# Fails when a legitimate client is stopped (an ip: incident with throttle
# or block) or a class of attackers falls under its floor in
# tests/validate/floors.txt. Appends "PASSED FAILED" (corpus/format pairs)
# to build/results for `make test`'s closing line. docs/validation.md.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RAMPART=${RAMPART:-$ROOT/build/rampart}
TRAFFICGEN=${TRAFFICGEN:-$ROOT/build/trafficgen}
SHARED=${SHARED:-$ROOT/../shared}
VALIDATION=${VALIDATION:-$SHARED/data/validation}
SCORE=${SCORE:-$SHARED/eval/score.py}
FLOORS=${FLOORS:-$ROOT/tests/validate/floors.txt}
RESULTS=${RESULTS:-$ROOT/build/results}
# The generated corpora: the floors are set for exactly these.
SEEDS=${VALIDATE_SEEDS:-1 2 3}
SHARED_NETWORKS=(--carrier-nat 3 --office-nat 2 --vpn-exit 3)
# A YAML file of top-level settings added to every run (e.g. a `profiles:`
# block that gives the anomaly detector a weight): how BENCHMARKS.md
# measures a detector that is off by default on the same bar.
EXTRA=${VALIDATE_EXTRA_CONFIG:-}
[ -z "$EXTRA" ] || [ -f "$EXTRA" ] || { echo "validate: no file $EXTRA" >&2; exit 2; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
start=$(date +%s)
runs=()

record_failure() { # the harness itself could not run: count it, say why
  mkdir -p "$(dirname "$RESULTS")"
  echo "0 1" >> "$RESULTS"
  echo "validate: FAILED ($*)"
  exit 1
}
for tool in "$RAMPART" "$TRAFFICGEN"; do
  [ -x "$tool" ] || record_failure "$tool is not built (make all)"
done
[ -f "$SCORE" ] || record_failure "no scorer at $SCORE"
[ -f "$FLOORS" ] || record_failure "no floors file at $FLOORS"
command -v python3 >/dev/null || record_failure "python3 is not installed"

# score NAME FORMAT LOG LABELS.csv [analyze options...]: analyze, then score;
# the scorer's output (or why there is none) goes to $TMP/NAME.FORMAT.score.
score() {
  local name=$1 fmt=$2 log=$3 labels=$4 out="$TMP/$1.$2"
  shift 4
  if ! "$RAMPART" analyze --format json --quiet "$@" "$log" > "$out.jsonl" 2> "$out.err"; then
    echo "rampart analyze failed (exit $?): $(head -c 300 "$out.err")" > "$out.score"
  else
    python3 "$SCORE" "$labels" "$out.jsonl" --name "$name $fmt" > "$out.score" 2>&1
    # 0: no legitimate client stopped, 1: some were (report.py judges it)
    [ $? -le 1 ] || echo "score.py could not score it" >> "$out.score"
  fi
  runs+=("$name:$fmt:$out.score")
}

# 1. The validation corpora.
found=0
for dir in "$VALIDATION"/*/; do
  [ -f "$dir/labels.csv" ] || continue
  name=$(basename "$dir")
  for pair in combined:access.log.gz json:access.json.log.gz; do
    fmt=${pair%%:*} file=${pair#*:}
    [ -f "$dir/$file" ] || continue
    score "$name" "$fmt" "$dir/$file" "$dir/labels.csv" ${EXTRA:+--config "$EXTRA"}
    found=$((found + 1))
  done
done
[ "$found" -gt 0 ] || record_failure "no labelled corpus under $VALIDATION"

# 2. Generated corpora with shared networks. trafficgen's labels are TSV
# (ip, label, kind, group); score.py reads ip,label,tool. The default
# population's offices are humans grouped office-N: they are office NATs.
for seed in $SEEDS; do
  name=trafficgen-seed$seed
  for fmt in combined json; do
    "$TRAFFICGEN" --seed "$seed" "${SHARED_NETWORKS[@]}" --format "$fmt" \
      --out "$TMP/$name.$fmt.log" --labels "$TMP/$name.tsv" ||
      record_failure "trafficgen --seed $seed --format $fmt failed"
    awk -F'\t' 'BEGIN { OFS = ","; print "ip,label,tool" }
                NR > 1 { print $1, $2, ($4 ~ /^office-/ ? "office_nat" : $3) }' \
      "$TMP/$name.tsv" > "$TMP/$name.csv"
    {
      echo "inventory:"
      echo "  openapi: $ROOT/examples/openapi.yaml"
      echo "allow:"
      if [ "$fmt" = json ]; then
        echo "  tokens: [$(grep -o '"api_key":"pk_live_[^"]*"' "$TMP/$name.$fmt.log" |
                          cut -d'"' -f4 | sort -u | paste -sd, -)]"
      else
        echo "  cidrs: [$(awk -F'\t' '$3 == "partner" { print $1 "/32" }' "$TMP/$name.tsv" |
                         paste -sd, -)]"
      fi
      [ -z "$EXTRA" ] || cat "$EXTRA"
    } > "$TMP/$name.$fmt.yaml"
    score "$name" "$fmt" "$TMP/$name.$fmt.log" "$TMP/$name.csv" --config "$TMP/$name.$fmt.yaml"
  done
done

echo "make validate: rampart analyze on labelled traffic, scored by $(basename "$SCORE")"
echo "(stopped = an ip: incident with action throttle or block; '>= N' / '<= N' are the bounds"
echo " in tests/validate/floors.txt; '!' marks a bound not met)"
echo
python3 "$ROOT/tests/validate/report.py" "$FLOORS" "$TMP/counts" "${runs[@]}"
status=$?
[ -s "$TMP/counts" ] || echo "0 1" > "$TMP/counts"
read -r pass fail < "$TMP/counts"
mkdir -p "$(dirname "$RESULTS")"
echo "$pass $fail" >> "$RESULTS"
echo
echo "validate: $pass passed, $fail failed ($(( $(date +%s) - start )) s)"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
