/*
 * demo_api.c -- the demo shop: a small, real HTTP API to attack.
 *
 * This is the site docs/demo-api.md describes and tools/trafficgen models:
 * server-rendered pages, a single page application shell, a JSON API, two
 * logins with two failure conventions, objects that belong to users. The
 * Rampart demo and the end-to-end tests put nginx in front of it and aim
 * real tools at it (hydra, ffuf, sqlmap, wrk, slowhttptest...).
 *
 *   demo-api --listen 127.0.0.1:8080 [--seed N] [--ready-file F] [--login-ms MS]
 *
 * Why it is built this way:
 *
 *  - Every piece of data is a pure function of (seed, id): products,
 *    users, orders and their sizes are the same on every run, so tests can
 *    assert on them and a log from a real run looks like trafficgen's. The
 *    5000 products are rendered once at start (about 10 MB); users (50000)
 *    and orders (400000) are computed per request from their id.
 *  - The sizes the traffic model relies on are exact: the login form is
 *    5312 bytes, every failed form login answers the same 5389-byte page,
 *    a failed /api/login 61 bytes, /health 15. Pages are padded with
 *    whitespace to their size at start.
 *  - The only mutable state is the session table: a fixed array of
 *    SESSION_SLOTS slots under one mutex. A token names its slot, so a
 *    lookup is one compare; a new session evicts whatever held its slot.
 *    Nothing grows with traffic, so a flood cannot exhaust memory.
 *  - libmicrohttpd with a pool of worker threads, a connection limit and
 *    an idle timeout, so wrk floods and slowloris degrade it without
 *    killing it. Request bodies are capped at BODY_MAX (413 beyond).
 *  - Answers never echo input into HTML, search is a substring match over
 *    product names (no query language, nothing to inject into), and every
 *    bad parameter is a 400, never a crash.
 *  - /api/debug/vars is deliberately left in and undocumented: the
 *    forgotten endpoint that leaks, which probing should find.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define N_PRODUCTS 5000
#define N_USERS 50000
#define ORDERS_PER_USER 8
#define N_ORDERS (N_USERS * ORDERS_PER_USER) /* 400000 */
#define PAGE_SIZE_HTML 20                     /* products per HTML listing page: 250 pages */
#define LIMIT_DEFAULT 20
#define LIMIT_DOCUMENTED 100 /* search caps here; /api/products goes on (consumption) */
#define BODY_MAX 16384       /* request bodies beyond this answer 413 */
#define SESSION_SLOTS 4096
#define CART_MAX 16
#define BASE_EPOCH 1793491200 /* 2026-11-01T00:00:00Z: data timestamps start here */
#define ORDER_STEP_S 6        /* one order every 6 s: 400000 orders span ~28 days */
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Error bodies with the sizes the traffic model uses (docs/demo-api.md). */
#define E404 "{\"error\":\"not_found\",\"code\":404}\n"                             /* 33 */
#define E403 "{\"error\":\"forbidden\",\"message\":\"not your own\"}\n"             /* 47 */
#define E400 "{\"error\":\"bad_request\",\"message\":\"malformed query string\"}"   /* 58 */
#define E401_LOGIN "{\"error\":\"invalid_credentials\",\"message\":\"wrong credentials\"}" /* 61 */
#define E401_AUTH "{\"error\":\"unauthorized\",\"message\":\"missing or expired token\"}" /* 61 */
#define E400_BODY "{\"error\":\"bad_request\",\"message\":\"malformed JSON body\"}"
#define E405 "{\"error\":\"method_not_allowed\"}"
#define E413 "{\"error\":\"payload_too_large\",\"max_bytes\":16384}"
#define E500 "{\"error\":\"internal\"}"
_Static_assert(sizeof E404 - 1 == 33, "404 body size");
_Static_assert(sizeof E403 - 1 == 47, "403 body size");
_Static_assert(sizeof E400 - 1 == 58, "400 body size");
_Static_assert(sizeof E401_LOGIN - 1 == 61, "401 login body size");
_Static_assert(sizeof E401_AUTH - 1 == 61, "401 auth body size");

#define JSON "application/json"
#define HTML "text/html; charset=utf-8"

/* Partner API keys (Authorization: Bearer ...): fulfilment partners poll
 * /api/orders and read any order by id, but no user profile. */
static const char *const partner_keys[] = {"pk_live_demo_partner1", "pk_live_demo_partner2"};

static const char *const adjectives[] = {"Sturdy", "Classic", "Compact", "Deluxe", "Rustic",
                                         "Modern", "Vintage", "Smart", "Portable", "Quiet",
                                         "Bright", "Heavy", "Light", "Premium", "Basic", "Nordic"};
static const char *const materials[] = {"Oak", "Steel", "Bamboo", "Ceramic", "Copper", "Linen",
                                        "Walnut", "Glass", "Cotton", "Granite", "Aluminium", "Wool"};
static const char *const nouns[] = {"Kettle", "Lamp", "Chair", "Mug", "Backpack", "Blanket",
                                    "Desk", "Speaker", "Teapot", "Clock", "Shelf", "Knife",
                                    "Bottle", "Pan", "Stool", "Vase", "Jacket", "Notebook"};
static const char *const categories[] = {"kitchen", "home", "furniture", "outdoor", "audio",
                                         "office", "apparel", "garden"};
static const char *const words[] = {"durable", "hand", "finished", "made", "for", "everyday",
                                    "use", "with", "a", "soft", "matte", "surface", "and",
                                    "easy", "care", "designed", "in", "small", "batches", "by",
                                    "our", "workshop", "ships", "within", "two", "days", "fits",
                                    "most", "homes", "the", "warm", "tone", "ages", "well"};
static const char *const statuses[] = {"delivered", "delivered", "delivered", "shipped",
                                       "processing", "cancelled", "refunded"};

/* ------------------------------------------------------------ helpers */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A growable output buffer; a failed allocation sets oom and stops it. */
typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;
} buf;

static bool buf_reserve(buf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void buf_add(buf *b, const char *s, size_t n)
{
    if (!buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

__attribute__((format(printf, 2, 3))) static void buf_fmt(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Pads with whitespace (a newline every 100 bytes) up to exactly target
 * bytes; whitespace means nothing in HTML, CSS, JS, XML or robots.txt. */
static void buf_pad(buf *b, size_t target)
{
    while (b->len < target && !b->oom)
        buf_add(b, (b->len % 100 == 99) ? "\n" : " ", 1);
}

/* Appends words chosen by h until the buffer holds target bytes. */
static void buf_words(buf *b, uint64_t h, size_t target)
{
    for (int i = 0; b->len + 12 < target && !b->oom; i++) {
        if (i)
            buf_add(b, " ", 1);
        buf_str(b, words[mix64(h + (uint64_t)i) % COUNT(words)]);
    }
}

static void iso_time(int64_t epoch, char out[24])
{
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 24, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Strict positive decimal: digits only, at most 9 of them. */
static bool parse_uint(const char *s, size_t n, uint32_t *out)
{
    if (n == 0 || n > 9)
        return false;
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint32_t)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* "2026-11-20T10:00:00Z" (a fraction or +00:00 allowed) or epoch seconds. */
static bool parse_time(const char *s, int64_t *out)
{
    /* Unix seconds (today's are 10 digits; up to 12 accepted) or ISO 8601. */
    size_t n = strlen(s), i = 0;
    int64_t v = 0;
    while (i < n && i < 12 && s[i] >= '0' && s[i] <= '9')
        v = v * 10 + (s[i++] - '0');
    if (n > 0 && i == n) {
        *out = v;
        return true;
    }
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest || !(*rest == '\0' || *rest == 'Z' || *rest == '.' || *rest == '+'))
        return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

/* --------------------------------------------------------------- data */

typedef struct product {
    char name[64];
    const char *category;
    uint32_t price_cents, stock;
    int64_t updated;
    bool deleted;           /* ~1%: 404 like absent ids */
    char *item;             /* the listing item, ~410 bytes of JSON */
    size_t item_len;
    char *full;             /* the object, 1100..2600 bytes of JSON */
    size_t full_len;
} product;

typedef struct page {
    char *body;
    size_t len;
    const char *type;
    char etag[32];
} page;

typedef struct session {
    char token[48]; /* "" when free */
    uint32_t user;
    uint32_t cart_n;
    uint32_t cart_product[CART_MAX], cart_qty[CART_MAX];
} session;

typedef struct app {
    uint64_t seed;
    unsigned login_ms;
    product products[N_PRODUCTS + 1]; /* [0] unused: ids are 1-based */
    page home, login_form, login_failed, not_found_html, bad_request_html;
    page robots, sitemap, app_js, app_css, favicon;
    pthread_mutex_t lock; /* guards sessions and token_counter */
    session sessions[SESSION_SLOTS];
    uint64_t token_counter;
    atomic_ulong requests, logins_ok, logins_failed, orders_created;
} app;

static void product_init(app *a, uint32_t id)
{
    product *p = &a->products[id];
    uint64_t h = mix64(a->seed * 0x9e3779b97f4a7c15ULL + id);
    snprintf(p->name, sizeof p->name, "%s %s %s %u", adjectives[h % COUNT(adjectives)],
             materials[(h >> 8) % COUNT(materials)], nouns[(h >> 16) % COUNT(nouns)],
             (unsigned)(100 + (h >> 24) % 900));
    p->category = categories[(h >> 34) % COUNT(categories)];
    p->price_cents = 199 + (uint32_t)((h >> 38) % 49800);
    p->stock = (uint32_t)((h >> 48) % 250);
    p->updated = BASE_EPOCH + (int64_t)((h >> 20) % (30 * 86400));
    p->deleted = (h >> 56) % 100 == 0;

    char when[24];
    iso_time(p->updated, when);
    buf b = {0};
    buf_fmt(&b,
            "{\"id\":%u,\"name\":\"%s\",\"category\":\"%s\",\"price\":%u.%02u,"
            "\"currency\":\"EUR\",\"stock\":%u,\"updated_at\":\"%s\",\"url\":\"/products/%u\","
            "\"image\":\"/static/img/p/%u.jpg\",\"summary\":\"",
            id, p->name, p->category, p->price_cents / 100, p->price_cents % 100, p->stock,
            when, id, id);
    size_t head = b.len;
    buf_words(&b, h, 380 + (size_t)(h % 60));
    buf_str(&b, "\"}");
    p->item = b.p;
    p->item_len = b.len;

    /* The object: the item's fields plus a description; its size is fixed
     * per id, as the traffic model assumes. */
    buf f = {0};
    buf_add(&f, p->item, head);
    buf_words(&f, h, head + 200);
    buf_str(&f, "\",\"description\":\"");
    buf_words(&f, h >> 3, 1100 + (size_t)(mix64(h) % 1500) - 40);
    buf_fmt(&f, "\",\"rating\":%u.%u,\"reviews\":%u}", (unsigned)(3 + h % 3),
            (unsigned)(h >> 5) % 10, (unsigned)(h >> 40) % 400);
    p->full = f.p;
    p->full_len = f.len;
}

static bool product_exists(const app *a, uint32_t id)
{
    return id >= 1 && id <= N_PRODUCTS && !a->products[id].deleted;
}

static uint32_t order_owner(uint32_t order) { return (order - 1) / ORDERS_PER_USER + 1; }

static void order_json(const app *a, buf *b, uint32_t order)
{
    uint64_t h = mix64(a->seed ^ (0x51ed27ULL * order));
    uint32_t n_items = 1 + (uint32_t)(h % 4), total = 0;
    char created[24], updated[24];
    int64_t t = BASE_EPOCH + (int64_t)order * ORDER_STEP_S;
    iso_time(t - 86400, created);
    iso_time(t, updated);
    buf_fmt(b, "{\"id\":%u,\"user_id\":%u,\"status\":\"%s\",\"created_at\":\"%s\","
            "\"updated_at\":\"%s\",\"items\":[", order, order_owner(order),
            statuses[(h >> 8) % COUNT(statuses)], created, updated);
    for (uint32_t i = 0; i < n_items; i++) {
        uint32_t pid = 1 + (uint32_t)(mix64(h + i) % N_PRODUCTS), qty = 1 + (uint32_t)(h >> (12 + i)) % 3;
        total += qty * a->products[pid].price_cents;
        buf_fmt(b, "%s{\"product_id\":%u,\"name\":\"%s\",\"quantity\":%u}", i ? "," : "", pid,
                a->products[pid].name, qty);
    }
    buf_fmt(b, "],\"total\":%u.%02u,\"currency\":\"EUR\"}", total / 100, total % 100);
}

static void user_json(buf *b, uint32_t id)
{
    static const char *const first[] = {"Ana", "Ben", "Chloe", "Dmitri", "Eva", "Farid",
                                        "Grace", "Hiro", "Ines", "Jonas", "Kemal", "Lena"};
    static const char *const last[] = {"Novak", "Berg", "Costa", "Ivanova", "Meyer", "Haddad",
                                       "Okafor", "Tanaka", "Silva", "Dubois", "Kowalski"};
    uint64_t h = mix64(id * 0x2545f4914f6cdd1dULL);
    const char *login = id == 1 ? "admin" : id == 2 ? "alice" : NULL;
    char created[24];
    iso_time(BASE_EPOCH - 86400 * (int64_t)(30 + h % 1500), created);
    buf_fmt(b, "{\"id\":%u,\"username\":\"", id);
    if (login)
        buf_str(b, login);
    else
        buf_fmt(b, "user%u", id);
    buf_fmt(b, "\",\"name\":\"%s %s\",\"email\":\"user%u@shop.example\",\"created_at\":\"%s\","
            "\"phone\":\"+33 6 %02u %02u %02u %02u\",\"address\":{\"street\":\"%u %s Street\","
            "\"city\":\"%s\",\"postcode\":\"%05u\",\"country\":\"FR\"},\"orders\":%u,"
            "\"preferences\":{\"newsletter\":%s,\"language\":\"en\",\"currency\":\"EUR\"}}",
            first[h % COUNT(first)], last[(h >> 8) % COUNT(last)], id, created,
            (unsigned)(h >> 16) % 100, (unsigned)(h >> 24) % 100, (unsigned)(h >> 32) % 100,
            (unsigned)(h >> 40) % 100, 1 + (unsigned)(h >> 44) % 200,
            materials[(h >> 50) % COUNT(materials)], (h >> 52) % 2 ? "Lyon" : "Paris",
            (unsigned)(h >> 20) % 100000, ORDERS_PER_USER, (h >> 60) % 2 ? "true" : "false");
}

/* ----------------------------------------------------- static pages */

static void page_set(page *pg, buf *b, const char *type)
{
    pg->body = b->p;
    pg->len = b->len;
    pg->type = type;
    snprintf(pg->etag, sizeof pg->etag, "\"v1-%zx\"", b->len);
}

static void html_head(buf *b, const char *title)
{
    buf_fmt(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>%s - Demo Shop</title><meta name=\"viewport\" content=\"width=device-width\">"
            "<link rel=\"stylesheet\" href=\"/static/app.css\"><link rel=\"icon\" href=\"/favicon.ico\">"
            "</head>\n<body><header><a href=\"/\">Demo Shop</a> <a href=\"/products\">Products</a> "
            "<a href=\"/login\">Log in</a></header>\n", title);
}

/* The login page, with or without the error; the failure page is the form
 * page plus exactly 77 bytes of error, so every failure is 5389 bytes. */
static void login_page(buf *b, bool failed)
{
    html_head(b, "Log in");
    buf_str(b, "<main><h1>Log in</h1>\n");
    if (failed) {
        size_t at = b->len;
        buf_str(b, "<p class=\"error\" role=\"alert\">Invalid username or password.</p>");
        buf_pad(b, at + 77);
    }
    buf_str(b, "<form method=\"post\" action=\"/login\">\n"
               "<label>Username <input name=\"username\" autocomplete=\"username\"></label>\n"
               "<label>Password <input name=\"password\" type=\"password\" "
               "autocomplete=\"current-password\"></label>\n"
               "<button type=\"submit\">Log in</button>\n</form></main>\n");
    buf_pad(b, failed ? 5389 - 15 : 5312 - 15);
    buf_str(b, "</body></html>\n");
}

static void pages_init(app *a)
{
    buf b = {0};
    html_head(&b, "Home");
    buf_str(&b, "<div id=\"app\"></div><noscript><h2>Featured</h2><ul>\n");
    for (uint32_t id = 1; id <= 60; id++)
        if (product_exists(a, id))
            buf_fmt(&b, "<li><a href=\"/products/%u\">%s</a> %u.%02u EUR</li>\n", id,
                    a->products[id].name, a->products[id].price_cents / 100,
                    a->products[id].price_cents % 100);
    buf_str(&b, "</ul></noscript>\n<script src=\"/static/app.js\" defer></script>\n");
    buf_pad(&b, 24817 - 15);
    buf_str(&b, "</body></html>\n");
    page_set(&a->home, &b, HTML);

    b = (buf){0};
    login_page(&b, false);
    page_set(&a->login_form, &b, HTML);
    b = (buf){0};
    login_page(&b, true);
    page_set(&a->login_failed, &b, HTML);

    b = (buf){0};
    buf_str(&b, "<!doctype html>\n<html><head><title>Not found</title></head>"
                "<body><h1>404 Not Found</h1></body></html>\n");
    buf_pad(&b, 153);
    page_set(&a->not_found_html, &b, HTML);
    b = (buf){0};
    buf_str(&b, "<!doctype html>\n<html><head><title>Bad request</title></head>"
                "<body><h1>400 Bad Request</h1></body></html>\n");
    buf_pad(&b, 157);
    page_set(&a->bad_request_html, &b, HTML);

    b = (buf){0};
    buf_str(&b, "User-agent: *\nDisallow: /api/\nDisallow: /login\nDisallow: /cart\n"
                "Crawl-delay: 1\n\nSitemap: https://shop.example/sitemap.xml\n");
    buf_pad(&b, 187);
    page_set(&a->robots, &b, "text/plain; charset=utf-8");

    b = (buf){0};
    buf_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n"
                "<url><loc>https://shop.example/</loc></url>\n");
    for (uint32_t n = 1; n <= N_PRODUCTS / PAGE_SIZE_HTML; n++)
        buf_fmt(&b, "<url><loc>https://shop.example/products?page=%u</loc></url>\n", n);
    for (uint32_t id = 1; id <= N_PRODUCTS && b.len < 96514 - 200; id++)
        if (product_exists(a, id))
            buf_fmt(&b, "<url><loc>https://shop.example/products/%u</loc></url>\n", id);
    buf_str(&b, "</urlset>\n");
    buf_pad(&b, 96514);
    page_set(&a->sitemap, &b, "application/xml");

    b = (buf){0};
    buf_str(&b, "/* Demo Shop single page application (shell). */\n"
                "(function () {\n  'use strict';\n  var root = document.getElementById('app');\n"
                "  function render(page) {\n    root.innerHTML = '';\n"
                "    page.items.forEach(function (p) {\n"
                "      var a = document.createElement('a');\n"
                "      a.href = '/products/' + p.id; a.textContent = p.name + ' ' + p.price;\n"
                "      root.appendChild(a);\n    });\n  }\n"
                "  fetch('/api/products?page=1&limit=20').then(function (r) { return r.json(); })"
                ".then(render);\n})();\n");
    buf_pad(&b, 184523);
    page_set(&a->app_js, &b, "application/javascript");

    b = (buf){0};
    buf_str(&b, "body{font-family:system-ui,sans-serif;margin:0}header{padding:1em;"
                "background:#234}header a{color:#fff;margin-right:1em}main{padding:1em}"
                ".error{color:#b00}\n");
    buf_pad(&b, 48211);
    page_set(&a->app_css, &b, "text/css");

    /* An ICO header for one 16x16 32-bit image, then zero pixels. */
    static const unsigned char ico[] = {0, 0, 1, 0, 1, 0, 16, 16, 0, 0, 1, 0, 32, 0,
                                        0x28, 0x05, 0, 0, 22, 0, 0, 0};
    b = (buf){0};
    buf_add(&b, (const char *)ico, sizeof ico);
    if (buf_reserve(&b, 15086 - b.len)) {
        memset(b.p + b.len, 0, 15086 - b.len);
        b.len = 15086;
    }
    page_set(&a->favicon, &b, "image/x-icon");
}

static bool app_init(app *a)
{
    for (uint32_t id = 1; id <= N_PRODUCTS; id++)
        product_init(a, id);
    pages_init(a);
    page *all[] = {&a->home, &a->login_form, &a->login_failed, &a->not_found_html,
                   &a->bad_request_html, &a->robots, &a->sitemap, &a->app_js, &a->app_css,
                   &a->favicon};
    for (size_t i = 0; i < COUNT(all); i++)
        if (!all[i]->body)
            return false;
    for (uint32_t id = 1; id <= N_PRODUCTS; id++)
        if (!a->products[id].item || !a->products[id].full)
            return false;
    return pthread_mutex_init(&a->lock, NULL) == 0;
}

static void app_free(app *a)
{
    for (uint32_t id = 1; id <= N_PRODUCTS; id++) {
        free(a->products[id].item);
        free(a->products[id].full);
    }
    page *all[] = {&a->home, &a->login_form, &a->login_failed, &a->not_found_html,
                   &a->bad_request_html, &a->robots, &a->sitemap, &a->app_js, &a->app_css,
                   &a->favicon};
    for (size_t i = 0; i < COUNT(all); i++)
        free(all[i]->body);
    pthread_mutex_destroy(&a->lock);
}

/* ----------------------------------------------------------- sessions */

/* "tok-{user}-{16 hex}": the hex part picks the slot, so a lookup is one
 * compare. Tokens follow from the seed, like everything else here. */
static void session_new(app *a, uint32_t user, char token[48])
{
    pthread_mutex_lock(&a->lock);
    uint64_t r = mix64(a->seed ^ (0xa0761d6478bd642fULL + ++a->token_counter));
    session *s = &a->sessions[r % SESSION_SLOTS];
    snprintf(s->token, sizeof s->token, "tok-%u-%016" PRIx64, user, r);
    s->user = user;
    s->cart_n = 0;
    memcpy(token, s->token, sizeof s->token);
    pthread_mutex_unlock(&a->lock);
}

/* The slot a token names, or NULL; call with the lock held. */
static session *session_find(app *a, const char *token)
{
    const char *dash = strncmp(token, "tok-", 4) == 0 ? strchr(token + 4, '-') : NULL;
    if (!dash || strlen(dash + 1) != 16)
        return NULL;
    uint64_t r = strtoull(dash + 1, NULL, 16);
    session *s = &a->sessions[r % SESSION_SLOTS];
    return s->token[0] && strcmp(s->token, token) == 0 ? s : NULL;
}

/* ----------------------------------------------------------- requests */

typedef struct request {
    struct MHD_Connection *conn;
    const char *url, *method;
    bool get, post, put; /* HEAD counts as GET: MHD drops the body */
    char *body;          /* POST/PUT body, at most BODY_MAX bytes */
    size_t body_len;
    bool too_large;
} request;

enum { AUTH_NONE, AUTH_USER, AUTH_PARTNER };

static const char *arg(const request *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

/* Who is asking: a session token (Bearer or the sid cookie) or a partner key. */
static int authenticate(app *a, const request *r, uint32_t *user)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    const char *token = NULL;
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        token = h + 7;
        for (size_t i = 0; i < COUNT(partner_keys); i++)
            if (strcmp(token, partner_keys[i]) == 0)
                return AUTH_PARTNER;
    }
    if (!token)
        token = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "sid");
    if (!token)
        return AUTH_NONE;
    pthread_mutex_lock(&a->lock);
    session *s = session_find(a, token);
    *user = s ? s->user : 0;
    pthread_mutex_unlock(&a->lock);
    return s ? AUTH_USER : AUTH_NONE;
}

static enum MHD_Result send_resp(const request *r, unsigned status, struct MHD_Response *resp,
                                 const char *type)
{
    if (!resp)
        return MHD_NO;
    if (type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ok = MHD_queue_response(r->conn, status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result send_const(const request *r, unsigned status, const char *type,
                                  const char *body)
{
    return send_resp(r, status,
                     MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                     MHD_RESPMEM_PERSISTENT),
                     type);
}

/* Sends and takes ownership of b's memory. */
static enum MHD_Result send_buf(const request *r, unsigned status, const char *type, buf *b)
{
    if (b->oom || !b->p) {
        free(b->p);
        return send_const(r, 500, JSON, E500);
    }
    return send_resp(r, status, MHD_create_response_from_buffer(b->len, b->p,
                                                                MHD_RESPMEM_MUST_FREE),
                     type);
}

static enum MHD_Result send_page(const request *r, unsigned status, const page *pg)
{
    const char *inm = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-None-Match");
    bool fresh = inm && strcmp(inm, pg->etag) == 0;
    struct MHD_Response *resp =
        fresh ? MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT)
              : MHD_create_response_from_buffer(pg->len, pg->body, MHD_RESPMEM_PERSISTENT);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, pg->etag);
    return send_resp(r, fresh ? 304 : status, resp, pg->type);
}

static enum MHD_Result method_not_allowed(const request *r, const char *allow)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(E405), (void *)E405, MHD_RESPMEM_PERSISTENT);
    if (resp)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    return send_resp(r, 405, resp, JSON);
}

/* ?name=N: def when absent, false when present but not a number >= 1. */
static bool arg_uint(const request *r, const char *name, uint32_t def, uint32_t *out)
{
    const char *v = arg(r, name);
    if (!v) {
        *out = def;
        return true;
    }
    return parse_uint(v, strlen(v), out) && *out >= 1;
}

/* ----------------------------------------------------------- handlers */

static enum MHD_Result products_list(app *a, const request *r)
{
    uint32_t pg, limit;
    int64_t since = 0;
    const char *s = arg(r, "updated_since");
    if (!arg_uint(r, "page", 1, &pg) || !arg_uint(r, "limit", LIMIT_DEFAULT, &limit) ||
        (s && !parse_time(s, &since)))
        return send_const(r, 400, JSON, E400);
    /* limit is documented up to 100 but, like many real APIs, not
     * enforced: ?limit=100000 is the consumption scenario. The catalogue
     * itself bounds the answer (~2 MB). */
    if (limit > N_PRODUCTS)
        limit = N_PRODUCTS;
    uint64_t skip = (uint64_t)(pg - 1) * limit;
    uint32_t total = 0, shown = 0;
    buf b = {0};
    buf_str(&b, "{\"items\":[");
    for (uint32_t id = 1; id <= N_PRODUCTS; id++) {
        const product *p = &a->products[id];
        if (p->deleted || p->updated < since)
            continue;
        if (total++ < skip || shown >= limit)
            continue;
        if (shown++)
            buf_add(&b, ",", 1);
        buf_add(&b, p->item, p->item_len);
    }
    buf_fmt(&b, "],\"page\":%u,\"limit\":%u,\"total\":%u}", pg, limit, total);
    return send_buf(r, 200, JSON, &b);
}

static enum MHD_Result product_one(app *a, const request *r, const char *id_s)
{
    uint32_t id;
    if (!parse_uint(id_s, strlen(id_s), &id))
        return send_const(r, 400, JSON, E400);
    if (!product_exists(a, id))
        return send_const(r, 404, JSON, E404);
    const product *p = &a->products[id];
    return send_resp(r, 200, MHD_create_response_from_buffer(p->full_len, p->full,
                                                             MHD_RESPMEM_PERSISTENT),
                     JSON);
}

/* A query is malformed when empty, longer than 200 bytes, not UTF-8 or
 * holding control characters. Anything else -- quotes, SQL, markup -- is
 * just text to look for in product names. */
static enum MHD_Result search(app *a, const request *r)
{
    const char *q = NULL;
    size_t n = 0; /* the decoded length: a %00 inside makes it differ from strlen */
    uint32_t pg, limit;
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, "q", 1, &q, &n) != MHD_YES)
        q = NULL;
    if (!q || n == 0 || n > 200 || strlen(q) != n || !arg_uint(r, "page", 1, &pg) ||
        !arg_uint(r, "limit", LIMIT_DEFAULT, &limit))
        return send_const(r, 400, JSON, E400);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)q[i] < 0x20 || q[i] == 0x7f)
            return send_const(r, 400, JSON, E400);
    json_t *qs = json_string(q); /* NULL when not UTF-8 */
    char *quoted = qs ? json_dumps(qs, JSON_ENCODE_ANY) : NULL;
    json_decref(qs);
    if (!quoted)
        return send_const(r, 400, JSON, E400);
    if (limit > LIMIT_DOCUMENTED)
        limit = LIMIT_DOCUMENTED;
    uint64_t skip = (uint64_t)(pg - 1) * limit;
    uint32_t total = 0, shown = 0;
    buf b = {0};
    buf_fmt(&b, "{\"query\":%s,\"items\":[", quoted);
    free(quoted);
    for (uint32_t id = 1; id <= N_PRODUCTS; id++) {
        const product *p = &a->products[id];
        if (p->deleted || (!strcasestr(p->name, q) && strcasecmp(p->category, q) != 0))
            continue;
        if (total++ < skip || shown >= limit)
            continue;
        if (shown++)
            buf_add(&b, ",", 1);
        buf_add(&b, p->item, p->item_len);
    }
    buf_fmt(&b, "],\"page\":%u,\"limit\":%u,\"total\":%u}", pg, limit, total);
    return send_buf(r, 200, JSON, &b);
}

/* The user id for a valid pair, else 0: "user{N}"/"pass-{N}" for every
 * user, plus the famous weak accounts admin (user 1) and alice (user 2). */
static uint32_t check_login(const char *user, const char *pass)
{
    if (strcmp(user, "admin") == 0)
        return strcmp(pass, "admin123") == 0 ? 1 : 0;
    if (strcmp(user, "alice") == 0)
        return strcmp(pass, "wonderland") == 0 ? 2 : 0;
    uint32_t id;
    if (strncmp(user, "user", 4) != 0 || user[4] == '0' ||
        !parse_uint(user + 4, strlen(user + 4), &id) || id < 1 || id > N_USERS)
        return 0;
    char want[32];
    snprintf(want, sizeof want, "pass-%u", id);
    return strcmp(pass, want) == 0 ? id : 0;
}

/* Stands in for the password hash's cost (docs: ~85 ms), when asked to. */
static void login_delay(const app *a)
{
    if (a->login_ms) {
        struct timespec ts = {a->login_ms / 1000, (long)(a->login_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void add_session_cookie(struct MHD_Response *resp, const char *token)
{
    char cookie[96];
    snprintf(cookie, sizeof cookie, "sid=%s; Path=/; HttpOnly; SameSite=Lax", token);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, cookie);
}

static enum MHD_Result api_login(app *a, const request *r)
{
    json_t *body = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
    const char *u = json_string_value(json_object_get(body, "username"));
    const char *p = json_string_value(json_object_get(body, "password"));
    if (!u || !p) {
        json_decref(body);
        return send_const(r, 400, JSON, E400_BODY);
    }
    login_delay(a);
    uint32_t id = check_login(u, p);
    json_decref(body);
    if (!id) {
        atomic_fetch_add(&a->logins_failed, 1);
        return send_const(r, 401, JSON, E401_LOGIN);
    }
    atomic_fetch_add(&a->logins_ok, 1);
    char token[48];
    session_new(a, id, token);
    buf b = {0};
    buf_fmt(&b, "{\"token\":\"%s\",\"token_type\":\"Bearer\",\"expires_in\":3600,\"user\":", token);
    user_json(&b, id);
    buf_str(&b, "}");
    if (b.oom) {
        free(b.p);
        return send_const(r, 500, JSON, E500);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(b.len, b.p, MHD_RESPMEM_MUST_FREE);
    if (resp)
        add_session_cookie(resp, token);
    return send_resp(r, 200, resp, JSON);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copies form field `name` (URL-decoded) from an x-www-form-urlencoded body. */
static bool form_field(const char *body, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < len;) {
        size_t end = i;
        while (end < len && body[end] != '&')
            end++;
        if (end - i > nl && memcmp(body + i, name, nl) == 0 && body[i + nl] == '=') {
            size_t o = 0;
            for (size_t k = i + nl + 1; k < end && o + 1 < cap; k++) {
                char c = body[k];
                int hi = k + 2 < end ? hex_digit(body[k + 1]) : -1;
                int lo = k + 2 < end ? hex_digit(body[k + 2]) : -1;
                if (c == '+') {
                    c = ' ';
                } else if (c == '%' && hi >= 0 && lo >= 0) {
                    c = (char)(hi * 16 + lo);
                    k += 2;
                }
                out[o++] = c;
            }
            out[o] = '\0';
            return true;
        }
        i = end + 1;
    }
    return false;
}

/* Form login: 302 to / on success; on any failure the same 5389-byte page. */
static enum MHD_Result form_login(app *a, const request *r)
{
    char u[128], p[128];
    const char *body = r->body ? r->body : "";
    bool have = form_field(body, r->body_len, "username", u, sizeof u) &&
                form_field(body, r->body_len, "password", p, sizeof p);
    login_delay(a);
    uint32_t id = have ? check_login(u, p) : 0;
    if (!id) {
        atomic_fetch_add(&a->logins_failed, 1);
        return send_page(r, 200, &a->login_failed);
    }
    atomic_fetch_add(&a->logins_ok, 1);
    char token[48];
    session_new(a, id, token);
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (resp) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, "/");
        add_session_cookie(resp, token);
    }
    return send_resp(r, 302, resp, NULL);
}

/* /api/users/{id} and /api/users/{id}/orders: 401, 400, 404, 403, 200. */
static enum MHD_Result user_object(app *a, const request *r, const char *rest)
{
    const char *slash = strchr(rest, '/');
    bool orders = slash != NULL;
    if (orders && strcmp(slash, "/orders") != 0)
        return send_const(r, 404, JSON, E404);
    if (!r->get)
        return method_not_allowed(r, "GET, HEAD");
    uint32_t me = 0, id;
    if (authenticate(a, r, &me) == AUTH_NONE)
        return send_const(r, 401, JSON, E401_AUTH);
    if (!parse_uint(rest, orders ? (size_t)(slash - rest) : strlen(rest), &id))
        return send_const(r, 400, JSON, E400);
    if (id < 1 || id > N_USERS)
        return send_const(r, 404, JSON, E404);
    if (id != me) /* partners (me == 0) read no profiles */
        return send_const(r, 403, JSON, E403);
    buf b = {0};
    if (!orders) {
        user_json(&b, id);
    } else {
        buf_add(&b, "[", 1);
        for (uint32_t k = 0; k < ORDERS_PER_USER; k++) {
            if (k)
                buf_add(&b, ",", 1);
            order_json(a, &b, (id - 1) * ORDERS_PER_USER + k + 1);
        }
        buf_add(&b, "]", 1);
    }
    return send_buf(r, 200, JSON, &b);
}

static enum MHD_Result order_one(app *a, const request *r, const char *id_s)
{
    if (!r->get)
        return method_not_allowed(r, "GET, HEAD");
    uint32_t me = 0, id;
    int who = authenticate(a, r, &me);
    if (who == AUTH_NONE)
        return send_const(r, 401, JSON, E401_AUTH);
    if (!parse_uint(id_s, strlen(id_s), &id))
        return send_const(r, 400, JSON, E400);
    if (id < 1 || id > N_ORDERS)
        return send_const(r, 404, JSON, E404);
    if (who == AUTH_USER && order_owner(id) != me) /* partners fulfil any order */
        return send_const(r, 403, JSON, E403);
    buf b = {0};
    order_json(a, &b, id);
    return send_buf(r, 200, JSON, &b);
}

/* GET: partners get up to 100 orders changed since ?updated_since, a
 * user their own orders. POST: a new order, not kept (201). */
static enum MHD_Result orders(app *a, const request *r)
{
    uint32_t me = 0;
    int who = authenticate(a, r, &me);
    if (r->post) {
        if (who != AUTH_USER)
            return send_const(r, 401, JSON, E401_AUTH);
        json_t *body = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
        bool ok = json_is_object(body);
        json_decref(body);
        if (!ok)
            return send_const(r, 400, JSON, E400_BODY);
        unsigned long n = atomic_fetch_add(&a->orders_created, 1) + 1;
        buf b = {0};
        buf_fmt(&b, "{\"id\":%lu,\"user_id\":%u,\"status\":\"pending\",\"items\":[],"
                "\"total\":0.00,\"currency\":\"EUR\"}", (unsigned long)N_ORDERS + n, me);
        return send_buf(r, 201, JSON, &b);
    }
    if (!r->get)
        return method_not_allowed(r, "GET, HEAD, POST");
    if (who == AUTH_NONE)
        return send_const(r, 401, JSON, E401_AUTH);
    uint32_t first, count = ORDERS_PER_USER;
    if (who == AUTH_USER) {
        first = (me - 1) * ORDERS_PER_USER + 1;
    } else {
        int64_t since = BASE_EPOCH;
        const char *s = arg(r, "updated_since");
        if (s && !parse_time(s, &since))
            return send_const(r, 400, JSON, E400);
        /* order o changes at BASE_EPOCH + o * ORDER_STEP_S: O(1) to find */
        int64_t o = since <= BASE_EPOCH ? 1 : (since - BASE_EPOCH + ORDER_STEP_S - 1) / ORDER_STEP_S;
        first = o > N_ORDERS ? N_ORDERS + 1 : (uint32_t)o;
        count = LIMIT_DOCUMENTED;
    }
    buf b = {0};
    buf_add(&b, "[", 1);
    for (uint32_t k = 0; k < count && first + k <= N_ORDERS; k++) {
        if (k)
            buf_add(&b, ",", 1);
        order_json(a, &b, first + k);
    }
    buf_add(&b, "]", 1);
    return send_buf(r, 200, JSON, &b);
}

static void cart_json(const app *a, buf *b, uint32_t n, const uint32_t *pid, const uint32_t *qty)
{
    uint32_t total = 0;
    buf_str(b, "{\"items\":[");
    for (uint32_t i = 0; i < n; i++) {
        total += qty[i] * a->products[pid[i]].price_cents;
        buf_fmt(b, "%s{\"product_id\":%u,\"name\":\"%s\",\"quantity\":%u}", i ? "," : "",
                pid[i], a->products[pid[i]].name, qty[i]);
    }
    buf_fmt(b, "],\"total\":%u.%02u,\"currency\":\"EUR\"}", total / 100, total % 100);
}

/* Parses {"items":[{"product_id":N,"quantity":M},...]}: existing products,
 * quantities 1..99, at most CART_MAX lines. */
static bool cart_parse(const app *a, const request *r, uint32_t *n, uint32_t *pid, uint32_t *qty)
{
    json_t *body = json_loadb(r->body ? r->body : "", r->body_len, 0, NULL);
    json_t *items = json_object_get(body, "items");
    bool ok = json_is_array(items) && json_array_size(items) <= CART_MAX;
    *n = 0;
    for (size_t i = 0; ok && i < json_array_size(items); i++) {
        json_t *it = json_array_get(items, i);
        json_int_t p = json_integer_value(json_object_get(it, "product_id"));
        json_int_t q = json_integer_value(json_object_get(it, "quantity"));
        ok = p >= 1 && p <= N_PRODUCTS && product_exists(a, (uint32_t)p) && q >= 1 && q <= 99;
        pid[*n] = (uint32_t)p;
        qty[(*n)++] = (uint32_t)q;
    }
    json_decref(body);
    return ok;
}

/* The session's cart; without a session, an empty cart (GET) or the
 * cart echoed back unsaved (PUT). */
static enum MHD_Result cart(app *a, const request *r)
{
    if (!r->get && !r->put)
        return method_not_allowed(r, "GET, HEAD, PUT");
    uint32_t me = 0, n = 0, pid[CART_MAX], qty[CART_MAX];
    if (r->put && !cart_parse(a, r, &n, pid, qty))
        return send_const(r, 400, JSON, E400_BODY);
    authenticate(a, r, &me);
    const char *tok = MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, "sid");
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0)
        tok = h + 7;
    if (me && tok) {
        pthread_mutex_lock(&a->lock);
        session *s = session_find(a, tok);
        if (s && r->put) {
            s->cart_n = n;
            memcpy(s->cart_product, pid, n * sizeof *pid);
            memcpy(s->cart_qty, qty, n * sizeof *qty);
        } else if (s) {
            n = s->cart_n;
            memcpy(pid, s->cart_product, n * sizeof *pid);
            memcpy(qty, s->cart_qty, n * sizeof *qty);
        }
        pthread_mutex_unlock(&a->lock);
    }
    buf b = {0};
    cart_json(a, &b, n, pid, qty);
    return send_buf(r, 200, JSON, &b);
}

static enum MHD_Result html_listing(app *a, const request *r)
{
    uint32_t pg;
    if (!arg_uint(r, "page", 1, &pg))
        return send_page(r, 400, &a->bad_request_html);
    if (pg > N_PRODUCTS / PAGE_SIZE_HTML)
        return send_page(r, 404, &a->not_found_html);
    buf b = {0};
    html_head(&b, "Products");
    buf_fmt(&b, "<main><h1>Products, page %u</h1><ul>\n", pg);
    for (uint32_t id = (pg - 1) * PAGE_SIZE_HTML + 1; id <= pg * PAGE_SIZE_HTML; id++) {
        const product *p = &a->products[id];
        if (!p->deleted)
            buf_fmt(&b, "<li><a href=\"/products/%u\">%s</a> <span>%s</span> %u.%02u EUR</li>\n",
                    id, p->name, p->category, p->price_cents / 100, p->price_cents % 100);
    }
    buf_fmt(&b, "</ul><a href=\"/products?page=%u\">next</a></main></body></html>\n", pg + 1);
    return send_buf(r, 200, HTML, &b);
}

static enum MHD_Result html_product(app *a, const request *r, const char *id_s)
{
    uint32_t id;
    if (!parse_uint(id_s, strlen(id_s), &id))
        return send_page(r, 400, &a->bad_request_html);
    if (!product_exists(a, id))
        return send_page(r, 404, &a->not_found_html);
    const product *p = &a->products[id];
    buf b = {0};
    html_head(&b, p->name);
    buf_fmt(&b, "<main><h1>%s</h1><p>%u.%02u EUR, %u in stock</p>\n"
            "<script type=\"application/ld+json\">", p->name, p->price_cents / 100,
            p->price_cents % 100, p->stock);
    buf_add(&b, p->full, p->full_len);
    buf_str(&b, "</script></main></body></html>\n");
    return send_buf(r, 200, HTML, &b);
}

/* The forgotten debug endpoint: undeclared, unauthenticated, and leaking
 * a (fake) database password. Left in on purpose for the probe demos. */
static enum MHD_Result debug_vars(app *a, const request *r)
{
    buf b = {0};
    buf_fmt(&b, "{\"version\":\"1.4.0-dev\",\"database_url\":\"postgres://shop:hunter2@db.internal/shop\","
            "\"requests\":%lu,\"logins_ok\":%lu,\"logins_failed\":%lu,\"orders_created\":%lu,"
            "\"session_slots\":%d}", atomic_load(&a->requests), atomic_load(&a->logins_ok),
            atomic_load(&a->logins_failed), atomic_load(&a->orders_created), SESSION_SLOTS);
    return send_buf(r, 200, JSON, &b);
}

/* GET-only pages by exact path. */
static const page *static_page(app *a, const char *url)
{
    static const struct { const char *path; size_t off; } table[] = {
        {"/", offsetof(app, home)},           {"/robots.txt", offsetof(app, robots)},
        {"/sitemap.xml", offsetof(app, sitemap)}, {"/static/app.js", offsetof(app, app_js)},
        {"/static/app.css", offsetof(app, app_css)}, {"/favicon.ico", offsetof(app, favicon)},
    };
    for (size_t i = 0; i < COUNT(table); i++)
        if (strcmp(url, table[i].path) == 0)
            return (const page *)((const char *)a + table[i].off);
    return NULL;
}

static bool prefixed(const char *url, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(url, prefix, n) != 0 || url[n] == '\0')
        return false;
    *rest = url + n;
    return true;
}

static enum MHD_Result route(app *a, const request *r)
{
    const char *url = r->url, *rest;
    const page *pg = static_page(a, url);
    if (pg)
        return r->get ? send_page(r, 200, pg) : method_not_allowed(r, "GET, HEAD");
    if (strcmp(url, "/health") == 0)
        return r->get ? send_const(r, 200, JSON, "{\"status\":\"ok\"}")
                      : method_not_allowed(r, "GET, HEAD");
    if (strcmp(url, "/login") == 0) {
        if (r->post)
            return form_login(a, r);
        return r->get ? send_page(r, 200, &a->login_form) : method_not_allowed(r, "GET, HEAD, POST");
    }
    if (strcmp(url, "/products") == 0)
        return r->get ? html_listing(a, r) : method_not_allowed(r, "GET, HEAD");
    if (prefixed(url, "/products/", &rest) && !strchr(rest, '/'))
        return r->get ? html_product(a, r, rest) : method_not_allowed(r, "GET, HEAD");
    if (strcmp(url, "/api/products") == 0)
        return r->get ? products_list(a, r) : method_not_allowed(r, "GET, HEAD");
    if (prefixed(url, "/api/products/", &rest) && !strchr(rest, '/'))
        return r->get ? product_one(a, r, rest) : method_not_allowed(r, "GET, HEAD");
    if (strcmp(url, "/api/search") == 0)
        return r->get ? search(a, r) : method_not_allowed(r, "GET, HEAD");
    if (strcmp(url, "/api/login") == 0)
        return r->post ? api_login(a, r) : method_not_allowed(r, "POST");
    if (prefixed(url, "/api/users/", &rest))
        return user_object(a, r, rest);
    if (strcmp(url, "/api/orders") == 0)
        return orders(a, r);
    if (prefixed(url, "/api/orders/", &rest) && !strchr(rest, '/'))
        return order_one(a, r, rest);
    if (strcmp(url, "/api/cart") == 0)
        return cart(a, r);
    if (strcmp(url, "/api/debug/vars") == 0)
        return debug_vars(a, r);
    return send_const(r, 404, JSON, E404);
}

/* libmicrohttpd calls this once with the headers, then once per body
 * chunk, then once more with *upload_size == 0: answer on that last call.
 * The body is kept up to BODY_MAX bytes; beyond that it is dropped and
 * the request answers 413. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **state)
{
    app *a = cls;
    request *r = *state;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *state = r;
        atomic_fetch_add(&a->requests, 1);
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->too_large && r->body_len + *upload_size <= BODY_MAX) {
            if (!r->body && !(r->body = malloc(BODY_MAX + 1)))
                return MHD_NO;
            memcpy(r->body + r->body_len, upload, *upload_size);
            r->body_len += *upload_size;
            r->body[r->body_len] = '\0';
        } else {
            r->too_large = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    r->conn = conn;
    r->url = url;
    r->method = method;
    r->get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    r->post = strcmp(method, "POST") == 0;
    r->put = strcmp(method, "PUT") == 0;
    if (r->too_large && (r->post || r->put))
        return send_const(r, 413, JSON, E413);
    return route(a, r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
                         enum MHD_RequestTerminationCode why)
{
    request *r = *state;
    if (r) {
        free(r->body);
        free(r);
        *state = NULL;
    }
}

/* --------------------------------------------------------------- main */

static void usage(void)
{
    fprintf(stderr, "usage: demo-api --listen HOST:PORT [--seed N] [--ready-file FILE] "
                    "[--login-ms MS]\n  port 0 picks a free port; the URL goes to stdout "
                    "and to the ready file\n");
}

static bool parse_listen(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    uint32_t port;
    if (!colon || (size_t)(colon - s) >= sizeof host ||
        !parse_uint(colon + 1, strlen(colon + 1), &port) || port > 65535)
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1;
}

/* Written to a temporary name then renamed, so a reader never sees half. */
static bool write_ready(const char *path, const char *url)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return false;
    bool ok = fprintf(f, "%s\n", url) > 0;
    ok = (fclose(f) == 0) && ok;
    return ok && rename(tmp, path) == 0;
}

int main(int argc, char **argv)
{
    const char *listen = NULL, *ready = NULL;
    uint64_t seed = 1;
    unsigned login_ms = 0;
    for (int i = 1; i < argc; i += 2) {
        const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage();
            return 0;
        } else if (!val) {
            usage();
            return 2;
        } else if (strcmp(opt, "--listen") == 0) {
            listen = val;
        } else if (strcmp(opt, "--seed") == 0) {
            seed = strtoull(val, NULL, 10);
        } else if (strcmp(opt, "--ready-file") == 0) {
            ready = val;
        } else if (strcmp(opt, "--login-ms") == 0) {
            login_ms = (unsigned)strtoul(val, NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    struct sockaddr_in sa;
    if (!listen || !parse_listen(listen, &sa)) {
        fprintf(stderr, "demo-api: --listen wants IPv4:PORT, e.g. 127.0.0.1:8080\n");
        return 2;
    }

    /* Enough descriptors for the connection limit (floods, slowloris). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    unsigned conn_limit = 4096;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < conn_limit + 64)
        conn_limit = rl.rlim_cur > 128 ? (unsigned)rl.rlim_cur - 64 : 64;

    app *a = calloc(1, sizeof *a);
    if (!a) {
        fprintf(stderr, "demo-api: out of memory\n");
        return 1;
    }
    a->seed = seed;
    a->login_ms = login_ms;
    if (!app_init(a)) {
        fprintf(stderr, "demo-api: out of memory building the catalogue\n");
        return 1;
    }

    /* Block the stop signals before MHD starts its threads, so they inherit
     * the mask and only sigwait() below sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, a, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned)4, MHD_OPTION_CONNECTION_LIMIT, conn_limit,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "demo-api: cannot listen on %s: %s\n", listen, strerror(errno));
        app_free(a);
        free(a);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char host[INET_ADDRSTRLEN], url[64];
    inet_ntop(AF_INET, &sa.sin_addr, host, sizeof host);
    snprintf(url, sizeof url, "http://%s:%u", host, info ? (unsigned)info->port : ntohs(sa.sin_port));
    printf("listening on %s\n", url);
    fflush(stdout);
    if (ready && !write_ready(ready, url))
        fprintf(stderr, "demo-api: cannot write %s: %s\n", ready, strerror(errno));

    int sig = 0;
    sigwait(&stop, &sig);
    MHD_stop_daemon(d);
    app_free(a);
    free(a);
    return 0;
}
