#!/usr/bin/env bash
# The live demo: real attack tools against a small shop API behind nginx
# with the Rampart module, `rampart serve` deciding, and a live line for
# every decision it makes.
#
#   examples/demo-live.sh [--duration SECONDS] [--keep | --no-keep]
#
# What runs (all on this machine; see docs/demo.md):
#   - build/demo-api (the shop), nginx with ngx_http_rampart_module in front
#     of it, and rampart serve with the shop's OpenAPI document -- on free
#     ports of 127.0.0.1 (nginx also on the actors' veth addresses);
#   - every actor in its own network namespace, so each has its own client
#     address (tests/e2e/attack/stack.sh): two people browsing, a partner
#     polling orders every 3 s with its API key -- the whole time -- and on
#     a schedule scaled to the duration: gobuster (content discovery), hydra
#     (credential stuffing on the form login), a wget crawler (scraping the
#     catalogue), wfuzz (walking other people's order ids) and wrk (a flood).
#
# It prints one line per decision (key, action, whose it is, the evidence),
# then a table per actor: requests, and after how many requests and seconds
# Rampart first answered it. Run from a terminal, it then keeps the stack up
# (shop, nginx, rampart serve, dashboard) so the dashboard can be explored,
# until Ctrl-C; run without a terminal (CI, a pipe) it stops at the end.
# --keep / --no-keep choose either way. Ctrl-C at any time stops everything
# it started, by PID, and removes its namespaces.
#
# Needs root: network namespaces, and apt-get for missing tools.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=180
KEEP=auto
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=${2:?--duration needs seconds}; shift 2 ;;
    --duration=*) DURATION=${1#*=}; shift ;;
    --keep) KEEP=1; shift ;;
    --no-keep) KEEP=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo-live: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
case $DURATION in ''|*[!0-9]*) echo "demo-live: --duration takes whole seconds" >&2; exit 2 ;; esac
if [ "$KEEP" = auto ]; then
  if [ -t 0 ] && [ -t 1 ]; then KEEP=1; else KEEP=0; fi
fi
# DEMO_MIN_DURATION: tests/e2e/demo_live.sh runs it shorter (what it checks is
# the start and the end, not the detections the attack schedule needs 60 s for).
MIN_DURATION=${DEMO_MIN_DURATION:-60}
[ "$DURATION" -ge "$MIN_DURATION" ] || { echo "demo-live: --duration must be at least $MIN_DURATION s" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "demo-live: run as root (network namespaces give each actor its own address)" >&2; exit 1; }

echo "== Installing what is missing, building"
bash "$ROOT/tools/install-deps.sh" hydra gobuster dirb wfuzz wrk wget nginx nginx-dev iproute2 curl \
  libmicrohttpd-dev
make -s -C "$ROOT" all >/dev/null

STACK=$(mktemp -d /tmp/rampart-demo.XXXXXX)
source "$ROOT/tests/e2e/attack/stack.sh"
ATTACK_PIDS=""
finish() {
  trap - EXIT INT TERM HUP
  touch "$STACK/stop"
  local p
  for p in $ATTACK_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  stack_stop
  echo "demo-live: stopped everything (the dashboard too); files kept in $STACK"
}
trap finish EXIT
trap 'echo; echo "demo-live: interrupted"; exit 130' INT TERM HUP

stack_start || exit 1
cd "$STACK"   # the tools' leftovers (hydra.restore...) land here, not in the tree
ACTORS="alice bob partner gobuster hydra scraper wfuzz wrk"
n=0
for a in $ACTORS; do n=$((n + 1)); actor_ns "$a" "$n"; done
actor_of() { # actor_of KEY -> the actor an ip: key belongs to, else the key's level
  local a v
  case $1 in ip:*) ;; *) echo "${1%%:*} key"; return ;; esac
  for a in $ACTORS; do v=ACTOR_IP_$a; [ "${!v}" = "${1#ip:}" ] && { echo "$a"; return; }; done
  echo "?"
}

cat <<EOF

== Running for ${DURATION}s
   shop (through nginx + Rampart): $NGINX_URL/
   dashboard:                      $ADMIN/ui/
   admin API:                      $ADMIN/v1/decisions, $ADMIN/v1/incidents
   admin token (dashboard changes): $STACK/token
   afterwards:                     $([ "$KEEP" = 1 ] && echo "the stack stays up until Ctrl-C" || echo "everything stops (--keep to explore the dashboard afterwards)")
   each actor has its own address: $(for a in $ACTORS; do v=ACTOR_IP_$a; printf '%s=%s ' "$a" "${!v}"; done)

EOF

# --- the actors ------------------------------------------------------------
LEGIT=$ROOT/tests/e2e/attack/legit.sh
in_ns alice bash "$LEGIT" human "$ACTOR_URL_alice" "$STACK/stop" "$STACK/alice.out" 11 & ATTACK_PIDS="$ATTACK_PIDS $!"
in_ns bob bash "$LEGIT" human "$ACTOR_URL_bob" "$STACK/stop" "$STACK/bob.out" 23 & ATTACK_PIDS="$ATTACK_PIDS $!"
in_ns partner bash "$LEGIT" partner "$ACTOR_URL_partner" "$STACK/stop" "$STACK/partner.out" & ATTACK_PIDS="$ATTACK_PIDS $!"

launch() { # launch ACTOR SECONDS CMD...: run CMD as ACTOR for at most SECONDS
  local a=$1 t=$2; shift 2
  printf '[%4ss] %-8s starts: %s\n' "$(elapsed)" "$a" "$*" | cut -c1-150
  in_ns "$a" timeout "$t" "$@" > "$STACK/$a.out" 2>&1 &
  ATTACK_PIDS="$ATTACK_PIDS $!"
}
attack() { # the schedule, as shares of the duration
  local host
  case $1 in
    gobuster) launch gobuster 40 gobuster dir -q -z -t 4 --timeout 5s \
                -w /usr/share/dirb/wordlists/common.txt -u "$ACTOR_URL_gobuster" ;;
    hydra) host=${ACTOR_URL_hydra#http://}; host=${host%:*}
           launch hydra 60 hydra -I -C "$ROOT/tests/data/wordlists/credential-pairs.txt" -t 2 \
             -s "$NGINX_PORT" "$host" http-post-form \
             "/login:username=^USER^&password=^PASS^:F=Invalid username or password" ;;
    scraper) launch scraper 60 wget -r -l 0 -nd --delete-after -e robots=off --wait 0.05 -q \
               -U 'Mozilla/5.0 (compatible; PriceWatch/2.3; +https://pricewatch.example)' \
               -P "$STACK/wget" "$ACTOR_URL_scraper/products?page=1" ;;
    wfuzz) local tok
           tok=$(in_ns wfuzz curl -s -m 5 -H 'Content-Type: application/json' \
                 -d '{"username":"user5","password":"pass-5"}' "$ACTOR_URL_wfuzz/api/login" |
                 grep -o '"token":"[^"]*"' | cut -d'"' -f4)
           launch wfuzz 40 wfuzz -z range,1000-1600 -t 2 -s 0.05 --hc 404 \
             -H "Authorization: Bearer $tok" "$ACTOR_URL_wfuzz/api/orders/FUZZ" ;;
    wrk) launch wrk 15 wrk -t1 -c16 -d5s "$ACTOR_URL_wrk/api/products?page=1" ;;
  esac
}
SCHEDULE="10:gobuster 25:hydra 40:scraper 55:wfuzz 70:wrk"   # percent of the duration

# --- the live view ------------------------------------------------------------
START=$(date +%s)
elapsed() { echo $(( $(date +%s) - START )); }
evidence() { # the one line behind a key's decision: its newest incident's
  # first finding (the detector that weighed most), else the key's live one
  local s
  s=$(curl -s "$ADMIN/v1/incidents?key=$1&limit=1" | grep -o '"summary":"[^"]*"' | head -1 | cut -d'"' -f4)
  [ -n "$s" ] || s=$(curl -s "$ADMIN/v1/clients/$1" | grep -o '"summary":"[^"]*"' | head -1 | cut -d'"' -f4)
  echo "${s:-(no finding)}"
}
declare -A SEEN
poll_decisions() {
  local line key action
  while read -r line; do
    key=$(echo "$line" | cut -d'"' -f4); action=$(echo "$line" | cut -d'"' -f12)
    [ "${SEEN[$key]:-}" = "$action" ] && continue
    SEEN[$key]=$action
    printf '[%4ss] %-8s %-20s %-9s %s\n' "$(elapsed)" "$(echo "$action" | tr a-z A-Z)" "$key" \
      "($(actor_of "$key"))" "$(evidence "$key")"
  done < <(curl -s "$ADMIN/v1/decisions" | grep -o '{"key":"[^"]*","level":"[^"]*","action":"[^"]*"')
}

declare -A STARTED
while [ "$(elapsed)" -lt "$DURATION" ]; do
  for step in $SCHEDULE; do
    pct=${step%%:*}; what=${step#*:}
    if [ -z "${STARTED[$what]:-}" ] && [ "$(elapsed)" -ge $(( DURATION * pct / 100 )) ]; then
      STARTED[$what]=1; attack "$what"
    fi
  done
  poll_decisions
  sleep 1
done
touch "$STACK/stop"
sleep 1
poll_decisions

# --- the summary ----------------------------------------------------------------
echo
echo "== Per actor (from nginx's access log; 'Rampart' = 403/429 answered by the module)"
printf '%-9s %-7s %9s %9s %22s %s\n' actor kind requests Rampart "first answer after" verdict
for a in $ACTORS; do
  v=ACTOR_IP_$a
  read -r total before secs answers < <(measure "${!v}")
  case $a in alice|bob|partner) kind=legit ;; *) kind=attack ;; esac
  if [ "$before" -lt 0 ]; then after="-"; else after="$before req / ${secs}s"; fi
  if [ "$kind" = legit ]; then verdict=$([ "$answers" -eq 0 ] && echo "served throughout" || echo "WRONGLY ANSWERED BY RAMPART")
  elif [ "$total" -eq 0 ]; then verdict="did not run"
  else verdict=$([ "$before" -ge 0 ] && echo "stopped" || echo "not stopped"); fi
  printf '%-9s %-7s %9s %9s %22s %s\n' "$a" "$kind" "$total" "$answers" "$after" "$verdict"
done
echo
echo "Incidents by action: $(curl -s "$ADMIN/v1/stats" | grep -o '"incidents":{[^}]*}' | head -1 | cut -d{ -f2 | tr -d '"}')"
if [ "$KEEP" = 1 ]; then
  echo
  echo "== The stack stays up until Ctrl-C"
  echo "   dashboard:   $ADMIN/ui/"
  echo "   admin token: $STACK/token (paste it into the dashboard's token field to block, allow or remove)"
  echo "   API:         $ADMIN/v1/decisions  $ADMIN/v1/incidents"
  while :; do sleep 5; poll_decisions; done
fi
finish
echo "The dashboard has stopped with the rest; run 'make demo' from a terminal (or"
echo "examples/demo-live.sh --keep) to explore it after the summary."
