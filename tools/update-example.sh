#!/usr/bin/env bash
# Regenerate the commented detector block of examples/rampart.yaml from the
# detector registry (tools/print-detectors.c). The example must still parse
# to the defaults: `make unit` checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/print-detectors
block=$(build/print-detectors)
awk -v block="$block" '
  /^    detectors: \{\}$/ { print; print block; skip = 1; next }
  skip && /^    #/ { next }
  { skip = 0; print }' examples/rampart.yaml > examples/rampart.yaml.tmp
mv examples/rampart.yaml.tmp examples/rampart.yaml
