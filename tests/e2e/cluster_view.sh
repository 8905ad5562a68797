#!/usr/bin/env bash
# Fleet view (docs/cluster.md#fleet-view): a redis-server on loopback, two
# edges named edge-a and edge-b, one detector named det-1.
#   1. one scanner whose requests arrive through both edges is blocked by
#      the detector; the incident, on the detector and on each edge's API,
#      says the detector decided it and both edges saw its requests (the
#      "hosts" summary and each sample's host);
#   2. the detector's memory window says which edge saw each request;
#      the mirrored decision on an edge links to the incident there;
#   3. edge A restarted shows the incident again at once (its store), and
#      so does an edge started with an empty store (read from Redis);
#   4. hostile entries (a host name too long, not UTF-8, missing; an
#      incident that is not JSON, names another node, a huge one) are
#      skipped and counted, and the rest goes on;
#   5. check-config refuses a bad node name;
#   6. the detector stopped cleanly publishes the incident's final version
#      (all its requests, more samples), which the edges update in place.
source "$(dirname "$0")/lib.sh"
command -v redis-server >/dev/null || fail "redis-server is required (Debian redis-server)"
command -v curl >/dev/null || fail "curl is required"
command -v python3 >/dev/null || fail "python3 is required"

start_redis
PORT=$REDIS_PORT
check "redis-server is up on 127.0.0.1:$PORT" test "$(rcli ping)" = PONG

conf() { printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: %s\n  node: %s\n' "$PORT" "$1" "$2"; }
conf detector det-1 > "$TMP/det.yaml"
conf edge edge-a > "$TMP/ea.yaml"
conf edge edge-b > "$TMP/eb.yaml"
check "check-config accepts cluster.node" "$RAMPART" check-config "$TMP/ea.yaml"
make_token
start_serve det --config "$TMP/det.yaml"; DET=$ADMIN; DET_PID=$SERVE_PID
start_serve ea --config "$TMP/ea.yaml"; EA=$ADMIN; EA_PID=$SERVE_PID
start_serve eb --config "$TMP/eb.yaml"; EB=$ADMIN; EB_PID=$SERVE_PID

# incident_of URL KEY: the newest block incident of KEY in that node's API, as
# JSON (empty when there is none).
incident_of() {
  curl -s "$1/v1/incidents?key=$2&group=incident&action=block" | python3 -c '
import json, sys
d = json.load(sys.stdin)
if d["incidents"]: print(json.dumps(d["incidents"][0]))'
}
# field JSON PYTHON-EXPRESSION-ON-i
field() { python3 -c "import json, sys; i = json.loads(sys.argv[1]); print($2)" "$1"; }
wait_incident() { # wait_incident URL KEY: up to 10 s
  local _i
  for _i in $(seq 1 200); do
    INC=$(incident_of "$1" "$2")
    [ -n "$INC" ] && return 0
    sleep 0.05
  done
  return 1
}

echo "1. a scanner through both edges"
SCANNER=198.51.100.66
for i in $(seq 1 200); do
  printf '%s - - [25/Nov/2026:10:00:%02d +0000] "GET /admin/backup-%d.php HTTP/1.1" 404 162 "-" "Mozilla/5.0 (compatible; scanner)"\n' "$SCANNER" $((i % 60)) "$i"
done > "$TMP/scan.log"
# Alternating one request at a time (the scanner is blocked at its third
# sensitive path), then the rest in two halves: the detector sees both
# edges' events before its threshold.
send_lines() { # send_lines FIRST LAST EDGE
  sed -n "$1,$2p" "$TMP/scan.log" > "$TMP/chunk"
  "$RAMPART" send --socket "$TMP/$3.sock" --now -q "$TMP/chunk"
}
for i in $(seq 1 20); do
  if [ $((i % 2)) = 1 ]; then send_lines "$i" "$i" ea; else send_lines "$i" "$i" eb; fi
  sleep 0.02
done
send_lines 21 110 ea
send_lines 111 200 eb
check "the detector has the scanner's incident" wait_incident "$DET" "ip:$SCANNER"
DET_INC=$INC
DET_ID=$(field "$DET_INC" 'i["id"]')
echo "  detector: incident $DET_ID, hosts $(field "$DET_INC" 'i["hosts"]'), samples' hosts" \
     "$(field "$DET_INC" '[s["host"] for s in i["samples"]]')"
check "  decided by det-1 (node)" test "$(field "$DET_INC" 'i["node"]')" = det-1
check "  its id there is its id (node_incident_id)" \
  test "$(field "$DET_INC" 'i["node_incident_id"]')" = "$DET_ID"
check "  seen on hosts edge-a and edge-b" \
  test "$(field "$DET_INC" '",".join(sorted(i["hosts"]))')" = "edge-a,edge-b"
check "  each sample says which edge saw it" \
  test "$(field "$DET_INC" 'all(s["host"] in ("edge-a", "edge-b") for s in i["samples"]) and len(i["samples"]) > 0')" = True
for e in A B; do
  if [ $e = A ]; then url=$EA; else url=$EB; fi
  check "edge $e shows the incident" wait_incident "$url" "ip:$SCANNER"
  check "  decided by det-1, its incident $DET_ID there" \
    test "$(field "$INC" 'i["node"] + " " + str(i["node_incident_id"])')" = "det-1 $DET_ID"
  check "  with the requests' hosts (edge-a, edge-b)" \
    test "$(field "$INC" '",".join(sorted(i["hosts"]))')" = "edge-a,edge-b"
  check "  and the same evidence as on the detector" \
    test "$(field "$INC" 'i["findings"][0]["summary"]')" = "$(field "$DET_INC" 'i["findings"][0]["summary"]')"
  check "  under an id of its own (mirrored ids start at 2^40)" \
    test "$(field "$INC" 'i["id"] >= 2**40')" = True
  check "  which /v1/incidents/ID answers" \
    test "$(curl -s "$url/v1/incidents/$(field "$INC" 'i["id"]')" | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"])')" = det-1
  if [ $e = A ]; then EA_INC_ID=$(field "$INC" 'i["id"]'); fi
done

ADMIN=$DET
check "the detector's engine saw the 200 events" wait_engine_events 200
by_host=$(curl -s "$DET/v1/clients/ip:$SCANNER/requests?limit=500" | python3 -c '
import json, sys, collections
r = json.load(sys.stdin)["requests"]
c = collections.Counter(q["host"] for q in r)
print(" ".join("%s=%d" % kv for kv in sorted(c.items())))')
check "its memory window says which edge saw each request (100 each): $by_host" \
  test "$by_host" = "edge-a=100 edge-b=100"

echo "2. the mirrored decision on edge A links to its incident there"
link=""
for _ in $(seq 1 100); do
  link=$(curl -s "$EA/v1/decisions" | python3 -c '
import json, sys
for d in json.load(sys.stdin)["decisions"]:
    if d["key"] == sys.argv[1] and d.get("incident_ref"): print(d["incident_ref"], d["incident_node"])' "ip:$SCANNER")
  [ -n "$link" ] && break
  sleep 0.05
done
check "edge A's decision names incident $EA_INC_ID of det-1" test "$link" = "$EA_INC_ID det-1"

echo "3. edge A restarted"
stop_serve "$EA_PID"
start_serve ea --config "$TMP/ea.yaml"; EA=$ADMIN; EA_PID=$SERVE_PID
INC=$(incident_of "$EA" "ip:$SCANNER")
check "shows the incident at once after ready (its store)" test -n "$INC"
check "  the same one, same id" test "$(field "$INC" 'i["id"]')" = "$EA_INC_ID"
check "  with its node and hosts" \
  test "$(field "$INC" 'i["node"] + " " + ",".join(sorted(i["hosts"]))')" = "det-1 edge-a,edge-b"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n' "$PORT" > "$TMP/ec.yaml" # no node: the default
start_serve ec --config "$TMP/ec.yaml"; EC=$ADMIN; EC_PID=$SERVE_PID
check "a node without cluster.node is named <host>-<hash of its store path>" \
  grep -Eq 'this node is [A-Za-z0-9._-]+-[0-9a-f]{8} \(cluster.node unset' "$TMP/ec.log"
check "an edge with an empty store reads it from Redis" wait_incident "$EC" "ip:$SCANNER"
check "  with its node and hosts" \
  test "$(field "$INC" 'i["node"] + " " + ",".join(sorted(i["hosts"]))')" = "det-1 edge-a,edge-b"
stop_serve "$EC_PID"

echo "4. hostile entries"
m0=$(curl -s "$EB/metrics" | grep -E '^rampart_cluster_incidents_refused_total' | awk '{print $2}')
rcli XADD rampart:decisions:incidents '*' n det-1 i 1 j 'not json' > /dev/null
rcli XADD rampart:decisions:incidents '*' n det-2 i 1 j "$DET_INC" > /dev/null # names det-1
rcli XADD rampart:decisions:incidents '*' i 1 j "$DET_INC" > /dev/null        # no node
rcli XADD rampart:decisions:incidents '*' n "$(printf 'x%.0s' $(seq 1 65))" i 1 j '{}' > /dev/null
python3 -c 'print("{\"a\":\"" + "x" * 70000 + "\"}")' > "$TMP/huge.json"
rcli -x XADD rampart:decisions:incidents '*' n det-1 i 2 j < "$TMP/huge.json" > /dev/null
check "an edge skips and counts the five bad incidents" sh -c "
  for _ in \$(seq 1 100); do
    n=\$(curl -s '$EB/metrics' | grep -E '^rampart_cluster_incidents_refused_total' | awk '{print \$2}')
    [ \$((n - $m0)) -ge 5 ] && exit 0; sleep 0.05; done; exit 1"
check "  and still lists one incident for the scanner" \
  test "$(curl -s "$EB/v1/incidents?key=ip:$SCANNER&group=incident" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')" = 1
# Events whose host field is too long, not UTF-8, or missing: analysed,
# their host unknown, counted.
printf '%s - - [25/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 10 "-" "curl/8"\n' 192.0.2.7 > "$TMP/one.log"
h0=$(curl -s "$DET/metrics" | grep -E '^rampart_cluster_host_names_refused_total' | awk '{print $2}')
e0=$(curl -s "$DET/v1/stats" | grep -o '"engine":{"events":[0-9]*' | grep -o '[0-9]*$')
"$RAMPART" send --socket "$TMP/eb.sock" --now "$TMP/one.log" # a real record to copy
for _ in $(seq 1 100); do [ "$(rcli XLEN rampart:events)" -ge 21 ] && break; sleep 0.05; done
python3 - "$PORT" <<'EOF'
import socket, sys
port = int(sys.argv[1])
def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
def read_reply(f):
    line = f.readline()
    t, rest = line[:1], line[1:-2]
    if t in (b"+", b"-", b":"): return rest
    if t == b"$":
        n = int(rest)
        if n < 0: return None
        data = f.read(n + 2)[:-2]
        return data
    if t == b"*":
        n = int(rest)
        return [read_reply(f) for _ in range(max(n, 0))]
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
s.sendall(cmd("XREVRANGE", "rampart:events", "+", "-", "COUNT", "1"))
entry = read_reply(f)[0]
fields = entry[1]
events = fields[fields.index(b"e") + 1]
for host in (b"x" * 65, b"edge-\xff", None, b"bad name"):
    args = ["XADD", "rampart:events", "*"] + (["h", host] if host is not None else []) + ["e", events]
    s.sendall(cmd(*args))
    read_reply(f)
EOF
ADMIN=$DET
check "the detector analyses the four events anyway" wait_engine_events $((e0 + 5))
check "  and counts four host names refused" sh -c "
  for _ in \$(seq 1 100); do
    n=\$(curl -s '$DET/metrics' | grep -E '^rampart_cluster_host_names_refused_total' | awk '{print \$2}')
    [ \$((n - $h0)) -ge 4 ] && exit 0; sleep 0.05; done; exit 1"

echo "5. check-config and a bad node name"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n  node: "edge a/1"\n' "$PORT" > "$TMP/bad.yaml"
if "$RAMPART" check-config "$TMP/bad.yaml" > "$TMP/out" 2>&1; then fail "check-config accepted a bad node name"; fi
check "check-config refuses it, naming the rule" grep -q "node must be 1..64 characters" "$TMP/out"
printf 'cluster:\n  redis: 127.0.0.1:%s\n  role: edge\n  node: %s\n' "$PORT" "$(printf 'n%.0s' $(seq 1 65))" > "$TMP/bad.yaml"
if "$RAMPART" check-config "$TMP/bad.yaml" > /dev/null 2>&1; then fail "check-config accepted a 65-byte node name"; fi
echo "  ok: and a 65-byte one"

m=$(curl -s "$DET/metrics")
grep -E '^rampart_cluster_(incidents_|hosts )' <<<"$m" | sed 's/^/    det-1 /'
check "the detector published its incidents" grep -Eq '^rampart_cluster_incidents_published_total [1-9]' <<<"$m"
echo "6. the detector stopped cleanly publishes its incidents' final versions"
stop_serve "$DET_PID"
final() { curl -s "$EB/v1/incidents?key=ip:$SCANNER&group=incident&action=block" | python3 -c '
import json, sys
i = json.load(sys.stdin)["incidents"][0]
print(i["requests"], len(i["samples"]), ",".join(sorted(set(s["host"] for s in i["samples"]))))'; }
for _ in $(seq 1 100); do [ "$(final | cut -d" " -f1)" = 200 ] && break; sleep 0.05; done
check "edge B's copy is updated in place: 200 requests, 5 samples from both edges ($(final))" \
  test "$(final)" = "200 5 edge-a,edge-b"
stop_serve "$EA_PID"; stop_serve "$EB_PID"
check "no daemon logged an error" no_error_lines $TMP/ea.log $TMP/eb.log $TMP/det.log
stop_redis
echo "cluster_view: ok"
