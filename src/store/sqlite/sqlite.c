/*
 * sqlite.c -- the SQLite implementation of the store's storage interface
 * (<weft/store.h>).  A driver: it does file I/O; the store's logic
 * (src/kv/) stays sans-IO and reaches it through the weft_store vtable.
 *
 * One database file in WAL mode.  Tables:
 *   meta(k TEXT PRIMARY KEY, v BLOB)
 *       'magic'  = 'weft-kv-store'     what this file is
 *       'schema' = schema version       (WEFT_STORE_SCHEMA_VERSION)
 *       'mesh'   = 32-byte mesh fingerprint (weft_kv_mesh_fingerprint)
 *   entries(sk BLOB PRIMARY KEY, hlc, writer, expires, flags, sig, value)
 *       WITHOUT ROWID; sk = ns_len || ns || key (the index's sort key)
 *
 * Opening checks an existing file before writing a byte to it (even
 * journal_mode=WAL writes the header): quick_check, magic, mesh, schema.
 * A file that fails is left as it was.  Migrations run in one transaction
 * from the file's schema up to this build's (a table of steps below).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "weft/store.h"

static const char MAGIC[] = "weft-kv-store";

/* The largest (ns, key) the store's logic writes (<weft/kv.h>). */
#define NS_MAX 128
#define KEY_MAX 4096
#define SK_MAX (1 + NS_MAX + KEY_MAX)

typedef struct sq {
    weft_store iface;
    sqlite3 *db;
    sqlite3_stmt *put, *del, *begin, *commit, *rollback;
    int in_tx;
} sq;

static void seterr(char *err, size_t cap, const char *fmt, ...)
{
    if (!err || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
}

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW: return 0;
    case SQLITE_NOMEM: return WEFT_ERR_NOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return WEFT_ERR_CORRUPT;
    default: return WEFT_ERR_IO;
    }
}

/* --- the vtable ------------------------------------------------------- */

static int sq_put(void *ctx, const weft_store_record *r)
{
    sq *s = ctx;
    uint8_t sk[SK_MAX];
    if (!r->ns_len || r->ns_len > NS_MAX || r->key_len > KEY_MAX)
        return WEFT_ERR_INVAL;
    sk[0] = (uint8_t)r->ns_len;
    memcpy(sk + 1, r->ns, r->ns_len);
    memcpy(sk + 1 + r->ns_len, r->key, r->key_len);
    sqlite3_stmt *st = s->put;
    sqlite3_bind_blob(st, 1, sk, (int)(1 + r->ns_len + r->key_len), SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)r->hlc);
    sqlite3_bind_blob(st, 3, r->writer.key, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)r->expires_ms);
    sqlite3_bind_int(st, 5, (int)r->flags);
    sqlite3_bind_blob(st, 6, r->sig, 64, SQLITE_STATIC);
    sqlite3_bind_blob(st, 7, r->value_len ? (const void *)r->value : "", (int)r->value_len,
                      SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return map_rc(rc);
}

static int sq_remove(void *ctx, const uint8_t *ns, size_t ns_len, const uint8_t *key,
                     size_t key_len)
{
    sq *s = ctx;
    uint8_t sk[SK_MAX];
    if (!ns_len || ns_len > NS_MAX || key_len > KEY_MAX)
        return WEFT_ERR_INVAL;
    sk[0] = (uint8_t)ns_len;
    memcpy(sk + 1, ns, ns_len);
    memcpy(sk + 1 + ns_len, key, key_len);
    sqlite3_bind_blob(s->del, 1, sk, (int)(1 + ns_len + key_len), SQLITE_STATIC);
    int rc = sqlite3_step(s->del);
    sqlite3_reset(s->del);
    return map_rc(rc);
}

static int step_reset(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return map_rc(rc);
}

static int sq_begin(void *ctx)
{
    sq *s = ctx;
    if (s->in_tx)
        return WEFT_ERR_STATE;
    int rc = step_reset(s->begin);
    s->in_tx = rc == 0;
    return rc;
}

static int sq_commit(void *ctx)
{
    sq *s = ctx;
    if (!s->in_tx)
        return WEFT_ERR_STATE;
    int rc = step_reset(s->commit);
    if (rc < 0)
        (void)step_reset(s->rollback);
    s->in_tx = 0;
    return rc;
}

static int sq_load(void *ctx, weft_store_each_fn each, void *arg)
{
    sq *s = ctx;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        s->db, "SELECT sk, hlc, writer, expires, flags, sig, value FROM entries", -1, &st,
        NULL);
    if (rc != SQLITE_OK)
        return map_rc(rc);
    int out = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        weft_store_record r;
        memset(&r, 0, sizeof r);
        const uint8_t *sk = sqlite3_column_blob(st, 0);
        int sk_len = sqlite3_column_bytes(st, 0);
        if (!sk || sk_len < 3 || !sk[0] || 1 + sk[0] >= sk_len ||
            sqlite3_column_bytes(st, 2) != 32 || sqlite3_column_bytes(st, 5) != 64) {
            out = WEFT_ERR_CORRUPT;
            break;
        }
        r.ns = sk + 1;
        r.ns_len = sk[0];
        r.key = sk + 1 + sk[0];
        r.key_len = (size_t)sk_len - 1 - sk[0];
        r.hlc = (uint64_t)sqlite3_column_int64(st, 1);
        memcpy(r.writer.key, sqlite3_column_blob(st, 2), 32);
        r.expires_ms = (uint64_t)sqlite3_column_int64(st, 3);
        r.flags = (uint32_t)sqlite3_column_int(st, 4);
        memcpy(r.sig, sqlite3_column_blob(st, 5), 64);
        r.value = sqlite3_column_blob(st, 6);
        r.value_len = (size_t)sqlite3_column_bytes(st, 6);
        out = each(arg, &r);
        if (out)
            break;
    }
    if (!out && rc != SQLITE_DONE)
        out = map_rc(rc);
    sqlite3_finalize(st);
    return out;
}

/* --- opening ------------------------------------------------------------ */

/* Schema steps: step[i] takes a database from schema i to i + 1. */
static const char *const MIGRATIONS[WEFT_STORE_SCHEMA_VERSION] = {
    /* 0 -> 1: the first schema */
    "CREATE TABLE entries(sk BLOB PRIMARY KEY, hlc INTEGER NOT NULL, writer BLOB NOT NULL,"
    " expires INTEGER NOT NULL, flags INTEGER NOT NULL, sig BLOB NOT NULL,"
    " value BLOB NOT NULL) WITHOUT ROWID;",
};

static int exec(sqlite3 *db, const char *sql, char *err, size_t cap)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        seterr(err, cap, "%s", msg ? msg : sqlite3_errstr(rc));
    sqlite3_free(msg);
    return rc;
}

/* Reads meta value k into buf (cap bytes); its length, -1 when absent. */
static int meta_get(sqlite3 *db, const char *k, void *buf, int cap)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    int n = -1;
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);
        if (n > cap)
            n = cap;
        if (p && n > 0)
            memcpy(buf, p, (size_t)n);
    }
    sqlite3_finalize(st);
    return n;
}

static int meta_put(sqlite3 *db, const char *k, const void *v, int n)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(k, v) VALUES (?, ?)", -1,
                                &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_text(st, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, v, n, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* 1 when the database has no table at all (a new, empty file). */
static int is_empty(sqlite3 *db, int *rc_out)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        *rc_out = rc;
        return -1;
    }
    rc = sqlite3_step(st);
    int n = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    *rc_out = rc == SQLITE_ROW ? SQLITE_OK : rc;
    return n < 0 ? -1 : n == 0;
}

/* Checks an existing store: quick_check, magic, mesh, schema.  Returns 0
 * with *schema, or the error (err filled). */
static int check_existing(sqlite3 *db, const uint8_t mesh_fp[32], int *schema, char *err,
                          size_t cap)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        seterr(err, cap, "not a SQLite database, or unreadable: %s", sqlite3_errstr(rc));
        return map_rc(rc) == WEFT_ERR_IO ? WEFT_ERR_CORRUPT : map_rc(rc);
    }
    rc = sqlite3_step(st);
    const char *res = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    int ok = res && strcmp(res, "ok") == 0;
    if (!ok)
        seterr(err, cap, "database is damaged: %s",
               res ? res : sqlite3_errstr(rc));
    sqlite3_finalize(st);
    if (!ok)
        return WEFT_ERR_CORRUPT;
    char magic[32] = {0};
    if (meta_get(db, "magic", magic, (int)sizeof magic - 1) != (int)strlen(MAGIC) ||
        memcmp(magic, MAGIC, strlen(MAGIC)) != 0) {
        seterr(err, cap, "the file is a SQLite database but not a weft store");
        return WEFT_ERR_CORRUPT;
    }
    uint8_t mesh[32];
    if (meta_get(db, "mesh", mesh, 32) != 32 || memcmp(mesh, mesh_fp, 32) != 0) {
        seterr(err, cap, "the store belongs to another mesh (different network key); "
                         "refusing to use or change it");
        return WEFT_ERR_WRONG_MESH;
    }
    uint8_t sv[4];
    if (meta_get(db, "schema", sv, 4) != 4) {
        seterr(err, cap, "the store has no schema version");
        return WEFT_ERR_CORRUPT;
    }
    *schema = (int)((uint32_t)sv[0] | (uint32_t)sv[1] << 8 | (uint32_t)sv[2] << 16 |
                    (uint32_t)sv[3] << 24);
    if (*schema > WEFT_STORE_SCHEMA_VERSION) {
        seterr(err, cap, "the store has schema %d, newer than this build's %d", *schema,
               WEFT_STORE_SCHEMA_VERSION);
        return WEFT_ERR_VERSION_MISMATCH;
    }
    if (*schema < 1) {
        seterr(err, cap, "the store has an invalid schema version %d", *schema);
        return WEFT_ERR_CORRUPT;
    }
    return 0;
}

/* Creates (schema 0 -> current) or migrates, in one transaction. */
static int migrate(sqlite3 *db, int from, const uint8_t mesh_fp[32], char *err, size_t cap)
{
    if (exec(db, "BEGIN IMMEDIATE", err, cap) != SQLITE_OK)
        return WEFT_ERR_IO;
    int rc = SQLITE_OK;
    if (from == 0) {
        rc = exec(db, "CREATE TABLE meta(k TEXT PRIMARY KEY, v BLOB)", err, cap);
        if (rc == SQLITE_OK)
            rc = meta_put(db, "magic", MAGIC, (int)strlen(MAGIC));
        if (rc == SQLITE_OK)
            rc = meta_put(db, "mesh", mesh_fp, 32);
    }
    for (int v = from; rc == SQLITE_OK && v < WEFT_STORE_SCHEMA_VERSION; v++)
        rc = exec(db, MIGRATIONS[v], err, cap);
    if (rc == SQLITE_OK) {
        uint8_t sv[4] = {WEFT_STORE_SCHEMA_VERSION & 0xff, 0, 0, 0};
        rc = meta_put(db, "schema", sv, 4);
    }
    if (rc == SQLITE_OK)
        rc = exec(db, "COMMIT", err, cap);
    if (rc != SQLITE_OK) {
        seterr(err, cap, "creating or migrating the schema failed: %s", sqlite3_errmsg(db));
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return map_rc(rc) ? map_rc(rc) : WEFT_ERR_IO;
    }
    return 0;
}

static void sq_free(sq *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->put);
    sqlite3_finalize(s->del);
    sqlite3_finalize(s->begin);
    sqlite3_finalize(s->commit);
    sqlite3_finalize(s->rollback);
    if (s->db)
        sqlite3_close(s->db);
    free(s);
}

int weft_store_sqlite_open(weft_store **out, const char *path, const uint8_t mesh_fp[32],
                           int sync_level, char *err, size_t errcap)
{
    static const char *const SYNC[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                                       "PRAGMA synchronous=FULL"};
    seterr(err, errcap, "%s", "");
    if (!out || !path || !mesh_fp || sync_level < WEFT_STORE_SYNC_OFF ||
        sync_level > WEFT_STORE_SYNC_FULL) {
        seterr(err, errcap, "invalid arguments");
        return WEFT_ERR_INVAL;
    }
    *out = NULL;
    struct stat sb;
    int exists = stat(path, &sb) == 0;
    if (exists && !S_ISREG(sb.st_mode)) {
        seterr(err, errcap, "%s is not a regular file", path);
        return WEFT_ERR_IO;
    }
    sq *s = calloc(1, sizeof *s);
    if (!s)
        return WEFT_ERR_NOMEM;
    int flags = SQLITE_OPEN_READWRITE | (exists ? 0 : SQLITE_OPEN_CREATE) |
                SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &s->db, flags, NULL);
    if (rc != SQLITE_OK) {
        seterr(err, errcap, "cannot open %s: %s", path,
               s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        sq_free(s);
        return map_rc(rc) == WEFT_ERR_NOMEM ? WEFT_ERR_NOMEM : WEFT_ERR_IO;
    }
    sqlite3_extended_result_codes(s->db, 1);
    sqlite3_busy_timeout(s->db, 5000);
    int empty = is_empty(s->db, &rc);
    int ret = 0, schema = 0;
    if (empty < 0) {
        seterr(err, errcap, "%s is not a SQLite database (or is damaged): %s", path,
               sqlite3_errstr(rc));
        ret = map_rc(rc) == WEFT_ERR_NOMEM ? WEFT_ERR_NOMEM : WEFT_ERR_CORRUPT;
    } else if (!empty) {
        ret = check_existing(s->db, mesh_fp, &schema, err, errcap);
    } else if (exists && sb.st_size > 0) {
        /* a SQLite file without tables is still someone's file */
        seterr(err, errcap, "%s is a SQLite database but not a weft store", path);
        ret = WEFT_ERR_CORRUPT;
    }
    /* every check passed: from here on the file may be written */
    if (!ret && exec(s->db, "PRAGMA journal_mode=WAL", err, errcap) != SQLITE_OK)
        ret = WEFT_ERR_IO;
    if (!ret && exec(s->db, SYNC[sync_level], err, errcap) != SQLITE_OK)
        ret = WEFT_ERR_IO;
    if (!ret && schema < WEFT_STORE_SCHEMA_VERSION)
        ret = migrate(s->db, schema, mesh_fp, err, errcap);
    if (!ret) {
        rc = sqlite3_prepare_v2(s->db,
                                "INSERT OR REPLACE INTO entries(sk, hlc, writer, expires, "
                                "flags, sig, value) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                -1, &s->put, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(s->db, "DELETE FROM entries WHERE sk = ?", -1, &s->del,
                                    NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(s->db, "BEGIN", -1, &s->begin, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(s->db, "COMMIT", -1, &s->commit, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2(s->db, "ROLLBACK", -1, &s->rollback, NULL);
        if (rc != SQLITE_OK) {
            seterr(err, errcap, "preparing statements: %s", sqlite3_errmsg(s->db));
            ret = map_rc(rc) ? map_rc(rc) : WEFT_ERR_IO;
        }
    }
    if (ret) {
        sq_free(s);
        return ret;
    }
    s->iface.ctx = s;
    s->iface.load = sq_load;
    s->iface.put = sq_put;
    s->iface.remove = sq_remove;
    s->iface.begin = sq_begin;
    s->iface.commit = sq_commit;
    *out = &s->iface;
    return 0;
}

void weft_store_sqlite_close(weft_store *st)
{
    if (!st)
        return;
    sq *s = st->ctx;
    if (s->in_tx)
        (void)step_reset(s->commit);
    sq_free(s);
}
