/*
 * queue.c -- the bounded byte ring between the ingest threads and the
 * engine thread (queue.h).
 *
 * Records are [u32 length][encoded event] (protocol.h), stored back to
 * back in a ring of fixed size; a record may wrap around the end of the
 * ring, so both the writer and the reader copy in at most two pieces.
 * Storing the encoding rather than rp_event structs makes an event cost
 * its real size (a 100-byte request is ~130 bytes, not a struct plus the
 * largest strings), and a datagram from the nginx module goes in as it
 * arrived, without a decode/encode round.
 *
 * Locking: one mutex guards the ring and the counters. Producers hold it
 * for one memcpy. The consumer holds it only to copy whole records out
 * into its own buffer (`out`), then decodes outside the lock, so a slow
 * decode never holds back the producers. The decoded events point into
 * `out`, which is why they stay valid until the next pop -- and why there
 * must be one consumer.
 *
 * Batches (rp_queue_push_batch) bypass the ring: a producer that has
 * decoded its events anyway (the cluster reader checks every event from
 * Redis) hands them over by reference, and the pop copies the rp_event
 * structs out, so such an event is decoded once and its bytes are never
 * copied. The producer keeps the batch's storage until the consumer is
 * done with it: done means every event of it was popped and the consumer
 * has popped again since (a pop's events are the consumer's until its
 * next pop). At most RP_QUEUE_BATCHES are held at once.
 *
 * Bounds: the ring is `bytes` long and `out` is min(bytes, 1 MiB); since a
 * record is at most RP_PROTO_MAX_DATAGRAM + 4 bytes, any record that fits
 * the ring fits `out` too. Nothing is allocated after rp_queue_new.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol.h"
#include "queue.h"

#define RECORD_HEADER 4
/* Large enough to hand the engine thousands of events per wake-up; the
 * ring itself may be much larger. */
#define OUT_MAX (1u << 20)
/* A ring smaller than this cannot hold a useful number of events. */
#define QUEUE_MIN_BYTES 256

struct rp_queue {
    pthread_mutex_t lock;
    pthread_cond_t nonempty;
    uint8_t *ring;
    size_t capacity;
    size_t head;  /* next byte to read */
    size_t used;  /* bytes of records in the ring */
    size_t count; /* records in the ring */
    bool closed;
    bool consumer_waiting;
    uint64_t pushed, popped, dropped_full;
    /* Batches by reference, FIFO by ticket: ticket t is in slot
     * t % RP_QUEUE_BATCHES while batches_done < t <= batches_pushed.
     * batches_taken are wholly popped (done at the next pop); batch_at is
     * the next event of the one after them. */
    struct {
        const rp_event *evs;
        const rp_str *records;
        size_t n;
    } batches[RP_QUEUE_BATCHES];
    uint64_t batches_pushed, batches_taken, batches_done;
    size_t batch_at;
    pthread_cond_t batch_done; /* producers waiting on a ticket */
    int producers_waiting;
    /* Consumer side: records copied out under the lock, decoded after. */
    uint8_t *out;
    size_t out_capacity;
};

rp_status rp_queue_new(size_t bytes, rp_queue **out) {
    *out = NULL;
    if (bytes < QUEUE_MIN_BYTES) return RP_EINVAL;
    rp_queue *q = calloc(1, sizeof *q);
    if (!q) return RP_ENOMEM;
    q->capacity = bytes;
    q->out_capacity = bytes < OUT_MAX ? bytes : OUT_MAX;
    q->ring = malloc(q->capacity);
    q->out = malloc(q->out_capacity);
    pthread_condattr_t attr;
    bool cond_ok = false, done_ok = false;
    if (pthread_condattr_init(&attr) == 0) {
        /* Timeouts on the monotonic clock: a wall-clock step must not make
         * the engine thread sleep for an hour. */
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
        cond_ok = pthread_cond_init(&q->nonempty, &attr) == 0;
        done_ok = pthread_cond_init(&q->batch_done, &attr) == 0;
        pthread_condattr_destroy(&attr);
    }
    bool lock_ok = pthread_mutex_init(&q->lock, NULL) == 0;
    if (!q->ring || !q->out || !cond_ok || !done_ok || !lock_ok) {
        if (cond_ok) pthread_cond_destroy(&q->nonempty);
        if (done_ok) pthread_cond_destroy(&q->batch_done);
        if (lock_ok) pthread_mutex_destroy(&q->lock);
        free(q->ring);
        free(q->out);
        free(q);
        return RP_ENOMEM;
    }
    *out = q;
    return RP_OK;
}

void rp_queue_free(rp_queue *q) {
    if (!q) return;
    pthread_cond_destroy(&q->nonempty);
    pthread_cond_destroy(&q->batch_done);
    pthread_mutex_destroy(&q->lock);
    free(q->ring);
    free(q->out);
    free(q);
}

/* ------------------------------------------------------------------- ring */

/* Copy n bytes into the ring at position pos (mod capacity). */
static void ring_write(rp_queue *q, size_t pos, const uint8_t *src, size_t n) {
    pos %= q->capacity;
    size_t first = q->capacity - pos;
    if (first > n) first = n;
    memcpy(q->ring + pos, src, first);
    if (n > first) memcpy(q->ring, src + first, n - first);
}

static void ring_read(const rp_queue *q, size_t pos, uint8_t *dst, size_t n) {
    pos %= q->capacity;
    size_t first = q->capacity - pos;
    if (first > n) first = n;
    memcpy(dst, q->ring + pos, first);
    if (n > first) memcpy(dst + first, q->ring, n - first);
}

static void put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* --------------------------------------------------------------- produce */

bool rp_queue_push_encoded(rp_queue *q, const uint8_t *data, size_t len) {
    size_t need = RECORD_HEADER + len;
    pthread_mutex_lock(&q->lock);
    /* A closed queue, and a record larger than any datagram (it could
     * never be handed to the consumer), count as drops too: the event is
     * lost either way and must not be lost silently. */
    if (q->closed || len == 0 || len > RP_PROTO_MAX_DATAGRAM || need > q->capacity - q->used) {
        q->dropped_full++;
        pthread_mutex_unlock(&q->lock);
        return false;
    }
    uint8_t header[RECORD_HEADER];
    put_u32(header, (uint32_t)len);
    size_t tail = q->head + q->used;
    ring_write(q, tail, header, RECORD_HEADER);
    ring_write(q, tail + RECORD_HEADER, data, len);
    q->used += need;
    q->count++;
    q->pushed++;
    bool wake = q->consumer_waiting;
    pthread_mutex_unlock(&q->lock);
    /* Signalling only a waiting consumer keeps the common case (the engine
     * is busy) to one lock round per push. */
    if (wake) pthread_cond_signal(&q->nonempty);
    return true;
}

bool rp_queue_push(rp_queue *q, const rp_event *ev) {
    /* Encoding outside the lock keeps the critical section a memcpy. */
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = rp_event_encode(ev, buf, sizeof buf);
    return rp_queue_push_encoded(q, buf, n);
}

uint64_t rp_queue_push_batch(rp_queue *q, const rp_event *evs, const rp_str *records, size_t n) {
    if (n == 0) return 0;
    pthread_mutex_lock(&q->lock);
    if (q->closed || q->batches_pushed - q->batches_done >= RP_QUEUE_BATCHES) {
        pthread_mutex_unlock(&q->lock);
        return 0;
    }
    uint64_t ticket = ++q->batches_pushed;
    size_t slot = ticket % RP_QUEUE_BATCHES;
    q->batches[slot].evs = evs;
    q->batches[slot].records = records;
    q->batches[slot].n = n;
    q->pushed += n;
    bool wake = q->consumer_waiting;
    pthread_mutex_unlock(&q->lock);
    if (wake) pthread_cond_signal(&q->nonempty);
    return ticket;
}

static void deadline_after(struct timespec *ts, int timeout_ms);

bool rp_queue_batch_wait(rp_queue *q, uint64_t ticket, int timeout_ms) {
    pthread_mutex_lock(&q->lock);
    /* Not cut short by a close: the consumer drains what is held. */
    if (timeout_ms > 0 && q->batches_done < ticket) {
        struct timespec deadline;
        deadline_after(&deadline, timeout_ms);
        q->producers_waiting++;
        while (q->batches_done < ticket)
            if (pthread_cond_timedwait(&q->batch_done, &q->lock, &deadline) == ETIMEDOUT) break;
        q->producers_waiting--;
    }
    bool done = q->batches_done >= ticket;
    pthread_mutex_unlock(&q->lock);
    return done;
}

/* --------------------------------------------------------------- consume */

static void deadline_after(struct timespec *ts, int timeout_ms) {
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Wait (lock held) until there is a record, the queue is closed, or the
 * timeout passes. timeout_ms < 0 waits without a limit. */
static void wait_nonempty(rp_queue *q, int timeout_ms) {
    if (q->count || q->batches_taken < q->batches_pushed || q->closed || timeout_ms == 0) return;
    struct timespec deadline;
    if (timeout_ms > 0) deadline_after(&deadline, timeout_ms);
    q->consumer_waiting = true;
    while (!q->count && q->batches_taken == q->batches_pushed && !q->closed) {
        int rc = timeout_ms > 0 ? pthread_cond_timedwait(&q->nonempty, &q->lock, &deadline)
                                : pthread_cond_wait(&q->nonempty, &q->lock);
        if (rc == ETIMEDOUT) break;
    }
    q->consumer_waiting = false;
}

/* Move up to max whole records from the ring into q->out (lock held).
 * Returns the bytes copied; *records says how many. */
static size_t take_records(rp_queue *q, size_t max, size_t *records) {
    size_t copied = 0, n = 0;
    while (n < max && q->count) {
        uint8_t header[RECORD_HEADER];
        ring_read(q, q->head, header, RECORD_HEADER);
        size_t need = RECORD_HEADER + get_u32(header);
        if (copied + need > q->out_capacity) break;
        ring_read(q, q->head, q->out + copied, need);
        copied += need;
        q->head = (q->head + need) % q->capacity;
        q->used -= need;
        q->count--;
        n++;
    }
    /* An empty ring restarts at 0 so records wrap less often. */
    if (!q->count) q->head = 0;
    *records = n;
    return copied;
}

/* A run of one batch's events handed to the consumer by a pop. */
typedef struct batch_span {
    const rp_event *evs;
    const rp_str *records;
    size_t n;
} batch_span;

/* Up to max events of the batches (lock held), oldest first, as spans
 * (at most one per batch held). Returns the events taken. */
static size_t take_batches(rp_queue *q, size_t max, batch_span *spans, size_t *nspans) {
    size_t n = 0;
    *nspans = 0;
    while (n < max && q->batches_taken < q->batches_pushed) {
        size_t slot = (q->batches_taken + 1) % RP_QUEUE_BATCHES;
        size_t left = q->batches[slot].n - q->batch_at, take = max - n < left ? max - n : left;
        spans[*nspans].evs = q->batches[slot].evs + q->batch_at;
        spans[*nspans].records = q->batches[slot].records + q->batch_at;
        spans[(*nspans)++].n = take;
        n += take;
        q->batch_at += take;
        if (q->batch_at == q->batches[slot].n) q->batches_taken++, q->batch_at = 0;
    }
    return n;
}

/* After rp_queue_close the consumer still drains what is left; 0 then
 * means closed and empty. */
size_t rp_queue_pop_records(rp_queue *q, rp_event *evs, rp_str *records, size_t max,
                            int timeout_ms) {
    if (max == 0) return 0;
    pthread_mutex_lock(&q->lock);
    /* This pop ends the consumer's use of the last one's events: the
     * batches wholly popped by then are done. */
    bool wake = q->batches_done < q->batches_taken && q->producers_waiting;
    q->batches_done = q->batches_taken;
    wait_nonempty(q, timeout_ms);
    size_t taken;
    size_t bytes = take_records(q, max, &taken);
    batch_span spans[RP_QUEUE_BATCHES];
    size_t nspans;
    size_t from_batches = take_batches(q, max - taken, spans, &nspans);
    q->popped += taken + from_batches;
    pthread_mutex_unlock(&q->lock);
    if (wake) pthread_cond_broadcast(&q->batch_done);

    /* Decode outside the lock. Every record was encoded by rp_event_encode
     * or decoded cleanly before push_encoded, so a failure here means a
     * caller pushed garbage: it is skipped rather than handed on. */
    size_t got = 0;
    for (size_t at = 0; at < bytes;) {
        size_t len = get_u32(q->out + at);
        const uint8_t *rec = q->out + at + RECORD_HEADER;
        rp_decode_reason why;
        if (rp_event_decode(rec, len, &evs[got], &why) == RP_OK) {
            if (records) {
                records[got].ptr = (const char *)rec;
                records[got].len = (uint32_t)len;
            }
            got++;
        }
        at += RECORD_HEADER + len;
    }
    /* A batch's events were decoded by their producer: copied as they are
     * (outside the lock: a batch's storage stays put until it is done). */
    for (size_t i = 0; i < nspans; i++) {
        memcpy(evs + got, spans[i].evs, spans[i].n * sizeof *evs);
        if (records) memcpy(records + got, spans[i].records, spans[i].n * sizeof *records);
        got += spans[i].n;
    }
    return got;
}

size_t rp_queue_pop(rp_queue *q, rp_event *evs, size_t max, int timeout_ms) {
    return rp_queue_pop_records(q, evs, NULL, max, timeout_ms);
}

void rp_queue_close(rp_queue *q) {
    pthread_mutex_lock(&q->lock);
    q->closed = true;
    pthread_mutex_unlock(&q->lock);
    pthread_cond_broadcast(&q->nonempty);
}

void rp_queue_get_stats(rp_queue *q, rp_queue_stats *s) {
    pthread_mutex_lock(&q->lock);
    s->pushed = q->pushed;
    s->popped = q->popped;
    s->dropped_full = q->dropped_full;
    s->bytes_used = q->used;
    s->bytes_capacity = q->capacity;
    pthread_mutex_unlock(&q->lock);
}
