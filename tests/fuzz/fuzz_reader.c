/*
 * fuzz_reader.c -- libFuzzer target: any bytes as a whole input file
 * (plain or, when it starts with the gzip magic, compressed; the fuzzer
 * finds damaged gzip streams on its own), read line by line and parsed in
 * AUTO mode. The reader must end with 0 or RP_EIO, never loop, and hand
 * out lines no longer than RP_MAX_LINE.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!path[0]) snprintf(path, sizeof path, "/tmp/rp-fuzz-reader-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);

    rp_line_reader *r;
    rp_error err;
    if (rp_line_reader_open(path, &r, &err) != RP_OK) abort();
    rp_log_parser *parser = rp_log_parser_new(RP_FORMAT_AUTO);
    const char *line;
    size_t len;
    bool too_long;
    int rc;
    uint64_t lines = 0;
    while ((rc = rp_line_reader_next(r, &line, &len, &too_long, &err)) == 1) {
        if (len > RP_MAX_LINE || (too_long && len != 0)) abort();
        if (++lines != rp_line_reader_line_number(r)) abort();
        rp_event ev;
        rp_skip_reason why;
        if (!too_long) rp_log_parser_parse(parser, line, len, &ev, &why);
        /* gzip expands at most ~1032:1, so more lines than that is a loop. */
        if (lines > (uint64_t)size * 1100 + 1) abort();
    }
    if (rc != 0 && rc != RP_EIO) abort();
    rp_log_parser_free(parser);
    rp_line_reader_close(r);
    unlink(path);
    return 0;
}
