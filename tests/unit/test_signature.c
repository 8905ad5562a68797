/*
 * test_signature.c -- the signature detector: user-agent classes, rotation,
 * header contradictions, and its evidence.
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

extern const rp_detector rp_detector_signature;

/* Exported by signature.c for these tests. */
typedef struct rp_ua_class {
    uint8_t cls;
    bool browser;
    const char *tool;
} rp_ua_class;
int rp_signature_version_at(int browser, int64_t ts_us);
void rp_signature_classify(const char *ua, size_t len, int min_chrome, int min_firefox,
                           rp_ua_class *out);

enum { UA_UNKNOWN = 0, UA_GOODBOT, UA_LIBRARY, UA_EMPTY, UA_SCRAPER, UA_OUTDATED, UA_HEADLESS,
       UA_ATTACK };

#define SEC 1000000LL
#define T0 (1700000000LL * SEC)

#define CHROME_120                                                                            \
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "        \
    "Chrome/120.0.0.0 Safari/537.36"

static int setup(void **s) {
    *s = fixture_new(&rp_detector_signature);
    return 0;
}

/* One request with user agent ua at time ts; returns the score. */
static double feed(fixture *f, int64_t ts, const char *ua, uint32_t flags) {
    f->ev.method = RP_METHOD_GET;
    f->ev.status = 200;
    f->ev.flags = flags;
    f->ev.user_agent.ptr = ua;
    f->ev.user_agent.len = ua ? (uint32_t)strlen(ua) : 0;
    f->obs.ua_hash = ua && *ua ? rp_hash64(ua, strlen(ua), 7) : 0;
    return fixture_feed(f, ts);
}

static unsigned cls_of(const char *ua) {
    rp_ua_class c;
    rp_signature_classify(ua, strlen(ua), 90, 80, &c);
    return c.cls;
}

/* ------------------------------------------------------------ classifier */

static void test_signature_classifies_real_attack_tool_user_agents(void **s) {
    (void)s;
    static const char *const tools[] = {
        "sqlmap/1.7.2#stable (https://sqlmap.org)",
        "Mozilla/5.00 (Nikto/2.1.6) (Evasions:None) (Test:000001)",
        "gobuster/3.6",
        "Fuzz Faster U Fool v2.1.0-dev",
        "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
        "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)",
        "Mozilla/4.0 (Hydra)",
        "Wfuzz/3.1.0",
        "WPScan v3.8.24 (https://wpscan.com/wordpress-security-scanner)",
        "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
        "Mozilla/5.0 zgrab/0.x",
        "DirBuster-1.0-RC1 (http://www.owasp.org/index.php/Category:OWASP_DirBuster_Project)",
    };
    for (unsigned i = 0; i < sizeof tools / sizeof tools[0]; i++) {
        if (cls_of(tools[i]) != UA_ATTACK) fail_msg("not an attack tool: %s", tools[i]);
    }
    rp_ua_class c;
    rp_signature_classify(tools[0], strlen(tools[0]), 90, 80, &c);
    assert_string_equal(c.tool, "sqlmap");
}

static void test_signature_modern_browsers_are_browsers_not_suspects(void **s) {
    (void)s;
    static const char *const uas[] = {
        CHROME_120,
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
        "like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like "
        "Gecko) Chrome/119.0.0.0 Safari/537.36 Edg/119.0.2151.72",
    };
    for (unsigned i = 0; i < sizeof uas / sizeof uas[0]; i++) {
        rp_ua_class c;
        rp_signature_classify(uas[i], strlen(uas[i]), 90, 80, &c);
        assert_int_equal(c.cls, UA_UNKNOWN);
    }
    rp_ua_class c;
    rp_signature_classify(CHROME_120, strlen(CHROME_120), 90, 80, &c);
    assert_true(c.browser);
}

static void test_signature_old_chrome_and_msie_are_outdated(void **s) {
    (void)s;
    assert_int_equal(cls_of("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 "
                            "(KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36"),
                     UA_OUTDATED);
    assert_int_equal(cls_of("Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"), UA_OUTDATED);
    assert_int_equal(cls_of("Mozilla/5.0 (Windows NT 6.1; rv:45.0) Gecko/20100101 Firefox/45.0"),
                     UA_OUTDATED);
}

static void test_signature_search_bots_are_good_even_with_old_chrome(void **s) {
    (void)s;
    assert_int_equal(cls_of("Mozilla/5.0 (compatible; Googlebot/2.1; "
                            "+http://www.google.com/bot.html)"),
                     UA_GOODBOT);
    assert_int_equal(cls_of("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) "
                            "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2272.96 Mobile "
                            "Safari/537.36 (compatible; Googlebot/2.1; "
                            "+http://www.google.com/bot.html)"),
                     UA_GOODBOT);
    assert_int_equal(cls_of("Mozilla/5.0 (compatible; bingbot/2.0; "
                            "+http://www.bing.com/bingbot.htm)"),
                     UA_GOODBOT);
    assert_int_equal(cls_of("Mozilla/5.0 (compatible; YandexBot/3.0; "
                            "+http://yandex.com/bots)"),
                     UA_GOODBOT);
}

static void test_signature_libraries_headless_and_scrapers(void **s) {
    (void)s;
    assert_int_equal(cls_of("curl/8.4.0"), UA_LIBRARY);
    assert_int_equal(cls_of("python-requests/2.31.0"), UA_LIBRARY);
    assert_int_equal(cls_of("Go-http-client/1.1"), UA_LIBRARY);
    assert_int_equal(cls_of("okhttp/4.12.0"), UA_LIBRARY);
    assert_int_equal(cls_of("Java/1.8.0_392"), UA_LIBRARY);
    assert_int_equal(cls_of("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like "
                            "Gecko) HeadlessChrome/120.0.6099.109 Safari/537.36"),
                     UA_HEADLESS);
    assert_int_equal(cls_of("Scrapy/2.11.0 (+https://scrapy.org)"), UA_SCRAPER);
}

static void test_signature_feed_readers_and_partner_agents_are_unknown(void **s) {
    (void)s;
    assert_int_equal(cls_of("Tiny Tiny RSS/1.11 (http://tt-rss.org/)"), UA_UNKNOWN);
    assert_int_equal(cls_of("UniversalFeedParser/4.2-pre-314-svn +http://feedparser.org/"),
                     UA_UNKNOWN);
    assert_int_equal(cls_of("AcmePartnerSync/2.3 (+https://acme.example/bot)"), UA_UNKNOWN);
    /* tokens only match at their start: "discurl" is not curl */
    assert_int_equal(cls_of("discurl/1.0"), UA_UNKNOWN);
}

/* -------------------------------------------------------------- detector */

static void test_signature_attack_tool_scores_1_and_stays_after_browser_switch(void **s) {
    fixture *f = *s;
    assert_float_equal(feed(f, T0, "sqlmap/1.7.2#stable (https://sqlmap.org)", 0), 1.0, 1e-9);
    assert_float_equal(feed(f, T0 + SEC, CHROME_120, 0), 1.0, 1e-9);
}

static void test_signature_attack_tool_evidence_names_the_tool(void **s) {
    fixture *f = *s;
    feed(f, T0, "sqlmap/1.7.2#stable (https://sqlmap.org)", 0);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "attack tool user agent 'sqlmap'"));
    assert_true(fin.threats & RP_THREAT_SCANNER);
}

static void test_signature_library_partner_polling_is_mild(void **s) {
    fixture *f = *s;
    double sc = 0;
    for (int i = 0; i < 360; i++) sc = feed(f, T0 + i * 10 * SEC, "python-requests/2.31.0", 0);
    assert_float_equal(sc, 0.2, 1e-9);
}

static void test_signature_googlebot_scores_0(void **s) {
    fixture *f = *s;
    double sc = 1;
    for (int i = 0; i < 100; i++)
        sc = feed(f, T0 + i * 3 * SEC,
                  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0);
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_signature_flags_200_user_agents_in_60s_as_rotation(void **s) {
    fixture *f = *s;
    char ua[128];
    double sc = 0;
    for (int i = 0; i < 200; i++) {
        snprintf(ua, sizeof ua, "Mozilla/5.0 (Windows NT 10.0) Chrome/%d.0.%d Safari/537.36",
                 100 + i % 20, i);
        sc = feed(f, T0 + i * 250000LL, ua, 0); /* 4/s, 50 s */
    }
    assert_float_equal(sc, 1.0, 1e-9);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "distinct user agents in 60 s"));
    assert_true(fin.threats & RP_THREAT_AUTOMATION);
    assert_true(fin.features[1].value >= 120);
}

static void test_signature_office_nat_with_20_browsers_is_not_rotation(void **s) {
    fixture *f = *s;
    char ua[128];
    double max = 0;
    /* 20 humans, each with one browser, one request every ~30 s each, for an hour */
    for (int i = 0; i < 20 * 120; i++) {
        snprintf(ua, sizeof ua,
                 "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like "
                 "Gecko) Chrome/%d.0.0.0 Safari/537.36 user%d",
                 110 + i % 20, i % 20);
        double sc = feed(f, T0 + i * 1500000LL, ua, 0);
        if (sc > max) max = sc;
    }
    assert_float_equal(max, 0.0, 1e-9);
}

static void test_signature_browser_without_accept_language_is_contradiction(void **s) {
    fixture *f = *s;
    double sc = feed(f, T0, CHROME_120, RP_EVENT_HEADERS_KNOWN | RP_HDR_ACCEPT_ENCODING);
    assert_float_equal(sc, 0.6, 1e-9);
    rp_finding fin = fixture_finding(f);
    assert_non_null(strstr(fin.summary, "without Accept-Language"));
    /* the same browser with both headers is fine */
    sc = feed(f, T0 + SEC, CHROME_120,
              RP_EVENT_HEADERS_KNOWN | RP_HDR_ACCEPT_ENCODING | RP_HDR_ACCEPT_LANGUAGE);
    assert_float_equal(sc, 0.0, 1e-9);
    /* unknown headers say nothing */
    sc = feed(f, T0 + 2 * SEC, CHROME_120, 0);
    assert_float_equal(sc, 0.0, 1e-9);
}

static void test_signature_missing_user_agent_scores_empty(void **s) {
    fixture *f = *s;
    assert_float_equal(feed(f, T0, NULL, 0), 0.3, 1e-9);
    assert_float_equal(feed(f, T0 + SEC, "-", 0), 0.3, 1e-9);
}

static void test_signature_survives_out_of_order_timestamps(void **s) {
    fixture *f = *s;
    char ua[64];
    double sc = 0;
    for (int i = 0; i < 300; i++) {
        snprintf(ua, sizeof ua, "agent-%d", i);
        int64_t jitter = (i % 7) * 3 * SEC - 9 * SEC; /* up to 9 s back and 9 s forward */
        sc = feed(f, T0 + i * 200000LL + jitter, ua, 0);
        assert_true(sc >= 0.0 && sc <= 1.0);
    }
    assert_true(sc >= 0.8); /* 300 agents in a minute is still rotation */
    /* an event far in the past changes nothing and does not crash */
    feed(f, 1, "agent-old", 0);
    f->ctx.now_us = T0 + 60 * SEC;
    assert_true(f->d->score(f->state, &f->obs, &f->ctx, NULL) >= 0.0);
}

static void test_signature_state_fits_budget(void **s) {
    (void)s;
    assert_true(rp_detector_signature.state_size <= 24);
    assert_float_equal(rp_detector_signature.default_weight, 25, 1e-9);
}


/* "Outdated" depends on when the request was made: Chrome 32 was current
 * in the 2015 public log, and is ancient in 2026. */
static void test_signature_outdated_is_relative_to_the_request_time(void **s) {
    fixture *f = *s;
    const char *chrome32 = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 "
                           "(KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36";
    const int64_t may2015 = 1431857103LL * SEC, nov2026 = 1795600000LL * SEC;
    /* the release line: Chrome 43 in May 2015, 120 at the end of 2023 */
    assert_in_range(rp_signature_version_at(1, may2015), 41, 44);
    assert_in_range(rp_signature_version_at(1, 1701734400LL * SEC), 118, 123);
    assert_in_range(rp_signature_version_at(2, may2015), 37, 39);
    assert_true(feed(f, may2015, chrome32, 0) == 0.0);
    memset(f->state, 0, sizeof f->state);
    assert_true(fabs(feed(f, nov2026, chrome32, 0) - 0.35) < 1e-9);
    memset(f->state, 0, sizeof f->state);
    const char *chrome131 = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
                            "like Gecko) Chrome/131.0.0.0 Safari/537.36";
    assert_true(feed(f, nov2026, chrome131, 0) == 0.0); /* two years old: current enough */
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, fixture_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_classifies_real_attack_tool_user_agents),
        cmocka_unit_test(test_signature_modern_browsers_are_browsers_not_suspects),
        cmocka_unit_test(test_signature_old_chrome_and_msie_are_outdated),
        T(test_signature_outdated_is_relative_to_the_request_time),
        cmocka_unit_test(test_signature_search_bots_are_good_even_with_old_chrome),
        cmocka_unit_test(test_signature_libraries_headless_and_scrapers),
        cmocka_unit_test(test_signature_feed_readers_and_partner_agents_are_unknown),
        T(test_signature_attack_tool_scores_1_and_stays_after_browser_switch),
        T(test_signature_attack_tool_evidence_names_the_tool),
        T(test_signature_library_partner_polling_is_mild),
        T(test_signature_googlebot_scores_0),
        T(test_signature_flags_200_user_agents_in_60s_as_rotation),
        T(test_signature_office_nat_with_20_browsers_is_not_rotation),
        T(test_signature_browser_without_accept_language_is_contradiction),
        T(test_signature_missing_user_agent_scores_empty),
        T(test_signature_survives_out_of_order_timestamps),
        cmocka_unit_test(test_signature_state_fits_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
