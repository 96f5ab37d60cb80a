/*
 * oindex.c -- an ordered set of (key, slot) pairs: the registry's time and
 * confidence indexes.  A two-level B+-tree: a sorted array of pointers to
 * leaf blocks of up to WEFT__REG_OBLOCK sorted elements.  Lookups are two
 * binary searches; an insert or removal moves at most one block's worth of
 * elements and, rarely, the pointer array.  Detections mostly arrive in
 * time order, so inserts usually land at the end of the last block.
 *
 * Blocks split in two when full and merge with a neighbour when a removal
 * leaves one under a quarter full, so memory stays within a small factor
 * of the element count whatever the order of operations.  Inserts never
 * fail: weft__reg_oindex_reserve preallocates the block and the pointer
 * room a split may need, so the registry can reserve before it commits.
 */
#include <string.h>

#include "base/util.h"
#include "registry/registry_internal.h"

void weft__reg_oindex_init(weft__reg_oindex *o, const weft_allocator *a)
{
    memset(o, 0, sizeof *o);
    o->a = a;
}

void weft__reg_oindex_free(weft__reg_oindex *o)
{
    for (size_t i = 0; i < o->nblocks; i++)
        weft__free(o->a, o->blocks[i]);
    weft__free(o->a, o->blocks);
    weft__free(o->a, o->spare);
    memset(o, 0, sizeof *o);
}

int weft__reg_oindex_reserve(weft__reg_oindex *o)
{
    if (o->nblocks + 1 > o->blocks_cap) {
        size_t ncap = o->blocks_cap ? 2 * o->blocks_cap : 8;
        weft__reg_oblock **b = weft__realloc(o->a, o->blocks, ncap * sizeof *b);
        if (!b)
            return WEFT_ERR_NOMEM;
        o->blocks = b;
        o->blocks_cap = ncap;
    }
    if (!o->spare) {
        o->spare = weft__alloc(o->a, sizeof *o->spare);
        if (!o->spare)
            return WEFT_ERR_NOMEM;
        o->spare->n = 0;
    }
    return 0;
}

/* (a.key, a.slot) < (key, slot) */
static inline int lt(const weft__reg_oelem *a, uint64_t key, uint32_t slot)
{
    return a->key < key || (a->key == key && a->slot < slot);
}

/* First block whose last element is >= (key, slot); nblocks if none. */
static size_t find_block(const weft__reg_oindex *o, uint64_t key, uint32_t slot)
{
    size_t lo = 0, hi = o->nblocks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const weft__reg_oblock *b = o->blocks[mid];
        if (lt(&b->e[b->n - 1], key, slot))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First index in b whose element is >= (key, slot). */
static size_t find_in(const weft__reg_oblock *b, uint64_t key, uint32_t slot)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lt(&b->e[mid], key, slot))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void insert_block(weft__reg_oindex *o, size_t at, weft__reg_oblock *b)
{
    memmove(o->blocks + at + 1, o->blocks + at,
            (o->nblocks - at) * sizeof *o->blocks);
    o->blocks[at] = b;
    o->nblocks++;
}

static void remove_block(weft__reg_oindex *o, size_t at)
{
    weft__reg_oblock *b = o->blocks[at];
    memmove(o->blocks + at, o->blocks + at + 1,
            (o->nblocks - at - 1) * sizeof *o->blocks);
    o->nblocks--;
    if (!o->spare) {
        b->n = 0;
        o->spare = b;
    } else {
        weft__free(o->a, b);
    }
}

void weft__reg_oindex_insert(weft__reg_oindex *o, uint64_t key, uint32_t slot)
{
    if (o->nblocks == 0) {
        weft__reg_oblock *b = o->spare;
        o->spare = NULL;
        b->n = 1;
        b->e[0].key = key;
        b->e[0].slot = slot;
        insert_block(o, 0, b);
        o->n++;
        return;
    }
    size_t bi = find_block(o, key, slot);
    if (bi == o->nblocks)
        bi--; /* beyond every element: append to the last block */
    weft__reg_oblock *b = o->blocks[bi];
    if (b->n == WEFT__REG_OBLOCK) {
        /* split: the upper half goes to the spare block */
        weft__reg_oblock *nb = o->spare;
        o->spare = NULL;
        size_t half = WEFT__REG_OBLOCK / 2;
        memcpy(nb->e, b->e + half, (WEFT__REG_OBLOCK - half) * sizeof *b->e);
        nb->n = WEFT__REG_OBLOCK - (uint32_t)half;
        b->n = (uint32_t)half;
        insert_block(o, bi + 1, nb);
        if (lt(&b->e[b->n - 1], key, slot))
            b = nb; /* (key, slot) sorts after the lower half's last */
    }
    size_t i = find_in(b, key, slot);
    memmove(b->e + i + 1, b->e + i, (b->n - i) * sizeof *b->e);
    b->e[i].key = key;
    b->e[i].slot = slot;
    b->n++;
    o->n++;
}

int weft__reg_oindex_remove(weft__reg_oindex *o, uint64_t key, uint32_t slot)
{
    size_t bi = find_block(o, key, slot);
    if (bi == o->nblocks)
        return WEFT_ERR_NOT_FOUND;
    weft__reg_oblock *b = o->blocks[bi];
    size_t i = find_in(b, key, slot);
    if (i == b->n || b->e[i].key != key || b->e[i].slot != slot)
        return WEFT_ERR_NOT_FOUND;
    memmove(b->e + i, b->e + i + 1, (b->n - i - 1) * sizeof *b->e);
    b->n--;
    o->n--;
    if (b->n == 0) {
        remove_block(o, bi);
    } else if (b->n < WEFT__REG_OBLOCK / 4) {
        /* merge with a neighbour when both fit in three quarters of a
         * block, so that a block is refilled rather than split again */
        size_t other = bi + 1 < o->nblocks ? bi + 1 : bi ? bi - 1 : bi;
        if (other != bi) {
            size_t lo = other < bi ? other : bi, hi = lo + 1;
            weft__reg_oblock *l = o->blocks[lo], *h = o->blocks[hi];
            if (l->n + h->n <= 3 * WEFT__REG_OBLOCK / 4) {
                memcpy(l->e + l->n, h->e, h->n * sizeof *h->e);
                l->n += h->n;
                remove_block(o, hi);
            }
        }
    }
    return 0;
}

weft__reg_opos weft__reg_oindex_lower(const weft__reg_oindex *o, uint64_t lo)
{
    weft__reg_opos p = { find_block(o, lo, 0), 0 };
    if (p.b < o->nblocks)
        p.i = find_in(o->blocks[p.b], lo, 0);
    return p;
}

/* Number of elements before position p. */
static size_t rank(const weft__reg_oindex *o, weft__reg_opos p)
{
    size_t r = p.i;
    for (size_t b = 0; b < p.b && b < o->nblocks; b++)
        r += o->blocks[b]->n;
    return r;
}

size_t weft__reg_oindex_count(const weft__reg_oindex *o, uint64_t lo,
                              uint64_t hi)
{
    if (lo > hi || o->n == 0)
        return 0;
    size_t a = rank(o, weft__reg_oindex_lower(o, lo));
    size_t b = hi == UINT64_MAX ? o->n : rank(o, weft__reg_oindex_lower(o, hi + 1));
    return b - a;
}
