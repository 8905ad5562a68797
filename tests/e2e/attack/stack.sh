# The attack stack, shared by tests/e2e/attack_tools.sh and examples/demo-live.sh
# (sourced, bash): the demo API, `rampart serve`, a real nginx with the Rampart
# module in front of the API, and one network namespace per actor.
#
# Why namespaces: every tool on loopback would be 127.0.0.1, so the first
# block would block everyone. Each actor (attack tool or legitimate client)
# gets its own namespace with a veth pair on a private /30
# (10.201.N.0/30: host side .1, actor side .2); nginx listens on 0.0.0.0, so
# an actor reaches it at 10.201.N.1 and nginx sees it as 10.201.N.2. Nothing
# is routed anywhere else: only loopback and these veths exist.
#
# Why the access log: the tools' own output does not say which answer came
# from Rampart. nginx logs $upstream_addr, which is "-" when nginx answered
# by itself, so a 403/429 without an upstream is Rampart's (the demo API's
# own 401/403/404 carry its address). Counting an actor's lines before its
# first such answer gives "requests before the block"; $msec gives the time.
#
# STACK_NGINX_MAIN adds lines to nginx's main context (e.g. to debug a crash:
# "working_directory DIR; worker_rlimit_core 1G;").
#
# The caller sets ROOT and STACK (a private directory), calls stack_start,
# and calls stack_stop from its EXIT trap: every PID and namespace created
# here is recorded and removed there, by PID and by name, never by pattern.

STACK_PIDS=""
STACK_NS=""
STACK_VETH=""
NGINX_PID=""
# Spread concurrent runs over different 10.201.x.0 blocks.
STACK_NET_BASE=$(( ($$ % 12) * 20 ))

stack_log() { printf '%s\n' "$*" >&2; }

stack_stop() {
  local p n
  [ -n "$NGINX_PID" ] && kill -TERM "$NGINX_PID" 2>/dev/null
  for p in $STACK_PIDS; do kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in $STACK_PIDS; do kill -KILL "$p" 2>/dev/null || true; done
  [ -n "$NGINX_PID" ] && kill -KILL "$NGINX_PID" 2>/dev/null
  for n in $STACK_VETH; do ip link del "$n" 2>/dev/null || true; done
  for n in $STACK_NS; do ip netns del "$n" 2>/dev/null || true; done
  STACK_PIDS=""; STACK_NS=""; STACK_VETH=""; NGINX_PID=""
}

# actor_ns NAME N: a namespace rp-PID-NAME whose only link is a veth to the
# host; sets ACTOR_IP_<NAME> (the actor's address as nginx sees it) and
# ACTOR_URL_<NAME> (nginx's address as the actor reaches it).
actor_ns() {
  local name=$1 n=$(( STACK_NET_BASE + $2 ))
  local ns="rp-$$-$name" host="rph$$x$2" peer="rpp$$x$2"
  ip netns add "$ns" || return 1
  STACK_NS="$STACK_NS $ns"
  ip link add "$host" type veth peer name "$peer" || return 1
  STACK_VETH="$STACK_VETH $host"
  ip link set "$peer" netns "$ns"
  ip addr add "10.201.$n.1/30" dev "$host"
  ip link set "$host" up
  ip netns exec "$ns" ip addr add "10.201.$n.2/30" dev "$peer"
  ip netns exec "$ns" ip link set "$peer" up
  ip netns exec "$ns" ip link set lo up
  printf -v "ACTOR_IP_$name" '%s' "10.201.$n.2"
  printf -v "ACTOR_URL_$name" '%s' "http://10.201.$n.1:$NGINX_PORT"
}
# in_ns NAME CMD...: run a command as actor NAME.
in_ns() { local name=$1; shift; ip netns exec "rp-$$-$name" "$@"; }

stack_config() { # the Rampart configuration: the API's inventory, auth routes
  cat > "$STACK/rampart.yaml" <<YAML
# Rampart for the attack tests and the live demo: the demo API's OpenAPI
# document is the declared inventory (it also marks POST /login and
# POST /api/login as auth routes). Everything else is the default profile.
inventory:
  openapi: $ROOT/examples/openapi.yaml
YAML
}

stack_start_api() {
  rm -f "$STACK/api.ready"
  "$ROOT/build/demo-api" --listen 127.0.0.1:0 --ready-file "$STACK/api.ready" \
    > "$STACK/api.log" 2>&1 &
  STACK_PIDS="$STACK_PIDS $!"
  local i
  for i in $(seq 1 100); do [ -s "$STACK/api.ready" ] && break; sleep 0.05; done
  API_URL=$(grep -o 'http://[0-9.:]*' "$STACK/api.ready" | head -1)
  [ -n "$API_URL" ] || { cat "$STACK/api.log" >&2; return 1; }
  API_HOSTPORT=${API_URL#http://}
}

stack_start_serve() {
  head -c 24 /dev/urandom | base64 | tr -d '\n/+=' > "$STACK/token"
  rm -f "$STACK/serve.ready"
  "$ROOT/build/rampart" serve --config "$STACK/rampart.yaml" --socket "$STACK/events.sock" \
    --table "$STACK/decisions.tbl" --store "$STACK/rampart.db" --admin 127.0.0.1:0 \
    --token-file "$STACK/token" --ready-file "$STACK/serve.ready" 2>> "$STACK/serve.log" &
  SERVE_PID=$!
  STACK_PIDS="$STACK_PIDS $SERVE_PID"
  local i
  for i in $(seq 1 100); do [ -s "$STACK/serve.ready" ] && break; sleep 0.05; done
  ADMIN=$(grep -o 'http://[^"]*' "$STACK/serve.ready" 2>/dev/null)
  [ -n "$ADMIN" ] || { cat "$STACK/serve.log" >&2; return 1; }
}

stack_nginx_conf() { # PORT
  local user_line=""
  [ "$(id -u)" -eq 0 ] && user_line="user root;"
  mkdir -p "$STACK/ng/logs" "$STACK/ng/tmp"
  cat > "$STACK/ng/nginx.conf" <<CONF
$user_line
worker_processes 1;
${STACK_NGINX_MAIN:-}
pid $STACK/ng/nginx.pid;
error_log $STACK/ng/logs/error.log notice;
load_module $MODULE;
events { worker_connections 4096; }
http {
  # "-" upstream on a 403/429 = answered by Rampart, not by the API.
  log_format rp '\$remote_addr \$msec \$status \$upstream_addr \$body_bytes_sent "\$request" "\$http_user_agent"';
  access_log $STACK/access.log rp;
  client_body_temp_path $STACK/ng/tmp/body;
  proxy_temp_path $STACK/ng/tmp/proxy;
  fastcgi_temp_path $STACK/ng/tmp/fastcgi;
  uwsgi_temp_path $STACK/ng/tmp/uwsgi;
  scgi_temp_path $STACK/ng/tmp/scgi;
  client_body_buffer_size 16k;
  # slowhttptest holds connections open: do not let it keep them forever.
  client_header_timeout 10s;
  client_body_timeout 10s;
  rampart_table $STACK/decisions.tbl;
  rampart_socket $STACK/events.sock;
  upstream api { server $API_HOSTPORT; keepalive 32; }
  server {
    listen 0.0.0.0:$1;
    rampart on;
    # The actors' networks are a trusted proxy: a request carrying
    # X-Forwarded-For (the swarm test) is judged by the address in it.
    set_real_ip_from 10.201.0.0/16;
    real_ip_header X-Forwarded-For;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host \$host;
    location / { proxy_pass http://api; }
    location = /login { rampart_username_field username; proxy_pass http://api; }
    location = /api/login { rampart_username_field username; proxy_pass http://api; }
  }
}
CONF
}

stack_start_nginx() {
  local try i
  for try in 1 2 3 4 5; do
    NGINX_PORT=$(shuf -i 20000-60000 -n 1)
    stack_nginx_conf "$NGINX_PORT"
    rm -f "$STACK/ng/nginx.pid"
    if /usr/sbin/nginx -p "$STACK/ng" -c "$STACK/ng/nginx.conf" 2>> "$STACK/ng/start.log"; then
      for i in $(seq 1 50); do [ -s "$STACK/ng/nginx.pid" ] && break; sleep 0.05; done
      NGINX_PID=$(cat "$STACK/ng/nginx.pid")
      NGINX_URL="http://127.0.0.1:$NGINX_PORT"
      for i in $(seq 1 50); do
        curl -s -o /dev/null "$NGINX_URL/health" && return 0; sleep 0.05
      done
    fi
  done
  cat "$STACK/ng/start.log" "$STACK/ng/logs/error.log" >&2
  return 1
}

# stack_start: build what is missing, then API, daemon, nginx.
stack_start() {
  mkdir -p "$STACK"
  [ -x "$ROOT/build/rampart" ] && [ -x "$ROOT/build/demo-api" ] || make -s -C "$ROOT" all >/dev/null
  MODULE=$(make -s -C "$ROOT" nginx-module | tail -1)
  [ -f "$MODULE" ] || MODULE=$ROOT/build/nginx/ngx_http_rampart_module.so
  [ -f "$MODULE" ] || { stack_log "the nginx module did not build"; return 1; }
  # A private copy: a rebuild rewrites build/nginx/*.so in place, and a
  # running nginx whose mapped module changes under it forks workers that
  # crash at once (seen: a SIGSEGV loop of 600 workers a second).
  cp "$MODULE" "$STACK/ngx_http_rampart_module.so"
  MODULE=$STACK/ngx_http_rampart_module.so
  stack_config
  stack_start_api || { stack_log "the demo API did not start"; return 1; }
  stack_start_serve || { stack_log "rampart serve did not start"; return 1; }
  stack_start_nginx || { stack_log "nginx did not start"; return 1; }
}

# --- measuring, from nginx's access log ------------------------------------
# measure ADDR -> "TOTAL BEFORE SECONDS RAMPART_ANSWERS": requests from ADDR,
# requests before its first Rampart 403/429 (-1 when never blocked),
# seconds from its first request to that answer, and how many it got.
measure() {
  awk -v a="$1" '$1 == a {
      n++; if (n == 1) t0 = $2
      if (($3 == 403 || $3 == 429) && $4 == "-") { r++; if (!hit) { hit = 1; before = n - 1; tb = $2 } }
    }
    END { if (!hit) { before = -1; tb = t0 }
          printf "%d %d %.3f %d\n", n, before, tb - t0, r }' "$STACK/access.log"
}
# rampart_answers ADDR: how many 403/429 from Rampart ADDR got.
rampart_answers() { measure "$1" | awk '{ print $4 }'; }
# wait_blocked ADDR SECONDS: until ADDR got a Rampart answer, or time is up.
wait_blocked() {
  local i
  for i in $(seq 1 $(( $2 * 10 ))); do
    [ "$(rampart_answers "$1")" -gt 0 ] && return 0; sleep 0.1
  done
  return 1
}
