/*
 * route.c -- the route inventory: raw path -> route, templates, classes.
 *
 * The engine calls rp_inventory_lookup() for every event, so the common
 * case must be cheap and nothing may be allocated. Three layers:
 *
 *   1. A direct-mapped cache, raw-path hash -> route id (RP_ROUTE_CACHE
 *      entries). Most traffic repeats paths, so most lookups end here. A
 *      hit is re-checked by matching the route's template against the path
 *      (and its method), so a crafted hash collision can at worst land a
 *      path on a route whose template it really matches.
 *   2. The declared templates (OpenAPI import, config) in a segment trie:
 *      literal children are found through one hash table of edges keyed by
 *      (parent node, segment text); parameter children ("{id}", "{id}.json")
 *      sit in a short list per node. Literal edges are tried before
 *      parameters, as OpenAPI asks. A scanner or an ID walker misses the
 *      cache on every request, so this walk, not a scan of every declared
 *      template, is what keeps misses cheap.
 *   3. Learning: the path's template (rp_route_learn_template) looked up in
 *      an open-addressing table keyed by hash(method, template), and a new
 *      route created when it is not there.
 *
 * Memory is fixed at creation: the route array holds the declared routes,
 * max_routes learned ones and the shared overflow route, and never moves.
 *
 * Probes. One gobuster run asks 100,000 paths that do not exist, each once,
 * each answered 404; if every new template kept its slot for good, one run
 * would fill the cap and every real route learned after it would land on
 * the overflow route. So a learned route is first a *candidate* and holds
 * its slot only until it is *admitted* (rp_inventory_admitted: it served a
 * 2xx/3xx, or RP_ROUTE_ADMIT_CLIENTS distinct clients asked for it). The
 * candidates' slot ids sit in a ring swept by a CLOCK hand: when a new
 * template finds no free slot, the hand passes over the ring -- an
 * admitted route leaves the ring for good, a candidate looked up since the
 * last pass loses its reference bit and stays, and the first candidate
 * found without one is recycled for the new template (its counters are
 * added to the "(probes)" tally first). Admitted and declared routes are
 * never recycled; only when every learned slot is admitted does a new
 * template go to the overflow route, "(other)".
 *
 * Costs: a lookup that hits the cache is unchanged but for a generation
 * compare and the reference bit; each hand step either retires a ring
 * entry (once per route), clears a bit set by an earlier lookup, or
 * recycles, so a new template costs O(1) amortized. Nothing is allocated.
 *
 * What a recycled slot means for the rest of the engine: a route pointer
 * is valid for the event it was looked up for (detectors keep none across
 * events), and a slot's id may name another path later -- so whatever
 * outlives the event keys routes by their hash of method + template (the
 * markov model's rp_markov_key, campaigns, auth's route tag), which a
 * recycled slot changes with its template. The cache keeps the slot's
 * generation with its id, so a cached path never lands on the template
 * that took its slot.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "route.h"

#define RP_ROUTE_CACHE 4096  /* direct-mapped cache entries (power of two) */
#define RP_SEG_MAX 32        /* deeper paths never match a declared template */
#define RP_MAX_ROUTES_CAP (1u << 22) /* sanity bound on config max_routes */
#define NONE UINT32_MAX

/* --------------------------------------------------------------- templates */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

static bool seg_all_digits(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!is_digit(s[i])) return false;
    return true;
}

static bool seg_is_uuid(const char *s, size_t n) {
    if (n != 36) return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
    }
    return true;
}

/* Hex of 8+ characters with a digit: hashes, object ids ("5f3a9c2e"). The
 * digit rule keeps words like "deadbeef"-free English ("accepted") out. */
static bool seg_is_hex_id(const char *s, size_t n) {
    if (n < 8) return false;
    bool digit = false;
    for (size_t i = 0; i < n; i++) {
        if (!is_hex(s[i])) return false;
        digit |= is_digit(s[i]);
    }
    return digit;
}

static bool seg_is_email(const char *s, size_t n) {
    const char *at = memchr(s, '@', n);
    if (!at || at == s) return false;
    size_t rest = n - (size_t)(at - s) - 1;
    const char *dot = memchr(at + 1, '.', rest);
    return dot && dot > at + 1 && dot < s + n - 1;
}

/* Long opaque tokens: 16+ characters of [A-Za-z0-9-_=~+] mixing letters
 * and digits (keys, slugs with ids, base64 with digits), or 24+ of them
 * without digits whose letter case flips at least every third character
 * -- random base64 does, camelCase words ("getUserAccountPreferences")
 * do not. A dot keeps a segment literal: "main.4f8a9c2e1b7d6a3f.js" is a
 * file, and its extension decides the class. */
static bool seg_is_opaque(const char *s, size_t n) {
    if (n < 16) return false;
    bool letter = false, digit = false;
    size_t flips = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (is_digit(c))
            digit = true;
        else if (is_alpha(c))
            letter = true;
        else if (c != '-' && c != '_' && c != '=' && c != '~' && c != '+')
            return false;
        if (i > 0 && is_alpha(c) && is_alpha(s[i - 1]) && is_upper(c) != is_upper(s[i - 1]))
            flips++;
    }
    if (letter && digit) return true;
    return letter && n >= 24 && flips * 3 >= n;
}

static bool seg_is_param(const char *s, size_t n) {
    if (n == 0) return false;
    return seg_all_digits(s, n) || seg_is_uuid(s, n) || seg_is_hex_id(s, n) ||
           seg_is_email(s, n) || seg_is_opaque(s, n);
}

size_t rp_route_learn_template(const char *path, size_t len, char *buf, size_t size) {
    if (size == 0) return 0;
    size_t o = 0;
    size_t i = 0;
    while (i <= len) {
        const char *slash = i < len ? memchr(path + i, '/', len - i) : NULL;
        size_t end = slash ? (size_t)(slash - path) : len;
        const char *seg = path + i;
        size_t n = end - i;
        if (seg_is_param(seg, n)) {
            seg = "{id}";
            n = 4;
        }
        size_t room = size - 1 - o;
        if (n > room) n = room;
        memcpy(buf + o, seg, n);
        o += n;
        if (!slash) break;
        if (o < size - 1) buf[o++] = '/';
        i = end + 1;
    }
    buf[o] = 0;
    return o;
}

/* Match template t[0..tn) against path p[0..pn): "{x}" is one non-empty
 * run of non-'/' bytes (up to the next literal byte of the template when
 * one follows in the same segment), a trailing "*" any suffix; "/x/" + "*"
 * also matches "/x". */
static bool match_range(const char *t, size_t tn, const char *p, size_t pn) {
    size_t ti = 0, pi = 0;
    while (ti < tn) {
        char c = t[ti];
        if (c == '*' && ti == tn - 1) return true;
        if (c == '/' && ti + 2 == tn && t[ti + 1] == '*' && pi == pn) return true;
        if (c == '{') {
            const char *close = memchr(t + ti, '}', tn - ti);
            if (close) {
                ti = (size_t)(close - t) + 1;
                char stop = ti < tn && t[ti] != '*' ? t[ti] : '/';
                size_t start = pi;
                while (pi < pn && p[pi] != '/' && p[pi] != stop) pi++;
                if (pi == start) return false;
                continue;
            }
        }
        if (pi >= pn || p[pi] != c) return false;
        ti++;
        pi++;
    }
    return pi == pn;
}

bool rp_route_template_match(const char *template_, const char *path, size_t len) {
    return match_range(template_, strlen(template_), path, len);
}

/* ----------------------------------------------------------------- classes */

static const char *const static_ext[] = {
    "js",  "mjs", "css",  "png",   "jpg", "jpeg", "gif", "svg", "ico",  "woff",
    "woff2", "ttf", "eot", "otf", "map", "txt",  "webp", "avif", "bmp", "webmanifest",
};
static const char *const health_words[] = {
    "health", "healthz", "healthcheck", "ready", "readyz", "readiness", "live",
    "livez",  "liveness", "ping",       "status", "metrics", "heartbeat",
};
static const char *const auth_words[] = {
    "auth", "oauth", "oauth2", "authenticate", "authentication", "authorize", "authorization",
    "token", "tokens", "jwt", "saml", "sso", "2fa", "mfa", "otp", "logout", "signout",
};
/* Words that mean auth even inside a longer word ("userLogin", "wp-login"). */
static const char *const auth_parts[] = {"login", "logon", "signin", "password", "passwd"};
static const char *const search_words[] = {
    "search", "query", "find", "autocomplete", "typeahead", "suggest", "suggestions", "lookup",
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool word_in(const char *w, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(w, list[i]) == 0) return true;
    return false;
}

typedef struct class_words {
    bool auth, session, search, sign, health_last;
} class_words;

/* Look at the words of one segment (lower-cased, split on non-alnum). */
static void scan_segment(const char *s, size_t n, bool last, class_words *cw) {
    char seg[64];
    if (n >= sizeof seg) n = sizeof seg - 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        seg[i] = (char)(is_upper(c) ? c - 'A' + 'a' : c);
    }
    seg[n] = 0;
    for (size_t k = 0; k < COUNT(auth_parts); k++)
        if (strstr(seg, auth_parts[k])) cw->auth = true;
    if (last && word_in(seg, health_words, COUNT(health_words))) cw->health_last = true;
    size_t i = 0;
    while (i < n) {
        while (i < n && !is_alpha(seg[i]) && !is_digit(seg[i])) i++;
        size_t start = i;
        while (i < n && (is_alpha(seg[i]) || is_digit(seg[i]))) i++;
        if (i == start) break;
        char w[64];
        memcpy(w, seg + start, i - start);
        w[i - start] = 0;
        if (word_in(w, auth_words, COUNT(auth_words))) cw->auth = true;
        if (word_in(w, search_words, COUNT(search_words))) cw->search = true;
        if (strcmp(w, "session") == 0 || strcmp(w, "sessions") == 0) cw->session = true;
        /* "sign-in", "sign_in" */
        if (cw->sign && strcmp(w, "in") == 0) cw->auth = true;
        cw->sign = strcmp(w, "sign") == 0 || strcmp(w, "log") == 0;
    }
}

static bool has_static_ext(const char *seg, size_t n) {
    const char *dot = NULL;
    for (size_t i = n; i > 0; i--)
        if (seg[i - 1] == '.') {
            dot = seg + i - 1;
            break;
        }
    if (!dot) return false;
    char ext[16];
    size_t el = n - (size_t)(dot - seg) - 1;
    if (el == 0 || el >= sizeof ext) return false;
    for (size_t i = 0; i < el; i++) {
        char c = dot[1 + i];
        ext[i] = (char)(is_upper(c) ? c - 'A' + 'a' : c);
    }
    ext[el] = 0;
    return word_in(ext, static_ext, COUNT(static_ext));
}

static bool is_param_segment(const char *s, size_t n) {
    return n >= 2 && s[0] == '{' && s[n - 1] == '}';
}

/* "products", "users": plural-looking, but not "status"-like "ss" words. */
static bool looks_plural(const char *s, size_t n) {
    if (n < 3 || (s[n - 1] != 's' && s[n - 1] != 'S')) return false;
    return s[n - 2] != 's' && s[n - 2] != 'S' && s[n - 2] != 'u';
}

rp_route_class rp_route_guess_class(rp_method method, const char *template_) {
    size_t len = strlen(template_);
    const char *last = NULL;
    size_t last_len = 0, n_params = 0;
    class_words cw = {0};
    size_t i = 0;
    while (i <= len) {
        const char *slash = i < len ? memchr(template_ + i, '/', len - i) : NULL;
        size_t end = slash ? (size_t)(slash - template_) : len;
        const char *seg = template_ + i;
        size_t n = end - i;
        if (n > 0) {
            last = seg;
            last_len = n;
            if (is_param_segment(seg, n))
                n_params++;
            else
                scan_segment(seg, n, !slash || end + 1 == len, &cw);
        }
        if (!slash) break;
        i = end + 1;
    }
    if (!last) return RP_ROUTE_OTHER; /* "/" */
    if (has_static_ext(last, last_len))
        return cw.auth ? RP_ROUTE_AUTH : RP_ROUTE_STATIC; /* wp-login.php looks like auth */
    /* "/orders/{id}/status" is an object's state, not a probe endpoint. */
    if (cw.health_last && n_params == 0) return RP_ROUTE_HEALTH;
    if (cw.auth || (cw.session && method == RP_METHOD_POST)) return RP_ROUTE_AUTH;
    if (cw.search) return RP_ROUTE_SEARCH;
    if (is_param_segment(last, last_len)) return RP_ROUTE_OBJECT;
    if ((method == RP_METHOD_GET || method == RP_METHOD_HEAD) && looks_plural(last, last_len))
        return RP_ROUTE_LISTING;
    return RP_ROUTE_OTHER;
}

rp_status rp_route_class_parse(const char *text, size_t len, rp_route_class *out) {
    for (int c = 0; c < RP_ROUTE_CLASS_COUNT; c++) {
        const char *name = rp_route_class_name((rp_route_class)c);
        if (strlen(name) == len && memcmp(name, text, len) == 0) {
            *out = (rp_route_class)c;
            return RP_OK;
        }
    }
    return RP_EINVAL;
}

/* --------------------------------------------------------------- inventory */

/* A node of the declared-template trie. Its segment text is a slice of
 * the template of route text_route, which never moves. */
typedef struct trie_node {
    uint32_t parent;
    uint32_t text_route;
    uint16_t seg_off, seg_len;
    uint8_t pattern;        /* the segment holds a "{...}" parameter */
    uint32_t first_pattern; /* first parameter child, NONE if none */
    uint32_t next_pattern;  /* next parameter sibling */
    uint32_t routes;        /* first declared route ending here, NONE if none */
} trie_node;

typedef struct cache_entry {
    uint64_t key;   /* hash of method + raw path */
    uint32_t route; /* id + 1; 0 = empty */
    uint32_t gen;   /* the slot's generation when cached */
} cache_entry;

struct rp_inventory {
    rp_route *routes;   /* cap_routes entries, allocated once */
    uint8_t *base_cls;  /* class before rules: declared or guessed */
    uint32_t cap_routes;
    uint32_t count;
    uint32_t n_declared;
    uint32_t n_learned;
    uint32_t max_learned;
    uint32_t overflow_id; /* NONE until the cap is first hit */
    uint64_t overflow_hits;
    bool learn;

    /* Probe candidates: the ids of learned routes not yet admitted (and
     * of some admitted since, until the hand passes), max_learned room. */
    uint32_t *ring;
    uint32_t n_ring;
    uint32_t hand;
    uint64_t recycled;
    rp_route probes; /* counters of the recycled candidates, "(probes)" */

    uint32_t *slots;    /* route table: id + 1, 0 = empty */
    size_t slot_mask;

    trie_node *nodes;   /* node 0 is the root */
    uint32_t n_nodes, cap_nodes;
    uint32_t *edges;    /* literal edges: child node + 1, 0 = empty */
    size_t edge_mask;
    uint32_t *route_next; /* next declared route ending at the same node */

    cache_entry cache[RP_ROUTE_CACHE];

    rp_route_rule *rules; /* RP_MAX_RULES, a copy of the config's */
    int n_rules;
    /* Client-scoped rules: their indices in rules[], and per route a bit
     * for each one whose method and glob fit the route. */
    uint16_t scoped[RP_MAX_SCOPED_RULES];
    int n_scoped;
    uint64_t *scoped_mask;
    int default_profile;
    int n_profiles;

    rp_route site;
};

static size_t pow2_at_least(size_t n) {
    size_t p = 16;
    while (p < n) p *= 2;
    return p;
}

static uint64_t route_key(uint8_t method, const char *t, size_t n) {
    return rp_hash64(t, n, 0x51ed2701u + method);
}

static uint64_t edge_key(uint32_t parent, const char *seg, size_t n) {
    return rp_hash64(seg, n, 0xed6e0000u + (uint64_t)parent * 0x9e3779b97f4a7c15ULL);
}

static rp_route *table_find(rp_inventory *inv, uint8_t method, const char *t, size_t n,
                            uint64_t h) {
    for (size_t i = h & inv->slot_mask;; i = (i + 1) & inv->slot_mask) {
        uint32_t s = inv->slots[i];
        if (!s) return NULL;
        rp_route *r = &inv->routes[s - 1];
        if (r->hash == h && r->method == method && strlen(r->template_) == n &&
            memcmp(r->template_, t, n) == 0)
            return r;
    }
}

static void table_insert(rp_inventory *inv, const rp_route *r) {
    size_t i = r->hash & inv->slot_mask;
    while (inv->slots[i]) i = (i + 1) & inv->slot_mask;
    inv->slots[i] = r->id + 1;
}

/* Remove r from the table by backward shift (no tombstones, so probe
 * chains stay as short as the load factor makes them, however many
 * candidates come and go): each entry after the hole moves into it unless
 * its home lies cyclically after the hole. */
static void table_remove(rp_inventory *inv, const rp_route *r) {
    size_t mask = inv->slot_mask;
    size_t i = r->hash & mask;
    while (inv->slots[i] != r->id + 1) {
        assert(inv->slots[i] != 0); /* r is in the table */
        i = (i + 1) & mask;
    }
    for (size_t j = (i + 1) & mask; inv->slots[j]; j = (j + 1) & mask) {
        size_t home = inv->routes[inv->slots[j] - 1].hash & mask;
        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays) continue;
        inv->slots[i] = inv->slots[j];
        i = j;
    }
    inv->slots[i] = 0;
}

static bool rule_fits(const rp_route_rule *rule, const rp_route *r, size_t tn) {
    if (rule->method != RP_METHOD_OTHER && rule->method != r->method) return false;
    return match_range(rule->glob, strlen(rule->glob), r->template_, tn);
}

/* The first rule whose method and glob fit the template sets the route's
 * profile, class and skips. Rules scoped to client CIDRs are per-event
 * decisions (rp_inventory_client_rule): here they only get their bit in
 * the route's scoped mask. */
static void apply_rules(rp_inventory *inv, rp_route *r) {
    r->profile = inv->default_profile;
    r->skip_detectors = 0;
    r->cls = inv->base_cls[r->id];
    size_t tn = strlen(r->template_);
    uint64_t mask = 0;
    for (int k = 0; k < inv->n_scoped; k++)
        if (rule_fits(&inv->rules[inv->scoped[k]], r, tn)) mask |= UINT64_C(1) << k;
    inv->scoped_mask[r->id] = mask;
    for (int i = 0; i < inv->n_rules; i++) {
        const rp_route_rule *rule = &inv->rules[i];
        if (rule->n_cidrs > 0 || !rule_fits(rule, r, tn)) continue;
        if (rule->profile >= 0 && rule->profile < inv->n_profiles) r->profile = rule->profile;
        if (rule->cls >= 0 && rule->cls < RP_ROUTE_CLASS_COUNT) r->cls = (uint8_t)rule->cls;
        r->skip_detectors = rule->skip_detectors;
        return;
    }
}

/* Make slot r (a fresh one, or a recycled candidate's) the route of
 * (method, t). The generation survives the wipe, one higher. */
static rp_route *route_init(rp_inventory *inv, rp_route *r, uint8_t method, const char *t,
                            size_t n, uint64_t h, int cls, bool declared) {
    uint32_t id = (uint32_t)(r - inv->routes);
    uint32_t gen = r->gen + 1;
    memset(r, 0, sizeof *r);
    r->id = id;
    r->gen = gen;
    r->hash = h;
    r->method = method;
    r->declared = declared;
    if (n >= RP_ROUTE_TEMPLATE_MAX) n = RP_ROUTE_TEMPLATE_MAX - 1;
    memcpy(r->template_, t, n);
    r->template_[n] = 0;
    inv->base_cls[r->id] =
        (uint8_t)(cls >= 0 ? cls : (int)rp_route_guess_class((rp_method)method, r->template_));
    apply_rules(inv, r);
    return r;
}

static rp_route *route_create(rp_inventory *inv, uint8_t method, const char *t, size_t n,
                              uint64_t h, int cls, bool declared) {
    assert(inv->count < inv->cap_routes);
    return route_init(inv, &inv->routes[inv->count++], method, t, n, h, cls, declared);
}

static rp_route *overflow_route(rp_inventory *inv) {
    inv->overflow_hits++;
    if (inv->overflow_id != NONE) return &inv->routes[inv->overflow_id];
    static const char name[] = "(other)";
    uint64_t h = route_key(RP_METHOD_OTHER, name, sizeof name - 1);
    rp_route *r = route_create(inv, RP_METHOD_OTHER, name, sizeof name - 1, h, RP_ROUTE_OTHER,
                               false);
    r->overflow = 1;
    inv->overflow_id = r->id;
    return r;
}

/* Split a path ("/a/b") into its segments after the leading '/'. Returns
 * the count, or -1 when the path cannot match a declared template. */
static int split_segments(const char *p, size_t n, uint16_t off[RP_SEG_MAX],
                          uint16_t len[RP_SEG_MAX]) {
    if (n == 0 || p[0] != '/' || n > UINT16_MAX) return -1;
    int k = 0;
    size_t i = 1;
    for (;;) {
        if (k == RP_SEG_MAX) return -1;
        const char *slash = i < n ? memchr(p + i, '/', n - i) : NULL;
        size_t end = slash ? (size_t)(slash - p) : n;
        off[k] = (uint16_t)i;
        len[k] = (uint16_t)(end - i);
        k++;
        if (!slash) return k;
        i = end + 1;
    }
}

static const char *node_text(const rp_inventory *inv, const trie_node *nd) {
    return inv->routes[nd->text_route].template_ + nd->seg_off;
}

static uint32_t edge_find(const rp_inventory *inv, uint32_t parent, const char *seg, size_t n) {
    uint64_t h = edge_key(parent, seg, n);
    for (size_t i = h & inv->edge_mask;; i = (i + 1) & inv->edge_mask) {
        uint32_t e = inv->edges[i];
        if (!e) return NONE;
        const trie_node *nd = &inv->nodes[e - 1];
        if (nd->parent == parent && !nd->pattern && nd->seg_len == n &&
            memcmp(node_text(inv, nd), seg, n) == 0)
            return e - 1;
    }
}

static uint32_t node_new(rp_inventory *inv, uint32_t parent, uint32_t route, size_t off,
                         size_t n, bool pattern) {
    uint32_t id = inv->n_nodes++;
    trie_node *nd = &inv->nodes[id];
    nd->parent = parent;
    nd->text_route = route;
    nd->seg_off = (uint16_t)off;
    nd->seg_len = (uint16_t)n;
    nd->pattern = pattern;
    nd->first_pattern = NONE;
    nd->next_pattern = NONE;
    nd->routes = NONE;
    return id;
}

/* Add declared route r to the trie (its template is a valid, split-able
 * path: checked by the caller). */
static void trie_add(rp_inventory *inv, const rp_route *r) {
    uint16_t off[RP_SEG_MAX], len[RP_SEG_MAX];
    const char *t = r->template_;
    int k = split_segments(t, strlen(t), off, len);
    uint32_t node = 0;
    for (int s = 0; s < k; s++) {
        const char *seg = t + off[s];
        bool pattern = memchr(seg, '{', len[s]) != NULL;
        uint32_t child = NONE;
        if (pattern) {
            for (uint32_t c = inv->nodes[node].first_pattern; c != NONE;
                 c = inv->nodes[c].next_pattern) {
                const trie_node *nd = &inv->nodes[c];
                if (nd->seg_len == len[s] && memcmp(node_text(inv, nd), seg, len[s]) == 0) {
                    child = c;
                    break;
                }
            }
            if (child == NONE) {
                child = node_new(inv, node, r->id, off[s], len[s], true);
                /* Append, so parameters are tried in declaration order. */
                uint32_t *link = &inv->nodes[node].first_pattern;
                while (*link != NONE) link = &inv->nodes[*link].next_pattern;
                *link = child;
            }
        } else {
            child = edge_find(inv, node, seg, len[s]);
            if (child == NONE) {
                child = node_new(inv, node, r->id, off[s], len[s], false);
                uint64_t h = edge_key(node, seg, len[s]);
                size_t i = h & inv->edge_mask;
                while (inv->edges[i]) i = (i + 1) & inv->edge_mask;
                inv->edges[i] = child + 1;
            }
        }
        node = child;
    }
    uint32_t *link = &inv->nodes[node].routes;
    while (*link != NONE) link = &inv->route_next[*link];
    *link = r->id;
    inv->route_next[r->id] = NONE;
}

/* The declared route ending at node that serves method: the same method,
 * then any-method, then GET for HEAD (servers answer HEAD like GET). */
static uint32_t pick_method(const rp_inventory *inv, uint32_t node, uint8_t method) {
    uint32_t any = NONE, get = NONE;
    for (uint32_t r = inv->nodes[node].routes; r != NONE; r = inv->route_next[r]) {
        uint8_t m = inv->routes[r].method;
        if (m == method) return r;
        if (m == RP_METHOD_OTHER) any = r;
        if (m == RP_METHOD_GET) get = r;
    }
    if (any != NONE) return any;
    return method == RP_METHOD_HEAD ? get : NONE;
}

static uint32_t trie_walk(const rp_inventory *inv, uint32_t node, const char *p,
                          const uint16_t *off, const uint16_t *len, int k, int nseg,
                          uint8_t method) {
    if (k == nseg) return pick_method(inv, node, method);
    const char *seg = p + off[k];
    uint32_t child = edge_find(inv, node, seg, len[k]);
    if (child != NONE) {
        uint32_t r = trie_walk(inv, child, p, off, len, k + 1, nseg, method);
        if (r != NONE) return r;
    }
    for (uint32_t c = inv->nodes[node].first_pattern; c != NONE; c = inv->nodes[c].next_pattern) {
        const trie_node *nd = &inv->nodes[c];
        if (!match_range(node_text(inv, nd), nd->seg_len, seg, len[k])) continue;
        uint32_t r = trie_walk(inv, c, p, off, len, k + 1, nseg, method);
        if (r != NONE) return r;
    }
    return NONE;
}

static size_t count_segments(const char *t) {
    size_t n = 1;
    for (; *t; t++) n += *t == '/';
    return n;
}

static bool declarable(const char *t) {
    uint16_t off[RP_SEG_MAX], len[RP_SEG_MAX];
    return !strchr(t, '*') && strlen(t) < RP_ROUTE_TEMPLATE_MAX &&
           split_segments(t, strlen(t), off, len) > 0;
}

static rp_status declare(rp_inventory *inv, uint8_t method, const char *t, int cls) {
    size_t n = strlen(t);
    uint64_t h = route_key(method, t, n);
    if (table_find(inv, method, t, n, h)) return RP_OK; /* declared twice */
    rp_route *r = route_create(inv, method, t, n, h, cls, true);
    table_insert(inv, r);
    trie_add(inv, r);
    inv->n_declared++;
    return RP_OK;
}

/* Rules that give a literal template a class declare that route. */
static bool rule_declares(const rp_route_rule *rule) {
    return rule->cls >= 0 && rule->n_cidrs == 0 && declarable(rule->glob);
}

rp_status rp_inventory_new(const rp_config *config, rp_inventory **out, rp_error *err) {
    *out = NULL;
    if (!config) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "inventory: no config");
    if (config->max_routes > RP_MAX_ROUTES_CAP)
        return rp_error_set(err, RP_ERANGE, config->source, 0, 0,
                            "max_routes %u is above the limit of %u", config->max_routes,
                            RP_MAX_ROUTES_CAP);
    size_t n_decl = 0, n_nodes = 1;
    for (int i = 0; i < config->n_declared; i++)
        if (declarable(config->declared[i].template_)) {
            n_decl++;
            n_nodes += count_segments(config->declared[i].template_);
        }
    for (int i = 0; i < config->n_rules; i++)
        if (rule_declares(&config->rules[i])) {
            n_decl++;
            n_nodes += count_segments(config->rules[i].glob);
        }

    rp_inventory *inv = calloc(1, sizeof *inv);
    if (!inv) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "inventory: out of memory");
    inv->max_learned = config->max_routes;
    inv->cap_routes = (uint32_t)(n_decl + config->max_routes + 1);
    inv->learn = config->learn_routes;
    inv->overflow_id = NONE;
    inv->cap_nodes = (uint32_t)n_nodes;
    inv->routes = calloc(inv->cap_routes, sizeof *inv->routes);
    inv->base_cls = calloc(inv->cap_routes, 1);
    inv->route_next = calloc(inv->cap_routes, sizeof *inv->route_next);
    inv->slot_mask = pow2_at_least(2 * (size_t)inv->cap_routes) - 1;
    inv->slots = calloc(inv->slot_mask + 1, sizeof *inv->slots);
    inv->nodes = calloc(n_nodes, sizeof *inv->nodes);
    inv->edge_mask = pow2_at_least(2 * n_nodes) - 1;
    inv->edges = calloc(inv->edge_mask + 1, sizeof *inv->edges);
    inv->rules = calloc(RP_MAX_RULES, sizeof *inv->rules);
    inv->scoped_mask = calloc(inv->cap_routes, sizeof *inv->scoped_mask);
    inv->ring = calloc(config->max_routes ? config->max_routes : 1, sizeof *inv->ring);
    if (!inv->routes || !inv->base_cls || !inv->route_next || !inv->slots || !inv->nodes ||
        !inv->edges || !inv->rules || !inv->scoped_mask || !inv->ring) {
        rp_inventory_free(inv);
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "inventory: out of memory");
    }
    node_new(inv, NONE, 0, 0, 0, false); /* the root */

    static const char site_name[] = "(site)", probes_name[] = "(probes)";
    memcpy(inv->site.template_, site_name, sizeof site_name);
    inv->site.id = NONE;
    memcpy(inv->probes.template_, probes_name, sizeof probes_name);
    inv->probes.id = NONE;
    inv->probes.method = RP_METHOD_OTHER;
    inv->probes.cls = RP_ROUTE_OTHER;

    rp_inventory_configure(inv, config);
    for (int i = 0; i < config->n_declared; i++) {
        const rp_declared_route *d = &config->declared[i];
        if (declarable(d->template_)) declare(inv, d->method, d->template_, d->cls);
    }
    for (int i = 0; i < config->n_rules; i++) {
        const rp_route_rule *rule = &config->rules[i];
        if (rule_declares(rule)) declare(inv, rule->method, rule->glob, rule->cls);
    }
    *out = inv;
    return RP_OK;
}

void rp_inventory_free(rp_inventory *inv) {
    if (!inv) return;
    free(inv->routes);
    free(inv->base_cls);
    free(inv->route_next);
    free(inv->slots);
    free(inv->nodes);
    free(inv->edges);
    free(inv->rules);
    free(inv->scoped_mask);
    free(inv->ring);
    free(inv);
}

void rp_inventory_configure(rp_inventory *inv, const rp_config *config) {
    int n = config->n_rules;
    if (n < 0) n = 0;
    if (n > RP_MAX_RULES) n = RP_MAX_RULES;
    if (n) memcpy(inv->rules, config->rules, (size_t)n * sizeof *inv->rules);
    inv->n_rules = n;
    inv->n_scoped = 0;
    for (int i = 0; i < n && inv->n_scoped < RP_MAX_SCOPED_RULES; i++)
        if (inv->rules[i].n_cidrs > 0) inv->scoped[inv->n_scoped++] = (uint16_t)i;
    inv->n_profiles = config->n_profiles;
    inv->default_profile =
        config->default_profile >= 0 && config->default_profile < config->n_profiles
            ? config->default_profile
            : 0;
    inv->site.profile = inv->default_profile;
    inv->probes.profile = inv->default_profile;
    for (uint32_t i = 0; i < inv->count; i++) apply_rules(inv, &inv->routes[i]);
}

/* ------------------------------------------------------------------ probes */

bool rp_inventory_admitted(const rp_route *r) {
    if (r->declared || r->overflow || r->admitted || r->successes > 0) return true;
    return rp_hll_estimate(&r->clients) >= RP_ROUTE_ADMIT_CLIENTS - 0.5;
}

/* What a recycled candidate leaves behind: its counters, in the tally. */
static void tally_probe(rp_route *tally, const rp_route *r) {
    tally->requests += r->requests;
    tally->errors += r->errors;
    tally->not_found += r->not_found;
    tally->successes += r->successes;
    tally->flagged += r->flagged;
    rp_hll_merge(&tally->clients, &r->clients);
}

/* The hand's sweep: the first candidate not looked up since the hand last
 * passed it, recycled (out of the table, counters in the tally); NULL when
 * every learned route is admitted. See the top for why this is O(1)
 * amortized. */
static rp_route *recycle_candidate(rp_inventory *inv) {
    while (inv->n_ring) {
        if (inv->hand >= inv->n_ring) inv->hand = 0;
        rp_route *r = &inv->routes[inv->ring[inv->hand]];
        assert(!r->declared && !r->overflow);
        if (rp_inventory_admitted(r)) { /* for good: leaves the ring */
            inv->ring[inv->hand] = inv->ring[--inv->n_ring];
            continue;
        }
        if (r->referenced) { /* a second chance */
            r->referenced = 0;
            inv->hand++;
            continue;
        }
        tally_probe(&inv->probes, r);
        table_remove(inv, r);
        inv->recycled++;
        inv->hand++; /* the slot keeps its place in the ring for the new path */
        return r;
    }
    return NULL;
}

/* A slot for a new learned route of (method, t): a fresh one while the
 * cap allows, else a recycled candidate (recycle says whether that is
 * allowed); NULL when there is none. The route is in the table and, not
 * being admitted yet, in the ring. */
static rp_route *learn_new(rp_inventory *inv, uint8_t method, const char *t, size_t n, uint64_t h,
                           int cls, bool recycle) {
    rp_route *r;
    if (inv->n_learned < inv->max_learned) {
        inv->n_learned++;
        r = route_create(inv, method, t, n, h, cls, false);
        inv->ring[inv->n_ring++] = r->id;
    } else {
        rp_route *slot = recycle ? recycle_candidate(inv) : NULL;
        if (!slot) return NULL;
        r = route_init(inv, slot, method, t, n, h, cls, false);
    }
    table_insert(inv, r);
    return r;
}

size_t rp_inventory_routes(const rp_inventory *inv) {
    size_t n = 0;
    for (uint32_t i = 0; i < inv->count; i++) n += rp_inventory_admitted(&inv->routes[i]);
    return n;
}

uint64_t rp_inventory_recycled(const rp_inventory *inv) { return inv->recycled; }

void rp_inventory_probes(const rp_inventory *inv, rp_route *out) {
    *out = inv->probes;
    for (uint32_t k = 0; k < inv->n_ring; k++) {
        const rp_route *r = &inv->routes[inv->ring[k]];
        if (!rp_inventory_admitted(r)) tally_probe(out, r);
    }
}

/* Is r the route of (method, path)? Guards cache hits (see top). */
static bool route_fits(const rp_route *r, uint8_t method, const char *path, size_t len) {
    if (r->method != method && r->method != RP_METHOD_OTHER &&
        !(method == RP_METHOD_HEAD && r->method == RP_METHOD_GET))
        return false;
    return match_range(r->template_, strlen(r->template_), path, len);
}

static rp_route *resolve(rp_inventory *inv, uint8_t method, const char *path, size_t len) {
    if (inv->n_declared) {
        uint16_t off[RP_SEG_MAX], seg_len[RP_SEG_MAX];
        int k = split_segments(path, len, off, seg_len);
        if (k > 0) {
            uint32_t r = trie_walk(inv, 0, path, off, seg_len, 0, k, method);
            if (r != NONE) return &inv->routes[r];
        }
    }
    if (!inv->learn) return overflow_route(inv);
    char t[RP_ROUTE_TEMPLATE_MAX];
    size_t n = rp_route_learn_template(path, len, t, sizeof t);
    uint64_t h = route_key(method, t, n);
    rp_route *r = table_find(inv, method, t, n, h);
    if (r) {
        r->referenced = 1;
        return r;
    }
    r = learn_new(inv, method, t, n, h, -1, true);
    return r ? r : overflow_route(inv);
}

rp_route *rp_inventory_lookup(rp_inventory *inv, rp_method method, const char *path, size_t len) {
    uint8_t m = (uint8_t)method;
    uint64_t h = rp_hash64(path, len, 0xcac4e000u + m);
    cache_entry *e = &inv->cache[h & (RP_ROUTE_CACHE - 1)];
    if (e->key == h && e->route) {
        rp_route *r = &inv->routes[e->route - 1];
        if (r->gen == e->gen) { /* else the slot went to another path */
            if (r->overflow) {
                inv->overflow_hits++;
                return r;
            }
            if (route_fits(r, m, path, len)) {
                r->referenced = 1;
                return r;
            }
        }
    }
    rp_route *r = resolve(inv, m, path, len);
    e->key = h;
    e->route = r->id + 1;
    e->gen = r->gen;
    return r;
}

rp_route *rp_inventory_site(rp_inventory *inv) { return &inv->site; }

size_t rp_inventory_count(const rp_inventory *inv) { return inv->count; }

rp_route *rp_inventory_at(rp_inventory *inv, size_t i) {
    return i < inv->count ? &inv->routes[i] : NULL;
}

uint64_t rp_inventory_overflow_hits(const rp_inventory *inv) { return inv->overflow_hits; }

const rp_route_rule *rp_inventory_client_rule(const rp_inventory *inv, const rp_route *route,
                                              const rp_addr *client) {
    if (route->id >= inv->count) return NULL; /* the site route */
    for (uint64_t mask = inv->scoped_mask[route->id]; mask; mask &= mask - 1) {
        const rp_route_rule *rule = &inv->rules[inv->scoped[__builtin_ctzll(mask)]];
        for (int c = 0; c < rule->n_cidrs && c < 8; c++)
            if (rp_cidr_contains(&rule->cidrs[c], client)) return rule;
    }
    return NULL;
}

/* ---------------------------------------------------------- knowledge */

/*
 * What the inventory has learned survives a restart through these two
 * (the daemon writes the export to its store and restores it at start).
 * The restore reads a file that may be old, hand-edited or hostile, so it
 * checks each route whole before it changes anything, and it can neither
 * grow the inventory past its cap nor change what the config says: a
 * declared route keeps its class, the config's rules apply on top of any
 * restored route, and a stored class fills in only where the template's
 * words say nothing (so no stored row can take `auth` away from a route
 * whose name says login, and a newer rampart's better guess wins over an
 * older one's stored `other`).
 */

void rp_inventory_export(const rp_inventory *inv,
                         bool (*fn)(void *user, const rp_route_knowledge *route), void *user) {
    for (uint32_t i = 0; i < inv->count; i++) {
        const rp_route *r = &inv->routes[i];
        if (r->overflow) continue; /* "(other)" is the cap, not a route */
        if (!rp_inventory_admitted(r)) continue; /* a probe path, not knowledge */
        rp_route_knowledge k;
        memset(&k, 0, sizeof k);
        k.method = r->method;
        k.declared = r->declared;
        k.cls = (rp_route_class)inv->base_cls[i];
        memcpy(k.template_, r->template_, sizeof k.template_);
        k.requests = r->requests;
        k.errors = r->errors;
        k.not_found = r->not_found;
        k.successes = r->successes;
        k.flagged = r->flagged;
        k.common_answer = r->common_answer;
        k.common_answer_votes = r->common_answer_votes;
        if (!fn(user, &k)) return;
    }
}

static uint64_t add_sat64(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
static uint32_t add_sat32(uint32_t a, uint32_t b) { return a > UINT32_MAX - b ? UINT32_MAX : a + b; }

/* The redirect mark as auth.c writes it: a 3xx status over a size bucket
 * of rp_norm_bucket (RP_NORM_BUCKETS of them). */
static bool mark_valid(uint32_t answer, uint32_t votes) {
    if (votes == 0) return answer == 0;
    unsigned status = answer >> 20;
    return status >= 300 && status < 400 && (answer & 0xfffffu) < RP_NORM_BUCKETS;
}

/* Everything a route's knowledge must be before it may touch the
 * inventory; *len gets the template's length. */
static rp_status knowledge_check(const rp_route_knowledge *k, size_t *len, rp_error *err) {
    if (k->method >= RP_METHOD_COUNT)
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "route: method %u is not a method",
                            (unsigned)k->method);
    if ((unsigned)k->cls >= RP_ROUTE_CLASS_COUNT)
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "route: class %u is not a class",
                            (unsigned)k->cls);
    const char *end = memchr(k->template_, 0, sizeof k->template_);
    if (!end) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "route: template not terminated");
    size_t n = (size_t)(end - k->template_);
    if (n == 0 || k->template_[0] != '/')
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "route: template \"%.64s\" is not a path",
                            k->template_);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k->template_[i];
        if (c < 0x20 || c == 0x7f)
            return rp_error_set(err, RP_EINVAL, NULL, 0, 0,
                                "route: template holds control byte 0x%02x at %zu", c, i);
    }
    if (k->errors > k->requests || k->successes > k->requests - k->errors ||
        k->not_found > k->errors || k->flagged > k->requests)
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0,
                            "route %.64s: counters contradict each other", k->template_);
    if (!mark_valid(k->common_answer, k->common_answer_votes))
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0,
                            "route %.64s: redirect mark 0x%08x x%u is not a 3xx answer",
                            k->template_, k->common_answer, k->common_answer_votes);
    *len = n;
    return RP_OK;
}

/* The own class of a learned route: the guess from its words, or the
 * stored class where the guess is `other` and the stored class was
 * learned (a declaration the config has dropped is not kept). */
static uint8_t restored_class(const rp_route_knowledge *k, const char *template_) {
    rp_route_class guess = rp_route_guess_class((rp_method)k->method, template_);
    if (guess != RP_ROUTE_OTHER || k->declared) return (uint8_t)guess;
    return (uint8_t)k->cls;
}

/* The declared route a stored template now falls under (its requests
 * would land there): the template walks the trie as a path, "{id}"
 * matching any parameter. NULL when there is none. */
static rp_route *declared_home(rp_inventory *inv, uint8_t method, const char *t, size_t n) {
    if (!inv->n_declared) return NULL;
    uint16_t off[RP_SEG_MAX], seg_len[RP_SEG_MAX];
    int k = split_segments(t, n, off, seg_len);
    if (k <= 0) return NULL;
    uint32_t r = trie_walk(inv, 0, t, off, seg_len, 0, k, method);
    return r == NONE ? NULL : &inv->routes[r];
}

rp_status rp_inventory_restore(rp_inventory *inv, const rp_route_knowledge *k, rp_error *err) {
    size_t n = 0;
    rp_status st = knowledge_check(k, &n, err);
    if (st != RP_OK) return st;
    uint8_t method = k->method;
    uint64_t h = route_key(method, k->template_, n);
    rp_route *r = table_find(inv, method, k->template_, n, h);
    if (!r) r = declared_home(inv, method, k->template_, n);
    if (!r) {
        char learned[RP_ROUTE_TEMPLATE_MAX];
        size_t ln = rp_route_learn_template(k->template_, n, learned, sizeof learned);
        if (ln != n || memcmp(learned, k->template_, n) != 0)
            return rp_error_set(err, RP_ENOENT, NULL, 0, 0,
                                "route %.64s: not declared, and not a template learning makes",
                                k->template_);
        if (!inv->learn)
            return rp_error_set(err, RP_ENOENT, NULL, 0, 0,
                                "route %.64s: not declared, and learning is off", k->template_);
        /* A restore throws nothing out: past the cap it is refused, even
         * where a probe candidate could make room. */
        r = learn_new(inv, method, k->template_, n, h, restored_class(k, k->template_), false);
        if (!r)
            return rp_error_set(err, RP_ENOMEM, NULL, 0, 0,
                                "route %.64s: the inventory holds its %u learned routes already",
                                k->template_, inv->max_learned);
    } else if (!r->declared && !r->overflow) {
        inv->base_cls[r->id] = restored_class(k, r->template_);
        apply_rules(inv, r);
    }
    r->requests = add_sat64(r->requests, k->requests);
    r->errors = add_sat64(r->errors, k->errors);
    r->not_found = add_sat64(r->not_found, k->not_found);
    r->successes = add_sat64(r->successes, k->successes);
    r->flagged = add_sat64(r->flagged, k->flagged);
    /* Stored knowledge of a route that answered: successes, or -- in a
     * store from before that column, where it reads 0 -- requests that
     * were not errors. A probe path stored by an older rampart (every
     * request a 404) stays a candidate, and the next export drops it. */
    if (k->successes > 0 || k->requests > k->errors) r->admitted = 1;
    if (k->common_answer_votes) {
        if (!r->common_answer_votes) r->common_answer = k->common_answer;
        r->common_answer_votes = add_sat32(r->common_answer_votes, k->common_answer_votes);
    }
    return RP_OK;
}
