/*
 * queue.h -- the bounded queue between the ingest threads and the engine
 * thread.
 *
 * Many producers (datagram socket, syslog, tail), one consumer (the engine
 * thread). Events are stored encoded with the wire protocol (protocol.h)
 * in a fixed byte ring, so an event costs its real size and the queue's
 * memory is fixed at creation. A push never waits for the engine: when the
 * ring is full the event is dropped and counted -- ingestion must never
 * block on analysis, and a drop is never silent.
 */
#ifndef RP_QUEUE_H
#define RP_QUEUE_H

#include "rampart.h"

typedef struct rp_queue rp_queue;

rp_status rp_queue_new(size_t bytes, rp_queue **out);
void rp_queue_free(rp_queue *q);
/* false (and the drop counted) when full or closed. */
bool rp_queue_push(rp_queue *q, const rp_event *ev);
/* Push an already encoded event (a datagram that decoded cleanly). */
bool rp_queue_push_encoded(rp_queue *q, const uint8_t *data, size_t len);
/* Wait up to timeout_ms for events, then decode up to max of them into
 * evs; their strings point into storage owned by the queue and stay
 * valid until the next pop. Returns the count (0 on timeout or close). */
size_t rp_queue_pop(rp_queue *q, rp_event *evs, size_t max, int timeout_ms);
/* The same, and records[i] is event i's encoding (protocol.h), valid as
 * long as its strings: for a consumer that keeps events as they came. */
size_t rp_queue_pop_records(rp_queue *q, rp_event *evs, rp_str *records, size_t max,
                            int timeout_ms);
/* Hand over a batch of n events already decoded by their producer, by
 * reference: no copy into the ring and no second decode (the cluster
 * reader decodes each event once to check it). evs[i]'s strings and
 * records[i] (its encoding, for the recent-events window) point into
 * storage the producer keeps untouched until the consumer is done with
 * the batch (rp_queue_batch_wait). Returns the batch's ticket (> 0), or
 * 0 when the queue is closed or holds RP_QUEUE_BATCHES batches already:
 * then nothing was handed over. */
#define RP_QUEUE_BATCHES 4
uint64_t rp_queue_push_batch(rp_queue *q, const rp_event *evs, const rp_str *records, size_t n);
/* Wait up to timeout_ms (0: just look) until the consumer is done with
 * batch `ticket`: it has popped all its events and popped again after
 * that, so it has processed them (the pop contract: a pop's events are
 * the consumer's until its next pop). True when done. */
bool rp_queue_batch_wait(rp_queue *q, uint64_t ticket, int timeout_ms);
/* Wake the consumer and refuse further pushes. */
void rp_queue_close(rp_queue *q);

typedef struct rp_queue_stats {
    uint64_t pushed, popped, dropped_full;
    size_t bytes_used, bytes_capacity;
} rp_queue_stats;

void rp_queue_get_stats(rp_queue *q, rp_queue_stats *s);

#endif
