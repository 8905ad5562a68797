/*
 * sharing.c -- leaked or shared credentials: an API key or a session
 * suddenly used from many addresses that are new to it.
 *
 * A partner's key is used from its one to three egress addresses, a
 * person's session from a phone and a laptop, an office's staff token
 * from the office's one NAT address. A key copied into a script or a
 * credential list is suddenly used from dozens of addresses in as many
 * networks, while its owner keeps using it as before. Measured in
 * validation corpus C: the fulfilment partner polls with its key every
 * 20 s from one address; from +430 s the same key comes from 30 more
 * addresses (each in its own /16, 8-20 requests, 3-15 s apart) --
 * about one new address every 9 s, 14 in the first two minutes. The
 * legitimate keys there never add more than one address in five
 * minutes (the staff token: the office, then the scraper that stole it).
 *
 * So the key remembers who it belongs to. Per key (token and session
 * levels; the key itself is the client):
 *   established  a 256-bit Bloom filter (2 bits per address) of the
 *                addresses that used the key in a calm window. The key's
 *                very first address is established at once: whoever
 *                used the key first is its owner until shown otherwise.
 *   recent       the same filter of this window's newcomers (addresses
 *                not established); its fill gives their number.
 *   history      EWMA (alpha 0.1 per window, half-life ~35 min) of the
 *                newcomers per calm window: how many new addresses this
 *                key usually picks up.
 * Windows are 5 minutes from the key's first event. At the end of a calm
 * window its newcomers become established and teach the history; a window
 * in which the key surged teaches nothing (no poisoning: a leak never
 * becomes the key's normal).
 *
 * Score, on a request from a newcomer only:
 *   ramp(newcomers in the sliding 5 min, bound, 3) with
 *   bound = max(min_new_addresses, history_multiple x history);
 * in the key's first window (no history yet) only the absolute ceiling
 * new_key_addresses counts: a new public app key used by hundreds of
 * phones from day one is not a leak (it belongs in allow.tokens). On a
 * request from an established address the score is 0: the owner of a
 * leaked key is not the leak, and must keep working while the key is
 * rotated. In corpus C at the normal preset the bound is 6: the 6th new
 * address scores 0.5, the 9th 0.6 (throttle at weight 100), the 14th 0.8.
 *
 * The token and session keys are shared between the owner and the
 * leakers, so this detector's score is evidence against the *address*
 * that sent the request, not against the key. Scored for the key itself
 * (ctx->level token or session) it is capped at KEY_CAP: at weight 100
 * that is a monitor-level incident on the key ("rotate the credential"),
 * never a throttle or block that would refuse the owner too. Scored for
 * a member (the engine charging the address at the IP level, ctx->level
 * == RP_LEVEL_IP, as it charges members with a fingerprint's or a
 * subnet's score) it is the full score. The engine has to ask for the
 * member's charge for the new addresses to be stopped: see
 * docs/detectors.md, "sharing".
 *
 * Bloom filters: 256 bits, 2 bits per address. With a partner's 3
 * addresses established, a leaked address passes for an owner with
 * probability (6/256)^2 = 0.05 %; 30 newcomers set ~53 bits of `recent`
 * and are estimated as 30 (n = -128 ln(1 - bits/256)). When more than
 * 160 bits of `established` are set (~100 addresses) it is replaced by
 * the last calm window's newcomers, so a key that wanders over many
 * addresses (a phone on carrier NAT for weeks) keeps being judged on its
 * recent ones; the regulars come back as a handful of newcomers in the
 * next window. A key used by hundreds of addresses every window fills
 * both filters and is no longer judged (it fails open).
 *
 * State: two 32-byte filters, the newcomers' /24s (64-bit bitmap), the
 * window, the counts and the history: 90 bytes, 96 with alignment. The
 * token and session levels have room (no IP-level detector shares them);
 * the IP level is not watched.
 */
#include <math.h>
#include <string.h>

#include "detector.h"

#define WINDOW_S 300u         /* seconds per window */
#define HISTORY_ALPHA 0.1f    /* weight of the window that just closed */
#define BLOOM_BITS 256u
#define ESTABLISHED_FULL 160  /* bits set past which `established` is renewed */

/* The most the key itself scores: 50 points at the default weight, between
 * monitor (40) and throttle (60) at every preset. */
#define KEY_CAP 0.5

#define F_NEWCOMER 1u /* the last request came from an address new to the key */
#define F_SURGE 2u    /* the current window crossed the bound */

enum { P_MIN_NEW, P_MULTIPLE, P_NEW_KEY_CEILING, P_COUNT };

static const rp_param params[P_COUNT] = {
    [P_MIN_NEW] = {"min_new_addresses", "addresses", {15, 6, 4}, 2, 1e4,
                   "addresses new to a key in a sliding 5 min that a key may always reach: "
                   "0.5 here, 1.0 at 3x"},
    [P_MULTIPLE] = {"history_multiple", "x", {8, 4, 3}, 1, 1e4,
                    "bound as a multiple of the new addresses the key usually picks up per "
                    "5 min"},
    [P_NEW_KEY_CEILING] = {"new_key_addresses", "addresses", {500, 300, 100}, 2, 600,
                           "distinct addresses in a key's first 5 min at which it counts as "
                           "leaked (it has no history yet)"},
};

typedef struct sharing_state {
    uint64_t established[BLOOM_BITS / 64]; /* the key's own addresses */
    uint64_t recent[BLOOM_BITS / 64];      /* this window's newcomers */
    uint64_t recent_nets;  /* /24s (or /64s) of this window's newcomers, linear counting */
    uint32_t first_s;      /* the key's first event, seconds */
    uint32_t window;       /* current window number since first_s, + 1; 0 = none */
    float history;         /* EWMA of newcomers per calm window */
    uint16_t new_cur;      /* newcomers this window (estimated from `recent`) */
    uint16_t new_prev;     /* newcomers the previous window, when adjacent */
    uint8_t nets_cur;      /* newcomer networks this window (estimated) */
    uint8_t flags;         /* F_ */
} sharing_state;

_Static_assert(sizeof(sharing_state) <= 96, "sharing state budget is 96 bytes");

static bool bloom_has(const uint64_t *f, uint64_t h) {
    unsigned a = (unsigned)(h & 255u), b = (unsigned)((h >> 8) & 255u);
    return (f[a >> 6] >> (a & 63) & 1u) && (f[b >> 6] >> (b & 63) & 1u);
}

static bool bloom_add(uint64_t *f, uint64_t h) {
    bool had = bloom_has(f, h);
    unsigned a = (unsigned)(h & 255u), b = (unsigned)((h >> 8) & 255u);
    f[a >> 6] |= 1ull << (a & 63);
    f[b >> 6] |= 1ull << (b & 63);
    return !had;
}

static int bloom_bits(const uint64_t *f) {
    int n = 0;
    for (unsigned i = 0; i < BLOOM_BITS / 64; i++) n += __builtin_popcountll(f[i]);
    return n;
}

/* Distinct members of a 2-hash Bloom filter from its fill. */
static uint16_t bloom_count(const uint64_t *f) {
    int zeros = (int)BLOOM_BITS - bloom_bits(f);
    if (zeros <= 0) return 700; /* saturated: past every threshold */
    double n = -(BLOOM_BITS / 2.0) * log((double)zeros / BLOOM_BITS);
    return (uint16_t)lround(n);
}

static uint8_t nets_count(uint64_t bits) {
    int zeros = 64 - __builtin_popcountll(bits);
    if (zeros == 0) return 255;
    double n = -64.0 * log(zeros / 64.0);
    return n >= 255 ? 255 : (uint8_t)lround(n);
}

/* Newcomers in the sliding window ending at now. */
static double newcomers(const sharing_state *st, int64_t now_us) {
    int64_t start_us = ((int64_t)st->first_s + (int64_t)(st->window - 1) * WINDOW_S) * 1000000;
    double into = (double)(now_us - start_us) / (WINDOW_S * 1e6);
    double left = into < 0 ? 1 : into > 1 ? 0 : 1 - into;
    return st->new_cur + st->new_prev * left;
}

static double bound_of(const sharing_state *st, const double *p) {
    if (st->window <= 1) return p[P_NEW_KEY_CEILING];
    return fmax(p[P_MIN_NEW], p[P_MULTIPLE] * st->history);
}

/* The window that ends: a calm one teaches the key its newcomers. */
static void close_window(sharing_state *st, uint32_t next) {
    uint32_t gap = next - st->window;
    bool calm = !(st->flags & F_SURGE);
    if (calm) {
        uint64_t merged[BLOOM_BITS / 64];
        for (unsigned i = 0; i < BLOOM_BITS / 64; i++)
            merged[i] = st->established[i] | st->recent[i];
        if (bloom_bits(merged) > ESTABLISHED_FULL)
            memcpy(st->established, st->recent, sizeof st->established);
        else
            memcpy(st->established, merged, sizeof st->established);
        float h = st->window == 1 ? (float)st->new_cur
                                  : st->history * (1 - HISTORY_ALPHA) + HISTORY_ALPHA * st->new_cur;
        for (uint32_t i = 1; i < gap && i < 64; i++) h *= (1 - HISTORY_ALPHA); /* quiet windows */
        st->history = h;
    }
    st->new_prev = gap == 1 ? st->new_cur : 0;
    memset(st->recent, 0, sizeof st->recent);
    st->recent_nets = 0;
    st->new_cur = 0;
    st->nets_cur = 0;
    st->flags &= (uint8_t)~F_SURGE;
    st->window = next;
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    (void)obs;
    sharing_state *st = state;
    st->flags &= (uint8_t)~F_NEWCOMER;
    if (!ev->client.family) return;
    int64_t ts_s = ev->ts_us <= 0 ? 0 : ev->ts_us / 1000000;
    if (ts_s > UINT32_MAX) ts_s = UINT32_MAX;
    uint64_t h = rp_hash64(ev->client.bytes, 16, 0x5a);
    if (!st->window) { /* the key's first request: its owner */
        st->first_s = (uint32_t)ts_s;
        st->window = 1;
        bloom_add(st->established, h);
        return;
    }
    /* A late event (before the current window) is judged in it. */
    if (ts_s > (int64_t)st->first_s) {
        uint32_t w = (uint32_t)((ts_s - st->first_s) / WINDOW_S) + 1u;
        if (w > st->window) close_window(st, w);
    }
    if (bloom_has(st->established, h)) return;
    st->flags |= F_NEWCOMER;
    if (bloom_add(st->recent, h)) {
        st->new_cur = bloom_count(st->recent);
        rp_addr net;
        rp_addr_subnet(&ev->client, &net);
        uint64_t nh = rp_hash64(net.bytes, 16, 0x5b);
        st->recent_nets |= 1ull << (nh >> 58);
        st->nets_cur = nets_count(st->recent_nets);
    }
    /* In the first window the ceiling counts every address, the owner too. */
    double v = newcomers(st, ev->ts_us) + (st->window == 1);
    if (v >= bound_of(st, ctx->params)) st->flags |= F_SURGE;
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    (void)obs;
    const sharing_state *st = state;
    if (!st->window || !(st->flags & F_NEWCOMER)) return 0;
    const double *p = ctx->params;
    bool learning = st->window == 1;
    double v = newcomers(st, ctx->now_us) + learning;
    double bound = bound_of(st, p);
    double s = rp_ramp(v, bound, 3.0);
    if (ctx->level != RP_LEVEL_IP && s > KEY_CAP) s = KEY_CAP;
    if (finding && s > 0) {
        rp_finding_feature(finding, "new_addresses_5m", v, bound, learning ? NAN : st->history,
                           true);
        double nets = st->nets_cur < v ? st->nets_cur : v; /* linear counting overshoots */
        rp_finding_feature(finding, "new_networks_5m", nets, NAN, NAN, false);
        finding->threats = RP_THREAT_LEAKED_CREDENTIAL;
        if (learning)
            rp_finding_summary(finding,
                               "sharing: a new credential used from %.0f addresses in %u networks "
                               "in its first 5 min; threshold %.0f -- this address is one of "
                               "them; rotate the credential",
                               v, (unsigned)nets, bound);
        else
            rp_finding_summary(finding,
                               "sharing: this address is one of %.0f new to the credential in "
                               "5 min (%u networks; usually %.1f new per 5 min); threshold %.0f "
                               "-- its established addresses are not charged; rotate the "
                               "credential",
                               v, (unsigned)nets, st->history, bound);
    }
    return s;
}

const rp_detector rp_detector_sharing = {
    .name = "sharing",
    .description = "API keys and sessions suddenly used from many addresses new to them "
                   "(leaked or shared credentials); charges the new addresses, not the owner",
    .state_size = sizeof(sharing_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_TOKEN) | RP_LEVEL_BIT(RP_LEVEL_SESSION),
    /* a key is its owner's: what it shows is charged to the newcomer that
     * sent the request, the key itself is only monitored */
    .witness_levels = RP_LEVEL_BIT(RP_LEVEL_TOKEN) | RP_LEVEL_BIT(RP_LEVEL_SESSION),
    .threats = RP_THREAT_LEAKED_CREDENTIAL,
    .default_weight = 100,
    .params = params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
};
