#!/usr/bin/env bash
# Hostile input to rampart analyze: clear messages or counted skips,
# documented exit codes, no crash, bounded time.
source "$(dirname "$0")/lib.sh"

good='192.0.2.1 - - [25/Nov/2026:10:00:00 +0000] "GET /api/products HTTP/1.1" 200 512 "-" "curl/8.0"'
run() { # run EXPECTED_EXIT OUTFILE ARGS...
  local want=$1 out=$2; shift 2
  set +e; timeout 60 "$RAMPART" analyze "$@" > "$out" 2>&1; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$out"; fail "analyze $* exited $rc, expected $want"; }
}

# binary garbage: counted, never a crash
head -c 300000 /dev/urandom > "$TMP/garbage.bin"
run 0 "$TMP/o1" "$TMP/garbage.bin"
check "garbage lines are counted as skipped" grep -Eq 'lines skipped +[1-9]' "$TMP/o1"

# truncated lines, a 1 MiB line, invalid UTF-8, out-of-order times, blanks
{
  echo "$good"
  echo '192.0.2.2 - - [25/Nov/2026:10:00:01 +0000] "GET /api/prod'
  printf '192.0.2.3 - - [25/Nov/2026:10:00:02 +0000] "GET /x HTTP/1.1" 200 1 "-" "'; head -c 1048576 /dev/zero | tr '\0' 'A'; echo '"'
  printf '192.0.2.4 - - [25/Nov/2026:10:00:03 +0000] "GET /caf\xe9\xff HTTP/1.1" 200 1 "-" "\xc3\x28"\n'
  echo '192.0.2.5 - - [25/Nov/2026:09:00:00 +0000] "GET /early HTTP/1.1" 200 1 "-" "curl/8.0"'
  echo
  echo "$good"
} > "$TMP/mixed.log"
run 0 "$TMP/o2" "$TMP/mixed.log"
cat "$TMP/o2" | sed -n '/Summary/,$p'
check "7 lines read (blank included)" grep -Eq 'lines read +7$' "$TMP/o2"
check "4 events (good, bad UTF-8, early, good)" grep -Eq "events +4$" "$TMP/o2"
check "the 1 MiB line is skipped as too long at line 3" grep -Eq 'too_long +1 \(line 3\)' "$TMP/o2"
check "the truncated line is skipped at line 2" grep -Eq 'malformed +1 \(line 2\)' "$TMP/o2"
check "out-of-order events counted (09:00 and the last 10:00:00)" grep -Eq "out of order +2 events" "$TMP/o2"

# an empty file
: > "$TMP/empty.log"
run 0 "$TMP/o3" "$TMP/empty.log"
check "empty file: 0 lines" grep -Eq 'lines read +0$' "$TMP/o3"

# a missing file: exit 2 with the name, the other file still analysed
run 2 "$TMP/o4" "$TMP/nope.log" "$TMP/mixed.log"
check "missing file named" grep -q "nope.log: No such file or directory" "$TMP/o4"
check "the other file still analysed" grep -Eq 'lines read +7$' "$TMP/o4"

# gzip, and a truncated gzip: lines before the cut, then exit 2
for i in $(seq 1 2000); do echo "$good"; done | gzip -c > "$TMP/ok.log.gz"
run 0 "$TMP/o5" "$TMP/ok.log.gz"
check "gzip read" grep -Eq 'events +2,000$' "$TMP/o5"
head -c 200 "$TMP/ok.log.gz" > "$TMP/cut.log.gz"
run 2 "$TMP/o6" "$TMP/cut.log.gz"
check "truncated gzip reported" grep -qi "cut.log.gz" "$TMP/o6"

# stdin
set +e; echo "$good" | "$RAMPART" analyze - > "$TMP/o7" 2>&1; rc=$?; set -e
check "stdin read" test "$rc" -eq 0
check "stdin: 1 event" grep -Eq 'events +1$' "$TMP/o7"

# bad usage and bad config: exit 1 with a message
run 1 "$TMP/o8" --format xml "$TMP/mixed.log"
check "bad --format explained" grep -q "unknown output format 'xml'" "$TMP/o8"
printf 'profiles:\n  default:\n    tolerance: extreme\n' > "$TMP/bad.yaml"
run 1 "$TMP/o9" --config "$TMP/bad.yaml" "$TMP/mixed.log"
check "bad config reported with file:line:col" grep -Eq 'bad.yaml:3:[0-9]+:' "$TMP/o9"
