#!/usr/bin/env bash
# Run every end-to-end test script tests/e2e/*.sh; each exits 0 on success.
set -uo pipefail
mkdir -p build
pass=0 fail=0 failed=()
for t in tests/e2e/*.sh; do
  [ "$(basename "$t")" = lib.sh ] && continue
  [ -f "$t" ] || continue
  start=$(date +%s)
  if out=$(bash "$t" 2>&1); then
    pass=$((pass + 1)); echo "ok   $t ($(( $(date +%s) - start )) s)"
  else
    fail=$((fail + 1)); failed+=("$t"); echo "FAIL $t"; printf '%s\n' "$out" | tail -40
  fi
done
echo "e2e: $pass passed, $fail failed"
echo "$pass $fail" >> build/results
[ $fail -eq 0 ]
