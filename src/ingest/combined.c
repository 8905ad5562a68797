/*
 * combined.c -- the nginx/Apache "combined" and "common" log formats.
 *
 *   ADDR IDENT USER [17/May/2015:10:05:03 +0000] "GET /p?q HTTP/1.1" 200 1234 "referer" "agent"
 *
 * Common stops after the size; nginx setups often append more fields
 * ("$http_x_forwarded_for", $request_time), which are ignored. The client
 * is always the first field: X-Forwarded-For is honoured for JSON logs
 * only, where the field is named and cannot be confused with another.
 *
 * The event's strings point into the line: no copy, no unescaping (an
 * escaped quote stays `\"` in the path). The shape is located first and
 * the contents validated after, so a line of random text is "malformed"
 * while a well-shaped line with a bad address or time says which.
 *
 * Real logs are not tidy: a quote inside the request field sometimes goes
 * unescaped, and a user agent sometimes lacks its closing quote. So the
 * end of the request is the first unescaped quote followed by " <status>",
 * and the last quoted field may run to the end of the line.
 */
#include <string.h>

#include "ingest_int.h"

/* True when the quote at q is preceded by an odd number of backslashes
 * (counted back to the field start). */
static bool escaped(const char *start, const char *q) {
    size_t n = 0;
    while (q - n > start && q[-(ptrdiff_t)n - 1] == '\\') n++;
    return n & 1;
}

/* The closing quote of a field starting at p: the first unescaped quote
 * that is followed by end of line or a space and, when next_digit is set,
 * then by a digit or '-' (the status after the request). NULL if none. */
static const char *closing_quote(const char *p, const char *end, bool next_digit) {
    const char *q = p;
    while ((q = memchr(q, '"', (size_t)(end - q))) != NULL) {
        if (!escaped(p, q)) {
            if (!next_digit && (q + 1 == end || q[1] == ' ')) return q;
            if (next_digit && end - q >= 3 && q[1] == ' ' &&
                ((q[2] >= '0' && q[2] <= '9') || q[2] == '-'))
                return q;
        }
        q++;
    }
    return NULL;
}

/* Decimal digits (at most max of them) at *p up to a space or end. */
static bool number_field(const char **p, const char *end, unsigned max, uint64_t *out) {
    const char *s = *p;
    uint64_t v = 0;
    unsigned n = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (++n > max) return false;
        v = v * 10 + (uint64_t)(*s - '0');
        s++;
    }
    if (n == 0 || (s < end && *s != ' ')) return false;
    *p = s;
    *out = v;
    return true;
}

/* A "-" field at *p, ending at a space or end. */
static bool dash_field(const char **p, const char *end) {
    const char *s = *p;
    if (s < end && *s == '-' && (s + 1 == end || s[1] == ' ')) {
        *p = s + 1;
        return true;
    }
    return false;
}

static rp_status skip(rp_skip_reason *why, rp_skip_reason reason) {
    *why = reason;
    return RP_EPARSE;
}

/* A quoted referer or user agent at *p (which is at the opening quote);
 * "-" means absent and becomes the empty string. */
static void quoted_field(rp_event *ev, const char **p, const char *end, rp_str *dst, size_t max) {
    const char *s = *p + 1;
    const char *q = closing_quote(s, end, false);
    const char *stop = q ? q : end;
    size_t len = (size_t)(stop - s);
    if (len == 1 && s[0] == '-') len = 0;
    rp_ingest_set_str(ev, dst, s, len, max);
    *p = q ? q + 1 : end;
}

rp_status rp_parse_combined(const char *line, size_t len, rp_event *ev, rp_skip_reason *why) {
    rp_ingest_event_reset(ev);
    *why = RP_SKIP_NONE;
    int scan = rp_ingest_scan(line, len);
    if (scan == RP_SCAN_BINARY) return skip(why, RP_SKIP_BINARY);
    if (scan == RP_SCAN_BAD_UTF8) ev->flags |= RP_EVENT_BAD_UTF8;

    const char *end = line + len;
    const char *addr_end = memchr(line, ' ', len);
    if (!addr_end || addr_end == line) return skip(why, RP_SKIP_MALFORMED);
    const char *lb = memchr(addr_end, '[', (size_t)(end - addr_end));
    if (!lb) return skip(why, RP_SKIP_MALFORMED);
    const char *rb = memchr(lb, ']', (size_t)(end - lb));
    if (!rb || end - rb < 3 || rb[1] != ' ' || rb[2] != '"') return skip(why, RP_SKIP_MALFORMED);
    const char *req = rb + 3;
    const char *req_end = closing_quote(req, end, true);
    if (!req_end) return skip(why, RP_SKIP_MALFORMED);

    const char *p = req_end + 2;
    uint64_t v;
    if (dash_field(&p, end)) {
        ev->flags |= RP_EVENT_UNKNOWN_STATUS;
    } else if (number_field(&p, end, 3, &v)) {
        ev->status = (uint16_t)v;
    } else {
        return skip(why, RP_SKIP_MALFORMED);
    }
    if (p < end) {
        p++; /* the space */
        if (number_field(&p, end, 19, &v))
            ev->response_bytes = v;
        else if (!dash_field(&p, end))
            return skip(why, RP_SKIP_MALFORMED);
    }
    /* Combined adds two quoted fields; anything after them is ignored. */
    if (end - p >= 2 && p[0] == ' ' && p[1] == '"') {
        p++;
        quoted_field(ev, &p, end, &ev->referer, RP_MAX_REFERER);
        if (end - p >= 2 && p[0] == ' ' && p[1] == '"') {
            p++;
            quoted_field(ev, &p, end, &ev->user_agent, RP_MAX_USER_AGENT);
        }
    }

    if (rp_addr_parse(line, (size_t)(addr_end - line), &ev->client) != RP_OK)
        return skip(why, RP_SKIP_BAD_ADDR);
    if (rp_ingest_parse_clf_time(lb + 1, (size_t)(rb - lb - 1), &ev->ts_us) != RP_OK)
        return skip(why, RP_SKIP_BAD_TIME);
    rp_ingest_parse_request(ev, req, (size_t)(req_end - req));
    return RP_OK;
}
