/*
 * decisions.c -- what is enforced, and one truth about it: the manual
 * decisions of the API (POST and DELETE /v1/decisions), the list of
 * active ones and their history, and /v1/check's lookup for proxies that
 * ask rather than read the table. A manual change goes to the store
 * first and to the table second, under the manual lock, so that what the
 * API answers is what nginx enforces, now and after a restart; the
 * engine's own decisions take the other road (daemon.c's callbacks:
 * table at once, store through the queue).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon_int.h"
#include "keys.h"

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

/* Fleet mode (docs/cluster.md#fleet-view): an engine decision's incident
 * is the decider's, numbered there; this node keeps it under an id of its
 * own (mirrored), found by key and the decider's id: "incident_ref" (null
 * until the incident has arrived) and "incident_node". One indexed
 * lookup per engine decision. */
static void decision_incident_ref(rp_daemon *d, json_t *dec, uint64_t incident) {
    const char *key = json_string_value(json_object_get(dec, "key"));
    uint64_t ref = 0;
    char node[RP_NODE_NAME_MAX + 1] = "";
    rp_error err = {0};
    bool found = key && rp_store_incident_ref(d->store, key, incident, &ref, node, sizeof node,
                                              &err) == RP_OK;
    json_object_set_new(dec, "incident_ref", found ? json_integer((json_int_t)ref) : json_null());
    json_object_set_new(dec, "incident_node", found && node[0] ? json_string(node) : json_null());
}

static void collect_decision(void *user, const rp_decision *dec) {
    json_array_append_new(user, decision_json(dec));
}

static void collect_note(void *user, const char *key, const char *source, const char *reason) {
    json_t *note = json_pack("{s:s,s:o}", "source", source, "reason",
                             reason ? json_string(reason) : json_null());
    if (!note) /* a reason that is not UTF-8: keep the source */
        note = json_pack("{s:s,s:n}", "source", source, "reason");
    json_object_set_new(user, key, note); /* ordered by start: the newest stays */
}

/* The active decisions as the table holds them, each with its source and
 * reason from the store (the table keeps neither), read in one query. An
 * engine decision still queued for the store has no row yet: its source
 * is known by its incident, its reason is null. */
json_t *rp_daemon_decisions_json(rp_daemon *d) {
    json_t *arr = json_array();
    int64_t now = rp_wall_us();
    rp_daemon_lock_table(d);
    rp_dtable_writer_each(d->table, now, collect_decision, arr);
    pthread_mutex_unlock(&d->table_lock);
    json_t *notes = json_object();
    rp_error err = {0};
    if (rp_store_decision_notes(d->store, NULL, now, collect_note, notes, &err) != RP_OK)
        rp_log(d, "error", "the reasons of the active decisions: %s", err.message);
    size_t i;
    json_t *dec;
    json_array_foreach(arr, i, dec) {
        json_t *note = json_object_get(notes, json_string_value(json_object_get(dec, "key")));
        json_int_t incident = json_integer_value(json_object_get(dec, "incident_id"));
        json_t *source = json_object_get(note, "source");
        json_object_set_new(dec, "source", source       ? json_incref(source)
                                           : incident ? json_string("engine")
                                                      : json_null());
        json_t *reason = json_object_get(note, "reason");
        json_object_set_new(dec, "reason", reason ? json_incref(reason) : json_null());
        if (d->cluster && incident > 0) decision_incident_ref(d, dec, (uint64_t)incident);
    }
    json_decref(notes);
    return json_pack("{s:I,s:o}", "total", (json_int_t)json_array_size(arr), "decisions", arr);
}

rp_status rp_daemon_decision_history(rp_daemon *d, const char *key, int limit, int offset,
                                     char **json, rp_error *err) {
    return rp_store_query_decisions(d->store, key, false, rp_wall_us(), limit, offset, json, err);
}

/*
 * Manual decisions go store first, then table, so that what the API
 * answers is what nginx enforces, now and after a restart:
 *   - no room in the table: 503, nothing recorded;
 *   - the store refuses the write (a full disk): 503, the table is not
 *     touched -- nothing is enforced, and nothing comes back at restart;
 *   - then the table: an existing entry for the key is overwritten in
 *     place, and a new one found room a moment ago; should the engine
 *     have taken that room since, the store write is undone and 503.
 * A 201 means committed to the store and visible to nginx. The manual
 * lock keeps two API changes from interleaving between store and table.
 */
rp_status rp_daemon_decide(rp_daemon *d, const rp_key *key, rp_action action, int64_t duration_us,
                           const char *reason, rp_decision *out, rp_error *err) {
    if (action != RP_ACTION_BLOCK && action != RP_ACTION_THROTTLE && action != RP_ACTION_ALLOW)
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "action must be block, throttle or allow");
    if (duration_us <= 0 || duration_us > 3650LL * 86400 * 1000000)
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "duration must be between 1 s and 10 years");
    char keytext[128];
    rp_key_format(key, keytext, sizeof keytext);
    pthread_mutex_lock(&d->manual_lock);
    int64_t now = rp_wall_us();
    rp_decision dec = {.key = *key, .action = action, .start_us = now, .expires_us = now + duration_us};
    rp_daemon_lock_table(d);
    rp_status st = rp_dtable_can_put(d->table, key, now);
    pthread_mutex_unlock(&d->table_lock);
    if (st != RP_OK) {
        pthread_mutex_unlock(&d->manual_lock);
        if (st == RP_ENOMEM)
            return rp_error_set(err, st, NULL, 0, 0,
                                "the decision table is full (serve.table_capacity): %s not "
                                "decided, nothing recorded", keytext);
        return rp_error_set(err, st, NULL, 0, 0,
                            "the decision table is damaged: %s not decided, nothing recorded",
                            keytext);
    }
    job_list queued = rp_daemon_take_pending(d, key);
    st = rp_store_put_decision(d->store, &dec, "manual", reason, err);
    if (st != RP_OK) {
        rp_daemon_requeue_front(d, queued.head, queued.tail, queued.n);
        pthread_mutex_unlock(&d->manual_lock);
        atomic_fetch_add(&d->store_errors, 1);
        rp_log(d, "error", "manual decision %s %s refused, not enforced: %s", rp_action_name(action),
               keytext, err->message);
        return st;
    }
    rp_daemon_free_jobs(queued.head);
    rp_daemon_lock_table(d);
    st = rp_dtable_put(d->table, &dec, now);
    pthread_mutex_unlock(&d->table_lock);
    if (st != RP_OK) {
        rp_error undo = {0};
        if (rp_store_remove_decision(d->store, key, now, "not-enforced", &undo) != RP_OK)
            rp_log(d, "error", "manual decision on %s: the table refused it and the store kept it "
                               "(%s): it comes back at restart", keytext, undo.message);
        pthread_mutex_unlock(&d->manual_lock);
        return rp_error_set(err, st, NULL, 0, 0, "the decision table %s: %s not decided",
                            st == RP_ENOMEM ? "is full (serve.table_capacity)" : "is damaged",
                            keytext);
    }
    pthread_mutex_lock(&d->engine_lock);
    d->decide_source = "manual";
    rp_engine_decide(d->engine, &dec);
    d->decide_source = NULL;
    pthread_mutex_unlock(&d->engine_lock);
    pthread_mutex_unlock(&d->manual_lock);
    atomic_fetch_add(&d->decisions_manual[action], 1);
    rp_cluster_publish_manual(d->cluster, &dec); /* to the fleet; queued, journaled */
    rp_alert alert = {.key = *key, .action = action, .manual = true, .decided_us = dec.start_us,
                      .expires_us = dec.expires_us};
    snprintf(alert.reason, sizeof alert.reason, "%s", reason ? reason : "");
    rp_webhooks_notify(d->webhooks, &alert); /* queued; allow passes no filter */
    rp_log(d, "info", "manual decision %s %s for %llds%s%s", rp_action_name(action), keytext,
           (long long)(duration_us / 1000000), reason ? ": " : "", reason ? reason : "");
    if (out) *out = dec;
    return RP_OK;
}

/* Store first, then table, as for rp_daemon_decide: when the store
 * refuses, the decision stays enforced and recorded (5xx); when it takes
 * the removal, the table entry goes. RP_ENOENT when neither the table
 * nor the store (nor the store's queue) has an active decision. */
rp_status rp_daemon_undecide(rp_daemon *d, const rp_key *key, rp_error *err) {
    char keytext[128];
    rp_key_format(key, keytext, sizeof keytext);
    pthread_mutex_lock(&d->manual_lock);
    int64_t now = rp_wall_us();
    rp_dtable_hit hit;
    rp_daemon_lock_table(d);
    int found = rp_daemon_table_lookup(d, key, now, &hit);
    pthread_mutex_unlock(&d->table_lock);
    job_list queued = rp_daemon_take_pending(d, key);
    rp_status st = rp_store_remove_decision(d->store, key, now, "manual", err);
    if (st == RP_ENOENT && (found == 1 || queued.n)) st = RP_OK;
    if (st != RP_OK) {
        rp_daemon_requeue_front(d, queued.head, queued.tail, queued.n);
        pthread_mutex_unlock(&d->manual_lock);
        if (st == RP_ENOENT)
            return rp_error_set(err, RP_ENOENT, NULL, 0, 0, "no active decision for %s", keytext);
        atomic_fetch_add(&d->store_errors, 1);
        rp_log(d, "error", "removal of the decision on %s refused, it stays enforced: %s", keytext,
               err->message);
        return st;
    }
    rp_daemon_free_jobs(queued.head);
    rp_daemon_lock_table(d);
    rp_status removed = rp_dtable_remove(d->table, key);
    pthread_mutex_unlock(&d->table_lock);
    rp_decision clear = {.key = *key, .action = RP_ACTION_NONE, .start_us = now, .expires_us = now};
    pthread_mutex_lock(&d->engine_lock);
    d->decide_source = "manual";
    rp_engine_decide(d->engine, &clear);
    d->decide_source = NULL;
    pthread_mutex_unlock(&d->engine_lock);
    pthread_mutex_unlock(&d->manual_lock);
    if (removed == RP_EIO)
        rp_log(d, "error", "decision on %s removed from the store; the damaged table is rebuilt "
                           "from the store", keytext);
    rp_cluster_publish_removal(d->cluster, key, now); /* to the fleet; queued, journaled */
    rp_log(d, "info", "decision on %s removed", keytext);
    return RP_OK;
}

bool rp_daemon_check(rp_daemon *d, const rp_key *keys, int n, rp_dtable_hit *hit) {
    int64_t now = rp_wall_us();
    /* Pick up a compacted table (a rename) at most every second, like nginx. */
    rp_daemon_lock_table(d);
    if (d->reader && now - d->reader_checked_us > 1000000) {
        d->reader_checked_us = now;
        rp_error err;
        rp_dtable_reader_refresh(d->reader, &err);
    }
    bool any = false;
    rp_dtable_hit best = {0};
    for (int i = 0; i < n; i++) {
        rp_dtable_hit h;
        if (rp_daemon_table_lookup(d, &keys[i], now, &h) != 1) continue;
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

static incident_detector *detector_slot(rp_daemon *d, uint64_t id, uint64_t key_hash) {
    return &d->incident_detector[(id ^ key_hash) % RP_INCIDENT_DETECTORS];
}

void rp_daemon_note_detector(rp_daemon *d, uint64_t id, const rp_key *key, int detector) {
    uint64_t h = rp_key_hash(key);
    *detector_slot(d, id, h) = (incident_detector){.id = id, .key_hash = h, .detector = detector};
}

int rp_daemon_incident_detector(rp_daemon *d, uint64_t id, const rp_key *key) {
    uint64_t h = rp_key_hash(key);
    const incident_detector *e = detector_slot(d, id, h);
    return id && e->id == id && e->key_hash == h ? e->detector : RP_REFUSED_UNKNOWN;
}

/* The decision that refused each refused event, looked up as nginx did
 * (the request's keys, block before throttle) at the event's own time,
 * and its detector: manual without an incident, the incident's main
 * finding when this daemon saw it, else unknown. */
void rp_daemon_count_refused(rp_daemon *d, const rp_event *evs, size_t n) {
    bool locked = false;
    for (size_t i = 0; i < n; i++) {
        const rp_event *ev = &evs[i];
        if (!(ev->flags & RP_EVENT_REFUSED)) continue;
        if (!locked) {
            rp_daemon_lock_table(d);
            locked = true;
        }
        rp_key keys[RP_REQUEST_KEYS_MAX];
        int nk = rp_request_keys(&ev->client, rp_event_fingerprint(ev), ev->path.ptr, ev->path.len,
                                 ev->token_id, keys);
        rp_dtable_hit best = {.action = RP_ACTION_NONE};
        int best_k = -1;
        for (int k = 0; k < nk; k++) {
            rp_dtable_hit h;
            if (rp_daemon_table_lookup(d, &keys[k], ev->ts_us, &h) != 1) continue;
            if ((h.action == RP_ACTION_THROTTLE || h.action == RP_ACTION_BLOCK) &&
                h.action > best.action)
                best = h, best_k = k;
        }
        int row = best.action == RP_ACTION_BLOCK ? 2 : best.action == RP_ACTION_THROTTLE ? 1 : 0;
        int slot = RP_REFUSED_UNKNOWN;
        if (row && !best.incident_id) slot = RP_REFUSED_MANUAL;
        else if (row) slot = rp_daemon_incident_detector(d, best.incident_id, &keys[best_k]);
        atomic_fetch_add(&d->refused_by[row][slot], 1);
    }
    if (locked) pthread_mutex_unlock(&d->table_lock);
}
