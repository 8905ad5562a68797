/*
 * cluster.c -- fleet mode on Redis: the connection and the lifecycle
 * (docs/cluster.md).
 *
 * Why Redis and not a protocol of our own: operators already run it,
 * trust it, monitor it and know how to make it highly available; its
 * streams give us a durable, trimmed log with consumer groups (who read
 * what, who acknowledged what) and a blocking read for the edges, which
 * is everything the fleet needs to move events one way and decisions the
 * other. hiredis is the reference client and is in Debian.
 *
 * The threads a role runs (each with its own connection):
 *   edge      forwarder (queue -> XADD), mirror, publisher
 *   detector  reader (XREADGROUP -> queue -> engine -> XACK), mirror,
 *             publisher
 * The mirror runs everywhere so that a manual decision made on any node
 * is enforced on all of them; the publisher everywhere because the API
 * of any node can make one.
 *
 * Failure is a value and a counter, never a crash: a connection that
 * fails is dropped, counted (rampart_cluster_reconnects_total) and made
 * again with backoff; meanwhile the table keeps what it holds (nginx
 * keeps enforcing) and the edge counts the events it could not forward.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster_int.h"

/* A connect or a command waits at most this long. A blocking read adds
 * RP_CLUSTER_BLOCK_MS to it. */
#define CONNECT_TIMEOUT_MS 2000
#define COMMAND_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000

static const char *const role_names[] = {"standalone", "edge", "detector"};

bool rp_cluster_sleep(rp_cluster *c, int ms) {
    for (int slept = 0; slept < ms; slept += 20) {
        if (atomic_load(&c->stopping)) return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !atomic_load(&c->stopping);
}

/* The first line of the password file; the file's content is never
 * copied into a message. what names the key (cluster.password_file,
 * cluster.sentinel_password_file). */
static rp_status read_password(const char *what, const char *path, char *out, size_t size,
                               rp_error *err) {
    out[0] = 0;
    if (!path[0]) return RP_OK;
    FILE *f = fopen(path, "r");
    if (!f)
        return rp_error_set(err, RP_EIO, path, 0, 0, "cluster.%s %s: %s", what, path,
                            strerror(errno));
    char *line = fgets(out, (int)size, f);
    fclose(f);
    if (!line) out[0] = 0;
    out[strcspn(out, "\r\n")] = 0;
    if (!out[0])
        return rp_error_set(err, RP_EINVAL, path, 0, 0, "cluster.%s %s is empty", what, path);
    return RP_OK;
}

/* "host:port", "[IPv6]:port" or a unix socket path. */
static redisContext *dial(const char *addr, int timeout_ms) {
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    if (addr[0] == '/') return redisConnectUnixWithTimeout(addr, tv);
    char host[256];
    snprintf(host, sizeof host, "%s", addr);
    char *colon = strrchr(host, ':');
    int port = colon ? atoi(colon + 1) : 6379;
    if (colon) *colon = 0;
    char *h = host;
    if (h[0] == '[') { /* [IPv6]:port */
        h++;
        h[strlen(h) - 1] = 0;
    }
    return redisConnectWithTimeout(h, port, tv);
}

/* A reply that says this node is no longer the one to talk to, or that
 * Redis cannot serve now, fails the connection at once: the reader and
 * the context are put in error, so the call that read it returns
 * REDIS_ERR (the reply is never handed out), and so does every later
 * read or write. To the thread it is a lost connection, and it
 * reconnects -- through the sentinels or the slot map, to the new master
 * -- in the one path every thread already has, which also retries what
 * was in flight (a pipeline's later replies, already buffered, must not
 * be taken for a success: hence the reader too). Not here:
 *   READONLY     a master demoted under us (Sentinel reconfigured it, or
 *                a Redis Cluster failover made it a replica);
 *   UNBLOCKED    a blocking read on a master being demoted;
 *   MOVED, ASK   Redis Cluster: the slot is served elsewhere (moved, or
 *                being migrated: the reconnect reads the map again, with
 *                backoff, until the migration is over).
 * Not now (RP_REPLY_NOT_READY: every thread of the node then waits,
 * with backoff, see hold_off):
 *   LOADING      a restarted Redis replaying its AOF or RDB (a write
 *                refused then is not refused for good: the forwarder's
 *                batch, the publisher's, must be sent again, not dropped);
 *   BUSY         a script running past its time limit;
 *   MASTERDOWN   a replica that lost its master (replica-serve-stale-data no);
 *   NOREPLICAS   fewer replicas than min-replicas-to-write;
 *   CLUSTERDOWN  the cluster cannot serve (a master lost, no failover yet);
 *   TRYAGAIN     a multi-key command during a slot's migration.
 * hiredis 0.14 builds error replies with createString; the reader hands
 * us the context as privdata. */
static const struct {
    const char *word; /* the reply's first word */
    rp_reply_kind kind;
} failing_replies[] = {
    {"READONLY", RP_REPLY_ELSEWHERE},    {"UNBLOCKED", RP_REPLY_ELSEWHERE},
    {"MOVED", RP_REPLY_ELSEWHERE},       {"ASK", RP_REPLY_ELSEWHERE},
    {"LOADING", RP_REPLY_NOT_READY},     {"BUSY", RP_REPLY_NOT_READY},
    {"MASTERDOWN", RP_REPLY_NOT_READY},  {"NOREPLICAS", RP_REPLY_NOT_READY},
    {"CLUSTERDOWN", RP_REPLY_NOT_READY}, {"TRYAGAIN", RP_REPLY_NOT_READY},
};

rp_reply_kind rp_cluster_reply_kind(const char *str, size_t len) {
    /* the whole first word: BUSYGROUP (XGROUP CREATE's "it exists") is
     * not BUSY */
    size_t n = 0;
    while (n < len && str[n] != ' ') n++;
    for (size_t i = 0; i < sizeof failing_replies / sizeof failing_replies[0]; i++)
        if (strlen(failing_replies[i].word) == n && memcmp(str, failing_replies[i].word, n) == 0)
            return failing_replies[i].kind;
    return RP_REPLY_OTHER;
}

static redisReplyObjectFunctions readonly_fn;
static void *(*default_create_string)(const redisReadTask *, char *, size_t);
static pthread_once_t readonly_once = PTHREAD_ONCE_INIT;

static void *create_string_watch(const redisReadTask *task, char *str, size_t len) {
    if (task->type == REDIS_REPLY_ERROR && task->privdata &&
        rp_cluster_reply_kind(str, len) != RP_REPLY_OTHER) {
        redisContext *ctx = task->privdata;
        redisReader *reader = ctx->reader;
        /* Redis's words (a slot, an address; never a secret), cut. The
         * reader's error makes redisGetReply fail with it (hiredis copies
         * it into the context); the object made below is the reader's,
         * freed with it. */
        if (!reader->err) {
            reader->err = REDIS_ERR_OTHER;
            snprintf(reader->errstr, sizeof reader->errstr, "%.*s: reconnecting",
                     (int)(len < 90 ? len : 90), str);
        }
        if (!ctx->err) {
            ctx->err = REDIS_ERR_OTHER;
            snprintf(ctx->errstr, sizeof ctx->errstr, "%s", reader->errstr);
        }
    }
    return default_create_string(task, str, len);
}

static void readonly_init(void) {
    redisReader *r = redisReaderCreate();
    if (!r) return;
    readonly_fn = *r->fn;
    default_create_string = readonly_fn.createString;
    readonly_fn.createString = create_string_watch;
    redisReaderFree(r);
}

static void watch_readonly(redisContext *ctx) {
    pthread_once(&readonly_once, readonly_init);
    if (!default_create_string) return;
    ctx->reader->fn = &readonly_fn;
    ctx->reader->privdata = ctx;
}

/* AUTH user password (a Redis 6+ ACL user) or AUTH password (the
 * default user, requirepass). Binary-safe arguments; the password never
 * goes into a message: Redis's own reply (WRONGPASS...) never repeats it. */
static bool auth(redisContext *ctx, const char *user, const char *password, const char *what,
                 char *why, size_t size) {
    if (!password[0]) return true;
    redisReply *r = user[0] ? redisCommand(ctx, "AUTH %s %s", user, password)
                            : redisCommand(ctx, "AUTH %s", password);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok) snprintf(why, size, "%s: AUTH refused: %s", what, r ? r->str : ctx->errstr);
    if (r) freeReplyObject(r);
    return ok;
}

/* Discovery (a sentinel, a cluster node) answers within this: it is a
 * question, not the fleet's traffic. */
#define DISCOVERY_TIMEOUT_MS 500

/* A discovery connection to addr, authenticated; NULL and why (which
 * begins with what: "sentinel host:port", "node host:port"). */
static redisContext *dial_discovery(const char *addr, const char *what, const char *user,
                                    const char *password, char *why, size_t size) {
    redisContext *x = dial(addr, DISCOVERY_TIMEOUT_MS);
    if (!x || x->err) {
        snprintf(why, size, "%s: %s", what, x ? x->errstr : "out of memory");
        if (x) redisFree(x);
        return NULL;
    }
    struct timeval tv = {0, DISCOVERY_TIMEOUT_MS * 1000};
    redisSetTimeout(x, tv);
    if (!auth(x, user, password, what, why, size)) {
        redisFree(x);
        return NULL;
    }
    return x;
}

/* The master's address from the sentinels, asked in turn, starting with
 * the one that answered last. hiredis 0.14 has no Sentinel support: this
 * is the client side of the Sentinel protocol's discovery step (the
 * master's address, then ROLE on it, rp_cluster_connect). The sentinels
 * have their own AUTH (cluster.sentinel_user / sentinel_password_file). */
static bool sentinel_master(rp_cluster *c, char *addr, size_t size, rp_error *err) {
    const rp_cluster_config *cf = &c->config;
    unsigned first = (unsigned)atomic_load(&c->sentinel_next);
    char why[300] = "";
    for (unsigned k = 0; k < cf->n_sentinels; k++) {
        unsigned i = (first + k) % cf->n_sentinels;
        const char *s = cf->sentinels[i];
        char what[200];
        snprintf(what, sizeof what, "sentinel %s", s);
        redisContext *sc =
            dial_discovery(s, what, cf->sentinel_user, c->sentinel_password, why, sizeof why);
        if (!sc) continue;
        redisReply *r = redisCommand(sc, "SENTINEL get-master-addr-by-name %s", cf->master_name);
        bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                  r->element[0]->type == REDIS_REPLY_STRING &&
                  r->element[1]->type == REDIS_REPLY_STRING;
        if (ok) {
            const char *host = r->element[0]->str;
            snprintf(addr, size, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host,
                     r->element[1]->str);
            atomic_store(&c->sentinel_next, i);
        } else {
            snprintf(why, sizeof why, "%.150s: %.140s", what,
                     !r ? sc->errstr
                     : r->type == REDIS_REPLY_ERROR ? r->str
                     : r->type == REDIS_REPLY_NIL   ? "does not know this master"
                                                    : "unexpected reply");
        }
        if (r) freeReplyObject(r);
        redisFree(sc);
        if (ok) return true;
    }
    rp_error_set(err, RP_EIO, NULL, 0, 0, "no sentinel gave the address of master %s (last: %s)",
                 cf->master_name, why);
    return false;
}

/* ------------------------------------------------------- Redis Cluster */

/* The master serving the fleet's slot: CLUSTER SLOTS asked of the known
 * nodes in turn (the one that answered last first, then the seeds and the
 * nodes the last map named), as the sentinels are. The map's nodes are
 * remembered, so that a seed's death does not leave us without anyone to
 * ask. hiredis 0.14 has no cluster support: this is the client side of
 * the specification's slot discovery, for one slot. */
static bool cluster_master(rp_cluster *c, char *addr, size_t size, rp_error *err) {
    char (*known)[RP_CLUSTER_ADDR] = malloc(sizeof c->nodes);
    if (!known) {
        rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
        return false;
    }
    pthread_mutex_lock(&c->master_lock);
    unsigned n = 0;
    if (c->node_answered[0]) snprintf(known[n++], RP_CLUSTER_ADDR, "%s", c->node_answered);
    for (unsigned i = 0; i < c->n_nodes && n < RP_CLUSTER_MAX_NODES; i++)
        if (strcmp(c->nodes[i], c->node_answered) != 0)
            snprintf(known[n++], RP_CLUSTER_ADDR, "%s", c->nodes[i]);
    pthread_mutex_unlock(&c->master_lock);
    rp_slot_map *map = malloc(sizeof *map);
    char why[300] = "";
    bool ok = false;
    for (unsigned i = 0; map && i < n && !ok; i++) {
        char what[RP_CLUSTER_ADDR + 8];
        snprintf(what, sizeof what, "node %s", known[i]);
        redisContext *x =
            dial_discovery(known[i], what, c->config.user, c->password, why, sizeof why);
        if (!x) continue;
        redisReply *r = redisCommand(x, "CLUSTER SLOTS");
        if (!r) snprintf(why, sizeof why, "%.150s: %.140s", what, x->errstr);
        else ok = rp_cluster_parse_slots(r, c->slot, known[i], map, why, sizeof why);
        if (r) freeReplyObject(r);
        redisFree(x);
        if (!ok) continue;
        snprintf(addr, size, "%s", map->owner);
        pthread_mutex_lock(&c->master_lock);
        snprintf(c->node_answered, sizeof c->node_answered, "%s", known[i]);
        /* the seeds always, then the map's nodes */
        c->n_nodes = 0;
        for (unsigned s = 0; s < c->config.n_cluster_nodes; s++) /* 128 < RP_CLUSTER_ADDR */
            memcpy(c->nodes[c->n_nodes++], c->config.cluster_nodes[s],
                   strlen(c->config.cluster_nodes[s]) + 1);
        for (unsigned m = 0; m < map->n_nodes && c->n_nodes < RP_CLUSTER_MAX_NODES; m++) {
            bool dup = false;
            for (unsigned s = 0; s < c->n_nodes && !dup; s++) dup = !strcmp(c->nodes[s], map->nodes[m]);
            if (!dup) snprintf(c->nodes[c->n_nodes++], RP_CLUSTER_ADDR, "%s", map->nodes[m]);
        }
        pthread_mutex_unlock(&c->master_lock);
    }
    if (!map) snprintf(why, sizeof why, "out of memory");
    if (!ok)
        rp_error_set(err, RP_EIO, NULL, 0, 0,
                     "no redis cluster node gave the master of slot %u (%u known; last: %s)",
                     c->slot, n, why);
    free(map);
    free(known);
    return ok;
}

#define NOT_READY_QUIET_MS 60000

static int64_t mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Redis said "not now" (RP_REPLY_NOT_READY): no thread of this node
 * connects before the hold ends. Without it a Redis loading its data
 * for seconds is asked by every thread every few milliseconds (AUTH
 * works, the first command fails, the thread reconnects at once). The
 * hold doubles from BACKOFF_MIN_MS to BACKOFF_MAX_MS, as a refused
 * connection's backoff does, each time Redis says it again once the
 * hold is over (the replies of threads still connected during a hold do
 * not double it); an episode is logged when it begins, at warn (Redis
 * will serve: nothing is lost, everything is retried), and when a
 * connection's PING is answered again. from_probe: rp_cluster_connect's
 * PING said it (else a command of a thread's connection). */
static void hold_off(rp_cluster *c, const char *why, size_t len, bool from_probe) {
    atomic_fetch_add(&c->not_ready, 1);
    int64_t now = mono_ms();
    pthread_mutex_lock(&c->master_lock);
    /* One episode until a connection's PING is answered again (ready), or,
     * when PING never said it (NOREPLICAS on a write), a minute without a
     * "not now": the threads' own backoff can leave a loading Redis
     * unasked for seconds, which must not split the episode. */
    bool begins = !c->not_ready_since_ms || now > c->hold_until_ms + NOT_READY_QUIET_MS;
    if (begins) {
        c->not_ready_since_ms = now;
        c->hold_ms = BACKOFF_MIN_MS;
        c->hold_until_ms = now + c->hold_ms;
    } else if (now >= c->hold_until_ms) {
        c->hold_ms = c->hold_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->hold_ms * 2;
        c->hold_until_ms = now + c->hold_ms;
    }
    c->probe_refused |= from_probe;
    snprintf(c->not_ready_why, sizeof c->not_ready_why, "%.*s", (int)(len < 90 ? len : 90), why);
    pthread_mutex_unlock(&c->master_lock);
    char where[400];
    if (begins)
        rp_log(c->d, "warn", "cluster: redis %s is not ready (%.*s): every connection of this "
                             "node waits, with backoff (%d ms doubling to %d s), and retries",
               rp_cluster_where(c, where, sizeof where), (int)(len < 90 ? len : 90), why,
               BACKOFF_MIN_MS, BACKOFF_MAX_MS / 1000);
}

/* The time left on the hold (0: none), and why. */
static int64_t held(rp_cluster *c, char *why, size_t size) {
    pthread_mutex_lock(&c->master_lock);
    int64_t left = c->hold_until_ms - mono_ms();
    snprintf(why, size, "%s", c->not_ready_why);
    pthread_mutex_unlock(&c->master_lock);
    return left > 0 ? left : 0;
}

/* PING before a connection is handed out: a Redis that is loading its
 * data answers AUTH and ROLE, and refuses everything else with LOADING.
 * Any other error (an ACL without +ping) is not this check's business. */
static bool ready(rp_cluster *c, redisContext *ctx, const char *addr, rp_error *err) {
    redisReply *r = redisCommand(ctx, "PING");
    if (!r) {
        rp_error_set(err, RP_EIO, NULL, 0, 0, "redis %s: %s", addr, ctx->errstr);
        return false;
    }
    bool not_ready = r->type == REDIS_REPLY_ERROR &&
                     rp_cluster_reply_kind(r->str, r->len) == RP_REPLY_NOT_READY;
    if (not_ready) {
        rp_error_set(err, RP_EIO, NULL, 0, 0, "redis %s: %.90s", addr, r->str);
        hold_off(c, r->str, r->len, true);
    }
    freeReplyObject(r);
    if (not_ready) return false;
    pthread_mutex_lock(&c->master_lock);
    bool again = c->probe_refused;
    int64_t since = c->not_ready_since_ms;
    if (again) c->probe_refused = false, c->not_ready_since_ms = 0;
    pthread_mutex_unlock(&c->master_lock);
    if (again)
        rp_log(c->d, "info", "cluster: redis %s serves again, %lld ms after it first said it was "
                             "not ready", addr, (long long)(mono_ms() - since));
    return true;
}

redisContext *rp_cluster_connect(rp_cluster *c, rp_error *err) {
    const bool sentinel = c->config.n_sentinels > 0;
    const bool cluster = c->config.n_cluster_nodes > 0;
    char found[300];
    const char *addr = c->config.redis;
    char said[100];
    int64_t left = held(c, said, sizeof said);
    if (left) {
        rp_error_set(err, RP_EIO, NULL, 0, 0, "redis %s: %s (not ready: no connection for %lld ms)",
                     rp_cluster_where(c, found, sizeof found), said, (long long)left);
        return NULL;
    }
    if (sentinel || cluster) {
        if (!(sentinel ? sentinel_master : cluster_master)(c, found, sizeof found, err))
            return NULL;
        addr = found;
    }
    redisContext *ctx = dial(addr, CONNECT_TIMEOUT_MS);
    if (!ctx) {
        rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "redis %s: out of memory", addr);
        return NULL;
    }
    if (ctx->err) {
        rp_error_set(err, RP_EIO, NULL, 0, 0, "redis %s: %s", addr, ctx->errstr);
        redisFree(ctx);
        return NULL;
    }
    struct timeval tv = {COMMAND_TIMEOUT_MS / 1000, 0};
    redisSetTimeout(ctx, tv);
    char why[300], what[320];
    snprintf(what, sizeof what, "redis %s", addr);
    if (!auth(ctx, c->config.user, c->password, what, why, sizeof why)) {
        rp_error_set(err, RP_EIO, NULL, 0, 0, "%s", why);
        redisFree(ctx);
        return NULL;
    }
    if (sentinel || cluster) {
        /* A sentinel that has not seen the failover yet (or a partition),
         * or a stale slot map, can name the old master, now a replica:
         * ROLE says. */
        char whose[200];
        if (sentinel)
            snprintf(whose, sizeof whose, "master %.64s per the sentinels", c->config.master_name);
        else
            snprintf(whose, sizeof whose, "master of slot %u per the slot map", c->slot);
        redisReply *r = redisCommand(ctx, "ROLE");
        bool master = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                      r->element[0]->type == REDIS_REPLY_STRING &&
                      strcmp(r->element[0]->str, "master") == 0;
        if (!master)
            rp_error_set(err, RP_EIO, NULL, 0, 0, "redis %s (%s): %s", addr, whose,
                         !r                              ? ctx->errstr
                         : r->type == REDIS_REPLY_ERROR  ? r->str
                         : r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
                                 r->element[0]->type == REDIS_REPLY_STRING
                             ? "not a master (ROLE says so); asking again"
                             : "unexpected ROLE reply");
        if (r) freeReplyObject(r);
        if (!master) {
            redisFree(ctx);
            return NULL;
        }
        pthread_mutex_lock(&c->master_lock);
        bool changed = strcmp(c->master_addr, addr) != 0;
        if (changed) snprintf(c->master_addr, sizeof c->master_addr, "%s", addr);
        pthread_mutex_unlock(&c->master_lock);
        if (changed && sentinel)
            rp_log(c->d, "info", "cluster: redis master %s is %s (from the sentinels)",
                   c->config.master_name, addr);
        else if (changed)
            rp_log(c->d, "info", "cluster: redis cluster slot %u (%s, %s) is served by %s "
                                 "(from the slot map)",
                   c->slot, c->config.stream, c->config.decisions, addr);
    }
    if (!ready(c, ctx, addr, err)) {
        redisFree(ctx);
        return NULL;
    }
    watch_readonly(ctx);
    atomic_fetch_add(&c->connected, 1);
    return ctx;
}

/* What the log names: the address, or the master's name and where it
 * was last found. */
const char *rp_cluster_where(rp_cluster *c, char *buf, size_t size) {
    if (!c->config.n_sentinels && !c->config.n_cluster_nodes) return c->config.redis;
    pthread_mutex_lock(&c->master_lock);
    /* bounded so that the line fits any caller's buffer (gcc checks it) */
    if (c->config.n_sentinels)
        snprintf(buf, size, "%.200s (master %.64s via %u sentinel%s)",
                 c->master_addr[0] ? c->master_addr : "?", c->config.master_name,
                 c->config.n_sentinels, c->config.n_sentinels > 1 ? "s" : "");
    else
        snprintf(buf, size, "%.200s (slot %u of a redis cluster, %u seed%s)",
                 c->master_addr[0] ? c->master_addr : "?", c->slot, c->config.n_cluster_nodes,
                 c->config.n_cluster_nodes > 1 ? "s" : "");
    pthread_mutex_unlock(&c->master_lock);
    return buf;
}

redisContext *rp_cluster_connect_retry(rp_cluster *c, const char *who) {
    int backoff = BACKOFF_MIN_MS;
    bool logged = false;
    while (!atomic_load(&c->stopping)) {
        rp_error err = {0};
        redisContext *ctx = rp_cluster_connect(c, &err);
        if (ctx) {
            char where[400];
            if (logged)
                rp_log(c->d, "info", "cluster %s: connected to redis %s", who,
                       rp_cluster_where(c, where, sizeof where));
            return ctx;
        }
        /* Once per outage, not once per attempt. */
        if (!logged) rp_log(c->d, "warn", "cluster %s: %s; retrying with backoff", who, err.message);
        logged = true;
        if (!rp_cluster_sleep(c, backoff)) break;
        backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
    }
    return NULL;
}

void rp_cluster_disconnect(rp_cluster *c, redisContext **ctx) {
    if (!*ctx) return;
    /* Failed by a "not now" reply (the watch above): the hold, before the
     * thread's reconnect. */
    const char *e = (*ctx)->errstr;
    if ((*ctx)->err && rp_cluster_reply_kind(e, strlen(e)) == RP_REPLY_NOT_READY) {
        const char *cut = strstr(e, ": reconnecting");
        hold_off(c, e, cut ? (size_t)(cut - e) : strlen(e), false);
    }
    redisFree(*ctx);
    *ctx = NULL;
    atomic_fetch_sub(&c->connected, 1);
    if (!atomic_load(&c->stopping)) atomic_fetch_add(&c->reconnects, 1);
}

/* ----------------------------------------------------------- lifecycle */

rp_status rp_cluster_new(rp_daemon *d, const rp_cluster_config *config, rp_cluster **out,
                         rp_error *err) {
    *out = NULL;
    if (config->role == RP_CLUSTER_STANDALONE) return RP_OK;
    if (!config->redis[0] && !config->n_sentinels && !config->n_cluster_nodes)
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0,
                            "cluster.role %s needs cluster.redis, cluster.sentinels or "
                            "cluster.redis_cluster",
                            role_names[config->role]);
    unsigned slot = 0;
    char why[400];
    if (config->n_cluster_nodes && !rp_cluster_one_slot(config, &slot, why, sizeof why))
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0,
                            "cluster.redis_cluster: the fleet's keys must share one slot: %s",
                            why);
    rp_cluster *c = calloc(1, sizeof *c);
    if (!c) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    c->d = d;
    c->config = *config;
    rp_status st = read_password("password_file", config->password_file, c->password,
                                 sizeof c->password, err);
    if (st == RP_OK)
        st = read_password("sentinel_password_file", config->sentinel_password_file,
                           c->sentinel_password, sizeof c->sentinel_password, err);
    if (st != RP_OK) {
        memset(c->password, 0, sizeof c->password);
        free(c);
        return st;
    }
    c->slot = slot;
    /* The threads name cluster.redis in their log lines; with sentinels or
     * a cluster there is no one address (the connect path never reads it
     * then), so a label says where the address comes from. */
    if (config->n_sentinels)
        snprintf(c->config.redis, sizeof c->config.redis, "(master %.64s via the sentinels)",
                 config->master_name);
    else if (config->n_cluster_nodes)
        snprintf(c->config.redis, sizeof c->config.redis, "(slot %u of the redis cluster)", slot);
    for (unsigned i = 0; i < config->n_cluster_nodes; i++) /* 128 < RP_CLUSTER_ADDR */
        memcpy(c->nodes[c->n_nodes++], config->cluster_nodes[i],
               strlen(config->cluster_nodes[i]) + 1);
    /* A stable name: a restarted detector reads its own pending entries
     * first and takes its lease back at once (docs/cluster.md). By
     * default the host and the store, which one detector owns (its lock
     * file): FNV-1a of the store's absolute path. */
    if (config->consumer[0]) {
        snprintf(c->consumer, sizeof c->consumer, "%s", config->consumer);
    } else {
        char host[64] = "host", cwd[512] = "";
        gethostname(host, sizeof host - 1);
        const char *store = d->opts.store_path ? d->opts.store_path : "";
        if (store[0] != '/' && !getcwd(cwd, sizeof cwd)) cwd[0] = 0;
        uint32_t h = 2166136261u;
        for (int part = 0; part < 2; part++)
            for (const char *p = part ? store : cwd; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
        snprintf(c->consumer, sizeof c->consumer, "%s-%08x", host, h);
    }
    snprintf(c->lease_key, sizeof c->lease_key, "%s:lease", config->stream);
    snprintf(c->detectors_key, sizeof c->detectors_key, "%s:detectors", config->stream);
    snprintf(c->changes, sizeof c->changes, "%s:changes", config->decisions);
    snprintf(c->expiry, sizeof c->expiry, "%s:expiry", config->decisions);
    pthread_mutex_init(&c->publish_lock, NULL);
    pthread_cond_init(&c->publish_cond, NULL);
    pthread_mutex_init(&c->local_lock, NULL);
    pthread_mutex_init(&c->master_lock, NULL);
    pthread_mutex_init(&c->journal_lock, NULL);
    /* The operators' unpublished changes, back in the queue before the
     * engine thread can queue anything and before the first load. */
    c->local_journal_fd = -1;
    if (d && d->serve.store_path[0]) {
        snprintf(c->journal_path, sizeof c->journal_path, "%s.unpublished", d->serve.store_path);
        if (config->role == RP_CLUSTER_EDGE && config->local_detection)
            snprintf(c->local_journal_path, sizeof c->local_journal_path, "%s.unpublished-local",
                     d->serve.store_path);
    }
    rp_cluster_journal_restore(c);
    /* The edge's outage buffer on disk (cluster_spool.c), read back by the
     * forwarder when it starts. */
    if (d && d->serve.store_path[0] && config->role == RP_CLUSTER_EDGE && config->buffer_mb) {
        snprintf(c->spool_dir, sizeof c->spool_dir, "%s.spool", d->serve.store_path);
        if (mkdir(c->spool_dir, 0700) != 0 && errno != EEXIST) {
            rp_log(d, "warn", "cluster forwarder: %s: %s; the outage buffer is in memory only",
                   c->spool_dir, strerror(errno));
            c->spool_dir[0] = 0;
        }
    }
    st = rp_fleet_view_new(c, err); /* cluster_incidents.c: the node's name, host ids */
    if (st == RP_OK) st = rp_cluster_witness_new(c, err); /* before the engine thread reads it */
    if (st != RP_OK) {
        rp_cluster_stop(c);
        return st;
    }
    *out = c;
    return RP_OK;
}

/* Called by the engine thread alone, once a loop, before it pops: the
 * queue has one consumer, so the hand-over between the forwarder and the
 * engine (local detection while Redis is unreachable, cluster_edge.c) is
 * made here. engine_consuming says, under the lock, what the engine was
 * last told; the forwarder pops again only once the engine has been told
 * false (local_leave, cluster_edge.c). */
bool rp_cluster_forwards_events(rp_cluster *c) {
    if (!c || c->config.role != RP_CLUSTER_EDGE) return false;
    pthread_mutex_lock(&c->local_lock);
    bool local = c->local_mode;
    c->engine_consuming = local;
    pthread_mutex_unlock(&c->local_lock);
    return !local;
}

rp_status rp_cluster_run(rp_cluster *c, rp_error *err) {
    if (!c) return RP_OK;
    rp_daemon *d = c->d;
    /* The fleet's decisions before the daemon reports ready: a restarted
     * edge enforces the fleet's blocks from its first request. */
    rp_error cerr = {0};
    char where[400];
    c->mirror_ctx = rp_cluster_connect(c, &cerr);
    snprintf(c->mirror_last_id, sizeof c->mirror_last_id, "0-0");
    if (c->mirror_ctx) {
        unsigned loaded = 0;
        int64_t t0 = rp_wall_us();
        if (rp_cluster_load(c, c->mirror_ctx, c->mirror_last_id, sizeof c->mirror_last_id,
                            &loaded) == RP_OK)
            rp_log(d, "info", "cluster %s: redis %s, %u active fleet decisions loaded (%lld ms)",
                   role_names[c->config.role], rp_cluster_where(c, where, sizeof where), loaded,
                   (long long)((rp_wall_us() - t0) / 1000));
        else
            rp_cluster_disconnect(c, &c->mirror_ctx);
    }
    if (!c->mirror_ctx)
        rp_log(d, "warn", "cluster %s: redis %s unreachable at start (%s): serving with the "
                          "decisions restored from the store, the fleet's are loaded when it "
                          "comes", role_names[c->config.role],
               rp_cluster_where(c, where, sizeof where),
               cerr.message[0] ? cerr.message : "the load failed");
    struct {
        bool want;
        pthread_t *thread;
        bool *started;
        void *(*main)(void *);
        const char *name;
    } threads[] = {
        {true, &c->mirror_thread, &c->mirror_started, rp_cluster_mirror_main, "mirror"},
        {true, &c->publish_thread, &c->publish_started, rp_cluster_publish_main, "publisher"},
        {c->config.role == RP_CLUSTER_EDGE, &c->forward_thread, &c->forward_started,
         rp_cluster_forward_main, "forwarder"},
        {c->config.role == RP_CLUSTER_DETECTOR, &c->detect_thread, &c->detect_started,
         rp_cluster_detect_main, "reader"},
    };
    for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
        if (!threads[i].want) continue;
        if (pthread_create(threads[i].thread, NULL, threads[i].main, c) != 0)
            return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "cannot start the cluster %s thread",
                                threads[i].name);
        *threads[i].started = true;
    }
    rp_status st = rp_cluster_incidents_start(c, err);
    return st == RP_OK ? rp_cluster_witness_start(c, err) : st;
}

void rp_cluster_stop(rp_cluster *c) {
    if (!c) return;
    atomic_store(&c->stopping, true);
    pthread_mutex_lock(&c->publish_lock);
    pthread_cond_broadcast(&c->publish_cond);
    pthread_mutex_unlock(&c->publish_lock);
    if (c->forward_started) pthread_join(c->forward_thread, NULL);
    if (c->detect_started) pthread_join(c->detect_thread, NULL);
    if (c->mirror_started) pthread_join(c->mirror_thread, NULL);
    if (c->publish_started) pthread_join(c->publish_thread, NULL);
    rp_cluster_incidents_join(c);
    rp_cluster_witness_stop(c);
    rp_fleet_view_free(c);
    if (c->mirror_ctx) redisFree(c->mirror_ctx); /* never handed to its thread */
    while (c->publish_head) {
        publish_item *n = c->publish_head->next;
        free(c->publish_head);
        c->publish_head = n;
    }
    pthread_mutex_destroy(&c->publish_lock);
    pthread_cond_destroy(&c->publish_cond);
    pthread_mutex_destroy(&c->local_lock);
    pthread_mutex_destroy(&c->master_lock);
    pthread_mutex_destroy(&c->journal_lock);
    if (c->local_journal_fd >= 0) close(c->local_journal_fd); /* the file stays for the next start */
    rp_cluster_buffer_free(c);
    memset(c->password, 0, sizeof c->password);
    memset(c->sentinel_password, 0, sizeof c->sentinel_password);
    free(c);
}

/* ------------------------------------------------------------- metrics */

void rp_cluster_metrics(rp_cluster *c, FILE *f) {
    if (!c) return;
    static const struct {
        const char *name, *type, *help;
        size_t offset;
    } counters[] = {
#define C(field) offsetof(rp_cluster, field)
        {"rampart_cluster_events_forwarded_total", "counter",
         "Events this edge appended to the Redis stream.", C(forwarded)},
        {"rampart_cluster_forward_errors_total", "counter",
         "Events this edge could not append (Redis unreachable or refusing).", C(forward_errors)},
        {"rampart_cluster_forward_entries_total", "counter",
         "Stream entries (XADDs) written; each carries one or more events.", C(forward_entries)},
        {"rampart_cluster_forward_round_trips_total", "counter",
         "Pipelined round trips to Redis made by the forwarder.", C(forward_round_trips)},
        {"rampart_cluster_stream_trimmed_total", "counter",
         "Stream entries this edge's XTRIM MAXLEN ~ removed (events no detector may read).",
         C(stream_trimmed)},
        {"rampart_cluster_aggregate_copies_total", "counter",
         "Copies of events this edge wrote to aggregate streams (<stream>:x:<q>, "
         "cluster.partitions > 1): one per other partition holding one of the event's "
         "fingerprint, token, session or account.", C(aggregate_copies)},
        {"rampart_cluster_events_copied_total", "counter",
         "Events forwarded with at least one aggregate copy (cluster.partitions > 1).",
         C(events_copied)},
        {"rampart_cluster_events_consumed_total", "counter",
         "Events this detector read through the consumer group and fed to its engine.",
         C(consumed)},
        {"rampart_cluster_entries_acked_total", "counter",
         "Stream entries this detector acknowledged after its engine processed them.", C(acked)},
        {"rampart_cluster_entries_claimed_total", "counter",
         "Stream entries this detector took over (XAUTOCLAIM) from a consumer that had not "
         "acknowledged them for cluster.claim_idle_ms.", C(claimed)},
        {"rampart_cluster_entries_trimmed_unread_total", "counter",
         "Stream entries trimmed (cluster.stream_maxlen) before the detectors' group read "
         "them: the growth of the group's lag, sampled by the lease holder when read to the "
         "stream's end; events no detector judged.", C(trimmed_unread)},
        {"rampart_cluster_lease_takeovers_total", "counter",
         "Times this detector took the active lease (start, restart or takeover).", C(takeovers)},
        {"rampart_cluster_decode_errors_total", "counter",
         "Events read from the stream that did not decode (skipped).", C(decode_errors)},
        {"rampart_cluster_decisions_mirrored_total", "counter",
         "Fleet decisions written into this node's table from Redis.", C(mirrored)},
        {"rampart_cluster_decisions_mirror_removed_total", "counter",
         "Fleet removals applied to this node's table.", C(mirror_removed)},
        {"rampart_cluster_loads_total", "counter",
         "Full loads of the fleet's active decisions (start and every reconnect).", C(loads)},
        {"rampart_cluster_decisions_published_total", "counter",
         "Decisions and removals this node wrote to Redis.", C(published)},
        {"rampart_cluster_publish_errors_total", "counter",
         "Decisions this node could not write to Redis (retried after reconnect).",
         C(publish_errors)},
        {"rampart_cluster_publish_dropped_total", "counter",
         "Decisions not published because the publish queue was full.", C(publish_dropped)},
        {"rampart_cluster_wait_short_total", "counter",
         "Publisher batches whose WAIT (cluster.wait_replicas) fewer replicas acknowledged "
         "within cluster.wait_ms.",
         C(wait_short)},
        {"rampart_cluster_reconnects_total", "counter", "Redis connections lost and remade.",
         C(reconnects)},
        {"rampart_cluster_redis_not_ready_total", "counter",
         "Replies by which Redis said not now (LOADING its data, BUSY, MASTERDOWN, NOREPLICAS, "
         "CLUSTERDOWN, TRYAGAIN): what was sent is retried, this node's connections wait with "
         "backoff.", C(not_ready)},
        {"rampart_cluster_events_buffered_total", "counter",
         "Events this edge kept in its outage buffer (cluster.buffer_mb) to forward later.",
         C(buffered)},
        {"rampart_cluster_buffer_replayed_total", "counter",
         "Buffered events forwarded once Redis returned.", C(buffer_replayed)},
        {"rampart_cluster_buffer_dropped_total", "counter",
         "Events lost to the fleet: the outage buffer was full (oldest dropped) or disabled.",
         C(buffer_dropped)},
        {"rampart_cluster_events_local_total", "counter",
         "Events this edge's own engine analysed while Redis was unreachable "
         "(cluster.local_detection).", C(local_events)},
        {"rampart_cluster_publish_superseded_total", "counter",
         "Manual decisions and removals not written: the fleet had decided on the key after "
         "them (newer wins); the fleet's decision was taken here.", C(publish_superseded)},
        {"rampart_cluster_unpublished_restored_total", "counter",
         "Manual decisions and removals restored at start from <store>.unpublished, and local "
         "detection's decisions from <store>.unpublished-local, to publish.",
         C(journal_restored)},
        {"rampart_cluster_unpublished_local_full_total", "counter",
         "Decisions of this edge's local detection not journaled: <store>.unpublished-local "
         "held 8192 (published when Redis returns unless the edge restarts first).",
         C(local_journal_full)},
        {"rampart_cluster_unpublished_skipped_total", "counter",
         "Damaged or truncated lines of <store>.unpublished skipped at start.",
         C(journal_skipped)},
        {"rampart_cluster_unpublished_write_errors_total", "counter",
         "Rewrites of <store>.unpublished that failed (a full disk): not durable until the next.",
         C(journal_errors)},
        {"rampart_cluster_spool_restored_total", "counter",
         "Buffered events read back at start from the outage buffer's segments (<store>.spool).",
         C(spool_restored)},
        {"rampart_cluster_spool_damaged_total", "counter",
         "Outage buffer segments found damaged or truncated at start (their valid records kept, "
         "the rest skipped), or files there that were no segment (removed).",
         C(spool_damaged)},
        {"rampart_cluster_spool_write_errors_total", "counter",
         "Writes to the outage buffer's segments that failed (a full disk): those events are "
         "kept in memory only.", C(spool_write_errors)},
        {"rampart_cluster_spool_syncs_total", "counter",
         "fdatasyncs of the outage buffer's segments: each complete segment, and the one "
         "filling at most every cluster.spool_sync_ms.", C(spool_syncs)},
        {"rampart_cluster_resync_removed_total", "counter",
         "Decisions removed from this node's table by a resync: absent from Redis on reconnect.",
         C(resync_removed)},
#undef C
    };
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        atomic_uint_fast64_t *v = (atomic_uint_fast64_t *)((char *)c + counters[i].offset);
        fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", counters[i].name, counters[i].help,
                counters[i].name, counters[i].type, counters[i].name,
                (unsigned long long)atomic_load(v));
    }
    fprintf(f, "# HELP rampart_cluster_connections Live Redis connections of this node.\n"
               "# TYPE rampart_cluster_connections gauge\nrampart_cluster_connections %d\n",
            atomic_load(&c->connected));
    pthread_mutex_lock(&c->publish_lock);
    size_t pending = c->publish_pending; /* and the batch waiting for a connection */
    for (const publish_item *it = c->publish_inflight; it; it = it->next) pending++;
    pthread_mutex_unlock(&c->publish_lock);
    fprintf(f, "# HELP rampart_cluster_publish_pending Decisions waiting for the publisher.\n"
               "# TYPE rampart_cluster_publish_pending gauge\nrampart_cluster_publish_pending "
               "%zu\n", pending);
    fprintf(f, "# HELP rampart_cluster_buffer_events Events in the edge's outage buffer.\n"
               "# TYPE rampart_cluster_buffer_events gauge\nrampart_cluster_buffer_events %llu\n"
               "# HELP rampart_cluster_buffer_bytes Bytes in the edge's outage buffer.\n"
               "# TYPE rampart_cluster_buffer_bytes gauge\nrampart_cluster_buffer_bytes %llu\n"
               "# HELP rampart_cluster_local_detection 1 while this edge analyses its own events.\n"
               "# TYPE rampart_cluster_local_detection gauge\nrampart_cluster_local_detection %d\n",
            (unsigned long long)atomic_load(&c->buffer_events),
            (unsigned long long)atomic_load(&c->buffer_bytes), atomic_load(&c->local_gauge));
    if (c->config.role == RP_CLUSTER_DETECTOR)
        fprintf(f, "# HELP rampart_cluster_detector_active 1 while this detector holds the "
                   "lease and reads the stream, 0 on standby.\n"
                   "# TYPE rampart_cluster_detector_active gauge\n"
                   "rampart_cluster_detector_active %d\n", atomic_load(&c->active) ? 1 : 0);
    if (c->config.role == RP_CLUSTER_DETECTOR)
        fprintf(f, "# HELP rampart_cluster_partitions_held Partition leases this detector holds "
                   "(of cluster.partitions).\n"
                   "# TYPE rampart_cluster_partitions_held gauge\n"
                   "rampart_cluster_partitions_held %u\n"
                   "# HELP rampart_cluster_live_detectors Live detectors as last counted "
                   "(cluster.partitions > 1; 0 otherwise).\n"
                   "# TYPE rampart_cluster_live_detectors gauge\n"
                   "rampart_cluster_live_detectors %u\n",
                atomic_load(&c->partitions_held), atomic_load(&c->live_detectors));
    rp_cluster_incidents_metrics(c, f);
    rp_cluster_witness_metrics(c, f);
    fprintf(f, "# HELP rampart_cluster_role This node's role (1 for the one in force).\n"
               "# TYPE rampart_cluster_role gauge\nrampart_cluster_role{role=\"%s\"} 1\n",
            role_names[c->config.role]);
}
