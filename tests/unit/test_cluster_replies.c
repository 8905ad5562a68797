/*
 * test_cluster_replies.c -- what a Redis error reply asks of the fleet's
 * threads (cluster.c): "not here" (READONLY, MOVED...) and "not now"
 * (LOADING, BUSY...) fail the connection, so what was sent is retried,
 * and "not now" holds every connection of the node off with backoff
 * (docs/cluster-requirements.md, findings 1 and 2). The connection tests
 * talk to a small server on a loopback port that answers as a Redis
 * loading its AOF does: AUTH and ROLE work, everything else is LOADING.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster_int.h"
#include "ui.h"

/* The binary embeds the dashboard (build/gen/ui_assets.c); the daemon's
 * code linked here through the cluster's needs the symbols only. */
const rp_ui_asset rp_ui_assets[1];
const size_t rp_ui_asset_count = 0;

static rp_reply_kind kind_of(const char *reply) { return rp_cluster_reply_kind(reply, strlen(reply)); }

static void test_reply_kinds_by_their_first_word(void **state) {
    (void)state;
    assert_int_equal(kind_of("LOADING Redis is loading the dataset in memory"), RP_REPLY_NOT_READY);
    assert_int_equal(kind_of("BUSY Redis is busy running a script. You can only call SCRIPT KILL "
                             "or SHUTDOWN NOSAVE."),
                     RP_REPLY_NOT_READY);
    assert_int_equal(kind_of("MASTERDOWN Link with MASTER is down and replica-serve-stale-data "
                             "is set to 'no'."),
                     RP_REPLY_NOT_READY);
    assert_int_equal(kind_of("NOREPLICAS Not enough good replicas to write."), RP_REPLY_NOT_READY);
    assert_int_equal(kind_of("CLUSTERDOWN The cluster is down"), RP_REPLY_NOT_READY);
    assert_int_equal(kind_of("TRYAGAIN Multiple keys request during rehashing of slot"),
                     RP_REPLY_NOT_READY);
    assert_int_equal(kind_of("READONLY You can't write against a read only replica."),
                     RP_REPLY_ELSEWHERE);
    assert_int_equal(kind_of("UNBLOCKED force unblock from blocking operation"), RP_REPLY_ELSEWHERE);
    assert_int_equal(kind_of("MOVED 3999 127.0.0.1:6381"), RP_REPLY_ELSEWHERE);
    assert_int_equal(kind_of("ASK 3999 127.0.0.1:6381"), RP_REPLY_ELSEWHERE);
    assert_int_equal(kind_of("LOADING"), RP_REPLY_NOT_READY); /* the word alone */
    /* the whole word: XGROUP CREATE's "it exists" is a success to the
     * reader, not BUSY; and refusals for good stay replies */
    assert_int_equal(kind_of("BUSYGROUP Consumer Group name already exists"), RP_REPLY_OTHER);
    assert_int_equal(kind_of("BUSYKEY Target key name already exists."), RP_REPLY_OTHER);
    assert_int_equal(kind_of("LOADINGX"), RP_REPLY_OTHER);
    assert_int_equal(kind_of("NOGROUP No such key 'rampart:events'"), RP_REPLY_OTHER);
    assert_int_equal(kind_of("WRONGTYPE Operation against a key holding the wrong kind of value"),
                     RP_REPLY_OTHER);
    assert_int_equal(kind_of("ERR unknown command"), RP_REPLY_OTHER);
    assert_int_equal(kind_of(""), RP_REPLY_OTHER);
    assert_int_equal(rp_cluster_reply_kind("LOADING more", 7), RP_REPLY_NOT_READY); /* len, not NUL */
    assert_int_equal(rp_cluster_reply_kind("LOAD", 4), RP_REPLY_OTHER);
}

/* ------------------------------------------ a Redis that is loading */

typedef struct fake_redis {
    int listener, port;
    atomic_int accepts;
    atomic_bool loaded; /* PING answers PONG (else LOADING) */
    atomic_bool stop;
    pthread_t thread;
} fake_redis;

static void *fake_main(void *arg) {
    fake_redis *f = arg;
    while (!atomic_load(&f->stop)) {
        int fd = accept(f->listener, NULL, NULL);
        if (fd < 0) continue;
        atomic_fetch_add(&f->accepts, 1);
        char buf[4096];
        ssize_t n;
        /* hiredis's blocking calls send one command and wait: one read, one
         * command (enough for PING, GET, XGROUP) */
        while ((n = read(fd, buf, sizeof buf - 1)) > 0) {
            buf[n] = 0;
            const char *out = "-LOADING Redis is loading the dataset in memory\r\n";
            if (strstr(buf, "PING") && atomic_load(&f->loaded)) out = "+PONG\r\n";
            else if (strstr(buf, "XGROUP")) out = "-BUSYGROUP Consumer Group name already exists\r\n";
            if (write(fd, out, strlen(out)) < 0) break;
        }
        close(fd);
    }
    return NULL;
}

static void fake_start(fake_redis *f) {
    memset(f, 0, sizeof *f);
    f->listener = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->listener >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(f->listener, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->listener, 8), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(f->listener, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(fake_redis *f) {
    atomic_store(&f->stop, true);
    shutdown(f->listener, SHUT_RDWR); /* ends the accept */
    pthread_join(f->thread, NULL);
    close(f->listener);
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static rp_cluster *cluster_for(const fake_redis *f) {
    rp_cluster_config cf;
    memset(&cf, 0, sizeof cf);
    cf.role = RP_CLUSTER_EDGE;
    snprintf(cf.redis, sizeof cf.redis, "127.0.0.1:%d", f->port);
    snprintf(cf.consumer, sizeof cf.consumer, "test-node");
    snprintf(cf.stream, sizeof cf.stream, "rampart:events");
    snprintf(cf.decisions, sizeof cf.decisions, "rampart:decisions");
    rp_cluster *c = NULL;
    rp_error err = {0};
    assert_int_equal(rp_cluster_new(NULL, &cf, &c, &err), RP_OK);
    assert_non_null(c);
    return c;
}

/* A Redis loading its data: the connection is refused (its PING says
 * LOADING), and the next attempts wait for the hold, which doubles while
 * Redis keeps saying so: no connection is made meanwhile. */
static void test_loading_redis_holds_connections_off_with_backoff(void **state) {
    (void)state;
    fake_redis f;
    fake_start(&f);
    rp_cluster *c = cluster_for(&f);
    rp_error err = {0};
    assert_null(rp_cluster_connect(c, &err));
    assert_non_null(strstr(err.message, "LOADING Redis is loading the dataset in memory"));
    assert_int_equal(atomic_load(&f.accepts), 1);
    assert_int_equal(atomic_load(&c->not_ready), 1);
    assert_int_equal(c->hold_ms, 100);
    /* held: refused at once, without a connection */
    memset(&err, 0, sizeof err);
    assert_null(rp_cluster_connect(c, &err));
    assert_non_null(strstr(err.message, "not ready: no connection for"));
    assert_int_equal(atomic_load(&f.accepts), 1);
    assert_int_equal(atomic_load(&c->connected), 0);
    /* past the hold, still loading: the hold doubles */
    sleep_ms(130);
    assert_null(rp_cluster_connect(c, &err));
    assert_int_equal(atomic_load(&f.accepts), 2);
    assert_int_equal(c->hold_ms, 200);
    assert_null(rp_cluster_connect(c, &err)); /* within the 200 ms */
    assert_int_equal(atomic_load(&f.accepts), 2);
    /* loaded: the connection is handed out, the episode over */
    atomic_store(&f.loaded, true);
    sleep_ms(230);
    redisContext *ctx = rp_cluster_connect(c, &err);
    assert_non_null(ctx);
    assert_int_equal(atomic_load(&f.accepts), 3);
    assert_int_equal(c->not_ready_since_ms, 0);
    rp_cluster_disconnect(c, &ctx);
    rp_cluster_stop(c);
    fake_stop(&f);
}

/* On a connection handed out, a LOADING reply (a replica's full resync,
 * DEBUG RELOAD) fails the call that read it -- a forwarder's XADD is
 * kept and sent again, not taken for refused -- and the thread's
 * reconnect waits for the hold. BUSYGROUP is handed out as a reply. */
static void test_loading_reply_fails_the_call_and_holds_the_reconnect(void **state) {
    (void)state;
    fake_redis f;
    fake_start(&f);
    atomic_store(&f.loaded, true);
    rp_cluster *c = cluster_for(&f);
    rp_error err = {0};
    redisContext *ctx = rp_cluster_connect(c, &err);
    assert_non_null(ctx);
    redisReply *r = redisCommand(ctx, "XGROUP CREATE s g 0 MKSTREAM");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ERROR);
    assert_int_equal(strncmp(r->str, "BUSYGROUP", 9), 0);
    freeReplyObject(r);
    assert_int_equal(ctx->err, 0);
    r = redisCommand(ctx, "XADD s * e x");
    assert_null(r); /* not a reply to drop the events for: a lost connection */
    assert_int_not_equal(ctx->err, 0);
    assert_int_equal(strncmp(ctx->errstr, "LOADING Redis is loading", 24), 0);
    assert_int_equal(atomic_load(&c->not_ready), 0);
    rp_cluster_disconnect(c, &ctx);
    assert_null(ctx);
    assert_int_equal(atomic_load(&c->not_ready), 1);
    assert_int_equal(atomic_load(&c->reconnects), 1);
    memset(&err, 0, sizeof err);
    assert_null(rp_cluster_connect(c, &err)); /* held */
    assert_non_null(strstr(err.message, "LOADING Redis is loading the dataset in memory (not ready"));
    assert_int_equal(atomic_load(&f.accepts), 1);
    sleep_ms(130);
    ctx = rp_cluster_connect(c, &err);
    assert_non_null(ctx);
    assert_int_equal(atomic_load(&f.accepts), 2);
    rp_cluster_disconnect(c, &ctx);
    rp_cluster_stop(c);
    fake_stop(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reply_kinds_by_their_first_word),
        cmocka_unit_test(test_loading_redis_holds_connections_off_with_backoff),
        cmocka_unit_test(test_loading_reply_fails_the_call_and_holds_the_reconnect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
