/*
 * test_sketches.c -- the small structures the detectors count with:
 * rp_window, rp_hll, rp_norm, and the client table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hll.h"
#include "norm.h"
#include "table.h"
#include "window.h"

#define SEC 1000000LL

static void test_window_counts_events_in_last_six_buckets(void **s) {
    (void)s;
    rp_window w = {0};
    int64_t t0 = 1700000000 * SEC;
    for (int i = 0; i < 60; i++) rp_window_add(&w, t0 + i * SEC, 10 * SEC, 1); /* 1/s for 60 s */
    assert_int_equal(rp_window_sum(&w, t0 + 59 * SEC, 10 * SEC), 60);
    /* 30 s later, half of the window has slid out */
    assert_int_equal(rp_window_sum(&w, t0 + 89 * SEC, 10 * SEC), 30);
    /* far later, nothing */
    assert_int_equal(rp_window_sum(&w, t0 + 1000 * SEC, 10 * SEC), 0);
}

static void test_window_counts_late_event_in_its_bucket(void **s) {
    (void)s;
    rp_window w = {0};
    int64_t t0 = 1700000000 * SEC;
    rp_window_add(&w, t0 + 50 * SEC, 10 * SEC, 1);
    rp_window_add(&w, t0 + 20 * SEC, 10 * SEC, 1); /* 30 s late: still in the window */
    rp_window_add(&w, t0 - 100 * SEC, 10 * SEC, 1); /* too old: ignored */
    assert_int_equal(rp_window_sum(&w, t0 + 50 * SEC, 10 * SEC), 2);
    assert_int_equal(rp_window_sum_last(&w, t0 + 50 * SEC, 10 * SEC, 1), 1);
}

static void test_window_saturates_instead_of_wrapping(void **s) {
    (void)s;
    rp_window w = {0};
    rp_window_add(&w, 5 * SEC, SEC, 70000);
    rp_window_add(&w, 5 * SEC, SEC, 70000);
    assert_int_equal(rp_window_sum(&w, 5 * SEC, SEC), 65535);
}

static void test_hll_is_near_exact_for_small_counts(void **s) {
    (void)s;
    rp_hll h;
    memset(&h, 0, sizeof h);
    assert_true(rp_hll_estimate(&h) < 0.5);
    for (uint64_t i = 0; i < 10; i++) rp_hll_add(&h, rp_hash64(&i, sizeof i, 7));
    double e = rp_hll_estimate(&h);
    assert_true(e > 8.5 && e < 11.5);
    for (uint64_t i = 0; i < 10; i++) rp_hll_add(&h, rp_hash64(&i, sizeof i, 7)); /* repeats */
    assert_true(fabs(rp_hll_estimate(&h) - e) < 1e-9);
}

static void test_hll_error_within_30_percent_at_10000(void **s) {
    (void)s;
    rp_hll h;
    memset(&h, 0, sizeof h);
    for (uint64_t i = 0; i < 10000; i++) rp_hll_add(&h, rp_hash64(&i, sizeof i, 3));
    double e = rp_hll_estimate(&h);
    assert_true(e > 7000 && e < 13000);
}

/* The textbook estimate, a double sum of 2^-r register by register: the
 * stored sketches are judged by it, so the fast one must agree to the bit. */
static double hll_reference(const rp_hll *h) {
    double sum = 0.0;
    unsigned zeros = 0;
    for (unsigned i = 0; i < RP_HLL_REGISTERS; i++) {
        unsigned r = (h->reg[i / 2] >> (i % 2 * 4)) & 15u;
        sum += ldexp(1.0, -(int)r);
        zeros += r == 0;
    }
    double est = 0.709 * 64.0 * 64.0 / sum;
    if (est <= 2.5 * 64.0 && zeros > 0) est = 64.0 * log(64.0 / zeros);
    return est;
}

static void test_hll_estimate_equals_the_double_sum_to_the_bit(void **s) {
    (void)s;
    rp_hll h;
    memset(&h, 0xff, sizeof h); /* every register at rank 15: the smallest sum */
    assert_true(rp_hll_estimate(&h) == hll_reference(&h));
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int round = 0; round < 20000; round++) {
        memset(&h, 0, sizeof h);
        int adds = round % 4000; /* from empty to saturated low registers */
        for (int i = 0; i < adds; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            rp_hll_add(&h, x);
        }
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        h.reg[x % sizeof h.reg] = (uint8_t)(x >> 8); /* any rank, 15 included */
        assert_true(rp_hll_estimate(&h) == hll_reference(&h));
    }
}

static void test_norm_p99_follows_the_population(void **s) {
    (void)s;
    rp_norm n;
    memset(&n, 0, sizeof n);
    assert_true(isnan(rp_norm_quantile(&n, 0.99, 10)));
    for (int i = 0; i < 1000; i++) rp_norm_add(&n, 10 + (i % 10), 1000 * SEC, 3600 * SEC);
    double p99 = rp_norm_quantile(&n, 0.99, 10);
    assert_true(p99 >= 19 && p99 <= 30);
    /* two hours later the old population weighs a quarter */
    rp_norm_add(&n, 1000, 1000 * SEC + 7200 * SEC, 3600 * SEC);
    assert_true(n.total > 250 && n.total < 252);
}

static void test_table_stays_at_capacity_under_a_spray(void **s) {
    (void)s;
    rp_table *t;
    assert_int_equal(rp_table_new(1000, 128, &t), RP_OK);
    for (uint32_t i = 0; i < 100000; i++) {
        rp_key k;
        rp_key_from_id(&k, RP_LEVEL_TOKEN, (uint64_t)i + 1);
        bool created;
        rp_client *c = rp_table_upsert(t, &k, 0, &created);
        assert_non_null(c);
        assert_true(created);
        c->requests = i;
    }
    assert_int_equal(rp_table_used(t), 1000);
    assert_int_equal(rp_table_evictions(t), 99000);
    /* every index entry still finds its slot */
    for (uint32_t i = 99000; i < 100000; i++) {
        rp_key k;
        rp_key_from_id(&k, RP_LEVEL_TOKEN, (uint64_t)i + 1);
        rp_client *c = rp_table_find(t, &k, 0);
        if (c) assert_int_equal(c->requests, i);
    }
    rp_table_free(t);
}

static void test_table_keeps_a_returning_client_under_a_spray(void **s) {
    (void)s;
    rp_table *t;
    assert_int_equal(rp_table_new(64, 64, &t), RP_OK);
    rp_key regular;
    rp_key_from_id(&regular, RP_LEVEL_TOKEN, 424242);
    bool created;
    rp_table_upsert(t, &regular, 0, &created)->requests = 7;
    for (uint64_t i = 1; i <= 10000; i++) {
        rp_key k;
        rp_key_from_id(&k, RP_LEVEL_TOKEN, i);
        rp_table_upsert(t, &k, 0, &created);
        /* the regular comes back often: CLOCK gives it a second chance */
        if (i % 8 == 0) rp_table_upsert(t, &regular, 0, &created);
        assert_false(i % 8 == 0 && created);
    }
    rp_client *c = rp_table_find(t, &regular, 0);
    assert_non_null(c);
    assert_int_equal(c->requests, 7);
    rp_table_free(t);
}

static void test_key_format_and_parse_round_trip(void **s) {
    (void)s;
    const char *texts[] = {"ip:192.0.2.7", "ip:2001:db8::1", "subnet:198.51.100.0/24",
                           "fingerprint:00000000deadbeef", "username:0123456789abcdef",
                           "fingerprint:00000000deadbeef@00000000000c0ffe"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        rp_key k;
        assert_int_equal(rp_key_parse(texts[i], strlen(texts[i]), &k), RP_OK);
        char buf[128];
        rp_key_format(&k, buf, sizeof buf);
        assert_string_equal(buf, texts[i]);
    }
    rp_key k;
    assert_int_equal(rp_key_parse("10.1.2.3", 8, &k), RP_OK);
    assert_int_equal(k.level, RP_LEVEL_IP);
    assert_int_equal(rp_key_parse("ip:999.1.1.1", 12, &k), RP_EPARSE);
    assert_int_equal(rp_key_parse("color:blue", 10, &k), RP_EPARSE);
    /* only a fingerprint has a route scope, and never an empty or zero one */
    assert_int_equal(rp_key_parse("token:00ab@0cd", 14, &k), RP_EPARSE);
    assert_int_equal(rp_key_parse("fingerprint:00ab@", 17, &k), RP_EPARSE);
    assert_int_equal(rp_key_parse("fingerprint:00ab@0", 18, &k), RP_EPARSE);
    assert_int_equal(rp_key_parse("fingerprint:00ab@xyz", 20, &k), RP_EPARSE);
}

static void test_addr_rejects_garbage_and_masks_subnets(void **s) {
    (void)s;
    rp_addr a, n;
    assert_int_equal(rp_addr_parse("1.2.3", 5, &a), RP_EPARSE);
    assert_int_equal(rp_addr_parse("1.2.3.4.5", 9, &a), RP_EPARSE);
    assert_int_equal(rp_addr_parse("01.2.3.4", 8, &a), RP_EPARSE);
    assert_int_equal(rp_addr_parse("", 0, &a), RP_EPARSE);
    assert_int_equal(rp_addr_parse("::ffff:1.2.3.4", 14, &a), RP_OK);
    assert_int_equal(a.family, 4);
    assert_int_equal(rp_addr_parse("2001:db8:1:2:3:4:5:6", 20, &a), RP_OK);
    rp_addr_subnet(&a, &n);
    char buf[64];
    rp_addr_format(&n, buf, sizeof buf);
    assert_string_equal(buf, "2001:db8:1:2::");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_counts_events_in_last_six_buckets),
        cmocka_unit_test(test_window_counts_late_event_in_its_bucket),
        cmocka_unit_test(test_window_saturates_instead_of_wrapping),
        cmocka_unit_test(test_hll_is_near_exact_for_small_counts),
        cmocka_unit_test(test_hll_error_within_30_percent_at_10000),
        cmocka_unit_test(test_hll_estimate_equals_the_double_sum_to_the_bit),
        cmocka_unit_test(test_norm_p99_follows_the_population),
        cmocka_unit_test(test_table_stays_at_capacity_under_a_spray),
        cmocka_unit_test(test_table_keeps_a_returning_client_under_a_spray),
        cmocka_unit_test(test_key_format_and_parse_round_trip),
        cmocka_unit_test(test_addr_rejects_garbage_and_masks_subnets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
