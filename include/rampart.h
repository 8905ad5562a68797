/*
 * rampart.h -- the public API of the Rampart detection engine.
 *
 * The engine turns a stream of HTTP request events into incidents and
 * decisions. It is pure and deterministic: it does no I/O, starts no
 * threads, never reads the clock (time comes from the events) and keeps
 * no global state, so `rampart analyze`, replays and the live daemon give
 * the same answers for the same input.
 *
 * Conventions (after libuv and SQLite):
 *   - every name starts with rp_ / RP_;
 *   - functions that can fail return rp_status: RP_OK (0) or a negative
 *     errno-style code, and fill an rp_error with a message and, where one
 *     exists, a file:line:col location;
 *   - handles are opaque; the caller owns what it creates and frees it
 *     with the matching _free function.
 */
#ifndef RAMPART_H
#define RAMPART_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RP_VERSION "0.1.0"

/* ---------------------------------------------------------------- errors */

typedef int rp_status;

#define RP_OK 0
#define RP_ENOENT (-2)    /* no such file, key or name */
#define RP_EIO (-5)       /* read or write failed */
#define RP_ENOMEM (-12)   /* allocation failed or a configured cap was hit */
#define RP_EINVAL (-22)   /* invalid argument or configuration */
#define RP_ERANGE (-34)   /* value out of range */
#define RP_EPARSE (-74)   /* malformed input (EBADMSG) */

typedef struct rp_error {
    char message[256];
    char file[256]; /* "" when there is no file */
    int line;       /* 1-based; 0 when unknown */
    int col;        /* 1-based; 0 when unknown */
} rp_error;

/* Fill err (which may be NULL) and return code. */
rp_status rp_error_set(rp_error *err, rp_status code, const char *file, int line, int col,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* "file:line:col: message" (or just the message when there is no file). */
void rp_error_format(const rp_error *err, char *buf, size_t size);
const char *rp_status_name(rp_status status);

/* ------------------------------------------------------------- addresses */

/* IPv4 is stored as an IPv4-mapped IPv6 address (::ffff:a.b.c.d) so that
 * every key has one shape; family says how to print and mask it. */
typedef struct rp_addr {
    uint8_t bytes[16];
    uint8_t family; /* 4 or 6; 0 = none */
} rp_addr;

#define RP_ADDR_STRLEN 46

rp_status rp_addr_parse(const char *text, size_t len, rp_addr *out);
/* Writes a NUL-terminated string; returns its length. */
size_t rp_addr_format(const rp_addr *addr, char *buf, size_t size);
/* The /24 (IPv4) or /64 (IPv6) network of addr. */
void rp_addr_subnet(const rp_addr *addr, rp_addr *out);
bool rp_addr_equal(const rp_addr *a, const rp_addr *b);

/* ----------------------------------------------------------------- event */

typedef enum rp_method {
    RP_METHOD_OTHER = 0,
    RP_METHOD_GET,
    RP_METHOD_HEAD,
    RP_METHOD_POST,
    RP_METHOD_PUT,
    RP_METHOD_DELETE,
    RP_METHOD_PATCH,
    RP_METHOD_OPTIONS,
    RP_METHOD_TRACE,
    RP_METHOD_CONNECT,
    RP_METHOD_COUNT
} rp_method;

rp_method rp_method_parse(const char *text, size_t len);
const char *rp_method_name(rp_method method);

/* A borrowed string: not NUL-terminated, valid while the event is. */
typedef struct rp_str {
    const char *ptr;
    uint32_t len;
} rp_str;

/* Bounds on event strings. Longer input is truncated by the producer and
 * RP_EVENT_TRUNCATED is set: evidence says so, nothing is rejected. */
#define RP_MAX_HOST 255
#define RP_MAX_PATH 4096
#define RP_MAX_QUERY 4096
#define RP_MAX_USER_AGENT 1024
#define RP_MAX_REFERER 1024

/* rp_event.flags */
#define RP_EVENT_TRUNCATED (1u << 0)      /* a string field was cut to its bound */
#define RP_EVENT_HEADERS_KNOWN (1u << 1)  /* header_hash and the RP_HDR_ flags are valid */
#define RP_HDR_ACCEPT_LANGUAGE (1u << 2)
#define RP_HDR_ACCEPT_ENCODING (1u << 3)
#define RP_HDR_COOKIE (1u << 4)
#define RP_HDR_REFERER (1u << 5)
#define RP_HDR_SEC_CH_UA (1u << 6)
#define RP_EVENT_BAD_UTF8 (1u << 7)       /* some field held invalid UTF-8 */
#define RP_EVENT_UNKNOWN_STATUS (1u << 8) /* the log had no usable status */
/* The answer was made by Rampart itself (the module's or /v1/check's 403
 * or 429), not by the upstream: it says nothing about the client's
 * behaviour, so no detector counts it as a failure, a denial or an error. */
#define RP_EVENT_REFUSED (1u << 9)

/* One request and its response. */
typedef struct rp_event {
    int64_t ts_us;          /* request time, microseconds since the epoch */
    rp_addr client;         /* after trusted-proxy resolution */
    uint16_t status;        /* HTTP status; 0 when unknown */
    uint8_t method;         /* rp_method */
    uint8_t origin;         /* the fleet node that saw the request: a daemon's host id
                               (protocol byte 5, docs/cluster.md "Fleet view"); 0 = this
                               one. Carried into the samples, never judged */
    uint8_t uncounted;      /* levels (1 << rp_key_level) this engine does not count: a
                               partitioned fleet counts each key of an event in one
                               engine (partition.h); 0 = all. Not on the wire */
    uint32_t flags;         /* RP_EVENT_* and RP_HDR_* */
    uint64_t request_bytes; /* 0 when unknown */
    uint64_t response_bytes;
    int64_t upstream_us;    /* upstream response time; -1 when unknown */
    uint64_t header_hash;   /* hash of header names in arrival order; 0 unknown */
    uint64_t credential_id; /* hashed login username; 0 = none */
    uint64_t token_id;      /* hashed API key / bearer token; 0 = none */
    uint64_t session_id;    /* hashed session cookie / header; 0 = none */
    rp_str host;
    rp_str path;            /* without the query string */
    rp_str query;           /* without the leading '?' */
    rp_str user_agent;
    rp_str referer;
} rp_event;

/* 64-bit hash used for every key and sketch (stable across versions: it
 * is part of the wire protocol and stored state). */
uint64_t rp_hash64(const void *data, size_t len, uint64_t seed);
/* The route part of a "fingerprint on a route" key (fingerprint:FP@SCOPE):
 * the hash of a literal route's path ("/api/login") or of an object
 * route's path up to its last segment ("/api/products/"). Never 0. */
uint64_t rp_scope_hash(const char *path, size_t len);
/* The scopes a raw request path (no query) may fall under, computed
 * without the route templates -- by the nginx module and the daemon: the
 * path itself (a literal route) and the path up to its last segment (an
 * object route, "/api/products/"). Trailing slashes are ignored. Writes
 * up to 2; returns how many. */
int rp_path_scopes(const char *path, size_t len, uint64_t scopes[2]);

/* ------------------------------------------------------------------ keys */

typedef enum rp_key_level {
    RP_LEVEL_IP = 0,
    RP_LEVEL_SUBNET,
    RP_LEVEL_FINGERPRINT, /* user agent + header fingerprint */
    RP_LEVEL_TOKEN,
    RP_LEVEL_SESSION,
    RP_LEVEL_USERNAME,    /* the target account on auth routes */
    RP_LEVEL_COUNT
} rp_key_level;

/* What a decision or incident applies to. For IP and subnet the address;
 * for the hashed levels the 64-bit id in the first 8 bytes. */
typedef struct rp_key {
    uint8_t level; /* rp_key_level */
    uint8_t reserved[7];
    uint8_t bytes[16];
} rp_key;

const char *rp_level_name(rp_key_level level);
/* "ip:1.2.3.4", "subnet:1.2.3.0/24", "fingerprint:9f1c...". */
size_t rp_key_format(const rp_key *key, char *buf, size_t size);
rp_status rp_key_parse(const char *text, size_t len, rp_key *out);
void rp_key_from_addr(rp_key *key, rp_key_level level, const rp_addr *addr);
void rp_key_from_id(rp_key *key, rp_key_level level, uint64_t id);
bool rp_key_equal(const rp_key *a, const rp_key *b);
uint64_t rp_key_hash(const rp_key *key);

/* ------------------------------------------------------------- reactions */

typedef enum rp_action {
    RP_ACTION_NONE = 0,
    RP_ACTION_MONITOR,  /* record an incident only */
    RP_ACTION_THROTTLE, /* 429 + Retry-After, graylist */
    RP_ACTION_BLOCK,    /* 403, denylist */
    RP_ACTION_ALLOW     /* manual allow: bypass detection */
} rp_action;

const char *rp_action_name(rp_action action);
rp_status rp_action_parse(const char *text, size_t len, rp_action *out);

/* Threat kinds, a bit each, for summaries and the dashboard. */
#define RP_THREAT_CREDENTIAL_STUFFING (1u << 0)
#define RP_THREAT_ACCOUNT_TAKEOVER (1u << 1)
#define RP_THREAT_FLOOD (1u << 2)
#define RP_THREAT_SCANNER (1u << 3)
#define RP_THREAT_SCRAPER (1u << 4)
#define RP_THREAT_ENUMERATION (1u << 5)
#define RP_THREAT_UNDECLARED_PROBE (1u << 6)
#define RP_THREAT_CONSUMPTION (1u << 7)
#define RP_THREAT_AUTOMATION (1u << 8)
#define RP_THREAT_LEAKED_CREDENTIAL (1u << 9) /* a key or session used from far too many places */
#define RP_THREAT_COUNT 10

const char *rp_threat_name(unsigned bit_index);

/* -------------------------------------------------------------- evidence */

#define RP_MAX_FEATURES 6
#define RP_MAX_FINDINGS 12
#define RP_MAX_SAMPLES 5
#define RP_SUMMARY_LEN 200

/* One measured feature and the bound it was compared with. */
typedef struct rp_feature {
    const char *name; /* static string, e.g. "failed_logins_60s" */
    double value;
    double threshold; /* the bound in force (absolute or derived) */
    double normal;    /* learned normal for the route; NAN when absolute */
    bool crossed;
} rp_feature;

/* What one detector found about one key. */
typedef struct rp_finding {
    const char *detector; /* static name */
    double score;         /* 0..1 */
    double weight;        /* profile weight, in score points */
    uint32_t threats;     /* RP_THREAT_* bits */
    uint8_t n_features;
    rp_feature features[RP_MAX_FEATURES];
    char summary[RP_SUMMARY_LEN]; /* one line for a person */
} rp_finding;

typedef struct rp_sample {
    int64_t ts_us;
    uint16_t status;
    uint8_t method;
    uint8_t origin; /* rp_event.origin: which host saw it (fleet mode) */
    char path[160]; /* path?query, truncated */
} rp_sample;

/* An incident: one key crossed a reaction threshold. */
typedef struct rp_incident {
    uint64_t id;          /* unique within an engine, increasing */
    rp_key key;
    rp_action action;     /* what the engine decided */
    double score;         /* combined score 0..100 */
    uint32_t threats;     /* union of findings' threats */
    uint32_t offense;     /* 1 for a first offense, then 2, 3... */
    int64_t first_seen_us; /* first request of the key seen by the engine */
    int64_t last_seen_us;
    int64_t decided_us;   /* when the threshold was crossed */
    int64_t expires_us;   /* decision expiry; 0 for monitor */
    uint64_t requests;    /* requests of the key seen so far */
    char profile[32];
    char user_agent[128];
    char route[272];      /* "METHOD template" of the triggering request */
    uint8_t n_findings;
    rp_finding findings[RP_MAX_FINDINGS];
    uint8_t n_samples;
    rp_sample samples[RP_MAX_SAMPLES];
} rp_incident;

/* A decision: an action on a key until an expiry. */
typedef struct rp_decision {
    rp_key key;
    rp_action action;
    int64_t start_us;
    int64_t expires_us;
    uint64_t incident_id; /* 0 for manual decisions */
    double score;
} rp_decision;

/* ----------------------------------------------------------- configuration */

typedef struct rp_config rp_config;

/* The built-in defaults: a fresh install works with no file. */
rp_config *rp_config_default(void);
/* Parse a YAML document. name is used in error locations. Every mistake
 * is reported as name:line:col; *out is set only on RP_OK. */
rp_status rp_config_parse(const char *text, size_t len, const char *name, rp_config **out,
                          rp_error *err);
void rp_config_free(rp_config *config);

/* ------------------------------------------------------------------ engine */

typedef struct rp_engine rp_engine;

/* Called when an incident opens or escalates, and for every decision.
 * The pointers are valid only during the call. */
/* What an aggregate key may charge a member with, per detector: published
 * by the engine that counts the key (a partitioned fleet). */
typedef struct rp_witness {
    const char *detector; /* its name */
    double charge;        /* 0..1 */
} rp_witness;
/* A charge under this charges nobody much: never published, and the
 * engine reports a score under it as it is, without computing the
 * charge (which is never more than the score). */
#define RP_WITNESS_FLOOR 0.25

typedef struct rp_engine_callbacks {
    void *user;
    void (*on_incident)(void *user, const rp_incident *incident);
    void (*on_decision)(void *user, const rp_decision *decision);
    /* A partitioned fleet (docs/cluster.md, "The witness across
     * partitions"); NULL in one engine. on_witness: an aggregate key this
     * engine counts (a fingerprint, an account) may charge a member that
     * takes part with `charge` for detector -- called on each event that
     * scores it, the caller filters and publishes. witness: the charges
     * published for key by the engine that counts it, asked for a level
     * the event leaves uncounted here (rp_event.uncounted); fills up to
     * max, returns how many. The member's own involvement is still
     * required before it is charged. */
    void (*on_witness)(void *user, const rp_key *key, const char *detector, double charge);
    unsigned (*witness)(void *user, const rp_key *key, rp_witness *out, unsigned max);
    /* The decision the fleet enforces on key at ts_us (RP_ACTION_NONE:
     * none), asked for an address another partition's engine judges. */
    rp_action (*in_force)(void *user, const rp_key *key, int64_t ts_us);
} rp_engine_callbacks;

/* The engine copies what it needs from config; the config may be freed
 * afterwards. */
rp_status rp_engine_new(const rp_config *config, const rp_engine_callbacks *callbacks,
                        rp_engine **out, rp_error *err);
void rp_engine_free(rp_engine *engine);

/* Feed one event. Never fails on bad content: odd values are clamped and
 * counted. Allocates nothing on the hot path. Returns the strongest
 * decision in force on the event's keys after it (RP_ACTION_NONE,
 * MONITOR, THROTTLE, BLOCK or ALLOW): what an enforcing proxy would have
 * done with the next request of this client. */
rp_action rp_engine_feed(rp_engine *engine, const rp_event *event);
/* The same, and *before gets the strongest decision that was in force on
 * the event's keys before it: what an enforcing proxy answered this very
 * request (a decision made on a request acts from the next one). */
rp_action rp_engine_feed_verdicts(rp_engine *engine, const rp_event *event, rp_action *before);
/* A hint for a caller that holds its events in a batch: starts loading
 * the client records event will touch. Call it with the event to be fed
 * two calls from now (before feeding events[i], prefetch events[i + 2]):
 * one call loads the index entries, the next the records. Changes no
 * state the feed reads; the events may come in any order. */
void rp_engine_prefetch(rp_engine *engine, const rp_event *event);

/* Number incidents from next_id on (a daemon continues the numbering of
 * its store across restarts). */
void rp_engine_set_next_incident_id(rp_engine *engine, uint64_t next_id);

/* Emit the final state of every incident still open (request counts,
 * last seen, samples) through on_incident. Call at end of input. */
void rp_engine_flush(rp_engine *engine);

/* Replace profiles, thresholds and allowlists, keeping client state and
 * decisions (SIGHUP). */
rp_status rp_engine_reconfigure(rp_engine *engine, const rp_config *config, rp_error *err);

/* Add a manual decision (API, CLI) through the same path as detected ones.
 * RP_ACTION_NONE clears the key's decision. */
void rp_engine_decide(rp_engine *engine, const rp_decision *decision);

/* The live picture of a tracked key: counters, the decision in force and
 * what every detector says now (findings with their features), as an
 * incident with id 0. false when the key is not tracked (never seen, or
 * evicted). */
bool rp_engine_explain(rp_engine *engine, const rp_key *key, rp_incident *out);

typedef struct rp_engine_stats {
    uint64_t events;
    uint64_t events_out_of_order; /* older than the engine's clock; clamped */
    uint64_t allowlisted;
    uint64_t refused;             /* events flagged RP_EVENT_REFUSED: counted, not judged */
    uint64_t incidents;
    uint64_t decisions;
    uint64_t incidents_by_action[5];
    uint64_t clients_tracked[RP_LEVEL_COUNT];
    uint64_t clients_capacity[RP_LEVEL_COUNT];
    uint64_t clients_evicted[RP_LEVEL_COUNT];
    uint64_t routes;
    uint64_t routes_overflow; /* requests whose route did not fit the inventory */
    int64_t clock_us;         /* newest event time seen */
} rp_engine_stats;

void rp_engine_get_stats(const rp_engine *engine, rp_engine_stats *stats);

/* The anomaly detector's learned models (route transitions and the
 * feature-vector forest), as a versioned buffer the caller frees with
 * free(), and back. Loading checks the whole buffer and keeps the current
 * models on error; a version-1 file (route transitions only) still loads. */
rp_status rp_engine_model_save(rp_engine *engine, uint8_t **buf, size_t *len, rp_error *err);
rp_status rp_engine_model_load(rp_engine *engine, const uint8_t *buf, size_t len, rp_error *err);
uint64_t rp_engine_model_transitions(const rp_engine *engine); /* learned so far */

/* Training the feature model off the hot path. The engine keeps a sample
 * of the last window of learned vectors; by default it builds a new model
 * from it inline whenever a window of new vectors has come. With
 * rp_engine_model_defer_training(e, true) it never does: the owner calls,
 * under whatever serializes the engine, rp_engine_model_job() (NULL when
 * no training is due; otherwise a copy of the sample), runs the job on
 * any thread without the engine, then installs it under the lock again
 * (the new model replaces the old whole; false if the engine's model
 * changed shape meanwhile). Install and free take ownership of the job. */
typedef struct rp_model_job rp_model_job;
void rp_engine_model_defer_training(rp_engine *engine, bool deferred);
rp_model_job *rp_engine_model_job(rp_engine *engine);
rp_status rp_model_job_run(rp_model_job *job);
bool rp_engine_model_install(rp_engine *engine, rp_model_job *job);
void rp_model_job_free(rp_model_job *job);
uint64_t rp_engine_model_vectors(const rp_engine *engine); /* feature vectors learned so far */

/* Bytes of state per tracked key at a level (table slot + index). */
size_t rp_engine_bytes_per_client(const rp_engine *engine, rp_key_level level);

/* ------------------------------------------------------------- inventory */

typedef enum rp_route_class {
    RP_ROUTE_OTHER = 0,
    RP_ROUTE_AUTH,
    RP_ROUTE_OBJECT,
    RP_ROUTE_LISTING,
    RP_ROUTE_SEARCH,
    RP_ROUTE_STATIC,
    RP_ROUTE_HEALTH,
    RP_ROUTE_CLASS_COUNT
} rp_route_class;

const char *rp_route_class_name(rp_route_class cls);

typedef struct rp_route_info {
    char method[8];     /* "" when the route covers every method */
    char template_[256];
    rp_route_class cls;
    bool declared;      /* from the OpenAPI document or the config */
    char profile[32];   /* the profile attached to the route */
    uint64_t requests;
    uint64_t errors;    /* 4xx and 5xx */
    uint64_t flagged;   /* requests from keys with an active decision */
    uint64_t clients;   /* distinct clients, estimated */
} rp_route_info;

/* Visit the inventory; stop when fn returns false. */
void rp_engine_routes(const rp_engine *engine, bool (*fn)(void *user, const rp_route_info *route),
                      void *user);

/* Template of a raw path under the engine's inventory ("/users/{id}"). */
size_t rp_engine_route_template(rp_engine *engine, rp_method method, const char *path, size_t len,
                                char *buf, size_t size);

/* What the engine has learned about one route, to carry it over a
 * restart (the daemon keeps it in its store). A new engine otherwise
 * relearns templates, classes and how a form's successes look from
 * traffic alone: a form login that answers its failures with one 200
 * page is unprotected until someone logs in successfully again. */
typedef struct rp_route_knowledge {
    uint8_t method;       /* rp_method; RP_METHOD_OTHER = every method */
    bool declared;        /* declared (config, OpenAPI) when it was exported */
    rp_route_class cls;   /* the route's own class, declared or learned, before the
                             config's `routes:` rules (which apply again on restore) */
    char template_[256];  /* NUL-terminated, "/users/{id}" */
    uint64_t requests;
    uint64_t errors;      /* 4xx and 5xx */
    uint64_t not_found;   /* 404 */
    uint64_t successes;   /* 2xx and 3xx */
    uint64_t flagged;     /* requests from keys with an active decision */
    /* The route has answered a POST with a redirect (a form login's
     * post/redirect/get on success): the last such answer, status << 20 |
     * response size bucket, and how many there were (0 = never). While it
     * is set, a repeated identical 200 to a POST is a failure page. */
    uint32_t common_answer;
    uint32_t common_answer_votes;
} rp_route_knowledge;

/* Visit what the engine knows about each route (not the shared overflow
 * route); stop when fn returns false. */
void rp_engine_routes_export(const rp_engine *engine,
                             bool (*fn)(void *user, const rp_route_knowledge *route), void *user);

/* Bring one exported route back, best before the first event. The input
 * is checked whole and may be hostile; nothing is changed unless RP_OK:
 *   - a route the config declares (same method and template, or the
 *     declared template the stored one falls under) keeps the config's
 *     class; it gets the counters and the redirect mark;
 *   - otherwise the template must be one learning makes (the stored route
 *     was learned, or its declaration is gone) and it becomes a learned
 *     route, within the inventory's cap (engine.max_routes). Its stored
 *     class is used only where its name says nothing (the guess is
 *     `other`), and only if it was learned, not declared; the config's
 *     `routes:` rules apply on top as for any route;
 *   - counters are added (saturating); the redirect mark is kept when the
 *     route has one already, its votes added.
 * Returns RP_OK; RP_EINVAL for what is not a route (bad method, class,
 * template, redirect mark, or counters that contradict each other);
 * RP_ENOENT when the template is not declared and learning would not make
 * it, or learning is off; RP_ENOMEM when the cap of learned routes is
 * reached. */
rp_status rp_engine_route_restore(rp_engine *engine, const rp_route_knowledge *route,
                                  rp_error *err);

#ifdef __cplusplus
}
#endif

#endif /* RAMPART_H */
