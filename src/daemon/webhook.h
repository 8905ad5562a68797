/*
 * webhook.h -- alerts on decisions: a JSON document POSTed to each
 * configured URL (`alerts.webhooks`, docs/alerts.md) when a block or a
 * throttle passes its filter.
 *
 * The daemon hands a decision over with rp_webhooks_notify: a filter, a
 * copy into a bounded queue, a wake-up -- no I/O, no wait, whatever the
 * receivers do. One thread of its own delivers with libcurl's multi
 * interface: each webhook has at most `connections` attempts in flight,
 * each bounded by its `timeout`, so a receiver that hangs holds its own
 * slots and nobody else's. A failed attempt (no connection, a timeout, a
 * 5xx, 408 or 429) is retried after backoff, 2 x backoff, 4 x ... up to
 * max_backoff, `retries` times; any other answer than 2xx is final. When
 * the queue is full the oldest waiting delivery is dropped for the new
 * one (counted): the newest decisions are the ones an operator acts on,
 * and the oldest are the likeliest to be stuck on a dead receiver.
 */
#ifndef RP_WEBHOOK_H
#define RP_WEBHOOK_H

#include <stdio.h>

#include "config.h"
#include "rampart.h"

/* What a document says about a decision; filled by the daemon from the
 * decision and its incident (fixed size: the queue copies it). */
#define RP_ALERT_MAX_FINDINGS 6
typedef struct rp_alert {
    rp_key key;
    rp_action action;
    bool manual;
    double score; /* engine decisions: 0..100 */
    uint64_t incident_id; /* 0 for manual ones */
    int64_t decided_us, expires_us; /* wall clock */
    char reason[128]; /* manual: the operator's reason */
    char route[272];
    char user_agent[128];
    char profile[32];
    uint8_t n_findings; /* strongest first */
    struct {
        const char *detector; /* static name */
        double score;         /* 0..1 */
        char summary[RP_SUMMARY_LEN];
    } findings[RP_ALERT_MAX_FINDINGS];
    uint8_t n_samples;
    char samples[RP_MAX_SAMPLES][96]; /* "GET /.env 404" */
} rp_alert;

/* The alert of an incident (findings, samples, route...); the caller
 * sets the wall-clock times. */
void rp_alert_from_incident(rp_alert *a, const rp_incident *inc);

/* Does webhook wh want this alert? (reactions, min_score, detectors;
 * manual decisions: manual and reactions only) */
bool rp_webhook_matches(const rp_webhook_config *wh, const rp_alert *a);

/* The document as POSTed (malloc'd, compact JSON, NUL-terminated).
 * base: the dashboard's URL ("https://rampart.example.com", no
 * trailing slash needed); node: this daemon's name. */
char *rp_webhook_document(const rp_alert *a, const char *base, const char *node);

typedef struct rp_webhooks rp_webhooks;
typedef struct rp_webhook_targets rp_webhook_targets;

/* Everything a configuration needs from the disk (header_files), read
 * once: prepared before a reload is accepted, so a missing file rejects
 * the reload and leaves the webhooks in force. */
rp_status rp_webhook_targets_prepare(const rp_alerts_config *cfg, rp_webhook_targets **out,
                                     rp_error *err);
void rp_webhook_targets_free(rp_webhook_targets *t);

/* log: where failures are told (rp_log's signature), user its first
 * argument. With run false no thread starts and nothing is sent: the
 * queue fills (unit tests). Takes the targets. */
typedef void (*rp_webhook_log_fn)(void *user, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
rp_status rp_webhooks_start(rp_webhook_targets *targets, rp_webhook_log_fn log, void *log_user,
                            bool run, rp_webhooks **out, rp_error *err);
/* A new configuration (a reload); takes the targets. Deliveries still
 * waiting for a webhook that keeps its name and URL stay; the others are
 * dropped (reason "reload"). */
void rp_webhooks_apply(rp_webhooks *w, rp_webhook_targets *targets);
/* The dashboard's base when alerts.public_url is "" (the admin URL). */
void rp_webhooks_set_default_base(rp_webhooks *w, const char *base);
/* Queue the decision for every webhook that wants it. Never blocks
 * beyond a short mutex; false when no webhook wanted it. */
bool rp_webhooks_notify(rp_webhooks *w, const rp_alert *a);
/* Waits at most grace_ms for the queue to empty, then drops the rest
 * (reason "stopping", logged) and stops the thread. */
void rp_webhooks_stop(rp_webhooks *w, int grace_ms);

typedef struct rp_webhooks_stats {
    size_t depth, capacity;
    uint64_t dropped_queue_full; /* all webhooks */
} rp_webhooks_stats;
void rp_webhooks_get_stats(rp_webhooks *w, rp_webhooks_stats *s);
/* The incident ids of the waiting deliveries, oldest first (tests). */
size_t rp_webhooks_queued(rp_webhooks *w, uint64_t *ids, size_t max);
/* rampart_webhook_* in the Prometheus text format. */
void rp_webhooks_metrics(rp_webhooks *w, FILE *f);

#endif
