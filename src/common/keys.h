/*
 * keys.h -- the one derivation of a client's keys, shared by the engine,
 * the daemon, the log parsers and the nginx module.
 *
 * A key is only useful if every part computes it the same way: the nginx
 * module looks a request up under the keys the engine decided on, the
 * daemon groups the events it remembers by the keys the engine charged,
 * /v1/check answers for the keys nginx would have looked up. So each id
 * (fingerprint, token, session, username) and each key a request is
 * looked up under is computed here, once, in a file that needs nothing
 * but rampart.h, hash.c and addr.c -- the nginx module compiles it
 * unchanged. test_keys proves that the module's path and the engine's
 * agree. The seeds are part of stored state (keys in decisions,
 * incidents and the decision table): they never change.
 */
#ifndef RP_KEYS_H
#define RP_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "rampart.h"

/* ------------------------------------------------------------ ids */

/* The id of a login username, a session value or an API key: the text
 * hashed whole (seed 0); 0 when empty. */
uint64_t rp_text_id(const char *text, size_t len);

/* The hash of a User-Agent (seed 0x9c); 0 when there is none. */
uint64_t rp_user_agent_hash(const char *ua, size_t len);
/* The header-name hash seeded with the user agent's hash: the
 * fingerprint's id. The caller decides whether it stands for a client
 * (rp_fingerprint: only with a user agent). */
uint64_t rp_fingerprint_hash(uint64_t ua_hash, uint64_t header_hash);
/* The fingerprint of a request with this user agent and header-name hash
 * (rp_header_names_hash); 0 when there is no user agent -- a header set
 * without an agent is too common to stand for a client. */
uint64_t rp_fingerprint(const char *ua, size_t ua_len, uint64_t header_hash);

/* --------------------------------------------------- header names */

/* Header names joined past this many bytes are not hashed (their flags
 * still count): a request with a thousand headers costs a bounded walk. */
#define RP_HEADER_NAMES_MAX 1024

/* The request's header names in arrival order, lower-cased and joined by
 * ',' ("host,user-agent,accept"), and the RP_HDR_ flags of the names
 * that say "a browser" (Accept-Language, Accept-Encoding, Cookie,
 * Referer, sec-ch-ua). Built on the caller's stack, name by name: the
 * nginx module from its header list, the JSON input from a logged
 * header_names field. */
typedef struct rp_header_names {
    uint32_t flags; /* RP_HDR_* */
    size_t used;
    char joined[RP_HEADER_NAMES_MAX];
} rp_header_names;

void rp_header_names_init(rp_header_names *h);
/* Adds one name (any case, no surrounding spaces); an empty one is skipped. */
void rp_header_names_add(rp_header_names *h, const char *name, size_t len);
/* The header_hash of an event: rp_hash64 of the joined names, seed 0. */
uint64_t rp_header_names_hash(const rp_header_names *h);

/* ---------------------------------------------------------- token */

/* The token id of an Authorization value "Bearer xyz": the scheme in any
 * case, then a run of spaces, then the credentials, hashed (rp_text_id of
 * "xyz"). 0 for any other scheme, a bare value or no credentials. */
uint64_t rp_bearer_id(const char *value, size_t len);
/* The token id of a header the operator names as the token's
 * (rampart_token_header Authorization): any scheme, the text after its
 * first run of spaces; a value without a space, or with nothing after
 * them, whole. */
uint64_t rp_credentials_id(const char *value, size_t len);
/* The token id of a request: its Authorization's bearer credentials,
 * else its API key header (X-API-Key) whole; 0 when it has neither.
 * Either value may be NULL. The rule of the nginx module, /v1/check and
 * the JSON log input (http_authorization, api_key). */
uint64_t rp_token_id(const char *authorization, size_t auth_len, const char *api_key,
                     size_t key_len);

/* ------------------------------------------------------- a request */

/* One walk over a request's headers in arrival order yields everything
 * the keys need: the header names (fingerprint and flags), the user
 * agent, and the token. The nginx module feeds it from its header list;
 * test_keys feeds it the same request as a JSON log line and checks the
 * engine gets the same keys. Values point into the caller's request and
 * must outlive the walk. Of a repeated header the first counts, as
 * nginx's $http_NAME and its headers_in pointers. */
typedef struct rp_request_headers {
    rp_header_names names;
    const char *token_header; /* lower-case name; NULL: Authorization Bearer, else X-API-Key */
    size_t token_header_len;
    const char *user_agent, *authorization, *api_key, *token;
    size_t user_agent_len, authorization_len, api_key_len, token_len;
} rp_request_headers;

/* token_header: the header the operator names as the token's
 * (rampart_token_header), lower-case; NULL or "" for the default. */
void rp_request_headers_init(rp_request_headers *r, const char *token_header, size_t len);
void rp_request_headers_add(rp_request_headers *r, const char *name, size_t name_len,
                            const char *value, size_t value_len);
/* The token id: with a named token header, its value (rp_credentials_id
 * when it is Authorization, whole otherwise); by default rp_token_id. */
uint64_t rp_request_token_id(const rp_request_headers *r);
/* rp_fingerprint of the user agent and the header names. */
uint64_t rp_request_fingerprint(const rp_request_headers *r);

/* ----------------------------------------------------------- keys */

/* The fingerprint on a route: fingerprint:FP@SCOPE, the scope
 * (rp_scope_hash) in bytes 8..15 of the fingerprint's key. */
void rp_key_on_route(rp_key *key, const rp_key *fingerprint, uint64_t scope);

/* At most how many keys rp_request_keys writes: ip, subnet, fingerprint,
 * the fingerprint on 2 route scopes, token. */
#define RP_REQUEST_KEYS_MAX 6
/* The keys a request is looked up under in the decision table, in this
 * order: ip and subnet (when the address is known), the fingerprint
 * (when not 0) and the fingerprint on each scope of the target's path
 * (rp_path_scopes; the target is cut at '?'), the token (when not 0).
 * Returns how many. */
int rp_request_keys(const rp_addr *client, uint64_t fingerprint, const char *target,
                    size_t target_len, uint64_t token_id, rp_key out[RP_REQUEST_KEYS_MAX]);

/* -------------------------------------------------------- events */

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
