/*
 * test_queue.c -- the bounded ingest queue: order, wrap-around, drops when
 * full, close, batches handed over by reference (done only once the
 * consumer has popped past them), and exact accounting under several
 * producer threads.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "protocol.h"
#include "queue.h"

static rp_event make_event(int64_t ts, const char *path) {
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_us = ts;
    ev.upstream_us = -1;
    ev.status = 200;
    ev.method = RP_METHOD_GET;
    ev.path = (rp_str){path, (uint32_t)strlen(path)};
    return ev;
}

static rp_queue *new_queue(size_t bytes) {
    rp_queue *q = NULL;
    assert_int_equal(rp_queue_new(bytes, &q), RP_OK);
    assert_non_null(q);
    return q;
}

static void test_queue_pops_events_in_fifo_order(void **state) {
    rp_queue *q = new_queue(4096);
    const char *paths[3] = {"/a", "/bb", "/ccc"};
    for (int i = 0; i < 3; i++) {
        rp_event ev = make_event(100 + i, paths[i]);
        assert_true(rp_queue_push(q, &ev));
    }
    rp_event out[8];
    assert_int_equal(rp_queue_pop(q, out, 8, 0), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(out[i].ts_us, 100 + i);
        assert_int_equal(out[i].path.len, strlen(paths[i]));
        assert_memory_equal(out[i].path.ptr, paths[i], strlen(paths[i]));
    }
    rp_queue_stats s;
    rp_queue_get_stats(q, &s);
    assert_int_equal(s.pushed, 3);
    assert_int_equal(s.popped, 3);
    assert_int_equal(s.bytes_used, 0);
    assert_int_equal(s.bytes_capacity, 4096);
    rp_queue_free(q);
}

static void test_queue_pop_returns_at_most_max(void **state) {
    rp_queue *q = new_queue(4096);
    for (int i = 0; i < 5; i++) {
        rp_event ev = make_event(i, "/");
        assert_true(rp_queue_push(q, &ev));
    }
    rp_event out[5];
    assert_int_equal(rp_queue_pop(q, out, 2, 0), 2);
    assert_int_equal(out[1].ts_us, 1);
    assert_int_equal(rp_queue_pop(q, out, 5, 0), 3);
    assert_int_equal(out[0].ts_us, 2);
    rp_queue_free(q);
}

static void test_queue_pop_times_out_when_empty(void **state) {
    rp_queue *q = new_queue(4096);
    rp_event out[1];
    assert_int_equal(rp_queue_pop(q, out, 1, 20), 0);
    assert_int_equal(rp_queue_pop(q, out, 1, 0), 0);
    rp_queue_free(q);
}

/* A ring of 1000 bytes holds 8 records of 111 to 115 bytes; pushing and
 * popping 3 at a time for 100 rounds makes records straddle the end. */
static void test_queue_records_wrap_around_the_ring(void **state) {
    rp_queue *q = new_queue(1000);
    char path[8];
    int64_t next_in = 0, next_out = 0;
    for (int round = 0; round < 100; round++) {
        for (int k = 0; k < 3; k++) {
            int len = (int)(next_in % 5) + 1; /* 1..5 bytes: uneven records */
            memset(path, 'a' + (int)(next_in % 26), (size_t)len);
            rp_event ev = make_event(next_in, "");
            ev.path = (rp_str){path, (uint32_t)len};
            assert_true(rp_queue_push(q, &ev));
            next_in++;
        }
        rp_event out[3];
        assert_int_equal(rp_queue_pop(q, out, 3, 0), 3);
        for (int k = 0; k < 3; k++, next_out++) {
            assert_int_equal(out[k].ts_us, next_out);
            assert_int_equal(out[k].path.len, next_out % 5 + 1);
            assert_int_equal(out[k].path.ptr[0], 'a' + next_out % 26);
        }
    }
    rp_queue_free(q);
}

static void test_queue_full_push_is_dropped_and_counted(void **state) {
    rp_queue *q = new_queue(1000);
    rp_event ev = make_event(1, "/x");
    int accepted = 0;
    for (int i = 0; i < 20; i++) accepted += rp_queue_push(q, &ev);
    /* Each record is 4 + 106 + 2 = 112 bytes: 8 fit in 1000. */
    assert_int_equal(accepted, 8);
    rp_queue_stats s;
    rp_queue_get_stats(q, &s);
    assert_int_equal(s.pushed, 8);
    assert_int_equal(s.dropped_full, 12);
    assert_int_equal(s.bytes_used, 8 * 112);
    /* Room again after a pop. */
    rp_event out[1];
    assert_int_equal(rp_queue_pop(q, out, 1, 0), 1);
    assert_true(rp_queue_push(q, &ev));
    rp_queue_free(q);
}

static void test_queue_push_encoded_keeps_datagram_bytes(void **state) {
    rp_queue *q = new_queue(4096);
    rp_event ev = make_event(42, "/login");
    ev.credential_id = 7;
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    size_t n = rp_event_encode(&ev, buf, sizeof buf);
    assert_true(rp_queue_push_encoded(q, buf, n));
    rp_event out[1];
    assert_int_equal(rp_queue_pop(q, out, 1, 0), 1);
    assert_int_equal(out[0].ts_us, 42);
    assert_int_equal(out[0].credential_id, 7);
    assert_memory_equal(out[0].path.ptr, "/login", 6);
    rp_queue_free(q);
}

static void test_queue_refuses_tiny_capacity(void **state) {
    rp_queue *q = (rp_queue *)1;
    assert_int_equal(rp_queue_new(16, &q), RP_EINVAL);
    assert_null(q);
}

/* ----------------------------------------------------------------- close */

static void *pop_forever(void *arg) {
    static rp_event out[4];
    size_t n = rp_queue_pop(arg, out, 4, -1);
    return (void *)(uintptr_t)(n + 1);
}

static void test_queue_close_wakes_a_waiting_consumer(void **state) {
    rp_queue *q = new_queue(4096);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, pop_forever, q), 0);
    /* Give the consumer time to block; the result is the same if not. */
    struct timespec pause = {0, 20 * 1000000L};
    nanosleep(&pause, NULL);
    rp_queue_close(q);
    void *ret;
    assert_int_equal(pthread_join(t, &ret), 0);
    assert_int_equal((uintptr_t)ret, 1); /* popped 0 */
    rp_queue_free(q);
}

static void test_queue_close_refuses_pushes_but_drains(void **state) {
    rp_queue *q = new_queue(4096);
    rp_event ev = make_event(5, "/");
    assert_true(rp_queue_push(q, &ev));
    rp_queue_close(q);
    assert_false(rp_queue_push(q, &ev));
    rp_event out[2];
    assert_int_equal(rp_queue_pop(q, out, 2, -1), 1);
    assert_int_equal(out[0].ts_us, 5);
    assert_int_equal(rp_queue_pop(q, out, 2, -1), 0);
    rp_queue_stats s;
    rp_queue_get_stats(q, &s);
    assert_int_equal(s.dropped_full, 1);
    rp_queue_free(q);
}

/* ---------------------------------------------------------------- batches */

/* A producer's batch: events decoded by it, records standing for their
 * encodings; the queue keeps pointers, never copies. */
#define BATCH_N 5
typedef struct test_batch {
    rp_event evs[BATCH_N];
    rp_str records[BATCH_N];
    char bytes[BATCH_N][8];
} test_batch;

static void fill_batch(test_batch *b, int64_t ts0) {
    for (int i = 0; i < BATCH_N; i++) {
        memcpy(b->bytes[i], "/b0", 4);
        b->bytes[i][2] = (char)('0' + i);
        b->evs[i] = make_event(ts0 + i, b->bytes[i]);
        b->records[i] = (rp_str){b->bytes[i], 3};
    }
}

static void test_queue_batch_pops_after_ring_records_by_reference(void **state) {
    rp_queue *q = new_queue(4096);
    rp_event ev = make_event(1, "/ring");
    assert_true(rp_queue_push(q, &ev));
    test_batch b;
    fill_batch(&b, 100);
    uint64_t ticket = rp_queue_push_batch(q, b.evs, b.records, BATCH_N);
    assert_int_equal(ticket, 1);
    rp_event out[8];
    rp_str rec[8];
    assert_int_equal(rp_queue_pop_records(q, out, rec, 8, 0), 1 + BATCH_N);
    assert_int_equal(out[0].ts_us, 1);
    for (int i = 0; i < BATCH_N; i++) {
        assert_int_equal(out[1 + i].ts_us, 100 + i);
        /* the producer's storage, not a copy */
        assert_ptr_equal(out[1 + i].path.ptr, b.bytes[i]);
        assert_ptr_equal(rec[1 + i].ptr, b.bytes[i]);
        assert_int_equal(rec[1 + i].len, 3);
    }
    rp_queue_stats s;
    rp_queue_get_stats(q, &s);
    assert_int_equal(s.pushed, 1 + BATCH_N);
    assert_int_equal(s.popped, 1 + BATCH_N);
    rp_queue_free(q);
}

/* Done means popped whole and popped again since: until the consumer's
 * next pop, the events are still in its hands. */
static void test_queue_batch_is_done_at_the_pop_after_its_last_event(void **state) {
    rp_queue *q = new_queue(4096);
    test_batch a, b;
    fill_batch(&a, 100);
    fill_batch(&b, 200);
    uint64_t ta = rp_queue_push_batch(q, a.evs, a.records, BATCH_N);
    uint64_t tb = rp_queue_push_batch(q, b.evs, b.records, BATCH_N);
    assert_int_equal(tb, ta + 1);
    rp_event out[8];
    assert_int_equal(rp_queue_pop(q, out, 3, 0), 3); /* a: 3 of 5 */
    assert_false(rp_queue_batch_wait(q, ta, 0));
    assert_int_equal(rp_queue_pop(q, out, 3, 0), 3); /* a: 2 more, b: 1 */
    assert_int_equal(out[1].ts_us, 104);
    assert_int_equal(out[2].ts_us, 200);
    assert_false(rp_queue_batch_wait(q, ta, 10)); /* a is still the consumer's */
    assert_int_equal(rp_queue_pop(q, out, 8, 0), 4); /* the rest of b */
    assert_true(rp_queue_batch_wait(q, ta, 0));
    assert_false(rp_queue_batch_wait(q, tb, 0));
    assert_int_equal(rp_queue_pop(q, out, 8, 0), 0);
    assert_true(rp_queue_batch_wait(q, tb, 0));
    rp_queue_free(q);
}

static void test_queue_batch_refused_when_empty_full_or_closed(void **state) {
    rp_queue *q = new_queue(4096);
    test_batch b[RP_QUEUE_BATCHES + 1];
    assert_int_equal(rp_queue_push_batch(q, b[0].evs, b[0].records, 0), 0);
    for (int i = 0; i < RP_QUEUE_BATCHES; i++) {
        fill_batch(&b[i], 100 * i);
        assert_int_equal(rp_queue_push_batch(q, b[i].evs, b[i].records, BATCH_N), i + 1);
    }
    fill_batch(&b[RP_QUEUE_BATCHES], 0);
    assert_int_equal(rp_queue_push_batch(q, b[RP_QUEUE_BATCHES].evs, b[RP_QUEUE_BATCHES].records,
                                         BATCH_N), 0);
    /* Popped whole, a batch still holds its slot until the next pop. */
    rp_event out[BATCH_N];
    assert_int_equal(rp_queue_pop(q, out, BATCH_N, 0), BATCH_N);
    assert_int_equal(rp_queue_push_batch(q, b[RP_QUEUE_BATCHES].evs, b[RP_QUEUE_BATCHES].records,
                                         BATCH_N), 0);
    assert_int_equal(rp_queue_pop(q, out, BATCH_N, 0), BATCH_N);
    uint64_t t = rp_queue_push_batch(q, b[0].evs, b[0].records, BATCH_N);
    assert_int_equal(t, RP_QUEUE_BATCHES + 1);
    rp_queue_close(q);
    assert_int_equal(rp_queue_push_batch(q, b[1].evs, b[1].records, BATCH_N), 0);
    /* what was handed over before the close is drained */
    size_t total = 0, n;
    while ((n = rp_queue_pop(q, out, BATCH_N, 0)) > 0) total += n;
    assert_int_equal(total, (RP_QUEUE_BATCHES - 1) * BATCH_N);
    assert_true(rp_queue_batch_wait(q, t, 0));
    rp_queue_free(q);
}

static void *pop_twice(void *arg) {
    struct timespec pause = {0, 30 * 1000000L};
    nanosleep(&pause, NULL);
    rp_event out[BATCH_N];
    rp_queue_pop(arg, out, BATCH_N, 0);
    rp_queue_pop(arg, out, BATCH_N, 0);
    return NULL;
}

/* A producer waiting on its ticket is woken by the consumer's pop, long
 * before its timeout. */
static void test_queue_batch_wait_is_woken_by_the_consumer(void **state) {
    rp_queue *q = new_queue(4096);
    test_batch b;
    fill_batch(&b, 100);
    uint64_t t = rp_queue_push_batch(q, b.evs, b.records, BATCH_N);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pop_twice, q), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_true(rp_queue_batch_wait(q, t, 10000));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(th, NULL);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(waited < 5.0);
    rp_queue_free(q);
}

/* ------------------------------------------------------------- threaded */

#define PRODUCERS 4
#define PER_PRODUCER 20000

typedef struct producer_arg {
    rp_queue *q;
    int id;
    uint64_t accepted;
} producer_arg;

static void *produce(void *arg) {
    producer_arg *p = arg;
    for (int i = 0; i < PER_PRODUCER; i++) {
        rp_event ev = make_event((int64_t)p->id * 1000000 + i, "/items/1");
        ev.status = (uint16_t)(200 + p->id);
        p->accepted += rp_queue_push(p->q, &ev);
    }
    return NULL;
}

typedef struct consumer_arg {
    rp_queue *q;
    atomic_bool producers_done;
    uint64_t popped;
    int64_t last[PRODUCERS]; /* per producer: sequence seen last */
    bool out_of_order;
} consumer_arg;

static void *consume(void *arg) {
    consumer_arg *c = arg;
    static rp_event out[256];
    for (;;) {
        bool done = atomic_load(&c->producers_done);
        size_t n = rp_queue_pop(c->q, out, 256, 5);
        for (size_t i = 0; i < n; i++) {
            int id = (int)(out[i].ts_us / 1000000);
            int64_t seq = out[i].ts_us % 1000000;
            if (id < 0 || id >= PRODUCERS || out[i].status != 200 + id || seq <= c->last[id])
                c->out_of_order = true;
            else
                c->last[id] = seq;
        }
        c->popped += n;
        if (n == 0 && done) break;
    }
    return NULL;
}

/* A queue small enough to overflow now and then: every event is either
 * popped, in order per producer, or counted as dropped. */
static void test_queue_many_producers_counts_add_up_exactly(void **state) {
    rp_queue *q = new_queue(64 * 1024);
    consumer_arg c = {.q = q};
    for (int i = 0; i < PRODUCERS; i++) c.last[i] = -1;
    pthread_t ct, pt[PRODUCERS];
    producer_arg pa[PRODUCERS];
    assert_int_equal(pthread_create(&ct, NULL, consume, &c), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        pa[i] = (producer_arg){.q = q, .id = i};
        assert_int_equal(pthread_create(&pt[i], NULL, produce, &pa[i]), 0);
    }
    uint64_t accepted = 0;
    for (int i = 0; i < PRODUCERS; i++) {
        pthread_join(pt[i], NULL);
        accepted += pa[i].accepted;
    }
    atomic_store(&c.producers_done, true);
    pthread_join(ct, NULL);

    rp_queue_stats s;
    rp_queue_get_stats(q, &s);
    assert_false(c.out_of_order);
    assert_int_equal(s.pushed, accepted);
    assert_int_equal(s.pushed + s.dropped_full, (uint64_t)PRODUCERS * PER_PRODUCER);
    assert_int_equal(s.popped, c.popped);
    assert_int_equal(s.pushed, s.popped); /* nothing remains */
    assert_int_equal(s.bytes_used, 0);
    rp_queue_free(q);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_pops_events_in_fifo_order),
        cmocka_unit_test(test_queue_pop_returns_at_most_max),
        cmocka_unit_test(test_queue_pop_times_out_when_empty),
        cmocka_unit_test(test_queue_records_wrap_around_the_ring),
        cmocka_unit_test(test_queue_full_push_is_dropped_and_counted),
        cmocka_unit_test(test_queue_push_encoded_keeps_datagram_bytes),
        cmocka_unit_test(test_queue_refuses_tiny_capacity),
        cmocka_unit_test(test_queue_close_wakes_a_waiting_consumer),
        cmocka_unit_test(test_queue_close_refuses_pushes_but_drains),
        cmocka_unit_test(test_queue_batch_pops_after_ring_records_by_reference),
        cmocka_unit_test(test_queue_batch_is_done_at_the_pop_after_its_last_event),
        cmocka_unit_test(test_queue_batch_refused_when_empty_full_or_closed),
        cmocka_unit_test(test_queue_batch_wait_is_woken_by_the_consumer),
        cmocka_unit_test(test_queue_many_producers_counts_add_up_exactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
