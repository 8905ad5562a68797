/*
 * cluster_int.h -- private to the cluster files of src/daemon/: the
 * struct they share, as daemon_int.h is for the daemon's.
 *
 *   cluster.c            the Redis connection (address, AUTH, timeouts,
 *                        reconnect with backoff), start and stop, metrics
 *   cluster_edge.c       the edge's forwarder: queue -> XADD, pipelined
 *   cluster_detector.c   the detector's reader: XREADGROUP -> queue ->
 *                        engine -> XACK
 *   cluster_decisions.c  decisions both ways: the publisher (this node's
 *                        decisions -> Redis) and the mirror (Redis -> this
 *                        node's table, the full set at start)
 *
 * Each thread owns its own redisContext: hiredis contexts are not
 * thread-safe, and a blocking read must not hold up a write.
 */
#ifndef RP_CLUSTER_INT_H
#define RP_CLUSTER_INT_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cluster.h"
#include "daemon_int.h"

/* A decision or a removal waiting for the publisher. */
typedef struct publish_item {
    struct publish_item *next;
    bool removal;
    /* An operator's decision or removal: in the journal (<store>.unpublished,
     * cluster_journal.c) until Redis acknowledges it, and written by the
     * newer-wins script (cluster_decisions.c). */
    bool durable;
    /* An engine's decision made in local detection (Redis unreachable): a
     * line of <store>.unpublished-local until Redis acknowledges it. */
    bool local;
    rp_decision decision; /* for a removal: the key, and start_us its time */
    int detector; /* an engine's decision: its incident's main detector (a registry
                     index, RP_REFUSED_UNKNOWN when not known) */
} publish_item;

/* The publisher's queue is bounded: a Redis outage must not grow the
 * daemon without limit. 65536 decisions is a table's worth. */
#define RP_CLUSTER_PUBLISH_MAX 65536
/* Redis Cluster: the nodes remembered from a slot map (seeds included),
 * and the room for one "host:port" or "[IPv6]:port". */
#define RP_CLUSTER_MAX_NODES 64
#define RP_CLUSTER_ADDR 280
/* A blocking read waits at most this long, so stop takes at most this. */
#define RP_CLUSTER_BLOCK_MS 500

struct rp_cluster {
    rp_daemon *d;
    rp_cluster_config config;
    char password[256]; /* from password_file; never logged */
    char consumer[96];  /* this detector's name in the group: cluster.consumer or
                           host-<store path hash>, stable across restarts */
    char lease_key[160]; /* <stream>:lease, the active detector's name (cluster_lease.c) */
    char detectors_key[160]; /* <stream>:detectors, the live detectors (partitions > 1) */
    char changes[160];  /* <decisions>:changes */
    char expiry[160];   /* <decisions>:expiry */
    atomic_bool stopping;

    pthread_t forward_thread, detect_thread, mirror_thread, publish_thread;
    bool forward_started, detect_started, mirror_started, publish_started;
    /* The mirror's connection and stream position from rp_cluster_run's
     * first load, handed to its thread. */
    redisContext *mirror_ctx;
    char mirror_last_id[48];

    pthread_mutex_t publish_lock;
    pthread_cond_t publish_cond;
    publish_item *publish_head, *publish_tail;
    size_t publish_pending;

    /* counters (/metrics) */
    atomic_uint_fast64_t forwarded, forward_errors, forward_entries, forward_round_trips;
    atomic_uint_fast64_t stream_trimmed;
    /* partitions > 1: copies written to aggregate streams, and the events
     * that had at least one (cluster_edge.c) */
    atomic_uint_fast64_t aggregate_copies, events_copied;
    atomic_uint_fast64_t consumed, acked, decode_errors;
    atomic_uint_fast64_t claimed, takeovers; /* XAUTOCLAIMed entries, leases taken */
    /* Entries trimmed before the group read them (cluster_lease.c,
     * rp_cluster_sample_trimmed); a sample's refusal logged once. */
    atomic_uint_fast64_t trimmed_unread;
    bool trimmed_sample_logged;
    atomic_bool active;                      /* this detector holds the lease */
    atomic_uint partitions_held;             /* of cluster.partitions' leases */
    atomic_uint live_detectors;              /* as last announced (partitions > 1) */
    atomic_uint_fast64_t mirrored, mirror_removed, loads;
    atomic_uint_fast64_t published, publish_errors, publish_dropped;
    atomic_uint_fast64_t wait_short; /* WAITs fewer replicas acknowledged than asked */
    atomic_uint_fast64_t reconnects;
    atomic_int connected; /* threads with a live connection */

    /* The edge's outage buffer (cluster_edge.c): chunks of records, the
     * oldest first; forwarder thread only, the gauges for /metrics. */
    struct buffer_chunk *buf_head, *buf_tail;
    size_t buf_chunks;
    atomic_uint_fast64_t buffered, buffer_replayed, buffer_dropped, local_events;
    atomic_uint_fast64_t buffer_events, buffer_bytes;
    atomic_uint_fast64_t resync_removed;
    /* The buffer's segments on disk (cluster_spool.c): <store>.spool, ""
     * when off; the next segment's number (forwarder thread only). */
    char spool_dir[620];
    uint64_t spool_next_seq;
    atomic_uint_fast64_t spool_restored, spool_damaged, spool_write_errors;
    atomic_uint_fast64_t spool_syncs; /* fdatasyncs of segments (cluster_edge.c) */
    int64_t spool_synced_us;          /* the last one's time (forwarder thread) */
    /* Local detection (cluster.local_detection): who consumes the queue. */
    pthread_mutex_t local_lock;
    bool local_mode;       /* the forwarder handed the queue to the engine */
    bool engine_consuming; /* what the engine thread was last told */
    atomic_int local_gauge;
    /* Publisher: items taken but not yet written (the resync keeps them). */
    publish_item *publish_inflight;
    /* The journal of the durable items (cluster_journal.c): its path, the
     * lock that keeps its rewrites in order (taken before publish_lock). */
    char journal_path[600];
    pthread_mutex_t journal_lock;
    atomic_uint_fast64_t journal_restored, journal_skipped, journal_errors;
    atomic_uint_fast64_t publish_superseded; /* refused by newer-wins */
    /* The local detection's journal (cluster_journal.c): appended to by
     * the engine's thread, removed by the publisher once none of its items
     * is left unpublished; under publish_lock. */
    char local_journal_path[620];
    int local_journal_fd;
    unsigned local_journal_lines, local_journal_pending;
    atomic_uint_fast64_t local_journal_full;
    /* Sentinel (cluster.sentinels): the one to ask first (the last that
     * answered), and the master last connected to (for the log). */
    atomic_uint sentinel_next;
    pthread_mutex_t master_lock;
    char master_addr[300];
    struct rp_fleet_view *view; /* cluster_incidents.c: name, host ids, incidents */
    struct rp_witness_book *witness; /* cluster_witness.c: detectors, partitions > 1 */
    char sentinel_password[256]; /* from sentinel_password_file; never logged */
    /* Redis Cluster (cluster.redis_cluster): the slot of every key of the
     * fleet, and the nodes to read the slot map from -- the seeds, then
     * those the last map named, the one that answered last first (under
     * master_lock). */
    unsigned slot;
    char nodes[RP_CLUSTER_MAX_NODES][RP_CLUSTER_ADDR];
    unsigned n_nodes;
    char node_answered[RP_CLUSTER_ADDR];
    /* Redis said "not now" (LOADING...): no connection before
     * hold_until_ms (monotonic), the hold doubling while it keeps saying
     * so (cluster.c, hold_off); under master_lock. */
    int64_t not_ready_since_ms, hold_until_ms;
    int hold_ms;
    bool probe_refused; /* a connection's PING was refused in this episode */
    char not_ready_why[100];
    atomic_uint_fast64_t not_ready;
};

/* What an error reply asks of the thread that read it (cluster.c): the
 * connection fails (a lost connection, retried) for ELSEWHERE (READONLY,
 * UNBLOCKED, MOVED, ASK: reconnect to the master) and NOT_READY
 * (LOADING, BUSY, MASTERDOWN, NOREPLICAS, CLUSTERDOWN, TRYAGAIN: Redis
 * will serve later; every connection of the node waits with backoff). */
typedef enum { RP_REPLY_OTHER, RP_REPLY_ELSEWHERE, RP_REPLY_NOT_READY } rp_reply_kind;
rp_reply_kind rp_cluster_reply_kind(const char *str, size_t len);

/* cluster.c: a connected, authenticated context or NULL (err says why,
 * without the password). With cluster.sentinels, on every call: the
 * master's address from the sentinels (in turn); with
 * cluster.redis_cluster, the master of the fleet's slot from the slot
 * map; then ROLE must say master, and PING must not say "not now"
 * (LOADING: RP_REPLY_NOT_READY holds every connection of the node off,
 * with backoff). A reply of rp_cluster_reply_kind ELSEWHERE or NOT_READY
 * on the context later fails the call that read it and every later one
 * (a lost connection), so the thread reconnects through the sentinels or
 * the slot map. */
redisContext *rp_cluster_connect(rp_cluster *c, rp_error *err);
/* Redis Cluster: what a CLUSTER SLOTS reply says. */
typedef struct rp_slot_map {
    char owner[RP_CLUSTER_ADDR]; /* the master serving the slot asked for */
    char nodes[RP_CLUSTER_MAX_NODES][RP_CLUSTER_ADDR]; /* every node named, masters first */
    unsigned n_nodes;
    unsigned skipped; /* malformed ranges or nodes, ignored */
} rp_slot_map;
/* Parse a CLUSTER SLOTS reply (any reply: a hostile or broken one gives
 * false and why). asked is the "host:port" the reply came from: a node
 * whose host is "" is that host (the specification's rule). The nodes
 * list is bounded (RP_CLUSTER_MAX_NODES), the reply's size is not
 * trusted for anything but the walk. */
bool rp_cluster_parse_slots(const redisReply *r, unsigned slot, const char *asked,
                            rp_slot_map *out, char *why, size_t size);
/* The Redis this node talks to, for a log line: cluster.redis, or the
 * master found through the sentinels or the slot map (buf holds it). */
const char *rp_cluster_where(rp_cluster *c, char *buf, size_t size);
/* Connect, retrying with backoff (100 ms doubling to 5 s) until it
 * works or the cluster stops (NULL). who names the thread in the log. */
redisContext *rp_cluster_connect_retry(rp_cluster *c, const char *who);
/* Drop a context whose connection failed; counted. */
void rp_cluster_disconnect(rp_cluster *c, redisContext **ctx);
/* Sleep up to ms, false as soon as the cluster stops. */
bool rp_cluster_sleep(rp_cluster *c, int ms);

/* cluster_edge.c: free the outage buffer (stop). */
void rp_cluster_buffer_free(rp_cluster *c);

/* cluster_lease.c: the active detector's lease and the claim of a dead
 * detector's entries. RP_OK or RP_EIO (the connection failed). */
rp_status rp_cluster_lease_take(rp_cluster *c, redisContext *ctx, const char *key, bool *held,
                                char *holder, size_t size);
void rp_cluster_lease_release(rp_cluster *c, redisContext *ctx, const char *key);
/* cluster_lease.c: the growth of the group's lag on stream since the
 * fleet's last sample into trimmed_unread, when the group has read the
 * stream to its end (else nothing). RP_EIO when the connection failed. */
rp_status rp_cluster_sample_trimmed(rp_cluster *c, redisContext *ctx, const char *stream);
rp_status rp_cluster_claim(rp_cluster *c, redisContext *ctx, const char *stream,
                           uint64_t *claimed);
/* Partitioned detection: the fleet's streams, 1 (<stream>) when
 * cluster.partitions is 1, else 2N: s < N is partition s's address
 * stream <stream>:<s>, s >= N partition s - N's aggregate stream
 * <stream>:x:<s - N> (partition.h); this detector announced alive for
 * lease_ms and the live count (<stream>:detectors, a sorted set scored
 * by each one's expiry); a clean stop's retirement. */
unsigned rp_cluster_streams(const rp_cluster *c);
void rp_cluster_stream_name(const rp_cluster *c, unsigned s, char *out, size_t size);
rp_status rp_cluster_announce(rp_cluster *c, redisContext *ctx, unsigned *live);
void rp_cluster_retire(rp_cluster *c, redisContext *ctx);

/* cluster_incidents.c, the fleet view: this node's name and host ids
 * (made by rp_cluster_new), the incidents published by the publisher
 * thread (rp_cluster_publish_incidents: RP_EIO when the connection
 * failed, the batch kept) and mirrored by a thread of their own. */
typedef struct rp_fleet_view rp_fleet_view;
rp_status rp_fleet_view_new(rp_cluster *c, rp_error *err);
void rp_fleet_view_free(rp_cluster *c);
uint8_t rp_cluster_host_id(rp_cluster *c, const char *name, size_t len);
bool rp_cluster_incidents_pending(rp_cluster *c);
rp_status rp_cluster_publish_incidents(rp_cluster *c, redisContext *ctx);
rp_status rp_cluster_incidents_start(rp_cluster *c, rp_error *err);
void rp_cluster_incidents_join(rp_cluster *c);
void rp_cluster_incidents_metrics(rp_cluster *c, FILE *f);

/* cluster_witness.c, the witness across partitions (detectors with
 * cluster.partitions > 1; nothing otherwise): made by rp_cluster_new
 * (before the engine thread), its thread started by rp_cluster_run,
 * stopped and freed by rp_cluster_stop (after the engine thread), its
 * metrics. */
typedef struct rp_witness_book rp_witness_book;
rp_status rp_cluster_witness_new(rp_cluster *c, rp_error *err);
/* cluster_witness_field.c: one field of the witness hash, "<key>
 * <detector>" -> "<charge> <expires_ms>", written (the field and value
 * strings) and read back (false when it does not parse: the hash is other
 * nodes' writing, not trusted). */
#define RP_WITNESS_NAME 24
typedef struct rp_witness_field {
    rp_key key;
    char detector[RP_WITNESS_NAME]; /* [a-z_]+ */
    double charge;                  /* 0..1 */
    int64_t expires_ms;             /* wall clock */
} rp_witness_field;
void rp_witness_format(const rp_witness_field *w, char *field, size_t field_size, char *value,
                       size_t value_size);
bool rp_witness_parse(const char *field, size_t field_len, const char *value, size_t value_len,
                      rp_witness_field *out);
rp_status rp_cluster_witness_start(rp_cluster *c, rp_error *err);
void rp_cluster_witness_stop(rp_cluster *c);
void rp_cluster_witness_metrics(rp_cluster *c, FILE *f);

/* cluster_decisions.c: a decision's value in Redis, "action start_us
 * expires_us incident_id score source detector", both ways (the journal
 * writes it too). source is engine or manual, detector the incident's main
 * detector or "-"; a value without them (written by an older node) parses,
 * its detector unknown. detector: a registry index or RP_REFUSED_UNKNOWN
 * (parse: NULL when not wanted). */
int rp_cluster_format_value(const rp_decision *dec, int detector, char *buf, size_t size);
bool rp_cluster_parse_value(const char *key, size_t key_len, const char *value,
                            size_t value_len, rp_decision *dec, int *detector);
/* cluster_decisions.c: the journal restored into the queue (rp_cluster_new)
 * and rewritten from the queue (after an item is queued or acknowledged). */
void rp_cluster_journal_restore(rp_cluster *c);
void rp_cluster_journal_save(rp_cluster *c);

/* cluster_journal.c: one item as a line (0 when it does not fit), a line
 * back (false: damaged, counted by the caller), the file read into a list
 * (bounded: RP_CLUSTER_PUBLISH_MAX items, one line's memory for any line;
 * a missing file is an empty one) and written whole (text of len bytes;
 * len 0 removes the file). */
typedef struct rp_journal_counts {
    unsigned restored, expired, skipped;
} rp_journal_counts;
size_t rp_journal_format_item(const publish_item *it, char *buf, size_t size);
bool rp_journal_parse_line(const char *line, size_t len, publish_item *out);
rp_status rp_journal_read(const char *path, int64_t now, publish_item **head,
                          rp_journal_counts *counts, rp_error *err);
rp_status rp_journal_write(const char *path, const char *text, size_t len, rp_error *err);
/* The local detection's journal (publish_lock held): it->local's line
 * appended (false when the journal holds RP_JOURNAL_LOCAL_MAX lines or
 * the write failed, counted), and k of its items acknowledged (the file
 * removed when none is left). Bounded: the decisions of an outage's
 * attackers, one line each (~110 bytes). */
#define RP_JOURNAL_LOCAL_MAX 8192
bool rp_journal_local_append(rp_cluster *c, const publish_item *it);
void rp_journal_local_done(rp_cluster *c, unsigned k);

/* cluster_spool.c: the outage buffer's segments on disk. A record is
 * RP_SPOOL_RECORD_HEAD bytes (length, checksum) then the event's bytes:
 * put writes one (returns its size), get reads one back (0 when it does
 * not check out). create: a new segment's file, its magic written (-1
 * when it cannot be made). list: the segments' numbers, sorted, at most
 * max; other files are removed and counted in *foreign. read: one
 * segment into data (cap bytes at most), its valid records only. */
#define RP_SPOOL_HEAD 16
#define RP_SPOOL_RECORD_HEAD 8
typedef struct rp_spool_segment {
    size_t used, read; /* the valid bytes, those of them already forwarded */
    size_t events;     /* records not yet forwarded */
    size_t skipped_bytes;
    bool damaged; /* a bad magic, a record that does not check out, or too long */
} rp_spool_segment;
size_t rp_spool_record_put(uint8_t *dst, const void *rec, uint32_t len);
size_t rp_spool_record_get(const uint8_t *p, size_t avail, const uint8_t **rec, uint32_t *len);
void rp_spool_path(const char *dir, uint64_t seq, char *buf, size_t size);
int rp_spool_create(const char *dir, uint64_t seq);
/* The segment's forwarded count (its chunk's read offset) into its head;
 * *fd opened when -1 (and left open for the next). False when it failed. */
bool rp_spool_mark(const char *dir, uint64_t seq, int *fd, uint64_t forwarded);
size_t rp_spool_list(const char *dir, uint64_t *seqs, size_t max, unsigned *foreign);
rp_status rp_spool_read(const char *path, uint8_t *data, size_t cap, rp_spool_segment *out,
                        rp_error *err);

/* The threads (their files). */
void *rp_cluster_forward_main(void *arg);
void *rp_cluster_detect_main(void *arg);
void *rp_cluster_mirror_main(void *arg);
void *rp_cluster_publish_main(void *arg);
/* cluster_decisions.c: the stream position of the changes, then the full
 * active set into the table; RP_OK or RP_EIO (the connection failed). */
rp_status rp_cluster_load(rp_cluster *c, redisContext *ctx, char *last_id, size_t size,
                          unsigned *loaded);
/* cluster_decisions.c: one XREAD COUNT count BLOCK RP_CLUSTER_BLOCK_MS of
 * stream from last_id (both mirrors follow a stream so): each entry's
 * fields to fn, last_id moved past it. RP_EIO when the connection failed
 * or Redis answered an error (logged; who names the thread), else RP_OK
 * (nothing within the block included). */
rp_status rp_cluster_follow(rp_cluster *c, redisContext *ctx, const char *who, const char *stream,
                            char *last_id, size_t size, int count,
                            void (*fn)(rp_cluster *c, const redisReply *fields, void *user),
                            void *user);

#endif
