/*
 * json.c -- nginx `log_format ... escape=json '{...}'`, one object a line.
 *
 * A small hand parser, not jansson: jansson builds a tree with a hash
 * table per object and a malloc per value, and measured 180k lines/s on
 * the real log turned into JSON; this one does several times that and
 * allocates nothing. It is strict JSON all the same (RFC 8259 grammar,
 * escapes, surrogate pairs, nesting up to RP_JSON_DEPTH) because a
 * lenient parser would read garbage as data.
 *
 * We walk the top-level object once and note the members we know in a
 * small array of slots (one per field name, so several spellings of the
 * same thing can be ranked afterwards); other members are validated and
 * skipped. String values of known members are unescaped into the
 * parser's scratch buffer, which is as large as a line can be (an
 * unescaped string is never longer than its escaped form), so the event's
 * strings outlive the line and nothing can overflow.
 *
 * Numbers may be JSON numbers or strings ("200", "-"), because nginx
 * writes every variable as a string unless the format leaves the quotes
 * off. nginx escape=json passes bytes >= 0x80 through unchecked, so a line
 * with invalid UTF-8 is repaired (U+FFFD per bad byte) and flagged rather
 * than rejected: scanners send such bytes and the engine should see them.
 *
 * X-Forwarded-For counts only when the peer is a trusted proxy; then the
 * client is the rightmost address in the list that is not itself trusted
 * (what nginx's real_ip_recursive does).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"
#include "keys.h"

enum field {
    F_TIME_ISO8601,
    F_TIME,
    F_TIMESTAMP,
    F_AT_TIMESTAMP,
    F_TIME_LOCAL,
    F_MSEC,
    F_REMOTE_ADDR,
    F_CLIENT,
    F_IP,
    F_XFF,
    F_X_FORWARDED_FOR,
    F_REQUEST,
    F_REQUEST_METHOD,
    F_REQUEST_URI,
    F_URI,
    F_ARGS,
    F_QUERY_STRING,
    F_STATUS,
    F_BODY_BYTES_SENT,
    F_BYTES_SENT,
    F_REQUEST_LENGTH,
    F_REQUEST_TIME,
    F_UPSTREAM_RESPONSE_TIME,
    F_USER_AGENT,
    F_REFERER,
    F_HOST,
    F_HTTP_HOST,
    F_SERVER_NAME,
    F_USERNAME,
    F_API_KEY,
    F_TOKEN,
    F_AUTHORIZATION,
    F_SESSION,
    F_HEADER_NAMES,
    F_RAMPART,
    F_COUNT
};

static const struct {
    const char *name;
    enum field field;
} field_names[] = {
    {"time_iso8601", F_TIME_ISO8601},
    {"time", F_TIME},
    {"timestamp", F_TIMESTAMP},
    {"@timestamp", F_AT_TIMESTAMP},
    {"time_local", F_TIME_LOCAL},
    {"msec", F_MSEC},
    {"remote_addr", F_REMOTE_ADDR},
    {"client", F_CLIENT},
    {"ip", F_IP},
    {"http_x_forwarded_for", F_XFF},
    {"x_forwarded_for", F_X_FORWARDED_FOR},
    {"request", F_REQUEST},
    {"request_method", F_REQUEST_METHOD},
    {"method", F_REQUEST_METHOD},
    {"request_uri", F_REQUEST_URI},
    {"uri", F_URI},
    {"args", F_ARGS},
    {"query_string", F_QUERY_STRING},
    {"status", F_STATUS},
    {"body_bytes_sent", F_BODY_BYTES_SENT},
    {"bytes_sent", F_BYTES_SENT},
    {"request_length", F_REQUEST_LENGTH},
    {"request_time", F_REQUEST_TIME},
    {"upstream_response_time", F_UPSTREAM_RESPONSE_TIME},
    {"http_user_agent", F_USER_AGENT},
    {"user_agent", F_USER_AGENT},
    {"http_referer", F_REFERER},
    {"referer", F_REFERER},
    {"host", F_HOST},
    {"http_host", F_HTTP_HOST},
    {"server_name", F_SERVER_NAME},
    {"username", F_USERNAME},
    {"api_key", F_API_KEY},
    {"token", F_TOKEN},
    {"http_authorization", F_AUTHORIZATION},
    {"session", F_SESSION},
    {"header_names", F_HEADER_NAMES},
    {"rampart", F_RAMPART},
};

#define N_FIELD_NAMES (sizeof field_names / sizeof field_names[0])

static enum field lookup_field(const char *key, size_t key_len) {
    for (size_t i = 0; i < N_FIELD_NAMES; i++) {
        const char *name = field_names[i].name;
        if (name[0] == key[0] && strlen(name) == key_len && memcmp(name, key, key_len) == 0)
            return field_names[i].field;
    }
    return F_COUNT;
}

/* A member value as the scanner saw it. Strings are unescaped into the
 * parser's scratch buffer; numbers keep both forms because sizes want
 * exact integers and times want fractions. */
enum { J_STRING = 1, J_NUMBER, J_OTHER };

typedef struct jvalue {
    uint8_t kind;
    bool integral;  /* a number without fraction or exponent, fits uval */
    const char *s;  /* J_STRING */
    size_t len;
    double num;     /* J_NUMBER */
    uint64_t uval;  /* J_NUMBER when integral and non-negative */
} jvalue;

/* Objects and arrays nested deeper than this in an unknown member are
 * rejected: access logs are flat, and the bound keeps the recursion of
 * skip_value small whatever the input. */
#define RP_JSON_DEPTH 32

/* ------------------------------------------------------------ values */

/* The text of a string member; false for anything else. */
static bool text(const jvalue *v, const char **s, size_t *len) {
    if (!v || v->kind != J_STRING) return false;
    *s = v->s;
    *len = v->len;
    return true;
}

/* A non-negative integer given as a number or a decimal string. */
static bool unsigned_value(const jvalue *v, uint64_t *out) {
    const char *s;
    size_t len;
    if (!v) return false;
    if (v->kind == J_NUMBER) {
        if (!(v->num >= 0 && v->num < 1.8e19)) return false;
        *out = v->integral ? v->uval : (uint64_t)v->num;
        return true;
    }
    if (!text(v, &s, &len) || len == 0 || len > 19) return false;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        n = n * 10 + (uint64_t)(s[i] - '0');
    }
    *out = n;
    return true;
}

/* Seconds (number, "0.012", or a list "0.012, 0.004") to microseconds. */
static bool seconds_value(const jvalue *v, int64_t *us) {
    const char *s;
    size_t len;
    if (!v) return false;
    if (v->kind == J_NUMBER) {
        double d = v->num;
        if (!(d >= 0 && d < 1e12)) return false;
        *us = (int64_t)llround(d * 1e6);
        return true;
    }
    return text(v, &s, &len) && rp_ingest_parse_seconds_list(s, len, us) == RP_OK;
}

static bool time_value(const jvalue *const slots[F_COUNT], int64_t *ts_us) {
    static const enum field iso[] = {F_TIME_ISO8601, F_TIME, F_TIMESTAMP, F_AT_TIMESTAMP};
    const char *s;
    size_t len;
    for (size_t i = 0; i < sizeof iso / sizeof iso[0]; i++)
        if (text(slots[iso[i]], &s, &len))
            return rp_ingest_parse_iso_time(s, len, ts_us) == RP_OK;
    if (text(slots[F_TIME_LOCAL], &s, &len))
        return rp_ingest_parse_clf_time(s, len, ts_us) == RP_OK;
    const jvalue *msec = slots[F_MSEC];
    if (msec && msec->kind == J_NUMBER) {
        double d = msec->num;
        if (!(d >= 0 && d < 1e12)) return false;
        *ts_us = (int64_t)llround(d * 1e6);
        return true;
    }
    if (text(msec, &s, &len)) return rp_ingest_parse_epoch(s, len, ts_us) == RP_OK;
    return false;
}

/* Present and meaning something: nginx writes "-" or "" for unset. */
static bool present(const jvalue *v, const char **s, size_t *len) {
    return text(v, s, len) && *len > 0 && !(*len == 1 && (*s)[0] == '-');
}

/* The ids are keys.c's (src/common/): the nginx module derives the same
 * ones from the request itself, and test_keys proves they agree. */
static uint64_t hash_text(const jvalue *v) {
    const char *s;
    size_t len;
    return present(v, &s, &len) ? rp_text_id(s, len) : 0;
}

/* http_authorization's bearer credentials, else api_key whole (the
 * module's rule, rp_token_id), else a logged token whole. */
static uint64_t token_id(const jvalue *authorization, const jvalue *api_key, const jvalue *token) {
    const char *a = NULL, *k = NULL;
    size_t alen = 0, klen = 0;
    if (!present(authorization, &a, &alen)) a = NULL, alen = 0;
    if (!present(api_key, &k, &klen)) k = NULL, klen = 0;
    uint64_t id = rp_token_id(a, alen, k, klen);
    return id ? id : hash_text(token);
}

/* ------------------------------------------------------------ headers */

/* "Host, User-Agent,Accept" -> hash of "host,user-agent,accept" plus the
 * RP_HDR_ flags (rp_header_names: names past its bound still set flags
 * but are not hashed). */
static void header_names(rp_event *ev, const jvalue *v) {
    const char *s;
    size_t len;
    if (!text(v, &s, &len)) return;
    rp_header_names names;
    rp_header_names_init(&names);
    size_t i = 0;
    while (i < len) {
        while (i < len && (s[i] == ' ' || s[i] == ',')) i++;
        size_t start = i;
        while (i < len && s[i] != ',') i++;
        size_t stop = i;
        while (stop > start && s[stop - 1] == ' ') stop--;
        rp_header_names_add(&names, s + start, stop - start);
    }
    ev->flags |= RP_EVENT_HEADERS_KNOWN | names.flags;
    ev->header_hash = rp_header_names_hash(&names);
}

/* ------------------------------------------------------------ client */

static bool trusted(const rp_log_parser *parser, const rp_addr *addr) {
    for (int i = 0; i < parser->n_proxies; i++)
        if (rp_cidr_contains(&parser->proxies[i], addr)) return true;
    return false;
}

/* Walk X-Forwarded-For right to left from a trusted peer. */
static void resolve_forwarded(const rp_log_parser *parser, rp_event *ev, const jvalue *xff) {
    const char *s;
    size_t len;
    if (parser->n_proxies == 0 || !present(xff, &s, &len) || !trusted(parser, &ev->client))
        return;
    size_t end = len;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && s[start - 1] != ',') start--;
        size_t a = start, b = end;
        while (a < b && s[a] == ' ') a++;
        while (b > a && s[b - 1] == ' ') b--;
        rp_addr addr;
        if (b == a || rp_addr_parse(s + a, b - a, &addr) != RP_OK) return;
        ev->client = addr;
        if (!trusted(parser, &addr)) return;
        end = start > 0 ? start - 1 : 0;
    }
}

/* ------------------------------------------------------------ strings */

static void request_fields(rp_event *ev, const jvalue *const slots[F_COUNT]) {
    const char *s, *q;
    size_t len, qlen;
    if (text(slots[F_REQUEST], &s, &len) && len > 0) {
        rp_ingest_parse_request(ev, s, len);
        if (text(slots[F_REQUEST_METHOD], &q, &qlen))
            ev->method = (uint8_t)rp_method_parse(q, qlen);
        return;
    }
    if (text(slots[F_REQUEST_METHOD], &s, &len)) ev->method = (uint8_t)rp_method_parse(s, len);
    if (text(slots[F_REQUEST_URI], &s, &len)) {
        rp_ingest_set_uri(ev, s, len);
    } else if (text(slots[F_URI], &s, &len)) {
        rp_ingest_set_str(ev, &ev->path, s, len, RP_MAX_PATH);
        if (present(slots[F_ARGS], &q, &qlen) || present(slots[F_QUERY_STRING], &q, &qlen))
            rp_ingest_set_str(ev, &ev->query, q, qlen, RP_MAX_QUERY);
    }
}

static bool has_request(const jvalue *const slots[F_COUNT]) {
    return slots[F_REQUEST] || slots[F_REQUEST_URI] || slots[F_URI];
}

static void optional_fields(rp_event *ev, const jvalue *const slots[F_COUNT]) {
    const char *s;
    size_t len;
    uint64_t n;
    if (unsigned_value(slots[F_STATUS], &n) && n <= 999)
        ev->status = (uint16_t)n;
    else
        ev->flags |= RP_EVENT_UNKNOWN_STATUS;
    if (unsigned_value(slots[F_BODY_BYTES_SENT], &n) || unsigned_value(slots[F_BYTES_SENT], &n))
        ev->response_bytes = n;
    if (unsigned_value(slots[F_REQUEST_LENGTH], &n)) ev->request_bytes = n;
    int64_t us;
    if (seconds_value(slots[F_UPSTREAM_RESPONSE_TIME], &us) ||
        seconds_value(slots[F_REQUEST_TIME], &us))
        ev->upstream_us = us;
    if (present(slots[F_USER_AGENT], &s, &len))
        rp_ingest_set_str(ev, &ev->user_agent, s, len, RP_MAX_USER_AGENT);
    if (present(slots[F_REFERER], &s, &len))
        rp_ingest_set_str(ev, &ev->referer, s, len, RP_MAX_REFERER);
    if (present(slots[F_HOST], &s, &len) || present(slots[F_HTTP_HOST], &s, &len) ||
        present(slots[F_SERVER_NAME], &s, &len))
        rp_ingest_set_str(ev, &ev->host, s, len, RP_MAX_HOST);
    ev->credential_id = hash_text(slots[F_USERNAME]);
    ev->token_id = token_id(slots[F_AUTHORIZATION], slots[F_API_KEY], slots[F_TOKEN]);
    ev->session_id = hash_text(slots[F_SESSION]);
    header_names(ev, slots[F_HEADER_NAMES]);
    /* nginx logs `auth_request_set $rampart_verdict
     * $upstream_http_x_rampart_verdict` as "rampart": /v1/check sets the
     * header only when it refuses, so any value means the answer was ours
     * (docs/log-formats.md), never evidence about the client. */
    if (present(slots[F_RAMPART], &s, &len)) ev->flags |= RP_EVENT_REFUSED;
}

static rp_status skip(rp_skip_reason *why, rp_skip_reason reason) {
    *why = reason;
    return RP_EPARSE;
}

static rp_status build_event(rp_log_parser *parser, const jvalue *const slots[F_COUNT], rp_event *ev,
                             rp_skip_reason *why) {
    const char *s;
    size_t len;
    if (!(text(slots[F_REMOTE_ADDR], &s, &len) || text(slots[F_CLIENT], &s, &len) ||
          text(slots[F_IP], &s, &len)) ||
        rp_addr_parse(s, len, &ev->client) != RP_OK)
        return skip(why, RP_SKIP_BAD_ADDR);
    resolve_forwarded(parser, ev, slots[F_XFF] ? slots[F_XFF] : slots[F_X_FORWARDED_FOR]);
    if (!time_value(slots, &ev->ts_us)) return skip(why, RP_SKIP_BAD_TIME);
    if (!has_request(slots)) return skip(why, RP_SKIP_MALFORMED);
    request_fields(ev, slots);
    optional_fields(ev, slots);
    return RP_OK;
}


/* ------------------------------------------------------------ scanner */

typedef struct scanner {
    const char *p, *end;
    char *out; /* next free byte of the scratch buffer */
} scanner;

static void skip_space(scanner *sc) {
    while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
        sc->p++;
}

static int hex4(const char *s) {
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

/* "\uXXXX" (and its low surrogate) at sc->p, just past the 'u'. Writes
 * UTF-8 to *out when out is not NULL. U+0000 is refused like jansson
 * does: a NUL in a log field is binary, not text. */
static bool unicode_escape(scanner *sc, char **out) {
    if (sc->end - sc->p < 4) return false;
    int cp = hex4(sc->p);
    if (cp <= 0) return false;
    sc->p += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff) return false;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (sc->end - sc->p < 6 || sc->p[0] != '\\' || sc->p[1] != 'u') return false;
        int lo = hex4(sc->p + 2);
        if (lo < 0xdc00 || lo > 0xdfff) return false;
        sc->p += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    if (!out) return true;
    char *o = *out;
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    *out = o;
    return true;
}

/* A string at sc->p (on the opening quote). With keep, it is unescaped
 * into the scratch buffer and *s, *len describe it; an escape never
 * decodes to more bytes than it spans, so the output cannot overtake the
 * input's length. */
static bool scan_string(scanner *sc, bool keep, const char **s, size_t *len) {
    sc->p++;
    char *start = sc->out, *o = sc->out;
    for (;;) {
        /* Copy the plain run up to the next quote or backslash at once. */
        const char *run = sc->p;
        while (sc->p < sc->end && *sc->p != '"' && *sc->p != '\\') {
            if ((unsigned char)*sc->p < 0x20) return false;
            sc->p++;
        }
        if (keep) {
            memcpy(o, run, (size_t)(sc->p - run));
            o += sc->p - run;
        }
        if (sc->p >= sc->end) return false;
        if (*sc->p++ == '"') break;
        if (sc->p >= sc->end) return false;
        char c = *sc->p++, e;
        switch (c) {
        case '"': e = '"'; break;
        case '\\': e = '\\'; break;
        case '/': e = '/'; break;
        case 'b': e = '\b'; break;
        case 'f': e = '\f'; break;
        case 'n': e = '\n'; break;
        case 'r': e = '\r'; break;
        case 't': e = '\t'; break;
        case 'u':
            if (!unicode_escape(sc, keep ? &o : NULL)) return false;
            continue;
        default: return false;
        }
        if (keep) *o++ = e;
    }
    if (keep) {
        *s = start;
        *len = (size_t)(o - start);
        sc->out = o;
    }
    return true;
}

/* A number per the JSON grammar; its value in v when v is not NULL. */
static bool scan_number(scanner *sc, jvalue *v) {
    const char *start = sc->p;
    bool integral = true;
    if (sc->p < sc->end && *sc->p == '-') sc->p++;
    if (sc->p >= sc->end) return false;
    if (*sc->p == '0') {
        sc->p++;
    } else if (*sc->p >= '1' && *sc->p <= '9') {
        while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9') sc->p++;
    } else {
        return false;
    }
    if (sc->p < sc->end && *sc->p == '.') {
        integral = false;
        sc->p++;
        const char *digits = sc->p;
        while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9') sc->p++;
        if (sc->p == digits) return false;
    }
    if (sc->p < sc->end && (*sc->p == 'e' || *sc->p == 'E')) {
        integral = false;
        sc->p++;
        if (sc->p < sc->end && (*sc->p == '+' || *sc->p == '-')) sc->p++;
        const char *digits = sc->p;
        while (sc->p < sc->end && *sc->p >= '0' && *sc->p <= '9') sc->p++;
        if (sc->p == digits) return false;
    }
    if (!v) return true;
    size_t n = (size_t)(sc->p - start);
    v->kind = J_NUMBER;
    v->integral = false;
    if (integral && start[0] != '-' && n <= 19) {
        uint64_t u = 0;
        for (size_t i = 0; i < n; i++) u = u * 10 + (uint64_t)(start[i] - '0');
        v->integral = true;
        v->uval = u;
        v->num = (double)u;
        return true;
    }
    /* strtod needs a terminated copy; numbers this long in a log field
     * are not sizes or times we could use, so they count as NAN. */
    char buf[64];
    if (n >= sizeof buf) {
        v->num = NAN;
        return true;
    }
    memcpy(buf, start, n);
    buf[n] = 0;
    v->num = strtod(buf, NULL);
    return true;
}

static bool literal(scanner *sc, const char *word, size_t n) {
    if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0) return false;
    sc->p += n;
    return true;
}

static bool skip_value(scanner *sc, int depth);

/* The members of an object or the elements of an array, after the
 * opening bracket, validated and dropped. */
static bool skip_container(scanner *sc, char close, int depth) {
    if (depth > RP_JSON_DEPTH) return false;
    skip_space(sc);
    if (sc->p < sc->end && *sc->p == close) {
        sc->p++;
        return true;
    }
    for (;;) {
        skip_space(sc);
        if (close == '}') {
            if (sc->p >= sc->end || *sc->p != '"' || !scan_string(sc, false, NULL, NULL))
                return false;
            skip_space(sc);
            if (sc->p >= sc->end || *sc->p++ != ':') return false;
            skip_space(sc);
        }
        if (!skip_value(sc, depth)) return false;
        skip_space(sc);
        if (sc->p >= sc->end) return false;
        char c = *sc->p++;
        if (c == close) return true;
        if (c != ',') return false;
    }
}

static bool skip_value(scanner *sc, int depth) {
    if (sc->p >= sc->end) return false;
    switch (*sc->p) {
    case '"': return scan_string(sc, false, NULL, NULL);
    case '{': sc->p++; return skip_container(sc, '}', depth + 1);
    case '[': sc->p++; return skip_container(sc, ']', depth + 1);
    case 't': return literal(sc, "true", 4);
    case 'f': return literal(sc, "false", 5);
    case 'n': return literal(sc, "null", 4);
    default: return scan_number(sc, NULL);
    }
}

/* The value of a known member: strings and numbers are kept, anything
 * else is validated and marked J_OTHER. */
static bool scan_value(scanner *sc, jvalue *v) {
    if (sc->p >= sc->end) return false;
    if (*sc->p == '"') {
        v->kind = J_STRING;
        return scan_string(sc, true, &v->s, &v->len);
    }
    if (*sc->p == '-' || (*sc->p >= '0' && *sc->p <= '9')) return scan_number(sc, v);
    v->kind = J_OTHER;
    return skip_value(sc, 0);
}

/* A member name. Known names are short and plain, so a name that needs
 * unescaping or is longer than any known one is read as unknown. */
static enum field scan_key(scanner *sc, bool *ok) {
    const char *start = sc->p + 1;
    *ok = scan_string(sc, false, NULL, NULL);
    if (!*ok) return F_COUNT;
    size_t n = (size_t)(sc->p - 1 - start);
    if (n == 0 || memchr(start, '\\', n)) return F_COUNT;
    return lookup_field(start, n);
}

/* The top-level object: every member into its slot (first wins). */
static bool scan_object(scanner *sc, jvalue values[F_COUNT], const jvalue *slots[F_COUNT]) {
    skip_space(sc);
    if (sc->p >= sc->end || *sc->p++ != '{') return false;
    skip_space(sc);
    if (sc->p < sc->end && *sc->p == '}') {
        sc->p++;
    } else {
        for (;;) {
            skip_space(sc);
            if (sc->p >= sc->end || *sc->p != '"') return false;
            bool ok;
            enum field f = scan_key(sc, &ok);
            if (!ok) return false;
            skip_space(sc);
            if (sc->p >= sc->end || *sc->p++ != ':') return false;
            skip_space(sc);
            if (f != F_COUNT && !slots[f]) {
                if (!scan_value(sc, &values[f])) return false;
                slots[f] = &values[f];
            } else if (!skip_value(sc, 0)) {
                return false;
            }
            skip_space(sc);
            if (sc->p >= sc->end) return false;
            char c = *sc->p++;
            if (c == '}') break;
            if (c != ',') return false;
        }
    }
    skip_space(sc);
    return sc->p == sc->end;
}

rp_status rp_parse_json(rp_log_parser *parser, const char *line, size_t len, rp_event *ev,
                        rp_skip_reason *why) {
    rp_ingest_event_reset(ev);
    *why = RP_SKIP_NONE;
    if (len > RP_MAX_LINE) return skip(why, RP_SKIP_TOO_LONG);
    int scan = rp_ingest_scan(line, len);
    if (scan == RP_SCAN_BINARY) return skip(why, RP_SKIP_BINARY);
    if (scan == RP_SCAN_BAD_UTF8) {
        len = rp_ingest_repair_utf8(line, len, parser->line_copy);
        line = parser->line_copy;
        ev->flags |= RP_EVENT_BAD_UTF8;
    }
    jvalue values[F_COUNT];
    const jvalue *slots[F_COUNT] = {0};
    scanner sc = {line, line + len, parser->scratch};
    if (!scan_object(&sc, values, slots)) return skip(why, RP_SKIP_BAD_JSON);
    return build_event(parser, slots, ev, why);
}
