/*
 * reader.c -- lines from a file or stdin, plain or gzip.
 *
 * zlib's gz* functions read plain and gzip input alike (plain data passes
 * through "transparently"), so one code path serves `rampart analyze
 * access.log`, `access.log.2.gz` and `zcat ... | rampart analyze -`.
 *
 * One buffer of RP_MAX_LINE + 2 + CHUNK bytes is allocated at open and
 * never grows. We read CHUNK bytes at a time and cut lines with memchr
 * (the hot path: one memchr per line, no per-byte loop, no copy unless a
 * line straddles two chunks, then one memmove of the partial line). The
 * invariant after compaction is that fewer than RP_MAX_LINE + 2 bytes of
 * an unfinished line are kept, so a read of CHUNK always fits. A line
 * that outgrows that is dropped: we note "discarding", throw away bytes
 * up to the next newline, and return it once as too long with length 0.
 *
 * Read errors (a truncated or corrupt gzip file) do not lose the lines
 * before them: they are returned first, then RP_EIO with zlib's message.
 * The unfinished line at the point of the error is dropped, since it is
 * cut by the damage rather than by the writer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "ingest.h"

/* 256 KiB: large enough that read and inflate call overheads vanish,
 * small enough to stay in L2. */
#define CHUNK (256 * 1024)
#define BUF_SIZE (RP_MAX_LINE + 2 + CHUNK)

struct rp_line_reader {
    gzFile gz;
    char *buf;
    size_t start, end; /* unread bytes are buf[start..end) */
    bool eof;          /* no more reads: end of input or an error */
    bool failed;       /* eof because of an error; reported after the lines */
    bool discarding;   /* inside a line longer than RP_MAX_LINE */
    bool reported;     /* the error was returned once */
    uint64_t line_number;
    uint64_t consumed; /* uncompressed bytes read, when the offset is unknown */
    uint64_t size;
    char error[200];
    char name[256];
};

static rp_status open_error(rp_error *err, const char *path, int errnum) {
    /* The path is in the message, not the location: "x.log: No such file
     * or directory" reads better than a file:line prefix with no line. */
    return rp_error_set(err, errnum == ENOENT ? RP_ENOENT : RP_EIO, NULL, 0, 0, "%s: %s", path,
                        strerror(errnum));
}

rp_status rp_line_reader_open(const char *path, rp_line_reader **out, rp_error *err) {
    *out = NULL;
    if (!path) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "no input path");
    bool is_stdin = strcmp(path, "-") == 0;
    int fd = is_stdin ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return open_error(err, path, errno);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return open_error(err, path, e);
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return open_error(err, path, EISDIR);
    }
    rp_line_reader *r = calloc(1, sizeof *r);
    char *buf = malloc(BUF_SIZE);
    gzFile gz = (r && buf) ? gzdopen(fd, "rb") : NULL;
    if (!gz) {
        free(r);
        free(buf);
        close(fd);
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "%s: out of memory", path);
    }
    gzbuffer(gz, CHUNK);
    r->gz = gz;
    r->buf = buf;
    r->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    snprintf(r->name, sizeof r->name, "%s", is_stdin ? "<stdin>" : path);
    *out = r;
    return RP_OK;
}

/* Move the unfinished line to the front and read one more chunk. */
static void fill(rp_line_reader *r) {
    size_t keep = r->end - r->start;
    if (keep && r->start) memmove(r->buf, r->buf + r->start, keep);
    r->start = 0;
    r->end = keep;
    int n = gzread(r->gz, r->buf + r->end, CHUNK);
    if (n > 0) {
        r->end += (size_t)n;
        r->consumed += (uint64_t)n;
        return;
    }
    r->eof = true;
    int zerr = Z_OK;
    const char *msg = gzerror(r->gz, &zerr);
    if (n < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
        r->failed = true;
        /* zlib says "unexpected end of file" for a cut gzip stream, which
         * reads as if the log were merely short. */
        if (zerr == Z_BUF_ERROR)
            msg = "unexpected end of compressed data";
        else if (zerr == Z_ERRNO)
            msg = strerror(errno);
        snprintf(r->error, sizeof r->error, "%s", msg && *msg ? msg : "read error");
        r->start = r->end = 0; /* the partial line was cut by the damage */
        r->discarding = false;
    }
}

/* Hand out [p, p+len) as the next line (len excludes the newline). */
static int emit(rp_line_reader *r, const char *p, size_t len, const char **line, size_t *out_len,
                bool *too_long) {
    r->line_number++;
    if (len && p[len - 1] == '\r') len--;
    if (r->discarding || len > RP_MAX_LINE) {
        r->discarding = false;
        *too_long = true;
        *line = r->buf;
        *out_len = 0;
        return 1;
    }
    *line = p;
    *out_len = len;
    return 1;
}

int rp_line_reader_next(rp_line_reader *r, const char **line, size_t *len, bool *too_long,
                        rp_error *err) {
    *too_long = false;
    *line = NULL;
    *len = 0;
    for (;;) {
        char *p = r->buf + r->start;
        size_t avail = r->end - r->start;
        char *nl = avail ? memchr(p, '\n', avail) : NULL;
        if (nl) {
            r->start += (size_t)(nl - p) + 1;
            return emit(r, p, (size_t)(nl - p), line, len, too_long);
        }
        if (r->discarding || avail > RP_MAX_LINE + 1) {
            r->discarding = true;
            r->start = r->end = 0;
            avail = 0;
        }
        if (r->eof) {
            if (avail || r->discarding) {
                r->start = r->end;
                return emit(r, p, avail, line, len, too_long);
            }
            if (r->failed && !r->reported) {
                r->reported = true;
                return rp_error_set(err, RP_EIO, NULL, 0, 0, "%s: %s", r->name, r->error);
            }
            return 0;
        }
        fill(r);
    }
}

uint64_t rp_line_reader_line_number(const rp_line_reader *r) { return r->line_number; }

uint64_t rp_line_reader_offset(const rp_line_reader *r) {
    /* gzoffset is the position in the (compressed) file, comparable with
     * the size; on a pipe it is unknown and we count bytes instead. */
    z_off_t off = gzoffset(r->gz);
    return off >= 0 ? (uint64_t)off : r->consumed;
}

uint64_t rp_line_reader_size(const rp_line_reader *r) { return r->size; }

void rp_line_reader_close(rp_line_reader *r) {
    if (!r) return;
    gzclose_r(r->gz);
    free(r->buf);
    free(r);
}
