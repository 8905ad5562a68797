/*
 * test_cluster_witness.c -- the witness hash's fields as a detector reads
 * them back (src/daemon/cluster_witness_field.c): what its writer writes parses
 * to the same key, detector, charge and expiry, and anything else --
 * another node's garbage, a hostile value -- is refused, never a crash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cluster_int.h"

static bool parse(const char *field, const char *value, rp_witness_field *w) {
    return rp_witness_parse(field, strlen(field), value, strlen(value), w);
}

static void test_a_written_field_reads_back(void **state) {
    (void)state;
    rp_witness_field w;
    assert_true(parse("username:31bf2e1b7ad8e811 auth", "0.9100 1764064800000", &w));
    assert_int_equal(w.key.level, RP_LEVEL_USERNAME);
    assert_string_equal(w.detector, "auth");
    assert_true(w.charge > 0.9099 && w.charge < 0.9101);
    assert_int_equal(w.expires_ms, 1764064800000LL);
    char text[96];
    rp_key_format(&w.key, text, sizeof text);
    assert_string_equal(text, "username:31bf2e1b7ad8e811");
    /* a fingerprint on a route, a detector name with an underscore */
    assert_true(parse("fingerprint:2e7ec81389d03eb0@00000000000000ab some_detector", "0 1", &w));
    assert_int_equal(w.key.level, RP_LEVEL_FINGERPRINT);
    assert_string_equal(w.detector, "some_detector");
    assert_true(w.charge == 0);
    /* what the writer writes */
    rp_witness_field out = {.charge = 0.87654, .expires_ms = 1764064800123LL};
    rp_key_from_id(&out.key, RP_LEVEL_FINGERPRINT, 0x2e7ec81389d03eb0ULL);
    snprintf(out.detector, sizeof out.detector, "enumeration");
    char f[128], v[48];
    rp_witness_format(&out, f, sizeof f, v, sizeof v);
    assert_string_equal(f, "fingerprint:2e7ec81389d03eb0 enumeration");
    assert_string_equal(v, "0.8765 1764064800123");
    assert_true(parse(f, v, &w));
    assert_true(rp_key_equal(&w.key, &out.key));
    assert_string_equal(w.detector, "enumeration");
    assert_true(w.charge > 0.87649 && w.charge < 0.87651);
    assert_int_equal(w.expires_ms, out.expires_ms);
}

static void test_anything_else_is_refused(void **state) {
    (void)state;
    rp_witness_field w;
    static const char *const bad_fields[] = {
        "username:31bf2e1b7ad8e811",           /* no detector */
        "username:31bf2e1b7ad8e811 ",          /* an empty one */
        "username:31bf2e1b7ad8e811 Auth",      /* not [a-z_] */
        "username:31bf2e1b7ad8e811 auth x",    /* a space in it */
        "username:31bf2e1b7ad8e811 a_detector_name_far_too_long_x",
        "username:zz auth",                    /* not a key */
        " auth",
        "",
    };
    for (size_t i = 0; i < sizeof bad_fields / sizeof bad_fields[0]; i++)
        assert_false(parse(bad_fields[i], "0.5 1764064800000", &w));
    static const char *const bad_values[] = {
        "0.5",                   /* no expiry */
        "0.5 ",                  /* an empty one */
        "0.5 17640648000x",      /* trailing garbage */
        "0.5 -5",                /* not a time */
        "1.5 1764064800000",     /* over 1 */
        "-0.1 1764064800000",    /* under 0 */
        "nan 1764064800000",
        "inf 1764064800000",
        "x 1764064800000",
        "0.5,1764064800000",
        "",
        "0.50000000000000000000000000000000000000000000000000000000000000000 1",
    };
    for (size_t i = 0; i < sizeof bad_values / sizeof bad_values[0]; i++)
        assert_false(parse("username:31bf2e1b7ad8e811 auth", bad_values[i], &w));
    /* not NUL-terminated: only the lengths given are read */
    const char field[] = "username:31bf2e1b7ad8e811 authXXXX";
    assert_true(rp_witness_parse(field, strlen(field) - 4, "0.5 9", 5, &w));
    assert_string_equal(w.detector, "auth");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_written_field_reads_back),
        cmocka_unit_test(test_anything_else_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
