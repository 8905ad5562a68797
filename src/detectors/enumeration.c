/*
 * enumeration.c -- object-ID enumeration (BOLA, OWASP API1:2023).
 *
 * An attacker who found /api/users/{id} tries other people's ids: many
 * distinct ids, most answered 403 or 404 (not yours, does not exist), and,
 * when ids are numbers, often in order (1001, 1002, 1003...). Only
 * requests to object routes ("/x/{id}": obs->has_id) are looked at.
 *
 * What is measured, over the last 5-10 minutes (two 5-minute periods, as
 * in uniqueness.c, because a sketch cannot forget single ids):
 *   - distinct ids (HyperLogLog on id_hash, estimate cached when a
 *     register grows);
 *   - requests with a known status and how many were denied (403/404);
 *   - sequential steps: on the same route as the previous numeric id, a
 *     delta that is non-zero, at most max_step, and either equal to the
 *     previous delta or +-1. Walking 1,2,3 or 10,20,30 counts; random ids
 *     do not.
 *
 * Score. Denials are the main signal, because sequential walking alone is
 * also what a partner syncing a catalogue does (products 1..5000, all
 * 200): that is coverage, left to the uniqueness detector.
 *   deny   = min(ramp(distinct ids, min_distinct_ids, 4),
 *                ramp(denied share, min_denied_share, 1.6))
 *            -- both must hold: many ids AND mostly refused.
 *   walk   = ramp(sequential steps, min_sequential_steps, 5), capped at
 *            0.1 (9 points at weight 90: a booster, never a verdict --
 *            walking a readable catalogue is coverage, which uniqueness
 *            scores, and must not be counted twice) unless at
 *            least half of min_denied_share of the answers are denials:
 *            a walk that keeps hitting refusals is enumeration even when
 *            some objects are readable -- which is the dangerous case.
 *   score  = max(deny, walk), plus 0.25 when both deny > 0 and the walk
 *            passed its threshold (capped at 1).
 * UUID ids cannot be walked; they still count as distinct ids and
 * denials. A human opening ten products, or a few stale links, stays far
 * below 30 distinct ids.
 *
 * Levels: IP; fingerprint and /24 (a swarm walking ids from many
 * addresses, charged to each member only for its own refused object
 * requests); and the token/session levels when the engine provides them
 * -- BOLA is usually done with one valid token from rotating addresses.
 *
 * State: 64 bytes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "detector.h"

#define SEC_US 1000000LL
#define PERIOD_US (300 * SEC_US)
#define IDS_FULL 4.0
#define SHARE_FULL 1.6
#define WALK_FULL 5.0
#define WALK_ALONE_CAP 0.1
#define WALK_BOOST 0.25

enum { P_MIN_IDS, P_MIN_DENIED_SHARE, P_MIN_SEQ, P_MAX_STEP, P_COUNT };

static const rp_param enumeration_params[P_COUNT] = {
    {"min_distinct_ids", "ids", {60, 30, 15}, 2, 1e6,
     "distinct object ids in 10 min at which enumeration starts"},
    {"min_denied_share", "ratio", {0.7, 0.5, 0.3}, 0.01, 1.0,
     "share of object requests answered 403/404 at which enumeration starts"},
    {"min_sequential_steps", "steps", {50, 20, 10}, 2, 1e6,
     "steps of a constant small id delta in 10 min that make a walk"},
    {"max_step", "ids", {4, 10, 25}, 1, 32767, "largest id delta that counts as a walking step"},
};

typedef struct enum_state {
    rp_hll ids;           /* distinct ids, current period */
    int64_t last_id;      /* previous numeric id */
    uint32_t period;      /* index of the current period; 0 = none yet */
    uint16_t last_route;  /* tag of the route of last_id; 0 = none */
    int16_t last_delta;   /* previous delta, clamped to int16 */
    uint16_t cur_ids, prev_ids;
    uint16_t cur_known, prev_known;   /* requests with a known status */
    uint16_t cur_denied, prev_denied; /* 403 / 404 */
    uint16_t cur_seq, prev_seq;       /* walking steps */
} enum_state;

_Static_assert(sizeof(enum_state) <= 64, "enumeration state over its budget");

static uint16_t sat16(double v) {
    if (!(v > 0)) return 0;
    return v >= 65535.0 ? 65535 : (uint16_t)(v + 0.5);
}

static void inc16(uint16_t *v) {
    if (*v < UINT16_MAX) (*v)++;
}

/* Routes are told apart by a 16-bit tag of their id (never 0): a
 * collision only merges two routes' walks, which is harmless. */
static uint16_t route_tag(const rp_route *route) {
    return (uint16_t)(route->id % 65535u + 1u);
}

static void rotate(enum_state *s, uint32_t p) {
    bool adjacent = s->period != 0 && p == s->period + 1;
    s->prev_ids = adjacent ? s->cur_ids : 0;
    s->prev_known = adjacent ? s->cur_known : 0;
    s->prev_denied = adjacent ? s->cur_denied : 0;
    s->prev_seq = adjacent ? s->cur_seq : 0;
    s->cur_ids = s->cur_known = s->cur_denied = s->cur_seq = 0;
    memset(&s->ids, 0, sizeof s->ids);
    s->period = p;
}

/* Is id one more step of a walk? Deltas are computed without overflow:
 * ids are attacker-chosen and may be near INT64_MIN/MAX. */
static void track_walk(enum_state *s, const rp_observation *obs, double max_step) {
    uint16_t tag = route_tag(obs->route);
    int64_t delta = 0;
    bool same_route = s->last_route == tag;
    bool fits = same_route && !__builtin_sub_overflow(obs->id_value, s->last_id, &delta) &&
                delta >= -32767 && delta <= 32767;
    if (fits && delta != 0) {
        double mag = (double)(delta < 0 ? -delta : delta);
        if (mag <= max_step && (delta == s->last_delta || mag == 1.0)) inc16(&s->cur_seq);
        s->last_delta = (int16_t)delta;
    } else if (!fits) {
        s->last_delta = 0; /* another route, or a jump: no walk continues through it */
    } /* the same id again: the walk neither grows nor breaks */
    s->last_id = obs->id_value;
    s->last_route = tag;
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    enum_state *s = state;
    if (!obs->has_id) return;
    uint32_t p = rp_window_index(ev->ts_us, PERIOD_US);
    if (p > s->period) rotate(s, p); /* older lines count in the current period */
    if (rp_hll_add(&s->ids, obs->id_hash)) s->cur_ids = sat16(rp_hll_estimate(&s->ids));
    if (ev->status != 0) {
        inc16(&s->cur_known);
        if (ev->status == 403 || ev->status == 404) inc16(&s->cur_denied);
    }
    if (obs->id_numeric) track_walk(s, obs, ctx->params[P_MAX_STEP]);
}

typedef struct enum_eval {
    double ids, known, denied, share, seq;
    double s_deny, s_walk;
    bool walk_capped, boosted;
} enum_eval;

static double evaluate(const enum_state *s, const rp_detect_ctx *ctx, enum_eval *e) {
    const double *p = ctx->params;
    *e = (enum_eval){0};
    e->ids = (double)s->cur_ids + s->prev_ids;
    e->known = (double)s->cur_known + s->prev_known;
    e->denied = (double)s->cur_denied + s->prev_denied;
    e->seq = (double)s->cur_seq + s->prev_seq;
    e->share = e->known > 0 ? e->denied / e->known : 0.0;

    double by_ids = rp_ramp(e->ids, p[P_MIN_IDS], IDS_FULL);
    double by_share = rp_ramp(e->share, p[P_MIN_DENIED_SHARE], SHARE_FULL);
    e->s_deny = by_ids < by_share ? by_ids : by_share;

    e->s_walk = rp_ramp(e->seq, p[P_MIN_SEQ], WALK_FULL);
    if (e->s_walk > WALK_ALONE_CAP && e->share < 0.5 * p[P_MIN_DENIED_SHARE]) {
        e->s_walk = WALK_ALONE_CAP;
        e->walk_capped = true;
    }
    double sc = e->s_deny > e->s_walk ? e->s_deny : e->s_walk;
    if (e->s_deny > 0 && e->seq >= p[P_MIN_SEQ]) {
        sc += WALK_BOOST;
        e->boosted = true;
    }
    return sc > 1.0 ? 1.0 : sc;
}

static void explain(const enum_eval *e, const enum_state *s, const rp_observation *obs,
                    const rp_detect_ctx *ctx, rp_finding *f) {
    const double *p = ctx->params;
    f->threats = RP_THREAT_ENUMERATION;
    rp_finding_feature(f, "distinct_ids_10min", e->ids, p[P_MIN_IDS], NAN, e->ids >= p[P_MIN_IDS]);
    rp_finding_feature(f, "denied_share", e->share, p[P_MIN_DENIED_SHARE], NAN,
                       e->share >= p[P_MIN_DENIED_SHARE]);
    rp_finding_feature(f, "sequential_steps_10min", e->seq, p[P_MIN_SEQ], NAN,
                       e->seq >= p[P_MIN_SEQ]);
    const char *where = obs->has_id ? obs->route->template_ : "object routes";
    if (!where[0]) where = "object routes";
    char walk[64] = "";
    if (e->seq > 0)
        snprintf(walk, sizeof walk, ", %.0f sequential steps (delta %d)", e->seq,
                 (int)s->last_delta);
    rp_finding_summary(f, "enumeration: %.0f distinct ids on %.100s, %.0f%% denied (403/404)%s%s",
                       e->ids, where, e->share * 100.0, walk,
                       e->walk_capped ? "; walk without denials: capped" : "");
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    enum_eval e;
    double sc = evaluate(state, ctx, &e);
    if (finding) explain(&e, state, obs, ctx, finding);
    return sc;
}

/* A refused request for an object: a swarm's enumeration score is charged
 * to a member only for these (people reading their own objects are not). */
static bool involved(const void *member, const rp_event *ev, const rp_observation *obs,
                     const rp_detect_ctx *ctx) {
    (void)member;
    (void)ctx;
    return obs->has_id && (ev->status == 403 || ev->status == 404 || ev->status == 401);
}

const rp_detector rp_detector_enumeration = {
    .name = "enumeration",
    .description = "object-id enumeration (BOLA): many ids, mostly denied, often walked in order",
    .state_size = sizeof(enum_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP) | RP_LEVEL_BIT(RP_LEVEL_FINGERPRINT) |
              RP_LEVEL_BIT(RP_LEVEL_SUBNET) | RP_LEVEL_BIT(RP_LEVEL_TOKEN) |
              RP_LEVEL_BIT(RP_LEVEL_SESSION),
    .threats = RP_THREAT_ENUMERATION,
    .default_weight = 90,
    .params = enumeration_params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
    .involved = involved,
};
