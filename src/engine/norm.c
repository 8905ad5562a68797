/* norm.c -- decaying log-scale histograms (see norm.h). */
#include <math.h>

#include "norm.h"

unsigned rp_norm_bucket(double value) {
    if (!(value >= 1.0)) return 0;
    /* bucket b covers [sqrt2^(b-1), sqrt2^b) for b >= 1 */
    double b = floor(2.0 * log2(value)) + 1.0;
    if (b >= RP_NORM_BUCKETS) return RP_NORM_BUCKETS - 1;
    return (unsigned)b;
}

double rp_norm_bucket_value(unsigned bucket) {
    if (bucket == 0) return 0.0;
    return pow(2.0, (double)(bucket - 1) / 2.0);
}

void rp_norm_add(rp_norm *n, double value, int64_t ts_us, int64_t period_us) {
    if (n->epoch_us == 0) n->epoch_us = ts_us;
    if (period_us > 0 && ts_us - n->epoch_us >= period_us) {
        int64_t periods = (ts_us - n->epoch_us) / period_us;
        float factor = periods >= 30 ? 0.0f : ldexpf(1.0f, -(int)periods);
        n->total = 0;
        for (unsigned i = 0; i < RP_NORM_BUCKETS; i++) {
            n->count[i] *= factor;
            n->total += n->count[i];
        }
        n->epoch_us += periods * period_us;
    }
    n->count[rp_norm_bucket(value)] += 1.0f;
    n->total += 1.0f;
}

double rp_norm_quantile(const rp_norm *n, double q, double min_samples) {
    if (!(n->total >= min_samples) || n->total <= 0) return NAN;
    double want = q * n->total, seen = 0;
    for (unsigned i = 0; i < RP_NORM_BUCKETS; i++) {
        seen += n->count[i];
        if (seen >= want) return rp_norm_bucket_value(i + 1); /* upper bound of bucket i */
    }
    return rp_norm_bucket_value(RP_NORM_BUCKETS);
}
