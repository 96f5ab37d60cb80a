/*
 * queue.c -- the transmit-limited dissemination queue (queue.h).
 *
 * Items live in one array of `cap` records (a free list links the unused
 * ones).  A salted open-addressing hash (linear probing, backward-shift
 * deletion) maps keys to records, so a put is O(1).  The order is kept by
 * buckets rather than by sorting: one FIFO list per (class, transmission
 * count), with a bitmap of the non-empty ones.  A fill walks the classes
 * from the highest down and, within a class, the counts upwards; an item
 * it writes leaves its bucket and, once the fill is over, joins the tail of
 * the next count's bucket (so that one packet never carries an item twice,
 * and items at the same count take turns).  memberlist keeps the same
 * order (fewest transmissions first) in a B-tree; buckets make every step
 * O(1) here because counts are small integers.
 */
#include <string.h>

#include "base/slots.h"
#include "base/util.h"
#include "gossip/queue.h"

#define NBUCKETS (WEFT__GOSSIP_TRANSMITS_MAX + 1)
#define NWORDS ((NBUCKETS + 63) / 64)

enum { F_NUMERIC = 1, F_HEAP = 2 };

typedef struct item {
    uint32_t prev, next;        /* bucket list (index + 1, 0 = none); the
                                   free list and the pending list use next */
    uint32_t hash;
    uint16_t len;               /* payload bytes */
    uint8_t key_len;            /* key bytes (8 for a numeric key) */
    uint8_t flags;              /* F_* */
    uint8_t cls, transmits;
    weft__gossip_encode_fn encode;
    union {
        uint8_t in[WEFT__GOSSIP_INLINE_BYTES];
        uint8_t *heap;
    } d;                        /* key, then payload */
} item;

struct weft__gossip_queue {
    weft__gossip_config cfg;
    const weft_allocator *a;
    item *items;                /* cfg.cap records */
    uint32_t free_head;         /* index + 1 */
    uint32_t n;                 /* items queued */
    uint32_t *slots;            /* index + 1; 0 = empty */
    uint32_t slots_mask;        /* slots - 1, a power of two >= 2 cap */
    uint32_t head[WEFT__GOSSIP_CLASSES][NBUCKETS], tail[WEFT__GOSSIP_CLASSES][NBUCKETS];
    uint64_t nonempty[WEFT__GOSSIP_CLASSES][NWORDS];
    weft__gossip_stats st;
};

/* ---- keys ----------------------------------------------------------------- */

static uint8_t *data_of(item *it)
{
    return it->flags & F_HEAP ? it->d.heap : it->d.in;
}

/* A 64-bit mix of the salted key (not cryptographic; the salt keeps
 * chosen keys from building long chains). */
static uint32_t key_hash(const weft__gossip_queue *q, int numeric, const uint8_t *k,
                         size_t len)
{
    uint64_t h = q->cfg.hash_salt ^ (numeric ? 0x6a09e667f3bcc909ULL : 0) ^ len;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, k + i, WEFT__MIN((size_t)8, len - i));
        h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 32;
    }
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (uint32_t)h;
}

static int key_is(item *it, int numeric, const uint8_t *k, size_t len, uint32_t hash)
{
    return it->hash == hash && !(it->flags & F_NUMERIC) == !numeric &&
           it->key_len == len && memcmp(data_of(it), k, len) == 0;
}

/* The slot holding the key, or the empty slot ending its chain. */
static uint32_t slot_find(const weft__gossip_queue *q, int numeric, const uint8_t *k,
                          size_t len, uint32_t hash)
{
    uint32_t i = hash & q->slots_mask;
    while (q->slots[i] && !key_is(&q->items[q->slots[i] - 1], numeric, k, len, hash))
        i = (i + 1) & q->slots_mask;
    return i;
}

static uint32_t home_of(const void *ctx, uint32_t idx)
{
    const weft__gossip_queue *q = ctx;
    return q->items[idx].hash & q->slots_mask;
}

/* Removes the slot of record idx (base/slots.h: backward-shift deletion). */
static void slot_del(weft__gossip_queue *q, uint32_t idx)
{
    uint32_t i = q->items[idx].hash & q->slots_mask;
    while (q->slots[i] != idx + 1)
        i = (i + 1) & q->slots_mask;
    weft__slots_delete(q->slots, q->slots_mask, i, home_of, q);
}

/* ---- buckets -------------------------------------------------------------- */

static void bucket_push(weft__gossip_queue *q, uint32_t idx)
{
    item *it = &q->items[idx];
    uint32_t *tail = &q->tail[it->cls][it->transmits];
    it->prev = *tail;
    it->next = 0;
    if (*tail)
        q->items[*tail - 1].next = idx + 1;
    else
        q->head[it->cls][it->transmits] = idx + 1;
    *tail = idx + 1;
    q->nonempty[it->cls][it->transmits / 64] |= 1ULL << (it->transmits % 64);
}

static void bucket_unlink(weft__gossip_queue *q, uint32_t idx)
{
    item *it = &q->items[idx];
    unsigned c = it->cls, t = it->transmits;
    if (it->prev)
        q->items[it->prev - 1].next = it->next;
    else
        q->head[c][t] = it->next;
    if (it->next)
        q->items[it->next - 1].prev = it->prev;
    else
        q->tail[c][t] = it->prev;
    if (!q->head[c][t])
        q->nonempty[c][t / 64] &= ~(1ULL << (t % 64));
    it->prev = it->next = 0;
}

/* The first non-empty bucket of class c at count >= from, or -1. */
static int bucket_next(const weft__gossip_queue *q, unsigned c, unsigned from)
{
    for (unsigned w = from / 64; w < NWORDS; w++) {
        uint64_t bits = q->nonempty[c][w];
        if (w == from / 64)
            bits &= ~0ULL << (from % 64);
        if (bits)
            return (int)(w * 64 + (unsigned)__builtin_ctzll(bits));
    }
    return -1;
}

/* The last non-empty bucket of class c, or -1. */
static int bucket_last(const weft__gossip_queue *q, unsigned c)
{
    for (unsigned w = NWORDS; w-- > 0;)
        if (q->nonempty[c][w])
            return (int)(w * 64 + 63 - (unsigned)__builtin_clzll(q->nonempty[c][w]));
    return -1;
}

/* ---- records -------------------------------------------------------------- */

/* Drops record idx, which is in no bucket. */
static void release(weft__gossip_queue *q, uint32_t idx)
{
    item *it = &q->items[idx];
    slot_del(q, idx);
    if (it->flags & F_HEAP)
        weft__free(q->a, it->d.heap);
    memset(it, 0, sizeof *it);
    it->next = q->free_head;
    q->free_head = idx + 1;
    q->n--;
}

/* The least valuable item: lowest class, most transmitted, oldest at that
 * count.  The queue is not empty. */
static uint32_t victim(const weft__gossip_queue *q)
{
    for (unsigned c = 0; c < WEFT__GOSSIP_CLASSES; c++) {
        int t = bucket_last(q, c);
        if (t >= 0)
            return q->head[c][t] - 1;
    }
    return 0; /* unreachable while n > 0 */
}

int weft__gossip_queue_new(weft__gossip_queue **out, const weft__gossip_config *cfg,
                           const weft_allocator *a)
{
    if (!out || !cfg || cfg->cap == 0 || cfg->cap > (1u << 28) || cfg->retransmit_mult == 0)
        return WEFT_ERR_INVAL;
    weft__gossip_queue *q = weft__calloc(a, sizeof *q);
    if (!q)
        return WEFT_ERR_NOMEM;
    uint32_t slots = 2;
    while (slots < 2 * cfg->cap)
        slots *= 2;
    q->cfg = *cfg;
    q->a = a;
    q->slots_mask = slots - 1;
    q->items = weft__calloc(a, (size_t)cfg->cap * sizeof *q->items);
    q->slots = weft__calloc(a, (size_t)slots * sizeof *q->slots);
    if (!q->items || !q->slots) {
        weft__gossip_queue_del(q);
        return WEFT_ERR_NOMEM;
    }
    for (uint32_t i = cfg->cap; i-- > 0;) {
        q->items[i].next = q->free_head;
        q->free_head = i + 1;
    }
    *out = q;
    return 0;
}

void weft__gossip_queue_del(weft__gossip_queue *q)
{
    if (!q)
        return;
    if (q->items && q->slots)
        for (uint32_t i = 0; i <= q->slots_mask; i++)
            if (q->slots[i] && (q->items[q->slots[i] - 1].flags & F_HEAP))
                weft__free(q->a, q->items[q->slots[i] - 1].d.heap);
    weft__free(q->a, q->items);
    weft__free(q->a, q->slots);
    weft__free(q->a, q);
}

int weft__gossip_put(weft__gossip_queue *q, const weft__gossip_item *it)
{
    uint8_t num[8];
    const uint8_t *k = it->key;
    size_t klen = it->key_len;
    int numeric = k == NULL;
    if (numeric) {
        for (int i = 0; i < 8; i++)
            num[i] = (uint8_t)(it->key_u64 >> (8 * i));
        k = num;
        klen = sizeof num;
    } else if (klen == 0 || klen > WEFT__GOSSIP_KEY_MAX) {
        return WEFT_ERR_INVAL;
    }
    if (it->cls >= WEFT__GOSSIP_CLASSES || (it->payload_len && !it->payload) ||
        (!it->encode && !it->payload_len))
        return WEFT_ERR_INVAL;
    if (it->payload_len > WEFT__GOSSIP_PAYLOAD_MAX)
        return WEFT_ERR_TOO_BIG;
    size_t need = klen + it->payload_len;
    uint8_t *heap = NULL;
    if (need > WEFT__GOSSIP_INLINE_BYTES) {
        heap = weft__alloc(q->a, need);
        if (!heap)
            return WEFT_ERR_NOMEM;
    }
    uint32_t hash = key_hash(q, numeric, k, klen);
    uint32_t slot = slot_find(q, numeric, k, klen, hash);
    uint32_t idx;
    if (q->slots[slot]) {
        /* a newer item for the key: the old one is never sent again */
        idx = q->slots[slot] - 1;
        bucket_unlink(q, idx);
        if (q->items[idx].flags & F_HEAP)
            weft__free(q->a, q->items[idx].d.heap);
        q->st.replaced++;
    } else {
        if (q->n == q->cfg.cap) {
            uint32_t v = victim(q);
            q->st.drops++;
            if (it->cls < q->items[v].cls) {
                weft__free(q->a, heap); /* the new item is the least valuable */
                return WEFT_ERR_LIMIT;
            }
            bucket_unlink(q, v);
            release(q, v);
            slot = slot_find(q, numeric, k, klen, hash); /* deletion moved slots */
        }
        idx = q->free_head - 1;
        q->free_head = q->items[idx].next;
        q->slots[slot] = idx + 1;
        q->n++;
    }
    item *r = &q->items[idx];
    r->hash = hash;
    r->len = (uint16_t)it->payload_len;
    r->key_len = (uint8_t)klen;
    r->flags = (uint8_t)((numeric ? F_NUMERIC : 0) | (heap ? F_HEAP : 0));
    r->cls = (uint8_t)it->cls;
    r->transmits = 0;
    r->encode = it->encode;
    if (heap)
        r->d.heap = heap;
    uint8_t *d = data_of(r);
    memcpy(d, k, klen);
    if (it->payload_len)
        memcpy(d + klen, it->payload, it->payload_len);
    bucket_push(q, idx);
    q->st.puts++;
    return 0;
}

uint32_t weft__gossip_limit(uint32_t mult, uint32_t n)
{
    uint32_t r = 0;
    for (uint64_t p = 1; p < (uint64_t)n + 1; p *= 10)
        r++;
    uint64_t l = (uint64_t)mult * (r ? r : 1);
    return l > WEFT__GOSSIP_TRANSMITS_MAX ? WEFT__GOSSIP_TRANSMITS_MAX : (uint32_t)l;
}

/* Writes record idx into buf: bytes, 0 (does not fit) or OBSOLETE. */
static ptrdiff_t write_item(weft__gossip_queue *q, item *it, uint8_t *buf, size_t room)
{
    const uint8_t *d = data_of(it);
    if (!it->encode) {
        if (it->len > room)
            return 0;
        memcpy(buf, d + it->key_len, it->len);
        return it->len;
    }
    weft__gossip_view v = {
        .key = it->flags & F_NUMERIC ? NULL : d,
        .key_len = it->key_len,
        .payload = d + it->key_len,
        .payload_len = it->len,
        .transmits = it->transmits,
        .cls = it->cls,
    };
    if (it->flags & F_NUMERIC)
        for (int i = 0; i < 8; i++)
            v.key_u64 |= (uint64_t)d[i] << (8 * i);
    ptrdiff_t n = it->encode(q->cfg.ctx, &v, buf, room);
    return n > (ptrdiff_t)room ? 0 : n; /* a callback overrunning is a bug */
}

size_t weft__gossip_fill(weft__gossip_queue *q, uint8_t *buf, size_t room, uint32_t n)
{
    uint32_t limit = weft__gossip_limit(q->cfg.retransmit_mult, n);
    uint32_t pend_head = 0, pend_tail = 0; /* written, waiting to move on */
    size_t used = 0;
    int full = 0;
    for (unsigned c = WEFT__GOSSIP_CLASSES; c-- > 0 && !full;) {
        for (int t = bucket_next(q, c, 0); t >= 0 && !full;
             t = t + 1 < NBUCKETS ? bucket_next(q, c, (unsigned)t + 1) : -1) {
            uint32_t i = q->head[c][t];
            while (i) {
                uint32_t idx = i - 1;
                item *it = &q->items[idx];
                i = it->next;
                ptrdiff_t w = write_item(q, it, buf + used, room - used);
                if (w == 0) {
                    full = 1; /* the rest waits: order is kept strictly */
                    break;
                }
                bucket_unlink(q, idx);
                if (w < 0) {
                    q->st.obsolete++;
                    release(q, idx);
                    continue;
                }
                used += (size_t)w;
                q->st.transmissions++;
                if (++it->transmits >= limit) {
                    q->st.done++;
                    release(q, idx);
                    continue;
                }
                it->next = 0;
                if (pend_tail)
                    q->items[pend_tail - 1].next = idx + 1;
                else
                    pend_head = idx + 1;
                pend_tail = idx + 1;
            }
        }
    }
    while (pend_head) {
        uint32_t idx = pend_head - 1;
        pend_head = q->items[idx].next;
        bucket_push(q, idx);
    }
    return used;
}

size_t weft__gossip_count(const weft__gossip_queue *q)
{
    return q->n;
}

void weft__gossip_stats_get(const weft__gossip_queue *q, weft__gossip_stats *out)
{
    *out = q->st;
    out->queued = q->n;
}

size_t weft__gossip_queue_sizeof(uint32_t cap)
{
    size_t slots = 2;
    while (slots < 2 * (size_t)cap)
        slots *= 2;
    return sizeof(weft__gossip_queue) + cap * sizeof(item) + slots * sizeof(uint32_t);
}
