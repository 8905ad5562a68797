/*
 * admin_config.h -- the configuration file as the admin API shows and
 * writes it (GET/POST /v1/config, POST /v1/whatif).
 *
 * Unauthenticated readers see the YAML with its secrets replaced by
 * numbered placeholders ("rampart-redacted-1", ...); a proposed text that
 * still holds them gets the current file's secrets back, so the dashboard
 * can edit a config it was never shown whole. Writing keeps the file what
 * it was: its mode and owner, and a symbolic link stays a link (the
 * target is replaced, atomically, through a temporary file beside it).
 */
#ifndef RP_ADMIN_CONFIG_H
#define RP_ADMIN_CONFIG_H

#include <stddef.h>

#include "rampart.h"

#define RP_REDACTED_PREFIX "rampart-redacted-"

/* The YAML text with every secret replaced: the entries of allow.tokens
 * and the values of keys named like a secret (password, secret, api_key,
 * *_token), wherever their text appears, comments included. A text that
 * does not parse is replaced whole by a comment saying so. *out is
 * malloc'd and NUL-terminated. */
rp_status rp_config_redact(const char *yaml, size_t len, char **out, size_t *out_len);

/* proposed with each placeholder replaced by the secret it stands for in
 * current. RP_EINVAL (err says which) when a placeholder names no secret
 * of the current file. */
rp_status rp_config_unredact(const char *current, size_t current_len, const char *proposed,
                             size_t proposed_len, char **out, size_t *out_len, rp_error *err);

/* Replace the file at path with data, keeping what the file is: a
 * symbolic link is followed (the link stays, its target is rewritten),
 * the target's mode and owner are kept, and the new text appears whole
 * or not at all (a temporary file in the target's directory, fsync,
 * rename, fsync of the directory). */
rp_status rp_config_file_write(const char *path, const char *data, size_t len, rp_error *err);

#endif
