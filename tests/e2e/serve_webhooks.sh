#!/usr/bin/env bash
# Alerts on decisions (issue 13): `rampart serve` POSTs a JSON document to
# webhooks, against real local receivers (python3 http.server on free
# loopback ports, stopped by PID):
#  - "ok" answers 200: it gets the document of a scanner's block with the
#    right fields, the Slack-compatible text and the configured headers
#    (one read from a file, never logged); a manual throttle too, marked
#    manual;
#  - "failing" answers 500: 1 + retries attempts, backoff doubling, each
#    counted in /metrics, the delivery dropped at the end (gave_up), one
#    log line;
#  - "hung" accepts and never answers: its timeouts are counted, and it
#    delays neither the decision (the block is on /v1/check as soon as
#    without webhooks, measured) nor the deliveries to "ok";
#  - filters: reactions, min_score, detectors, manual;
#  - a queue of 2 overflowing: the drops are counted;
#  - a reload: a missing header file rejects it, a new webhook takes over.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is required"
command -v jq >/dev/null || fail "jq is required"
command -v python3 >/dev/null || fail "python3 is required"
make_token

# --- receivers ---------------------------------------------------------------
cat > "$TMP/hook.py" <<'PY'
import json, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
mode, port_file, log_file = sys.argv[1], sys.argv[2], sys.argv[3]
lock = threading.Lock()
def record(entry):
    with lock, open(log_file, "a") as f:
        f.write(json.dumps(entry) + "\n")
if mode == "hang":  # accept, read nothing, answer nothing
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
    open(port_file, "w").write(str(s.getsockname()[1]))
    held = []
    while True:
        c, _ = s.accept(); held.append(c); record({"t": time.time(), "accepted": len(held)})
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        record({"t": time.time(), "path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(200 if mode == "ok" else 500)
        self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *a): pass
srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
open(port_file, "w").write(str(srv.server_address[1]))
srv.serve_forever()
PY
start_receiver() { # start_receiver MODE NAME: sets PORT_<NAME>
  : > "$TMP/$2.log"
  python3 "$TMP/hook.py" "$1" "$TMP/$2.port" "$TMP/$2.log" 2> "$TMP/$2.err" &
  cleanup_pid $!
  for _ in $(seq 1 100); do [ -s "$TMP/$2.port" ] && break; sleep 0.05; done
  [ -s "$TMP/$2.port" ] || fail "receiver $2 did not start"
  printf -v "PORT_$2" '%s' "$(cat "$TMP/$2.port")"
}
start_receiver ok ok
start_receiver fail failing
start_receiver hang hung
received() { jq -c "select(.path == \"$2\")" "$TMP/$1.log"; } # received LOG PATH
count() { received "$1" "$2" | grep -c . || true; }
now_ms() { date +%s%3N; }
metric() { curl -s "$ADMIN/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
wait_until() { # wait_until SECONDS 'SHELL CONDITION': evaluated every 50 ms
  local n=$(( $1 * 20 ))
  for _ in $(seq 1 "$n"); do eval "$2" && return 0; sleep 0.05; done
  return 1
}
scan_log() { # scan_log IP FILE: 150 requests for missing sensitive paths
  for i in $(seq 1 150); do
    printf '%s - - [25/Nov/2026:10:00:%02d +0000] "GET /admin/backup-%d.php HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' "$1" $((i % 60)) "$i"
  done > "$2"
}
# block_ms NAME IP: send a scan from IP to daemon NAME, milliseconds until
# /v1/check answers 403 for it
block_ms() {
  scan_log "$2" "$TMP/scan-$2.log"
  local t0 t1 code
  t0=$(now_ms)
  "$RAMPART" send --quiet --socket "$TMP/$1.sock" --now "$TMP/scan-$2.log"
  for _ in $(seq 1 500); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$ADMIN/v1/check?ip=$2")
    [ "$code" = 403 ] && break; sleep 0.01
  done
  t1=$(now_ms)
  [ "$code" = 403 ] || fail "$2 never blocked"
  echo $((t1 - t0))
}

# --- (1) the decision's latency without webhooks -----------------------------
median() { sort -n | sed -n 2p; } # of 3
start_serve plain
PLAIN=$(for ip in 198.51.100.60 198.51.100.61 198.51.100.62; do block_ms plain $ip; done | tr '\n' ' ')
PLAIN_MS=$(tr ' ' '\n' <<<"$PLAIN" | grep . | median)
stop_serve "$SERVE_PID"
echo "    without webhooks: blocked on /v1/check $PLAIN ms after the scan was sent (median $PLAIN_MS)"

# --- (2) webhooks -------------------------------------------------------------
SECRET="Bearer e2e-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
printf '%s\n' "$SECRET" > "$TMP/hook.auth"
cat > "$TMP/w.yaml" <<YAML
alerts:
  public_url: https://rampart.example.com/
  node: e2e-node
  backoff: 300ms
  max_backoff: 5s
  retries: 3
  webhooks:
    - name: ok
      url: http://127.0.0.1:$PORT_ok/hook
      headers: {X-Team: security}
      header_files: {Authorization: $TMP/hook.auth}
    - name: failing
      url: http://127.0.0.1:$PORT_failing/hook
      reactions: [block]
      manual: false
    - name: hung
      url: http://127.0.0.1:$PORT_hung/hook
      timeout: 3s
    - name: auth-only
      url: http://127.0.0.1:$PORT_ok/auth-only
      detectors: [auth]
    - name: scan-only
      url: http://127.0.0.1:$PORT_ok/scan-only
      detectors: [scan]
      manual: false
    - name: over-100
      url: http://127.0.0.1:$PORT_ok/over-100
      min_score: 100
      manual: false
    - name: over-20
      url: http://127.0.0.1:$PORT_ok/over-20
      min_score: 20
      manual: false
    - name: blocks-only
      url: http://127.0.0.1:$PORT_ok/blocks-only
      reactions: [block]
YAML
check "check-config accepts the alerts section" "$RAMPART" check-config -q "$TMP/w.yaml"
start_serve w --config "$TMP/w.yaml"
decide() { "$RAMPART" decisions --url "$ADMIN" --token-file "$TMP/token" add "$@" > /dev/null; }

# A manual throttle, then a manual block: the hung receiver holds both of
# its connections (alerts.connections: 2) from here on.
decide ip:203.0.113.5 throttle 10m "e2e: manual throttle"
check "the manual throttle reached ok" wait_until 5 'test "$(count ok /hook)" = 1'
doc=$(received ok /hook | head -1 | jq -r .body)
check "... marked manual, with the operator's reason, no score" \
  test "$(jq -r '[.source, .manual, .reason, .score, .action, .key] | join(" ")' <<<"$doc")" = "manual true e2e: manual throttle  throttle ip:203.0.113.5"
check "... its text says so" grep -q '^Rampart throttled ip:203.0.113.5 for 10m (manual decision: e2e: manual throttle) on e2e-node' <(jq -r .text <<<"$doc")
decide ip:203.0.113.6 block 10m "e2e: manual block"
check "the hung receiver holds 2 connections" wait_until 5 'test "$(grep -c accepted "$TMP/hung.log")" = 2'

# The scanner, measured as without webhooks.
HOOK=$(block_ms w 198.51.100.66)
T_BLOCKED=$(now_ms)
echo "    with webhooks (one receiver hung): blocked $HOOK ms after the scan was sent"
check "the block's document reached ok (3: throttle, block, scanner)" wait_until 5 'test "$(count ok /hook)" = 3'
T_OK=$(received ok /hook | tail -1 | jq -r '.t * 1000 | floor')
echo "    ok received the scanner's document $((T_OK - T_BLOCKED)) ms after the block was seen on /v1/check"
check "... within 1 s of the block, while hung holds its slots" test $((T_OK - T_BLOCKED)) -le 1000
check "the hung receiver got nothing new meanwhile (2 connections)" test "$(grep -c accepted "$TMP/hung.log")" = 2

entry=$(received ok /hook | tail -1)
doc=$(jq -r .body <<<"$entry")
INCIDENT=$(curl -s "$ADMIN/v1/check?ip=198.51.100.66" | jq .incident_id)
jqd() { jq -r "$1" <<<"$doc"; }
check "document: key, level, action, source" test "$(jqd '[.key, .level, .action, .source, .manual] | join(" ")')" = "ip:198.51.100.66 ip block engine false"
check "document: the incident of /v1/check ($INCIDENT)" test "$(jqd .incident_id)" = "$INCIDENT"
check "document: scan among the detectors" test "$(jqd '.detectors | index("scan") != null')" = true
check "document: evidence lines, the scan's first" test "$(jqd '.evidence[0] | startswith("scan:")')" = true
check "document: a score" test "$(jqd '.score > 0')" = true
check "document: incident URL on the dashboard" test "$(jqd .incident_url)" = "https://rampart.example.com/ui/#/client/ip:198.51.100.66"
check "document: incident API URL" test "$(jqd .incident_api_url)" = "https://rampart.example.com/v1/incidents/$INCIDENT"
check "document: node" test "$(jqd .node)" = e2e-node
check "document: decided_at + duration_s = expires_at" \
  test "$(jqd '((.expires_at | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601) - (.decided_at | sub("\\.[0-9]+Z$"; "Z") | fromdateiso8601)) == .duration_s')" = true
check "document: the requests seen" test "$(jqd '.requests[0] | test("^GET /admin/backup-[0-9]+\\.php 404$")')" = true
TEXT=$(jqd .text)
echo "    text: $(head -2 <<<"$TEXT" | tr '\n' '|')"
check "Slack text: one summary line" grep -Eq "^Rampart blocked ip:198.51.100.66 for [0-9]+[smhd] \(score [0-9]+: scan.*\) on e2e-node - <https://rampart.example.com/ui/#/client/ip:198.51.100.66\|incident #$INCIDENT>$" <(head -1 <<<"$TEXT")
check "Slack text: then the evidence" test "$(sed -n 2p <<<"$TEXT")" = "- $(jqd '.evidence[0]')"
check "headers: Content-Type application/json" test "$(jq -r '.headers["Content-Type"]' <<<"$entry")" = application/json
check "headers: X-Team from the config" test "$(jq -r '.headers["X-Team"]' <<<"$entry")" = security
check "headers: Authorization from its file" test "$(jq -r '.headers.Authorization' <<<"$entry")" = "$SECRET"

# The failing receiver: 1 + 3 attempts, 300, 600, 1200 ms apart.
wait_until 8 'test "$(count failing /hook)" = 4' ||
  { cat "$TMP/failing.log" "$TMP/w.log"; curl -s "$ADMIN/metrics" | grep webhook_; fail "failing got $(count failing /hook) attempts, not 4 (1 + retries 3)"; }
echo "  ok: failing got 4 attempts (1 + retries 3)"
sleep 0.5
check "... and no fifth" test "$(count failing /hook)" = 4
mapfile -t T < <(received failing /hook | jq -r '.t * 1000 | floor')
echo "    failing: gaps $((T[1] - T[0])), $((T[2] - T[1])), $((T[3] - T[2])) ms (backoff 300 ms doubling)"
for k in 1 2 3; do
  want=$((300 << (k - 1))); gap=$((T[k] - T[k - 1]))
  check "retry $k after $gap ms (>= $want, < $want + 400)" test "$gap" -ge "$want" -a "$gap" -lt $((want + 400))
done
check "failing: its one document, every time" test "$(received failing /hook | jq -r '.body | fromjson | .key' | sort -u)" = ip:198.51.100.66
check "metrics: 4 failed attempts (status)" test "$(metric 'rampart_webhook_failures_total{webhook="failing",reason="status"}')" = 4
check "metrics: 3 retries" test "$(metric 'rampart_webhook_retries_total{webhook="failing"}')" = 3
check "metrics: dropped, retries exhausted" test "$(metric 'rampart_webhook_dropped_total{webhook="failing",reason="gave_up"}')" = 1
check "metrics: ok delivered 3" test "$(metric 'rampart_webhook_deliveries_total{webhook="ok"}')" = 3
check "log: one line for the failing receiver (at most one a minute)" test "$(grep -c 'webhook failing: HTTP 500' "$TMP/w.log")" = 1

# The hung one: its attempts time out (3 s) and are counted.
check "metrics: the hung receiver's timeouts are counted" \
  wait_until 6 'test "$(metric '\''rampart_webhook_failures_total{webhook="hung",reason="timeout"}'\'')" -ge 2'
check "log: one line for the hung receiver" test "$(grep -c 'webhook hung: Timeout' "$TMP/w.log")" = 1

# Filters.
check "filter detectors [auth]: nothing (no auth finding; manual ones pass: manual true)" \
  test "$(received ok /auth-only | jq -r '.body | fromjson | .source' | sort | uniq -c | awk '{print $2 $1}' | tr '\n' ' ')" = "manual2 "
check "filter detectors [scan], manual false: the scanner only" \
  test "$(received ok /scan-only | jq -r '.body | fromjson | .key' | tr '\n' ' ')" = "ip:198.51.100.66 "
SCORE=$(jqd '.score | floor')
if [ "$SCORE" -ge 100 ]; then want="ip:198.51.100.66 "; else want=""; fi
check "filter min_score 100: the scanner (score $SCORE) $( [ -n "$want" ] && echo passes || echo 'does not pass')" \
  test "$(received ok /over-100 | jq -r '.body | fromjson | .key' | tr '\n' ' ')" = "$want"
check "filter min_score 20: the scanner" \
  test "$(received ok /over-20 | jq -r '.body | fromjson | .key' | tr '\n' ' ')" = "ip:198.51.100.66 "
check "filter reactions [block]: the manual block and the scanner, not the manual throttle" \
  test "$(received ok /blocks-only | jq -r '.body | fromjson | .key' | tr '\n' ' ')" = "ip:203.0.113.6 ip:198.51.100.66 "

# Two more scanners: the decision's latency, median of 3, as without webhooks.
HOOK="$HOOK $(block_ms w 198.51.100.64) $(block_ms w 198.51.100.65)"
HOOK_MS=$(tr ' ' '\n' <<<"$HOOK" | grep . | median)
echo "    with webhooks (one receiver hung, one failing): blocked $HOOK ms after the scan was sent (median $HOOK_MS; without: $PLAIN_MS)"
check "the webhooks do not delay the decision (median $HOOK_MS ms vs $PLAIN_MS ms, +250 ms at most)" \
  test "$HOOK_MS" -le $((PLAIN_MS + 250))

# Secrets: the header file's value and the URLs are in no log and not in
# the read-only /v1/config.
check "the Authorization value is in no log line" test "$(grep -c "${SECRET#Bearer }" "$TMP/w.log")" = 0
check "no webhook URL in the log" test "$(grep -c "127.0.0.1:$PORT_ok/" "$TMP/w.log")" = 0
check "no webhook URL in /v1/config without the token" \
  test "$(curl -s "$ADMIN/v1/config" | jq -r .yaml | grep -c "127.0.0.1:$PORT_ok/")" = 0
stop_serve "$SERVE_PID"

# --- (3) a queue of 2 on the hung receiver, 6 decisions: 4 dropped ------------
cat > "$TMP/q.yaml" <<YAML
alerts:
  queue: 2
  connections: 1
  webhooks:
    - name: hung
      url: http://127.0.0.1:$PORT_hung/q
      timeout: 10s
YAML
start_serve q --config "$TMP/q.yaml"
for i in 1 2 3 4 5 6; do decide "ip:203.0.113.$((20 + i))" block 10m "e2e: queue"; done
check "metrics: queue depth at its capacity (2)" test "$(metric rampart_webhook_queue_depth)" = 2
check "metrics: 4 dropped from the full queue" test "$(metric 'rampart_webhook_dropped_total{webhook="hung",reason="queue_full"}')" = 4
check "metrics: 6 enqueued" test "$(metric 'rampart_webhook_enqueued_total{webhook="hung"}')" = 6
# A reload: a header file that is missing rejects it (the webhooks in
# force stay); then a new webhook replaces the hung one at once.
cat > "$TMP/q2.yaml" <<YAML
alerts:
  webhooks:
    - name: reloaded
      url: http://127.0.0.1:$PORT_ok/reloaded
      header_files: {Authorization: $TMP/missing.auth}
YAML
cp "$TMP/q2.yaml" "$TMP/q.yaml"
code=$(curl -s -o "$TMP/reload.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$TMP/token")" "$ADMIN/v1/reload")
check "reload with a missing header file: rejected ($code)" test "$code" != 200
check "... the hung webhook still in force" test "$(metric 'rampart_webhook_enqueued_total{webhook="hung"}')" = 6
sed -i 's|      header_files: .*||' "$TMP/q.yaml"
code=$(curl -s -o "$TMP/reload.json" -w '%{http_code}' -X POST -H "Authorization: Bearer $(cat "$TMP/token")" "$ADMIN/v1/reload")
check "reload with the new webhook: accepted ($code)" test "$code" = 200
decide ip:203.0.113.40 block 10m "e2e: after the reload"
check "the new webhook gets the next decision" \
  wait_until 5 'test "$(received ok /reloaded | jq -r ".body | fromjson | .key")" = ip:203.0.113.40'
check "the removed webhook is gone from /metrics" test -z "$(metric 'rampart_webhook_enqueued_total{webhook="hung"}')"
check "queue: the removed webhook's waiting delivery dropped, its one in flight still counted (1)" \
  test "$(metric rampart_webhook_queue_depth)" = 1
t0=$(now_ms); stop_serve "$SERVE_PID"; t1=$(now_ms)
check "the daemon stops within 3 s with a receiver hung ($((t1 - t0)) ms)" test $((t1 - t0)) -lt 3000
check "... saying what it did not deliver" grep -q 'webhooks: 1 delivery not made (stopping)' "$TMP/q.log"
echo "serve_webhooks: all checks passed"
