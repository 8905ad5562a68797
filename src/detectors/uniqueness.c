/*
 * uniqueness.c -- scraping and query abuse: broad coverage of the site.
 *
 * A scraper walks the catalogue: it asks for many different pages and
 * rarely asks for the same one twice. A human (or an app) revisits: the
 * same listing, the same few objects, the home page. We count, per
 * client, distinct raw paths (and distinct query strings on search
 * routes) in a HyperLogLog, and the requests they came from.
 *
 * Windows: the sketches cannot forget single values, so they are reset
 * every 5 minutes and the previous period's estimates are kept: "the last
 * 10 minutes" is the previous period plus the current one (between 5 and
 * 10 minutes of traffic, never more). Estimates are cached in the state
 * and recomputed only when a register grows (rp_hll_add returns 1), which
 * happens a few hundred times per period at most -- so the hot path never
 * runs the 64-register estimate.
 *
 * Score, the max of two coverage signals:
 *   paths    distinct paths against clamp(multiple x site p99 of distinct
 *            paths per client-period, floor, ceiling); 0.5 at the bound,
 *            1.0 at 4x.
 *   queries  distinct query strings on search routes against an absolute
 *            bound (search abuse: enumerating the index through search).
 * then two corrections that encode what separates scrapers from people:
 *   - revisits: if distinct / requests falls below min_unique_ratio the
 *     score is scaled by ratio / min_unique_ratio. An office NAT with 30
 *     people shows many distinct pages but far more requests.
 *   - pace: below fast_rps requests per second (over the time the window
 *     really covers) the score is capped at 0.4 -- 24 points at weight 60.
 *     Coverage at a polite pace is what Googlebot and a partner's nightly
 *     catalogue sync do, and they are welcome: even with every other soft
 *     signal (machine-regular timing +20, a library user agent +5, an id
 *     walk +9) such a client stays under "throttle". Coverage at several
 *     pages a second is a scraper, scores 1.0 (60 points) and with regular
 *     timing (interval, +20) is blocked.
 *
 * Only content routes count: static assets, health checks and auth
 * routes say nothing about coverage.
 *
 * The detector feeds the site norm RP_NORM_CLIENT_DISTINCT with each
 * client's distinct-path estimate when one of its periods closes (so the
 * norm is "distinct paths per client per 5 minutes", and the multiple
 * applies to up to two periods -- the default 5x allows for that).
 *
 * State: two 32-byte sketches and six 16-bit counters: 80 bytes.
 */
#include <math.h>
#include <string.h>

#include "detector.h"

#define SEC_US 1000000LL
#define PERIOD_US (300 * SEC_US)
#define NORM_MIN_SAMPLES 50.0
#define COVERAGE_FULL 4.0
#define POLITE_CAP 0.4 /* 24 of 60 points: with every soft signal added (interval 20,
                        * signature 5, a walk 9) still under throttle */

enum {
    P_MULTIPLE,
    P_MIN_PATHS,
    P_MAX_PATHS,
    P_MIN_QUERIES,
    P_MIN_UNIQUE_RATIO,
    P_FAST_RPS,
    P_SWARM_RATIO,
    P_SWARM_MEMBERS,
    P_MEMBER_REQUESTS,
    P_COUNT
};

static const rp_param uniqueness_params[P_COUNT] = {
    {"distinct_multiple", "x", {10, 5, 3}, 1, 1e4,
     "distinct-path bound as a multiple of the site's p99 per client"},
    {"min_distinct_paths", "paths", {300, 150, 80}, 1, 1e6,
     "distinct paths in 10 min at which coverage starts (bound never below this)"},
    {"max_distinct_paths", "paths", {3000, 1500, 800}, 1, 1e6,
     "distinct-path bound never above this"},
    {"min_distinct_queries", "queries", {200, 100, 50}, 1, 1e6,
     "distinct query strings on search routes in 10 min at which search abuse starts"},
    {"min_unique_ratio", "ratio", {0.7, 0.5, 0.3}, 0.01, 1.0,
     "distinct / requests below which the client revisits like a person (score scaled down)"},
    {"fast_rps", "requests/s", {4.0, 2.0, 1.0}, 0.01, 1e4,
     "below this pace coverage is capped at monitor level (polite crawlers)"},
    {"swarm_unique_ratio", "ratio", {0.9, 0.8, 0.7}, 0.05, 1.0,
     "a swarm (fingerprint) covers the site only if at least this share of its requests "
     "were never revisited"},
    {"swarm_members", "addresses", {20, 10, 5}, 2, 1e4,
     "addresses sharing a fingerprint at which its coverage counts even at a polite pace"},
    {"member_requests", "requests", {8, 5, 3}, 1, 1e4,
     "a swarm member is charged once it made this many content requests, none revisited"},
};

typedef struct uniq_state {
    rp_hll paths;   /* distinct raw paths, current period */
    /* IP level: distinct queries on search routes, current period.
     * Fingerprint level: distinct member addresses (a swarm's search
     * coverage shows in its members' own paths). cur_queries and
     * prev_queries follow the same meaning. */
    rp_hll queries;
    uint32_t period; /* index of the current period; 0 = none yet */
    uint16_t cur_paths, cur_queries, cur_requests;
    uint16_t prev_paths, prev_queries, prev_requests;
} uniq_state;

_Static_assert(sizeof(uniq_state) <= 80, "uniqueness state over its budget");

static bool counts(uint8_t cls) {
    return cls != RP_ROUTE_STATIC && cls != RP_ROUTE_HEALTH && cls != RP_ROUTE_AUTH;
}

static uint16_t sat16(double v) {
    if (!(v > 0)) return 0;
    return v >= 65535.0 ? 65535 : (uint16_t)(v + 0.5);
}

/* Close the current period: it becomes "previous" if it is the one just
 * before p, and a sample of the site norm. */
static void rotate(uniq_state *s, uint32_t p, const rp_event *ev, const rp_observation *obs,
                   const rp_detect_ctx *ctx) {
    if (s->period != 0 && s->cur_requests > 0 && obs->site && ctx->level == RP_LEVEL_IP)
        rp_norm_add(&obs->site->norm[RP_NORM_CLIENT_DISTINCT], s->cur_paths, ev->ts_us,
                    ctx->norm_period_us);
    bool adjacent = s->period != 0 && p == s->period + 1;
    s->prev_paths = adjacent ? s->cur_paths : 0;
    s->prev_queries = adjacent ? s->cur_queries : 0;
    s->prev_requests = adjacent ? s->cur_requests : 0;
    s->cur_paths = s->cur_queries = s->cur_requests = 0;
    memset(&s->paths, 0, sizeof s->paths);
    memset(&s->queries, 0, sizeof s->queries);
    s->period = p;
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    uniq_state *s = state;
    if (!counts(obs->route_class)) return;
    uint32_t p = rp_window_index(ev->ts_us, PERIOD_US);
    /* Older lines land in the current period: reordering is seconds, a
     * period is minutes. */
    if (p > s->period) rotate(s, p, ev, obs, ctx);
    if (s->cur_requests < UINT16_MAX) s->cur_requests++;
    if (rp_hll_add(&s->paths, obs->path_hash)) s->cur_paths = sat16(rp_hll_estimate(&s->paths));
    if (ctx->level != RP_LEVEL_IP) {
        uint64_t member = rp_hash64(ev->client.bytes, sizeof ev->client.bytes, 0x3e);
        if (rp_hll_add(&s->queries, member)) s->cur_queries = sat16(rp_hll_estimate(&s->queries));
        return;
    }
    if (obs->route_class == RP_ROUTE_SEARCH && obs->query_hash != 0 &&
        rp_hll_add(&s->queries, obs->query_hash))
        s->cur_queries = sat16(rp_hll_estimate(&s->queries));
}

static double clamp(double v, double lo, double hi) {
    if (v < lo) return lo;
    if (v > hi) return hi;
    return v;
}

typedef struct uniq_eval {
    bool swarm;     /* an aggregate key: queries holds no queries, members does */
    double members; /* distinct addresses in the window (swarm only) */
    double paths, queries, requests;
    double p99, path_thr, s_paths, s_queries;
    double ratio, pace;
    bool ratio_cut, pace_cap;
} uniq_eval;

/* Requests per second over the time the window really covers: from the
 * start of the previous period (if it had traffic) or the current one,
 * or from the client's first request if that is later. */
static double pace(const uniq_state *s, const rp_detect_ctx *ctx, double requests) {
    int64_t start = (int64_t)(s->period - 1) * PERIOD_US;
    if (s->prev_requests > 0) start -= PERIOD_US;
    if (ctx->first_seen_us > start) start = ctx->first_seen_us;
    double secs = ((double)ctx->now_us - (double)start) / 1e6; /* no int64 overflow */
    if (!(secs >= 1.0)) secs = 1.0;
    return requests / secs;
}

static double evaluate(const uniq_state *s, const rp_observation *obs, const rp_detect_ctx *ctx,
                       uniq_eval *e) {
    const double *p = ctx->params;
    *e = (uniq_eval){0};
    e->swarm = ctx->level != RP_LEVEL_IP;
    e->paths = (double)s->cur_paths + s->prev_paths;
    e->queries = e->swarm ? 0.0 : (double)s->cur_queries + s->prev_queries;
    /* Members of both periods may be the same addresses: the larger of
     * the two is a floor on the window's members. */
    if (e->swarm) e->members = s->cur_queries > s->prev_queries ? s->cur_queries : s->prev_queries;
    e->requests = (double)s->cur_requests + s->prev_requests;
    e->p99 = NAN;
    e->path_thr = p[P_MIN_PATHS];
    if (e->paths >= p[P_MIN_PATHS]) { /* the bound is never below the floor */
        if (obs->site)
            e->p99 = rp_norm_quantile(&obs->site->norm[RP_NORM_CLIENT_DISTINCT], 0.99,
                                      NORM_MIN_SAMPLES);
        if (!isnan(e->p99))
            e->path_thr = clamp(p[P_MULTIPLE] * e->p99, p[P_MIN_PATHS], p[P_MAX_PATHS]);
        e->s_paths = rp_ramp(e->paths, e->path_thr, COVERAGE_FULL);
    }
    e->s_queries = rp_ramp(e->queries, p[P_MIN_QUERIES], COVERAGE_FULL);
    double sc = e->s_paths > e->s_queries ? e->s_paths : e->s_queries;
    if (sc <= 0 || e->requests <= 0) return 0.0;

    double distinct = e->paths > e->queries ? e->paths : e->queries;
    e->ratio = distinct / e->requests;
    if (e->ratio > 1.0) e->ratio = 1.0; /* the sketch is +-13 % */
    if (e->swarm) {
        /* Many people sharing a browser build revisit popular objects, so
         * their combined coverage is far from "never revisited"; a swarm
         * splitting a catalogue between its addresses is not. Steep, as
         * the sketches are +-13 %. */
        if (e->ratio < p[P_SWARM_RATIO]) {
            double r = e->ratio / p[P_SWARM_RATIO];
            sc *= r * r * r * r;
            e->ratio_cut = true;
        }
    } else if (e->ratio < p[P_MIN_UNIQUE_RATIO]) {
        sc *= e->ratio / p[P_MIN_UNIQUE_RATIO];
        e->ratio_cut = true;
    }
    e->pace = pace(s, ctx, e->requests);
    /* Polite coverage is welcome from one crawler; spread over many
     * addresses that each stay under every bound, it is evasion. */
    bool spread = e->swarm && e->members >= p[P_SWARM_MEMBERS];
    if (!spread && e->pace < p[P_FAST_RPS] && sc > POLITE_CAP) {
        sc = POLITE_CAP;
        e->pace_cap = true;
    }
    return sc;
}

static void explain(const uniq_eval *e, const rp_detect_ctx *ctx, double sc, rp_finding *f) {
    const double *p = ctx->params;
    f->threats = RP_THREAT_SCRAPER;
    rp_finding_feature(f, "distinct_paths_10min", e->paths, e->path_thr, e->p99, e->s_paths > 0);
    if (e->swarm) {
        rp_finding_feature(f, "unique_ratio", e->ratio, p[P_SWARM_RATIO], NAN, !e->ratio_cut);
        rp_finding_feature(f, "requests_per_s", e->pace, p[P_FAST_RPS], NAN, !e->pace_cap);
        rp_finding_feature(f, "member_addresses", e->members, p[P_SWARM_MEMBERS], NAN,
                           e->members >= p[P_SWARM_MEMBERS]);
        rp_finding_summary(f,
                           "uniqueness: %.0f addresses acting as one scraper covered %.0f "
                           "distinct paths in 10 min (%.0f%% never revisited, %.1f req/s "
                           "together%s); threshold %.0f",
                           e->members, e->paths, e->ratio * 100.0, e->pace,
                           e->pace_cap ? ", polite pace: capped" : "", e->path_thr);
        return;
    }
    rp_finding_feature(f, "distinct_search_queries_10min", e->queries, p[P_MIN_QUERIES], NAN,
                       e->s_queries > 0);
    rp_finding_feature(f, "unique_ratio", e->ratio, p[P_MIN_UNIQUE_RATIO], NAN, !e->ratio_cut);
    rp_finding_feature(f, "requests_per_s", e->pace, p[P_FAST_RPS], NAN, !e->pace_cap);

    const char *what = e->s_queries > e->s_paths ? "distinct search queries" : "distinct paths";
    double n = e->s_queries > e->s_paths ? e->queries : e->paths;
    double thr = e->s_queries > e->s_paths ? p[P_MIN_QUERIES] : e->path_thr;
    const char *pace_note = e->pace_cap ? ", polite pace: capped" : "";
    if (e->s_paths >= e->s_queries && !isnan(e->p99) && e->p99 > 0)
        rp_finding_summary(f,
                           "uniqueness: %.0f %s in 10 min (%.0f%% never revisited, %.1f req/s%s) "
                           "vs normal %.0f (p99): %.0fx; threshold %.0f",
                           n, what, e->ratio * 100.0, e->pace, pace_note, e->p99, n / e->p99,
                           thr);
    else
        rp_finding_summary(f,
                           "uniqueness: %.0f %s in 10 min (%.0f%% never revisited, %.1f req/s%s); "
                           "threshold %.0f",
                           n, what, e->ratio * 100.0, e->pace, pace_note, thr);
    (void)sc;
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    uniq_eval e;
    double sc = evaluate(state, obs, ctx, &e);
    if (finding) explain(&e, ctx, sc, finding);
    return sc;
}

/* A member of a scraping swarm is charged the swarm's score only for a
 * content request, and only once its own requests look like a slice of
 * the swarm's: at least member_requests content requests in the window,
 * (almost) none revisited. A person who shares the browser build browses
 * lists and revisits; a declared search crawler is judged on its own
 * (its many addresses are one honest crawler's). */
static bool involved(const void *member, const rp_event *ev, const rp_observation *obs,
                     const rp_detect_ctx *ctx) {
    const uniq_state *s = member;
    const double *p = ctx->params;
    if (!counts(obs->route_class) || ev->method != RP_METHOD_GET) return false;
    /* No fingerprint-on-a-route decision for scraping: reading the
     * catalogue is what every person with that browser build does too,
     * so the swarm is stopped member by member. */
    if (!s) return false;
    double requests = (double)s->cur_requests + s->prev_requests;
    if (requests < p[P_MEMBER_REQUESTS]) return false;
    double paths = (double)s->cur_paths + s->prev_paths;
    if (paths < requests * p[P_SWARM_RATIO]) return false;
    return !rp_ua_declared_crawler(ev->user_agent.ptr, ev->user_agent.len);
}

/* ------------------------------------------------------------- features */

/* For the anomaly detector's model of normal clients: distinct paths in
 * the window (log scale capped at 10000) and distinct / requests. */
static const char *const feature_names[] = {"distinct_paths", "distinct_ratio"};

static void features(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                     float *out) {
    (void)obs;
    (void)ctx;
    const uniq_state *s = state;
    double paths = (double)s->cur_paths + s->prev_paths;
    double requests = (double)s->cur_requests + s->prev_requests;
    out[0] = rp_feature_log(paths, 10000);
    out[1] = requests > 0 ? (float)(paths >= requests ? 1.0 : paths / requests) : 0.0f;
}

const rp_detector rp_detector_uniqueness = {
    .name = "uniqueness",
    .description = "scraping: many distinct pages or search queries, rarely revisited",
    .state_size = sizeof(uniq_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP) | RP_LEVEL_BIT(RP_LEVEL_FINGERPRINT),
    .threats = RP_THREAT_SCRAPER,
    .default_weight = 60,
    .params = uniqueness_params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
    .n_features = sizeof feature_names / sizeof feature_names[0],
    .feature_names = feature_names,
    .features = features,
    .involved = involved,
};
