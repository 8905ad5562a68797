/* hll.c -- the estimate of rp_hll (see hll.h). */
#include <math.h>

#include "hll.h"

/*
 * Detectors re-estimate on every register growth, which for a young client
 * is most of its requests: this runs about once per event. The harmonic
 * sum is kept in integers, in units of 2^-15 (the term 2^-r of a register
 * at the top rank, 15): 64 terms of at most 2^15 units add up to at most
 * 2^21, and converted once that is exactly the double a loop of 2^-r
 * additions gives -- every partial sum of such terms is a multiple of
 * 2^-15 below 2^6, 21 bits of mantissa, so the double loop never rounds.
 * A loop of 64 dependent floating-point additions cost more than the rest
 * of the estimate; one table load and one integer add per byte do not.
 *
 * byte_terms[b]: for the byte b (two registers), the sum of their terms in
 * units (bits 0..23, at most 2^16) and how many of them are zero (bits
 * 24..31): 32 of them add up without one field reaching the other.
 */
#define UNIT_SHIFT 15
#define ZEROS_SHIFT 24
#define TERM(r) ((1u << UNIT_SHIFT) >> (r))
#define ZERO(r) ((r) == 0 ? 1u : 0u)
#define BYTE(b) (TERM((b) & 15u) + TERM((b) >> 4) + ((ZERO((b) & 15u) + ZERO((b) >> 4)) << ZEROS_SHIFT))
#define BYTES4(b) BYTE(b), BYTE((b) + 1u), BYTE((b) + 2u), BYTE((b) + 3u)
#define BYTES16(b) BYTES4(b), BYTES4((b) + 4u), BYTES4((b) + 8u), BYTES4((b) + 12u)
#define BYTES64(b) BYTES16(b), BYTES16((b) + 16u), BYTES16((b) + 32u), BYTES16((b) + 48u)

static const uint32_t byte_terms[256] = {BYTES64(0u), BYTES64(64u), BYTES64(128u), BYTES64(192u)};

double rp_hll_estimate(const rp_hll *h) {
    const double m = RP_HLL_REGISTERS;
    uint32_t acc = 0;
    for (unsigned i = 0; i < RP_HLL_REGISTERS / 2; i++) acc += byte_terms[h->reg[i]];
    double sum = (double)(acc & ((1u << ZEROS_SHIFT) - 1)) / (1u << UNIT_SHIFT); /* exact */
    unsigned zeros = acc >> ZEROS_SHIFT;
    const double alpha = 0.709; /* alpha_64 */
    double est = alpha * m * m / sum;
    if (est <= 2.5 * m && zeros > 0) est = m * log(m / zeros); /* linear counting */
    return est;
}
