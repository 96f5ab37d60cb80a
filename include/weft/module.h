/*
 * module.h -- how a protocol plugs into the engine (the protocol host).
 *
 * The engine is a kernel: sessions, dispatch, timers, events.  Every
 * protocol above it -- membership, routing, pub/sub, queries, the store --
 * is a module: a sans-IO state machine that registers one static table of
 * operations (weft_module_ops) with the engine and owns
 *
 *   - a datagram type (the first byte of a UDP payload, 0x20..0x7f) for
 *     traffic that needs no session (membership), and/or
 *   - a range of message channels (docs/PROTOCOL.md §Channels) for traffic
 *     carried by the secure reliable sessions.
 *
 * The engine calls a module only from inside its own entry points
 * (weft_engine_recv, _write, _handle_expiry, and the module's public calls
 * bracketed by weft_host_enter/leave), never re-entrantly from another
 * module's callback: on_message and on_event run after the packet that
 * caused them was processed, so a module may send, emit and close peers
 * from them.  A module reaches the rest of the system only through this
 * header and the public headers of other modules (<weft/membership.h>...),
 * never through their structs.  docs/ARCHITECTURE.md §Adding a protocol
 * walks through a complete example (tests/unit/test_module.c: an echo
 * protocol on its own channel, registered from outside the library).
 *
 * Versioning: ops->version is WEFT_MODULE_OPS_VERSION of the header the
 * module was built with; the engine refuses versions it does not know.
 */
#ifndef WEFT_MODULE_H
#define WEFT_MODULE_H

#include <weft/engine.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_MODULE_OPS_V1 1
#define WEFT_MODULE_OPS_VERSION WEFT_MODULE_OPS_V1
#define WEFT_MODULES_MAX 16      /* modules per engine */
#define WEFT_PKT_MODULE_MIN 0x20 /* datagram types a module may own */
#define WEFT_PKT_MODULE_MAX 0x7f

typedef struct weft_module_ops {
    int version;               /* WEFT_MODULE_OPS_VERSION */
    const char *name;          /* unique per engine, e.g. "membership" */
    uint8_t pkt_type;          /* datagram type owned, 0 = none */
    uint16_t channel_lo;       /* channels owned: lo..hi, 0 = none */
    uint16_t channel_hi;
    int event_family;          /* WEFT_EVF_* of its events, 0 = none (for
                                  weft_event_name) */

    /* A datagram of its type arrived.  Returns 0 or the drop reason (the
     * module counts its own drops; the engine passes the code on). */
    int (*on_datagram)(void *m, const weft_addr *from, const uint8_t *pkt,
                       size_t len, uint64_t now_us);
    /* A whole message on one of its channels arrived from an established
     * session.  msg is valid during the call only: copy what you keep.
     * Returns 0 or a drop reason (counted by the module). */
    int (*on_message)(void *m, const weft_node_id *from, uint16_t channel,
                      const uint8_t *msg, size_t len, uint32_t flags,
                      uint64_t now_us);
    /* Every event but WEFT_EV_MESSAGE, including other modules' (member
     * joined, peer down...), after it was queued for the application.
     * Events the module emitted itself are not echoed back. */
    void (*on_event)(void *m, const weft_event *ev, uint64_t now_us);
    /* Next datagram of its own to send (like weft_engine_write): length,
     * 0 when none, or a negative error.  Modules' datagrams leave before
     * session data, in registration order. */
    ptrdiff_t (*write)(void *m, weft_addr *to, uint8_t *buf, size_t cap,
                       uint64_t now_us);
    /* Its next deadline (UINT64_MAX: none) and the call that runs it. */
    uint64_t (*expiry)(const void *m);
    int (*handle_expiry)(void *m, uint64_t now_us);
    /* Where node id can be reached, for sessions opened on demand by
     * weft_engine_send: 0 with *out filled, or WEFT_ERR_NOT_FOUND. */
    int (*resolve)(void *m, const weft_node_id *id, weft_addr *out);
    /* Name of one of its event types, or NULL. */
    const char *(*event_name)(int type);
    /* Frees the module (from weft_engine_del). */
    void (*free)(void *m);
} weft_module_ops;

/*
 * Registers module state m with its ops (ops must outlive the engine: use
 * a static table).  Returns 0, WEFT_ERR_INVAL (bad ops: unknown version,
 * no name, pkt_type outside WEFT_PKT_MODULE_MIN..MAX, channel range with
 * lo > hi or lo 0 while hi is set), WEFT_ERR_EXISTS (name, packet type or
 * a channel already taken), WEFT_ERR_LIMIT (WEFT_MODULES_MAX).  On error
 * nothing is kept (m is not freed).
 */
WEFT_EXTERN int weft_host_register(weft_engine *e, const weft_module_ops *ops,
                                   void *m);
/* The state of the module registered under name, or NULL. */
WEFT_EXTERN void *weft_host_module(const weft_engine *e, const char *name);

/*
 * A module's public calls (made by the application, outside the engine's
 * entry points) begin with weft_host_enter (the engine's clock moves to
 * now_us) and end with weft_host_leave (events it emitted reach the other
 * modules; the driver is woken when output is pending).
 */
WEFT_EXTERN void weft_host_enter(weft_engine *e, uint64_t now_us);
WEFT_EXTERN void weft_host_leave(weft_engine *e);

/*
 * Queues an event for the application and the other modules.  m is the
 * emitting module's state (it is not told of its own event).  Data the
 * event points to (u.message.data, u.module.data) is copied.  Returns 0 or
 * WEFT_ERR_NOMEM (counted in events_dropped).
 */
WEFT_EXTERN int weft_host_emit(weft_engine *e, const void *m, const weft_event *ev);

/* The engine's clock as of the current call. */
WEFT_EXTERN uint64_t weft_host_now(const weft_engine *e);
WEFT_EXTERN const weft_allocator *weft_host_allocator(const weft_engine *e);
WEFT_EXTERN const struct weft_crypto *weft_host_crypto(const weft_engine *e);
/* Fills buf with len random bytes from the engine's weft_rand. */
WEFT_EXTERN void weft_host_random(weft_engine *e, uint8_t *buf, size_t len);
/* Signs msg with this node's identity key (Ed25519). */
WEFT_EXTERN void weft_host_sign(const weft_engine *e, uint8_t sig[64],
                                const uint8_t *msg, size_t len);
/* A 32-byte key for `label` derived from the network key:
 * BLAKE2b-512(label || network_key)[0..32).  Labels are per protocol and
 * version, e.g. "weft-echo-v1". */
WEFT_EXTERN void weft_host_derive_key(const weft_engine *e, const char *label,
                                      uint8_t out[32]);
/* The raw keys, for modules whose own state machines take them (the
 * membership module hands them to its SWIM instance).  Do not copy them
 * anywhere that outlives the engine. */
WEFT_EXTERN void weft_host_keys(const weft_engine *e, const uint8_t **identity_secret,
                                const uint8_t **network_key);
/* 1 when a session with id is established. */
WEFT_EXTERN int weft_host_peer_up(const weft_engine *e, const weft_node_id *id);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_MODULE_H */
