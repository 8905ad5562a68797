/*
 * partition.c -- the key scheme of a partitioned fleet (partition.h).
 *
 * Why two hashes and not one: the address levels must stay together
 * (an address, its /24 and a swarm within the /24 are judged in one
 * engine), so the event's stream is chosen by its network; an aggregate
 * that spans networks (a fingerprint, an account, a token, a session) is
 * kept whole by a partition of its own key, and the edge writes the
 * event a second time, to that partition's aggregate stream, when the
 * two differ (cluster_edge.c). FNV-1a over a handful of bytes: cheap on
 * the edge's forwarder, and stable across versions and byte orders (the
 * id is read out least significant byte first), which a fleet needs
 * while its nodes are upgraded one by one.
 */
#include "partition.h"

#include "keys.h"

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u

unsigned rp_partition_of_addr(const rp_addr *a, unsigned n) {
    if (n <= 1) return 0;
    const uint8_t *b = a->bytes;
    unsigned len = 6;
    if (a->family == 4) b += 12, len = 3; /* v4-mapped in bytes 12..15 */
    uint32_t h = FNV_OFFSET;
    h = (h ^ a->family) * FNV_PRIME;
    for (unsigned i = 0; i < len; i++) h = (h ^ b[i]) * FNV_PRIME;
    return h % n;
}

static uint16_t partition_of_id(rp_key_level level, uint64_t id, unsigned n) {
    if (!id) return RP_PARTITION_NONE;
    uint32_t h = FNV_OFFSET;
    h = (h ^ (uint8_t)level) * FNV_PRIME;
    for (unsigned i = 0; i < 8; i++) h = (h ^ (uint8_t)(id >> (8 * i))) * FNV_PRIME;
    return (uint16_t)(h % n);
}

/* The id every fingerprint key of the event derives from (engine.c,
 * event_key): 0 when the engine keys no fingerprint for it. */
static uint64_t fingerprint_root(const rp_event *ev) {
    if (ev->flags & RP_EVENT_HEADERS_KNOWN) return rp_event_fingerprint(ev);
    if (ev->method != RP_METHOD_POST && ev->method != RP_METHOD_PUT) return 0;
    return rp_user_agent_hash(ev->user_agent.ptr, ev->user_agent.len);
}

void rp_event_partitions(const rp_event *ev, unsigned n, uint16_t parts[RP_LEVEL_COUNT]) {
    if (n < 1) n = 1;
    uint16_t p = ev->client.family ? (uint16_t)rp_partition_of_addr(&ev->client, n)
                                   : RP_PARTITION_NONE;
    parts[RP_LEVEL_IP] = parts[RP_LEVEL_SUBNET] = p;
    parts[RP_LEVEL_FINGERPRINT] = partition_of_id(RP_LEVEL_FINGERPRINT, fingerprint_root(ev), n);
    parts[RP_LEVEL_TOKEN] = partition_of_id(RP_LEVEL_TOKEN, ev->token_id, n);
    parts[RP_LEVEL_SESSION] = partition_of_id(RP_LEVEL_SESSION, ev->session_id, n);
    parts[RP_LEVEL_USERNAME] = partition_of_id(RP_LEVEL_USERNAME, ev->credential_id, n);
}

unsigned rp_partition_copies(const uint16_t parts[RP_LEVEL_COUNT],
                             uint16_t copies[RP_PARTITION_COPIES_MAX]) {
    unsigned k = 0;
    for (unsigned l = RP_LEVEL_FINGERPRINT; l < RP_LEVEL_COUNT; l++) {
        uint16_t q = parts[l];
        bool seen = q == RP_PARTITION_NONE || q == parts[RP_LEVEL_IP];
        for (unsigned i = 0; i < k && !seen; i++) seen = copies[i] == q;
        if (!seen && k < RP_PARTITION_COPIES_MAX) copies[k++] = q;
    }
    return k;
}

uint8_t rp_partition_uncounted(const uint16_t parts[RP_LEVEL_COUNT], unsigned q,
                               bool aggregate_stream) {
    uint8_t skip = 0;
    for (unsigned l = 0; l < RP_LEVEL_COUNT; l++) {
        bool address = l == RP_LEVEL_IP || l == RP_LEVEL_SUBNET;
        /* the address levels from the address's stream only; an
         * aggregate key wherever it comes from, in its own partition (a
         * level without a key has nothing to skip) */
        bool counted = address ? !aggregate_stream
                               : parts[l] == q || parts[l] == RP_PARTITION_NONE;
        if (!counted) skip |= (uint8_t)(1u << l);
    }
    return skip;
}
