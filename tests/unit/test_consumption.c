/* test_consumption.c -- the consumption detector: clients that keep
 * asking for the expensive answers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detector_fixture.h"

extern const rp_detector rp_detector_consumption;
#define DET rp_detector_consumption

#define SEC 1000000LL
#define KIB 1024ULL
#define MIB (1024ULL * 1024ULL)
#define T0 (1700000000LL * SEC)

static fixture *fx_new(void) {
    fixture *f = fixture_new(&DET);
    strcpy(f->route->template_, "/api/export");
    f->obs.route_class = RP_ROUTE_LISTING;
    f->ctx.first_seen_us = T0;
    return f;
}

/* A route whose normal answers are about `bytes` (200 samples). */
static void learn_response(fixture *f, double bytes) {
    for (int i = 0; i < 200; i++)
        rp_norm_add(&f->route->norm[RP_NORM_RESPONSE_BYTES], bytes, T0, 0);
}

static double feed(fixture *f, int64_t ts, uint64_t resp, uint64_t req, int64_t upstream) {
    f->ev.response_bytes = resp;
    f->ev.request_bytes = req;
    f->ev.upstream_us = upstream;
    f->ev.status = 200;
    return fixture_feed(f, ts);
}

static void test_consumption_state_fits_budget(void **unused) {
    (void)unused;
    assert_true(DET.state_size <= 40);
    assert_int_equal(DET.default_weight, 60);
}

static void test_consumption_flags_12_responses_over_the_route_p99(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    learn_response(f, 60 * KIB);
    double p99 = rp_norm_quantile(&f->route->norm[RP_NORM_RESPONSE_BYTES], 0.90, 100); /* the p90 */
    double s = 0;
    for (int i = 0; i < 12; i++) s = feed(f, T0 + i * 20 * SEC, 4 * MIB, 300, 80000);
    assert_true(fabs(s - (0.5 + 0.5 * 7.0 / 15.0)) < 1e-9); /* ramp(12, 5, 4) */
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_int_equal(fi.threats, RP_THREAT_CONSUMPTION);
    assert_true(fi.features[0].value == 12);
    assert_true(fi.features[0].crossed);
    assert_true(fi.features[2].value == floor(4.0 * MIB / p99 + 0.5));
    assert_non_null(strstr(fi.summary, "consumption: 12 heavy requests in 10 min (last: response "));
    assert_non_null(strstr(fi.summary, "x the route's p90), 48.0 MiB sent vs "));
    assert_non_null(strstr(fi.summary, "threshold 5"));
    fixture_free(f);
}

static void test_consumption_20_heavy_requests_score_1(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    learn_response(f, 60 * KIB);
    double s = 0;
    for (int i = 0; i < 20; i++) s = feed(f, T0 + i * 10 * SEC, 2 * MIB, 0, -1);
    assert_true(s == 1.0);
    fixture_free(f);
}

static void test_consumption_one_export_by_a_person_scores_zero(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    learn_response(f, 60 * KIB);
    feed(f, T0, 40 * MIB, 0, 9 * SEC);
    double s = 0;
    for (int i = 1; i < 50; i++) s = feed(f, T0 + i * 5 * SEC, 30 * KIB, 500, 40000);
    assert_true(s == 0.0);
    fixture_free(f);
}

static void test_consumption_absolute_floor_before_norm_is_learned(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i < 4; i++) s = feed(f, T0 + i * SEC, 900 * KIB, 0, -1); /* under 1 MiB */
    assert_true(s == 0.0);
    for (int i = 0; i < 6; i++) s = feed(f, T0 + (10 + i) * SEC, 3 * MIB, 0, -1);
    assert_true(s > 0.5);
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_non_null(strstr(fi.summary, "over the absolute floor"));
    fixture_free(f);
}

static void test_consumption_tiny_route_does_not_count_small_answers(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    learn_response(f, 200); /* 200-byte answers */
    double s = 0;
    for (int i = 0; i < 30; i++) s = feed(f, T0 + i * SEC, 20 * KIB, 0, -1); /* 100x, but cheap */
    assert_true(s == 0.0);
    fixture_free(f);
}

static void test_consumption_uploads_and_slow_upstream_count(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i < 3; i++) s = feed(f, T0 + i * SEC, 0, 8 * MIB, -1);          /* uploads */
    for (int i = 0; i < 3; i++) s = feed(f, T0 + (5 + i) * SEC, 0, 0, 3 * SEC); /* slow */
    assert_true(s > 0.5); /* 6 heavy */
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_non_null(strstr(fi.summary, "upstream time"));
    fixture_free(f);
}

static void test_consumption_unknown_fields_never_look_heavy(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i < 100; i++) s = feed(f, T0 + i * SEC, 0, 0, -1);
    assert_true(s == 0.0);
    fixture_free(f);
}

static void test_consumption_volume_adds_small_answers_exactly(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    for (int i = 0; i < 1000; i++) feed(f, T0 + i * SEC / 10, 1000, 0, -1);
    rp_finding fi;
    fixture_explain(f, &fi);
    /* 1,000,000 bytes = 15 units of 64 KiB, the rest carried */
    assert_true(fabs(fi.features[1].value - 15.0 / 16.0) < 1e-9);
    fixture_free(f);
}

static void test_consumption_volume_over_bound_without_heavy_requests(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    learn_response(f, 600 * KIB);
    double s = 0;
    for (int i = 0; i < 1200; i++) s = feed(f, T0 + i * SEC / 2, 500 * KIB, 0, -1); /* 586 MiB */
    assert_true(s > 0.6 && s < 0.8);
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_true(fi.features[0].value == 0);
    assert_true(fi.features[1].crossed);
    fixture_free(f);
}

static void test_consumption_window_forgets_after_10_minutes(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    for (int i = 0; i < 20; i++) feed(f, T0 + i * SEC, 5 * MIB, 0, -1);
    double s = feed(f, T0 + 700 * SEC, 1000, 0, -1);
    assert_true(s == 0.0);
    fixture_free(f);
}

static void test_consumption_hostile_values_and_times_are_safe(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    feed(f, T0, UINT64_MAX, UINT64_MAX, INT64_MAX);
    feed(f, T0 - 30 * SEC, UINT64_MAX, 0, -1); /* out of order */
    feed(f, 0, 5 * MIB, 0, -1);
    double s = feed(f, -SEC, 5 * MIB, 0, -7);
    assert_true(s >= 0.0 && s <= 1.0);
    f->ctx.now_us = T0; /* the engine scores at its clock, the newest time */
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_true(fi.features[0].value == 2); /* the two in the window; ts <= 0 too old */
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_consumption_state_fits_budget),
        cmocka_unit_test(test_consumption_flags_12_responses_over_the_route_p99),
        cmocka_unit_test(test_consumption_20_heavy_requests_score_1),
        cmocka_unit_test(test_consumption_one_export_by_a_person_scores_zero),
        cmocka_unit_test(test_consumption_absolute_floor_before_norm_is_learned),
        cmocka_unit_test(test_consumption_tiny_route_does_not_count_small_answers),
        cmocka_unit_test(test_consumption_uploads_and_slow_upstream_count),
        cmocka_unit_test(test_consumption_unknown_fields_never_look_heavy),
        cmocka_unit_test(test_consumption_volume_adds_small_answers_exactly),
        cmocka_unit_test(test_consumption_volume_over_bound_without_heavy_requests),
        cmocka_unit_test(test_consumption_window_forgets_after_10_minutes),
        cmocka_unit_test(test_consumption_hostile_values_and_times_are_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
