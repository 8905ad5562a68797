# Shared helpers for end-to-end tests (sourced).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RAMPART=${RAMPART:-$ROOT/build/rampart}
TRAFFICGEN=${TRAFFICGEN:-$ROOT/build/trafficgen}
SHARED=${SHARED:-$ROOT/../shared}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "  ok: $what"; else fail "$what"; fi
}
# Extract "key action" pairs from analyze's JSON lines.
incident_actions() {
  awk '{ k = ""; a = "";
         if (match($0, /"key":"[^"]*"/)) k = substr($0, RSTART + 7, RLENGTH - 8);
         if (match($0, /"action":"[^"]*"/)) a = substr($0, RSTART + 10, RLENGTH - 11);
         print k, a }' "$1"
}
