/*
 * parser.c -- the log parser handle: format choice, trusted proxies, and
 * the names of formats and skip reasons.
 *
 * AUTO looks at the first non-blank line only: '{' means JSON, anything
 * else combined. Deciding once keeps a stray line from switching formats
 * halfway through a file (it is then counted as malformed, which is what
 * it is). Blank lines are not log lines: they return RP_ENOENT with
 * RP_SKIP_NONE ("nothing here"), and the caller neither feeds nor counts
 * them.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest_int.h"

static const char *const format_names[] = {"auto", "combined", "json"};

const char *rp_log_format_name(rp_log_format format) {
    return (unsigned)format < sizeof format_names / sizeof format_names[0] ? format_names[format]
                                                                          : "unknown";
}

rp_status rp_log_format_parse(const char *text, rp_log_format *out) {
    if (!text) return RP_EINVAL;
    for (unsigned i = 0; i < sizeof format_names / sizeof format_names[0]; i++) {
        if (strcmp(text, format_names[i]) == 0) {
            *out = (rp_log_format)i;
            return RP_OK;
        }
    }
    /* Apache's name for the shorter variant; the same parser reads it. */
    if (strcmp(text, "common") == 0) {
        *out = RP_FORMAT_COMBINED;
        return RP_OK;
    }
    return RP_EINVAL;
}

static const char *const skip_names[RP_SKIP_REASON_COUNT] = {
    "none", "malformed", "too_long", "binary", "bad_time", "bad_addr", "bad_json",
};

const char *rp_skip_reason_name(rp_skip_reason reason) {
    return (unsigned)reason < RP_SKIP_REASON_COUNT ? skip_names[reason] : "unknown";
}

rp_log_parser *rp_log_parser_new(rp_log_format format) {
    if ((unsigned)format > RP_FORMAT_JSON) return NULL;
    rp_log_parser *parser = calloc(1, sizeof *parser);
    if (!parser) return NULL;
    parser->requested = format;
    parser->format = format;
    return parser;
}

void rp_log_parser_free(rp_log_parser *parser) {
    if (!parser) return;
    free(parser->proxies);
    free(parser);
}

void rp_log_parser_set_trusted_proxies(rp_log_parser *parser, const struct rp_cidr *cidrs, int n) {
    free(parser->proxies);
    parser->proxies = NULL;
    parser->n_proxies = 0;
    if (!cidrs || n <= 0) return;
    if (n > RP_MAX_TRUSTED) n = RP_MAX_TRUSTED;
    parser->proxies = malloc((size_t)n * sizeof *parser->proxies);
    if (!parser->proxies) return; /* fail safe: no proxy is trusted */
    memcpy(parser->proxies, cidrs, (size_t)n * sizeof *parser->proxies);
    parser->n_proxies = n;
}

rp_log_format rp_log_parser_format(const rp_log_parser *parser) { return parser->format; }

/* The first non-blank character decides; leading spaces are allowed. */
static rp_log_format detect(const char *line, size_t len) {
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    return i < len && line[i] == '{' ? RP_FORMAT_JSON : RP_FORMAT_COMBINED;
}

rp_status rp_log_parser_parse(rp_log_parser *parser, const char *line, size_t len, rp_event *ev,
                              rp_skip_reason *why) {
    *why = RP_SKIP_NONE;
    if (len > RP_MAX_LINE) {
        *why = RP_SKIP_TOO_LONG;
        return RP_EPARSE;
    }
    if (rp_ingest_blank(line, len)) return RP_ENOENT;
    if (parser->format == RP_FORMAT_AUTO) parser->format = detect(line, len);
    if (parser->format == RP_FORMAT_JSON) return rp_parse_json(parser, line, len, ev, why);
    return rp_parse_combined(line, len, ev, why);
}
