/*
 * kv.h -- the replicated store: namespaces of keys -> values kept in sync
 * across the mesh, surviving loss, partitions and restarts (src/kv/, a
 * sans-IO protocol module on channels 0x50..0x5f, event family 0x15).
 *
 * Data model.  Each (namespace, key) is a last-writer-wins register: a
 * write is stamped with a hybrid logical clock (Kulkarni et al., "Logical
 * Physical Clocks", 2014) and the writer's node id, and every node keeps
 * the version with the greatest (hlc, writer) -- so all nodes pick the
 * same winner whatever order versions arrive in.  A delete writes a
 * tombstone; tombstones and expired entries are collected later
 * (docs/ARCHITECTURE.md §Replicated store says when and why that is safe).
 * Every version is signed by its writer.
 *
 * Propagation.  A local write is persisted, then pushed at once to the
 * other members; anti-entropy (range-based set reconciliation with a
 * random member every sync_interval_ms, and with every member that joins
 * or rejoins) repairs whatever was missed, at a cost that grows with the
 * number of differences, not with the size of the store.
 *
 * Consistency (docs/ARCHITECTURE.md §Replicated store): eventual.  A
 * node reads its own writes at once; other nodes see them after a push or
 * a sync round; once writes stop and the network heals, every node holds
 * the same state.  No cross-key ordering or transactions.
 *
 * Node state.  The namespace "@" + 64 hex digits of a node id is owned by
 * that node: only versions it signed are accepted (forgeries are counted
 * in drop_forged).  weft_kv_node_state_set/_get are the seeds'
 * update_node_state/get_node_state.  Membership metadata (name, status,
 * tags) changes at run time with weft_membership_set_meta (<weft/
 * membership.h>); use the node-state namespace for what is larger or
 * changes often (fps, battery, location).
 *
 * Persistence goes through an injected weft_store (<weft/store.h>); the
 * wall clock reaches the module only through the wall_ms callback of its
 * config.  Calls return WEFT_ERR_STATE when the engine has no store
 * attached.
 */
#ifndef WEFT_KV_H
#define WEFT_KV_H

#include <weft/engine.h>
#include <weft/store.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_KV_CHANNEL_PUSH 0x50  /* pushed deltas (until pub/sub) */
#define WEFT_KV_CHANNEL_SYNC 0x51  /* anti-entropy */
#define WEFT_EVF_KV 0x15

#define WEFT_KV_NS_MAX 128         /* namespace bytes, hard limit */
#define WEFT_KV_NODE_NS_LEN 65     /* "@" + 64 hex */

#define WEFT_KV_CONFIG_V1 1
#define WEFT_KV_CONFIG_VERSION WEFT_KV_CONFIG_V1

typedef struct weft_kv_config {
    /* Required: where versions are persisted (outlives the engine). */
    const weft_store *store;
    /* Required: the wall clock in ms since the Unix epoch.  The module
     * reads time only through this (drivers: CLOCK_REALTIME; the
     * simulator: virtual time plus a per-node skew). */
    uint64_t (*wall_ms)(void *ctx);
    void *wall_ctx;

    uint32_t max_key_bytes;        /* default 256 (hard limit 4096) */
    uint32_t max_value_bytes;      /* default 65536 (hard limit 1 MiB) */
    uint32_t max_entries;          /* all namespaces, tombstones included;
                                      default 4,000,000 */
    uint32_t max_ns_entries;       /* per namespace; default 1,000,000 */
    uint32_t max_clock_skew_ms;    /* versions stamped further ahead of our
                                      wall clock are refused; default 60000 */
    uint32_t remote_rate_per_s;    /* pushed versions accepted per writer
                                      per second; default 2000 */
    uint32_t remote_burst;         /* its bucket; default 20000 */
    uint32_t sync_interval_ms;     /* anti-entropy with a random member;
                                      default 1000 */
    uint32_t push_fanout;          /* members a write is pushed to; default
                                      32 */
    uint64_t tombstone_retention_ms; /* keep tombstones and expired entries
                                        at least this long; default 7 days */
} weft_kv_config;

WEFT_EXTERN void weft_kv_config_default_versioned(int version, weft_kv_config *c);
#define weft_kv_config_default(c)                                              \
    weft_kv_config_default_versioned(WEFT_KV_CONFIG_VERSION, (c))

/*
 * Attaches the store to engine e (one per engine; freed with it, the
 * weft_store is not closed).  Loads every record of cfg->store into
 * memory (signatures were checked when the versions arrived; the file is
 * trusted as the store opened it: same mesh, quick_check passed).
 * Returns 0, WEFT_ERR_INVAL,
 * WEFT_ERR_CONFIG (no store or clock, a limit above its hard limit),
 * WEFT_ERR_VERSION_MISMATCH, WEFT_ERR_EXISTS, WEFT_ERR_CORRUPT (a stored
 * record is malformed or its signature fails), WEFT_ERR_IO (from the
 * store) or WEFT_ERR_NOMEM.
 */
WEFT_EXTERN int weft_kv_attach_versioned(weft_engine *e, int version,
                                         const weft_kv_config *c, uint64_t now_us);
#define weft_kv_attach(e, c, now_us)                                           \
    weft_kv_attach_versioned((e), WEFT_KV_CONFIG_VERSION, (c), (now_us))

/* The 32-byte mesh fingerprint a store database records (derived from the
 * network key; does not reveal it).  Usable before weft_kv_attach. */
WEFT_EXTERN void weft_kv_mesh_fingerprint(const weft_engine *e, uint8_t out[32]);

/*
 * Writes value under (ns, key).  expires_ms: wall ms after which readers
 * no longer see it (0 = never).  When it returns 0 the write is durable
 * (the store's put returned) and visible to local reads; it is pushed to
 * the mesh at the next engine turn.  Returns 0, WEFT_ERR_INVAL (empty ns
 * or key, ns over WEFT_KV_NS_MAX, a node-state namespace not ours),
 * WEFT_ERR_TOO_BIG (key or value over its cap), WEFT_ERR_LIMIT
 * (max_entries or max_ns_entries), WEFT_ERR_STATE (no store),
 * WEFT_ERR_IO (the store failed; nothing changed) or WEFT_ERR_NOMEM.
 */
WEFT_EXTERN int weft_kv_put(weft_engine *e, const void *ns, size_t ns_len,
                            const void *key, size_t key_len, const void *value,
                            size_t value_len, uint64_t expires_ms, uint64_t now_us);
/* Deletes (ns, key) by writing a tombstone (also when the key is unknown
 * here: a version may be on its way).  Same returns as weft_kv_put. */
WEFT_EXTERN int weft_kv_delete(weft_engine *e, const void *ns, size_t ns_len,
                               const void *key, size_t key_len, uint64_t now_us);

/* A version as readers see it.  Pointers are valid until the next call
 * into the engine or the store. */
typedef struct weft_kv_item {
    const uint8_t *ns;  size_t ns_len;
    const uint8_t *key; size_t key_len;
    const uint8_t *value; size_t value_len;
    uint64_t hlc;          /* (hlc >> 16) = wall ms of the write */
    uint64_t expires_ms;   /* 0 = never */
    weft_node_id writer;
    int deleted;           /* a tombstone (watch callbacks and events) */
} weft_kv_item;

/* Reads (ns, key): 0 with *out filled, WEFT_ERR_NOT_FOUND (absent,
 * deleted or expired), WEFT_ERR_INVAL, WEFT_ERR_STATE. */
WEFT_EXTERN int weft_kv_get(weft_engine *e, const void *ns, size_t ns_len,
                            const void *key, size_t key_len, weft_kv_item *out);

/*
 * Lists live keys of ns starting with prefix, in key order, after key
 * `after` (NULL: from the start) -- pass the last key of a page to get the
 * next.  Fills out[0..*n) with up to cap items.  Returns 1 when more
 * items follow, 0 when the listing is complete, or WEFT_ERR_INVAL /
 * WEFT_ERR_STATE.
 */
WEFT_EXTERN int weft_kv_list(weft_engine *e, const void *ns, size_t ns_len,
                             const void *prefix, size_t prefix_len, const void *after,
                             size_t after_len, weft_kv_item *out, size_t cap, size_t *n);

/* Node state: our own namespace "@<our id hex>". */
WEFT_EXTERN int weft_kv_node_state_set(weft_engine *e, const void *key, size_t key_len,
                                       const void *value, size_t value_len,
                                       uint64_t now_us);
WEFT_EXTERN int weft_kv_node_state_get(weft_engine *e, const weft_node_id *node,
                                       const void *key, size_t key_len,
                                       weft_kv_item *out);
/* Writes "@" + 64 hex digits of id (WEFT_KV_NODE_NS_LEN bytes, no NUL). */
WEFT_EXTERN void weft_kv_node_ns(const weft_node_id *id, char out[WEFT_KV_NODE_NS_LEN]);

/*
 * Watches: every change of a key of ns starting with prefix that this node
 * applies -- a local write, a pushed delta or a version that arrived by
 * anti-entropy -- is reported exactly once, in the order it was applied
 * (so per key in version order), including deletes (item.deleted) and
 * the collection of a tombstone is not a change.
 *
 * With cb set, cb is called in-process at the moment the change is
 * applied (from inside the engine call that applied it); it may read the
 * store but must not write to it or call weft_kv_unwatch.  With cb NULL,
 * a WEFT_EV_KV_CHANGED event is queued instead (parse it with
 * weft_kv_event_item).  Returns the watch id (>= 1) in *id; 0,
 * WEFT_ERR_INVAL, WEFT_ERR_LIMIT (64 watches), WEFT_ERR_STATE,
 * WEFT_ERR_NOMEM.
 */
typedef void (*weft_kv_watch_fn)(void *ctx, uint32_t watch_id, const weft_kv_item *item);
#define WEFT_KV_WATCHES_MAX 64
WEFT_EXTERN int weft_kv_watch(weft_engine *e, const void *ns, size_t ns_len,
                              const void *prefix, size_t prefix_len, weft_kv_watch_fn cb,
                              void *ctx, uint32_t *id);
/* 0 or WEFT_ERR_NOT_FOUND / WEFT_ERR_STATE. */
WEFT_EXTERN int weft_kv_unwatch(weft_engine *e, uint32_t id);

enum weft_kv_event_type {
    /* A watched key changed: u.module.code = watch id, value[0] = hlc,
     * value[1] = expires_ms, value[2] = 1 for a delete; ev->peer = the
     * writer; data = the change (weft_kv_event_item). */
    WEFT_EV_KV_CHANGED = 0x1501
};
/* Parses a WEFT_EV_KV_CHANGED event into *out (pointers into the event's
 * data).  0 or WEFT_ERR_INVAL. */
WEFT_EXTERN int weft_kv_event_item(const weft_event *ev, weft_kv_item *out);

/* Starts an anti-entropy round with peer now (NULL: a random alive
 * member).  0, WEFT_ERR_NOT_FOUND (no member), WEFT_ERR_STATE, or the
 * error of weft_engine_send. */
WEFT_EXTERN int weft_kv_sync(weft_engine *e, const weft_node_id *peer, uint64_t now_us);

/* A digest of the whole replicated state (every version, tombstones
 * included): two nodes with the same digest hold the same versions. */
WEFT_EXTERN int weft_kv_digest(const weft_engine *e, uint8_t out[16], uint64_t *count);

typedef struct weft_kv_stats {
    uint64_t entries, tombstones;      /* now held (expired live ones count
                                          as entries until collected) */
    uint64_t writes_local;             /* puts and deletes accepted */
    uint64_t applied_push, applied_sync; /* remote versions that won */
    uint64_t stale;                    /* remote versions we had or beat */
    uint64_t pushes_sent, sync_rounds, sync_msgs_in, sync_msgs_out;
    uint64_t sync_bytes_in, sync_bytes_out, push_bytes_out;
    uint64_t collected;                /* tombstones/expired entries removed */
    uint64_t drop_malformed;           /* undecodable messages or entries */
    uint64_t drop_bad_signature;       /* signature does not verify */
    uint64_t drop_forged;              /* node-state version not by its owner */
    uint64_t drop_future;              /* stamped too far ahead of our clock */
    uint64_t drop_too_big;             /* over a key/value cap */
    uint64_t drop_limit;               /* over max_entries/max_ns_entries */
    uint64_t drop_rate;                /* over a writer's rate */
    uint64_t store_errors;             /* store calls that failed */
    uint64_t watch_dropped;            /* watch events lost to allocation
                                          failure */
    uint64_t hlc;                      /* our clock now */
} weft_kv_stats;

WEFT_EXTERN int weft_kv_stats_get(const weft_engine *e, weft_kv_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_KV_H */
