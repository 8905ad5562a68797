/*
 * test_protocol.c -- the v1 event datagram: round trips of every field,
 * the byte layout that docs/protocol.md documents, the truncation order,
 * and one refusal per decode reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

static rp_str str_of(const char *s) {
    return (rp_str){s, (uint32_t)strlen(s)};
}

static void set_addr(rp_event *ev, const char *text) {
    assert_int_equal(rp_addr_parse(text, strlen(text), &ev->client), RP_OK);
}

/* An event with every field set to a distinct value. */
static rp_event full_event(void) {
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_us = 1732528800123456;
    set_addr(&ev, "2001:db8::42");
    ev.status = 404;
    ev.method = RP_METHOD_PATCH;
    ev.flags = RP_EVENT_HEADERS_KNOWN | RP_HDR_COOKIE | RP_EVENT_BAD_UTF8;
    ev.request_bytes = 0x0102030405060708ULL;
    ev.response_bytes = 123456789012ULL;
    ev.upstream_us = 15000;
    ev.header_hash = 0xfedcba9876543210ULL;
    ev.credential_id = 0x1111222233334444ULL;
    ev.token_id = 0x5555666677778888ULL;
    ev.session_id = 0x99990000aaaabbbbULL;
    ev.host = str_of("api.example.com");
    ev.path = str_of("/v1/users/42");
    ev.query = str_of("page=2&sort=asc");
    ev.user_agent = str_of("Mozilla/5.0 (X11; Linux x86_64)");
    ev.referer = str_of("https://example.com/start");
    return ev;
}

static void assert_str(rp_str got, rp_str want) {
    assert_int_equal(got.len, want.len);
    if (want.len) assert_memory_equal(got.ptr, want.ptr, want.len);
}

static void assert_events_equal(const rp_event *a, const rp_event *b) {
    assert_int_equal(a->ts_us, b->ts_us);
    assert_int_equal(a->client.family, b->client.family);
    assert_memory_equal(a->client.bytes, b->client.bytes, 16);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->method, b->method);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->request_bytes, b->request_bytes);
    assert_int_equal(a->response_bytes, b->response_bytes);
    assert_int_equal(a->upstream_us, b->upstream_us);
    assert_int_equal(a->header_hash, b->header_hash);
    assert_int_equal(a->credential_id, b->credential_id);
    assert_int_equal(a->token_id, b->token_id);
    assert_int_equal(a->session_id, b->session_id);
    assert_str(a->host, b->host);
    assert_str(a->path, b->path);
    assert_str(a->query, b->query);
    assert_str(a->user_agent, b->user_agent);
    assert_str(a->referer, b->referer);
}

static size_t encode(const rp_event *ev, uint8_t *buf) {
    size_t n = rp_event_encode(ev, buf, RP_PROTO_MAX_DATAGRAM);
    assert_true(n > 0);
    return n;
}

static void decode_ok(const uint8_t *buf, size_t n, rp_event *out) {
    rp_decode_reason why = RP_DECODE_REASON_COUNT;
    assert_int_equal(rp_event_decode(buf, n, out, &why), RP_OK);
    assert_int_equal(why, RP_DECODE_OK);
}

static rp_decode_reason decode_fails(const uint8_t *buf, size_t n) {
    rp_event ev;
    rp_decode_reason why = RP_DECODE_OK;
    assert_int_equal(rp_event_decode(buf, n, &ev, &why), RP_EPARSE);
    return why;
}

/* ----------------------------------------------------------- round trips */

static void test_protocol_round_trips_every_field(void **state) {
    rp_event ev = full_event(), back;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, buf);
    assert_int_equal(n, 106 + 15 + 12 + 15 + 31 + 25);
    decode_ok(buf, n, &back);
    assert_events_equal(&back, &ev);
}

static void test_protocol_round_trips_ipv4_unknowns_and_empty_strings(void **state) {
    rp_event ev, back;
    memset(&ev, 0, sizeof ev);
    set_addr(&ev, "192.0.2.7");
    ev.upstream_us = -1;
    ev.flags = RP_EVENT_UNKNOWN_STATUS;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, buf);
    assert_int_equal(n, 106);
    decode_ok(buf, n, &back);
    assert_events_equal(&back, &ev);
    assert_int_equal(back.client.family, 4);
}

static void test_protocol_round_trips_event_without_address(void **state) {
    rp_event ev, back;
    memset(&ev, 0, sizeof ev);
    ev.path = str_of("/");
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, buf);
    decode_ok(buf, n, &back);
    assert_events_equal(&back, &ev);
}

static void test_protocol_round_trips_every_method(void **state) {
    for (int m = 0; m < RP_METHOD_COUNT; m++) {
        rp_event ev = full_event(), back;
        ev.method = (uint8_t)m;
        uint8_t buf[RP_PROTO_MAX_DATAGRAM];
        decode_ok(buf, encode(&ev, buf), &back);
        assert_int_equal(back.method, m);
    }
}

/* The offsets docs/protocol.md gives, checked byte by byte. */
static void test_protocol_layout_matches_documented_offsets(void **state) {
    rp_event ev = full_event();
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    encode(&ev, buf);
    assert_memory_equal(buf, "RPEV", 4);
    assert_int_equal(buf[4], 1);    /* version */
    assert_int_equal(buf[5], 0);    /* protocol flags */
    assert_int_equal(buf[6], 106);  /* header size, LE */
    assert_int_equal(buf[7], 0);
    /* ts_us = 1732528800123456 = 0x000627B9CBB1CA40, little-endian */
    static const uint8_t ts[8] = {0x40, 0xca, 0xb1, 0xcb, 0xb9, 0x27, 0x06, 0x00};
    assert_memory_equal(buf + 8, ts, 8);
    assert_int_equal(buf[16], 6);                /* family */
    assert_int_equal(buf[17], RP_METHOD_PATCH);  /* method */
    assert_int_equal(buf[18] | buf[19] << 8, 404);
    assert_int_equal(buf[20], ev.flags & 0xff);
    assert_memory_equal(buf + 24, ev.client.bytes, 16);
    static const uint8_t req[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    assert_memory_equal(buf + 40, req, 8);
    assert_int_equal(buf[56] | buf[57] << 8, 15000);
    assert_int_equal(buf[64], 0x10); /* header_hash low byte */
    assert_int_equal(buf[72], 0x44); /* credential_id */
    assert_int_equal(buf[80], 0x88); /* token_id */
    assert_int_equal(buf[88], 0xbb); /* session_id */
    assert_int_equal(buf[96], 15);   /* host length */
    assert_int_equal(buf[98], 12);   /* path length */
    assert_int_equal(buf[100], 15);  /* query */
    assert_int_equal(buf[102], 31);  /* user agent */
    assert_int_equal(buf[104], 25);  /* referer */
    assert_memory_equal(buf + 106, "api.example.com/v1/users/42page=2", 33);
}

static void test_protocol_decodes_from_unaligned_buffer(void **state) {
    rp_event ev = full_event(), back;
    uint8_t tmp[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, tmp);
    uint8_t *raw = malloc(n + 3);
    assert_non_null(raw);
    memcpy(raw + 3, tmp, n);
    decode_ok(raw + 3, n, &back);
    assert_events_equal(&back, &ev);
    free(raw);
}

/* ------------------------------------------------------------ truncation */

static void test_protocol_cuts_strings_to_their_rampart_bounds(void **state) {
    static char long_path[RP_MAX_PATH + 500];
    static char long_ua[RP_MAX_USER_AGENT + 1];
    memset(long_path, 'p', sizeof long_path);
    memset(long_ua, 'u', sizeof long_ua);
    rp_event ev = full_event(), back;
    ev.flags = 0;
    ev.path = (rp_str){long_path, sizeof long_path};
    ev.user_agent = (rp_str){long_ua, sizeof long_ua};
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    decode_ok(buf, encode(&ev, buf), &back);
    assert_int_equal(back.path.len, RP_MAX_PATH);
    assert_int_equal(back.user_agent.len, RP_MAX_USER_AGENT);
    assert_int_equal(back.host.len, 15);
    assert_true(back.flags & RP_EVENT_TRUNCATED);
}

static void test_protocol_untruncated_event_has_no_truncated_flag(void **state) {
    rp_event ev = full_event(), back;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    decode_ok(buf, encode(&ev, buf), &back);
    assert_false(back.flags & RP_EVENT_TRUNCATED);
}

/* 10 bytes too few: the referer (25 bytes) loses 10, the rest is intact. */
static void test_protocol_small_buffer_cuts_referer_first(void **state) {
    rp_event ev = full_event(), back;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t full = encode(&ev, buf);
    size_t n = rp_event_encode(&ev, buf, full - 10);
    assert_int_equal(n, full - 10);
    decode_ok(buf, n, &back);
    assert_int_equal(back.referer.len, 15);
    assert_memory_equal(back.referer.ptr, "https://example", 15);
    assert_int_equal(back.user_agent.len, 31);
    assert_true(back.flags & RP_EVENT_TRUNCATED);
}

/* Room for the header and 20 of the 98 string bytes: referer, user agent
 * and query go entirely, then the path is cut to 5; the host (15) is cut
 * last of all. */
static void test_protocol_cut_order_is_referer_ua_query_path_host(void **state) {
    rp_event ev = full_event(), back;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = rp_event_encode(&ev, buf, 106 + 20);
    assert_int_equal(n, 106 + 20);
    decode_ok(buf, n, &back);
    assert_int_equal(back.referer.len, 0);
    assert_int_equal(back.user_agent.len, 0);
    assert_int_equal(back.query.len, 0);
    assert_int_equal(back.host.len, 15);
    assert_int_equal(back.path.len, 5);
    assert_memory_equal(back.path.ptr, "/v1/u", 5);

    n = rp_event_encode(&ev, buf, 106 + 4);
    decode_ok(buf, n, &back);
    assert_int_equal(back.path.len, 0);
    assert_int_equal(back.host.len, 4);
}

static void test_protocol_cut_never_splits_a_utf8_character(void **state) {
    rp_event ev, back;
    memset(&ev, 0, sizeof ev);
    ev.path = str_of("/caf\xc3\xa9"); /* "/café": é is 2 bytes */
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = rp_event_encode(&ev, buf, 106 + 5);
    decode_ok(buf, n, &back);
    assert_int_equal(back.path.len, 4);
    assert_memory_equal(back.path.ptr, "/caf", 4);
}

static void test_protocol_encode_refuses_buffer_smaller_than_header(void **state) {
    rp_event ev = full_event();
    uint8_t buf[200];
    assert_int_equal(rp_event_encode(&ev, buf, 105), 0);
    assert_int_equal(rp_event_encode(&ev, buf, 106), 106);
}

/* Values the decoder refuses are sent as "unknown", so that whatever the
 * encoder writes decodes (the queue depends on it). */
static void test_protocol_encoder_output_always_decodes(void **state) {
    rp_event ev = full_event(), back;
    ev.status = 1234;
    ev.method = 77;
    ev.upstream_us = -50;
    ev.client.family = 9;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    decode_ok(buf, encode(&ev, buf), &back);
    assert_int_equal(back.status, 0);
    assert_true(back.flags & RP_EVENT_UNKNOWN_STATUS);
    assert_int_equal(back.method, RP_METHOD_OTHER);
    assert_int_equal(back.upstream_us, -1);
    assert_int_equal(back.client.family, 0);
}

/* ---------------------------------------------------------------- decode */

static void test_protocol_decode_short(void **state) {
    rp_event ev = full_event();
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    encode(&ev, buf);
    assert_int_equal(decode_fails(buf, 0), RP_DECODE_SHORT);
    assert_int_equal(decode_fails(buf, 3), RP_DECODE_SHORT);
    assert_int_equal(decode_fails(buf, 105), RP_DECODE_SHORT);
}

static void test_protocol_decode_magic(void **state) {
    assert_int_equal(decode_fails((const uint8_t *)"GET / HTTP/1.1\r\n", 16), RP_DECODE_MAGIC);
}

static void test_protocol_decode_unknown_major_version(void **state) {
    rp_event ev = full_event();
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, buf);
    buf[4] = 2;
    assert_int_equal(decode_fails(buf, n), RP_DECODE_VERSION);
    /* Even a short datagram of another version is a version refusal. */
    assert_int_equal(decode_fails(buf, 8), RP_DECODE_VERSION);
}

static void test_protocol_decode_length_mismatch(void **state) {
    rp_event ev = full_event();
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, buf);
    assert_int_equal(decode_fails(buf, n - 1), RP_DECODE_LENGTH);
    assert_int_equal(decode_fails(buf, n + 1), RP_DECODE_LENGTH);
    buf[96] = 16; /* host length one more, total now off by one */
    assert_int_equal(decode_fails(buf, n), RP_DECODE_LENGTH);
}

static void test_protocol_decode_string_over_its_bound(void **state) {
    /* A host of 256 bytes with every other string empty: the lengths add
     * up, but the host is over RP_MAX_HOST. */
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, buf);
    assert_int_equal(n, 106);
    memset(buf + 106, 'h', 256);
    buf[96] = 0;
    buf[97] = 1; /* 256 */
    assert_int_equal(decode_fails(buf, 106 + 256), RP_DECODE_LENGTH);
}

static void test_protocol_decode_header_size_out_of_range(void **state) {
    rp_event ev = full_event();
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, buf);
    buf[6] = 100; /* smaller than the v1 header */
    assert_int_equal(decode_fails(buf, n), RP_DECODE_LENGTH);
    buf[6] = 0xff;
    buf[7] = 0xff; /* beyond the datagram */
    assert_int_equal(decode_fails(buf, n), RP_DECODE_LENGTH);
}

static void test_protocol_decode_field_out_of_range(void **state) {
    rp_event ev = full_event();
    uint8_t good[RP_PROTO_MAX_DATAGRAM], buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, good);
    struct { size_t off; uint8_t value; } bad[] = {
        {16, 5},               /* family */
        {17, RP_METHOD_COUNT}, /* method */
        {19, 0x04},            /* status 0x0494 = 1172 */
        {63, 0x80},            /* upstream_us negative below -1 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(buf, good, n);
        buf[bad[i].off] = bad[i].value;
        assert_int_equal(decode_fails(buf, n), RP_DECODE_FIELD);
    }
    /* Family 4 whose bytes are not an IPv4-mapped address. */
    memcpy(buf, good, n);
    buf[16] = 4;
    assert_int_equal(decode_fails(buf, n), RP_DECODE_FIELD);
    /* No family but address bytes. */
    memcpy(buf, good, n);
    buf[16] = 0;
    assert_int_equal(decode_fails(buf, n), RP_DECODE_FIELD);
}

/* A 1.x producer may append fields after the lengths; we skip them. */
static void test_protocol_decode_skips_extension_of_longer_header(void **state) {
    rp_event ev = full_event(), back;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM], ext[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, buf);
    memcpy(ext, buf, 106);
    memset(ext + 106, 0xee, 4);
    memcpy(ext + 110, buf + 106, n - 106);
    ext[6] = 110;
    decode_ok(ext, n + 4, &back);
    assert_events_equal(&back, &ev);
}

static void test_protocol_decode_clears_unknown_event_flags(void **state) {
    rp_event ev = full_event(), back;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, buf);
    buf[23] = 0x80; /* bit 31 */
    decode_ok(buf, n, &back);
    assert_int_equal(back.flags, ev.flags);
}

/* Each proper prefix, in a heap block of exactly its size (ASan checks
 * that nothing past it is read), is refused. */
static void test_protocol_every_prefix_is_refused_without_overread(void **state) {
    rp_event ev = full_event();
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = encode(&ev, buf);
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        assert_non_null(copy);
        memcpy(copy, buf, len);
        rp_event out;
        rp_decode_reason why;
        assert_int_equal(rp_event_decode(copy, len, &out, &why), RP_EPARSE);
        assert_true(why == RP_DECODE_SHORT || why == RP_DECODE_LENGTH);
        free(copy);
    }
}

static void test_protocol_reason_names(void **state) {
    assert_string_equal(rp_decode_reason_name(RP_DECODE_OK), "ok");
    assert_string_equal(rp_decode_reason_name(RP_DECODE_SHORT), "short");
    assert_string_equal(rp_decode_reason_name(RP_DECODE_MAGIC), "magic");
    assert_string_equal(rp_decode_reason_name(RP_DECODE_VERSION), "version");
    assert_string_equal(rp_decode_reason_name(RP_DECODE_LENGTH), "length");
    assert_string_equal(rp_decode_reason_name(RP_DECODE_FIELD), "field");
    assert_string_equal(rp_decode_reason_name(RP_DECODE_REASON_COUNT), "unknown");
}


/* Protocol 1.1: several records back to back in one datagram; each one
 * frames itself. */
static void test_protocol_record_size_frames_records_back_to_back(void **state) {
    (void)state;
    rp_event a = full_event(), b = full_event();
    b.path = str_of("/second");
    uint8_t buf[2 * RP_PROTO_MAX_DATAGRAM];
    size_t na = encode(&a, buf);
    size_t nb = encode(&b, buf + na);
    assert_int_equal(rp_event_record_size(buf, na + nb), na);
    assert_int_equal(rp_event_record_size(buf + na, nb), nb);
    rp_event out;
    decode_ok(buf + na, nb, &out);
    assert_str(out.path, b.path);
    /* a record cut short, garbage, another version: no size */
    assert_int_equal(rp_event_record_size(buf, na - 1), 0);
    assert_int_equal(rp_event_record_size((const uint8_t *)"RPEV", 4), 0);
    assert_int_equal(rp_event_record_size((const uint8_t *)"hello world, not an event", 25), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_protocol_round_trips_every_field),
        cmocka_unit_test(test_protocol_record_size_frames_records_back_to_back),
        cmocka_unit_test(test_protocol_round_trips_ipv4_unknowns_and_empty_strings),
        cmocka_unit_test(test_protocol_round_trips_event_without_address),
        cmocka_unit_test(test_protocol_round_trips_every_method),
        cmocka_unit_test(test_protocol_layout_matches_documented_offsets),
        cmocka_unit_test(test_protocol_decodes_from_unaligned_buffer),
        cmocka_unit_test(test_protocol_cuts_strings_to_their_rampart_bounds),
        cmocka_unit_test(test_protocol_untruncated_event_has_no_truncated_flag),
        cmocka_unit_test(test_protocol_small_buffer_cuts_referer_first),
        cmocka_unit_test(test_protocol_cut_order_is_referer_ua_query_path_host),
        cmocka_unit_test(test_protocol_cut_never_splits_a_utf8_character),
        cmocka_unit_test(test_protocol_encode_refuses_buffer_smaller_than_header),
        cmocka_unit_test(test_protocol_encoder_output_always_decodes),
        cmocka_unit_test(test_protocol_decode_short),
        cmocka_unit_test(test_protocol_decode_magic),
        cmocka_unit_test(test_protocol_decode_unknown_major_version),
        cmocka_unit_test(test_protocol_decode_length_mismatch),
        cmocka_unit_test(test_protocol_decode_string_over_its_bound),
        cmocka_unit_test(test_protocol_decode_header_size_out_of_range),
        cmocka_unit_test(test_protocol_decode_field_out_of_range),
        cmocka_unit_test(test_protocol_decode_skips_extension_of_longer_header),
        cmocka_unit_test(test_protocol_decode_clears_unknown_event_flags),
        cmocka_unit_test(test_protocol_every_prefix_is_refused_without_overread),
        cmocka_unit_test(test_protocol_reason_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
