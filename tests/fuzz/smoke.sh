#!/usr/bin/env bash
# Run every libFuzzer target in build-fuzz/ for a bounded time (15 s each,
# under a minute in all) from a seed corpus built out of tests/data. A
# crash, leak or sanitizer report fails the target. Appends "passed failed"
# to build/results for the tally (tests/summary.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build
SECONDS_EACH=${FUZZ_SECONDS:-15}

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang not found, skipped"
  exit 0
fi

work=$(mktemp -d /tmp/rp-fuzz-smoke-XXXXXX)
trap 'rm -rf "$work"' EXIT

# Seeds: one file per line for the line parsers, whole files for the reader.
seed_lines() { # $1 = corpus dir, rest = files
  local dir=$1 n=0; shift
  mkdir -p "$dir"
  for f in "$@"; do
    [ -f "$f" ] || continue
    while IFS= read -r line || [ -n "$line" ]; do
      n=$((n + 1)); printf '%s' "$line" > "$dir/seed$n"
    done < "$f"
  done
}
seed_lines "$work/fuzz_combined" tests/data/apache-excerpt.log tests/data/odd-combined.log
seed_lines "$work/fuzz_json" tests/data/nginx-json.log
mkdir -p "$work/fuzz_reader"
for f in tests/data/apache-excerpt.log tests/data/nginx-json.log tests/data/odd-combined.log; do
  [ -f "$f" ] || continue
  head -c 4096 "$f" > "$work/fuzz_reader/$(basename "$f")"
  head -c 4096 "$f" | gzip -c > "$work/fuzz_reader/$(basename "$f").gz"
done

pass=0 fail=0
for bin in build-fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  mkdir -p "$work/$name"
  if (cd "$work" && "$OLDPWD/$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
        -max_len=8192 -print_final_stats=0 "$work/$name") > "$work/$name.out" 2>&1; then
    pass=$((pass + 1))
    echo "ok   fuzz $name ($(grep -c '' "$work/$name.out") log lines, $(ls "$work/$name" | wc -l) corpus)"
  else
    fail=$((fail + 1))
    echo "FAIL fuzz $name"; tail -40 "$work/$name.out"
    # Keep the reproducer next to the build for a later look.
    mkdir -p build-fuzz/crashes && cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* build-fuzz/crashes/ 2>/dev/null
  fi
done
echo "fuzz: $pass passed, $fail failed"
echo "$pass $fail" >> build/results
[ $fail -eq 0 ]
