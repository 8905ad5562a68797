/* test_interval.c -- the interval detector: regular pacing is noticed,
 * human timing and page-load bursts are not, and it never acts alone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detector_fixture.h"

extern const rp_detector rp_detector_interval;
#define DET rp_detector_interval

#define SEC 1000000LL
#define MS 1000LL
#define T0 (1700000000LL * SEC)

/* The shared fixture plus what pacing needs: the previous request's time,
 * to derive gaps as the engine does, and a seeded generator for jitter. */
typedef struct interval_fixture {
    fixture fx;
    int64_t last_ts;
    uint32_t rng;
} interval_fixture;

static interval_fixture *fx_new(void) {
    interval_fixture *f = calloc(1, sizeof *f);
    fixture_init(&f->fx, &DET);
    f->fx.obs.route_class = RP_ROUTE_LISTING;
    f->fx.ev.upstream_us = -1;
    f->rng = 12345;
    return f;
}

static void fx_free(interval_fixture *f) {
    fixture_fini(&f->fx);
    free(f);
}

/* deterministic 0..1 */
static double rnd(interval_fixture *f) {
    f->rng = f->rng * 1103515245u + 12345u;
    return (double)((f->rng >> 8) & 0xffff) / 65536.0;
}

/* One request at ts; gap as the engine computes it (since the previous
 * event of the key, which may be negative for reordered lines). */
static double feed(interval_fixture *f, int64_t ts) {
    f->fx.obs.gap_us = f->last_ts ? ts - f->last_ts : -1;
    f->fx.obs.first_of_key = f->last_ts == 0;
    f->last_ts = ts;
    return fixture_feed(&f->fx, ts);
}

static void test_interval_weight_is_too_low_to_act_alone(void **unused) {
    (void)unused;
    assert_true(DET.default_weight * 1.0 < 40.0); /* below monitor even at score 1 */
    assert_true(DET.state_size <= 24);
    assert_int_equal(DET.threats, RP_THREAT_AUTOMATION);
}

static void test_interval_flags_poller_every_10s_with_20ms_jitter(void **unused) {
    (void)unused;
    interval_fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i <= 60; i++) s = feed(f, T0 + i * 10 * SEC + (int64_t)(rnd(f) * 20 * MS));
    assert_true(s > 0.95);
    fx_free(f);
}

static void test_interval_flags_scraper_sleeping_500ms(void **unused) {
    (void)unused;
    interval_fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i <= 120; i++) s = feed(f, T0 + i * 500 * MS + (int64_t)(rnd(f) * 10 * MS));
    assert_true(s > 0.95);
    rp_finding fi;
    fixture_explain(&f->fx, &fi);
    assert_non_null(strstr(fi.summary, "interval: 0.50 s mean gap, variation"));
    assert_non_null(strstr(fi.summary, "over 120 requests (machine-regular; threshold 10%)"));
    assert_int_equal(fi.threats, RP_THREAT_AUTOMATION);
    assert_true(fi.features[0].value < 0.02);
    assert_true(fi.features[0].crossed);
    fx_free(f);
}

static void test_interval_human_think_times_score_zero(void **unused) {
    (void)unused;
    interval_fixture *f = fx_new();
    int64_t ts = T0;
    double worst = 0;
    for (int i = 0; i < 200; i++) {
        ts += (int64_t)((1.0 + 40.0 * rnd(f) * rnd(f)) * SEC); /* 1..41 s, skewed */
        double s = feed(f, ts);
        if (s > worst) worst = s;
    }
    assert_true(worst == 0.0);
    fx_free(f);
}

static void test_interval_page_load_bursts_are_not_measured(void **unused) {
    (void)unused;
    interval_fixture *f = fx_new();
    int64_t ts = T0;
    double worst = 0;
    for (int page = 0; page < 40; page++) {
        ts += (int64_t)((3.0 + 30.0 * rnd(f)) * SEC);
        for (int a = 0; a < 30; a++) { /* assets 5-25 ms apart */
            double s = feed(f, ts + a * (5 + (int64_t)(rnd(f) * 20)) * MS);
            if (s > worst) worst = s;
        }
    }
    assert_true(worst == 0.0);
    fx_free(f);
}

static void test_interval_poll_of_two_calls_is_still_regular(void **unused) {
    (void)unused;
    interval_fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i < 50; i++) {
        feed(f, T0 + i * 5 * SEC);
        s = feed(f, T0 + i * 5 * SEC + 20 * MS); /* inside the burst gap */
    }
    assert_true(s > 0.9);
    fx_free(f);
}

static void test_interval_needs_min_gaps_before_scoring(void **unused) {
    (void)unused;
    interval_fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i <= 19; i++) s = feed(f, T0 + i * 2 * SEC);
    assert_true(s == 0.0); /* 19 gaps */
    s = feed(f, T0 + 20 * 2 * SEC);
    assert_true(s >= 0.5 && s < 0.51); /* 20 gaps: half support */
    fx_free(f);
}

static void test_interval_reordered_lines_are_skipped_not_counted(void **unused) {
    (void)unused;
    interval_fixture *f = fx_new();
    for (int i = 0; i <= 30; i++) feed(f, T0 + i * SEC);
    rp_finding before;
    fixture_explain(&f->fx, &before);
    feed(f, T0 + 10 * SEC); /* a line 20 s late: gap < 0 */
    rp_finding after;
    fixture_explain(&f->fx, &after);
    assert_true(before.features[2].value == after.features[2].value);
    assert_true(before.features[0].value == after.features[0].value);
    fx_free(f);
}

static void test_interval_first_event_and_huge_gaps_are_safe(void **unused) {
    (void)unused;
    interval_fixture *f = fx_new();
    f->fx.obs.gap_us = -1;
    DET.observe(f->fx.state, &f->fx.ev, &f->fx.obs, &f->fx.ctx);
    f->fx.obs.gap_us = INT64_MAX;
    DET.observe(f->fx.state, &f->fx.ev, &f->fx.obs, &f->fx.ctx);
    f->fx.obs.gap_us = 0;
    DET.observe(f->fx.state, &f->fx.ev, &f->fx.obs, &f->fx.ctx);
    double s = DET.score(f->fx.state, &f->fx.obs, &f->fx.ctx, NULL);
    assert_true(s == 0.0);
    rp_finding fi;
    fixture_explain(&f->fx, &fi);
    assert_non_null(strstr(fi.summary, "not regular"));
    fx_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interval_weight_is_too_low_to_act_alone),
        cmocka_unit_test(test_interval_flags_poller_every_10s_with_20ms_jitter),
        cmocka_unit_test(test_interval_flags_scraper_sleeping_500ms),
        cmocka_unit_test(test_interval_human_think_times_score_zero),
        cmocka_unit_test(test_interval_page_load_bursts_are_not_measured),
        cmocka_unit_test(test_interval_poll_of_two_calls_is_still_regular),
        cmocka_unit_test(test_interval_needs_min_gaps_before_scoring),
        cmocka_unit_test(test_interval_reordered_lines_are_skipped_not_counted),
        cmocka_unit_test(test_interval_first_event_and_huge_gaps_are_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
