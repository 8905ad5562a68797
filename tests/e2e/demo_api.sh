#!/usr/bin/env bash
# The demo API (examples/demo-api) answers as docs/demo-api.md says: every
# route's status and key fields, the two login failure conventions (401 on
# /api/login, the same 5389-byte 200 page on /login), 401/403/404 on other
# users' objects, safe search, 404 JSON for the rest; it survives a burst
# of half-open connections and stops on SIGTERM.
source "$(dirname "$0")/lib.sh"
DEMO=${DEMO:-$ROOT/build/demo-api}
[ -x "$DEMO" ] || fail "$DEMO not built (make build/demo-api)"

"$DEMO" --listen 127.0.0.1:0 --seed 1 --ready-file "$TMP/demo.url" > "$TMP/demo.out" 2> "$TMP/demo.err" &
PID=$!
trap 'kill -KILL $PID 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 1 100); do [ -s "$TMP/demo.url" ] && break; sleep 0.05; done
[ -s "$TMP/demo.url" ] || { cat "$TMP/demo.err"; fail "demo-api not ready after 5 s"; }
U=$(cat "$TMP/demo.url")
check "stdout says where it listens" grep -qx "listening on $U" "$TMP/demo.out"

# st METHOD PATH [curl args]: "STATUS SIZE"; the body is left in $TMP/body
st() {
  local m=$1 p=$2; shift 2
  curl -s -o "$TMP/body" -w '%{http_code} %{size_download}' -X "$m" "$U$p" "$@"
}
is() { # is WHAT EXPECTED ACTUAL
  [ "$2" = "$3" ] && echo "  ok: $1" || fail "$1: expected '$2', got '$3'"
}
has() { grep -q -- "$1" "$TMP/body"; }

echo "pages and static files"
is "home page, 24817 bytes" "200 24817" "$(st GET /)"
is "health, 15 bytes" "200 15" "$(st GET /health)"
check "health body" has '^{"status":"ok"}$'
is "robots.txt" "200 187" "$(st GET /robots.txt)"
is "sitemap.xml" "200 96514" "$(st GET /sitemap.xml)"
is "app.js" "200 184523" "$(st GET /static/app.js)"
is "app.css" "200 48211" "$(st GET /static/app.css)"
is "favicon" "200 15086" "$(st GET /favicon.ico)"
etag=$(curl -sI "$U/static/app.js" | tr -d '\r' | awk 'tolower($1) == "etag:" { print $2 }')
is "app.js revalidated: 304" "304 0" "$(st GET /static/app.js -H "If-None-Match: $etag")"
is "HTML listing, last page" "200" "$(st GET '/products?page=250' | cut -d' ' -f1)"
is "HTML listing past the last page" "404" "$(st GET '/products?page=251' | cut -d' ' -f1)"
is "HTML product page" "200" "$(st GET /products/1 | cut -d' ' -f1)"

echo "catalogue"
is "product listing" "200" "$(st GET '/api/products?page=2&limit=50' | cut -d' ' -f1)"
check "listing reports page, limit, total" has '"page":2,"limit":50,"total":'
check "listing has 50 items" test "$(grep -o '"id":' "$TMP/body" | wc -l)" -eq 50
big=$(st GET '/api/products?limit=100000' | cut -d' ' -f2)
check "limit=100000 is not refused: a huge answer ($big bytes)" test "$big" -gt 1500000
is "updated_since filters" "200" "$(st GET '/api/products?updated_since=2026-11-30T00:00:00Z' | cut -d' ' -f1)"
check "few products changed since Nov 30" test "$(grep -o '"total":[0-9]*' "$TMP/body" | cut -d: -f2)" -lt 400
is "bad updated_since: 400" "400 58" "$(st GET '/api/products?updated_since=yesterday')"
one=$(st GET /api/products/1)
check "product 1" has '"id":1,"name":"'
is "product 1 has the same size every time" "$one" "$(st GET /api/products/1)"
is "absent product: 404 JSON" "404 33" "$(st GET /api/products/5001)"
check "404 body is JSON" has '"error":"not_found"'
is "non-numeric id: 400" "400 58" "$(st GET /api/products/1%27%20or%201=1)"
is "search" "200" "$(st GET '/api/search?q=kettle' | cut -d' ' -f1)"
check "search finds kettles" has '"name":"[A-Za-z]* [A-Za-z]* Kettle'
is "SQL-looking search is just text: 200" "200" "$(st GET "/api/search?q=%27%20OR%20%271%27=%271" | cut -d' ' -f1)"
check "SQL-looking search matches nothing" has '"items":\[\],.*"total":0'
is "empty search: 400" "400 58" "$(st GET '/api/search?q=')"
is "missing q: 400" "400 58" "$(st GET /api/search)"
is "NUL in the query: 400" "400 58" "$(st GET "/api/search?q=a%00b")"
is "control characters: 400" "400 58" "$(st GET "/api/search?q=a%01b")"
is "not UTF-8: 400" "400 58" "$(st GET '/api/search?q=%ff%fe')"

echo "logins"
is "JSON login, user42" "200" "$(st POST /api/login -H 'Content-Type: application/json' -d '{"username":"user42","password":"pass-42"}' | cut -d' ' -f1)"
TOKEN=$(grep -o '"token":"tok-42-[0-9a-f]*"' "$TMP/body" | cut -d'"' -f4)
check "token is tok-42-..." test -n "$TOKEN"
is "JSON login, admin/admin123" "200" "$(st POST /api/login -d '{"username":"admin","password":"admin123"}' | cut -d' ' -f1)"
is "JSON login, alice/wonderland" "200" "$(st POST /api/login -d '{"username":"alice","password":"wonderland"}' | cut -d' ' -f1)"
is "JSON login, wrong password: 401, 61 bytes" "401 61" "$(st POST /api/login -d '{"username":"user42","password":"pass-43"}')"
check "401 says invalid_credentials" has '"error":"invalid_credentials"'
is "JSON login, unknown user: 401" "401 61" "$(st POST /api/login -d '{"username":"user0042","password":"pass-42"}')"
is "JSON login, not JSON: 400" "400" "$(st POST /api/login -d 'username=a' | cut -d' ' -f1)"
is "login form, 5312 bytes" "200 5312" "$(st GET /login)"
is "form login success: 302" "302" "$(st POST /login -d 'username=user9&password=pass-9' | cut -d' ' -f1)"
check "302 goes to /" grep -qi '^location: /\s*$' <(curl -s -D - -o /dev/null -d 'username=user9&password=pass-9' "$U/login")
check "302 sets the session cookie" grep -qi '^set-cookie: sid=tok-9-' <(curl -s -D - -o /dev/null -d 'username=user9&password=pass-9' "$U/login")
is "form login, percent-encoded success" "302" "$(st POST /login --data-urlencode 'username=alice' --data-urlencode 'password=wonderland' | cut -d' ' -f1)"
is "form login failure: 200, 5389 bytes" "200 5389" "$(st POST /login -d 'username=user9&password=nope')"
cp "$TMP/body" "$TMP/fail1"
is "another failure: the same 5389 bytes" "200 5389" "$(st POST /login -d 'username=nobody&password=x')"
check "failure pages are identical" cmp -s "$TMP/fail1" "$TMP/body"
is "empty form: the same failure page" "200 5389" "$(st POST /login)"

echo "objects have owners"
AUTH=(-H "Authorization: Bearer $TOKEN")
is "user without a token: 401" "401 61" "$(st GET /api/users/42)"
is "user with a made-up token: 401" "401 61" "$(st GET /api/users/42 -H 'Authorization: Bearer tok-42-0000000000000000')"
is "own user: 200" "200" "$(st GET /api/users/42 "${AUTH[@]}" | cut -d' ' -f1)"
check "own profile" has '"id":42,"username":"user42"'
is "own user by cookie: 200" "200" "$(st GET /api/users/42 -b "sid=$TOKEN" | cut -d' ' -f1)"
is "someone else's user: 403" "403 47" "$(st GET /api/users/43 "${AUTH[@]}")"
is "absent user: 404" "404 33" "$(st GET /api/users/50001 "${AUTH[@]}")"
is "non-numeric user id: 400" "400 58" "$(st GET /api/users/abc "${AUTH[@]}")"
is "own orders: 200" "200" "$(st GET /api/users/42/orders "${AUTH[@]}" | cut -d' ' -f1)"
check "8 orders, all user 42's" test "$(grep -o '"user_id":42' "$TMP/body" | wc -l)" -eq 8
is "someone else's orders: 403" "403 47" "$(st GET /api/users/41/orders "${AUTH[@]}")"
is "own order (42 owns 329..336): 200" "200" "$(st GET /api/orders/329 "${AUTH[@]}" | cut -d' ' -f1)"
is "someone else's order: 403" "403 47" "$(st GET /api/orders/337 "${AUTH[@]}")"
is "absent order: 404" "404 33" "$(st GET /api/orders/400001 "${AUTH[@]}")"
is "order without a token: 401" "401 61" "$(st GET /api/orders/329)"
is "partner polls orders" "200" "$(st GET '/api/orders?updated_since=2026-11-20T00:00:00Z' -H 'Authorization: Bearer pk_live_demo_partner1' | cut -d' ' -f1)"
check "partner gets 100 orders" test "$(grep -o '"user_id":' "$TMP/body" | wc -l)" -eq 100
# Unix seconds as a partner's sync sends them (10 digits; tests/e2e/attack/legit.sh)
is "partner polls orders since unix seconds" "200" "$(st GET '/api/orders?updated_since=1764547200' -H 'Authorization: Bearer pk_live_demo_partner1' | cut -d' ' -f1)"
PARTNER=(-H 'Authorization: Bearer pk_live_demo_partner1')
is "partner reads any order: 200" "200" "$(st GET /api/orders/337 "${PARTNER[@]}" | cut -d' ' -f1)"
is "partner reads no profile: 403" "403 47" "$(st GET /api/users/42 "${PARTNER[@]}")"
is "order listing without a key: 401" "401 61" "$(st GET /api/orders)"
is "new order: 201" "201" "$(st POST /api/orders "${AUTH[@]}" -d '{"items":[{"product_id":3,"quantity":1}]}' | cut -d' ' -f1)"
head -c 20000 /dev/zero | tr '\0' x > "$TMP/big"
is "order body too large: 413" "413" "$(st POST /api/orders "${AUTH[@]}" --data-binary @"$TMP/big" | cut -d' ' -f1)"
is "put cart" "200" "$(st PUT /api/cart "${AUTH[@]}" -d '{"items":[{"product_id":3,"quantity":2}]}' | cut -d' ' -f1)"
st GET /api/cart "${AUTH[@]}" > /dev/null
check "the cart is kept per session" has '"product_id":3,.*"quantity":2'
is "cart with a bad product: 400" "400" "$(st PUT /api/cart "${AUTH[@]}" -d '{"items":[{"product_id":999999,"quantity":1}]}' | cut -d' ' -f1)"

echo "everything else"
is "unknown route: 404 JSON" "404 33" "$(st GET /.env)"
check "404 body is JSON" has '^{"error":"not_found","code":404}$'
is "undeclared API route: 404" "404 33" "$(st GET /api/v1/admin/users)"
is "the forgotten debug endpoint leaks: 200" "200" "$(st GET /api/debug/vars | cut -d' ' -f1)"
is "wrong method: 405" "405" "$(st DELETE /api/products/1 | cut -d' ' -f1)"
is "GET on the JSON login: 405" "405" "$(st GET /api/login | cut -d' ' -f1)"
is "HEAD on a product: 200" "200 0" "$(curl -s -o /dev/null -w '%{http_code} %{size_download}' -I "$U/api/products/1")"

echo "robustness"
# 300 half-open connections that never finish their headers (slowloris):
# the connection limit and timeout leave room for real clients.
exec 3< <(python3 - "${U#http://}" <<'EOF'
import socket, sys, time
host, port = sys.argv[1].split(":")
socks = []
for _ in range(300):
    s = socket.create_connection((host, int(port)))
    s.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-a: ")
    socks.append(s)
print("open", flush=True)
time.sleep(3)
EOF
)
read -r -u 3 line
is "300 slow connections opened" "open" "$line"
is "health still answers beside them" "200 15" "$(st GET /health --max-time 2)"
exec 3<&-
requests=$(curl -s "$U/api/debug/vars" | grep -o '"requests":[0-9]*' | cut -d: -f2)
check "requests were counted ($requests)" test "$requests" -gt 50

kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.05; done
check "stops on SIGTERM" bash -c "! kill -0 $PID 2>/dev/null"
wait "$PID" && rc=0 || rc=$?
is "exit status 0" "0" "$rc"
