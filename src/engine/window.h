/*
 * window.h -- a sliding window of event counts in six buckets.
 *
 * Detectors count things "in the last N seconds" with this: six buckets of
 * width N/6 and the index of the newest one. Sixteen bytes whatever the
 * window, so a client can carry several. A bucket saturates at 65535 rather
 * than wrapping: a client that sends more than that in one bucket is far
 * past every threshold anyway.
 *
 * Time is the event's; a timestamp older than the newest bucket is counted
 * in the bucket it belongs to if it is still inside the window, else
 * ignored (logs are only roughly ordered).
 */
#ifndef RP_WINDOW_H
#define RP_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#define RP_WINDOW_BUCKETS 6
#define RP_WINDOW_BUCKET_MAX 65535u /* where a bucket stops counting */

typedef struct rp_window {
    uint32_t newest; /* bucket number (ts / width) of bucket[newest % 6]; 0 = empty */
    uint16_t bucket[RP_WINDOW_BUCKETS];
} rp_window;

static inline uint32_t rp_window_index(int64_t ts_us, int64_t width_us) {
    return ts_us <= 0 ? 1u : (uint32_t)(ts_us / width_us) + 1u;
}

static inline void rp_window_roll(rp_window *w, uint32_t idx) {
    if (idx <= w->newest) return;
    uint32_t steps = idx - w->newest;
    if (w->newest == 0 || steps >= RP_WINDOW_BUCKETS) {
        for (int i = 0; i < RP_WINDOW_BUCKETS; i++) w->bucket[i] = 0;
    } else {
        for (uint32_t s = 1; s <= steps; s++) w->bucket[(w->newest + s) % RP_WINDOW_BUCKETS] = 0;
    }
    w->newest = idx;
}

/* Count n events at ts. */
static inline void rp_window_add(rp_window *w, int64_t ts_us, int64_t width_us, uint32_t n) {
    uint32_t idx = rp_window_index(ts_us, width_us);
    if (idx + RP_WINDOW_BUCKETS <= w->newest) return; /* too old for the window */
    rp_window_roll(w, idx);
    uint16_t *b = &w->bucket[idx % RP_WINDOW_BUCKETS];
    uint32_t v = (uint32_t)*b + n;
    *b = v > RP_WINDOW_BUCKET_MAX ? RP_WINDOW_BUCKET_MAX : (uint16_t)v;
}

/* Events in the window that ends at now (the six buckets up to now's). */
static inline uint32_t rp_window_sum(const rp_window *w, int64_t now_us, int64_t width_us) {
    uint32_t idx = rp_window_index(now_us, width_us);
    if (w->newest == 0 || idx >= w->newest + RP_WINDOW_BUCKETS) return 0;
    uint32_t sum = 0;
    for (uint32_t b = (idx >= RP_WINDOW_BUCKETS - 1 ? idx - (RP_WINDOW_BUCKETS - 1) : 0); b <= idx;
         b++) {
        if (b > w->newest || b + RP_WINDOW_BUCKETS <= w->newest || b == 0) continue;
        sum += w->bucket[b % RP_WINDOW_BUCKETS];
    }
    return sum;
}

/* Events in the newest k buckets up to now (k <= 6): a shorter window. */
static inline uint32_t rp_window_sum_last(const rp_window *w, int64_t now_us, int64_t width_us,
                                          uint32_t k) {
    uint32_t idx = rp_window_index(now_us, width_us);
    if (w->newest == 0 || k == 0) return 0;
    uint32_t sum = 0;
    for (uint32_t b = (idx >= k - 1 ? idx - (k - 1) : 0); b <= idx; b++) {
        if (b == 0 || b > w->newest || b + RP_WINDOW_BUCKETS <= w->newest) continue;
        sum += w->bucket[b % RP_WINDOW_BUCKETS];
    }
    return sum;
}

/* Did one of the newest k buckets up to now (k <= 6) stop at the bound?
 * Then their sum is a floor, not a count, and evidence must say so. For
 * the cold path (evidence), not for scoring: a floor already passes every
 * threshold. */
static inline bool rp_window_saturated(const rp_window *w, int64_t now_us, int64_t width_us,
                                       uint32_t k) {
    uint32_t idx = rp_window_index(now_us, width_us);
    if (w->newest == 0 || k == 0) return false;
    for (uint32_t b = (idx >= k - 1 ? idx - (k - 1) : 0); b <= idx; b++) {
        if (b == 0 || b > w->newest || b + RP_WINDOW_BUCKETS <= w->newest) continue;
        if (w->bucket[b % RP_WINDOW_BUCKETS] >= RP_WINDOW_BUCKET_MAX) return true;
    }
    return false;
}

#endif
