/*
 * campaign.h -- many addresses doing the same short thing.
 *
 * A campaign is a crowd of addresses that each send the same few write
 * requests (POST, PUT, PATCH, DELETE) with the same user agent, and do
 * nothing else: 224 addresses each POSTing to /, /index.php, /admin and
 * /api; spam posted to a signup form from a proxy list. No address does
 * enough to be judged alone, and the addresses share no network or
 * header set. What they share is the sequence.
 *
 * Two bounded sketches, owned by the engine (no bytes in the client
 * record, which is at its budget):
 *   - young addresses: for each address whose requests so far are all
 *     writes ("cold": it never loaded a page), the hash of its sequence of
 *     (method, route) seeded with its user agent, and its length; a
 *     direct-mapped table of 2^18 8-byte entries, overwritten on
 *     collision (an address that loses its entry is simply not followed);
 *   - sequences: for each sequence prefix, how many addresses reached it
 *     (those of the last two 5-minute slots apart: they have not had time
 *     to go on yet) and how many went on to another request, halved at
 *     each day boundary so that a campaign spread over days still counts;
 *     2^16 16-byte entries, direct-mapped with a 32-bit check.
 * People load a page first and are never cold. Apps and webhooks send
 * writes first, but they go on (a token request is followed by reads, a
 * webhook sender posts again and again): a prefix whose addresses go on
 * is not a campaign, whatever its count.
 *
 * Memory: 5 MiB in all, whatever the input. A flood of distinct
 * sequences can push a campaign's entry out of the sequence table; the
 * campaign is then counted again from zero (its members are not charged
 * meanwhile): a miss, never a false charge.
 */
#ifndef RP_CAMPAIGN_H
#define RP_CAMPAIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "rampart.h"

typedef struct rp_campaigns rp_campaigns;

/* What the sketches say about the current request of an address. */
typedef struct rp_campaign_view {
    uint8_t length;     /* writes in the address's cold sequence, this one included; 0 = not cold */
    uint32_t addresses; /* addresses that sent this sequence (halved daily) */
    uint32_t settled;   /* of them, those that sent it 5 to 10 min ago or earlier */
    uint32_t went_on;   /* addresses that sent another request after it */
    uint32_t head;      /* the sequence's first write (its prefix of length 1) */
    uint32_t head_campaigns; /* addresses starting with that write whose sequence was judged a
                              * campaign (rp_campaigns_judged; halved every day) */
} rp_campaign_view;

rp_status rp_campaigns_new(rp_campaigns **out);
void rp_campaigns_free(rp_campaigns *c);

/* Start loading the address's entry (4 MiB of them: out of the caches)
 * ahead of its rp_campaigns_observe; a hint, see rp_engine_prefetch. */
void rp_campaigns_prefetch(const rp_campaigns *c, const rp_event *ev);

/* Follow one request of an address (route_hash: the route's identity;
 * ua_hash: 0 when none; first: the engine has just started tracking the
 * address). Fills *view for this request. */
void rp_campaigns_observe(rp_campaigns *c, const rp_event *ev, uint64_t route_hash,
                          uint64_t ua_hash, bool first, rp_campaign_view *view);

/* The address's sequence was judged a campaign: count it at its first
 * write, so that the campaign's later members can be stopped there, at
 * their first request, instead of at their last. */
void rp_campaigns_judged(rp_campaigns *c, const rp_campaign_view *view, int64_t ts_us);

#endif
