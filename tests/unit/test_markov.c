/*
 * test_markov.c -- the route-transition model: probabilities, surprise,
 * decay, and a persistence format that refuses damaged or hostile files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "markov.h"

enum { LIST = 11, ITEM = 12, EDIT = 13, ADMIN = 99 };

/* 1000 list->item, 10 list->edit. */
static rp_markov *trained(void) {
    rp_markov *m;
    assert_int_equal(rp_markov_new(64, &m), RP_OK);
    for (int i = 0; i < 1000; i++) rp_markov_observe(m, LIST, ITEM);
    for (int i = 0; i < 10; i++) rp_markov_observe(m, LIST, EDIT);
    return m;
}

static void test_markov_probability_follows_counts_with_smoothing(void **s) {
    (void)s;
    rp_markov *m = trained();
    assert_int_equal(rp_markov_transitions(m), 1010);
    assert_int_equal(rp_markov_routes(m), 1);
    /* K = 2 (at least): (1000 + 0.1) / (1010 + 0.2) */
    assert_true(fabs(rp_markov_probability(m, LIST, ITEM) - 1000.1 / 1010.2) < 1e-9);
    assert_true(fabs(rp_markov_probability(m, LIST, EDIT) - 10.1 / 1010.2) < 1e-9);
    /* a route never seen as a source: 1/K */
    assert_true(fabs(rp_markov_probability(m, ADMIN, LIST) - 0.5) < 1e-9);
    /* key 0 is "no route": not learned */
    rp_markov_observe(m, 0, LIST);
    assert_int_equal(rp_markov_transitions(m), 1010);
    rp_markov_free(m);
}

static void test_markov_never_seen_transition_is_far_more_surprising_than_common(void **s) {
    (void)s;
    rp_markov *m = trained();
    double common = rp_markov_surprise(m, LIST, ITEM);
    double rare = rp_markov_surprise(m, LIST, EDIT);
    double never = rp_markov_surprise(m, LIST, ADMIN);
    assert_true(common < 0.1);
    assert_true(rare > 6.5 && rare < 7);          /* log2(1010.2 / 10.1) = 6.64 */
    assert_true(never > 13 && never < 13.4);      /* log2(1010.2 / 0.1) = 13.3 */
    for (int i = 0; i < 20000; i++) rp_markov_observe(m, LIST, ITEM);
    assert_true(rp_markov_surprise(m, LIST, ADMIN) <= RP_MARKOV_MAX_SURPRISE);
    assert_true(rp_markov_surprise(m, LIST, ADMIN) > 17);
    rp_markov_free(m);
}

static void test_markov_decay_halves_counts_and_keeps_proportions(void **s) {
    (void)s;
    rp_markov *m = trained();
    double before = rp_markov_probability(m, LIST, EDIT);
    rp_markov_decay(m);
    assert_int_equal(rp_markov_transitions(m), 505);
    assert_true(fabs(rp_markov_probability(m, LIST, EDIT) - before) < 0.001);
    /* after halving, new traffic weighs twice as much */
    for (int i = 0; i < 505; i++) rp_markov_observe(m, LIST, EDIT);
    assert_true(rp_markov_probability(m, LIST, EDIT) > 0.5);
    rp_markov_free(m);
}

static void test_markov_serialize_then_load_gives_the_same_model(void **s) {
    (void)s;
    rp_markov *m = trained(), *back = NULL;
    uint8_t *buf;
    size_t len;
    rp_error err;
    assert_int_equal(rp_markov_serialize(m, &buf, &len, &err), RP_OK);
    assert_int_equal(memcmp(buf, "RPMK", 4), 0);
    assert_int_equal(buf[4], 1); /* version 1, little-endian */
    assert_int_equal(rp_markov_load(buf, len, &back, &err), RP_OK);
    assert_int_equal(rp_markov_transitions(back), 1010);
    assert_int_equal(rp_markov_routes(back), 1);
    assert_true(rp_markov_probability(back, LIST, EDIT) == rp_markov_probability(m, LIST, EDIT));
    assert_true(rp_markov_surprise(back, LIST, ADMIN) == rp_markov_surprise(m, LIST, ADMIN));
    free(buf);
    rp_markov_free(m);
    rp_markov_free(back);
}

static void expect_refused(const uint8_t *buf, size_t len, const char *why) {
    rp_markov *m = (rp_markov *)1;
    rp_error err;
    memset(&err, 0, sizeof err);
    assert_int_not_equal(rp_markov_load(buf, len, &m, &err), RP_OK);
    assert_null(m);
    assert_non_null(strstr(err.message, why));
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void test_markov_load_refuses_truncated_foreign_and_lying_buffers(void **s) {
    (void)s;
    rp_markov *m = trained();
    uint8_t *buf;
    size_t len;
    rp_error err;
    assert_int_equal(rp_markov_serialize(m, &buf, &len, &err), RP_OK);
    uint8_t *copy = malloc(len + 4);
    expect_refused(buf, 0, "truncated header");
    expect_refused(buf, 31, "truncated header");
    expect_refused(buf, len - 1, "truncated data");
    memcpy(copy, buf, len);
    memset(copy + len, 0, 4);
    expect_refused(copy, len + 4, "trailing bytes");
    copy[0] = 'X';
    expect_refused(copy, len, "wrong magic");
    memcpy(copy, buf, len);
    put32(copy + 4, 2);
    expect_refused(copy, len, "version 2");
    memcpy(copy, buf, len);
    put32(copy + 12, 1024); /* width lie */
    expect_refused(copy, len, "geometry");
    memcpy(copy, buf, len);
    put32(copy + 16, 0x80000000u); /* route table size lie */
    expect_refused(copy, len, "size out of range");
    memcpy(copy, buf, len);
    put32(copy + 16, 3); /* not a power of two */
    expect_refused(copy, len, "size out of range");
    memcpy(copy, buf, len);
    put32(copy + 24, 1011); /* transitions lie */
    expect_refused(copy, len, "do not add up");
    free(copy);
    free(buf);
    rp_markov_free(m);
}

static void test_markov_new_refuses_bad_sizes(void **s) {
    (void)s;
    rp_markov *m = (rp_markov *)1;
    assert_int_equal(rp_markov_new(0, &m), RP_EINVAL);
    assert_null(m);
    assert_int_equal(rp_markov_new((1u << 20) + 1, &m), RP_EINVAL);
    assert_int_equal(rp_markov_key(0), 1u); /* never the "no route" key */
}

/* Through the public API: a saved engine model loads into another engine;
 * a bad buffer is refused and the engine keeps the model it had. */
static void test_engine_model_save_load_round_trip_and_refusal(void **s) {
    (void)s;
    rp_engine *a, *b;
    rp_error err;
    assert_int_equal(rp_engine_new(NULL, NULL, &a, &err), RP_OK);
    assert_int_equal(rp_engine_new(NULL, NULL, &b, &err), RP_OK);
    uint8_t *buf;
    size_t len;
    assert_int_equal(rp_engine_model_save(a, &buf, &len, &err), RP_OK);
    assert_true(len > 4 * 65536 * 4);
    assert_int_equal(rp_engine_model_load(b, buf, len, &err), RP_OK);
    assert_int_not_equal(rp_engine_model_load(b, buf, len / 2, &err), RP_OK);
    assert_non_null(strstr(err.message, "truncated"));
    assert_int_equal(rp_engine_model_transitions(b), 0);
    free(buf);
    rp_engine_free(a);
    rp_engine_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_markov_probability_follows_counts_with_smoothing),
        cmocka_unit_test(test_markov_never_seen_transition_is_far_more_surprising_than_common),
        cmocka_unit_test(test_markov_decay_halves_counts_and_keeps_proportions),
        cmocka_unit_test(test_markov_serialize_then_load_gives_the_same_model),
        cmocka_unit_test(test_markov_load_refuses_truncated_foreign_and_lying_buffers),
        cmocka_unit_test(test_markov_new_refuses_bad_sizes),
        cmocka_unit_test(test_engine_model_save_load_round_trip_and_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
