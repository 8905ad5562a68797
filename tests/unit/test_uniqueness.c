/* test_uniqueness.c -- the uniqueness detector: fast broad coverage, and
 * catalogue reading sustained for minutes, are scraping; polite crawlers,
 * a partner's bulk sync, a steady keyed poller, people and offices are
 * not. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detector_fixture.h"

extern const rp_detector rp_detector_uniqueness;
#define DET rp_detector_uniqueness

#define SEC 1000000LL
#define T0 (1700000100LL * SEC) /* a 5-minute boundary */

static int64_t last_ts; /* the previous event's time, for obs.gap_us */

static fixture *fx_new(void) {
    last_ts = INT64_MIN;
    fixture *f = fixture_new(&DET);
    f->ctx.first_seen_us = T0;
    f->ev.upstream_us = -1;
    return f;
}

static uint64_t mix(uint64_t x) { /* splitmix64 finaliser: a stand-in path hash */
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static double feed(fixture *f, int64_t ts, uint8_t cls, uint64_t path, uint64_t query) {
    f->obs.route_class = cls;
    f->obs.path_hash = mix(path);
    f->obs.query_hash = query ? mix(query + 1000000007ULL) : 0;
    f->obs.gap_us = last_ts == INT64_MIN ? -1 : ts - last_ts;
    last_ts = ts;
    return fixture_feed(f, ts);
}

static void test_uniqueness_state_fits_budget(void **unused) {
    (void)unused;
    assert_true(DET.state_size <= 80);
    assert_int_equal(DET.default_weight, 60);
}

static void test_uniqueness_scraper_at_3_rps_over_products_scores_1(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i < 900; i++) /* 5 minutes, 900 different products */
        s = feed(f, T0 + i * SEC / 3, RP_ROUTE_OBJECT, 1000 + i, 0);
    assert_true(s == 1.0);
    fixture_free(f);
}

static void test_uniqueness_googlebot_polite_crawl_stays_at_monitor(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double worst = 0;
    for (int i = 0; i < 800; i++) { /* 1 page every 1.5 s for 20 minutes */
        double s = feed(f, T0 + i * 3 * SEC / 2, RP_ROUTE_OTHER, 5000 + i, 0);
        if (s > worst) worst = s;
    }
    assert_true(worst > 0.0);  /* it is broad coverage ... */
    assert_true(worst <= 0.6); /* ... but 36 points at most: monitor */
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_non_null(strstr(fi.summary, "polite pace"));
    fixture_free(f);
}

static void test_uniqueness_human_browsing_scores_zero(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double worst = 0;
    for (int i = 0; i < 120; i++) { /* 10 min, 20 distinct pages, revisits */
        double s = feed(f, T0 + i * 5 * SEC, RP_ROUTE_LISTING, (uint64_t)(i * 7) % 20, 0);
        if (s > worst) worst = s;
    }
    assert_true(worst == 0.0);
    fixture_free(f);
}

static void test_uniqueness_office_nat_with_revisits_stays_low(void **unused) {
    (void)unused;
    /* 30 people: 4 requests/s for 10 min over 300 distinct pages */
    fixture *f = fx_new();
    double worst = 0, s = 0;
    for (int i = 0; i < 2400; i++) {
        double r = (double)(mix((uint64_t)i) % 1000) / 1000.0; /* popular pages more often */
        s = feed(f, T0 + i * SEC / 4, RP_ROUTE_OBJECT, (uint64_t)(r * r * 300), 0);
        if (s > worst) worst = s;
    }
    /* the first minutes look broad (nobody has revisited yet): under 40
     * points at weight 60; once people revisit, lower */
    assert_true(worst < 0.6);
    assert_true(s < 0.45);
    fixture_free(f);
}

static void test_uniqueness_search_abuse_on_distinct_queries(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i < 400; i++) /* 400 different searches at 2/s */
        s = feed(f, T0 + i * SEC / 2, RP_ROUTE_SEARCH, 1, 77 + i);
    assert_true(s >= 0.9);
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_non_null(strstr(fi.summary, "distinct search queries"));
    fixture_free(f);
}

static void test_uniqueness_partner_polling_same_search_scores_zero(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double worst = 0;
    for (int i = 0; i < 600; i++) { /* the same 3 queries every 10 s... for 100 min */
        double s = feed(f, T0 + i * 10 * SEC, RP_ROUTE_SEARCH, 1, 1 + (uint64_t)i % 3);
        if (s > worst) worst = s;
    }
    assert_true(worst == 0.0);
    fixture_free(f);
}

static void test_uniqueness_bound_follows_site_p99(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    for (int i = 0; i < 200; i++) rp_norm_add(&f->site->norm[RP_NORM_CLIENT_DISTINCT], 60, T0, 0);
    double p99 = rp_norm_quantile(&f->site->norm[RP_NORM_CLIENT_DISTINCT], 0.99, 50);
    double s = 0;
    for (int i = 0; i < 250; i++) s = feed(f, T0 + i * SEC / 3, RP_ROUTE_OBJECT, 1000 + i, 0);
    assert_true(s == 0.0); /* 250 < 5 x p99 (~340) */
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_true(fabs(fi.features[0].threshold - 5 * p99) < 1e-6);
    assert_true(fabs(fi.features[0].normal - p99) < 1e-6);
    fixture_free(f);
}

static void test_uniqueness_feeds_site_norm_per_closed_period(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    for (int i = 0; i < 40; i++) feed(f, T0 + i * SEC, RP_ROUTE_OBJECT, (uint64_t)i, 0);
    rp_norm *n = &f->site->norm[RP_NORM_CLIENT_DISTINCT];
    assert_true(n->total == 0.0f);
    feed(f, T0 + 301 * SEC, RP_ROUTE_OBJECT, 1, 0);
    assert_true(n->total == 1.0f);
    unsigned b = rp_norm_bucket(40);
    assert_true(n->count[b] + n->count[b - 1] + n->count[b + 1] == 1.0f); /* 40 +- sketch error */
    fixture_free(f);
}

static void test_uniqueness_window_forgets_after_two_periods(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    for (int i = 0; i < 900; i++) feed(f, T0 + i * SEC / 3, RP_ROUTE_OBJECT, 1000 + i, 0);
    double s = feed(f, T0 + 20 * 60 * SEC, RP_ROUTE_OBJECT, 1, 0);
    assert_true(s == 0.0);
    fixture_free(f);
}

static void test_uniqueness_ignores_static_health_and_auth(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i < 900; i++) {
        uint8_t cls = i % 3 == 0 ? RP_ROUTE_STATIC : i % 3 == 1 ? RP_ROUTE_HEALTH : RP_ROUTE_AUTH;
        s = feed(f, T0 + i * SEC / 3, cls, (uint64_t)i, 0);
    }
    assert_true(s == 0.0);
    fixture_free(f);
}

static void test_uniqueness_out_of_order_and_odd_times_are_safe(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i < 900; i++) {
        int64_t jitter = ((i * 7919) % 3000) * 1000LL;
        s = feed(f, T0 + 5 * SEC + i * SEC / 3 - jitter, RP_ROUTE_OBJECT, 1000 + i, 0);
    }
    assert_true(s == 1.0);
    feed(f, 0, RP_ROUTE_OBJECT, 1, 0);
    feed(f, -1, RP_ROUTE_OBJECT, 2, 0);
    f->ctx.first_seen_us = INT64_MAX / 4; /* nonsense first_seen: pace must not divide by 0 */
    s = feed(f, INT64_MAX / 2, RP_ROUTE_OBJECT, 3, 0);
    assert_true(s >= 0.0 && s <= 1.0);
    fixture_free(f);
}

static void test_uniqueness_summary_mentions_distinct_share_and_normal(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    for (int i = 0; i < 200; i++) rp_norm_add(&f->site->norm[RP_NORM_CLIENT_DISTINCT], 20, T0, 0);
    for (int i = 0; i < 900; i++) feed(f, T0 + i * SEC / 3, RP_ROUTE_OBJECT, 1000 + i, 0);
    rp_finding fi;
    double s = fixture_explain(f, &fi);
    assert_true(s == 1.0);
    assert_non_null(strstr(fi.summary, "uniqueness: "));
    assert_non_null(strstr(fi.summary, "distinct pages in 10 min ("));
    assert_non_null(strstr(fi.summary, "never revisited"));
    assert_non_null(strstr(fi.summary, "vs normal 23 (p99)"));
    assert_int_equal(fi.threats, RP_THREAT_SCRAPER);
    assert_true(fi.features[0].value > 600 && fi.features[0].value < 1250);
    assert_true(fi.features[0].crossed);
    fixture_free(f);
}

static void test_uniqueness_pagination_pages_are_distinct_content(void **unused) {
    (void)unused;
    /* curl reading /products?page=1..250 in 80 s: one path, 250 pages */
    fixture *f = fx_new();
    double s = 0;
    for (int i = 0; i < 250; i++) s = feed(f, T0 + i * 320 * SEC / 1000, RP_ROUTE_LISTING, 7, 1 + i);
    assert_true(s > 0.55); /* 3.1 pages/s over 250 pages: fast coverage, flagged */
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_true(fi.features[0].value > 210 && fi.features[0].value < 290);
    /* the same 250 requests without the query are one page read again */
    fixture *g = fx_new();
    for (int i = 0; i < 250; i++) s = feed(g, T0 + i * 320 * SEC / 1000, RP_ROUTE_LISTING, 7, 0);
    assert_true(s == 0.0);
    fixture_free(f);
    fixture_free(g);
}

/* Gaps of 0.3-1.2 s, as `time.sleep(random.uniform(0.3, 1.2))`. */
static int64_t scraper_gap(int i) { return 300 * 1000LL + (int64_t)(mix((uint64_t)i) % 900000); }

static void test_uniqueness_pagination_scraper_with_stolen_token_throttled_in_4_min(void **unused) {
    (void)unused;
    /* 400 pages of /v2/orders?page=N at ~1.3/s with a staff token */
    fixture *f = fx_new();
    f->ev.token_id = 0x5747aff;
    int64_t t = T0 + 7 * SEC;
    double at_100s = -1, at_250s = -1, s = 0;
    for (int i = 0; i < 400; i++) {
        s = feed(f, t, RP_ROUTE_LISTING, 11, 1 + i);
        if (at_100s < 0 && t - T0 >= 107 * SEC) at_100s = s;
        if (at_250s < 0 && t - T0 >= 257 * SEC) at_250s = s;
        t += scraper_gap(i);
    }
    assert_true(at_100s <= 0.4); /* under 2 min: not yet sustained */
    assert_true(at_250s == 1.0); /* 4 min without a pause: throttle on its own */
    assert_true(s == 1.0);
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_non_null(strstr(fi.summary, "without a pause"));
    assert_null(strstr(fi.summary, "steady keyed")); /* the token tempers nothing */
    assert_string_equal(fi.features[4].name, "sustained_minutes");
    assert_true(fi.features[4].crossed);
    fixture_free(f);
}

static void test_uniqueness_sustained_reader_at_1_per_s_throttled_whatever_its_pace(void **unused) {
    (void)unused;
    /* a browser-UA script: 655 distinct pages at exactly one a second */
    fixture *f = fx_new();
    double at_3min = 0, s = 0;
    for (int i = 0; i < 655; i++) {
        s = feed(f, T0 + i * SEC, RP_ROUTE_OBJECT, 100000 + i, 0);
        if (i == 180) at_3min = s;
    }
    assert_true(at_3min >= 0.7 && at_3min < 1.0); /* 0.5 at 2 min rising */
    assert_true(s == 1.0);
    fixture_free(f);
}

static void test_uniqueness_pause_ends_a_run_of_sustained_reading(void **unused) {
    (void)unused;
    /* 1 page/s for 3 min, a minute of silence, 3 min more: two runs of
     * 3 min, neither reaches the 4 minutes of sustained reading */
    fixture *f = fx_new();
    double worst = 0, after_pause = 0;
    for (int i = 0; i < 360; i++) {
        int64_t t = T0 + i * SEC + (i >= 180 ? 60 * SEC : 0);
        double s = feed(f, t, RP_ROUTE_OBJECT, 100000 + i, 0);
        if (s > worst) worst = s;
        if (i == 200) after_pause = s;
    }
    assert_true(worst < 1.0);
    assert_true(after_pause <= 0.4); /* the run started again */
    fixture_free(f);
}

static void test_uniqueness_bulk_sync_burst_every_5_min_not_throttled(void **unused) {
    (void)unused;
    /* a partner's sync: 120 pages at 2/s with its key, every 5 minutes,
     * for 30 minutes (even three times corpus C's 40 pages) */
    fixture *f = fx_new();
    f->ev.token_id = 0xac3e;
    double worst = 0;
    for (int sweep = 0; sweep < 6; sweep++)
        for (int i = 0; i < 120; i++) {
            double s = feed(f, T0 + sweep * 300 * SEC + i * SEC / 2, RP_ROUTE_LISTING, 21, 1 + i);
            if (s > worst) worst = s;
        }
    assert_true(worst > 0.0);  /* broad coverage ... */
    assert_true(worst <= 0.4); /* ... in 60 s runs: polite, monitor at most */
    fixture_free(f);
}

/* Five endpoints every 2 s: two listings with a moving updated_since, two
 * objects with fresh ids, a health check; 20 ms between the calls. */
static double poll_cycle(fixture *f, int64_t t, int cycle) {
    double s = feed(f, t, RP_ROUTE_LISTING, 31, 1 + (uint64_t)cycle);
    s = fmax(s, feed(f, t + 20 * 1000, RP_ROUTE_LISTING, 32, 1 + (uint64_t)cycle));
    s = fmax(s, feed(f, t + 40 * 1000, RP_ROUTE_OBJECT, 5000000 + (uint64_t)cycle, 0));
    s = fmax(s, feed(f, t + 60 * 1000, RP_ROUTE_OBJECT, 6000000 + (uint64_t)cycle, 0));
    return fmax(s, feed(f, t + 80 * 1000, RP_ROUTE_HEALTH, 33, 0));
}

static double poll_for(fixture *f, int cycles) {
    double worst = 0;
    for (int c = 0; c < cycles; c++) {
        int64_t jitter = (int64_t)(mix((uint64_t)c) % 20000); /* 0-20 ms */
        worst = fmax(worst, poll_cycle(f, T0 + c * 2 * SEC + jitter, c));
    }
    return worst;
}

static void test_uniqueness_steady_long_lived_keyed_poller_not_throttled(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    f->ev.token_id = 0x9a57e7;
    double worst = poll_for(f, 1800); /* an hour */
    assert_true(worst > 0.0);  /* 2 new pages a second: coverage ... */
    assert_true(worst <= 0.4); /* ... tempered by one key at one cadence */
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_non_null(strstr(fi.summary, "steady keyed client (one key for 60 min, bursts every 1.9 s"));
    fixture_free(f);
}

static void test_uniqueness_same_poller_without_a_key_is_not_tempered(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    assert_true(poll_for(f, 300) == 1.0); /* 10 min: the cadence alone proves nothing */
    fixture *g = fx_new();
    g->ev.token_id = 0x9a57e7;
    for (int c = 0; c < 300; c++) { /* the key changes every cycle: no history */
        g->ev.token_id = 0x9a57e7 + (uint64_t)c;
        poll_cycle(g, T0 + c * 2 * SEC, c);
    }
    rp_finding fi;
    assert_true(fixture_explain(g, &fi) == 1.0);
    fixture_free(f);
    fixture_free(g);
}

/* A flood of 146,145 distinct pages in one period: the period's counts stop
 * at 65535 (16-bit, the state is at its budget), so the evidence says
 * "at least" for the pages and for the pace drawn from the requests. */
static void test_uniqueness_summary_marks_saturated_counts_as_floors(void **unused) {
    (void)unused;
    fixture *f = fx_new();
    for (int i = 0; i < 146145; i++) feed(f, T0 + (int64_t)i * 1000, RP_ROUTE_OBJECT, 5000 + i, 0);
    rp_finding fi;
    double s = fixture_explain(f, &fi);
    assert_true(s == 1.0);
    assert_non_null(strstr(fi.summary, "uniqueness: \xe2\x89\xa5 65535 distinct pages in 10 min"));
    assert_non_null(strstr(fi.summary, "never revisited, \xe2\x89\xa5 "));
    assert_true(fi.features[0].value == 65535);
    fixture_free(f);
    /* 900 pages are counted, not floors */
    f = fx_new();
    for (int i = 0; i < 900; i++) feed(f, T0 + i * SEC / 3, RP_ROUTE_OBJECT, 1000 + i, 0);
    fixture_explain(f, &fi);
    assert_null(strstr(fi.summary, "\xe2\x89\xa5"));
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uniqueness_state_fits_budget),
        cmocka_unit_test(test_uniqueness_scraper_at_3_rps_over_products_scores_1),
        cmocka_unit_test(test_uniqueness_googlebot_polite_crawl_stays_at_monitor),
        cmocka_unit_test(test_uniqueness_human_browsing_scores_zero),
        cmocka_unit_test(test_uniqueness_office_nat_with_revisits_stays_low),
        cmocka_unit_test(test_uniqueness_search_abuse_on_distinct_queries),
        cmocka_unit_test(test_uniqueness_partner_polling_same_search_scores_zero),
        cmocka_unit_test(test_uniqueness_bound_follows_site_p99),
        cmocka_unit_test(test_uniqueness_feeds_site_norm_per_closed_period),
        cmocka_unit_test(test_uniqueness_window_forgets_after_two_periods),
        cmocka_unit_test(test_uniqueness_ignores_static_health_and_auth),
        cmocka_unit_test(test_uniqueness_out_of_order_and_odd_times_are_safe),
        cmocka_unit_test(test_uniqueness_summary_mentions_distinct_share_and_normal),
        cmocka_unit_test(test_uniqueness_summary_marks_saturated_counts_as_floors),
        cmocka_unit_test(test_uniqueness_pagination_pages_are_distinct_content),
        cmocka_unit_test(test_uniqueness_pagination_scraper_with_stolen_token_throttled_in_4_min),
        cmocka_unit_test(test_uniqueness_sustained_reader_at_1_per_s_throttled_whatever_its_pace),
        cmocka_unit_test(test_uniqueness_pause_ends_a_run_of_sustained_reading),
        cmocka_unit_test(test_uniqueness_bulk_sync_burst_every_5_min_not_throttled),
        cmocka_unit_test(test_uniqueness_steady_long_lived_keyed_poller_not_throttled),
        cmocka_unit_test(test_uniqueness_same_poller_without_a_key_is_not_tempered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
