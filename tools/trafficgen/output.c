/*
 * output.c -- sorting the records and writing them as nginx log lines
 * (combined or JSON) and the label file.
 *
 * Everything textual is derived here from the compact record: the path,
 * the user agent, the username, header names, keys and session ids. Lines
 * are assembled with small appenders into one line buffer (no printf per
 * field) because a benchmark log has a million of them.
 *
 * Escaping follows nginx: in combined format '"', '\' and control bytes
 * become \xHH; in JSON (escape=json) they become JSON escapes.
 */
#include <stdlib.h>
#include <string.h>

#include "tg.h"

#define LINE_MAX_BYTES 8192

/* ------------------------------------------------------------- sorting */

static int rec_cmp(const void *pa, const void *pb)
{
    const tg_rec *a = pa, *b = pb;
    if (a->ts_us != b->ts_us)
        return a->ts_us < b->ts_us ? -1 : 1;
    if (a->client != b->client)
        return a->client < b->client ? -1 : 1;
    if (a->route != b->route)
        return a->route < b->route ? -1 : 1;
    if (a->arg != b->arg)
        return a->arg < b->arg ? -1 : 1;
    return a->arg2 < b->arg2 ? -1 : a->arg2 > b->arg2;
}

void tg_sort(tg_world *w)
{
    if (w->nrecs > 1)
        qsort(w->recs, w->nrecs, sizeof *w->recs, rec_cmp);
}

/* ------------------------------------------------------------ appenders */

typedef struct line {
    char buf[LINE_MAX_BYTES];
    size_t len;
} line;

static void put_n(line *l, const char *s, size_t n)
{
    if (l->len + n > sizeof l->buf - 2) /* room for the newline */
        n = sizeof l->buf - 2 - l->len;
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void put(line *l, const char *s)
{
    put_n(l, s, strlen(s));
}

static void put_char(line *l, char c)
{
    put_n(l, &c, 1);
}

static void put_uint(line *l, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_n(l, tmp + sizeof tmp - n, n);
}

static void put_digits(line *l, unsigned v, int width)
{
    char tmp[8];
    for (int i = width - 1; i >= 0; i--) {
        tmp[i] = (char)('0' + v % 10);
        v /= 10;
    }
    put_n(l, tmp, (size_t)width);
}

static void put_hex64(line *l, uint64_t v)
{
    static const char hex[] = "0123456789abcdef";
    char tmp[16];
    for (int i = 15; i >= 0; i--) {
        tmp[i] = hex[v & 0xf];
        v >>= 4;
    }
    put_n(l, tmp, 16);
}

/* nginx's escaping in the default log format. */
static void put_escaped_combined(line *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x7f) {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 0xf]};
            put_n(l, esc, 4);
        } else {
            put_char(l, (char)c);
        }
    }
}

static void put_escaped_json(line *l, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            put_char(l, '\\');
            put_char(l, (char)c);
        } else if (c < 0x20) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
            put_n(l, esc, 6);
        } else {
            put_char(l, (char)c);
        }
    }
}

/* ----------------------------------------------------------------- time */

int64_t tg_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

typedef struct civil {
    int64_t y;
    unsigned mon, d, h, min, s;
} civil;

static civil civil_from_epoch(int64_t secs)
{
    civil c;
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    c.h = (unsigned)(rem / 3600);
    c.min = (unsigned)(rem / 60 % 60);
    c.s = (unsigned)(rem % 60);
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    c.d = doy - (153 * mp + 2) / 5 + 1;
    c.mon = mp < 10 ? mp + 3 : mp - 9;
    c.y = (int64_t)yoe + era * 400 + (c.mon <= 2);
    return c;
}

static const char *const month_names[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* [25/Nov/2026:10:00:00 +0000] */
static void put_time_combined(line *l, int64_t secs)
{
    civil c = civil_from_epoch(secs);
    put_char(l, '[');
    put_digits(l, c.d, 2);
    put_char(l, '/');
    put(l, month_names[c.mon - 1]);
    put_char(l, '/');
    put_digits(l, (unsigned)c.y, 4);
    put_char(l, ':');
    put_digits(l, c.h, 2);
    put_char(l, ':');
    put_digits(l, c.min, 2);
    put_char(l, ':');
    put_digits(l, c.s, 2);
    put(l, " +0000]");
}

/* 2026-11-25T10:00:00 (the caller adds fraction and offset) */
static void put_time_iso(line *l, int64_t secs)
{
    civil c = civil_from_epoch(secs);
    put_digits(l, (unsigned)c.y, 4);
    put_char(l, '-');
    put_digits(l, c.mon, 2);
    put_char(l, '-');
    put_digits(l, c.d, 2);
    put_char(l, 'T');
    put_digits(l, c.h, 2);
    put_char(l, ':');
    put_digits(l, c.min, 2);
    put_char(l, ':');
    put_digits(l, c.s, 2);
}

/* ------------------------------------------------------------- per line */

size_t tg_format_addr(const tg_addr *a, char *buf, size_t cap)
{
    line l;
    l.len = 0;
    if (!a->v6) {
        for (int i = 12; i < 16; i++) {
            if (i > 12)
                put_char(&l, '.');
            put_uint(&l, a->bytes[i]);
        }
    } else {
        /* Full form without zero compression: valid, and unambiguous. */
        static const char hex[] = "0123456789abcdef";
        for (int i = 0; i < 16; i += 2) {
            if (i)
                put_char(&l, ':');
            unsigned v = (unsigned)a->bytes[i] << 8 | a->bytes[i + 1];
            bool started = false;
            for (int shift = 12; shift >= 0; shift -= 4) {
                unsigned nib = (v >> shift) & 0xf;
                if (nib || started || shift == 0) {
                    put_char(&l, hex[nib]);
                    started = true;
                }
            }
        }
    }
    size_t n = l.len < cap ? l.len : cap - 1;
    memcpy(buf, l.buf, n);
    buf[n] = '\0';
    return n;
}

size_t tg_format_path(const tg_world *w, const tg_rec *rec, char *buf, size_t cap)
{
    char since[32] = "";
    if (rec->route == TG_R_API_PRODUCTS_SYNC || rec->route == TG_R_API_ORDERS) {
        /* "what changed since my last poll", rounded to the minute */
        int64_t secs = w->start_epoch_s + rec->ts_us / 1000000 - 60;
        secs -= secs % 60;
        line l;
        l.len = 0;
        put_time_iso(&l, secs);
        put_char(&l, 'Z');
        memcpy(since, l.buf, l.len);
        since[l.len] = '\0';
    }
    return tg_catalog_path(rec->route, rec->arg, rec->arg2, since, buf, cap);
}

static bool http2(uint8_t header_set)
{
    return header_set == TG_HS_CHROME || header_set == TG_HS_FIREFOX || header_set == TG_HS_SAFARI;
}

/* Bytes of the request line and headers, from what each client sends. */
static uint32_t request_length(const tg_client *c, const tg_rec *rec, size_t uri_len,
                               size_t ua_len, bool cookie)
{
    static const uint16_t header_bytes[TG_HS_COUNT] = {
        [TG_HS_CHROME] = 540, [TG_HS_FIREFOX] = 430, [TG_HS_SAFARI] = 380, [TG_HS_CURL] = 50,
        [TG_HS_PYTHON] = 100, [TG_HS_GO] = 60,       [TG_HS_OKHTTP] = 90,  [TG_HS_IOS_APP] = 210,
        [TG_HS_CRAWLER] = 150, [TG_HS_MONITOR] = 60, [TG_HS_HEADLESS] = 90, [TG_HS_AIOHTTP] = 80,
        [TG_HS_NONE] = 40,
    };
    uint64_t n = 8 + strlen(tg_method_name((tg_method)rec->method)) + uri_len + 11 + 20 + ua_len +
                 header_bytes[c->header_set < TG_HS_COUNT ? c->header_set : TG_HS_NONE] +
                 (cookie ? 148 : 0) + (c->api_key ? 56 : 0) +
                 (rec->referer ? strlen(tg_referer_text(rec->referer)) + 10 : 0) + rec->req_bytes;
    return n > 0xffffffffu ? 0xffffffffu : (uint32_t)n;
}

typedef struct fields {
    char addr[48];
    char uri[1024];
    char ua[512];
    size_t addr_len, uri_len, ua_len;
    bool cookie;
} fields;

static void derive(const tg_world *w, const tg_rec *rec, fields *f)
{
    const tg_client *c = &w->clients[rec->client];
    f->addr_len = tg_format_addr(&w->addrs[c->addr], f->addr, sizeof f->addr);
    f->uri_len = tg_format_path(w, rec, f->uri, sizeof f->uri);
    f->ua_len = tg_ua_format(rec->ua == TG_UA_CLIENT ? c->ua : rec->ua, f->ua, sizeof f->ua);
    f->cookie = c->sessions && !(rec->flags & TG_F_NO_COOKIE);
}

static void format_combined(const tg_world *w, const tg_rec *rec, line *l)
{
    const tg_client *c = &w->clients[rec->client];
    fields f;
    derive(w, rec, &f);
    put_n(l, f.addr, f.addr_len);
    put(l, " - - ");
    put_time_combined(l, w->start_epoch_s + rec->ts_us / 1000000);
    put(l, " \"");
    put(l, tg_method_name((tg_method)rec->method));
    put_char(l, ' ');
    put_escaped_combined(l, f.uri, f.uri_len);
    put(l, http2(c->header_set) ? " HTTP/2.0\" " : " HTTP/1.1\" ");
    put_uint(l, rec->status);
    put_char(l, ' ');
    put_uint(l, rec->resp_bytes);
    put(l, " \"");
    const char *ref = tg_referer_text(rec->referer);
    put_escaped_combined(l, ref, strlen(ref));
    put(l, "\" \"");
    put_escaped_combined(l, f.ua, f.ua_len);
    put_char(l, '"');
}

static void put_json_key(line *l, const char *key)
{
    put(l, ",\"");
    put(l, key);
    put(l, "\":");
}

static void put_json_str(line *l, const char *key, const char *s, size_t n)
{
    put_json_key(l, key);
    put_char(l, '"');
    put_escaped_json(l, s, n);
    put_char(l, '"');
}

static void format_json(const tg_world *w, const tg_rec *rec, line *l)
{
    const tg_client *c = &w->clients[rec->client];
    fields f;
    derive(w, rec, &f);
    put(l, "{\"time_iso8601\":\"");
    put_time_iso(l, w->start_epoch_s + rec->ts_us / 1000000);
    put_char(l, '.');
    put_digits(l, (unsigned)(rec->ts_us % 1000000 / 1000), 3);
    put(l, "+00:00\"");
    put_json_str(l, "remote_addr", f.addr, f.addr_len);
    const char *m = tg_method_name((tg_method)rec->method);
    put_json_str(l, "request_method", m, strlen(m));
    put_json_str(l, "request_uri", f.uri, f.uri_len);
    put_json_key(l, "status");
    put_uint(l, rec->status);
    put_json_key(l, "body_bytes_sent");
    put_uint(l, rec->resp_bytes);
    put_json_key(l, "request_length");
    put_uint(l, request_length(c, rec, f.uri_len, f.ua_len, f.cookie));
    put_json_key(l, "upstream_response_time");
    if (rec->upstream_us == TG_NO_UPSTREAM) {
        put(l, "\"-\"");
    } else {
        put_char(l, '"');
        put_uint(l, rec->upstream_us / 1000000);
        put_char(l, '.');
        put_digits(l, rec->upstream_us % 1000000 / 1000, 3);
        put_char(l, '"');
    }
    put_json_str(l, "http_user_agent", f.ua, f.ua_len);
    const char *ref = tg_referer_text(rec->referer);
    put_json_str(l, "http_referer", ref, strlen(ref));
    const char *host = (rec->flags & TG_F_HOST_IP) ? "203.0.113.10" : "shop.example";
    put_json_str(l, "host", host, strlen(host));
    if (rec->flags & TG_F_USERNAME) {
        char name[128];
        size_t n = rec->arg2 ? tg_username(rec->arg2, name, sizeof name) : 5;
        if (!rec->arg2)
            memcpy(name, "admin", 6);
        put_json_str(l, "username", name, n);
    }
    if (c->api_key) {
        put_json_key(l, "api_key");
        static const char *const key_prefixes[] = {"\"pk_live_", "\"mt_", "\"st_"};
        put(l, key_prefixes[c->key_kind < 3 ? c->key_kind : 0]);
        put_hex64(l, c->api_key);
        put_char(l, '"');
    }
    if (f.cookie) {
        unsigned sess = rec->flags >> TG_F_SESSION_SHIFT;
        uint64_t h = tg_mix64(w->seed * 0x9e37ull ^ ((uint64_t)rec->client << 8) ^ sess);
        put_json_key(l, "session");
        put_char(l, '"');
        put_hex64(l, h);
        put_hex64(l, tg_mix64(h));
        put_char(l, '"');
    }
    char names[512];
    size_t n = tg_header_names(c->header_set, rec->referer != TG_REF_NONE, f.cookie,
                               rec->method == TG_POST || rec->method == TG_PUT, c->api_key != 0,
                               names, sizeof names);
    if (n)
        put_json_str(l, "header_names", names, n);
    put_char(l, '}');
}

int tg_write_log(const tg_world *w, tg_format fmt, FILE *out)
{
    line l;
    for (size_t i = 0; i < w->nrecs; i++) {
        l.len = 0;
        if (fmt == TG_FMT_JSON)
            format_json(w, &w->recs[i], &l);
        else
            format_combined(w, &w->recs[i], &l);
        l.buf[l.len++] = '\n';
        if (fwrite(l.buf, 1, l.len, out) != l.len)
            return -1;
    }
    return fflush(out) == 0 ? 0 : -1;
}

int tg_write_labels(const tg_world *w, FILE *out)
{
    if (fputs("ip\tlabel\tkind\tgroup\n", out) < 0)
        return -1;
    for (uint32_t i = 0; i < w->naddrs; i++) {
        const tg_addr *a = &w->addrs[i];
        if (!a->lines)
            continue; /* the label file names exactly the addresses in the log */
        char addr[48];
        tg_format_addr(a, addr, sizeof addr);
        if (fprintf(out, "%s\t%s\t%s\t%s-%u\n", addr,
                    tg_kind_is_attack((tg_kind)a->kind) ? "attack" : "legit",
                    tg_kind_name((tg_kind)a->kind), tg_kind_name((tg_kind)a->group_tag),
                    a->group) < 0)
            return -1;
    }
    return fflush(out) == 0 ? 0 : -1;
}
