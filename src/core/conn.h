/*
 * conn.h -- the reliable transport of one session (conn.c).
 *
 * A weft__conn knows nothing of the engine that owns it: it is given a
 * weft__conn_env at init (allocator, limits, a buffer pool, counters to
 * bump, and an event sink for delivered messages and message outcomes)
 * and otherwise returns results to its caller.  It never frees itself and
 * never reaches into its owner.  Sealing, packet numbers on the wire and
 * keys are the engine's; the conn builds and consumes plaintext frames.
 */
#ifndef WEFT_CORE_CONN_H
#define WEFT_CORE_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "weft/engine.h"
#include "base/bufpool.h"
#include "base/rangeset.h"
#include "base/u64map.h"
#include "core/frame.h"
#include "core/recovery.h"

#define WEFT__DATA_HDR 13            /* type, receiver index, counter */
#define WEFT__DATA_OVERHEAD (WEFT__DATA_HDR + 16)
#define WEFT__MAX_ACK_DELAY_US 2000  /* we ACK within this (RFC 9000 §13.2.1) */
#define WEFT__ACK_EVERY 2            /* ack-eliciting packets per immediate ACK */
#define WEFT__RX_MSGS_MAX 65536      /* messages being reassembled per peer */
#define WEFT__ORDER_AHEAD_MAX (1u << 20) /* msg ids accepted ahead of the next */
#define WEFT__LANES 16               /* flags & 0x0f: priority | kind */
#define WEFT__RCPT_PENDING_MAX 65536 /* receipts we owe, per session */

struct weft__conn;

/* One fragment of an outgoing message, as carried by one sent packet. */
typedef struct weft__frag {
    struct weft__omsg *m;
    uint32_t off, len;
} weft__frag;

/* A receipt carried by a packet: message msg_id of lane was delivered. */
typedef struct weft__rcpt {
    uint64_t msg_id;
    uint8_t lane;
} weft__rcpt;

/* An outgoing message, owned by the conn until every fragment is acked. */
typedef struct weft__omsg {
    struct weft__omsg *next;   /* in its priority's send queue */
    struct weft__omsg *lnext, *lprev; /* in the conn's live list */
    uint64_t msg_id;           /* sequence within its lane (wire) */
    uint64_t app_id;           /* weft_engine_send's id (outcome events) */
    uint32_t len;
    uint32_t next_off;         /* first byte never sent yet */
    uint32_t frags_out;        /* fragments in flight or queued to resend */
    uint16_t channel;
    uint8_t flags;             /* lane | WEFT_SEND_RECEIPT */
    uint8_t queued;            /* in the new-data queue */
    uint8_t receipt_got;       /* the receipt overtook the last ACK */
    uint8_t data[];
} weft__omsg;

/* A sent packet awaiting acknowledgement (RFC 9002 §A.1.1). */
typedef struct weft__sent {
    uint64_t sent_us;
    uint32_t size;
    uint8_t state;             /* 0 empty/acked/lost, 1 outstanding */
    uint8_t ack_eliciting;
    uint8_t in_flight;         /* counts toward cwnd */
    uint8_t mtu_probe;         /* a PMTU probe (RFC 8899): loss is no signal */
    uint8_t had_max_data;
    uint32_t nfrag, nrcpt;
    weft__frag *frags;         /* heap, nfrag entries */
    weft__rcpt *rcpts;         /* heap, nrcpt entries */
} weft__sent;

/* A message being reassembled or held for ordered delivery. */
typedef struct weft__rxmsg {
    uint64_t msg_id;
    uint16_t channel;
    uint8_t flags;
    uint8_t complete;
    uint32_t total_len;
    uint64_t have;             /* bytes received */
    weft__rangeset got;
    uint8_t *buf;
} weft__rxmsg;

typedef struct weft__lane_rx {
    uint64_t next_id;          /* ordered: next to deliver; unordered: floor */
    weft__rangeset delivered;  /* unordered: ids delivered at or above floor */
    weft__u64map pending;      /* msg_id -> weft__rxmsg */
} weft__lane_rx;

/* A whole message handed to the sink. */
typedef struct weft__delivery {
    uint16_t channel;
    uint8_t flags;             /* lane | WEFT_SEND_RECEIPT */
    uint64_t msg_id;           /* lane sequence (for the receipt) */
    const uint8_t *data;
    size_t len;
    uint8_t *owned;            /* heap buffer (from the pool) or NULL */
    int in_rx;                 /* data points into the decrypted packet */
} weft__delivery;

/* What a conn is given.  Shared by every conn of an engine. */
typedef struct weft__conn_env {
    const weft_allocator *a;
    const weft_config *cfg;    /* limits and timers (read only) */
    weft__bufpool *pool;       /* message buffers */
    weft_stats *st;            /* counters the transport bumps */
    weft__frag **scratch;      /* fragments of the packet being built */
    size_t *scratch_cap;
    /* A message is complete.  Returns 1 when it was consumed at once
     * (credit returns now), 0 when the application holds it (credit
     * returns with weft__conn_consumed), or WEFT_ERR_NOMEM.  Owned
     * buffers pass to the sink in every case. */
    int (*deliver)(void *ctx, struct weft__conn *c, const weft__delivery *d);
    /* Message app_id ended: err 0 = receipt arrived, else why it failed. */
    void (*outcome)(void *ctx, struct weft__conn *c, uint64_t app_id,
                    uint16_t channel, int err);
    void *ctx;
} weft__conn_env;

typedef struct weft__conn {
    const weft__conn_env *env;
    int live;                  /* weft__conn_init ran */
    uint64_t pn_next;          /* next packet number = AEAD counter */

    /* --- loss recovery and congestion control (RFC 9002) --------- */
    weft__rtt rtt;
    weft__cc cc;
    weft__pacer pacer;
    weft__sent *sent;          /* ring, indexed pn & (sent_cap - 1) */
    size_t sent_cap;           /* power of two */
    uint64_t sent_base;        /* lowest pn still in the ring */
    uint64_t largest_acked;
    int has_largest_acked;
    uint64_t loss_time_us;     /* earliest time-threshold loss, 0 none */
    uint64_t last_ack_eliciting_us;
    uint32_t pto_count;

    /* --- ACK generation -------------------------------------------- */
    weft__rangeset rx_pns;     /* packet numbers received (for ACK) */
    uint64_t rx_largest_us;    /* when the largest pn arrived */
    uint32_t unacked_eliciting;/* ack-eliciting since our last ACK */
    uint64_t ack_due_us;       /* delayed-ACK timer, 0 = none */
    int ack_needed;            /* something new to acknowledge */
    int ack_now;               /* send an ACK at the next write */
    int ping_due;              /* keepalive or probe PING */
    int probes_due;            /* PTO probes that may bypass cwnd */

    /* --- send side -------------------------------------------------- */
    weft__omsg *q_head[WEFT_PRIO_COUNT], *q_tail[WEFT_PRIO_COUNT];
    weft__frag *rtx_q[WEFT_PRIO_COUNT]; /* rings of fragments to resend */
    size_t rtx_head[WEFT_PRIO_COUNT], rtx_n[WEFT_PRIO_COUNT],
        rtx_cap[WEFT_PRIO_COUNT];
    weft__omsg *live_head, *live_tail; /* every unfinished message */
    uint32_t live_n;
    uint64_t next_msg_id[WEFT__LANES];
    uint64_t queued_bytes;     /* bytes of messages not fully acked */
    uint64_t fc_sent;          /* first-transmission bytes (flow control) */
    uint64_t fc_limit;         /* peer's MAX_DATA */
    uint32_t peer_window;      /* the peer's window from the handshake */
    int close_due;
    uint64_t close_reason;
    weft__u64map awaiting;     /* lane << 56 | msg_id -> (app_id << 16 |
                                  channel) as a pointer-sized value:
                                  acknowledged, receipt not back yet */

    /* --- receipts we owe the peer ------------------------------------ */
    weft__rcpt *rcpt_q;        /* FIFO of receipts to send */
    size_t rcpt_head, rcpt_n, rcpt_cap;
    size_t rcpt_held;          /* slots held for messages the application
                                  has not taken yet (rcpt_cap covers them) */

    /* --- receive side ----------------------------------------------- */
    weft__lane_rx lanes[WEFT__LANES];
    uint32_t rx_msgs;          /* entries across lane pending maps */
    uint64_t rx_buffered;      /* bytes held in reassembly/holdback */
    uint64_t rx_consumed;      /* bytes handed to the application */
    uint64_t rx_limit_sent;    /* last MAX_DATA we advertised */
    int max_data_due;

    /* --- path MTU (RFC 8899, simplified) ---------------------------- */
    uint32_t mtu;              /* current UDP payload size */
    int mtu_probe_idx;         /* next candidate, -1 done */
    int mtu_probe_due;
    uint64_t mtu_probe_pn;
    int mtu_probe_out;
    int mtu_probe_losses;      /* consecutive losses at this size */

    /* --- liveness ---------------------------------------------------- */
    uint64_t last_recv_us, last_send_us, last_app_us;
} weft__conn;

/* Binds a zeroed conn to env; messages may be queued from now on (before
 * the session exists).  Never fails. */
void weft__conn_bind(weft__conn *c, const weft__conn_env *env);
/* Starts the transport of a new session: hs_rtt_us is the handshake's RTT
 * sample (0 none), peer_window the receive window the peer announced.
 * Queued messages are kept.  Returns 0 or WEFT_ERR_NOMEM (nothing
 * changed). */
__attribute__((warn_unused_result))
int weft__conn_start(weft__conn *c, uint64_t hs_rtt_us, uint32_t peer_window,
                     uint64_t now_us);
/* Frees everything; every unfinished message and every receipt still
 * awaited ends with outcome err.  The conn is zeroed and unbound after. */
void weft__conn_free(weft__conn *c, int err);
/* A new transport session with the same peer (new session id): queued and
 * unfinished messages are kept and renumbered, everything in flight is
 * forgotten, receipts still awaited fail with WEFT_ERR_PEER_RESTARTED.
 * Returns 0 or WEFT_ERR_NOMEM. */
__attribute__((warn_unused_result))
int weft__conn_reset(weft__conn *c, uint32_t peer_window, uint64_t now_us);

/* Decrypted payload of DATA packet pn.  Returns 0, WEFT_ERR_PROTO (the
 * packet is not acknowledged), WEFT_ERR_PEER_CLOSED (a CLOSE frame: the
 * caller tears the session down), WEFT_ERR_AGAIN (refused for lack of
 * buffer: not acknowledged, the sender resends) or WEFT_ERR_NOMEM. */
int weft__conn_on_packet(weft__conn *c, uint64_t pn, uint8_t *pl, size_t len,
                         uint64_t now_us);
/* Builds the plaintext of packet pn (frames) into out (cap bytes).
 * Returns its length, 0 when nothing may be sent now, WEFT_ERR_NOMEM. */
ptrdiff_t weft__conn_build(weft__conn *c, uint8_t *out, size_t cap, uint64_t pn,
                           uint64_t now_us);
/* Queues a message (copied).  Returns 0, WEFT_ERR_TOO_BIG,
 * WEFT_ERR_TOO_BIG_DATAGRAM, WEFT_ERR_AGAIN, WEFT_ERR_NOMEM. */
int weft__conn_queue(weft__conn *c, uint16_t channel, const void *msg, size_t len,
                     uint32_t flags, uint64_t app_id, uint64_t now_us);
/* Earliest transport timer (loss, PTO, ACK delay, pacing, keepalive). */
uint64_t weft__conn_deadline(const weft__conn *c, uint64_t now_us);
/* Runs due transport timers; returns 1 when the peer should be reported
 * unreachable. */
int weft__conn_on_timer(weft__conn *c, uint64_t now_us);
/* 1 when conn_build would produce a packet now. */
int weft__conn_has_output(const weft__conn *c, uint64_t now_us);
/* The application consumed len bytes of a delivered message (flow-control
 * credit).  Returns 1 when the conn now has output (a MAX_DATA). */
int weft__conn_consumed(weft__conn *c, size_t len);
/* The application took message msg_id of lane that asked for a receipt.
 * Never allocates (the slot was held when the message completed).  Returns
 * 1 when the conn now has output, 0 when the session is gone. */
int weft__conn_receipt(weft__conn *c, uint8_t lane, uint64_t msg_id);
/* Largest packet number received, for rekeying accounting. */
uint64_t weft__conn_rx_largest(const weft__conn *c);
/* Requests a PING (session confirmation, keepalive). */
static inline void weft__conn_ping(weft__conn *c) { c->ping_due = 1; }
/* Requests a CLOSE frame as the next (and last) frame sent. */
static inline void weft__conn_close(weft__conn *c, uint64_t reason)
{
    c->mtu_probe_due = 0; /* the next packet is the CLOSE, not a probe */
    c->close_due = 1;
    c->close_reason = reason;
}

#endif
