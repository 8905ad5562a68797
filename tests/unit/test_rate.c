/* test_rate.c -- the rate detector: floods caught fast, busy humans and
 * partners left alone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detector_fixture.h"

extern const rp_detector rp_detector_rate;
#define DET rp_detector_rate

#define SEC 1000000LL
#define T0 (1700000040LL * SEC) /* a minute boundary */

static fixture *fx_new(void) {
    fixture *f = fixture_new(&DET);
    f->obs.route_class = RP_ROUTE_LISTING;
    f->ctx.first_seen_us = T0;
    f->ev.upstream_us = -1;
    return f;
}

static double feed(fixture *f, int64_t ts, uint8_t cls) {
    f->obs.route_class = cls;
    return fixture_feed(f, ts);
}

/* n requests evenly spread over [from, from + seconds); returns the last
 * score. */
static double feed_rate(fixture *f, int64_t from, double seconds, int n, uint8_t cls) {
    double s = 0;
    for (int i = 0; i < n; i++)
        s = feed(f, from + (int64_t)(seconds * SEC * i / n), cls);
    return s;
}

static void test_rate_state_fits_budget(void **unused) {
    (void)unused;
    assert_true(DET.state_size <= 56);
    assert_int_equal(DET.default_weight, 100);
    assert_int_equal(DET.threats, RP_THREAT_FLOOD);
}

static void test_rate_blocks_100_rps_flood_within_1_2_s(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double at_1s = feed_rate(f, T0, 1.0, 100, RP_ROUTE_LISTING);
    double at_1_2s = feed_rate(f, T0 + SEC, 0.2, 21, RP_ROUTE_LISTING);
    assert_true(at_1s >= 0.5);  /* 100 in 3 s = 33/s: over 25 */
    assert_true(at_1_2s >= 0.8); /* block level at weight 100 */
    fixture_free(f);
}

static void test_rate_blocks_500_rps_flood_in_under_half_a_second(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double s = feed_rate(f, T0, 0.3, 150, RP_ROUTE_OBJECT);
    assert_true(s >= 0.99);
    fixture_free(f);
}

static void test_rate_50_rps_flood_reaches_block_level_within_2_5_s(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double s = feed_rate(f, T0, 2.5, 125, RP_ROUTE_OBJECT);
    assert_true(s >= 0.8);
    fixture_free(f);
}

static void test_rate_page_load_of_45_assets_in_1s_scores_zero(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    feed(f, T0, RP_ROUTE_OTHER); /* the page */
    double s = feed_rate(f, T0 + SEC / 10, 0.9, 45, RP_ROUTE_STATIC);
    assert_true(s == 0.0);
    /* and the next page a few seconds later */
    feed(f, T0 + 5 * SEC, RP_ROUTE_OTHER);
    s = feed_rate(f, T0 + 5 * SEC + SEC / 10, 0.9, 45, RP_ROUTE_STATIC);
    assert_true(s == 0.0);
    fixture_free(f);
}

static void test_rate_partner_sync_at_5_rps_for_10_min_scores_zero(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double worst = 0;
    for (int sec = 0; sec < 600; sec++) {
        double s = feed_rate(f, T0 + sec * SEC, 1.0, 5, RP_ROUTE_OBJECT);
        if (s > worst) worst = s;
    }
    assert_true(worst == 0.0);
    fixture_free(f);
}

static void test_rate_office_nat_static_heavy_traffic_scores_zero(void **unused) {
    (void)unused;
    /* 30 humans: 1.5 page loads/s of 30 assets (45 static/s) and 4 API
     * calls/s for 5 minutes. */
    fixture *f = fx_new();
    double worst = 0;
    for (int sec = 0; sec < 300; sec++) {
        feed_rate(f, T0 + sec * SEC, 1.0, 4, RP_ROUTE_OBJECT);
        double s = feed_rate(f, T0 + sec * SEC + SEC / 2, 0.4, 15, RP_ROUTE_STATIC);
        if (s > worst) worst = s;
    }
    assert_true(worst == 0.0);
    fixture_free(f);
}

static void test_rate_per_minute_floor_flags_18_rps_sustained(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double s = 0;
    for (int sec = 0; sec < 60; sec++) s = feed_rate(f, T0 + sec * SEC, 1.0, 18, RP_ROUTE_SEARCH);
    /* 1080 in 60 s vs floor 600: 0.5 + 0.5 * 480 / 600 = 0.9 */
    assert_true(fabs(s - 0.9) < 0.02);
    fixture_free(f);
}

static void test_rate_minute_bound_follows_site_p99(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    /* a site whose busy clients send ~150 requests a minute */
    for (int i = 0; i < 200; i++) rp_norm_add(&f->site->norm[RP_NORM_CLIENT_RATE_MIN], 150, T0, 0);
    double p99 = rp_norm_quantile(&f->site->norm[RP_NORM_CLIENT_RATE_MIN], 0.99, 50);
    assert_false(isnan(p99));
    double s = 0;
    for (int sec = 0; sec < 60; sec++) s = feed_rate(f, T0 + sec * SEC, 1.0, 18, RP_ROUTE_SEARCH);
    assert_true(s == 0.0); /* 1080 < 10 x p99 */
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_true(fi.n_features >= 2);
    assert_string_equal(fi.features[1].name, "requests_60s");
    assert_true(fabs(fi.features[1].threshold - 10 * p99) < 1e-6);
    assert_true(fabs(fi.features[1].normal - p99) < 1e-6);
    assert_false(fi.features[1].crossed);
    fixture_free(f);
}

static void test_rate_feeds_site_norm_once_per_active_minute(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    feed_rate(f, T0, 60.0, 30, RP_ROUTE_OBJECT);           /* minute 1: 30 */
    feed_rate(f, T0 + 60 * SEC, 60.0, 12, RP_ROUTE_OBJECT); /* minute 2: 12 */
    rp_norm *n = &f->site->norm[RP_NORM_CLIENT_RATE_MIN];
    assert_true(n->total == 1.0f);
    assert_true(n->count[rp_norm_bucket(30)] == 1.0f);
    feed(f, T0 + 300 * SEC, RP_ROUTE_OBJECT); /* a later minute closes minute 2 */
    assert_true(n->total == 2.0f);
    assert_true(n->count[rp_norm_bucket(12)] == 1.0f);
    fixture_free(f);
}

static void test_rate_surge_scores_new_busy_client_only(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    /* route normally ~20 requests per 10 s; now 800 in the current bucket */
    for (int i = 0; i < 100; i++) rp_norm_add(&f->route->norm[RP_NORM_ROUTE_RATE_10S], 20, T0, 0);
    rp_window_add(&f->route->rate_10s, T0 + 30 * SEC, 10 * SEC, 800);
    f->ctx.first_seen_us = T0;
    double s = feed_rate(f, T0, 35.0, 90, RP_ROUTE_OBJECT); /* 2.6/s: under every own bound */
    assert_true(s >= 0.5 && s < 0.8);
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_non_null(strstr(fi.summary, "surges"));

    /* the same client, known for an hour, is not "new" */
    fixture *g = fx_new();
    memcpy(g->route, f->route, sizeof *g->route);
    g->ctx.first_seen_us = T0 - 3600 * SEC;
    s = feed_rate(g, T0, 35.0, 90, RP_ROUTE_OBJECT);
    assert_true(s == 0.0);
    fixture_free(g);
    fixture_free(f);
}

static void test_rate_surge_needs_learned_route_norm(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    rp_window_add(&f->route->rate_10s, T0 + 30 * SEC, 10 * SEC, 5000);
    double s = feed_rate(f, T0, 35.0, 90, RP_ROUTE_OBJECT);
    assert_true(s == 0.0);
    fixture_free(f);
}

static void test_rate_out_of_order_and_missing_fields_are_safe(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    /* a flood whose log lines are shuffled by up to 2 s */
    double s = 0;
    for (int i = 0; i < 300; i++) {
        int64_t jitter = ((i * 7919) % 2000) * 1000LL; /* 0..2 s */
        s = feed(f, T0 + 3 * SEC + i * 10000LL - jitter, RP_ROUTE_OBJECT);
    }
    assert_true(s >= 0.8);
    /* zero and negative times, far-future times: no crash, bounded */
    feed(f, 0, RP_ROUTE_OBJECT);
    feed(f, -5 * SEC, RP_ROUTE_OBJECT);
    f->ctx.first_seen_us = INT64_MIN; /* a hostile first time: no overflow */
    for (int i = 0; i < 100; i++) rp_norm_add(&f->route->norm[RP_NORM_ROUTE_RATE_10S], 2, T0, 0);
    rp_window_add(&f->route->rate_10s, T0 + 3 * SEC, 10 * SEC, 5000);
    s = feed(f, T0 + 4 * SEC, RP_ROUTE_OBJECT);
    assert_true(s >= 0.8);
    s = feed(f, INT64_MAX / 2, RP_ROUTE_OBJECT);
    assert_true(s >= 0.0 && s <= 1.0);
    fixture_free(f);
}

static void test_rate_summary_mentions_rate_and_threshold(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    feed_rate(f, T0, 3.0, 636, RP_ROUTE_OBJECT); /* 212/s */
    rp_finding fi;
    double s = fixture_explain(f, &fi);
    assert_true(s == 1.0);
    assert_string_equal(fi.summary, "rate: 212 requests/s over 3 s; threshold 25");
    assert_int_equal(fi.threats, RP_THREAT_FLOOD);
    assert_string_equal(fi.features[0].name, "requests_per_s_3s");
    assert_true(fi.features[0].crossed);
    fixture_free(f);
}

static void test_rate_summary_shows_multiple_of_normal(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    for (int i = 0; i < 200; i++) rp_norm_add(&f->site->norm[RP_NORM_CLIENT_RATE_MIN], 20, T0, 0);
    for (int sec = 0; sec < 60; sec++) feed_rate(f, T0 + sec * SEC, 1.0, 20, RP_ROUTE_OBJECT);
    rp_finding fi;
    double s = fixture_explain(f, &fi);
    assert_true(s > 0.8);
    assert_non_null(strstr(fi.summary, "1200 requests in 60 s vs normal"));
    assert_non_null(strstr(fi.summary, "(p99)"));
    fixture_free(f);
}

/* A window bucket stops at 65535 (window.h): past it the count is a floor,
 * and the evidence says so instead of a number that looks exact. */
static void test_rate_summary_marks_a_saturated_count_as_a_floor(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    feed_rate(f, T0, 10.0, 70000, RP_ROUTE_OBJECT); /* one 10 s bucket: stops at 65535 */
    feed(f, T0 + 30 * SEC, RP_ROUTE_OBJECT);        /* the burst is over */
    rp_finding fi;
    double s = fixture_explain(f, &fi);
    assert_true(s == 1.0);
    assert_string_equal(fi.summary, "rate: \xe2\x89\xa5 65536 requests in 60 s; threshold 600");
    assert_string_equal(fi.features[1].name, "requests_60s");
    assert_true(fi.features[1].value == 65536); /* the floor */
    fixture_free(f);
    /* under the bound the count is exact and unmarked */
    f = fx_new();
    feed_rate(f, T0, 10.0, 6000, RP_ROUTE_OBJECT);
    feed(f, T0 + 30 * SEC, RP_ROUTE_OBJECT);
    fixture_explain(f, &fi);
    assert_string_equal(fi.summary, "rate: 6001 requests in 60 s; threshold 600");
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rate_state_fits_budget),
        cmocka_unit_test(test_rate_blocks_100_rps_flood_within_1_2_s),
        cmocka_unit_test(test_rate_blocks_500_rps_flood_in_under_half_a_second),
        cmocka_unit_test(test_rate_50_rps_flood_reaches_block_level_within_2_5_s),
        cmocka_unit_test(test_rate_page_load_of_45_assets_in_1s_scores_zero),
        cmocka_unit_test(test_rate_partner_sync_at_5_rps_for_10_min_scores_zero),
        cmocka_unit_test(test_rate_office_nat_static_heavy_traffic_scores_zero),
        cmocka_unit_test(test_rate_per_minute_floor_flags_18_rps_sustained),
        cmocka_unit_test(test_rate_minute_bound_follows_site_p99),
        cmocka_unit_test(test_rate_feeds_site_norm_once_per_active_minute),
        cmocka_unit_test(test_rate_surge_scores_new_busy_client_only),
        cmocka_unit_test(test_rate_surge_needs_learned_route_norm),
        cmocka_unit_test(test_rate_out_of_order_and_missing_fields_are_safe),
        cmocka_unit_test(test_rate_summary_mentions_rate_and_threshold),
        cmocka_unit_test(test_rate_summary_shows_multiple_of_normal),
        cmocka_unit_test(test_rate_summary_marks_a_saturated_count_as_a_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
