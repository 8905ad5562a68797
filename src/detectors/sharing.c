/*
 * sharing.c -- leaked or shared credentials: an API key or a session used
 * from far more places at once than it ever was.
 *
 * A partner's key is used from its one to three egress addresses, a
 * person's session from a phone and a laptop. A key copied into a
 * credential list, or a session cookie stolen and replayed, is suddenly
 * used from dozens of addresses in several networks. Watched at the token
 * and session levels only (the key itself is the client), so the state
 * costs nothing per IP.
 *
 * Per key, per hour: distinct client addresses and distinct /24s (HLL
 * sketches, reset each hour), and the history -- an EWMA of the distinct
 * addresses of past hours (half-life ~3 hours). Score, max of:
 *   addresses  ramp(addresses this hour, bound, 3) with
 *              bound = max(min_addresses, multiple x history)
 *              once the key has at least one hour of history; before that
 *              only the absolute ceiling counts (a new public app key used
 *              by thousands of phones must not look leaked on day one:
 *              that one belongs in allow.tokens);
 *   networks   the same with /24s: min_networks, multiple x history / 2.
 * The token level is not shared with bystanders: a decision blocks the
 * key itself (the legitimate owner included -- a leaked key must be
 * rotated anyway; the evidence says so).
 *
 * State: two 32-byte sketches, the current hour, cached estimates and the
 * history: 80 bytes.
 */
#include <math.h>
#include <string.h>

#include "detector.h"

#define HOUR_US 3600000000LL
#define HISTORY_ALPHA 0.2f /* weight of the hour that just closed */

enum { P_MIN_ADDRESSES, P_MIN_NETWORKS, P_MULTIPLE, P_NEW_KEY_CEILING, P_COUNT };

static const rp_param params[P_COUNT] = {
    [P_MIN_ADDRESSES] = {"min_addresses", "addresses", {50, 20, 10}, 2, 1e6,
                         "distinct addresses in an hour a key may always reach: 0.5 here, "
                         "1.0 at 3x"},
    [P_MIN_NETWORKS] = {"min_networks", "/24s", {20, 8, 4}, 2, 1e6,
                        "distinct /24 (or /64) networks in an hour a key may always reach"},
    [P_MULTIPLE] = {"history_multiple", "x", {10, 5, 3}, 1, 1e4,
                    "bound as a multiple of the key's own usual addresses per hour"},
    [P_NEW_KEY_CEILING] = {"new_key_addresses", "addresses", {1000, 300, 100}, 2, 1e7,
                           "distinct addresses in an hour at which a key without history "
                           "(under an hour old) counts as leaked"},
};

typedef struct sharing_state {
    rp_hll addrs;         /* distinct client addresses, current hour */
    rp_hll nets;          /* distinct /24s, current hour */
    uint32_t hour;        /* current hour number; 0 = none */
    uint32_t first_hour;  /* the key's first hour */
    uint16_t addrs_cur;   /* cached estimates */
    uint16_t nets_cur;
    float history_addrs;  /* EWMA of past hours' distinct addresses */
} sharing_state;

_Static_assert(sizeof(sharing_state) <= 80, "sharing state budget is 80 bytes");

static uint16_t sat16(double v) { return v >= 65535 ? 65535 : (uint16_t)lround(v); }

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    (void)obs;
    (void)ctx;
    sharing_state *st = state;
    if (!ev->client.family) return;
    uint32_t hour = ev->ts_us <= 0 ? 1u : (uint32_t)(ev->ts_us / HOUR_US) + 1u;
    if (hour < st->hour) return; /* an older hour: already summarised */
    if (hour > st->hour) {
        if (st->hour) {
            /* hours without traffic count as zero in the history */
            float h = st->history_addrs;
            uint32_t gap = hour - st->hour;
            h = h * (1 - HISTORY_ALPHA) + HISTORY_ALPHA * st->addrs_cur;
            for (uint32_t i = 1; i < gap && i < 64; i++) h *= (1 - HISTORY_ALPHA);
            st->history_addrs = h;
        } else {
            st->first_hour = hour;
        }
        memset(&st->addrs, 0, sizeof st->addrs);
        memset(&st->nets, 0, sizeof st->nets);
        st->addrs_cur = st->nets_cur = 0;
        st->hour = hour;
    }
    if (rp_hll_add(&st->addrs, rp_hash64(ev->client.bytes, 16, 0x5a)))
        st->addrs_cur = sat16(rp_hll_estimate(&st->addrs));
    rp_addr net;
    rp_addr_subnet(&ev->client, &net);
    if (rp_hll_add(&st->nets, rp_hash64(net.bytes, 16, 0x5b)))
        st->nets_cur = sat16(rp_hll_estimate(&st->nets));
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    (void)obs;
    const sharing_state *st = state;
    if (!st->hour) return 0;
    const double *p = ctx->params;
    bool established = st->hour > st->first_hour;
    double normal = established ? st->history_addrs : NAN;
    double a_bound = established ? fmax(p[P_MIN_ADDRESSES], p[P_MULTIPLE] * st->history_addrs)
                                 : p[P_NEW_KEY_CEILING];
    double n_bound = established ? fmax(p[P_MIN_NETWORKS], p[P_MULTIPLE] * st->history_addrs / 2)
                                 : p[P_NEW_KEY_CEILING] / 2;
    double sa = rp_ramp(st->addrs_cur, a_bound, 3.0);
    double sn = rp_ramp(st->nets_cur, n_bound, 3.0);
    double s = sa > sn ? sa : sn;
    if (finding && s > 0) {
        rp_finding_feature(finding, "addresses_1h", st->addrs_cur, a_bound, normal, sa > 0);
        rp_finding_feature(finding, "networks_1h", st->nets_cur, n_bound, NAN, sn > 0);
        finding->threats = RP_THREAT_LEAKED_CREDENTIAL;
        if (established)
            rp_finding_summary(finding,
                               "sharing: used from %u addresses in %u networks this hour vs %.1f "
                               "normally (%.0fx); threshold %.0f -- rotate this credential",
                               st->addrs_cur, st->nets_cur, st->history_addrs,
                               st->history_addrs > 0 ? st->addrs_cur / st->history_addrs : 0,
                               a_bound);
        else
            rp_finding_summary(finding,
                               "sharing: a new credential used from %u addresses in %u networks "
                               "in its first hour; threshold %.0f -- rotate it",
                               st->addrs_cur, st->nets_cur, a_bound);
    }
    return s;
}

const rp_detector rp_detector_sharing = {
    .name = "sharing",
    .description = "API keys and sessions used from far more addresses and networks than "
                   "their own history (leaked or shared credentials)",
    .state_size = sizeof(sharing_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_TOKEN) | RP_LEVEL_BIT(RP_LEVEL_SESSION),
    .threats = RP_THREAT_LEAKED_CREDENTIAL,
    .default_weight = 100,
    .params = params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
};
