#!/usr/bin/env bash
# Build ngx_http_rampart_module.so against the installed Debian nginx.
#
#   bash nginx/build.sh [BUILD_DIR]     (make nginx-module calls it)
#
# Debian's nginx-dev ships nginx's configure tree and the exact configure
# flags of the packaged binary (/usr/share/nginx/src/conf_flags); a
# dynamic module configured with the same flags (--with-compat among them)
# has the binary's module signature and loads with load_module. The tree
# is copied into BUILD_DIR/nginx/src so that nothing is written under /usr.
# Configure runs once (again when NGX_CC_OPT/NGX_LD_OPT change); later builds
# only run `make modules`. NGX_CC_OPT and NGX_LD_OPT go to --with-cc-opt and
# --with-ld-opt: the Debian package passes dpkg-buildflags' hardening flags,
# as Debian's own libnginx-mod-* builds do.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SRC=/usr/share/nginx/src
OUT=$BUILD/nginx
[ -f "$SRC/conf_flags" ] || {
  echo "rampart: nginx-dev is not installed (apt-get install -y nginx nginx-dev)" >&2; exit 1; }
mkdir -p "$OUT"
OPTS="cc:${NGX_CC_OPT:-} ld:${NGX_LD_OPT:-}"
if [ ! -f "$OUT/src/objs/Makefile" ] || [ "$ROOT/nginx/config" -nt "$OUT/src/objs/Makefile" ] ||
   [ "$(cat "$OUT/configure.opts" 2>/dev/null || echo "cc: ld:")" != "$OPTS" ]; then
  rm -rf "$OUT/src"
  cp -r "$SRC" "$OUT/src"
  # shellcheck disable=SC1091
  source "$SRC/conf_flags"
  (cd "$OUT/src" && ./configure "${NGX_CONF_FLAGS[@]}" ${NGX_CC_OPT:+"--with-cc-opt=$NGX_CC_OPT"} \
     ${NGX_LD_OPT:+"--with-ld-opt=$NGX_LD_OPT"} --add-dynamic-module="$ROOT/nginx" \
     > "$OUT/configure.log" 2>&1) || { tail -30 "$OUT/configure.log" >&2; exit 1; }
  echo "$OPTS" > "$OUT/configure.opts"
fi
make -s -C "$OUT/src" -f objs/Makefile modules > "$OUT/make.log" 2>&1 || { cat "$OUT/make.log" >&2; exit 1; }
# Replace by rename, never in place: a running nginx maps the old file, and
# writing into a mapped shared object crashes it.
cp "$OUT/src/objs/ngx_http_rampart_module.so" "$OUT/ngx_http_rampart_module.so.tmp"
mv -f "$OUT/ngx_http_rampart_module.so.tmp" "$OUT/ngx_http_rampart_module.so"
echo "$OUT/ngx_http_rampart_module.so"
