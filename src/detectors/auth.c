/*
 * auth.c -- credential stuffing, brute force, password spraying and account
 * takeover, from the answers of auth routes.
 *
 * Attempts are POST or PUT requests to routes of class auth (GETs of a
 * login page are not attempts). Each attempt is a failure, a success, or
 * neither (429, 5xx, unknown status: the attempt told us nothing).
 *
 *   - 401, 403, 400, 422 are failures ("explicit").
 *   - Many web and legacy logins answer a bad password with the same 200
 *     page. On a route that redirects its successful logins (it has
 *     answered a POST with 3xx: the post/redirect/get pattern of form
 *     logins), a 200 that repeats the previous 200 (same status, size
 *     within max(64, size/16) bytes) same_answer_repeats times in a row is
 *     a failure page: from that repeat on, the run counts as failures,
 *     earlier repeats included ("implicit" failures). JSON APIs answer
 *     their successes with 200 too -- a partner fetching a token every
 *     10 s gets the same 200 each time -- which is why the rule needs the
 *     route to have shown that success looks like a redirect.
 *   - After a run of failures, a 2xx/3xx answer to an explicit run or a
 *     3xx after an implicit run is a success. A success after at least
 *     ato_min_failures failures in a run is an account takeover: score 1.0
 *     for ato_hold_s so the engine acts on it (a human who fails twice
 *     then succeeds is far below that).
 *
 * The route-level mark lives in rp_route.common_answer / _votes: the last
 * 3xx answer to a POST on the route (status << 20 | size bucket) and how
 * many such answers were seen.
 *
 * One state layout serves both key levels, with level-dependent windows:
 *
 *   level     short window   long window   distinct sketch (of failures)
 *   IP        60 s           10 min        usernames (when the log has them)
 *   USERNAME  10 min         1 h           source addresses
 *
 * Scores (max of the sub-scores):
 *   IP        rp_ramp(failures 60 s, max_failures_60s, 3)  -- 22 failures in
 *             a minute (normal preset) blocks: no human types that fast;
 *             rp_ramp(failures 10 min, max_failures_10m, 3), capped at 0.75
 *             (throttle) while fewer than 2 usernames were seen: one client
 *             failing on one account (or on unknown accounts) slowly is as
 *             likely a broken integration as a slow brute force, and the
 *             other detectors (rate, interval) add what is needed to block;
 *             rp_ramp(distinct usernames 10 min, max_usernames_10m, 2);
 *   USERNAME  rp_ramp(failures 1 h, max_account_failures_1h, 3) and
 *             rp_ramp(distinct failing sources 1 h, max_sources_1h, 2):
 *             one account attacked from many addresses;
 *   both      account takeover: 1.0.
 *
 * Aggregate levels (FINGERPRINT, SUBNET: many addresses acting as one)
 * use the account windows and count distinct failing addresses; their
 * signal is the run: failed logins in a row with no success in between,
 * across all the swarm's addresses --
 *   AGGREGATE rp_ramp(failures since the last success, max_aggregate_run, 3)
 *             once at least min_aggregate_sources addresses failed.
 * People who share a browser or a network log in successfully most of the
 * time, and every success ends the run; a stuffing swarm hardly ever
 * succeeds. The engine charges the swarm's score to a member address only
 * for its own failed attempts (auth_involved), so a person who logs in
 * fine is never stopped for sharing a fingerprint.
 *
 * An office NAT with 30 humans making a few typos each over an hour stays
 * far below every line: ~15 failures per 10 min, none in a burst, and
 * successes keep breaking the run of failures.
 *
 * Distinct counts use rp_hll, reset each long period; the previous
 * period's estimate, weighted by how much of it still lies in the sliding
 * window, is added to the current one so that a spray straddling the
 * boundary is not halved. (A username failing on both sides of the
 * boundary counts twice; stuffing and spraying rarely repeat a name, and
 * the thresholds leave room for a NAT's humans who do.)
 * The estimate is recomputed only when a register grows.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "detector.h"

enum {
    P_MAX_FAILURES_60S = 0,
    P_MAX_FAILURES_10M,
    P_MAX_USERNAMES_10M,
    P_ATO_MIN_FAILURES,
    P_SAME_ANSWER_REPEATS,
    P_MAX_ACCOUNT_FAILURES_1H,
    P_MAX_SOURCES_1H,
    P_ATO_HOLD_S,
    P_MAX_AGGREGATE_RUN,
    P_MIN_AGGREGATE_SOURCES,
    P_COUNT
};

typedef struct auth_state {
    rp_window fail_short;   /* IP: 60 s of 10 s buckets; USERNAME: 10 min of 100 s */
    rp_window fail_long;    /* IP: 10 min of 100 s buckets; USERNAME: 1 h of 600 s */
    rp_hll distinct;        /* IP: usernames; USERNAME: client addresses -- of failures */
    uint32_t period;        /* long-period number of `distinct`; 0 = none */
    uint16_t distinct_cur;  /* estimate of `distinct`, cached */
    uint16_t distinct_prev; /* the previous period's estimate */
    uint32_t last_size;     /* response bytes of the last answer (saturated) */
    uint16_t last_status;   /* status of the last answer; 0 = none */
    uint16_t run;           /* the last answer, repeated this many times in a row */
    uint16_t consec;        /* failures since the last success */
    uint16_t ato_failures;  /* the run a takeover followed */
    uint32_t ato_s;         /* time of the takeover, seconds; 0 = none */
} auth_state;

_Static_assert(sizeof(auth_state) <= 88, "auth state budget is 88 bytes");

typedef struct auth_windows {
    int64_t short_width, long_width; /* bucket widths (window = 6 buckets) */
    int64_t period_us;               /* reset period of the distinct sketch */
    unsigned short_s, long_s;        /* window lengths, for the evidence */
} auth_windows;

static const auth_windows ip_windows = {10000000LL, 100000000LL, 600000000LL, 60, 600};
static const auth_windows user_windows = {100000000LL, 600000000LL, 3600000000LL, 600, 3600};

static const auth_windows *windows_of(rp_key_level level) {
    return level == RP_LEVEL_IP ? &ip_windows : &user_windows;
}

static bool aggregate_level(rp_key_level level) {
    return level == RP_LEVEL_FINGERPRINT || level == RP_LEVEL_SUBNET;
}

static inline uint16_t add16(uint16_t v, unsigned n) {
    unsigned s = (unsigned)v + n;
    return s > 65535u ? 65535u : (uint16_t)s;
}

static bool explicit_failure(uint16_t status) {
    return status == 401 || status == 403 || status == 400 || status == 422;
}

static bool same_answer(const auth_state *st, uint16_t status, uint32_t size) {
    if (status != st->last_status) return false;
    uint32_t diff = size > st->last_size ? size - st->last_size : st->last_size - size;
    uint32_t tol = st->last_size / 16;
    return diff <= (tol > 64 ? tol : 64);
}

static uint32_t period_of(int64_t ts_us, int64_t period_us) {
    return ts_us <= 0 ? 1u : (uint32_t)(ts_us / period_us) + 1u;
}

static void count_distinct(auth_state *st, uint64_t hash, int64_t ts_us, int64_t period_us) {
    uint32_t p = period_of(ts_us, period_us);
    if (p < st->period) return; /* an older period: already summarised */
    if (p > st->period) {
        st->distinct_prev = (st->period != 0 && p == st->period + 1) ? st->distinct_cur : 0;
        memset(&st->distinct, 0, sizeof st->distinct);
        st->distinct_cur = 0;
        st->period = p;
    }
    if (rp_hll_add(&st->distinct, hash)) {
        double e = rp_hll_estimate(&st->distinct);
        st->distinct_cur = e > 65535.0 ? 65535u : (uint16_t)lround(e);
    }
}

/* Failures in a window ending at now -- or at the newest failure when the
 * scoring time is behind it (out-of-order events): late events must not
 * hide newer failures. */
static uint32_t window_sum(const rp_window *win, int64_t now_us, int64_t width_us) {
    if (win->newest != 0) {
        int64_t newest_start = (int64_t)(win->newest - 1) * width_us;
        if (now_us < newest_start) now_us = newest_start;
    }
    return rp_window_sum(win, now_us, width_us);
}

static void count_failures(auth_state *st, const rp_event *ev, const rp_detect_ctx *ctx,
                           unsigned n) {
    const auth_windows *w = windows_of(ctx->level);
    /* A run is failures without a pause of a whole long window. */
    if (window_sum(&st->fail_long, ev->ts_us, w->long_width) == 0) st->consec = 0;
    rp_window_add(&st->fail_short, ev->ts_us, w->short_width, n);
    rp_window_add(&st->fail_long, ev->ts_us, w->long_width, n);
    st->consec = add16(st->consec, n);
    uint64_t id = 0;
    if (ctx->level != RP_LEVEL_IP) /* account and swarm levels count addresses */
        id = rp_hash64(ev->client.bytes, sizeof ev->client.bytes, 0x61757468u);
    else
        id = ev->credential_id;
    if (id) count_distinct(st, id, ev->ts_us, w->period_us);
}

static void success(auth_state *st, const rp_event *ev, const rp_detect_ctx *ctx) {
    const auth_windows *w = windows_of(ctx->level);
    if (st->consec >= ctx->params[P_ATO_MIN_FAILURES] &&
        window_sum(&st->fail_long, ev->ts_us, w->long_width) > 0) {
        int64_t s = ev->ts_us / 1000000;
        st->ato_s = s <= 0 ? 1u : (uint32_t)s;
        st->ato_failures = st->consec;
    }
    st->consec = 0;
}

static void remember_answer(auth_state *st, uint16_t status, uint32_t size, bool same) {
    st->run = same ? add16(st->run, 1) : 1;
    st->last_status = status;
    st->last_size = size;
}

/* The route's mark: it has redirected a POST (form logins do on success). */
static void note_redirect(rp_route *route, uint16_t status, uint32_t size) {
    unsigned bucket = size == 0 ? 0 : rp_norm_bucket((double)size);
    route->common_answer = (uint32_t)status << 20 | bucket;
    if (route->common_answer_votes < UINT32_MAX) route->common_answer_votes++;
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    auth_state *st = state;
    if (obs->route_class != RP_ROUTE_AUTH) return;
    if (ev->method != RP_METHOD_POST && ev->method != RP_METHOD_PUT) return;
    uint16_t status = ev->status;
    if (status < 200 || status == 429 || status >= 500) return; /* told us nothing */
    uint32_t size = ev->response_bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)ev->response_bytes;
    bool same = same_answer(st, status, size);

    if (explicit_failure(status)) {
        remember_answer(st, status, size, same);
        count_failures(st, ev, ctx, 1);
        return;
    }
    bool redirect = status >= 300 && status < 400;
    if (redirect && ctx->level == RP_LEVEL_IP) note_redirect(obs->route, status, size);
    bool was_explicit = explicit_failure(st->last_status);
    unsigned repeats = (unsigned)ctx->params[P_SAME_ANSWER_REPEATS];
    if (repeats < 2) repeats = 2;
    bool form_route = obs->route->common_answer_votes > 0;

    if (status < 300 && same && form_route) {
        /* The same 200 again: a failure page once it has repeated. */
        remember_answer(st, status, size, true);
        if (st->run == repeats) count_failures(st, ev, ctx, repeats);
        else if (st->run > repeats) count_failures(st, ev, ctx, 1);
        return;
    }
    /* A success ends a run of failures: any 2xx/3xx right after an
     * explicit failure, a redirect after failure pages. */
    if (st->consec > 0 && (was_explicit || redirect)) success(st, ev, ctx);
    remember_answer(st, status, size, same);
}

/* ---------------------------------------------------------------- score */

typedef struct auth_view {
    double f_short, f_long, distinct;
    double run; /* failures since the last success */
    bool ato;
} auth_view;

static void view(const auth_state *st, const rp_detect_ctx *ctx, auth_view *v) {
    const auth_windows *w = windows_of(ctx->level);
    int64_t now = ctx->now_us;
    v->f_short = window_sum(&st->fail_short, now, w->short_width);
    v->f_long = window_sum(&st->fail_long, now, w->long_width);
    v->distinct = 0;
    v->run = v->f_long > 0 ? st->consec : 0;
    v->ato = false;
    if (st->ato_s) {
        int64_t since = now / 1000000 - (int64_t)st->ato_s;
        v->ato = since < (int64_t)ctx->params[P_ATO_HOLD_S]; /* negative: out of order, hold */
    }
    if (st->period) {
        uint32_t p = period_of(now, w->period_us);
        if (p < st->period) { /* now is behind the newest failure: judge at its period */
            p = st->period;
            now = (int64_t)(p - 1) * w->period_us;
        }
        double into = (double)(now - (int64_t)(p - 1) * w->period_us) / (double)w->period_us;
        double left = into >= 1 ? 0 : into <= 0 ? 1 : 1 - into;
        if (p <= st->period) {
            v->distinct = st->distinct_cur + st->distinct_prev * left;
        } else if (p == st->period + 1) {
            v->distinct = st->distinct_cur * left;
        }
    }
}

typedef struct auth_scores {
    double s_short, s_long, s_distinct;
} auth_scores;

static double score_of(const auth_view *v, const rp_detect_ctx *ctx, auth_scores *s) {
    const double *p = ctx->params;
    if (aggregate_level(ctx->level)) {
        s->s_short = 0;
        s->s_long = 0;
        s->s_distinct = v->distinct >= p[P_MIN_AGGREGATE_SOURCES]
                            ? rp_ramp(v->run, p[P_MAX_AGGREGATE_RUN], 3.0)
                            : 0.0;
    } else if (ctx->level == RP_LEVEL_USERNAME) {
        s->s_short = 0;
        s->s_long = rp_ramp(v->f_long, p[P_MAX_ACCOUNT_FAILURES_1H], 3.0);
        s->s_distinct = rp_ramp(v->distinct, p[P_MAX_SOURCES_1H], 2.0);
    } else {
        s->s_short = rp_ramp(v->f_short, p[P_MAX_FAILURES_60S], 3.0);
        s->s_long = rp_ramp(v->f_long, p[P_MAX_FAILURES_10M], 3.0);
        if (v->distinct < 2 && s->s_long > 0.75) s->s_long = 0.75;
        s->s_distinct = rp_ramp(v->distinct, p[P_MAX_USERNAMES_10M], 2.0);
    }
    double m = v->ato ? 1.0 : 0.0;
    if (s->s_short > m) m = s->s_short;
    if (s->s_long > m) m = s->s_long;
    if (s->s_distinct > m) m = s->s_distinct;
    return m;
}

static void explain_ip(const auth_state *st, const auth_view *v, const double *p,
                       const auth_scores *s, rp_finding *f) {
    rp_finding_feature(f, "failed_logins_60s", v->f_short, p[P_MAX_FAILURES_60S], NAN,
                       s->s_short > 0);
    rp_finding_feature(f, "failed_logins_10m", v->f_long, p[P_MAX_FAILURES_10M], NAN,
                       s->s_long > 0);
    rp_finding_feature(f, "usernames_10m", v->distinct, p[P_MAX_USERNAMES_10M], NAN,
                       s->s_distinct > 0);
    if (v->ato) {
        rp_finding_summary(f, "auth: login succeeded after %u failures (account takeover); "
                              "%.0f failed logins in 10 min",
                           (unsigned)st->ato_failures, v->f_long);
        return;
    }
    char users[48] = "";
    if (v->distinct >= 1) snprintf(users, sizeof users, ", %.0f distinct usernames", v->distinct);
    if (s->s_short >= s->s_long && s->s_short >= s->s_distinct)
        rp_finding_summary(f, "auth: %.0f failed logins in 60 s%s; threshold %.0f", v->f_short,
                           users, p[P_MAX_FAILURES_60S]);
    else if (s->s_distinct > s->s_long)
        rp_finding_summary(f, "auth: %.0f distinct usernames failed in 10 min (%.0f failed "
                              "logins); threshold %.0f",
                           v->distinct, v->f_long, p[P_MAX_USERNAMES_10M]);
    else
        rp_finding_summary(f, "auth: %.0f failed logins in 10 min%s; threshold %.0f", v->f_long,
                           users, p[P_MAX_FAILURES_10M]);
}

static void explain_account(const auth_state *st, const auth_view *v, const double *p,
                            const auth_scores *s, rp_finding *f) {
    rp_finding_feature(f, "account_failed_logins_10m", v->f_short, NAN, NAN, false);
    rp_finding_feature(f, "account_failed_logins_1h", v->f_long, p[P_MAX_ACCOUNT_FAILURES_1H],
                       NAN, s->s_long > 0);
    rp_finding_feature(f, "account_sources_1h", v->distinct, p[P_MAX_SOURCES_1H], NAN,
                       s->s_distinct > 0);
    if (v->ato)
        rp_finding_summary(f, "auth: account login succeeded after %u failures from %.0f "
                              "sources (account takeover)",
                           (unsigned)st->ato_failures, v->distinct);
    else
        rp_finding_summary(f, "auth: account failed %.0f logins in 1 h from %.0f sources; "
                              "threshold %.0f failures, %.0f sources",
                           v->f_long, v->distinct, p[P_MAX_ACCOUNT_FAILURES_1H],
                           p[P_MAX_SOURCES_1H]);
}

static void explain_swarm(const auth_state *st, const auth_view *v, const double *p,
                          const auth_scores *s, rp_finding *f) {
    rp_finding_feature(f, "failed_logins_in_a_row", v->run, p[P_MAX_AGGREGATE_RUN], NAN,
                       s->s_distinct > 0);
    rp_finding_feature(f, "failing_addresses_1h", v->distinct, p[P_MIN_AGGREGATE_SOURCES], NAN,
                       v->distinct >= p[P_MIN_AGGREGATE_SOURCES]);
    rp_finding_feature(f, "failed_logins_1h", v->f_long, NAN, NAN, false);
    if (v->ato)
        rp_finding_summary(f, "auth: a login succeeded after %u failures in a row from %.0f "
                              "addresses acting as one (account takeover)",
                           (unsigned)st->ato_failures, v->distinct);
    else
        rp_finding_summary(f, "auth: %.0f failed logins in a row without a success from %.0f "
                              "addresses acting as one (%.0f in 1 h); threshold %.0f",
                           v->run, v->distinct, v->f_long, p[P_MAX_AGGREGATE_RUN]);
}

/* A login attempt that did not succeed: the swarm's score is charged to a
 * member only for these. */
static bool involved(const void *member, const rp_event *ev, const rp_observation *obs,
                     const rp_detect_ctx *ctx) {
    (void)member;
    (void)ctx;
    if (obs->route_class != RP_ROUTE_AUTH) return false;
    if (ev->method != RP_METHOD_POST && ev->method != RP_METHOD_PUT) return false;
    if (explicit_failure(ev->status)) return true;
    /* a 200 on a route that redirects its successes is a failure page */
    return ev->status >= 200 && ev->status < 300 && obs->route->common_answer_votes > 0;
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    (void)obs;
    const auth_state *st = state;
    if (st->last_status == 0 && st->ato_s == 0) return 0.0; /* never saw an attempt */
    auth_view v;
    auth_scores s;
    view(st, ctx, &v);
    double m = score_of(&v, ctx, &s);
    if (finding) {
        rp_finding_feature(finding, "account_takeover", v.ato ? 1 : 0, 1, NAN, v.ato);
        if (aggregate_level(ctx->level)) explain_swarm(st, &v, ctx->params, &s, finding);
        else if (ctx->level == RP_LEVEL_USERNAME) explain_account(st, &v, ctx->params, &s, finding);
        else explain_ip(st, &v, ctx->params, &s, finding);
        if (v.ato) finding->threats |= RP_THREAT_ACCOUNT_TAKEOVER;
        if (s.s_short > 0 || s.s_long > 0 || s.s_distinct > 0)
            finding->threats |= RP_THREAT_CREDENTIAL_STUFFING;
    }
    return m;
}

static const rp_param params[P_COUNT] = {
    [P_MAX_FAILURES_60S] = {"max_failures_60s", "failures", {20, 10, 5}, 1, 100000,
                            "failed logins from one client in 60 s: score 0.5 here, 1.0 at 3x"},
    [P_MAX_FAILURES_10M] = {"max_failures_10m", "failures", {60, 30, 15}, 1, 100000,
                            "failed logins from one client in 10 min: score 0.5 here, 1.0 at "
                            "3x (0.75 at most with fewer than 2 usernames)"},
    [P_MAX_USERNAMES_10M] = {"max_usernames_10m", "usernames", {25, 12, 6}, 1, 100000,
                             "distinct usernames failing from one client in 10 min: 0.5 here, "
                             "1.0 at 2x"},
    [P_ATO_MIN_FAILURES] = {"ato_min_failures", "failures", {20, 10, 5}, 2, 100000,
                            "a success after at least this many failures in a run is an "
                            "account takeover"},
    [P_SAME_ANSWER_REPEATS] = {"same_answer_repeats", "answers", {5, 3, 3}, 2, 100,
                               "identical 200 answers in a row that make a failure page (on "
                               "routes that redirect successful logins)"},
    [P_MAX_ACCOUNT_FAILURES_1H] = {"max_account_failures_1h", "failures", {50, 20, 10}, 1,
                                   100000,
                                   "failed logins on one account from all clients in 1 h: 0.5 "
                                   "here, 1.0 at 3x"},
    [P_MAX_SOURCES_1H] = {"max_sources_1h", "addresses", {20, 8, 4}, 1, 100000,
                          "distinct addresses failing on one account in 1 h: 0.5 here, 1.0 "
                          "at 2x"},
    [P_ATO_HOLD_S] = {"ato_hold_s", "s", {600, 600, 900}, 0, 86400,
                      "how long an account takeover keeps the score at 1.0"},
    [P_MAX_AGGREGATE_RUN] = {"max_aggregate_run", "failures", {100, 40, 20}, 2, 100000,
                             "failed logins in a row, with no success, from addresses sharing a "
                             "fingerprint or a /24: 0.5 here, 1.0 at 3x"},
    [P_MIN_AGGREGATE_SOURCES] = {"min_aggregate_sources", "addresses", {10, 5, 3}, 2, 100000,
                                 "distinct failing addresses before a fingerprint or /24 counts as "
                                 "a swarm"},
};

const rp_detector rp_detector_auth = {
    .name = "auth",
    .description = "failed logins per client and per account, usernames per client, and "
                   "successes after a run of failures (account takeover)",
    .state_size = sizeof(auth_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP) | RP_LEVEL_BIT(RP_LEVEL_USERNAME) |
              RP_LEVEL_BIT(RP_LEVEL_FINGERPRINT) | RP_LEVEL_BIT(RP_LEVEL_SUBNET),
    .threats = RP_THREAT_CREDENTIAL_STUFFING | RP_THREAT_ACCOUNT_TAKEOVER,
    .default_weight = 100,
    .params = params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
    .involved = involved,
};
