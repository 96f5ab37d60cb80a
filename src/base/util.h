/*
 * util.h -- internal helpers shared by the core: allocation through the
 * weft_allocator hook (NULL = libc), hex decoding.
 */
#ifndef WEFT_CORE_UTIL_H
#define WEFT_CORE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include "weft/types.h"

extern const weft_allocator weft__libc_allocator;
void *weft__alloc(const weft_allocator *a, size_t n);
void *weft__calloc(const weft_allocator *a, size_t n);
void *weft__realloc(const weft_allocator *a, void *p, size_t n);
void weft__free(const weft_allocator *a, void *p);
/* Decodes 2n hex chars into n bytes; 0 or WEFT_ERR_INVAL. */
int weft__unhex(uint8_t *out, size_t n, const char *hex);

#define WEFT__MIN(a, b) ((a) < (b) ? (a) : (b))
#define WEFT__MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
