/*
 * fuzz_protocol.c -- libFuzzer target: any bytes as one event datagram.
 *
 * The decoder must refuse or accept without reading past the input (the
 * bytes are copied into a heap block of exactly their size, so ASan sees
 * any over-read) and, when it accepts, give strings inside the datagram
 * and within their bounds, and field values the engine can take.
 *
 * An accepted datagram is re-encoded and decoded again: the second event
 * must equal the first field for field and byte for byte (the encoder and
 * the decoder agree on the format), and the re-encoding is never longer
 * than the original (only a longer 1.x header can make it shorter).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool str_equal(rp_str a, rp_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static bool inside(rp_str s, const uint8_t *buf, size_t len) {
    const uint8_t *p = (const uint8_t *)s.ptr;
    return p >= buf && p + s.len <= buf + len;
}

static void check_event(const rp_event *ev, const uint8_t *buf, size_t len) {
    if (!inside(ev->host, buf, len) || !inside(ev->path, buf, len) ||
        !inside(ev->query, buf, len) || !inside(ev->user_agent, buf, len) ||
        !inside(ev->referer, buf, len))
        abort();
    if (ev->host.len > RP_MAX_HOST || ev->path.len > RP_MAX_PATH || ev->query.len > RP_MAX_QUERY ||
        ev->user_agent.len > RP_MAX_USER_AGENT || ev->referer.len > RP_MAX_REFERER)
        abort();
    if (ev->method >= RP_METHOD_COUNT || ev->status > 999 || ev->upstream_us < -1) abort();
    if (ev->client.family != 0 && ev->client.family != 4 && ev->client.family != 6) abort();
}

static bool events_equal(const rp_event *a, const rp_event *b) {
    return a->ts_us == b->ts_us && a->client.family == b->client.family &&
           memcmp(a->client.bytes, b->client.bytes, 16) == 0 && a->status == b->status &&
           a->method == b->method && a->flags == b->flags &&
           a->request_bytes == b->request_bytes && a->response_bytes == b->response_bytes &&
           a->upstream_us == b->upstream_us && a->header_hash == b->header_hash &&
           a->credential_id == b->credential_id && a->token_id == b->token_id &&
           a->session_id == b->session_id && str_equal(a->host, b->host) &&
           str_equal(a->path, b->path) && str_equal(a->query, b->query) &&
           str_equal(a->user_agent, b->user_agent) && str_equal(a->referer, b->referer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);

    rp_event ev;
    rp_decode_reason why = RP_DECODE_REASON_COUNT;
    rp_status st = rp_event_decode(copy, size, &ev, &why);
    if (st != RP_OK) {
        if (st != RP_EPARSE || why <= RP_DECODE_OK || why >= RP_DECODE_REASON_COUNT) abort();
        free(copy);
        return 0;
    }
    if (why != RP_DECODE_OK) abort();
    check_event(&ev, copy, size);

    static uint8_t again[RP_PROTO_MAX_DATAGRAM];
    size_t n = rp_event_encode(&ev, again, sizeof again);
    if (n == 0 || n > size) abort();
    rp_event back;
    if (rp_event_decode(again, n, &back, &why) != RP_OK) abort();
    if (!events_equal(&ev, &back)) abort();
    free(copy);
    return 0;
}
