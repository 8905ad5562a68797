/*
 * admin_guard.c -- deadlines and room for newcomers on an admin listener
 * (see admin_guard.h for the policy).
 *
 * One slot per open connection, in a fixed array: the guard allocates
 * nothing after it starts. A slot is taken in NOTIFY_STARTED and given
 * back in NOTIFY_CLOSED, both under the guard's lock, and libmicrohttpd
 * calls NOTIFY_CLOSED before it closes the socket: so the fd of a slot in
 * use is always that connection's, and shutdown(2) of it under the lock
 * can never hit a descriptor reused by someone else.
 *
 * The enforcing thread looks at every slot each RP_GUARD_TICK_MS: with the
 * default 1,024 connections that is a few microseconds of work, and a
 * deadline is enforced within a tenth of a second of its time.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>

#include "admin_guard.h"

#define RP_GUARD_TICK_MS 100
/* An answer of ours that takes this many request timeouts is cut: the
 * client is reading it too slowly (a slow-read attack) or gone. */
#define RP_ANSWER_TIMEOUTS 6

typedef struct slot {
    bool used;
    bool answering; /* a whole request is being answered */
    bool cut;       /* shut down; closing */
    int fd;
    uint8_t addr[16]; /* IPv4 mapped into IPv6 */
    int64_t since_us; /* start of the current deadline */
} slot;

struct rp_admin_guard {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool started, stopping;
    unsigned connections, per_address, n_slots;
    int64_t timeout_us;
    unsigned open; /* used and not cut */
    atomic_uint_fast64_t late, evicted;
    slot slots[];
};

static int64_t mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void addr_of(struct MHD_Connection *c, uint8_t out[16]) {
    memset(out, 0, 16);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr) return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(out, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    }
}

/* Lock held. */
static void cut(rp_admin_guard *g, slot *s) {
    shutdown(s->fd, SHUT_RDWR);
    s->cut = true;
    g->open--;
}

/* Lock held: push out the oldest connection still waiting for its
 * request, among those of addr (or all when addr is NULL). */
static bool evict_oldest(rp_admin_guard *g, const slot *except, const uint8_t *addr) {
    slot *oldest = NULL;
    for (unsigned i = 0; i < g->n_slots; i++) {
        slot *s = &g->slots[i];
        if (!s->used || s->cut || s->answering || s == except) continue;
        if (addr && memcmp(s->addr, addr, 16) != 0) continue;
        if (!oldest || s->since_us < oldest->since_us) oldest = s;
    }
    if (!oldest) return false;
    cut(g, oldest);
    atomic_fetch_add(&g->evicted, 1);
    return true;
}

void rp_admin_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                           enum MHD_ConnectionNotificationCode code) {
    rp_admin_guard *g = cls;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        slot *s = *socket_context;
        if (!s) return;
        pthread_mutex_lock(&g->lock);
        if (!s->cut) g->open--;
        s->used = false;
        pthread_mutex_unlock(&g->lock);
        *socket_context = NULL;
        return;
    }
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return;
    uint8_t addr[16];
    addr_of(c, addr);
    pthread_mutex_lock(&g->lock);
    slot *s = NULL;
    for (unsigned i = 0; i < g->n_slots && !s; i++)
        if (!g->slots[i].used) s = &g->slots[i];
    if (s) {
        *s = (slot){.used = true, .fd = ci->connect_fd, .since_us = mono_us()};
        memcpy(s->addr, addr, 16);
        g->open++;
        *socket_context = s;
        unsigned same = 0;
        for (unsigned i = 0; i < g->n_slots; i++)
            same += g->slots[i].used && !g->slots[i].cut && memcmp(g->slots[i].addr, addr, 16) == 0;
        if (same > g->per_address) evict_oldest(g, s, addr);
        if (g->open > g->connections) evict_oldest(g, s, NULL);
    }
    pthread_mutex_unlock(&g->lock);
    /* No slot: libmicrohttpd's own limit (set to the slots) was passed by
     * connections still closing; this one goes unguarded but its idle
     * timeout still applies. */
}

static slot *slot_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void rp_admin_guard_answering(rp_admin_guard *g, struct MHD_Connection *c) {
    slot *s = slot_of(c);
    if (!s) return;
    pthread_mutex_lock(&g->lock);
    s->answering = true;
    s->since_us = mono_us();
    pthread_mutex_unlock(&g->lock);
}

void rp_admin_guard_done(rp_admin_guard *g, struct MHD_Connection *c) {
    slot *s = slot_of(c);
    if (!s) return;
    pthread_mutex_lock(&g->lock);
    s->answering = false;
    s->since_us = mono_us();
    pthread_mutex_unlock(&g->lock);
}

static void *enforce(void *arg) {
    rp_admin_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += RP_GUARD_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->wake, &g->lock, &ts);
        int64_t now = mono_us();
        for (unsigned i = 0; i < g->n_slots; i++) {
            slot *s = &g->slots[i];
            if (!s->used || s->cut) continue;
            int64_t limit = s->answering ? g->timeout_us * RP_ANSWER_TIMEOUTS : g->timeout_us;
            if (now - s->since_us <= limit) continue;
            cut(g, s);
            atomic_fetch_add(&g->late, 1);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

rp_status rp_admin_guard_new(unsigned connections, unsigned per_address, int64_t request_timeout_us,
                             unsigned slots, rp_admin_guard **out) {
    *out = NULL;
    if (slots < connections) slots = connections;
    rp_admin_guard *g = calloc(1, sizeof *g + slots * sizeof(slot));
    if (!g) return RP_ENOMEM;
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->wake, NULL);
    g->connections = connections;
    g->per_address = per_address ? per_address : connections;
    g->timeout_us = request_timeout_us;
    g->n_slots = slots;
    *out = g;
    return RP_OK;
}

rp_status rp_admin_guard_start(rp_admin_guard *g) {
    if (pthread_create(&g->thread, NULL, enforce, g) != 0) return RP_ENOMEM;
    g->started = true;
    return RP_OK;
}

/* After libmicrohttpd has stopped: no callback runs any more. */
void rp_admin_guard_free(rp_admin_guard *g) {
    if (!g) return;
    if (g->started) {
        pthread_mutex_lock(&g->lock);
        g->stopping = true;
        pthread_cond_signal(&g->wake);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->thread, NULL);
    }
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->wake);
    free(g);
}

void rp_admin_guard_get_stats(rp_admin_guard *g, rp_admin_guard_stats *out) {
    pthread_mutex_lock(&g->lock);
    out->open = g->open;
    pthread_mutex_unlock(&g->lock);
    out->late = atomic_load(&g->late);
    out->evicted = atomic_load(&g->evicted);
}
