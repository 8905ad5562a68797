/*
 * hstree.c -- half-space trees (see hstree.h).
 *
 * Layout: every tree is a complete binary tree stored breadth-first
 * (children of node i are 2i+1 and 2i+2), all trees in one array, one
 * 16-byte node each: split value, dimension, reference and latest mass.
 * Scoring and learning walk the same path, so one pass does both; a
 * vector touches T x (D+1) nodes, about 25 x 11 cache lines.
 *
 * Why masses are counts and not decayed weights: the window swap is the
 * model's forgetting. A site that changes is followed one window later,
 * and a vector is never judged by masses that already contain it (it is
 * scored against the reference, learned into the latest).
 *
 * Two ways to learn. rp_hstree_update is the streaming algorithm of the
 * paper: count each vector into the latest masses, swap at the window's
 * end. rp_hstree_train builds a whole new model from a sample of recent
 * vectors, off the hot path (rampart serve runs it on its own thread and
 * swaps the model in under the engine lock): the sample's masses become
 * the reference, and each sample vector's leave-one-out score its
 * calibration. The engine uses the second.
 *
 * Serialized form, little-endian:
 *   "RPHS" u32 version u32 trees u32 depth u32 window u32 size_limit
 *   u32 dims u32 names_hash u64 seed u32 in_window u32 windows
 *   u32 ref_total u32 cur_total u32 bins u32 reserved       (64 bytes)
 *   then per node (all trees) u32 r, u32 l; then bins u32 of the
 *   reference calibration, bins u32 of the window being learned.
 * The split structure is not stored: it is rebuilt from the seed. The
 * loader checks geometry, the exact length, and that the masses are
 * those of real vectors (each internal node's mass is its children's
 * sum, the root's is the window) and that the histograms add up.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "hstree.h"

#define VERSION 1u
#define HEADER_BYTES 64u

typedef struct hst_node {
    float split;  /* go right when x[dim] >= split */
    uint32_t r;   /* reference mass */
    uint32_t l;   /* latest mass */
    uint8_t dim;
    uint8_t pad[3];
} hst_node;

struct rp_hstree {
    rp_hstree_params p;
    uint32_t nodes;     /* per tree: 2^(D+1) - 1 */
    uint32_t in_window; /* vectors learned in the current window */
    uint32_t windows;   /* windows completed (saturating) */
    uint64_t learned;
    uint32_t ref_total, cur_total;
    uint32_t ref_hist[RP_HST_BINS];
    uint32_t ref_cum[RP_HST_BINS]; /* ref_cum[b] = vectors in bins <= b */
    uint32_t cur_hist[RP_HST_BINS];
    hst_node *node;     /* trees * nodes */
};

void rp_hstree_defaults(rp_hstree_params *p, uint32_t dims, uint32_t names_hash) {
    memset(p, 0, sizeof *p);
    p->trees = 25;
    p->depth = 10;
    p->window = 1024;
    p->size_limit = 4;
    p->dims = dims;
    p->names_hash = names_hash;
    p->seed = 0x5eed0fa11ce5ULL;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static float uniform(uint64_t *s) { return (float)(splitmix(s) >> 40) / (float)(1u << 24); }

/* Depth-first, so the draws happen in one fixed order. */
static void build(hst_node *tree, uint32_t i, uint32_t k, const rp_hstree_params *p, float *lo,
                  float *hi, uint64_t *rng) {
    if (k == p->depth) return;
    uint32_t q = (uint32_t)(splitmix(rng) % p->dims);
    float mid = (lo[q] + hi[q]) * 0.5f;
    tree[i].dim = (uint8_t)q;
    tree[i].split = mid;
    float save = hi[q];
    hi[q] = mid;
    build(tree, 2 * i + 1, k + 1, p, lo, hi, rng);
    hi[q] = save;
    save = lo[q];
    lo[q] = mid;
    build(tree, 2 * i + 2, k + 1, p, lo, hi, rng);
    lo[q] = save;
}

static bool params_ok(const rp_hstree_params *p) {
    if (p->trees < 1 || p->trees > 256 || p->depth < 1 || p->depth > 15) return false;
    if (p->dims < 1 || p->dims > RP_HST_MAX_DIMS) return false;
    if (p->window < 16 || p->window > (1u << 24) || p->size_limit >= p->window) return false;
    size_t nodes = ((size_t)1 << (p->depth + 1)) - 1;
    return (size_t)p->trees * nodes * sizeof(hst_node) <= RP_HST_MAX_BYTES;
}

rp_status rp_hstree_new(const rp_hstree_params *p, rp_hstree **out) {
    *out = NULL;
    if (!params_ok(p)) return RP_EINVAL;
    rp_hstree *h = calloc(1, sizeof *h);
    if (!h) return RP_ENOMEM;
    h->p = *p;
    h->nodes = (1u << (p->depth + 1)) - 1;
    h->node = calloc((size_t)p->trees * h->nodes, sizeof *h->node);
    if (!h->node) {
        free(h);
        return RP_ENOMEM;
    }
    uint64_t rng = p->seed;
    for (uint32_t t = 0; t < p->trees; t++) {
        float lo[RP_HST_MAX_DIMS], hi[RP_HST_MAX_DIMS];
        for (uint32_t q = 0; q < p->dims; q++) {
            float s = uniform(&rng);
            float w = 2.0f * (s > 1.0f - s ? s : 1.0f - s);
            lo[q] = s - w;
            hi[q] = s + w;
        }
        build(h->node + (size_t)t * h->nodes, 0, 0, p, lo, hi, &rng);
    }
    *out = h;
    return RP_OK;
}

void rp_hstree_free(rp_hstree *h) {
    if (!h) return;
    free(h->node);
    free(h);
}

const rp_hstree_params *rp_hstree_params_of(const rp_hstree *h) { return &h->p; }
uint64_t rp_hstree_learned(const rp_hstree *h) { return h->learned; }
uint32_t rp_hstree_windows(const rp_hstree *h) { return h->windows; }
bool rp_hstree_calibrated(const rp_hstree *h) { return h->ref_total > 0; }

static inline uint32_t child(const hst_node *nd, uint32_t i, const float *x) {
    return 2 * i + 1 + (x[nd->dim] >= nd->split);
}

double rp_hstree_score(const rp_hstree *h, const float *x) {
    double total = 0;
    for (uint32_t t = 0; t < h->p.trees; t++) {
        const hst_node *tree = h->node + (size_t)t * h->nodes;
        uint32_t i = 0, k = 0;
        while (k < h->p.depth && tree[i].r > h->p.size_limit) {
            i = child(&tree[i], i, x);
            k++;
        }
        total += (double)tree[i].r * (double)(1u << k);
    }
    return total;
}

static unsigned bin_of(double raw) {
    if (!(raw >= 1.0)) return 0;
    double b = 1.0 + floor(log2(raw) * 16.0);
    return b >= RP_HST_BINS - 1 ? RP_HST_BINS - 1 : (unsigned)b;
}

static void calibrate(rp_hstree *h) {
    uint32_t sum = 0;
    for (unsigned b = 0; b < RP_HST_BINS; b++) {
        sum += h->ref_hist[b];
        h->ref_cum[b] = sum;
    }
}

/* The latest window becomes the reference. */
static void swap_window(rp_hstree *h) {
    size_t n = (size_t)h->p.trees * h->nodes;
    for (size_t i = 0; i < n; i++) {
        h->node[i].r = h->node[i].l;
        h->node[i].l = 0;
    }
    if (h->windows >= 1) { /* scores of this window were against a reference */
        memcpy(h->ref_hist, h->cur_hist, sizeof h->ref_hist);
        h->ref_total = h->cur_total;
        calibrate(h);
    }
    memset(h->cur_hist, 0, sizeof h->cur_hist);
    h->cur_total = 0;
    h->in_window = 0;
    if (h->windows != UINT32_MAX) h->windows++;
}

double rp_hstree_update(rp_hstree *h, const float *x, bool learn) {
    if (!learn) return rp_hstree_score(h, x);
    double total = 0;
    for (uint32_t t = 0; t < h->p.trees; t++) {
        hst_node *tree = h->node + (size_t)t * h->nodes;
        uint32_t i = 0;
        bool scored = false;
        for (uint32_t k = 0;; k++) {
            hst_node *nd = &tree[i];
            if (!scored && (k == h->p.depth || nd->r <= h->p.size_limit)) {
                total += (double)nd->r * (double)(1u << k);
                scored = true;
            }
            nd->l++;
            if (k == h->p.depth) break;
            i = child(nd, i, x);
        }
    }
    h->learned++;
    if (h->windows >= 1) {
        h->cur_hist[bin_of(total)]++;
        h->cur_total++;
    }
    if (++h->in_window >= h->p.window) swap_window(h);
    return total;
}

/* A sample vector's score against masses that contain it, leaving it out:
 * every node on its path counts it once, so its own mass there is r - 1. */
static double score_left_out(const rp_hstree *h, const float *x) {
    double total = 0;
    for (uint32_t t = 0; t < h->p.trees; t++) {
        const hst_node *tree = h->node + (size_t)t * h->nodes;
        uint32_t i = 0, k = 0;
        while (k < h->p.depth && tree[i].r - 1 > h->p.size_limit) {
            i = child(&tree[i], i, x);
            k++;
        }
        total += (double)(tree[i].r - 1) * (double)(1u << k);
    }
    return total;
}

rp_status rp_hstree_train(const rp_hstree_params *p, const float *sample, uint32_t n,
                          uint64_t learned, rp_hstree **out) {
    *out = NULL;
    if (n != p->window) return RP_EINVAL;
    rp_hstree *h;
    rp_status st = rp_hstree_new(p, &h);
    if (st != RP_OK) return st;
    for (uint32_t v = 0; v < n; v++) {
        const float *x = sample + (size_t)v * p->dims;
        for (uint32_t t = 0; t < p->trees; t++) {
            hst_node *tree = h->node + (size_t)t * h->nodes;
            uint32_t i = 0;
            for (uint32_t k = 0;; k++) {
                tree[i].r++;
                if (k == p->depth) break;
                i = child(&tree[i], i, x);
            }
        }
    }
    for (uint32_t v = 0; v < n; v++)
        h->ref_hist[bin_of(score_left_out(h, sample + (size_t)v * p->dims))]++;
    h->ref_total = n;
    calibrate(h);
    h->windows = 2; /* a reference and its calibration: what two windows give */
    h->learned = learned;
    *out = h;
    return RP_OK;
}

double rp_hstree_tail(const rp_hstree *h, double raw) {
    if (h->ref_total == 0) return -1.0;
    return (double)h->ref_cum[bin_of(raw)] / (double)h->ref_total;
}

void rp_hstree_explain(const rp_hstree *h, const float *x, float *credit) {
    for (uint32_t q = 0; q < h->p.dims; q++) credit[q] = 0;
    for (uint32_t t = 0; t < h->p.trees; t++) {
        const hst_node *tree = h->node + (size_t)t * h->nodes;
        uint32_t i = 0, k = 0, parent = 0;
        while (k < h->p.depth && tree[i].r > h->p.size_limit) {
            parent = i;
            i = child(&tree[i], i, x);
            k++;
        }
        if (k > 0) credit[tree[parent].dim] += 1.0f / (float)h->p.trees;
    }
}

/* ---------------------------------------------------------- persistence */


static size_t body_bytes(const rp_hstree_params *p) {
    size_t nodes = ((size_t)1 << (p->depth + 1)) - 1;
    return (size_t)p->trees * nodes * 8u + 2u * RP_HST_BINS * 4u;
}

rp_status rp_hstree_serialize(const rp_hstree *h, uint8_t **buf, size_t *len, rp_error *err) {
    *buf = NULL;
    *len = 0;
    size_t n = HEADER_BYTES + body_bytes(&h->p);
    uint8_t *b = calloc(1, n);
    if (!b) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory for the model");
    memcpy(b, "RPHS", 4);
    rp_put32(b + 4, VERSION);
    rp_put32(b + 8, h->p.trees);
    rp_put32(b + 12, h->p.depth);
    rp_put32(b + 16, h->p.window);
    rp_put32(b + 20, h->p.size_limit);
    rp_put32(b + 24, h->p.dims);
    rp_put32(b + 28, h->p.names_hash);
    rp_put64(b + 32, h->p.seed);
    rp_put32(b + 40, h->in_window);
    rp_put32(b + 44, h->windows);
    rp_put32(b + 48, h->ref_total);
    rp_put32(b + 52, h->cur_total);
    rp_put32(b + 56, RP_HST_BINS);
    uint8_t *p = b + HEADER_BYTES;
    size_t all = (size_t)h->p.trees * h->nodes;
    for (size_t i = 0; i < all; i++, p += 8) {
        rp_put32(p, h->node[i].r);
        rp_put32(p + 4, h->node[i].l);
    }
    for (unsigned i = 0; i < RP_HST_BINS; i++, p += 4) rp_put32(p, h->ref_hist[i]);
    for (unsigned i = 0; i < RP_HST_BINS; i++, p += 4) rp_put32(p, h->cur_hist[i]);
    *buf = b;
    *len = n;
    return RP_OK;
}

static rp_status bad(rp_error *err, const char *what) {
    return rp_error_set(err, RP_EPARSE, NULL, 0, 0, "not a usable feature model: %s", what);
}

/* Masses of real vectors: each internal node holds what its children
 * hold, and the root holds the window. */
static bool masses_ok(const rp_hstree *h) {
    for (uint32_t t = 0; t < h->p.trees; t++) {
        const hst_node *tree = h->node + (size_t)t * h->nodes;
        if (tree[0].r != (h->windows ? h->p.window : 0) || tree[0].l != h->in_window) return false;
        uint32_t internal = h->nodes / 2;
        for (uint32_t i = 0; i < internal; i++) {
            const hst_node *a = &tree[2 * i + 1], *b = &tree[2 * i + 2];
            if ((uint64_t)a->r + b->r != tree[i].r || (uint64_t)a->l + b->l != tree[i].l)
                return false;
        }
    }
    return true;
}

static bool hist_ok(const uint32_t *hist, uint32_t total) {
    uint64_t sum = 0;
    for (unsigned i = 0; i < RP_HST_BINS; i++) sum += hist[i];
    return sum == total;
}

rp_status rp_hstree_load(const uint8_t *buf, size_t len, rp_hstree **out, rp_error *err) {
    *out = NULL;
    if (!buf || len < HEADER_BYTES) return bad(err, "truncated header");
    if (memcmp(buf, "RPHS", 4) != 0) return bad(err, "wrong magic");
    uint32_t version = rp_get32(buf + 4);
    if (version != VERSION)
        return rp_error_set(err, RP_EPARSE, NULL, 0, 0,
                            "not a usable feature model: version %u, this build reads version %u",
                            version, VERSION);
    rp_hstree_params p = {.trees = rp_get32(buf + 8),
                          .depth = rp_get32(buf + 12),
                          .window = rp_get32(buf + 16),
                          .size_limit = rp_get32(buf + 20),
                          .dims = rp_get32(buf + 24),
                          .names_hash = rp_get32(buf + 28),
                          .seed = rp_get64(buf + 32)};
    if (!params_ok(&p)) return bad(err, "geometry out of range");
    if (rp_get32(buf + 56) != RP_HST_BINS) return bad(err, "calibration size differs from this build");
    if (len != HEADER_BYTES + body_bytes(&p))
        return bad(err, len < HEADER_BYTES + body_bytes(&p) ? "truncated data"
                                                            : "trailing bytes after data");
    rp_hstree *h;
    rp_status st = rp_hstree_new(&p, &h);
    if (st != RP_OK) return rp_error_set(err, st, NULL, 0, 0, "out of memory for the model");
    h->in_window = rp_get32(buf + 40);
    h->windows = rp_get32(buf + 44);
    h->ref_total = rp_get32(buf + 48);
    h->cur_total = rp_get32(buf + 52);
    const uint8_t *q = buf + HEADER_BYTES;
    size_t all = (size_t)p.trees * h->nodes;
    for (size_t i = 0; i < all; i++, q += 8) {
        h->node[i].r = rp_get32(q);
        h->node[i].l = rp_get32(q + 4);
    }
    for (unsigned i = 0; i < RP_HST_BINS; i++, q += 4) h->ref_hist[i] = rp_get32(q);
    for (unsigned i = 0; i < RP_HST_BINS; i++, q += 4) h->cur_hist[i] = rp_get32(q);
    const char *why = NULL;
    if (h->in_window >= p.window) why = "window count out of range";
    else if (!masses_ok(h)) why = "node masses are not those of learned vectors";
    else if (h->ref_total != (h->windows >= 2 ? p.window : 0) || !hist_ok(h->ref_hist, h->ref_total))
        why = "reference calibration does not add up";
    else if (h->cur_total != (h->windows >= 1 ? h->in_window : 0) ||
             !hist_ok(h->cur_hist, h->cur_total))
        why = "window calibration does not add up";
    if (why) {
        rp_hstree_free(h);
        return bad(err, why);
    }
    calibrate(h);
    h->learned = (uint64_t)h->windows * p.window + h->in_window;
    *out = h;
    return RP_OK;
}
