#!/usr/bin/env bash
# The dashboard in a real browser: builds web/dist, starts `rampart serve`
# with a configuration file (so the tuning page can apply), replays a seeded
# trafficgen stream plus a client whose user agent and paths carry markup,
# and a swarm whose user agent is markup, then runs web/test/*.mjs in
# headless Debian Chromium through playwright-core.
# Every page is compared with the API; screenshots go to docs/img/ when
# DASH_SCREENSHOTS=1 (or to $TMP otherwise, so a test run leaves the tree
# alone).
#
# The pages are served by the daemon at /ui/. While a daemon without /ui/
# is in use, the test goes through web/devserver.mjs (same origin: /ui/ from
# web/dist, everything else passed to the daemon) and says so; set
# DASH_REQUIRE_UI=1 to fail instead.
source "$(dirname "$0")/lib.sh"
command -v curl >/dev/null || fail "curl is required"
command -v node >/dev/null || bash "$ROOT/tools/install-deps.sh" nodejs npm
[ -x /usr/bin/chromium ] || bash "$ROOT/tools/install-deps.sh" chromium
if [ ! -d "$ROOT/web/node_modules/playwright-core" ]; then
  (cd "$ROOT/web" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
bash "$ROOT/web/build.sh"
# The daemon embeds web/dist at build time: relink it when the pages changed.
if [ "$RAMPART" = "$ROOT/build/rampart" ]; then make -C "$ROOT" --no-print-directory -s build/rampart >&2; fi

make_token
cat > "$TMP/rampart.yaml" <<'YAML'
# dashboard test configuration: the demo shop's OpenAPI document, so the
# inventory has declared routes and the undeclared ones stand out
inventory:
  openapi: openapi.yaml
profiles:
  default:
    tolerance: normal
YAML
cp "$ROOT/examples/openapi.yaml" "$TMP/openapi.yaml"
start_serve a --config "$TMP/rampart.yaml"

# The seeded stream: five minutes of the demo shop with every attack kind.
"$TRAFFICGEN" --seed 11 --duration 300 --lines 20000 --format json --out "$TMP/events.jsonl"
# A scanner whose user agent and paths are markup: every page must show it as text.
XSS_IP=203.0.113.66
for i in $(seq 1 60); do
  printf '{"time_iso8601":"2026-11-25T10:04:%02d.000+00:00","remote_addr":"%s","request_method":"GET","request_uri":"/admin/<script>window.__xss=3</script>/x%d.php","status":404,"body_bytes_sent":162,"request_length":120,"http_user_agent":"<script>window.__xss=1</script><img src=x onerror=\\"window.__xss=2\\">","http_referer":"-","host":"shop.example","header_names":"host,user-agent"}\n' \
    $((i % 60)) "$XSS_IP" "$i"
done > "$TMP/xss.jsonl"
# One of its markup paths answered 200: a route that served a success is a
# real route of the inventory (404-only probe paths are one "(probes)" row).
printf '{"time_iso8601":"2026-11-25T10:04:59.000+00:00","remote_addr":"%s","request_method":"GET","request_uri":"/admin/<script>window.__xss=3</script>/x1.php","status":200,"body_bytes_sent":162,"request_length":120,"http_user_agent":"<script>window.__xss=1</script><img src=x onerror=\\"window.__xss=2\\">","http_referer":"-","host":"shop.example","header_names":"host,user-agent"}\n' \
  "$XSS_IP" >> "$TMP/xss.jsonl"
# A quiet human, blocked and unblocked through the UI.
QUIET_IP=192.0.2.10
for i in 1 2 3 4 5; do
  printf '{"time_iso8601":"2026-11-25T10:04:%02d.000+00:00","remote_addr":"%s","request_method":"GET","request_uri":"/api/products","status":200,"body_bytes_sent":2048,"request_length":300,"http_user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0","http_referer":"-","host":"shop.example","header_names":"host,user-agent,accept,accept-language,cookie"}\n' \
    $((i * 5)) "$QUIET_IP"
done > "$TMP/quiet.jsonl"
# A client seen once now, and its scan sent while its page is open (the
# browser test's "live" suite): the engine blocks it, the page must show it.
LIVE_IP=203.0.113.99
printf '{"time_iso8601":"2026-11-25T10:04:30.000+00:00","remote_addr":"%s","request_method":"GET","request_uri":"/api/products","status":200,"body_bytes_sent":900,"request_length":200,"http_user_agent":"Mozilla/5.0 (compatible; probe)","http_referer":"-","host":"shop.example","header_names":"host,user-agent,accept"}\n' \
  "$LIVE_IP" > "$TMP/live-first.jsonl"
# A swarm whose user agent is markup: 12 addresses in four /24s sharing one
# header fingerprint, 6 failed logins each (each address alone stays under
# the auth thresholds; together they are one credential stuffer). The
# Swarms page must list it and show its user agent as text.
for n in $(seq 1 12); do
  for i in $(seq 1 6); do
    printf '{"time_iso8601":"2026-11-25T10:03:%02d.%03d+00:00","remote_addr":"198.18.%d.%d","request_method":"POST","request_uri":"/api/login","status":401,"body_bytes_sent":60,"request_length":300,"http_user_agent":"<img src=x onerror=\\"window.__xss=4\\">swarm</b>","http_referer":"-","host":"shop.example","username":"victim%d@example.com","header_names":"host,user-agent,content-type,content-length"}\n' \
      $((i * 8 + n / 3)) $((n * 37)) $((n % 4)) $((n + 20)) $((n * 10 + i))
  done
done | sort > "$TMP/swarm.jsonl"
# Sent over ~15 s so the 10-second time series has a shape.
SEND_T=$(date +%s)
"$RAMPART" send --socket "$TMP/a.sock" --now --rate 2000 -q "$TMP/events.jsonl" "$TMP/xss.jsonl" "$TMP/quiet.jsonl" "$TMP/swarm.jsonl" "$TMP/live-first.jsonl"
# The scan comes after the stream in the engine's time: --now put the
# stream's first event at the time of sending, so its last one is ~300 s
# later; the scan starts a minute after that (sent as it is, no --now).
LIVE_T=$(( SEND_T + 360 ))
for i in $(seq 1 150); do
  printf '{"time_iso8601":"%s.%03d+00:00","remote_addr":"%s","request_method":"GET","request_uri":"/old/backup-%d.sql","status":404,"body_bytes_sent":153,"request_length":200,"http_user_agent":"Mozilla/5.0 (compatible; probe)","http_referer":"-","host":"shop.example","header_names":"host,user-agent,accept"}\n' \
    "$(date -u -d "@$(( LIVE_T + i / 10 ))" +%Y-%m-%dT%H:%M:%S)" $((i % 10 * 100)) "$LIVE_IP" "$i"
done > "$TMP/live.jsonl"
want=$(( $(wc -l < "$TMP/events.jsonl") + 66 + 72 + 1 ))
for _ in $(seq 1 300); do
  got=$(curl -s "$ADMIN/v1/stats" | grep -o '"engine":{"events":[0-9]*' | grep -o '[0-9]*$' || true)
  [ "$got" = "$want" ] && break; sleep 0.1
done
check "the daemon took the whole stream ($want events)" test "$got" = "$want"
sleep 0.5   # let the store commit the last incidents

UI="$ADMIN/ui/"
if [ "$(curl -s -o /dev/null -w '%{http_code}' "$UI")" != 200 ]; then
  [ "${DASH_REQUIRE_UI:-0}" = 1 ] && fail "the daemon does not serve /ui/"
  echo "  NOTE: this daemon does not serve /ui/ yet: testing through web/devserver.mjs" >&2
  node "$ROOT/web/devserver.mjs" "$ADMIN" 0 > "$TMP/dev.url" 2> "$TMP/dev.log" &
  cleanup_pid $!
  for _ in $(seq 1 50); do [ -s "$TMP/dev.url" ] && break; sleep 0.1; done
  UI="$(cat "$TMP/dev.url")/ui/"
fi

# Fleet mode (docs/cluster.md#fleet-view): a redis-server, a detector det-1
# and an edge edge-a; a scanner through the edge. The edge's dashboard must
# show the detector's incident with who decided it and where the requests
# came from, and its decision's incident.
command -v redis-server >/dev/null || bash "$ROOT/tools/install-deps.sh" redis-server
start_redis
MAIN_ADMIN=$ADMIN; MAIN_PID=$SERVE_PID
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: detector\n  node: det-1\n' "$REDIS_PORT" > "$TMP/det.yaml"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n  node: edge-a\n' "$REDIS_PORT" > "$TMP/edge.yaml"
start_serve det --config "$TMP/det.yaml"; DET_PID=$SERVE_PID; DET_ADMIN=$ADMIN
start_serve edge --config "$TMP/edge.yaml"; FLEET_ADMIN=$ADMIN; EDGE_PID=$SERVE_PID
FLEET_IP=198.51.100.66
for i in $(seq 1 20); do
  printf '%s - - [25/Nov/2026:10:00:%02d +0000] "GET /admin/backup-%d.php HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' "$FLEET_IP" "$i" "$i"
done > "$TMP/fleet.log"
"$RAMPART" send --socket "$TMP/edge.sock" --now -q "$TMP/fleet.log"
for _ in $(seq 1 100); do
  curl -s "$FLEET_ADMIN/v1/incidents?key=ip:$FLEET_IP" | grep -q '"node":"det-1"' && break; sleep 0.05
done
check "the edge lists the detector's incident" grep -q '"node":"det-1"' <(curl -s "$FLEET_ADMIN/v1/incidents?key=ip:$FLEET_IP")
ADMIN=$MAIN_ADMIN; SERVE_PID=$MAIN_PID

IMG_DIR="$TMP/img"
[ "${DASH_SCREENSHOTS:-0}" = 1 ] && IMG_DIR="$ROOT/docs/img"
rc=0
for t in "$ROOT"/web/test/*.mjs; do
  UI="$UI" ADMIN="$ADMIN" TOKEN="$(cat "$TMP/token")" XSS_KEY="ip:$XSS_IP" QUIET_KEY="ip:$QUIET_IP" \
    LIVE_KEY="ip:$LIVE_IP" LIVE_EVENTS="$TMP/live.jsonl" SOCK="$TMP/a.sock" RAMPART="$RAMPART" \
    CONFIG_FILE="$TMP/rampart.yaml" IMG_DIR="$IMG_DIR" FLEET_UI="$FLEET_ADMIN/ui/" \
    FLEET_ADMIN="$FLEET_ADMIN" FLEET_KEY="ip:$FLEET_IP" DET_ADMIN="$DET_ADMIN" timeout 150 node "$t" || rc=1
done
stop_serve "$SERVE_PID"
stop_serve "$EDGE_PID"; stop_serve "$DET_PID"; stop_redis
[ "$rc" = 0 ] || fail "browser tests failed"
echo "  ok: dashboard browser tests"
