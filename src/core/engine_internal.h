/*
 * engine_internal.h -- the structures behind weft_engine, shared by the
 * files of the kernel:
 *
 *   engine.c     API entry points, datagram dispatch, peers, timers, output
 *   handshake.c  Noise_XXpsk3 handshakes, cookies, keys and rekeying
 *   host.c       protocol modules, the event queue, the module inbox
 *
 * The per-session transport is conn.c (core/conn.h); it does not see
 * these structures.  A peer is split along its real parts: identity and
 * address, the handshake in progress, the session keys, the transport,
 * and its place in the engine's schedule.  Byte layouts: docs/PROTOCOL.md.
 */
#ifndef WEFT_CORE_ENGINE_INTERNAL_H
#define WEFT_CORE_ENGINE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "weft/crypto.h"
#include "weft/engine.h"
#include "weft/module.h"
#include "base/bufpool.h"
#include "base/u64map.h"
#include "core/conn.h"
#include "core/noise.h"
#include "core/replay.h"

#define WEFT__WUR __attribute__((warn_unused_result))

/* Packet types (first byte).  docs/PROTOCOL.md §Packets.  0x20..0x7f
 * belong to modules. */
enum {
    WEFT__PKT_HS_INIT = 0x01,
    WEFT__PKT_HS_RESP = 0x02,
    WEFT__PKT_HS_FIN = 0x03,
    WEFT__PKT_COOKIE = 0x04,
    WEFT__PKT_DATA = 0x10
};

#define WEFT__PROTO_VERSION 2
#define WEFT__MAC_BYTES 16
#define WEFT__HS_PAYLOAD 48          /* ed25519 pk (32) + session id (8) + flags (8) */
#define WEFT__MAX_PKT 65507          /* largest UDP payload (IPv4) */
#define WEFT__ONESHOT_MAX 16         /* sealed one-off datagrams waiting */
#define WEFT__WRONG_MESH_MEMO 16     /* addresses recently reported */
#define WEFT__WRONG_MESH_REPORT_US 10000000ull

/* Handshake progress for one peer slot. */
enum {
    HS_NONE = 0,
    HS_INIT_SENT,              /* initiator: msg1 sent, waiting for msg2 */
    HS_RESP_SENT,              /* responder: msg2 sent, waiting for msg3 */
    HS_DONE
};

/* One direction pair of session keys with its indices. */
typedef struct weft__keys {
    uint8_t k_send[32], k_recv[32];
    uint32_t local_idx, remote_idx;
    weft__replay replay;
    uint64_t established_us;
    uint64_t first_pn;         /* our packet number when installed */
    uint64_t first_rx_pn;      /* largest peer packet number then */
    int valid;
} weft__keys;

/* A handshake in progress (initiator or responder). */
typedef struct weft__hs {
    int state;                 /* HS_* */
    int initiator;             /* we sent msg1 */
    weft__noise_hs *noise;     /* heap while a handshake runs */
    uint32_t local_idx;        /* index of the session being built */
    uint32_t remote_idx;
    uint8_t *pkt;              /* last handshake packet, for resending */
    size_t pkt_len;
    int pkt_due;               /* resend at next write */
    uint64_t started_us;       /* msg1 sent / received */
    uint64_t retry_us;         /* next resend (initiator) or expiry */
    uint64_t resent_us;        /* responder: last msg2 resend */
    int attempts;
    uint64_t sid;              /* session id proposed in this handshake */
    int fin_unconfirmed;       /* initiator: msg3 sent, no reply yet */
    uint64_t rtt_us;           /* msg1 -> msg2 time: first RTT sample */
    uint8_t cookie[16];        /* initiator: the responder's cookie */
    uint64_t cookie_us;        /* when it arrived, 0 = none */
    uint8_t init_mac1[16];     /* initiator: mac1 of our last msg1 */
} weft__hs;

/* A peer: one remote node (or, before msg2, one address we dial). */
typedef struct weft__peer {
    /* --- who and where ------------------------------------------------- */
    weft_node_id id;
    int has_id;
    weft_addr addr;
    int connect_pending;       /* weft_engine_connect awaits an outcome */
    int half_open;             /* responder slot counted in e->half_open */

    /* --- handshake and keys ---------------------------------------------- */
    weft__hs hs;
    weft__keys cur, prev;      /* current, and previous (in-flight packets) */
    uint64_t prev_expire_us;
    uint64_t sid;              /* transport session id (resets on change) */
    int established;
    uint32_t peer_window;      /* peer's receive window from its payload */

    /* --- the transport --------------------------------------------------- */
    weft__conn conn;

    /* --- schedule ---------------------------------------------------------- */
    uint64_t deadline_us;      /* earliest timer: its key in the heap */
    size_t heap_idx;
    int in_send_ring;
} weft__peer;

/* A queued event, and what is needed to finish it when polled. */
typedef struct weft__event_q {
    weft_event ev;
    uint8_t *owned;            /* heap data freed (to the pool) after poll */
    size_t owned_cap;
    weft__peer *peer;          /* MESSAGE: credit (and receipt) on poll */
    uint64_t lane_msg_id;      /* MESSAGE with receipt: the lane sequence */
    uint8_t lane;
    uint8_t receipt;           /* send a receipt when polled */
    uint8_t in_rx;             /* data points into e->rx_buf */
    uint8_t notified;          /* modules were told */
    int8_t src;                /* emitting module, -1 = the engine */
} weft__event_q;

/* A message for a module, held until the packet that carried it is done. */
typedef struct weft__inbox {
    weft_node_id from;
    uint16_t channel;
    uint8_t flags;
    uint8_t in_rx;
    int mod;
    const uint8_t *data;
    size_t len;
    uint8_t *owned;
    size_t owned_cap;
    uint64_t lane_msg_id;      /* for the receipt, when asked */
} weft__inbox;

typedef struct weft__module {
    const weft_module_ops *ops;
    void *m;
} weft__module;

typedef struct weft__oneshot {
    weft_addr to;
    size_t len;
    uint8_t *buf;
} weft__oneshot;

struct weft_engine {
    weft_config cfg;
    weft_env env;              /* our copy */
    const weft_allocator *a;
    const weft_crypto *c;
    weft_node_id id;
    uint8_t x_sk[32];          /* static X25519 from the identity key */
    uint8_t psk[32];           /* Noise psk from the network key */
    uint8_t mac1_key[32];      /* handshake pre-check key */
    uint8_t cookie_key[32];    /* seals cookie replies (network key) */
    uint8_t cookie_secret[32]; /* responder's cookie secret, rotating */
    uint64_t cookie_secret_us; /* when it was drawn */

    weft__u64map by_idx;       /* local session index -> peer */
    weft__u64map by_id;        /* first 8 bytes of node id -> peer */
    weft__peer **peers;        /* all peers (unordered) */
    size_t npeers, peers_cap;
    size_t nestablished;

    weft__peer **heap;         /* min-heap by deadline_us */
    weft__peer **due;          /* scratch for handle_expiry */
    size_t heap_n, heap_cap;

    weft__peer **ring;         /* peers that may have something to send */
    size_t ring_head, ring_n, ring_cap;

    weft__event_q *evq;        /* FIFO of pending events */
    size_t evq_head, evq_n, evq_cap;
    size_t evq_unnotified;     /* trailing events modules were not told of */
    uint8_t *last_owned;       /* data of the last polled event */
    size_t last_owned_cap;

    weft__inbox *inbox;        /* module messages of the current packet */
    size_t inbox_n, inbox_cap;

    weft__oneshot oneshot[WEFT__ONESHOT_MAX];
    size_t oneshot_head, oneshot_n;

    weft__module mods[WEFT_MODULES_MAX];
    size_t nmods;
    int8_t pkt_owner[WEFT_PKT_MODULE_MAX + 1]; /* module index, -1 none */
    int app_channel_mods;      /* a module owns channels >= WEFT_CHANNEL_APP */

    weft__bufpool pool;
    weft__conn_env conn_env;
    weft__frag *scratch;       /* conn's fragment scratch (conn_env) */
    size_t scratch_cap;

    uint8_t *rx_buf;           /* decrypted payload of the last packet */
    uint8_t *tx_buf;           /* plaintext scratch for building packets */

    /* responder handshake budget (token bucket) */
    double hs_tokens;
    uint64_t hs_tokens_us;
    uint32_t half_open;        /* responder peers waiting for msg3 */

    struct {
        weft_addr addr;
        uint64_t at_us;
    } wrong_mesh[WEFT__WRONG_MESH_MEMO];
    size_t wrong_mesh_pos;

    uint64_t next_app_id;      /* weft_engine_send ids */
    int api_depth;             /* nesting of entry points */
    int wake_pending;          /* an API call left output: wake the driver */

    weft_stats st;
    uint64_t now_us;
};

typedef struct weft_engine weft__engine;

/* --- peers.c ------------------------------------------------------------ */
void weft__heap_push(weft__engine *e, weft__peer *p);
void weft__heap_remove(weft__engine *e, weft__peer *p);
weft__peer *weft__peer_new(weft__engine *e, const weft_addr *addr);
void weft__peer_free(weft__engine *e, weft__peer *p, int err);
weft__peer *weft__peer_find(const weft__engine *e, const weft_node_id *id);
/* Recomputes the peer's deadline and puts it in the send ring when it has
 * output. */
void weft__peer_touch(weft__engine *e, weft__peer *p);
void weft__peer_wants_send(weft__engine *e, weft__peer *p);
/* Session gone: the event (PEER_DOWN or HANDSHAKE_FAILED) and the free. */
void weft__peer_down(weft__engine *e, weft__peer *p, int why);
uint64_t weft__id_key(const weft_node_id *id);
/* Queues a sealed one-off datagram (copied).  0, or the drop is counted. */
int weft__oneshot_push(weft__engine *e, const weft_addr *to, const uint8_t *pkt,
                       size_t len);

void weft__hs_clear(weft__engine *e, weft__peer *p);
uint64_t weft__hs_deadline(const weft__engine *e, const weft__peer *p);
void weft__keys_wipe(weft__engine *e, weft__keys *k);

/* --- handshake.c -------------------------------------------------------- */
int weft__hs_keys_init(weft__engine *e);
WEFT__WUR int weft__hs_start(weft__engine *e, weft__peer *p, uint64_t now_us);
/* A handshake packet (type 0x01..0x04) arrived. */
int weft__hs_recv(weft__engine *e, const weft_addr *from, const uint8_t *pkt,
                  size_t len, uint64_t now_us);
/* Runs the handshake timers of p.  Returns 1 when p was freed. */
int weft__hs_timers(weft__engine *e, weft__peer *p, uint64_t now_us);
void weft__hs_maybe_rekey(weft__engine *e, weft__peer *p, uint64_t now_us);

/* --- events.c ----------------------------------------------------------- */
/* Queues an engine event about p (may be NULL).  Returns the entry (to
 * fill the payload), or NULL when memory ran out (counted). */
weft__event_q *weft__ev_push(weft__engine *e, int type, const weft__peer *p, int err);
/* Makes room for n more events.  0 or NOMEM. */
WEFT__WUR int weft__ev_reserve(weft__engine *e, size_t n);
/* Events still pointing into rx_buf get a copy.  0 or NOMEM. */
WEFT__WUR int weft__ev_detach_rx(weft__engine *e);
/* Frees the data of the last polled event. */
void weft__ev_release_last(weft__engine *e);
/* Drops references to p from queued events (it is being freed). */
void weft__ev_forget_peer(weft__engine *e, const weft__peer *p);

/* --- host.c ------------------------------------------------------------- */
void weft__host_init(weft__engine *e);
void weft__host_free(weft__engine *e);
/* Makes room for n more module-inbox entries.  0 or NOMEM. */
WEFT__WUR int weft__host_inbox_reserve(weft__engine *e, size_t n);
/* Hands the inbox to the modules, then tells modules of new events. */
void weft__host_dispatch(weft__engine *e);
/* The module owning channel, or -1. */
int weft__host_channel_owner(const weft__engine *e, uint16_t channel);
/* The conn's sinks (weft__conn_env.deliver / .outcome). */
int weft__host_deliver(void *ctx, weft__conn *c, const weft__delivery *d);
void weft__host_outcome(void *ctx, weft__conn *c, uint64_t app_id, uint16_t channel,
                        int err);
/* API entry/exit bookkeeping: the clock, then module notification and the
 * driver's wake-up at the outermost exit. */
void weft__api_enter(weft__engine *e, uint64_t now_us);
void weft__api_leave(weft__engine *e, int wake);

static inline weft__peer *weft__peer_of(weft__conn *c)
{
    return (weft__peer *)((char *)c - offsetof(weft__peer, conn));
}

#endif
