/*
 * test_fleet_view.c -- the fleet view's parts that need no Redis
 * (docs/cluster.md#fleet-view): node names and their one-byte ids, the
 * hosts each recent client came through, the host byte of a record, an
 * incident's JSON with its node and hosts, and the store keeping another
 * node's incidents once each -- with hostile input at every door.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hosts.h"
#include "protocol.h"
#include "store.h"

#define SEC 1000000LL
#define T0 (1764064800LL * SEC) /* 2025-11-25T10:00:00Z */

/* ------------------------------------------------------------ names */

static void test_node_names_are_bounded_hostnames(void **state) {
    assert_true(rp_host_name_valid("edge-a", 6));
    assert_true(rp_host_name_valid("web01.eu-west.example.com", 25));
    char max[RP_HOST_NAME_MAX + 2];
    memset(max, 'n', sizeof max);
    assert_true(rp_host_name_valid(max, RP_HOST_NAME_MAX));
    assert_false(rp_host_name_valid(max, RP_HOST_NAME_MAX + 1)); /* too long */
    assert_false(rp_host_name_valid("", 0));                     /* missing */
    assert_false(rp_host_name_valid(NULL, 3));
    assert_false(rp_host_name_valid("edge a", 6));
    assert_false(rp_host_name_valid("edge-\xc3\xa9", 7)); /* UTF-8, but not a hostname */
    assert_false(rp_host_name_valid("edge-\xff", 6));     /* not UTF-8 */
    assert_false(rp_host_name_valid("a,b", 3));           /* would split the hosts column */
    assert_false(rp_host_name_valid("a\0b", 3));
}

static void test_sanitize_makes_any_hostname_a_valid_name(void **state) {
    char out[RP_HOST_NAME_MAX + 1];
    rp_host_name_sanitize("web 01/é", out);
    assert_string_equal(out, "web-01---");
    assert_true(rp_host_name_valid(out, strlen(out)));
    rp_host_name_sanitize("", out);
    assert_string_equal(out, "localhost");
    char longname[200];
    memset(longname, 'h', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    rp_host_name_sanitize(longname, out);
    assert_int_equal(strlen(out), RP_HOST_NAME_MAX);
}

/* ------------------------------------------------------------ interning */

static void test_intern_gives_stable_ids_and_self_is_zero(void **state) {
    rp_hosts *h = rp_hosts_new("det-1");
    assert_non_null(h);
    assert_int_equal(rp_hosts_intern(h, "det-1", 5), RP_HOST_SELF);
    uint8_t a = rp_hosts_intern(h, "edge-a", 6), b = rp_hosts_intern(h, "edge-b", 6);
    assert_int_equal(a, 1);
    assert_int_equal(b, 2);
    /* not NUL-terminated, as a Redis reply's field: a prefix is another name */
    assert_int_equal(rp_hosts_intern(h, "edge-a-and-more", 6), a);
    assert_int_equal(rp_hosts_intern(h, "edge-ab", 7), 3);
    assert_string_equal(rp_hosts_name(h, a), "edge-a");
    assert_string_equal(rp_hosts_name(h, RP_HOST_SELF), "det-1");
    assert_null(rp_hosts_name(h, 200)); /* never given */
    assert_null(rp_hosts_name(h, RP_HOST_UNKNOWN));
    assert_int_equal(rp_hosts_count(h), 4);
    rp_hosts_free(h);
}

static void test_intern_refuses_hostile_names_and_counts_them(void **state) {
    rp_hosts *h = rp_hosts_new("det-1");
    char big[100];
    memset(big, 'x', sizeof big);
    assert_int_equal(rp_hosts_intern(h, big, sizeof big), RP_HOST_UNKNOWN);  /* too long */
    assert_int_equal(rp_hosts_intern(h, "edge-\xff", 6), RP_HOST_UNKNOWN); /* not UTF-8 */
    assert_int_equal(rp_hosts_intern(h, NULL, 0), RP_HOST_UNKNOWN);        /* missing */
    assert_int_equal(rp_hosts_intern(h, "", 0), RP_HOST_UNKNOWN);
    assert_int_equal(rp_hosts_refused(h), 4);
    assert_int_equal(rp_hosts_count(h), 1);
    rp_hosts_free(h);
}

static void test_intern_is_bounded_at_254_names(void **state) {
    rp_hosts *h = rp_hosts_new("det-1");
    char name[16];
    for (int i = 1; i <= RP_HOSTS_MAX; i++) {
        int n = snprintf(name, sizeof name, "edge-%d", i);
        assert_int_equal(rp_hosts_intern(h, name, (size_t)n), i);
    }
    assert_int_equal(rp_hosts_intern(h, "one-too-many", 12), RP_HOST_UNKNOWN);
    assert_int_equal(rp_hosts_overflow(h), 1);
    assert_int_equal(rp_hosts_intern(h, "edge-254", 8), 254); /* known names still are */
    assert_string_equal(rp_hosts_name(h, 254), "edge-254");
    rp_hosts_free(h);
}

/* ------------------------------------------------------ recent origins */

static rp_event event_from(const char *ip, uint8_t origin, uint64_t credential) {
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(rp_addr_parse(ip, strlen(ip), &ev.client), RP_OK);
    ev.origin = origin;
    ev.credential_id = credential;
    return ev;
}

static void test_origins_gather_each_keys_hosts(void **state) {
    rp_origins *o = rp_origins_new();
    assert_non_null(o);
    rp_event e1 = event_from("198.51.100.66", 1, 0), e2 = event_from("198.51.100.66", 2, 0),
             e3 = event_from("198.51.100.67", 3, 42);
    rp_origins_note(o, &e1);
    rp_origins_note(o, &e2);
    rp_origins_note(o, &e1);
    rp_origins_note(o, &e3);
    rp_key ip, subnet, user;
    rp_key_from_addr(&ip, RP_LEVEL_IP, &e1.client);
    rp_key_from_addr(&subnet, RP_LEVEL_SUBNET, &e1.client);
    rp_key_from_id(&user, RP_LEVEL_USERNAME, 42);
    rp_host_set s = {0};
    rp_origins_get(o, &ip, &s);
    assert_int_equal(s.n, 2); /* 1 and 2, once each */
    assert_int_equal(s.ids[0], 1);
    assert_int_equal(s.ids[1], 2);
    memset(&s, 0, sizeof s);
    rp_origins_get(o, &subnet, &s); /* the /24 came through all three */
    assert_int_equal(s.n, 3);
    memset(&s, 0, sizeof s);
    rp_origins_get(o, &user, &s);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.ids[0], 3);
    rp_key other;
    rp_key_from_id(&other, RP_LEVEL_USERNAME, 43);
    memset(&s, 0, sizeof s);
    rp_origins_get(o, &other, &s);
    assert_int_equal(s.n, 0);
    rp_origins_free(o);
}

static void test_origins_keep_seven_hosts_then_say_more(void **state) {
    rp_origins *o = rp_origins_new();
    rp_event ev = event_from("203.0.113.9", 0, 0);
    for (uint8_t id = 1; id <= 9; id++) {
        ev.origin = id;
        rp_origins_note(o, &ev);
    }
    rp_key ip;
    rp_key_from_addr(&ip, RP_LEVEL_IP, &ev.client);
    rp_host_set s = {0};
    rp_origins_get(o, &ip, &s);
    assert_int_equal(s.n, RP_ORIGINS_PER_KEY);
    assert_true(s.more);
    rp_origins_free(o);
}

/* ------------------------------------------------------------ the byte */

static void test_record_carries_the_host_in_byte_5(void **state) {
    rp_event ev = event_from("192.0.2.1", 0, 0);
    ev.ts_us = T0;
    ev.path.ptr = "/x";
    ev.path.len = 2;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = rp_event_encode(&ev, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(buf[5], 0); /* the encoder writes 0 */
    rp_event out;
    rp_decode_reason why;
    rp_event_record_set_origin(buf, n, 7);
    assert_int_equal(rp_event_decode(buf, n, &out, &why), RP_OK);
    assert_int_equal(out.origin, 7);
    assert_int_equal(out.ts_us, T0); /* nothing else moved */
    rp_event_record_set_origin(buf, 3, 9); /* too short to hold it: untouched */
    assert_int_equal(buf[5], 7);
}

/* ------------------------------------------------------------ the JSON */

static rp_incident incident_of(uint64_t id, const char *ip) {
    rp_incident inc;
    memset(&inc, 0, sizeof inc);
    inc.id = id;
    rp_addr a;
    assert_int_equal(rp_addr_parse(ip, strlen(ip), &a), RP_OK);
    rp_key_from_addr(&inc.key, RP_LEVEL_IP, &a);
    inc.action = RP_ACTION_BLOCK;
    inc.score = 80;
    inc.threats = RP_THREAT_SCANNER;
    inc.offense = 1;
    inc.first_seen_us = T0;
    inc.last_seen_us = inc.decided_us = T0 + 2 * SEC;
    inc.expires_us = T0 + 902 * SEC;
    inc.requests = 3;
    snprintf(inc.route, sizeof inc.route, "GET /admin/backup-3.php");
    inc.n_findings = 1;
    inc.findings[0].detector = "scan";
    inc.findings[0].score = 0.8;
    inc.findings[0].weight = 100;
    inc.findings[0].threats = RP_THREAT_SCANNER;
    snprintf(inc.findings[0].summary, sizeof inc.findings[0].summary, "scan: 3 requests");
    inc.n_samples = 2;
    for (int i = 0; i < 2; i++) {
        inc.samples[i].ts_us = T0 + i * SEC;
        inc.samples[i].method = RP_METHOD_GET;
        inc.samples[i].status = 404;
        inc.samples[i].origin = (uint8_t)(i + 1);
        snprintf(inc.samples[i].path, sizeof inc.samples[i].path, "/admin/backup-%d.php", i);
    }
    return inc;
}

static rp_incident_fleet fleet_of(const char *node) {
    rp_incident_fleet f;
    memset(&f, 0, sizeof f);
    f.node = node;
    f.sample_host[0] = "edge-a";
    f.sample_host[1] = NULL; /* unknown */
    f.hosts[0] = "edge-a";
    f.hosts[1] = "edge-b";
    f.n_hosts = 2;
    return f;
}

static void test_incident_json_names_its_node_and_hosts(void **state) {
    rp_incident inc = incident_of(7, "198.51.100.66");
    rp_incident_fleet f = fleet_of("det-1");
    char *text = rp_incident_to_json_fleet(&inc, &f);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "node")), "det-1");
    assert_int_equal(json_integer_value(json_object_get(o, "node_incident_id")), 7);
    json_t *hosts = json_object_get(o, "hosts");
    assert_int_equal(json_array_size(hosts), 2);
    assert_string_equal(json_string_value(json_array_get(hosts, 1)), "edge-b");
    assert_true(json_is_false(json_object_get(o, "hosts_more")));
    json_t *samples = json_object_get(o, "samples");
    assert_string_equal(json_string_value(json_object_get(json_array_get(samples, 0), "host")),
                        "edge-a");
    assert_true(json_is_null(json_object_get(json_array_get(samples, 1), "host")));
    json_decref(o);
    free(text);
    /* standalone: the schema as before, no fleet fields */
    text = rp_incident_to_json(&inc);
    o = json_loads(text, 0, NULL);
    assert_null(json_object_get(o, "node"));
    assert_null(json_object_get(o, "hosts"));
    assert_null(json_object_get(json_array_get(json_object_get(o, "samples"), 0), "host"));
    json_decref(o);
    free(text);
}

/* ------------------------------------------------------------ the store */

static char dir[64], db_path[128];

static int store_setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/rp_fleet_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(db_path, sizeof db_path, "%s/rampart.db", dir);
    return 0;
}

static int store_teardown(void **state) {
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", db_path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static rp_store *open_store(void) {
    rp_store *s = NULL;
    rp_error err;
    assert_int_equal(rp_store_open(db_path, &s, &err), RP_OK);
    return s;
}

/* The JSON a detector publishes for its incident id. */
static char *published(const char *node, uint64_t id, const char *ip) {
    rp_incident inc = incident_of(id, ip);
    rp_incident_fleet f = fleet_of(node);
    return rp_incident_to_json_fleet(&inc, &f);
}

static json_t *query(rp_store *s, const char *key) {
    rp_incident_query q = {.key = key};
    char *text = NULL;
    rp_error err;
    assert_int_equal(rp_store_query_incidents(s, &q, &text, &err), RP_OK);
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    return o;
}

static void test_store_keeps_a_remote_incident_once_under_its_own_id(void **state) {
    rp_store *s = open_store();
    rp_error err;
    char *j = published("det-1", 7, "198.51.100.66");
    bool changed = false;
    assert_int_equal(rp_store_put_remote_incident(s, "det-1", j, strlen(j), &changed, &err), RP_OK);
    assert_true(changed);
    /* the same again (a restarted edge reading the stream): kept once, unwritten */
    assert_int_equal(rp_store_put_remote_incident(s, "det-1", j, strlen(j), &changed, &err), RP_OK);
    assert_false(changed);
    /* another detector's incident 7 is another incident */
    char *j2 = published("det-2", 7, "198.51.100.66");
    assert_int_equal(rp_store_put_remote_incident(s, "det-2", j2, strlen(j2), &changed, &err), RP_OK);
    json_t *o = query(s, "ip:198.51.100.66");
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 2);
    json_t *first = json_array_get(json_object_get(o, "incidents"), 1); /* same time: id order */
    json_int_t local = json_integer_value(json_object_get(first, "id"));
    assert_int_equal(local, RP_STORE_FLEET_ID_BASE);
    assert_string_equal(json_string_value(json_object_get(first, "node")), "det-1");
    assert_int_equal(json_integer_value(json_object_get(first, "node_incident_id")), 7);
    json_decref(o);
    /* the decision of det-1's incident 7 on that key links to it here */
    uint64_t ref = 0;
    char node[80];
    assert_int_equal(rp_store_incident_ref(s, "ip:198.51.100.66", 7, &ref, node, sizeof node, &err),
                     RP_OK);
    assert_int_equal(ref, (uint64_t)RP_STORE_FLEET_ID_BASE + 1); /* the newest: det-2's */
    assert_int_equal(rp_store_incident_ref(s, "ip:198.51.100.67", 7, &ref, node, sizeof node, &err),
                     RP_ENOENT);
    /* by id, as /v1/incidents/ID */
    char *one = NULL;
    assert_int_equal(rp_store_get_incident(s, (uint64_t)local, &one, &err), RP_OK);
    assert_non_null(strstr(one, "\"node\":\"det-1\""));
    free(one);
    /* this node's engine goes on from its own ids, not from 2^40 */
    uint64_t max = 99;
    assert_int_equal(rp_store_max_incident_id(s, &max, &err), RP_OK);
    assert_int_equal(max, 0);
    free(j);
    free(j2);
    rp_store_close(s);
}

static void test_store_updates_a_remote_incident_in_place(void **state) {
    rp_store *s = open_store();
    rp_error err;
    char *j = published("det-1", 3, "203.0.113.5");
    assert_int_equal(rp_store_put_remote_incident(s, "det-1", j, strlen(j), NULL, &err), RP_OK);
    free(j);
    rp_incident inc = incident_of(3, "203.0.113.5");
    inc.requests = 40; /* closed later with more requests */
    rp_incident_fleet f = fleet_of("det-1");
    j = rp_incident_to_json_fleet(&inc, &f);
    bool changed = false;
    assert_int_equal(rp_store_put_remote_incident(s, "det-1", j, strlen(j), &changed, &err), RP_OK);
    assert_true(changed);
    free(j);
    json_t *o = query(s, "ip:203.0.113.5");
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    json_t *i = json_array_get(json_object_get(o, "incidents"), 0);
    assert_int_equal(json_integer_value(json_object_get(i, "requests")), 40);
    assert_int_equal(json_integer_value(json_object_get(i, "id")), RP_STORE_FLEET_ID_BASE);
    json_decref(o);
    rp_store_close(s);
}

static void refused(rp_store *s, const char *node, const char *json, size_t len) {
    rp_error err = {0};
    assert_int_equal(rp_store_put_remote_incident(s, node, json, len, NULL, &err), RP_EPARSE);
    assert_non_null(strstr(err.message, "fleet incident refused"));
}

static void test_store_refuses_hostile_remote_incidents(void **state) {
    rp_store *s = open_store();
    char *good = published("det-1", 5, "192.0.2.44");
    refused(s, "det-1", "not json", 8);
    refused(s, "det-1", "[1,2]", 5);
    refused(s, "det-2", good, strlen(good)); /* names det-1: not the publisher's */
    refused(s, "", good, strlen(good));
    refused(s, "det-1", good, 0);
    refused(s, "det-1", good, RP_STORE_REMOTE_JSON_MAX + 1); /* too large, never parsed */
    /* each field checked */
    static const struct {
        const char *field, *value;
    } bad[] = {
        {"node_incident_id", "-1"},  {"node_incident_id", "\"7\""},
        {"node_incident_id", "1099511627776"}, /* in this store's own range */
        {"key", "\"ip:999.1.1.1\""}, {"key", "null"},          {"action", "\"explode\""},
        {"route", "3"},              {"score", "\"high\""},     {"requests", "-4"},
        {"decided_at", "\"yesterday\""}, {"first_seen", "\"2025-13-01T00:00:00.000Z\""},
        {"expires", "12"},           {"threats", "\"scanner\""}, {"findings", "{}"},
        {"hosts", "\"edge-a\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *o = json_loads(good, 0, NULL);
        json_object_set_new(o, bad[i].field, json_loads(bad[i].value, JSON_DECODE_ANY, NULL));
        char *text = json_dumps(o, JSON_COMPACT);
        refused(s, "det-1", text, strlen(text));
        free(text);
        json_decref(o);
    }
    /* a JSON with a duplicated key is refused, not read either way */
    refused(s, "det-1", "{\"node\":\"det-1\",\"node\":\"det-2\"}", 31);
    json_t *o = query(s, NULL);
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 0);
    json_decref(o);
    free(good);
    rp_store_close(s);
}

static void test_store_own_incident_carries_node_and_hosts(void **state) {
    rp_store *s = open_store();
    rp_error err;
    rp_incident inc = incident_of(12, "198.51.100.9");
    rp_incident_fleet f = fleet_of("det-1");
    assert_int_equal(rp_store_put_incident_fleet(s, &inc, &f, &err), RP_OK);
    json_t *o = query(s, "ip:198.51.100.9");
    json_t *i = json_array_get(json_object_get(o, "incidents"), 0);
    assert_int_equal(json_integer_value(json_object_get(i, "id")), 12);
    assert_string_equal(json_string_value(json_object_get(i, "node")), "det-1");
    json_decref(o);
    /* its own published copy, read back from the stream, is the same
     * (node, id): a mirror that did not skip it would update, not add */
    char *j = published("det-1", 12, "198.51.100.9");
    assert_int_equal(rp_store_put_remote_incident(s, "det-1", j, strlen(j), NULL, &err), RP_OK);
    free(j);
    o = query(s, "ip:198.51.100.9");
    assert_int_equal(json_integer_value(json_object_get(o, "total")), 1);
    json_decref(o);
    uint64_t max = 0;
    assert_int_equal(rp_store_max_incident_id(s, &max, &err), RP_OK);
    assert_int_equal(max, 12);
    rp_store_close(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_names_are_bounded_hostnames),
        cmocka_unit_test(test_sanitize_makes_any_hostname_a_valid_name),
        cmocka_unit_test(test_intern_gives_stable_ids_and_self_is_zero),
        cmocka_unit_test(test_intern_refuses_hostile_names_and_counts_them),
        cmocka_unit_test(test_intern_is_bounded_at_254_names),
        cmocka_unit_test(test_origins_gather_each_keys_hosts),
        cmocka_unit_test(test_origins_keep_seven_hosts_then_say_more),
        cmocka_unit_test(test_record_carries_the_host_in_byte_5),
        cmocka_unit_test(test_incident_json_names_its_node_and_hosts),
#define T(t) cmocka_unit_test_setup_teardown(t, store_setup, store_teardown)
        T(test_store_keeps_a_remote_incident_once_under_its_own_id),
        T(test_store_updates_a_remote_incident_in_place),
        T(test_store_refuses_hostile_remote_incidents),
        T(test_store_own_incident_carries_node_and_hosts),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
