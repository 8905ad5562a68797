#!/usr/bin/env bash
# make-deb.sh [OUT_DIR] -- build the Debian packages (`make deb`).
#
# dpkg-buildpackage writes its results to the parent of the tree it builds,
# so the tree is copied to OUT_DIR/rampart-VERSION first (the working tree as
# it is, without build directories, .git or node_modules; web/dist, the built
# dashboard, is kept: the binary embeds it). Results: OUT_DIR/*.deb.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-build-deb}
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac
version=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version)
# the package's version is the binary's (include/rampart.h)
upstream=$(sed -n 's/^#define RP_VERSION "\(.*\)"/\1/p' "$ROOT/include/rampart.h")
[ "${version%%-*}" = "$upstream" ] || {
  echo "make deb: debian/changelog says $version, include/rampart.h RP_VERSION $upstream" >&2; exit 1; }
[ -d "$ROOT/web/dist" ] || echo "make deb: warning: no web/dist (make ui): the dashboard is left out" >&2
src=$OUT/rampart-$version
mkdir -p "$OUT"
rm -rf "$src"
rm -f "$OUT"/*.deb "$OUT"/*.ddeb "$OUT"/*.buildinfo "$OUT"/*.changes
mkdir -p "$src"
tar -C "$ROOT" --exclude=./.git --exclude='./build*' --exclude=node_modules --exclude=./debian/build \
  --exclude='./debian/.debhelper' -cf - . | tar -C "$src" -xf -
start=$(date +%s)
if ! (cd "$src" && DEB_BUILD_OPTIONS="parallel=${DEB_JOBS:-2} noautodbgsym ${DEB_BUILD_OPTIONS:-}" \
      dpkg-buildpackage -b -us -uc) > "$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log" >&2
  echo "make deb: dpkg-buildpackage failed (whole log: $OUT/build.log)" >&2
  exit 1
fi
warnings=$(grep -Ec ':[0-9]+:[0-9]+: warning: ' "$OUT/build.log" || true)
echo "make deb: built in $(( $(date +%s) - start )) s, $warnings compiler warnings (see $OUT/build.log):"
ls -1 "$OUT"/*.deb
