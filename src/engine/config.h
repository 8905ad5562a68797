/*
 * config.h -- the configuration as the engine sees it, after parsing.
 *
 * rp_config is built either by rp_config_default() or by rp_config_parse()
 * (config_yaml.c, libyaml) and is plain data: fixed arrays with stated
 * caps, so a config can be copied, compared and freed without surprises.
 * Caps are checked by the parser and reported as errors, never truncated
 * silently.
 */
#ifndef RP_CONFIG_H
#define RP_CONFIG_H

#include "rampart.h"
#include "detector.h"

#define RP_MAX_PROFILES 16
#define RP_MAX_RULES 256
#define RP_MAX_CIDRS 1024
#define RP_MAX_TOKENS 1024
#define RP_MAX_DECLARED 4096
#define RP_NAME_MAX 32
#define RP_MAX_SENDERS 16 /* users, groups or syslog sources allowed to send events */

typedef struct rp_detector_settings {
    bool enabled;
    double weight;
    double params[RP_MAX_PARAMS];
} rp_detector_settings;

typedef struct rp_profile_config {
    char name[RP_NAME_MAX];
    rp_tolerance tolerance;
    rp_detector_settings detectors[RP_MAX_DETECTORS]; /* by registry index */
    double monitor_at;  /* combined score 0..100 at which each reaction starts; */
    double throttle_at; /* a value above 100 disables that reaction */
    double block_at;
    int64_t throttle_us;        /* first-offense durations */
    int64_t block_us;
    double escalation;          /* duration multiplier per repeat offense */
    int64_t max_duration_us;
    uint32_t escalate_after;    /* offenses after which throttle becomes block */
} rp_profile_config;

typedef struct rp_cidr {
    rp_addr net;    /* masked */
    uint8_t prefix; /* 0..128 on the mapped form */
} rp_cidr;

/* "METHOD /glob" -> profile, class, and detectors to skip. */
typedef struct rp_route_rule {
    uint8_t method;             /* RP_METHOD_OTHER = any */
    char glob[RP_ROUTE_TEMPLATE_MAX]; /* template or glob with a trailing * */
    int profile;                /* -1 = keep */
    int cls;                    /* rp_route_class or -1 = guess */
    uint32_t skip_detectors;    /* bit per detector index */
    int n_cidrs;                /* exception scoped to these clients; 0 = all */
    rp_cidr cidrs[8];
} rp_route_rule;

typedef struct rp_declared_route {
    uint8_t method;             /* RP_METHOD_OTHER = any */
    char template_[RP_ROUTE_TEMPLATE_MAX];
    int cls;                    /* rp_route_class or -1 = guess */
} rp_declared_route;

/* The daemon's settings (`serve:` in the YAML); the engine ignores them. */
typedef struct rp_serve_config {
    char socket_path[256];   /* unix datagram socket for the nginx module; "" = off */
    char syslog_listen[64];  /* "127.0.0.1:5514"; "" = off */
    int n_tail;
    char tail[4][256];       /* access logs to follow */
    bool tail_from_start;    /* read what is already in a tailed file first */
    char tail_format[16];    /* "auto", "combined", "json" */
    char table_path[256];    /* the decision table file */
    uint32_t table_capacity;
    char store_path[256];    /* SQLite database */
    char admin_listen[64];   /* "127.0.0.1:9090" */
    char token_file[256];    /* bearer token for changes; "" = changes refused */
    uint64_t queue_bytes;    /* ingest -> engine queue */
    int64_t keep_incidents_us; /* retention; 0 = forever */
    int64_t keep_decisions_us;
    bool log_json;           /* daemon log lines as JSON */
    /* The admin API's defences (docs/security.md). */
    int n_admin_hosts;
    char admin_hosts[8][128];  /* Host: names answered besides the bind address, localhost */
    uint32_t admin_connections;      /* open connections per listener */
    uint32_t admin_per_address;      /* of which one client address may hold */
    int64_t admin_request_timeout_us; /* a request's headers and body arrive within it */
    char check_listen[64];     /* a listener of its own for /v1/check; "" = off */
    int n_check_proxies;
    rp_cidr check_proxies[16]; /* peers whose client header /v1/check believes */
    bool check_real_ip;        /* that header is X-Real-IP, not X-Forwarded-For */
    /* Who may send events (docs/deployment.md, "The event socket and its
     * senders"). Names are resolved by the daemon when it starts. */
    char socket_group[32];     /* group of the socket file; "" = the group of the
                                  nginx worker user (www-data, else nginx) */
    uint32_t socket_mode;      /* permission bits of the socket file: 0660 */
    int n_socket_users;
    char socket_users[RP_MAX_SENDERS][32];  /* user names or uids that may send,
                                               besides root and the daemon's user */
    int n_socket_groups;
    char socket_groups[RP_MAX_SENDERS][32]; /* groups (a sender's primary group) that
                                               may send, besides the socket's */
    int n_syslog_allow;
    rp_cidr syslog_allow[RP_MAX_SENDERS];   /* syslog source addresses accepted */
} rp_serve_config;

/* Fleet mode on Redis (`cluster:` in the YAML, docs/cluster.md); the
 * engine ignores it. standalone = no Redis at all, as before. */
typedef enum rp_cluster_role {
    RP_CLUSTER_STANDALONE = 0, /* one host, no Redis */
    RP_CLUSTER_EDGE,           /* forward events to Redis, mirror the fleet's decisions */
    RP_CLUSTER_DETECTOR        /* read the fleet's events, run the engine, publish decisions */
} rp_cluster_role;

#define RP_CLUSTER_MAX_SENTINELS 8
/* A node's name (cluster.node): 1..64 bytes of [A-Za-z0-9._-], a hostname
 * or a label; the one rule, for the YAML and for the names read from
 * Redis. */
#define RP_NODE_NAME_MAX 64
bool rp_node_name_char(int ch);
bool rp_node_name_valid(const char *name, size_t len);
#define RP_CLUSTER_MAX_SEEDS 16
/* Redis Cluster's slots (docs/cluster.md#redis-cluster). */
#define RP_REDIS_SLOTS 16384

typedef struct rp_cluster_config {
    rp_cluster_role role;
    char redis[256];         /* "host:port" or a unix socket path ("/..."); "" = none */
    char password_file[256]; /* Redis AUTH password, read at start; "" = no AUTH */
    char stream[128];        /* the events stream */
    char group[128];         /* the detectors' consumer group */
    char decisions[128];     /* key prefix: <p> hash, <p>:expiry zset, <p>:changes stream */
    uint32_t stream_maxlen;  /* XADD MAXLEN ~ bound of the events stream */
    char consumer[64];       /* detector's stable name in the group; "" = host-<store hash> */
    uint32_t lease_ms;       /* the active detector's lease (SET NX PX), renewed at 1/3 */
    uint32_t claim_idle_ms;  /* XAUTOCLAIM a dead consumer's entries idle this long */
    char user[128];          /* Redis ACL user (AUTH user password); "" = AUTH password only */
    uint32_t buffer_mb;      /* edge: events kept while Redis is unreachable (MiB); 0 = none */
    uint32_t spool_sync_ms;  /* edge: the buffer's filling segment fdatasync'ed at most this
                                often; 0 = at every pop (a complete one always is) */
    bool local_detection;    /* edge: run its own engine while Redis is unreachable */
    uint32_t partitions;     /* N event streams <stream>:<p>, p = hash(client /24|/48) mod N;
                                1 = the one stream <stream> */
    /* Redis Sentinel (docs/cluster.md): the master is asked of these, in
     * turn, on every (re)connect; exclusive with redis. */
    char sentinels[RP_CLUSTER_MAX_SENTINELS][128]; /* "host:port" each */
    unsigned n_sentinels;
    char master_name[128];   /* the master's name in the sentinels (default rampart) */
    /* The sentinels' own AUTH (requirepass, or an ACL user, in
     * sentinel.conf); "" = the sentinels are asked without AUTH. */
    char sentinel_user[128];
    char sentinel_password_file[256];
    /* Redis Cluster (docs/cluster.md#redis-cluster): seed nodes; the slot
     * map is read from them (and from the nodes it names) on every
     * (re)connect. Exclusive with redis and sentinels. Every key of the
     * fleet hashes to one slot (rp_cluster_one_slot). */
    char cluster_nodes[RP_CLUSTER_MAX_SEEDS][128]; /* "host:port" each */
    unsigned n_cluster_nodes;
    /* After each publisher batch, WAIT <wait_replicas> <wait_ms> (docs/cluster.md#redis-
     * sentinel); 0 = no WAIT. Default 1 when sentinels are named, else 0. */
    uint32_t wait_replicas;
    uint32_t wait_ms;        /* WAIT's timeout (default 100) */
    /* Configuration as code (docs/cluster.md#configuration-as-code): the
     * hash holding the fleet's YAML; node-local, since a node needs it to
     * find the fleet's file. */
    char config_key[128];
    /* Bit i: the file named rp_cluster_fleet_keys[i] (a fleet file's merge
     * takes only the keys it names). */
    uint32_t named;
    /* Fleet view (docs/cluster.md#fleet-view): this node's name, written
     * with its events and incidents; "" = the machine's hostname. */
    char node[RP_NODE_NAME_MAX + 1];
    uint32_t incidents_maxlen; /* XADD MAXLEN ~ of <decisions>:incidents */
} rp_cluster_config;

/* Alerts (`alerts:` in the YAML, docs/alerts.md); the engine ignores
 * them. Each webhook gets a JSON document (with a Slack-compatible
 * "text") for the decisions its filter lets through. */
#define RP_MAX_WEBHOOKS 8
#define RP_WEBHOOK_MAX_HEADERS 8

typedef struct rp_webhook_config {
    char name[64];            /* in metrics and logs (the URL is a secret); "" = the URL's host */
    char url[512];            /* http:// or https:// */
    uint32_t reactions;       /* bit (1 << rp_action) per reaction: throttle, block */
    double min_score;         /* engine decisions below it are not sent (0..100) */
    uint32_t detectors;       /* bit per detector index: at least one of them among the
                                 decision's findings; 0 = any */
    bool manual;              /* manual decisions (the admin API) too */
    int64_t timeout_us;       /* one attempt, connection included */
    int n_headers;
    char header_names[RP_WEBHOOK_MAX_HEADERS][64];
    char header_values[RP_WEBHOOK_MAX_HEADERS][256]; /* the value, or the file holding it */
    bool header_from_file[RP_WEBHOOK_MAX_HEADERS];   /* read by the daemon at start and reload */
} rp_webhook_config;

typedef struct rp_alerts_config {
    char public_url[256];     /* the dashboard's base as people reach it; "" = the admin listener */
    char node[64];            /* this daemon's name in the documents; "" = the host name */
    uint32_t queue;           /* deliveries waiting, all webhooks; past it the oldest goes */
    uint32_t retries;         /* attempts after the first */
    int64_t backoff_us;       /* before the first retry; doubled for each next one */
    int64_t max_backoff_us;   /* the doubling stops here */
    uint32_t connections;     /* attempts in flight to one webhook at once */
    int n_webhooks;
    rp_webhook_config webhooks[RP_MAX_WEBHOOKS];
} rp_alerts_config;

struct rp_config {
    char source[256];                      /* file name, for messages */
    uint32_t capacity[RP_LEVEL_COUNT];     /* client table caps per key level */
    bool level_enabled[RP_LEVEL_COUNT];
    uint32_t max_routes;
    bool route_decisions;                  /* decide swarms' fingerprints on a route */
    bool learn_routes;
    int64_t norm_period_us;                /* half-life of the learned norms */
    int default_profile;
    int n_profiles;
    rp_profile_config profiles[RP_MAX_PROFILES];
    int n_rules;
    rp_route_rule rules[RP_MAX_RULES];
    int n_declared;
    rp_declared_route *declared;           /* owned; RP_MAX_DECLARED at most */
    int n_allow_cidrs;
    rp_cidr allow_cidrs[RP_MAX_CIDRS];
    int n_allow_tokens;
    uint64_t allow_tokens[RP_MAX_TOKENS];  /* rp_hash64 of the token text */
    int n_trusted_proxies;
    rp_cidr trusted_proxies[64];
    char session_cookie[64];               /* name of the session cookie/header, "" = none */
    char username_field[64];               /* login body field (nginx module) */
    char openapi_path[256];                /* inventory.openapi, resolved against the
                                              config file's directory; "" = none. The
                                              CLI loads it (the engine does no I/O). */
    rp_serve_config serve;                 /* `serve:` -- the daemon's; the engine ignores it */
    rp_cluster_config cluster;             /* `cluster:` -- the daemon's, too */
    rp_alerts_config alerts;               /* `alerts:` -- the daemon's webhooks */
};

/* The Redis Cluster slot of a key: CRC16-XMODEM mod 16384 of the key, or
 * of its hash tag (the bytes between the first '{' and the first '}'
 * after it, when there are any) -- the cluster specification's rule. */
unsigned rp_redis_keyslot(const char *key, size_t len);
/* With cluster.redis_cluster, true when every key the fleet uses (the
 * stream or its partitions, their leases, the detectors' set, the
 * decisions' hash, expiry set and change stream) is in one slot; else
 * false and why (the two names whose slots differ). *slot: the slot. */
bool rp_cluster_one_slot(const rp_cluster_config *cl, unsigned *slot, char *why, size_t size);

/* Fill a profile with the detectors' presets for a tolerance. */
void rp_profile_defaults(rp_profile_config *profile, const char *name, rp_tolerance tolerance);
rp_status rp_cidr_parse(const char *text, size_t len, rp_cidr *out);
bool rp_cidr_contains(const rp_cidr *cidr, const rp_addr *addr);
/* Add the paths of an OpenAPI 3 document (JSON or YAML) as declared
 * routes. */
/* Is the YAML text's nesting at most max_depth levels? Reads its events
 * only (libyaml's loader is quadratic in the depth, config_yaml.c); on
 * false, *line and *col say where the level past the bound starts. A
 * syntax error is left to the loader (true). */
bool rp_yaml_depth_ok(const char *text, size_t len, int max_depth, int *line, int *col);

rp_status rp_config_add_openapi(rp_config *config, const char *text, size_t len, const char *name,
                                rp_error *err);
rp_config *rp_config_clone(const rp_config *config);
/* Like rp_config_parse but reports EVERY mistake through on_error (for
 * `rampart check-config`); RP_OK when there was none, else RP_EINVAL. */
rp_status rp_config_check(const char *text, size_t len, const char *name,
                          void (*on_error)(void *user, const rp_error *e), void *user);
/* Append a declared route; "{anything}" segments become "{id}" so declared
 * and learned templates compare equal. A duplicate (method + template) is
 * ignored. RP_ENOMEM past RP_MAX_DECLARED, RP_EINVAL for a bad template. */
rp_status rp_config_declare(rp_config *config, uint8_t method, const char *template_, size_t len,
                            int cls);

/*
 * Fleet mode's configuration as code (docs/cluster.md#configuration-as-code).
 * A fleet file is a configuration file whose fleet-wide parts -- the
 * detection policy (rp_config_fleet_sections) and the cluster keys every
 * node must share (rp_cluster_fleet_keys) -- replace a node's; everything
 * else (serve:, the other cluster keys: role, consumer, Redis address and
 * credentials, config_key, and any other section) stays the node's own.
 */
typedef struct rp_fleet_field {
    const char *name;
    size_t offset, size; /* in rp_cluster_config */
} rp_fleet_field;
extern const char *const rp_config_fleet_sections[];
extern const size_t rp_config_n_fleet_sections;
extern const rp_fleet_field rp_cluster_fleet_keys[];
extern const size_t rp_cluster_n_fleet_keys;
/* The node's configuration with the fleet's fleet-wide parts: policy
 * sections whole from fleet (a section the fleet file leaves out is the
 * defaults, as in any file), the fleet cluster keys fleet names, the rest
 * from node. NULL when out of memory. */
rp_config *rp_config_merge_fleet(const rp_config *node, const rp_config *fleet);
/* rp_config_check for a fleet file: the same errors, and besides, a
 * fleet file must have a cluster: section, and every node-local key in it
 * is reported through on_warning (the nodes ignore it). */
rp_status rp_config_check_fleet(const char *text, size_t len, const char *name,
                                void (*on_error)(void *user, const rp_error *e),
                                void (*on_warning)(void *user, const rp_error *e), void *user);
/* rp_config_parse for a fleet file's text as a node reads it: name
 * locates errors ("fleet config v7"), relative paths resolve against
 * base's directory (the node's own file; NULL = name's). */
rp_status rp_config_parse_fleet(const char *text, size_t len, const char *name, const char *base,
                                rp_config **out, rp_error *err);

#endif
