#!/usr/bin/env bash
# rampart serve keeps the anomaly detector's learned models beside its
# store: saved at a clean stop, loaded at start; a corrupt model file is
# reported and the daemon starts with an empty model. The feature model is
# trained on the daemon's own thread and swapped in.
source "$(dirname "$0")/lib.sh"
make_token
cat > "$TMP/rampart.yaml" <<'YAML'
profiles:
  default:
    detectors:
      anomaly: { weight: 5 }   # on, lightly: it learns from the traffic
YAML
"$TRAFFICGEN" --seed 5 --duration 1800 --out "$TMP/load.log" --labels /dev/null
lines=$(wc -l < "$TMP/load.log")
start_serve m --config "$TMP/rampart.yaml"
"$RAMPART" send --quiet --socket "$TMP/m.sock" --now "$TMP/load.log"
check "all $lines events reached the engine" wait_engine_events "$lines"
# the feature model is trained on its own thread (once a second, when a
# window of 1,024 new vectors has come) and swapped in
trained() { curl -s "$ADMIN/metrics" | awk '$1 == "rampart_model_trainings_total" { exit !($2 >= 1) } END { if (NR == 0) exit 1 }'; }
wait_trained() { for _ in $(seq 1 50); do trained && return 0; sleep 0.1; done; return 1; }
check "the feature model was trained off the engine thread and swapped in" wait_trained
stop_serve "$SERVE_PID"
check "model saved beside the store at a clean stop" test -s "$TMP/m.db.model"
check "the save is logged with its size" grep -Eq 'model saved to .*m.db.model \([1-9][0-9]* route transitions\)' "$TMP/m.log"
start_serve m --config "$TMP/rampart.yaml"
check "model loaded at start" grep -Eq 'model .*m.db.model loaded \([1-9][0-9]* route transitions\)' "$TMP/m.log"
stop_serve "$SERVE_PID"
head -c 100 /dev/urandom > "$TMP/m.db.model"
start_serve m --config "$TMP/rampart.yaml"
check "a corrupt model is reported, the daemon runs" grep -q 'model .*m.db.model not loaded' "$TMP/m.log"
r=$(http GET "$ADMIN/healthz")
check "healthy with an empty model" test "${r%% *}" = 200
stop_serve "$SERVE_PID"
