/*
 * load.h -- reading whole files: the configuration and the OpenAPI
 * document it names. Used by every subcommand and by the daemon's reload.
 */
#ifndef RP_LOAD_H
#define RP_LOAD_H

#include "rampart.h"

/* Read a whole file (bounded by max bytes) into a NUL-terminated buffer
 * the caller frees. */
rp_status rp_read_file(const char *path, size_t max, char **out, size_t *len, rp_error *err);
/* Load a config file and the OpenAPI document it names; NULL path = the
 * built-in defaults. Errors as file:line:col. */
rp_status rp_load_config(const char *path, rp_config **out, rp_error *err);

/* The same from text already in memory; name locates errors and
 * resolves relative paths (the OpenAPI document). */
rp_status rp_load_config_text(const char *text, size_t len, const char *name, rp_config **out,
                              rp_error *err);

#endif
