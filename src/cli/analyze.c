/*
 * analyze.c -- `rampart analyze`: access logs in, abusive clients out.
 *
 * Files are read in the order given (plain or gzip, or "-" for stdin),
 * each line parsed into an event and fed to the engine. The engine's
 * incidents are kept, one per key (a later incident of the same key --
 * an escalation -- replaces the earlier one), and printed at the end
 * sorted by verdict and score: a table for people, or one JSON object per
 * line for programs. A summary says what was read, what was skipped and
 * why (with the first line numbers), and how fast.
 *
 * Memory is bounded: the engine's tables are capped by the config, and the
 * incident list by --max-incidents (further incidents are counted, not
 * kept).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "ingest.h"

#define FIRST_SKIPS 5

typedef struct skip_log {
    uint64_t count[RP_SKIP_REASON_COUNT];
    /* first few locations per reason: file index and line */
    uint32_t first_file[RP_SKIP_REASON_COUNT][FIRST_SKIPS];
    uint64_t first_line[RP_SKIP_REASON_COUNT][FIRST_SKIPS];
} skip_log;

typedef struct incident_store {
    rp_incident *items;
    size_t n, cap, max;
    uint64_t dropped;
    /* open-addressing map key -> index + 1 */
    uint32_t *map;
    size_t map_mask;
} incident_store;

typedef struct analyze_opts {
    const char *config_path;
    const char *model_path; /* --model: the anomaly models from `rampart train` */
    rp_log_format format_in;
    enum { OUT_TABLE, OUT_JSON } format_out;
    rp_action min_action;
    size_t top;
    size_t max_incidents;
    const char *output_path;
    const char *verdicts_path; /* --verdicts: one line per refused request */
    int progress; /* -1 auto, 0 off, 1 on */
    bool quiet;
    bool samples;
} analyze_opts;

static void usage(FILE *out) {
    fputs(
        "usage: rampart analyze [OPTIONS] [FILE...]\n"
        "\n"
        "Read access logs and report the abusive clients in them, with the evidence\n"
        "for each. FILE may be plain or gzip-compressed; '-' or no FILE reads stdin.\n"
        "Several files are read in the order given, as one stream.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE      configuration (YAML); built-in defaults without it\n"
        "  -i, --format-in FMT    input format: auto (default), combined, json\n"
        "      --model FILE       start from the anomaly models written by `rampart train`\n"
        "                         (used by the anomaly detector when it has a weight)\n"
        "  -f, --format FMT       output: table (default) or json (one incident per line)\n"
        "  -m, --min-action ACT   report clients at or above: monitor (default),\n"
        "                         throttle, block\n"
        "  -n, --top N            show at most N clients in the table (default 50;\n"
        "                         0 = all). JSON output is never cut.\n"
        "      --max-incidents N  keep at most N incidents in memory (default 100000)\n"
        "  -o, --output FILE      write the report to FILE instead of stdout\n"
        "      --verdicts FILE    write one line per request that would have been\n"
        "                         refused: input line number, client address, throttle\n"
        "                         or block (tab-separated; several FILEs number on)\n"
        "      --progress         show a progress line on stderr (default: when stderr\n"
        "                         is a terminal and the input is a file)\n"
        "      --no-progress      never show it\n"
        "      --no-samples       leave sample requests out of the table\n"
        "  -q, --quiet            no summary\n"
        "  -h, --help             this text\n"
        "\n"
        "Exit status: 0 the input was analysed (whether or not abuse was found);\n"
        "1 bad usage or configuration; 2 an input could not be read or was cut short\n"
        "(the rest was still analysed). Skipped lines never change the exit status;\n"
        "they are counted in the summary.\n"
        "\n"
        "Examples:\n"
        "  rampart analyze /var/log/nginx/access.log\n"
        "  rampart analyze -f json access.log.1 access.log | jq .key\n"
        "  zcat access.log.*.gz | rampart analyze -c /etc/rampart/rampart.yaml -\n",
        out);
}

/* ------------------------------------------------------------ incidents */

static size_t store_find(const incident_store *s, const rp_key *key, bool *found) {
    size_t pos = (size_t)rp_key_hash(key) & s->map_mask;
    for (;;) {
        uint32_t e = s->map[pos];
        if (e == 0) {
            *found = false;
            return pos;
        }
        if (rp_key_equal(&s->items[e - 1].key, key)) {
            *found = true;
            return pos;
        }
        pos = (pos + 1) & s->map_mask;
    }
}

static bool store_init(incident_store *s, size_t max) {
    memset(s, 0, sizeof *s);
    s->max = max;
    size_t m = 1;
    while (m < max * 2 + 2) m <<= 1;
    s->map = calloc(m, sizeof *s->map);
    s->map_mask = m - 1;
    return s->map != NULL;
}

static void store_put(incident_store *s, const rp_incident *inc) {
    bool found;
    size_t pos = store_find(s, &inc->key, &found);
    if (found) {
        rp_incident *old = &s->items[s->map[pos] - 1];
        /* Keep the newest picture of the key; an update of an older
         * incident (flush) only refreshes counters. */
        if (inc->id >= old->id)
            *old = *inc;
        return;
    }
    if (s->n >= s->max) {
        s->dropped++;
        return;
    }
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        if (ncap > s->max) ncap = s->max;
        rp_incident *ni = realloc(s->items, ncap * sizeof *ni);
        if (!ni) {
            s->dropped++;
            return;
        }
        s->items = ni;
        s->cap = ncap;
    }
    s->items[s->n] = *inc;
    s->map[pos] = (uint32_t)++s->n;
}

static void on_incident(void *user, const rp_incident *inc) { store_put(user, inc); }

static int incident_order(const void *a, const void *b) {
    const rp_incident *x = a, *y = b;
    if (x->action != y->action) return x->action < y->action ? 1 : -1;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    if (x->requests != y->requests) return x->requests < y->requests ? 1 : -1;
    return x->id < y->id ? -1 : 1;
}

/* ---------------------------------------------------------------- output */

static void threats_text(uint32_t threats, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = 0;
    for (unsigned b = 0; b < RP_THREAT_COUNT && o < size; b++)
        if (threats & (1u << b)) {
            int n = snprintf(buf + o, size - o, "%s%s", o ? "," : "", rp_threat_name(b));
            if (n < 0) break;
            o += (size_t)n;
        }
    if (!buf[0]) snprintf(buf, size, "-");
}

/* Printable copy: control bytes from hostile logs must not reach a
 * terminal. */
static void printable(const char *in, char *out, size_t size) {
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 1 < size; i++) {
        unsigned char c = (unsigned char)in[i];
        out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    out[o] = 0;
}

static void print_table(FILE *out, rp_incident *items, size_t n, size_t top, bool samples) {
    if (n == 0) {
        fprintf(out, "No abusive clients found.\n");
        return;
    }
    fprintf(out, "%-40s %-8s %5s %9s  %-23s %s\n", "KEY", "VERDICT", "SCORE", "REQUESTS",
            "FIRST SEEN - LAST SEEN", "THREATS");
    size_t shown = top && top < n ? top : n;
    for (size_t i = 0; i < shown; i++) {
        const rp_incident *inc = &items[i];
        char key[128], first[40], last[40], reqs[32], threats[256];
        rp_key_format(&inc->key, key, sizeof key);
        rp_format_time(inc->first_seen_us, first, sizeof first);
        rp_format_time(inc->last_seen_us, last, sizeof last);
        rp_format_count(inc->requests, reqs, sizeof reqs);
        threats_text(inc->threats, threats, sizeof threats);
        /* dates as "05-17 10:05:03" to keep the row short */
        fprintf(out, "%-40s %-8s %5.0f %9s  %.5s %.8s-%.8s %s\n", key, rp_action_name(inc->action),
                inc->score, reqs, first + 5, first + 11, last + 11, threats);
        for (unsigned f = 0; f < inc->n_findings; f++) {
            char line[RP_SUMMARY_LEN];
            printable(inc->findings[f].summary, line, sizeof line);
            fprintf(out, "    %-4.0f %s\n", inc->findings[f].score * inc->findings[f].weight, line);
        }
        if (inc->user_agent[0]) {
            char ua[160];
            printable(inc->user_agent, ua, sizeof ua);
            fprintf(out, "         user agent: %s\n", ua);
        }
        if (samples)
            for (unsigned s = 0; s < inc->n_samples && s < 3; s++) {
                char p[200];
                printable(inc->samples[s].path, p, sizeof p);
                fprintf(out, "         sample: %s %s -> %u\n",
                        rp_method_name((rp_method)inc->samples[s].method), p,
                        inc->samples[s].status);
            }
    }
    if (shown < n) fprintf(out, "... and %zu more (use --top 0 or --format json)\n", n - shown);
}

/* ---------------------------------------------------------------- main */

typedef struct run_state {
    analyze_opts opts;
    rp_engine *engine;
    skip_log skips;
    uint64_t lines, events, empty;
    uint64_t refused; /* events answered throttle or block */
    FILE *verdicts;   /* --verdicts, or NULL */
    uint64_t bytes;
    int input_errors;
    char **files;
    int n_files;
} run_state;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void note_skip(run_state *rs, int file, uint64_t line, rp_skip_reason why) {
    if ((unsigned)why >= RP_SKIP_REASON_COUNT) why = RP_SKIP_MALFORMED;
    uint64_t k = rs->skips.count[why]++;
    if (k < FIRST_SKIPS) {
        rs->skips.first_file[why][k] = (uint32_t)file;
        rs->skips.first_line[why][k] = line;
    }
}

static void progress(run_state *rs, const char *name, rp_line_reader *r, double start,
                     uint64_t lines) {
    uint64_t size = rp_line_reader_size(r), off = rp_line_reader_offset(r);
    double el = now_s() - start;
    char l[32];
    rp_format_count(lines, l, sizeof l);
    if (size)
        fprintf(stderr, "\r%s: %3.0f%%  %s lines  %.0f lines/s   ", name,
                100.0 * (double)off / (double)size, l, el > 0 ? (double)lines / el : 0);
    else
        fprintf(stderr, "\r%s: %s lines  %.0f lines/s   ", name, l, el > 0 ? (double)lines / el : 0);
    (void)rs;
}

static void analyze_file(run_state *rs, int fi, const rp_config *config, double start) {
    const char *path = rs->files[fi];
    rp_error err = {0};
    rp_line_reader *r;
    if (rp_line_reader_open(path, &r, &err) != RP_OK) {
        char msg[600];
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart: %s\n", msg);
        rs->input_errors++;
        return;
    }
    rp_log_parser *p = rp_log_parser_new(rs->opts.format_in);
    if (!p) {
        fprintf(stderr, "rampart: out of memory\n");
        rp_line_reader_close(r);
        rs->input_errors++;
        return;
    }
    rp_log_parser_set_trusted_proxies(p, config->trusted_proxies, config->n_trusted_proxies);
    bool show = rs->opts.progress == 1 ||
                (rs->opts.progress == -1 && isatty(2) && strcmp(path, "-") != 0);
    const char *line;
    size_t len;
    bool too_long;
    int rc;
    double last_progress = start;
    while ((rc = rp_line_reader_next(r, &line, &len, &too_long, &err)) == 1) {
        rs->lines++;
        uint64_t lineno = rp_line_reader_line_number(r);
        if (too_long) {
            note_skip(rs, fi, lineno, RP_SKIP_TOO_LONG);
            continue;
        }
        rp_event ev;
        rp_skip_reason why = RP_SKIP_NONE;
        rp_status st = rp_log_parser_parse(p, line, len, &ev, &why);
        if (st == RP_OK) {
            rs->events++;
            rp_action a;
            rp_engine_feed_verdicts(rs->engine, &ev, &a);
            if (a == RP_ACTION_THROTTLE || a == RP_ACTION_BLOCK) {
                rs->refused++;
                if (rs->verdicts) {
                    char ip[RP_ADDR_STRLEN];
                    rp_addr_format(&ev.client, ip, sizeof ip);
                    fprintf(rs->verdicts, "%llu\t%s\t%s\n", (unsigned long long)rs->lines, ip,
                            rp_action_name(a));
                }
            }
        } else if (why == RP_SKIP_NONE) {
            rs->empty++; /* blank line: nothing to count as skipped */
        } else {
            note_skip(rs, fi, lineno, why);
        }
        if (show && (rs->lines & 0xffff) == 0) {
            double t = now_s();
            if (t - last_progress > 0.5) {
                progress(rs, path, r, start, rs->lines);
                last_progress = t;
            }
        }
    }
    rs->bytes += rp_line_reader_offset(r);
    if (show) fprintf(stderr, "\r%*s\r", 70, "");
    if (rc < 0) {
        char msg[600];
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart: %s\n", msg);
        rs->input_errors++;
    }
    rp_log_parser_free(p);
    rp_line_reader_close(r);
}

static void print_summary(FILE *out, run_state *rs, const incident_store *store, double seconds) {
    rp_engine_stats st;
    rp_engine_get_stats(rs->engine, &st);
    char a[32], b[32];
    uint64_t skipped = 0;
    for (int i = 0; i < RP_SKIP_REASON_COUNT; i++) skipped += rs->skips.count[i];
    fprintf(out, "\nSummary\n");
    rp_format_count(rs->lines, a, sizeof a);
    fprintf(out, "  lines read        %s\n", a);
    rp_format_count(rs->events, a, sizeof a);
    fprintf(out, "  events            %s\n", a);
    rp_format_count(skipped, a, sizeof a);
    fprintf(out, "  lines skipped     %s\n", a);
    for (int i = 1; i < RP_SKIP_REASON_COUNT; i++) {
        if (!rs->skips.count[i]) continue;
        rp_format_count(rs->skips.count[i], a, sizeof a);
        fprintf(out, "    %-15s %s (", rp_skip_reason_name((rp_skip_reason)i), a);
        uint64_t k = rs->skips.count[i] < FIRST_SKIPS ? rs->skips.count[i] : FIRST_SKIPS;
        for (uint64_t j = 0; j < k; j++) {
            uint32_t f = rs->skips.first_file[i][j];
            if (rs->n_files > 1)
                fprintf(out, "%s%s:%llu", j ? ", " : "", rs->files[f],
                        (unsigned long long)rs->skips.first_line[i][j]);
            else
                fprintf(out, "%sline %llu", j ? ", " : "",
                        (unsigned long long)rs->skips.first_line[i][j]);
        }
        fprintf(out, "%s)\n", rs->skips.count[i] > k ? ", ..." : "");
    }
    if (rs->empty) {
        rp_format_count(rs->empty, a, sizeof a);
        fprintf(out, "  blank lines       %s\n", a);
    }
    if (st.events_out_of_order) {
        rp_format_count(st.events_out_of_order, a, sizeof a);
        fprintf(out, "  out of order      %s events (older than the newest seen; analysed)\n", a);
    }
    if (st.allowlisted) {
        rp_format_count(st.allowlisted, a, sizeof a);
        fprintf(out, "  allowlisted       %s events\n", a);
    }
    rp_format_count(st.clients_tracked[RP_LEVEL_IP], a, sizeof a);
    rp_format_count(st.clients_evicted[RP_LEVEL_IP], b, sizeof b);
    fprintf(out, "  clients tracked   %s IPs (%s evicted at the cap)\n", a, b);
    if (st.clients_tracked[RP_LEVEL_USERNAME]) {
        rp_format_count(st.clients_tracked[RP_LEVEL_USERNAME], a, sizeof a);
        fprintf(out, "                    %s usernames\n", a);
    }
    rp_format_count(st.routes, a, sizeof a);
    fprintf(out, "  routes            %s\n", a);
    /* incidents by verdict and by detector, from the kept list */
    uint64_t by_action[5] = {0};
    uint64_t by_detector[RP_MAX_DETECTORS] = {0};
    for (size_t i = 0; i < store->n; i++) {
        by_action[store->items[i].action]++;
        for (unsigned f = 0; f < store->items[i].n_findings; f++) {
            int d = rp_detector_find(store->items[i].findings[f].detector,
                                     strlen(store->items[i].findings[f].detector));
            if (d >= 0) by_detector[d]++;
        }
    }
    rp_format_count(rs->refused, a, sizeof a);
    fprintf(out, "  refused requests  %s (%.1f%% of events: throttled or blocked as they came)\n",
            a, rs->events ? 100.0 * (double)rs->refused / (double)rs->events : 0.0);
    fprintf(out, "  flagged clients   %zu (block %llu, throttle %llu, monitor %llu)\n", store->n,
            (unsigned long long)by_action[RP_ACTION_BLOCK],
            (unsigned long long)by_action[RP_ACTION_THROTTLE],
            (unsigned long long)by_action[RP_ACTION_MONITOR]);
    if (store->dropped)
        fprintf(out, "                    %llu more not kept (--max-incidents)\n",
                (unsigned long long)store->dropped);
    fprintf(out, "  by detector      ");
    bool any = false;
    for (unsigned d = 0; d < rp_detector_count; d++)
        if (by_detector[d]) {
            fprintf(out, " %s %llu", rp_detectors[d]->name, (unsigned long long)by_detector[d]);
            any = true;
        }
    fprintf(out, "%s\n", any ? "" : " -");
    rp_format_count(seconds > 0 ? (uint64_t)((double)rs->lines / seconds) : 0, a, sizeof a);
    fprintf(out, "  time              %.2f s (%s lines/s)\n", seconds, a);
}

static int parse_opts(int argc, char **argv, analyze_opts *o, int *first_file) {
    static const struct option longs[] = {
        {"config", required_argument, 0, 'c'},  {"format-in", required_argument, 0, 'i'},
        {"format", required_argument, 0, 'f'},  {"min-action", required_argument, 0, 'm'},
        {"top", required_argument, 0, 'n'},     {"max-incidents", required_argument, 0, 'M'},
        {"output", required_argument, 0, 'o'},  {"progress", no_argument, 0, 'P'},
        {"no-progress", no_argument, 0, 'N'},   {"no-samples", no_argument, 0, 'S'},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {"model", required_argument, 0, 'L'},   {"verdicts", required_argument, 0, 'V'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->format_out = OUT_TABLE;
    o->min_action = RP_ACTION_MONITOR;
    o->top = 50;
    o->max_incidents = 100000;
    o->progress = -1;
    o->samples = true;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:i:f:m:n:o:qh", longs, NULL)) != -1) {
        switch (c) {
        case 'c': o->config_path = optarg; break;
        case 'L': o->model_path = optarg; break;
        case 'i':
            if (rp_log_format_parse(optarg, &o->format_in) != RP_OK) {
                fprintf(stderr, "rampart analyze: unknown input format '%s' (auto, combined, json)\n",
                        optarg);
                return RP_EXIT_USAGE;
            }
            break;
        case 'f':
            if (strcmp(optarg, "table") == 0) o->format_out = OUT_TABLE;
            else if (strcmp(optarg, "json") == 0) o->format_out = OUT_JSON;
            else {
                fprintf(stderr, "rampart analyze: unknown output format '%s' (table, json)\n", optarg);
                return RP_EXIT_USAGE;
            }
            break;
        case 'm':
            if (rp_action_parse(optarg, strlen(optarg), &o->min_action) != RP_OK ||
                o->min_action == RP_ACTION_NONE || o->min_action == RP_ACTION_ALLOW) {
                fprintf(stderr, "rampart analyze: --min-action must be monitor, throttle or block\n");
                return RP_EXIT_USAGE;
            }
            break;
        case 'n':
        case 'M': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || optarg[0] == '-' || (c == 'M' && (v == 0 || v > 10000000))) {
                fprintf(stderr, "rampart analyze: bad number '%s' for --%s\n", optarg,
                        c == 'n' ? "top" : "max-incidents");
                return RP_EXIT_USAGE;
            }
            if (c == 'n') o->top = (size_t)v;
            else o->max_incidents = (size_t)v;
            break;
        }
        case 'o': o->output_path = optarg; break;
        case 'V': o->verdicts_path = optarg; break;
        case 'P': o->progress = 1; break;
        case 'N': o->progress = 0; break;
        case 'S': o->samples = false; break;
        case 'q': o->quiet = true; break;
        case 'h': usage(stdout); return -1;
        default: usage(stderr); return RP_EXIT_USAGE;
        }
    }
    *first_file = optind;
    return RP_EXIT_OK;
}

int rp_cmd_analyze(int argc, char **argv) {
    run_state rs;
    memset(&rs, 0, sizeof rs);
    int first;
    int rc = parse_opts(argc, argv, &rs.opts, &first);
    if (rc == -1) return RP_EXIT_OK;
    if (rc != RP_EXIT_OK) return rc;
    static char *stdin_only[] = {"-"};
    rs.files = first < argc ? argv + first : stdin_only;
    rs.n_files = first < argc ? argc - first : 1;

    rp_error err = {0};
    char msg[700];
    rp_config *config;
    if (rp_load_config(rs.opts.config_path, &config, &err) != RP_OK) {
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart: %s\n", msg);
        return RP_EXIT_USAGE;
    }
    incident_store store;
    if (!store_init(&store, rs.opts.max_incidents)) {
        fprintf(stderr, "rampart: out of memory\n");
        rp_config_free(config);
        return RP_EXIT_USAGE;
    }
    rp_engine_callbacks cb = {.user = &store, .on_incident = on_incident};
    if (rp_engine_new(config, &cb, &rs.engine, &err) != RP_OK) {
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "rampart: %s\n", msg);
        rp_config_free(config);
        free(store.map);
        return RP_EXIT_USAGE;
    }
    if (rs.opts.model_path && rp_cli_load_model(rs.engine, rs.opts.model_path) != RP_OK) {
        rp_engine_free(rs.engine);
        rp_config_free(config);
        free(store.map);
        return RP_EXIT_USAGE;
    }
    FILE *out = stdout;
    if (rs.opts.output_path && !(out = fopen(rs.opts.output_path, "w"))) {
        perror(rs.opts.output_path);
        rp_engine_free(rs.engine);
        rp_config_free(config);
        free(store.map);
        return RP_EXIT_USAGE;
    }

    if (rs.opts.verdicts_path && !(rs.verdicts = fopen(rs.opts.verdicts_path, "w"))) {
        perror(rs.opts.verdicts_path);
        if (out != stdout) fclose(out);
        rp_engine_free(rs.engine);
        rp_config_free(config);
        free(store.map);
        return RP_EXIT_USAGE;
    }

    double start = now_s();
    for (int i = 0; i < rs.n_files; i++) analyze_file(&rs, i, config, start);
    if (rs.verdicts && fclose(rs.verdicts) != 0) {
        perror(rs.opts.verdicts_path);
        rs.input_errors++;
    }
    rs.verdicts = NULL;
    rp_engine_flush(rs.engine);
    double seconds = now_s() - start;

    /* Filter by --min-action, then sort. */
    size_t kept = 0;
    for (size_t i = 0; i < store.n; i++)
        if (store.items[i].action >= rs.opts.min_action && store.items[i].action != RP_ACTION_ALLOW)
            store.items[kept++] = store.items[i];
    incident_store shown = store;
    shown.n = kept;
    qsort(store.items, kept, sizeof *store.items, incident_order);

    if (rs.opts.format_out == OUT_JSON) {
        for (size_t i = 0; i < kept; i++) {
            char *j = rp_incident_to_json(&store.items[i]);
            if (j) {
                fputs(j, out);
                fputc('\n', out);
                free(j);
            }
        }
        if (!rs.opts.quiet) print_summary(stderr, &rs, &shown, seconds);
    } else {
        print_table(out, store.items, kept, rs.opts.top, rs.opts.samples);
        if (!rs.opts.quiet) print_summary(out, &rs, &shown, seconds);
    }
    if (out != stdout) fclose(out);
    else fflush(stdout);
    rp_engine_free(rs.engine);
    rp_config_free(config);
    free(store.items);
    free(store.map);
    return rs.input_errors ? RP_EXIT_INPUT : RP_EXIT_OK;
}
