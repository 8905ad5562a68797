#!/usr/bin/env bash
# `rampart serve` as its own unprivileged user, as examples/rampart.service
# runs it (issue 11; docs/security.md, "Running with the least privileges").
# systemd is usually not PID 1 where tests run, so the unit is not started:
# its privileges are reproduced with setpriv instead --
#   - a throwaway system user (the daemon's) and a throwaway "nginx" user
#     whose primary group is the socket's group (removed at the end);
#   - the daemon runs as its user, its own group plus the nginx group as a
#     supplementary group (SupplementaryGroups=), no capabilities, no new
#     privileges, umask 077; its files are laid out as the unit lays them:
#       etc/  root:svc 0750  rampart.yaml root:svc 0640, admin.token svc 0600
#       run/  svc:web  0750  (RuntimeDirectory + chgrp) socket and table
#       lib/  svc:svc  0700  (StateDirectory) the store
# and proves: the daemon holds no capability; the nginx user sends events and
# reads the decision they cause straight from the table; another local user
# can do neither, nor read the token; the daemon cannot write where it was
# not given a place (the config's root-owned directory, a store in a
# root-owned directory) and can once given one (the documented drop-in);
# reload, stop and a restart as the user work. Then `systemd-analyze verify`
# checks the unit file itself (skipped, with the reason, if it cannot run).
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || { echo "serve_unprivileged: skipped (needs root to create users and switch to them)"; exit 0; }
for c in setpriv useradd userdel python3 curl; do
  command -v "$c" >/dev/null || fail "$c is required"
done

SVC=rpe2e-svc-$$ # the daemon's user (rampart in the unit)
WEB=rpe2e-web-$$ # the nginx workers' user and group (www-data in the unit)
USERS=""
remove_users() {
  local u
  for u in $USERS; do
    userdel "$u" 2>/dev/null || echo "serve_unprivileged: could not remove the user $u" >&2
    groupdel "$u" 2>/dev/null || true
  done
}
trap 'cleanup; remove_users' EXIT
add_user() { # useradd may meet another test's lock on /etc/passwd: retry
  for _ in 1 2 3 4 5; do
    useradd --system --user-group --no-create-home --home-dir / --shell /usr/sbin/nologin "$1" 2>/dev/null \
      && { USERS="$USERS $1"; return 0; }
    sleep 0.5
  done
  fail "cannot create the user $1"
}
add_user "$SVC"
add_user "$WEB"
SVC_UID=$(id -u "$SVC"); SVC_GID=$(id -g "$SVC"); WEB_GID=$(id -g "$WEB")

# the daemon, as the unit runs it (an array, not a function: "${AS_SVC[@]}" cmd &
# leaves in $! the daemon's own pid, which setpriv and sh exec into)
AS_SVC=(setpriv --reuid="$SVC" --regid="$SVC" --groups="$WEB_GID" --inh-caps=-all --bounding-set=-all
        --no-new-privs -- sh -c 'umask 077; exec "$@"' sh)
as_web() { setpriv --reuid="$WEB" --regid="$WEB" --clear-groups "$@"; }
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
cannot_read() { ! setpriv --reuid="$1" --regid="$2" --clear-groups cat "$3" > /dev/null 2>&1; }

# a python the nginx user may run (root's may live in /root)
WEB_PY=""
for py in /usr/bin/python3 "$(command -v python3)"; do
  as_web "$py" -c pass 2>/dev/null && { WEB_PY=$py; break; }
done
[ -n "$WEB_PY" ] || fail "no python3 that another user may run (for the table reader)"

chmod 711 "$TMP"
E=$TMP/etc R=$TMP/run L=$TMP/lib
install -d -m 0750 -o root -g "$SVC" "$E"
install -d -m 0750 -o "$SVC" -g "$WEB" "$R"
install -d -m 0700 -o "$SVC" -g "$SVC" "$L"
cat > "$E/rampart.yaml" <<EOF
serve:
  socket: $R/events.sock
  socket_group: $WEB
  table: $R/decisions.tbl
  table_capacity: 1024
  store: $L/rampart.db
  admin: 127.0.0.1:0
  token_file: $E/admin.token
EOF
chown root:"$SVC" "$E/rampart.yaml"; chmod 0640 "$E/rampart.yaml"
(umask 077; head -c 24 /dev/urandom | base64 | tr -d '\n/+=' > "$E/admin.token")
chown "$SVC:$SVC" "$E/admin.token"
TOKEN=$(cat "$E/admin.token")

start_svc() {
  rm -f "$L/ready"
  "${AS_SVC[@]}" "$RAMPART" serve --config "$E/rampart.yaml" --ready-file "$L/ready" 2>> "$TMP/svc.log" &
  SERVE_PID=$!
  cleanup_pid "$SERVE_PID"
  for _ in $(seq 1 100); do
    [ -s "$L/ready" ] && break
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$TMP/svc.log"; fail "serve as $SVC died at start"; }
    sleep 0.05
  done
  [ -s "$L/ready" ] || { cat "$TMP/svc.log"; fail "serve as $SVC not ready after 5 s"; }
  ADMIN=$(grep -o 'http://[^"]*' "$L/ready")
}
status_field() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVE_PID/status"; }
# the nginx module's view: the table file read as the nginx user
# (docs/decision-table.md: header, 64-byte entries, IPv4 as ::ffff:a.b.c.d)
read_table() { # read_table IP -> block | throttle | monitor | allow | expired | none
  as_web "$WEB_PY" - "$R/decisions.tbl" "$1" <<'EOF'
import ipaddress, struct, sys, time
path, ip = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
assert data[:8] == b"RPDTABLE", "not a decision table"
version, entry_size, capacity = struct.unpack_from("<III", data, 8)
assert version == 1 and entry_size == 64 and len(data) == 64 + 64 * capacity
key = ipaddress.IPv6Address("::ffff:" + ip).packed
now = time.time_ns() // 1000
for i in range(capacity):
    off = 64 + 64 * i
    seq, level, action = struct.unpack_from("<IBB", data, off)
    if level == 1 and seq % 2 == 0 and data[off + 8:off + 24] == key:
        (expires,) = struct.unpack_from("<q", data, off + 24)
        print({1: "monitor", 2: "throttle", 3: "block", 4: "allow"}.get(action, "none") if expires > now else "expired")
        sys.exit(0)
print("none")
EOF
}
scan_log() { # a scanner: 150 requests for missing sensitive paths
  for i in $(seq 1 150); do
    printf '198.51.100.66 - - [25/Nov/2026:10:00:%02d +0000] "GET /admin/backup-%d.php HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' $((i % 60)) "$i"
  done
}

# (1) the daemon runs as its user, with nothing more
start_svc
check "the daemon runs as $SVC (uid and gid)" \
  test "$(status_field Uid) $(status_field Gid)" = "$SVC_UID $SVC_GID"
groups=$(awk '$1 == "Groups:" {$1 = ""; print}' "/proc/$SERVE_PID/status" | tr ' ' '\n' | grep . | grep -vx "$SVC_GID" | sort -u | tr '\n' ' ')
check "its supplementary groups: nginx's, nothing else" test "$groups" = "$WEB_GID "
check "no capability, none to gain (effective, permitted, bounding, no_new_privs)" \
  test "$(status_field CapEff) $(status_field CapPrm) $(status_field CapBnd) $(status_field NoNewPrivs)" \
       = "0000000000000000 0000000000000000 0000000000000000 1"

# (2) its files, modes and owners
check "event socket: $SVC:$WEB 0660" test "$(stat -c '%U:%G %a' "$R/events.sock")" = "$SVC:$WEB 660"
check "decision table: owned by $SVC, 0644, inside $SVC:$WEB 0750" \
  test "$(stat -c '%U %a' "$R/decisions.tbl") $(stat -c '%U:%G %a' "$R")" = "$SVC 644 $SVC:$WEB 750"
check "store: $SVC's alone (0600 under umask 077, in a 0700 directory)" \
  test "$(stat -c '%U %a' "$L/rampart.db")" = "$SVC 600"
check "nothing the daemon created is open to other users" \
  test -z "$(find "$L" "$R" -newer "$E/admin.token" ! -name decisions.tbl -perm /o=rwx -print)"

# (3) nginx's user sends events and reads the decision from the table
scan_log > "$TMP/scan.log"
chmod 644 "$TMP/scan.log"
as_web "$RAMPART" send --socket "$R/events.sock" --now -q "$TMP/scan.log" || fail "the nginx user could not send"
check "the nginx user's 150 events reach the engine" wait_engine_events 150
for _ in $(seq 1 100); do [ "$(read_table 198.51.100.66)" = block ] && break; sleep 0.05; done
check "the nginx user reads the block in the table" test "$(read_table 198.51.100.66)" = block
check "an address without a decision: none" test "$(read_table 192.0.2.1)" = none
r=$(http GET "$ADMIN/v1/check?ip=198.51.100.66")
check "/v1/check answers 403 for it" test "${r%% *}" = 403

# (4) another local user can neither send, nor read the table or the token
if printf '192.0.2.9 - - [25/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x"\n' \
   | as_nobody "$RAMPART" send --socket "$R/events.sock" -q - 2> "$TMP/nobody.err"; then
  fail "nobody could send an event"
fi
check "nobody cannot send (the directory and the socket are closed to it)" grep -qi 'permission denied' "$TMP/nobody.err"
check "nobody cannot read the table" cannot_read nobody nogroup "$R/decisions.tbl"
check "the nginx user cannot read the token" cannot_read "$WEB" "$WEB" "$E/admin.token"
check "the nginx user cannot read the store" cannot_read "$WEB" "$WEB" "$L/rampart.db"
check "the engine saw none of it" test "$(engine_events)" = 150

# (5) the token (0600, the daemon's) works; manual decisions reach the table
"$RAMPART" decisions --url "$ADMIN" --token-file "$E/admin.token" add ip:203.0.113.77 block 10m "unprivileged test" > "$TMP/out" \
  || { cat "$TMP/out"; fail "manual decision refused"; }
check "a manual decision with the token is in the table" test "$(read_table 203.0.113.77)" = block

# (6) writes where the daemon was given no place fail, and say why
before=$(sha256sum < "$E/rampart.yaml")
body=$(python3 -c 'import json, sys; print(json.dumps({"config": open(sys.argv[1]).read() + "# edited\n"}))' "$E/rampart.yaml")
r=$(http POST "$ADMIN/v1/config" -H "Authorization: Bearer $TOKEN" --data-binary "$body")
check "POST /v1/config into a root-owned directory is refused (4xx/5xx)" test "${r%% *}" -ge 400
check "... naming the permission" grep -qi 'permission denied' <<<"$r"
check "... and the config file is unchanged" test "$(sha256sum < "$E/rampart.yaml")" = "$before"
check "... no temporary file left beside it" test -z "$(find "$E" -name '.rampart.yaml.*')"
install -d -m 0755 -o root -g root "$TMP/rootonly"
set +e
"${AS_SVC[@]}" "$RAMPART" serve --config "$E/rampart.yaml" --socket "" --admin "" \
  --table "$TMP/rootonly/decisions.tbl" --store "$TMP/rootonly/rampart.db" 2> "$TMP/rootonly.err" &
pid=$!; cleanup_pid "$pid"; wait "$pid"; rc=$?
set -e
check "a store in a root-owned directory: the daemon does not start (exit 1)" test "$rc" = 1
check "... and says why ($(head -c 120 "$TMP/rootonly.err"))" grep -qi 'permission denied' "$TMP/rootonly.err"
check "... and created nothing there" test -z "$(ls -A "$TMP/rootonly")"
if "${AS_SVC[@]}" touch /etc/rampart-e2e-probe-$$ 2>/dev/null; then
  rm -f /etc/rampart-e2e-probe-$$; fail "the daemon's user could write in /etc"
fi
echo "  ok: the daemon's user cannot write in /etc"

# (7) the documented way to allow config editing: the directory and the file the daemon's
chown "$SVC:$SVC" "$E" "$E/rampart.yaml"
r=$(http POST "$ADMIN/v1/config" -H "Authorization: Bearer $TOKEN" --data-binary "$body")
check "with etc/ and rampart.yaml owned by $SVC, POST /v1/config writes it" test "${r%% *}" = 200
check "... keeping its owner and mode" test "$(stat -c '%U:%G %a' "$E/rampart.yaml")" = "$SVC:$SVC 640"
check "... with the edit" grep -q '^# edited$' "$E/rampart.yaml"

# (8) reload, stop and restart as the user
kill -HUP "$SERVE_PID"
for _ in $(seq 1 100); do grep -q 'configuration reloaded' "$TMP/svc.log" && break; sleep 0.05; done
check "SIGHUP reloads (config and token re-read as $SVC)" grep -q 'configuration reloaded' "$TMP/svc.log"
stop_serve "$SERVE_PID"
check "a clean stop" grep -q 'stopped cleanly' "$TMP/svc.log"
start_svc
check "a restart as $SVC restores the block into a new table the nginx user reads" \
  test "$(read_table 198.51.100.66)" = block
check "... the socket is again $SVC:$WEB 0660" test "$(stat -c '%U:%G %a' "$R/events.sock")" = "$SVC:$WEB 660"
stop_serve "$SERVE_PID"

# (9) the unit file itself
UNIT=$ROOT/examples/rampart.service
check "the unit runs as rampart, not root" grep -q '^User=rampart$' "$UNIT"
check "... with no capabilities" grep -q '^CapabilityBoundingSet=$' "$UNIT"
check "... the runtime directory 0750, the state directory 0700, umask 077" \
  bash -c 'grep -q "^RuntimeDirectoryMode=0750$" "$1" && grep -q "^StateDirectoryMode=0700$" "$1" && grep -q "^UMask=0077$" "$1"' _ "$UNIT"
if ! command -v systemd-analyze >/dev/null; then
  echo "  skipped: systemd-analyze verify (systemd-analyze is not installed)"
else
  # verify needs the commands to exist: point them at this build; and the
  # man pages the unit names, which only the package installs (package.sh
  # verifies the installed unit with them)
  sed -e "s#/usr/local/bin/rampart#$RAMPART#g" -e "s#/usr/bin/rampart#$RAMPART#g" \
      -e '/^Documentation=man:/d' "$UNIT" > "$TMP/rampart.service"
  if systemd-analyze verify "$TMP/rampart.service" > "$TMP/verify.out" 2>&1; then
    echo "  ok: systemd-analyze verify: the unit is valid"
  elif grep -qi 'failed to connect\|no such file or directory.*bus\|not been booted with systemd\|Failed to initialize manager' "$TMP/verify.out"; then
    echo "  skipped: systemd-analyze verify cannot run here: $(head -1 "$TMP/verify.out")"
  else
    cat "$TMP/verify.out"; fail "systemd-analyze verify rejects the unit"
  fi
  if systemd-analyze security --offline=yes "$TMP/rampart.service" > "$TMP/security.out" 2>/dev/null; then
    echo "  info: $(grep -o 'Overall exposure level.*' "$TMP/security.out")"
  fi
fi
echo "serve_unprivileged: all checks passed"
