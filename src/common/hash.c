/*
 * hash.c -- the project's one hash function, alone in its file so that
 * the nginx module can compile it with the decision-table reader and the
 * event codec, without the rest of the engine.
 */
#include <string.h>

#include "rampart.h"

/*
 * rp_hash64 -- a small, fast, well-mixing 64-bit hash (a multiply-xorshift
 * construction in the spirit of wyhash/murmur finalisers). Written here
 * because it is part of stored state and of the wire protocol: it must
 * never change with a library upgrade. Not for adversarial hash tables on
 * its own -- tables seed it per process.
 */
static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
}

static inline uint64_t read64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t rp_hash64(const void *data, size_t len, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (len + 1));
    while (len >= 8) {
        h = mix64(h ^ read64(p)) + 0x9e3779b97f4a7c15ULL;
        p += 8;
        len -= 8;
    }
    uint64_t tail = 0;
    for (size_t i = 0; i < len; i++) tail |= (uint64_t)p[i] << (8 * i);
    h = mix64(h ^ tail ^ ((uint64_t)len << 56));
    return h ? h : 1; /* 0 means "none" everywhere */
}

uint64_t rp_scope_hash(const char *path, size_t len) { return rp_hash64(path, len, 0x5c0); }

int rp_path_scopes(const char *path, size_t len, uint64_t scopes[2]) {
    if (!len || path[0] != '/') return 0;
    while (len > 1 && path[len - 1] == '/') len--; /* "/api/login/" is /api/login */
    int k = 0;
    scopes[k++] = rp_scope_hash(path, len);
    size_t last = len;
    while (last > 0 && path[last - 1] != '/') last--;
    if (last > 1 && last < len) scopes[k++] = rp_scope_hash(path, last); /* "/api/products/" */
    return k;
}
