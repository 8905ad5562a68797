#!/usr/bin/env bash
# Rampart against real attack tools, end to end: the demo API behind a real
# nginx with the Rampart module, `rampart serve` deciding, and each tool run
# from its own network namespace, so it has its own client address (see
# tests/e2e/attack/stack.sh). While the tools run, one after the other, a
# human-like client and a partner bot polling every 3 s keep using the API
# and must never get an answer from Rampart.
#
# Measured per tool from nginx's access log (a 403/429 without an upstream
# is Rampart's): requests before its first Rampart answer and the time from
# its first request to it; the table is printed at the end. Asserted
# (DESIGN.md section 5): gobuster and dirb blocked within their first 100
# requests; credential stuffing at >= 5 attempts/s (ffuf on the JSON login,
# hydra on the form login) blocked within 10 s; a valid pair found after
# failures reported as account takeover; wfuzz walking order ids blocked;
# sqlmap on the search route blocked; a wrk flood blocked within 1 s;
# nginx serving through slowhttptest. Every tool is bounded by its own
# limits and `timeout`; the test takes about 1.5 minutes on 2 cores. Needs
# root (namespaces, apt-get for missing tools).
#
# ATTACKS="gobuster wrk" runs only some of: gobuster dirb ffuf hydra ato
# enum sqlmap wrk slowhttptest. KEEP_TMP=1 keeps the files (access log,
# daemon log and store, each tool's output).
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" -eq 0 ] || fail "needs root (network namespaces)"
bash "$ROOT/tools/install-deps.sh" hydra ffuf gobuster dirb wfuzz sqlmap wrk slowhttptest \
  nginx nginx-dev iproute2 curl || fail "cannot install the attack tools"
source "$ROOT/tests/e2e/attack/stack.sh"
STACK=$TMP/stack
ATTACKS=${ATTACKS:-"gobuster dirb ffuf hydra ato swarm rotate enum sqlmap wrk slowhttptest"}
LEGIT_PIDS=""
FAILED=""

cleanup() {
  touch "$STACK/stop" 2>/dev/null
  local p
  for p in $LEGIT_PIDS $CLEANUP_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  stack_stop
  if [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

soft_fail() { echo "FAIL: $*" >&2; FAILED="$FAILED
  $*"; }
expect() { # expect DESCRIPTION COMMAND...: like check, but the run goes on
  local what=$1; shift
  if "$@"; then echo "  ok: $what"; else soft_fail "$what"; fi
}
wants() { case " $ATTACKS " in *" $1 "*) return 0 ;; esac; return 1; }

stack_start || fail "the stack did not start"
echo "stack: nginx $NGINX_URL (module), API $API_URL, admin $ADMIN"
n=0
for a in human partner gobuster dirb ffuf hydra ato swarm rotate enum sqlmap wrk slow; do
  n=$((n + 1)); actor_ns "$a" "$n" || fail "cannot create namespace for $a"
done
check "an actor reaches nginx from its namespace" \
  test "$(in_ns human curl -s -m 3 -o /dev/null -w '%{http_code}' "$ACTOR_URL_human/health")" = 200
wait_logged() { # the access log line of the health check above
  for _ in $(seq 1 20); do grep -q "^$ACTOR_IP_human " "$STACK/access.log" && return 0; sleep 0.05; done; return 1; }
check "nginx sees the actor's own address ($ACTOR_IP_human)" wait_logged

# --- legitimate clients, all the time -------------------------------------
in_ns human bash "$ROOT/tests/e2e/attack/legit.sh" human "$ACTOR_URL_human" "$STACK/stop" "$STACK/human.out" &
LEGIT_PIDS="$LEGIT_PIDS $!"
in_ns partner bash "$ROOT/tests/e2e/attack/legit.sh" partner "$ACTOR_URL_partner" "$STACK/stop" "$STACK/partner.out" &
LEGIT_PIDS="$LEGIT_PIDS $!"

RESULTS=$STACK/results
printf '%-13s %9s %15s %12s %9s\n' tool requests before-block time-to-block rampart > "$RESULTS"
record() { # record TOOL ADDR -> prints and keeps the figures; sets M_*
  read -r M_TOTAL M_BEFORE M_SECS M_ANSWERS < <(measure "$2")
  if [ "$M_BEFORE" -ge 0 ]; then
    printf '%-13s %9s %15s %11ss %9s\n' "$1" "$M_TOTAL" "$M_BEFORE" "$M_SECS" "$M_ANSWERS"
  else
    printf '%-13s %9s %15s %12s %9s\n' "$1" "$M_TOTAL" never - "$M_ANSWERS"
  fi | tee -a "$RESULTS"
}
blocked_within_requests() { [ "$M_BEFORE" -ge 0 ] && [ "$M_BEFORE" -lt "$1" ]; }
blocked_within_seconds() { [ "$M_BEFORE" -ge 0 ] && awk -v s="$M_SECS" -v m="$1" 'BEGIN { exit !(s <= m) }'; }
block_evidence() { # block_evidence ADDR: the first line of the incident behind its decision
  local a
  for a in block throttle monitor; do
    curl -s "$ADMIN/v1/incidents?key=ip:$1&action=$a&order=asc&limit=1" |
      grep -o '"summary":"[^"]*"' | head -1 | cut -d'"' -f4 | sed "s/^/$a: /" | grep . && return 0
  done
  echo "(no incident)"
}

# --- content discovery: gobuster with dirb's common wordlist ----------------
if wants gobuster; then
  echo "gobuster dir, /usr/share/dirb/wordlists/common.txt, 4 threads:"
  in_ns gobuster timeout 60 gobuster dir -q -z -t 4 --timeout 5s -w /usr/share/dirb/wordlists/common.txt \
    -u "$ACTOR_URL_gobuster" > "$STACK/gobuster.out" 2>&1 || true
  record gobuster "$ACTOR_IP_gobuster"
  expect "gobuster blocked within its first 100 requests (after $M_BEFORE)" blocked_within_requests 100
  echo "  evidence: $(block_evidence "$ACTOR_IP_gobuster")"
fi

if wants dirb; then
  echo "dirb, /usr/share/dirb/wordlists/common.txt (one request at a time):"
  in_ns dirb timeout 60 dirb "$ACTOR_URL_dirb/" /usr/share/dirb/wordlists/common.txt -S -r \
    > "$STACK/dirb.out" 2>&1 || true
  record dirb "$ACTOR_IP_dirb"
  expect "dirb blocked within its first 100 requests (after $M_BEFORE)" blocked_within_requests 100
  echo "  evidence: $(block_evidence "$ACTOR_IP_dirb")"
fi

# --- credential stuffing --------------------------------------------------
# tests/data/wordlists/credential-pairs.txt: 82 leaked-looking pairs; the
# 12th (alice/wonderland) and the 72nd (admin/admin123) are valid.
# At >= 5 attempts/s with their own user agents, ffuf and hydra are stopped
# at about their 10th failure (auth's max_failures_60s), before the 12th
# pair: no takeover. A stuffer that hides its tool (a browser's user agent
# and headers, irregular pauses) stays below throttle at 10 failures; its login with the
# 12th pair after 11 failures must then be reported as account takeover.
PAIRS=$ROOT/tests/data/wordlists/credential-pairs.txt
cut -d: -f1 "$PAIRS" > "$STACK/users.txt"
cut -d: -f2- "$PAIRS" > "$STACK/passwords.txt"
ato_reported() { # ato_reported ADDR: an account_takeover incident names it
  local i
  for i in $(seq 1 30); do
    curl -s "$ADMIN/v1/incidents?threat=account_takeover&key=ip:$1" | grep -q "\"ip:$1\"" && return 0
    sleep 0.2
  done
  return 1
}
logins_ok() { # logins_ok ADDR 'PATTERN': successful logins of ADDR that reached the API
  grep "^$1 " "$STACK/access.log" | grep -c "$2" || true
}
ffuf_login() { # ffuf_login ACTOR DELAY [ffuf args]: pitchfork over the pairs
  local a=$1 d=$2; shift 2
  local url=ACTOR_URL_$a
  in_ns "$a" timeout 60 ffuf -s -mode pitchfork -t 1 -p "$d" -mc 200 "$@" \
    -w "$STACK/users.txt:USER" -w "$STACK/passwords.txt:PASS" -X POST \
    -H 'Content-Type: application/json' -d '{"username":"USER","password":"PASS"}' \
    -u "${!url}/api/login" > "$STACK/$a.out" 2>&1 || true
}
if wants ffuf; then
  echo "ffuf pitchfork, JSON login (401 on failure), 1 thread, 0.2 s apart (5 attempts/s):"
  ffuf_login ffuf 0.2
  record ffuf-stuffing "$ACTOR_IP_ffuf"
  expect "ffuf stuffing blocked within 10 s (${M_SECS}s, after $M_BEFORE requests)" blocked_within_seconds 10
  found=$(logins_ok "$ACTOR_IP_ffuf" ' 200 .*"POST /api/login')
  echo "  valid logins that reached the API: $found; evidence: $(block_evidence "$ACTOR_IP_ffuf")"
  [ "$found" -eq 0 ] ||
    expect "ffuf's login after failures reported as account takeover" ato_reported "$ACTOR_IP_ffuf"
  expect "ffuf never reached admin/admin123 (72nd pair)" test "$M_BEFORE" -ge 0 -a "$M_BEFORE" -lt 71
fi

if wants hydra; then
  echo "hydra http-post-form, form login (200 + error page on failure), 2 tasks:"
  host=${ACTOR_URL_hydra#http://}; host=${host%:*}
  # (in $STACK: hydra leaves ./hydra.restore behind when it is interrupted)
  (cd "$STACK" && in_ns hydra timeout 60 hydra -I -C "$PAIRS" -t 2 -s "$NGINX_PORT" "$host" \
     http-post-form "/login:username=^USER^&password=^PASS^:F=Invalid username or password" \
     > "$STACK/hydra.out" 2>&1) || true
  record hydra "$ACTOR_IP_hydra"
  expect "hydra stuffing blocked within 10 s (${M_SECS}s, after $M_BEFORE requests)" blocked_within_seconds 10
  found=$(logins_ok "$ACTOR_IP_hydra" ' 302 .*"POST /login')
  echo "  valid logins that reached the API: $found; evidence: $(block_evidence "$ACTOR_IP_hydra")"
  [ "$found" -eq 0 ] ||
    expect "hydra's login after failures reported as account takeover" ato_reported "$ACTOR_IP_hydra"
fi

if wants ato; then
  echo "ffuf pitchfork, JSON login, browser user agent and headers, 0.1-0.3 s apart (a disguised stuffer):"
  ffuf_login ato 0.1-0.3 -H 'User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' \
    -H 'Accept-Language: en-US,en;q=0.9' -H 'Accept-Encoding: gzip, deflate, br'
  record ffuf-ato "$ACTOR_IP_ato"
  expect "disguised stuffing blocked within 10 s (${M_SECS}s, after $M_BEFORE requests)" blocked_within_seconds 10
  found=$(logins_ok "$ACTOR_IP_ato" ' 200 .*"POST /api/login')
  echo "  valid logins that reached the API: $found; evidence: $(block_evidence "$ACTOR_IP_ato")"
  expect "the disguised stuffer found the 12th pair after 11 failures" test "$found" -ge 1
  expect "its login after failures reported as account takeover" ato_reported "$ACTOR_IP_ato"
fi

# --- object-id enumeration (BOLA): wfuzz walks other people's orders -------
# swarm_answers NAME ADDRESS-REGEX: the requests of the swarm's addresses in
# order ($STACK/NAME.seq: time, answered by Rampart or not); prints "total
# seconds-to-first-answer share-answered-in-the-last-15-s".
swarm_answers() {
  awk -v re="$2" '$1 ~ re { r = (($3 == 403 || $3 == 429) && $4 == "-"); print $2, r }' \
    "$STACK/access.log" > "$STACK/$1.seq"
  awk 'NR == 1 { t0 = $1 } { t[NR] = $1; r[NR] = $2 }
    $2 == 1 && first == "" { first = $1 - t0 }
    END { n = NR; k = 0; b = 0
          for (i = n; i > 0 && t[i] >= t[n] - 15; i--) { k++; b += r[i] }
          printf "%d %s %.2f\n", n, first == "" ? "never" : sprintf("%.1f", first), k ? b / k : 0 }' "$STACK/$1.seq"
}

# judge_swarm NAME WHAT TOTAL FIRST TAIL-SHARE: its results row; answered
# within 60 s, and at least 90 % of its last 15 s of attempts stopped.
judge_swarm() {
  printf '%-13s %9s %15s %11ss %9s\n' "$1" "$3" "-" "$4" "$(awk '{ s += $2 } END { print s + 0 }' "$STACK/$1.seq")" >> "$RESULTS"
  expect "$2 is answered by Rampart within 60 s ($4 s)" \
    awk -v f="$4" 'BEGIN { exit !(f != "never" && f + 0 <= 60) }'
  expect "by the end, $2 is stopped ($5 of its last 15 s of attempts)" \
    awk -v s="$5" 'BEGIN { exit !(s >= 0.9) }'
}

# --- a slow swarm: one attempt per address every 8 s, 40 addresses in two /24s
# behind a trusted proxy (X-Forwarded-For), one tool fingerprint. No address ever
# crosses a per-address threshold; the swarm as a whole must be stopped within 60 s.
if wants swarm; then
  echo "ffuf pitchfork, JSON login, 5 attempts/s rotating over 40 addresses (X-Forwarded-For):"
  : > "$STACK/swarm_users.txt"; : > "$STACK/swarm_pass.txt"; : > "$STACK/swarm_xff.txt"
  for i in $(seq 0 299); do
    echo "user$((2000 + i))" >> "$STACK/swarm_users.txt"
    echo "wrong-$i" >> "$STACK/swarm_pass.txt"
    k=$((i % 40)); echo "$([ $k -lt 20 ] && echo 203.0.113 || echo 198.51.100).$((k % 20 + 10))" >> "$STACK/swarm_xff.txt"
  done
  in_ns swarm timeout 75 ffuf -s -mode pitchfork -t 1 -p 0.2 -mc 200 \
    -w "$STACK/swarm_users.txt:USER" -w "$STACK/swarm_pass.txt:PASS" -w "$STACK/swarm_xff.txt:XFF" \
    -X POST -H 'Content-Type: application/json' -H 'X-Forwarded-For: XFF' \
    -d '{"username":"USER","password":"PASS"}' -u "$ACTOR_URL_swarm/api/login" > "$STACK/swarm.out" 2>&1 || true
  read -r S_TOTAL S_FIRST S_TAIL_SHARE < <(swarm_answers swarm '^(203\.0\.113|198\.51\.100)\.')
  echo "  $S_TOTAL attempts from 40 addresses; first Rampart answer after ${S_FIRST} s; share of attempts stopped in the last 15 s: $S_TAIL_SHARE"
  judge_swarm swarm "the swarm" "$S_TOTAL" "$S_FIRST" "$S_TAIL_SHARE"
  expect "the swarm's incident names it as one actor" \
    bash -c "curl -s '$ADMIN/v1/incidents?detector=auth&limit=200' | grep -q 'addresses acting as one'"
fi

# --- a swarm that never reuses an address: each attempt comes from a new
# address in a new /24 (X-Forwarded-For), one tool fingerprint. No address can
# be judged; the fingerprint is decided on the login route. (One more header
# than the slow swarm's ffuf: another fingerprint, judged from scratch.)
if wants rotate; then
  echo "ffuf pitchfork, JSON login, 5 attempts/s, every attempt from a new address in a new /24:"
  : > "$STACK/rot_users.txt"; : > "$STACK/rot_pass.txt"; : > "$STACK/rot_xff.txt"
  for i in $(seq 0 299); do
    echo "user$((5000 + i))" >> "$STACK/rot_users.txt"
    echo "guess-$i" >> "$STACK/rot_pass.txt"
    echo "100.$((64 + i / 250)).$((i % 250)).$((i % 7 + 20))" >> "$STACK/rot_xff.txt"
  done
  in_ns rotate timeout 75 ffuf -s -mode pitchfork -t 1 -p 0.2 -mc 200 \
    -w "$STACK/rot_users.txt:USER" -w "$STACK/rot_pass.txt:PASS" -w "$STACK/rot_xff.txt:XFF" \
    -X POST -H 'Content-Type: application/json' -H 'X-Forwarded-For: XFF' -H 'Accept-Language: en-US' \
    -d '{"username":"USER","password":"PASS"}' -u "$ACTOR_URL_rotate/api/login" > "$STACK/rotate.out" 2>&1 || true
  read -r R_TOTAL R_FIRST R_TAIL_SHARE < <(swarm_answers rotate '^100\.(64|65)\.')
  echo "  $R_TOTAL attempts, each from a new address; first Rampart answer after ${R_FIRST} s; share stopped in the last 15 s: $R_TAIL_SHARE"
  judge_swarm rotate "the rotating swarm" "$R_TOTAL" "$R_FIRST" "$R_TAIL_SHARE"
  expect "the decision names the fingerprint on the login route" \
    bash -c "curl -s '$ADMIN/v1/decisions' | grep -q '\"fingerprint:[0-9a-f]*@[0-9a-f]*\"'"
fi

if wants enum; then
  tok=$(in_ns enum curl -s -m 5 -H 'Content-Type: application/json' \
        -d '{"username":"user5","password":"pass-5"}' "$ACTOR_URL_enum/api/login" |
        grep -o '"token":"[^"]*"' | cut -d'"' -f4)
  [ -n "$tok" ] || soft_fail "enum: could not log in as user5"
  echo "wfuzz, /api/orders/1000-1400 with user5's session, 2 threads, 0.05 s apart:"
  in_ns enum timeout 60 wfuzz -c -z range,1000-1400 -t 2 -s 0.05 --hc 404 \
    -H "Authorization: Bearer $tok" "$ACTOR_URL_enum/api/orders/FUZZ" > "$STACK/wfuzz.out" 2>&1 || true
  record wfuzz-enum "$ACTOR_IP_enum"
  expect "wfuzz enumeration blocked (after $M_BEFORE requests, ${M_SECS}s)" test "$M_BEFORE" -ge 0
  echo "  evidence: $(block_evidence "$ACTOR_IP_enum")"
fi

# --- sqlmap against the search route -----------------------------------------
if wants sqlmap; then
  echo "sqlmap, /api/search?q=, 2 threads:"
  in_ns sqlmap timeout 60 sqlmap -u "$ACTOR_URL_sqlmap/api/search?q=lamp" -p q --batch \
    --threads 2 --timeout 5 --retries 0 --disable-coloring --output-dir "$STACK/sqlmap" \
    > "$STACK/sqlmap.out" 2>&1 || true
  record sqlmap "$ACTOR_IP_sqlmap"
  expect "sqlmap blocked (after $M_BEFORE requests, ${M_SECS}s)" test "$M_BEFORE" -ge 0
  echo "  evidence: $(block_evidence "$ACTOR_IP_sqlmap")"
fi

# --- wrk flood -----------------------------------------------------------------
if wants wrk; then
  echo "wrk, 1 thread, 16 connections, 4 s, /api/products?page=1:"
  in_ns wrk timeout 30 wrk -t1 -c16 -d4s "$ACTOR_URL_wrk/api/products?page=1" > "$STACK/wrk.out" 2>&1 || true
  record wrk-flood "$ACTOR_IP_wrk"
  expect "wrk flood blocked within 1 s (${M_SECS}s, after $M_BEFORE requests)" blocked_within_seconds 1
  echo "  evidence: $(block_evidence "$ACTOR_IP_wrk")"
fi

# --- slowhttptest: slow headers; nginx must stay up, legit traffic flows ------
if wants slowhttptest; then
  echo "slowhttptest, slowloris, 300 connections, 15 s:"
  h_before=$(wc -l < "$STACK/human.out"); p_before=$(wc -l < "$STACK/partner.out")
  in_ns slow timeout 40 slowhttptest -H -c 300 -i 5 -r 100 -l 15 -p 3 -x 24 \
    -u "$ACTOR_URL_slow/" > "$STACK/slowhttptest.out" 2>&1 &
  SLOW=$!
  sleep 5
  probe=$(in_ns human curl -s -m 3 -o /dev/null -w '%{http_code}' "$ACTOR_URL_human/health")
  wait "$SLOW" || true
  record slowhttptest "$ACTOR_IP_slow"
  expect "nginx answers a legitimate client during slowhttptest ($probe)" test "$probe" = 200
  expect "nginx still runs after slowhttptest" kill -0 "$NGINX_PID"
  expect "legit requests kept flowing during slowhttptest" \
    test "$(wc -l < "$STACK/human.out")" -gt "$h_before" -a "$(wc -l < "$STACK/partner.out")" -gt "$p_before"
fi

# --- the legitimate clients' verdict ----------------------------------------
touch "$STACK/stop"
for p in $LEGIT_PIDS; do wait "$p" 2>/dev/null || true; done
LEGIT_PIDS=""
for a in human partner; do
  ip_var=ACTOR_IP_$a
  read -r total before _ answers < <(measure "${!ip_var}")
  ok=$(awk '$1 !~ /^(403|429|000)$/' "$STACK/$a.out" | wc -l)
  printf '%-13s %9s %15s %12s %9s\n' "$a" "$total" "-" "-" "$answers" >> "$RESULTS"
  expect "$a: $total requests, none answered by Rampart ($answers)" test "$answers" -eq 0
  expect "$a: made requests throughout ($total)" test "$total" -ge 1
  expect "$a: every request answered without 403/429/timeout ($ok of $(wc -l < "$STACK/$a.out"))" \
    test "$ok" -eq "$(wc -l < "$STACK/$a.out")"
done
check "no nginx worker died" test "$(grep -c 'exited on signal' "$STACK/ng/logs/error.log")" = 0

echo
cat "$RESULTS"
[ -z "$FAILED" ] || fail "attack_tools: failed:$FAILED"
echo "attack_tools: all checks passed"
