/*
 * input_int.h -- private to the three inputs (input_datagram.c,
 * input_syslog.c, input_tail.c): the handle they share and the helpers
 * that start, stop and count for all of them (defined in
 * input_datagram.c).
 *
 * Every input is one thread that waits in poll() on its source and on the
 * read end of a pipe; rp_input_stop writes to the pipe, so a stop is
 * immediate rather than waiting out a timeout. Counters are atomics: the
 * input thread adds, rp_input_get_stats reads from any thread, and
 * nothing takes a lock per event.
 */
#ifndef RP_INPUT_INT_H
#define RP_INPUT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "inputs.h"

typedef struct rp_input_counters {
    _Atomic uint64_t received;
    _Atomic uint64_t events;
    _Atomic uint64_t dropped_queue_full;
    _Atomic uint64_t bad_decode[RP_DECODE_REASON_COUNT];
    _Atomic uint64_t bad_line[RP_SKIP_REASON_COUNT];
    _Atomic uint64_t bad_syslog;
    _Atomic uint64_t rotations;
    _Atomic uint64_t refused[RP_REFUSE_REASON_COUNT];
} rp_input_counters;

struct rp_input {
    const char *name; /* static */
    rp_queue *queue;
    void *(*run)(void *input); /* the thread body */
    void (*cleanup)(rp_input *in); /* frees the kind's state; may be NULL */
    void *state;                   /* the kind's own state, owned */
    pthread_t thread;
    bool thread_started;
    int stop_pipe[2]; /* [0] polled by the thread, [1] written by stop */
    int fd;           /* the socket, or -1 */
    int port;         /* syslog: the bound UDP port */
    rp_input_counters counters;
};

/* Allocate a handle with its stop pipe; fd = -1. NULL on failure (err
 * filled). */
rp_input *rp_input_alloc(const char *name, rp_queue *q, rp_error *err);
/* Start the thread (in->run). On failure the handle is freed. */
rp_status rp_input_launch(rp_input *in, rp_error *err);
/* True once rp_input_stop has asked the thread to end. */
bool rp_input_stopping(const rp_input *in);
/* Wait up to timeout_ms for fd to become readable (fd < 0: just wait).
 * Returns 1 readable, 0 timeout, -1 stop requested. */
int rp_input_wait(rp_input *in, int fd, int timeout_ms);

static inline void rp_input_count(_Atomic uint64_t *counter) {
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
}

/* One text line (no newline) through the parser and into the queue, with
 * the counting that syslog and tail share. */
void rp_input_feed_line(rp_input *in, rp_log_parser *parser, const char *line, size_t len);

/* Receive datagrams in batches with recvmmsg until the input stops: poll
 * (100 ms, or the stop pipe), then drain a batch at a time, calling handle
 * for each with its header: msg_flags, the sender's address (msg_name)
 * and its ancillary data (msg_control: the credentials when SO_PASSCRED is
 * on). buffers holds batch slots of size bytes. Shared by the unix
 * datagram and the syslog inputs. */
#define RP_INPUT_MAX_BATCH 64
typedef void rp_input_handler(rp_input *in, const uint8_t *data, size_t len,
                              const struct msghdr *msg);
void rp_input_recv_loop(rp_input *in, uint8_t *buffers, size_t size, unsigned batch,
                        rp_input_handler *handle);

#endif
