/*
 * test_ingest_json.c -- nginx JSON access logs: every field variant, the
 * trusted-proxy X-Forwarded-For rule, and the ways a line is rejected.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ingest.h"

#define T 1431857103LL /* 2015-05-17T10:05:03Z */
#define T_US (T * 1000000)

/* Base fields every test line needs; the test appends its own. */
#define BASE "\"remote_addr\":\"192.0.2.7\",\"time_iso8601\":\"2015-05-17T10:05:03+00:00\""

static rp_log_parser *parser;

static int setup(void **state) {
    parser = rp_log_parser_new(RP_FORMAT_JSON);
    return parser ? 0 : -1;
}

static int teardown(void **state) {
    rp_log_parser_free(parser);
    return 0;
}

static rp_status parse(const char *line, rp_event *ev, rp_skip_reason *why) {
    return rp_log_parser_parse(parser, line, strlen(line), ev, why);
}

static void parse_ok(const char *line, rp_event *ev) {
    rp_skip_reason why;
    rp_status st = parse(line, ev, &why);
    if (st != RP_OK) print_error("rejected (%s): %s\n", rp_skip_reason_name(why), line);
    assert_int_equal(st, RP_OK);
    assert_int_equal(why, RP_SKIP_NONE);
}

static void assert_str(rp_str s, const char *want) {
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

static void assert_addr(const rp_addr *a, const char *want) {
    char buf[RP_ADDR_STRLEN];
    rp_addr_format(a, buf, sizeof buf);
    assert_string_equal(buf, want);
}

static uint64_t hash(const char *s) { return rp_hash64(s, strlen(s), 0); }

static void test_json_reads_the_documented_nginx_format(void **state) {
    rp_event ev;
    parse_ok("{\"time_iso8601\":\"2015-05-17T12:05:03+02:00\",\"remote_addr\":\"192.0.2.7\","
             "\"request\":\"POST /api/login?next=%2F HTTP/1.1\",\"status\":\"401\","
             "\"body_bytes_sent\":\"53\",\"request_length\":\"312\",\"request_time\":\"0.020\","
             "\"upstream_response_time\":\"0.012\",\"http_referer\":\"https://shop.example/\","
             "\"http_user_agent\":\"Mozilla/5.0 \\\"quoted\\\"\",\"host\":\"api.example.com\"}",
             &ev);
    assert_int_equal(ev.ts_us, T_US);
    assert_addr(&ev.client, "192.0.2.7");
    assert_int_equal(ev.method, RP_METHOD_POST);
    assert_str(ev.path, "/api/login");
    assert_str(ev.query, "next=%2F");
    assert_int_equal(ev.status, 401);
    assert_int_equal(ev.response_bytes, 53);
    assert_int_equal(ev.request_bytes, 312);
    assert_int_equal(ev.upstream_us, 12000);
    assert_str(ev.referer, "https://shop.example/");
    assert_str(ev.user_agent, "Mozilla/5.0 \"quoted\""); /* unescaped */
    assert_str(ev.host, "api.example.com");
    assert_int_equal(ev.flags, 0);
}

static void test_json_accepts_every_time_field_spelling(void **state) {
    static const struct {
        const char *field;
        int64_t want;
    } cases[] = {
        {"\"time\":\"2015-05-17T03:05:03-07:00\"", T_US},
        {"\"timestamp\":\"2015-05-17T10:05:03Z\"", T_US},
        {"\"@timestamp\":\"2015-05-17T10:05:03.123456Z\"", T_US + 123456},
        {"\"@timestamp\":\"2015-05-17T12:05:03.5+0200\"", T_US + 500000},
        {"\"time_local\":\"17/May/2015:10:05:03 +0000\"", T_US},
        {"\"msec\":\"1431857103.250\"", T_US + 250000},
        {"\"msec\":1431857103.75", T_US + 750000},
        {"\"msec\":1431857103", T_US},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "{\"remote_addr\":\"192.0.2.7\",%s,\"request\":\"GET / HTTP/1.1\"}",
                 cases[i].field);
        rp_event ev;
        parse_ok(line, &ev);
        assert_int_equal(ev.ts_us, cases[i].want);
    }
}

static void test_json_bad_or_missing_time_is_bad_time(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("{\"remote_addr\":\"192.0.2.7\",\"request\":\"GET / HTTP/1.1\"}", &ev, &why),
                     RP_EPARSE);
    assert_int_equal(why, RP_SKIP_BAD_TIME);
    assert_int_equal(parse("{\"remote_addr\":\"192.0.2.7\",\"time\":\"yesterday\",\"request\":\"GET /\"}", &ev,
                           &why),
                     RP_EPARSE);
    assert_int_equal(why, RP_SKIP_BAD_TIME);
}

static void test_json_accepts_every_client_field_spelling(void **state) {
    rp_event ev;
    parse_ok("{\"client\":\"2001:db8::5\",\"msec\":1431857103,\"request\":\"GET / HTTP/1.1\"}", &ev);
    assert_addr(&ev.client, "2001:db8::5");
    parse_ok("{\"ip\":\"198.51.100.1\",\"msec\":1431857103,\"request\":\"GET / HTTP/1.1\"}", &ev);
    assert_addr(&ev.client, "198.51.100.1");
}

static void test_json_bad_or_missing_client_is_bad_addr(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("{\"msec\":1431857103,\"request\":\"GET / HTTP/1.1\"}", &ev, &why), RP_EPARSE);
    assert_int_equal(why, RP_SKIP_BAD_ADDR);
    assert_int_equal(parse("{\"remote_addr\":\"unix:\",\"msec\":1431857103,\"request\":\"GET /\"}", &ev, &why),
                     RP_EPARSE);
    assert_int_equal(why, RP_SKIP_BAD_ADDR);
}

static void test_json_builds_request_from_method_and_uri(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request_method\":\"DELETE\",\"request_uri\":\"/users/42?force=1\"}", &ev);
    assert_int_equal(ev.method, RP_METHOD_DELETE);
    assert_str(ev.path, "/users/42");
    assert_str(ev.query, "force=1");
    parse_ok("{" BASE ",\"request_method\":\"GET\",\"uri\":\"/search\",\"args\":\"q=shoes\"}", &ev);
    assert_str(ev.path, "/search");
    assert_str(ev.query, "q=shoes");
    parse_ok("{" BASE ",\"request_method\":\"GET\",\"uri\":\"/search\",\"query_string\":\"q=hats\"}", &ev);
    assert_str(ev.query, "q=hats");
    parse_ok("{" BASE ",\"request_method\":\"GET\",\"uri\":\"/search\",\"args\":\"\"}", &ev);
    assert_str(ev.query, "");
}

static void test_json_without_any_request_is_malformed(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("{" BASE ",\"status\":200}", &ev, &why), RP_EPARSE);
    assert_int_equal(why, RP_SKIP_MALFORMED);
}

static void test_json_garbage_request_yields_method_other(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"\\u0016\\u0003\\u0001\",\"status\":400}", &ev);
    /* The control bytes came from \u escapes: JSON text, not binary. */
    assert_int_equal(ev.method, RP_METHOD_OTHER);
    assert_str(ev.path, "\x16\x03\x01");
}

static void test_json_numbers_may_be_numbers_or_strings(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"status\":304,\"bytes_sent\":1200,"
             "\"request_length\":90,\"request_time\":0.25}",
             &ev);
    assert_int_equal(ev.status, 304);
    assert_int_equal(ev.response_bytes, 1200);
    assert_int_equal(ev.request_bytes, 90);
    assert_int_equal(ev.upstream_us, 250000);
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"status\":\"-\"}", &ev);
    assert_int_equal(ev.status, 0);
    assert_true(ev.flags & RP_EVENT_UNKNOWN_STATUS);
    assert_int_equal(ev.upstream_us, -1);
}

static void test_json_sums_upstream_times_and_falls_back_to_request_time(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"upstream_response_time\":\"0.012, 0.004\","
             "\"request_time\":\"1.000\"}",
             &ev);
    assert_int_equal(ev.upstream_us, 16000);
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"upstream_response_time\":\"0.010 : 0.002\"}", &ev);
    assert_int_equal(ev.upstream_us, 12000);
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"upstream_response_time\":\"-\","
             "\"request_time\":\"0.003\"}",
             &ev);
    assert_int_equal(ev.upstream_us, 3000);
}

static void test_json_host_comes_from_any_host_field(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"http_host\":\"a.example\"}", &ev);
    assert_str(ev.host, "a.example");
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"server_name\":\"b.example\"}", &ev);
    assert_str(ev.host, "b.example");
}

static void test_json_dash_and_empty_strings_mean_absent(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"http_referer\":\"-\",\"http_user_agent\":\"\","
             "\"username\":\"-\",\"api_key\":\"\"}",
             &ev);
    assert_str(ev.referer, "");
    assert_str(ev.user_agent, "");
    assert_int_equal(ev.credential_id, 0);
    assert_int_equal(ev.token_id, 0);
}

static void test_json_hashes_username_token_and_session(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"POST /login HTTP/1.1\",\"username\":\"alice@example.com\","
             "\"api_key\":\"k-123\",\"session\":\"s-9\"}",
             &ev);
    assert_int_equal(ev.credential_id, hash("alice@example.com"));
    assert_int_equal(ev.token_id, hash("k-123"));
    assert_int_equal(ev.session_id, hash("s-9"));
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"token\":\"t-1\"}", &ev);
    assert_int_equal(ev.token_id, hash("t-1"));
}

static void test_json_bearer_authorization_hashes_only_the_credential(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"http_authorization\":\"Bearer xyz\"}", &ev);
    assert_int_equal(ev.token_id, hash("xyz"));
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"http_authorization\":\"bEaReR  xyz\"}", &ev);
    assert_int_equal(ev.token_id, hash("xyz"));
    /* the module's rule (src/common/keys.c rp_token_id): only a bearer's
     * credentials are a token, and before the API key */
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"http_authorization\":\"rawtoken\"}", &ev);
    assert_int_equal(ev.token_id, 0);
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"http_authorization\":\"Basic dXNlcg==\","
             "\"api_key\":\"k-1\"}",
             &ev);
    assert_int_equal(ev.token_id, hash("k-1"));
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"http_authorization\":\"Bearer xyz\","
             "\"api_key\":\"k-1\"}",
             &ev);
    assert_int_equal(ev.token_id, hash("xyz"));
}

/* nginx logs /v1/check's X-Rampart-Verdict (auth_request_set) as
 * "rampart": a verdict marks the event as Rampart's own answer; an allowed
 * request logs the variable empty, or "-" from other tools, and is the
 * client's. */
static void test_json_rampart_verdict_marks_the_event_refused(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"GET /api/products/7 HTTP/1.1\",\"status\":\"403\","
             "\"rampart\":\"block\"}",
             &ev);
    assert_true(ev.flags & RP_EVENT_REFUSED);
    assert_int_equal(ev.status, 403);
    parse_ok("{" BASE ",\"request\":\"POST /api/login HTTP/1.1\",\"status\":\"429\","
             "\"rampart\":\"throttle\"}",
             &ev);
    assert_true(ev.flags & RP_EVENT_REFUSED);
    parse_ok("{" BASE ",\"request\":\"GET /api/products/7 HTTP/1.1\",\"status\":\"403\","
             "\"rampart\":\"\"}",
             &ev);
    assert_false(ev.flags & RP_EVENT_REFUSED);
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"status\":\"200\",\"rampart\":\"-\"}", &ev);
    assert_false(ev.flags & RP_EVENT_REFUSED);
    parse_ok("{" BASE ",\"request\":\"GET /api/products/7 HTTP/1.1\",\"status\":\"403\"}", &ev);
    assert_false(ev.flags & RP_EVENT_REFUSED); /* the upstream's 403 stays evidence */
}

static void test_json_header_names_give_hash_and_flags(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"header_names\":\"Host, User-Agent,Accept-Language,"
             "Accept-Encoding,Cookie,Referer,Sec-CH-UA\"}",
             &ev);
    assert_true(ev.flags & RP_EVENT_HEADERS_KNOWN);
    uint32_t want = RP_HDR_ACCEPT_LANGUAGE | RP_HDR_ACCEPT_ENCODING | RP_HDR_COOKIE | RP_HDR_REFERER |
                    RP_HDR_SEC_CH_UA;
    assert_int_equal(ev.flags & want, want);
    assert_int_equal(ev.header_hash,
                     hash("host,user-agent,accept-language,accept-encoding,cookie,referer,sec-ch-ua"));
    /* Order matters: a different arrival order is a different client. */
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\",\"header_names\":\"user-agent,host\"}", &ev);
    assert_int_equal(ev.header_hash, hash("user-agent,host"));
    assert_int_equal(ev.flags & want, 0);
    parse_ok("{" BASE ",\"request\":\"GET / HTTP/1.1\"}", &ev);
    assert_int_equal(ev.flags & RP_EVENT_HEADERS_KNOWN, 0);
    assert_int_equal(ev.header_hash, 0);
}

static void test_json_ignores_unknown_and_nested_fields(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"GET /x HTTP/1.1\",\"geo\":{\"country\":\"NL\",\"a\":[1,2,{}]},"
             "\"status\":200,\"extra\":null}",
             &ev);
    assert_str(ev.path, "/x");
    assert_int_equal(ev.status, 200);
}

static void test_json_strings_outlive_the_line(void **state) {
    char line[256];
    snprintf(line, sizeof line,
             "{" BASE ",\"request\":\"GET /kept?yes HTTP/1.1\",\"http_user_agent\":\"ua\"}");
    rp_event ev;
    parse_ok(line, &ev);
    memset(line, 'x', strlen(line));
    assert_str(ev.path, "/kept");
    assert_str(ev.query, "yes");
    assert_str(ev.user_agent, "ua");
}

static void test_json_long_strings_are_truncated_and_flagged(void **state) {
    size_t n = RP_MAX_USER_AGENT + 10;
    char *line = malloc(n + 200);
    int k = snprintf(line, 200, "{" BASE ",\"request\":\"GET / HTTP/1.1\",\"http_user_agent\":\"");
    memset(line + k, 'u', n);
    snprintf(line + k + n, 200, "\"}");
    rp_event ev;
    parse_ok(line, &ev);
    assert_int_equal(ev.user_agent.len, RP_MAX_USER_AGENT);
    assert_true(ev.flags & RP_EVENT_TRUNCATED);
    free(line);
}

static void test_json_invalid_utf8_is_repaired_and_flagged(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"GET /caf\xe9 HTTP/1.1\"}", &ev);
    assert_true(ev.flags & RP_EVENT_BAD_UTF8);
    assert_str(ev.path, "/caf\xef\xbf\xbd");
    parse_ok("{" BASE ",\"request\":\"GET /caf\xc3\xa9 HTTP/1.1\"}", &ev);
    assert_int_equal(ev.flags & RP_EVENT_BAD_UTF8, 0);
    assert_str(ev.path, "/caf\xc3\xa9");
}

static void test_json_rejects_what_is_not_an_object(void **state) {
    static const char *const lines[] = {
        "{\"remote_addr\":", "[1,2,3]", "{} trailing", "{\"a\":1,}", "\"text\"", "{'a':1}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        rp_event ev;
        rp_skip_reason why;
        assert_int_equal(parse(lines[i], &ev, &why), RP_EPARSE);
        assert_int_equal(why, RP_SKIP_BAD_JSON);
    }
}

static void test_json_raw_control_bytes_are_binary(void **state) {
    const char line[] = "{\"remote_addr\":\"1.2.3.4\0\"}";
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(rp_log_parser_parse(parser, line, sizeof line - 1, &ev, &why), RP_EPARSE);
    assert_int_equal(why, RP_SKIP_BINARY);
}

static void test_json_unescapes_every_escape_form(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"GET \\/caf\\u00e9\\ud83d\\ude00 HTTP/1.1\","
             "\"http_user_agent\":\"a\\tb\\\\c\\\"d\\n\"}",
             &ev);
    assert_str(ev.path, "/caf\xc3\xa9\xf0\x9f\x98\x80");
    assert_str(ev.user_agent, "a\tb\\c\"d\n");
}

static void test_json_rejects_bad_escapes_nul_and_deep_nesting(void **state) {
    static const char *const lines[] = {
        "{" BASE ",\"request\":\"GET /\\x41 HTTP/1.1\"}",
        "{" BASE ",\"request\":\"GET /\\u0000 HTTP/1.1\"}",
        "{" BASE ",\"request\":\"GET /\\ud83d HTTP/1.1\"}",
        "{" BASE ",\"request\":\"GET /\\u12 HTTP/1.1\"}",
        "{" BASE ",\"status\":01}",
        "{" BASE ",\"status\":2.}",
        "{" BASE ",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
        "{" BASE ",\"x\":tru}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        rp_event ev;
        rp_skip_reason why;
        assert_int_equal(parse(lines[i], &ev, &why), RP_EPARSE);
        assert_int_equal(why, RP_SKIP_BAD_JSON);
    }
}

static void test_json_first_of_duplicate_members_wins(void **state) {
    rp_event ev;
    parse_ok("{ " BASE " , \"request\" : \"GET /first HTTP/1.1\" , \"request\":\"GET /second\", "
             "\"status\": 2e2 }",
             &ev);
    assert_str(ev.path, "/first");
    assert_int_equal(ev.status, 200);
}

/* ------------------------------------------------------ trusted proxies */

static void trust(const char *const *cidrs, int n) {
    rp_cidr list[4];
    for (int i = 0; i < n; i++) assert_int_equal(rp_cidr_parse(cidrs[i], strlen(cidrs[i]), &list[i]), RP_OK);
    rp_log_parser_set_trusted_proxies(parser, list, n);
}

#define XFF_LINE(peer, xff)                                                                        \
    "{\"remote_addr\":\"" peer "\",\"msec\":1431857103,\"request\":\"GET / HTTP/1.1\","            \
    "\"http_x_forwarded_for\":\"" xff "\"}"

static void test_json_xff_is_used_through_a_trusted_proxy(void **state) {
    static const char *const proxies[] = {"10.0.0.0/8"};
    trust(proxies, 1);
    rp_event ev;
    parse_ok(XFF_LINE("10.1.2.3", "203.0.113.9"), &ev);
    assert_addr(&ev.client, "203.0.113.9");
    /* Rightmost untrusted: the client may have forged the left part. */
    parse_ok(XFF_LINE("10.1.2.3", "1.1.1.1, 203.0.113.9, 10.9.9.9"), &ev);
    assert_addr(&ev.client, "203.0.113.9");
    /* The other spelling of the field. */
    parse_ok("{\"remote_addr\":\"10.1.2.3\",\"msec\":1431857103,\"request\":\"GET /\","
             "\"x_forwarded_for\":\"198.51.100.4\"}",
             &ev);
    assert_addr(&ev.client, "198.51.100.4");
    rp_log_parser_set_trusted_proxies(parser, NULL, 0);
}

static void test_json_xff_is_ignored_from_an_untrusted_peer(void **state) {
    rp_event ev;
    parse_ok(XFF_LINE("192.0.2.50", "203.0.113.9"), &ev); /* no proxies at all */
    assert_addr(&ev.client, "192.0.2.50");
    static const char *const proxies[] = {"10.0.0.0/8"};
    trust(proxies, 1);
    parse_ok(XFF_LINE("192.0.2.50", "203.0.113.9"), &ev);
    assert_addr(&ev.client, "192.0.2.50");
    rp_log_parser_set_trusted_proxies(parser, NULL, 0);
}

static void test_json_xff_garbage_keeps_the_last_good_address(void **state) {
    static const char *const proxies[] = {"10.0.0.0/8", "2001:db8::/32"};
    trust(proxies, 2);
    rp_event ev;
    parse_ok(XFF_LINE("10.1.2.3", "unknown"), &ev);
    assert_addr(&ev.client, "10.1.2.3");
    parse_ok(XFF_LINE("10.1.2.3", "-"), &ev);
    assert_addr(&ev.client, "10.1.2.3");
    parse_ok(XFF_LINE("2001:db8::1", "junk, 10.0.0.9"), &ev);
    assert_addr(&ev.client, "10.0.0.9");
    /* Every hop trusted: the leftmost is as far as we can see. */
    parse_ok(XFF_LINE("10.1.2.3", "10.0.0.8,10.0.0.9"), &ev);
    assert_addr(&ev.client, "10.0.0.8");
    rp_log_parser_set_trusted_proxies(parser, NULL, 0);
}

/* The daemon's side of the decoy-username finding (issue 11): a log line's
 * username is its top-level member; one nested in another member is not. */
static void test_json_username_is_the_top_level_member_not_a_nested_decoy(void **state) {
    rp_event ev;
    parse_ok("{" BASE ",\"request\":\"POST /login HTTP/1.1\",\"status\":\"401\","
             "\"meta\":{\"username\":\"decoy\"},\"username\":\"bob\"}",
             &ev);
    assert_int_equal(ev.credential_id, rp_hash64("bob", 3, 0));
    parse_ok("{" BASE ",\"request\":\"POST /login HTTP/1.1\",\"status\":\"401\","
             "\"meta\":{\"username\":\"decoy\"}}",
             &ev);
    assert_int_equal(ev.credential_id, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_reads_the_documented_nginx_format),
        cmocka_unit_test(test_json_accepts_every_time_field_spelling),
        cmocka_unit_test(test_json_bad_or_missing_time_is_bad_time),
        cmocka_unit_test(test_json_accepts_every_client_field_spelling),
        cmocka_unit_test(test_json_bad_or_missing_client_is_bad_addr),
        cmocka_unit_test(test_json_builds_request_from_method_and_uri),
        cmocka_unit_test(test_json_without_any_request_is_malformed),
        cmocka_unit_test(test_json_garbage_request_yields_method_other),
        cmocka_unit_test(test_json_numbers_may_be_numbers_or_strings),
        cmocka_unit_test(test_json_sums_upstream_times_and_falls_back_to_request_time),
        cmocka_unit_test(test_json_host_comes_from_any_host_field),
        cmocka_unit_test(test_json_dash_and_empty_strings_mean_absent),
        cmocka_unit_test(test_json_hashes_username_token_and_session),
        cmocka_unit_test(test_json_bearer_authorization_hashes_only_the_credential),
        cmocka_unit_test(test_json_rampart_verdict_marks_the_event_refused),
        cmocka_unit_test(test_json_header_names_give_hash_and_flags),
        cmocka_unit_test(test_json_ignores_unknown_and_nested_fields),
        cmocka_unit_test(test_json_strings_outlive_the_line),
        cmocka_unit_test(test_json_long_strings_are_truncated_and_flagged),
        cmocka_unit_test(test_json_invalid_utf8_is_repaired_and_flagged),
        cmocka_unit_test(test_json_rejects_what_is_not_an_object),
        cmocka_unit_test(test_json_raw_control_bytes_are_binary),
        cmocka_unit_test(test_json_unescapes_every_escape_form),
        cmocka_unit_test(test_json_rejects_bad_escapes_nul_and_deep_nesting),
        cmocka_unit_test(test_json_first_of_duplicate_members_wins),
        cmocka_unit_test(test_json_xff_is_used_through_a_trusted_proxy),
        cmocka_unit_test(test_json_xff_is_ignored_from_an_untrusted_peer),
        cmocka_unit_test(test_json_xff_garbage_keeps_the_last_good_address),
        cmocka_unit_test(test_json_username_is_the_top_level_member_not_a_nested_decoy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
