/*
 * bench_latency.c -- decision latency of a running `rampart serve`: from
 * the moment the triggering event is sent on the daemon's socket to the
 * moment the decision is visible in the shared decision table, as nginx
 * would see it. Budget (DESIGN.md section 5): <= 50 ms.
 *
 *   bench_latency SOCKET TABLE STORE [ATTACKERS]
 *
 * Each attacker (a fresh IP) sends scanner requests one at a time, 2 ms
 * apart, each stamped with its send time; after every send the table is
 * polled until the next send. When the key appears, the time is noted.
 * Afterwards the stored incident's decided_at (the triggering event's
 * stamp, microseconds) says which event triggered it, so the latency is
 * exact: visible - sent(trigger).
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dtable.h"
#include "protocol.h"
#include "rampart.h"

#define MAX_EVENTS 300

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: bench_latency SOCKET TABLE STORE [ATTACKERS]\n");
        return 1;
    }
    int n = argc > 4 ? atoi(argv[4]) : 200;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        perror(argv[1]);
        return 1;
    }
    rp_dtable_reader *r;
    rp_error err;
    if (rp_dtable_reader_open(argv[2], &r, &err) != RP_OK) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int64_t *sent = calloc((size_t)n * MAX_EVENTS, sizeof *sent);
    int64_t *visible = calloc((size_t)n, sizeof *visible);
    int *count = calloc((size_t)n, sizeof *count);
    uint8_t buf[RP_PROTO_MAX_DATAGRAM];
    const char *ua = "Mozilla/5.0 (compatible; latency-bench)";
    int64_t last_refresh = 0;
    for (int a = 0; a < n; a++) {
        char ip[32];
        snprintf(ip, sizeof ip, "10.99.%d.%d", a / 250, a % 250 + 1);
        rp_event ev;
        memset(&ev, 0, sizeof ev);
        rp_addr_parse(ip, strlen(ip), &ev.client);
        rp_key key;
        rp_key_from_addr(&key, RP_LEVEL_IP, &ev.client);
        ev.method = RP_METHOD_GET;
        ev.status = 404;
        ev.upstream_us = -1;
        ev.response_bytes = 162;
        ev.user_agent.ptr = ua;
        ev.user_agent.len = (uint32_t)strlen(ua);
        for (int k = 0; k < MAX_EVENTS && !visible[a]; k++) {
            char path[64];
            snprintf(path, sizeof path, "/wp-admin/probe-%d-%d.php", a, k);
            ev.path.ptr = path;
            ev.path.len = (uint32_t)strlen(path);
            ev.ts_us = wall_us();
            size_t len = rp_event_encode(&ev, buf, sizeof buf);
            sent[(size_t)a * MAX_EVENTS + (size_t)k] = ev.ts_us;
            count[a] = k + 1;
            if (send(fd, buf, len, 0) != (ssize_t)len) {
                perror("send");
                return 1;
            }
            int64_t until = ev.ts_us + 2000;
            rp_dtable_hit hit;
            for (;;) {
                int64_t now = wall_us();
                if (now - last_refresh > 10000) {
                    rp_dtable_reader_refresh(r, &err);
                    last_refresh = now;
                }
                if (rp_dtable_lookup(r, &key, now, &hit) == 1) {
                    visible[a] = wall_us();
                    break;
                }
                if (now >= until) break;
            }
        }
    }
    sleep(2); /* the store thread commits the incidents */
    sqlite3 *db;
    if (sqlite3_open_v2(argv[3], &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", argv[3], sqlite3_errmsg(db));
        return 1;
    }
    sqlite3_stmt *st;
    sqlite3_prepare_v2(db, "SELECT MIN(decided_at) FROM incidents WHERE key = ?", -1, &st, NULL);
    int64_t *lat = calloc((size_t)n, sizeof *lat);
    int m = 0, missing = 0, events = 0;
    for (int a = 0; a < n; a++) {
        events += count[a];
        if (!visible[a]) {
            missing++;
            continue;
        }
        char keytext[64];
        snprintf(keytext, sizeof keytext, "ip:10.99.%d.%d", a / 250, a % 250 + 1);
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, keytext, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 0) == SQLITE_NULL) {
            missing++;
            continue;
        }
        int64_t decided = sqlite3_column_int64(st, 0);
        int64_t trigger = -1;
        for (int k = 0; k < count[a]; k++)
            if (sent[(size_t)a * MAX_EVENTS + (size_t)k] == decided) trigger = decided;
        if (trigger < 0) {
            missing++;
            continue;
        }
        lat[m++] = visible[a] - trigger;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    qsort(lat, (size_t)m, sizeof *lat, cmp64);
    if (m == 0) {
        printf("no decision measured (%d attackers missing)\n", missing);
        return 1;
    }
    printf("decision latency over %d attackers (%d events sent; %d not measured):\n", m, events,
           missing);
    printf("  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", lat[m / 2] / 1000.0,
           lat[(m * 9) / 10] / 1000.0, lat[(m * 99) / 100] / 1000.0, lat[m - 1] / 1000.0);
    printf("  events per attacker before the decision: %.1f on average\n", (double)events / n);
    return missing > n / 10;
}
