/*
 * fields.c -- the pieces of a log line both formats share: byte scanning,
 * timestamps, request lines, bounded strings.
 *
 * Everything here is on the `rampart analyze` hot path (millions of lines
 * a second), so nothing allocates, nothing calls strptime/sscanf (locale
 * and format-string interpretation cost more than the whole parse), and
 * the byte scan looks at eight bytes at a time while they are plain ASCII.
 */
#include <string.h>

#include "ingest_int.h"

static const char empty_string[1] = "";

/* ------------------------------------------------------------- bytes */

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Nonzero when some byte of w is < 0x20 or >= 0x80 (the classic "has a
 * byte less than n" trick, plus the high bits). */
static inline uint64_t word_needs_look(uint64_t w) {
    return ((w - ONES * 0x20) & ~w & HIGHS) | (w & HIGHS);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (avail < n) return 0;
    unsigned cp = c & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

int rp_ingest_scan(const char *line, size_t len) {
    const unsigned char *s = (const unsigned char *)line;
    int result = RP_SCAN_OK;
    size_t i = 0;
    while (i < len) {
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!word_needs_look(w)) {
                i += 8;
                continue;
            }
        }
        unsigned c = s[i];
        if (c < 0x20) {
            if (c != '\t') return RP_SCAN_BINARY;
            i++;
        } else if (c < 0x80) {
            i++;
        } else {
            size_t n = utf8_sequence(s + i, len - i);
            if (n == 0) {
                result = RP_SCAN_BAD_UTF8;
                n = 1;
            }
            i += n;
        }
    }
    return result;
}

size_t rp_ingest_repair_utf8(const char *line, size_t len, char *out) {
    const unsigned char *s = (const unsigned char *)line;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t n = utf8_sequence(s + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, s + i, n);
        o += n;
        i += n;
    }
    return o;
}

bool rp_ingest_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t') return false;
    return true;
}

/* ----------------------------------------------------------- strings */

void rp_ingest_event_reset(rp_event *ev) {
    memset(ev, 0, sizeof *ev);
    ev->upstream_us = -1;
    ev->host.ptr = ev->path.ptr = ev->query.ptr = empty_string;
    ev->user_agent.ptr = ev->referer.ptr = empty_string;
}

void rp_ingest_set_str(rp_event *ev, rp_str *dst, const char *ptr, size_t len, size_t max) {
    if (len > max) {
        len = max;
        ev->flags |= RP_EVENT_TRUNCATED;
    }
    dst->ptr = len ? ptr : empty_string;
    dst->len = (uint32_t)len;
}

/* ------------------------------------------------------------- time */

/* Days since 1970-01-01 of a proleptic Gregorian date. Eras of 400 years
 * repeat exactly, so the year is shifted to start in March (the leap day
 * falls last) and split into era and year-of-era. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static unsigned days_in_month(int64_t y, unsigned m) {
    static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Read exactly n digits at s[*i]. */
static bool digits(const char *s, size_t len, size_t *i, unsigned n, unsigned *out) {
    if (*i + n > len) return false;
    unsigned v = 0;
    for (unsigned k = 0; k < n; k++) {
        char c = s[*i + k];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (unsigned)(c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

/* ".123456789" -> microseconds (digits past the sixth are dropped). */
static bool fraction(const char *s, size_t len, size_t *i, int64_t *us) {
    *us = 0;
    if (*i >= len || (s[*i] != '.' && s[*i] != ',')) return true;
    (*i)++;
    unsigned n = 0;
    int64_t v = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (n < 6) v = v * 10 + (s[*i] - '0');
        n++;
        (*i)++;
    }
    if (n == 0) return false;
    for (; n < 6; n++) v *= 10;
    *us = v;
    return true;
}

/* Range checks and the conversion, shared by both layouts. */
static rp_status civil_to_us(unsigned y, unsigned mo, unsigned d, unsigned h, unsigned mi,
                             unsigned sec, int64_t frac_us, int offset_s, int64_t *ts_us) {
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60)
        return RP_EPARSE;
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    *ts_us = secs * 1000000 + frac_us;
    return RP_OK;
}

/* "+hhmm", "+hh:mm", "+hh", "Z"; *i at the sign. */
static bool utc_offset(const char *s, size_t len, size_t *i, int *offset_s) {
    *offset_s = 0;
    if (*i < len && s[*i] == 'Z') {
        (*i)++;
        return true;
    }
    if (*i >= len || (s[*i] != '+' && s[*i] != '-')) return false;
    int sign = s[*i] == '-' ? -1 : 1;
    (*i)++;
    unsigned hh, mm = 0;
    if (!digits(s, len, i, 2, &hh)) return false;
    if (*i < len && s[*i] == ':') (*i)++;
    if (*i < len && !digits(s, len, i, 2, &mm)) return false;
    if (hh > 23 || mm > 59) return false;
    *offset_s = sign * (int)(hh * 3600 + mm * 60);
    return true;
}

static int month_number(const char *s) {
    /* Three letters, case as Apache and nginx write them. */
    static const char names[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int m = 0; m < 12; m++)
        if (names[3 * m] == s[0] && names[3 * m + 1] == s[1] && names[3 * m + 2] == s[2])
            return m + 1;
    return 0;
}

rp_status rp_ingest_parse_clf_time(const char *s, size_t len, int64_t *ts_us) {
    size_t i = 0;
    unsigned d, y, h, mi, sec;
    int64_t frac_us;
    int offset_s;
    if (!digits(s, len, &i, 2, &d) || i + 5 > len || s[i] != '/') return RP_EPARSE;
    int mo = month_number(s + i + 1);
    if (!mo || s[i + 4] != '/') return RP_EPARSE;
    i += 5;
    if (!digits(s, len, &i, 4, &y) || i >= len || s[i++] != ':') return RP_EPARSE;
    if (!digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':') return RP_EPARSE;
    if (!digits(s, len, &i, 2, &mi) || i >= len || s[i++] != ':') return RP_EPARSE;
    if (!digits(s, len, &i, 2, &sec) || !fraction(s, len, &i, &frac_us)) return RP_EPARSE;
    if (i >= len || s[i++] != ' ' || !utc_offset(s, len, &i, &offset_s) || i != len)
        return RP_EPARSE;
    return civil_to_us(y, (unsigned)mo, d, h, mi, sec, frac_us, offset_s, ts_us);
}

rp_status rp_ingest_parse_iso_time(const char *s, size_t len, int64_t *ts_us) {
    size_t i = 0;
    unsigned y, mo, d, h, mi, sec;
    int64_t frac_us;
    int offset_s = 0;
    if (!digits(s, len, &i, 4, &y) || i >= len || s[i++] != '-') return RP_EPARSE;
    if (!digits(s, len, &i, 2, &mo) || i >= len || s[i++] != '-') return RP_EPARSE;
    if (!digits(s, len, &i, 2, &d) || i >= len || (s[i] != 'T' && s[i] != ' ')) return RP_EPARSE;
    i++;
    if (!digits(s, len, &i, 2, &h) || i >= len || s[i++] != ':') return RP_EPARSE;
    if (!digits(s, len, &i, 2, &mi) || i >= len || s[i++] != ':') return RP_EPARSE;
    if (!digits(s, len, &i, 2, &sec) || !fraction(s, len, &i, &frac_us)) return RP_EPARSE;
    if (i < len && s[i] == ' ') i++; /* "2015-05-17 10:05:03 +0000" */
    if (i < len && !utc_offset(s, len, &i, &offset_s)) return RP_EPARSE;
    if (i != len) return RP_EPARSE;
    return civil_to_us(y, mo, d, h, mi, sec, frac_us, offset_s, ts_us);
}

/* Seconds and fraction at s[*i]; at most 12 integer digits, so the
 * microsecond result never overflows. */
static bool seconds_value(const char *s, size_t len, size_t *i, int64_t *us) {
    int64_t secs = 0;
    unsigned n = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        if (++n > 12) return false;
        secs = secs * 10 + (s[*i] - '0');
        (*i)++;
    }
    if (n == 0) return false;
    int64_t frac_us;
    if (!fraction(s, len, i, &frac_us)) return false;
    *us = secs * 1000000 + frac_us;
    return true;
}

rp_status rp_ingest_parse_epoch(const char *s, size_t len, int64_t *ts_us) {
    size_t i = 0;
    if (!seconds_value(s, len, &i, ts_us) || i != len) return RP_EPARSE;
    return RP_OK;
}

rp_status rp_ingest_parse_seconds_list(const char *s, size_t len, int64_t *us) {
    size_t i = 0;
    int64_t total = 0;
    int values = 0;
    for (;;) {
        while (i < len && s[i] == ' ') i++;
        int64_t v;
        if (!seconds_value(s, len, &i, &v)) return RP_EPARSE;
        /* Bounded by the 12-digit cap per value; a hostile list of
         * thousands of values still cannot overflow int64 before this. */
        if (++values > 1000) return RP_EPARSE;
        total += v;
        while (i < len && s[i] == ' ') i++;
        if (i == len) break;
        if (s[i] != ',' && s[i] != ':') return RP_EPARSE;
        i++;
    }
    *us = total;
    return RP_OK;
}

/* ---------------------------------------------------------- request */

void rp_ingest_set_uri(rp_event *ev, const char *s, size_t len) {
    const char *q = memchr(s, '?', len);
    if (q) {
        rp_ingest_set_str(ev, &ev->path, s, (size_t)(q - s), RP_MAX_PATH);
        rp_ingest_set_str(ev, &ev->query, q + 1, len - (size_t)(q - s) - 1, RP_MAX_QUERY);
    } else {
        rp_ingest_set_str(ev, &ev->path, s, len, RP_MAX_PATH);
        rp_ingest_set_str(ev, &ev->query, s, 0, RP_MAX_QUERY);
    }
}

/* A method token: 1..20 upper-case letters (WebDAV adds PROPFIND and
 * friends; anything else is not a request line). */
static bool method_token(const char *s, size_t len) {
    if (len == 0 || len > 20) return false;
    for (size_t i = 0; i < len; i++)
        if ((s[i] < 'A' || s[i] > 'Z') && s[i] != '-' && s[i] != '_') return false;
    return true;
}

/* Origin form "/p", asterisk form "*", or absolute form "http://h/p"
 * (proxy probes); CONNECT's authority form is handled by the caller. */
static bool uri_form(const char *uri, size_t len) {
    if (uri[0] == '/' || uri[0] == '*') return true;
    const char *colon = memchr(uri, ':', len < 16 ? len : 16);
    return colon && (size_t)(colon - uri) + 3 <= len && colon[1] == '/' && colon[2] == '/';
}

void rp_ingest_parse_request(rp_event *ev, const char *s, size_t len) {
    const char *sp1 = memchr(s, ' ', len);
    if (sp1 && method_token(s, (size_t)(sp1 - s))) {
        const char *uri = sp1 + 1;
        const char *end = s + len;
        /* The protocol is after the last space, so a raw space inside the
         * URI (clients do send them) stays part of the path. */
        const char *sp2 = end;
        while (sp2 > uri && sp2[-1] != ' ') sp2--;
        size_t uri_len;
        if (sp2 > uri && end - sp2 >= 5 && memcmp(sp2, "HTTP/", 5) == 0)
            uri_len = (size_t)(sp2 - 1 - uri);
        else if (sp2 == uri)
            uri_len = (size_t)(end - uri); /* HTTP/0.9: "GET /" */
        else
            uri_len = 0;
        rp_method method = rp_method_parse(s, (size_t)(sp1 - s));
        if (uri_len > 0 && (method == RP_METHOD_CONNECT || uri_form(uri, uri_len))) {
            ev->method = (uint8_t)method;
            rp_ingest_set_uri(ev, uri, uri_len);
            return;
        }
    }
    ev->method = RP_METHOD_OTHER;
    rp_ingest_set_str(ev, &ev->path, s, len, RP_MAX_PATH);
    rp_ingest_set_str(ev, &ev->query, s, 0, RP_MAX_QUERY);
}
