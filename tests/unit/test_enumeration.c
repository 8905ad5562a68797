/* test_enumeration.c -- the enumeration detector: BOLA probing is caught
 * by its denials; catalogue syncs and people are not. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "detector_fixture.h"

extern const rp_detector rp_detector_enumeration;
#define DET rp_detector_enumeration

#define SEC 1000000LL
#define T0 (1700000100LL * SEC) /* a 5-minute boundary */

static fixture *fx_new(const char *template_) {
    fixture *f = fixture_new(&DET);
    strcpy(f->route->template_, template_);
    f->route->id = 7;
    f->route->cls = RP_ROUTE_OBJECT;
    f->obs.route_class = RP_ROUTE_OBJECT;
    f->ctx.first_seen_us = T0;
    f->ev.upstream_us = -1;
    return f;
}

static uint64_t mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A numeric id request. */
static double feed_id(fixture *f, int64_t ts, int64_t id, uint16_t status) {
    f->ev.status = status;
    f->obs.has_id = true;
    f->obs.id_numeric = true;
    f->obs.id_value = id;
    f->obs.id_hash = mix((uint64_t)id);
    return fixture_feed(f, ts);
}

/* A UUID id request: hashed, not numeric. */
static double feed_uuid(fixture *f, int64_t ts, uint64_t id, uint16_t status) {
    f->ev.status = status;
    f->obs.has_id = true;
    f->obs.id_numeric = false;
    f->obs.id_value = 0;
    f->obs.id_hash = mix(id ^ 0xabcdef);
    return fixture_feed(f, ts);
}

static void test_enumeration_state_fits_budget(void **unused) {
    (void)unused;
    assert_true(DET.state_size <= 64);
    assert_int_equal(DET.default_weight, 90);
}

static void test_enumeration_flags_walk_of_220_user_ids_mostly_denied(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/users/{id}");
    double s = 0;
    for (int i = 0; i < 220; i++) /* 85 % answered 403 */
        s = feed_id(f, T0 + i * SEC / 5, 1000 + i, i % 7 == 0 ? 200 : 403);
    assert_true(s == 1.0);
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_non_null(strstr(fi.summary, "enumeration: "));
    assert_non_null(strstr(fi.summary, " distinct ids on /api/users/{id}, 85% denied (403/404), "
                                       "219 sequential steps (delta 1)"));
    assert_int_equal(fi.threats, RP_THREAT_ENUMERATION);
    assert_true(fi.features[0].value > 160 && fi.features[0].value < 290);
    assert_true(fi.features[1].crossed);
    fixture_free(f);
}

static void test_enumeration_flags_random_uuids_mostly_404(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/orders/{id}");
    double s = 0;
    for (int i = 0; i < 150; i++) s = feed_uuid(f, T0 + i * SEC, (uint64_t)i, i % 5 ? 404 : 200);
    assert_true(s >= 0.8); /* 80 % denied, ~150 ids, no walk possible */
    fixture_free(f);
}

static void test_enumeration_partner_catalogue_sync_stays_below_monitor(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/products/{id}");
    double worst = 0;
    for (int i = 0; i < 3000; i++) { /* products 1..3000 at 5/s, all 200, a few 404 holes */
        double s = feed_id(f, T0 + i * SEC / 5, 1 + i, i % 50 == 0 ? 404 : 200);
        if (s > worst) worst = s;
    }
    assert_true(worst <= 0.4);
    assert_true(worst * DET.default_weight < 40);
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_non_null(strstr(fi.summary, "walk without denials: capped"));
    fixture_free(f);
}

static void test_enumeration_walk_with_30_percent_denied_is_not_capped(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/invoices/{id}");
    double s = 0;
    for (int i = 0; i < 200; i++) s = feed_id(f, T0 + i * SEC / 2, 5000 + 2 * i, i % 10 < 3 ? 404 : 200);
    assert_true(s >= 0.9); /* 199 steps of delta 2, readable objects: the dangerous case */
    fixture_free(f);
}

static void test_enumeration_human_viewing_products_scores_zero(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/products/{id}");
    static const int64_t ids[] = {17, 18, 5, 301, 17, 44, 45, 46, 2, 999, 3, 17};
    double worst = 0;
    for (int i = 0; i < 12; i++) {
        double s = feed_id(f, T0 + i * 20 * SEC, ids[i], i == 9 ? 404 : 200);
        if (s > worst) worst = s;
    }
    assert_true(worst == 0.0);
    fixture_free(f);
}

static void test_enumeration_stale_links_below_distinct_floor_score_zero(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/products/{id}");
    double s = 0;
    for (int i = 0; i < 15; i++) s = feed_uuid(f, T0 + i * 10 * SEC, (uint64_t)i, 404);
    assert_true(s == 0.0);
    fixture_free(f);
}

static void test_enumeration_many_readable_random_ids_left_to_uniqueness(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/products/{id}");
    double s = 0;
    for (int i = 0; i < 500; i++) s = feed_id(f, T0 + i * SEC / 3, (int64_t)(mix((uint64_t)i) % 100000), 200);
    assert_true(s == 0.0);
    fixture_free(f);
}

static void test_enumeration_unknown_status_and_non_object_requests_ignored(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/users/{id}");
    /* 40 ids with no status (common log without status? proxy error) and
     * 10 denied: share is 10 / 10 known -- but only 50 ids, ramp small */
    for (int i = 0; i < 40; i++) feed_uuid(f, T0 + i * SEC, (uint64_t)i, 0);
    double s = 0;
    for (int i = 40; i < 50; i++) s = feed_uuid(f, T0 + i * SEC, (uint64_t)i, 403);
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_true(fi.features[1].value == 1.0); /* denied / known */
    assert_true(s > 0.5);
    /* a request without an id changes nothing */
    unsigned char before[64];
    memcpy(before, f->state, sizeof before);
    f->obs.has_id = false;
    f->ev.status = 404;
    DET.observe(f->state, &f->ev, &f->obs, &f->ctx);
    assert_memory_equal(before, f->state, sizeof before);
    fixture_free(f);
}

static void test_enumeration_walk_on_two_routes_does_not_mix(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/users/{id}");
    rp_route other = *f->route;
    other.id = 8;
    for (int i = 0; i < 60; i++) {
        f->obs.route = (i % 2) ? &other : f->route; /* alternating routes: ids 1,1,2,2,... */
        feed_id(f, T0 + i * SEC, 1 + i / 2, 200);
    }
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_true(fi.features[2].value == 0.0);
    fixture_free(f);
}

static void test_enumeration_extreme_ids_and_times_are_safe(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/users/{id}");
    feed_id(f, T0, INT64_MAX, 404);
    feed_id(f, T0 + 1, INT64_MIN, 404);
    feed_id(f, T0 + 2, INT64_MAX, 404);
    feed_id(f, 0, -1, 404);
    feed_id(f, -5 * SEC, 0, 404);
    double s = feed_id(f, INT64_MAX / 2, 1, 404);
    assert_true(s >= 0.0 && s <= 1.0);
    fixture_free(f);
}

static void test_enumeration_out_of_order_walk_still_counts_steps(void **unused) {
    (void)unused;
    fixture *f = fx_new("/api/users/{id}");
    double s = 0;
    for (int i = 0; i < 200; i += 2) { /* pairs swapped: 2,1,4,3,6,5... */
        feed_id(f, T0 + (i + 1) * SEC / 5, 1001 + i, 404);
        s = feed_id(f, T0 + i * SEC / 5, 1000 + i, 404);
    }
    assert_true(s == 1.0);
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enumeration_state_fits_budget),
        cmocka_unit_test(test_enumeration_flags_walk_of_220_user_ids_mostly_denied),
        cmocka_unit_test(test_enumeration_flags_random_uuids_mostly_404),
        cmocka_unit_test(test_enumeration_partner_catalogue_sync_stays_below_monitor),
        cmocka_unit_test(test_enumeration_walk_with_30_percent_denied_is_not_capped),
        cmocka_unit_test(test_enumeration_human_viewing_products_scores_zero),
        cmocka_unit_test(test_enumeration_stale_links_below_distinct_floor_score_zero),
        cmocka_unit_test(test_enumeration_many_readable_random_ids_left_to_uniqueness),
        cmocka_unit_test(test_enumeration_unknown_status_and_non_object_requests_ignored),
        cmocka_unit_test(test_enumeration_walk_on_two_routes_does_not_mix),
        cmocka_unit_test(test_enumeration_extreme_ids_and_times_are_safe),
        cmocka_unit_test(test_enumeration_out_of_order_walk_still_counts_steps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
