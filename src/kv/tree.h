/*
 * tree.h -- the store's ordered index: every entry (live or tombstone) of
 * every namespace in one treap keyed by its sort key, each node augmented
 * with its subtree's entry count and fingerprint.
 *
 * Sort key: ns_len (1 byte) || ns || key, compared bytewise, so a
 * namespace, and a key prefix inside it, is one contiguous range.
 *
 * The augmentation serves range-based set reconciliation (Meyer,
 * "Range-Based Set Reconciliation", 2023, §3-4): the fingerprint of any
 * range [lo, hi) -- the sum mod 2^128 of its items' 16-byte hashes -- and
 * its count are two O(log n) prefix walks, and the item at a given rank is
 * one O(log n) descent, so a range can be split into equal parts without
 * visiting its items.  An item's hash covers (sort key, hlc, writer): two
 * nodes holding the same version of a key hash it the same way.
 *
 * Priorities come from a hash of the sort key keyed with a per-tree seed
 * drawn from the host's randomness: a writer choosing keys cannot make the
 * tree degenerate (its depth, and so the recursion here, stays O(log n)).
 */
#ifndef WEFT_KV_TREE_H
#define WEFT_KV_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "weft/types.h"

#define WEFT__KV_F_TOMBSTONE 0x01
#define WEFT__KV_F_EXPIRES 0x02

/* A 128-bit fingerprint (two little-endian lanes with carry) and a count:
 * the monoid of the reconciliation. */
typedef struct weft__kv_fp {
    uint64_t lo, hi;
    uint64_t count;
} weft__kv_fp;

/* One entry: a last-writer-wins register version.  Allocated as one block
 * with its sort key and value behind it. */
typedef struct weft__kv_ent {
    struct weft__kv_ent *l, *r;  /* treap children */
    uint32_t prio;               /* treap priority (max-heap) */
    weft__kv_fp sub;             /* subtree: sum of hashes and count */
    uint64_t h_lo, h_hi;         /* this item's hash */
    uint64_t hlc;                /* hybrid logical clock stamp */
    uint64_t expires_ms;         /* wall ms, 0 = never */
    uint64_t seen_ms;            /* local wall ms we have held it since
                                    (not replicated; tombstone collection) */
    weft_node_id writer;         /* who wrote it; the LWW tie-breaker */
    uint8_t sig[64];             /* the writer's signature (entry.c) */
    uint8_t flags;               /* WEFT__KV_F_* */
    uint16_t sk_len;             /* sort key length */
    uint32_t val_len;
    uint8_t data[];              /* sort key, then value */
} weft__kv_ent;

static inline const uint8_t *weft__kv_ent_sk(const weft__kv_ent *x) { return x->data; }
static inline const uint8_t *weft__kv_ent_val(const weft__kv_ent *x)
{
    return x->data + x->sk_len;
}

typedef struct weft__kv_tree {
    weft__kv_ent *root;
    uint64_t seed;               /* keys the priority hash */
} weft__kv_tree;

/* The priority an entry with this sort key gets in t. */
uint32_t weft__kv_tree_prio(const weft__kv_tree *t, const uint8_t *sk, size_t len);

/* Bytewise comparison of two sort keys (shorter first on a tie). */
int weft__kv_sk_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* The entry with this sort key, or NULL. */
weft__kv_ent *weft__kv_tree_get(const weft__kv_tree *t, const uint8_t *sk, size_t len);
/* Inserts x (its hash and sort key set), replacing and returning an entry
 * with the same sort key (the caller frees it), or NULL. */
weft__kv_ent *weft__kv_tree_put(weft__kv_tree *t, weft__kv_ent *x);
/* Unlinks and returns the entry with this sort key, or NULL. */
weft__kv_ent *weft__kv_tree_del(weft__kv_tree *t, const uint8_t *sk, size_t len);

/* Fingerprint and count of items with lo <= sk < hi; lo NULL = from the
 * start, hi NULL = to the end. */
weft__kv_fp weft__kv_tree_range(const weft__kv_tree *t, const uint8_t *lo, size_t lolen,
                                const uint8_t *hi, size_t hilen);
/* Number of items with sk < key (key NULL: all). */
uint64_t weft__kv_tree_rank(const weft__kv_tree *t, const uint8_t *key, size_t len);
/* The item of rank r (0-based), or NULL. */
weft__kv_ent *weft__kv_tree_at(const weft__kv_tree *t, uint64_t r);
/* The first item with sk >= key (strict: sk > key), or NULL. */
weft__kv_ent *weft__kv_tree_seek(const weft__kv_tree *t, const uint8_t *key, size_t len,
                                 int strict);
static inline uint64_t weft__kv_tree_count(const weft__kv_tree *t)
{
    return t->root ? t->root->sub.count : 0;
}

/* Calls fn on every entry in order; stops early when fn returns non-zero
 * (and returns that value).  The tree must not change meanwhile. */
int weft__kv_tree_walk(const weft__kv_tree *t, int (*fn)(void *, weft__kv_ent *), void *arg);

#endif
