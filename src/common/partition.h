/*
 * partition.h -- which detector of a partitioned fleet counts which key
 * (cluster.partitions, docs/cluster.md "Partitioned detection"). One
 * derivation, compiled by the edge (where an event is written) and the
 * detector (what its engine counts of it), so that both always agree.
 */
#ifndef RP_PARTITION_H
#define RP_PARTITION_H

#include <stdbool.h>
#include <stdint.h>

#include "rampart.h"

/* A level the event carries no key at. */
#define RP_PARTITION_NONE 0xffffu

/* The partition of a client address: FNV-1a of the family and the /24
 * (IPv4) or /48 (IPv6), mod n; 0 when n <= 1. The address and subnet
 * levels are counted there. */
unsigned rp_partition_of_addr(const rp_addr *a, unsigned n);

/* The partition of each level's key the event carries, indexed by
 * rp_key_level: the address's for IP and SUBNET; for the aggregate
 * levels FNV-1a of the level and the key's 64-bit id, mod n. The
 * fingerprint's id is the one every fingerprint key of the event derives
 * from (the full fingerprint with a known header set; the user agent on
 * a POST or PUT without one, which the engine keys UA@ROUTE on auth
 * routes), so a fingerprint decided on a route is in its fingerprint's
 * partition. RP_PARTITION_NONE where the event has no key. */
void rp_event_partitions(const rp_event *ev, unsigned n, uint16_t parts[RP_LEVEL_COUNT]);

/* The partitions other than the address's (parts[RP_LEVEL_IP]) that
 * hold one of the event's aggregate keys, each once, in level order: the
 * aggregate streams the edge copies the event to. Returns how many (at
 * most RP_PARTITION_COPIES_MAX). */
#define RP_PARTITION_COPIES_MAX 4
unsigned rp_partition_copies(const uint16_t parts[RP_LEVEL_COUNT],
                             uint16_t copies[RP_PARTITION_COPIES_MAX]);

/* The levels (bits 1 << rp_key_level, rp_event.uncounted) that the engine
 * of partition q must not count for an event read from q's stream
 * (aggregate false: the address is q's) or from q's aggregate stream
 * <stream>:x:<q> (true: some aggregate key is q's). Each key of an event
 * is then counted by exactly one engine of the fleet; with one partition
 * nothing is skipped (0). */
uint8_t rp_partition_uncounted(const uint16_t parts[RP_LEVEL_COUNT], unsigned q,
                               bool aggregate_stream);

#endif
