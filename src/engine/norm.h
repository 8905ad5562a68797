/*
 * norm.h -- what is normal: a decaying log-scale histogram and its quantiles.
 *
 * Relative thresholds ("20x the route's p99") need the distribution of a
 * quantity over the recent population. We keep 64 buckets whose bounds
 * grow by a factor of sqrt(2) from 1 (values below 1 land in bucket 0), so
 * any quantile is known to within ~41 % -- plenty for "how far above
 * normal". Every `period` of event time the counts are halved, so the
 * histogram forgets old traffic with a half-life of one period (an hour by
 * default) and follows the site as it changes.
 *
 * A quantile is only trusted once `min_samples` have been seen; before that
 * rp_norm_quantile returns NAN and detectors fall back to absolute bounds.
 */
#ifndef RP_NORM_H
#define RP_NORM_H

#include <stdint.h>

#define RP_NORM_BUCKETS 64

typedef struct rp_norm {
    int64_t epoch_us; /* start of the current period */
    float total;
    float count[RP_NORM_BUCKETS];
} rp_norm;

void rp_norm_add(rp_norm *n, double value, int64_t ts_us, int64_t period_us);
/* q in (0,1). NAN when fewer than min_samples (decayed weight) were seen. */
double rp_norm_quantile(const rp_norm *n, double q, double min_samples);
/* The lower bound of the bucket value falls into, and the reverse. */
unsigned rp_norm_bucket(double value);
double rp_norm_bucket_value(unsigned bucket);

#endif
