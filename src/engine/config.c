/*
 * config.c -- the built-in configuration and the small helpers around it:
 * profile presets, cloning, CIDR parsing and matching, declared routes.
 *
 * rp_config is plain data with fixed arrays (see config.h), so defaults,
 * clones and comparisons are simple. The one heap part is the declared
 * route list, which an OpenAPI import can make long (up to RP_MAX_DECLARED
 * entries of ~260 bytes): keeping it out of the struct keeps a default
 * config small. Its capacity is a pure function of its length (a power of
 * two, at least 16), so a clone needs no extra field to know when to grow.
 *
 * The YAML reader is in config_yaml.c, the OpenAPI import in openapi.c.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

/* ------------------------------------------------------------- profiles */

/* Reaction thresholds by tolerance: a higher sensitivity reacts to lower
 * combined scores. */
static const double reaction_preset[RP_TOLERANCE_COUNT][3] = {
    {50, 70, 90}, /* low */
    {40, 60, 80}, /* normal */
    {30, 50, 70}, /* high */
};

#define SECOND_US INT64_C(1000000)

void rp_profile_defaults(rp_profile_config *profile, const char *name, rp_tolerance tolerance) {
    if ((unsigned)tolerance >= RP_TOLERANCE_COUNT) tolerance = RP_TOLERANCE_NORMAL;
    memset(profile, 0, sizeof *profile);
    snprintf(profile->name, sizeof profile->name, "%s", name ? name : "");
    profile->tolerance = tolerance;
    for (unsigned d = 0; d < rp_detector_count; d++) {
        const rp_detector *det = rp_detectors[d];
        rp_detector_settings *s = &profile->detectors[d];
        s->enabled = true;
        s->weight = det->default_weight;
        for (unsigned p = 0; p < det->n_params && p < RP_MAX_PARAMS; p++)
            s->params[p] = det->params[p].preset[tolerance];
    }
    profile->monitor_at = reaction_preset[tolerance][0];
    profile->throttle_at = reaction_preset[tolerance][1];
    profile->block_at = reaction_preset[tolerance][2];
    profile->throttle_us = 5 * 60 * SECOND_US;
    profile->block_us = 15 * 60 * SECOND_US;
    profile->escalation = 2.0;
    profile->max_duration_us = 24 * 3600 * SECOND_US;
    /* A key throttled twice is blocked on its third offense. */
    profile->escalate_after = 2;
}

/* --------------------------------------------------------------- config */

/* The daemon's defaults: the nginx module's socket on, syslog and tail
 * off, state under /run (the table: lost at reboot with the decisions it
 * mirrors, restored from the store) and /var/lib (the store). Changes
 * through the admin API stay refused until a token file is configured. */
static void serve_defaults(rp_serve_config *sv) {
    snprintf(sv->socket_path, sizeof sv->socket_path, "/run/rampart/events.sock");
    snprintf(sv->tail_format, sizeof sv->tail_format, "auto");
    snprintf(sv->table_path, sizeof sv->table_path, "/run/rampart/decisions.tbl");
    sv->table_capacity = 65536;
    snprintf(sv->store_path, sizeof sv->store_path, "/var/lib/rampart/rampart.db");
    snprintf(sv->admin_listen, sizeof sv->admin_listen, "127.0.0.1:9090");
    sv->queue_bytes = UINT64_C(64) << 20;
    sv->keep_incidents_us = INT64_C(30) * 86400 * SECOND_US;
    sv->keep_decisions_us = INT64_C(90) * 86400 * SECOND_US;
    /* Enough for a busy nginx's auth_request subrequests; a flood past it
     * pushes out the oldest connections that have not sent a request. */
    sv->admin_connections = 1024;
    sv->admin_per_address = 256;
    sv->admin_request_timeout_us = 10 * SECOND_US;
    /* nginx on the same machine: its X-Forwarded-For's last hop is the client. */
    rp_cidr_parse("127.0.0.0/8", 11, &sv->check_proxies[0]);
    rp_cidr_parse("::1/128", 7, &sv->check_proxies[1]);
    sv->n_check_proxies = 2;
    /* Events decide who is blocked: only nginx (the socket's group), root
     * and the daemon's own user may send them, and syslog only from this
     * machine's loopback. */
    sv->socket_mode = 0660;
    rp_cidr_parse("127.0.0.1", 9, &sv->syslog_allow[0]);
    rp_cidr_parse("::1", 3, &sv->syslog_allow[1]);
    sv->n_syslog_allow = 2;
}

bool rp_node_name_char(int ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '.' || ch == '_' || ch == '-';
}

bool rp_node_name_valid(const char *name, size_t len) {
    if (!name || len == 0 || len > RP_NODE_NAME_MAX) return false;
    for (size_t i = 0; i < len; i++)
        if (!rp_node_name_char((unsigned char)name[i])) return false;
    return true;
}

/* Standalone unless asked: a fleet is opted into, with the names
 * docs/cluster.md uses. One million events (~200 MB of Redis at ~200
 * bytes an event) is minutes of a busy fleet: the stream is a pipe to
 * the detectors, not an archive. */
static void cluster_defaults(rp_cluster_config *cl) {
    cl->role = RP_CLUSTER_STANDALONE;
    snprintf(cl->stream, sizeof cl->stream, "rampart:events");
    snprintf(cl->group, sizeof cl->group, "rampart-detectors");
    snprintf(cl->decisions, sizeof cl->decisions, "rampart:decisions");
    cl->stream_maxlen = 1000000;
    /* Takeover within 5 s of a kill -9 (docs/cluster.md): the lease
     * expires within 2 s, the dead detector's entries are claimed once
     * idle 3 s. */
    cl->lease_ms = 2000;
    cl->claim_idle_ms = 3000;
    /* An outage of minutes on a busy edge (~150 bytes an event: ~440,000
     * events), forwarded when Redis returns; oldest dropped past it. */
    cl->buffer_mb = 64;
    /* A host crash loses at most a second of an outage's events; a flood
     * into the buffer pays one disk flush a second, not one a pop. */
    cl->spool_sync_ms = 1000;
    cl->local_detection = false;
    /* One stream, one active detector (docs/cluster.md, partitioning). */
    cl->partitions = 1;
    /* The fleet's incidents in Redis (docs/cluster.md#fleet-view): a few
     * KiB each, so ~50 MB at most; a restarted node reads them again. */
    cl->incidents_maxlen = 10000;
    snprintf(cl->master_name, sizeof cl->master_name, "rampart");
    /* No WAIT without sentinels (no failover to lose a decision to); the
     * YAML walk sets 1 when it names sentinels and wait_replicas is unset. */
    cl->wait_replicas = 0;
    cl->wait_ms = 100;
    snprintf(cl->config_key, sizeof cl->config_key, "rampart:config");
}

/* CRC16 as Redis Cluster uses it (XMODEM: polynomial 0x1021, initial 0,
 * no reflection, no final xor), bit by bit: it runs on a few key names
 * at start and connect, never per event, so no table. */
static uint16_t crc16_xmodem(const char *s, size_t len) {
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint8_t)s[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned rp_redis_keyslot(const char *key, size_t len) {
    const char *open = memchr(key, '{', len);
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', len - from);
        /* "{}" (nothing between) hashes the whole key, as Redis does */
        if (close && close > key + from)
            return crc16_xmodem(key + from, (size_t)(close - key) - from) % RP_REDIS_SLOTS;
    }
    return crc16_xmodem(key, len) % RP_REDIS_SLOTS;
}

/* The names are built as the daemon builds them (cluster.c,
 * cluster_lease.c: <stream>[:<p>][:lease], <stream>:detectors,
 * <decisions>[:expiry|:changes]); the first one's slot is the fleet's. */
bool rp_cluster_one_slot(const rp_cluster_config *cl, unsigned *slot, char *why, size_t size) {
    char first[192], name[192];
    snprintf(first, sizeof first, "%s", cl->decisions);
    unsigned want = rp_redis_keyslot(first, strlen(first));
    if (slot) *slot = want;
    unsigned n = cl->partitions > 1 ? cl->partitions : 1;
    /* 3 decision keys, the detectors' set, then a stream and its lease
     * per partition */
    for (unsigned k = 0; k < 4 + 2 * n; k++) {
        unsigned p = (k - 4) / 2;
        bool lease = k >= 4 && (k - 4) % 2;
        if (k == 0) snprintf(name, sizeof name, "%s", cl->decisions);
        else if (k == 1) snprintf(name, sizeof name, "%s:expiry", cl->decisions);
        else if (k == 2) snprintf(name, sizeof name, "%s:changes", cl->decisions);
        else if (k == 3) snprintf(name, sizeof name, "%s:detectors", cl->stream);
        else if (n == 1) snprintf(name, sizeof name, "%s%s", cl->stream, lease ? ":lease" : "");
        else snprintf(name, sizeof name, "%s:%u%s", cl->stream, p, lease ? ":lease" : "");
        unsigned s = rp_redis_keyslot(name, strlen(name));
        if (s != want) {
            snprintf(why, size, "'%s' is in slot %u and '%s' in slot %u", first, want, name, s);
            return false;
        }
    }
    return true;
}

/* No webhook until one is configured. A delivery is tried 1 + 5 times,
 * 1, 2, 4, 8 and 16 s apart (a receiver restarting within half a minute
 * loses nothing); 1,000 waiting deliveries are a surge of blocks several
 * minutes long at Slack's one message a second. */
static void alerts_defaults(rp_alerts_config *al) {
    al->queue = 1000;
    al->retries = 5;
    al->backoff_us = SECOND_US;
    al->max_backoff_us = 300 * SECOND_US;
    al->connections = 2;
}

rp_config *rp_config_default(void) {
    rp_config *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->capacity[RP_LEVEL_IP] = 262144;
    c->capacity[RP_LEVEL_SUBNET] = 65536;
    c->capacity[RP_LEVEL_FINGERPRINT] = 65536;
    c->capacity[RP_LEVEL_TOKEN] = 65536;
    c->capacity[RP_LEVEL_SESSION] = 65536;
    c->capacity[RP_LEVEL_USERNAME] = 131072;
    /* The other levels are parsed and sized but not yet watched. */
    c->level_enabled[RP_LEVEL_IP] = true;
    c->level_enabled[RP_LEVEL_USERNAME] = true;
    /* Swarms: many addresses sharing a browser fingerprint or a /24. */
    c->level_enabled[RP_LEVEL_FINGERPRINT] = true;
    c->level_enabled[RP_LEVEL_SUBNET] = true;
    /* API keys and sessions: leaked credentials, ids walked with one key. */
    c->level_enabled[RP_LEVEL_TOKEN] = true;
    c->level_enabled[RP_LEVEL_SESSION] = true;
    c->max_routes = 4096;
    c->route_decisions = true;
    c->learn_routes = true;
    c->norm_period_us = 3600 * SECOND_US;
    c->default_profile = 0;
    c->n_profiles = 1;
    rp_profile_defaults(&c->profiles[0], "default", RP_TOLERANCE_NORMAL);
    snprintf(c->username_field, sizeof c->username_field, "username");
    serve_defaults(&c->serve);
    cluster_defaults(&c->cluster);
    alerts_defaults(&c->alerts);
    return c;
}

/* Capacity of the declared array holding n routes (see the top comment). */
static size_t declared_capacity(size_t n) {
    if (n == 0) return 0;
    size_t cap = 16;
    while (cap < n) cap *= 2;
    return cap;
}

rp_config *rp_config_clone(const rp_config *config) {
    if (!config) return NULL;
    rp_config *c = malloc(sizeof *c);
    if (!c) return NULL;
    memcpy(c, config, sizeof *c);
    c->declared = NULL;
    if (config->n_declared > 0) {
        size_t cap = declared_capacity((size_t)config->n_declared);
        c->declared = calloc(cap, sizeof *c->declared);
        if (!c->declared) {
            free(c);
            return NULL;
        }
        memcpy(c->declared, config->declared, (size_t)config->n_declared * sizeof *c->declared);
    }
    return c;
}

void rp_config_free(rp_config *config) {
    if (!config) return;
    free(config->declared);
    free(config);
}

/* ------------------------------------------------------- declared routes */

/* Copy template into out with every "{name}" written as "{id}". Returns the
 * length, or -1 when the template is not one we accept: it must start with
 * '/', hold no space, control byte or '*', and close every brace. */
static int normalise_template(const char *t, size_t len, char *out, size_t size) {
    if (len == 0 || t[0] != '/') return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)t[i];
        if (ch <= ' ' || ch == 0x7f || ch == '*' || ch == '}') return -1;
        if (ch == '{') {
            const char *close = memchr(t + i, '}', len - i);
            const char *slash = memchr(t + i, '/', len - i);
            if (!close || (slash && slash < close) || close == t + i + 1) return -1;
            if (o + 4 >= size) return -1;
            memcpy(out + o, "{id}", 4);
            o += 4;
            i = (size_t)(close - t);
            continue;
        }
        if (o + 1 >= size) return -1;
        out[o++] = (char)ch;
    }
    out[o] = 0;
    return (int)o;
}

rp_status rp_config_declare(rp_config *config, uint8_t method, const char *template_, size_t len,
                            int cls) {
    char norm[RP_ROUTE_TEMPLATE_MAX];
    if (normalise_template(template_, len, norm, sizeof norm) < 0) return RP_EINVAL;
    if (cls < -1 || cls >= RP_ROUTE_CLASS_COUNT) return RP_EINVAL;
    for (int i = 0; i < config->n_declared; i++) {
        const rp_declared_route *d = &config->declared[i];
        if (d->method == method && strcmp(d->template_, norm) == 0) return RP_OK;
    }
    if (config->n_declared >= RP_MAX_DECLARED) return RP_ENOMEM;
    size_t n = (size_t)config->n_declared;
    if (declared_capacity(n) == n) { /* full (or empty): grow */
        size_t cap = declared_capacity(n + 1);
        rp_declared_route *grown = realloc(config->declared, cap * sizeof *grown);
        if (!grown) return RP_ENOMEM;
        config->declared = grown;
    }
    rp_declared_route *d = &config->declared[n];
    memset(d, 0, sizeof *d);
    d->method = method;
    memcpy(d->template_, norm, strlen(norm) + 1);
    d->cls = cls;
    config->n_declared++;
    return RP_OK;
}

/* ------------------------------------------------------------------ cidr */

rp_status rp_cidr_parse(const char *text, size_t len, rp_cidr *out) {
    memset(out, 0, sizeof *out);
    if (!text || len == 0) return RP_EPARSE;
    const char *slash = memchr(text, '/', len);
    size_t alen = slash ? (size_t)(slash - text) : len;
    rp_addr addr;
    if (rp_addr_parse(text, alen, &addr) != RP_OK) return RP_EPARSE;
    unsigned max = addr.family == 4 ? 32 : 128;
    unsigned prefix = max;
    if (slash) {
        const char *p = slash + 1;
        size_t plen = len - alen - 1;
        if (plen == 0 || plen > 3) return RP_EPARSE;
        prefix = 0;
        for (size_t i = 0; i < plen; i++) {
            if (p[i] < '0' || p[i] > '9') return RP_EPARSE;
            prefix = prefix * 10 + (unsigned)(p[i] - '0');
        }
        if (prefix > max) return RP_ERANGE;
    }
    /* The mask applies to the mapped form: an IPv4 /8 is /104 there. */
    if (addr.family == 4) prefix += 96;
    for (unsigned bit = prefix; bit < 128; bit++)
        addr.bytes[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    out->net = addr;
    out->prefix = (uint8_t)prefix;
    return RP_OK;
}

bool rp_cidr_contains(const rp_cidr *cidr, const rp_addr *addr) {
    unsigned full = cidr->prefix / 8, rest = cidr->prefix % 8;
    if (full > 16) return false;
    if (memcmp(cidr->net.bytes, addr->bytes, full) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (addr->bytes[full] & mask) == cidr->net.bytes[full];
}

/* ----------------------------------------------------------- fleet merge */

/* The detection policy: what every detector of a fleet must judge alike.
 * The daemon's own settings (serve:, and any section not listed) are each
 * node's: where its files are, who it is, how it reaches Redis. */
const char *const rp_config_fleet_sections[] = {"engine", "inventory", "allow", "trusted_proxies",
                                                "session", "auth", "profiles", "routes"};
const size_t rp_config_n_fleet_sections =
    sizeof rp_config_fleet_sections / sizeof rp_config_fleet_sections[0];

/* The cluster keys every node must agree on (names of the streams and
 * keys, their shape and timing); the others -- role, consumer, the Redis
 * address or sentinels, credentials, config_key, the edge's buffer and
 * local detection -- are the node's. */
#define FLEET_KEY(field)                                                                          \
    {#field, offsetof(rp_cluster_config, field), sizeof(((rp_cluster_config *)0)->field)}
const rp_fleet_field rp_cluster_fleet_keys[] = {
    FLEET_KEY(stream),   FLEET_KEY(group),         FLEET_KEY(decisions),
    FLEET_KEY(stream_maxlen), FLEET_KEY(lease_ms), FLEET_KEY(claim_idle_ms),
    FLEET_KEY(partitions), FLEET_KEY(wait_replicas), FLEET_KEY(wait_ms),
    FLEET_KEY(incidents_maxlen),
};
#undef FLEET_KEY
const size_t rp_cluster_n_fleet_keys = sizeof rp_cluster_fleet_keys / sizeof rp_cluster_fleet_keys[0];

rp_config *rp_config_merge_fleet(const rp_config *node, const rp_config *fleet) {
    rp_config *out = rp_config_clone(node);
    if (!out) return NULL;
    /* The policy, section by section (rp_config_fleet_sections). A new
     * policy field of rp_config belongs here, or it stays node-local. */
    memcpy(out->capacity, fleet->capacity, sizeof out->capacity);           /* engine */
    memcpy(out->level_enabled, fleet->level_enabled, sizeof out->level_enabled);
    out->max_routes = fleet->max_routes;
    out->route_decisions = fleet->route_decisions;
    out->norm_period_us = fleet->norm_period_us;
    out->learn_routes = fleet->learn_routes;                                /* inventory */
    memcpy(out->openapi_path, fleet->openapi_path, sizeof out->openapi_path);
    free(out->declared);
    out->declared = NULL;
    out->n_declared = 0;
    for (int i = 0; i < fleet->n_declared; i++) {
        const rp_declared_route *r = &fleet->declared[i];
        if (rp_config_declare(out, r->method, r->template_, strlen(r->template_), r->cls) ==
            RP_ENOMEM) {
            rp_config_free(out);
            return NULL;
        }
    }
    out->n_allow_cidrs = fleet->n_allow_cidrs;                              /* allow */
    memcpy(out->allow_cidrs, fleet->allow_cidrs, sizeof out->allow_cidrs);
    out->n_allow_tokens = fleet->n_allow_tokens;
    memcpy(out->allow_tokens, fleet->allow_tokens, sizeof out->allow_tokens);
    out->n_trusted_proxies = fleet->n_trusted_proxies;                      /* trusted_proxies */
    memcpy(out->trusted_proxies, fleet->trusted_proxies, sizeof out->trusted_proxies);
    memcpy(out->session_cookie, fleet->session_cookie, sizeof out->session_cookie); /* session */
    memcpy(out->username_field, fleet->username_field, sizeof out->username_field); /* auth */
    out->default_profile = fleet->default_profile;                         /* profiles */
    out->n_profiles = fleet->n_profiles;
    memcpy(out->profiles, fleet->profiles, sizeof out->profiles);
    out->n_rules = fleet->n_rules;                                          /* routes */
    memcpy(out->rules, fleet->rules, sizeof out->rules);
    /* cluster: the fleet keys the fleet's file names; the node keeps the
     * rest, and its own value of a fleet key the file leaves out. */
    for (size_t k = 0; k < rp_cluster_n_fleet_keys; k++) {
        if (!(fleet->cluster.named & (1u << k))) continue;
        const rp_fleet_field *f = &rp_cluster_fleet_keys[k];
        memcpy((char *)&out->cluster + f->offset, (const char *)&fleet->cluster + f->offset,
               f->size);
    }
    snprintf(out->source, sizeof out->source, "%s", fleet->source);
    return out;
}
