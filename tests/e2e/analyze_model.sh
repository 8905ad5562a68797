#!/usr/bin/env bash
# rampart train / analyze --model: the anomaly models (route transitions and
# the feature-vector forest) learned from one generated
# corpus (seed 5) is written atomically, loaded for another corpus (seed 7)
# with the anomaly detector turned on, and a damaged model file is refused
# with exit 1 and a message that names the file and the problem.
source "$(dirname "$0")/lib.sh"

"$TRAFFICGEN" --seed 5 --out "$TMP/train.log" --labels "$TMP/train.tsv"
"$TRAFFICGEN" --seed 7 --out "$TMP/test.log" --labels "$TMP/test.tsv"

"$RAMPART" train -o "$TMP/flows.model" "$TMP/train.log" > "$TMP/train.out"
cat "$TMP/train.out"
check "train reports the transitions and vectors it learned" grep -Eq 'trained on [0-9,]+ events: [1-9][0-9,]* route transitions and [1-9][0-9,]* feature vectors learned' "$TMP/train.out"
check "train wrote the model" test -s "$TMP/flows.model"
check "no temporary file left" test ! -e "$TMP/flows.model.tmp"
check "the model starts with its magic" sh -c "head -c 4 '$TMP/flows.model' | grep -q RPMD"
"$RAMPART" train -o "$TMP/again.model" "$TMP/train.log" > /dev/null
check "same input, same model bytes" cmp -s "$TMP/flows.model" "$TMP/again.model"

cat > "$TMP/anomaly.yaml" <<YAML
profiles:
  default:
    detectors:
      anomaly: { weight: 30 }
YAML
check "analyze --model runs on another seed" \
  "$RAMPART" analyze --model "$TMP/flows.model" -c "$TMP/anomaly.yaml" -f json -q -o "$TMP/inc.jsonl" "$TMP/test.log"
check "analyze --model with the default weight (off) runs" \
  "$RAMPART" analyze --model "$TMP/flows.model" -q -o "$TMP/inc0.jsonl" "$TMP/test.log"

# Damaged models: cut short, foreign, missing.
head -c 100000 "$TMP/flows.model" > "$TMP/short.model"
printf 'GIF89a not a model at all, padded out to more than a header\n' > "$TMP/foreign.model"
for bad in short foreign missing; do
  rc=0
  "$RAMPART" analyze --model "$TMP/$bad.model" -q "$TMP/test.log" > /dev/null 2> "$TMP/err" || rc=$?
  echo "  $bad: rc=$rc: $(cat "$TMP/err")"
  [ "$rc" -eq 1 ] || fail "$bad model: exit $rc, want 1"
  grep -q "$bad.model" "$TMP/err" || fail "$bad model: the message does not name the file"
done
grep -q "truncated data" <("$RAMPART" analyze --model "$TMP/short.model" -q "$TMP/test.log" 2>&1 || true) \
  || fail "a cut model is not reported as truncated"
grep -q "wrong magic" <("$RAMPART" analyze --model "$TMP/foreign.model" -q "$TMP/test.log" 2>&1 || true) \
  || fail "a foreign file is not reported as such"
rc=0; "$RAMPART" train "$TMP/train.log" > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "train without -o: exit $rc, want 1"
echo "  ok: damaged or missing models refused with exit 1"
