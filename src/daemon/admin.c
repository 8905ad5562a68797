/*
 * admin.c -- the admin HTTP API of `rampart serve` (libmicrohttpd).
 *
 *   GET    /healthz                 liveness
 *   GET    /metrics                 Prometheus text format
 *   GET    /v1/stats                counters as JSON
 *   GET    /v1/incidents            stored incidents (filters, paging; group=key: per client)
 *   GET    /v1/incidents/{id}       one incident; a swarm's with its members
 *   GET    /v1/swarms               aggregate keys with incidents and their members
 *   GET    /v1/clients/{key}        live state, evidence and decision of a key
 *   GET    /v1/clients/{key}/members  the addresses of an aggregate key
 *   GET    /v1/decisions            active decisions (?history=1 from the store)
 *   POST   /v1/decisions            add a manual decision         (token)
 *   DELETE /v1/decisions/{key}      remove a decision             (token)
 *   GET    /v1/inventory            the routes seen
 *   POST   /v1/reload               reload the configuration      (token)
 *   GET    /v1/check                nginx auth_request, Envoy ext_authz, Traefik
 *                                   forwardAuth: 204 allow, 403 block, 429 throttle;
 *                                   a refusal says X-Rampart-Verdict: block|throttle
 *                                   for the proxy's access log (RP_EVENT_REFUSED)
 *
 * The routes are one table (admin_routes: method, path, token, handler);
 * 404 and 405 (with Allow) come from it. Every error is JSON
 * {"error": "..."} with a 4xx/5xx status. Requests are
 * bounded: bodies over 64 KiB get 413. The server listens where the config
 * says, 127.0.0.1 by default. docs/api.md documents each endpoint.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "admin_config.h"
#include "admin_guard.h"
#include "daemon.h"
#include "keys.h"
#include "store.h"
#include "ui.h"

#define RP_MAX_BODY (64 * 1024)
/* Request line and headers of one request: plenty for a browser or a proxy,
 * and a bound on what 1,024 connections can hold. */
#define RP_CONNECTION_MEMORY (32 * 1024)
/* Connections libmicrohttpd may hold beyond the guard's limit while pushed-out
 * ones close. */
#define RP_HEADROOM 64
/* Dashboard queries can take a while (what-if, top lists): more threads keep
 * one slow query from delaying the connections that share its thread. */
#define RP_ADMIN_THREADS 4u
#define RP_CHECK_THREADS 2u

typedef struct listener {
    struct MHD_Daemon *mhd;
    rp_admin_guard *guard;
    rp_admin *admin;
    bool check_only; /* serve.check.listen: /v1/check and /healthz only */
    char host[64];   /* the bind host as configured, for Host: checks */
    bool wildcard, loopback;
} listener;

struct rp_admin {
    rp_daemon *d;
    rp_serve_config serve; /* as started (serve: changes need a restart) */
    listener main, check;
};

typedef struct request_ctx {
    char *body;
    size_t len;
    bool too_large;
} request_ctx;

/* -------------------------------------------------------------- responses */

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type,
                                 const char *text, size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *o) {
    char *text = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!text) return send_text(c, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
    enum MHD_Result r = send_text(c, status, "application/json", text, strlen(text));
    free(text);
    return r;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg) {
    return send_json(c, status, json_pack("{s:s}", "error", msg));
}

static enum MHD_Result send_unauthorized(struct MHD_Connection *c, rp_daemon *d) {
    if (!rp_daemon_has_token(d))
        return send_error(c, 403, "changes through the API are disabled: set serve.token_file");
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen("{\"error\":\"a valid bearer token is required\"}"),
        (void *)"{\"error\":\"a valid bearer token is required\"}", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"rampart\"");
    enum MHD_Result ret = MHD_queue_response(c, 401, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---------------------------------------------------------------- helpers */

static const char *arg(struct MHD_Connection *c, const char *name) {
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

static const char *header(struct MHD_Connection *c, const char *name) {
    return MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
}

/* The last of a repeated header: a proxy appends, a client prepends. */
typedef struct last_header {
    const char *name, *value;
} last_header;

static enum MHD_Result keep_last(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
    (void)kind;
    last_header *h = cls;
    if (key && strcasecmp(key, h->name) == 0) h->value = value;
    return MHD_YES;
}

static const char *header_last(struct MHD_Connection *c, const char *name) {
    last_header h = {name, NULL};
    MHD_get_connection_values(c, MHD_HEADER_KIND, keep_last, &h);
    return h.value;
}

static bool sockaddr_to_addr(const struct sockaddr *sa, rp_addr *out) {
    char text[INET6_ADDRSTRLEN] = "";
    if (!sa) return false;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, text, sizeof text);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, text,
                  sizeof text);
    return text[0] && rp_addr_parse(text, strlen(text), out) == RP_OK;
}

static bool peer_addr(struct MHD_Connection *c, rp_addr *out) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    return ci && sockaddr_to_addr(ci->client_addr, out);
}

static bool is_loopback(const rp_addr *a) {
    static const uint8_t v6_loopback[16] = {[15] = 1};
    return (a->family == 4 && a->bytes[12] == 127) ||
           (a->family == 6 && memcmp(a->bytes, v6_loopback, 16) == 0);
}

/*
 * DNS rebinding: a page on evil.example whose name is made to resolve to
 * 127.0.0.1 can read the admin API from a browser on this machine; its
 * requests say "Host: evil.example". Names are answered only when they are
 * localhost or listed in serve.admin_hosts; an address is answered when it
 * is the bind address (any loopback address for a loopback bind, any
 * address for a wildcard bind: a rebinding page never has a literal
 * address in its Host). No Host at all (HTTP/1.0) is no browser.
 */
static bool host_allowed(const rp_admin *a, const listener *l, const char *host) {
    if (!host) return true;
    char name[160];
    size_t n = strlen(host);
    if (n >= sizeof name) return false;
    memcpy(name, host, n + 1);
    for (char *p = name; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
    char *bare = name;
    if (name[0] == '[') { /* [v6]:port */
        char *close = strchr(name, ']');
        if (!close || (close[1] && close[1] != ':')) return false;
        *close = 0;
        bare = name + 1;
    } else {
        char *colon = strchr(name, ':');
        if (colon && strchr(colon + 1, ':')) return false; /* a bare v6 is not a Host */
        if (colon) *colon = 0;
    }
    if (n && bare[strlen(bare) - 1] == '.') bare[strlen(bare) - 1] = 0; /* "localhost." */
    if (strcmp(bare, "localhost") == 0) return true;
    rp_addr addr;
    if (rp_addr_parse(bare, strlen(bare), &addr) == RP_OK) {
        if (l->wildcard) return true;
        if (l->loopback && is_loopback(&addr)) return true;
        rp_addr bound;
        return rp_addr_parse(l->host, strlen(l->host), &bound) == RP_OK &&
               memcmp(bound.bytes, addr.bytes, 16) == 0;
    }
    for (int i = 0; i < a->serve.n_admin_hosts; i++) {
        const char *h = a->serve.admin_hosts[i];
        if (strcasecmp(h, bare) == 0) return true;
    }
    return false;
}

/* Parse "30s", "15m", "2h", "1d" or plain seconds. */
static int64_t parse_duration(const char *s) {
    if (!s || !*s) return -1;
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v > 0)) return -1;
    double unit = 1;
    if (strcmp(end, "") == 0 || strcmp(end, "s") == 0) unit = 1;
    else if (strcmp(end, "m") == 0) unit = 60;
    else if (strcmp(end, "h") == 0) unit = 3600;
    else if (strcmp(end, "d") == 0) unit = 86400;
    else return -1;
    double us = v * unit * 1e6;
    return us > 4e17 ? -1 : (int64_t)us;
}

static int64_t parse_time_arg(const char *s, bool *bad) {
    /* microseconds since the epoch, or seconds with a fraction */
    if (!s) return 0;
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) {
        *bad = true;
        return 0;
    }
    return v > 1e14 ? (int64_t)v : (int64_t)(v * 1e6);
}

static bool parse_int_arg(const char *s, int min, int max, int *out) {
    if (!s) return true;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < min || v > max) return false;
    *out = (int)v;
    return true;
}

/* ------------------------------------------------------------- endpoints */

static enum MHD_Result get_incidents(struct MHD_Connection *c, rp_daemon *d) {
    rp_incident_query q;
    memset(&q, 0, sizeof q);
    bool bad = false;
    q.since_us = parse_time_arg(arg(c, "since"), &bad);
    q.until_us = parse_time_arg(arg(c, "until"), &bad);
    if (bad) return send_error(c, 400, "since and until are times in seconds since the epoch");
    q.detector = arg(c, "detector");
    if (q.detector && rp_detector_find(q.detector, strlen(q.detector)) < 0)
        return send_error(c, 400, "unknown detector");
    const char *action = arg(c, "action");
    if (action && (rp_action_parse(action, strlen(action), &q.action) != RP_OK ||
                   q.action == RP_ACTION_NONE))
        return send_error(c, 400, "action must be monitor, throttle, block or allow");
    q.route = arg(c, "route");
    q.key = arg(c, "key");
    q.threat = arg(c, "threat");
    q.limit = 100;
    if (!parse_int_arg(arg(c, "limit"), 1, 1000, &q.limit))
        return send_error(c, 400, "limit must be 1..1000");
    if (!parse_int_arg(arg(c, "offset"), 0, 1 << 30, &q.offset))
        return send_error(c, 400, "offset must be a non-negative integer");
    const char *order = arg(c, "order");
    if (order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
        return send_error(c, 400, "order must be asc or desc");
    q.ascending = order && strcmp(order, "asc") == 0;
    const char *group = arg(c, "group");
    if (group && strcmp(group, "key") != 0 && strcmp(group, "incident") != 0)
        return send_error(c, 400, "group must be key (one row per client) or incident");
    q.by_key = group && strcmp(group, "key") == 0;
    char *json = NULL;
    rp_error err = {0};
    if (rp_daemon_incidents(d, &q, &json, &err) != RP_OK) return send_error(c, 500, err.message);
    enum MHD_Result r = send_text(c, 200, "application/json", json, strlen(json));
    free(json);
    return r;
}

static bool key_from_path(const char *text, rp_key *key) {
    return text && *text && rp_key_parse(text, strlen(text), key) == RP_OK;
}

static enum MHD_Result post_decision(struct MHD_Connection *c, rp_daemon *d, request_ctx *rc) {
    json_error_t jerr;
    json_t *body = json_loadb(rc->body ? rc->body : "", rc->len, 0, &jerr);
    if (!body || !json_is_object(body)) {
        json_decref(body);
        char msg[300];
        snprintf(msg, sizeof msg, "the body must be a JSON object: %s", jerr.text);
        return send_error(c, 400, msg);
    }
    const char *keytext = json_string_value(json_object_get(body, "key"));
    const char *action = json_string_value(json_object_get(body, "action"));
    json_t *dur = json_object_get(body, "duration");
    const char *reason = json_string_value(json_object_get(body, "reason"));
    rp_key key;
    rp_action act;
    int64_t duration = -1;
    if (json_is_string(dur)) duration = parse_duration(json_string_value(dur));
    else if (json_is_number(dur)) duration = (int64_t)(json_number_value(dur) * 1e6);
    else if (!dur) duration = 3600 * 1000000LL;
    enum MHD_Result r;
    if (!key_from_path(keytext, &key))
        r = send_error(c, 400, "key must be like \"ip:203.0.113.7\", \"subnet:198.51.100.0/24\", "
                               "\"token:0123456789abcdef\"");
    else if (!action || rp_action_parse(action, strlen(action), &act) != RP_OK ||
             (act != RP_ACTION_BLOCK && act != RP_ACTION_THROTTLE && act != RP_ACTION_ALLOW))
        r = send_error(c, 400, "action must be block, throttle or allow");
    else if (duration <= 0)
        r = send_error(c, 400, "duration must be a positive number of seconds or like \"15m\"");
    else if (reason && strlen(reason) > 500)
        r = send_error(c, 400, "reason is limited to 500 characters");
    else {
        rp_decision dec;
        rp_error err = {0};
        rp_status st = rp_daemon_decide(d, &key, act, duration, reason, &dec, &err);
        if (st == RP_EINVAL) r = send_error(c, 400, err.message);
        else if (st != RP_OK) r = send_error(c, 503, err.message);
        else {
            char k[128], start[40], exp[40];
            rp_key_format(&dec.key, k, sizeof k);
            rp_format_time(dec.start_us, start, sizeof start);
            rp_format_time(dec.expires_us, exp, sizeof exp);
            r = send_json(c, 201, json_pack("{s:s,s:s,s:s,s:s,s:s}", "key", k, "action",
                                            rp_action_name(dec.action), "start", start, "expires",
                                            exp, "source", "manual"));
        }
    }
    json_decref(body);
    return r;
}

/* GET /v1/config: the YAML whole with the token, its secrets redacted
 * without (allowlisted partner keys are credentials of other people). */
static enum MHD_Result get_config(struct MHD_Connection *c, rp_daemon *d) {
    json_t *o = rp_daemon_config_json(d);
    if (!o) return send_error(c, 500, "out of memory");
    bool whole = rp_daemon_token_ok(d, header(c, "Authorization"));
    if (!whole) {
        json_t *y = json_object_get(o, "yaml");
        char *red = NULL;
        size_t len = 0;
        if (rp_config_redact(json_is_string(y) ? json_string_value(y) : "",
                             json_is_string(y) ? json_string_length(y) : 0, &red, &len) != RP_OK) {
            json_decref(o);
            return send_error(c, 500, "out of memory");
        }
        json_object_set_new(o, "yaml", json_stringn(red, len));
        free(red);
    }
    json_object_set_new(o, "redacted", json_boolean(!whole));
    return send_json(c, 200, o);
}

/* {"config": "YAML"} bodies of /v1/whatif and /v1/config, with the
 * placeholders of a redacted GET put back (malloc'd into *yaml). */
static enum MHD_Result config_body(struct MHD_Connection *c, rp_daemon *d, request_ctx *rc,
                                   char **yaml, size_t *len) {
    *yaml = NULL;
    json_t *holder = json_loadb(rc->body ? rc->body : "", rc->len, 0, NULL);
    json_t *y = json_object_get(holder, "config");
    if (!json_is_string(y)) {
        json_decref(holder);
        return send_error(c, 400, "the body must be {\"config\": \"YAML text\"}");
    }
    json_t *cur = rp_daemon_config_json(d);
    json_t *cy = json_object_get(cur, "yaml");
    rp_error err = {0};
    rp_status st = rp_config_unredact(json_is_string(cy) ? json_string_value(cy) : "",
                                      json_is_string(cy) ? json_string_length(cy) : 0,
                                      json_string_value(y), json_string_length(y), yaml, len, &err);
    json_decref(cur);
    json_decref(holder);
    if (st != RP_OK) return send_json(c, 422, json_pack("{s:s,s:s}", "error", "configuration rejected",
                                                     "detail", err.message));
    return MHD_YES;
}

static enum MHD_Result config_error(struct MHD_Connection *c, const rp_error *err) {
    char msg[700];
    rp_error_format(err, msg, sizeof msg);
    return send_json(c, 422, json_pack("{s:s,s:s}", "error", "configuration rejected", "detail", msg));
}

static enum MHD_Result whatif(struct MHD_Connection *c, rp_daemon *d, request_ctx *rc) {
    char *yaml;
    size_t len;
    enum MHD_Result r = config_body(c, d, rc, &yaml, &len);
    if (!yaml) return r;
    json_t *out = NULL;
    rp_error err = {0};
    rp_status st = rp_daemon_whatif(d, yaml, len, &out, &err);
    free(yaml);
    if (st != RP_OK) return config_error(c, &err);
    return send_json(c, 200, out);
}

static enum MHD_Result put_config(struct MHD_Connection *c, rp_daemon *d, request_ctx *rc) {
    char *yaml;
    size_t len;
    enum MHD_Result r = config_body(c, d, rc, &yaml, &len);
    if (!yaml) return r;
    rp_error err = {0};
    rp_status st = rp_daemon_write_config(d, yaml, len, &err);
    free(yaml);
    if (st != RP_OK) return config_error(c, &err);
    return send_json(c, 200, json_pack("{s:s}", "status", "reloaded"));
}

static enum MHD_Result ui_file(struct MHD_Connection *c, const char *url) {
    const char *path = url + 3; /* after "/ui" */
    if (!*path) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Location", "/ui/");
        enum MHD_Result ret = MHD_queue_response(c, 301, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (strcmp(path, "/") == 0) path = "/index.html";
    if (rp_ui_asset_count == 0)
        return send_error(c, 404, "the dashboard was not built into this binary (make ui, then make)");
    for (size_t i = 0; i < rp_ui_asset_count; i++) {
        if (strcmp(rp_ui_assets[i].path, path) != 0) continue;
        struct MHD_Response *r = MHD_create_response_from_buffer(
            rp_ui_assets[i].len, (void *)rp_ui_assets[i].data, MHD_RESPMEM_PERSISTENT);
        if (!r) return MHD_NO;
        MHD_add_response_header(r, "Content-Type", rp_ui_assets[i].type);
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
        MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(r, "Content-Security-Policy",
                                "default-src 'self'; script-src 'self'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    return send_error(c, 404, "no such file in the dashboard");
}

static bool trusted_proxy(const rp_admin *a, const rp_addr *x) {
    for (int i = 0; i < a->serve.n_check_proxies; i++)
        if (rp_cidr_contains(&a->serve.check_proxies[i], x)) return true;
    return false;
}

/*
 * Who is asking, as nginx's realip module decides it. The connecting peer
 * is the client unless it is a trusted proxy (serve.check.trusted_proxies,
 * loopback by default: nginx on this machine). A trusted proxy names the
 * client with ?ip=, or with serve.check.client_header: X-Forwarded-For
 * (the default) is read right to left and the first hop that is not a
 * trusted proxy is the client -- the hop the proxy appended, never what
 * the client wrote before it; X-Real-IP is taken as the proxy set it.
 * A client's own X-Real-IP (auth_request passes the request's headers on)
 * is never believed under the default.
 * Returns 0 with *have = whether an address was named, or 400.
 */
static unsigned check_client(struct MHD_Connection *c, const rp_admin *a, rp_addr *client,
                             bool *have) {
    *have = false;
    rp_addr peer;
    if (!peer_addr(c, &peer)) return 400;
    if (!trusted_proxy(a, &peer)) {
        *client = peer;
        *have = true;
        return 0;
    }
    const char *ip = arg(c, "ip");
    if (!ip && a->serve.check_real_ip) ip = header_last(c, "X-Real-IP");
    if (ip) {
        if (rp_addr_parse(ip, strlen(ip), client) != RP_OK) return 400;
        *have = true;
        return 0;
    }
    const char *xff = header_last(c, "X-Forwarded-For");
    if (!xff) return 0;
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *comma = end;
        while (comma > xff && comma[-1] != ',') comma--;
        const char *p = comma, *q = end;
        while (p < q && (*p == ' ' || *p == '\t')) p++;
        while (q > p && (q[-1] == ' ' || q[-1] == '\t')) q--;
        if (rp_addr_parse(p, (size_t)(q - p), client) != RP_OK) return 400;
        *have = true;
        if (!trusted_proxy(a, client)) return 0;
        end = comma > xff ? comma - 1 : xff;
    }
    return 0; /* every hop a proxy of ours: the leftmost, as nginx */
}

/* The token id of a request as the nginx module derives it (keys.c
 * rp_token_id: a bearer's credentials, else X-API-Key). */
static uint64_t request_token_id(struct MHD_Connection *c) {
    const char *auth = header(c, "Authorization"), *key = header(c, "X-API-Key");
    return rp_token_id(auth, auth ? strlen(auth) : 0, key, key ? strlen(key) : 0);
}

static enum MHD_Result check(struct MHD_Connection *c, const rp_admin *a) {
    rp_daemon *d = a->d;
    rp_addr addr;
    bool have = false;
    if (check_client(c, a, &addr, &have) != 0)
        return send_error(c, 400, "the client address is not an IP address");
    rp_key keys[4];
    int n = 0;
    if (have) {
        rp_key_from_addr(&keys[n++], RP_LEVEL_IP, &addr);
        rp_key_from_addr(&keys[n++], RP_LEVEL_SUBNET, &addr);
    }
    uint64_t token_id = request_token_id(c);
    if (token_id) rp_key_from_id(&keys[n++], RP_LEVEL_TOKEN, token_id);
    if (n == 0)
        return send_error(c, 400, a->serve.check_real_ip
                                      ? "no client: the proxy must send X-Real-IP (or ?ip=)"
                                      : "no client: the proxy must send X-Forwarded-For (or ?ip=)");
    rp_dtable_hit hit;
    if (!rp_daemon_check(d, keys, n, &hit) || hit.action == RP_ACTION_ALLOW ||
        hit.action == RP_ACTION_MONITOR)
        return send_text(c, 204, "text/plain", "", 0);
    int64_t retry = (hit.expires_us - rp_wall_us() + 999999) / 1000000;
    if (retry < 1) retry = 1;
    json_t *o = json_pack("{s:s,s:I,s:I}", "action", rp_action_name(hit.action), "incident_id",
                          (json_int_t)hit.incident_id, "retry_after_s", (json_int_t)retry);
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!text) return MHD_NO;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    /* nginx can copy it into the access log (auth_request_set), where the
     * JSON input turns it into RP_EVENT_REFUSED: our answer, not evidence. */
    MHD_add_response_header(r, "X-Rampart-Verdict", rp_action_name(hit.action));
    char ra[32];
    snprintf(ra, sizeof ra, "%lld", (long long)retry);
    if (hit.action == RP_ACTION_THROTTLE) MHD_add_response_header(r, "Retry-After", ra);
    enum MHD_Result ret = MHD_queue_response(c, hit.action == RP_ACTION_THROTTLE ? 429 : 403, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result metrics(struct MHD_Connection *c, rp_daemon *d) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return send_error(c, 500, "out of memory");
    rp_daemon_metrics(d, f);
    fclose(f);
    enum MHD_Result r = send_text(c, 200, "text/plain; version=0.0.4", buf, len);
    free(buf);
    return r;
}

/* ----------------------------------------------------------- route table */

/* One handler per route; the table below says which method and path reach
 * it and whether it needs the token. */
typedef enum MHD_Result (*route_handler)(struct MHD_Connection *c, const rp_admin *a,
                                         const char *url, request_ctx *rc);

static enum MHD_Result h_healthz(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                 request_ctx *rc) {
    return send_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

static enum MHD_Result h_metrics(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                 request_ctx *rc) {
    return metrics(c, a->d);
}

static enum MHD_Result h_stats(struct MHD_Connection *c, const rp_admin *a, const char *url,
                               request_ctx *rc) {
    return send_json(c, 200, rp_daemon_stats_json(a->d));
}

static enum MHD_Result h_incidents(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                   request_ctx *rc) {
    return get_incidents(c, a->d);
}

static enum MHD_Result h_incident(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                  request_ctx *rc) {
    const char *text = url + strlen("/v1/incidents/");
    char *end;
    unsigned long long id = strtoull(text, &end, 10);
    if (end == text || *end || text[0] == '-' || id == 0)
        return send_error(c, 400, "an incident id is a positive integer");
    json_t *o = NULL;
    rp_error err = {0};
    rp_status st = rp_daemon_incident_json(a->d, (uint64_t)id, &o, &err);
    if (st == RP_ENOENT) return send_error(c, 404, err.message);
    if (st != RP_OK) return send_error(c, 500, err.message);
    return send_json(c, 200, o);
}

static enum MHD_Result h_inventory(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                   request_ctx *rc) {
    return send_json(c, 200, rp_daemon_inventory_json(a->d));
}

static enum MHD_Result h_check(struct MHD_Connection *c, const rp_admin *a, const char *url,
                               request_ctx *rc) {
    return check(c, a);
}

static enum MHD_Result h_ui(struct MHD_Connection *c, const rp_admin *a, const char *url,
                            request_ctx *rc) {
    return ui_file(c, url);
}

static enum MHD_Result h_timeseries(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                    request_ctx *rc) {
    int minutes = 60;
    if (!parse_int_arg(arg(c, "minutes"), 1, 60, &minutes))
        return send_error(c, 400, "minutes must be 1..60");
    return send_json(c, 200, rp_daemon_timeseries_json(a->d, minutes));
}

static enum MHD_Result h_top(struct MHD_Connection *c, const rp_admin *a, const char *url,
                             request_ctx *rc) {
    int minutes = 60, limit = 10;
    if (!parse_int_arg(arg(c, "minutes"), 1, 60 * 24 * 30, &minutes) ||
        !parse_int_arg(arg(c, "limit"), 1, 100, &limit))
        return send_error(c, 400, "minutes must be >= 1 and limit 1..100");
    return send_json(c, 200, rp_daemon_top_json(a->d, minutes, limit));
}

static enum MHD_Result h_config(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                request_ctx *rc) {
    return get_config(c, a->d);
}

static enum MHD_Result h_config_write(struct MHD_Connection *c, const rp_admin *a,
                                      const char *url, request_ctx *rc) {
    return put_config(c, a->d, rc);
}

static enum MHD_Result h_whatif(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                request_ctx *rc) {
    return whatif(c, a->d, rc);
}

static enum MHD_Result h_swarms(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                request_ctx *rc) {
    int limit = 50, top = 5;
    if (!parse_int_arg(arg(c, "limit"), 1, 100, &limit) ||
        !parse_int_arg(arg(c, "top"), 0, 200, &top))
        return send_error(c, 400, "limit must be 1..100 and top 0..200");
    json_t *o = rp_daemon_swarms_json(a->d, limit, top);
    return o ? send_json(c, 200, o) : send_error(c, 500, "the swarms could not be read");
}

/* /v1/clients/{key} and /v1/clients/{key}/requests|related|members. */
static enum MHD_Result h_client(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                request_ctx *rc) {
    rp_daemon *d = a->d;
    const char *rest = url + strlen("/v1/clients/");
    char keytext[200];
    snprintf(keytext, sizeof keytext, "%s", rest);
    char *sub = strchr(keytext, '/');
    if (sub) *sub++ = 0;
    rp_key key;
    if (!key_from_path(keytext, &key))
        return send_error(c, 400, "bad key: use ip:ADDR, subnet:ADDR/24, token:HEX, ...");
    if (sub && strcmp(sub, "requests") == 0) {
        int limit = 500;
        if (!parse_int_arg(arg(c, "limit"), 1, 5000, &limit))
            return send_error(c, 400, "limit must be 1..5000");
        return send_json(c, 200, rp_daemon_client_requests_json(d, &key, limit));
    }
    if (sub && strcmp(sub, "related") == 0) return send_json(c, 200, rp_daemon_related_json(d, &key));
    if (sub && strcmp(sub, "members") == 0) {
        if (key.level == RP_LEVEL_IP)
            return send_error(c, 400, "members are listed for aggregate keys: fingerprint, "
                                      "subnet, username, token, session");
        int limit = 200;
        if (!parse_int_arg(arg(c, "limit"), 1, 1000, &limit))
            return send_error(c, 400, "limit must be 1..1000");
        json_t *o = rp_daemon_members_json(d, &key, limit);
        return o ? send_json(c, 200, o) : send_error(c, 500, "out of memory");
    }
    if (sub) return send_error(c, 404, "no such endpoint (see docs/api.md)");
    if (!key_from_path(rest, &key))
        return send_error(c, 400, "bad key: use ip:ADDR, subnet:ADDR/24, token:HEX, ...");
    json_t *o = rp_daemon_client_json(d, &key);
    if (!o) return send_error(c, 404, "this key is not tracked and has no decision");
    return send_json(c, 200, o);
}

static enum MHD_Result h_decisions(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                   request_ctx *rc) {
    const char *history = arg(c, "history");
    if (history && strcmp(history, "1") == 0) {
        int limit = 100, offset = 0;
        if (!parse_int_arg(arg(c, "limit"), 1, 1000, &limit) ||
            !parse_int_arg(arg(c, "offset"), 0, 1 << 30, &offset))
            return send_error(c, 400, "limit must be 1..1000 and offset >= 0");
        char *json = NULL;
        rp_error err = {0};
        if (rp_daemon_decision_history(a->d, arg(c, "key"), limit, offset, &json, &err) != RP_OK)
            return send_error(c, 500, err.message);
        enum MHD_Result r = send_text(c, 200, "application/json", json, strlen(json));
        free(json);
        return r;
    }
    return send_json(c, 200, rp_daemon_decisions_json(a->d));
}

static enum MHD_Result h_decide(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                request_ctx *rc) {
    return post_decision(c, a->d, rc);
}

static enum MHD_Result h_undecide(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                  request_ctx *rc) {
    const char *text = url + strlen("/v1/decisions/");
    rp_key key;
    if (!key_from_path(text, &key)) return send_error(c, 400, "bad key");
    rp_error err = {0};
    rp_status st = rp_daemon_undecide(a->d, &key, &err);
    if (st == RP_ENOENT) return send_error(c, 404, err.message);
    if (st != RP_OK) return send_error(c, 500, err.message);
    return send_json(c, 200, json_pack("{s:s}", "removed", text));
}

static enum MHD_Result h_reload(struct MHD_Connection *c, const rp_admin *a, const char *url,
                                request_ctx *rc) {
    rp_error err = {0};
    if (rp_daemon_reload(a->d, &err) != RP_OK) {
        char msg[700];
        rp_error_format(&err, msg, sizeof msg);
        return send_json(c, 422, json_pack("{s:s,s:s}", "error", "configuration rejected; the old one stays",
                                           "detail", msg));
    }
    return send_json(c, 200, json_pack("{s:s}", "status", "reloaded"));
}

/*
 * The admin API, one row per route (docs/api.md documents each). A path
 * ending in '/' is a prefix (the rest is a key or an id). GET also
 * answers HEAD. A path that matches with another method is 405 with the
 * methods it has in Allow; no match at all is 404. A route that needs the
 * token is refused (401, or 403 without a token file) before its handler
 * reads anything.
 */
typedef struct admin_route {
    const char *method;
    const char *path;
    bool needs_token;
    route_handler handler;
} admin_route;

static const admin_route admin_routes[] = {
    {"GET", "/healthz", false, h_healthz},
    {"GET", "/metrics", false, h_metrics},
    {"GET", "/v1/stats", false, h_stats},
    {"GET", "/v1/incidents", false, h_incidents},
    {"GET", "/v1/incidents/", false, h_incident},
    {"GET", "/v1/swarms", false, h_swarms},
    {"GET", "/v1/clients/", false, h_client},
    {"GET", "/v1/decisions", false, h_decisions},
    {"POST", "/v1/decisions", true, h_decide},
    {"DELETE", "/v1/decisions/", true, h_undecide},
    {"GET", "/v1/inventory", false, h_inventory},
    {"GET", "/v1/timeseries", false, h_timeseries},
    {"GET", "/v1/top", false, h_top},
    {"GET", "/v1/config", false, h_config}, /* secrets redacted without the token */
    {"POST", "/v1/config", true, h_config_write},
    {"POST", "/v1/whatif", true, h_whatif},
    {"POST", "/v1/reload", true, h_reload},
    {"GET", "/v1/check", false, h_check},
    {"GET", "/ui", false, h_ui},
    {"GET", "/ui/", false, h_ui},
};

static bool route_path_matches(const admin_route *r, const char *url) {
    size_t n = strlen(r->path);
    if (r->path[n - 1] == '/') return strncmp(url, r->path, n) == 0;
    return strcmp(url, r->path) == 0;
}

static bool route_method_matches(const admin_route *r, const char *method) {
    return strcmp(method, r->method) == 0 ||
           (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

static enum MHD_Result send_not_allowed(struct MHD_Connection *c, const char *allow) {
    static const char body[] = "{\"error\":\"method not allowed on this path\"}";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Allow", allow);
    enum MHD_Result ret = MHD_queue_response(c, 405, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result route(struct MHD_Connection *c, const rp_admin *a, const char *method,
                             const char *url, request_ctx *rc) {
    char allow[64] = "";
    size_t n = sizeof admin_routes / sizeof *admin_routes;
    for (size_t i = 0; i < n; i++) {
        const admin_route *r = &admin_routes[i];
        if (!route_path_matches(r, url)) continue;
        if (route_method_matches(r, method)) {
            if (r->needs_token && !rp_daemon_token_ok(a->d, header(c, "Authorization")))
                return send_unauthorized(c, a->d);
            return r->handler(c, a, url, rc);
        }
        const char *m = strcmp(r->method, "GET") == 0 ? "GET, HEAD" : r->method;
        if (!strstr(allow, m)) {
            size_t len = strlen(allow);
            snprintf(allow + len, sizeof allow - len, "%s%s", len ? ", " : "", m);
        }
    }
    if (allow[0]) return send_not_allowed(c, allow);
    return send_error(c, 404, "no such endpoint (see docs/api.md)");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
    (void)version;
    listener *l = cls;
    rp_admin *a = l->admin;
    request_ctx *rc = *con_cls;
    if (!rc) {
        rc = calloc(1, sizeof *rc);
        if (!rc) return MHD_NO;
        *con_cls = rc;
        return MHD_YES;
    }
    if (*upload_size) {
        if (rc->len + *upload_size > RP_MAX_BODY) {
            rc->too_large = true;
        } else {
            char *nb = realloc(rc->body, rc->len + *upload_size + 1);
            if (!nb) return MHD_NO;
            memcpy(nb + rc->len, upload, *upload_size);
            rc->body = nb;
            rc->len += *upload_size;
            rc->body[rc->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    rp_admin_guard_answering(l->guard, c);
    if (rc->too_large) return send_error(c, 413, "request body over 64 KiB");
    /* /v1/check answers the proxies, which may pass the site's own Host on. */
    bool is_check = strcmp(url, "/v1/check") == 0;
    if (!is_check && !host_allowed(a, l, header(c, "Host")))
        return send_error(c, 421, "this Host is not the admin API's: use its address, localhost "
                                  "or a name in serve.admin_hosts");
    if (l->check_only && !is_check && strcmp(url, "/healthz") != 0)
        return send_error(c, 404, "this listener serves GET /v1/check and /healthz only");
    return route(c, a, method, url, rc);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)toe;
    listener *l = cls;
    request_ctx *rc = *con_cls;
    if (rc) {
        free(rc->body);
        free(rc);
    }
    *con_cls = NULL;
    rp_admin_guard_done(l->guard, c);
}

/* Each listener holds up to connections + RP_HEADROOM sockets: make sure
 * the process may open them (systemd's default soft limit is 1,024). */
static void raise_fd_limit(rlim_t want) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static rp_status start_listener(rp_admin *a, listener *l, const char *listen, unsigned threads,
                                int *port, rp_error *err) {
    char host[64];
    snprintf(host, sizeof host, "%s", listen);
    char *colon = strrchr(host, ':');
    if (!colon) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "admin: expected host:port, got '%s'", listen);
    *colon = 0;
    int p = atoi(colon + 1);
    char *h = host;
    if (h[0] == '[') {
        h++;
        char *close = strchr(h, ']');
        if (close) *close = 0;
    }
    if (strcmp(h, "localhost") == 0) h = "127.0.0.1";
    snprintf(l->host, sizeof l->host, "%s", h);
    l->admin = a;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
    if (inet_pton(AF_INET, h, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)p);
    } else if (inet_pton(AF_INET6, h, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)p);
        flags |= MHD_USE_IPv6;
    } else {
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "admin: '%s' is not an IP address", h);
    }
    rp_addr bound;
    if (rp_addr_parse(h, strlen(h), &bound) == RP_OK) {
        static const uint8_t zero[16];
        static const uint8_t v4_any[16] = {[10] = 0xff, [11] = 0xff};
        l->wildcard = memcmp(bound.bytes, zero, 16) == 0 || memcmp(bound.bytes, v4_any, 16) == 0;
        l->loopback = is_loopback(&bound);
    }
    const rp_serve_config *sv = &a->serve;
    unsigned slots = sv->admin_connections + RP_HEADROOM;
    if (rp_admin_guard_new(sv->admin_connections, sv->admin_per_address,
                           sv->admin_request_timeout_us, slots, &l->guard) != RP_OK)
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    /* libmicrohttpd's idle timeout, in whole seconds: the guard's deadline
     * is the one that counts; this one closes a kept-alive connection
     * that went quiet. */
    unsigned idle_s = (unsigned)((sv->admin_request_timeout_us + 999999) / 1000000);
    l->mhd = MHD_start_daemon(
        flags, (uint16_t)p, NULL, NULL, handler, l, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_THREAD_POOL_SIZE, threads, MHD_OPTION_CONNECTION_LIMIT, slots,
        /* a backstop only: the guard pushes out an address's oldest idle
         * connection before this refuses its newest */
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, sv->admin_per_address + RP_HEADROOM,
        MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)RP_CONNECTION_MEMORY, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_CONNECTION, rp_admin_guard_notify, l->guard,
        MHD_OPTION_NOTIFY_COMPLETED, completed, l, MHD_OPTION_END);
    if (!l->mhd)
        return rp_error_set(err, RP_EIO, NULL, 0, 0, "admin: cannot listen on %s (in use?)", listen);
    if (rp_admin_guard_start(l->guard) != RP_OK)
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "admin: cannot start the connection guard");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : p;
    return RP_OK;
}

static void stop_listener(listener *l) {
    if (l->mhd) MHD_stop_daemon(l->mhd); /* before the guard: its callbacks end here */
    rp_admin_guard_free(l->guard);
    l->mhd = NULL;
    l->guard = NULL;
}

rp_status rp_admin_start(rp_daemon *d, const rp_serve_config *serve, rp_admin **out, int *port,
                         rp_error *err) {
    *out = NULL;
    rp_admin *a = calloc(1, sizeof *a);
    if (!a) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    a->d = d;
    a->serve = *serve;
    raise_fd_limit((rlim_t)(serve->admin_connections + RP_HEADROOM) * 2 + 1024);
    rp_status st = start_listener(a, &a->main, serve->admin_listen, RP_ADMIN_THREADS, port, err);
    if (st == RP_OK && serve->check_listen[0]) {
        int check_port = 0;
        a->check.check_only = true;
        st = start_listener(a, &a->check, serve->check_listen, RP_CHECK_THREADS, &check_port, err);
        if (st == RP_OK) {
            char host[64];
            snprintf(host, sizeof host, "%s", serve->check_listen);
            char *colon = strrchr(host, ':');
            if (colon) *colon = 0;
            rp_log(d, "info", "check API on http://%s:%d/v1/check", host, check_port);
        }
    }
    if (st != RP_OK) {
        rp_admin_stop(a);
        return st;
    }
    *out = a;
    return RP_OK;
}

void rp_admin_stop(rp_admin *a) {
    if (!a) return;
    stop_listener(&a->check);
    stop_listener(&a->main);
    free(a);
}
