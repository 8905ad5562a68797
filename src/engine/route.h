/*
 * route.h -- the route inventory: raw paths to templates, with per-route
 * traffic counters and learned norms.
 *
 * "/users/123/orders" becomes "/users/{id}/orders": a segment is a
 * parameter when it is numeric, a UUID, long hex, or a long opaque token
 * (mixed letters and digits). Declared templates (OpenAPI import or the
 * config) are matched first and carry their class; anything else is
 * learned. The inventory is bounded (config max_routes); requests past the
 * cap share one overflow route so that a scanner spraying random paths
 * cannot grow memory.
 *
 * A learned route is *admitted* once it has served a success (2xx/3xx) or
 * been requested by RP_ROUTE_ADMIT_CLIENTS distinct clients; until then it
 * is a probe candidate, and its slot may be recycled for a newer path
 * (route.c, "probes"). Admitted and declared routes are never evicted, so
 * a wordlist run of 404s cannot crowd real routes out. A route pointer is
 * therefore valid for the event it was looked up for, not across events:
 * keep the route's hash (its identity: method + template) instead.
 */
#ifndef RP_ROUTE_H
#define RP_ROUTE_H

#include "rampart.h"
#include "norm.h"
#include "window.h"
#include "hll.h"

/* Norms kept per route and for the whole site; detectors feed and read
 * them. */
typedef enum rp_norm_kind {
    RP_NORM_CLIENT_RATE_MIN = 0, /* a client's requests in a closed minute on the site */
    RP_NORM_RESPONSE_BYTES,      /* per request */
    RP_NORM_REQUEST_BYTES,       /* per request */
    RP_NORM_UPSTREAM_US,         /* per request */
    RP_NORM_CLIENT_DISTINCT,     /* distinct paths of a client, sampled per client-minute */
    RP_NORM_ROUTE_RATE_10S,      /* the route's requests per 10 s */
    RP_NORM_COUNT
} rp_norm_kind;

#define RP_ROUTE_TEMPLATE_MAX 256

typedef struct rp_route {
    uint64_t hash;              /* of method + template; 0 = free slot */
    uint32_t id;                /* index in the inventory */
    uint8_t method;             /* rp_method; RP_METHOD_OTHER = any */
    uint8_t cls;                /* rp_route_class */
    uint8_t declared;
    uint8_t overflow;           /* the shared route past the cap */
    uint8_t referenced;         /* looked up since the probe hand last passed (CLOCK bit) */
    uint8_t admitted;           /* restored knowledge says it answered (rp_inventory_restore) */
    uint32_t gen;               /* bumped each time the slot is recycled for another path */
    char template_[RP_ROUTE_TEMPLATE_MAX];
    int profile;                /* index of the profile attached */
    uint32_t skip_detectors;    /* bit per detector index: exceptions scoped to this route */
    uint64_t requests;
    uint64_t errors;            /* 4xx + 5xx */
    uint64_t not_found;         /* 404 */
    uint64_t successes;         /* 2xx + 3xx */
    uint64_t flagged;
    rp_hll clients;
    rp_window rate_10s;         /* route requests, 10 s buckets */
    rp_norm norm[RP_NORM_COUNT];
    /* For auth routes answering every failure alike: the most common
     * (status, response size) answer of POSTs, learned. */
    uint32_t common_answer;     /* status << 20 | size bucket */
    uint32_t common_answer_votes;
    /* rp_route_scope of the template, kept for the route whose hash is
     * scope_for (engine.c): 0 = the route has no scope. */
    uint64_t scope, scope_for;
} rp_route;

typedef struct rp_inventory rp_inventory;

/* The declared routes come from the config (it holds the OpenAPI
 * import too). */
struct rp_config;
rp_status rp_inventory_new(const struct rp_config *config, rp_inventory **out, rp_error *err);
void rp_inventory_free(rp_inventory *inv);
/* Re-attach profiles and exceptions after a reload. */
void rp_inventory_configure(rp_inventory *inv, const struct rp_config *config);
/* Never NULL: past the cap, the overflow route. */
rp_route *rp_inventory_lookup(rp_inventory *inv, rp_method method, const char *path, size_t len);
rp_route *rp_inventory_site(rp_inventory *inv); /* site-wide norms */
/* Slots in use (declared, learned -- admitted or not -- and the overflow
 * route): the bound for rp_inventory_at. */
size_t rp_inventory_count(const rp_inventory *inv);
rp_route *rp_inventory_at(rp_inventory *inv, size_t i);
uint64_t rp_inventory_overflow_hits(const rp_inventory *inv);

/* Distinct clients after which a learned route that has never succeeded
 * is admitted all the same (a login under a distributed attack answering
 * only 401, a favicon the site lacks): a wordlist run comes from one or a
 * few clients, each path asked once. */
#define RP_ROUTE_ADMIT_CLIENTS 8
/* Is the route part of the site's real surface (declared, the overflow
 * route, or a learned route that has been admitted)? Only grows true. */
bool rp_inventory_admitted(const rp_route *r);
/* The routes that count: slots holding an admitted route. O(count). */
size_t rp_inventory_routes(const rp_inventory *inv);
/* Learned probe paths whose slot was recycled for another path. */
uint64_t rp_inventory_recycled(const rp_inventory *inv);
/* The probe candidates summed into one pseudo-route "(probes)": those in
 * their slots now and those recycled (requests, errors, not_found,
 * flagged, clients). For listings; never a lookup result. */
void rp_inventory_probes(const rp_inventory *inv, rp_route *out);
/* Rules with cidrs are exceptions for some clients only, so they cannot be
 * folded into the route: the first such rule that matches the route and
 * the client, or NULL. One load when the route has none. At most
 * RP_MAX_SCOPED_RULES client-scoped rules are considered. */
#define RP_MAX_SCOPED_RULES 64
struct rp_route_rule;
const struct rp_route_rule *rp_inventory_client_rule(const rp_inventory *inv, const rp_route *route,
                                                     const rp_addr *client);

/* Write the template of path into buf (NUL-terminated); returns length.
 * Pure function of the path, used for learned routes. */
size_t rp_route_learn_template(const char *path, size_t len, char *buf, size_t size);
/* Does path match template ("{x}" matches one segment, a trailing "*" any
 * suffix)? */
bool rp_route_template_match(const char *template_, const char *path, size_t len);
/* Guess the class of a template from its words and the method. */
rp_route_class rp_route_guess_class(rp_method method, const char *template_);
rp_status rp_route_class_parse(const char *text, size_t len, rp_route_class *out);

/* Route knowledge across restarts (rampart.h, rp_engine_routes_export and
 * rp_engine_route_restore, which engine.c forwards here). */
void rp_inventory_export(const rp_inventory *inv,
                         bool (*fn)(void *user, const rp_route_knowledge *route), void *user);
rp_status rp_inventory_restore(rp_inventory *inv, const rp_route_knowledge *route,
                               rp_error *err);

/* The scope of a route for fingerprint-on-a-route decisions (engine.c):
 * false when the template is neither literal nor "/prefix/{param}". */
bool rp_route_scope(const char *template_, uint64_t *scope);

#endif
