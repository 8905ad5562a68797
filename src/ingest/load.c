/*
 * load.c -- whole-file reads for the configuration (see load.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "load.h"

rp_status rp_read_file(const char *path, size_t max, char **out, size_t *len, rp_error *err) {
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return rp_error_set(err, errno == ENOENT ? RP_ENOENT : RP_EIO, path, 0, 0, "%s",
                                strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return rp_error_set(err, RP_ENOMEM, path, 0, 0, "out of memory");
    }
    for (;;) {
        if (n + 1 >= cap) {
            if (cap >= max + 1) {
                free(buf);
                fclose(f);
                return rp_error_set(err, RP_ERANGE, path, 0, 0, "file is larger than %zu bytes",
                                    max);
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return rp_error_set(err, RP_ENOMEM, path, 0, 0, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - 1 - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return rp_error_set(err, RP_EIO, path, 0, 0, "read error");
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return RP_OK;
}

#define RP_CONFIG_MAX_BYTES (16u << 20)

rp_status rp_load_config_text(const char *text, size_t len, const char *name, rp_config **out,
                              rp_error *err) {
    *out = NULL;
    rp_config *config;
    rp_status st = rp_config_parse(text, len, name, &config, err);
    if (st != RP_OK) return st;
    if (config->openapi_path[0]) {
        const char *spec = config->openapi_path;
        char *doc;
        size_t dlen;
        st = rp_read_file(spec, RP_CONFIG_MAX_BYTES, &doc, &dlen, err);
        if (st == RP_OK) {
            st = rp_config_add_openapi(config, doc, dlen, spec, err);
            free(doc);
        }
        if (st != RP_OK) {
            rp_config_free(config);
            return st;
        }
    }
    *out = config;
    return RP_OK;
}

rp_status rp_load_config(const char *path, rp_config **out, rp_error *err) {
    *out = NULL;
    if (!path) {
        *out = rp_config_default();
        return *out ? RP_OK : rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    }
    char *text;
    size_t len;
    rp_status st = rp_read_file(path, RP_CONFIG_MAX_BYTES, &text, &len, err);
    if (st != RP_OK) return st;
    st = rp_load_config_text(text, len, path, out, err);
    free(text);
    return st;
}
