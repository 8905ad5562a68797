/* test_fleet_config.c -- configuration as code for a fleet: what a node
 * takes from the fleet's file and what stays its own (rp_config_merge_fleet),
 * how a fleet file is checked, which versions a node refuses
 * (rp_fleet_judge), the copy kept beside the store, and hostile text.
 * docs/cluster.md#configuration-as-code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cluster.h"
#include "config.h"
#include "sha256.h"
#include "ui.h"

/* The binary embeds the dashboard (build/gen/ui_assets.c); the daemon's
 * code linked here through the fleet's start needs the symbols only. */
const rp_ui_asset rp_ui_assets[1];
const size_t rp_ui_asset_count = 0;

static rp_config *parse(const char *text) {
    rp_config *c = NULL;
    rp_error err = {0};
    rp_status st = rp_config_parse(text, strlen(text), "node.yaml", &c, &err);
    if (st != RP_OK) fprintf(stderr, "%s:%d:%d: %s\n", err.file, err.line, err.col, err.message);
    assert_int_equal(st, RP_OK);
    return c;
}

static rp_config *parse_fleet(const char *text) {
    rp_config *c = NULL;
    rp_error err = {0};
    rp_status st = rp_config_parse_fleet(text, strlen(text), "fleet config v3",
                                         "/etc/rampart/node.yaml", &c, &err);
    if (st != RP_OK) fprintf(stderr, "%d:%d: %s\n", err.line, err.col, err.message);
    assert_int_equal(st, RP_OK);
    return c;
}

static int scan_index(void) { return rp_detector_find("scan", 4); }

static const char NODE[] = "allow:\n"
                           "  cidrs: [10.0.0.0/8]\n"
                           "profiles:\n"
                           "  default:\n"
                           "    detectors:\n"
                           "      scan: { min_requests_10m: 30 }\n"
                           "serve:\n"
                           "  socket: /run/node/events.sock\n"
                           "  store: /var/lib/node/rampart.db\n"
                           "  admin: 127.0.0.1:9191\n"
                           "cluster:\n"
                           "  role: detector\n"
                           "  redis: 10.0.0.5:6379\n"
                           "  consumer: node-1\n"
                           "  partitions: 4\n"
                           "  stream: node:events\n";

static const char FLEET[] = "profiles:\n"
                            "  default:\n"
                            "    detectors:\n"
                            "      scan: { min_requests_10m: 5, max_missing_paths_10m: 3 }\n"
                            "  strict:\n"
                            "    tolerance: high\n"
                            "routes:\n"
                            "  - { match: \"POST /login\", profile: strict }\n"
                            "serve:\n"
                            "  socket: /tmp/evil.sock\n"
                            "  store: /tmp/evil.db\n"
                            "  admin: 0.0.0.0:80\n"
                            "cluster:\n"
                            "  role: edge\n"
                            "  redis: 203.0.113.9:6379\n"
                            "  consumer: evil\n"
                            "  config_key: evil:config\n"
                            "  stream: fleet:events\n"
                            "  lease_ms: 3000\n"
                            "  incidents_maxlen: 5000\n"
                            "  node: evil-node\n";

static void test_merge_takes_the_policy_from_the_fleet_and_node_keys_from_the_node(void **state) {
    (void)state;
    rp_config *node = parse(NODE), *fleet = parse_fleet(FLEET);
    rp_config *m = rp_config_merge_fleet(node, fleet);
    assert_non_null(m);
    /* the policy is the fleet's */
    assert_int_equal(m->n_profiles, 2);
    assert_string_equal(m->profiles[1].name, "strict");
    assert_true(m->profiles[0].detectors[scan_index()].params[0] == 5);
    assert_int_equal(m->n_rules, 1);
    /* serve: is the node's, whole */
    assert_string_equal(m->serve.socket_path, "/run/node/events.sock");
    assert_string_equal(m->serve.store_path, "/var/lib/node/rampart.db");
    assert_string_equal(m->serve.admin_listen, "127.0.0.1:9191");
    /* cluster: node-local keys stay, fleet keys the fleet names are its */
    assert_int_equal(m->cluster.role, RP_CLUSTER_DETECTOR);
    assert_string_equal(m->cluster.redis, "10.0.0.5:6379");
    assert_string_equal(m->cluster.consumer, "node-1");
    assert_string_equal(m->cluster.config_key, "rampart:config");
    assert_string_equal(m->cluster.stream, "fleet:events");
    assert_int_equal(m->cluster.lease_ms, 3000);
    assert_int_equal(m->cluster.incidents_maxlen, 5000);
    assert_string_equal(m->cluster.node, "");
    /* a fleet key the fleet's file leaves out stays the node's */
    assert_int_equal(m->cluster.partitions, 4);
    assert_string_equal(m->source, "fleet config v3");
    rp_config_free(m);
    rp_config_free(node);
    rp_config_free(fleet);
}

static void test_merge_replaces_a_policy_section_whole(void **state) {
    (void)state;
    /* the node allowlists 10/8; the fleet's file has no allow: section */
    rp_config *node = parse(NODE), *fleet = parse_fleet("cluster: {}\n");
    rp_config *m = rp_config_merge_fleet(node, fleet);
    assert_int_equal(node->n_allow_cidrs, 1);
    assert_int_equal(m->n_allow_cidrs, 0);
    assert_true(m->profiles[0].detectors[scan_index()].params[0] == 20); /* the preset */
    assert_int_equal(m->cluster.partitions, 4);
    assert_string_equal(m->cluster.stream, "node:events");
    rp_config_free(m);
    rp_config_free(node);
    rp_config_free(fleet);
}

static void test_merge_keeps_declared_routes_of_the_fleet_only(void **state) {
    (void)state;
    rp_config *node = parse("inventory:\n  routes:\n    - path: /node-only\n");
    rp_config *fleet = parse_fleet("inventory:\n  routes:\n    - { method: GET, path: \"/users/{uid}\" }\n"
                                   "    - { path: /health, class: health }\ncluster: {}\n");
    rp_config *m = rp_config_merge_fleet(node, fleet);
    assert_int_equal(m->n_declared, 2);
    assert_string_equal(m->declared[0].template_, "/users/{id}");
    assert_string_equal(m->declared[1].template_, "/health");
    rp_config_free(m);
    rp_config_free(node);
    rp_config_free(fleet);
}

typedef struct seen {
    int errors, warnings;
    char first_error[300], warning_lines[64];
} seen;

static void on_error(void *user, const rp_error *e) {
    seen *s = user;
    if (!s->errors++) snprintf(s->first_error, sizeof s->first_error, "%d:%d: %s", e->line,
                               e->col, e->message);
}

static void on_warning(void *user, const rp_error *e) {
    seen *s = user;
    size_t o = strlen(s->warning_lines);
    snprintf(s->warning_lines + o, sizeof s->warning_lines - o, "%s%d", o ? "," : "", e->line);
    s->warnings++;
}

static void test_a_fleet_file_warns_about_each_node_local_key(void **state) {
    (void)state;
    seen s = {0};
    assert_int_equal(rp_config_check_fleet(FLEET, strlen(FLEET), "fleet.yaml", on_error,
                                           on_warning, &s),
                     RP_OK);
    assert_int_equal(s.errors, 0);
    /* serve: (line 9), cluster role, redis, consumer, config_key (14-17), node (21) */
    assert_string_equal(s.warning_lines, "9,14,15,16,17,21");
    /* the same file as a node's own: no warnings (nobody asks) */
    seen plain = {0};
    assert_int_equal(rp_config_check(FLEET, strlen(FLEET), "fleet.yaml", on_error, &plain), RP_OK);
}

static void test_a_fleet_file_needs_a_cluster_section(void **state) {
    (void)state;
    const char *text = "profiles:\n  default:\n    tolerance: high\n";
    seen s = {0};
    assert_int_equal(rp_config_check_fleet(text, strlen(text), "f.yaml", on_error, on_warning, &s),
                     RP_EINVAL);
    assert_int_equal(s.errors, 1);
    assert_non_null(strstr(s.first_error, "needs a cluster: section"));
    seen empty = {0};
    assert_int_equal(rp_config_check_fleet("", 0, "f.yaml", on_error, on_warning, &empty), RP_EINVAL);
    seen ok = {0};
    assert_int_equal(rp_config_check_fleet("cluster: {}\n", 12, "f.yaml", on_error, on_warning, &ok),
                     RP_OK);
}

static void test_a_fleet_file_has_check_configs_errors(void **state) {
    (void)state;
    const char *text = "profiles:\n  default:\n    detectors:\n      scan: { max_missing_paths_10m: -3 }\n"
                       "cluster: {}\n";
    seen fleet = {0}, plain = {0};
    assert_int_equal(rp_config_check_fleet(text, strlen(text), "f.yaml", on_error, on_warning, &fleet),
                     RP_EINVAL);
    assert_int_equal(rp_config_check(text, strlen(text), "f.yaml", on_error, &plain), RP_EINVAL);
    assert_int_equal(fleet.errors, 1);
    assert_string_equal(fleet.first_error, plain.first_error);
    assert_non_null(strstr(fleet.first_error, "4:38: max_missing_paths_10m must be a number"));
}

static void test_a_fleet_file_resolves_paths_against_the_nodes_file(void **state) {
    (void)state;
    rp_config *c = parse_fleet("inventory: { openapi: spec.yaml }\ncluster: {}\n");
    assert_string_equal(c->openapi_path, "/etc/rampart/spec.yaml");
    rp_config_free(c);
}

static void test_judge_refuses_a_version_going_backwards(void **state) {
    (void)state;
    const char *a = "aaaa", *b = "bbbb";
    assert_int_equal(rp_fleet_judge(0, "", 1, a, 10), RP_FLEET_APPLY);
    assert_int_equal(rp_fleet_judge(7, a, 8, b, 10), RP_FLEET_APPLY);
    assert_int_equal(rp_fleet_judge(7, a, 7, a, 10), RP_FLEET_CURRENT);
    assert_int_equal(rp_fleet_judge(7, a, 6, b, 10), RP_FLEET_OLDER);
    assert_int_equal(rp_fleet_judge(7, a, 6, a, 10), RP_FLEET_OLDER);
    assert_int_equal(rp_fleet_judge(7, a, 7, b, 10), RP_FLEET_CONFLICT);
    assert_int_equal(rp_fleet_judge(7, a, 9, b, RP_FLEET_CONFIG_MAX), RP_FLEET_APPLY);
    assert_int_equal(rp_fleet_judge(7, a, 9, b, RP_FLEET_CONFIG_MAX + 1), RP_FLEET_TOO_LARGE);
    assert_int_equal(rp_fleet_judge(7, a, 9, b, UINT64_MAX), RP_FLEET_TOO_LARGE);
}

static void test_binary_garbage_is_an_error_not_a_crash(void **state) {
    (void)state;
    unsigned char buf[4096];
    uint32_t x = 12345;
    for (int round = 0; round < 50; round++) {
        for (size_t i = 0; i < sizeof buf; i++) {
            x = x * 1103515245u + 12345u;
            buf[i] = (unsigned char)(x >> 16);
        }
        rp_config *c = NULL;
        rp_error err = {0};
        rp_status st = rp_config_parse_fleet((const char *)buf, sizeof buf, "fleet config v2", NULL,
                                             &c, &err);
        assert_int_equal(st, RP_EINVAL);
        assert_null(c);
        assert_true(err.message[0] != 0);
    }
}

static void test_a_huge_or_deep_text_is_refused_quickly(void **state) {
    (void)state;
    /* 2 MiB: 100,000 unknown top-level keys; and 10,000 nested lists */
    size_t n = 100000, cap = n * 24 + 64, o = 0;
    char *big = malloc(cap);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++) o += (size_t)snprintf(big + o, cap - o, "key_%08zu: value\n", i);
    rp_config *c = NULL;
    rp_error err = {0};
    assert_int_equal(rp_config_parse_fleet(big, o, "fleet config v2", NULL, &c, &err), RP_EINVAL);
    assert_non_null(strstr(err.message, "too many keys"));
    o = 0;
    for (size_t i = 0; i < 10000; i++) big[o++] = '[';
    assert_int_equal(rp_config_parse_fleet(big, o, "fleet config v2", NULL, &c, &err), RP_EINVAL);
    assert_non_null(strstr(err.message, "nesting deeper"));
    free(big);
}

static void test_sha256_is_sha256sums_figure(void **state) {
    (void)state;
    char out[RP_SHA256_HEX];
    rp_sha256_hex("", 0, out);
    assert_string_equal(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    rp_sha256_hex("abc", 3, out);
    assert_string_equal(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    /* 56 bytes: the length no longer fits the first block */
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    rp_sha256_hex(two, strlen(two), out);
    assert_string_equal(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    char *million = malloc(1000000);
    memset(million, 'a', 1000000);
    rp_sha256_hex(million, 1000000, out);
    assert_string_equal(out, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(million);
}

/* A node whose Redis is unreachable at start (nothing listens on port 1)
 * starts with the copy kept beside its store; a damaged copy is not used. */
static void write_copy(const char *path, const char *yaml, const char *sha, const char *key) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"format\":1,\"version\":5,\"sha256\":\"%s\",\"by\":\"ci@test\",\"at\":1,"
               "\"key\":\"%s\"}\n%s", sha, key, yaml);
    fclose(f);
}

static void test_an_unreachable_redis_starts_from_the_kept_copy(void **state) {
    (void)state;
    char dir[] = "/tmp/rp-fleet-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char store[64], copy[80];
    snprintf(store, sizeof store, "%s/r.db", dir);
    snprintf(copy, sizeof copy, "%s.fleet", store);
    const char *node_text = "cluster: { role: detector, redis: 127.0.0.1:1, consumer: t1 }\n";
    const char *yaml = "profiles:\n  default:\n    tolerance: high\ncluster: {}\n";
    char sha[RP_SHA256_HEX];
    rp_sha256_hex(yaml, strlen(yaml), sha);

    write_copy(copy, yaml, sha, "rampart:config");
    rp_config *c = parse(node_text);
    rp_fleet *f = NULL;
    rp_error err = {0};
    assert_int_equal(rp_fleet_start(NULL, NULL, store, &c, &f, &err), RP_OK);
    assert_non_null(f);
    assert_int_equal(rp_fleet_applied_version(f), 5);
    assert_int_equal(c->profiles[0].tolerance, RP_TOLERANCE_HIGH);
    assert_int_equal(c->cluster.role, RP_CLUSTER_DETECTOR); /* still the node's */
    rp_fleet_free(f);
    rp_config_free(c);

    /* damaged: the text no longer matches its hash */
    write_copy(copy, "profiles: {}\ncluster: {}\n", sha, "rampart:config");
    c = parse(node_text);
    assert_int_equal(rp_fleet_start(NULL, NULL, store, &c, &f, &err), RP_OK);
    assert_int_equal(rp_fleet_applied_version(f), 0);
    assert_int_equal(c->profiles[0].tolerance, RP_TOLERANCE_NORMAL);
    rp_fleet_free(f);
    rp_config_free(c);

    /* another fleet's key: not ours */
    write_copy(copy, yaml, sha, "other:config");
    c = parse(node_text);
    assert_int_equal(rp_fleet_start(NULL, NULL, store, &c, &f, &err), RP_OK);
    assert_int_equal(rp_fleet_applied_version(f), 0);
    rp_fleet_free(f);
    rp_config_free(c);

    /* standalone: no fleet at all */
    c = parse("serve: { socket: /tmp/x.sock }\n");
    assert_int_equal(rp_fleet_start(NULL, NULL, store, &c, &f, &err), RP_OK);
    assert_null(f);
    rp_config_free(c);
    unlink(copy);
    rmdir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_takes_the_policy_from_the_fleet_and_node_keys_from_the_node),
        cmocka_unit_test(test_merge_replaces_a_policy_section_whole),
        cmocka_unit_test(test_merge_keeps_declared_routes_of_the_fleet_only),
        cmocka_unit_test(test_a_fleet_file_warns_about_each_node_local_key),
        cmocka_unit_test(test_a_fleet_file_needs_a_cluster_section),
        cmocka_unit_test(test_a_fleet_file_has_check_configs_errors),
        cmocka_unit_test(test_a_fleet_file_resolves_paths_against_the_nodes_file),
        cmocka_unit_test(test_judge_refuses_a_version_going_backwards),
        cmocka_unit_test(test_binary_garbage_is_an_error_not_a_crash),
        cmocka_unit_test(test_a_huge_or_deep_text_is_refused_quickly),
        cmocka_unit_test(test_sha256_is_sha256sums_figure),
        cmocka_unit_test(test_an_unreachable_redis_starts_from_the_kept_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
