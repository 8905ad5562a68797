/*
 * test_anomaly.c -- unusual API flows: a client whose route sequence the
 * site's learned transition model finds improbable.
 *
 * The fixture plays the engine with a real rp_markov: the route of each
 * event is named by its hash (the detector keys the model by it). The
 * profile tests hand the detector a real rp_hstree and feature vectors
 * the way the engine does (obs->forest, obs->features).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>

#include "detector_fixture.h"
#include "hstree.h"
#include "markov.h"

extern const rp_detector rp_detector_anomaly;

#define SEC 1000000LL
#define T0 (1764064800LL * SEC)
#define HOME 0x1000ULL
#define N_RARE 10
#define RARE(i) (0x2000ULL + (uint64_t)(i))

enum { P_MIN_TRANSITIONS, P_THRESHOLD, P_RARITY };

/* The site: people go from the home page to one of ten pages and back,
 * 2000 times per page. */
static rp_markov *site_model(void) {
    rp_markov *m;
    assert_int_equal(rp_markov_new(64, &m), RP_OK);
    for (int n = 0; n < 2000; n++)
        for (int i = 0; i < N_RARE; i++) {
            rp_markov_observe(m, rp_markov_key(HOME), rp_markov_key(RARE(i)));
            rp_markov_observe(m, rp_markov_key(RARE(i)), rp_markov_key(HOME));
        }
    return m;
}

static fixture *bench(rp_markov *m) {
    fixture *f = fixture_new(&rp_detector_anomaly);
    f->obs.markov = m;
    f->obs.learn = true; /* the engine's flag: no decision, score below monitor */
    return f;
}

static double visit(fixture *f, uint64_t route_hash, int64_t ts) {
    f->route->hash = route_hash;
    return fixture_feed(f, ts);
}

static void test_anomaly_leaves_a_client_following_the_usual_flow_at_0(void **s) {
    (void)s;
    rp_markov *m = site_model();
    fixture *f = bench(m);
    for (int i = 0; i < 100; i++) {
        assert_true(visit(f, HOME, T0 + i * 2 * SEC) == 0.0);
        assert_true(visit(f, RARE(i % N_RARE), T0 + (i * 2 + 1) * SEC) == 0.0);
    }
    /* it made 199 transitions, all learned */
    assert_int_equal(rp_markov_transitions(m), 2 * 2000 * N_RARE + 199);
    fixture_free(f);
    rp_markov_free(m);
}

/* Straight from page to page, never through the home page: every pair is
 * one the site never made. */
static void test_anomaly_flags_a_client_jumping_between_pages_after_20_transitions(void **s) {
    (void)s;
    rp_markov *m = site_model();
    fixture *f = bench(m);
    double sc = 0;
    uint32_t x = 7;
    int prev = 0;
    for (int i = 0; i <= 20; i++) {
        int page;
        do { /* a cheap deterministic walk over pairs not yet taken */
            x = x * 1103515245u + 12345u;
            page = (int)((x >> 16) % N_RARE);
        } while (page == prev);
        prev = page;
        sc = visit(f, RARE(page), T0 + i * SEC);
        if (i < 20) assert_true(sc == 0.0); /* under min_transitions */
    }
    assert_true(sc > 0.5);
    rp_finding fin = fixture_finding(f);
    assert_int_equal(fin.threats, RP_THREAT_AUTOMATION);
    assert_string_equal(fin.features[0].name, "mean_surprise_bits");
    assert_true(fin.features[0].value > 12);
    char want[128];
    snprintf(want, sizeof want, "anomaly: unusual API flow: mean surprise %.1f bits over 20 transitions (threshold 12)",
             fin.features[0].value);
    assert_string_equal(fin.summary, want);
    fixture_free(f);
    rp_markov_free(m);
}

/* The first transition is judged by the model as it was before it. */
static void test_anomaly_scores_a_transition_before_learning_it(void **s) {
    (void)s;
    rp_markov *m = site_model();
    fixture *f = bench(m);
    f->params[P_MIN_TRANSITIONS] = 1;
    f->params[P_THRESHOLD] = 1;
    double before = rp_markov_surprise(m, rp_markov_key(RARE(1)), rp_markov_key(RARE(2)));
    visit(f, RARE(1), T0);
    visit(f, RARE(2), T0 + SEC);
    rp_finding fin = fixture_finding(f);
    assert_true(fabs(fin.features[0].value - before) < 0.01);
    assert_true(rp_markov_surprise(m, rp_markov_key(RARE(1)), rp_markov_key(RARE(2))) < before);
    fixture_free(f);
    rp_markov_free(m);
}

static void test_anomaly_is_safe_on_first_event_without_model_and_out_of_order(void **s) {
    (void)s;
    rp_markov *m = site_model();
    fixture *f = bench(m);
    f->params[P_MIN_TRANSITIONS] = 2;
    uint64_t learned = rp_markov_transitions(m);
    assert_true(visit(f, RARE(1), T0) == 0.0); /* first event: no transition */
    assert_int_equal(rp_markov_transitions(m), learned);
    f->obs.markov = NULL; /* scored outside the event path */
    assert_true(visit(f, RARE(2), T0 + SEC) == 0.0);
    assert_int_equal(rp_markov_transitions(m), learned);
    f->obs.markov = m;
    visit(f, RARE(3), T0 - 60 * SEC); /* late events count like any other */
    visit(f, RARE(4), T0 - 120 * SEC);
    assert_int_equal(rp_markov_transitions(m), learned + 2);
    assert_int_equal(rp_detector_anomaly.state_size, 8);
    assert_true(rp_detector_anomaly.default_weight == 0.0);
    assert_int_equal(rp_detector_anomaly.levels, RP_LEVEL_BIT(RP_LEVEL_IP));
    fixture_free(f);
    rp_markov_free(m);
}

/* A client the engine says may not teach (a decision in force, or a score
 * at monitor) is judged but teaches the flow model nothing. */
static void test_anomaly_does_not_learn_from_a_client_that_may_not_teach(void **s) {
    (void)s;
    rp_markov *m = site_model();
    fixture *f = bench(m);
    uint64_t learned = rp_markov_transitions(m);
    f->obs.learn = false;
    for (int i = 0; i < 30; i++) visit(f, RARE(i % N_RARE), T0 + i * SEC);
    assert_int_equal(rp_markov_transitions(m), learned);
    assert_true(visit(f, RARE(3), T0 + 31 * SEC) > 0.0); /* still judged */
    fixture_free(f);
    rp_markov_free(m);
}

static void test_anomaly_counts_transitions_up_to_255(void **s) {
    (void)s;
    rp_markov *m = site_model();
    fixture *f = bench(m);
    for (int i = 0; i < 300; i++) visit(f, i % 2 ? HOME : RARE(i % N_RARE), T0 + i * SEC);
    rp_finding fi;
    f->params[P_THRESHOLD] = 1; /* so that the finding is filled */
    assert_true(fixture_explain(f, &fi) > 0);
    assert_string_equal(fi.features[1].name, "transitions");
    assert_true(fi.features[1].value == 255.0);
    assert_true(rp_detector_anomaly.params[P_MIN_TRANSITIONS].max == 255);
    fixture_free(f);
    rp_markov_free(m);
}

/* A forest that learned three windows of 2-d vectors around (0.2, 0.3). */
static rp_hstree *cluster_forest(void) {
    rp_hstree_params p;
    rp_hstree_defaults(&p, 2, 0);
    p.window = 256;
    rp_hstree *h;
    assert_int_equal(rp_hstree_new(&p, &h), RP_OK);
    uint32_t x = 1;
    for (int i = 0; i < 3 * 256; i++) {
        float v[2];
        for (int q = 0; q < 2; q++) {
            x = x * 1103515245u + 12345u;
            v[q] = (q ? 0.3f : 0.2f) + (float)((x >> 16) % 1000) / 20000.0f;
        }
        rp_hstree_update(h, v, true);
    }
    return h;
}


/* The profile part: a vector far from every normal one scores 1.0 and
 * the evidence names the dimension that isolated it; one inside the
 * cluster scores 0. */
static void test_anomaly_scores_a_vector_rarer_than_all_normal_ones_at_1(void **s) {
    (void)s;
    rp_hstree *h = cluster_forest();
    fixture *f = bench(NULL);
    f->obs.forest = h;
    f->obs.n_features = 2;
    float normal[2] = {0.21f, 0.32f}, odd[2] = {0.21f, 0.95f};
    f->obs.features = normal;
    assert_true(visit(f, HOME, T0) == 0.0);
    f->obs.features = odd;
    assert_true(visit(f, HOME, T0 + SEC) == 1.0);
    f->obs.features = NULL; /* requests between two vectors keep the last verdict */
    assert_true(visit(f, HOME, T0 + 2 * SEC) == 1.0);
    rp_finding fi;
    fixture_explain(f, &fi);
    assert_non_null(strstr(fi.summary, "anomaly: unusual traffic profile: rarer than 100.00%"));
    assert_string_equal(fi.features[fi.n_features - 1].name, "profile_rarity");
    f->obs.features = normal;
    assert_true(visit(f, HOME, T0 + 3 * SEC) == 0.0);
    fixture_free(f);
    rp_hstree_free(h);
}

/* Its own feature: the mean flow surprise over 20 bits, in 0..1. */
static void test_anomaly_feature_is_the_mean_surprise_over_20_bits(void **s) {
    (void)s;
    rp_markov *m = site_model();
    fixture *f = bench(m);
    float out[1] = {-1};
    rp_detector_anomaly.features(f->state, &f->obs, &f->ctx, out);
    assert_true(out[0] == 0.0f);
    for (int i = 0; i < 40; i++) visit(f, RARE(i % N_RARE), T0 + i * SEC);
    rp_detector_anomaly.features(f->state, &f->obs, &f->ctx, out);
    assert_true(out[0] > 0.1f && out[0] <= 1.0f);
    assert_int_equal(rp_detector_anomaly.n_features, 1);
    assert_string_equal(rp_detector_anomaly.feature_names[0], "flow_surprise");
    fixture_free(f);
    rp_markov_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anomaly_leaves_a_client_following_the_usual_flow_at_0),
        cmocka_unit_test(test_anomaly_flags_a_client_jumping_between_pages_after_20_transitions),
        cmocka_unit_test(test_anomaly_scores_a_transition_before_learning_it),
        cmocka_unit_test(test_anomaly_is_safe_on_first_event_without_model_and_out_of_order),
        cmocka_unit_test(test_anomaly_does_not_learn_from_a_client_that_may_not_teach),
        cmocka_unit_test(test_anomaly_counts_transitions_up_to_255),
        cmocka_unit_test(test_anomaly_scores_a_vector_rarer_than_all_normal_ones_at_1),
        cmocka_unit_test(test_anomaly_feature_is_the_mean_surprise_over_20_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
