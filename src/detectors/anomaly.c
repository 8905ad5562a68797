/*
 * anomaly.c -- unusual API flows: a client whose sequence of routes is one
 * the site's normal traffic does not follow.
 *
 * People and integrations move through an API along a few paths (list,
 * open an item, edit it; log in, load the account page). A bot that jumps
 * straight between endpoints in an order nobody uses -- probing an admin
 * route after a static asset, hammering a rare export after a search --
 * makes transitions the site-wide route-transition model (markov.h) finds
 * improbable. Each transition of the client costs -log2 P(route | previous
 * route) bits of surprise; the score is a ramp on the client's running
 * mean surprise once it has made enough transitions to judge.
 *
 * Learning happens here, per transition, and always after the transition
 * was scored, so a request is never judged by a model that already
 * contains it. An attacker repeating the same rare flow does teach it to
 * the model over time; that is the price of an unsupervised model and one
 * reason the detector is OFF by default (default_weight 0): it has not
 * yet shown measured value on held-out data. Operators turn it on by
 * giving it a weight in a profile (docs/detectors.md); with weight 0 the
 * engine does not call it at all, so it costs nothing.
 *
 * IP level only. State: 8 bytes, the room left in an IP client record:
 * the key of the last route, the mean surprise (EWMA, alpha 1/16 after a
 * running mean over the first 16 transitions, in 1/256 bits) and the
 * number of transitions (saturating).
 */
#include <math.h>

#include "detector.h"
#include "markov.h"

#define EWMA_SHIFT 4 /* alpha = 1/16 */
#define FIXED 256.0  /* surprise units per bit */

enum { P_MIN_TRANSITIONS, P_THRESHOLD, P_COUNT };

static const rp_param params[P_COUNT] = {
    [P_MIN_TRANSITIONS] = {"min_transitions", "requests", {40, 20, 10}, 2, 60000,
                           "route transitions a client makes before its flow is judged"},
    [P_THRESHOLD] = {"threshold_bits", "bits", {14, 12, 10}, 1, 20,
                     "mean surprise per transition (-log2 P(route | previous route)): 0.5 "
                     "here, 1.0 at 1.5x"},
};

typedef struct anomaly_state {
    uint32_t last_route; /* rp_markov_key of the previous route; 0 = none */
    uint16_t mean;       /* EWMA of surprise, 1/256 bits */
    uint16_t transitions; /* saturating */
} anomaly_state;

_Static_assert(sizeof(anomaly_state) == 8, "anomaly state must fit the 8 bytes left per IP client");

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    (void)ev;
    (void)ctx;
    anomaly_state *st = state;
    uint32_t route = rp_markov_key(obs->route->hash);
    if (st->last_route && obs->markov) {
        double s = rp_markov_surprise(obs->markov, st->last_route, route);
        int32_t x = (int32_t)lround(s * FIXED);
        int32_t m = st->mean;
        /* A running mean first, so that the first transitions are not
         * averaged with a made-up zero. */
        uint32_t n = (uint32_t)st->transitions + 1;
        int32_t div = n < (1u << EWMA_SHIFT) ? (int32_t)n : (1 << EWMA_SHIFT);
        m += (x - m) / div;
        st->mean = (uint16_t)(m < 0 ? 0 : m > 65535 ? 65535 : m);
        if (st->transitions != UINT16_MAX) st->transitions++;
        rp_markov_observe(obs->markov, st->last_route, route);
    }
    st->last_route = route;
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    (void)obs;
    const anomaly_state *st = state;
    const double *p = ctx->params;
    if (st->transitions < p[P_MIN_TRANSITIONS]) return 0;
    double mean = st->mean / FIXED;
    double s = rp_ramp(mean, p[P_THRESHOLD], 1.5);
    if (finding && s > 0) {
        rp_finding_feature(finding, "mean_surprise_bits", mean, p[P_THRESHOLD], NAN, true);
        rp_finding_feature(finding, "transitions", st->transitions, p[P_MIN_TRANSITIONS], NAN,
                           true);
        finding->threats = RP_THREAT_AUTOMATION;
        rp_finding_summary(finding,
                           "anomaly: unusual API flow: mean surprise %.1f bits over %u "
                           "transitions (threshold %.0f)",
                           mean, (unsigned)st->transitions, p[P_THRESHOLD]);
    }
    return s;
}

const rp_detector rp_detector_anomaly = {
    .name = "anomaly",
    .description = "route sequences the site's learned flow model finds improbable "
                   "(unsupervised; off by default)",
    .state_size = sizeof(anomaly_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP),
    .threats = RP_THREAT_AUTOMATION,
    .default_weight = 0,
    .params = params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
};
