/*
 * bufpool.c -- the large-buffer cache of bufpool.h.
 */
#include "base/bufpool.h"
#include "base/util.h"

void weft__bufpool_init(weft__bufpool *b, const weft_allocator *a)
{
    b->a = a;
    b->n = 0;
}

void weft__bufpool_free(weft__bufpool *b)
{
    for (size_t i = 0; i < b->n; i++)
        weft__free(b->a, b->slot[i].p);
    b->n = 0;
}

void *weft__bufpool_get(weft__bufpool *b, size_t n)
{
    if (n >= WEFT__BUFPOOL_MIN_BYTES && n <= WEFT__BUFPOOL_MAX_BYTES) {
        for (size_t i = b->n; i-- > 0;) {
            size_t cap = b->slot[i].cap;
            if (cap >= n && cap - n <= n / 4) {
                void *p = b->slot[i].p;
                b->slot[i] = b->slot[--b->n];
                return p;
            }
        }
    }
    return weft__alloc(b->a, n);
}

void weft__bufpool_put(weft__bufpool *b, void *p, size_t cap)
{
    if (!p)
        return;
    if (cap >= WEFT__BUFPOOL_MIN_BYTES && cap <= WEFT__BUFPOOL_MAX_BYTES &&
        b->n < WEFT__BUFPOOL_SLOTS) {
        b->slot[b->n].p = p;
        b->slot[b->n].cap = cap;
        b->n++;
        return;
    }
    weft__free(b->a, p);
}
