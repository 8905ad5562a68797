/*
 * bench_dtable.c -- decision-table lookup cost, as the nginx module sees it.
 *
 *   bench_dtable [CAPACITY] [ENTRIES]    defaults 1,048,576 and 524,288
 *
 * Builds a table in /dev/shm (or /tmp) with ENTRIES live IP decisions,
 * then measures:
 *   1. ns per lookup, one thread, for hits and for misses (random keys
 *      prepared beforehand, so only the lookup is timed);
 *   2. lookups/s with 1 and 2 reader threads while a writer thread keeps
 *      overwriting random entries (the seqlock's contended case), and the
 *      writer's puts/s.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dtable.h"
#include "rampart.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The n-th benchmark key: an IPv4 address, mapped into IPv6 like the
 * engine stores it. Keys n >= ENTRIES are never inserted (misses). */
static rp_key key_n(uint32_t n) {
    rp_addr a;
    memset(&a, 0, sizeof a);
    a.bytes[10] = a.bytes[11] = 0xff;
    uint32_t ip = n * 2654435761u; /* odd multiplier: distinct n, distinct ip */
    a.bytes[12] = (uint8_t)(ip >> 24);
    a.bytes[13] = (uint8_t)(ip >> 16);
    a.bytes[14] = (uint8_t)(ip >> 8);
    a.bytes[15] = (uint8_t)ip;
    a.family = 4;
    rp_key k;
    rp_key_from_addr(&k, RP_LEVEL_IP, &a);
    return k;
}

#define PROBES (1u << 20) /* prepared lookup keys per kind */
#define NOW_US 1700000000000000LL

typedef struct bench {
    const char *path;
    rp_dtable_writer *w;
    uint32_t entries;
    rp_key *hits, *misses;
    atomic_int stop;
    atomic_ullong lookups, found, puts;
} bench;

static double time_lookups(const rp_dtable_reader *r, const rp_key *keys, long n, long *found) {
    long f = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        rp_dtable_hit hit;
        f += rp_dtable_lookup(r, &keys[i & (PROBES - 1)], NOW_US, &hit);
    }
    double t = now_s() - t0;
    *found = f;
    return t * 1e9 / (double)n;
}

static void *writer_main(void *arg) {
    bench *b = arg;
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    unsigned long long puts = 0;
    while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
        uint32_t n = (uint32_t)(xorshift(&rng) % b->entries);
        rp_decision d;
        memset(&d, 0, sizeof d);
        d.key = key_n(n);
        d.action = puts & 1 ? RP_ACTION_BLOCK : RP_ACTION_THROTTLE;
        d.start_us = NOW_US;
        d.expires_us = NOW_US + 3600000000LL + (int64_t)puts;
        d.incident_id = puts;
        if (rp_dtable_put(b->w, &d, NOW_US) == RP_OK) puts++;
    }
    atomic_store(&b->puts, puts);
    return NULL;
}

static void *reader_main(void *arg) {
    bench *b = arg;
    rp_dtable_reader *r = NULL;
    if (rp_dtable_reader_open(b->path, &r, NULL) != RP_OK) return NULL;
    unsigned long long n = 0, found = 0;
    while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
        for (int i = 0; i < 1024; i++, n++) {
            rp_dtable_hit hit;
            found += (unsigned)rp_dtable_lookup(r, &b->hits[n & (PROBES - 1)], NOW_US, &hit);
        }
    }
    atomic_fetch_add(&b->lookups, n);
    atomic_fetch_add(&b->found, found);
    rp_dtable_reader_close(r);
    return NULL;
}

static void contended(bench *b, int readers, double seconds) {
    pthread_t wt, rt[8];
    atomic_store(&b->stop, 0);
    atomic_store(&b->lookups, 0);
    atomic_store(&b->found, 0);
    atomic_store(&b->puts, 0);
    pthread_create(&wt, NULL, writer_main, b);
    for (int i = 0; i < readers; i++) pthread_create(&rt[i], NULL, reader_main, b);
    double t0 = now_s();
    struct timespec ts = {(time_t)seconds, (long)((seconds - (long)seconds) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&b->stop, 1);
    pthread_join(wt, NULL);
    for (int i = 0; i < readers; i++) pthread_join(rt[i], NULL);
    double t = now_s() - t0;
    unsigned long long n = atomic_load(&b->lookups), f = atomic_load(&b->found);
    printf("  %d reader thread%s + 1 writer: %.1f M lookups/s total (%.1f M/s per reader, "
           "%.2f%% hits), writer %.2f M puts/s\n",
           readers, readers > 1 ? "s" : "", n / t / 1e6, n / t / 1e6 / readers,
           n ? 100.0 * (double)f / (double)n : 0.0, atomic_load(&b->puts) / t / 1e6);
}

int main(int argc, char **argv) {
    uint32_t capacity = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 1u << 20;
    uint32_t entries = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 1u << 19;
    char path[128];
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(path, sizeof path, "%s/rp_bench_dtable.%ld", dir, (long)getpid());

    bench b;
    memset(&b, 0, sizeof b);
    b.path = path;
    b.entries = entries;
    rp_error err;
    if (rp_dtable_writer_create(path, capacity, &b.w, &err) != RP_OK) {
        fprintf(stderr, "bench_dtable: %s\n", err.message);
        return 1;
    }
    uint32_t stored = 0;
    for (uint32_t n = 0; n < entries; n++) {
        rp_decision d;
        memset(&d, 0, sizeof d);
        d.key = key_n(n);
        d.action = RP_ACTION_BLOCK;
        d.start_us = NOW_US;
        d.expires_us = NOW_US + 3600000000LL;
        d.incident_id = n + 1;
        if (rp_dtable_put(b.w, &d, NOW_US) == RP_OK) stored++;
    }
    rp_dtable_stats st;
    rp_dtable_writer_stats(b.w, NOW_US, &st);
    printf("== decision table: capacity %u (%.1f MiB), %u live entries (load %.0f%%), %u refused\n",
           st.capacity, (64.0 + 64.0 * st.capacity) / 1048576.0, st.live,
           100.0 * st.live / st.capacity, entries - stored);

    b.hits = malloc(sizeof(rp_key) * PROBES);
    b.misses = malloc(sizeof(rp_key) * PROBES);
    if (!b.hits || !b.misses) return 1;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    for (uint32_t i = 0; i < PROBES; i++) {
        b.hits[i] = key_n((uint32_t)(xorshift(&rng) % entries));
        b.misses[i] = key_n(entries + (uint32_t)(xorshift(&rng) % (0xffffffffu - entries)));
    }

    rp_dtable_reader *r = NULL;
    if (rp_dtable_reader_open(path, &r, &err) != RP_OK) {
        fprintf(stderr, "bench_dtable: %s\n", err.message);
        return 1;
    }
    long n = 20000000, found;
    time_lookups(r, b.hits, PROBES, &found); /* warm the mapping */
    double hit_ns = time_lookups(r, b.hits, n, &found);
    printf("  lookup hit : %6.1f ns/op (%.1f M/s, one thread, %ld/%ld found)\n", hit_ns,
           1e3 / hit_ns, found, n);
    double miss_ns = time_lookups(r, b.misses, n, &found);
    printf("  lookup miss: %6.1f ns/op (%.1f M/s, one thread, %ld/%ld found)\n", miss_ns,
           1e3 / miss_ns, found, n);
    double t0 = now_s();
    for (int i = 0; i < 100000; i++) rp_dtable_reader_refresh(r, NULL);
    printf("  refresh, file unchanged: %.0f ns/op (one stat)\n", (now_s() - t0) * 1e9 / 1e5);
    rp_dtable_reader_close(r);

    contended(&b, 1, 1.0);
    contended(&b, 2, 1.0);

    t0 = now_s();
    if (rp_dtable_compact(b.w, NOW_US, &err) != RP_OK) fprintf(stderr, "compact: %s\n", err.message);
    printf("  compaction of %u live entries: %.1f ms\n", st.live, (now_s() - t0) * 1e3);

    rp_dtable_writer_close(b.w);
    unlink(path);
    free(b.hits);
    free(b.misses);
    return 0;
}
