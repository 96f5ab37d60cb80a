/*
 * service.h -- the node weftd runs, as one object with the calls its front
 * ends make.
 *
 * The service owns the libuv driver, the engine's membership, the
 * bootstrap peers, the peers file, the LAN beacons and the event log.  It
 * is the only part of weftd that calls the engine or the driver API, so a
 * change of that API touches service.c alone.  Front ends -- the control
 * socket (control.c) today, an HTTP/WebSocket API tomorrow -- call the
 * functions below and never the engine: they get data back as plain
 * structs or key/value pairs and turn it into their own format.
 *
 * Everything runs on the loop's thread.
 */
#ifndef WEFTD_SERVICE_H
#define WEFTD_SERVICE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "options.h"
#include "weft/weft.h"

typedef struct service service;

/*
 * Creates the node: binds the --listen sockets and resolves --peer.
 * identity_secret and network_key are copied (and wiped by the service
 * when it no longer needs them).  Returns 0, or an exit code (1 runtime,
 * 2 configuration) after printing why on stderr.
 */
int service_new(service **out, uv_loop_t *loop, const weftd_options *o,
                const uint8_t identity_secret[64], const uint8_t network_key[32],
                int identity_created);

/* Logs the `node` line and starts membership, the peers file, beacons and
 * the bootstrap connections.  Returns 0 or an exit code (printed). */
int service_begin(service *s);

/* SIGHUP: re-reads the peers file (whatever its stat says) and dials the
 * --peer addresses that are down now, without waiting for their backoff.
 * Logs a `reload` line saying what was reloaded.  Other settings need a
 * restart. */
void service_reload(service *s, const char *why);

/* Graceful leave (SIGTERM/SIGINT): tells the membership we leave and
 * stops the beacons; done is called once the leave had time to spread
 * (at once when membership is off).  A second call is a no-op. */
void service_leave(service *s, const char *why, void (*done)(void *ud), void *ud);

/* Closes everything; the service is freed once libuv has closed its
 * handles (run the loop).  Watchers get no more events. */
void service_close(service *s);

/* --- what front ends read ----------------------------------------------- */

typedef struct svc_info {
    weft_node_id id;
    const char *name;                     /* "-" when none */
    weft_addr listen[WEFT_UV_MAX_LISTEN]; /* as bound */
    size_t listen_count;
    int membership;                       /* 0 with --no-membership */
    uint32_t max_message_bytes;           /* the engine's message cap */
    size_t peers;                         /* established sessions */
    uint32_t members, alive;              /* membership view (0 when off) */
    uint64_t uptime_ms;
} svc_info;

void service_info(service *s, svc_info *out);

typedef struct svc_peer {
    weft_node_id id;
    weft_addr addr;
    int established;
    uint32_t srtt_us, rttvar_us, min_rtt_us, cwnd_bytes, mtu;
    uint64_t inflight_bytes, queued_bytes;
} svc_peer;

typedef void (*svc_peer_fn)(void *ud, const svc_peer *p);
/* Calls fn for every peer with an established session. */
void service_each_peer(service *s, svc_peer_fn fn, void *ud);

/* A counter: name and value, in a fixed order. */
typedef void (*svc_kv_fn)(void *ud, const char *key, uint64_t value);
/* Engine counters, then the socket driver's (prefixed uv_). */
void service_stats(service *s, svc_kv_fn fn, void *ud);
/* Member counts, membership and beacon counters.  0 or WEFT_ERR_STATE
 * (membership off). */
int service_membership(service *s, svc_kv_fn fn, void *ud);

#define SVC_TAGS_MAX 128
typedef struct svc_tag {
    const char *key, *value; /* not NUL-terminated; peer-supplied bytes */
    size_t key_len, value_len;
} svc_tag;

typedef struct svc_member {
    weft_node_id id;
    weft_addr addr;
    const char *state;                   /* alive|suspect|failed|left */
    uint32_t incarnation;
    const char *name, *status;           /* not NUL-terminated; peer-supplied */
    size_t name_len, status_len;
    svc_tag tags[SVC_TAGS_MAX];
    size_t ntags;
    uint32_t rtt_us;
    int64_t last_contact_ms;             /* -1 never, 0 self */
    int is_self;
} svc_member;

typedef void (*svc_member_fn)(void *ud, const svc_member *m);
/* Calls fn for every member, self included.  0 or WEFT_ERR_STATE. */
int service_each_member(service *s, svc_member_fn fn, void *ud);

/* --- what front ends do -------------------------------------------------- */

/*
 * Finds an established peer by its 64 hex digits or a unique hex prefix.
 * Returns 0, WEFT_ERR_INVAL (not lowercase hex, or ambiguous) or
 * WEFT_ERR_NO_PEER, with a sentence in why.
 */
int service_find_peer(service *s, const char *hex, weft_node_id *out, char *why, size_t cap);

/*
 * Queues a message on the default application channel (prio 0-3, kind
 * WEFT_SEND_ORDERED/UNORDERED/UNRELIABLE; receipt: ask the peer to say
 * when its application took it), logs a `sent msg=ID ...` line, and gives
 * the message id (its outcome arrives as SVC_EV_DELIVERED or
 * SVC_EV_SEND_FAILED with that id) and its SHA-256 in hex.  Returns 0 or
 * an error with a sentence in why that names the limit hit.
 */
int service_send(service *s, const weft_node_id *to, const void *data, size_t len, int prio,
                 uint32_t kind, int receipt, uint64_t *msg_id, char sha256_hex[65], char *why,
                 size_t cap);

/* The outcome of a service_connect someone waits for. */
typedef struct svc_connect_result {
    int rc;             /* 0: a session with addr is up; else why not (WEFT_ERR_*) */
    weft_node_id id;    /* rc == 0: the node at addr */
    weft_addr addr;     /* the address dialled; family 0 when the name did not resolve */
    int already;        /* rc == 0: the session was up before the request */
    const char *why;    /* rc != 0: a sentence */
} svc_connect_result;
typedef void (*svc_connect_fn)(void *ud, const svc_connect_result *r);

/*
 * Starts a session with HOST:PORT (port 1-65535).  A numeric address is
 * dialled at once; a name is resolved off the loop (uv_getaddrinfo) and
 * the first address of a family we have a socket for is dialled; a name
 * that does not resolve is logged `handshake-failed addr=- reason=
 * WEFT_ERR_NOT_FOUND`.  With fn, fn(ud, result) is called exactly once --
 * when a session with that address is up (at once when it already was),
 * when its handshake fails, or when the name does not resolve -- unless
 * service_connect_cancel(s, ud) comes first; it may be called before
 * service_connect returns.  Returns 0, or an error with why (bad HOST:PORT,
 * no socket of that family, ...) and then fn is not called.
 */
int service_connect(service *s, const char *hostport, svc_connect_fn fn, void *ud, char *why,
                    size_t cap);
/* Nobody waits for ud's connects any more (the dial itself goes on). */
void service_connect_cancel(service *s, void *ud);

/* What is still unacknowledged to a peer: 0 with *queued_bytes (the
 * messages queued and not yet acknowledged; 0 = everything sent so far
 * has been acknowledged), or WEFT_ERR_NO_PEER when there is no session. */
int service_peer_backlog(service *s, const weft_node_id *id, uint64_t *queued_bytes);

/* --- events -------------------------------------------------------------- */

enum svc_event_type {
    SVC_EV_PEER_UP, SVC_EV_PEER_DOWN, SVC_EV_HANDSHAKE_FAILED, SVC_EV_MESSAGE, SVC_EV_MEMBER,
    SVC_EV_DELIVERED,  /* msg_id reached the peer's application (receipt) */
    SVC_EV_SEND_FAILED /* msg_id will not be delivered; error says why */
};

typedef struct svc_event {
    int type;                   /* enum svc_event_type */
    const char *name;           /* "peer-up", "member-joined", ... */
    weft_node_id id;            /* peer or member (not for HANDSHAKE_FAILED) */
    weft_addr addr;             /* family 0 when unknown */
    int error;                  /* PEER_DOWN, HANDSHAKE_FAILED: WEFT_ERR_* */
    const uint8_t *data;        /* MESSAGE: valid during the call only */
    size_t len;
    int prio;                   /* MESSAGE */
    const char *kind;           /* MESSAGE: ordered|unordered|unreliable */
    const char *sha256_hex;     /* MESSAGE: of data, 64 hex digits */
    const char *member_name;    /* MEMBER: NUL-terminated, peer-supplied */
    uint32_t incarnation;       /* MEMBER */
    uint64_t msg_id;            /* DELIVERED, SEND_FAILED */
} svc_event;

typedef void (*svc_watch_fn)(void *ud, const svc_event *ev);

/* Adds a watcher called after every event is logged.  Returns 0 or
 * WEFT_ERR_LIMIT.  A watcher may unwatch itself (or others) from fn. */
int service_watch(service *s, svc_watch_fn fn, void *ud);
void service_unwatch(service *s, svc_watch_fn fn, void *ud);

#endif
