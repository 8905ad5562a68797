/*
 * test_store.c -- the SQLite store on real files in a temporary
 * directory: incidents and decisions in and out, queries and paging,
 * retention, durability across reopen and kill -9, refusal of files it
 * must not touch, and a reader running beside a writer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store.h"

#define SEC 1000000LL
#define T0 (1764064800LL * SEC) /* 2025-11-25T10:00:00Z */
#define DAY (86400LL * SEC)

static char dir[64];
static char db_path[128];

static int setup(void **state) {
    snprintf(dir, sizeof dir, "/tmp/rp_store_XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(db_path, sizeof db_path, "%s/rampart.db", dir);
    return 0;
}

static int teardown(void **state) {
    char p[160];
    const char *suffix[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s%s", db_path, suffix[i]);
        unlink(p);
    }
    rmdir(dir);
    return 0;
}

static rp_store *open_store(void) {
    rp_store *s = NULL;
    rp_error err;
    rp_status st = rp_store_open(db_path, &s, &err);
    if (st != RP_OK) fprintf(stderr, "open: %s\n", err.message);
    assert_int_equal(st, RP_OK);
    return s;
}

static void ip_key(rp_key *key, const char *ip) {
    rp_addr a;
    assert_int_equal(rp_addr_parse(ip, strlen(ip), &a), RP_OK);
    rp_key_from_addr(key, RP_LEVEL_IP, &a);
}

static void make_incident(rp_incident *inc, uint64_t id, const char *ip, rp_action action,
                          const char *detector, uint32_t threats, const char *route, int64_t at) {
    memset(inc, 0, sizeof *inc);
    inc->id = id;
    ip_key(&inc->key, ip);
    inc->action = action;
    inc->score = 75;
    inc->threats = threats;
    inc->offense = 1;
    inc->first_seen_us = at - 60 * SEC;
    inc->last_seen_us = at;
    inc->decided_us = at;
    inc->expires_us = action == RP_ACTION_MONITOR ? 0 : at + 900 * SEC;
    inc->requests = 100;
    snprintf(inc->profile, sizeof inc->profile, "default");
    snprintf(inc->route, sizeof inc->route, "%s", route);
    inc->n_findings = 1;
    inc->findings[0].detector = detector;
    inc->findings[0].score = 1;
    inc->findings[0].weight = 75;
    inc->findings[0].threats = threats;
    snprintf(inc->findings[0].summary, sizeof inc->findings[0].summary, "evidence");
}

static void put_incident(rp_store *s, const rp_incident *inc) {
    rp_error err;
    assert_int_equal(rp_store_put_incident(s, inc, &err), RP_OK);
}

static void make_decision(rp_decision *d, const char *ip, rp_action action, int64_t start,
                          int64_t duration, uint64_t incident) {
    memset(d, 0, sizeof *d);
    ip_key(&d->key, ip);
    d->action = action;
    d->start_us = start;
    d->expires_us = start + duration;
    d->incident_id = incident;
    d->score = 80;
}

static void put_decision(rp_store *s, const rp_decision *d, const char *source) {
    rp_error err;
    assert_int_equal(rp_store_put_decision(s, d, source, "test", &err), RP_OK);
}

/* Run a query and parse its JSON; the caller decrefs. */
static json_t *incidents(rp_store *s, const rp_incident_query *q) {
    char *text = NULL;
    rp_error err;
    assert_int_equal(rp_store_query_incidents(s, q, &text, &err), RP_OK);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static json_t *decisions(rp_store *s, const char *key, bool active, int64_t now) {
    char *text = NULL;
    rp_error err;
    assert_int_equal(rp_store_query_decisions(s, key, active, now, 0, 0, &text, &err), RP_OK);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_non_null(j);
    return j;
}

static long long total_of(json_t *j) { return json_integer_value(json_object_get(j, "total")); }

static long long id_at(json_t *j, const char *array, size_t i) {
    return json_integer_value(json_object_get(json_array_get(json_object_get(j, array), i), "id"));
}

static const char *str_at(json_t *j, const char *array, size_t i, const char *field) {
    return json_string_value(json_object_get(json_array_get(json_object_get(j, array), i), field));
}

/* The total of a query filtered by q, for the filter tests. */
static long long count_where(rp_store *s, const rp_incident_query *q) {
    json_t *j = incidents(s, q);
    long long n = total_of(j);
    size_t page = n < 100 ? (size_t)n : 100; /* limit 0 = a page of 100 */
    assert_int_equal(json_array_size(json_object_get(j, "incidents")), page);
    json_decref(j);
    return n;
}

typedef struct active_list {
    int n;
    rp_decision d[64];
} active_list;

static void collect(void *user, const rp_decision *d) {
    active_list *l = user;
    if (l->n < 64) l->d[l->n++] = *d;
}

static active_list active_at(rp_store *s, int64_t now) {
    active_list l = {0};
    rp_error err;
    assert_int_equal(rp_store_active_decisions(s, now, collect, &l, &err), RP_OK);
    return l;
}

/* ------------------------------------------------------------- incidents */

static void test_store_put_incident_is_returned_as_analyze_json(void **state) {
    rp_store *s = open_store();
    rp_incident inc;
    make_incident(&inc, 7, "203.0.113.5", RP_ACTION_BLOCK, "auth",
                  RP_THREAT_CREDENTIAL_STUFFING, "POST /api/login", T0);
    put_incident(s, &inc);
    rp_incident_query q = {0};
    json_t *j = incidents(s, &q);
    assert_int_equal(total_of(j), 1);
    assert_int_equal(id_at(j, "incidents", 0), 7);
    assert_string_equal(str_at(j, "incidents", 0, "key"), "ip:203.0.113.5");
    assert_string_equal(str_at(j, "incidents", 0, "action"), "block");
    assert_string_equal(str_at(j, "incidents", 0, "decided_at"), "2025-11-25T10:00:00.000Z");
    json_t *f = json_array_get(
        json_object_get(json_array_get(json_object_get(j, "incidents"), 0), "findings"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "detector")), "auth");
    json_decref(j);
    rp_store_close(s);
}

static void test_store_put_incident_twice_updates_by_id(void **state) {
    rp_store *s = open_store();
    rp_incident inc;
    make_incident(&inc, 1, "203.0.113.5", RP_ACTION_THROTTLE, "rate", RP_THREAT_FLOOD,
                  "GET /", T0);
    put_incident(s, &inc);
    inc.requests = 5000;
    inc.action = RP_ACTION_BLOCK;
    put_incident(s, &inc);
    rp_incident_query q = {0};
    json_t *j = incidents(s, &q);
    assert_int_equal(total_of(j), 1);
    json_t *row = json_array_get(json_object_get(j, "incidents"), 0);
    assert_int_equal(json_integer_value(json_object_get(row, "requests")), 5000);
    assert_string_equal(json_string_value(json_object_get(row, "action")), "block");
    json_decref(j);
    q.action = RP_ACTION_THROTTLE; /* the indexed column followed the update too */
    assert_int_equal(count_where(s, &q), 0);
    rp_store_close(s);
}

static void test_store_query_incidents_applies_each_filter(void **state) {
    rp_store *s = open_store();
    rp_incident inc;
    make_incident(&inc, 1, "10.0.0.1", RP_ACTION_BLOCK, "auth", RP_THREAT_CREDENTIAL_STUFFING,
                  "POST /api/login", T0);
    put_incident(s, &inc);
    make_incident(&inc, 2, "10.0.0.2", RP_ACTION_THROTTLE, "enumeration",
                  RP_THREAT_ENUMERATION | RP_THREAT_SCRAPER, "GET /api/users/{id}", T0 + 60 * SEC);
    put_incident(s, &inc);
    make_incident(&inc, 3, "10.0.0.3", RP_ACTION_MONITOR, "scan", RP_THREAT_SCANNER,
                  "GET /wp-login.php", T0 + 120 * SEC);
    put_incident(s, &inc);

    rp_incident_query q = {0};
    assert_int_equal(count_where(s, &q), 3);
    q = (rp_incident_query){.since_us = T0 + 60 * SEC};
    assert_int_equal(count_where(s, &q), 2);
    q = (rp_incident_query){.until_us = T0 + 60 * SEC}; /* until is exclusive */
    assert_int_equal(count_where(s, &q), 1);
    q = (rp_incident_query){.detector = "enumeration"};
    assert_int_equal(count_where(s, &q), 1);
    q = (rp_incident_query){.detector = "enum"}; /* whole names only */
    assert_int_equal(count_where(s, &q), 0);
    q = (rp_incident_query){.action = RP_ACTION_MONITOR};
    assert_int_equal(count_where(s, &q), 1);
    q = (rp_incident_query){.route = "/api/"};
    assert_int_equal(count_where(s, &q), 2);
    q = (rp_incident_query){.route = "%"}; /* no LIKE wildcards */
    assert_int_equal(count_where(s, &q), 0);
    q = (rp_incident_query){.key = "ip:10.0.0.3"};
    assert_int_equal(count_where(s, &q), 1);
    q = (rp_incident_query){.threat = "scraper"};
    assert_int_equal(count_where(s, &q), 1);
    q = (rp_incident_query){.threat = "scraper", .action = RP_ACTION_BLOCK};
    assert_int_equal(count_where(s, &q), 0);
    rp_store_close(s);
}

static void test_store_query_incidents_pages_newest_first_with_total(void **state) {
    rp_store *s = open_store();
    rp_incident inc;
    rp_error err;
    assert_int_equal(rp_store_begin(s, &err), RP_OK);
    for (int i = 1; i <= 25; i++) {
        make_incident(&inc, (uint64_t)i, "10.0.0.1", RP_ACTION_BLOCK, "rate", RP_THREAT_FLOOD,
                      "GET /", T0 + i * SEC);
        put_incident(s, &inc);
    }
    assert_int_equal(rp_store_commit(s, &err), RP_OK);
    rp_incident_query q = {.limit = 10, .offset = 20};
    json_t *j = incidents(s, &q);
    assert_int_equal(total_of(j), 25);
    assert_int_equal(json_array_size(json_object_get(j, "incidents")), 5);
    assert_int_equal(id_at(j, "incidents", 0), 5);
    json_decref(j);
    q = (rp_incident_query){.limit = 3, .ascending = true};
    j = incidents(s, &q);
    assert_int_equal(json_array_size(json_object_get(j, "incidents")), 3);
    assert_int_equal(id_at(j, "incidents", 0), 1);
    assert_int_equal(id_at(j, "incidents", 2), 3);
    json_decref(j);
    rp_store_close(s);
}

/* The dashboard's top clients: one row per key, its worst incident
 * (action, then score); keys ordered the same way; only the window. */
static void test_store_top_clients_ranks_each_keys_worst_incident(void **state) {
    rp_store *s = open_store();
    rp_incident inc;
    rp_error err;
    assert_int_equal(rp_store_begin(s, &err), RP_OK);
    make_incident(&inc, 1, "10.0.0.1", RP_ACTION_MONITOR, "rate", RP_THREAT_FLOOD, "GET /", T0 + 10 * SEC);
    inc.score = 99;
    put_incident(s, &inc);
    make_incident(&inc, 2, "10.0.0.1", RP_ACTION_BLOCK, "rate", RP_THREAT_FLOOD, "GET /", T0 + 20 * SEC);
    inc.score = 60;
    put_incident(s, &inc);
    make_incident(&inc, 3, "10.0.0.2", RP_ACTION_BLOCK, "scan", RP_THREAT_SCANNER, "GET /", T0 + 30 * SEC);
    inc.score = 80;
    put_incident(s, &inc);
    make_incident(&inc, 4, "10.0.0.3", RP_ACTION_THROTTLE, "rate", RP_THREAT_FLOOD, "GET /", T0 + 40 * SEC);
    inc.score = 100;
    put_incident(s, &inc);
    make_incident(&inc, 5, "10.0.0.4", RP_ACTION_BLOCK, "rate", RP_THREAT_FLOOD, "GET /", T0 - 600 * SEC);
    put_incident(s, &inc); /* before the window */
    assert_int_equal(rp_store_commit(s, &err), RP_OK);
    char *text = NULL;
    assert_int_equal(rp_store_top_clients(s, T0, 10, &text, &err), RP_OK);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_int_equal(total_of(j), 3);
    assert_int_equal(id_at(j, "incidents", 0), 3); /* block 80 */
    assert_int_equal(id_at(j, "incidents", 1), 2); /* block 60: 10.0.0.1's worst, not its 99 */
    assert_int_equal(id_at(j, "incidents", 2), 4); /* throttle 100 */
    json_decref(j);
    assert_int_equal(rp_store_top_clients(s, T0, 1, &text, &err), RP_OK);
    j = json_loads(text, 0, NULL);
    free(text);
    assert_int_equal(total_of(j), 1);
    assert_int_equal(id_at(j, "incidents", 0), 3);
    json_decref(j);
    rp_store_close(s);
}

static json_t *row_at(json_t *j, size_t i) {
    return json_array_get(json_object_get(j, "incidents"), i);
}

static void test_store_incidents_by_key_gives_one_row_per_actor_with_evidence(void **state) {
    rp_store *s = open_store();
    rp_incident inc;
    rp_error err;
    assert_int_equal(rp_store_begin(s, &err), RP_OK);
    /* 10.0.0.1 escalates monitor -> throttle -> block: one actor, three steps */
    make_incident(&inc, 1, "10.0.0.1", RP_ACTION_MONITOR, "scan", RP_THREAT_SCANNER, "GET /", T0 + 10 * SEC);
    inc.requests = 20;
    put_incident(s, &inc);
    make_incident(&inc, 2, "10.0.0.1", RP_ACTION_THROTTLE, "scan", RP_THREAT_SCANNER, "GET /", T0 + 20 * SEC);
    inc.requests = 40;
    put_incident(s, &inc);
    make_incident(&inc, 3, "10.0.0.1", RP_ACTION_BLOCK, "scan", RP_THREAT_SCANNER, "GET /", T0 + 30 * SEC);
    inc.requests = 70;
    inc.n_findings = 2;
    inc.findings[0].score = 0.2; /* 15 points */
    inc.findings[1] = inc.findings[0];
    inc.findings[1].detector = "signature";
    inc.findings[1].score = 1; /* 75 points: the top finding */
    snprintf(inc.findings[1].summary, sizeof inc.findings[1].summary, "signature: 12 known scanner paths");
    put_incident(s, &inc);
    /* a later monitor does not replace the block as the strongest */
    make_incident(&inc, 4, "10.0.0.1", RP_ACTION_MONITOR, "rate", RP_THREAT_FLOOD, "GET /", T0 + 50 * SEC);
    inc.requests = 90;
    put_incident(s, &inc);
    /* 10.0.0.2 was only watched */
    make_incident(&inc, 5, "10.0.0.2", RP_ACTION_MONITOR, "rate", RP_THREAT_FLOOD, "GET /", T0 + 40 * SEC);
    put_incident(s, &inc);
    assert_int_equal(rp_store_commit(s, &err), RP_OK);

    rp_incident_query q = {.by_key = true};
    json_t *j = incidents(s, &q);
    assert_int_equal(total_of(j), 2);
    json_t *first = row_at(j, 0); /* 10.0.0.1: its newest incident is the latest of all */
    assert_int_equal(json_integer_value(json_object_get(first, "id")), 3);
    assert_string_equal(json_string_value(json_object_get(first, "key")), "ip:10.0.0.1");
    assert_int_equal(json_integer_value(json_object_get(first, "incidents")), 4);
    assert_string_equal(json_string_value(json_object_get(first, "evidence")),
                        "signature: 12 known scanner paths");
    /* requests after its first throttle: 90 at its newest minus 40 then */
    assert_int_equal(json_integer_value(json_object_get(first, "requests_after_stop")), 50);
    json_t *second = row_at(j, 1);
    assert_int_equal(json_integer_value(json_object_get(second, "id")), 5);
    assert_true(json_is_null(json_object_get(second, "requests_after_stop")));
    assert_string_equal(json_string_value(json_object_get(second, "evidence")), "evidence");
    json_decref(j);

    /* filters apply before grouping; paging counts keys */
    q.action = RP_ACTION_MONITOR;
    q.limit = 1;
    j = incidents(s, &q);
    assert_int_equal(total_of(j), 2);
    assert_int_equal(json_array_size(json_object_get(j, "incidents")), 1);
    assert_int_equal(json_integer_value(json_object_get(row_at(j, 0), "id")), 4);
    assert_int_equal(json_integer_value(json_object_get(row_at(j, 0), "incidents")), 2);
    json_decref(j);
    q.offset = 1;
    q.ascending = true;
    j = incidents(s, &q);
    assert_int_equal(json_integer_value(json_object_get(row_at(j, 0), "id")), 4);
    json_decref(j);

    /* the per-incident list is unchanged */
    rp_incident_query all = {0};
    j = incidents(s, &all);
    assert_int_equal(total_of(j), 5);
    assert_null(json_object_get(row_at(j, 0), "evidence"));
    json_decref(j);
    rp_store_close(s);
}

typedef struct notes_seen {
    int n;
    char key[64], source[16], reason[64];
} notes_seen;

static void note_seen(void *user, const char *key, const char *source, const char *reason) {
    notes_seen *n = user;
    n->n++;
    snprintf(n->key, sizeof n->key, "%s", key);
    snprintf(n->source, sizeof n->source, "%s", source);
    snprintf(n->reason, sizeof n->reason, "%s", reason ? reason : "(null)");
}

static void test_store_decision_notes_give_the_active_decisions_reason(void **state) {
    rp_store *s = open_store();
    rp_error err;
    rp_decision d;
    make_decision(&d, "10.0.0.1", RP_ACTION_BLOCK, T0, 3600 * SEC, 0);
    assert_int_equal(rp_store_put_decision(s, &d, "manual", "ticket 4711", &err), RP_OK);
    make_decision(&d, "10.0.0.2", RP_ACTION_BLOCK, T0, 60 * SEC, 7);
    assert_int_equal(rp_store_put_decision(s, &d, "engine", NULL, &err), RP_OK);
    make_decision(&d, "10.0.0.3", RP_ACTION_BLOCK, T0 - 7200 * SEC, 60 * SEC, 0);
    assert_int_equal(rp_store_put_decision(s, &d, "manual", "expired long ago", &err), RP_OK);

    notes_seen n = {0};
    assert_int_equal(rp_store_decision_notes(s, "ip:10.0.0.1", T0 + SEC, note_seen, &n, &err), RP_OK);
    assert_int_equal(n.n, 1);
    assert_string_equal(n.source, "manual");
    assert_string_equal(n.reason, "ticket 4711");
    memset(&n, 0, sizeof n);
    assert_int_equal(rp_store_decision_notes(s, NULL, T0 + SEC, note_seen, &n, &err), RP_OK);
    assert_int_equal(n.n, 2); /* not the expired one */
    memset(&n, 0, sizeof n);
    assert_int_equal(rp_store_decision_notes(s, "ip:10.0.0.2", T0 + SEC, note_seen, &n, &err), RP_OK);
    assert_int_equal(n.n, 1);
    assert_string_equal(n.source, "engine");
    assert_string_equal(n.reason, "(null)");
    /* removed: no longer active */
    rp_key k;
    ip_key(&k, "10.0.0.1");
    assert_int_equal(rp_store_remove_decision(s, &k, T0 + 2 * SEC, "manual", &err), RP_OK);
    memset(&n, 0, sizeof n);
    assert_int_equal(rp_store_decision_notes(s, "ip:10.0.0.1", T0 + 3 * SEC, note_seen, &n, &err), RP_OK);
    assert_int_equal(n.n, 0);
    rp_store_close(s);
}

static void test_store_max_incident_id_is_highest_stored(void **state) {
    rp_store *s = open_store();
    uint64_t max = 99;
    rp_error err;
    assert_int_equal(rp_store_max_incident_id(s, &max, &err), RP_OK);
    assert_int_equal(max, 0);
    rp_incident inc;
    make_incident(&inc, 41, "10.0.0.1", RP_ACTION_BLOCK, "rate", RP_THREAT_FLOOD, "GET /", T0);
    put_incident(s, &inc);
    assert_int_equal(rp_store_max_incident_id(s, &max, &err), RP_OK);
    assert_int_equal(max, 41);
    rp_store_close(s);
}

/* ------------------------------------------------------------- decisions */

static void test_store_decision_for_same_key_replaces_active_one(void **state) {
    rp_store *s = open_store();
    rp_decision d;
    make_decision(&d, "10.0.0.1", RP_ACTION_THROTTLE, T0, 300 * SEC, 1);
    put_decision(s, &d, "engine");
    make_decision(&d, "10.0.0.1", RP_ACTION_BLOCK, T0 + 10 * SEC, 900 * SEC, 2);
    put_decision(s, &d, "engine");

    active_list l = active_at(s, T0 + 20 * SEC);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.d[0].action, RP_ACTION_BLOCK);
    assert_int_equal(l.d[0].incident_id, 2);
    assert_true(rp_key_equal(&l.d[0].key, &d.key));
    assert_int_equal(l.d[0].expires_us, T0 + 910 * SEC);

    json_t *j = decisions(s, "ip:10.0.0.1", false, T0 + 20 * SEC);
    assert_int_equal(total_of(j), 2);
    json_t *newest = json_array_get(json_object_get(j, "decisions"), 0);
    json_t *old = json_array_get(json_object_get(j, "decisions"), 1);
    assert_true(json_is_true(json_object_get(newest, "active")));
    assert_true(json_is_null(json_object_get(newest, "ended_by")));
    assert_true(json_is_false(json_object_get(old, "active")));
    assert_string_equal(json_string_value(json_object_get(old, "ended_by")), "replaced");
    assert_string_equal(json_string_value(json_object_get(old, "ended_at")),
                        "2025-11-25T10:00:10.000Z");
    json_decref(j);
    rp_store_close(s);
}

static void test_store_remove_decision_ends_it_and_keeps_history(void **state) {
    rp_store *s = open_store();
    rp_decision d;
    make_decision(&d, "10.0.0.1", RP_ACTION_BLOCK, T0, 900 * SEC, 0);
    put_decision(s, &d, "manual");
    rp_error err;
    assert_int_equal(rp_store_remove_decision(s, &d.key, T0 + 5 * SEC, "admin", &err), RP_OK);
    assert_int_equal(active_at(s, T0 + 6 * SEC).n, 0);
    assert_int_equal(rp_store_remove_decision(s, &d.key, T0 + 7 * SEC, "admin", &err), RP_ENOENT);

    json_t *j = decisions(s, NULL, false, T0 + 6 * SEC);
    assert_int_equal(total_of(j), 1);
    assert_string_equal(str_at(j, "decisions", 0, "ended_by"), "admin");
    assert_string_equal(str_at(j, "decisions", 0, "source"), "manual");
    assert_string_equal(str_at(j, "decisions", 0, "start"), "2025-11-25T10:00:00.000Z");
    assert_string_equal(str_at(j, "decisions", 0, "expires"), "2025-11-25T10:15:00.000Z");
    assert_true(json_is_null(
        json_object_get(json_array_get(json_object_get(j, "decisions"), 0), "incident_id")));
    json_decref(j);
    j = decisions(s, NULL, true, T0 + 6 * SEC);
    assert_int_equal(total_of(j), 0);
    json_decref(j);
    rp_store_close(s);
}

static void test_store_active_decisions_are_those_unexpired_at_the_time(void **state) {
    rp_store *s = open_store();
    rp_decision d;
    make_decision(&d, "10.0.0.1", RP_ACTION_THROTTLE, T0, 60 * SEC, 1);
    put_decision(s, &d, "engine");
    make_decision(&d, "10.0.0.2", RP_ACTION_BLOCK, T0, 600 * SEC, 2);
    put_decision(s, &d, "engine");
    make_decision(&d, "10.0.0.3", RP_ACTION_ALLOW, T0, 3600 * SEC, 0);
    put_decision(s, &d, "manual");
    assert_int_equal(active_at(s, T0 + 30 * SEC).n, 3);
    assert_int_equal(active_at(s, T0 + 60 * SEC).n, 2); /* expiry is exclusive */
    assert_int_equal(active_at(s, T0 + 3000 * SEC).n, 1);
    assert_int_equal(active_at(s, T0 + 3600 * SEC).n, 0);

    /* An expired decision reads as ended by expiry, before and after prune. */
    json_t *j = decisions(s, "ip:10.0.0.1", false, T0 + 90 * SEC);
    assert_string_equal(str_at(j, "decisions", 0, "ended_by"), "expired");
    assert_true(json_is_false(
        json_object_get(json_array_get(json_object_get(j, "decisions"), 0), "active")));
    json_decref(j);
    j = decisions(s, NULL, true, T0 + 90 * SEC);
    assert_int_equal(total_of(j), 2);
    json_decref(j);
    rp_store_close(s);
}

static void test_store_batch_commits_every_write_at_once(void **state) {
    rp_store *s = open_store();
    rp_error err;
    assert_int_equal(rp_store_begin(s, &err), RP_OK);
    rp_decision d;
    char ip[32];
    for (int i = 0; i < 50; i++) {
        snprintf(ip, sizeof ip, "10.1.0.%d", i);
        make_decision(&d, ip, RP_ACTION_BLOCK, T0, 600 * SEC, (uint64_t)i + 1);
        put_decision(s, &d, "engine");
    }
    /* Not visible to the reader until committed. */
    assert_int_equal(active_at(s, T0).n, 0);
    assert_int_equal(rp_store_commit(s, &err), RP_OK);
    assert_int_equal(active_at(s, T0).n, 50);
    assert_int_equal(rp_store_commit(s, &err), RP_EINVAL); /* no batch open */
    rp_store_close(s);
}

static void test_store_put_routes_replaces_the_inventory(void **state) {
    rp_store *s = open_store();
    rp_route_info r[2];
    memset(r, 0, sizeof r);
    snprintf(r[0].method, sizeof r[0].method, "GET");
    snprintf(r[0].template_, sizeof r[0].template_, "/users/{id}");
    r[0].cls = RP_ROUTE_OBJECT;
    r[0].requests = 10;
    snprintf(r[1].template_, sizeof r[1].template_, "/health");
    r[1].cls = RP_ROUTE_HEALTH;
    r[1].declared = true;
    rp_error err;
    assert_int_equal(rp_store_put_routes(s, r, 2, NULL, 0, &err), RP_OK);
    assert_int_equal(rp_store_put_routes(s, r, 1, NULL, 0, &err), RP_OK);
    rp_store_close(s);

    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT method, template, class, requests FROM routes",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "GET");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "/users/{id}");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "object");
    assert_int_equal(sqlite3_column_int64(st, 3), 10);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ------------------------------------------------------------- retention */

static void test_store_prune_deletes_by_retention_only(void **state) {
    rp_store *s = open_store();
    rp_incident inc;
    make_incident(&inc, 1, "10.0.0.1", RP_ACTION_BLOCK, "rate", RP_THREAT_FLOOD, "GET /", T0);
    put_incident(s, &inc);
    make_incident(&inc, 2, "10.0.0.2", RP_ACTION_BLOCK, "rate", RP_THREAT_FLOOD, "GET /",
                  T0 + 20 * DAY);
    put_incident(s, &inc);
    rp_decision d;
    make_decision(&d, "10.0.0.1", RP_ACTION_BLOCK, T0, 600 * SEC, 1); /* expires day 0 */
    put_decision(s, &d, "engine");
    make_decision(&d, "10.0.0.2", RP_ACTION_BLOCK, T0 + 20 * DAY, 600 * SEC, 2);
    put_decision(s, &d, "engine");
    make_decision(&d, "10.0.0.3", RP_ACTION_ALLOW, T0, 100 * DAY, 0); /* still in force */
    put_decision(s, &d, "manual");

    rp_error err;
    int64_t now = T0 + 25 * DAY;
    /* 0 = keep forever: nothing goes, but expiry is recorded. */
    assert_int_equal(rp_store_prune(s, now, 0, 0, &err), RP_OK);
    rp_incident_query q = {0};
    assert_int_equal(count_where(s, &q), 2);
    json_t *j = decisions(s, NULL, false, now);
    assert_int_equal(total_of(j), 3);
    json_decref(j);

    assert_int_equal(rp_store_prune(s, now, 10 * DAY, 10 * DAY, &err), RP_OK);
    j = incidents(s, &q);
    assert_int_equal(total_of(j), 1);
    assert_int_equal(id_at(j, "incidents", 0), 2);
    json_decref(j);
    j = decisions(s, NULL, false, now);
    assert_int_equal(total_of(j), 2); /* the old expired one went; active kept */
    json_decref(j);
    assert_int_equal(active_at(s, now).n, 1);
    rp_store_close(s);
}

/* ------------------------------------------------------------ durability */

static void test_store_reopen_finds_everything(void **state) {
    rp_store *s = open_store();
    rp_incident inc;
    make_incident(&inc, 3, "10.0.0.1", RP_ACTION_BLOCK, "auth", RP_THREAT_ACCOUNT_TAKEOVER,
                  "POST /login", T0);
    put_incident(s, &inc);
    rp_decision d;
    make_decision(&d, "10.0.0.1", RP_ACTION_BLOCK, T0, 900 * SEC, 3);
    put_decision(s, &d, "engine");
    rp_store_close(s);

    s = open_store();
    active_list l = active_at(s, T0 + SEC);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.d[0].incident_id, 3);
    rp_incident_query q = {.threat = "account_takeover"};
    assert_int_equal(count_where(s, &q), 1);
    rp_store_close(s);
}

/* The child commits decisions one by one and reports each commit on the
 * pipe; it is killed with SIGKILL mid-stream. Every reported decision
 * must be in the database afterwards. */
static void child_commit_loop(int fd) {
    rp_store *s = NULL;
    rp_error err;
    if (rp_store_open(db_path, &s, &err) != RP_OK) _exit(2);
    rp_decision d;
    char ip[32];
    for (uint32_t i = 1;; i++) {
        snprintf(ip, sizeof ip, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        make_decision(&d, ip, RP_ACTION_BLOCK, T0, 3600 * SEC, i);
        if (rp_store_put_decision(s, &d, "engine", NULL, &err) != RP_OK) _exit(3);
        if (write(fd, &i, sizeof i) != (ssize_t)sizeof i) _exit(4);
    }
}

static void test_store_kill9_loses_no_committed_decision(void **state) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_commit_loop(fds[1]);
    }
    close(fds[1]);
    uint32_t last = 0, v;
    while (last < 300 && read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) last = v;
    kill(pid, SIGKILL);
    while (read(fds[0], &v, sizeof v) == (ssize_t)sizeof v) last = v;
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    assert_true(last >= 300);

    rp_store *s = open_store();
    active_list l = {0};
    rp_error err;
    /* Count through the query API: active_list caps at 64. */
    char *text;
    assert_int_equal(rp_store_active_decisions(s, T0, collect, &l, &err), RP_OK);
    assert_int_equal(rp_store_query_decisions(s, NULL, true, T0, 1, 0, &text, &err), RP_OK);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    assert_true(total_of(j) >= (long long)last);
    json_decref(j);
    /* And the last reported one by key. */
    char key[48];
    snprintf(key, sizeof key, "ip:10.%u.%u.%u", (last >> 16) & 255, (last >> 8) & 255, last & 255);
    j = decisions(s, key, true, T0);
    assert_int_equal(total_of(j), 1);
    json_decref(j);
    rp_store_close(s);
}

/* -------------------------------------------------------------- refusals */

static void test_store_refuses_a_file_that_is_not_a_database(void **state) {
    FILE *f = fopen(db_path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 512; i++) fputs("this is not sqlite ", f);
    fclose(f);
    rp_store *s = (rp_store *)1;
    rp_error err;
    rp_status st = rp_store_open(db_path, &s, &err);
    assert_int_not_equal(st, RP_OK);
    assert_null(s);
    assert_non_null(strstr(err.message, "file is not a database"));
    assert_string_equal(err.file, db_path);
}

static void make_foreign_db(const char *sql) {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

static void test_store_refuses_a_newer_schema(void **state) {
    make_foreign_db("CREATE TABLE incidents(id INTEGER); PRAGMA user_version = 4;");
    rp_store *s = NULL;
    rp_error err;
    assert_int_equal(rp_store_open(db_path, &s, &err), RP_EINVAL);
    assert_null(s);
    assert_non_null(strstr(err.message, "schema version 4 is newer"));
}

static void test_store_refuses_someone_elses_database(void **state) {
    make_foreign_db("CREATE TABLE accounts(id INTEGER PRIMARY KEY, name TEXT);");
    rp_store *s = NULL;
    rp_error err;
    assert_int_equal(rp_store_open(db_path, &s, &err), RP_EINVAL);
    assert_non_null(strstr(err.message, "not a rampart store"));
}

static void test_store_open_in_missing_directory_fails_cleanly(void **state) {
    rp_store *s = NULL;
    rp_error err;
    char p[160];
    snprintf(p, sizeof p, "%s/no/such/dir/x.db", dir);
    assert_int_equal(rp_store_open(p, &s, &err), RP_EIO);
    assert_null(s);
    assert_non_null(strstr(err.message, "cannot open store"));
}

static void test_store_is_in_wal_mode(void **state) {
    rp_store *s = open_store();
    rp_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 3);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ------------------------------------------------------ route knowledge */

typedef struct knowledge_seen {
    rp_route_knowledge k[8];
    int n;
} knowledge_seen;

static bool see_knowledge(void *user, const rp_route_knowledge *k) {
    knowledge_seen *seen = user;
    if (seen->n < 8) seen->k[seen->n++] = *k;
    return true;
}

static void knowledge(rp_route_knowledge *k, uint8_t method, const char *t, rp_route_class cls,
                      uint64_t requests) {
    memset(k, 0, sizeof *k);
    k->method = method;
    snprintf(k->template_, sizeof k->template_, "%s", t);
    k->cls = cls;
    k->requests = requests;
}

static void test_store_route_knowledge_round_trips_marked_routes_first(void **state) {
    rp_store *s = open_store();
    rp_route_info shown[1];
    memset(shown, 0, sizeof shown);
    snprintf(shown[0].method, sizeof shown[0].method, "GET");
    snprintf(shown[0].template_, sizeof shown[0].template_, "/users/{id}");
    shown[0].cls = RP_ROUTE_OBJECT;
    shown[0].requests = 900;
    shown[0].clients = 12;
    rp_route_knowledge k[2];
    knowledge(&k[0], RP_METHOD_GET, "/users/{id}", RP_ROUTE_OBJECT, 900);
    k[0].errors = 40;
    k[0].not_found = 30;
    k[0].successes = 860;
    k[0].flagged = 5;
    knowledge(&k[1], RP_METHOD_POST, "/account/session2", RP_ROUTE_AUTH, 3);
    k[1].declared = true;
    k[1].successes = 3;
    k[1].common_answer = 302u << 20 | 7;
    k[1].common_answer_votes = 2;
    rp_error err;
    assert_int_equal(rp_store_put_routes(s, shown, 1, k, 2, &err), RP_OK);
    rp_store_close(s);

    s = open_store();
    knowledge_seen seen = {0};
    size_t skipped = 99;
    assert_int_equal(rp_store_route_knowledge(s, see_knowledge, &seen, &skipped, &err), RP_OK);
    assert_int_equal(skipped, 0);
    assert_int_equal(seen.n, 2);
    /* the form login with its redirect mark comes first, whole */
    assert_memory_equal(&seen.k[0], &k[1], sizeof k[1]);
    assert_memory_equal(&seen.k[1], &k[0], sizeof k[0]);
    rp_store_close(s);
}

/* The schema of version 1, as rampart wrote it before route knowledge. */
static const char schema_v1[] =
    "CREATE TABLE incidents (id INTEGER PRIMARY KEY, key TEXT NOT NULL, level TEXT NOT NULL,"
    " action TEXT NOT NULL, score REAL NOT NULL, threats TEXT NOT NULL, detectors TEXT NOT NULL,"
    " route TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL,"
    " decided_at INTEGER NOT NULL, expires INTEGER, requests INTEGER NOT NULL,"
    " json TEXT NOT NULL);"
    "CREATE INDEX incidents_decided_at ON incidents(decided_at);"
    "CREATE INDEX incidents_key ON incidents(key, decided_at);"
    "CREATE INDEX incidents_action ON incidents(action, decided_at);"
    "CREATE TABLE decisions (id INTEGER PRIMARY KEY, key TEXT NOT NULL, level TEXT NOT NULL,"
    " action TEXT NOT NULL, start INTEGER NOT NULL, expires INTEGER NOT NULL,"
    " incident_id INTEGER, score REAL NOT NULL DEFAULT 0, source TEXT NOT NULL, reason TEXT,"
    " ended_at INTEGER, ended_by TEXT);"
    "CREATE INDEX decisions_active ON decisions(key) WHERE ended_at IS NULL;"
    "CREATE INDEX decisions_key ON decisions(key, start);"
    "CREATE INDEX decisions_start ON decisions(start);"
    "CREATE TABLE routes (method TEXT NOT NULL, template TEXT NOT NULL, class TEXT NOT NULL,"
    " declared INTEGER NOT NULL, requests INTEGER NOT NULL, errors INTEGER NOT NULL,"
    " flagged INTEGER NOT NULL, clients INTEGER NOT NULL,"
    " PRIMARY KEY (method, template)) WITHOUT ROWID;"
    "PRAGMA user_version = 1;";

static void test_store_migrates_a_version_1_file_keeping_its_rows(void **state) {
    make_foreign_db(schema_v1);
    make_foreign_db(
        "INSERT INTO routes VALUES('POST', '/api/session', 'auth', 0, 50, 20, 0, 4);"
        "INSERT INTO routes VALUES('', '(other)', 'other', 0, 7, 7, 0, 3);"
        "INSERT INTO decisions(key, level, action, start, expires, source)"
        " VALUES('ip:192.0.2.1', 'ip', 'block', 1764064800000000, 9999999999000000, 'manual');");
    rp_store *s = open_store();
    rp_error err;
    knowledge_seen seen = {0};
    assert_int_equal(rp_store_route_knowledge(s, see_knowledge, &seen, NULL, &err), RP_OK);
    assert_int_equal(seen.n, 1); /* "(other)" is the cap, not a route */
    assert_int_equal(seen.k[0].method, RP_METHOD_POST);
    assert_string_equal(seen.k[0].template_, "/api/session");
    assert_int_equal(seen.k[0].cls, RP_ROUTE_AUTH);
    assert_int_equal(seen.k[0].requests, 50);
    assert_int_equal(seen.k[0].errors, 20);
    assert_int_equal(seen.k[0].common_answer_votes, 0);
    assert_int_equal(active_at(s, T0).n, 1); /* the decisions are still there */
    /* and it is a current store now: knowledge can be written */
    rp_route_knowledge k;
    knowledge(&k, RP_METHOD_POST, "/api/session", RP_ROUTE_AUTH, 60);
    k.common_answer = 303u << 20;
    k.common_answer_votes = 1;
    assert_int_equal(rp_store_put_routes(s, NULL, 0, &k, 1, &err), RP_OK);
    rp_store_close(s);
    s = open_store();
    seen.n = 0;
    assert_int_equal(rp_store_route_knowledge(s, see_knowledge, &seen, NULL, &err), RP_OK);
    assert_int_equal(seen.n, 1);
    assert_int_equal(seen.k[0].common_answer, 303u << 20);
    rp_store_close(s);

    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 3); /* through 2 to 3 */
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_store_route_knowledge_skips_rows_it_cannot_read(void **state) {
    rp_store *s = open_store();
    rp_store_close(s);
    make_foreign_db(
        "INSERT INTO routes(method, template, class, declared, requests, errors, flagged, clients)"
        " VALUES('POST', '/ok', 'auth', 0, 1, 0, 0, 1),"
        "       ('FETCH', '/bad-method', 'auth', 0, 1, 0, 0, 1),"
        "       ('GET', '/bad-class', 'wizard', 0, 1, 0, 0, 1),"
        "       ('GET', '/negative', 'other', 0, -5, 0, 0, 1),"
        "       ('GET', '/text-count', 'other', 0, 'many', 0, 0, 1),"
        "       ('GET', '/' || hex(randomblob(200)), 'other', 0, 1, 0, 0, 1);"
        "UPDATE routes SET common_answer = 8589934592 WHERE template = '/ok';");
    s = open_store();
    rp_error err;
    knowledge_seen seen = {0};
    size_t skipped = 0;
    assert_int_equal(rp_store_route_knowledge(s, see_knowledge, &seen, &skipped, &err), RP_OK);
    assert_int_equal(seen.n, 0); /* "/ok" too: its mark does not fit 32 bits */
    assert_int_equal(skipped, 6);
    rp_store_close(s);
}

/* ----------------------------------------------------------- concurrency */

typedef struct reader_job {
    rp_store *s;
    _Atomic int queries, errors;
    _Atomic int stop;
} reader_job;

static void *reader_main(void *arg) {
    reader_job *job = arg;
    while (!job->stop) {
        char *text = NULL;
        rp_error err;
        rp_incident_query q = {.limit = 20};
        if (rp_store_query_incidents(job->s, &q, &text, &err) != RP_OK) job->errors++;
        free(text);
        if (rp_store_query_decisions(job->s, NULL, true, T0, 20, 0, &text, &err) != RP_OK)
            job->errors++;
        free(text);
        job->queries++;
    }
    return NULL;
}

static void test_store_reader_queries_while_writer_writes(void **state) {
    rp_store *s = open_store();
    reader_job job = {.s = s};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &job), 0);
    rp_incident inc;
    rp_decision d;
    char ip[32];
    rp_error err;
    for (int i = 1; i <= 300; i++) {
        snprintf(ip, sizeof ip, "10.2.%d.%d", i / 256, i % 256);
        make_incident(&inc, (uint64_t)i, ip, RP_ACTION_BLOCK, "rate", RP_THREAT_FLOOD, "GET /",
                      T0 + i * SEC);
        make_decision(&d, ip, RP_ACTION_BLOCK, T0, 600 * SEC, (uint64_t)i);
        if (i % 10 == 0) assert_int_equal(rp_store_begin(s, &err), RP_OK);
        assert_int_equal(rp_store_put_incident(s, &inc, &err), RP_OK);
        assert_int_equal(rp_store_put_decision(s, &d, "engine", NULL, &err), RP_OK);
        if (i % 10 == 0) assert_int_equal(rp_store_commit(s, &err), RP_OK);
    }
    while (job.queries < 20) usleep(1000);
    job.stop = 1;
    pthread_join(th, NULL);
    assert_int_equal(job.errors, 0);
    rp_incident_query q = {0};
    assert_int_equal(count_where(s, &q), 300);
    rp_store_close(s);
}

static void test_store_quick_check_passes_on_a_healthy_store(void **state) {
    rp_store *s = open_store();
    rp_decision d;
    make_decision(&d, "198.51.100.7", RP_ACTION_BLOCK, T0, 3600 * SEC, 1);
    put_decision(s, &d, "manual");
    rp_error err;
    assert_int_equal(rp_store_quick_check(s, &err), RP_OK);
    rp_store_close(s);
}

/* Garbage over pages in the middle of the file: SQLite still opens it
 * (the header and schema are intact), quick_check is what finds it. */
static void test_store_quick_check_finds_garbage_written_mid_file(void **state) {
    rp_store *s = open_store();
    char reason[401];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = 0;
    rp_error err;
    for (int i = 0; i < 150; i++) {
        rp_decision d;
        char ip[32];
        snprintf(ip, sizeof ip, "10.9.%d.%d", i / 200, i % 200);
        make_decision(&d, ip, RP_ACTION_BLOCK, T0, 3600 * SEC, 0);
        assert_int_equal(rp_store_put_decision(s, &d, "manual", reason, &err), RP_OK);
    }
    rp_store_close(s); /* checkpoints the WAL into the file */
    FILE *f = fopen(db_path, "r+b");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long pages = ftell(f) / 4096;
    assert_true(pages >= 10);
    unsigned char junk[8192];
    for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 131 + 7);
    fseek(f, (pages / 2) * 4096, SEEK_SET);
    assert_int_equal(fwrite(junk, 1, sizeof junk, f), sizeof junk);
    fclose(f);
    rp_status st = rp_store_open(db_path, &s, &err);
    if (st == RP_OK) {
        st = rp_store_quick_check(s, &err);
        rp_store_close(s);
    }
    assert_int_equal(st, RP_EPARSE);
    assert_string_equal(err.file, db_path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_store_put_incident_is_returned_as_analyze_json),
        T(test_store_put_incident_twice_updates_by_id),
        T(test_store_query_incidents_applies_each_filter),
        T(test_store_query_incidents_pages_newest_first_with_total),
        T(test_store_top_clients_ranks_each_keys_worst_incident),
        T(test_store_incidents_by_key_gives_one_row_per_actor_with_evidence),
        T(test_store_decision_notes_give_the_active_decisions_reason),
        T(test_store_max_incident_id_is_highest_stored),
        T(test_store_decision_for_same_key_replaces_active_one),
        T(test_store_remove_decision_ends_it_and_keeps_history),
        T(test_store_active_decisions_are_those_unexpired_at_the_time),
        T(test_store_batch_commits_every_write_at_once),
        T(test_store_put_routes_replaces_the_inventory),
        T(test_store_route_knowledge_round_trips_marked_routes_first),
        T(test_store_migrates_a_version_1_file_keeping_its_rows),
        T(test_store_route_knowledge_skips_rows_it_cannot_read),
        T(test_store_prune_deletes_by_retention_only),
        T(test_store_reopen_finds_everything),
        T(test_store_kill9_loses_no_committed_decision),
        T(test_store_refuses_a_file_that_is_not_a_database),
        T(test_store_refuses_a_newer_schema),
        T(test_store_refuses_someone_elses_database),
        T(test_store_open_in_missing_directory_fails_cleanly),
        T(test_store_is_in_wal_mode),
        T(test_store_reader_queries_while_writer_writes),
        T(test_store_quick_check_passes_on_a_healthy_store),
        T(test_store_quick_check_finds_garbage_written_mid_file),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
