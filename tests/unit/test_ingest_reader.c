/*
 * test_ingest_reader.c -- the line reader: plain and gzip files, line
 * endings, over-long lines, empty, missing and damaged files.
 *
 * Each test writes its input into a fresh temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "ingest.h"

static char dir[64];
static char path[128];

static int make_dir(void **state) {
    snprintf(dir, sizeof dir, "/tmp/rp-reader-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state) {
    unlink(path);
    rmdir(dir);
    return 0;
}

static const char *write_plain(const char *name, const void *data, size_t len) {
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

static const char *write_gzip(const char *name, const void *data, size_t len) {
    snprintf(path, sizeof path, "%s/%s", dir, name);
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, data, (unsigned)len), (int)len);
    assert_int_equal(gzclose(gz), Z_OK);
    return path;
}

static rp_line_reader *open_ok(const char *p) {
    rp_line_reader *r = NULL;
    rp_error err;
    assert_int_equal(rp_line_reader_open(p, &r, &err), RP_OK);
    assert_non_null(r);
    return r;
}

/* The next line must be want (NULL: a too-long line). */
static void expect_line(rp_line_reader *r, const char *want) {
    const char *line;
    size_t len;
    bool too_long;
    rp_error err;
    assert_int_equal(rp_line_reader_next(r, &line, &len, &too_long, &err), 1);
    if (!want) {
        assert_true(too_long);
        assert_int_equal(len, 0);
        return;
    }
    assert_false(too_long);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(line, want, len);
}

static void expect_end(rp_line_reader *r) {
    const char *line;
    size_t len;
    bool too_long;
    rp_error err;
    assert_int_equal(rp_line_reader_next(r, &line, &len, &too_long, &err), 0);
    assert_int_equal(rp_line_reader_next(r, &line, &len, &too_long, &err), 0);
}

static void test_reader_returns_lines_strips_cr_and_keeps_last_unterminated(void **state) {
    const char data[] = "one\r\ntwo\n\nthree";
    rp_line_reader *r = open_ok(write_plain("a.log", data, sizeof data - 1));
    assert_int_equal(rp_line_reader_size(r), sizeof data - 1);
    expect_line(r, "one");
    expect_line(r, "two");
    expect_line(r, "");
    expect_line(r, "three");
    assert_int_equal(rp_line_reader_line_number(r), 4);
    expect_end(r);
    assert_int_equal(rp_line_reader_offset(r), sizeof data - 1);
    rp_line_reader_close(r);
}

static void test_reader_empty_file_has_no_lines(void **state) {
    rp_line_reader *r = open_ok(write_plain("empty.log", "", 0));
    expect_end(r);
    assert_int_equal(rp_line_reader_line_number(r), 0);
    rp_line_reader_close(r);
}

static void test_reader_missing_file_is_enoent_with_message(void **state) {
    rp_line_reader *r = (rp_line_reader *)1;
    rp_error err;
    char want[256];
    snprintf(want, sizeof want, "%s/nope.log: No such file or directory", dir);
    snprintf(path, sizeof path, "%s/nope.log", dir);
    assert_int_equal(rp_line_reader_open(path, &r, &err), RP_ENOENT);
    assert_null(r);
    assert_string_equal(err.message, want);
}

static void test_reader_directory_is_an_error(void **state) {
    rp_line_reader *r;
    rp_error err;
    assert_int_equal(rp_line_reader_open(dir, &r, &err), RP_EIO);
    assert_non_null(strstr(err.message, "Is a directory"));
}

static void test_reader_skips_a_1mib_line_and_reads_the_next(void **state) {
    size_t big = 1024 * 1024;
    char *data = malloc(big + 64);
    size_t n = 0;
    n += (size_t)sprintf(data, "before\n");
    memset(data + n, 'x', big);
    n += big;
    n += (size_t)sprintf(data + n, "\nafter\n");
    rp_line_reader *r = open_ok(write_plain("big.log", data, n));
    expect_line(r, "before");
    expect_line(r, NULL);
    assert_int_equal(rp_line_reader_line_number(r), 2);
    expect_line(r, "after");
    assert_int_equal(rp_line_reader_line_number(r), 3);
    expect_end(r);
    rp_line_reader_close(r);
    free(data);
}

static void test_reader_long_last_line_without_newline_is_too_long_once(void **state) {
    size_t big = RP_MAX_LINE * 3;
    char *data = malloc(big);
    memset(data, 'y', big);
    rp_line_reader *r = open_ok(write_plain("tail.log", data, big));
    expect_line(r, NULL);
    expect_end(r);
    assert_int_equal(rp_line_reader_line_number(r), 1);
    rp_line_reader_close(r);
    free(data);
}

static void test_reader_line_of_exactly_max_length_is_kept(void **state) {
    char *data = malloc(RP_MAX_LINE + 3);
    memset(data, 'z', RP_MAX_LINE);
    memcpy(data + RP_MAX_LINE, "\r\n", 2);
    data[RP_MAX_LINE + 2] = 'k';
    rp_line_reader *r = open_ok(write_plain("max.log", data, RP_MAX_LINE + 3));
    const char *line;
    size_t len;
    bool too_long;
    rp_error err;
    assert_int_equal(rp_line_reader_next(r, &line, &len, &too_long, &err), 1);
    assert_false(too_long);
    assert_int_equal(len, RP_MAX_LINE);
    expect_line(r, "k");
    expect_end(r);
    rp_line_reader_close(r);
    free(data);
}

/* Many lines of varying length so that lines straddle read chunks. */
static char *numbered_lines(int count, size_t *out_len) {
    char *data = malloc((size_t)count * 64);
    size_t n = 0;
    for (int i = 0; i < count; i++) n += (size_t)sprintf(data + n, "line %d %.*s\n", i, i % 37, "abcdefghijklmnopqrstuvwxyzabcdefghijkl");
    *out_len = n;
    return data;
}

static void read_numbered(rp_line_reader *r, int count) {
    const char *line;
    size_t len;
    bool too_long;
    rp_error err;
    char want[96];
    for (int i = 0; i < count; i++) {
        assert_int_equal(rp_line_reader_next(r, &line, &len, &too_long, &err), 1);
        int n = snprintf(want, sizeof want, "line %d %.*s", i, i % 37, "abcdefghijklmnopqrstuvwxyzabcdefghijkl");
        assert_int_equal(len, (size_t)n);
        assert_memory_equal(line, want, len);
    }
    expect_end(r);
}

static void test_reader_lines_straddling_chunks_arrive_intact(void **state) {
    size_t n;
    char *data = numbered_lines(50000, &n);
    rp_line_reader *r = open_ok(write_plain("many.log", data, n));
    read_numbered(r, 50000);
    assert_int_equal(rp_line_reader_line_number(r), 50000);
    rp_line_reader_close(r);
    free(data);
}

static void test_reader_reads_gzip_transparently(void **state) {
    size_t n;
    char *data = numbered_lines(50000, &n);
    rp_line_reader *r = open_ok(write_gzip("many.log.gz", data, n));
    assert_true(rp_line_reader_size(r) < n); /* the compressed size */
    read_numbered(r, 50000);
    assert_int_equal(rp_line_reader_offset(r), rp_line_reader_size(r));
    rp_line_reader_close(r);
    free(data);
}

static void test_reader_truncated_gzip_gives_lines_then_eio(void **state) {
    size_t n;
    char *data = numbered_lines(50000, &n);
    write_gzip("cut.log.gz", data, n);
    /* Keep the first half of the compressed file. */
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, size / 2), 0);

    rp_line_reader *r = open_ok(path);
    const char *line;
    size_t len;
    bool too_long;
    rp_error err;
    int rc, lines = 0;
    while ((rc = rp_line_reader_next(r, &line, &len, &too_long, &err)) == 1) {
        char want[96];
        int k = snprintf(want, sizeof want, "line %d %.*s", lines, lines % 37,
                         "abcdefghijklmnopqrstuvwxyzabcdefghijkl");
        assert_int_equal(len, (size_t)k); /* only whole lines */
        assert_memory_equal(line, want, len);
        lines++;
    }
    assert_int_equal(rc, RP_EIO);
    assert_true(lines > 1000 && lines < 50000);
    assert_non_null(strstr(err.message, "cut.log.gz: unexpected end of compressed data"));
    /* The error is reported once; then the input is simply over. */
    assert_int_equal(rp_line_reader_next(r, &line, &len, &too_long, &err), 0);
    rp_line_reader_close(r);
    free(data);
}

static void test_reader_corrupt_gzip_is_eio_not_a_crash(void **state) {
    size_t n;
    char *data = numbered_lines(2000, &n);
    write_gzip("bad.log.gz", data, n);
    FILE *f = fopen(path, "r+b");
    fseek(f, 40, SEEK_SET);
    fwrite("\xde\xad\xbe\xef\xde\xad\xbe\xef", 1, 8, f);
    fclose(f);
    rp_line_reader *r = open_ok(path);
    const char *line;
    size_t len;
    bool too_long;
    rp_error err;
    int rc;
    while ((rc = rp_line_reader_next(r, &line, &len, &too_long, &err)) == 1) {
    }
    assert_int_equal(rc, RP_EIO);
    assert_non_null(strstr(err.message, "bad.log.gz: "));
    rp_line_reader_close(r);
    free(data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reader_returns_lines_strips_cr_and_keeps_last_unterminated, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reader_empty_file_has_no_lines, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reader_missing_file_is_enoent_with_message, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reader_directory_is_an_error, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reader_skips_a_1mib_line_and_reads_the_next, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reader_long_last_line_without_newline_is_too_long_once, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reader_line_of_exactly_max_length_is_kept, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reader_lines_straddling_chunks_arrive_intact, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reader_reads_gzip_transparently, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reader_truncated_gzip_gives_lines_then_eio, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_reader_corrupt_gzip_is_eio_not_a_crash, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
