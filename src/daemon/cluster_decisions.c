/*
 * cluster_decisions.c -- the fleet's decisions, both ways.
 *
 * In Redis (prefix P = cluster.decisions):
 *   P           hash: key text ("ip:198.51.100.66") -> decision value
 *   P:expiry    sorted set: key text scored by its expiry (ms), so that
 *               expired decisions are pruned without scanning the hash
 *   P:changes   stream: one entry per change, op put|del, key, value;
 *               trimmed MAXLEN ~ CHANGES_MAXLEN
 * The value is text, "action start_us expires_us incident_id score source
 * detector": readable with redis-cli, and five numbers and two words do
 * not need a format. The words say who decided (engine or manual, and the
 * incident's main detector), so that every node labels what its nginx
 * refuses under a fleet decision as the deciding node would; a node older
 * than them wrote only the numbers, and reads only the numbers (sscanf
 * stops there), so both kinds mix in one hash.
 *
 * The publisher (every node): the engine's decisions (detector) and the
 * API's manual ones (any node) are queued by rp_cluster_publish -- the
 * engine and API threads never wait for Redis -- and written here, each
 * as MULTI / HSET / ZADD / XADD / EXEC, pipelined, so that the set and
 * the change stream never disagree. Every 10 s it prunes expired ones
 * (a small Lua script, atomic so that a decision renewed between the
 * read and the delete is not lost).
 *
 * The mirror (every node): at start, and after every reconnect, it
 * notes the change stream's last ID, loads the whole hash into the local
 * table, then follows the changes from that ID with XREAD BLOCK, so no
 * change between the load and the follow is missed (one read twice is
 * harmless: a put is idempotent).
 *
 * Resync (every load after the first): the full set is the truth for
 * removals too. A decision in this node's table that is absent from the
 * hash was removed (or pruned) in the fleet while this node could not
 * see the change stream: it is removed here. Except what this node has
 * not published yet (the publisher's queue and the batch in flight): a
 * decision or a removal made here during the outage is newer than the
 * hash, so the load neither removes nor overwrites it; the publisher
 * writes it, and its change comes back through the stream. The first
 * load (start) only adds: the table then holds what the store restored,
 * which may include decisions this node never published -- and it too
 * leaves the unpublished keys alone: the queue then holds the operators'
 * changes restored from the journal (cluster_journal.c), newer than the
 * hash.
 *
 * Newer wins for an operator's change (newer_wins_script): it may reach
 * Redis long after it was made, when the fleet has decided on the key
 * since; the later start is kept, everywhere.
 *
 * Why a stream and not PUBLISH: a pub/sub message sent while an edge is
 * reconnecting is gone; a stream entry waits, and the edge reads it from
 * where it was. A longer outage than the stream holds is covered by the
 * full load on reconnect.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_int.h"

#define CHANGES_MAXLEN 100000
#define PUBLISH_BATCH 256
#define PRUNE_EVERY_US (10 * 1000000LL)
#define MIRROR_COUNT 256
#define RP_KEY_TEXT 128 /* a key's text, as in append_item */

/* ------------------------------------------------------------- values */

int rp_cluster_format_value(const rp_decision *dec, int detector, char *buf, size_t size) {
    bool known = dec->incident_id && detector >= 0 && (unsigned)detector < rp_detector_count;
    return snprintf(buf, size, "%d %lld %lld %llu %.3f %s %s", (int)dec->action,
                    (long long)dec->start_us, (long long)dec->expires_us,
                    (unsigned long long)dec->incident_id, dec->score,
                    dec->incident_id ? "engine" : "manual",
                    known ? rp_detectors[detector]->name : "-");
}

/* The words after the numbers (tail: from the sixth field): the detector
 * of an engine's decision, when this build knows it. */
static int parse_origin(const char *tail, const rp_decision *dec) {
    char source[8], name[32];
    if (sscanf(tail, " %7s %31s", source, name) != 2) return RP_REFUSED_UNKNOWN;
    if (strcmp(source, "engine") != 0 || !dec->incident_id) return RP_REFUSED_UNKNOWN;
    int di = rp_detector_find(name, strlen(name));
    return di >= 0 ? di : RP_REFUSED_UNKNOWN;
}

bool rp_cluster_parse_value(const char *key, size_t key_len, const char *value,
                            size_t value_len, rp_decision *dec, int *detector) {
    memset(dec, 0, sizeof *dec);
    if (detector) *detector = RP_REFUSED_UNKNOWN;
    if (rp_key_parse(key, key_len, &dec->key) != RP_OK) return false;
    char buf[128];
    if (value_len >= sizeof buf) return false;
    memcpy(buf, value, value_len);
    buf[value_len] = 0;
    int action;
    long long start, expires;
    unsigned long long incident;
    double score;
    int numbers_end = 0;
    if (sscanf(buf, "%d %lld %lld %llu %lf%n", &action, &start, &expires, &incident, &score,
               &numbers_end) != 5)
        return false;
    if (action < RP_ACTION_THROTTLE || action > RP_ACTION_ALLOW || expires <= start) return false;
    dec->action = (rp_action)action;
    dec->start_us = start;
    dec->expires_us = expires;
    dec->incident_id = incident;
    dec->score = score;
    if (detector) *detector = parse_origin(buf + numbers_end, dec);
    return true;
}

/* -------------------------------------------------------------- publish */

static bool publish_item_queue(rp_cluster *c, publish_item *it) {
    pthread_mutex_lock(&c->publish_lock);
    if (c->publish_pending >= RP_CLUSTER_PUBLISH_MAX || atomic_load(&c->stopping)) {
        pthread_mutex_unlock(&c->publish_lock);
        free(it);
        atomic_fetch_add(&c->publish_dropped, 1);
        return false;
    }
    if (c->publish_tail) c->publish_tail->next = it;
    else c->publish_head = it;
    c->publish_tail = it;
    c->publish_pending++;
    if (it->local) it->local = rp_journal_local_append(c, it);
    pthread_cond_signal(&c->publish_cond);
    pthread_mutex_unlock(&c->publish_lock);
    return true;
}

/* One item for the queue: a decision, or a removal of dec->key at
 * dec->start_us (newer-wins compares it); durable: an operator's, queued
 * and then the journal rewritten with it (on the API's thread: the store
 * has just committed it, and the journal's fsync is of the same order;
 * operators' changes are few). */
static void publish_new(rp_cluster *c, const rp_decision *dec, bool removal, bool durable) {
    if (!c) return;
    publish_item *it = calloc(1, sizeof *it);
    if (!it) {
        atomic_fetch_add(&c->publish_dropped, 1);
        return;
    }
    it->decision = *dec;
    it->removal = removal;
    it->durable = durable;
    /* An engine's decision follows its incident (engine lock held: the
     * engine's callback), whose main detector is noted by now. */
    it->detector = durable || !c->d
                       ? RP_REFUSED_UNKNOWN
                       : rp_daemon_incident_detector(c->d, dec->incident_id, &dec->key);
    if (!durable && !removal && c->local_journal_path[0]) {
        /* made by local detection: Redis is away, and a restart before it
         * returns must not lose it (cluster_journal.c) */
        pthread_mutex_lock(&c->local_lock);
        it->local = c->engine_consuming;
        pthread_mutex_unlock(&c->local_lock);
    }
    if (publish_item_queue(c, it) && durable) rp_cluster_journal_save(c);
}

void rp_cluster_publish(rp_cluster *c, const rp_decision *dec) {
    publish_new(c, dec, false, false);
}

void rp_cluster_publish_manual(rp_cluster *c, const rp_decision *dec) {
    publish_new(c, dec, false, true);
}

void rp_cluster_publish_removal(rp_cluster *c, const rp_key *key, int64_t removed_us) {
    rp_decision removal = {.key = *key, .start_us = removed_us};
    publish_new(c, &removal, true, true);
}

/* ------------------------------------------------------------- journal */

/* One journal's items into the queue, behind the restored ones (*at: the
 * last of them, NULL while none) and in front of anything queued since:
 * they were made before it. How many (what names them in the log). */
static unsigned restore_file(rp_cluster *c, const char *path, const char *what,
                             publish_item **at) {
    publish_item *head = NULL;
    rp_journal_counts n;
    rp_error err = {0};
    if (rp_journal_read(path, rp_wall_us(), &head, &n, &err) != RP_OK) {
        atomic_fetch_add(&c->journal_errors, 1);
        rp_log(c->d, "error", "cluster publisher: the unpublished decisions were not restored: %s",
               err.message);
        return 0;
    }
    atomic_fetch_add(&c->journal_restored, n.restored);
    atomic_fetch_add(&c->journal_skipped, n.skipped);
    if (n.skipped)
        rp_log(c->d, "warn", "cluster publisher: %s: %u damaged or truncated lines skipped", path,
               n.skipped);
    if (!head) return 0;
    publish_item *last = head;
    while (last->next) last = last->next;
    pthread_mutex_lock(&c->publish_lock);
    publish_item **link = *at ? &(*at)->next : &c->publish_head;
    last->next = *link;
    *link = head;
    if (!last->next) c->publish_tail = last;
    c->publish_pending += n.restored;
    pthread_mutex_unlock(&c->publish_lock);
    *at = last;
    rp_log(c->d, "info", "cluster publisher: %u unpublished %s restored from %s (%u expired "
                         "meanwhile), published when redis answers",
           n.restored, what, path, n.expired);
    return n.restored;
}

void rp_cluster_journal_restore(rp_cluster *c) {
    if (!c->journal_path[0]) return;
    publish_item *at = NULL;
    restore_file(c, c->journal_path, "manual decisions and removals", &at);
    if (!c->local_journal_path[0] ||
        !restore_file(c, c->local_journal_path, "decisions of local detection", &at))
        return;
    /* The local detection's, now queued as the operators' are: into their
     * journal, then out of the appended one (a crash in between publishes
     * them twice, harmlessly: newer wins). */
    uint64_t errors = atomic_load(&c->journal_errors);
    rp_cluster_journal_save(c);
    if (atomic_load(&c->journal_errors) == errors) unlink(c->local_journal_path);
}

/* The journal holds every durable item of the batch in flight and of the
 * queue, in their order: built under publish_lock, written under
 * journal_lock (taken first, so two rewrites never land out of order). A
 * journal that cannot be built whole is not written at all: the previous
 * version, a superset, stays. */
void rp_cluster_journal_save(rp_cluster *c) {
    if (!c->journal_path[0]) return;
    pthread_mutex_lock(&c->journal_lock);
    char *text = NULL;
    size_t len = 0, cap = 0;
    bool ok = true;
    pthread_mutex_lock(&c->publish_lock);
    for (int pass = 0; pass < 2 && ok; pass++)
        for (const publish_item *it = pass ? c->publish_head : c->publish_inflight; it && ok;
             it = it->next) {
            if (!it->durable) continue;
            if (cap - len < 512) {
                size_t ncap = cap ? cap * 2 : 8192;
                char *nt = realloc(text, ncap);
                if (!nt) {
                    ok = false;
                    break;
                }
                text = nt;
                cap = ncap;
            }
            len += rp_journal_format_item(it, text + len, cap - len);
        }
    pthread_mutex_unlock(&c->publish_lock);
    rp_error err = {0};
    if (!ok) rp_error_set(&err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    if (!ok || rp_journal_write(c->journal_path, text, len, &err) != RP_OK) {
        /* Logged once in 1000: a full disk would say so on every change. */
        if (atomic_fetch_add(&c->journal_errors, 1) % 1000 == 0)
            rp_log(c->d, "error", "cluster publisher: the unpublished decisions' journal: %s (the "
                                  "decisions are enforced and queued; a restart before redis "
                                  "returns would not publish them)",
                   err.message);
    }
    pthread_mutex_unlock(&c->journal_lock);
    free(text);
}

/* MULTI, the two writes, the change, EXEC: five replies; an operator's
 * item is one script: one reply. */
#define REPLIES_PER_ITEM 5
#define REPLIES(it) ((it)->durable ? 1 : REPLIES_PER_ITEM)

/* Newer wins, for an operator's item (docs/cluster.md#redis-unreachable-
 * what-an-edge-does): it may reach Redis long after it was made (an outage,
 * a restart in between), when the fleet has decided on the key since. The
 * hash's decision for the key is kept when it started after ours (a put's
 * start, a removal's time: ARGV[3]); the script then answers its value,
 * which this node takes instead of its own. Else the same writes as
 * append_item's transaction (ARGV[2] empty: a removal). */
static const char newer_wins_script[] =
    "local cur = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if cur then\n"
    "  local s = tonumber(string.match(cur, '^%S+ (%S+)'))\n"
    "  if s and s > tonumber(ARGV[3]) then return cur end\n"
    "end\n"
    "if ARGV[2] == '' then\n"
    "  redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "  redis.call('ZREM', KEYS[2], ARGV[1])\n"
    "  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'op', 'del', 'key', ARGV[1])\n"
    "else\n"
    "  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])\n"
    "  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])\n"
    "  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'op', 'put', 'key', ARGV[1], "
    "'value', ARGV[2])\n"
    "end\n"
    "return 1\n";

static void append_item(rp_cluster *c, redisContext *ctx, const publish_item *it) {
    char key[128], value[128], score[24], maxlen[16];
    size_t klen = rp_key_format(&it->decision.key, key, sizeof key);
    snprintf(maxlen, sizeof maxlen, "%d", CHANGES_MAXLEN);
    const char *p = c->config.decisions;
    if (it->durable) {
        char when[24];
        size_t vlen = it->removal ? 0
                                  : (size_t)rp_cluster_format_value(&it->decision, it->detector,
                                                                    value, sizeof value);
        snprintf(when, sizeof when, "%lld", (long long)it->decision.start_us);
        snprintf(score, sizeof score, "%lld", (long long)(it->decision.expires_us / 1000));
        redisAppendCommand(ctx, "EVAL %s 3 %s %s %s %b %b %s %s %s", newer_wins_script, p,
                           c->expiry, c->changes, key, klen, value, vlen, when, score, maxlen);
        return;
    }
    redisAppendCommand(ctx, "MULTI");
    if (it->removal) {
        redisAppendCommand(ctx, "HDEL %s %b", p, key, klen);
        redisAppendCommand(ctx, "ZREM %s %b", c->expiry, key, klen);
        redisAppendCommand(ctx, "XADD %s MAXLEN ~ %s * op del key %b", c->changes, maxlen, key,
                           klen);
    } else {
        size_t vlen =
            (size_t)rp_cluster_format_value(&it->decision, it->detector, value, sizeof value);
        snprintf(score, sizeof score, "%lld", (long long)(it->decision.expires_us / 1000));
        redisAppendCommand(ctx, "HSET %s %b %b", p, key, klen, value, vlen);
        redisAppendCommand(ctx, "ZADD %s %s %b", c->expiry, score, key, klen);
        redisAppendCommand(ctx, "XADD %s MAXLEN ~ %s * op put key %b value %b", c->changes, maxlen,
                           key, klen, value, vlen);
    }
    redisAppendCommand(ctx, "EXEC");
}

static bool mirror_put(rp_cluster *c, const rp_decision *dec, int detector);

/* The newer-wins script kept the fleet's decision (value): this node takes
 * it too, in place of its own older one (which the first load or the
 * resync had kept because it was unpublished). True when it was taken. */
static bool fleet_newer(rp_cluster *c, const publish_item *it, const char *value, size_t len) {
    char key[RP_KEY_TEXT];
    size_t klen = rp_key_format(&it->decision.key, key, sizeof key);
    rp_decision dec;
    int detector;
    if (!rp_cluster_parse_value(key, klen, value, len, &dec, &detector)) return false;
    if (dec.expires_us > rp_wall_us()) mirror_put(c, &dec, detector);
    rp_log(c->d, "info", "cluster publisher: %s: the fleet decided on it after this node's %s "
                         "(%lld ms later): the fleet's decision kept, here too",
           key, it->removal ? "removal" : "decision",
           (long long)((dec.start_us - it->decision.start_us) / 1000));
    return true;
}

/* WAIT's answer: how many replicas acknowledged the batch, or -1 for an
 * error reply (text in err). */
static long long wait_reply(const redisReply *r, char *err, size_t size) {
    if (r->type == REDIS_REPLY_INTEGER) return r->integer;
    snprintf(err, size, "%s", r->type == REDIS_REPLY_ERROR && r->str ? r->str : "not an integer");
    return -1;
}

/* Write the items, then (cluster.wait_replicas > 0) WAIT in the same
 * pipeline, so that a decision is out of flight only once a replica has
 * it: the master's death before that fails the round trip and the batch
 * is written again to the next master. RP_EIO when the connection failed
 * (the items are to be retried), RP_OK otherwise (an item Redis refused is
 * counted; a WAIT fewer replicas acknowledged too, see wait_short). */
static rp_status publish_items(rp_cluster *c, redisContext *ctx, publish_item *items,
                               long long *acked, char *wait_err, size_t wait_err_size) {
    size_t n_errors = 0, ok_n = 0;
    for (publish_item *it = items; it; it = it->next) append_item(c, ctx, it);
    unsigned replicas = c->config.wait_replicas;
    if (replicas)
        redisAppendCommand(ctx, "WAIT %u %u", replicas, (unsigned)c->config.wait_ms);
    size_t superseded = 0;
    for (publish_item *it = items; it; it = it->next) {
        bool ok = true, newer = false;
        for (int k = 0; k < REPLIES(it); k++) {
            redisReply *r = NULL;
            if (redisGetReply(ctx, (void **)&r) != REDIS_OK || !r) return RP_EIO;
            if (it->durable && r->type == REDIS_REPLY_STRING)
                newer = fleet_newer(c, it, r->str, r->len);
            else if (r->type == REDIS_REPLY_ERROR ||
                     (it->durable ? r->type != REDIS_REPLY_INTEGER
                                  /* EXEC answers nil when the transaction was discarded. */
                                  : k == REPLIES_PER_ITEM - 1 && r->type != REDIS_REPLY_ARRAY))
                ok = false;
            freeReplyObject(r);
        }
        if (newer) superseded++;
        else if (ok) ok_n++;
        else n_errors++;
    }
    *acked = replicas;
    if (replicas) {
        redisReply *r = NULL;
        if (redisGetReply(ctx, (void **)&r) != REDIS_OK || !r) return RP_EIO;
        *acked = wait_reply(r, wait_err, wait_err_size);
        freeReplyObject(r);
    }
    /* Counted once the round trip is complete: a batch retried is not
     * counted twice. */
    atomic_fetch_add(&c->published, ok_n);
    atomic_fetch_add(&c->publish_errors, n_errors);
    atomic_fetch_add(&c->publish_superseded, superseded);
    return RP_OK;
}

/* Expired decisions out of the hash and the sorted set, atomically. */
static const char prune_script[] =
    "local ks = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)\n"
    "for _, k in ipairs(ks) do redis.call('HDEL', KEYS[1], k) end\n"
    "if #ks > 0 then redis.call('ZREM', KEYS[2], unpack(ks)) end\n"
    "return #ks\n";

static rp_status prune(rp_cluster *c, redisContext *ctx) {
    char now_ms[24];
    snprintf(now_ms, sizeof now_ms, "%lld", (long long)(rp_wall_us() / 1000));
    redisReply *r = redisCommand(ctx, "EVAL %s 2 %s %s %s", prune_script, c->config.decisions,
                                 c->expiry, now_ms);
    if (!r) return RP_EIO;
    freeReplyObject(r);
    return RP_OK;
}

static publish_item *take_items(rp_cluster *c) {
    pthread_mutex_lock(&c->publish_lock);
    if (!c->publish_head && !atomic_load(&c->stopping)) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&c->publish_cond, &c->publish_lock, &until);
    }
    publish_item *head = c->publish_head, *last = NULL;
    size_t n = 0;
    for (publish_item *it = head; it && n < PUBLISH_BATCH; it = it->next, n++) last = it;
    if (last) {
        c->publish_head = last->next;
        if (!c->publish_head) c->publish_tail = NULL;
        last->next = NULL;
        c->publish_pending -= n;
        c->publish_inflight = head; /* seen by the resync until written */
    }
    pthread_mutex_unlock(&c->publish_lock);
    return head;
}

static void inflight_done(rp_cluster *c) {
    pthread_mutex_lock(&c->publish_lock);
    c->publish_inflight = NULL;
    pthread_mutex_unlock(&c->publish_lock);
}

/* Back in front, in order, after a failed round trip. */
static void requeue_items(rp_cluster *c, publish_item *items) {
    publish_item *last = items;
    size_t n = 1;
    while (last->next) last = last->next, n++;
    pthread_mutex_lock(&c->publish_lock);
    last->next = c->publish_head;
    c->publish_head = items;
    if (!c->publish_tail) c->publish_tail = last;
    c->publish_pending += n;
    pthread_mutex_unlock(&c->publish_lock);
}

static void free_items(publish_item *it) {
    while (it) {
        publish_item *n = it->next;
        free(it);
        it = n;
    }
}

void *rp_cluster_publish_main(void *arg) {
    rp_cluster *c = arg;
    redisContext *ctx = NULL;
    int64_t last_prune = 0, last_short_log = 0;
    uint64_t short_logged = 0; /* wait_short when last logged */
    bool stop_failed = false;     /* stopping, and the incidents could not be written */
    for (;;) {
        publish_item *items = take_items(c);
        bool stopping = atomic_load(&c->stopping);
        /* cluster_incidents.c; at a clean stop the engine's last flush (the
         * incidents' final versions) is written too, until a write fails */
        bool incidents = rp_cluster_incidents_pending(c);
        if (!items && stopping && (!incidents || stop_failed)) break;
        if (!ctx && (items || incidents || rp_wall_us() - last_prune > PRUNE_EVERY_US)) {
            /* Stopping: one attempt to flush, no backoff loop. */
            if (stopping) {
                rp_error err = {0};
                ctx = rp_cluster_connect(c, &err);
            } else {
                ctx = rp_cluster_connect_retry(c, "publisher");
            }
            if (!ctx) {
                /* Back in the queue, not freed: a journal rewrite racing
                 * with the stop must still see them (rp_cluster_stop
                 * frees the queue). */
                if (items) requeue_items(c, items);
                inflight_done(c);
                break;
            }
        }
        if (items) {
            long long acked = 0;
            char wait_err[128] = "";
            if (publish_items(c, ctx, items, &acked, wait_err, sizeof wait_err) != RP_OK) {
                rp_log(c->d, "warn", "cluster publisher: redis %s: %s; decisions retried",
                       c->config.redis, ctx->errstr);
                rp_cluster_disconnect(c, &ctx);
                requeue_items(c, items); /* back in the queue before out of flight */
                inflight_done(c);
                if (stopping) break;
                continue;
            }
            inflight_done(c);
            bool durable = false;
            unsigned local = 0;
            for (const publish_item *it = items; it; it = it->next)
                durable |= it->durable, local += it->local;
            free_items(items);
            if (local) {
                pthread_mutex_lock(&c->publish_lock);
                rp_journal_local_done(c, local);
                pthread_mutex_unlock(&c->publish_lock);
            }
            /* Acknowledged: out of the journal (after WAIT, when asked for). */
            if (durable) rp_cluster_journal_save(c);
            if (acked < (long long)c->config.wait_replicas) {
                /* Written, but a failover now could lose it: counted; logged
                 * at most once a minute (a master without its replicas would
                 * say so on every batch). */
                uint64_t shorts = atomic_fetch_add(&c->wait_short, 1) + 1;
                int64_t now = rp_wall_us();
                if (!last_short_log || now - last_short_log >= 60 * 1000000LL) {
                    if (acked < 0)
                        rp_log(c->d, "warn", "cluster publisher: WAIT %u %u: %s (%llu batches "
                               "not confirmed on a replica since the last report)",
                               (unsigned)c->config.wait_replicas, (unsigned)c->config.wait_ms,
                               wait_err, (unsigned long long)(shorts - short_logged));
                    else
                        rp_log(c->d, "warn", "cluster publisher: WAIT %u %u: %lld replicas "
                               "acknowledged; decisions written but not yet replicated could be "
                               "lost at a failover (%llu batches short since the last report)",
                               (unsigned)c->config.wait_replicas, (unsigned)c->config.wait_ms,
                               acked, (unsigned long long)(shorts - short_logged));
                    last_short_log = now;
                    short_logged = shorts;
                }
            }
        }
        /* The fleet's incidents after the decisions: a decision is never
         * late behind a burst of incidents. */
        if (ctx && incidents && rp_cluster_publish_incidents(c, ctx) != RP_OK) {
            rp_log(c->d, "warn", "cluster publisher: redis %s: %s; incidents retried",
                   c->config.redis, ctx->errstr);
            rp_cluster_disconnect(c, &ctx);
            stop_failed = stopping;
        }
        if (ctx && rp_wall_us() - last_prune > PRUNE_EVERY_US) {
            last_prune = rp_wall_us();
            if (prune(c, ctx) != RP_OK) rp_cluster_disconnect(c, &ctx);
        }
    }
    if (ctx) rp_cluster_disconnect(c, &ctx);
    return NULL;
}

/* --------------------------------------------------------------- mirror */

/* A fleet decision into this node's engine, as the API's own are
 * (rp_daemon_decide): the engine remembers it, its callback writes nothing
 * (decide_source set: the table is written here, the store is the
 * deciding node's, the publish was theirs). */
static void mirror_engine(rp_cluster *c, const rp_decision *dec) {
    rp_daemon *d = c->d;
    if (!d->engine) return;
    pthread_mutex_lock(&d->engine_lock);
    d->decide_source = "fleet";
    rp_engine_decide(d->engine, dec);
    d->decide_source = NULL;
    pthread_mutex_unlock(&d->engine_lock);
}

/* Into this node's table; false when the table is full (counted in
 * table_full, not in mirrored). Every node holds all of the fleet's
 * decisions, so a table sized for one host refuses a large fleet's: the
 * load sums its refusals up in one line, a change followed alone is
 * logged alone. */
static bool mirror_put(rp_cluster *c, const rp_decision *dec, int detector) {
    if (!rp_daemon_table_try_put(c->d, dec)) return false;
    atomic_fetch_add(&c->mirrored, 1);
    if (dec->incident_id && detector != RP_REFUSED_UNKNOWN) {
        /* what this node's nginx refuses under it is labelled by it */
        pthread_mutex_lock(&c->d->engine_lock);
        rp_daemon_note_detector(c->d, dec->incident_id, &dec->key, detector);
        pthread_mutex_unlock(&c->d->engine_lock);
    }
    /* An operator's decision made on any node (no incident: manual) binds
     * this node's engine too: an allow made through an edge's API must stop
     * the detectors from judging that client (else a detector's block would
     * overwrite the allow in Redis), and a manual block is a decision in
     * force the engine must not escalate over. */
    if (dec->incident_id == 0) mirror_engine(c, dec);
    return true;
}

static void mirror_remove(rp_cluster *c, const rp_key *key) {
    rp_daemon_lock_table(c->d);
    rp_dtable_remove(c->d->table, key);
    pthread_mutex_unlock(&c->d->table_lock);
    atomic_fetch_add(&c->mirror_removed, 1);
    /* a removal is an operator's pardon, on every node's engine */
    int64_t now = rp_wall_us();
    rp_decision clear = {.key = *key, .action = RP_ACTION_NONE, .start_us = now, .expires_us = now};
    mirror_engine(c, &clear);
}

/* Sorted key texts, for the resync's lookups. */
typedef struct key_set {
    char (*k)[RP_KEY_TEXT];
    size_t n, cap;
} key_set;

static int key_cmp(const void *a, const void *b) {
    return strcmp((const char *)a, (const char *)b);
}

static bool key_set_add(key_set *s, const char *text, size_t len) {
    if (len >= RP_KEY_TEXT) return false;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 256;
        void *nk = realloc(s->k, ncap * sizeof *s->k);
        if (!nk) return false;
        s->k = nk;
        s->cap = ncap;
    }
    memcpy(s->k[s->n], text, len);
    s->k[s->n][len] = 0;
    s->n++;
    return true;
}

static void key_set_sort(key_set *s) {
    if (s->n) qsort(s->k, s->n, sizeof *s->k, key_cmp);
}

static bool key_set_has(const key_set *s, const char *text) {
    return s->n && bsearch(text, s->k, s->n, sizeof *s->k, key_cmp) != NULL;
}

static bool key_set_add_key(key_set *s, const rp_key *key) {
    char text[RP_KEY_TEXT];
    size_t len = rp_key_format(key, text, sizeof text);
    return key_set_add(s, text, len);
}

/* The keys this node has not published yet (queue and batch in flight). */
static bool collect_unpublished(rp_cluster *c, key_set *s) {
    bool ok = true;
    pthread_mutex_lock(&c->publish_lock);
    for (const publish_item *it = c->publish_head; it && ok; it = it->next)
        ok = key_set_add_key(s, &it->decision.key);
    for (const publish_item *it = c->publish_inflight; it && ok; it = it->next)
        ok = key_set_add_key(s, &it->decision.key);
    pthread_mutex_unlock(&c->publish_lock);
    key_set_sort(s);
    return ok;
}

typedef struct stale_walk {
    const key_set *redis, *unpublished;
    rp_key *stale;
    size_t n, cap;
    bool ok;
} stale_walk;

static void note_stale(void *user, const rp_decision *dec) {
    stale_walk *w = user;
    char text[RP_KEY_TEXT];
    rp_key_format(&dec->key, text, sizeof text);
    if (key_set_has(w->redis, text) || key_set_has(w->unpublished, text)) return;
    if (w->n == w->cap) {
        size_t ncap = w->cap ? w->cap * 2 : 64;
        rp_key *ns = realloc(w->stale, ncap * sizeof *ns);
        if (!ns) {
            w->ok = false;
            return;
        }
        w->stale = ns;
        w->cap = ncap;
    }
    w->stale[w->n++] = dec->key;
}

/* Remove from the table what the fleet no longer has (see the top). */
static size_t resync_removals(rp_cluster *c, const key_set *redis, const key_set *unpublished) {
    stale_walk w = {.redis = redis, .unpublished = unpublished, .ok = true};
    rp_daemon *d = c->d;
    rp_daemon_lock_table(d);
    rp_status st = rp_dtable_writer_each(d->table, rp_wall_us(), note_stale, &w);
    if (st == RP_OK && w.ok)
        for (size_t i = 0; i < w.n; i++) rp_dtable_remove(d->table, &w.stale[i]);
    pthread_mutex_unlock(&d->table_lock);
    if (st != RP_OK || !w.ok) {
        rp_log(d, "warn", "cluster mirror: resync removals skipped (%s)",
               st != RP_OK ? "the table is damaged" : "out of memory");
        free(w.stale);
        return 0;
    }
    for (size_t i = 0; i < w.n && i < 5; i++) {
        char text[RP_KEY_TEXT];
        rp_key_format(&w.stale[i], text, sizeof text);
        rp_log(d, "info", "cluster mirror: resync: %s removed in the fleet, removed here", text);
    }
    free(w.stale);
    atomic_fetch_add(&c->resync_removed, w.n);
    return w.n;
}

/* The load's state across its pages. */
typedef struct load_pass {
    bool resync, sets_ok;
    int64_t now;
    key_set in_redis;      /* every key the hash answered (resync) */
    key_set unpublished;   /* this node's newer ones */
    key_set put, refused;  /* written to the table, refused by it (full) */
} load_pass;

/* distinct keys of a set, sorted first */
static size_t key_set_distinct(key_set *s) {
    key_set_sort(s);
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) n += i == 0 || strcmp(s->k[i], s->k[i - 1]) != 0;
    return n;
}

/* One HSCAN page's field, value pairs into the table. */
static void load_page(rp_cluster *c, const redisReply *pairs, load_pass *lp) {
    for (size_t i = 0; i + 1 < pairs->elements; i += 2) {
        const redisReply *k = pairs->element[i], *v = pairs->element[i + 1];
        rp_decision dec;
        int detector;
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (lp->resync && lp->sets_ok) lp->sets_ok = key_set_add(&lp->in_redis, k->str, k->len);
        if (!rp_cluster_parse_value(k->str, k->len, v->str, v->len, &dec, &detector) ||
            dec.expires_us <= lp->now)
            continue;
        if (key_set_has(&lp->unpublished, k->str)) continue; /* ours is newer */
        bool put = mirror_put(c, &dec, detector);
        if (lp->sets_ok) lp->sets_ok = key_set_add(put ? &lp->put : &lp->refused, k->str, k->len);
    }
}

/* Keys per HSCAN page: HGETALL answers the whole hash in one reply, which
 * holds Redis for all of it (a large fleet's set: 100,000 decisions, tens
 * of milliseconds in which no edge forwards and no mirror follows) and
 * this node's memory for all of it at once; a page of 1,000 is about a
 * millisecond and a hundred kilobytes. */
#define LOAD_PAGE 1000

rp_status rp_cluster_load(rp_cluster *c, redisContext *ctx, char *last_id, size_t size,
                          unsigned *loaded) {
    *loaded = 0;
    /* The position first: a change made during the load is read again. */
    redisReply *r = redisCommand(ctx, "XREVRANGE %s + - COUNT 1", c->changes);
    if (!r) return RP_EIO;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 1 &&
        r->element[0]->element[0]->type == REDIS_REPLY_STRING)
        snprintf(last_id, size, "%s", r->element[0]->element[0]->str);
    else
        snprintf(last_id, size, "0-0");
    freeReplyObject(r);
    load_pass lp = {.resync = atomic_load(&c->loads) > 0, .now = rp_wall_us()};
    /* Unpublished keys are kept at the first load too: the journal's, restored
     * at start, are newer than the hash (cluster_journal.c). */
    lp.sets_ok = collect_unpublished(c, &lp.unpublished);
    /* Page by page until the cursor comes back to 0. A key present all
     * along is answered at least once, and may be twice (the hash resized
     * between pages): written twice, harmlessly, counted once. One changed
     * meanwhile comes back through the stream from last_id. */
    char cursor[32] = "0";
    rp_status st = RP_OK;
    do {
        r = redisCommand(ctx, "HSCAN %s %s COUNT %d", c->config.decisions, cursor, LOAD_PAGE);
        if (!r) {
            st = RP_EIO;
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= sizeof cursor ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            rp_log(c->d, "warn", "cluster mirror: HSCAN %s: %s", c->config.decisions,
                   r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
            freeReplyObject(r);
            st = RP_EIO;
            break;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len);
        cursor[r->element[0]->len] = 0;
        load_page(c, r->element[1], &lp);
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    size_t refused = 0;
    if (st == RP_OK) {
        *loaded = (unsigned)(lp.sets_ok ? key_set_distinct(&lp.put) : lp.put.n);
        refused = lp.sets_ok ? key_set_distinct(&lp.refused) : lp.refused.n;
    }
    if (refused)
        rp_log(c->d, "error", "cluster mirror: loaded %u of %zu active fleet decisions; %zu refused: "
                              "the decision table is full, raise serve.table_capacity (%u slots "
                              "now): see docs/cluster.md#sizing-the-decision-table",
               *loaded, *loaded + refused, refused, c->d->serve.table_capacity);
    if (st == RP_OK && lp.resync) {
        /* and what was queued while the pages were read */
        if (lp.sets_ok) lp.sets_ok = collect_unpublished(c, &lp.unpublished);
        key_set_sort(&lp.in_redis);
        if (lp.sets_ok) {
            size_t removed = resync_removals(c, &lp.in_redis, &lp.unpublished);
            if (removed)
                rp_log(c->d, "info", "cluster mirror: resync removed %zu decisions absent from "
                                     "redis", removed);
        } else {
            rp_log(c->d, "warn", "cluster mirror: resync removals skipped (out of memory)");
        }
    }
    free(lp.in_redis.k), free(lp.unpublished.k), free(lp.put.k), free(lp.refused.k);
    if (st == RP_OK) atomic_fetch_add(&c->loads, 1);
    return st;
}

/* One change entry: fields op, key[, value]. */
static void apply_change(rp_cluster *c, const redisReply *fields) {
    const redisReply *op = NULL, *key = NULL, *value = NULL;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *n = fields->element[i], *v = fields->element[i + 1];
        if (n->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        if (strcmp(n->str, "op") == 0) op = v;
        else if (strcmp(n->str, "key") == 0) key = v;
        else if (strcmp(n->str, "value") == 0) value = v;
    }
    if (!op || !key) return;
    if (strcmp(op->str, "put") == 0 && value) {
        rp_decision dec;
        int detector;
        char text[RP_KEY_TEXT];
        if (rp_cluster_parse_value(key->str, key->len, value->str, value->len, &dec, &detector) &&
            dec.expires_us > rp_wall_us() && !mirror_put(c, &dec, detector))
            rp_log(c->d, "error", "cluster mirror: the decision table is full: %.*s not enforced "
                                  "(raise serve.table_capacity: see "
                                  "docs/cluster.md#sizing-the-decision-table)",
                   (int)rp_key_format(&dec.key, text, sizeof text), text);
    } else if (strcmp(op->str, "del") == 0) {
        rp_key k;
        if (rp_key_parse(key->str, key->len, &k) == RP_OK) mirror_remove(c, &k);
    }
}

rp_status rp_cluster_follow(rp_cluster *c, redisContext *ctx, const char *who, const char *stream,
                            char *last_id, size_t size, int count,
                            void (*fn)(rp_cluster *c, const redisReply *fields, void *user),
                            void *user) {
    char n[16], block[16];
    snprintf(n, sizeof n, "%d", count);
    snprintf(block, sizeof block, "%d", RP_CLUSTER_BLOCK_MS);
    const char *argv[] = {"XREAD", "COUNT", n, "BLOCK", block, "STREAMS", stream, last_id};
    size_t argvlen[8];
    for (int i = 0; i < 8; i++) argvlen[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(ctx, 8, argv, argvlen);
    if (!r || r->type == REDIS_REPLY_ERROR) {
        rp_log(c->d, "warn", "cluster %s: redis %s: %s", who, c->config.redis,
               r ? r->str : ctx->errstr);
        if (r) freeReplyObject(r);
        return RP_EIO;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements >= 2 &&
        r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
        const redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; i++) {
            const redisReply *e = entries->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 2 ||
                e->element[0]->type != REDIS_REPLY_STRING || e->element[0]->len >= size)
                continue;
            memcpy(last_id, e->element[0]->str, e->element[0]->len);
            last_id[e->element[0]->len] = 0;
            if (e->element[1]->type == REDIS_REPLY_ARRAY) fn(c, e->element[1], user);
        }
    }
    freeReplyObject(r);
    return RP_OK;
}

static void follow_change(rp_cluster *c, const redisReply *fields, void *user) {
    (void)user;
    apply_change(c, fields);
}

void *rp_cluster_mirror_main(void *arg) {
    rp_cluster *c = arg;
    redisContext *ctx = c->mirror_ctx;
    c->mirror_ctx = NULL;
    char last_id[48];
    snprintf(last_id, sizeof last_id, "%s", c->mirror_last_id);
    while (!atomic_load(&c->stopping)) {
        if (!ctx) {
            ctx = rp_cluster_connect_retry(c, "mirror");
            if (!ctx) break;
            unsigned loaded = 0;
            if (rp_cluster_load(c, ctx, last_id, sizeof last_id, &loaded) != RP_OK) {
                rp_cluster_disconnect(c, &ctx);
                continue;
            }
            rp_log(c->d, "info", "cluster mirror: %u active fleet decisions loaded", loaded);
        }
        if (rp_cluster_follow(c, ctx, "mirror", c->changes, last_id, sizeof last_id, MIRROR_COUNT,
                              follow_change, NULL) != RP_OK)
            rp_cluster_disconnect(c, &ctx);
    }
    if (ctx) rp_cluster_disconnect(c, &ctx);
    return NULL;
}
