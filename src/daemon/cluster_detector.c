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
 * has passed the queue's push count at the batch's last push; the queue
 * is FIFO with one consumer). An entry read and not acknowledged stays
 * in the group's pending list: after a lost connection this consumer
 * reads its own pending entries ("0") before new ones (">"). Its name is
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

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* XGROUP CREATE ... 0 MKSTREAM: a new group reads what the stream holds
 * (events sent before the first detector started are judged, not lost).
 * BUSYGROUP (it exists) is success. */
static rp_status ensure_group(rp_cluster *c, redisContext *ctx) {
    redisReply *r = redisCommand(ctx, "XGROUP CREATE %s %s 0 MKSTREAM", c->config.stream,
                                 c->config.group);
    if (!r) return RP_EIO;
    rp_status st = RP_OK;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        rp_log(c->d, "error", "cluster reader: XGROUP CREATE %s %s: %s", c->config.stream,
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
    for (;;) {
        rp_queue_stats qs;
        rp_queue_get_stats(d->queue, &qs);
        if (qs.bytes_capacity - qs.bytes_used > len + 64) break;
        if (atomic_load(&c->stopping)) return false;
        sleep_ms(1);
    }
    return rp_queue_push_encoded(d->queue, rec, len);
}

/* The records of one entry's "e" field; returns the events queued. */
static uint64_t queue_entry(rp_cluster *c, const redisReply *fields) {
    uint64_t queued = 0;
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
            if (queue_record(c, buf + off, size)) queued++;
            off += size;
        }
    }
    return queued;
}

/* Until the engine has fed every event pushed so far (or the daemon
 * stops: the entries stay pending, and are read again). */
static bool wait_engine(rp_cluster *c) {
    rp_queue_stats qs;
    rp_queue_get_stats(c->d->queue, &qs);
    while (atomic_load(&c->d->events_fed) < qs.pushed) {
        if (atomic_load(&c->stopping)) return false;
        sleep_ms(1);
    }
    return true;
}

static rp_status ack_entries(rp_cluster *c, redisContext *ctx, const redisReply *entries) {
    const char *argv[3 + READ_COUNT];
    size_t argvlen[3 + READ_COUNT];
    int argc = 0;
    argv[argc] = "XACK", argvlen[argc++] = 4;
    argv[argc] = c->config.stream, argvlen[argc++] = strlen(c->config.stream);
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

/* The entries array of an XREADGROUP reply, or NULL (none, or malformed). */
static const redisReply *reply_entries(const redisReply *r) {
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) return NULL;
    const redisReply *s = r->element[0];
    if (s->type != REDIS_REPLY_ARRAY || s->elements < 2 || s->element[1]->type != REDIS_REPLY_ARRAY)
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

/* Take or renew the lease when it is due; false while standby (or the
 * connection failed: *ctx is then NULL). */
static bool hold_lease(rp_cluster *c, redisContext **ctx, int64_t *renewed_ms,
                       int64_t *claimed_ms, bool *pending_first) {
    int64_t now = mono_ms();
    bool active = atomic_load(&c->active);
    if (active && now - *renewed_ms < (int64_t)c->config.lease_ms / 3) return true;
    bool held = false;
    char holder[96];
    rp_status st = rp_cluster_lease_take(c, *ctx, &held, holder, sizeof holder);
    if (st == RP_EIO) {
        rp_log(c->d, "warn", "cluster reader: redis %s: %s", c->config.redis, (*ctx)->errstr);
        rp_cluster_disconnect(c, ctx);
        held = false;
    }
    if (held) {
        *renewed_ms = now;
        if (!active) {
            atomic_store(&c->active, true);
            atomic_fetch_add(&c->takeovers, 1);
            *pending_first = true;
            *claimed_ms = 0; /* claim at once */
            rp_log(c->d, "info", "cluster reader: active: %s holds the lease %s, reading %s as "
                                 "consumer %s", c->consumer, c->lease_key, c->config.stream,
                   c->consumer);
        }
        return true;
    }
    if (active) /* lost (expired while we were cut off, or Redis lost it) */
        rp_log(c->d, "warn", "cluster reader: lost the lease %s to %s: standby", c->lease_key,
               holder[0] ? holder : "nobody");
    else if (st == RP_OK && !*renewed_ms) {
        rp_log(c->d, "info", "cluster reader: standby as consumer %s: %s holds the lease %s",
               c->consumer, holder, c->lease_key);
        *renewed_ms = -1; /* logged once */
    }
    atomic_store(&c->active, false);
    return false;
}

void *rp_cluster_detect_main(void *arg) {
    rp_cluster *c = arg;
    redisContext *ctx = NULL;
    bool pending_first = true;
    int64_t renewed_ms = 0, claimed_ms = 0;
    /* The read must come back in time to renew the lease. */
    int block_ms = RP_CLUSTER_BLOCK_MS;
    if (block_ms > (int)c->config.lease_ms / 3) block_ms = (int)c->config.lease_ms / 3;
    int standby_ms = (int)c->config.lease_ms / 4 < 200 ? (int)c->config.lease_ms / 4 : 200;
    char count[16], block[16];
    snprintf(count, sizeof count, "%d", READ_COUNT);
    snprintf(block, sizeof block, "%d", block_ms);
    while (!atomic_load(&c->stopping)) {
        if (!ctx) {
            ctx = rp_cluster_connect_retry(c, "reader");
            if (!ctx) break;
            rp_status st = ensure_group(c, ctx);
            if (st != RP_OK) {
                rp_cluster_disconnect(c, &ctx);
                rp_cluster_sleep(c, 1000);
                continue;
            }
            pending_first = true;
        }
        if (!hold_lease(c, &ctx, &renewed_ms, &claimed_ms, &pending_first)) {
            if (ctx) rp_cluster_sleep(c, standby_ms);
            continue;
        }
        if (mono_ms() - claimed_ms >= CLAIM_PERIOD_MS) {
            uint64_t n = 0;
            rp_status st = rp_cluster_claim(c, ctx, &n);
            if (st == RP_EIO) {
                rp_cluster_disconnect(c, &ctx);
                continue;
            }
            claimed_ms = mono_ms();
            if (n) {
                rp_log(c->d, "info", "cluster reader: claimed %llu entries left unacknowledged "
                                     "for %u ms by another consumer", (unsigned long long)n,
                       c->config.claim_idle_ms);
                pending_first = true;
            }
        }
        const char *argv[] = {"XREADGROUP", "GROUP", c->config.group, c->consumer, "COUNT", count,
                              "BLOCK", block, "STREAMS", c->config.stream,
                              pending_first ? "0" : ">"};
        size_t argvlen[11];
        for (int i = 0; i < 11; i++) argvlen[i] = strlen(argv[i]);
        redisReply *r = redisCommandArgv(ctx, 11, argv, argvlen);
        if (!r) {
            rp_log(c->d, "warn", "cluster reader: redis %s: %s", c->config.redis, ctx->errstr);
            rp_cluster_disconnect(c, &ctx);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) { /* NOGROUP: the stream was deleted */
            rp_log(c->d, "warn", "cluster reader: XREADGROUP: %s", r->str);
            freeReplyObject(r);
            rp_cluster_disconnect(c, &ctx);
            rp_cluster_sleep(c, 500);
            continue;
        }
        const redisReply *entries = r->type == REDIS_REPLY_NIL ? NULL : reply_entries(r);
        if (!entries || entries->elements == 0) {
            pending_first = false; /* our pending list is empty: new entries now */
            freeReplyObject(r);
            continue;
        }
        uint64_t events = 0;
        for (size_t i = 0; i < entries->elements; i++)
            events += queue_entry(c, entries->element[i]->element[1]);
        atomic_fetch_add(&c->consumed, events);
        if (wait_engine(c) && ack_entries(c, ctx, entries) != RP_OK)
            rp_cluster_disconnect(c, &ctx);
        freeReplyObject(r);
    }
    /* A clean stop hands the lease over at once; what was read and not
     * fed stays pending and is claimed by the next active detector. */
    if (ctx && atomic_load(&c->active)) rp_cluster_lease_release(c, ctx);
    atomic_store(&c->active, false);
    if (ctx) rp_cluster_disconnect(c, &ctx);
    return NULL;
}
