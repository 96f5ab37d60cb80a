/*
 * dict.c -- interned byte strings with posting lists: the registry's
 * indexes on type, owner and metadata key=value.  Each distinct string gets
 * a small integer id (reused after it is released) and a list of the slots
 * whose entry carries it.  The slot keeps its position in the list, so
 * removal is O(1): the last element moves into the hole and the caller
 * fixes that element's back-pointer.  The list is therefore unordered; the
 * search orders candidates itself (by slot, through a bitmap).
 *
 * Lookup is open addressing with linear probing on weft__reg_hash64 of the
 * string; deletion shifts later entries back (no tombstones).  The number
 * of live ids is capped (types_max, owners_max, meta_values_max) and
 * refusals are counted.
 */
#include <string.h>

#include "base/util.h"
#include "registry/registry_internal.h"

void weft__reg_dict_init(weft__reg_dict *d, const weft_allocator *a,
                         uint64_t seed, uint32_t max)
{
    memset(d, 0, sizeof *d);
    d->a = a;
    d->seed = seed;
    d->max = max;
}

void weft__reg_dict_free(weft__reg_dict *d)
{
    for (uint32_t i = 0; i < d->nitems; i++) {
        weft__free(d->a, d->items[i].key);
        weft__free(d->a, d->items[i].slots);
    }
    weft__free(d->a, d->items);
    weft__free(d->a, d->table);
    weft__free(d->a, d->free_ids);
    memset(d, 0, sizeof *d);
}

static uint32_t find_pos(const weft__reg_dict *d, const void *key, size_t len,
                         uint64_t h, size_t *pos)
{
    if (!d->tcap)
        return WEFT__REG_NONE;
    size_t mask = d->tcap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t v = d->table[i];
        if (!v) {
            *pos = i;
            return WEFT__REG_NONE;
        }
        const weft__reg_dict_item *it = &d->items[v - 1];
        if (it->h == h && it->key_len == len && memcmp(it->key, key, len) == 0) {
            *pos = i;
            return v - 1;
        }
    }
}

uint32_t weft__reg_dict_find(const weft__reg_dict *d, const void *key,
                             size_t len)
{
    size_t pos;
    return find_pos(d, key, len, weft__reg_hash64(key, len, d->seed), &pos);
}

/* Doubles the table (load factor stays <= 1/2). */
static int grow_table(weft__reg_dict *d)
{
    size_t ncap = d->tcap ? 2 * d->tcap : 16;
    uint32_t *t = weft__calloc(d->a, ncap * sizeof *t);
    if (!t)
        return WEFT_ERR_NOMEM;
    for (size_t i = 0; i < d->tcap; i++) {
        uint32_t v = d->table[i];
        if (!v)
            continue;
        size_t j = d->items[v - 1].h & (ncap - 1);
        while (t[j])
            j = (j + 1) & (ncap - 1);
        t[j] = v;
    }
    weft__free(d->a, d->table);
    d->bytes += (ncap - d->tcap) * sizeof *t;
    d->table = t;
    d->tcap = ncap;
    return 0;
}

static int list_room(weft__reg_dict *d, weft__reg_dict_item *it)
{
    if (it->n < it->cap)
        return 0;
    uint32_t ncap = it->cap ? 2 * it->cap : 4;
    uint32_t *s = weft__realloc(d->a, it->slots, (size_t)ncap * sizeof *s);
    if (!s)
        return WEFT_ERR_NOMEM;
    d->bytes += (size_t)(ncap - it->cap) * sizeof *s;
    it->slots = s;
    it->cap = ncap;
    return 0;
}

int weft__reg_dict_reserve(weft__reg_dict *d, const void *key, size_t len,
                           uint32_t *id)
{
    uint64_t h = weft__reg_hash64(key, len, d->seed);
    size_t pos = 0;
    uint32_t found = find_pos(d, key, len, h, &pos);
    if (found != WEFT__REG_NONE) {
        *id = found;
        return list_room(d, &d->items[found]);
    }
    if (d->live >= d->max) {
        d->refused++;
        return WEFT_ERR_LIMIT;
    }
    /* room for the table slot, the item and the key, before changing
     * anything visible */
    if (2 * (d->live + 1) > d->tcap) {
        if (grow_table(d))
            return WEFT_ERR_NOMEM;
        find_pos(d, key, len, h, &pos);
    }
    if (!d->nfree && d->nitems == d->items_cap) {
        uint32_t ncap = d->items_cap ? 2 * d->items_cap : 16;
        weft__reg_dict_item *n = weft__realloc(d->a, d->items, (size_t)ncap * sizeof *n);
        if (!n)
            return WEFT_ERR_NOMEM;
        d->bytes += (size_t)(ncap - d->items_cap) * sizeof *n;
        d->items = n;
        d->items_cap = ncap;
    }
    if (d->nitems == d->free_cap) {
        /* the free list must hold every id, so release never allocates */
        uint32_t ncap = d->free_cap ? 2 * d->free_cap : 16;
        uint32_t *f = weft__realloc(d->a, d->free_ids, (size_t)ncap * sizeof *f);
        if (!f)
            return WEFT_ERR_NOMEM;
        d->free_ids = f;
        d->free_cap = ncap;
    }
    uint8_t *k = weft__alloc(d->a, len ? len : 1);
    uint32_t *s = weft__alloc(d->a, 4 * sizeof *s);
    if (!k || !s) {
        weft__free(d->a, k);
        weft__free(d->a, s);
        return WEFT_ERR_NOMEM;
    }
    memcpy(k, key, len);
    uint32_t nid = d->nfree ? d->free_ids[--d->nfree] : d->nitems++;
    weft__reg_dict_item *it = &d->items[nid];
    it->key = k;
    it->key_len = (uint32_t)len;
    it->h = h;
    it->slots = s;
    it->n = 0;
    it->cap = 4;
    d->table[pos] = nid + 1;
    d->live++;
    d->bytes += len + 4 * sizeof *s;
    *id = nid;
    return 0;
}

uint32_t weft__reg_dict_add(weft__reg_dict *d, uint32_t id, uint32_t slot)
{
    weft__reg_dict_item *it = &d->items[id];
    it->slots[it->n] = slot;
    return it->n++;
}

/* Removes id from the table (backward-shift deletion) and frees it. */
static void release(weft__reg_dict *d, uint32_t id)
{
    weft__reg_dict_item *it = &d->items[id];
    size_t mask = d->tcap - 1, i = it->h & mask;
    while (d->table[i] != id + 1)
        i = (i + 1) & mask;
    /* shift back the run after i so that lookups never stop early */
    for (size_t j = (i + 1) & mask; d->table[j]; j = (j + 1) & mask) {
        size_t home = d->items[d->table[j] - 1].h & mask;
        /* move j to i when its home is not in the cyclic range (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            d->table[i] = d->table[j];
            i = j;
        }
    }
    d->table[i] = 0;
    d->bytes -= it->key_len + (size_t)it->cap * sizeof *it->slots;
    weft__free(d->a, it->key);
    weft__free(d->a, it->slots);
    memset(it, 0, sizeof *it);
    d->free_ids[d->nfree++] = id;
    d->live--;
}

uint32_t weft__reg_dict_del(weft__reg_dict *d, uint32_t id, uint32_t pos)
{
    weft__reg_dict_item *it = &d->items[id];
    uint32_t moved = WEFT__REG_NONE;
    it->n--;
    if (pos != it->n) {
        moved = it->slots[it->n];
        it->slots[pos] = moved;
    }
    if (it->n == 0)
        release(d, id);
    return moved;
}

void weft__reg_dict_release_if_empty(weft__reg_dict *d, uint32_t id)
{
    if (id < d->nitems && d->items[id].key && d->items[id].n == 0)
        release(d, id);
}
