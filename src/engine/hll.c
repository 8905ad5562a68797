/* hll.c -- the estimate of rp_hll (see hll.h). */
#include <math.h>

#include "hll.h"

/* 2^-r for a 4-bit register: a table, not ldexp -- detectors re-estimate
 * on every register growth, on the hot path. */
static const double inv_pow2[16] = {
    1.0,          1.0 / 2,      1.0 / 4,      1.0 / 8,     1.0 / 16,    1.0 / 32,
    1.0 / 64,     1.0 / 128,    1.0 / 256,    1.0 / 512,   1.0 / 1024,  1.0 / 2048,
    1.0 / 4096,   1.0 / 8192,   1.0 / 16384,  1.0 / 32768};

double rp_hll_estimate(const rp_hll *h) {
    const double m = RP_HLL_REGISTERS;
    double sum = 0.0;
    unsigned zeros = 0;
    for (unsigned i = 0; i < RP_HLL_REGISTERS / 2; i++) {
        unsigned lo = h->reg[i] & 15u, hi = h->reg[i] >> 4;
        sum += inv_pow2[lo] + inv_pow2[hi];
        zeros += (lo == 0) + (hi == 0);
    }
    const double alpha = 0.709; /* alpha_64 */
    double est = alpha * m * m / sum;
    if (est <= 2.5 * m && zeros > 0) est = m * log(m / zeros); /* linear counting */
    return est;
}
