/*
 * detector_fixture.h -- the bench every detector unit test drives its
 * detector on, shared by tests/unit/test_<detector>.c.
 *
 * The engine hands a detector four things per event: its state slice, the
 * event, the observation the engine derived from it (route, site, hashes)
 * and a context (parameters, key level, clock). A test plays the engine:
 * it fills the event and observation by hand, calls observe() and score()
 * and asserts on the number, or on the finding score() writes when given
 * one. This header holds that common part so each test file keeps only
 * what is particular to its detector: the defaults it starts from (route
 * class, first-seen time, upstream time), how it builds an event, and any
 * fields of its own (a file that needs some embeds a fixture first in its
 * own struct and uses fixture_init/fixture_fini).
 *
 * fixture_init sets only what every detector test shares: the NORMAL
 * tolerance presets as parameters, a zeroed route and site, and IP-level
 * keying with an hour-long norm period. Everything else starts at zero.
 *
 * The route and site are on the heap because rp_route is large (its norms
 * and windows) and because tests copy a learned route from one fixture to
 * another. The state buffer is the most a client record may hold, so any
 * detector's slice fits; it is 16-byte aligned so no slice layout can
 * trip the sanitizers on a misaligned field.
 *
 * Functions are static inline so that a test using only some of them
 * compiles without unused-function warnings.
 */
#ifndef RP_TEST_DETECTOR_FIXTURE_H
#define RP_TEST_DETECTOR_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "detector.h"

typedef struct fixture {
    const rp_detector *d;
    rp_route *route, *site;
    double params[RP_MAX_PARAMS];
    _Alignas(16) unsigned char state[RP_CLIENT_MAX_BYTES];
    rp_event ev;
    rp_observation obs;
    rp_detect_ctx ctx;
} fixture;

/* f must be zeroed (calloc'd, or a zeroed struct that embeds it). */
static inline void fixture_init(fixture *f, const rp_detector *d) {
    f->d = d;
    for (unsigned i = 0; i < d->n_params; i++)
        f->params[i] = d->params[i].preset[RP_TOLERANCE_NORMAL];
    f->route = calloc(1, sizeof *f->route);
    f->site = calloc(1, sizeof *f->site);
    f->obs.route = f->route;
    f->obs.site = f->site;
    f->ctx.params = f->params;
    f->ctx.level = RP_LEVEL_IP;
    f->ctx.norm_period_us = 3600LL * 1000000LL;
}

static inline void fixture_fini(fixture *f) {
    free(f->route);
    free(f->site);
}

static inline fixture *fixture_new(const rp_detector *d) {
    fixture *f = calloc(1, sizeof *f);
    fixture_init(f, d);
    return f;
}

static inline void fixture_free(fixture *f) {
    fixture_fini(f);
    free(f);
}

/* A cmocka teardown for files whose setup stores a fixture_new() result. */
static inline int fixture_teardown(void **state) {
    fixture_free(*state);
    return 0;
}

/* One event at ts, as filled in by the caller: observe it, then score on
 * the hot path (no finding). Returns the score. */
static inline double fixture_feed(fixture *f, int64_t ts) {
    f->ev.ts_us = ts;
    f->ctx.now_us = ts;
    f->d->observe(f->state, &f->ev, &f->obs, &f->ctx);
    return f->d->score(f->state, &f->obs, &f->ctx, NULL);
}

/* Score again with a finding to fill, zeroed first so a test sees only
 * what score() wrote. Returns the score. */
static inline double fixture_explain(fixture *f, rp_finding *out) {
    memset(out, 0, sizeof *out);
    return f->d->score(f->state, &f->obs, &f->ctx, out);
}

/* The same, for a test that only wants the evidence. */
static inline rp_finding fixture_finding(fixture *f) {
    rp_finding fin;
    fixture_explain(f, &fin);
    return fin;
}

#endif
