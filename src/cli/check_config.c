/*
 * check_config.c -- `rampart check-config FILE`: every mistake in a
 * configuration as file:line:col: message. With --fleet, the file is a
 * fleet's (docs/cluster.md#configuration-as-code): it must have a cluster:
 * section, and its node-local keys are warned about. `rampart cluster
 * push-config` validates through the same function, with the same words.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cluster.h"
#include "config.h"

static void usage(FILE *out) {
    fputs("usage: rampart check-config [-q] [--fleet] FILE\n"
          "\n"
          "Validate a Rampart configuration (YAML) and the OpenAPI document it names.\n"
          "Every mistake is printed as FILE:LINE:COL: message.\n"
          "\n"
          "  -q, --quiet   print nothing when the file is valid\n"
          "      --fleet   the file is a fleet's (rampart cluster push-config): it needs a\n"
          "                cluster: section; node-local keys (serve:, cluster.role, ...)\n"
          "                are warned about, the nodes ignore them\n"
          "  -h, --help    this text\n"
          "\n"
          "Exit status: 0 valid, 1 invalid or unreadable.\n",
          out);
}

typedef struct check_counts {
    int errors, warnings;
} check_counts;

static void print_error(void *user, const rp_error *e) {
    check_counts *count = user;
    char msg[700];
    rp_error_format(e, msg, sizeof msg);
    fprintf(stderr, "%s\n", msg);
    count->errors++;
}

static void print_warning(void *user, const rp_error *e) {
    check_counts *count = user;
    /* file:line:col: warning: message */
    rp_error where = *e;
    where.message[0] = 0;
    char msg[700];
    rp_error_format(&where, msg, sizeof msg);
    fprintf(stderr, "%swarning: %s\n", msg, e->message);
    count->warnings++;
}

int rp_cli_validate(const char *path, bool fleet, size_t max, char **text_out, size_t *len_out) {
    rp_error err = {0};
    char *text;
    size_t len;
    char msg[700];
    if (text_out) *text_out = NULL;
    if (rp_read_file(path, max, &text, &len, &err) != RP_OK) {
        rp_error_format(&err, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return -1;
    }
    check_counts counts = {0};
    if (fleet)
        rp_config_check_fleet(text, len, path, print_error, print_warning, &counts);
    else
        rp_config_check(text, len, path, print_error, &counts);
    if (counts.errors == 0) {
        /* The whole load, OpenAPI document included. */
        rp_config *config;
        rp_status st = fleet ? rp_fleet_load_text(text, len, path, NULL, &config, &err)
                             : rp_load_config_text(text, len, path, &config, &err);
        if (st != RP_OK) {
            rp_error_format(&err, msg, sizeof msg);
            fprintf(stderr, "%s\n", msg);
            free(text);
            return -1;
        }
        rp_config_free(config);
    }
    if (counts.errors)
        fprintf(stderr, "%d error%s\n", counts.errors, counts.errors == 1 ? "" : "s");
    if (counts.errors || !text_out)
        free(text);
    else {
        *text_out = text;
        *len_out = len;
    }
    return counts.errors ? -1 : counts.warnings;
}

int rp_cmd_check_config(int argc, char **argv) {
    bool quiet = false, fleet = false;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return RP_EXIT_OK;
        } else if (strcmp(argv[i], "-q") == 0 || strcmp(argv[i], "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(argv[i], "--fleet") == 0) {
            fleet = true;
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
    /* a fleet file is bounded as the nodes bound it */
    int warnings =
        rp_cli_validate(path, fleet, fleet ? RP_FLEET_CONFIG_MAX : 16u << 20, NULL, NULL);
    if (warnings < 0) return RP_EXIT_USAGE;
    if (!quiet && warnings)
        printf("%s: ok (a fleet file; %d warning%s)\n", path, warnings, warnings == 1 ? "" : "s");
    else if (!quiet)
        printf("%s: ok%s\n", path, fleet ? " (a fleet file)" : "");
    return RP_EXIT_OK;
}
