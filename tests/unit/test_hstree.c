/*
 * test_hstree.c -- half-space trees: deterministic from a seed, rare
 * vectors far from normal ones get a tail near 0 while normal ones do not,
 * the latest window becomes the reference, calibration stays in 0..1, and
 * a damaged or hostile model buffer is refused. Also the engine's model
 * file, which carries both learned models.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "detector.h"
#include "hstree.h"
#include "markov.h"

#define WINDOW 256

static rp_hstree *forest(uint64_t seed) {
    rp_hstree_params p;
    rp_hstree_defaults(&p, 3, 0x1234);
    p.window = WINDOW;
    p.seed = seed;
    rp_hstree *h;
    assert_int_equal(rp_hstree_new(&p, &h), RP_OK);
    return h;
}

/* A point of the cluster around (0.2, 0.5, 0.8), +-0.05. */
static void cluster_point(uint32_t *x, float *v) {
    static const float c[3] = {0.2f, 0.5f, 0.8f};
    for (int q = 0; q < 3; q++) {
        *x = *x * 1103515245u + 12345u;
        v[q] = c[q] - 0.05f + (float)((*x >> 16) % 1000) / 10000.0f;
    }
}

static void learn_cluster(rp_hstree *h, int n, uint32_t *x) {
    for (int i = 0; i < n; i++) {
        float v[3];
        cluster_point(x, v);
        rp_hstree_update(h, v, true);
    }
}

/* The model saved and loaded back. */
static rp_hstree *round_trip(const rp_hstree *h) {
    uint8_t *buf;
    size_t len;
    rp_error err;
    assert_int_equal(rp_hstree_serialize(h, &buf, &len, &err), RP_OK);
    rp_hstree *back;
    assert_int_equal(rp_hstree_load(buf, len, &back, &err), RP_OK);
    free(buf);
    return back;
}

/* 200 new cluster points: tails in 0..1, hardly any in the bottom 1 %. */
static void assert_cluster_is_seldom_rare(const rp_hstree *h, uint32_t *x) {
    int rare = 0;
    for (int i = 0; i < 200; i++) {
        float v[3];
        cluster_point(x, v);
        double tail = rp_hstree_tail(h, rp_hstree_score(h, v));
        assert_true(tail >= 0.0 && tail <= 1.0);
        rare += tail < 0.01;
    }
    assert_true(rare <= 6);
}

static void test_hstree_same_seed_and_input_give_identical_model_bytes(void **s) {
    (void)s;
    rp_hstree *a = forest(42), *b = forest(42), *c = forest(43);
    uint32_t xa = 9, xb = 9, xc = 9;
    learn_cluster(a, 700, &xa);
    learn_cluster(b, 700, &xb);
    learn_cluster(c, 700, &xc);
    uint8_t *ba, *bb, *bc;
    size_t la, lb, lc;
    rp_error err;
    assert_int_equal(rp_hstree_serialize(a, &ba, &la, &err), RP_OK);
    assert_int_equal(rp_hstree_serialize(b, &bb, &lb, &err), RP_OK);
    assert_int_equal(rp_hstree_serialize(c, &bc, &lc, &err), RP_OK);
    assert_int_equal(la, lb);
    assert_memory_equal(ba, bb, la);
    assert_int_equal(la, lc);
    assert_true(memcmp(ba, bc, la) != 0); /* another seed, other trees */
    free(ba);
    free(bb);
    free(bc);
    rp_hstree_free(a);
    rp_hstree_free(b);
    rp_hstree_free(c);
}

static void test_hstree_outlier_far_from_the_cluster_is_rarer_than_every_cluster_point(void **s) {
    (void)s;
    rp_hstree *h = forest(7);
    uint32_t x = 3;
    learn_cluster(h, 3 * WINDOW, &x);
    assert_true(rp_hstree_calibrated(h));
    float outlier[3] = {0.9f, 0.1f, 0.1f};
    assert_true(rp_hstree_tail(h, rp_hstree_score(h, outlier)) == 0.0);
    assert_cluster_is_seldom_rare(h, &x);
    /* explain credits a dimension that separates the outlier */
    float credit[3];
    rp_hstree_explain(h, outlier, credit);
    assert_true(credit[0] + credit[1] + credit[2] > 0.5f);
    rp_hstree_free(h);
}

static void test_hstree_latest_window_becomes_the_reference(void **s) {
    (void)s;
    rp_hstree *h = forest(7);
    uint32_t x = 5;
    float v[3];
    cluster_point(&x, v);
    learn_cluster(h, WINDOW - 1, &x);
    assert_true(rp_hstree_score(h, v) == 0.0); /* nothing to compare with yet */
    assert_true(rp_hstree_tail(h, 0) == -1.0);
    assert_int_equal(rp_hstree_windows(h), 0);
    learn_cluster(h, 1, &x); /* the window ends: latest -> reference */
    assert_int_equal(rp_hstree_windows(h), 1);
    assert_true(rp_hstree_score(h, v) > 0.0);
    assert_false(rp_hstree_calibrated(h)); /* the second window calibrates */
    learn_cluster(h, WINDOW, &x);
    assert_int_equal(rp_hstree_windows(h), 2);
    assert_true(rp_hstree_calibrated(h));
    /* scoring does not learn */
    double before = rp_hstree_score(h, v);
    for (int i = 0; i < 10; i++) rp_hstree_update(h, v, false);
    assert_true(rp_hstree_score(h, v) == before);
    assert_int_equal(rp_hstree_learned(h), 2 * WINDOW);
    rp_hstree_free(h);
}

static void test_hstree_geometry_out_of_range_is_refused(void **s) {
    (void)s;
    rp_hstree_params p;
    rp_hstree *h;
    rp_hstree_defaults(&p, 0, 0);
    assert_int_equal(rp_hstree_new(&p, &h), RP_EINVAL);
    rp_hstree_defaults(&p, RP_HST_MAX_DIMS + 1, 0);
    assert_int_equal(rp_hstree_new(&p, &h), RP_EINVAL);
    rp_hstree_defaults(&p, 4, 0);
    p.depth = 15;
    p.trees = 256; /* far over the memory bound */
    assert_int_equal(rp_hstree_new(&p, &h), RP_EINVAL);
}

static rp_status reload(const uint8_t *buf, size_t len, rp_error *err) {
    rp_hstree *h = NULL;
    rp_status st = rp_hstree_load(buf, len, &h, err);
    rp_hstree_free(h);
    return st;
}

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void test_hstree_load_round_trips_and_refuses_hostile_bytes(void **s) {
    (void)s;
    rp_hstree *h = forest(11);
    uint32_t x = 1;
    learn_cluster(h, 2 * WINDOW + 17, &x);
    uint8_t *buf;
    size_t len;
    rp_error err;
    assert_int_equal(rp_hstree_serialize(h, &buf, &len, &err), RP_OK);
    rp_hstree *back;
    assert_int_equal(rp_hstree_load(buf, len, &back, &err), RP_OK);
    float v[3] = {0.2f, 0.5f, 0.8f};
    assert_true(rp_hstree_score(back, v) == rp_hstree_score(h, v));
    assert_int_equal(rp_hstree_learned(back), 2 * WINDOW + 17);
    rp_hstree_free(back);

    assert_int_equal(reload(buf, len - 1, &err), RP_EPARSE);
    assert_non_null(strstr(err.message, "truncated data"));
    assert_int_equal(reload(buf, 10, &err), RP_EPARSE);
    assert_non_null(strstr(err.message, "truncated header"));
    uint8_t *bad = malloc(len + 4);
    memcpy(bad, buf, len);
    assert_int_equal(reload(bad, len + 4, &err), RP_EPARSE);
    assert_non_null(strstr(err.message, "trailing bytes"));
    bad[0] = 'X';
    assert_int_equal(reload(bad, len, &err), RP_EPARSE);
    assert_non_null(strstr(err.message, "wrong magic"));
    memcpy(bad, buf, len);
    put32(bad + 4, 99);
    assert_int_equal(reload(bad, len, &err), RP_EPARSE);
    assert_non_null(strstr(err.message, "version 99"));
    memcpy(bad, buf, len);
    put32(bad + 12, 30); /* depth 30: would be 2^31 nodes per tree */
    assert_int_equal(reload(bad, len, &err), RP_EPARSE);
    assert_non_null(strstr(err.message, "geometry"));
    memcpy(bad, buf, len);
    bad[64 + 8 * 5] ^= 1; /* one node's reference mass */
    assert_int_equal(reload(bad, len, &err), RP_EPARSE);
    assert_non_null(strstr(err.message, "masses"));
    memcpy(bad, buf, len);
    put32(bad + 48, WINDOW + 1); /* calibration total */
    assert_int_equal(reload(bad, len, &err), RP_EPARSE);
    assert_non_null(strstr(err.message, "calibration"));
    free(bad);
    free(buf);
    rp_hstree_free(h);
}

/* Off the hot path: a whole model built from a sample of recent vectors
 * answers at once (leave-one-out calibration), finds the outlier, keeps
 * the cluster out of the rare tail, and loads like a streamed one. */
static void test_hstree_trained_from_a_sample_answers_at_once_and_finds_the_outlier(void **s) {
    (void)s;
    rp_hstree *shape = forest(7);
    const rp_hstree_params *p = rp_hstree_params_of(shape);
    float *sample = malloc(sizeof(float) * 3 * WINDOW);
    uint32_t x = 3;
    for (int i = 0; i < WINDOW; i++) cluster_point(&x, sample + 3 * i);
    rp_hstree *h;
    assert_int_equal(rp_hstree_train(p, sample, WINDOW - 1, 0, &h), RP_EINVAL);
    assert_int_equal(rp_hstree_train(p, sample, WINDOW, 1234, &h), RP_OK);
    assert_true(rp_hstree_calibrated(h));
    assert_int_equal(rp_hstree_learned(h), 1234);
    float outlier[3] = {0.9f, 0.1f, 0.1f};
    assert_true(rp_hstree_tail(h, rp_hstree_score(h, outlier)) == 0.0);
    assert_cluster_is_seldom_rare(h, &x);
    rp_hstree *back = round_trip(h);
    assert_true(rp_hstree_tail(back, rp_hstree_score(back, outlier)) == 0.0);
    free(sample);
    rp_hstree_free(back);
    rp_hstree_free(h);
    rp_hstree_free(shape);
}

/* ------------------------------------------------- the engine's model */

/* 300 clients browsing products, 48 requests each: five feature vectors
 * each, 1,500 in all, with the anomaly detector on. */
static void browse(rp_engine *e) {
    char ip[32], path[64];
    for (int r = 0; r < 48; r++)
        for (int c = 0; c < 300; c++) {
            rp_event ev;
            memset(&ev, 0, sizeof ev);
            snprintf(ip, sizeof ip, "10.%d.%d.7", c / 200, c % 200);
            rp_addr_parse(ip, strlen(ip), &ev.client);
            snprintf(path, sizeof path, "/api/products/%d", (c * 7 + r * 13) % 50 + 1);
            ev.ts_us = 1764064800LL * 1000000 + (int64_t)r * 20000000 + c * 1000;
            ev.method = RP_METHOD_GET;
            ev.path.ptr = path;
            ev.path.len = (uint32_t)strlen(path);
            ev.status = 200;
            ev.response_bytes = 900;
            ev.upstream_us = -1;
            rp_engine_feed(e, &ev);
        }
}

/* rampart serve's way: the engine only keeps the sample; a job copies it
 * out when a window of new vectors has come, is trained with no engine at
 * all, and is swapped in whole. */
static void test_engine_trains_the_feature_model_in_a_job_and_swaps_it_in(void **s) {
    (void)s;
    rp_config *c = rp_config_default();
    int d = rp_detector_find("anomaly", 7);
    assert_true(d >= 0);
    c->profiles[c->default_profile].detectors[d].weight = 30;
    rp_engine *e;
    rp_error err;
    assert_int_equal(rp_engine_new(c, NULL, &e, &err), RP_OK);
    rp_engine_model_defer_training(e, true);
    assert_null(rp_engine_model_job(e)); /* nothing learned yet */
    browse(e);
    assert_true(rp_engine_model_vectors(e) >= 1024);
    rp_model_job *job = rp_engine_model_job(e);
    assert_non_null(job);
    assert_null(rp_engine_model_job(e)); /* the sample was taken */
    assert_int_equal(rp_model_job_run(job), RP_OK);
    assert_true(rp_engine_model_install(e, job));
    uint8_t *buf;
    size_t len;
    assert_int_equal(rp_engine_model_save(e, &buf, &len, &err), RP_OK);
    assert_int_equal(rp_engine_model_load(e, buf, len, &err), RP_OK);
    free(buf);
    rp_engine_free(e);
    rp_config_free(c);
}



static rp_engine *engine(void) {
    rp_engine *e;
    rp_error err;
    assert_int_equal(rp_engine_new(NULL, NULL, &e, &err), RP_OK);
    return e;
}

static void test_engine_model_file_carries_both_models_and_still_reads_version_1(void **s) {
    (void)s;
    rp_engine *e = engine();
    uint8_t *buf;
    size_t len;
    rp_error err;
    assert_int_equal(rp_engine_model_save(e, &buf, &len, &err), RP_OK);
    assert_memory_equal(buf, "RPMD", 4);
    assert_int_equal(buf[4], 2); /* version */
    assert_int_equal(rp_engine_model_load(e, buf, len, &err), RP_OK);
    /* cut, lengthened, or with a forest of other features: refused */
    assert_int_equal(rp_engine_model_load(e, buf, len - 3, &err), RP_EPARSE);
    assert_non_null(strstr(err.message, "truncated data"));
    uint8_t *bad = malloc(len);
    memcpy(bad, buf, len);
    size_t mk = 0;
    for (int i = 0; i < 8; i++) mk |= (size_t)buf[8 + i] << (8 * i);
    put32(bad + 24 + mk + 24, 3); /* the forest's dims */
    assert_int_equal(rp_engine_model_load(e, bad, len, &err), RP_EPARSE);
    free(bad);
    /* version 1: a bare route model */
    rp_markov *m;
    assert_int_equal(rp_markov_new(16, &m), RP_OK);
    rp_markov_observe(m, 1, 2);
    uint8_t *v1;
    size_t v1_len;
    assert_int_equal(rp_markov_serialize(m, &v1, &v1_len, &err), RP_OK);
    assert_int_equal(rp_engine_model_load(e, v1, v1_len, &err), RP_OK);
    assert_int_equal(rp_engine_model_transitions(e), 1);
    assert_int_equal(rp_engine_model_vectors(e), 0);
    free(v1);
    rp_markov_free(m);
    free(buf);
    rp_engine_free(e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hstree_same_seed_and_input_give_identical_model_bytes),
        cmocka_unit_test(test_hstree_outlier_far_from_the_cluster_is_rarer_than_every_cluster_point),
        cmocka_unit_test(test_hstree_latest_window_becomes_the_reference),
        cmocka_unit_test(test_hstree_geometry_out_of_range_is_refused),
        cmocka_unit_test(test_hstree_load_round_trips_and_refuses_hostile_bytes),
        cmocka_unit_test(test_hstree_trained_from_a_sample_answers_at_once_and_finds_the_outlier),
        cmocka_unit_test(test_engine_model_file_carries_both_models_and_still_reads_version_1),
        cmocka_unit_test(test_engine_trains_the_feature_model_in_a_job_and_swaps_it_in),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
