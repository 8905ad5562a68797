#!/usr/bin/env bash
# Build the libFuzzer targets tests/fuzz/fuzz_*.c into build-fuzz/.
#
# The library sources are compiled directly (not librampart.a) so that
# they carry the fuzzer's coverage instrumentation along with ASan and
# UBSan. Needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev).
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v clang >/dev/null 2>&1; then
  echo "fuzz: clang not found, skipped"
  exit 0
fi

OUT=build-fuzz
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-std=c11 -D_DEFAULT_SOURCE -D_GNU_SOURCE -g -O1 -Wall -Wextra -Wno-unused-parameter"
INC="-Iinclude -Isrc/common -Isrc/engine -Isrc/ingest -Isrc/detectors"
LIBS="-lyaml -ljansson -lcrypto -lz -lm"
mkdir -p "$OUT/obj"

objs=()
for src in src/common/*.c src/engine/*.c src/detectors/*.c src/ingest/*.c; do
  obj="$OUT/obj/$(echo "${src%.c}" | tr / _).o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find src include -name '*.h' -newer "$obj" -print -quit)" ]; then
    clang $CFLAGS $INC $SAN -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
  fi
  objs+=("$obj")
done

for target in tests/fuzz/fuzz_*.c; do
  name=$(basename "${target%.c}")
  link=("${objs[@]}")
  # The event protocol is linked alone: the nginx module compiles
  # protocol.c on its own, so it must need nothing but rampart.h.
  [ "$name" = fuzz_protocol ] && link=("$OUT/obj/src_common_protocol.o")
  clang $CFLAGS $INC $SAN -fsanitize=fuzzer "$target" "${link[@]}" $LIBS -o "$OUT/$name"
  echo "fuzz: built $OUT/$name"
done
