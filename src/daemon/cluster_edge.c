/*
 * cluster_edge.c -- the edge's forwarder: the events the nginx module
 * sends this host's daemon go, as they came, into the fleet's Redis
 * stream (cluster.stream), where the detectors read them.
 *
 * In the edge role this thread, not the engine thread, is the queue's
 * one consumer (daemon.c's engine thread only keeps house). An event is
 * kept in the protocol's binary encoding (protocol.h): no second
 * encoding on the edge, the detector decodes it exactly as a datagram.
 *
 * Batching, both ways at once, because each costs a different thing:
 *   - several events per stream entry (up to PACK_EVENTS or PACK_BYTES,
 *     records back to back as a multi-record datagram): a stream entry
 *     costs Redis an ID, a listpack header and, on the detector, one
 *     XACK argument, so packing divides those by the pack size;
 *   - several XADDs per round trip (pipelined, one queue pop's worth):
 *     the round trip, not Redis's work, bounds one connection.
 * One XTRIM MAXLEN ~ per round trip bounds the stream; its reply is the
 * number of entries it removed, which is counted (stream_trimmed): a
 * flood from one host costs the fleet history, never memory, and never
 * silently. With "~" Redis only drops whole nodes, so a trim is O(1)
 * amortised.
 *
 * When Redis is unreachable the forwarder does not wait for it (that
 * would fill the queue and stall nothing useful): what it pops is
 * counted in forward_errors and dropped, and it tries to connect again
 * with backoff. The edge keeps enforcing its table meanwhile.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "protocol.h"

#define FORWARD_BATCH 512
#define PACK_EVENTS 32
#define PACK_BYTES 32768
#define RETRY_MIN_US 100000
#define RETRY_MAX_US 5000000

typedef struct forwarder {
    rp_cluster *c;
    redisContext *ctx;
    int64_t next_attempt_us, backoff_us;
    uint8_t *pack;  /* the entries of one round trip, back to back */
    size_t entry_off[FORWARD_BATCH + 1], entry_events[FORWARD_BATCH];
    size_t n_entries;
} forwarder;

/* Connected, or not yet time to try again. */
static bool forwarder_connect(forwarder *f) {
    if (f->ctx) return true;
    int64_t now = rp_wall_us();
    if (now < f->next_attempt_us) return false;
    rp_error err = {0};
    f->ctx = rp_cluster_connect(f->c, &err);
    if (f->ctx) {
        if (f->backoff_us > RETRY_MIN_US)
            rp_log(f->c->d, "info", "cluster forwarder: connected to redis %s", f->c->config.redis);
        f->backoff_us = RETRY_MIN_US;
        return true;
    }
    if (f->backoff_us <= RETRY_MIN_US)
        rp_log(f->c->d, "warn", "cluster forwarder: %s; events are counted as not forwarded "
                                "until it comes back", err.message);
    f->backoff_us = f->backoff_us ? f->backoff_us * 2 : RETRY_MIN_US * 2;
    if (f->backoff_us > RETRY_MAX_US) f->backoff_us = RETRY_MAX_US;
    f->next_attempt_us = now + f->backoff_us;
    return false;
}

/* Pack the popped records into entries (PACK_EVENTS / PACK_BYTES each). */
static void pack_records(forwarder *f, const rp_str *records, size_t n) {
    size_t off = 0, e = 0;
    f->entry_off[0] = 0;
    f->entry_events[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = records[i].len;
        if (f->entry_events[e] == PACK_EVENTS ||
            (f->entry_events[e] && off - f->entry_off[e] + len > PACK_BYTES)) {
            e++;
            f->entry_off[e] = off;
            f->entry_events[e] = 0;
        }
        memcpy(f->pack + off, records[i].ptr, len);
        off += len;
        f->entry_events[e]++;
    }
    f->n_entries = n ? e + 1 : 0;
    f->entry_off[f->n_entries] = off;
}

/* One round trip: the XADDs of the entries and one XTRIM, pipelined. */
static void forward_round_trip(forwarder *f) {
    rp_cluster *c = f->c;
    const char *stream = c->config.stream;
    for (size_t e = 0; e < f->n_entries; e++) {
        const char *argv[] = {"XADD", stream, "*", "e", (const char *)f->pack + f->entry_off[e]};
        size_t argvlen[] = {4, strlen(stream), 1, 1, f->entry_off[e + 1] - f->entry_off[e]};
        redisAppendCommandArgv(f->ctx, 5, argv, argvlen);
    }
    char maxlen[24];
    snprintf(maxlen, sizeof maxlen, "%u", c->config.stream_maxlen);
    const char *targv[] = {"XTRIM", stream, "MAXLEN", "~", maxlen};
    size_t targvlen[] = {5, strlen(stream), 6, 1, strlen(maxlen)};
    redisAppendCommandArgv(f->ctx, 5, targv, targvlen);
    uint64_t ok = 0, failed = 0, entries = 0;
    for (size_t e = 0; e <= f->n_entries; e++) {
        redisReply *r = NULL;
        if (redisGetReply(f->ctx, (void **)&r) != REDIS_OK || !r) {
            /* The connection is gone: which of the rest arrived is not
             * known; count them all as not forwarded. */
            rp_log(c->d, "warn", "cluster forwarder: redis %s: %s", c->config.redis,
                   f->ctx->errstr);
            for (size_t k = e; k < f->n_entries; k++) failed += f->entry_events[k];
            rp_cluster_disconnect(c, &f->ctx);
            f->next_attempt_us = rp_wall_us() + RETRY_MIN_US;
            break;
        }
        if (e == f->n_entries) { /* the XTRIM */
            if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
                atomic_fetch_add(&c->stream_trimmed, (uint64_t)r->integer);
        } else if (r->type == REDIS_REPLY_ERROR) {
            failed += f->entry_events[e];
        } else {
            ok += f->entry_events[e];
            entries++;
        }
        freeReplyObject(r);
    }
    atomic_fetch_add(&c->forwarded, ok);
    atomic_fetch_add(&c->forward_entries, entries);
    atomic_fetch_add(&c->forward_round_trips, 1);
    if (failed) atomic_fetch_add(&c->forward_errors, failed);
}

void *rp_cluster_forward_main(void *arg) {
    rp_cluster *c = arg;
    rp_daemon *d = c->d;
    forwarder f = {.c = c};
    rp_event *evs = calloc(FORWARD_BATCH, sizeof *evs);
    rp_str *records = calloc(FORWARD_BATCH, sizeof *records);
    /* The worst case: every record of a pop at the protocol's maximum. */
    f.pack = malloc((size_t)FORWARD_BATCH * RP_PROTO_MAX_DATAGRAM);
    if (!evs || !records || !f.pack) {
        rp_log(d, "error", "cluster forwarder: out of memory; events are not forwarded");
        free(evs);
        free(records);
        free(f.pack);
        return NULL;
    }
    for (;;) {
        size_t n = rp_queue_pop_records(d->queue, evs, records, FORWARD_BATCH, 100);
        if (!n) {
            if (atomic_load(&c->stopping)) break;
            continue;
        }
        if (!forwarder_connect(&f)) {
            atomic_fetch_add(&c->forward_errors, n);
            continue;
        }
        pack_records(&f, records, n);
        forward_round_trip(&f);
    }
    if (f.ctx) rp_cluster_disconnect(c, &f.ctx);
    free(evs);
    free(records);
    free(f.pack);
    return NULL;
}
