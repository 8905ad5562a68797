/*
 * daemon.c -- `rampart serve` as a service: start (one instance per store,
 * table and socket; nothing the running system uses is touched until
 * start-up has succeeded), stop, reload; the engine, store and model
 * trainer threads; the engine's callbacks, which write the decision table
 * at once and queue the store's writes; the table's guard against a file
 * cut or replaced under the daemon. What the admin API reads lives in the
 * siblings (daemon_int.h lists them). See daemon.h for the threads, the
 * locks and the clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "admin_config.h"
#include "daemon_int.h"
#include "load.h"
#include "inputs.h"
#include "keys.h"
#include "queue.h"
#include "recent.h"
#include "store.h"

#define RP_BATCH 256
/* Jobs waiting for the store thread; past this they are dropped and
 * counted (the table already holds the decision; only history suffers). */
#define RP_STORE_MAX_PENDING 100000
/* After a batch the store refused (a full disk), its decisions are
 * retried this much later, not in a tight loop. */
#define RP_STORE_RETRY_MS 1000
/* Event times are bounded by the daemon's clock (the engine never reads
 * one). Ahead of it by more than this, an event is clamped to now and
 * counted: a forged datagram or a misclocked sender would otherwise move
 * the engine's clock (and every window) years ahead, and the engine lag
 * to -4.6e12 s. Not less than an hour, because nginx's own events are
 * never ahead but a replay shifted to now (`rampart send --now`) sent
 * faster than real time is ahead by up to its duration, and its timing
 * must be kept. */
#define RP_EVENT_FUTURE_SLACK_US (3600 * 1000000LL)
/* Older than this, an event is a backfill (a replayed or late log): fed
 * to the engine as it is -- a replay must keep its own timing -- counted,
 * and left out of the engine lag, which measures live delay. */
#define RP_EVENT_LIVE_HORIZON_US (3600 * 1000000LL)


/* The live step for now (engine lock held). */
static ts_slot *ts_now(rp_daemon *d) {
    int64_t t = rp_wall_us() / 1000000 / RP_TS_STEP_S * RP_TS_STEP_S;
    ts_slot *slot = &d->ts[(t / RP_TS_STEP_S) % RP_TS_SLOTS];
    if (slot->t != t) {
        memset(slot, 0, sizeof *slot);
        slot->t = t;
    }
    return slot;
}

int64_t rp_wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---------------------------------------------------------------- logging */

void rp_log(rp_daemon *d, const char *level, const char *fmt, ...) {
    char msg[1024], when[40];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rp_format_time(rp_wall_us(), when, sizeof when);
    if (d) pthread_mutex_lock(&d->log_lock);
    if (d && d->serve.log_json) {
        json_t *o = json_pack("{s:s,s:s,s:s}", "time", when, "level", level, "msg", msg);
        char *line = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        fprintf(stderr, "%s\n", line ? line : msg);
        free(line);
        json_decref(o);
    } else {
        fprintf(stderr, "%s %-5s %s\n", when, level, msg);
    }
    fflush(stderr);
    if (d) pthread_mutex_unlock(&d->log_lock);
}

/* rp_log for the webhook thread (its user is the daemon). */
static void webhook_log(void *user, const char *level, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    rp_log(user, level, "%s", msg);
}

/* ------------------------------------------------------------- store queue */

static void enqueue(rp_daemon *d, store_job *job) {
    pthread_mutex_lock(&d->store_lock);
    if (d->jobs_pending >= RP_STORE_MAX_PENDING) {
        pthread_mutex_unlock(&d->store_lock);
        atomic_fetch_add(&d->store_dropped, 1);
        free(job);
        return;
    }
    job->next = NULL;
    if (d->jobs_tail)
        d->jobs_tail->next = job;
    else
        d->jobs_head = job;
    d->jobs_tail = job;
    d->jobs_pending++;
    pthread_cond_signal(&d->store_cond);
    pthread_mutex_unlock(&d->store_lock);
}

static store_job *new_job(job_kind kind) {
    store_job *j = calloc(1, sizeof *j);
    if (j) j->kind = kind;
    return j;
}

static rp_status run_job(rp_daemon *d, store_job *j) {
    rp_error err = {0};
    rp_status st = RP_OK;
    switch (j->kind) {
    case JOB_INCIDENT:
        if (d->cluster) { /* fleet mode: who decided, which hosts saw it */
            rp_incident_fleet fleet;
            rp_cluster_incident_names(d->cluster, &j->incident, &j->hosts, &fleet);
            st = rp_store_put_incident_fleet(d->store, &j->incident, &fleet, &err);
        } else {
            st = rp_store_put_incident(d->store, &j->incident, &err);
        }
        break;
    case JOB_DECISION:
        st = rp_store_put_decision(d->store, &j->decision, j->source, j->reason[0] ? j->reason : NULL,
                                   &err);
        break;
    case JOB_REMOVE:
        st = rp_store_remove_decision(d->store, &j->decision.key, j->at_us, j->source, &err);
        if (st == RP_ENOENT) st = RP_OK;
        break;
    }
    if (st != RP_OK) {
        atomic_fetch_add(&d->store_errors, 1);
        rp_log(d, "error", "store: %s", err.message);
    }
    return st;
}

/* Put a list of jobs back at the head of the queue, in their order (they
 * are older than anything queued since). */
void rp_daemon_requeue_front(rp_daemon *d, store_job *head, store_job *tail, size_t n) {
    if (!head) return;
    pthread_mutex_lock(&d->store_lock);
    tail->next = d->jobs_head;
    d->jobs_head = head;
    if (!d->jobs_tail) d->jobs_tail = tail;
    d->jobs_pending += n;
    pthread_mutex_unlock(&d->store_lock);
}

/*
 * Take the queued decision and removal jobs for key out of the queue. A
 * manual change calls this before it writes the store itself: an engine
 * decision for the key still waiting here would otherwise be written
 * after it and win at the next restart. On success the caller frees
 * them (the manual change supersedes them); on failure it puts them back
 * with requeue_front, so nothing is lost. A batch the store thread has
 * already taken is no concern: it holds the store's writer until its
 * commit, so the manual write lands after it.
 */
job_list rp_daemon_take_pending(rp_daemon *d, const rp_key *key) {
    job_list out = {0};
    pthread_mutex_lock(&d->store_lock);
    store_job **link = &d->jobs_head, *prev = NULL;
    while (*link) {
        store_job *j = *link;
        bool mine = (j->kind == JOB_DECISION || j->kind == JOB_REMOVE) &&
                    j->decision.key.level == key->level &&
                    memcmp(j->decision.key.bytes, key->bytes, sizeof key->bytes) == 0;
        if (!mine) {
            prev = j;
            link = &j->next;
            continue;
        }
        *link = j->next;
        if (d->jobs_tail == j) d->jobs_tail = prev;
        d->jobs_pending--;
        j->next = NULL;
        if (out.tail) out.tail->next = j;
        else out.head = j;
        out.tail = j;
        out.n++;
    }
    pthread_mutex_unlock(&d->store_lock);
    return out;
}

void rp_daemon_free_jobs(store_job *j) {
    while (j) {
        store_job *next = j->next;
        free(j);
        j = next;
    }
}

static void *store_main(void *arg) {
    rp_daemon *d = arg;
    for (;;) {
        pthread_mutex_lock(&d->store_lock);
        while (!d->jobs_head && !atomic_load(&d->store_stopping)) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 200 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&d->store_cond, &d->store_lock, &until);
        }
        store_job *batch = d->jobs_head;
        d->jobs_head = d->jobs_tail = NULL;
        d->jobs_pending = 0;
        bool stop = atomic_load(&d->store_stopping);
        pthread_mutex_unlock(&d->store_lock);
        if (batch) {
            rp_error err = {0};
            bool in_tx = rp_store_begin(d->store, &err) == RP_OK;
            bool failed = !in_tx;
            for (store_job *j = batch; j; j = j->next)
                if (run_job(d, j) != RP_OK) failed = true;
            if (in_tx && rp_store_commit(d->store, &err) != RP_OK) {
                atomic_fetch_add(&d->store_errors, 1);
                rp_log(d, "error", "store commit: %s", err.message);
                failed = true;
            }
            /* Decisions the store refused (a full disk: SQLite may have
             * rolled the whole batch back) stay enforced in the table and
             * are retried until the store takes them; incidents are
             * history and are written again as they change. */
            job_list retry = {0};
            while (batch) {
                store_job *next = batch->next;
                if (failed && (batch->kind == JOB_DECISION || batch->kind == JOB_REMOVE)) {
                    batch->next = NULL;
                    if (retry.tail) retry.tail->next = batch;
                    else retry.head = batch;
                    retry.tail = batch;
                    retry.n++;
                } else {
                    free(batch);
                }
                batch = next;
            }
            if (!failed) atomic_fetch_add(&d->store_commits, 1);
            if (retry.n && !stop) {
                atomic_fetch_add(&d->store_retries, retry.n);
                rp_daemon_requeue_front(d, retry.head, retry.tail, retry.n);
                struct timespec pause = {RP_STORE_RETRY_MS / 1000, (RP_STORE_RETRY_MS % 1000) * 1000000L};
                nanosleep(&pause, NULL);
            } else {
                if (retry.n)
                    rp_log(d, "error", "store: %zu decisions never written (stopping while the store "
                                       "refuses writes): they will not be restored",
                           retry.n);
                rp_daemon_free_jobs(retry.head);
            }
        } else if (stop) {
            break;
        }
    }
    return NULL;
}

/* ------------------------------------------------------- decision table */

static void refill_one(void *user, const rp_decision *dec) {
    rp_daemon *d = user;
    if (rp_dtable_put(d->table, dec, rp_wall_us()) != RP_OK) atomic_fetch_add(&d->table_full, 1);
}

/*
 * Table lock held. The table file is shared with nginx, so someone else
 * can truncate or replace it under the daemon; reading the mapping then
 * would die of SIGBUS (GET /v1/decisions did). Before any use, one fstat
 * (deep: one stat of the path too, from housekeeping once a second) says
 * whether the file is whole; when it is not, a new file is built from
 * what is still readable, refilled from the store's active decisions and
 * the decisions still queued for the store, and the daemon's reader
 * follows. Logged and counted (rampart_decision_table_rebuilds_total).
 */
static void table_heal_locked(rp_daemon *d, bool deep) {
    if (!d->table) return;
    rp_error err = {0};
    if (rp_dtable_writer_check(d->table, deep, &err) == RP_OK) return;
    rp_log(d, "error", "decision table %s: %s; rebuilding it", d->serve.table_path, err.message);
    uint64_t kept = 0;
    int64_t now = rp_wall_us();
    if (rp_dtable_writer_rebuild(d->table, now, &kept, &err) != RP_OK) {
        rp_log(d, "error", "decision table not rebuilt: %s", err.message);
        return;
    }
    atomic_fetch_add(&d->table_rebuilds, 1);
    if (rp_store_active_decisions(d->store, now, refill_one, d, &err) != RP_OK)
        rp_log(d, "error", "decision table refill from the store: %s", err.message);
    pthread_mutex_lock(&d->store_lock); /* order: table, then store queue */
    for (store_job *j = d->jobs_head; j; j = j->next) {
        if (j->kind == JOB_DECISION) refill_one(d, &j->decision);
        else if (j->kind == JOB_REMOVE) rp_dtable_remove(d->table, &j->decision.key);
    }
    pthread_mutex_unlock(&d->store_lock);
    if (d->reader && rp_dtable_reader_refresh(d->reader, &err) != RP_OK)
        rp_log(d, "error", "decision table reader: %s", err.message);
    rp_dtable_stats ts;
    rp_dtable_writer_stats(d->table, now, &ts);
    rp_log(d, "warn", "decision table %s rebuilt: %llu entries were still readable, %u active now",
           d->serve.table_path, (unsigned long long)kept, ts.live);
}

/* Every user of the table takes it through here. */
void rp_daemon_lock_table(rp_daemon *d) {
    pthread_mutex_lock(&d->table_lock);
    table_heal_locked(d, false);
}

typedef struct lookup_call {
    const rp_dtable_reader *reader;
    const rp_key *key;
    int64_t now_us;
    rp_dtable_hit *hit;
    int found;
} lookup_call;

static void lookup_guarded(void *arg) {
    lookup_call *c = arg;
    c->found = rp_dtable_lookup(c->reader, c->key, c->now_us, c->hit);
}

/* The daemon's own reader maps the same file: its lookups run under the
 * SIGBUS guard too (a truncation racing with the fstat of lock_table);
 * a fault is "no decision" and the next lock_table rebuilds. */
int rp_daemon_table_lookup(rp_daemon *d, const rp_key *key, int64_t now_us, rp_dtable_hit *hit) {
    lookup_call c = {.reader = d->reader, .key = key, .now_us = now_us, .hit = hit};
    if (!d->reader || !rp_dtable_guarded(lookup_guarded, &c)) return 0;
    return c.found;
}

/* ------------------------------------------------------ engine callbacks */

bool rp_daemon_table_try_put(rp_daemon *d, const rp_decision *wall) {
    rp_daemon_lock_table(d);
    rp_status st = rp_dtable_put(d->table, wall, rp_wall_us());
    pthread_mutex_unlock(&d->table_lock);
    if (st != RP_OK) atomic_fetch_add(&d->table_full, 1);
    return st == RP_OK;
}

void rp_daemon_table_put(rp_daemon *d, const rp_decision *wall) {
    if (!rp_daemon_table_try_put(d, wall)) {
        char key[128];
        rp_key_format(&wall->key, key, sizeof key);
        rp_log(d, "error", "decision table full: %s not enforced (raise serve.table_capacity)", key);
    }
}

/* A partitioned fleet's detector: what an aggregate may charge its
 * members with, between the engines of the partitions (cluster_witness.c). */
static void on_witness(void *user, const rp_key *key, const char *detector, double charge) {
    rp_daemon *d = user;
    rp_cluster_witness_note(d->cluster, key, detector, charge);
}

static unsigned witness(void *user, const rp_key *key, rp_witness *out, unsigned max) {
    rp_daemon *d = user;
    return rp_cluster_witness_lookup(d->cluster, key, out, max);
}

/* The fleet's decisions are all in this node's table (the mirror). */
static rp_action in_force(void *user, const rp_key *key, int64_t ts_us) {
    rp_dtable_hit hit;
    return rp_daemon_table_lookup(user, key, ts_us, &hit) ? hit.action : RP_ACTION_NONE;
}

static void on_decision(void *user, const rp_decision *dec) {
    rp_daemon *d = user;
    if ((unsigned)dec->action > RP_ACTION_ALLOW) return;
    if (d->decide_source) {
        /* A manual decision or a restore: the caller writes the table and
         * the store itself, with its own times and reason. */
        return;
    }
    /* Keep the duration, move it to the wall clock (daemon.h). */
    rp_decision wall = *dec;
    int64_t now = rp_wall_us();
    wall.start_us = now;
    wall.expires_us = now + (dec->expires_us - dec->start_us);
    rp_daemon_table_put(d, &wall);
    rp_cluster_publish(d->cluster, &wall); /* queued: no Redis call here */
    atomic_fetch_add(&d->decisions_engine[dec->action], 1);
    store_job *j = new_job(JOB_DECISION);
    if (j) {
        j->decision = wall;
        snprintf(j->source, sizeof j->source, "engine");
        enqueue(d, j);
    }
    if (dec->action == RP_ACTION_THROTTLE || dec->action == RP_ACTION_BLOCK) {
        /* the incident came just before its decision (engine.c, react) */
        rp_alert a;
        if (d->incident_alert.incident_id == dec->incident_id && dec->incident_id)
            a = d->incident_alert;
        else
            memset(&a, 0, sizeof a);
        a.key = dec->key;
        a.action = dec->action;
        a.score = dec->score;
        a.incident_id = dec->incident_id;
        a.decided_us = wall.start_us;
        a.expires_us = wall.expires_us;
        rp_webhooks_notify(d->webhooks, &a); /* queued: no I/O here */
    }
    char key[128];
    rp_key_format(&dec->key, key, sizeof key);
    rp_log(d, "info", "decision %s %s for %llds (incident %llu, score %.0f)",
           rp_action_name(dec->action), key,
           (long long)((dec->expires_us - dec->start_us) / 1000000),
           (unsigned long long)dec->incident_id, dec->score);
}

static void on_incident(void *user, const rp_incident *inc) {
    rp_daemon *d = user;
    /* Count new incidents (updates carry the same id; the store upserts). */
    if (inc->decided_us == inc->last_seen_us && (unsigned)inc->action <= RP_ACTION_ALLOW) {
        atomic_fetch_add(&d->incidents_by_action[inc->action], 1);
        for (unsigned i = 0; i < inc->n_findings; i++) {
            int di = rp_detector_find(inc->findings[i].detector, strlen(inc->findings[i].detector));
            if (di < 0) continue;
            atomic_fetch_add(&d->incidents_by_detector[di], 1);
            if (inc->action >= RP_ACTION_THROTTLE)
                atomic_fetch_add(&d->decisions_by_detector[di], 1);
        }
        ts_slot *slot = ts_now(d);
        slot->incidents[inc->action]++;
        for (unsigned i = 0; i < inc->n_findings; i++) {
            int di = rp_detector_find(inc->findings[i].detector, strlen(inc->findings[i].detector));
            if (di >= 0) slot->by_detector[di]++;
        }
        for (unsigned b = 0; b < RP_THREAT_COUNT; b++)
            if (inc->threats & (1u << b)) slot->by_threat[b]++;
        if (inc->action == RP_ACTION_MONITOR) {
            char key[128];
            rp_key_format(&inc->key, key, sizeof key);
            rp_log(d, "info", "incident %llu monitor %s score %.0f: %s",
                   (unsigned long long)inc->id, key, inc->score,
                   inc->n_findings ? inc->findings[0].summary : "");
        }
    }
    /* A new throttle or block: its decision follows (on_decision), and
     * its alert carries this evidence. */
    if (inc->decided_us == inc->last_seen_us && inc->action >= RP_ACTION_THROTTLE &&
        inc->action <= RP_ACTION_BLOCK) {
        if (d->webhooks) rp_alert_from_incident(&d->incident_alert, inc);
        /* findings are strongest first: the first one names the decision */
        int di = inc->n_findings ? rp_detector_find(inc->findings[0].detector,
                                                    strlen(inc->findings[0].detector))
                                 : -1;
        rp_daemon_note_detector(d, inc->id, &inc->key, di >= 0 ? di : RP_REFUSED_UNKNOWN);
    }
    store_job *j = new_job(JOB_INCIDENT);
    if (!j) return;
    j->incident = *inc;
    rp_cluster_incident(d->cluster, inc, &j->hosts); /* fleet mode: published, queued */
    enqueue(d, j);
}

/* ------------------------------------------------------------ engine thread */

static void snapshot_routes(rp_daemon *d);
static size_t marked_routes(rp_daemon *d);

typedef struct housekeeping_clock {
    int64_t compact, prune, routes, marks, table_check;
    uint64_t table_writes; /* puts + removes at the last compaction */
    size_t marked;         /* routes with a redirect mark at the last look */
} housekeeping_clock;

static void housekeeping(rp_daemon *d, int64_t now, housekeeping_clock *hk) {
    if (now - hk->table_check > 1000000LL) {
        /* A replaced or removed file is found here, not on the hot path. */
        hk->table_check = now;
        pthread_mutex_lock(&d->table_lock);
        table_heal_locked(d, true);
        pthread_mutex_unlock(&d->table_lock);
    }
    if (now - hk->compact > 60 * 1000000LL) {
        hk->compact = now;
        rp_dtable_stats ts;
        rp_daemon_lock_table(d);
        rp_dtable_writer_stats(d->table, now, &ts);
        /* Rebuild once a minute when anything was written: expired entries
         * and tombstones go, probes stay short, puts keep finding room.
         * A rebuild is a copy of capacity x 64 bytes (4 MiB by default). */
        if (ts.puts + ts.removes != hk->table_writes) {
            rp_error err = {0};
            if (rp_dtable_compact(d->table, now, &err) != RP_OK)
                rp_log(d, "error", "table compaction: %s", err.message);
            hk->table_writes = ts.puts + ts.removes;
        }
        pthread_mutex_unlock(&d->table_lock);
    }
    /* The inventory is written once a minute; a route that has just got
     * its first redirect mark (a form login's first success) is written
     * within 5 s, so that a crash soon after does not lose it -- without
     * the mark, the form is unprotected until the next success. */
    if (now - hk->marks > 5 * 1000000LL) {
        hk->marks = now;
        size_t marked = marked_routes(d);
        if (marked != hk->marked) {
            hk->marked = marked;
            hk->routes = 0;
        }
    }
    if (now - hk->routes > 60 * 1000000LL) {
        hk->routes = now;
        snapshot_routes(d);
    }
    if (now - hk->prune > 3600 * 1000000LL) {
        hk->prune = now;
        rp_error err = {0};
        if (rp_store_prune(d->store, now, d->serve.keep_incidents_us, d->serve.keep_decisions_us,
                           &err) != RP_OK)
            rp_log(d, "error", "store prune: %s", err.message);
    }
}

/*
 * The anomaly detector's feature model is trained here, off the engine
 * thread: once a second, under the engine lock, take a copy of the
 * training sample if a window of new vectors has come (a 60 KB copy);
 * build the new model from it without the lock (a few milliseconds); swap
 * it in under the lock. The engine thread never waits for a training.
 */
static void *trainer_main(void *arg) {
    rp_daemon *d = arg;
    pthread_mutex_lock(&d->trainer_lock);
    while (!atomic_load(&d->stopping)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&d->trainer_cond, &d->trainer_lock, &until);
        if (atomic_load(&d->stopping)) break;
        pthread_mutex_lock(&d->engine_lock);
        rp_model_job *job = rp_engine_model_job(d->engine);
        pthread_mutex_unlock(&d->engine_lock);
        if (!job) continue;
        int64_t t0 = rp_wall_us();
        if (rp_model_job_run(job) != RP_OK) {
            rp_model_job_free(job);
            continue;
        }
        pthread_mutex_lock(&d->engine_lock);
        bool ok = rp_engine_model_install(d->engine, job);
        pthread_mutex_unlock(&d->engine_lock);
        if (ok) {
            atomic_fetch_add(&d->model_trainings, 1);
            atomic_fetch_add(&d->model_training_us, (uint64_t)(rp_wall_us() - t0));
        }
    }
    pthread_mutex_unlock(&d->trainer_lock);
    return NULL;
}

/* Bound each event's time by the daemon's clock (see
 * RP_EVENT_FUTURE_SLACK_US and RP_EVENT_LIVE_HORIZON_US): from the far
 * future, clamped to now and counted; from the far past, kept and
 * counted. *newest moves with the live events only, so the engine lag
 * (now - newest) stays within [-slack, horizon]. */
static void bound_event_times(rp_daemon *d, rp_event *evs, size_t n, int64_t *newest) {
    int64_t now = rp_wall_us();
    uint64_t future = 0, past = 0;
    for (size_t i = 0; i < n; i++) {
        if (evs[i].ts_us > now + RP_EVENT_FUTURE_SLACK_US) {
            evs[i].ts_us = now;
            future++;
        } else if (evs[i].ts_us < now - RP_EVENT_LIVE_HORIZON_US) {
            past++;
            continue;
        }
        if (evs[i].ts_us > *newest) *newest = evs[i].ts_us;
    }
    if (future) atomic_fetch_add(&d->events_clamped_future, future);
    if (past) atomic_fetch_add(&d->events_backfill, past);
}

static void *engine_main(void *arg) {
    rp_daemon *d = arg;
    rp_event *evs = calloc(RP_BATCH, sizeof *evs);
    rp_str *records = calloc(RP_BATCH, sizeof *records);
    if (!evs || !records) {
        free(evs);
        free(records);
        rp_log(d, "error", "engine thread: out of memory");
        return NULL;
    }
    housekeeping_clock hk = {.compact = rp_wall_us(), .prune = 0, .routes = rp_wall_us(),
                             .marks = rp_wall_us(), .marked = marked_routes(d)};
    for (;;) {
        if (rp_cluster_forwards_events(d->cluster)) {
            /* An edge: cluster_edge.c consumes the queue; only house here. */
            if (atomic_load(&d->stopping)) break;
            usleep(100000);
            housekeeping(d, rp_wall_us(), &hk);
            continue;
        }
        size_t n = rp_queue_pop_records(d->queue, evs, records, RP_BATCH, 100);
        if (n) {
            int64_t newest = atomic_load(&d->newest_event_us);
            bound_event_times(d, evs, n, &newest);
            pthread_mutex_lock(&d->engine_lock);
            /* before the batch's own decisions are in the table */
            rp_daemon_count_refused(d, evs, n);
            ts_slot *slot = ts_now(d);
            for (size_t i = 0; i < n; i++) {
                /* the records of the event after next start loading now */
                if (i + 2 < n) {
                    rp_engine_prefetch(d->engine, &evs[i + 2]);
                    rp_cluster_prefetch_event(d->cluster, &evs[i + 2]);
                }
                /* what was in force when the request came: what nginx enforced */
                rp_action a;
                rp_cluster_note_event(d->cluster, &evs[i]); /* the hosts of its keys */
                rp_engine_feed_verdicts(d->engine, &evs[i], &a);
                slot->requests++;
                if (a == RP_ACTION_THROTTLE) slot->throttled++;
                else if (a == RP_ACTION_BLOCK) slot->blocked++;
                /* kept as the queue held it: no second encoding */
                rp_recent_push_record(d->recent, (const uint8_t *)records[i].ptr, records[i].len);
            }
            pthread_mutex_unlock(&d->engine_lock);
            atomic_fetch_add(&d->events_fed, n);
            atomic_store(&d->newest_event_us, newest);
            atomic_store(&d->last_feed_wall_us, rp_wall_us());
        } else if (atomic_load(&d->stopping)) {
            rp_queue_stats qs;
            rp_queue_get_stats(d->queue, &qs);
            if (qs.bytes_used == 0) break;
        }
        housekeeping(d, rp_wall_us(), &hk);
    }
    pthread_mutex_lock(&d->engine_lock);
    rp_engine_flush(d->engine);
    pthread_mutex_unlock(&d->engine_lock);
    free(evs);
    free(records);
    return NULL;
}

/* ---------------------------------------------------------------- routes */

bool rp_daemon_collect_route(void *user, const rp_route_info *r) {
    route_list *l = user;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 256;
        rp_route_info *ni = realloc(l->items, ncap * sizeof *ni);
        if (!ni) return false;
        l->items = ni;
        l->cap = ncap;
    }
    l->items[l->n++] = *r;
    return true;
}

typedef struct knowledge_list {
    rp_route_knowledge *items;
    size_t n, cap;
} knowledge_list;

static bool collect_knowledge(void *user, const rp_route_knowledge *k) {
    knowledge_list *l = user;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 256;
        rp_route_knowledge *ni = realloc(l->items, ncap * sizeof *ni);
        if (!ni) return false;
        l->items = ni;
        l->cap = ncap;
    }
    l->items[l->n++] = *k;
    return true;
}

/* The inventory as shown and what the engine learned about it, copied
 * under the engine lock in one go and written in one transaction. */
static void snapshot_routes(rp_daemon *d) {
    route_list l = {0};
    knowledge_list kl = {0};
    pthread_mutex_lock(&d->engine_lock);
    rp_engine_routes(d->engine, rp_daemon_collect_route, &l);
    rp_engine_routes_export(d->engine, collect_knowledge, &kl);
    pthread_mutex_unlock(&d->engine_lock);
    rp_error err = {0};
    if ((l.n || kl.n) && rp_store_put_routes(d->store, l.items, l.n, kl.items, kl.n, &err) != RP_OK)
        rp_log(d, "error", "store routes: %s", err.message);
    free(l.items);
    free(kl.items);
}

static bool count_marked(void *user, const rp_route_knowledge *k) {
    if (k->common_answer_votes) ++*(size_t *)user;
    return true;
}

static size_t marked_routes(rp_daemon *d) {
    size_t n = 0;
    pthread_mutex_lock(&d->engine_lock);
    rp_engine_routes_export(d->engine, count_marked, &n);
    pthread_mutex_unlock(&d->engine_lock);
    return n;
}

/* At start, before any input: what the engine had learned about its
 * routes (templates, classes, form logins' redirect marks), so that a
 * form answering failures with a 200 page is protected at once. */
typedef struct restore_count {
    rp_daemon *d;
    size_t restored, rejected, full;
    char first_error[sizeof ((rp_error *)0)->message];
} restore_count;

static bool restore_route(void *user, const rp_route_knowledge *k) {
    restore_count *c = user;
    rp_error err = {0};
    rp_status st = rp_engine_route_restore(c->d->engine, k, &err);
    if (st == RP_OK) c->restored++;
    else if (st == RP_ENOMEM) c->full++;
    else {
        if (!c->rejected) snprintf(c->first_error, sizeof c->first_error, "%s", err.message);
        c->rejected++;
    }
    return true;
}

static rp_status routes_restore(rp_daemon *d, rp_error *err) {
    restore_count c = {.d = d};
    size_t unreadable = 0;
    rp_status st = rp_store_route_knowledge(d->store, restore_route, &c, &unreadable, err);
    if (st != RP_OK) return st;
    rp_log(d, "info", "restored %zu routes from the store", c.restored);
    if (c.full)
        rp_log(d, "warn", "%zu stored routes not restored: the inventory is full (engine.max_routes)",
               c.full);
    if (c.rejected + unreadable)
        rp_log(d, "warn", "%zu stored routes not restored (%zu unreadable)%s%s",
               c.rejected + unreadable, unreadable, c.rejected ? "; first: " : "", c.first_error);
    return RP_OK;
}

/* ----------------------------------------------------------------- token */

static rp_status read_token(const char *path, char *out, size_t size, rp_error *err) {
    out[0] = 0;
    if (!path || !path[0]) return RP_OK;
    char *text;
    size_t len;
    rp_status st = rp_read_file(path, 4096, &text, &len, err);
    if (st != RP_OK) return st;
    size_t a = 0, b = len;
    while (a < b && (text[a] == ' ' || text[a] == '\t' || text[a] == '\n' || text[a] == '\r')) a++;
    while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\n' ||
                     text[b - 1] == '\r'))
        b--;
    if (b - a < 16 || b - a >= size) {
        free(text);
        return rp_error_set(err, RP_EINVAL, path, 0, 0,
                            "the admin token must be 16 to %zu characters", size - 1);
    }
    memcpy(out, text + a, b - a);
    out[b - a] = 0;
    free(text);
    return RP_OK;
}

bool rp_daemon_has_token(rp_daemon *d) { return d->token[0] != 0; }

bool rp_daemon_token_ok(rp_daemon *d, const char *auth) {
    if (!d->token[0] || !auth) return false;
    if (strncasecmp(auth, "Bearer ", 7) != 0) return false;
    const char *given = auth + 7;
    size_t want = strlen(d->token), got = strlen(given);
    /* Constant time over the expected token's length. */
    unsigned diff = (unsigned)(want ^ got);
    for (size_t i = 0; i < want; i++) diff |= (unsigned char)d->token[i] ^ (unsigned char)(i < got ? given[i] : 0);
    return diff == 0;
}

/* ------------------------------------------------------------ start, stop */

static void apply_overrides(rp_serve_config *s, const rp_daemon_options *o) {
#define OVERRIDE(field, opt)                                                                      \
    if (o->opt) snprintf(s->field, sizeof s->field, "%s", o->opt)
    OVERRIDE(socket_path, socket_path);
    OVERRIDE(syslog_listen, syslog_listen);
    OVERRIDE(table_path, table_path);
    OVERRIDE(store_path, store_path);
    OVERRIDE(admin_listen, admin_listen);
    OVERRIDE(token_file, token_file);
#undef OVERRIDE
    if (o->tail_path) {
        s->n_tail = 1;
        snprintf(s->tail[0], sizeof s->tail[0], "%s", o->tail_path);
    }
    if (o->tail_from_start >= 0) s->tail_from_start = o->tail_from_start;
    if (o->log_json >= 0) s->log_json = o->log_json;
}

/* ---------------------------------------------------------- one instance */

/*
 * One daemon per store, table and event socket. A second `rampart serve`
 * on the same config must not touch what the running one uses (it used
 * to replace the table -- nginx followed the new inode while the running
 * daemon kept writing the old one -- and unlink its socket), so the
 * first thing start does is flock a lock file beside each of them,
 * "<path>.lock", and write its pid in it. The kernel drops a flock with
 * its process (kill -9 included), so a stale file never blocks a
 * restart; the files are never removed (removing one would let two
 * daemons lock two different files of the same name).
 */
static rp_status lock_beside(rp_daemon *d, const char *what, const char *path, rp_error *err) {
    if (!path || !path[0] || d->n_locks >= RP_MAX_LOCKS) return RP_OK;
    char lock[600];
    if ((size_t)snprintf(lock, sizeof lock, "%s.lock", path) >= sizeof lock)
        return rp_error_set(err, RP_EINVAL, path, 0, 0, "path too long for its lock file");
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return rp_error_set(err, RP_EIO, lock, 0, 0, "cannot open the lock file of the %s: %s",
                            what, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[24] = "";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        close(fd);
        if (e != EWOULDBLOCK)
            return rp_error_set(err, RP_EIO, lock, 0, 0, "cannot lock the %s: %s", what,
                                strerror(e));
        pid[n > 0 ? n : 0] = 0;
        long holder = strtol(pid, NULL, 10);
        char who[48] = "";
        if (holder > 0) snprintf(who, sizeof who, " (pid %ld)", holder);
        return rp_error_set(err, RP_DAEMON_EBUSY, lock, 0, 0,
                            "another rampart serve%s is running on the %s %s; nothing was "
                            "touched (stop it first, or give this one other paths)",
                            who, what, path);
    }
    /* The pid is a courtesy to the next one's message: a failure to
     * write it changes nothing. */
    char pid[24];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        rp_log(d, "warn", "%s: cannot record the pid (%s)", lock, strerror(errno));
    d->lock_fds[d->n_locks++] = fd;
    return RP_OK;
}

/*
 * Open the store and check it before anything depends on it. A file
 * damaged mid-way opens fine and would start silently with whatever
 * SQLite can still read: PRAGMA quick_check refuses it instead
 * (RP_DAEMON_ESTORE, exit status 4). A 0-byte file is a valid empty
 * database to SQLite, but the operator must hear that the history and
 * the decisions it should hold are gone.
 */
static rp_status store_open_checked(rp_daemon *d, rp_error *err) {
    const char *path = d->serve.store_path;
    struct stat st_file;
    if (stat(path, &st_file) == 0 && S_ISREG(st_file.st_mode) && st_file.st_size == 0)
        rp_log(d, "warn", "store %s is an empty file (0 bytes): starting with no decisions, "
                          "incidents or learned routes; if it held any, it was truncated -- "
                          "restore a backup", path);
    rp_status st = rp_store_open(path, &d->store, err);
    if (st == RP_EPARSE) {
        char msg[sizeof err->message];
        snprintf(msg, sizeof msg, "%s", err->message);
        return rp_error_set(err, RP_DAEMON_ESTORE, path, 0, 0,
                            "%s; refusing to start (move it aside with its -wal and -shm, or "
                            "recover it: sqlite3 %s .recover)", msg, path);
    }
    if (st != RP_OK) return st;
    int64_t t0 = rp_wall_us();
    st = rp_store_quick_check(d->store, err);
    if (st != RP_OK) {
        char msg[sizeof err->message];
        snprintf(msg, sizeof msg, "%s", err->message);
        return rp_error_set(err, RP_DAEMON_ESTORE, path, 0, 0,
                            "%s; refusing to start, nothing was touched (move it aside with its "
                            "-wal and -shm, or recover it: sqlite3 %s .recover)", msg, path);
    }
    rp_log(d, "info", "store %s: quick_check ok (%lld ms)", path,
           (long long)((rp_wall_us() - t0) / 1000));
    return RP_OK;
}

static void restore_one(void *user, const rp_decision *dec) {
    rp_daemon *d = user;
    rp_daemon_table_put(d, dec);
    d->decide_source = "restore";
    rp_engine_decide(d->engine, dec);
    d->decide_source = NULL;
}

static rp_status start_inputs(rp_daemon *d, rp_error *err) {
    const rp_serve_config *s = &d->serve;
    rp_status st;
    rp_input *in;
    if (s->socket_path[0]) {
        st = rp_input_datagram_start(s, d->queue, &in, err);
        if (st != RP_OK) return st;
        d->inputs[d->n_inputs++] = in;
        rp_log(d, "info", "listening for events on unix datagram socket %s", s->socket_path);
    }
    if (s->syslog_listen[0]) {
        char host[64];
        snprintf(host, sizeof host, "%s", s->syslog_listen);
        char *colon = strrchr(host, ':');
        int port = 0;
        if (colon) {
            *colon = 0;
            port = atoi(colon + 1);
        }
        char *h = host;
        if (h[0] == '[') {
            h++;
            char *close = strchr(h, ']');
            if (close) *close = 0;
        }
        st = rp_input_syslog_start(h, port, d->queue, d->config->trusted_proxies,
                                   d->config->n_trusted_proxies, s->syslog_allow,
                                   s->n_syslog_allow, &in, err);
        if (st != RP_OK) return st;
        d->inputs[d->n_inputs++] = in;
        rp_log(d, "info", "listening for syslog on udp %s:%d", h, rp_input_port(in));
    }
    for (int i = 0; i < s->n_tail && d->n_inputs < RP_MAX_INPUTS; i++) {
        rp_log_format fmt = RP_FORMAT_AUTO;
        if (s->tail_format[0] && rp_log_format_parse(s->tail_format, &fmt) != RP_OK)
            fmt = RP_FORMAT_AUTO;
        st = rp_input_tail_start(s->tail[i], s->tail_from_start, fmt, d->queue,
                                 d->config->trusted_proxies, d->config->n_trusted_proxies, &in,
                                 err);
        if (st != RP_OK) return st;
        d->inputs[d->n_inputs++] = in;
        rp_log(d, "info", "following %s%s", s->tail[i], s->tail_from_start ? " from its start" : "");
    }
    return RP_OK;
}

/* The learned model of normal API flows (the anomaly detector) lives
 * beside the store, so a restart does not start blind. */
static void model_path(const rp_daemon *d, char *buf, size_t size) {
    snprintf(buf, size, "%s.model", d->serve.store_path);
}

static void model_restore(rp_daemon *d) {
    char path[600];
    model_path(d, path, sizeof path);
    char *data = NULL;
    size_t len;
    rp_error err = {0};
    if (access(path, F_OK) != 0) return;
    if (rp_read_file(path, 64u << 20, &data, &len, &err) != RP_OK ||
        rp_engine_model_load(d->engine, (const uint8_t *)data, len, &err) != RP_OK) {
        rp_log(d, "warn", "model %s not loaded (%s): starting from an empty model", path, err.message);
    } else {
        rp_log(d, "info", "model %s loaded (%llu route transitions)", path,
               (unsigned long long)rp_engine_model_transitions(d->engine));
    }
    free(data);
}

static void model_persist(rp_daemon *d) {
    if (!d->engine || rp_engine_model_transitions(d->engine) == 0) return;
    char path[600], tmp[620];
    model_path(d, path, sizeof path);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    uint8_t *buf = NULL;
    size_t len = 0;
    rp_error err = {0};
    if (rp_engine_model_save(d->engine, &buf, &len, &err) != RP_OK) {
        rp_log(d, "error", "model not saved: %s", err.message);
        return;
    }
    FILE *f = fopen(tmp, "wb");
    bool ok = f && fwrite(buf, 1, len, f) == len;
    if (f) ok = fclose(f) == 0 && ok;
    if (ok && rename(tmp, path) == 0)
        rp_log(d, "info", "model saved to %s (%llu route transitions)", path,
               (unsigned long long)rp_engine_model_transitions(d->engine));
    else {
        unlink(tmp);
        rp_log(d, "error", "model not saved to %s: %s", path, strerror(errno));
    }
    free(buf);
}

rp_status rp_daemon_start(const rp_daemon_options *opts, rp_daemon **out, rp_error *err) {
    *out = NULL;
    rp_daemon *d = calloc(1, sizeof *d);
    if (!d) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    d->opts = *opts;
    if (opts->config_path) snprintf(d->config_path, sizeof d->config_path, "%s", opts->config_path);
    pthread_mutex_init(&d->engine_lock, NULL);
    pthread_mutex_init(&d->table_lock, NULL);
    pthread_mutex_init(&d->store_lock, NULL);
    pthread_mutex_init(&d->log_lock, NULL);
    pthread_mutex_init(&d->trainer_lock, NULL);
    pthread_mutex_init(&d->manual_lock, NULL);
    pthread_cond_init(&d->store_cond, NULL);
    pthread_cond_init(&d->trainer_cond, NULL);
    d->started_us = rp_wall_us();

    rp_status st = rp_load_config(opts->config_path, &d->config, err);
    if (st != RP_OK) goto fail;
    d->serve = d->config->serve;
    apply_overrides(&d->serve, opts);
    st = read_token(d->serve.token_file, d->token, sizeof d->token, err);
    if (st != RP_OK) goto fail;

    /* A table truncated under the daemon must not kill it (SIGBUS). */
    rp_dtable_guard_install();
    /* Nothing the running system uses is touched before these locks. */
    st = lock_beside(d, "store", d->serve.store_path, err);
    if (st == RP_OK) st = lock_beside(d, "decision table", d->serve.table_path, err);
    if (st == RP_OK) st = lock_beside(d, "event socket", d->serve.socket_path, err);
    if (st != RP_OK) goto fail;
    st = store_open_checked(d, err);
    if (st != RP_OK) goto fail;
    /* Fleet mode: the fleet's configuration (or the last one applied
     * here) before anything is built from the config. */
    st = rp_fleet_start(d, d->config_path[0] ? d->config_path : NULL, d->serve.store_path,
                        &d->config, &d->fleet, err);
    if (st != RP_OK) goto fail;
    /* Built beside the live table, published only once start-up has
     * succeeded: until then nginx keeps the old file. */
    st = rp_dtable_writer_prepare(d->serve.table_path, d->serve.table_capacity, &d->table, err);
    if (st != RP_OK) goto fail;
    rp_engine_callbacks cb = {.user = d, .on_incident = on_incident, .on_decision = on_decision};
    if (d->config->cluster.role == RP_CLUSTER_DETECTOR && d->config->cluster.partitions > 1)
        cb.on_witness = on_witness, cb.witness = witness, cb.in_force = in_force;
    st = rp_engine_new(d->config, &cb, &d->engine, err);
    if (st != RP_OK) goto fail;

    model_restore(d);
    st = routes_restore(d, err);
    if (st != RP_OK) goto fail;
    /* Incident ids go on from the store's: ids are keys there. */
    uint64_t max_id = 0;
    st = rp_store_max_incident_id(d->store, &max_id, err);
    if (st != RP_OK) goto fail;
    rp_engine_set_next_incident_id(d->engine, max_id + 1);

    /* Restore before any input starts: nginx enforces them at once. */
    int64_t now = rp_wall_us();
    st = rp_store_active_decisions(d->store, now, restore_one, d, err);
    if (st != RP_OK) goto fail;
    rp_dtable_stats ts;
    rp_dtable_writer_stats(d->table, now, &ts);
    rp_log(d, "info", "restored %u active decisions from the store", ts.live);

    st = rp_recent_new(RP_RECENT_BYTES, &d->recent);
    if (st != RP_OK) {
        rp_error_set(err, st, NULL, 0, 0, "cannot allocate the recent-events window");
        goto fail;
    }
    st = rp_queue_new(d->serve.queue_bytes ? d->serve.queue_bytes : (64u << 20), &d->queue);
    if (st != RP_OK) {
        rp_error_set(err, st, NULL, 0, 0, "cannot allocate the ingest queue");
        goto fail;
    }
    /* The role before the engine thread: an edge's engine thread does
     * not consume the queue (cluster.h). */
    st = rp_cluster_new(d, &d->config->cluster, &d->cluster, err);
    if (st != RP_OK) goto fail;
    if (pthread_create(&d->store_thread, NULL, store_main, d) != 0) {
        st = rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "cannot start the store thread");
        goto fail;
    }
    d->store_started = true;
    if (pthread_create(&d->engine_thread, NULL, engine_main, d) != 0) {
        st = rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "cannot start the engine thread");
        goto fail;
    }
    d->engine_started = true;
    rp_engine_model_defer_training(d->engine, true);
    if (pthread_create(&d->trainer_thread, NULL, trainer_main, d) != 0) {
        st = rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "cannot start the model trainer thread");
        goto fail;
    }
    d->trainer_started = true;
    /* The fleet's decisions are loaded here, before the table is
     * published and the daemon reports ready. */
    st = rp_cluster_run(d->cluster, err);
    if (st == RP_OK) st = rp_fleet_run(d->fleet, d->cluster, err);
    if (st != RP_OK) goto fail;
    rp_webhook_targets *targets = NULL;
    st = rp_webhook_targets_prepare(&d->config->alerts, &targets, err);
    if (st == RP_OK) st = rp_webhooks_start(targets, webhook_log, d, true, &d->webhooks, err);
    if (st != RP_OK) goto fail;
    if (d->config->alerts.n_webhooks)
        rp_log(d, "info", "alerts: %d webhook%s", d->config->alerts.n_webhooks,
               d->config->alerts.n_webhooks == 1 ? "" : "s");
    if (d->serve.admin_listen[0]) {
        int port = 0;
        st = rp_admin_start(d, &d->serve, &d->admin, &port, err);
        if (st != RP_OK) goto fail;
        char host[64];
        snprintf(host, sizeof host, "%s", d->serve.admin_listen);
        char *colon = strrchr(host, ':');
        if (colon) *colon = 0;
        snprintf(d->admin_url, sizeof d->admin_url, "http://%s:%d", host, port);
        rp_webhooks_set_default_base(d->webhooks, d->admin_url);
        rp_log(d, "info", "admin API on %s%s", d->admin_url,
               d->token[0] ? "" : " (no token file: changes are refused)");
    }
    st = start_inputs(d, err);
    if (st != RP_OK) goto fail;
    /* Every listener is bound and the decisions are restored: only now
     * does the new table replace the one nginx reads. */
    pthread_mutex_lock(&d->table_lock);
    st = rp_dtable_writer_publish(d->table, err);
    if (st == RP_OK) st = rp_dtable_reader_open(d->serve.table_path, &d->reader, err);
    pthread_mutex_unlock(&d->table_lock);
    if (st != RP_OK) goto fail;
    rp_log(d, "info", "decision table %s published", d->serve.table_path);
    *out = d;
    return RP_OK;
fail:
    rp_daemon_stop(d);
    return st;
}

void rp_daemon_stop(rp_daemon *d) {
    if (!d) return;
    for (int i = 0; i < d->n_inputs; i++) rp_input_stop(d->inputs[i]);
    d->n_inputs = 0;
    if (d->admin) rp_admin_stop(d->admin);
    d->admin = NULL;
    rp_fleet_stop(d->fleet); /* no configuration change while draining */
    atomic_store(&d->stopping, true);
    if (d->trainer_started) {
        pthread_mutex_lock(&d->trainer_lock);
        pthread_cond_signal(&d->trainer_cond);
        pthread_mutex_unlock(&d->trainer_lock);
        pthread_join(d->trainer_thread, NULL);
    }
    if (d->queue) rp_queue_close(d->queue);
    if (d->engine_started) pthread_join(d->engine_thread, NULL);
    /* After the engine: its last decisions are published, and an edge's
     * forwarder has drained the queue. */
    rp_cluster_stop(d->cluster);
    d->cluster = NULL;
    /* After the engine too: its last decisions get a second to leave. */
    rp_webhooks_stop(d->webhooks, 1000);
    d->webhooks = NULL;
    atomic_store(&d->store_stopping, true);
    pthread_mutex_lock(&d->store_lock);
    pthread_cond_signal(&d->store_cond);
    pthread_mutex_unlock(&d->store_lock);
    if (d->store_started) {
        pthread_join(d->store_thread, NULL);
        if (d->engine) snapshot_routes(d);
        model_persist(d);
    }
    while (d->jobs_head) { /* only when the store thread never ran */
        store_job *n = d->jobs_head->next;
        free(d->jobs_head);
        d->jobs_head = n;
    }
    rp_engine_free(d->engine);
    rp_recent_free(d->recent);
    rp_queue_free(d->queue);
    rp_dtable_reader_close(d->reader);
    rp_dtable_writer_close(d->table);
    rp_store_close(d->store);
    rp_config_free(d->config);
    rp_fleet_free(d->fleet);
    pthread_mutex_destroy(&d->engine_lock);
    pthread_mutex_destroy(&d->table_lock);
    pthread_mutex_destroy(&d->store_lock);
    pthread_mutex_destroy(&d->log_lock);
    pthread_cond_destroy(&d->store_cond);
    pthread_mutex_destroy(&d->trainer_lock);
    pthread_mutex_destroy(&d->manual_lock);
    pthread_cond_destroy(&d->trainer_cond);
    /* Last: the files they guard are closed. */
    for (int i = 0; i < d->n_locks; i++) close(d->lock_fds[i]);
    free(d);
}

rp_status rp_daemon_reload(rp_daemon *d, rp_error *err) {
    return rp_daemon_reload_fleet(d, NULL, err);
}

rp_status rp_daemon_reload_fleet(rp_daemon *d, const rp_fleet_version *candidate, rp_error *err) {
    rp_config *config;
    rp_fleet_lock(d->fleet); /* a SIGHUP and a fleet version, one at a time */
    const char *path = d->config_path[0] ? d->config_path : NULL;
    rp_status st = rp_load_config(path, &config, err);
    /* the node's file, then the fleet's parts over it (cluster_config.c) */
    if (st == RP_OK && (st = rp_fleet_merge(d->fleet, path, candidate, &config, err)) != RP_OK)
        rp_config_free(config);
    if (st == RP_OK) {
        char token[256];
        rp_serve_config serve = config->serve;
        apply_overrides(&serve, &d->opts);
        st = read_token(serve.token_file, token, sizeof token, err);
        /* header_files are read now: a missing one rejects the reload */
        rp_webhook_targets *targets = NULL;
        if (st == RP_OK) st = rp_webhook_targets_prepare(&config->alerts, &targets, err);
        if (st == RP_OK) {
            pthread_mutex_lock(&d->engine_lock);
            st = rp_engine_reconfigure(d->engine, config, err);
            if (st == RP_OK) {
                rp_webhooks_apply(d->webhooks, targets);
                targets = NULL;
                rp_config_free(d->config);
                d->config = config;
                config = NULL;
                memcpy(d->token, token, sizeof d->token);
            }
            pthread_mutex_unlock(&d->engine_lock);
        }
        rp_webhook_targets_free(targets);
        rp_config_free(config);
    }
    if (st == RP_OK) {
        atomic_fetch_add(&d->reloads, 1);
        rp_fleet_set_applied(d->fleet, candidate);
        uint64_t fleet = rp_fleet_applied_version(d->fleet);
        char with[48] = "";
        if (fleet) snprintf(with, sizeof with, " with fleet config v%llu", (unsigned long long)fleet);
        if (!candidate) /* a fleet version's apply is logged by the watcher */
            rp_log(d, "info", "configuration reloaded%s%s%s",
                   d->config_path[0] ? " from " : " (built-in defaults)", d->config_path, with);
    } else {
        atomic_fetch_add(&d->reload_failures, 1);
        char msg[700];
        rp_error_format(err, msg, sizeof msg);
        /* a fleet version's refusal is logged once by the watcher */
        if (!candidate) rp_log(d, "error", "reload rejected, the old configuration stays: %s", msg);
    }
    rp_fleet_unlock(d->fleet);
    return st;
}

rp_status rp_daemon_write_config(rp_daemon *d, const char *yaml, size_t len, rp_error *err) {
    if (!d->config_path[0])
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0,
                            "the daemon was started without --config: nothing to write");
    if (rp_fleet_applied_version(d->fleet))
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0,
                            "this node runs the fleet's configuration (v%llu): change it with "
                            "`rampart cluster push-config`; the node's own keys are edited in "
                            "%s and reloaded", (unsigned long long)rp_fleet_applied_version(d->fleet),
                            d->config_path);
    rp_config *check;
    rp_status st = rp_load_config_text(yaml, len, d->config_path, &check, err);
    if (st != RP_OK) return st;
    rp_config_free(check);
    /* mode, owner and a symbolic link kept (admin_config.h) */
    st = rp_config_file_write(d->config_path, yaml, len, err);
    if (st != RP_OK) return st;
    rp_log(d, "info", "configuration written through the API");
    return rp_daemon_reload(d, err);
}

const char *rp_daemon_admin_url(rp_daemon *d) { return d->admin_url; }

int rp_daemon_syslog_port(rp_daemon *d) {
    for (int i = 0; i < d->n_inputs; i++)
        if (strcmp(rp_input_name(d->inputs[i]), "syslog") == 0) return rp_input_port(d->inputs[i]);
    return 0;
}
