/*
 * admin_guard.h -- the admin listeners' defence against slowloris and idle
 * sockets (docs/security.md).
 *
 * libmicrohttpd's own timeout is an idle timeout: a client that trickles a
 * byte every few seconds keeps its connection forever, and at the
 * connection limit new connections (nginx's auth_request among them)
 * wait. The guard tracks every connection of a listener and enforces:
 *   - a deadline: a request's headers and body must be in within
 *     request_timeout of the connection's start (or of its previous
 *     answer); bytes that trickle in do not move it;
 *   - room for newcomers: past `connections` open connections, or past
 *     `per_address` from one address, a new connection pushes out the
 *     oldest connection that has not sent a whole request (the one
 *     costing the most and serving no one), instead of being refused.
 * A pushed-out or late connection is shut down (shutdown(2)); libmicrohttpd
 * sees the end of the stream and closes it in its own thread.
 */
#ifndef RP_ADMIN_GUARD_H
#define RP_ADMIN_GUARD_H

#include <microhttpd.h>
#include <stdint.h>

#include "rampart.h"

typedef struct rp_admin_guard rp_admin_guard;

typedef struct rp_admin_guard_stats {
    uint64_t late;    /* shut down at their deadline */
    uint64_t evicted; /* pushed out by a newcomer */
    unsigned open;
} rp_admin_guard_stats;

/* slots: at least connections + the listener's headroom (what libmicrohttpd
 * may hold while pushed-out connections close). */
rp_status rp_admin_guard_new(unsigned connections, unsigned per_address, int64_t request_timeout_us,
                             unsigned slots, rp_admin_guard **out);
/* Starts the thread that enforces the deadlines. */
rp_status rp_admin_guard_start(rp_admin_guard *g);
void rp_admin_guard_free(rp_admin_guard *g);

/* MHD_OPTION_NOTIFY_CONNECTION callback (cls = the guard). */
void rp_admin_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                           enum MHD_ConnectionNotificationCode code);
/* The request is whole and is being answered: its deadline no longer
 * runs (a slow answer is ours, not the client's). */
void rp_admin_guard_answering(rp_admin_guard *g, struct MHD_Connection *c);
/* The answer is done: the connection waits for its next request, with a
 * new deadline. */
void rp_admin_guard_done(rp_admin_guard *g, struct MHD_Connection *c);
void rp_admin_guard_get_stats(rp_admin_guard *g, rp_admin_guard_stats *out);

#endif
