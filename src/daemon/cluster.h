/*
 * cluster.h -- fleet mode on Redis, as the rest of the daemon sees it
 * (docs/cluster.md). A daemon in the edge or detector role owns one
 * rp_cluster; a standalone daemon has none (NULL), and every function
 * here takes NULL and does nothing, so the hooks in daemon.c and
 * decisions.c are one line each and standalone behaves as before.
 *
 * Two phases, because the engine thread must know its role before it
 * starts and the cluster's threads need the queue and the table:
 *   rp_cluster_new   before the engine thread: the config, no I/O;
 *   rp_cluster_run   after it: connect, load the fleet's active
 *                    decisions into the table (before the daemon reports
 *                    ready), start the threads.
 * No Redis call is ever made on the engine thread or an API thread:
 * they hand decisions to rp_cluster_publish, which queues them.
 */
#ifndef RP_CLUSTER_H
#define RP_CLUSTER_H

#include <stdbool.h>
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

/* The edge role: the forwarder, not the engine, consumes the queue --
 * except while Redis is unreachable on an edge with
 * cluster.local_detection, when this says false and the engine thread
 * analyses the events itself. Called by the engine thread only (it is
 * the queue's hand-over between the two consumers). */
bool rp_cluster_forwards_events(rp_cluster *c);

/* A decision made here (the engine's, on the wall clock, or the API's)
 * or a removal, for the fleet: queued, written by the publisher thread. */
void rp_cluster_publish(rp_cluster *c, const rp_decision *dec);
void rp_cluster_publish_removal(rp_cluster *c, const rp_key *key);

/* The fleet view (cluster_incidents.c, docs/cluster.md#fleet-view).
 * This node's name (cluster.node or the hostname); NULL when standalone. */
const char *rp_cluster_node(const rp_cluster *c);
/* The name of a host id (rp_event.origin); NULL when unknown. */
const char *rp_cluster_host_name(rp_cluster *c, uint8_t id);
/* The engine thread, each event fed: the hosts each key comes through. */
void rp_cluster_note_event(rp_cluster *c, const rp_event *ev);
/* The engine's incident (engine thread): the hosts that saw its key's
 * requests into *set, and the incident queued for the fleet. */
void rp_cluster_incident(rp_cluster *c, const rp_incident *inc, rp_host_set *set);
/* The names of an incident's node and hosts, for its JSON (any thread). */
void rp_cluster_incident_names(rp_cluster *c, const rp_incident *inc, const rp_host_set *set,
                               rp_incident_fleet *out);

/* Prometheus lines for /metrics. */
void rp_cluster_metrics(rp_cluster *c, FILE *f);

#endif
