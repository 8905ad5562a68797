/*
 * anomaly.c -- clients unlike the site's normal clients: an unusual API
 * flow (route-transition model, markov.h) or an unusual traffic profile
 * (feature-vector model, half-space trees, hstree.h).
 *
 * Flows. People and integrations move through an API along a few paths
 * (list, open an item, edit it; log in, load the account page). A bot that
 * jumps straight between endpoints in an order nobody uses makes
 * transitions the site-wide transition model finds improbable. Each
 * transition costs -log2 P(route | previous route) bits of surprise; the
 * flow part of the score is a ramp on the client's running mean surprise
 * once it has made enough transitions to judge.
 *
 * Profiles. Every few requests of a client (the engine decides, see
 * engine.c) the engine assembles the client's feature vector from the
 * other detectors' state -- rate, gap regularity, distinct paths and
 * their ratio, error share, missing paths, login failures, heavy requests
 * and bytes, user-agent class, user agents per minute, mean flow
 * surprise, hour of day -- each normalised to 0..1. The half-space trees
 * score it against the reference window of normal vectors and turn the
 * score into its tail: the share of normal vectors that scored as low or
 * lower. The profile part of the score is a ramp on that rarity: 0 below
 * `rarity`, 0.5 at it, 1.0 when the vector is rarer than (about) every
 * vector of the calibration window. Calibration makes the number mean the
 * same on any site: `rarity: 0.998` is "rarer than 99.8 % of normal
 * clients' snapshots", whatever the site's traffic looks like.
 *
 * The score is the larger of the two parts: either kind of strangeness is
 * evidence on its own, and adding them would count a client twice for one
 * behaviour (a scanner's flow and its error share are the same fact).
 *
 * No poisoning. Both models learn only from clients the engine says may
 * teach (obs->learn): no decision in force and a combined score below the
 * monitor threshold, counting this detector's own previous score. So a
 * flagged attacker never teaches the models that its behaviour is normal;
 * one that stays below every threshold still can, slowly -- the price of
 * an unsupervised model, and one reason the detector is OFF by default
 * (default_weight 0): operators turn it on by giving it a weight in a
 * profile (docs/detectors.md); with weight 0 the engine neither calls it
 * nor builds feature vectors, so it costs nothing.
 *
 * Learning happens after scoring, always: a transition is scored before
 * the Markov model counts it, and a vector is scored against the
 * reference masses while it is learned into the latest ones.
 *
 * IP level only. State: 8 bytes, the room left in an IP client record:
 * the key of the last route, the mean surprise (EWMA, alpha 1/16 after a
 * running mean over the first 16 transitions, in 1/256 bits), the number
 * of transitions (saturating at 255, hence min_transitions <= 255) and the
 * rarity of the client's latest vector (-16 log2 tail, 0 = not judged).
 */
#include <math.h>
#include <stdio.h>

#include "detector.h"
#include "hstree.h"
#include "markov.h"

#define EWMA_SHIFT 4 /* alpha = 1/16 */
#define FIXED 256.0  /* surprise units per bit */
#define TAIL_UNITS 16.0 /* forest byte: -log2(tail) in 1/16 bits */
#define TAIL_FULL_BITS 12.0 /* a vector rarer than 1 in 4096 scores 1.0 */

enum { P_MIN_TRANSITIONS, P_THRESHOLD, P_RARITY, P_COUNT };

static const rp_param params[P_COUNT] = {
    [P_MIN_TRANSITIONS] = {"min_transitions", "requests", {40, 20, 10}, 2, 255,
                           "route transitions a client makes before its flow is judged"},
    [P_THRESHOLD] = {"threshold_bits", "bits", {14, 12, 10}, 1, 20,
                     "mean surprise per transition (-log2 P(route | previous route)): 0.5 "
                     "here, 1.0 at 1.5x"},
    [P_RARITY] = {"rarity", "ratio", {0.999, 0.998, 0.995}, 0.5, 0.9999,
                  "share of normal clients' feature vectors a client's must be rarer than: "
                  "0.5 here, 1.0 when rarer than all of them"},
};

typedef struct anomaly_state {
    uint32_t last_route;  /* rp_markov_key of the previous route; 0 = none */
    uint16_t mean;        /* EWMA of surprise, 1/256 bits */
    uint8_t transitions;  /* saturating */
    uint8_t forest;       /* rarity of the latest vector: -16 log2(tail), 255 = rarer than all */
} anomaly_state;

_Static_assert(sizeof(anomaly_state) == 8, "anomaly state must fit the 8 bytes left per IP client");

static uint8_t encode_tail(double tail) {
    if (tail < 0) return 0; /* no calibration yet: not judged */
    if (tail <= 0) return 255;
    double b = -log2(tail) * TAIL_UNITS;
    return b >= 254.0 ? 254 : (uint8_t)lround(b);
}

static void observe_flow(anomaly_state *st, const rp_observation *obs) {
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
        if (st->transitions != UINT8_MAX) st->transitions++;
        if (obs->learn) rp_markov_observe(obs->markov, st->last_route, route);
    }
    st->last_route = route;
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    (void)ev;
    (void)ctx;
    anomaly_state *st = state;
    observe_flow(st, obs);
    if (obs->features && obs->forest &&
        obs->n_features == rp_hstree_params_of(obs->forest)->dims) {
        /* scored only: the engine keeps the vector in its training
         * sample, and a new model is built from it off the hot path */
        double raw = rp_hstree_score(obs->forest, obs->features);
        st->forest = encode_tail(rp_hstree_tail(obs->forest, raw));
    }
}

static double flow_score(const anomaly_state *st, const double *p, double *mean) {
    *mean = st->mean / FIXED;
    if (st->transitions < p[P_MIN_TRANSITIONS]) return 0;
    return rp_ramp(*mean, p[P_THRESHOLD], 1.5);
}

static double rarity_bits(const double *p) { return -log2(1.0 - p[P_RARITY]); }

static double profile_score(const anomaly_state *st, const double *p) {
    if (!st->forest) return 0;
    double at = rarity_bits(p);
    double full = at + 1.0 > TAIL_FULL_BITS ? at + 1.0 : TAIL_FULL_BITS;
    return rp_ramp(st->forest / TAIL_UNITS, at, full / at);
}

/* Cold path: name the features that isolated the client's vector. */
static void explain_profile(const anomaly_state *st, const rp_observation *obs,
                            const double *p, rp_finding *f) {
    double tail = st->forest == 255 ? 0.0 : exp2(-st->forest / TAIL_UNITS);
    char names[120] = "";
    uint8_t n = 0;
    const char *const *fnames = NULL;
    const float *x = obs->feature_src && obs->forest
                         ? rp_feature_vector(obs->feature_src, &n, &fnames)
                         : NULL;
    if (x && n == rp_hstree_params_of(obs->forest)->dims) {
        float credit[RP_HST_MAX_DIMS];
        rp_hstree_explain(obs->forest, x, credit);
        size_t used = 0;
        for (int k = 0; k < 3; k++) { /* the three dimensions credited most */
            int best = -1;
            for (int q = 0; q < n; q++)
                if (credit[q] > 0 && (best < 0 || credit[q] > credit[best])) best = q;
            if (best < 0) break;
            rp_finding_feature(f, fnames[best], x[best], NAN, NAN, true);
            int w = snprintf(names + used, sizeof names - used, "%s%s %.2f", k ? ", " : "",
                             fnames[best], x[best]);
            if (w > 0 && (size_t)w < sizeof names - used) used += (size_t)w;
            credit[best] = 0;
        }
    }
    rp_finding_feature(f, "profile_rarity", 1.0 - tail, p[P_RARITY], NAN, true);
    rp_finding_summary(f,
                       "anomaly: unusual traffic profile: rarer than %.2f%% of normal clients "
                       "(threshold %.2f%%)%s%s",
                       100.0 * (1.0 - tail), 100.0 * p[P_RARITY], names[0] ? "; isolated by " : "",
                       names);
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    const anomaly_state *st = state;
    const double *p = ctx->params;
    double mean;
    double s_flow = flow_score(st, p, &mean);
    double s_prof = profile_score(st, p);
    double s = s_flow > s_prof ? s_flow : s_prof;
    if (finding && s > 0) {
        finding->threats = RP_THREAT_AUTOMATION;
        if (s_prof > s_flow) {
            explain_profile(st, obs, p, finding);
        } else {
            rp_finding_feature(finding, "mean_surprise_bits", mean, p[P_THRESHOLD], NAN, true);
            rp_finding_feature(finding, "transitions", st->transitions, p[P_MIN_TRANSITIONS], NAN,
                               true);
            rp_finding_summary(finding,
                               "anomaly: unusual API flow: mean surprise %.1f bits over %u "
                               "transitions (threshold %.0f)",
                               mean, (unsigned)st->transitions, p[P_THRESHOLD]);
        }
    }
    return s;
}

/* Its own part of the vector: the mean flow surprise, / 20 bits. */
static const char *const feature_names[] = {"flow_surprise"};

static void features(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                     float *out) {
    (void)obs;
    (void)ctx;
    const anomaly_state *st = state;
    double m = st->mean / FIXED / RP_MARKOV_MAX_SURPRISE;
    out[0] = (float)(m > 1.0 ? 1.0 : m);
}

const rp_detector rp_detector_anomaly = {
    .name = "anomaly",
    .description = "clients unlike the site's normal ones: improbable route sequences and "
                   "rare traffic profiles (learned models; unsupervised; off by default)",
    .state_size = sizeof(anomaly_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP),
    .threats = RP_THREAT_AUTOMATION,
    .default_weight = 0,
    .params = params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
    .n_features = sizeof feature_names / sizeof feature_names[0],
    .feature_names = feature_names,
    .features = features,
};
