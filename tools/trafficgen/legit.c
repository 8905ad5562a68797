/*
 * legit.c -- the legitimate population: humans in browsers, mobile apps,
 * partner integrations, uptime monitors and search crawlers.
 *
 * These are the clients Rampart must never block, so they are built to be
 * the hard cases, not the easy ones: partners poll like clockwork with
 * fixed user agents and sometimes fetch the whole catalogue by id in a
 * batch; crawlers touch thousands of objects and hit 404s; offices put a
 * dozen people behind one address; humans mistype passwords. Every actor
 * draws its own parameters, so no two humans or partners look the same.
 */
#include <math.h>

#include "tg.h"

#define S(x) ((int64_t)((x) * 1e6))
#define MS(x) ((int64_t)((x) * 1e3))

static tg_rec make(uint32_t client, int64_t t, tg_method m, tg_route route, uint32_t arg,
                   uint32_t arg2, uint16_t status)
{
    tg_rec rec = {0};
    rec.ts_us = t;
    rec.client = client;
    rec.method = (uint8_t)m;
    rec.route = (uint8_t)route;
    rec.arg = arg;
    rec.arg2 = arg2;
    rec.status = status;
    rec.ua = TG_UA_CLIENT;
    return rec;
}

static void send_rec(tg_world *w, tg_rng *r, tg_rec *rec)
{
    tg_fill_response(r, rec);
    tg_emit(w, rec);
}

/* Popular products are viewed far more often than the tail. */
static uint32_t popular_product(tg_rng *r)
{
    double u = tg_uniform(r);
    return 1 + (uint32_t)(u * u * u * (TG_PRODUCTS - 1));
}

/* ---------------------------------------------------------------- humans */

typedef struct human {
    tg_world *w;
    tg_rng *r;
    uint32_t client;
    int64_t t;
    uint32_t uid;
    uint32_t limit;
    uint32_t page;
    uint8_t session;
    bool logged_in, has_cookie, cart, form_login;
    double think_median;
    double login_first, stray; /* tg_person_habits; 0 for the default humans */
    uint32_t left; /* requests left in this session */
} human;

static void human_send(human *h, tg_method m, tg_route route, uint32_t arg, uint32_t arg2,
                       uint16_t status, uint8_t referer, uint32_t body)
{
    if (!h->left)
        return;
    tg_rec rec = make(h->client, h->t, m, route, arg, arg2, status);
    rec.referer = referer;
    rec.req_bytes = body;
    rec.flags = (uint8_t)((h->session & 0xf) << TG_F_SESSION_SHIFT);
    if (!h->has_cookie)
        rec.flags |= TG_F_NO_COOKIE;
    if (route == TG_R_API_LOGIN || route == TG_R_FORM_LOGIN)
        rec.flags |= TG_F_USERNAME;
    send_rec(h->w, h->r, &rec);
    h->has_cookie = true;
    h->left--;
}

static void human_wait(human *h)
{
    h->t += S(tg_clamp(tg_lognormal(h->r, h->think_median, 0.7), 2.0, 40.0));
}

static void human_small_gap(human *h, double lo_ms, double hi_ms)
{
    h->t += MS(tg_range(h->r, lo_ms, hi_ms));
}

/* A page load: the document, then a burst of assets (unless cached). */
static void human_page_load(human *h, tg_route route, uint32_t arg, uint8_t referer, int visit)
{
    uint16_t st = (route == TG_R_PAGE_PRODUCT && !tg_product_exists(arg)) ? 404 : 200;
    human_send(h, TG_GET, route, arg, 0, st, referer, 0);
    if (visit > 0 && tg_chance(h->r, 0.6))
        return; /* assets still cached */
    uint16_t asset = visit > 0 ? 304 : 200;
    human_small_gap(h, 40, 260);
    human_send(h, TG_GET, TG_R_APP_CSS, 0, 0, asset, TG_REF_HOME, 0);
    human_small_gap(h, 2, 60);
    human_send(h, TG_GET, TG_R_APP_JS, 0, 0, asset, TG_REF_HOME, 0);
    if (visit == 0 || tg_chance(h->r, 0.3)) {
        human_small_gap(h, 150, 900);
        human_send(h, TG_GET, TG_R_FAVICON, 0, 0, asset, TG_REF_HOME, 0);
    }
}

static void human_login(human *h)
{
    uint32_t typos = tg_chance(h->r, 0.8) ? 0 : tg_chance(h->r, 0.75) ? 1 : 2;
    bool give_up = typos && tg_chance(h->r, 0.1);
    if (h->form_login) {
        human_send(h, TG_GET, TG_R_PAGE_LOGIN, 0, 0, 200, TG_REF_HOME, 0);
        human_small_gap(h, 4000, 15000);
    }
    for (uint32_t i = 0; i <= typos; i++) {
        bool last = i == typos;
        bool ok = last && !give_up;
        uint32_t body = 40 + tg_below(h->r, 40);
        if (h->form_login) {
            human_send(h, TG_POST, TG_R_FORM_LOGIN, 0, h->uid, ok ? 302 : 200, TG_REF_LOGIN, body);
            if (ok) {
                human_small_gap(h, 30, 200);
                human_send(h, TG_GET, TG_R_HOME, 0, 0, 200, TG_REF_LOGIN, 0);
            }
        } else {
            human_send(h, TG_POST, TG_R_API_LOGIN, 0, h->uid, ok ? 200 : 401, TG_REF_LOGIN, body);
        }
        if (!last)
            h->t += S(tg_range(h->r, 3, 12)); /* retyping the password */
    }
    h->logged_in = !give_up;
}

static void human_account(human *h)
{
    human_send(h, TG_GET, TG_R_API_USER, h->uid, 0, 200, TG_REF_ACCOUNT, 0);
    human_small_gap(h, 20, 300);
    human_send(h, TG_GET, TG_R_API_USER_ORDERS, h->uid, 0, 200, TG_REF_ACCOUNT, 0);
    if (tg_chance(h->r, 0.5)) {
        human_wait(h);
        uint32_t oid = 1 + (uint32_t)(tg_mix64(h->uid * 13ull + tg_below(h->r, 5)) % TG_ORDERS);
        human_send(h, TG_GET, TG_R_API_ORDER, oid, 0, 200, TG_REF_ACCOUNT, 0);
    }
    /* Tested only when set, so that the default humans draw exactly what
     * they always drew (the same seed keeps its bytes). */
    if (h->stray > 0 && tg_chance(h->r, h->stray)) {
        human_wait(h);
        if (tg_chance(h->r, 0.6)) { /* a link to someone else's order */
            uint32_t oid = tg_between(h->r, 1, TG_ORDERS);
            human_send(h, TG_GET, TG_R_API_ORDER, oid, 0, 403, TG_REF_NONE, 0);
        } else { /* an old bookmark */
            human_send(h, TG_GET, TG_R_PAGE_PRODUCT, tg_between(h->r, 5001, 5400), 0, 404,
                       TG_REF_NONE, 0);
        }
    }
}

static void human_action(human *h)
{
    double x = tg_uniform(h->r);
    if (x < 0.22) {
        h->page = tg_chance(h->r, 0.7) ? h->page + 1 : 1;
        human_send(h, TG_GET, TG_R_API_PRODUCTS, h->page, h->limit, 200, TG_REF_PRODUCTS, 0);
    } else if (x < 0.52) {
        /* now and then an old link or a typed id: a 404 */
        uint32_t id = tg_chance(h->r, 0.015) ? tg_between(h->r, 5001, 5400) : popular_product(h->r);
        human_send(h, TG_GET, TG_R_API_PRODUCT, id, 0, tg_product_exists(id) ? 200 : 404,
                   TG_REF_PRODUCTS, 0);
    } else if (x < 0.67) {
        uint32_t word = tg_below(h->r, tg_search_word_count());
        human_send(h, TG_GET, TG_R_API_SEARCH, word, 0, 200, TG_REF_SEARCH, 0);
        if (tg_chance(h->r, 0.25)) {
            h->t += S(tg_range(h->r, 2, 9));
            human_send(h, TG_GET, TG_R_API_SEARCH, word, 2, 200, TG_REF_SEARCH, 0);
        }
    } else if (x < 0.77) {
        if (tg_chance(h->r, 0.5)) {
            human_send(h, TG_PUT, TG_R_API_CART, 0, 0, 200, TG_REF_PRODUCT, 60 + tg_below(h->r, 160));
            h->cart = true;
        } else {
            human_send(h, TG_GET, TG_R_API_CART, 0, 0, 200, TG_REF_HOME, 0);
        }
    } else if (x < 0.87) {
        if (h->logged_in)
            human_account(h);
        else if (tg_chance(h->r, 0.5))
            human_login(h);
        else
            human_send(h, TG_GET, TG_R_API_PRODUCTS, 1, h->limit, 200, TG_REF_HOME, 0);
    } else if (x < 0.92) {
        if (!h->logged_in)
            human_login(h);
        else
            human_account(h);
    } else if (x < 0.95 && h->logged_in && h->cart) {
        human_send(h, TG_GET, TG_R_API_CART, 0, 0, 200, TG_REF_PRODUCT, 0);
        human_small_gap(h, 8000, 30000);
        human_send(h, TG_POST, TG_R_API_ORDERS, 0, 0, 201, TG_REF_PRODUCT, 300 + tg_below(h->r, 1200));
        h->cart = false;
    } else {
        human_send(h, TG_GET, TG_R_HOME, 0, 0, 200, TG_REF_PRODUCT, 0);
        human_small_gap(h, 100, 700);
        human_send(h, TG_GET, TG_R_API_PRODUCTS, 1, h->limit, 200, TG_REF_HOME, 0);
    }
}

static void human_session(human *h, int visit)
{
    h->left = (uint32_t)tg_clamp(tg_lognormal(h->r, 16, 0.6), 5, 60);
    h->logged_in = h->logged_in && tg_chance(h->r, 0.8); /* sessions expire */
    h->page = 1;
    double entry = tg_uniform(h->r);
    if (entry < 0.55) {
        human_page_load(h, TG_R_HOME, 0, tg_chance(h->r, 0.3) ? TG_REF_GOOGLE : TG_REF_NONE, visit);
        human_small_gap(h, 200, 900);
        human_send(h, TG_GET, TG_R_API_PRODUCTS, 1, h->limit, 200, TG_REF_HOME, 0);
    } else if (entry < 0.85) {
        uint32_t id = popular_product(h->r);
        human_page_load(h, TG_R_PAGE_PRODUCT, id, tg_chance(h->r, 0.8) ? TG_REF_GOOGLE : TG_REF_BING,
                        visit);
    } else {
        human_page_load(h, TG_R_PAGE_PRODUCTS, 1, TG_REF_GOOGLE, visit);
    }
    if (h->has_cookie && tg_chance(h->r, 0.6)) {
        human_small_gap(h, 100, 600);
        human_send(h, TG_GET, TG_R_API_CART, 0, 0, 200, TG_REF_HOME, 0);
    }
    if (h->login_first > 0 && !h->logged_in && tg_chance(h->r, h->login_first)) {
        human_wait(h);
        human_login(h);
    }
    while (h->left && h->t < h->w->duration_us) {
        human_wait(h);
        human_action(h);
    }
}

static void gen_human(tg_world *w, tg_rng *r, uint32_t client, const tg_person_habits *habits)
{
    human h = {0};
    h.w = w;
    h.r = r;
    h.client = client;
    h.login_first = habits->login_first;
    h.stray = habits->stray;
    h.uid = tg_between(r, 1, TG_USERS);
    static const uint32_t limits[] = {12, 20, 24, 48};
    h.limit = limits[tg_below(r, 4)];
    h.form_login = tg_chance(r, 0.3) || habits->form_login;
    h.think_median = tg_range(r, 5, 16);
    /* Some sessions were already running when the log starts. */
    h.t = S(tg_range(r, -0.25, 1.0) * ((double)w->duration_us / 1e6));
    for (int visit = 0; visit < 16 && h.t < w->duration_us; visit++) {
        h.session = (uint8_t)visit;
        human_session(&h, visit);
        h.t += S(tg_clamp(tg_lognormal(r, 600, 1.0), 120, 7200));
    }
}

/* The habits of the default humans: a little over half on phones. */
static const tg_person_habits plain_person = {0.55, 0, 0, 0, false};

static uint32_t human_client(tg_world *w, tg_rng *r, uint32_t addr, const tg_person_habits *habits)
{
    uint16_t ua = habits->ua;
    if (!ua)
        ua = tg_ua_pick(r, tg_chance(r, habits->phone_share) ? TG_UA_PHONE : TG_UA_DESKTOP);
    uint32_t c = tg_client_new(w, addr, ua, tg_ua_header_set(ua));
    w->clients[c].sessions = 1;
    return c;
}

void tg_gen_person(tg_world *w, tg_rng *r, uint32_t addr, const tg_person_habits *habits)
{
    gen_human(w, r, human_client(w, r, addr, habits), habits);
}

static void gen_humans(tg_world *w, uint32_t n)
{
    uint32_t i = 0;
    /* Offices: 3-12 people behind one NAT address, about 1 human in 8. */
    tg_rng office_rng;
    tg_rng_seed(&office_rng, w->seed, 100, 0);
    uint32_t in_offices = n / 8;
    for (uint32_t office = 0; i < in_offices; office++) {
        uint32_t size = tg_between(&office_rng, 3, 12);
        uint32_t group = tg_group_new(w, TG_GROUP_OFFICE);
        uint32_t addr = tg_addr_new(w, &office_rng, TG_POOL_RESIDENTIAL, 0.0, TG_HUMAN,
                                    TG_GROUP_OFFICE, group);
        for (uint32_t k = 0; k < size && i < in_offices; k++, i++) {
            tg_rng r;
            tg_rng_seed(&r, w->seed, TG_HUMAN, i);
            tg_gen_person(w, &r, addr, &plain_person);
        }
    }
    for (; i < n; i++) {
        tg_rng r;
        tg_rng_seed(&r, w->seed, TG_HUMAN, i);
        uint32_t group = tg_group_new(w, TG_HUMAN);
        uint32_t addr = tg_addr_new(w, &r, TG_POOL_RESIDENTIAL, 0.12, TG_HUMAN, TG_HUMAN, group);
        tg_gen_person(w, &r, addr, &plain_person);
    }
}

/* ----------------------------------------------------------- mobile apps */

static void app_send(tg_world *w, tg_rng *r, uint32_t client, int64_t t, tg_method m,
                     tg_route route, uint32_t arg, uint32_t arg2, uint16_t status, uint32_t body)
{
    tg_rec rec = make(client, t, m, route, arg, arg2, status);
    rec.req_bytes = body;
    if (route == TG_R_API_LOGIN)
        rec.flags |= TG_F_USERNAME;
    send_rec(w, r, &rec);
}

/* One screen: a burst of API calls a few hundred milliseconds apart. */
static int64_t app_burst(tg_world *w, tg_rng *r, uint32_t client, int64_t t, uint32_t uid)
{
    uint32_t calls = tg_between(r, 3, 12);
    for (uint32_t i = 0; i < calls; i++) {
        double x = tg_uniform(r);
        if (x < 0.3) {
            app_send(w, r, client, t, TG_GET, TG_R_API_PRODUCTS, tg_between(r, 1, 6), 20, 200, 0);
        } else if (x < 0.6) {
            uint32_t id = popular_product(r);
            app_send(w, r, client, t, TG_GET, TG_R_API_PRODUCT, id, 0,
                     tg_product_exists(id) ? 200 : 404, 0);
        } else if (x < 0.72) {
            app_send(w, r, client, t, TG_GET, TG_R_API_SEARCH, tg_below(r, tg_search_word_count()),
                     0, 200, 0);
        } else if (x < 0.85) {
            app_send(w, r, client, t, TG_GET, TG_R_API_CART, 0, 0, 200, 0);
        } else if (x < 0.93) {
            app_send(w, r, client, t, TG_GET, TG_R_API_USER, uid, 0, 200, 0);
        } else if (x < 0.98) {
            app_send(w, r, client, t, TG_GET, TG_R_API_USER_ORDERS, uid, 0, 200, 0);
        } else {
            app_send(w, r, client, t, TG_PUT, TG_R_API_CART, 0, 0, 200, 80 + tg_below(r, 120));
        }
        t += MS(tg_range(r, 20, 400));
    }
    return t;
}

void tg_gen_app_install(tg_world *w, tg_rng *r, uint32_t addr)
{
    uint16_t ua = tg_ua_pick(r, TG_UA_APP);
    uint32_t c = tg_client_new(w, addr, ua, tg_ua_header_set(ua));
    w->clients[c].api_key = tg_rng_next(r) | 1;
    w->clients[c].key_kind = 1;
    uint32_t uid = tg_between(r, 1, TG_USERS);
    double screen_gap = tg_range(r, 8, 40);
    int64_t t = S(tg_range(r, -0.2, 1.0) * ((double)w->duration_us / 1e6));
    while (t < w->duration_us) {
        if (tg_chance(r, 0.06)) { /* token expired: log in again */
            if (tg_chance(r, 0.15)) {
                app_send(w, r, c, t, TG_POST, TG_R_API_LOGIN, 0, uid, 401, 60);
                t += S(tg_range(r, 4, 15));
            }
            app_send(w, r, c, t, TG_POST, TG_R_API_LOGIN, 0, uid, 200, 60);
            t += MS(tg_range(r, 100, 600));
        }
        uint32_t screens = tg_between(r, 2, 10);
        for (uint32_t s = 0; s < screens && t < w->duration_us; s++) {
            t = app_burst(w, r, c, t, uid);
            t += S(tg_clamp(tg_lognormal(r, screen_gap, 0.8), 2, 300));
        }
        t += S(tg_clamp(tg_lognormal(r, 900, 0.9), 120, 14400));
    }
}

static void gen_mobile(tg_world *w, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        tg_rng r;
        tg_rng_seed(&r, w->seed, TG_MOBILE, i);
        uint32_t group = tg_group_new(w, TG_MOBILE);
        uint32_t addr = tg_addr_new(w, &r, TG_POOL_RESIDENTIAL, 0.3, TG_MOBILE, TG_MOBILE, group);
        tg_gen_app_install(w, &r, addr);
    }
}

/* -------------------------------------------------------------- partners */

static void partner_send(tg_world *w, tg_rng *r, uint32_t client, int64_t t, tg_route route,
                         uint32_t arg, uint32_t arg2)
{
    /* an upstream hiccup now and then: partners see errors too */
    uint16_t status = tg_chance(r, 0.003) ? (tg_chance(r, 0.5) ? 502 : 504) : 200;
    if (route == TG_R_API_PRODUCT && !tg_product_exists(arg))
        status = 404;
    tg_rec rec = make(client, t, TG_GET, route, arg, arg2, status);
    send_rec(w, r, &rec);
}

static void partner_batch(tg_world *w, tg_rng *r, const uint32_t *clients, uint32_t nclients)
{
    double rate = tg_range(r, 2, 6);
    double dur = tg_range(r, 120, 420);
    double horizon = (double)w->duration_us / 1e6;
    double start = horizon > dur + 60 ? tg_range(r, 0, horizon - dur) : tg_range(r, 0, horizon * 0.5);
    uint32_t id = tg_chance(r, 0.5) ? 1 : tg_between(r, 1, TG_PRODUCTS / 2);
    uint32_t n = (uint32_t)(rate * dur);
    double t = start;
    for (uint32_t k = 0; k < n && id <= TG_PRODUCTS; k++, id++) {
        partner_send(w, r, clients[k % nclients], S(t), TG_R_API_PRODUCT, id, 0);
        t += (1.0 / rate) * tg_range(r, 0.9, 1.1);
    }
}

static void gen_partners(tg_world *w, uint32_t n)
{
    static const double periods[] = {10, 15, 30, 60};
    for (uint32_t i = 0; i < n; i++) {
        tg_rng r;
        tg_rng_seed(&r, w->seed, TG_PARTNER, i);
        uint32_t group = tg_group_new(w, TG_PARTNER);
        uint16_t ua = tg_ua_pick(&r, TG_UA_PARTNER);
        uint64_t key = tg_rng_next(&r) | 1;
        uint32_t clients[3];
        uint32_t nclients = tg_between(&r, 1, 3);
        for (uint32_t k = 0; k < nclients; k++) {
            uint32_t addr = tg_addr_new(w, &r, TG_POOL_CLOUD, 0, TG_PARTNER, TG_PARTNER, group);
            clients[k] = tg_client_new(w, addr, ua, tg_ua_header_set(ua));
            w->clients[clients[k]].api_key = key;
        }
        double period = periods[tg_below(&r, 4)];
        double jitter = tg_range(&r, 0.002, 0.02);
        uint32_t mode = tg_below(&r, 4);
        uint32_t limit = tg_chance(&r, 0.5) ? 100 : 50;
        uint32_t page = 1, pages = TG_PRODUCTS / limit;
        double t = tg_range(&r, 0, period);
        double horizon = (double)w->duration_us / 1e6;
        for (uint32_t poll = 0; t < horizon; poll++) {
            uint32_t c = clients[poll % nclients];
            switch (mode) {
            case 0: /* changed products since the last poll */
                partner_send(w, &r, c, S(t), TG_R_API_PRODUCTS_SYNC, 1, limit);
                break;
            case 1: /* new orders */
                partner_send(w, &r, c, S(t), TG_R_API_ORDERS, 1, 0);
                break;
            case 2: /* both, back to back */
                partner_send(w, &r, c, S(t), TG_R_API_ORDERS, 1, 0);
                partner_send(w, &r, c, S(t) + MS(tg_range(&r, 60, 400)), TG_R_API_PRODUCTS_SYNC, 1,
                             limit);
                break;
            default: /* a full catalogue refresh, one page per poll */
                partner_send(w, &r, c, S(t), TG_R_API_PRODUCTS, page, limit);
                page = page % pages + 1;
                break;
            }
            t += period * (1.0 + tg_range(&r, -jitter, jitter));
        }
        if (tg_chance(&r, 0.5))
            partner_batch(w, &r, clients, nclients);
    }
}

/* -------------------------------------------------------------- monitors */

static void gen_monitors(tg_world *w, uint32_t n)
{
    static const double periods[] = {10, 15, 20, 30, 60};
    for (uint32_t i = 0; i < n; i++) {
        tg_rng r;
        tg_rng_seed(&r, w->seed, TG_MONITOR, i);
        uint32_t group = tg_group_new(w, TG_MONITOR);
        bool kube = i % 3 == 2;
        uint16_t ua = tg_ua_pick(&r, kube ? TG_UA_KUBE : TG_UA_MONITOR);
        uint32_t clients[3];
        uint32_t nclients = kube ? 1 : tg_between(&r, 1, 3); /* probe locations */
        for (uint32_t k = 0; k < nclients; k++) {
            uint32_t addr = tg_addr_new(w, &r, kube ? TG_POOL_PRIVATE : TG_POOL_CLOUD, 0, TG_MONITOR,
                                        TG_MONITOR, group);
            clients[k] = tg_client_new(w, addr, ua, tg_ua_header_set(ua));
        }
        double period = periods[tg_below(&r, 5)];
        uint32_t style = kube ? 0 : tg_below(&r, 4); /* 0,1 health; 2 HEAD /; 3 page + health */
        double t = tg_range(&r, 0, period);
        double horizon = (double)w->duration_us / 1e6;
        for (uint32_t k = 0; t < horizon; k++) {
            uint32_t c = clients[k % nclients];
            tg_rec rec;
            if (style == 2) {
                rec = make(c, S(t), TG_HEAD, TG_R_HOME, 0, 0, 200);
            } else {
                if (style == 3) {
                    rec = make(c, S(t), TG_GET, TG_R_HOME, 0, 0, 200);
                    send_rec(w, &r, &rec);
                }
                int64_t at = S(t) + (style == 3 ? MS(tg_range(&r, 30, 120)) : 0);
                uint16_t status = tg_chance(&r, 0.001) ? 503 : 200;
                rec = make(c, at, TG_GET, TG_R_HEALTH, 0, 0, status);
            }
            send_rec(w, &r, &rec);
            t += period + tg_range(&r, -0.02, 0.02);
        }
    }
}

/* -------------------------------------------------------------- crawlers */

static void gen_crawlers(tg_world *w, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        tg_rng r;
        tg_rng_seed(&r, w->seed, TG_CRAWLER, i);
        uint32_t group = tg_group_new(w, TG_CRAWLER);
        bool bing = i % 2 == 1;
        uint16_t ua = tg_ua_pick(&r, bing ? TG_UA_BINGBOT : TG_UA_GOOGLEBOT);
        uint32_t clients[4];
        uint32_t nclients = bing ? tg_between(&r, 1, 2) : tg_between(&r, 1, 4);
        for (uint32_t k = 0; k < nclients; k++) {
            uint32_t addr = tg_addr_new(w, &r, bing ? TG_POOL_BINGBOT : TG_POOL_GOOGLEBOT, 0,
                                        TG_CRAWLER, TG_CRAWLER, group);
            clients[k] = tg_client_new(w, addr, ua, tg_ua_header_set(ua));
        }
        double lo = tg_range(&r, 2, 4), hi = tg_range(&r, 6, 10);
        double horizon = (double)w->duration_us / 1e6;
        double t = tg_range(&r, 0, 30), next_robots = t;
        for (uint32_t k = 0; t < horizon; k++) {
            uint32_t c = clients[tg_below(&r, nclients)];
            tg_rec rec;
            if (t >= next_robots) {
                rec = make(c, S(t), TG_GET, TG_R_ROBOTS, 0, 0, 200);
                next_robots = t + tg_range(&r, 600, 1800);
            } else if (k == 1) {
                rec = make(c, S(t), TG_GET, TG_R_SITEMAP, 0, 0, 200);
            } else {
                double x = tg_uniform(&r);
                if (x < 0.28) {
                    rec = make(c, S(t), TG_GET, TG_R_PAGE_PRODUCTS, tg_between(&r, 1, 260), 0, 200);
                    if (rec.arg > TG_PRODUCTS / 20)
                        rec.status = 404; /* pages that existed when the catalogue was larger */
                } else if (x < 0.88) {
                    uint32_t id = tg_between(&r, 1, 5400); /* old ids are still in the index */
                    rec = make(c, S(t), TG_GET, TG_R_PAGE_PRODUCT, id, 0,
                               tg_product_exists(id) ? 200 : 404);
                } else if (x < 0.93) {
                    rec = make(c, S(t), TG_GET, TG_R_HOME, 0, 0, 200);
                } else {
                    uint32_t id = tg_between(&r, 1, TG_PRODUCTS);
                    rec = make(c, S(t), TG_GET, TG_R_API_PRODUCT, id, 0,
                               tg_product_exists(id) ? 200 : 404);
                }
            }
            send_rec(w, &r, &rec);
            t += tg_range(&r, lo, hi);
        }
    }
}

void tg_gen_legit(tg_world *w)
{
    gen_humans(w, w->counts.humans);
    gen_mobile(w, w->counts.mobile);
    gen_partners(w, w->counts.partners);
    gen_monitors(w, w->counts.monitors);
    gen_crawlers(w, w->counts.crawlers);
}
