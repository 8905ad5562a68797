/*
 * cluster_config.c -- configuration as code for a fleet (docs/cluster.md,
 * "Configuration as code"): one YAML for every node, kept in Redis.
 *
 * The fleet's file lives in one hash, cluster.config_key ("rampart:config"):
 *   yaml      the text, at most RP_FLEET_CONFIG_MAX bytes
 *   version   monotonic: each push is the highest version any node reports
 *             having applied (or the hash's), plus one -- one Lua script,
 *             so two pushes never get the same number and a hash lost with
 *             Redis's data does not restart the count below what the
 *             nodes run
 *   sha256    of the text (sha256sum's figure: compare with git)
 *   by, at    who pushed it and when (ms)
 *   node:<n>  each node's report: the version it applied, the one it
 *             refused and why, when it last said so
 * One key, so the push is atomic on Redis Cluster too.
 *
 * Every node (edge and detector) runs a watcher thread with its own
 * connection: every RP_FLEET_POLL_MS one HMGET of version and sha256 and
 * one HSTRLEN (three small replies); only a new version is read whole.
 * A new version is judged (rp_fleet_judge: never backwards, never larger
 * than the bound, the text must match its hash), then applied through the
 * daemon's reload -- the SIGHUP path: the node's file, merged with the
 * fleet's text (rp_config_merge_fleet), validated, the engine
 * reconfigured -- or refused: logged once per version, counted, the old
 * configuration stays. Why a poll and not a stream of changes: the
 * version is one small read, a change reaches every node within half a
 * second without a second key to trim, and a value written by hand (not
 * through the push) is seen the same way.
 *
 * The version applied is kept beside the store (<store>.fleet, mode 0600:
 * the text may hold allow.tokens), so a node restarted while Redis is
 * unreachable starts with the fleet's last configuration it had, not
 * silently with its own file's older policy.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cluster_int.h"
#include "load.h"
#include "sha256.h"

/* A change reaches a node within this (plus the apply, milliseconds). */
#define RP_FLEET_POLL_MS 500
/* A node says it is alive in its report this often (config-status). */
#define RP_FLEET_BEAT_MS 10000
/* The local copy's first line (JSON) is at most this long. */
#define RP_FLEET_HEADER_MAX 4096

struct rp_fleet {
    rp_daemon *d;
    rp_cluster *cluster;    /* set by rp_fleet_run */
    char key[128];          /* cluster.config_key */
    char node[96];          /* this node's name (its consumer name) */
    char role[16];
    char copy_path[600];    /* <store>.fleet */
    pthread_mutex_t reload_lock; /* one reload at a time (rp_fleet_lock) */
    pthread_mutex_t lock;   /* applied, refused, error: for the readers */
    rp_fleet_version applied;
    int64_t applied_at_ms;
    uint64_t refused_version; /* the last refused, so it is logged once */
    char refused_sha[65];
    char error[300];        /* why it was refused */
    atomic_bool report_due; /* the node's report changed */
    bool absent_logged;     /* watcher thread only, as poll_error */
    char poll_error[300];   /* the last read's error, logged when it changes */
    bool restart_candidate; /* the candidate changes keys read at start only */
    pthread_t thread;
    bool started;
    atomic_bool stopping;
    atomic_uint_fast64_t applied_total, refused_total, poll_errors;
    atomic_int restart_pending;
};

/* ------------------------------------------------------------- verdict */

rp_fleet_verdict rp_fleet_judge(uint64_t applied, const char *applied_sha, uint64_t version,
                                const char *sha, uint64_t len) {
    if (applied && version == applied)
        return strcmp(sha, applied_sha) == 0 ? RP_FLEET_CURRENT : RP_FLEET_CONFLICT;
    if (version < applied) return RP_FLEET_OLDER;
    if (len > RP_FLEET_CONFIG_MAX) return RP_FLEET_TOO_LARGE;
    return RP_FLEET_APPLY;
}

static void version_free(rp_fleet_version *v) {
    free(v->yaml);
    memset(v, 0, sizeof *v);
}

static bool version_copy(rp_fleet_version *to, const rp_fleet_version *from) {
    char *text = malloc(from->len + 1);
    if (!text) return false;
    memcpy(text, from->yaml, from->len);
    text[from->len] = 0;
    free(to->yaml);
    *to = *from;
    to->yaml = text;
    return true;
}

/* Text from Redis or a file goes into log lines and JSON: printable
 * ASCII only, bounded. */
static void printable(char *dst, size_t size, const char *src, size_t len) {
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < size; i++)
        dst[o++] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
    dst[o] = 0;
}

/* "7" -> 7; anything else (empty, signs, 21 digits) is not a version. */
static bool parse_version(const char *s, size_t len, uint64_t *out) {
    if (len == 0 || len > 19) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return v > 0;
}

static bool valid_sha(const char *s, size_t len) {
    if (len != 64) return false;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

/* --------------------------------------------------------------- merge */

/* The fleet's text parsed as a node reads it (relative paths against the
 * node's own file) with its OpenAPI document, merged into node. */
rp_status rp_fleet_load_text(const char *text, size_t len, const char *name, const char *base,
                             rp_config **out, rp_error *err) {
    *out = NULL;
    rp_config *fleet;
    rp_status st = rp_config_parse_fleet(text, len, name, base, &fleet, err);
    if (st != RP_OK) return st;
    if (fleet->openapi_path[0]) {
        char *doc;
        size_t dlen;
        st = rp_read_file(fleet->openapi_path, 16u << 20, &doc, &dlen, err);
        if (st == RP_OK) {
            st = rp_config_add_openapi(fleet, doc, dlen, fleet->openapi_path, err);
            free(doc);
        }
        if (st != RP_OK) {
            rp_config_free(fleet);
            return st;
        }
    }
    *out = fleet;
    return RP_OK;
}

static rp_status merge_text(const rp_config *node, const char *node_path,
                            const rp_fleet_version *v, rp_config **out, rp_error *err) {
    char name[64];
    snprintf(name, sizeof name, "fleet config v%" PRIu64, v->version);
    rp_config *fleet;
    rp_status st = rp_fleet_load_text(v->yaml, v->len, name, node_path, &fleet, err);
    if (st != RP_OK) return st;
    *out = rp_config_merge_fleet(node, fleet);
    rp_config_free(fleet);
    return *out ? RP_OK : rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
}

/* The fleet keys of cluster: are read when the cluster starts: a version
 * that changes them is applied for the rest and waits for a restart. */
static bool changes_start_keys(const rp_config *merged, const rp_cluster *c, char *which,
                               size_t size) {
    if (!c) return false;
    size_t o = 0;
    which[0] = 0;
    for (size_t k = 0; k < rp_cluster_n_fleet_keys; k++) {
        const rp_fleet_field *fk = &rp_cluster_fleet_keys[k];
        if (memcmp((const char *)&merged->cluster + fk->offset,
                   (const char *)&c->config + fk->offset, fk->size) != 0 &&
            o + 1 < size)
            o += (size_t)snprintf(which + o, size - o, "%scluster.%s", o ? ", " : "", fk->name);
    }
    return o > 0;
}

rp_status rp_fleet_merge(rp_fleet *f, const char *node_path, const rp_fleet_version *candidate,
                         rp_config **config, rp_error *err) {
    if (!f) return RP_OK;
    const rp_fleet_version *v = candidate ? candidate : f->applied.version ? &f->applied : NULL;
    if (!v) return RP_OK;
    rp_config *merged;
    rp_status st = merge_text(*config, node_path, v, &merged, err);
    if (st != RP_OK) return st;
    if (candidate) {
        char which[300];
        f->restart_candidate = changes_start_keys(merged, f->cluster, which, sizeof which);
        if (f->restart_candidate)
            rp_log(f->d, "warn", "fleet config v%" PRIu64 " changes %s: applied when this node "
                                 "restarts (the rest applies now)", v->version, which);
    }
    rp_config_free(*config);
    *config = merged;
    return RP_OK;
}

void rp_fleet_lock(rp_fleet *f) {
    if (f) pthread_mutex_lock(&f->reload_lock);
}

void rp_fleet_unlock(rp_fleet *f) {
    if (f) pthread_mutex_unlock(&f->reload_lock);
}

/* ----------------------------------------------------------- local copy */

/* <store>.fleet: one JSON line (version, sha256, by, at, key), the text. */
static void copy_write(rp_fleet *f, const rp_fleet_version *v) {
    json_t *h = json_pack("{s:i,s:I,s:s,s:s,s:I,s:s}", "format", 1, "version",
                          (json_int_t)v->version, "sha256", v->sha256, "by", v->by, "at",
                          (json_int_t)v->at_ms, "key", f->key);
    char *line = h ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);
    char tmp[620];
    snprintf(tmp, sizeof tmp, "%s.tmp", f->copy_path);
    int fd = line ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    bool ok = fd >= 0;
    if (ok) {
        size_t hl = strlen(line);
        ok = write(fd, line, hl) == (ssize_t)hl && write(fd, "\n", 1) == 1 &&
             write(fd, v->yaml, v->len) == (ssize_t)v->len && fsync(fd) == 0;
        ok = close(fd) == 0 && ok;
    }
    if (ok && rename(tmp, f->copy_path) == 0) {
        free(line);
        return;
    }
    if (fd >= 0) unlink(tmp);
    rp_log(f->d, "error", "fleet config v%" PRIu64 " not kept in %s (%s): a restart while redis "
                          "is unreachable would start with an older one", v->version,
           f->copy_path, strerror(errno));
    free(line);
}

/* The copy, checked: its text must match its hash and its key this
 * node's (a store moved from another fleet). */
static bool copy_read(rp_fleet *f, rp_fleet_version *out, char *why, size_t size) {
    char *data = NULL;
    size_t len = 0;
    rp_error err = {0};
    memset(out, 0, sizeof *out);
    if (access(f->copy_path, F_OK) != 0) {
        snprintf(why, size, "none");
        return false;
    }
    if (rp_read_file(f->copy_path, RP_FLEET_CONFIG_MAX + RP_FLEET_HEADER_MAX, &data, &len,
                     &err) != RP_OK) {
        snprintf(why, size, "%s", err.message);
        return false;
    }
    char *nl = memchr(data, '\n', len < RP_FLEET_HEADER_MAX ? len : RP_FLEET_HEADER_MAX);
    json_t *h = nl ? json_loadb(data, (size_t)(nl - data), 0, NULL) : NULL;
    json_int_t version = 0, at = 0;
    const char *sha = NULL, *by = "", *key = NULL;
    bool ok = h && json_unpack(h, "{s:I,s:s,s:s,s:I,s:s}", "version", &version, "sha256", &sha,
                               "by", &by, "at", &at, "key", &key) == 0 &&
              version > 0 && valid_sha(sha, strlen(sha));
    if (!ok) snprintf(why, size, "not a fleet copy (its first line)");
    else if (strcmp(key, f->key) != 0) {
        snprintf(why, size, "from another fleet key (%.100s)", key);
        ok = false;
    }
    if (ok) {
        out->len = len - (size_t)(nl + 1 - data);
        out->yaml = malloc(out->len + 1);
        ok = out->yaml != NULL;
        if (ok) {
            memcpy(out->yaml, nl + 1, out->len);
            out->yaml[out->len] = 0;
            char check[RP_SHA256_HEX];
            rp_sha256_hex(out->yaml, out->len, check);
            if (strcmp(check, sha) != 0) {
                snprintf(why, size, "its text does not match its sha256 (damaged)");
                ok = false;
            }
        }
    }
    if (ok) {
        out->version = (uint64_t)version;
        snprintf(out->sha256, sizeof out->sha256, "%s", sha);
        printable(out->by, sizeof out->by, by, strlen(by));
        out->at_ms = at;
    } else {
        version_free(out);
    }
    json_decref(h);
    free(data);
    return ok;
}

/* ---------------------------------------------------------- Redis side */

static bool reply_string(const redisReply *r, const char **s, size_t *len) {
    if (!r || r->type != REDIS_REPLY_STRING) return false;
    *s = r->str;
    *len = r->len;
    return true;
}

/* What the hash says of its current version, without the text. found
 * false: no version there. RP_EIO: the connection failed. */
typedef struct fleet_head {
    bool found, well_formed;
    uint64_t version, len;
    char sha256[65];
    char raw[48]; /* the version field as it was, for a message */
} fleet_head;

static rp_status read_head(redisContext *ctx, const char *key, fleet_head *h, char *why,
                           size_t size) {
    memset(h, 0, sizeof *h);
    redisAppendCommand(ctx, "HMGET %s version sha256", key);
    redisAppendCommand(ctx, "HSTRLEN %s yaml", key);
    redisReply *a = NULL, *b = NULL;
    if (redisGetReply(ctx, (void **)&a) != REDIS_OK || redisGetReply(ctx, (void **)&b) != REDIS_OK) {
        if (a) freeReplyObject(a);
        snprintf(why, size, "%s", ctx->errstr);
        return RP_EIO;
    }
    rp_status st = RP_OK;
    if (a->type == REDIS_REPLY_ERROR || b->type == REDIS_REPLY_ERROR) {
        snprintf(why, size, "%s", a->type == REDIS_REPLY_ERROR ? a->str : b->str);
        st = RP_EIO;
    } else if (a->type == REDIS_REPLY_ARRAY && a->elements == 2) {
        const char *v, *s;
        size_t vl, sl;
        if (reply_string(a->element[0], &v, &vl)) {
            h->found = true;
            printable(h->raw, sizeof h->raw, v, vl);
            bool sha_ok = reply_string(a->element[1], &s, &sl) && valid_sha(s, sl);
            h->well_formed = parse_version(v, vl, &h->version) && sha_ok;
            if (sha_ok) memcpy(h->sha256, s, 64);
            h->len = b->type == REDIS_REPLY_INTEGER ? (uint64_t)b->integer : 0;
        }
    }
    freeReplyObject(a);
    freeReplyObject(b);
    return st;
}

/* The whole version, read in one reply so that text and number agree. */
static rp_status read_version(redisContext *ctx, const char *key, rp_fleet_version *v,
                              char *why, size_t size) {
    memset(v, 0, sizeof *v);
    redisReply *r = redisCommand(ctx, "HMGET %s yaml version sha256 by at", key);
    if (!r) {
        snprintf(why, size, "%s", ctx->errstr);
        return RP_EIO;
    }
    rp_status st = RP_OK;
    const char *s;
    size_t len;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
        !reply_string(r->element[0], &s, &len)) {
        snprintf(why, size, "%s", r->type == REDIS_REPLY_ERROR ? r->str : "no text");
        st = r->type == REDIS_REPLY_ERROR ? RP_EIO : RP_ENOENT;
    } else if (len > RP_FLEET_CONFIG_MAX) {
        snprintf(why, size, "larger than %u bytes", RP_FLEET_CONFIG_MAX);
        st = RP_ERANGE;
    } else {
        v->yaml = malloc(len + 1);
        if (!v->yaml) {
            snprintf(why, size, "out of memory");
            st = RP_ENOMEM;
        } else {
            memcpy(v->yaml, s, len);
            v->yaml[len] = 0;
            v->len = len;
            const char *f;
            size_t fl;
            if (reply_string(r->element[1], &f, &fl)) parse_version(f, fl, &v->version);
            if (reply_string(r->element[2], &f, &fl) && valid_sha(f, fl)) memcpy(v->sha256, f, 64);
            if (reply_string(r->element[3], &f, &fl)) printable(v->by, sizeof v->by, f, fl);
            if (reply_string(r->element[4], &f, &fl)) {
                char num[24];
                printable(num, sizeof num, f, fl);
                v->at_ms = strtoll(num, NULL, 10);
            }
        }
    }
    freeReplyObject(r);
    return st;
}

/* This node's report in the hash: node:<name> = JSON. */
static void report(rp_fleet *f, redisContext *ctx) {
    pthread_mutex_lock(&f->lock);
    json_t *o = json_pack("{s:s,s:I,s:s,s:I,s:I}", "role", f->role, "version",
                          (json_int_t)f->applied.version, "sha256", f->applied.sha256,
                          "applied_at", (json_int_t)f->applied_at_ms, "seen",
                          (json_int_t)(rp_wall_us() / 1000));
    if (o && f->refused_version) {
        json_object_set_new(o, "refused", json_integer((json_int_t)f->refused_version));
        json_object_set_new(o, "error", json_string(f->error));
    }
    pthread_mutex_unlock(&f->lock);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!text) return;
    char field[110];
    snprintf(field, sizeof field, "node:%s", f->node);
    redisReply *r = redisCommand(ctx, "HSET %s %s %s", f->key, field, text);
    if (r) freeReplyObject(r);
    free(text);
}

/* ------------------------------------------------------------ applying */

static void refuse(rp_fleet *f, uint64_t version, const char *sha, const char *why) {
    pthread_mutex_lock(&f->lock);
    bool again = f->refused_version == version && strcmp(f->refused_sha, sha) == 0;
    f->refused_version = version;
    snprintf(f->refused_sha, sizeof f->refused_sha, "%s", sha);
    snprintf(f->error, sizeof f->error, "%s", why);
    f->report_due = true;
    pthread_mutex_unlock(&f->lock);
    if (again) return; /* once per version */
    atomic_fetch_add(&f->refused_total, 1);
    rp_log(f->d, "error", "fleet config v%" PRIu64 " refused, v%" PRIu64 " stays: %s", version,
           rp_fleet_applied_version(f), why);
}

void rp_fleet_set_applied(rp_fleet *f, const rp_fleet_version *candidate) {
    if (!f || !candidate) return;
    pthread_mutex_lock(&f->lock);
    bool ok = version_copy(&f->applied, candidate);
    f->applied_at_ms = rp_wall_us() / 1000;
    f->refused_version = 0;
    f->refused_sha[0] = 0;
    f->error[0] = 0;
    f->report_due = true;
    pthread_mutex_unlock(&f->lock);
    if (!ok) return;
    atomic_fetch_add(&f->applied_total, 1);
    atomic_store(&f->restart_pending, f->restart_candidate ? 1 : 0);
    copy_write(f, candidate);
}

uint64_t rp_fleet_applied_version(rp_fleet *f) {
    if (!f) return 0;
    pthread_mutex_lock(&f->lock);
    uint64_t v = f->applied.version;
    pthread_mutex_unlock(&f->lock);
    return v;
}

/* A version read from Redis: judged, checked against its hash, then the
 * reload; the reload logs its own outcome. */
static void consider(rp_fleet *f, rp_fleet_version *v) {
    char sha[RP_SHA256_HEX];
    rp_sha256_hex(v->yaml, v->len, sha);
    if (strcmp(sha, v->sha256) != 0) {
        refuse(f, v->version, v->sha256,
               "its text does not match its sha256 (written by hand, not by `rampart cluster "
               "push-config`?)");
        return;
    }
    int64_t t0 = rp_wall_us();
    rp_error err = {0};
    if (rp_daemon_reload_fleet(f->d, v, &err) != RP_OK) {
        char msg[300];
        rp_error_format(&err, msg, sizeof msg);
        refuse(f, v->version, v->sha256, msg);
        return;
    }
    char at[40];
    rp_format_time(v->at_ms * 1000, at, sizeof at);
    rp_log(f->d, "info", "fleet config v%" PRIu64 " applied in %.1f ms (sha256 %.12s, pushed by "
                         "%s at %s)", v->version, (double)(rp_wall_us() - t0) / 1000.0,
           v->sha256, v->by[0] ? v->by : "?", at);
}

/* One look at the hash. RP_EIO: the connection failed. */
static rp_status poll_once(rp_fleet *f, redisContext *ctx) {
    fleet_head h;
    char why[300];
    rp_status st = read_head(ctx, f->key, &h, why, sizeof why);
    if (st != RP_OK) {
        atomic_fetch_add(&f->poll_errors, 1);
        /* an error reply (an ACL refusal, MOVED; LOADING while a restarted
         * Redis reads its data, which passes): said once, retried at the
         * next poll -- never a tight loop -- and the version applied stays */
        bool passing = strncmp(why, "LOADING", 7) == 0 || strncmp(why, "BUSY", 4) == 0 ||
                       strncmp(why, "MASTERDOWN", 10) == 0 || strncmp(why, "TRYAGAIN", 8) == 0;
        if (!ctx->err && strcmp(why, f->poll_error) != 0)
            rp_log(f->d, passing ? "warn" : "error", "fleet config: reading %s: %s", f->key, why);
        snprintf(f->poll_error, sizeof f->poll_error, "%s", why);
        return ctx->err ? RP_EIO : RP_OK;
    }
    f->poll_error[0] = 0;
    pthread_mutex_lock(&f->lock);
    uint64_t applied = f->applied.version;
    char applied_sha[65];
    snprintf(applied_sha, sizeof applied_sha, "%s", f->applied.sha256);
    bool seen_refused = f->refused_version == h.version && strcmp(f->refused_sha, h.sha256) == 0;
    pthread_mutex_unlock(&f->lock);
    if (!h.found) {
        if (applied && !f->absent_logged)
            rp_log(f->d, "warn", "fleet config: %s holds no version (Redis lost its data?): "
                                 "v%" PRIu64 " stays applied", f->key, applied);
        f->absent_logged = true;
        return RP_OK;
    }
    f->absent_logged = false;
    if (seen_refused) return RP_OK;
    if (!h.well_formed) {
        char msg[200];
        snprintf(msg, sizeof msg, "version '%s' or its sha256 is not well formed", h.raw);
        refuse(f, h.version, h.sha256, msg);
        return RP_OK;
    }
    switch (rp_fleet_judge(applied, applied_sha, h.version, h.sha256, h.len)) {
    case RP_FLEET_CURRENT: return RP_OK;
    case RP_FLEET_OLDER:
        refuse(f, h.version, h.sha256, "a version going backwards (older than the one applied)");
        return RP_OK;
    case RP_FLEET_CONFLICT:
        refuse(f, h.version, h.sha256, "the applied version's number with another text");
        return RP_OK;
    case RP_FLEET_TOO_LARGE:
        snprintf(why, sizeof why, "its text is %" PRIu64 " bytes, more than %u", h.len,
                 RP_FLEET_CONFIG_MAX);
        refuse(f, h.version, h.sha256, why);
        return RP_OK;
    case RP_FLEET_APPLY: break;
    }
    rp_fleet_version v;
    st = read_version(ctx, f->key, &v, why, sizeof why);
    if (st == RP_EIO) return ctx->err ? RP_EIO : RP_OK;
    /* changed between the two reads: the next poll sees the newer one */
    if (st == RP_OK && v.version == h.version && strcmp(v.sha256, h.sha256) == 0) consider(f, &v);
    else if (st == RP_ERANGE) refuse(f, h.version, h.sha256, why);
    version_free(&v);
    return RP_OK;
}

static bool fleet_sleep(rp_fleet *f, int ms) {
    for (int slept = 0; slept < ms; slept += 20) {
        if (atomic_load(&f->stopping)) return false;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !atomic_load(&f->stopping);
}

static void *watch_main(void *arg) {
    rp_fleet *f = arg;
    redisContext *ctx = NULL;
    int backoff = 100;
    bool logged = false;
    int64_t beat = 0;
    while (!atomic_load(&f->stopping)) {
        if (!ctx) {
            rp_error err = {0};
            ctx = rp_cluster_connect(f->cluster, &err);
            if (!ctx) {
                if (!logged)
                    rp_log(f->d, "warn", "cluster config watcher: %s; retrying with backoff (the "
                                         "configuration applied stays)", err.message);
                logged = true;
                if (!fleet_sleep(f, backoff)) break;
                backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
                continue;
            }
            if (logged) rp_log(f->d, "info", "cluster config watcher: connected");
            logged = false;
            backoff = 100;
            f->report_due = true;
        }
        if (poll_once(f, ctx) != RP_OK) {
            rp_cluster_disconnect(f->cluster, &ctx);
            continue;
        }
        int64_t now = rp_wall_us() / 1000;
        if (f->report_due || now - beat >= RP_FLEET_BEAT_MS) {
            f->report_due = false;
            beat = now;
            report(f, ctx);
        }
        fleet_sleep(f, RP_FLEET_POLL_MS);
    }
    if (ctx) { /* not a lost connection: no reconnect counted */
        redisFree(ctx);
        atomic_fetch_sub(&f->cluster->connected, 1);
    }
    return NULL;
}

/* ------------------------------------------------------------ lifecycle */

/* One connection through the node's cluster keys, made the way every
 * cluster thread makes its own (sentinels, AUTH), with a cluster object
 * that only connects. */
static rp_status connect_once(rp_daemon *d, const rp_cluster_config *node, rp_cluster **tmp,
                              redisContext **ctx, rp_error *err) {
    rp_cluster_config cfg = *node;
    if (!d && !cfg.consumer[0]) snprintf(cfg.consumer, sizeof cfg.consumer, "rampart-cli");
    if (cfg.role == RP_CLUSTER_STANDALONE) cfg.role = RP_CLUSTER_EDGE;
    *tmp = NULL;
    *ctx = NULL;
    rp_status st = rp_cluster_new(d, &cfg, tmp, err);
    if (st != RP_OK) return st;
    *ctx = rp_cluster_connect(*tmp, err);
    if (*ctx) return RP_OK;
    rp_cluster_stop(*tmp);
    *tmp = NULL;
    return RP_EIO;
}

static void disconnect_once(rp_cluster *tmp, redisContext *ctx) {
    if (ctx) redisFree(ctx);
    rp_cluster_stop(tmp);
}

static const char *const role_names[] = {"standalone", "edge", "detector"};

rp_status rp_fleet_start(rp_daemon *d, const char *node_path, const char *store_path,
                         rp_config **config, rp_fleet **out, rp_error *err) {
    *out = NULL;
    const rp_cluster_config *cl = &(*config)->cluster;
    if (cl->role == RP_CLUSTER_STANDALONE) return RP_OK;
    rp_fleet *f = calloc(1, sizeof *f);
    if (!f) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    f->d = d;
    snprintf(f->key, sizeof f->key, "%s", cl->config_key);
    snprintf(f->role, sizeof f->role, "%s", role_names[cl->role]);
    snprintf(f->copy_path, sizeof f->copy_path, "%s.fleet", store_path);
    pthread_mutex_init(&f->reload_lock, NULL);
    pthread_mutex_init(&f->lock, NULL);

    rp_fleet_version copy, current = {0};
    char why[300] = "";
    bool have_copy = copy_read(f, &copy, why, sizeof why);
    if (!have_copy && strcmp(why, "none") != 0)
        rp_log(d, "warn", "fleet config copy %s ignored: %s", f->copy_path, why);
    rp_cluster *tmp;
    redisContext *ctx;
    rp_status cst = connect_once(d, cl, &tmp, &ctx, err);
    if (cst != RP_OK && cst != RP_EIO) { /* the cluster itself could not start */
        version_free(&copy);
        rp_fleet_free(f);
        return cst;
    }
    const char *source = NULL;
    rp_config *merged = NULL;
    if (ctx) {
        snprintf(f->node, sizeof f->node, "%s", tmp->consumer);
        fleet_head h;
        rp_status st = read_head(ctx, f->key, &h, why, sizeof why);
        if (st == RP_OK && h.found) {
            rp_fleet_verdict verdict = !h.well_formed ? RP_FLEET_CONFLICT
                                       : rp_fleet_judge(have_copy ? copy.version : 0,
                                                        copy.sha256, h.version, h.sha256, h.len);
            if (!h.well_formed) {
                snprintf(why, sizeof why, "version '%s' or its sha256 is not well formed", h.raw);
                refuse(f, h.version, h.sha256, why);
            } else if (verdict == RP_FLEET_OLDER || verdict == RP_FLEET_CONFLICT ||
                       verdict == RP_FLEET_TOO_LARGE) {
                refuse(f, h.version, h.sha256,
                       verdict == RP_FLEET_OLDER ? "a version going backwards (older than the one "
                                                   "kept here)"
                       : verdict == RP_FLEET_CONFLICT ? "the kept version's number with another text"
                                                      : "its text is larger than the bound");
            } else if (read_version(ctx, f->key, &current, why, sizeof why) == RP_OK) {
                char sha[RP_SHA256_HEX];
                rp_sha256_hex(current.yaml, current.len, sha);
                rp_error merr = {0};
                if (strcmp(sha, current.sha256) != 0)
                    refuse(f, current.version, current.sha256,
                           "its text does not match its sha256 (written by hand?)");
                else if (merge_text(*config, node_path, &current, &merged, &merr) != RP_OK) {
                    rp_error_format(&merr, why, sizeof why);
                    refuse(f, current.version, current.sha256, why);
                } else {
                    source = "redis";
                }
            }
        } else if (st == RP_OK) {
            rp_log(d, "info", "fleet config: %s holds no version yet: %s", f->key,
                   have_copy ? "starting with the one kept here" : "this node runs its own file");
        } else {
            rp_log(d, "error", "fleet config: reading %s: %s: %s", f->key, why,
                   have_copy ? "starting with the version kept here" : "this node runs its own file");
        }
        disconnect_once(tmp, ctx);
    } else {
        rp_log(d, "warn", "fleet config: redis unreachable at start (%s): %s", err->message,
               have_copy ? "starting with the version kept here" : "this node runs its own file");
        memset(err, 0, sizeof *err);
        snprintf(f->node, sizeof f->node, "%s", cl->consumer);
    }
    if (!merged && have_copy) {
        rp_error merr = {0};
        if (merge_text(*config, node_path, &copy, &merged, &merr) == RP_OK) {
            source = "copy";
        } else {
            rp_error_format(&merr, why, sizeof why);
            rp_log(d, "error", "fleet config v%" PRIu64 " kept in %s no longer applies (%s): this "
                               "node runs its own file", copy.version, f->copy_path, why);
        }
    }
    if (merged) {
        const rp_fleet_version *v = strcmp(source, "redis") == 0 ? &current : &copy;
        rp_config_free(*config);
        *config = merged;
        version_copy(&f->applied, v);
        f->applied_at_ms = rp_wall_us() / 1000;
        atomic_fetch_add(&f->applied_total, 1);
        if (v == &current && (!have_copy || copy.version != current.version ||
                              strcmp(copy.sha256, current.sha256) != 0))
            copy_write(f, v);
        rp_log(d, "info", "fleet config v%" PRIu64 " (sha256 %.12s, pushed by %s) applied at start, "
                          "from %s", v->version, v->sha256, v->by[0] ? v->by : "?",
               v == &current ? "redis" : f->copy_path);
    }
    version_free(&copy);
    version_free(&current);
    f->report_due = true;
    *out = f;
    return RP_OK;
}

rp_status rp_fleet_run(rp_fleet *f, rp_cluster *c, rp_error *err) {
    if (!f || !c) return RP_OK;
    f->cluster = c;
    if (!f->node[0]) snprintf(f->node, sizeof f->node, "%s", c->consumer);
    if (pthread_create(&f->thread, NULL, watch_main, f) != 0)
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "cannot start the cluster config watcher");
    f->started = true;
    return RP_OK;
}

void rp_fleet_stop(rp_fleet *f) {
    if (!f) return;
    atomic_store(&f->stopping, true);
    if (f->started) pthread_join(f->thread, NULL);
    f->started = false;
}

void rp_fleet_free(rp_fleet *f) {
    if (!f) return;
    rp_fleet_stop(f);
    version_free(&f->applied);
    pthread_mutex_destroy(&f->reload_lock);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

/* ------------------------------------------------------- what it shows */

json_t *rp_fleet_json(rp_fleet *f) {
    if (!f) return json_null();
    pthread_mutex_lock(&f->lock);
    json_t *o = json_pack("{s:s,s:I,s:s?,s:s?,s:I,s:I,s:b}", "key", f->key, "version",
                          (json_int_t)f->applied.version,
                          "sha256", f->applied.version ? f->applied.sha256 : NULL, "by",
                          f->applied.version ? f->applied.by : NULL, "pushed_at_ms",
                          (json_int_t)f->applied.at_ms, "applied_at_ms",
                          (json_int_t)f->applied_at_ms, "restart_pending",
                          atomic_load(&f->restart_pending) != 0);
    if (o && f->refused_version) {
        json_object_set_new(o, "refused_version", json_integer((json_int_t)f->refused_version));
        json_object_set_new(o, "refused_error", json_string(f->error));
    }
    pthread_mutex_unlock(&f->lock);
    return o ? o : json_null();
}

void rp_fleet_metrics(rp_fleet *f, FILE *out) {
    if (!f) return;
    pthread_mutex_lock(&f->lock);
    uint64_t version = f->applied.version;
    char sha[65];
    snprintf(sha, sizeof sha, "%s", f->applied.sha256);
    pthread_mutex_unlock(&f->lock);
    fprintf(out,
            "# HELP rampart_cluster_config_version The fleet configuration version applied "
            "(0: none, this node's own file).\n"
            "# TYPE rampart_cluster_config_version gauge\nrampart_cluster_config_version %" PRIu64
            "\n"
            "# HELP rampart_cluster_config_info The fleet configuration applied, by its sha256.\n"
            "# TYPE rampart_cluster_config_info gauge\nrampart_cluster_config_info{sha256=\"%s\"} 1\n"
            "# HELP rampart_cluster_config_applied_total Fleet configuration versions applied "
            "(start included).\n"
            "# TYPE rampart_cluster_config_applied_total counter\n"
            "rampart_cluster_config_applied_total %llu\n"
            "# HELP rampart_cluster_config_refused_total Fleet configuration versions refused "
            "(invalid, older, too large, not matching their hash); the applied one stays.\n"
            "# TYPE rampart_cluster_config_refused_total counter\n"
            "rampart_cluster_config_refused_total %llu\n"
            "# HELP rampart_cluster_config_poll_errors_total Reads of the fleet configuration "
            "that failed.\n"
            "# TYPE rampart_cluster_config_poll_errors_total counter\n"
            "rampart_cluster_config_poll_errors_total %llu\n"
            "# HELP rampart_cluster_config_restart_pending 1 when the version applied changes "
            "cluster keys read at start only (a restart applies them).\n"
            "# TYPE rampart_cluster_config_restart_pending gauge\n"
            "rampart_cluster_config_restart_pending %d\n",
            version, version ? sha : "", (unsigned long long)atomic_load(&f->applied_total),
            (unsigned long long)atomic_load(&f->refused_total),
            (unsigned long long)atomic_load(&f->poll_errors), atomic_load(&f->restart_pending));
}

/* ------------------------------------------------------------------ CLI */

/* KEYS[1] the hash; ARGV yaml, sha256, by, at, if-version ("" = any).
 * The new version is one more than the highest of the hash's and every
 * node's report, so it never goes below what a node runs. */
static const char push_script[] =
    "local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0') or 0\n"
    "if ARGV[5] ~= '' and tonumber(ARGV[5]) ~= cur then return {-1, cur} end\n"
    "if cur > 0 and redis.call('HGET', KEYS[1], 'sha256') == ARGV[2] then return {0, cur} end\n"
    "local top = cur\n"
    "local all = redis.call('HGETALL', KEYS[1])\n"
    "for i = 1, #all, 2 do\n"
    "  if string.sub(all[i], 1, 5) == 'node:' then\n"
    "    local ok, st = pcall(cjson.decode, all[i + 1])\n"
    "    if ok and type(st) == 'table' then\n"
    "      local v = tonumber(st.version)\n"
    "      if v and v > top then top = v end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('HSET', KEYS[1], 'yaml', ARGV[1], 'sha256', ARGV[2], 'by', ARGV[3], 'at', "
    "ARGV[4], 'version', tostring(top + 1))\n"
    "return {1, top + 1}\n";

rp_status rp_fleet_push(const rp_cluster_config *node, const char *yaml, size_t len,
                        const char *by, uint64_t if_version, rp_fleet_push_outcome *outcome,
                        uint64_t *version, rp_error *err) {
    if (len > RP_FLEET_CONFIG_MAX)
        return rp_error_set(err, RP_ERANGE, NULL, 0, 0,
                            "a fleet configuration is at most %u bytes", RP_FLEET_CONFIG_MAX);
    rp_cluster *tmp;
    redisContext *ctx;
    rp_status cst = connect_once(NULL, node, &tmp, &ctx, err);
    if (cst != RP_OK) return cst;
    char sha[RP_SHA256_HEX], at[24], expect[24] = "";
    rp_sha256_hex(yaml, len, sha);
    snprintf(at, sizeof at, "%lld", (long long)(rp_wall_us() / 1000));
    if (if_version) snprintf(expect, sizeof expect, "%" PRIu64, if_version);
    const char *argv[] = {"EVAL", push_script, "1", node->config_key, yaml, sha, by, at, expect};
    size_t argl[] = {4, strlen(push_script), 1, strlen(node->config_key), len, 64, strlen(by),
                     strlen(at), strlen(expect)};
    redisReply *r = redisCommandArgv(ctx, 9, argv, argl);
    rp_status st = RP_OK;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        st = rp_error_set(err, RP_EIO, NULL, 0, 0, "redis: %s",
                          !r ? ctx->errstr : r->type == REDIS_REPLY_ERROR ? r->str
                                                                          : "unexpected reply");
    } else {
        long long code = r->element[0]->integer;
        *outcome = code == 1 ? RP_FLEET_PUSHED : code == 0 ? RP_FLEET_UNCHANGED : RP_FLEET_RACED;
        *version = (uint64_t)r->element[1]->integer;
    }
    if (r) freeReplyObject(r);
    disconnect_once(tmp, ctx);
    return st;
}

rp_status rp_fleet_status(const rp_cluster_config *node, bool with_yaml, json_t **out,
                          rp_error *err) {
    *out = NULL;
    rp_cluster *tmp;
    redisContext *ctx;
    rp_status cst = connect_once(NULL, node, &tmp, &ctx, err);
    if (cst != RP_OK) return cst;
    redisReply *r = redisCommand(ctx, "HGETALL %s", node->config_key);
    rp_status st = RP_OK;
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        st = rp_error_set(err, RP_EIO, NULL, 0, 0, "redis: %s",
                          !r ? ctx->errstr : r->type == REDIS_REPLY_ERROR ? r->str
                                                                          : "unexpected reply");
    } else {
        json_t *o = json_pack("{s:s,s:o}", "key", node->config_key, "nodes", json_object());
        for (size_t i = 0; o && i + 1 < r->elements; i += 2) {
            const redisReply *k = r->element[i], *v = r->element[i + 1];
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
            if (strncmp(k->str, "node:", 5) == 0) {
                json_t *report_json = json_loadb(v->str, v->len, 0, NULL);
                char name[100];
                printable(name, sizeof name, k->str + 5, k->len - 5);
                json_object_set_new(json_object_get(o, "nodes"), name,
                                    report_json ? report_json : json_string("(unreadable)"));
            } else if (strcmp(k->str, "yaml") == 0) {
                json_object_set_new(o, "size", json_integer((json_int_t)v->len));
                if (with_yaml) json_object_set_new(o, "yaml", json_stringn(v->str, v->len));
            } else if (strcmp(k->str, "version") == 0 || strcmp(k->str, "at") == 0) {
                char num[24];
                printable(num, sizeof num, v->str, v->len);
                json_object_set_new(o, k->str, json_integer(strtoll(num, NULL, 10)));
            } else if (strcmp(k->str, "sha256") == 0 || strcmp(k->str, "by") == 0) {
                char text[100];
                printable(text, sizeof text, v->str, v->len);
                json_object_set_new(o, k->str, json_string(text));
            }
        }
        *out = o;
        if (!o) st = rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    }
    if (r) freeReplyObject(r);
    disconnect_once(tmp, ctx);
    return st;
}
