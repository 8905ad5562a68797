/*
 * protocol.c -- encoder and decoder of the v1 binary event datagram
 * (layout byte by byte in docs/protocol.md).
 *
 * One datagram is one rp_event: a 106-byte fixed header of little-endian
 * integers (magic, version, header size, every numeric field, the five
 * string lengths) followed by the strings, back to back, in the order
 * host, path, query, user agent, referer. Nothing is aligned and nothing
 * is cast: every field is loaded and stored a byte at a time, so the
 * buffer may sit anywhere and the format does not depend on the compiler's
 * struct layout or on the host's byte order.
 *
 * The header carries its own size so that a later 1.x producer can append
 * fields after the string lengths; this decoder reads the fields it knows
 * and starts the strings where the header says. A different major version
 * is refused (RP_DECODE_VERSION) and the caller counts it.
 *
 * The decoder treats every datagram as hostile: it checks the magic, the
 * version, that the header size is sane, that every string length is
 * within its RP_MAX_* bound and that the lengths add up exactly to the
 * datagram, that the address family and method are known. It never reads
 * past len. Decoded strings point into the caller's buffer: decoding
 * copies nothing.
 *
 * This file depends only on rampart.h and <string.h>/<stdint.h>: the nginx
 * module compiles it on its own.
 */
#include <string.h>
#include <stdint.h>

#include "protocol.h"

/* Offsets of the v1 header. */
#define OFF_MAGIC 0
#define OFF_VERSION 4
#define OFF_PFLAGS 5
#define OFF_HLEN 6
#define OFF_TS 8
#define OFF_FAMILY 16
#define OFF_METHOD 17
#define OFF_STATUS 18
#define OFF_EFLAGS 20
#define OFF_ADDR 24
#define OFF_REQ_BYTES 40
#define OFF_RESP_BYTES 48
#define OFF_UPSTREAM 56
#define OFF_HEADER_HASH 64
#define OFF_CREDENTIAL 72
#define OFF_TOKEN 80
#define OFF_SESSION 88
#define OFF_LENS 96 /* five u16: host, path, query, user agent, referer */
#define HEADER_V1 106

/* HTTP has three-digit status codes; a larger one is a corrupt datagram. */
#define RP_PROTO_MAX_STATUS 999

/* Every event flag this build knows; others are cleared on decode so that
 * a newer producer's flag never reaches an engine that cannot read it. */
#define KNOWN_EVENT_FLAGS                                                                   \
    (RP_EVENT_TRUNCATED | RP_EVENT_HEADERS_KNOWN | RP_HDR_ACCEPT_LANGUAGE |                 \
     RP_HDR_ACCEPT_ENCODING | RP_HDR_COOKIE | RP_HDR_REFERER | RP_HDR_SEC_CH_UA |            \
     RP_EVENT_BAD_UTF8 | RP_EVENT_UNKNOWN_STATUS | RP_EVENT_REFUSED)

enum { S_HOST, S_PATH, S_QUERY, S_UA, S_REFERER, S_COUNT };

static const uint32_t string_bound[S_COUNT] = {RP_MAX_HOST, RP_MAX_PATH, RP_MAX_QUERY,
                                               RP_MAX_USER_AGENT, RP_MAX_REFERER};

static const uint8_t magic[4] = {'R', 'P', 'E', 'V'};

static const char *const reason_names[RP_DECODE_REASON_COUNT] = {
    "ok", "short", "magic", "version", "length", "field",
};

const char *rp_decode_reason_name(rp_decode_reason reason) {
    if ((unsigned)reason >= RP_DECODE_REASON_COUNT) return "unknown";
    return reason_names[reason];
}

/* ------------------------------------------------------------- byte order */

static void store16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void store32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void store64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t load16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t load32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static uint64_t load64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* ----------------------------------------------------------------- encode */

/* An IPv4 address travels in its IPv4-mapped IPv6 form, as rp_addr keeps
 * it; no address is all zeroes. Anything else would key the wrong client. */
static bool address_valid(uint8_t family, const uint8_t *bytes) {
    static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    switch (family) {
    case 0:
        for (int i = 0; i < 16; i++)
            if (bytes[i]) return false;
        return true;
    case 4: return memcmp(bytes, v4_prefix, 12) == 0;
    case 6: return true;
    default: return false;
    }
}


/* Cut a string of len bytes to at most max, backing off to the start of a
 * UTF-8 sequence so that the cut never leaves half a character. */
static uint32_t cut_utf8(const char *s, uint32_t len, uint32_t max) {
    if (len <= max) return len;
    uint32_t n = max;
    /* At most 3 continuation bytes precede a lead byte in valid UTF-8;
     * anything else is not UTF-8 and is cut where it falls. */
    for (int back = 0; back < 3 && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80; back++) n--;
    if (((unsigned char)s[n] & 0xC0) == 0x80) n = max;
    return n;
}

size_t rp_event_encode(const rp_event *ev, uint8_t *buf, size_t size) {
    if (size > RP_PROTO_MAX_DATAGRAM) size = RP_PROTO_MAX_DATAGRAM;
    if (size < HEADER_V1) return 0;

    const rp_str *str[S_COUNT] = {&ev->host, &ev->path, &ev->query, &ev->user_agent,
                                  &ev->referer};
    uint32_t len[S_COUNT];
    uint32_t flags = ev->flags;
    size_t total = 0;
    for (int i = 0; i < S_COUNT; i++) {
        uint32_t n = str[i]->ptr ? str[i]->len : 0;
        len[i] = cut_utf8(str[i]->ptr, n, string_bound[i]);
        if (len[i] != n) flags |= RP_EVENT_TRUNCATED;
        total += len[i];
    }
    /* Over the datagram: cut the least useful strings first. */
    static const int cut_order[S_COUNT] = {S_REFERER, S_UA, S_QUERY, S_PATH, S_HOST};
    size_t room = size - HEADER_V1;
    for (int k = 0; k < S_COUNT && total > room; k++) {
        int i = cut_order[k];
        size_t excess = total - room;
        uint32_t want = len[i] > excess ? (uint32_t)(len[i] - excess) : 0;
        uint32_t got = cut_utf8(str[i]->ptr, len[i], want);
        total -= len[i] - got;
        len[i] = got;
        flags |= RP_EVENT_TRUNCATED;
    }

    /* What the encoder writes, the decoder accepts: values the decoder
     * would refuse become "unknown" here rather than losing the event. */
    bool addr_ok = address_valid(ev->client.family, ev->client.bytes);
    uint16_t status = ev->status;
    if (status > RP_PROTO_MAX_STATUS) {
        status = 0;
        flags |= RP_EVENT_UNKNOWN_STATUS;
    }

    memcpy(buf + OFF_MAGIC, magic, 4);
    buf[OFF_VERSION] = RP_PROTO_VERSION;
    buf[OFF_PFLAGS] = 0;
    store16(buf + OFF_HLEN, HEADER_V1);
    store64(buf + OFF_TS, (uint64_t)ev->ts_us);
    buf[OFF_FAMILY] = addr_ok ? ev->client.family : 0;
    buf[OFF_METHOD] = ev->method < RP_METHOD_COUNT ? ev->method : RP_METHOD_OTHER;
    store16(buf + OFF_STATUS, status);
    store32(buf + OFF_EFLAGS, flags);
    if (addr_ok)
        memcpy(buf + OFF_ADDR, ev->client.bytes, 16);
    else
        memset(buf + OFF_ADDR, 0, 16);
    store64(buf + OFF_REQ_BYTES, ev->request_bytes);
    store64(buf + OFF_RESP_BYTES, ev->response_bytes);
    store64(buf + OFF_UPSTREAM, (uint64_t)(ev->upstream_us < -1 ? -1 : ev->upstream_us));
    store64(buf + OFF_HEADER_HASH, ev->header_hash);
    store64(buf + OFF_CREDENTIAL, ev->credential_id);
    store64(buf + OFF_TOKEN, ev->token_id);
    store64(buf + OFF_SESSION, ev->session_id);
    size_t at = HEADER_V1;
    for (int i = 0; i < S_COUNT; i++) {
        store16(buf + OFF_LENS + 2 * i, (uint16_t)len[i]);
        if (len[i]) memcpy(buf + at, str[i]->ptr, len[i]);
        at += len[i];
    }
    return at;
}

/* ----------------------------------------------------------------- decode */

static rp_status refuse(rp_decode_reason *why, rp_decode_reason reason) {
    if (why) *why = reason;
    return RP_EPARSE;
}

size_t rp_event_record_size(const uint8_t *buf, size_t len) {
    if (len < HEADER_V1 || memcmp(buf + OFF_MAGIC, magic, 4) != 0 ||
        buf[OFF_VERSION] != RP_PROTO_VERSION)
        return 0;
    size_t total = load16(buf + OFF_HLEN);
    if (total < HEADER_V1) return 0;
    for (int i = 0; i < S_COUNT; i++) total += load16(buf + OFF_LENS + 2 * i);
    return total <= len ? total : 0;
}

rp_status rp_event_decode(const uint8_t *buf, size_t len, rp_event *ev, rp_decode_reason *why) {
    /* The magic and version come first so that a datagram of another
     * version, shorter than ours, is reported as a version, not as short. */
    if (len < 4) return refuse(why, RP_DECODE_SHORT);
    if (memcmp(buf + OFF_MAGIC, magic, 4) != 0) return refuse(why, RP_DECODE_MAGIC);
    if (len < OFF_VERSION + 1) return refuse(why, RP_DECODE_SHORT);
    if (buf[OFF_VERSION] != RP_PROTO_VERSION) return refuse(why, RP_DECODE_VERSION);
    if (len < HEADER_V1) return refuse(why, RP_DECODE_SHORT);

    size_t header = load16(buf + OFF_HLEN);
    if (header < HEADER_V1 || header > len) return refuse(why, RP_DECODE_LENGTH);
    size_t total = header;
    uint32_t slen[S_COUNT];
    for (int i = 0; i < S_COUNT; i++) {
        slen[i] = load16(buf + OFF_LENS + 2 * i);
        if (slen[i] > string_bound[i]) return refuse(why, RP_DECODE_LENGTH);
        total += slen[i];
    }
    if (total != len) return refuse(why, RP_DECODE_LENGTH);

    uint8_t family = buf[OFF_FAMILY];
    uint8_t method = buf[OFF_METHOD];
    int64_t upstream = (int64_t)load64(buf + OFF_UPSTREAM);
    uint16_t status = load16(buf + OFF_STATUS);
    if (!address_valid(family, buf + OFF_ADDR) || method >= RP_METHOD_COUNT ||
        upstream < -1 || status > RP_PROTO_MAX_STATUS)
        return refuse(why, RP_DECODE_FIELD);

    memset(ev, 0, sizeof *ev);
    ev->ts_us = (int64_t)load64(buf + OFF_TS);
    ev->client.family = family;
    memcpy(ev->client.bytes, buf + OFF_ADDR, 16);
    ev->status = status;
    ev->method = method;
    ev->origin = buf[OFF_PFLAGS];
    ev->flags = load32(buf + OFF_EFLAGS) & KNOWN_EVENT_FLAGS;
    ev->request_bytes = load64(buf + OFF_REQ_BYTES);
    ev->response_bytes = load64(buf + OFF_RESP_BYTES);
    ev->upstream_us = upstream;
    ev->header_hash = load64(buf + OFF_HEADER_HASH);
    ev->credential_id = load64(buf + OFF_CREDENTIAL);
    ev->token_id = load64(buf + OFF_TOKEN);
    ev->session_id = load64(buf + OFF_SESSION);
    rp_str *str[S_COUNT] = {&ev->host, &ev->path, &ev->query, &ev->user_agent, &ev->referer};
    size_t at = header;
    for (int i = 0; i < S_COUNT; i++) {
        str[i]->ptr = (const char *)buf + at;
        str[i]->len = slen[i];
        at += slen[i];
    }
    if (why) *why = RP_DECODE_OK;
    return RP_OK;
}

void rp_event_record_set_origin(uint8_t *record, size_t len, uint8_t origin) {
    if (len > OFF_PFLAGS) record[OFF_PFLAGS] = origin;
}
