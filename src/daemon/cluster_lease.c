/*
 * cluster_lease.c -- which detector reads the stream, and taking over a
 * dead one's share (docs/cluster.md, "Detector takeover").
 *
 * One active detector at a time: several consumers in one group would
 * share the entries at random and split every aggregate (an address's
 * requests, a /24's, a fingerprint's) between engines that each see a
 * part. The active one holds a lease, the key <stream>:lease whose value
 * is its consumer name, set with an expiry (cluster.lease_ms) and renewed
 * every third of it; the others are standbys that try to take it every
 * quarter. One Redis, one key: no Redlock. A Redis failover that loses
 * the key at worst lets two detectors read for one lease period, which
 * at-least-once already allows (below).
 *
 * Taking and renewing are one script, so a restarted detector (the same
 * stable name, cluster.consumer) takes its own lease back at once
 * instead of waiting for it to expire.
 *
 * The claim: entries a consumer read and did not acknowledge stay in the
 * group's pending list under its name. The active detector moves to
 * itself (XAUTOCLAIM ... JUSTID) those idle for cluster.claim_idle_ms,
 * then reads its own pending list ("0") before new entries, so a killed
 * detector's share is judged from its last acknowledged position. JUSTID:
 * the entries are read by the ordinary path, with its decoding checks.
 *
 * Duplicates (at-least-once): an entry the dead detector had fed to its
 * engine but not yet acknowledged (a batch is acknowledged once fed, so
 * at most one read's worth, 64 entries) is fed again to the new active
 * detector's engine. The dead engine's counters died with it, so no
 * engine counts an event twice; what can repeat is a decision on a key
 * both engines judged: the same HSET of the same key (last writer wins,
 * idempotent for the edges' tables) and a second incident in the new
 * detector's store. A detector that lost its lease while alive (paused,
 * cut off) stops reading at its next renewal; the batch it holds may be
 * judged by both, with the same consequence.
 *
 * What was trimmed unread (rp_cluster_sample_trimmed): an edge trims its
 * stream to cluster.stream_maxlen whether the group has read it or not,
 * and a read jumps the gap. Redis 7 counts for the group only what it
 * delivered (entries-read), so once the group has read to the stream's
 * end its lag (entries-added - entries-read) is what was trimmed unread
 * since the group was made. Not across a Redis restart: reloaded, the
 * group's entries-read is unknown or stale, and so is the lag
 * (docs/cluster-requirements.md, finding 5). So the holder counts the
 * lag's growth between samples of one Redis (its run_id), and the lag
 * last counted is kept in Redis (<stream>:trimmed, a field per group): a
 * detector restarted, or a standby taking over, counts from where the
 * fleet stopped, an outage of every detector included; a Redis restart or
 * failover loses what was trimmed since the last sample and before the
 * group's first read after it (Redis then estimates entries-read,
 * absorbing the gap), and the count goes on from the new Redis's lag
 * (tests/unit/test_cluster_trimmed.c). One script, so that two samples never
 * count the same growth.
 */
#include <string.h>

#include "cluster_int.h"

/* Take the lease if it is free or already ours; renew it if ours. */
static const char take_script[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v == false or v == ARGV[1] then "
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return {1, ARGV[1]} end "
    "return {0, v}";

/* Release it only if it is still ours (a clean stop: a standby takes
 * over at its next try instead of after the expiry). */
static const char release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

/* KEYS[1] the stream, KEYS[2] the lag counted (<stream>:trimmed: the
 * group's field, and <group>:run the Redis that answered, its run_id),
 * ARGV[1] the group. -1: not sampled (no such group, not read to the end,
 * or no lag known); else the growth since the last sample: all of the lag
 * at the first sample ever, 0 when another Redis answers (restarted, or a
 * replica promoted: its lag for the group is not the one counted -- tried
 * on 7.0.15, an AOF reload gave it 0 once and 3,713 too many once), or
 * when the lag went down. */
static const char trimmed_script[] =
    "local function field(a, name) "
    "  for i = 1, #a, 2 do if a[i] == name then return a[i + 1] end end "
    "end "
    "local g "
    "for _, x in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do "
    "  if field(x, 'name') == ARGV[1] then g = x end "
    "end "
    "if not g then return -1 end "
    "local lag = field(g, 'lag') "
    "if lag == nil then return redis.error_reply('XINFO GROUPS has no lag before Redis 7') end "
    "local last = field(redis.call('XINFO', 'STREAM', KEYS[1]), 'last-generated-id') "
    "if not lag or field(g, 'last-delivered-id') ~= last then return -1 end "
    "local run = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') "
    "local prev = redis.call('HMGET', KEYS[2], ARGV[1], ARGV[1] .. ':run') "
    "redis.call('HSET', KEYS[2], ARGV[1], lag, ARGV[1] .. ':run', run) "
    "if not prev[1] then return lag end "
    "local seen = tonumber(prev[1]) "
    "if prev[2] ~= run or lag < seen then return 0 end "
    "return lag - seen";

/* Partitioned detection: this detector is alive until ARGV[2] ms from
 * now (Redis's clock, so the detectors' clocks need not agree); the
 * ones whose time ran out are removed; the reply is the live count. */
static const char announce_script[] =
    "local t = redis.call('TIME') "
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) "
    "redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) "
    "redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2])) "
    "return redis.call('ZCARD', KEYS[1])";

unsigned rp_cluster_streams(const rp_cluster *c) {
    return c->config.partitions <= 1 ? 1 : 2 * c->config.partitions;
}

void rp_cluster_stream_name(const rp_cluster *c, unsigned s, char *out, size_t size) {
    unsigned n = c->config.partitions;
    if (n <= 1)
        snprintf(out, size, "%s", c->config.stream);
    else if (s < n)
        snprintf(out, size, "%s:%u", c->config.stream, s);
    else
        snprintf(out, size, "%s:x:%u", c->config.stream, s - n);
}

rp_status rp_cluster_lease_take(rp_cluster *c, redisContext *ctx, const char *key, bool *held,
                                char *holder, size_t size) {
    char ms[16];
    snprintf(ms, sizeof ms, "%u", c->config.lease_ms);
    const char *argv[] = {"EVAL", take_script, "1", key, c->consumer, ms};
    size_t argvlen[6];
    for (int i = 0; i < 6; i++) argvlen[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(ctx, 6, argv, argvlen);
    if (!r) return RP_EIO;
    rp_status st = RP_OK;
    *held = false;
    if (holder && size) holder[0] = 0;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER) {
        *held = r->element[0]->integer == 1;
        if (holder && size && r->element[1]->type == REDIS_REPLY_STRING)
            snprintf(holder, size, "%.*s", (int)r->element[1]->len, r->element[1]->str);
    } else {
        rp_log(c->d, "warn", "cluster reader: lease %s: %s", key,
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        st = RP_EINVAL;
    }
    freeReplyObject(r);
    return st;
}

void rp_cluster_lease_release(rp_cluster *c, redisContext *ctx, const char *key) {
    const char *argv[] = {"EVAL", release_script, "1", key, c->consumer};
    size_t argvlen[5];
    for (int i = 0; i < 5; i++) argvlen[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(ctx, 5, argv, argvlen);
    if (r) freeReplyObject(r);
}

rp_status rp_cluster_sample_trimmed(rp_cluster *c, redisContext *ctx, const char *stream) {
    char key[200];
    snprintf(key, sizeof key, "%s:trimmed", stream);
    const char *argv[] = {"EVAL", trimmed_script, "2", stream, key, c->config.group};
    size_t argvlen[6];
    for (int i = 0; i < 6; i++) argvlen[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(ctx, 6, argv, argvlen);
    if (!r) return RP_EIO;
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0) {
        atomic_fetch_add(&c->trimmed_unread, (uint64_t)r->integer);
        rp_log(c->d, "warn", "cluster reader: %lld entries of %s were trimmed before the group "
                             "read them (raise cluster.stream_maxlen, or add detectors)",
               r->integer, stream);
    } else if (r->type == REDIS_REPLY_ERROR && !c->trimmed_sample_logged) {
        /* Once: it would say the same at every tick. */
        rp_log(c->d, "warn", "cluster reader: what %s trimmed unread is not counted: %s", stream,
               r->str);
        c->trimmed_sample_logged = true;
    }
    freeReplyObject(r);
    return RP_OK;
}

rp_status rp_cluster_announce(rp_cluster *c, redisContext *ctx, unsigned *live) {
    char ms[16];
    snprintf(ms, sizeof ms, "%u", c->config.lease_ms);
    const char *argv[] = {"EVAL", announce_script, "1", c->detectors_key, c->consumer, ms};
    size_t argvlen[6];
    for (int i = 0; i < 6; i++) argvlen[i] = strlen(argv[i]);
    redisReply *r = redisCommandArgv(ctx, 6, argv, argvlen);
    if (!r) return RP_EIO;
    rp_status st = RP_OK;
    if (r->type == REDIS_REPLY_INTEGER && r->integer >= 1) {
        *live = (unsigned)r->integer;
    } else {
        rp_log(c->d, "warn", "cluster reader: announce %s: %s", c->detectors_key,
               r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        st = RP_EINVAL;
    }
    freeReplyObject(r);
    return st;
}

void rp_cluster_retire(rp_cluster *c, redisContext *ctx) {
    redisReply *r = redisCommand(ctx, "ZREM %s %s", c->detectors_key, c->consumer);
    if (r) freeReplyObject(r);
}

/* XAUTOCLAIM from 0-0 until the cursor comes back to 0-0 (bounded: a
 * pending list of 64 rounds of 1,024 is more than a dead detector can
 * hold, the rest waits for the next claim). */
rp_status rp_cluster_claim(rp_cluster *c, redisContext *ctx, const char *stream,
                           uint64_t *claimed) {
    char idle[16], cursor[48] = "0-0";
    snprintf(idle, sizeof idle, "%u", c->config.claim_idle_ms);
    *claimed = 0;
    for (int round = 0; round < 64; round++) {
        const char *argv[] = {"XAUTOCLAIM", stream, c->config.group, c->consumer,
                              idle, cursor, "COUNT", "1024", "JUSTID"};
        size_t argvlen[9];
        for (int i = 0; i < 9; i++) argvlen[i] = strlen(argv[i]);
        redisReply *r = redisCommandArgv(ctx, 9, argv, argvlen);
        if (!r) return RP_EIO;
        if (r->type != REDIS_REPLY_ARRAY || r->elements < 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            /* NOGROUP: the reader's XGROUP CREATE makes it again. */
            if (r->type == REDIS_REPLY_ERROR)
                rp_log(c->d, "warn", "cluster reader: XAUTOCLAIM: %s", r->str);
            freeReplyObject(r);
            return RP_EINVAL;
        }
        *claimed += r->element[1]->elements;
        snprintf(cursor, sizeof cursor, "%.*s", (int)r->element[0]->len, r->element[0]->str);
        freeReplyObject(r);
        if (!strcmp(cursor, "0-0")) break;
    }
    atomic_fetch_add(&c->claimed, *claimed);
    return RP_OK;
}
