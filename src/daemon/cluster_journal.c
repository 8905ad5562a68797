/*
 * cluster_journal.c -- the manual decisions and removals this node has not
 * published yet, kept on disk until Redis has acknowledged them.
 *
 * The publisher's queue is in memory: an edge restarted while Redis is
 * unreachable would lose the operators' decisions made through it during
 * the outage -- enforced here (the store restores them), never heard of by
 * the fleet, and even dropped by this node at a later resync because Redis
 * does not have them. So every manual item in the queue (and in the batch
 * in flight) is also in <store>.unpublished, rewritten whole (temporary
 * file, fsync, rename) when one is queued and when a batch holding one is
 * acknowledged; the file is removed when none is left. Rewritten whole
 * rather than appended: the set is small (operators' changes during an
 * outage, at most RP_CLUSTER_PUBLISH_MAX), and a file that is always one
 * complete version needs no compaction and no recovery beyond a line check.
 *
 * One line an item, text (readable with cat, and nothing to version):
 *   <crc> P <key> <action> <start_us> <expires_us> 0 <score> manual -
 *   <crc> E <key> <action> <start_us> <expires_us> <incident> <score> engine <detector>
 *   <crc> D <key> <removed_us>
 * (the value as in Redis, cluster_decisions.c; a line without its last
 * two words, written by an older node, is read too).
 * crc is FNV-1a (32 bits, 8 hex digits) of the rest of the line: a line
 * damaged on disk, or cut short by a crash of the file system, is
 * detected, counted and skipped, never half-believed.
 *
 * At start (rp_cluster_new, before the engine thread can queue anything
 * and before the first load), the items go back into the queue in their
 * order: the first load keeps them (they are newer than the hash), and the
 * publisher writes them with the newer-wins script (cluster_decisions.c).
 * A decision that expired meanwhile is not restored.
 *
 * The engine's decisions made in local detection (an edge with
 * cluster.local_detection, Redis unreachable) are queued at the engine's
 * rate, too fast for a rewrite and an fsync each: each is appended as a line
 * to <store>.unpublished-local (an E line: a put with its incident),
 * without fsync -- the point is the process's restart, kill -9 included, as
 * for the outage buffer's spool -- and the file is removed once Redis has
 * acknowledged every item it holds. Bounded (RP_JOURNAL_LOCAL_MAX lines; a
 * decision past it is counted, and still published if the edge does not
 * restart first). At start its items are restored with the operators' and
 * moved into <store>.unpublished (one rewrite), where they stay until
 * acknowledged: from then on they are items like the operators', written
 * by the newer-wins script, as they may reach Redis long after they were
 * made.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster_int.h"

/* A line's bound: 8 + 3 + a key (< 128) + the value (< 128). */
#define JOURNAL_LINE_MAX 300

static uint32_t fnv1a(const char *s, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

size_t rp_journal_format_item(const publish_item *it, char *buf, size_t size) {
    char body[JOURNAL_LINE_MAX], key[128], value[128];
    rp_key_format(&it->decision.key, key, sizeof key);
    int n;
    if (it->removal) {
        n = snprintf(body, sizeof body, "D %s %lld", key, (long long)it->decision.start_us);
    } else {
        /* E: an engine's decision (local detection), P: an operator's */
        rp_cluster_format_value(&it->decision, it->detector, value, sizeof value);
        n = snprintf(body, sizeof body, "%c %s %s", it->decision.incident_id ? 'E' : 'P', key,
                     value);
    }
    if (n < 0 || (size_t)n >= sizeof body) return 0;
    int m = snprintf(buf, size, "%08x %s\n", fnv1a(body, (size_t)n), body);
    return m < 0 || (size_t)m >= size ? 0 : (size_t)m;
}

bool rp_journal_parse_line(const char *line, size_t len, publish_item *out) {
    memset(out, 0, sizeof *out);
    if (len < 12 || len >= JOURNAL_LINE_MAX || line[8] != ' ') return false;
    char text[JOURNAL_LINE_MAX];
    memcpy(text, line, len);
    text[len] = 0;
    if (strlen(text) != len) return false; /* a NUL inside */
    char *end;
    errno = 0;
    unsigned long crc = strtoul(text, &end, 16);
    if (errno || end != text + 8) return false;
    const char *body = text + 9;
    size_t blen = len - 9;
    if (fnv1a(body, blen) != (uint32_t)crc) return false;
    const char *key = body + 2, *sp = strchr(key, ' ');
    if (blen < 4 || body[1] != ' ' || !sp) return false;
    size_t klen = (size_t)(sp - key);
    if (body[0] == 'D') {
        long long removed;
        char tail;
        if (rp_key_parse(key, klen, &out->decision.key) != RP_OK ||
            sscanf(sp + 1, "%lld%c", &removed, &tail) != 1 || removed <= 0)
            return false;
        out->removal = true;
        out->decision.start_us = removed;
    } else if (body[0] == 'P' || body[0] == 'E') {
        /* an operator's decision has no incident, an engine's has one */
        if (!rp_cluster_parse_value(key, klen, sp + 1, strlen(sp + 1), &out->decision,
                                    &out->detector) ||
            (out->decision.incident_id != 0) != (body[0] == 'E'))
            return false;
    } else {
        return false;
    }
    out->durable = true;
    return true;
}

rp_status rp_journal_read(const char *path, int64_t now, publish_item **head,
                          rp_journal_counts *counts, rp_error *err) {
    memset(counts, 0, sizeof *counts);
    *head = NULL;
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) return RP_OK;
        return rp_error_set(err, RP_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    }
    publish_item *tail = NULL;
    char line[JOURNAL_LINE_MAX + 2];
    size_t n = 0;
    bool too_long = false;
    int ch;
    /* Byte by byte into a bounded line: a hostile file (no newline, a
     * gigabyte line) costs one line's memory, and its lines are skipped. */
    while ((ch = fgetc(f)) != EOF) {
        if (ch != '\n') {
            if (n < JOURNAL_LINE_MAX) line[n++] = (char)ch;
            else too_long = true;
            continue;
        }
        publish_item parsed, *it;
        if (too_long || !rp_journal_parse_line(line, n, &parsed)) {
            counts->skipped++;
        } else if (!parsed.removal && parsed.decision.expires_us <= now) {
            counts->expired++;
        } else if (counts->restored >= RP_CLUSTER_PUBLISH_MAX) {
            counts->skipped++; /* more than a queue holds: not written by this node */
        } else if (!(it = malloc(sizeof *it))) {
            counts->skipped++;
        } else {
            *it = parsed;
            if (tail) tail->next = it;
            else *head = it;
            tail = it;
            counts->restored++;
        }
        n = 0;
        too_long = false;
    }
    if (n || too_long) counts->skipped++; /* the last line, cut short */
    bool read_error = ferror(f);
    fclose(f);
    if (read_error) counts->skipped++;
    return RP_OK;
}

bool rp_journal_local_append(rp_cluster *c, const publish_item *it) {
    if (c->local_journal_lines >= RP_JOURNAL_LOCAL_MAX) {
        atomic_fetch_add(&c->local_journal_full, 1);
        return false;
    }
    if (c->local_journal_fd < 0)
        c->local_journal_fd =
            open(c->local_journal_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    char line[JOURNAL_LINE_MAX + 16];
    size_t n = rp_journal_format_item(it, line, sizeof line);
    /* One write a line, O_APPEND: a line is whole in the file or, cut by a
     * crash, fails its checksum at the next start. */
    if (c->local_journal_fd < 0 || !n || write(c->local_journal_fd, line, n) != (ssize_t)n) {
        atomic_fetch_add(&c->journal_errors, 1);
        return false;
    }
    c->local_journal_lines++;
    c->local_journal_pending++;
    return true;
}

void rp_journal_local_done(rp_cluster *c, unsigned k) {
    c->local_journal_pending -= k;
    if (c->local_journal_pending || c->local_journal_fd < 0) return;
    /* Everything it holds is in Redis: gone, and the next outage starts a
     * new one. */
    unlink(c->local_journal_path);
    close(c->local_journal_fd);
    c->local_journal_fd = -1;
    c->local_journal_lines = 0;
}

rp_status rp_journal_write(const char *path, const char *text, size_t len, rp_error *err) {
    if (!len) {
        if (unlink(path) != 0 && errno != ENOENT)
            return rp_error_set(err, RP_EIO, path, 0, 0, "cannot remove: %s", strerror(errno));
        return RP_OK;
    }
    char tmp[620];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return rp_error_set(err, RP_EIO, tmp, 0, 0, "cannot create: %s", strerror(errno));
    size_t done = 0;
    bool ok = true;
    while (ok && done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) ok = false;
        else done += (size_t)w;
    }
    int saved = errno;
    if (ok && fsync(fd) != 0) ok = false, saved = errno;
    close(fd);
    if (ok && rename(tmp, path) != 0) ok = false, saved = errno;
    if (!ok) {
        unlink(tmp);
        return rp_error_set(err, RP_EIO, path, 0, 0, "cannot write: %s", strerror(saved));
    }
    return RP_OK;
}
