/*
 * bench_transport.c -- weft's secure reliable transport against raw UDP on
 * 127.0.0.1, two processes, measured in the same run.
 *
 * Baseline (raw UDP, the method of shared/anchors/udpbench.c, our own code):
 *   - 64 B ping-pong with blocking sendto/recv, echoed by a forked child:
 *     RTT median and p99 after a warm-up; also the same echo sleeping in
 *     epoll_wait (raw_epoll_*), the floor of any event-loop design;
 *   - one-way sendmmsg/recvmmsg blast (batch 64) of 64 B, 1 KiB and 60000 B
 *     datagrams: datagrams/s and MB/s counted by the receiver.
 * weft (two weft_uv_node processes, Noise-encrypted, reliable):
 *   - RTT of a 64 B ordered message and its echo: median, p99;
 *   - one-way throughput of 64 B, 1 KiB and 64 KiB ordered messages, the
 *     sender keeping its queue full (refilling until WEFT_ERR_AGAIN after
 *     every loop iteration), counted by the receiver: msgs/s and MB/s.
 * Output: one JSON object per line on stdout, e.g.
 *   {"bench":"transport","metric":"rtt_median_us","value":24.1,"unit":"us",
 *    "baseline":21.0,"ratio":1.148}
 * Progress and notes go to stderr.  This is a benchmark, not a test: it
 * asserts nothing.  Every loop is bounded in count and time; children get
 * PR_SET_PDEATHSIG and an alarm, and are killed and reaped at exit.
 *
 * usage: bench_transport [--secs S] [--rtt-count N] [--rtt-dump FILE]
 *                        [--raw-only | --weft-only | --only rtt|64|1k|64k]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weft/uv.h"

#define BATCH 64
#define WARMUP 2000

static double secs_per_size = 4.0;
static long rtt_count = 20000;
static const char *rtt_dump; /* --rtt-dump FILE: every weft RTT sample, in order */
static pid_t child_pid = -1;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void kill_child(void)
{
    if (child_pid > 0) {
        kill(child_pid, SIGKILL);
        waitpid(child_pid, NULL, 0);
        child_pid = -1;
    }
}

static void child_setup(void)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    alarm(120); /* no child outlives a stuck parent by long */
}

static void emit(const char *metric, double value, const char *unit, double baseline)
{
    printf("{\"bench\":\"transport\",\"metric\":\"%s\",\"value\":%.3f,\"unit\":\"%s\"",
           metric, value, unit);
    if (baseline > 0)
        printf(",\"baseline\":%.3f,\"ratio\":%.3f", baseline, value / baseline);
    printf("}\n");
    fflush(stdout);
}

/* ---------------------------------------------------------------------- */
/* Raw UDP baseline                                                        */

static int raw_socket(struct sockaddr_in *bound, int bufsz)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        perror("raw socket");
        exit(1);
    }
    if (bufsz) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsz, sizeof bufsz);
    }
    socklen_t l = sizeof *bound;
    getsockname(fd, (struct sockaddr *)bound, &l);
    return fd;
}

/*
 * Waits (up to timeout_ms) for fd to be readable through epoll, the way an
 * event loop sleeps, then receives.  Used by the "epoll" variant of the
 * ping-pong: the floor for any event-loop design (libuv included).
 */
static ssize_t recv_epoll(int ep, int fd, char *buf, size_t cap,
                          struct sockaddr_in *from, socklen_t *fl, int timeout_ms)
{
    struct epoll_event ev;
    if (epoll_wait(ep, &ev, 1, timeout_ms) <= 0)
        return -1;
    return recvfrom(fd, buf, cap, MSG_DONTWAIT, (struct sockaddr *)from, fl);
}

static int raw_pingpong(int size, long count, int use_epoll, double *median, double *p99)
{
    struct sockaddr_in aa, ba;
    int fa = raw_socket(&aa, 0), fb = raw_socket(&ba, 0);
    static char buf[65536];
    child_pid = fork();
    if (child_pid == 0) {
        child_setup();
        close(fa);
        struct timeval tv = {2, 0};
        setsockopt(fb, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int ep = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN};
        epoll_ctl(ep, EPOLL_CTL_ADD, fb, &ev);
        for (long i = 0; i < count + WARMUP + 1000; i++) {
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t n = use_epoll ? recv_epoll(ep, fb, buf, sizeof buf, &from, &fl, 2000)
                                  : recvfrom(fb, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
            if (n <= 0 || (n == 4 && !memcmp(buf, "STOP", 4)))
                break;
            sendto(fb, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
        }
        _exit(0);
    }
    close(fb);
    struct timeval tv = {1, 0};
    setsockopt(fa, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, fa, &ev);
    double *rtt = malloc(sizeof(double) * (size_t)count);
    long got = 0;
    double t_start = now_s();
    memset(buf, 'p', (size_t)size);
    for (long i = 0; i < count + WARMUP && now_s() - t_start < 20.0; i++) {
        memcpy(buf, &i, sizeof i);
        double t0 = now_s();
        sendto(fa, buf, (size_t)size, 0, (struct sockaddr *)&ba, sizeof ba);
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t n = use_epoll ? recv_epoll(ep, fa, buf, sizeof buf, &from, &fl, 1000)
                              : recv(fa, buf, sizeof buf, 0);
        double t1 = now_s();
        if (n == size && i >= WARMUP)
            rtt[got++] = (t1 - t0) * 1e6;
    }
    sendto(fa, "STOP", 4, 0, (struct sockaddr *)&ba, sizeof ba);
    close(fa);
    close(ep);
    waitpid(child_pid, NULL, 0);
    child_pid = -1;
    if (got == 0) {
        free(rtt);
        return -1;
    }
    qsort(rtt, (size_t)got, sizeof(double), cmpd);
    *median = rtt[got / 2];
    *p99 = rtt[(long)((double)got * 0.99)];
    free(rtt);
    return 0;
}

/* Returns datagrams/s counted by the receiver; *mbps gets MB/s. */
static double raw_blast(int size, double secs, double *mbps)
{
    struct sockaddr_in aa, ba;
    int fa = raw_socket(&aa, 4 << 20), fb = raw_socket(&ba, 4 << 20);
    int pfd[2];
    if (pipe(pfd) != 0)
        return 0;
    child_pid = fork();
    if (child_pid == 0) {
        child_setup();
        close(fa);
        struct timeval tv = {0, 300000};
        setsockopt(fb, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        static char rb[BATCH][65536];
        struct mmsghdr msgs[BATCH];
        struct iovec iov[BATCH];
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = rb[i];
            iov[i].iov_len = sizeof rb[i];
            memset(&msgs[i], 0, sizeof msgs[i]);
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        long n = 0, bytes = 0;
        double tfirst = 0, tlast = 0, t_start = now_s();
        while (now_s() - t_start < secs + 5) {
            int k = recvmmsg(fb, msgs, BATCH, 0, NULL);
            if (k <= 0) {
                if (n)
                    break; /* sender finished */
                continue;
            }
            for (int i = 0; i < k; i++)
                bytes += msgs[i].msg_len;
            if (!n)
                tfirst = now_s();
            n += k;
            tlast = now_s();
        }
        double r[3] = {(double)n, tlast - tfirst, (double)bytes};
        if (write(pfd[1], r, sizeof r) < 0) {
        }
        _exit(0);
    }
    close(fb);
    static char buf[65536];
    memset(buf, 'b', sizeof buf);
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = buf;
        iov[i].iov_len = (size_t)size;
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_name = &ba;
        msgs[i].msg_hdr.msg_namelen = sizeof ba;
    }
    double t0 = now_s();
    while (now_s() - t0 < secs)
        for (int rep = 0; rep < 16; rep++)
            sendmmsg(fa, msgs, BATCH, 0);
    double r[3] = {0, 0, 0};
    if (read(pfd[0], r, sizeof r) != (ssize_t)sizeof r)
        memset(r, 0, sizeof r);
    waitpid(child_pid, NULL, 0);
    child_pid = -1;
    close(fa);
    close(pfd[0]);
    close(pfd[1]);
    *mbps = r[1] > 0 ? r[2] / r[1] / 1e6 : 0;
    return r[1] > 0 ? r[0] / r[1] : 0;
}

/* ---------------------------------------------------------------------- */
/* weft: the echo/sink child                                               */

/* Message tags (first byte).  A sink message carries its phase number in
 * byte 1; the receiver reports its counters for the current phase every
 * 100 ms while they change, at CRITICAL priority (its own ordered lane and
 * the other direction's flow-control credit), so a report never waits
 * behind the data it counts. */
enum { TAG_ECHO = 'E', TAG_SINK = 'S', TAG_REPORT = 'r' };
#define REPORT_MS 100

typedef struct report {
    uint64_t phase, count, bytes, first_ns, last_ns;
} report;

static struct {
    report r;
    uint64_t reported_count;
    weft_node_id peer;
    int have_peer;
    uv_loop_t *loop;
    uv_timer_t tick;
    weft_uv_node *node; /* also for a debugger */
} C;

static void child_event(weft_uv_node *node, const weft_event *ev, void *ud)
{
    if (ev->type == WEFT_EV_PEER_DOWN) {
        uv_timer_stop(&C.tick);
        uv_close((uv_handle_t *)&C.tick, NULL);
        weft_uv_node_close(node, NULL);
        return;
    }
    if (ev->type != WEFT_EV_MESSAGE || ev->u.message.len == 0)
        return;
    C.peer = ev->peer;
    C.have_peer = 1;
    switch (ev->u.message.data[0]) {
    case TAG_ECHO:
        weft_uv_node_send(node, &ev->peer, WEFT_CHANNEL_APP, ev->u.message.data, ev->u.message.len, ev->u.message.flags);
        break;
    case TAG_SINK: {
        uint64_t t = uv_hrtime();
        uint64_t ph = ev->u.message.len > 1 ? ev->u.message.data[1] : 0;
        if (ph != C.r.phase || !C.r.count) {
            memset(&C.r, 0, sizeof C.r);
            C.r.phase = ph;
            C.r.first_ns = t;
            C.reported_count = 0;
        }
        C.r.last_ns = t;
        C.r.count++;
        C.r.bytes += ev->u.message.len;
        break;
    }
    }
    (void)ud;
}

static void child_tick(uv_timer_t *t)
{
    (void)t;
    if (!C.have_peer || C.r.count == C.reported_count)
        return;
    uint8_t m[1 + sizeof(report)];
    m[0] = TAG_REPORT;
    memcpy(m + 1, &C.r, sizeof C.r);
    if (weft_uv_node_send(C.node, &C.peer, WEFT_CHANNEL_APP, m, sizeof m, WEFT_PRIO_CRITICAL) > 0)
        C.reported_count = C.r.count;
}

static void make_config(weft_uv_config *cfg, const uint8_t netkey[32])
{
    weft_uv_config_default(cfg);
    weft_addr_parse(&cfg->listen[0], "127.0.0.1:0");
    cfg->listen_count = 1;
    uint8_t pk[32];
    crypto_sign_keypair(pk, cfg->engine.identity_secret);
    memcpy(cfg->engine.network_key, netkey, 32);
    cfg->engine.max_queued_bytes = 16u << 20; /* keeps the drain tail short */
}

static void run_child(const uint8_t netkey[32], int port_fd)
{
    child_setup();
    weft_uv_config cfg;
    make_config(&cfg, netkey);
    cfg.on_event = child_event;
    uv_loop_t loop;
    uv_loop_init(&loop);
    C.loop = &loop;
    weft_uv_node *node;
    int rc = weft_uv_node_new(&node, &loop, &cfg, NULL);
    C.node = rc == 0 ? node : NULL;
    uint16_t port = 0;
    weft_addr a;
    if (rc == 0 && weft_uv_node_local_addr(node, 0, &a) == 0)
        port = a.port;
    if (write(port_fd, &port, sizeof port) < 0) {
    }
    if (rc != 0)
        _exit(1);
    uv_timer_init(&loop, &C.tick);
    uv_timer_start(&C.tick, child_tick, REPORT_MS, REPORT_MS);
    uv_run(&loop, UV_RUN_DEFAULT); /* ends when the parent's session goes */
    _exit(0);
}

/* ---------------------------------------------------------------------- */
/* weft: the measuring parent                                              */

enum { PH_CONNECT, PH_RTT, PH_TPUT, PH_DRAIN, PH_DONE };

static struct {
    uv_loop_t loop;
    weft_uv_node *node;
    uv_timer_t deadline;
    uv_timer_t wake; /* 100 ms: lets on_refill notice a stalled drain */
    uv_check_t refill;
    weft_node_id peer;
    int phase, failed;
    /* rtt */
    double *rtt;
    long rtt_i, rtt_got, rtt_mismatch;
    uint64_t t_sent_ns;
    double rtt_started;
    uint8_t ping[64];
    /* throughput */
    size_t size_idx;
    uint8_t *payload;
    uint64_t sent;
    double phase_end, last_progress;
    report last; /* latest receiver report for this phase */
    int closed;
    int what; /* 0 = RTT, 1..3 = throughput size index + 1 */
} P;

/* Results survive the per-phase sessions. */
static struct {
    long rtt_got;
    double rtt_med, rtt_p99, rtt_p999;
    double tput_msgs[3], tput_mbps[3];
    uint64_t tput_sent[3], tput_recv[3];
} R;

static const size_t tput_sizes[3] = {64, 1024, 65536};

static void next_phase(void);

static void send_ping(void)
{
    memcpy(P.ping + 1, &P.rtt_i, sizeof P.rtt_i);
    P.t_sent_ns = uv_hrtime();
    int rc = (int)weft_uv_node_send(P.node, &P.peer, WEFT_CHANNEL_APP, P.ping, sizeof P.ping,
                                    WEFT_PRIO_NORMAL);
    if (rc < 0) {
        fprintf(stderr, "bench: ping send failed: %s\n", weft_err_name(rc));
        P.failed = 1;
        P.phase = PH_DONE;
        next_phase();
    }
}

static void parent_event(weft_uv_node *node, const weft_event *ev, void *ud)
{
    (void)node;
    (void)ud;
    if (ev->type == WEFT_EV_PEER_UP && P.phase == PH_CONNECT) {
        P.peer = ev->peer;
        P.phase = P.what == 0 ? PH_RTT : PH_TPUT;
        P.size_idx = P.what == 0 ? 0 : (size_t)(P.what - 1);
        next_phase();
        return;
    }
    if (ev->type == WEFT_EV_PEER_DOWN || ev->type == WEFT_EV_HANDSHAKE_FAILED) {
        fprintf(stderr, "bench: session lost: %s\n", weft_err_name(ev->error));
        P.failed = 1;
        P.phase = PH_DONE;
        next_phase();
        return;
    }
    if (ev->type != WEFT_EV_MESSAGE || ev->u.message.len == 0)
        return;
    if (P.phase == PH_RTT && (ev->u.message.data[0] != TAG_ECHO || ev->u.message.len != sizeof P.ping)) {
        fprintf(stderr, "bench: unexpected message len=%zu tag=%d in RTT phase\n", ev->u.message.len, ev->u.message.data[0]);
        return;
    }
    if (P.phase == PH_RTT) {
        long i;
        memcpy(&i, ev->u.message.data + 1, sizeof i);
        if (i != P.rtt_i) {
            /* cannot happen with ordered reliable delivery: report it */
            fprintf(stderr, "bench: echo %ld while waiting for %ld\n", i, P.rtt_i);
            P.rtt_mismatch++;
            return;
        }
        double us = (double)(uv_hrtime() - P.t_sent_ns) / 1000.0;
        if (P.rtt_i >= WARMUP)
            P.rtt[P.rtt_got++] = us;
        P.rtt_i++;
        if (P.rtt_got >= rtt_count || now_s() - P.rtt_started > 20.0) {
            P.phase = PH_DONE;
            next_phase();
        } else {
            send_ping();
        }
        return;
    }
    if (ev->u.message.data[0] == TAG_REPORT && ev->u.message.len == 1 + sizeof(report)) {
        report r;
        memcpy(&r, ev->u.message.data + 1, sizeof r);
        if ((P.phase == PH_TPUT || P.phase == PH_DRAIN) && r.phase == P.size_idx + 1 &&
            r.count > P.last.count) {
            P.last = r;
            P.last_progress = now_s();
        }
    }
}

/* Ends a throughput phase with the receiver's latest figures. */
static void finish_size(void)
{
    report r = P.last;
    double dt = (double)(r.last_ns - r.first_ns) / 1e9;
    size_t k = P.size_idx;
    R.tput_msgs[k] = dt > 0 ? (double)r.count / dt : 0;
    R.tput_mbps[k] = dt > 0 ? (double)r.bytes / dt / 1e6 : 0;
    R.tput_sent[k] = P.sent;
    R.tput_recv[k] = r.count;
    fprintf(stderr, "bench: weft %zu B: sent %llu, received %llu in %.2f s: %.0f msgs/s %.1f MB/s%s\n",
            tput_sizes[k], (unsigned long long)P.sent, (unsigned long long)r.count, dt,
            R.tput_msgs[k], R.tput_mbps[k],
            r.count < P.sent ? " -- NOT ALL DELIVERED (receiver stalled)" : "");
    P.phase = PH_DONE;
    next_phase();
}

/* After every loop iteration: keep the send queue full during a
 * throughput phase; afterwards wait until the receiver has counted every
 * message, or has made no progress for 2 s (then the shortfall is
 * reported), at most 15 s. */
static void on_refill(uv_check_t *h)
{
    (void)h;
    if (P.phase == PH_TPUT && now_s() >= P.phase_end) {
        P.phase = PH_DRAIN;
        P.last_progress = now_s();
    }
    if (P.phase == PH_DRAIN) {
        double t = now_s();
        if (P.last.count >= P.sent || t - P.last_progress > 2.0 || t > P.phase_end + 15.0)
            finish_size();
        return;
    }
    if (P.phase != PH_TPUT)
        return;
    size_t size = tput_sizes[P.size_idx];
    for (int i = 0; i < 100000; i++) {
        int rc = (int)weft_uv_node_send(P.node, &P.peer, WEFT_CHANNEL_APP, P.payload, size,
                                        WEFT_PRIO_NORMAL);
        if (rc == WEFT_ERR_AGAIN)
            break;
        if (rc < 0) {
            fprintf(stderr, "bench: send failed: %s\n", weft_err_name(rc));
            P.failed = 1;
            P.phase = PH_DONE;
            next_phase();
            return;
        }
        P.sent++;
    }
}

static void on_wake(uv_timer_t *t)
{
    (void)t;
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "bench: phase %d timed out\n", P.phase);
    P.failed = 1;
    P.phase = PH_DONE;
    next_phase();
}

static void next_phase(void)
{
    switch (P.phase) {
    case PH_RTT:
        fprintf(stderr, "bench: weft session up; RTT phase\n");
        uv_timer_start(&P.deadline, on_deadline, 60000, 0);
        P.ping[0] = TAG_ECHO;
        P.rtt_started = now_s();
        send_ping();
        break;
    case PH_TPUT:
        uv_timer_start(&P.deadline, on_deadline, (uint64_t)(secs_per_size * 1000) + 30000, 0);
        P.sent = 0;
        P.phase_end = now_s() + secs_per_size;
        memset(P.payload, 0, tput_sizes[P.size_idx]);
        memset(&P.last, 0, sizeof P.last);
        P.payload[0] = TAG_SINK;
        P.payload[1] = (uint8_t)(P.size_idx + 1);
        break;
    case PH_DONE:
        if (P.closed)
            return;
        P.closed = 1;
        if (P.node) {
            weft_stats st;
            weft_uv_stats us;
            weft_engine_stats(weft_uv_node_engine(P.node), &st);
            weft_uv_node_stats(P.node, &us);
            fprintf(stderr, "bench: sender pkts_out=%llu pkts_in=%llu retransmits=%llu sendmmsg=%llu eagain=%llu\n",
                    (unsigned long long)st.pkts_out, (unsigned long long)st.pkts_in,
                    (unsigned long long)st.retransmits, (unsigned long long)us.send_calls,
                    (unsigned long long)us.send_eagain);
        }
        uv_timer_stop(&P.deadline);
        uv_check_stop(&P.refill);
        if (P.node)
            weft_uv_node_close(P.node, NULL);
        P.node = NULL;
        uv_close((uv_handle_t *)&P.deadline, NULL);
        uv_timer_stop(&P.wake);
        uv_close((uv_handle_t *)&P.wake, NULL);
        uv_close((uv_handle_t *)&P.refill, NULL);
        break;
    }
}

/* One session in a fresh pair of processes for one measurement (what:
 * 0 = RTT, 1..3 = a throughput size), so a stall in one cannot spoil the
 * next. */
static int run_weft(int what)
{
    memset(&P, 0, sizeof P);
    P.what = what;
    uint8_t netkey[32];
    randombytes_buf(netkey, sizeof netkey);
    int pfd[2];
    if (pipe(pfd) != 0)
        return -1;
    child_pid = fork();
    if (child_pid == 0) {
        close(pfd[0]);
        run_child(netkey, pfd[1]);
    }
    close(pfd[1]);
    uint16_t port = 0;
    if (read(pfd[0], &port, sizeof port) != (ssize_t)sizeof port || port == 0) {
        fprintf(stderr, "bench: weft child failed to start\n");
        close(pfd[0]);
        return -1;
    }
    close(pfd[0]);
    weft_uv_config cfg;
    make_config(&cfg, netkey);
    cfg.on_event = parent_event;
    uv_loop_init(&P.loop);
    int rc = weft_uv_node_new(&P.node, &P.loop, &cfg, NULL);
    if (rc != 0) {
        fprintf(stderr, "bench: node: %s %s\n", weft_err_name(rc), weft_uv_last_error());
        return -1;
    }
    P.rtt = calloc((size_t)rtt_count, sizeof(double));
    P.payload = malloc(65536);
    uv_timer_init(&P.loop, &P.deadline);
    uv_check_init(&P.loop, &P.refill);
    uv_timer_init(&P.loop, &P.wake);
    uv_timer_start(&P.wake, on_wake, 100, 100);
    uv_check_start(&P.refill, on_refill);
    uv_timer_start(&P.deadline, on_deadline, 10000, 0);
    weft_addr to;
    weft_addr_parse(&to, "127.0.0.1:0");
    to.port = port;
    P.phase = PH_CONNECT;
    weft_uv_node_connect_addr(P.node, &to);
    uv_run(&P.loop, UV_RUN_DEFAULT);
    uv_loop_close(&P.loop);
    kill_child();
    if (what == 0 && P.rtt_got > 0 && rtt_dump) {
        FILE *f = fopen(rtt_dump, "w");
        for (long i = 0; f && i < P.rtt_got; i++)
            fprintf(f, "%.2f\n", P.rtt[i]);
        if (f)
            fclose(f);
    }
    if (what == 0 && P.rtt_got > 0) {
        qsort(P.rtt, (size_t)P.rtt_got, sizeof(double), cmpd);
        R.rtt_got = P.rtt_got;
        R.rtt_med = P.rtt[P.rtt_got / 2];
        R.rtt_p99 = P.rtt[(long)((double)P.rtt_got * 0.99)];
        R.rtt_p999 = P.rtt[(long)((double)P.rtt_got * 0.999)];
        long slow = 0;
        for (long i = 0; i < P.rtt_got; i++)
            slow += P.rtt[i] > 1000.0;
        fprintf(stderr, "bench: weft RTT n=%ld median=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f us; %ld over 1 ms\n",
                P.rtt_got, R.rtt_med, P.rtt[(long)((double)P.rtt_got * 0.9)], R.rtt_p99,
                R.rtt_p999, P.rtt[P.rtt_got - 1], slow);
    }
    free(P.rtt);
    free(P.payload);
    return P.failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    int raw = 1, weft = 1, only = -1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--secs") && i + 1 < argc)
            secs_per_size = atof(argv[++i]);
        else if (!strcmp(argv[i], "--rtt-count") && i + 1 < argc)
            rtt_count = atol(argv[++i]);
        else if (!strcmp(argv[i], "--rtt-dump") && i + 1 < argc)
            rtt_dump = argv[++i];
        else if (!strcmp(argv[i], "--raw-only"))
            weft = 0;
        else if (!strcmp(argv[i], "--weft-only"))
            raw = 0;
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            const char *w = argv[++i];
            only = !strcmp(w, "rtt") ? 0 : !strcmp(w, "64") ? 1 : !strcmp(w, "1k") ? 2 : !strcmp(w, "64k") ? 3 : -2;
            raw = 0;
            if (only == -2) {
                fprintf(stderr, "--only wants rtt, 64, 1k or 64k\n");
                return 2;
            }
        }
        else {
            fprintf(stderr, "usage: %s [--secs S] [--rtt-count N] [--rtt-dump FILE] [--raw-only|--weft-only|--only rtt|64|1k|64k]\n", argv[0]);
            return 2;
        }
    }
    if (secs_per_size < 0.5 || secs_per_size > 30)
        secs_per_size = 4;
    if (rtt_count < 100 || rtt_count > 1000000)
        rtt_count = 20000;
    if (sodium_init() < 0)
        return 1;
    atexit(kill_child);
    signal(SIGPIPE, SIG_IGN);

    double raw_med = 0, raw_p99 = 0, raw_rate[3] = {0}, raw_mbps[3] = {0};
    static const int raw_sizes[3] = {64, 1024, 60000};
    if (raw) {
        fprintf(stderr, "bench: raw UDP ping-pong 64 B x %ld\n", rtt_count);
        if (raw_pingpong(64, rtt_count, 0, &raw_med, &raw_p99) == 0) {
            emit("raw_rtt_median_us", raw_med, "us", 0);
            emit("raw_rtt_p99_us", raw_p99, "us", 0);
        }
        /* Context, not the baseline: the same echo sleeping in epoll_wait
         * as an event loop does. */
        double ep_med = 0, ep_p99 = 0;
        fprintf(stderr, "bench: raw UDP ping-pong 64 B via epoll x %ld\n", rtt_count);
        if (raw_pingpong(64, rtt_count, 1, &ep_med, &ep_p99) == 0) {
            emit("raw_epoll_rtt_median_us", ep_med, "us", raw_med);
            emit("raw_epoll_rtt_p99_us", ep_p99, "us", raw_p99);
        }
        for (int k = 0; k < 3; k++) {
            fprintf(stderr, "bench: raw UDP blast %d B for %.1f s\n", raw_sizes[k], secs_per_size);
            raw_rate[k] = raw_blast(raw_sizes[k], secs_per_size, &raw_mbps[k]);
            char m[64];
            snprintf(m, sizeof m, "raw_dgrams_per_s_%dB", raw_sizes[k]);
            emit(m, raw_rate[k], "dgrams/s", 0);
            snprintf(m, sizeof m, "raw_MBps_%dB", raw_sizes[k]);
            emit(m, raw_mbps[k], "MB/s", 0);
        }
    }
    if (weft) {
        int rc = 0;
        for (int what = 0; what < 4; what++)
            if (only < 0 || only == what)
                rc |= run_weft(what);
        if (R.rtt_got > 0) {
            emit("rtt_median_us", R.rtt_med, "us", raw_med);
            emit("rtt_p99_us", R.rtt_p99, "us", raw_p99);
        }
        static const char *names[3] = {"64B", "1KiB", "64KiB"};
        for (int k = 0; k < 3; k++) {
            char m[64];
            snprintf(m, sizeof m, "msgs_per_s_%s", names[k]);
            emit(m, R.tput_msgs[k], "msgs/s", k < 2 ? raw_rate[k] : 0);
            snprintf(m, sizeof m, "MBps_%s", names[k]);
            /* 64 KiB: the goal is absolute (1 GB/s); the raw 60000 B blast
             * is the reference. */
            emit(m, R.tput_mbps[k], "MB/s", raw_mbps[k]);
            snprintf(m, sizeof m, "undelivered_msgs_%s", names[k]);
            emit(m, (double)(R.tput_sent[k] - R.tput_recv[k]), "msgs", 0);
        }
        if (rc != 0)
            fprintf(stderr, "bench: weft part incomplete (see above)\n");
    }
    return 0;
}
