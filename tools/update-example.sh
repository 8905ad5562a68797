#!/usr/bin/env bash
# Regenerate the commented detector block of examples/rampart.yaml from the
# detector registry (tools/print-detectors.c). The example must still parse
# to the defaults: `make unit` checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/print-detectors ] && [ -z "$(find src tools/print-detectors.c -newer build/print-detectors -name "*.[ch]" | head -1)" ] || make -s build/print-detectors
block=$(build/print-detectors)
awk -v block="$block" '
  /^    detectors: \{\}$/ { print; print block; skip = 1; next }
  skip && /^    #/ { next }
  { skip = 0; print }' examples/rampart.yaml > examples/rampart.yaml.tmp
mv examples/rampart.yaml.tmp examples/rampart.yaml
# ... and the "Detector parameters" tables of docs/configuration.md, from the
# same registry (everything from the first "### `" after that heading to the
# next "## " heading).
build/print-detectors --markdown > build/detector-tables.md
awk -v tables=build/detector-tables.md '
  /^## Detector parameters$/ { inside = 1; print; next }
  inside && /^### `/ && !done { while ((getline line < tables) > 0) print line; done = 1; skip = 1; next }
  inside && /^## / { inside = 0; skip = 0 }
  skip { next }
  { print }' docs/configuration.md > docs/configuration.md.tmp
mv docs/configuration.md.tmp docs/configuration.md

