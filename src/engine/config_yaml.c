/*
 * config_yaml.c -- the YAML configuration file, read with libyaml.
 *
 * We load the whole document with libyaml's document API and walk its
 * nodes: a config is small, and having the tree lets us read keys in the
 * order that makes sense (profiles before the route rules that name them)
 * whatever order the operator wrote them in.
 *
 * The walk starts from rp_config_default() and overwrites what the file
 * says, so an empty file is the defaults and the example file, which spells
 * out every default, parses to exactly the defaults (a unit test holds us
 * to that). A profile that names a tolerance is first reset to that
 * tolerance's presets, then its explicit values are applied.
 *
 * Every mistake is reported with file:line:col of the offending node and a
 * message a person can act on: the known keys or a "did you mean" for a
 * misspelt one, the accepted range and unit for a bad number. The walk does
 * not stop at the first mistake: rp_config_check() hands every one to its
 * callback (for `rampart check-config`), rp_config_parse() keeps the first.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "config.h"

#define MAX_ROUTES_LIMIT (1u << 20)
#define MAX_CAPACITY (1u << 26)
#define MAX_KEYS 1024
#define US_PER_S 1000000.0
#define MAX_DURATION_US (365.0 * 86400.0 * US_PER_S)

typedef struct walker {
    yaml_document_t *doc;
    const char *name;
    rp_config *config;
    void (*on_error)(void *user, const rp_error *e);
    void *user;
    int n_errors;
    bool said_too_many_profiles; /* say it once, not once per extra profile */
    /* A fleet file (rp_config_check_fleet, rp_config_parse_fleet): node-local
     * keys are warned about; relative paths resolve against base's directory. */
    bool fleet;
    const char *base;
    void (*on_warning)(void *user, const rp_error *e);
} walker;

typedef const yaml_node_t ynode;

/* ---------------------------------------------------------------- errors */

static void report_at(walker *w, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An error or a warning at file:line:col, to the callback given. */
static void emit_at(walker *w, void (*to)(void *user, const rp_error *e), int line, int col,
                    const char *fmt, va_list ap) {
    rp_error e;
    memset(&e, 0, sizeof e);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    snprintf(e.file, sizeof e.file, "%s", w->name ? w->name : "");
    e.line = line;
    e.col = col;
    if (to) to(w->user, &e);
}

static void report_at(walker *w, int line, int col, const char *fmt, ...) {
    w->n_errors++;
    va_list ap;
    va_start(ap, fmt);
    emit_at(w, w->on_error, line, col, fmt, ap);
    va_end(ap);
}

static void warn_at(walker *w, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void warn_at(walker *w, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    emit_at(w, w->on_warning, line, col, fmt, ap);
    va_end(ap);
}

/* libyaml marks are 0-based; people count from 1. */
#define NODE_LINE(n) ((int)(n)->start_mark.line + 1)
#define NODE_COL(n) ((int)(n)->start_mark.column + 1)
#define report(w, node, ...) report_at((w), NODE_LINE(node), NODE_COL(node), __VA_ARGS__)

/* ----------------------------------------------------------------- nodes */

static ynode *node_get(walker *w, yaml_node_item_t i) {
    return yaml_document_get_node(w->doc, i);
}

static bool is_scalar(ynode *n) { return n && n->type == YAML_SCALAR_NODE; }

static const char *scalar_text(ynode *n) { return (const char *)n->data.scalar.value; }

static size_t scalar_len(ynode *n) { return n->data.scalar.length; }

static bool scalar_is(ynode *n, const char *s) {
    return is_scalar(n) && scalar_len(n) == strlen(s) && memcmp(scalar_text(n), s, scalar_len(n)) == 0;
}

/* An absent value ("key:" with nothing after it). */
static bool is_null(ynode *n) {
    if (!is_scalar(n) || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
    return scalar_len(n) == 0 || scalar_is(n, "~") || scalar_is(n, "null") || scalar_is(n, "Null") ||
           scalar_is(n, "NULL");
}

/* A key given as null or "": the setting is unset (its default applies). */
static bool is_unset(ynode *v) { return is_null(v) || (is_scalar(v) && scalar_len(v) == 0); }

/* "'high'", "a mapping", "a list": what we got, for messages. */
static const char *describe(ynode *n, char *buf, size_t size) {
    if (!n) return "nothing";
    if (n->type == YAML_MAPPING_NODE) return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE) return "a list";
    if (is_null(n)) return "nothing";
    size_t len = scalar_len(n);
    if (len > 40)
        snprintf(buf, size, "'%.40s...'", scalar_text(n));
    else
        snprintf(buf, size, "'%.*s'", (int)len, scalar_text(n));
    return buf;
}

/* Copy a scalar into a NUL-terminated buffer, truncating; for parsing
 * numbers and for messages. */
static const char *scalar_copy(ynode *n, char *buf, size_t size) {
    size_t len = scalar_len(n);
    if (len >= size) len = size - 1;
    memcpy(buf, scalar_text(n), len);
    buf[len] = 0;
    return buf;
}

/* ------------------------------------------------------------ suggestions */

static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 64;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best) best = up + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The known name closest to word, if it is close enough to be a typo. */
static const char *closest(const char *word, const char *const *names, size_t n) {
    const char *best = NULL;
    size_t best_d = 3;
    size_t limit = strlen(word) <= 4 ? 1 : 2;
    for (size_t i = 0; i < n; i++) {
        size_t d = edit_distance(word, names[i]);
        if (d <= limit && d < best_d) {
            best = names[i];
            best_d = d;
        }
    }
    return best;
}

/* " (did you mean 'x'?)" or "; known: a, b, c". */
static void hint(const char *word, const char *const *names, size_t n, char *buf, size_t size) {
    const char *near = closest(word, names, n);
    if (near) {
        snprintf(buf, size, " (did you mean '%s'?)", near);
        return;
    }
    size_t o = (size_t)snprintf(buf, size, "; known: ");
    for (size_t i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", names[i]);
    if (n == 0) snprintf(buf, size, "; none are defined");
}

/* ----------------------------------------------------------- typed values */

static bool want_scalar(walker *w, ynode *n, const char *what, const char *expected) {
    if (is_scalar(n) && !is_null(n)) return true;
    char got[64];
    report(w, n, "%s must be %s, got %s", what, expected, describe(n, got, sizeof got));
    return false;
}

static bool parse_double(ynode *n, double *out) {
    char buf[64];
    if (!is_scalar(n) || scalar_len(n) == 0 || scalar_len(n) >= sizeof buf) return false;
    scalar_copy(n, buf, sizeof buf);
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (end == buf || *end || errno || !isfinite(v)) return false;
    /* strtod takes hex and "inf"; a config value is plain decimal. */
    for (const char *p = buf; *p; p++)
        if (!strchr("0123456789+-.eE", *p)) return false;
    *out = v;
    return true;
}

static bool get_number(walker *w, ynode *n, const char *what, double min, double max,
                       const char *unit, double *out) {
    double v;
    if (!parse_double(n, &v) || v < min || v > max) {
        char got[64];
        report(w, n, "%s must be a number between %g and %g%s%s%s, got %s", what, min, max,
               unit && *unit ? " (" : "", unit && *unit ? unit : "", unit && *unit ? ")" : "",
               describe(n, got, sizeof got));
        return false;
    }
    *out = v;
    return true;
}

static bool get_uint(walker *w, ynode *n, const char *what, uint32_t min, uint32_t max,
                     uint32_t *out) {
    bool ok = is_scalar(n) && scalar_len(n) > 0 && scalar_len(n) <= 10;
    uint64_t v = 0;
    for (size_t i = 0; ok && i < scalar_len(n); i++) {
        char c = scalar_text(n)[i];
        if (c < '0' || c > '9') ok = false;
        v = v * 10 + (uint64_t)(c - '0');
    }
    if (!ok || v < min || v > max) {
        char got[64];
        report(w, n, "%s must be a whole number between %u and %u, got %s", what, min, max,
               describe(n, got, sizeof got));
        return false;
    }
    *out = (uint32_t)v;
    return true;
}

static bool get_bool(walker *w, ynode *n, const char *what, bool *out) {
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on", "On"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off", "Off"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (scalar_is(n, yes[i])) {
            *out = true;
            return true;
        }
        if (scalar_is(n, no[i])) {
            *out = false;
            return true;
        }
    }
    char got[64];
    report(w, n, "%s must be true or false, got %s", what, describe(n, got, sizeof got));
    return false;
}

/* "250ms", "30s", "5m", "1h", "2d", or a bare number of seconds. */
static bool parse_duration(ynode *n, int64_t *out_us) {
    char buf[64];
    if (!is_scalar(n) || scalar_len(n) == 0 || scalar_len(n) >= sizeof buf) return false;
    scalar_copy(n, buf, sizeof buf);
    size_t len = strlen(buf);
    double scale = US_PER_S;
    size_t unit_len = 0;
    if (len > 2 && strcmp(buf + len - 2, "ms") == 0) {
        scale = 1000.0;
        unit_len = 2;
    } else {
        switch (buf[len - 1]) {
        case 's': scale = US_PER_S; unit_len = 1; break;
        case 'm': scale = 60 * US_PER_S; unit_len = 1; break;
        case 'h': scale = 3600 * US_PER_S; unit_len = 1; break;
        case 'd': scale = 86400 * US_PER_S; unit_len = 1; break;
        default: break;
        }
    }
    buf[len - unit_len] = 0;
    if (!buf[0]) return false;
    for (const char *p = buf; *p; p++)
        if (!strchr("0123456789.", *p)) return false;
    char *end;
    double v = strtod(buf, &end);
    if (*end || !isfinite(v)) return false;
    double us = v * scale;
    if (us > MAX_DURATION_US) return false;
    *out_us = (int64_t)llround(us);
    return true;
}

static bool get_duration(walker *w, ynode *n, const char *what, int64_t min_us, int64_t *out) {
    int64_t v;
    if (!parse_duration(n, &v) || v < min_us) {
        char got[64];
        report(w, n,
               "%s must be a duration like 250ms, 30s, 5m, 1h or 2d (at most 365d, at least "
               "%gs), got %s",
               what, (double)min_us / US_PER_S, describe(n, got, sizeof got));
        return false;
    }
    *out = v;
    return true;
}

static bool get_string(walker *w, ynode *n, const char *what, char *buf, size_t size) {
    if (!want_scalar(w, n, what, "text")) return false;
    if (scalar_len(n) >= size || memchr(scalar_text(n), 0, scalar_len(n))) {
        report(w, n, "%s must be text of at most %zu characters", what, size - 1);
        return false;
    }
    scalar_copy(n, buf, size);
    return true;
}

static bool want_type(walker *w, ynode *n, yaml_node_type_t type, const char *what) {
    if (n && n->type == type) return true;
    char got[64];
    report(w, n, "%s must be %s, got %s", what,
           type == YAML_MAPPING_NODE ? "a mapping (key: value)" : "a list",
           describe(n, got, sizeof got));
    return false;
}

/* -------------------------------------------------------------- mappings */

/* Report keys that are not in known[] (with a suggestion), duplicated or
 * not text. Returns false when the node is not a mapping at all. */
static bool check_keys(walker *w, ynode *map, const char *const *known, size_t n_known,
                       const char *what, const char *where) {
    if (!want_type(w, map, YAML_MAPPING_NODE, what)) return false;
    /* The duplicate check below is quadratic; no real mapping is this big. */
    if (map->data.mapping.pairs.top - map->data.mapping.pairs.start > MAX_KEYS) {
        report(w, map, "too many keys in %s: at most %d", where, MAX_KEYS);
        return false;
    }
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        ynode *key = node_get(w, p->key);
        char kbuf[64];
        if (!is_scalar(key)) {
            report(w, key, "keys in %s must be names, got %s", where, describe(key, kbuf, sizeof kbuf));
            continue;
        }
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++)
            if (scalar_is(node_get(w, q->key), scalar_copy(key, kbuf, sizeof kbuf))) {
                report(w, key, "duplicate key '%s' in %s (first at line %d)", kbuf, where,
                       NODE_LINE(node_get(w, q->key)));
                break;
            }
        if (!known) continue;
        bool found = false;
        for (size_t i = 0; i < n_known && !found; i++) found = scalar_is(key, known[i]);
        if (found) continue;
        char h[512];
        scalar_copy(key, kbuf, sizeof kbuf);
        hint(kbuf, known, n_known, h, sizeof h);
        report(w, key, "unknown key '%s' in %s%s", kbuf, where, h);
    }
    return true;
}

/* The value of key in a mapping, or NULL. */
static ynode *map_get(walker *w, ynode *map, const char *key) {
    if (!map || map->type != YAML_MAPPING_NODE) return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++)
        if (scalar_is(node_get(w, p->key), key)) return node_get(w, p->value);
    return NULL;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define SEQ_EACH(w, seq, item)                                                                   \
    for (yaml_node_item_t *it_ = (seq)->data.sequence.items.start;                               \
         it_ < (seq)->data.sequence.items.top && ((item) = node_get((w), *it_), 1); it_++)

static int seq_len(ynode *seq) {
    return (int)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

/* ---------------------------------------------------------------- engine */

static const char *const level_names[RP_LEVEL_COUNT] = {
    "ip", "subnet", "fingerprint", "token", "session", "username",
};

static int find_level(ynode *n) {
    for (int l = 0; l < RP_LEVEL_COUNT; l++)
        if (scalar_is(n, level_names[l])) return l;
    return -1;
}

static void unknown_name(walker *w, ynode *n, const char *kind, const char *const *names,
                         size_t count) {
    char got[64], h[512];
    if (!is_scalar(n) || is_null(n)) {
        report(w, n, "%s must be a name, got %s", kind, describe(n, got, sizeof got));
        return;
    }
    scalar_copy(n, got, sizeof got);
    hint(got, names, count, h, sizeof h);
    report(w, n, "unknown %s '%s'%s", kind, got, h);
}

static void walk_engine(walker *w, ynode *n) {
    static const char *const keys[] = {"clients", "levels", "max_routes", "norm_period",
                                       "route_decisions"};
    if (!check_keys(w, n, keys, COUNT(keys), "engine", "engine")) return;
    rp_config *c = w->config;
    ynode *v;
    if ((v = map_get(w, n, "clients")) && check_keys(w, v, level_names, RP_LEVEL_COUNT,
                                                      "engine.clients", "engine.clients")) {
        for (int l = 0; l < RP_LEVEL_COUNT; l++) {
            ynode *cap = map_get(w, v, level_names[l]);
            if (cap) get_uint(w, cap, level_names[l], 16, MAX_CAPACITY, &c->capacity[l]);
        }
    }
    if ((v = map_get(w, n, "levels")) && want_type(w, v, YAML_SEQUENCE_NODE, "levels")) {
        bool on[RP_LEVEL_COUNT] = {0};
        ynode *item;
        bool ok = true;
        SEQ_EACH(w, v, item) {
            int l = find_level(item);
            if (l < 0) {
                unknown_name(w, item, "key level", level_names, RP_LEVEL_COUNT);
                ok = false;
            } else {
                on[l] = true;
            }
        }
        if (ok && seq_len(v) == 0) {
            report(w, v, "levels must name at least one key level");
            ok = false;
        }
        if (ok) memcpy(c->level_enabled, on, sizeof on);
    }
    if ((v = map_get(w, n, "max_routes")))
        get_uint(w, v, "max_routes", 16, MAX_ROUTES_LIMIT, &c->max_routes);
    if ((v = map_get(w, n, "norm_period")))
        get_duration(w, v, "norm_period", 60 * (int64_t)US_PER_S, &c->norm_period_us);
    if ((v = map_get(w, n, "route_decisions")))
        get_bool(w, v, "route_decisions", &c->route_decisions);
}

/* ------------------------------------------------------------- inventory */

static const char *const class_names[RP_ROUTE_CLASS_COUNT] = {
    "other", "auth", "object", "listing", "search", "static", "health",
};

static bool get_class(walker *w, ynode *n, int *out) {
    rp_route_class cls;
    if (is_scalar(n) && rp_route_class_parse(scalar_text(n), scalar_len(n), &cls) == RP_OK) {
        *out = (int)cls;
        return true;
    }
    unknown_name(w, n, "route class", class_names, RP_ROUTE_CLASS_COUNT);
    return false;
}

/* "GET", or "ANY" / "*" for every method. */
static bool get_method(walker *w, ynode *n, uint8_t *out) {
    static const char *const names[] = {"GET",   "HEAD",    "POST",  "PUT",     "DELETE",
                                        "PATCH", "OPTIONS", "TRACE", "CONNECT", "ANY"};
    if (scalar_is(n, "ANY") || scalar_is(n, "*")) {
        *out = RP_METHOD_OTHER;
        return true;
    }
    if (is_scalar(n)) {
        rp_method m = rp_method_parse(scalar_text(n), scalar_len(n));
        if (m != RP_METHOD_OTHER) {
            *out = (uint8_t)m;
            return true;
        }
    }
    unknown_name(w, n, "method", names, COUNT(names));
    return false;
}

/* Resolve a relative path against the directory of the config file. */
static bool resolve_path(walker *w, ynode *n, const char *what, char *out, size_t size) {
    char path[256];
    if (!get_string(w, n, what, path, sizeof path)) return false;
    const char *base = w->base ? w->base : w->name;
    const char *slash = base ? strrchr(base, '/') : NULL;
    int len;
    if (path[0] == '/' || !slash)
        len = snprintf(out, size, "%s", path);
    else
        len = snprintf(out, size, "%.*s/%s", (int)(slash - base), base, path);
    if (len < 0 || (size_t)len >= size) {
        report(w, n, "%s path is too long once resolved against the config's directory "
                     "(at most %zu characters)", what, size - 1);
        out[0] = 0;
        return false;
    }
    return true;
}

static void walk_declared(walker *w, ynode *seq) {
    static const char *const keys[] = {"method", "path", "class"};
    ynode *item;
    SEQ_EACH(w, seq, item) {
        if (!check_keys(w, item, keys, COUNT(keys), "a declared route", "a declared route"))
            continue;
        uint8_t method = RP_METHOD_OTHER;
        int cls = -1;
        ynode *v;
        bool ok = true;
        if ((v = map_get(w, item, "method"))) ok &= get_method(w, v, &method);
        if ((v = map_get(w, item, "class"))) ok &= get_class(w, v, &cls);
        ynode *path = map_get(w, item, "path");
        if (!path) {
            report(w, item, "a declared route needs a path, like { method: GET, path: /users/{id} }");
            continue;
        }
        if (!want_scalar(w, path, "path", "a route template like /users/{id}") || !ok) continue;
        rp_status st = rp_config_declare(w->config, method, scalar_text(path), scalar_len(path), cls);
        char got[64];
        if (st == RP_ENOMEM)
            report(w, path, "too many declared routes: at most %d", RP_MAX_DECLARED);
        else if (st != RP_OK)
            report(w, path,
                   "path must be a route template starting with '/' with no spaces or '*', "
                   "parameters as {name}, at most %d characters; got %s",
                   RP_ROUTE_TEMPLATE_MAX - 1, describe(path, got, sizeof got));
    }
}

static void walk_inventory(walker *w, ynode *n) {
    static const char *const keys[] = {"openapi", "learn", "routes"};
    if (!check_keys(w, n, keys, COUNT(keys), "inventory", "inventory")) return;
    ynode *v;
    if ((v = map_get(w, n, "openapi")) && !is_null(v)) {
        resolve_path(w, v, "openapi", w->config->openapi_path, sizeof w->config->openapi_path);
        if (w->fleet && is_scalar(v) && scalar_len(v) && scalar_text(v)[0] != '/')
            warn_at(w, NODE_LINE(v), NODE_COL(v),
                    "inventory.openapi is relative: each node resolves it against its own "
                    "config file's directory (an absolute path, the same on every node, is "
                    "clearer)");
    }
    if ((v = map_get(w, n, "learn"))) get_bool(w, v, "learn", &w->config->learn_routes);
    if ((v = map_get(w, n, "routes")) && !is_null(v) &&
        want_type(w, v, YAML_SEQUENCE_NODE, "inventory.routes"))
        walk_declared(w, v);
}

/* ------------------------------------------------------- allow and proxies */

static bool get_cidr(walker *w, ynode *n, rp_cidr *out) {
    char got[64];
    if (is_scalar(n)) {
        rp_status st = rp_cidr_parse(scalar_text(n), scalar_len(n), out);
        if (st == RP_OK) return true;
        if (st == RP_ERANGE) {
            report(w, n, "CIDR prefix too long in %s: at most /32 for IPv4 and /128 for IPv6",
                   describe(n, got, sizeof got));
            return false;
        }
    }
    report(w, n, "expected an address or a CIDR like 10.0.0.0/8 or 2001:db8::/32, got %s",
           describe(n, got, sizeof got));
    return false;
}

/* A sequence of at most max entries (what names it in the error); false,
 * reported, otherwise. */
static bool bounded_seq(walker *w, ynode *n, const char *what, int max) {
    if (!want_type(w, n, YAML_SEQUENCE_NODE, what)) return false;
    if (seq_len(n) > max) {
        report(w, n, "too many entries in %s: %d, at most %d", what, seq_len(n), max);
        return false;
    }
    return true;
}

/* A list of CIDRs into out[max]; *count is left alone on error. */
static void get_cidr_list(walker *w, ynode *n, const char *what, rp_cidr *out, int max,
                          int *count) {
    if (is_null(n)) {
        *count = 0;
        return;
    }
    if (!bounded_seq(w, n, what, max)) return;
    int k = 0;
    ynode *item;
    SEQ_EACH(w, n, item) {
        if (get_cidr(w, item, &out[k])) k++;
    }
    *count = k;
}

static void walk_allow(walker *w, ynode *n) {
    static const char *const keys[] = {"cidrs", "tokens"};
    if (!check_keys(w, n, keys, COUNT(keys), "allow", "allow")) return;
    rp_config *c = w->config;
    ynode *v;
    if ((v = map_get(w, n, "cidrs")))
        get_cidr_list(w, v, "allow.cidrs", c->allow_cidrs, RP_MAX_CIDRS, &c->n_allow_cidrs);
    if ((v = map_get(w, n, "tokens")) && !is_null(v) &&
        want_type(w, v, YAML_SEQUENCE_NODE, "allow.tokens")) {
        if (seq_len(v) > RP_MAX_TOKENS) {
            report(w, v, "too many entries in allow.tokens: %d, at most %d", seq_len(v),
                   RP_MAX_TOKENS);
            return;
        }
        int k = 0;
        ynode *item;
        SEQ_EACH(w, v, item) {
            if (!want_scalar(w, item, "a token", "text")) continue;
            c->allow_tokens[k++] = rp_hash64(scalar_text(item), scalar_len(item), 0);
        }
        c->n_allow_tokens = k;
    }
}

static void walk_named_string(walker *w, ynode *n, const char *section, const char *key,
                              char *buf, size_t size) {
    const char *const keys[] = {key};
    if (!check_keys(w, n, keys, 1, section, section)) return;
    ynode *v = map_get(w, n, key);
    if (!v) return;
    if (is_null(v))
        buf[0] = 0;
    else
        get_string(w, v, key, buf, size);
}

/* -------------------------------------------------------------- profiles */

static const char *const tolerance_names[RP_TOLERANCE_COUNT] = {"low", "normal", "high"};

static void walk_reactions(walker *w, ynode *n, rp_profile_config *p, const char *where) {
    static const char *const keys[] = {"monitor",  "throttle",   "block",        "throttle_for",
                                       "block_for", "escalation", "max_duration", "escalate_after"};
    if (!check_keys(w, n, keys, COUNT(keys), "reactions", where)) return;
    ynode *v;
    const int64_t second = (int64_t)US_PER_S;
    if ((v = map_get(w, n, "monitor"))) get_number(w, v, "monitor", 0, 1000, "score; above 100 = off", &p->monitor_at);
    if ((v = map_get(w, n, "throttle"))) get_number(w, v, "throttle", 0, 1000, "score; above 100 = off", &p->throttle_at);
    if ((v = map_get(w, n, "block"))) get_number(w, v, "block", 0, 1000, "score; above 100 = off", &p->block_at);
    if ((v = map_get(w, n, "throttle_for"))) get_duration(w, v, "throttle_for", second, &p->throttle_us);
    if ((v = map_get(w, n, "block_for"))) get_duration(w, v, "block_for", second, &p->block_us);
    if ((v = map_get(w, n, "max_duration"))) get_duration(w, v, "max_duration", second, &p->max_duration_us);
    if ((v = map_get(w, n, "escalation"))) get_number(w, v, "escalation", 1, 100, "x", &p->escalation);
    if ((v = map_get(w, n, "escalate_after"))) get_uint(w, v, "escalate_after", 1, 1000, &p->escalate_after);

    /* The enabled reactions must rise with the score. */
    double m = p->monitor_at, t = p->throttle_at, b = p->block_at;
    if ((m <= 100 && t <= 100 && m > t) || (t <= 100 && b <= 100 && t > b) ||
        (m <= 100 && b <= 100 && m > b))
        report(w, n, "reactions must rise with the score: monitor (%g) <= throttle (%g) <= block (%g)",
               m, t, b);
    if (p->throttle_us > p->max_duration_us || p->block_us > p->max_duration_us)
        report(w, n, "throttle_for and block_for must not exceed max_duration");
}

static void walk_detector(walker *w, ynode *n, int d, rp_profile_config *p, const char *profile) {
    const rp_detector *det = rp_detectors[d];
    rp_detector_settings *s = &p->detectors[d];
    char what[96];
    snprintf(what, sizeof what, "detector '%s' in profile '%s'", det->name, profile);
    if (is_null(n)) return; /* "rate:" alone keeps the profile's values */
    if (is_scalar(n)) { /* "rate: false" switches it off */
        get_bool(w, n, det->name, &s->enabled);
        return;
    }
    const char *keys[2 + RP_MAX_PARAMS];
    size_t nk = 0;
    keys[nk++] = "enabled";
    keys[nk++] = "weight";
    for (unsigned i = 0; i < det->n_params && i < RP_MAX_PARAMS; i++) keys[nk++] = det->params[i].name;
    if (!check_keys(w, n, keys, nk, what, what)) return;
    ynode *v;
    if ((v = map_get(w, n, "enabled"))) get_bool(w, v, "enabled", &s->enabled);
    if ((v = map_get(w, n, "weight"))) get_number(w, v, "weight", 0, 100, "", &s->weight);
    for (unsigned i = 0; i < det->n_params && i < RP_MAX_PARAMS; i++) {
        const rp_param *prm = &det->params[i];
        if ((v = map_get(w, n, prm->name)))
            get_number(w, v, prm->name, prm->min, prm->max, prm->unit, &s->params[i]);
    }
}

static void walk_detectors(walker *w, ynode *n, rp_profile_config *p, const char *profile) {
    const char *names[RP_MAX_DETECTORS];
    for (unsigned d = 0; d < rp_detector_count; d++) names[d] = rp_detectors[d]->name;
    if (!want_type(w, n, YAML_MAPPING_NODE, "detectors")) return;
    char where[96];
    snprintf(where, sizeof where, "the detectors of profile '%s'", profile);
    check_keys(w, n, NULL, 0, "detectors", where);
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        ynode *key = node_get(w, pr->key);
        if (!is_scalar(key)) continue;
        int d = rp_detector_find(scalar_text(key), scalar_len(key));
        if (d < 0) {
            unknown_name(w, key, "detector", names, rp_detector_count);
            continue;
        }
        walk_detector(w, node_get(w, pr->value), d, p, profile);
    }
}

static bool valid_profile_name(const char *s, size_t n) {
    if (n == 0 || n >= RP_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static int find_profile(const rp_config *c, const char *s, size_t n) {
    for (int i = 0; i < c->n_profiles; i++)
        if (strlen(c->profiles[i].name) == n && memcmp(c->profiles[i].name, s, n) == 0) return i;
    return -1;
}

static void walk_profile(walker *w, ynode *key, ynode *n) {
    static const char *const keys[] = {"tolerance", "reactions", "detectors"};
    rp_config *c = w->config;
    char name[RP_NAME_MAX];
    if (!is_scalar(key) || !valid_profile_name(scalar_text(key), scalar_len(key))) {
        char got[64];
        report(w, key, "a profile name must be 1 to %d letters, digits, '_', '-' or '.', got %s",
               RP_NAME_MAX - 1, describe(key, got, sizeof got));
        return;
    }
    scalar_copy(key, name, sizeof name);
    int idx = find_profile(c, name, strlen(name));
    if (idx < 0) {
        if (c->n_profiles >= RP_MAX_PROFILES) {
            if (!w->said_too_many_profiles)
                report(w, key, "too many profiles: at most %d", RP_MAX_PROFILES);
            w->said_too_many_profiles = true;
            return;
        }
        idx = c->n_profiles++;
        rp_profile_defaults(&c->profiles[idx], name, RP_TOLERANCE_NORMAL);
    }
    rp_profile_config *p = &c->profiles[idx];
    if (is_null(n)) return; /* "strict:" alone = the normal presets */
    char where[64];
    snprintf(where, sizeof where, "profile '%s'", name);
    if (!check_keys(w, n, keys, COUNT(keys), where, where)) return;
    ynode *v;
    if ((v = map_get(w, n, "tolerance"))) {
        int t = -1;
        for (int i = 0; i < RP_TOLERANCE_COUNT; i++)
            if (scalar_is(v, tolerance_names[i])) t = i;
        if (t < 0)
            unknown_name(w, v, "tolerance", tolerance_names, RP_TOLERANCE_COUNT);
        else
            rp_profile_defaults(p, name, (rp_tolerance)t);
    }
    char rwhere[96];
    snprintf(rwhere, sizeof rwhere, "the reactions of profile '%s'", name);
    if ((v = map_get(w, n, "reactions"))) walk_reactions(w, v, p, rwhere);
    if ((v = map_get(w, n, "detectors")) && !is_null(v)) walk_detectors(w, v, p, name);
}

static void walk_profiles(walker *w, ynode *n) {
    if (!check_keys(w, n, NULL, 0, "profiles", "profiles")) return;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++)
        walk_profile(w, node_get(w, p->key), node_get(w, p->value));
}

/* ----------------------------------------------------------------- rules */

/* "POST /api/login", "/static/" + "*", or "*" alone. */
static bool parse_match(walker *w, ynode *n, rp_route_rule *r) {
    char got[64];
    if (!want_scalar(w, n, "match", "\"METHOD /path\" or \"/path\"")) return false;
    const char *s = scalar_text(n);
    size_t len = scalar_len(n);
    const char *space = memchr(s, ' ', len);
    r->method = RP_METHOD_OTHER;
    if (space) {
        size_t ml = (size_t)(space - s);
        rp_method m = rp_method_parse(s, ml);
        bool any = (ml == 3 && memcmp(s, "ANY", 3) == 0) || (ml == 1 && s[0] == '*');
        if (m == RP_METHOD_OTHER && !any) {
            report(w, n, "match must start with an HTTP method (GET, POST, ... or ANY), got '%.*s'",
                   (int)(ml > 20 ? 20 : ml), s);
            return false;
        }
        r->method = (uint8_t)m;
        while (space < s + len && *space == ' ') space++;
        len -= (size_t)(space - s);
        s = space;
    }
    const char *star = memchr(s, '*', len);
    bool ok = len > 0 && len < sizeof r->glob && (s[0] == '/' || (len == 1 && s[0] == '*')) &&
              (!star || star == s + len - 1) && !memchr(s, ' ', len);
    if (!ok) {
        report(w, n, "match must be \"METHOD /path\" with a path starting with '/', '*' only at "
                     "the end, at most %zu characters; got %s",
               sizeof r->glob - 1, describe(n, got, sizeof got));
        return false;
    }
    memcpy(r->glob, s, len);
    r->glob[len] = 0;
    return true;
}

static void walk_rule(walker *w, ynode *n) {
    static const char *const keys[] = {"match", "profile", "class", "skip", "cidrs"};
    rp_config *c = w->config;
    if (!check_keys(w, n, keys, COUNT(keys), "a route rule", "a route rule")) return;
    rp_route_rule r;
    memset(&r, 0, sizeof r);
    r.profile = -1;
    r.cls = -1;
    bool ok = true;
    ynode *v = map_get(w, n, "match");
    if (!v) {
        report(w, n, "a route rule needs match, like match: \"POST /api/login\"");
        ok = false;
    } else {
        ok &= parse_match(w, v, &r);
    }
    if ((v = map_get(w, n, "profile"))) {
        int idx = is_scalar(v) ? find_profile(c, scalar_text(v), scalar_len(v)) : -1;
        if (idx < 0) {
            const char *names[RP_MAX_PROFILES];
            for (int i = 0; i < c->n_profiles; i++) names[i] = c->profiles[i].name;
            unknown_name(w, v, "profile", names, (size_t)c->n_profiles);
            ok = false;
        }
        r.profile = idx;
    }
    if ((v = map_get(w, n, "class"))) ok &= get_class(w, v, &r.cls);
    if ((v = map_get(w, n, "skip")) && !is_null(v)) {
        const char *names[RP_MAX_DETECTORS];
        for (unsigned d = 0; d < rp_detector_count; d++) names[d] = rp_detectors[d]->name;
        if (want_type(w, v, YAML_SEQUENCE_NODE, "skip")) {
            ynode *item;
            SEQ_EACH(w, v, item) {
                int d = is_scalar(item) ? rp_detector_find(scalar_text(item), scalar_len(item)) : -1;
                if (d < 0) {
                    unknown_name(w, item, "detector", names, rp_detector_count);
                    ok = false;
                } else {
                    r.skip_detectors |= 1u << d;
                }
            }
        } else {
            ok = false;
        }
    }
    if ((v = map_get(w, n, "cidrs"))) {
        int before = w->n_errors;
        get_cidr_list(w, v, "cidrs", r.cidrs, (int)COUNT(r.cidrs), &r.n_cidrs);
        ok &= w->n_errors == before;
    }
    if (!ok) return;
    if (c->n_rules >= RP_MAX_RULES) {
        report(w, n, "too many route rules: at most %d", RP_MAX_RULES);
        return;
    }
    int scoped = 0;
    for (int i = 0; i < c->n_rules; i++) scoped += c->rules[i].n_cidrs > 0;
    if (r.n_cidrs > 0 && scoped >= RP_MAX_SCOPED_RULES) {
        report(w, n, "too many route rules with cidrs: at most %d", RP_MAX_SCOPED_RULES);
        return;
    }
    c->rules[c->n_rules++] = r;
}

static void walk_rules(walker *w, ynode *n) {
    if (is_null(n)) return;
    if (!want_type(w, n, YAML_SEQUENCE_NODE, "routes")) return;
    ynode *item;
    SEQ_EACH(w, n, item) walk_rule(w, item);
}

/* ----------------------------------------------------------------- serve */

/* The daemon's settings. The engine ignores them, but they are checked
 * here like the rest so that `rampart check-config` catches a bad port or
 * size before a restart does. */

#define QUEUE_MIN (UINT64_C(64) << 10)
#define QUEUE_MAX (UINT64_C(4) << 30)
#define TABLE_CAPACITY_MIN 1024u
#define TABLE_CAPACITY_MAX (16u << 20)
#define UNIX_PATH_MAX 108 /* sizeof sockaddr_un.sun_path on Linux */

/* "127.0.0.1:9090", "[::1]:9090", "localhost:9090"; port 0..65535. */
static bool valid_listen(const char *s, size_t len) {
    const char *colon;
    if (len > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close || close + 1 >= s + len || close[1] != ':') return false;
        rp_addr a;
        if (rp_addr_parse(s + 1, (size_t)(close - s - 1), &a) != RP_OK || a.family != 6)
            return false;
        colon = close + 1;
    } else {
        colon = memchr(s, ':', len);
        if (!colon) return false;
        size_t hlen = (size_t)(colon - s);
        rp_addr a;
        bool local = hlen == 9 && memcmp(s, "localhost", 9) == 0;
        if (!local && (rp_addr_parse(s, hlen, &a) != RP_OK || a.family != 4)) return false;
    }
    size_t plen = len - (size_t)(colon + 1 - s);
    if (plen == 0 || plen > 5) return false;
    unsigned port = 0;
    for (size_t i = 0; i < plen; i++) {
        char c = colon[1 + i];
        if (c < '0' || c > '9') return false;
        port = port * 10 + (unsigned)(c - '0');
    }
    return port <= 65535;
}

/* host:port into buf; a null or empty value means "off" when allowed. */
static void get_listen(walker *w, ynode *n, const char *what, bool may_be_off, char *buf,
                       size_t size) {
    if (may_be_off && (is_null(n) || (is_scalar(n) && scalar_len(n) == 0))) {
        buf[0] = 0;
        return;
    }
    char tmp[64];
    if (!get_string(w, n, what, tmp, sizeof tmp < size ? sizeof tmp : size)) return;
    if (!valid_listen(tmp, strlen(tmp))) {
        report(w, n, "%s must be host:port with an IPv4 address, [IPv6] or localhost and a port "
                     "0..65535%s, got '%s'", what, may_be_off ? " (or \"\" for off)" : "", tmp);
        return;
    }
    memcpy(buf, tmp, strlen(tmp) + 1);
}

/* A path, resolved against the config's directory. With may_be_off, null
 * or "" leaves it empty (the feature is off); without, it must be given. */
static void get_path(walker *w, ynode *n, const char *what, bool may_be_off, char *buf,
                     size_t size) {
    if (is_null(n) || (is_scalar(n) && scalar_len(n) == 0)) {
        if (may_be_off)
            buf[0] = 0;
        else
            report(w, n, "%s must be a file path; it cannot be empty", what);
        return;
    }
    char tmp[256];
    if (resolve_path(w, n, what, tmp, size < sizeof tmp ? size : sizeof tmp))
        memcpy(buf, tmp, strlen(tmp) + 1);
}

/* "64MiB", "512KiB", "1GiB", "65536" (bytes). */
static bool parse_size(ynode *n, uint64_t *out) {
    static const struct { const char *suffix; unsigned shift; } units[] = {
        {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"B", 0},
    };
    char buf[32];
    if (!is_scalar(n) || scalar_len(n) == 0 || scalar_len(n) >= sizeof buf) return false;
    scalar_copy(n, buf, sizeof buf);
    size_t len = strlen(buf);
    unsigned shift = 0;
    for (size_t i = 0; i < COUNT(units); i++) {
        size_t sl = strlen(units[i].suffix);
        if (len > sl && strcmp(buf + len - sl, units[i].suffix) == 0) {
            shift = units[i].shift;
            len -= sl;
            break;
        }
    }
    while (len > 0 && buf[len - 1] == ' ') len--;
    if (len == 0 || len > 12) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] < '0' || buf[i] > '9') return false;
        v = v * 10 + (uint64_t)(buf[i] - '0');
    }
    if (v > (UINT64_MAX >> shift)) return false;
    *out = v << shift;
    return true;
}

static void get_size(walker *w, ynode *n, const char *what, uint64_t min, uint64_t max,
                     uint64_t *out) {
    uint64_t v;
    if (!parse_size(n, &v) || v < min || v > max) {
        char got[64];
        report(w, n, "%s must be a size between %llu KiB and %llu GiB (bytes, or a KiB, MiB or "
                     "GiB suffix), got %s", what, (unsigned long long)(min >> 10),
               (unsigned long long)(max >> 30), describe(n, got, sizeof got));
        return;
    }
    *out = v;
}

/* One of names[]; the index, or -1 after a report. */
static int get_choice(walker *w, ynode *n, const char *what, const char *const *names,
                      size_t count) {
    for (size_t i = 0; i < count; i++)
        if (scalar_is(n, names[i])) return (int)i;
    unknown_name(w, n, what, names, count);
    return -1;
}

static void walk_tail(walker *w, ynode *n, rp_serve_config *sv) {
    if (is_null(n)) {
        sv->n_tail = 0;
        return;
    }
    const int max = (int)COUNT(sv->tail);
    if (is_scalar(n)) { /* one file without the brackets */
        get_path(w, n, "tail", true, sv->tail[0], sizeof sv->tail[0]);
        sv->n_tail = sv->tail[0][0] ? 1 : 0;
        return;
    }
    if (!want_type(w, n, YAML_SEQUENCE_NODE, "tail")) return;
    if (seq_len(n) > max) {
        report(w, n, "too many files in tail: %d, at most %d", seq_len(n), max);
        return;
    }
    int k = 0;
    ynode *item;
    SEQ_EACH(w, n, item) {
        get_path(w, item, "a tailed file", false, sv->tail[k], sizeof sv->tail[k]);
        if (sv->tail[k][0]) k++;
    }
    sv->n_tail = k;
}

static void walk_retention(walker *w, ynode *n, rp_serve_config *sv) {
    static const char *const keys[] = {"incidents", "decisions"};
    if (!check_keys(w, n, keys, COUNT(keys), "serve.retention", "serve.retention")) return;
    ynode *v;
    if ((v = map_get(w, n, "incidents")))
        get_duration(w, v, "retention.incidents (0 = keep forever)", 0, &sv->keep_incidents_us);
    if ((v = map_get(w, n, "decisions")))
        get_duration(w, v, "retention.decisions (0 = keep forever)", 0, &sv->keep_decisions_us);
}

#define ADMIN_CONNECTIONS_MIN 16u
#define ADMIN_CONNECTIONS_MAX 16384u

/* Host names for serve.admin_hosts: letters, digits, '-', '.', ':' (an
 * IPv6 literal), no port. */
static void walk_admin_hosts(walker *w, ynode *n, rp_serve_config *sv) {
    if (is_null(n)) {
        sv->n_admin_hosts = 0;
        return;
    }
    const int max = (int)COUNT(sv->admin_hosts);
    if (!bounded_seq(w, n, "admin_hosts", max)) return;
    int k = 0;
    ynode *item;
    SEQ_EACH(w, n, item) {
        char host[128];
        if (!get_string(w, item, "an admin host", host, sizeof host)) continue;
        bool ok = host[0] != 0;
        for (const char *p = host; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("-.:[]", *p)) ok = false;
        if (!ok) {
            report(w, item, "admin_hosts holds host names without a port, like "
                            "rampart.internal, got '%s'", host);
            continue;
        }
        memcpy(sv->admin_hosts[k++], host, strlen(host) + 1);
    }
    sv->n_admin_hosts = k;
}

static void walk_admin_limits(walker *w, ynode *n, rp_serve_config *sv) {
    static const char *const keys[] = {"connections", "per_address", "request_timeout"};
    if (!check_keys(w, n, keys, COUNT(keys), "serve.admin_limits", "serve.admin_limits")) return;
    ynode *v;
    if ((v = map_get(w, n, "connections")))
        get_uint(w, v, "admin_limits.connections", ADMIN_CONNECTIONS_MIN, ADMIN_CONNECTIONS_MAX,
                 &sv->admin_connections);
    if ((v = map_get(w, n, "per_address")))
        get_uint(w, v, "admin_limits.per_address", 1, ADMIN_CONNECTIONS_MAX,
                 &sv->admin_per_address);
    int64_t t;
    if ((v = map_get(w, n, "request_timeout")) &&
        get_duration(w, v, "admin_limits.request_timeout", 100000, &t)) {
        if (t > INT64_C(300000000))
            report(w, v, "admin_limits.request_timeout must be at most 300s");
        else
            sv->admin_request_timeout_us = t;
    }
}

static void walk_check(walker *w, ynode *n, rp_serve_config *sv) {
    static const char *const keys[] = {"listen", "trusted_proxies", "client_header"};
    static const char *const headers[] = {"x-forwarded-for", "x-real-ip"};
    if (!check_keys(w, n, keys, COUNT(keys), "serve.check", "serve.check")) return;
    ynode *v;
    if ((v = map_get(w, n, "listen")))
        get_listen(w, v, "check.listen", true, sv->check_listen, sizeof sv->check_listen);
    if ((v = map_get(w, n, "trusted_proxies")))
        get_cidr_list(w, v, "check.trusted_proxies", sv->check_proxies,
                      (int)COUNT(sv->check_proxies), &sv->n_check_proxies);
    if ((v = map_get(w, n, "client_header"))) {
        int h = get_choice(w, v, "check.client_header", headers, COUNT(headers));
        if (h >= 0) sv->check_real_ip = h == 1;
    }
}

/* A user or group: a name as useradd accepts it, or a number. The daemon
 * resolves names when it starts (the engine does no I/O). */
static bool valid_principal(const char *s) {
    if (!*s || *s == '-') return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '-' || *p == '.'))
            return false;
    return true;
}

static bool get_principal(walker *w, ynode *n, const char *what, char *buf, size_t size) {
    char tmp[32];
    if (!get_string(w, n, what, tmp, sizeof tmp < size ? sizeof tmp : size)) return false;
    if (!valid_principal(tmp)) {
        report(w, n, "%s must be a user or group name (letters, digits, _ . -) or a number, "
                     "got '%s'", what, tmp);
        return false;
    }
    memcpy(buf, tmp, strlen(tmp) + 1);
    return true;
}

static void get_principal_list(walker *w, ynode *n, const char *what, char (*out)[32],
                               int *count) {
    if (is_null(n)) {
        *count = 0;
        return;
    }
    if (!bounded_seq(w, n, what, RP_MAX_SENDERS)) return;
    int k = 0;
    ynode *item;
    SEQ_EACH(w, n, item) {
        if (get_principal(w, item, what, out[k], sizeof out[k])) k++;
    }
    *count = k;
}

/* "0660": octal permission bits, as chmod takes them. */
static void get_mode(walker *w, ynode *n, const char *what, uint32_t *out) {
    bool ok = is_scalar(n) && scalar_len(n) >= 3 && scalar_len(n) <= 4;
    uint32_t v = 0;
    for (size_t i = 0; ok && i < scalar_len(n); i++) {
        char c = scalar_text(n)[i];
        if (c < '0' || c > '7') ok = false;
        v = v << 3 | (uint32_t)(c - '0');
    }
    if (!ok || v > 0777 || (v & 0600) != 0600) {
        char got[64];
        report(w, n, "%s must be octal permission bits like \"0660\" that let the owner read "
                     "and write, got %s", what, describe(n, got, sizeof got));
        return;
    }
    *out = v;
}

/* Who may send events: the socket file's group and mode, the senders the
 * datagram input accepts, the sources the syslog input accepts. */
static void walk_senders(walker *w, ynode *n, rp_serve_config *sv) {
    ynode *v;
    if ((v = map_get(w, n, "socket_group"))) {
        if (is_unset(v))
            sv->socket_group[0] = 0;
        else
            get_principal(w, v, "socket_group", sv->socket_group, sizeof sv->socket_group);
    }
    if ((v = map_get(w, n, "socket_mode"))) get_mode(w, v, "socket_mode", &sv->socket_mode);
    if ((v = map_get(w, n, "socket_users")))
        get_principal_list(w, v, "socket_users", sv->socket_users, &sv->n_socket_users);
    if ((v = map_get(w, n, "socket_groups")))
        get_principal_list(w, v, "socket_groups", sv->socket_groups, &sv->n_socket_groups);
    if ((v = map_get(w, n, "syslog_allow")))
        get_cidr_list(w, v, "syslog_allow", sv->syslog_allow, RP_MAX_SENDERS,
                      &sv->n_syslog_allow);
}

static void walk_serve(walker *w, ynode *n) {
    static const char *const keys[] = {"socket", "syslog",         "tail",  "tail_from_start",
                                       "tail_format", "table",     "table_capacity", "store",
                                       "admin",  "token_file",     "queue", "retention",
                                       "log",    "admin_hosts",    "admin_limits", "check",
                                       "socket_group", "socket_mode", "socket_users",
                                       "socket_groups", "syslog_allow"};
    static const char *const formats[] = {"auto", "combined", "json"};
    static const char *const logs[] = {"text", "json"};
    if (!check_keys(w, n, keys, COUNT(keys), "serve", "serve")) return;
    rp_serve_config *sv = &w->config->serve;
    ynode *v;
    if ((v = map_get(w, n, "socket"))) {
        get_path(w, v, "socket", true, sv->socket_path, sizeof sv->socket_path);
        if (strlen(sv->socket_path) >= UNIX_PATH_MAX) {
            report(w, v, "socket path must be at most %d characters (a unix socket limit)",
                   UNIX_PATH_MAX - 1);
            sv->socket_path[0] = 0;
        }
    }
    if ((v = map_get(w, n, "syslog")))
        get_listen(w, v, "syslog", true, sv->syslog_listen, sizeof sv->syslog_listen);
    if ((v = map_get(w, n, "tail"))) walk_tail(w, v, sv);
    if ((v = map_get(w, n, "tail_from_start")))
        get_bool(w, v, "tail_from_start", &sv->tail_from_start);
    if ((v = map_get(w, n, "tail_format"))) {
        int f = get_choice(w, v, "tail_format", formats, COUNT(formats));
        if (f >= 0) snprintf(sv->tail_format, sizeof sv->tail_format, "%s", formats[f]);
    }
    if ((v = map_get(w, n, "table")))
        get_path(w, v, "table", false, sv->table_path, sizeof sv->table_path);
    if ((v = map_get(w, n, "table_capacity")))
        get_uint(w, v, "table_capacity", TABLE_CAPACITY_MIN, TABLE_CAPACITY_MAX,
                 &sv->table_capacity);
    if ((v = map_get(w, n, "store")))
        get_path(w, v, "store", false, sv->store_path, sizeof sv->store_path);
    if ((v = map_get(w, n, "admin")))
        get_listen(w, v, "admin", true, sv->admin_listen, sizeof sv->admin_listen);
    if ((v = map_get(w, n, "token_file")))
        get_path(w, v, "token_file", true, sv->token_file, sizeof sv->token_file);
    if ((v = map_get(w, n, "queue"))) get_size(w, v, "queue", QUEUE_MIN, QUEUE_MAX, &sv->queue_bytes);
    if ((v = map_get(w, n, "retention")) && !is_null(v)) walk_retention(w, v, sv);
    if ((v = map_get(w, n, "admin_hosts"))) walk_admin_hosts(w, v, sv);
    if ((v = map_get(w, n, "admin_limits")) && !is_null(v)) walk_admin_limits(w, v, sv);
    if ((v = map_get(w, n, "check")) && !is_null(v)) walk_check(w, v, sv);
    walk_senders(w, n, sv);
    if ((v = map_get(w, n, "log"))) {
        int f = get_choice(w, v, "log format", logs, COUNT(logs));
        if (f >= 0) sv->log_json = f == 1;
    }
}

/* --------------------------------------------------------------- cluster */

/* Redis's address: "host:port" (a name, an IPv4 address or [IPv6], the
 * port 1..65535) or the path of its unix socket, which begins with '/'.
 * Names are allowed here, unlike the listeners': Redis is a service
 * found by name, and hiredis resolves it when the daemon connects. */
static bool valid_redis_address(const char *s, size_t len) {
    if (len > 0 && s[0] == '/') return len < UNIX_PATH_MAX;
    const char *colon = NULL;
    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    if (!colon || colon == s) return false;
    size_t hlen = (size_t)(colon - s);
    if (s[0] == '[') {
        rp_addr a;
        if (hlen < 3 || s[hlen - 1] != ']' || rp_addr_parse(s + 1, hlen - 2, &a) != RP_OK)
            return false;
    } else {
        for (size_t i = 0; i < hlen; i++) {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '-'))
                return false;
        }
    }
    size_t plen = len - hlen - 1;
    if (plen == 0 || plen > 5) return false;
    unsigned port = 0;
    for (size_t i = 0; i < plen; i++) {
        char c = colon[1 + i];
        if (c < '0' || c > '9') return false;
        port = port * 10 + (unsigned)(c - '0');
    }
    return port >= 1 && port <= 65535;
}

/* A stream, group or key prefix: printable, no spaces (they are Redis
 * keys and appear in logs and metrics). */
static void get_redis_name(walker *w, ynode *n, const char *what, char *buf, size_t size) {
    char tmp[128];
    if (!get_string(w, n, what, tmp, sizeof tmp < size ? sizeof tmp : size)) return;
    bool ok = tmp[0] != 0;
    for (const char *p = tmp; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127) ok = false;
    if (!ok) {
        report(w, n, "%s must be a Redis name: printable, without spaces, not empty, got '%s'",
               what, tmp);
        return;
    }
    memcpy(buf, tmp, strlen(tmp) + 1);
}

/* A Redis name that may be unset (null or ""): cleared, its default applies. */
static void get_optional_redis_name(walker *w, ynode *n, const char *what, char *buf,
                                    size_t size) {
    if (is_unset(n)) buf[0] = 0;
    else get_redis_name(w, n, what, buf, size);
}

/* A list of host:port (cluster.sentinels, cluster.redis_cluster): at most
 * max, no unix socket (a sentinel or a cluster node is asked for other
 * nodes' addresses, which are TCP). Null or absent: left as it is. */
static void get_node_list(walker *w, ynode *list, const char *what, char (*out)[128],
                          unsigned max, unsigned *count) {
    if (!list || is_null(list) || !want_type(w, list, YAML_SEQUENCE_NODE, what)) return;
    if (seq_len(list) > (int)max) {
        report(w, list, "too many entries in cluster.%s: %d, at most %u", what, seq_len(list),
               max);
        return;
    }
    *count = 0;
    ynode *item;
    SEQ_EACH(w, list, item) {
        char tmp[128];
        if (!get_string(w, item, what, tmp, sizeof tmp)) continue;
        if (tmp[0] == '/' || !valid_redis_address(tmp, strlen(tmp))) {
            report(w, item, "%s entries must be host:port (a name, an IPv4 address or [IPv6], a "
                            "port 1..65535), got '%s'", what, tmp);
            continue;
        }
        memcpy(out[(*count)++], tmp, strlen(tmp) + 1);
    }
}

/* Which fleet keys (rp_cluster_fleet_keys) the file names, for the merge;
 * in a fleet file, a warning for each node-local key. */
static void mark_fleet_keys(walker *w, ynode *n, rp_cluster_config *cl) {
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        ynode *key = node_get(w, p->key);
        if (!is_scalar(key)) continue;
        bool fleet_key = false;
        for (size_t k = 0; k < rp_cluster_n_fleet_keys; k++)
            if (scalar_is(key, rp_cluster_fleet_keys[k].name)) {
                cl->named |= 1u << k;
                fleet_key = true;
            }
        char kbuf[64];
        if (w->fleet && !fleet_key)
            warn_at(w, NODE_LINE(key), NODE_COL(key),
                    "cluster.%s is node-local: ignored in a fleet file (each node's own file "
                    "sets it)", scalar_copy(key, kbuf, sizeof kbuf));
    }
}

static void walk_cluster(walker *w, ynode *n) {
    static const char *const keys[] = {"redis",  "role",      "stream",       "group",
                                       "decisions", "password_file", "stream_maxlen",
                                       "consumer", "lease_ms", "claim_idle_ms",
                                       "user", "buffer_mb", "spool_sync_ms", "local_detection",
                                       "sentinels", "master_name", "partitions",
                                       "wait_replicas", "wait_ms", "node", "incidents_maxlen", "sentinel_user",
                                       "sentinel_password_file", "redis_cluster", "config_key"};
    static const char *const roles[] = {"standalone", "edge", "detector"};
    if (!check_keys(w, n, keys, COUNT(keys), "cluster", "cluster")) return;
    rp_cluster_config *cl = &w->config->cluster;
    mark_fleet_keys(w, n, cl);
    ynode *ck = map_get(w, n, "config_key");
    if (ck) get_redis_name(w, ck, "config_key", cl->config_key, sizeof cl->config_key);
    ynode *v, *role = NULL;
    if ((v = map_get(w, n, "redis"))) {
        if (is_unset(v)) {
            cl->redis[0] = 0;
        } else {
            char tmp[256];
            if (get_string(w, v, "redis", tmp, sizeof tmp)) {
                if (valid_redis_address(tmp, strlen(tmp)))
                    memcpy(cl->redis, tmp, strlen(tmp) + 1);
                else
                    report(w, v, "redis must be host:port (a name, an IPv4 address or [IPv6], "
                                 "a port 1..65535) or a unix socket path beginning with '/', "
                                 "got '%s'", tmp);
            }
        }
    }
    if ((role = map_get(w, n, "role"))) {
        int r = get_choice(w, role, "role", roles, COUNT(roles));
        if (r >= 0) cl->role = (rp_cluster_role)r;
    }
    if ((v = map_get(w, n, "stream"))) get_redis_name(w, v, "stream", cl->stream, sizeof cl->stream);
    if ((v = map_get(w, n, "group"))) get_redis_name(w, v, "group", cl->group, sizeof cl->group);
    if ((v = map_get(w, n, "decisions")))
        get_redis_name(w, v, "decisions", cl->decisions, sizeof cl->decisions);
    if ((v = map_get(w, n, "password_file")))
        get_path(w, v, "password_file", true, cl->password_file, sizeof cl->password_file);
    if ((v = map_get(w, n, "stream_maxlen")))
        get_uint(w, v, "stream_maxlen", 1000, 1000000000, &cl->stream_maxlen);
    if ((v = map_get(w, n, "consumer"))) { /* "" or null: host-<store hash> */
        get_optional_redis_name(w, v, "consumer", cl->consumer, sizeof cl->consumer);
    }
    if ((v = map_get(w, n, "lease_ms"))) get_uint(w, v, "lease_ms", 300, 60000, &cl->lease_ms);
    if ((v = map_get(w, n, "claim_idle_ms")))
        get_uint(w, v, "claim_idle_ms", 100, 600000, &cl->claim_idle_ms);
    if ((v = map_get(w, n, "user"))) { /* "" or null: AUTH with the password alone */
        get_optional_redis_name(w, v, "user", cl->user, sizeof cl->user);
    }
    if ((v = map_get(w, n, "buffer_mb"))) get_uint(w, v, "buffer_mb", 0, 65536, &cl->buffer_mb);
    if ((v = map_get(w, n, "spool_sync_ms")))
        get_uint(w, v, "spool_sync_ms", 0, 60000, &cl->spool_sync_ms);
    if ((v = map_get(w, n, "local_detection")))
        get_bool(w, v, "local_detection", &cl->local_detection);
    if ((v = map_get(w, n, "partitions")))
        get_uint(w, v, "partitions", 1, 256, &cl->partitions);
    ynode *sentinels = map_get(w, n, "sentinels");
    get_node_list(w, sentinels, "sentinels", cl->sentinels, RP_CLUSTER_MAX_SENTINELS,
                  &cl->n_sentinels);
    ynode *seeds = map_get(w, n, "redis_cluster");
    get_node_list(w, seeds, "redis_cluster", cl->cluster_nodes, RP_CLUSTER_MAX_SEEDS,
                  &cl->n_cluster_nodes);
    /* Redis Cluster runs a multi-key command or script only within one
     * slot: the default names share the hash tag {rampart}. */
    if (cl->n_cluster_nodes && !map_get(w, n, "stream"))
        snprintf(cl->stream, sizeof cl->stream, "{rampart}:events");
    if (cl->n_cluster_nodes && !map_get(w, n, "decisions"))
        snprintf(cl->decisions, sizeof cl->decisions, "{rampart}:decisions");
    if ((v = map_get(w, n, "sentinel_user"))) { /* "" or null: AUTH password only */
        get_optional_redis_name(w, v, "sentinel_user", cl->sentinel_user, sizeof cl->sentinel_user);
    }
    if ((v = map_get(w, n, "sentinel_password_file")))
        get_path(w, v, "sentinel_password_file", true, cl->sentinel_password_file,
                 sizeof cl->sentinel_password_file);
    if ((v = map_get(w, n, "master_name")))
        get_redis_name(w, v, "master_name", cl->master_name, sizeof cl->master_name);
    if ((v = map_get(w, n, "wait_replicas")))
        get_uint(w, v, "wait_replicas", 0, 16, &cl->wait_replicas);
    else if (cl->n_sentinels || cl->n_cluster_nodes)
        cl->wait_replicas = 1; /* a failover must not lose the last decisions */
    if ((v = map_get(w, n, "wait_ms"))) get_uint(w, v, "wait_ms", 1, 10000, &cl->wait_ms);
    if ((v = map_get(w, n, "node")) && !is_null(v)) { /* null: the hostname */
        char tmp[256];
        if (get_string(w, v, "node", tmp, sizeof tmp)) {
            if (rp_node_name_valid(tmp, strlen(tmp)))
                memcpy(cl->node, tmp, strlen(tmp) + 1);
            else
                report(w, v, "node must be 1..%d characters of letters, digits, '.', '_' and "
                             "'-' (a hostname), got '%s'", RP_NODE_NAME_MAX, tmp);
        }
    }
    if ((v = map_get(w, n, "incidents_maxlen")))
        get_uint(w, v, "incidents_maxlen", 100, 10000000, &cl->incidents_maxlen);
    if (cl->n_sentinels && cl->redis[0])
        report(w, sentinels, "sentinels and cluster.redis are exclusive: the master's address "
                             "comes from the sentinels");
    if (cl->n_cluster_nodes && (cl->redis[0] || cl->n_sentinels))
        report(w, seeds, "redis_cluster is exclusive with cluster.redis and cluster.sentinels: "
                         "the masters' addresses come from the cluster's slot map");
    char why[400];
    if (cl->n_cluster_nodes && !rp_cluster_one_slot(cl, NULL, why, sizeof why))
        report(w, seeds, "with redis_cluster every key of the fleet must hash to one slot (the "
                         "decision write and the scripts span several keys): %s; give "
                         "cluster.stream and cluster.decisions the same hash tag, e.g. "
                         "'{rampart}:events' and '{rampart}:decisions'", why);
    if (cl->sentinel_user[0] && !cl->sentinel_password_file[0])
        report(w, map_get(w, n, "sentinel_user"),
               "sentinel_user %s needs cluster.sentinel_password_file (AUTH user password)",
               cl->sentinel_user);
    if (cl->sentinel_password_file[0] && !cl->n_sentinels)
        report(w, map_get(w, n, "sentinel_password_file"),
               "sentinel_password_file needs cluster.sentinels (it is sent to the sentinels)");
    if (cl->user[0] && !cl->password_file[0])
        report(w, map_get(w, n, "user"), "user %s needs cluster.password_file (AUTH user password)",
               cl->user);
    /* Redis Cluster: the fleet's configuration lives in the fleet's slot */
    if (cl->n_cluster_nodes && !ck) /* in the decisions' slot, by their hash tag */
        snprintf(cl->config_key, sizeof cl->config_key, "%.110s:config", cl->decisions);
    if (cl->n_cluster_nodes && rp_redis_keyslot(cl->config_key, strlen(cl->config_key)) !=
                                   rp_redis_keyslot(cl->decisions, strlen(cl->decisions)))
        report(w, ck ? ck : n, "with redis_cluster, config_key '%s' must hash to the fleet's slot: "
                               "give it cluster.decisions' hash tag, e.g. '{rampart}:config'",
               cl->config_key);
    /* role is node-local in a fleet file: the nodes ignore it (warned) */
    if (!w->fleet && cl->role != RP_CLUSTER_STANDALONE && !cl->redis[0] && !cl->n_sentinels &&
        !cl->n_cluster_nodes)
        report(w, role, "role %s needs cluster.redis (host:port or a unix socket path), "
                        "cluster.sentinels or cluster.redis_cluster",
               roles[cl->role]);
}

/* ---------------------------------------------------------------- alerts */

/* A webhook's URL: http:// or https://, a host, no spaces or control
 * characters (it goes to libcurl as it is). */
static bool valid_webhook_url(const char *s) {
    size_t skip = strncmp(s, "http://", 7) == 0 ? 7 : strncmp(s, "https://", 8) == 0 ? 8 : 0;
    if (!skip || !s[skip] || s[skip] == '/' || s[skip] == ':') return false;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127) return false;
    return true;
}

/* An HTTP header name: an RFC 9110 token. */
static bool valid_header_name(const char *s) {
    if (!*s) return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p)) return false;
    return true;
}

/* headers: {Name: value} or header_files: {Name: /path/to/file}. */
static void walk_webhook_headers(walker *w, ynode *n, bool from_file, rp_webhook_config *wh) {
    if (is_null(n)) return;
    if (!check_keys(w, n, NULL, 0, from_file ? "header_files" : "headers",
                    from_file ? "header_files" : "headers"))
        return;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        ynode *k = node_get(w, p->key), *v = node_get(w, p->value);
        char name[64];
        if (!is_scalar(k)) continue; /* reported by check_keys */
        if (wh->n_headers >= RP_WEBHOOK_MAX_HEADERS) {
            report(w, k, "too many headers for one webhook: at most %d", RP_WEBHOOK_MAX_HEADERS);
            return;
        }
        if (!get_string(w, k, "a header name", name, sizeof name)) continue;
        if (!valid_header_name(name)) {
            report(w, k, "'%s' is not an HTTP header name (letters, digits and !#$%%&'*+-.^_`|~)",
                   name);
            continue;
        }
        int i = wh->n_headers;
        if (from_file) {
            if (is_unset(v)) {
                report(w, v, "header_files.%s must be a file path", name);
                continue;
            }
            if (!resolve_path(w, v, "header_files", wh->header_values[i],
                              sizeof wh->header_values[i]))
                continue;
        } else {
            if (!get_string(w, v, "a header value", wh->header_values[i],
                            sizeof wh->header_values[i]))
                continue;
            if (strpbrk(wh->header_values[i], "\r\n")) {
                report(w, v, "the value of header %s must be one line", name);
                continue;
            }
        }
        memcpy(wh->header_names[i], name, sizeof name);
        wh->header_from_file[i] = from_file;
        wh->n_headers++;
    }
}

static void walk_webhook(walker *w, ynode *n, rp_webhook_config *wh) {
    static const char *const keys[] = {"url",    "name",    "reactions",    "min_score",
                                       "detectors", "manual", "timeout", "headers",
                                       "header_files"};
    static const char *const reactions[] = {"throttle", "block"};
    memset(wh, 0, sizeof *wh);
    wh->reactions = (1u << RP_ACTION_THROTTLE) | (1u << RP_ACTION_BLOCK);
    wh->manual = true;
    wh->timeout_us = 5 * 1000000LL;
    if (!check_keys(w, n, keys, COUNT(keys), "a webhook", "a webhook")) return;
    ynode *v = map_get(w, n, "url");
    if (!v) {
        report(w, n, "a webhook needs url: (http:// or https://)");
    } else if (get_string(w, v, "url", wh->url, sizeof wh->url) && !valid_webhook_url(wh->url)) {
        /* the URL is a secret (a Slack webhook's is its credential): not echoed */
        report(w, v, "url must begin with http:// or https:// and a host, without spaces");
        wh->url[0] = 0;
    }
    if ((v = map_get(w, n, "name"))) {
        get_string(w, v, "name", wh->name, sizeof wh->name);
        for (const char *p = wh->name; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("-_.:", *p)) {
                report(w, v, "a webhook's name is letters, digits and -_.: (it is a metric "
                             "label), got '%s'", wh->name);
                wh->name[0] = 0;
                break;
            }
    }
    if ((v = map_get(w, n, "reactions")) && want_type(w, v, YAML_SEQUENCE_NODE, "reactions")) {
        ynode *item;
        wh->reactions = 0;
        SEQ_EACH(w, v, item) {
            int r = get_choice(w, item, "reaction", reactions, COUNT(reactions));
            if (r >= 0) wh->reactions |= 1u << (r == 0 ? RP_ACTION_THROTTLE : RP_ACTION_BLOCK);
        }
        if (!wh->reactions) report(w, v, "reactions must name throttle, block or both");
    }
    if ((v = map_get(w, n, "min_score"))) get_number(w, v, "min_score", 0, 100, "", &wh->min_score);
    if ((v = map_get(w, n, "detectors")) && !is_null(v) &&
        want_type(w, v, YAML_SEQUENCE_NODE, "detectors")) {
        const char *names[RP_MAX_DETECTORS];
        for (unsigned d = 0; d < rp_detector_count; d++) names[d] = rp_detectors[d]->name;
        ynode *item;
        SEQ_EACH(w, v, item) {
            int d = is_scalar(item) ? rp_detector_find(scalar_text(item), scalar_len(item)) : -1;
            if (d < 0) unknown_name(w, item, "detector", names, rp_detector_count);
            else wh->detectors |= 1u << d;
        }
    }
    if ((v = map_get(w, n, "manual"))) get_bool(w, v, "manual", &wh->manual);
    if ((v = map_get(w, n, "timeout")) &&
        get_duration(w, v, "timeout", 100000, &wh->timeout_us) && wh->timeout_us > 60 * 1000000LL) {
        report(w, v, "timeout must be at most 60s: a receiver slower than that is down");
        wh->timeout_us = 60 * 1000000LL;
    }
    if ((v = map_get(w, n, "headers"))) walk_webhook_headers(w, v, false, wh);
    if ((v = map_get(w, n, "header_files"))) walk_webhook_headers(w, v, true, wh);
    for (int i = 0; i < wh->n_headers; i++)
        for (int j = 0; j < i; j++)
            if (strcasecmp(wh->header_names[i], wh->header_names[j]) == 0)
                report(w, n, "header %s is given twice (headers and header_files together)",
                       wh->header_names[i]);
}

static void walk_alerts(walker *w, ynode *n) {
    static const char *const keys[] = {"webhooks", "public_url", "node",       "queue",
                                       "retries",  "backoff",    "max_backoff", "connections"};
    if (!check_keys(w, n, keys, COUNT(keys), "alerts", "alerts")) return;
    rp_alerts_config *al = &w->config->alerts;
    ynode *v;
    if ((v = map_get(w, n, "public_url"))) {
        if (is_unset(v))
            al->public_url[0] = 0;
        else if (get_string(w, v, "public_url", al->public_url, sizeof al->public_url) &&
                 !valid_webhook_url(al->public_url)) {
            report(w, v, "public_url must begin with http:// or https:// and a host, got '%s'",
                   al->public_url);
            al->public_url[0] = 0;
        }
    }
    if ((v = map_get(w, n, "node"))) {
        if (is_unset(v)) al->node[0] = 0;
        else get_string(w, v, "node", al->node, sizeof al->node);
    }
    if ((v = map_get(w, n, "queue"))) get_uint(w, v, "queue", 1, 100000, &al->queue);
    if ((v = map_get(w, n, "retries"))) get_uint(w, v, "retries", 0, 20, &al->retries);
    if ((v = map_get(w, n, "backoff"))) get_duration(w, v, "backoff", 10000, &al->backoff_us);
    if ((v = map_get(w, n, "max_backoff")))
        get_duration(w, v, "max_backoff", 10000, &al->max_backoff_us);
    if (al->max_backoff_us < al->backoff_us)
        report(w, map_get(w, n, "max_backoff") ? map_get(w, n, "max_backoff") : n,
               "max_backoff must be at least backoff");
    if ((v = map_get(w, n, "connections"))) get_uint(w, v, "connections", 1, 16, &al->connections);
    v = map_get(w, n, "webhooks");
    if (!v || is_null(v)) return;
    if (!bounded_seq(w, v, "alerts.webhooks", RP_MAX_WEBHOOKS)) return;
    al->n_webhooks = 0;
    ynode *item;
    SEQ_EACH(w, v, item) {
        rp_webhook_config *wh = &al->webhooks[al->n_webhooks];
        walk_webhook(w, item, wh);
        if (!wh->url[0]) continue;
        for (int j = 0; j < al->n_webhooks && wh->name[0]; j++)
            if (strcmp(al->webhooks[j].name, wh->name) == 0)
                report(w, map_get(w, item, "name"), "two webhooks named '%s'", wh->name);
        al->n_webhooks++;
    }
}

/* ------------------------------------------------------------- document */

static const char *const top_keys[] = {"engine",  "inventory", "allow",    "trusted_proxies",
                                       "session", "auth",      "profiles", "routes",
                                       "serve",   "cluster",   "alerts"};

/* A fleet file: what the nodes take from it (rp_config_fleet_sections and
 * the fleet keys of cluster:) and what they ignore, said before the walk. */
static void walk_fleet_root(walker *w, ynode *root) {
    if (!root || root->type != YAML_MAPPING_NODE) {
        report_at(w, root ? NODE_LINE(root) : 1, root ? NODE_COL(root) : 1,
                  "a fleet file needs a cluster: section (the keys every node shares: stream, "
                  "group, decisions, partitions, ...; \"cluster: {}\" keeps the nodes' own)");
        return;
    }
    /* check_keys refuses such a mapping; one error, not a warning a key */
    if (root->data.mapping.pairs.top - root->data.mapping.pairs.start > MAX_KEYS) return;
    bool has_cluster = false;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        ynode *key = node_get(w, p->key);
        if (!is_scalar(key)) continue;
        if (scalar_is(key, "cluster")) {
            has_cluster = true;
            continue;
        }
        bool fleet_wide = false;
        for (size_t i = 0; i < rp_config_n_fleet_sections; i++)
            fleet_wide |= scalar_is(key, rp_config_fleet_sections[i]);
        char kbuf[64];
        if (!fleet_wide)
            warn_at(w, NODE_LINE(key), NODE_COL(key),
                    "%s is node-local: ignored in a fleet file (each node's own file sets it)",
                    scalar_copy(key, kbuf, sizeof kbuf));
    }
    if (!has_cluster)
        report_at(w, NODE_LINE(root), NODE_COL(root),
                  "a fleet file needs a cluster: section (the keys every node shares: stream, "
                  "group, decisions, partitions, ...; \"cluster: {}\" keeps the nodes' own)");
}

static void walk_root(walker *w, ynode *root) {
    if (w->fleet) walk_fleet_root(w, root);
    if (!root || is_null(root)) return; /* an empty file is the defaults */
    if (!check_keys(w, root, top_keys, COUNT(top_keys), "the configuration", "the top level"))
        return;
    rp_config *c = w->config;
    ynode *v;
    if ((v = map_get(w, root, "engine")) && !is_null(v)) walk_engine(w, v);
    if ((v = map_get(w, root, "inventory")) && !is_null(v)) walk_inventory(w, v);
    if ((v = map_get(w, root, "allow")) && !is_null(v)) walk_allow(w, v);
    if ((v = map_get(w, root, "trusted_proxies")))
        get_cidr_list(w, v, "trusted_proxies", c->trusted_proxies,
                      (int)COUNT(c->trusted_proxies), &c->n_trusted_proxies);
    if ((v = map_get(w, root, "session")) && !is_null(v))
        walk_named_string(w, v, "session", "cookie", c->session_cookie, sizeof c->session_cookie);
    if ((v = map_get(w, root, "auth")) && !is_null(v))
        walk_named_string(w, v, "auth", "username_field", c->username_field,
                          sizeof c->username_field);
    /* Profiles before the rules that name them. */
    if ((v = map_get(w, root, "profiles")) && !is_null(v)) walk_profiles(w, v);
    if ((v = map_get(w, root, "routes"))) walk_rules(w, v);
    if ((v = map_get(w, root, "serve")) && !is_null(v)) walk_serve(w, v);
    if ((v = map_get(w, root, "cluster")) && !is_null(v)) walk_cluster(w, v);
    if ((v = map_get(w, root, "alerts")) && !is_null(v)) walk_alerts(w, v);
}

static void report_syntax(walker *w, const yaml_parser_t *parser) {
    const yaml_mark_t *m = &parser->problem_mark;
    if (parser->context)
        report_at(w, (int)m->line + 1, (int)m->column + 1, "YAML syntax error: %s %s",
                  parser->problem ? parser->problem : "error", parser->context);
    else
        report_at(w, (int)m->line + 1, (int)m->column + 1, "YAML syntax error: %s",
                  parser->problem ? parser->problem : "error");
}

/* libyaml's scanner keeps a possible simple key per flow level and looks
 * at all of them at every token: nesting costs time quadratic in its depth
 * (40,000 levels took 2.4 s, 200,000 did not finish in a minute). No
 * configuration needs more than a handful of levels, so before loading the
 * document we read its events, which stops as soon as the nesting passes
 * MAX_DEPTH, and say where. A syntax error is left to the loader, which
 * meets it too and reports it. */
#define MAX_DEPTH 64

bool rp_yaml_depth_ok(const char *text, size_t len, int max_depth, int *line, int *col) {
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return true; /* the loader reports it */
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    int depth = 0;
    bool ok = true, done = false;
    while (ok && !done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) break;
        switch (ev.type) {
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (++depth > max_depth) {
                *line = (int)ev.start_mark.line + 1;
                *col = (int)ev.start_mark.column + 1;
                ok = false;
            }
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: depth--; break;
        case YAML_STREAM_END_EVENT: done = true; break;
        default: break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return ok;
}

static bool depth_ok(walker *w, const char *text, size_t len) {
    int line = 0, col = 0;
    if (rp_yaml_depth_ok(text, len, MAX_DEPTH, &line, &col)) return true;
    report_at(w, line, col, "nesting deeper than %d levels; a configuration needs a handful",
              MAX_DEPTH);
    return false;
}

/* Parse into a fresh config; every error goes to w->on_error. */
static rp_config *parse(const char *text, size_t len, walker *w) {
    rp_config *c = rp_config_default();
    if (!c) {
        report_at(w, 0, 0, "out of memory");
        return NULL;
    }
    snprintf(c->source, sizeof c->source, "%s", w->name ? w->name : "");
    w->config = c;
    if (!depth_ok(w, text ? text : "", text ? len : 0)) return c;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        report_at(w, 0, 0, "out of memory");
        return c;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), text ? len : 0);
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        report_syntax(w, &parser);
        yaml_parser_delete(&parser);
        return c;
    }
    w->doc = &doc;
    walk_root(w, yaml_document_get_root_node(&doc));
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        report_syntax(w, &parser);
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&next);
        if (root) report(w, root, "a config file holds one YAML document; remove the second '---'");
        yaml_document_delete(&next);
    }
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    w->doc = NULL;
    return c;
}

static void keep_first(void *user, const rp_error *e) {
    rp_error *first = user;
    if (first->message[0] == 0) *first = *e;
}

/* A config, or the first mistake in err; a fleet file's (rp_config_parse_fleet)
 * with base for its relative paths. */
static rp_status parse_first_error(const char *text, size_t len, const char *name,
                                   const char *base, bool fleet, rp_config **out, rp_error *err) {
    *out = NULL;
    rp_error first;
    memset(&first, 0, sizeof first);
    walker w = {.name = name, .base = base, .on_error = keep_first, .user = &first,
                .fleet = fleet};
    rp_config *c = parse(text, len, &w);
    if (w.n_errors || !c) {
        rp_config_free(c);
        if (err) *err = first;
        return c ? RP_EINVAL : RP_ENOMEM;
    }
    *out = c;
    return RP_OK;
}

rp_status rp_config_parse(const char *text, size_t len, const char *name, rp_config **out,
                          rp_error *err) {
    return parse_first_error(text, len, name, NULL, false, out, err);
}

rp_status rp_config_check(const char *text, size_t len, const char *name,
                          void (*on_error)(void *user, const rp_error *e), void *user) {
    walker w = {.name = name, .on_error = on_error, .user = user};
    rp_config *c = parse(text, len, &w);
    rp_config_free(c);
    return w.n_errors ? RP_EINVAL : RP_OK;
}

rp_status rp_config_check_fleet(const char *text, size_t len, const char *name,
                                void (*on_error)(void *user, const rp_error *e),
                                void (*on_warning)(void *user, const rp_error *e), void *user) {
    walker w = {.name = name, .on_error = on_error, .on_warning = on_warning, .user = user,
                .fleet = true};
    rp_config *c = parse(text, len, &w);
    rp_config_free(c);
    return w.n_errors ? RP_EINVAL : RP_OK;
}

rp_status rp_config_parse_fleet(const char *text, size_t len, const char *name, const char *base,
                                rp_config **out, rp_error *err) {
    return parse_first_error(text, len, name, base, true, out, err);
}
