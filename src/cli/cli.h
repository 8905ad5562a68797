/*
 * cli.h -- the `rampart` subcommands and what they share.
 */
#ifndef RP_CLI_H
#define RP_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "rampart.h"
#include "load.h"  /* rp_read_file, rp_load_config */
#include "store.h" /* rp_format_time, rp_incident_to_json */

/* Exit codes, documented in docs/analyze.md. */
#define RP_EXIT_OK 0
#define RP_EXIT_USAGE 1   /* bad usage or configuration */
#define RP_EXIT_INPUT 2   /* an input could not be read (the rest was processed) */

int rp_cmd_analyze(int argc, char **argv);
int rp_cmd_check_config(int argc, char **argv);
int rp_cmd_serve(int argc, char **argv);
int rp_cmd_decisions(int argc, char **argv);
int rp_cmd_send(int argc, char **argv);
int rp_cmd_train(int argc, char **argv);
int rp_cmd_cluster(int argc, char **argv);

/* check_config.c: validate the file at path as check-config does (a fleet
 * file with fleet), its errors and warnings printed on stderr. -1 when it
 * is invalid or unreadable, else the number of warnings; with text_out,
 * the text read (the caller frees it). */
int rp_cli_validate(const char *path, bool fleet, size_t max, char **text_out, size_t *len_out);

/* train.c: read a route model file into the engine; prints the error
 * ("rampart: FILE: ...") and returns it on failure. */
rp_status rp_cli_load_model(rp_engine *engine, const char *path);


/* Output helpers shared by analyze (and later serve). */
void rp_format_count(uint64_t n, char *buf, size_t size);    /* 1,234,567 */

#endif
