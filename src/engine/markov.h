/*
 * markov.h -- a route-transition model of the site's normal API flows.
 *
 * Counts of "a client requested route i, then route j" learned from the
 * traffic itself, so that a flow nobody normally follows (a bot jumping
 * straight between rare endpoints) can be measured in bits of surprise:
 *   P(j|i) = (count(i,j) + a) / (total(i) + a*K),  surprise = -log2 P
 * clamped to [0, 20]. Routes are named by a 32-bit key (the low bits of
 * the route's method+template hash, never 0), not by inventory index:
 * indices depend on the order routes were first seen, keys do not, so a
 * model trained on one log applies to another.
 *
 * Fixed memory, chosen at creation: a count-min sketch of transitions
 * (RP_MARKOV_ROWS x RP_MARKOV_WIDTH uint32) and a hashed array of
 * per-route outgoing totals. No allocation after rp_markov_new; when the
 * number of transitions passes a cap every counter is halved, so the
 * model follows the site as it changes.
 *
 * Persistence without I/O: rp_markov_serialize writes a versioned
 * little-endian buffer, rp_markov_load validates one (magic, version,
 * sizes, lengths) and refuses a hostile or damaged buffer with a clear
 * error.
 */
#ifndef RP_MARKOV_H
#define RP_MARKOV_H

#include "rampart.h"

#define RP_MARKOV_ROWS 4
#define RP_MARKOV_WIDTH 65536u
#define RP_MARKOV_MAX_SURPRISE 20.0
#define RP_MARKOV_DECAY_AT (1u << 28) /* transitions before halving */

typedef struct rp_markov rp_markov;

/* Room for max_routes routes (1..1<<20). */
rp_status rp_markov_new(uint32_t max_routes, rp_markov **out);
void rp_markov_free(rp_markov *m);

/* The key naming a route in the model: never 0 (0 = no route). */
static inline uint32_t rp_markov_key(uint64_t route_hash) {
    uint32_t k = (uint32_t)(route_hash ^ (route_hash >> 32));
    return k ? k : 1u;
}

/* Learn one transition. O(ROWS), no allocation. */
void rp_markov_observe(rp_markov *m, uint32_t from, uint32_t to);
/* P(to | from) with add-a smoothing, and its surprise in bits. */
double rp_markov_probability(const rp_markov *m, uint32_t from, uint32_t to);
double rp_markov_surprise(const rp_markov *m, uint32_t from, uint32_t to);

uint64_t rp_markov_transitions(const rp_markov *m); /* since creation, after decay */
uint32_t rp_markov_routes(const rp_markov *m);      /* source routes seen */

/* A buffer the caller frees with free(). */
rp_status rp_markov_serialize(const rp_markov *m, uint8_t **buf, size_t *len, rp_error *err);
/* A new model from a buffer; everything checked before use. */
rp_status rp_markov_load(const uint8_t *buf, size_t len, rp_markov **out, rp_error *err);

/* For tests: halve every counter now (what passing the cap does). */
void rp_markov_decay(rp_markov *m);

#endif
