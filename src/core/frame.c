/*
 * frame.c -- encoding and decoding of the frames inside a data packet
 * (byte layout: docs/PROTOCOL.md §5).  The decoder treats every byte as
 * hostile: each varint read is bounds-checked, every subtraction is checked
 * for underflow before it happens, and loops are bounded by the input
 * length.  Encoders check their arguments (programmer errors give
 * WEFT_ERR_INVAL) and the output capacity (WEFT_ERR_BUFSMALL).
 */
#include <string.h>

#include "core/frame.h"
#include "base/varint.h"

/* A cursor over the input; `bad` latches the first failure. */
typedef struct rd {
    const uint8_t *p;
    size_t len, pos;
    int bad;
} rd;

static uint64_t rd_varint(rd *r)
{
    uint64_t v = 0;
    size_t n = r->bad ? 0 : weft__varint_get(r->p + r->pos, r->len - r->pos, &v);
    if (n == 0) {
        r->bad = 1;
        return 0;
    }
    r->pos += n;
    return v;
}

/* A cursor over the output. */
typedef struct wr {
    uint8_t *p;
    size_t cap, pos;
    int bad;
} wr;

static void wr_varint(wr *w, uint64_t v)
{
    size_t n = w->bad ? 0 : weft__varint_put(w->p + w->pos, w->cap - w->pos, v);
    if (n == 0)
        w->bad = 1;
    w->pos += n;
}

static void wr_byte(wr *w, uint8_t b)
{
    if (w->bad || w->pos >= w->cap) {
        w->bad = 1;
        return;
    }
    w->p[w->pos++] = b;
}

static ptrdiff_t wr_done(const wr *w)
{
    return w->bad ? WEFT_ERR_BUFSMALL : (ptrdiff_t)w->pos;
}

/*
 * ACK body (RFC 9000 §19.3, §19.3.1): Largest Acknowledged, ACK Delay,
 * ACK Range Count, First ACK Range, then Range Count x {Gap, ACK Range
 * Length}.  Each step down is checked before subtracting: a peer must not
 * make us wrap below zero.
 */
static int decode_ack(rd *r, weft__ack_frame *a)
{
    uint64_t largest = rd_varint(r);
    a->ack_delay_us = rd_varint(r);
    uint64_t count = rd_varint(r);
    uint64_t first = rd_varint(r);
    if (r->bad || first > largest)
        return WEFT_ERR_PROTO;
    /* Each further range takes at least two bytes: a cheap early bound. */
    if (count > (r->len - r->pos) / 2)
        return WEFT_ERR_PROTO;
    uint64_t smallest = largest - first;
    a->ranges[0].lo = smallest;
    a->ranges[0].hi = largest;
    a->nranges = 1;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t gap = rd_varint(r);
        uint64_t rlen = rd_varint(r);
        if (r->bad)
            return WEFT_ERR_PROTO;
        /* largest_i = smallest - gap - 2, must not go below 0 */
        if (smallest < 2 || gap > smallest - 2)
            return WEFT_ERR_PROTO;
        uint64_t hi = smallest - gap - 2;
        if (rlen > hi)
            return WEFT_ERR_PROTO;
        smallest = hi - rlen;
        if (a->nranges < WEFT__ACK_RANGES_MAX) {
            a->ranges[a->nranges].lo = smallest;
            a->ranges[a->nranges].hi = hi;
            a->nranges++;
        } /* else: older ranges are parsed for length and skipped */
    }
    return 0;
}

static int msg_flags_ok(uint8_t flags)
{
    return (flags & 0xf0) == 0 && (flags & 0x0c) != 0x0c;
}

static int decode_msg(rd *r, weft__msg_frame *m)
{
    if (r->pos >= r->len)
        return WEFT_ERR_PROTO;
    m->flags = r->p[r->pos++];
    if (!msg_flags_ok(m->flags))
        return WEFT_ERR_PROTO;
    m->msg_id = rd_varint(r);
    m->total_len = rd_varint(r);
    m->offset = rd_varint(r);
    uint64_t len = rd_varint(r);
    if (r->bad)
        return WEFT_ERR_PROTO;
    /* overflow-safe form of offset + len <= total_len */
    if (m->offset > m->total_len || len > m->total_len - m->offset)
        return WEFT_ERR_PROTO;
    if (len > r->len - r->pos)
        return WEFT_ERR_PROTO;
    m->data = r->p + r->pos;
    m->len = (size_t)len;
    r->pos += (size_t)len;
    return 0;
}

ptrdiff_t weft__frame_decode(const uint8_t *p, size_t len, weft__frame *f)
{
    if (len == 0)
        return WEFT_ERR_PROTO;
    rd r = {p, len, 1, 0};
    f->type = p[0];
    int rc = 0;
    switch (p[0]) {
    case WEFT__F_PADDING:
        /* PADDING runs to the end of the packet; any non-zero byte after it
         * would be a frame hidden behind padding: reject. */
        for (size_t i = 1; i < len; i++)
            if (p[i] != 0)
                return WEFT_ERR_PROTO;
        return (ptrdiff_t)len;
    case WEFT__F_PING:
        break;
    case WEFT__F_ACK:
        rc = decode_ack(&r, &f->u.ack);
        break;
    case WEFT__F_MSG:
        rc = decode_msg(&r, &f->u.msg);
        break;
    case WEFT__F_MAX_DATA:
        f->u.max_data = rd_varint(&r);
        break;
    case WEFT__F_CLOSE:
        f->u.close_reason = rd_varint(&r);
        break;
    default:
        return WEFT_ERR_PROTO;
    }
    if (rc < 0 || r.bad)
        return WEFT_ERR_PROTO;
    return (ptrdiff_t)r.pos;
}

ptrdiff_t weft__frame_put_ping(uint8_t *p, size_t cap)
{
    wr w = {p, cap, 0, 0};
    wr_byte(&w, WEFT__F_PING);
    return wr_done(&w);
}

ptrdiff_t weft__frame_put_ack(uint8_t *p, size_t cap, const weft__range *r,
                              size_t nranges, uint64_t ack_delay_us)
{
    if (nranges == 0 || r[0].lo > r[0].hi || r[0].hi > WEFT__VARINT_MAX ||
        ack_delay_us > WEFT__VARINT_MAX)
        return WEFT_ERR_INVAL;
    /* Ranges must be descending with at least one missing number between
     * neighbours (gap >= 0 in RFC 9000 §19.3.1 terms). */
    for (size_t i = 1; i < nranges; i++)
        if (r[i].lo > r[i].hi || r[i - 1].lo < 2 || r[i].hi > r[i - 1].lo - 2)
            return WEFT_ERR_INVAL;
    wr w = {p, cap, 0, 0};
    wr_byte(&w, WEFT__F_ACK);
    wr_varint(&w, r[0].hi);
    wr_varint(&w, ack_delay_us);
    wr_varint(&w, nranges - 1);
    wr_varint(&w, r[0].hi - r[0].lo);
    for (size_t i = 1; i < nranges; i++) {
        wr_varint(&w, r[i - 1].lo - r[i].hi - 2); /* gap */
        wr_varint(&w, r[i].hi - r[i].lo);         /* ACK Range Length */
    }
    return wr_done(&w);
}

size_t weft__frame_msg_hdr_len(uint64_t msg_id, uint64_t total_len,
                               uint64_t offset, size_t len)
{
    return 2 + weft__varint_len(msg_id) + weft__varint_len(total_len) +
           weft__varint_len(offset) + weft__varint_len(len);
}

ptrdiff_t weft__frame_put_msg(uint8_t *p, size_t cap, const weft__msg_frame *m)
{
    if (!msg_flags_ok(m->flags) || m->msg_id > WEFT__VARINT_MAX ||
        m->total_len > WEFT__VARINT_MAX || m->offset > m->total_len ||
        m->len > m->total_len - m->offset || (m->len && !m->data))
        return WEFT_ERR_INVAL;
    wr w = {p, cap, 0, 0};
    wr_byte(&w, WEFT__F_MSG);
    wr_byte(&w, m->flags);
    wr_varint(&w, m->msg_id);
    wr_varint(&w, m->total_len);
    wr_varint(&w, m->offset);
    wr_varint(&w, m->len);
    if (w.bad || m->len > w.cap - w.pos)
        return WEFT_ERR_BUFSMALL;
    if (m->len)
        memcpy(w.p + w.pos, m->data, m->len);
    w.pos += m->len;
    return (ptrdiff_t)w.pos;
}

static ptrdiff_t put_type_varint(uint8_t *p, size_t cap, uint8_t type, uint64_t v)
{
    if (v > WEFT__VARINT_MAX)
        return WEFT_ERR_INVAL;
    wr w = {p, cap, 0, 0};
    wr_byte(&w, type);
    wr_varint(&w, v);
    return wr_done(&w);
}

ptrdiff_t weft__frame_put_max_data(uint8_t *p, size_t cap, uint64_t v)
{
    return put_type_varint(p, cap, WEFT__F_MAX_DATA, v);
}

ptrdiff_t weft__frame_put_close(uint8_t *p, size_t cap, uint64_t reason)
{
    return put_type_varint(p, cap, WEFT__F_CLOSE, reason);
}
