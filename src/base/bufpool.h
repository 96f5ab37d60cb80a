/*
 * bufpool.h -- a small cache of large message buffers.
 *
 * A bulk transfer allocates and frees one 64 KiB-class buffer per message
 * on each side (the sender's queued copy, the receiver's reassembly
 * buffer); with glibc these frees often border the heap top, which is then
 * trimmed and faulted in again on the next allocation (perf: ~50k page
 * faults and ~4% of the CPU per GB delivered).  Only buffers of
 * WEFT__BUFPOOL_MIN_BYTES..WEFT__BUFPOOL_MAX_BYTES are kept, at most
 * WEFT__BUFPOOL_SLOTS of them, so the cache never holds more than 2 MiB.
 */
#ifndef WEFT_BASE_BUFPOOL_H
#define WEFT_BASE_BUFPOOL_H

#include <stddef.h>
#include "weft/types.h"

#define WEFT__BUFPOOL_SLOTS 8
#define WEFT__BUFPOOL_MIN_BYTES (16u << 10)
#define WEFT__BUFPOOL_MAX_BYTES (256u << 10)

typedef struct weft__bufpool {
    const weft_allocator *a;
    struct {
        void *p;
        size_t cap;            /* usable bytes (a lower bound) */
    } slot[WEFT__BUFPOOL_SLOTS];
    size_t n;
} weft__bufpool;

void weft__bufpool_init(weft__bufpool *b, const weft_allocator *a);
/* Frees every cached buffer. */
void weft__bufpool_free(weft__bufpool *b);
/* A buffer of at least n bytes, recycled when a cached one fits (within
 * 1/4 of n), else from the allocator; NULL when out of memory. */
void *weft__bufpool_get(weft__bufpool *b, size_t n);
/* Gives back a buffer with at least cap usable bytes (NULL is a no-op):
 * cached when its size is in range and a slot is free, else freed. */
void weft__bufpool_put(weft__bufpool *b, void *p, size_t cap);

#endif
