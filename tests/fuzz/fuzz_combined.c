/*
 * fuzz_combined.c -- libFuzzer target: any bytes as one combined-format
 * line. The parser must return OK or EPARSE with a reason, and an OK event
 * must point inside the line with lengths within the bounds.
 */
#include <stdint.h>
#include <stdlib.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_inside(const rp_str *s, const char *line, size_t len) {
    if (s->len == 0) return;
    if (s->ptr < line || s->ptr + s->len > line + len) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *line = (const char *)data;
    rp_event ev;
    rp_skip_reason why;
    rp_status st = rp_parse_combined(line, size, &ev, &why);
    if (st == RP_OK) {
        if (why != RP_SKIP_NONE) abort();
        if (ev.path.len > RP_MAX_PATH || ev.query.len > RP_MAX_QUERY ||
            ev.user_agent.len > RP_MAX_USER_AGENT || ev.referer.len > RP_MAX_REFERER)
            abort();
        check_inside(&ev.path, line, size);
        check_inside(&ev.query, line, size);
        check_inside(&ev.user_agent, line, size);
        check_inside(&ev.referer, line, size);
    } else if (st != RP_EPARSE || why == RP_SKIP_NONE || why >= RP_SKIP_REASON_COUNT) {
        abort();
    }
    return 0;
}
