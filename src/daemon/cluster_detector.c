/*
 * cluster_detector.c -- the detector's reader: the fleet's events from
 * the Redis stream, through the consumer group (cluster.group), into
 * this daemon's queue, so the engine sees them exactly as it sees a
 * local datagram; acknowledged once the engine has processed them.
 *
 * Why the queue and not the engine directly: the engine thread stays the
 * only one feeding the engine, with the same bounds on event times, the
 * same recent-events window and the same counters as a standalone
 * daemon; this thread does the Redis I/O and the decoding checks.
 *
 * Acknowledged after processing, not after reading: XACK goes only when
 * the engine has fed every event of the batch (its events_fed counter
 * has passed the queue's push count at the batch's last push, its mark;
 * the queue is FIFO with one consumer). Reads overlap the engine: batch
 * k is acknowledged after batch k+1 was read and queued (by then the
 * engine has usually passed k's mark), so Redis I/O, decoding and the
 * engine run at the same time; at most two batches are unacknowledged.
 * The previous batch is acknowledged first (flushed) before the leases'
 * tick (a lease released or lost never leaves a batch of ours in
 * flight), before a read of our pending entries ("0" would return it
 * again), and when a read brings nothing (a read with a batch in flight
 * does not BLOCK). It is kept across a lost connection and acknowledged
 * on the reconnect, once fed (XACK needs no lease), rather than read and
 * fed again. An entry read and not acknowledged stays in the group's
 * pending list: after a lost connection this consumer reads its own
 * pending entries ("0") before new ones (">"). Its name is stable
 * (cluster.consumer), so a restarted detector does the same.
 *
 * Active or standby (cluster_lease.c): only the detector holding the
 * lease reads; it renews the lease every third of cluster.lease_ms (the
 * blocking read waits no longer than that), and every CLAIM_PERIOD_MS
 * claims the entries another consumer left unacknowledged for
 * cluster.claim_idle_ms, then reads them first. A standby tries the
 * lease every quarter of it. A kill -9 of the active detector is thus
 * taken over within lease_ms + lease_ms/4 (reading new entries) and
 * claim_idle_ms + CLAIM_PERIOD_MS (its pending entries): 3.5 s at most
 * with the defaults.
 *
 * The stream is hostile input like a datagram: every record is decoded
 * before it is queued, and one that does not decode is skipped and
 * counted (decode_errors).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cluster_int.h"
#include "protocol.h"

/* Entries per read: with PACK_EVENTS events each, a few thousand events,
 * a few milliseconds of the engine. */
#define READ_COUNT 64
/* How often the active detector looks for entries to claim. */
#define CLAIM_PERIOD_MS 500

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

/* Waiting on the engine: 50 us doubling to 1 ms, so that a wait that is
 * almost over (the usual case) ends promptly, and a long one costs at
 * most a wakeup a millisecond. */
#define BACKOFF_MIN_US 50
#define BACKOFF_MAX_US 1000
static void backoff(long *us) {
    sleep_us(*us);
    if (*us < BACKOFF_MAX_US) *us = *us * 2 < BACKOFF_MAX_US ? *us * 2 : BACKOFF_MAX_US;
}

/* One partition's stream as this detector sees it (cluster.partitions;
 * one, <stream> itself, when it is 1). */
typedef struct partition {
    char stream[176], lease[192];
    bool held;          /* this detector holds its lease and reads it */
    bool pending_first; /* read our pending entries ("0") before new ones */
    int64_t claimed_ms; /* last XAUTOCLAIM */
} partition;

/* XGROUP CREATE ... 0 MKSTREAM: a new group reads what the stream holds
 * (events sent before the first detector started are judged, not lost).
 * BUSYGROUP (it exists) is success. */
static rp_status ensure_group(rp_cluster *c, redisContext *ctx, const char *stream) {
    redisReply *r = redisCommand(ctx, "XGROUP CREATE %s %s 0 MKSTREAM", stream, c->config.group);
    if (!r) return RP_EIO;
    rp_status st = RP_OK;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        rp_log(c->d, "error", "cluster reader: XGROUP CREATE %s %s: %s", stream,
               c->config.group, r->str);
        st = RP_EINVAL;
    }
    freeReplyObject(r);
    return st;
}

/* Push one event record into the queue, waiting while the queue is full:
 * Redis holds the backlog, so the reader slows down rather than drops. */
static bool queue_record(rp_cluster *c, const uint8_t *rec, size_t len) {
    rp_daemon *d = c->d;
    for (long us = BACKOFF_MIN_US;;) {
        rp_queue_stats qs;
        rp_queue_get_stats(d->queue, &qs);
        if (qs.bytes_capacity - qs.bytes_used > len + 64) break;
        if (atomic_load(&c->stopping)) return false;
        backoff(&us);
    }
    return rp_queue_push_encoded(d->queue, rec, len);
}

/* The records of one entry's "e" field; returns the events queued. */
static uint64_t queue_entry(rp_cluster *c, const redisReply *fields) {
    uint64_t queued = 0;
    /* h: the edge that saw the entry's events (docs/cluster.md#fleet-view),
     * interned once per entry and stamped on each record (byte 5,
     * protocol.h); missing or invalid: RP_HOST_UNKNOWN, counted. */
    const redisReply *host = NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING && fields->element[i]->len == 1 &&
            fields->element[i]->str[0] == 'h' && fields->element[i + 1]->type == REDIS_REPLY_STRING)
            host = fields->element[i + 1];
    uint8_t origin = rp_cluster_host_id(c, host ? host->str : NULL, host ? host->len : 0);
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *name = fields->element[i], *value = fields->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || name->len != 1 || name->str[0] != 'e' ||
            value->type != REDIS_REPLY_STRING)
            continue;
        const uint8_t *buf = (const uint8_t *)value->str;
        size_t len = value->len, off = 0;
        while (off < len) {
            size_t size = rp_event_record_size(buf + off, len - off);
            rp_event ev;
            rp_decode_reason why;
            if (!size || rp_event_decode(buf + off, size, &ev, &why) != RP_OK) {
                atomic_fetch_add(&c->decode_errors, 1);
                break; /* the rest of the entry cannot be framed */
            }
            rp_event_record_set_origin((uint8_t *)value->str + off, size, origin);
            if (queue_record(c, buf + off, size)) queued++;
            off += size;
        }
    }
    return queued;
}

/* The queue's push count so far: a batch's mark once it is queued. */
static uint64_t push_mark(rp_cluster *c) {
    rp_queue_stats qs;
    rp_queue_get_stats(c->d->queue, &qs);
    return qs.pushed;
}

/* Until the engine has fed every event pushed up to mark (or the daemon
 * stops: the entries stay pending, and are read again). */
static bool wait_engine(rp_cluster *c, uint64_t mark) {
    for (long us = BACKOFF_MIN_US; atomic_load(&c->d->events_fed) < mark;) {
        if (atomic_load(&c->stopping)) return false;
        backoff(&us);
    }
    return true;
}

static rp_status ack_entries(rp_cluster *c, redisContext *ctx, const char *stream,
                             const redisReply *entries) {
    const char *argv[3 + READ_COUNT];
    size_t argvlen[3 + READ_COUNT];
    int argc = 0;
    argv[argc] = "XACK", argvlen[argc++] = 4;
    argv[argc] = stream, argvlen[argc++] = strlen(stream);
    argv[argc] = c->config.group, argvlen[argc++] = strlen(c->config.group);
    for (size_t i = 0; i < entries->elements && argc < 3 + READ_COUNT; i++) {
        const redisReply *id = entries->element[i]->element[0];
        argv[argc] = id->str, argvlen[argc++] = id->len;
    }
    redisReply *r = redisCommandArgv(ctx, argc, argv, argvlen);
    if (!r) return RP_EIO;
    if (r->type == REDIS_REPLY_INTEGER) atomic_fetch_add(&c->acked, (uint64_t)r->integer);
    freeReplyObject(r);
    return RP_OK;
}

/* The entries array of one stream's part of an XREADGROUP reply, or
 * NULL (none, or malformed). */
static const redisReply *stream_entries(const redisReply *s) {
    if (s->type != REDIS_REPLY_ARRAY || s->elements < 2 || s->element[0]->type != REDIS_REPLY_STRING ||
        s->element[1]->type != REDIS_REPLY_ARRAY)
        return NULL;
    const redisReply *entries = s->element[1];
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
            e->element[0]->type != REDIS_REPLY_STRING)
            return NULL;
    }
    return entries;
}

static unsigned count_held(const partition *parts, unsigned n) {
    unsigned k = 0;
    for (unsigned p = 0; p < n; p++) k += parts[p].held;
    return k;
}

static void drop_all(rp_cluster *c, partition *parts, unsigned n) {
    for (unsigned p = 0; p < n; p++) parts[p].held = false;
    atomic_store(&c->partitions_held, 0);
    atomic_store(&c->active, false);
}

/* A batch read and queued, not yet acknowledged: the XREADGROUP reply
 * (its entries, per partition read) and its push mark. */
typedef struct batch {
    redisReply *reply; /* NULL: none in flight */
    int k;             /* partitions read */
    unsigned *order;   /* the partition of each got[] */
    const redisReply **got;
    uint64_t mark;
} batch;

static void batch_free(batch *b) {
    if (b->reply) freeReplyObject(b->reply);
    b->reply = NULL;
}

/* Acknowledge the batch in flight once the engine has passed its mark.
 * False when it could not be: stopping (it stays in flight, pending in
 * Redis), or the connection failed (kept, to be acknowledged on the
 * reconnect; XACK is idempotent). */
static bool flush_batch(rp_cluster *c, redisContext **ctx, partition *parts, unsigned n,
                        batch *b) {
    if (!b->reply) return true;
    if (!*ctx || !wait_engine(c, b->mark)) return false;
    for (int i = 0; i < b->k; i++)
        if (b->got[i] && b->got[i]->elements &&
            ack_entries(c, *ctx, parts[b->order[i]].stream, b->got[i]) != RP_OK) {
            rp_log(c->d, "warn", "cluster reader: redis %s: %s", c->config.redis, (*ctx)->errstr);
            rp_cluster_disconnect(c, ctx);
            drop_all(c, parts, n);
            return false;
        }
    batch_free(b);
    return true;
}

/* The leases, every tick: announce this detector (partitions > 1) and
 * count the live ones; renew what we hold; release what is past our
 * share, ceil(N / live), so that a newcomer finds free leases (released
 * between reads, after the batch was acknowledged: never two readers of
 * one partition); take free ones up to the share. *ctx is NULL when the
 * connection failed (everything is dropped: the leases are retaken, as
 * ours, on reconnect). */
static void tick_leases(rp_cluster *c, redisContext **ctx, partition *parts, unsigned n,
                        bool *logged_standby) {
    unsigned live = 1;
    if (n > 1) {
        rp_status st = rp_cluster_announce(c, *ctx, &live);
        if (st == RP_EIO) goto lost;
        if (st != RP_OK) live = 1;
        atomic_store(&c->live_detectors, live);
    }
    unsigned share = (n + live - 1) / live;
    char holder[96];
    for (unsigned p = 0; p < n; p++) {
        if (!parts[p].held) continue;
        bool held = false;
        rp_status st = rp_cluster_lease_take(c, *ctx, parts[p].lease, &held, holder, sizeof holder);
        if (st == RP_EIO) goto lost;
        if (!held) {
            parts[p].held = false;
            rp_log(c->d, "warn", "cluster reader: lost the lease %s to %s: not reading %s",
                   parts[p].lease, holder[0] ? holder : "nobody", parts[p].stream);
        }
    }
    unsigned held_n = count_held(parts, n);
    for (unsigned p = n; p-- > 0 && held_n > share;) {
        if (!parts[p].held) continue;
        rp_cluster_lease_release(c, *ctx, parts[p].lease);
        parts[p].held = false;
        held_n--;
        rp_log(c->d, "info", "cluster reader: released the lease %s (%u live detectors, a "
                             "share of %u of %u partitions)", parts[p].lease, live, share, n);
    }
    for (unsigned p = 0; p < n && held_n < share; p++) {
        if (parts[p].held) continue;
        bool held = false;
        rp_status st = rp_cluster_lease_take(c, *ctx, parts[p].lease, &held, holder, sizeof holder);
        if (st == RP_EIO) goto lost;
        if (held) {
            parts[p].held = true;
            parts[p].pending_first = true;
            parts[p].claimed_ms = 0; /* claim at once */
            held_n++;
            atomic_fetch_add(&c->takeovers, 1);
            rp_log(c->d, "info", "cluster reader: active: %s holds the lease %s, reading %s as "
                                 "consumer %s", c->consumer, parts[p].lease, parts[p].stream,
                   c->consumer);
        } else if (st == RP_OK && !*logged_standby && held_n == 0) {
            rp_log(c->d, "info", "cluster reader: standby as consumer %s: %s holds the lease %s",
                   c->consumer, holder, parts[p].lease);
            *logged_standby = true;
        }
    }
    atomic_store(&c->partitions_held, held_n);
    atomic_store(&c->active, held_n > 0);
    return;
lost:
    rp_log(c->d, "warn", "cluster reader: redis %s: %s", c->config.redis, (*ctx)->errstr);
    rp_cluster_disconnect(c, ctx);
    drop_all(c, parts, n);
}

void *rp_cluster_detect_main(void *arg) {
    rp_cluster *c = arg;
    redisContext *ctx = NULL;
    unsigned n = c->config.partitions ? c->config.partitions : 1;
    partition *parts = calloc(n, sizeof *parts);
    const char **argv = calloc(9 + 2 * (size_t)n, sizeof *argv);
    size_t *argvlen = calloc(9 + 2 * (size_t)n, sizeof *argvlen);
    batch bt[2] = {{0}, {0}}; /* the batch read now, and the one in flight */
    for (int i = 0; i < 2; i++) {
        bt[i].order = calloc(n, sizeof *bt[i].order);
        bt[i].got = calloc(n, sizeof *bt[i].got);
    }
    batch *cur = &bt[0], *prev = &bt[1];
    if (!parts || !argv || !argvlen || !bt[0].order || !bt[0].got || !bt[1].order || !bt[1].got) {
        rp_log(c->d, "error", "cluster reader: out of memory; not reading");
        free(parts), free(argv), free(argvlen);
        for (int i = 0; i < 2; i++) free(bt[i].order), free(bt[i].got);
        return NULL;
    }
    for (unsigned p = 0; p < n; p++) {
        rp_cluster_stream_name(c, p, parts[p].stream, sizeof parts[p].stream);
        snprintf(parts[p].lease, sizeof parts[p].lease, "%s:lease", parts[p].stream);
    }
    bool logged_standby = false;
    int64_t ticked_ms = 0;
    /* The read must come back in time to renew the leases; with several
     * partitions, a tick at the standby's pace finds free leases soon. */
    int renew_ms = (int)c->config.lease_ms / 3;
    int standby_ms = (int)c->config.lease_ms / 4 < 200 ? (int)c->config.lease_ms / 4 : 200;
    int block_ms = RP_CLUSTER_BLOCK_MS;
    if (block_ms > renew_ms) block_ms = renew_ms;
    if (n > 1 && block_ms > standby_ms) block_ms = standby_ms;
    char count[16], block[16];
    snprintf(count, sizeof count, "%d", READ_COUNT);
    snprintf(block, sizeof block, "%d", block_ms);
    while (!atomic_load(&c->stopping)) {
        if (!ctx) {
            ctx = rp_cluster_connect_retry(c, "reader");
            if (!ctx) break;
            rp_status st = RP_OK;
            for (unsigned p = 0; p < n && st == RP_OK; p++)
                st = ensure_group(c, ctx, parts[p].stream);
            if (st != RP_OK) {
                rp_cluster_disconnect(c, &ctx);
                rp_cluster_sleep(c, 1000);
                continue;
            }
            for (unsigned p = 0; p < n; p++) parts[p].pending_first = true;
            ticked_ms = 0;
            /* The batch in flight when the connection was lost: fed, it
             * is acknowledged now rather than read and fed again. */
            if (!flush_batch(c, &ctx, parts, n, prev)) continue;
        }
        unsigned held_n = count_held(parts, n);
        /* Holding our share: renew at a third of the lease; short of it
         * (or standby): try the free ones at the standby's pace. */
        int period = held_n == 0 || (n > 1 && held_n < n) ? standby_ms : renew_ms;
        if (n > 1 && held_n && period > renew_ms) period = renew_ms;
        if (mono_ms() - ticked_ms >= period) {
            if (!flush_batch(c, &ctx, parts, n, prev)) continue;
            tick_leases(c, &ctx, parts, n, &logged_standby);
            ticked_ms = mono_ms();
            if (!ctx) continue;
            held_n = count_held(parts, n);
        }
        if (!held_n) {
            rp_cluster_sleep(c, standby_ms);
            continue;
        }
        bool lost = false;
        for (unsigned p = 0; p < n && !lost; p++) {
            if (!parts[p].held || mono_ms() - parts[p].claimed_ms < CLAIM_PERIOD_MS) continue;
            uint64_t got = 0;
            rp_status st = rp_cluster_claim(c, ctx, parts[p].stream, &got);
            if (st == RP_EIO) {
                lost = true;
                break;
            }
            parts[p].claimed_ms = mono_ms();
            if (got) {
                rp_log(c->d, "info", "cluster reader: claimed %llu entries left unacknowledged "
                                     "for %u ms by another consumer (%s)", (unsigned long long)got,
                       c->config.claim_idle_ms, parts[p].stream);
                parts[p].pending_first = true;
            }
        }
        if (lost) {
            rp_cluster_disconnect(c, &ctx);
            drop_all(c, parts, n);
            continue;
        }
        /* Our pending entries ("0") include the batch in flight: it is
         * acknowledged before they are read. */
        bool pending = false;
        for (unsigned p = 0; p < n; p++) pending |= parts[p].held && parts[p].pending_first;
        if (pending && !flush_batch(c, &ctx, parts, n, prev)) continue;
        /* One XREADGROUP for every partition held. A stream read from "0"
         * (our pending entries) answers at once, so BLOCK only applies
         * when all are read from ">", and none while a batch is in flight
         * (it is acknowledged when the read brings nothing). */
        int argc = 0, k = 0;
        unsigned *order = cur->order;
        argv[argc++] = "XREADGROUP", argv[argc++] = "GROUP", argv[argc++] = c->config.group;
        argv[argc++] = c->consumer, argv[argc++] = "COUNT", argv[argc++] = count;
        if (!prev->reply) argv[argc++] = "BLOCK", argv[argc++] = block;
        argv[argc++] = "STREAMS";
        for (unsigned p = 0; p < n; p++)
            if (parts[p].held) order[k++] = p, argv[argc++] = parts[p].stream;
        for (int i = 0; i < k; i++) argv[argc++] = parts[order[i]].pending_first ? "0" : ">";
        for (int i = 0; i < argc; i++) argvlen[i] = strlen(argv[i]);
        redisReply *r = redisCommandArgv(ctx, argc, argv, argvlen);
        if (!r) {
            rp_log(c->d, "warn", "cluster reader: redis %s: %s", c->config.redis, ctx->errstr);
            rp_cluster_disconnect(c, &ctx);
            drop_all(c, parts, n);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) { /* NOGROUP: a stream was deleted */
            rp_log(c->d, "warn", "cluster reader: XREADGROUP: %s", r->str);
            freeReplyObject(r);
            rp_cluster_disconnect(c, &ctx);
            drop_all(c, parts, n);
            rp_cluster_sleep(c, 500);
            continue;
        }
        /* Which streams answered, and with what. */
        const redisReply **got = cur->got;
        for (int i = 0; i < k; i++) got[i] = NULL;
        if (r->type == REDIS_REPLY_ARRAY) {
            for (size_t j = 0; j < r->elements; j++) {
                const redisReply *s = r->element[j];
                const redisReply *entries = stream_entries(s);
                if (!entries) continue;
                for (int i = 0; i < k; i++)
                    if (s->element[0]->len == strlen(parts[order[i]].stream) &&
                        !memcmp(s->element[0]->str, parts[order[i]].stream, s->element[0]->len))
                        got[i] = entries;
            }
        }
        uint64_t events = 0;
        bool any = false;
        for (int i = 0; i < k; i++) {
            partition *pt = &parts[order[i]];
            if (!got[i] || got[i]->elements == 0) {
                if (pt->pending_first) pt->pending_first = false; /* pending list empty */
                continue;
            }
            any = true;
            for (size_t e = 0; e < got[i]->elements; e++)
                events += queue_entry(c, got[i]->element[e]->element[1]);
        }
        atomic_fetch_add(&c->consumed, events);
        if (!any) { /* nothing new: acknowledge the batch in flight */
            freeReplyObject(r);
            flush_batch(c, &ctx, parts, n, prev);
            continue;
        }
        cur->reply = r, cur->k = k, cur->mark = push_mark(c);
        /* Batch k+1 is queued: acknowledge batch k (the engine has
         * usually passed its mark already), and k+1 is in flight. */
        if (flush_batch(c, &ctx, parts, n, prev)) {
            batch *t = prev;
            prev = cur, cur = t;
        } else if (!atomic_load(&c->stopping)) {
            /* Disconnected with k unacknowledged: k stays in flight (it
             * is acknowledged on the reconnect); k+1 stays pending in
             * Redis, read again from "0" on the reconnect (or claimed). */
            batch_free(cur);
        }
    }
    /* A clean stop: the engine has stopped, having drained the queue
     * (rp_daemon_stop joins it before stopping the cluster), so what is
     * still in flight and was fed is acknowledged now; what was read and
     * not fed stays pending and is claimed by the next holder. Then the
     * leases are handed over at once. */
    batch *last[2] = {prev, cur};
    for (int b = 0; b < 2 && ctx; b++) {
        if (!last[b]->reply || atomic_load(&c->d->events_fed) < last[b]->mark) continue;
        for (int i = 0; i < last[b]->k && ctx; i++)
            if (last[b]->got[i] && last[b]->got[i]->elements &&
                ack_entries(c, ctx, parts[last[b]->order[i]].stream, last[b]->got[i]) != RP_OK)
                rp_cluster_disconnect(c, &ctx);
    }
    if (ctx) {
        for (unsigned p = 0; p < n; p++)
            if (parts[p].held) rp_cluster_lease_release(c, ctx, parts[p].lease);
        if (n > 1) rp_cluster_retire(c, ctx);
    }
    drop_all(c, parts, n);
    if (ctx) rp_cluster_disconnect(c, &ctx);
    for (int i = 0; i < 2; i++) batch_free(&bt[i]), free(bt[i].order), free(bt[i].got);
    free(parts), free(argv), free(argvlen);
    return NULL;
}
