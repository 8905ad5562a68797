/*
 * test_cluster_trimmed.c -- what was trimmed before the detectors' group
 * read it (cluster_lease.c, rp_cluster_sample_trimmed), against a real
 * redis-server started here on a free loopback port: counted once the
 * group has read to the stream's end, once across two detectors (the lag
 * last counted is the fleet's, in Redis), and not recounted from the lag a
 * restarted Redis gives the group.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster_int.h"
#include "ui.h"

/* The binary embeds the dashboard (build/gen/ui_assets.c); the daemon's
 * code linked here through the cluster's needs the symbols only. */
const rp_ui_asset rp_ui_assets[1];
const size_t rp_ui_asset_count = 0;

static char dir[64];
static int port;
static pid_t redis_pid;

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

/* redis-server with its AOF in dir (a restart reloads it, as a real
 * deployment's does); a connection once it answers. */
static redisContext *redis_start(void) {
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    redis_pid = fork();
    assert_true(redis_pid >= 0);
    if (redis_pid == 0) {
        freopen("/dev/null", "w", stdout);
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "yes", "--dir", dir, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 250; i++) {
        redisContext *ctx = redisConnect("127.0.0.1", port);
        if (ctx && !ctx->err) {
            redisReply *r = redisCommand(ctx, "PING");
            bool up = r && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
            if (r) freeReplyObject(r);
            if (up) return ctx;
        }
        if (ctx) redisFree(ctx);
        usleep(20000);
    }
    fail_msg("redis-server did not start on port %d", port);
    return NULL;
}

static void redis_stop(redisContext *ctx) {
    redisReply *r = redisCommand(ctx, "SHUTDOWN"); /* the AOF written, then gone */
    if (r) freeReplyObject(r);
    redisFree(ctx);
    int status;
    assert_int_equal(waitpid(redis_pid, &status, 0), redis_pid);
}

static void cmd(redisContext *ctx, const char *format, ...) {
    va_list ap;
    va_start(ap, format);
    redisReply *r = redisvCommand(ctx, format, ap);
    va_end(ap);
    assert_non_null(r);
    assert_int_not_equal(r->type, REDIS_REPLY_ERROR);
    freeReplyObject(r);
}

static void add_entries(redisContext *ctx, int n) {
    for (int i = 0; i < n; i++) redisAppendCommand(ctx, "XADD s * e x");
    for (int i = 0; i < n; i++) {
        redisReply *r;
        assert_int_equal(redisGetReply(ctx, (void **)&r), REDIS_OK);
        freeReplyObject(r);
    }
}

static void read_all(redisContext *ctx) {
    cmd(ctx, "XREADGROUP GROUP g c COUNT 100000 STREAMS s >");
}

static rp_cluster *detector(void) {
    rp_cluster_config cf;
    memset(&cf, 0, sizeof cf);
    cf.role = RP_CLUSTER_DETECTOR;
    snprintf(cf.redis, sizeof cf.redis, "127.0.0.1:%d", port);
    snprintf(cf.consumer, sizeof cf.consumer, "c");
    snprintf(cf.group, sizeof cf.group, "g");
    snprintf(cf.stream, sizeof cf.stream, "s");
    snprintf(cf.decisions, sizeof cf.decisions, "d");
    rp_cluster *c = NULL;
    rp_error err = {0};
    assert_int_equal(rp_cluster_new(NULL, &cf, &c, &err), RP_OK);
    return c;
}

static uint64_t trimmed(rp_cluster *c, redisContext *ctx) {
    assert_int_equal(rp_cluster_sample_trimmed(c, ctx, "s"), RP_OK);
    return atomic_load(&c->trimmed_unread);
}

/* What the fleet counted: a samples, b's count stands. */
static uint64_t fleet(rp_cluster *a, rp_cluster *b, redisContext *ctx) {
    return trimmed(a, ctx) + atomic_load(&b->trimmed_unread);
}

static void test_trimmed_unread_is_counted_once_and_not_from_a_restarted_redis(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rp-trimmed-test-XXXXXX");
    assert_non_null(mkdtemp(dir));
    port = free_port();
    redisContext *ctx = redis_start();
    add_entries(ctx, 1000);
    cmd(ctx, "XGROUP CREATE s g 0");
    cmd(ctx, "XREADGROUP GROUP g c COUNT 2 STREAMS s >");
    cmd(ctx, "XTRIM s MAXLEN 300"); /* 698 never delivered */
    rp_cluster *a = detector(), *b = detector();
    assert_int_equal(trimmed(a, ctx), 0); /* behind: not sampled */
    read_all(ctx);
    assert_int_equal(trimmed(a, ctx), 698);
    assert_int_equal(trimmed(a, ctx), 698); /* no growth, nothing more */
    /* a standby (or a restarted detector) counts on from the fleet's sample */
    add_entries(ctx, 500);
    cmd(ctx, "XTRIM s MAXLEN 100"); /* 400 of the new 500 unread */
    read_all(ctx);
    assert_int_equal(trimmed(b, ctx), 400);
    assert_int_equal(fleet(a, b, ctx), 698 + 400);
    /* Redis restarted from its AOF: what the group read is unknown to it
     * until the group's next delivery, which it estimates (the gap is
     * absorbed), and the lag meanwhile is its own: nothing counted */
    redis_stop(ctx);
    ctx = redis_start();
    assert_int_equal(fleet(a, b, ctx), 698 + 400);
    add_entries(ctx, 10);
    read_all(ctx);
    assert_int_equal(fleet(a, b, ctx), 698 + 400);
    /* and from there on, counted again */
    add_entries(ctx, 200);
    cmd(ctx, "XTRIM s MAXLEN 50"); /* 260 gone: the 110 read, 150 not */
    read_all(ctx);
    assert_int_equal(trimmed(b, ctx), 400 + 150);
    assert_int_equal(fleet(a, b, ctx), 698 + 400 + 150);
    redis_stop(ctx);
    redis_pid = 0;
    rp_cluster_stop(a);
    rp_cluster_stop(b);
    char rm[128];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    assert_int_equal(system(rm), 0);
}

/* A failed check leaves the redis-server it started: stopped by its PID. */
static int stop_left_redis(void **state) {
    (void)state;
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    return 0;
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            test_trimmed_unread_is_counted_once_and_not_from_a_restarted_redis, stop_left_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
