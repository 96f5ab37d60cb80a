/*
 * slots.h -- the index array of an open-addressing hash table whose
 * records live elsewhere (an array of members, of queue items): slots hold
 * a record index + 1 (0 = empty), the size is a power of two, collisions
 * probe linearly.  Lookups need the record's key, so they stay with the
 * table; deletion only needs each record's home slot, and is shared here.
 * Users: src/membership/table.c, src/gossip/queue.c.
 */
#ifndef WEFT_BASE_SLOTS_H
#define WEFT_BASE_SLOTS_H

#include <stdint.h>

/* The home slot (hash & mask) of record idx. */
typedef uint32_t (*weft__slots_home_fn)(const void *ctx, uint32_t idx);

/*
 * Empties slot i (mask = size - 1) by backward-shift deletion: later
 * entries of the probe chain move back so that every lookup still finds
 * its record without tombstones (Knuth, TAOCP vol. 3, 6.4, Algorithm R).
 */
void weft__slots_delete(uint32_t *slots, uint32_t mask, uint32_t i,
                        weft__slots_home_fn home, const void *ctx);

#endif
