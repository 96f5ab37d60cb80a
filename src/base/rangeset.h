/*
 * rangeset.h -- a sorted set of disjoint closed integer ranges [lo, hi].
 * Used for received packet numbers (ACK generation), received byte ranges
 * of a message being reassembled, and delivered message ids (dedup).
 * Bounded: it never holds more than `cap` ranges; when an insertion would
 * exceed the cap, the lowest range is dropped (and counted) -- callers that
 * cannot lose information choose a cap they can afford.
 */
#ifndef WEFT_CORE_RANGESET_H
#define WEFT_CORE_RANGESET_H

#include <stddef.h>
#include <stdint.h>
#include "weft/types.h"

typedef struct weft__range {
    uint64_t lo, hi; /* inclusive */
} weft__range;

typedef struct weft__rangeset {
    weft__range *r;      /* ascending by lo, disjoint and non-adjacent */
    size_t n, alloc;
    size_t cap;          /* max ranges kept */
    uint64_t dropped;    /* ranges dropped at the cap */
    const weft_allocator *a;
} weft__rangeset;

/* cap 0 is taken as 1.  Nothing is allocated until the first add. */
void weft__rset_init(weft__rangeset *s, const weft_allocator *a, size_t cap);
void weft__rset_free(weft__rangeset *s);
/*
 * Adds [lo, hi].  Returns how many integers were newly covered (0 when all
 * were present), or WEFT_ERR_NOMEM (set unchanged), or WEFT_ERR_INVAL when
 * lo > hi.  The count saturates at INT64_MAX (a range can hold 2^64).  At
 * the cap, the count is of what the set holds afterwards: when the new
 * range is itself the lowest and is dropped, 0 is returned and `dropped`
 * incremented.  Merging into existing ranges never allocates or drops.
 */
int64_t weft__rset_add(weft__rangeset *s, uint64_t lo, uint64_t hi);
int weft__rset_contains(const weft__rangeset *s, uint64_t v);
/* 1 when [lo, hi] is fully covered. */
int weft__rset_covers(const weft__rangeset *s, uint64_t lo, uint64_t hi);
/* Removes everything below v (used to advance a floor). */
void weft__rset_drop_below(weft__rangeset *s, uint64_t v);
/* Largest value in the set; 0 when empty. */
uint64_t weft__rset_max(const weft__rangeset *s);

#endif
