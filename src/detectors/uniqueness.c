/*
 * uniqueness.c -- scraping and query abuse: broad coverage of the site.
 *
 * A scraper walks the catalogue: it asks for many different pages and
 * rarely asks for the same one twice. A human (or an app) revisits: the
 * same listing, the same few objects, the home page. We count, per
 * client, distinct *pages* -- raw path plus query string -- in a
 * HyperLogLog, and the requests they came from. The query is part of the
 * page: `/orders?page=7`, `?offset=`, `?cursor=`, `?start=` and every
 * other variant of a listing is content the client had not read yet
 * (measured: a `curl` reading /products?page=1..250 in 80 s was one
 * "distinct path" and was not flagged at all).
 *
 * Windows: the sketches cannot forget single values, so they are reset
 * every 5 minutes and the previous period's estimates are kept: "the last
 * 10 minutes" is the previous period plus the current one (between 5 and
 * 10 minutes of traffic, never more). Estimates are cached in the state
 * and recomputed only when a register grows (rp_hll_add returns 1), which
 * happens a few hundred times per period at most -- so the hot path never
 * runs the 64-register estimate.
 *
 * Score, the max of three coverage signals:
 *   pages      distinct pages against clamp(multiple x site p99 of distinct
 *              pages per client-period, floor, ceiling); 0.5 at the bound,
 *              1.0 at 4x.
 *   searches   distinct search queries (the distinct pages times the share
 *              of requests on search routes) against an absolute bound:
 *              enumerating the index through search.
 *   sustained  an uninterrupted run of content requests -- no gap longer
 *              than `pause` s -- at `sustained_rps` or faster, (almost)
 *              never revisited, over the page bound: 0.5 after half of
 *              `sustained_minutes`, 1.0 (throttle on its own) after all
 *              of it. Reading a catalogue at machine cadence for minutes
 *              is scraping whatever the user agent says; the welcome
 *              clients differ by behaviour, not by name (corpus C):
 *                a pagination scraper   1.3 pages/s for 306 s, no gap
 *                                       over 1.2 s, 400 of 400 distinct
 *                a script, browser UA   1 page/s for 11 min, 655 distinct
 *                a partner's bulk sync  2 pages/s for 20 s, then 280 s
 *                                       of silence: every run is 20 s
 *                Googlebot, bingbot     a page every 2-20 s: 0.05-0.2/s
 *                people, NAT addresses  think times of seconds, pauses,
 *                                       revisits: under 100 distinct
 *                                       pages in any 10 minutes
 * then corrections that encode what separates scrapers from people:
 *   - revisits: if distinct / requests falls below min_unique_ratio the
 *     score is scaled by ratio / min_unique_ratio. An office NAT with 30
 *     people shows many distinct pages but far more requests.
 *   - pace: below fast_rps requests per second (over the time the window
 *     really covers) the pages and searches signals are capped at 0.4 --
 *     24 points at weight 60. Coverage at a polite pace is what Googlebot
 *     and a partner's nightly catalogue sync do, and they are welcome:
 *     even with every other soft signal (machine-regular timing +20, a
 *     library user agent +5, an id walk +9) such a client stays under
 *     "throttle" -- unless it is sustained (above), which no crawler in
 *     our corpora or real logs comes near. Coverage at several pages a
 *     second is a scraper, scores 1.0 (60 points) and with regular timing
 *     (interval, +20) is blocked.
 *   - a steady keyed client: an address that has presented the same API
 *     key or token on every content request, at a machine-steady cadence,
 *     is capped at 0.4 like a polite crawler. Steady is a credit the key
 *     earns gap by gap: +1 for a gap between bursts within
 *     `steady_variation` of the one before, -2 for any other, capped; at
 *     `steady_gaps` the key is steady. A partner polling five endpoints
 *     every 2 s with a moving `updated_since` and fresh ids reads "new"
 *     pages at 2/s for hours (measured live: throttled after 4 minutes,
 *     "235 distinct paths in 10 min"); its own history -- one key, one
 *     cadence, cycle after cycle -- says what that coverage is, and it is
 *     steady after 40 s, long before the page bound. The key alone
 *     tempers nothing: the pagination scraper in corpus C carries a
 *     stolen staff token and sleeps 0.3-1.2 s at random, so about one gap
 *     in five is close to the one before and its credit stays near 0. A
 *     scraper that both steals a key and paces itself like a cron job is
 *     held at monitor here; a key used from where it never was is the
 *     `sharing` detector's evidence. A member of a swarm with a steady
 *     key is not charged the swarm's score either: a partner's addresses
 *     share its client's fingerprint.
 *
 * Only content routes count: static assets, health checks and auth
 * routes say nothing about coverage.
 *
 * The detector feeds the site norm RP_NORM_CLIENT_DISTINCT with each
 * client's distinct-page estimate when one of its periods closes (so the
 * norm is "distinct pages per client per 5 minutes", and the multiple
 * applies to up to two periods -- the default 5x allows for that).
 *
 * State (80 bytes): the pages sketch (32), then per level either the
 * fingerprint's sketch of member addresses or the address's own run and
 * cadence (32, a union), the period index and two periods of 16-bit
 * counts.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "detector.h"

#define SEC_US 1000000LL
#define PERIOD_US (300 * SEC_US)
#define NORM_MIN_SAMPLES 50.0
#define COVERAGE_FULL 4.0
#define POLITE_CAP 0.4 /* 24 of 60 points: with every soft signal added (interval 20,
                        * signature 5, a walk 9) still under throttle */
/* Gaps shorter than this are inside a burst (a poller's calls back to
 * back, a page's XHRs) and say nothing about the client's cadence; longer
 * than CYCLE_MAX_US is a new session, not a cadence either. */
#define CYCLE_MIN_US (250 * 1000LL)
#define CYCLE_MAX_US (600 * SEC_US)
#define CYCLE_WEIGHT 0.0625f /* the mean gap follows the last ~16 gaps */
/* The steady credit is capped so that a long-lived key's history is lost
 * after a few hundred irregular gaps (minutes), not never. */
#define STEADY_CREDIT_MAX 16.0

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
    P_SUSTAINED_RPS,
    P_SUSTAINED_MINUTES,
    P_SUSTAINED_RATIO,
    P_PAUSE,
    P_STEADY_GAPS,
    P_STEADY_VARIATION,
    P_COUNT
};

static const rp_param uniqueness_params[P_COUNT] = {
    {"distinct_multiple", "x", {10, 5, 3}, 1, 1e4,
     "distinct-page bound as a multiple of the site's p99 per client"},
    {"min_distinct_paths", "pages", {300, 150, 80}, 1, 1e6,
     "distinct pages (path + query) in 10 min at which coverage starts (bound never below this)"},
    {"max_distinct_paths", "pages", {3000, 1500, 800}, 1, 1e6,
     "distinct-page bound never above this"},
    {"min_distinct_queries", "queries", {200, 100, 50}, 1, 1e6,
     "distinct query strings on search routes in 10 min at which search abuse starts"},
    {"min_unique_ratio", "ratio", {0.7, 0.5, 0.3}, 0.01, 1.0,
     "distinct / requests below which the client revisits like a person (score scaled down)"},
    {"fast_rps", "requests/s", {4.0, 2.0, 1.0}, 0.01, 1e4,
     "below this pace coverage is capped at monitor level (polite crawlers) unless sustained"},
    {"swarm_unique_ratio", "ratio", {0.9, 0.8, 0.7}, 0.05, 1.0,
     "a swarm (fingerprint) covers the site only if at least this share of its requests "
     "were never revisited"},
    {"swarm_members", "addresses", {20, 10, 5}, 2, 1e4,
     "addresses sharing a fingerprint at which its coverage counts even at a polite pace"},
    {"member_requests", "requests", {8, 5, 3}, 1, 1e4,
     "a swarm member is charged once it made this many content requests, none revisited"},
    {"sustained_rps", "requests/s", {0.9, 0.7, 0.5}, 0.01, 1e4,
     "an uninterrupted run of content requests at this pace or faster is sustained reading"},
    {"sustained_minutes", "min", {8, 4, 2}, 0.5, 1440,
     "minutes of sustained reading, never revisited, at which coverage scores 1.0 "
     "(0.5 at half) whatever the pace cap"},
    {"sustained_unique_ratio", "ratio", {0.9, 0.8, 0.7}, 0.05, 1.0,
     "distinct / requests at or above which sustained reading counts as never revisiting"},
    {"pause", "s", {20, 30, 60}, 1, 3600,
     "a gap this long between content requests ends a run of sustained reading"},
    {"steady_gaps", "gaps", {12, 20, 30}, 3, 4000,
     "steady credit (gaps between bursts, same key, each like the one before) at which a "
     "keyed client is steady: capped at monitor level"},
    {"steady_variation", "ratio", {0.2, 0.15, 0.1}, 0.001, 1.0,
     "a gap between bursts within this share of the one before is steady"},
};

/* One 5-minute period's counts. */
typedef struct uniq_count {
    uint16_t pages;    /* distinct pages, the sketch's estimate */
    uint16_t requests; /* content requests */
    union {
        uint16_t searches; /* IP level: requests on search routes */
        uint16_t members;  /* fingerprint level: distinct member addresses */
    };
} uniq_count;

/* IP level: what the address's own history says beyond counts. */
typedef struct uniq_own {
    /* The current run of content requests: no gap longer than `pause`. */
    uint32_t run_start_s, run_last_s;
    /* The API key / token on its content requests (a 32-bit tag, 0 =
     * none) and since when every content request carried it. */
    uint32_t key_tag, key_since_s;
    /* Cadence with that key: the last gap between bursts, a weighted
     * mean of them (for the evidence), and the steady credit: +1 for a
     * gap within `steady_variation` of the one before, -2 for any other,
     * between 0 and STEADY_CREDIT_MAX x `steady_gaps`. A credit, not the
     * last few gaps' spread, so that a partner whose catalogue sweep ends
     * (a 3 s gap after a thousand of 0.3 s) keeps the history it earned,
     * and a scraper sleeping 0.3-1.2 s at random (one gap in five close
     * to the one before) never earns one. */
    uint32_t last_gap_us;
    float cycle_mean_us;
    uint16_t steady_credit;
    uint16_t run_requests; /* content requests in the run (halved, not saturated) */
} uniq_own;

typedef struct uniq_state {
    rp_hll pages; /* distinct path + query, current period */
    union {
        rp_hll members; /* fingerprint level: distinct member addresses, current period */
        uniq_own own;   /* IP level */
    };
    uint32_t period; /* index of the current period; 0 = none yet */
    uniq_count cur, prev;
} uniq_state;

_Static_assert(sizeof(uniq_own) <= sizeof(rp_hll), "own history larger than the sketch it shares");
_Static_assert(sizeof(uniq_state) <= 80, "uniqueness state over its budget");

static bool counts(uint8_t cls) {
    return cls != RP_ROUTE_STATIC && cls != RP_ROUTE_HEALTH && cls != RP_ROUTE_AUTH;
}

static uint16_t sat16(double v) {
    if (!(v > 0)) return 0;
    return v >= 65535.0 ? 65535 : (uint16_t)(v + 0.5);
}

/* Event time in whole seconds, clamped into uint32 (odd clocks are safe). */
static uint32_t seconds(int64_t ts_us) {
    if (ts_us <= 0) return 0;
    int64_t s = ts_us / SEC_US;
    return s >= (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

/* A page: the raw path, and the query string when there is one. */
static uint64_t page_hash(const rp_observation *obs) {
    if (!obs->query_hash) return obs->path_hash;
    return rp_hash64(&obs->query_hash, sizeof obs->query_hash, obs->path_hash);
}

/* Close the current period: it becomes "previous" if it is the one just
 * before p, and a sample of the site norm. */
static void rotate(uniq_state *s, uint32_t p, const rp_event *ev, const rp_observation *obs,
                   const rp_detect_ctx *ctx) {
    if (s->period != 0 && s->cur.requests > 0 && obs->site && ctx->level == RP_LEVEL_IP)
        rp_norm_add(&obs->site->norm[RP_NORM_CLIENT_DISTINCT], s->cur.pages, ev->ts_us,
                    ctx->norm_period_us);
    bool adjacent = s->period != 0 && p == s->period + 1;
    s->prev = adjacent ? s->cur : (uniq_count){0};
    s->cur = (uniq_count){0};
    memset(&s->pages, 0, sizeof s->pages);
    if (ctx->level != RP_LEVEL_IP) memset(&s->members, 0, sizeof s->members);
    s->period = p;
}

/* The key's cadence: every gap between bursts, on any route (a poller's
 * health check is part of its cycle). */
static void observe_cadence(uniq_own *o, const rp_observation *obs, const rp_detect_ctx *ctx) {
    int64_t gap = obs->gap_us;
    if (o->key_tag == 0 || gap < CYCLE_MIN_US || gap >= CYCLE_MAX_US) return;
    double g = (double)gap, last = (double)o->last_gap_us;
    o->last_gap_us = (uint32_t)gap;
    if (last <= 0) {
        o->cycle_mean_us = (float)g;
        return;
    }
    o->cycle_mean_us += CYCLE_WEIGHT * ((float)g - o->cycle_mean_us);
    double cap = STEADY_CREDIT_MAX * ctx->params[P_STEADY_GAPS];
    if (cap > UINT16_MAX) cap = UINT16_MAX;
    double credit = o->steady_credit;
    if (fabs(g - last) <= ctx->params[P_STEADY_VARIATION] * (g > last ? g : last))
        credit = credit + 1 > cap ? cap : credit + 1;
    else
        credit = credit > 2 ? credit - 2 : 0;
    o->steady_credit = (uint16_t)credit;
}

/* A content request: the key it carries, and the run it extends or starts. */
static void observe_content(uniq_own *o, const rp_event *ev, const rp_detect_ctx *ctx) {
    uint32_t now = seconds(ev->ts_us);
    uint32_t tag = (uint32_t)(ev->token_id ^ (ev->token_id >> 32));
    if (ev->token_id != 0 && tag == 0) tag = 1;
    if (tag != o->key_tag) { /* a new key, or none: its history starts again */
        o->key_tag = tag;
        o->key_since_s = now;
        o->last_gap_us = 0;
        o->cycle_mean_us = 0;
        o->steady_credit = 0;
    }
    double pause = ctx->params[P_PAUSE];
    if (o->run_requests == 0 || (double)now > (double)o->run_last_s + pause) {
        o->run_start_s = o->run_last_s = now;
        o->run_requests = 1;
        return;
    }
    if (now > o->run_last_s) o->run_last_s = now; /* older lines land in the run */
    if (o->run_requests == UINT16_MAX) {
        /* Keep the run's pace, not its count: halve both halves. */
        o->run_requests /= 2;
        o->run_start_s += (o->run_last_s - o->run_start_s) / 2;
    }
    o->run_requests++;
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    uniq_state *s = state;
    bool ip = ctx->level == RP_LEVEL_IP;
    if (ip) observe_cadence(&s->own, obs, ctx);
    if (!counts(obs->route_class)) return;
    uint32_t p = rp_window_index(ev->ts_us, PERIOD_US);
    /* Older lines land in the current period: reordering is seconds, a
     * period is minutes. */
    if (p > s->period) rotate(s, p, ev, obs, ctx);
    if (s->cur.requests < UINT16_MAX) s->cur.requests++;
    if (rp_hll_add(&s->pages, page_hash(obs))) s->cur.pages = sat16(rp_hll_estimate(&s->pages));
    if (!ip) {
        uint64_t member = rp_hash64(ev->client.bytes, sizeof ev->client.bytes, 0x3e);
        if (rp_hll_add(&s->members, member))
            s->cur.members = sat16(rp_hll_estimate(&s->members));
        return;
    }
    if (obs->route_class == RP_ROUTE_SEARCH && obs->query_hash != 0 &&
        s->cur.searches < UINT16_MAX)
        s->cur.searches++;
    observe_content(&s->own, ev, ctx);
}

static double clamp(double v, double lo, double hi) {
    if (v < lo) return lo;
    if (v > hi) return hi;
    return v;
}

typedef struct uniq_eval {
    bool swarm;     /* an aggregate key: members, no own history */
    double members; /* distinct addresses in the window (swarm only) */
    double pages, queries, requests;
    double p99, path_thr, s_paths, s_queries;
    double ratio, pace;
    bool ratio_cut, pace_cap;
    /* the current run (IP level) */
    double run_s, run_pace, s_sustained;
    bool sustained;
    /* the key's steadiness (IP level) */
    bool keyed;
    double key_minutes, cycle_s, credit;
    bool steady;     /* the key's history is steady */
    bool steady_cap; /* ... and that capped the score */
    /* Evidence only (explain): a period's count stopped at 65535, so the
     * window's value is a floor. */
    bool pages_floor, queries_floor, requests_floor, members_floor;
} uniq_eval;

/* "≥ " (U+2265) before a count that is a floor. */
static const char *floor_mark(bool floor) { return floor ? "\xe2\x89\xa5 " : ""; }

static bool at_bound(uint16_t v) { return v >= UINT16_MAX; }

/* Which of the window's counts are floors: one of its periods saturated. */
static void mark_floors(const uniq_state *s, uniq_eval *e) {
    e->pages_floor = at_bound(s->cur.pages) || at_bound(s->prev.pages);
    e->requests_floor = at_bound(s->cur.requests) || at_bound(s->prev.requests);
    if (e->swarm)
        e->members_floor = at_bound(s->cur.members) || at_bound(s->prev.members);
    else
        e->queries_floor = e->pages_floor || at_bound(s->cur.searches) || at_bound(s->prev.searches);
}

/* Requests per second over the time the window really covers: from the
 * start of the previous period (if it had traffic) or the current one,
 * or from the client's first request if that is later. */
static double pace(const uniq_state *s, const rp_detect_ctx *ctx, double requests) {
    int64_t start = (int64_t)(s->period - 1) * PERIOD_US;
    if (s->prev.requests > 0) start -= PERIOD_US;
    if (ctx->first_seen_us > start) start = ctx->first_seen_us;
    double secs = ((double)ctx->now_us - (double)start) / 1e6; /* no int64 overflow */
    if (!(secs >= 1.0)) secs = 1.0;
    return requests / secs;
}

/* The run in progress, if it has not been paused since: its length and
 * pace, and the sustained-reading score. */
static void evaluate_run(const uniq_own *o, const rp_detect_ctx *ctx, uniq_eval *e) {
    const double *p = ctx->params;
    double now = (double)seconds(ctx->now_us);
    if (o->run_requests == 0 || now > (double)o->run_last_s + p[P_PAUSE]) return;
    e->run_s = (double)o->run_last_s - (double)o->run_start_s;
    e->run_pace = o->run_requests / (e->run_s >= 1.0 ? e->run_s : 1.0);
    if (e->run_pace < p[P_SUSTAINED_RPS] || e->ratio < p[P_SUSTAINED_RATIO]) return;
    e->s_sustained = rp_ramp(e->run_s, p[P_SUSTAINED_MINUTES] * 30.0, 2.0);
}

/* A keyed address whose cadence has been machine-steady with that key. */
static bool steady_key(const uniq_own *o, const double *p) {
    return o->key_tag != 0 && o->steady_credit >= p[P_STEADY_GAPS];
}

static void evaluate_key(const uniq_own *o, const rp_detect_ctx *ctx, uniq_eval *e) {
    e->keyed = o->key_tag != 0;
    if (!e->keyed) return;
    e->key_minutes = ((double)seconds(ctx->now_us) - (double)o->key_since_s) / 60.0;
    if (e->key_minutes < 0) e->key_minutes = 0;
    e->credit = o->steady_credit;
    e->cycle_s = o->cycle_mean_us / 1e6;
    e->steady = steady_key(o, ctx->params);
}

static double evaluate(const uniq_state *s, const rp_observation *obs, const rp_detect_ctx *ctx,
                       uniq_eval *e) {
    const double *p = ctx->params;
    *e = (uniq_eval){0};
    e->swarm = ctx->level != RP_LEVEL_IP;
    e->pages = (double)s->cur.pages + s->prev.pages;
    e->requests = (double)s->cur.requests + s->prev.requests;
    /* Members of both periods may be the same addresses: the larger of
     * the two is a floor on the window's members. */
    if (e->swarm) e->members = s->cur.members > s->prev.members ? s->cur.members : s->prev.members;
    /* The distinct search queries are the distinct pages' share that came
     * from search routes: all of them for a client that only searches. */
    double searches = e->swarm ? 0.0 : (double)s->cur.searches + s->prev.searches;
    if (e->requests > 0) e->queries = e->pages * (searches >= e->requests ? 1.0 : searches / e->requests);
    e->p99 = NAN;
    e->path_thr = p[P_MIN_PATHS];
    if (e->pages >= p[P_MIN_PATHS]) { /* the bound is never below the floor */
        if (obs->site)
            e->p99 = rp_norm_quantile(&obs->site->norm[RP_NORM_CLIENT_DISTINCT], 0.99,
                                      NORM_MIN_SAMPLES);
        if (!isnan(e->p99))
            e->path_thr = clamp(p[P_MULTIPLE] * e->p99, p[P_MIN_PATHS], p[P_MAX_PATHS]);
        e->s_paths = rp_ramp(e->pages, e->path_thr, COVERAGE_FULL);
    }
    e->s_queries = rp_ramp(e->queries, p[P_MIN_QUERIES], COVERAGE_FULL);
    double sc = e->s_paths > e->s_queries ? e->s_paths : e->s_queries;
    if (sc <= 0 || e->requests <= 0) return 0.0;

    e->ratio = e->pages / e->requests;
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
    if (e->swarm) return sc;

    evaluate_run(&s->own, ctx, e);
    if (e->s_sustained > sc) {
        sc = e->s_sustained;
        e->sustained = true;
    }
    evaluate_key(&s->own, ctx, e);
    if (e->steady && sc > POLITE_CAP) {
        sc = POLITE_CAP;
        e->steady_cap = true;
    }
    return sc;
}

/* Cold path. A count (and the pace drawn from one) whose period stopped at
 * 65535 is written "≥ N" in the summary; the feature keeps the floor. */
static void explain(const uniq_state *s, uniq_eval *e, const rp_detect_ctx *ctx, double sc,
                    rp_finding *f) {
    const double *p = ctx->params;
    mark_floors(s, e);
    const char *pages_at = floor_mark(e->pages_floor), *pace_at = floor_mark(e->requests_floor);
    f->threats = RP_THREAT_SCRAPER;
    rp_finding_feature(f, "distinct_paths_10min", e->pages, e->path_thr, e->p99, e->s_paths > 0);
    if (e->swarm) {
        rp_finding_feature(f, "unique_ratio", e->ratio, p[P_SWARM_RATIO], NAN, !e->ratio_cut);
        rp_finding_feature(f, "requests_per_s", e->pace, p[P_FAST_RPS], NAN, !e->pace_cap);
        rp_finding_feature(f, "member_addresses", e->members, p[P_SWARM_MEMBERS], NAN,
                           e->members >= p[P_SWARM_MEMBERS]);
        rp_finding_summary(f,
                           "uniqueness: %s%.0f addresses acting as one scraper covered %s%.0f "
                           "distinct pages in 10 min (%.0f%% never revisited, %s%.1f req/s "
                           "together%s); threshold %.0f",
                           floor_mark(e->members_floor), e->members, pages_at, e->pages,
                           e->ratio * 100.0, pace_at, e->pace,
                           e->pace_cap ? ", polite pace: capped" : "", e->path_thr);
        return;
    }
    rp_finding_feature(f, "distinct_search_queries_10min", e->queries, p[P_MIN_QUERIES], NAN,
                       e->s_queries > 0);
    rp_finding_feature(f, "unique_ratio", e->ratio, p[P_MIN_UNIQUE_RATIO], NAN, !e->ratio_cut);
    rp_finding_feature(f, "requests_per_s", e->pace, p[P_FAST_RPS], NAN, !e->pace_cap);
    rp_finding_feature(f, "sustained_minutes", e->run_s / 60.0, p[P_SUSTAINED_MINUTES], NAN,
                       e->sustained);
    rp_finding_feature(f, "steady_key_gaps", e->credit, p[P_STEADY_GAPS], NAN,
                       e->keyed && !e->steady);

    char steady[96] = "";
    if (e->steady_cap)
        snprintf(steady, sizeof steady,
                 "; steady keyed client (one key for %.0f min, bursts every %.1f s, "
                 "steady credit %.0f): capped",
                 e->key_minutes, e->cycle_s, e->credit);
    if (e->sustained) {
        rp_finding_summary(f,
                           "uniqueness: %s%.0f distinct pages in 10 min (%.0f%% never "
                           "revisited), read at %.1f/s for %.1f min without a pause%s; "
                           "sustained from %.0f min at %.1f/s",
                           pages_at, e->pages, e->ratio * 100.0, e->run_pace, e->run_s / 60.0,
                           steady,
                           p[P_SUSTAINED_MINUTES], p[P_SUSTAINED_RPS]);
        return;
    }
    const char *what = e->s_queries > e->s_paths ? "distinct search queries" : "distinct pages";
    double n = e->s_queries > e->s_paths ? e->queries : e->pages;
    const char *n_at = floor_mark(e->s_queries > e->s_paths ? e->queries_floor : e->pages_floor);
    double thr = e->s_queries > e->s_paths ? p[P_MIN_QUERIES] : e->path_thr;
    const char *pace_note = e->pace_cap ? ", polite pace: capped" : "";
    if (e->s_paths >= e->s_queries && !isnan(e->p99) && e->p99 > 0)
        rp_finding_summary(f,
                           "uniqueness: %s%.0f %s in 10 min (%.0f%% never revisited, "
                           "%s%.1f req/s%s) vs normal %.0f (p99): %s%.0fx; threshold %.0f%s",
                           n_at, n, what, e->ratio * 100.0, pace_at, e->pace, pace_note, e->p99,
                           n_at, n / e->p99, thr, steady);
    else
        rp_finding_summary(f,
                           "uniqueness: %s%.0f %s in 10 min (%.0f%% never revisited, "
                           "%s%.1f req/s%s); threshold %.0f%s",
                           n_at, n, what, e->ratio * 100.0, pace_at, e->pace, pace_note, thr,
                           steady);
    (void)sc;
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    uniq_eval e;
    double sc = evaluate(state, obs, ctx, &e);
    if (finding) explain(state, &e, ctx, sc, finding);
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
    /* An address with a steady key's history is judged on its own: a
     * partner's addresses share its client's fingerprint and its key. */
    if (ctx->level == RP_LEVEL_IP && steady_key(&s->own, p)) return false;
    double requests = (double)s->cur.requests + s->prev.requests;
    if (requests < p[P_MEMBER_REQUESTS]) return false;
    double pages = (double)s->cur.pages + s->prev.pages;
    if (pages < requests * p[P_SWARM_RATIO]) return false;
    return !rp_ua_declared_crawler(ev->user_agent.ptr, ev->user_agent.len);
}

/* ------------------------------------------------------------- features */

/* For the anomaly detector's model of normal clients: distinct pages in
 * the window (log scale capped at 10000) and distinct / requests. The
 * names predate counting the query; trained models know them by name. */
static const char *const feature_names[] = {"distinct_paths", "distinct_ratio"};

static void features(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                     float *out) {
    (void)obs;
    (void)ctx;
    const uniq_state *s = state;
    double pages = (double)s->cur.pages + s->prev.pages;
    double requests = (double)s->cur.requests + s->prev.requests;
    out[0] = rp_feature_log(pages, 10000);
    out[1] = requests > 0 ? (float)(pages >= requests ? 1.0 : pages / requests) : 0.0f;
}

const rp_detector rp_detector_uniqueness = {
    .name = "uniqueness",
    .description = "scraping: many distinct pages or search queries, rarely revisited, or read "
                   "at machine cadence for minutes",
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
