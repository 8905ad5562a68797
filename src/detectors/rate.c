/*
 * rate.c -- L7 floods: a client sending far more requests than clients
 * normally do, and new clients piling onto a route that is surging.
 *
 * Four sub-signals, each a ramp 0..1; the score is their maximum, because
 * each alone is a complete reason to slow a client down and they measure
 * the same thing (volume) at different time scales:
 *
 *   burst    requests per second averaged over the last 3 one-second
 *            buckets (the current, partial one and the two before). A
 *            browser page load fetches 30-50 assets in about a second and
 *            then goes quiet, which averages to 10-17/s over 3 s; a flood
 *            keeps going. 3 s rather than 1 s is what separates the two,
 *            and it still reacts fast: at 100 req/s the average crosses a
 *            25/s threshold after 0.75 s and reaches block level (0.8)
 *            after 1.2 s; at 50 req/s after ~2 s.
 *   minute   non-static requests in the last 60 s against
 *            clamp(multiple x site p99 of per-client requests per minute,
 *            floor, ceiling). The floor (600 = 10/s for a whole minute) is
 *            what a fresh install uses and sits well above a partner batch
 *            sync at 5 req/s (300/min).
 *   10 min   non-static requests in the last 10 minutes against an
 *            absolute bound: the slow, sustained flood that never bursts.
 *   surge    when the route of this request is getting more than
 *            surge_multiple x its usual (p99) 10-second volume and more
 *            than an absolute minimum, a *new* client (first seen within
 *            surge_new_client) that is itself busy (requests in the last
 *            minute) scores: that is the shape of a distributed flood,
 *            where each of many fresh IPs stays under the per-client
 *            bounds. It needs a learned route norm; without one it is off.
 *
 * Static assets (route class static) count toward the burst only: they
 * are what makes a browser, or an office NAT full of browsers, look busy
 * at the minute scale, and a flood of them is still caught by the burst.
 *
 * This detector also feeds the site norm RP_NORM_CLIENT_RATE_MIN: the
 * client's non-static request count of each minute it was active, added
 * when its next minute starts (a client that goes quiet for good never
 * reports its last minute; the norm is therefore drawn from returning
 * clients, which is what we compare against anyway).
 *
 * State: three 16-byte windows plus the minute being counted: 56 bytes.
 * The hot path is window arithmetic; the learned quantiles (64-bucket
 * scans) are read only when a count has already passed its absolute
 * floor, so ordinary clients never pay for them.
 */
#include <math.h>

#include "detector.h"

#define SEC_US 1000000LL
#define MINUTE_US (60 * SEC_US)
#define NORM_MIN_SAMPLES 50.0
#define ROUTE_NORM_MIN_SAMPLES 30.0 /* 30 closed 10 s buckets: 5 min of history */

/* Ramp lengths: the score is 0.5 at a threshold and 1.0 at threshold x
 * factor. A burst is unambiguous quickly (block at 1.36x); per-minute and
 * surge evidence builds more slowly. */
#define BURST_FULL 1.6
#define MINUTE_FULL 2.0
#define TEN_MIN_FULL 2.0
#define SURGE_FULL 3.0

enum {
    P_MAX_RPS,
    P_MULTIPLE,
    P_MINUTE_FLOOR,
    P_MINUTE_CEILING,
    P_MAX_10MIN,
    P_SURGE_MULTIPLE,
    P_SURGE_MIN_10S,
    P_SURGE_CLIENT_MINUTE,
    P_SURGE_NEW_CLIENT,
    P_COUNT
};

static const rp_param rate_params[P_COUNT] = {
    {"max_rps", "requests/s", {50, 25, 15}, 1, 1e6,
     "requests per second, averaged over 3 s, at which the burst signal starts"},
    {"minute_multiple", "x", {20, 10, 5}, 1, 1e4,
     "per-minute bound as a multiple of the site's p99 requests per client-minute"},
    {"minute_floor", "requests", {1200, 600, 300}, 1, 1e7,
     "per-minute bound never below this (also the bound before the norm is learned)"},
    {"minute_ceiling", "requests", {6000, 3000, 1200}, 1, 1e7,
     "per-minute bound never above this"},
    {"max_10min", "requests", {9000, 4000, 2400}, 1, 1e8,
     "non-static requests in 10 minutes at which the sustained signal starts"},
    {"surge_multiple", "x", {10, 5, 3}, 1, 1e4,
     "a route surges above this multiple of its p99 requests per 10 s"},
    {"surge_min_10s", "requests", {1000, 300, 100}, 1, 1e8,
     "and above this many requests per 10 s"},
    {"surge_client_minute", "requests", {120, 60, 30}, 1, 1e7,
     "a new client's requests in the last minute that count during a surge"},
    {"surge_new_client", "s", {120, 300, 600}, 0, 86400,
     "a client is new for this long after its first request"},
};

typedef struct rate_state {
    rp_window sec;         /* every request, 1 s buckets: the burst rate */
    rp_window min;         /* non-static requests, 10 s buckets: last minute */
    rp_window ten;         /* non-static requests, 100 s buckets: last 10 min */
    uint32_t minute;       /* index of the minute being counted; 0 = none */
    uint16_t minute_count; /* non-static requests in it (saturating) */
    uint16_t reserved;
} rate_state;

_Static_assert(sizeof(rate_state) <= 56, "rate state over its budget");

/* Count the request in the current minute; when a new minute starts, the
 * finished one becomes a sample of the site norm. Older timestamps are
 * counted in the current minute: the norm is a histogram with 41 %
 * buckets, a few misplaced requests do not move it. */
static void count_minute(rate_state *s, const rp_event *ev, const rp_observation *obs,
                         const rp_detect_ctx *ctx) {
    uint32_t m = rp_window_index(ev->ts_us, MINUTE_US);
    if (m > s->minute) {
        if (s->minute != 0 && s->minute_count > 0 && obs->site && ctx->level == RP_LEVEL_IP)
            rp_norm_add(&obs->site->norm[RP_NORM_CLIENT_RATE_MIN], s->minute_count, ev->ts_us,
                        ctx->norm_period_us);
        s->minute = m;
        s->minute_count = 1;
    } else if (s->minute_count < UINT16_MAX) {
        s->minute_count++;
    }
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    rate_state *s = state;
    rp_window_add(&s->sec, ev->ts_us, SEC_US, 1);
    if (obs->route_class == RP_ROUTE_STATIC) return;
    rp_window_add(&s->min, ev->ts_us, 10 * SEC_US, 1);
    rp_window_add(&s->ten, ev->ts_us, 100 * SEC_US, 1);
    count_minute(s, ev, obs, ctx);
}

static double clamp(double v, double lo, double hi) {
    if (v < lo) return lo;
    if (v > hi) return hi;
    return v;
}

/* The measured values and bounds, computed once for scoring and reused
 * for evidence. */
typedef struct rate_eval {
    double rps, s_burst;
    double n60, minute_thr, minute_p99, s_minute;
    double n600, s_ten;
    double route_10s, route_p99, surge_thr, s_surge;
    /* Evidence only (explain): the count is a floor, a bucket of its
     * window stopped at RP_WINDOW_BUCKET_MAX. */
    bool rps_floor, n60_floor, n600_floor, route_floor;
} rate_eval;

/* "≥ " before a count that is a floor: a flood of 146,145 requests must
 * not read as 65535. */
static const char *floor_mark(bool floor) { return floor ? "\xe2\x89\xa5 " : ""; /* U+2265 */ }

static void eval_minute(const rate_state *s, const rp_observation *obs, const rp_detect_ctx *ctx,
                        rate_eval *e) {
    const double *p = ctx->params;
    e->n60 = rp_window_sum(&s->min, ctx->now_us, 10 * SEC_US);
    e->minute_thr = p[P_MINUTE_FLOOR];
    e->minute_p99 = NAN;
    /* The threshold is never below the floor, so below it there is
     * nothing to learn: skip the quantile. */
    if (e->n60 < p[P_MINUTE_FLOOR]) return;
    if (obs->site) {
        e->minute_p99 = rp_norm_quantile(&obs->site->norm[RP_NORM_CLIENT_RATE_MIN], 0.99,
                                         NORM_MIN_SAMPLES);
        if (!isnan(e->minute_p99))
            e->minute_thr = clamp(p[P_MULTIPLE] * e->minute_p99, p[P_MINUTE_FLOOR],
                                  p[P_MINUTE_CEILING]);
    }
    e->s_minute = rp_ramp(e->n60, e->minute_thr, MINUTE_FULL);
}

/* The busiest of the route's current and previous 10 s buckets. */
static double route_peak_10s(const rp_route *route, int64_t now_us) {
    double cur = rp_window_sum_last(&route->rate_10s, now_us, 10 * SEC_US, 1);
    double two = rp_window_sum_last(&route->rate_10s, now_us, 10 * SEC_US, 2);
    return cur > two - cur ? cur : two - cur;
}

static void eval_surge(const rp_observation *obs, const rp_detect_ctx *ctx, rate_eval *e) {
    const double *p = ctx->params;
    e->route_p99 = NAN;
    e->surge_thr = p[P_SURGE_MIN_10S];
    if (e->n60 < p[P_SURGE_CLIENT_MINUTE]) return;
    /* in double: hostile timestamps must not overflow a subtraction */
    if ((double)ctx->now_us - (double)ctx->first_seen_us > p[P_SURGE_NEW_CLIENT] * SEC_US) return;
    e->route_10s = route_peak_10s(obs->route, ctx->now_us);
    if (e->route_10s < p[P_SURGE_MIN_10S]) return;
    e->route_p99 =
        rp_norm_quantile(&obs->route->norm[RP_NORM_ROUTE_RATE_10S], 0.99, ROUTE_NORM_MIN_SAMPLES);
    if (isnan(e->route_p99)) return; /* no idea what normal is: stay out */
    double thr = p[P_SURGE_MULTIPLE] * e->route_p99;
    if (thr > e->surge_thr) e->surge_thr = thr;
    if (e->route_10s < e->surge_thr) return;
    e->s_surge = rp_ramp(e->n60, p[P_SURGE_CLIENT_MINUTE], SURGE_FULL);
}

static double evaluate(const rate_state *s, const rp_observation *obs, const rp_detect_ctx *ctx,
                       rate_eval *e) {
    const double *p = ctx->params;
    *e = (rate_eval){0};
    e->rps = rp_window_sum_last(&s->sec, ctx->now_us, SEC_US, 3) / 3.0;
    e->s_burst = rp_ramp(e->rps, p[P_MAX_RPS], BURST_FULL);
    eval_minute(s, obs, ctx, e);
    e->n600 = rp_window_sum(&s->ten, ctx->now_us, 100 * SEC_US);
    e->s_ten = rp_ramp(e->n600, p[P_MAX_10MIN], TEN_MIN_FULL);
    eval_surge(obs, ctx, e);
    double best = e->s_burst;
    if (e->s_minute > best) best = e->s_minute;
    if (e->s_ten > best) best = e->s_ten;
    if (e->s_surge > best) best = e->s_surge;
    return best;
}

/* Which counts are floors (window buckets at their bound). */
static void mark_floors(const rate_state *s, const rp_observation *obs, const rp_detect_ctx *ctx,
                        rate_eval *e) {
    e->rps_floor = rp_window_saturated(&s->sec, ctx->now_us, SEC_US, 3);
    e->n60_floor = rp_window_saturated(&s->min, ctx->now_us, 10 * SEC_US, RP_WINDOW_BUCKETS);
    e->n600_floor = rp_window_saturated(&s->ten, ctx->now_us, 100 * SEC_US, RP_WINDOW_BUCKETS);
    e->route_floor = rp_window_saturated(&obs->route->rate_10s, ctx->now_us, 10 * SEC_US, 2);
}

/* Cold path: the features and a summary led by the strongest signal. A
 * count whose window saturated is written "≥ N" in the summary (the
 * feature keeps the floor as its value). */
static void explain(const rate_state *s, const rp_observation *obs, rate_eval *e,
                    const rp_detect_ctx *ctx, rp_finding *f) {
    const double *p = ctx->params;
    mark_floors(s, obs, ctx, e);
    f->threats = RP_THREAT_FLOOD;
    rp_finding_feature(f, "requests_per_s_3s", e->rps, p[P_MAX_RPS], NAN, e->s_burst > 0);
    rp_finding_feature(f, "requests_60s", e->n60, e->minute_thr, e->minute_p99, e->s_minute > 0);
    rp_finding_feature(f, "requests_600s", e->n600, p[P_MAX_10MIN], NAN, e->s_ten > 0);
    if (e->s_surge > 0) {
        rp_finding_feature(f, "route_requests_10s", e->route_10s, e->surge_thr, e->route_p99,
                           true);
        rp_finding_feature(f, "new_client_requests_60s", e->n60, p[P_SURGE_CLIENT_MINUTE], NAN,
                           true);
    }

    if (e->s_burst >= e->s_minute && e->s_burst >= e->s_ten && e->s_burst >= e->s_surge) {
        rp_finding_summary(f, "rate: %s%.0f requests/s over 3 s; threshold %.0f",
                           floor_mark(e->rps_floor), e->rps, p[P_MAX_RPS]);
    } else if (e->s_minute >= e->s_ten && e->s_minute >= e->s_surge) {
        if (!isnan(e->minute_p99) && e->minute_p99 > 0)
            rp_finding_summary(f,
                               "rate: %s%.0f requests in 60 s vs normal %.0f (p99): %s%.0fx; "
                               "threshold %.0f",
                               floor_mark(e->n60_floor), e->n60, e->minute_p99,
                               floor_mark(e->n60_floor), e->n60 / e->minute_p99, e->minute_thr);
        else
            rp_finding_summary(f, "rate: %s%.0f requests in 60 s; threshold %.0f",
                               floor_mark(e->n60_floor), e->n60, e->minute_thr);
    } else if (e->s_ten >= e->s_surge) {
        rp_finding_summary(f, "rate: %s%.0f requests in 10 min (sustained); threshold %.0f",
                           floor_mark(e->n600_floor), e->n600, p[P_MAX_10MIN]);
    } else {
        rp_finding_summary(f,
                           "rate: new client, %s%.0f requests in 60 s while the route surges "
                           "(%s%.0f requests/10 s vs normal %.0f (p99)); threshold %.0f",
                           floor_mark(e->n60_floor), e->n60, floor_mark(e->route_floor),
                           e->route_10s, e->route_p99, p[P_SURGE_CLIENT_MINUTE]);
    }
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    rate_eval e;
    double s = evaluate(state, obs, ctx, &e);
    if (finding) explain(state, obs, &e, ctx, finding);
    return s;
}

/* ------------------------------------------------------------- features */

/* For the anomaly detector's model of normal clients: non-static requests
 * in the last minute, log scale capped at 10000. */
static const char *const feature_names[] = {"rate_60s"};

static void features(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                     float *out) {
    (void)obs;
    const rate_state *s = state;
    out[0] = rp_feature_log(rp_window_sum(&s->min, ctx->now_us, 10 * SEC_US), 10000);
}

const rp_detector rp_detector_rate = {
    .name = "rate",
    .description = "request floods: per-client rate far above normal, and route-wide surges",
    .state_size = sizeof(rate_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP),
    .threats = RP_THREAT_FLOOD,
    .default_weight = 100,
    .params = rate_params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
    .n_features = sizeof feature_names / sizeof feature_names[0],
    .feature_names = feature_names,
    .features = features,
};
