/*
 * queue.h -- a transmit-limited dissemination queue: what a gossip
 * protocol piggybacks on the packets it sends anyway.
 *
 * In the spirit of memberlist's TransmitLimitedQueue (queue.go) and of
 * SWIM §4.1 ("infection-style dissemination"): a protocol puts items (an
 * update about a member, a published message, a store delta), and each
 * packet it writes takes as many as fit.
 *
 *   - Every item has a key: bytes (1..WEFT__GOSSIP_KEY_MAX) or a u64.  A
 *     newer item for a key replaces the older one, which is never sent
 *     again (memberlist's Invalidates): one pending update per subject.
 *   - Each item is sent about mult * ceil(log10(N + 1)) times, N being
 *     what the caller says at fill time (its group size), then dropped:
 *     enough for an epidemic to reach everyone with high probability
 *     (SWIM §4.1, memberlist retransmitLimit).
 *   - Order: a higher priority class first (e.g. urgent failure news before
 *     routine joins), then fewest transmissions first (the freshest news
 *     has the most to gain), then first come first served among equals, so
 *     that items at the same count take turns.
 *   - An item is a payload written verbatim, or a payload handed to an
 *     encode callback at fill time (so a protocol can encode from its
 *     current state, or drop an item that has become obsolete).
 *   - A cap on items, with a drop counter; when full, the least valuable
 *     item goes: lowest class, then most transmitted.
 *
 * Sans-IO, no protocol types: membership (src/membership) uses it for its
 * piggyback queue; pub/sub and the replicated store can use it as is.
 * Costs: O(1) per put (hashed keys), O(items written + classes x
 * transmission counts in use) per fill; memory cap x ~104 bytes plus
 * payloads beyond WEFT__GOSSIP_INLINE_BYTES.
 */
#ifndef WEFT_GOSSIP_QUEUE_H
#define WEFT_GOSSIP_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "weft/weft.h"

#define WEFT__GOSSIP_KEY_MAX 32       /* bytes of a byte-string key */
#define WEFT__GOSSIP_CLASSES 4        /* priority classes 0 (routine) .. 3 */
#define WEFT__GOSSIP_TRANSMITS_MAX 255 /* cap of any retransmission limit */
#define WEFT__GOSSIP_PAYLOAD_MAX 65535
#define WEFT__GOSSIP_INLINE_BYTES 72  /* key + payload kept in the item;
                                         larger ones take one allocation */
/* Returned by an encode callback for an item that must not be sent any
 * more (its subject is gone): the queue drops it. */
#define WEFT__GOSSIP_OBSOLETE (-1)

/* What an encode callback sees of an item. */
typedef struct weft__gossip_view {
    const uint8_t *key;      /* NULL for a numeric key */
    size_t key_len;
    uint64_t key_u64;        /* the numeric key (key == NULL) */
    const uint8_t *payload;
    size_t payload_len;
    uint32_t transmits;      /* times sent before this one */
    unsigned cls;            /* priority class */
} weft__gossip_view;

/*
 * Writes the wire form of item v into buf (room bytes).  Returns the bytes
 * written (> 0), 0 when it does not fit (nothing written: the fill stops
 * and the item keeps its place), or WEFT__GOSSIP_OBSOLETE (nothing
 * written: the item is dropped).  ctx is the queue's (config.ctx).  It
 * must not call into the queue.
 */
typedef ptrdiff_t (*weft__gossip_encode_fn)(void *ctx, const weft__gossip_view *v,
                                            uint8_t *buf, size_t room);

typedef struct weft__gossip_config {
    uint32_t cap;             /* items queued at most, >= 1 */
    uint32_t retransmit_mult; /* >= 1: sends = mult * ceil(log10(N + 1)),
                                 capped at WEFT__GOSSIP_TRANSMITS_MAX */
    uint64_t hash_salt;       /* salts the key hash (choose it at random) */
    void *ctx;                /* passed to every encode callback */
} weft__gossip_config;

typedef struct weft__gossip_item {
    const uint8_t *key;       /* 1..WEFT__GOSSIP_KEY_MAX bytes, or NULL: */
    size_t key_len;
    uint64_t key_u64;         /* ... a numeric key (its own namespace) */
    const uint8_t *payload;   /* copied; may be NULL when payload_len 0 */
    size_t payload_len;       /* <= WEFT__GOSSIP_PAYLOAD_MAX */
    weft__gossip_encode_fn encode; /* NULL: the payload is the wire form */
    unsigned cls;             /* 0 .. WEFT__GOSSIP_CLASSES - 1; higher first */
} weft__gossip_item;

typedef struct weft__gossip_stats {
    uint32_t queued;          /* items waiting now */
    uint64_t puts;            /* items accepted */
    uint64_t replaced;        /* of puts: invalidated an older item */
    uint64_t drops;           /* items lost at the cap (evicted or refused) */
    uint64_t done;            /* items sent their full count */
    uint64_t obsolete;        /* items their encoder dropped */
    uint64_t transmissions;   /* item copies written into packets */
} weft__gossip_stats;

typedef struct weft__gossip_queue weft__gossip_queue;

/* Creates a queue (caps allocated up front).  Returns 0, WEFT_ERR_INVAL
 * (cap or mult 0) or WEFT_ERR_NOMEM. */
__attribute__((warn_unused_result))
int weft__gossip_queue_new(weft__gossip_queue **out, const weft__gossip_config *cfg,
                           const weft_allocator *a);
/* Frees the queue and its payloads.  NULL is fine. */
void weft__gossip_queue_del(weft__gossip_queue *q);

/*
 * Queues item it (key and payload copied), replacing a pending item with
 * the same key.  The item starts with no transmissions.  When the queue
 * is full, the least valuable item (lowest class, then most transmitted)
 * among the queued ones and the new one is dropped and counted.  Returns
 * 0 (queued, maybe after evicting another), WEFT_ERR_LIMIT (full of
 * higher-class items: this one was dropped, counted), WEFT_ERR_INVAL (bad
 * key or class), WEFT_ERR_TOO_BIG (payload) or WEFT_ERR_NOMEM (nothing
 * changed).
 */
__attribute__((warn_unused_result))
int weft__gossip_put(weft__gossip_queue *q, const weft__gossip_item *it);

/*
 * Writes pending items into buf, in queue order, until one does not fit
 * (the rest waits for the next packet).  n is the group size N of the
 * retransmission limit; an item written that many times leaves the queue.
 * Returns the bytes written.
 */
size_t weft__gossip_fill(weft__gossip_queue *q, uint8_t *buf, size_t room, uint32_t n);

/* mult * ceil(log10(n + 1)), at least mult, at most
 * WEFT__GOSSIP_TRANSMITS_MAX. */
uint32_t weft__gossip_limit(uint32_t mult, uint32_t n);

size_t weft__gossip_count(const weft__gossip_queue *q);
void weft__gossip_stats_get(const weft__gossip_queue *q, weft__gossip_stats *out);
/* Bytes the queue holds for cap items (capacity planning, docs). */
size_t weft__gossip_queue_sizeof(uint32_t cap);

#endif
