/*
 * input_tail.c -- follow an access log like `tail -F`.
 *
 * The thread reads what the file has, splits it into lines, and when it
 * reaches the end looks at the path:
 *
 *   - the file got shorter than what we have read: it was truncated in
 *     place (logrotate copytruncate), so reading restarts at 0;
 *   - the path names another file (rename + create: logrotate's default,
 *     or nginx after USR1): the old file is drained once more -- nginx
 *     keeps writing to it until it reopens its logs -- and then the new
 *     one is read from its start;
 *   - the path is missing (between the rename and the create): nothing to
 *     do, the old file is kept and the path retried on the next round.
 *
 * Then it sleeps 100 ms, or less when stopped. Polling rather than
 * inotify: it is one fstat and one stat per round, it works on every file
 * system, and there is no event queue to overflow or resynchronise.
 *
 * By default reading starts at the end of the file, like tail: the daemon
 * judges live traffic, and replaying yesterday's log at startup would
 * replay yesterday's decisions. If that end is in the middle of a line,
 * the rest of that line is skipped rather than parsed as a broken one.
 *
 * What polling cannot see: a copytruncate that is followed, within one
 * round, by more writes than we had read (the file is then not shorter);
 * and lines written to the old file after we switched to the new one.
 * Both are the known limits of `tail -F` as well.
 *
 * Memory: one line buffer of RP_MAX_LINE, one 64 KiB read buffer, one
 * parser. A line longer than RP_MAX_LINE is counted as too long and
 * skipped up to its newline; a partial last line waits in the buffer for
 * its newline.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input_int.h"

#define CHUNK (64 * 1024)
#define POLL_MS 100
/* Read at most this many chunks before looking at the stop pipe, so a
 * large backlog (from_start on a big file) cannot delay a stop. */
#define CHUNKS_PER_ROUND 16

typedef struct tail_state {
    char *path;
    rp_log_parser *parser;
    dev_t dev; /* of the open file (in->fd) */
    ino_t ino;
    uint64_t offset; /* bytes read from the open file */
    bool skipping;   /* discarding up to the next newline */
    size_t line_len; /* bytes of a partial line in line[] */
    char *line;      /* RP_MAX_LINE */
    char *chunk;     /* CHUNK */
} tail_state;

static void tail_cleanup(rp_input *in) {
    tail_state *st = in->state;
    if (!st) return;
    rp_log_parser_free(st->parser);
    free(st->path);
    free(st->line);
    free(st->chunk);
    free(st);
    in->state = NULL;
}

/* ------------------------------------------------------------------ lines */

static void complete_line(rp_input *in, const char *line, size_t len) {
    tail_state *st = in->state;
    rp_input_count(&in->counters.received);
    rp_input_feed_line(in, st->parser, line, len);
}

static void too_long(rp_input *in) {
    rp_input_count(&in->counters.received);
    rp_input_count(&in->counters.bad_line[RP_SKIP_TOO_LONG]);
}

/* Split n bytes into lines. Complete lines that need no joining are fed
 * straight from the read buffer; only a line that spans reads is copied. */
static void consume(rp_input *in, const char *p, size_t n) {
    tail_state *st = in->state;
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) : n;
        size_t step = nl ? seg + 1 : n;
        if (st->skipping) {
            if (nl) st->skipping = false;
        } else if (st->line_len + seg > RP_MAX_LINE) {
            too_long(in);
            st->line_len = 0;
            st->skipping = nl == NULL;
        } else if (nl && st->line_len == 0) {
            complete_line(in, p, seg);
        } else {
            memcpy(st->line + st->line_len, p, seg);
            st->line_len += seg;
            if (nl) {
                complete_line(in, st->line, st->line_len);
                st->line_len = 0;
            }
        }
        p += step;
        n -= step;
    }
}

/* ------------------------------------------------------------------ files */

static void forget_file(rp_input *in) {
    tail_state *st = in->state;
    if (in->fd >= 0) close(in->fd);
    in->fd = -1;
    st->offset = 0;
    st->line_len = 0;
    st->skipping = false;
}

/* Open the path; at_end: position at its end, skipping a partial line
 * there. Returns 0, or the errno of the failure. */
static int open_file(rp_input *in, bool at_end) {
    tail_state *st = in->state;
    int fd = open(st->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    struct stat sb;
    int e = fstat(fd, &sb) != 0 ? errno : 0;
    /* A directory or a device would "open" and then never read a line. */
    if (!e && !S_ISREG(sb.st_mode)) e = EISDIR;
    if (e) {
        close(fd);
        return e;
    }
    forget_file(in);
    in->fd = fd;
    st->dev = sb.st_dev;
    st->ino = sb.st_ino;
    if (at_end && sb.st_size > 0) {
        char last;
        st->offset = (uint64_t)sb.st_size;
        st->skipping = pread(fd, &last, 1, sb.st_size - 1) == 1 && last != '\n';
        lseek(fd, sb.st_size, SEEK_SET);
    }
    return 0;
}

/* Read what the open file has, up to CHUNKS_PER_ROUND chunks. Returns
 * true when anything was read. */
static bool read_available(rp_input *in) {
    tail_state *st = in->state;
    bool any = false;
    for (int i = 0; i < CHUNKS_PER_ROUND && in->fd >= 0; i++) {
        ssize_t n = read(in->fd, st->chunk, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        st->offset += (uint64_t)n;
        consume(in, st->chunk, (size_t)n);
        any = true;
    }
    return any;
}

/* At the end of the open file: has it been truncated or replaced?
 * Returns true when reading should resume at once. */
static bool check_rotation(rp_input *in) {
    tail_state *st = in->state;
    if (in->fd < 0) return open_file(in, false) == 0; /* a new file: from its start */

    struct stat now;
    if (fstat(in->fd, &now) == 0 && (uint64_t)now.st_size < st->offset) {
        /* Truncated in place: the same file from its start. A partial
         * line we held belonged to the copy that was cut away. */
        rp_input_count(&in->counters.rotations);
        lseek(in->fd, 0, SEEK_SET);
        st->offset = 0;
        st->line_len = 0;
        st->skipping = false;
        return true;
    }
    struct stat named;
    if (stat(st->path, &named) != 0) return false; /* mid-rotation: retry later */
    if (named.st_dev == st->dev && named.st_ino == st->ino) return false;

    /* Replaced. The old file may have had a last write since our read. */
    while (read_available(in)) {
    }
    /* Its writer has moved on: a last line without a newline is complete. */
    if (st->line_len && !st->skipping) complete_line(in, st->line, st->line_len);
    rp_input_count(&in->counters.rotations);
    forget_file(in);
    open_file(in, false);
    return true;
}

static void *tail_run(void *arg) {
    rp_input *in = arg;
    for (;;) {
        bool busy = read_available(in);
        if (!busy) busy = check_rotation(in);
        if (busy ? rp_input_stopping(in) : rp_input_wait(in, -1, POLL_MS) < 0) break;
    }
    return NULL;
}

rp_status rp_input_tail_start(const char *path, bool from_start, rp_log_format format,
                              rp_queue *q, const struct rp_cidr *trusted, int n_trusted,
                              rp_input **out, rp_error *err) {
    *out = NULL;
    if (!path || !*path)
        return rp_error_set(err, RP_EINVAL, "", 0, 0, "tail input: no file given");
    rp_input *in = rp_input_alloc("tail", q, err);
    if (!in) return RP_ENOMEM;
    tail_state *st = calloc(1, sizeof *st);
    if (st) {
        st->path = strdup(path);
        st->parser = rp_log_parser_new(format);
        st->line = malloc(RP_MAX_LINE);
        st->chunk = malloc(CHUNK);
    }
    in->state = st;
    in->cleanup = tail_cleanup;
    in->run = tail_run;
    if (!st || !st->path || !st->parser || !st->line || !st->chunk) {
        rp_input_stop(in);
        return rp_error_set(err, RP_ENOMEM, "", 0, 0, "tail input: out of memory");
    }
    if (trusted && n_trusted > 0) rp_log_parser_set_trusted_proxies(st->parser, trusted, n_trusted);
    /* A missing file is waited for (it may be mid-rotation); one that
     * exists but cannot be read is a configuration error, said now. */
    int e = open_file(in, !from_start);
    if (e != 0 && e != ENOENT) {
        rp_input_stop(in);
        return rp_error_set(err, RP_EIO, "", 0, 0, "tail input: %s: %s", path,
                            e == EISDIR ? "not a regular file" : strerror(e));
    }
    rp_status rc = rp_input_launch(in, err);
    if (rc == RP_OK) *out = in;
    return rc;
}
