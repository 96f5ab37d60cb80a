/*
 * engine_internal.h -- the structures behind weft_engine, shared by
 * engine.c (API, packet dispatch, handshakes, timers, events) and conn.c
 * (the reliable transport of one established session: packetisation,
 * ACKs, loss recovery, congestion control, fragmentation, reassembly,
 * ordering, flow control).  See docs/ARCHITECTURE.md and docs/PROTOCOL.md.
 */
#ifndef WEFT_CORE_ENGINE_INTERNAL_H
#define WEFT_CORE_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "weft/crypto.h"
#include "weft/weft.h"
#include "core/frame.h"
#include "core/noise.h"
#include "base/rangeset.h"
#include "core/recovery.h"
#include "core/replay.h"
#include "base/u64map.h"

struct weft__swim;

/* Packet types (first byte).  docs/PROTOCOL.md §Packets. */
enum {
    WEFT__PKT_HS_INIT = 0x01,
    WEFT__PKT_HS_RESP = 0x02,
    WEFT__PKT_HS_FIN = 0x03,
    WEFT__PKT_DATA = 0x10,
    WEFT__PKT_MEMBERSHIP = 0x20
};

#define WEFT__PROTO_VERSION 1
#define WEFT__MAC1_BYTES 16
#define WEFT__DATA_HDR 13            /* type, receiver index, counter */
#define WEFT__DATA_OVERHEAD (WEFT__DATA_HDR + WEFT_TAG_BYTES)
#define WEFT__HS_PAYLOAD 48          /* ed25519 pk (32) + session id (8) + flags (8) */
#define WEFT__MAX_ACK_DELAY_US 2000  /* we ACK within this (RFC 9000 §13.2.1) */
#define WEFT__ACK_EVERY 2            /* ack-eliciting packets per immediate ACK */
#define WEFT__MAX_PKT 65507          /* largest UDP payload (IPv4) */
#define WEFT__RX_MSGS_MAX 65536      /* messages being reassembled per peer */
#define WEFT__ORDER_AHEAD_MAX (1u << 20) /* msg ids accepted ahead of the next */
#define WEFT__LANES 16               /* flags & 0x0f: priority | kind */
#define WEFT__HS_ATTEMPTS_BACKOFF_MAX 8
/* Recycled large message buffers (weft__buf_get/put): at most this many,
 * each of MIN..MAX bytes, so the cache holds at most 8 x 256 KiB. */
#define WEFT__BUFCACHE_SLOTS 8
#define WEFT__BUFCACHE_MIN_BYTES (16u << 10)
#define WEFT__BUFCACHE_MAX_BYTES (256u << 10)

/* One fragment of an outgoing message, as carried by one sent packet. */
typedef struct weft__frag {
    struct weft__omsg *m;
    uint32_t off, len;
} weft__frag;

/* An outgoing message, owned by the peer until every fragment is acked. */
typedef struct weft__omsg {
    struct weft__omsg *next;   /* in its priority's send queue */
    struct weft__omsg *lnext, *lprev; /* in the peer's live list */
    uint64_t msg_id;
    uint32_t len;
    uint32_t next_off;         /* first byte never sent yet */
    uint32_t frags_out;        /* fragments in flight or queued to resend */
    uint8_t flags;
    uint8_t queued;            /* in the new-data queue */
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
    uint32_t nfrag;
    weft__frag *frags;         /* heap, nfrag entries */
} weft__sent;

/* A message being reassembled or held for ordered delivery. */
typedef struct weft__rxmsg {
    uint64_t msg_id;
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

/* Handshake progress for one peer slot. */
enum {
    HS_NONE = 0,
    HS_INIT_SENT,              /* initiator: msg1 sent, waiting for msg2 */
    HS_RESP_SENT,              /* responder: msg2 sent, waiting for msg3 */
    HS_DONE
};

typedef struct weft__keys {
    uint8_t k_send[32], k_recv[32];
    uint32_t local_idx, remote_idx;
    weft__replay replay;
    uint64_t established_us;
    uint64_t first_pn;         /* our packet number when installed */
    uint64_t first_rx_pn;      /* largest peer packet number then */
    int valid;
} weft__keys;

/* A peer: one remote node (or, before msg2, one address we dial). */
typedef struct weft__peer {
    struct weft_engine *e;
    weft_node_id id;
    int has_id;
    weft_addr addr;
    int in_send_ring;

    /* --- handshake ------------------------------------------------ */
    int hs_state;
    int hs_initiator;
    weft__noise_hs *hs;        /* heap while a handshake runs */
    uint32_t hs_local_idx;     /* index of the session being built */
    uint32_t hs_remote_idx;
    uint8_t *hs_pkt;           /* last handshake packet, for resending */
    size_t hs_pkt_len;
    int hs_pkt_due;            /* resend at next write */
    uint64_t hs_started_us, hs_retry_us;
    int hs_attempts;
    uint64_t hs_sid;           /* session id proposed in this handshake */
    int hs_fin_unconfirmed;    /* initiator: msg3 sent, no reply yet */
    int connect_pending;       /* weft_engine_connect() awaiting result */
    uint64_t hs_rtt_us;        /* msg1 -> msg2 time: first RTT sample */
    uint32_t peer_window;      /* peer's receive window from its payload */

    /* --- keys: current and previous (kept for in-flight packets) --- */
    weft__keys cur, prev;
    uint64_t prev_expire_us;
    uint64_t sid;              /* transport session id (resets on change) */
    int established;
    uint64_t pn_next;          /* next packet number = AEAD counter */

    /* --- loss recovery and congestion control (RFC 9002) --------- */
    weft__rtt rtt;
    weft__cc cc;
    weft__pacer pacer;
    weft__sent *sent;          /* ring, indexed (pn - sent_base) & mask */
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
    struct weft__omsg *live_head, *live_tail; /* every unfinished message */
    uint64_t next_msg_id[WEFT__LANES];
    uint64_t queued_bytes;     /* bytes of messages not fully acked */
    uint64_t fc_sent;          /* first-transmission bytes (flow control) */
    uint64_t fc_limit;         /* peer's MAX_DATA */
    int close_due;
    uint64_t close_reason;
    int closing;

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

    /* --- timer heap --------------------------------------------------- */
    uint64_t deadline_us;
    size_t heap_idx;
} weft__peer;

typedef struct weft__event_q {
    weft_event ev;
    uint8_t *owned;            /* heap data freed after the event is polled */
    int in_rx;                 /* data points into e->rx_buf */
    weft__peer *peer;          /* MESSAGE: credit returned when polled */
} weft__event_q;

struct weft_engine {
    weft_config cfg;
    const weft_allocator *a;
    const weft_crypto *c;
    weft_rand rnd;
    weft_node_id id;
    uint8_t x_sk[32];          /* static X25519 from the identity key */
    uint8_t psk[32];           /* Noise psk from the network key */
    uint8_t mac1_key[32];      /* handshake pre-check key */

    weft__u64map by_idx;       /* local session index -> peer */
    weft__u64map by_id;        /* first 8 bytes of node id -> peer */
    weft__peer **peers;        /* all peers (unordered) */
    size_t npeers, peers_cap;

    weft__peer **heap;         /* min-heap by deadline_us */
    weft__peer **due;          /* scratch for handle_expiry */
    size_t heap_n, heap_cap;

    weft__peer **ring;         /* peers that may have something to send */
    size_t ring_head, ring_n, ring_cap;

    weft__event_q *evq;        /* FIFO of pending events */
    size_t evq_head, evq_n, evq_cap;
    uint8_t *last_owned;       /* data of the last polled event */
    size_t last_owned_len;     /* its length (<= its allocation) */
    struct {
        void *p;
        size_t cap;            /* usable bytes (a lower bound) */
    } bufcache[WEFT__BUFCACHE_SLOTS];
    size_t bufcache_n;
    weft__peer *last_peer;

    uint8_t *rx_buf;           /* decrypted payload of the last packet */
    uint8_t *tx_buf;           /* plaintext scratch for building packets */
    weft__frag *frags;         /* scratch: fragments of the packet built */
    size_t frags_cap;

    /* responder handshake budget (token bucket) */
    double hs_tokens;
    uint64_t hs_tokens_us;

    weft_stats st;
    uint64_t now_us;

    struct weft__swim *swim;   /* membership, NULL when off (member.c) */
    weft_env swim_env;
};

typedef struct weft_engine weft__engine;

/* --- engine.c services used by conn.c --- */
int weft__ev_push(weft__engine *e, int type, weft__peer *p, int err,
                  uint32_t flags, const uint8_t *data, size_t len,
                  uint8_t *owned, int in_rx);
void weft__peer_touch(weft__peer *p);      /* recompute deadline, ring */
void weft__peer_wants_send(weft__peer *p); /* put in the send ring */
/* A buffer of at least n bytes, recycled when a cached one fits (within
 * 1/4 of n), else from the allocator; NULL when out of memory. */
void *weft__buf_get(weft__engine *e, size_t n);
/* Gives back a buffer with at least cap usable bytes (NULL is a no-op):
 * cached when 16..256 KiB and a slot is free, else freed. */
void weft__buf_put(weft__engine *e, void *p, size_t cap);

/* --- member.c: membership inside the engine --- */
int weft__member_init(weft__engine *e, uint64_t now_us);
void weft__member_free(weft__engine *e);
void weft__member_pump(weft__engine *e);

/* --- conn.c: the transport of an established session --- */
int weft__conn_init(weft__peer *p, uint64_t now_us);
void weft__conn_free(weft__peer *p);
/* Reset transport state (new session id): queued messages are kept and
 * renumbered, everything in flight is forgotten. */
void weft__conn_reset(weft__peer *p, uint64_t now_us);
/* Decrypted payload of DATA packet pn. */
int weft__conn_on_packet(weft__peer *p, uint64_t pn, uint8_t *pl, size_t len,
                         uint64_t now_us);
/* Builds the plaintext of the next packet (frames) into out (cap bytes).
 * Returns its length, 0 when nothing may be sent now. *sent receives the
 * ring slot to fill once the packet number is assigned. */
ptrdiff_t weft__conn_build(weft__peer *p, uint8_t *out, size_t cap,
                           uint64_t pn, uint64_t now_us);
int weft__conn_queue(weft__peer *p, const void *msg, size_t len,
                     uint32_t flags, uint64_t now_us);
/* Earliest transport timer (loss, PTO, ACK delay, pacing, keepalive). */
uint64_t weft__conn_deadline(const weft__peer *p);
/* Runs due transport timers; returns 1 when the peer should be reported
 * unreachable. */
int weft__conn_on_timer(weft__peer *p, uint64_t now_us);
/* 1 when conn_build would produce a packet now (ignoring pacing). */
int weft__conn_has_output(const weft__peer *p, uint64_t now_us);
/* The application consumed len bytes of a delivered message. */
void weft__conn_consumed(weft__peer *p, size_t len);

#endif
