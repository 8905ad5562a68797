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
#include "markov.h"
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
    /* three routes that answered: admitted, so nothing can take their slots */
    lookup(inv, RP_METHOD_GET, "/a")->successes = 1;
    lookup(inv, RP_METHOD_GET, "/b")->successes = 1;
    lookup(inv, RP_METHOD_GET, "/c")->successes = 1;
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

/* ------------------------------------------------------ route knowledge */

typedef struct exported {
    rp_route_knowledge k[16];
    int n;
} exported;

static bool keep_knowledge(void *user, const rp_route_knowledge *k) {
    exported *x = user;
    assert_true(x->n < 16);
    x->k[x->n++] = *k;
    return true;
}

static exported export_all(const rp_inventory *inv) {
    exported x;
    memset(&x, 0, sizeof x);
    rp_inventory_export(inv, keep_knowledge, &x);
    return x;
}

static rp_route_knowledge knowledge_of(rp_method m, const char *t, rp_route_class cls) {
    rp_route_knowledge k;
    memset(&k, 0, sizeof k);
    k.method = (uint8_t)m;
    snprintf(k.template_, sizeof k.template_, "%s", t);
    k.cls = cls;
    return k;
}

static void add_rule(rp_config *c, rp_method m, const char *glob, int cls) {
    rp_route_rule *r = &c->rules[c->n_rules++];
    memset(r, 0, sizeof *r);
    r->method = (uint8_t)m;
    snprintf(r->glob, sizeof r->glob, "%s", glob);
    r->profile = -1;
    r->cls = cls;
}

static void test_knowledge_round_trip_restores_templates_counters_and_mark(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    c->max_routes = 4;
    rp_inventory *inv = new_inventory(c);
    rp_route *users = lookup(inv, RP_METHOD_GET, "/users/42");
    users->requests = 100;
    users->errors = 10;
    users->not_found = 4;
    users->successes = 90;
    users->flagged = 3;
    rp_route *form = lookup(inv, RP_METHOD_POST, "/account/session2");
    form->requests = 5;
    form->successes = 5;
    form->common_answer = 302u << 20 | 9;
    form->common_answer_votes = 1;
    for (int i = 0; i < 4; i++) { /* fill the cap: the overflow route appears */
        char p[16];
        snprintf(p, sizeof p, "/p%d", i);
        rp_route *r = lookup(inv, RP_METHOD_GET, p);
        if (!r->overflow) r->requests = r->successes = 1; /* admitted */
    }
    assert_int_equal(rp_inventory_count(inv), 5);
    exported x = export_all(inv);
    assert_int_equal(x.n, 4); /* "(other)" is the cap, not knowledge */
    for (int i = 0; i < x.n; i++) assert_int_equal(x.k[i].template_[0], '/');
    assert_int_equal(x.k[1].cls, RP_ROUTE_OTHER); /* "session2" says nothing */
    x.k[1].cls = RP_ROUTE_AUTH; /* as if the engine had learned it was a login */

    rp_inventory *back = new_inventory(c);
    rp_error err;
    for (int i = 0; i < x.n; i++) assert_int_equal(rp_inventory_restore(back, &x.k[i], &err), RP_OK);
    assert_int_equal(rp_inventory_count(back), 4);
    rp_route *u = lookup(back, RP_METHOD_GET, "/users/7");
    assert_string_equal(u->template_, "/users/{id}");
    assert_int_equal(u->cls, RP_ROUTE_OBJECT);
    assert_int_equal(u->declared, 0);
    assert_int_equal(u->requests, 100);
    assert_int_equal(u->errors, 10);
    assert_int_equal(u->not_found, 4);
    assert_int_equal(u->successes, 90);
    assert_int_equal(u->flagged, 3);
    rp_route *f = lookup(back, RP_METHOD_POST, "/account/session2");
    assert_int_equal(f->cls, RP_ROUTE_AUTH); /* the stored class fills in where the name is silent */
    assert_int_equal(f->common_answer, 302u << 20 | 9);
    assert_int_equal(f->common_answer_votes, 1);
    assert_int_equal(rp_inventory_count(back), 4); /* found, not learned again */
    /* a second restore of the same route adds up (saturating) */
    x.k[1].common_answer = 303u << 20;
    x.k[1].common_answer_votes = UINT32_MAX;
    assert_int_equal(rp_inventory_restore(back, &x.k[1], &err), RP_OK);
    assert_int_equal(f->requests, 10);
    assert_int_equal(f->common_answer, 302u << 20 | 9); /* the mark it had stays */
    assert_int_equal(f->common_answer_votes, UINT32_MAX);
    /* the export of the restored inventory is the same knowledge again */
    exported y = export_all(back);
    assert_int_equal(y.n, 4);
    assert_memory_equal(&y.k[0], &x.k[0], sizeof x.k[0]);
    rp_inventory_free(back);
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void expect_rejected(rp_inventory *inv, const rp_route_knowledge *k, rp_status want) {
    size_t before = rp_inventory_count(inv);
    rp_error err;
    memset(&err, 0, sizeof err);
    assert_int_equal(rp_inventory_restore(inv, k, &err), want);
    assert_true(err.message[0] != 0);
    assert_int_equal(rp_inventory_count(inv), before);
}

static void test_knowledge_restore_rejects_garbage_and_changes_nothing(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    rp_inventory *inv = new_inventory(c);
    rp_route *known = lookup(inv, RP_METHOD_POST, "/api/login");
    known->requests = 1;
    rp_route_knowledge ok = knowledge_of(RP_METHOD_POST, "/api/login", RP_ROUTE_AUTH);
    ok.requests = 10;
    ok.errors = 6;
    ok.not_found = 1;
    ok.successes = 4;
    ok.flagged = 2;
    rp_route_knowledge k;

    k = ok, k.method = RP_METHOD_COUNT;
    expect_rejected(inv, &k, RP_EINVAL);
    k = ok, k.cls = (rp_route_class)99;
    expect_rejected(inv, &k, RP_EINVAL);
    k = ok, memset(k.template_, 'a', sizeof k.template_); /* no NUL */
    k.template_[0] = '/';
    expect_rejected(inv, &k, RP_EINVAL);
    k = knowledge_of(RP_METHOD_GET, "", RP_ROUTE_OTHER);
    expect_rejected(inv, &k, RP_EINVAL);
    k = knowledge_of(RP_METHOD_GET, "users", RP_ROUTE_OTHER);
    expect_rejected(inv, &k, RP_EINVAL);
    k = knowledge_of(RP_METHOD_OTHER, "(other)", RP_ROUTE_OTHER);
    expect_rejected(inv, &k, RP_EINVAL);
    k = knowledge_of(RP_METHOD_GET, "/a\nb", RP_ROUTE_OTHER);
    expect_rejected(inv, &k, RP_EINVAL);
    k = ok, k.errors = 11; /* more errors than requests */
    expect_rejected(inv, &k, RP_EINVAL);
    k = ok, k.successes = 5; /* successes + errors > requests */
    expect_rejected(inv, &k, RP_EINVAL);
    k = ok, k.not_found = 7; /* more 404s than errors */
    expect_rejected(inv, &k, RP_EINVAL);
    k = ok, k.flagged = 11;
    expect_rejected(inv, &k, RP_EINVAL);
    k = ok, k.common_answer = 302u << 20; /* a mark without votes */
    expect_rejected(inv, &k, RP_EINVAL);
    k = ok, k.common_answer = 200u << 20, k.common_answer_votes = 1; /* not a redirect */
    expect_rejected(inv, &k, RP_EINVAL);
    k = ok, k.common_answer = 302u << 20 | 64, k.common_answer_votes = 1; /* no such bucket */
    expect_rejected(inv, &k, RP_EINVAL);
    /* Well formed, but learning would never make it: "/users/123" is "/users/{id}". */
    k = knowledge_of(RP_METHOD_GET, "/users/123", RP_ROUTE_OBJECT);
    expect_rejected(inv, &k, RP_ENOENT);
    assert_int_equal(known->requests, 1); /* nothing was added by any of them */
    assert_int_equal(known->common_answer_votes, 0);
    assert_int_equal(rp_inventory_restore(inv, &ok, NULL), RP_OK);
    assert_int_equal(known->requests, 11);

    /* Random bytes: never a crash, never past the cap. */
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 20000; i++) {
        uint8_t *b = (uint8_t *)&k;
        for (size_t j = 0; j < sizeof k; j++) {
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            b[j] = (uint8_t)seed;
        }
        if (i & 1) k.template_[0] = '/', k.template_[1 + (seed & 15)] = 0;
        rp_inventory_restore(inv, &k, NULL);
    }
    assert_true(rp_inventory_count(inv) <= (size_t)c->max_routes + 1);
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_knowledge_restore_never_overrides_the_config(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    add_rule(c, RP_METHOD_POST, "/account/session2", RP_ROUTE_AUTH); /* declares it */
    assert_int_equal(rp_config_declare(c, RP_METHOD_GET, "/users/{name}", 13, -1), RP_OK);
    add_rule(c, RP_METHOD_OTHER, "/static/*", RP_ROUTE_STATIC); /* a glob: declares nothing */
    rp_inventory *inv = new_inventory(c);
    size_t declared = rp_inventory_count(inv);
    rp_error err;

    /* A stored "other" does not undo the declared class; the mark comes back. */
    rp_route_knowledge k = knowledge_of(RP_METHOD_POST, "/account/session2", RP_ROUTE_OTHER);
    k.requests = 3;
    k.successes = 1;
    k.common_answer = 302u << 20 | 5;
    k.common_answer_votes = 1;
    assert_int_equal(rp_inventory_restore(inv, &k, &err), RP_OK);
    rp_route *form = lookup(inv, RP_METHOD_POST, "/account/session2");
    assert_int_equal(form->declared, 1);
    assert_int_equal(form->cls, RP_ROUTE_AUTH);
    assert_int_equal(form->common_answer_votes, 1);
    assert_int_equal(form->requests, 3);

    /* A learned template that a declared one now covers lands on it. */
    k = knowledge_of(RP_METHOD_GET, "/users/{id}", RP_ROUTE_SEARCH);
    k.requests = 50;
    assert_int_equal(rp_inventory_restore(inv, &k, &err), RP_OK);
    rp_route *user = lookup(inv, RP_METHOD_GET, "/users/alice");
    assert_int_equal(user->declared, 1);
    assert_int_equal(user->cls, RP_ROUTE_OBJECT);
    assert_int_equal(user->requests, 50);
    assert_int_equal(rp_inventory_count(inv), declared);

    /* The words of the name win over a stored class ("login" stays auth)... */
    k = knowledge_of(RP_METHOD_POST, "/api/login", RP_ROUTE_STATIC);
    assert_int_equal(rp_inventory_restore(inv, &k, &err), RP_OK);
    assert_int_equal(lookup(inv, RP_METHOD_POST, "/api/login")->cls, RP_ROUTE_AUTH);
    /* ...a class the config declared once and no longer does is not kept... */
    k = knowledge_of(RP_METHOD_POST, "/index.php", RP_ROUTE_AUTH);
    k.declared = true;
    assert_int_equal(rp_inventory_restore(inv, &k, &err), RP_OK);
    assert_int_equal(lookup(inv, RP_METHOD_POST, "/index.php")->cls, RP_ROUTE_OTHER);
    /* ...and the rules apply on top of a restored route, as on any. */
    k = knowledge_of(RP_METHOD_GET, "/static/app", RP_ROUTE_AUTH);
    assert_int_equal(rp_inventory_restore(inv, &k, &err), RP_OK);
    assert_int_equal(lookup(inv, RP_METHOD_GET, "/static/app")->cls, RP_ROUTE_STATIC);
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_knowledge_restore_stays_within_the_cap(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    c->max_routes = 3;
    add_rule(c, RP_METHOD_POST, "/index.php", RP_ROUTE_AUTH);
    rp_inventory *inv = new_inventory(c);
    rp_error err;
    char t[16];
    for (int i = 0; i < 5; i++) {
        snprintf(t, sizeof t, "/r%d", i);
        rp_route_knowledge k = knowledge_of(RP_METHOD_GET, t, RP_ROUTE_OTHER);
        k.requests = k.successes = 1; /* admitted routes: a new path cannot take their slots */
        assert_int_equal(rp_inventory_restore(inv, &k, &err), i < 3 ? RP_OK : RP_ENOMEM);
    }
    /* a declared route is not a learned one: it still takes its knowledge */
    rp_route_knowledge k = knowledge_of(RP_METHOD_POST, "/index.php", RP_ROUTE_AUTH);
    k.common_answer = 302u << 20;
    k.common_answer_votes = 2;
    assert_int_equal(rp_inventory_restore(inv, &k, &err), RP_OK);
    assert_int_equal(rp_inventory_count(inv), 4);
    assert_int_equal(lookup(inv, RP_METHOD_GET, "/new")->overflow, 1);
    rp_inventory_free(inv);

    c->learn_routes = false;
    inv = new_inventory(c);
    k = knowledge_of(RP_METHOD_GET, "/r0", RP_ROUTE_OTHER);
    assert_int_equal(rp_inventory_restore(inv, &k, &err), RP_ENOENT);
    assert_int_equal(rp_inventory_count(inv), 1);
    rp_inventory_free(inv);
    rp_config_free(c);
}

/* ------------------------------------------------------------- probes */

/* What the engine does with a route after its event (learn_route). */
static rp_route *answer(rp_inventory *inv, const char *path, int status) {
    rp_route *r = lookup(inv, RP_METHOD_GET, path);
    r->requests++;
    if (status >= 400) r->errors++;
    if (status == 404) r->not_found++;
    if (status >= 200 && status < 400) r->successes++;
    return r;
}

static void test_probe_flood_never_evicts_routes_that_answered(void **state) {
    (void)state;
    rp_config *c = rp_config_default(); /* max_routes 4096 */
    rp_inventory *inv = new_inventory(c);
    rp_route *real[20];
    char path[64];
    for (int i = 0; i < 20; i++) {
        snprintf(path, sizeof path, "/api/v1/things%d/%d", i, 1000 + i);
        for (int k = 0; k < 3; k++) real[i] = answer(inv, path, 200);
    }
    assert_int_equal(rp_inventory_routes(inv), 20);
    /* gobuster: 100,000 distinct words, each asked once, each a 404 */
    for (int i = 0; i < 100000; i++) {
        snprintf(path, sizeof path, "/w%dord.bak", i);
        rp_route *r = answer(inv, path, 404);
        assert_int_equal(r->overflow, 0); /* probes recycle among themselves */
    }
    for (int i = 0; i < 20; i++) {
        snprintf(path, sizeof path, "/api/v1/things%d/%d", i, 7); /* another id, same route */
        rp_route *r = lookup(inv, RP_METHOD_GET, path);
        assert_ptr_equal(r, real[i]);
        snprintf(path, sizeof path, "/api/v1/things%d/{id}", i);
        assert_string_equal(r->template_, path);
        assert_int_equal(r->requests, 3);
        assert_int_equal(r->successes, 3);
    }
    assert_true(rp_inventory_count(inv) <= c->max_routes);
    assert_int_equal(rp_inventory_routes(inv), 20);
    assert_int_equal(rp_inventory_overflow_hits(inv), 0);
    assert_int_equal(rp_inventory_recycled(inv), 100000 - (c->max_routes - 20));
    rp_route *probes = malloc(sizeof *probes);
    rp_inventory_probes(inv, probes);
    assert_string_equal(probes->template_, "(probes)");
    assert_int_equal(probes->requests, 100000); /* every probe still counted, in one row */
    assert_int_equal(probes->not_found, 100000);
    free(probes);
    /* a real route first seen after the flood still gets a slot of its own */
    rp_route *late = answer(inv, "/api/v1/late", 200);
    assert_int_equal(late->overflow, 0);
    assert_string_equal(late->template_, "/api/v1/late");
    assert_int_equal(rp_inventory_routes(inv), 21);
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_probe_candidate_asked_again_gets_a_second_chance(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    c->max_routes = 4;
    rp_inventory *inv = new_inventory(c);
    rp_route *icon = answer(inv, "/favicon.ico", 404);
    char path[32];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/probe%d.php", i);
        answer(inv, path, 404);
    }
    /* the icon is asked again between every two new probes: never evicted */
    for (int i = 3; i < 40; i++) {
        assert_ptr_equal(answer(inv, "/favicon.ico", 404), icon);
        snprintf(path, sizeof path, "/probe%d.php", i);
        answer(inv, path, 404);
    }
    assert_string_equal(icon->template_, "/favicon.ico");
    assert_int_equal(icon->requests, 38);
    assert_int_equal(rp_inventory_routes(inv), 0); /* still not part of the site */
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_probe_path_asked_by_many_clients_is_admitted(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    c->max_routes = 2;
    rp_inventory *inv = new_inventory(c);
    /* a login answering only 401, from many addresses */
    rp_route *login = answer(inv, "/api/signin", 401);
    /* the count is the route's sketch (13 % error), so well below and
     * well above the bound */
    uint64_t k = 0;
    for (; k < RP_ROUTE_ADMIT_CLIENTS / 2; k++)
        rp_hll_add(&login->clients, rp_hash64(&k, sizeof k, 0xc1));
    assert_false(rp_inventory_admitted(login));
    for (; k < 2 * RP_ROUTE_ADMIT_CLIENTS; k++)
        rp_hll_add(&login->clients, rp_hash64(&k, sizeof k, 0xc1));
    assert_true(rp_inventory_admitted(login));
    char path[32];
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "/probe%d.php", i);
        answer(inv, path, 404);
    }
    assert_ptr_equal(lookup(inv, RP_METHOD_GET, "/api/signin"), login);
    assert_string_equal(login->template_, "/api/signin");
    assert_int_equal(rp_inventory_routes(inv), 1);
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_probe_slot_recycled_is_a_new_route_to_cache_and_model(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    c->max_routes = 2;
    rp_inventory *inv = new_inventory(c);
    rp_route *word = answer(inv, "/x/abc", 404);
    uint32_t id = word->id, gen = word->gen;
    uint64_t hash = word->hash;
    answer(inv, "/y", 404);
    /* "/x/{id}" takes the slot of "/x/abc", the oldest candidate */
    rp_route *param = answer(inv, "/x/42", 404);
    assert_int_equal(param->id, id);
    assert_int_equal(param->gen, gen + 1);
    assert_string_equal(param->template_, "/x/{id}");
    /* the route transition model names routes by hash: another key */
    assert_int_not_equal(rp_markov_key(param->hash), rp_markov_key(hash));
    /* "/x/abc" is cached on that slot, and "/x/{id}" matches it: the
     * generation keeps it from landing there */
    rp_route *again = lookup(inv, RP_METHOD_GET, "/x/abc");
    assert_string_equal(again->template_, "/x/abc");
    assert_int_equal(again->requests, 0); /* a new route: the old counters are in the tally */
    assert_string_equal(lookup(inv, RP_METHOD_GET, "/x/42")->template_, "/x/{id}");
    rp_inventory_free(inv);
    rp_config_free(c);
}

static void test_probe_paths_are_not_exported_as_knowledge(void **state) {
    (void)state;
    rp_config *c = rp_config_default();
    rp_inventory *inv = new_inventory(c);
    answer(inv, "/api/orders", 200);
    answer(inv, "/.env", 404);
    answer(inv, "/wp-login.php", 404);
    exported x = export_all(inv);
    assert_int_equal(x.n, 1);
    assert_string_equal(x.k[0].template_, "/api/orders");
    rp_inventory_free(inv);

    /* Stores written before: a route of a store without the successes
     * column (they read 0) that answered is kept; a stored probe path is
     * restored as a candidate and not exported again. */
    inv = new_inventory(c);
    rp_route_knowledge old = knowledge_of(RP_METHOD_GET, "/users/{id}", RP_ROUTE_OBJECT);
    old.requests = 120;
    old.errors = 3;
    rp_route_knowledge probe = knowledge_of(RP_METHOD_GET, "/.env", RP_ROUTE_OTHER);
    probe.requests = probe.errors = probe.not_found = 5;
    rp_error err;
    assert_int_equal(rp_inventory_restore(inv, &old, &err), RP_OK);
    assert_int_equal(rp_inventory_restore(inv, &probe, &err), RP_OK);
    assert_int_equal(rp_inventory_routes(inv), 1);
    x = export_all(inv);
    assert_int_equal(x.n, 1);
    assert_string_equal(x.k[0].template_, "/users/{id}");
    rp_inventory_free(inv);
    rp_config_free(c);
}

/* --------------------------------------------- the engine, end to end */

typedef struct auth_seen {
    int auth_incidents;
} auth_seen;

static void on_incident(void *user, const rp_incident *inc) {
    auth_seen *seen = user;
    for (int i = 0; i < inc->n_findings; i++)
        if (strcmp(inc->findings[i].detector, "auth") == 0 && inc->findings[i].score > 0 &&
            inc->key.level == RP_LEVEL_IP)
            seen->auth_incidents++;
}

static rp_engine *engine_with(const char *yaml, auth_seen *seen) {
    rp_config *c = NULL;
    rp_error err;
    assert_int_equal(rp_config_parse(yaml, strlen(yaml), "test.yaml", &c, &err), RP_OK);
    rp_engine_callbacks cb = {.user = seen, .on_incident = on_incident};
    rp_engine *e = NULL;
    assert_int_equal(rp_engine_new(c, &cb, &e, &err), RP_OK);
    rp_config_free(c);
    return e;
}

#define SEC 1000000LL
#define T0 (1764064800LL * SEC)

static void post(rp_engine *e, const char *ip, int64_t ts, const char *path, int status,
                 uint64_t bytes) {
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(rp_addr_parse(ip, strlen(ip), &ev.client), RP_OK);
    ev.ts_us = ts;
    ev.method = RP_METHOD_POST;
    ev.path.ptr = path;
    ev.path.len = (uint32_t)strlen(path);
    ev.status = (uint16_t)status;
    ev.response_bytes = bytes;
    ev.upstream_us = -1;
    ev.user_agent.ptr = "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0";
    ev.user_agent.len = (uint32_t)strlen(ev.user_agent.ptr);
    rp_engine_feed(e, &ev);
}

/* The same 200 page every 2 s (30 a minute, under the 60 a minute at
 * which repeated form answers are judged by their pace alone) for 3
 * minutes. */
static void same_page_at_30_per_min(rp_engine *e, int64_t start, const char *path) {
    for (int i = 0; i < 90; i++) post(e, "198.51.100.7", start + i * 2 * SEC, path, 200, 3400);
}

static bool restore_into(void *user, const rp_route_knowledge *k) {
    rp_error err;
    assert_int_equal(rp_engine_route_restore(user, k, &err), RP_OK);
    return true;
}

static const char form_config[] = "routes:\n"
                                  "  - { match: \"POST /account/session2\", class: auth }\n";

static void test_engine_restored_redirect_mark_makes_200_pages_failures(void **state) {
    (void)state;
    auth_seen before = {0}, after = {0}, blind = {0};
    rp_engine *old = engine_with(form_config, &before);
    post(old, "192.0.2.10", T0, "/account/session2", 302, 0); /* a person logs in */
    rp_engine *restarted = engine_with(form_config, &after);
    rp_engine_routes_export(old, restore_into, restarted);
    same_page_at_30_per_min(restarted, T0 + 3600 * SEC, "/account/session2");
    assert_true(after.auth_incidents > 0);
    /* without the mark the same traffic is not judged a brute force */
    rp_engine *fresh = engine_with(form_config, &blind);
    same_page_at_30_per_min(fresh, T0 + 3600 * SEC, "/account/session2");
    assert_int_equal(blind.auth_incidents, 0);
    rp_engine_free(old);
    rp_engine_free(restarted);
    rp_engine_free(fresh);
}

static void test_engine_declared_auth_class_is_used_from_the_first_request(void **state) {
    (void)state;
    static const char *const paths[] = {"/account/session2", "/index.php"};
    for (int p = 0; p < 2; p++) {
        char yaml[160];
        snprintf(yaml, sizeof yaml, "routes:\n  - { match: \"POST %s\", class: auth }\n", paths[p]);
        auth_seen seen = {0}, undeclared = {0};
        rp_engine *e = engine_with(yaml, &seen);
        rp_engine *plain = engine_with("{}", &undeclared);
        /* 15 failed logins a minute, answered 403 (a 401 is a refused
         * credential on any route, declared or not: auth.c) */
        for (int i = 0; i < 45; i++) {
            post(e, "198.51.100.7", T0 + i * 4 * SEC, paths[p], 403, 1200);
            post(plain, "198.51.100.7", T0 + i * 4 * SEC, paths[p], 403, 1200);
        }
        assert_true(seen.auth_incidents > 0);
        assert_int_equal(undeclared.auth_incidents, 0);
        rp_engine_free(e);
        rp_engine_free(plain);
    }
}

static void get_from(rp_engine *e, const char *ip, int64_t ts, const char *path, int status) {
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    assert_int_equal(rp_addr_parse(ip, strlen(ip), &ev.client), RP_OK);
    ev.ts_us = ts;
    ev.method = RP_METHOD_GET;
    ev.path.ptr = path;
    ev.path.len = (uint32_t)strlen(path);
    ev.status = (uint16_t)status;
    ev.response_bytes = 900;
    ev.upstream_us = -1;
    ev.user_agent.ptr = "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0";
    ev.user_agent.len = (uint32_t)strlen(ev.user_agent.ptr);
    rp_engine_feed(e, &ev);
}

/* Ten minutes of a small site: 30 routes, 40 people, a few 404s. With
 * scanner set, gobuster runs a 50,000-word list against it meanwhile. */
static void site_traffic(rp_engine *e, bool scanner) {
    char path[64], ip[32];
    int word = 0;
    for (int s = 0; s < 600; s++) {
        for (int p = 0; p < 4; p++) {
            int n = s * 4 + p;
            snprintf(ip, sizeof ip, "192.0.2.%d", 10 + n % 40);
            snprintf(path, sizeof path, "/api/section%d/%d", n % 30, n);
            get_from(e, ip, T0 + s * SEC + p * 1000, path, n % 97 == 0 ? 404 : 200);
        }
        for (int w = 0; scanner && w < 84; w++, word++) {
            snprintf(path, sizeof path, "/%s%d", word % 2 ? "backup" : "admin", word);
            get_from(e, "203.0.113.66", T0 + s * SEC + 5000 + w * 100, path, 404);
        }
    }
}

static bool count_listed(void *user, const rp_route_info *r) {
    int *n = user;
    if (strcmp(r->template_, "(probes)") == 0) n[1] += (int)r->requests;
    else n[0]++;
    return true;
}

static void test_engine_wordlist_run_leaves_the_route_count_of_real_traffic(void **state) {
    (void)state;
    auth_seen unused = {0};
    rp_engine *quiet = engine_with("{}", &unused), *scanned = engine_with("{}", &unused);
    site_traffic(quiet, false);
    site_traffic(scanned, true);
    rp_engine_stats a, b;
    rp_engine_get_stats(quiet, &a);
    rp_engine_get_stats(scanned, &b);
    assert_int_equal(a.routes, 30);
    assert_int_equal(b.routes, a.routes);
    assert_int_equal(b.routes_overflow, 0);
    int listed[2] = {0, 0};
    rp_engine_routes(scanned, count_listed, listed);
    assert_int_equal(listed[0], 30);
    assert_int_equal(listed[1], 600 * 84); /* every probe in the "(probes)" row */
    rp_engine_free(quiet);
    rp_engine_free(scanned);
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
        cmocka_unit_test(test_knowledge_round_trip_restores_templates_counters_and_mark),
        cmocka_unit_test(test_knowledge_restore_rejects_garbage_and_changes_nothing),
        cmocka_unit_test(test_knowledge_restore_never_overrides_the_config),
        cmocka_unit_test(test_knowledge_restore_stays_within_the_cap),
        cmocka_unit_test(test_engine_restored_redirect_mark_makes_200_pages_failures),
        cmocka_unit_test(test_engine_declared_auth_class_is_used_from_the_first_request),
        cmocka_unit_test(test_probe_flood_never_evicts_routes_that_answered),
        cmocka_unit_test(test_probe_candidate_asked_again_gets_a_second_chance),
        cmocka_unit_test(test_probe_path_asked_by_many_clients_is_admitted),
        cmocka_unit_test(test_probe_slot_recycled_is_a_new_route_to_cache_and_model),
        cmocka_unit_test(test_probe_paths_are_not_exported_as_knowledge),
        cmocka_unit_test(test_engine_wordlist_run_leaves_the_route_count_of_real_traffic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
