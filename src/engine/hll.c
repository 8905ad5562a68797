/* hll.c -- the estimate of rp_hll (see hll.h). */
#include <math.h>

#include "hll.h"

double rp_hll_estimate(const rp_hll *h) {
    const double m = RP_HLL_REGISTERS;
    double sum = 0.0;
    unsigned zeros = 0;
    for (unsigned i = 0; i < RP_HLL_REGISTERS; i++) {
        unsigned r = (h->reg[i >> 1] >> ((i & 1u) * 4u)) & 15u;
        sum += ldexp(1.0, -(int)r);
        zeros += r == 0;
    }
    const double alpha = 0.709; /* alpha_64 */
    double est = alpha * m * m / sum;
    if (est <= 2.5 * m && zeros > 0) est = m * log(m / zeros); /* linear counting */
    return est;
}
