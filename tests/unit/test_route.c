/*
 * test_route.c -- templates, glob matching, class guessing and the route
 * inventory (declared first, learned next, capped by an overflow route,
 * cached lookups).
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
#include "route.h"

static void expect_template(const char *path, const char *want) {
    char buf[RP_ROUTE_TEMPLATE_MAX];
    size_t n = rp_route_learn_template(path, strlen(path), buf, sizeof buf);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
}

static void test_learn_template_turns_ids_into_parameters(void **state) {
    (void)state;
    expect_template("/users/123/orders", "/users/{id}/orders");
    expect_template("/api/products/5f3a9c2e-1b7d-4e2a-9c3f-0a1b2c3d4e5f", "/api/products/{id}");
    expect_template("/objects/5f3a9c2e0b1d", "/objects/{id}");
    expect_template("/u/alice@example.com/profile", "/u/{id}/profile");
    expect_template("/keys/AbC123xyz789QwErTy", "/keys/{id}");
    expect_template("/blobs/dGhpc0lzQVJhbmRvbUJhc2VTaXh0eUZvdXI", "/blobs/{id}");
    expect_template("/a/1/b/2", "/a/{id}/b/{id}");
}

static void test_learn_template_keeps_words_and_files(void **state) {
    (void)state;
    expect_template("/static/app.js", "/static/app.js");
    expect_template("/", "/");
    expect_template("/api/v1/users", "/api/v1/users");
    expect_template("/api/getUserAccountPreferences", "/api/getUserAccountPreferences");
    expect_template("/deadbeef", "/deadbeef"); /* hex without a digit is a word */
    expect_template("/Users/Me", "/Users/Me");  /* case is kept */
    expect_template("/a//b/", "/a//b/");
}

static void test_learn_template_bounds_its_output(void **state) {
    (void)state;
    char path[600];
    memset(path, 'x', sizeof path);
    path[0] = '/';
    char buf[32];
    size_t n = rp_route_learn_template(path, sizeof path, buf, sizeof buf);
    assert_int_equal(n, 31);
    assert_int_equal(strlen(buf), 31);
    char big[RP_ROUTE_TEMPLATE_MAX];
    n = rp_route_learn_template("/users/42", 9, big, 0); /* no room at all */
    assert_int_equal(n, 0);
}

static bool match(const char *t, const char *p) { return rp_route_template_match(t, p, strlen(p)); }

static void test_template_match_parameter_is_one_nonempty_segment(void **state) {
    (void)state;
    assert_true(match("/users/{id}", "/users/42"));
    assert_true(match("/users/{id}/orders", "/users/alice/orders"));
    assert_false(match("/users/{id}", "/users/"));
    assert_false(match("/users/{id}", "/users/4/2"));
    assert_false(match("/users/{id}", "/users"));
    assert_true(match("/files/{name}.json", "/files/report.json"));
    assert_false(match("/files/{name}.json", "/files/report.xml"));
}

static void test_template_match_trailing_star_matches_any_suffix(void **state) {
    (void)state;
    assert_true(match("*", "/anything/at/all"));
    assert_true(match("/static/*", "/static/"));
    assert_true(match("/static/*", "/static/css/site.css"));
    assert_true(match("/static/*", "/static"));
    assert_false(match("/static/*", "/staticx"));
    assert_true(match("/api*", "/api/v2"));
    assert_false(match("/api", "/api/v2"));
}

static void test_guess_class_from_words_and_method(void **state) {
    (void)state;
    assert_int_equal(rp_route_guess_class(RP_METHOD_POST, "/api/login"), RP_ROUTE_AUTH);
    assert_int_equal(rp_route_guess_class(RP_METHOD_POST, "/oauth/token"), RP_ROUTE_AUTH);
    assert_int_equal(rp_route_guess_class(RP_METHOD_POST, "/account/sign-in"), RP_ROUTE_AUTH);
    assert_int_equal(rp_route_guess_class(RP_METHOD_POST, "/wp-login.php"), RP_ROUTE_AUTH);
    assert_int_equal(rp_route_guess_class(RP_METHOD_POST, "/api/sessions"), RP_ROUTE_AUTH);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/api/sessions"), RP_ROUTE_LISTING);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/api/authors"), RP_ROUTE_LISTING);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/healthz"), RP_ROUTE_HEALTH);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/api/status"), RP_ROUTE_HEALTH);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/orders/{id}/status"), RP_ROUTE_OTHER);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/static/app.js"), RP_ROUTE_STATIC);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/robots.txt"), RP_ROUTE_STATIC);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/api/search"), RP_ROUTE_SEARCH);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/api/products/{id}"), RP_ROUTE_OBJECT);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/api/products"), RP_ROUTE_LISTING);
    assert_int_equal(rp_route_guess_class(RP_METHOD_POST, "/api/products"), RP_ROUTE_OTHER);
    assert_int_equal(rp_route_guess_class(RP_METHOD_GET, "/"), RP_ROUTE_OTHER);
}

static void test_class_parse_knows_every_class_name(void **state) {
    (void)state;
    for (int c = 0; c < RP_ROUTE_CLASS_COUNT; c++) {
        const char *name = rp_route_class_name((rp_route_class)c);
        rp_route_class got = RP_ROUTE_CLASS_COUNT;
        assert_int_equal(rp_route_class_parse(name, strlen(name), &got), RP_OK);
        assert_int_equal(got, c);
    }
    rp_route_class got;
    assert_int_equal(rp_route_class_parse("login", 5, &got), RP_EINVAL);
}

/* ------------------------------------------------------------ inventory */

static rp_route *lookup(rp_inventory *inv, rp_method m, const char *path) {
    return rp_inventory_lookup(inv, m, path, strlen(path));
}

static rp_inventory *new_inventory(const rp_config *c) {
    rp_inventory *inv = NULL;
    rp_error err;
    assert_int_equal(rp_inventory_new(c, &inv, &err), RP_OK);
    return inv;
}

static void test_inventory_learns_one_route_per_method_and_template(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    rp_inventory *inv = new_inventory(c);
    rp_route *a = lookup(inv, RP_METHOD_GET, "/users/1");
    rp_route *b = lookup(inv, RP_METHOD_GET, "/users/2");
    rp_route *post = lookup(inv, RP_METHOD_POST, "/users/2");
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, post);
    assert_string_equal(a->template_, "/users/{id}");
    assert_int_equal(a->method, RP_METHOD_GET);
    assert_int_equal(a->declared, 0);
    assert_int_equal(a->cls, RP_ROUTE_OBJECT);
    assert_int_equal(rp_inventory_count(inv), 2);
    assert_ptr_equal(rp_inventory_at(inv, a->id), a);
    assert_ptr_equal(rp_inventory_at(inv, post->id), post);
    assert_null(rp_inventory_at(inv, 2));
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_inventory_matches_declared_templates_first(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    assert_int_equal(rp_config_declare(c, RP_METHOD_GET, "/users/{name}", 13, -1), RP_OK);
    assert_int_equal(rp_config_declare(c, RP_METHOD_GET, "/users/me", 9, RP_ROUTE_OTHER), RP_OK);
    assert_int_equal(rp_config_declare(c, RP_METHOD_POST, "/login", 6, RP_ROUTE_AUTH), RP_OK);
    assert_int_equal(rp_config_declare(c, RP_METHOD_OTHER, "/files/{f}.json", 15, -1), RP_OK);
    rp_inventory *inv = new_inventory(c);
    assert_int_equal(rp_inventory_count(inv), 4);

    rp_route *alice = lookup(inv, RP_METHOD_GET, "/users/alice");
    assert_string_equal(alice->template_, "/users/{id}");
    assert_int_equal(alice->declared, 1);
    assert_int_equal(alice->cls, RP_ROUTE_OBJECT);
    rp_route *me = lookup(inv, RP_METHOD_GET, "/users/me"); /* literal beats parameter */
    assert_string_equal(me->template_, "/users/me");
    assert_ptr_equal(lookup(inv, RP_METHOD_HEAD, "/users/bob"), alice); /* HEAD as GET */
    rp_route *login = lookup(inv, RP_METHOD_POST, "/login");
    assert_int_equal(login->cls, RP_ROUTE_AUTH);
    assert_int_equal(lookup(inv, RP_METHOD_PUT, "/files/a.json")->declared, 1);

    /* Not declared for this method: learned, and marked undeclared. */
    rp_route *del = lookup(inv, RP_METHOD_DELETE, "/users/alice");
    assert_int_equal(del->declared, 0);
    assert_string_equal(del->template_, "/users/alice");
    rp_route *probe = lookup(inv, RP_METHOD_GET, "/.env");
    assert_int_equal(probe->declared, 0);
    assert_int_equal(rp_inventory_count(inv), 6);
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_inventory_past_cap_uses_overflow_route(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    c->max_routes = 3;
    rp_inventory *inv = new_inventory(c);
    lookup(inv, RP_METHOD_GET, "/a");
    lookup(inv, RP_METHOD_GET, "/b");
    lookup(inv, RP_METHOD_GET, "/c");
    rp_route *d = lookup(inv, RP_METHOD_GET, "/d");
    rp_route *e = lookup(inv, RP_METHOD_GET, "/e");
    rp_route *d2 = lookup(inv, RP_METHOD_GET, "/d"); /* cached: still counted */
    assert_ptr_equal(d, e);
    assert_ptr_equal(d, d2);
    assert_int_equal(d->overflow, 1);
    assert_string_equal(d->template_, "(other)");
    assert_int_equal(rp_inventory_overflow_hits(inv), 3);
    assert_int_equal(rp_inventory_count(inv), 4); /* three learned + overflow, ids stable */
    assert_ptr_equal(rp_inventory_at(inv, 3), d);
    assert_int_equal(lookup(inv, RP_METHOD_GET, "/b")->overflow, 0); /* old routes still found */
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_inventory_without_learning_sends_undeclared_to_overflow(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    c->learn_routes = false;
    assert_int_equal(rp_config_declare(c, RP_METHOD_GET, "/ok", 3, -1), RP_OK);
    rp_inventory *inv = new_inventory(c);
    assert_int_equal(lookup(inv, RP_METHOD_GET, "/ok")->declared, 1);
    assert_int_equal(lookup(inv, RP_METHOD_GET, "/nope")->overflow, 1);
    assert_int_equal(rp_inventory_count(inv), 2);
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_inventory_cached_lookup_returns_same_route(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    rp_inventory *inv = new_inventory(c);
    rp_route *first = lookup(inv, RP_METHOD_GET, "/products/77");
    for (int i = 0; i < 1000; i++) assert_ptr_equal(lookup(inv, RP_METHOD_GET, "/products/77"), first);
    /* A different method on the same raw path is its own route. */
    assert_ptr_not_equal(lookup(inv, RP_METHOD_POST, "/products/77"), first);
    /* Thousands of distinct raw paths of one template make one route. */
    char path[64];
    for (int i = 0; i < 10000; i++) {
        int n = snprintf(path, sizeof path, "/products/%d", i);
        assert_ptr_equal(rp_inventory_lookup(inv, RP_METHOD_GET, path, (size_t)n), first);
    }
    assert_int_equal(rp_inventory_count(inv), 2);
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_inventory_rules_attach_profile_class_and_skips(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    rp_profile_defaults(&c->profiles[1], "strict", RP_TOLERANCE_HIGH);
    c->n_profiles = 2;
    rp_route_rule *r = &c->rules[c->n_rules++];
    memset(r, 0, sizeof *r);
    r->method = RP_METHOD_POST;
    strcpy(r->glob, "/api/login");
    r->profile = 1;
    r->cls = RP_ROUTE_AUTH;
    r = &c->rules[c->n_rules++];
    memset(r, 0, sizeof *r);
    r->method = RP_METHOD_OTHER;
    strcpy(r->glob, "/internal/*");
    r->profile = -1;
    r->cls = -1;
    r->skip_detectors = 3;
    rp_inventory *inv = new_inventory(c);
    assert_int_equal(rp_inventory_count(inv), 1); /* the rule with a class declares its route */
    rp_route *login = lookup(inv, RP_METHOD_POST, "/api/login");
    assert_int_equal(login->declared, 1);
    assert_int_equal(login->profile, 1);
    assert_int_equal(login->cls, RP_ROUTE_AUTH);
    rp_route *internal = lookup(inv, RP_METHOD_GET, "/internal/jobs/5");
    assert_int_equal(internal->skip_detectors, 3);
    assert_int_equal(internal->profile, 0);
    rp_route *other = lookup(inv, RP_METHOD_GET, "/public");
    assert_int_equal(other->skip_detectors, 0);

    /* A reload without rules resets every route, old and new. */
    c->n_rules = 0;
    rp_inventory_configure(inv, c);
    assert_int_equal(login->profile, 0);
    assert_int_equal(login->cls, RP_ROUTE_AUTH); /* declared class stays */
    assert_int_equal(internal->skip_detectors, 0);
    assert_int_equal(internal->cls, RP_ROUTE_OBJECT);
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_inventory_client_scoped_rule_applies_to_its_cidrs_only(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    rp_route_rule *r = &c->rules[c->n_rules++];
    memset(r, 0, sizeof *r);
    strcpy(r->glob, "/health");
    r->profile = -1;
    r->cls = -1;
    r->skip_detectors = 1;
    r->n_cidrs = 1;
    assert_int_equal(rp_cidr_parse("10.0.0.0/8", 10, &r->cidrs[0]), RP_OK);
    rp_inventory *inv = new_inventory(c);
    rp_route *health = lookup(inv, RP_METHOD_GET, "/health");
    rp_route *other = lookup(inv, RP_METHOD_GET, "/other");
    assert_int_equal(health->skip_detectors, 0); /* not for everyone */
    rp_addr inside, outside;
    assert_int_equal(rp_addr_parse("10.1.2.3", 8, &inside), RP_OK);
    assert_int_equal(rp_addr_parse("192.0.2.1", 9, &outside), RP_OK);
    const rp_route_rule *got = rp_inventory_client_rule(inv, health, &inside);
    assert_non_null(got);
    assert_int_equal(got->skip_detectors, 1);
    assert_null(rp_inventory_client_rule(inv, health, &outside));
    assert_null(rp_inventory_client_rule(inv, other, &inside));
    assert_null(rp_inventory_client_rule(inv, rp_inventory_site(inv), &inside));
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_inventory_site_route_is_separate(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    rp_inventory *inv = new_inventory(c);
    rp_route *site = rp_inventory_site(inv);
    assert_non_null(site);
    assert_ptr_not_equal(site, lookup(inv, RP_METHOD_GET, "/"));
    assert_int_equal(rp_inventory_count(inv), 1);
    rp_inventory_free(inv);
    rp_config_free(c);
}

/* The scope of a fingerprint-on-a-route decision: a literal route's path,
 * or an object route's path up to its last segment -- what the nginx
 * module can compute from a raw path -- and never the whole site root. */
static void test_route_scope_is_the_literal_path_or_the_object_prefix(void **s) {
    (void)s;
    uint64_t scope;
    assert_true(rp_route_scope("/api/login", &scope));
    assert_int_equal(scope, rp_scope_hash("/api/login", 10));
    assert_true(rp_route_scope("/api/products/{id}", &scope));
    assert_int_equal(scope, rp_scope_hash("/api/products/", 14));
    assert_false(rp_route_scope("/{id}", &scope));
    assert_false(rp_route_scope("/", &scope));
    assert_false(rp_route_scope("(other)", &scope));
    assert_false(rp_route_scope("/api/users/{id}/orders", &scope));
    assert_false(rp_route_scope("/api/{a}{b}", &scope));
    assert_false(rp_route_scope("/api/v{n}", &scope));
    /* the raw-path side, as the nginx module and the daemon compute it:
     * every scope the engine can decide is among a matching path's */
    uint64_t sc[2];
    assert_int_equal(rp_path_scopes("/api/login", 10, sc), 2);
    assert_int_equal(sc[0], rp_scope_hash("/api/login", 10));
    assert_int_equal(sc[1], rp_scope_hash("/api/", 5)); /* were it "/api/{id}" */
    assert_int_equal(rp_path_scopes("/api/login/", 11, sc), 2);
    assert_int_equal(sc[0], rp_scope_hash("/api/login", 10));
    assert_int_equal(rp_path_scopes("/api/products/12", 16, sc), 2);
    assert_int_equal(sc[1], rp_scope_hash("/api/products/", 14));
    assert_int_equal(rp_path_scopes("/abc", 4, sc), 1); /* never the root "/" */
    assert_int_equal(rp_path_scopes("", 0, sc), 0);
    assert_int_equal(rp_path_scopes("*", 1, sc), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_scope_is_the_literal_path_or_the_object_prefix),
        cmocka_unit_test(test_learn_template_turns_ids_into_parameters),
        cmocka_unit_test(test_learn_template_keeps_words_and_files),
        cmocka_unit_test(test_learn_template_bounds_its_output),
        cmocka_unit_test(test_template_match_parameter_is_one_nonempty_segment),
        cmocka_unit_test(test_template_match_trailing_star_matches_any_suffix),
        cmocka_unit_test(test_guess_class_from_words_and_method),
        cmocka_unit_test(test_class_parse_knows_every_class_name),
        cmocka_unit_test(test_inventory_learns_one_route_per_method_and_template),
        cmocka_unit_test(test_inventory_matches_declared_templates_first),
        cmocka_unit_test(test_inventory_past_cap_uses_overflow_route),
        cmocka_unit_test(test_inventory_without_learning_sends_undeclared_to_overflow),
        cmocka_unit_test(test_inventory_cached_lookup_returns_same_route),
        cmocka_unit_test(test_inventory_rules_attach_profile_class_and_skips),
        cmocka_unit_test(test_inventory_client_scoped_rule_applies_to_its_cidrs_only),
        cmocka_unit_test(test_inventory_site_route_is_separate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
