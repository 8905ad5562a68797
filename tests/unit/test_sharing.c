/*
 * test_sharing.c -- leaked or shared credentials: a key suddenly used from
 * many addresses new to it; the new addresses are charged, its owner not.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>

#include "detector_fixture.h"

extern const rp_detector rp_detector_sharing;

#define SEC 1000000LL
#define T0 (1764618390LL * SEC)

static void from(fixture *f, const char *ip) {
    rp_addr_parse(ip, strlen(ip), &f->ev.client);
}

/* The score the engine charges the address of the last request with. */
static double member_score(fixture *f) {
    rp_key_level keep = f->ctx.level;
    f->ctx.level = RP_LEVEL_IP;
    double s = f->d->score(f->state, &f->obs, &f->ctx, NULL);
    f->ctx.level = keep;
    return s;
}

/* Corpus C's leak: the partner polls every 20 s from its one address; from
 * +430 s the key also comes from 30 addresses, each in its own /16, one new
 * address every 9 s. */
static void test_sharing_charges_a_leaked_keys_new_addresses_not_its_owner(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_TOKEN;
    for (int i = 0; i < 22; i++) { /* 0..420 s */
        from(f, "198.51.100.10");
        f->ctx.now_us = T0 + i * 20 * SEC;
        assert_true(fixture_feed(f, T0 + i * 20 * SEC) == 0.0);
    }
    char ip[32];
    int64_t t = T0 + 430 * SEC;
    int charged_from = -1;
    double member = 0, key = 0;
    for (int n = 0; n < 30; n++) {
        snprintf(ip, sizeof ip, "%d.%d.7.%d", 20 + n * 7, 30 + n, 10 + n);
        from(f, ip);
        t += 9 * SEC;
        key = fixture_feed(f, t);
        member = member_score(f);
        if (member >= 0.6 && charged_from < 0) charged_from = n + 1;
        /* the owner keeps polling in between: never charged */
        from(f, "198.51.100.10");
        assert_true(fixture_feed(f, t + SEC) == 0.0);
        assert_true(member_score(f) == 0.0);
    }
    assert_int_equal(charged_from, 9); /* bound 6 at normal: 0.6 at 8.4 new addresses */
    assert_float_equal(member, 1.0, 1e-9);
    assert_float_equal(key, 0.5, 1e-9); /* the key itself: monitor at most */
    from(f, ip); /* the last leaker again */
    fixture_feed(f, t + 2 * SEC);
    f->ctx.level = RP_LEVEL_IP;
    rp_finding fin = fixture_finding(f);
    assert_int_equal(fin.threats, RP_THREAT_LEAKED_CREDENTIAL);
    assert_non_null(strstr(fin.summary, "sharing: this address is one of "));
    assert_non_null(strstr(fin.summary, "established addresses are not charged"));
    /* 30 new in 270 s across a window boundary at 600 s: 11 this window
     * plus 19 x 2/3 of the last */
    assert_true(fin.features[0].value >= 20 && fin.features[0].value <= 33);
    assert_float_equal(fin.features[0].threshold, 6, 1e-9);
    fixture_free(f);
}

/* Keys whose address set is what it always was: a mobile app's token
 * refreshed from one address, an office's staff token from its NAT plus
 * one more address, a person's session on a phone and a laptop for hours,
 * a partner's three egress addresses, a phone on carrier NAT picking up
 * a new address every few minutes. */
static void test_sharing_leaves_ordinary_keys_alone(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_TOKEN;
    from(f, "188.249.64.20");
    for (int i = 0; i < 500; i++) assert_true(fixture_feed(f, T0 + i * 2 * SEC) == 0.0);
    fixture_free(f);

    f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_TOKEN;
    for (int i = 0; i < 400; i++) {
        from(f, i == 250 ? "203.0.113.99" : "192.0.2.50");
        fixture_feed(f, T0 + i * 2 * SEC);
        assert_true(member_score(f) == 0.0);
    }
    fixture_free(f);

    f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_SESSION;
    for (int i = 0; i < 2000; i++) {
        from(f, i % 2 ? "192.0.2.7" : "2001:db8::7");
        fixture_feed(f, T0 + i * 30 * SEC);
        assert_true(member_score(f) == 0.0);
    }
    fixture_free(f);

    f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_TOKEN;
    const char *egress[3] = {"198.51.100.10", "198.51.100.11", "203.0.113.40"};
    for (int i = 0; i < 6 * 360; i++) {
        from(f, egress[i % 3]);
        fixture_feed(f, T0 + i * 10 * SEC);
        assert_true(member_score(f) == 0.0);
    }
    fixture_free(f);

    f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_SESSION;
    char ip[32];
    for (int i = 0; i < 720; i++) { /* a new carrier address every 4 min for 12 h */
        snprintf(ip, sizeof ip, "188.249.%d.%d", 64 + (i / 48) % 4, 1 + (i / 8) % 250);
        from(f, ip);
        fixture_feed(f, T0 + i * 30 * SEC);
        assert_true(member_score(f) == 0.0);
    }
    fixture_free(f);
}

/* A key without history: 40 addresses in its first 5 minutes may be a new
 * public app key (nothing); 400 is past the new-key ceiling. */
static void test_sharing_new_key_is_judged_by_the_ceiling_only(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_TOKEN;
    char ip[32];
    for (int i = 0; i < 40; i++) {
        snprintf(ip, sizeof ip, "10.1.%d.%d", i, i + 1);
        from(f, ip);
        fixture_feed(f, T0 + i * SEC);
        assert_true(member_score(f) == 0.0);
    }
    double member = 0;
    for (int i = 0; i < 400; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.9", 2 + i / 250, i % 250);
        from(f, ip);
        fixture_feed(f, T0 + 60 * SEC + i * 500000LL);
        member = member_score(f);
    }
    assert_true(member >= 0.5);
    f->ctx.level = RP_LEVEL_IP;
    assert_non_null(strstr(fixture_finding(f).summary, "a new credential used from"));
    fixture_free(f);
}

/* A session cookie used by its owner from a laptop and a phone for three
 * hours, then replayed from 40 addresses in 10 networks within ten
 * minutes: the replaying addresses are charged. */
static void test_sharing_flags_a_session_replayed_from_40_addresses(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_SESSION;
    for (int i = 0; i < 3 * 120; i++) {
        from(f, i % 2 ? "192.0.2.7" : "2001:db8::7");
        assert_true(fixture_feed(f, T0 + i * 30 * SEC) == 0.0);
    }
    char ip[32];
    double member = 0;
    for (int i = 0; i < 40; i++) {
        snprintf(ip, sizeof ip, "203.0.%d.%d", 100 + i % 10, 20 + i);
        from(f, ip);
        fixture_feed(f, T0 + 3 * 3600 * SEC + i * 15 * SEC);
        member = member_score(f);
    }
    assert_float_equal(member, 1.0, 1e-9);
    f->ctx.level = RP_LEVEL_IP;
    rp_finding fin = fixture_finding(f);
    assert_true(fin.features[1].value >= 8 && fin.features[1].value <= 12); /* networks */
    fixture_free(f);
}

/* A leak that goes on past a window's end is not learned as the key's
 * normal: the window it surged in teaches nothing. */
static void test_sharing_a_surge_is_never_learned_as_normal(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_TOKEN;
    from(f, "198.51.100.10");
    for (int i = 0; i < 40; i++) fixture_feed(f, T0 + i * 10 * SEC);
    char ip[32];
    double member = 0;
    for (int i = 0; i < 120; i++) { /* 20 min, a new address every 10 s */
        snprintf(ip, sizeof ip, "%d.%d.1.1", 30 + i % 150, i / 150 + 1);
        from(f, ip);
        fixture_feed(f, T0 + 400 * SEC + i * 10 * SEC);
        member = member_score(f);
    }
    assert_float_equal(member, 1.0, 1e-9);
    from(f, "198.51.100.10");
    fixture_feed(f, T0 + 1700 * SEC);
    assert_true(member_score(f) == 0.0);
    fixture_free(f);
}

static void test_sharing_survives_out_of_order_and_missing_addresses(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_TOKEN;
    from(f, "192.0.2.1");
    fixture_feed(f, T0 + 7200 * SEC);
    from(f, "192.0.2.2");
    fixture_feed(f, T0); /* two hours late: judged in the current window */
    memset(&f->ev.client, 0, sizeof f->ev.client);
    assert_true(fixture_feed(f, T0 + 7201 * SEC) == 0.0);
    f->ev.ts_us = -5;
    from(f, "192.0.2.3");
    f->d->observe(f->state, &f->ev, &f->obs, &f->ctx);
    assert_true(rp_detector_sharing.state_size <= 96);
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sharing_charges_a_leaked_keys_new_addresses_not_its_owner),
        cmocka_unit_test(test_sharing_leaves_ordinary_keys_alone),
        cmocka_unit_test(test_sharing_new_key_is_judged_by_the_ceiling_only),
        cmocka_unit_test(test_sharing_flags_a_session_replayed_from_40_addresses),
        cmocka_unit_test(test_sharing_a_surge_is_never_learned_as_normal),
        cmocka_unit_test(test_sharing_survives_out_of_order_and_missing_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
