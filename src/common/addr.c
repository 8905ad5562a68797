/*
 * addr.c -- client addresses and keys.
 *
 * IPv4 is kept as IPv4-mapped IPv6 so that tables, masks and comparisons
 * have one shape. Parsing is done by hand for IPv4 (it is on the analyze
 * hot path, and inet_pton's locale-free strictness is the same) and by
 * inet_pton for IPv6.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "rampart.h"

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static int parse_v4(const char *s, size_t len, uint8_t out[4]) {
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (i >= len || s[i] < '0' || s[i] > '9') return -1;
        unsigned v = 0, digits = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            v = v * 10 + (unsigned)(s[i] - '0');
            if (++digits > 3 || v > 255) return -1;
            i++;
        }
        if (digits > 1 && s[i - digits] == '0') return -1; /* no octal-looking parts */
        out[part] = (uint8_t)v;
        if (part < 3) {
            if (i >= len || s[i] != '.') return -1;
            i++;
        }
    }
    return i == len ? 0 : -1;
}

rp_status rp_addr_parse(const char *text, size_t len, rp_addr *out) {
    memset(out, 0, sizeof *out);
    if (!text || len == 0 || len >= RP_ADDR_STRLEN) return RP_EPARSE;
    uint8_t v4[4];
    if (parse_v4(text, len, v4) == 0) {
        memcpy(out->bytes, v4_prefix, 12);
        memcpy(out->bytes + 12, v4, 4);
        out->family = 4;
        return RP_OK;
    }
    char buf[RP_ADDR_STRLEN];
    size_t n = len;
    if (n >= 2 && text[0] == '[' && text[n - 1] == ']') { /* [v6] */
        text++;
        n -= 2;
    }
    memcpy(buf, text, n);
    buf[n] = 0;
    if (!memchr(buf, ':', n) || inet_pton(AF_INET6, buf, out->bytes) != 1) {
        memset(out, 0, sizeof *out);
        return RP_EPARSE;
    }
    out->family = memcmp(out->bytes, v4_prefix, 12) == 0 ? 4 : 6;
    return RP_OK;
}

size_t rp_addr_format(const rp_addr *addr, char *buf, size_t size) {
    if (!size) return 0;
    buf[0] = 0;
    if (addr->family == 4) {
        int n = snprintf(buf, size, "%u.%u.%u.%u", addr->bytes[12], addr->bytes[13],
                         addr->bytes[14], addr->bytes[15]);
        return n < 0 ? 0 : ((size_t)n < size ? (size_t)n : size - 1);
    }
    if (addr->family == 6) {
        char tmp[INET6_ADDRSTRLEN];
        if (!inet_ntop(AF_INET6, addr->bytes, tmp, sizeof tmp)) return 0;
        int n = snprintf(buf, size, "%s", tmp);
        return n < 0 ? 0 : ((size_t)n < size ? (size_t)n : size - 1);
    }
    int n = snprintf(buf, size, "-");
    return n < 0 ? 0 : (size_t)n;
}

void rp_addr_subnet(const rp_addr *addr, rp_addr *out) {
    *out = *addr;
    if (addr->family == 4)
        out->bytes[15] = 0; /* /24 */
    else
        memset(out->bytes + 8, 0, 8); /* /64 */
}

bool rp_addr_equal(const rp_addr *a, const rp_addr *b) {
    return a->family == b->family && memcmp(a->bytes, b->bytes, 16) == 0;
}

void rp_key_from_addr(rp_key *key, rp_key_level level, const rp_addr *addr) {
    memset(key, 0, sizeof *key);
    key->level = (uint8_t)level;
    if (level == RP_LEVEL_SUBNET) {
        rp_addr net;
        rp_addr_subnet(addr, &net);
        memcpy(key->bytes, net.bytes, 16);
    } else {
        memcpy(key->bytes, addr->bytes, 16);
    }
    key->reserved[0] = addr->family;
}

void rp_key_from_id(rp_key *key, rp_key_level level, uint64_t id) {
    memset(key, 0, sizeof *key);
    key->level = (uint8_t)level;
    memcpy(key->bytes, &id, 8);
}

bool rp_key_equal(const rp_key *a, const rp_key *b) { return memcmp(a, b, sizeof *a) == 0; }

uint64_t rp_key_hash(const rp_key *key) { return rp_hash64(key, sizeof *key, 0x5eed); }

size_t rp_key_format(const rp_key *key, char *buf, size_t size) {
    if (!size) return 0;
    const char *lvl = rp_level_name((rp_key_level)key->level);
    int n;
    if (key->level == RP_LEVEL_IP || key->level == RP_LEVEL_SUBNET) {
        rp_addr a;
        memcpy(a.bytes, key->bytes, 16);
        a.family = key->reserved[0] ? key->reserved[0]
                                    : (memcmp(key->bytes, v4_prefix, 12) == 0 ? 4 : 6);
        char ip[RP_ADDR_STRLEN];
        rp_addr_format(&a, ip, sizeof ip);
        if (key->level == RP_LEVEL_SUBNET)
            n = snprintf(buf, size, "%s:%s/%d", lvl, ip, a.family == 4 ? 24 : 64);
        else
            n = snprintf(buf, size, "%s:%s", lvl, ip);
    } else {
        uint64_t id, scope;
        memcpy(&id, key->bytes, 8);
        memcpy(&scope, key->bytes + 8, 8);
        if (scope) /* a fingerprint on a route */
            n = snprintf(buf, size, "%s:%016llx@%016llx", lvl, (unsigned long long)id,
                         (unsigned long long)scope);
        else
            n = snprintf(buf, size, "%s:%016llx", lvl, (unsigned long long)id);
    }
    if (n < 0) return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}

static bool parse_hex64(const char *val, size_t vlen, uint64_t *out) {
    if (vlen == 0 || vlen > 16) return false;
    uint64_t id = 0;
    for (size_t i = 0; i < vlen; i++) {
        char c = val[i];
        unsigned d;
        if (c >= '0' && c <= '9') d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (unsigned)(c - 'A' + 10);
        else return false;
        id = id << 4 | d;
    }
    *out = id;
    return true;
}

/* The only prefix a key of this level can hold: /32 or /128 for an
 * address, /24 or /64 for a subnet (rp_key_from_addr masks to it). */
static bool prefix_fits(const char *digits, size_t n, rp_key_level level, int family) {
    if (n == 0 || n > 3) return false;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        if (digits[i] < '0' || digits[i] > '9') return false;
        bits = bits * 10 + (digits[i] - '0');
    }
    if (level == RP_LEVEL_IP) return bits == (family == 4 ? 32 : 128);
    return bits == (family == 4 ? 24 : 64);
}

rp_status rp_key_parse(const char *text, size_t len, rp_key *out) {
    rp_addr a;
    if (rp_addr_parse(text, len, &a) == RP_OK) { /* a bare address is an IP key */
        rp_key_from_addr(out, RP_LEVEL_IP, &a);
        return RP_OK;
    }
    const char *colon = memchr(text, ':', len);
    if (!colon) return RP_EPARSE;
    size_t llen = (size_t)(colon - text);
    const char *val = colon + 1;
    size_t vlen = len - llen - 1;
    for (int l = 0; l < RP_LEVEL_COUNT; l++) {
        const char *name = rp_level_name((rp_key_level)l);
        if (strlen(name) != llen || memcmp(name, text, llen) != 0) continue;
        if (l == RP_LEVEL_IP || l == RP_LEVEL_SUBNET) {
            const char *slash = memchr(val, '/', vlen);
            size_t alen = slash ? (size_t)(slash - val) : vlen;
            if (rp_addr_parse(val, alen, &a) != RP_OK) return RP_EPARSE;
            /* A key covers one address or one /24 (/64): any other prefix
             * would be silently taken as that one, and a DELETE of
             * "subnet:10.0.0.0/8" would lift the /24. */
            if (slash && !prefix_fits(slash + 1, vlen - alen - 1, (rp_key_level)l, a.family))
                return RP_EPARSE;
            rp_key_from_addr(out, (rp_key_level)l, &a);
            return RP_OK;
        }
        const char *at = memchr(val, '@', vlen);
        size_t ilen = at ? (size_t)(at - val) : vlen;
        uint64_t id, scope = 0;
        if (!parse_hex64(val, ilen, &id)) return RP_EPARSE;
        if (at && (l != RP_LEVEL_FINGERPRINT || !parse_hex64(at + 1, vlen - ilen - 1, &scope) ||
                   scope == 0))
            return RP_EPARSE;
        rp_key_from_id(out, (rp_key_level)l, id);
        memcpy(out->bytes + 8, &scope, 8);
        return RP_OK;
    }
    return RP_EPARSE;
}
