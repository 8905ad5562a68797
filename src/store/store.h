/*
 * store.h -- persistence in SQLite (WAL): incidents with their evidence,
 * decisions (active and history), and the learned route inventory.
 *
 * One rp_store holds two connections: a writer used by the daemon's store
 * thread (batched transactions) and a reader for the admin API, each
 * behind its own mutex; WAL lets the reader run while the writer writes.
 * Every write is committed before the call returns (or before
 * rp_store_commit for batches), so `kill -9` loses nothing that was
 * committed.
 *
 * Schema versioned with PRAGMA user_version; an older file is migrated,
 * a newer one refused with a clear message.
 */
#ifndef RP_STORE_H
#define RP_STORE_H

#include "rampart.h"

typedef struct rp_store rp_store;

/* Shared output formatting (incident_json.c): used by the store, the
 * admin API and `rampart analyze`, so all three speak one schema. */
void rp_format_time(int64_t ts_us, char *buf, size_t size); /* ISO 8601 UTC, ms */
char *rp_incident_to_json(const rp_incident *inc);          /* malloc'd, one line */

/* Fleet mode (docs/cluster.md, "Fleet view"): who decided an incident and
 * which hosts saw its requests, as names (the daemon's host ids resolved).
 * The JSON then also has "node" (the node whose engine decided),
 * "node_incident_id" (the incident's id there), "hosts" (the hosts that
 * saw the key's requests), "hosts_more" (more were seen than listed) and
 * each sample's "host" (null when unknown). */
#define RP_FLEET_MAX_HOSTS 12
typedef struct rp_incident_fleet {
    const char *node;
    const char *sample_host[RP_MAX_SAMPLES];
    const char *hosts[RP_FLEET_MAX_HOSTS];
    unsigned n_hosts;
    bool more_hosts;
} rp_incident_fleet;
/* fleet NULL: rp_incident_to_json. */
char *rp_incident_to_json_fleet(const rp_incident *inc, const rp_incident_fleet *fleet);

/* Incidents mirrored from another node get ids from here on in this
 * store (below it are this node's own engine's ids): JSON-safe (< 2^53),
 * and never reached by an engine's sequence. */
#define RP_STORE_FLEET_ID_BASE 1099511627776LL /* 2^40 */
/* The largest published incident JSON the store takes from the fleet. */
#define RP_STORE_REMOTE_JSON_MAX 65536

rp_status rp_store_open(const char *path, rp_store **out, rp_error *err);
void rp_store_close(rp_store *s);
/* SQLite's PRAGMA quick_check (O(pages), no index cross-check): RP_OK
 * when it says "ok"; RP_EPARSE with its first problems in err when the
 * file is damaged (a page overwritten mid-file opens fine and fails
 * here); another code when the check itself could not run. */
rp_status rp_store_quick_check(rp_store *s, rp_error *err);

/* Batching: begin/commit around several writes from one thread. Writes
 * outside a batch commit on their own. */
rp_status rp_store_begin(rp_store *s, rp_error *err);
rp_status rp_store_commit(rp_store *s, rp_error *err);

/* Insert or update by id (an incident is updated as it escalates and when
 * flushed). The whole incident is kept as JSON, plus indexed columns. */
rp_status rp_store_put_incident(rp_store *s, const rp_incident *inc, rp_error *err);
/* The same with the fleet's annotation (fleet may be NULL): the columns
 * node, node_incident and hosts, and the fields of rp_incident_to_json_fleet. */
rp_status rp_store_put_incident_fleet(rp_store *s, const rp_incident *inc,
                                      const rp_incident_fleet *fleet, rp_error *err);
/* An incident another node published (its JSON, hostile input: bounded
 * by RP_STORE_REMOTE_JSON_MAX, every field checked), kept once per
 * (node, node_incident_id): the first time under a new local id from
 * RP_STORE_FLEET_ID_BASE on, written into the JSON's "id"; later
 * versions (the same incident updated) replace it under the same id.
 * node is the publisher's name as the stream entry gave it (validated by
 * the caller); the JSON must say the same. *changed (may be NULL): the
 * row was written (false when it held this JSON already). RP_EPARSE with
 * the reason in err for a JSON that is refused. */
rp_status rp_store_put_remote_incident(rp_store *s, const char *node, const char *json,
                                       size_t len, bool *changed, rp_error *err);
/* The incident a fleet decision refers to: the newest of key (key text)
 * whose id on the node that decided is node_incident. *id is its id in
 * this store, node its decider's name; RP_ENOENT when none is here (yet). */
rp_status rp_store_incident_ref(rp_store *s, const char *key, uint64_t node_incident,
                                uint64_t *id, char *node, size_t node_size, rp_error *err);
/* Record a decision. source: "engine" or "manual"; reason: free text
 * (may be NULL). A decision for a key replaces the active one. */
rp_status rp_store_put_decision(rp_store *s, const rp_decision *d, const char *source,
                                const char *reason, rp_error *err);
/* End the active decision of key now (kept in history). RP_ENOENT when
 * there is none. */
rp_status rp_store_remove_decision(rp_store *s, const rp_key *key, int64_t now_us, const char *by,
                                   rp_error *err);
/* Visit the decisions still active at now_us (restart restores them). */
rp_status rp_store_active_decisions(rp_store *s, int64_t now_us,
                                    void (*fn)(void *user, const rp_decision *d), void *user,
                                    rp_error *err);
/* Replace the stored inventory: the routes as shown (routes[n]), and what
 * the engine knows about them (knowledge[n_knowledge], matched to them by
 * method and template; may be NULL), in one transaction. */
rp_status rp_store_put_routes(rp_store *s, const rp_route_info *routes, size_t n,
                              const rp_route_knowledge *knowledge, size_t n_knowledge,
                              rp_error *err);
/* Visit the stored route knowledge for a restart to restore: routes with
 * a form login's redirect mark first, then declared ones, then the
 * busiest (so that the ones that matter fit a smaller cap); stop when fn
 * returns false. A file from before version 2 gives its class in force
 * and counters, no mark. Rows that cannot be read back (unknown method or
 * class, template too long, negative numbers) are skipped and counted in
 * *skipped (may be NULL); the engine checks the rest. */
rp_status rp_store_route_knowledge(rp_store *s,
                                   bool (*fn)(void *user, const rp_route_knowledge *route),
                                   void *user, size_t *skipped, rp_error *err);

typedef struct rp_incident_query {
    int64_t since_us, until_us; /* 0 = unbounded */
    const char *detector;       /* NULL = any */
    rp_action action;           /* RP_ACTION_NONE = any */
    const char *route;          /* substring of the route; NULL = any */
    const char *key;            /* exact key text ("ip:1.2.3.4"); NULL = any */
    const char *threat;         /* threat name; NULL = any */
    int limit, offset;          /* limit 0 = 100; capped at 1000 */
    bool ascending;             /* default newest first */
    bool by_key;                /* one row per key (actor), see below */
} rp_incident_query;

/* JSON text {"total":N,"incidents":[...]} (malloc'd) -- each incident in
 * the schema of docs/analyze.md; a finding charged with a swarm's score
 * also names the swarm's key as "via" (parsed from its summary). */
/* With by_key, the incidents that pass the filters are grouped by key
 * (in SQL): one row per actor, its strongest incident (action, then the
 * newest) plus "incidents" (how many it had), "latest_decided_at" (its
 * newest; rows are ordered by it), "evidence" (the summary of the
 * strongest incident's finding with the most points) and
 * "requests_after_stop" (requests it sent after its first throttle or
 * block, as of its newest stored incident: a lower bound; null when it
 * was never stopped); "total" counts keys. */
rp_status rp_store_query_incidents(rp_store *s, const rp_incident_query *q, char **json,
                                   rp_error *err);
/* The source and reason of each decision active at now_us, for one key
 * (key text) or all (NULL): what the decision table does not keep.
 * fn(user, key, source, reason); reason may be NULL. */
rp_status rp_store_decision_notes(rp_store *s, const char *key, int64_t now_us,
                                  void (*fn)(void *user, const char *key, const char *source,
                                             const char *reason),
                                  void *user, rp_error *err);
/* JSON {"total":N,"decisions":[...]} of history for a key or all
 * (key NULL), newest first. */
rp_status rp_store_query_decisions(rp_store *s, const char *key, bool active_only, int64_t now_us,
                                   int limit, int offset, char **json, rp_error *err);
/* One incident by id, as JSON text (malloc'd); RP_ENOENT when none. */
rp_status rp_store_get_incident(rp_store *s, uint64_t id, char **json, rp_error *err);
/* Incidents of aggregate keys (every level but ip: the swarms), newest
 * first, at most limit (capped at 1000): {"total": N, "incidents": [...]}. */
rp_status rp_store_query_swarm_incidents(rp_store *s, int limit, char **json, rp_error *err);
/* The worst incident of each key decided since since_us, worst first
 * (action, then score), at most limit keys (capped at 1000):
 * {"total": N, "incidents": [...]}. The dashboard's top clients. */
rp_status rp_store_top_clients(rp_store *s, int64_t since_us, int limit, char **json,
                               rp_error *err);
/* The highest incident id stored (0 when none). Engine ids restart at 1
 * with the process: the daemon offsets them by this so that a restart
 * does not overwrite older incidents. */
rp_status rp_store_max_incident_id(rp_store *s, uint64_t *out, rp_error *err);
/* Delete incidents older than keep_incidents_us and ended decisions
 * older than keep_decisions_us (0 = keep forever). */
rp_status rp_store_prune(rp_store *s, int64_t now_us, int64_t keep_incidents_us,
                         int64_t keep_decisions_us, rp_error *err);

#endif
