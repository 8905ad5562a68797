/*
 * dtable.h -- the decision table: a shared-memory file that the daemon
 * alone writes and any number of nginx worker processes read, without
 * locks. Layout in docs/decision-table.md.
 *
 * A fixed-size array of 64-byte entries after a 64-byte header, indexed by
 * open addressing on rp_hash64 of the key (linear probing, at most
 * max_probe slots). Each entry carries a sequence number: the writer makes
 * it odd, writes the fields, makes it even (with release ordering); a
 * reader copies the entry between two reads of the sequence and retries
 * when they differ or are odd, so it never acts on a torn entry.
 *
 * Expiry needs no write: an entry whose expiry has passed does not apply.
 * Removal writes a tombstone. The writer compacts by building a fresh file
 * beside the old one and renaming it over; readers notice the new inode
 * (rp_dtable_reader_refresh, at most once a second from the module) and
 * remap.
 *
 * The reader half (dtable_reader.c) depends only on libc and hash.c: the
 * nginx module compiles it. The writer half (dtable_writer.c) belongs to
 * the daemon.
 */
#ifndef RP_DTABLE_H
#define RP_DTABLE_H

#include "rampart.h"

#define RP_DTABLE_MAGIC "RPDTABLE"
#define RP_DTABLE_VERSION 1
#define RP_DTABLE_MAX_PROBE 32

/* level byte of an entry */
#define RP_DTABLE_EMPTY 0      /* never used: ends a probe sequence */
#define RP_DTABLE_TOMBSTONE 255 /* removed: probing continues past it */
/* otherwise level = rp_key_level + 1 */

typedef struct rp_dtable_header {
    char magic[8];          /* "RPDTABLE" */
    uint32_t version;       /* RP_DTABLE_VERSION */
    uint32_t entry_size;    /* sizeof(rp_dtable_entry) = 64 */
    uint32_t capacity;      /* entries, a power of two */
    uint32_t max_probe;     /* RP_DTABLE_MAX_PROBE */
    uint64_t generation;    /* bumped by each compaction */
    uint64_t used;          /* live + tombstone entries (writer's count) */
    int64_t updated_us;     /* last write, wall clock */
    uint8_t reserved[16];
} rp_dtable_header;

typedef struct rp_dtable_entry {
    uint32_t seq;           /* even: stable; odd: being written */
    uint8_t level;          /* see above */
    uint8_t action;         /* rp_action */
    uint8_t family;         /* address family for IP/subnet keys */
    uint8_t reserved0;
    uint8_t key[16];        /* rp_key.bytes */
    int64_t expires_us;     /* wall clock, microseconds since the epoch */
    int64_t start_us;
    uint64_t incident_id;
    uint8_t reserved[16];
} rp_dtable_entry;

_Static_assert(sizeof(rp_dtable_header) == 64, "dtable header is 64 bytes");
_Static_assert(sizeof(rp_dtable_entry) == 64, "dtable entry is 64 bytes");

typedef struct rp_dtable_hit {
    rp_action action;
    int64_t expires_us;
    uint64_t incident_id;
} rp_dtable_hit;

/* ---- reader (nginx module, /v1/check, tests) ---- */
typedef struct rp_dtable_reader rp_dtable_reader;

rp_status rp_dtable_reader_open(const char *path, rp_dtable_reader **out, rp_error *err);
void rp_dtable_reader_close(rp_dtable_reader *r);
/* 1 and *hit filled when an unexpired decision exists for key at now_us;
 * 0 when none; never blocks, never allocates. */
int rp_dtable_lookup(const rp_dtable_reader *r, const rp_key *key, int64_t now_us,
                     rp_dtable_hit *hit);
/* Remap when the file on disk was replaced (compaction, daemon restart).
 * Returns RP_OK (also when nothing changed) or an error, keeping the old
 * mapping. */
rp_status rp_dtable_reader_refresh(rp_dtable_reader *r, rp_error *err);

/* ---- writer (the daemon) ---- */
typedef struct rp_dtable_writer rp_dtable_writer;

/* Create a new, empty table at path (atomically replacing any file
 * there). capacity is rounded up to a power of two. */
rp_status rp_dtable_writer_create(const char *path, uint32_t capacity, rp_dtable_writer **out,
                                  rp_error *err);
/* The two halves of create: prepare builds the table beside path
 * ("path.tmp.PID") without touching path; publish renames it over path.
 * Between them the writer works as usual on a file nobody reads, so a
 * daemon fills it and publishes only once its start-up has succeeded.
 * Closing an unpublished writer removes its file. */
rp_status rp_dtable_writer_prepare(const char *path, uint32_t capacity, rp_dtable_writer **out,
                                   rp_error *err);
rp_status rp_dtable_writer_publish(rp_dtable_writer *w, rp_error *err);
void rp_dtable_writer_close(rp_dtable_writer *w);
/* RP_OK when the mapped file still has the mapping's size (one fstat)
 * and no access faulted; with deep, also that path still names the file
 * (one stat: a file replaced or removed by someone else is no longer what
 * nginx reads). RP_EIO with the reason otherwise: the writer then refuses
 * puts and removes until rp_dtable_writer_rebuild. */
rp_status rp_dtable_writer_check(rp_dtable_writer *w, bool deep, rp_error *err);
/* A new file at path (generation + 1) holding the live entries still
 * readable in the damaged one (none after a truncation to zero); *kept
 * (may be NULL) says how many. The caller refills the rest (the daemon:
 * from its store). */
rp_status rp_dtable_writer_rebuild(rp_dtable_writer *w, int64_t now_us, uint64_t *kept,
                                   rp_error *err);
/* Run fn(arg) with SIGBUS from a truncated mapping turned into a false
 * return instead of the death of the process (thread-safe; the handler
 * is installed on first use and passes other faults on). The daemon runs
 * its own reader's lookups under it; fn must not allocate or lock. */
bool rp_dtable_guarded(void (*fn)(void *arg), void *arg);
/* Install the guard's SIGBUS handler now (rp_dtable_guarded does it on
 * first use). Whoever installs a SIGBUS handler after that replaces the
 * guard and must call this again; the daemon calls it once at start. */
void rp_dtable_guard_install(void);
/* Insert or replace the decision for d->key. RP_ENOMEM when no slot is
 * free within max_probe even after dropping expired entries. */
rp_status rp_dtable_put(rp_dtable_writer *w, const rp_decision *d, int64_t now_us);
/* RP_OK when a put of key would find a slot now (RP_ENOMEM when not):
 * the daemon asks before it commits a manual decision to its store. */
rp_status rp_dtable_can_put(rp_dtable_writer *w, const rp_key *key, int64_t now_us);
/* RP_ENOENT when key has no entry. Put and remove answer RP_EIO when the
 * file is damaged (rp_dtable_writer_check). */
rp_status rp_dtable_remove(rp_dtable_writer *w, const rp_key *key);
/* Rebuild without expired entries and tombstones; readers move over by
 * inode. */
rp_status rp_dtable_compact(rp_dtable_writer *w, int64_t now_us, rp_error *err);

typedef struct rp_dtable_stats {
    uint32_t capacity;
    uint32_t live;       /* unexpired at the last count */
    uint32_t tombstones;
    uint64_t generation;
    uint64_t puts, removes, full; /* full: puts refused for lack of room */
    bool damaged;        /* the file was truncated: live/tombstones unknown */
} rp_dtable_stats;

void rp_dtable_writer_stats(rp_dtable_writer *w, int64_t now_us, rp_dtable_stats *s);
/* Visit unexpired entries (for GET /v1/decisions). RP_EIO (possibly after
 * some visits) when the file is damaged. */
rp_status rp_dtable_writer_each(rp_dtable_writer *w, int64_t now_us,
                           void (*fn)(void *user, const rp_decision *d), void *user);

#endif
