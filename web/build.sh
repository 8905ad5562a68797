#!/usr/bin/env bash
# Build the dashboard's static site into web/dist/: the sources of web/src/
# and uPlot's prebuilt files (from npm, pinned in package-lock.json). No
# bundler: the pages are plain ES modules loaded from the same origin, so
# the "build" is a clean copy that `rampart serve` embeds and serves at /ui/.
# It works offline once node_modules/ exists (npm ci runs only when it is
# missing).
set -euo pipefail
WEB=$(cd "$(dirname "$0")" && pwd)
cd "$WEB"
if [ ! -f node_modules/uplot/dist/uPlot.iife.min.js ]; then
  command -v npm >/dev/null || { echo "web/build.sh: npm is required (Debian: apt-get install npm)" >&2; exit 1; }
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >&2
fi
rm -rf dist.tmp
mkdir -p dist.tmp/vendor
cp src/*.html src/*.css src/*.js dist.tmp/
cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css dist.tmp/vendor/
cp node_modules/uplot/LICENSE dist.tmp/vendor/uPlot.LICENSE
# The site must be self-contained: no absolute or external URL in it.
if grep -nE '(src|href)="(https?:)?//|url\((https?:)?//' dist.tmp/*.html dist.tmp/*.css; then
  echo "web/build.sh: external URL in the dashboard sources" >&2; exit 1
fi
# Replace only what changed, so make's embed step (which depends on the
# files of web/dist) does not relink the daemon after every build.
mkdir -p dist/vendor
(cd dist.tmp && find . -type f) | while read -r f; do
  cmp -s "dist.tmp/$f" "dist/$f" || cp "dist.tmp/$f" "dist/$f"
done
(cd dist && find . -type f) | while read -r f; do
  [ -f "dist.tmp/$f" ] || rm -f "dist/$f"
done
rm -rf dist.tmp
echo "web/build.sh: web/dist/ ($(ls dist dist/vendor | grep -c '\.') files)" >&2
