/* test_keys.c -- an event's keys outside the engine (src/engine/keys.c)
 * are the keys the engine itself tracks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "keys.h"
#include "rampart.h"

static rp_str s(const char *text) { return (rp_str){text, (uint32_t)strlen(text)}; }

static rp_event login(const char *ip, const char *ua, uint64_t headers) {
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_us = 1764064800000000LL;
    rp_addr_parse(ip, strlen(ip), &ev.client);
    ev.method = RP_METHOD_POST;
    ev.status = 401;
    ev.upstream_us = -1;
    ev.path = s("/api/login");
    ev.user_agent = s(ua);
    ev.header_hash = headers;
    ev.flags = headers ? RP_EVENT_HEADERS_KNOWN : 0;
    ev.credential_id = 42;
    return ev;
}

static void test_fingerprint_needs_a_known_header_set(void **state) {
    (void)state;
    rp_event ev = login("203.0.113.7", "curl/8.0", 0);
    rp_key k;
    assert_false(rp_event_key(&ev, RP_LEVEL_FINGERPRINT, &k));
    assert_int_equal(rp_event_fingerprint(&ev), 0);
    ev = login("203.0.113.7", "curl/8.0", 0x1234);
    assert_true(rp_event_key(&ev, RP_LEVEL_FINGERPRINT, &k));
    ev.user_agent = s("");
    assert_false(rp_event_key(&ev, RP_LEVEL_FINGERPRINT, &k));
}

static void test_two_addresses_with_one_fingerprint_share_the_key(void **state) {
    (void)state;
    rp_event a = login("203.0.113.7", "Mozilla/5.0", 0x77), b = login("198.51.100.9", "Mozilla/5.0", 0x77);
    rp_event c = login("198.51.100.9", "Mozilla/5.0", 0x78);
    rp_key ka, kb, kc;
    assert_true(rp_event_key(&a, RP_LEVEL_FINGERPRINT, &ka));
    assert_true(rp_event_key(&b, RP_LEVEL_FINGERPRINT, &kb));
    assert_true(rp_event_key(&c, RP_LEVEL_FINGERPRINT, &kc));
    assert_true(rp_key_equal(&ka, &kb));
    assert_false(rp_key_equal(&ka, &kc));
}

/* The engine tracks exactly the keys rp_event_key gives. */
static void test_engine_tracks_the_keys_of_the_event(void **state) {
    (void)state;
    rp_config *cfg = rp_config_default();
    rp_engine *e;
    rp_error err;
    rp_engine_callbacks cb = {0};
    assert_int_equal(rp_engine_new(cfg, &cb, &e, &err), RP_OK);
    rp_event ev = login("203.0.113.7", "Mozilla/5.0 (test)", 0xabcdef);
    rp_engine_feed(e, &ev);
    static const rp_key_level levels[] = {RP_LEVEL_IP, RP_LEVEL_SUBNET, RP_LEVEL_FINGERPRINT,
                                          RP_LEVEL_USERNAME};
    rp_incident *live = malloc(sizeof *live);
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) {
        rp_key k;
        assert_true(rp_event_key(&ev, levels[i], &k));
        assert_true(rp_engine_explain(e, &k, live));
        assert_int_equal(live->requests, 1);
    }
    rp_key k;
    assert_false(rp_event_key(&ev, RP_LEVEL_TOKEN, &k)); /* no token on the event */
    free(live);
    rp_engine_free(e);
    rp_config_free(cfg);
}

static void test_scopes_of_literal_and_object_paths(void **state) {
    (void)state;
    rp_event ev = login("203.0.113.7", "x", 1);
    uint64_t sc[2];
    /* "/api/login": a literal route, or an object route "/api/{x}" */
    assert_int_equal(rp_event_scopes(&ev, sc), 2);
    assert_true(sc[0] == rp_scope_hash("/api/login", 10));
    assert_true(sc[1] == rp_scope_hash("/api/", 5));
    ev.path = s("/health");
    assert_int_equal(rp_event_scopes(&ev, sc), 1); /* no prefix but "/" */
    ev.path = s("/api/products/585/");
    assert_int_equal(rp_event_scopes(&ev, sc), 2);
    assert_true(sc[0] == rp_scope_hash("/api/products/585", 17));
    assert_true(sc[1] == rp_scope_hash("/api/products/", 14));
    ev.path = s("");
    assert_int_equal(rp_event_scopes(&ev, sc), 0);
}

static bool parses(const char *text, rp_key *k) { return rp_key_parse(text, strlen(text), k) == RP_OK; }

static void test_key_parse_refuses_prefixes_a_key_cannot_hold(void **state) {
    (void)state;
    rp_key k, want;
    char buf[128];
    /* A subnet key is a /24 (IPv4) or a /64 (IPv6); nothing wider or narrower. */
    assert_false(parses("subnet:10.0.0.0/8", &k));
    assert_false(parses("subnet:10.0.0.0/16", &k));
    assert_false(parses("subnet:10.0.0.0/25", &k));
    assert_false(parses("subnet:2001:db8::/48", &k));
    assert_false(parses("subnet:10.0.0.0/", &k));
    assert_false(parses("subnet:10.0.0.0/+24", &k));
    assert_false(parses("subnet:10.0.0.0/0024", &k));
    assert_false(parses("ip:192.0.2.1/24", &k));
    assert_false(parses("ip:2001:db8::1/64", &k));
    assert_true(parses("subnet:10.0.0.7/24", &k));
    assert_true(parses("subnet:10.0.0.0", &want));
    assert_true(rp_key_equal(&k, &want));
    rp_key_format(&k, buf, sizeof buf);
    assert_string_equal(buf, "subnet:10.0.0.0/24");
    assert_true(parses("subnet:2001:db8:1:2::/64", &k));
    rp_key_format(&k, buf, sizeof buf);
    assert_true(parses(buf, &want)); /* what we print parses back */
    assert_true(rp_key_equal(&k, &want));
    assert_true(parses("ip:192.0.2.1/32", &k));
    assert_true(parses("ip:192.0.2.1", &want));
    assert_true(rp_key_equal(&k, &want));
    assert_true(parses("ip:2001:db8::1/128", &k));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint_needs_a_known_header_set),
        cmocka_unit_test(test_two_addresses_with_one_fingerprint_share_the_key),
        cmocka_unit_test(test_engine_tracks_the_keys_of_the_event),
        cmocka_unit_test(test_scopes_of_literal_and_object_paths),
        cmocka_unit_test(test_key_parse_refuses_prefixes_a_key_cannot_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
