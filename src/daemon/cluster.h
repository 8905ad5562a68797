/*
 * cluster.h -- fleet mode on Redis, as the rest of the daemon sees it
 * (docs/cluster.md). A daemon in the edge or detector role owns one
 * rp_cluster; a standalone daemon has none (NULL), and every function
 * here takes NULL and does nothing, so the hooks in daemon.c and
 * decisions.c are one line each and standalone behaves as before.
 *
 * Two phases, because the engine thread must know its role before it
 * starts and the cluster's threads need the queue and the table:
 *   rp_cluster_new   before the engine thread: the config, no network
 *                    I/O; the files beside the store (the unpublished
 *                    manual decisions read back into the queue, the
 *                    edge's spool directory made);
 *   rp_cluster_run   after it: connect, load the fleet's active
 *                    decisions into the table (before the daemon reports
 *                    ready), start the threads.
 * No Redis call is ever made on the engine thread or an API thread:
 * they hand decisions to rp_cluster_publish, which queues them.
 */
#ifndef RP_CLUSTER_H
#define RP_CLUSTER_H

#include <stdbool.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "hosts.h"
#include "rampart.h"
#include "store.h"

typedef struct rp_daemon rp_daemon;
typedef struct rp_cluster rp_cluster;

/* *out stays NULL for the standalone role. */
rp_status rp_cluster_new(rp_daemon *d, const rp_cluster_config *config, rp_cluster **out,
                         rp_error *err);
/* Redis unreachable at start is not an error: the daemon serves with
 * what its store restored and the threads connect when Redis comes. */
rp_status rp_cluster_run(rp_cluster *c, rp_error *err);
/* Joins the threads (at most one blocking read, 500 ms) and frees. */
void rp_cluster_stop(rp_cluster *c);

/* A detector of a partitioned fleet (docs/cluster.md, "The witness across
 * partitions"), for the engine's callbacks of the same names, on the
 * engine thread: note what an aggregate this engine counts may charge a
 * member with (published when it matters, by the witness thread), and
 * look up what the engines counting key published (the detector names
 * stay valid until the next lookup). Nothing otherwise. */
void rp_cluster_witness_note(rp_cluster *c, const rp_key *key, const char *detector,
                             double charge);
unsigned rp_cluster_witness_lookup(rp_cluster *c, const rp_key *key, rp_witness *out,
                                   unsigned max);

/* The edge role: the forwarder, not the engine, consumes the queue --
 * except while Redis is unreachable on an edge with
 * cluster.local_detection, when this says false and the engine thread
 * analyses the events itself. Called by the engine thread only (it is
 * the queue's hand-over between the two consumers). */
bool rp_cluster_forwards_events(rp_cluster *c);

/* A decision made here (the engine's, on the wall clock, or the API's)
 * or a removal, for the fleet: queued, written by the publisher thread. */
void rp_cluster_publish(rp_cluster *c, const rp_decision *dec);
/* An operator's decision, or removal (at removed_us), made here: also kept
 * in <store>.unpublished until Redis acknowledges it, so a restart during
 * an outage does not lose it (docs/cluster.md#redis-unreachable-what-an-edge-does). */
void rp_cluster_publish_manual(rp_cluster *c, const rp_decision *dec);
void rp_cluster_publish_removal(rp_cluster *c, const rp_key *key, int64_t removed_us);

/* The fleet view (cluster_incidents.c, docs/cluster.md#fleet-view).
 * This node's name (cluster.node or the hostname); NULL when standalone. */
const char *rp_cluster_node(const rp_cluster *c);
/* The name of a host id (rp_event.origin); NULL when unknown. */
const char *rp_cluster_host_name(rp_cluster *c, uint8_t id);
/* The engine thread, each event fed: the hosts each key comes through. */
void rp_cluster_note_event(rp_cluster *c, const rp_event *ev);
/* A hint for an event to be noted two events from now (rp_engine_prefetch). */
void rp_cluster_prefetch_event(rp_cluster *c, const rp_event *ev);
/* The engine's incident (engine thread): the hosts that saw its key's
 * requests into *set, and the incident queued for the fleet. */
void rp_cluster_incident(rp_cluster *c, const rp_incident *inc, rp_host_set *set);
/* The names of an incident's node and hosts, for its JSON (any thread). */
void rp_cluster_incident_names(rp_cluster *c, const rp_incident *inc, const rp_host_set *set,
                               rp_incident_fleet *out);

/* Prometheus lines for /metrics. */
void rp_cluster_metrics(rp_cluster *c, FILE *f);

/* ------------------------------------------------ configuration as code
 * cluster_config.c (docs/cluster.md#configuration-as-code): the fleet's
 * YAML in one Redis hash (cluster.config_key), pushed by `rampart cluster
 * push-config`, watched by every node and applied through the reload
 * path, merged with the node's own file (rp_config_merge_fleet). */
typedef struct rp_fleet rp_fleet;

/* A fleet text is at most this long: a policy is kilobytes, and a node
 * must never pull a hand-written 512 MB value into memory. */
#define RP_FLEET_CONFIG_MAX (1u << 20)

/* One version of the fleet's configuration. */
typedef struct rp_fleet_version {
    uint64_t version;  /* monotonic, given by the push (0 = none) */
    char sha256[65];   /* of yaml, lowercase hex, as sha256sum prints it */
    char by[64];       /* who pushed it (user@host), printable */
    int64_t at_ms;     /* when, wall clock */
    char *yaml;        /* owned by the holder */
    size_t len;
} rp_fleet_version;

/* Whether a version read from Redis may be applied over the one applied
 * (applied->version 0: none). Pure, for the tests. */
typedef enum rp_fleet_verdict {
    RP_FLEET_APPLY,     /* newer: validate and apply */
    RP_FLEET_CURRENT,   /* the one applied: nothing to do */
    RP_FLEET_OLDER,     /* a version going backwards: refused */
    RP_FLEET_CONFLICT,  /* the applied version number with another text: refused */
    RP_FLEET_TOO_LARGE, /* past RP_FLEET_CONFIG_MAX: refused without reading it */
} rp_fleet_verdict;
/* A fleet text read as the nodes read it (rp_config_parse_fleet, then the
 * OpenAPI document it names, resolved against base's directory). */
rp_status rp_fleet_load_text(const char *text, size_t len, const char *name, const char *base,
                             rp_config **out, rp_error *err);

rp_fleet_verdict rp_fleet_judge(uint64_t applied, const char *applied_sha, uint64_t version,
                                const char *sha, uint64_t len);

/* Start-up, before the engine exists (daemon.c): in fleet mode, the
 * fleet's current version -- or, Redis unreachable or its version
 * refused, the last one this node applied (<store>.fleet) -- merged into
 * *config, so a node starts with the fleet's configuration before it
 * reports ready. *out is NULL for a standalone node. Fails only as the
 * cluster itself would (an unreadable password file). */
rp_status rp_fleet_start(rp_daemon *d, const char *node_path, const char *store_path,
                         rp_config **config, rp_fleet **out, rp_error *err);
/* The watcher thread (after rp_cluster_run), its stop (before
 * rp_cluster_stop) and the last free. All take NULL. */
rp_status rp_fleet_run(rp_fleet *f, rp_cluster *c, rp_error *err);
void rp_fleet_stop(rp_fleet *f);
void rp_fleet_free(rp_fleet *f);
/* The reload path (rp_daemon_reload_fleet): held around a reload, so a
 * SIGHUP and a fleet version never interleave. */
void rp_fleet_lock(rp_fleet *f);
void rp_fleet_unlock(rp_fleet *f);
/* *config (the node's file, just read) merged with candidate, or with
 * the version applied when candidate is NULL; unchanged when there is
 * neither. Errors are the fleet text's, file:line:col. */
rp_status rp_fleet_merge(rp_fleet *f, const char *node_path, const rp_fleet_version *candidate,
                         rp_config **config, rp_error *err);
/* After a reload with candidate succeeded: it is the version applied
 * (kept beside the store, reported to the fleet). */
void rp_fleet_set_applied(rp_fleet *f, const rp_fleet_version *candidate);
uint64_t rp_fleet_applied_version(rp_fleet *f);
/* {"version","sha256","by","at","applied_at","key","refused","error"} or
 * JSON null (standalone, nothing applied yet: "version" 0). */
json_t *rp_fleet_json(rp_fleet *f);
void rp_fleet_metrics(rp_fleet *f, FILE *out);

/* The CLI (`rampart cluster`), through the node's cluster keys. */
typedef enum rp_fleet_push_outcome {
    RP_FLEET_PUSHED,    /* a new version */
    RP_FLEET_UNCHANGED, /* the same text is the current version */
    RP_FLEET_RACED,     /* --if-version did not match the current version */
} rp_fleet_push_outcome;
rp_status rp_fleet_push(const rp_cluster_config *node, const char *yaml, size_t len,
                        const char *by, uint64_t if_version, rp_fleet_push_outcome *outcome,
                        uint64_t *version, rp_error *err);
/* The current version (its text when with_yaml) and every node's report. */
rp_status rp_fleet_status(const rp_cluster_config *node, bool with_yaml, json_t **out,
                          rp_error *err);

#endif
