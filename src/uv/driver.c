/*
 * driver.c -- the libuv driver: one weft engine on real UDP sockets.
 *
 * The engine is sans-IO; this file is all the I/O it gets.  Each listen
 * address becomes one non-blocking UDP socket watched by a uv_poll_t (not
 * uv_udp_t: we want recvmmsg/sendmmsg batches under our own control and
 * socket options libuv does not expose).  The flow is:
 *
 *   readable -> recvmmsg batch -> weft_engine_recv each -> pump
 *   timerfd  -> pump
 *   API call -> engine call -> pump (sends: pump on the loop's idle phase,
 *               so a burst of sends is packed into few datagrams)
 *   pump     = run due expiry (bounded) -> drain writes -> dispatch events
 *              -> drain writes -> re-arm the one timerfd at the engine expiry
 *
 * Writes are drained from weft_engine_write() into a batch of up to
 * cfg.batch datagrams and sent with sendmmsg().  When the kernel buffer is
 * full (EAGAIN) the unsent rest stays in the batch, the socket is watched
 * for writability, and the engine is not drained further until then: its
 * own congestion window and queue caps hold the backlog (weft_engine_send
 * reports WEFT_ERR_AGAIN to the application).  EMSGSIZE means a path-MTU
 * probe did not fit (IP_PMTUDISC_DO forbids fragmentation): the datagram
 * is dropped and the engine treats the probe as lost.
 *
 * Re-entrancy: the user's event callback may call send/connect/close.  Those
 * call pump() again; a busy flag turns the inner call into "run another
 * round" for the outer one, so engine event data stays valid and the
 * batch is never touched by two frames at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "weft/crypto.h"
#include "weft/uv.h"

#define PKT_CAP 65536          /* engine datagrams are at most this */
#define BATCH_DEFAULT 64
#define BATCH_MAX 256
#define RECV_BATCHES_MAX 16    /* recvmmsg calls per readable wakeup */
#define DRAIN_BATCHES_MAX 256  /* sendmmsg batches per pump, then yield */
#define PUMP_ROUNDS_MAX 64     /* re-entrant rounds per pump */
#define EXPIRY_RUNS_MAX 16     /* handle_expiry calls per pump */
#define STALE_REARM_US 1000    /* see arm_timer */
#define STALE_SLACK_US 500
#define SOCK_BUF_DEFAULT (4u << 20)

typedef struct sock {
    int fd;
    int family; /* AF_INET / AF_INET6 */
    int watching_write;
    uv_poll_t poll;
    weft_addr local;
    struct weft_uv_node *node;
} sock;

typedef struct out_slot {
    uint8_t *buf;
    uint32_t len;
    int sock; /* index into node->socks */
    struct sockaddr_storage to;
    socklen_t tolen;
} out_slot;

typedef struct resolve_req {
    uv_getaddrinfo_t req;
    struct weft_uv_node *node;
    struct resolve_req *next, *prev;
} resolve_req;

struct weft_uv_node {
    uv_loop_t *loop;
    weft_engine *engine;
    weft_env env; /* our copy; the engine keeps a pointer to it */
    const weft_allocator *alloc;
    weft_uv_event_cb on_event;
    weft_uv_close_cb close_cb;
    void *ud;

    sock socks[WEFT_UV_MAX_LISTEN];
    size_t nsocks;
    int tfd;           /* timerfd at the engine expiry (µs precision) */
    uv_poll_t tpoll;   /* watches tfd */
    uint64_t armed_us; /* deadline tfd is set to; 0 = disarmed */
    uv_idle_t idle; /* deferred pump after sends: coalesces a burst */
    int idle_on;

    uint32_t batch;
    /* recv side: batch buffers of PKT_CAP each */
    uint8_t *rbufs;
    struct mmsghdr *rmsgs;
    struct iovec *riov;
    struct sockaddr_storage *rnames;
    /* send side: out[0..out_count) are pending, in order */
    uint8_t *sbufs;
    out_slot *out;
    out_slot *out_tmp;
    size_t out_count;
    struct mmsghdr *smsgs;
    struct iovec *siov;
    int blocked; /* a socket is full: wait for UV_WRITABLE */
    int more_output; /* drain stopped at its bound: run again soon */

    int busy, again;
    int closing;
    int pending_handles;
    resolve_req *resolving;
    int pending_reqs;
    weft_uv_stats stats;
    int fatal;
};

static char last_error[160];

const char *weft_uv_last_error(void) { return last_error; }

/* CLOCK_MONOTONIC in µs: the clock uv_hrtime() reads on Linux, and the one
 * the timerfd is set against. */
static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void weft_uv_config_default(weft_uv_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    weft_config_default(&cfg->engine);
    cfg->sock_buf_bytes = SOCK_BUF_DEFAULT;
    cfg->batch = BATCH_DEFAULT;
}

/* ---------------------------------------------------------------------- */
/* Addresses                                                              */

int weft_uv_addr_from_sockaddr(weft_addr *a, const struct sockaddr *sa)
{
    memset(a, 0, sizeof *a);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a->family = 4;
        a->port = ntohs(in->sin_port);
        memcpy(a->ip, &in->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        a->family = 6;
        a->port = ntohs(in6->sin6_port);
        a->scope = in6->sin6_scope_id;
        memcpy(a->ip, &in6->sin6_addr, 16);
        return 0;
    }
    return WEFT_ERR_INVAL;
}

int weft_uv_addr_to_sockaddr(const weft_addr *a, struct sockaddr_storage *ss,
                             unsigned *len)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == 4) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(a->port);
        memcpy(&in->sin_addr, a->ip, 4);
        *len = sizeof *in;
        return 0;
    }
    if (a->family == 6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(a->port);
        in6->sin6_scope_id = a->scope;
        memcpy(&in6->sin6_addr, a->ip, 16);
        *len = sizeof *in6;
        return 0;
    }
    return WEFT_ERR_INVAL;
}

/* The first socket of the address family of a, or -1. */
static int sock_for(const weft_uv_node *n, const weft_addr *a)
{
    int fam = a->family == 4 ? AF_INET : a->family == 6 ? AF_INET6 : -1;
    for (size_t i = 0; i < n->nsocks; i++)
        if (n->socks[i].family == fam)
            return (int)i;
    return -1;
}

/* ---------------------------------------------------------------------- */
/* Output: engine -> batch -> sendmmsg                                     */

static void watch(weft_uv_node *n, size_t i, int want_write);

/* Removes the first k pending slots, keeping their buffers for reuse. */
static void out_shift(weft_uv_node *n, size_t k)
{
    if (k >= n->out_count) {
        /* buffers stay in their slots; count simply resets */
        n->out_count = 0;
        return;
    }
    memcpy(n->out_tmp, n->out, k * sizeof *n->out);
    memmove(n->out, n->out + k, (n->out_count - k) * sizeof *n->out);
    memcpy(n->out + (n->out_count - k), n->out_tmp, k * sizeof *n->out);
    n->out_count -= k;
}

/*
 * Sends the pending batch in runs of datagrams for the same socket.  Returns
 * 0 when everything went out (or was dropped for a reason counted in the
 * stats), 1 when a socket is full (node->blocked set, writability watched).
 */
static int flush(weft_uv_node *n)
{
    while (n->out_count > 0) {
        int s = n->out[0].sock;
        size_t run = 1;
        while (run < n->out_count && n->out[run].sock == s)
            run++;
        for (size_t i = 0; i < run; i++) {
            n->siov[i].iov_base = n->out[i].buf;
            n->siov[i].iov_len = n->out[i].len;
            memset(&n->smsgs[i], 0, sizeof n->smsgs[i]);
            n->smsgs[i].msg_hdr.msg_iov = &n->siov[i];
            n->smsgs[i].msg_hdr.msg_iovlen = 1;
            n->smsgs[i].msg_hdr.msg_name = &n->out[i].to;
            n->smsgs[i].msg_hdr.msg_namelen = n->out[i].tolen;
        }
        int r = sendmmsg(n->socks[s].fd, n->smsgs, (unsigned)run, 0);
        n->stats.send_calls++;
        if (r > 0) {
            n->stats.send_datagrams += (uint64_t)r;
            out_shift(n, (size_t)r);
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            n->stats.send_eagain++;
            n->blocked = 1;
            watch(n, (size_t)s, 1);
            return 1;
        }
        /* The first datagram of the run failed: drop it, keep the rest. */
        if (r < 0 && errno == EMSGSIZE)
            n->stats.send_emsgsize++;
        else
            n->stats.send_errors++;
        out_shift(n, 1);
    }
    return 0;
}

/*
 * Moves datagrams from the engine to the socket until the engine has
 * nothing more to send now, a socket is full, or DRAIN_BATCHES_MAX batches
 * went out (then more_output asks the timer to come back at once, so one
 * busy peer cannot starve the loop).
 */
static void drain(weft_uv_node *n)
{
    if (n->fatal)
        return;
    for (int b = 0; b < DRAIN_BATCHES_MAX; b++) {
        if (n->blocked)
            return;
        int engine_empty = 0;
        uint64_t now = now_us();
        while (n->out_count < n->batch) {
            out_slot *o = &n->out[n->out_count];
            weft_addr to;
            ptrdiff_t len = weft_engine_write(n->engine, &to, o->buf, PKT_CAP, now);
            if (len <= 0) {
                if (len <= WEFT_ERR_FATAL)
                    n->fatal = (int)len;
                engine_empty = 1;
                break;
            }
            int s = sock_for(n, &to);
            unsigned sl = 0;
            if (s < 0 || weft_uv_addr_to_sockaddr(&to, &o->to, &sl) != 0) {
                n->stats.send_no_socket++;
                continue;
            }
            o->tolen = (socklen_t)sl;
            o->len = (uint32_t)len;
            o->sock = s;
            n->out_count++;
        }
        if (flush(n))
            return;
        if (engine_empty)
            return;
    }
    n->more_output = 1;
}

/* ---------------------------------------------------------------------- */
/* The pump                                                                */

static void dispatch(weft_uv_node *n)
{
    weft_event ev;
    /* Bounded: the engine's event queue is itself capped; this bound only
     * guards against a bug looping forever. */
    /* After weft_uv_node_close() the user hears nothing but close_cb. */
    for (int i = 0; i < 65536 && !n->closing && weft_engine_poll(n->engine, &ev); i++)
        if (n->on_event)
            n->on_event(n, &ev, n->ud);
}

static void pump_soon(weft_uv_node *n);

/*
 * Points the timerfd at the engine's next deadline.  A libuv timer has
 * millisecond resolution, while pacing and ACK delays are tens of
 * microseconds: rounding them up to 1 ms would add that to every paced
 * packet.  A timerfd (absolute CLOCK_MONOTONIC) watched by a uv_poll_t wakes
 * the loop at the microsecond without spinning.  A deadline already past
 * fires at once.
 */
static void arm_timer(weft_uv_node *n)
{
    if (n->closing)
        return;
    if (n->more_output) {
        pump_soon(n);
        return;
    }
    uint64_t exp = weft_engine_expiry(n->engine);
    /* An armed deadline earlier than the engine's is normally left alone:
     * the engine moves its deadline (ACK delay, PTO) on nearly every
     * packet, and re-arming each time would cost a timerfd_settime per
     * packet.  Left alone, though, a stale timer fires with nothing due:
     * in a steady exchange the PTO deadline (~3 ms ahead) moves on with
     * every packet, so each process took a spare wakeup every ~3 ms, and
     * the round trips it landed in made up most of the p99 (bench RTT p99
     * 69-73 us with it, 34-52 us with far timers suppressed).  So a stale
     * timer that is about to fire (within STALE_REARM_US) and early by at
     * least STALE_SLACK_US is pushed back now, while we are awake anyway:
     * one settime every ~2 ms of activity instead of one wakeup per 3 ms,
     * and none at all per packet. */
    if (n->armed_us != 0 && n->armed_us <= exp) {
        uint64_t now = now_us();
        if (n->armed_us > now + STALE_REARM_US ||
            (exp != UINT64_MAX && exp < n->armed_us + STALE_SLACK_US))
            return;
        if (exp == UINT64_MAX) {
            struct itimerspec off;
            memset(&off, 0, sizeof off);
            if (timerfd_settime(n->tfd, TFD_TIMER_ABSTIME, &off, NULL) == 0)
                n->armed_us = 0;
            return;
        }
    }
    if (exp == UINT64_MAX)
        return; /* no deadline: nothing to arm */
    if (exp == 0)
        exp = 1; /* 0 would disarm: any past time fires at once */
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value.tv_sec = (time_t)(exp / 1000000u);
    its.it_value.tv_nsec = (long)(exp % 1000000u) * 1000;
    if (timerfd_settime(n->tfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        n->armed_us = exp;
}

/*
 * Runs everything the engine wants done now: due timers, outgoing datagrams
 * and events.  Re-entrant calls (from the event callback) only ask the
 * outermost call for another round.
 */
static void pump(weft_uv_node *n)
{
    if (n->busy) {
        n->again = 1;
        return;
    }
    n->busy = 1;
    n->more_output = 0;
    for (int round = 0; round < PUMP_ROUNDS_MAX && !n->fatal; round++) {
        n->again = 0;
        for (int i = 0; i < EXPIRY_RUNS_MAX; i++) {
            uint64_t now = now_us();
            if (weft_engine_expiry(n->engine) > now)
                break;
            int rc = weft_engine_handle_expiry(n->engine, now);
            if (rc <= WEFT_ERR_FATAL) {
                n->fatal = rc;
                break;
            }
        }
        /* Events first: an ACK leaves only after the application was
         * handed what it acknowledges (docs/ARCHITECTURE.md §Delivery),
         * and replies made in the callbacks ride with those ACKs. */
        dispatch(n);
        if (!n->closing)
            drain(n);
        if (!n->again)
            break;
    }
    n->busy = 0;
    arm_timer(n);
}

static void on_tfd(uv_poll_t *h, int status, int events)
{
    weft_uv_node *n = h->data;
    uint64_t expirations;
    if (read(n->tfd, &expirations, sizeof expirations) < 0) {
        /* EAGAIN: already consumed; nothing else can fail here */
    }
    n->armed_us = 0; /* one-shot: it is disarmed now */
    pump(n);
    (void)status;
    (void)events;
}

static void on_idle(uv_idle_t *h)
{
    weft_uv_node *n = h->data;
    uv_idle_stop(h);
    n->idle_on = 0;
    pump(n);
}

/*
 * Pumps soon rather than now: sends made in one callback (or before
 * uv_run) are drained together, so the engine can pack many small messages
 * into one datagram.  An active idle handle makes the loop poll without
 * blocking, so this adds no sleep.  Inside a pump it is just another round.
 */
static void pump_soon(weft_uv_node *n)
{
    if (n->busy) {
        n->again = 1;
        return;
    }
    if (!n->idle_on && !n->closing) {
        n->idle_on = 1;
        uv_idle_start(&n->idle, on_idle);
    }
}

/* The engine's wake-up (weft_env.wakeup): an API call left output or
 * events.  Called from inside the engine, so it only schedules. */
static void on_wakeup(void *ctx)
{
    pump_soon(ctx);
}

/* ---------------------------------------------------------------------- */
/* Input                                                                   */

static void recv_batches(weft_uv_node *n, sock *s)
{
    for (int b = 0; b < RECV_BATCHES_MAX && !n->closing && !n->fatal; b++) {
        /* The headers were set up once (recv_setup); the kernel only
         * writes msg_len, msg_flags and msg_namelen, and the last is reset
         * below for the entries this call used.  Re-initialising all
         * `batch` entries per call cost ~2k instructions per datagram in
         * a ping-pong (callgrind). */
        int r = recvmmsg(s->fd, n->rmsgs, n->batch, MSG_DONTWAIT, NULL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* EAGAIN: drained; other errors: retried on next wakeup */
        n->stats.recv_calls++;
        n->stats.recv_datagrams += (uint64_t)r;
        uint64_t now = now_us();
        for (int i = 0; i < r; i++) {
            if (n->rmsgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                n->stats.recv_truncated++;
                continue;
            }
            weft_addr from;
            if (weft_uv_addr_from_sockaddr(
                    &from, (struct sockaddr *)&n->rnames[i]) != 0)
                continue;
            int rc = weft_engine_recv(n->engine, &from,
                                      n->rbufs + (size_t)i * PKT_CAP,
                                      n->rmsgs[i].msg_len, now);
            if (rc <= WEFT_ERR_FATAL) {
                n->fatal = rc;
                break;
            }
        }
        for (int i = 0; i < r; i++)
            n->rmsgs[i].msg_hdr.msg_namelen = sizeof n->rnames[i];
        /* Drain between batches so ACKs go out while a burst is arriving. */
        pump(n);
        if ((uint32_t)r < n->batch)
            break;
    }
}

/* Points each receive header at its buffer and address slot, once. */
static void recv_setup(weft_uv_node *n)
{
    for (uint32_t i = 0; i < n->batch; i++) {
        n->riov[i].iov_base = n->rbufs + (size_t)i * PKT_CAP;
        n->riov[i].iov_len = PKT_CAP;
        memset(&n->rmsgs[i], 0, sizeof n->rmsgs[i]);
        n->rmsgs[i].msg_hdr.msg_iov = &n->riov[i];
        n->rmsgs[i].msg_hdr.msg_iovlen = 1;
        n->rmsgs[i].msg_hdr.msg_name = &n->rnames[i];
        n->rmsgs[i].msg_hdr.msg_namelen = sizeof n->rnames[i];
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    sock *s = p->data;
    weft_uv_node *n = s->node;
    if (status < 0)
        return; /* e.g. EBADF during close; nothing useful to do */
    if (events & UV_WRITABLE) {
        watch(n, (size_t)(s - n->socks), 0);
        n->blocked = 0;
        pump(n);
    }
    if (events & UV_READABLE)
        recv_batches(n, s);
}

static void watch(weft_uv_node *n, size_t i, int want_write)
{
    sock *s = &n->socks[i];
    if (n->closing || s->watching_write == want_write)
        return;
    s->watching_write = want_write;
    uv_poll_start(&s->poll, UV_READABLE | (want_write ? UV_WRITABLE : 0), on_poll);
}

/* ---------------------------------------------------------------------- */
/* Setup and teardown                                                     */

static int set_buf(int fd, int opt, int force_opt, uint32_t want, uint32_t *got)
{
    int v = (int)want;
    /* SO_*BUFFORCE passes the rmem_max/wmem_max cap when privileged. */
    if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof v) != 0)
        setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v);
    int cur = 0;
    socklen_t l = sizeof cur;
    if (getsockopt(fd, SOL_SOCKET, opt, &cur, &l) == 0)
        *got = (uint32_t)cur / 2; /* Linux reports twice the payload size */
    return 0;
}

static int open_sock(weft_uv_node *n, size_t i, const weft_addr *a,
                     uint32_t bufsz)
{
    sock *s = &n->socks[i];
    struct sockaddr_storage ss;
    unsigned sl = 0;
    if (weft_uv_addr_to_sockaddr(a, &ss, &sl) != 0)
        return WEFT_ERR_INVAL;
    s->family = ss.ss_family;
    s->node = n;
    s->fd = socket(s->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        snprintf(last_error, sizeof last_error, "socket: %s", strerror(errno));
        return WEFT_ERR_IO;
    }
    int one = 1;
    if (s->family == AF_INET6) {
        /* [::]:P must not also grab IPv4: the user lists what to bind. */
        setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        int pmtu = IPV6_PMTUDISC_DO;
        setsockopt(s->fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
    } else {
        /* DF set: a too-large MTU probe fails with EMSGSIZE (RFC 8899 §3)
         * instead of being fragmented and "succeeding". */
        int pmtu = IP_PMTUDISC_DO;
        setsockopt(s->fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    }
    uint32_t rcv = 0, snd = 0;
    set_buf(s->fd, SO_RCVBUF, SO_RCVBUFFORCE, bufsz, &rcv);
    set_buf(s->fd, SO_SNDBUF, SO_SNDBUFFORCE, bufsz, &snd);
    if (i == 0 || rcv < n->stats.rcvbuf_bytes)
        n->stats.rcvbuf_bytes = rcv;
    if (i == 0 || snd < n->stats.sndbuf_bytes)
        n->stats.sndbuf_bytes = snd;
    if (bind(s->fd, (struct sockaddr *)&ss, sl) != 0) {
        char tmp[WEFT_ADDR_STRLEN];
        if (weft_addr_format(a, tmp, sizeof tmp) < 0)
            snprintf(tmp, sizeof tmp, "?");
        snprintf(last_error, sizeof last_error, "bind %s: %s", tmp,
                 strerror(errno));
        close(s->fd);
        s->fd = -1;
        return WEFT_ERR_IO;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (getsockname(s->fd, (struct sockaddr *)&bound, &bl) == 0)
        weft_uv_addr_from_sockaddr(&s->local, (struct sockaddr *)&bound);
    else
        s->local = *a;
    if (uv_poll_init(n->loop, &s->poll, s->fd) != 0) {
        snprintf(last_error, sizeof last_error, "uv_poll_init failed");
        close(s->fd);
        s->fd = -1;
        return WEFT_ERR_IO;
    }
    s->poll.data = s;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    return 0;
}

static void free_node(weft_uv_node *n)
{
    const weft_allocator *a = n->alloc;
    weft_engine_del(n->engine);
    weft__free(a, n->rbufs);
    weft__free(a, n->rmsgs);
    weft__free(a, n->riov);
    weft__free(a, n->rnames);
    weft__free(a, n->sbufs);
    weft__free(a, n->out);
    weft__free(a, n->out_tmp);
    weft__free(a, n->smsgs);
    weft__free(a, n->siov);
    weft__free(a, n);
}

static void maybe_finish(weft_uv_node *n)
{
    if (!n->closing || n->pending_handles > 0 || n->pending_reqs > 0)
        return;
    for (size_t i = 0; i < n->nsocks; i++)
        if (n->socks[i].fd >= 0)
            close(n->socks[i].fd);
    if (n->tfd >= 0)
        close(n->tfd);
    if (n->close_cb)
        n->close_cb(n, n->ud);
    free_node(n);
}

static void on_tpoll_closed(uv_handle_t *h)
{
    weft_uv_node *n = h->data;
    n->pending_handles--;
    maybe_finish(n);
}

static void on_handle_closed(uv_handle_t *h)
{
    weft_uv_node *n = h->type == UV_POLL ? ((sock *)h->data)->node : h->data;
    n->pending_handles--;
    maybe_finish(n);
}

/*
 * Undoes a half-made node: the poll handles already initialised must be
 * closed the libuv way, so the memory is freed from their close callbacks
 * (on the next loop run), or at once when there are none.
 */
static void abort_new(weft_uv_node *n)
{
    for (size_t j = 0; j < n->nsocks; j++) {
        uv_poll_stop(&n->socks[j].poll);
        n->pending_handles++;
        uv_close((uv_handle_t *)&n->socks[j].poll, on_handle_closed);
    }
    n->closing = 1;
    n->close_cb = NULL;
    maybe_finish(n);
}

int weft_uv_node_new(weft_uv_node **out, uv_loop_t *loop,
                     const weft_uv_config *cfg, const weft_env *env)
{
    last_error[0] = 0;
    *out = NULL;
    if (!loop || !cfg || cfg->listen_count == 0 ||
        cfg->listen_count > WEFT_UV_MAX_LISTEN)
        return WEFT_ERR_INVAL;
    weft_env e;
    if (env) {
        e = *env;
    } else {
        memset(&e, 0, sizeof e);
        e.crypto = weft_crypto_sodium();
        e.rand.fill = weft_rand_os;
    }
    e.wakeup = on_wakeup; /* API calls on the engine pump the node */
    const weft_allocator *a = e.alloc;
    weft_uv_node *n = weft__calloc(a, sizeof *n);
    if (!n)
        return WEFT_ERR_NOMEM;
    e.wakeup_ctx = n;
    n->env = e;
    n->alloc = a;
    n->tfd = -1;
    n->loop = loop;
    n->on_event = cfg->on_event;
    n->ud = cfg->ud;
    n->batch = cfg->batch ? cfg->batch : BATCH_DEFAULT;
    if (n->batch > BATCH_MAX)
        n->batch = BATCH_MAX;
    size_t b = n->batch;
    n->rbufs = weft__alloc(a, b * PKT_CAP);
    n->rmsgs = weft__calloc(a, b * sizeof *n->rmsgs);
    n->riov = weft__calloc(a, b * sizeof *n->riov);
    n->rnames = weft__calloc(a, b * sizeof *n->rnames);
    n->sbufs = weft__alloc(a, b * PKT_CAP);
    n->out = weft__calloc(a, b * sizeof *n->out);
    n->out_tmp = weft__calloc(a, b * sizeof *n->out_tmp);
    n->smsgs = weft__calloc(a, b * sizeof *n->smsgs);
    n->siov = weft__calloc(a, b * sizeof *n->siov);
    if (!n->rbufs || !n->rmsgs || !n->riov || !n->rnames || !n->sbufs ||
        !n->out || !n->out_tmp || !n->smsgs || !n->siov) {
        free_node(n);
        return WEFT_ERR_NOMEM;
    }
    for (size_t i = 0; i < b; i++)
        n->out[i].buf = n->sbufs + i * PKT_CAP;
    recv_setup(n);

    int rc = weft_engine_new(&n->engine, &cfg->engine, &n->env, now_us());
    if (rc != 0) {
        n->engine = NULL;
        free_node(n);
        return rc;
    }
    for (size_t i = 0; i < WEFT_UV_MAX_LISTEN; i++)
        n->socks[i].fd = -1;
    uint32_t bufsz = cfg->sock_buf_bytes ? cfg->sock_buf_bytes : SOCK_BUF_DEFAULT;
    for (size_t i = 0; i < cfg->listen_count; i++) {
        rc = open_sock(n, i, &cfg->listen[i], bufsz);
        if (rc != 0) {
            n->nsocks = i;
            abort_new(n);
            return rc;
        }
        n->nsocks = i + 1;
    }
    n->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (n->tfd < 0 || uv_poll_init(loop, &n->tpoll, n->tfd) != 0) {
        snprintf(last_error, sizeof last_error, "timerfd: %s", strerror(errno));
        abort_new(n);
        return WEFT_ERR_IO;
    }
    n->tpoll.data = n;
    uv_poll_start(&n->tpoll, UV_READABLE, on_tfd);
    uv_idle_init(loop, &n->idle);
    n->idle.data = n;
    *out = n;
    pump(n);
    return 0;
}

void weft_uv_node_close(weft_uv_node *n, weft_uv_close_cb close_cb)
{
    if (!n || n->closing)
        return;
    /* Say goodbye first, while the sockets are still open. */
    uint64_t now = now_us();
    weft_peer_info pi;
    for (size_t k = weft_engine_peer_count(n->engine); k-- > 0;)
        if (weft_engine_peer_at(n->engine, 0, &pi) == 0)
            weft_engine_close_peer(n->engine, &pi.id, now);
    /* One best-effort flush, even if a socket was full and even from
     * inside an event callback (drain never calls back, so it is safe
     * there; the event's data is released by it, which is fine once the
     * user is closing). */
    n->blocked = 0;
    drain(n);
    n->closing = 1;
    n->close_cb = close_cb;
    uv_poll_stop(&n->tpoll);
    n->pending_handles++;
    uv_close((uv_handle_t *)&n->tpoll, on_tpoll_closed);
    uv_idle_stop(&n->idle);
    n->pending_handles++;
    uv_close((uv_handle_t *)&n->idle, on_handle_closed);
    for (size_t i = 0; i < n->nsocks; i++) {
        uv_poll_stop(&n->socks[i].poll);
        n->pending_handles++;
        uv_close((uv_handle_t *)&n->socks[i].poll, on_handle_closed);
    }
    for (resolve_req *r = n->resolving; r; r = r->next)
        uv_cancel((uv_req_t *)&r->req);
}

/* ---------------------------------------------------------------------- */
/* API                                                                     */

weft_engine *weft_uv_node_engine(weft_uv_node *n) { return n->engine; }

size_t weft_uv_node_listen_count(const weft_uv_node *n) { return n->nsocks; }

int weft_uv_node_local_addr(const weft_uv_node *n, size_t i, weft_addr *out)
{
    if (i >= n->nsocks)
        return WEFT_ERR_INVAL;
    *out = n->socks[i].local;
    return 0;
}

void weft_uv_node_stats(const weft_uv_node *n, weft_uv_stats *st)
{
    *st = n->stats;
    st->fatal_error = n->fatal;
}

int weft_uv_node_connect_addr(weft_uv_node *n, const weft_addr *addr)
{
    if (n->closing)
        return WEFT_ERR_STATE;
    if (sock_for(n, addr) < 0)
        return WEFT_ERR_INVAL;
    return weft_engine_connect(n->engine, addr, now_us());
}

static void resolve_failed(weft_uv_node *n)
{
    weft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = WEFT_EV_HANDSHAKE_FAILED;
    ev.error = WEFT_ERR_NOT_FOUND;
    if (n->on_event)
        n->on_event(n, &ev, n->ud);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    resolve_req *r = req->data;
    weft_uv_node *n = r->node;
    if (r->prev)
        r->prev->next = r->next;
    else
        n->resolving = r->next;
    if (r->next)
        r->next->prev = r->prev;
    n->pending_reqs--;
    int done = 0;
    if (!n->closing) {
        for (struct addrinfo *ai = status == 0 ? res : NULL; ai && !done; ai = ai->ai_next) {
            weft_addr a;
            if (weft_uv_addr_from_sockaddr(&a, ai->ai_addr) != 0 ||
                sock_for(n, &a) < 0)
                continue; /* a family we have no socket for */
            done = weft_uv_node_connect_addr(n, &a) == 0;
        }
        if (!done)
            resolve_failed(n);
    }
    if (res)
        uv_freeaddrinfo(res);
    weft__free(n->alloc, r);
    maybe_finish(n);
}

int weft_uv_node_connect(weft_uv_node *n, const char *hostport)
{
    if (n->closing)
        return WEFT_ERR_STATE;
    weft_addr a;
    if (weft_addr_parse(&a, hostport) == 0)
        return a.port ? weft_uv_node_connect_addr(n, &a) : WEFT_ERR_INVAL;
    /* host:port with a name: split at the last colon.  The port is checked
     * here: getaddrinfo would take 70000 and wrap it to 4464. */
    const char *colon = strrchr(hostport, ':');
    if (!colon || colon == hostport || strlen(colon + 1) == 0 ||
        strlen(colon + 1) > 5 || (size_t)(colon - hostport) >= 256)
        return WEFT_ERR_INVAL;
    char host[256], port[8];
    memcpy(host, hostport, (size_t)(colon - hostport));
    host[colon - hostport] = 0;
    snprintf(port, sizeof port, "%s", colon + 1);
    unsigned long pv = 0;
    for (const char *p = port; *p; p++) {
        if (*p < '0' || *p > '9')
            return WEFT_ERR_INVAL;
        pv = pv * 10 + (unsigned long)(*p - '0');
    }
    if (pv < 1 || pv > 65535)
        return WEFT_ERR_INVAL;
    resolve_req *r = weft__calloc(n->alloc, sizeof *r);
    if (!r)
        return WEFT_ERR_NOMEM;
    r->node = n;
    r->req.data = r;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    if (uv_getaddrinfo(n->loop, &r->req, on_resolved, host, port, &hints) != 0) {
        weft__free(n->alloc, r);
        return WEFT_ERR_INVAL;
    }
    r->next = n->resolving;
    if (r->next)
        r->next->prev = r;
    n->resolving = r;
    n->pending_reqs++;
    return 0;
}

int64_t weft_uv_node_send(weft_uv_node *n, const weft_node_id *to, uint16_t channel,
                          const void *msg, size_t len, uint32_t flags)
{
    if (n->closing)
        return WEFT_ERR_STATE;
    /* the engine copies msg before it releases anything, so the data of
     * the event being handed to the callback may be echoed directly */
    return weft_engine_send(n->engine, to, channel, msg, len, flags, now_us());
}

uint64_t weft_uv_now_us(void)
{
    return now_us();
}

void weft_uv_node_flush(weft_uv_node *n)
{
    if (!n->closing)
        pump(n);
}

int weft_uv_node_close_peer(weft_uv_node *n, const weft_node_id *peer)
{
    if (n->closing)
        return WEFT_ERR_STATE;
    return weft_engine_close_peer(n->engine, peer, now_us());
}
