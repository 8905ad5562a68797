/*
 * world.c -- the state of one trafficgen run: labelled addresses, clients
 * and request records, and the site's response model.
 *
 * Addresses are handed out once: a set of the addresses already used makes
 * sure no two actors ever share one (an address has exactly one label),
 * except where sharing is the point (an office NAT, which is one address
 * labelled legit). Records are appended unsorted; output.c sorts them.
 *
 * The response model answers as the demo API would: the same product has
 * the same size every time, a failed form login returns the very same
 * error page, nginx answers static files and scanner 404s itself (no
 * upstream time), login is slow because passwords are hashed.
 */
#include <stdlib.h>
#include <string.h>

#include "tg.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

void tg_world_init(tg_world *w, uint64_t seed, int64_t duration_us, int64_t start_epoch_s)
{
    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->duration_us = duration_us;
    w->start_epoch_s = start_epoch_s;
}

void tg_world_free(tg_world *w)
{
    free(w->addrs);
    free(w->addr_set);
    free(w->clients);
    free(w->recs);
    memset(w, 0, sizeof *w);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 1024;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* ------------------------------------------------------------ addresses */

static uint64_t addr_key(const uint8_t bytes[16])
{
    uint64_t a, b;
    memcpy(&a, bytes, 8);
    memcpy(&b, bytes + 8, 8);
    uint64_t k = tg_mix64(a ^ tg_mix64(b));
    return k ? k : 1;
}

static bool addr_set_insert(tg_world *w, uint64_t key)
{
    if ((uint64_t)(w->naddrs + 1) * 2 > w->addr_set_cap) {
        uint32_t ncap = w->addr_set_cap ? w->addr_set_cap * 2 : 4096;
        uint64_t *set = calloc(ncap, sizeof *set);
        if (!set) {
            w->oom = true;
            return false;
        }
        for (uint32_t i = 0; i < w->addr_set_cap; i++) {
            uint64_t k = w->addr_set[i];
            if (!k)
                continue;
            uint32_t j = (uint32_t)k & (ncap - 1);
            while (set[j])
                j = (j + 1) & (ncap - 1);
            set[j] = k;
        }
        free(w->addr_set);
        w->addr_set = set;
        w->addr_set_cap = ncap;
    }
    uint32_t j = (uint32_t)key & (w->addr_set_cap - 1);
    while (w->addr_set[j]) {
        if (w->addr_set[j] == key)
            return false;
        j = (j + 1) & (w->addr_set_cap - 1);
    }
    w->addr_set[j] = key;
    return true;
}

/* First bytes of consumer networks and of hosting providers. Private,
 * multicast and documentation ranges are left out so that every address
 * looks like a public client. */
static const uint8_t residential8[] = {24,  31,  37,  46,  62,  67,  68,  71,  73,  76,  77, 78,
                                       79,  81,  82,  83,  84,  86,  88,  89,  90,  92,  93, 94,
                                       95,  98,  99,  108, 109, 112, 114, 118, 121, 124, 151, 174,
                                       176, 178, 186, 187, 189, 190, 201, 212, 213, 217};
static const uint8_t cloud8[] = {3,   13,  18,  20,  34,  35,  40,  45,  52,  54,  104,
                                 139, 143, 147, 159, 161, 164, 165, 167, 185, 188, 193,
                                 194, 195, 209};
static const uint16_t residential_v6[] = {0x2a02, 0x2a01, 0x2600, 0x2601, 0x2603, 0x2a00, 0x2405,
                                          0x2804};

static void fill_v4(uint8_t bytes[16], uint32_t v4)
{
    memset(bytes, 0, 16);
    bytes[10] = bytes[11] = 0xff;
    bytes[12] = (uint8_t)(v4 >> 24);
    bytes[13] = (uint8_t)(v4 >> 16);
    bytes[14] = (uint8_t)(v4 >> 8);
    bytes[15] = (uint8_t)v4;
}

uint32_t tg_prefix24_pick(tg_rng *r, tg_pool pool)
{
    const uint8_t *firsts = pool == TG_POOL_CLOUD ? cloud8 : residential8;
    uint32_t n = pool == TG_POOL_CLOUD ? (uint32_t)COUNT(cloud8) : (uint32_t)COUNT(residential8);
    /* Separate statements: the order of operands of | is unspecified, and
     * the output must not depend on the compiler. */
    uint32_t a = firsts[tg_below(r, n)];
    uint32_t b = tg_below(r, 256);
    uint32_t c = tg_below(r, 256);
    return (a << 16) | (b << 8) | c;
}

/* A host address (1..254) inside the /24 prefix24; the prefix is drawn
 * by the caller first, so the draws happen in a fixed order. */
static uint32_t host_in24(tg_rng *r, uint32_t prefix24)
{
    return (prefix24 << 8) | tg_between(r, 1, 254);
}

static void draw_address(tg_rng *r, tg_pool pool, double v6_share, uint8_t bytes[16], uint8_t *v6)
{
    *v6 = 0;
    switch (pool) {
    case TG_POOL_RESIDENTIAL:
        if (tg_chance(r, v6_share)) {
            uint16_t p = residential_v6[tg_below(r, (uint32_t)COUNT(residential_v6))];
            bytes[0] = (uint8_t)(p >> 8);
            bytes[1] = (uint8_t)p;
            for (int i = 2; i < 16; i++)
                bytes[i] = (uint8_t)tg_below(r, 256);
            *v6 = 1;
            return;
        }
        /* fall through */
    case TG_POOL_CLOUD:
        fill_v4(bytes, host_in24(r, tg_prefix24_pick(r, pool)));
        return;
    case TG_POOL_PRIVATE: {
        uint32_t b2 = tg_below(r, 4);
        uint32_t b3 = tg_below(r, 256);
        fill_v4(bytes, host_in24(r, (10u << 16) | (b2 << 8) | b3));
        return;
    }
    case TG_POOL_GOOGLEBOT:
        fill_v4(bytes, host_in24(r, (66u << 16) | (249u << 8) | tg_between(r, 64, 95)));
        return;
    case TG_POOL_BINGBOT:
        fill_v4(bytes, host_in24(r, (157u << 16) | (55u << 8) | 39u));
        return;
    }
}

static uint32_t addr_add(tg_world *w, const uint8_t bytes[16], uint8_t v6, tg_kind kind,
                         uint8_t group_tag, uint32_t group)
{
    size_t cap = w->addrs_cap;
    if (!grow((void **)&w->addrs, &cap, (size_t)w->naddrs + 1, sizeof *w->addrs)) {
        w->oom = true;
        return 0;
    }
    w->addrs_cap = (uint32_t)cap;
    tg_addr *a = &w->addrs[w->naddrs];
    memcpy(a->bytes, bytes, 16);
    a->v6 = v6;
    a->kind = (uint8_t)kind;
    a->group_tag = group_tag;
    a->group = group;
    a->lines = 0;
    return w->naddrs++;
}

uint32_t tg_addr_new(tg_world *w, tg_rng *r, tg_pool pool, double v6_share, tg_kind kind,
                     uint8_t group_tag, uint32_t group)
{
    uint8_t bytes[16], v6;
    /* Small pools (bingbot's /24) can run out; after many tries fall back
     * to a wider pool rather than loop forever. */
    for (int tries = 0;; tries++) {
        draw_address(r, tries < 200 ? pool : TG_POOL_CLOUD, v6_share, bytes, &v6);
        if (addr_set_insert(w, addr_key(bytes)) || w->oom)
            break;
    }
    return addr_add(w, bytes, v6, kind, group_tag, group);
}

uint32_t tg_addr_in24(tg_world *w, tg_rng *r, uint32_t prefix24, tg_kind kind, uint32_t group)
{
    uint8_t bytes[16];
    for (int tries = 0;; tries++) {
        if (tries < 400)
            fill_v4(bytes, host_in24(r, prefix24));
        else
            fill_v4(bytes, host_in24(r, tg_prefix24_pick(r, TG_POOL_RESIDENTIAL)));
        if (addr_set_insert(w, addr_key(bytes)) || w->oom)
            break;
    }
    return addr_add(w, bytes, 0, kind, (uint8_t)kind, group);
}

uint32_t tg_group_new(tg_world *w, uint8_t group_tag)
{
    return ++w->group_next[group_tag <= TG_KIND_COUNT ? group_tag : TG_KIND_COUNT];
}

/* -------------------------------------------------------------- clients */

uint32_t tg_client_new(tg_world *w, uint32_t addr, uint16_t ua, uint8_t header_set)
{
    size_t cap = w->clients_cap;
    if (!grow((void **)&w->clients, &cap, (size_t)w->nclients + 1, sizeof *w->clients)) {
        w->oom = true;
        return 0;
    }
    w->clients_cap = (uint32_t)cap;
    tg_client *c = &w->clients[w->nclients];
    memset(c, 0, sizeof *c);
    c->addr = addr;
    c->ua = ua;
    c->header_set = header_set;
    return w->nclients++;
}

bool tg_emit(tg_world *w, const tg_rec *rec)
{
    if (rec->ts_us < 0 || rec->ts_us >= w->duration_us || w->oom)
        return false;
    if (!grow((void **)&w->recs, &w->recs_cap, w->nrecs + 1, sizeof *w->recs)) {
        w->oom = true;
        return false;
    }
    w->recs[w->nrecs++] = *rec;
    w->addrs[w->clients[rec->client].addr].lines++;
    return true;
}

/* ------------------------------------------------------- response model */

bool tg_product_exists(uint32_t id)
{
    return id >= 1 && id <= TG_PRODUCTS && tg_mix64(id * 977ull) % 97 != 0;
}

uint32_t tg_size_product(uint32_t id)
{
    return 1100 + (uint32_t)(tg_mix64(id * 31ull + 5) % 1500);
}

uint32_t tg_size_listing(uint32_t limit)
{
    return 310 + (limit ? limit : 20) * 412;
}

/* Median upstream milliseconds per route: login hashes a password,
 * search and order creation hit the database hardest. */
static double route_median_ms(tg_route route)
{
    switch (route) {
    case TG_R_API_LOGIN:
    case TG_R_FORM_LOGIN: return 85;
    case TG_R_API_SEARCH: return 38;
    case TG_R_API_ORDERS: return 60;
    case TG_R_API_PRODUCTS:
    case TG_R_API_PRODUCTS_SYNC: return 22;
    case TG_R_HOME:
    case TG_R_PAGE_PRODUCTS:
    case TG_R_PAGE_PRODUCT: return 18;
    case TG_R_HEALTH: return 1.2;
    case TG_R_HUGE_LISTING: return 2500;
    default: return 9;
    }
}

uint32_t tg_upstream_us(tg_rng *r, tg_route route, uint32_t size)
{
    double ms = tg_lognormal(r, route_median_ms(route), 0.45) + (double)size / 400000.0;
    return (uint32_t)tg_clamp(ms * 1000.0, 300.0, 60e6);
}

static bool is_static(tg_route route)
{
    return route == TG_R_APP_JS || route == TG_R_APP_CSS || route == TG_R_FAVICON ||
           route == TG_R_ROBOTS;
}

static bool is_api(tg_route route)
{
    return route >= TG_R_API_PRODUCTS && route <= TG_R_API_CART;
}

static uint32_t error_size(tg_route route, uint16_t status, uint32_t arg)
{
    bool api = is_api(route) || route == TG_R_PROBE;
    switch (status) {
    case 304: return 0;
    case 302: return 0;
    case 401: return api ? 61 : 5389;
    case 403: return api ? 47 : 153;
    case 404:
        if (api)
            return 33;
        /* nginx's own page for files, the site's page for app routes */
        return (route == TG_R_SCAN && tg_mix64(arg) % 3 == 0) ? 3127 : 153;
    case 400: return api ? 58 : 157;
    case 405: return api ? 0 : 157;
    case 429: return 162;
    case 500: return 52;
    case 502: return 157;
    case 503: return 197;
    case 504: return 167;
    default: return 150;
    }
}

static uint32_t ok_size(tg_rng *r, const tg_rec *rec)
{
    uint32_t arg = rec->arg, arg2 = rec->arg2;
    switch ((tg_route)rec->route) {
    case TG_R_HOME: return 24817 + tg_below(r, 40);
    case TG_R_PAGE_PRODUCTS: return 30950 + (uint32_t)(tg_mix64(arg) % 900);
    case TG_R_PAGE_PRODUCT: return 17400 + 2 * tg_size_product(arg);
    case TG_R_PAGE_LOGIN: return 5312;
    case TG_R_FORM_LOGIN: return 5389; /* the same error page as every failure */
    case TG_R_ROBOTS: return 187;
    case TG_R_SITEMAP: return 96514;
    case TG_R_APP_JS: return 184523;
    case TG_R_APP_CSS: return 48211;
    case TG_R_FAVICON: return 15086;
    case TG_R_HEALTH: return 15;
    case TG_R_API_PRODUCTS:
        return tg_size_listing(arg2) + (uint32_t)(tg_mix64(arg * 7ull + arg2) % 300);
    case TG_R_API_PRODUCTS_SYNC: return 64 + 412 * tg_below(r, 6);
    case TG_R_API_PRODUCT: return tg_size_product(arg);
    case TG_R_API_SEARCH: return 120 + (uint32_t)(tg_mix64(arg * 131ull + arg2) % 9000);
    case TG_R_API_LOGIN: return 412 + tg_below(r, 6);
    case TG_R_API_USER: return 640 + (uint32_t)(tg_mix64(arg) % 200);
    case TG_R_API_USER_ORDERS: return 180 + (uint32_t)(tg_mix64(arg + 3) % 12) * 410;
    case TG_R_API_ORDER: return 950 + (uint32_t)(tg_mix64(arg + 9) % 1800);
    case TG_R_API_ORDERS: return rec->method == TG_POST ? 780 + tg_below(r, 200) : 2 + 920 * tg_below(r, 4);
    case TG_R_API_CART: return 250 + tg_below(r, 1800);
    case TG_R_SCAN: return 1000 + (uint32_t)(tg_mix64(arg) % 20000);
    case TG_R_INJECT: return 58 + tg_below(r, 400);
    case TG_R_PROBE: return 2000 + (uint32_t)(tg_mix64(arg) % 38000);
    case TG_R_HUGE_LISTING: {
        uint64_t n = arg2 > TG_PRODUCTS ? TG_PRODUCTS : arg2;
        return (uint32_t)(310 + n * 412);
    }
    default: return 150;
    }
}

void tg_fill_response(tg_rng *r, tg_rec *rec)
{
    tg_route route = (tg_route)rec->route;
    uint16_t st = rec->status;
    if (rec->method == TG_HEAD) {
        rec->resp_bytes = 0;
    } else if (st == 200 || st == 201) {
        rec->resp_bytes = ok_size(r, rec);
    } else {
        rec->resp_bytes = error_size(route, st, rec->arg);
    }
    /* nginx serves files itself and rejects obviously bad requests itself */
    bool nginx_only = (is_static(route) && st != 502) || st == 304 ||
                      (route == TG_R_SCAN && (st == 404 || st == 403 || st == 400)) ||
                      st == 405 || st == 429 || st == 503;
    rec->upstream_us = nginx_only ? TG_NO_UPSTREAM : tg_upstream_us(r, route, rec->resp_bytes);
}
