/*
 * dtable_int.h -- what the decision-table reader and writer share beyond
 * the public contract in dtable.h: the hash seed, the bounds a valid file
 * must respect, and the seqlock snapshot of one entry.
 *
 * The functions declared here are defined in dtable_reader.c, so that the
 * nginx module, which compiles dtable_reader.c and hash.c alone, has them
 * too; the writer reuses them so that both halves agree byte for byte on
 * where a key lives and what a valid file is.
 */
#ifndef RP_DTABLE_INT_H
#define RP_DTABLE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "dtable.h"

/* Seed of rp_hash64 for slot selection: the ASCII bytes "rpdtable". Part
 * of the file format (version 1): changing it is a new version. */
#define RP_DTABLE_HASH_SEED 0x7270647461626c65ULL

/* Largest capacity a writer creates or a reader accepts: 2^24 entries is
 * 1 GiB of mapping, far beyond any realistic set of live decisions. */
#define RP_DTABLE_MAX_CAPACITY (1u << 24)

/* Longest probe sequence a reader accepts from a header. The writer uses
 * RP_DTABLE_MAX_PROBE (or the capacity, when smaller); the bound keeps a
 * lying header from turning a lookup into a scan of the whole table. */
#define RP_DTABLE_MAX_PROBE_LIMIT 1024

/* Reader retries of one entry seen mid-write before giving up (fail
 * open). A write takes tens of nanoseconds; eight misses mean the writer
 * was descheduled mid-write, and waiting for it is worse than not
 * deciding. */
#define RP_DTABLE_READ_RETRIES 8

/* rp_hash64 over the 16 key bytes followed by the rp_key_level byte. */
uint64_t rp_dtable_key_hash(const rp_key *key);

/* Copy *slot into *out under the entry's seqlock. Returns 1 with a
 * consistent snapshot, 0 when the entry stayed mid-write for
 * RP_DTABLE_READ_RETRIES attempts. out->seq holds the (even) sequence. */
int rp_dtable_snapshot(const rp_dtable_entry *slot, rp_dtable_entry *out);

/* 0 when hdr describes a valid version-1 table of exactly file_size
 * bytes; otherwise -1 with a reason in why (NUL-terminated). */
int rp_dtable_check_header(const rp_dtable_header *hdr, uint64_t file_size, char *why,
                           size_t why_size);

/* File size for a capacity: header + capacity entries. */
static inline uint64_t rp_dtable_file_size(uint32_t capacity) {
    return (uint64_t)sizeof(rp_dtable_header) + (uint64_t)capacity * sizeof(rp_dtable_entry);
}

#endif
