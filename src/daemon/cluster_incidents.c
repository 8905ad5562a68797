/*
 * cluster_incidents.c -- the fleet view (docs/cluster.md#fleet-view): which
 * host saw which request, and every node showing the fleet's incidents.
 *
 * Hosts. Each node has a name (cluster.node, default the consumer's name:
 * <hostname>-<hash of the store path>, see rp_fleet_view_new). The
 * edge writes it once per stream entry (field "h", cluster_edge.c); the
 * detector interns it (hosts.c) and stamps the one-byte id on each event
 * it queues (cluster_detector.c), so the engine's samples carry it and
 * its client records do not change. On the engine thread every event is
 * also noted in the recent-origins table (hosts.c), which gives an
 * incident, when it opens, the hosts its key came through.
 *
 * Incidents. A node whose engine makes an incident (a detector; an edge
 * in local detection) keeps it in its store as before, annotated with
 * its name and the hosts, and publishes the same JSON the API serves to
 * the stream <cluster.decisions>:incidents (XADD MAXLEN ~
 * cluster.incidents_maxlen; fields n = node, i = its id there, j = the
 * JSON), from the publisher thread (no Redis call on the engine thread).
 * Every node's incident mirror (a thread of its own, with its own
 * connection) reads that stream and keeps each incident in its own store,
 * once per (node, id) -- the same incident published again when it is
 * updated replaces it. Why mirrored into the store rather than read from
 * Redis when the API asks: the API never waits for Redis (an API thread
 * makes no Redis call), the store's queries -- filters, paging, one row
 * per client, top lists, retention -- work on the fleet's incidents
 * unchanged, and a node restarted while Redis is unreachable still shows
 * what it had. At start the mirror reads the whole stream again (at most
 * incidents_maxlen entries, idempotent: an unchanged incident is not
 * rewritten), then follows it; after a lost connection it goes on from
 * the last entry it read.
 *
 * The queue of incidents to publish is bounded (INCIDENTS_PENDING_MAX):
 * past it an incident is dropped from the fleet (counted), never from
 * this node's store.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_int.h"
#include "hosts.h"

#define INCIDENTS_PENDING_MAX 1024 /* ~7 KiB each: 7 MiB at most */
#define PUBLISH_BATCH 64
#define MIRROR_COUNT 128

typedef struct incident_item {
    struct incident_item *next;
    rp_host_set hosts;
    rp_incident inc;
} incident_item;

struct rp_fleet_view {
    char node[RP_NODE_NAME_MAX + 1];
    char key[176]; /* <decisions>:incidents */
    rp_hosts *hosts;
    rp_origins *origins;
    pthread_mutex_t lock;
    incident_item *head, *tail;
    size_t pending;
    pthread_t thread;
    bool started;
    atomic_uint_fast64_t published, dropped, mirrored, refused;
};

rp_status rp_fleet_view_new(rp_cluster *c, rp_error *err) {
    rp_fleet_view *v = calloc(1, sizeof *v);
    if (!v) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    if (c->config.node[0]) {
        snprintf(v->node, sizeof v->node, "%s", c->config.node);
    } else {
        /* The consumer's name (cluster.c: cluster.consumer, or the hostname
         * and a hash of the store's path): distinct for two daemons on one
         * machine, as an edge and a detector on a test host, stable across
         * restarts. Cut in the middle past 64, keeping the hash. */
        char name[sizeof c->consumer];
        rp_host_name_sanitize(c->consumer, name);
        size_t n = strlen(c->consumer);
        if (n > RP_HOST_NAME_MAX) {
            rp_host_name_sanitize(c->consumer + n - 9, name + RP_HOST_NAME_MAX - 9);
            name[RP_HOST_NAME_MAX] = 0;
        }
        size_t k = strnlen(name, RP_HOST_NAME_MAX);
        memcpy(v->node, name, k);
        v->node[k] = 0;
    }
    rp_log(c->d, "info", "cluster: this node is %s (cluster.node%s)", v->node,
           c->config.node[0] ? "" : " unset: the consumer's name");
    snprintf(v->key, sizeof v->key, "%s:incidents", c->config.decisions);
    v->hosts = rp_hosts_new(v->node);
    v->origins = rp_origins_new();
    pthread_mutex_init(&v->lock, NULL);
    c->view = v;
    if (!v->hosts || !v->origins) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    return RP_OK;
}

void rp_fleet_view_free(rp_cluster *c) {
    rp_fleet_view *v = c->view;
    if (!v) return;
    for (incident_item *it = v->head; it;) {
        incident_item *next = it->next;
        free(it);
        it = next;
    }
    pthread_mutex_destroy(&v->lock);
    rp_hosts_free(v->hosts);
    rp_origins_free(v->origins);
    free(v);
    c->view = NULL;
}

const char *rp_cluster_node(const rp_cluster *c) { return c && c->view ? c->view->node : NULL; }

uint8_t rp_cluster_host_id(rp_cluster *c, const char *name, size_t len) {
    return rp_hosts_intern(c->view->hosts, name, len);
}

void rp_cluster_note_event(rp_cluster *c, const rp_event *ev) {
    if (c) rp_origins_note(c->view->origins, ev);
}

void rp_cluster_prefetch_event(rp_cluster *c, const rp_event *ev) {
    if (c) rp_origins_prefetch(c->view->origins, ev);
}

/* The hosts of an incident: those its key came through (the recent
 * origins) and those of its samples. */
static void incident_hosts(rp_cluster *c, const rp_incident *inc, rp_host_set *set) {
    memset(set, 0, sizeof *set);
    for (unsigned i = 0; i < inc->n_samples && i < RP_MAX_SAMPLES; i++)
        rp_host_set_add(set, inc->samples[i].origin);
    rp_origins_get(c->view->origins, &inc->key, set);
}

void rp_cluster_incident(rp_cluster *c, const rp_incident *inc, rp_host_set *set) {
    if (!c) return;
    rp_fleet_view *v = c->view;
    incident_hosts(c, inc, set);
    incident_item *it = malloc(sizeof *it);
    pthread_mutex_lock(&v->lock);
    if (!it || v->pending >= INCIDENTS_PENDING_MAX || atomic_load(&c->stopping)) {
        pthread_mutex_unlock(&v->lock);
        free(it);
        atomic_fetch_add(&v->dropped, 1);
        return;
    }
    it->next = NULL;
    it->hosts = *set;
    it->inc = *inc;
    if (v->tail) v->tail->next = it;
    else v->head = it;
    v->tail = it;
    v->pending++;
    pthread_mutex_unlock(&v->lock);
    /* the publisher sleeps on the decisions' condition */
    pthread_mutex_lock(&c->publish_lock);
    pthread_cond_signal(&c->publish_cond);
    pthread_mutex_unlock(&c->publish_lock);
}

void rp_cluster_incident_names(rp_cluster *c, const rp_incident *inc, const rp_host_set *set,
                               rp_incident_fleet *out) {
    memset(out, 0, sizeof *out);
    const rp_hosts *h = c->view->hosts;
    out->node = c->view->node;
    for (unsigned i = 0; i < inc->n_samples && i < RP_MAX_SAMPLES; i++)
        out->sample_host[i] = rp_hosts_name(h, inc->samples[i].origin);
    for (unsigned i = 0; i < set->n && out->n_hosts < RP_FLEET_MAX_HOSTS; i++) {
        const char *name = rp_hosts_name(h, set->ids[i]);
        if (name) out->hosts[out->n_hosts++] = name;
        else out->more_hosts = true; /* a host whose name was refused or did not fit */
    }
    if (set->more) out->more_hosts = true;
}

bool rp_cluster_incidents_pending(rp_cluster *c) {
    pthread_mutex_lock(&c->view->lock);
    bool any = c->view->head != NULL;
    pthread_mutex_unlock(&c->view->lock);
    return any;
}

/* ------------------------------------------------------------- publish */

rp_status rp_cluster_publish_incidents(rp_cluster *c, redisContext *ctx) {
    rp_fleet_view *v = c->view;
    pthread_mutex_lock(&v->lock);
    incident_item *head = v->head, *last = NULL;
    size_t n = 0;
    for (incident_item *it = head; it && n < PUBLISH_BATCH; it = it->next, n++) last = it;
    if (last) {
        v->head = last->next;
        if (!v->head) v->tail = NULL;
        last->next = NULL;
        v->pending -= n;
    }
    pthread_mutex_unlock(&v->lock);
    if (!head) return RP_OK;
    char maxlen[16];
    snprintf(maxlen, sizeof maxlen, "%u", c->config.incidents_maxlen);
    size_t sent = 0;
    for (incident_item *it = head; it; it = it->next) {
        rp_incident_fleet names;
        rp_cluster_incident_names(c, &it->inc, &it->hosts, &names);
        char *json = rp_incident_to_json_fleet(&it->inc, &names);
        if (!json) continue;
        char id[24];
        snprintf(id, sizeof id, "%llu", (unsigned long long)it->inc.id);
        const char *argv[] = {"XADD", v->key, "MAXLEN", "~", maxlen, "*", "n", v->node, "i", id,
                              "j", json};
        size_t argvlen[12];
        for (int k = 0; k < 12; k++) argvlen[k] = strlen(argv[k]);
        redisAppendCommandArgv(ctx, 12, argv, argvlen);
        free(json);
        sent++;
    }
    rp_status st = RP_OK;
    uint64_t ok = 0;
    for (size_t i = 0; i < sent; i++) {
        redisReply *r = NULL;
        if (redisGetReply(ctx, (void **)&r) != REDIS_OK || !r) {
            st = RP_EIO;
            break;
        }
        if (r->type != REDIS_REPLY_ERROR) ok++;
        freeReplyObject(r);
    }
    if (st == RP_OK) {
        atomic_fetch_add(&v->published, ok);
        atomic_fetch_add(&v->dropped, sent - ok);
        while (head) {
            incident_item *next = head->next;
            free(head);
            head = next;
        }
        return RP_OK;
    }
    /* Back in front, to be written again on the next connection (an
     * incident written twice is kept once by the mirrors). */
    pthread_mutex_lock(&v->lock);
    last->next = v->head;
    v->head = head;
    if (!v->tail) v->tail = last;
    v->pending += n;
    pthread_mutex_unlock(&v->lock);
    return RP_EIO;
}

/* --------------------------------------------------------------- mirror */

/* One entry: n, i, j. Kept unless it is ours or refused (counted). */
static void mirror_entry(rp_cluster *c, const redisReply *fields, int64_t *last_log) {
    rp_fleet_view *v = c->view;
    const redisReply *node = NULL, *json = NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *val = fields->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING || k->len != 1)
            continue;
        if (k->str[0] == 'n') node = val;
        else if (k->str[0] == 'j') json = val;
    }
    const char *why = NULL;
    char name[RP_NODE_NAME_MAX + 1];
    rp_error err = {0};
    if (!node || !rp_node_name_valid(node->str, node->len)) {
        why = "no valid node name";
    } else {
        memcpy(name, node->str, node->len);
        name[node->len] = 0;
        if (strcmp(name, v->node) == 0) return; /* ours: in our store already */
        if (!json) why = "no JSON";
    }
    if (!why) {
        bool changed = false;
        rp_status st = rp_store_put_remote_incident(c->d->store, name, json->str, json->len,
                                                    &changed, &err);
        if (st == RP_OK) {
            if (changed) atomic_fetch_add(&v->mirrored, 1);
            return;
        }
        why = err.message;
    }
    atomic_fetch_add(&v->refused, 1);
    int64_t now = rp_wall_us();
    if (now - *last_log > 60 * 1000000LL) { /* hostile input: a line a minute at most */
        rp_log(c->d, "warn", "cluster incidents: an entry of %s skipped: %s", v->key, why);
        *last_log = now;
    }
}

/* One read's incidents go into the store in one transaction, begun at
 * its first entry (a read that brings nothing begins none). */
typedef struct mirror_read {
    int64_t last_log;
    bool batch;
} mirror_read;

static void follow_incident(rp_cluster *c, const redisReply *fields, void *user) {
    mirror_read *m = user;
    rp_error err = {0};
    if (!m->batch) m->batch = rp_store_begin(c->d->store, &err) == RP_OK;
    mirror_entry(c, fields, &m->last_log);
}

static void *incidents_main(void *arg) {
    rp_cluster *c = arg;
    redisContext *ctx = NULL;
    char last_id[48] = "0-0"; /* at start: the whole stream again (idempotent) */
    mirror_read m = {0};
    while (!atomic_load(&c->stopping)) {
        if (!ctx) {
            ctx = rp_cluster_connect_retry(c, "incident mirror");
            if (!ctx) break;
        }
        /* One transaction a read (up to MIRROR_COUNT incidents): 10,000 at
         * start in ~2 s rather than ~5. */
        rp_status st = rp_cluster_follow(c, ctx, "incident mirror", c->view->key, last_id,
                                         sizeof last_id, MIRROR_COUNT, follow_incident, &m);
        rp_error err = {0};
        if (m.batch && rp_store_commit(c->d->store, &err) != RP_OK)
            rp_log(c->d, "error", "cluster incident mirror: %s", err.message);
        m.batch = false;
        if (st != RP_OK) rp_cluster_disconnect(c, &ctx);
    }
    if (ctx) rp_cluster_disconnect(c, &ctx);
    return NULL;
}

rp_status rp_cluster_incidents_start(rp_cluster *c, rp_error *err) {
    if (pthread_create(&c->view->thread, NULL, incidents_main, c) != 0)
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "cannot start the cluster incident mirror");
    c->view->started = true;
    return RP_OK;
}

void rp_cluster_incidents_join(rp_cluster *c) {
    if (c->view && c->view->started) pthread_join(c->view->thread, NULL);
    if (c->view) c->view->started = false;
}

void rp_cluster_incidents_metrics(rp_cluster *c, FILE *f) {
    rp_fleet_view *v = c->view;
    if (!v) return;
    pthread_mutex_lock(&v->lock);
    size_t pending = v->pending;
    pthread_mutex_unlock(&v->lock);
    fprintf(f,
            "# HELP rampart_cluster_incidents_published_total Incidents this node published to "
            "the fleet.\n# TYPE rampart_cluster_incidents_published_total counter\n"
            "rampart_cluster_incidents_published_total %llu\n"
            "# HELP rampart_cluster_incidents_dropped_total Incidents not published (queue full "
            "or refused by Redis); still in this node's store.\n"
            "# TYPE rampart_cluster_incidents_dropped_total counter\n"
            "rampart_cluster_incidents_dropped_total %llu\n"
            "# HELP rampart_cluster_incidents_pending Incidents waiting for the publisher.\n"
            "# TYPE rampart_cluster_incidents_pending gauge\nrampart_cluster_incidents_pending %zu\n"
            "# HELP rampart_cluster_incidents_mirrored_total Other nodes' incidents written into "
            "this node's store.\n# TYPE rampart_cluster_incidents_mirrored_total counter\n"
            "rampart_cluster_incidents_mirrored_total %llu\n"
            "# HELP rampart_cluster_incidents_refused_total Entries of the incident stream "
            "skipped (no node, bad JSON, a field out of range).\n"
            "# TYPE rampart_cluster_incidents_refused_total counter\n"
            "rampart_cluster_incidents_refused_total %llu\n"
            "# HELP rampart_cluster_hosts Host names this node has given ids (itself included).\n"
            "# TYPE rampart_cluster_hosts gauge\nrampart_cluster_hosts %u\n"
            "# HELP rampart_cluster_host_names_refused_total Stream entries whose host name was "
            "missing, invalid or past the 254 the table holds.\n"
            "# TYPE rampart_cluster_host_names_refused_total counter\n"
            "rampart_cluster_host_names_refused_total %llu\n",
            (unsigned long long)atomic_load(&v->published),
            (unsigned long long)atomic_load(&v->dropped), pending,
            (unsigned long long)atomic_load(&v->mirrored),
            (unsigned long long)atomic_load(&v->refused), rp_hosts_count(v->hosts),
            (unsigned long long)(rp_hosts_refused(v->hosts) + rp_hosts_overflow(v->hosts)));
}

const char *rp_cluster_host_name(rp_cluster *c, uint8_t id) {
    return c && c->view ? rp_hosts_name(c->view->hosts, id) : NULL;
}
