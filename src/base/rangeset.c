/*
 * rangeset.c -- sorted set of disjoint, non-adjacent closed ranges.
 *
 * The representation is a dynamic array kept ascending by lo, grown through
 * the allocator.  Lookups are binary searches; an insertion merges every
 * range it overlaps or touches into one, so the invariant "disjoint and
 * non-adjacent" ([1,2] and [3,4] are stored as [1,4]) holds after every
 * call.  The common case for the engine -- packet numbers and fragment
 * offsets arriving in order -- extends or appends at the end in O(1), which
 * is checked before any search.
 *
 * Counts of integers can reach 2^64 (the range [0, UINT64_MAX]), which fits
 * neither int64_t nor uint64_t; spans are computed saturating and the
 * result of weft__rset_add is clamped to INT64_MAX.
 */
#include <string.h>

#include "base/rangeset.h"
#include "base/util.h"

void weft__rset_init(weft__rangeset *s, const weft_allocator *a, size_t cap)
{
    s->r = NULL;
    s->n = 0;
    s->alloc = 0;
    s->cap = cap ? cap : 1;
    s->dropped = 0;
    s->a = a;
}

void weft__rset_free(weft__rangeset *s)
{
    weft__free(s->a, s->r);
    s->r = NULL;
    s->n = s->alloc = 0;
}

/* Number of integers in [lo, hi] (lo <= hi), saturating at UINT64_MAX. */
static uint64_t span(uint64_t lo, uint64_t hi)
{
    uint64_t d = hi - lo;
    return d == UINT64_MAX ? UINT64_MAX : d + 1;
}

static int64_t clamp64(uint64_t v)
{
    return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Makes room for one more range (n < alloc afterwards, unless at cap, where
 * the caller drops one first).  0 or WEFT_ERR_NOMEM. */
static int grow(weft__rangeset *s)
{
    if (s->n < s->alloc)
        return 0;
    size_t na = s->alloc ? s->alloc * 2 : 4;
    if (na > s->cap)
        na = s->cap;
    if (na <= s->alloc)
        return 0; /* at cap: the caller drops a range instead */
    weft__range *nr = weft__realloc(s->a, s->r, na * sizeof *nr);
    if (!nr)
        return WEFT_ERR_NOMEM;
    s->r = nr;
    s->alloc = na;
    return 0;
}

/* First index i with r[i].hi >= v (n when none). */
static size_t first_hi_ge(const weft__rangeset *s, uint64_t v)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->r[mid].hi < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/*
 * Inserts the new range [lo, hi] at index i (no overlap or adjacency with
 * neighbours).  At the cap the lowest range is dropped: when that is the
 * new range itself, nothing is stored and 0 is returned.
 */
static int64_t insert_at(weft__rangeset *s, size_t i, uint64_t lo, uint64_t hi)
{
    if (grow(s) < 0)
        return WEFT_ERR_NOMEM;
    if (s->n >= s->cap) {
        s->dropped++;
        if (i == 0)
            return 0; /* the new range is the lowest: it is the one dropped */
        memmove(&s->r[0], &s->r[1], (i - 1) * sizeof s->r[0]);
        s->r[i - 1].lo = lo;
        s->r[i - 1].hi = hi;
        return clamp64(span(lo, hi));
    }
    memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof s->r[0]);
    s->r[i].lo = lo;
    s->r[i].hi = hi;
    s->n++;
    return clamp64(span(lo, hi));
}

int64_t weft__rset_add(weft__rangeset *s, uint64_t lo, uint64_t hi)
{
    if (lo > hi)
        return WEFT_ERR_INVAL;
    /* Fast path: at or beyond the end (in-order arrival). */
    if (s->n == 0)
        return insert_at(s, 0, lo, hi);
    weft__range *last = &s->r[s->n - 1];
    if (lo > last->hi) {
        if (lo == last->hi + 1) { /* adjacent: extend (last->hi < lo, no wrap) */
            last->hi = hi;
            return clamp64(span(lo, hi));
        }
        return insert_at(s, s->n, lo, hi);
    }
    /* General case.  i: first range that overlaps or touches [lo, hi] from
     * below (hi >= lo - 1); j: first range entirely above hi + 1. */
    size_t i = first_hi_ge(s, lo ? lo - 1 : 0);
    size_t j = i;
    while (j < s->n && (hi == UINT64_MAX || s->r[j].lo <= hi + 1))
        j++;
    /* j - i is usually 0 or 1; a binary search would only pay off for sets
     * far larger than the engine keeps. */
    if (i == j)
        return insert_at(s, i, lo, hi);
    /* Count the integers of [lo, hi] not covered by r[i..j-1]. */
    uint64_t fresh = 0, cur = lo;
    int past = 0; /* cur went beyond UINT64_MAX */
    for (size_t k = i; k < j && !past; k++) {
        if (s->r[k].lo > cur)
            fresh = sat_add(fresh, s->r[k].lo - cur); /* lo <= hi + 1 */
        if (s->r[k].hi == UINT64_MAX)
            past = 1;
        else if (s->r[k].hi + 1 > cur)
            cur = s->r[k].hi + 1;
    }
    if (!past && cur <= hi)
        fresh = sat_add(fresh, span(cur, hi));
    /* Merge r[i..j-1] and [lo, hi] into r[i]. */
    uint64_t nlo = WEFT__MIN(lo, s->r[i].lo);
    uint64_t nhi = WEFT__MAX(hi, s->r[j - 1].hi);
    s->r[i].lo = nlo;
    s->r[i].hi = nhi;
    memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof s->r[0]);
    s->n -= j - i - 1;
    return clamp64(fresh);
}

int weft__rset_contains(const weft__rangeset *s, uint64_t v)
{
    if (s->n == 0)
        return 0;
    const weft__range *last = &s->r[s->n - 1];
    if (v >= last->lo) /* fast path: the newest range */
        return v <= last->hi;
    size_t i = first_hi_ge(s, v);
    return i < s->n && s->r[i].lo <= v;
}

int weft__rset_covers(const weft__rangeset *s, uint64_t lo, uint64_t hi)
{
    if (lo > hi || s->n == 0)
        return 0;
    /* Ranges are non-adjacent, so a covered interval lies in one range. */
    size_t i = first_hi_ge(s, lo);
    return i < s->n && s->r[i].lo <= lo && hi <= s->r[i].hi;
}

void weft__rset_drop_below(weft__rangeset *s, uint64_t v)
{
    size_t i = first_hi_ge(s, v);
    if (i > 0) {
        memmove(&s->r[0], &s->r[i], (s->n - i) * sizeof s->r[0]);
        s->n -= i;
    }
    if (s->n && s->r[0].lo < v)
        s->r[0].lo = v;
}

uint64_t weft__rset_max(const weft__rangeset *s)
{
    return s->n ? s->r[s->n - 1].hi : 0;
}
