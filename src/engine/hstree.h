/*
 * hstree.h -- half-space trees: a streaming model of normal feature
 * vectors (Tan, Ting & Liu, "Fast anomaly detection for streaming data",
 * IJCAI 2011), calibrated so that its answer means the same on any site.
 *
 * The model is T complete binary trees of depth D over vectors in [0,1]^d.
 * Each internal node splits one dimension at the middle of its work range;
 * dimensions and the (randomly perturbed) work ranges are drawn from a
 * fixed seed, so the same seed and the same input give the same model, bit
 * for bit. The trees do not depend on the data at all: learning only
 * counts how many vectors fall into each node.
 *
 * Two ways to learn: the paper's streaming one (rp_hstree_update: two
 * masses per node, the reference mass r -- what the previous window of
 * learned vectors looked like -- and the latest mass l, the window being
 * learned), and a whole model trained from a sample (rp_hstree_train),
 * which the engine uses so that training runs off the hot path. Streaming,
 * every `window` learned vectors the latest becomes the reference and the
 * latest starts over: O(nodes), amortised over the window. A vector's raw score is the sum over trees of r x 2^depth at the
 * deepest node of its path whose reference mass is still above a small
 * limit: high in dense regions, low where normal vectors are rare.
 *
 * Calibration: raw scores have no unit (they grow with T, D and the
 * window), so the model also keeps a histogram of the raw scores of the
 * vectors it learned, scored against the reference of their time (1/16
 * octave bins). When the window swaps, that histogram becomes the
 * reference calibration, and a score is turned into its *tail*: the
 * fraction of normal vectors that scored as low or lower. A tail of 0.001
 * means "rarer than 99.9 % of what normal traffic looked like". The model
 * answers only once it has a calibration, i.e. after two windows.
 *
 * Bounded: at most RP_HST_MAX_BYTES of nodes, allocated once in
 * rp_hstree_new; nothing is allocated after. Persistence without I/O like
 * markov.h: a versioned little-endian buffer, validated before use.
 */
#ifndef RP_HSTREE_H
#define RP_HSTREE_H

#include "rampart.h"

#define RP_HST_MAX_DIMS 16
#define RP_HST_MAX_BYTES (4u << 20)
#define RP_HST_BINS 640 /* 1/16 octave bins of raw scores, up to 2^40 */

typedef struct rp_hstree rp_hstree;

typedef struct rp_hstree_params {
    uint32_t trees;      /* T, 1..256 */
    uint32_t depth;      /* D, 1..15 */
    uint32_t window;     /* learned vectors per window, 16..1<<24 */
    uint32_t size_limit; /* a node with r <= this ends a path when scoring */
    uint32_t dims;       /* 1..RP_HST_MAX_DIMS */
    uint32_t names_hash; /* what the dimensions mean; checked on load by the owner */
    uint64_t seed;
} rp_hstree_params;

/* The defaults the engine uses: 25 trees of depth 10, windows of 1024. */
void rp_hstree_defaults(rp_hstree_params *p, uint32_t dims, uint32_t names_hash);

rp_status rp_hstree_new(const rp_hstree_params *p, rp_hstree **out);
void rp_hstree_free(rp_hstree *h);
const rp_hstree_params *rp_hstree_params_of(const rp_hstree *h);

/* Raw score of x against the reference masses (0 when there is none yet);
 * when learn, x is also counted in the latest masses, which may end the
 * window. One pass down each tree. x values outside [0,1] are clamped by
 * the work ranges (they are wider than [0,1]). */
double rp_hstree_update(rp_hstree *h, const float *x, bool learn);

/* A new model with p's trees whose reference is the n = p->window vectors
 * of sample (n x p->dims floats, any order), calibrated by each one's
 * leave-one-out score: it answers at once. learned is carried for
 * rp_hstree_learned. Pure and allocation-bounded: any thread may run it.
 * RP_EINVAL when n != p->window. */
rp_status rp_hstree_train(const rp_hstree_params *p, const float *sample, uint32_t n,
                          uint64_t learned, rp_hstree **out);
double rp_hstree_score(const rp_hstree *h, const float *x);

/* The fraction of the calibration window's vectors that scored <= raw
 * (0 = lower than all of them), or -1 when there is no calibration yet. */
double rp_hstree_tail(const rp_hstree *h, double raw);
bool rp_hstree_calibrated(const rp_hstree *h);

/* Which dimensions isolated x: for each tree, the dimension of the split
 * that led into the node where its path ended, credited 1/T. credit has
 * `dims` entries and is overwritten. Cold path (evidence). */
void rp_hstree_explain(const rp_hstree *h, const float *x, float *credit);

uint64_t rp_hstree_learned(const rp_hstree *h);  /* vectors since creation */
uint32_t rp_hstree_windows(const rp_hstree *h);  /* windows completed (saturating) */

/* A buffer the caller frees with free(). */
rp_status rp_hstree_serialize(const rp_hstree *h, uint8_t **buf, size_t *len, rp_error *err);
/* A new model from a buffer; everything checked before use. */
rp_status rp_hstree_load(const uint8_t *buf, size_t len, rp_hstree **out, rp_error *err);

#endif
