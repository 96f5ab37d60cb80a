/*
 * entry.h -- one version of a key on the wire and in memory: the ENTRY
 * layout (docs/PROTOCOL.md §Replicated store), its signature, its item
 * hash, and the hybrid logical clock that stamps it.
 *
 * ENTRY (all integers little-endian):
 *   flags      u8      bit 0 tombstone, bit 1 expires_ms present
 *   hlc        u64     (wall ms << 16) | logical counter
 *   writer     32      Ed25519 public key of the writer
 *   ns_len     u8      1..128
 *   ns         ns_len
 *   key_len    varint  1..4096
 *   key        key_len
 *   expires_ms u64     only with flag bit 1
 *   value_len  varint  0 for a tombstone
 *   value      value_len
 *   sig        64      Ed25519(writer, BLAKE2b-512("weft-kv-entry-v1" ||
 *                      every byte above))
 */
#ifndef WEFT_KV_ENTRY_H
#define WEFT_KV_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "weft/crypto.h"
#include "base/cursor.h"
#include "kv/tree.h"

#define WEFT__KV_ENTRY_FLAGS_OFF 0
#define WEFT__KV_ENTRY_HLC_OFF 1
#define WEFT__KV_ENTRY_WRITER_OFF 9
#define WEFT__KV_ENTRY_NSLEN_OFF 41
#define WEFT__KV_ENTRY_FIXED 42  /* bytes before ns */
#define WEFT__KV_SIG_BYTES 64
#define WEFT__KV_KEY_HARD_MAX 4096
#define WEFT__KV_VALUE_HARD_MAX (1u << 20)
#define WEFT__KV_SK_MAX (1 + 128 + WEFT__KV_KEY_HARD_MAX)
_Static_assert(WEFT__KV_ENTRY_HLC_OFF == WEFT__KV_ENTRY_FLAGS_OFF + 1, "entry layout");
_Static_assert(WEFT__KV_ENTRY_WRITER_OFF == WEFT__KV_ENTRY_HLC_OFF + 8, "entry layout");
_Static_assert(WEFT__KV_ENTRY_NSLEN_OFF == WEFT__KV_ENTRY_WRITER_OFF + 32, "entry layout");
_Static_assert(WEFT__KV_ENTRY_FIXED == WEFT__KV_ENTRY_NSLEN_OFF + 1, "entry layout");

/* A decoded ENTRY: pointers into the buffer it was read from. */
typedef struct weft__kv_view {
    uint8_t flags;
    uint64_t hlc;
    const uint8_t *writer;       /* 32 bytes */
    const uint8_t *ns; size_t ns_len;
    const uint8_t *key; size_t key_len;
    uint64_t expires_ms;
    const uint8_t *val; size_t val_len;
    const uint8_t *sig;          /* 64 bytes */
    const uint8_t *signed_p;     /* the signed bytes (all but sig) */
    size_t signed_len;
} weft__kv_view;

/* Reads one ENTRY.  Returns 0, or WEFT_ERR_PROTO (truncated, bad flags,
 * lengths out of the hard limits, a tombstone with a value); the reader's
 * error is set then too. */
int weft__kv_entry_read(weft__rd *r, weft__kv_view *v);
/* Encoded size of x. */
size_t weft__kv_entry_size(const weft__kv_ent *x);
/* Writes x as an ENTRY (with its stored signature). */
void weft__kv_entry_write(weft__wr *w, const weft__kv_ent *x);
/* The digest a writer signs: BLAKE2b-512("weft-kv-entry-v1" || signed). */
void weft__kv_entry_digest(const weft_crypto *c, const uint8_t *signed_p, size_t len,
                           uint8_t out[64]);
/* 0 when v's signature is its writer's, else WEFT_ERR_BAD_SIGNATURE. */
int weft__kv_entry_verify(const weft_crypto *c, const weft__kv_view *v);

/* Sort key of (ns, key) into out (room for WEFT__KV_SK_MAX); its length. */
size_t weft__kv_sk_make(uint8_t *out, const uint8_t *ns, size_t ns_len, const uint8_t *key,
                        size_t key_len);
/* Splits a sort key; 0 or WEFT_ERR_PROTO. */
int weft__kv_sk_split(const uint8_t *sk, size_t len, const uint8_t **ns, size_t *ns_len,
                      const uint8_t **key, size_t *key_len);

/* Allocates an entry from a view (sort key, value, hash computed; not in
 * a tree).  NULL on allocation failure. */
weft__kv_ent *weft__kv_ent_from_view(const weft_allocator *a, const weft_crypto *c,
                                     const weft__kv_view *v);
/* The view of an entry (for re-encoding or signing). */
void weft__kv_ent_view(const weft__kv_ent *x, weft__kv_view *v);
/* Item hash of (sk, hlc, writer) into x->h_lo/h_hi. */
void weft__kv_ent_hash(const weft_crypto *c, weft__kv_ent *x);

/* Version order: >0 when (hlc_a, writer_a) beats (hlc_b, writer_b). */
int weft__kv_version_cmp(uint64_t hlc_a, const uint8_t *writer_a, uint64_t hlc_b,
                         const uint8_t *writer_b);

/* Node-state namespaces: 1 when ns has the owned form "@" + 64 hex, with
 * *owner set; 0 when ns is not an owned namespace; -1 when it starts with
 * '@' but is malformed. */
int weft__kv_ns_owner(const uint8_t *ns, size_t ns_len, weft_node_id *owner);

/* Hybrid logical clock (Kulkarni et al. 2014, Alg. 2, packed as
 * (l << 16) | c): the stamp of a local event at wall time wall_ms. */
static inline uint64_t weft__kv_hlc_tick(uint64_t *hlc, uint64_t wall_ms)
{
    uint64_t pt = wall_ms << 16, n = *hlc + 1;
    *hlc = pt > n ? pt : n;
    return *hlc;
}
/* A received stamp m: later local stamps are above it. */
static inline void weft__kv_hlc_observe(uint64_t *hlc, uint64_t m)
{
    if (m > *hlc)
        *hlc = m;
}

#endif
