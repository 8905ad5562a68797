/*
 * tg.h -- internal interface of trafficgen, the labelled traffic generator.
 *
 * trafficgen writes access logs of mixed legitimate and abusive traffic
 * against the demo API (docs/demo-api.md) plus a label file naming what
 * every client address really is. Tests measure Rampart's recall and its
 * false positives on these logs, so the generator must be deterministic
 * (one seed, one output, byte for byte) and its behaviours varied: every
 * actor draws its own parameters (rate, timing, user agent, routes) from a
 * range instead of replaying one fixed shape per kind.
 *
 * The pieces:
 *   rng.c      the PRNG (xoshiro256**, seeded per actor through splitmix64)
 *              and the distributions the behaviours draw from;
 *   catalog.c  constant tables: user agents, header sets, paths, words,
 *              address prefixes; and path/user-agent formatting;
 *   world.c    the state of one run: addresses (unique, labelled),
 *              clients, compact request records, response models;
 *   legit.c    humans, mobile apps, partners, monitors, crawlers;
 *   shared.c   shared networks: carrier-grade NAT, office NAT, VPN exits
 *              (many people behind one address), and the swarm that
 *              hides in a carrier's /24;
 *   attacks.c  the attack kinds;
 *   output.c   sorting and writing combined / JSON lines and labels;
 *   main.c     options.
 *
 * Requests are stored as 40-byte records and formatted only at the end,
 * after one sort by time, so that a million-line log costs ~40 MB and a
 * few seconds at most.
 */
#ifndef TG_H
#define TG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ------------------------------------------------------------------ rng */

typedef struct tg_rng {
    uint64_t s[4];
} tg_rng;

uint64_t tg_mix64(uint64_t x);
/* One independent stream per (seed, stream, index): an actor's behaviour
 * does not change when another actor is added or removed. */
void tg_rng_seed(tg_rng *r, uint64_t seed, uint64_t stream, uint64_t index);
uint64_t tg_rng_next(tg_rng *r);
double tg_uniform(tg_rng *r);                          /* [0, 1) */
double tg_range(tg_rng *r, double lo, double hi);      /* [lo, hi) */
uint32_t tg_below(tg_rng *r, uint32_t n);              /* [0, n), n > 0 */
uint32_t tg_between(tg_rng *r, uint32_t lo, uint32_t hi); /* [lo, hi] */
bool tg_chance(tg_rng *r, double p);
double tg_exponential(tg_rng *r, double mean);
double tg_normal(tg_rng *r);
double tg_lognormal(tg_rng *r, double median, double sigma);
double tg_log_uniform(tg_rng *r, double lo, double hi);
double tg_clamp(double x, double lo, double hi);

/* ----------------------------------------------------------------- kinds */

typedef enum tg_kind {
    TG_HUMAN,
    TG_MOBILE,
    TG_PARTNER,
    TG_MONITOR,
    TG_CRAWLER,
    TG_CREDENTIAL_STUFFING, /* first attack kind */
    TG_BRUTE_FORCE,
    TG_PASSWORD_SPRAYING,
    TG_ACCOUNT_TAKEOVER,
    TG_FLOOD,
    TG_FLOOD_ROTATING_UA,
    TG_SCANNER,
    TG_SCRAPER,
    TG_ENUMERATION,
    TG_UNDECLARED_PROBE,
    TG_CONSUMPTION,
    TG_DISTRIBUTED_STUFFING,
    TG_DISTRIBUTED_SCRAPING,
    TG_DISTRIBUTED_ENUMERATION,
    /* Kinds after this line are left out of "all": they need horizons of
     * hours or days, and "all" keeps its output byte for byte. */
    TG_SLOW_STUFFING,
    TG_PERSISTENT_ATO,
    TG_SESSION_ROTATION,
    TG_DISTRIBUTED_FLOOD,
    /* Shared networks (--carrier-nat, --office-nat, --vpn-exit), last so
     * that every kind above keeps its number (numbers seed the streams):
     * legitimate addresses that each carry many people, and the slow
     * stuffing swarm that comes with a carrier NAT (an attack kind, but
     * not one --attacks can name: it lives in the carrier's /24s). */
    TG_CARRIER_NAT,
    TG_OFFICE_NAT,
    TG_VPN_EXIT,
    TG_NAT_STUFFING,
    TG_KIND_COUNT
} tg_kind;

#define TG_FIRST_ATTACK TG_CREDENTIAL_STUFFING
#define TG_ALL_END TG_SLOW_STUFFING /* "all" is TG_FIRST_ATTACK .. TG_ALL_END - 1 */
#define TG_SHARED_FIRST TG_CARRIER_NAT /* kinds from here on: shared networks */
/* Group tag for offices: several humans behind one NAT address. */
#define TG_GROUP_OFFICE TG_KIND_COUNT

const char *tg_kind_name(tg_kind kind);
bool tg_kind_is_attack(tg_kind kind);
/* An attack kind --attacks may name (one with a generator in attacks.c). */
bool tg_kind_is_named_attack(tg_kind kind);
/* -1 when the name is unknown. */
int tg_kind_parse(const char *name, size_t len);

/* --------------------------------------------------------------- methods */

typedef enum tg_method {
    TG_GET,
    TG_POST,
    TG_PUT,
    TG_DELETE,
    TG_HEAD,
    TG_OPTIONS,
    TG_PROPFIND,
    TG_TRACE,
    TG_PATCH,
    TG_METHOD_COUNT
} tg_method;

const char *tg_method_name(tg_method m);

/* ---------------------------------------------------------------- routes */

/* What a record's path is; arg and arg2 fill it in (see tg_format_path). */
typedef enum tg_route {
    TG_R_HOME,              /* / */
    TG_R_PAGE_PRODUCTS,     /* /products[?page=arg] (server-rendered) */
    TG_R_PAGE_PRODUCT,      /* /products/arg */
    TG_R_PAGE_LOGIN,        /* /login (GET the form; POST is TG_R_FORM_LOGIN) */
    TG_R_ROBOTS,            /* /robots.txt */
    TG_R_SITEMAP,           /* /sitemap.xml */
    TG_R_APP_JS,            /* /static/app.js */
    TG_R_APP_CSS,           /* /static/app.css */
    TG_R_FAVICON,           /* /favicon.ico */
    TG_R_HEALTH,            /* /health */
    TG_R_API_PRODUCTS,      /* /api/products[?page=arg&limit=arg2] */
    TG_R_API_PRODUCTS_SYNC, /* /api/products?updated_since=T&page=arg&limit=arg2 */
    TG_R_API_PRODUCT,       /* /api/products/arg */
    TG_R_API_SEARCH,        /* /api/search?q=word[arg][&page=arg2] */
    TG_R_API_LOGIN,         /* /api/login */
    TG_R_FORM_LOGIN,        /* /login */
    TG_R_API_USER,          /* /api/users/arg */
    TG_R_API_USER_ORDERS,   /* /api/users/arg/orders */
    TG_R_API_ORDER,         /* /api/orders/arg */
    TG_R_API_ORDERS,        /* /api/orders (POST), /api/orders?updated_since=T (GET, arg 1) */
    TG_R_API_CART,          /* /api/cart */
    TG_R_SCAN,              /* scanner wordlist entry arg (arg2 picks an extension) */
    TG_R_INJECT,            /* injection payload arg on target arg2 */
    TG_R_PROBE,             /* undeclared route arg, id arg2 */
    TG_R_HUGE_LISTING,      /* /api/products?limit=arg2[&page=arg] or search */
    TG_ROUTE_COUNT
} tg_route;

/* ------------------------------------------------------------ catalogue */

/* User agents are 16-bit codes: fixed strings below TG_UA_BROWSER_BASE,
 * generated browser strings (template x version) above. */
typedef enum tg_ua_class {
    TG_UA_DESKTOP,  /* desktop browsers */
    TG_UA_PHONE,    /* mobile browsers */
    TG_UA_APP,      /* mobile app HTTP stacks */
    TG_UA_PARTNER,  /* partner integrations */
    TG_UA_MONITOR,  /* uptime monitors */
    TG_UA_KUBE,     /* kubernetes probes */
    TG_UA_GOOGLEBOT,
    TG_UA_BINGBOT,
    TG_UA_TOOL,     /* HTTP libraries and command-line tools */
    TG_UA_SCANNER,  /* security scanners */
    TG_UA_FLOODER,  /* load tools */
    TG_UA_CLASS_COUNT
} tg_ua_class;

#define TG_UA_CLIENT 0xffff /* record field: use the client's user agent */

uint16_t tg_ua_pick(tg_rng *r, tg_ua_class cls);
/* Writes the user agent (NUL-terminated); returns its length. */
size_t tg_ua_format(uint16_t code, char *buf, size_t cap);
/* The header set a user agent's software would send (TG_HS_*). */
uint8_t tg_ua_header_set(uint16_t code);

typedef enum tg_header_set {
    TG_HS_CHROME,
    TG_HS_FIREFOX,
    TG_HS_SAFARI,
    TG_HS_CURL,
    TG_HS_PYTHON,
    TG_HS_GO,
    TG_HS_OKHTTP,
    TG_HS_IOS_APP,
    TG_HS_CRAWLER,
    TG_HS_MONITOR,
    TG_HS_HEADLESS, /* automation with a browser user agent but a bare header set */
    TG_HS_AIOHTTP,
    TG_HS_NONE,     /* the log has no header names (combined-only clients) */
    TG_HS_COUNT
} tg_header_set;

/* header_names for a request: drops referer/cookie when absent, adds the
 * body headers on POST/PUT and the credential header when the client has
 * a key. Returns the length written. */
size_t tg_header_names(uint8_t set, bool referer, bool cookie, bool body, bool auth, char *buf,
                       size_t cap);

typedef enum tg_referer {
    TG_REF_NONE,
    TG_REF_HOME,
    TG_REF_PRODUCTS,
    TG_REF_PRODUCT,
    TG_REF_LOGIN,
    TG_REF_ACCOUNT,
    TG_REF_GOOGLE,
    TG_REF_BING,
    TG_REF_SEARCH,
    TG_REF_COUNT
} tg_referer;

const char *tg_referer_text(uint8_t ref);

uint32_t tg_search_word_count(void);
uint32_t tg_scan_path_count(void);
uint32_t tg_scan_word_count(void);
/* What the site answers a scanner wordlist entry (nginx denies dotfiles,
 * rejects traversal, knows a handful of real files). */
uint16_t tg_scan_status(uint32_t entry);
uint32_t tg_inject_count(void);
/* What the site answers an injection attempt on target arg2. */
uint16_t tg_inject_status(uint32_t target);
uint32_t tg_inject_target_count(void);
uint32_t tg_inject_payload_count(void);
uint32_t tg_probe_count(void);
/* Status an undeclared route answers (depends on the route, not on luck). */
uint16_t tg_probe_status(uint32_t probe, uint32_t id);

/* Writes the request URI of a route; the time-dependent part
 * (updated_since) comes already formatted. */
size_t tg_catalog_path(uint8_t route, uint32_t arg, uint32_t arg2, const char *since, char *buf,
                       size_t cap);

/* Writes a username for user number n (the site's users are 1..TG_USERS;
 * numbers above are names from leaked lists that do not exist here). */
size_t tg_username(uint32_t n, char *buf, size_t cap);

/* ------------------------------------------------------------- the world */

#define TG_PRODUCTS 5000u /* product ids 1..5000 exist */
#define TG_USERS 50000u   /* user ids 1..50000 exist */
#define TG_ORDERS 400000u /* order ids 1..400000 exist */
#define TG_NO_UPSTREAM 0xffffffffu

/* Record flags. */
#define TG_F_NO_COOKIE 0x01 /* the client had no session cookie yet */
#define TG_F_USERNAME 0x02  /* an auth request: log the username (arg2) */
#define TG_F_HOST_IP 0x04   /* Host header is the bare server address */
#define TG_F_SESSION_SHIFT 4 /* bits 4..7: the client's session number */

typedef struct tg_rec {
    int64_t ts_us; /* from the start of the log */
    uint32_t client;
    uint32_t arg, arg2;
    uint32_t resp_bytes, req_bytes;
    uint32_t upstream_us; /* TG_NO_UPSTREAM: served by nginx itself */
    uint16_t status;
    uint16_t ua; /* TG_UA_CLIENT or an override (rotating user agents) */
    uint8_t route, method, referer, flags;
} tg_rec;

typedef struct tg_addr {
    uint8_t bytes[16]; /* IPv4 in bytes[12..15] when v6 == 0 */
    uint8_t v6;
    uint8_t kind;      /* tg_kind */
    uint8_t group_tag; /* tg_kind, or TG_GROUP_OFFICE */
    uint32_t group;    /* actor number within group_tag */
    uint64_t lines;    /* records emitted from this address */
} tg_addr;

typedef struct tg_client {
    uint32_t addr;     /* index in tg_world.addrs */
    uint16_t ua;
    uint8_t header_set;
    uint8_t sessions;  /* 1 = carries a session cookie */
    uint64_t api_key;  /* 0 = none */
    uint8_t key_kind;  /* 0 partner key, 1 app token, 2 staff token */
} tg_client;

typedef struct tg_counts {
    uint32_t humans, mobile, partners, monitors, crawlers;
    uint32_t attack_actors; /* per attack kind; 0 = the kind's default */
    uint32_t attacks;       /* bit per attack kind (1u << kind) */
    uint32_t carrier_nats;  /* carrier-grade NAT /24s */
    uint32_t office_nats;   /* offices, one NAT address each */
    uint32_t vpn_exits;     /* VPN exit addresses */
} tg_counts;

typedef struct tg_world {
    uint64_t seed;
    int64_t duration_us;
    int64_t start_epoch_s;
    tg_counts counts;

    tg_addr *addrs;
    uint32_t naddrs, addrs_cap;
    uint64_t *addr_set; /* open addressing: hash of the address, 0 = empty */
    uint32_t addr_set_cap;

    tg_client *clients;
    uint32_t nclients, clients_cap;

    tg_rec *recs;
    size_t nrecs, recs_cap;

    uint32_t group_next[TG_KIND_COUNT + 1];
    bool oom;
} tg_world;

void tg_world_init(tg_world *w, uint64_t seed, int64_t duration_us, int64_t start_epoch_s);
void tg_world_free(tg_world *w);

/* Address pools an actor draws from. */
typedef enum tg_pool {
    TG_POOL_RESIDENTIAL, /* consumer broadband and mobile carriers, some IPv6 */
    TG_POOL_CLOUD,       /* hosting and cloud providers */
    TG_POOL_PRIVATE,     /* 10.0.0.0/8 (in-cluster probes) */
    TG_POOL_GOOGLEBOT,   /* 66.249.64.0/19 */
    TG_POOL_BINGBOT,     /* 157.55.39.0/24 */
} tg_pool;

/* A fresh, never used address from pool; v6_share is the chance of IPv6. */
uint32_t tg_addr_new(tg_world *w, tg_rng *r, tg_pool pool, double v6_share, tg_kind kind,
                     uint8_t group_tag, uint32_t group);
/* A fresh address inside the /24 whose first three bytes are prefix24. */
uint32_t tg_addr_in24(tg_world *w, tg_rng *r, uint32_t prefix24, tg_kind kind, uint32_t group);
/* A /24 in the residential or cloud pool (first three bytes). */
uint32_t tg_prefix24_pick(tg_rng *r, tg_pool pool);
uint32_t tg_group_new(tg_world *w, uint8_t group_tag);

uint32_t tg_client_new(tg_world *w, uint32_t addr, uint16_t ua, uint8_t header_set);

/* Appends a record; times outside [0, duration) are dropped. Returns
 * whether the record was kept. */
bool tg_emit(tg_world *w, const tg_rec *rec);

/* Some product ids in 1..TG_PRODUCTS were deleted (404), as on any shop. */
bool tg_product_exists(uint32_t id);

/* Response models: sizes and upstream times that depend on the route and
 * the object, as a real site's would. */
uint32_t tg_size_product(uint32_t id);
uint32_t tg_size_listing(uint32_t limit);
uint32_t tg_upstream_us(tg_rng *r, tg_route route, uint32_t size);
/* Fills size/upstream for a GET of route with the given status. */
void tg_fill_response(tg_rng *r, tg_rec *rec);

/* ----------------------------------------------------------- generators */

void tg_gen_legit(tg_world *w);
void tg_gen_attacks(tg_world *w);
void tg_gen_shared_networks(tg_world *w);

/* Pieces of the legitimate population that shared.c puts behind shared
 * addresses (legit.c). */
typedef struct tg_person_habits {
    double phone_share; /* chance of a phone browser rather than a desktop one */
    uint16_t ua;        /* 0: draw one; else this user agent (a managed fleet) */
    double login_first; /* chance to log in at the start of a visit */
    double stray;       /* chance, per account view, of a link to someone
                         * else's order (403) or an old product page (404) */
    bool form_login;    /* always the form (staff at their desks) */
} tg_person_habits;

/* A person in a browser at addr: a new client, then their visits. */
void tg_gen_person(tg_world *w, tg_rng *r, uint32_t addr, const tg_person_habits *habits);
/* One install of the shop's mobile app at addr, for the whole log. */
void tg_gen_app_install(tg_world *w, tg_rng *r, uint32_t addr);

/* ---------------------------------------------------------------- output */

typedef enum tg_format { TG_FMT_COMBINED, TG_FMT_JSON } tg_format;

void tg_sort(tg_world *w);
size_t tg_format_path(const tg_world *w, const tg_rec *rec, char *buf, size_t cap);
int tg_write_log(const tg_world *w, tg_format fmt, FILE *out);
int tg_write_labels(const tg_world *w, FILE *out);
size_t tg_format_addr(const tg_addr *a, char *buf, size_t cap);
/* Epoch seconds of a proleptic Gregorian UTC date. */
int64_t tg_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
