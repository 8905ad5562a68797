#!/usr/bin/env bash
# Run every cmocka unit test binary in $1; tally into build/results.
set -uo pipefail
dir=${1:?test dir}
mkdir -p build
pass=0 fail=0 failed_bins=()
for t in "$dir"/test_*; do
  [ -x "$t" ] || continue
  out=$("$t" 2>&1); rc=$?
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  pass=$((pass + ${p:-0})); fail=$((fail + ${f:-0}))
  if [ $rc -ne 0 ] || [ -z "$p" ]; then
    [ -z "$f" ] && fail=$((fail + 1))
    failed_bins+=("$t"); printf '%s\n' "$out" | tail -30
  fi
done
echo "unit ($dir): $pass passed, $fail failed"
echo "$pass $fail" >> build/results
[ ${#failed_bins[@]} -eq 0 ] || { echo "failed: ${failed_bins[*]}"; exit 1; }
