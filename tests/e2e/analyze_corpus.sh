#!/usr/bin/env bash
# rampart analyze on labelled generated corpora (three seeds):
#  A. combined logs, built-in defaults, no config at all: every
#     single-source attacker is flagged (undeclared-endpoint probes need an
#     inventory, so they are only reported here), and no human, mobile app,
#     monitor or crawler is throttled or blocked;
#  B. JSON logs with the configuration an operator would write: the demo
#     API's OpenAPI document and the partners' API keys allowlisted: every
#     single-source attacker is flagged and no legitimate client at all is
#     throttled or blocked.
# Distributed attacks (one login attempt a minute per IP over 200 IPs, a
# catalogue split between 100 IPs, ids walked by 50 IPs) must be stopped,
# every address, in B; in A (no header set, so no fingerprint swarms) they
# are reported.
source "$(dirname "$0")/lib.sh"

# recall LOG LABELS -> "label kind clients flagged stopped" lines
recall() {
  "$RAMPART" analyze "${@:3}" --format json --quiet --verdicts "$TMP/verdicts" "$1" > "$TMP/incidents.jsonl"
  incident_actions "$TMP/incidents.jsonl" | sed 's/^ip://' | tr ' ' '\t' > "$TMP/actions"
  awk -F'\t' 'NR == FNR { act[$1] = $2; next }
              FNR == 1 { next }
              { kind[$3] = 1; n[$3]++; lab[$3] = $2
                if ($1 in act) { f[$3]++; if (act[$1] == "throttle" || act[$1] == "block") b[$3]++ } }
              END { for (k in kind) printf "%s %s %d %d %d\n", lab[k], k, n[k], f[k] + 0, b[k] + 0 }' \
      "$TMP/actions" "$2" | sort
}

status=0
judge() { # judge MODE < recall-lines
  local mode=$1 label kind n flagged stopped
  while read -r label kind n flagged stopped; do
    case "$label:$kind" in
      legit:partner)
        if [ "$mode" = B ] && [ "$stopped" -ne 0 ]; then
          echo "FAIL: $stopped allowlisted partners throttled or blocked"; status=1
        elif [ "$mode" = A ]; then
          echo "  (partners without their keys allowlisted: $flagged/$n flagged, $stopped throttled or blocked)"
        fi ;;
      legit:*)
        [ "$stopped" -eq 0 ] || { echo "FAIL: $stopped legitimate $kind clients throttled or blocked"; status=1; } ;;
      attack:distributed_*)
        # Swarms are grouped by header fingerprint, which needs the header
        # set: the JSON corpus has it, the combined log does not.
        if [ "$mode" = B ]; then
          [ "$stopped" -eq "$n" ] || { echo "FAIL: $kind: only $stopped of $n swarm addresses stopped"; status=1; }
        else
          echo "  (distributed, no header set: $kind $flagged/$n flagged per IP)"
        fi ;;
      attack:undeclared_probe)
        if [ "$mode" = B ]; then
          [ "$flagged" -eq "$n" ] || { echo "FAIL: undeclared_probe: $flagged of $n flagged with the OpenAPI inventory"; status=1; }
        else
          echo "  (undeclared_probe without an inventory: $flagged/$n flagged)"
        fi ;;
      attack:*)
        [ "$flagged" -eq "$n" ] || { echo "FAIL: $kind: only $flagged of $n attackers flagged"; status=1; } ;;
    esac
  done
}

for seed in 7 11 23; do
  echo "== seed $seed, A: combined log, built-in defaults"
  "$TRAFFICGEN" --seed "$seed" --out "$TMP/access.log" --labels "$TMP/labels.tsv"
  recall "$TMP/access.log" "$TMP/labels.tsv" > "$TMP/recall"
  cat "$TMP/recall"
  grep -q '^attack ' "$TMP/recall" && grep -q '^legit ' "$TMP/recall" || { echo "FAIL: corpus lacks attackers or legit clients"; status=1; }
  judge A < "$TMP/recall"

  echo "== seed $seed, B: JSON log, OpenAPI inventory, partner keys allowlisted"
  "$TRAFFICGEN" --seed "$seed" --format json --out "$TMP/access.json" --labels "$TMP/labels.tsv"
  keys=$(grep -o '"api_key":"pk_live_[^"]*"' "$TMP/access.json" | cut -d'"' -f4 | sort -u | paste -sd, -)
  [ -n "$keys" ] || { echo "FAIL: no partner keys in the JSON corpus"; status=1; }
  cat > "$TMP/rampart.yaml" <<YAML
inventory:
  openapi: $ROOT/examples/openapi.yaml
allow:
  tokens: [$keys]
YAML
  recall "$TMP/access.json" "$TMP/labels.tsv" --config "$TMP/rampart.yaml" > "$TMP/recall"
  cat "$TMP/recall"
  judge B < "$TMP/recall"
  # Per request (--verdicts: refused as they came, also by a fingerprint on a
  # route): no legitimate request refused; the swarms mostly refused.
  awk -F'\t' 'NR == FNR { lab[$1] = $2; kind[$1] = $3; next }
               { if (lab[$2] == "legit") legit++; else if (kind[$2] ~ /^distributed_/) swarm[kind[$2]]++ }
               END { printf "legit %d\n", legit; for (k in swarm) printf "%s %d\n", k, swarm[k] }' \
      "$TMP/labels.tsv" "$TMP/verdicts" | sort > "$TMP/refused"
  echo "  requests refused as they came: $(paste -sd' ' "$TMP/refused")"
  grep -qx 'legit 0' "$TMP/refused" || { echo "FAIL: legitimate requests refused: $(grep '^legit' "$TMP/refused")"; status=1; }
  [ "$(awk '$1 == "distributed_stuffing" { print $2 }' "$TMP/refused")" -ge 1000 ] 2>/dev/null ||
    { echo "FAIL: fewer than 1000 distributed stuffing attempts refused"; status=1; }
done
exit $status
