/*
 * recon.h -- anti-entropy by range-based set reconciliation (Meyer,
 * "Range-Based Set Reconciliation", 2023; the scheme iroh-docs and
 * negentropy use), over the store's ordered index (tree.h).
 *
 * The set is every version a node holds, ordered by sort key; an item is
 * (sort key, hlc, writer).  A round exchanges SYNC messages: each names
 * ranges [lo, hi) of the key space with either the sender's fingerprint
 * of the range (sum of item hashes and count) or, for small ranges, the
 * list of its items.  The receiver compares each range with its own:
 *
 *   - equal fingerprint: nothing to say about it;
 *   - different: if the sender has nothing there and the range is small,
 *     the receiver sends its entries; if the receiver's side is small, it
 *     answers with its item list; otherwise it splits the range into
 *     WEFT__KV_RECON_FANOUT parts of equal size (by rank) and answers with
 *     their fingerprints;
 *   - an item list: the receiver sends the entries it has that the sender
 *     lacks or holds older, and asks (WANT) for those it lacks or holds
 *     older; the answer to a WANT is the entry.
 *
 * A message whose processing produces nothing is answered by DONE, which
 * ends the round on both sides.  Work per round is O(d log n) ranges for
 * d differences among n items; the bytes exchanged grow with d, not n.
 *
 * Messages (docs/PROTOCOL.md §Replicated store): a header (type u8 =
 * SYNC 1 or DONE 2, round u32) followed by records until the end:
 *   0x01 RANGE_FP     lo, hi, fp 16 bytes, count varint
 *   0x02 RANGE_ITEMS  lo, hi, n varint, n x (sk, hlc u64, writer 32)
 *   0x03 WANT         sk
 *   0x04 ENTRY        ENTRY layout (entry.h)
 * where a bound is a varint v (0: open end, 1: the previous range's hi,
 * v >= 2: a sort key of v - 2 bytes follows) and sk is varint length +
 * bytes.
 */
#ifndef WEFT_KV_RECON_H
#define WEFT_KV_RECON_H

#include <stddef.h>
#include <stdint.h>

#include "base/cursor.h"
#include "kv/entry.h"
#include "kv/tree.h"

#define WEFT__KV_MSG_SYNC 1
#define WEFT__KV_MSG_DONE 2
#define WEFT__KV_MSG_PUSH 3
#define WEFT__KV_HDR_TYPE_OFF 0
#define WEFT__KV_HDR_ROUND_OFF 1
#define WEFT__KV_HDR_BYTES 5
_Static_assert(WEFT__KV_HDR_ROUND_OFF + 4 == WEFT__KV_HDR_BYTES, "sync header layout");

#define WEFT__KV_REC_FP 0x01
#define WEFT__KV_REC_ITEMS 0x02
#define WEFT__KV_REC_WANT 0x03
#define WEFT__KV_REC_ENTRY 0x04

#define WEFT__KV_RECON_FANOUT 16   /* parts a differing range splits into */
#define WEFT__KV_RECON_ITEMS 16    /* ranges this small go as item lists */
#define WEFT__KV_RECON_BATCH 64    /* ranges this small go as entries */
/* Output of one step: entries up to this many bytes... */
#define WEFT__KV_RECON_BUDGET (2u << 20)
/* ...and room kept for range records after it. */
#define WEFT__KV_RECON_RESERVE (256u << 10)
#define WEFT__KV_RECON_OUT_CAP (WEFT__KV_RECON_BUDGET + WEFT__KV_RECON_RESERVE)

typedef struct weft__kv_recon_env {
    const weft__kv_tree *tree;
    /* A received entry: apply it (verify, LWW).  Its return is ignored
     * here (the callee counts drops); the tree may change. */
    void (*apply)(void *ctx, const weft__kv_view *v);
    void *ctx;
} weft__kv_recon_env;

/* The opening message of round `round`: one RANGE_FP over everything.
 * Returns its length, or WEFT_ERR_BUFSMALL. */
ptrdiff_t weft__kv_recon_start(const weft__kv_tree *t, uint32_t round, uint8_t *out,
                               size_t cap);

/* Header of a message: 0 with *type and *round, or WEFT_ERR_PROTO. */
int weft__kv_msg_header(const uint8_t *msg, size_t len, int *type, uint32_t *round);

/*
 * Processes a SYNC message (header included) and writes the answer (a
 * SYNC with the same round, or a DONE when there is nothing to say) into
 * out (cap >= WEFT__KV_RECON_OUT_CAP).  Returns the answer's length (a
 * DONE is WEFT__KV_HDR_BYTES), or WEFT_ERR_PROTO when the message is
 * malformed (entries before the fault were applied; no answer).
 */
ptrdiff_t weft__kv_recon_process(const weft__kv_recon_env *env, const uint8_t *msg,
                                 size_t len, uint8_t *out, size_t cap);

#endif
