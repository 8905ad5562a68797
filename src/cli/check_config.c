/*
 * check_config.c -- `rampart check-config FILE`: every mistake in a
 * configuration as file:line:col: message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

static void usage(FILE *out) {
    fputs("usage: rampart check-config [-q] FILE\n"
          "\n"
          "Validate a Rampart configuration (YAML) and the OpenAPI document it names.\n"
          "Every mistake is printed as FILE:LINE:COL: message.\n"
          "\n"
          "  -q, --quiet   print nothing when the file is valid\n"
          "  -h, --help    this text\n"
          "\n"
          "Exit status: 0 valid, 1 invalid or unreadable.\n",
          out);
}

static void print_error(void *user, const rp_error *e) {
    int *count = user;
    char msg[700];
    rp_error_format(e, msg, sizeof msg);
    fprintf(stderr, "%s\n", msg);
    (*count)++;
}

int rp_cmd_check_config(int argc, char **argv) {
    bool quiet = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return RP_EXIT_OK;
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "rampart check-config: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return RP_EXIT_USAGE;
        } else if (!path) {
            path = argv[i];
        } else {
            fprintf(stderr, "rampart check-config: one file at a time\n");
            return RP_EXIT_USAGE;
        }
    }
    if (!path) {
        usage(stderr);
        return RP_EXIT_USAGE;
    }
    rp_error err = {0};
    char *text;
    size_t len;
    char msg[700];
    if (rp_read_file(path, 16u << 20, &text, &len, &err) != RP_OK) {
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return RP_EXIT_USAGE;
    }
    int errors = 0;
    rp_config_check(text, len, path, print_error, &errors);
    free(text);
    if (errors == 0) {
        /* The whole load, OpenAPI document included. */
        rp_config *config;
        if (rp_load_config(path, &config, &err) != RP_OK) {
            rp_error_format(&err, msg, sizeof msg);
            fprintf(stderr, "%s\n", msg);
            return RP_EXIT_USAGE;
        }
        rp_config_free(config);
    }
    if (errors) {
        fprintf(stderr, "%d error%s\n", errors, errors == 1 ? "" : "s");
        return RP_EXIT_USAGE;
    }
    if (!quiet) printf("%s: ok\n", path);
    return RP_EXIT_OK;
}
