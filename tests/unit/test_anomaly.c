/*
 * test_anomaly.c -- unusual API flows: a client whose route sequence the
 * site's learned transition model finds improbable.
 *
 * The fixture plays the engine with a real rp_markov: the route of each
 * event is named by its hash (the detector keys the model by it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>

#include "detector_fixture.h"
#include "markov.h"

extern const rp_detector rp_detector_anomaly;

#define SEC 1000000LL
#define T0 (1764064800LL * SEC)
#define HOME 0x1000ULL
#define N_RARE 10
#define RARE(i) (0x2000ULL + (uint64_t)(i))

enum { P_MIN_TRANSITIONS, P_THRESHOLD };

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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anomaly_leaves_a_client_following_the_usual_flow_at_0),
        cmocka_unit_test(test_anomaly_flags_a_client_jumping_between_pages_after_20_transitions),
        cmocka_unit_test(test_anomaly_scores_a_transition_before_learning_it),
        cmocka_unit_test(test_anomaly_is_safe_on_first_event_without_model_and_out_of_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
