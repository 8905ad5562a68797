/*
 * test_config.c -- defaults, the YAML reader (values and every kind of
 * mistake, with exact line:col), CIDRs, clones and the OpenAPI import.
 *
 * Error locations are given in the tests as a marker: the first place the
 * marker text occurs in the document is where the error must point.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* ---------------------------------------------------------------- helpers */

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = malloc(1 << 20);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = 0;
    fclose(f);
    return buf;
}

static rp_config *parse_ok(const char *text) {
    rp_config *c = NULL;
    rp_error err;
    memset(&err, 0, sizeof err);
    rp_status st = rp_config_parse(text, strlen(text), "t.yaml", &c, &err);
    if (st != RP_OK) fail_msg("unexpected error: %d:%d: %s", err.line, err.col, err.message);
    assert_non_null(c);
    return c;
}

/* The 1-based line and column of the first occurrence of marker. */
static void locate(const char *text, const char *marker, int *line, int *col) {
    const char *at = strstr(text, marker);
    assert_non_null(at);
    *line = 1;
    const char *bol = text;
    for (const char *p = text; p < at; p++)
        if (*p == '\n') {
            (*line)++;
            bol = p + 1;
        }
    *col = (int)(at - bol) + 1;
}

static void expect_error(const char *text, const char *marker, const char *message) {
    rp_config *c = (rp_config *)1;
    rp_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(rp_config_parse(text, strlen(text), "t.yaml", &c, &err), RP_EINVAL);
    assert_null(c);
    int line, col;
    locate(text, marker, &line, &col);
    assert_string_equal(err.message, message);
    assert_string_equal(err.file, "t.yaml");
    assert_int_equal(err.line, line);
    assert_int_equal(err.col, col);
}

static void assert_serve_equal(const rp_serve_config *a, const rp_serve_config *b) {
    assert_string_equal(a->socket_path, b->socket_path);
    assert_string_equal(a->syslog_listen, b->syslog_listen);
    assert_int_equal(a->n_tail, b->n_tail);
    for (int i = 0; i < a->n_tail && i < 4; i++) assert_string_equal(a->tail[i], b->tail[i]);
    assert_int_equal(a->tail_from_start, b->tail_from_start);
    assert_string_equal(a->tail_format, b->tail_format);
    assert_int_equal(a->n_admin_hosts, b->n_admin_hosts);
    assert_int_equal(a->admin_connections, b->admin_connections);
    assert_int_equal(a->admin_per_address, b->admin_per_address);
    assert_int_equal(a->admin_request_timeout_us, b->admin_request_timeout_us);
    assert_string_equal(a->check_listen, b->check_listen);
    assert_int_equal(a->n_check_proxies, b->n_check_proxies);
    assert_memory_equal(a->check_proxies, b->check_proxies, sizeof a->check_proxies);
    assert_int_equal(a->check_real_ip, b->check_real_ip);
    assert_string_equal(a->table_path, b->table_path);
    assert_int_equal(a->table_capacity, b->table_capacity);
    assert_string_equal(a->store_path, b->store_path);
    assert_string_equal(a->admin_listen, b->admin_listen);
    assert_string_equal(a->token_file, b->token_file);
    assert_int_equal(a->queue_bytes, b->queue_bytes);
    assert_int_equal(a->keep_incidents_us, b->keep_incidents_us);
    assert_int_equal(a->keep_decisions_us, b->keep_decisions_us);
    assert_int_equal(a->log_json, b->log_json);
    assert_string_equal(a->socket_group, b->socket_group);
    assert_int_equal(a->socket_mode, b->socket_mode);
    assert_int_equal(a->n_socket_users, b->n_socket_users);
    assert_memory_equal(a->socket_users, b->socket_users, sizeof a->socket_users);
    assert_int_equal(a->n_socket_groups, b->n_socket_groups);
    assert_memory_equal(a->socket_groups, b->socket_groups, sizeof a->socket_groups);
    assert_int_equal(a->n_syslog_allow, b->n_syslog_allow);
    assert_memory_equal(a->syslog_allow, b->syslog_allow,
                        (size_t)a->n_syslog_allow * sizeof a->syslog_allow[0]);
}

/* Every field but the source name and the declared list pointer. */
static void assert_config_equal(const rp_config *a, const rp_config *b) {
    assert_memory_equal(a->capacity, b->capacity, sizeof a->capacity);
    assert_memory_equal(a->level_enabled, b->level_enabled, sizeof a->level_enabled);
    assert_int_equal(a->max_routes, b->max_routes);
    assert_int_equal(a->route_decisions, b->route_decisions);
    assert_int_equal(a->learn_routes, b->learn_routes);
    assert_int_equal(a->norm_period_us, b->norm_period_us);
    assert_int_equal(a->default_profile, b->default_profile);
    assert_int_equal(a->n_profiles, b->n_profiles);
    assert_memory_equal(a->profiles, b->profiles, sizeof a->profiles);
    assert_int_equal(a->n_rules, b->n_rules);
    assert_int_equal(a->n_declared, b->n_declared);
    assert_int_equal(a->n_allow_cidrs, b->n_allow_cidrs);
    assert_int_equal(a->n_allow_tokens, b->n_allow_tokens);
    assert_int_equal(a->n_trusted_proxies, b->n_trusted_proxies);
    assert_string_equal(a->session_cookie, b->session_cookie);
    assert_string_equal(a->username_field, b->username_field);
    assert_string_equal(a->openapi_path, b->openapi_path);
    assert_serve_equal(&a->serve, &b->serve);
    assert_int_equal(a->cluster.role, b->cluster.role);
    assert_string_equal(a->cluster.redis, b->cluster.redis);
    assert_string_equal(a->cluster.password_file, b->cluster.password_file);
    assert_string_equal(a->cluster.stream, b->cluster.stream);
    assert_string_equal(a->cluster.group, b->cluster.group);
    assert_string_equal(a->cluster.decisions, b->cluster.decisions);
    assert_int_equal(a->cluster.stream_maxlen, b->cluster.stream_maxlen);
    assert_string_equal(a->cluster.consumer, b->cluster.consumer);
    assert_int_equal(a->cluster.lease_ms, b->cluster.lease_ms);
    assert_int_equal(a->cluster.claim_idle_ms, b->cluster.claim_idle_ms);
    assert_string_equal(a->cluster.user, b->cluster.user);
    assert_int_equal(a->cluster.buffer_mb, b->cluster.buffer_mb);
    assert_int_equal(a->cluster.spool_sync_ms, b->cluster.spool_sync_ms);
    assert_int_equal(a->cluster.local_detection, b->cluster.local_detection);
    assert_int_equal(a->cluster.partitions, b->cluster.partitions);
    assert_int_equal(a->cluster.n_sentinels, b->cluster.n_sentinels);
    for (unsigned i = 0; i < a->cluster.n_sentinels; i++)
        assert_string_equal(a->cluster.sentinels[i], b->cluster.sentinels[i]);
    assert_string_equal(a->cluster.master_name, b->cluster.master_name);
    assert_int_equal(a->cluster.wait_replicas, b->cluster.wait_replicas);
    assert_int_equal(a->cluster.wait_ms, b->cluster.wait_ms);
}

/* --------------------------------------------------------------- defaults */

static void test_default_config_has_documented_values(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    assert_int_equal(c->capacity[RP_LEVEL_IP], 262144);
    assert_int_equal(c->capacity[RP_LEVEL_USERNAME], 131072);
    assert_int_equal(c->capacity[RP_LEVEL_SUBNET], 65536);
    assert_true(c->level_enabled[RP_LEVEL_IP]);
    assert_true(c->level_enabled[RP_LEVEL_USERNAME]);
    assert_true(c->level_enabled[RP_LEVEL_SUBNET]);      /* swarms over a /24 */
    assert_true(c->level_enabled[RP_LEVEL_FINGERPRINT]); /* swarms sharing a fingerprint */
    assert_true(c->level_enabled[RP_LEVEL_TOKEN]);   /* leaked keys */
    assert_true(c->level_enabled[RP_LEVEL_SESSION]);
    assert_int_equal(c->max_routes, 4096);
    assert_true(c->learn_routes);
    assert_int_equal(c->norm_period_us, INT64_C(3600000000));
    assert_int_equal(c->n_profiles, 1);
    assert_string_equal(c->profiles[0].name, "default");
    assert_int_equal(c->n_declared, 0);
    rp_config_free(c);
}

static void test_profile_defaults_follow_tolerance_presets(void **state) {
    (void)state;
    static const double want[RP_TOLERANCE_COUNT][3] = {{50, 70, 90}, {40, 60, 80}, {30, 50, 70}};
    for (int t = 0; t < RP_TOLERANCE_COUNT; t++) {
        rp_profile_config p;
        rp_profile_defaults(&p, "x", (rp_tolerance)t);
        assert_true(p.monitor_at == want[t][0]);
        assert_true(p.throttle_at == want[t][1]);
        assert_true(p.block_at == want[t][2]);
        assert_int_equal(p.throttle_us, INT64_C(300000000));
        assert_int_equal(p.block_us, INT64_C(900000000));
        assert_true(p.escalation == 2.0);
        assert_int_equal(p.max_duration_us, INT64_C(86400000000));
        assert_int_equal(p.escalate_after, 2);
        for (unsigned d = 0; d < rp_detector_count; d++) {
            const rp_detector *det = rp_detectors[d];
            assert_true(p.detectors[d].enabled);
            assert_true(p.detectors[d].weight == det->default_weight);
            for (unsigned i = 0; i < det->n_params; i++)
                assert_true(p.detectors[d].params[i] == det->params[i].preset[t]);
        }
    }
}

static void test_example_file_parses_to_defaults(void **state) {
    (void)state;
    size_t len;
    char *text = read_file("examples/rampart.yaml", &len);
    assert_non_null(text);
    rp_config *c = NULL;
    rp_error err;
    memset(&err, 0, sizeof err);
    rp_status st = rp_config_parse(text, len, "examples/rampart.yaml", &c, &err);
    if (st != RP_OK) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    rp_config *d = rp_config_default();
    assert_config_equal(c, d);
    assert_string_equal(c->source, "examples/rampart.yaml");
    rp_config_free(c);
    rp_config_free(d);
    free(text);
}

static void test_empty_document_is_defaults(void **state) {
    (void)state;
    rp_config *d = rp_config_default();
    const char *texts[] = {"", "# nothing but a comment\n", "---\n", "~\n"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        rp_config *c = parse_ok(texts[i]);
        assert_config_equal(c, d);
        rp_config_free(c);
    }
    rp_config_free(d);
}

/* ----------------------------------------------------------------- values */

static void test_parse_engine_and_inventory_values(void **state) {
    (void)state;
    rp_config *c = parse_ok("engine:\n"
                            "  clients: { ip: 1000, subnet: 200 }\n"
                            "  levels: [ip, subnet, fingerprint]\n"
                            "  max_routes: 100\n"
                            "  norm_period: 30m\n"
                            "inventory:\n"
                            "  learn: false\n"
                            "  routes:\n"
                            "    - { method: POST, path: /api/login, class: auth }\n"
                            "    - { path: \"/users/{userId}/orders\" }\n"
                            "session: { cookie: sid }\n"
                            "auth: { username_field: email }\n");
    assert_int_equal(c->capacity[RP_LEVEL_IP], 1000);
    assert_int_equal(c->capacity[RP_LEVEL_SUBNET], 200);
    assert_int_equal(c->capacity[RP_LEVEL_USERNAME], 131072);
    assert_true(c->level_enabled[RP_LEVEL_FINGERPRINT]);
    assert_false(c->level_enabled[RP_LEVEL_USERNAME]);
    assert_int_equal(c->max_routes, 100);
    assert_int_equal(c->norm_period_us, INT64_C(1800000000));
    assert_false(c->learn_routes);
    assert_int_equal(c->n_declared, 2);
    assert_int_equal(c->declared[0].method, RP_METHOD_POST);
    assert_int_equal(c->declared[0].cls, RP_ROUTE_AUTH);
    assert_int_equal(c->declared[1].method, RP_METHOD_OTHER);
    assert_string_equal(c->declared[1].template_, "/users/{id}/orders");
    assert_int_equal(c->declared[1].cls, -1);
    assert_string_equal(c->session_cookie, "sid");
    assert_string_equal(c->username_field, "email");
    rp_config_free(c);
}

static void test_parse_durations_in_every_unit(void **state) {
    (void)state;
    rp_config *c = parse_ok("profiles:\n  default:\n    reactions:\n"
                            "      throttle_for: 90\n"
                            "      block_for: 2h\n"
                            "      max_duration: 2d\n");
    assert_int_equal(c->profiles[0].throttle_us, INT64_C(90000000));
    assert_int_equal(c->profiles[0].block_us, INT64_C(7200000000));
    assert_int_equal(c->profiles[0].max_duration_us, INT64_C(172800000000));
    rp_config_free(c);
    c = parse_ok("profiles:\n  default:\n    reactions: { throttle_for: 1500ms, block_for: 30s }\n");
    assert_int_equal(c->profiles[0].throttle_us, INT64_C(1500000));
    assert_int_equal(c->profiles[0].block_us, INT64_C(30000000));
    rp_config_free(c);
}

static void test_profile_tolerance_applies_before_explicit_values(void **state) {
    (void)state;
    /* reactions written before tolerance still win over the preset */
    rp_config *c = parse_ok("profiles:\n"
                            "  strict:\n"
                            "    reactions: { monitor: 20 }\n"
                            "    tolerance: high\n"
                            "  relaxed: { tolerance: low }\n"
                            "  plain:\n");
    assert_int_equal(c->n_profiles, 4);
    rp_profile_config *s = &c->profiles[1];
    assert_string_equal(s->name, "strict");
    assert_int_equal(s->tolerance, RP_TOLERANCE_HIGH);
    assert_true(s->monitor_at == 20);
    assert_true(s->throttle_at == 50);
    assert_true(c->profiles[2].block_at == 90);
    assert_int_equal(c->profiles[3].tolerance, RP_TOLERANCE_NORMAL);
    for (unsigned d = 0; d < rp_detector_count; d++)
        for (unsigned i = 0; i < rp_detectors[d]->n_params; i++)
            assert_true(s->detectors[d].params[i] == rp_detectors[d]->params[i].preset[RP_TOLERANCE_HIGH]);
    rp_config_free(c);
}

static void test_detector_settings_set_enabled_weight_and_params(void **state) {
    (void)state;
    char text[512];
    const char *name = rp_detectors[0]->name;
    snprintf(text, sizeof text,
             "profiles:\n  default:\n    detectors:\n      %s: { enabled: false, weight: 12.5 }\n"
             "      %s: off\n",
             name, rp_detectors[1]->name);
    rp_config *c = parse_ok(text);
    assert_false(c->profiles[0].detectors[0].enabled);
    assert_true(c->profiles[0].detectors[0].weight == 12.5);
    assert_false(c->profiles[0].detectors[1].enabled);
    rp_config_free(c);

    /* The first detector with parameters: set its first one and read it back;
     * then one past its maximum is an error naming it. */
    for (unsigned d = 0; d < rp_detector_count; d++) {
        const rp_detector *det = rp_detectors[d];
        if (det->n_params == 0) continue;
        const rp_param *p = &det->params[0];
        double v = p->min + (p->max - p->min) / 2;
        snprintf(text, sizeof text, "profiles:\n  default:\n    detectors:\n      %s: { %s: %.17g }\n",
                 det->name, p->name, v);
        c = parse_ok(text);
        assert_true(c->profiles[0].detectors[d].params[0] == v);
        rp_config_free(c);
        snprintf(text, sizeof text, "profiles:\n  default:\n    detectors:\n      %s: { %s: %.17g }\n",
                 det->name, p->name, p->max * 2 + 1);
        rp_config *bad = NULL;
        rp_error err;
        assert_int_equal(rp_config_parse(text, strlen(text), "t.yaml", &bad, &err), RP_EINVAL);
        assert_non_null(strstr(err.message, p->name));
        assert_non_null(strstr(err.message, "must be a number between"));
        assert_int_equal(err.line, 4);
        break;
    }
}

static void test_parse_allowlists_and_route_rules(void **state) {
    (void)state;
    rp_config *c = parse_ok("allow:\n"
                            "  cidrs: [10.0.0.0/8, \"2001:db8::/32\", 192.0.2.7]\n"
                            "  tokens: [partner-key-1]\n"
                            "trusted_proxies: [127.0.0.1/32]\n"
                            "profiles:\n  strict: { tolerance: high }\n"
                            "routes:\n"
                            "  - { match: \"POST /api/login\", profile: strict, class: auth }\n"
                            "  - { match: \"GET /health\", skip: [rate, interval], cidrs: [10.0.0.0/8] }\n"
                            "  - { match: \"/static/*\", class: static }\n");
    assert_int_equal(c->n_allow_cidrs, 3);
    assert_int_equal(c->allow_cidrs[0].prefix, 104);
    assert_int_equal(c->allow_cidrs[1].prefix, 32);
    assert_int_equal(c->allow_cidrs[2].prefix, 128);
    assert_int_equal(c->n_allow_tokens, 1);
    assert_true(c->allow_tokens[0] == rp_hash64("partner-key-1", 13, 0));
    assert_int_equal(c->n_trusted_proxies, 1);
    assert_int_equal(c->n_rules, 3);
    assert_int_equal(c->rules[0].method, RP_METHOD_POST);
    assert_string_equal(c->rules[0].glob, "/api/login");
    assert_int_equal(c->rules[0].profile, 1);
    assert_int_equal(c->rules[0].cls, RP_ROUTE_AUTH);
    assert_int_equal(c->rules[1].skip_detectors,
                     (1u << rp_detector_find("rate", 4)) | (1u << rp_detector_find("interval", 8)));
    assert_int_equal(c->rules[1].n_cidrs, 1);
    assert_int_equal(c->rules[1].profile, -1);
    assert_int_equal(c->rules[2].method, RP_METHOD_OTHER);
    assert_string_equal(c->rules[2].glob, "/static/*");
    rp_config_free(c);
}

static void test_openapi_path_is_resolved_against_config_directory(void **state) {
    (void)state;
    const char *text = "inventory: { openapi: spec/openapi.yaml }\n";
    rp_config *c = NULL;
    rp_error err;
    assert_int_equal(rp_config_parse(text, strlen(text), "/etc/rampart/rampart.yaml", &c, &err), RP_OK);
    assert_string_equal(c->openapi_path, "/etc/rampart/spec/openapi.yaml");
    rp_config_free(c);
    text = "inventory: { openapi: /srv/api.json }\n";
    assert_int_equal(rp_config_parse(text, strlen(text), "conf/r.yaml", &c, &err), RP_OK);
    assert_string_equal(c->openapi_path, "/srv/api.json");
    rp_config_free(c);
    text = "inventory: { openapi: api.json }\n";
    assert_int_equal(rp_config_parse(text, strlen(text), "r.yaml", &c, &err), RP_OK);
    assert_string_equal(c->openapi_path, "api.json");
    rp_config_free(c);
}

/* ----------------------------------------------------------------- errors */

static void test_error_unknown_key_suggests_the_near_one(void **state) {
    (void)state;
    expect_error("engine:\n  max_rotues: 10\n", "max_rotues",
                 "unknown key 'max_rotues' in engine (did you mean 'max_routes'?)");
    expect_error("profiles:\n  default:\n    tresholds: 1\n", "tresholds",
                 "unknown key 'tresholds' in profile 'default'; known: tolerance, reactions, detectors");
    expect_error("enigne: {}\n", "enigne",
                 "unknown key 'enigne' in the top level (did you mean 'engine'?)");
}

static void test_error_bad_type(void **state) {
    (void)state;
    expect_error("engine:\n  levels: ip\n", "ip", "levels must be a list, got 'ip'");
    expect_error("engine: [1, 2]\n", "[", "engine must be a mapping (key: value), got a list");
    expect_error("inventory: { learn: maybe }\n", "maybe", "learn must be true or false, got 'maybe'");
}

static void test_error_out_of_range(void **state) {
    (void)state;
    expect_error("profiles:\n  default:\n    detectors:\n      rate: { weight: high }\n", "high",
                 "weight must be a number between 0 and 100, got 'high'");
    expect_error("profiles:\n  default:\n    detectors:\n      rate: { weight: 101 }\n", "101",
                 "weight must be a number between 0 and 100, got '101'");
    expect_error("engine:\n  max_routes: 0\n", "0",
                 "max_routes must be a whole number between 16 and 1048576, got '0'");
    expect_error("profiles:\n  default:\n    reactions: { monitor: 70, block: 60 }\n", "{ monitor",
                 "reactions must rise with the score: monitor (70) <= throttle (60) <= block (60)");
}

static void test_error_bad_duration(void **state) {
    (void)state;
    expect_error("engine:\n  norm_period: 5 minutes\n", "5 minutes",
                 "norm_period must be a duration like 250ms, 30s, 5m, 1h or 2d (at most 365d, at "
                 "least 60s), got '5 minutes'");
}

static void test_error_bad_cidr(void **state) {
    (void)state;
    expect_error("allow:\n  cidrs: [10.0.0.0/33]\n", "10.0.0.0/33",
                 "CIDR prefix too long in '10.0.0.0/33': at most /32 for IPv4 and /128 for IPv6");
    expect_error("trusted_proxies: [10.0.0/8]\n", "10.0.0/8",
                 "expected an address or a CIDR like 10.0.0.0/8 or 2001:db8::/32, got '10.0.0/8'");
}

static void test_error_unknown_detector_lists_known_ones(void **state) {
    (void)state;
    expect_error("profiles:\n  default:\n    detectors:\n      rates: {}\n", "rates",
                 "unknown detector 'rates' (did you mean 'rate'?)");
    char want[512];
    int n = snprintf(want, sizeof want, "unknown detector 'bogus'; known: ");
    for (unsigned d = 0; d < rp_detector_count; d++)
        n += snprintf(want + n, sizeof want - (size_t)n, "%s%s", d ? ", " : "", rp_detectors[d]->name);
    expect_error("routes:\n  - { match: \"GET /x\", skip: [bogus] }\n", "bogus", want);
}

static void test_error_route_names_unknown_profile(void **state) {
    (void)state;
    expect_error("profiles:\n  strict: { tolerance: high }\n"
                 "routes:\n  - { match: \"GET /x\", profile: strictt }\n",
                 "strictt", "unknown profile 'strictt' (did you mean 'strict'?)");
    expect_error("routes:\n  - { match: \"FETCH /x\" }\n", "\"FETCH",
                 "match must start with an HTTP method (GET, POST, ... or ANY), got 'FETCH'");
    expect_error("routes:\n  - { profile: default }\n", "{ profile",
                 "a route rule needs match, like match: \"POST /api/login\"");
}

static void test_error_too_many_profiles(void **state) {
    (void)state;
    char text[2048] = "profiles:\n";
    size_t o = strlen(text);
    for (int i = 0; i < RP_MAX_PROFILES; i++) /* plus "default": one too many */
        o += (size_t)snprintf(text + o, sizeof text - o, "  p%02d: {}\n", i);
    char marker[8];
    snprintf(marker, sizeof marker, "p%02d", RP_MAX_PROFILES - 1);
    expect_error(text, marker, "too many profiles: at most 16");
}

static void test_error_yaml_syntax_has_location(void **state) {
    (void)state;
    rp_config *c = NULL;
    rp_error err;
    const char *text = "engine:\n  max_routes: 10\n  levels: [ip\n";
    assert_int_equal(rp_config_parse(text, strlen(text), "t.yaml", &c, &err), RP_EINVAL);
    assert_null(c);
    assert_int_equal(strncmp(err.message, "YAML syntax error: ", 19), 0);
    assert_int_equal(err.line, 4);
    assert_int_equal(err.col, 1);
    expect_error("a: b: c\n", ": c", "YAML syntax error: mapping values are not allowed in this context");
}

static void test_error_duplicate_key_points_at_second(void **state) {
    (void)state;
    rp_config *c = NULL;
    rp_error err;
    const char *text = "engine: {}\nallow: {}\nengine: {}\n";
    assert_int_equal(rp_config_parse(text, strlen(text), "t.yaml", &c, &err), RP_EINVAL);
    assert_string_equal(err.message, "duplicate key 'engine' in the top level (first at line 1)");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.col, 1);
    text = "engine: {}\n---\nallow: {}\n";
    assert_int_equal(rp_config_parse(text, strlen(text), "t.yaml", &c, &err), RP_EINVAL);
    assert_string_equal(err.message, "a config file holds one YAML document; remove the second '---'");
    assert_int_equal(err.line, 3);
}

/* libyaml takes time quadratic in the nesting depth (200,000 levels did not
 * finish in a minute): the reader stops at 64 levels, where the 65th
 * opens, whatever the document holds after it. */
static void test_error_nesting_deeper_than_64_levels_stops_early(void **state) {
    (void)state;
    const size_t levels = 100000;
    char *text = malloc(2 * levels + 16);
    assert_non_null(text);
    const char *kinds[] = {"[]", "{}"};
    for (size_t k = 0; k < 2; k++) {
        size_t o = (size_t)sprintf(text, "engine: ");
        for (size_t i = 0; i < levels; i++) text[o++] = kinds[k][0];
        for (size_t i = 0; i < levels; i++) text[o++] = kinds[k][1];
        text[o] = 0;
        rp_config *c = NULL;
        rp_error err;
        memset(&err, 0, sizeof err);
        assert_int_equal(rp_config_parse(text, o, "t.yaml", &c, &err), RP_EINVAL);
        assert_null(c);
        assert_string_equal(err.message,
                            "nesting deeper than 64 levels; a configuration needs a handful");
        assert_string_equal(err.file, "t.yaml");
        assert_int_equal(err.line, 1);
        /* The top-level mapping is level 1, so the 64th bracket opens level 65. */
        assert_int_equal(err.col, 9 + 63);
    }
    free(text);
    /* Block style counts the same: 64 levels parse (and are then judged as
     * a config), 65 do not. */
    char block[8192];
    for (int depth = 63; depth <= 64; depth++) {
        size_t o = 0;
        for (int i = 0; i < depth; i++)
            o += (size_t)snprintf(block + o, sizeof block - o, "%*sk%d:\n", i * 2, "", i);
        snprintf(block + o, sizeof block - o, "%*sleaf: 1\n", depth * 2, "");
        rp_config *c = NULL;
        rp_error err;
        memset(&err, 0, sizeof err);
        assert_int_equal(rp_config_parse(block, strlen(block), "t.yaml", &c, &err), RP_EINVAL);
        if (depth == 63) { /* 64 levels: read, then judged as a config */
            assert_string_equal(err.message, "unknown key 'k0' in the top level; known: engine, "
                                             "inventory, allow, trusted_proxies, session, auth, "
                                             "profiles, routes, serve, cluster, alerts");
        } else { /* the 65th level is the mapping that holds leaf */
            assert_string_equal(err.message,
                                "nesting deeper than 64 levels; a configuration needs a handful");
            assert_int_equal(err.line, 65);
            assert_int_equal(err.col, 129);
        }
    }
}

typedef struct collected {
    int n;
    rp_error errors[8];
} collected;

static void collect(void *user, const rp_error *e) {
    collected *c = user;
    if (c->n < 8) c->errors[c->n] = *e;
    c->n++;
}

static void test_check_reports_every_mistake(void **state) {
    (void)state;
    const char *text = "engine:\n  max_routes: lots\n  norm_period: forever\n"
                       "allow: { cidrs: [nope] }\n"
                       "profiles: { default: { tolerance: extreme } }\n";
    collected got = {0};
    assert_int_equal(rp_config_check(text, strlen(text), "t.yaml", collect, &got), RP_EINVAL);
    assert_int_equal(got.n, 4);
    assert_int_equal(got.errors[0].line, 2);
    assert_int_equal(got.errors[1].line, 3);
    assert_int_equal(got.errors[2].line, 4);
    assert_int_equal(got.errors[3].line, 5);
    assert_string_equal(got.errors[3].message,
                        "unknown tolerance 'extreme'; known: low, normal, high");
    got.n = 0;
    assert_int_equal(rp_config_check("engine: {}\n", 11, "t.yaml", collect, &got), RP_OK);
    assert_int_equal(got.n, 0);
}

/* ------------------------------------------------------------- cidr, clone */

static rp_addr addr(const char *s) {
    rp_addr a;
    assert_int_equal(rp_addr_parse(s, strlen(s), &a), RP_OK);
    return a;
}

static void test_cidr_parse_masks_and_maps_ipv4(void **state) {
    (void)state;
    rp_cidr c;
    assert_int_equal(rp_cidr_parse("10.1.2.3/8", 10, &c), RP_OK);
    assert_int_equal(c.prefix, 104);
    rp_addr net = addr("10.0.0.0");
    assert_memory_equal(c.net.bytes, net.bytes, 16);
    assert_true(rp_cidr_contains(&c, &(rp_addr){0}) == false);
    rp_addr in = addr("10.255.0.1"), out = addr("11.0.0.1");
    assert_true(rp_cidr_contains(&c, &in));
    assert_false(rp_cidr_contains(&c, &out));

    assert_int_equal(rp_cidr_parse("2001:db8::/32", 13, &c), RP_OK);
    assert_int_equal(c.prefix, 32);
    rp_addr v6in = addr("2001:db8:1::5"), v6out = addr("2001:db9::1");
    assert_true(rp_cidr_contains(&c, &v6in));
    assert_false(rp_cidr_contains(&c, &v6out));

    assert_int_equal(rp_cidr_parse("192.0.2.7", 9, &c), RP_OK);
    assert_int_equal(c.prefix, 128);
    rp_addr exact = addr("192.0.2.7"), next = addr("192.0.2.8");
    assert_true(rp_cidr_contains(&c, &exact));
    assert_false(rp_cidr_contains(&c, &next));

    assert_int_equal(rp_cidr_parse("0.0.0.0/0", 9, &c), RP_OK);
    assert_true(rp_cidr_contains(&c, &out));
    assert_false(rp_cidr_contains(&c, &v6in)); /* an IPv4 /0 is the mapped range only */

    assert_int_equal(rp_cidr_parse("10.0.0.0/33", 11, &c), RP_ERANGE);
    assert_int_equal(rp_cidr_parse("::/129", 6, &c), RP_ERANGE);
    assert_int_equal(rp_cidr_parse("10.0.0.0/", 9, &c), RP_EPARSE);
    assert_int_equal(rp_cidr_parse("10.0.0.0/x", 10, &c), RP_EPARSE);
    assert_int_equal(rp_cidr_parse("banana", 6, &c), RP_EPARSE);
    assert_int_equal(rp_cidr_parse("", 0, &c), RP_EPARSE);
}

static void test_clone_copies_declared_routes(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    for (int i = 0; i < 40; i++) {
        char t[32];
        int n = snprintf(t, sizeof t, "/r%d/{x}", i);
        assert_int_equal(rp_config_declare(c, RP_METHOD_GET, t, (size_t)n, -1), RP_OK);
    }
    assert_int_equal(rp_config_declare(c, RP_METHOD_GET, "/r0/{y}", 7, -1), RP_OK); /* duplicate */
    assert_int_equal(c->n_declared, 40);
    assert_int_equal(rp_config_declare(c, RP_METHOD_GET, "no-slash", 8, -1), RP_EINVAL);
    assert_int_equal(rp_config_declare(c, RP_METHOD_GET, "/a/{b", 5, -1), RP_EINVAL);
    rp_config *k = rp_config_clone(c);
    assert_ptr_not_equal(k->declared, c->declared);
    assert_int_equal(k->n_declared, 40);
    assert_string_equal(k->declared[39].template_, "/r39/{id}");
    assert_int_equal(rp_config_declare(k, RP_METHOD_GET, "/more", 5, -1), RP_OK); /* grows */
    assert_int_equal(k->n_declared, 41);
    assert_int_equal(c->n_declared, 40);
    rp_config_free(c);
    rp_config_free(k);
}

/* ---------------------------------------------------------------- openapi */

static const rp_declared_route *find_declared(const rp_config *c, rp_method m, const char *t) {
    for (int i = 0; i < c->n_declared; i++)
        if (c->declared[i].method == m && strcmp(c->declared[i].template_, t) == 0)
            return &c->declared[i];
    return NULL;
}

static void test_openapi_yaml_import_with_server_prefix(void **state) {
    (void)state;
    size_t len;
    char *text = read_file("tests/data/openapi_small.yaml", &len);
    assert_non_null(text);
    rp_config *c = rp_config_default();
    rp_error err;
    assert_int_equal(rp_config_add_openapi(c, text, len, "openapi_small.yaml", &err), RP_OK);
    assert_int_equal(c->n_declared, 6);
    const rp_declared_route *d = find_declared(c, RP_METHOD_GET, "/v1/products");
    assert_non_null(d);
    assert_int_equal(d->cls, RP_ROUTE_LISTING);
    d = find_declared(c, RP_METHOD_DELETE, "/v1/products/{id}");
    assert_non_null(d);
    assert_int_equal(d->cls, RP_ROUTE_OBJECT);
    d = find_declared(c, RP_METHOD_POST, "/v1/session");
    assert_non_null(d);
    assert_int_equal(d->cls, RP_ROUTE_AUTH); /* x-rampart-class */
    assert_int_equal(find_declared(c, RP_METHOD_GET, "/v1/health")->cls, RP_ROUTE_HEALTH);
    rp_config_free(c);
    free(text);
}

static void test_openapi_json_import(void **state) {
    (void)state;
    size_t len;
    char *text = read_file("tests/data/openapi_small.json", &len);
    assert_non_null(text);
    rp_config *c = rp_config_default();
    rp_error err;
    assert_int_equal(rp_config_add_openapi(c, text, len, "openapi_small.json", &err), RP_OK);
    assert_int_equal(c->n_declared, 3);
    assert_non_null(find_declared(c, RP_METHOD_GET, "/users/{id}/orders"));
    assert_int_equal(find_declared(c, RP_METHOD_POST, "/login")->cls, RP_ROUTE_AUTH);
    assert_int_equal(find_declared(c, RP_METHOD_GET, "/search")->cls, RP_ROUTE_SEARCH);
    rp_config_free(c);
    free(text);
}

/* An OpenAPI document nested 100,000 levels deep (the loader alone would
 * take minutes) is refused before loading, with where the nesting passed
 * the bound; one nested 200 levels still loads. */
static void test_openapi_nesting_deeper_than_256_levels_stops_early(void **state) {
    (void)state;
    const size_t levels = 100000;
    char *text = malloc(levels * 2 + 64);
    assert_non_null(text);
    size_t n = (size_t)sprintf(text, "openapi: 3.0.0\npaths: ");
    for (size_t i = 0; i < levels; i++) text[n++] = '[';
    for (size_t i = 0; i < levels; i++) text[n++] = ']';
    text[n++] = '\n';
    rp_config *c = rp_config_default();
    rp_error err;
    assert_int_equal(rp_config_add_openapi(c, text, n, "deep.yaml", &err), RP_EPARSE);
    assert_string_equal(err.message, "nesting deeper than 256 levels; refused before loading");
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 8 + 255); /* the document itself is the first level */
    /* 200 levels inside a schema: an ordinary (if deep) document */
    n = (size_t)sprintf(text, "openapi: 3.0.0\npaths: { /a: { get: { x: ");
    for (size_t i = 0; i < 200; i++) text[n++] = '[';
    for (size_t i = 0; i < 200; i++) text[n++] = ']';
    n += (size_t)sprintf(text + n, " } } }\n");
    assert_int_equal(rp_config_add_openapi(c, text, n, "deep.yaml", &err), RP_OK);
    free(text);
    rp_config_free(c);
}

static void test_openapi_rejects_non_openapi3_with_location(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    rp_error err;
    const char *swagger = "swagger: \"2.0\"\npaths: {}\n";
    assert_int_equal(rp_config_add_openapi(c, swagger, strlen(swagger), "s.yaml", &err), RP_EPARSE);
    assert_string_equal(err.message, "not an OpenAPI 3 document: no 'openapi: 3.x' key");
    assert_int_equal(err.line, 1);
    assert_int_equal(err.col, 1);
    const char *v2 = "info: {}\nopenapi: 2.0\npaths: {}\n";
    assert_int_equal(rp_config_add_openapi(c, v2, strlen(v2), "s.yaml", &err), RP_EPARSE);
    assert_int_equal(err.line, 2);
    assert_int_equal(err.col, 10);
    const char *nopaths = "openapi: 3.0.0\ninfo: {}\n";
    assert_int_equal(rp_config_add_openapi(c, nopaths, strlen(nopaths), "s.yaml", &err), RP_EPARSE);
    assert_string_equal(err.message, "not an OpenAPI 3 document: no 'paths' mapping");
    const char *badclass = "openapi: 3.0.0\npaths:\n  /a:\n    get: { x-rampart-class: login }\n";
    assert_int_equal(rp_config_add_openapi(c, badclass, strlen(badclass), "s.yaml", &err), RP_EINVAL);
    assert_int_equal(err.line, 4);
    assert_int_equal(err.col, 29);
    const char *broken = "{\"openapi\": \"3.0.0\", \"paths\": {\n";
    assert_int_equal(rp_config_add_openapi(c, broken, strlen(broken), "s.json", &err), RP_EPARSE);
    assert_true(err.line >= 1);
    assert_int_equal(c->n_declared, 0);
    rp_config_free(c);
}

/* ------------------------------------------------------------------ serve */

#define DAY_US (INT64_C(86400) * 1000000)

static void test_serve_defaults_are_documented(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    const rp_serve_config *sv = &c->serve;
    assert_string_equal(sv->socket_path, "/run/rampart/events.sock");
    assert_string_equal(sv->syslog_listen, "");
    assert_int_equal(sv->n_tail, 0);
    assert_false(sv->tail_from_start);
    assert_string_equal(sv->tail_format, "auto");
    assert_string_equal(sv->table_path, "/run/rampart/decisions.tbl");
    assert_int_equal(sv->table_capacity, 65536);
    assert_string_equal(sv->store_path, "/var/lib/rampart/rampart.db");
    assert_string_equal(sv->admin_listen, "127.0.0.1:9090");
    assert_string_equal(sv->token_file, "");
    assert_int_equal(sv->queue_bytes, 64u << 20);
    assert_int_equal(sv->keep_incidents_us, 30 * DAY_US);
    assert_int_equal(sv->keep_decisions_us, 90 * DAY_US);
    assert_false(sv->log_json);
    rp_config_free(c);
}

static void test_serve_section_sets_every_option_and_resolves_paths(void **state) {
    (void)state;
    const char *text = "serve:\n"
                       "  socket: run/events.sock\n"
                       "  syslog: 127.0.0.1:5514\n"
                       "  tail: [/var/log/nginx/access.log, logs/api.log]\n"
                       "  tail_from_start: true\n"
                       "  tail_format: json\n"
                       "  table: /dev/shm/rampart.tbl\n"
                       "  table_capacity: 1048576\n"
                       "  store: data/rampart.db\n"
                       "  admin: \"[::1]:8080\"\n"
                       "  token_file: admin.token\n"
                       "  queue: 512KiB\n"
                       "  retention: { incidents: 7d, decisions: 0 }\n"
                       "  log: json\n";
    rp_config *c = NULL;
    rp_error err;
    memset(&err, 0, sizeof err);
    rp_status st = rp_config_parse(text, strlen(text), "/etc/rampart/rampart.yaml", &c, &err);
    if (st != RP_OK) fail_msg("%d:%d: %s", err.line, err.col, err.message);
    const rp_serve_config *sv = &c->serve;
    assert_string_equal(sv->socket_path, "/etc/rampart/run/events.sock");
    assert_string_equal(sv->syslog_listen, "127.0.0.1:5514");
    assert_int_equal(sv->n_tail, 2);
    assert_string_equal(sv->tail[0], "/var/log/nginx/access.log");
    assert_string_equal(sv->tail[1], "/etc/rampart/logs/api.log");
    assert_true(sv->tail_from_start);
    assert_string_equal(sv->tail_format, "json");
    assert_string_equal(sv->table_path, "/dev/shm/rampart.tbl");
    assert_int_equal(sv->table_capacity, 1048576);
    assert_string_equal(sv->store_path, "/etc/rampart/data/rampart.db");
    assert_string_equal(sv->admin_listen, "[::1]:8080");
    assert_string_equal(sv->token_file, "/etc/rampart/admin.token");
    assert_int_equal(sv->queue_bytes, 512u << 10);
    assert_int_equal(sv->keep_incidents_us, 7 * DAY_US);
    assert_int_equal(sv->keep_decisions_us, 0);
    assert_true(sv->log_json);
    rp_config_free(c);
}

static void test_serve_admin_defences(void **state) {
    (void)state;
    rp_config *d = rp_config_default();
    assert_int_equal(d->serve.admin_connections, 1024);
    assert_int_equal(d->serve.admin_per_address, 256);
    assert_int_equal(d->serve.admin_request_timeout_us, 10 * INT64_C(1000000));
    assert_int_equal(d->serve.n_check_proxies, 2);
    assert_string_equal(d->serve.check_listen, "");
    assert_false(d->serve.check_real_ip);
    rp_config_free(d);
    rp_config *c = parse_ok("serve:\n"
                            "  admin_hosts: [rampart.internal, \"[::1]\"]\n"
                            "  admin_limits: { connections: 64, per_address: 8, request_timeout: 2s }\n"
                            "  check: { listen: 127.0.0.1:9091, trusted_proxies: [10.0.0.0/8],"
                            " client_header: x-real-ip }\n");
    assert_int_equal(c->serve.n_admin_hosts, 2);
    assert_string_equal(c->serve.admin_hosts[0], "rampart.internal");
    assert_int_equal(c->serve.admin_connections, 64);
    assert_int_equal(c->serve.admin_per_address, 8);
    assert_int_equal(c->serve.admin_request_timeout_us, 2 * INT64_C(1000000));
    assert_string_equal(c->serve.check_listen, "127.0.0.1:9091");
    assert_int_equal(c->serve.n_check_proxies, 1);
    assert_true(c->serve.check_real_ip);
    rp_config_free(c);
    expect_error("serve:\n  admin_hosts: [\"evil.com:80/x\"]\n", "\"evil",
                 "admin_hosts holds host names without a port, like rampart.internal, got "
                 "'evil.com:80/x'");
    expect_error("serve:\n  admin_limits: { connections: 1 }\n", "1",
                 "admin_limits.connections must be a whole number between 16 and 16384, got '1'");
    expect_error("serve:\n  check: { client_header: forwarded }\n", "forwarded",
                 "unknown check.client_header 'forwarded'; known: x-forwarded-for, x-real-ip");
}

static void test_serve_off_values_and_single_tail_file(void **state) {
    (void)state;
    rp_config *c = parse_ok("serve:\n"
                            "  socket: \"\"\n"
                            "  syslog:\n"
                            "  tail: /var/log/nginx/access.log\n"
                            "  admin: localhost:0\n"
                            "  queue: 1GiB\n");
    assert_string_equal(c->serve.socket_path, "");
    assert_string_equal(c->serve.syslog_listen, "");
    assert_int_equal(c->serve.n_tail, 1);
    assert_string_equal(c->serve.tail[0], "/var/log/nginx/access.log");
    assert_string_equal(c->serve.admin_listen, "localhost:0");
    assert_int_equal(c->serve.queue_bytes, UINT64_C(1) << 30);
    rp_config_free(c);
    c = parse_ok("serve:\n  queue: 65536\n  tail: []\n  admin: \"\"\n");
    assert_string_equal(c->serve.admin_listen, "");
    assert_int_equal(c->serve.queue_bytes, 65536);
    assert_int_equal(c->serve.n_tail, 0);
    rp_config_free(c);
}

static void test_serve_error_bad_listen_addresses(void **state) {
    (void)state;
    const char *msg_admin = "admin must be host:port with an IPv4 address, [IPv6] or localhost "
                            "and a port 0..65535 (or \"\" for off), got '%s'";
    const char *bad[] = {"127.0.0.1", "127.0.0.1:65536", "example.com:80", "::1:80",
                         "[::1]80",   "1.2.3:80",        "127.0.0.1:",     "127.0.0.1:8o"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128], msg[256];
        snprintf(text, sizeof text, "serve:\n  admin: \"%s\"\n", bad[i]);
        snprintf(msg, sizeof msg, msg_admin, bad[i]);
        expect_error(text, "\"", msg);
    }
    expect_error("serve:\n  syslog: 5514\n", "5514",
                 "syslog must be host:port with an IPv4 address, [IPv6] or localhost and a port "
                 "0..65535 (or \"\" for off), got '5514'");
}

static void test_serve_error_sizes_out_of_range(void **state) {
    (void)state;
    expect_error("serve:\n  queue: 1MB\n", "1MB",
                 "queue must be a size between 64 KiB and 4 GiB (bytes, or a KiB, MiB or GiB "
                 "suffix), got '1MB'");
    expect_error("serve:\n  queue: 32KiB\n", "32KiB",
                 "queue must be a size between 64 KiB and 4 GiB (bytes, or a KiB, MiB or GiB "
                 "suffix), got '32KiB'");
    expect_error("serve:\n  queue: 5GiB\n", "5GiB",
                 "queue must be a size between 64 KiB and 4 GiB (bytes, or a KiB, MiB or GiB "
                 "suffix), got '5GiB'");
    expect_error("serve:\n  table_capacity: 100\n", "100",
                 "table_capacity must be a whole number between 1024 and 16777216, got '100'");
}

static void test_serve_error_paths_choices_and_lists(void **state) {
    (void)state;
    expect_error("serve:\n  store: \"\"\n", "\"\"", "store must be a file path; it cannot be empty");
    expect_error("serve:\n  table: ~\n", "~",
                 "table must be a file path; it cannot be empty");
    expect_error("serve:\n  tail_format: xml\n", "xml",
                 "unknown tail_format 'xml'; known: auto, combined, json");
    expect_error("serve:\n  log: jsn\n", "jsn", "unknown log format 'jsn' (did you mean 'json'?)");
    expect_error("serve:\n  tail: [a, b, c, d, e]\n", "[", "too many files in tail: 5, at most 4");
    expect_error("serve:\n  retention: { incidents: forever }\n", "forever",
                 "retention.incidents (0 = keep forever) must be a duration like 250ms, 30s, 5m, "
                 "1h or 2d (at most 365d, at least 0s), got 'forever'");
    expect_error("serve:\n  sockte: /tmp/s\n", "sockte",
                 "unknown key 'sockte' in serve (did you mean 'socket'?)");
    char text[400];
    snprintf(text, sizeof text, "serve:\n  socket: /%0120d\n", 0);
    expect_error(text, "/0", "socket path must be at most 107 characters (a unix socket limit)");
}

/* Who may send events: the socket's group and mode, allowed users and
 * groups, syslog sources; defaults keep other local users out. */
static void test_serve_senders_defaults_values_and_errors(void **state) {
    (void)state;
    rp_config *d = rp_config_default();
    assert_string_equal(d->serve.socket_group, "");
    assert_int_equal(d->serve.socket_mode, 0660);
    assert_int_equal(d->serve.n_socket_users, 0);
    assert_int_equal(d->serve.n_syslog_allow, 2);
    rp_addr lo4, lo6, other;
    rp_addr_parse("127.0.0.1", 9, &lo4);
    rp_addr_parse("::1", 3, &lo6);
    rp_addr_parse("127.0.0.2", 9, &other);
    assert_true(rp_cidr_contains(&d->serve.syslog_allow[0], &lo4));
    assert_true(rp_cidr_contains(&d->serve.syslog_allow[1], &lo6));
    assert_false(rp_cidr_contains(&d->serve.syslog_allow[0], &other));
    assert_false(rp_cidr_contains(&d->serve.syslog_allow[1], &other));
    rp_config_free(d);

    rp_config *c = parse_ok("serve:\n"
                            "  socket_group: www-data\n"
                            "  socket_mode: \"0640\"\n"
                            "  socket_users: [nginx, 101]\n"
                            "  socket_groups: [adm]\n"
                            "  syslog_allow: [10.0.0.0/8]\n");
    assert_string_equal(c->serve.socket_group, "www-data");
    assert_int_equal(c->serve.socket_mode, 0640);
    assert_int_equal(c->serve.n_socket_users, 2);
    assert_string_equal(c->serve.socket_users[1], "101");
    assert_int_equal(c->serve.n_socket_groups, 1);
    assert_string_equal(c->serve.socket_groups[0], "adm");
    assert_int_equal(c->serve.n_syslog_allow, 1);
    assert_int_equal(c->serve.syslog_allow[0].prefix, 96 + 8);
    rp_config_free(c);
    c = parse_ok("serve:\n  socket_group: \"\"\n  socket_mode: 0660\n  syslog_allow: []\n");
    assert_int_equal(c->serve.socket_mode, 0660);
    assert_int_equal(c->serve.n_syslog_allow, 0);
    rp_config_free(c);

    expect_error("serve:\n  socket_mode: \"0999\"\n", "\"0999",
                 "socket_mode must be octal permission bits like \"0660\" that let the owner "
                 "read and write, got '0999'");
    expect_error("serve:\n  socket_mode: \"0060\"\n", "\"0060",
                 "socket_mode must be octal permission bits like \"0660\" that let the owner "
                 "read and write, got '0060'");
    expect_error("serve:\n  socket_group: \"www data\"\n", "\"www",
                 "socket_group must be a user or group name (letters, digits, _ . -) or a "
                 "number, got 'www data'");
    expect_error("serve:\n  socket_users: [ok, \"-x\"]\n", "\"-x",
                 "socket_users must be a user or group name (letters, digits, _ . -) or a "
                 "number, got '-x'");
    expect_error("serve:\n  syslog_allow: [localhost]\n", "localhost",
                 "expected an address or a CIDR like 10.0.0.0/8 or 2001:db8::/32, got 'localhost'");
    expect_error("serve:\n  socket_groups: [a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q]\n", "[",
                 "too many entries in socket_groups: 17, at most 16");
}

/* --------------------------------------------------------------- cluster */

static void test_cluster_defaults_are_standalone_with_documented_names(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    assert_int_equal(c->cluster.role, RP_CLUSTER_STANDALONE);
    assert_string_equal(c->cluster.redis, "");
    assert_string_equal(c->cluster.password_file, "");
    assert_string_equal(c->cluster.stream, "rampart:events");
    assert_string_equal(c->cluster.group, "rampart-detectors");
    assert_string_equal(c->cluster.decisions, "rampart:decisions");
    assert_int_equal(c->cluster.stream_maxlen, 1000000);
    assert_string_equal(c->cluster.consumer, ""); /* host-<store path hash> */
    assert_int_equal(c->cluster.lease_ms, 2000);
    assert_int_equal(c->cluster.claim_idle_ms, 3000);
    rp_config_free(c);
}

static void test_cluster_section_sets_every_option(void **state) {
    (void)state;
    const char *text = "cluster:\n  redis: redis.internal:6380\n  role: edge\n"
                       "  stream: fleet:events\n  group: fleet-detectors\n"
                       "  decisions: fleet:decisions\n  password_file: redis.pass\n"
                       "  stream_maxlen: 5000\n  consumer: det-a\n  lease_ms: 1500\n"
                       "  claim_idle_ms: 2500\n";
    rp_config *c = NULL;
    rp_error err = {0};
    assert_int_equal(rp_config_parse(text, strlen(text), "/etc/rampart/rampart.yaml", &c, &err), RP_OK);
    assert_int_equal(c->cluster.role, RP_CLUSTER_EDGE);
    assert_string_equal(c->cluster.redis, "redis.internal:6380");
    assert_string_equal(c->cluster.stream, "fleet:events");
    assert_string_equal(c->cluster.group, "fleet-detectors");
    assert_string_equal(c->cluster.decisions, "fleet:decisions");
    assert_string_equal(c->cluster.password_file, "/etc/rampart/redis.pass");
    assert_int_equal(c->cluster.stream_maxlen, 5000);
    assert_string_equal(c->cluster.consumer, "det-a");
    assert_int_equal(c->cluster.lease_ms, 1500);
    assert_int_equal(c->cluster.claim_idle_ms, 2500);
    rp_config_free(c);
    const char *ok[] = {"cluster:\n  redis: /run/redis/redis.sock\n  role: detector\n",
                        "cluster:\n  redis: \"[::1]:6379\"\n  role: detector\n",
                        "cluster:\n  redis: 127.0.0.1:6379\n", "cluster:\n  role: standalone\n"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) rp_config_free(parse_ok(ok[i]));
}

static void test_cluster_errors_name_the_field(void **state) {
    (void)state;
    const char *msg_redis = "redis must be host:port (a name, an IPv4 address or [IPv6], a port "
                            "1..65535) or a unix socket path beginning with '/', got '%s'";
    const char *bad[] = {"redis.internal", "127.0.0.1:0", "127.0.0.1:65536", ":6379",
                         "re dis:6379",    "[::1:6379",   "127.0.0.1:"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[128], msg[256];
        snprintf(text, sizeof text, "cluster:\n  redis: \"%s\"\n", bad[i]);
        snprintf(msg, sizeof msg, msg_redis, bad[i]);
        expect_error(text, "\"", msg);
    }
    expect_error("cluster:\n  role: edge\n", "edge",
                 "role edge needs cluster.redis (host:port or a unix socket path), "
                 "cluster.sentinels or cluster.redis_cluster");
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  stream: \"a b\"\n", "\"a b\"",
                 "stream must be a Redis name: printable, without spaces, not empty, got 'a b'");
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  stream_maxlen: 10\n", "10",
                 "stream_maxlen must be a whole number between 1000 and 1000000000, got '10'");
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  consumer: \"det a\"\n", "\"det a\"",
                 "consumer must be a Redis name: printable, without spaces, not empty, got 'det a'");
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  lease_ms: 100\n", "100",
                 "lease_ms must be a whole number between 300 and 60000, got '100'");
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  claim_idle_ms: 00\n", "00",
                 "claim_idle_ms must be a whole number between 100 and 600000, got '00'");
}

/* The edge's outage options and the ACL user (docs/cluster.md). */
static void test_cluster_outage_and_acl_options(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    assert_string_equal(c->cluster.user, "");
    assert_int_equal(c->cluster.buffer_mb, 64);
    assert_int_equal(c->cluster.spool_sync_ms, 1000);
    assert_false(c->cluster.local_detection);
    rp_config_free(c);
    c = parse_ok("cluster:\n  redis: 127.0.0.1:6379\n  role: edge\n  user: rampart-edge\n"
                 "  password_file: /etc/rampart/redis.pass\n  buffer_mb: 0\n"
                 "  spool_sync_ms: 0\n  local_detection: true\n");
    assert_string_equal(c->cluster.user, "rampart-edge");
    assert_int_equal(c->cluster.buffer_mb, 0);
    assert_int_equal(c->cluster.spool_sync_ms, 0);
    assert_true(c->cluster.local_detection);
    rp_config_free(c);
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  user: edge\n", "edge",
                 "user edge needs cluster.password_file (AUTH user password)");
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  buffer_mb: 70000\n", "70000",
                 "buffer_mb must be a whole number between 0 and 65536, got '70000'");
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  spool_sync_ms: 61000\n", "61000",
                 "spool_sync_ms must be a whole number between 0 and 60000, got '61000'");
}

/* Partitioned detection (docs/cluster.md): 1 = the one stream. */
static void test_cluster_partitions(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    assert_int_equal(c->cluster.partitions, 1);
    rp_config_free(c);
    c = parse_ok("cluster:\n  redis: 127.0.0.1:6379\n  role: detector\n  partitions: 4\n");
    assert_int_equal(c->cluster.partitions, 4);
    rp_config_free(c);
    expect_error("cluster:\n  redis: 127.1.1.1:6379\n  partitions: 0\n", "0",
                 "partitions must be a whole number between 1 and 256, got '0'");
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  partitions: 257\n", "257",
                 "partitions must be a whole number between 1 and 256, got '257'");
}

/* Redis Sentinel (docs/cluster.md#redis-sentinel). */
static void test_cluster_sentinels(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    assert_int_equal(c->cluster.n_sentinels, 0);
    assert_string_equal(c->cluster.master_name, "rampart");
    rp_config_free(c);
    c = parse_ok("cluster:\n  role: edge\n  sentinels: [10.0.0.1:26379, \"[::1]:26380\", "
                 "sentinel.internal:26379]\n  master_name: fleet\n");
    assert_int_equal(c->cluster.role, RP_CLUSTER_EDGE);
    assert_string_equal(c->cluster.redis, "");
    assert_int_equal(c->cluster.n_sentinels, 3);
    assert_string_equal(c->cluster.sentinels[0], "10.0.0.1:26379");
    assert_string_equal(c->cluster.sentinels[1], "[::1]:26380");
    assert_string_equal(c->cluster.sentinels[2], "sentinel.internal:26379");
    assert_string_equal(c->cluster.master_name, "fleet");
    rp_config_free(c);
    c = parse_ok("cluster:\n  role: detector\n  sentinels:\n    - 127.0.0.1:26379\n");
    assert_int_equal(c->cluster.n_sentinels, 1);
    assert_string_equal(c->cluster.master_name, "rampart");
    rp_config_free(c);
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  sentinels: [127.0.0.1:26379]\n",
                 "[127.0.0.1:26379]",
                 "sentinels and cluster.redis are exclusive: the master's address comes from "
                 "the sentinels");
    expect_error("cluster:\n  sentinels: [127.0.0.1]\n", "127.0.0.1]",
                 "sentinels entries must be host:port (a name, an IPv4 address or [IPv6], a "
                 "port 1..65535), got '127.0.0.1'");
    expect_error("cluster:\n  sentinels: [/run/sentinel.sock]\n", "/run/sentinel.sock]",
                 "sentinels entries must be host:port (a name, an IPv4 address or [IPv6], a "
                 "port 1..65535), got '/run/sentinel.sock'");
    expect_error("cluster:\n  sentinels: 127.0.0.1:26379\n", "127.0.0.1:26379",
                 "sentinels must be a list, got '127.0.0.1:26379'");
    expect_error("cluster:\n  sentinels: [a:1, a:2, a:3, a:4, a:5, a:6, a:7, a:8, a:9]\n",
                 "[a:1", "too many entries in cluster.sentinels: 9, at most 8");
    expect_error("cluster:\n  sentinels: [a:1]\n  master_name: \"my master\"\n",
                 "\"my master\"",
                 "master_name must be a Redis name: printable, without spaces, not empty, got "
                 "'my master'");
}

/* WAIT after each publisher batch (docs/cluster.md#redis-sentinel). */
static void test_cluster_wait(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    assert_int_equal(c->cluster.wait_replicas, 0);
    assert_int_equal(c->cluster.wait_ms, 100);
    rp_config_free(c);
    c = parse_ok("cluster:\n  redis: 127.0.0.1:6379\n  role: edge\n");
    assert_int_equal(c->cluster.wait_replicas, 0); /* no sentinels: no WAIT */
    assert_int_equal(c->cluster.wait_ms, 100);
    rp_config_free(c);
    c = parse_ok("cluster:\n  role: edge\n  sentinels: [127.0.0.1:26379]\n");
    assert_int_equal(c->cluster.wait_replicas, 1); /* sentinels: WAIT 1 by default */
    assert_int_equal(c->cluster.wait_ms, 100);
    rp_config_free(c);
    c = parse_ok("cluster:\n  role: edge\n  sentinels: [127.0.0.1:26379]\n"
                 "  wait_replicas: 0\n");
    assert_int_equal(c->cluster.wait_replicas, 0); /* explicitly off */
    rp_config_free(c);
    c = parse_ok("cluster:\n  redis: 127.0.0.1:6379\n  wait_replicas: 2\n  wait_ms: 250\n");
    assert_int_equal(c->cluster.wait_replicas, 2);
    assert_int_equal(c->cluster.wait_ms, 250);
    rp_config_free(c);
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  wait_replicas: 17\n", "17\n",
                 "wait_replicas must be a whole number between 0 and 16, got '17'");
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  wait_ms: 0\n", "0\n",
                 "wait_ms must be a whole number between 1 and 10000, got '0'");
    expect_error("cluster:\n  redis: 127.0.0.1:6379\n  wait_ms: -5\n", "-5",
                 "wait_ms must be a whole number between 1 and 10000, got '-5'");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_config_has_documented_values),
        cmocka_unit_test(test_profile_defaults_follow_tolerance_presets),
        cmocka_unit_test(test_example_file_parses_to_defaults),
        cmocka_unit_test(test_empty_document_is_defaults),
        cmocka_unit_test(test_parse_engine_and_inventory_values),
        cmocka_unit_test(test_parse_durations_in_every_unit),
        cmocka_unit_test(test_profile_tolerance_applies_before_explicit_values),
        cmocka_unit_test(test_detector_settings_set_enabled_weight_and_params),
        cmocka_unit_test(test_parse_allowlists_and_route_rules),
        cmocka_unit_test(test_openapi_path_is_resolved_against_config_directory),
        cmocka_unit_test(test_error_unknown_key_suggests_the_near_one),
        cmocka_unit_test(test_error_bad_type),
        cmocka_unit_test(test_error_out_of_range),
        cmocka_unit_test(test_error_bad_duration),
        cmocka_unit_test(test_error_bad_cidr),
        cmocka_unit_test(test_error_unknown_detector_lists_known_ones),
        cmocka_unit_test(test_error_route_names_unknown_profile),
        cmocka_unit_test(test_error_too_many_profiles),
        cmocka_unit_test(test_error_yaml_syntax_has_location),
        cmocka_unit_test(test_error_duplicate_key_points_at_second),
        cmocka_unit_test(test_error_nesting_deeper_than_64_levels_stops_early),
        cmocka_unit_test(test_openapi_nesting_deeper_than_256_levels_stops_early),
        cmocka_unit_test(test_check_reports_every_mistake),
        cmocka_unit_test(test_cidr_parse_masks_and_maps_ipv4),
        cmocka_unit_test(test_clone_copies_declared_routes),
        cmocka_unit_test(test_openapi_yaml_import_with_server_prefix),
        cmocka_unit_test(test_openapi_json_import),
        cmocka_unit_test(test_openapi_rejects_non_openapi3_with_location),
        cmocka_unit_test(test_serve_defaults_are_documented),
        cmocka_unit_test(test_serve_section_sets_every_option_and_resolves_paths),
        cmocka_unit_test(test_serve_off_values_and_single_tail_file),
        cmocka_unit_test(test_serve_admin_defences),
        cmocka_unit_test(test_serve_error_bad_listen_addresses),
        cmocka_unit_test(test_serve_error_sizes_out_of_range),
        cmocka_unit_test(test_serve_error_paths_choices_and_lists),
        cmocka_unit_test(test_serve_senders_defaults_values_and_errors),
        cmocka_unit_test(test_cluster_defaults_are_standalone_with_documented_names),
        cmocka_unit_test(test_cluster_section_sets_every_option),
        cmocka_unit_test(test_cluster_errors_name_the_field),
        cmocka_unit_test(test_cluster_outage_and_acl_options),
        cmocka_unit_test(test_cluster_partitions),
        cmocka_unit_test(test_cluster_sentinels),
        cmocka_unit_test(test_cluster_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
