/*
 * test_driver.c -- src/uv/driver.c on real UDP sockets (127.0.0.1 only):
 * what the driver promises when the kernel pushes back.
 *
 * It runs in a network namespace of its own (unshare: made and gone with
 * this process), whose loopback it shapes:
 *   - EAGAIN: a token-bucket qdisc (tc tbf, 50 Mbit/s) on loopback and the
 *     kernel's smallest send buffer: a 2 MiB transfer fills the send
 *     buffer again and again; the driver keeps the unsent datagrams, waits
 *     for writability, and the message still arrives whole, once.
 *     (Plain loopback never says EAGAIN: it frees the sender's buffer at
 *     once.)
 *   - EMSGSIZE: loopback with a 1500-byte MTU: path-MTU probes larger than
 *     the path fail at send with EMSGSIZE; the driver drops them, the
 *     engine treats them as lost and settles on a size that fits, and
 *     large messages still arrive.
 * Waits on events (a libuv loop that stops when the awaited event came),
 * with a bounded deadline as the only timer.  Skips (77) when it cannot
 * make a namespace (not root) or has no tc (iproute2).
 */
#define _GNU_SOURCE
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test.h"
#include "weft/crypto.h"
#include "weft/uv.h"

typedef struct side {
    weft_uv_node *node;
    int up;
    uint64_t msgs, bytes;
    int bad;               /* a message whose bytes were wrong */
    uint64_t delivered;    /* receipts */
} side;

static side sides[2];
static uv_loop_t loop;
static int (*done)(void);
static uv_timer_t deadline;
static int timed_out;

static void on_event(weft_uv_node *node, const weft_event *ev, void *ud)
{
    side *s = ud;
    (void)node;
    if (ev->type == WEFT_EV_PEER_UP)
        s->up = 1;
    else if (ev->type == WEFT_EV_DELIVERED)
        s->delivered++;
    else if (ev->type == WEFT_EV_MESSAGE) {
        s->msgs++;
        s->bytes += ev->u.message.len;
        for (size_t i = 0; i < ev->u.message.len; i++)
            if (ev->u.message.data[i] != (uint8_t)(i * 13 + ev->u.message.len)) {
                s->bad = 1;
                break;
            }
    }
}

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    timed_out = 1;
    uv_stop(&loop);
}

/* Checks the awaited condition after every loop iteration's events (a
 * check handle: no polling interval, no sleep). */
static uv_check_t checker;
static void on_check(uv_check_t *c)
{
    (void)c;
    if (done && done())
        uv_stop(&loop);
}

/* Runs the loop until done() or `secs` seconds; returns done(). */
static int run_until(int (*cond)(void), int secs)
{
    done = cond;
    timed_out = 0;
    uv_timer_start(&deadline, on_deadline, (uint64_t)secs * 1000, 0);
    if (!cond())
        uv_run(&loop, UV_RUN_DEFAULT);
    uv_timer_stop(&deadline);
    return cond();
}

static int both_up(void)
{
    return sides[0].up && sides[1].up;
}

static uint64_t want_msgs;
static int got_msgs(void)
{
    return sides[1].msgs >= want_msgs && sides[0].delivered >= want_msgs;
}

static int make_pair(uint32_t sock_buf_bytes, uint16_t mtu_max)
{
    const weft_crypto *c = weft_crypto_sodium();
    memset(sides, 0, sizeof sides);
    for (int i = 0; i < 2; i++) {
        weft_uv_config cfg;
        weft_uv_config_default(&cfg);
        weft_addr_parse(&cfg.listen[0], "127.0.0.1:0");
        cfg.listen_count = 1;
        uint8_t seed[32], pk[32];
        memset(seed, 0x70 + i, 32);
        c->sign_keypair_seed(c->ctx, pk, cfg.engine.identity_secret, seed);
        memset(cfg.engine.network_key, 0x5c, 32);
        cfg.engine.mtu_max = mtu_max;
        cfg.sock_buf_bytes = i == 0 ? sock_buf_bytes : 0; /* the receiver's are large */
        cfg.on_event = on_event;
        cfg.ud = &sides[i];
        if (weft_uv_node_new(&sides[i].node, &loop, &cfg, NULL) < 0)
            return -1;
    }
    weft_addr a1;
    weft_uv_node_local_addr(sides[1].node, 0, &a1);
    return weft_uv_node_connect_addr(sides[0].node, &a1);
}

static void close_pair(void)
{
    for (int i = 0; i < 2; i++)
        weft_uv_node_close(sides[i].node, NULL);
    done = NULL;
    uv_run(&loop, UV_RUN_NOWAIT);
    for (int k = 0; k < 100 && uv_loop_alive(&loop); k++) {
        /* only the test's own idle handles left: closing is done */
        uv_run(&loop, UV_RUN_NOWAIT);
        if (!uv_is_active((uv_handle_t *)&deadline))
            break;
    }
}

static uint8_t *pattern(size_t len)
{
    uint8_t *b = malloc(len);
    for (size_t i = 0; i < len; i++)
        b[i] = (uint8_t)(i * 13 + len);
    return b;
}

TEST(a_full_send_buffer_loses_nothing)
{
    REQUIRE(system("tc qdisc add dev lo root tbf rate 50mbit burst 2kb latency 50ms") == 0);
    REQUIRE(make_pair(1, 1200) == 0); /* the kernel's smallest buffers */
    REQUIRE(run_until(both_up, 10));
    weft_uv_stats st;
    weft_uv_node_stats(sides[0].node, &st);
    CHECK(st.sndbuf_bytes < 16384);
    /* 2 MiB at once: far more than the socket holds */
    size_t len = 2u << 20;
    uint8_t *msg = pattern(len);
    int64_t id = weft_uv_node_send(sides[0].node, weft_engine_id(weft_uv_node_engine(sides[1].node)),
                                   WEFT_CHANNEL_APP, msg, len, WEFT_SEND_RECEIPT);
    free(msg);
    REQUIRE(id > 0);
    want_msgs = 1;
    CHECK(run_until(got_msgs, 60));
    CHECK(!timed_out);
    CHECK_EQ_INT(sides[1].msgs, 1);
    CHECK_EQ_INT(sides[1].bytes, len);
    CHECK(!sides[1].bad);
    weft_uv_node_stats(sides[0].node, &st);
    CHECK(st.send_eagain > 0);
    fprintf(stderr, "  2 MiB through %u-byte buffers: %llu EAGAIN, %llu datagrams\n",
            st.sndbuf_bytes, (unsigned long long)st.send_eagain,
            (unsigned long long)st.send_datagrams);
    close_pair();
    CHECK(system("tc qdisc del dev lo root") == 0);
}

/* Brings up loopback with the given MTU (we are in a namespace of our
 * own).  0 or -1. */
static int lo_up(int mtu)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    ifr.ifr_mtu = mtu;
    int rc = ioctl(fd, SIOCSIFMTU, &ifr);
    if (rc == 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    close(fd);
    return rc;
}

TEST(oversized_probes_fail_with_emsgsize_and_the_path_mtu_settles)
{
    REQUIRE(make_pair(0, 16384) == 0);
    REQUIRE(run_until(both_up, 10));
    size_t len = 300000;
    uint8_t *msg = pattern(len);
    const weft_node_id *to = weft_engine_id(weft_uv_node_engine(sides[1].node));
    REQUIRE(weft_uv_node_send(sides[0].node, to, WEFT_CHANNEL_APP, msg, len,
                              WEFT_SEND_RECEIPT) > 0);
    free(msg);
    want_msgs = 1;
    CHECK(run_until(got_msgs, 30));
    CHECK_EQ_INT(sides[1].bytes, len);
    CHECK(!sides[1].bad);
    weft_uv_stats st;
    weft_uv_node_stats(sides[0].node, &st);
    CHECK(st.send_emsgsize > 0); /* 16384 and 8952 do not fit 1500 */
    weft_peer_info pi;
    REQUIRE(weft_engine_peer_info(weft_uv_node_engine(sides[0].node), to, &pi) == 0);
    CHECK(pi.mtu <= 1500 - 28);
    CHECK(pi.mtu >= 1200);
    fprintf(stderr, "  loopback MTU 1500: %llu probes refused (EMSGSIZE), path MTU %u\n",
            (unsigned long long)st.send_emsgsize, pi.mtu);
    close_pair();
}

int main(void)
{
    /* a network namespace of our own, with its own loopback */
    if (unshare(CLONE_NEWNET) != 0 || lo_up(65536) != 0 ||
        system("tc qdisc show dev lo > /dev/null 2>&1") != 0) {
        fprintf(stderr, "skip: no network namespace of our own (needs root) or no tc\n");
        return 77;
    }
    uv_loop_init(&loop);
    uv_timer_init(&loop, &deadline);
    uv_check_init(&loop, &checker);
    uv_check_start(&checker, on_check);
    uv_unref((uv_handle_t *)&checker);
    RUN(a_full_send_buffer_loses_nothing);
    if (lo_up(1500) != 0)
        return 1;
    RUN(oversized_probes_fail_with_emsgsize_and_the_path_mtu_settles);
    TEST_MAIN_END();
}
