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
#include "base/cursor.h"

static ptrdiff_t wr_done(const weft__wr *w)
{
    return w->err ? WEFT_ERR_BUFSMALL : (ptrdiff_t)w->pos;
}

/*
 * ACK body (RFC 9000 §19.3, §19.3.1): Largest Acknowledged, ACK Delay,
 * ACK Range Count, First ACK Range, then Range Count x {Gap, ACK Range
 * Length}.  Each step down is checked before subtracting: a peer must not
 * make us wrap below zero.
 */
static int decode_ack(weft__rd *r, weft__ack_frame *a)
{
    uint64_t largest = weft__rd_varint(r);
    a->ack_delay_us = weft__rd_varint(r);
    uint64_t count = weft__rd_varint(r);
    uint64_t first = weft__rd_varint(r);
    if (r->err || first > largest)
        return WEFT_ERR_PROTO;
    /* Each further range takes at least two bytes: a cheap early bound. */
    if (count > weft__rd_left(r) / 2)
        return WEFT_ERR_PROTO;
    uint64_t smallest = largest - first;
    a->ranges[0].lo = smallest;
    a->ranges[0].hi = largest;
    a->nranges = 1;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t gap = weft__rd_varint(r);
        uint64_t rlen = weft__rd_varint(r);
        if (r->err)
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
    return (flags & ~WEFT__MSG_FLAGS_MASK) == 0 && (flags & 0x0c) != 0x0c;
}

static int decode_msg(weft__rd *r, weft__msg_frame *m)
{
    m->flags = weft__rd_u8(r);
    uint64_t channel = weft__rd_varint(r);
    m->msg_id = weft__rd_varint(r);
    m->total_len = weft__rd_varint(r);
    m->offset = weft__rd_varint(r);
    uint64_t len = weft__rd_varint(r);
    if (!weft__rd_ok(r) || !msg_flags_ok(m->flags) || channel == 0 ||
        channel > 0xffff)
        return WEFT_ERR_PROTO;
    m->channel = (uint16_t)channel;
    /* overflow-safe form of offset + len <= total_len */
    if (m->offset > m->total_len || len > m->total_len - m->offset ||
        len > weft__rd_left(r))
        return WEFT_ERR_PROTO;
    m->len = (size_t)len;
    m->data = weft__rd_bytes(r, m->len);
    return 0;
}

/* RECEIPT: count, then count x (lane u8, msg_id varint).  Every entry is
 * checked here, so weft__frame_receipt_next cannot fail later. */
static int decode_receipt(weft__rd *r, weft__receipt_frame *f)
{
    f->count = weft__rd_varint(r);
    if (!weft__rd_ok(r) || f->count == 0 || f->count > WEFT__RECEIPTS_MAX)
        return WEFT_ERR_PROTO;
    size_t start = r->pos;
    for (uint64_t i = 0; i < f->count; i++) {
        if (weft__rd_u8(r) > WEFT__MSG_LANE_MASK)
            return WEFT_ERR_PROTO;
        (void)weft__rd_varint(r);
    }
    if (!weft__rd_ok(r))
        return WEFT_ERR_PROTO;
    f->p = r->p + start;
    f->len = r->pos - start;
    return 0;
}

int weft__frame_receipt_next(const weft__receipt_frame *f, size_t *off,
                             uint8_t *lane, uint64_t *msg_id)
{
    if (*off >= f->len)
        return 0;
    weft__rd r;
    weft__rd_init(&r, f->p + *off, f->len - *off);
    *lane = weft__rd_u8(&r);
    *msg_id = weft__rd_varint(&r);
    if (!weft__rd_ok(&r))
        return 0;
    *off += r.pos;
    return 1;
}

ptrdiff_t weft__frame_decode(const uint8_t *p, size_t len, weft__frame *f)
{
    if (len == 0)
        return WEFT_ERR_PROTO;
    weft__rd r;
    weft__rd_init(&r, p, len);
    weft__rd_skip(&r, 1);
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
        f->u.max_data = weft__rd_varint(&r);
        break;
    case WEFT__F_CLOSE:
        f->u.close_reason = weft__rd_varint(&r);
        break;
    case WEFT__F_RECEIPT:
        rc = decode_receipt(&r, &f->u.receipt);
        break;
    default:
        return WEFT_ERR_PROTO;
    }
    if (rc < 0 || !weft__rd_ok(&r))
        return WEFT_ERR_PROTO;
    return (ptrdiff_t)r.pos;
}

size_t weft__frame_count_events(const uint8_t *p, size_t len)
{
    size_t pos = 0, n = 0;
    weft__frame f;
    while (pos < len) {
        ptrdiff_t k = weft__frame_decode(p + pos, len - pos, &f);
        if (k <= 0)
            break;
        pos += (size_t)k;
        if (f.type == WEFT__F_MSG)
            n++;
        else if (f.type == WEFT__F_RECEIPT)
            n += (size_t)f.u.receipt.count;
    }
    return n;
}

ptrdiff_t weft__frame_put_ping(uint8_t *p, size_t cap)
{
    weft__wr w;
    weft__wr_init(&w, p, cap);
    weft__wr_u8(&w, WEFT__F_PING);
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
    weft__wr w;
    weft__wr_init(&w, p, cap);
    weft__wr_u8(&w, WEFT__F_ACK);
    weft__wr_varint(&w, r[0].hi);
    weft__wr_varint(&w, ack_delay_us);
    weft__wr_varint(&w, nranges - 1);
    weft__wr_varint(&w, r[0].hi - r[0].lo);
    for (size_t i = 1; i < nranges; i++) {
        weft__wr_varint(&w, r[i - 1].lo - r[i].hi - 2); /* gap */
        weft__wr_varint(&w, r[i].hi - r[i].lo);         /* ACK Range Length */
    }
    return wr_done(&w);
}

size_t weft__frame_msg_hdr_len(uint16_t channel, uint64_t msg_id,
                               uint64_t total_len, uint64_t offset, size_t len)
{
    return 2 + weft__varint_len(channel) + weft__varint_len(msg_id) + weft__varint_len(total_len) +
           weft__varint_len(offset) + weft__varint_len(len);
}

ptrdiff_t weft__frame_put_msg(uint8_t *p, size_t cap, const weft__msg_frame *m)
{
    if (!msg_flags_ok(m->flags) || m->msg_id > WEFT__VARINT_MAX ||
        m->total_len > WEFT__VARINT_MAX || m->offset > m->total_len ||
        m->len > m->total_len - m->offset || (m->len && !m->data) ||
        m->channel == 0)
        return WEFT_ERR_INVAL;
    weft__wr w;
    weft__wr_init(&w, p, cap);
    weft__wr_u8(&w, WEFT__F_MSG);
    weft__wr_u8(&w, m->flags);
    weft__wr_varint(&w, m->channel);
    weft__wr_varint(&w, m->msg_id);
    weft__wr_varint(&w, m->total_len);
    weft__wr_varint(&w, m->offset);
    weft__wr_varint(&w, m->len);
    weft__wr_bytes(&w, m->data, m->len);
    return wr_done(&w);
}

static ptrdiff_t put_type_varint(uint8_t *p, size_t cap, uint8_t type, uint64_t v)
{
    if (v > WEFT__VARINT_MAX)
        return WEFT_ERR_INVAL;
    weft__wr w;
    weft__wr_init(&w, p, cap);
    weft__wr_u8(&w, type);
    weft__wr_varint(&w, v);
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

ptrdiff_t weft__frame_put_receipt(uint8_t *p, size_t cap, const uint8_t *lanes,
                                  const uint64_t *ids, size_t n)
{
    if (n == 0 || n > WEFT__RECEIPTS_MAX)
        return WEFT_ERR_INVAL;
    weft__wr w;
    weft__wr_init(&w, p, cap);
    weft__wr_u8(&w, WEFT__F_RECEIPT);
    weft__wr_varint(&w, n);
    for (size_t i = 0; i < n; i++) {
        if (lanes[i] > WEFT__MSG_LANE_MASK)
            return WEFT_ERR_INVAL;
        weft__wr_u8(&w, lanes[i]);
        weft__wr_varint(&w, ids[i]);
    }
    return wr_done(&w);
}
