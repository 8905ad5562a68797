#!/usr/bin/env bash
# rampart analyze on a labelled generated corpus: every attack kind is
# flagged (recall per kind), and no legitimate client is throttled or
# blocked.
source "$(dirname "$0")/lib.sh"

"$TRAFFICGEN" --seed 7 --out "$TMP/access.log" --labels "$TMP/labels.tsv"
"$RAMPART" analyze --format json --quiet "$TMP/access.log" > "$TMP/incidents.jsonl"
incident_actions "$TMP/incidents.jsonl" | sed 's/^ip://' > "$TMP/actions"

# kind -> attackers, flagged
awk -F'\t' 'NR == FNR { act[$1] = $2; next }
            FNR == 1 { next }
            { kind[$3] = 1; n[$3]++; lab[$3] = $2
              if ($1 in act) { f[$3]++; if (act[$1] == "throttle" || act[$1] == "block") b[$3]++ } }
            END { for (k in kind) printf "%s %s %d %d %d\n", lab[k], k, n[k], f[k] + 0, b[k] + 0 }' \
    <(tr ' ' '\t' < "$TMP/actions") "$TMP/labels.tsv" | sort > "$TMP/recall"

echo "label kind clients flagged throttled_or_blocked"
cat "$TMP/recall"

status=0
while read -r label kind n flagged stopped; do
  case "$label:$kind" in
    legit:*)
      [ "$stopped" -eq 0 ] || { echo "FAIL: $stopped legitimate $kind clients throttled or blocked"; status=1; } ;;
    attack:distributed_*)
      # Per-IP rules are not expected to catch one attempt a minute per IP:
      # aggregation beyond the IP is the subject of a later issue. Reported only.
      echo "  (distributed: $kind $flagged/$n flagged per IP)" ;;
    attack:*)
      # every single-source attacker must be flagged
      [ "$flagged" -eq "$n" ] || { echo "FAIL: $kind: only $flagged of $n attackers flagged"; status=1; } ;;
  esac
done < "$TMP/recall"
grep -q '^attack ' "$TMP/recall" || { echo "FAIL: the corpus has no attackers"; status=1; }
grep -q '^legit ' "$TMP/recall" || { echo "FAIL: the corpus has no legitimate clients"; status=1; }
exit $status
