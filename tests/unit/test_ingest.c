/*
 * test_ingest.c -- the combined/common parser, the parser handle (format
 * detection, blank lines, names) and the real Apache log end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

#define T_2015_05_17_100503 1431857103LL /* 17/May/2015:10:05:03 UTC */

static rp_status parse(const char *line, rp_event *ev, rp_skip_reason *why) {
    return rp_parse_combined(line, strlen(line), ev, why);
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

/* ------------------------------------------------------------ combined */

static void test_combined_parses_every_field_of_a_real_line(void **state) {
    const char *line =
        "83.149.9.216 - - [17/May/2015:10:05:03 +0000] \"GET "
        "/presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1\" 200 203023 "
        "\"http://semicomplete.com/presentations/logstash-monitorama-2013/\" \"Mozilla/5.0 "
        "(Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/32.0.1700.77 Safari/537.36\"";
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse(line, &ev, &why), RP_OK);
    assert_int_equal(why, RP_SKIP_NONE);
    assert_int_equal(ev.ts_us, T_2015_05_17_100503 * 1000000);
    assert_addr(&ev.client, "83.149.9.216");
    assert_int_equal(ev.client.family, 4);
    assert_int_equal(ev.method, RP_METHOD_GET);
    assert_str(ev.path, "/presentations/logstash-monitorama-2013/images/kibana-search.png");
    assert_str(ev.query, "");
    assert_int_equal(ev.status, 200);
    assert_int_equal(ev.response_bytes, 203023);
    assert_int_equal(ev.request_bytes, 0);
    assert_int_equal(ev.upstream_us, -1);
    assert_str(ev.referer, "http://semicomplete.com/presentations/logstash-monitorama-2013/");
    assert_str(ev.user_agent, "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 "
                              "(KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36");
    assert_str(ev.host, "");
    assert_int_equal(ev.flags, 0);
    assert_int_equal(ev.header_hash, 0);
    assert_int_equal(ev.credential_id, 0);
    /* Strings point into the line: no copy. */
    assert_true(ev.path.ptr > line && ev.path.ptr < line + strlen(line));
}

static void test_combined_splits_query_from_path(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /blog/tags/puppet?flav=rss20 "
                           "HTTP/1.1\" 200 14872 \"-\" \"UA\"",
                           &ev, &why),
                     RP_OK);
    assert_str(ev.path, "/blog/tags/puppet");
    assert_str(ev.query, "flav=rss20");
    assert_str(ev.referer, "");
    assert_str(ev.user_agent, "UA");
}

static void test_combined_reads_ipv6_client(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("2001:db8::1 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"x\"",
                           &ev, &why),
                     RP_OK);
    assert_int_equal(ev.client.family, 6);
    assert_addr(&ev.client, "2001:db8::1");
}

static void test_combined_keeps_escaped_quotes_inside_fields(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /a\\\"b HTTP/1.1\" 200 1 "
                           "\"ref\\\"x\" \"say \\\"hi\\\" \\\\\"",
                           &ev, &why),
                     RP_OK);
    assert_str(ev.path, "/a\\\"b");
    assert_str(ev.referer, "ref\\\"x");
    assert_str(ev.user_agent, "say \\\"hi\\\" \\\\");
}

static void test_combined_survives_unescaped_quote_in_request(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /a\"b HTTP/1.1\" 404 1 \"-\" \"x\"",
                           &ev, &why),
                     RP_OK);
    assert_int_equal(ev.method, RP_METHOD_GET);
    assert_str(ev.path, "/a\"b");
    assert_int_equal(ev.status, 404);
}

static void test_combined_dash_size_is_zero(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("218.30.103.62 - - [17/May/2015:11:05:11 +0000] \"GET /robots.txt HTTP/1.1\" 200 - "
                           "\"-\" \"Sogou web spider/4.0\"",
                           &ev, &why),
                     RP_OK);
    assert_int_equal(ev.status, 200);
    assert_int_equal(ev.response_bytes, 0);
    assert_str(ev.user_agent, "Sogou web spider/4.0");
}

static void test_combined_dash_status_is_unknown(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" - -", &ev, &why),
                     RP_OK);
    assert_int_equal(ev.status, 0);
    assert_true(ev.flags & RP_EVENT_UNKNOWN_STATUS);
}

static void test_combined_applies_timezone_offsets(void **state) {
    rp_event ev;
    rp_skip_reason why;
    /* 12:05:03 at +0200 and 03:05:03 at -0700 are both 10:05:03 UTC. */
    assert_int_equal(parse("1.2.3.4 - - [17/May/2015:12:05:03 +0200] \"GET / HTTP/1.1\" 200 1", &ev, &why),
                     RP_OK);
    assert_int_equal(ev.ts_us, T_2015_05_17_100503 * 1000000);
    assert_int_equal(parse("1.2.3.4 - - [17/May/2015:03:05:03 -0700] \"GET / HTTP/1.1\" 200 1", &ev, &why),
                     RP_OK);
    assert_int_equal(ev.ts_us, T_2015_05_17_100503 * 1000000);
    /* Crossing midnight and a half-hour zone: 00:35:03 +0530 is 19:05:03
     * UTC the day before. */
    assert_int_equal(parse("1.2.3.4 - - [18/May/2015:00:35:03 +0530] \"GET / HTTP/1.1\" 200 1", &ev, &why),
                     RP_OK);
    assert_int_equal(ev.ts_us, (T_2015_05_17_100503 + 9 * 3600) * 1000000);
}

static void test_combined_time_handles_leap_day_and_fraction(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("1.2.3.4 - - [29/Feb/2024:23:59:59.250 +0000] \"GET / HTTP/1.1\" 200 1", &ev, &why),
                     RP_OK);
    assert_int_equal(ev.ts_us, 1709251199LL * 1000000 + 250000);
    assert_int_equal(parse("1.2.3.4 - - [29/Feb/2023:23:59:59 +0000] \"GET / HTTP/1.1\" 200 1", &ev, &why),
                     RP_EPARSE);
    assert_int_equal(why, RP_SKIP_BAD_TIME);
}

static void test_combined_bad_time_is_skipped_as_bad_time(void **state) {
    static const char *const lines[] = {
        "1.2.3.4 - - [17/Foo/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 1",
        "1.2.3.4 - - [17/May/2015:25:05:03 +0000] \"GET / HTTP/1.1\" 200 1",
        "1.2.3.4 - - [17/May/2015:10:05:03] \"GET / HTTP/1.1\" 200 1",
        "1.2.3.4 - - [] \"GET / HTTP/1.1\" 200 1",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        rp_event ev;
        rp_skip_reason why;
        assert_int_equal(parse(lines[i], &ev, &why), RP_EPARSE);
        assert_int_equal(why, RP_SKIP_BAD_TIME);
    }
}

static void test_combined_bad_address_is_skipped_as_bad_addr(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("example.com - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 1", &ev, &why),
                     RP_EPARSE);
    assert_int_equal(why, RP_SKIP_BAD_ADDR);
    assert_int_equal(parse("1.2.3.999 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 1", &ev, &why),
                     RP_EPARSE);
    assert_int_equal(why, RP_SKIP_BAD_ADDR);
}

static void test_combined_garbage_request_yields_method_other_and_raw_path(void **state) {
    rp_event ev;
    rp_skip_reason why;
    /* nginx writes the TLS ClientHello bytes a client sent to a plain
     * HTTP port as \x escapes. */
    assert_int_equal(parse("45.1.2.3 - - [17/May/2015:10:05:03 +0000] \"\\x16\\x03\\x01\\x00\\xCA\\x01\" 400 "
                           "157 \"-\" \"-\"",
                           &ev, &why),
                     RP_OK);
    assert_int_equal(why, RP_SKIP_NONE);
    assert_int_equal(ev.method, RP_METHOD_OTHER);
    assert_str(ev.path, "\\x16\\x03\\x01\\x00\\xCA\\x01");
    assert_int_equal(ev.status, 400);
    assert_str(ev.user_agent, "");

    assert_int_equal(parse("45.1.2.3 - - [17/May/2015:10:05:03 +0000] \"-\" 400 0 \"-\" \"-\"", &ev, &why),
                     RP_OK);
    assert_int_equal(ev.method, RP_METHOD_OTHER);
    assert_str(ev.path, "-");
}

static void test_combined_unknown_method_keeps_the_uri(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"PROPFIND /dav/?x=1 HTTP/1.1\" 405 0",
                           &ev, &why),
                     RP_OK);
    assert_int_equal(ev.method, RP_METHOD_OTHER);
    assert_str(ev.path, "/dav/");
    assert_str(ev.query, "x=1");
}

static void test_combined_common_format_has_no_referer_or_agent(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif HTTP/1.0\" 200 2326",
                           &ev, &why),
                     RP_OK);
    assert_str(ev.path, "/apache_pb.gif");
    assert_int_equal(ev.response_bytes, 2326);
    assert_str(ev.referer, "");
    assert_str(ev.user_agent, "");
    assert_int_equal(ev.ts_us, 971211336LL * 1000000);
}

static void test_combined_ignores_trailing_extra_fields(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("10.0.0.1 - - [17/May/2015:10:05:03 +0000] \"POST /login HTTP/1.1\" 401 12 \"-\" "
                           "\"curl/8.0\" \"203.0.113.9, 10.0.0.2\" 0.004",
                           &ev, &why),
                     RP_OK);
    assert_int_equal(ev.method, RP_METHOD_POST);
    assert_str(ev.user_agent, "curl/8.0");
    assert_addr(&ev.client, "10.0.0.1"); /* combined never reads X-Forwarded-For */
    assert_int_equal(ev.upstream_us, -1);
}

static void test_combined_unterminated_agent_runs_to_end_of_line(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("46.118.127.106 - - [20/May/2015:12:05:17 +0000] \"GET /x.py HTTP/1.1\" 200 235 "
                           "\"-\" \"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html",
                           &ev, &why),
                     RP_OK);
    assert_str(ev.user_agent, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html");
}

static void test_combined_truncated_line_is_malformed(void **state) {
    static const char *const lines[] = {
        "1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /presentations/logst",
        "1.2.3.4 - - [17/May/2015:10:0",
        "1.2.3.4",
        "",
        "hello world",
        "1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" abc 1",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        rp_event ev;
        rp_skip_reason why;
        assert_int_equal(parse(lines[i], &ev, &why), RP_EPARSE);
        assert_int_equal(why, RP_SKIP_MALFORMED);
    }
}

static void test_combined_binary_garbage_is_skipped_as_binary(void **state) {
    const char line[] = "1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /\0\x01 HTTP/1.1\" 200 1";
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(rp_parse_combined(line, sizeof line - 1, &ev, &why), RP_EPARSE);
    assert_int_equal(why, RP_SKIP_BINARY);
    const char esc[] = "\x1b[31m\x7f\x45LF";
    assert_int_equal(rp_parse_combined(esc, sizeof esc - 1, &ev, &why), RP_EPARSE);
    assert_int_equal(why, RP_SKIP_BINARY);
}

static void test_combined_tab_is_text_not_binary(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"a\tb\"",
                           &ev, &why),
                     RP_OK);
    assert_str(ev.user_agent, "a\tb");
}

static void test_combined_invalid_utf8_is_flagged_not_skipped(void **state) {
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse("1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /caf\xc3\xa9 HTTP/1.1\" 200 1 "
                           "\"-\" \"\xe2\x82\xac\xf0\x9f\x98\x80\"",
                           &ev, &why),
                     RP_OK);
    assert_int_equal(ev.flags & RP_EVENT_BAD_UTF8, 0);
    static const char *const bad[] = {"/\xff", "/\xc3", "/\xc0\xaf", "/\xed\xa0\x80", "/\xf4\x90\x80\x80"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char line[200];
        snprintf(line, sizeof line, "1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET %s HTTP/1.1\" 200 1", bad[i]);
        assert_int_equal(parse(line, &ev, &why), RP_OK);
        assert_true(ev.flags & RP_EVENT_BAD_UTF8);
        assert_str(ev.path, bad[i]);
    }
}

static void test_combined_long_fields_are_truncated_and_flagged(void **state) {
    size_t n = RP_MAX_PATH + 100;
    char *line = malloc(n + 200);
    assert_non_null(line);
    int k = snprintf(line, 200, "1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET /");
    memset(line + k, 'a', n);
    snprintf(line + k + n, 200, "?q HTTP/1.1\" 200 1 \"-\" \"ua\"");
    rp_event ev;
    rp_skip_reason why;
    assert_int_equal(parse(line, &ev, &why), RP_OK);
    assert_int_equal(ev.path.len, RP_MAX_PATH);
    assert_true(ev.flags & RP_EVENT_TRUNCATED);
    assert_str(ev.query, "q");
    assert_str(ev.user_agent, "ua");
    free(line);
}

static void test_combined_reads_every_line_of_the_excerpt(void **state) {
    FILE *f = fopen("tests/data/apache-excerpt.log", "r");
    assert_non_null(f);
    char line[8192];
    int events = 0, posts = 0, heads = 0, options = 0, not_found = 0;
    while (fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\n");
        rp_event ev;
        rp_skip_reason why;
        assert_int_equal(rp_parse_combined(line, len, &ev, &why), RP_OK);
        assert_int_equal(ev.client.family, 4);
        assert_true(ev.ts_us >= 1431820800LL * 1000000); /* 17 May 2015 */
        assert_true(ev.ts_us < 1432166400LL * 1000000);  /* 21 May 2015 */
        events++;
        posts += ev.method == RP_METHOD_POST;
        heads += ev.method == RP_METHOD_HEAD;
        options += ev.method == RP_METHOD_OPTIONS;
        not_found += ev.status == 404;
    }
    fclose(f);
    assert_int_equal(events, 50);
    assert_int_equal(posts, 3);
    assert_int_equal(heads, 3);
    assert_int_equal(options, 1);
    assert_true(not_found >= 3);
}

/* -------------------------------------------------------------- parser */

static void test_parser_auto_detects_combined_on_first_line(void **state) {
    rp_log_parser *p = rp_log_parser_new(RP_FORMAT_AUTO);
    assert_non_null(p);
    assert_int_equal(rp_log_parser_format(p), RP_FORMAT_AUTO);
    rp_event ev;
    rp_skip_reason why;
    const char *line = "1.2.3.4 - - [17/May/2015:10:05:03 +0000] \"GET / HTTP/1.1\" 200 1";
    assert_int_equal(rp_log_parser_parse(p, line, strlen(line), &ev, &why), RP_OK);
    assert_int_equal(rp_log_parser_format(p), RP_FORMAT_COMBINED);
    /* Decided once: a JSON line later is a malformed combined line. */
    const char *json = "{\"remote_addr\":\"1.2.3.4\"}";
    assert_int_equal(rp_log_parser_parse(p, json, strlen(json), &ev, &why), RP_EPARSE);
    assert_int_equal(why, RP_SKIP_MALFORMED);
    rp_log_parser_free(p);
}

static void test_parser_auto_detects_json_on_first_line(void **state) {
    rp_log_parser *p = rp_log_parser_new(RP_FORMAT_AUTO);
    rp_event ev;
    rp_skip_reason why;
    const char *line = "  {\"remote_addr\":\"1.2.3.4\",\"msec\":\"1431857103.000\",\"request\":\"GET / HTTP/1.1\","
                       "\"status\":\"200\"}";
    assert_int_equal(rp_log_parser_parse(p, line, strlen(line), &ev, &why), RP_OK);
    assert_int_equal(rp_log_parser_format(p), RP_FORMAT_JSON);
    assert_int_equal(ev.ts_us, T_2015_05_17_100503 * 1000000);
    rp_log_parser_free(p);
}

static void test_parser_blank_lines_are_nothing_not_skipped(void **state) {
    rp_log_parser *p = rp_log_parser_new(RP_FORMAT_AUTO);
    rp_event ev;
    rp_skip_reason why = RP_SKIP_MALFORMED;
    assert_int_equal(rp_log_parser_parse(p, "", 0, &ev, &why), RP_ENOENT);
    assert_int_equal(why, RP_SKIP_NONE);
    assert_int_equal(rp_log_parser_parse(p, " \t ", 3, &ev, &why), RP_ENOENT);
    assert_int_equal(why, RP_SKIP_NONE);
    /* Blank lines do not decide the format. */
    assert_int_equal(rp_log_parser_format(p), RP_FORMAT_AUTO);
    rp_log_parser_free(p);
}

static void test_parser_rejects_a_line_over_the_limit_as_too_long(void **state) {
    rp_log_parser *p = rp_log_parser_new(RP_FORMAT_COMBINED);
    rp_event ev;
    rp_skip_reason why;
    char *line = calloc(1, RP_MAX_LINE + 1);
    memset(line, 'a', RP_MAX_LINE + 1);
    assert_int_equal(rp_log_parser_parse(p, line, RP_MAX_LINE + 1, &ev, &why), RP_EPARSE);
    assert_int_equal(why, RP_SKIP_TOO_LONG);
    free(line);
    rp_log_parser_free(p);
}

static void test_format_and_skip_reason_names_round_trip(void **state) {
    rp_log_format f;
    for (int i = RP_FORMAT_AUTO; i <= RP_FORMAT_JSON; i++) {
        assert_int_equal(rp_log_format_parse(rp_log_format_name((rp_log_format)i), &f), RP_OK);
        assert_int_equal(f, i);
    }
    assert_string_equal(rp_log_format_name(RP_FORMAT_COMBINED), "combined");
    assert_int_equal(rp_log_format_parse("common", &f), RP_OK);
    assert_int_equal(f, RP_FORMAT_COMBINED);
    assert_int_equal(rp_log_format_parse("xml", &f), RP_EINVAL);
    assert_string_equal(rp_skip_reason_name(RP_SKIP_MALFORMED), "malformed");
    assert_string_equal(rp_skip_reason_name(RP_SKIP_TOO_LONG), "too_long");
    assert_string_equal(rp_skip_reason_name(RP_SKIP_BINARY), "binary");
    assert_string_equal(rp_skip_reason_name(RP_SKIP_BAD_TIME), "bad_time");
    assert_string_equal(rp_skip_reason_name(RP_SKIP_BAD_ADDR), "bad_addr");
    assert_string_equal(rp_skip_reason_name(RP_SKIP_BAD_JSON), "bad_json");
    assert_string_equal(rp_skip_reason_name(RP_SKIP_REASON_COUNT), "unknown");
}

/* ------------------------------------------------------------ real log */

static void test_whole_real_apache_log_parses_10000_events_0_skipped(void **state) {
    const char *path = "../shared/data/real/elastic-apache_logs.log";
    FILE *probe = fopen(path, "r");
    if (!probe) {
        print_message("%s absent: skipped\n", path);
        skip();
    }
    fclose(probe);
    rp_line_reader *r;
    rp_error err;
    assert_int_equal(rp_line_reader_open(path, &r, &err), RP_OK);
    rp_log_parser *p = rp_log_parser_new(RP_FORMAT_AUTO);
    const char *line;
    size_t len;
    bool too_long;
    int rc, events = 0, skipped = 0;
    while ((rc = rp_line_reader_next(r, &line, &len, &too_long, &err)) == 1) {
        rp_event ev;
        rp_skip_reason why;
        assert_false(too_long);
        rp_status st = rp_log_parser_parse(p, line, len, &ev, &why);
        if (st == RP_OK)
            events++;
        else if (st == RP_EPARSE)
            skipped++;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(events, 10000);
    assert_int_equal(skipped, 0);
    assert_int_equal(rp_line_reader_line_number(r), 10000);
    assert_int_equal(rp_line_reader_offset(r), rp_line_reader_size(r));
    assert_int_equal(rp_log_parser_format(p), RP_FORMAT_COMBINED);
    rp_log_parser_free(p);
    rp_line_reader_close(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_combined_parses_every_field_of_a_real_line),
        cmocka_unit_test(test_combined_splits_query_from_path),
        cmocka_unit_test(test_combined_reads_ipv6_client),
        cmocka_unit_test(test_combined_keeps_escaped_quotes_inside_fields),
        cmocka_unit_test(test_combined_survives_unescaped_quote_in_request),
        cmocka_unit_test(test_combined_dash_size_is_zero),
        cmocka_unit_test(test_combined_dash_status_is_unknown),
        cmocka_unit_test(test_combined_applies_timezone_offsets),
        cmocka_unit_test(test_combined_time_handles_leap_day_and_fraction),
        cmocka_unit_test(test_combined_bad_time_is_skipped_as_bad_time),
        cmocka_unit_test(test_combined_bad_address_is_skipped_as_bad_addr),
        cmocka_unit_test(test_combined_garbage_request_yields_method_other_and_raw_path),
        cmocka_unit_test(test_combined_unknown_method_keeps_the_uri),
        cmocka_unit_test(test_combined_common_format_has_no_referer_or_agent),
        cmocka_unit_test(test_combined_ignores_trailing_extra_fields),
        cmocka_unit_test(test_combined_unterminated_agent_runs_to_end_of_line),
        cmocka_unit_test(test_combined_truncated_line_is_malformed),
        cmocka_unit_test(test_combined_binary_garbage_is_skipped_as_binary),
        cmocka_unit_test(test_combined_tab_is_text_not_binary),
        cmocka_unit_test(test_combined_invalid_utf8_is_flagged_not_skipped),
        cmocka_unit_test(test_combined_long_fields_are_truncated_and_flagged),
        cmocka_unit_test(test_combined_reads_every_line_of_the_excerpt),
        cmocka_unit_test(test_parser_auto_detects_combined_on_first_line),
        cmocka_unit_test(test_parser_auto_detects_json_on_first_line),
        cmocka_unit_test(test_parser_blank_lines_are_nothing_not_skipped),
        cmocka_unit_test(test_parser_rejects_a_line_over_the_limit_as_too_long),
        cmocka_unit_test(test_format_and_skip_reason_names_round_trip),
        cmocka_unit_test(test_whole_real_apache_log_parses_10000_events_0_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
