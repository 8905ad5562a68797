/*
 * keys.c -- a client's keys, derived once (see keys.h).
 *
 * Who calls what:
 *   engine     rp_user_agent_hash and rp_fingerprint_hash in its
 *              observation (engine.c observe_event), rp_event_key for the
 *              other levels, rp_key_on_route for fingerprint:FP@SCOPE;
 *   JSON input rp_header_names_* for header_names, rp_token_id for
 *              http_authorization / api_key, rp_text_id for username,
 *              session and token (src/ingest/json.c);
 *   module     the same for the request it serves, and rp_request_keys
 *              for its table lookup (nginx/ngx_http_rampart_module.c);
 *   daemon     rp_token_id for /v1/check, rp_event_key to group the
 *              events it remembers (src/daemon/).
 *
 * A fingerprint decided on one route (fingerprint:FP@SCOPE, engine.c)
 * scopes by the route's path -- the whole path of a literal route, the
 * path up to the last segment of an object route "/prefix/{param}". From
 * a raw path both candidates are computed, as the nginx module does; an
 * event is under FP@SCOPE when its fingerprint is FP and one of them is
 * SCOPE.
 *
 * No libc beyond memcpy/memcmp/memchr and no locale: header names are
 * lower-cased as ASCII, whatever the process's locale says.
 */
#include <string.h>

#include "keys.h"

/* Seeds: part of stored state. */
#define TEXT_SEED 0
#define USER_AGENT_SEED 0x9c
#define HEADER_NAMES_SEED 0

/* ------------------------------------------------------------ ids */

uint64_t rp_text_id(const char *text, size_t len) {
    return text && len ? rp_hash64(text, len, TEXT_SEED) : 0;
}

uint64_t rp_user_agent_hash(const char *ua, size_t len) {
    return ua && len ? rp_hash64(ua, len, USER_AGENT_SEED) : 0;
}

uint64_t rp_fingerprint_hash(uint64_t ua_hash, uint64_t header_hash) {
    return rp_hash64(&header_hash, sizeof header_hash, ua_hash);
}

uint64_t rp_fingerprint(const char *ua, size_t ua_len, uint64_t header_hash) {
    uint64_t ua_hash = rp_user_agent_hash(ua, ua_len);
    return ua_hash ? rp_fingerprint_hash(ua_hash, header_hash) : 0;
}

/* --------------------------------------------------- header names */

static char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Is name (any case, len bytes) the lower-case literal lit? */
static bool name_is(const char *name, size_t len, const char *lit) {
    size_t n = strlen(lit);
    if (len != n) return false;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(name[i]) != lit[i]) return false;
    return true;
}

static uint32_t header_flag(const char *name, size_t len) {
    switch (len) {
    case 6: return name_is(name, len, "cookie") ? RP_HDR_COOKIE : 0;
    case 7: return name_is(name, len, "referer") ? RP_HDR_REFERER : 0;
    case 9: return name_is(name, len, "sec-ch-ua") ? RP_HDR_SEC_CH_UA : 0;
    case 15:
        if (name_is(name, len, "accept-language")) return RP_HDR_ACCEPT_LANGUAGE;
        if (name_is(name, len, "accept-encoding")) return RP_HDR_ACCEPT_ENCODING;
        return 0;
    default: return 0;
    }
}

void rp_header_names_init(rp_header_names *h) {
    h->flags = 0;
    h->used = 0;
}

void rp_header_names_add(rp_header_names *h, const char *name, size_t len) {
    if (!name || !len) return;
    h->flags |= header_flag(name, len);
    /* The bound counts the separator even before the first name: the
     * hashes already stored were computed so. */
    if (h->used + len + 1 > sizeof h->joined) return;
    if (h->used) h->joined[h->used++] = ',';
    for (size_t i = 0; i < len; i++) h->joined[h->used++] = ascii_lower(name[i]);
}

uint64_t rp_header_names_hash(const rp_header_names *h) {
    return rp_hash64(h->joined, h->used, HEADER_NAMES_SEED);
}

/* ---------------------------------------------------------- token */

uint64_t rp_bearer_id(const char *value, size_t len) {
    static const char scheme[] = "bearer";
    const size_t n = sizeof scheme - 1;
    if (!value || len <= n + 1 || !name_is(value, n, scheme) || value[n] != ' ') return 0;
    size_t i = n;
    while (i < len && value[i] == ' ') i++;
    return rp_text_id(value + i, len - i);
}

uint64_t rp_credentials_id(const char *value, size_t len) {
    if (!value || !len) return 0;
    const char *sp = memchr(value, ' ', len);
    if (sp) {
        size_t skip = (size_t)(sp - value);
        while (skip < len && value[skip] == ' ') skip++;
        if (skip < len) {
            value += skip;
            len -= skip;
        }
    }
    return rp_text_id(value, len);
}

uint64_t rp_token_id(const char *authorization, size_t auth_len, const char *api_key,
                     size_t key_len) {
    uint64_t id = rp_bearer_id(authorization, auth_len);
    return id ? id : rp_text_id(api_key, key_len);
}

/* ------------------------------------------------------- a request */

void rp_request_headers_init(rp_request_headers *r, const char *token_header, size_t len) {
    rp_header_names_init(&r->names);
    r->token_header = len ? token_header : NULL;
    r->token_header_len = len;
    r->user_agent = r->authorization = r->api_key = r->token = NULL;
    r->user_agent_len = r->authorization_len = r->api_key_len = r->token_len = 0;
}

/* The first value of a header wins. */
static void keep_first(const char **slot, size_t *slot_len, const char *value, size_t len) {
    if (*slot) return;
    *slot = value;
    *slot_len = len;
}

static bool name_equals(const char *name, size_t len, const char *lower, size_t lower_len) {
    if (len != lower_len) return false;
    for (size_t i = 0; i < len; i++)
        if (ascii_lower(name[i]) != lower[i]) return false;
    return true;
}

void rp_request_headers_add(rp_request_headers *r, const char *name, size_t name_len,
                            const char *value, size_t value_len) {
    if (!name || !name_len) return;
    rp_header_names_add(&r->names, name, name_len);
    if (!value) value_len = 0;
    if (r->token_header && name_equals(name, name_len, r->token_header, r->token_header_len))
        keep_first(&r->token, &r->token_len, value ? value : "", value_len);
    switch (name_len) {
    case 9:
        if (name_is(name, name_len, "x-api-key"))
            keep_first(&r->api_key, &r->api_key_len, value ? value : "", value_len);
        break;
    case 10:
        if (name_is(name, name_len, "user-agent"))
            keep_first(&r->user_agent, &r->user_agent_len, value ? value : "", value_len);
        break;
    case 13:
        if (name_is(name, name_len, "authorization"))
            keep_first(&r->authorization, &r->authorization_len, value ? value : "", value_len);
        break;
    }
}

uint64_t rp_request_token_id(const rp_request_headers *r) {
    if (r->token_header) {
        if (name_is(r->token_header, r->token_header_len, "authorization"))
            return rp_credentials_id(r->token, r->token_len);
        return rp_text_id(r->token, r->token_len);
    }
    return rp_token_id(r->authorization, r->authorization_len, r->api_key, r->api_key_len);
}

uint64_t rp_request_fingerprint(const rp_request_headers *r) {
    return rp_fingerprint(r->user_agent, r->user_agent_len, rp_header_names_hash(&r->names));
}

/* ----------------------------------------------------------- keys */

void rp_key_on_route(rp_key *key, const rp_key *fingerprint, uint64_t scope) {
    *key = *fingerprint;
    memcpy(key->bytes + 8, &scope, 8);
}

int rp_request_keys(const rp_addr *client, uint64_t fingerprint, const char *target,
                    size_t target_len, uint64_t token_id, rp_key out[RP_REQUEST_KEYS_MAX]) {
    int n = 0;
    if (client && client->family) {
        rp_key_from_addr(&out[n++], RP_LEVEL_IP, client);
        rp_key_from_addr(&out[n++], RP_LEVEL_SUBNET, client);
    }
    if (fingerprint) {
        rp_key *fp = &out[n++];
        rp_key_from_id(fp, RP_LEVEL_FINGERPRINT, fingerprint);
        if (target && target_len) {
            const char *q = memchr(target, '?', target_len);
            uint64_t scopes[2];
            int k = rp_path_scopes(target, q ? (size_t)(q - target) : target_len, scopes);
            for (int i = 0; i < k; i++) rp_key_on_route(&out[n++], fp, scopes[i]);
        }
    }
    if (token_id) rp_key_from_id(&out[n++], RP_LEVEL_TOKEN, token_id);
    return n;
}

/* -------------------------------------------------------- events */

uint64_t rp_event_fingerprint(const rp_event *ev) {
    if (!(ev->flags & RP_EVENT_HEADERS_KNOWN)) return 0;
    return rp_fingerprint(ev->user_agent.ptr, ev->user_agent.len, ev->header_hash);
}

bool rp_event_key(const rp_event *ev, rp_key_level level, rp_key *key) {
    uint64_t id = 0;
    switch (level) {
    case RP_LEVEL_IP:
    case RP_LEVEL_SUBNET:
        if (!ev->client.family) return false;
        rp_key_from_addr(key, level, &ev->client);
        return true;
    case RP_LEVEL_FINGERPRINT: id = rp_event_fingerprint(ev); break;
    case RP_LEVEL_TOKEN: id = ev->token_id; break;
    case RP_LEVEL_SESSION: id = ev->session_id; break;
    case RP_LEVEL_USERNAME: id = ev->credential_id; break;
    default: return false;
    }
    if (!id) return false;
    rp_key_from_id(key, level, id);
    return true;
}

int rp_event_scopes(const rp_event *ev, uint64_t scopes[2]) {
    return rp_path_scopes(ev->path.ptr, ev->path.len, scopes);
}
