/* hosts.c -- host names, their one-byte ids, and the hosts each recent
 * client came through (see hosts.h). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "hosts.h"
#include "keys.h"

bool rp_host_name_valid(const char *name, size_t len) { return rp_node_name_valid(name, len); }

void rp_host_name_sanitize(const char *in, char *out) {
    size_t n = 0;
    for (; in && in[n] && n < RP_HOST_NAME_MAX; n++)
        out[n] = rp_node_name_char((unsigned char)in[n]) ? in[n] : '-';
    out[n] = 0;
    if (!n) memcpy(out, "localhost", sizeof "localhost");
}

/* ------------------------------------------------------------- interning */

struct rp_hosts {
    pthread_mutex_t lock; /* writers only */
    atomic_uint count;    /* ids 0..count-1 are given; released after the name */
    atomic_uint_fast64_t refused, overflow;
    char names[RP_HOSTS_MAX + 1][RP_HOST_NAME_MAX + 1];
};

rp_hosts *rp_hosts_new(const char *self) {
    rp_hosts *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    pthread_mutex_init(&h->lock, NULL);
    rp_host_name_sanitize(self, h->names[RP_HOST_SELF]);
    atomic_store(&h->count, 1);
    return h;
}

void rp_hosts_free(rp_hosts *h) {
    if (!h) return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

static int find(const rp_hosts *h, unsigned count, const char *name, size_t len) {
    for (unsigned i = 0; i < count; i++)
        if (strncmp(h->names[i], name, len) == 0 && h->names[i][len] == 0) return (int)i;
    return -1;
}

uint8_t rp_hosts_intern(rp_hosts *h, const char *name, size_t len) {
    if (!rp_host_name_valid(name, len)) {
        atomic_fetch_add(&h->refused, 1);
        return RP_HOST_UNKNOWN;
    }
    /* The common case, a name met before: no lock. A fleet has a few
     * dozen edges, so a linear scan of short names is cheaper than a
     * hash, once per stream entry (32 events). */
    int id = find(h, atomic_load_explicit(&h->count, memory_order_acquire), name, len);
    if (id >= 0) return (uint8_t)id;
    pthread_mutex_lock(&h->lock);
    unsigned count = atomic_load(&h->count);
    id = find(h, count, name, len);
    if (id < 0 && count <= RP_HOSTS_MAX) {
        memcpy(h->names[count], name, len);
        h->names[count][len] = 0;
        atomic_store_explicit(&h->count, count + 1, memory_order_release);
        id = (int)count;
    }
    pthread_mutex_unlock(&h->lock);
    if (id < 0) {
        atomic_fetch_add(&h->overflow, 1);
        return RP_HOST_UNKNOWN;
    }
    return (uint8_t)id;
}

const char *rp_hosts_name(const rp_hosts *h, uint8_t id) {
    if (!h || id == RP_HOST_UNKNOWN) return NULL;
    unsigned count = atomic_load_explicit(&((rp_hosts *)h)->count, memory_order_acquire);
    return id < count ? h->names[id] : NULL;
}

uint64_t rp_hosts_refused(const rp_hosts *h) { return atomic_load(&((rp_hosts *)h)->refused); }
uint64_t rp_hosts_overflow(const rp_hosts *h) { return atomic_load(&((rp_hosts *)h)->overflow); }
unsigned rp_hosts_count(const rp_hosts *h) { return atomic_load(&((rp_hosts *)h)->count); }

void rp_host_set_add(rp_host_set *s, uint8_t id) {
    for (unsigned i = 0; i < s->n; i++)
        if (s->ids[i] == id) return;
    if (s->n < sizeof s->ids) s->ids[s->n++] = id;
    else s->more = true;
}

/* ---------------------------------------------------------- recent origins */

/* 65,536 slots of 16 bytes: 1 MiB, whatever the traffic. */
#define ORIGIN_SLOTS (1u << 16)
#define MORE_FLAG 0x80

typedef struct origin_slot {
    uint64_t tag; /* the key's hash; 0 = empty */
    uint8_t n;    /* ids held, | MORE_FLAG once one did not fit */
    uint8_t ids[RP_ORIGINS_PER_KEY];
} origin_slot;

struct rp_origins {
    origin_slot slots[ORIGIN_SLOTS];
};

rp_origins *rp_origins_new(void) { return calloc(1, sizeof(rp_origins)); }
void rp_origins_free(rp_origins *o) { free(o); }

/* A slot's tag: a cheap mix of the key's level and 16 bytes (two
 * multiplies, the finalizer of splitmix64), not rp_key_hash: this runs
 * three times per event on the engine thread. Never 0 (empty). */
static uint64_t key_tag(const rp_key *key) {
    uint64_t a, b;
    memcpy(&a, key->bytes, 8);
    memcpy(&b, key->bytes + 8, 8);
    uint64_t h = a ^ (b * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)key->level << 56);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return h | 1;
}

static size_t slot_index(uint64_t tag) { return (tag >> 17) & (ORIGIN_SLOTS - 1); }

static void note_key(rp_origins *o, const rp_key *key, uint8_t id) {
    uint64_t tag = key_tag(key);
    origin_slot *s = &o->slots[slot_index(tag)];
    if (s->tag != tag) { /* empty, or another key's: this one's now */
        s->tag = tag;
        s->n = 0;
    }
    unsigned n = s->n & ~MORE_FLAG;
    for (unsigned i = 0; i < n; i++)
        if (s->ids[i] == id) return;
    if (n < RP_ORIGINS_PER_KEY) s->ids[n++] = id, s->n = (uint8_t)(n | (s->n & MORE_FLAG));
    else s->n |= MORE_FLAG;
}

static const rp_key_level noted_levels[] = {RP_LEVEL_IP, RP_LEVEL_SUBNET, RP_LEVEL_USERNAME};
#define N_NOTED (sizeof noted_levels / sizeof noted_levels[0])

void rp_origins_note(rp_origins *o, const rp_event *ev) {
    for (size_t i = 0; i < N_NOTED; i++) {
        rp_key key;
        if (rp_event_key(ev, noted_levels[i], &key)) note_key(o, &key, ev->origin);
    }
}

/* The table is 1 MiB and a detector's engine fills the caches with its
 * clients: perf put the notes at 5 % of a detector's CPU, nearly all of
 * it waiting for memory. Loaded ahead, as the engine's clients are
 * (rp_engine_prefetch). */
void rp_origins_prefetch(const rp_origins *o, const rp_event *ev) {
    for (size_t i = 0; i < N_NOTED; i++) {
        rp_key key;
        if (rp_event_key(ev, noted_levels[i], &key))
            __builtin_prefetch(&o->slots[slot_index(key_tag(&key))]);
    }
}

void rp_origins_get(const rp_origins *o, const rp_key *key, rp_host_set *s) {
    uint64_t tag = key_tag(key);
    const origin_slot *slot = &o->slots[slot_index(tag)];
    if (slot->tag != tag) return;
    unsigned n = slot->n & ~MORE_FLAG;
    for (unsigned i = 0; i < n; i++) rp_host_set_add(s, slot->ids[i]);
    if (slot->n & MORE_FLAG) s->more = true;
}
