/*
 * main.c -- trafficgen's command line.
 *
 * Parses options, runs the generators, sorts, writes the log and the
 * labels. --lines N scales the legitimate background (humans and mobile
 * apps) so that the whole log has about N lines while the attackers and
 * the shared networks stay exactly as they would be: the first pass
 * measures, the second generates with the scaled population. Both passes
 * are cheap next to formatting.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tg.h"

static const char usage_text[] =
    "usage: trafficgen [options]\n"
    "\n"
    "Writes a labelled access log of mixed legitimate and abusive traffic against\n"
    "the Rampart demo API (docs/demo-api.md). Same options and seed, same bytes.\n"
    "\n"
    "options:\n"
    "  --seed N           random seed (default 1)\n"
    "  --duration SECS    length of the log in seconds (default 1800)\n"
    "  --start TIME       first second, ISO 8601 UTC (default 2026-11-25T10:00:00Z)\n"
    "  --humans N         people in browsers (default 300)\n"
    "  --mobile N         mobile app installs (default 80)\n"
    "  --partners N       partner integrations polling the API (default 6)\n"
    "  --monitors N       uptime monitors and kubernetes probes (default 4)\n"
    "  --crawlers N       search engine crawlers, Googlebot and bingbot (default 3)\n"
    "  --carrier-nat N    carrier-grade NAT /24s: 4-8 addresses, 20-60 people each,\n"
    "                     and a slow stuffing swarm with 3 members in each (default 0)\n"
    "  --office-nat N     offices: 8-30 staff, admins and a staff token behind one\n"
    "                     address (default 0)\n"
    "  --vpn-exit N       VPN exit addresses, 5-25 people each (default 0)\n"
    "  --attacks LIST     comma list of attack kinds, 'all' or 'none' (default all;\n"
    "                     'all' leaves out the long-horizon kinds below)\n"
    "  --attack-actors N  actors per attack kind (default 1; credential_stuffing 2)\n"
    "  --lines N          scale humans and mobile apps to make about N lines in all\n"
    "  --format FMT       combined (default) or json\n"
    "  --out FILE         log file (default stdout)\n"
    "  --labels FILE      write the labels TSV: ip, label, kind, group\n"
    "  --help             this text\n"
    "\n"
    "attack kinds:\n"
    "  credential_stuffing brute_force password_spraying account_takeover flood\n"
    "  flood_rotating_ua scanner scraper enumeration undeclared_probe consumption\n"
    "  distributed_stuffing distributed_scraping distributed_enumeration\n"
    "  not in 'all' (name them): slow_stuffing (run it for hours: --duration 10800)\n"
    "  persistent_ato (for days: --duration 259200) session_rotation\n"
    "  distributed_flood\n"
    "\n"
    "examples:\n"
    "  trafficgen --seed 7 --out access.log --labels labels.tsv\n"
    "  trafficgen --format json --attacks scanner,flood --duration 600 > short.jsonl\n"
    "  trafficgen --lines 1000000 --out bench.log\n"
    "  trafficgen --carrier-nat 2 --office-nat 2 --vpn-exit 3 --labels labels.tsv\n";

typedef struct options {
    uint64_t seed;
    double duration;
    int64_t start;
    tg_counts counts;
    uint64_t lines;
    tg_format format;
    const char *out, *labels;
} options;

static int fail(const char *what, const char *value)
{
    fprintf(stderr, "trafficgen: %s: %s\n(see trafficgen --help)\n", what, value);
    return 2;
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (!*s || *s == '-')
        return false;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_u32(const char *s, uint32_t max, uint32_t *out)
{
    uint64_t v;
    if (!parse_u64(s, max, &v))
        return false;
    *out = (uint32_t)v;
    return true;
}

/* 2026-11-25T10:00:00Z, with Z, +00:00 or nothing after the seconds. */
static bool parse_start(const char *s, int64_t *out)
{
    unsigned y, mo, d, h = 0, mi = 0, se = 0;
    int n = 0;
    if (sscanf(s, "%4u-%2u-%2u%n", &y, &mo, &d, &n) != 3)
        return false;
    const char *p = s + n;
    if (*p == 'T' || *p == ' ') {
        int m = 0;
        if (sscanf(p + 1, "%2u:%2u:%2u%n", &h, &mi, &se, &m) != 3)
            return false;
        p += 1 + m;
    }
    if (*p == 'Z')
        p++;
    else if (!strcmp(p, "+00:00") || !strcmp(p, "+0000"))
        p += strlen(p);
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || y < 1970)
        return false;
    *out = tg_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    return true;
}

static bool parse_attacks(const char *s, uint32_t *mask)
{
    *mask = 0;
    if (!strcmp(s, "none") || !*s)
        return true;
    while (*s) {
        const char *end = strchr(s, ',');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (n == 3 && !memcmp(s, "all", 3)) {
            for (int k = TG_FIRST_ATTACK; k < TG_ALL_END; k++)
                *mask |= 1u << k;
        } else if (n) {
            int k = tg_kind_parse(s, n);
            if (k < 0 || !tg_kind_is_named_attack((tg_kind)k))
                return false;
            *mask |= 1u << k;
        }
        s += n;
        if (*s == ',')
            s++;
    }
    return true;
}

static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->duration = 1800;
    parse_start("2026-11-25T10:00:00Z", &o->start);
    o->counts = (tg_counts){300, 80, 6, 4, 3, 0, 0, 0, 0, 0};
    parse_attacks("all", &o->counts.attacks);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_text, stdout);
            return 1;
        }
        if (i + 1 >= argc || strncmp(a, "--", 2) != 0)
            return fail("unknown option or missing value", a);
        const char *v = argv[++i];
        uint64_t u;
        if (!strcmp(a, "--seed")) {
            if (!parse_u64(v, UINT64_MAX, &o->seed))
                return fail("--seed wants a non-negative integer", v);
        } else if (!strcmp(a, "--duration")) {
            if (!parse_u64(v, 30 * 86400, &u) || u == 0)
                return fail("--duration wants seconds, 1 to 2592000", v);
            o->duration = (double)u;
        } else if (!strcmp(a, "--start")) {
            if (!parse_start(v, &o->start))
                return fail("--start wants YYYY-MM-DDTHH:MM:SSZ", v);
        } else if (!strcmp(a, "--humans")) {
            if (!parse_u32(v, 10000000, &o->counts.humans))
                return fail("--humans wants a count", v);
        } else if (!strcmp(a, "--mobile")) {
            if (!parse_u32(v, 10000000, &o->counts.mobile))
                return fail("--mobile wants a count", v);
        } else if (!strcmp(a, "--partners")) {
            if (!parse_u32(v, 10000, &o->counts.partners))
                return fail("--partners wants a count up to 10000", v);
        } else if (!strcmp(a, "--monitors")) {
            if (!parse_u32(v, 10000, &o->counts.monitors))
                return fail("--monitors wants a count up to 10000", v);
        } else if (!strcmp(a, "--crawlers")) {
            if (!parse_u32(v, 1000, &o->counts.crawlers))
                return fail("--crawlers wants a count up to 1000", v);
        } else if (!strcmp(a, "--carrier-nat")) {
            if (!parse_u32(v, 64, &o->counts.carrier_nats))
                return fail("--carrier-nat wants a count of /24s up to 64", v);
        } else if (!strcmp(a, "--office-nat")) {
            if (!parse_u32(v, 1000, &o->counts.office_nats))
                return fail("--office-nat wants a count up to 1000", v);
        } else if (!strcmp(a, "--vpn-exit")) {
            if (!parse_u32(v, 1000, &o->counts.vpn_exits))
                return fail("--vpn-exit wants a count up to 1000", v);
        } else if (!strcmp(a, "--attacks")) {
            if (!parse_attacks(v, &o->counts.attacks))
                return fail("--attacks wants kinds from the list in --help", v);
        } else if (!strcmp(a, "--attack-actors")) {
            if (!parse_u32(v, 100, &o->counts.attack_actors) || !o->counts.attack_actors)
                return fail("--attack-actors wants 1 to 100", v);
        } else if (!strcmp(a, "--lines")) {
            if (!parse_u64(v, 200000000, &o->lines))
                return fail("--lines wants a count up to 200000000", v);
        } else if (!strcmp(a, "--format")) {
            if (!strcmp(v, "combined"))
                o->format = TG_FMT_COMBINED;
            else if (!strcmp(v, "json"))
                o->format = TG_FMT_JSON;
            else
                return fail("--format wants combined or json", v);
        } else if (!strcmp(a, "--out")) {
            o->out = v;
        } else if (!strcmp(a, "--labels")) {
            o->labels = v;
        } else {
            return fail("unknown option", a);
        }
    }
    return 0;
}

/* fixed_lines: the lines --lines does not scale (attacks, shared networks). */
static bool generate(tg_world *w, const options *o, const tg_counts *counts, size_t *fixed_lines)
{
    tg_world_init(w, o->seed, (int64_t)(o->duration * 1e6), o->start);
    w->counts = *counts;
    tg_gen_attacks(w);
    tg_gen_shared_networks(w);
    *fixed_lines = w->nrecs;
    tg_gen_legit(w);
    return !w->oom;
}

static uint32_t scale_count(uint32_t n, double f)
{
    double v = (double)n * f + 0.5;
    return v > 10000000 ? 10000000 : (uint32_t)v;
}

static int write_file(const char *path, const tg_world *w, tg_format fmt, bool labels)
{
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f) {
        fprintf(stderr, "trafficgen: %s: %s\n", path, strerror(errno));
        return 1;
    }
    static char buf[1 << 20];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    int rc = labels ? tg_write_labels(w, f) : tg_write_log(w, fmt, f);
    if (path && fclose(f) != 0)
        rc = -1;
    if (rc) {
        fprintf(stderr, "trafficgen: %s: write failed: %s\n", path ? path : "stdout", strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;

    tg_world w;
    tg_counts counts = o.counts;
    size_t fixed_lines;
    bool ok = generate(&w, &o, &counts, &fixed_lines);
    /* Scale the background: lines grow about linearly with the population;
     * a second correction absorbs the randomness of small populations. */
    for (int pass = 0; ok && o.lines && pass < 2; pass++) {
        size_t legit = w.nrecs - fixed_lines;
        if (!legit || (counts.humans + counts.mobile) == 0)
            break;
        double want = (double)o.lines - (double)fixed_lines;
        double f = want > 0 ? want / (double)legit : 0;
        if (f > 0.97 && f < 1.03)
            break;
        counts.humans = scale_count(counts.humans, f);
        counts.mobile = scale_count(counts.mobile, f);
        tg_world_free(&w);
        ok = generate(&w, &o, &counts, &fixed_lines);
    }
    if (!ok) {
        fprintf(stderr, "trafficgen: out of memory\n");
        tg_world_free(&w);
        return 1;
    }
    tg_sort(&w);
    rc = write_file(o.out, &w, o.format, false);
    if (!rc && o.labels)
        rc = write_file(o.labels, &w, o.format, true);
    tg_world_free(&w);
    return rc;
}
