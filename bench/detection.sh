#!/usr/bin/env bash
# bench/detection.sh -- detection quality per scenario, three configurations.
#
# For each scenario, trafficgen writes a labelled JSON corpus (the header
# set is present, as the nginx module sends it) of the usual legitimate
# population -- people, mobile apps, partners (their API keys allowlisted,
# as an operator would), monitors, crawlers -- plus one attack kind, for
# two seeds. `rampart analyze` judges it with
#   rules      per-IP only: engine.levels [ip], anomaly off
#   +agg       the default configuration: the swarm levels (subnet,
#              fingerprint, token, session, username), anomaly off
#   +anomaly   the default configuration plus the anomaly detector with
#              a weight, and a model trained by `rampart train` on a
#              different seed (5) that contains every attack kind
# and the script counts, per address (the labels are per address):
#   recall     attacking addresses throttled or blocked / attacking addresses
#   precision  attacking addresses stopped / all addresses stopped
#   FPR        legitimate addresses stopped / legitimate addresses
# A monitor-only incident is not a stop. And per request (`analyze
# --verdicts`: every request answered throttle or block as it came, the
# way the nginx module would have answered it, including refusals of a
# fingerprint on a route, which no per-address count shows):
#   refused    share of the attack's requests refused
#   legit      legitimate requests refused (bystanders)
# Prints a markdown table.
#
# usage: bench/detection.sh [SEEDS] [ANOMALY_WEIGHT]   (default "7 11", 40)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SEEDS=${1:-7 11}
AW=${2:-40}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
make -s all >/dev/null

kinds=(distributed_stuffing distributed_scraping distributed_enumeration)
for k in slow_stuffing persistent_ato session_rotation distributed_flood; do
  build/trafficgen --help | grep -qw "$k" && kinds+=("$k")
done
kinds+=(credential_stuffing scraper enumeration flood_rotating_ua scanner)

# Operator configuration: the demo API's OpenAPI document; partner keys
# allowlisted (filled per corpus).
base_config() { # FILE KEYS [extra yaml]
  cat > "$1" <<YAML
inventory:
  openapi: $ROOT/examples/openapi.yaml
allow:
  tokens: [$2]
$3
YAML
}

echo "training the anomaly model on seed 5, 90 minutes (every attack kind)..." >&2
build/trafficgen --seed 5 --format json --duration 5400 --out "$TMP/train.json"
t0=$(date +%s.%N)
train_out=$(build/rampart train -o "$TMP/model" "$TMP/train.json" 2>&1) ||
  { echo "rampart train failed: $train_out" >&2; exit 1; }
t1=$(date +%s.%N)
train_lines=$(wc -l < "$TMP/train.json")
train_s=$(echo "$t1 - $t0" | bc)

# score LOG LABELS CONFIG [analyze args]
#   -> "tp fp attackers legit attack_requests attack_refused legit_refused"
score() {
  build/rampart analyze --quiet --format json --config "$3" --verdicts "$TMP/verdicts" "${@:4}" \
    "$1" > "$TMP/inc.jsonl" || true
  # requests per address, from the log itself
  grep -o '"remote_addr":"[^"]*"' "$1" | cut -d'"' -f4 | sort | uniq -c | awk '{ print $2 "\t" $1 }' \
    > "$TMP/per_ip"
  awk -F'\t' '
    FILENAME == ARGV[1] {
      k = ""; a = ""
      if (match($0, /"key":"ip:[^"]*"/)) k = substr($0, RSTART + 10, RLENGTH - 11)
      if (match($0, /"action":"[^"]*"/)) a = substr($0, RSTART + 10, RLENGTH - 11)
      if (k != "" && (a == "throttle" || a == "block")) stop[k] = 1
      next
    }
    FILENAME == ARGV[2] { refused[$2]++; next }
    FILENAME == ARGV[3] { reqs[$1] = $2; next }
    FNR == 1 { next }
    { if ($2 == "attack") { n_att++; if ($1 in stop) tp++; ar += reqs[$1]; aref += refused[$1] }
      else { n_leg++; if ($1 in stop) fp++; lref += refused[$1] } }
    END { printf "%d %d %d %d %d %d %d\n", tp, fp, n_att, n_leg, ar, aref, lref }' \
    "$TMP/inc.jsonl" "$TMP/verdicts" "$TMP/per_ip" "$2"
}

cell() { # tp fp att leg areq aref lref -> "recall / precision / FPR / refused / legit"
  awk -v tp="$1" -v fp="$2" -v att="$3" -v leg="$4" -v areq="$5" -v aref="$6" -v lref="$7" 'BEGIN {
    r = att ? tp / att : 0; p = (tp + fp) ? tp / (tp + fp) : 1; f = leg ? fp / leg : 0
    printf "%.2f / %.2f / %.4f / %.0f%% / %d", r, p, f, areq ? 100 * aref / areq : 0, lref }'
}

echo
echo "| scenario (seeds ${SEEDS// /, }) | attacking IPs | rules: recall / precision / FPR / refused / legit | +agg | +agg +anomaly |"
echo "|---|---|---|---|---|"
for kind in "${kinds[@]}"; do
  declare -A sum=()
  for cfg in rules agg anomaly; do sum[$cfg]="0 0 0 0 0 0 0"; done
  for seed in $SEEDS; do
    dur=1800
    [ "$kind" = persistent_ato ] && dur=259200
    [ "$kind" = slow_stuffing ] && dur=10800
    extra=()
    [ "$dur" -gt 1800 ] && extra=(--humans 30 --mobile 10)
    build/trafficgen --seed "$seed" --format json --attacks "$kind" --duration "$dur" "${extra[@]}" \
      --out "$TMP/c.json" --labels "$TMP/c.tsv"
    keys=$(grep -o '"api_key":"pk_live_[^"]*"' "$TMP/c.json" | cut -d'"' -f4 | sort -u | paste -sd, -)
    base_config "$TMP/rules.yaml" "$keys" "engine:
  levels: [ip]"
    base_config "$TMP/agg.yaml" "$keys" ""
    base_config "$TMP/anomaly.yaml" "$keys" "profiles:
  default:
    detectors:
      anomaly: { weight: $AW }"
    for cfg in rules agg anomaly; do
      args=()
      [ "$cfg" = anomaly ] && args=(--model "$TMP/model")
      read -r tp fp att leg areq aref lref < <(score "$TMP/c.json" "$TMP/c.tsv" "$TMP/$cfg.yaml" "${args[@]}")
      read -r a b c d e f g <<< "${sum[$cfg]}"
      sum[$cfg]="$((a + tp)) $((b + fp)) $((c + att)) $((d + leg)) $((e + areq)) $((f + aref)) $((g + lref))"
    done
  done
  read -r _ _ att _ <<< "${sum[agg]}"
  # shellcheck disable=SC2086
  echo "| $kind | $att | $(cell ${sum[rules]}) | $(cell ${sum[agg]}) | $(cell ${sum[anomaly]}) |"
  unset sum
done
echo
echo "anomaly model: $train_lines lines in ${train_s} s ($train_out); weight $AW"
