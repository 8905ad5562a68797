/*
 * cli.h -- the `rampart` subcommands and what they share.
 */
#ifndef RP_CLI_H
#define RP_CLI_H

#include <stdio.h>

#include "rampart.h"
#include "store.h" /* rp_format_time, rp_incident_to_json */

/* Exit codes, documented in docs/analyze.md. */
#define RP_EXIT_OK 0
#define RP_EXIT_USAGE 1   /* bad usage or configuration */
#define RP_EXIT_INPUT 2   /* an input could not be read (the rest was processed) */

int rp_cmd_analyze(int argc, char **argv);
int rp_cmd_check_config(int argc, char **argv);

/* Read a whole file (bounded by max bytes) into a NUL-terminated buffer. */
rp_status rp_read_file(const char *path, size_t max, char **out, size_t *len, rp_error *err);
/* Load a config file and the OpenAPI document it names; NULL path = the
 * built-in defaults. */
rp_status rp_load_config(const char *path, rp_config **out, rp_error *err);

/* Output helpers shared by analyze (and later serve). */
void rp_format_count(uint64_t n, char *buf, size_t size);    /* 1,234,567 */

#endif
