/* test_admin_config.c -- what GET /v1/config shows without the token, and
 * how POST /v1/config writes the file (src/daemon/admin_config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "admin_config.h"

static const char *const CONFIG = "# acme's key is acme-live-7f3a9c (rotate in May)\n"
                                  "allow:\n"
                                  "  cidrs: [10.0.0.0/8]\n"
                                  "  tokens: [acme-live-7f3a9c, \"beta: key#2\", &k gamma-key-0042]\n"
                                  "engine:\n"
                                  "  clients: { token: 65536 }\n"
                                  "  levels: [ip, token]\n"
                                  "other: *k\n"
                                  "serve:\n"
                                  "  token_file: /etc/rampart/admin.token\n"
                                  "  redis_password: hunter2-xyz\n";

static char *redact(const char *text) {
    char *out;
    size_t len;
    assert_int_equal(rp_config_redact(text, strlen(text), &out, &len), RP_OK);
    assert_int_equal(strlen(out), len);
    return out;
}

static void test_redact_removes_allowlisted_tokens_everywhere(void **state) {
    (void)state;
    char *r = redact(CONFIG);
    assert_null(strstr(r, "acme-live-7f3a9c"));
    assert_null(strstr(r, "beta: key#2"));
    assert_null(strstr(r, "gamma-key-0042"));
    assert_null(strstr(r, "hunter2"));
    /* what is not a secret stays as written */
    assert_non_null(strstr(r, "# acme's key is rampart-redacted-1 (rotate in May)\n"));
    assert_non_null(strstr(r, "tokens: [rampart-redacted-1, rampart-redacted-2, rampart-redacted-3]"));
    assert_non_null(strstr(r, "clients: { token: 65536 }"));
    assert_non_null(strstr(r, "token_file: /etc/rampart/admin.token"));
    assert_non_null(strstr(r, "10.0.0.0/8"));
    free(r);
}

static void test_redact_of_a_broken_file_shows_nothing(void **state) {
    (void)state;
    char *r = redact("allow: { tokens: [secret-one\n");
    assert_null(strstr(r, "secret-one"));
    free(r);
}

static void test_unredact_restores_the_current_secrets(void **state) {
    (void)state;
    char *r = redact(CONFIG);
    char *back;
    size_t len;
    rp_error err = {0};
    assert_int_equal(rp_config_unredact(CONFIG, strlen(CONFIG), r, strlen(r), &back, &len, &err), RP_OK);
    assert_string_equal(back, CONFIG);
    free(back);
    const char *bad = "allow: { tokens: [rampart-redacted-9] }\n";
    assert_int_equal(rp_config_unredact(CONFIG, strlen(CONFIG), bad, strlen(bad), &back, &len, &err),
                     RP_EINVAL);
    assert_non_null(strstr(err.message, "rampart-redacted-9"));
    free(r);
}

static void test_write_keeps_mode_and_writes_through_a_link(void **state) {
    (void)state;
    char dir[] = "/tmp/rp-admin-config-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char real[300], link[300];
    snprintf(real, sizeof real, "%s/real.yaml", dir);
    snprintf(link, sizeof link, "%s/rampart.yaml", dir);
    FILE *f = fopen(real, "w");
    fputs("old\n", f);
    fclose(f);
    chmod(real, 0600);
    assert_int_equal(symlink("real.yaml", link), 0);
    rp_error err = {0};
    assert_int_equal(rp_config_file_write(link, "new: 1\n", 7, &err), RP_OK);
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(stat(real, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    char buf[32] = {0};
    f = fopen(real, "r");
    assert_int_equal(fread(buf, 1, sizeof buf - 1, f), 7);
    fclose(f);
    assert_string_equal(buf, "new: 1\n");
    /* nothing left behind */
    char cmd[400];
    snprintf(cmd, sizeof cmd, "test $(ls -A %s | wc -l) -eq 2", dir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redact_removes_allowlisted_tokens_everywhere),
        cmocka_unit_test(test_redact_of_a_broken_file_shows_nothing),
        cmocka_unit_test(test_unredact_restores_the_current_secrets),
        cmocka_unit_test(test_write_keeps_mode_and_writes_through_a_link),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
