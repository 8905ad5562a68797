/*
 * cluster_witness.c -- the witness across partitions (docs/cluster.md,
 * "The witness across partitions"): what an aggregate key may charge a
 * member with, carried from the engine that counts the key to the
 * engines that judge its members.
 *
 * Under cluster.partitions a fingerprint or an account is counted by the
 * engine of its own partition (partition.h), while a member address is
 * judged by its /24's engine, which no longer sees the aggregate. So the
 * aggregate's engine reports its witness scores (the engine's on_witness,
 * on its thread), this file publishes those that matter to the hash
 * <stream>:witness, and every detector reads the hash back into a
 * snapshot that its engine looks up (the engine's witness, on its
 * thread) for the levels an event leaves to another partition. A member
 * is still charged only when its own requests take part: the engine asks
 * the detector's involved() of the member's own state, as in one engine.
 *
 * Bounded on every side:
 *   - published: only a charge at or over RP_WITNESS_FLOOR (a new key), then
 *     only a change of WITNESS_STEP either way (a swarm's score that falls
 *     -- its run broken by people logging in -- is published as promptly
 *     as one that rises) or a refresh every WITNESS_REFRESH_MS; at most
 *     WITNESS_PENDING a period, the rest counted as dropped;
 *   - expiring: each value carries its expiry (wall clock, WITNESS_TTL_MS
 *     after it was written); every reader drops and deletes expired
 *     fields (the detectors' clocks are assumed within seconds of each
 *     other, as NTP keeps them);
 *   - read: HGETALL every WITNESS_PERIOD_MS into at most WITNESS_KEYS keys
 *     (the live witnesses are a few per attack under way).
 * So a member is charged with a published witness at most one period
 * plus one publish after the aggregate crossed the floor: an attacking
 * address or two later than one engine would.
 *
 * Threads: the engine thread owns the outbox (what it published last per
 * key and detector: no lock on the path every aggregate's event takes)
 * and the snapshot it reads; it hands what to publish to this file's
 * thread through a short locked list, and takes a new snapshot through
 * one atomic pointer. The thread does every Redis call.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_int.h"

#define WITNESS_STEP 0.05          /* a change this large is published at once */
#define WITNESS_TTL_MS 300000      /* a value not refreshed for 5 min is gone */
#define WITNESS_REFRESH_MS 60000   /* a charge still scored is written again */
#define WITNESS_PERIOD_MS 250      /* publish and read back */
#define WITNESS_PENDING 256        /* published per period at most */
#define WITNESS_OUTBOX 4096        /* keys and detectors remembered (power of 2) */
#define WITNESS_KEYS 1024          /* snapshot slots (power of 2): half of it used */
#define WITNESS_PER_KEY 4          /* detectors per key in the snapshot */
#define WITNESS_NAME RP_WITNESS_NAME

/* What the engine thread last published for a key and a detector. */
typedef struct outbox_entry {
    rp_key key;
    const char *detector; /* the engine's own name string: compared by address */
    double published;
    int64_t published_ms;
    bool used;
} outbox_entry;

typedef struct pending_item {
    rp_key key;
    char detector[WITNESS_NAME];
    double charge;
} pending_item;

typedef struct snapshot_entry {
    rp_key key;
    uint8_t n;
    struct {
        char detector[WITNESS_NAME];
        double charge;
    } w[WITNESS_PER_KEY];
} snapshot_entry;

typedef struct snapshot {
    size_t keys;
    snapshot_entry slot[WITNESS_KEYS];
} snapshot;

struct rp_witness_book {
    pthread_t thread;
    bool started;
    char hash[200]; /* <stream>:witness */
    /* engine thread only */
    outbox_entry *outbox;
    size_t outbox_used;
    size_t outbox_live; /* entries whose published charge is at or over the floor */
    snapshot *current;
    /* engine thread -> witness thread */
    pthread_mutex_t lock;
    pending_item pending[WITNESS_PENDING];
    size_t n_pending;
    /* witness thread only: an HSET's fields and values */
    char fields[WITNESS_PENDING][128], values[WITNESS_PENDING][48];
    /* witness thread -> engine thread */
    _Atomic(snapshot *) next;
    atomic_uint_fast64_t published, dropped, expired, known, refused;
};

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The outbox's slot: the key and the detector's name string, which is
 * the engine's own (one address per detector); the snapshot's: the key. */
static size_t slot_of(const rp_key *key, const char *detector, size_t mask) {
    uint64_t h = rp_key_hash(key) ^ ((uint64_t)(uintptr_t)detector * 0x9e3779b97f4a7c15u);
    return (size_t)(h ^ h >> 29) & mask;
}

/* ------------------------------------------------------ engine thread */

void rp_cluster_witness_note(rp_cluster *c, const rp_key *key, const char *detector,
                             double charge) {
    rp_witness_book *b = c ? c->witness : NULL;
    if (!b) return;
    /* most events: nothing over the floor, nothing published to take back */
    if (charge < RP_WITNESS_FLOOR && !b->outbox_live) return;
    size_t mask = WITNESS_OUTBOX - 1, i = slot_of(key, detector, mask);
    while (b->outbox[i].used &&
           !(b->outbox[i].detector == detector && rp_key_equal(&b->outbox[i].key, key)))
        i = (i + 1) & mask;
    outbox_entry *e = &b->outbox[i];
    int64_t now = mono_ms();
    if (!e->used) {
        if (charge < RP_WITNESS_FLOOR) return; /* nothing published, nothing to take back */
        if (b->outbox_used >= WITNESS_OUTBOX * 3 / 4) {
            /* Forget what was published (its values expire in Redis):
             * at worst each live witness is written once more. */
            memset(b->outbox, 0, WITNESS_OUTBOX * sizeof *b->outbox);
            b->outbox_used = b->outbox_live = 0;
            i = slot_of(key, detector, mask);
            e = &b->outbox[i];
        }
        *e = (outbox_entry){.key = *key, .detector = detector, .used = true};
        b->outbox_used++;
    } else {
        double change = charge - e->published;
        bool refresh =
            charge >= RP_WITNESS_FLOOR && now - e->published_ms >= WITNESS_REFRESH_MS;
        if (change < WITNESS_STEP && change > -WITNESS_STEP && !refresh) return;
        /* still nothing: under the floor before and now */
        if (e->published < RP_WITNESS_FLOOR && charge < RP_WITNESS_FLOOR) return;
    }
    pthread_mutex_lock(&b->lock);
    bool room = b->n_pending < WITNESS_PENDING;
    if (room) {
        pending_item *p = &b->pending[b->n_pending++];
        p->key = *key;
        snprintf(p->detector, sizeof p->detector, "%s", detector);
        p->charge = charge;
    }
    pthread_mutex_unlock(&b->lock);
    if (!room) {
        atomic_fetch_add(&b->dropped, 1); /* noted again at the aggregate's next event */
        return;
    }
    if (charge >= RP_WITNESS_FLOOR && e->published < RP_WITNESS_FLOOR) b->outbox_live++;
    else if (charge < RP_WITNESS_FLOOR && e->published >= RP_WITNESS_FLOOR) b->outbox_live--;
    e->published = charge;
    e->published_ms = now;
}

unsigned rp_cluster_witness_lookup(rp_cluster *c, const rp_key *key, rp_witness *out,
                                   unsigned max) {
    rp_witness_book *b = c ? c->witness : NULL;
    if (!b) return 0;
    /* a new snapshot 4 times a second: looked at before it is taken */
    snapshot *fresh = atomic_load_explicit(&b->next, memory_order_relaxed)
                          ? atomic_exchange(&b->next, NULL)
                          : NULL;
    if (fresh) { /* the names handed out before are no longer in use */
        free(b->current);
        b->current = fresh;
    }
    const snapshot *s = b->current;
    if (!s || !s->keys) return 0;
    size_t mask = WITNESS_KEYS - 1, i = slot_of(key, NULL, mask);
    while (s->slot[i].n && !rp_key_equal(&s->slot[i].key, key)) i = (i + 1) & mask;
    const snapshot_entry *e = &s->slot[i];
    unsigned n = 0;
    for (unsigned k = 0; k < e->n && n < max; k++)
        out[n++] = (rp_witness){.detector = e->w[k].detector, .charge = e->w[k].charge};
    return n;
}

/* ------------------------------------------------------ witness thread */

/* One field of the hash into the snapshot; false when it does not parse
 * (a hostile or foreign value: skipped, counted). *expired: its expiry
 * is past (the caller deletes it). */
static bool snapshot_add(snapshot *s, const redisReply *field, const redisReply *value,
                         int64_t now_wall_ms, bool *expired) {
    *expired = false;
    rp_witness_field w;
    if (field->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING ||
        !rp_witness_parse(field->str, field->len, value->str, value->len, &w))
        return false;
    if (w.expires_ms <= now_wall_ms) {
        *expired = true;
        return true;
    }
    if (w.charge < RP_WITNESS_FLOOR) return true; /* taken back: charges nobody */
    size_t mask = WITNESS_KEYS - 1, i = slot_of(&w.key, NULL, mask);
    while (s->slot[i].n && !rp_key_equal(&s->slot[i].key, &w.key)) i = (i + 1) & mask;
    snapshot_entry *e = &s->slot[i];
    if (!e->n) {
        if (s->keys >= WITNESS_KEYS / 2) return true; /* full: the rest waits */
        e->key = w.key;
        s->keys++;
    }
    if (e->n >= WITNESS_PER_KEY) return true;
    memcpy(e->w[e->n].detector, w.detector, sizeof w.detector);
    e->w[e->n].charge = w.charge;
    e->n++;
    return true;
}

/* The period's writes (one HSET), then the hash read back (HGETALL),
 * pipelined, and its expired fields deleted (one HDEL, when there are):
 * the hash holds the live witnesses and those of the last period. Only
 * hash commands: a least-privilege ACL user's +@hash covers them.
 * RP_EIO when the connection failed. */
static rp_status witness_round(rp_cluster *c, redisContext *ctx) {
    rp_witness_book *b = c->witness;
    pending_item items[WITNESS_PENDING];
    pthread_mutex_lock(&b->lock);
    size_t n = b->n_pending;
    memcpy(items, b->pending, n * sizeof *items);
    b->n_pending = 0;
    pthread_mutex_unlock(&b->lock);
    int64_t now_wall_ms = rp_wall_us() / 1000;
    int sent = 0;
    if (n) {
        const char *argv[2 + 2 * WITNESS_PENDING];
        size_t argvlen[2 + 2 * WITNESS_PENDING];
        int argc = 0;
        argv[argc] = "HSET", argvlen[argc++] = 4;
        argv[argc] = b->hash, argvlen[argc++] = strlen(b->hash);
        for (size_t i = 0; i < n; i++) {
            rp_witness_field w = {.key = items[i].key,
                                  .charge = items[i].charge,
                                  .expires_ms = now_wall_ms + WITNESS_TTL_MS};
            snprintf(w.detector, sizeof w.detector, "%s", items[i].detector);
            rp_witness_format(&w, b->fields[i], sizeof b->fields[i], b->values[i],
                              sizeof b->values[i]);
            argv[argc] = b->fields[i], argvlen[argc++] = strlen(b->fields[i]);
            argv[argc] = b->values[i], argvlen[argc++] = strlen(b->values[i]);
        }
        redisAppendCommandArgv(ctx, argc, argv, argvlen);
        sent = 1;
    }
    redisAppendCommand(ctx, "HGETALL %s", b->hash);
    redisReply *all = NULL;
    for (int i = 0; i <= sent; i++) {
        void *v = NULL;
        if (redisGetReply(ctx, &v) != REDIS_OK || !v) {
            if (all) freeReplyObject(all);
            return RP_EIO;
        }
        redisReply *r = v;
        if (i == 0 && sent) {
            if (r->type == REDIS_REPLY_ERROR) atomic_fetch_add(&b->refused, n);
            else atomic_fetch_add(&b->published, n);
        }
        if (i < sent) freeReplyObject(r);
        else all = r;
    }
    snapshot *s = calloc(1, sizeof *s);
    if (!s || all->type != REDIS_REPLY_ARRAY) {
        free(s);
        freeReplyObject(all);
        return RP_OK;
    }
    const char *del[2 + WITNESS_PENDING];
    size_t dellen[2 + WITNESS_PENDING];
    int ndel = 0;
    del[ndel] = "HDEL", dellen[ndel++] = 4;
    del[ndel] = b->hash, dellen[ndel++] = strlen(b->hash);
    for (size_t i = 0; i + 1 < all->elements; i += 2) {
        bool expired;
        if (!snapshot_add(s, all->element[i], all->element[i + 1], now_wall_ms, &expired))
            atomic_fetch_add(&b->refused, 1);
        if (expired && ndel < 2 + WITNESS_PENDING)
            del[ndel] = all->element[i]->str, dellen[ndel++] = all->element[i]->len;
    }
    atomic_store(&b->known, s->keys);
    snapshot *old = atomic_exchange(&b->next, s);
    free(old); /* never taken by the engine thread */
    rp_status st = RP_OK;
    if (ndel > 2) {
        redisReply *r = redisCommandArgv(ctx, ndel, del, dellen);
        if (!r) st = RP_EIO;
        else atomic_fetch_add(&b->expired, (uint64_t)(ndel - 2));
        if (r) freeReplyObject(r);
    }
    freeReplyObject(all);
    return st;
}

static void *witness_main(void *arg) {
    rp_cluster *c = arg;
    redisContext *ctx = NULL;
    while (!atomic_load(&c->stopping)) {
        if (!ctx && !(ctx = rp_cluster_connect_retry(c, "witness"))) break;
        if (witness_round(c, ctx) == RP_EIO) {
            rp_log(c->d, "warn", "cluster witness: redis %s: %s", c->config.redis, ctx->errstr);
            rp_cluster_disconnect(c, &ctx);
            continue;
        }
        rp_cluster_sleep(c, WITNESS_PERIOD_MS);
    }
    if (ctx) rp_cluster_disconnect(c, &ctx);
    return NULL;
}

rp_status rp_cluster_witness_new(rp_cluster *c, rp_error *err) {
    if (c->config.role != RP_CLUSTER_DETECTOR || c->config.partitions <= 1) return RP_OK;
    rp_witness_book *b = calloc(1, sizeof *b);
    if (b) b->outbox = calloc(WITNESS_OUTBOX, sizeof *b->outbox);
    if (!b || !b->outbox) {
        free(b);
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory for the witness book");
    }
    snprintf(b->hash, sizeof b->hash, "%s:witness", c->config.stream);
    pthread_mutex_init(&b->lock, NULL);
    atomic_init(&b->next, NULL);
    c->witness = b;
    return RP_OK;
}

rp_status rp_cluster_witness_start(rp_cluster *c, rp_error *err) {
    rp_witness_book *b = c->witness;
    if (!b) return RP_OK;
    if (pthread_create(&b->thread, NULL, witness_main, c) != 0)
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "cannot start the cluster witness thread");
    b->started = true;
    return RP_OK;
}

void rp_cluster_witness_stop(rp_cluster *c) {
    rp_witness_book *b = c->witness;
    if (!b) return;
    if (b->started) pthread_join(b->thread, NULL);
    c->witness = NULL; /* the engine thread has stopped before the cluster */
    free(atomic_exchange(&b->next, NULL));
    free(b->current);
    free(b->outbox);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void rp_cluster_witness_metrics(rp_cluster *c, FILE *f) {
    rp_witness_book *b = c->witness;
    if (!b) return;
    fprintf(f,
            "# HELP rampart_cluster_witness_published_total Witness scores of aggregates this "
            "detector's engine counts, published to the fleet's other partitions.\n"
            "# TYPE rampart_cluster_witness_published_total counter\n"
            "rampart_cluster_witness_published_total %llu\n"
            "# HELP rampart_cluster_witness_dropped_total Witness scores not published (more "
            "than a period holds); published at the aggregate's next event.\n"
            "# TYPE rampart_cluster_witness_dropped_total counter\n"
            "rampart_cluster_witness_dropped_total %llu\n"
            "# HELP rampart_cluster_witness_refused_total Witness scores Redis refused, or "
            "fields of the witness hash that did not parse.\n"
            "# TYPE rampart_cluster_witness_refused_total counter\n"
            "rampart_cluster_witness_refused_total %llu\n"
            "# HELP rampart_cluster_witness_expired_total Expired witness scores deleted.\n"
            "# TYPE rampart_cluster_witness_expired_total counter\n"
            "rampart_cluster_witness_expired_total %llu\n"
            "# HELP rampart_cluster_witness_keys Aggregate keys with a live witness score, as "
            "last read.\n# TYPE rampart_cluster_witness_keys gauge\n"
            "rampart_cluster_witness_keys %llu\n",
            (unsigned long long)atomic_load(&b->published),
            (unsigned long long)atomic_load(&b->dropped),
            (unsigned long long)atomic_load(&b->refused),
            (unsigned long long)atomic_load(&b->expired),
            (unsigned long long)atomic_load(&b->known));
}
