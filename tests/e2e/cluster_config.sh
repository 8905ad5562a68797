#!/usr/bin/env bash
# Fleet mode, configuration as code (docs/cluster.md#configuration-as-code):
# a redis-server on loopback, two detectors and one edge, each with its own
# small file (Redis, role); the fleet's policy pushed by `rampart cluster
# push-config`.
#   1. a slow scanner (12 missing pages through the edge) is under the
#      default scan thresholds: allowed;
#   2. a fleet file lowering them is pushed: both detectors (and the edge)
#      apply it, the time is measured; the same traffic from another
#      address is now blocked on the edge;
#   3. an invalid file is refused by the CLI with check-config's messages,
#      and nothing changes in Redis;
#   4. a detector started after the push starts with it, and the node-local
#      keys in the fleet file (socket, store, role, consumer) changed
#      nothing; its /v1/config shows the version and the file's sha256;
#   5. values written into Redis by hand (invalid YAML with a matching
#      hash, binary garbage, a text not matching its hash, the applied
#      number with another text) are refused by the detectors: counted,
#      logged once, the old one stays; a valid file that needs a restart
#      is refused by every running node, and push-config --wait says so;
#   6. SIGHUP keeps the fleet's version; POST /v1/config is refused;
#   7. a detector restarted takes the version that needed a restart; one
#      restarted while Redis is down starts with the version it kept
#      beside its store.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || bash "$ROOT/tools/install-deps.sh" redis-server >/dev/null 2>&1 ||
  fail "redis-server is required (Debian redis-server)"
command -v curl >/dev/null || fail "curl is required"
now_ms() { date +%s%3N; }
metric() { curl -s "$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
status() { curl -s -o /dev/null -w '%{http_code}' "$1/v1/check?ip=$2"; }

start_redis
check "redis-server is up on 127.0.0.1:$REDIS_PORT" test "$(rcli ping)" = PONG
for role in edge detector; do
  printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: %s\n' "$REDIS_PORT" "$role" > "$TMP/$role.yaml"
done
# The fleet's file: the scan thresholds lowered (defaults: 20 requests and
# 15 missing paths in 10 min), and node-local keys that the nodes must ignore.
cat > "$TMP/fleet.yaml" <<EOF
profiles:
  default:
    detectors:
      scan:
        min_requests_10m: 5
        max_missing_paths_10m: 3
serve:
  socket: $TMP/evil.sock
  store: $TMP/evil.db
cluster:
  role: edge
  consumer: evil
  partitions: 1
EOF
SHA=$(sha256sum < "$TMP/fleet.yaml" | cut -d' ' -f1)
"$RAMPART" check-config --fleet "$TMP/fleet.yaml" > "$TMP/check.out" 2> "$TMP/check.err"
check "check-config --fleet accepts the fleet file" grep -q 'ok (a fleet file; 3 warnings)' "$TMP/check.out"
check "  and warns that serve: is node-local" grep -q 'fleet.yaml:7:1: warning: serve is node-local' "$TMP/check.err"
check "  and cluster.role, cluster.consumer" \
  test "$(grep -c 'warning: cluster.\(role\|consumer\) is node-local' "$TMP/check.err")" = 2
printf 'profiles:\n  default:\n    tolerance: high\n' > "$TMP/nocluster.yaml"
if "$RAMPART" check-config --fleet "$TMP/nocluster.yaml" 2> "$TMP/nocluster.err"; then
  fail "check-config --fleet accepted a file without cluster:"
fi
check "a fleet file without cluster: is refused" grep -q 'needs a cluster: section' "$TMP/nocluster.err"
check "  (the same file is a valid node file)" "$RAMPART" check-config -q "$TMP/nocluster.yaml"

make_token
start_serve d1 --config "$TMP/detector.yaml"; D1=$ADMIN; D1_PID=$SERVE_PID
start_serve d2 --config "$TMP/detector.yaml"; D2=$ADMIN; D2_PID=$SERVE_PID
start_serve ed --config "$TMP/edge.yaml"; ED=$ADMIN; ED_PID=$SERVE_PID
check "no fleet version before a push (0 on each node)" \
  test "$(metric "$D1" rampart_cluster_config_version)$(metric "$D2" rampart_cluster_config_version)$(metric "$ED" rampart_cluster_config_version)" = 000

# scanner IP N: N missing pages, 2 s apart in the log's time, sent through the edge
scanner() {
  local i
  for i in $(seq 1 "$2"); do
    printf '%s - - [25/Nov/2026:10:00:%02d +0000] "GET /catalog/item-%d.html HTTP/1.1" 404 162 "-" "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"\n' "$1" $((i * 2)) "$i"
  done > "$TMP/scan-$1.log"
  "$RAMPART" send --socket "$TMP/ed.sock" --now "$TMP/scan-$1.log"
}
consumed() { echo $(( $(metric "$D1" rampart_cluster_events_consumed_total) + $(metric "$D2" rampart_cluster_events_consumed_total) )); }
wait_consumed() {
  for _ in $(seq 1 200); do [ "$(consumed)" -ge "$1" ] && return 0; sleep 0.05; done
  echo "detectors consumed $(consumed) events, expected $1"; return 1
}

echo "1. a slow scanner under the default thresholds"
SLOW1=198.51.100.23
scanner "$SLOW1" 12
check "the active detector read its 12 events" wait_consumed 12
sleep 0.3
check "and did not block it (204 on the edge)" test "$(status "$ED" "$SLOW1")" = 204

echo "2. the fleet file pushed: every node applies it"
t0=$(now_ms)
"$RAMPART" cluster push-config "$TMP/fleet.yaml" --config "$TMP/detector.yaml" --by e2e \
  --wait 10 > "$TMP/push.out" 2> "$TMP/push.err" &
PUSH_PID=$!
t1=""; t2=""; te=""
for _ in $(seq 1 500); do # 10 s at most
  [ -z "$t1" ] && [ "$(metric "$D1" rampart_cluster_config_version)" = 1 ] && t1=$(now_ms)
  [ -z "$t2" ] && [ "$(metric "$D2" rampart_cluster_config_version)" = 1 ] && t2=$(now_ms)
  [ -z "$te" ] && [ "$(metric "$ED" rampart_cluster_config_version)" = 1 ] && te=$(now_ms)
  [ -n "$t1" ] && [ -n "$t2" ] && [ -n "$te" ] && break
  sleep 0.02
done
check "detector 1 applied version 1" test -n "$t1"
check "detector 2 applied version 1" test -n "$t2"
check "the edge applied version 1" test -n "$te"
slowest=$(( t1 > t2 ? t1 : t2 ))
echo "  push -> applied: detector 1 $((t1 - t0)) ms, detector 2 $((t2 - t0)) ms, edge $((te - t0)) ms" \
     "(CLI and metrics polling every 20 ms included; the nodes poll every 500 ms)"
check "both detectors within 2000 ms of the push" test $((slowest - t0)) -le 2000
wait "$PUSH_PID" || fail "push-config --wait: $(cat "$TMP/push.out" "$TMP/push.err")"
check "push-config says version 1" grep -q 'as version 1' "$TMP/push.out"
check "  with check-config's warnings" grep -q 'warning: serve is node-local' "$TMP/push.err"
check "  and --wait saw the three nodes apply it" test "$(grep -c ' applied v1 ' "$TMP/push.out")" = 3
grep ' applied v1 ' "$TMP/push.out" | sed 's/^/  /'
check "the same text on both (sha256 of the file in the metrics)" \
  test "$(curl -s "$D1/metrics" "$D2/metrics" | grep -c "rampart_cluster_config_info{sha256=\"$SHA\"} 1")" = 2
check "redis holds version 1 with the file's sha256" \
  test "$(rcli HMGET rampart:config version sha256 by | tr '\n' ' ')" = "1 $SHA e2e "
SLOW2=198.51.100.24
scanner "$SLOW2" 12
t_block=""
# 15 s at most: a loaded machine can delay a lease renewal into a takeover
for _ in $(seq 1 750); do
  [ "$(status "$ED" "$SLOW2")" = 403 ] && { t_block=$(now_ms); break; }
  sleep 0.02
done
check "the same traffic from another address is now blocked on the edge (403)" test -n "$t_block"
check "the first one still was not (it was judged under the old thresholds)" \
  test "$(status "$ED" "$SLOW1")" = 204

echo "3. an invalid file is refused by the CLI"
sed 's/max_missing_paths_10m: 3/max_missing_paths_10m: -3/' "$TMP/fleet.yaml" > "$TMP/bad.yaml"
"$RAMPART" check-config --fleet "$TMP/bad.yaml" 2> "$TMP/bad-check.err" && fail "check-config accepted bad.yaml"
if "$RAMPART" cluster push-config "$TMP/bad.yaml" --config "$TMP/detector.yaml" 2> "$TMP/bad-push.err"; then
  fail "push-config accepted bad.yaml"
fi
check "push-config exits non-zero and says nothing was pushed" grep -q 'is not valid: nothing pushed' "$TMP/bad-push.err"
check "with check-config's own messages, line for line" \
  test "$(grep -v 'nothing pushed' "$TMP/bad-push.err")" = "$(cat "$TMP/bad-check.err")"
grep 'max_missing_paths_10m' "$TMP/bad-push.err" | sed 's/^/    /'
check "redis still holds version 1" test "$(rcli HGET rampart:config version)" = 1
head -c 1100000 /dev/urandom | base64 -w 76 | sed 's/^/# /' > "$TMP/huge.yaml"
echo 'cluster: {}' >> "$TMP/huge.yaml"
"$RAMPART" cluster push-config "$TMP/huge.yaml" --config "$TMP/detector.yaml" 2> "$TMP/huge.err" &&
  fail "push-config accepted a 1.5 MB file"
check "a file over 1 MiB is refused" grep -q 'larger than 1048576 bytes' "$TMP/huge.err"
"$RAMPART" check-config --fleet "$TMP/huge.yaml" 2> "$TMP/huge-check.err" &&
  fail "check-config --fleet accepted a 1.5 MB file"
check "  and so by check-config --fleet, in the same words" \
  test "$(grep -v 'nothing pushed' "$TMP/huge.err")" = "$(cat "$TMP/huge-check.err")"

echo "4. a detector started after the push starts with it; node-local keys stay its own"
start_serve d3 --config "$TMP/detector.yaml"; D3=$ADMIN; D3_PID=$SERVE_PID
check "at once after ready: version 1" test "$(metric "$D3" rampart_cluster_config_version)" = 1
check "its log says it applied it at start, from redis" grep -q 'fleet config v1 .* applied at start, from redis' "$TMP/d3.log"
check "its role is still detector" grep -q 'rampart_cluster_role{role="detector"} 1' <(curl -s "$D3/metrics")
check "its socket and store are its own" test -S "$TMP/d3.sock" -a -s "$TMP/d3.db"
check "nothing at the fleet file's socket or store" test ! -e "$TMP/evil.sock" -a ! -e "$TMP/evil.db"
curl -s "$D3/v1/config" > "$TMP/config.json"
check "/v1/config shows fleet version 1" grep -q '"fleet": *{[^}]*"version": *1' "$TMP/config.json"
check "  and the file's sha256" grep -q "\"sha256\": *\"$SHA\"" "$TMP/config.json"
"$RAMPART" cluster config-status --config "$TMP/detector.yaml" > "$TMP/status.out"
check "config-status lists the four nodes at v1" test "$(grep -c ' v1 ' "$TMP/status.out")" = 4
check "  none named by the fleet file's consumer" sh -c "! grep -q '^evil ' '$TMP/status.out'"

echo "5. values written into redis by hand are refused by the detectors"
GARBAGE='profiles: [unclosed'
G_SHA=$(printf '%s' "$GARBAGE" | sha256sum | cut -d' ' -f1)
rcli HSET rampart:config yaml "$GARBAGE" version 7 sha256 "$G_SHA" > /dev/null
head -c 3000 /dev/urandom > "$TMP/binary"
B_SHA=$(sha256sum < "$TMP/binary" | cut -d' ' -f1)
sleep 1.2
rcli -x HSET rampart:config yaml < "$TMP/binary" > /dev/null
rcli HSET rampart:config version 8 sha256 "$B_SHA" > /dev/null
sleep 1.2
rcli HSET rampart:config yaml 'engine: {}' version 9 sha256 "$B_SHA" > /dev/null
sleep 1.2
rcli HSET rampart:config version 1 > /dev/null # the applied number, another text
sleep 1.2
for n in 1 2 3; do
  d=$(eval echo "\$D$n")
  check "detector $n: version 1 stays" test "$(metric "$d" rampart_cluster_config_version)" = 1
  check "  4 versions refused and counted" test "$(metric "$d" rampart_cluster_config_refused_total)" = 4
done
check "detector 1 logged each refusal once" test "$(grep -c 'fleet config v[0-9]* refused' "$TMP/d1.log")" = 4
grep -h 'fleet config v[0-9]* refused' "$TMP/d1.log" | sed 's/^[^ ]* /    /'
SLOW3=198.51.100.25
scanner "$SLOW3" 12
for _ in $(seq 1 750); do [ "$(status "$ED" "$SLOW3")" = 403 ] && break; sleep 0.02; done
check "the fleet's version 1 still judges (another slow scanner blocked)" test "$(status "$ED" "$SLOW3")" = 403
# valid, but a running engine cannot take it (its tables are sized at start)
{ printf 'engine:\n  clients: { ip: 100000 }\n'; cat "$TMP/fleet.yaml"; } > "$TMP/restart.yaml"
if "$RAMPART" cluster push-config "$TMP/restart.yaml" --config "$TMP/detector.yaml" --wait 10 \
    > "$TMP/restart.out" 2> "$TMP/restart.err"; then
  fail "push-config --wait exited 0 although the nodes refused the version"
fi
check "a valid file the running engines cannot take: --wait reports 4 refusals" \
  test "$(grep -c 'REFUSED v2: .*engine.clients or engine.levels needs a restart' "$TMP/restart.out")" = 4
check "  and exits 1 saying so" grep -q 'version 2: 4 nodes refused it' "$TMP/restart.err"
check "  version 1 stays on detector 1" test "$(metric "$D1" rampart_cluster_config_version)" = 1

echo "6. SIGHUP keeps the fleet's version; the API's config write is refused"
kill -HUP "$D2_PID"
for _ in $(seq 1 100); do grep -q 'reloaded from .* with fleet config v1' "$TMP/d2.log" && break; sleep 0.05; done
check "detector 2 reloaded its file with fleet config v1" grep -q 'reloaded from .* with fleet config v1' "$TMP/d2.log"
check "  and still runs version 1" test "$(metric "$D2" rampart_cluster_config_version)" = 1
code=$(curl -s -o "$TMP/post.out" -w '%{http_code}' -X POST "$D2/v1/config" \
  -H "Authorization: Bearer $(cat "$TMP/token")" -d '{"config":"profiles: {}\n"}')
check "POST /v1/config on a fleet node: 422" test "$code" = 422
check "  naming rampart cluster push-config" grep -q 'rampart cluster push-config' "$TMP/post.out"

echo "7. restarts: the version that needed one; redis down: the version kept"
stop_serve "$D3_PID"
start_serve d3 --config "$TMP/detector.yaml"; D3=$ADMIN; D3_PID=$SERVE_PID
check "detector 3 restarted (redis up) starts with the version it refused running: 2" \
  test "$(metric "$D3" rampart_cluster_config_version)" = 2
check "detector 1 kept version 1 beside its store" test -s "$TMP/d1.db.fleet"
check "  readable by its owner only" test "$(stat -c %a "$TMP/d1.db.fleet")" = 600
stop_serve "$D1_PID"
kill -TERM "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
start_serve d1 --config "$TMP/detector.yaml"; D1=$ADMIN; D1_PID=$SERVE_PID
check "started with version 1 (redis unreachable)" test "$(metric "$D1" rampart_cluster_config_version)" = 1
check "  from its kept copy" grep -q "fleet config v1 .* applied at start, from $TMP/d1.db.fleet" "$TMP/d1.log"

stop_serve "$D1_PID"; stop_serve "$D2_PID"; stop_serve "$D3_PID"; stop_serve "$ED_PID"
echo "cluster_config: ok"
