/*
 * bench_engine.c -- engine throughput and memory, on one core.
 *
 *   bench_engine throughput [EVENTS]   events/s through rp_engine_feed on a
 *                                      realistic mix (default 5,000,000)
 *   bench_engine spray [IPS] [CAP]     IPS distinct random client IPs into a
 *                                      table capped at CAP; prints peak RSS
 *   bench_engine replay FILE [CONFIG] [ROUNDS]
 *                                      an access log (combined or JSON) fed
 *                                      as a detector feeds its engine (with
 *                                      rp_engine_prefetch two events ahead;
 *                                      PREFETCH=off without, PREFETCH=alt
 *                                      every other round); one fresh engine
 *                                      per round (default 3)
 *
 * Events are prepared in memory first so that only the engine is timed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "config.h"
#include "ingest.h"
#include "load.h"
#include "protocol.h"
#include "rampart.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* This thread's CPU time: on a shared machine the wall clock also counts
 * the time spent waiting for a core. */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static long peak_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static const char *const uas[] = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "AcmeInventorySync/2.1 (+https://acme.example/bot)",
};

#define N_PATHS 4096

static int throughput(long n, double anomaly_weight) {
    static char paths[N_PATHS][48];
    for (int i = 0; i < N_PATHS; i++) {
        switch (i % 6) {
        case 0: snprintf(paths[i], sizeof paths[i], "/api/products/%d", i * 7 % 5000); break;
        case 1: snprintf(paths[i], sizeof paths[i], "/api/users/%d/orders", i % 900); break;
        case 2: snprintf(paths[i], sizeof paths[i], "/api/products"); break;
        case 3: snprintf(paths[i], sizeof paths[i], "/static/app.js"); break;
        case 4: snprintf(paths[i], sizeof paths[i], "/api/search"); break;
        default: snprintf(paths[i], sizeof paths[i], "/api/orders/%d", i); break;
        }
    }
    rp_event *evs = calloc((size_t)n, sizeof *evs);
    if (!evs) return 1;
    int64_t t = 1764064800LL * 1000000;
    for (long i = 0; i < n; i++) {
        rp_event *ev = &evs[i];
        uint64_t r = next();
        t += 200; /* 5,000 requests/s of event time */
        ev->ts_us = t;
        /* 20,000 clients, a few heavy */
        uint32_t client = (r & 3) == 0 ? (uint32_t)(r >> 40) % 50 : (uint32_t)(r >> 40) % 20000;
        ev->client.family = 4;
        ev->client.bytes[10] = ev->client.bytes[11] = 0xff;
        ev->client.bytes[12] = 10;
        ev->client.bytes[13] = (uint8_t)(client >> 16);
        ev->client.bytes[14] = (uint8_t)(client >> 8);
        ev->client.bytes[15] = (uint8_t)client;
        const char *p = paths[(r >> 8) % N_PATHS];
        ev->path.ptr = p;
        ev->path.len = (uint32_t)strlen(p);
        ev->method = (r >> 20) % 10 == 0 ? RP_METHOD_POST : RP_METHOD_GET;
        ev->status = (r >> 24) % 20 == 0 ? 404 : 200;
        ev->response_bytes = 200 + (r >> 32) % 20000;
        ev->upstream_us = (int64_t)((r >> 16) % 50000);
        const char *ua = uas[client % 5];
        ev->user_agent.ptr = ua;
        ev->user_agent.len = (uint32_t)strlen(ua);
    }
    /* "throughput N W": the anomaly detector (off by default) at weight W
     * in every profile, to measure its cost (route transitions and the
     * feature-vector forest). */
    rp_config *config = rp_config_default();
    int ad = rp_detector_find("anomaly", 7);
    if (anomaly_weight > 0 && ad >= 0)
        for (int i = 0; i < config->n_profiles; i++) {
            config->profiles[i].detectors[ad].enabled = true;
            config->profiles[i].detectors[ad].weight = anomaly_weight;
        }
    rp_engine *e;
    rp_error err;
    rp_status rc = rp_engine_new(config, NULL, &e, &err);
    rp_config_free(config);
    if (rc != RP_OK) {
        fprintf(stderr, "engine: %s\n", err.message);
        return 1;
    }
    /* warm up the tables and inventory, then time */
    long warm = n / 10;
    for (long i = 0; i < warm; i++) rp_engine_feed(e, &evs[i]);
    double start = now_s(), start_cpu = cpu_s();
    for (long i = warm; i < n; i++) rp_engine_feed(e, &evs[i]);
    double el = now_s() - start, cpu = cpu_s() - start_cpu;
    rp_engine_stats st;
    rp_engine_get_stats(e, &st);
    printf("engine throughput: %ld events in %.3f s = %.0f events/s (one core; CPU %.3f s = %.0f "
           "events/s)\n",
           n - warm, el, (double)(n - warm) / el, cpu, (double)(n - warm) / cpu);
    printf("  clients tracked %llu, routes %llu, incidents %llu\n",
           (unsigned long long)st.clients_tracked[RP_LEVEL_IP], (unsigned long long)st.routes,
           (unsigned long long)st.incidents);
    if (anomaly_weight > 0)
        printf("  anomaly weight %.0f: %llu route transitions, %llu feature vectors learned\n",
               anomaly_weight, (unsigned long long)rp_engine_model_transitions(e),
               (unsigned long long)rp_engine_model_vectors(e));
    printf("  bytes per tracked IP client: %zu (slot + index)\n",
           rp_engine_bytes_per_client(e, RP_LEVEL_IP));
    rp_engine_free(e);
    free(evs);
    return 0;
}

static int spray(long ips, long cap) {
    rp_config *config = rp_config_default();
    config->capacity[RP_LEVEL_IP] = (uint32_t)cap;
    rp_engine *e;
    rp_error err;
    if (rp_engine_new(config, NULL, &e, &err) != RP_OK) {
        fprintf(stderr, "engine: %s\n", err.message);
        return 1;
    }
    long base = peak_rss_kib();
    const char *ua = uas[0];
    int64_t t = 1764064800LL * 1000000;
    double start = now_s();
    for (long i = 0; i < ips; i++) {
        rp_event ev;
        memset(&ev, 0, sizeof ev);
        uint64_t r = next();
        ev.ts_us = t + i;
        ev.client.family = 6;
        memcpy(ev.client.bytes, &r, 8);
        uint64_t r2 = next();
        memcpy(ev.client.bytes + 8, &r2, 8);
        ev.client.bytes[0] = 0x20; /* 2000::/8, never IPv4-mapped */
        ev.path.ptr = "/api/products";
        ev.path.len = 13;
        ev.method = RP_METHOD_GET;
        ev.status = 200;
        ev.upstream_us = -1;
        ev.user_agent.ptr = ua;
        ev.user_agent.len = (uint32_t)strlen(ua);
        rp_engine_feed(e, &ev);
        if ((i + 1) % (ips / 5 > 0 ? ips / 5 : 1) == 0)
            printf("  after %ld distinct IPs: peak RSS %ld MiB\n", i + 1, peak_rss_kib() / 1024);
    }
    double el = now_s() - start;
    rp_engine_stats st;
    rp_engine_get_stats(e, &st);
    size_t per = rp_engine_bytes_per_client(e, RP_LEVEL_IP);
    printf("spray: %ld distinct IPs, table cap %ld: tracked %llu, evicted %llu, %.0f events/s\n",
           ips, cap, (unsigned long long)st.clients_tracked[RP_LEVEL_IP],
           (unsigned long long)st.clients_evicted[RP_LEVEL_IP], (double)ips / el);
    printf("  peak RSS %ld MiB (before feeding %ld MiB); table budget %zu B x %ld = %.0f MiB\n",
           peak_rss_kib() / 1024, base / 1024, per, cap, (double)per * (double)cap / 1048576.0);
    rp_engine_free(e);
    rp_config_free(config);
    return 0;
}

/* The log is parsed and each event encoded as the wire record a detector
 * reads from its queue or stream, then decoded in place: the engine sees
 * the events a detector's engine sees (strings cut as the protocol cuts
 * them), and the timed loop is the feed alone -- no parsing, no Redis, no
 * reader thread. */
static rp_event *load_events(const char *path, long *n_out, uint8_t **records_out) {
    rp_line_reader *r;
    rp_error err = {0};
    if (rp_line_reader_open(path, &r, &err) != RP_OK) {
        fprintf(stderr, "replay: %s\n", err.message);
        return NULL;
    }
    rp_log_parser *p = rp_log_parser_new(RP_FORMAT_AUTO);
    size_t cap = 1 << 26, used = 0;
    uint8_t *records = malloc(cap);
    long n = 0;
    const char *line;
    size_t len;
    bool too_long;
    while (p && records && rp_line_reader_next(r, &line, &len, &too_long, &err) == 1) {
        rp_event ev;
        rp_skip_reason why;
        if (too_long || rp_log_parser_parse(p, line, len, &ev, &why) != RP_OK) continue;
        if (cap - used < RP_PROTO_MAX_DATAGRAM) {
            uint8_t *grown = realloc(records, cap * 2);
            if (!grown) break;
            records = grown;
            cap *= 2;
        }
        used += rp_event_encode(&ev, records + used, cap - used);
        n++;
    }
    rp_log_parser_free(p);
    rp_line_reader_close(r);
    rp_event *evs = records ? calloc((size_t)n + 1, sizeof *evs) : NULL;
    size_t off = 0;
    for (long i = 0; evs && i < n; i++) {
        size_t size = rp_event_record_size(records + off, used - off);
        rp_decode_reason why;
        if (!size || rp_event_decode(records + off, size, &evs[i], &why) != RP_OK) {
            fprintf(stderr, "replay: record %ld does not decode\n", i);
            free(evs);
            evs = NULL;
            break;
        }
        off += size;
    }
    if (!evs) {
        free(records);
        return NULL;
    }
    *n_out = n;
    *records_out = records;
    return evs;
}

static int replay(const char *path, const char *config_path, int rounds) {
    const char *pf = getenv("PREFETCH");
    long n;
    uint8_t *records;
    rp_event *evs = load_events(path, &n, &records);
    if (!evs) return 1;
    rp_config *config;
    rp_error err = {0};
    if (rp_load_config(config_path, &config, &err) != RP_OK) { /* NULL: the defaults */
        fprintf(stderr, "replay: %s\n", err.message);
        return 1;
    }
    printf("replay: %ld events from %s, %s\n", n, path, config_path ? config_path : "defaults");
    for (int round = 0; round < rounds; round++) {
        rp_engine *e;
        if (rp_engine_new(config, NULL, &e, &err) != RP_OK) {
            fprintf(stderr, "engine: %s\n", err.message);
            return 1;
        }
        uint64_t refused = 0;
        bool prefetch = !pf || (strcmp(pf, "alt") == 0 ? round % 2 == 1 : strcmp(pf, "off") != 0);
        double start = now_s(), start_cpu = cpu_s();
        for (long i = 0; i < n; i++) {
            rp_action before;
            if (prefetch && i + 2 < n) rp_engine_prefetch(e, &evs[i + 2]);
            if (rp_engine_feed_verdicts(e, &evs[i], &before) >= RP_ACTION_THROTTLE) refused++;
        }
        double el = now_s() - start, cpu = cpu_s() - start_cpu;
        rp_engine_stats st;
        rp_engine_get_stats(e, &st);
        printf("  round %d%s: %.3f s = %.0f events/s, %.0f ns/event, CPU %.0f ns/event (%llu IPs "
               "tracked, %llu incidents, %llu refused after)\n",
               round + 1, prefetch ? "" : " (no prefetch)", el, (double)n / el, el * 1e9 / (double)n,
               cpu * 1e9 / (double)n,
               (unsigned long long)st.clients_tracked[RP_LEVEL_IP],
               (unsigned long long)st.incidents, (unsigned long long)refused);
        rp_engine_free(e);
    }
    rp_config_free(config);
    free(evs);
    free(records);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "throughput";
    if (strcmp(mode, "throughput") == 0) return throughput(argc > 2 ? atol(argv[2]) : 5000000, argc > 3 ? atof(argv[3]) : 0);
    if (strcmp(mode, "spray") == 0)
        return spray(argc > 2 ? atol(argv[2]) : 10000000, argc > 3 ? atol(argv[3]) : 262144);
    if (strcmp(mode, "replay") == 0 && argc > 2)
        return replay(argv[2], argc > 3 && argv[3][0] ? argv[3] : NULL, argc > 4 ? atoi(argv[4]) : 3);
    fprintf(stderr, "usage: bench_engine throughput [EVENTS [ANOMALY_WEIGHT]] | spray [IPS] [CAP] |\n"
                    "       replay FILE [CONFIG] [ROUNDS]\n");
    return 1;
}
