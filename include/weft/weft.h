/*
 * weft.h -- the public C API of libweft's sans-IO core.
 *
 * The core never touches a socket, a clock or a random source of its own.
 * The application (or one of weft's drivers: libuv, the simulator) feeds it
 * received datagrams together with the current time, asks it for datagrams
 * to send, and sleeps until the deadline it reports.  Randomness, crypto and
 * memory come in through the small interfaces declared here and in
 * <weft/crypto.h>.  The model is ngtcp2's read_pkt/write_pkt/get_expiry.
 *
 * Time is always an absolute monotonic timestamp in microseconds chosen by
 * the caller (`now_us`); the core only compares and subtracts timestamps.
 *
 * Errors are negative ints from one table (WEFT_ERROR_MAP below); see
 * weft_strerror().  Codes are grouped in three ranges:
 *   -1   .. -99   misuse by the caller (bad argument, wrong state, limit)
 *   -100 .. -199  something a peer sent or did (malformed, forged, gone)
 *   -500 and below fatal: the object can no longer be used safely
 */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 1
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.1.0"

/*
 * X(NAME, value, description).  WEFT_ERR_<NAME> = value.
 */
#define WEFT_ERROR_MAP(X)                                                      \
    /* misuse: the caller asked for something that cannot be done */         \
    X(INVAL, -1, "invalid argument")                                           \
    X(BUFSMALL, -2, "output buffer too small")                                 \
    X(TOO_BIG, -3, "message larger than the configured cap")                  \
    X(NO_PEER, -4, "no session with that peer")                                \
    X(STATE, -5, "operation not valid in the current state")                   \
    X(LIMIT, -6, "a configured limit was reached")                             \
    X(NOT_FOUND, -7, "not found")                                              \
    X(EXISTS, -8, "already exists")                                            \
    X(AGAIN, -9, "try again later (queue full)")                               \
    X(CONFIG, -10, "invalid configuration")                                    \
    X(NOMEM, -11, "out of memory")                                             \
    /* peer / protocol: counted and dropped, never fatal */                   \
    X(PROTO, -100, "malformed packet or frame")                                \
    X(DECRYPT, -101, "packet failed authentication")                           \
    X(REPLAY, -102, "replayed or too old packet")                              \
    X(HANDSHAKE, -103, "handshake failed")                                     \
    X(UNKNOWN_SESSION, -104, "packet for an unknown session")                  \
    X(RATE_LIMITED, -105, "handshake rate limit reached")                      \
    X(UNREACHABLE, -106, "peer unreachable")                                   \
    X(VERSION, -107, "unsupported protocol version")                           \
    X(BAD_SIGNATURE, -108, "bad signature")                                    \
    X(WRONG_MESH, -109, "packet from another mesh (bad network key)")          \
    X(FLOW_CONTROL, -110, "peer exceeded flow-control credit")                 \
    X(PEER_CLOSED, -111, "peer closed the session")                            \
    X(EXPIRED, -112, "session expired")                                        \
    /* fatal */                                                                \
    X(CRYPTO, -500, "crypto backend failure")                                  \
    X(IO, -501, "I/O error")                                                   \
    X(CORRUPT, -502, "stored data is corrupt")                                 \
    X(KEY_PERMS, -503, "key file is readable by others (chmod 600 it)")        \
    X(INTERNAL, -504, "internal error (bug)")

enum weft_error {
#define WEFT__ERRENUM(name, val, desc) WEFT_ERR_##name = (val),
    WEFT_ERROR_MAP(WEFT__ERRENUM)
#undef WEFT__ERRENUM
    WEFT_ERR_FATAL = -500 /* codes <= this are fatal */
};

/* Human description of an error code ("unknown error" for others). */
const char *weft_strerror(int err);
/* The code's name, e.g. "WEFT_ERR_PROTO". */
const char *weft_err_name(int err);

/* ---------------------------------------------------------------------- */
/* Basic types                                                            */

#define WEFT_ID_BYTES 32

/* A node is its Ed25519 public key. */
typedef struct weft_node_id {
    uint8_t key[WEFT_ID_BYTES];
} weft_node_id;

/* Short human form: first 8 bytes as 16 lowercase hex chars + NUL. */
#define WEFT_ID_SHORT_LEN 17
void weft_id_short(const weft_node_id *id, char out[WEFT_ID_SHORT_LEN]);
/* Full form: 64 lowercase hex chars + NUL. */
#define WEFT_ID_HEX_LEN 65
void weft_id_hex(const weft_node_id *id, char out[WEFT_ID_HEX_LEN]);
/* Parse 64 hex chars.  Returns 0 or WEFT_ERR_INVAL. */
int weft_id_parse(weft_node_id *id, const char *hex);

/*
 * A transport address, independent of any socket header.  The core only
 * copies and compares these; drivers translate them to sockaddr.  The
 * simulator invents its own.
 */
typedef struct weft_addr {
    uint8_t family;  /* 0 = none, 4 = IPv4, 6 = IPv6 */
    uint8_t pad_;    /* zero */
    uint16_t port;   /* host byte order */
    uint32_t scope;  /* IPv6 scope id, 0 otherwise */
    uint8_t ip[16];  /* network byte order; IPv4 uses ip[0..3] */
} weft_addr;

int weft_addr_eq(const weft_addr *a, const weft_addr *b);
/* "1.2.3.4:5" or "[::1]:5".  Returns chars written (excl NUL) or error. */
#define WEFT_ADDR_STRLEN 64
int weft_addr_format(const weft_addr *a, char *out, size_t cap);
/* Parses "host:port" with a numeric IPv4 or bracketed IPv6 host. */
int weft_addr_parse(weft_addr *a, const char *s);
/* 1 when the address is loopback (127/8 or ::1). */
int weft_addr_is_loopback(const weft_addr *a);

/* All allocation goes through this.  NULL means libc. */
typedef struct weft_allocator {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *p, size_t size);
    void (*free)(void *ctx, void *p);
} weft_allocator;

/* Randomness: must fill buf with len unpredictable bytes (the simulator
 * uses a seeded generator).  Key material is drawn from here. */
typedef struct weft_rand {
    void *ctx;
    void (*fill)(void *ctx, uint8_t *buf, size_t len);
} weft_rand;

struct weft_crypto; /* <weft/crypto.h> */

/* ---------------------------------------------------------------------- */
/* Engine: one node's secure reliable sessions.                           */

typedef struct weft_engine weft_engine;

/* Message priorities; lower value drains first. */
enum weft_priority {
    WEFT_PRIO_CRITICAL = 0,
    WEFT_PRIO_HIGH = 1,
    WEFT_PRIO_NORMAL = 2,
    WEFT_PRIO_LOW = 3
};
#define WEFT_PRIO_COUNT 4

/* Delivery kinds (flags for weft_engine_send). */
enum weft_send_flags {
    WEFT_SEND_PRIO_MASK = 0x03,     /* low two bits: enum weft_priority */
    WEFT_SEND_ORDERED = 0x00,       /* reliable, in order within priority */
    WEFT_SEND_UNORDERED = 0x04,     /* reliable, delivered as completed */
    WEFT_SEND_UNRELIABLE = 0x08,    /* best effort, one packet at most */
    WEFT_SEND_KIND_MASK = 0x0c
};

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

    /* --- membership: SWIM + Lifeguard (docs/MEMBERSHIP.md) ----------- */
    uint8_t membership;            /* 1 = on (default), 0 = off */
    uint8_t profile;               /* enum weft_profile; default LAN */
    uint32_t max_peers;            /* members tracked, self included;
                                      default 4096; beyond it new members
                                      are refused (WEFT_EV_MEMBER_REFUSED) */
    uint32_t probe_interval_ms;    /* 0 = the profile's value */
    uint32_t probe_timeout_ms;     /* 0 = the profile's value */
    uint32_t suspicion_mult;       /* 0 = the profile's value */
    uint32_t pushpull_interval_ms; /* 0 = the profile's value */
    uint32_t incarnation_start;    /* first incarnation; drivers pass wall
                                      seconds so a restart outbids its past */
} weft_config;

/* Membership profiles: LAN (fast: a failure is seen by all within ~3 s at
 * 50 nodes) and WAN (tolerant of latency and loss, slower). */
enum weft_profile { WEFT_PROFILE_LAN = 0, WEFT_PROFILE_WAN = 1 };

/* Fills defaults; identity_secret and network_key are zeroed (set them). */
void weft_config_default(weft_config *cfg);

/* What the engine needs from the outside world. */
typedef struct weft_env {
    const weft_allocator *alloc;       /* NULL = libc */
    const struct weft_crypto *crypto;  /* required */
    weft_rand rand;                    /* required */
} weft_env;

/*
 * Creates an engine.  Copies cfg; keeps env pointers (they must outlive the
 * engine).  Returns 0, WEFT_ERR_INVAL, WEFT_ERR_CONFIG or WEFT_ERR_NOMEM.
 */
int weft_engine_new(weft_engine **out, const weft_config *cfg,
                    const weft_env *env, uint64_t now_us);
/* Frees the engine; secrets are wiped.  NULL is fine. */
void weft_engine_del(weft_engine *e);

const weft_node_id *weft_engine_id(const weft_engine *e);

/*
 * Starts a handshake with whatever node listens at addr (its identity is
 * learned from the handshake).  Retries until handshake_timeout_ms * a
 * few, then reports WEFT_EV_PEER_DOWN with WEFT_ERR_UNREACHABLE.
 * Returns 0, WEFT_ERR_LIMIT (max_sessions), WEFT_ERR_NOMEM.
 */
int weft_engine_connect(weft_engine *e, const weft_addr *addr, uint64_t now_us);

/*
 * Feeds one received datagram.  Returns 0 when it was accepted, or the
 * negative reason it was dropped (WEFT_ERR_PROTO, _DECRYPT, _REPLAY,
 * _UNKNOWN_SESSION, _RATE_LIMITED, _WRONG_MESH, ...).  A drop is already
 * counted in the stats; callers may ignore the return value.  Fatal codes
 * (<= WEFT_ERR_FATAL) mean the engine is unusable.
 */
int weft_engine_recv(weft_engine *e, const weft_addr *from,
                     const uint8_t *pkt, size_t len, uint64_t now_us);

/*
 * Writes the next datagram to send into buf (cap bytes; give at least
 * 65536 to allow loopback-sized packets) and its destination into *to.
 * Returns its length, 0 when nothing is to be sent now (pacing, nothing
 * queued), or a negative error.  Call until it returns 0.
 */
ptrdiff_t weft_engine_write(weft_engine *e, weft_addr *to, uint8_t *buf,
                            size_t cap, uint64_t now_us);

/* Absolute time (us) at which weft_engine_handle_expiry must be called;
 * UINT64_MAX when there is no timer. */
uint64_t weft_engine_expiry(const weft_engine *e);
/* Runs timers (retransmission, keepalive, handshake retry, expiry). */
int weft_engine_handle_expiry(weft_engine *e, uint64_t now_us);

/*
 * Queues a message to a peer with an established session (or one being
 * established).  flags: priority | kind.  The message is copied.
 * Returns 0, WEFT_ERR_NO_PEER, WEFT_ERR_TOO_BIG (over max_message_bytes, or
 * an unreliable message over one packet), WEFT_ERR_AGAIN (max_queued_bytes
 * reached: retry later), WEFT_ERR_NOMEM, WEFT_ERR_INVAL.
 */
int weft_engine_send(weft_engine *e, const weft_node_id *to,
                     const void *msg, size_t len, uint32_t flags,
                     uint64_t now_us);

/* Closes the session with peer (a CLOSE frame is sent). */
int weft_engine_close_peer(weft_engine *e, const weft_node_id *peer,
                           uint64_t now_us);

enum weft_event_type {
    WEFT_EV_NONE = 0,
    WEFT_EV_PEER_UP,        /* session established (peer, addr) */
    WEFT_EV_PEER_DOWN,      /* session gone; error says why */
    WEFT_EV_MESSAGE,        /* data/len from peer; flags = send flags */
    WEFT_EV_HANDSHAKE_FAILED, /* connect to addr failed; error says why */
    /* membership (peer = the member, addr/name/incarnation filled) */
    WEFT_EV_MEMBER_JOINED,   /* a new member is alive */
    WEFT_EV_MEMBER_UPDATED,  /* its address or metadata changed */
    WEFT_EV_MEMBER_SUSPECT,  /* suspected of failure (may refute) */
    WEFT_EV_MEMBER_ALIVE,    /* a suspicion was refuted */
    WEFT_EV_MEMBER_FAILED,   /* declared dead */
    WEFT_EV_MEMBER_LEFT,     /* left gracefully */
    WEFT_EV_MEMBER_REJOINED, /* back after failing or leaving */
    WEFT_EV_MEMBER_REFUSED   /* not tracked: max_peers reached */
};

/* Name of an event type, e.g. "member-joined". */
const char *weft_event_name(int type);

typedef struct weft_event {
    int type;              /* enum weft_event_type */
    int error;             /* PEER_DOWN / HANDSHAKE_FAILED reason */
    weft_node_id peer;
    weft_addr addr;
    uint32_t flags;        /* MESSAGE: priority | kind */
    const uint8_t *data;   /* MESSAGE: valid until the next engine call */
    size_t len;
    uint32_t incarnation;  /* MEMBER_*: the member's incarnation */
    char name[65];         /* MEMBER_*: its name, NUL-terminated */
} weft_event;

/* Takes the next pending event.  Returns 1 (filled) or 0 (none). */
int weft_engine_poll(weft_engine *e, weft_event *ev);

/* Counters.  Every dropped packet is counted under its reason. */
typedef struct weft_stats {
    uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
    uint64_t msgs_sent, msgs_delivered;
    uint64_t retransmits;        /* packets declared lost */
    uint64_t drop_malformed;     /* WEFT_ERR_PROTO */
    uint64_t drop_decrypt;       /* WEFT_ERR_DECRYPT */
    uint64_t drop_replay;        /* WEFT_ERR_REPLAY */
    uint64_t drop_unknown;       /* WEFT_ERR_UNKNOWN_SESSION */
    uint64_t drop_ratelimit;     /* WEFT_ERR_RATE_LIMITED */
    uint64_t drop_wrong_mesh;    /* WEFT_ERR_WRONG_MESH */
    uint64_t drop_dup_msg;       /* duplicate message fragments ignored */
    uint64_t rx_refused;         /* packets left unacknowledged because the
                                    reassembly buffer was full (resent) */
    uint64_t handshakes_ok, handshakes_failed;
    uint64_t sessions;           /* currently established */
} weft_stats;

void weft_engine_stats(const weft_engine *e, weft_stats *st);

/* Per-peer view (RTT, window, MTU), for diagnostics. */
typedef struct weft_peer_info {
    weft_node_id id;
    weft_addr addr;
    uint32_t srtt_us, rttvar_us, min_rtt_us;
    uint32_t cwnd_bytes, mtu;
    uint64_t bytes_in_flight, queued_bytes;
    int established;
} weft_peer_info;

int weft_engine_peer_info(const weft_engine *e, const weft_node_id *peer,
                          weft_peer_info *out);

/* ---------------------------------------------------------------------- */
/* Membership: who is alive (SWIM with Lifeguard).                         */
/*
 * Membership packets (type 0x20) share the engine's socket but need no
 * session: they are sealed under a key derived from the network key, and
 * each member's own claims (address, metadata) carry its signature.  Only
 * a node itself can say it is alive.  See docs/MEMBERSHIP.md.
 */

/* Our advertised address (what other members use to reach us).  Drivers
 * call it once the socket is bound.  Returns 0, WEFT_ERR_INVAL or
 * WEFT_ERR_STATE (membership off). */
int weft_engine_set_addr(weft_engine *e, const weft_addr *addr, uint64_t now_us);

/* Joins the mesh through a seed address (bootstrap peer, peers file, LAN
 * beacon): full state exchange, retried with backoff until it answers.
 * Returns 0, WEFT_ERR_INVAL, WEFT_ERR_STATE (membership off or left),
 * WEFT_ERR_LIMIT (too many seeds pending). */
int weft_engine_join(weft_engine *e, const weft_addr *seed, uint64_t now_us);

/* Graceful leave: others see WEFT_EV_MEMBER_LEFT.  WEFT_ERR_STATE when
 * already left or membership is off. */
int weft_engine_leave(weft_engine *e, uint64_t now_us);

typedef struct weft_tag {
    const char *key;   /* 1..255 bytes */
    const char *value; /* 0..255 bytes */
} weft_tag;

/* Our metadata: name (<= 64 B), status (<= 32 B: "active", "idle",
 * "processing", "offline" or an application value) and tags (encoded total
 * <= 512 B).  Spread within seconds.  Returns 0, WEFT_ERR_TOO_BIG,
 * WEFT_ERR_INVAL, WEFT_ERR_STATE or WEFT_ERR_NOMEM. */
int weft_engine_set_meta(weft_engine *e, const char *name, const char *status,
                         const weft_tag *tags, size_t ntags, uint64_t now_us);

enum weft_member_state {
    WEFT_MEMBER_ALIVE = 0,
    WEFT_MEMBER_SUSPECT = 1,
    WEFT_MEMBER_DEAD = 2,
    WEFT_MEMBER_LEFT = 3
};
/* "alive", "suspect", "failed", "left". */
const char *weft_member_state_name(int state);

/* A member as this node sees it; pointers valid until the next engine call. */
typedef struct weft_member {
    weft_node_id id;
    weft_addr addr;
    int state;                 /* enum weft_member_state */
    uint32_t incarnation;
    const char *name;   size_t name_len;    /* not NUL-terminated */
    const char *status; size_t status_len;
    const uint8_t *tags; size_t tags_len;   /* walk with weft_tag_next */
    uint32_t rtt_us;           /* last direct probe round trip, 0 unknown */
    uint64_t last_contact_us;  /* engine time of the last packet, 0 never */
    int is_self;
} weft_member;

/* Members (self included), index 0 .. count-1, in no particular order. */
size_t weft_engine_member_count(const weft_engine *e);
int weft_engine_member_at(const weft_engine *e, size_t i, weft_member *out);
/* 0 or WEFT_ERR_NOT_FOUND. */
int weft_engine_member_find(const weft_engine *e, const weft_node_id *id,
                            weft_member *out);
/* Walks encoded tags: 1 with the next pair, 0 at the end.  *off starts 0. */
int weft_tag_next(const uint8_t *tags, size_t len, size_t *off,
                  const char **key, size_t *klen, const char **val,
                  size_t *vlen);

typedef struct weft_membership_stats {
    uint32_t alive, suspect, dead, left;  /* self counts as alive */
    uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
    uint64_t drop_bad_mac, drop_malformed, drop_bad_signature, stale;
    uint64_t refused_full, probes, probe_failures, refutations, pushpulls;
    uint32_t awareness;        /* Lifeguard local health, 0 = healthy */
} weft_membership_stats;

/* Returns 0 or WEFT_ERR_STATE (membership off). */
int weft_engine_membership_stats(const weft_engine *e, weft_membership_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_WEFT_H */
