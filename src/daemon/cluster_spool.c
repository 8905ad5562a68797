/*
 * cluster_spool.c -- the edge's outage buffer on disk, so that an edge
 * restarted during a Redis outage still forwards what it had buffered.
 *
 * The buffer is a list of 1 MiB chunks (cluster_edge.c); each chunk is
 * also a segment file, <store>.spool/<seq, 16 hex digits>.seg (mode
 * 0600, directory 0700), its bytes the chunk's own after a 16-byte head
 * (an 8-byte magic, then how many of the chunk's bytes were forwarded):
 * appended as the chunk fills (one write a pop, not one an event), the
 * head's count rewritten in place after each batch replayed (so a restart
 * in the middle of the replay does not send the forwarded part again),
 * removed when its chunk has been forwarded or dropped (the buffer full). So the disk holds what the memory holds: cluster.buffer_mb
 * bounds both, and no compaction is needed. Synced (cluster_edge.c,
 * chunk_sync) when a segment is complete and at most once a second while
 * it fills, its directory entry when it is made: a kill -9 loses nothing
 * (the page cache keeps what was written), a crash of the host at most
 * the last second's tail, which is then detected as below. The head's
 * forwarded count is not synced: after a crash a part already forwarded
 * may be sent again (at least once).
 *
 * A record: its length (4 bytes), FNV-1a of its bytes (4 bytes, both in
 * host order: the spool is this host's), then the protocol's bytes. At
 * start the segments are read back in their order, each from its first
 * record at or past the forwarded count; a record that does not
 * check out (length past the protocol's maximum or past the file's end, a
 * checksum that does not match) ends its segment: what came before is
 * kept, the rest is counted and skipped -- a length that cannot be trusted
 * gives no way to find the next record. A file whose name or magic is not
 * a segment's is counted and removed. The memory it costs is the chunks'.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster_int.h"
#include "protocol.h"

#define MAGIC_LEN 8
static const char spool_magic[MAGIC_LEN] = {'R', 'P', 'S', 'P', 'O', 'O', 'L', '2'};

static uint32_t fnv1a(const uint8_t *p, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

size_t rp_spool_record_put(uint8_t *dst, const void *rec, uint32_t len) {
    uint32_t crc = fnv1a(rec, len);
    memcpy(dst, &len, 4);
    memcpy(dst + 4, &crc, 4);
    memcpy(dst + RP_SPOOL_RECORD_HEAD, rec, len);
    return RP_SPOOL_RECORD_HEAD + len;
}

size_t rp_spool_record_get(const uint8_t *p, size_t avail, const uint8_t **rec, uint32_t *len) {
    uint32_t n, crc;
    if (avail < RP_SPOOL_RECORD_HEAD) return 0;
    memcpy(&n, p, 4);
    memcpy(&crc, p + 4, 4);
    if (n == 0 || n > RP_PROTO_MAX_DATAGRAM || n > avail - RP_SPOOL_RECORD_HEAD) return 0;
    if (fnv1a(p + RP_SPOOL_RECORD_HEAD, n) != crc) return 0;
    *rec = p + RP_SPOOL_RECORD_HEAD;
    *len = n;
    return RP_SPOOL_RECORD_HEAD + n;
}

void rp_spool_path(const char *dir, uint64_t seq, char *buf, size_t size) {
    snprintf(buf, size, "%s/%016llx.seg", dir, (unsigned long long)seq);
}

int rp_spool_create(const char *dir, uint64_t seq) {
    char path[700];
    rp_spool_path(dir, seq, path, sizeof path);
    /* Not O_APPEND: the head's count is rewritten with pwrite, which
     * O_APPEND would turn into an append; the records are written in
     * order, so the file's offset is always its end. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    uint8_t head[RP_SPOOL_HEAD] = {0};
    memcpy(head, spool_magic, MAGIC_LEN);
    if (write(fd, head, sizeof head) != (ssize_t)sizeof head) {
        close(fd);
        unlink(path);
        return -1;
    }
    /* The new name to disk too (once a segment, a MiB): a segment whose
     * bytes are synced is not lost to a crash with its directory entry. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return fd;
}

bool rp_spool_mark(const char *dir, uint64_t seq, int *fd, uint64_t forwarded) {
    if (*fd < 0) { /* a segment read back at start: opened at its first mark */
        char path[700];
        rp_spool_path(dir, seq, path, sizeof path);
        *fd = open(path, O_WRONLY | O_CLOEXEC);
        if (*fd < 0) return false;
    }
    return pwrite(*fd, &forwarded, sizeof forwarded, MAGIC_LEN) == (ssize_t)sizeof forwarded;
}

/* "<16 hex>.seg": its sequence number; false for any other name. */
static bool segment_name(const char *name, uint64_t *seq) {
    if (strlen(name) != 20 || strcmp(name + 16, ".seg") != 0) return false;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char ch = name[i];
        unsigned d;
        if (ch >= '0' && ch <= '9') d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f') d = (unsigned)(ch - 'a' + 10);
        else return false;
        v = v << 4 | d;
    }
    *seq = v;
    return true;
}

static int seq_cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

size_t rp_spool_list(const char *dir, uint64_t *seqs, size_t max, unsigned *foreign) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        uint64_t seq;
        char path[700];
        if (!segment_name(e->d_name, &seq)) {
            /* not ours to read: a stray file, counted and removed */
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) == 0) (*foreign)++;
            continue;
        }
        if (n < max) seqs[n++] = seq;
        else (*foreign)++; /* more segments than the bound: not read */
    }
    closedir(d);
    qsort(seqs, n, sizeof *seqs, seq_cmp);
    return n;
}

rp_status rp_spool_read(const char *path, uint8_t *data, size_t cap, rp_spool_segment *out,
                        rp_error *err) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rp_error_set(err, RP_EIO, path, 0, 0, "cannot open: %s", strerror(errno));
    uint8_t head[RP_SPOOL_HEAD];
    ssize_t m = read(fd, head, sizeof head);
    if (m != (ssize_t)sizeof head || memcmp(head, spool_magic, MAGIC_LEN) != 0) {
        close(fd);
        out->damaged = true;
        return RP_OK;
    }
    uint64_t forwarded;
    memcpy(&forwarded, head + MAGIC_LEN, sizeof forwarded);
    /* At most cap bytes: a segment longer than a chunk was not written by
     * this code; what is past cap is skipped as damaged. */
    size_t got = 0;
    while (got < cap) {
        ssize_t r = read(fd, data + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    char extra;
    if (got == cap && read(fd, &extra, 1) == 1) out->damaged = true;
    close(fd);
    size_t off = 0;
    while (off < got) {
        const uint8_t *rec;
        uint32_t len;
        size_t step = rp_spool_record_get(data + off, got - off, &rec, &len);
        if (!step) {
            out->damaged = true;
            out->skipped_bytes = got - off;
            break;
        }
        /* Records before the forwarded count were sent before the restart;
         * a count off a record's boundary (damage) resumes at the next. */
        if (off < forwarded) out->read = off + step;
        else out->events++;
        off += step;
    }
    out->used = off;
    if (forwarded > off) out->damaged = true; /* a count past the records: not to be trusted */
    return RP_OK;
}
