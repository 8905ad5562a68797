#!/usr/bin/env bash
# Print the closing line over every stage of `make test`.
set -euo pipefail
awk '{p += $1; f += $2} END {printf "%d passed, %d failed\n", p, f; exit (f > 0)}' build/results
