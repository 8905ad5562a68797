#!/usr/bin/env bash
# The operator's dashboards (issue 13): examples/prometheus/rampart-rules.yml
# passes `promtool check rules` (Debian's prometheus package) and fires its
# block-surge and dropped-events alerts on synthetic series
# (tests/data/rampart-rules.test.yml, `promtool test rules`);
# examples/grafana/rampart.json is a Grafana 9/10 dashboard (a Prometheus
# data source variable, panels with targets, unique ids); and every metric
# either of them queries -- and every label value they select on -- is in
# the /metrics of a running `rampart serve`: a standalone one with a webhook,
# and a fleet detector on a real redis-server for the rampart_cluster_*
# metrics. Recording rules (names with ':') must be recorded by the rules.
source "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || bash "$ROOT/tools/install-deps.sh" prometheus
command -v promtool >/dev/null || fail "promtool is required (Debian package prometheus)"
command -v python3 >/dev/null || fail "python3 is required"
RULES=$ROOT/examples/prometheus/rampart-rules.yml
DASH=$ROOT/examples/grafana/rampart.json

check "promtool check rules $(basename "$RULES")" promtool check rules "$RULES"
check "promtool test rules: the surge of blocks and the dropped events fire, the look-alikes do not" \
  promtool test rules "$ROOT/tests/data/rampart-rules.test.yml"

# --- the metrics of running daemons ------------------------------------------
make_token
cat > "$TMP/a.yaml" <<YAML
alerts:
  webhooks:
    - name: down
      url: http://127.0.0.1:9/hook
YAML
start_serve a --config "$TMP/a.yaml"
curl -s "$ADMIN/metrics" > "$TMP/metrics.txt"
stop_serve "$SERVE_PID"
start_redis
cat > "$TMP/f.yaml" <<YAML
cluster:
  redis: 127.0.0.1:$REDIS_PORT
  role: detector
YAML
start_serve f --config "$TMP/f.yaml"
curl -s "$ADMIN/metrics" >> "$TMP/metrics.txt"
stop_serve "$SERVE_PID"
check "the scrapes hold rampart_ metrics ($(grep -c '^rampart_' "$TMP/metrics.txt") samples)" \
  test "$(grep -c '^rampart_' "$TMP/metrics.txt")" -gt 100

python3 - "$DASH" "$RULES" "$TMP/metrics.txt" <<'PY' || fail "dashboard or rules checks failed"
import json, re, sys
dash_path, rules_path, metrics_path = sys.argv[1:4]
errors = []
def ok(what, cond):
    print(("  ok: " if cond else "  FAIL: ") + what)
    if not cond: errors.append(what)

# The scrape: metric name -> list of label dicts; TYPE per name.
samples, types = {}, {}
for line in open(metrics_path):
    line = line.rstrip("\n")
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m: types[m.group(1)] = m.group(2); continue
    if not line or line.startswith("#"): continue
    m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ', line)
    if not m: continue
    labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
    samples.setdefault(m.group(1), []).append(labels)
def exists(name):
    if name in samples: return True
    for suffix in ("_bucket", "_sum", "_count"):  # a histogram's or a summary's series
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"): return True
    return False

# The dashboard.
d = json.load(open(dash_path))
ok("dashboard: schemaVersion %s is Grafana 9/10's (36..39)" % d.get("schemaVersion"), 36 <= d.get("schemaVersion", 0) <= 39)
ok("dashboard: a title and a uid", bool(d.get("title")) and bool(d.get("uid")))
tvars = {v["name"]: v for v in d.get("templating", {}).get("list", [])}
dsvar = [v for v in tvars.values() if v.get("type") == "datasource" and v.get("query") == "prometheus"]
ok("dashboard: a Prometheus data source variable", len(dsvar) == 1)
dsname = dsvar[0]["name"] if dsvar else "?"
panels = []
for p in d.get("panels", []):
    panels.append(p); panels.extend(p.get("panels", []))
ids = [p.get("id") for p in panels]
ok("dashboard: %d panels, unique ids" % len(panels), len(ids) == len(set(ids)) and None not in ids)
data = [p for p in panels if p.get("type") != "row"]
ok("dashboard: every panel has a gridPos", all({"h", "w", "x", "y"} <= set(p.get("gridPos", {})) for p in panels))
ok("dashboard: every data panel has targets with an expr",
   all(p.get("targets") and all(t.get("expr", "").strip() for t in p["targets"]) for p in data))
ok("dashboard: every data panel and target reads the data source variable ${%s}" % dsname,
   all(p.get("datasource", {}).get("uid") == "${%s}" % dsname and
       all(t.get("datasource", {}).get("uid") == "${%s}" % dsname for t in p["targets"]) for p in data))
titles = " | ".join(p["title"] for p in data)
for want in ["Events / s", "Requests refused by action and detector", "Decisions by detector", "Engine lag",
             "Dropped events", "Decision table fill", "Store and table errors", "Webhook deliveries and failures",
             "Fleet events"]:
    ok("dashboard: a panel '%s'" % want, want in titles)
exprs = [("dashboard: " + p["title"], t["expr"]) for p in data for t in p["targets"]]
exprs += [("variable " + v["name"], v.get("definition", "")) for v in tvars.values() if v.get("type") == "query"]

# The rules: expressions, and the names recording rules define.
text = open(rules_path).read()
recorded = set(re.findall(r"^\s*-?\s*record:\s*(\S+)", text, re.M))
alerts = re.findall(r"^\s*-?\s*alert:\s*(\S+)", text, re.M)
for want in ["RampartEngineLagging", "RampartEventsDropped", "RampartDecisionTableFull",
             "RampartDecisionTableNearlyFull", "RampartStoreErrors", "RampartBlockSurge", "RampartWebhookFailing"]:
    ok("rules: alert %s" % want, want in alerts)
# each rule's expr: a one-line value or a | block
for m in re.finditer(r"^(\s*)expr:\s*(\|?)(.*)$", text, re.M):
    if m.group(2) != "|":
        exprs.append(("rules", m.group(3))); continue
    indent, body = None, []
    for line in text[m.end() + 1:].split("\n"):
        if not line.strip(): break
        ind = len(line) - len(line.lstrip())
        if indent is None: indent = ind
        if ind < indent: break
        body.append(line.strip())
    exprs.append(("rules", " ".join(body)))
ok("rules: %d expressions read" % sum(1 for w, _ in exprs if w == "rules"), sum(1 for w, _ in exprs if w == "rules") >= 12)

# Every metric queried exists; every label selected on has that value.
PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "rate", "increase", "by", "on", "and", "or", "unless",
                "without", "offset", "avg_over_time", "label_values", "instance", "job", "bool", "ignoring"}
seen = set()
for where, e in exprs:
    e = re.sub(r'"(?:[^"\\]|\\.)*"', lambda m: m.group(0), e)
    for m in re.finditer(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{([^}]*)\})?', e):
        name, sel = m.group(1), m.group(3)
        if ":" in name:
            ok("%s: %s is a recording rule of the rules file" % (where, name), name in recorded); continue
        if not name.startswith("rampart_"): continue
        key = (name, sel)
        if key in seen: continue
        seen.add(key)
        if not exists(name):
            ok("%s: %s is in /metrics" % (where, name), False); continue
        for lab, op, val in re.findall(r'(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"', sel or ""):
            if "$" in val or op.startswith("!"): continue
            values = {s.get(lab) for s in samples[name]}
            for v in (val.split("|") if op == "=~" else [val]):
                if v in (".*", ".+"): continue
                ok("%s: %s{%s=\"%s\"} is in /metrics" % (where, name, lab, v), v in values)
names = sorted({n for n, _ in seen})
print("  ok: %d metric names queried, each in /metrics: %s" % (len(names), " ".join(names)) if not errors else "")
sys.exit(1 if errors else 0)
PY
echo "metrics_dashboards: all checks passed"
