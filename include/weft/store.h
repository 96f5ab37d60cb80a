/*
 * store.h -- the storage interface the replicated store (<weft/kv.h>)
 * draws on, injected the way crypto is (<weft/crypto.h>).
 *
 * The store's logic (src/kv/) is sans-IO: it keeps its index in memory and
 * writes every change through this small vtable.  Implementations:
 *
 *   - weft_store_sqlite_open() (libweft, src/store/sqlite/): one SQLite
 *     database in WAL mode, in the node's data directory;
 *   - weft_sim_memstore_new() (<weft/sim.h>): in memory, surviving a
 *     simulated crash because it outlives the node.
 *
 * Durability contract: when put() or commit() returns 0, the record must
 * survive the process being killed (kill -9).  Whether it also survives a
 * power loss is the implementation's durability level (the SQLite one:
 * WEFT_STORE_SYNC_FULL).
 */
#ifndef WEFT_STORE_H
#define WEFT_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <weft/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_STORE_F_TOMBSTONE 0x01 /* a delete: no value */
#define WEFT_STORE_F_EXPIRES 0x02   /* expires_ms is set */

/* One stored version of a key: everything needed to serve it and to prove
 * its writer (sig).  Pointers are valid during the call that passes it. */
typedef struct weft_store_record {
    const uint8_t *ns;  size_t ns_len;    /* namespace, 1..128 bytes */
    const uint8_t *key; size_t key_len;   /* key, 1..65535 bytes */
    const uint8_t *value; size_t value_len;
    uint64_t hlc;                         /* hybrid logical clock stamp */
    uint64_t expires_ms;                  /* wall ms, 0 = never */
    weft_node_id writer;
    uint8_t sig[64];                      /* the writer's signature */
    uint32_t flags;                       /* WEFT_STORE_F_* */
} weft_store_record;

/* Called by load() once per record; a non-zero return stops the load and
 * is returned by it. */
typedef int (*weft_store_each_fn)(void *arg, const weft_store_record *r);

typedef struct weft_store {
    void *ctx;
    /* Calls each() for every stored record (any order).  0 or an error
     * (WEFT_ERR_IO, WEFT_ERR_CORRUPT, or each's return value). */
    int (*load)(void *ctx, weft_store_each_fn each, void *arg);
    /* Inserts or replaces the record with the same (ns, key).  Outside a
     * begin/commit pair it is durable on return.  0, WEFT_ERR_IO,
     * WEFT_ERR_NOMEM. */
    int (*put)(void *ctx, const weft_store_record *r);
    /* Removes (ns, key) if present (tombstone collection).  0 or
     * WEFT_ERR_IO. */
    int (*remove)(void *ctx, const uint8_t *ns, size_t ns_len, const uint8_t *key,
                  size_t key_len);
    /* Groups the puts and removes until commit() into one transaction
     * (durable when commit returns 0).  Not nested.  0 or WEFT_ERR_IO. */
    int (*begin)(void *ctx);
    int (*commit)(void *ctx);
} weft_store;

/* ---------------------------------------------------------------------- */
/* SQLite implementation (a driver: it does file I/O)                      */

/* Durability levels (PRAGMA synchronous in WAL mode). */
enum weft_store_sync {
    /* No fsync at all: a committed write survives the process being killed
     * (it is in the OS page cache) but not an OS crash or power loss.  For
     * tests and simulations. */
    WEFT_STORE_SYNC_OFF = 0,
    /* synchronous=NORMAL: the WAL is fsynced at checkpoints only.  Survives
     * kill -9 of the process; an OS crash or power loss may lose the last
     * transactions (never corrupts).  The default. */
    WEFT_STORE_SYNC_NORMAL = 1,
    /* synchronous=FULL: every commit is fsynced before it returns.
     * Survives power loss as far as the disk honours fsync. */
    WEFT_STORE_SYNC_FULL = 2
};

#define WEFT_STORE_SCHEMA_VERSION 1
#define WEFT_STORE_ERRMSG_MAX 256

/*
 * Opens (creating it when absent) the store database at path for the mesh
 * whose fingerprint is mesh_fp (weft_kv_mesh_fingerprint()).  An existing
 * file is checked before anything is written to it: it must be a SQLite
 * database (PRAGMA quick_check passes), be a weft store (its meta table
 * says so), belong to this mesh (same fingerprint) and have a schema this
 * build knows (older schemas are migrated in one transaction).  A file
 * that fails a check is never modified.
 *
 * Returns 0 with *out set, or WEFT_ERR_INVAL (bad arguments or sync
 * level), WEFT_ERR_CORRUPT (not a SQLite database, damaged, or a database
 * that is not a weft store), WEFT_ERR_WRONG_MESH (a store of another
 * mesh), WEFT_ERR_VERSION_MISMATCH (schema newer than this build),
 * WEFT_ERR_IO (cannot open or write; permissions, disk full), or
 * WEFT_ERR_NOMEM.  On error a one-line explanation is written to err (when
 * non-NULL; up to errcap bytes, NUL-terminated).
 */
WEFT_EXTERN int weft_store_sqlite_open(weft_store **out, const char *path,
                                       const uint8_t mesh_fp[32], int sync_level,
                                       char *err, size_t errcap);
/* Closes the database (checkpointing the WAL) and frees the store.  NULL
 * is fine.  The store must no longer be attached to a running engine. */
WEFT_EXTERN void weft_store_sqlite_close(weft_store *s);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_STORE_H */
