/* table.c -- the bounded client table (see table.h). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

struct rp_table {
    uint32_t capacity;   /* slots */
    uint32_t used;       /* slots holding a key */
    uint32_t index_mask; /* index size - 1 */
    uint32_t hand;       /* CLOCK hand over slots */
    size_t slot_size;
    uint64_t evictions;
    unsigned char *slots;
    uint32_t *index; /* slot number + 1; 0 = empty */
};

static inline uint32_t index_hash(const rp_key *key) { return (uint32_t)rp_key_hash(key); }

static inline uint32_t client_hash(const rp_client *c) {
    rp_key k;
    rp_client_key(c, &k);
    return index_hash(&k);
}

static inline rp_client *slot_at(const rp_table *t, uint32_t i) {
    return (rp_client *)(t->slots + (size_t)i * t->slot_size);
}

rp_status rp_table_new(uint32_t capacity, size_t slot_size, rp_table **out) {
    *out = NULL;
    if (capacity == 0 || capacity > (1u << 30) || slot_size < sizeof(rp_client)) return RP_EINVAL;
    rp_table *t = calloc(1, sizeof *t);
    if (!t) return RP_ENOMEM;
    uint32_t isize = 1;
    while (isize < capacity * 2u) isize <<= 1;
    t->capacity = capacity;
    t->index_mask = isize - 1;
    t->slot_size = (slot_size + 7u) & ~(size_t)7u;
    /* calloc: pages stay untouched (and unbilled) until a client lands. */
    t->slots = calloc(capacity, t->slot_size);
    t->index = calloc(isize, sizeof *t->index);
    if (!t->slots || !t->index) {
        rp_table_free(t);
        return RP_ENOMEM;
    }
    *out = t;
    return RP_OK;
}

void rp_table_free(rp_table *t) {
    if (!t) return;
    free(t->slots);
    free(t->index);
    free(t);
}

rp_client *rp_table_find(const rp_table *t, const rp_key *key, uint64_t hash) {
    (void)hash;
    uint32_t pos = index_hash(key) & t->index_mask;
    for (;;) {
        uint32_t e = t->index[pos];
        if (e == 0) return NULL;
        rp_client *c = slot_at(t, e - 1);
        if (rp_client_has_key(c, key)) return c;
        pos = (pos + 1) & t->index_mask;
    }
}

void rp_table_prefetch_index(const rp_table *t, uint64_t hash) {
    __builtin_prefetch(&t->index[(uint32_t)hash & t->index_mask]);
}

void rp_table_prefetch_slot(const rp_table *t, uint64_t hash) {
    /* The home entry only: tables are at most half full, so a key is
     * nearly always there. */
    uint32_t e = t->index[(uint32_t)hash & t->index_mask];
    if (e == 0) return;
    const unsigned char *slot = (const unsigned char *)slot_at(t, e - 1);
    for (size_t off = 0; off < t->slot_size; off += 64) __builtin_prefetch(slot + off);
    __builtin_prefetch(slot + t->slot_size - 1); /* slots need not start on a cache line */
}

/* Remove the index entry at pos, shifting later entries of the cluster
 * back so that no probe sequence crosses a hole. */
static void index_delete(rp_table *t, uint32_t pos) {
    uint32_t hole = pos;
    uint32_t next = (pos + 1) & t->index_mask;
    for (;;) {
        uint32_t e = t->index[next];
        if (e == 0) break;
        uint32_t home = client_hash(slot_at(t, e - 1)) & t->index_mask;
        /* Move e into the hole if its home is not in (hole, next]. */
        bool between = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
        if (!between) {
            t->index[hole] = e;
            hole = next;
        }
        next = (next + 1) & t->index_mask;
    }
    t->index[hole] = 0;
}

static void index_remove_slot(rp_table *t, uint32_t slot) {
    rp_client *c = slot_at(t, slot);
    uint32_t pos = client_hash(c) & t->index_mask;
    while (t->index[pos] != slot + 1) {
        assert(t->index[pos] != 0);
        pos = (pos + 1) & t->index_mask;
    }
    index_delete(t, pos);
}

static uint32_t clock_victim(rp_table *t) {
    /* Terminates: one full turn clears every reference bit. */
    for (;;) {
        uint32_t i = t->hand;
        t->hand = (t->hand + 1) % t->capacity;
        rp_client *c = slot_at(t, i);
        if (c->ref == 0) return i;
        c->ref = 0;
    }
}

rp_client *rp_table_upsert(rp_table *t, const rp_key *key, uint64_t hash, bool *created) {
    (void)hash;
    uint32_t h = index_hash(key);
    uint32_t pos = h & t->index_mask;
    for (;;) {
        uint32_t e = t->index[pos];
        if (e == 0) break;
        rp_client *c = slot_at(t, e - 1);
        if (rp_client_has_key(c, key)) {
            c->ref = 1;
            *created = false;
            return c;
        }
        pos = (pos + 1) & t->index_mask;
    }
    uint32_t slot;
    if (t->used < t->capacity) {
        slot = t->used++;
    } else {
        slot = clock_victim(t);
        index_remove_slot(t, slot);
        t->evictions++;
        /* The delete may have shifted entries: find the insert point again. */
        pos = h & t->index_mask;
        while (t->index[pos] != 0) pos = (pos + 1) & t->index_mask;
    }
    rp_client *c = slot_at(t, slot);
    memset(c, 0, t->slot_size);
    memcpy(c->key_bytes, key->bytes, 16);
    c->level = key->level;
    c->family = key->reserved[0];
    /* New keys start unreferenced: a one-request key (the usual member of
     * a random-IP spray) is the first to go, and a key earns its second
     * chance by coming back. */
    c->ref = 0;
    t->index[pos] = slot + 1;
    *created = true;
    return c;
}

uint32_t rp_table_used(const rp_table *t) { return t->used; }
uint32_t rp_table_capacity(const rp_table *t) { return t->capacity; }
uint64_t rp_table_evictions(const rp_table *t) { return t->evictions; }
size_t rp_table_slot_size(const rp_table *t) { return t->slot_size; }

size_t rp_table_bytes_per_client(const rp_table *t) {
    return t->slot_size + ((size_t)t->index_mask + 1) * sizeof(uint32_t) / t->capacity;
}

void rp_table_each(rp_table *t, void (*fn)(void *user, rp_client *c), void *user) {
    for (uint32_t i = 0; i < t->used; i++) fn(user, slot_at(t, i));
}
