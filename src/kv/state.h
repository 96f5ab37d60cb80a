/*
 * state.h -- what the files of the store module share: its state (one
 * kv_mod per engine), the bounded tables it keeps (watches, sync partners,
 * rate buckets) and the internal calls between its parts:
 *
 *   apply.c   versions in: checks, last-writer-wins, persistence, watches
 *   sync.c    anti-entropy rounds, their watermark, tombstone collection
 *   module.c  the module operations, pushes and the public API
 */
#ifndef WEFT_KV_STATE_H
#define WEFT_KV_STATE_H

#include <string.h>

#include "weft/crypto.h"
#include "weft/kv.h"
#include "kv/entry.h"
#include "kv/tree.h"

#define PEERS_MAX 256        /* sync partners remembered (LRU) */
#define BUCKETS_MAX 1024     /* writers rate-limited (LRU) */
#define GC_INTERVAL_US 10000000ULL
#define GC_BATCH 1024        /* entries collected per pass */

typedef struct kv_watch {
    uint32_t id;             /* 0 = free slot */
    uint8_t *sk;             /* ns_len || ns || prefix */
    size_t sk_len;
    weft_kv_watch_fn cb;
    void *ctx;
} kv_watch;

typedef struct kv_peer {
    weft_node_id id;
    int used;
    uint32_t round_mine;     /* the last round we opened with it */
    uint64_t start_mine;     /* our wall clock when we opened it */
    uint32_t round_theirs;   /* the last round it opened with us */
    uint64_t start_theirs;   /* our wall clock at its first message */
    uint64_t synced_ms;      /* start of the last round that completed */
    uint64_t last_used_us;
} kv_peer;

typedef struct kv_bucket {
    weft_node_id writer;
    int used;
    uint64_t tokens_milli;   /* tokens * 1000 */
    uint64_t last_ms;
} kv_bucket;

typedef struct kv_mod {
    weft_engine *e;
    const weft_allocator *a;
    const weft_crypto *c;
    weft_kv_config cfg;
    weft_node_id self;
    weft__kv_tree tree;
    uint64_t hlc;
    uint64_t tombstones;
    uint64_t expiring;       /* entries with an expiry */
    /* pending push: header + ENTRY records */
    uint8_t *push;
    size_t push_len, push_cap;
    uint64_t next_sync_us, next_gc_us;
    uint8_t *out;            /* anti-entropy answers (WEFT__KV_RECON_OUT_CAP) */
    kv_watch watches[WEFT_KV_WATCHES_MAX];
    uint32_t next_watch_id;
    int in_callback;
    kv_peer peers[PEERS_MAX];
    kv_bucket buckets[BUCKETS_MAX];
    weft_kv_stats st;
} kv_mod;

/* Where a version came from (apply's checks and counters differ). */
enum { WEFT__KV_SRC_LOCAL, WEFT__KV_SRC_PUSH, WEFT__KV_SRC_SYNC, WEFT__KV_SRC_LOAD };

static inline uint64_t weft__kv_wall(const kv_mod *m) { return m->cfg.wall_ms(m->cfg.wall_ctx); }

static inline int weft__kv_has_prefix(const weft__kv_ent *x, const uint8_t *p, size_t n)
{
    return x->sk_len >= n && memcmp(x->data, p, n) == 0;
}

/* apply.c */
/* Applies one version: 1 kept (persisted, visible, watchers told), 0 the
 * version held beats or equals it, or a negative reason (counted for
 * remote input; for a local write, the caller's error). */
int weft__kv_apply(kv_mod *m, const weft__kv_view *v, int src);
/* Token bucket of a writer's pushed versions: 1 when one may pass. */
int weft__kv_rate_ok(kv_mod *m, const uint8_t *writer, uint64_t now_ms);
void weft__kv_to_record(const weft__kv_ent *x, weft_store_record *r);
void weft__kv_to_item(const weft__kv_ent *x, weft_kv_item *it);
/* A storage transaction around one message: begin returns 0 or -1
 * (counted in store_errors); commit takes what begin returned. */
int weft__kv_begin(kv_mod *m);
void weft__kv_commit(kv_mod *m, int began);

/* sync.c */
uint32_t weft__kv_rnd32(kv_mod *m);
/* Opens an anti-entropy round with `to`: 0 or the send's error. */
int weft__kv_sync_start(kv_mod *m, const weft_node_id *to, uint64_t now_us);
/* A message on the sync channel: 0 or the drop reason (counted). */
int weft__kv_on_sync(kv_mod *m, const weft_node_id *from, const uint8_t *msg, size_t len,
                     uint64_t now_us);
/* A membership event: a round with a member that joins or rejoins. */
void weft__kv_on_member(kv_mod *m, const weft_event *ev, uint64_t now_us);
/* Collects tombstones and expired entries that can no longer come back. */
void weft__kv_gc(kv_mod *m);

#endif
