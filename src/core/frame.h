/*
 * frame.h -- frames carried inside an encrypted data packet.  See
 * docs/PROTOCOL.md §Frames for the byte layout.  Modelled on QUIC frames
 * (RFC 9000 §12.4, §19), with one MSG frame type carrying a fragment of an
 * application message.  Every decoder here treats its input as hostile.
 */
#ifndef WEFT_CORE_FRAME_H
#define WEFT_CORE_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include "base/rangeset.h"

enum weft__frame_type {
    WEFT__F_PADDING = 0x00,  /* zero bytes to the end of the packet */
    WEFT__F_PING = 0x01,     /* ack-eliciting, no body */
    WEFT__F_ACK = 0x02,      /* ack ranges of packet numbers */
    WEFT__F_MSG = 0x03,      /* message fragment */
    WEFT__F_MAX_DATA = 0x04, /* flow-control credit */
    WEFT__F_CLOSE = 0x05     /* session closed, with a reason */
};

#define WEFT__ACK_RANGES_MAX 64

typedef struct weft__ack_frame {
    uint64_t ack_delay_us;
    size_t nranges;                         /* >= 1 */
    weft__range ranges[WEFT__ACK_RANGES_MAX]; /* descending, disjoint, lo<=hi */
} weft__ack_frame;

typedef struct weft__msg_frame {
    uint8_t flags;          /* bits 0-1 priority, bits 2-3 kind (weft.h) */
    uint64_t msg_id;        /* sequence within the lane (flags & 0x0f) */
    uint64_t total_len;     /* whole message length */
    uint64_t offset;        /* of this fragment */
    const uint8_t *data;    /* points into the decoded packet */
    size_t len;             /* offset + len <= total_len */
} weft__msg_frame;

typedef struct weft__frame {
    int type;               /* enum weft__frame_type */
    union {
        weft__ack_frame ack;
        weft__msg_frame msg;
        uint64_t max_data;
        uint64_t close_reason;
    } u;
} weft__frame;

/*
 * Decodes one frame at p.  Returns bytes consumed (> 0) or WEFT_ERR_PROTO
 * for a truncated, unknown or inconsistent frame (ranges out of order,
 * offset + len > total_len, ...).  PADDING consumes all remaining zero
 * bytes.  An ACK with more ranges than WEFT__ACK_RANGES_MAX keeps the
 * first (newest) WEFT__ACK_RANGES_MAX and skips the rest.
 */
ptrdiff_t weft__frame_decode(const uint8_t *p, size_t len, weft__frame *f);

/* Encoders return bytes written or WEFT_ERR_BUFSMALL (nothing useful is
 * left in p then), or WEFT_ERR_INVAL for arguments no decoder would
 * produce.  put_ack: r[0..nranges) descending, lo <= hi, at least one
 * missing number between neighbours (a rangeset's ranges reversed),
 * nranges >= 1; all of them are written.  put_msg: valid flags and
 * offset + len <= total_len. */
ptrdiff_t weft__frame_put_ping(uint8_t *p, size_t cap);
ptrdiff_t weft__frame_put_ack(uint8_t *p, size_t cap, const weft__range *r,
                              size_t nranges, uint64_t ack_delay_us);
/* Header size of a MSG frame for these values with data length len. */
size_t weft__frame_msg_hdr_len(uint64_t msg_id, uint64_t total_len,
                               uint64_t offset, size_t len);
ptrdiff_t weft__frame_put_msg(uint8_t *p, size_t cap, const weft__msg_frame *m);
ptrdiff_t weft__frame_put_max_data(uint8_t *p, size_t cap, uint64_t v);
ptrdiff_t weft__frame_put_close(uint8_t *p, size_t cap, uint64_t reason);

#endif
