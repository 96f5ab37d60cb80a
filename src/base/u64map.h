/*
 * u64map.h -- open-addressing hash map from 64-bit keys to pointers
 * (linear probing, backward-shift deletion, power-of-two capacity).
 * Used for session indices, node ids (first 8 bytes) and message ids.
 * Key 0 is allowed: occupancy is tracked by a non-NULL value.
 */
#ifndef WEFT_CORE_U64MAP_H
#define WEFT_CORE_U64MAP_H

#include <stddef.h>
#include <stdint.h>
#include "weft/types.h"

typedef struct weft__u64map_slot {
    uint64_t key;
    void *val; /* NULL = empty */
} weft__u64map_slot;

typedef struct weft__u64map {
    weft__u64map_slot *slots;
    size_t cap;  /* power of two, or 0 */
    size_t n;
    const weft_allocator *a;
} weft__u64map;

void weft__u64map_init(weft__u64map *m, const weft_allocator *a);
void weft__u64map_free(weft__u64map *m);
void *weft__u64map_get(const weft__u64map *m, uint64_t key);
/* Inserts or replaces (val must be non-NULL).  0 or WEFT_ERR_NOMEM. */
int weft__u64map_put(weft__u64map *m, uint64_t key, void *val);
/* Removes key; returns the old value or NULL. */
void *weft__u64map_del(weft__u64map *m, uint64_t key);

#endif
