/*
 * campaign.c -- many addresses doing the same short thing, and nothing
 * else.
 *
 * Seen in real logs: 224 addresses, each sending the same four POSTs
 * (/, /index.php, /admin, /api) over three days and never anything else;
 * eighteen addresses posting spam to a signup form; sprays that give each
 * proxy three attempts. None of the addresses does enough to be judged on
 * its own, they share no network and no header set. What they share is
 * the sequence: the same write requests (method and route), in the same
 * order, with the same user agent, from addresses that never loaded a page.
 *
 * The engine follows every address from its first request while its
 * requests are all writes (campaign.h): the sequence so far, and for each
 * sequence how many addresses sent it and how many of those went on to
 * any other request. This detector reads that view (obs->campaign) and
 * keeps no state of its own: the client record is at its budget.
 *
 *   terminal  a sequence sent by at least min_addresses addresses, of
 *             which at most max_went_on went on to anything else, is a
 *             campaign: the address that sends it is charged, 0.6 (a
 *             throttle at weight 100) at min_addresses, 1.0 (block) at 3x.
 *   head      the campaign's first write, once at least min_addresses of
 *             the addresses that started with it were judged members and
 *             they are at least head_share of all that started with it:
 *             a new address sending that first write is charged at once,
 *             before it has finished.
 *
 * Who is never charged: people (their first request is a page), apps (a
 * token request followed by reads: their sequence goes on), GraphQL
 * clients that only write (they write again and again: every prefix goes
 * on), webhook senders (one POST per address: a campaign needs two writes
 * or more), a handful of addresses doing the same thing (below
 * min_addresses). An attacker who copies an app's first request shares
 * its head with the app's users: the members' share stays small, so
 * only the terminal rule charges them.
 *
 * The first min_addresses members are not charged (the crowd is not
 * visible yet): 224 addresses, 204 stopped at 20.
 */
#include <math.h>

#include "detector.h"

enum { P_MIN_ADDRESSES, P_MAX_WENT_ON, P_HEAD_SHARE, P_COUNT };

typedef struct campaign_view {
    double terminal, head; /* sub-scores */
} campaign_view;

/* Judged on the addresses that have had time to go on (5-10 min), and on
 * sequences of two writes or more: a single POST from many addresses that
 * never come back is what a webhook provider's pool of senders looks like
 * (each delivery from another address of its range, the client table long
 * forgotten by the next one). */
#define MIN_LENGTH 2

static bool terminal(const rp_campaign_view *v, const double *p) {
    return v->length >= MIN_LENGTH && v->settled >= p[P_MIN_ADDRESSES] &&
           v->went_on <= p[P_MAX_WENT_ON] * v->settled;
}

static double crowd(double n, double at) {
    if (!(n >= at) || at <= 0) return 0;
    double x = (n - at) / (2 * at);
    return 0.6 + 0.4 * (x > 1 ? 1 : x);
}

static void evaluate(const rp_observation *obs, const double *p, campaign_view *out) {
    const rp_campaign_view *v = &obs->campaign;
    out->terminal = terminal(v, p) ? crowd(v->settled, p[P_MIN_ADDRESSES]) : 0;
    out->head = 0;
    if (v->length == 1 && v->head_campaigns >= p[P_MIN_ADDRESSES] &&
        v->head_campaigns >= p[P_HEAD_SHARE] * v->addresses)
        out->head = crowd(v->head_campaigns, p[P_MIN_ADDRESSES]);
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    (void)state;
    /* A member judged on its terminal sequence teaches the campaign's
     * first write, once per length it reaches. */
    if (obs->campaigns && obs->campaign.length > 1 && terminal(&obs->campaign, ctx->params))
        rp_campaigns_judged(obs->campaigns, &obs->campaign, ev->ts_us);
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    (void)state;
    if (!obs->campaign.length) return 0;
    const double *p = ctx->params;
    campaign_view cv;
    evaluate(obs, p, &cv);
    double s = cv.terminal > cv.head ? cv.terminal : cv.head;
    if (finding && s > 0) {
        const rp_campaign_view *v = &obs->campaign;
        finding->threats = RP_THREAT_AUTOMATION;
        if (cv.terminal >= cv.head) {
            rp_finding_feature(finding, "campaign_addresses", v->addresses, p[P_MIN_ADDRESSES],
                               NAN, true);
            rp_finding_feature(finding, "went_on", v->addresses ? (double)v->went_on / v->addresses
                                                                : 0,
                               p[P_MAX_WENT_ON], NAN, true);
            rp_finding_summary(finding,
                               "campaign: %u addresses sent the same %u write request%s with "
                               "this user agent and, but for %u, nothing else (the last: %s %s); "
                               "threshold %.0f addresses",
                               v->addresses, (unsigned)v->length, v->length == 1 ? "" : "s",
                               v->went_on, rp_method_name((rp_method)obs->route->method),
                               obs->route->template_, p[P_MIN_ADDRESSES]);
        } else {
            rp_finding_feature(finding, "campaign_members", v->head_campaigns, p[P_MIN_ADDRESSES],
                               NAN, true);
            rp_finding_summary(finding,
                               "campaign: %u addresses that began with this request (%s %s, "
                               "same user agent) were members of a campaign; this address "
                               "begins the same way; threshold %.0f",
                               v->head_campaigns, rp_method_name((rp_method)obs->route->method),
                               obs->route->template_, p[P_MIN_ADDRESSES]);
        }
    }
    return s;
}

static const rp_param params[P_COUNT] = {
    [P_MIN_ADDRESSES] = {"min_addresses", "addresses", {40, 20, 10}, 3, 100000,
                         "addresses sending the same sequence of write requests with one user "
                         "agent and nothing else before it is a campaign: 0.6 here, 1.0 at 3x"},
    [P_MAX_WENT_ON] = {"max_went_on", "ratio", {0.1, 0.2, 0.3}, 0, 1,
                       "share of those addresses that may have gone on to other requests "
                       "(apps, webhooks and API clients go on)"},
    [P_HEAD_SHARE] = {"head_share", "ratio", {0.8, 0.6, 0.5}, 0.1, 1,
                      "share of the addresses beginning with a campaign's first write that must "
                      "have been members before a newcomer is charged at its first request"},
};

const rp_detector rp_detector_campaign = {
    .name = "campaign",
    .description = "many addresses sending the same few write requests with one user agent "
                   "and nothing else (a sketch of request sequences)",
    .state_size = 0,
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP),
    .threats = RP_THREAT_AUTOMATION,
    .default_weight = 100,
    .params = params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
};
