/*
 * consumption.c -- unrestricted resource consumption (OWASP API4:2023).
 *
 * Some requests cost far more than others: an export without a page
 * limit, a search that makes the database scan, a 50 MB upload. One such
 * request is normal (a person exports a report); a client that keeps
 * asking for them is draining the API.
 *
 * A request is "heavy" when any of its response bytes, request bytes or
 * upstream time is above the route's normal:
 *     bound = max(multiple x route p90, floor / 8)   when the p90 is known
 *     bound = floor                                  before that
 * The floors (1 MiB responses, 1 MiB requests, 2 s upstream) make a fresh
 * install work; floor/8 keeps a learned bound from becoming silly on
 * routes whose answers are tiny (a 200-byte route returning 20 KB is
 * 100x its p99 but costs nothing). Unknown values (0 bytes, upstream -1)
 * are ignored: a log without those fields never looks heavy.
 *
 * Per client over 10 minutes: heavy requests, and total response bytes
 * (any request, in 64 KiB units with the remainder carried, so a stream
 * of small answers adds up exactly and a bucket cannot saturate below
 * 4 GiB per 100 s).
 *
 * Score, the max of:
 *   heavy  ramp(heavy requests in 10 min, min_heavy, 4): 0.5 at 5 heavy
 *          requests, 1.0 at 20;
 *   volume ramp(response MiB in 10 min, max_response_mib, 4).
 * The learned norm is per route and is fed by the engine after scoring,
 * so the current request never raises its own bound; a client whose heavy
 * requests are more than 1 % of a route's traffic will, in time, move the
 * p99 -- the volume bound does not learn and still holds then.
 *
 * State: two windows and a few bytes for evidence: 40 bytes.
 */
#include <math.h>
#include <stdio.h>

#include "detector.h"

#define SEC_US 1000000LL
#define WINDOW_WIDTH_US (100 * SEC_US) /* 6 buckets: 10 minutes */
#define UNIT_BYTES 65536ULL            /* volume unit */
#define NORM_MIN_SAMPLES 100.0
/* The p90, not the p99: one abusive client making a few percent of a
 * route's traffic would otherwise become the route's p99 and hide behind
 * it. (Variables named p99 below hold that p90.) */
#define NORM_QUANTILE 0.90
#define LEARNED_FLOOR_DIVISOR 8.0
#define HEAVY_FULL 4.0
#define VOLUME_FULL 4.0

enum {
    P_MULTIPLE,
    P_MIN_HEAVY,
    P_RESPONSE_FLOOR,
    P_REQUEST_FLOOR,
    P_UPSTREAM_FLOOR,
    P_MAX_VOLUME,
    P_COUNT
};

static const rp_param consumption_params[P_COUNT] = {
    {"heavy_multiple", "x", {20, 10, 5}, 1, 1e6,
     "a request is heavy above this multiple of its route's p90 (bytes or upstream time)"},
    {"min_heavy", "requests", {10, 5, 3}, 1, 1e6,
     "heavy requests in 10 min at which the score starts"},
    {"response_floor", "bytes", {4194304, 1048576, 524288}, 1024, 1e12,
     "a response is heavy above this before the route's norm is learned (1/8 of it after)"},
    {"request_floor", "bytes", {4194304, 1048576, 524288}, 1024, 1e12,
     "a request body is heavy above this before the route's norm is learned (1/8 of it after)"},
    {"upstream_floor", "s", {5, 2, 1}, 0.01, 3600,
     "upstream time is heavy above this before the route's norm is learned (1/8 of it after)"},
    {"max_response_mib", "MiB", {1024, 256, 64}, 1, 1e7,
     "response bytes in 10 min at which the volume signal starts"},
};

/* Which measurement made the last heavy request heavy. */
enum { KIND_NONE, KIND_RESPONSE, KIND_REQUEST, KIND_UPSTREAM };

typedef struct consumption_state {
    rp_window heavy;     /* heavy requests, 100 s buckets */
    rp_window volume;    /* response bytes in 64 KiB units, 100 s buckets */
    uint16_t carry;      /* response bytes not yet making a unit */
    uint16_t last_ratio; /* last heavy request: value / route p99 (0 = no norm) */
    uint8_t last_kind;   /* KIND_* */
    uint8_t reserved[3];
} consumption_state;

_Static_assert(sizeof(consumption_state) <= 40, "consumption state over its budget");

/* The bound for one measurement and its p99 (NAN when not learned). The
 * quantile is read only when the value already passes the lowest bound
 * the rule could give, so ordinary requests never scan the norm. */
static double heavy_bound(const rp_norm *norm, double value, double floor, double multiple,
                          double *p99) {
    *p99 = NAN;
    double low = floor / LEARNED_FLOOR_DIVISOR;
    if (value <= low) return floor;
    *p99 = rp_norm_quantile(norm, NORM_QUANTILE, NORM_MIN_SAMPLES);
    if (isnan(*p99)) return floor;
    double b = multiple * *p99;
    return b > low ? b : low;
}

/* Is the request heavy? Returns the kind, and value / p99 for evidence. */
static int classify(const rp_event *ev, const rp_route *route, const double *p, double *ratio) {
    static const int kinds[3] = {KIND_RESPONSE, KIND_REQUEST, KIND_UPSTREAM};
    static const rp_norm_kind norms[3] = {RP_NORM_RESPONSE_BYTES, RP_NORM_REQUEST_BYTES,
                                          RP_NORM_UPSTREAM_US};
    double values[3] = {(double)ev->response_bytes, (double)ev->request_bytes,
                        ev->upstream_us >= 0 ? (double)ev->upstream_us : 0.0};
    double floors[3] = {p[P_RESPONSE_FLOOR], p[P_REQUEST_FLOOR], p[P_UPSTREAM_FLOOR] * 1e6};
    for (int i = 0; i < 3; i++) {
        if (!(values[i] > 0)) continue; /* unknown */
        double p99;
        double bound = heavy_bound(&route->norm[norms[i]], values[i], floors[i], p[P_MULTIPLE],
                                   &p99);
        if (values[i] > bound) {
            *ratio = isnan(p99) || p99 <= 0 ? 0.0 : values[i] / p99;
            return kinds[i];
        }
    }
    return KIND_NONE;
}

static void add_volume(consumption_state *s, const rp_event *ev) {
    uint64_t bytes = ev->response_bytes;
    if (bytes == 0) return;
    uint64_t total = bytes + s->carry;
    if (total < bytes) total = UINT64_MAX; /* a hostile 2^64 - 1: saturate, not wrap */
    uint64_t units = total / UNIT_BYTES;
    s->carry = (uint16_t)(total % UNIT_BYTES);
    if (units == 0) return;
    rp_window_add(&s->volume, ev->ts_us, WINDOW_WIDTH_US, units > 65535 ? 65535u : (uint32_t)units);
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    consumption_state *s = state;
    add_volume(s, ev);
    double ratio = 0;
    int kind = classify(ev, obs->route, ctx->params, &ratio);
    if (kind == KIND_NONE) return;
    rp_window_add(&s->heavy, ev->ts_us, WINDOW_WIDTH_US, 1);
    s->last_kind = (uint8_t)kind;
    s->last_ratio = ratio >= 65535.0 ? 65535 : (uint16_t)(ratio + 0.5);
}

typedef struct cons_eval {
    double heavy, mib, s_heavy, s_volume;
} cons_eval;

static double evaluate(const consumption_state *s, const rp_detect_ctx *ctx, cons_eval *e) {
    const double *p = ctx->params;
    e->heavy = rp_window_sum(&s->heavy, ctx->now_us, WINDOW_WIDTH_US);
    e->mib = rp_window_sum(&s->volume, ctx->now_us, WINDOW_WIDTH_US) * (UNIT_BYTES / 1048576.0);
    e->s_heavy = rp_ramp(e->heavy, p[P_MIN_HEAVY], HEAVY_FULL);
    e->s_volume = rp_ramp(e->mib, p[P_MAX_VOLUME], VOLUME_FULL);
    return e->s_heavy > e->s_volume ? e->s_heavy : e->s_volume;
}

static const char *kind_name(int kind) {
    switch (kind) {
    case KIND_RESPONSE: return "response";
    case KIND_REQUEST: return "request body";
    case KIND_UPSTREAM: return "upstream time";
    default: return "none";
    }
}

static void explain(const cons_eval *e, const consumption_state *s, const rp_observation *obs,
                    const rp_detect_ctx *ctx, rp_finding *f) {
    const double *p = ctx->params;
    f->threats = RP_THREAT_CONSUMPTION;
    double p99 = rp_norm_quantile(&obs->route->norm[RP_NORM_RESPONSE_BYTES], 0.99,
                                  NORM_MIN_SAMPLES);
    rp_finding_feature(f, "heavy_requests_10min", e->heavy, p[P_MIN_HEAVY], NAN,
                       e->s_heavy > 0);
    rp_finding_feature(f, "response_mib_10min", e->mib, p[P_MAX_VOLUME], NAN, e->s_volume > 0);
    if (s->last_kind != KIND_NONE)
        rp_finding_feature(f, "last_heavy_x_p99", s->last_ratio, p[P_MULTIPLE], NAN,
                           s->last_ratio > 0);
    char last[96] = "";
    if (s->last_kind != KIND_NONE && s->last_ratio > 0)
        snprintf(last, sizeof last, " (last: %s %ux the route's p90)", kind_name(s->last_kind),
                 (unsigned)s->last_ratio);
    else if (s->last_kind != KIND_NONE)
        snprintf(last, sizeof last, " (last: %s over the absolute floor)",
                 kind_name(s->last_kind));
    if (isnan(p99))
        rp_finding_summary(f, "consumption: %.0f heavy requests in 10 min%s, %.1f MiB sent; "
                              "threshold %.0f",
                           e->heavy, last, e->mib, p[P_MIN_HEAVY]);
    else
        rp_finding_summary(f, "consumption: %.0f heavy requests in 10 min%s, %.1f MiB sent "
                              "vs %.0f KiB (p99 response); threshold %.0f",
                           e->heavy, last, e->mib, p99 / 1024.0, p[P_MIN_HEAVY]);
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    cons_eval e;
    double sc = evaluate(state, ctx, &e);
    if (finding) explain(&e, state, obs, ctx, finding);
    return sc;
}

/* ------------------------------------------------------------- features */

/* For the anomaly detector's model of normal clients: requests heavy for
 * their route (over the route's learned p99 bound) in 10 min, log scale
 * capped at 1000, and MiB sent in 10 min, log scale capped at 10000. */
static const char *const feature_names[] = {"heavy_requests", "response_mib"};

static void features(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                     float *out) {
    (void)obs;
    const consumption_state *s = state;
    out[0] = rp_feature_log(rp_window_sum(&s->heavy, ctx->now_us, WINDOW_WIDTH_US), 1000);
    out[1] = rp_feature_log(
        rp_window_sum(&s->volume, ctx->now_us, WINDOW_WIDTH_US) * (UNIT_BYTES / 1048576.0), 10000);
}

const rp_detector rp_detector_consumption = {
    .name = "consumption",
    .description = "resource consumption: requests far heavier than the route's normal",
    .state_size = sizeof(consumption_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP),
    .threats = RP_THREAT_CONSUMPTION,
    .default_weight = 60,
    .params = consumption_params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
    .n_features = sizeof feature_names / sizeof feature_names[0],
    .feature_names = feature_names,
    .features = features,
};
