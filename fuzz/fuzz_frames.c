/*
 * fuzz_frames.c -- libFuzzer target for the frame decoder.  The input is a
 * packet payload: frames are decoded in a loop until an error or the end,
 * as the engine does.  Every decoded ACK and MSG frame is re-encoded and
 * decoded again; the result must equal the first decode (abort otherwise),
 * and every decode must stay inside its input (ASan) and consume > 0 bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "core/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[1 << 16];

static void check_ack(const weft__ack_frame *a)
{
    ptrdiff_t n = weft__frame_put_ack(out, sizeof out, a->ranges, a->nranges, a->ack_delay_us);
    if (n <= 0)
        abort(); /* decoded ranges are always valid encoder input */
    weft__frame g;
    if (weft__frame_decode(out, (size_t)n, &g) != n || g.type != WEFT__F_ACK)
        abort();
    if (g.u.ack.ack_delay_us != a->ack_delay_us || g.u.ack.nranges != a->nranges)
        abort();
    for (size_t i = 0; i < a->nranges; i++)
        if (g.u.ack.ranges[i].lo != a->ranges[i].lo || g.u.ack.ranges[i].hi != a->ranges[i].hi)
            abort();
}

static void check_msg(const weft__msg_frame *m)
{
    ptrdiff_t n = weft__frame_put_msg(out, sizeof out, m);
    if (n <= 0)
        abort(); /* data fits: it came from an input this size */
    if ((size_t)n != weft__frame_msg_hdr_len(m->channel, m->msg_id, m->total_len, m->offset,
                                             m->len) + m->len)
        abort();
    weft__frame g;
    if (weft__frame_decode(out, (size_t)n, &g) != n || g.type != WEFT__F_MSG)
        abort();
    const weft__msg_frame *h = &g.u.msg;
    if (h->flags != m->flags || h->channel != m->channel || h->msg_id != m->msg_id || h->total_len != m->total_len ||
        h->offset != m->offset || h->len != m->len || memcmp(h->data, m->data, m->len) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0;
    /* each successful decode consumes >= 1 byte: at most `size` rounds */
    while (pos < size) {
        weft__frame f;
        ptrdiff_t n = weft__frame_decode(data + pos, size - pos, &f);
        if (n < 0)
            break;
        if (n == 0 || (size_t)n > size - pos)
            abort();
        if (f.type == WEFT__F_ACK)
            check_ack(&f.u.ack);
        else if (f.type == WEFT__F_MSG && f.u.msg.len < sizeof out - 64)
            check_msg(&f.u.msg);
        pos += (size_t)n;
    }
    return 0;
}
