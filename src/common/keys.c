/*
 * keys.c -- an event's key at each level (see keys.h).
 *
 * The engine keys its tables with rp_event_key (engine.c event_key), taking
 * only the fingerprint from its observation, where the same hashes are
 * already computed: rp_hash64 of the header-name hash seeded with the user
 * agent's hash, only when the header set is known (RP_EVENT_HEADERS_KNOWN).
 * test_keys checks that the two fingerprints agree. The seeds are part of
 * stored state (fingerprint keys in decisions and incidents).
 *
 * A fingerprint decided on one route (fingerprint:FP@SCOPE, engine.c)
 * scopes by the route's path -- the whole path of a literal route, the
 * path up to the last segment of an object route "/prefix/{param}". From
 * a raw path both candidates are computed, as the nginx module does; an
 * event is under FP@SCOPE when its fingerprint is FP and one of them is
 * SCOPE.
 */
#include "keys.h"

uint64_t rp_event_fingerprint(const rp_event *ev) {
    if (!ev->user_agent.len || !(ev->flags & RP_EVENT_HEADERS_KNOWN)) return 0;
    uint64_t ua = rp_hash64(ev->user_agent.ptr, ev->user_agent.len, 0x9c);
    if (!ua) return 0; /* the engine treats a zero user-agent hash as none */
    return rp_hash64(&ev->header_hash, sizeof ev->header_hash, ua);
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
