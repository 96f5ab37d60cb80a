/*
 * slots.c -- backward-shift deletion for open-addressing index arrays
 * (slots.h).
 */
#include "base/slots.h"

void weft__slots_delete(uint32_t *slots, uint32_t mask, uint32_t i,
                        weft__slots_home_fn home, const void *ctx)
{
    uint32_t j = i;
    for (;;) {
        slots[i] = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (!slots[j])
                return;
            uint32_t h = home(ctx, slots[j] - 1);
            /* j stays where it is when its home lies cyclically in (i, j] */
            if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
                continue;
            break;
        }
        slots[i] = slots[j];
        i = j;
    }
}
