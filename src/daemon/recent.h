/*
 * recent.h -- the daemon's memory of recent events: a fixed byte ring of
 * encoded events (protocol.h), oldest overwritten first.
 *
 * It answers what the engine does not keep per client: a key's recent
 * requests (the dashboard's timeline), the keys that share a fingerprint
 * or a subnet, and the events a what-if replays. Bounded by its byte size
 * (32 MiB holds ~150,000 typical events); owned by the engine thread and
 * read under the engine lock.
 */
#ifndef RP_RECENT_H
#define RP_RECENT_H

#include "rampart.h"

typedef struct rp_recent rp_recent;

rp_status rp_recent_new(size_t bytes, rp_recent **out);
void rp_recent_free(rp_recent *r);
void rp_recent_push(rp_recent *r, const rp_event *ev);
/* Keep an event already encoded (protocol.h), e.g. as the queue held it. */
void rp_recent_push_record(rp_recent *r, const uint8_t *data, size_t len);
/* Visit events oldest first until fn returns false. The event's strings
 * are valid during the call only. */
void rp_recent_each(const rp_recent *r, bool (*fn)(void *user, const rp_event *ev), void *user);
/* Make dst hold the events src holds, oldest first, as src does. dst was
 * made with the same byte size (RP_EINVAL otherwise). Copies the live
 * bytes only: what-if takes the window this way under the engine lock and
 * replays it after releasing the lock. */
rp_status rp_recent_copy(rp_recent *dst, const rp_recent *src);
/* Touch every page of r's buffer now (a fresh buffer is not yet backed by
 * memory): a copy into it under a lock then costs a memcpy, not 8,192
 * page faults on top (20 ms for 32 MiB, measured). */
void rp_recent_prefault(rp_recent *r);
uint64_t rp_recent_count(const rp_recent *r);  /* events held */
int64_t rp_recent_oldest_us(const rp_recent *r); /* time of the oldest held; 0 if empty */

#endif
