/*
 * fuzz_json.c -- libFuzzer target: any bytes as one JSON log line, through
 * the parser handle with trusted proxies set (so X-Forwarded-For walking
 * is exercised). Event strings must stay within their bounds and be
 * readable in full (ASan checks the reads).
 *
 * The parser is a hand-written one, so jansson serves as the reference:
 * on printable UTF-8 input both must agree on whether the line is a JSON
 * object (except where they differ on purpose: nesting deeper than our
 * bound, numbers too big for jansson).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "config.h"
#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rp_log_parser *parser;

static uint64_t touch(const rp_str *s) {
    uint64_t sum = 0;
    for (uint32_t i = 0; i < s->len; i++) sum += (unsigned char)s->ptr[i];
    return sum;
}

static void init(void) {
    parser = rp_log_parser_new(RP_FORMAT_JSON);
    rp_cidr proxies[2];
    if (rp_cidr_parse("10.0.0.0/8", 10, &proxies[0]) != RP_OK) abort();
    if (rp_cidr_parse("2001:db8::/32", 13, &proxies[1]) != RP_OK) abort();
    rp_log_parser_set_trusted_proxies(parser, proxies, 2);
}

/* Compare our verdict with jansson's when the comparison is meaningful. */
static void differential(const uint8_t *data, size_t size, rp_status st, rp_skip_reason why,
                         const rp_event *ev) {
    if (st == RP_ENOENT || why == RP_SKIP_BINARY || why == RP_SKIP_TOO_LONG) return;
    if (ev->flags & RP_EVENT_BAD_UTF8) return; /* we repair it; jansson refuses */
    size_t open = 0;
    for (size_t i = 0; i < size; i++) open += data[i] == '{' || data[i] == '[';
    if (open > 30) return; /* our depth bound */
    json_error_t error;
    json_t *root = json_loadb((const char *)data, size, 0, &error);
    bool jansson_object = root && json_is_object(root);
    json_decref(root);
    bool ours_object = !(st == RP_EPARSE && why == RP_SKIP_BAD_JSON);
    if (jansson_object && !ours_object) abort();
    if (!jansson_object && ours_object && !root && !strstr(error.text, "too big") &&
        !strstr(error.text, "overflow") && !strstr(error.text, "UTF-8"))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!parser) init();
    rp_event ev;
    rp_skip_reason why;
    rp_status st = rp_log_parser_parse(parser, (const char *)data, size, &ev, &why);
    differential(data, size, st, why, &ev);
    if (st == RP_OK) {
        if (ev.path.len > RP_MAX_PATH || ev.query.len > RP_MAX_QUERY || ev.host.len > RP_MAX_HOST ||
            ev.user_agent.len > RP_MAX_USER_AGENT || ev.referer.len > RP_MAX_REFERER)
            abort();
        volatile uint64_t sink = touch(&ev.path) + touch(&ev.query) + touch(&ev.host) +
                                 touch(&ev.user_agent) + touch(&ev.referer);
        (void)sink;
    } else if (st != RP_EPARSE && st != RP_ENOENT) {
        abort();
    }
    return 0;
}
