/*
 * cluster_detector.c -- the detector's reader: the fleet's events from
 * the Redis stream, through the consumer group (cluster.group), into
 * this daemon's queue, so the engine sees them exactly as it sees a
 * local datagram; acknowledged once the engine has processed them.
 *
 * Why the queue and not the engine directly: the engine thread stays the
 * only one feeding the engine, with the same bounds on event times, the
 * same recent-events window and the same counters as a standalone
 * daemon; this thread does the Redis I/O and the decoding. Each event is
 * decoded once, here (it is checked anyway): a read's events go to the
 * queue as one batch by reference (rp_queue_push_batch), their strings
 * pointing into the hiredis reply, which is kept until the batch is
 * acknowledged.
 *
 * Acknowledged after processing, not after reading: XACK goes only when
 * the engine is done with every event of the batch (the queue says so
 * for the batch's ticket, and wakes this thread: no polling). Reads
 * overlap the engine: batch k is acknowledged after batch k+1 was read
 * and queued (by then the engine is usually done with k), so Redis I/O,
 * decoding and the engine run at the same time; at most two batches are
 * unacknowledged. k's XACK goes in the same round trip as the read of
 * k+2, ahead of it (pipelined), so it costs no round trip of its own.
 * The batches in flight are acknowledged first (flushed) before the
 * leases' tick (a lease released or lost never leaves a batch of ours in
 * flight), before a read of our pending entries ("0" would return them
 * again), and when a read brings nothing (a read with a batch in flight
 * does not BLOCK). They are kept across a lost connection and
 * acknowledged on the reconnect, once fed (XACK needs no lease), rather
 * than read and fed again. An entry read and not acknowledged stays in
 * the group's pending list: after a lost connection this consumer reads
 * its own pending entries ("0") before new ones (">"). Its name is
 * stable (cluster.consumer), so a restarted detector does the same.
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
#include "partition.h"
#include "protocol.h"

/* Entries per read: with up to PACK_EVENTS events each (~20 with real
 * traffic), a few thousand events, a few milliseconds of the engine --
 * the slack the reader has to acknowledge, read and decode the next batch
 * while the engine is on this one (at most two are unacknowledged). 64
 * left the engine waiting for the reader ~15 % of the time on two shared
 * cores; 128 halved that (bench/cluster.sh); 256 gained nothing more. */
#define READ_COUNT 128
/* How often the active detector looks for entries to claim. */
#define CLAIM_PERIOD_MS 500

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A wait on the engine looks at the stop flag this often (the queue's
 * signal ends it as soon as the engine is done). */
#define ENGINE_WAIT_MS 50

/* One stream as this detector sees it (cluster.partitions; one, <stream>
 * itself, when it is 1): with N partitions, N address streams and their
 * leases, then the N aggregate streams (rp_cluster_stream_name), each
 * read under its partition's lease: whoever holds partition q reads both
 * of q's streams, so a takeover takes both. */
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

/* A batch read and queued, not yet acknowledged: the XREADGROUP reply
 * (its entries, per partition read), and its events decoded, pointing
 * into the reply, handed to the queue by reference under a ticket. */
typedef struct batch {
    redisReply *reply; /* NULL: none in flight */
    int k;             /* partitions read */
    unsigned *order;   /* the partition of each got[] */
    const redisReply **got;
    rp_event *evs;     /* n decoded events (cap allocated) */
    rp_str *records;   /* their encodings, for the recent-events window */
    size_t n, cap;
    uint64_t ticket;   /* 0: none queued (no event decoded) */
} batch;

static void batch_free(batch *b) {
    if (b->reply) freeReplyObject(b->reply);
    b->reply = NULL;
    b->n = 0, b->ticket = 0;
}

/* Room for one more event; false when out of memory. */
static bool batch_reserve(batch *b) {
    if (b->n < b->cap) return true;
    size_t cap = b->cap ? b->cap * 2 : 4096;
    rp_event *evs = realloc(b->evs, cap * sizeof *evs);
    if (evs) b->evs = evs;
    rp_str *records = realloc(b->records, cap * sizeof *records);
    if (records) b->records = records;
    if (!evs || !records) return false;
    b->cap = cap;
    return true;
}

/* What one stream entry carries (cluster_edge.c writes them): "e", the
 * event records back to back. Unknown fields are ignored. */
typedef struct entry_fields {
    const redisReply *events;
    const redisReply *host; /* "h": the edge that saw them (docs/cluster.md#fleet-view) */
} entry_fields;

static void entry_fields_parse(const redisReply *fields, entry_fields *f) {
    memset(f, 0, sizeof *f);
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *name = fields->element[i], *value = fields->element[i + 1];
        if (name->type != REDIS_REPLY_STRING || value->type != REDIS_REPLY_STRING) continue;
        if (name->len == 1 && name->str[0] == 'e') f->events = value;
        if (name->len == 1 && name->str[0] == 'h') f->host = value;
    }
}

/* Decode one entry's events into the batch: each record is checked
 * (hostile input) and kept decoded; one that does not decode is counted
 * and ends the entry (the rest cannot be framed). With partitions, each
 * event is marked with the levels this engine does not count, from the
 * stream it came from (partition.h). False when out of memory (the batch
 * is then incomplete). */
static bool decode_entry(rp_cluster *c, const redisReply *fields, unsigned stream, batch *b) {
    entry_fields f;
    entry_fields_parse(fields, &f);
    if (!f.events) return true;
    /* The edge's name, interned once per entry; missing or invalid:
     * RP_HOST_UNKNOWN, counted. Stamped on each event and its record
     * (byte 5, protocol.h), which the recent window keeps. */
    uint8_t origin = rp_cluster_host_id(c, f.host ? f.host->str : NULL, f.host ? f.host->len : 0);
    const uint8_t *buf = (const uint8_t *)f.events->str;
    size_t len = f.events->len, off = 0;
    while (off < len) {
        if (!batch_reserve(b)) return false;
        size_t size = rp_event_record_size(buf + off, len - off);
        rp_decode_reason why;
        if (!size || rp_event_decode(buf + off, size, &b->evs[b->n], &why) != RP_OK) {
            atomic_fetch_add(&c->decode_errors, 1);
            break;
        }
        b->evs[b->n].origin = origin;
        unsigned n = c->config.partitions;
        if (n > 1) {
            uint16_t parts[RP_LEVEL_COUNT];
            rp_event_partitions(&b->evs[b->n], n, parts);
            b->evs[b->n].uncounted = rp_partition_uncounted(parts, stream % n, stream >= n);
        }
        rp_event_record_set_origin((uint8_t *)f.events->str + off, size, origin);
        b->records[b->n].ptr = (const char *)buf + off;
        b->records[b->n].len = (uint32_t)size;
        b->n++;
        off += size;
    }
    return true;
}

/* Until the engine is done with the batch's events (or the daemon stops:
 * the entries stay pending, and are read again). */
static bool wait_engine(rp_cluster *c, const batch *b) {
    if (!b->ticket) return true;
    while (!rp_queue_batch_wait(c->d->queue, b->ticket, ENGINE_WAIT_MS))
        if (atomic_load(&c->stopping)) return false;
    return true;
}

/* Append the batch's XACKs (one per stream read) to the connection's
 * output buffer, to go with the next command; returns how many (their
 * replies are read by ack_replies), -1 when out of memory. */
static int ack_append(rp_cluster *c, redisContext *ctx, const partition *parts, const batch *b) {
    int sent = 0;
    for (int i = 0; i < b->k; i++) {
        const redisReply *entries = b->got[i];
        if (!entries || !entries->elements) continue;
        const char *stream = parts[b->order[i]].stream;
        const char *argv[3 + READ_COUNT];
        size_t argvlen[3 + READ_COUNT];
        int argc = 0;
        argv[argc] = "XACK", argvlen[argc++] = 4;
        argv[argc] = stream, argvlen[argc++] = strlen(stream);
        argv[argc] = c->config.group, argvlen[argc++] = strlen(c->config.group);
        for (size_t e = 0; e < entries->elements && argc < 3 + READ_COUNT; e++) {
            const redisReply *id = entries->element[e]->element[0];
            argv[argc] = id->str, argvlen[argc++] = id->len;
        }
        if (redisAppendCommandArgv(ctx, argc, argv, argvlen) != REDIS_OK) return -1;
        sent++;
    }
    return sent;
}

/* The replies of `sent` appended XACKs; false when the connection failed
 * (then whether they were applied is unknown: XACK is idempotent). */
static bool ack_replies(rp_cluster *c, redisContext *ctx, int sent) {
    for (int i = 0; i < sent; i++) {
        void *v = NULL;
        if (redisGetReply(ctx, &v) != REDIS_OK || !v) return false;
        redisReply *r = v;
        if (r->type == REDIS_REPLY_INTEGER) atomic_fetch_add(&c->acked, (uint64_t)r->integer);
        freeReplyObject(r);
    }
    return true;
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

/* Acknowledge the batches in flight (older first) once the engine is
 * done with them, in one round trip. False when they could not be:
 * stopping (they stay in flight, pending in Redis), or the connection
 * failed (kept, to be acknowledged on the reconnect; XACK is
 * idempotent). */
static bool flush_batches(rp_cluster *c, redisContext **ctx, partition *parts, unsigned n,
                          batch *older, batch *newer) {
    if (!older->reply && !newer->reply) return true;
    if (!*ctx || !wait_engine(c, older) || !wait_engine(c, newer)) return false;
    int a = older->reply ? ack_append(c, *ctx, parts, older) : 0;
    int b = a >= 0 && newer->reply ? ack_append(c, *ctx, parts, newer) : 0;
    if (a < 0 || b < 0 || !ack_replies(c, *ctx, a + b)) {
        rp_log(c->d, "warn", "cluster reader: redis %s: %s", c->config.redis, (*ctx)->errstr);
        rp_cluster_disconnect(c, ctx);
        drop_all(c, parts, n);
        return false;
    }
    batch_free(older);
    batch_free(newer);
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
                        unsigned ns, bool *logged_standby) {
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
    /* The aggregate streams follow their partitions' leases. */
    for (unsigned s = n; s < ns; s++) {
        if (parts[s].held == parts[s - n].held) continue;
        parts[s].held = parts[s - n].held;
        parts[s].pending_first = parts[s].held;
        parts[s].claimed_ms = 0;
    }
    for (unsigned s = 0; s < ns; s++) /* what was trimmed unread (cluster_lease.c) */
        if (parts[s].held && rp_cluster_sample_trimmed(c, *ctx, parts[s].stream) == RP_EIO)
            goto lost;
    atomic_store(&c->partitions_held, held_n);
    atomic_store(&c->active, held_n > 0);
    return;
lost:
    rp_log(c->d, "warn", "cluster reader: redis %s: %s", c->config.redis, (*ctx)->errstr);
    rp_cluster_disconnect(c, ctx);
    drop_all(c, parts, ns);
}

void *rp_cluster_detect_main(void *arg) {
    rp_cluster *c = arg;
    redisContext *ctx = NULL;
    unsigned n = c->config.partitions ? c->config.partitions : 1;
    unsigned ns = rp_cluster_streams(c); /* n, and n aggregate streams with partitions */
    partition *parts = calloc(ns, sizeof *parts);
    const char **argv = calloc(9 + 2 * (size_t)ns, sizeof *argv);
    unsigned *order = calloc(ns, sizeof *order);
    size_t *argvlen = calloc(9 + 2 * (size_t)ns, sizeof *argvlen);
    batch bt[2] = {{0}, {0}}; /* the two batches a read may leave in flight */
    for (int i = 0; i < 2; i++) {
        bt[i].order = calloc(ns, sizeof *bt[i].order);
        bt[i].got = calloc(ns, sizeof *bt[i].got);
    }
    batch *older = &bt[0], *newer = &bt[1]; /* in flight: k, k+1 (older only with newer) */
    if (!parts || !argv || !argvlen || !order || !bt[0].order || !bt[0].got || !bt[1].order ||
        !bt[1].got) {
        rp_log(c->d, "error", "cluster reader: out of memory; not reading");
        free(parts), free(argv), free(argvlen), free(order);
        for (int i = 0; i < 2; i++) free(bt[i].order), free(bt[i].got);
        return NULL;
    }
    for (unsigned p = 0; p < ns; p++) {
        rp_cluster_stream_name(c, p, parts[p].stream, sizeof parts[p].stream);
        snprintf(parts[p].lease, sizeof parts[p].lease, "%s:lease", parts[p % n].stream);
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
            for (unsigned p = 0; p < ns && st == RP_OK; p++)
                st = ensure_group(c, ctx, parts[p].stream);
            if (st != RP_OK) {
                rp_cluster_disconnect(c, &ctx);
                rp_cluster_sleep(c, 1000);
                continue;
            }
            for (unsigned p = 0; p < ns; p++) parts[p].pending_first = true;
            ticked_ms = 0;
            /* The batches in flight when the connection was lost: fed,
             * they are acknowledged now rather than read and fed again. */
            if (!flush_batches(c, &ctx, parts, ns, older, newer)) continue;
        }
        unsigned held_n = count_held(parts, n);
        /* Holding our share: renew at a third of the lease; short of it
         * (or standby): try the free ones at the standby's pace. */
        int period = held_n == 0 || (n > 1 && held_n < n) ? standby_ms : renew_ms;
        if (n > 1 && held_n && period > renew_ms) period = renew_ms;
        if (mono_ms() - ticked_ms >= period) {
            if (!flush_batches(c, &ctx, parts, ns, older, newer)) continue;
            tick_leases(c, &ctx, parts, n, ns, &logged_standby);
            ticked_ms = mono_ms();
            if (!ctx) continue;
            held_n = count_held(parts, n);
        }
        if (!held_n) {
            rp_cluster_sleep(c, standby_ms);
            continue;
        }
        bool lost = false;
        for (unsigned p = 0; p < ns && !lost; p++) {
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
            drop_all(c, parts, ns);
            continue;
        }
        /* Our pending entries ("0") include the batches in flight: they
         * are acknowledged before they are read. */
        bool pending = false;
        for (unsigned p = 0; p < ns; p++) pending |= parts[p].held && parts[p].pending_first;
        if (pending && !flush_batches(c, &ctx, parts, ns, older, newer)) continue;
        /* The older batch in flight (k) is acknowledged in the read's
         * round trip, ahead of it, once the engine is done with it (it
         * is then on k+1): k is acknowledged after k+1 was read and
         * queued, Redis never holds more than two of our reads
         * unacknowledged, and the acknowledgement costs no round trip of
         * its own. Its slot takes the read. */
        if (older->reply && !wait_engine(c, older)) continue; /* stopping */
        batch *cur = older;
        /* One XREADGROUP for every partition held. A stream read from "0"
         * (our pending entries) answers at once, so BLOCK only applies
         * when all are read from ">", and none while a batch is in flight
         * (it is acknowledged when the read brings nothing). */
        int argc = 0, k = 0;
        argv[argc++] = "XREADGROUP", argv[argc++] = "GROUP", argv[argc++] = c->config.group;
        argv[argc++] = c->consumer, argv[argc++] = "COUNT", argv[argc++] = count;
        if (!newer->reply) argv[argc++] = "BLOCK", argv[argc++] = block;
        argv[argc++] = "STREAMS";
        /* The partitions read, in the reply's order: in a scratch array
         * until the slot's batch is acknowledged (its XACK needs its own;
         * a lost connection keeps it in flight). */
        for (unsigned p = 0; p < ns; p++)
            if (parts[p].held) order[k++] = p, argv[argc++] = parts[p].stream;
        for (int i = 0; i < k; i++) argv[argc++] = parts[order[i]].pending_first ? "0" : ">";
        for (int i = 0; i < argc; i++) argvlen[i] = strlen(argv[i]);
        redisReply *r = NULL;
        int acks = older->reply ? ack_append(c, ctx, parts, older) : 0;
        if (acks >= 0 && redisAppendCommandArgv(ctx, argc, argv, argvlen) == REDIS_OK &&
            ack_replies(c, ctx, acks)) {
            batch_free(older); /* acknowledged */
            memcpy(cur->order, order, (size_t)k * sizeof *order);
            void *v = NULL;
            if (redisGetReply(ctx, &v) == REDIS_OK) r = v;
        }
        if (!r) {
            rp_log(c->d, "warn", "cluster reader: redis %s: %s", c->config.redis, ctx->errstr);
            rp_cluster_disconnect(c, &ctx);
            drop_all(c, parts, ns);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) { /* NOGROUP: a stream was deleted */
            rp_log(c->d, "warn", "cluster reader: XREADGROUP: %s", r->str);
            freeReplyObject(r);
            rp_cluster_disconnect(c, &ctx);
            drop_all(c, parts, ns);
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
        bool any = false, decoded = true;
        cur->n = 0;
        for (int i = 0; i < k; i++) {
            partition *pt = &parts[order[i]];
            if (!got[i] || got[i]->elements == 0) {
                if (pt->pending_first) pt->pending_first = false; /* pending list empty */
                continue;
            }
            any = true;
            for (size_t e = 0; e < got[i]->elements && decoded; e++)
                decoded = decode_entry(c, got[i]->element[e]->element[1], order[i], cur);
        }
        if (!any) { /* nothing new: acknowledge the batch in flight */
            freeReplyObject(r);
            flush_batches(c, &ctx, parts, ns, older, newer);
            continue;
        }
        cur->reply = r, cur->k = k;
        rp_queue *q = c->d->queue;
        cur->ticket = decoded ? rp_queue_push_batch(q, cur->evs, cur->records, cur->n) : 0;
        if (!decoded || (cur->n && !cur->ticket)) {
            /* Out of memory, or the queue is closed (stopping): nothing
             * was handed over, and the entries stay pending, read again
             * from "0". */
            if (!decoded) rp_log(c->d, "error", "cluster reader: out of memory decoding a read");
            batch_free(cur);
            for (unsigned p = 0; p < ns; p++) parts[p].pending_first |= parts[p].held;
            rp_cluster_sleep(c, 100);
            continue;
        }
        atomic_fetch_add(&c->consumed, cur->n);
        /* In flight now: k+1 and this one, acknowledged with the next
         * read (or flushed first). */
        older = newer, newer = cur;
    }
    /* A clean stop: the engine has stopped, having drained the queue
     * (rp_daemon_stop joins it before stopping the cluster), so what is
     * still in flight and was fed is acknowledged now; what was read and
     * not fed stays pending and is claimed by the next holder. Then the
     * leases are handed over at once. */
    int acks = 0;
    for (int b = 0; b < 2 && ctx && acks >= 0; b++) {
        const batch *last = b ? newer : older;
        if (!last->reply || (last->ticket && !rp_queue_batch_wait(c->d->queue, last->ticket, 0)))
            continue;
        int sent = ack_append(c, ctx, parts, last);
        acks = sent < 0 ? -1 : acks + sent;
    }
    if (ctx && (acks < 0 || !ack_replies(c, ctx, acks))) rp_cluster_disconnect(c, &ctx);
    if (ctx) {
        for (unsigned p = 0; p < n; p++)
            if (parts[p].held) rp_cluster_lease_release(c, ctx, parts[p].lease);
        if (n > 1) rp_cluster_retire(c, ctx);
    }
    drop_all(c, parts, ns);
    if (ctx) rp_cluster_disconnect(c, &ctx);
    /* The engine has stopped: no batch is in its hands any more. */
    for (int i = 0; i < 2; i++) {
        batch_free(&bt[i]);
        free(bt[i].order), free(bt[i].got), free(bt[i].evs), free(bt[i].records);
    }
    free(parts), free(argv), free(argvlen), free(order);
    return NULL;
}
