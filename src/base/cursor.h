/*
 * cursor.h -- one bounds-checked reader and one writer for every wire
 * layout in weft (packets, frames, membership messages, module messages).
 *
 * Decoders never index a buffer with a bare offset: they read fields in
 * order through a weft__rd, whose error is sticky.  Once a read runs past
 * the end (or a caller marks a field invalid with weft__rd_fail), every
 * later read returns zero / NULL and consumes nothing, so a decoder can
 * read a whole layout and check weft__rd_ok() once at the end, the way a
 * parser of untrusted bytes should be written: no path reads out of bounds
 * whatever the input.  Writers work the same way on a caller's buffer.
 *
 * Integers are little-endian (docs/PROTOCOL.md §Conventions); varints are
 * QUIC's (RFC 9000 §16).  Fixed layouts name their offsets and sizes as
 * constants next to their create/consume functions and check them with
 * _Static_assert; this cursor is what reads them.
 */
#ifndef WEFT_BASE_CURSOR_H
#define WEFT_BASE_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/varint.h"

typedef struct weft__rd {
    const uint8_t *p;  /* start of the buffer */
    size_t len;        /* its length */
    size_t pos;        /* next byte to read */
    int err;           /* sticky: a read failed or a field was refused */
} weft__rd;

static inline void weft__rd_init(weft__rd *r, const void *p, size_t len)
{
    r->p = (const uint8_t *)p;
    r->len = len;
    r->pos = 0;
    r->err = 0;
}

static inline size_t weft__rd_left(const weft__rd *r) { return r->err ? 0 : r->len - r->pos; }
static inline int weft__rd_ok(const weft__rd *r) { return !r->err; }
/* 1 when every byte was consumed without error (a layout that must fill
 * its buffer exactly). */
static inline int weft__rd_done(const weft__rd *r) { return !r->err && r->pos == r->len; }
static inline void weft__rd_fail(weft__rd *r) { r->err = 1; }

/* Takes n bytes: a pointer into the buffer, or NULL (and the error set)
 * when fewer remain.  n = 0 returns the current position. */
static inline const uint8_t *weft__rd_bytes(weft__rd *r, size_t n)
{
    if (r->err || n > r->len - r->pos) {
        r->err = 1;
        return NULL;
    }
    const uint8_t *q = r->p + r->pos;
    r->pos += n;
    return q;
}

static inline int weft__rd_copy(weft__rd *r, void *out, size_t n)
{
    const uint8_t *q = weft__rd_bytes(r, n);
    if (!q)
        return -1;
    if (n)
        memcpy(out, q, n);
    return 0;
}

static inline void weft__rd_skip(weft__rd *r, size_t n) { (void)weft__rd_bytes(r, n); }

static inline uint8_t weft__rd_u8(weft__rd *r)
{
    const uint8_t *q = weft__rd_bytes(r, 1);
    return q ? q[0] : 0;
}

static inline uint16_t weft__rd_u16(weft__rd *r)
{
    const uint8_t *q = weft__rd_bytes(r, 2);
    return q ? weft__get_u16(q) : 0;
}

static inline uint32_t weft__rd_u32(weft__rd *r)
{
    const uint8_t *q = weft__rd_bytes(r, 4);
    return q ? weft__get_u32(q) : 0;
}

static inline uint64_t weft__rd_u64(weft__rd *r)
{
    const uint8_t *q = weft__rd_bytes(r, 8);
    return q ? weft__get_u64(q) : 0;
}

static inline uint64_t weft__rd_varint(weft__rd *r)
{
    uint64_t v = 0;
    if (r->err)
        return 0;
    size_t n = weft__varint_get(r->p + r->pos, r->len - r->pos, &v);
    if (!n) {
        r->err = 1;
        return 0;
    }
    r->pos += n;
    return v;
}

/* The rest of the buffer (possibly empty); *n receives its length. */
static inline const uint8_t *weft__rd_rest(weft__rd *r, size_t *n)
{
    *n = weft__rd_left(r);
    return weft__rd_bytes(r, *n);
}

typedef struct weft__wr {
    uint8_t *p;        /* the caller's buffer */
    size_t cap;        /* its capacity */
    size_t pos;        /* bytes written */
    int err;           /* sticky: a write did not fit */
} weft__wr;

static inline void weft__wr_init(weft__wr *w, void *p, size_t cap)
{
    w->p = (uint8_t *)p;
    w->cap = cap;
    w->pos = 0;
    w->err = 0;
}

static inline int weft__wr_ok(const weft__wr *w) { return !w->err; }
static inline size_t weft__wr_room(const weft__wr *w) { return w->err ? 0 : w->cap - w->pos; }

/* Reserves n bytes and returns where to write them, or NULL (error set). */
static inline uint8_t *weft__wr_take(weft__wr *w, size_t n)
{
    if (w->err || n > w->cap - w->pos) {
        w->err = 1;
        return NULL;
    }
    uint8_t *q = w->p + w->pos;
    w->pos += n;
    return q;
}

static inline void weft__wr_bytes(weft__wr *w, const void *b, size_t n)
{
    uint8_t *q = weft__wr_take(w, n);
    if (q && n)
        memcpy(q, b, n);
}

static inline void weft__wr_zero(weft__wr *w, size_t n)
{
    uint8_t *q = weft__wr_take(w, n);
    if (q && n)
        memset(q, 0, n);
}

static inline void weft__wr_u8(weft__wr *w, uint8_t v)
{
    uint8_t *q = weft__wr_take(w, 1);
    if (q)
        q[0] = v;
}

static inline void weft__wr_u16(weft__wr *w, uint16_t v)
{
    uint8_t *q = weft__wr_take(w, 2);
    if (q)
        weft__put_u16(q, v);
}

static inline void weft__wr_u32(weft__wr *w, uint32_t v)
{
    uint8_t *q = weft__wr_take(w, 4);
    if (q)
        weft__put_u32(q, v);
}

static inline void weft__wr_u64(weft__wr *w, uint64_t v)
{
    uint8_t *q = weft__wr_take(w, 8);
    if (q)
        weft__put_u64(q, v);
}

static inline void weft__wr_varint(weft__wr *w, uint64_t v)
{
    if (w->err || v > WEFT__VARINT_MAX) {
        w->err = 1;
        return;
    }
    size_t n = weft__varint_put(w->p + w->pos, w->cap - w->pos, v);
    if (!n)
        w->err = 1;
    w->pos += n;
}

#endif
