/* login_field.c -- the login username in a request body (see login_field.h). */
#include <stdbool.h>
#include <string.h>

#include "login_field.h"

/* A key longer than this cannot be a configured field name (nginx
 * directive values and pointer segments are short); it is read to its end
 * and compared as unequal. */
#define KEY_MAX 256

typedef struct cursor {
    const unsigned char *p, *end;
} cursor;

static bool is_space(unsigned char ch) {
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static void skip_space(cursor *c) {
    while (c->p < c->end && is_space(*c->p)) c->p++;
}

/* Bytes that end a bare JSON token (number, true, false, null). */
static bool ends_token(unsigned char ch) {
    return is_space(ch) || ch == ',' || ch == ':' || ch == '"' || ch == '[' || ch == ']' ||
           ch == '{' || ch == '}';
}

static int hex(unsigned char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
}

static long hex4(const unsigned char *p, const unsigned char *end) {
    if (end - p < 4) return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex(p[i]);
        if (h < 0) return -1;
        v = v << 4 | h;
    }
    return v;
}

/* Append a byte; *n counts every byte, those past size are dropped. */
static void put(unsigned char *out, size_t size, size_t *n, unsigned char ch) {
    if (*n < size) out[*n] = ch;
    (*n)++;
}

static void put_utf8(unsigned char *out, size_t size, size_t *n, unsigned long cp) {
    if (cp < 0x80) {
        put(out, size, n, (unsigned char)cp);
    } else if (cp < 0x800) {
        put(out, size, n, (unsigned char)(0xc0 | cp >> 6));
        put(out, size, n, (unsigned char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        put(out, size, n, (unsigned char)(0xe0 | cp >> 12));
        put(out, size, n, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        put(out, size, n, (unsigned char)(0x80 | (cp & 0x3f)));
    } else {
        put(out, size, n, (unsigned char)(0xf0 | cp >> 18));
        put(out, size, n, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
        put(out, size, n, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
        put(out, size, n, (unsigned char)(0x80 | (cp & 0x3f)));
    }
}

/* The JSON string at c->p (on its opening quote), unescaped into out;
 * *n is its whole length. False when it is not closed or an escape is
 * bad. */
static bool json_string(cursor *c, unsigned char *out, size_t size, size_t *n) {
    *n = 0;
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = *c->p++;
        if (ch == '"') return true;
        if (ch != '\\') {
            put(out, size, n, ch);
            continue;
        }
        if (c->p >= c->end) return false;
        ch = *c->p++;
        switch (ch) {
        case '"':
        case '\\':
        case '/': put(out, size, n, ch); break;
        case 'b': put(out, size, n, '\b'); break;
        case 'f': put(out, size, n, '\f'); break;
        case 'n': put(out, size, n, '\n'); break;
        case 'r': put(out, size, n, '\r'); break;
        case 't': put(out, size, n, '\t'); break;
        case 'u': {
            long cp = hex4(c->p, c->end);
            if (cp < 0) return false;
            c->p += 4;
            /* A surrogate pair is one character; a lone half is kept as is. */
            if (cp >= 0xd800 && cp < 0xdc00 && c->end - c->p >= 6 && c->p[0] == '\\' &&
                c->p[1] == 'u') {
                long low = hex4(c->p + 2, c->end);
                if (low >= 0xdc00 && low < 0xe000) {
                    cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
                    c->p += 6;
                }
            }
            put_utf8(out, size, n, (unsigned long)cp);
            break;
        }
        default: return false;
        }
    }
    return false;
}

/* Step over one JSON value of any depth. Containers are skipped by
 * counting brackets outside strings, without recursion, so the depth of
 * the input costs nothing. */
static bool skip_value(cursor *c) {
    size_t depth = 0;
    do {
        skip_space(c);
        if (c->p >= c->end) return false;
        unsigned char ch = *c->p;
        if (ch == '"') {
            size_t n;
            if (!json_string(c, NULL, 0, &n)) return false;
        } else if (ch == '{' || ch == '[') {
            depth++;
            c->p++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0) return false;
            depth--;
            c->p++;
        } else if (ch == ',' || ch == ':') {
            if (depth == 0) return false;
            c->p++;
        } else {
            const unsigned char *start = c->p;
            while (c->p < c->end && !ends_token(*c->p)) c->p++;
            if (c->p == start) return false;
        }
    } while (depth > 0);
    return true;
}

/* The value of the last member named key of the object at p (after
 * spaces), or NULL. A malformed or cut object yields what came before. */
static const unsigned char *json_member(const unsigned char *p, const unsigned char *end,
                                        const unsigned char *key, size_t key_len) {
    cursor c = {p, end};
    skip_space(&c);
    if (c.p >= c.end || *c.p != '{') return NULL;
    c.p++;
    const unsigned char *found = NULL;
    unsigned char name[KEY_MAX];
    for (;;) {
        skip_space(&c);
        if (c.p >= c.end || *c.p != '"') return found;
        size_t n;
        if (!json_string(&c, name, sizeof name, &n)) return found;
        skip_space(&c);
        if (c.p >= c.end || *c.p != ':') return found;
        c.p++;
        skip_space(&c);
        if (n == key_len && memcmp(name, key, n) == 0) found = c.p;
        if (!skip_value(&c)) return found;
        skip_space(&c);
        if (c.p >= c.end || *c.p != ',') return found;
        c.p++;
    }
}

/* A string value unescaped, or a number as its text. */
static size_t json_scalar(const unsigned char *p, const unsigned char *end, unsigned char *out,
                          size_t out_size) {
    cursor c = {p, end};
    size_t n = 0;
    if (p < end && *p == '"') {
        if (!json_string(&c, out, out_size, &n)) return 0;
    } else if (p < end && (*p == '-' || (*p >= '0' && *p <= '9'))) {
        while (c.p < c.end && !ends_token(*c.p)) put(out, out_size, &n, *c.p++);
    }
    return n < out_size ? n : out_size;
}

/* Walk field -- a member name, or a JSON pointer "/a/b" -- from the
 * top-level object down. */
static size_t json_field(const unsigned char *body, const unsigned char *end, const char *field,
                         size_t field_len, unsigned char *out, size_t out_size) {
    const unsigned char *at = body;
    if (field[0] != '/') {
        at = json_member(at, end, (const unsigned char *)field, field_len);
        return at ? json_scalar(at, end, out, out_size) : 0;
    }
    size_t i = 1;
    for (;;) {
        unsigned char seg[KEY_MAX];
        size_t n = 0;
        for (; i < field_len && field[i] != '/'; i++) {
            unsigned char ch = (unsigned char)field[i];
            if (ch == '~' && i + 1 < field_len && (field[i + 1] == '0' || field[i + 1] == '1'))
                ch = field[++i] == '0' ? '~' : '/';
            if (n == sizeof seg) return 0;
            seg[n++] = ch;
        }
        if (!(at = json_member(at, end, seg, n))) return 0;
        if (i >= field_len) return json_scalar(at, end, out, out_size);
        i++; /* the '/' before the next segment */
    }
}

/* URL-decode [p, end) into out; the whole length is returned. */
static size_t form_decode(const unsigned char *p, const unsigned char *end, unsigned char *out,
                          size_t size) {
    size_t n = 0;
    while (p < end) {
        if (*p == '+') {
            put(out, size, &n, ' ');
            p++;
        } else if (*p == '%' && end - p >= 3 && hex(p[1]) >= 0 && hex(p[2]) >= 0) {
            put(out, size, &n, (unsigned char)(hex(p[1]) << 4 | hex(p[2])));
            p += 3;
        } else {
            put(out, size, &n, *p++);
        }
    }
    return n;
}

static size_t form_field(const unsigned char *p, const unsigned char *end, const char *field,
                         size_t field_len, unsigned char *out, size_t out_size) {
    const unsigned char *value = NULL, *value_end = NULL;
    while (p < end) {
        const unsigned char *amp = memchr(p, '&', (size_t)(end - p));
        const unsigned char *pair_end = amp ? amp : end;
        const unsigned char *eq = memchr(p, '=', (size_t)(pair_end - p));
        if (eq) {
            unsigned char name[KEY_MAX];
            size_t n = form_decode(p, eq, name, sizeof name);
            if (n == field_len && memcmp(name, field, n) == 0) {
                value = eq + 1;
                value_end = pair_end;
            }
        }
        p = amp ? amp + 1 : end;
    }
    if (!value) return 0;
    size_t n = form_decode(value, value_end, out, out_size);
    return n < out_size ? n : out_size;
}

size_t rp_login_field(const unsigned char *body, size_t len, const char *field, size_t field_len,
                      unsigned char *out, size_t out_size) {
    if (!body || !field || field_len == 0 || field_len > KEY_MAX || out_size == 0) return 0;
    const unsigned char *end = body + len, *p = body;
    while (p < end && is_space(*p)) p++;
    if (p < end && *p == '{') return json_field(p, end, field, field_len, out, out_size);
    return form_field(p, end, field, field_len, out, out_size);
}
