/*
 * replay.h -- sliding anti-replay window over 64-bit packet counters
 * (RFC 6479; the WireGuard construction, WireGuard paper §5.4.6).
 * check() before authenticating, update() only after the packet
 * authenticated, so forged packets cannot move the window.
 */
#ifndef WEFT_CORE_REPLAY_H
#define WEFT_CORE_REPLAY_H

#include <stdint.h>

#define WEFT__REPLAY_BITS 8192
#define WEFT__REPLAY_WORDS (WEFT__REPLAY_BITS / 64)

typedef struct weft__replay {
    uint64_t top;                          /* highest counter accepted + 1 */
    uint64_t bitmap[WEFT__REPLAY_WORDS];   /* ring of seen counters */
} weft__replay;

void weft__replay_init(weft__replay *r);
/* 0 when n may be new; WEFT_ERR_REPLAY when seen or more than
 * WEFT__REPLAY_BITS - 64 below the highest accepted counter, and always for
 * UINT64_MAX.  Does not modify r. */
int weft__replay_check(const weft__replay *r, uint64_t n);
/* Marks n as seen; returns 0 or WEFT_ERR_REPLAY (already seen). */
int weft__replay_update(weft__replay *r, uint64_t n);

#endif
