/*
 * store.c -- persistence in SQLite: incidents with their evidence,
 * decisions (active and history) and the learned route inventory.
 *
 * Why it is built this way:
 *
 *   - WAL journal, so the admin API can read while the daemon's store
 *     thread writes, and a commit is one append to the -wal file.
 *     synchronous=NORMAL: in WAL mode a committed transaction is in the
 *     -wal file (the OS page cache) when COMMIT returns, so it survives
 *     the process dying (kill -9, a crash); only a power loss or kernel
 *     panic can lose the last few commits, never corrupt the file.
 *     Build with -DRP_STORE_SYNC_FULL to fsync every commit instead
 *     (synchronous=FULL: power-safe, one fsync per commit -- batch!).
 *
 *   - Two connections, each behind its own mutex: the writer (used by
 *     one store thread, batched with rp_store_begin/commit) and a
 *     query_only reader for the admin API. The writer's mutex is
 *     recursive so that a batch holds it from begin to commit: a write
 *     from another thread waits for the batch instead of slipping into
 *     its transaction.
 *
 *   - Prepared statements are cached per connection, prepared on first
 *     use. Incident queries have seven optional filters; rather than one
 *     statement full of "?1 IS NULL OR ..." (which defeats the indexes)
 *     the SQL is built for the set of filters actually given and cached
 *     by that bit mask, so each shape is planned once and uses its index.
 *
 *   - Each incident is kept whole, as the JSON of docs/analyze.md
 *     (rp_incident_to_json), beside the columns the queries filter on.
 *     The API returns that JSON as stored, so a restart or a schema
 *     change of the C struct does not change what old incidents say.
 *
 *   - Schema versioned with PRAGMA user_version (2). A newer version is
 *     refused, as is a database holding someone else's tables; a file
 *     that is not SQLite at all fails on the first statement with
 *     SQLite's own "file is not a database". An older one is migrated in
 *     place, one step per version, in the transaction that opens it
 *     (version 2 added what a restart restores of the route inventory).
 *
 *   - The routes table is two things: the inventory as the dashboard
 *     shows it (class in force, profile, clients), and what the engine
 *     learned about each route (own class, counters, the redirect mark of
 *     form logins), which `rampart serve` restores at start so that it
 *     does not start blind.
 *
 * Decisions that simply expire are not written when they expire (the
 * decision table stops applying them by itself); rp_store_prune marks
 * them ended_by='expired' so the active index stays small, and queries
 * report them as ended in the meantime.
 */
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define RP_STORE_SCHEMA 3
#define RP_STORE_BUSY_MS 5000
#define RP_STORE_PATH_MAX 256
#define RP_STORE_PAGE_MAX 1000
#define RP_STORE_PAGE_DEFAULT 100
#define RP_STORE_PRUNE_CHUNK 5000 /* rows per prune transaction: short write locks */

#ifdef RP_STORE_SYNC_FULL
#define RP_STORE_SYNCHRONOUS "FULL"
#else
#define RP_STORE_SYNCHRONOUS "NORMAL"
#endif

/* ----------------------------------------------------------------- schema */

static const char schema_sql[] =
    "CREATE TABLE incidents ("
    "  id INTEGER PRIMARY KEY,"
    "  key TEXT NOT NULL,"
    "  level TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  score REAL NOT NULL,"
    "  threats TEXT NOT NULL,"   /* comma list of threat names */
    "  detectors TEXT NOT NULL," /* comma list of detectors with findings */
    "  route TEXT NOT NULL,"
    "  first_seen INTEGER NOT NULL," /* microseconds since the epoch */
    "  last_seen INTEGER NOT NULL,"
    "  decided_at INTEGER NOT NULL,"
    "  expires INTEGER,"             /* NULL for monitor */
    "  requests INTEGER NOT NULL,"
    "  json TEXT NOT NULL,"
    /* version 3, fleet mode: who decided, its id there, who saw the requests */
    "  node TEXT,"             /* NULL: a standalone node's own */
    "  node_incident INTEGER,"
    "  hosts TEXT NOT NULL DEFAULT '');" /* comma list */
    "CREATE UNIQUE INDEX incidents_node ON incidents(node, node_incident);"
    "CREATE INDEX incidents_decided_at ON incidents(decided_at);"
    "CREATE INDEX incidents_key ON incidents(key, decided_at);"
    "CREATE INDEX incidents_action ON incidents(action, decided_at);"
    "CREATE TABLE decisions ("
    "  id INTEGER PRIMARY KEY,"
    "  key TEXT NOT NULL,"
    "  level TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  start INTEGER NOT NULL,"
    "  expires INTEGER NOT NULL,"
    "  incident_id INTEGER," /* NULL for manual decisions */
    "  score REAL NOT NULL DEFAULT 0,"
    "  source TEXT NOT NULL," /* engine | manual */
    "  reason TEXT,"
    "  ended_at INTEGER," /* NULL while in force (or expired, not yet pruned) */
    "  ended_by TEXT);"   /* replaced | expired | the remover's name */
    "CREATE INDEX decisions_active ON decisions(key) WHERE ended_at IS NULL;"
    "CREATE INDEX decisions_key ON decisions(key, start);"
    "CREATE INDEX decisions_start ON decisions(start);"
    "CREATE TABLE routes ("
    "  method TEXT NOT NULL," /* '' = every method */
    "  template TEXT NOT NULL,"
    "  class TEXT NOT NULL,"
    "  declared INTEGER NOT NULL,"
    "  requests INTEGER NOT NULL,"
    "  errors INTEGER NOT NULL,"
    "  flagged INTEGER NOT NULL,"
    "  clients INTEGER NOT NULL,"
    /* version 2: what a restart restores (rp_route_knowledge) */
    "  not_found INTEGER NOT NULL DEFAULT 0,"
    "  successes INTEGER NOT NULL DEFAULT 0,"
    "  own_class TEXT,"          /* declared or learned, before rules; NULL = class */
    "  common_answer INTEGER NOT NULL DEFAULT 0," /* the redirect mark of a form login */
    "  common_answer_votes INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (method, template)) WITHOUT ROWID;"
    "PRAGMA user_version = 3;";

/* One step per version, from the version it starts at. */
static const char *const migrate_sql[RP_STORE_SCHEMA] = {
    [1] = "ALTER TABLE routes ADD COLUMN not_found INTEGER NOT NULL DEFAULT 0;"
          "ALTER TABLE routes ADD COLUMN successes INTEGER NOT NULL DEFAULT 0;"
          "ALTER TABLE routes ADD COLUMN own_class TEXT;"
          "ALTER TABLE routes ADD COLUMN common_answer INTEGER NOT NULL DEFAULT 0;"
          "ALTER TABLE routes ADD COLUMN common_answer_votes INTEGER NOT NULL DEFAULT 0;"
          "PRAGMA user_version = 2;",
    [2] = "ALTER TABLE incidents ADD COLUMN node TEXT;"
          "ALTER TABLE incidents ADD COLUMN node_incident INTEGER;"
          "ALTER TABLE incidents ADD COLUMN hosts TEXT NOT NULL DEFAULT '';"
          "CREATE UNIQUE INDEX incidents_node ON incidents(node, node_incident);"
          "PRAGMA user_version = 3;",
};

/* ------------------------------------------------------ cached statements */

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PUT_INCIDENT,
    ST_END_ACTIVE,
    ST_PUT_DECISION,
    ST_ACTIVE,
    ST_NOTES,
    ST_ROUTES_CLEAR,
    ST_PUT_ROUTE,
    ST_PUT_KNOWLEDGE,
    ST_KNOWLEDGE,
    ST_PRUNE_INCIDENTS,
    ST_PRUNE_DECISIONS,
    ST_MARK_EXPIRED,
    ST_MAX_INCIDENT,
    ST_REMOTE_FIND,
    ST_REMOTE_NEXT_ID,
    ST_INCIDENT_REF,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PUT_INCIDENT] =
        "INSERT INTO incidents(id, key, level, action, score, threats, detectors, route,"
        " first_seen, last_seen, decided_at, expires, requests, json, node, node_incident, hosts)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,"
        " COALESCE(?17, ''))"
        " ON CONFLICT(id) DO UPDATE SET key = excluded.key, level = excluded.level,"
        " action = excluded.action, score = excluded.score, threats = excluded.threats,"
        " detectors = excluded.detectors, route = excluded.route,"
        " first_seen = excluded.first_seen, last_seen = excluded.last_seen,"
        " decided_at = excluded.decided_at, expires = excluded.expires,"
        " requests = excluded.requests, json = excluded.json, node = excluded.node,"
        " node_incident = excluded.node_incident, hosts = excluded.hosts",
    [ST_END_ACTIVE] = "UPDATE decisions SET ended_at = ?2, ended_by = ?3"
                      " WHERE key = ?1 AND ended_at IS NULL AND expires > ?2",
    [ST_PUT_DECISION] =
        "INSERT INTO decisions(key, level, action, start, expires, incident_id, score, source,"
        " reason) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    [ST_ACTIVE] = "SELECT key, action, start, expires, incident_id, score FROM decisions"
                  " WHERE ended_at IS NULL AND expires > ?1 ORDER BY start, id",
    /* The partial index decisions_active holds exactly the rows asked. */
    [ST_NOTES] = "SELECT key, source, reason FROM decisions"
                 " WHERE ended_at IS NULL AND expires > ?1 AND (?2 IS NULL OR key = ?2)"
                 " ORDER BY start, id",
    [ST_ROUTES_CLEAR] = "DELETE FROM routes",
    [ST_PUT_ROUTE] = "INSERT OR REPLACE INTO routes(method, template, class, declared, requests,"
                     " errors, flagged, clients) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    /* After the inventory rows of the same snapshot: fills in their
     * knowledge columns (a route that has none yet gets a row); the class
     * in force and the client estimate stay the inventory row's. */
    [ST_PUT_KNOWLEDGE] =
        "INSERT INTO routes(method, template, class, declared, requests, errors, flagged,"
        " clients, not_found, successes, own_class, common_answer, common_answer_votes)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9, ?3, ?10, ?11)"
        " ON CONFLICT(method, template) DO UPDATE SET declared = excluded.declared,"
        " requests = excluded.requests, errors = excluded.errors, flagged = excluded.flagged,"
        " not_found = excluded.not_found,"
        " successes = excluded.successes, own_class = excluded.own_class,"
        " common_answer = excluded.common_answer,"
        " common_answer_votes = excluded.common_answer_votes",
    /* Paths only ("(other)" is the cap, not a route); the routes a
     * restart must not lose come first, in case the cap is lower now. */
    [ST_KNOWLEDGE] =
        "SELECT method, template, COALESCE(own_class, class), declared, requests, errors,"
        " not_found, successes, flagged, common_answer, common_answer_votes FROM routes"
        " WHERE substr(template, 1, 1) = '/'"
        " ORDER BY common_answer_votes > 0 DESC, declared DESC, requests DESC, template",
    [ST_PRUNE_INCIDENTS] = "DELETE FROM incidents WHERE id IN (SELECT id FROM incidents"
                           " WHERE decided_at < ?1 LIMIT ?2)",
    [ST_PRUNE_DECISIONS] = "DELETE FROM decisions WHERE id IN (SELECT id FROM decisions"
                           " WHERE ended_at IS NOT NULL AND ended_at < ?1 LIMIT ?2)",
    [ST_MARK_EXPIRED] = "UPDATE decisions SET ended_at = expires, ended_by = 'expired'"
                        " WHERE ended_at IS NULL AND expires <= ?1",
    /* this node's engine's ids only: mirrored ones are far above */
    [ST_MAX_INCIDENT] = "SELECT COALESCE(MAX(id), 0) FROM incidents WHERE id < ?1",
    [ST_REMOTE_FIND] = "SELECT id, json FROM incidents WHERE node = ?1 AND node_incident = ?2",
    [ST_REMOTE_NEXT_ID] = "SELECT COALESCE(MAX(id), ?1 - 1) + 1 FROM incidents WHERE id >= ?1",
    [ST_INCIDENT_REF] = "SELECT id, node FROM incidents WHERE key = ?1 AND node_incident = ?2"
                        " ORDER BY decided_at DESC, id DESC LIMIT 1",
};

/* Filters of an incident query, one bit each; the SQL for a mask is
 * built once per connection. */
enum {
    QF_SINCE = 1 << 0,
    QF_UNTIL = 1 << 1,
    QF_DETECTOR = 1 << 2,
    QF_ACTION = 1 << 3,
    QF_ROUTE = 1 << 4,
    QF_KEY = 1 << 5,
    QF_THREAT = 1 << 6,
    QF_ASC = 1 << 7, /* order only: not part of the count's mask */
    QF_SHAPES = 1 << 8
};

/* Decision queries: by key or all, active only or all, select or count. */
#define DQ_KEY 1
#define DQ_ACTIVE 2
#define DQ_SHAPES 4

typedef struct rp_conn {
    sqlite3 *db;
    pthread_mutex_t mu;
    sqlite3_stmt *stmt[ST_COUNT];
    sqlite3_stmt *inc_select[QF_SHAPES];
    sqlite3_stmt *inc_count[QF_ASC];
    sqlite3_stmt *actor_select[QF_SHAPES]; /* by_key: one row per key */
    sqlite3_stmt *actor_count[QF_ASC];
    sqlite3_stmt *dec_select[DQ_SHAPES];
    sqlite3_stmt *dec_count[DQ_SHAPES];
} rp_conn;

struct rp_store {
    rp_conn w; /* writer: recursive mutex, held across a batch */
    rp_conn r; /* reader: query_only */
    int batch;  /* nesting depth of rp_store_begin on the writer */
    char path[RP_STORE_PATH_MAX];
};

/* ------------------------------------------------------------- helpers */

static rp_status map_rc(int rc) {
    switch (rc & 0xff) {
    case SQLITE_NOMEM: return RP_ENOMEM;
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT: return RP_EPARSE;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISUSE:
    case SQLITE_RANGE: return RP_EINVAL;
    default: return RP_EIO;
    }
}

static rp_status db_error(rp_error *err, sqlite3 *db, int rc, const char *what) {
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return rp_error_set(err, map_rc(rc), NULL, 0, 0, "store: %s: %s", what, msg);
}

static sqlite3_stmt *prepare(rp_conn *c, sqlite3_stmt **slot, const char *sql) {
    if (!*slot &&
        sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL) != SQLITE_OK) {
        *slot = NULL;
        return NULL;
    }
    return *slot;
}

static sqlite3_stmt *stmt(rp_conn *c, int id) { return prepare(c, &c->stmt[id], stmt_sql[id]); }

/* Step a statement that returns no rows, then make it ready for reuse. */
static int run(sqlite3_stmt *st) {
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static void finish(sqlite3_stmt *st) {
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static void bind_text(sqlite3_stmt *st, int i, const char *text) {
    if (text) sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT);
    else sqlite3_bind_null(st, i);
}

/* Integers of the API are int64 microseconds or uint64 counters; SQLite
 * stores int64, and no counter comes near 2^63. */
static void bind_u64(sqlite3_stmt *st, int i, uint64_t v) {
    sqlite3_bind_int64(st, i, v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v);
}

static int exec(sqlite3 *db, const char *sql) { return sqlite3_exec(db, sql, NULL, NULL, NULL); }

/* ---------------------------------------------------------- transactions */

/* A write outside a batch is its own transaction; inside one it joins
 * the batch. tx_begin locks the writer; tx_end always unlocks it. */
static rp_status tx_begin(rp_store *s, rp_error *err) {
    pthread_mutex_lock(&s->w.mu);
    if (s->batch) return RP_OK;
    sqlite3_stmt *st = stmt(&s->w, ST_BEGIN);
    int rc = st ? run(st) : sqlite3_errcode(s->w.db);
    if (rc != SQLITE_DONE) {
        rp_status r = db_error(err, s->w.db, rc, "begin");
        pthread_mutex_unlock(&s->w.mu);
        return r;
    }
    return RP_OK;
}

static rp_status tx_end(rp_store *s, rp_status status, rp_error *err) {
    if (!s->batch) {
        sqlite3_stmt *commit = stmt(&s->w, status == RP_OK ? ST_COMMIT : ST_ROLLBACK);
        int rc = commit ? run(commit) : sqlite3_errcode(s->w.db);
        if (rc != SQLITE_DONE && status == RP_OK) {
            status = db_error(err, s->w.db, rc, "commit");
            if (!sqlite3_get_autocommit(s->w.db)) exec(s->w.db, "ROLLBACK");
        }
    }
    pthread_mutex_unlock(&s->w.mu);
    return status;
}

rp_status rp_store_begin(rp_store *s, rp_error *err) {
    pthread_mutex_lock(&s->w.mu);
    if (s->batch == 0) {
        sqlite3_stmt *st = stmt(&s->w, ST_BEGIN);
        int rc = st ? run(st) : sqlite3_errcode(s->w.db);
        if (rc != SQLITE_DONE) {
            rp_status r = db_error(err, s->w.db, rc, "begin");
            pthread_mutex_unlock(&s->w.mu);
            return r;
        }
    }
    s->batch++; /* the mutex stays held until the matching commit */
    return RP_OK;
}

rp_status rp_store_commit(rp_store *s, rp_error *err) {
    if (s->batch <= 0) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "store: commit without begin");
    rp_status status = RP_OK;
    if (--s->batch == 0) {
        sqlite3_stmt *st = stmt(&s->w, ST_COMMIT);
        int rc = st ? run(st) : sqlite3_errcode(s->w.db);
        if (rc != SQLITE_DONE) {
            status = db_error(err, s->w.db, rc, "commit");
            if (!sqlite3_get_autocommit(s->w.db)) exec(s->w.db, "ROLLBACK");
        }
    }
    pthread_mutex_unlock(&s->w.mu);
    return status;
}

/* ------------------------------------------------------------- open/close */

static void conn_close(rp_conn *c) {
    if (!c->db) return;
    for (int i = 0; i < ST_COUNT; i++) sqlite3_finalize(c->stmt[i]);
    for (int i = 0; i < QF_SHAPES; i++) sqlite3_finalize(c->inc_select[i]);
    for (int i = 0; i < QF_ASC; i++) sqlite3_finalize(c->inc_count[i]);
    for (int i = 0; i < QF_SHAPES; i++) sqlite3_finalize(c->actor_select[i]);
    for (int i = 0; i < QF_ASC; i++) sqlite3_finalize(c->actor_count[i]);
    for (int i = 0; i < DQ_SHAPES; i++) {
        sqlite3_finalize(c->dec_select[i]);
        sqlite3_finalize(c->dec_count[i]);
    }
    sqlite3_close_v2(c->db);
    c->db = NULL;
}

void rp_store_close(rp_store *s) {
    if (!s) return;
    /* The reader first: the writer's close is then the last one, which
     * checkpoints the WAL into the database and removes it. */
    conn_close(&s->r);
    conn_close(&s->w);
    pthread_mutex_destroy(&s->r.mu);
    pthread_mutex_destroy(&s->w.mu);
    free(s);
}

static rp_status open_error(rp_store *s, rp_error *err, sqlite3 *db, int rc, const char *what) {
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    return rp_error_set(err, map_rc(rc), s->path, 0, 0, "cannot open store: %s: %s", what, msg);
}

static rp_status conn_open(rp_store *s, rp_conn *c, int flags, rp_error *err) {
    int rc = sqlite3_open_v2(s->path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rp_status st = open_error(s, err, c->db, rc, "open");
        sqlite3_close_v2(c->db);
        c->db = NULL;
        return st;
    }
    sqlite3_busy_timeout(c->db, RP_STORE_BUSY_MS);
    sqlite3_extended_result_codes(c->db, 0);
    return RP_OK;
}

/* One-row integer pragma (or query). */
static int query_int(sqlite3 *db, const char *sql, int64_t *out) {
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Settings and schema on the writer: WAL, synchronous, foreign keys,
 * then create, accept or refuse the schema. */
static rp_status writer_setup(rp_store *s, rp_error *err) {
    sqlite3 *db = s->w.db;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const char *mode = (const char *)sqlite3_column_text(st, 0);
            rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
        }
        sqlite3_finalize(st);
    }
    if (rc == SQLITE_CANTOPEN)
        return rp_error_set(err, RP_EIO, s->path, 0, 0,
                            "cannot open store: the file system does not support WAL mode");
    if (rc != SQLITE_OK) return open_error(s, err, db, rc, "journal_mode");
    rc = exec(db, "PRAGMA synchronous = " RP_STORE_SYNCHRONOUS "; PRAGMA foreign_keys = ON");
    if (rc != SQLITE_OK) return open_error(s, err, db, rc, "pragmas");

    int64_t version = 0, objects = 0;
    rc = query_int(db, "PRAGMA user_version", &version);
    if (rc == SQLITE_OK) rc = query_int(db, "SELECT count(*) FROM sqlite_master", &objects);
    if (rc != SQLITE_OK) return open_error(s, err, db, rc, "schema");
    if (version > RP_STORE_SCHEMA)
        return rp_error_set(err, RP_EINVAL, s->path, 0, 0,
                            "cannot open store: schema version %lld is newer than this rampart "
                            "understands (%d); upgrade rampart or use another file",
                            (long long)version, RP_STORE_SCHEMA);
    if (version == RP_STORE_SCHEMA) return RP_OK;
    if (version < 1 && objects > 0)
        return rp_error_set(err, RP_EINVAL, s->path, 0, 0,
                            "cannot open store: the database has tables but is not a rampart "
                            "store (user_version 0)");
    /* Version 0 and empty: a new store. An older version: each step from
     * it on, all in one transaction (a failed migration leaves the file
     * as it was). */
    rc = exec(db, "BEGIN IMMEDIATE");
    if (version == 0) {
        if (rc == SQLITE_OK) rc = exec(db, schema_sql);
    } else {
        for (int64_t v = version; v < RP_STORE_SCHEMA && rc == SQLITE_OK; v++)
            rc = exec(db, migrate_sql[v]);
    }
    if (rc == SQLITE_OK) rc = exec(db, "COMMIT");
    if (rc != SQLITE_OK) {
        rp_status r = open_error(s, err, db, rc, version == 0 ? "create schema" : "migrate schema");
        if (!sqlite3_get_autocommit(db)) exec(db, "ROLLBACK");
        return r;
    }
    return RP_OK;
}

rp_status rp_store_open(const char *path, rp_store **out, rp_error *err) {
    *out = NULL;
    if (!path || !path[0]) return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "store: no path");
    if (strlen(path) >= RP_STORE_PATH_MAX)
        return rp_error_set(err, RP_EINVAL, NULL, 0, 0, "store: path too long");
    rp_store *s = calloc(1, sizeof *s);
    if (!s) return rp_error_set(err, RP_ENOMEM, path, 0, 0, "out of memory");
    memcpy(s->path, path, strlen(path) + 1);
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&s->w.mu, &attr);
    pthread_mutexattr_destroy(&attr);
    pthread_mutex_init(&s->r.mu, NULL);

    rp_status st = conn_open(s, &s->w, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, err);
    if (st == RP_OK) st = writer_setup(s, err);
    if (st == RP_OK) st = conn_open(s, &s->r, SQLITE_OPEN_READWRITE, err);
    if (st == RP_OK && exec(s->r.db, "PRAGMA query_only = ON") != SQLITE_OK)
        st = open_error(s, err, s->r.db, sqlite3_errcode(s->r.db), "reader");
    if (st != RP_OK) {
        rp_store_close(s);
        return st;
    }
    *out = s;
    return RP_OK;
}

rp_status rp_store_quick_check(rp_store *s, rp_error *err) {
    pthread_mutex_lock(&s->w.mu);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->w.db, "PRAGMA quick_check(5)", -1, &st, NULL);
    char report[400] = "";
    size_t used = 0;
    int problems = 0;
    if (rc == SQLITE_OK) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *line = (const char *)sqlite3_column_text(st, 0);
            if (!line || strcmp(line, "ok") == 0) continue;
            problems++;
            int n = snprintf(report + used, sizeof report - used, "%s%s", used ? "; " : "", line);
            if (n > 0) used = used + (size_t)n < sizeof report ? used + (size_t)n : sizeof report - 1;
        }
        sqlite3_finalize(st);
    }
    rp_status status = RP_OK;
    if (problems)
        status = rp_error_set(err, RP_EPARSE, s->path, 0, 0, "store is damaged (quick_check): %s",
                              report);
    else if (rc != SQLITE_DONE)
        status = rp_error_set(err, map_rc(rc) == RP_EPARSE ? RP_EPARSE : RP_EIO, s->path, 0, 0,
                              "store quick_check could not run: %s", sqlite3_errmsg(s->w.db));
    pthread_mutex_unlock(&s->w.mu);
    return status;
}

/* -------------------------------------------------------------- incidents */

/* "a,b,c" of names, for the filterable columns. */
static void join_threats(uint32_t threats, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = 0;
    for (unsigned b = 0; b < RP_THREAT_COUNT; b++) {
        if (!(threats & (1u << b))) continue;
        int n = snprintf(buf + o, size - o, "%s%s", o ? "," : "", rp_threat_name(b));
        if (n < 0 || (size_t)n >= size - o) break;
        o += (size_t)n;
    }
}

static void join_detectors(const rp_incident *inc, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = 0;
    for (unsigned i = 0; i < inc->n_findings && i < RP_MAX_FINDINGS; i++) {
        const char *name = inc->findings[i].detector;
        if (!name) continue;
        bool seen = false;
        for (unsigned k = 0; k < i; k++)
            if (inc->findings[k].detector && strcmp(inc->findings[k].detector, name) == 0)
                seen = true;
        if (seen) continue;
        int n = snprintf(buf + o, size - o, "%s%s", o ? "," : "", name);
        if (n < 0 || (size_t)n >= size - o) break;
        o += (size_t)n;
    }
}

/* A fixed char array from the engine, read only up to its size. */
static void bind_field(sqlite3_stmt *st, int i, const char *field, size_t size) {
    sqlite3_bind_text(st, i, field, (int)strnlen(field, size), SQLITE_TRANSIENT);
}

/* "a,b" of the fleet's host names, for the hosts column. */
static void join_hosts(const rp_incident_fleet *fleet, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = 0;
    for (unsigned i = 0; fleet && i < fleet->n_hosts && i < RP_FLEET_MAX_HOSTS; i++) {
        if (!fleet->hosts[i]) continue;
        int n = snprintf(buf + o, size - o, "%s%s", o ? "," : "", fleet->hosts[i]);
        if (n < 0 || (size_t)n >= size - o) break;
        o += (size_t)n;
    }
}

/* The row of one incident, from the engine's struct (own) or from a
 * published JSON (remote): the indexed columns, the JSON, and who. */
typedef struct incident_row {
    uint64_t id;
    const char *key, *level, *action, *threats, *detectors, *route, *json;
    size_t route_len;
    double score;
    int64_t first_seen, last_seen, decided_at, expires; /* expires 0 = NULL */
    uint64_t requests;
    const char *node;       /* NULL: standalone */
    uint64_t node_incident;
    const char *hosts;
} incident_row;

static rp_status put_row(rp_store *s, const incident_row *r, rp_error *err) {
    rp_status status = tx_begin(s, err);
    if (status != RP_OK) return status;
    sqlite3_stmt *st = stmt(&s->w, ST_PUT_INCIDENT);
    int rc = SQLITE_ERROR;
    if (st) {
        bind_u64(st, 1, r->id);
        bind_text(st, 2, r->key);
        bind_text(st, 3, r->level);
        bind_text(st, 4, r->action);
        sqlite3_bind_double(st, 5, r->score);
        bind_text(st, 6, r->threats);
        bind_text(st, 7, r->detectors);
        sqlite3_bind_text(st, 8, r->route, (int)r->route_len, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 9, r->first_seen);
        sqlite3_bind_int64(st, 10, r->last_seen);
        sqlite3_bind_int64(st, 11, r->decided_at);
        if (r->expires) sqlite3_bind_int64(st, 12, r->expires);
        else sqlite3_bind_null(st, 12);
        bind_u64(st, 13, r->requests);
        sqlite3_bind_text(st, 14, r->json, -1, SQLITE_STATIC);
        bind_text(st, 15, r->node);
        if (r->node) bind_u64(st, 16, r->node_incident);
        else sqlite3_bind_null(st, 16);
        bind_text(st, 17, r->hosts);
        rc = run(st);
    }
    if (rc != SQLITE_DONE)
        status = db_error(err, s->w.db, st ? rc : sqlite3_errcode(s->w.db), "put incident");
    return tx_end(s, status, err);
}

rp_status rp_store_put_incident(rp_store *s, const rp_incident *inc, rp_error *err) {
    return rp_store_put_incident_fleet(s, inc, NULL, err);
}

rp_status rp_store_put_incident_fleet(rp_store *s, const rp_incident *inc,
                                      const rp_incident_fleet *fleet, rp_error *err) {
    char *json = rp_incident_to_json_fleet(inc, fleet);
    if (!json) return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "store: incident %llu as JSON",
                                   (unsigned long long)inc->id);
    char key[128], threats[256], detectors[512], hosts[RP_FLEET_MAX_HOSTS * 66];
    rp_key_format(&inc->key, key, sizeof key);
    join_threats(inc->threats, threats, sizeof threats);
    join_detectors(inc, detectors, sizeof detectors);
    join_hosts(fleet, hosts, sizeof hosts);
    incident_row r = {.id = inc->id,
                      .key = key,
                      .level = rp_level_name((rp_key_level)inc->key.level),
                      .action = rp_action_name(inc->action),
                      .threats = threats,
                      .detectors = detectors,
                      .route = inc->route,
                      .route_len = strnlen(inc->route, sizeof inc->route),
                      .json = json,
                      .score = inc->score,
                      .first_seen = inc->first_seen_us,
                      .last_seen = inc->last_seen_us,
                      .decided_at = inc->decided_us,
                      .expires = inc->expires_us,
                      .requests = inc->requests,
                      .node = fleet && fleet->node ? fleet->node : NULL,
                      .node_incident = inc->id,
                      .hosts = hosts};
    rp_status status = put_row(s, &r, err);
    free(json);
    return status;
}

/* ------------------------------------------------------- fleet incidents */

/* "2026-12-02T00:00:40.123Z" (rp_format_time) back to microseconds. */
static bool parse_time(const json_t *v, int64_t *out) {
    const char *t = json_string_value(v);
    if (!t || strlen(t) != 24) return false;
    struct tm tm = {0};
    int ms = 0;
    char z = 0;
    if (sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &z) != 8 || z != 'Z')
        return false;
    if (tm.tm_year < 1970 || tm.tm_year > 9999 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
        tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60 ||
        ms < 0)
        return false;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t secs = timegm(&tm);
    if (secs == (time_t)-1) return false;
    *out = (int64_t)secs * 1000000 + (int64_t)ms * 1000;
    return true;
}

/* "a,b" of an array of short strings (names), skipping what is not one. */
static bool join_strings(const json_t *a, const char *field, char *buf, size_t size) {
    size_t o = 0;
    buf[0] = 0;
    if (!json_is_array(a)) return false;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) {
        const char *t = json_string_value(field ? json_object_get(v, field) : v);
        if (!t || !t[0] || strlen(t) > 64 || strchr(t, ',')) continue;
        char probe[80];
        snprintf(probe, sizeof probe, ",%s,", t);
        char have[600];
        snprintf(have, sizeof have, ",%s,", buf);
        if (strstr(have, probe)) continue; /* once each */
        int n = snprintf(buf + o, size - o, "%s%s", o ? "," : "", t);
        if (n < 0 || (size_t)n >= size - o) {
            buf[o] = 0;
            break;
        }
        o += (size_t)n;
    }
    return true;
}

static rp_status refuse_remote(rp_error *err, const char *why) {
    return rp_error_set(err, RP_EPARSE, NULL, 0, 0, "fleet incident refused: %s", why);
}

rp_status rp_store_put_remote_incident(rp_store *s, const char *node, const char *json,
                                       size_t len, bool *changed, rp_error *err) {
    if (changed) *changed = false;
    if (!node || !node[0] || strlen(node) > 64) return refuse_remote(err, "no node");
    if (!json || len == 0 || len > RP_STORE_REMOTE_JSON_MAX)
        return refuse_remote(err, "empty or larger than 64 KiB");
    json_error_t jerr;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return refuse_remote(err, "not a JSON object");
    }
    rp_status status = RP_OK;
    const char *why = NULL;
    const char *jnode = json_string_value(json_object_get(o, "node"));
    json_t *jid = json_object_get(o, "node_incident_id");
    const char *key = json_string_value(json_object_get(o, "key"));
    const char *action = json_string_value(json_object_get(o, "action"));
    const char *route = json_string_value(json_object_get(o, "route"));
    json_t *score = json_object_get(o, "score"), *requests = json_object_get(o, "requests");
    json_t *expires = json_object_get(o, "expires");
    rp_key k;
    rp_action act;
    incident_row r = {0};
    char threats[256], detectors[512], hosts[RP_FLEET_MAX_HOSTS * 66];
    if (!jnode || strcmp(jnode, node) != 0) why = "its node is not the publisher's";
    else if (!json_is_integer(jid) || json_integer_value(jid) <= 0 ||
             json_integer_value(jid) >= RP_STORE_FLEET_ID_BASE)
        why = "node_incident_id is not a positive integer";
    else if (!key || rp_key_parse(key, strlen(key), &k) != RP_OK) why = "bad key";
    else if (!action || rp_action_parse(action, strlen(action), &act) != RP_OK) why = "bad action";
    else if (!route || strlen(route) > 1024) why = "bad route";
    else if (!json_is_number(score) || !json_is_integer(requests) ||
             json_integer_value(requests) < 0)
        why = "bad score or requests";
    else if (!parse_time(json_object_get(o, "first_seen"), &r.first_seen) ||
             !parse_time(json_object_get(o, "last_seen"), &r.last_seen) ||
             !parse_time(json_object_get(o, "decided_at"), &r.decided_at) ||
             (!json_is_null(expires) && !parse_time(expires, &r.expires)))
        why = "bad times";
    else if (!join_strings(json_object_get(o, "threats"), NULL, threats, sizeof threats) ||
             !join_strings(json_object_get(o, "findings"), "detector", detectors,
                           sizeof detectors) ||
             !join_strings(json_object_get(o, "hosts"), NULL, hosts, sizeof hosts))
        why = "bad threats, findings or hosts";
    if (why) {
        json_decref(o);
        return refuse_remote(err, why);
    }
    r.key = key;
    r.level = rp_level_name((rp_key_level)k.level);
    r.action = rp_action_name(act);
    r.score = json_number_value(score);
    r.requests = (uint64_t)json_integer_value(requests);
    r.route = route;
    r.route_len = strlen(route);
    r.threats = threats;
    r.detectors = detectors;
    r.hosts = hosts;
    r.node = node;
    r.node_incident = (uint64_t)json_integer_value(jid);

    /* Found or new, in one batch (the writer's lock held throughout) so
     * that two writers cannot take the same new id. */
    status = rp_store_begin(s, err);
    if (status != RP_OK) {
        json_decref(o);
        return status;
    }
    sqlite3_stmt *find = stmt(&s->w, ST_REMOTE_FIND), *next = stmt(&s->w, ST_REMOTE_NEXT_ID);
    int rc = find && next ? SQLITE_OK : sqlite3_errcode(s->w.db);
    char *text = NULL;
    bool same = false;
    if (rc == SQLITE_OK) {
        bind_text(find, 1, node);
        bind_u64(find, 2, r.node_incident);
        if (sqlite3_step(find) == SQLITE_ROW) {
            r.id = (uint64_t)sqlite3_column_int64(find, 0);
            json_object_set_new(o, "id", json_integer((json_int_t)r.id));
            text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
            const char *old = (const char *)sqlite3_column_text(find, 1);
            same = text && old && strcmp(old, text) == 0;
        }
        finish(find);
    }
    if (rc == SQLITE_OK && !r.id) {
        sqlite3_bind_int64(next, 1, RP_STORE_FLEET_ID_BASE);
        rc = sqlite3_step(next) == SQLITE_ROW ? SQLITE_OK : sqlite3_errcode(s->w.db);
        if (rc == SQLITE_OK) r.id = (uint64_t)sqlite3_column_int64(next, 0);
        finish(next);
        json_object_set_new(o, "id", json_integer((json_int_t)r.id));
        text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    }
    if (rc != SQLITE_OK) status = db_error(err, s->w.db, rc, "fleet incident");
    else if (!text) status = rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    else if (!same) {
        r.json = text;
        status = put_row(s, &r, err); /* joins the batch */
        if (status == RP_OK && changed) *changed = true;
    }
    free(text);
    json_decref(o); /* after the row: key and route point into it */
    rp_error cerr = {0};
    rp_status committed = rp_store_commit(s, &cerr);
    if (status == RP_OK && committed != RP_OK) {
        if (err) *err = cerr;
        status = committed;
    }
    return status;
}

rp_status rp_store_incident_ref(rp_store *s, const char *key, uint64_t node_incident,
                                uint64_t *id, char *node, size_t node_size, rp_error *err) {
    *id = 0;
    if (node_size) node[0] = 0;
    pthread_mutex_lock(&s->r.mu);
    sqlite3_stmt *st = stmt(&s->r, ST_INCIDENT_REF);
    rp_status status = RP_ENOENT;
    if (!st) {
        status = db_error(err, s->r.db, sqlite3_errcode(s->r.db), "incident ref");
    } else {
        bind_text(st, 1, key);
        bind_u64(st, 2, node_incident);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *id = (uint64_t)sqlite3_column_int64(st, 0);
            const char *n = (const char *)sqlite3_column_text(st, 1);
            if (node_size) snprintf(node, node_size, "%s", n ? n : "");
            status = RP_OK;
        } else if (rc != SQLITE_DONE) {
            status = db_error(err, s->r.db, rc, "incident ref");
        }
        finish(st);
    }
    pthread_mutex_unlock(&s->r.mu);
    return status;
}

/* -------------------------------------------------------------- decisions */

rp_status rp_store_put_decision(rp_store *s, const rp_decision *d, const char *source,
                                const char *reason, rp_error *err) {
    char key[128];
    rp_key_format(&d->key, key, sizeof key);
    rp_status status = tx_begin(s, err);
    if (status != RP_OK) return status;
    sqlite3_stmt *end = stmt(&s->w, ST_END_ACTIVE);
    sqlite3_stmt *put = stmt(&s->w, ST_PUT_DECISION);
    int rc = SQLITE_ERROR;
    if (end && put) {
        bind_text(end, 1, key);
        sqlite3_bind_int64(end, 2, d->start_us);
        bind_text(end, 3, "replaced");
        rc = run(end);
    }
    if (rc == SQLITE_DONE) {
        bind_text(put, 1, key);
        bind_text(put, 2, rp_level_name((rp_key_level)d->key.level));
        bind_text(put, 3, rp_action_name(d->action));
        sqlite3_bind_int64(put, 4, d->start_us);
        sqlite3_bind_int64(put, 5, d->expires_us);
        if (d->incident_id) bind_u64(put, 6, d->incident_id);
        else sqlite3_bind_null(put, 6);
        sqlite3_bind_double(put, 7, d->score);
        bind_text(put, 8, source ? source : "engine");
        bind_text(put, 9, reason);
        rc = run(put);
    }
    if (rc != SQLITE_DONE)
        status = db_error(err, s->w.db, (end && put) ? rc : sqlite3_errcode(s->w.db),
                          "put decision");
    return tx_end(s, status, err);
}

rp_status rp_store_remove_decision(rp_store *s, const rp_key *key, int64_t now_us, const char *by,
                                   rp_error *err) {
    char text[128];
    rp_key_format(key, text, sizeof text);
    rp_status status = tx_begin(s, err);
    if (status != RP_OK) return status;
    sqlite3_stmt *st = stmt(&s->w, ST_END_ACTIVE);
    int rc = SQLITE_ERROR;
    if (st) {
        bind_text(st, 1, text);
        sqlite3_bind_int64(st, 2, now_us);
        bind_text(st, 3, by && by[0] ? by : "manual");
        rc = run(st);
    }
    if (rc != SQLITE_DONE)
        status = db_error(err, s->w.db, st ? rc : sqlite3_errcode(s->w.db), "remove decision");
    else if (sqlite3_changes(s->w.db) == 0)
        status = rp_error_set(err, RP_ENOENT, NULL, 0, 0, "no active decision for %s", text);
    return tx_end(s, status, err);
}

rp_status rp_store_active_decisions(rp_store *s, int64_t now_us,
                                    void (*fn)(void *user, const rp_decision *d), void *user,
                                    rp_error *err) {
    pthread_mutex_lock(&s->r.mu);
    sqlite3_stmt *st = stmt(&s->r, ST_ACTIVE);
    if (!st) {
        rp_status r = db_error(err, s->r.db, sqlite3_errcode(s->r.db), "active decisions");
        pthread_mutex_unlock(&s->r.mu);
        return r;
    }
    sqlite3_bind_int64(st, 1, now_us);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rp_decision d;
        memset(&d, 0, sizeof d);
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *action = (const char *)sqlite3_column_text(st, 1);
        /* A row we cannot read back (edited by hand) is skipped, not fatal:
         * the other decisions must still be restored. */
        if (!key || rp_key_parse(key, strlen(key), &d.key) != RP_OK) continue;
        if (!action || rp_action_parse(action, strlen(action), &d.action) != RP_OK) continue;
        d.start_us = sqlite3_column_int64(st, 2);
        d.expires_us = sqlite3_column_int64(st, 3);
        d.incident_id = (uint64_t)sqlite3_column_int64(st, 4);
        d.score = sqlite3_column_double(st, 5);
        fn(user, &d);
    }
    finish(st);
    rp_status status = RP_OK;
    if (rc != SQLITE_DONE) status = db_error(err, s->r.db, rc, "active decisions");
    pthread_mutex_unlock(&s->r.mu);
    return status;
}

rp_status rp_store_decision_notes(rp_store *s, const char *key, int64_t now_us,
                                  void (*fn)(void *user, const char *key, const char *source,
                                             const char *reason),
                                  void *user, rp_error *err) {
    pthread_mutex_lock(&s->r.mu);
    sqlite3_stmt *st = stmt(&s->r, ST_NOTES);
    if (!st) {
        rp_status r = db_error(err, s->r.db, sqlite3_errcode(s->r.db), "decision notes");
        pthread_mutex_unlock(&s->r.mu);
        return r;
    }
    sqlite3_bind_int64(st, 1, now_us);
    if (key) bind_text(st, 2, key);
    else sqlite3_bind_null(st, 2);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *k = (const char *)sqlite3_column_text(st, 0);
        const char *source = (const char *)sqlite3_column_text(st, 1);
        if (k) fn(user, k, source ? source : "engine", (const char *)sqlite3_column_text(st, 2));
    }
    finish(st);
    rp_status status = RP_OK;
    if (rc != SQLITE_DONE) status = db_error(err, s->r.db, rc, "decision notes");
    pthread_mutex_unlock(&s->r.mu);
    return status;
}

/* ----------------------------------------------------------------- routes */

static int put_knowledge(sqlite3_stmt *put, const rp_route_knowledge *k) {
    char template_[sizeof k->template_];
    memcpy(template_, k->template_, sizeof template_);
    template_[sizeof template_ - 1] = 0;
    bind_text(put, 1, k->method ? rp_method_name((rp_method)k->method) : "");
    bind_text(put, 2, template_);
    bind_text(put, 3, rp_route_class_name(k->cls));
    sqlite3_bind_int(put, 4, k->declared);
    bind_u64(put, 5, k->requests);
    bind_u64(put, 6, k->errors);
    bind_u64(put, 7, k->flagged);
    bind_u64(put, 8, k->not_found);
    bind_u64(put, 9, k->successes);
    sqlite3_bind_int64(put, 10, k->common_answer);
    sqlite3_bind_int64(put, 11, k->common_answer_votes);
    return run(put);
}

rp_status rp_store_put_routes(rp_store *s, const rp_route_info *routes, size_t n,
                              const rp_route_knowledge *knowledge, size_t n_knowledge,
                              rp_error *err) {
    rp_status status = tx_begin(s, err);
    if (status != RP_OK) return status;
    sqlite3_stmt *clear = stmt(&s->w, ST_ROUTES_CLEAR);
    sqlite3_stmt *put = stmt(&s->w, ST_PUT_ROUTE);
    sqlite3_stmt *put_k = stmt(&s->w, ST_PUT_KNOWLEDGE);
    int rc = clear && put && put_k ? run(clear) : sqlite3_errcode(s->w.db);
    for (size_t i = 0; i < n && rc == SQLITE_DONE; i++) {
        const rp_route_info *r = &routes[i];
        bind_field(put, 1, r->method, sizeof r->method);
        bind_field(put, 2, r->template_, sizeof r->template_);
        bind_text(put, 3, rp_route_class_name(r->cls));
        sqlite3_bind_int(put, 4, r->declared);
        bind_u64(put, 5, r->requests);
        bind_u64(put, 6, r->errors);
        bind_u64(put, 7, r->flagged);
        bind_u64(put, 8, r->clients);
        rc = run(put);
    }
    for (size_t i = 0; i < n_knowledge && rc == SQLITE_DONE; i++)
        rc = put_knowledge(put_k, &knowledge[i]);
    if (rc != SQLITE_DONE) status = db_error(err, s->w.db, rc, "put routes");
    return tx_end(s, status, err);
}

static bool column_u64(sqlite3_stmt *st, int i, uint64_t *out) {
    if (sqlite3_column_type(st, i) != SQLITE_INTEGER) return false;
    int64_t v = sqlite3_column_int64(st, i);
    *out = (uint64_t)v;
    return v >= 0;
}

/* One stored row as route knowledge; false when it cannot be read back
 * (edited by hand, or written by something else). The engine checks the
 * values themselves (rp_engine_route_restore). */
static bool read_knowledge(sqlite3_stmt *st, rp_route_knowledge *k) {
    memset(k, 0, sizeof *k);
    const char *method = (const char *)sqlite3_column_text(st, 0);
    const char *template_ = (const char *)sqlite3_column_text(st, 1);
    const char *cls = (const char *)sqlite3_column_text(st, 2);
    if (!method || !template_ || !cls) return false;
    size_t mlen = strlen(method), tlen = strlen(template_);
    if (mlen) {
        k->method = (uint8_t)rp_method_parse(method, mlen);
        if (k->method == RP_METHOD_OTHER) return false;
    }
    if (tlen >= sizeof k->template_) return false;
    memcpy(k->template_, template_, tlen + 1);
    int c = 0;
    while (c < RP_ROUTE_CLASS_COUNT && strcmp(cls, rp_route_class_name((rp_route_class)c)) != 0)
        c++;
    if (c == RP_ROUTE_CLASS_COUNT) return false;
    k->cls = (rp_route_class)c;
    k->declared = sqlite3_column_int64(st, 3) != 0;
    uint64_t answer = 0, votes = 0;
    bool ok = column_u64(st, 4, &k->requests) && column_u64(st, 5, &k->errors) &&
              column_u64(st, 6, &k->not_found) && column_u64(st, 7, &k->successes) &&
              column_u64(st, 8, &k->flagged) && column_u64(st, 9, &answer) &&
              column_u64(st, 10, &votes);
    if (!ok || answer > UINT32_MAX || votes > UINT32_MAX) return false;
    k->common_answer = (uint32_t)answer;
    k->common_answer_votes = (uint32_t)votes;
    return true;
}

rp_status rp_store_route_knowledge(rp_store *s,
                                   bool (*fn)(void *user, const rp_route_knowledge *route),
                                   void *user, size_t *skipped, rp_error *err) {
    if (skipped) *skipped = 0;
    pthread_mutex_lock(&s->r.mu);
    sqlite3_stmt *st = stmt(&s->r, ST_KNOWLEDGE);
    if (!st) {
        rp_status r = db_error(err, s->r.db, sqlite3_errcode(s->r.db), "route knowledge");
        pthread_mutex_unlock(&s->r.mu);
        return r;
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rp_route_knowledge k;
        if (!read_knowledge(st, &k)) {
            if (skipped) (*skipped)++;
            continue;
        }
        if (!fn(user, &k)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    finish(st);
    rp_status status = RP_OK;
    if (rc != SQLITE_DONE) status = db_error(err, s->r.db, rc, "route knowledge");
    pthread_mutex_unlock(&s->r.mu);
    return status;
}

/* ---------------------------------------------------------------- queries */

static int page_limit(int limit) {
    if (limit <= 0) return RP_STORE_PAGE_DEFAULT;
    return limit > RP_STORE_PAGE_MAX ? RP_STORE_PAGE_MAX : limit;
}

/* The WHERE clause of an incident query with the filters in mask; the
 * parameters are numbered by filter so binding does not depend on the
 * shape. Threats and detectors are comma lists: match whole names. */
static void incident_where(int mask, char *buf, size_t size) {
    static const char *const cond[] = {
        "decided_at >= ?1",
        "decided_at < ?2",
        "instr(',' || detectors || ',', ',' || ?3 || ',') > 0",
        "action = ?4",
        "instr(route, ?5) > 0",
        "key = ?6",
        "instr(',' || threats || ',', ',' || ?7 || ',') > 0",
    };
    size_t o = (size_t)snprintf(buf, size, "WHERE 1");
    for (int b = 0; b < 7; b++)
        if (mask & (1 << b)) o += (size_t)snprintf(buf + o, size - o, " AND %s", cond[b]);
}

static sqlite3_stmt *incident_stmt(rp_conn *c, int mask, bool count) {
    sqlite3_stmt **slot = count ? &c->inc_count[mask & (QF_ASC - 1)] : &c->inc_select[mask];
    if (*slot) return *slot;
    char where[512], sql[1024];
    incident_where(mask, where, sizeof where);
    if (count)
        snprintf(sql, sizeof sql, "SELECT count(*) FROM incidents %s", where);
    else
        snprintf(sql, sizeof sql, "SELECT json FROM incidents %s ORDER BY decided_at %s, id %s"
                 " LIMIT ?8 OFFSET ?9", where, mask & QF_ASC ? "ASC" : "DESC",
                 mask & QF_ASC ? "ASC" : "DESC");
    return prepare(c, slot, sql);
}

/*
 * The incident list by actor (rp_incident_query.by_key): the incidents
 * that pass the filters, grouped by key in SQL. Each key's row is its
 * strongest incident (action, then the newest), with
 *   - how many incidents it had and when the newest was decided (the
 *     rows are ordered by that);
 *   - its evidence line: the summary of that incident's finding with the
 *     most points (json_each over the stored JSON);
 *   - the requests it sent after it was first stopped: the requests of
 *     its newest stored incident minus those of its first throttle or
 *     block (the engine counts a key's requests, refused ones included,
 *     and writes the count with each escalation and when the incident
 *     closes), NULL when it was never stopped. A lower bound between
 *     two writes; it restarts when the key was evicted and came back.
 * Actions rank as rp_action does: monitor < throttle < block < allow.
 */
static const char actor_sql[] =
    "WITH matched AS ("
    "  SELECT id, key, decided_at, requests, json,"
    "    CASE action WHEN 'monitor' THEN 1 WHEN 'throttle' THEN 2 WHEN 'block' THEN 3"
    "      WHEN 'allow' THEN 4 ELSE 0 END AS rank"
    "  FROM incidents %s),"
    " actors AS ("
    "  SELECT key, count(*) AS n_incidents, max(decided_at) AS latest, max(requests) AS newest,"
    "    min(CASE WHEN rank IN (2, 3) THEN requests END) AS at_first_stop"
    "  FROM matched GROUP BY key),"
    " strongest AS ("
    "  SELECT key, json, row_number() OVER"
    "    (PARTITION BY key ORDER BY rank DESC, decided_at DESC, id DESC) AS n"
    "  FROM matched)"
    " SELECT s.json, a.n_incidents, a.latest,"
    "  CASE WHEN a.at_first_stop IS NULL THEN NULL"
    "    ELSE max(0, a.newest - a.at_first_stop) END,"
    "  (SELECT json_extract(f.value, '$.summary') FROM json_each(s.json, '$.findings') AS f"
    "    ORDER BY json_extract(f.value, '$.points') DESC LIMIT 1)"
    " FROM actors AS a JOIN strongest AS s ON s.key = a.key AND s.n = 1"
    " ORDER BY a.latest %s, a.key %s LIMIT ?8 OFFSET ?9";

static sqlite3_stmt *actor_stmt(rp_conn *c, int mask, bool count) {
    sqlite3_stmt **slot = count ? &c->actor_count[mask & (QF_ASC - 1)] : &c->actor_select[mask];
    if (*slot) return *slot;
    char where[512], sql[2048];
    incident_where(mask, where, sizeof where);
    const char *order = mask & QF_ASC ? "ASC" : "DESC";
    if (count)
        snprintf(sql, sizeof sql, "SELECT count(DISTINCT key) FROM incidents %s", where);
    else
        snprintf(sql, sizeof sql, actor_sql, where, order, order);
    return prepare(c, slot, sql);
}

static void bind_incident_query(sqlite3_stmt *st, const rp_incident_query *q) {
    if (q->since_us) sqlite3_bind_int64(st, 1, q->since_us);
    if (q->until_us) sqlite3_bind_int64(st, 2, q->until_us);
    if (q->detector) bind_text(st, 3, q->detector);
    if (q->action != RP_ACTION_NONE) bind_text(st, 4, rp_action_name(q->action));
    if (q->route) bind_text(st, 5, q->route);
    if (q->key) bind_text(st, 6, q->key);
    if (q->threat) bind_text(st, 7, q->threat);
}

/* Serialize {"total":N, name:[...]} and hand the text to the caller. */
static rp_status emit(json_t *root, char **json, rp_error *err) {
    *json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return *json ? RP_OK : rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
}

static int count_rows(sqlite3_stmt *st, int64_t *total) {
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *total = sqlite3_column_int64(st, 0);
        rc = SQLITE_DONE;
    }
    finish(st);
    return rc;
}

/* The start of a paged query on the reader connection: the answer's
 * object and array, the reader's lock, and one read transaction so that
 * the count and the page agree. end_page undoes it. */
static rp_status begin_page(rp_store *s, json_t **root, json_t **items) {
    *root = json_object();
    *items = json_array();
    if (!*root || !*items) {
        json_decref(*root);
        json_decref(*items);
        return RP_ENOMEM;
    }
    pthread_mutex_lock(&s->r.mu);
    exec(s->r.db, "BEGIN");
    return RP_OK;
}

/* The end of a paged query on the reader connection: close the read
 * transaction, then answer {"total": N, "<what>": [...]} or the error. */
static rp_status end_page(rp_store *s, int rc, sqlite3_stmt *count, sqlite3_stmt *sel, json_t *root,
                          json_t *items, json_int_t total, const char *what, char **json,
                          rp_error *err) {
    rp_status status = RP_OK;
    if (rc != SQLITE_DONE) {
        char ctx[32];
        snprintf(ctx, sizeof ctx, "query %s", what);
        status = db_error(err, s->r.db, (count && sel) ? rc : sqlite3_errcode(s->r.db), ctx);
    }
    exec(s->r.db, "COMMIT");
    pthread_mutex_unlock(&s->r.mu);
    if (status != RP_OK) {
        json_decref(root);
        json_decref(items);
        return status;
    }
    json_object_set_new(root, "total", json_integer(total));
    json_object_set_new(root, what, items);
    return emit(root, json, err);
}

/* A finding charged with its swarm's score ends its summary with
 * "(via fingerprint:9d70...)" or "(via KEY; this address: failed_logins_10m 4)"
 * (engine.c). Name that key in the finding as
 * "via" so that readers link to the swarm without parsing prose. Done at
 * query time: incidents stored before this existed get it too. */
static void annotate_via(json_t *inc) {
    json_t *findings = json_object_get(inc, "findings");
    size_t i;
    json_t *f;
    json_array_foreach(findings, i, f) {
        const char *sum = json_string_value(json_object_get(f, "summary"));
        if (!sum) continue;
        const char *at = strstr(sum, " (via ");
        if (!at) continue;
        const char *k = at + 6;
        /* "(via KEY)" or "(via KEY; this address: ...)" at the end */
        const char *end = k + strcspn(k, ";)");
        if (!*end || end == k || end - k > 100 || sum[strlen(sum) - 1] != ')') continue;
        rp_key key;
        if (rp_key_parse(k, (size_t)(end - k), &key) != RP_OK) continue;
        json_object_set_new(f, "via", json_stringn(k, (size_t)(end - k)));
    }
}

static json_t *text_json(const unsigned char *text);
static json_t *time_json(int64_t us);

/* The columns actor_sql adds to a key's strongest incident. */
static void actor_fields(json_t *inc, sqlite3_stmt *st) {
    json_object_set_new(inc, "incidents", json_integer(sqlite3_column_int64(st, 1)));
    json_object_set_new(inc, "latest_decided_at", time_json(sqlite3_column_int64(st, 2)));
    json_object_set_new(inc, "requests_after_stop",
                        sqlite3_column_type(st, 3) == SQLITE_NULL
                            ? json_null()
                            : json_integer(sqlite3_column_int64(st, 3)));
    json_object_set_new(inc, "evidence", text_json(sqlite3_column_text(st, 4)));
}

rp_status rp_store_query_incidents(rp_store *s, const rp_incident_query *q, char **json,
                                   rp_error *err) {
    *json = NULL;
    static const rp_incident_query everything;
    if (!q) q = &everything;
    int mask = (q->since_us ? QF_SINCE : 0) | (q->until_us ? QF_UNTIL : 0) |
               (q->detector ? QF_DETECTOR : 0) | (q->action != RP_ACTION_NONE ? QF_ACTION : 0) |
               (q->route ? QF_ROUTE : 0) | (q->key ? QF_KEY : 0) | (q->threat ? QF_THREAT : 0);
    json_t *root, *items;
    if (begin_page(s, &root, &items) != RP_OK)
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    int64_t total = 0;
    int rc = SQLITE_ERROR;
    sqlite3_stmt *(*shape)(rp_conn *, int, bool) = q->by_key ? actor_stmt : incident_stmt;
    sqlite3_stmt *count = shape(&s->r, mask, true);
    sqlite3_stmt *sel = shape(&s->r, mask | (q->ascending ? QF_ASC : 0), false);
    if (count && sel) {
        bind_incident_query(count, q);
        rc = count_rows(count, &total);
    }
    if (rc == SQLITE_DONE) {
        bind_incident_query(sel, q);
        sqlite3_bind_int(sel, 8, page_limit(q->limit));
        sqlite3_bind_int(sel, 9, q->offset > 0 ? q->offset : 0);
        while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(sel, 0);
            json_t *inc = text ? json_loads(text, 0, NULL) : NULL;
            /* Our own JSON always parses; a row edited by hand that does
             * not is returned as null rather than failing the page. */
            annotate_via(inc);
            if (inc && q->by_key) actor_fields(inc, sel);
            json_array_append_new(items, inc ? inc : json_null());
        }
        finish(sel);
    }
    return end_page(s, rc, count, sel, root, items, total, "incidents", json, err);
}

static sqlite3_stmt *decision_stmt(rp_conn *c, int shape, bool count) {
    sqlite3_stmt **slot = count ? &c->dec_count[shape] : &c->dec_select[shape];
    if (*slot) return *slot;
    char sql[512];
    const char *key = shape & DQ_KEY ? " AND key = ?1" : "";
    const char *active = shape & DQ_ACTIVE ? " AND ended_at IS NULL AND expires > ?2" : "";
    if (count)
        snprintf(sql, sizeof sql, "SELECT count(*) FROM decisions WHERE 1%s%s", key, active);
    else
        snprintf(sql, sizeof sql,
                 "SELECT id, key, level, action, start, expires, incident_id, score, source,"
                 " reason, ended_at, ended_by FROM decisions WHERE 1%s%s"
                 " ORDER BY start DESC, id DESC LIMIT ?3 OFFSET ?4", key, active);
    return prepare(c, slot, sql);
}

/* jansson refuses invalid UTF-8; a reason typed into the API may hold
 * some. Replace bad bytes rather than lose the field. */
static json_t *text_json(const unsigned char *text) {
    if (!text) return json_null();
    json_t *j = json_string((const char *)text);
    if (j) return j;
    char buf[512];
    size_t n = 0;
    for (; text[n] && n < sizeof buf - 1; n++) buf[n] = text[n] < 0x80 ? (char)text[n] : '?';
    buf[n] = 0;
    return json_string(buf);
}

static json_t *time_json(int64_t us) {
    char t[40];
    rp_format_time(us, t, sizeof t);
    return json_string(t);
}

static json_t *decision_row_json(sqlite3_stmt *st, int64_t now_us) {
    json_t *o = json_object();
    int64_t expires = sqlite3_column_int64(st, 5);
    bool ended = sqlite3_column_type(st, 10) != SQLITE_NULL;
    bool active = !ended && expires > now_us;
    json_object_set_new(o, "id", json_integer(sqlite3_column_int64(st, 0)));
    json_object_set_new(o, "key", text_json(sqlite3_column_text(st, 1)));
    json_object_set_new(o, "level", text_json(sqlite3_column_text(st, 2)));
    json_object_set_new(o, "action", text_json(sqlite3_column_text(st, 3)));
    json_object_set_new(o, "start", time_json(sqlite3_column_int64(st, 4)));
    json_object_set_new(o, "expires", time_json(expires));
    json_object_set_new(o, "incident_id", sqlite3_column_type(st, 6) == SQLITE_NULL
                                              ? json_null()
                                              : json_integer(sqlite3_column_int64(st, 6)));
    json_object_set_new(o, "score", json_real(sqlite3_column_double(st, 7)));
    json_object_set_new(o, "source", text_json(sqlite3_column_text(st, 8)));
    json_object_set_new(o, "reason", text_json(sqlite3_column_text(st, 9)));
    if (ended) {
        json_object_set_new(o, "ended_at", time_json(sqlite3_column_int64(st, 10)));
        json_object_set_new(o, "ended_by", text_json(sqlite3_column_text(st, 11)));
    } else if (!active) { /* expired, not yet marked by prune */
        json_object_set_new(o, "ended_at", time_json(expires));
        json_object_set_new(o, "ended_by", json_string("expired"));
    } else {
        json_object_set_new(o, "ended_at", json_null());
        json_object_set_new(o, "ended_by", json_null());
    }
    json_object_set_new(o, "active", json_boolean(active));
    return o;
}

rp_status rp_store_query_decisions(rp_store *s, const char *key, bool active_only, int64_t now_us,
                                   int limit, int offset, char **json, rp_error *err) {
    *json = NULL;
    int shape = (key ? DQ_KEY : 0) | (active_only ? DQ_ACTIVE : 0);
    json_t *root, *items;
    if (begin_page(s, &root, &items) != RP_OK)
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    int64_t total = 0;
    int rc = SQLITE_ERROR;
    sqlite3_stmt *count = decision_stmt(&s->r, shape, true);
    sqlite3_stmt *sel = decision_stmt(&s->r, shape, false);
    if (count && sel) {
        if (key) bind_text(count, 1, key);
        if (active_only) sqlite3_bind_int64(count, 2, now_us);
        rc = count_rows(count, &total);
    }
    if (rc == SQLITE_DONE) {
        if (key) bind_text(sel, 1, key);
        if (active_only) sqlite3_bind_int64(sel, 2, now_us);
        sqlite3_bind_int(sel, 3, page_limit(limit));
        sqlite3_bind_int(sel, 4, offset > 0 ? offset : 0);
        while ((rc = sqlite3_step(sel)) == SQLITE_ROW)
            json_array_append_new(items, decision_row_json(sel, now_us));
        finish(sel);
    }
    return end_page(s, rc, count, sel, root, items, total, "decisions", json, err);
}

/* ------------------------------------------------------------ maintenance */

/* Run a chunked DELETE until it deletes nothing, one transaction per
 * chunk, so the admin API's reads and the engine's writes interleave. */
static rp_status prune_chunks(rp_store *s, int id, int64_t cutoff, const char *what,
                              rp_error *err) {
    for (;;) {
        rp_status status = tx_begin(s, err);
        if (status != RP_OK) return status;
        sqlite3_stmt *st = stmt(&s->w, id);
        int rc = SQLITE_ERROR, changed = 0;
        if (st) {
            sqlite3_bind_int64(st, 1, cutoff);
            sqlite3_bind_int(st, 2, RP_STORE_PRUNE_CHUNK);
            rc = run(st);
            changed = sqlite3_changes(s->w.db);
        }
        if (rc != SQLITE_DONE)
            status = db_error(err, s->w.db, st ? rc : sqlite3_errcode(s->w.db), what);
        status = tx_end(s, status, err);
        if (status != RP_OK) return status;
        if (changed < RP_STORE_PRUNE_CHUNK) return RP_OK;
    }
}

rp_status rp_store_prune(rp_store *s, int64_t now_us, int64_t keep_incidents_us,
                         int64_t keep_decisions_us, rp_error *err) {
    /* First mark decisions that expired on their own, so that they are
     * history like the others and leave the partial index. */
    rp_status status = tx_begin(s, err);
    if (status != RP_OK) return status;
    sqlite3_stmt *mark = stmt(&s->w, ST_MARK_EXPIRED);
    int rc = SQLITE_ERROR;
    if (mark) {
        sqlite3_bind_int64(mark, 1, now_us);
        rc = run(mark);
    }
    if (rc != SQLITE_DONE)
        status = db_error(err, s->w.db, mark ? rc : sqlite3_errcode(s->w.db), "mark expired");
    status = tx_end(s, status, err);
    if (status == RP_OK && keep_incidents_us > 0)
        status = prune_chunks(s, ST_PRUNE_INCIDENTS, now_us - keep_incidents_us,
                              "prune incidents", err);
    if (status == RP_OK && keep_decisions_us > 0)
        status = prune_chunks(s, ST_PRUNE_DECISIONS, now_us - keep_decisions_us,
                              "prune decisions", err);
    return status;
}

rp_status rp_store_max_incident_id(rp_store *s, uint64_t *out, rp_error *err) {
    *out = 0;
    pthread_mutex_lock(&s->r.mu);
    sqlite3_stmt *st = stmt(&s->r, ST_MAX_INCIDENT);
    int rc = SQLITE_ERROR;
    if (st) {
        sqlite3_bind_int64(st, 1, RP_STORE_FLEET_ID_BASE);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            int64_t v = sqlite3_column_int64(st, 0);
            *out = v > 0 ? (uint64_t)v : 0;
            rc = SQLITE_DONE;
        }
        finish(st);
    }
    rp_status status = RP_OK;
    if (rc != SQLITE_DONE)
        status = db_error(err, s->r.db, st ? rc : sqlite3_errcode(s->r.db), "max incident id");
    pthread_mutex_unlock(&s->r.mu);
    return status;
}

/* --------------------------------------------------- swarms and one incident */

/* Run sql (one int parameter) on the reader and collect the JSON column
 * of each row into {"total": rows, "incidents": [...]}. */
static rp_status json_rows(rp_store *s, const char *sql, int64_t param, char **json, rp_error *err) {
    *json = NULL;
    json_t *root, *items;
    if (begin_page(s, &root, &items) != RP_OK)
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->r.db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, param);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(st, 0);
            json_t *inc = text ? json_loads(text, 0, NULL) : NULL;
            if (!inc) continue;
            annotate_via(inc);
            json_array_append_new(items, inc);
        }
        sqlite3_finalize(st);
    }
    json_int_t total = (json_int_t)json_array_size(items);
    return end_page(s, rc, st, st, root, items, total, "incidents", json, err);
}

rp_status rp_store_get_incident(rp_store *s, uint64_t id, char **json, rp_error *err) {
    char *all = NULL;
    rp_status st = json_rows(s, "SELECT json FROM incidents WHERE id = ?1",
                             id > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)id, &all, err);
    if (st != RP_OK) return st;
    json_t *root = json_loads(all, 0, NULL);
    free(all);
    json_t *inc = json_array_get(json_object_get(root, "incidents"), 0);
    if (!inc) {
        json_decref(root);
        return rp_error_set(err, RP_ENOENT, NULL, 0, 0, "no incident %llu", (unsigned long long)id);
    }
    *json = json_dumps(inc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return *json ? RP_OK : rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
}

/*
 * The top list of clients in one query: the newest RP_STORE_TOP_SCAN
 * incidents decided since since_us (a bound on the work of a dashboard
 * refresh, whatever the window), the worst of each key (action, then
 * score, then the newest), the keys in that order, at most limit. Actions
 * rank as rp_action does: monitor < throttle < block < allow.
 */
#define RP_STORE_TOP_SCAN 10000
static const char top_clients_sql[] =
    "WITH recent AS ("
    "  SELECT id, key, score, decided_at, json,"
    "    CASE action WHEN 'monitor' THEN 1 WHEN 'throttle' THEN 2 WHEN 'block' THEN 3"
    "      WHEN 'allow' THEN 4 ELSE 0 END AS rank"
    "  FROM incidents WHERE decided_at >= ?1 ORDER BY decided_at DESC, id DESC LIMIT ?3),"
    " worst AS ("
    "  SELECT json, rank, score, decided_at, id, row_number() OVER"
    "    (PARTITION BY key ORDER BY rank DESC, score DESC, decided_at DESC, id DESC) AS n"
    "  FROM recent)"
    " SELECT json FROM worst WHERE n = 1"
    " ORDER BY rank DESC, score DESC, decided_at DESC, id DESC LIMIT ?2";

rp_status rp_store_top_clients(rp_store *s, int64_t since_us, int limit, char **json,
                               rp_error *err) {
    *json = NULL;
    json_t *root, *items;
    if (begin_page(s, &root, &items) != RP_OK)
        return rp_error_set(err, RP_ENOMEM, NULL, 0, 0, "out of memory");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->r.db, top_clients_sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, since_us);
        sqlite3_bind_int(st, 2, page_limit(limit));
        sqlite3_bind_int(st, 3, RP_STORE_TOP_SCAN);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *text = (const char *)sqlite3_column_text(st, 0);
            json_t *inc = text ? json_loads(text, 0, NULL) : NULL;
            if (inc) json_array_append_new(items, inc);
        }
        sqlite3_finalize(st);
    }
    json_int_t total = (json_int_t)json_array_size(items);
    return end_page(s, rc, st, st, root, items, total, "incidents", json, err);
}

rp_status rp_store_query_swarm_incidents(rp_store *s, int limit, char **json, rp_error *err) {
    return json_rows(s,
                     "SELECT json FROM incidents WHERE level <> 'ip'"
                     " ORDER BY decided_at DESC, id DESC LIMIT ?1",
                     page_limit(limit), json, err);
}
