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
 *
 * Slow attacks over long horizons. At the account and swarm levels the
 * 10-minute window is not scored, so its 16 bytes hold a long view
 * instead: failures decayed with a half-life of long_half_life_h (12 h),
 * a 32-bit linear-counting bitmap of the failing addresses since the view
 * was last empty, the hour it started and the hour of the last success.
 *   USERNAME  rp_ramp(decayed failures, max_account_failures_long, 2) once
 *             min_account_sources_long addresses failed: a few attempts
 *             an hour from changing addresses, for days (3/h reaches 30
 *             in ~15 h). An owner who mistypes a few times a day sits at
 *             ~4, and an owner's success is never charged (involved).
 *   AGGREGATE the run of failures survives pauses of up to 3 h (it used
 *             to end after 1 h without a failure), and the failing
 *             addresses are the larger of the hourly sketch and the long
 *             view's: 3 attempts an hour from each of 10 addresses of a
 *             /24 is a run of 30 an hour that no success breaks.
 *
 * Session rotation (IP level only): an address presenting many session
 * ids, each used once or twice and dropped -- a bot that throws its
 * cookie away, or cycles through stolen sessions. Per 5-minute period,
 * one session id in four (by hash) is sampled into a 64-bit bitmap, and
 * the requests carrying a sampled id are counted: their ratio is the
 * uses per session, 4x the bitmap's count the sessions. Score
 * rp_ramp(sessions, rotation_min_sessions, 3) while uses per session stay
 * at or under rotation_max_uses. An office NAT with 50 people has 50
 * sessions each used dozens of times in 5 minutes; a partner polling
 * with one session has one. To find the 24 bytes at the IP level the
 * usernames-per-client sketch became a 64-bit linear-counting bitmap
 * (exact to a few percent up to ~100 usernames in 10 min, saturating at
 * ~266, far past every threshold) instead of a 64-register HLL.
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
    P_LONG_HALF_LIFE_H,
    P_MAX_ACCOUNT_FAILURES_LONG,
    P_MIN_ACCOUNT_SOURCES_LONG,
    P_ROTATION_MIN_SESSIONS,
    P_ROTATION_MAX_USES,
    P_FORM_REPEATS,
    P_MAX_FORM_POSTS_60S,
    P_COUNT
};

_Static_assert(P_COUNT <= RP_MAX_PARAMS, "auth has more parameters than a profile holds");

/* The long view of an account or a swarm (16 bytes). */
typedef struct auth_long {
    float fails;        /* failures, decayed to last_s */
    uint32_t last_s;    /* newest failure, seconds */
    uint32_t sources;   /* failing addresses since the view was empty (bitmap) */
    uint16_t first_h;   /* hour16() the view started; 0 = none */
    uint16_t success_h; /* hour16() of the last success; 0 = none */
} auth_long;

/* Session ids seen from one address (20 bytes: the bitmap is two words
 * so that the address's own history fits beside it, see auth_state). */
typedef struct auth_rotation {
    uint32_t seen[2];       /* sampled session ids, this period (a 64-bit bitmap) */
    uint32_t period;        /* 5-minute period number; 0 = none */
    uint16_t reqs;          /* requests carrying a sampled id, this period */
    uint16_t prev_reqs;     /* the same for the previous period */
    uint16_t prev_sessions; /* sampled sessions of the previous period */
} auth_rotation;

typedef struct auth_state {
    union {
        rp_window fail_short; /* IP: 60 s of 10 s buckets */
        auth_long lv;         /* USERNAME and aggregates: the long view */
    } u;
    rp_window fail_long;    /* IP: 10 min of 100 s buckets; USERNAME: 1 h of 600 s */
    union {
        rp_hll hll;         /* USERNAME, aggregates: failing client addresses */
        struct {
            uint64_t names; /* IP: failing usernames (linear counting) */
            auth_rotation rot;
            /* The address's own history, which decides whether it may be
             * charged with a swarm's failures (involved): */
            uint16_t success_h;   /* hour16() of its last successful login; 0 = none */
            uint16_t fails_total; /* its failed logins ever (saturating) */
        } ip;
    } d;
    uint16_t period;        /* long-period number of `distinct`, period16(); 0 = none */
    uint16_t distinct_cur;  /* estimate of `distinct`, cached */
    uint16_t distinct_prev; /* the previous period's estimate */
    uint16_t last_size;     /* response bytes of the last answer, size16() */
    uint16_t last_status;   /* status of the last answer; 0 = none */
    uint16_t run;           /* the last answer, repeated this many times in a row */
    uint16_t run_route;     /* IP: route of the run (16 bits of its hash); 0 = none */
    uint16_t run_start;     /* IP: the run's first answer, seconds mod 65536 */
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

/* Response sizes in 16 bits: exact below 4096, then a 12-bit mantissa and
 * a 4-bit exponent (1/2048 relative, far finer than same_answer's 1/16
 * tolerance), saturating at ~128 MiB. */
static uint16_t size16(uint64_t size) {
    if (size < 4096) return (uint16_t)size;
    unsigned e = 0;
    while ((size >> e) >= 4096 && e < 15) e++;
    uint64_t m = size >> e;
    if (m >= 4096) m = 4095;
    return (uint16_t)(e << 12 | m);
}

static uint32_t size_of16(uint16_t code) {
    return (uint32_t)(code & 0xfffu) << (code >> 12);
}

static bool same_answer(const auth_state *st, uint16_t status, uint32_t size) {
    if (status != st->last_status) return false;
    uint32_t last = size_of16(st->last_size);
    uint32_t diff = size > last ? size - last : last - size;
    uint32_t tol = last / 16;
    return diff <= (tol > 64 ? tol : 64);
}

static uint32_t period_of(int64_t ts_us, int64_t period_us) {
    return ts_us <= 0 ? 1u : (uint32_t)(ts_us / period_us) + 1u;
}

/* Period numbers are kept in 16 bits (1..65535, 0 = none): 455 days of
 * 10-minute periods before they wrap, and only differences of a few
 * periods are ever asked. */
static uint16_t period16(uint32_t p) {
    return (uint16_t)(p % 65535u + 1u);
}

/* p minus the stored period, in periods (negative: p is older). */
static int period_diff(uint32_t p, uint16_t stored) {
    int d = (int)period16(p) - (int)stored;
    if (d > 32767) d -= 65535;
    if (d < -32767) d += 65535;
    return d;
}

/* Linear counting: distinct values hashed into a bitmap of width bits.
 * Near exact while the bitmap is sparse; a full bitmap counts as
 * width - 1 bits set (~266 for 64 bits, ~110 for 32). */
static double bitmap_count(uint64_t bits, unsigned width) {
    unsigned k = (unsigned)__builtin_popcountll(bits);
    if (k >= width) k = width - 1;
    return -(double)width * log(1.0 - (double)k / (double)width);
}

static void count_distinct(auth_state *st, uint64_t hash, int64_t ts_us, int64_t period_us,
                           bool ip) {
    uint32_t p = period_of(ts_us, period_us);
    int d = st->period ? period_diff(p, st->period) : 1;
    if (d < 0) return; /* an older period: already summarised */
    if (d > 0) {
        st->distinct_prev = (st->period != 0 && d == 1) ? st->distinct_cur : 0;
        if (ip) st->d.ip.names = 0;
        else memset(&st->d.hll, 0, sizeof st->d.hll);
        st->distinct_cur = 0;
        st->period = period16(p);
    }
    double e = -1;
    if (ip) {
        uint64_t bit = 1ull << (hash >> 58);
        if (!(st->d.ip.names & bit)) {
            st->d.ip.names |= bit;
            e = bitmap_count(st->d.ip.names, 64);
        }
    } else if (rp_hll_add(&st->d.hll, hash)) {
        e = rp_hll_estimate(&st->d.hll);
    }
    if (e >= 0) st->distinct_cur = e > 65535.0 ? 65535u : (uint16_t)lround(e);
}

/* --------------------------------------------------------- long view */

#define HOUR_US 3600000000LL
#define RUN_PAUSE_S (3 * 3600) /* a swarm's run ends after this long without a failure */

/* Hours since the epoch, folded into 1..65535 (0 = none): the long view
 * compares hours only a few days apart. */
static uint16_t hour16(int64_t ts_us) {
    int64_t h = ts_us <= 0 ? 0 : ts_us / HOUR_US;
    return (uint16_t)(h % 65535 + 1);
}

static unsigned hours_since(uint16_t then, int64_t now_us) {
    return (unsigned)(((unsigned)hour16(now_us) + 65535u - then) % 65535u);
}

static double long_fails(const auth_long *lv, int64_t now_us, double half_life_h) {
    if (!(lv->fails > 0)) return 0;
    double dt = (double)(now_us / 1000000 - (int64_t)lv->last_s);
    if (dt <= 0 || half_life_h <= 0) return lv->fails;
    return lv->fails * exp2(-dt / (half_life_h * 3600.0));
}

static void long_failure(auth_long *lv, const rp_event *ev, uint64_t source,
                         const rp_detect_ctx *ctx, unsigned n) {
    double f = long_fails(lv, ev->ts_us, ctx->params[P_LONG_HALF_LIFE_H]);
    if (f < 1.0) { /* the last campaign has faded: a new one */
        lv->sources = 0;
        lv->first_h = hour16(ev->ts_us);
    }
    int64_t s = ev->ts_us / 1000000;
    if (s > (int64_t)lv->last_s) lv->last_s = s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
    lv->fails = (float)(f + n);
    lv->sources |= 1u << (source >> 59);
}

/* ---------------------------------------------------- session rotation */

#define ROT_PERIOD_US 300000000LL

static uint64_t seen_bits(const auth_rotation *r) {
    return (uint64_t)r->seen[1] << 32 | r->seen[0];
}

/* One session id in four is sampled; the rest of its hash picks a bit. */
static void note_session(auth_rotation *r, uint64_t session_id, int64_t ts_us) {
    uint64_t h = session_id * 0x9e3779b97f4a7c15ull;
    if (h >> 62) return;
    uint32_t p = period_of(ts_us, ROT_PERIOD_US);
    if (p < r->period) return; /* an older period: already summarised */
    if (p > r->period) {
        bool next = r->period != 0 && p == r->period + 1;
        r->prev_sessions = next ? (uint16_t)lround(bitmap_count(seen_bits(r), 64)) : 0;
        r->prev_reqs = next ? r->reqs : 0;
        r->seen[0] = r->seen[1] = 0;
        r->reqs = 0;
        r->period = p;
    }
    unsigned bit = (unsigned)(h >> 56) & 63u;
    r->seen[bit >> 5] |= 1u << (bit & 31u);
    r->reqs = r->reqs == 65535u ? 65535u : (uint16_t)(r->reqs + 1);
}

/* Sessions (estimated, all ids) and sampled requests in the last ~5 min:
 * the current period plus the part of the previous one still in the
 * window. */
static void rotation_view(const auth_rotation *r, int64_t now_us, double *sessions,
                          double *uses) {
    *sessions = 0;
    *uses = 0;
    if (!r->period) return;
    uint32_t p = period_of(now_us, ROT_PERIOD_US);
    if (p < r->period) p = r->period, now_us = (int64_t)(p - 1) * ROT_PERIOD_US;
    double into = (double)(now_us - (int64_t)(p - 1) * ROT_PERIOD_US) / (double)ROT_PERIOD_US;
    double left = into >= 1 ? 0 : into <= 0 ? 1 : 1 - into;
    double s = 0, q = 0;
    if (p == r->period) {
        s = bitmap_count(seen_bits(r), 64) + r->prev_sessions * left;
        q = r->reqs + r->prev_reqs * left;
    } else if (p == r->period + 1) {
        s = bitmap_count(seen_bits(r), 64) * left;
        q = r->reqs * left;
    }
    if (s <= 0) return;
    *sessions = 4 * s;
    *uses = q / s;
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
    bool ip = ctx->level == RP_LEVEL_IP;
    /* A run is failures without a pause of a whole long window -- at an
     * account or a swarm, without a pause of RUN_PAUSE_S: slow attacks
     * take hours. */
    if (!ip) {
        if (ev->ts_us / 1000000 - (int64_t)st->u.lv.last_s > RUN_PAUSE_S) st->consec = 0;
    } else if (window_sum(&st->fail_long, ev->ts_us, w->long_width) == 0) {
        st->consec = 0;
    }
    uint64_t id = 0;
    if (!ip) /* account and swarm levels count addresses */
        id = rp_hash64(ev->client.bytes, sizeof ev->client.bytes, 0x61757468u);
    else
        id = ev->credential_id;
    if (ip) {
        rp_window_add(&st->u.fail_short, ev->ts_us, w->short_width, n);
        st->d.ip.fails_total = add16(st->d.ip.fails_total, n);
    } else {
        long_failure(&st->u.lv, ev, id, ctx, n);
    }
    rp_window_add(&st->fail_long, ev->ts_us, w->long_width, n);
    st->consec = add16(st->consec, n);
    if (id) count_distinct(st, id, ev->ts_us, w->period_us, ip);
}

static void success(auth_state *st, const rp_event *ev, const rp_detect_ctx *ctx) {
    const auth_windows *w = windows_of(ctx->level);
    if (st->consec >= ctx->params[P_ATO_MIN_FAILURES] &&
        window_sum(&st->fail_long, ev->ts_us, w->long_width) > 0) {
        int64_t s = ev->ts_us / 1000000;
        st->ato_s = s <= 0 ? 1u : (uint32_t)s;
        st->ato_failures = st->consec;
    }
    /* At a /24 or a browser build a success is one member's: it takes half
     * the run away, not all of it, so that a swarm cannot hide its run
     * behind a neighbour who logs in every minute, while people -- whose
     * successes outnumber their typos -- keep the run near zero. */
    st->consec = aggregate_level(ctx->level) ? st->consec / 2 : 0;
}

static void remember_answer(auth_state *st, uint16_t status, uint32_t size, bool same) {
    st->run = same ? add16(st->run, 1) : 1;
    st->last_status = status;
    st->last_size = size16(size);
}

/* The route's mark: it has redirected a POST (form logins do on success). */
static void note_redirect(rp_route *route, uint16_t status, uint32_t size) {
    unsigned bucket = size == 0 ? 0 : rp_norm_bucket((double)size);
    route->common_answer = (uint32_t)status << 20 | bucket;
    if (route->common_answer_votes < UINT32_MAX) route->common_answer_votes++;
}

/* 16 bits of a route's identity, never 0 (0 = no run). */
static uint16_t route16(const rp_route *r) {
    return (uint16_t)((r->hash >> 48) | 1u);
}

static uint16_t seconds16(int64_t ts_us) {
    return (uint16_t)((ts_us <= 0 ? 0 : ts_us / 1000000) & 0xffff);
}

/* Seconds since a seconds16() stamp (a run younger than 18 h). */
static unsigned elapsed16(uint16_t then, int64_t now_us) {
    return (unsigned)(uint16_t)(seconds16(now_us) - then);
}

#define FORM_MIN_BYTES 256 /* smaller answers are acknowledgements, not pages */
/* A run older than FORM_REBASE_S is rescaled to its last FORM_KEEP_S, so
 * that its pace is the recent one: a form hammered for days stays
 * flagged, and one left alone for an hour has faded (~40/min at most). */
#define FORM_REBASE_S 600
#define FORM_KEEP_S 300

/*
 * Repeated submissions of one form, whatever it is called (IP level).
 * One client POSTing to one route and getting the same page back, again
 * and again, is trying values that fail: a CMS admin form answering every
 * bad password with the same 200 page, an XML-RPC fault of fixed size, a
 * token endpoint's 400. The run of identical answers and when it started
 * are kept; score() judges its pace. Answers under FORM_MIN_BYTES (204s,
 * {"ok":true}) are acknowledgements: an app posting events gets those by
 * the thousand and is not trying anything.
 */
static void note_form_answer(auth_state *st, const rp_event *ev, const rp_observation *obs,
                             uint16_t status, uint32_t size) {
    uint16_t route = route16(obs->route);
    bool page = status == 200 || (status >= 400 && status < 500 && status != 404 &&
                                  status != 405 && status != 429);
    if (!page || size < FORM_MIN_BYTES) {
        st->run_route = 0;
        return;
    }
    if (st->run_route == route && same_answer(st, status, size)) {
        unsigned age = elapsed16(st->run_start, ev->ts_us);
        if (age > FORM_REBASE_S) { /* keep the pace, forget the distant start */
            st->run = (uint16_t)((unsigned)st->run * FORM_KEEP_S / age);
            st->run_start = (uint16_t)(seconds16(ev->ts_us) - FORM_KEEP_S);
        }
        st->run = add16(st->run, 1);
    } else {
        st->run = 1;
        st->run_route = route;
        st->run_start = seconds16(ev->ts_us);
    }
    st->last_status = status;
    st->last_size = size16(size);
}

/* The address logged in (IP level): its own history says "person". */
static void note_own_success(auth_state *st, const rp_event *ev) {
    if (st->ato_s && (int64_t)st->ato_s == ev->ts_us / 1000000) return; /* a takeover */
    st->d.ip.success_h = hour16(ev->ts_us);
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    auth_state *st = state;
    bool ip = ctx->level == RP_LEVEL_IP;
    if (ev->session_id && ip) note_session(&st->d.ip.rot, ev->session_id, ev->ts_us);
    bool attempt_method = ev->method == RP_METHOD_POST || ev->method == RP_METHOD_PUT;
    /* HTTP authentication (basic, digest, a bearer token): a 401 is a
     * refused credential on any route and any method -- hundreds of them
     * on a protected area is a brute force whatever the route is called.
     * An address only: a person's browser meets one challenge per area. */
    if (ip && ev->status == 401 && (!attempt_method || obs->route_class != RP_ROUTE_AUTH)) {
        count_failures(st, ev, ctx, 1);
        return;
    }
    if (!attempt_method) return;
    uint16_t status = ev->status;
    if (status < 200 || status == 429 || status >= 500) return; /* told us nothing */
    uint32_t size = ev->response_bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)ev->response_bytes;
    if (obs->route_class != RP_ROUTE_AUTH) {
        if (ip && obs->route_class != RP_ROUTE_STATIC && obs->route_class != RP_ROUTE_HEALTH) {
            bool redirect = status >= 300 && status < 400;
            /* a redirect after a long run of the same page: the form let it in */
            if (redirect && st->run_route == route16(obs->route) &&
                st->run >= ctx->params[P_FORM_REPEATS] &&
                st->run >= ctx->params[P_ATO_MIN_FAILURES]) {
                int64_t s = ev->ts_us / 1000000;
                st->ato_s = s <= 0 ? 1u : (uint32_t)s;
                st->ato_failures = st->run;
            }
            note_form_answer(st, ev, obs, status, size);
        }
        return;
    }
    /* On an auth route a run is of one route's answers too (IP level). */
    bool same = same_answer(st, status, size) && (!ip || st->run_route == route16(obs->route));
    if (ip && !same) {
        st->run_route = route16(obs->route);
        st->run_start = seconds16(ev->ts_us);
    }

    if (explicit_failure(status)) {
        remember_answer(st, status, size, same);
        count_failures(st, ev, ctx, 1);
        return;
    }
    bool redirect = status >= 300 && status < 400;
    if (redirect && ip) note_redirect(obs->route, status, size);
    bool was_explicit = explicit_failure(st->last_status);
    unsigned repeats = (unsigned)ctx->params[P_SAME_ANSWER_REPEATS];
    if (repeats < 2) repeats = 2;
    bool form_route = obs->route->common_answer_votes > 0;

    if (status < 300 && same && form_route) {
        /* The same 200 again: a failure page once it has repeated. (On a
         * route that has not redirected a login yet, score() judges the
         * pace of the run instead: repeated form submissions.) */
        remember_answer(st, status, size, true);
        if (st->run == repeats) count_failures(st, ev, ctx, repeats);
        else if (st->run > repeats) count_failures(st, ev, ctx, 1);
        return;
    }
    /* A success ends a run of failures: any 2xx/3xx right after an
     * explicit failure, a redirect after failure pages. */
    if (st->consec > 0 && (was_explicit || redirect)) success(st, ev, ctx);
    /* The long view remembers when the account (or swarm) last got in;
     * an address, that it logged in itself. */
    if (redirect || !form_route) {
        if (!ip) st->u.lv.success_h = hour16(ev->ts_us);
        else if (was_explicit || redirect || !same) note_own_success(st, ev);
    }
    remember_answer(st, status, size, same);
}

/* ---------------------------------------------------------------- score */

typedef struct auth_view {
    double f_short, f_long, distinct;
    double run; /* failures since the last success */
    bool ato;
    /* account and swarm levels: the long view */
    double lv_fails, lv_sources, lv_days;
    int since_success_h; /* -1: no success since the view started */
    /* IP level: session rotation */
    double sessions, uses;
    /* IP level: the run of identical answers to one route's POSTs */
    double form_run, form_per_min;
} auth_view;

static void long_view(const auth_state *st, const rp_detect_ctx *ctx, auth_view *v) {
    const auth_long *lv = &st->u.lv;
    int64_t now = ctx->now_us;
    v->lv_fails = long_fails(lv, now, ctx->params[P_LONG_HALF_LIFE_H]);
    v->lv_sources = lv->sources ? bitmap_count(lv->sources, 32) : 0;
    v->lv_days = lv->first_h ? hours_since(lv->first_h, now) / 24.0 : 0;
    v->since_success_h = -1;
    if (lv->success_h) {
        unsigned since = hours_since(lv->success_h, now);
        if (!lv->first_h || since <= hours_since(lv->first_h, now)) v->since_success_h = (int)since;
    }
    if (now / 1000000 - (int64_t)lv->last_s > RUN_PAUSE_S) v->run = 0;
    else v->run = st->consec;
}

static void view(const auth_state *st, const rp_detect_ctx *ctx, auth_view *v) {
    const auth_windows *w = windows_of(ctx->level);
    int64_t now = ctx->now_us;
    memset(v, 0, sizeof *v);
    v->since_success_h = -1;
    v->f_long = window_sum(&st->fail_long, now, w->long_width);
    if (ctx->level == RP_LEVEL_IP) {
        v->f_short = window_sum(&st->u.fail_short, now, w->short_width);
        v->run = v->f_long > 0 ? st->consec : 0;
        rotation_view(&st->d.ip.rot, now, &v->sessions, &v->uses);
        if (st->run_route && st->run >= 2) {
            unsigned age = elapsed16(st->run_start, now);
            v->form_run = st->run;
            v->form_per_min = st->run * 60.0 / (age < 1 ? 1 : age);
        }
    } else {
        long_view(st, ctx, v);
    }
    if (st->ato_s) {
        int64_t since = now / 1000000 - (int64_t)st->ato_s;
        v->ato = since < (int64_t)ctx->params[P_ATO_HOLD_S]; /* negative: out of order, hold */
    }
    if (st->period) {
        uint32_t p = period_of(now, w->period_us);
        int d = period_diff(p, st->period);
        if (d < 0) { /* now is behind the newest failure: judge at its period */
            p = (uint32_t)((int64_t)p - d);
            now = (int64_t)(p - 1) * w->period_us;
            d = 0;
        }
        double into = (double)(now - (int64_t)(p - 1) * w->period_us) / (double)w->period_us;
        double left = into >= 1 ? 0 : into <= 0 ? 1 : 1 - into;
        if (d == 0) {
            v->distinct = st->distinct_cur + st->distinct_prev * left;
        } else if (d == 1) {
            v->distinct = st->distinct_cur * left;
        }
    }
}

typedef struct auth_scores {
    double s_short, s_long, s_distinct;
    double s_persist; /* USERNAME: the long view */
    double s_rotation; /* IP: session rotation */
    double s_form;     /* IP: repeated submissions of one form */
} auth_scores;

static double score_of(const auth_view *v, const rp_detect_ctx *ctx, auth_scores *s) {
    const double *p = ctx->params;
    s->s_persist = s->s_rotation = s->s_form = 0;
    if (aggregate_level(ctx->level)) {
        s->s_short = 0;
        s->s_long = 0;
        double sources = v->distinct > v->lv_sources ? v->distinct : v->lv_sources;
        s->s_distinct = sources >= p[P_MIN_AGGREGATE_SOURCES]
                            ? rp_ramp(v->run, p[P_MAX_AGGREGATE_RUN], 3.0)
                            : 0.0;
    } else if (ctx->level == RP_LEVEL_USERNAME) {
        s->s_short = 0;
        s->s_long = rp_ramp(v->f_long, p[P_MAX_ACCOUNT_FAILURES_1H], 3.0);
        s->s_distinct = rp_ramp(v->distinct, p[P_MAX_SOURCES_1H], 2.0);
        if (v->lv_sources >= p[P_MIN_ACCOUNT_SOURCES_LONG])
            s->s_persist = rp_ramp(v->lv_fails, p[P_MAX_ACCOUNT_FAILURES_LONG], 2.0);
    } else {
        s->s_short = rp_ramp(v->f_short, p[P_MAX_FAILURES_60S], 3.0);
        s->s_long = rp_ramp(v->f_long, p[P_MAX_FAILURES_10M], 3.0);
        if (v->distinct < 2 && s->s_long > 0.75) s->s_long = 0.75;
        s->s_distinct = rp_ramp(v->distinct, p[P_MAX_USERNAMES_10M], 2.0);
        if (v->uses > 0 && v->uses <= p[P_ROTATION_MAX_USES])
            s->s_rotation = rp_ramp(v->sessions, p[P_ROTATION_MIN_SESSIONS], 3.0);
        /* at least max_form_posts_60s answers, at that pace or faster */
        if (v->form_run >= p[P_FORM_REPEATS])
            s->s_form = rp_ramp(v->form_run < v->form_per_min ? v->form_run : v->form_per_min,
                                p[P_MAX_FORM_POSTS_60S], 3.0);
    }
    double m = v->ato ? 1.0 : 0.0;
    if (s->s_persist > m) m = s->s_persist;
    if (s->s_rotation > m) m = s->s_rotation;
    if (s->s_form > m) m = s->s_form;
    if (s->s_short > m) m = s->s_short;
    if (s->s_long > m) m = s->s_long;
    if (s->s_distinct > m) m = s->s_distinct;
    return m;
}

static void explain_ip(const auth_state *st, const auth_view *v, const double *p,
                       const auth_scores *s, const rp_observation *obs, rp_finding *f) {
    bool form_top = s->s_form > 0 && !v->ato && s->s_form >= s->s_short &&
                    s->s_form >= s->s_long && s->s_form >= s->s_distinct;
    if (form_top) {
        rp_finding_feature(f, "identical_form_answers", v->form_run, p[P_FORM_REPEATS], NAN, true);
        rp_finding_feature(f, "form_answers_per_min", v->form_per_min, p[P_MAX_FORM_POSTS_60S], NAN,
                           true);
    }
    rp_finding_feature(f, "failed_logins_60s", v->f_short, p[P_MAX_FAILURES_60S], NAN,
                       s->s_short > 0);
    rp_finding_feature(f, "failed_logins_10m", v->f_long, p[P_MAX_FAILURES_10M], NAN,
                       s->s_long > 0);
    rp_finding_feature(f, "usernames_10m", v->distinct, p[P_MAX_USERNAMES_10M], NAN,
                       s->s_distinct > 0);
    if (v->sessions > 0) {
        rp_finding_feature(f, "sessions_5m", v->sessions, p[P_ROTATION_MIN_SESSIONS], NAN,
                           s->s_rotation > 0);
        rp_finding_feature(f, "requests_per_session", v->uses, p[P_ROTATION_MAX_USES], NAN,
                           s->s_rotation > 0);
    }
    if (s->s_rotation > 0 && !v->ato && s->s_rotation >= s->s_short &&
        s->s_rotation >= s->s_long && s->s_rotation >= s->s_distinct) {
        rp_finding_summary(f, "auth: ~%.0f session ids from this address in 5 min, %.1f requests "
                              "each (session rotation); threshold %.0f sessions used at most "
                              "%.1f times",
                           v->sessions, v->uses, p[P_ROTATION_MIN_SESSIONS],
                           p[P_ROTATION_MAX_USES]);
        return;
    }
    if (v->ato) {
        rp_finding_summary(f, "auth: login succeeded after %u failures (account takeover); "
                              "%.0f failed logins in 10 min",
                           (unsigned)st->ato_failures, v->f_long);
        return;
    }
    if (form_top) {
        bool here = obs && obs->route && st->run_route == route16(obs->route);
        rp_finding_summary(f, "auth: %.0f identical answers (%u, %u bytes) to POST %s at "
                              "%.0f/min (repeated form submissions); threshold %.0f/min",
                           v->form_run, (unsigned)st->last_status, size_of16(st->last_size),
                           here ? obs->route->template_ : "one route", v->form_per_min,
                           p[P_MAX_FORM_POSTS_60S]);
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
    rp_finding_feature(f, "account_failed_logins_decayed", v->lv_fails,
                       p[P_MAX_ACCOUNT_FAILURES_LONG], NAN, s->s_persist > 0);
    rp_finding_feature(f, "account_failed_logins_1h", v->f_long, p[P_MAX_ACCOUNT_FAILURES_1H],
                       NAN, s->s_long > 0);
    rp_finding_feature(f, "account_sources_1h", v->distinct, p[P_MAX_SOURCES_1H], NAN,
                       s->s_distinct > 0);
    rp_finding_feature(f, "account_sources_long", v->lv_sources, p[P_MIN_ACCOUNT_SOURCES_LONG],
                       NAN, s->s_persist > 0);
    if (!v->ato && s->s_persist > 0 && s->s_persist >= s->s_long &&
        s->s_persist >= s->s_distinct) {
        char got_in[48] = "no success";
        if (v->since_success_h >= 0)
            snprintf(got_in, sizeof got_in, "last success %d h ago", v->since_success_h);
        /* a full sketch (31 of 32 bits) only says "over a hundred" */
        char from[24] = "100+";
        if (v->lv_sources < 100) snprintf(from, sizeof from, "%.0f", v->lv_sources);
        rp_finding_summary(f, "auth: %.0f failed logins for this account over %.1f days from "
                              "%s addresses, %s (%.0f after decay, half-life %.0f h; "
                              "threshold %.0f)",
                           v->run > v->lv_fails ? v->run : v->lv_fails, v->lv_days, from, got_in,
                           v->lv_fails, p[P_LONG_HALF_LIFE_H], p[P_MAX_ACCOUNT_FAILURES_LONG]);
        return;
    }
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
    double sources = v->distinct > v->lv_sources ? v->distinct : v->lv_sources;
    rp_finding_feature(f, "failing_addresses", sources, p[P_MIN_AGGREGATE_SOURCES], NAN,
                       sources >= p[P_MIN_AGGREGATE_SOURCES]);
    rp_finding_feature(f, "failed_logins_1h", v->f_long, NAN, NAN, false);
    if (v->ato)
        rp_finding_summary(f, "auth: a login succeeded after %u failures in a row from %.0f "
                              "addresses acting as one (account takeover)",
                           (unsigned)st->ato_failures, v->distinct);
    else
        rp_finding_summary(f, "auth: %.0f failed logins in a row without a success from %.0f "
                              "addresses acting as one (%.0f in 1 h); threshold %.0f",
                           v->run, sources, v->f_long, p[P_MAX_AGGREGATE_RUN]);
}

/* A login attempt that did not succeed, by an address whose own history
 * is not a person's: the swarm's score is charged to a member only for
 * these. An aggregate (a /24, a browser build, an account) is a witness:
 * a member that logged in itself within the hour (and has failed fewer
 * times than a takeover needs since), or that does mostly other things
 * than failing logins -- a person browsing, an office or carrier NAT --
 * is never charged with what its neighbours do. Stuffing and spraying
 * members fail and do little else. */
static bool involved(const void *member, const rp_event *ev, const rp_observation *obs,
                     const rp_detect_ctx *ctx) {
    if (obs->route_class != RP_ROUTE_AUTH) return false;
    if (ev->method != RP_METHOD_POST && ev->method != RP_METHOD_PUT) return false;
    bool failed = explicit_failure(ev->status) ||
                  /* a 200 on a route that redirects its successes is a failure page */
                  (ev->status >= 200 && ev->status < 300 && obs->route->common_answer_votes > 0);
    if (!failed || !member || ctx->level != RP_LEVEL_IP) return failed;
    const auth_state *own = member;
    if (own->d.ip.success_h && hours_since(own->d.ip.success_h, ev->ts_us) <= 1 &&
        own->consec < ctx->params[P_ATO_MIN_FAILURES])
        return false;
    return (uint32_t)own->d.ip.fails_total * 2u + 2u >= ctx->requests;
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    (void)obs;
    const auth_state *st = state;
    /* never saw an attempt (at an address: nor a 401 elsewhere) */
    if (st->last_status == 0 && st->ato_s == 0 &&
        (ctx->level != RP_LEVEL_IP || st->d.ip.fails_total == 0)) {
        if (ctx->level != RP_LEVEL_IP) return 0.0;
        /* only session ids: score rotation once the sample is big enough */
        const auth_rotation *r = &st->d.ip.rot;
        if (!r->period || 4.0 * (r->prev_sessions + __builtin_popcountll(seen_bits(r))) <
                              ctx->params[P_ROTATION_MIN_SESSIONS])
            return 0.0;
    }
    auth_view v;
    auth_scores s;
    view(st, ctx, &v);
    /* A swarm's takeover is never charged to a member: whoever got in
     * after a run of other addresses' failures is most often a person
     * behind the same network or browser build. Account takeover needs
     * the address's own run (IP level). */
    if (ctx->charging) v.ato = false;
    double m = score_of(&v, ctx, &s);
    if (finding) {
        rp_finding_feature(finding, "account_takeover", v.ato ? 1 : 0, 1, NAN, v.ato);
        if (aggregate_level(ctx->level)) explain_swarm(st, &v, ctx->params, &s, finding);
        else if (ctx->level == RP_LEVEL_USERNAME) explain_account(st, &v, ctx->params, &s, finding);
        else explain_ip(st, &v, ctx->params, &s, obs, finding);
        if (v.ato) finding->threats |= RP_THREAT_ACCOUNT_TAKEOVER;
        if (s.s_short > 0 || s.s_long > 0 || s.s_distinct > 0 || s.s_persist > 0 || s.s_form > 0)
            finding->threats |= RP_THREAT_CREDENTIAL_STUFFING;
        if (s.s_rotation > 0) finding->threats |= RP_THREAT_AUTOMATION;
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
    [P_LONG_HALF_LIFE_H] = {"long_half_life_h", "h", {12, 12, 24}, 0.5, 720,
                            "half-life of the failures an account or a swarm has seen (the long "
                            "view for attacks spread over hours and days)"},
    [P_MAX_ACCOUNT_FAILURES_LONG] = {"max_account_failures_long", "failures", {60, 30, 15}, 1,
                                     100000,
                                     "decayed failed logins on one account (the long view): 0.5 "
                                     "here, 1.0 at 2x"},
    [P_MIN_ACCOUNT_SOURCES_LONG] = {"min_account_sources_long", "addresses", {12, 6, 4}, 1, 100,
                                    "distinct failing addresses the long view of an account needs "
                                    "before it scores"},
    [P_ROTATION_MIN_SESSIONS] = {"rotation_min_sessions", "sessions", {120, 60, 30}, 4, 100000,
                                 "session ids from one address in 5 min, each used at most "
                                 "rotation_max_uses times: 0.5 here, 1.0 at 3x"},
    [P_ROTATION_MAX_USES] = {"rotation_max_uses", "requests", {1.8, 2.2, 3}, 1, 100,
                             "requests per session id at or under which many sessions from one "
                             "address are rotation (people reuse theirs dozens of times)"},
    [P_FORM_REPEATS] = {"form_repeats", "answers", {20, 10, 6}, 3, 10000,
                        "identical answers (same status, same size, a page of 256 bytes or "
                        "more) to one client's POSTs on one route before the run is judged "
                        "as repeated form submissions, whatever the route is called"},
    [P_MAX_FORM_POSTS_60S] = {"max_form_posts_60s", "answers/min", {120, 60, 30}, 1, 100000,
                              "a run of identical answers to one client's POSTs on one route, "
                              "at this many a minute over at least as many answers: 0.5 here, "
                              "1.0 at 3x (a form being brute-forced)"},
};

/* ------------------------------------------------------------- features */

/* For the anomaly detector's model of normal clients: failed logins in
 * the long window (10 min at the IP level), log scale capped at 1000. */
static const char *const feature_names[] = {"login_failures"};

static void features(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                     float *out) {
    (void)obs;
    auth_view v;
    view(state, ctx, &v);
    out[0] = rp_feature_log(v.f_long, 1000);
}

const rp_detector rp_detector_auth = {
    .name = "auth",
    .description = "failed logins per client and per account (over hours and days too), "
                   "usernames per client, successes after a run of failures (account "
                   "takeover), and session ids rotated by one address",
    .state_size = sizeof(auth_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP) | RP_LEVEL_BIT(RP_LEVEL_USERNAME) |
              RP_LEVEL_BIT(RP_LEVEL_FINGERPRINT) | RP_LEVEL_BIT(RP_LEVEL_SUBNET),
    .threats = RP_THREAT_CREDENTIAL_STUFFING | RP_THREAT_ACCOUNT_TAKEOVER | RP_THREAT_AUTOMATION,
    .default_weight = 100,
    .params = params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
    .n_features = sizeof feature_names / sizeof feature_names[0],
    .feature_names = feature_names,
    .features = features,
    .involved = involved,
};
