/*
 * table.h -- the bounded client table: one per key level.
 *
 * A fixed array of equal-sized slots (the client header followed by the
 * state of every detector that watches this level) and an open-addressing
 * index of slot numbers. Capacity is set once from the config and never
 * grows: when every slot is taken, CLOCK picks a victim -- a slot not
 * touched since the hand last passed -- so a spray of millions of random
 * IPs costs the same memory as a quiet day, and clients that keep coming
 * back keep their state.
 *
 * Invariants (asserted in debug builds):
 *   - the index holds exactly `used` non-zero entries, each naming a slot
 *     whose key hashes to a probe sequence that reaches the entry without
 *     crossing an empty entry (linear probing with backward-shift delete);
 *   - index size is a power of two >= 2 * capacity, so probes are short.
 *
 * New keys enter with the reference bit clear, so under a spray of
 * one-shot keys the spray evicts itself and returning clients stay.
 */
#ifndef RP_TABLE_H
#define RP_TABLE_H

#include <string.h>

#include "rampart.h"

/* The engine's part of every client slot. 48 bytes; the detectors' state
 * follows it. The key is kept unpacked (16 bytes, level, family) rather
 * than as a 24-byte rp_key: eight bytes per client are eight bytes of
 * detector state. */
typedef struct rp_client {
    int64_t last_seen_us;     /* 8 */
    uint8_t key_bytes[16];    /* rp_key.bytes */
    uint32_t first_seen_s;    /* unix seconds of the first event */
    uint32_t decided_until_s; /* the current decision's expiry (seconds) */
    uint32_t incident_id;     /* the key's latest incident; 0 = none */
    uint32_t requests;        /* saturating */
    uint8_t level;            /* rp_key.level */
    uint8_t family;           /* rp_key.reserved[0]: the address family */
    uint8_t action;           /* rp_action in force until decided_until_s */
    uint8_t offense;          /* decisions so far (throttle or block) */
    uint8_t ref;              /* CLOCK reference bit */
} rp_client;

_Static_assert(sizeof(rp_client) == 48, "client header is 48 bytes");

static inline void rp_client_key(const rp_client *c, rp_key *key) {
    rp_key k = {.level = c->level};
    k.reserved[0] = c->family;
    memcpy(k.bytes, c->key_bytes, 16);
    *key = k;
}

/* Every probe of the table runs this: memcmp of a constant 16 bytes is two
 * 8-byte compares, a byte loop with an early exit is sixteen. */
static inline bool rp_client_has_key(const rp_client *c, const rp_key *key) {
    return memcmp(c->key_bytes, key->bytes, 16) == 0 && c->level == key->level &&
           c->family == key->reserved[0];
}

typedef struct rp_table rp_table;

rp_status rp_table_new(uint32_t capacity, size_t slot_size, rp_table **out);
void rp_table_free(rp_table *t);
/* Find key; when absent, take a free slot or evict one, zero it and set
 * its key (*created = true). Never fails once the table exists. */
rp_client *rp_table_upsert(rp_table *t, const rp_key *key, uint64_t hash, bool *created);
rp_client *rp_table_find(const rp_table *t, const rp_key *key, uint64_t hash);
/* Loading ahead, for a caller that knows its next keys (a detector's
 * batch): the index entry of the key's home position, then -- once that
 * has arrived -- the slot it names, whole (the header and every
 * detector's state). Hints only: nothing is read that is not valid, a
 * stale entry costs a useless load, and a key not in the table loads
 * nothing. hash is rp_key_hash(key). */
void rp_table_prefetch_index(const rp_table *t, uint64_t hash);
void rp_table_prefetch_slot(const rp_table *t, uint64_t hash);
uint32_t rp_table_used(const rp_table *t);
uint32_t rp_table_capacity(const rp_table *t);
uint64_t rp_table_evictions(const rp_table *t);
size_t rp_table_slot_size(const rp_table *t);
size_t rp_table_bytes_per_client(const rp_table *t);
/* Visit every used slot. */
void rp_table_each(rp_table *t, void (*fn)(void *user, rp_client *c), void *user);

#endif
