/*
 * daemon_int.h -- private to src/daemon/: the daemon's struct and what its
 * files share. daemon.h is the service as the rest of Rampart sees it;
 * this header is the part's inside, as Redis's server.h is for its files:
 *
 *   daemon.c     the service: start, stop, reload, the engine, store and
 *                trainer threads, the engine's callbacks, the store queue,
 *                the decision table's guard, one-instance locks
 *   decisions.c  what is enforced: manual decisions (store first, then
 *                table), /v1/check, the active list and its history
 *   metrics.c    /v1/stats and /metrics from the counters below
 *   views.c      the dashboard's reads: clients, their requests and
 *                relations, the time series, top lists, inventory, config
 *   whatif.c     a proposed config replayed over the recent window, off
 *                the engine lock
 *   swarms.c     aggregate keys with incidents and their member addresses
 *   webhook.c    alerts on decisions, POSTed to webhooks by a thread of its own
 *   cluster*.c   fleet mode on Redis (cluster_int.h): the edge's forwarder,
 *                the detector's reader, decisions published and mirrored
 *
 * Nothing here is for code outside src/daemon/. See daemon.h for the
 * threads, the lock order and the clock.
 */
#ifndef RP_DAEMON_INT_H
#define RP_DAEMON_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "cluster.h"
#include "daemon.h"
#include "detector.h"
#include "inputs.h"
#include "queue.h"
#include "recent.h"
#include "store.h"
#include "webhook.h"

/* Memory of recent events for timelines, related keys and what-if. */
#define RP_RECENT_BYTES (32u << 20)
/* Live counters: 10-second steps over the last hour. */
#define RP_TS_STEP_S 10
#define RP_TS_SLOTS 360

typedef struct ts_slot {
    int64_t t; /* start of the step, seconds; 0 = unused */
    uint32_t requests, throttled, blocked;
    uint32_t incidents[5];
    uint32_t by_detector[RP_MAX_DETECTORS];
    uint32_t by_threat[RP_THREAT_COUNT];
} ts_slot;
#define RP_MAX_INPUTS 8
/* Requests refused by nginx (or /v1/check), by the action and the
 * detector of the decision in force: the registry's detectors, then
 * manual decisions, then "unknown" (a decision whose incident this
 * daemon did not see: restored at start, made by another detector). */
#define RP_REFUSED_MANUAL RP_MAX_DETECTORS
#define RP_REFUSED_UNKNOWN (RP_MAX_DETECTORS + 1)
#define RP_REFUSED_SLOTS (RP_MAX_DETECTORS + 2)
/* The main detector of recent throttle and block incidents, by id and
 * key (a direct-mapped cache, engine lock): enough for the decisions a
 * busy minute makes; an older one reads "unknown". This node's incidents
 * and, in a fleet, those of the decisions mirrored from Redis, whose value
 * names the detector: incident ids are per engine, so two detectors of a
 * fleet both have an incident 7, told apart by their keys. */
#define RP_INCIDENT_DETECTORS 4096
typedef struct incident_detector {
    uint64_t id, key_hash;
    int detector; /* registry index or RP_REFUSED_UNKNOWN */
} incident_detector;
/* Lock files: one beside each of the store, the table and the socket. */
#define RP_MAX_LOCKS 3

typedef enum job_kind { JOB_INCIDENT, JOB_DECISION, JOB_REMOVE } job_kind;

typedef struct store_job {
    struct store_job *next;
    job_kind kind;
    rp_decision decision; /* JOB_DECISION; key for JOB_REMOVE */
    char source[8];
    char reason[128];
    int64_t at_us; /* JOB_REMOVE: when */
    rp_incident incident; /* JOB_INCIDENT (allocated only for that kind) */
    rp_host_set hosts;    /* JOB_INCIDENT in fleet mode: who saw its requests */
} store_job;

struct rp_daemon {
    rp_daemon_options opts;
    char config_path[512];
    rp_config *config;
    rp_serve_config serve; /* in force (serve: changes need a restart) */

    pthread_mutex_t engine_lock;
    rp_engine *engine;
    rp_queue *queue;
    rp_input *inputs[RP_MAX_INPUTS];
    int n_inputs;

    pthread_mutex_t table_lock;
    rp_dtable_writer *table;
    rp_dtable_reader *reader; /* lock-free reads for /v1/check, like nginx */
    int64_t reader_checked_us;

    rp_store *store;
    pthread_mutex_t store_lock;
    pthread_cond_t store_cond;
    store_job *jobs_head, *jobs_tail;
    size_t jobs_pending;
    /* Serialises manual changes (API add/delete): each goes store first,
     * then table, and two of them must not interleave. */
    pthread_mutex_t manual_lock;
    int lock_fds[RP_MAX_LOCKS];
    int n_locks;

    pthread_t engine_thread, store_thread, trainer_thread;
    atomic_bool stopping;
    atomic_bool store_stopping;
    bool engine_started, store_started, trainer_started;
    pthread_mutex_t trainer_lock; /* with trainer_cond: the trainer's sleep */
    pthread_cond_t trainer_cond;
    atomic_uint_fast64_t model_trainings, model_training_us;

    /* Fleet mode (cluster.h); NULL when standalone. Set before the engine
     * thread starts, never changed while it runs. */
    rp_cluster *cluster;
    /* The fleet's configuration (cluster.h, cluster_config.c); NULL when
     * standalone. */
    rp_fleet *fleet;

    rp_admin *admin;
    char admin_url[96];
    char token[256];

    /* counters */
    atomic_uint_fast64_t events_fed;
    atomic_uint_fast64_t incidents_by_action[5];
    atomic_uint_fast64_t incidents_by_detector[RP_MAX_DETECTORS];
    atomic_uint_fast64_t decisions_by_detector[RP_MAX_DETECTORS]; /* throttle/block incidents */
    atomic_uint_fast64_t decisions_engine[5], decisions_manual[5];
    /* [0]: no decision found (fail closed, or removed since), [1] throttle,
     * [2] block; by RP_REFUSED_* slot */
    atomic_uint_fast64_t refused_by[3][RP_REFUSED_SLOTS];
    atomic_uint_fast64_t store_dropped, store_errors, store_commits;
    atomic_uint_fast64_t table_full, table_rebuilds, store_retries;
    atomic_uint_fast64_t events_clamped_future, events_backfill;
    atomic_int_fast64_t newest_event_us;
    atomic_int_fast64_t last_feed_wall_us;
    int64_t started_us;
    atomic_uint_fast64_t reloads, reload_failures;
    pthread_mutex_t log_lock;
    /* Set under the engine lock around rp_engine_decide so that on_decision
     * knows a decision is manual (or a restore, which is not re-recorded). */
    const char *decide_source; /* NULL = engine */
    const char *decide_reason;
    /* Alerts on decisions (webhook.h); always there, with no webhook
     * until the config names one. */
    rp_webhooks *webhooks;
    /* Under the engine lock: the alert of the last throttle or block
     * incident, which on_decision sends with its decision. */
    rp_alert incident_alert;
    incident_detector incident_detector[RP_INCIDENT_DETECTORS];
    rp_recent *recent;
    ts_slot ts[RP_TS_SLOTS];
};

/* ----------------------------------------------- shared by the siblings */

/* The decision table, through the guard (daemon.c): lock it -- a file
 * truncated or replaced under the daemon is rebuilt first -- and unlock
 * with pthread_mutex_unlock(&d->table_lock). */
void rp_daemon_lock_table(rp_daemon *d);
/* A lookup in the daemon's own reader of the table (table lock held);
 * 1 found, 0 not (a fault under the SIGBUS guard is "not"). */
int rp_daemon_table_lookup(rp_daemon *d, const rp_key *key, int64_t now_us, rp_dtable_hit *hit);

/* Count the refused events of a batch (RP_EVENT_REFUSED) by the
 * decision in force for their keys at their time (decisions.c; engine
 * lock held, takes the table's). */
void rp_daemon_count_refused(rp_daemon *d, const rp_event *evs, size_t n);
/* The incident_detector cache (decisions.c; engine lock held): note the
 * main detector of incident id on key, and read it back (a registry
 * index, or RP_REFUSED_UNKNOWN when it is not or no longer there). */
void rp_daemon_note_detector(rp_daemon *d, uint64_t id, const rp_key *key, int detector);
int rp_daemon_incident_detector(rp_daemon *d, uint64_t id, const rp_key *key);

/* Put a decision (wall clock) in the table; a full table is counted and
 * logged, not an error to the caller (daemon.c). */
void rp_daemon_table_put(rp_daemon *d, const rp_decision *wall);
/* The same without the log line: false when the table is full (counted in
 * table_full); for a caller that sums up many refusals in one line. */
bool rp_daemon_table_try_put(rp_daemon *d, const rp_decision *wall);

/* The store queue (daemon.c). A manual change takes the queued decision
 * and removal jobs of its key out (they would otherwise be written after
 * it); on success it frees them, on failure it puts them back in front. */
typedef struct job_list {
    store_job *head, *tail;
    size_t n;
} job_list;
job_list rp_daemon_take_pending(rp_daemon *d, const rp_key *key);
void rp_daemon_requeue_front(rp_daemon *d, store_job *head, store_job *tail, size_t n);
void rp_daemon_free_jobs(store_job *j);

/* The reload (daemon.c) with a fleet version to apply: the node's file,
 * merged with candidate (NULL: with the version already applied). On
 * success the candidate is the version applied; on failure the old
 * configuration stays (logged, counted in the reload failures). */
rp_status rp_daemon_reload_fleet(rp_daemon *d, const rp_fleet_version *candidate, rp_error *err);

/* The route inventory copied out of the engine (engine lock held). */
typedef struct route_list {
    rp_route_info *items;
    size_t n, cap;
} route_list;
bool rp_daemon_collect_route(void *user, const rp_route_info *r);

#endif
