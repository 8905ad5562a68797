/*
 * test_ingest_login.c -- the login username the nginx module takes from a
 * request body (login_field.c): the top-level member only, whatever decoys
 * the body nests, escaped keys, repeats, JSON pointers and forms.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "login_field.h"

/* The value found for field in body, as a C string ("" when none). */
static const char *field_of(const char *body, const char *field) {
    static char out[300];
    size_t n = rp_login_field((const unsigned char *)body, strlen(body), field, strlen(field),
                              (unsigned char *)out, 256);
    assert_true(n <= 256);
    out[n] = 0;
    return out;
}

static void test_login_decoy_nested_before_the_real_member_is_ignored(void **state) {
    (void)state;
    assert_string_equal(field_of("{\"meta\":{\"username\":\"decoy\"},\"username\":\"bob\"}",
                                 "username"),
                        "bob");
    /* nested in arrays, in strings, after it: never taken */
    assert_string_equal(field_of("{\"a\":[{\"username\":\"x\"},[\"username\"]],"
                                 "\"note\":\"\\\"username\\\":\\\"y\\\"\",\"username\":\"bob\","
                                 "\"z\":{\"username\":\"w\"}}",
                                 "username"),
                        "bob");
    /* only nested: nothing */
    assert_string_equal(field_of("{\"meta\":{\"username\":\"decoy\"}}", "username"), "");
    assert_string_equal(field_of("[{\"username\":\"bob\"}]", "username"), "");
    /* the name as a value is not a member */
    assert_string_equal(field_of("{\"field\":\"username\",\"x\":\"y\"}", "username"), "");
}

static void test_login_escaped_key_and_value_are_unescaped(void **state) {
    (void)state;
    assert_string_equal(field_of("{\"user\\u006eame\":\"b\\u006fb\"}", "username"), "bob");
    assert_string_equal(field_of("{ \"username\" : \"a\\\"b\\\\c\\/d\" }", "username"),
                        "a\"b\\c/d");
    /* U+1F600 as a surrogate pair is its 4 UTF-8 bytes */
    assert_string_equal(field_of("{\"username\":\"\\ud83d\\ude00\"}", "username"),
                        "\xf0\x9f\x98\x80");
}

static void test_login_repeated_member_last_one_wins(void **state) {
    (void)state;
    assert_string_equal(field_of("{\"username\":\"decoy\",\"username\":\"bob\"}", "username"),
                        "bob");
    assert_string_equal(field_of("username=decoy&username=bob", "username"), "bob");
}

static void test_login_number_taken_as_text_other_values_are_not(void **state) {
    (void)state;
    assert_string_equal(field_of("{\"username\":12345}", "username"), "12345");
    assert_string_equal(field_of("{\"username\":{\"n\":\"bob\"}}", "username"), "");
    assert_string_equal(field_of("{\"username\":null}", "username"), "");
    assert_string_equal(field_of("{\"username\":true}", "username"), "");
}

static void test_login_json_pointer_walks_objects(void **state) {
    (void)state;
    const char *body = "{\"username\":\"top\",\"credentials\":{\"meta\":{\"login\":\"decoy\"},"
                       "\"login\":\"bob\"},\"a/b\":{\"~k\":\"tilde\"}}";
    assert_string_equal(field_of(body, "/credentials/login"), "bob");
    assert_string_equal(field_of(body, "/username"), "top");
    assert_string_equal(field_of(body, "/a~1b/~0k"), "tilde");
    assert_string_equal(field_of(body, "/credentials/missing"), "");
    assert_string_equal(field_of(body, "/username/login"), "");
}

static void test_login_form_field_is_decoded_and_exact(void **state) {
    (void)state;
    assert_string_equal(field_of("password=x&username=bob%40example.com", "username"),
                        "bob@example.com");
    assert_string_equal(field_of("user%6Eame=a+b", "username"), "a b");
    assert_string_equal(field_of("meta%5Busername%5D=decoy&xusername=no", "username"), "");
    assert_string_equal(field_of("username", "username"), "");
    assert_string_equal(field_of("username=", "username"), "");
}

static void test_login_hostile_bodies_are_bounded(void **state) {
    (void)state;
    /* cut short: what came before the cut */
    assert_string_equal(field_of("{\"username\":\"bob\",\"x\":{\"y\":[1,2", "username"), "bob");
    assert_string_equal(field_of("{\"username\":\"bo", "username"), "");
    assert_string_equal(field_of("{\"x\":\"\\q\",\"username\":\"bob\"}", "username"), "");
    assert_string_equal(field_of("{\"username\":\"\\u12\"}", "username"), "");
    assert_string_equal(field_of("{", "username"), "");
    assert_string_equal(field_of("", "username"), "");
    /* a value longer than the output is cut at its size */
    char body[700];
    snprintf(body, sizeof body, "{\"username\":\"%0600d\"}", 0);
    assert_int_equal(strlen(field_of(body, "username")), 256);
    /* 200,000 levels of nesting before the member: skipped without recursion */
    size_t levels = 200000;
    char *deep = malloc(2 * levels + 64);
    assert_non_null(deep);
    size_t o = (size_t)sprintf(deep, "{\"d\":");
    for (size_t i = 0; i < levels; i++) deep[o++] = '[';
    for (size_t i = 0; i < levels; i++) deep[o++] = ']';
    o += (size_t)sprintf(deep + o, ",\"username\":\"bob\"}");
    size_t n = rp_login_field((const unsigned char *)deep, o, "username", 8, (unsigned char *)body, 256);
    assert_int_equal(n, 3);
    assert_memory_equal(body, "bob", 3);
    free(deep);
    /* binary garbage never reads past the end (ASan holds us to it) */
    unsigned char junk[512];
    unsigned seed = 7;
    for (int round = 0; round < 2000; round++) {
        size_t len = (size_t)(round % 64) + 1;
        unsigned char *buf = malloc(len);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            static const char alphabet[] = "{}[]\":,\\u0a username=&%";
            buf[i] = (unsigned char)alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        buf[0] = round & 1 ? '{' : buf[0];
        rp_login_field(buf, len, "username", 8, junk, 256);
        rp_login_field(buf, len, "/a/username", 11, junk, 256);
        free(buf);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_decoy_nested_before_the_real_member_is_ignored),
        cmocka_unit_test(test_login_escaped_key_and_value_are_unescaped),
        cmocka_unit_test(test_login_repeated_member_last_one_wins),
        cmocka_unit_test(test_login_number_taken_as_text_other_values_are_not),
        cmocka_unit_test(test_login_json_pointer_walks_objects),
        cmocka_unit_test(test_login_form_field_is_decoded_and_exact),
        cmocka_unit_test(test_login_hostile_bodies_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
