/*
 * admin.c -- the admin HTTP API of `rampart serve` (libmicrohttpd).
 *
 *   GET    /healthz                 liveness
 *   GET    /metrics                 Prometheus text format
 *   GET    /v1/stats                counters as JSON
 *   GET    /v1/incidents            stored incidents (filters, paging)
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
 * Every error is JSON {"error": "..."} with a 4xx/5xx status. Requests are
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
#include <sys/socket.h>

#include "daemon.h"
#include "store.h"
#include "ui.h"

#define RP_MAX_BODY (64 * 1024)

struct rp_admin {
    struct MHD_Daemon *mhd;
    rp_daemon *d;
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

/* {"config": "YAML"} bodies of /v1/whatif and /v1/config. */
static const char *config_body(request_ctx *rc, json_t **holder, size_t *len) {
    *holder = json_loadb(rc->body ? rc->body : "", rc->len, 0, NULL);
    json_t *y = json_object_get(*holder, "config");
    if (!json_is_string(y)) return NULL;
    *len = json_string_length(y);
    return json_string_value(y);
}

static enum MHD_Result config_error(struct MHD_Connection *c, const rp_error *err) {
    char msg[700];
    rp_error_format(err, msg, sizeof msg);
    return send_json(c, 422, json_pack("{s:s,s:s}", "error", "configuration rejected", "detail", msg));
}

static enum MHD_Result whatif(struct MHD_Connection *c, rp_daemon *d, request_ctx *rc) {
    json_t *holder;
    size_t len;
    const char *yaml = config_body(rc, &holder, &len);
    if (!yaml) {
        json_decref(holder);
        return send_error(c, 400, "the body must be {\"config\": \"YAML text\"}");
    }
    json_t *out = NULL;
    rp_error err = {0};
    rp_status st = rp_daemon_whatif(d, yaml, len, &out, &err);
    json_decref(holder);
    if (st != RP_OK) return config_error(c, &err);
    return send_json(c, 200, out);
}

static enum MHD_Result put_config(struct MHD_Connection *c, rp_daemon *d, request_ctx *rc) {
    json_t *holder;
    size_t len;
    const char *yaml = config_body(rc, &holder, &len);
    if (!yaml) {
        json_decref(holder);
        return send_error(c, 400, "the body must be {\"config\": \"YAML text\"}");
    }
    rp_error err = {0};
    rp_status st = rp_daemon_write_config(d, yaml, len, &err);
    json_decref(holder);
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

static enum MHD_Result check(struct MHD_Connection *c, rp_daemon *d) {
    /* The client: ?ip= (tests), X-Real-IP (nginx auth_request, Traefik),
     * else the last X-Forwarded-For hop (Envoy appends the peer). */
    const char *ip = arg(c, "ip");
    if (!ip) ip = header(c, "X-Real-IP");
    char last[64] = "";
    if (!ip) {
        const char *xff = header(c, "X-Forwarded-For");
        if (xff) {
            const char *comma = strrchr(xff, ',');
            const char *p = comma ? comma + 1 : xff;
            while (*p == ' ') p++;
            snprintf(last, sizeof last, "%s", p);
            size_t n = strlen(last);
            while (n && last[n - 1] == ' ') last[--n] = 0;
            ip = last;
        }
    }
    rp_key keys[4];
    int n = 0;
    rp_addr addr;
    if (ip && rp_addr_parse(ip, strlen(ip), &addr) == RP_OK) {
        rp_key_from_addr(&keys[n++], RP_LEVEL_IP, &addr);
        rp_key_from_addr(&keys[n++], RP_LEVEL_SUBNET, &addr);
    } else if (ip) {
        return send_error(c, 400, "the client address is not an IP address");
    }
    const char *auth = header(c, "Authorization");
    const char *apikey = header(c, "X-API-Key");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) apikey = auth + 7;
    if (apikey && *apikey) rp_key_from_id(&keys[n++], RP_LEVEL_TOKEN, rp_hash64(apikey, strlen(apikey), 0));
    if (n == 0) return send_error(c, 400, "no client: send X-Real-IP, X-Forwarded-For or ?ip=");
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

static enum MHD_Result route(struct MHD_Connection *c, rp_daemon *d, const char *method,
                             const char *url, request_ctx *rc) {
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    bool post = strcmp(method, "POST") == 0;
    bool del = strcmp(method, "DELETE") == 0;
    if (strcmp(url, "/healthz") == 0 && get)
        return send_json(c, 200, json_pack("{s:s}", "status", "ok"));
    if (strcmp(url, "/metrics") == 0 && get) return metrics(c, d);
    if (strcmp(url, "/v1/stats") == 0 && get) return send_json(c, 200, rp_daemon_stats_json(d));
    if (strcmp(url, "/v1/incidents") == 0 && get) return get_incidents(c, d);
    if (strcmp(url, "/v1/inventory") == 0 && get)
        return send_json(c, 200, rp_daemon_inventory_json(d));
    if (strcmp(url, "/v1/check") == 0 && get) return check(c, d);
    if ((strcmp(url, "/ui") == 0 || strncmp(url, "/ui/", 4) == 0) && get) return ui_file(c, url);
    if (strcmp(url, "/v1/timeseries") == 0 && get) {
        int minutes = 60;
        if (!parse_int_arg(arg(c, "minutes"), 1, 60, &minutes))
            return send_error(c, 400, "minutes must be 1..60");
        return send_json(c, 200, rp_daemon_timeseries_json(d, minutes));
    }
    if (strcmp(url, "/v1/top") == 0 && get) {
        int minutes = 60, limit = 10;
        if (!parse_int_arg(arg(c, "minutes"), 1, 60 * 24 * 30, &minutes) ||
            !parse_int_arg(arg(c, "limit"), 1, 100, &limit))
            return send_error(c, 400, "minutes must be >= 1 and limit 1..100");
        return send_json(c, 200, rp_daemon_top_json(d, minutes, limit));
    }
    if (strcmp(url, "/v1/config") == 0 && get) return send_json(c, 200, rp_daemon_config_json(d));
    if (strcmp(url, "/v1/swarms") == 0 && get) {
        int limit = 50, top = 5;
        if (!parse_int_arg(arg(c, "limit"), 1, 100, &limit) ||
            !parse_int_arg(arg(c, "top"), 0, 200, &top))
            return send_error(c, 400, "limit must be 1..100 and top 0..200");
        json_t *o = rp_daemon_swarms_json(d, limit, top);
        return o ? send_json(c, 200, o) : send_error(c, 500, "the swarms could not be read");
    }
    if (strncmp(url, "/v1/incidents/", 14) == 0 && get) {
        char *end;
        unsigned long long id = strtoull(url + 14, &end, 10);
        if (end == url + 14 || *end || url[14] == '-' || id == 0)
            return send_error(c, 400, "an incident id is a positive integer");
        json_t *o = NULL;
        rp_error err = {0};
        rp_status st = rp_daemon_incident_json(d, (uint64_t)id, &o, &err);
        if (st == RP_ENOENT) return send_error(c, 404, err.message);
        if (st != RP_OK) return send_error(c, 500, err.message);
        return send_json(c, 200, o);
    }
    if (strncmp(url, "/v1/clients/", 12) == 0 && get) {
        char keytext[200];
        snprintf(keytext, sizeof keytext, "%s", url + 12);
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
    }
    if (strncmp(url, "/v1/clients/", 12) == 0 && get) {
        rp_key key;
        if (!key_from_path(url + 12, &key))
            return send_error(c, 400, "bad key: use ip:ADDR, subnet:ADDR/24, token:HEX, ...");
        json_t *o = rp_daemon_client_json(d, &key);
        if (!o) return send_error(c, 404, "this key is not tracked and has no decision");
        return send_json(c, 200, o);
    }
    if (strcmp(url, "/v1/decisions") == 0 && get) {
        const char *history = arg(c, "history");
        if (history && strcmp(history, "1") == 0) {
            int limit = 100, offset = 0;
            if (!parse_int_arg(arg(c, "limit"), 1, 1000, &limit) ||
                !parse_int_arg(arg(c, "offset"), 0, 1 << 30, &offset))
                return send_error(c, 400, "limit must be 1..1000 and offset >= 0");
            char *json = NULL;
            rp_error err = {0};
            if (rp_daemon_decision_history(d, arg(c, "key"), limit, offset, &json, &err) != RP_OK)
                return send_error(c, 500, err.message);
            enum MHD_Result r = send_text(c, 200, "application/json", json, strlen(json));
            free(json);
            return r;
        }
        return send_json(c, 200, rp_daemon_decisions_json(d));
    }
    bool mutating = (post && (strcmp(url, "/v1/decisions") == 0 || strcmp(url, "/v1/reload") == 0 ||
                              strcmp(url, "/v1/whatif") == 0 || strcmp(url, "/v1/config") == 0)) ||
                    (del && strncmp(url, "/v1/decisions/", 14) == 0);
    if (mutating && !rp_daemon_token_ok(d, header(c, "Authorization")))
        return send_unauthorized(c, d);
    if (post && strcmp(url, "/v1/decisions") == 0) return post_decision(c, d, rc);
    if (post && strcmp(url, "/v1/whatif") == 0) return whatif(c, d, rc);
    if (post && strcmp(url, "/v1/config") == 0) return put_config(c, d, rc);
    if (del && strncmp(url, "/v1/decisions/", 14) == 0) {
        rp_key key;
        if (!key_from_path(url + 14, &key)) return send_error(c, 400, "bad key");
        rp_error err = {0};
        rp_status st = rp_daemon_undecide(d, &key, &err);
        if (st == RP_ENOENT) return send_error(c, 404, err.message);
        if (st != RP_OK) return send_error(c, 500, err.message);
        return send_json(c, 200, json_pack("{s:s}", "removed", url + 14));
    }
    if (post && strcmp(url, "/v1/reload") == 0) {
        rp_error err = {0};
        if (rp_daemon_reload(d, &err) != RP_OK) {
            char msg[700];
            rp_error_format(&err, msg, sizeof msg);
            return send_json(c, 422, json_pack("{s:s,s:s}", "error", "configuration rejected; the old one stays",
                                               "detail", msg));
        }
        return send_json(c, 200, json_pack("{s:s}", "status", "reloaded"));
    }
    static const char *const paths[] = {"/healthz",       "/metrics",   "/v1/stats",
                                        "/v1/incidents",  "/v1/inventory", "/v1/check",
                                        "/v1/decisions",  "/v1/reload", "/v1/timeseries",
                                        "/v1/top",        "/v1/config", "/v1/whatif",
                                        "/v1/swarms"};
    bool known = strncmp(url, "/v1/clients/", 12) == 0 || strncmp(url, "/v1/decisions/", 14) == 0;
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) known |= strcmp(url, paths[i]) == 0;
    if (known) return send_error(c, 405, "method not allowed on this path");
    return send_error(c, 404, "no such endpoint (see docs/api.md)");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls) {
    (void)version;
    rp_admin *a = cls;
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
    if (rc->too_large) return send_error(c, 413, "request body over 64 KiB");
    return route(c, a->d, method, url, rc);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)c;
    (void)toe;
    request_ctx *rc = *con_cls;
    if (rc) {
        free(rc->body);
        free(rc);
    }
    *con_cls = NULL;
}

rp_status rp_admin_start(rp_daemon *d, const char *listen, rp_admin **out, int *port,
                         rp_error *err) {
    *out = NULL;
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
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
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
    rp_admin *a = calloc(1, sizeof *a);
    if (!a) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    a->d = d;
    a->mhd = MHD_start_daemon(flags, (uint16_t)p, NULL, NULL, handler, a, MHD_OPTION_SOCK_ADDR,
                              (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE, 2u,
                              MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
                              MHD_OPTION_NOTIFY_COMPLETED, completed, a, MHD_OPTION_END);
    if (!a->mhd) {
        free(a);
        return rp_error_set(err, RP_EIO, NULL, 0, 0, "admin: cannot listen on %s (in use?)", listen);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(a->mhd, MHD_DAEMON_INFO_BIND_PORT);
    *port = info ? info->port : p;
    *out = a;
    return RP_OK;
}

void rp_admin_stop(rp_admin *a) {
    if (!a) return;
    MHD_stop_daemon(a->mhd);
    free(a);
}
