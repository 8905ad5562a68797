#!/usr/bin/env bash
# A real public access log (../shared/data/real, see its README): every
# well-formed line is parsed, and its crawlers and feed readers -- welcome
# bots -- are not throttled or blocked under the default settings.
source "$(dirname "$0")/lib.sh"

LOG=$SHARED/data/real/elastic-apache_logs.log
[ -f "$LOG" ] || fail "missing $LOG (CI has ../shared beside the checkout)"

"$RAMPART" analyze --format json "$LOG" > "$TMP/incidents.jsonl" 2> "$TMP/summary"
cat "$TMP/summary"
check "10,000 lines read" grep -Eq 'lines read +10,000$' "$TMP/summary"
check "10,000 events" grep -Eq 'events +10,000$' "$TMP/summary"
check "no line skipped" grep -Eq 'lines skipped +0$' "$TMP/summary"

# IP -> user agent of the welcome bots (crawlers, feed readers, monitors)
awk -F'"' '{ split($1, a, " "); print a[1] "\t" $6 }' "$LOG" |
  grep -Ei $'\t.*(googlebot|bingbot|yandex|baiduspider|duckduck|slurp|applebot|feed|rss|crawler|spider)' |
  cut -f1 | sort -u > "$TMP/good_bots"
check "the log has welcome bots to protect" test "$(wc -l < "$TMP/good_bots")" -gt 20

incident_actions "$TMP/incidents.jsonl" | sed 's/^ip://' | awk '$2 == "throttle" || $2 == "block" { print $1 }' |
  sort -u > "$TMP/stopped"
comm -12 "$TMP/good_bots" "$TMP/stopped" > "$TMP/bad"
if [ -s "$TMP/bad" ]; then
  echo "welcome bots throttled or blocked:"; cat "$TMP/bad"
  grep -F -f "$TMP/bad" "$TMP/incidents.jsonl" | head -5
  fail "crawlers or feed readers stopped"
fi
echo "  ok: none of $(wc -l < "$TMP/good_bots") crawler/feed-reader IPs stopped ($(wc -l < "$TMP/stopped") clients stopped in all)"
