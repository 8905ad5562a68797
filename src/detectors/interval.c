/*
 * interval.c -- machine-regular timing.
 *
 * Humans pause irregularly: the gaps between their requests vary by as
 * much as they last (coefficient of variation around 1). A script that
 * sleeps a fixed time between requests, a poller, a rate-limited scraper,
 * a stuffing tool pacing itself, repeats the same gap give or take network
 * jitter: a variation of a few percent.
 *
 * We keep an exponentially weighted mean of the gaps and of their absolute
 * deviation from that mean (the mean absolute deviation is cheaper than a
 * variance and less thrown by one long pause). For the first 16 gaps the
 * weight is 1/n, a plain running average, so that the first gaps do not
 * linger as they would with an EWMA seeded at zero; after that 1/16, so
 * the measure follows the client's current behaviour. variation =
 * deviation / mean.
 *
 * Which gaps: those shorter than burst_gap (50 ms) are inside a burst --
 * a browser fetching a page's assets, a client pipelining a few calls --
 * and say nothing about pacing, so they are skipped. Gaps of an hour or
 * more are a new session, also skipped. A gap <= 0 (out-of-order log
 * lines) is skipped: reordering by a second must not pass for a burst.
 *
 * Score: 0 until min_gaps gaps were measured; then, below the variation
 * threshold, 0.5 rising to 1 as the variation reaches 0, multiplied by the
 * support (gaps / (2 x min_gaps), at most 1): 20 regular gaps are a hint,
 * 40 are a pattern. The weight is low (20) on purpose: partners and
 * monitors are regular and welcome, so regularity alone never reaches a
 * reaction; it tips the balance when another detector has seen abuse.
 *
 * State: 16 bytes (two floats and a count).
 */
#include <math.h>

#include "detector.h"

#define SEC_US 1000000LL
#define MAX_GAP_US (3600 * SEC_US)
#define WARMUP_GAPS 16u /* weight 1/n up to here, then 1/16 */

enum { P_MAX_VARIATION, P_MIN_GAPS, P_BURST_GAP, P_COUNT };

static const rp_param interval_params[P_COUNT] = {
    {"max_variation", "ratio", {0.05, 0.10, 0.20}, 0.001, 1.0,
     "gap deviation / mean gap below which timing counts as machine-regular"},
    {"min_gaps", "gaps", {40, 20, 10}, 3, 100000,
     "gaps measured before regularity is scored (full support at twice this)"},
    {"burst_gap", "ms", {50, 50, 50}, 0, 10000,
     "gaps shorter than this are inside a burst (page assets) and are not measured"},
};

typedef struct interval_state {
    float mean_us; /* weighted mean gap */
    float dev_us;  /* weighted mean |gap - mean| */
    uint32_t gaps; /* gaps measured (saturating) */
    uint32_t reserved;
} interval_state;

_Static_assert(sizeof(interval_state) <= 24, "interval state over its budget");

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    interval_state *s = state;
    int64_t gap = obs->gap_us;
    if (gap <= 0 || gap >= MAX_GAP_US) return;
    if ((double)gap < ctx->params[P_BURST_GAP] * 1000.0) return;
    float g = (float)gap;
    if (s->gaps == 0) {
        s->mean_us = g;
        s->dev_us = 0;
        s->gaps = 1;
        return;
    }
    /* deviations measured so far: gaps - 1 before this one */
    uint32_t k = s->gaps;
    float w = k < WARMUP_GAPS ? 1.0f / (float)(k + 1) : 1.0f / (float)WARMUP_GAPS;
    float wd = k < WARMUP_GAPS ? 1.0f / (float)k : 1.0f / (float)WARMUP_GAPS;
    float diff = fabsf(g - s->mean_us);
    s->dev_us += wd * (diff - s->dev_us);
    s->mean_us += w * (g - s->mean_us);
    if (s->gaps < UINT32_MAX) s->gaps++;
}

static double variation(const interval_state *s) {
    return s->mean_us > 0 ? (double)s->dev_us / (double)s->mean_us : 1.0;
}

static double evaluate(const interval_state *s, const double *p) {
    if (s->gaps < p[P_MIN_GAPS]) return 0.0;
    double thr = p[P_MAX_VARIATION], cv = variation(s);
    if (!(cv < thr) || thr <= 0) return 0.0;
    double shape = 0.5 + 0.5 * (thr - cv) / thr;
    double support = s->gaps / (2.0 * p[P_MIN_GAPS]);
    if (support > 1.0) support = 1.0;
    return shape * support;
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    const interval_state *s = state;
    const double *p = ctx->params;
    double sc = evaluate(s, p);
    if (finding) {
        double cv = variation(s);
        finding->threats = RP_THREAT_AUTOMATION;
        rp_finding_feature(finding, "gap_variation", cv, p[P_MAX_VARIATION], NAN, sc > 0);
        rp_finding_feature(finding, "mean_gap_s", s->mean_us / 1e6, NAN, NAN, false);
        rp_finding_feature(finding, "gaps_measured", s->gaps, p[P_MIN_GAPS], NAN,
                           s->gaps >= p[P_MIN_GAPS]);
        rp_finding_summary(finding,
                           "interval: %.2f s mean gap, variation %.0f%% over %u requests "
                           "(%s; threshold %.0f%%)",
                           s->mean_us / 1e6, cv * 100.0, s->gaps,
                           sc > 0 ? "machine-regular" : "not regular", p[P_MAX_VARIATION] * 100.0);
    }
    return sc;
}

/* ------------------------------------------------------------- features */

/* For the anomaly detector's model of normal clients: gap variation
 * (deviation / mean, capped at 2, halved; 0.5 until 3 gaps) and the mean
 * gap (seconds, log scale capped at an hour). */
static const char *const feature_names[] = {"gap_variation", "mean_gap"};

static void features(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                     float *out) {
    (void)obs;
    (void)ctx;
    const interval_state *s = state;
    double cv = variation(s);
    out[0] = s->gaps < 3 ? 0.5f : (float)(cv > 2.0 ? 1.0 : cv / 2.0);
    out[1] = rp_feature_log(s->gaps ? s->mean_us / 1e6 : 0.0, 3600);
}

const rp_detector rp_detector_interval = {
    .name = "interval",
    .description = "machine-regular timing between requests (adds weight, never acts alone)",
    .state_size = sizeof(interval_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP),
    .threats = RP_THREAT_AUTOMATION,
    .default_weight = 20,
    .params = interval_params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
    .n_features = sizeof feature_names / sizeof feature_names[0],
    .feature_names = feature_names,
    .features = features,
};
