/*
 * ingest_int.h -- private to src/ingest/: the pieces the combined and JSON
 * parsers share (line scanning, timestamps, request lines, bounded string
 * fields) and the parser handle itself, which json.c fills from.
 *
 * Nothing here is part of the contract with the other modules; ingest.h
 * is. Keeping the shared pieces in one place means both formats truncate,
 * flag and time-stamp events in exactly the same way.
 */
#ifndef RP_INGEST_INT_H
#define RP_INGEST_INT_H

#include "ingest.h"
#include "config.h"

/* The JSON parser unescapes string values here. An unescaped string is
 * never longer than its escaped form, so all of them together fit in the
 * length of the (possibly UTF-8-repaired) line. */
#define RP_JSON_SCRATCH (3 * RP_MAX_LINE + 1)

/* More trusted proxies than a config can hold are ignored. */
#define RP_MAX_TRUSTED RP_MAX_CIDRS

struct rp_log_parser {
    rp_log_format requested; /* what the caller asked for (may be AUTO) */
    rp_log_format format;    /* in force; AUTO until the first non-blank line */
    int n_proxies;
    rp_cidr *proxies; /* owned, n_proxies entries */
    char scratch[RP_JSON_SCRATCH];
    /* A JSON line with invalid UTF-8 repaired: each bad byte becomes the
     * 3-byte U+FFFD, so the copy can be three times the line. */
    char line_copy[3 * RP_MAX_LINE + 1];
};

/* Result of rp_ingest_scan. */
#define RP_SCAN_OK 0
#define RP_SCAN_BAD_UTF8 1 /* text, but some byte sequence is not UTF-8 */
#define RP_SCAN_BINARY 2   /* NUL or a control byte other than tab */

/* One pass over the line, eight bytes at a time while they are plain
 * printable ASCII (the usual case). */
int rp_ingest_scan(const char *line, size_t len);
/* Copy line to out (room for 3 * len bytes), replacing each byte of an
 * invalid UTF-8 sequence with U+FFFD (not '?', which would split a path
 * from its query); returns the new length. */
size_t rp_ingest_repair_utf8(const char *line, size_t len, char *out);

/* Reset ev to "nothing known": empty strings, unknown upstream time. */
void rp_ingest_event_reset(rp_event *ev);
/* Point *dst at [ptr, ptr+len), cut to max bytes (RP_EVENT_TRUNCATED). */
void rp_ingest_set_str(rp_event *ev, rp_str *dst, const char *ptr, size_t len, size_t max);

/* "17/May/2015:10:05:03 +0000" (optional .fraction after the seconds). */
rp_status rp_ingest_parse_clf_time(const char *s, size_t len, int64_t *ts_us);
/* "2015-05-17T10:05:03.123+02:00", "...Z", "...+0200", or no offset (UTC). */
rp_status rp_ingest_parse_iso_time(const char *s, size_t len, int64_t *ts_us);
/* "1431857103.123" seconds since the epoch. */
rp_status rp_ingest_parse_epoch(const char *s, size_t len, int64_t *ts_us);
/* Seconds with an optional fraction, as nginx writes $request_time;
 * "0.012, 0.004" and "0.012 : 0.004" (several upstreams) are summed. */
rp_status rp_ingest_parse_seconds_list(const char *s, size_t len, int64_t *us);

/* "GET /p?q HTTP/1.1" -> method, path, query. Anything that does not have
 * that shape becomes method OTHER with the raw text as the path, because
 * scanners send such things and the engine should see them. */
void rp_ingest_parse_request(rp_event *ev, const char *s, size_t len);
/* Split "/p?q" into path and query. */
void rp_ingest_set_uri(rp_event *ev, const char *s, size_t len);

/* True when s is empty or only spaces and tabs. */
bool rp_ingest_blank(const char *s, size_t len);

/* The JSON format (json.c). */
rp_status rp_parse_json(rp_log_parser *parser, const char *line, size_t len, rp_event *ev,
                        rp_skip_reason *why);

#endif
