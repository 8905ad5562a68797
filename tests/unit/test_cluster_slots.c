/*
 * test_cluster_slots.c -- Redis Cluster support (docs/cluster.md#redis-
 * cluster): the key slot (CRC16-XMODEM mod 16384 with the hash-tag
 * rule), the one-slot rule of the fleet's keys, the cluster section's
 * validation (redis_cluster, the Sentinel AUTH keys), and the parsing of
 * CLUSTER SLOTS replies, hostile ones included.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "config.h"

static unsigned slot_of(const char *key) { return rp_redis_keyslot(key, strlen(key)); }

/* The specification's CRC16 check value, its hash-tag examples, and
 * values redis-server 7.0's CLUSTER KEYSLOT gave (the e2e test compares
 * the daemon's slot with it on a live cluster too). */
static void test_keyslot_matches_the_specification_and_redis(void **state) {
    (void)state;
    assert_int_equal(slot_of("123456789"), 0x31C3 % 16384); /* CRC16-XMODEM check: 0x31C3 */
    assert_int_equal(slot_of("123456789"), 12739);
    assert_int_equal(slot_of("foo"), 12182);
    assert_int_equal(slot_of("bar"), 5061);
    assert_int_equal(slot_of("hello"), 866);
    assert_int_equal(slot_of(""), 0);
    assert_int_equal(slot_of("rampart:events"), 5671);
    assert_int_equal(slot_of("rampart:decisions"), 14992);
    assert_int_equal(slot_of("{rampart}"), 14490);
    assert_int_equal(slot_of("{rampart}:events"), 14490);
    /* hash tags: the bytes between the first '{' and the next '}' */
    assert_int_equal(slot_of("{user1000}.following"), 3443);
    assert_int_equal(slot_of("{user1000}.followers"), 3443);
    assert_int_equal(slot_of("foo{bar}{zap}"), slot_of("bar"));
    assert_int_equal(slot_of("foo{{bar}}zap"), slot_of("{bar")); /* "{bar" is the tag */
    assert_int_equal(slot_of("foo{{bar}}zap"), 4015);
    assert_int_equal(slot_of("foo{}{bar}"), 8363); /* empty tag: the whole key */
    assert_int_equal(slot_of("{}"), 15257);
    assert_int_equal(slot_of("a{b}"), 3300);
    assert_int_equal(slot_of("x{"), 3596); /* no '}': the whole key */
    assert_int_equal(slot_of("}{"), 12793);
    /* binary-safe: the length, not a NUL, ends the key */
    assert_int_equal(rp_redis_keyslot("foo\0bar", 3), 12182);
    for (unsigned i = 0; i < 1000; i++) {
        char k[32];
        snprintf(k, sizeof k, "key:%u", i);
        assert_true(slot_of(k) < RP_REDIS_SLOTS);
    }
}

static void test_one_slot_rule_covers_every_key_name(void **state) {
    (void)state;
    rp_cluster_config cl;
    memset(&cl, 0, sizeof cl);
    cl.partitions = 1;
    char why[400];
    unsigned slot = 0;
    snprintf(cl.stream, sizeof cl.stream, "{rampart}:events");
    snprintf(cl.decisions, sizeof cl.decisions, "{rampart}:decisions");
    assert_true(rp_cluster_one_slot(&cl, &slot, why, sizeof why));
    assert_int_equal(slot, 14490);
    cl.partitions = 256; /* {rampart}:events:255:lease too */
    assert_true(rp_cluster_one_slot(&cl, &slot, why, sizeof why));
    /* the untagged defaults are in two slots */
    snprintf(cl.stream, sizeof cl.stream, "rampart:events");
    snprintf(cl.decisions, sizeof cl.decisions, "rampart:decisions");
    assert_false(rp_cluster_one_slot(&cl, &slot, why, sizeof why));
    assert_non_null(strstr(why, "'rampart:decisions' is in slot 14992"));
    /* one tag, another tag */
    snprintf(cl.stream, sizeof cl.stream, "{a}:events");
    snprintf(cl.decisions, sizeof cl.decisions, "{b}:decisions");
    assert_false(rp_cluster_one_slot(&cl, NULL, why, sizeof why));
    /* an unclosed brace: the whole name is hashed, so its suffixes differ */
    snprintf(cl.stream, sizeof cl.stream, "{x");
    snprintf(cl.decisions, sizeof cl.decisions, "{x");
    cl.partitions = 1;
    assert_false(rp_cluster_one_slot(&cl, NULL, why, sizeof why));
    assert_non_null(strstr(why, "'{x:expiry'"));
    /* same tag anywhere in the name */
    snprintf(cl.stream, sizeof cl.stream, "fleet:{t}:events");
    snprintf(cl.decisions, sizeof cl.decisions, "{t}");
    cl.partitions = 4;
    assert_true(rp_cluster_one_slot(&cl, &slot, why, sizeof why));
    assert_int_equal(slot, slot_of("t"));
}

/* ------------------------------------------------------------ config */

static rp_config *parse(const char *text, char *message, size_t size) {
    rp_config *c = NULL;
    rp_error err;
    memset(&err, 0, sizeof err);
    rp_status st = rp_config_parse(text, strlen(text), "t.yaml", &c, &err);
    snprintf(message, size, "%s", st == RP_OK ? "" : err.message);
    return c;
}

static void expect_refused(const char *text, const char *part) {
    char msg[1024];
    rp_config *c = parse(text, msg, sizeof msg);
    if (c) {
        rp_config_free(c);
        fail_msg("accepted: %s", text);
    }
    if (!strstr(msg, part)) fail_msg("'%s' does not say '%s'", msg, part);
}

static void test_redis_cluster_config(void **state) {
    (void)state;
    char msg[1024];
    rp_config *c = parse("cluster:\n  role: edge\n  redis_cluster: [10.0.0.1:7000, "
                         "'[2001:db8::1]:7001', redis-a.internal:7002]\n",
                         msg, sizeof msg);
    if (!c) fail_msg("%s", msg);
    assert_int_equal(c->cluster.n_cluster_nodes, 3);
    assert_string_equal(c->cluster.cluster_nodes[0], "10.0.0.1:7000");
    assert_string_equal(c->cluster.cluster_nodes[1], "[2001:db8::1]:7001");
    assert_string_equal(c->cluster.cluster_nodes[2], "redis-a.internal:7002");
    /* the defaults become hash-tagged, and a failover must keep the
     * last decisions: WAIT 1 by default as with Sentinel */
    assert_string_equal(c->cluster.stream, "{rampart}:events");
    assert_string_equal(c->cluster.decisions, "{rampart}:decisions");
    assert_int_equal(c->cluster.wait_replicas, 1);
    rp_config_free(c);
    /* names given are kept when they share a slot */
    c = parse("cluster:\n  role: detector\n  redis_cluster: [10.0.0.1:7000]\n"
              "  stream: 'fleet:{f}:events'\n  decisions: '{f}:decisions'\n  partitions: 8\n"
              "  wait_replicas: 0\n",
              msg, sizeof msg);
    if (!c) fail_msg("%s", msg);
    assert_string_equal(c->cluster.stream, "fleet:{f}:events");
    assert_int_equal(c->cluster.wait_replicas, 0);
    rp_config_free(c);
    expect_refused("cluster:\n  redis_cluster: [10.0.0.1:7000]\n  stream: fleet:events\n",
                   "every key of the fleet must hash to one slot");
    expect_refused("cluster:\n  redis_cluster: [10.0.0.1:7000]\n  stream: '{a}:e'\n"
                   "  decisions: '{b}:d'\n",
                   "'{b}:d' is in slot");
    expect_refused("cluster:\n  redis_cluster: [10.0.0.1:7000]\n  redis: 10.0.0.1:6379\n",
                   "exclusive");
    expect_refused("cluster:\n  redis_cluster: [10.0.0.1:7000]\n  sentinels: [10.0.0.1:26379]\n",
                   "exclusive");
    expect_refused("cluster:\n  redis_cluster: [/run/redis.sock]\n", "host:port");
    expect_refused("cluster:\n  redis_cluster: [10.0.0.1]\n", "host:port");
    expect_refused("cluster:\n  redis_cluster: [10.0.0.1:0]\n", "host:port");
    expect_refused("cluster:\n  redis_cluster: 10.0.0.1:7000\n", "redis_cluster");
    expect_refused("cluster:\n  redis_cluster: [a:1, a:2, a:3, a:4, a:5, a:6, a:7, a:8, a:9, "
                   "a:10, a:11, a:12, a:13, a:14, a:15, a:16, a:17]\n",
                   "at most 16");
    expect_refused("cluster:\n  role: edge\n", "cluster.redis_cluster");
}

static void test_sentinel_auth_config(void **state) {
    (void)state;
    char msg[1024];
    rp_config *c = parse("cluster:\n  role: edge\n  sentinels: [10.0.0.1:26379]\n"
                         "  sentinel_user: watcher\n  sentinel_password_file: /etc/s.pass\n",
                         msg, sizeof msg);
    if (!c) fail_msg("%s", msg);
    assert_string_equal(c->cluster.sentinel_user, "watcher");
    assert_string_equal(c->cluster.sentinel_password_file, "/etc/s.pass");
    rp_config_free(c);
    expect_refused("cluster:\n  sentinels: [10.0.0.1:26379]\n  sentinel_user: watcher\n",
                   "sentinel_user watcher needs cluster.sentinel_password_file");
    expect_refused("cluster:\n  redis: 10.0.0.1:6379\n  sentinel_password_file: /etc/s.pass\n",
                   "sentinel_password_file needs cluster.sentinels");
    expect_refused("cluster:\n  sentinels: [10.0.0.1:26379]\n  sentinel_user: 'a b'\n",
                   "sentinel_user must be a Redis name");
}

/* ------------------------------------------------------ CLUSTER SLOTS */

/* A reply as hiredis builds it from the bytes a node sent. */
static redisReply *reply_of(const char *resp, size_t len) {
    redisReader *r = redisReaderCreate();
    assert_non_null(r);
    assert_int_equal(redisReaderFeed(r, resp, len), REDIS_OK);
    void *out = NULL;
    assert_int_equal(redisReaderGetReply(r, &out), REDIS_OK);
    redisReaderFree(r);
    assert_non_null(out);
    return out;
}

static bool parse_slots(const char *resp, unsigned slot, rp_slot_map *m, char *why) {
    redisReply *r = reply_of(resp, strlen(resp));
    bool ok = rp_cluster_parse_slots(r, slot, "10.0.0.9:7000", m, why, 300);
    freeReplyObject(r);
    return ok;
}

/* Three masters with a replica each, as Redis 7 answers (id, then a map
 * of metadata it may add). */
static const char three_masters[] =
    "*3\r\n"
    "*4\r\n:0\r\n:5460\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$4\r\nid-a\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$4\r\nid-d\r\n"
    "*4\r\n:5461\r\n:10922\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$4\r\nid-b\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7004\r\n$4\r\nid-e\r\n"
    "*4\r\n:10923\r\n:16383\r\n"
    "*4\r\n$8\r\n2001:db8\r\n:7002\r\n$4\r\nid-c\r\n*0\r\n"
    "*3\r\n$0\r\n\r\n:7005\r\n$4\r\nid-f\r\n";

static void test_slot_map_of_a_healthy_cluster(void **state) {
    (void)state;
    rp_slot_map *m = malloc(sizeof *m);
    char why[300];
    assert_true(parse_slots(three_masters, 14490, m, why));
    assert_string_equal(m->owner, "[2001:db8]:7002"); /* an IPv6 host gets brackets */
    assert_int_equal(m->skipped, 0);
    assert_int_equal(m->n_nodes, 6);
    /* masters first */
    assert_string_equal(m->nodes[0], "127.0.0.1:7000");
    assert_string_equal(m->nodes[1], "127.0.0.1:7001");
    assert_string_equal(m->nodes[2], "[2001:db8]:7002");
    /* "" is the node that was asked */
    assert_string_equal(m->nodes[5], "10.0.0.9:7005");
    assert_true(parse_slots(three_masters, 0, m, why));
    assert_string_equal(m->owner, "127.0.0.1:7000");
    assert_true(parse_slots(three_masters, 10922, m, why));
    assert_string_equal(m->owner, "127.0.0.1:7001");
    free(m);
}

static void test_slot_map_hostile_replies(void **state) {
    (void)state;
    rp_slot_map *m = malloc(sizeof *m);
    char why[300];
    /* not an array, an error, empty */
    assert_false(parse_slots("+OK\r\n", 1, m, why));
    assert_non_null(strstr(why, "not an array"));
    assert_false(parse_slots("-ERR This instance has cluster support disabled\r\n", 1, m, why));
    assert_non_null(strstr(why, "cluster support disabled"));
    assert_false(parse_slots("*0\r\n", 1, m, why));
    assert_non_null(strstr(why, "no usable master serves slot 1"));
    assert_false(parse_slots("$-1\r\n", 1, m, why));
    /* a range that does not cover the slot */
    assert_false(parse_slots("*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$1\r\na\r\n:1\r\n", 11, m, why));
    /* wrong types: strings for slots, a string port, a port out of range,
     * a host with a space, "?" (unknown endpoint), a bare integer node,
     * an inverted range, a range past the last slot, a negative start */
    static const char *const bad[] = {
        "*1\r\n*3\r\n$1\r\n0\r\n:10\r\n*2\r\n$1\r\na\r\n:1\r\n",
        "*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$1\r\na\r\n$4\r\n7000\r\n",
        "*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$1\r\na\r\n:70000\r\n",
        "*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$1\r\na\r\n:0\r\n",
        "*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$3\r\na b\r\n:1\r\n",
        "*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$1\r\n?\r\n:1\r\n",
        "*1\r\n*3\r\n:0\r\n:10\r\n:5\r\n",
        "*1\r\n*3\r\n:10\r\n:0\r\n*2\r\n$1\r\na\r\n:1\r\n",
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$1\r\na\r\n:1\r\n",
        "*1\r\n*3\r\n:-1\r\n:10\r\n*2\r\n$1\r\na\r\n:1\r\n",
        "*1\r\n*2\r\n:0\r\n:10\r\n",
        "*1\r\n*3\r\n:0\r\n:10\r\n*1\r\n$1\r\na\r\n",
        "*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$-1\r\n:1\r\n",
        "*1\r\n$5\r\nhello\r\n",
        "*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$9\r\n[::1]:7/x\r\n:1\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (parse_slots(bad[i], 5, m, why)) fail_msg("accepted hostile reply %zu", i);
        assert_true(m->skipped >= 1);
    }
    /* a malformed range next to a good one: the good one is used */
    assert_true(parse_slots("*2\r\n*3\r\n:0\r\n:10\r\n:5\r\n"
                            "*3\r\n:0\r\n:10\r\n*2\r\n$1\r\nb\r\n:2\r\n",
                            5, m, why));
    assert_string_equal(m->owner, "b:2");
    assert_int_equal(m->skipped, 1);
    /* a host longer than any address */
    char *big = malloc(4096);
    int n = snprintf(big, 4096, "*1\r\n*3\r\n:0\r\n:10\r\n*2\r\n$300\r\n%0300d\r\n:1\r\n", 0);
    assert_true(n > 0 && n < 4096);
    assert_false(parse_slots(big, 5, m, why));
    free(big);
    free(m);
}

/* Huge: 16384 one-slot ranges, each with its own master and 3 replicas
 * (65,536 nodes): the walk finds the owner, the nodes kept are bounded. */
static void test_slot_map_huge_reply(void **state) {
    (void)state;
    size_t cap = 16384 * 4 * 48 + 64, len = 0;
    char *resp = malloc(cap);
    assert_non_null(resp);
    len += (size_t)snprintf(resp + len, cap - len, "*16384\r\n");
    for (unsigned s = 0; s < 16384; s++) {
        len += (size_t)snprintf(resp + len, cap - len, "*6\r\n:%u\r\n:%u\r\n", s, s);
        for (unsigned k = 0; k < 4; k++)
            len += (size_t)snprintf(resp + len, cap - len, "*2\r\n$8\r\nn%07u\r\n:%u\r\n",
                                    s * 4 + k, 1000 + k);
    }
    assert_true(len < cap);
    redisReply *r = reply_of(resp, len);
    rp_slot_map *m = malloc(sizeof *m);
    char why[300];
    assert_true(rp_cluster_parse_slots(r, 14490, "x:1", m, why, sizeof why));
    char want[32];
    snprintf(want, sizeof want, "n%07u:1000", 14490u * 4);
    assert_string_equal(m->owner, want);
    assert_int_equal(m->n_nodes, RP_CLUSTER_MAX_NODES);
    assert_int_equal(m->skipped, 0);
    freeReplyObject(r);
    free(m);
    free(resp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyslot_matches_the_specification_and_redis),
        cmocka_unit_test(test_one_slot_rule_covers_every_key_name),
        cmocka_unit_test(test_redis_cluster_config),
        cmocka_unit_test(test_sentinel_auth_config),
        cmocka_unit_test(test_slot_map_of_a_healthy_cluster),
        cmocka_unit_test(test_slot_map_hostile_replies),
        cmocka_unit_test(test_slot_map_huge_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
