/*
 * webhook.c -- alerts on decisions, POSTed to webhooks (webhook.h says
 * what is sent when; docs/alerts.md is the operator's side).
 *
 * One mutex guards the queue, the targets and their counters. The
 * daemon's threads take it in rp_webhooks_notify for a filter and a copy
 * (microseconds); the delivery thread takes it to pick the attempts that
 * are due and to book their results, never across a network call: all
 * I/O happens in curl_multi_perform and curl_multi_poll, outside it. A
 * delivery is one (document, webhook) pair; a document is shared by the
 * deliveries of one decision and built to JSON once, the first time one
 * of them is attempted.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load.h"  /* rp_read_file */
#include "rampart.h"
#include "store.h" /* rp_format_time */
#include "detector.h" /* rp_detector_find */
#include "webhook.h"

/* The thread looks at its queue at least this often (a retry due, a
 * stop asked); a new delivery wakes it at once. */
#define POLL_MS 200
/* At most one failure line per webhook in this long. */
#define LOG_EVERY_US (60 * 1000000LL)

typedef enum fail_reason { FAIL_STATUS, FAIL_TIMEOUT, FAIL_CONNECT, FAIL_OTHER, FAIL_COUNT } fail_reason;
static const char *const fail_names[FAIL_COUNT] = {"status", "timeout", "connect", "other"};

typedef enum drop_reason {
    DROP_QUEUE_FULL, /* the oldest waiting delivery, pushed out by a new one */
    DROP_GAVE_UP,    /* retries exhausted */
    DROP_REJECTED,   /* an answer that no retry changes (a 4xx, a redirect) */
    DROP_RELOAD,     /* its webhook is gone from the configuration */
    DROP_STOPPING,   /* still waiting when the daemon stopped */
    DROP_NO_MEMORY,
    DROP_COUNT
} drop_reason;
static const char *const drop_names[DROP_COUNT] = {"queue_full", "gave_up",  "rejected",
                                                   "reload",     "stopping", "no_memory"};

typedef struct target_stats {
    uint64_t enqueued, delivered, retries;
    uint64_t failures[FAIL_COUNT];
    uint64_t dropped[DROP_COUNT];
} target_stats;

typedef struct target {
    rp_webhook_config cfg;
    char name[64];                              /* cfg.name or the URL's host */
    char headers[RP_WEBHOOK_MAX_HEADERS][330]; /* "Name: value", values from files read */
    target_stats st;
    unsigned inflight;
    int64_t logged_us;       /* the last failure line */
    uint64_t unlogged;       /* failed attempts since */
    bool failing;            /* told as failing, not yet as delivering again */
} target;

struct rp_webhook_targets {
    rp_alerts_config cfg;
    char node[64];
    int n;
    target t[RP_MAX_WEBHOOKS];
};

typedef struct doc {
    int refs; /* deliveries that point here */
    rp_alert alert;
    char *body; /* built by the delivery thread at the first attempt */
} doc;

typedef struct delivery {
    struct delivery *prev, *next;
    doc *doc;
    int target; /* index in w->targets; -1 once its webhook is gone (in flight at a reload) */
    unsigned attempts;
    int64_t due_us;
    CURL *easy; /* in flight when set */
    struct curl_slist *hdrs;
} delivery;

struct rp_webhooks {
    pthread_mutex_t lock;
    rp_webhook_targets *targets;
    char default_base[128];
    delivery *head, *tail; /* oldest first */
    size_t depth;
    uint64_t dropped_queue_full;
    rp_webhook_log_fn log;
    void *log_user;
    CURLM *multi;
    pthread_t thread;
    bool running;
    atomic_bool stopping;
    int64_t stop_by_us;
};

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* -------------------------------------------------------------- the alert */

void rp_alert_from_incident(rp_alert *a, const rp_incident *inc) {
    memset(a, 0, sizeof *a);
    a->key = inc->key;
    a->action = inc->action;
    a->score = inc->score;
    a->incident_id = inc->id;
    snprintf(a->route, sizeof a->route, "%s", inc->route);
    snprintf(a->user_agent, sizeof a->user_agent, "%s", inc->user_agent);
    snprintf(a->profile, sizeof a->profile, "%s", inc->profile);
    for (unsigned i = 0; i < inc->n_findings && a->n_findings < RP_ALERT_MAX_FINDINGS; i++) {
        const rp_finding *f = &inc->findings[i];
        a->findings[a->n_findings].detector = f->detector;
        a->findings[a->n_findings].score = f->score;
        snprintf(a->findings[a->n_findings].summary, sizeof a->findings[0].summary, "%s", f->summary);
        a->n_findings++;
    }
    for (unsigned i = 0; i < inc->n_samples && i < RP_MAX_SAMPLES; i++) {
        const rp_sample *s = &inc->samples[i];
        snprintf(a->samples[a->n_samples++], sizeof a->samples[0], "%s %.80s %u",
                 rp_method_name((rp_method)s->method), s->path, s->status);
    }
}

bool rp_webhook_matches(const rp_webhook_config *wh, const rp_alert *a) {
    if ((unsigned)a->action >= 32 || !(wh->reactions & (1u << a->action))) return false;
    if (a->manual) return wh->manual;
    if (a->score < wh->min_score) return false;
    if (!wh->detectors) return true;
    for (unsigned i = 0; i < a->n_findings; i++) {
        int d = a->findings[i].detector
                    ? rp_detector_find(a->findings[i].detector, strlen(a->findings[i].detector))
                    : -1;
        if (d >= 0 && (wh->detectors & (1u << d))) return true;
    }
    return false;
}

/* ------------------------------------------------------------ the document */

/* "600" -> "10m": the largest unit that divides it. */
static void format_duration(int64_t us, char *buf, size_t size) {
    int64_t s = us / 1000000;
    if (s >= 86400 && s % 86400 == 0) snprintf(buf, size, "%lldd", (long long)(s / 86400));
    else if (s >= 3600 && s % 3600 == 0) snprintf(buf, size, "%lldh", (long long)(s / 3600));
    else if (s >= 60 && s % 60 == 0) snprintf(buf, size, "%lldm", (long long)(s / 60));
    else snprintf(buf, size, "%llds", (long long)s);
}

/* A growing string for the Slack text. */
typedef struct text {
    char buf[4096];
    size_t len;
} text;

static void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text *t, const char *fmt, ...) {
    if (t->len >= sizeof t->buf - 1) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
    va_end(ap);
    if (n > 0) t->len += (size_t)n < sizeof t->buf - t->len ? (size_t)n : sizeof t->buf - 1 - t->len;
}

/* Slack reads &, < and > as markup: what comes from traffic (a path, a
 * user agent in evidence) is escaped so that it cannot make a link. */
static void text_add_escaped(text *t, const char *s) {
    for (; *s && t->len < sizeof t->buf - 8; s++) {
        if (*s == '&') text_add(t, "&amp;");
        else if (*s == '<') text_add(t, "&lt;");
        else if (*s == '>') text_add(t, "&gt;");
        else if (*s == '\n' || *s == '\r') text_add(t, " ");
        else t->buf[t->len++] = *s, t->buf[t->len] = 0;
    }
}

/* The key in a URL's fragment: unreserved characters and ':' '@' as
 * they are (the dashboard decodes the rest). */
static void url_key(const char *key, char *out, size_t size) {
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)key; *p && o + 4 < size; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            strchr("-._~:@", *p))
            out[o++] = (char)*p;
        else
            o += (size_t)snprintf(out + o, size - o, "%%%02X", *p);
    }
    out[o] = 0;
}

/* jansson refuses strings that are not UTF-8 (a user agent can be
 * anything): such a value is replaced, the document still goes. */
static json_t *str_or_note(const char *s) {
    json_t *v = json_string(s);
    return v ? v : json_string("(not UTF-8)");
}

char *rp_webhook_document(const rp_alert *a, const char *base, const char *node) {
    char key[128], decided[40], expires[40], duration[24], keyurl[400], url[600], api[600];
    rp_key_format(&a->key, key, sizeof key);
    rp_format_time(a->decided_us, decided, sizeof decided);
    rp_format_time(a->expires_us, expires, sizeof expires);
    format_duration(a->expires_us - a->decided_us, duration, sizeof duration);
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/') blen--;
    url_key(key, keyurl, sizeof keyurl);
    snprintf(url, sizeof url, "%.*s/ui/#/client/%s", (int)blen, base, keyurl);
    snprintf(api, sizeof api, "%.*s/v1/incidents/%llu", (int)blen, base,
             (unsigned long long)a->incident_id);
    const char *verb = a->action == RP_ACTION_BLOCK      ? "blocked"
                       : a->action == RP_ACTION_THROTTLE ? "throttled"
                                                         : rp_action_name(a->action);

    text t = {.len = 0};
    text_add(&t, "Rampart %s ", verb);
    text_add_escaped(&t, key);
    text_add(&t, " for %s", duration);
    if (a->manual) {
        text_add(&t, " (manual decision%s", a->reason[0] ? ": " : "");
        text_add_escaped(&t, a->reason);
        text_add(&t, ")");
    } else {
        text_add(&t, " (score %.0f:", a->score);
        for (unsigned i = 0; i < a->n_findings; i++)
            text_add(&t, "%s %s", i ? "," : "", a->findings[i].detector);
        text_add(&t, ")");
    }
    text_add(&t, " on ");
    text_add_escaped(&t, node);
    if (a->incident_id) text_add(&t, " - <%s|incident #%llu>", url, (unsigned long long)a->incident_id);
    else text_add(&t, " - <%s|client>", url);
    for (unsigned i = 0; i < a->n_findings; i++) {
        text_add(&t, "\n- ");
        text_add_escaped(&t, a->findings[i].summary);
    }
    if (a->n_samples) {
        text_add(&t, "\n- requests:");
        for (unsigned i = 0; i < a->n_samples; i++) {
            text_add(&t, "%s ", i ? "," : "");
            text_add_escaped(&t, a->samples[i]);
        }
    }

    json_t *o = json_object();
    json_t *detectors = json_array(), *findings = json_array(), *evidence = json_array(),
           *samples = json_array();
    for (unsigned i = 0; i < a->n_findings; i++) {
        json_array_append_new(detectors, json_string(a->findings[i].detector));
        json_array_append_new(evidence, str_or_note(a->findings[i].summary));
        json_t *f = json_object();
        json_object_set_new(f, "detector", json_string(a->findings[i].detector));
        json_object_set_new(f, "score", json_real(a->findings[i].score));
        json_object_set_new(f, "summary", str_or_note(a->findings[i].summary));
        json_array_append_new(findings, f);
    }
    if (a->manual) json_array_append_new(detectors, json_string("manual"));
    for (unsigned i = 0; i < a->n_samples; i++) json_array_append_new(samples, str_or_note(a->samples[i]));
    json_object_set_new(o, "text", str_or_note(t.buf));
    json_object_set_new(o, "event", json_string("decision"));
    json_object_set_new(o, "key", json_string(key));
    json_object_set_new(o, "level", json_string(rp_level_name((rp_key_level)a->key.level)));
    json_object_set_new(o, "action", json_string(rp_action_name(a->action)));
    json_object_set_new(o, "source", json_string(a->manual ? "manual" : "engine"));
    json_object_set_new(o, "manual", json_boolean(a->manual));
    json_object_set_new(o, "score", a->manual ? json_null() : json_real(a->score));
    json_object_set_new(o, "detectors", detectors);
    json_object_set_new(o, "evidence", evidence);
    json_object_set_new(o, "findings", findings);
    json_object_set_new(o, "requests", samples);
    json_object_set_new(o, "reason", a->manual && a->reason[0] ? str_or_note(a->reason) : json_null());
    json_object_set_new(o, "incident_id", a->incident_id ? json_integer((json_int_t)a->incident_id)
                                                         : json_null());
    json_object_set_new(o, "incident_url", json_string(url));
    json_object_set_new(o, "incident_api_url", a->incident_id ? json_string(api) : json_null());
    json_object_set_new(o, "decided_at", json_string(decided));
    json_object_set_new(o, "expires_at", json_string(expires));
    json_object_set_new(o, "duration_s", json_integer((a->expires_us - a->decided_us) / 1000000));
    json_object_set_new(o, "route", a->route[0] ? str_or_note(a->route) : json_null());
    json_object_set_new(o, "user_agent", a->user_agent[0] ? str_or_note(a->user_agent) : json_null());
    json_object_set_new(o, "profile", a->profile[0] ? json_string(a->profile) : json_null());
    json_object_set_new(o, "node", str_or_note(node));
    json_object_set_new(o, "version", json_string(RP_VERSION));
    char *body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return body;
}

/* ----------------------------------------------------------------- targets */

/* The host of a URL ("https://user@hooks.slack.com:443/x" ->
 * "hooks.slack.com"), for a default name that says which receiver. */
static void url_host(const char *url, char *out, size_t size) {
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = strpbrk(p, "@/?#");
    if (at && *at == '@') p = at + 1;
    size_t n = strcspn(p, ":/?#");
    if (*p == '[') n = strcspn(p, "]/?#") + (p[strcspn(p, "]/?#")] == ']');
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

/* A header value from its file: one line, the trailing newline cut. */
static rp_status read_header_file(const char *path, char *out, size_t size, rp_error *err) {
    char *data = NULL;
    size_t len = 0;
    rp_status st = rp_read_file(path, 4096, &data, &len, err);
    if (st != RP_OK) return st;
    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' ')) len--;
    bool one_line = len > 0 && len < size && !memchr(data, '\n', len) && !memchr(data, '\r', len) &&
                    !memchr(data, 0, len);
    if (one_line) {
        memcpy(out, data, len);
        out[len] = 0;
    }
    free(data);
    if (!one_line) /* the content is a secret: not quoted */
        return rp_error_set(err, RP_EINVAL, path, 0, 0,
                            "a webhook header file holds one line of 1 to %zu characters", size - 1);
    return RP_OK;
}

rp_status rp_webhook_targets_prepare(const rp_alerts_config *cfg, rp_webhook_targets **out,
                                     rp_error *err) {
    *out = NULL;
    rp_webhook_targets *t = calloc(1, sizeof *t);
    if (!t) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    t->cfg = *cfg;
    if (cfg->node[0]) snprintf(t->node, sizeof t->node, "%s", cfg->node);
    else if (gethostname(t->node, sizeof t->node - 1) != 0) snprintf(t->node, sizeof t->node, "rampart");
    for (int i = 0; i < cfg->n_webhooks && i < RP_MAX_WEBHOOKS; i++) {
        target *tg = &t->t[t->n];
        tg->cfg = cfg->webhooks[i];
        if (tg->cfg.name[0]) memcpy(tg->name, tg->cfg.name, sizeof tg->name);
        else url_host(tg->cfg.url, tg->name, sizeof tg->name);
        /* two unnamed webhooks on one host: host, host-2, ... */
        for (int k = 2, clash = 1; clash; k++) {
            clash = 0;
            for (int j = 0; j < t->n; j++) clash |= strcmp(t->t[j].name, tg->name) == 0;
            if (clash) {
                char base[64];
                if (tg->cfg.name[0]) memcpy(base, tg->cfg.name, sizeof base);
                else url_host(tg->cfg.url, base, sizeof base);
                snprintf(tg->name, sizeof tg->name, "%.50s-%d", base, k);
            }
        }
        for (int h = 0; h < tg->cfg.n_headers; h++) {
            char value[256];
            if (tg->cfg.header_from_file[h]) {
                rp_status st = read_header_file(tg->cfg.header_values[h], value, sizeof value, err);
                if (st != RP_OK) {
                    free(t);
                    return st;
                }
            } else {
                snprintf(value, sizeof value, "%s", tg->cfg.header_values[h]);
            }
            char name[64];
            memcpy(name, tg->cfg.header_names[h], sizeof name);
            snprintf(tg->headers[h], sizeof tg->headers[h], "%s: %s", name, value);
        }
        t->n++;
    }
    *out = t;
    return RP_OK;
}

void rp_webhook_targets_free(rp_webhook_targets *t) { free(t); }

/* -------------------------------------------------------------- the queue */

static void unlink_delivery(rp_webhooks *w, delivery *d) {
    if (d->prev) d->prev->next = d->next;
    else w->head = d->next;
    if (d->next) d->next->prev = d->prev;
    else w->tail = d->prev;
    w->depth--;
}

/* Lock held; d is not in flight (or its handle was taken out of multi). */
static void free_delivery(rp_webhooks *w, delivery *d) {
    unlink_delivery(w, d);
    if (d->easy) {
        curl_easy_cleanup(d->easy);
        curl_slist_free_all(d->hdrs);
    }
    if (--d->doc->refs == 0) {
        free(d->doc->body);
        free(d->doc);
    }
    free(d);
}

static void drop(rp_webhooks *w, delivery *d, drop_reason why) {
    if (d->target >= 0) w->targets->t[d->target].st.dropped[why]++;
    if (why == DROP_QUEUE_FULL) w->dropped_queue_full++;
    free_delivery(w, d);
}

/* Room for one more: the oldest delivery that is not in flight goes. */
static bool make_room(rp_webhooks *w) {
    size_t cap = w->targets->cfg.queue ? w->targets->cfg.queue : 1;
    while (w->depth >= cap) {
        delivery *old = w->head;
        while (old && old->easy) old = old->next;
        if (!old) return false;
        drop(w, old, DROP_QUEUE_FULL);
    }
    return true;
}

bool rp_webhooks_notify(rp_webhooks *w, const rp_alert *a) {
    if (!w) return false;
    bool queued = false;
    pthread_mutex_lock(&w->lock);
    doc *dc = NULL;
    for (int i = 0; i < w->targets->n; i++) {
        target *tg = &w->targets->t[i];
        if (!rp_webhook_matches(&tg->cfg, a)) continue;
        if (!dc && (dc = calloc(1, sizeof *dc))) dc->alert = *a;
        delivery *d = dc ? calloc(1, sizeof *d) : NULL;
        if (!d) {
            tg->st.dropped[DROP_NO_MEMORY]++;
            continue;
        }
        if (!make_room(w)) { /* every waiting delivery is in flight: the new one goes */
            tg->st.dropped[DROP_QUEUE_FULL]++;
            w->dropped_queue_full++;
            free(d);
            continue;
        }
        d->doc = dc;
        dc->refs++;
        d->target = i;
        d->due_us = 0;
        d->prev = w->tail;
        if (w->tail) w->tail->next = d;
        else w->head = d;
        w->tail = d;
        w->depth++;
        tg->st.enqueued++;
        queued = true;
    }
    if (dc && !dc->refs) free(dc);
    pthread_mutex_unlock(&w->lock);
    if (queued && w->running) curl_multi_wakeup(w->multi);
    return queued;
}

/* ------------------------------------------------------------ the delivery */

static size_t discard(char *ptr, size_t size, size_t n, void *user) {
    (void)ptr;
    (void)user;
    return size * n; /* the receiver's answer is not read: only its status */
}

/* Lock held. Start d's next attempt; false when no handle could be made
 * (out of memory: it is retried at the next turn). */
static bool start_attempt(rp_webhooks *w, delivery *d) {
    target *tg = &w->targets->t[d->target];
    if (!d->doc->body) {
        const char *base = w->targets->cfg.public_url[0] ? w->targets->cfg.public_url : w->default_base;
        d->doc->body = rp_webhook_document(&d->doc->alert, base, w->targets->node);
        if (!d->doc->body) return false;
    }
    CURL *e = curl_easy_init();
    if (!e) return false;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    for (int i = 0; h && i < tg->cfg.n_headers; i++) {
        struct curl_slist *n = curl_slist_append(h, tg->headers[i]);
        if (!n) {
            curl_slist_free_all(h);
            h = NULL;
        }
        h = n;
    }
    if (!h) {
        curl_easy_cleanup(e);
        return false;
    }
    long timeout_ms = (long)(tg->cfg.timeout_us / 1000);
    curl_easy_setopt(e, CURLOPT_URL, tg->cfg.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->doc->body); /* the doc outlives the attempt */
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(d->doc->body));
    curl_easy_setopt(e, CURLOPT_USERAGENT, "rampart/" RP_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_PRIVATE, d);
    if (curl_multi_add_handle(w->multi, e) != CURLM_OK) {
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        return false;
    }
    d->easy = e;
    d->hdrs = h;
    if (d->attempts) tg->st.retries++;
    d->attempts++;
    tg->inflight++;
    return true;
}

/* Lock held: start every attempt that is due and has a free slot;
 * returns when the next waiting one is due (or now + POLL_MS). */
static int64_t start_due(rp_webhooks *w, int64_t now) {
    int64_t next = now + POLL_MS * 1000;
    unsigned slots = w->targets->cfg.connections ? w->targets->cfg.connections : 1;
    for (delivery *d = w->head; d; d = d->next) {
        if (d->easy || d->target < 0) continue;
        if (d->due_us > now) {
            if (d->due_us < next) next = d->due_us;
            continue;
        }
        if (w->targets->t[d->target].inflight >= slots) continue;
        if (!start_attempt(w, d)) break;
    }
    return next;
}

typedef struct log_line {
    char level[8];
    char msg[300];
} log_line;

/* Lock held: book the result of d's attempt. A failure is told at most
 * once a minute per webhook (into *line), with how many failed since. */
static void finish_attempt(rp_webhooks *w, delivery *d, CURLcode rc, int64_t now, log_line *line) {
    long status = 0;
    curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(w->multi, d->easy);
    curl_easy_cleanup(d->easy);
    curl_slist_free_all(d->hdrs);
    d->easy = NULL;
    d->hdrs = NULL;
    line->msg[0] = 0;
    if (d->target < 0) { /* its webhook went at a reload */
        free_delivery(w, d);
        return;
    }
    target *tg = &w->targets->t[d->target];
    tg->inflight--;
    if (rc == CURLE_OK && status >= 200 && status < 300) {
        tg->st.delivered++;
        if (tg->failing) {
            tg->failing = false;
            snprintf(line->level, sizeof line->level, "info");
            snprintf(line->msg, sizeof line->msg, "webhook %s: delivering again", tg->name);
        }
        free_delivery(w, d);
        return;
    }
    fail_reason why;
    bool retry = true;
    char what[96];
    if (rc == CURLE_OK) {
        why = FAIL_STATUS;
        retry = status >= 500 || status == 408 || status == 429;
        snprintf(what, sizeof what, "HTTP %ld", status);
    } else {
        why = rc == CURLE_OPERATION_TIMEDOUT                                ? FAIL_TIMEOUT
              : rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ? FAIL_CONNECT
                                                                                : FAIL_OTHER;
        snprintf(what, sizeof what, "%s", curl_easy_strerror(rc));
    }
    tg->st.failures[why]++;
    tg->unlogged++;
    bool last = !retry || d->attempts > w->targets->cfg.retries;
    if (now - tg->logged_us >= LOG_EVERY_US) {
        snprintf(line->level, sizeof line->level, "warn");
        snprintf(line->msg, sizeof line->msg,
                 "webhook %s: %s (attempt %u of a delivery; %llu failed attempts since the last "
                 "report)%s", tg->name, what, d->attempts, (unsigned long long)tg->unlogged,
                 last ? (retry ? "; retries exhausted, dropped" : "; not retried, dropped") : "");
        tg->logged_us = now;
        tg->unlogged = 0;
        tg->failing = true;
    }
    if (last) {
        drop(w, d, retry ? DROP_GAVE_UP : DROP_REJECTED);
        return;
    }
    int64_t delay = w->targets->cfg.backoff_us;
    for (unsigned i = 1; i < d->attempts && delay < w->targets->cfg.max_backoff_us; i++) delay *= 2;
    if (delay > w->targets->cfg.max_backoff_us) delay = w->targets->cfg.max_backoff_us;
    d->due_us = now + delay;
}

static void collect_done(rp_webhooks *w) {
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(w->multi, &left))) {
        if (m->msg != CURLMSG_DONE) continue;
        delivery *d = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&d);
        CURLcode rc = m->data.result;
        log_line line;
        pthread_mutex_lock(&w->lock);
        finish_attempt(w, d, rc, wall_us(), &line);
        pthread_mutex_unlock(&w->lock);
        if (line.msg[0] && w->log) w->log(w->log_user, line.level, "%s", line.msg);
    }
}

static void *deliver_main(void *arg) {
    rp_webhooks *w = arg;
    for (;;) {
        int64_t now = wall_us();
        pthread_mutex_lock(&w->lock);
        bool stop = atomic_load(&w->stopping) && (w->depth == 0 || now >= w->stop_by_us);
        int64_t next = stop ? now : start_due(w, now);
        pthread_mutex_unlock(&w->lock);
        if (stop) break;
        int running = 0;
        curl_multi_perform(w->multi, &running);
        collect_done(w);
        int64_t wait = (next - wall_us()) / 1000;
        if (wait < 0) wait = 0;
        if (wait > POLL_MS) wait = POLL_MS;
        curl_multi_poll(w->multi, NULL, 0, (int)wait, NULL);
        curl_multi_perform(w->multi, &running);
        collect_done(w);
    }
    /* Whatever is left is dropped, in flight or not. */
    pthread_mutex_lock(&w->lock);
    size_t left = w->depth;
    while (w->head) {
        delivery *d = w->head;
        if (d->easy) {
            curl_multi_remove_handle(w->multi, d->easy);
            if (d->target >= 0) w->targets->t[d->target].inflight--;
        }
        drop(w, d, DROP_STOPPING);
    }
    pthread_mutex_unlock(&w->lock);
    if (left && w->log)
        w->log(w->log_user, "warn", "webhooks: %zu deliver%s not made (stopping)", left,
               left == 1 ? "y" : "ies");
    return NULL;
}

/* ---------------------------------------------------------------- service */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

rp_status rp_webhooks_start(rp_webhook_targets *targets, rp_webhook_log_fn log, void *log_user,
                            bool run, rp_webhooks **out, rp_error *err) {
    *out = NULL;
    pthread_once(&curl_once, curl_init);
    rp_webhooks *w = calloc(1, sizeof *w);
    if (!w || curl_init_rc != CURLE_OK || !(w->multi = curl_multi_init())) {
        free(w);
        rp_webhook_targets_free(targets);
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "webhooks: cannot initialise libcurl");
    }
    pthread_mutex_init(&w->lock, NULL);
    w->targets = targets;
    w->log = log;
    w->log_user = log_user;
    snprintf(w->default_base, sizeof w->default_base, "http://127.0.0.1:9090");
    if (run) {
        if (pthread_create(&w->thread, NULL, deliver_main, w) != 0) {
            curl_multi_cleanup(w->multi);
            pthread_mutex_destroy(&w->lock);
            rp_webhook_targets_free(w->targets);
            free(w);
            return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "cannot start the webhook thread");
        }
        w->running = true;
    }
    *out = w;
    return RP_OK;
}

static int find_target(const rp_webhook_targets *t, const char *name, const char *url) {
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->t[i].name, name) == 0 && (!url || strcmp(t->t[i].cfg.url, url) == 0)) return i;
    return -1;
}

void rp_webhooks_apply(rp_webhooks *w, rp_webhook_targets *targets) {
    pthread_mutex_lock(&w->lock);
    rp_webhook_targets *old = w->targets;
    /* Waiting deliveries follow their webhook (same name and URL) or go. */
    for (delivery *d = w->head, *next; d; d = next) {
        next = d->next;
        if (d->target < 0) continue;
        int to = find_target(targets, old->t[d->target].name, old->t[d->target].cfg.url);
        if (d->easy) {
            old->t[d->target].inflight--;
            if (to >= 0) targets->t[to].inflight++;
            d->target = to;
        } else if (to < 0) {
            drop(w, d, DROP_RELOAD);
        } else {
            d->target = to;
        }
    }
    /* Counters follow the name (a new URL under the same name included). */
    for (int i = 0; i < targets->n; i++) {
        int from = find_target(old, targets->t[i].name, NULL);
        if (from < 0) continue;
        targets->t[i].st = old->t[from].st;
        targets->t[i].logged_us = old->t[from].logged_us;
        targets->t[i].unlogged = old->t[from].unlogged;
        targets->t[i].failing = old->t[from].failing;
    }
    w->targets = targets;
    pthread_mutex_unlock(&w->lock);
    rp_webhook_targets_free(old);
    if (w->running) curl_multi_wakeup(w->multi);
}

void rp_webhooks_set_default_base(rp_webhooks *w, const char *base) {
    pthread_mutex_lock(&w->lock);
    snprintf(w->default_base, sizeof w->default_base, "%s", base);
    pthread_mutex_unlock(&w->lock);
}

void rp_webhooks_stop(rp_webhooks *w, int grace_ms) {
    if (!w) return;
    if (w->running) {
        pthread_mutex_lock(&w->lock);
        w->stop_by_us = wall_us() + (int64_t)grace_ms * 1000;
        atomic_store(&w->stopping, true);
        pthread_mutex_unlock(&w->lock);
        curl_multi_wakeup(w->multi);
        pthread_join(w->thread, NULL);
    }
    while (w->head) drop(w, w->head, DROP_STOPPING);
    curl_multi_cleanup(w->multi);
    pthread_mutex_destroy(&w->lock);
    rp_webhook_targets_free(w->targets);
    free(w);
}

void rp_webhooks_get_stats(rp_webhooks *w, rp_webhooks_stats *s) {
    pthread_mutex_lock(&w->lock);
    s->depth = w->depth;
    s->capacity = w->targets->cfg.queue;
    s->dropped_queue_full = w->dropped_queue_full;
    pthread_mutex_unlock(&w->lock);
}

size_t rp_webhooks_queued(rp_webhooks *w, uint64_t *ids, size_t max) {
    size_t n = 0;
    pthread_mutex_lock(&w->lock);
    for (delivery *d = w->head; d && n < max; d = d->next) ids[n++] = d->doc->alert.incident_id;
    pthread_mutex_unlock(&w->lock);
    return n;
}

static void metric_head(FILE *f, const char *name, const char *type, const char *help) {
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void rp_webhooks_metrics(rp_webhooks *w, FILE *f) {
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    int n = w->targets->n;
    char names[RP_MAX_WEBHOOKS][64];
    target_stats st[RP_MAX_WEBHOOKS];
    unsigned inflight[RP_MAX_WEBHOOKS];
    for (int i = 0; i < n; i++) {
        memcpy(names[i], w->targets->t[i].name, sizeof names[i]);
        st[i] = w->targets->t[i].st;
        inflight[i] = w->targets->t[i].inflight;
    }
    size_t depth = w->depth, cap = w->targets->cfg.queue;
    pthread_mutex_unlock(&w->lock);

    metric_head(f, "rampart_webhook_queue_depth", "gauge",
                "Webhook deliveries waiting or in flight, all webhooks.");
    fprintf(f, "rampart_webhook_queue_depth %zu\n", depth);
    metric_head(f, "rampart_webhook_queue_capacity", "gauge",
                "Webhook deliveries the queue holds (alerts.queue); past it the oldest waiting "
                "one is dropped.");
    fprintf(f, "rampart_webhook_queue_capacity %zu\n", cap);
    metric_head(f, "rampart_webhook_in_flight", "gauge", "Attempts in flight, by webhook.");
    for (int i = 0; i < n; i++)
        fprintf(f, "rampart_webhook_in_flight{webhook=\"%s\"} %u\n", names[i], inflight[i]);
    /* Counters per webhook, and per webhook and reason (reasons: NULL = none). */
    static const struct {
        const char *name, *help;
        size_t offset;
        const char *const *reasons;
        int n_reasons;
    } counters[] = {
        {"rampart_webhook_enqueued_total",
         "Decisions queued for a webhook (its filter passed), by webhook.",
         offsetof(target_stats, enqueued), NULL, 1},
        {"rampart_webhook_deliveries_total", "Documents a webhook answered with a 2xx, by webhook.",
         offsetof(target_stats, delivered), NULL, 1},
        {"rampart_webhook_failures_total",
         "Failed attempts, by webhook and reason: status (an answer other than 2xx), timeout, "
         "connect, other.",
         offsetof(target_stats, failures), fail_names, FAIL_COUNT},
        {"rampart_webhook_retries_total", "Attempts after a delivery's first, by webhook.",
         offsetof(target_stats, retries), NULL, 1},
        {"rampart_webhook_dropped_total",
         "Deliveries given up, by webhook and reason: queue_full (pushed out by a newer one), "
         "gave_up (retries exhausted), rejected (an answer not retried), reload, stopping, "
         "no_memory.",
         offsetof(target_stats, dropped), drop_names, DROP_COUNT},
    };
    for (size_t c = 0; c < sizeof counters / sizeof counters[0]; c++) {
        metric_head(f, counters[c].name, "counter", counters[c].help);
        for (int i = 0; i < n; i++) {
            const uint64_t *v = (const uint64_t *)((const char *)&st[i] + counters[c].offset);
            for (int r = 0; r < counters[c].n_reasons; r++) {
                if (counters[c].reasons)
                    fprintf(f, "%s{webhook=\"%s\",reason=\"%s\"} %llu\n", counters[c].name,
                            names[i], counters[c].reasons[r], (unsigned long long)v[r]);
                else
                    fprintf(f, "%s{webhook=\"%s\"} %llu\n", counters[c].name, names[i],
                            (unsigned long long)v[r]);
            }
        }
    }
}
