/*
 * campaign.c -- the sketches behind the campaign detector (campaign.h).
 *
 * Both tables are direct-mapped and never grow: an address or a sequence
 * that collides replaces the occupant. Written here rather than taken from
 * a library because it is the product's own sketch, on the event path:
 * two cache lines touched per request.
 */
#include "campaign.h"

#include <stdlib.h>
#include <string.h>

#define YOUNG_BITS 18
#define SEQ_BITS 16
#define MAX_LENGTH 16   /* cold writes followed; past it an address is an API client */
#define NOT_COLD 255    /* the address made another kind of request: not followed */
#define DAY_US 86400000000LL

typedef struct young {
    uint32_t tag;  /* the address's hash, high bits; 0 = free */
    uint8_t length;
    uint8_t reserved[3];
    uint32_t seq;  /* hash of the sequence so far */
    uint32_t head; /* hash of its first write: the prefix of length 1 */
} young;

typedef struct sequence {
    uint32_t check;     /* the sequence's hash; 0 = free */
    uint16_t slot;      /* SLOT_US slot number (mod 65536) of recent[0] */
    uint16_t recent[2]; /* addresses that sent it in this slot and the one before */
    uint16_t settled;   /* addresses that sent it before that (halved daily) */
    uint16_t went_on;   /* addresses that sent another request after it (halved daily) */
    uint16_t heads;     /* addresses starting here whose sequence was judged a campaign
                         * (halved daily) */
} sequence;

_Static_assert(sizeof(young) == 16, "young entry is 16 bytes");
_Static_assert(sizeof(sequence) == 16, "sequence entry is 16 bytes");

struct rp_campaigns {
    young *young;
    sequence *seq;
};

rp_status rp_campaigns_new(rp_campaigns **out) {
    *out = NULL;
    rp_campaigns *c = calloc(1, sizeof *c);
    if (!c) return RP_ENOMEM;
    c->young = calloc((size_t)1 << YOUNG_BITS, sizeof *c->young);
    c->seq = calloc((size_t)1 << SEQ_BITS, sizeof *c->seq);
    if (!c->young || !c->seq) {
        rp_campaigns_free(c);
        return RP_ENOMEM;
    }
    *out = c;
    return RP_OK;
}

void rp_campaigns_free(rp_campaigns *c) {
    if (!c) return;
    free(c->young);
    free(c->seq);
    free(c);
}

static inline uint16_t add16(uint16_t v) {
    return v == UINT16_MAX ? v : (uint16_t)(v + 1);
}

/* Addresses are judged on a sequence only once they have had time to go
 * on: those that sent it at least one whole slot ago ("settled"). A crowd
 * moving in step -- devices that all post at the top of the minute --
 * looks finished at every step until its next one. */
#define SLOT_US (300 * 1000000LL)
#define SLOTS_PER_DAY 288

static uint16_t slot_of(int64_t ts_us) {
    return (uint16_t)((ts_us <= 0 ? 0 : ts_us / SLOT_US) & 0xffff);
}

static void halve(sequence *s) {
    s->settled /= 2;
    s->went_on /= 2;
    s->heads /= 2;
}

/* Bring an entry to `slot`: what arrived two slots ago or earlier has
 * settled; a day boundary halves the settled counts. */
static void roll(sequence *s, uint16_t slot) {
    uint16_t gap = (uint16_t)(slot - s->slot);
    if (gap == 0 || gap > 32768) return; /* the same slot, or an older event */
    unsigned days = ((unsigned)(s->slot % SLOTS_PER_DAY) + gap) / SLOTS_PER_DAY;
    unsigned moved = gap == 1 ? s->recent[1] : (unsigned)s->recent[0] + s->recent[1];
    unsigned settled = s->settled + moved;
    s->settled = settled > UINT16_MAX ? UINT16_MAX : (uint16_t)settled;
    s->recent[1] = gap == 1 ? s->recent[0] : 0;
    s->recent[0] = 0;
    for (unsigned d = 0; d < days && d < 16; d++) halve(s);
    s->slot = slot;
}

static sequence *find(rp_campaigns *c, uint32_t h, uint16_t slot) {
    sequence *s = &c->seq[h & ((1u << SEQ_BITS) - 1)];
    if (s->check != h) return NULL;
    roll(s, slot);
    return s;
}

static sequence *claim(rp_campaigns *c, uint32_t h, uint16_t slot) {
    sequence *s = &c->seq[h & ((1u << SEQ_BITS) - 1)];
    if (s->check != h) {
        memset(s, 0, sizeof *s);
        s->check = h;
        s->slot = slot;
    }
    roll(s, slot);
    return s;
}

static uint32_t nonzero32(uint64_t h) {
    uint32_t v = (uint32_t)(h ^ (h >> 32));
    return v ? v : 1u;
}

static bool is_write(uint8_t method) {
    return method == RP_METHOD_POST || method == RP_METHOD_PUT || method == RP_METHOD_PATCH ||
           method == RP_METHOD_DELETE;
}

static young *young_of(const rp_campaigns *c, const rp_event *ev, uint64_t *ah) {
    *ah = rp_hash64(ev->client.bytes, sizeof ev->client.bytes, 0xca3b);
    return &c->young[*ah & ((1u << YOUNG_BITS) - 1)];
}

void rp_campaigns_prefetch(const rp_campaigns *c, const rp_event *ev) {
    uint64_t ah;
    __builtin_prefetch(young_of(c, ev, &ah));
}

void rp_campaigns_observe(rp_campaigns *c, const rp_event *ev, uint64_t route_hash,
                          uint64_t ua_hash, bool first, rp_campaign_view *view) {
    memset(view, 0, sizeof *view);
    uint64_t ah;
    young *y = young_of(c, ev, &ah);
    uint32_t tag = nonzero32(ah >> YOUNG_BITS);
    uint16_t slot = slot_of(ev->ts_us);
    if (first) { /* only addresses followed from their first request can be cold */
        memset(y, 0, sizeof *y);
        y->tag = tag;
        y->seq = nonzero32(rp_hash64(&ua_hash, sizeof ua_hash, 0xca3c));
    } else if (y->tag != tag || y->length == NOT_COLD) {
        return;
    }
    if (y->length > 0) { /* it went on past its prefix */
        sequence *s = find(c, y->seq, slot);
        if (s) s->went_on = add16(s->went_on);
    }
    if (!is_write(ev->method) || y->length >= MAX_LENGTH) {
        y->length = NOT_COLD;
        return;
    }
    uint64_t step[2] = {(uint64_t)y->seq << 8 | ev->method, route_hash};
    y->seq = nonzero32(rp_hash64(step, sizeof step, 0xca3d));
    y->length++;
    if (y->length == 1) y->head = y->seq;
    sequence *s = claim(c, y->seq, slot);
    s->recent[0] = add16(s->recent[0]);
    view->length = y->length;
    view->settled = s->settled;
    view->addresses = (uint32_t)s->settled + s->recent[0] + s->recent[1];
    view->went_on = s->went_on;
    if (y->length > 1) {
        const sequence *h = find(c, y->head, slot);
        if (h) view->head_campaigns = h->heads;
    } else {
        view->head_campaigns = s->heads;
    }
    view->head = y->head;
}

void rp_campaigns_judged(rp_campaigns *c, const rp_campaign_view *view, int64_t ts_us) {
    if (!view->head) return;
    sequence *h = find(c, view->head, slot_of(ts_us));
    if (h) h->heads = add16(h->heads);
}
