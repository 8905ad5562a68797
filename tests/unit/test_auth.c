/*
 * test_auth.c -- the auth detector: credential stuffing, brute force,
 * password spraying, account takeover, and the legitimate look-alikes
 * (typos, an office NAT, partners fetching tokens) it must leave alone;
 * slow attacks over hours and days, and session rotation.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detector_fixture.h"

extern const rp_detector rp_detector_auth;

#define SEC 1000000LL
#define T0 (1700000000LL * SEC)

static int setup(void **s) {
    fixture *f = fixture_new(&rp_detector_auth);
    f->route->cls = RP_ROUTE_AUTH;
    f->obs.route_class = RP_ROUTE_AUTH;
    f->ev.client.family = 4;
    f->ev.upstream_us = -1;
    *s = f;
    return 0;
}

/* One login attempt (POST) answered with status and size; user is the
 * username (0 = unknown, as in combined logs). Returns the score. */
static double attempt(fixture *f, int64_t ts, uint16_t status, uint64_t size, uint64_t user) {
    f->ev.method = RP_METHOD_POST;
    f->ev.status = status;
    f->ev.response_bytes = size;
    f->ev.credential_id = user ? rp_hash64(&user, sizeof user, 99) : 0;
    return fixture_feed(f, ts);
}

static double score_at(fixture *f, int64_t now) {
    f->ctx.now_us = now;
    return f->d->score(f->state, &f->obs, &f->ctx, NULL);
}

static void set_client(fixture *f, uint32_t ip) {
    memset(f->ev.client.bytes, 0, 16);
    f->ev.client.bytes[10] = f->ev.client.bytes[11] = 0xff;
    memcpy(f->ev.client.bytes + 12, &ip, 4);
}

/* -------------------------------------------------------- stuffing, IP */

static void test_auth_flags_40_failures_in_60s(void **s) {
    fixture *f = *s;
    double sc = 0;
    for (int i = 0; i < 40; i++) sc = attempt(f, T0 + i * 1500000LL, 401, 120, 1000 + i);
    assert_float_equal(sc, 1.0, 1e-9);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "40 failed logins in 60 s"));
    assert_non_null(strstr(fin.summary, "distinct usernames; threshold 10"));
    assert_true(fin.threats & RP_THREAT_CREDENTIAL_STUFFING);
    assert_false(fin.threats & RP_THREAT_ACCOUNT_TAKEOVER);
    assert_float_equal(fin.features[1].value, 40, 1e-9); /* failed_logins_60s */
}

static void test_auth_blocks_stuffing_at_5_per_s_within_10s(void **s) {
    fixture *f = *s;
    int64_t blocked = -1;
    for (int i = 0; i < 100 && blocked < 0; i++) {
        int64_t ts = T0 + i * 200000LL;
        if (attempt(f, ts, 401, 120, 0) >= 0.8) blocked = ts - T0;
    }
    assert_true(blocked >= 0 && blocked < 10 * SEC);
}

static void test_auth_flags_password_spraying_30_usernames_in_10m(void **s) {
    fixture *f = *s;
    double sc = 0;
    for (int i = 0; i < 30; i++) sc = attempt(f, T0 + i * 20 * SEC, 401, 120, 500 + i);
    assert_true(sc >= 0.8);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "distinct usernames failed in 10 min"));
}

static void test_auth_slow_failures_on_one_account_throttle_at_most(void **s) {
    fixture *f = *s;
    double sc = 0;
    /* a broken integration (or a patient brute force): 401 every 10 s */
    for (int i = 0; i < 60; i++) sc = attempt(f, T0 + i * 10 * SEC, 401, 120, 7);
    assert_float_equal(sc, 0.75, 1e-9);
}

/* -------------------------------------------------------- account takeover */

static void test_auth_success_after_12_failures_is_account_takeover(void **s) {
    fixture *f = *s;
    for (int i = 0; i < 12; i++) attempt(f, T0 + i * 20 * SEC, 401, 120, 0);
    double sc = attempt(f, T0 + 250 * SEC, 200, 900, 0);
    assert_float_equal(sc, 1.0, 1e-9);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "login succeeded after 12 failures (account takeover)"));
    assert_true(fin.threats & RP_THREAT_ACCOUNT_TAKEOVER);
    /* it holds so the engine can act, then lets go */
    assert_true(score_at(f, T0 + 550 * SEC) >= 0.8);
    assert_float_equal(score_at(f, T0 + 2000 * SEC), 0.0, 1e-9);
}

static void test_auth_human_with_two_typos_then_success_is_not_flagged(void **s) {
    fixture *f = *s;
    double sc = attempt(f, T0, 401, 120, 5);
    sc = attempt(f, T0 + 8 * SEC, 401, 120, 5);
    sc = attempt(f, T0 + 15 * SEC, 200, 900, 5);
    assert_float_equal(sc, 0.0, 1e-9);
    rp_finding fin = fixture_finding(f);
    assert_false(fin.threats & RP_THREAT_ACCOUNT_TAKEOVER);
}

/* ----------------------------------------------- failure pages answered 200 */

static void test_auth_form_login_same_200_page_counts_as_failures_and_redirect_as_takeover(
    void **s) {
    fixture *f = *s;
    /* the site redirects successful logins (a human earlier) */
    attempt(f, T0 - 3000 * SEC, 302, 0, 0);
    memset(f->state, 0, sizeof f->state);
    double sc = 0;
    for (int i = 0; i < 30; i++) /* the same login page, size varies by the echoed username */
        sc = attempt(f, T0 + i * 2 * SEC, 200, 5120 + (uint64_t)(i % 5), 0);
    assert_true(sc >= 0.8);
    sc = attempt(f, T0 + 61 * SEC, 302, 0, 0);
    assert_float_equal(sc, 1.0, 1e-9);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "after 30 failures"));
}

static void test_auth_form_human_with_two_failure_pages_then_redirect_is_fine(void **s) {
    fixture *f = *s;
    f->route->common_answer_votes = 10; /* a form login site */
    double sc = attempt(f, T0, 200, 5120, 0);
    sc = attempt(f, T0 + 9 * SEC, 200, 5121, 0);
    sc = attempt(f, T0 + 20 * SEC, 302, 0, 0);
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_auth_partner_fetching_tokens_every_10s_is_not_flagged(void **s) {
    fixture *f = *s;
    double max = 0;
    /* a JSON API: success is 200 with a token of about the same size */
    for (int i = 0; i < 360; i++) {
        double sc = attempt(f, T0 + i * 10 * SEC, 200, 850 + (uint64_t)(i % 3), 0);
        if (sc > max) max = sc;
    }
    assert_float_equal(max, 0.0, 1e-9);
}

/* ------------------------------------------------------------ office NAT */

static void test_auth_office_nat_30_humans_with_typos_over_an_hour_is_not_flagged(void **s) {
    fixture *f = *s;
    double max = 0;
    /* 30 humans log in within an hour, each failing 1-3 times first; their
     * attempts are 10-20 s apart and the humans are spread over the hour */
    for (int h = 0; h < 30; h++) {
        int64_t start = T0 + (int64_t)h * 115 * SEC;
        int fails = 1 + h % 3;
        for (int k = 0; k < fails; k++) {
            double sc = attempt(f, start + k * 12 * SEC, 401, 120, 300 + h);
            if (sc > max) max = sc;
        }
        double sc = attempt(f, start + fails * 12 * SEC, 200, 900, 300 + h);
        if (sc > max) max = sc;
    }
    assert_true(max < 0.4);
}

/* -------------------------------------------------------- what is ignored */

static void test_auth_get_of_login_page_and_other_routes_are_not_attempts(void **s) {
    fixture *f = *s;
    for (int i = 0; i < 100; i++) { /* the login page, loaded again and again */
        f->ev.ts_us = T0 + i * 100000LL;
        f->ev.method = RP_METHOD_GET;
        f->ev.status = 200;
        f->ev.response_bytes = 4400;
        f->ctx.now_us = f->ev.ts_us;
        f->d->observe(f->state, &f->ev, &f->obs, &f->ctx);
    }
    assert_float_equal(score_at(f, T0 + 10 * SEC), 0.0, 1e-9);
    f->obs.route_class = RP_ROUTE_OTHER;
    double sc = 0; /* posts elsewhere refused as invalid input: not logins */
    for (int i = 0; i < 100; i++) sc = attempt(f, T0 + i * 100000LL, 400, 100, 0);
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_auth_429_5xx_and_unknown_status_are_neither_failure_nor_success(void **s) {
    fixture *f = *s;
    for (int i = 0; i < 12; i++) attempt(f, T0 + i * SEC, 401, 120, 0);
    double sc = 0;
    for (int i = 0; i < 100; i++) sc = attempt(f, T0 + 20 * SEC + i * 100000LL, 429, 50, 0);
    sc = attempt(f, T0 + 40 * SEC, 503, 0, 0);
    sc = attempt(f, T0 + 41 * SEC, 0, 0, 0);
    assert_true(sc >= 0.5 && sc < 0.8); /* still 12 failures, no takeover */
    rp_finding fin = fixture_finding(f);
    assert_false(fin.threats & RP_THREAT_ACCOUNT_TAKEOVER);
}

/* ---------------------------------------------------------- username level */

static void test_auth_flags_one_account_attacked_from_40_addresses(void **s) {
    fixture *f = *s;
    f->ctx.level = RP_LEVEL_USERNAME;
    double sc = 0;
    for (int i = 0; i < 40; i++) {
        set_client(f, 0x0a000001u + (uint32_t)i * 7919u);
        sc = attempt(f, T0 + i * 60 * SEC, 401, 120, 42);
    }
    assert_float_equal(sc, 1.0, 1e-9);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "account failed 40 logins in 1 h from"));
    assert_true(fin.features[2].value >= 30 && fin.features[2].value <= 50);
}

static void test_auth_account_owner_on_two_devices_is_not_flagged(void **s) {
    fixture *f = *s;
    f->ctx.level = RP_LEVEL_USERNAME;
    set_client(f, 0x0a000001u);
    double sc = attempt(f, T0, 401, 120, 42);
    sc = attempt(f, T0 + 10 * SEC, 401, 120, 42);
    set_client(f, 0x0b000001u);
    sc = attempt(f, T0 + 100 * SEC, 401, 120, 42);
    sc = attempt(f, T0 + 110 * SEC, 200, 900, 42);
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_auth_account_takeover_after_distributed_failures(void **s) {
    fixture *f = *s;
    f->ctx.level = RP_LEVEL_USERNAME;
    for (int i = 0; i < 15; i++) {
        set_client(f, 0x0c000001u + (uint32_t)i * 104729u);
        attempt(f, T0 + i * 30 * SEC, 401, 120, 42);
    }
    double sc = attempt(f, T0 + 500 * SEC, 200, 900, 42);
    assert_float_equal(sc, 1.0, 1e-9);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "account login succeeded after 15 failures"));
}

/* ------------------------------------------------- slow, long horizons */

#define HOUR (3600 * SEC)

/* A tiny deterministic generator for spreads of times and addresses. */
static uint32_t lcg(uint32_t *x) {
    *x = *x * 1664525u + 1013904223u;
    return *x >> 8;
}

static void test_auth_flags_an_account_failing_3_times_an_hour_from_new_addresses_for_2_days(
    void **s) {
    fixture *f = *s;
    f->ctx.level = RP_LEVEL_USERNAME;
    uint32_t x = 7;
    double at_6h = 0, at_24h = 0, sc = 0;
    for (int i = 0; i < 3 * 48; i++) { /* 3 an hour, at random minutes, each from a new address */
        set_client(f, 0x50000000u + lcg(&x));
        int64_t ts = T0 + (i / 3) * HOUR + (int64_t)(lcg(&x) % 3600) * SEC;
        sc = attempt(f, ts, 401, 120, 42);
        if (i == 3 * 6 - 1) at_6h = sc;
        if (i == 3 * 24 - 1) at_24h = sc;
    }
    assert_float_equal(at_6h, 0.0, 1e-9); /* the hourly lines never fire: 3 an hour */
    assert_true(at_24h >= 0.5);
    assert_true(sc >= 0.75); /* ~52 after decay at 3/h with a 12 h half-life */
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "auth: 144 failed logins for this account over 2.0 days "
                                        "from 100+ addresses, no success"));
    assert_true(fin.threats & RP_THREAT_CREDENTIAL_STUFFING);
    assert_string_equal(fin.features[1].name, "account_failed_logins_decayed");
    assert_true(fin.features[1].value > 40 && fin.features[1].value < 60);
    assert_true(fin.features[4].value >= 60); /* addresses: the 32-bit sketch saturates ~110 */
}

static void test_auth_owner_mistyping_3_times_a_day_from_a_new_phone_address_is_not_flagged(
    void **s) {
    fixture *f = *s;
    f->ctx.level = RP_LEVEL_USERNAME;
    double max = 0;
    for (int d = 0; d < 14; d++) { /* two weeks; the carrier gives a new address daily */
        set_client(f, 0x64400000u + (uint32_t)d * 977u);
        int64_t day = T0 + d * 24 * HOUR + 9 * HOUR;
        for (int k = 0; k < 3; k++) {
            double sc = attempt(f, day + k * 15 * SEC, 401, 120, 42);
            if (sc > max) max = sc;
        }
        double sc = attempt(f, day + 60 * SEC, 200, 900, 42);
        if (sc > max) max = sc;
        sc = attempt(f, day + 8 * HOUR, 401, 120, 42); /* one more typo in the evening */
        if (sc > max) max = sc;
    }
    assert_float_equal(max, 0.0, 1e-9);
}

static void test_auth_account_under_slow_attack_says_when_the_owner_last_got_in(void **s) {
    fixture *f = *s;
    f->ctx.level = RP_LEVEL_USERNAME;
    uint32_t x = 11;
    for (int i = 0; i < 3 * 30; i++) {
        set_client(f, 0x51000000u + lcg(&x));
        attempt(f, T0 + i * 20 * 60 * SEC, 401, 120, 42);
    }
    set_client(f, 0x0a0a0a0au); /* the owner logs in fine */
    attempt(f, T0 + 30 * HOUR, 200, 900, 42);
    set_client(f, 0x52000001u);
    double sc = attempt(f, T0 + 32 * HOUR, 401, 120, 42);
    assert_true(sc >= 0.5);
    assert_non_null(strstr(fixture_finding(f).summary, "last success 2 h ago"));
}

/* One /24 of a slow stuffing swarm: 10 addresses, 3 attempts an hour
 * each, never a success, for 3 hours. The run of failures grows past the
 * line in about 80 minutes and is not broken by the gaps between them. */
static void test_auth_slow_stuffing_run_at_a_subnet_grows_over_hours(void **s) {
    fixture *f = *s;
    f->ctx.level = RP_LEVEL_SUBNET;
    uint32_t x = 3;
    double at_30m = 0, sc = 0;
    int64_t t_flag = -1;
    for (int m = 0; m < 3 * 60; m++) { /* 30 attempts an hour: one every 2 min on average */
        if (m % 2) continue;
        set_client(f, 0xc6336400u + lcg(&x) % 10u);
        sc = attempt(f, T0 + m * 60 * SEC + (int64_t)(lcg(&x) % 60) * SEC, 401, 120,
                     900000 + (uint64_t)m);
        if (m == 30) at_30m = sc;
        if (sc >= 0.5 && t_flag < 0) t_flag = m;
    }
    assert_float_equal(at_30m, 0.0, 1e-9);
    assert_true(t_flag >= 70 && t_flag <= 90);
    assert_true(sc >= 0.7);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "90 failed logins in a row without a success from"));
    /* a pause of 2 hours does not end the run; 4 hours does */
    sc = attempt(f, T0 + 5 * HOUR, 401, 120, 1);
    assert_true(sc >= 0.7);
    sc = attempt(f, T0 + 9 * HOUR + SEC, 401, 120, 1);
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_auth_subnet_of_people_who_log_in_after_typos_is_not_a_slow_swarm(void **s) {
    fixture *f = *s;
    f->ctx.level = RP_LEVEL_SUBNET;
    uint32_t x = 5;
    double max = 0;
    for (int m = 0; m < 6 * 60; m += 3) { /* a busy residential /24 for 6 hours */
        set_client(f, 0x5db84000u + lcg(&x) % 200u);
        int64_t ts = T0 + m * 60 * SEC;
        double sc = attempt(f, ts, 401, 120, 7000 + (uint64_t)m);
        if (sc > max) max = sc;
        if (lcg(&x) % 3) sc = attempt(f, ts + 20 * SEC, 401, 120, 7000 + (uint64_t)m);
        if (sc > max) max = sc;
        sc = attempt(f, ts + 40 * SEC, 200, 900, 7000 + (uint64_t)m);
        if (sc > max) max = sc;
    }
    assert_float_equal(max, 0.0, 1e-9);
}

/* --------------------------------------------------- session rotation */

/* A request from the fixture's address carrying session id `sess` (0 =
 * no cookie) on an ordinary route. */
static double request(fixture *f, int64_t ts, uint64_t sess) {
    f->obs.route_class = RP_ROUTE_OTHER;
    f->ev.method = RP_METHOD_GET;
    f->ev.status = 200;
    f->ev.response_bytes = 2048;
    f->ev.credential_id = 0;
    f->ev.session_id = sess ? rp_hash64(&sess, sizeof sess, 77) : 0;
    double sc = fixture_feed(f, ts);
    f->obs.route_class = RP_ROUTE_AUTH;
    return sc;
}

static void test_auth_flags_an_address_taking_a_new_session_every_1_to_2_requests(void **s) {
    fixture *f = *s;
    uint32_t x = 9;
    uint64_t sess = 1;
    double sc = 0, at_60s = 0;
    for (int i = 0; i < 600; i++) { /* 1 request a second for 10 minutes */
        if (lcg(&x) % 2) sess++;
        sc = request(f, T0 + i * SEC, sess);
        if (i == 59) at_60s = sc;
    }
    assert_float_equal(at_60s, 0.0, 1e-9); /* ~40 sessions: not yet */
    assert_true(sc >= 0.75);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "(session rotation)"));
    assert_true(fin.threats & RP_THREAT_AUTOMATION);
    assert_false(fin.threats & RP_THREAT_CREDENTIAL_STUFFING);
    assert_string_equal(fin.features[4].name, "sessions_5m");
    assert_true(fin.features[4].value > 150 && fin.features[4].value < 300); /* ~200 */
    assert_true(fin.features[5].value > 1.2 && fin.features[5].value < 1.8); /* ~1.5 */
}

static void test_auth_office_nat_with_50_people_and_their_sessions_is_not_rotation(void **s) {
    fixture *f = *s;
    uint32_t x = 13;
    int64_t next[50];
    for (int p = 0; p < 50; p++) next[p] = T0 + (int64_t)(lcg(&x) % 60) * SEC;
    double max = 0;
    /* 50 people for 2 hours, a request every 2-40 s each; everyone's
     * session is renewed at login, about once an hour */
    for (int64_t t = T0; t < T0 + 2 * HOUR; t += SEC)
        for (int p = 0; p < 50; p++) {
            if (next[p] > t) continue;
            uint64_t sess = 1000u * (uint64_t)p + (uint64_t)((t - T0) / HOUR) + 1;
            double sc = request(f, t, sess);
            if (sc > max) max = sc;
            next[p] = t + (2 + (int64_t)(lcg(&x) % 39)) * SEC;
        }
    assert_float_equal(max, 0.0, 1e-9);
    rp_finding fin = fixture_finding(f);
    assert_true(fin.features[4].value > 30 && fin.features[4].value < 80); /* ~50 sessions */
    assert_true(fin.features[5].value > 5);
}

static void test_auth_partner_polling_every_10s_with_one_session_is_not_rotation(void **s) {
    fixture *f = *s;
    double max = 0;
    for (int i = 0; i < 8640; i++) { /* a day */
        double sc = request(f, T0 + i * 10 * SEC, 424242);
        if (sc > max) max = sc;
    }
    assert_float_equal(max, 0.0, 1e-9);
}

static void test_auth_new_cookie_on_every_request_for_an_hour_blocks(void **s) {
    fixture *f = *s;
    double sc = 0;
    for (int i = 0; i < 1800; i++) sc = request(f, T0 + i * 2 * SEC, 50000 + (uint64_t)i);
    assert_true(sc >= 0.5 && sc <= 1.0); /* 150 sessions in 5 min, 1 use each */
    assert_true(score_at(f, T0 + 3600 * SEC + 11 * 60 * SEC) == 0.0); /* gone quiet */
}

/* ---------------------------------------------------------- robustness */

static void test_auth_stuffing_with_out_of_order_timestamps_is_still_caught(void **s) {
    fixture *f = *s;
    double sc = 0;
    for (int i = 0; i < 50; i++) {
        int64_t jitter = ((i * 5) % 11 - 5) * SEC;
        sc = attempt(f, T0 + 10 * SEC + i * 400000LL + jitter, 401, 120, 0);
        assert_true(sc >= 0.0 && sc <= 1.0);
    }
    assert_true(sc >= 0.8);
    /* a late event from long ago neither crashes nor hides the burst */
    sc = attempt(f, 1, 401, 120, 0);
    assert_true(score_at(f, T0 + 30 * SEC) >= 0.8);
}

static void test_auth_missing_fields_do_not_crash(void **s) {
    fixture *f = *s;
    memset(&f->ev, 0, sizeof f->ev);
    f->ev.method = RP_METHOD_POST;
    f->ctx.now_us = 0;
    f->d->observe(f->state, &f->ev, &f->obs, &f->ctx);
    assert_float_equal(f->d->score(f->state, &f->obs, &f->ctx, NULL), 0.0, 1e-9);
    f->ev.status = 401;
    f->ev.ts_us = -1000;
    f->d->observe(f->state, &f->ev, &f->obs, &f->ctx);
    rp_finding fin = fixture_finding(f);
    assert_true(strlen(fin.summary) > 0);
}

/* ------------------------------------------- forms, whatever their name */

/* One POST to a route of no login class, as a form answers it. */
static double form_post(fixture *f, int64_t ts, uint16_t status, uint64_t size) {
    f->route->cls = RP_ROUTE_OTHER;
    f->obs.route_class = RP_ROUTE_OTHER;
    f->ev.method = RP_METHOD_POST;
    f->ev.status = status;
    f->ev.response_bytes = size;
    return fixture_feed(f, ts);
}

static void test_auth_cms_admin_form_posted_3_per_s_with_the_same_page_blocks(void **s) {
    fixture *f = *s;
    f->route->hash = 0x1234567890abcdefULL;
    snprintf(f->route->template_, sizeof f->route->template_, "/administrator/index.php");
    double sc = 0;
    int64_t blocked = -1;
    for (int i = 0; i < 360; i++) { /* medusa: 3 a second, the same 200 page */
        sc = form_post(f, T0 + i * 333333LL, 200, 2678);
        if (blocked < 0 && sc >= 0.8) blocked = i;
    }
    assert_float_equal(sc, 1.0, 1e-9);
    assert_true(blocked > 0 && blocked < 200); /* within about a minute */
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "identical answers (200, 2678 bytes) to POST "
                                        "/administrator/index.php"));
    assert_true(fin.threats & RP_THREAT_CREDENTIAL_STUFFING);
    assert_string_equal(fin.features[1].name, "identical_form_answers");
}

static void test_auth_form_run_at_250_a_minute_stays_flagged_for_hours(void **s) {
    fixture *f = *s;
    double sc = 0, least = 1;
    for (int i = 0; i < 250 * 60 * 3; i++) { /* three hours */
        sc = form_post(f, T0 + i * 240000LL, 200, 9000);
        if (i > 250 && sc < least) least = sc;
    }
    assert_float_equal(least, 1.0, 1e-9);
    /* and it fades once the client stops */
    assert_float_equal(score_at(f, T0 + 250LL * 60 * 3 * 240000LL + 3600 * SEC), 0.0, 1e-9);
}

static void test_auth_app_posting_acknowledgements_is_not_a_form_run(void **s) {
    fixture *f = *s;
    double sc = 0, most = 0;
    for (int i = 0; i < 1200; i++) { /* events every 0.5 s, answered {"ok":true} */
        sc = form_post(f, T0 + i * 500000LL, 200, 11);
        if (sc > most) most = sc;
    }
    assert_float_equal(most, 0.0, 1e-9);
}

static void test_auth_dashboard_polling_a_query_by_post_every_2s_is_not_flagged(void **s) {
    fixture *f = *s;
    double most = 0;
    for (int i = 0; i < 900; i++) { /* 30 min, the same 2 KB answer */
        double sc = form_post(f, T0 + i * 2 * SEC, 200, 2048);
        if (sc > most) most = sc;
    }
    assert_float_equal(most, 0.0, 1e-9);
}

static void test_auth_owner_saving_content_is_not_a_form_run(void **s) {
    fixture *f = *s;
    double most = 0;
    for (int i = 0; i < 300; i++) { /* saves every few seconds: the page changes */
        double sc = form_post(f, T0 + i * 3 * SEC, i % 3 ? 200 : 303, 4000 + (uint64_t)i * 97);
        if (sc > most) most = sc;
    }
    assert_float_equal(most, 0.0, 1e-9);
}

/* ------------------------------------------- members of an aggregate */

static bool member_involved(fixture *f, uint16_t status) {
    f->ev.method = RP_METHOD_POST;
    f->ev.status = status;
    return f->d->involved(f->state, &f->ev, &f->obs, &f->ctx);
}

static void test_auth_member_that_logged_in_itself_is_not_charged_for_its_typo(void **s) {
    fixture *f = *s;
    f->ctx.requests = 2;
    attempt(f, T0, 401, 120, 1);
    attempt(f, T0 + 5 * SEC, 200, 900, 1); /* the person got in */
    f->ctx.requests = 3;
    attempt(f, T0 + 600 * SEC, 401, 120, 1); /* a typo later, in the same hour */
    assert_false(member_involved(f, 401));
    /* without the success, the same address would be a member taking part */
    fixture *g = fixture_new(&rp_detector_auth);
    g->route->cls = RP_ROUTE_AUTH;
    g->obs.route_class = RP_ROUTE_AUTH;
    g->ctx.requests = 2;
    attempt(g, T0, 401, 120, 1);
    attempt(g, T0 + 600 * SEC, 401, 120, 2);
    assert_true(member_involved(g, 401));
    fixture_free(g);
}

static void test_auth_member_that_mostly_browses_is_not_charged(void **s) {
    fixture *f = *s;
    attempt(f, T0, 401, 120, 1);
    attempt(f, T0 + 9 * SEC, 401, 120, 1);
    f->ctx.requests = 40; /* a NAT address: pages, assets, two failed logins */
    assert_false(member_involved(f, 401));
    f->ctx.requests = 5; /* a sprayer: its requests are its failures */
    assert_true(member_involved(f, 401));
    /* the route decision asks without a member: any failure */
    assert_true(f->d->involved(NULL, &f->ev, &f->obs, &f->ctx));
}

static void test_auth_swarm_takeover_is_never_charged_to_a_member(void **s) {
    fixture *f = *s;
    f->ctx.level = RP_LEVEL_SUBNET;
    for (int i = 0; i < 30; i++) { /* 30 failures from 10 addresses of the /24 */
        set_client(f, 0x0100a8c0u + ((uint32_t)(i % 10) << 24));
        attempt(f, T0 + i * 10 * SEC, 401, 120, 0);
    }
    set_client(f, 0xc800a8c0u);
    double sc = attempt(f, T0 + 301 * SEC, 200, 900, 0); /* a person gets in */
    assert_float_equal(sc, 1.0, 1e-9); /* the /24's own incident says takeover */
    f->ctx.charging = true;
    double charged = score_at(f, T0 + 302 * SEC);
    assert_true(charged < 0.5); /* what a member may carry: the run, not the takeover */
    rp_finding fin = fixture_finding(f);
    assert_null(strstr(fin.summary, "account takeover"));
    assert_false(fin.threats & RP_THREAT_ACCOUNT_TAKEOVER);
}

/* HTTP authentication: 401s on GET count as refused credentials on any route. */
static double get_answered(fixture *f, int64_t ts, uint16_t status) {
    f->route->cls = RP_ROUTE_OTHER;
    f->obs.route_class = RP_ROUTE_OTHER;
    f->ev.method = RP_METHOD_GET;
    f->ev.status = status;
    f->ev.response_bytes = 381;
    return fixture_feed(f, ts);
}

static void test_auth_basic_auth_guessing_on_get_blocks(void **s) {
    fixture *f = *s;
    double sc = 0;
    for (int i = 0; i < 100; i++) sc = get_answered(f, T0 + i * 200000LL, 401); /* 5 a second */
    assert_true(sc >= 0.8);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "failed logins in 60 s"));
}

static void test_auth_person_meeting_a_basic_auth_challenge_is_fine(void **s) {
    fixture *f = *s;
    double most = 0;
    for (int visit = 0; visit < 6; visit++) { /* the challenge, then the pages */
        int64_t t = T0 + visit * 600 * SEC;
        double sc = get_answered(f, t, 401);
        if (sc > most) most = sc;
        for (int k = 1; k <= 10; k++) {
            sc = get_answered(f, t + k * 3 * SEC, 200);
            if (sc > most) most = sc;
        }
    }
    assert_float_equal(most, 0.0, 1e-9);
}

static void test_auth_state_fits_budget(void **s) {
    (void)s;
    assert_true(rp_detector_auth.state_size <= 88);
    assert_true(rp_detector_auth.levels & RP_LEVEL_BIT(RP_LEVEL_USERNAME));
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_auth_flags_40_failures_in_60s),
        T(test_auth_blocks_stuffing_at_5_per_s_within_10s),
        T(test_auth_flags_password_spraying_30_usernames_in_10m),
        T(test_auth_slow_failures_on_one_account_throttle_at_most),
        T(test_auth_success_after_12_failures_is_account_takeover),
        T(test_auth_human_with_two_typos_then_success_is_not_flagged),
        T(test_auth_form_login_same_200_page_counts_as_failures_and_redirect_as_takeover),
        T(test_auth_form_human_with_two_failure_pages_then_redirect_is_fine),
        T(test_auth_partner_fetching_tokens_every_10s_is_not_flagged),
        T(test_auth_office_nat_30_humans_with_typos_over_an_hour_is_not_flagged),
        T(test_auth_get_of_login_page_and_other_routes_are_not_attempts),
        T(test_auth_429_5xx_and_unknown_status_are_neither_failure_nor_success),
        T(test_auth_flags_one_account_attacked_from_40_addresses),
        T(test_auth_account_owner_on_two_devices_is_not_flagged),
        T(test_auth_account_takeover_after_distributed_failures),
        T(test_auth_flags_an_account_failing_3_times_an_hour_from_new_addresses_for_2_days),
        T(test_auth_owner_mistyping_3_times_a_day_from_a_new_phone_address_is_not_flagged),
        T(test_auth_account_under_slow_attack_says_when_the_owner_last_got_in),
        T(test_auth_slow_stuffing_run_at_a_subnet_grows_over_hours),
        T(test_auth_subnet_of_people_who_log_in_after_typos_is_not_a_slow_swarm),
        T(test_auth_flags_an_address_taking_a_new_session_every_1_to_2_requests),
        T(test_auth_office_nat_with_50_people_and_their_sessions_is_not_rotation),
        T(test_auth_cms_admin_form_posted_3_per_s_with_the_same_page_blocks),
        T(test_auth_form_run_at_250_a_minute_stays_flagged_for_hours),
        T(test_auth_app_posting_acknowledgements_is_not_a_form_run),
        T(test_auth_dashboard_polling_a_query_by_post_every_2s_is_not_flagged),
        T(test_auth_owner_saving_content_is_not_a_form_run),
        T(test_auth_member_that_logged_in_itself_is_not_charged_for_its_typo),
        T(test_auth_member_that_mostly_browses_is_not_charged),
        T(test_auth_swarm_takeover_is_never_charged_to_a_member),
        T(test_auth_basic_auth_guessing_on_get_blocks),
        T(test_auth_person_meeting_a_basic_auth_challenge_is_fine),
        T(test_auth_partner_polling_every_10s_with_one_session_is_not_rotation),
        T(test_auth_new_cookie_on_every_request_for_an_hour_blocks),
        T(test_auth_stuffing_with_out_of_order_timestamps_is_still_caught),
        T(test_auth_missing_fields_do_not_crash),
        cmocka_unit_test(test_auth_state_fits_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
