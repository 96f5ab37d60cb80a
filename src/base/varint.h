/*
 * varint.h -- QUIC variable-length integers (RFC 9000 §16) and little
 * helpers for bounds-checked reading and writing of byte buffers.
 */
#ifndef WEFT_CORE_VARINT_H
#define WEFT_CORE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define WEFT__VARINT_MAX ((uint64_t)0x3fffffffffffffffULL)

/* Bytes needed to encode v (1, 2, 4 or 8); v must be <= WEFT__VARINT_MAX. */
size_t weft__varint_len(uint64_t v);
/* Writes v; returns bytes written or 0 when cap is too small. */
size_t weft__varint_put(uint8_t *p, size_t cap, uint64_t v);
/* Reads a varint; returns bytes consumed or 0 when truncated. */
size_t weft__varint_get(const uint8_t *p, size_t len, uint64_t *v);

/* Little-endian fixed-width helpers (no bounds checks: caller checked). */
static inline void weft__put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void weft__put_u32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void weft__put_u64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint16_t weft__get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t weft__get_u32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static inline uint64_t weft__get_u64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }

#endif
