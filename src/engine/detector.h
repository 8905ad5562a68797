/*
 * detector.h -- the one interface every detector implements.
 *
 * A detector is a file under src/detectors/ that exports one rp_detector
 * descriptor and is listed in registry.c. For every event the engine finds
 * the client record of each key level the detector watches and calls
 * observe() with the detector's slice of that record; then it calls
 * score() to get 0..1. score() is called with finding == NULL on the hot
 * path and must then only compute the number; when the combined score
 * crosses a reaction threshold the engine calls it again with a finding to
 * fill with evidence (features, thresholds, a one-line summary).
 *
 * Detectors never allocate, never do I/O and keep all per-client state in
 * their slice (state_size bytes, zeroed when the client is new). The
 * client's total must stay within RP_CLIENT_MAX_BYTES, which is checked
 * when the engine starts.
 *
 * Settings: each detector lists its parameters with a default for each
 * tolerance preset (low sensitivity = fewer detections). A profile holds
 * the values in the same order; observe/score read them from ctx->params.
 */
#ifndef RP_DETECTOR_H
#define RP_DETECTOR_H

#include "campaign.h"
#include "rampart.h"
#include "route.h"

#define RP_MAX_PARAMS 24
#define RP_MAX_DETECTORS 12
#define RP_CLIENT_MAX_BYTES 512

typedef enum rp_tolerance {
    RP_TOLERANCE_LOW = 0, /* low sensitivity: only blatant abuse */
    RP_TOLERANCE_NORMAL,
    RP_TOLERANCE_HIGH,    /* high sensitivity: catch more, risk more */
    RP_TOLERANCE_COUNT
} rp_tolerance;

typedef struct rp_param {
    const char *name;        /* as written in the config */
    const char *unit;        /* "requests", "s", "ratio", "x", "bytes"... */
    double preset[RP_TOLERANCE_COUNT]; /* defaults for low, normal, high */
    double min, max;         /* accepted range */
    const char *help;        /* one line for docs and check-config */
} rp_param;

/* Facts about the current event computed once by the engine and shared by
 * all detectors. */
typedef struct rp_observation {
    rp_route *route;       /* never NULL */
    rp_route *site;        /* site-wide norms */
    uint8_t route_class;   /* rp_route_class */
    bool declared;         /* route is in the declared inventory */
    bool inventory_declared; /* the site has a declared inventory at all */
    uint64_t path_hash;    /* raw path */
    uint64_t query_hash;   /* 0 when no query */
    uint64_t ua_hash;      /* 0 when no user agent */
    uint64_t fingerprint;  /* ua_hash mixed with header_hash */
    /* The last parameter segment of an object route ("/users/{id}"). */
    bool has_id;
    bool id_numeric;
    int64_t id_value;      /* when numeric */
    uint64_t id_hash;
    int64_t gap_us;        /* since the key's previous event; -1 for the first */
    bool first_of_key;     /* the client record was just created */
    /* The engine's route-transition model (markov.h); NULL when scoring
     * outside the event path (rp_engine_explain). */
    struct rp_markov *markov;
    /* The anomaly detector's feature-vector model (hstree.h), set at the
     * IP level when that detector is on; NULL otherwise. */
    struct rp_hstree *forest;
    /* The client's feature vector (rp_detector.features of every IP
     * detector, normalised to 0..1), built only every few requests of the
     * client; NULL on the other requests. */
    const float *features;
    uint8_t n_features;
    /* The client may teach the learned models: no decision in force and
     * its combined score below the monitor threshold (no poisoning). */
    bool learn;
    /* For evidence (cold path): rp_feature_vector() rebuilds the vector
     * from it. NULL outside the event path. */
    struct rp_feature_src *feature_src;
    /* The engine's campaign sketches (campaign.h) and what they say about
     * this request of the client address; NULL / zero outside the IP
     * level's event path. */
    rp_campaigns *campaigns;
    rp_campaign_view campaign;
} rp_observation;

typedef struct rp_detect_ctx {
    const double *params;  /* this detector's values in the current profile */
    rp_key_level level;    /* which key level the state belongs to */
    int64_t now_us;        /* the event's time (engine clock for scoring) */
    int64_t first_seen_us; /* the key's first event */
    uint32_t requests;     /* the key's requests so far (saturating) */
    int64_t norm_period_us; /* half-life of learned norms, for rp_norm_add */
    /* The state is an aggregate's (a /24, a fingerprint, an account) and
     * the score will be charged to one of its members: score only what a
     * member's own involvement may carry (auth leaves out the swarm's
     * account takeover). */
    bool charging;
} rp_detect_ctx;

typedef struct rp_detector {
    const char *name;
    const char *description; /* one line */
    uint16_t state_size;     /* bytes of per-client state */
    uint32_t levels;         /* bit per rp_key_level watched */
    uint32_t threats;        /* RP_THREAT_* it can report */
    double default_weight;   /* score points at score 1.0 */
    const rp_param *params;
    uint8_t n_params;
    void (*observe)(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx);
    /* 0..1. finding is NULL on the hot path; otherwise fill features,
     * summary and threats (the engine sets detector, score and weight). */
    double (*score)(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding);
    /* Is this request part of the behaviour the detector scores (a login
     * attempt for auth, an object request for enumeration)? When an
     * aggregate key (fingerprint, subnet, target account) the request
     * belongs to scores high, the client is charged with that score only
     * for involved requests: the attacking members of a swarm are
     * stopped, not everyone who shares their browser or network. member
     * is the charged client's own state for this detector (at the IP
     * level) and ctx its context, so a detector can also ask whether the
     * member acts like the swarm. NULL = every request. */
    bool (*involved)(const void *member, const rp_event *ev, const rp_observation *obs,
                     const rp_detect_ctx *ctx);
    /* Levels whose key is shared by its owner and, maybe, others (an API
     * key, a session): the detector's score there is evidence against
     * the address that sent the request, like an aggregate key's. The IP
     * level is charged with it (through involved(), with member NULL when
     * the detector does not watch the IP level), and the key itself is
     * at most monitored for it -- a leaked key's owner keeps working. */
    uint32_t witness_levels;
    /* Optional: the detector's part of the client's feature vector (the
     * anomaly detector's model of normal clients), n_features values
     * written to out, each normalised to 0..1 by a fixed transform
     * (rp_feature_log for counts, ratios as they are). Reads the state
     * only; ctx->params are the detector's own. IP level only. */
    uint8_t n_features;
    const char *const *feature_names;
    void (*features)(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                     float *out);
} rp_detector;

#define RP_LEVEL_BIT(l) (1u << (l))

/* registry.c */
extern const rp_detector *const rp_detectors[];
extern const unsigned rp_detector_count;
int rp_detector_find(const char *name, size_t len); /* index or -1 */

/* Does the user agent declare an honest crawler or monitor (Googlebot,
 * bingbot, uptime monitors...)? signature.c; costs a scan of the string,
 * so call it off the hot path. */
bool rp_ua_declared_crawler(const char *ua, size_t len);

/* Helpers for filling evidence. */
void rp_finding_feature(rp_finding *f, const char *name, double value, double threshold,
                        double normal, bool crossed);
void rp_finding_summary(rp_finding *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A count on a log scale: log2(1 + v) / log2(1 + cap), clamped to 0..1. */
float rp_feature_log(double v, double cap);

/* The current client's feature vector and its names, built on demand from
 * obs->feature_src (engine.c); NULL when there is none. Cold path. */
const float *rp_feature_vector(struct rp_feature_src *src, uint8_t *n, const char *const **names);

/* A ramp: 0 below `at`, rising linearly to 1 at `at * full_factor`. The
 * usual shape of a detector's score against a threshold. */
static inline double rp_ramp(double value, double at, double full_factor) {
    if (!(value >= at) || at <= 0) return 0.0;
    double full = at * full_factor;
    if (value >= full || full <= at) return 1.0;
    return 0.5 + 0.5 * (value - at) / (full - at);
}

#endif
