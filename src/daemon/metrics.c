/*
 * metrics.c -- the daemon's counters as an operator reads them: GET
 * /v1/stats (JSON, for the dashboard's overview) and GET /metrics
 * (Prometheus text format). Both read the same counters of struct
 * rp_daemon (atomics, bumped by the engine, store and input threads) and
 * take the engine and table locks only for the moment a snapshot of the
 * engine's or the table's own statistics needs; docs/api.md lists every
 * metric.
 */
#include <stdio.h>
#include <string.h>

#include "daemon_int.h"

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
    rp_daemon_lock_table(d);
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
        for (int r = 1; r < RP_REFUSE_REASON_COUNT; r++) bad += is.refused[r];
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
        for (int r = 1; r < RP_REFUSE_REASON_COUNT; r++)
            if (is.refused[r])
                fprintf(f, "rampart_events_dropped_total{input=\"%s\",reason=\"refused_%s\"} %llu\n",
                        name, rp_refuse_reason_name((rp_refuse_reason)r),
                        (unsigned long long)is.refused[r]);
    }
    metric_head(f, "rampart_engine_events_total", "counter", "Events fed to the engine.");
    fprintf(f, "rampart_engine_events_total %llu\n", (unsigned long long)es.events);
    metric_head(f, "rampart_events_refused_total", "counter",
                "Events whose answer Rampart made itself (the module's or /v1/check's 403/429): "
                "counted as requests, judged by no detector.");
    fprintf(f, "rampart_events_refused_total %llu\n", (unsigned long long)es.refused);
    metric_head(f, "rampart_requests_refused_total", "counter",
                "Requests refused by nginx or /v1/check (the refused events), by the action and "
                "the detector of the decision in force for the request at its time: the "
                "incident's main detector, manual, or unknown (an incident this daemon did not "
                "see); action unknown: no decision found (fail closed, or removed since).");
    static const char *const refused_actions[3] = {"unknown", "throttle", "block"};
    for (int a = 1; a <= 2; a++) {
        for (unsigned i = 0; i < rp_detector_count; i++)
            fprintf(f, "rampart_requests_refused_total{action=\"%s\",detector=\"%s\"} %llu\n",
                    refused_actions[a], rp_detectors[i]->name,
                    (unsigned long long)atomic_load(&d->refused_by[a][i]));
        fprintf(f, "rampart_requests_refused_total{action=\"%s\",detector=\"manual\"} %llu\n",
                refused_actions[a],
                (unsigned long long)atomic_load(&d->refused_by[a][RP_REFUSED_MANUAL]));
        fprintf(f, "rampart_requests_refused_total{action=\"%s\",detector=\"unknown\"} %llu\n",
                refused_actions[a],
                (unsigned long long)atomic_load(&d->refused_by[a][RP_REFUSED_UNKNOWN]));
    }
    fprintf(f, "rampart_requests_refused_total{action=\"unknown\",detector=\"unknown\"} %llu\n",
            (unsigned long long)atomic_load(&d->refused_by[0][RP_REFUSED_UNKNOWN]));
    metric_head(f, "rampart_engine_lag_seconds", "gauge",
                "Wall clock minus the time of the newest event seen by the engine.");
    int64_t newest = atomic_load(&d->newest_event_us);
    fprintf(f, "rampart_engine_lag_seconds %.3f\n", newest ? (double)(now - newest) / 1e6 : 0.0);
    metric_head(f, "rampart_events_time_bounded_total", "counter",
                "Events whose time was out of the daemon's bounds, by reason: future (more than "
                "1 h ahead: clamped to now), backfill (more than 1 h old: fed as they are, left "
                "out of the lag).");
    fprintf(f, "rampart_events_time_bounded_total{reason=\"future\"} %llu\n",
            (unsigned long long)atomic_load(&d->events_clamped_future));
    fprintf(f, "rampart_events_time_bounded_total{reason=\"backfill\"} %llu\n",
            (unsigned long long)atomic_load(&d->events_backfill));
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
    rp_daemon_lock_table(d);
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
    rp_cluster_metrics(d->cluster, f); /* fleet mode only */
    rp_fleet_metrics(d->fleet, f);
    rp_webhooks_metrics(d->webhooks, f); /* rampart_webhook_* */
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
    metric_head(f, "rampart_store_retries_total", "counter",
                "Decision writes the store refused (a full disk) and the store thread retried.");
    fprintf(f, "rampart_store_retries_total %llu\n", (unsigned long long)atomic_load(&d->store_retries));
    metric_head(f, "rampart_decision_table_rebuilds_total", "counter",
                "Decision table files found truncated or replaced under the daemon and rebuilt.");
    fprintf(f, "rampart_decision_table_rebuilds_total %llu\n",
            (unsigned long long)atomic_load(&d->table_rebuilds));
    metric_head(f, "rampart_store_dropped_total", "counter",
                "Store writes dropped because the store queue was full.");
    fprintf(f, "rampart_store_dropped_total %llu\n", (unsigned long long)atomic_load(&d->store_dropped));
    metric_head(f, "rampart_reloads_total", "counter", "Configuration reloads, by result.");
    fprintf(f, "rampart_reloads_total{result=\"ok\"} %llu\n", (unsigned long long)atomic_load(&d->reloads));
    fprintf(f, "rampart_reloads_total{result=\"rejected\"} %llu\n",
            (unsigned long long)atomic_load(&d->reload_failures));
    metric_head(f, "rampart_model_trainings_total", "counter",
                "Feature models of the anomaly detector trained off the engine thread and "
                "swapped in.");
    fprintf(f, "rampart_model_trainings_total %llu\n",
            (unsigned long long)atomic_load(&d->model_trainings));
    metric_head(f, "rampart_model_training_seconds_total", "counter",
                "Time spent training them (not on the engine thread).");
    fprintf(f, "rampart_model_training_seconds_total %.6f\n",
            (double)atomic_load(&d->model_training_us) / 1e6);
}

