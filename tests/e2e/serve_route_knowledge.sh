#!/usr/bin/env bash
# rampart serve keeps what it learned about its routes across a restart:
# a form login at a path that says nothing ("/account/session2") redirects
# one person's login, the daemon restarts, and a client posting the same
# 200 page 30 times a minute (under the 60/min at which repeated form
# answers are judged by their pace alone) is an auth incident -- which it
# is not on a daemon that never saw the redirect. And a route declared
# `class: auth` in the config is protected from its first requests.
source "$(dirname "$0")/lib.sh"
make_token

# combined log lines: line SECONDS_FROM_START IP PATH STATUS BYTES
line() {
  printf '%s - - [%(%d/%b/%Y:%H:%M:%S)T +0000] "POST %s HTTP/1.1" %s %s "-" "%s"\n' \
    "$2" "$((1764064800 + $1))" "$3" "$4" "$5" "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0"
}
export TZ=UTC
line 0 192.0.2.10 /account/session2 302 0 > "$TMP/redirect.log"
: > "$TMP/pages.log"
for i in $(seq 0 89); do line $((i * 2)) 198.51.100.7 /account/session2 200 3400 >> "$TMP/pages.log"; done
: > "$TMP/failures.log" # 403: a 401 is a refused credential on any route (auth.c)
for i in $(seq 0 44); do line $((i * 4)) 198.51.100.8 /index.php 403 1200 >> "$TMP/failures.log"; done

cat > "$TMP/form.yaml" <<'YAML'
routes:
  - { match: "POST /account/session2", class: auth }
YAML

# auth_incidents KEY: auth incidents of a key in the daemon's store
auth_incidents() {
  curl -s "$ADMIN/v1/incidents?detector=auth&key=$1" | grep -o '"total":[0-9]*' | grep -o '[0-9]*$'
}

echo "1. the redirect mark survives a restart"
start_serve form --config "$TMP/form.yaml"
"$RAMPART" send --quiet --socket "$TMP/form.sock" --now "$TMP/redirect.log"
wait_engine_events 1
stop_serve "$SERVE_PID"
start_serve form --config "$TMP/form.yaml"
check "the restart restores the route ($(grep -o 'restored [0-9]* routes[^"]*' "$TMP/form.log" | tail -1))" \
  grep -q 'restored 1 routes from the store' "$TMP/form.log"
"$RAMPART" send --quiet --socket "$TMP/form.sock" --now "$TMP/pages.log"
wait_engine_events 90
n=$(auth_incidents ip:198.51.100.7)
check "the same 200 page at 30/min after the restart is an auth incident ($n)" test "$n" -ge 1
curl -s "$ADMIN/v1/incidents?detector=auth&key=ip:198.51.100.7&limit=1" |
  grep -o '"summary":"auth:[^"]*"' | head -1 | sed 's/^/     /'
stop_serve "$SERVE_PID"

echo "1b. a new redirect mark is written within 5 s: kill -9 soon after keeps it"
start_serve crash --config "$TMP/form.yaml"
"$RAMPART" send --quiet --socket "$TMP/crash.sock" --now "$TMP/redirect.log"
wait_engine_events 1
sleep 6.5
kill -KILL "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
start_serve crash --config "$TMP/form.yaml"
"$RAMPART" send --quiet --socket "$TMP/crash.sock" --now "$TMP/pages.log"
wait_engine_events 90
n=$(auth_incidents ip:198.51.100.7)
check "after kill -9, the same 200 page at 30/min is an auth incident ($n)" test "$n" -ge 1
stop_serve "$SERVE_PID"

echo "2. without the restored mark the same traffic is not judged"
start_serve blind --config "$TMP/form.yaml"
check "a fresh store restores nothing" grep -q 'restored 0 routes from the store' "$TMP/blind.log"
"$RAMPART" send --quiet --socket "$TMP/blind.sock" --now "$TMP/pages.log"
wait_engine_events 90
n=$(auth_incidents ip:198.51.100.7)
check "no auth incident on a daemon that never saw the redirect ($n)" test "$n" -eq 0
stop_serve "$SERVE_PID"

echo "3. a declared class: auth is used from the first requests"
printf 'routes:\n  - { match: "POST /index.php", class: auth }\n' > "$TMP/declared.yaml"
start_serve declared --config "$TMP/declared.yaml"
"$RAMPART" send --quiet --socket "$TMP/declared.sock" --now "$TMP/failures.log"
wait_engine_events 45
n=$(auth_incidents ip:198.51.100.8)
check "15 failed logins a minute on a declared /index.php: auth incident ($n)" test "$n" -ge 1
stop_serve "$SERVE_PID"
start_serve undeclared
"$RAMPART" send --quiet --socket "$TMP/undeclared.sock" --now "$TMP/failures.log"
wait_engine_events 45
n=$(auth_incidents ip:198.51.100.8)
check "the same on an undeclared /index.php: none ($n)" test "$n" -eq 0
stop_serve "$SERVE_PID"

echo "4. a store of the previous schema is migrated and restored"
sqlite3 "$TMP/v1.db" <<'SQL'
CREATE TABLE incidents (id INTEGER PRIMARY KEY, key TEXT NOT NULL, level TEXT NOT NULL,
  action TEXT NOT NULL, score REAL NOT NULL, threats TEXT NOT NULL, detectors TEXT NOT NULL,
  route TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,
  decided_at INTEGER NOT NULL, expires INTEGER, requests INTEGER NOT NULL, json TEXT NOT NULL);
CREATE INDEX incidents_decided_at ON incidents(decided_at);
CREATE INDEX incidents_key ON incidents(key, decided_at);
CREATE INDEX incidents_action ON incidents(action, decided_at);
CREATE TABLE decisions (id INTEGER PRIMARY KEY, key TEXT NOT NULL, level TEXT NOT NULL,
  action TEXT NOT NULL, start INTEGER NOT NULL, expires INTEGER NOT NULL, incident_id INTEGER,
  score REAL NOT NULL DEFAULT 0, source TEXT NOT NULL, reason TEXT, ended_at INTEGER,
  ended_by TEXT);
CREATE INDEX decisions_active ON decisions(key) WHERE ended_at IS NULL;
CREATE INDEX decisions_key ON decisions(key, start);
CREATE INDEX decisions_start ON decisions(start);
CREATE TABLE routes (method TEXT NOT NULL, template TEXT NOT NULL, class TEXT NOT NULL,
  declared INTEGER NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,
  flagged INTEGER NOT NULL, clients INTEGER NOT NULL,
  PRIMARY KEY (method, template)) WITHOUT ROWID;
INSERT INTO routes VALUES('GET', '/users/{id}', 'object', 0, 120, 3, 0, 9);
INSERT INTO routes VALUES('', '(other)', 'other', 0, 4, 4, 0, 2);
PRAGMA user_version = 1;
SQL
cp "$TMP/v1.db" "$TMP/v1.db.orig"
rm -f "$TMP/v1.ready"
"$RAMPART" serve --socket "$TMP/v1.sock" --table "$TMP/v1.tbl" --store "$TMP/v1.db" \
  --admin 127.0.0.1:0 --token-file "$TMP/token" --ready-file "$TMP/v1.ready" 2>> "$TMP/v1.log" &
SERVE_PID=$!
cleanup_pid "$SERVE_PID"
for _ in $(seq 1 100); do [ -s "$TMP/v1.ready" ] && break; sleep 0.05; done
[ -s "$TMP/v1.ready" ] || { cat "$TMP/v1.log"; fail "serve on a version 1 store did not start"; }
check "a version 1 store is migrated and its route restored" \
  grep -q 'restored 1 routes from the store' "$TMP/v1.log"
stop_serve "$SERVE_PID"
v=$(sqlite3 "$TMP/v1.db" 'PRAGMA user_version')
votes=$(sqlite3 "$TMP/v1.db" "SELECT common_answer_votes FROM routes WHERE template = '/users/{id}'")
current=$(sed -n 's/^#define RP_STORE_SCHEMA \([0-9]*\)$/\1/p' "$ROOT/src/store/store.c")
check "the file is at the current version $current now ($v), the route kept ($votes votes)" \
  test "$v" = "$current" -a "$votes" = 0
