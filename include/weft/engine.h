/*
 * engine.h -- the sans-IO kernel of a weft node: secure reliable sessions,
 * dispatch of datagrams and messages to protocol modules, timers, events.
 *
 * The engine never touches a socket, a clock or a random source of its
 * own.  The application (or one of weft's drivers: libuv, the simulator)
 * feeds it received datagrams together with the current time, asks it for
 * datagrams to send, and sleeps until the deadline it reports.  Randomness,
 * crypto and memory come in through the small interfaces of weft_env.  The
 * model is ngtcp2's read_pkt/write_pkt/get_expiry.
 *
 * Time is always an absolute monotonic timestamp in microseconds chosen by
 * the caller (`now_us`); the engine only compares and subtracts timestamps.
 *
 * Protocols (membership, and later routing, pub/sub, queries, the store)
 * are modules registered with the engine (<weft/module.h>); each owns a
 * packet type and/or message channels.  The engine itself names none.
 *
 * Versioned structures (ngtcp2's settings pattern): weft_config, weft_env
 * and weft_stats carry no version field; the caller passes the version its
 * header defines (the macros below do it), and the library fills or reads
 * only the fields that version has.  A field can thus be added without
 * breaking a program built against an older header.
 */
#ifndef WEFT_ENGINE_H
#define WEFT_ENGINE_H

#include <weft/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weft_crypto; /* <weft/crypto.h> */

typedef struct weft_engine weft_engine;

/* ---------------------------------------------------------------------- */
/* Configuration                                                          */

#define WEFT_CONFIG_V1 1
#define WEFT_CONFIG_VERSION WEFT_CONFIG_V1

typedef struct weft_config {
    uint8_t identity_secret[64]; /* Ed25519 secret key (seed || public) */
    uint8_t network_key[32];     /* mesh-wide key: no key, no session */

    uint32_t max_message_bytes;    /* default 16 MiB; larger sends fail */
    uint32_t max_sessions;         /* default 1024 */
    uint32_t max_queued_bytes;     /* per peer unsent+unacked; default 64 MiB */
    uint32_t recv_window_bytes;    /* per peer reassembly credit; 32 MiB */
    uint32_t unreachable_ms;       /* give up on silent peer; default 10000 */
    uint32_t idle_timeout_ms;      /* close idle session; default 180000 */
    uint32_t keepalive_ms;         /* ping idle live sessions; default 2000 */
    uint32_t rekey_after_ms;       /* default 120000 */
    uint64_t rekey_after_packets;  /* default 1<<60 (and hard limit) */
    uint32_t handshake_rate_per_s; /* responder budget; default 1000 */
    uint32_t handshake_timeout_ms; /* per attempt before retry; 1000 */
    uint16_t mtu_initial;          /* default 1200 */
    uint16_t mtu_max;              /* default 65000 on probe success */
    uint32_t half_open_max;        /* responder handshakes waiting for msg3,
                                      in total; default 256 */
    uint32_t half_open_per_addr;   /* the same, per source IP; default 8 */
} weft_config;

/* Fills the defaults of config version `version` (use weft_config_default);
 * identity_secret and network_key are zeroed (set them). */
WEFT_EXTERN void weft_config_default_versioned(int version, weft_config *cfg);
#define weft_config_default(cfg) weft_config_default_versioned(WEFT_CONFIG_VERSION, (cfg))

/* What the engine needs from the outside world.  Versioned with
 * weft_config (same version number). */
typedef struct weft_env {
    const weft_allocator *alloc;       /* NULL = libc */
    const struct weft_crypto *crypto;  /* required */
    weft_rand rand;                    /* required */
    /* Optional: called (from inside an engine call) when an API call such
     * as weft_engine_send or a module's public call left output or events
     * pending, so a driver can schedule a pump without the caller's help.
     * It must not call back into the engine; defer the work. */
    void (*wakeup)(void *ctx);
    void *wakeup_ctx;
} weft_env;

/*
 * Creates an engine (use weft_engine_new).  Copies cfg; keeps env pointers
 * (they must outlive the engine).  Returns 0, WEFT_ERR_INVAL,
 * WEFT_ERR_CONFIG, WEFT_ERR_VERSION_MISMATCH or WEFT_ERR_NOMEM.
 */
WEFT_EXTERN int weft_engine_new_versioned(weft_engine **out, int config_version,
                                          const weft_config *cfg,
                                          const weft_env *env, uint64_t now_us);
#define weft_engine_new(out, cfg, env, now_us)                                 \
    weft_engine_new_versioned((out), WEFT_CONFIG_VERSION, (cfg), (env), (now_us))
/* Frees the engine and every registered module; secrets are wiped.  NULL
 * is fine. */
WEFT_EXTERN void weft_engine_del(weft_engine *e);

WEFT_EXTERN const weft_node_id *weft_engine_id(const weft_engine *e);

/* ---------------------------------------------------------------------- */
/* The sans-IO pump                                                       */

/*
 * Feeds one received datagram.  Returns 0 when it was accepted, or the
 * negative reason it was dropped (WEFT_ERR_PROTO, _DECRYPT, _REPLAY,
 * _UNKNOWN_SESSION, _RATE_LIMITED, _WRONG_MESH, ...).  A drop is already
 * counted in the stats; callers may ignore the return value.  Fatal codes
 * (<= WEFT_ERR_FATAL) mean the engine is unusable.
 */
WEFT_EXTERN int weft_engine_recv(weft_engine *e, const weft_addr *from,
                                 const uint8_t *pkt, size_t len, uint64_t now_us);

/*
 * Writes the next datagram to send into buf (cap bytes; give at least
 * 65536 to allow loopback-sized packets) and its destination into *to.
 * Returns its length, 0 when nothing is to be sent now (pacing, nothing
 * queued), or a negative error.  Call until it returns 0.  Drivers should
 * take the pending events (weft_engine_poll) before they send what this
 * returns: acknowledgements then never leave before the messages they
 * acknowledge were handed to the application.
 */
WEFT_EXTERN ptrdiff_t weft_engine_write(weft_engine *e, weft_addr *to,
                                        uint8_t *buf, size_t cap, uint64_t now_us);

/* Absolute time (us) at which weft_engine_handle_expiry must be called;
 * UINT64_MAX when there is no timer. */
WEFT_EXTERN uint64_t weft_engine_expiry(const weft_engine *e);
/* Runs timers (retransmission, keepalive, handshake retry, expiry, and
 * every module's).  Returns 0 or a fatal error. */
WEFT_EXTERN int weft_engine_handle_expiry(weft_engine *e, uint64_t now_us);

/* ---------------------------------------------------------------------- */
/* Sessions and messages                                                  */

/*
 * Starts a handshake with whatever node listens at addr (its identity is
 * learned from the handshake).  Retries until unreachable_ms, then reports
 * WEFT_EV_HANDSHAKE_FAILED with WEFT_ERR_UNREACHABLE.  Returns 0,
 * WEFT_ERR_INVAL (no address family or port 0), WEFT_ERR_LIMIT
 * (max_sessions), WEFT_ERR_NOMEM.
 */
WEFT_EXTERN int weft_engine_connect(weft_engine *e, const weft_addr *addr,
                                    uint64_t now_us);

/* Delivery kinds and options (flags of weft_engine_send). */
enum weft_send_flags {
    WEFT_SEND_PRIO_MASK = 0x03,     /* low two bits: enum weft_priority */
    WEFT_SEND_ORDERED = 0x00,       /* reliable, in order within priority */
    WEFT_SEND_UNORDERED = 0x04,     /* reliable, delivered as completed */
    WEFT_SEND_UNRELIABLE = 0x08,    /* best effort, one packet at most */
    WEFT_SEND_KIND_MASK = 0x0c,
    WEFT_SEND_RECEIPT = 0x10        /* reliable kinds: report
                                       WEFT_EV_DELIVERED once the receiving
                                       application polled the message */
};

/*
 * Channels name what a message is for (docs/PROTOCOL.md §Channels).
 * 0 is invalid; 1..WEFT_CHANNEL_APP-1 belong to weft's protocol modules
 * (a message for one nobody registered is dropped and counted);
 * WEFT_CHANNEL_APP.. 0xffff are the application's: delivered as
 * WEFT_EV_MESSAGE unless a module registered that channel.
 */
#define WEFT_CHANNEL_APP 0x100
#define WEFT_CHANNEL_MAX 0xffff

/*
 * Queues a message to a peer with an established session (or one being
 * established) on `channel`.  flags: priority | kind | options.  The
 * message is copied.  Returns the message id (>= 1, unique per engine),
 * which every outcome event names, or WEFT_ERR_NO_PEER, WEFT_ERR_TOO_BIG
 * (over max_message_bytes), WEFT_ERR_TOO_BIG_DATAGRAM (an unreliable
 * message over one packet), WEFT_ERR_AGAIN (max_queued_bytes reached:
 * retry later), WEFT_ERR_NOMEM, WEFT_ERR_INVAL.
 *
 * The delivery promise (docs/ARCHITECTURE.md §Delivery): a reliable
 * message that is accepted here ends in exactly one outcome -- it reaches
 * the receiving application (reported by WEFT_EV_DELIVERED when
 * WEFT_SEND_RECEIPT was asked), or WEFT_EV_SEND_FAILED names it with a
 * reason (peer down, expired, peer restarted).  Without a receipt, success
 * is silent.  The data argument may point into the current event's data.
 */
WEFT_EXTERN int64_t weft_engine_send(weft_engine *e, const weft_node_id *to,
                                     uint16_t channel, const void *msg,
                                     size_t len, uint32_t flags, uint64_t now_us);

/* Closes the session with peer (a CLOSE frame is sent).  Messages still
 * queued to it fail (WEFT_EV_SEND_FAILED, WEFT_ERR_PEER_CLOSED).  Returns
 * 0 or WEFT_ERR_NO_PEER. */
WEFT_EXTERN int weft_engine_close_peer(weft_engine *e, const weft_node_id *peer,
                                       uint64_t now_us);

/* ---------------------------------------------------------------------- */
/* Events                                                                 */

/* Families: an event's type >> 8.  Each family has its own payload in
 * weft_event.u. */
enum weft_event_family {
    WEFT_EVF_SESSION = 0x01,   /* u: none (peer, addr, error) */
    WEFT_EVF_MESSAGE = 0x02,   /* u.message */
    WEFT_EVF_DELIVERY = 0x03,  /* u.delivery */
    WEFT_EVF_MEMBER = 0x04,    /* u.member (<weft/membership.h>) */
    WEFT_EVF_MODULE = 0x10     /* 0x10.. : modules' own (u.module) */
};
#define WEFT_EV_FAMILY(type) ((int)(type) >> 8)

enum weft_event_type {
    WEFT_EV_NONE = 0,
    WEFT_EV_PEER_UP = 0x0101,     /* session established (peer, addr) */
    WEFT_EV_PEER_DOWN,            /* session gone; error says why */
    WEFT_EV_HANDSHAKE_FAILED,     /* connect to addr failed; error says why
                                     (WEFT_ERR_WRONG_MESH: the other side
                                     has another network key) */
    WEFT_EV_MESSAGE = 0x0201,     /* u.message from peer */
    WEFT_EV_DELIVERED = 0x0301,   /* u.delivery: the receiver's application
                                     took message msg_id (receipt asked) */
    WEFT_EV_SEND_FAILED,          /* u.delivery: message msg_id will not be
                                     delivered (or, for PEER_RESTARTED, may
                                     not have been); error says why */
    /* 0x0401..: membership (<weft/membership.h>) */
};

typedef struct weft_event {
    int type;              /* enum weft_event_type (or a module's) */
    int error;             /* PEER_DOWN, HANDSHAKE_FAILED, SEND_FAILED */
    weft_node_id peer;     /* whom it is about (zero when unknown) */
    weft_addr addr;        /* its address, when known */
    union {
        struct {
            uint16_t channel;
            uint32_t flags;       /* priority | kind | options as sent */
            const uint8_t *data;  /* valid until the next engine call */
            size_t len;
        } message;
        struct {
            uint64_t msg_id;      /* weft_engine_send's return value */
            uint16_t channel;
        } delivery;
        struct {
            uint32_t incarnation; /* the member's incarnation */
            int state;            /* enum weft_member_state */
            char name[65];        /* its name, NUL-terminated */
        } member;
        struct {
            uint16_t channel;     /* the module's channel, if any */
            uint32_t code;        /* module-defined */
            uint64_t value[4];    /* module-defined */
            const uint8_t *data;  /* valid until the next engine call */
            size_t len;
        } module;
        uint8_t reserved_[128];   /* room for families to come */
    } u;
} weft_event;

/* Name of an event type, e.g. "peer-up", "member-joined" (modules register
 * names for theirs). */
WEFT_EXTERN const char *weft_event_name(const weft_engine *e, int type);

/* Takes the next pending event.  Returns 1 (filled) or 0 (none).  The
 * data an event points to stays valid until the next call into the
 * engine, except weft_engine_send, which may be given it. */
WEFT_EXTERN int weft_engine_poll(weft_engine *e, weft_event *ev);

/* ---------------------------------------------------------------------- */
/* Counters and diagnostics                                               */

#define WEFT_STATS_V1 1
#define WEFT_STATS_VERSION WEFT_STATS_V1

/* Counters.  Every dropped packet is counted under its reason. */
typedef struct weft_stats {
    uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
    uint64_t msgs_sent, msgs_delivered;
    uint64_t retransmits;        /* packets declared lost */
    uint64_t drop_malformed;     /* WEFT_ERR_PROTO */
    uint64_t drop_decrypt;       /* WEFT_ERR_DECRYPT */
    uint64_t drop_replay;        /* WEFT_ERR_REPLAY */
    uint64_t drop_unknown;       /* WEFT_ERR_UNKNOWN_SESSION */
    uint64_t drop_ratelimit;     /* WEFT_ERR_RATE_LIMITED; and handshakes
                                    refused at max_sessions */
    uint64_t drop_wrong_mesh;    /* WEFT_ERR_WRONG_MESH */
    uint64_t drop_dup_msg;       /* duplicate message fragments ignored */
    uint64_t drop_no_channel;    /* messages for an unhandled channel */
    uint64_t drop_oneshot;       /* one-shot datagrams (CLOSE, cookie
                                    replies) dropped: queue full */
    uint64_t rx_refused;         /* packets left unacknowledged because the
                                    reassembly buffer was full (resent) */
    uint64_t handshakes_ok, handshakes_failed;
    uint64_t sessions;           /* currently established */
    uint64_t send_failed;        /* messages reported WEFT_EV_SEND_FAILED */
    uint64_t receipts;           /* WEFT_EV_DELIVERED reported */
    uint64_t events_dropped;     /* events lost to allocation failure */
    uint64_t half_open;          /* responder handshakes awaiting msg3 */
    uint64_t half_open_evicted;  /* evicted (oldest first) at the caps */
    uint64_t cookies_sent;       /* HS_INIT answered with a cookie */
    uint64_t drop_bad_cookie;    /* HS_INIT with a wrong or stale cookie */
} weft_stats;

WEFT_EXTERN void weft_engine_stats_versioned(const weft_engine *e, int version,
                                             weft_stats *st);
#define weft_engine_stats(e, st) weft_engine_stats_versioned((e), WEFT_STATS_VERSION, (st))

/* Per-peer view (RTT, window, MTU), for diagnostics. */
typedef struct weft_peer_info {
    weft_node_id id;
    weft_addr addr;
    uint32_t srtt_us, rttvar_us, min_rtt_us;
    uint32_t cwnd_bytes, mtu;
    uint64_t bytes_in_flight, queued_bytes;
    uint32_t queued_msgs;      /* reliable messages not yet acknowledged */
    uint32_t receipts_pending; /* acknowledged, receipt not yet back */
    int established;
} weft_peer_info;

/* 0 or WEFT_ERR_NO_PEER. */
WEFT_EXTERN int weft_engine_peer_info(const weft_engine *e, const weft_node_id *peer,
                                      weft_peer_info *out);
/* Established sessions: index 0 .. count-1, in no particular order (the
 * order changes when sessions come and go). */
WEFT_EXTERN size_t weft_engine_peer_count(const weft_engine *e);
WEFT_EXTERN int weft_engine_peer_at(const weft_engine *e, size_t i,
                                    weft_peer_info *out);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_ENGINE_H */
