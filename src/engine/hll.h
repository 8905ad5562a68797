/*
 * hll.h -- a 32-byte HyperLogLog for per-client distinct counts.
 *
 * 64 registers of 4 bits. The standard error is 1.04/sqrt(64) = 13 %, good
 * enough to tell "3 distinct usernames" from "40"; below 2.5 * 64 the
 * linear-counting correction makes small counts nearly exact, which is
 * where thresholds usually sit. A 4-bit register holds ranks up to 15,
 * which saturates only past ~2^15 * 64 distinct values per client.
 *
 * Why our own: a per-client sketch must be a fixed 32 bytes inside the
 * client slot, with no allocation; the library sketches allocate.
 */
#ifndef RP_HLL_H
#define RP_HLL_H

#include <stdint.h>
#include <string.h>

#define RP_HLL_REGISTERS 64

typedef struct rp_hll {
    uint8_t reg[RP_HLL_REGISTERS / 2]; /* two 4-bit registers per byte */
} rp_hll;

/* Add a 64-bit hash (already well mixed). Returns 1 if a register grew,
 * which means the value was surely not seen before. */
static inline int rp_hll_add(rp_hll *h, uint64_t hash) {
    unsigned idx = (unsigned)(hash & 63u);
    uint64_t rest = hash >> 6;
    unsigned rank = rest ? (unsigned)__builtin_ctzll(rest) + 1u : 15u;
    if (rank > 15u) rank = 15u;
    uint8_t *byte = &h->reg[idx >> 1];
    unsigned shift = (idx & 1u) * 4u;
    unsigned cur = (*byte >> shift) & 15u;
    if (rank <= cur) return 0;
    *byte = (uint8_t)((*byte & ~(15u << shift)) | (rank << shift));
    return 1;
}

double rp_hll_estimate(const rp_hll *h);

static inline void rp_hll_merge(rp_hll *dst, const rp_hll *src) {
    for (unsigned i = 0; i < RP_HLL_REGISTERS; i++) {
        unsigned shift = (i & 1u) * 4u;
        unsigned a = (dst->reg[i >> 1] >> shift) & 15u;
        unsigned b = (src->reg[i >> 1] >> shift) & 15u;
        if (b > a)
            dst->reg[i >> 1] = (uint8_t)((dst->reg[i >> 1] & ~(15u << shift)) | (b << shift));
    }
}

#endif
