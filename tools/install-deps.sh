#!/usr/bin/env bash
# Install the Debian packages named on the command line that are missing.
# As root it runs apt-get; otherwise it says what to install and fails.
set -euo pipefail
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "rampart: missing Debian packages: ${missing[*]}" >&2
  echo "rampart: run as root, or: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "rampart: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || true
apt-get install -y -qq "${missing[@]}" >/dev/null
