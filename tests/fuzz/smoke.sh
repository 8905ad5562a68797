#!/usr/bin/env bash
# Run every libFuzzer target in build-fuzz/ for a bounded time (about 50 s
# shared between the targets, at most 15 s each, so the whole run stays
# under a minute as targets are added) from a seed corpus built out of
# tests/data. A crash, leak or sanitizer report fails the target. Appends
# "passed failed" to build/results for the tally (tests/summary.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
mkdir -p build
n_targets=$(ls build-fuzz/fuzz_* 2>/dev/null | grep -vc '\.' || true)
[ "${n_targets:-0}" -gt 0 ] || n_targets=1
SECONDS_EACH=${FUZZ_SECONDS:-$(( 50 / n_targets > 15 ? 15 : 50 / n_targets ))}
[ "$SECONDS_EACH" -ge 1 ] || SECONDS_EACH=1

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

# Event datagrams (docs/protocol.md): an IPv4 GET with four strings and an
# IPv6 POST with every string, written byte by byte.
mkdir -p "$work/fuzz_protocol"
hdr() { # the first 24 bytes; $1 = family, $2 = method (hex)
  printf 'RPEV\x01\x00\x6a\x00'                       # magic, version, flags, header size
  printf '\x40\xca\xb1\xcb\xb9\x27\x06\x00'           # ts_us
  printf "\\x$1\\x$2"'\xc8\x00\x02\x00\x00\x00'        # family, method, status 200, flags
}
{ hdr 04 01
  printf '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x01' # ::ffff:192.0.2.1
  printf '\x00%.0s' $(seq 1 16)                           # request, response bytes
  printf '\xff%.0s' $(seq 1 8)                            # upstream_us -1
  printf '\x11%.0s' $(seq 1 32)                           # header hash, credential, token, session
  printf '\x07\x00\x02\x00\x03\x00\x04\x00\x00\x00'     # lengths: host path query ua referer
  printf 'api.com/pa=1curl'
} > "$work/fuzz_protocol/ipv4"
{ hdr 06 03
  printf '\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x42' # 2001:db8::42
  printf '\x10\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00'
  printf '\x98\x3a\x00\x00\x00\x00\x00\x00'             # upstream_us 15000
  printf '\x22%.0s' $(seq 1 32)
  printf '\x01\x00\x06\x00\x00\x00\x05\x00\x02\x00'
  printf 'h/loginMoz/5ab'
} > "$work/fuzz_protocol/ipv6"

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
