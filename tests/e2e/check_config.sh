#!/usr/bin/env bash
# rampart check-config: the documented example is valid; every mistake of a
# bad file is reported as file:line:col with exit 1.
source "$(dirname "$0")/lib.sh"
out=$("$RAMPART" check-config "$ROOT/examples/rampart.yaml")
check "examples/rampart.yaml is valid" test "$out" = "$ROOT/examples/rampart.yaml: ok"
cat > "$TMP/bad.yaml" <<'YAML'
engine:
  clients:
    ip: -5
profiles:
  default:
    tolerance: extreme
    detectors:
      rates: { weight: 10 }
      auth: { weight: high }
routes:
  - { match: "POST /login", profile: nosuch }
allow:
  cidrs: [10.0.0.0/99]
YAML
set +e; "$RAMPART" check-config "$TMP/bad.yaml" > "$TMP/out" 2>&1; rc=$?; set -e
cat "$TMP/out"
check "exit 1 on a bad file" test "$rc" -eq 1
check "negative capacity located" grep -q "bad.yaml:3:" "$TMP/out"
check "bad tolerance located" grep -q "bad.yaml:6:" "$TMP/out"
check "unknown detector located with a suggestion" grep -q "bad.yaml:8:.*rates" "$TMP/out"
check "bad weight located" grep -q "bad.yaml:9:" "$TMP/out"
check "unknown profile located" grep -q "bad.yaml:11:" "$TMP/out"
check "bad CIDR located" grep -q "bad.yaml:13:" "$TMP/out"
check "every error reported (6 or more)" test "$(grep -c 'bad.yaml:[0-9]*:[0-9]*:' "$TMP/out")" -ge 6
set +e; "$RAMPART" check-config "$TMP/missing.yaml" > "$TMP/out2" 2>&1; rc=$?; set -e
check "missing file: exit 1 with the reason" test "$rc" -eq 1
check "missing file named" grep -q "missing.yaml: No such file" "$TMP/out2"
