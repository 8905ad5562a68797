#!/usr/bin/env bash
# Legitimate clients for the attack tests and the live demo:
#
#   legit.sh human   BASE_URL STOP_FILE OUT_FILE [USER_N]
#   legit.sh partner BASE_URL STOP_FILE OUT_FILE
#
# A human browses like the single page application does (shell, static
# files, listings, products, a search, a login with the right password) with
# think times of 0.5-2.5 s; a partner polls GET /api/orders?updated_since=T
# every 3 s with its API key and a fixed user agent -- a welcome bot. Each
# runs until STOP_FILE exists and writes one "STATUS PATH" line per request
# to OUT_FILE. They are run inside their own network namespace, so their
# address is theirs alone.
set -u
mode=$1 base=$2 stop=$3 out=$4 user=${5:-7}
: > "$out"

get() { # get PATH [curl args]
  local p=$1; shift
  local c
  c=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$@" "$base$p")
  echo "$c $p" >> "$out"
}

human() {
  local ua='Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0'
  local h=(-A "$ua" -H 'Accept-Language: en-GB,en;q=0.8' -H 'Accept-Encoding: gzip, deflate'
           -H 'Accept: text/html,application/json;q=0.9,*/*;q=0.8')
  local words=(lamp chair desk mug kettle shoes jacket) i=0 tok=""
  get / "${h[@]}"
  # The old form login first (302 on success): people use it too.
  get /login "${h[@]}" -e "$base/"
  get /login "${h[@]}" -e "$base/login" -d "username=user$user&password=pass-$user"
  get /static/app.js "${h[@]}" -e "$base/"
  get /static/app.css "${h[@]}" -e "$base/"
  while [ ! -e "$stop" ]; do
    i=$((i + 1))
    case $((i % 6)) in
      0) get "/api/products?page=$((1 + RANDOM % 20))&limit=20" "${h[@]}" -e "$base/" ;;
      1) get "/api/products/$((1 + RANDOM % 5000))" "${h[@]}" -e "$base/" ;;
      2) get "/api/search?q=${words[RANDOM % ${#words[@]}]}" "${h[@]}" -e "$base/" ;;
      3) if [ -z "$tok" ]; then
           tok=$(curl -s -m 5 "${h[@]}" -H 'Content-Type: application/json' \
                 -d "{\"username\":\"user$user\",\"password\":\"pass-$user\"}" "$base/api/login" |
                 grep -o '"token":"[^"]*"' | cut -d'"' -f4)
           echo "$([ -n "$tok" ] && echo 200 || echo 000) /api/login" >> "$out"
         else
           get "/api/users/$user/orders" "${h[@]}" -H "Authorization: Bearer $tok"
         fi ;;
      4) get "/products/$((1 + RANDOM % 5000))" "${h[@]}" -e "$base/products" ;;
      5) get "/api/cart" "${h[@]}" ${tok:+-H "Authorization: Bearer $tok"} ;;
    esac
    sleep "$((RANDOM % 3)).$((5 + RANDOM % 5))"
  done
}

partner() {
  local t=1764547200
  while [ ! -e "$stop" ]; do
    get "/api/orders?updated_since=$t" -A 'AcmeSync/2.1 (+https://partner.example/bot)' \
      -H 'Authorization: Bearer pk_live_demo_partner1' -H 'Accept: application/json'
    t=$((t + 600))
    sleep 3
  done
}

case $mode in
  human) human ;;
  partner) partner ;;
  *) echo "usage: legit.sh human|partner BASE_URL STOP_FILE OUT_FILE" >&2; exit 2 ;;
esac
