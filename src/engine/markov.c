/*
 * markov.c -- the route-transition model (see markov.h).
 *
 * Why a count-min sketch: the pairs (i, j) of a site with thousands of
 * routes could number millions, but the pairs that matter are the common
 * ones, which a sketch counts well; a rare pair may be over-counted by
 * collisions, which only makes the model less surprised (it errs toward
 * "normal", the safe side for a detector). One 64-bit hash of the pair
 * gives the four 16-bit column indices.
 *
 * Per-route totals live in a hashed array twice the route cap (rounded to
 * a power of two), so that keys need no table of their own; two routes
 * sharing a slot again only lower surprise.
 *
 * The alphabet size K of the smoothing is the number of source routes seen
 * (at least 2): a never-seen pair out of a busy route costs about
 * log2(total / a) bits, out of a route never seen about log2(K).
 *
 * Serialized form, little-endian:
 *   "RPMK" u32 version u32 rows u32 width u32 n_totals u64 transitions
 *   then rows*width u32 counters, then n_totals u32 totals.
 * The loader trusts nothing: exact length, known version and geometry,
 * and totals that add up to the stated number of transitions.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "markov.h"

#define SMOOTHING 0.1          /* a: pseudo-count of every transition */
#define VERSION 1u
#define HEADER_BYTES 32u
#define MAX_TOTALS (1u << 21)

struct rp_markov {
    uint32_t n_totals;   /* power of two */
    uint32_t routes;     /* non-zero total slots: source routes seen */
    uint64_t transitions; /* sum of totals */
    uint32_t *totals;    /* n_totals */
    uint32_t count[RP_MARKOV_ROWS][RP_MARKOV_WIDTH];
};

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t pair_hash(uint32_t from, uint32_t to) {
    return mix64(((uint64_t)from << 32 | to) + 0x9e3779b97f4a7c15ULL);
}

static inline uint32_t total_slot(const rp_markov *m, uint32_t from) {
    return (uint32_t)mix64(from) & (m->n_totals - 1);
}

static rp_markov *alloc_model(uint32_t n_totals) {
    rp_markov *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    m->totals = calloc(n_totals, sizeof *m->totals);
    if (!m->totals) {
        free(m);
        return NULL;
    }
    m->n_totals = n_totals;
    return m;
}

rp_status rp_markov_new(uint32_t max_routes, rp_markov **out) {
    *out = NULL;
    if (max_routes < 1 || max_routes > (1u << 20)) return RP_EINVAL;
    uint32_t n = 2;
    while (n < 2 * max_routes) n <<= 1;
    rp_markov *m = alloc_model(n);
    if (!m) return RP_ENOMEM;
    *out = m;
    return RP_OK;
}

void rp_markov_free(rp_markov *m) {
    if (!m) return;
    free(m->totals);
    free(m);
}

void rp_markov_decay(rp_markov *m) {
    for (unsigned r = 0; r < RP_MARKOV_ROWS; r++)
        for (uint32_t c = 0; c < RP_MARKOV_WIDTH; c++) m->count[r][c] >>= 1;
    uint64_t sum = 0;
    uint32_t routes = 0;
    for (uint32_t i = 0; i < m->n_totals; i++) {
        m->totals[i] >>= 1;
        sum += m->totals[i];
        routes += m->totals[i] != 0;
    }
    m->transitions = sum;
    m->routes = routes;
}

void rp_markov_observe(rp_markov *m, uint32_t from, uint32_t to) {
    if (!from || !to) return;
    uint64_t h = pair_hash(from, to);
    for (unsigned r = 0; r < RP_MARKOV_ROWS; r++) m->count[r][(h >> (16 * r)) & 0xffff]++;
    uint32_t *t = &m->totals[total_slot(m, from)];
    if (!*t) m->routes++;
    (*t)++;
    if (++m->transitions > RP_MARKOV_DECAY_AT) rp_markov_decay(m);
}

double rp_markov_probability(const rp_markov *m, uint32_t from, uint32_t to) {
    uint64_t h = pair_hash(from, to);
    uint32_t c = UINT32_MAX;
    for (unsigned r = 0; r < RP_MARKOV_ROWS; r++) {
        uint32_t v = m->count[r][(h >> (16 * r)) & 0xffff];
        if (v < c) c = v;
    }
    uint32_t total = m->totals[total_slot(m, from)];
    if (c > total) c = total; /* a collision cannot make a pair likelier than certain */
    double k = m->routes > 2 ? (double)m->routes : 2.0;
    return ((double)c + SMOOTHING) / ((double)total + SMOOTHING * k);
}

double rp_markov_surprise(const rp_markov *m, uint32_t from, uint32_t to) {
    double s = -log2(rp_markov_probability(m, from, to));
    if (!(s > 0)) return 0;
    return s > RP_MARKOV_MAX_SURPRISE ? RP_MARKOV_MAX_SURPRISE : s;
}

uint64_t rp_markov_transitions(const rp_markov *m) { return m->transitions; }
uint32_t rp_markov_routes(const rp_markov *m) { return m->routes; }

/* ------------------------------------------------------- serialization */


static size_t body_bytes(uint32_t n_totals) {
    return ((size_t)RP_MARKOV_ROWS * RP_MARKOV_WIDTH + n_totals) * 4u;
}

rp_status rp_markov_serialize(const rp_markov *m, uint8_t **buf, size_t *len, rp_error *err) {
    *buf = NULL;
    *len = 0;
    size_t n = HEADER_BYTES + body_bytes(m->n_totals);
    uint8_t *b = malloc(n);
    if (!b) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory for the model");
    memcpy(b, "RPMK", 4);
    rp_put32(b + 4, VERSION);
    rp_put32(b + 8, RP_MARKOV_ROWS);
    rp_put32(b + 12, RP_MARKOV_WIDTH);
    rp_put32(b + 16, m->n_totals);
    rp_put32(b + 20, 0); /* reserved */
    rp_put64(b + 24, m->transitions);
    uint8_t *p = b + HEADER_BYTES;
    for (unsigned r = 0; r < RP_MARKOV_ROWS; r++)
        for (uint32_t c = 0; c < RP_MARKOV_WIDTH; c++, p += 4) rp_put32(p, m->count[r][c]);
    for (uint32_t i = 0; i < m->n_totals; i++, p += 4) rp_put32(p, m->totals[i]);
    *buf = b;
    *len = n;
    return RP_OK;
}

static rp_status bad(rp_error *err, const char *what) {
    return rp_error_set(err, RP_EPARSE, NULL, 0, 0, "not a usable route model: %s", what);
}

rp_status rp_markov_load(const uint8_t *buf, size_t len, rp_markov **out, rp_error *err) {
    *out = NULL;
    if (!buf || len < HEADER_BYTES) return bad(err, "truncated header");
    if (memcmp(buf, "RPMK", 4) != 0) return bad(err, "wrong magic (not a rampart model file)");
    uint32_t version = rp_get32(buf + 4);
    if (version != VERSION)
        return rp_error_set(err, RP_EPARSE, NULL, 0, 0,
                            "not a usable route model: version %u, this build reads version %u",
                            version, VERSION);
    if (rp_get32(buf + 8) != RP_MARKOV_ROWS || rp_get32(buf + 12) != RP_MARKOV_WIDTH)
        return bad(err, "sketch geometry differs from this build");
    uint32_t n_totals = rp_get32(buf + 16);
    if (n_totals < 2 || n_totals > MAX_TOTALS || (n_totals & (n_totals - 1)))
        return bad(err, "route table size out of range");
    if (len != HEADER_BYTES + body_bytes(n_totals))
        return bad(err, len < HEADER_BYTES + body_bytes(n_totals) ? "truncated data"
                                                                   : "trailing bytes after data");
    uint64_t transitions = rp_get64(buf + 24);
    rp_markov *m = alloc_model(n_totals);
    if (!m) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory for the model");
    const uint8_t *p = buf + HEADER_BYTES;
    for (unsigned r = 0; r < RP_MARKOV_ROWS; r++)
        for (uint32_t c = 0; c < RP_MARKOV_WIDTH; c++, p += 4) m->count[r][c] = rp_get32(p);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n_totals; i++, p += 4) {
        m->totals[i] = rp_get32(p);
        sum += m->totals[i];
        m->routes += m->totals[i] != 0;
    }
    if (sum != transitions || transitions > RP_MARKOV_DECAY_AT) {
        rp_markov_free(m);
        return bad(err, "route totals do not add up to the stated transitions");
    }
    m->transitions = sum;
    *out = m;
    return RP_OK;
}
