/*
 * u64map.c -- see u64map.h.  Linear probing keeps lookups cache-friendly;
 * the load factor is kept at or below 1/2.
 */
#include <string.h>

#include "base/u64map.h"
#include "base/util.h"

static size_t slot_of(uint64_t key, size_t cap)
{
    /* Fibonacci hashing spreads sequential and random keys alike. */
    return (size_t)((key * 0x9e3779b97f4a7c15ULL) >> 17) & (cap - 1);
}

void weft__u64map_init(weft__u64map *m, const weft_allocator *a)
{
    memset(m, 0, sizeof *m);
    m->a = a;
}

void weft__u64map_free(weft__u64map *m)
{
    weft__free(m->a, m->slots);
    m->slots = NULL;
    m->cap = m->n = 0;
}

void *weft__u64map_get(const weft__u64map *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->slots[i].val)
            return NULL;
        if (m->slots[i].key == key)
            return m->slots[i].val;
    }
}

static int grow(weft__u64map *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    weft__u64map_slot *ns = weft__calloc(m->a, ncap * sizeof *ns);
    if (!ns)
        return WEFT_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].val)
            continue;
        size_t j = slot_of(m->slots[i].key, ncap);
        while (ns[j].val)
            j = (j + 1) & (ncap - 1);
        ns[j] = m->slots[i];
    }
    weft__free(m->a, m->slots);
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int weft__u64map_put(weft__u64map *m, uint64_t key, void *val)
{
    if ((m->n + 1) * 2 > m->cap && grow(m) < 0)
        return WEFT_ERR_NOMEM;
    size_t i = slot_of(key, m->cap);
    while (m->slots[i].val) {
        if (m->slots[i].key == key) {
            m->slots[i].val = val;
            return 0;
        }
        i = (i + 1) & (m->cap - 1);
    }
    m->slots[i].key = key;
    m->slots[i].val = val;
    m->n++;
    return 0;
}

void *weft__u64map_del(weft__u64map *m, uint64_t key)
{
    if (!m->cap)
        return NULL;
    size_t i = slot_of(key, m->cap);
    while (m->slots[i].val && m->slots[i].key != key)
        i = (i + 1) & (m->cap - 1);
    if (!m->slots[i].val)
        return NULL;
    void *old = m->slots[i].val;
    /* Backward-shift deletion: no tombstones, probes stay short. */
    size_t j = i;
    for (;;) {
        m->slots[i].val = NULL;
        for (;;) {
            j = (j + 1) & (m->cap - 1);
            if (!m->slots[j].val)
                goto done;
            size_t k = slot_of(m->slots[j].key, m->cap);
            /* move j back to i when its home k is not in (i, j] cyclically */
            if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j)))
                break;
        }
        m->slots[i] = m->slots[j];
        i = j;
    }
done:
    m->n--;
    return old;
}
