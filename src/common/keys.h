/*
 * keys.h -- the key of an event at each level, outside the engine.
 *
 * The daemon's admin API groups the events it remembers by the keys the
 * engine would give them (the members of a fingerprint swarm, the IPs in a
 * subnet, the addresses that tried one username). It must derive them
 * exactly as the engine does, or a swarm's members would not be the
 * addresses the engine charged: this is that derivation, shared.
 */
#ifndef RP_KEYS_H
#define RP_KEYS_H

#include "rampart.h"

/* The user agent + header-name fingerprint of an event (0 = none: no user
 * agent, or the header set is unknown -- a user agent alone is shared by
 * millions of people and never groups a swarm). */
uint64_t rp_event_fingerprint(const rp_event *ev);
/* The event's key at level; false when the event has none there (no
 * address, no token, no login username, no known header set). */
bool rp_event_key(const rp_event *ev, rp_key_level level, rp_key *key);

/* The route scopes an event may fall under for "fingerprint on a route"
 * keys (fingerprint:FP@SCOPE, see rp_scope_hash): the hash of its path
 * (a literal route) and of its path up to the last segment (an object
 * route, "/api/products/"), as the nginx module computes them without the
 * route templates. Writes up to 2 scopes; returns how many. */
int rp_event_scopes(const rp_event *ev, uint64_t scopes[2]);

#endif
