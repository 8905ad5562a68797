/*
 * test_sharing.c -- leaked or shared credentials: a key used from far more
 * addresses than its own history.
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
#define HOUR (3600 * SEC)
#define T0 (1764064800LL * SEC) /* an hour boundary */

static void from(fixture *f, const char *ip) {
    rp_addr_parse(ip, strlen(ip), &f->ev.client);
}

/* A partner key used from its three egress addresses all day, then from
 * 60 addresses in 12 networks within an hour. */
static void test_sharing_flags_a_partner_key_suddenly_used_from_60_addresses(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_TOKEN;
    const char *egress[3] = {"198.51.100.10", "198.51.100.11", "203.0.113.40"};
    double sc = 0;
    for (int h = 0; h < 6; h++)
        for (int i = 0; i < 360; i++) { /* every 10 s */
            from(f, egress[i % 3]);
            sc = fixture_feed(f, T0 + h * HOUR + i * 10 * SEC);
            assert_true(sc == 0.0);
        }
    char ip[32];
    int64_t t = T0 + 6 * HOUR;
    for (int i = 0; i < 60; i++) {
        snprintf(ip, sizeof ip, "192.0.%d.%d", 2 + i % 12, 10 + i);
        from(f, ip);
        sc = fixture_feed(f, t + i * SEC);
    }
    assert_true(sc >= 0.8);
    rp_finding fin = fixture_finding(f);
    assert_int_equal(fin.threats, RP_THREAT_LEAKED_CREDENTIAL);
    assert_non_null(strstr(fin.summary, "sharing: used from "));
    assert_non_null(strstr(fin.summary, "rotate this credential"));
    assert_true(fin.features[0].value >= 50 && fin.features[0].value <= 75);
    assert_true(fin.features[0].normal > 2 && fin.features[0].normal < 4); /* ~3 addresses */
    fixture_free(f);
}

/* A phone and a laptop sharing a session, for hours: nothing. A new key
 * used from 40 addresses in its first hour: nothing either (it may be a
 * public app key; only the new-key ceiling applies). */
static void test_sharing_leaves_ordinary_and_new_keys_alone(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_SESSION;
    for (int i = 0; i < 2000; i++) {
        from(f, i % 2 ? "192.0.2.7" : "2001:db8::7");
        assert_true(fixture_feed(f, T0 + i * 30 * SEC) == 0.0);
    }
    fixture_free(f);
    f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_TOKEN;
    char ip[32];
    for (int i = 0; i < 40; i++) {
        snprintf(ip, sizeof ip, "10.1.%d.%d", i, i + 1);
        from(f, ip);
        assert_true(fixture_feed(f, T0 + i * SEC) == 0.0);
    }
    /* ...but 600 addresses in the first hour is past the new-key ceiling */
    double sc = 0;
    for (int i = 0; i < 600; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.%d", 2 + i / 250, i % 250, 9);
        from(f, ip);
        sc = fixture_feed(f, T0 + 60 * SEC + i * SEC);
    }
    assert_true(sc >= 0.5);
    assert_non_null(strstr(fixture_finding(f).summary, "a new credential used from"));
    fixture_free(f);
}

/* IPs within one session: a session cookie used by its owner from a
 * laptop and a phone for three hours, then stolen and replayed from 40
 * addresses in 10 networks within ten minutes. */
static void test_sharing_flags_a_session_replayed_from_40_addresses(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_SESSION;
    for (int i = 0; i < 3 * 120; i++) { /* every 30 s */
        from(f, i % 2 ? "192.0.2.7" : "2001:db8::7");
        assert_true(fixture_feed(f, T0 + i * 30 * SEC) == 0.0);
    }
    char ip[32];
    double sc = 0;
    for (int i = 0; i < 40; i++) {
        snprintf(ip, sizeof ip, "203.0.%d.%d", 100 + i % 10, 20 + i);
        from(f, ip);
        sc = fixture_feed(f, T0 + 3 * HOUR + i * 15 * SEC);
    }
    assert_true(sc >= 0.5 && sc < 1.0); /* 40 addresses vs a bound of 20: 0.5 + 0.5 * 20/40 */
    assert_float_equal(sc, 0.75, 0.1);
    rp_finding fin = fixture_finding(f);
    assert_int_equal(fin.threats, RP_THREAT_LEAKED_CREDENTIAL);
    assert_true(fin.features[0].value >= 36 && fin.features[0].value <= 44);
    assert_true(fin.features[1].value >= 9 && fin.features[1].value <= 12); /* networks */
    fixture_free(f);
}

/* A partner polling every 10 s with one session from its one address:
 * nothing, all day. */
static void test_sharing_partner_polling_with_one_session_is_not_flagged(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_SESSION;
    from(f, "198.51.100.10");
    for (int i = 0; i < 8640; i++) assert_true(fixture_feed(f, T0 + i * 10 * SEC) == 0.0);
    fixture_free(f);
}

static void test_sharing_survives_out_of_order_and_missing_addresses(void **s) {
    (void)s;
    fixture *f = fixture_new(&rp_detector_sharing);
    f->ctx.level = RP_LEVEL_TOKEN;
    from(f, "192.0.2.1");
    fixture_feed(f, T0 + 2 * HOUR);
    fixture_feed(f, T0); /* two hours late: ignored */
    memset(&f->ev.client, 0, sizeof f->ev.client);
    assert_true(fixture_feed(f, T0 + 2 * HOUR + SEC) == 0.0);
    assert_true(rp_detector_sharing.state_size <= 80);
    fixture_free(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sharing_flags_a_partner_key_suddenly_used_from_60_addresses),
        cmocka_unit_test(test_sharing_leaves_ordinary_and_new_keys_alone),
        cmocka_unit_test(test_sharing_flags_a_session_replayed_from_40_addresses),
        cmocka_unit_test(test_sharing_partner_polling_with_one_session_is_not_flagged),
        cmocka_unit_test(test_sharing_survives_out_of_order_and_missing_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
