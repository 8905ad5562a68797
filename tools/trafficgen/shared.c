/*
 * shared.c -- shared networks: many people behind one address.
 *
 * Rampart must never stop a person for what the neighbours do, and the
 * neighbours are many on the networks people really use:
 *
 *   carrier_nat  a mobile carrier's carrier-grade NAT: 4-8 addresses in one
 *                /24, 20-60 people behind each (hundreds per /24), mostly
 *                phone browsers, a few app installs. People log in (one in
 *                five with a typo or two first), browse, follow a stale
 *                link now and then (403 on someone else's order, 404 on an
 *                old product page).
 *   office_nat   one address for a whole office: 8-30 staff, most on the
 *                same managed browser build (one user agent for all), who
 *                log in through the form; 2-4 admins who log in again and
 *                again through the day and post the back-office forms
 *                (orders keyed in for phone customers, carts); one staff
 *                API token reading recent orders and their customers.
 *   vpn_exit     a VPN provider's exits, up to four per /24 of a hosting
 *                range: 5-25 unrelated people each, phones and desktops.
 *
 * Every such address is labelled legit with its network's kind. The
 * carrier NAT also brings what corpus C and live traffic show next to
 * one: a slow credential-stuffing swarm (distributed_nat_stuffing, labelled
 * attack) with 3 members inside each carrier /24, one phone browser
 * identity, a login attempt every 20-60 s per member -- the failures that
 * a /24 aggregate would mix with the people's own typos.
 *
 * Everything is off by default (--carrier-nat, --office-nat, --vpn-exit)
 * so that existing seeds keep their bytes; each person, app and network
 * draws from its own stream, so adding one office changes no carrier.
 */
#include "tg.h"

#define S(x) ((int64_t)((x) * 1e6))
#define MS(x) ((int64_t)((x) * 1e3))

/* RNG streams: away from the kinds' own numbers (0..TG_KIND_COUNT) and
 * from the default offices (100) and the attack shuffle (200). */
enum {
    STREAM_CARRIER = 300, /* a carrier /24's layout, index = network */
    STREAM_CARRIER_PERSON, /* index = person number in the run */
    STREAM_CARRIER_APP,
    STREAM_SWARM,          /* the swarm's identity (index 0), members (1..) */
    STREAM_OFFICE,         /* an office's layout, index = office */
    STREAM_OFFICE_PERSON,
    STREAM_OFFICE_ADMIN,
    STREAM_OFFICE_TOKEN,
    STREAM_VPN,            /* a provider /24, index = /24 number */
    STREAM_VPN_PERSON,
    STREAM_VPN_APP,
};

#define SWARM_PER_NET 3 /* swarm members in each carrier /24 */
#define VPN_PER_NET 4   /* VPN exits in one provider /24 */

static const tg_person_habits carrier_person = {
    .phone_share = 0.85, .login_first = 0.35, .stray = 0.08};
static const tg_person_habits vpn_person = {.phone_share = 0.4, .login_first = 0.3, .stray = 0.08};

static void send_at(tg_world *w, tg_rng *r, uint32_t client, int64_t t, tg_method m,
                    tg_route route, uint32_t arg, uint32_t arg2, uint16_t status, uint32_t body)
{
    tg_rec rec = {0};
    rec.ts_us = t;
    rec.client = client;
    rec.method = (uint8_t)m;
    rec.route = (uint8_t)route;
    rec.arg = arg;
    rec.arg2 = arg2;
    rec.status = status;
    rec.req_bytes = body;
    rec.ua = TG_UA_CLIENT;
    if (route == TG_R_API_LOGIN || route == TG_R_FORM_LOGIN)
        rec.flags |= TG_F_USERNAME;
    tg_fill_response(r, &rec);
    tg_emit(w, &rec);
}

static double horizon_s(const tg_world *w)
{
    return (double)w->duration_us / 1e6;
}

/* ------------------------------------------------------- carrier NAT */

typedef struct swarm {
    uint16_t ua;
    uint8_t header_set;
    bool form;
    uint32_t group;
    uint32_t members;
} swarm;

static void swarm_init(tg_world *w, swarm *s)
{
    tg_rng r;
    tg_rng_seed(&r, w->seed, STREAM_SWARM, 0);
    /* It hides among phones: a phone browser's user agent, and half the
     * time that browser's very headers too. */
    s->ua = tg_ua_pick(&r, TG_UA_PHONE);
    s->header_set = tg_chance(&r, 0.5) ? tg_ua_header_set(s->ua) : TG_HS_HEADLESS;
    s->form = tg_chance(&r, 0.3);
    s->group = tg_group_new(w, TG_NAT_STUFFING);
    s->members = 0;
}

/* One swarm member at an address of the carrier's /24: leaked names, one
 * attempt every 20-60 s on average, from a random moment to the end. */
static void swarm_member(tg_world *w, swarm *s, uint32_t prefix24)
{
    tg_rng r;
    tg_rng_seed(&r, w->seed, STREAM_SWARM, 1 + s->members++);
    uint32_t addr = tg_addr_in24(w, &r, prefix24, TG_NAT_STUFFING, s->group);
    uint32_t c = tg_client_new(w, addr, s->ua, s->header_set);
    double mean_gap = tg_range(&r, 20, 60);
    double t = tg_range(&r, 0, 0.3) * horizon_s(w);
    while (t < horizon_s(w)) {
        /* a name from a combo list: mostly not a user here */
        uint32_t user = tg_chance(&r, 0.15) ? tg_between(&r, 1, TG_USERS)
                                             : TG_USERS + 1 + tg_below(&r, 20000000);
        bool ok = tg_chance(&r, 0.003);
        uint32_t body = 40 + tg_below(&r, 50);
        if (s->form)
            send_at(w, &r, c, S(t), TG_POST, TG_R_FORM_LOGIN, 0, user, ok ? 302 : 200, body);
        else
            send_at(w, &r, c, S(t), TG_POST, TG_R_API_LOGIN, 0, user, ok ? 200 : 401, body);
        t += tg_exponential(&r, mean_gap);
    }
}

static void gen_carrier_nats(tg_world *w, uint32_t nets)
{
    swarm s;
    swarm_init(w, &s);
    uint32_t person = 0, app = 0;
    for (uint32_t n = 0; n < nets; n++) {
        tg_rng net;
        tg_rng_seed(&net, w->seed, STREAM_CARRIER, n);
        uint32_t prefix = tg_prefix24_pick(&net, TG_POOL_RESIDENTIAL);
        uint32_t group = tg_group_new(w, TG_CARRIER_NAT);
        uint32_t naddrs = tg_between(&net, 4, 8);
        for (uint32_t a = 0; a < naddrs; a++) {
            uint32_t addr = tg_addr_in24(w, &net, prefix, TG_CARRIER_NAT, group);
            uint32_t people = tg_between(&net, 20, 60);
            uint32_t apps = tg_between(&net, 0, 3);
            for (uint32_t p = 0; p < people; p++) {
                tg_rng r;
                tg_rng_seed(&r, w->seed, STREAM_CARRIER_PERSON, person++);
                tg_gen_person(w, &r, addr, &carrier_person);
            }
            for (uint32_t k = 0; k < apps; k++) {
                tg_rng r;
                tg_rng_seed(&r, w->seed, STREAM_CARRIER_APP, app++);
                tg_gen_app_install(w, &r, addr);
            }
        }
        for (uint32_t k = 0; k < SWARM_PER_NET; k++)
            swarm_member(w, &s, prefix);
    }
}

/* ----------------------------------------------------------- offices */

/* An admin's day: log in through the form (now and then with a typo),
 * post back-office forms at a working pace, leave, come back later on
 * another device or after the session expired, log in again. */
static void office_admin(tg_world *w, tg_rng *r, uint32_t addr, uint16_t ua)
{
    uint32_t c = tg_client_new(w, addr, ua, tg_ua_header_set(ua));
    w->clients[c].sessions = 1;
    uint32_t uid = tg_between(r, 1, TG_USERS);
    double t = tg_range(r, 0, 0.3) * horizon_s(w);
    while (t < horizon_s(w)) {
        send_at(w, r, c, S(t), TG_GET, TG_R_PAGE_LOGIN, 0, 0, 200, 0);
        t += tg_range(r, 3, 10);
        while (tg_chance(r, 0.15)) { /* a typo: the same error page */
            send_at(w, r, c, S(t), TG_POST, TG_R_FORM_LOGIN, 0, uid, 200, 40 + tg_below(r, 40));
            t += tg_range(r, 4, 12);
        }
        send_at(w, r, c, S(t), TG_POST, TG_R_FORM_LOGIN, 0, uid, 302, 40 + tg_below(r, 40));
        t += tg_range(r, 0.03, 0.2);
        send_at(w, r, c, S(t), TG_GET, TG_R_HOME, 0, 0, 200, 0);
        uint32_t forms = tg_between(r, 5, 25);
        for (uint32_t i = 0; i < forms && t < horizon_s(w); i++) {
            t += tg_clamp(tg_lognormal(r, 25, 0.8), 3, 180);
            double x = tg_uniform(r);
            if (x < 0.5) /* an order keyed in for a customer on the phone */
                send_at(w, r, c, S(t), TG_POST, TG_R_API_ORDERS, 0, 0, 201, 300 + tg_below(r, 1700));
            else if (x < 0.8)
                send_at(w, r, c, S(t), TG_PUT, TG_R_API_CART, 0, 0, 200, 80 + tg_below(r, 300));
            else
                send_at(w, r, c, S(t), TG_GET, TG_R_API_ORDER,
                        TG_ORDERS - tg_below(r, 2000), 0, 200, 0);
        }
        t += tg_clamp(tg_lognormal(r, 600, 0.8), 120, 3600);
    }
}

/* The staff token: a back-office page that polls new orders and opens
 * some of them and their customers -- many distinct objects, every one a
 * 200, with a key that is nobody's partner key. */
static void office_token(tg_world *w, tg_rng *r, uint32_t addr, uint16_t ua)
{
    uint32_t c = tg_client_new(w, addr, ua, tg_ua_header_set(ua));
    w->clients[c].api_key = tg_rng_next(r) | 1;
    w->clients[c].key_kind = 2;
    double t = tg_range(r, 0, 120);
    while (t < horizon_s(w)) {
        send_at(w, r, c, S(t), TG_GET, TG_R_API_ORDERS, 1, 0, 200, 0);
        if (tg_chance(r, 0.5)) {
            uint32_t opened = tg_between(r, 1, 5);
            for (uint32_t i = 0; i < opened; i++) {
                t += tg_range(r, 2, 15);
                uint32_t oid = TG_ORDERS - tg_below(r, 3000);
                send_at(w, r, c, S(t), TG_GET, TG_R_API_ORDER, oid, 0, 200, 0);
                t += tg_range(r, 1, 8);
                uint32_t customer = 1 + (uint32_t)(tg_mix64(oid) % TG_USERS);
                send_at(w, r, c, S(t), TG_GET, TG_R_API_USER, customer, 0, 200, 0);
            }
        }
        t += tg_range(r, 30, 120);
    }
}

static void gen_offices(tg_world *w, uint32_t offices)
{
    uint32_t person = 0;
    for (uint32_t o = 0; o < offices; o++) {
        tg_rng net;
        tg_rng_seed(&net, w->seed, STREAM_OFFICE, o);
        uint32_t group = tg_group_new(w, TG_OFFICE_NAT);
        uint32_t addr = tg_addr_new(w, &net, TG_POOL_RESIDENTIAL, 0, TG_OFFICE_NAT, TG_OFFICE_NAT,
                                    group);
        uint16_t fleet_ua = tg_ua_pick(&net, TG_UA_DESKTOP);
        uint32_t staff = tg_between(&net, 8, 30);
        uint32_t admins = tg_between(&net, 2, 4);
        for (uint32_t p = 0; p < staff; p++) {
            tg_rng r;
            tg_rng_seed(&r, w->seed, STREAM_OFFICE_PERSON, person++);
            tg_person_habits staff_habits = {.phone_share = 0.2,
                                             .login_first = 0.6,
                                             .stray = 0.05,
                                             .form_login = true};
            if (tg_chance(&r, 0.75))
                staff_habits.ua = fleet_ua;
            tg_gen_person(w, &r, addr, &staff_habits);
        }
        for (uint32_t k = 0; k < admins; k++) {
            tg_rng r;
            tg_rng_seed(&r, w->seed, STREAM_OFFICE_ADMIN, o * 8 + k);
            office_admin(w, &r, addr, fleet_ua);
        }
        tg_rng r;
        tg_rng_seed(&r, w->seed, STREAM_OFFICE_TOKEN, o);
        office_token(w, &r, addr, fleet_ua);
    }
}

/* ---------------------------------------------------------- VPN exits */

static void gen_vpn_exits(tg_world *w, uint32_t exits)
{
    uint32_t person = 0, app = 0, prefix = 0, group = 0;
    for (uint32_t e = 0; e < exits; e++) {
        tg_rng net;
        tg_rng_seed(&net, w->seed, STREAM_VPN, e);
        if (e % VPN_PER_NET == 0) {
            prefix = tg_prefix24_pick(&net, TG_POOL_CLOUD);
            group = tg_group_new(w, TG_VPN_EXIT);
        }
        uint32_t addr = tg_addr_in24(w, &net, prefix, TG_VPN_EXIT, group);
        uint32_t people = tg_between(&net, 5, 25);
        uint32_t apps = tg_below(&net, 2);
        for (uint32_t p = 0; p < people; p++) {
            tg_rng r;
            tg_rng_seed(&r, w->seed, STREAM_VPN_PERSON, person++);
            tg_gen_person(w, &r, addr, &vpn_person);
        }
        for (uint32_t k = 0; k < apps; k++) {
            tg_rng r;
            tg_rng_seed(&r, w->seed, STREAM_VPN_APP, app++);
            tg_gen_app_install(w, &r, addr);
        }
    }
}

void tg_gen_shared_networks(tg_world *w)
{
    if (w->counts.carrier_nats)
        gen_carrier_nats(w, w->counts.carrier_nats);
    if (w->counts.office_nats)
        gen_offices(w, w->counts.office_nats);
    if (w->counts.vpn_exits)
        gen_vpn_exits(w, w->counts.vpn_exits);
}
