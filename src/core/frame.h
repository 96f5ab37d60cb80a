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
    WEFT__F_CLOSE = 0x05,    /* session closed, with a reason */
    WEFT__F_RECEIPT = 0x06   /* messages handed to the application */
};

/* MSG flags byte: bits 0-1 priority, 2-3 kind (never 0x0c), bit 4 receipt
 * requested; bits 5-7 zero. */
#define WEFT__MSG_FLAGS_MASK 0x1f
#define WEFT__MSG_LANE_MASK 0x0f
#define WEFT__MSG_RECEIPT 0x10
#define WEFT__RECEIPTS_MAX 64     /* per RECEIPT frame (decoder's cap too) */

#define WEFT__ACK_RANGES_MAX 64

typedef struct weft__ack_frame {
    uint64_t ack_delay_us;
    size_t nranges;                         /* >= 1 */
    weft__range ranges[WEFT__ACK_RANGES_MAX]; /* descending, disjoint, lo<=hi */
} weft__ack_frame;

typedef struct weft__msg_frame {
    uint8_t flags;          /* WEFT__MSG_* bits */
    uint16_t channel;       /* 1..0xffff (docs/PROTOCOL.md §Channels) */
    uint64_t msg_id;        /* sequence within the lane (flags & 0x0f) */
    uint64_t total_len;     /* whole message length */
    uint64_t offset;        /* of this fragment */
    const uint8_t *data;    /* points into the decoded packet */
    size_t len;             /* offset + len <= total_len */
} weft__msg_frame;

/* RECEIPT: count entries of (lane u8, msg_id varint), already checked by
 * the decoder; walk them with weft__frame_receipt_next. */
typedef struct weft__receipt_frame {
    const uint8_t *p;       /* first entry, inside the decoded packet */
    size_t len;             /* bytes of all entries */
    uint64_t count;         /* 1..WEFT__RECEIPTS_MAX */
} weft__receipt_frame;

typedef struct weft__frame {
    int type;               /* enum weft__frame_type */
    union {
        weft__ack_frame ack;
        weft__msg_frame msg;
        weft__receipt_frame receipt;
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

/* Upper bound of the events a packet's frames can produce (MSG frames
 * plus RECEIPT entries), for reserving room before it is processed.  Stops
 * at the first undecodable frame. */
size_t weft__frame_count_events(const uint8_t *p, size_t len);

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
size_t weft__frame_msg_hdr_len(uint16_t channel, uint64_t msg_id,
                               uint64_t total_len, uint64_t offset, size_t len);
ptrdiff_t weft__frame_put_msg(uint8_t *p, size_t cap, const weft__msg_frame *m);
ptrdiff_t weft__frame_put_max_data(uint8_t *p, size_t cap, uint64_t v);
ptrdiff_t weft__frame_put_close(uint8_t *p, size_t cap, uint64_t reason);
/* RECEIPT with n (1..WEFT__RECEIPTS_MAX) entries: lanes[i] (0..15) and
 * ids[i]. */
ptrdiff_t weft__frame_put_receipt(uint8_t *p, size_t cap, const uint8_t *lanes,
                                  const uint64_t *ids, size_t n);
/* Next entry of a decoded RECEIPT frame; *off starts at 0.  Returns 1 with
 * the entry, 0 after the last. */
int weft__frame_receipt_next(const weft__receipt_frame *r, size_t *off,
                             uint8_t *lane, uint64_t *msg_id);

#endif
