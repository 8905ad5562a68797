/* test_partition.c -- the key scheme of a partitioned fleet
 * (src/common/partition.c): the partitions are FNV-1a values that do not
 * change between versions (the figures below were computed apart, by
 * hand in Python, as tests/e2e/cluster_partitions.sh does), a
 * fingerprint's partition is the one of every key the engine derives
 * from it, and every key of every event is counted by exactly one
 * engine of the fleet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "keys.h"
#include "partition.h"
#include "rampart.h"

static rp_str s(const char *text) { return (rp_str){text, (uint32_t)strlen(text)}; }

static rp_event login(const char *ip, const char *ua, uint64_t headers, uint64_t account) {
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    rp_addr_parse(ip, strlen(ip), &ev.client);
    ev.method = RP_METHOD_POST;
    ev.status = 401;
    ev.path = s("/api/login");
    ev.user_agent = s(ua);
    ev.header_hash = headers;
    ev.flags = headers ? RP_EVENT_HEADERS_KNOWN : 0;
    ev.credential_id = account;
    return ev;
}

static void test_an_address_is_in_its_24s_partition(void **state) {
    (void)state;
    static const unsigned n[] = {2, 3, 4, 8};
    static const unsigned want_198[] = {0, 2, 0, 0}, want_203[] = {1, 0, 3, 3};
    rp_addr a, b, nb;
    rp_addr_parse("198.51.100.66", 13, &a);
    rp_addr_parse("203.0.113.7", 11, &b);
    rp_addr_parse("198.51.100.250", 14, &nb);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rp_partition_of_addr(&a, n[i]), want_198[i]);
        assert_int_equal(rp_partition_of_addr(&b, n[i]), want_203[i]);
        assert_int_equal(rp_partition_of_addr(&nb, n[i]), want_198[i]); /* same /24 */
    }
    assert_int_equal(rp_partition_of_addr(&a, 1), 0);
}

static void test_an_aggregate_key_is_in_the_partition_of_its_id(void **state) {
    (void)state;
    static const unsigned n[] = {2, 3, 4, 8};
    static const unsigned want_account_42[] = {0, 0, 2, 2};
    static const unsigned want_token[] = {0, 0, 2, 2};
    for (int i = 0; i < 4; i++) {
        rp_event ev = login("203.0.113.7", "curl/8.0", 0, 42);
        ev.token_id = 0x0123456789abcdefULL;
        uint16_t parts[RP_LEVEL_COUNT];
        rp_event_partitions(&ev, n[i], parts);
        assert_int_equal(parts[RP_LEVEL_USERNAME], want_account_42[i]);
        assert_int_equal(parts[RP_LEVEL_TOKEN], want_token[i]);
        assert_int_equal(parts[RP_LEVEL_SESSION], RP_PARTITION_NONE); /* no session */
        assert_int_equal(parts[RP_LEVEL_IP], parts[RP_LEVEL_SUBNET]);
    }
}

/* The fingerprint's partition is the one every fingerprint key of the
 * event derives from: with a header set, the full fingerprint (so
 * fingerprint:FP@SCOPE is with FP); without one, the user agent on a
 * POST or PUT (fingerprint:UA@ROUTE); a GET without headers has none. */
static void test_a_fingerprint_is_whole_in_one_partition(void **state) {
    (void)state;
    uint16_t pa[RP_LEVEL_COUNT], pb[RP_LEVEL_COUNT], pc[RP_LEVEL_COUNT];
    for (unsigned n = 2; n <= 16; n++) {
        int differ = 0;
        for (unsigned h = 1; h <= 64; h++) {
            rp_event a = login("203.0.113.7", "Mozilla/5.0 Chrome/131", h, 1);
            rp_event b = login("198.51.100.9", "Mozilla/5.0 Chrome/131", h, 2);
            rp_event c = login("198.51.100.9", "Mozilla/5.0 Chrome/131", h + 1000, 2);
            rp_event_partitions(&a, n, pa);
            rp_event_partitions(&b, n, pb);
            rp_event_partitions(&c, n, pc);
            assert_int_equal(pa[RP_LEVEL_FINGERPRINT], pb[RP_LEVEL_FINGERPRINT]);
            assert_true(pa[RP_LEVEL_FINGERPRINT] < n);
            differ += pc[RP_LEVEL_FINGERPRINT] != pb[RP_LEVEL_FINGERPRINT];
        }
        assert_true(differ > 0); /* another header set, another key */
        rp_event ua = login("203.0.113.7", "python-requests/2.31", 0, 1);
        rp_event ub = login("192.0.2.1", "python-requests/2.31", 0, 1);
        rp_event_partitions(&ua, n, pa);
        rp_event_partitions(&ub, n, pb);
        assert_true(pa[RP_LEVEL_FINGERPRINT] < n);
        assert_int_equal(pa[RP_LEVEL_FINGERPRINT], pb[RP_LEVEL_FINGERPRINT]);
        ua.method = RP_METHOD_GET;
        rp_event_partitions(&ua, n, pa);
        assert_int_equal(pa[RP_LEVEL_FINGERPRINT], RP_PARTITION_NONE);
    }
}

/* The fleet as the edge writes it and the detectors count it: an event
 * goes to its address's stream and, once per other partition holding one
 * of its aggregate keys, to that partition's aggregate stream; each
 * engine counts what rp_partition_uncounted leaves it. Every key of
 * every event is counted by exactly one engine. */
static void test_every_key_is_counted_by_exactly_one_engine(void **state) {
    (void)state;
    uint64_t x = 88172645463325252ULL;
    for (unsigned n = 1; n <= 9; n++) {
        for (int i = 0; i < 2000; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            char ip[32];
            snprintf(ip, sizeof ip, "%u.%u.%u.9", (unsigned)(x >> 40) & 255,
                     (unsigned)(x >> 32) & 255, (unsigned)(x >> 24) & 255);
            rp_event ev = login(ip, (x & 1) ? "UA one" : "UA two", (x >> 1) & 3, (x >> 3) & 7);
            ev.token_id = (x >> 6) & 3;
            ev.session_id = (x >> 8) & 15;
            if ((x >> 12) & 1) ev.method = RP_METHOD_GET;
            uint16_t parts[RP_LEVEL_COUNT], copies[RP_PARTITION_COPIES_MAX];
            rp_event_partitions(&ev, n, parts);
            unsigned k = rp_partition_copies(parts, copies);
            assert_true(k <= (n > 1 ? n - 1 : 0));
            unsigned counted[RP_LEVEL_COUNT] = {0};
            uint8_t main_skip = rp_partition_uncounted(parts, parts[RP_LEVEL_IP], false);
            for (unsigned l = 0; l < RP_LEVEL_COUNT; l++) counted[l] += !(main_skip & (1u << l));
            for (unsigned j = 0; j < k; j++) {
                assert_true(copies[j] != parts[RP_LEVEL_IP] && copies[j] < n);
                for (unsigned m = 0; m < j; m++) assert_true(copies[m] != copies[j]);
                uint8_t skip = rp_partition_uncounted(parts, copies[j], true);
                assert_true(skip & (1u << RP_LEVEL_IP));
                assert_true(skip & (1u << RP_LEVEL_SUBNET));
                for (unsigned l = 0; l < RP_LEVEL_COUNT; l++) counted[l] += !(skip & (1u << l));
            }
            rp_key key;
            for (unsigned l = 0; l < RP_LEVEL_COUNT; l++)
                if (parts[l] != RP_PARTITION_NONE) assert_int_equal(counted[l], 1);
            /* the engine's own derivation agrees on which keys exist */
            for (unsigned l = RP_LEVEL_TOKEN; l < RP_LEVEL_COUNT; l++)
                assert_int_equal(parts[l] != RP_PARTITION_NONE,
                                 rp_event_key(&ev, (rp_key_level)l, &key));
            if (n == 1) assert_int_equal(main_skip, 0); /* one partition: everything */
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_an_address_is_in_its_24s_partition),
        cmocka_unit_test(test_an_aggregate_key_is_in_the_partition_of_its_id),
        cmocka_unit_test(test_a_fingerprint_is_whole_in_one_partition),
        cmocka_unit_test(test_every_key_is_counted_by_exactly_one_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
