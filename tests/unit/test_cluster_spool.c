/*
 * test_cluster_spool.c -- the edge's outage buffer on disk
 * (cluster_spool.c): records round-trip; a damaged, truncated, oversized
 * or foreign segment keeps its valid prefix and is counted, never read
 * past its end or believed; stray files in the spool are removed and
 * counted; segments come back in their order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster_int.h"
#include "protocol.h"
#include "ui.h"

/* The binary embeds the dashboard (build/gen/ui_assets.c); the daemon's
 * code linked here through the cluster's needs the symbols only. */
const rp_ui_asset rp_ui_assets[1];
const size_t rp_ui_asset_count = 0;

#define CAP (1u << 20)

static char dir[64];

static int make_dir(void **state) {
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/rp-spool-test-%d-XXXXXX", (int)getpid());
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int remove_dir(void **state) {
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A segment of n records of 100 bytes each (record i filled with i). */
static size_t write_segment(uint64_t seq, int n, uint8_t *copy) {
    int fd = rp_spool_create(dir, seq);
    assert_true(fd >= 0);
    uint8_t rec[100], buf[200];
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        memset(rec, i, sizeof rec);
        size_t k = rp_spool_record_put(buf, rec, sizeof rec);
        assert_int_equal(write(fd, buf, k), (ssize_t)k);
        if (copy) memcpy(copy + total, buf, k);
        total += k;
    }
    close(fd);
    return total;
}

static void test_a_record_round_trips_and_a_bad_one_is_refused(void **state) {
    (void)state;
    uint8_t buf[64], rec[] = "an event's bytes";
    size_t k = rp_spool_record_put(buf, rec, sizeof rec);
    assert_int_equal(k, RP_SPOOL_RECORD_HEAD + sizeof rec);
    const uint8_t *got;
    uint32_t len;
    assert_int_equal(rp_spool_record_get(buf, k, &got, &len), k);
    assert_int_equal(len, sizeof rec);
    assert_memory_equal(got, rec, sizeof rec);
    assert_int_equal(rp_spool_record_get(buf, k - 1, &got, &len), 0); /* cut */
    assert_int_equal(rp_spool_record_get(buf, 7, &got, &len), 0);     /* no head */
    buf[RP_SPOOL_RECORD_HEAD + 3] ^= 0x20;                              /* a flipped bit */
    assert_int_equal(rp_spool_record_get(buf, k, &got, &len), 0);
    uint32_t huge = RP_PROTO_MAX_DATAGRAM + 1, zero = 0;
    memcpy(buf, &huge, 4);
    assert_int_equal(rp_spool_record_get(buf, sizeof buf, &got, &len), 0);
    memcpy(buf, &zero, 4);
    assert_int_equal(rp_spool_record_get(buf, sizeof buf, &got, &len), 0);
}

static void test_a_segment_reads_back_whole(void **state) {
    (void)state;
    uint8_t *copy = malloc(CAP), *data = malloc(CAP);
    size_t total = write_segment(1, 50, copy);
    char path[128];
    rp_spool_path(dir, 1, path, sizeof path);
    rp_spool_segment seg;
    rp_error err = {0};
    assert_int_equal(rp_spool_read(path, data, CAP, &seg, &err), RP_OK);
    assert_false(seg.damaged);
    assert_int_equal(seg.events, 50);
    assert_int_equal(seg.used, total);
    assert_memory_equal(data, copy, total);
    free(copy);
    free(data);
}

static void test_a_truncated_or_damaged_segment_keeps_its_valid_prefix(void **state) {
    (void)state;
    uint8_t *data = malloc(CAP);
    size_t total = write_segment(2, 10, NULL), one = RP_SPOOL_RECORD_HEAD + 100;
    char path[128];
    rp_spool_path(dir, 2, path, sizeof path);
    /* cut in the middle of the 8th record, as a host crash might */
    assert_int_equal(truncate(path, (off_t)(RP_SPOOL_HEAD + 7 * one + 30)), 0);
    rp_spool_segment seg;
    rp_error err = {0};
    assert_int_equal(rp_spool_read(path, data, CAP, &seg, &err), RP_OK);
    assert_true(seg.damaged);
    assert_int_equal(seg.events, 7);
    assert_int_equal(seg.used, 7 * one);
    assert_int_equal(seg.skipped_bytes, 30);
    /* a byte of the 3rd record's payload flipped: records 1-2 kept */
    write_segment(3, 10, NULL);
    rp_spool_path(dir, 3, path, sizeof path);
    FILE *f = fopen(path, "r+");
    assert_non_null(f);
    fseek(f, (long)(RP_SPOOL_HEAD + 2 * one + RP_SPOOL_RECORD_HEAD + 50), SEEK_SET);
    fputc(0xff, f);
    fclose(f);
    assert_int_equal(rp_spool_read(path, data, CAP, &seg, &err), RP_OK);
    assert_true(seg.damaged);
    assert_int_equal(seg.events, 2);
    assert_int_equal(seg.skipped_bytes, total - 2 * one);
    free(data);
}

static void test_a_foreign_or_oversized_segment_is_refused_within_its_cap(void **state) {
    (void)state;
    uint8_t *data = malloc(CAP);
    char path[128];
    rp_spool_path(dir, 4, path, sizeof path);
    FILE *f = fopen(path, "w");
    fputs("NOTSPOOL and then anything at all", f);
    fclose(f);
    rp_spool_segment seg;
    rp_error err = {0};
    assert_int_equal(rp_spool_read(path, data, CAP, &seg, &err), RP_OK);
    assert_true(seg.damaged);
    assert_int_equal(seg.events, 0);
    /* valid records, but more of them than a chunk holds: read up to cap */
    size_t cap = 5 * (RP_SPOOL_RECORD_HEAD + 100);
    write_segment(5, 20, NULL);
    rp_spool_path(dir, 5, path, sizeof path);
    assert_int_equal(rp_spool_read(path, data, cap, &seg, &err), RP_OK);
    assert_true(seg.damaged);
    assert_int_equal(seg.events, 5);
    assert_int_equal(seg.used, cap);
    /* empty after its magic: nothing, not damaged */
    write_segment(6, 0, NULL);
    rp_spool_path(dir, 6, path, sizeof path);
    assert_int_equal(rp_spool_read(path, data, CAP, &seg, &err), RP_OK);
    assert_false(seg.damaged);
    assert_int_equal(seg.events, 0);
    rp_spool_path(dir, 99, path, sizeof path);
    assert_int_equal(rp_spool_read(path, data, CAP, &seg, &err), RP_EIO); /* missing */
    free(data);
}

/* The forwarded count in the head: a segment read back resumes after it,
 * at a record's boundary; a count past the records is damage. */
static void test_a_segment_resumes_after_its_forwarded_count(void **state) {
    (void)state;
    uint8_t *data = malloc(CAP);
    size_t one = RP_SPOOL_RECORD_HEAD + 100;
    write_segment(7, 10, NULL);
    char path[128];
    rp_spool_path(dir, 7, path, sizeof path);
    int fd = -1;
    assert_true(rp_spool_mark(dir, 7, &fd, 3 * one));
    assert_true(fd >= 0);
    rp_spool_segment seg;
    rp_error err = {0};
    assert_int_equal(rp_spool_read(path, data, CAP, &seg, &err), RP_OK);
    assert_false(seg.damaged);
    assert_int_equal(seg.read, 3 * one);
    assert_int_equal(seg.events, 7);
    assert_int_equal(seg.used, 10 * one);
    const uint8_t *rec;
    uint32_t len;
    assert_int_equal(rp_spool_record_get(data + seg.read, seg.used - seg.read, &rec, &len), one);
    assert_int_equal(rec[0], 3); /* the 4th record is the first not forwarded */
    assert_true(rp_spool_mark(dir, 7, &fd, 3 * one + 5)); /* off a boundary */
    assert_int_equal(rp_spool_read(path, data, CAP, &seg, &err), RP_OK);
    assert_int_equal(seg.read, 4 * one);
    assert_int_equal(seg.events, 6);
    assert_true(rp_spool_mark(dir, 7, &fd, 11 * one)); /* past the records */
    assert_int_equal(rp_spool_read(path, data, CAP, &seg, &err), RP_OK);
    assert_true(seg.damaged);
    assert_int_equal(seg.events, 0);
    /* a mark does not append: the records are as they were */
    assert_true(rp_spool_mark(dir, 7, &fd, 0));
    assert_int_equal(rp_spool_read(path, data, CAP, &seg, &err), RP_OK);
    assert_false(seg.damaged);
    assert_int_equal(seg.events, 10);
    close(fd);
    free(data);
}

static void test_the_list_is_in_order_and_removes_stray_files(void **state) {
    (void)state;
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -f '%s'/*", dir);
    assert_int_equal(system(cmd), 0);
    write_segment(0x10, 1, NULL);
    write_segment(0x2, 1, NULL);
    write_segment(0xabc, 1, NULL);
    const char *stray[] = {"junk", "0000000000000002.seg.tmp", "000000000000000G.seg",
                           "00000000000000002.seg"};
    char path[160];
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, stray[i]);
        FILE *f = fopen(path, "w");
        fclose(f);
    }
    uint64_t seqs[8];
    unsigned foreign = 0;
    assert_int_equal(rp_spool_list(dir, seqs, 8, &foreign), 3);
    assert_int_equal(foreign, 4);
    assert_int_equal(seqs[0], 0x2);
    assert_int_equal(seqs[1], 0x10);
    assert_int_equal(seqs[2], 0xabc);
    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, stray[i]);
        assert_int_not_equal(access(path, F_OK), 0);
    }
    foreign = 0;
    assert_int_equal(rp_spool_list(dir, seqs, 2, &foreign), 2); /* the bound */
    assert_int_equal(foreign, 1);
    foreign = 0;
    assert_int_equal(rp_spool_list("/nonexistent-spool", seqs, 8, &foreign), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_record_round_trips_and_a_bad_one_is_refused),
        cmocka_unit_test(test_a_segment_reads_back_whole),
        cmocka_unit_test(test_a_truncated_or_damaged_segment_keeps_its_valid_prefix),
        cmocka_unit_test(test_a_foreign_or_oversized_segment_is_refused_within_its_cap),
        cmocka_unit_test(test_a_segment_resumes_after_its_forwarded_count),
        cmocka_unit_test(test_the_list_is_in_order_and_removes_stray_files),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
