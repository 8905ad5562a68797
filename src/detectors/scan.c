/*
 * scan.c -- vulnerability scanners, content discovery (gobuster, dirb,
 * ffuf), injection probes (sqlmap, Nuclei) and probes of undeclared
 * endpoints.
 *
 * What a scanner cannot hide is that it asks for things that are not
 * there. Per client (IP level) we count, over a sliding 10 minutes:
 *
 *   - requests and errors (400, 403, 404, 405, 410, 414, 501);
 *   - distinct missing paths (404/410), the core signal of content
 *     discovery: a human with a stale bookmark or a crawler following old
 *     links misses a handful, a wordlist misses dozens per second;
 *   - gateway misses: a 502/503/504 on a route that has never answered
 *     a success (or on the inventory's overflow route), counted as an
 *     error and as a missing path. Behind a dead upstream nginx answers
 *     every request 502, so a wordlist scanner gets no 404 at all --
 *     yet its paths are still ones the site never served. A healthy
 *     client in the same outage gets 502s on the few routes it always
 *     reads, which have answered successes before: not counted. (An
 *     nmap http-enum of 2,201 paths gives ~2,000 gateway misses in a
 *     minute; a partner polling 5 known routes during a 10-minute outage
 *     gives 0, and even on routes never seen it would give 5 distinct
 *     paths, under every preset's threshold.)
 *   - distinct sensitive paths (/.env, /.git/, /wp-login.php, traversal,
 *     /actuator...), see the matcher below;
 *   - requests whose path or query carries an injection payload;
 *   - odd methods (TRACE, CONNECT, and WebDAV/DEBUG-style methods the
 *     server rejected);
 *   - distinct undeclared routes, when the site has a declared inventory.
 *
 * Score: the max of the sub-scores (each alone is a complete story):
 *   volume     rp_ramp(missing paths, max_missing_paths_10m, 3), only once
 *              the client sent min_requests_10m requests of which at least
 *              min_error_share were errors. At the normal preset a wordlist
 *              scanner reaches 0.8 (block alone, weight 100) after ~33
 *              missing paths -- well inside its first 100 requests.
 *   sensitive  0.45 x hits / max_sensitive_paths below the threshold, 0.8
 *              at it (block), 1.0 at twice it.
 *   injection  same shape with max_injections.
 *   methods    0.45 x min(1, odd / max_odd_methods): monitor at most; a
 *              WebDAV client is odd, not hostile.
 *   undeclared rp_ramp(distinct undeclared routes, max_undeclared_routes_10m,
 *              3); static and health routes do not count (a browser on the
 *              same host loads undeclared assets).
 *
 * Sensitive paths come in two kinds. "Always" paths are dangerous whatever
 * the answer (/.env, /.git/config, traversal, /etc/passwd, phpunit's
 * eval-stdin): a 200 there is a leak. "Probe" paths (/wp-login.php,
 * /admin, *.php, *.bak...) are normal on some sites, so they count only
 * when the server said the thing is not there or not allowed (400, 404,
 * 405, 410, 414, 501): the admin of a site that has /admin, or a WordPress
 * site's own users, never trip them.
 *
 * Windows: one 10-minute period of counters plus the previous period's
 * totals, the previous weighted by how much of it still lies inside the
 * sliding 10 minutes (counts add; distinct counts take the max of the two
 * so that a path seen in both periods is not counted twice). Distinct
 * counts use linear-counting bitmaps (128 bits for missing paths, 64 for
 * the others): exact enough for tens, a few bytes each.
 *
 * Matchers are hand-written single passes over a normalised copy of the
 * path and query (percent-decoded twice for %25xx, lowercased, backslash
 * as slash, overlong UTF-8 dots and slashes folded), bounded at
 * SCAN_NORM_MAX bytes on the stack; the injection matcher runs only when
 * the normalised text contains one of the characters every payload needs.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "detector.h"

/* ------------------------------------------------------------- matchers */

#define SCAN_SENSITIVE_PROBE 1u  /* counts when the answer says "not there" */
#define SCAN_SENSITIVE_ALWAYS 2u /* counts whatever the answer */

/* Exported for unit tests. */
unsigned rp_scan_sensitive_path(const char *path, size_t len);
bool rp_scan_injection(const char *text, size_t len);

/* Bytes of path or query that are normalised and matched; payloads and
 * sensitive names sit well inside this. */
#define SCAN_NORM_MAX 1024

/* Characters that every injection payload needs at least one of. */
#define SPECIAL_QUOTE 1u
#define SPECIAL_OTHER 2u

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Decode "%xx" at s (len bytes available) into *out; returns bytes used
 * (3, or 5 for a double-encoded "%25xx"), 0 when not an escape. */
static size_t decode_escape(const unsigned char *s, size_t len, unsigned char *out) {
    if (len < 3 || s[0] != '%') return 0;
    int hi = hexval(s[1]), lo = hexval(s[2]);
    if (hi < 0 || lo < 0) return 0;
    unsigned v = (unsigned)(hi * 16 + lo);
    if (v == '%' && len >= 5) {
        int h2 = hexval(s[3]), l2 = hexval(s[4]);
        if (h2 >= 0 && l2 >= 0) {
            *out = (unsigned char)(h2 * 16 + l2);
            return 5;
        }
    }
    *out = (unsigned char)v;
    return 3;
}

/* Bytes that normalise to themselves and mark nothing -- no escape, no
 * case, none of the SPECIAL_ characters: most of every path. */
static inline bool verbatim(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '-' || c == '_';
}

/* Normalise into out (cap bytes); returns the length. *special gets the
 * SPECIAL_ bits of what was seen. Every request's path comes through
 * here: verbatim bytes skip the checks. */
static size_t normalize(const char *in, size_t len, char *out, size_t cap, unsigned *special) {
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    unsigned sp = 0;
    for (size_t i = 0; i < len && o < cap;) {
        unsigned char c = s[i];
        if (verbatim(c)) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        size_t used = 1;
        if (c == '%') {
            unsigned char d;
            size_t n = decode_escape(s + i, len - i, &d);
            if (n) {
                c = d;
                used = n;
            }
        } else if (c == '+') {
            c = ' ';
        }
        /* Overlong UTF-8 "." and "/" (%c0%ae, %c0%af): an old IIS trick. */
        if (c == 0xc0 && o + 1 <= cap && i + used < len) {
            unsigned char next = s[i + used];
            size_t n2 = 1;
            if (next == '%') n2 = decode_escape(s + i + used, len - i - used, &next);
            if (n2 && (next == 0xae || next == 0xaf)) {
                c = next == 0xae ? '.' : '/';
                used += n2;
            }
        }
        if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
        else if (c == '\\') c = '/';
        switch (c) {
        case '\'': case '"': sp |= SPECIAL_QUOTE; break;
        case '<': case '`': case '$': case ';': case '|': case '(': case '{': case '@':
        case ' ': case '*': case ':': case '\0': sp |= SPECIAL_OTHER; break;
        /* '&' and '.' are in every query and file name; only "&&" and
         * ".." start a payload. */
        case '&': case '.':
            if (o > 0 && (unsigned char)out[o - 1] == c) sp |= SPECIAL_OTHER;
            break;
        default: break;
        }
        out[o++] = (char)c;
        i += used;
    }
    *special = sp;
    return o;
}

static bool has_prefix(const char *s, size_t len, const char *lit, size_t n) {
    return len >= n && memcmp(s, lit, n) == 0;
}
#define HAS(s, len, lit) has_prefix((s), (len), (lit), sizeof(lit) - 1)

static bool seg_is(const char *s, size_t len, const char *lit, size_t n) {
    return len == n && memcmp(s, lit, n) == 0;
}
#define SEG(s, len, lit) seg_is((s), (len), (lit), sizeof(lit) - 1)

/* A dot-segment: "/.env", "/.git"... Secrets are "always"; /.well-known
 * is a standard; other dot names (/.auth on Azure, /.netlify) are probes. */
static unsigned dot_segment(const char *s, size_t n) {
    if (n == 1) return SCAN_SENSITIVE_PROBE;                 /* "/./" evasion */
    if (n == 2 && s[1] == '.') return SCAN_SENSITIVE_ALWAYS; /* traversal */
    const char *name = s + 1;
    size_t m = n - 1;
    if (HAS(name, m, "well-known")) return 0;
    static const char *const secrets[] = {
        "env", "git", "svn", "hg", "bzr", "aws", "ssh", "ht", "ds_store", "bash_history",
        "npmrc", "docker", "kube", "vscode", "idea", "boto", "pgpass", "netrc", "s3cfg",
        "travis", "circleci", "gitlab", "config", "credentials", "terraform",
    };
    for (unsigned i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (has_prefix(name, m, secrets[i], strlen(secrets[i]))) return SCAN_SENSITIVE_ALWAYS;
    return SCAN_SENSITIVE_PROBE;
}

/* Known probe targets and secrets by segment name, dispatched on the first
 * letter so that an ordinary segment costs a switch and a compare or two. */
static unsigned named_segment(const char *s, size_t n, const char *prev, size_t pn) {
    switch (s[0]) {
    case 'a':
        if (SEG(s, n, "admin") || SEG(s, n, "actuator") || HAS(s, n, "administrator") ||
            HAS(s, n, "adminer") || HAS(s, n, "axis2") || HAS(s, n, "autodiscover"))
            return SCAN_SENSITIVE_PROBE;
        break;
    case 'b':
        if (HAS(s, n, "backup") || HAS(s, n, "boaform")) return SCAN_SENSITIVE_PROBE;
        if (SEG(s, n, "boot.ini")) return SCAN_SENSITIVE_ALWAYS;
        break;
    case 'c':
        if (SEG(s, n, "cgi-bin") || SEG(s, n, "console") || HAS(s, n, "composer."))
            return SCAN_SENSITIVE_PROBE;
        if (HAS(s, n, "config.php") || HAS(s, n, "credentials")) return SCAN_SENSITIVE_ALWAYS;
        break;
    case 'd':
        if (HAS(s, n, "docker-compose")) return SCAN_SENSITIVE_ALWAYS;
        if (SEG(s, n, "dbadmin") || SEG(s, n, "debug")) return SCAN_SENSITIVE_PROBE;
        break;
    case 'e':
        if (SEG(s, n, "elmah.axd")) return SCAN_SENSITIVE_PROBE;
        break;
    case 'g':
        if (SEG(s, n, "group") && SEG(prev, pn, "etc")) return SCAN_SENSITIVE_ALWAYS;
        break;
    case 'h':
        if (SEG(s, n, "html") && SEG(prev, pn, "manager")) return SCAN_SENSITIVE_PROBE;
        if (SEG(s, n, "hnap1") || SEG(s, n, "hudson")) return SCAN_SENSITIVE_PROBE;
        if (SEG(s, n, "hosts") && SEG(prev, pn, "etc")) return SCAN_SENSITIVE_ALWAYS;
        break;
    case 'i':
        if (HAS(s, n, "id_rsa") || HAS(s, n, "id_dsa") || HAS(s, n, "id_ecdsa") ||
            HAS(s, n, "id_ed25519"))
            return SCAN_SENSITIVE_ALWAYS;
        break;
    case 'j':
        if (SEG(s, n, "jenkins") || SEG(s, n, "jmx-console") || SEG(s, n, "jolokia"))
            return SCAN_SENSITIVE_PROBE;
        break;
    case 'm':
        if (HAS(s, n, "myadmin") || HAS(s, n, "mysqladmin")) return SCAN_SENSITIVE_PROBE;
        break;
    case 'o':
        if (SEG(s, n, "owa")) return SCAN_SENSITIVE_PROBE;
        break;
    case 'p':
        if (SEG(s, n, "phpunit")) return SCAN_SENSITIVE_ALWAYS;
        if (SEG(s, n, "passwd") && SEG(prev, pn, "etc"))
            return SCAN_SENSITIVE_ALWAYS;
        if (HAS(s, n, "phpmyadmin") || SEG(s, n, "pma") || HAS(s, n, "phpinfo"))
            return SCAN_SENSITIVE_PROBE;
        break;
    case 's':
        if ((SEG(s, n, "self") && SEG(prev, pn, "proc")) || HAS(s, n, "sftp-config"))
            return SCAN_SENSITIVE_ALWAYS;
        if (SEG(s, n, "shadow") && SEG(prev, pn, "etc")) return SCAN_SENSITIVE_ALWAYS;
        if (SEG(s, n, "server-status") || SEG(s, n, "server-info") || SEG(s, n, "solr") ||
            SEG(s, n, "shell"))
            return SCAN_SENSITIVE_PROBE;
        break;
    case 't':
        if (SEG(s, n, "telescope") || SEG(s, n, "trace.axd")) return SCAN_SENSITIVE_PROBE;
        break;
    case 'w':
        if (HAS(s, n, "wp-config") || HAS(s, n, "web.config") || SEG(s, n, "win.ini"))
            return SCAN_SENSITIVE_ALWAYS;
        if (SEG(s, n, "wp-login.php") || SEG(s, n, "wp-admin") || SEG(s, n, "wp-content") ||
            SEG(s, n, "wp-includes") || SEG(s, n, "webdav") || SEG(s, n, "web-console") ||
            HAS(s, n, "wwwroot"))
            return SCAN_SENSITIVE_PROBE;
        break;
    case 'x':
        if (SEG(s, n, "xmlrpc.php")) return SCAN_SENSITIVE_PROBE;
        break;
    case '_':
        if (SEG(s, n, "_profiler") || SEG(s, n, "_ignition") || SEG(s, n, "_cat"))
            return SCAN_SENSITIVE_PROBE;
        break;
    default: break;
    }
    return 0;
}

/* Server-side script and backup extensions of the last segment: probes
 * (a PHP site answers its .php pages, so only misses count). */
static unsigned extension(const char *s, size_t n) {
    if (n > 1 && s[n - 1] == '~') return SCAN_SENSITIVE_PROBE; /* editor backup */
    const char *dot = NULL;
    for (size_t i = n; i > 1; i--)
        if (s[i - 1] == '.') {
            dot = s + i;
            break;
        }
    if (!dot) return 0;
    size_t m = (size_t)(s + n - dot);
    static const char *const exts[] = {
        "php", "php3", "php4", "php5", "php7", "phtml", "asp", "aspx", "jsp", "jspx", "cgi",
        "pl", "action", "cfm", "bak", "old", "orig", "save", "swp", "swo", "sql", "sqlite",
        "sqlite3", "mdb", "dump", "ini", "conf", "cfg", "pem", "key", "tgz", "tar", "rar", "7z",
        "war",
    };
    for (unsigned i = 0; i < sizeof exts / sizeof exts[0]; i++)
        if (seg_is(dot, m, exts[i], strlen(exts[i]))) return SCAN_SENSITIVE_PROBE;
    return 0;
}

static unsigned sensitive_normalized(const char *p, size_t len) {
    unsigned kind = 0;
    const char *prev = "";
    size_t pn = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && p[i] == '/') i++;
        size_t start = i;
        while (i < len && p[i] != '/') i++;
        size_t n = i - start;
        if (n == 0) break;
        const char *seg = p + start;
        unsigned k = seg[0] == '.' ? dot_segment(seg, n) : named_segment(seg, n, prev, pn);
        if (k == 0 && i >= len) k = extension(seg, n);
        if (k > kind) kind = k;
        if (kind == SCAN_SENSITIVE_ALWAYS) break;
        prev = seg;
        pn = n;
    }
    return kind;
}

unsigned rp_scan_sensitive_path(const char *path, size_t len) {
    char buf[SCAN_NORM_MAX];
    unsigned special;
    if (!path) return 0;
    size_t n = normalize(path, len, buf, sizeof buf, &special);
    return sensitive_normalized(buf, n);
}

static bool is_word(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* After a quote: "' or 1=1", "') or ('", "'--", "' union select"... but not
 * "o'neil" or "rock 'n' roll". */
static bool quote_payload(const char *s, size_t len) {
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == ')')) i++;
    s += i;
    len -= i;
    if (HAS(s, len, "--") || HAS(s, len, "#") || HAS(s, len, ";") || HAS(s, len, "||") ||
        HAS(s, len, "&&") || HAS(s, len, "union"))
        return true;
    if (HAS(s, len, "or") && (len == 2 || !is_word((unsigned char)s[2]))) return len > 2;
    if (HAS(s, len, "and") && len > 3 && !is_word((unsigned char)s[3])) return true;
    return false;
}

/* "union select", "union all select" with any separator run between. */
static bool union_select(const char *s, size_t len) {
    size_t i = 5;
    size_t sep = 0;
    while (i < len && (s[i] == ' ' || s[i] == '/' || s[i] == '*' || s[i] == '(' ||
                       s[i] == '\n' || s[i] == '\t' || s[i] == '\r')) {
        i++;
        sep++;
    }
    if (sep == 0) return false;
    return HAS(s + i, len - i, "select") || HAS(s + i, len - i, "all");
}

/* ";id", "|cat /etc/passwd", "&& whoami": a shell word after a command
 * separator. A lone '&' is the query's own separator ("&id=5") and ';'
 * separates matrix parameters, so the word must be followed by the end, a
 * space or another shell character -- never '=' or more of a name. */
static bool shell_end(unsigned char c) {
    return c == ' ' || c == ';' || c == '|' || c == '&' || c == '`' || c == ')' || c == '<' ||
           c == '>' || c == '\t' || c == '\n';
}

static bool shell_command(const char *s, size_t len) {
    size_t i = 1;
    if (s[0] == '&') {
        if (len < 2 || s[1] != '&') return false;
        i = 2;
    } else if (i < len && s[i] == '|') {
        i++;
    }
    while (i < len && s[i] == ' ') i++;
    static const char *const words[] = {"id", "cat", "ls", "wget", "curl", "uname", "whoami",
                                        "nc", "sleep", "ping", "echo", "sh", "bash"};
    for (unsigned w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t n = strlen(words[w]);
        if (len - i >= n && memcmp(s + i, words[w], n) == 0 &&
            (len - i == n || shell_end((unsigned char)s[i + n])))
            return true;
    }
    return false;
}

/* "1234=1234", "1=1": the always-true comparison of boolean-blind SQL
 * injection (sqlmap's "AND 1234=1234"), after " and " / " or ". */
static bool tautology(const char *s, size_t len) {
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++;
    return i > 0 && i < len && s[i] == '=';
}

static bool injection_normalized(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++) {
        const char *t = s + i;
        size_t m = len - i;
        switch (s[i]) {
        case '\0': case '`': return true;
        case '\'': case '"':
            if (quote_payload(t + 1, m - 1)) return true;
            break;
        case '<':
            if (HAS(t, m, "<script") || HAS(t, m, "<svg") || HAS(t, m, "<iframe") ||
                HAS(t, m, "<img") || HAS(t, m, "<body") || HAS(t, m, "<?php"))
                return true;
            break;
        case '$':
            if (HAS(t, m, "${jndi") || HAS(t, m, "${${") || HAS(t, m, "${lower:") ||
                HAS(t, m, "${upper:") || HAS(t, m, "${env:") || HAS(t, m, "${::-") ||
                HAS(t, m, "${7*7") || HAS(t, m, "$("))
                return true;
            break;
        case '%':
            if (HAS(t, m, "%{(") || HAS(t, m, "%{#")) return true;
            break;
        case '{':
            if (HAS(t, m, "{{7*7")) return true;
            break;
        case '.':
            /* Two levels: "?next=../home" is a relative link, "../../" a climb. */
            if (HAS(t, m, "../..")) return true;
            break;
        case ';': case '|': case '&':
            if (shell_command(t, m)) return true;
            break;
        case '/':
            if (HAS(t, m, "/etc/passwd") || HAS(t, m, "/etc/shadow") || HAS(t, m, "/proc/self/") ||
                HAS(t, m, "/bin/sh") || HAS(t, m, "/bin/bash"))
                return true;
            break;
        case '@':
            if (HAS(t, m, "@@version")) return true;
            break;
        case 'a':
            if (HAS(t, m, "alert(")) return true;
            if (i > 0 && (s[i - 1] == ' ' || s[i - 1] == ')') && HAS(t, m, "and ") &&
                tautology(t + 4, m - 4))
                return true;
            break;
        case 'b':
            if (HAS(t, m, "benchmark(")) return true;
            break;
        case 'd':
            if (HAS(t, m, "document.cookie")) return true;
            break;
        case 'e':
            if (HAS(t, m, "extractvalue(") || HAS(t, m, "expect://")) return true;
            break;
        case 'f':
            if (HAS(t, m, "file:///")) return true;
            break;
        case 'i':
            if (HAS(t, m, "information_schema")) return true;
            break;
        case 'j':
            if (HAS(t, m, "javascript:")) return true;
            break;
        case 'o':
            if (HAS(t, m, "onerror=") || HAS(t, m, "onload=")) return true;
            if (i > 0 && (s[i - 1] == ' ' || s[i - 1] == ')') &&
                ((HAS(t, m, "or ") && tautology(t + 3, m - 3)) ||
                 (HAS(t, m, "order by ") && m > 9 && t[9] >= '0' && t[9] <= '9')))
                return true;
            break;
        case 'p':
            if (HAS(t, m, "pg_sleep(") || HAS(t, m, "php://")) return true;
            break;
        case 's':
            if (HAS(t, m, "sleep(")) return true;
            break;
        case 'u':
            if (HAS(t, m, "union") && union_select(t, m)) return true;
            if (HAS(t, m, "updatexml(")) return true;
            break;
        case 'w':
            if (HAS(t, m, "waitfor delay") || HAS(t, m, "win.ini")) return true;
            break;
        default: break;
        }
    }
    return false;
}

bool rp_scan_injection(const char *text, size_t len) {
    char buf[SCAN_NORM_MAX];
    unsigned special;
    if (!text || len == 0) return false;
    size_t n = normalize(text, len, buf, sizeof buf, &special);
    return special != 0 && injection_normalized(buf, n);
}

/* ---------------------------------------------------------------- state */

enum {
    P_MIN_REQUESTS = 0,
    P_MIN_ERROR_SHARE,
    P_MAX_MISSING,
    P_MAX_SENSITIVE,
    P_MAX_INJECTIONS,
    P_MAX_ODD_METHODS,
    P_MAX_UNDECLARED,
    P_COUNT
};

#define SCAN_PERIOD_US (600LL * 1000000LL)
#define SCAN_LAST_PATH 20

typedef struct scan_state {
    uint32_t period;      /* 10-minute period number of [0]; 0 = none */
    uint16_t req[2];      /* [0] this period, [1] the previous one */
    uint16_t err[2];
    uint16_t missing[2];  /* distinct missing paths (404/410 and gateway misses);
                             [0] estimated from miss_bits */
    uint8_t sens[2];      /* distinct sensitive paths */
    uint8_t inj[2];       /* requests with an injection payload */
    uint8_t odd[2];       /* odd methods */
    uint8_t undecl[2];    /* distinct undeclared routes */
    uint64_t miss_bits[2];
    uint64_t sens_bits;
    uint64_t undecl_bits;
    char last_sensitive[SCAN_LAST_PATH]; /* prefix of the last sensitive path, for evidence */
    /* Requests answered 502/503/504 on never-successful routes, for the
     * evidence line. Lives in what was the struct's tail padding (76 -> 80
     * bytes): the IP-level record has no room to grow. */
    uint16_t gateway[2];
} scan_state;

_Static_assert(sizeof(scan_state) <= 80, "scan state budget is 80 bytes");

static uint32_t period_of(int64_t ts_us) {
    return ts_us <= 0 ? 1u : (uint32_t)(ts_us / SCAN_PERIOD_US) + 1u;
}

static inline uint16_t add16(uint16_t v) { return v == 65535u ? v : (uint16_t)(v + 1); }
static inline uint8_t add8(uint8_t v) { return v == 255u ? v : (uint8_t)(v + 1); }

static void roll(scan_state *st, uint32_t p) {
    bool adjacent = st->period != 0 && p == st->period + 1;
    st->req[1] = adjacent ? st->req[0] : 0;
    st->err[1] = adjacent ? st->err[0] : 0;
    st->missing[1] = adjacent ? st->missing[0] : 0;
    st->sens[1] = adjacent ? st->sens[0] : 0;
    st->inj[1] = adjacent ? st->inj[0] : 0;
    st->odd[1] = adjacent ? st->odd[0] : 0;
    st->undecl[1] = adjacent ? st->undecl[0] : 0;
    st->gateway[1] = adjacent ? st->gateway[0] : 0;
    st->req[0] = st->err[0] = st->missing[0] = st->gateway[0] = 0;
    st->sens[0] = st->inj[0] = st->odd[0] = st->undecl[0] = 0;
    st->miss_bits[0] = st->miss_bits[1] = st->sens_bits = st->undecl_bits = 0;
    st->period = p;
}

static bool set_bit64(uint64_t *bits, uint64_t hash) {
    uint64_t b = 1ull << (hash >> 58);
    if (*bits & b) return false;
    *bits |= b;
    return true;
}

static uint16_t missing_estimate(const uint64_t bits[2]) {
    int zeros = 128 - __builtin_popcountll(bits[0]) - __builtin_popcountll(bits[1]);
    if (zeros == 0) return 700; /* saturated: far past every threshold */
    return (uint16_t)lround(128.0 * log(128.0 / zeros));
}

static bool is_error(uint16_t status) {
    return status == 400 || status == 403 || status == 404 || status == 405 || status == 410 ||
           status == 414 || status == 501;
}

/* The answers that say "not there / not allowed here" to a probe. */
static bool is_miss(uint16_t status) {
    return status == 400 || status == 404 || status == 405 || status == 410 || status == 414 ||
           status == 501;
}

/* A gateway answer (the upstream is down or overloaded) on a path the site
 * has never served: as good as a 404 for telling discovery from use. The
 * route's counters are the engine's, updated after the detectors, so a
 * route seen for the first time has successes == 0 here. */
static bool is_gateway_miss(const rp_event *ev, const rp_observation *obs) {
    if (ev->status != 502 && ev->status != 503 && ev->status != 504) return false;
    return obs->route->overflow || obs->route->successes == 0;
}

static bool is_odd_method(const rp_event *ev) {
    if (ev->method == RP_METHOD_TRACE || ev->method == RP_METHOD_CONNECT) return true;
    /* OTHER is also what a log without a method gives; only count it when
     * the server rejected the method. */
    return ev->method == RP_METHOD_OTHER &&
           (ev->status == 405 || ev->status == 501 || ev->status == 400);
}

static void remember_path(scan_state *st, const rp_event *ev) {
    size_t n = ev->path.len < SCAN_LAST_PATH - 1 ? ev->path.len : SCAN_LAST_PATH - 1;
    memcpy(st->last_sensitive, ev->path.ptr, n);
    st->last_sensitive[n] = '\0';
}

static void observe(void *state, const rp_event *ev, const rp_observation *obs,
                    const rp_detect_ctx *ctx) {
    (void)ctx;
    scan_state *st = state;
    uint32_t p = period_of(ev->ts_us);
    int slot = 0;
    if (p > st->period) roll(st, p);
    else if (p + 1 == st->period) slot = 1; /* late event of the previous period */
    else if (p < st->period) return;        /* older than the window */

    bool gateway_miss = is_gateway_miss(ev, obs);
    st->req[slot] = add16(st->req[slot]);
    if (is_error(ev->status) || gateway_miss) st->err[slot] = add16(st->err[slot]);
    if (gateway_miss) st->gateway[slot] = add16(st->gateway[slot]);
    /* The previous period's distinct sets are closed (their bitmaps are
     * gone, so a late path cannot be told from a repeat): late events add
     * to the plain counts only. */
    if (slot == 1) return;

    if ((ev->status == 404 || ev->status == 410 || gateway_miss) && obs->path_hash) {
        uint64_t *half = &st->miss_bits[obs->path_hash & 1];
        uint64_t b = 1ull << (obs->path_hash >> 58);
        if (!(*half & b)) {
            *half |= b;
            st->missing[0] = missing_estimate(st->miss_bits);
        }
    }
    const char *path = ev->path.ptr;
    size_t plen = path ? ev->path.len : 0;
    char buf[SCAN_NORM_MAX];
    unsigned special = 0;
    size_t n = normalize(path, plen, buf, sizeof buf, &special);
    unsigned kind = sensitive_normalized(buf, n);
    if (kind == SCAN_SENSITIVE_ALWAYS || (kind == SCAN_SENSITIVE_PROBE && is_miss(ev->status))) {
        if (set_bit64(&st->sens_bits, obs->path_hash)) {
            st->sens[0] = add8(st->sens[0]);
            remember_path(st, ev);
        }
    }
    bool inj = special && injection_normalized(buf, n);
    if (!inj && ev->query.ptr && ev->query.len) inj = rp_scan_injection(ev->query.ptr, ev->query.len);
    if (inj) st->inj[0] = add8(st->inj[0]);
    if (is_odd_method(ev)) st->odd[0] = add8(st->odd[0]);
    if (obs->inventory_declared && !obs->declared && obs->route_class != RP_ROUTE_STATIC &&
        obs->route_class != RP_ROUTE_HEALTH) {
        uint64_t h = obs->route->overflow || obs->route->hash == 0 ? obs->path_hash
                                                                  : obs->route->hash;
        if (set_bit64(&st->undecl_bits, h)) st->undecl[0] = add8(st->undecl[0]);
    }
}

/* ---------------------------------------------------------------- score */

typedef struct scan_view {
    double req, err, missing, sens, inj, odd, undecl, gateway;
} scan_view;

/* The sliding 10 minutes ending at now. */
static void view(const scan_state *st, int64_t now_us, scan_view *v) {
    memset(v, 0, sizeof *v);
    if (st->period == 0) return;
    uint32_t p = period_of(now_us);
    if (p < st->period) { /* now is behind the newest event: judge at its period */
        p = st->period;
        now_us = (int64_t)(p - 1) * SCAN_PERIOD_US;
    }
    double into = (double)(now_us - (int64_t)(p - 1) * SCAN_PERIOD_US) / (double)SCAN_PERIOD_US;
    double left = 1.0 - into; /* share of the previous period still in the window */
    if (left < 0) left = 0;
    if (left > 1) left = 1;
    double cw, pw; /* weights of [0] and [1] */
    if (p <= st->period) {
        cw = 1.0;
        pw = left;
    } else if (p == st->period + 1) {
        cw = left;
        pw = 0.0;
    } else {
        return;
    }
#define SUM(f) (cw * st->f[0] + pw * st->f[1])
#define MAX(f) (cw * st->f[0] > pw * st->f[1] ? cw * st->f[0] : pw * st->f[1])
    v->req = SUM(req);
    v->err = SUM(err);
    v->inj = SUM(inj);
    v->odd = SUM(odd);
    v->gateway = SUM(gateway);
    v->missing = MAX(missing);
    v->sens = MAX(sens);
    v->undecl = MAX(undecl);
#undef SUM
#undef MAX
}

/* Counted evidence with a hard threshold: mild below it, block (0.8) at
 * it, 1.0 at twice it. */
static double count_score(double c, double at) {
    if (!(c > 0) || !(at > 0)) return 0.0;
    if (c < at) return 0.45 * c / at;
    double s = 0.8 + 0.2 * (c - at) / at;
    return s > 1.0 ? 1.0 : s;
}

typedef struct scan_scores {
    double vol, sens, inj, odd, undecl;
} scan_scores;

static double score_of(const scan_view *v, const double *p, scan_scores *s) {
    double share = v->req > 0 ? v->err / v->req : 0;
    s->vol = (v->req >= p[P_MIN_REQUESTS] && share >= p[P_MIN_ERROR_SHARE])
                 ? rp_ramp(v->missing, p[P_MAX_MISSING], 3.0)
                 : 0.0;
    s->sens = count_score(v->sens, p[P_MAX_SENSITIVE]);
    s->inj = count_score(v->inj, p[P_MAX_INJECTIONS]);
    double odd = p[P_MAX_ODD_METHODS] > 0 ? v->odd / p[P_MAX_ODD_METHODS] : 0;
    s->odd = 0.45 * (odd > 1 ? 1 : odd);
    s->undecl = rp_ramp(v->undecl, p[P_MAX_UNDECLARED], 3.0);
    double m = s->vol;
    if (s->sens > m) m = s->sens;
    if (s->inj > m) m = s->inj;
    if (s->odd > m) m = s->odd;
    if (s->undecl > m) m = s->undecl;
    return m;
}

static void explain(const scan_state *st, const scan_view *v, const double *p,
                    const scan_scores *s, rp_finding *f) {
    double share = v->req > 0 ? v->err / v->req : 0;
    rp_finding_feature(f, "requests_10m", v->req, p[P_MIN_REQUESTS], NAN,
                       v->req >= p[P_MIN_REQUESTS]);
    rp_finding_feature(f, "error_share_10m", share, p[P_MIN_ERROR_SHARE], NAN,
                       share >= p[P_MIN_ERROR_SHARE]);
    rp_finding_feature(f, "missing_paths_10m", v->missing, p[P_MAX_MISSING], NAN, s->vol > 0);
    rp_finding_feature(f, "sensitive_paths_10m", v->sens, p[P_MAX_SENSITIVE], NAN,
                       v->sens >= p[P_MAX_SENSITIVE]);
    rp_finding_feature(f, "injections_10m", v->inj, p[P_MAX_INJECTIONS], NAN,
                       v->inj >= p[P_MAX_INJECTIONS]);
    if (v->undecl > 0)
        rp_finding_feature(f, "undeclared_routes_10m", v->undecl, p[P_MAX_UNDECLARED], NAN,
                           s->undecl > 0);
    else
        rp_finding_feature(f, "odd_methods_10m", v->odd, p[P_MAX_ODD_METHODS], NAN,
                           v->odd >= p[P_MAX_ODD_METHODS]);
    if (s->vol > 0 || s->sens > 0 || s->inj > 0 || s->odd > 0) f->threats |= RP_THREAT_SCANNER;
    if (s->undecl > 0) f->threats |= RP_THREAT_UNDECLARED_PROBE;

    char extra[96] = "";
    char upstream[64] = "";
    if (v->gateway >= 1)
        snprintf(upstream, sizeof upstream, " (%.0f answered 502/503/504 on never-served routes)",
                 v->gateway);
    if (v->sens >= 1 && st->last_sensitive[0])
        snprintf(extra, sizeof extra, ", %.0f sensitive paths (%s%s)", v->sens,
                 st->last_sensitive, v->sens > 1 ? ", ..." : "");
    else if (v->inj >= 1)
        snprintf(extra, sizeof extra, ", %.0f injection payloads", v->inj);
    if (s->undecl > 0 && s->undecl >= s->vol && s->undecl >= s->sens && s->undecl >= s->inj)
        rp_finding_summary(f, "scan: %.0f undeclared routes probed in 10 min (%.0f requests, "
                              "%.0f%% errors)%s; threshold %.0f",
                           v->undecl, v->req, 100 * share, extra, p[P_MAX_UNDECLARED]);
    else
        rp_finding_summary(f, "scan: %.0f requests in 10 min, %.0f%% errors, %.0f distinct "
                              "missing paths%s%s%s",
                           v->req, 100 * share, v->missing, upstream, extra,
                           v->odd >= 1 ? ", odd methods" : "");
}

static double score(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                    rp_finding *finding) {
    (void)obs;
    const scan_state *st = state;
    scan_view v;
    scan_scores s;
    view(st, ctx->now_us, &v);
    double m = score_of(&v, ctx->params, &s);
    if (finding) explain(st, &v, ctx->params, &s, finding);
    return m;
}

static const rp_param params[P_COUNT] = {
    [P_MIN_REQUESTS] = {"min_requests_10m", "requests", {40, 20, 10}, 1, 100000,
                        "requests in 10 min before the error share is judged"},
    [P_MIN_ERROR_SHARE] = {"min_error_share", "ratio", {0.7, 0.5, 0.3}, 0, 1,
                           "share of 400/403/404/405/410/414/501 answers (and 502/503/504 on "
                           "never-served routes) that makes a client look like a scanner"},
    [P_MAX_MISSING] = {"max_missing_paths_10m", "paths", {30, 15, 8}, 1, 100000,
                       "distinct 404/410 paths (and 502/503/504 on never-served routes) in "
                       "10 min: score 0.5 here, 1.0 at 3x"},
    [P_MAX_SENSITIVE] = {"max_sensitive_paths", "paths", {5, 3, 2}, 1, 255,
                         "distinct sensitive paths (/.env, /.git/, /wp-login.php...) in 10 min "
                         "that block alone"},
    [P_MAX_INJECTIONS] = {"max_injections", "requests", {6, 3, 2}, 1, 255,
                          "requests with injection payloads (SQL, XSS, traversal, JNDI, shell) "
                          "in 10 min that block alone"},
    [P_MAX_ODD_METHODS] = {"max_odd_methods", "requests", {6, 3, 2}, 1, 255,
                           "TRACE/CONNECT/rejected WebDAV-style methods in 10 min for the "
                           "method score's maximum (0.45: monitor at most)"},
    [P_MAX_UNDECLARED] = {"max_undeclared_routes_10m", "routes", {10, 5, 3}, 1, 255,
                          "distinct undeclared routes in 10 min (only with a declared "
                          "inventory): score 0.5 here, 1.0 at 3x"},
};

/* ------------------------------------------------------------- features */

/* For the anomaly detector's model of normal clients: the share of
 * refused requests in the sliding 10 minutes and the distinct missing
 * paths (log scale capped at 1000). */
static const char *const feature_names[] = {"error_share", "missing_paths"};

static void features(const void *state, const rp_observation *obs, const rp_detect_ctx *ctx,
                     float *out) {
    (void)obs;
    scan_view v;
    view(state, ctx->now_us, &v);
    out[0] = v.req > 0 ? (float)(v.err >= v.req ? 1.0 : v.err / v.req) : 0.0f;
    out[1] = rp_feature_log(v.missing, 1000);
}

const rp_detector rp_detector_scan = {
    .name = "scan",
    .description = "content discovery, sensitive paths, injection payloads, odd methods and "
                   "probes of undeclared routes",
    .state_size = sizeof(scan_state),
    .levels = RP_LEVEL_BIT(RP_LEVEL_IP),
    .threats = RP_THREAT_SCANNER | RP_THREAT_UNDECLARED_PROBE,
    .default_weight = 100,
    .params = params,
    .n_params = P_COUNT,
    .observe = observe,
    .score = score,
    .n_features = sizeof feature_names / sizeof feature_names[0],
    .feature_names = feature_names,
    .features = features,
};
