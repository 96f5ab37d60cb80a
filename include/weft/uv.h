/*
 * uv.h -- run one weft engine on real UDP sockets with libuv.
 *
 * The engine (<weft/weft.h>) is sans-IO: it never touches a socket or a
 * clock.  A weft_uv_node is the thin driver that does: it binds the UDP
 * sockets the user lists (and no others; nothing is broadcast), feeds the
 * engine every received datagram with the current time (CLOCK_MONOTONIC in
 * microseconds, the clock of uv_hrtime()), drains the engine's outgoing
 * datagrams into batches sent with sendmmsg(2), and keeps one timer armed at
 * weft_engine_expiry() (a timerfd watched by libuv: microsecond precision,
 * where a uv_timer_t would round pacing delays up to a millisecond).
 * After every input (a received batch, a timer, an API call) it takes all
 * pending engine events and hands each to the user's callback, and only
 * then sends what the engine has to send: an acknowledgement never leaves
 * before the message it acknowledges reached the callback.
 *
 * The driver pumps itself: it installs the engine's wake-up (weft_env), so
 * an application or a module may call the engine and the modules directly
 * (weft_engine_send, weft_membership_join, ... with weft_uv_now_us() as
 * the time) and the datagrams go out at the next turn of the loop.
 *
 * Lifecycle follows libuv: weft_uv_node_new() ... weft_uv_node_close(cb);
 * the node's memory is released right after close_cb returns, so the node
 * must not be used after close_cb.  The node is single-threaded: call it only
 * from the loop's thread.
 *
 * Callbacks may call weft_uv_node_send()/_connect() (re-entrancy is handled
 * by deferring the drain to the outermost call) and weft_uv_node_close(),
 * but must not free anything the node still uses.
 */
#ifndef WEFT_UV_H
#define WEFT_UV_H

#include <uv.h>
#include <weft/weft.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_uv_node weft_uv_node;

/* One engine event.  Data it points to is valid only during the call;
 * passing it (or part of it) to weft_uv_node_send or weft_engine_send
 * from the callback is safe (they copy it first). */
typedef void (*weft_uv_event_cb)(weft_uv_node *node, const weft_event *ev,
                                 void *ud);
/* Called once when the node has closed all its handles; the node is freed
 * when this returns. */
typedef void (*weft_uv_close_cb)(weft_uv_node *node, void *ud);

#define WEFT_UV_MAX_LISTEN 8 /* sockets per node */

typedef struct weft_uv_config {
    weft_addr listen[WEFT_UV_MAX_LISTEN]; /* IPv4 and/or IPv6; port 0 = any */
    size_t listen_count;                  /* 1..WEFT_UV_MAX_LISTEN */
    weft_config engine;                   /* keys, limits, timers */
    weft_uv_event_cb on_event;            /* may be NULL */
    void *ud;                             /* passed to the callbacks */
    uint32_t sock_buf_bytes;              /* SO_RCVBUF/SO_SNDBUF; 0 = 4 MiB */
    uint32_t batch;                       /* datagrams per mmsg; 0 = 64, max 256 */
} weft_uv_config;

/* Fills defaults: no listen address, weft_config_default(), 4 MiB buffers,
 * batch 64. */
WEFT_EXTERN void weft_uv_config_default(weft_uv_config *cfg);

/*
 * Creates a node on loop: binds every cfg->listen address (with large socket
 * buffers and IP_PMTUDISC_DO, so oversized probes fail with EMSGSIZE instead
 * of being fragmented) and creates the engine.  env may be NULL: then libc
 * allocation, weft_crypto_sodium() and weft_rand_os() are used; otherwise it
 * must outlive the node.  Returns 0, WEFT_ERR_INVAL, WEFT_ERR_CONFIG,
 * WEFT_ERR_NOMEM or WEFT_ERR_IO (bind failed: errno-style detail in
 * weft_uv_last_error()).
 */
WEFT_EXTERN int weft_uv_node_new(weft_uv_node **out, uv_loop_t *loop,
                     const weft_uv_config *cfg, const weft_env *env);

/*
 * Starts closing: sends a CLOSE to every established peer (best effort, one
 * flush), stops the sockets and the timer, cancels pending resolutions, and
 * calls close_cb (may be NULL) once everything is closed.  Calling it twice
 * is a no-op.
 */
WEFT_EXTERN void weft_uv_node_close(weft_uv_node *node, weft_uv_close_cb close_cb);

/* Connects to a numeric address.  Returns what weft_engine_connect returns,
 * WEFT_ERR_INVAL when no socket of that address family is open, or
 * WEFT_ERR_STATE when closing. */
WEFT_EXTERN int weft_uv_node_connect_addr(weft_uv_node *node, const weft_addr *addr);

/*
 * Connects to "host:port", "1.2.3.4:port" or "[v6]:port".  Numeric addresses
 * connect at once; names are resolved with uv_getaddrinfo and the first
 * address of a family the node has a socket for is used.  A failed
 * resolution is reported as a WEFT_EV_HANDSHAKE_FAILED event with error
 * WEFT_ERR_NOT_FOUND and a zero addr.  Returns 0, WEFT_ERR_INVAL (syntax),
 * WEFT_ERR_STATE (closing) or the result of weft_uv_node_connect_addr.
 */
WEFT_EXTERN int weft_uv_node_connect(weft_uv_node *node, const char *hostport);

/*
 * Queues a message on channel (see weft_engine_send for flags, the
 * returned message id and the error codes).  The datagrams go out when the
 * current callback returns (an idle handle runs the drain before the loop
 * would block), so a burst of sends is packed together; call
 * weft_uv_node_flush() to send at once.
 */
WEFT_EXTERN int64_t weft_uv_node_send(weft_uv_node *node, const weft_node_id *to,
                                      uint16_t channel, const void *msg, size_t len,
                                      uint32_t flags);

/* Runs the engine now: due timers, events, outgoing datagrams. */
WEFT_EXTERN void weft_uv_node_flush(weft_uv_node *node);

/* Closes one session (CLOSE frame). */
WEFT_EXTERN int weft_uv_node_close_peer(weft_uv_node *node, const weft_node_id *peer);

/* The engine, for the engine's and the modules' calls (sessions, stats,
 * weft_membership_*).  Calls on it wake the driver; do not feed it
 * datagrams or run its timers yourself. */
WEFT_EXTERN weft_engine *weft_uv_node_engine(weft_uv_node *node);

/* The driver's clock (CLOCK_MONOTONIC in microseconds): the now_us to pass
 * to engine and module calls. */
WEFT_EXTERN uint64_t weft_uv_now_us(void);

/* The bound address of listen socket i (port filled in when 0 was asked).
 * Returns 0 or WEFT_ERR_INVAL. */
WEFT_EXTERN int weft_uv_node_local_addr(const weft_uv_node *node, size_t i,
                            weft_addr *out);
WEFT_EXTERN size_t weft_uv_node_listen_count(const weft_uv_node *node);

/* Driver-level counters (socket side; the engine has its own). */
typedef struct weft_uv_stats {
    uint64_t recv_calls, recv_datagrams;   /* recvmmsg calls / datagrams */
    uint64_t send_calls, send_datagrams;   /* sendmmsg calls / datagrams */
    uint64_t send_eagain;                  /* times the socket was full */
    uint64_t send_emsgsize;                /* oversized (probe) dropped */
    uint64_t send_errors;                  /* other send errors, dropped */
    uint64_t send_no_socket;               /* no socket for the family */
    uint64_t recv_truncated;               /* datagrams over the buffer */
    uint32_t rcvbuf_bytes, sndbuf_bytes;   /* as granted by the kernel */
    int fatal_error;                       /* fatal engine code, or 0 */
} weft_uv_stats;

WEFT_EXTERN void weft_uv_node_stats(const weft_uv_node *node, weft_uv_stats *st);

/* A short description of the last OS-level failure of weft_uv_node_new
 * (thread-unsafe static buffer; "" when none). */
const char *weft_uv_last_error(void);

/* Helpers for programs: sockaddr <-> weft_addr.  Return 0 or
 * WEFT_ERR_INVAL. */
struct sockaddr;
WEFT_EXTERN int weft_uv_addr_from_sockaddr(weft_addr *a, const struct sockaddr *sa);
WEFT_EXTERN int weft_uv_addr_to_sockaddr(const weft_addr *a, struct sockaddr_storage *ss,
                             unsigned *len);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_UV_H */
