/*
 * hosts.h -- which host saw a request, in fleet mode (docs/cluster.md,
 * "Fleet view").
 *
 * Every node has a name (cluster.node; by default the consumer's name,
 * <hostname>-<hash of the store path>).
 * An edge writes its name once per stream entry (up to 32 events); the
 * detector turns the name into a one-byte host id here and stamps it on
 * each event it queues (protocol byte 5, rp_event.origin), so the engine,
 * the recent window and the incidents' samples carry one byte per event
 * and never a name. Two small structures, both owned by the daemon, none
 * by the engine (whose per-client memory does not change):
 *
 *   rp_hosts    the intern table: name <-> id. Append-only, so an id once
 *               given always names the same host and a reader needs no
 *               lock (the name is written before the count that makes it
 *               visible is released). Id 0 is this node, 1..254 the names
 *               met in the streams in order, 255 "unknown": a missing or
 *               invalid name, or one more than the table holds (counted).
 *   rp_origins  the hosts each recent client came through: a fixed table
 *               of 65,536 slots (1 MiB) keyed by the hash of a key (the
 *               address, its /24 or /48, the login username), each with
 *               up to 7 host ids; a slot taken by another key starts
 *               over. Lossy by design and bounded: it answers "seen on
 *               hosts a, b, c" for an incident when it is created, before
 *               the engine has kept more than the one sample.
 */
#ifndef RP_HOSTS_H
#define RP_HOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "rampart.h"

/* A node name: 1..64 bytes of [A-Za-z0-9._-] (rp_node_name_valid). */
#define RP_HOST_NAME_MAX RP_NODE_NAME_MAX
#define RP_HOST_SELF 0
#define RP_HOST_UNKNOWN 255
#define RP_HOSTS_MAX 254 /* ids 1..254 */

bool rp_host_name_valid(const char *name, size_t len);
/* A valid name from any text (the machine's hostname): each byte outside
 * the set becomes '-', cut to RP_HOST_NAME_MAX; "localhost" when empty.
 * out has room for RP_HOST_NAME_MAX + 1. */
void rp_host_name_sanitize(const char *in, char *out);

typedef struct rp_hosts rp_hosts;

/* self: this node's name (valid), id 0. */
rp_hosts *rp_hosts_new(const char *self);
void rp_hosts_free(rp_hosts *h);
/* The id of name (len bytes, not NUL-terminated, hostile): the id it has,
 * or a new one; RP_HOST_UNKNOWN when it is missing (NULL or empty),
 * invalid, or the table is full. Thread-safe. This node's own name is 0. */
uint8_t rp_hosts_intern(rp_hosts *h, const char *name, size_t len);
/* The name of an id; NULL for an id not given (and for RP_HOST_UNKNOWN).
 * Lock-free. */
const char *rp_hosts_name(const rp_hosts *h, uint8_t id);
/* Names refused (invalid or missing) and names past the table's size. */
uint64_t rp_hosts_refused(const rp_hosts *h);
uint64_t rp_hosts_overflow(const rp_hosts *h);
unsigned rp_hosts_count(const rp_hosts *h); /* ids given, this node's included */

/* At most this many distinct hosts per key (one slot); past it "more". */
#define RP_ORIGINS_PER_KEY 7

typedef struct rp_host_set {
    uint8_t n;
    bool more; /* hosts were seen past RP_ORIGINS_PER_KEY */
    uint8_t ids[RP_ORIGINS_PER_KEY + RP_MAX_SAMPLES];
} rp_host_set;

void rp_host_set_add(rp_host_set *s, uint8_t id);

typedef struct rp_origins rp_origins;

rp_origins *rp_origins_new(void);
void rp_origins_free(rp_origins *o);
/* One event, on the engine thread: its address, its network and its
 * login username noted as seen through ev->origin. */
void rp_origins_note(rp_origins *o, const rp_event *ev);
/* A hint: start loading the entries rp_origins_note(ev) will touch. */
void rp_origins_prefetch(const rp_origins *o, const rp_event *ev);
/* The hosts noted for key, added to s. */
void rp_origins_get(const rp_origins *o, const rp_key *key, rp_host_set *s);

#endif
