/*
 * ingest.h -- access-log input: line reading and parsing into rp_event.
 *
 * Parsers take one line (no trailing newline) and fill an rp_event whose
 * strings point either into the line (combined format) or into the
 * parser's own scratch buffer (JSON, whose strings need unescaping). The
 * event is valid until the next call on the same parser, or until the
 * line buffer changes.
 *
 * A line that cannot be used is never a crash and never silent: the parser
 * returns RP_EPARSE and names the reason, and the caller counts it.
 */
#ifndef RP_INGEST_H
#define RP_INGEST_H

#include "rampart.h"

/* Lines longer than this are skipped as too long (the reader discards up
 * to the next newline; memory stays bounded). */
#define RP_MAX_LINE (64 * 1024)

typedef enum rp_log_format {
    RP_FORMAT_AUTO = 0, /* decided on the first non-empty line */
    RP_FORMAT_COMBINED, /* nginx/Apache combined (and common) */
    RP_FORMAT_JSON,     /* nginx log_format ... escape=json; see docs/log-formats.md */
} rp_log_format;

const char *rp_log_format_name(rp_log_format format);
rp_status rp_log_format_parse(const char *text, rp_log_format *out);

typedef enum rp_skip_reason {
    RP_SKIP_NONE = 0,
    RP_SKIP_MALFORMED,  /* does not have the shape of the format */
    RP_SKIP_TOO_LONG,   /* longer than RP_MAX_LINE */
    RP_SKIP_BINARY,     /* NUL or other control bytes: not a text log line */
    RP_SKIP_BAD_TIME,   /* unparseable timestamp */
    RP_SKIP_BAD_ADDR,   /* unparseable client address */
    RP_SKIP_BAD_JSON,   /* not a JSON object */
    RP_SKIP_REASON_COUNT
} rp_skip_reason;

const char *rp_skip_reason_name(rp_skip_reason reason);

typedef struct rp_log_parser rp_log_parser;

/* trusted_proxies: X-Forwarded-For is honoured (rightmost untrusted
 * address) only when the peer address is in one of these; may be NULL. */
struct rp_cidr;
rp_log_parser *rp_log_parser_new(rp_log_format format);
void rp_log_parser_free(rp_log_parser *parser);
void rp_log_parser_set_trusted_proxies(rp_log_parser *parser, const struct rp_cidr *cidrs, int n);
/* The format in force (after auto-detection; AUTO before the first line). */
rp_log_format rp_log_parser_format(const rp_log_parser *parser);
/* RP_OK, RP_EPARSE with *why, or RP_ENOENT with RP_SKIP_NONE for a blank
 * line (empty or only spaces/tabs): nothing to feed and nothing to count. */
rp_status rp_log_parser_parse(rp_log_parser *parser, const char *line, size_t len, rp_event *ev,
                              rp_skip_reason *why);

/* The individual parsers, for tests and fuzzing. */
rp_status rp_parse_combined(const char *line, size_t len, rp_event *ev, rp_skip_reason *why);

/* Reads lines from a file (plain or gzip, detected by content) or stdin
 * ("-"). Holds one buffer of at most RP_MAX_LINE + read size. */
typedef struct rp_line_reader rp_line_reader;

rp_status rp_line_reader_open(const char *path, rp_line_reader **out, rp_error *err);
/* 1 = a line in *line and *len (no newline; valid until the next call),
 * 0 = end of input, RP_EIO = read error (err filled). Lines over
 * RP_MAX_LINE are returned with *too_long set and len 0. */
int rp_line_reader_next(rp_line_reader *reader, const char **line, size_t *len, bool *too_long,
                        rp_error *err);
uint64_t rp_line_reader_line_number(const rp_line_reader *reader);
/* Bytes consumed from the underlying file and its size (0 if unknown):
 * for progress. */
uint64_t rp_line_reader_offset(const rp_line_reader *reader);
uint64_t rp_line_reader_size(const rp_line_reader *reader);
void rp_line_reader_close(rp_line_reader *reader);

#endif
