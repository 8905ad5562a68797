/*
 * dtable_writer.c -- the daemon's half of the decision table.
 *
 * One writer per file, used from one thread (the daemon serialises its
 * calls): the seqlock protects readers from the writer, not writers from
 * each other.
 *
 * Files are always built beside the published path ("path.tmp.PID"),
 * sized with posix_fallocate (so that a full tmpfs fails here, with an
 * error, rather than with SIGBUS on a later write through the mapping),
 * given their header, and only then renamed over the path: a reader that
 * opens the path sees either the old complete file or the new complete
 * one. The file is mode 0644 so that nginx workers running as another
 * user can map it read-only.
 *
 * Slot choice for a put: probe from the key's home slot, at most
 * max_probe slots, stopping at the first EMPTY one. An existing entry for
 * the key is overwritten in place (so a key never occupies two slots);
 * otherwise the first reusable slot wins: a tombstone, an expired entry
 * or the terminating EMPTY slot. Nothing ever turns a used slot back to
 * EMPTY in a live file, which is what lets readers stop at EMPTY.
 *
 * Compaction rebuilds the file without tombstones and expired entries
 * (same capacity, generation + 1), renames it over the path and switches
 * the writer to it; readers follow by inode on their next refresh. Until
 * then they read the old file, which the writer no longer updates: a
 * decision made in that window reaches them at their refresh (at most a
 * second for the nginx module).
 *
 * Closing the writer leaves the file in place: workers keep enforcing the
 * last decisions while the daemon restarts, and the next daemon replaces
 * the file after restoring decisions from the store. A writer can also be
 * prepared without publishing (rp_dtable_writer_prepare): the daemon fills
 * it and renames it over the live table only once its start-up has
 * succeeded, so a start that fails leaves the running system's table as
 * it was.
 *
 * The file is shared, so someone else can truncate it under the mapping
 * (a careless `> table`, a full-disk cleanup script). Touching a mapped
 * page beyond the end of the file raises SIGBUS, which would kill the
 * daemon. Two defences, as in the nginx module: every public operation
 * first compares fstat's size with the mapping (one syscall; a damaged
 * file is reported as RP_EIO and rp_dtable_writer_rebuild makes a new
 * one), and the accesses themselves run under a SIGBUS guard (a
 * thread-local sigsetjmp, the handler installed once per process) that
 * turns a truncation racing with the check into the same RP_EIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dtable.h"
#include "dtable_int.h"

/* A mapped table the writer owns. */
typedef struct rp_dtable_wmap {
    unsigned char *base;
    size_t size;
    uint32_t capacity;
    uint32_t max_probe;
} rp_dtable_wmap;

struct rp_dtable_writer {
    rp_dtable_wmap map;
    int fd;          /* the mapped file, kept open to fstat it */
    bool published;  /* renamed over path (else it is still at tmp) */
    bool damaged;    /* a check or the guard found the file truncated */
    uint64_t puts, removes, full;
    char path[PATH_MAX];
    char tmp[PATH_MAX]; /* where an unpublished file lies */
};

static const uint8_t v4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* ------------------------------------------------------------- helpers */

static int64_t wall_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------- SIGBUS guard */

/* The frame to jump back to when the current thread is inside a guarded
 * access; NULL otherwise. Thread-local: the daemon's threads (engine,
 * admin) each run their own guarded calls under the table lock. */
static _Thread_local sigjmp_buf *bus_frame;
static struct sigaction bus_old;
static pthread_once_t bus_once = PTHREAD_ONCE_INIT;

static void bus_handler(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    (void)uc;
    sigjmp_buf *frame = bus_frame;
    if (frame) {
        bus_frame = NULL;
        siglongjmp(*frame, 1);
    }
    /* Not a table access: put the old disposition back; the faulting
     * instruction runs again and meets it. */
    sigaction(SIGBUS, &bus_old, NULL);
}

static pthread_mutex_t bus_install_lock = PTHREAD_MUTEX_INITIALIZER;

void rp_dtable_guard_install(void) {
    struct sigaction sa, current;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = bus_handler;
    /* NODEFER: the jump leaves the handler without sigreturn, so SIGBUS
     * must not stay blocked; the frame is taken without saving the mask
     * (no syscall per access). */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    pthread_mutex_lock(&bus_install_lock);
    /* Keep the disposition we replace, but never our own: passing a
     * foreign fault on to ourselves would loop. */
    if (sigaction(SIGBUS, NULL, &current) == 0 &&
        !((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == bus_handler)) {
        bus_old = current;
        sigaction(SIGBUS, &sa, NULL);
    }
    pthread_mutex_unlock(&bus_install_lock);
}

static void bus_install(void) { rp_dtable_guard_install(); }

bool rp_dtable_guarded(void (*fn)(void *arg), void *arg) {
    pthread_once(&bus_once, bus_install);
    sigjmp_buf frame;
    if (sigsetjmp(frame, 0)) {
        bus_frame = NULL;
        return false;
    }
    bus_frame = &frame;
    fn(arg);
    bus_frame = NULL;
    return true;
}

static rp_dtable_header *header_of(const rp_dtable_wmap *m) {
    return (rp_dtable_header *)(void *)m->base;
}

static rp_dtable_entry *slot_at(const rp_dtable_wmap *m, uint32_t index) {
    return (rp_dtable_entry *)(void *)(m->base + sizeof(rp_dtable_header)) + index;
}

/* Header counters are stored atomically: a monitoring tool may read them
 * while we write. Readers' lookups never depend on them. */
static void header_store(uint64_t *field, uint64_t value) {
    atomic_store_explicit((_Atomic uint64_t *)(void *)field, value, memory_order_relaxed);
}

static void header_touch(const rp_dtable_wmap *m) {
    header_store((uint64_t *)(void *)&header_of(m)->updated_us, (uint64_t)wall_us());
}

static void header_add_used(const rp_dtable_wmap *m, uint64_t delta) {
    rp_dtable_header *h = header_of(m);
    header_store(&h->used, h->used + delta);
}

/*
 * The seqlock write side (the reasoning is beside rp_dtable_snapshot in
 * dtable_reader.c): seq odd, release fence, data words relaxed, seq even
 * with release. Every word is written, including unchanged ones, as
 * relaxed atomics, so readers never race with a plain store.
 */
static void entry_write(rp_dtable_entry *slot, const rp_dtable_entry *value) {
    _Atomic uint32_t *w = (_Atomic uint32_t *)(void *)slot;
    uint32_t words[sizeof *value / 4];
    memcpy(words, value, sizeof words);
    uint32_t s = atomic_load_explicit(&w[0], memory_order_relaxed);
    atomic_store_explicit(&w[0], s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    for (size_t i = 1; i < sizeof words / 4; i++)
        atomic_store_explicit(&w[i], words[i], memory_order_relaxed);
    atomic_store_explicit(&w[0], s + 2, memory_order_release);
}

/* The writer is the only writer, so its own snapshot never fails; going
 * through it keeps every access to shared entries atomic. */
static void entry_read(const rp_dtable_entry *slot, rp_dtable_entry *out) {
    if (!rp_dtable_snapshot(slot, out)) memset(out, 0, sizeof *out);
}

static bool key_matches(const rp_dtable_entry *e, const rp_key *key) {
    return e->level == (uint8_t)(key->level + 1) && memcmp(e->key, key->bytes, 16) == 0;
}

static void entry_from_decision(const rp_decision *d, rp_dtable_entry *e) {
    memset(e, 0, sizeof *e);
    e->level = (uint8_t)(d->key.level + 1);
    e->action = (uint8_t)d->action;
    if (d->key.level == RP_LEVEL_IP || d->key.level == RP_LEVEL_SUBNET) {
        uint8_t fam = d->key.reserved[0];
        if (fam != 4 && fam != 6)
            fam = memcmp(d->key.bytes, v4_mapped_prefix, sizeof v4_mapped_prefix) == 0 ? 4 : 6;
        e->family = fam;
    }
    memcpy(e->key, d->key.bytes, sizeof e->key);
    e->expires_us = d->expires_us;
    e->start_us = d->start_us;
    e->incident_id = d->incident_id;
}

static void decision_from_entry(const rp_dtable_entry *e, rp_decision *d) {
    memset(d, 0, sizeof *d);
    d->key.level = (uint8_t)(e->level - 1);
    d->key.reserved[0] = e->family;
    memcpy(d->key.bytes, e->key, sizeof d->key.bytes);
    d->action = (rp_action)e->action;
    d->start_us = e->start_us;
    d->expires_us = e->expires_us;
    d->incident_id = e->incident_id;
    d->score = 0; /* not stored in the table; the store has it */
}

static bool is_live_level(uint8_t level) { return level >= 1 && level <= RP_LEVEL_COUNT; }

/* ------------------------------------------------------------- probing */

typedef struct probe_result {
    int64_t found;  /* slot holding the key, or -1 */
    int64_t reuse;  /* first tombstone / expired / empty slot, or -1 */
    bool reuse_empty;
} probe_result;

static void probe(const rp_dtable_wmap *m, const rp_key *key, int64_t now_us, bool want_reuse,
                  probe_result *r) {
    r->found = r->reuse = -1;
    r->reuse_empty = false;
    uint32_t mask = m->capacity - 1;
    uint64_t h = rp_dtable_key_hash(key);
    for (uint32_t i = 0; i < m->max_probe; i++) {
        uint32_t idx = (uint32_t)((h + i) & mask);
        rp_dtable_entry e;
        entry_read(slot_at(m, idx), &e);
        if (e.level == RP_DTABLE_EMPTY) {
            if (want_reuse && r->reuse < 0) {
                r->reuse = idx;
                r->reuse_empty = true;
            }
            return;
        }
        if (key_matches(&e, key)) {
            r->found = idx;
            return;
        }
        if (want_reuse && r->reuse < 0 && (e.level == RP_DTABLE_TOMBSTONE || e.expires_us <= now_us))
            r->reuse = idx;
    }
}

/* Place an entry in a table known not to hold its key (compaction). */
static bool insert_fresh(const rp_dtable_wmap *m, const rp_dtable_entry *e) {
    rp_key key;
    memset(&key, 0, sizeof key);
    key.level = (uint8_t)(e->level - 1);
    memcpy(key.bytes, e->key, sizeof key.bytes);
    probe_result r;
    probe(m, &key, INT64_MIN, true, &r);
    if (r.reuse < 0) return false;
    entry_write(slot_at(m, (uint32_t)r.reuse), e);
    return true;
}

/* --------------------------------------------------------------- files */

static rp_status tmp_path(const char *path, char *buf, size_t size, rp_error *err) {
    int n = snprintf(buf, size, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= size)
        return rp_error_set(err, RP_EINVAL, path, 0, 0, "decision table path too long");
    return RP_OK;
}

/* Create tmp sized for capacity, mapped read-write, with its header; the
 * descriptor stays open in *fd_out (the writer fstats it). */
static rp_status file_build(const char *tmp, uint32_t capacity, uint64_t generation,
                            rp_dtable_wmap *m, int *fd_out, rp_error *err) {
    uint64_t size = rp_dtable_file_size(capacity);
    int fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return rp_error_set(err, RP_EIO, tmp, 0, 0, "cannot create decision table: %s",
                            strerror(errno));
    fchmod(fd, 0644); /* whatever the umask: workers of another user read it */
    int rc = posix_fallocate(fd, 0, (off_t)size);
    if (rc != 0) {
        close(fd);
        unlink(tmp);
        return rp_error_set(err, rc == ENOSPC ? RP_ENOMEM : RP_EIO, tmp, 0, 0,
                            "cannot size decision table to %llu bytes: %s",
                            (unsigned long long)size, strerror(rc));
    }
    void *base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int e = errno;
    if (base == MAP_FAILED) {
        close(fd);
        unlink(tmp);
        return rp_error_set(err, RP_EIO, tmp, 0, 0, "cannot map decision table: %s",
                            strerror(e));
    }
    m->base = base;
    m->size = (size_t)size;
    m->capacity = capacity;
    m->max_probe = capacity < RP_DTABLE_MAX_PROBE ? capacity : RP_DTABLE_MAX_PROBE;
    /* Not yet visible to anyone: plain stores are fine. fallocate zeroed
     * the entries, and a zero level byte is EMPTY. */
    rp_dtable_header *h = header_of(m);
    memcpy(h->magic, RP_DTABLE_MAGIC, sizeof h->magic);
    h->version = RP_DTABLE_VERSION;
    h->entry_size = sizeof(rp_dtable_entry);
    h->capacity = capacity;
    h->max_probe = m->max_probe;
    h->generation = generation;
    h->used = 0;
    h->updated_us = wall_us();
    *fd_out = fd;
    return RP_OK;
}

static void map_release(rp_dtable_wmap *m, int *fd) {
    if (m->base) munmap(m->base, m->size);
    memset(m, 0, sizeof *m);
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

static void file_discard(const char *tmp, rp_dtable_wmap *m, int *fd) {
    map_release(m, fd);
    unlink(tmp);
}

static rp_status file_publish(const char *tmp, const char *path, rp_error *err) {
    if (rename(tmp, path) != 0)
        return rp_error_set(err, RP_EIO, path, 0, 0, "cannot install decision table: %s",
                            strerror(errno));
    return RP_OK;
}

/* Whether the mapped file still has the size of the mapping. One fstat;
 * a file that shrank (or grew: someone else writes it) is damaged. */
static bool size_intact(rp_dtable_writer *w, uint64_t *actual) {
    struct stat st;
    if (fstat(w->fd, &st) != 0) return false;
    *actual = (uint64_t)st.st_size;
    return (uint64_t)st.st_size == w->map.size;
}

/* RP_OK when the writer may touch its mapping; RP_EIO once the file was
 * found truncated (until rp_dtable_writer_rebuild). */
static rp_status usable(rp_dtable_writer *w) {
    uint64_t actual = 0;
    if (w->damaged || !size_intact(w, &actual)) {
        w->damaged = true;
        return RP_EIO;
    }
    return RP_OK;
}

/* -------------------------------------------------------------- public */

rp_status rp_dtable_writer_prepare(const char *path, uint32_t capacity, rp_dtable_writer **out,
                                   rp_error *err) {
    if (!path || !path[0] || !out)
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "no decision table path");
    if (capacity == 0 || capacity > RP_DTABLE_MAX_CAPACITY)
        return rp_error_set(err, RP_ERANGE, path, 0, 0,
                            "decision table capacity %u out of range 1..%u", capacity,
                            RP_DTABLE_MAX_CAPACITY);
    uint32_t cap = 1;
    while (cap < capacity) cap <<= 1;
    size_t len = strlen(path);
    if (len >= PATH_MAX) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "path too long");
    rp_dtable_writer *w = calloc(1, sizeof *w);
    if (!w) return rp_error_set(err, RP_ENOMEM, path, 0, 0, "out of memory");
    w->fd = -1;
    memcpy(w->path, path, len + 1);
    rp_status st = tmp_path(path, w->tmp, sizeof w->tmp, err);
    if (st == RP_OK) st = file_build(w->tmp, cap, 1, &w->map, &w->fd, err);
    if (st != RP_OK) {
        free(w);
        return st;
    }
    *out = w;
    return RP_OK;
}

rp_status rp_dtable_writer_publish(rp_dtable_writer *w, rp_error *err) {
    if (!w) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "no decision table writer");
    if (w->published) return RP_OK;
    rp_status st = file_publish(w->tmp, w->path, err);
    if (st == RP_OK) w->published = true;
    return st;
}

rp_status rp_dtable_writer_create(const char *path, uint32_t capacity, rp_dtable_writer **out,
                                  rp_error *err) {
    rp_status st = rp_dtable_writer_prepare(path, capacity, out, err);
    if (st != RP_OK) return st;
    st = rp_dtable_writer_publish(*out, err);
    if (st != RP_OK) {
        rp_dtable_writer_close(*out);
        *out = NULL;
    }
    return st;
}

void rp_dtable_writer_close(rp_dtable_writer *w) {
    if (!w) return;
    if (w->published) map_release(&w->map, &w->fd);
    else file_discard(w->tmp, &w->map, &w->fd); /* never seen by anyone */
    free(w);
}

typedef struct put_call {
    rp_dtable_writer *w;
    const rp_decision *d;
    int64_t now_us;
    rp_status st;
} put_call;

static void put_guarded(void *arg) {
    put_call *c = arg;
    rp_dtable_writer *w = c->w;
    probe_result r;
    probe(&w->map, &c->d->key, c->now_us, true, &r);
    int64_t idx = r.found >= 0 ? r.found : r.reuse;
    if (idx < 0) {
        w->full++;
        c->st = RP_ENOMEM;
        return;
    }
    rp_dtable_entry e;
    entry_from_decision(c->d, &e);
    entry_write(slot_at(&w->map, (uint32_t)idx), &e);
    if (r.found < 0 && r.reuse_empty) header_add_used(&w->map, 1);
    header_touch(&w->map);
    w->puts++;
    c->st = RP_OK;
}

/* Run fn under the SIGBUS guard once the size check passed; a fault marks
 * the writer damaged. */
static rp_status run_on_map(rp_dtable_writer *w, void (*fn)(void *), void *arg) {
    if (usable(w) != RP_OK) return RP_EIO;
    if (!rp_dtable_guarded(fn, arg)) {
        w->damaged = true;
        return RP_EIO;
    }
    return RP_OK;
}

rp_status rp_dtable_put(rp_dtable_writer *w, const rp_decision *d, int64_t now_us) {
    if (!w || !d || d->key.level >= RP_LEVEL_COUNT || (unsigned)d->action > RP_ACTION_ALLOW)
        return RP_EINVAL;
    put_call c = {.w = w, .d = d, .now_us = now_us, .st = RP_EIO};
    if (run_on_map(w, put_guarded, &c) != RP_OK) return RP_EIO;
    return c.st;
}

typedef struct probe_call {
    const rp_dtable_wmap *map;
    const rp_key *key;
    int64_t now_us;
    bool want_reuse;
    probe_result r;
} probe_call;

static void probe_guarded(void *arg) {
    probe_call *c = arg;
    probe(c->map, c->key, c->now_us, c->want_reuse, &c->r);
}

typedef struct entry_call {
    const rp_dtable_wmap *map;
    uint32_t index;
    const rp_dtable_entry *value;
} entry_call;

static void entry_write_guarded(void *arg) {
    entry_call *c = arg;
    entry_write(slot_at(c->map, c->index), c->value);
    header_touch(c->map);
}

rp_status rp_dtable_can_put(rp_dtable_writer *w, const rp_key *key, int64_t now_us) {
    if (!w || !key || key->level >= RP_LEVEL_COUNT) return RP_EINVAL;
    probe_call c = {.map = &w->map, .key = key, .now_us = now_us, .want_reuse = true};
    if (run_on_map(w, probe_guarded, &c) != RP_OK) return RP_EIO;
    return c.r.found >= 0 || c.r.reuse >= 0 ? RP_OK : RP_ENOMEM;
}

rp_status rp_dtable_remove(rp_dtable_writer *w, const rp_key *key) {
    if (!w || !key || key->level >= RP_LEVEL_COUNT) return RP_EINVAL;
    probe_call c = {.map = &w->map, .key = key, .now_us = 0, .want_reuse = false};
    if (run_on_map(w, probe_guarded, &c) != RP_OK) return RP_EIO;
    if (c.r.found < 0) return RP_ENOENT;
    rp_dtable_entry tomb;
    memset(&tomb, 0, sizeof tomb);
    tomb.level = RP_DTABLE_TOMBSTONE;
    entry_call e = {.map = &w->map, .index = (uint32_t)c.r.found, .value = &tomb};
    if (run_on_map(w, entry_write_guarded, &e) != RP_OK) return RP_EIO;
    w->removes++;
    return RP_OK;
}

/*
 * Copy live entries of old into fresh cluster by cluster, starting just
 * after an EMPTY slot of the old table: taken in that order, every entry
 * lands no further from its home slot than it was, so none can fail its
 * probe limit. (A table with no EMPTY slot at all has no such start; the
 * copy then begins at slot 0 and, should an entry still not fit, the
 * copy fails.) Only the first readable_slots slots of old are read: after
 * a truncation, the rest is gone.
 */
typedef struct copy_call {
    const rp_dtable_wmap *old, *fresh;
    uint32_t readable_slots;
    int64_t now_us;
    uint64_t used;
    bool ok;
} copy_call;

static void copy_live(void *arg) {
    copy_call *c = arg;
    uint32_t cap = c->old->capacity, start = 0;
    for (uint32_t i = 0; i < c->readable_slots; i++) {
        rp_dtable_entry e;
        entry_read(slot_at(c->old, i), &e);
        if (e.level == RP_DTABLE_EMPTY) {
            start = (i + 1) & (cap - 1);
            break;
        }
    }
    for (uint32_t n = 0; n < cap; n++) {
        uint32_t idx = (start + n) & (cap - 1);
        if (idx >= c->readable_slots) continue;
        rp_dtable_entry e;
        entry_read(slot_at(c->old, idx), &e);
        if (!is_live_level(e.level) || e.expires_us <= c->now_us) continue;
        if (!insert_fresh(c->fresh, &e)) {
            c->ok = false;
            return;
        }
        c->used++;
    }
}

typedef struct generation_call {
    const rp_dtable_wmap *map;
    uint64_t generation;
} generation_call;

static void generation_guarded(void *arg) {
    generation_call *c = arg;
    c->generation = header_of(c->map)->generation;
}

/* Build a fresh file from the readable part of the current one, rename
 * it over the path and switch to it. */
static rp_status rebuild(rp_dtable_writer *w, int64_t now_us, uint32_t readable_slots,
                         uint64_t *copied, rp_error *err) {
    char tmp[PATH_MAX];
    rp_status st = tmp_path(w->path, tmp, sizeof tmp, err);
    if (st != RP_OK) return st;
    /* Unpublished, the current file is at that very name: build beside it. */
    if (!w->published && (size_t)snprintf(tmp, sizeof tmp, "%s.new", w->tmp) >= sizeof tmp)
        return rp_error_set(err, RP_EINVAL, w->path, 0, 0, "decision table path too long");
    rp_dtable_wmap fresh;
    memset(&fresh, 0, sizeof fresh);
    int fresh_fd = -1;
    generation_call g = {.map = &w->map, .generation = 0};
    if (readable_slots) rp_dtable_guarded(generation_guarded, &g);
    st = file_build(tmp, w->map.capacity, g.generation + 1, &fresh, &fresh_fd, err);
    if (st != RP_OK) return st;
    copy_call c = {.old = &w->map, .fresh = &fresh, .readable_slots = readable_slots,
                   .now_us = now_us, .ok = true};
    /* A fault mid-copy (the file shrank further): keep what was copied. */
    if (readable_slots && !rp_dtable_guarded(copy_live, &c)) c.ok = true;
    if (!c.ok) {
        file_discard(tmp, &fresh, &fresh_fd);
        return rp_error_set(err, RP_ENOMEM, w->path, 0, 0,
                            "compaction could not place every live entry; old table kept");
    }
    header_of(&fresh)->used = c.used;
    if (w->published) {
        st = file_publish(tmp, w->path, err);
        if (st != RP_OK) {
            file_discard(tmp, &fresh, &fresh_fd);
            return st;
        }
    } else {
        /* Not yet published: the fresh file takes the place of the
         * prepared one, still unseen. */
        if (rename(tmp, w->tmp) != 0) {
            int e = errno;
            file_discard(tmp, &fresh, &fresh_fd);
            return rp_error_set(err, RP_EIO, w->tmp, 0, 0, "cannot replace decision table: %s",
                                strerror(e));
        }
    }
    map_release(&w->map, &w->fd);
    w->map = fresh;
    w->fd = fresh_fd;
    w->damaged = false;
    if (copied) *copied = c.used;
    return RP_OK;
}

rp_status rp_dtable_compact(rp_dtable_writer *w, int64_t now_us, rp_error *err) {
    if (!w) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "no decision table writer");
    if (usable(w) != RP_OK)
        return rp_error_set(err, RP_EIO, w->path, 0, 0,
                            "the decision table file was truncated under the daemon");
    return rebuild(w, now_us, w->map.capacity, NULL, err);
}

rp_status rp_dtable_writer_check(rp_dtable_writer *w, bool deep, rp_error *err) {
    if (!w) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "no decision table writer");
    uint64_t actual = 0;
    if (!size_intact(w, &actual)) {
        w->damaged = true;
        return rp_error_set(err, RP_EIO, w->path, 0, 0,
                            "the decision table file is %llu bytes, its mapping %zu: truncated "
                            "or overwritten under the daemon",
                            (unsigned long long)actual, w->map.size);
    }
    if (w->damaged)
        return rp_error_set(err, RP_EIO, w->path, 0, 0,
                            "the decision table mapping faulted (SIGBUS caught)");
    if (deep && w->published) {
        struct stat at, mine;
        if (stat(w->path, &at) != 0 || fstat(w->fd, &mine) != 0 || at.st_ino != mine.st_ino ||
            at.st_dev != mine.st_dev) {
            w->damaged = true;
            return rp_error_set(err, RP_EIO, w->path, 0, 0,
                                "the decision table file was removed or replaced by someone "
                                "else: nginx no longer reads what the daemon writes");
        }
    }
    return RP_OK;
}

rp_status rp_dtable_writer_rebuild(rp_dtable_writer *w, int64_t now_us, uint64_t *kept,
                                   rp_error *err) {
    if (!w) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "no decision table writer");
    uint64_t actual = 0;
    size_intact(w, &actual);
    uint64_t readable = 0;
    if (actual > sizeof(rp_dtable_header))
        readable = (actual - sizeof(rp_dtable_header)) / sizeof(rp_dtable_entry);
    if (readable > w->map.capacity) readable = w->map.capacity;
    return rebuild(w, now_us, (uint32_t)readable, kept, err);
}

typedef struct stats_call {
    rp_dtable_writer *w;
    int64_t now_us;
    rp_dtable_stats *s;
} stats_call;

static void stats_guarded(void *arg) {
    stats_call *c = arg;
    rp_dtable_writer *w = c->w;
    c->s->generation = header_of(&w->map)->generation;
    for (uint32_t i = 0; i < w->map.capacity; i++) {
        rp_dtable_entry e;
        entry_read(slot_at(&w->map, i), &e);
        if (e.level == RP_DTABLE_TOMBSTONE) c->s->tombstones++;
        else if (is_live_level(e.level) && e.expires_us > c->now_us) c->s->live++;
    }
}

void rp_dtable_writer_stats(rp_dtable_writer *w, int64_t now_us, rp_dtable_stats *s) {
    memset(s, 0, sizeof *s);
    if (!w) return;
    s->capacity = w->map.capacity;
    s->puts = w->puts;
    s->removes = w->removes;
    s->full = w->full;
    stats_call c = {.w = w, .now_us = now_us, .s = s};
    if (run_on_map(w, stats_guarded, &c) != RP_OK) {
        s->live = s->tombstones = 0;
        s->damaged = true;
    }
}

typedef struct each_call {
    rp_dtable_writer *w;
    int64_t now_us;
    void (*fn)(void *user, const rp_decision *d);
    void *user;
} each_call;

/* fn never touches the mapping, so a fault can only come from our reads,
 * between two calls of fn: the jump never leaves fn half done. */
static void each_guarded(void *arg) {
    each_call *c = arg;
    for (uint32_t i = 0; i < c->w->map.capacity; i++) {
        rp_dtable_entry e;
        entry_read(slot_at(&c->w->map, i), &e);
        if (!is_live_level(e.level) || e.expires_us <= c->now_us) continue;
        rp_decision d;
        decision_from_entry(&e, &d);
        c->fn(c->user, &d);
    }
}

rp_status rp_dtable_writer_each(rp_dtable_writer *w, int64_t now_us,
                                void (*fn)(void *user, const rp_decision *d), void *user) {
    if (!w || !fn) return RP_EINVAL;
    each_call c = {.w = w, .now_us = now_us, .fn = fn, .user = user};
    return run_on_map(w, each_guarded, &c);
}
