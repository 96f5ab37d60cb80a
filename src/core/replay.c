/*
 * replay.c -- anti-replay window (RFC 6479, as in WireGuard §5.4.6).
 *
 * The bitmap is a ring of WEFT__REPLAY_WORDS 64-bit words; counter n lives
 * at bit n % 64 of word (n / 64) % WORDS.  When the highest counter moves
 * forward, only the words it skips over are cleared -- at most the whole
 * ring, however far it jumps -- so both check and update are O(1) amortised
 * and never shift the bitmap.  Because the word holding the highest counter
 * is only partly in the past, the guaranteed window is
 * WINDOW = WEFT__REPLAY_BITS - 64 counters below the highest one; anything
 * older is rejected.
 *
 * check() is side-effect free and runs before authentication; update()
 * runs only after the packet authenticated, and re-checks, so that a forged
 * packet can neither move the window nor mark a counter as seen.
 */
#include "core/replay.h"
#include "weft/weft.h"

#define WINDOW ((uint64_t)WEFT__REPLAY_BITS - 64)

void weft__replay_init(weft__replay *r)
{
    r->top = 0;
    for (int i = 0; i < WEFT__REPLAY_WORDS; i++)
        r->bitmap[i] = 0;
}

static int seen(const weft__replay *r, uint64_t n)
{
    uint64_t w = r->bitmap[(n / 64) % WEFT__REPLAY_WORDS];
    return (int)((w >> (n % 64)) & 1);
}

/*
 * 0 when n is above everything accepted so far, or within the window and
 * not yet seen; WEFT_ERR_REPLAY otherwise.  UINT64_MAX is always rejected
 * (top would wrap); senders stop far before it.
 */
int weft__replay_check(const weft__replay *r, uint64_t n)
{
    if (n == UINT64_MAX)
        return WEFT_ERR_REPLAY;
    if (n >= r->top)
        return 0;
    /* highest accepted = top - 1 >= n */
    if (r->top - 1 - n > WINDOW)
        return WEFT_ERR_REPLAY;
    return seen(r, n) ? WEFT_ERR_REPLAY : 0;
}

int weft__replay_update(weft__replay *r, uint64_t n)
{
    int rc = weft__replay_check(r, n);
    if (rc < 0)
        return rc;
    if (n >= r->top) {
        if (r->top > 0) {
            /* Clear the words strictly after the current one, up to n's. */
            uint64_t cur = (r->top - 1) / 64, next = n / 64;
            uint64_t k = next - cur;
            if (k > WEFT__REPLAY_WORDS)
                k = WEFT__REPLAY_WORDS;
            for (uint64_t i = 1; i <= k; i++)
                r->bitmap[(cur + i) % WEFT__REPLAY_WORDS] = 0;
        }
        r->top = n + 1;
    }
    r->bitmap[(n / 64) % WEFT__REPLAY_WORDS] |= (uint64_t)1 << (n % 64);
    return 0;
}
