/*
 * attacks.c -- the abusive actors, one function per attack kind.
 *
 * Each actor draws its parameters from the ranges seen in real incidents
 * (rates, counts, user agents, target routes, the login variant) so that
 * a detector tuned to one exact shape fails the test. Single-address
 * actors start at times spread across the log (stratified, then shuffled
 * by the seed) so that attacks overlap legitimate traffic everywhere; the
 * distributed actors run over the whole duration, slowly, because going
 * low and slow on each address is their whole point.
 */
#include <math.h>

#include "tg.h"

#define S(x) ((int64_t)((x) * 1e6))

typedef struct attack {
    tg_world *w;
    tg_rng *r;
    tg_kind kind;
    uint32_t group;
    uint32_t variant; /* actor number within the kind: picks a variant */
    double start;     /* seconds */
    double horizon;   /* seconds: the end of the log */
} attack;

static uint32_t solo_client(attack *a, uint16_t ua, uint8_t header_set)
{
    tg_pool pool = tg_chance(a->r, 0.6) ? TG_POOL_CLOUD : TG_POOL_RESIDENTIAL;
    uint32_t addr = tg_addr_new(a->w, a->r, pool, 0.05, a->kind, (uint8_t)a->kind, a->group);
    return tg_client_new(a->w, addr, ua, header_set);
}

/* A browser user agent with the bare header set of an automation library:
 * what most bots claiming to be Chrome look like. */
static uint32_t bot_client(attack *a, double browser_share, tg_ua_class tool_class)
{
    if (tg_chance(a->r, browser_share)) {
        uint16_t ua = tg_ua_pick(a->r, TG_UA_DESKTOP);
        /* the careful ones copy a real browser's headers too */
        uint8_t hs = tg_chance(a->r, 0.3) ? tg_ua_header_set(ua) : TG_HS_HEADLESS;
        return solo_client(a, ua, hs);
    }
    uint16_t ua = tg_ua_pick(a->r, tool_class);
    return solo_client(a, ua, tg_ua_header_set(ua));
}

static void atk_send(attack *a, uint32_t client, double t, tg_method m, tg_route route, uint32_t arg,
                 uint32_t arg2, uint16_t status, uint32_t body)
{
    tg_rec rec = {0};
    rec.ts_us = S(t);
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
    tg_fill_response(a->r, &rec);
    tg_emit(a->w, &rec);
}

/* A name from a leaked combo list: mostly not a user of this site. */
static uint32_t leaked_user(tg_rng *r)
{
    return tg_chance(r, 0.15) ? tg_between(r, 1, TG_USERS) : TG_USERS + 1 + tg_below(r, 20000000);
}

/* One login attempt, JSON or form. The form answers every failure with
 * the same 200 page; stuffing tools often fetch the form first for its
 * CSRF token. Returns the time after the attempt. */
static double login_attempt(attack *a, uint32_t client, double t, bool form, bool fetch_form,
                            uint32_t user, bool ok)
{
    uint32_t body = 40 + tg_below(a->r, 50);
    if (!form) {
        atk_send(a, client, t, TG_POST, TG_R_API_LOGIN, 0, user, ok ? 200 : 401, body);
        return t;
    }
    if (fetch_form) {
        atk_send(a, client, t, TG_GET, TG_R_PAGE_LOGIN, 0, 0, 200, 0);
        t += tg_range(a->r, 0.05, 0.4);
    }
    atk_send(a, client, t, TG_POST, TG_R_FORM_LOGIN, 0, user, ok ? 302 : 200, body);
    return t;
}

/* ------------------------------------------------------- login attacks */

static void credential_stuffing(attack *a)
{
    bool form = a->variant % 2 == 1;
    bool fetch_form = form && tg_chance(a->r, 0.6);
    uint32_t c = bot_client(a, 0.55, TG_UA_TOOL);
    double rate = tg_range(a->r, 2, 10);
    uint32_t n = tg_between(a->r, 300, 2000);
    double success = tg_range(a->r, 0.004, 0.02);
    double t = a->start;
    for (uint32_t i = 0; i < n && t < a->horizon; i++) {
        uint32_t user = leaked_user(a->r); /* one call per statement: C leaves the */
        bool ok = tg_chance(a->r, success); /* order of arguments unspecified */
        t = login_attempt(a, c, t, form, fetch_form, user, ok);
        t += (1.0 / rate) * tg_range(a->r, 0.5, 1.5);
    }
}

static void brute_force(attack *a)
{
    bool form = tg_chance(a->r, 0.35);
    uint32_t c = bot_client(a, 0.3, TG_UA_TOOL);
    uint32_t victim = tg_chance(a->r, 0.4) ? 0 /* "admin" */ : tg_between(a->r, 1, TG_USERS);
    double rate = tg_range(a->r, 1, 8);
    uint32_t n = tg_between(a->r, 200, 2500);
    double t = a->start;
    for (uint32_t i = 0; i < n && t < a->horizon; i++) {
        t = login_attempt(a, c, t, form, false, victim, false);
        t += (1.0 / rate) * tg_range(a->r, 0.6, 1.4);
    }
}

static void password_spraying(attack *a)
{
    bool form = tg_chance(a->r, 0.3);
    uint32_t c = bot_client(a, 0.4, TG_UA_TOOL);
    double rate = tg_range(a->r, 0.5, 2);
    uint32_t n = tg_between(a->r, 150, 900);
    /* names harvested from the site itself: real users, walked in order */
    uint32_t user = tg_between(a->r, 1, TG_USERS - 1000);
    double t = a->start;
    for (uint32_t i = 0; i < n && t < a->horizon; i++, user++) {
        t = login_attempt(a, c, t, form, false, user, tg_chance(a->r, 0.003));
        t += (1.0 / rate) * tg_range(a->r, 0.7, 1.3);
    }
}

static void account_takeover(attack *a)
{
    bool form = tg_chance(a->r, 0.4);
    bool one_victim = tg_chance(a->r, 0.5);
    uint32_t c = bot_client(a, 0.6, TG_UA_TOOL);
    a->w->clients[c].sessions = 1;
    uint32_t victim = tg_between(a->r, 1, TG_USERS);
    uint32_t fails = tg_between(a->r, 20, 200);
    double rate = tg_range(a->r, 0.5, 5);
    /* The takeover must complete inside the log. */
    double room = a->horizon * 0.97 - a->start - 90;
    if (room < 10) {
        a->start = a->horizon * 0.3;
        room = a->horizon * 0.97 - a->start - 90;
    }
    if (room > 0 && fails / rate > room)
        rate = fails / room;
    double t = a->start;
    for (uint32_t i = 0; i < fails; i++) {
        uint32_t user = one_victim ? victim : leaked_user(a->r);
        t = login_attempt(a, c, t, form, false, user, false);
        t += (1.0 / rate) * tg_range(a->r, 0.6, 1.4);
    }
    t = login_attempt(a, c, t, form, false, victim, true);
    if (form) {
        t += tg_range(a->r, 0.05, 0.3);
        atk_send(a, c, t, TG_GET, TG_R_HOME, 0, 0, 200, 0);
    }
    /* Inside the account: look around, then cash out. */
    uint32_t looks = tg_between(a->r, 3, 12);
    for (uint32_t i = 0; i < looks; i++) {
        t += tg_range(a->r, 0.5, 6);
        double x = tg_uniform(a->r);
        if (x < 0.45)
            atk_send(a, c, t, TG_GET, TG_R_API_USER, victim, 0, 200, 0);
        else if (x < 0.8)
            atk_send(a, c, t, TG_GET, TG_R_API_USER_ORDERS, victim, 0, 200, 0);
        else
            atk_send(a, c, t, TG_GET, TG_R_API_ORDER,
                 1 + (uint32_t)(tg_mix64(victim * 13ull + i) % TG_ORDERS), 0, 200, 0);
    }
    if (tg_chance(a->r, 0.6)) {
        t += tg_range(a->r, 1, 8);
        atk_send(a, c, t, TG_PUT, TG_R_API_CART, 0, 0, 200, 120 + tg_below(a->r, 200));
        t += tg_range(a->r, 1, 8);
        atk_send(a, c, t, TG_POST, TG_R_API_ORDERS, 0, 0, 201, 400 + tg_below(a->r, 900));
    }
}

/* ---------------------------------------------------------------- floods */

typedef struct flood_target {
    tg_method method;
    tg_route route;
    uint32_t arg, arg2;
    uint16_t status;
    bool bust_cache; /* a new query each time, so that no cache helps */
} flood_target;

static flood_target flood_pick_target(tg_rng *r)
{
    flood_target f = {TG_GET, TG_R_HOME, 0, 0, 200, false};
    switch (tg_below(r, 6)) {
    case 0: break;
    case 1:
        f.route = TG_R_API_SEARCH;
        f.arg = tg_below(r, tg_search_word_count());
        f.bust_cache = tg_chance(r, 0.5);
        break;
    case 2:
        f.route = TG_R_API_PRODUCTS;
        f.arg = 1;
        f.arg2 = 20;
        break;
    case 3:
        f.route = TG_R_API_PRODUCT;
        f.arg = tg_between(r, 1, TG_PRODUCTS);
        f.bust_cache = tg_chance(r, 0.5);
        break;
    case 4:
        f.method = TG_POST;
        f.route = TG_R_API_LOGIN;
        f.status = 401;
        break;
    default:
        f.route = TG_R_PAGE_PRODUCTS;
        f.arg = 1;
        break;
    }
    return f;
}

/* One request of a flood on target f: its argument (a new one each time
 * when busting caches) and its normal answer. */
static uint16_t flood_hit(attack *a, const flood_target *f, uint32_t *arg)
{
    *arg = f->arg;
    if (f->bust_cache)
        *arg = f->route == TG_R_API_SEARCH ? tg_below(a->r, tg_search_word_count())
                                           : tg_between(a->r, 1, TG_PRODUCTS);
    if (f->route == TG_R_API_PRODUCT && !tg_product_exists(*arg))
        return 404;
    return f->status;
}

static void flood_run(attack *a, bool rotate_ua)
{
    uint32_t c;
    if (rotate_ua) {
        uint16_t ua = tg_ua_pick(a->r, TG_UA_DESKTOP);
        c = solo_client(a, ua, tg_chance(a->r, 0.5) ? TG_HS_HEADLESS : TG_HS_CHROME);
    } else {
        c = bot_client(a, 0.35, TG_UA_FLOODER);
    }
    double rate = tg_log_uniform(a->r, 50, 500);
    double dur = tg_range(a->r, 30, 120);
    /* A fast flood is a short one (it gets noticed): at most ~8k requests
     * unless even 30 s at the drawn rate is more. */
    if (dur * rate > 8000)
        dur = 8000 / rate > 30 ? 8000 / rate : 30;
    flood_target targets[3];
    uint32_t ntargets = tg_between(a->r, 1, 3);
    for (uint32_t i = 0; i < ntargets; i++)
        targets[i] = flood_pick_target(a->r);
    /* The site buckles: past a point a growing share of requests fails. */
    double overload_at = tg_range(a->r, 0.2, 0.5), max_fail = tg_range(a->r, 0.05, 0.35);
    double t = a->start, end = a->start + dur;
    while (t < end && t < a->horizon) {
        flood_target *f = &targets[tg_below(a->r, ntargets)];
        double progress = (t - a->start) / dur;
        double fail = progress < overload_at ? 0 : max_fail * (progress - overload_at) / (1 - overload_at);
        uint32_t arg;
        uint16_t status = flood_hit(a, f, &arg);
        if (tg_chance(a->r, fail))
            status = tg_chance(a->r, 0.6) ? 503 : tg_chance(a->r, 0.5) ? 502 : 504;
        tg_rec rec = {0};
        rec.ts_us = S(t);
        rec.client = c;
        rec.method = (uint8_t)f->method;
        rec.route = (uint8_t)f->route;
        rec.arg = arg;
        rec.arg2 = f->route == TG_R_API_LOGIN ? leaked_user(a->r) : f->arg2;
        rec.status = status;
        rec.req_bytes = f->method == TG_POST ? 50 + tg_below(a->r, 30) : 0;
        rec.ua = rotate_ua ? tg_ua_pick(a->r, tg_chance(a->r, 0.7) ? TG_UA_DESKTOP : TG_UA_PHONE)
                           : TG_UA_CLIENT;
        if (f->route == TG_R_API_LOGIN)
            rec.flags |= TG_F_USERNAME;
        tg_fill_response(a->r, &rec);
        if (rec.upstream_us != TG_NO_UPSTREAM)
            rec.upstream_us = (uint32_t)(rec.upstream_us * (1 + 20 * fail));
        tg_emit(a->w, &rec);
        t += tg_exponential(a->r, 1.0 / rate);
    }
}

static void flood(attack *a)
{
    flood_run(a, false);
}

static void flood_rotating_ua(attack *a)
{
    flood_run(a, true);
}

/* -------------------------------------------------------------- scanner */

static void scanner(attack *a)
{
    uint32_t c = bot_client(a, 0.25, TG_UA_SCANNER);
    double rate = tg_range(a->r, 10, 50);
    uint32_t n = tg_between(a->r, 300, 3000);
    bool by_ip = tg_chance(a->r, 0.5);
    uint32_t paths = tg_scan_path_count(), words = tg_scan_word_count();
    uint32_t offset = tg_below(a->r, paths);
    uint32_t word = tg_below(a->r, words);
    double inject_share = tg_range(a->r, 0.05, 0.3);
    double t = a->start;
    for (uint32_t i = 0; i < n && t < a->horizon; i++) {
        tg_rec rec = {0};
        rec.ts_us = S(t);
        rec.client = c;
        rec.ua = TG_UA_CLIENT;
        rec.method = TG_GET;
        double x = tg_uniform(a->r);
        if (x < 0.05) {
            static const tg_method odd[] = {TG_PROPFIND, TG_TRACE, TG_OPTIONS, TG_PUT, TG_DELETE};
            rec.method = (uint8_t)odd[tg_below(a->r, 5)];
            rec.route = tg_chance(a->r, 0.5) ? TG_R_HOME : TG_R_API_PRODUCTS;
            rec.status = 405;
        } else if (x < 0.05 + inject_share) {
            rec.route = TG_R_INJECT;
            rec.arg = tg_below(a->r, tg_inject_payload_count());
            rec.arg2 = tg_below(a->r, tg_inject_target_count());
            rec.status = tg_chance(a->r, 0.04) ? 500 : tg_inject_status(rec.arg2);
        } else {
            rec.route = TG_R_SCAN;
            if (i < paths) {
                rec.arg = (offset + i) % paths;
            } else {
                rec.arg = paths + word;
                word = (word + 1) % words;
            }
            rec.status = tg_scan_status(rec.arg);
            if (tg_chance(a->r, 0.1))
                rec.method = TG_HEAD;
        }
        if (by_ip)
            rec.flags |= TG_F_HOST_IP;
        tg_fill_response(a->r, &rec);
        tg_emit(a->w, &rec);
        t += tg_exponential(a->r, 1.0 / rate);
    }
}

/* -------------------------------------------------------------- scraper */

/* Product ids in the order a scraper visits them: ascending, or a fixed
 * stride through the catalogue (coprime with its size, so it covers all). */
static uint32_t scrape_order(uint32_t k, uint32_t stride)
{
    return (uint32_t)(((uint64_t)k * stride) % TG_PRODUCTS) + 1;
}

static void scraper(attack *a)
{
    uint32_t c = bot_client(a, 0.5, TG_UA_TOOL);
    double rate = tg_range(a->r, 1, 5);
    double jitter = tg_range(a->r, 0.005, 0.045);
    static const uint32_t limits[] = {20, 50, 100};
    static const uint32_t strides[] = {1, 1, 1, 1, 7, 13, 17, 1237};
    uint32_t limit = limits[tg_below(a->r, 3)];
    uint32_t stride = strides[tg_below(a->r, 8)];
    uint32_t pages = TG_PRODUCTS / limit;
    double t = a->start;
    for (uint32_t p = 1; p <= pages && t < a->horizon; p++) {
        atk_send(a, c, t, TG_GET, TG_R_API_PRODUCTS, p, limit, 200, 0);
        t += (1.0 / rate) * (1 + tg_range(a->r, -jitter, jitter));
    }
    for (uint32_t k = 0; k < TG_PRODUCTS && t < a->horizon; k++) {
        uint32_t id = scrape_order(k, stride);
        atk_send(a, c, t, TG_GET, TG_R_API_PRODUCT, id, 0, tg_product_exists(id) ? 200 : 404, 0);
        t += (1.0 / rate) * (1 + tg_range(a->r, -jitter, jitter));
    }
}

/* ---------------------------------------------------------- enumeration */

static uint16_t object_status(tg_rng *r, bool users, uint32_t id, uint32_t own)
{
    if (id == own)
        return 200;
    if (users)
        return id > TG_USERS ? 404 : tg_chance(r, 0.03) ? 200 : 403;
    if (id > TG_ORDERS || tg_mix64(id) % 50 == 0)
        return 404;
    return tg_chance(r, 0.03) ? 200 : 403;
}

static void enumeration(attack *a)
{
    static const uint32_t steps[] = {1, 1, 1, 1, 1, 2, 3, 5, 10};
    double x = tg_uniform(a->r);
    uint32_t c = x < 0.2 ? solo_client(a, tg_ua_pick(a->r, TG_UA_APP), TG_HS_OKHTTP)
                         : bot_client(a, 0.4, TG_UA_TOOL);
    a->w->clients[c].sessions = 1;
    bool users = tg_chance(a->r, 0.7);
    uint32_t step = steps[tg_below(a->r, 9)];
    double rate = tg_range(a->r, 2, 10);
    uint32_t n = tg_between(a->r, 300, 1500);
    uint32_t own = tg_between(a->r, 1, TG_USERS);
    /* start near the end of the id space now and then, to run off it */
    uint32_t id = users ? tg_between(a->r, 1, TG_USERS - 1000 + (tg_chance(a->r, 0.2) ? 1000 : 0))
                        : tg_between(a->r, 1, TG_ORDERS - 20000);
    double t = a->start;
    /* they log in to their own account first */
    atk_send(a, c, t, TG_POST, TG_R_API_LOGIN, 0, own, 200, 60);
    t += tg_range(a->r, 1, 5);
    for (uint32_t i = 0; i < n && t < a->horizon; i++, id += step) {
        atk_send(a, c, t, TG_GET, users ? TG_R_API_USER : TG_R_API_ORDER, id, 0,
             object_status(a->r, users, id, users ? own : 0), 0);
        t += (1.0 / rate) * tg_range(a->r, 0.85, 1.15);
    }
}

/* ----------------------------------------------------- undeclared probes */

static void undeclared_probe(attack *a)
{
    uint32_t c = bot_client(a, 0.4, TG_UA_TOOL);
    a->w->clients[c].sessions = 1;
    double rate = tg_range(a->r, 0.3, 3);
    uint32_t n = tg_between(a->r, 40, 400);
    uint32_t own = tg_between(a->r, 1, TG_USERS);
    double t = a->start;
    for (uint32_t i = 0; i < n && t < a->horizon; i++) {
        if (tg_chance(a->r, 0.2)) { /* the documented API, to blend in */
            if (tg_chance(a->r, 0.5))
                atk_send(a, c, t, TG_GET, TG_R_API_PRODUCTS, 1, 20, 200, 0);
            else
                atk_send(a, c, t, TG_GET, TG_R_API_USER, own, 0, 200, 0);
        } else {
            uint32_t probe = tg_below(a->r, tg_probe_count());
            uint32_t id = tg_chance(a->r, 0.5) ? own : tg_between(a->r, 1, TG_USERS);
            tg_method m = probe == 3 ? TG_POST : (probe == 4 && tg_chance(a->r, 0.5)) ? TG_DELETE : TG_GET;
            atk_send(a, c, t, m, TG_R_PROBE, probe, id, tg_probe_status(probe, id),
                 m == TG_POST ? 80 + tg_below(a->r, 400) : 0);
        }
        t += tg_exponential(a->r, 1.0 / rate);
    }
}

/* ---------------------------------------------------------- consumption */

static void consumption(attack *a)
{
    uint32_t c = bot_client(a, 0.4, TG_UA_TOOL);
    double rate = tg_range(a->r, 0.3, 3);
    uint32_t n = tg_between(a->r, 60, 400);
    double t = a->start;
    for (uint32_t i = 0; i < n && t < a->horizon; i++) {
        double x = tg_uniform(a->r);
        tg_rec rec = {0};
        rec.ts_us = S(t);
        rec.client = c;
        rec.ua = TG_UA_CLIENT;
        if (x < 0.6) {
            rec.method = TG_GET;
            rec.route = TG_R_HUGE_LISTING;
            rec.arg = tg_chance(a->r, 0.7) ? 0 : tg_below(a->r, tg_search_word_count());
            rec.arg2 = tg_chance(a->r, 0.5) ? 100000 : tg_between(a->r, 5000, 1000000);
            rec.status = tg_chance(a->r, 0.05) ? 504 : 200;
            tg_fill_response(a->r, &rec);
            rec.upstream_us = (uint32_t)S(tg_clamp(tg_lognormal(a->r, 6, 0.7), 1.5, 60));
        } else if (x < 0.9) {
            rec.method = TG_POST;
            rec.route = TG_R_API_ORDERS;
            rec.req_bytes = tg_between(a->r, 1u << 20, 20u << 20);
            rec.status = tg_chance(a->r, 0.3) ? 413 : 201;
            tg_fill_response(a->r, &rec);
            if (rec.status == 413) {
                rec.resp_bytes = 183;
                rec.upstream_us = TG_NO_UPSTREAM;
            } else {
                rec.upstream_us = (uint32_t)S(tg_clamp(tg_lognormal(a->r, 4, 0.6), 1, 60));
            }
        } else {
            rec.method = TG_GET;
            rec.route = TG_R_API_SEARCH;
            rec.arg = tg_below(a->r, tg_search_word_count());
            rec.arg2 = tg_between(a->r, 200, 5000); /* deep pages are expensive */
            rec.status = 200;
            tg_fill_response(a->r, &rec);
            rec.upstream_us = (uint32_t)S(tg_clamp(tg_lognormal(a->r, 3, 0.6), 0.5, 60));
        }
        tg_emit(a->w, &rec);
        t += tg_exponential(a->r, 1.0 / rate);
    }
}

/* ---------------------------------------------------- distributed kinds */

/* The one user agent and header set a swarm shares: a desktop browser
 * driven headless, or a tool. */
static void swarm_identity(attack *a, uint16_t *ua, uint8_t *hs)
{
    if (tg_chance(a->r, 0.6)) {
        *ua = tg_ua_pick(a->r, TG_UA_DESKTOP);
        *hs = TG_HS_HEADLESS;
    } else {
        *ua = tg_ua_pick(a->r, TG_UA_TOOL);
        *hs = tg_ua_header_set(*ua);
    }
}

/* n addresses over a few /24s sharing one user agent and header set. */
static uint32_t spread_clients(attack *a, uint32_t n, uint32_t *clients, uint32_t nets_lo,
                               uint32_t nets_hi)
{
    uint16_t ua;
    uint8_t hs;
    swarm_identity(a, &ua, &hs);
    uint32_t nets[32];
    uint32_t nnets = tg_between(a->r, nets_lo, nets_hi);
    tg_pool pool = tg_chance(a->r, 0.5) ? TG_POOL_RESIDENTIAL : TG_POOL_CLOUD;
    for (uint32_t i = 0; i < nnets; i++)
        nets[i] = tg_prefix24_pick(a->r, pool);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t addr = tg_addr_in24(a->w, a->r, nets[tg_below(a->r, nnets)], a->kind, a->group);
        clients[i] = tg_client_new(a->w, addr, ua, hs);
    }
    return n;
}

static void distributed_stuffing(attack *a)
{
    uint32_t clients[200];
    spread_clients(a, 200, clients, 8, 20);
    for (uint32_t i = 0; i < 200; i++) {
        double t = tg_range(a->r, 0, 60);
        while (t < a->horizon) {
            uint32_t user = leaked_user(a->r);
            uint16_t status = tg_chance(a->r, 0.003) ? 200 : 401;
            uint32_t body = 40 + tg_below(a->r, 50);
            atk_send(a, clients[i], t, TG_POST, TG_R_API_LOGIN, 0, user, status, body);
            t += 60 + tg_range(a->r, -10, 10);
        }
    }
}

static void distributed_scraping(attack *a)
{
    uint32_t clients[100];
    spread_clients(a, 100, clients, 10, 30);
    uint32_t slice = TG_PRODUCTS / 100;
    for (uint32_t i = 0; i < 100; i++) {
        double period = tg_range(a->r, 15, 45);
        double t = tg_range(a->r, 0, 60);
        for (uint32_t k = 0; k < slice && t < a->horizon; k++) {
            uint32_t id = i * slice + k + 1;
            atk_send(a, clients[i], t, TG_GET, TG_R_API_PRODUCT, id, 0, tg_product_exists(id) ? 200 : 404, 0);
            t += period * tg_range(a->r, 0.9, 1.1);
        }
    }
}

static void distributed_enumeration(attack *a)
{
    uint32_t clients[50];
    spread_clients(a, 50, clients, 5, 15);
    /* 8-16 ids per address, one every 20-60 s: no address walks far
     * enough to be judged alone */
    uint32_t slice = tg_between(a->r, 8, 16);
    uint32_t base = tg_between(a->r, 1, TG_USERS - 50 * slice);
    for (uint32_t i = 0; i < 50; i++) {
        a->w->clients[clients[i]].sessions = 1;
        double period = tg_range(a->r, 20, 60);
        double t = tg_range(a->r, 0, 30);
        for (uint32_t k = 0; k < slice && t < a->horizon; k++) {
            uint32_t id = base + i * slice + k;
            atk_send(a, clients[i], t, TG_GET, TG_R_API_USER, id, 0, object_status(a->r, true, id, 0), 0);
            t += period * tg_range(a->r, 0.9, 1.1);
        }
    }
}

/* ------------------------------------------------- long-horizon kinds */

/* 300 addresses, 10 in each of 30 /24s, one user agent and header set;
 * each address tries 2-4 leaked usernames an hour at random times, for
 * the whole log. Slow enough that no address, and no /24 in its first
 * hour, looks like anything. */
static void slow_stuffing(attack *a)
{
    enum { NETS = 30, PER_NET = 10 };
    uint16_t ua;
    uint8_t hs;
    swarm_identity(a, &ua, &hs);
    tg_pool pool = tg_chance(a->r, 0.5) ? TG_POOL_RESIDENTIAL : TG_POOL_CLOUD;
    for (uint32_t n = 0; n < NETS; n++) {
        uint32_t prefix = tg_prefix24_pick(a->r, pool);
        for (uint32_t i = 0; i < PER_NET; i++) {
            uint32_t addr = tg_addr_in24(a->w, a->r, prefix, a->kind, a->group);
            uint32_t c = tg_client_new(a->w, addr, ua, hs);
            double per_hour = tg_range(a->r, 2, 4);
            double t = tg_exponential(a->r, 3600 / per_hour);
            while (t < a->horizon) {
                uint32_t user = leaked_user(a->r);
                uint16_t status = tg_chance(a->r, 0.002) ? 200 : 401;
                atk_send(a, c, t, TG_POST, TG_R_API_LOGIN, 0, user, status, 40 + tg_below(a->r, 50));
                t += tg_exponential(a->r, 3600 / per_hour);
            }
        }
    }
}

/* One real account, tried 2-5 times an hour for as long as the log runs,
 * each address used for 1-3 attempts and dropped: a patient takeover
 * attempt that stays under every per-address and per-hour line. JSON
 * login (401) or the form (the same 200 page). Never succeeds. */
static void persistent_ato(attack *a)
{
    bool form = tg_chance(a->r, 0.35);
    uint32_t victim = tg_between(a->r, 1, TG_USERS);
    double per_hour = tg_range(a->r, 2, 5);
    uint32_t c = 0, left = 0;
    double t = tg_exponential(a->r, 3600 / per_hour);
    while (t < a->horizon) {
        if (!left) {
            c = bot_client(a, 0.6, TG_UA_TOOL);
            left = tg_between(a->r, 1, 3);
        }
        left--;
        login_attempt(a, c, t, form, false, victim, false);
        t += tg_exponential(a->r, 3600 / per_hour);
    }
}

/* One address, 0.5-3 requests a second for 5-20 minutes, taking a new
 * session cookie every 1-2 requests (it throws away what the site sets,
 * or cycles through stolen sessions): products, searches and listings,
 * now and then a cart update -- nothing any other detector is made for.
 * Each cookie is a client of its own in the world. */
static void session_rotation(attack *a)
{
    uint32_t first = bot_client(a, 0.6, TG_UA_TOOL);
    uint32_t addr = a->w->clients[first].addr;
    uint16_t ua = a->w->clients[first].ua;
    uint8_t hs = a->w->clients[first].header_set;
    a->w->clients[first].sessions = 1;
    double rate = tg_range(a->r, 0.5, 3);
    double dur = tg_range(a->r, 300, 1200);
    double start = a->horizon * tg_range(a->r, 0.05, 0.5);
    if (start + dur > a->horizon)
        start = a->horizon > dur ? a->horizon - dur : 0;
    uint32_t c = first, uses = tg_between(a->r, 1, 2);
    for (double t = start; t < start + dur && t < a->horizon; t += tg_exponential(a->r, 1.0 / rate)) {
        if (!uses) {
            c = tg_client_new(a->w, addr, ua, hs);
            a->w->clients[c].sessions = 1;
            uses = tg_between(a->r, 1, 2);
        }
        uses--;
        double x = tg_uniform(a->r);
        if (x < 0.1) {
            atk_send(a, c, t, TG_PUT, TG_R_API_CART, 0, 0, 200, 120 + tg_below(a->r, 200));
        } else if (x < 0.6) {
            uint32_t id = tg_between(a->r, 1, TG_PRODUCTS);
            atk_send(a, c, t, TG_GET, TG_R_API_PRODUCT, id, 0, tg_product_exists(id) ? 200 : 404, 0);
        } else if (x < 0.8) {
            atk_send(a, c, t, TG_GET, TG_R_API_SEARCH, tg_below(a->r, tg_search_word_count()), 0, 200, 0);
        } else {
            atk_send(a, c, t, TG_GET, TG_R_API_PRODUCTS, tg_between(a->r, 1, 50), 20, 200, 0);
        }
    }
}

/* A botnet's L7 flood: 400 addresses in 100-200 residential /24s, each
 * with its own browser user agent and header set (no shared fingerprint),
 * each sending only 2-6 requests a second -- under every per-address
 * burst bound -- for 60-120 s, all on one or two expensive targets. */
static void distributed_flood(attack *a)
{
    flood_target targets[2];
    uint32_t ntargets = tg_between(a->r, 1, 2);
    for (uint32_t i = 0; i < ntargets; i++) {
        targets[i] = flood_pick_target(a->r);
        if (targets[i].route == TG_R_API_LOGIN) /* a flood, not stuffing */
            targets[i] = (flood_target){TG_GET, TG_R_API_SEARCH, 0, 0, 200, true};
    }
    uint32_t nets[200];
    uint32_t nnets = tg_between(a->r, 100, 200);
    for (uint32_t i = 0; i < nnets; i++)
        nets[i] = tg_prefix24_pick(a->r, TG_POOL_RESIDENTIAL);
    double start = a->horizon * tg_range(a->r, 0.2, 0.6);
    for (uint32_t i = 0; i < 400; i++) {
        uint16_t ua = tg_ua_pick(a->r, tg_chance(a->r, 0.7) ? TG_UA_DESKTOP : TG_UA_PHONE);
        uint32_t addr = tg_addr_in24(a->w, a->r, nets[tg_below(a->r, nnets)], a->kind, a->group);
        uint32_t c = tg_client_new(a->w, addr, ua, tg_ua_header_set(ua));
        double rate = tg_range(a->r, 2, 6);
        double t = start + tg_range(a->r, 0, 10), end = t + tg_range(a->r, 60, 120);
        while (t < end && t < a->horizon) {
            flood_target *f = &targets[tg_below(a->r, ntargets)];
            uint32_t arg;
            uint16_t status = flood_hit(a, f, &arg);
            atk_send(a, c, t, f->method, f->route, arg, f->arg2, status, 0);
            t += tg_exponential(a->r, 1.0 / rate);
        }
    }
}

/* -------------------------------------------------------------- driver */

typedef void (*attack_fn)(attack *a);

static const attack_fn attack_fns[TG_KIND_COUNT] = {
    [TG_CREDENTIAL_STUFFING] = credential_stuffing,
    [TG_BRUTE_FORCE] = brute_force,
    [TG_PASSWORD_SPRAYING] = password_spraying,
    [TG_ACCOUNT_TAKEOVER] = account_takeover,
    [TG_FLOOD] = flood,
    [TG_FLOOD_ROTATING_UA] = flood_rotating_ua,
    [TG_SCANNER] = scanner,
    [TG_SCRAPER] = scraper,
    [TG_ENUMERATION] = enumeration,
    [TG_UNDECLARED_PROBE] = undeclared_probe,
    [TG_CONSUMPTION] = consumption,
    [TG_DISTRIBUTED_STUFFING] = distributed_stuffing,
    [TG_DISTRIBUTED_SCRAPING] = distributed_scraping,
    [TG_DISTRIBUTED_ENUMERATION] = distributed_enumeration,
    [TG_SLOW_STUFFING] = slow_stuffing,
    [TG_PERSISTENT_ATO] = persistent_ato,
    [TG_SESSION_ROTATION] = session_rotation,
    [TG_DISTRIBUTED_FLOOD] = distributed_flood,
};

/* Distributed and long-horizon kinds place themselves in time; the others
 * get a start slot. (The later kinds take no slot, so adding them leaves
 * the slots, and the output, of the others unchanged.) */
static bool is_distributed(tg_kind kind)
{
    return kind >= TG_DISTRIBUTED_STUFFING;
}

/* Credential stuffing gets two actors by default: one on the JSON login,
 * one on the form that answers 200 to failures. */
static uint32_t actors_of(const tg_world *w, tg_kind kind)
{
    if (w->counts.attack_actors)
        return w->counts.attack_actors;
    return kind == TG_CREDENTIAL_STUFFING ? 2 : 1;
}

#define MAX_SLOTS 4096

void tg_gen_attacks(tg_world *w)
{
    /* Start slots: the single-address actors share the log's first 75%,
     * one stratum each, strata shuffled by the seed. */
    uint32_t nslots = 0;
    for (int k = TG_FIRST_ATTACK; k < TG_KIND_COUNT; k++)
        if ((w->counts.attacks & (1u << k)) && !is_distributed((tg_kind)k))
            nslots += actors_of(w, (tg_kind)k);
    if (nslots > MAX_SLOTS)
        nslots = MAX_SLOTS;
    uint32_t order[MAX_SLOTS];
    tg_rng shuffle;
    tg_rng_seed(&shuffle, w->seed, 200, 0);
    for (uint32_t i = 0; i < nslots; i++)
        order[i] = i;
    for (uint32_t i = nslots; i > 1; i--) {
        uint32_t j = tg_below(&shuffle, i);
        uint32_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
    double horizon = (double)w->duration_us / 1e6;
    uint32_t slot = 0;
    for (int k = TG_FIRST_ATTACK; k < TG_KIND_COUNT; k++) {
        if (!(w->counts.attacks & (1u << k)))
            continue;
        uint32_t n = actors_of(w, (tg_kind)k);
        for (uint32_t i = 0; i < n; i++) {
            tg_rng r;
            tg_rng_seed(&r, w->seed, (uint64_t)k, i);
            attack a = {w, &r, (tg_kind)k, tg_group_new(w, (uint8_t)k), i, 0, horizon};
            if (!is_distributed((tg_kind)k)) {
                uint32_t s = order[slot < nslots ? slot : slot % nslots];
                slot++;
                a.start = horizon * (0.02 + 0.73 * (s + tg_uniform(&r)) / nslots);
            }
            attack_fns[k](&a);
        }
    }
}
