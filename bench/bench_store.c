/*
 * bench_store.c -- how fast the SQLite store commits, so the daemon's
 * store thread can be sized: incidents/s and decisions/s, each committed
 * on its own and in batches of 100 (the daemon batches).
 *
 *   bench_store [DIR] [N]   database in DIR (default /tmp), N writes per run
 *                           (default 20000)
 *
 * Incidents carry three findings and five samples, like real ones, so the
 * stored JSON is the size the daemon writes (~2-3 KB).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void make_incident(rp_incident *inc, uint64_t id) {
    memset(inc, 0, sizeof *inc);
    inc->id = id;
    rp_addr a;
    memset(&a, 0, sizeof a);
    a.family = 4;
    a.bytes[10] = a.bytes[11] = 0xff;
    a.bytes[12] = 10;
    a.bytes[13] = (uint8_t)(id >> 16);
    a.bytes[14] = (uint8_t)(id >> 8);
    a.bytes[15] = (uint8_t)id;
    rp_key_from_addr(&inc->key, RP_LEVEL_IP, &a);
    inc->action = RP_ACTION_BLOCK;
    inc->score = 92.5;
    inc->threats = RP_THREAT_CREDENTIAL_STUFFING | RP_THREAT_AUTOMATION;
    inc->offense = 1;
    inc->decided_us = 1764064800LL * 1000000 + (int64_t)id * 1000;
    inc->first_seen_us = inc->decided_us - 60000000;
    inc->last_seen_us = inc->decided_us;
    inc->expires_us = inc->decided_us + 900000000LL;
    inc->requests = 1200;
    snprintf(inc->profile, sizeof inc->profile, "default");
    snprintf(inc->user_agent, sizeof inc->user_agent, "python-requests/2.31.0");
    snprintf(inc->route, sizeof inc->route, "POST /api/login");
    static const char *const dets[] = {"auth", "rate", "signature"};
    inc->n_findings = 3;
    for (int i = 0; i < 3; i++) {
        rp_finding *f = &inc->findings[i];
        f->detector = dets[i];
        f->score = 0.9;
        f->weight = 100;
        f->threats = inc->threats;
        f->n_features = 3;
        for (int k = 0; k < 3; k++) {
            f->features[k].name = "failed_logins_60s";
            f->features[k].value = 47;
            f->features[k].threshold = 10;
            f->features[k].normal = 0.5;
            f->features[k].crossed = true;
        }
        snprintf(f->summary, sizeof f->summary,
                 "47 failed logins in 60 s, 39 distinct usernames; threshold 10");
    }
    inc->n_samples = 5;
    for (int i = 0; i < 5; i++) {
        inc->samples[i].ts_us = inc->decided_us + i;
        inc->samples[i].status = 401;
        inc->samples[i].method = RP_METHOD_POST;
        snprintf(inc->samples[i].path, sizeof inc->samples[i].path, "/api/login");
    }
}

static void fail(const char *what, const rp_error *err) {
    fprintf(stderr, "bench_store: %s: %s\n", what, err->message);
    exit(1);
}

/* N writes of one kind, batch writes per transaction (1 = each its own). */
static void run(const char *path, const char *kind, int n, int batch) {
    char p[512];
    snprintf(p, sizeof p, "%s", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
    rp_store *s;
    rp_error err;
    if (rp_store_open(path, &s, &err) != RP_OK) fail("open", &err);
    rp_incident inc;
    rp_decision d;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        if (batch > 1 && i % batch == 0 && rp_store_begin(s, &err) != RP_OK) fail("begin", &err);
        make_incident(&inc, (uint64_t)i + 1);
        if (kind[0] == 'i') {
            if (rp_store_put_incident(s, &inc, &err) != RP_OK) fail("put incident", &err);
        } else {
            memset(&d, 0, sizeof d);
            d.key = inc.key;
            d.action = RP_ACTION_BLOCK;
            d.start_us = inc.decided_us;
            d.expires_us = inc.expires_us;
            d.incident_id = inc.id;
            if (rp_store_put_decision(s, &d, "engine", NULL, &err) != RP_OK)
                fail("put decision", &err);
        }
        if (batch > 1 && (i % batch == batch - 1 || i == n - 1) && rp_store_commit(s, &err) != RP_OK)
            fail("commit", &err);
    }
    double dt = now_s() - t0;
    printf("  %-9s batch %3d: %8.0f /s committed (%d in %.2f s)\n", kind, batch, n / dt, n, dt);
    rp_store_close(s);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    int n = argc > 2 ? atoi(argv[2]) : 20000;
    if (n <= 0) n = 20000;
    char path[400];
    snprintf(path, sizeof path, "%s/bench_store.db", dir);
    printf("store: %s, synchronous=%s\n", path,
#ifdef RP_STORE_SYNC_FULL
           "FULL"
#else
           "NORMAL"
#endif
    );
    run(path, "incidents", n, 1);
    run(path, "incidents", n, 100);
    run(path, "decisions", n, 1);
    run(path, "decisions", n, 100);
    return 0;
}
