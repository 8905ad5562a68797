/*
 * test_recent.c -- the daemon's ring of recent events: bounded, ordered,
 * oldest dropped first, every held event intact.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "recent.h"

typedef struct walk {
    uint64_t n;
    int64_t last_ts;
    bool ordered, intact;
} walk;

static bool visit(void *user, const rp_event *ev) {
    walk *w = user;
    if (w->n && ev->ts_us != w->last_ts + 1) w->ordered = false;
    char want[64];
    snprintf(want, sizeof want, "/api/products/%lld", (long long)ev->ts_us);
    if (ev->path.len != strlen(want) || memcmp(ev->path.ptr, want, ev->path.len) != 0)
        w->intact = false;
    w->last_ts = ev->ts_us;
    w->n++;
    return true;
}

static void push(rp_recent *r, int64_t ts, size_t pad) {
    static char path[64], ua[2048];
    rp_event ev;
    memset(&ev, 0, sizeof ev);
    ev.ts_us = ts;
    ev.upstream_us = -1;
    snprintf(path, sizeof path, "/api/products/%lld", (long long)ts);
    ev.path.ptr = path;
    ev.path.len = (uint32_t)strlen(path);
    memset(ua, 'a', pad);
    ev.user_agent.ptr = ua;
    ev.user_agent.len = (uint32_t)pad;
    rp_recent_push(r, &ev);
}

static void test_recent_keeps_the_newest_events_in_order_within_its_bytes(void **s) {
    (void)s;
    rp_recent *r;
    assert_int_equal(rp_recent_new(256 * 1024, &r), RP_OK);
    for (int64_t ts = 1; ts <= 100000; ts++) push(r, ts, (size_t)(ts * 7 % 900)); /* varied sizes */
    walk w = {.ordered = true, .intact = true};
    rp_recent_each(r, visit, &w);
    assert_true(w.ordered);
    assert_true(w.intact);
    assert_int_equal(w.n, rp_recent_count(r));
    assert_int_equal(w.last_ts, 100000); /* the newest is there */
    assert_true(w.n > 200 && w.n < 5000); /* bounded by bytes, not by count */
    assert_int_equal(rp_recent_oldest_us(r), 100000 - (int64_t)w.n + 1);
    rp_recent_free(r);
}

/* A flood of 146,145 requests once showed as 65535 (issue 11): the ring
 * holds and counts them all when its bytes allow, no 16-bit limit. */
static void test_recent_holds_a_flood_past_65535_events(void **s) {
    (void)s;
    rp_recent *r;
    assert_int_equal(rp_recent_new(32u << 20, &r), RP_OK);
    for (int64_t ts = 1; ts <= 146145; ts++) push(r, ts, 0);
    walk w = {.ordered = true, .intact = true};
    rp_recent_each(r, visit, &w);
    assert_int_equal(rp_recent_count(r), 146145);
    assert_int_equal(w.n, 146145);
    assert_true(w.ordered);
    assert_true(w.intact);
    assert_int_equal(rp_recent_oldest_us(r), 1);
    rp_recent_free(r);
}

static void test_recent_empty_ring_visits_nothing(void **s) {
    (void)s;
    rp_recent *r;
    assert_int_equal(rp_recent_new(64 * 1024, &r), RP_OK);
    walk w = {.ordered = true, .intact = true};
    rp_recent_each(r, visit, &w);
    assert_int_equal(w.n, 0);
    assert_int_equal(rp_recent_oldest_us(r), 0);
    rp_recent_free(r);
    assert_int_equal(rp_recent_new(100, &r), RP_EINVAL); /* too small to hold one event */
    assert_null(r);
    rp_recent_free(NULL);
}

/* What-if replays a copy taken under the engine lock: the copy visits the
 * same events in the same order whether the ring has wrapped or not, and
 * what the live ring takes after the copy does not reach it. */
static void test_recent_copy_holds_the_same_events_wrapped_or_not(void **s) {
    (void)s;
    rp_recent *r, *c, *small;
    assert_int_equal(rp_recent_new(64 * 1024, &r), RP_OK);
    assert_int_equal(rp_recent_new(64 * 1024, &c), RP_OK);
    int64_t ts = 0;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 37 + round * 11; i++) ts++, push(r, ts, (size_t)(ts * 13 % 700));
        assert_int_equal(rp_recent_copy(c, r), RP_OK);
        walk a = {.ordered = true, .intact = true}, b = {.ordered = true, .intact = true};
        rp_recent_each(r, visit, &a);
        rp_recent_each(c, visit, &b);
        assert_true(b.ordered && b.intact);
        assert_int_equal(b.n, a.n);
        assert_int_equal(b.last_ts, ts);
        assert_int_equal(rp_recent_oldest_us(c), rp_recent_oldest_us(r));
    }
    push(r, ts + 1, 0);
    walk b = {.ordered = true, .intact = true};
    rp_recent_each(c, visit, &b);
    assert_int_equal(b.last_ts, ts);
    assert_int_equal(rp_recent_new(128 * 1024, &small), RP_OK);
    assert_int_equal(rp_recent_copy(small, r), RP_EINVAL); /* sizes differ */
    rp_recent_free(small);
    rp_recent_free(c);
    rp_recent_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recent_keeps_the_newest_events_in_order_within_its_bytes),
        cmocka_unit_test(test_recent_empty_ring_visits_nothing),
        cmocka_unit_test(test_recent_holds_a_flood_past_65535_events),
        cmocka_unit_test(test_recent_copy_holds_the_same_events_wrapped_or_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
