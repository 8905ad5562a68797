/*
 * swarms.c -- GET /v1/swarms, /v1/clients/{key}/members and the members
 * of a swarm's incident (GET /v1/incidents/{id}): the aggregate keys
 * (fingerprint, subnet, username; token and session when many addresses
 * share them) that have an incident, and the addresses behind each one,
 * counted from the recent window in one bounded pass, with the decision
 * nginx enforces on each member. The design note below says why one pass
 * and where its bounds are.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon_int.h"
#include "keys.h"

/*
 * A swarm is an aggregate key (fingerprint, subnet, username; token and
 * session when many addresses use them) with an incident. Its members are
 * the IP addresses whose recent events carry that key, derived exactly as
 * the engine derives it (keys.h). One pass over the recent window serves
 * any number of swarm keys: each event's keys at the levels asked for are
 * looked up in a small index, and each (swarm, address) pair is counted in
 * one bounded table. Past RP_SWARM_MEMBER_CAP pairs, new members are not
 * counted and the swarm says "truncated" (its member count is then a
 * lower bound): the work and memory of one request stay bounded whatever
 * the window holds.
 */
#define RP_SWARM_MAX 100           /* swarm keys in one answer */
#define RP_SWARM_INDEX 256         /* power of two > 2 * RP_SWARM_MAX */
#define RP_SWARM_MEMBER_CAP 32768  /* (swarm, address) pairs per pass */
#define RP_SWARM_MEMBER_SLOTS 65536 /* power of two, 2 * cap */

typedef struct swarm_member {
    rp_addr ip;
    uint16_t swarm; /* index + 1; 0 = free slot */
    uint32_t requests;
    uint32_t status[5]; /* unknown or 1xx, 2xx, 3xx, 4xx, 5xx */
    int64_t first_us, last_us;
} swarm_member;

typedef struct swarm_acc {
    rp_key key;
    uint64_t requests; /* events of the key in the window */
    int64_t first_us, last_us;
    uint32_t members;
    bool truncated;
} swarm_acc;

typedef struct swarm_walk {
    swarm_acc acc[RP_SWARM_MAX];
    int n;
    int16_t index[RP_SWARM_INDEX]; /* acc index; -1 empty */
    unsigned levels;               /* a bit per level among the keys */
    bool scoped;                   /* some are fingerprint-on-a-route keys */
    swarm_member *slots;           /* RP_SWARM_MEMBER_SLOTS */
    size_t used;
} swarm_walk;

static bool same_key(const rp_key *a, const rp_key *b) {
    return a->level == b->level && memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

static uint64_t key_slot_hash(const rp_key *k) {
    return rp_hash64(k->bytes, sizeof k->bytes, 0x51a0u + k->level);
}

static rp_status swarm_walk_init(swarm_walk *w) {
    memset(w, 0, sizeof *w);
    for (int i = 0; i < RP_SWARM_INDEX; i++) w->index[i] = -1;
    w->slots = calloc(RP_SWARM_MEMBER_SLOTS, sizeof *w->slots);
    return w->slots ? RP_OK : RP_ENOMEM;
}

static int swarm_find(const swarm_walk *w, const rp_key *k) {
    for (uint64_t h = key_slot_hash(k);; h++) {
        int i = w->index[h & (RP_SWARM_INDEX - 1)];
        if (i < 0) return -1;
        if (same_key(&w->acc[i].key, k)) return i;
    }
}

/* Add a key to watch; returns its index (an existing one for a repeat),
 * -1 when full or not an aggregate key. */
static int swarm_add(swarm_walk *w, const rp_key *k) {
    if (k->level == RP_LEVEL_IP || k->level >= RP_LEVEL_COUNT) return -1;
    int i = swarm_find(w, k);
    if (i >= 0) return i;
    if (w->n >= RP_SWARM_MAX) return -1;
    uint64_t h = key_slot_hash(k);
    while (w->index[h & (RP_SWARM_INDEX - 1)] >= 0) h++;
    i = w->n++;
    w->index[h & (RP_SWARM_INDEX - 1)] = (int16_t)i;
    w->acc[i].key = *k;
    w->levels |= 1u << k->level;
    if (k->level == RP_LEVEL_FINGERPRINT && memcmp(k->bytes + 8, (uint8_t[8]){0}, 8) != 0)
        w->scoped = true;
    return i;
}

static void swarm_count(swarm_walk *w, int s, const rp_event *ev) {
    swarm_acc *a = &w->acc[s];
    if (!a->requests || ev->ts_us < a->first_us) a->first_us = ev->ts_us;
    if (!a->requests || ev->ts_us > a->last_us) a->last_us = ev->ts_us;
    a->requests++;
    uint64_t h = rp_hash64(ev->client.bytes, sizeof ev->client.bytes, (uint64_t)s + 1);
    swarm_member *m;
    for (;; h++) {
        m = &w->slots[h & (RP_SWARM_MEMBER_SLOTS - 1)];
        if (!m->swarm) break;
        if (m->swarm == s + 1 && rp_addr_equal(&m->ip, &ev->client)) break;
    }
    if (!m->swarm) {
        if (w->used >= RP_SWARM_MEMBER_CAP) {
            a->truncated = true;
            return;
        }
        w->used++;
        a->members++;
        m->swarm = (uint16_t)(s + 1);
        m->ip = ev->client;
        m->first_us = m->last_us = ev->ts_us;
    }
    m->requests++;
    if (ev->ts_us < m->first_us) m->first_us = ev->ts_us;
    if (ev->ts_us > m->last_us) m->last_us = ev->ts_us;
    unsigned cls = ev->status / 100;
    m->status[cls >= 2 && cls <= 5 ? cls - 1 : 0]++;
}

static bool swarm_visit(void *user, const rp_event *ev) {
    swarm_walk *w = user;
    if (!ev->client.family) return true;
    for (int l = RP_LEVEL_SUBNET; l < RP_LEVEL_COUNT; l++) {
        if (!(w->levels & (1u << l))) continue;
        rp_key k;
        if (!rp_event_key(ev, (rp_key_level)l, &k)) continue;
        int s = swarm_find(w, &k);
        if (s >= 0) swarm_count(w, s, ev);
        if (l == RP_LEVEL_FINGERPRINT && w->scoped) {
            /* the same fingerprint decided on this event's route */
            uint64_t scopes[2];
            int n = rp_event_scopes(ev, scopes);
            for (int j = 0; j < n; j++) {
                memcpy(k.bytes + 8, &scopes[j], 8);
                if ((s = swarm_find(w, &k)) >= 0) swarm_count(w, s, ev);
            }
        }
    }
    return true;
}

/* The pass, under the engine lock (the window belongs to the engine
 * thread). */
static void swarm_run(rp_daemon *d, swarm_walk *w, int64_t *window_start, uint64_t *window_events) {
    pthread_mutex_lock(&d->engine_lock);
    if (w->n) rp_recent_each(d->recent, swarm_visit, w);
    *window_start = rp_recent_oldest_us(d->recent);
    *window_events = rp_recent_count(d->recent);
    pthread_mutex_unlock(&d->engine_lock);
}

typedef struct member_view {
    const swarm_member *m;
    rp_action action;
    uint64_t incident_id;
    rp_key decided_on;
} member_view;

static int member_cmp(const void *a, const void *b) {
    const member_view *x = a, *y = b;
    if (x->m->requests != y->m->requests) return x->m->requests < y->m->requests ? 1 : -1;
    return memcmp(x->m->ip.bytes, y->m->ip.bytes, 16);
}

/* The members of swarm s with the decision in force on each (its IP or
 * its subnet: what nginx enforces), busiest first. *out is malloc'd. */
static size_t swarm_members(rp_daemon *d, const swarm_walk *w, int s, member_view **out,
                            uint32_t *throttled, uint32_t *blocked) {
    *throttled = *blocked = 0;
    size_t n = w->acc[s].members;
    member_view *v = calloc(n ? n : 1, sizeof *v);
    *out = v;
    if (!v) return 0;
    size_t k = 0;
    for (size_t i = 0; i < RP_SWARM_MEMBER_SLOTS && k < n; i++)
        if (w->slots[i].swarm == s + 1) v[k++].m = &w->slots[i];
    int64_t now = rp_wall_us();
    rp_daemon_lock_table(d);
    for (size_t i = 0; i < k; i++) {
        rp_key keys[2];
        rp_key_from_addr(&keys[0], RP_LEVEL_IP, &v[i].m->ip);
        rp_key_from_addr(&keys[1], RP_LEVEL_SUBNET, &v[i].m->ip);
        for (int j = 0; j < 2; j++) {
            rp_dtable_hit hit;
            if (rp_daemon_table_lookup(d, &keys[j], now, &hit) != 1) continue;
            if (hit.action == RP_ACTION_ALLOW) { /* an allow wins */
                v[i].action = RP_ACTION_ALLOW;
                v[i].incident_id = 0;
                v[i].decided_on = keys[j];
                break;
            }
            if (hit.action > v[i].action) {
                v[i].action = hit.action;
                v[i].incident_id = hit.incident_id;
                v[i].decided_on = keys[j];
            }
        }
        if (v[i].action == RP_ACTION_THROTTLE) (*throttled)++;
        if (v[i].action == RP_ACTION_BLOCK) (*blocked)++;
    }
    pthread_mutex_unlock(&d->table_lock);
    qsort(v, k, sizeof *v, member_cmp);
    return k;
}

static json_t *time_or_null(int64_t us) {
    if (!us) return json_null();
    char t[40];
    rp_format_time(us, t, sizeof t);
    return json_string(t);
}

static json_t *member_json(const member_view *v) {
    rp_key ip;
    rp_key_from_addr(&ip, RP_LEVEL_IP, &v->m->ip);
    char key[128], on[128];
    rp_key_format(&ip, key, sizeof key);
    const uint32_t *st = v->m->status;
    json_t *o = json_pack("{s:s,s:I,s:o,s:o,s:{s:i,s:i,s:i,s:i,s:i},s:s}", "key", key, "requests",
                          (json_int_t)v->m->requests, "first_seen", time_or_null(v->m->first_us),
                          "last_seen", time_or_null(v->m->last_us), "status", "2xx", (int)st[1],
                          "3xx", (int)st[2], "4xx", (int)st[3], "5xx", (int)st[4], "other",
                          (int)st[0], "action",
                          rp_action_name(v->action ? v->action : RP_ACTION_NONE));
    if (!o) return NULL;
    if (v->action) {
        rp_key_format(&v->decided_on, on, sizeof on);
        json_object_set_new(o, "decided_on", json_string(on));
    } else {
        json_object_set_new(o, "decided_on", json_null());
    }
    json_object_set_new(o, "incident_id", v->incident_id ? json_integer((json_int_t)v->incident_id)
                                                          : json_null());
    return o;
}

/* {"members": M, "members_truncated", "stopped", "throttled", "blocked",
 * list_name: [top `top` members]} into o. */
static void swarm_members_into(rp_daemon *d, const swarm_walk *w, int s, int top,
                               const char *list_name, json_t *o) {
    member_view *v;
    uint32_t thr, blk;
    size_t n = swarm_members(d, w, s, &v, &thr, &blk);
    json_t *list = json_array();
    for (size_t i = 0; i < n && (int)i < top; i++) json_array_append_new(list, member_json(&v[i]));
    free(v);
    json_object_set_new(o, "members", json_integer((json_int_t)w->acc[s].members));
    json_object_set_new(o, "members_truncated", json_boolean(w->acc[s].truncated));
    json_object_set_new(o, "stopped", json_integer((json_int_t)(thr + blk)));
    json_object_set_new(o, "throttled", json_integer((json_int_t)thr));
    json_object_set_new(o, "blocked", json_integer((json_int_t)blk));
    json_object_set_new(o, list_name, list);
}

static json_t *window_json(const swarm_acc *a) {
    return json_pack("{s:I,s:o,s:o}", "requests", (json_int_t)a->requests, "first_seen",
                     time_or_null(a->requests ? a->first_us : 0), "last_seen",
                     time_or_null(a->requests ? a->last_us : 0));
}

json_t *rp_daemon_members_json(rp_daemon *d, const rp_key *key, int limit) {
    if (limit < 1 || limit > 1000) limit = 200;
    swarm_walk *w = malloc(sizeof *w);
    if (!w) return NULL;
    if (swarm_walk_init(w) != RP_OK) {
        free(w);
        return NULL;
    }
    int s = swarm_add(w, key);
    int64_t start = 0;
    uint64_t events = 0;
    swarm_run(d, w, &start, &events);
    char keytext[128];
    rp_key_format(key, keytext, sizeof keytext);
    json_t *o = json_pack("{s:s,s:s,s:o,s:I}", "key", keytext, "level",
                          rp_level_name((rp_key_level)key->level), "window_start",
                          time_or_null(start), "window_events", (json_int_t)events);
    if (o && s >= 0) {
        json_object_set_new(o, "window", window_json(&w->acc[s]));
        swarm_members_into(d, w, s, limit, "top_members", o);
    }
    free(w->slots);
    free(w);
    return o;
}

/* One row of /v1/swarms from the incidents of its key (newest first). */
typedef struct swarm_row {
    json_t *incidents; /* [{id, action, score, decided_at, summary}] */
    json_t *newest;    /* the newest incident (borrowed) */
    int64_t requests;
    const char *first_seen, *last_seen; /* ISO strings compare as times */
    bool names_addresses; /* a summary speaks of "N addresses" */
} swarm_row;

static const char *incident_summary(json_t *inc) {
    json_t *f = json_array_get(json_object_get(inc, "findings"), 0);
    const char *s = json_string_value(json_object_get(f, "summary"));
    return s ? s : "";
}

json_t *rp_daemon_swarms_json(rp_daemon *d, int limit, int top) {
    if (limit < 1 || limit > RP_SWARM_MAX) limit = 50;
    if (top < 0 || top > 200) top = 5;
    char *text = NULL;
    rp_error err = {0};
    if (rp_store_query_swarm_incidents(d->store, 1000, &text, &err) != RP_OK) return NULL;
    json_t *res = json_loads(text, 0, NULL);
    free(text);
    swarm_walk *w = malloc(sizeof *w);
    swarm_row *rows = calloc(RP_SWARM_MAX, sizeof *rows);
    if (!res || !w || !rows || swarm_walk_init(w) != RP_OK) {
        json_decref(res);
        if (w) free(w->slots);
        free(w);
        free(rows);
        return NULL;
    }
    size_t i;
    json_t *inc;
    json_array_foreach(json_object_get(res, "incidents"), i, inc) {
        const char *k = json_string_value(json_object_get(inc, "key"));
        rp_key key;
        if (!k || rp_key_parse(k, strlen(k), &key) != RP_OK) continue;
        int before = w->n;
        if (before >= limit && swarm_find(w, &key) < 0) continue;
        int s = swarm_add(w, &key);
        if (s < 0) continue;
        swarm_row *r = &rows[s];
        if (s == before) {
            r->incidents = json_array();
            r->newest = inc;
        }
        const char *sum = incident_summary(inc);
        if (strstr(sum, " addresses")) r->names_addresses = true;
        json_int_t req = json_integer_value(json_object_get(inc, "requests"));
        if (req > r->requests) r->requests = req;
        const char *fs = json_string_value(json_object_get(inc, "first_seen"));
        const char *ls = json_string_value(json_object_get(inc, "last_seen"));
        if (fs && (!r->first_seen || strcmp(fs, r->first_seen) < 0)) r->first_seen = fs;
        if (ls && (!r->last_seen || strcmp(ls, r->last_seen) > 0)) r->last_seen = ls;
        if (json_array_size(r->incidents) < 10)
            json_array_append_new(
                r->incidents,
                json_pack("{s:O,s:O,s:O,s:O,s:s}", "id", json_object_get(inc, "id"), "action",
                          json_object_get(inc, "action"), "score", json_object_get(inc, "score"),
                          "decided_at", json_object_get(inc, "decided_at"), "summary", sum));
    }
    int64_t start = 0;
    uint64_t events = 0;
    swarm_run(d, w, &start, &events);
    json_t *list = json_array();
    for (int s = 0; s < w->n; s++) {
        swarm_row *r = &rows[s];
        const rp_key *key = &w->acc[s].key;
        /* A token or session is one client by nature: only a swarm when
         * many addresses share it. */
        bool shared_id = key->level == RP_LEVEL_TOKEN || key->level == RP_LEVEL_SESSION;
        if (shared_id && !r->names_addresses && w->acc[s].members < 2) {
            json_decref(r->incidents);
            continue;
        }
        char keytext[128];
        rp_key_format(key, keytext, sizeof keytext);
        json_t *o = json_object();
        json_object_set_new(o, "key", json_string(keytext));
        json_object_set_new(o, "level", json_string(rp_level_name((rp_key_level)key->level)));
        json_object_set_new(o, "summary", json_string(incident_summary(r->newest)));
        json_object_set(o, "action", json_object_get(r->newest, "action"));
        json_object_set(o, "score", json_object_get(r->newest, "score"));
        json_object_set(o, "threats", json_object_get(r->newest, "threats"));
        json_object_set(o, "route", json_object_get(r->newest, "route"));
        json_object_set(o, "user_agent", json_object_get(r->newest, "user_agent"));
        json_object_set_new(o, "incidents", r->incidents);
        json_object_set_new(o, "first_seen", r->first_seen ? json_string(r->first_seen) : json_null());
        json_object_set_new(o, "last_seen", r->last_seen ? json_string(r->last_seen) : json_null());
        json_object_set_new(o, "requests", json_integer((json_int_t)r->requests));
        json_object_set_new(o, "window", window_json(&w->acc[s]));
        swarm_members_into(d, w, s, top, "top_members", o);
        json_array_append_new(list, o);
    }
    json_decref(res);
    free(rows);
    free(w->slots);
    free(w);
    return json_pack("{s:o,s:I,s:I,s:o}", "window_start", time_or_null(start), "window_events",
                     (json_int_t)events, "total", (json_int_t)json_array_size(list), "swarms", list);
}

rp_status rp_daemon_incident_json(rp_daemon *d, uint64_t id, json_t **out, rp_error *err) {
    *out = NULL;
    char *text = NULL;
    rp_status st = rp_store_get_incident(d->store, id, &text, err);
    if (st != RP_OK) return st;
    json_t *inc = json_loads(text, 0, NULL);
    free(text);
    if (!inc) return rp_error_set(err, RP_EIO, NULL, 0, 0, "incident %llu is unreadable",
                                  (unsigned long long)id);
    const char *k = json_string_value(json_object_get(inc, "key"));
    rp_key key;
    if (k && rp_key_parse(k, strlen(k), &key) == RP_OK && key.level != RP_LEVEL_IP) {
        /* A swarm's incident: its members now, as evidence. */
        json_t *m = rp_daemon_members_json(d, &key, 20);
        if (m) {
            json_t *ev = json_object();
            const char *names[] = {"window_start", "window", "members", "members_truncated",
                                   "stopped", "throttled", "blocked", "top_members"};
            for (size_t j = 0; j < sizeof names / sizeof *names; j++)
                json_object_set(ev, names[j], json_object_get(m, names[j]));
            json_object_set_new(inc, "members", ev);
            json_decref(m);
        }
    } else {
        /* An address charged with a swarm's score: the swarms it belongs to. */
        json_t *swarms = json_array();
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(inc, "findings"), i, f) {
            json_t *via = json_object_get(f, "via");
            if (!json_is_string(via)) continue;
            bool seen = false;
            size_t j;
            json_t *x;
            json_array_foreach(swarms, j, x) seen |= json_equal(x, via);
            if (!seen) json_array_append(swarms, via);
        }
        json_object_set_new(inc, "swarms", swarms);
    }
    *out = inc;
    return RP_OK;
}

