/*
 * signature.c -- what the client says it is: attack-tool and automation
 * user agents, headless and outdated browsers, user-agent rotation, and
 * header sets that contradict the browser the user agent claims to be.
 *
 * This is weak evidence by design (default weight 25): APIs are called by
 * libraries every day, and a user agent is whatever the client chooses to
 * send. An attack tool that announces itself (sqlmap, nikto, gobuster...)
 * scores 1.0, which is 25 points: enough to tip a borderline client from
 * another detector into a reaction, never enough to act alone.
 *
 * Classes and scores (the score of a key is the max of what applies):
 *
 *   attack tool (sticky for the key: a scanner that switches to a browser
 *   user agent half-way stays marked)                                  1.0
 *   user-agent rotation: distinct user agents in a minute, ramp from
 *   max_user_agents_60s (0.5) to 3x it (1.0)                     0.5..1.0
 *   headless browser, browser user agent without the Accept-Language /
 *   Accept-Encoding headers every browser sends                        0.6
 *   scraper framework (Scrapy, HTTrack...)                             0.4
 *   outdated browser (Chrome/Firefox released over max_browser_age before
 *   the request, MSIE): bots keep old
 *   strings, but old phones, kiosks and webviews are human  outdated_score (0.35)
 *   empty user agent                                                   0.3
 *   HTTP library (curl, python-requests, okhttp...)      library_score (0.2)
 *   search engines and other honest crawlers or monitors, browsers,
 *   anything unknown                                                   0
 *
 * Only the attack-tool mark and the rotation count remember the past; the
 * other classes are the class of the current request's user agent, so that
 * one curl call from an office NAT does not follow the office for hours.
 *
 * Speed: the user agent is matched once per change of user agent (the last
 * hash is cached in the state). The matcher walks the string once, and
 * only at token starts (after a non-alphanumeric byte) looks at the short
 * list of patterns that begin with that letter, comparing case-folded
 * bytes in place: no copy, no lowercase buffer, no regex.
 *
 * Rotation is counted with a 64-bit linear-counting bitmap per minute:
 * distinct ~= 64 ln(64 / zero bits), nearly exact for tens, saturating
 * around 250 -- far past any threshold. The previous minute's count,
 * scaled by how much of it is still inside the sliding minute, keeps the
 * figure steady across the minute boundary (max of the two, so a client
 * seen in both halves is not counted twice).
 */
#include <math.h>
#include <string.h>

#include "detector.h"

/* User-agent classes, in increasing order of suspicion. */
enum {
    RP_UA_UNKNOWN = 0, /* browsers and anything unrecognised */
    RP_UA_GOODBOT,     /* honest crawlers and monitors */
    RP_UA_LIBRARY,
    RP_UA_EMPTY,
    RP_UA_SCRAPER,
    RP_UA_OUTDATED,
    RP_UA_HEADLESS,
    RP_UA_ATTACK,
};

/* Pattern kinds beyond the classes: browser products whose version is
 * parsed after the pattern. */
enum { RP_UAP_CHROME = 16, RP_UAP_FIREFOX, RP_UAP_OLD_IE };

/* Exported for unit tests. */
typedef struct rp_ua_class {
    uint8_t cls;       /* RP_UA_* */
    bool browser;      /* starts with Mozilla/ and claims a browser engine */
    const char *tool;  /* the pattern that decided an attack/headless/scraper class */
} rp_ua_class;
#define RP_BROWSER_CHROME 1
#define RP_BROWSER_FIREFOX 2
int rp_signature_version_at(int browser, int64_t ts_us);
void rp_signature_classify(const char *ua, size_t len, int min_chrome, int min_firefox,
                           rp_ua_class *out);

typedef struct rp_ua_pattern {
    const char *text; /* lowercase */
    uint8_t len;
    uint8_t kind;
} rp_ua_pattern;

#define P(s, k) {s, (uint8_t)(sizeof(s) - 1), k}

/* One list per first letter; a pattern matches at the start of a token. */
static const rp_ua_pattern pat_a[] = {
    P("acunetix", RP_UA_ATTACK), P("arachni", RP_UA_ATTACK), P("appscan", RP_UA_ATTACK),
    P("aiohttp", RP_UA_LIBRARY), P("axios", RP_UA_LIBRARY), P("apache-httpclient", RP_UA_LIBRARY),
    P("applebot", RP_UA_GOODBOT), P("ahrefsbot", RP_UA_GOODBOT), P("adsbot-google", RP_UA_GOODBOT),
    P("archive.org_bot", RP_UA_GOODBOT),
};
static const rp_ua_pattern pat_b[] = {
    P("burp", RP_UA_ATTACK), P("bingbot", RP_UA_GOODBOT), P("baiduspider", RP_UA_GOODBOT),
    P("bingpreview", RP_UA_GOODBOT),
};
static const rp_ua_pattern pat_c[] = {
    P("chrome/", RP_UAP_CHROME), P("curl/", RP_UA_LIBRARY), P("commix", RP_UA_ATTACK),
    P("censysinspect", RP_UA_ATTACK), P("colly", RP_UA_SCRAPER), P("crawler4j", RP_UA_SCRAPER),
};
static const rp_ua_pattern pat_d[] = {
    P("dirbuster", RP_UA_ATTACK), P("dirb", RP_UA_ATTACK), P("dotdotpwn", RP_UA_ATTACK),
    P("duckduckbot", RP_UA_GOODBOT), P("dotbot", RP_UA_GOODBOT), P("dart/", RP_UA_LIBRARY),
};
static const rp_ua_pattern pat_f[] = {
    P("firefox/", RP_UAP_FIREFOX), P("ffuf", RP_UA_ATTACK), P("fuzz faster u fool", RP_UA_ATTACK),
    P("feroxbuster", RP_UA_ATTACK), P("facebookexternalhit", RP_UA_GOODBOT),
};
static const rp_ua_pattern pat_g[] = {
    P("googlebot", RP_UA_GOODBOT), P("google-inspectiontool", RP_UA_GOODBOT),
    P("gobuster", RP_UA_ATTACK), P("go-http-client", RP_UA_LIBRARY), P("guzzlehttp", RP_UA_LIBRARY),
    P("go-resty", RP_UA_LIBRARY),
};
static const rp_ua_pattern pat_h[] = {
    P("headlesschrome", RP_UA_HEADLESS), P("hydra", RP_UA_ATTACK), P("havij", RP_UA_ATTACK),
    P("httrack", RP_UA_SCRAPER), P("httpie", RP_UA_LIBRARY), P("heritrix", RP_UA_SCRAPER),
};
static const rp_ua_pattern pat_j[] = {
    P("java/", RP_UA_LIBRARY), P("jaeles", RP_UA_ATTACK), P("joomscan", RP_UA_ATTACK),
    P("jakarta commons-httpclient", RP_UA_LIBRARY),
};
static const rp_ua_pattern pat_l[] = {
    P("libwww-perl", RP_UA_LIBRARY), P("lwp-", RP_UA_LIBRARY), P("linkedinbot", RP_UA_GOODBOT),
    P("l9explore", RP_UA_ATTACK),
};
static const rp_ua_pattern pat_m[] = {
    P("msie ", RP_UAP_OLD_IE), P("masscan", RP_UA_ATTACK), P("mj12bot", RP_UA_GOODBOT),
    P("mediapartners-google", RP_UA_GOODBOT), P("mechanize", RP_UA_SCRAPER),
    P("morfeus", RP_UA_ATTACK),
};
static const rp_ua_pattern pat_n[] = {
    P("nikto", RP_UA_ATTACK), P("nmap", RP_UA_ATTACK), P("nuclei", RP_UA_ATTACK),
    P("nessus", RP_UA_ATTACK), P("netsparker", RP_UA_ATTACK), P("node-fetch", RP_UA_LIBRARY),
    P("nutch", RP_UA_SCRAPER),
};
static const rp_ua_pattern pat_o[] = {
    P("okhttp", RP_UA_LIBRARY), P("openvas", RP_UA_ATTACK),
};
static const rp_ua_pattern pat_p[] = {
    P("python-requests", RP_UA_LIBRARY), P("python-urllib", RP_UA_LIBRARY),
    P("python-httpx", RP_UA_LIBRARY), P("phantomjs", RP_UA_HEADLESS),
    P("puppeteer", RP_UA_HEADLESS), P("playwright", RP_UA_HEADLESS),
    P("postmanruntime", RP_UA_LIBRARY), P("petalbot", RP_UA_GOODBOT), P("pingdom", RP_UA_GOODBOT),
};
static const rp_ua_pattern pat_r[] = {
    P("rest-client", RP_UA_LIBRARY), P("restsharp", RP_UA_LIBRARY), P("reqwest", RP_UA_LIBRARY),
};
static const rp_ua_pattern pat_s[] = {
    P("sqlmap", RP_UA_ATTACK), P("skipfish", RP_UA_ATTACK), P("scrapy", RP_UA_SCRAPER),
    P("slimerjs", RP_UA_HEADLESS), P("semrushbot", RP_UA_GOODBOT), P("seznambot", RP_UA_GOODBOT),
    P("slurp", RP_UA_GOODBOT), P("site24x7", RP_UA_GOODBOT), P("statuscake", RP_UA_GOODBOT),
};
static const rp_ua_pattern pat_t[] = {
    P("trident/", RP_UAP_OLD_IE), P("twitterbot", RP_UA_GOODBOT),
};
static const rp_ua_pattern pat_u[] = {
    P("undici", RP_UA_LIBRARY), P("uptimerobot", RP_UA_GOODBOT),
};
static const rp_ua_pattern pat_w[] = {
    P("wget/", RP_UA_LIBRARY), P("wfuzz", RP_UA_ATTACK), P("w3af", RP_UA_ATTACK),
    P("wpscan", RP_UA_ATTACK), P("whatweb", RP_UA_ATTACK), P("windowspowershell", RP_UA_LIBRARY),
    P("winhttp", RP_UA_LIBRARY),
};
static const rp_ua_pattern pat_x[] = {
    P("xsstrike", RP_UA_ATTACK),
};
static const rp_ua_pattern pat_y[] = {
    P("yandexbot", RP_UA_GOODBOT), P("yandex.com/bots", RP_UA_GOODBOT),
};
static const rp_ua_pattern pat_z[] = {
    P("zgrab", RP_UA_ATTACK), P("zmeu", RP_UA_ATTACK),
};

#undef P

typedef struct rp_ua_bucket {
    const rp_ua_pattern *pat;
    uint8_t n;
} rp_ua_bucket;

#define B(arr) {arr, (uint8_t)(sizeof(arr) / sizeof(arr[0]))}
static const rp_ua_bucket ua_buckets[26] = {
    ['a' - 'a'] = B(pat_a), ['b' - 'a'] = B(pat_b), ['c' - 'a'] = B(pat_c), ['d' - 'a'] = B(pat_d),
    ['f' - 'a'] = B(pat_f), ['g' - 'a'] = B(pat_g), ['h' - 'a'] = B(pat_h), ['j' - 'a'] = B(pat_j),
    ['l' - 'a'] = B(pat_l), ['m' - 'a'] = B(pat_m), ['n' - 'a'] = B(pat_n), ['o' - 'a'] = B(pat_o),
    ['p' - 'a'] = B(pat_p), ['r' - 'a'] = B(pat_r), ['s' - 'a'] = B(pat_s), ['t' - 'a'] = B(pat_t),
    ['u' - 'a'] = B(pat_u), ['w' - 'a'] = B(pat_w), ['x' - 'a'] = B(pat_x), ['y' - 'a'] = B(pat_y),
    ['z' - 'a'] = B(pat_z),
};
#undef B

static inline unsigned char fold(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* 1 for ASCII letters and digits: token characters. A table, because the
 * matcher asks it for every byte of the user agent. */
#define A1(c) [c] = 1
#define A10(c0) A1(c0), A1(c0 + 1), A1(c0 + 2), A1(c0 + 3), A1(c0 + 4), A1(c0 + 5), A1(c0 + 6), \
                A1(c0 + 7), A1(c0 + 8), A1(c0 + 9)
static const uint8_t alnum[256] = {
    A10('0'), A10('a'), A10('a' + 10), A1('u'), A1('v'), A1('w'), A1('x'), A1('y'), A1('z'),
    A10('A'), A10('A' + 10), A1('U'), A1('V'), A1('W'), A1('X'), A1('Y'), A1('Z'),
};
#undef A10
#undef A1

static bool match_at(const unsigned char *s, size_t avail, const rp_ua_pattern *p) {
    if (p->len > avail) return false;
    for (uint8_t i = 1; i < p->len; i++)
        if (fold(s[i]) != (unsigned char)p->text[i]) return false;
    return true;
}

/* The major version number after a "chrome/" or "firefox/" token; -1 if
 * none. */
static int parse_major(const unsigned char *s, size_t avail) {
    int v = 0;
    size_t i = 0;
    for (; i < avail && i < 5 && s[i] >= '0' && s[i] <= '9'; i++) v = v * 10 + (s[i] - '0');
    return i == 0 ? -1 : v;
}

void rp_signature_classify(const char *ua, size_t len, int min_chrome, int min_firefox,
                           rp_ua_class *out) {
    const unsigned char *s = (const unsigned char *)ua;
    out->cls = RP_UA_UNKNOWN;
    out->browser = false;
    out->tool = NULL;
    if (len == 0 || (len == 1 && s[0] == '-')) {
        out->cls = RP_UA_EMPTY;
        return;
    }
    uint32_t seen = 0; /* bit per RP_UA_* class met */
    bool engine = false, outdated = false;
    uint8_t tool_kind = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && !alnum[s[i]]) i++; /* to the next token start */
        if (i >= len) break;
        unsigned char c = fold(s[i]);
        const rp_ua_bucket *b = c >= 'a' && c <= 'z' ? &ua_buckets[c - 'a'] : NULL;
        for (uint8_t k = 0; b && k < b->n; k++) {
            const rp_ua_pattern *p = &b->pat[k];
            if (!match_at(s + i, len - i, p)) continue;
            if (p->kind == RP_UAP_CHROME || p->kind == RP_UAP_FIREFOX) {
                int major = parse_major(s + i + p->len, len - i - p->len);
                int min = p->kind == RP_UAP_CHROME ? min_chrome : min_firefox;
                engine = true;
                if (major >= 0 && major < min) outdated = true;
            } else if (p->kind == RP_UAP_OLD_IE) {
                engine = true;
                outdated = true;
            } else {
                /* Keep the most suspicious tool name for the evidence. */
                if (p->kind > RP_UA_GOODBOT && p->kind > tool_kind) {
                    out->tool = p->text;
                    tool_kind = p->kind;
                }
                seen |= 1u << p->kind;
            }
            break;
        }
        while (i < len && alnum[s[i]]) i++; /* past the token */
    }
    if (seen & (1u << RP_UA_ATTACK)) out->cls = RP_UA_ATTACK;
    else if (seen & (1u << RP_UA_GOODBOT)) out->cls = RP_UA_GOODBOT;
    else if (seen & (1u << RP_UA_HEADLESS)) out->cls = RP_UA_HEADLESS;
    else if (seen & (1u << RP_UA_SCRAPER)) out->cls = RP_UA_SCRAPER;
    else if (outdated) out->cls = RP_UA_OUTDATED;
    else if (seen & (1u << RP_UA_LIBRARY)) out->cls = RP_UA_LIBRARY;
    if (out->cls != RP_UA_ATTACK && out->cls != RP_UA_HEADLESS && out->cls != RP_UA_SCRAPER)
        out->tool = NULL;
    out->browser = engine && len >= 8 && fold(s[0]) == 'm' && memcmp(s + 1, "ozilla/", 7) == 0 &&
                   (out->cls == RP_UA_UNKNOWN || out->cls == RP_UA_OUTDATED);
}

bool rp_ua_declared_crawler(const char *ua, size_t len) {
    rp_ua_class c;
    rp_signature_classify(ua, len, 0, 0, &c);
    return c.cls == RP_UA_GOODBOT;
}

/*
 * "Outdated" is relative to the request's time, not to today: a 2015 log
 * is full of Chrome 32, which was current then. Both browsers release on
 * a fixed cadence, so the major version current at a time is a line:
 * Chrome 24 shipped 2013-01-10 and released every ~45 days until 94
 * (2021-09-21), every 28 days since; Firefox 18 shipped 2013-01-08, every
 * ~42 days until 94 (2021-11-02), every 28 days since. Off by a version
 * or two at most, which is nothing against an age limit of years.
 */
int rp_signature_version_at(int browser, int64_t ts_us) {
    const double day = 86400.0 * 1e6;
    double base_v, base_day, step, fast_v, fast_day;
    if (browser == RP_BROWSER_CHROME) {
        base_v = 24, base_day = 15715, step = 45.4, fast_v = 94, fast_day = 18891;
    } else {
        base_v = 18, base_day = 15713, step = 42.4, fast_v = 94, fast_day = 18933;
    }
    double d = (double)ts_us / day;
    double v = d >= fast_day ? fast_v + (d - fast_day) / 28.0 : base_v + (d - base_day) / step;
    if (v < 1) v = 1;
    if (v > 100000) v = 100000;
    return (int)v;
}

/* ------------------------------------------------------------- state */

enum {
    P_MAX_UAS_60S = 0,
    P_MAX_BROWSER_AGE,
    P_LIBRARY_SCORE,
    P_OUTDATED_SCORE,
    P_COUNT
};

#define SIG_MINUTE_US 60000000LL

/* Sticky marks. */
#define SIG_ATTACK_SEEN 1u
#define SIG_CONTRADICTION 2u /* the current request contradicts its user agent */
/* In the class byte: the last user agent claims to be a browser. */
#define SIG_BROWSER 0x80u

typedef struct sig_state {
    uint64_t last_ua;   /* ua_hash of the last request; 0 = none yet */
    uint64_t ua_bits;   /* distinct user agents of the current minute */
    uint32_t minute;    /* minute number of ua_bits; 0 = none */
    uint8_t prev_uas;   /* distinct user agents of the previous minute */
    uint8_t cls;        /* class of the last user agent */
    uint8_t marks;      /* SIG_* */
    uint8_t tool;       /* index+1 in the tool list of the last attack/headless/scraper name */
} sig_state;

_Static_assert(sizeof(sig_state) <= 24, "signature state budget is 24 bytes");

/* 64 ln(64 / z) for z zero bits, capped at 255: linear counting. */
static const uint8_t linear_count64[65] = {
    255, 255, 222, 196, 177, 163, 151, 142, 133, 126, 119, 113, 107, 102, 97, 93, 89,
    85,  81,  78,  74,  71,  68,  65,  63,  60,  58,  55,  53,  51,  48,  46, 44,
    42,  40,  39,  37,  35,  33,  32,  30,  28,  27,  25,  24,  23,  21,  20, 18,
    17,  16,  15,  13,  12,  11,  10,  9,   7,   6,   5,   4,   3,   2,   1,  0,
};

static unsigned distinct_of(uint64_t bits) {
    return linear_count64[64 - __builtin_popcountll(bits)];
}

/* Tool names are kept as an index into one table so that the state holds
 * one byte, not a pointer. */
static const char *const tool_names[] = {
    "sqlmap", "nikto", "nmap", "masscan", "zgrab", "gobuster", "dirbuster", "dirb", "ffuf",
    "fuzz faster u fool", "wfuzz", "hydra", "nuclei", "acunetix", "nessus", "openvas", "w3af",
    "burp", "jaeles", "wpscan", "feroxbuster", "commix", "arachni", "skipfish", "whatweb",
    "netsparker", "appscan", "xsstrike", "joomscan", "dotdotpwn", "havij", "morfeus", "zmeu",
    "censysinspect", "l9explore", "headlesschrome", "phantomjs", "slimerjs", "puppeteer",
    "playwright", "scrapy", "colly", "crawler4j", "httrack", "heritrix", "nutch", "mechanize",
};

static uint8_t tool_index(const char *name) {
    if (name == NULL) return 0;
    for (unsigned i = 0; i < sizeof tool_names / sizeof tool_names[0]; i++)
        if (strcmp(tool_names[i], name) == 0) return (uint8_t)(i + 1);
    return 0;
}

static uint32_t minute_of(int64_t ts_us) {
    return ts_us <= 0 ? 1u : (uint32_t)(ts_us / SIG_MINUTE_US) + 1u;
}

static void count_user_agent(sig_state *st, uint64_t ua_hash, int64_t ts_us) {
    uint32_t m = minute_of(ts_us);
    if (m < st->minute) return; /* an older minute: already summarised */
    if (m > st->minute) {
        unsigned cur = st->minute ? distinct_of(st->ua_bits) : 0;
        st->prev_uas = (uint8_t)(m == st->minute + 1 ? cur : 0);
        st->ua_bits = 0;
        st->minute = m;
    }
    st->ua_bits |= 1ull << (ua_hash >> 58);
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    sig_state *st = state;
    const double *p = ctx->params;
    uint64_t ua = obs->ua_hash;
    if (ua != st->last_ua || st->minute == 0) {
        rp_ua_class c;
        int64_t cutoff = ev->ts_us - (int64_t)(p[P_MAX_BROWSER_AGE] * 86400.0) * 1000000;
        rp_signature_classify(ev->user_agent.ptr, ev->user_agent.ptr ? ev->user_agent.len : 0,
                              rp_signature_version_at(RP_BROWSER_CHROME, cutoff),
                              rp_signature_version_at(RP_BROWSER_FIREFOX, cutoff), &c);
        st->cls = c.cls;
        if (c.cls == RP_UA_ATTACK) st->marks |= SIG_ATTACK_SEEN;
        if (c.tool && (c.cls == RP_UA_ATTACK || !(st->marks & SIG_ATTACK_SEEN)))
            st->tool = tool_index(c.tool);
        /* The header check below runs on every request (headers change
         * while the user agent does not), so "browser" is cached too. */
        if (c.browser) st->cls |= SIG_BROWSER;
        st->last_ua = ua;
    }
    if (ua != 0) count_user_agent(st, ua, ev->ts_us);
    st->marks &= (uint8_t)~SIG_CONTRADICTION;
    if ((st->cls & SIG_BROWSER) && (ev->flags & RP_EVENT_HEADERS_KNOWN) &&
        (ev->flags & (RP_HDR_ACCEPT_LANGUAGE | RP_HDR_ACCEPT_ENCODING)) !=
            (RP_HDR_ACCEPT_LANGUAGE | RP_HDR_ACCEPT_ENCODING))
        st->marks |= SIG_CONTRADICTION;
}

/* Distinct user agents in the minute ending at now. */
static double distinct_60s(const sig_state *st, int64_t now_us) {
    if (st->minute == 0) return 0;
    uint32_t m = minute_of(now_us);
    if (m < st->minute) { /* now is behind the newest event: judge at its minute */
        m = st->minute;
        now_us = (int64_t)(m - 1) * SIG_MINUTE_US;
    }
    double cur = distinct_of(st->ua_bits);
    int64_t into = now_us - ((int64_t)(m - 1) * SIG_MINUTE_US);
    double left = 1.0 - (double)into / (double)SIG_MINUTE_US; /* share of the previous minute */
    if (left < 0) left = 0;
    if (left > 1) left = 1;
    if (m <= st->minute) {
        double prev = st->prev_uas * left;
        return cur > prev ? cur : prev;
    }
    if (m == st->minute + 1) return cur * left;
    return 0;
}

static double class_score(unsigned cls, const double *p) {
    switch (cls) {
    case RP_UA_ATTACK: return 1.0;
    case RP_UA_HEADLESS: return 0.6;
    case RP_UA_OUTDATED: return p[P_OUTDATED_SCORE];
    case RP_UA_SCRAPER: return 0.4;
    case RP_UA_EMPTY: return 0.3;
    case RP_UA_LIBRARY: return p[P_LIBRARY_SCORE];
    default: return 0.0;
    }
}

static const char *class_text(unsigned cls) {
    switch (cls) {
    case RP_UA_ATTACK: return "attack tool";
    case RP_UA_HEADLESS: return "headless browser";
    case RP_UA_OUTDATED: return "outdated browser";
    case RP_UA_SCRAPER: return "scraper framework";
    case RP_UA_EMPTY: return "empty";
    case RP_UA_LIBRARY: return "HTTP library";
    case RP_UA_GOODBOT: return "declared crawler";
    default: return "browser or unknown";
    }
}

static void explain(const sig_state *st, const double *p, unsigned cls, double uas,
                    double s_class, double s_rot, rp_finding *f) {
    const char *tool = st->tool ? tool_names[st->tool - 1] : NULL;
    double max_uas = p[P_MAX_UAS_60S];
    rp_finding_feature(f, "user_agent_class", cls, RP_UA_HEADLESS, NAN, s_class > 0);
    rp_finding_feature(f, "distinct_user_agents_60s", uas, max_uas, NAN, s_rot > 0);
    rp_finding_feature(f, "header_contradiction", (st->marks & SIG_CONTRADICTION) ? 1 : 0, 1, NAN,
                       (st->marks & SIG_CONTRADICTION) != 0);
    if (s_rot > 0 && s_rot >= s_class) {
        f->threats |= RP_THREAT_AUTOMATION;
        rp_finding_summary(f, "signature: %.0f distinct user agents in 60 s; threshold %.0f", uas,
                           max_uas);
    } else if (cls == RP_UA_ATTACK) {
        f->threats |= RP_THREAT_SCANNER | RP_THREAT_AUTOMATION;
        rp_finding_summary(f, "signature: attack tool user agent '%s'", tool ? tool : "?");
    } else if ((cls == RP_UA_HEADLESS || cls == RP_UA_SCRAPER) && tool) {
        f->threats |= RP_THREAT_AUTOMATION;
        rp_finding_summary(f, "signature: %s user agent '%s'", class_text(cls), tool);
    } else if ((st->marks & SIG_CONTRADICTION) && s_class <= 0.6) {
        f->threats |= RP_THREAT_AUTOMATION;
        rp_finding_summary(f, "signature: browser user agent without Accept-Language or "
                              "Accept-Encoding headers");
    } else {
        if (s_class > 0) f->threats |= RP_THREAT_AUTOMATION;
        rp_finding_summary(f, "signature: %s user agent", class_text(cls));
    }
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    (void)obs;
    const sig_state *st = state;
    const double *p = ctx->params;
    unsigned cls = st->cls & (uint8_t)~SIG_BROWSER;
    if (st->marks & SIG_ATTACK_SEEN) cls = RP_UA_ATTACK;
    double s_class = class_score(cls, p);
    if ((st->marks & SIG_CONTRADICTION) && s_class < 0.6) s_class = 0.6;
    double uas = distinct_60s(st, ctx->now_us);
    double s_rot = rp_ramp(uas, p[P_MAX_UAS_60S], 3.0);
    double s = s_class > s_rot ? s_class : s_rot;
    if (finding) explain(st, p, cls, uas, s_class, s_rot, finding);
    return s;
}

static const rp_param params[P_COUNT] = {
    [P_MAX_UAS_60S] = {"max_user_agents_60s", "user agents", {80, 40, 20}, 2, 250,
                       "distinct user agents from one client in a minute before it counts as "
                       "rotation (score 0.5 here, 1.0 at 3x)"},
    [P_MAX_BROWSER_AGE] = {"max_browser_age", "days", {1460, 1095, 730}, 30, 36500,
                           "a Chrome or Firefox version released this long before the request "
                           "is outdated (bots keep old strings)"},
    [P_LIBRARY_SCORE] = {"library_score", "score", {0.0, 0.2, 0.3}, 0, 1,
                         "score of an HTTP-library user agent (curl, python-requests, okhttp...)"},
    [P_OUTDATED_SCORE] = {"outdated_score", "score", {0.2, 0.35, 0.6}, 0, 1,
                          "score of an outdated browser user agent (old phones, kiosks and "
                          "embedded webviews are human too)"},
};

/* ------------------------------------------------------------- features */

/* For the anomaly detector's model of normal clients: the user-agent
 * class (RP_UA_*, in increasing order of suspicion, / 8; attack tools
 * seen count as attack) and distinct user agents in the current minute
 * (log scale capped at 64). */
static const char *const feature_names[] = {"ua_class", "distinct_user_agents"};

static void features(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                     float *out) {
    (void)obs;
    (void)ctx;
    const sig_state *st = state;
    unsigned cls = st->cls & (uint8_t)~SIG_BROWSER;
    if (st->marks & SIG_ATTACK_SEEN) cls = RP_UA_ATTACK;
    out[0] = (float)(cls > 8 ? 8 : cls) / 8.0f;
    unsigned cur = st->minute ? distinct_of(st->ua_bits) : 0;
    out[1] = rp_feature_log(cur > st->prev_uas ? cur : st->prev_uas, 64);
}

const rp_detector rp_detector_signature = {
    .name = "signature",
    .description = "attack-tool, headless, outdated and library user agents; user-agent "
                   "rotation; headers contradicting the claimed browser",
    .state_size = sizeof(sig_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP),
    .threats = RP_THREAT_SCANNER | RP_THREAT_AUTOMATION,
    .default_weight = 25,
    .params = params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
    .n_features = sizeof feature_names / sizeof feature_names[0],
    .feature_names = feature_names,
    .features = features,
};
