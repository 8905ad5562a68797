#!/usr/bin/env bash
# rampart serve's life cycle and one truth for decisions (issue 11):
#  1. a second instance on the same config fails (exit 3, names the pid)
#     and touches nothing: the first keeps its table inode and socket and
#     still enforces new blocks;
#  2. a store damaged mid-file is refused at start (exit 4) and the live
#     table is left as it was (same inode, same bytes);
#     a start that fails later (admin port taken) does not touch it either;
#     a 0-byte store starts with a warning;
#  3. the table truncated under a running daemon: GET /v1/decisions
#     answers, the daemon lives, the table is rebuilt from the store;
#  4. a full disk under the store: a block answered 5xx is not enforced
#     and not resurrected at restart; a delete answered 5xx stays enforced
#     (root only: needs a small tmpfs; skipped with the reason otherwise);
#  5. one datagram from the far future (and one from the far past) does
#     not make the engine lag absurd; both are counted.
source "$(dirname "$0")/lib.sh"
make_token
T="Authorization: Bearer $(cat "$TMP/token")"
printf 'profiles:\n  default:\n    tolerance: normal\n' > "$TMP/rampart.yaml"
inode() { stat -c %i "$1"; }
code() { echo "${1%% *}"; }

echo "1. a second instance on the same config"
start_serve a --config "$TMP/rampart.yaml"
A_PID=$SERVE_PID A_ADMIN=$ADMIN
r=$(http POST "$A_ADMIN/v1/decisions" -H "$T" -d '{"key":"ip:198.51.100.1","action":"block","duration":"1h"}')
check "first block answered 201" test "$(code "$r")" = 201
ino_before=$(inode "$TMP/a.tbl")
sock_before=$(inode "$TMP/a.sock")
set +e
"$RAMPART" serve --config "$TMP/rampart.yaml" --socket "$TMP/a.sock" --table "$TMP/a.tbl" \
  --store "$TMP/a.db" --admin 127.0.0.1:0 --token-file "$TMP/token" \
  --ready-file "$TMP/b.ready" 2> "$TMP/b.log" &
B_PID=$!
cleanup_pid "$B_PID"
wait "$B_PID"
b_rc=$?
set -e
echo "    second instance: exit $b_rc: $(tail -1 "$TMP/b.log")"
check "second instance exits 3" test "$b_rc" -eq 3
check "its message names the running daemon's pid ($A_PID)" grep -q "pid $A_PID" "$TMP/b.log"
check "the table's inode is unchanged ($ino_before)" test "$(inode "$TMP/a.tbl")" = "$ino_before"
check "the event socket is unchanged ($sock_before)" test "$(inode "$TMP/a.sock")" = "$sock_before"
check "no table built beside it is left" test -z "$(ls "$TMP" | grep 'a.tbl.tmp' || true)"
r=$(http POST "$A_ADMIN/v1/decisions" -H "$T" -d '{"key":"ip:198.51.100.2","action":"block","duration":"1h"}')
check "the first daemon takes a new block (201)" test "$(code "$r")" = 201
sleep 1.1 # /v1/check's reader looks for a replaced file once a second
r=$(http GET "$A_ADMIN/v1/check?ip=198.51.100.2")
check "the new block is enforced through the table (/v1/check: $(code "$r"))" test "$(code "$r")" = 403
printf '127.0.0.1 - - [01/Jan/2020:00:00:00 +0000] "GET /x HTTP/1.1" 200 1 "-" "t"\n' > "$TMP/one.log"
"$RAMPART" send --quiet --now --socket "$TMP/a.sock" "$TMP/one.log"
check "the first daemon still receives events on its socket" wait_engine_events 1

echo "2. a store damaged mid-file"
# enough decisions for the store to span many pages
for i in $(seq 1 150); do
  r=$(http POST "$A_ADMIN/v1/decisions" -H "$T" \
    -d "{\"key\":\"ip:10.9.$((i / 200)).$((i % 200))\",\"action\":\"block\",\"duration\":\"2h\",\"reason\":\"$(printf 'r%.0s' $(seq 1 400))\"}")
  [ "$(code "$r")" = 201 ] || fail "decision $i: $r"
done
stop_serve "$A_PID"
pages=$(( $(stat -c %s "$TMP/a.db") / 4096 ))
ino_live=$(inode "$TMP/a.tbl")
sum_live=$(sha256sum < "$TMP/a.tbl")
# garbage over two pages in the middle of the file (not the header)
head -c 8192 /dev/urandom | dd of="$TMP/a.db" bs=4096 seek=$((pages / 2)) conv=notrunc status=none
set +e
"$RAMPART" serve --config "$TMP/rampart.yaml" --socket "$TMP/a.sock" --table "$TMP/a.tbl" \
  --store "$TMP/a.db" --admin 127.0.0.1:0 --token-file "$TMP/token" 2> "$TMP/c.log" &
C_PID=$!
cleanup_pid "$C_PID"
wait "$C_PID"
c_rc=$?
set -e
echo "    store of $pages pages, pages $((pages / 2))-$((pages / 2 + 1)) overwritten: exit $c_rc: $(tail -1 "$TMP/c.log" | cut -c1-200)"
check "a damaged store is refused at start (exit 4)" test "$c_rc" -eq 4
check "the reason says the store is damaged" grep -Eq 'damaged|malformed|not a database' "$TMP/c.log"
check "the live table keeps its inode" test "$(inode "$TMP/a.tbl")" = "$ino_live"
check "the live table keeps its bytes" test "$(sha256sum < "$TMP/a.tbl")" = "$sum_live"

: > "$TMP/z.db"
start_serve z --config "$TMP/rampart.yaml"
check "a 0-byte store starts with a warning in the log" \
  grep -q 'warn .*store .*z.db is an empty file (0 bytes)' "$TMP/z.log"
stop_serve "$SERVE_PID"

echo "3. the table truncated under a running daemon"
start_serve t --config "$TMP/rampart.yaml"
T_PID=$SERVE_PID
# a start that fails late (its admin port is taken, after the store was
# restored and the table built) leaves the live table a.tbl as it was
set +e
"$RAMPART" serve --config "$TMP/rampart.yaml" --socket "$TMP/x.sock" --table "$TMP/a.tbl" \
  --store "$TMP/x.db" --admin "${ADMIN#http://}" --token-file "$TMP/token" 2> "$TMP/x.log" &
X_PID=$!
cleanup_pid "$X_PID"
wait "$X_PID"
x_rc=$?
set -e
echo "    start on a taken admin port: exit $x_rc: $(tail -1 "$TMP/x.log" | cut -c1-160)"
check "a start failing at its admin port exits 1" test "$x_rc" -eq 1
check "and leaves the live table's inode" test "$(inode "$TMP/a.tbl")" = "$ino_live"
check "and its bytes" test "$(sha256sum < "$TMP/a.tbl")" = "$sum_live"
check "and no file beside it" test -z "$(ls "$TMP" | grep 'a.tbl.tmp' || true)"
for i in 1 2 3; do
  r=$(http POST "$ADMIN/v1/decisions" -H "$T" -d "{\"key\":\"ip:192.0.2.$i\",\"action\":\"block\",\"duration\":\"1h\"}")
  [ "$(code "$r")" = 201 ] || fail "block $i: $r"
done
: > "$TMP/t.tbl"
r=$(http GET "$ADMIN/v1/decisions")
check "GET /v1/decisions answers after a truncation to 0 ($(code "$r"))" test "$(code "$r")" = 200
check "the daemon lives" kill -0 "$T_PID"
check "the decisions are back (from the store): 3 listed" grep -q '"total":3' <<<"$r"
check "the rebuild is logged" grep -q 'rebuilding it' "$TMP/t.log"
truncate -s 4096 "$TMP/t.tbl"
r=$(http GET "$ADMIN/v1/check?ip=192.0.2.2")
check "after a truncation to 4 KiB /v1/check still enforces ($(code "$r"))" test "$(code "$r")" = 403
r=$(http POST "$ADMIN/v1/decisions" -H "$T" -d '{"key":"ip:192.0.2.9","action":"block","duration":"1h"}')
check "a new block after the truncations is answered 201" test "$(code "$r")" = 201
sleep 1.1
r=$(http GET "$ADMIN/v1/check?ip=192.0.2.9")
check "and enforced ($(code "$r"))" test "$(code "$r")" = 403
m=$(curl -s "$ADMIN/metrics")
check "rebuilds counted ($(grep '^rampart_decision_table_rebuilds_total' <<<"$m"))" \
  grep -Eq '^rampart_decision_table_rebuilds_total [1-9]' <<<"$m"
stop_serve "$T_PID"

echo "4. a full disk under the store"
full_disk_skip=""
if [ "$(id -u)" != 0 ]; then
  full_disk_skip="not root: cannot mount a small tmpfs"
else
  mkdir -p "$TMP/small"
  if ! mount -t tmpfs -o size=2m tmpfs "$TMP/small" 2> "$TMP/mount.err"; then
    full_disk_skip="mount -t tmpfs refused: $(cat "$TMP/mount.err")"
  fi
fi
if [ -n "$full_disk_skip" ]; then
  echo "  SKIP: full-disk check ($full_disk_skip)"
else
  # the daemons hold files on it: kill them before the umount
  trap 'for p in $CLEANUP_PIDS; do kill -KILL "$p" 2>/dev/null || true; done; sleep 0.2
        umount "$TMP/small" 2>/dev/null || true; cleanup' EXIT
  start_serve f --config "$TMP/rampart.yaml" --store "$TMP/small/f.db"
  F_PID=$SERVE_PID
  for i in 1 2 3; do
    r=$(http POST "$ADMIN/v1/decisions" -H "$T" -d "{\"key\":\"ip:203.0.113.$i\",\"action\":\"block\",\"duration\":\"1h\"}")
    [ "$(code "$r")" = 201 ] || fail "block $i before the disk is full: $r"
  done
  dd if=/dev/zero of="$TMP/small/filler" bs=4096 status=none 2>/dev/null || true
  echo "    tmpfs full: $(df -k "$TMP/small" | awk 'NR==2 {print $4}') KiB free"
  refused_add="" ; accepted_add=""
  for i in $(seq 10 60); do
    r=$(http POST "$ADMIN/v1/decisions" -H "$T" -d "{\"key\":\"ip:203.0.113.$i\",\"action\":\"block\",\"duration\":\"1h\",\"reason\":\"$(printf 'x%.0s' $(seq 1 400))\"}")
    case "$(code "$r")" in
      201) accepted_add="$accepted_add $i" ;;
      5*) refused_add="$i"; echo "    block of 203.0.113.$i answered $r" | cut -c1-200; break ;;
      *) fail "unexpected answer $r" ;;
    esac
  done
  check "a block was refused with 5xx on the full disk (after $(wc -w <<<"$accepted_add") accepted)" test -n "$refused_add"
  sleep 1.1
  r=$(http GET "$ADMIN/v1/check?ip=203.0.113.$refused_add")
  check "the refused block is not enforced ($(code "$r"))" test "$(code "$r")" != 403
  r=$(http GET "$ADMIN/v1/decisions")
  check "the refused block is not listed" test -z "$(grep -o "\"ip:203.0.113.$refused_add\"" <<<"$r" || true)"
  r=$(http DELETE "$ADMIN/v1/decisions/ip:203.0.113.2" -H "$T")
  del_code=$(code "$r")
  echo "    delete of 203.0.113.2 on the full disk answered $del_code"
  sleep 1.1
  r=$(http GET "$ADMIN/v1/check?ip=203.0.113.2")
  if [ "${del_code:0:1}" = 5 ]; then
    check "a delete answered 5xx leaves the block enforced ($(code "$r"))" test "$(code "$r")" = 403
  else
    check "a delete answered $del_code lifts the block ($(code "$r"))" test "$(code "$r")" != 403
  fi
  # an engine decision while the store refuses writes: enforced at once,
  # retried, and durable once the disk has room again
  for i in $(seq 1 150); do
    printf '198.51.100.66 - - [25/Nov/2026:10:00:%02d +0000] "GET /admin/backup-%d.php HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' $((i % 60)) "$i"
  done > "$TMP/scan.log"
  "$RAMPART" send --quiet --socket "$TMP/f.sock" --now "$TMP/scan.log"
  for _ in $(seq 1 100); do
    r=$(http GET "$ADMIN/v1/check?ip=198.51.100.66"); [ "$(code "$r")" = 403 ] && break; sleep 0.1
  done
  check "the engine's block of the scanner is enforced on the full disk ($(code "$r"))" test "$(code "$r")" = 403
  sleep 2.5
  retries=$(curl -s "$ADMIN/metrics" | awk '/^rampart_store_retries_total/ {print $2}')
  check "its store write was refused and retried ($retries retries)" test "$retries" -gt 0
  rm -f "$TMP/small/filler"
  for _ in $(seq 1 50); do
    n=$(curl -s "$ADMIN/v1/decisions?history=1&key=ip:198.51.100.66" | grep -o '"total":[0-9]*' | grep -o '[0-9]*$')
    [ "${n:-0}" -ge 1 ] && break; sleep 0.1
  done
  check "once the disk has room the retry commits it (history: ${n:-0})" test "${n:-0}" -ge 1
  stop_serve "$F_PID"
  start_serve f --config "$TMP/rampart.yaml" --store "$TMP/small/f.db"
  F_PID=$SERVE_PID
  r=$(http GET "$ADMIN/v1/check?ip=198.51.100.66")
  check "after a restart the engine's block is still enforced ($(code "$r"))" test "$(code "$r")" = 403
  r=$(http GET "$ADMIN/v1/check?ip=203.0.113.$refused_add")
  check "after a restart the refused block is still not enforced ($(code "$r"))" test "$(code "$r")" != 403
  r=$(http GET "$ADMIN/v1/check?ip=203.0.113.2")
  if [ "${del_code:0:1}" = 5 ]; then
    check "after a restart the block whose delete failed is still enforced ($(code "$r"))" test "$(code "$r")" = 403
  else
    check "after a restart the deleted block stays lifted ($(code "$r"))" test "$(code "$r")" != 403
  fi
  lost=0
  for i in 1 3 $accepted_add; do
    r=$(http GET "$ADMIN/v1/check?ip=203.0.113.$i"); [ "$(code "$r")" = 403 ] || lost=$((lost + 1))
  done
  check "every block answered 201 is enforced after the restart ($lost lost)" test "$lost" -eq 0
  stop_serve "$F_PID"
  umount "$TMP/small"
fi

echo "5. a datagram from the far future"
start_serve e --config "$TMP/rampart.yaml"
E_PID=$SERVE_PID
printf '127.0.0.1 - - [01/Jan/2200:00:00:00 +0000] "GET /future HTTP/1.1" 200 1 "-" "t"\n' > "$TMP/future.log"
printf '127.0.0.2 - - [01/Jan/2001:00:00:00 +0000] "GET /past HTTP/1.1" 200 1 "-" "t"\n' > "$TMP/past.log"
"$RAMPART" send --quiet --socket "$TMP/e.sock" "$TMP/future.log"
check "the engine saw the event from 2200" wait_engine_events 1
m=$(curl -s "$ADMIN/metrics")
lag=$(awk '/^rampart_engine_lag_seconds/ {print $2}' <<<"$m")
echo "    after the 2200 datagram: engine lag $lag s; $(grep 'bounded_total{reason="future"}' <<<"$m")"
check "the engine lag stays within [-1 s, 60 s] ($lag)" awk -v l="$lag" 'BEGIN { exit !(l >= -1 && l <= 60) }'
check "the clamp is counted" grep -q 'rampart_events_time_bounded_total{reason="future"} 1' <<<"$m"
"$RAMPART" send --quiet --socket "$TMP/e.sock" "$TMP/past.log"
check "the engine saw the event from 2001" wait_engine_events 2
m=$(curl -s "$ADMIN/metrics")
lag=$(awk '/^rampart_engine_lag_seconds/ {print $2}' <<<"$m")
s=$(curl -s "$ADMIN/v1/stats" | grep -o '"lag_s":[^,}]*')
echo "    after the 2001 datagram: engine lag $lag s, /v1/stats $s"
check "a far-past event leaves the lag alone ($lag)" awk -v l="$lag" 'BEGIN { exit !(l >= -1 && l <= 60) }'
check "the backfill is counted" grep -q 'rampart_events_time_bounded_total{reason="backfill"} 1' <<<"$m"
stop_serve "$E_PID"
echo "serve_lifecycle: all checks passed"
