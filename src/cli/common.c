/*
 * common.c -- file loading, config loading and output formatting shared
 * by the subcommands.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"

void rp_format_count(uint64_t n, char *buf, size_t size) {
    char tmp[32];
    int len = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)n);
    size_t o = 0;
    for (int i = 0; i < len && o + 1 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 2 < size) buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o < size ? o : size - 1] = 0;
}
