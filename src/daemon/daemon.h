/*
 * daemon.h -- `rampart serve`: the long-lived service around the engine.
 *
 * Threads and what they own:
 *   - inputs (one thread each): read datagrams, syslog packets or tailed
 *     lines, push events into the bounded queue; never wait for the engine;
 *   - the engine thread: pops events in batches and feeds the engine (the
 *     engine stays single-writer and deterministic). Its callbacks write
 *     the decision table at once (a decision is visible to nginx within
 *     the batch) and hand incidents and decisions to the store thread;
 *   - the store thread: commits those to SQLite in batches;
 *   - libmicrohttpd's threads: the admin API. They read through the
 *     rp_daemon_* functions below, which take the locks they need.
 *
 * Locks, always taken in this order: manual (one API change at a time,
 * never held by the engine thread), engine, table, store-queue. The
 * engine lock is held by the engine thread for one batch (at most 256
 * events, microseconds) so an admin request waits little.
 *
 * Time: the engine's clock comes from events; the decision table works in
 * wall-clock time (nginx compares with its own clock). A decision keeps
 * its duration: expiry on the table = wall clock at the decision +
 * (expiry - decision time in event time), so replaying an old log still
 * produces decisions that apply now.
 */
#ifndef RP_DAEMON_H
#define RP_DAEMON_H

#include <jansson.h>
#include <stdio.h>

#include "config.h"
#include "dtable.h"
#include "rampart.h"

typedef struct rp_daemon rp_daemon;

typedef struct rp_daemon_options {
    const char *config_path; /* NULL = built-in defaults */
    /* Overrides of the config's serve: section (NULL = keep). */
    const char *socket_path;
    const char *syslog_listen;
    const char *tail_path;
    int tail_from_start; /* -1 keep */
    const char *table_path;
    const char *store_path;
    const char *admin_listen;
    const char *token_file;
    int log_json; /* -1 keep */
} rp_daemon_options;

/* Start-up failures a caller may want to tell apart (errno-style, as
 * rp_status): another daemon holds the lock beside the store, table or
 * socket (EBUSY); the store is damaged (EUCLEAN: quick_check failed or
 * SQLite calls it corrupt). `rampart serve` exits 3 and 4 for them. */
#define RP_DAEMON_EBUSY (-16)
#define RP_DAEMON_ESTORE (-117)

/* Lock the store, table and socket (one daemon each), open and check the
 * store, restore active decisions into a table built beside the live
 * one, start the engine and store threads, the admin API and the inputs,
 * and only then rename the new table over the live one: a start that
 * fails leaves what a running daemon and nginx use as it was.
 * Errors name what failed ("store /var/lib/...: unable to open"). */
rp_status rp_daemon_start(const rp_daemon_options *opts, rp_daemon **out, rp_error *err);
/* Stop inputs, drain the queue through the engine, flush incidents,
 * commit the store, stop the threads, close everything. */
void rp_daemon_stop(rp_daemon *d);

/* Reload the config file (SIGHUP, POST /v1/reload). A bad config is
 * rejected with its errors and the old one stays. */
rp_status rp_daemon_reload(rp_daemon *d, rp_error *err);

/* What the admin API needs. JSON results are new references. */
json_t *rp_daemon_stats_json(rp_daemon *d);
void rp_daemon_metrics(rp_daemon *d, FILE *out);
/* NULL when the key is not tracked and has no decision. */
json_t *rp_daemon_client_json(rp_daemon *d, const rp_key *key);
json_t *rp_daemon_decisions_json(rp_daemon *d);
json_t *rp_daemon_inventory_json(rp_daemon *d);
/* A manual decision (action block, throttle or allow; duration > 0). */
rp_status rp_daemon_decide(rp_daemon *d, const rp_key *key, rp_action action, int64_t duration_us,
                           const char *reason, rp_decision *out, rp_error *err);
/* RP_ENOENT when the key has no active decision. */
rp_status rp_daemon_undecide(rp_daemon *d, const rp_key *key, rp_error *err);
/* The decision in force for any of keys (block before throttle; allow
 * wins over both), for /v1/check. */
bool rp_daemon_check(rp_daemon *d, const rp_key *keys, int n, rp_dtable_hit *hit);
/* Incidents from the store (see store.h for the query). */
struct rp_incident_query;
rp_status rp_daemon_incidents(rp_daemon *d, const struct rp_incident_query *q, char **json,
                              rp_error *err);
/* Decision history from the store, newest first; key NULL = all. */
rp_status rp_daemon_decision_history(rp_daemon *d, const char *key, int limit, int offset,
                                     char **json, rp_error *err);
/* Dashboard support (docs/api.md, "Dashboard endpoints"). */
json_t *rp_daemon_timeseries_json(rp_daemon *d, int minutes);
json_t *rp_daemon_top_json(rp_daemon *d, int minutes, int limit);
json_t *rp_daemon_client_requests_json(rp_daemon *d, const rp_key *key, int limit);
json_t *rp_daemon_related_json(rp_daemon *d, const rp_key *key);
json_t *rp_daemon_config_json(rp_daemon *d);
/* Swarms (aggregate keys with an incident) and their member addresses
 * from the recent window (docs/api.md, "Swarms"). NULL on allocation
 * failure. limit: swarms (1..100); top: members listed per swarm. */
json_t *rp_daemon_swarms_json(rp_daemon *d, int limit, int top);
/* The member addresses of an aggregate key, busiest first, at most limit. */
json_t *rp_daemon_members_json(rp_daemon *d, const rp_key *key, int limit);
/* One stored incident; a swarm's gets its members, an address's the
 * swarms it was charged through. RP_ENOENT when there is none. */
rp_status rp_daemon_incident_json(rp_daemon *d, uint64_t id, json_t **out, rp_error *err);
/* 422-type errors come back as RP_EINVAL/RP_EPARSE with file:line:col. */
rp_status rp_daemon_whatif(rp_daemon *d, const char *yaml, size_t len, json_t **out, rp_error *err);
rp_status rp_daemon_write_config(rp_daemon *d, const char *yaml, size_t len, rp_error *err);
bool rp_daemon_token_ok(rp_daemon *d, const char *authorization_header);
bool rp_daemon_has_token(rp_daemon *d);
const char *rp_daemon_admin_url(rp_daemon *d);
int rp_daemon_syslog_port(rp_daemon *d);

/* Logging: one line per event of interest on stderr, text or JSON. */
void rp_log(rp_daemon *d, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The admin HTTP server (admin.c). */
typedef struct rp_admin rp_admin;
/* Listens on serve->admin_listen (and serve->check_listen when set);
 * *port: the admin port bound. */
rp_status rp_admin_start(rp_daemon *d, const rp_serve_config *serve, rp_admin **out, int *port,
                         rp_error *err);
void rp_admin_stop(rp_admin *a);

/* Wall clock in microseconds. */
int64_t rp_wall_us(void);

#endif
