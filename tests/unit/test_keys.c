/* test_keys.c -- one derivation of a client's keys (src/common/keys.c):
 * an event's keys outside the engine are the keys the engine tracks, and
 * the nginx module's derivation from a request's headers gives the keys
 * the engine derives from the same request logged as a JSON line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "ingest.h"
#include "keys.h"
#include "protocol.h"
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

/* ------------------------------------------- the module and the engine */

typedef struct {
    const char *name, *value;
} header;

typedef struct {
    const char *client, *target, *token_header;
    header h[8];
} request;

/* The module's path (nginx/ngx_http_rampart_module.c rp_scan_headers and
 * its access phase): the headers one by one into rp_request_headers, the
 * lookup keys from rp_request_keys, and the event it sends through the
 * event codec (protocol.c), decoded as the daemon does. */
static int module_keys(const request *rq, rp_key out[RP_REQUEST_KEYS_MAX], rp_event *sent,
                       uint8_t buf[RP_PROTO_MAX_DATAGRAM]) {
    rp_request_headers rh;
    rp_request_headers_init(&rh, rq->token_header, rq->token_header ? strlen(rq->token_header) : 0);
    for (const header *h = rq->h; h->name; h++)
        rp_request_headers_add(&rh, h->name, strlen(h->name), h->value, strlen(h->value));
    rp_addr addr;
    assert_int_equal(rp_addr_parse(rq->client, strlen(rq->client), &addr), RP_OK);
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_us = 1764064800000000LL;
    ev.client = addr;
    ev.method = RP_METHOD_GET;
    ev.status = 200;
    ev.upstream_us = -1;
    const char *q = strchr(rq->target, '?');
    ev.path = (rp_str){rq->target, (uint32_t)(q ? (size_t)(q - rq->target) : strlen(rq->target))};
    if (rh.user_agent) ev.user_agent = (rp_str){rh.user_agent, (uint32_t)rh.user_agent_len};
    ev.header_hash = rp_header_names_hash(&rh.names);
    ev.flags = RP_EVENT_HEADERS_KNOWN | rh.names.flags;
    ev.token_id = rp_request_token_id(&rh);
    size_t n = rp_event_encode(&ev, buf, RP_PROTO_MAX_DATAGRAM); /* sent's strings point here */
    assert_true(n > 0);
    rp_decode_reason why;
    assert_int_equal(rp_event_decode(buf, n, sent, &why), RP_OK);
    return rp_request_keys(&addr, rp_request_fingerprint(&rh), rq->target, strlen(rq->target),
                           ev.token_id, out);
}

/* The engine's path: the same request as nginx logs it in JSON
 * (header_names as `$rampart_header_names`-like "A, B", the user agent,
 * http_authorization, api_key), parsed by src/ingest/json.c. */
static void logged_event(const request *rq, rp_log_parser *p, char *line, size_t size, rp_event *ev) {
    char names[512] = "";
    const char *ua = "-", *auth = "-", *key = "-";
    for (const header *h = rq->h; h->name; h++) {
        if (names[0]) strcat(names, ", ");
        strcat(names, h->name);
        if (!strcasecmp(h->name, "user-agent") && !strcmp(ua, "-")) ua = h->value;
        if (!strcasecmp(h->name, "authorization") && !strcmp(auth, "-")) auth = h->value;
        if (!strcasecmp(h->name, "x-api-key") && !strcmp(key, "-")) key = h->value;
    }
    snprintf(line, size,
             "{\"msec\":\"1764064800.000\",\"remote_addr\":\"%s\",\"request\":\"GET %s "
             "HTTP/1.1\",\"status\":200,\"http_user_agent\":\"%s\",\"http_authorization\":\"%s\","
             "\"api_key\":\"%s\",\"header_names\":\"%s\"}",
             rq->client, rq->target, ua, auth, key, names);
    rp_skip_reason why;
    assert_int_equal(rp_log_parser_parse(p, line, strlen(line), ev, &why), RP_OK);
}

static bool has_key(const rp_key *keys, int n, const rp_key *k) {
    for (int i = 0; i < n; i++)
        if (rp_key_equal(&keys[i], k)) return true;
    return false;
}

/* Every key the module looks up is a key the engine derives from the
 * logged request, and the event the module sends has the same keys. */
static void assert_same_keys(const request *rq, int want_keys) {
    rp_log_parser *p = rp_log_parser_new(RP_FORMAT_JSON);
    char line[2048];
    rp_event logged, sent;
    logged_event(rq, p, line, sizeof line, &logged);
    rp_key mod[RP_REQUEST_KEYS_MAX];
    static uint8_t datagram[RP_PROTO_MAX_DATAGRAM];
    int n = module_keys(rq, mod, &sent, datagram);
    assert_int_equal(n, want_keys);

    int engine_n = 0;
    rp_key fp;
    for (int level = 0; level < RP_LEVEL_COUNT; level++) {
        rp_key k, from_module;
        bool a = rp_event_key(&logged, (rp_key_level)level, &k);
        bool b = rp_event_key(&sent, (rp_key_level)level, &from_module);
        assert_int_equal(a, b); /* the event the module sends keys as the log line */
        if (!a) continue;
        assert_true(rp_key_equal(&k, &from_module));
        if (level == RP_LEVEL_USERNAME || level == RP_LEVEL_SESSION) continue; /* not looked up */
        assert_true(has_key(mod, n, &k));
        engine_n++;
        if (level == RP_LEVEL_FINGERPRINT) {
            fp = k;
            uint64_t sc[2];
            int ns = rp_event_scopes(&logged, sc);
            for (int i = 0; i < ns; i++) {
                rp_key on_route;
                rp_key_on_route(&on_route, &fp, sc[i]);
                assert_true(has_key(mod, n, &on_route));
                engine_n++;
            }
        }
    }
    assert_int_equal(engine_n, n); /* and nothing else */

    /* The engine fed the module's event tracks the module's keys (route
     * keys exist only once decided). */
    rp_config *cfg = rp_config_default();
    rp_engine *e;
    rp_error err;
    rp_engine_callbacks cb = {0};
    assert_int_equal(rp_engine_new(cfg, &cb, &e, &err), RP_OK);
    rp_engine_feed(e, &sent);
    rp_incident *live = malloc(sizeof *live);
    for (int i = 0; i < n; i++) {
        bool on_route = mod[i].level == RP_LEVEL_FINGERPRINT && i > 0 &&
                        mod[i - 1].level == RP_LEVEL_FINGERPRINT;
        if (on_route) continue;
        assert_true(rp_engine_explain(e, &mod[i], live));
        assert_int_equal(live->requests, 1);
    }
    free(live);
    rp_engine_free(e);
    rp_config_free(cfg);
    assert_true(logged.header_hash == sent.header_hash);
    assert_int_equal(logged.flags & ~RP_EVENT_TRUNCATED, sent.flags & ~RP_EVENT_TRUNCATED);
    rp_log_parser_free(p);
}

static void test_module_and_engine_agree_on_a_browser_with_a_bearer_token(void **state) {
    (void)state;
    request rq = {"203.0.113.7", "/api/products/585?page=2", NULL,
                  {{"Host", "shop.example"},
                   {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"},
                   {"Accept", "*/*"},
                   {"Accept-Language", "en"},
                   {"Authorization", "Bearer tok-123"},
                   {"Cookie", "sid=1"},
                   {NULL, NULL}}};
    assert_same_keys(&rq, 6); /* ip, subnet, fingerprint, 2 route scopes, token */
}

/* The scheme in any case and the spaces after it are not the token:
 * "bEaReR   tok-123" is the key of "Bearer tok-123" and of X-API-Key tok-123. */
static void test_bearer_scheme_in_any_case_and_spaces_are_one_token(void **state) {
    (void)state;
    uint64_t want = rp_text_id("tok-123", 7);
    assert_true(rp_bearer_id("Bearer tok-123", 14) == want);
    assert_true(rp_bearer_id("bEaReR   tok-123", 16) == want);
    assert_true(rp_token_id(NULL, 0, "tok-123", 7) == want);
    assert_true(rp_token_id("Basic dXNlcg==", 14, "tok-123", 7) == want); /* not a bearer */
    assert_true(rp_token_id("Bearer    ", 10, "tok-123", 7) == want);     /* no credentials */
    assert_true(rp_token_id("Bearer tok-123", 14, "other", 5) == want);   /* bearer first */
    assert_int_equal(rp_bearer_id("Bearertok-123", 13), 0);
    assert_int_equal(rp_bearer_id("tok-123", 7), 0);
    assert_int_equal(rp_token_id("Basic dXNlcg==", 14, NULL, 0), 0);
    request rq = {"198.51.100.9", "/api/orders", NULL,
                  {{"host", "api.example"}, {"authorization", "bEaReR   tok-123"}, {NULL, NULL}}};
    assert_same_keys(&rq, 3); /* ip, subnet, token; no user agent: no fingerprint */
    request basic = {"198.51.100.9", "/api/orders", NULL,
                     {{"Authorization", "Basic dXNlcg=="}, {"X-API-Key", "k-9"}, {NULL, NULL}}};
    assert_same_keys(&basic, 3); /* the API key, not the Basic credentials */
}

static void test_module_and_engine_agree_on_ipv6_and_a_repeated_header(void **state) {
    (void)state;
    request rq = {"2001:db8::7", "/api/login", NULL,
                  {{"Host", "x"},
                   {"User-Agent", "python-requests/2.31"},
                   {"user-agent", "second"},
                   {"X-API-Key", "pk_live_1"},
                   {"x-api-key", "pk_live_2"},
                   {"Accept-Encoding", "gzip"},
                   {"sec-ch-ua", "x"},
                   {NULL, NULL}}};
    assert_same_keys(&rq, 6);
    rp_request_headers rh;
    rp_request_headers_init(&rh, NULL, 0);
    for (const header *h = rq.h; h->name; h++)
        rp_request_headers_add(&rh, h->name, strlen(h->name), h->value, strlen(h->value));
    assert_true(rp_request_token_id(&rh) == rp_text_id("pk_live_1", 9)); /* the first, as $http_x_api_key */
    assert_int_equal(rh.names.flags, RP_HDR_ACCEPT_ENCODING | RP_HDR_SEC_CH_UA);
}

/* rampart_token_header: a named header carries the token; Authorization
 * named so takes any scheme. */
static void test_a_named_token_header(void **state) {
    (void)state;
    rp_request_headers rh;
    rp_request_headers_init(&rh, "x-partner-key", 13);
    rp_request_headers_add(&rh, "X-Partner-Key", 13, "pk-7", 4);
    rp_request_headers_add(&rh, "Authorization", 13, "Bearer other", 12);
    assert_true(rp_request_token_id(&rh) == rp_text_id("pk-7", 4));
    rp_request_headers_init(&rh, "authorization", 13);
    rp_request_headers_add(&rh, "Authorization", 13, "Token  abc", 10);
    assert_true(rp_request_token_id(&rh) == rp_text_id("abc", 3));
    rp_request_headers_init(&rh, "authorization", 13);
    rp_request_headers_add(&rh, "Authorization", 13, "abc", 3);
    assert_true(rp_request_token_id(&rh) == rp_text_id("abc", 3));
}

/* The header-name hash: names lower-cased, joined by ',' without spaces,
 * bounded; the flags still count past the bound. */
static void test_header_names_hash_and_bound(void **state) {
    (void)state;
    rp_header_names a, b;
    rp_header_names_init(&a);
    rp_header_names_init(&b);
    rp_header_names_add(&a, "Host", 4);
    rp_header_names_add(&a, "User-Agent", 10);
    rp_header_names_add(&b, "host", 4);
    rp_header_names_add(&b, "", 0);
    rp_header_names_add(&b, "user-agent", 10);
    assert_true(rp_header_names_hash(&a) == rp_header_names_hash(&b));
    assert_true(rp_header_names_hash(&a) == rp_hash64("host,user-agent", 15, 0));
    char name[100];
    memset(name, 'x', sizeof name);
    for (int i = 0; i < 20; i++) rp_header_names_add(&a, name, sizeof name);
    assert_true(a.used <= RP_HEADER_NAMES_MAX);
    rp_header_names_add(&a, "Referer", 7);
    assert_int_equal(a.flags, RP_HDR_REFERER);
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
        cmocka_unit_test(test_module_and_engine_agree_on_a_browser_with_a_bearer_token),
        cmocka_unit_test(test_bearer_scheme_in_any_case_and_spaces_are_one_token),
        cmocka_unit_test(test_module_and_engine_agree_on_ipv6_and_a_repeated_header),
        cmocka_unit_test(test_a_named_token_header),
        cmocka_unit_test(test_header_names_hash_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
