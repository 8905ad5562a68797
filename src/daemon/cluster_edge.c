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
 * counted in forward_errors and kept in the outage buffer, a list of
 * 1 MiB chunks bounded by cluster.buffer_mb (the oldest chunk dropped
 * and its events counted in buffer_dropped when it is full), and it
 * tries to connect again with backoff. When Redis returns, the buffer is
 * forwarded first, one batch per loop so the queue keeps draining, and
 * what is popped meanwhile is appended behind it: the fleet receives the
 * events in the order they came. A round trip cut short keeps the events
 * whose replies did not arrive (at least once: Redis may have taken some
 * of them, which a detector then reads twice).
 *
 * With cluster.local_detection the edge analyses its own events while
 * Redis is unreachable: the forwarder hands the queue to the engine
 * thread (rp_cluster_forwards_events, the hand-over) and takes it back
 * when a connection works again. Those events are not forwarded later
 * (they were analysed here); the engine's decisions are enforced here at
 * once and published through the publisher's queue when Redis returns.
 * The edge keeps enforcing its table meanwhile.
 *
 * The buffer is on disk too (cluster_spool.c): each chunk is a segment
 * file under <store>.spool, written as the chunk fills and removed when
 * the chunk is forwarded or dropped; a restarted edge reads the segments
 * back before it forwards anything, so an outage spanning a restart loses
 * no event that was buffered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_int.h"
#include "partition.h"
#include "protocol.h"

#define FORWARD_BATCH 512
#define PACK_EVENTS 32
#define PACK_BYTES 32768
#define RETRY_MIN_US 100000
#define RETRY_MAX_US 5000000
#define CHUNK_BYTES (1u << 20)

/* A record in a chunk: cluster_spool.c's (length, checksum, bytes), so
 * that the chunk's bytes are its segment file's. */
typedef struct buffer_chunk {
    struct buffer_chunk *next;
    size_t used, read; /* bytes written, bytes already forwarded */
    size_t events;     /* records not yet forwarded */
    size_t flushed;    /* bytes written to its segment */
    size_t synced;     /* of them, fdatasync'ed */
    uint64_t seq;      /* its segment's number */
    int fd;            /* its segment, open while it fills; -1 otherwise */
    bool sealed;       /* read back at start: appended to no more */
    uint8_t data[];
} buffer_chunk;

#define MAX_PARTITIONS 256
#define PACK_RECORDS (FORWARD_BATCH * (1 + RP_PARTITION_COPIES_MAX)) /* a pop and its copies */

typedef struct forwarder {
    rp_cluster *c;
    redisContext *ctx;
    int64_t next_attempt_us, backoff_us;
    uint8_t *pack;  /* the entries of one round trip, back to back */
    size_t entry_off[PACK_RECORDS + 1], entry_events[PACK_RECORDS];
    uint16_t entry_stream[PACK_RECORDS]; /* each entry's stream (rp_cluster_stream_name) */
    size_t n_entries;
    size_t n_copy_entries; /* the first ones: aggregate copies */
    size_t accepted; /* the last round trip's events Redis took */
    /* Partitioned detection (cluster.partitions): the streams' names (the
     * address streams, then the aggregate streams), and a pop's records
     * sorted by stream (stable: a client's events, and an aggregate's,
     * stay in the order they came), each with its copies counted. */
    char (*streams)[176];
    uint16_t rec_stream[PACK_RECORDS];
    uint8_t rec_copies[FORWARD_BATCH];
    rp_str sorted[PACK_RECORDS];
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
        rp_log(f->c->d, "warn", "cluster forwarder: %s; events are kept in the outage buffer "
                                "(cluster.buffer_mb %u MiB) until it comes back", err.message,
               f->c->config.buffer_mb);
    f->backoff_us = f->backoff_us ? f->backoff_us * 2 : RETRY_MIN_US * 2;
    if (f->backoff_us > RETRY_MAX_US) f->backoff_us = RETRY_MAX_US;
    f->next_attempt_us = now + f->backoff_us;
    return false;
}

/* Stably sort n records by their stream (a counting sort over the
 * streams), in place, with stream[] and, when not NULL, copies[]. */
static void sort_by_stream(forwarder *f, rp_str *records, uint16_t *stream, uint8_t *copies,
                           size_t n, unsigned streams) {
    size_t start[2 * MAX_PARTITIONS + 1] = {0};
    uint16_t sorted_stream[PACK_RECORDS];
    uint8_t sorted_copies[FORWARD_BATCH];
    for (size_t i = 0; i < n; i++) start[stream[i] + 1]++;
    for (unsigned s = 0; s < streams; s++) start[s + 1] += start[s];
    for (size_t i = 0; i < n; i++) {
        size_t at = start[stream[i]]++;
        f->sorted[at] = records[i];
        sorted_stream[at] = stream[i];
        if (copies) sorted_copies[at] = copies[i];
    }
    memcpy(records, f->sorted, n * sizeof *records);
    memcpy(stream, sorted_stream, n * sizeof *stream);
    if (copies) memcpy(copies, sorted_copies, n);
}

/* Pack the popped records into entries (PACK_EVENTS / PACK_BYTES each,
 * one stream each). evs: the records decoded, or NULL (decoded here).
 * With partitions, each record goes to its address's stream, and a copy
 * to the aggregate stream of every other partition that holds one of its
 * aggregate keys (partition.h); the copies are packed first, so that the
 * records handled by a round trip cut short are a prefix of records[]
 * (its copies were sent before it: at least once, like the record).
 * sort: reorder records[] by partition first, so that a pop makes at most
 * one short entry per partition (the caller's records[] then is in the
 * packed order, which forward_round_trip's count of handled refers to);
 * without it (the outage buffer, whose byte offsets follow the records'
 * order) an entry ends wherever the partition changes. */
static void pack_records(forwarder *f, rp_str *records, const rp_event *evs, size_t n,
                         bool sort) {
    unsigned parts = f->c->config.partitions;
    rp_str *copies = records + n; /* the caller's records[] has room for them */
    uint16_t *copy_stream = f->rec_stream + n;
    size_t n_copies = 0;
    for (size_t i = 0; i < n; i++) {
        f->rec_stream[i] = 0;
        f->rec_copies[i] = 0;
        if (parts <= 1) continue;
        rp_event ev;
        rp_decode_reason why;
        if (!evs && rp_event_decode((const uint8_t *)records[i].ptr, records[i].len, &ev, &why) !=
                        RP_OK)
            continue;
        const rp_event *e = evs ? &evs[i] : &ev;
        uint16_t part[RP_LEVEL_COUNT], to[RP_PARTITION_COPIES_MAX];
        rp_event_partitions(e, parts, part);
        /* an event without an address still has a stream */
        f->rec_stream[i] = (uint16_t)rp_partition_of_addr(&e->client, parts);
        part[RP_LEVEL_IP] = f->rec_stream[i];
        unsigned k = rp_partition_copies(part, to);
        for (unsigned j = 0; j < k; j++) {
            copies[n_copies] = records[i];
            copy_stream[n_copies++] = (uint16_t)(parts + to[j]);
        }
        f->rec_copies[i] = (uint8_t)k;
    }
    if (sort && parts > 1 && n > 1)
        sort_by_stream(f, records, f->rec_stream, f->rec_copies, n, parts);
    if (n_copies > 1) sort_by_stream(f, copies, copy_stream, NULL, n_copies, 2 * parts);
    /* The copies first, then the records: one sequence of entries. */
    size_t total = n + n_copies, off = 0, e = 0;
    f->entry_off[0] = 0;
    f->entry_events[0] = 0;
    f->n_copy_entries = 0;
    for (size_t j = 0; j < total; j++) {
        size_t i = j < n_copies ? n + j : j - n_copies;
        uint16_t stream = f->rec_stream[i];
        size_t len = records[i].len;
        if (j == 0) {
            f->entry_stream[0] = stream;
        } else if (f->entry_events[e] == PACK_EVENTS || f->entry_stream[e] != stream ||
                   j == n_copies || off - f->entry_off[e] + len > PACK_BYTES) {
            e++;
            f->entry_off[e] = off;
            f->entry_events[e] = 0;
            f->entry_stream[e] = stream;
        }
        if (j == n_copies) f->n_copy_entries = e; /* the first record's entry */
        memcpy(f->pack + off, records[i].ptr, len);
        off += len;
        f->entry_events[e]++;
    }
    f->n_entries = total ? e + 1 : 0;
    f->entry_off[f->n_entries] = off;
}

/* One round trip: the XADDs of the entries and one XTRIM, pipelined.
 * Returns the records whose replies arrived (forwarded, or refused by
 * Redis and counted); fewer than packed when the connection was lost --
 * also when Redis said "not now" (LOADING while it replays its AOF,
 * BUSY...): cluster.c's reply watch fails the connection then, so those
 * events are kept and sent again, never taken for refused. f->accepted:
 * the events Redis took. */
static size_t forward_round_trip(forwarder *f) {
    rp_cluster *c = f->c;
    bool touched[2 * MAX_PARTITIONS] = {0};
    size_t trims = 0;
    for (size_t e = 0; e < f->n_entries; e++) {
        const char *stream = f->streams[f->entry_stream[e]];
        /* h: this edge's name, once per entry (docs/cluster.md#fleet-view) */
        const char *node = rp_cluster_node(c);
        const char *argv[] = {"XADD", stream, "*", "h", node, "e",
                              (const char *)f->pack + f->entry_off[e]};
        size_t argvlen[] = {4, strlen(stream), 1, 1, strlen(node), 1,
                            f->entry_off[e + 1] - f->entry_off[e]};
        redisAppendCommandArgv(f->ctx, 7, argv, argvlen);
        touched[f->entry_stream[e]] = true;
    }
    /* One XTRIM per stream written (each partition's streams are bounded
     * by stream_maxlen on their own). */
    char maxlen[24];
    snprintf(maxlen, sizeof maxlen, "%u", c->config.stream_maxlen);
    for (unsigned p = 0; p < rp_cluster_streams(c) && p < 2 * MAX_PARTITIONS; p++) {
        if (!touched[p] && (p || f->n_entries)) continue;
        const char *targv[] = {"XTRIM", f->streams[p], "MAXLEN", "~", maxlen};
        size_t targvlen[] = {5, strlen(f->streams[p]), 6, 1, strlen(maxlen)};
        redisAppendCommandArgv(f->ctx, 5, targv, targvlen);
        trims++;
    }
    uint64_t ok = 0, failed = 0, entries = 0, copies = 0;
    size_t handled = 0;
    for (size_t e = 0; e < f->n_entries + trims; e++) {
        redisReply *r = NULL;
        if (redisGetReply(f->ctx, (void **)&r) != REDIS_OK || !r) {
            /* The connection is gone: which of the rest arrived is not
             * known; the caller keeps them (counted as not forwarded). */
            rp_log(c->d, "warn", "cluster forwarder: redis %s: %s", c->config.redis,
                   f->ctx->errstr);
            rp_cluster_disconnect(c, &f->ctx);
            f->next_attempt_us = rp_wall_us() + RETRY_MIN_US;
            break;
        }
        if (e >= f->n_entries) { /* an XTRIM */
            if (r->type == REDIS_REPLY_INTEGER && r->integer > 0)
                atomic_fetch_add(&c->stream_trimmed, (uint64_t)r->integer);
        } else if (e < f->n_copy_entries) { /* copies: their records are counted below */
            if (r->type != REDIS_REPLY_ERROR) copies += f->entry_events[e], entries++;
        } else if (r->type == REDIS_REPLY_ERROR) {
            failed += f->entry_events[e];
            handled += f->entry_events[e];
        } else {
            ok += f->entry_events[e];
            handled += f->entry_events[e];
            entries++;
        }
        freeReplyObject(r);
    }
    f->accepted = ok;
    uint64_t copied = 0;
    for (size_t i = 0; i < handled && copies; i++) copied += f->rec_copies[i] > 0;
    if (copies) {
        atomic_fetch_add(&c->aggregate_copies, copies);
        atomic_fetch_add(&c->events_copied, copied);
    }
    atomic_fetch_add(&c->forwarded, ok);
    atomic_fetch_add(&c->forward_entries, entries);
    atomic_fetch_add(&c->forward_round_trips, 1);
    if (failed) atomic_fetch_add(&c->forward_errors, failed);
    return handled;
}

/* ------------------------------------------------------- outage buffer */

/* The segment's new bytes to disk (one write a pop). A failed write (a
 * full disk) is counted and ends the segment: its events stay in memory,
 * as without a spool; what was written before is still read back. */
static void chunk_flush(rp_cluster *c, buffer_chunk *t) {
    if (t->fd < 0 || t->flushed == t->used) return;
    while (t->flushed < t->used) {
        ssize_t w = write(t->fd, t->data + t->flushed, t->used - t->flushed);
        if (w <= 0) {
            if (atomic_fetch_add(&c->spool_write_errors, 1) == 0)
                rp_log(c->d, "warn", "cluster forwarder: %s: a segment could not be written "
                                     "(counted in rampart_cluster_spool_write_errors_total); "
                                     "those events are buffered in memory only",
                       c->spool_dir);
            close(t->fd);
            t->fd = -1;
            return;
        }
        t->flushed += (size_t)w;
    }
}

/* Durability of the segments: fdatasync when a segment is complete, before
 * it is closed, and the open one's new bytes at most every
 * cluster.spool_sync_ms (checked at every pop while Redis is away, so bytes
 * written are synced within about that even if nothing follows them). A
 * crash of the host loses at most that much of an outage's events; the
 * process's own crash loses nothing (the page cache has every write). One
 * sync a second by default rather than one a pop: a flood into the buffer
 * is a pop every few hundred microseconds, and each sync a disk flush. */
static void chunk_sync(rp_cluster *c, buffer_chunk *t, bool complete) {
    if (t->fd < 0 || t->synced == t->flushed) return;
    struct timespec ts; /* monotonic: a clock set back must not stop the syncs */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (!complete && now - c->spool_synced_us < (int64_t)c->config.spool_sync_ms * 1000) return;
    c->spool_synced_us = now;
    if (fdatasync(t->fd) != 0) {
        atomic_fetch_add(&c->spool_write_errors, 1);
        return;
    }
    t->synced = t->flushed;
    atomic_fetch_add(&c->spool_syncs, 1);
}

/* The oldest chunk out of the buffer; its segment removed when it was
 * forwarded or dropped (remove), kept for the next start when the daemon
 * stops with it. */
static void chunk_drop(rp_cluster *c, bool remove) {
    buffer_chunk *h = c->buf_head;
    c->buf_head = h->next;
    if (!c->buf_head) c->buf_tail = NULL;
    c->buf_chunks--;
    atomic_fetch_sub(&c->buffer_events, h->events);
    atomic_fetch_sub(&c->buffer_bytes, h->used - h->read);
    if (h->fd >= 0) close(h->fd);
    if (remove && c->spool_dir[0]) {
        char path[700];
        rp_spool_path(c->spool_dir, h->seq, path, sizeof path);
        unlink(path);
    }
    free(h);
}

void rp_cluster_buffer_free(rp_cluster *c) {
    while (c->buf_head) chunk_drop(c, false);
}

/* The segments a previous run left (an outage spanning the restart), back
 * into the buffer in their order, before anything is forwarded; at most
 * cluster.buffer_mb of them, the newest. */
#define SPOOL_LIST_MAX 4096
static void spool_restore(rp_cluster *c) {
    if (!c->spool_dir[0]) return;
    uint64_t *seqs = malloc(SPOOL_LIST_MAX * sizeof *seqs);
    if (!seqs) return;
    unsigned foreign = 0;
    size_t n = rp_spool_list(c->spool_dir, seqs, SPOOL_LIST_MAX, &foreign);
    size_t first = n > c->config.buffer_mb ? n - c->config.buffer_mb : 0;
    uint64_t events = 0;
    unsigned damaged = foreign, segments = 0;
    char path[700];
    for (size_t i = 0; i < n; i++) {
        rp_spool_path(c->spool_dir, seqs[i], path, sizeof path);
        if (seqs[i] >= c->spool_next_seq) c->spool_next_seq = seqs[i] + 1;
        buffer_chunk *t = i < first ? NULL : malloc(sizeof *t + CHUNK_BYTES);
        rp_spool_segment seg = {0};
        rp_error err = {0};
        if (!t || rp_spool_read(path, t->data, CHUNK_BYTES, &seg, &err) != RP_OK ||
            !seg.events) {
            damaged += seg.damaged;
            free(t);
            unlink(path); /* beyond the bound, unreadable, or nothing valid in it */
            continue;
        }
        damaged += seg.damaged;
        t->next = NULL;
        t->used = t->flushed = seg.used;
        t->read = seg.read;
        t->events = seg.events;
        t->seq = seqs[i];
        t->fd = -1;
        t->sealed = true;
        if (c->buf_tail) c->buf_tail->next = t;
        else c->buf_head = t;
        c->buf_tail = t;
        c->buf_chunks++;
        segments++;
        events += seg.events;
        atomic_fetch_add(&c->buffer_events, seg.events);
        atomic_fetch_add(&c->buffer_bytes, seg.used - seg.read);
    }
    free(seqs);
    atomic_fetch_add(&c->spool_restored, events);
    atomic_fetch_add(&c->spool_damaged, damaged);
    if (damaged)
        rp_log(c->d, "warn", "cluster forwarder: %s: %u damaged, truncated or foreign files "
                             "(their valid records kept, the rest skipped)",
               c->spool_dir, damaged);
    if (segments)
        rp_log(c->d, "info", "cluster forwarder: %llu buffered events restored from %s (%u "
                             "segments), forwarded when redis answers",
               (unsigned long long)events, c->spool_dir, segments);
}

/* Keep one record for later; the oldest chunk goes when the buffer is
 * full (its events counted as dropped). */
static void buffer_append(rp_cluster *c, const rp_str *rec) {
    uint32_t len = (uint32_t)rec->len;
    size_t size = RP_SPOOL_RECORD_HEAD + len;
    buffer_chunk *t = c->buf_tail;
    if (!t || t->sealed || t->used + size > CHUNK_BYTES) {
        if (c->config.buffer_mb == 0) {
            atomic_fetch_add(&c->buffer_dropped, 1);
            return;
        }
        if (t) { /* its segment is complete: written, synced, closed */
            chunk_flush(c, t);
            chunk_sync(c, t, true);
            if (t->fd >= 0) close(t->fd);
            t->fd = -1;
        }
        if (c->buf_chunks >= c->config.buffer_mb) {
            atomic_fetch_add(&c->buffer_dropped, c->buf_head->events);
            chunk_drop(c, true);
        }
        t = malloc(sizeof *t + CHUNK_BYTES);
        if (!t) {
            atomic_fetch_add(&c->buffer_dropped, 1);
            return;
        }
        t->next = NULL;
        t->used = t->read = t->events = t->flushed = t->synced = 0;
        t->sealed = false;
        t->seq = c->spool_next_seq++;
        t->fd = -1;
        if (c->spool_dir[0] && (t->fd = rp_spool_create(c->spool_dir, t->seq)) < 0 &&
            atomic_fetch_add(&c->spool_write_errors, 1) == 0)
            rp_log(c->d, "warn", "cluster forwarder: %s: a segment could not be created; "
                                 "buffered events are kept in memory only", c->spool_dir);
        if (c->buf_tail) c->buf_tail->next = t;
        else c->buf_head = t;
        c->buf_tail = t;
        c->buf_chunks++;
    }
    t->used += rp_spool_record_put(t->data + t->used, rec->ptr, len);
    t->events++;
    atomic_fetch_add(&c->buffered, 1);
    atomic_fetch_add(&c->buffer_events, 1);
    atomic_fetch_add(&c->buffer_bytes, size);
}

static void buffer_records(rp_cluster *c, const rp_str *records, size_t n) {
    for (size_t i = 0; i < n; i++) buffer_append(c, &records[i]);
    if (c->buf_tail) {
        chunk_flush(c, c->buf_tail);
        chunk_sync(c, c->buf_tail, false);
    }
}

/* Forward one batch of the oldest buffered records; false when the
 * connection was lost (what was not confirmed stays buffered). */
static bool buffer_replay(forwarder *f, rp_str *records) {
    rp_cluster *c = f->c;
    buffer_chunk *h = c->buf_head;
    size_t n = 0, off = h->read;
    size_t offs[FORWARD_BATCH + 1];
    while (n < FORWARD_BATCH && off < h->used) {
        const uint8_t *rec;
        uint32_t len;
        /* the chunk's own bytes (or a segment read back and checked) */
        size_t step = rp_spool_record_get(h->data + off, h->used - off, &rec, &len);
        if (!step) break;
        offs[n] = off;
        records[n].ptr = (const char *)rec;
        records[n].len = len;
        off += step;
        n++;
    }
    offs[n] = off;
    if (!n) { /* a record that does not check out: the chunk cannot be read further */
        atomic_fetch_add(&c->buffer_dropped, h->events);
        chunk_drop(c, true);
        return true;
    }
    pack_records(f, records, NULL, n, false);
    size_t handled = forward_round_trip(f);
    /* replayed: what Redis took; a refusal for good (handled, not taken)
     * is in forward_errors */
    atomic_fetch_add(&c->buffer_replayed, f->accepted);
    atomic_fetch_sub(&c->buffer_events, handled);
    atomic_fetch_sub(&c->buffer_bytes, offs[handled] - h->read);
    h->read = offs[handled];
    h->events -= handled;
    if (h->read == h->used) chunk_drop(c, true); /* forwarded: its segment goes */
    else if (handled && c->spool_dir[0] && !rp_spool_mark(c->spool_dir, h->seq, &h->fd, h->read))
        atomic_fetch_add(&c->spool_write_errors, 1); /* a restart would send them again */
    return handled == n;
}

/* What this edge's nginx refused, counted by the decision in force as a
 * standalone daemon's engine counts it (rp_daemon_count_refused): the
 * engine does not see what is forwarded. Not what goes to local
 * detection: the engine counts that. */
static void count_refused(rp_daemon *d, const rp_event *evs, size_t n) {
    pthread_mutex_lock(&d->engine_lock);
    rp_daemon_count_refused(d, evs, n);
    pthread_mutex_unlock(&d->engine_lock);
}

/* ------------------------------------------------------ local detection */

static uint64_t queue_popped(rp_daemon *d) {
    rp_queue_stats qs;
    rp_queue_get_stats(d->queue, &qs);
    return qs.popped;
}

/* Hand the queue to the engine thread until Redis returns. The records
 * just popped go back into the queue (behind what is there: one batch
 * out of order at most) for the engine: every event of the outage is
 * analysed here, none is half here and half on the detector. */
static void local_enter(rp_cluster *c, const rp_str *records, size_t n, uint64_t *popped_at) {
    for (size_t i = 0; i < n; i++)
        rp_queue_push_encoded(c->d->queue, (const uint8_t *)records[i].ptr, records[i].len);
    pthread_mutex_lock(&c->local_lock);
    c->local_mode = true;
    pthread_mutex_unlock(&c->local_lock);
    atomic_store(&c->local_gauge, 1);
    *popped_at = queue_popped(c->d);
    rp_log(c->d, "warn", "cluster edge: redis %s unreachable; local detection on (this edge's "
                         "engine analyses its events, its decisions are published when redis "
                         "returns)", c->config.redis);
}

/* Take the queue back: only once the engine thread has been told (it
 * pops no more), so the queue never has two consumers. */
static void local_leave(rp_cluster *c, uint64_t popped_at) {
    pthread_mutex_lock(&c->local_lock);
    c->local_mode = false;
    bool consuming = c->engine_consuming;
    pthread_mutex_unlock(&c->local_lock);
    while (consuming && !atomic_load(&c->stopping)) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&c->local_lock);
        consuming = c->engine_consuming;
        pthread_mutex_unlock(&c->local_lock);
    }
    uint64_t n = queue_popped(c->d) - popped_at;
    atomic_fetch_add(&c->local_events, n);
    atomic_store(&c->local_gauge, 0);
    rp_log(c->d, "info", "cluster edge: redis %s is back; local detection off after %llu events, "
                         "forwarding again", c->config.redis, (unsigned long long)n);
}

void *rp_cluster_forward_main(void *arg) {
    rp_cluster *c = arg;
    rp_daemon *d = c->d;
    forwarder f = {.c = c};
    rp_event *evs = calloc(FORWARD_BATCH, sizeof *evs);
    rp_str *records = calloc(PACK_RECORDS, sizeof *records);
    /* The worst case: every record of a pop at the protocol's maximum,
     * with as many copies as it can have. */
    unsigned streams = rp_cluster_streams(c);
    f.pack = malloc((size_t)FORWARD_BATCH * (streams > 1 ? 1 + RP_PARTITION_COPIES_MAX : 1) *
                    RP_PROTO_MAX_DATAGRAM);
    f.streams = calloc(streams, sizeof *f.streams);
    if (f.streams)
        for (unsigned s = 0; s < streams; s++)
            rp_cluster_stream_name(c, s, f.streams[s], sizeof f.streams[s]);
    if (!evs || !records || !f.pack || !f.streams) {
        rp_log(d, "error", "cluster forwarder: out of memory; events are not forwarded");
        free(evs);
        free(records);
        free(f.pack);
        free(f.streams);
        return NULL;
    }
    spool_restore(c); /* a previous run's buffer first */
    bool local = false;
    uint64_t local_popped_at = 0;
    for (;;) {
        if (local) { /* the engine consumes the queue; wait for redis */
            if (atomic_load(&c->stopping)) break;
            if (forwarder_connect(&f)) {
                local_leave(c, local_popped_at);
                local = false;
            } else {
                rp_cluster_sleep(c, 50);
            }
            continue;
        }
        /* With a backlog and a connection, do not wait for new events. */
        int wait_ms = c->buf_head && f.ctx ? 0 : 100;
        size_t n = rp_queue_pop_records(d->queue, evs, records, FORWARD_BATCH, wait_ms);
        if (!n && !c->buf_head) {
            if (atomic_load(&c->stopping)) break;
            continue;
        }
        if (!n && atomic_load(&c->stopping)) break; /* a backlog left at stop is lost */
        if (!forwarder_connect(&f)) {
            atomic_fetch_add(&c->forward_errors, n);
            if (c->config.local_detection) {
                local_enter(c, records, n, &local_popped_at);
                local = true;
            } else {
                count_refused(d, evs, n);
                buffer_records(c, records, n);
            }
            continue;
        }
        if (c->buf_head) {
            /* In order: new events behind the backlog, and one batch of it
             * per loop, so the queue keeps draining meanwhile. */
            count_refused(d, evs, n);
            buffer_records(c, records, n);
            buffer_replay(&f, records);
            if (!c->buf_head)
                rp_log(d, "info", "cluster forwarder: outage buffer forwarded (%llu events so "
                                  "far)", (unsigned long long)atomic_load(&c->buffer_replayed));
            continue;
        }
        pack_records(&f, records, evs, n, true);
        size_t handled = forward_round_trip(&f);
        count_refused(d, evs, handled < n && c->config.local_detection ? handled : n);
        if (handled < n) { /* the connection was lost: keep the rest */
            atomic_fetch_add(&c->forward_errors, n - handled);
            if (c->config.local_detection) {
                local_enter(c, records + handled, n - handled, &local_popped_at);
                local = true;
            } else {
                buffer_records(c, records + handled, n - handled);
            }
        }
    }
    if (local) local_leave(c, local_popped_at);
    if (f.ctx) rp_cluster_disconnect(c, &f.ctx);
    free(evs);
    free(records);
    free(f.pack);
    free(f.streams);
    return NULL;
}
