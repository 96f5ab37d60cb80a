/*
 * varint.c -- QUIC variable-length integers (RFC 9000 §16).  The two high
 * bits of the first byte give the length (00=1, 01=2, 10=4, 11=8 bytes);
 * the rest is the value in network byte order, so at most 2^62-1.  The
 * encoder always picks the shortest form; the decoder accepts any form, as
 * RFC 9000 §16 allows (only frame types must be minimal there, and ours
 * are a single byte).
 */
#include "base/varint.h"

size_t weft__varint_len(uint64_t v)
{
    if (v < 0x40)
        return 1;
    if (v < 0x4000)
        return 2;
    if (v < 0x40000000)
        return 4;
    return 8;
}

size_t weft__varint_put(uint8_t *p, size_t cap, uint64_t v)
{
    if (v > WEFT__VARINT_MAX)
        return 0; /* not representable: treat like "does not fit" */
    size_t n = weft__varint_len(v);
    if (cap < n)
        return 0;
    /* length code = log2(n) in the top two bits */
    uint8_t code = n == 1 ? 0x00 : n == 2 ? 0x40 : n == 4 ? 0x80 : 0xc0;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    p[0] |= code;
    return n;
}

size_t weft__varint_get(const uint8_t *p, size_t len, uint64_t *v)
{
    if (len == 0)
        return 0;
    size_t n = (size_t)1 << (p[0] >> 6);
    if (len < n)
        return 0;
    uint64_t x = p[0] & 0x3f;
    for (size_t i = 1; i < n; i++)
        x = (x << 8) | p[i];
    *v = x;
    return n;
}
