#!/usr/bin/env bash
# The Debian packages end to end (issue 13), as root on Debian 12:
# `make deb`; lintian on both packages (any E: fails); docs/install.md's
# install block as written; the files, the user, the conffile, the token, the
# enabled module and its nginx-abi dependency (an nginx of another ABI is
# refused by apt while the module is installed); the daemon started from the
# packaged unit's own ExecStartPre=/ExecStart= lines as the unit's user and
# groups (there is no systemd here: this script plays its part, reading
# User=, Group=, SupplementaryGroups=, RuntimeDirectory=, StateDirectory=,
# UMask= from the unit); a test nginx that loads the module through the
# packaged modules-enabled snippet, in front of the demo API, with the
# guide's nginx lines included as they are; the guide's proof (a curl loop
# that ends in nginx's 403 with the incident's id, `rampart decisions list`
# showing it, the block lifted); an upgrade that keeps the operator's
# configuration, token and store; `make install`/`make uninstall` into a
# staging directory; and a purge that leaves nothing the packages created.
# Whatever happens, the packages are purged (trap). The test runs in a
# network namespace of its own: net.unix.max_dgram_qlen, which the package
# raises, is per namespace (the other tests on this machine keep theirs), and
# no port it opens can meet another test's.
if [ -z "${PACKAGE_SH_NETNS:-}" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "FAIL: package.sh installs packages: run it as root" >&2; exit 1; }
  grep -q '^VERSION_ID="12"' /etc/os-release || { echo "FAIL: package.sh: the packages are for Debian 12" >&2; exit 1; }
  # what needs the network, before leaving it
  bash "$(dirname "$0")/../../tools/install-deps.sh" debhelper dpkg-dev fakeroot lintian nginx nginx-dev curl iproute2 bsdextrautils \
    sqlite3 man-db || { echo "FAIL: cannot install the build and test tools" >&2; exit 1; }
  make -s -C "$(dirname "$0")/../.." ui >/dev/null || { echo "FAIL: make ui" >&2; exit 1; }
  exec unshare --net env PACKAGE_SH_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
source "$(dirname "$0")/lib.sh"
for p in rampart libnginx-mod-http-rampart; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed'; then
    fail "$p is installed on this machine: not replacing it (apt-get purge $p first)"
  fi
done
getent passwd rampart >/dev/null && fail "a user rampart exists already: not touching it"
BACKUP=/var/backups/rampart.db   # where the guide's backup goes
[ -e "$BACKUP" ] && fail "$BACKUP exists already: not touching it"
NGINX=${NGINX:-/usr/sbin/nginx}
BUILD_DIR=$(dirname "$RAMPART")
DEMO=${DEMO:-$BUILD_DIR/demo-api}
[ -x "$DEMO" ] || make -s -C "$ROOT" BUILD="$BUILD_DIR" "$BUILD_DIR/demo-api" >/dev/null || fail "no demo-api"
DEB_DIR=$ROOT/build-deb
GUIDE=$ROOT/docs/install.md
SERVE_PID="" NGINX_PID="" DEMO_PID=""
chmod 0755 "$TMP"   # nginx's workers (www-data) reach their files in it

stop_daemon() {
  [ -n "$SERVE_PID" ] || return 0
  kill -TERM "$SERVE_PID" 2>/dev/null || true
  for _ in $(seq 1 200); do kill -0 "$SERVE_PID" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$SERVE_PID" 2>/dev/null || true
  SERVE_PID=""
}
purge_all() {
  local p
  for p in libnginx-mod-http-rampart rampart; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv 'not-installed'; then
      DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "$p" > "$TMP/purge-$p.log" 2>&1 ||
        dpkg --purge "$p" >> "$TMP/purge-$p.log" 2>&1 || true
    fi
  done
}
on_exit() {
  local rc=$?
  [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null
  stop_daemon
  [ -n "$DEMO_PID" ] && kill -TERM "$DEMO_PID" 2>/dev/null
  purge_all
  rm -f "$BACKUP"
  if [ "$rc" -ne 0 ]; then
    for f in "$TMP"/serve.log "$TMP"/ng/logs/error.log; do [ -s "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done
  fi
  cleanup
}
trap on_exit EXIT

# guide_block NAME: the fenced block after "<!-- package.sh: NAME -->" in the guide
guide_block() {
  awk -v want="<!-- package.sh: $1 -->" '
    $0 == want { found = 1; next }
    found == 1 && /^```/ { found = 2; next }
    found == 2 && /^```/ { exit }
    found == 2 { print }' "$GUIDE"
}
for b in install server realip check proof-nginx proof unblock backup restore; do
  [ -n "$(guide_block "$b")" ] || fail "docs/install.md has no block marked 'package.sh: $b'"
done

# --- make deb, lintian ---------------------------------------------------------
start=$(date +%s)
make -s -C "$ROOT" deb > "$TMP/deb.log" 2>&1 || { tail -30 "$TMP/deb.log"; fail "make deb"; }
echo "  ok: make deb ($(( $(date +%s) - start )) s)"
DEB=$(ls "$DEB_DIR"/rampart_*_*.deb); MODDEB=$(ls "$DEB_DIR"/libnginx-mod-http-rampart_*_*.deb)
check "exactly the two packages" test "$(ls "$DEB_DIR"/*.deb | wc -l)" = 2
lintian --tag-display-limit 0 "$DEB" "$MODDEB" > "$TMP/lintian.txt" 2>&1 || true
sed 's/^/    lintian: /' "$TMP/lintian.txt" | grep -v 'running with root' || true
check "lintian: no error on either package" test "$(grep -c '^E:' "$TMP/lintian.txt")" = 0
# the module depends on the ABI of the nginx it was built against, which the
# installed nginx provides: apt refuses an nginx of another ABI under it
ABI=$(sed -n 's/^nginx:abi=//p' /usr/share/nginx/src/debian/libnginx-mod.abisubstvars)
check "module depends on $ABI" grep -q "\\b$ABI\\b" <<<"$(dpkg-deb -f "$MODDEB" Depends)"
check "the installed nginx provides $ABI" grep -q "\\b$ABI\\b" <<<"$(dpkg-query -W -f='${Provides}' nginx)"
check "package version = rampart version" test "$(dpkg-deb -f "$DEB" Version)" = \
  "$(sed -n 's/^#define RP_VERSION "\(.*\)"/\1/p' "$ROOT/include/rampart.h")"

# what existed before: after the purge, only these may remain
{ dpkg-deb -c "$DEB"; dpkg-deb -c "$MODDEB"; } | awk '{ sub(/^\./, "", $6); sub(/\/$/, "", $6); print $6 }' |
  sed '/^$/d' | sort -u > "$TMP/pkg-paths"
echo /. >> "$TMP/pkg-paths"
while read -r f; do [ -e "$f" ] && echo "$f"; done < "$TMP/pkg-paths" > "$TMP/existed-before"

# --- the guide, step 2: install -------------------------------------------------
(cd "$ROOT" && DEBIAN_FRONTEND=noninteractive bash -e -c "$(guide_block install)") > "$TMP/install.log" 2>&1 \
  || { tail -20 "$TMP/install.log"; fail "the guide's install block"; }
echo "  ok: docs/install.md's install block ran as written"
check "rampart installed" test -x /usr/bin/rampart
check "rampart version: $(rampart version)" grep -q '^rampart [0-9]' <<<"$(rampart version)"
check "user rampart: system user, no login, home /var/lib/rampart" \
  grep -Eq '^rampart:x:[0-9]{1,3}:[0-9]+:[^:]*:/var/lib/rampart:/usr/sbin/nologin$' <<<"$(getent passwd rampart)"
check "its group rampart is its only group" test "$(id -Gn rampart)" = rampart
check "rampart.yaml is a conffile" grep -qx '/etc/rampart/rampart.yaml' /var/lib/dpkg/info/rampart.conffiles
check "/etc/rampart root:rampart 0750" test "$(stat -c '%U:%G %a' /etc/rampart)" = "root:rampart 750"
check "rampart.yaml root:rampart 0640" test "$(stat -c '%U:%G %a' /etc/rampart/rampart.yaml)" = "root:rampart 640"
check "admin.token rampart 0600, 40+ characters" test "$(stat -c '%U %a' /etc/rampart/admin.token)" = "rampart 600" -a \
  "$(wc -c < /etc/rampart/admin.token)" -ge 40
check "the config names the token" grep -q '^  token_file: /etc/rampart/admin.token' /etc/rampart/rampart.yaml
check "/var/lib/rampart rampart 0700" test "$(stat -c '%U %a' /var/lib/rampart)" = "rampart 700"
check "sysctl.d file sets the queue" grep -qx 'net.unix.max_dgram_qlen = 4096' /usr/lib/sysctl.d/60-rampart.conf
check "sysusers.d file" test -f /usr/lib/sysusers.d/rampart.conf
UNIT=/lib/systemd/system/rampart.service
check "unit installed" test -f "$UNIT"
for s in User=rampart ProtectSystem=strict NoNewPrivileges=yes CapabilityBoundingSet= SupplementaryGroups=www-data; do
  check "unit: $s" grep -qx "$s" "$UNIT"
done
# under ProtectSystem=strict, these two are the only paths the daemon writes
check "unit: RuntimeDirectory=rampart" grep -qx 'RuntimeDirectory=rampart' "$UNIT"
check "unit: StateDirectory=rampart" grep -qx 'StateDirectory=rampart' "$UNIT"
# systemd's own checks of the unit (no running systemd needed): valid (its
# binary, its man pages), and its sandbox's exposure
check "systemd-analyze verify: the unit is valid" systemd-analyze verify "$UNIT"
EXPOSURE=$(systemd-analyze security --offline=yes "$UNIT" 2>&1 | sed -n 's/.*Overall exposure level for rampart.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security: exposure $EXPOSURE (at most 2.0, 10 = unprotected)" \
  awk -v e="$EXPOSURE" 'BEGIN { exit !(e != "" && e + 0 <= 2.0) }'
check "enabled for multi-user.target" test -L /etc/systemd/system/multi-user.target.wants/rampart.service
SNIPPET=/etc/nginx/modules-enabled/50-mod-http-rampart.conf
check "module enabled: $SNIPPET" test "$(readlink "$SNIPPET")" = /usr/share/nginx/modules-available/mod-http-rampart.conf
check "... loading the packaged module" grep -qx 'load_module /usr/lib/nginx/modules/ngx_http_rampart_module.so;' "$SNIPPET"
# An nginx of another ABI (a local package providing nginx-abi-1.22.1-99,
# simulated only: -s changes nothing): apt will not put it under the module.
mkdir -p "$TMP/abi/pkg/DEBIAN"
NGINX_V=$(dpkg-query -W -f='${Version}' nginx)
printf 'Package: nginx\nVersion: %s+abitest\nArchitecture: %s\nMaintainer: Rampart tests <dev@rampart.local>\nDepends: nginx-common (>= %s)\nProvides: httpd, httpd-cgi, nginx-abi-1.22.1-99\nDescription: nginx of another ABI (package.sh)\n' \
  "$NGINX_V" "$(dpkg --print-architecture)" "$NGINX_V" > "$TMP/abi/pkg/DEBIAN/control"
dpkg-deb -b "$TMP/abi/pkg" "$TMP/abi/nginx.deb" > /dev/null
apt-get install -s --no-remove "$TMP/abi/nginx.deb" > "$TMP/abi/apt.out" 2>&1 && fail "apt would install an nginx of another ABI under the module"
check "an nginx of another ABI is refused while the module is installed" \
  grep -q 'Packages need to be removed but remove is disabled' "$TMP/abi/apt.out"
check "... apt would have to remove libnginx-mod-http-rampart" \
  grep -q libnginx-mod-http-rampart <<<"$(grep -A1 'will be REMOVED' "$TMP/abi/apt.out")"
# man pages: the --help texts are in them (one source)
man -l /usr/share/man/man8/rampart.8.gz 2>/dev/null | col -b > "$TMP/man8"
for c in analyze serve decisions send check-config train; do
  first=$(rampart "$c" --help | sed -n '1p')
  check "rampart(8) has 'rampart $c --help'" grep -qF -- "$first" "$TMP/man8"
done
man -l /usr/share/man/man5/rampart.yaml.5.gz 2>/dev/null | col -b > "$TMP/man5"
check "rampart.yaml(5) has every option of examples/rampart.yaml" grep -q 'partitions: 1' "$TMP/man5"

# The operator's own change (tested to survive the upgrade): the admin API on
# a free port, so that this test never meets another daemon on 9090.
APORT=$(free_port)
sed -i "s|^  admin: 127.0.0.1:9090|  admin: 127.0.0.1:$APORT|" /etc/rampart/rampart.yaml
check "operator's edit in place" grep -q "^  admin: 127.0.0.1:$APORT" /etc/rampart/rampart.yaml

# --- step 4: check, then start the daemon as the unit does ------------------
check "the guide's check block" bash -e -c "$(guide_block check)"
unit_get() { sed -n "s/^$1=//p" "$UNIT"; }
UUSER=$(unit_get User); UGROUP=$(unit_get Group); USUPP=$(unit_get SupplementaryGroups | tr ' ' ',')
UMASK=$(unit_get UMask)
for d in RuntimeDirectory StateDirectory; do
  dir=$(unit_get "$d"); mode=$(unit_get "${d}Mode")
  base=/run; [ "$d" = StateDirectory ] && base=/var/lib
  install -d -o "$UUSER" -g "$UGROUP" -m "$mode" "$base/$dir"
done
as_unit_user() { # systemd's User=, Group=, SupplementaryGroups=, UMask=, NoNewPrivileges=
  setpriv --reuid="$UUSER" --regid="$UGROUP" --groups="$USUPP" --inh-caps=-all --no-new-privs \
    -- sh -c 'umask "$0"; exec "$@"' "$UMASK" "$@"
}
run_exec_line() { # run_exec_line LINE: systemd's "-" (failure ignored) and "+" (as root) prefixes
  local line=$1 ignore=0 root=0
  while :; do
    case $line in
      -*) ignore=1; line=${line#-} ;;
      +*) root=1; line=${line#+} ;;
      *) break ;;
    esac
  done
  # shellcheck disable=SC2086  # the unit's command lines are plain words
  if [ "$root" = 1 ]; then $line; else as_unit_user $line; fi || [ "$ignore" = 1 ]
}
start_packaged_daemon() {
  local pre
  while IFS= read -r pre; do
    run_exec_line "$pre" || fail "ExecStartPre=$pre failed"
  done < <(unit_get ExecStartPre)
  # not through as_unit_user: a function in the background is a subshell,
  # and $! must be the daemon itself (setpriv and sh exec it)
  # shellcheck disable=SC2046
  setpriv --reuid="$UUSER" --regid="$UGROUP" --groups="$USUPP" --inh-caps=-all --no-new-privs \
    -- sh -c 'umask "$0"; exec "$@"' "$UMASK" $(unit_get ExecStart) >> "$TMP/serve.log" 2>&1 &
  SERVE_PID=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "http://127.0.0.1:$APORT/v1/stats" && return 0
    kill -0 "$SERVE_PID" 2>/dev/null || { cat "$TMP/serve.log"; fail "the packaged daemon died at start"; }
    sleep 0.05
  done
  fail "the packaged daemon did not answer on 127.0.0.1:$APORT"
}
check "ExecStart is the packaged binary on the packaged config" \
  test "$(unit_get ExecStart)" = "/usr/bin/rampart serve --config /etc/rampart/rampart.yaml"
start_packaged_daemon
check "daemon runs as rampart" test "$(ps -o user= -p "$SERVE_PID")" = rampart
check "... with no capabilities" grep -q '^CapEff:[[:space:]]*0*$' "/proc/$SERVE_PID/status"
check "/run/rampart is rampart:www-data 0750 (ExecStartPre chgrp)" test "$(stat -c '%U:%G %a' /run/rampart)" = "rampart:www-data 750"
check "event socket rampart:www-data 0660" test "$(stat -c '%U:%G %a' /run/rampart/events.sock)" = "rampart:www-data 660"
check "store in /var/lib/rampart, the daemon's alone" test "$(stat -c '%U %a' /var/lib/rampart/rampart.db)" = "rampart 600"
check "kernel queue raised by the unit's ExecStartPre" test "$(cat /proc/sys/net/unix/max_dgram_qlen)" = 4096

# --- a test nginx with the module loaded by the packaged snippet ---------------
"$DEMO" --listen 127.0.0.1:0 --seed 1 --ready-file "$TMP/demo.url" > /dev/null 2> "$TMP/demo.err" &
DEMO_PID=$!
for _ in $(seq 1 100); do [ -s "$TMP/demo.url" ] && break; sleep 0.05; done
[ -s "$TMP/demo.url" ] || fail "demo-api not ready"
DEMO_URL=$(cat "$TMP/demo.url")
mkdir -p "$TMP/ng/logs"
guide_block server > "$TMP/ng/guide-server.conf"
guide_block realip > "$TMP/ng/guide-realip.conf"
guide_block proof-nginx > "$TMP/ng/guide-proof.conf"
PORT=$(free_port)
cat > "$TMP/ng/nginx.conf" <<CONF
user www-data;
worker_processes 1;
pid $TMP/ng/nginx.pid;
error_log $TMP/ng/logs/error.log notice;
include $SNIPPET;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path $TMP/ng/body;
  proxy_temp_path $TMP/ng/proxy;
  fastcgi_temp_path $TMP/ng/fastcgi;
  uwsgi_temp_path $TMP/ng/uwsgi;
  scgi_temp_path $TMP/ng/scgi;
  include $TMP/ng/guide-realip.conf;
  server {
    listen 127.0.0.1:$PORT;
    server_name localhost;
    include $TMP/ng/guide-server.conf;
    include $TMP/ng/guide-proof.conf;
    location / { proxy_pass $DEMO_URL; }
  }
}
CONF
"$NGINX" -p "$TMP/ng" -c "$TMP/ng/nginx.conf" 2> "$TMP/ng/start.log" || { cat "$TMP/ng/start.log"; fail "nginx did not start"; }
for _ in $(seq 1 50); do [ -s "$TMP/ng/nginx.pid" ] && break; sleep 0.05; done
NGINX_PID=$(cat "$TMP/ng/nginx.pid")
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break; sleep 0.05; done
check "nginx loaded the packaged module (its workers are www-data)" \
  test "$(ps -o user= --ppid "$NGINX_PID" | sort -u)" = www-data

# --- step 5: the proof, as written, with this test's ports -----------------------
# The guide's own variables carry the ports; nothing else is changed.
guide_block proof | sed -e "s|^SITE=[^ ]*|SITE=http://127.0.0.1:$PORT|" \
                        -e "s|^ADMIN=[^ ]*|ADMIN=http://127.0.0.1:$APORT|" > "$TMP/proof.sh"
check "only SITE= and ADMIN= differ from the guide" \
  test "$(diff <(guide_block proof) "$TMP/proof.sh" | grep -c '^[<>]')" = 4
bash -e "$TMP/proof.sh" > "$TMP/proof.out" 2>&1 || { cat "$TMP/proof.out"; fail "the guide's proof block"; }
sed 's/^/    /' "$TMP/proof.out"
check "the curl loop ends in nginx's 403 with the incident's id" \
  grep -Eq '^request [0-9]+: 403 \{"error":"blocked","action":"block","incident_id":[1-9][0-9]*,' "$TMP/proof.out"
INCIDENT=$(grep -o '"incident_id":[0-9]*' "$TMP/proof.out" | head -1 | cut -d: -f2)
check "rampart decisions list shows the block of ip:203.0.113.77 from incident $INCIDENT" \
  grep -Eq "^ip:203\.0\.113\.77 +block .* $INCIDENT\$" "$TMP/proof.out"
# the backup, while the daemon runs and the block is in force
check "the guide's backup block, daemon running" bash -e -c "$(guide_block backup)"
check "... a consistent copy (integrity_check ok)" test "$(sqlite3 -readonly "$BACKUP" 'PRAGMA integrity_check')" = ok
unblock() {
  guide_block unblock | sed "1i SITE=http://127.0.0.1:$PORT HOST=localhost ADMIN=http://127.0.0.1:$APORT TEST_IP=203.0.113.77" \
    > "$TMP/unblock.sh"
  bash -e "$TMP/unblock.sh" > "$TMP/unblock.out" 2>&1 || { cat "$TMP/unblock.out"; fail "the guide's unblock block"; }
  sed 's/^/    /' "$TMP/unblock.out"
  check "the block is lifted" grep -qx 'removed ip:203.0.113.77' "$TMP/unblock.out"
  check "... and the address is served again" grep -Eqx '[0-9]{3}' <<<"$(tail -1 "$TMP/unblock.out")"
  check "... not with a 403" test "$(tail -1 "$TMP/unblock.out")" != 403
}
unblock
# The restore, as written; this script plays systemctl (no systemd here).
systemctl() {
  case "$1 $2" in
    "stop rampart") stop_daemon ;;
    "start rampart") start_packaged_daemon ;;
    *) fail "the guide's restore block runs 'systemctl $*': not played by this test" ;;
  esac
}
# A removal is a pardon: the request that showed the address served again
# was not judged on the scan before it. Scanning again is: the guide's proof
# again blocks it, incident 2, made after the backup.
bash -e "$TMP/proof.sh" > "$TMP/proof2.out" 2>&1 || { cat "$TMP/proof2.out"; fail "the guide's proof block, again"; }
check "scanning again after the removal is blocked again (a new incident)" \
  grep -Eq "^request [0-9]+: 403 .*\"incident_id\":$((INCIDENT + 1))," "$TMP/proof2.out"
incidents_total() { curl -s "http://127.0.0.1:$APORT/v1/incidents" | grep -o '"total":[0-9]*' | cut -d: -f2; }
for _ in $(seq 1 40); do [ "$(incidents_total)" = $((INCIDENT + 1)) ] && break; sleep 0.05; done
check "before the restore: incident $((INCIDENT + 1)) exists" test "$(incidents_total)" = $((INCIDENT + 1))
set -e; eval "$(guide_block restore)"
check "restored store: rampart 0600" test "$(stat -c '%U %a' /var/lib/rampart/rampart.db)" = "rampart 600"
check "the restored store is the backup: incident $INCIDENT only" test "$(incidents_total)" = "$INCIDENT"
rampart decisions -u "http://127.0.0.1:$APORT" list > "$TMP/restored"
check "... and its block of ip:203.0.113.77 (incident $INCIDENT) is active again" \
  grep -Eq "^ip:203\.0\.113\.77 +block .* $INCIDENT\$" "$TMP/restored"
sleep 1.2   # nginx maps the restarted daemon's new table within a second (nginx.md)
code=$(curl -s -o "$TMP/body" -w '%{http_code}' -H "X-Forwarded-For: 203.0.113.77" "http://127.0.0.1:$PORT/")
check "... enforced by nginx ($code)" test "$code" = 403
check "... the answer names incident $INCIDENT" grep -q "\"incident_id\":$INCIDENT," "$TMP/body"
unblock

# --- upgrade: configuration, token and store kept --------------------------------
stop_daemon
TOKEN_SUM=$(sha256sum < /etc/rampart/admin.token)
DB_INODE=$(stat -c %i /var/lib/rampart/rampart.db)
mkdir -p "$TMP/up"
dpkg-deb -R "$DEB" "$TMP/up/pkg"
NEWV="$(dpkg-deb -f "$DEB" Version)+upgradetest"
sed -i "s/^Version: .*/Version: $NEWV/" "$TMP/up/pkg/DEBIAN/control"
dpkg-deb -b "$TMP/up/pkg" "$TMP/up/rampart_upgrade.deb" > /dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y "$TMP/up/rampart_upgrade.deb" > "$TMP/upgrade.log" 2>&1 \
  || { tail -20 "$TMP/upgrade.log"; fail "upgrade"; }
check "upgraded to $NEWV" test "$(dpkg-query -W -f='${Version}' rampart)" = "$NEWV"
check "upgrade kept the operator's rampart.yaml" grep -q "^  admin: 127.0.0.1:$APORT" /etc/rampart/rampart.yaml
check "... its mode root:rampart 0640" test "$(stat -c '%U:%G %a' /etc/rampart/rampart.yaml)" = "root:rampart 640"
check "upgrade kept the admin token" test "$(sha256sum < /etc/rampart/admin.token)" = "$TOKEN_SUM"
check "upgrade kept the store file" test "$(stat -c %i /var/lib/rampart/rampart.db)" = "$DB_INODE"
start_packaged_daemon
rampart decisions -u "http://127.0.0.1:$APORT" list --history --key ip:203.0.113.77 > "$TMP/history"
check "the store's history survived the upgrade (the block and its removal)" \
  grep -Eq '^ip:203\.0\.113\.77 +block .* engine / [0-9]' "$TMP/history"
stop_daemon
kill -TERM "$NGINX_PID"; for _ in $(seq 1 100); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.05; done
NGINX_PID=""
check "no nginx worker died" test "$(grep -c 'exited on signal' "$TMP/ng/logs/error.log")" = 0

# --- make install / make uninstall, staged -------------------------------------
STAGE=$TMP/stage
make -s -C "$ROOT" BUILD="$BUILD_DIR" install PREFIX=/usr/local DESTDIR="$STAGE" > "$TMP/install-make.log" 2>&1 \
  || { tail -20 "$TMP/install-make.log"; fail "make install"; }
for f in usr/local/bin/rampart usr/local/share/man/man8/rampart.8 usr/local/share/man/man5/rampart.yaml.5 \
         usr/local/lib/systemd/system/rampart.service usr/local/lib/sysusers.d/rampart.conf \
         usr/local/lib/sysctl.d/60-rampart.conf etc/rampart/rampart.yaml usr/local/share/doc/rampart/install.md \
         usr/local/lib/nginx/modules/ngx_http_rampart_module.so \
         usr/local/share/nginx/modules-available/mod-http-rampart.conf; do
  check "make install: /$f" test -s "$STAGE/$f"
done
check "make install: the unit runs /usr/local/bin/rampart" \
  grep -qx 'ExecStart=/usr/local/bin/rampart serve --config /etc/rampart/rampart.yaml' "$STAGE/usr/local/lib/systemd/system/rampart.service"
check "make install: the snippet loads /usr/local's module" \
  grep -qx 'load_module /usr/local/lib/nginx/modules/ngx_http_rampart_module.so;' "$STAGE/usr/local/share/nginx/modules-available/mod-http-rampart.conf"
make -s -C "$ROOT" BUILD="$BUILD_DIR" uninstall PREFIX=/usr/local DESTDIR="$STAGE" > /dev/null 2>&1 || fail "make uninstall"
check "make uninstall: only the kept configuration is left" \
  test "$(cd "$STAGE" && find . -type f | sort | tr '\n' ' ')" = "./etc/rampart/rampart.yaml "

# --- purge: nothing the packages created is left -----------------------------
dpkg -L rampart libnginx-mod-http-rampart | sort -u > "$TMP/installed-paths"
DEBIAN_FRONTEND=noninteractive apt-get purge -y rampart libnginx-mod-http-rampart > "$TMP/purge.log" 2>&1 \
  || { tail -20 "$TMP/purge.log"; fail "purge"; }
left=$(while read -r f; do [ -e "$f" ] || [ -L "$f" ] && echo "$f"; done < "$TMP/installed-paths" |
       grep -vxF -f "$TMP/existed-before" || true)
check "purge: every file and directory of the packages is gone${left:+ (left: $left)}" test -z "$left"
for f in /etc/rampart /var/lib/rampart /run/rampart "$SNIPPET" /etc/systemd/system/multi-user.target.wants/rampart.service; do
  check "purge: $f gone" test ! -e "$f" -a ! -L "$f"
done
check "purge: user rampart gone" test -z "$(getent passwd rampart)"
check "purge: group rampart gone" test -z "$(getent group rampart)"
echo "package: all checks passed"
