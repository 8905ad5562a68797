/*
 * test_cluster_journal.c -- the journal of the operators' unpublished
 * decisions and removals (cluster_journal.c, <store>.unpublished): a line
 * round-trips, a damaged, truncated or hostile file costs counted skips
 * and one line's memory, never a crash or a half-believed item, and the
 * journal follows the publisher's queue across a restart.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_int.h"
#include "ui.h"

/* The binary embeds the dashboard (build/gen/ui_assets.c); the daemon's
 * code linked here through the cluster's needs the symbols only. */
const rp_ui_asset rp_ui_assets[1];
const size_t rp_ui_asset_count = 0;

#define NOW 1796173528000000LL

static publish_item block_item(const char *ip, int64_t start) {
    publish_item it = {.durable = true};
    assert_int_equal(rp_key_parse(ip, strlen(ip), &it.decision.key), RP_OK);
    it.decision.action = RP_ACTION_BLOCK;
    it.decision.start_us = start;
    it.decision.expires_us = start + 600000000LL;
    return it;
}

static void write_file(const char *path, const char *text, size_t len) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static char *temp_path(char *buf, size_t size) {
    snprintf(buf, size, "/tmp/rp-journal-test-%d-XXXXXX", (int)getpid());
    int fd = mkstemp(buf);
    assert_true(fd >= 0);
    close(fd);
    unlink(buf);
    return buf;
}

static void test_a_line_round_trips_a_decision_and_a_removal(void **state) {
    (void)state;
    publish_item put = block_item("ip:203.0.113.9", NOW), del = {.removal = true, .durable = true};
    assert_int_equal(rp_key_parse("ip:203.0.113.5", 14, &del.decision.key), RP_OK);
    del.decision.start_us = NOW + 5;
    char line[400], back_text[128], key_text[128];
    size_t n = rp_journal_format_item(&put, line, sizeof line);
    assert_true(n > 0 && line[n - 1] == '\n');
    assert_string_equal(line + 9, "P ip:203.0.113.9 3 1796173528000000 1796174128000000 0 0.000 manual -\n");
    publish_item back;
    assert_true(rp_journal_parse_line(line, n - 1, &back));
    assert_false(back.removal);
    assert_true(back.durable);
    assert_int_equal(back.decision.action, RP_ACTION_BLOCK);
    assert_int_equal(back.decision.start_us, NOW);
    assert_int_equal(back.decision.expires_us, NOW + 600000000LL);
    rp_key_format(&back.decision.key, back_text, sizeof back_text);
    assert_string_equal(back_text, "ip:203.0.113.9");
    n = rp_journal_format_item(&del, line, sizeof line);
    assert_string_equal(line + 9, "D ip:203.0.113.5 1796173528000005\n");
    assert_true(rp_journal_parse_line(line, n - 1, &back));
    assert_true(back.removal);
    assert_int_equal(back.decision.start_us, NOW + 5);
    rp_key_format(&back.decision.key, key_text, sizeof key_text);
    assert_string_equal(key_text, "ip:203.0.113.5");
    assert_int_equal(rp_journal_format_item(&put, line, 20), 0); /* does not fit */
}

static void test_a_damaged_line_is_refused_by_its_checksum(void **state) {
    (void)state;
    publish_item put = block_item("ip:203.0.113.9", NOW), back;
    char line[400];
    size_t n = rp_journal_format_item(&put, line, sizeof line) - 1;
    char copy[400];
    memcpy(copy, line, n);
    copy[n - 7] ^= 1; /* a bit of the score flipped: still a valid-looking line */
    assert_false(rp_journal_parse_line(copy, n, &back));
    memcpy(copy, line, n);
    copy[26] = '4'; /* block turned into allow */
    assert_false(rp_journal_parse_line(copy, n, &back));
    assert_false(rp_journal_parse_line(line, n - 3, &back)); /* cut short */
    memcpy(copy, line, n);
    copy[12] = 0; /* a NUL inside */
    assert_false(rp_journal_parse_line(copy, n, &back));
    assert_false(rp_journal_parse_line("", 0, &back));
    assert_false(rp_journal_parse_line("zzzzzzzz P", 10, &back));
}

/* A line that checks out but is not an operator's item is refused too:
 * written by something else, it must not be published as one. */
static void test_well_formed_but_foreign_lines_are_refused(void **state) {
    (void)state;
    publish_item back;
    char line[400];
    const char *bodies[] = {
        "P ip:203.0.113.9 3 1796173528000000 1796174128000000 42 0.900", /* an engine's */
        "E ip:203.0.113.9 3 1796173528000000 1796174128000000 0 0.000 manual -", /* an operator's */
        "X ip:203.0.113.9 1796173528000000",                             /* unknown op */
        "D ip:203.0.113.9 -5",                                           /* time <= 0 */
        "D ip:203.0.113.9 17961735x",                                    /* junk after */
        "D not-a-key 1796173528000000",                                  /* no key */
        "P ip:203.0.113.9 9 1796173528000000 1796174128000000 0 0.000",  /* no action 9 */
        "P ip:203.0.113.9 3 1796174128000000 1796173528000000 0 0.000",  /* ends before start */
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        uint32_t h = 2166136261u;
        for (const char *p = bodies[i]; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
        int n = snprintf(line, sizeof line, "%08x %s", h, bodies[i]);
        assert_false(rp_journal_parse_line(line, (size_t)n, &back));
    }
}

static void test_read_restores_in_order_and_counts_what_it_skips(void **state) {
    (void)state;
    char path[64], text[2048], line[400];
    temp_path(path, sizeof path);
    size_t len = 0;
    publish_item a = block_item("ip:203.0.113.1", NOW), b = block_item("ip:203.0.113.2", NOW + 1),
                 old = block_item("ip:203.0.113.3", NOW - 900000000LL);
    len += rp_journal_format_item(&a, text + len, sizeof text - len);
    size_t n = rp_journal_format_item(&b, line, sizeof line);
    line[20] ^= 1; /* damaged */
    memcpy(text + len, line, n);
    len += n;
    len += rp_journal_format_item(&old, text + len, sizeof text - len); /* expired by now */
    len += rp_journal_format_item(&b, text + len, sizeof text - len);
    n = rp_journal_format_item(&a, line, sizeof line);
    memcpy(text + len, line, n - 10); /* the last line, cut by a crash */
    len += n - 10;
    write_file(path, text, len);
    publish_item *head = NULL;
    rp_journal_counts counts;
    rp_error err = {0};
    assert_int_equal(rp_journal_read(path, NOW + 1000, &head, &counts, &err), RP_OK);
    assert_int_equal(counts.restored, 2);
    assert_int_equal(counts.skipped, 2);
    assert_int_equal(counts.expired, 1);
    assert_non_null(head);
    assert_int_equal(head->decision.start_us, NOW);
    assert_non_null(head->next);
    assert_int_equal(head->next->decision.start_us, NOW + 1);
    assert_null(head->next->next);
    free(head->next);
    free(head);
    unlink(path);
}

/* A gigabyte-class line is not needed to prove the bound: a line of
 * 1 MiB without a newline, binary junk, then a good line. */
static void test_a_hostile_file_costs_skips_not_memory(void **state) {
    (void)state;
    char path[64], line[400];
    temp_path(path, sizeof path);
    size_t big = 1u << 20;
    char *text = malloc(big + 1024);
    assert_non_null(text);
    memset(text, 'A', big);
    text[big] = '\n';
    size_t len = big + 1;
    for (int i = 0; i < 256; i++) text[len++] = (char)i; /* NUL and a newline among them */
    text[len++] = '\n';
    publish_item a = block_item("ip:203.0.113.1", NOW);
    size_t n = rp_journal_format_item(&a, line, sizeof line);
    memcpy(text + len, line, n);
    len += n;
    write_file(path, text, len);
    free(text);
    publish_item *head = NULL;
    rp_journal_counts counts;
    rp_error err = {0};
    assert_int_equal(rp_journal_read(path, NOW, &head, &counts, &err), RP_OK);
    assert_int_equal(counts.restored, 1);
    assert_int_equal(counts.skipped, 3); /* the long line, the junk before and after '\n' */
    assert_non_null(head);
    assert_null(head->next);
    free(head);
    unlink(path);
}

static void test_a_missing_journal_is_empty_and_an_empty_one_is_removed(void **state) {
    (void)state;
    char path[64];
    temp_path(path, sizeof path);
    publish_item *head = (publish_item *)1;
    rp_journal_counts counts;
    rp_error err = {0};
    assert_int_equal(rp_journal_read(path, NOW, &head, &counts, &err), RP_OK);
    assert_null(head);
    assert_int_equal(counts.restored + counts.skipped + counts.expired, 0);
    assert_int_equal(rp_journal_write(path, "x\n", 2, &err), RP_OK);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(rp_journal_write(path, "", 0, &err), RP_OK);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(rp_journal_write(path, "", 0, &err), RP_OK); /* already gone: fine */
    assert_int_equal(rp_journal_write("/nonexistent-dir/j", "x\n", 2, &err), RP_EIO);
}

static rp_cluster *cluster_with_journal(const char *path) {
    rp_cluster_config cf;
    memset(&cf, 0, sizeof cf);
    cf.role = RP_CLUSTER_EDGE;
    snprintf(cf.redis, sizeof cf.redis, "127.0.0.1:1");
    snprintf(cf.consumer, sizeof cf.consumer, "test-node");
    snprintf(cf.stream, sizeof cf.stream, "rampart:events");
    snprintf(cf.decisions, sizeof cf.decisions, "rampart:decisions");
    rp_cluster *c = NULL;
    rp_error err = {0};
    assert_int_equal(rp_cluster_new(NULL, &cf, &c, &err), RP_OK);
    snprintf(c->journal_path, sizeof c->journal_path, "%s", path);
    return c;
}

/* The manual items queued are in the file as soon as they are queued (an
 * engine's decision is not); a new node on the same file restores them in
 * their order, in front of its queue. */
/* The fleet's value names who decided, and a value an older node wrote
 * (the five numbers only) still parses, its detector unknown. */
static void test_a_value_carries_its_detector_and_an_older_one_parses(void **state) {
    (void)state;
    int scan = rp_detector_find("scan", 4);
    assert_true(scan >= 0);
    rp_decision dec = {.action = RP_ACTION_BLOCK,
                       .start_us = NOW,
                       .expires_us = NOW + 600000000LL,
                       .incident_id = 7,
                       .score = 91.5};
    assert_int_equal(rp_key_parse("ip:203.0.113.20", 15, &dec.key), RP_OK);
    char value[128];
    rp_cluster_format_value(&dec, scan, value, sizeof value);
    assert_string_equal(value, "3 1796173528000000 1796174128000000 7 91.500 engine scan");
    rp_decision back;
    int detector = -2;
    assert_true(rp_cluster_parse_value("ip:203.0.113.20", 15, value, strlen(value), &back,
                                       &detector));
    assert_int_equal(detector, scan);
    assert_int_equal(back.incident_id, 7);
    assert_int_equal(back.expires_us, NOW + 600000000LL);

    const char *older = "3 1796173528000000 1796174128000000 7 91.500";
    assert_true(rp_cluster_parse_value("ip:203.0.113.20", 15, older, strlen(older), &back,
                                       &detector));
    assert_int_equal(detector, RP_REFUSED_UNKNOWN);
    assert_int_equal(back.action, RP_ACTION_BLOCK);
    /* a detector this build does not know, and a manual decision's "-" */
    const char *newer = "3 1796173528000000 1796174128000000 7 91.500 engine telepathy";
    assert_true(rp_cluster_parse_value("ip:203.0.113.20", 15, newer, strlen(newer), &back,
                                       &detector));
    assert_int_equal(detector, RP_REFUSED_UNKNOWN);
    dec.incident_id = 0;
    rp_cluster_format_value(&dec, RP_REFUSED_UNKNOWN, value, sizeof value);
    assert_string_equal(value, "3 1796173528000000 1796174128000000 0 91.500 manual -");
    assert_true(rp_cluster_parse_value("ip:203.0.113.20", 15, value, strlen(value), &back,
                                       &detector));
    assert_int_equal(detector, RP_REFUSED_UNKNOWN);
    assert_int_equal(back.incident_id, 0);
}

static void test_the_journal_follows_the_queue_across_a_restart(void **state) {
    (void)state;
    char path[64];
    temp_path(path, sizeof path);
    rp_cluster *c = cluster_with_journal(path);
    int64_t now = rp_wall_us();
    publish_item m = block_item("ip:203.0.113.9", now), e = block_item("ip:198.51.100.1", now);
    e.decision.incident_id = 7;
    rp_cluster_publish_manual(c, &m.decision);
    rp_cluster_publish(c, &e.decision);
    rp_cluster_publish_removal(c, &m.decision.key, now + 1);
    assert_int_equal(c->publish_pending, 3);
    rp_cluster_stop(c); /* never connected: the queue is freed, the file stays */
    c = cluster_with_journal(path);
    rp_cluster_journal_restore(c);
    assert_int_equal(atomic_load(&c->journal_restored), 2);
    assert_int_equal(c->publish_pending, 2);
    publish_item *it = c->publish_head;
    assert_true(it->durable && !it->removal && it->decision.action == RP_ACTION_BLOCK);
    assert_true(it->next->durable && it->next->removal);
    assert_int_equal(it->next->decision.start_us, now + 1);
    /* acknowledged (the publisher's way: out of the queue, then saved) */
    c->publish_head = c->publish_tail = NULL;
    c->publish_pending = 0;
    rp_cluster_journal_save(c);
    assert_int_not_equal(access(path, F_OK), 0);
    free(it->next);
    free(it);
    rp_cluster_stop(c);
}

/* Local detection's decisions (an engine's, with an incident): appended
 * one line each, bounded and counted when full, the file gone once every
 * one is acknowledged; at start moved into the operators' journal. */
static void test_local_decisions_are_appended_bounded_and_moved_at_start(void **state) {
    (void)state;
    char path[64], local[80];
    temp_path(path, sizeof path);
    snprintf(local, sizeof local, "%s-local", path);
    rp_cluster *c = cluster_with_journal(path);
    snprintf(c->local_journal_path, sizeof c->local_journal_path, "%s", local);
    int64_t now = rp_wall_us();
    publish_item a = block_item("ip:203.0.113.20", now), b = block_item("ip:203.0.113.21", now);
    a.durable = b.durable = false;
    a.local = b.local = true;
    a.decision.incident_id = 7, b.decision.incident_id = 8;
    a.detector = rp_detector_find("scan", 4);
    b.detector = RP_REFUSED_UNKNOWN;
    assert_true(rp_journal_local_append(c, &a));
    assert_true(rp_journal_local_append(c, &b));
    assert_int_equal(c->local_journal_pending, 2);
    /* acknowledged: one, then the other, and the file goes */
    rp_journal_local_done(c, 1);
    assert_int_equal(access(local, F_OK), 0);
    rp_journal_local_done(c, 1);
    assert_int_not_equal(access(local, F_OK), 0);
    /* the bound */
    c->local_journal_lines = RP_JOURNAL_LOCAL_MAX;
    assert_false(rp_journal_local_append(c, &a));
    assert_int_equal(atomic_load(&c->local_journal_full), 1);
    c->local_journal_lines = 0;
    assert_true(rp_journal_local_append(c, &a));
    assert_true(rp_journal_local_append(c, &b));
    rp_cluster_stop(c); /* a kill: the appended file stays */

    c = cluster_with_journal(path);
    snprintf(c->local_journal_path, sizeof c->local_journal_path, "%s", local);
    rp_cluster_journal_restore(c);
    assert_int_equal(atomic_load(&c->journal_restored), 2);
    assert_int_equal(c->publish_pending, 2);
    publish_item *it = c->publish_head;
    assert_true(it->durable && !it->local && it->decision.incident_id == 7);
    assert_int_equal(it->detector, rp_detector_find("scan", 4));
    assert_int_equal(it->next->decision.incident_id, 8);
    assert_int_equal(it->next->detector, RP_REFUSED_UNKNOWN);
    assert_int_not_equal(access(local, F_OK), 0); /* moved */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[400];
    assert_non_null(fgets(line, sizeof line, f));
    assert_non_null(strstr(line, " E ip:203.0.113.20 3 "));
    assert_non_null(strstr(line, " 7 0.000 engine scan\n"));
    fclose(f);
    unlink(path);
    rp_cluster_stop(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_line_round_trips_a_decision_and_a_removal),
        cmocka_unit_test(test_a_damaged_line_is_refused_by_its_checksum),
        cmocka_unit_test(test_well_formed_but_foreign_lines_are_refused),
        cmocka_unit_test(test_read_restores_in_order_and_counts_what_it_skips),
        cmocka_unit_test(test_a_hostile_file_costs_skips_not_memory),
        cmocka_unit_test(test_a_missing_journal_is_empty_and_an_empty_one_is_removed),
        cmocka_unit_test(test_a_value_carries_its_detector_and_an_older_one_parses),
        cmocka_unit_test(test_the_journal_follows_the_queue_across_a_restart),
        cmocka_unit_test(test_local_decisions_are_appended_bounded_and_moved_at_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
