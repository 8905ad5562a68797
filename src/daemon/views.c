/*
 * views.c -- the dashboard's reads of the live daemon (docs/api.md,
 * "Dashboard endpoints"): one client's live state, evidence and decision;
 * its recent requests and the addresses that share its fingerprint or
 * subnet (from the recent window); the time series of the last hour; the
 * top clients (a query of the store) and routes; the route inventory; the
 * configuration with the detector catalogue; stored incidents. A view
 * takes the engine or table lock only while it reads them; the store's
 * views (incidents, top clients) take neither.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_int.h"
#include "keys.h"
#include "load.h"

static bool event_has_key(const rp_event *ev, const rp_key *key);

static bool route_json(void *user, const rp_route_info *r) {
    json_t *o = json_pack("{s:s,s:s,s:s,s:b,s:s,s:I,s:I,s:I,s:I}", "method", r->method,
                          "template", r->template_, "class", rp_route_class_name(r->cls),
                          "declared", r->declared, "profile", r->profile, "requests",
                          (json_int_t)r->requests, "errors",
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

/* ---------------------------------------------------------- one client */

/* At most how many keys besides its own can cover one address: its
 * subnet, and from the memory window its fingerprints, their scopes on
 * the routes it visited and its tokens. Beyond that the view says so. */
#define RP_COVERING_MAX 32

typedef struct covering_walk {
    const rp_key *ip;
    rp_key keys[RP_COVERING_MAX];
    int n;
    bool truncated;
} covering_walk;

static void covering_add(covering_walk *w, const rp_key *k) {
    for (int i = 0; i < w->n; i++)
        if (rp_key_equal(&w->keys[i], k)) return;
    if (w->n == RP_COVERING_MAX) {
        w->truncated = true;
        return;
    }
    w->keys[w->n++] = *k;
}

/* The keys nginx looks this address's requests up under besides its own
 * (rp_request_keys): its fingerprint, the fingerprint on each route scope
 * it asked for, its token -- as its events in the window carry them. */
static bool collect_covering(void *user, const rp_event *ev) {
    covering_walk *w = user;
    if (!event_has_key(ev, w->ip)) return true;
    rp_key fp, k;
    if (rp_event_key(ev, RP_LEVEL_FINGERPRINT, &fp)) {
        covering_add(w, &fp);
        uint64_t scopes[2];
        int n = rp_event_scopes(ev, scopes);
        for (int i = 0; i < n; i++) {
            rp_key_on_route(&k, &fp, scopes[i]);
            covering_add(w, &k);
        }
    }
    if (rp_event_key(ev, RP_LEVEL_TOKEN, &k)) covering_add(w, &k);
    return true;
}

typedef struct note_find {
    const char *source, *reason;
    char source_buf[16], reason_buf[512];
} note_find;

static void take_note(void *user, const char *key, const char *source, const char *reason) {
    (void)key;
    note_find *n = user; /* ordered by start: the last is the one in force */
    snprintf(n->source_buf, sizeof n->source_buf, "%s", source);
    n->source = n->source_buf;
    n->reason = NULL;
    if (reason) {
        snprintf(n->reason_buf, sizeof n->reason_buf, "%s", reason);
        n->reason = n->reason_buf;
    }
}

/* One decision found in the table, with what the store adds (the table
 * keeps neither its source nor its reason). An engine decision still in
 * the store's queue has no row yet: its source is known by its incident. */
static json_t *hit_json(rp_daemon *d, const char *keytext, const rp_dtable_hit *hit, int64_t now) {
    char exp[40];
    rp_format_time(hit->expires_us, exp, sizeof exp);
    note_find note = {0};
    rp_error err = {0};
    rp_store_decision_notes(d->store, keytext, now, take_note, &note, &err);
    const char *source = note.source ? note.source : hit->incident_id ? "engine" : NULL;
    json_t *o = json_pack("{s:s,s:s,s:I,s:I}", "action", rp_action_name(hit->action), "expires",
                          exp, "retry_after_s",
                          (json_int_t)((hit->expires_us - now + 999999) / 1000000), "incident_id",
                          (json_int_t)hit->incident_id);
    json_object_set_new(o, "source", source ? json_string(source) : json_null());
    json_object_set_new(o, "reason", note.reason ? json_string(note.reason) : json_null());
    if (!json_object_get(o, "reason")) /* not UTF-8: jansson refused it */
        json_object_set_new(o, "reason", json_null());
    return o;
}

/* As /v1/check and the module rank the hits of one request: an allow on
 * any key wins, otherwise the strongest action. */
static bool hit_wins(const rp_dtable_hit *h, const rp_dtable_hit *best, bool any) {
    if (!any) return true;
    if (best->action == RP_ACTION_ALLOW) return false;
    return h->action == RP_ACTION_ALLOW || h->action > best->action;
}

/*
 * The client view reads the table itself, the file nginx enforces: the
 * daemon's reader is remapped first (a compaction renames a new file over
 * the old one, and a reader left on the old inode reports "none" for
 * every decision made since), then the key and every key that covers
 * its requests are looked up. "decision" is the key's own; "covering" the
 * decisions on its subnet, fingerprint, fingerprint-on-a-route and token
 * keys (an address only: other keys have no narrower key); "in_force"
 * the one nginx applies, ranked as /v1/check ranks them.
 */
json_t *rp_daemon_client_json(rp_daemon *d, const rp_key *key) {
    rp_incident *live = malloc(sizeof *live);
    if (!live) return NULL;
    covering_walk w = {.ip = key};
    if (key->level == RP_LEVEL_IP) {
        /* an ip key holds its address and family (addr.c): its subnet */
        rp_addr addr = {.family = key->reserved[0]};
        memcpy(addr.bytes, key->bytes, 16);
        rp_key subnet;
        rp_key_from_addr(&subnet, RP_LEVEL_SUBNET, &addr);
        covering_add(&w, &subnet);
    }
    pthread_mutex_lock(&d->engine_lock);
    bool tracked = rp_engine_explain(d->engine, key, live);
    if (key->level == RP_LEVEL_IP) rp_recent_each(d->recent, collect_covering, &w);
    pthread_mutex_unlock(&d->engine_lock);

    int64_t now = rp_wall_us();
    rp_dtable_hit own, hits[RP_COVERING_MAX];
    int covered[RP_COVERING_MAX], n_covered = 0;
    rp_daemon_lock_table(d);
    if (d->reader) {
        rp_error err = {0};
        rp_dtable_reader_refresh(d->reader, &err); /* an error keeps the old mapping */
        d->reader_checked_us = now;
    }
    int found = rp_daemon_table_lookup(d, key, now, &own);
    for (int i = 0; i < w.n; i++)
        if (rp_daemon_table_lookup(d, &w.keys[i], now, &hits[n_covered]) == 1)
            covered[n_covered++] = i;
    pthread_mutex_unlock(&d->table_lock);
    if (!tracked && found != 1 && n_covered == 0) {
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
    json_t *in_force = json_null();
    const rp_dtable_hit *best = NULL;
    if (found == 1) {
        json_t *dec = hit_json(d, keytext, &own, now);
        json_object_set_new(o, "decision", dec);
        best = &own;
        in_force = json_deep_copy(dec);
        json_object_set_new(in_force, "key", json_string(keytext));
    } else {
        json_object_set_new(o, "decision", json_null());
    }
    json_t *cover = json_array();
    for (int c = 0; c < n_covered; c++) {
        const rp_key *k = &w.keys[covered[c]];
        char text[128];
        rp_key_format(k, text, sizeof text);
        json_t *dec = hit_json(d, text, &hits[c], now);
        json_object_set_new(dec, "key", json_string(text));
        json_object_set_new(dec, "level", json_string(rp_level_name((rp_key_level)k->level)));
        /* fingerprint:FP@SCOPE applies to the requests under one route */
        json_object_set_new(dec, "on_route", json_boolean(strchr(text, '@') != NULL));
        json_array_append_new(cover, dec);
        if (hit_wins(&hits[c], best, best != NULL)) {
            best = &hits[c];
            json_decref(in_force);
            in_force = json_deep_copy(dec);
        }
    }
    json_object_set_new(o, "covering", cover);
    json_object_set_new(o, "covering_truncated", json_boolean(w.truncated));
    json_object_set_new(o, "in_force", in_force);
    free(live);
    return o;
}

rp_status rp_daemon_incidents(rp_daemon *d, const rp_incident_query *q, char **json, rp_error *err) {
    return rp_store_query_incidents(d->store, q, json, err);
}

/* ------------------------------------------------------- dashboard support */

json_t *rp_daemon_timeseries_json(rp_daemon *d, int minutes) {
    if (minutes < 1) minutes = 1;
    if (minutes > 60) minutes = 60;
    int steps = minutes * 60 / RP_TS_STEP_S;
    int64_t now = rp_wall_us() / 1000000 / RP_TS_STEP_S * RP_TS_STEP_S;
    json_t *t = json_array(), *req = json_array(), *thr = json_array(), *blk = json_array();
    json_t *inc = json_object(), *det = json_object(), *thr_kind = json_object();
    json_t *inc_cols[5] = {0}, *det_cols[RP_MAX_DETECTORS] = {0}, *kind_cols[RP_THREAT_COUNT] = {0};
    for (int a = RP_ACTION_MONITOR; a <= RP_ACTION_BLOCK; a++) {
        inc_cols[a] = json_array();
        json_object_set_new(inc, rp_action_name((rp_action)a), inc_cols[a]);
    }
    for (unsigned i = 0; i < rp_detector_count; i++) {
        det_cols[i] = json_array();
        json_object_set_new(det, rp_detectors[i]->name, det_cols[i]);
    }
    for (unsigned b = 0; b < RP_THREAT_COUNT; b++) {
        kind_cols[b] = json_array();
        json_object_set_new(thr_kind, rp_threat_name(b), kind_cols[b]);
    }
    pthread_mutex_lock(&d->engine_lock);
    for (int k = steps - 1; k >= 0; k--) {
        int64_t at = now - (int64_t)k * RP_TS_STEP_S;
        const ts_slot *s = &d->ts[(at / RP_TS_STEP_S) % RP_TS_SLOTS];
        bool live = s->t == at;
        json_array_append_new(t, json_integer(at));
        json_array_append_new(req, json_integer(live ? s->requests : 0));
        json_array_append_new(thr, json_integer(live ? s->throttled : 0));
        json_array_append_new(blk, json_integer(live ? s->blocked : 0));
        for (int a = RP_ACTION_MONITOR; a <= RP_ACTION_BLOCK; a++)
            json_array_append_new(inc_cols[a], json_integer(live ? s->incidents[a] : 0));
        for (unsigned i = 0; i < rp_detector_count; i++)
            json_array_append_new(det_cols[i], json_integer(live ? s->by_detector[i] : 0));
        for (unsigned b = 0; b < RP_THREAT_COUNT; b++)
            json_array_append_new(kind_cols[b], json_integer(live ? s->by_threat[b] : 0));
    }
    pthread_mutex_unlock(&d->engine_lock);
    return json_pack("{s:i,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "step_s", RP_TS_STEP_S, "t", t,
                     "requests", req, "throttled", thr, "blocked", blk, "incidents", inc,
                     "by_detector", det, "by_threat", thr_kind);
}

static bool route_by_flagged(void *user, const rp_route_info *r) {
    route_list *l = user;
    return rp_daemon_collect_route(l, r);
}

static int route_cmp(const void *a, const void *b) {
    const rp_route_info *x = a, *y = b;
    if (x->flagged != y->flagged) return x->flagged < y->flagged ? 1 : -1;
    if (x->errors != y->errors) return x->errors < y->errors ? 1 : -1;
    return x->requests < y->requests ? 1 : x->requests > y->requests ? -1 : 0;
}

json_t *rp_daemon_top_json(rp_daemon *d, int minutes, int limit) {
    if (limit < 1) limit = 10;
    if (limit > 100) limit = 100;
    /* Clients: the window's incidents, worst first, one row per key (the
     * store's query ranks and limits them). */
    char *text = NULL;
    rp_error err = {0};
    json_t *clients = json_array();
    if (rp_store_top_clients(d->store, rp_wall_us() - (int64_t)minutes * 60 * 1000000, limit,
                             &text, &err) == RP_OK) {
        json_t *res = json_loads(text, 0, NULL);
        size_t i;
        json_t *row;
        json_array_foreach(json_object_get(res, "incidents"), i, row) {
            json_array_append_new(
                clients, json_pack("{s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "key",
                                   json_object_get(row, "key"), "action",
                                   json_object_get(row, "action"), "score",
                                   json_object_get(row, "score"), "requests",
                                   json_object_get(row, "requests"), "threats",
                                   json_object_get(row, "threats"), "incident_id",
                                   json_object_get(row, "id"), "last_seen",
                                   json_object_get(row, "last_seen")));
        }
        json_decref(res);
    }
    free(text);
    /* Routes: the most requests from stopped clients, then errors. */
    route_list l = {0};
    pthread_mutex_lock(&d->engine_lock);
    rp_engine_routes(d->engine, route_by_flagged, &l);
    pthread_mutex_unlock(&d->engine_lock);
    qsort(l.items, l.n, sizeof *l.items, route_cmp);
    json_t *routes = json_array();
    for (size_t i = 0; i < l.n && (int)i < limit; i++) route_json(routes, &l.items[i]);
    free(l.items);
    return json_pack("{s:o,s:o}", "clients", clients, "routes", routes);
}

/* Does the event carry this key? (the engine's own key derivation) */
static bool event_has_key(const rp_event *ev, const rp_key *key) {
    rp_key k;
    switch ((rp_key_level)key->level) {
    case RP_LEVEL_IP:
    case RP_LEVEL_SUBNET:
        if (!ev->client.family) return false;
        rp_key_from_addr(&k, (rp_key_level)key->level, &ev->client);
        return memcmp(k.bytes, key->bytes, 16) == 0;
    case RP_LEVEL_FINGERPRINT: {
        /* keys.c's fingerprint: none when the header set is unknown (a
         * user agent alone groups nothing) */
        if (!rp_event_key(ev, RP_LEVEL_FINGERPRINT, &k) || memcmp(k.bytes, key->bytes, 8) != 0)
            return false;
        static const uint8_t none[8];
        if (memcmp(key->bytes + 8, none, 8) == 0) return true;
        /* fingerprint:FP@SCOPE: the event's path falls under the scope */
        uint64_t scopes[2], want;
        memcpy(&want, key->bytes + 8, 8);
        int n = rp_event_scopes(ev, scopes);
        for (int i = 0; i < n; i++)
            if (scopes[i] == want) return true;
        return false;
    }
    case RP_LEVEL_TOKEN: rp_key_from_id(&k, RP_LEVEL_TOKEN, ev->token_id); break;
    case RP_LEVEL_SESSION: rp_key_from_id(&k, RP_LEVEL_SESSION, ev->session_id); break;
    case RP_LEVEL_USERNAME: rp_key_from_id(&k, RP_LEVEL_USERNAME, ev->credential_id); break;
    default: return false;
    }
    return memcmp(k.bytes, key->bytes, 8) == 0 && memcmp(k.bytes, (uint8_t[8]){0}, 8) != 0;
}

typedef struct requests_walk {
    const rp_key *key;
    rp_cluster *cluster; /* fleet mode: each request's host */
    json_t *rows;
    int limit;
    size_t seen;
} requests_walk;

static json_t *str_json(rp_str s) {
    char buf[512];
    size_t n = s.len < sizeof buf - 1 ? s.len : sizeof buf - 1;
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)s.ptr[i] < 0x20 || (unsigned char)s.ptr[i] >= 0x80 ? '?' : s.ptr[i];
    buf[n] = 0;
    return json_string(buf);
}

static bool collect_request(void *user, const rp_event *ev) {
    requests_walk *w = user;
    if (!event_has_key(ev, w->key)) return true;
    w->seen++;
    json_t *row = json_pack("{s:I,s:s,s:o,s:o,s:i,s:I}", "t", (json_int_t)(ev->ts_us / 1000),
                            "method", rp_method_name((rp_method)ev->method), "path",
                            str_json(ev->path), "query", str_json(ev->query), "status",
                            (int)ev->status, "bytes", (json_int_t)ev->response_bytes);
    if (w->cluster) { /* which host saw it (docs/cluster.md#fleet-view); null: unknown */
        const char *host = rp_cluster_host_name(w->cluster, ev->origin);
        json_object_set_new(row, "host", host ? json_string(host) : json_null());
    }
    json_array_append_new(w->rows, row);
    /* Keep the newest `limit`: drop from the front as we go. */
    if ((int)json_array_size(w->rows) > w->limit) json_array_remove(w->rows, 0);
    return true;
}

json_t *rp_daemon_client_requests_json(rp_daemon *d, const rp_key *key, int limit) {
    if (limit < 1 || limit > 5000) limit = 500;
    requests_walk w = {.key = key, .cluster = d->cluster, .rows = json_array(), .limit = limit};
    pthread_mutex_lock(&d->engine_lock);
    rp_recent_each(d->recent, collect_request, &w);
    int64_t oldest = rp_recent_oldest_us(d->recent);
    pthread_mutex_unlock(&d->engine_lock);
    char keytext[128], start[40];
    rp_key_format(key, keytext, sizeof keytext);
    rp_format_time(oldest, start, sizeof start);
    return json_pack("{s:s,s:s,s:I,s:o}", "key", keytext, "window_start", start, "matched",
                     (json_int_t)w.seen, "requests", w.rows);
}

typedef struct related_walk {
    const rp_key *key;
    rp_key fingerprint, subnet;
    bool have_fp, have_subnet;
    json_t *same_fp, *same_subnet; /* objects used as sets */
} related_walk;

static bool find_identity(void *user, const rp_event *ev) {
    related_walk *w = user;
    if (!event_has_key(ev, w->key)) return true;
    if (rp_event_key(ev, RP_LEVEL_FINGERPRINT, &w->fingerprint)) w->have_fp = true;
    if (ev->client.family) {
        rp_key_from_addr(&w->subnet, RP_LEVEL_SUBNET, &ev->client);
        w->have_subnet = true;
    }
    return true; /* the last event wins: the key's current identity */
}

static bool find_related(void *user, const rp_event *ev) {
    related_walk *w = user;
    if (!ev->client.family) return true;
    rp_key ip;
    rp_key_from_addr(&ip, RP_LEVEL_IP, &ev->client);
    if (w->key->level == RP_LEVEL_IP && rp_key_equal(&ip, w->key)) return true;
    char text[128];
    rp_key_format(&ip, text, sizeof text);
    if (w->have_fp && json_object_size(w->same_fp) < 50 && event_has_key(ev, &w->fingerprint))
        json_object_set_new(w->same_fp, text, json_true());
    if (w->have_subnet && json_object_size(w->same_subnet) < 50 && event_has_key(ev, &w->subnet))
        json_object_set_new(w->same_subnet, text, json_true());
    return true;
}

static json_t *keys_of(json_t *set) {
    json_t *arr = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v) json_array_append_new(arr, json_string(k));
    json_decref(set);
    return arr;
}

json_t *rp_daemon_related_json(rp_daemon *d, const rp_key *key) {
    related_walk w = {.key = key, .same_fp = json_object(), .same_subnet = json_object()};
    pthread_mutex_lock(&d->engine_lock);
    rp_recent_each(d->recent, find_identity, &w);
    if (w.have_fp || w.have_subnet) rp_recent_each(d->recent, find_related, &w);
    pthread_mutex_unlock(&d->engine_lock);
    char fp[128] = "", sub[128] = "";
    if (w.have_fp) rp_key_format(&w.fingerprint, fp, sizeof fp);
    if (w.have_subnet) rp_key_format(&w.subnet, sub, sizeof sub);
    return json_pack("{s:o,s:o,s:o,s:o}", "fingerprint", w.have_fp ? json_string(fp) : json_null(),
                     "subnet", w.have_subnet ? json_string(sub) : json_null(), "same_fingerprint",
                     keys_of(w.same_fp), "same_subnet", keys_of(w.same_subnet));
}

static const char *const tolerance_names[RP_TOLERANCE_COUNT] = {"low", "normal", "high"};

json_t *rp_daemon_config_json(rp_daemon *d) {
    json_t *profiles = json_array();
    char *yaml = NULL;
    size_t ylen = 0;
    rp_error err = {0};
    pthread_mutex_lock(&d->engine_lock);
    const rp_config *c = d->config;
    for (int p = 0; p < c->n_profiles; p++) {
        const rp_profile_config *pc = &c->profiles[p];
        json_t *dets = json_array();
        for (unsigned i = 0; i < rp_detector_count; i++) {
            const rp_detector *det = rp_detectors[i];
            json_t *params = json_object();
            for (unsigned k = 0; k < det->n_params; k++)
                json_object_set_new(params, det->params[k].name,
                                    json_real(pc->detectors[i].params[k]));
            json_array_append_new(dets, json_pack("{s:s,s:b,s:f,s:o}", "name", det->name, "enabled",
                                                  pc->detectors[i].enabled, "weight",
                                                  pc->detectors[i].weight, "params", params));
        }
        json_array_append_new(
            profiles,
            json_pack("{s:s,s:s,s:{s:f,s:f,s:f,s:I,s:I,s:f,s:I,s:I},s:o}", "name", pc->name,
                      "tolerance", tolerance_names[pc->tolerance % RP_TOLERANCE_COUNT],
                      "reactions", "monitor", pc->monitor_at, "throttle", pc->throttle_at, "block",
                      pc->block_at, "throttle_for_s", (json_int_t)(pc->throttle_us / 1000000),
                      "block_for_s", (json_int_t)(pc->block_us / 1000000), "escalation",
                      pc->escalation, "max_duration_s",
                      (json_int_t)(pc->max_duration_us / 1000000), "escalate_after",
                      (json_int_t)pc->escalate_after, "detectors", dets));
    }
    pthread_mutex_unlock(&d->engine_lock);
    json_t *catalog = json_array();
    for (unsigned i = 0; i < rp_detector_count; i++) {
        const rp_detector *det = rp_detectors[i];
        json_t *params = json_array();
        for (unsigned k = 0; k < det->n_params; k++) {
            const rp_param *pa = &det->params[k];
            json_array_append_new(params, json_pack("{s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:s}", "name",
                                                    pa->name, "unit", pa->unit ? pa->unit : "",
                                                    "low", pa->preset[0], "normal", pa->preset[1],
                                                    "high", pa->preset[2], "min", pa->min, "max",
                                                    pa->max, "help", pa->help ? pa->help : ""));
        }
        json_array_append_new(catalog, json_pack("{s:s,s:s,s:f,s:o}", "name", det->name,
                                                 "description",
                                                 det->description ? det->description : "",
                                                 "default_weight", det->default_weight, "params",
                                                 params));
    }
    if (d->config_path[0]) rp_read_file(d->config_path, 16u << 20, &yaml, &ylen, &err);
    json_t *o = json_pack("{s:o,s:o,s:o,s:o}", "path",
                          d->config_path[0] ? json_string(d->config_path) : json_null(), "yaml",
                          yaml ? json_stringn(yaml, ylen) : json_string(""), "profiles", profiles,
                          "detectors", catalog);
    /* fleet mode: the fleet's version merged over this file, if any */
    if (o) json_object_set_new(o, "fleet", rp_fleet_json(d->fleet));
    free(yaml);
    return o;
}

