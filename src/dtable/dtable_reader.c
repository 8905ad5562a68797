/*
 * dtable_reader.c -- the lock-free reader of the decision table.
 *
 * Readers are nginx worker processes (and the daemon's /v1/check). They
 * map the file read-only and look keys up without taking any lock and
 * without ever waiting for the writer: a lookup probes at most max_probe
 * slots, copies each under the entry's sequence number (a seqlock), and
 * gives up -- "no decision", i.e. fail open -- if an entry stays mid-write
 * for RP_DTABLE_READ_RETRIES attempts. Blocking a request because the
 * daemon was descheduled mid-write would turn a security aid into an
 * outage.
 *
 * This file depends on libc and rp_hash64 (hash.c) only: the nginx module
 * compiles the two files alone. That is why errors are filled here by a
 * local helper rather than by rp_error_set from the engine library.
 *
 * A mapped file is never trusted: the header is checked (magic, version,
 * entry size, power-of-two capacity, probe bound, exact file size) before
 * any entry is read, and an entry's level byte is only compared, never
 * used as an index, so a corrupt file yields misses, not crashes.
 *
 * A reader is single-threaded: refresh unmaps the old file, so it must not
 * run concurrently with lookups on the same reader (nginx workers are
 * single-threaded; a multi-threaded user keeps one reader per thread or
 * serialises refresh).
 */
/* The nginx module may compile this file with strict -std=c11 and no
 * feature macros: ask for POSIX.1-2008 (pread, O_CLOEXEC) explicitly. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dtable.h"
#include "dtable_int.h"

/* One mapped file. */
typedef struct rp_dtable_map {
    const unsigned char *base; /* NULL when nothing is mapped */
    size_t size;
    uint32_t mask;             /* capacity - 1 */
    uint32_t max_probe;
    dev_t dev;
    ino_t ino;
} rp_dtable_map;

struct rp_dtable_reader {
    rp_dtable_map map;
    char path[PATH_MAX];
};

/* ------------------------------------------------------------- helpers */

static rp_status reader_error(rp_error *err, rp_status code, const char *path, const char *fmt,
                              ...) __attribute__((format(printf, 4, 5)));

static rp_status reader_error(rp_error *err, rp_status code, const char *path, const char *fmt,
                              ...) {
    if (!err) return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    snprintf(err->file, sizeof err->file, "%s", path ? path : "");
    err->line = 0;
    err->col = 0;
    return code;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause");
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

uint64_t rp_dtable_key_hash(const rp_key *key) {
    unsigned char buf[17];
    memcpy(buf, key->bytes, 16);
    buf[16] = key->level;
    return rp_hash64(buf, sizeof buf, RP_DTABLE_HASH_SEED);
}

/*
 * The seqlock read side. The memory-model argument (C11, after Boehm,
 * "Can seqlocks get along with programming language memory models?"):
 *
 * The writer does: seq = s+1 (relaxed); release fence; every data word
 * stored relaxed; seq = s+2 (release).
 *
 * We do: s1 = seq (acquire); every data word loaded relaxed; acquire
 * fence; s2 = seq (relaxed); accept only when s1 == s2 and s1 is even.
 *
 *  - If s1 read the writer's final s+2 (or any even value), the acquire
 *    load synchronises with that release store, so every data store of
 *    that write (and all earlier ones) happens-before our data loads:
 *    we see that write's values or newer ones.
 *  - If some data load saw a value from a newer write W', then the
 *    writer's release fence (after W' made seq odd) synchronises with our
 *    acquire fence (fence-to-fence through that data word), so W''s odd
 *    store happens-before our s2 load: s2 >= that odd value != s1, and
 *    the copy is discarded.
 *
 * So an accepted copy holds exactly one write's words. Every access is
 * an atomic one (the data as relaxed 32-bit words), so there is no data
 * race in the C11 sense and no torn word; on x86-64 and arm64 all of this
 * compiles to plain loads plus, on arm64, barriers. 32-bit words rather
 * than 64-bit ones because they are lock-free plain loads on every
 * platform nginx runs on, and a lock-based or cmpxchg-based 64-bit atomic
 * load would fault on a PROT_READ mapping.
 *
 * Only bytes 0..47 are copied; the trailing 16 reserved bytes are zeroed
 * in the copy. Version-1 files keep them zero.
 */
#define RP_DTABLE_COPY_WORDS 12 /* 48 bytes: seq .. incident_id */

int rp_dtable_snapshot(const rp_dtable_entry *slot, rp_dtable_entry *out) {
    const _Atomic uint32_t *w = (const _Atomic uint32_t *)(const void *)slot;
    uint32_t copy[RP_DTABLE_COPY_WORDS];
    for (int attempt = 0; attempt < RP_DTABLE_READ_RETRIES; attempt++) {
        uint32_t s1 = atomic_load_explicit(&w[0], memory_order_acquire);
        if (s1 & 1u) {
            cpu_relax();
            continue;
        }
        copy[0] = s1;
        for (int i = 1; i < RP_DTABLE_COPY_WORDS; i++)
            copy[i] = atomic_load_explicit(&w[i], memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        uint32_t s2 = atomic_load_explicit(&w[0], memory_order_relaxed);
        if (s1 != s2) {
            cpu_relax();
            continue;
        }
        memcpy(out, copy, sizeof copy);
        memset((unsigned char *)out + sizeof copy, 0, sizeof *out - sizeof copy);
        return 1;
    }
    return 0;
}

int rp_dtable_check_header(const rp_dtable_header *hdr, uint64_t file_size, char *why,
                           size_t why_size) {
    if (file_size < sizeof *hdr) {
        snprintf(why, why_size, "file is %llu bytes, shorter than the %zu-byte header",
                 (unsigned long long)file_size, sizeof *hdr);
        return -1;
    }
    if (memcmp(hdr->magic, RP_DTABLE_MAGIC, sizeof hdr->magic) != 0) {
        snprintf(why, why_size, "bad magic (not a decision table)");
        return -1;
    }
    if (hdr->version != RP_DTABLE_VERSION) {
        snprintf(why, why_size, "unsupported version %u (this reader knows %u)", hdr->version,
                 RP_DTABLE_VERSION);
        return -1;
    }
    if (hdr->entry_size != sizeof(rp_dtable_entry)) {
        snprintf(why, why_size, "entry size %u, expected %zu", hdr->entry_size,
                 sizeof(rp_dtable_entry));
        return -1;
    }
    uint32_t cap = hdr->capacity;
    if (cap == 0 || (cap & (cap - 1)) != 0 || cap > RP_DTABLE_MAX_CAPACITY) {
        snprintf(why, why_size, "capacity %u is not a power of two in 1..%u", cap,
                 RP_DTABLE_MAX_CAPACITY);
        return -1;
    }
    if (hdr->max_probe == 0 || hdr->max_probe > cap || hdr->max_probe > RP_DTABLE_MAX_PROBE_LIMIT) {
        snprintf(why, why_size, "max_probe %u out of range for capacity %u", hdr->max_probe, cap);
        return -1;
    }
    if (file_size != rp_dtable_file_size(cap)) {
        snprintf(why, why_size, "file is %llu bytes but capacity %u needs %llu",
                 (unsigned long long)file_size, cap,
                 (unsigned long long)rp_dtable_file_size(cap));
        return -1;
    }
    return 0;
}

/* Open, check and map path into *m. The header is read with pread and
 * checked against fstat's size before anything is mapped, so a zero-length
 * or truncated file is refused without touching memory past its end. */
static rp_status map_file(const char *path, rp_dtable_map *m, rp_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return reader_error(err, e == ENOENT ? RP_ENOENT : RP_EIO, path,
                            "cannot open decision table: %s", strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return reader_error(err, RP_EIO, path, "cannot stat decision table: %s", strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return reader_error(err, RP_EPARSE, path, "decision table is not a regular file");
    }
    rp_dtable_header hdr;
    memset(&hdr, 0, sizeof hdr);
    uint64_t size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    if (size >= sizeof hdr) {
        ssize_t n = pread(fd, &hdr, sizeof hdr, 0);
        if (n != (ssize_t)sizeof hdr) size = n > 0 ? (uint64_t)n : 0;
    }
    char why[160];
    if (rp_dtable_check_header(&hdr, size, why, sizeof why) != 0) {
        close(fd);
        return reader_error(err, RP_EPARSE, path, "invalid decision table: %s", why);
    }
    void *base = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd); /* the mapping keeps the file alive */
    if (base == MAP_FAILED)
        return reader_error(err, RP_EIO, path, "cannot map decision table: %s", strerror(e));
    m->base = base;
    m->size = (size_t)size;
    m->mask = hdr.capacity - 1;
    m->max_probe = hdr.max_probe;
    m->dev = st.st_dev;
    m->ino = st.st_ino;
    return RP_OK;
}

static void unmap(rp_dtable_map *m) {
    if (m->base) munmap((void *)m->base, m->size);
    memset(m, 0, sizeof *m);
}

/* -------------------------------------------------------------- public */

rp_status rp_dtable_reader_open(const char *path, rp_dtable_reader **out, rp_error *err) {
    if (!path || !out) return reader_error(err, RP_EINVAL, NULL, "no decision table path");
    size_t len = strlen(path);
    if (len == 0 || len >= PATH_MAX)
        return reader_error(err, RP_EINVAL, NULL, "decision table path is empty or too long");
    rp_dtable_reader *r = calloc(1, sizeof *r);
    if (!r) return reader_error(err, RP_ENOMEM, path, "out of memory");
    memcpy(r->path, path, len + 1);
    rp_status st = map_file(path, &r->map, err);
    if (st != RP_OK) {
        free(r);
        return st;
    }
    *out = r;
    return RP_OK;
}

void rp_dtable_reader_close(rp_dtable_reader *r) {
    if (!r) return;
    unmap(&r->map);
    free(r);
}

/*
 * Probe from the key's home slot. The writer keeps each key in at most
 * one slot and never turns a used slot back into EMPTY (only a
 * compaction, in a new file, does), so the first EMPTY slot proves the
 * key absent, and the first matching slot is the only one.
 */
int rp_dtable_lookup(const rp_dtable_reader *r, const rp_key *key, int64_t now_us,
                     rp_dtable_hit *hit) {
    if (!r || !r->map.base || !key || key->level >= RP_LEVEL_COUNT) return 0;
    const rp_dtable_entry *slots =
        (const rp_dtable_entry *)(const void *)(r->map.base + sizeof(rp_dtable_header));
    uint8_t want = (uint8_t)(key->level + 1);
    uint64_t h = rp_dtable_key_hash(key);
    for (uint32_t i = 0; i < r->map.max_probe; i++) {
        rp_dtable_entry e;
        if (!rp_dtable_snapshot(&slots[(h + i) & r->map.mask], &e)) return 0; /* fail open */
        if (e.level == RP_DTABLE_EMPTY) return 0;
        if (e.level != want || memcmp(e.key, key->bytes, sizeof e.key) != 0) continue;
        if (e.expires_us <= now_us) return 0; /* expired: no write needed */
        if (hit) {
            hit->action = (rp_action)e.action;
            hit->expires_us = e.expires_us;
            hit->incident_id = e.incident_id;
        }
        return 1;
    }
    return 0;
}

/*
 * One stat when nothing changed. The old file cannot lose its inode number
 * to the new one while we still map it (a mapped inode is not freed), so
 * a (device, inode) mismatch always means a different file.
 */
rp_status rp_dtable_reader_refresh(rp_dtable_reader *r, rp_error *err) {
    if (!r) return reader_error(err, RP_EINVAL, NULL, "no decision table reader");
    struct stat st;
    if (stat(r->path, &st) != 0) {
        int e = errno;
        return reader_error(err, e == ENOENT ? RP_ENOENT : RP_EIO, r->path,
                            "cannot stat decision table (keeping the old mapping): %s",
                            strerror(e));
    }
    if (r->map.base && st.st_dev == r->map.dev && st.st_ino == r->map.ino) return RP_OK;
    rp_dtable_map fresh;
    memset(&fresh, 0, sizeof fresh);
    rp_status status = map_file(r->path, &fresh, err);
    if (status != RP_OK) return status; /* old mapping kept */
    unmap(&r->map);
    r->map = fresh;
    return RP_OK;
}
