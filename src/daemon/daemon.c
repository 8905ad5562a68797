/*
 * daemon.c -- `rampart serve`: threads, the engine's callbacks, the store
 * queue, restore on start and clean shutdown. See daemon.h for the
 * threads, the locks and the clock.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "load.h"
#include "inputs.h"
#include "queue.h"
#include "store.h"

#define RP_BATCH 256
#define RP_MAX_INPUTS 8
/* Jobs waiting for the store thread; past this they are dropped and
 * counted (the table already holds the decision; only history suffers). */
#define RP_STORE_MAX_PENDING 100000

typedef enum job_kind { JOB_INCIDENT, JOB_DECISION, JOB_REMOVE } job_kind;

typedef struct store_job {
    struct store_job *next;
    job_kind kind;
    rp_decision decision; /* JOB_DECISION; key for JOB_REMOVE */
    char source[8];
    char reason[128];
    int64_t at_us; /* JOB_REMOVE: when */
    rp_incident incident; /* JOB_INCIDENT (allocated only for that kind) */
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

    pthread_t engine_thread, store_thread;
    atomic_bool stopping;
    atomic_bool store_stopping;
    bool engine_started, store_started;

    rp_admin *admin;
    char admin_url[96];
    char token[256];

    /* counters */
    atomic_uint_fast64_t events_fed;
    atomic_uint_fast64_t incidents_by_action[5];
    atomic_uint_fast64_t incidents_by_detector[RP_MAX_DETECTORS];
    atomic_uint_fast64_t decisions_by_detector[RP_MAX_DETECTORS]; /* throttle/block incidents */
    atomic_uint_fast64_t decisions_engine[5], decisions_manual[5];
    atomic_uint_fast64_t store_dropped, store_errors, store_commits;
    atomic_uint_fast64_t table_full;
    atomic_int_fast64_t newest_event_us;
    atomic_int_fast64_t last_feed_wall_us;
    int64_t started_us;
    atomic_uint_fast64_t reloads, reload_failures;
    pthread_mutex_t log_lock;
    /* Set under the engine lock around rp_engine_decide so that on_decision
     * knows a decision is manual (or a restore, which is not re-recorded). */
    const char *decide_source; /* NULL = engine */
    const char *decide_reason;
};

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

static void run_job(rp_daemon *d, store_job *j) {
    rp_error err = {0};
    rp_status st = RP_OK;
    switch (j->kind) {
    case JOB_INCIDENT: st = rp_store_put_incident(d->store, &j->incident, &err); break;
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
            while (batch) {
                store_job *next = batch->next;
                run_job(d, batch);
                free(batch);
                batch = next;
            }
            if (in_tx && rp_store_commit(d->store, &err) != RP_OK) {
                atomic_fetch_add(&d->store_errors, 1);
                rp_log(d, "error", "store commit: %s", err.message);
            }
            atomic_fetch_add(&d->store_commits, 1);
        } else if (stop) {
            break;
        }
    }
    return NULL;
}

/* ------------------------------------------------------ engine callbacks */

static void table_put(rp_daemon *d, const rp_decision *wall) {
    pthread_mutex_lock(&d->table_lock);
    rp_status st = rp_dtable_put(d->table, wall, rp_wall_us());
    pthread_mutex_unlock(&d->table_lock);
    if (st != RP_OK) {
        atomic_fetch_add(&d->table_full, 1);
        char key[128];
        rp_key_format(&wall->key, key, sizeof key);
        rp_log(d, "error", "decision table full: %s not enforced (raise serve.table_capacity)", key);
    }
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
    table_put(d, &wall);
    atomic_fetch_add(&d->decisions_engine[dec->action], 1);
    store_job *j = new_job(JOB_DECISION);
    if (j) {
        j->decision = wall;
        snprintf(j->source, sizeof j->source, "engine");
        enqueue(d, j);
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
        if (inc->action == RP_ACTION_MONITOR) {
            char key[128];
            rp_key_format(&inc->key, key, sizeof key);
            rp_log(d, "info", "incident %llu monitor %s score %.0f: %s",
                   (unsigned long long)inc->id, key, inc->score,
                   inc->n_findings ? inc->findings[0].summary : "");
        }
    }
    store_job *j = new_job(JOB_INCIDENT);
    if (!j) return;
    j->incident = *inc;
    enqueue(d, j);
}

/* ------------------------------------------------------------ engine thread */

static void snapshot_routes(rp_daemon *d);

typedef struct housekeeping_clock {
    int64_t compact, prune, routes;
    uint64_t table_writes; /* puts + removes at the last compaction */
} housekeeping_clock;

static void housekeeping(rp_daemon *d, int64_t now, housekeeping_clock *hk) {
    if (now - hk->compact > 60 * 1000000LL) {
        hk->compact = now;
        rp_dtable_stats ts;
        pthread_mutex_lock(&d->table_lock);
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

static void *engine_main(void *arg) {
    rp_daemon *d = arg;
    rp_event *evs = calloc(RP_BATCH, sizeof *evs);
    if (!evs) {
        rp_log(d, "error", "engine thread: out of memory");
        return NULL;
    }
    housekeeping_clock hk = {.compact = rp_wall_us(), .prune = 0, .routes = rp_wall_us()};
    for (;;) {
        size_t n = rp_queue_pop(d->queue, evs, RP_BATCH, 100);
        if (n) {
            pthread_mutex_lock(&d->engine_lock);
            for (size_t i = 0; i < n; i++) rp_engine_feed(d->engine, &evs[i]);
            pthread_mutex_unlock(&d->engine_lock);
            atomic_fetch_add(&d->events_fed, n);
            int64_t newest = atomic_load(&d->newest_event_us);
            for (size_t i = 0; i < n; i++)
                if (evs[i].ts_us > newest) newest = evs[i].ts_us;
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
    return NULL;
}

/* ---------------------------------------------------------------- routes */

typedef struct route_list {
    rp_route_info *items;
    size_t n, cap;
} route_list;

static bool collect_route(void *user, const rp_route_info *r) {
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

static void snapshot_routes(rp_daemon *d) {
    route_list l = {0};
    pthread_mutex_lock(&d->engine_lock);
    rp_engine_routes(d->engine, collect_route, &l);
    pthread_mutex_unlock(&d->engine_lock);
    rp_error err = {0};
    if (l.n && rp_store_put_routes(d->store, l.items, l.n, &err) != RP_OK)
        rp_log(d, "error", "store routes: %s", err.message);
    free(l.items);
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

static void restore_one(void *user, const rp_decision *dec) {
    rp_daemon *d = user;
    table_put(d, dec);
    d->decide_source = "restore";
    rp_engine_decide(d->engine, dec);
    d->decide_source = NULL;
}

static rp_status start_inputs(rp_daemon *d, rp_error *err) {
    const rp_serve_config *s = &d->serve;
    rp_status st;
    rp_input *in;
    if (s->socket_path[0]) {
        st = rp_input_datagram_start(s->socket_path, d->queue, &in, err);
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
                                   d->config->n_trusted_proxies, &in, err);
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
    pthread_cond_init(&d->store_cond, NULL);
    d->started_us = rp_wall_us();

    rp_status st = rp_load_config(opts->config_path, &d->config, err);
    if (st != RP_OK) goto fail;
    d->serve = d->config->serve;
    apply_overrides(&d->serve, opts);
    st = read_token(d->serve.token_file, d->token, sizeof d->token, err);
    if (st != RP_OK) goto fail;

    st = rp_store_open(d->serve.store_path, &d->store, err);
    if (st != RP_OK) goto fail;
    st = rp_dtable_writer_create(d->serve.table_path, d->serve.table_capacity, &d->table, err);
    if (st != RP_OK) goto fail;
    rp_engine_callbacks cb = {.user = d, .on_incident = on_incident, .on_decision = on_decision};
    st = rp_engine_new(d->config, &cb, &d->engine, err);
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
    rp_log(d, "info", "restored %u active decisions into %s", ts.live, d->serve.table_path);
    st = rp_dtable_reader_open(d->serve.table_path, &d->reader, err);
    if (st != RP_OK) goto fail;

    st = rp_queue_new(d->serve.queue_bytes ? d->serve.queue_bytes : (64u << 20), &d->queue);
    if (st != RP_OK) {
        rp_error_set(err, st, NULL, 0, 0, "cannot allocate the ingest queue");
        goto fail;
    }
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
    if (d->serve.admin_listen[0]) {
        int port = 0;
        st = rp_admin_start(d, d->serve.admin_listen, &d->admin, &port, err);
        if (st != RP_OK) goto fail;
        char host[64];
        snprintf(host, sizeof host, "%s", d->serve.admin_listen);
        char *colon = strrchr(host, ':');
        if (colon) *colon = 0;
        snprintf(d->admin_url, sizeof d->admin_url, "http://%s:%d", host, port);
        rp_log(d, "info", "admin API on %s%s", d->admin_url,
               d->token[0] ? "" : " (no token file: changes are refused)");
    }
    st = start_inputs(d, err);
    if (st != RP_OK) goto fail;
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
    atomic_store(&d->stopping, true);
    if (d->queue) rp_queue_close(d->queue);
    if (d->engine_started) pthread_join(d->engine_thread, NULL);
    atomic_store(&d->store_stopping, true);
    pthread_mutex_lock(&d->store_lock);
    pthread_cond_signal(&d->store_cond);
    pthread_mutex_unlock(&d->store_lock);
    if (d->store_started) {
        pthread_join(d->store_thread, NULL);
        if (d->engine) snapshot_routes(d);
    }
    while (d->jobs_head) { /* only when the store thread never ran */
        store_job *n = d->jobs_head->next;
        free(d->jobs_head);
        d->jobs_head = n;
    }
    rp_engine_free(d->engine);
    rp_queue_free(d->queue);
    rp_dtable_reader_close(d->reader);
    rp_dtable_writer_close(d->table);
    rp_store_close(d->store);
    rp_config_free(d->config);
    pthread_mutex_destroy(&d->engine_lock);
    pthread_mutex_destroy(&d->table_lock);
    pthread_mutex_destroy(&d->store_lock);
    pthread_mutex_destroy(&d->log_lock);
    pthread_cond_destroy(&d->store_cond);
    free(d);
}

rp_status rp_daemon_reload(rp_daemon *d, rp_error *err) {
    rp_config *config;
    rp_status st = rp_load_config(d->config_path[0] ? d->config_path : NULL, &config, err);
    if (st == RP_OK) {
        char token[256];
        rp_serve_config serve = config->serve;
        apply_overrides(&serve, &d->opts);
        st = read_token(serve.token_file, token, sizeof token, err);
        if (st == RP_OK) {
            pthread_mutex_lock(&d->engine_lock);
            st = rp_engine_reconfigure(d->engine, config, err);
            if (st == RP_OK) {
                rp_config_free(d->config);
                d->config = config;
                config = NULL;
                memcpy(d->token, token, sizeof d->token);
            }
            pthread_mutex_unlock(&d->engine_lock);
        }
        rp_config_free(config);
    }
    if (st == RP_OK) {
        atomic_fetch_add(&d->reloads, 1);
        rp_log(d, "info", "configuration reloaded%s%s",
               d->config_path[0] ? " from " : " (built-in defaults)", d->config_path);
    } else {
        atomic_fetch_add(&d->reload_failures, 1);
        char msg[700];
        rp_error_format(err, msg, sizeof msg);
        rp_log(d, "error", "reload rejected, the old configuration stays: %s", msg);
    }
    return st;
}

const char *rp_daemon_admin_url(rp_daemon *d) { return d->admin_url; }

int rp_daemon_syslog_port(rp_daemon *d) {
    for (int i = 0; i < d->n_inputs; i++)
        if (strcmp(rp_input_name(d->inputs[i]), "syslog") == 0) return rp_input_port(d->inputs[i]);
    return 0;
}

/* ------------------------------------------------------- admin operations */

static const char *const level_labels[RP_LEVEL_COUNT] = {"ip",      "subnet",  "fingerprint",
                                                          "token",   "session", "username"};

json_t *rp_daemon_stats_json(rp_daemon *d) {
    rp_engine_stats es;
    pthread_mutex_lock(&d->engine_lock);
    rp_engine_get_stats(d->engine, &es);
    pthread_mutex_unlock(&d->engine_lock);
    rp_queue_stats qs;
    rp_queue_get_stats(d->queue, &qs);
    int64_t now = rp_wall_us();
    rp_dtable_stats ts;
    pthread_mutex_lock(&d->table_lock);
    rp_dtable_writer_stats(d->table, now, &ts);
    pthread_mutex_unlock(&d->table_lock);

    json_t *o = json_object();
    json_object_set_new(o, "version", json_string(RP_VERSION));
    json_object_set_new(o, "uptime_s", json_integer((now - d->started_us) / 1000000));
    json_t *inputs = json_array();
    for (int i = 0; i < d->n_inputs; i++) {
        rp_input_stats is;
        rp_input_get_stats(d->inputs[i], &is);
        uint64_t bad = is.bad_syslog;
        for (int r = 0; r < RP_DECODE_REASON_COUNT; r++) bad += is.bad_decode[r];
        for (int r = 0; r < RP_SKIP_REASON_COUNT; r++) bad += is.bad_line[r];
        json_array_append_new(inputs, json_pack("{s:s,s:I,s:I,s:I,s:I,s:I}", "input",
                                                rp_input_name(d->inputs[i]), "received",
                                                (json_int_t)is.received, "events",
                                                (json_int_t)is.events, "dropped_queue_full",
                                                (json_int_t)is.dropped_queue_full, "bad",
                                                (json_int_t)bad, "rotations",
                                                (json_int_t)is.rotations));
    }
    json_object_set_new(o, "inputs", inputs);
    json_object_set_new(o, "queue", json_pack("{s:I,s:I,s:I,s:I}", "bytes_used",
                                              (json_int_t)qs.bytes_used, "bytes_capacity",
                                              (json_int_t)qs.bytes_capacity, "pushed",
                                              (json_int_t)qs.pushed, "dropped_full",
                                              (json_int_t)qs.dropped_full));
    json_t *eng = json_object();
    json_object_set_new(eng, "events", json_integer((json_int_t)es.events));
    json_object_set_new(eng, "events_out_of_order", json_integer((json_int_t)es.events_out_of_order));
    json_object_set_new(eng, "allowlisted", json_integer((json_int_t)es.allowlisted));
    json_object_set_new(eng, "incidents", json_integer((json_int_t)es.incidents));
    json_object_set_new(eng, "decisions", json_integer((json_int_t)es.decisions));
    json_object_set_new(eng, "routes", json_integer((json_int_t)es.routes));
    json_t *clients = json_object();
    for (int l = 0; l < RP_LEVEL_COUNT; l++)
        if (es.clients_capacity[l])
            json_object_set_new(clients, level_labels[l],
                                json_pack("{s:I,s:I,s:I}", "tracked",
                                          (json_int_t)es.clients_tracked[l], "capacity",
                                          (json_int_t)es.clients_capacity[l], "evicted",
                                          (json_int_t)es.clients_evicted[l]));
    json_object_set_new(eng, "clients", clients);
    int64_t newest = atomic_load(&d->newest_event_us);
    json_object_set_new(eng, "lag_s", newest ? json_real((double)(now - newest) / 1e6) : json_null());
    json_object_set_new(o, "engine", eng);
    json_t *inc = json_object();
    for (int a = RP_ACTION_MONITOR; a <= RP_ACTION_BLOCK; a++)
        json_object_set_new(inc, rp_action_name((rp_action)a),
                            json_integer((json_int_t)atomic_load(&d->incidents_by_action[a])));
    json_object_set_new(o, "incidents", inc);
    json_t *det = json_object();
    for (unsigned i = 0; i < rp_detector_count; i++)
        json_object_set_new(det, rp_detectors[i]->name,
                            json_integer((json_int_t)atomic_load(&d->incidents_by_detector[i])));
    json_object_set_new(o, "incidents_by_detector", det);
    json_object_set_new(o, "table", json_pack("{s:s,s:I,s:I,s:I,s:I}", "path", d->serve.table_path,
                                              "capacity", (json_int_t)ts.capacity, "active",
                                              (json_int_t)ts.live, "tombstones",
                                              (json_int_t)ts.tombstones, "generation",
                                              (json_int_t)ts.generation));
    pthread_mutex_lock(&d->store_lock);
    size_t pending = d->jobs_pending;
    pthread_mutex_unlock(&d->store_lock);
    json_object_set_new(o, "store", json_pack("{s:s,s:I,s:I,s:I,s:I}", "path", d->serve.store_path,
                                              "pending", (json_int_t)pending, "commits",
                                              (json_int_t)atomic_load(&d->store_commits), "errors",
                                              (json_int_t)atomic_load(&d->store_errors), "dropped",
                                              (json_int_t)atomic_load(&d->store_dropped)));
    return o;
}

static void metric_head(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void rp_daemon_metrics(rp_daemon *d, FILE *f) {
    rp_engine_stats es;
    pthread_mutex_lock(&d->engine_lock);
    rp_engine_get_stats(d->engine, &es);
    pthread_mutex_unlock(&d->engine_lock);
    rp_queue_stats qs;
    rp_queue_get_stats(d->queue, &qs);
    int64_t now = rp_wall_us();

    metric_head(f, "rampart_events_received_total", "counter", "Datagrams or lines received, by input.");
    for (int i = 0; i < d->n_inputs; i++) {
        rp_input_stats is;
        rp_input_get_stats(d->inputs[i], &is);
        fprintf(f, "rampart_events_received_total{input=\"%s\"} %llu\n", rp_input_name(d->inputs[i]),
                (unsigned long long)is.received);
    }
    metric_head(f, "rampart_events_dropped_total", "counter",
                "Events dropped before the engine, by input and reason.");
    for (int i = 0; i < d->n_inputs; i++) {
        rp_input_stats is;
        rp_input_get_stats(d->inputs[i], &is);
        const char *name = rp_input_name(d->inputs[i]);
        fprintf(f, "rampart_events_dropped_total{input=\"%s\",reason=\"queue_full\"} %llu\n", name,
                (unsigned long long)is.dropped_queue_full);
        for (int r = 1; r < RP_DECODE_REASON_COUNT; r++)
            if (is.bad_decode[r])
                fprintf(f, "rampart_events_dropped_total{input=\"%s\",reason=\"decode_%s\"} %llu\n",
                        name, rp_decode_reason_name((rp_decode_reason)r),
                        (unsigned long long)is.bad_decode[r]);
        for (int r = 1; r < RP_SKIP_REASON_COUNT; r++)
            if (is.bad_line[r])
                fprintf(f, "rampart_events_dropped_total{input=\"%s\",reason=\"%s\"} %llu\n", name,
                        rp_skip_reason_name((rp_skip_reason)r), (unsigned long long)is.bad_line[r]);
        if (is.bad_syslog)
            fprintf(f, "rampart_events_dropped_total{input=\"%s\",reason=\"bad_syslog\"} %llu\n", name,
                    (unsigned long long)is.bad_syslog);
    }
    metric_head(f, "rampart_engine_events_total", "counter", "Events fed to the engine.");
    fprintf(f, "rampart_engine_events_total %llu\n", (unsigned long long)es.events);
    metric_head(f, "rampart_engine_lag_seconds", "gauge",
                "Wall clock minus the time of the newest event seen by the engine.");
    int64_t newest = atomic_load(&d->newest_event_us);
    fprintf(f, "rampart_engine_lag_seconds %.3f\n", newest ? (double)(now - newest) / 1e6 : 0.0);
    metric_head(f, "rampart_queue_bytes", "gauge", "Bytes waiting in the ingest queue.");
    fprintf(f, "rampart_queue_bytes %zu\n", qs.bytes_used);
    metric_head(f, "rampart_queue_capacity_bytes", "gauge", "Capacity of the ingest queue.");
    fprintf(f, "rampart_queue_capacity_bytes %zu\n", qs.bytes_capacity);
    metric_head(f, "rampart_incidents_total", "counter", "Incidents opened, by action.");
    for (int a = RP_ACTION_MONITOR; a <= RP_ACTION_BLOCK; a++)
        fprintf(f, "rampart_incidents_total{action=\"%s\"} %llu\n", rp_action_name((rp_action)a),
                (unsigned long long)atomic_load(&d->incidents_by_action[a]));
    metric_head(f, "rampart_incident_findings_total", "counter",
                "Detectors that contributed to incidents, by detector.");
    for (unsigned i = 0; i < rp_detector_count; i++)
        fprintf(f, "rampart_incident_findings_total{detector=\"%s\"} %llu\n", rp_detectors[i]->name,
                (unsigned long long)atomic_load(&d->incidents_by_detector[i]));
    metric_head(f, "rampart_decision_findings_total", "counter",
                "Detectors that contributed to throttle and block decisions, by detector.");
    for (unsigned i = 0; i < rp_detector_count; i++)
        fprintf(f, "rampart_decision_findings_total{detector=\"%s\"} %llu\n", rp_detectors[i]->name,
                (unsigned long long)atomic_load(&d->decisions_by_detector[i]));
    metric_head(f, "rampart_decisions_total", "counter", "Decisions made, by action and source.");
    for (int a = RP_ACTION_THROTTLE; a <= RP_ACTION_ALLOW; a++) {
        fprintf(f, "rampart_decisions_total{action=\"%s\",source=\"engine\"} %llu\n",
                rp_action_name((rp_action)a), (unsigned long long)atomic_load(&d->decisions_engine[a]));
        fprintf(f, "rampart_decisions_total{action=\"%s\",source=\"manual\"} %llu\n",
                rp_action_name((rp_action)a), (unsigned long long)atomic_load(&d->decisions_manual[a]));
    }
    rp_dtable_stats ts;
    pthread_mutex_lock(&d->table_lock);
    rp_dtable_writer_stats(d->table, now, &ts);
    pthread_mutex_unlock(&d->table_lock);
    metric_head(f, "rampart_decision_table_active", "gauge", "Unexpired entries in the decision table.");
    fprintf(f, "rampart_decision_table_active %u\n", ts.live);
    metric_head(f, "rampart_decision_table_capacity", "gauge", "Entries the decision table holds.");
    fprintf(f, "rampart_decision_table_capacity %u\n", ts.capacity);
    metric_head(f, "rampart_decision_table_fill_ratio", "gauge", "Active entries over capacity.");
    fprintf(f, "rampart_decision_table_fill_ratio %.6f\n", ts.capacity ? (double)ts.live / ts.capacity : 0.0);
    metric_head(f, "rampart_decision_table_full_total", "counter",
                "Decisions that found no room in the table.");
    fprintf(f, "rampart_decision_table_full_total %llu\n", (unsigned long long)atomic_load(&d->table_full));
    metric_head(f, "rampart_clients_tracked", "gauge", "Keys in the engine's tables, by level.");
    for (int l = 0; l < RP_LEVEL_COUNT; l++)
        if (es.clients_capacity[l])
            fprintf(f, "rampart_clients_tracked{level=\"%s\"} %llu\n", level_labels[l],
                    (unsigned long long)es.clients_tracked[l]);
    metric_head(f, "rampart_clients_evicted_total", "counter", "Keys evicted at the table cap, by level.");
    for (int l = 0; l < RP_LEVEL_COUNT; l++)
        if (es.clients_capacity[l])
            fprintf(f, "rampart_clients_evicted_total{level=\"%s\"} %llu\n", level_labels[l],
                    (unsigned long long)es.clients_evicted[l]);
    metric_head(f, "rampart_store_errors_total", "counter", "Failed writes to the store.");
    fprintf(f, "rampart_store_errors_total %llu\n", (unsigned long long)atomic_load(&d->store_errors));
    metric_head(f, "rampart_store_dropped_total", "counter",
                "Store writes dropped because the store queue was full.");
    fprintf(f, "rampart_store_dropped_total %llu\n", (unsigned long long)atomic_load(&d->store_dropped));
    metric_head(f, "rampart_reloads_total", "counter", "Configuration reloads, by result.");
    fprintf(f, "rampart_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)atomic_load(&d->reloads));
    fprintf(f, "rampart_reloads_total{result=\"rejected\"} %llu\n",
            (unsigned long long)atomic_load(&d->reload_failures));
}

static json_t *decision_json(const rp_decision *dec) {
    char key[128], start[40], exp[40];
    rp_key_format(&dec->key, key, sizeof key);
    rp_format_time(dec->start_us, start, sizeof start);
    rp_format_time(dec->expires_us, exp, sizeof exp);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "key", key, "level",
                          rp_level_name((rp_key_level)dec->key.level), "action",
                          rp_action_name(dec->action), "start", start, "expires", exp);
    json_object_set_new(o, "incident_id", json_integer((json_int_t)dec->incident_id));
    return o;
}

static void collect_decision(void *user, const rp_decision *dec) {
    json_array_append_new(user, decision_json(dec));
}

json_t *rp_daemon_decisions_json(rp_daemon *d) {
    json_t *arr = json_array();
    pthread_mutex_lock(&d->table_lock);
    rp_dtable_writer_each(d->table, rp_wall_us(), collect_decision, arr);
    pthread_mutex_unlock(&d->table_lock);
    return json_pack("{s:I,s:o}", "total", (json_int_t)json_array_size(arr), "decisions", arr);
}

static bool route_json(void *user, const rp_route_info *r) {
    json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:I}", "method", r->method, "template",
                          r->template_, "class", rp_route_class_name(r->cls), "declared",
                          r->declared, "requests", (json_int_t)r->requests, "errors",
                          (json_int_t)r->errors, "flagged", (json_int_t)r->flagged, "clients",
                          (json_int_t)r->clients);
    if (o) json_array_append_new(user, o);
    return true;
}

json_t *rp_daemon_inventory_json(rp_daemon *d) {
    json_t *arr = json_array();
    pthread_mutex_lock(&d->engine_lock);
    rp_engine_routes(d->engine, route_json, arr);
    pthread_mutex_unlock(&d->engine_lock);
    return json_pack("{s:I,s:o}", "total", (json_int_t)json_array_size(arr), "routes", arr);
}

json_t *rp_daemon_client_json(rp_daemon *d, const rp_key *key) {
    rp_incident *live = malloc(sizeof *live);
    if (!live) return NULL;
    pthread_mutex_lock(&d->engine_lock);
    bool tracked = rp_engine_explain(d->engine, key, live);
    pthread_mutex_unlock(&d->engine_lock);
    rp_dtable_hit hit;
    int64_t now = rp_wall_us();
    pthread_mutex_lock(&d->table_lock);
    int found = rp_dtable_lookup(d->reader, key, now, &hit);
    pthread_mutex_unlock(&d->table_lock);
    if (!tracked && found != 1) {
        free(live);
        return NULL;
    }
    char keytext[128];
    rp_key_format(key, keytext, sizeof keytext);
    json_t *o = json_object();
    json_object_set_new(o, "key", json_string(keytext));
    json_object_set_new(o, "level", json_string(rp_level_name((rp_key_level)key->level)));
    json_object_set_new(o, "tracked", json_boolean(tracked));
    if (tracked) {
        char *text = rp_incident_to_json(live);
        json_t *state = text ? json_loads(text, 0, NULL) : NULL;
        free(text);
        if (state) {
            /* The live picture is not an incident: drop the incident-only fields. */
            json_object_del(state, "id");
            json_object_del(state, "key");
            json_object_del(state, "level");
            json_object_set_new(o, "live", state);
        }
    }
    if (found == 1) {
        char exp[40];
        rp_format_time(hit.expires_us, exp, sizeof exp);
        json_object_set_new(o, "decision",
                            json_pack("{s:s,s:s,s:I,s:I}", "action", rp_action_name(hit.action),
                                      "expires", exp, "retry_after_s",
                                      (json_int_t)((hit.expires_us - now + 999999) / 1000000),
                                      "incident_id", (json_int_t)hit.incident_id));
    } else {
        json_object_set_new(o, "decision", json_null());
    }
    free(live);
    return o;
}

rp_status rp_daemon_decide(rp_daemon *d, const rp_key *key, rp_action action, int64_t duration_us,
                           const char *reason, rp_decision *out, rp_error *err) {
    if (action != RP_ACTION_BLOCK && action != RP_ACTION_THROTTLE && action != RP_ACTION_ALLOW)
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "action must be block, throttle or allow");
    if (duration_us <= 0 || duration_us > 3650LL * 86400 * 1000000)
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "duration must be between 1 s and 10 years");
    int64_t now = rp_wall_us();
    rp_decision dec = {.key = *key, .action = action, .start_us = now, .expires_us = now + duration_us};
    pthread_mutex_lock(&d->engine_lock);
    d->decide_source = "manual";
    rp_engine_decide(d->engine, &dec);
    d->decide_source = NULL;
    pthread_mutex_unlock(&d->engine_lock);
    pthread_mutex_lock(&d->table_lock);
    rp_status st = rp_dtable_put(d->table, &dec, now);
    pthread_mutex_unlock(&d->table_lock);
    if (st != RP_OK)
        return rp_error_set(err, st, NULL, 0, 0, "the decision table is full (serve.table_capacity)");
    atomic_fetch_add(&d->decisions_manual[action], 1);
    /* Manual decisions are committed before the answer: the operator's
     * action survives a crash the moment the API says it was taken. */
    st = rp_store_put_decision(d->store, &dec, "manual", reason, err);
    if (st != RP_OK) return st;
    char keytext[128];
    rp_key_format(key, keytext, sizeof keytext);
    rp_log(d, "info", "manual decision %s %s for %llds%s%s", rp_action_name(action), keytext,
           (long long)(duration_us / 1000000), reason ? ": " : "", reason ? reason : "");
    if (out) *out = dec;
    return RP_OK;
}

rp_status rp_daemon_undecide(rp_daemon *d, const rp_key *key, rp_error *err) {
    int64_t now = rp_wall_us();
    rp_dtable_hit hit;
    pthread_mutex_lock(&d->table_lock);
    int found = rp_dtable_lookup(d->reader, key, now, &hit);
    if (found == 1) rp_dtable_remove(d->table, key);
    pthread_mutex_unlock(&d->table_lock);
    if (found != 1) {
        char keytext[128];
        rp_key_format(key, keytext, sizeof keytext);
        return rp_error_set(err, RP_ENOENT, NULL, 0, 0, "no active decision for %s", keytext);
    }
    rp_decision clear = {.key = *key, .action = RP_ACTION_NONE, .start_us = now, .expires_us = now};
    pthread_mutex_lock(&d->engine_lock);
    d->decide_source = "manual";
    rp_engine_decide(d->engine, &clear);
    d->decide_source = NULL;
    pthread_mutex_unlock(&d->engine_lock);
    rp_status st = rp_store_remove_decision(d->store, key, now, "manual", err);
    if (st == RP_ENOENT) st = RP_OK;
    char keytext[128];
    rp_key_format(key, keytext, sizeof keytext);
    rp_log(d, "info", "decision on %s removed", keytext);
    return st;
}

bool rp_daemon_check(rp_daemon *d, const rp_key *keys, int n, rp_dtable_hit *hit) {
    int64_t now = rp_wall_us();
    /* Pick up a compacted table (a rename) at most every second, like nginx. */
    pthread_mutex_lock(&d->table_lock);
    if (now - d->reader_checked_us > 1000000) {
        d->reader_checked_us = now;
        rp_error err;
        rp_dtable_reader_refresh(d->reader, &err);
    }
    bool any = false;
    rp_dtable_hit best = {0};
    for (int i = 0; i < n; i++) {
        rp_dtable_hit h;
        if (rp_dtable_lookup(d->reader, &keys[i], now, &h) != 1) continue;
        if (h.action == RP_ACTION_ALLOW) { /* an allow on any key wins */
            best = h;
            any = true;
            break;
        }
        if (!any || h.action > best.action) best = h;
        any = true;
    }
    pthread_mutex_unlock(&d->table_lock);
    if (any) *hit = best;
    return any;
}

rp_status rp_daemon_incidents(rp_daemon *d, const rp_incident_query *q, char **json, rp_error *err) {
    return rp_store_query_incidents(d->store, q, json, err);
}

rp_status rp_daemon_decision_history(rp_daemon *d, const char *key, int limit, int offset,
                                     char **json, rp_error *err) {
    return rp_store_query_decisions(d->store, key, false, rp_wall_us(), limit, offset, json, err);
}
