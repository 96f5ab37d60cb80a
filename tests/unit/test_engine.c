/*
 * test_engine.c -- weft_engine end to end between two or three engines in
 * one process, wired by a tiny hand-rolled loop on a virtual clock (the
 * full simulator has its own tests).  Real crypto (libsodium) throughout.
 */
#include <string.h>

#include "weft/crypto.h"
#include "weft/weft.h"
#include "test.h"

#define NMAX 3

typedef struct pkt {
    int to;
    weft_addr from;
    size_t len;
    uint8_t data[65536];
} pkt;

typedef struct net {
    weft_engine *e[NMAX];
    weft_node_id id[NMAX];
    weft_addr addr[NMAX];
    int n;
    uint64_t now;
    pkt *q;
    size_t qn, qcap;
    /* fault hooks */
    int drop_to[NMAX];        /* drop everything sent to node i */
    int (*mangle)(struct net *, pkt *);
    /* what was received */
    int up[NMAX][NMAX];
    int down_reason[NMAX][NMAX];
    uint64_t msgs[NMAX];
    uint64_t bytes[NMAX];
    uint8_t last_msg[NMAX][64];
    size_t last_len[NMAX];
    uint32_t last_flags[NMAX];
    int member_ev[NMAX][16];  /* count per WEFT_EV_MEMBER_* type */
    char last_member_name[NMAX][65];
} net;

static uint64_t rng = 1;
static void test_rand(void *ctx, uint8_t *b, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        b[i] = (uint8_t)(rng >> 56);
    }
}

static int idx_of(net *w, const weft_addr *a)
{
    for (int i = 0; i < w->n; i++)
        if (weft_addr_eq(&w->addr[i], a))
            return i;
    return -1;
}

static int idx_of_id(net *w, const weft_node_id *id)
{
    for (int i = 0; i < w->n; i++)
        if (memcmp(w->id[i].key, id->key, 32) == 0)
            return i;
    return -1;
}

static void make_node(net *w, int i, const char *netkey_seed)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft_config cfg;
    weft_config_default(&cfg);
    uint8_t seed[32], pk[32];
    memset(seed, 0x40 + i, 32);
    c->sign_keypair_seed(c->ctx, pk, cfg.identity_secret, seed);
    weft_iov iov = {netkey_seed, strlen(netkey_seed)};
    uint8_t h[64];
    c->hash(c->ctx, h, &iov, 1);
    memcpy(cfg.network_key, h, 32);
    cfg.unreachable_ms = 3000;
    cfg.keepalive_ms = 500;
    weft_env env = {NULL, c, {NULL, test_rand}, NULL, NULL};
    REQUIRE(weft_engine_new(&w->e[i], &cfg, &env, w->now) == 0);
    weft_membership_config mc;
    weft_membership_config_default(&mc);
    REQUIRE(weft_membership_attach(w->e[i], &mc, w->now) == 0);
    w->id[i] = *weft_engine_id(w->e[i]);
    memset(&w->addr[i], 0, sizeof w->addr[i]);
    w->addr[i].family = 4;
    w->addr[i].ip[0] = 127;
    w->addr[i].ip[3] = (uint8_t)(i + 1);
    w->addr[i].port = 7000;
}

static void drain_events(net *w, int i)
{
    weft_event ev;
    while (weft_engine_poll(w->e[i], &ev)) {
        int j = idx_of_id(w, &ev.peer);
        switch (ev.type) {
        case WEFT_EV_PEER_UP:
            if (j >= 0)
                w->up[i][j] = 1;
            break;
        case WEFT_EV_PEER_DOWN:
            if (j >= 0) {
                w->up[i][j] = 0;
                w->down_reason[i][j] = ev.error;
            }
            break;
        case WEFT_EV_MEMBER_JOINED:
        case WEFT_EV_MEMBER_UPDATED:
        case WEFT_EV_MEMBER_SUSPECT:
        case WEFT_EV_MEMBER_ALIVE:
        case WEFT_EV_MEMBER_FAILED:
        case WEFT_EV_MEMBER_LEFT:
        case WEFT_EV_MEMBER_REJOINED:
        case WEFT_EV_MEMBER_REFUSED:
            w->member_ev[i][ev.type - WEFT_EV_MEMBER_JOINED]++;
            memcpy(w->last_member_name[i], ev.u.member.name, sizeof ev.u.member.name);
            break;
        case WEFT_EV_MESSAGE:
            w->msgs[i]++;
            w->bytes[i] += ev.u.message.len;
            w->last_len[i] = ev.u.message.len;
            w->last_flags[i] = ev.u.message.flags;
            memcpy(w->last_msg[i], ev.u.message.data, ev.u.message.len < 64 ? ev.u.message.len : 64);
            break;
        }
    }
}

static void flush_out(net *w, int i)
{
    for (;;) {
        if (w->qn == w->qcap) {
            w->qcap = w->qcap ? w->qcap * 2 : 64;
            w->q = realloc(w->q, w->qcap * sizeof *w->q);
        }
        pkt *p = &w->q[w->qn];
        weft_addr to;
        ptrdiff_t n = weft_engine_write(w->e[i], &to, p->data, sizeof p->data, w->now);
        if (n <= 0)
            break;
        p->to = idx_of(w, &to);
        p->from = w->addr[i];
        p->len = (size_t)n;
        if (p->to < 0 || w->drop_to[p->to])
            continue;
        if (w->mangle && !w->mangle(w, p))
            continue;
        w->qn++;
    }
}

/* Delivers queued packets (1 ms hop) and runs timers, until time t. */
static void run_until(net *w, uint64_t t)
{
    while (w->now < t) {
        for (int i = 0; i < w->n; i++) {
            if (!w->e[i])
                continue;
            flush_out(w, i);
        }
        size_t n = w->qn;
        if (n) {
            w->now += 1000;
            /* copy out: delivery produces new packets */
            pkt *batch = malloc(n * sizeof *batch);
            memcpy(batch, w->q, n * sizeof *batch);
            w->qn = 0;
            for (size_t k = 0; k < n; k++) {
                int to = batch[k].to;
                if (!w->e[to])
                    continue;
                weft_engine_recv(w->e[to], &batch[k].from, batch[k].data, batch[k].len, w->now);
                drain_events(w, to);
            }
            free(batch);
            continue;
        }
        uint64_t next = UINT64_MAX;
        for (int i = 0; i < w->n; i++)
            if (w->e[i] && weft_engine_expiry(w->e[i]) < next)
                next = weft_engine_expiry(w->e[i]);
        if (next > t)
            next = t;
        if (next > w->now)
            w->now = next;
        for (int i = 0; i < w->n; i++) {
            if (w->e[i] && weft_engine_expiry(w->e[i]) <= w->now) {
                weft_engine_handle_expiry(w->e[i], w->now);
                drain_events(w, i);
            }
        }
    }
}

static void net_free(net *w)
{
    for (int i = 0; i < w->n; i++)
        weft_engine_del(w->e[i]);
    free(w->q);
    memset(w, 0, sizeof *w);
}

static void setup2(net *w, const char *k0, const char *k1)
{
    memset(w, 0, sizeof *w);
    w->n = 2;
    w->now = 1000000;
    make_node(w, 0, k0);
    make_node(w, 1, k1);
}

TEST(handshake_establishes_both_ways)
{
    net w;
    setup2(&w, "mesh", "mesh");
    REQUIRE(weft_engine_connect(w.e[0], &w.addr[1], w.now) == 0);
    run_until(&w, w.now + 100000);
    CHECK(w.up[0][1]);
    CHECK(w.up[1][0]);
    weft_peer_info pi;
    CHECK(weft_engine_peer_info(w.e[0], weft_engine_id(w.e[1]), &pi) == 0);
    CHECK(pi.established);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK_EQ_INT(st.handshakes_ok, 1);
    CHECK_EQ_INT(st.sessions, 1);
    net_free(&w);
}

TEST(wrong_network_key_gets_no_session)
{
    net w;
    setup2(&w, "mesh", "other mesh");
    REQUIRE(weft_engine_connect(w.e[0], &w.addr[1], w.now) == 0);
    run_until(&w, w.now + 20000000);
    CHECK(!w.up[0][1]);
    CHECK(!w.up[1][0]);
    CHECK(weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, "x", 1, 0, w.now) == WEFT_ERR_NO_PEER);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(st.drop_wrong_mesh > 0);
    CHECK_EQ_INT(st.sessions, 0);
    CHECK_EQ_INT(st.msgs_delivered, 0);
    net_free(&w);
}

TEST(messages_of_every_kind_arrive)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    const weft_node_id *b = weft_engine_id(w.e[1]);
    CHECK(weft_engine_send(w.e[0], b, WEFT_CHANNEL_APP, "hello", 5, WEFT_PRIO_NORMAL | WEFT_SEND_ORDERED, w.now) > 0);
    run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK(w.last_len[1] == 5 && memcmp(w.last_msg[1], "hello", 5) == 0);
    CHECK(weft_engine_send(w.e[0], b, WEFT_CHANNEL_APP, "u", 1, WEFT_PRIO_HIGH | WEFT_SEND_UNORDERED, w.now) > 0);
    run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[1], 2);
    CHECK_EQ_INT(w.last_flags[1], WEFT_PRIO_HIGH | WEFT_SEND_UNORDERED);
    CHECK(weft_engine_send(w.e[0], b, WEFT_CHANNEL_APP, "d", 1, WEFT_PRIO_LOW | WEFT_SEND_UNRELIABLE, w.now) > 0);
    run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[1], 3);
    CHECK(weft_engine_send(w.e[0], b, WEFT_CHANNEL_APP, "", 0, 0, w.now) > 0); /* empty */
    run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[1], 4);
    CHECK_EQ_INT(w.last_len[1], 0);
    /* the other direction */
    CHECK(weft_engine_send(w.e[1], weft_engine_id(w.e[0]), WEFT_CHANNEL_APP, "back", 4, 0, w.now) > 0);
    run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[0], 1);
    net_free(&w);
}

TEST(large_message_is_fragmented_and_reassembled)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    size_t n = 4u << 20;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 7 + (i >> 13));
    CHECK(weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, big, n, WEFT_PRIO_LOW, w.now) > 0);
    run_until(&w, w.now + 5000000);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK_EQ_INT(w.bytes[1], n);
    CHECK(memcmp(w.last_msg[1], big, 64) == 0);
    /* over the cap is refused with a clear error */
    uint8_t *huge = calloc(1, (16u << 20) + 1);
    CHECK(weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, huge, (16u << 20) + 1, 0, w.now) == WEFT_ERR_TOO_BIG);
    /* an unreliable message must fit one packet */
    CHECK(weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, huge, 100000, WEFT_SEND_UNRELIABLE, w.now) == WEFT_ERR_TOO_BIG_DATAGRAM);
    free(huge);
    free(big);
    net_free(&w);
}

static int flip_data(net *w, pkt *p)
{
    (void)w;
    if (p->data[0] == 0x10 && p->len > 20)
        p->data[p->len - 3] ^= 0x40;
    return 1;
}

TEST(tampered_packets_are_dropped_and_counted)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    w.mangle = flip_data;
    weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, "secret", 6, 0, w.now);
    run_until(&w, w.now + 200000);
    CHECK_EQ_INT(w.msgs[1], 0);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(st.drop_decrypt > 0);
    w.mangle = NULL; /* the retransmission then gets through, once */
    run_until(&w, w.now + 3000000);
    CHECK_EQ_INT(w.msgs[1], 1);
    net_free(&w);
}

static pkt saved;
static int have_saved;
static int save_data(net *w, pkt *p)
{
    (void)w;
    if (p->data[0] == 0x10 && !have_saved && p->len > 30) {
        saved = *p;
        have_saved = 1;
    }
    return 1;
}

TEST(replayed_and_truncated_packets_are_dropped)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    have_saved = 0;
    w.mangle = save_data;
    weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, "once", 4, WEFT_SEND_UNORDERED, w.now);
    run_until(&w, w.now + 100000);
    w.mangle = NULL;
    REQUIRE(have_saved);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK(weft_engine_recv(w.e[1], &saved.from, saved.data, saved.len, w.now) == WEFT_ERR_REPLAY);
    drain_events(&w, 1);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK(weft_engine_recv(w.e[1], &saved.from, saved.data, 10, w.now) == WEFT_ERR_PROTO);
    uint8_t junk[3] = {0x02, 1, 2};
    CHECK(weft_engine_recv(w.e[1], &saved.from, junk, 3, w.now) == WEFT_ERR_PROTO);
    uint8_t unknown[1] = {0x7f};
    CHECK(weft_engine_recv(w.e[1], &saved.from, unknown, 1, w.now) == WEFT_ERR_PROTO);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(st.drop_replay == 1);
    CHECK(st.drop_malformed >= 3);
    net_free(&w);
}

TEST(silent_peer_is_reported_unreachable)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    /* node 1 vanishes: nothing reaches it, it sends nothing */
    weft_engine_del(w.e[1]);
    w.e[1] = NULL;
    w.drop_to[1] = 1;
    uint64_t t0 = w.now;
    run_until(&w, t0 + 10000000);
    CHECK(!w.up[0][1]);
    CHECK_EQ_INT(w.down_reason[0][1], WEFT_ERR_UNREACHABLE);
    net_free(&w);
}

TEST(dial_to_nobody_fails_with_unreachable)
{
    net w;
    setup2(&w, "mesh", "mesh");
    w.drop_to[1] = 1;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    run_until(&w, w.now + 10000000);
    weft_stats st;
    weft_engine_stats(w.e[0], &st);
    CHECK(st.handshakes_failed >= 1);
    CHECK_EQ_INT(st.sessions, 0);
    net_free(&w);
}

TEST(close_is_seen_by_the_peer)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    run_until(&w, w.now + 100000);
    REQUIRE(w.up[1][0]);
    CHECK(weft_engine_close_peer(w.e[0], weft_engine_id(w.e[1]), w.now) == 0);
    run_until(&w, w.now + 100000);
    CHECK(!w.up[1][0]);
    CHECK_EQ_INT(w.down_reason[1][0], WEFT_ERR_PEER_CLOSED);
    net_free(&w);
}

TEST(rekey_keeps_the_session_and_its_messages)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    uint64_t hs0;
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    hs0 = st.handshakes_ok;
    /* keep traffic going past rekey_after_ms (120 s) */
    for (int i = 0; i < 130; i++) {
        weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, "tick", 4, 0, w.now);
        run_until(&w, w.now + 1000000);
    }
    weft_engine_stats(w.e[1], &st);
    CHECK(st.handshakes_ok > hs0);
    CHECK_EQ_INT(w.msgs[1], 130);
    CHECK(w.up[0][1] && w.up[1][0]);
    net_free(&w);
}

TEST(rekey_after_a_packet_count)
{
    net w;
    memset(&w, 0, sizeof w);
    w.n = 2;
    w.now = 1000000;
    make_node(&w, 0, "mesh");
    make_node(&w, 1, "mesh");
    weft_engine_del(w.e[0]);
    /* node 0 again, with a tiny packet budget per key */
    const weft_crypto *c = weft_crypto_sodium();
    weft_config cfg;
    weft_config_default(&cfg);
    uint8_t seed[32], pk[32];
    memset(seed, 0x40, 32);
    c->sign_keypair_seed(c->ctx, pk, cfg.identity_secret, seed);
    weft_iov iov = {"mesh", 4};
    uint8_t h[64];
    c->hash(c->ctx, h, &iov, 1);
    memcpy(cfg.network_key, h, 32);
    cfg.rekey_after_packets = 200;
    weft_env env = {NULL, c, {NULL, test_rand}, NULL, NULL};
    REQUIRE(weft_engine_new(&w.e[0], &cfg, &env, w.now) == 0);
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    for (int i = 0; i < 600; i++) {
        CHECK(weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, "n", 1, 0, w.now) > 0);
        run_until(&w, w.now + 2000);
    }
    run_until(&w, w.now + 1000000);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(st.handshakes_ok >= 3);
    CHECK_EQ_INT(w.msgs[1], 600);
    net_free(&w);
}

TEST(misuse_returns_clear_errors)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_node_id nobody;
    memset(&nobody, 9, sizeof nobody);
    CHECK(weft_engine_send(w.e[0], &nobody, WEFT_CHANNEL_APP, "x", 1, 0, w.now) == WEFT_ERR_NO_PEER);
    CHECK(weft_engine_send(w.e[0], &nobody, WEFT_CHANNEL_APP, "x", 1, 0x0c, w.now) == WEFT_ERR_INVAL);
    CHECK(weft_engine_send(w.e[0], &nobody, WEFT_CHANNEL_APP, "x", 1, 0x100, w.now) == WEFT_ERR_INVAL);
    weft_addr bad = {0};
    CHECK(weft_engine_connect(w.e[0], &bad, w.now) == WEFT_ERR_INVAL);
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.mtu_initial = 100;
    weft_engine *e2 = NULL;
    weft_env env = {NULL, weft_crypto_sodium(), {NULL, test_rand}, NULL, NULL};
    CHECK(weft_engine_new(&e2, &cfg, &env, 0) == WEFT_ERR_CONFIG);
    CHECK(strcmp(weft_strerror(WEFT_ERR_TOO_BIG), "message larger than the configured cap") == 0);
    CHECK(strcmp(weft_err_name(WEFT_ERR_REPLAY), "WEFT_ERR_REPLAY") == 0);
    net_free(&w);
}

TEST(addresses_and_ids_format_and_parse)
{
    weft_addr a;
    char s[WEFT_ADDR_STRLEN];
    CHECK(weft_addr_parse(&a, "127.0.0.1:7946") == 0);
    CHECK(weft_addr_is_loopback(&a));
    weft_addr_format(&a, s, sizeof s);
    CHECK(strcmp(s, "127.0.0.1:7946") == 0);
    CHECK(weft_addr_parse(&a, "[::1]:80") == 0);
    CHECK(a.family == 6 && weft_addr_is_loopback(&a));
    weft_addr_format(&a, s, sizeof s);
    CHECK(strcmp(s, "[::1]:80") == 0);
    CHECK(weft_addr_parse(&a, "[fe80::1:2]:9") == 0);
    weft_addr_format(&a, s, sizeof s);
    CHECK(strcmp(s, "[fe80::1:2]:9") == 0);
    CHECK(weft_addr_parse(&a, "256.0.0.1:1") == WEFT_ERR_INVAL);
    CHECK(weft_addr_parse(&a, "1.2.3.4:70000") == WEFT_ERR_INVAL);
    CHECK(weft_addr_parse(&a, "1.2.3.4") == WEFT_ERR_INVAL);
    CHECK(weft_addr_parse(&a, "[::1:80") == WEFT_ERR_INVAL);
    weft_node_id id, id2;
    for (int i = 0; i < 32; i++)
        id.key[i] = (uint8_t)(i * 9);
    char hex[WEFT_ID_HEX_LEN], sh[WEFT_ID_SHORT_LEN];
    weft_id_hex(&id, hex);
    weft_id_short(&id, sh);
    CHECK(strncmp(hex, sh, 16) == 0 && strlen(sh) == 16);
    CHECK(weft_id_parse(&id2, hex) == 0 && memcmp(&id, &id2, 32) == 0);
    CHECK(weft_id_parse(&id2, "zz") == WEFT_ERR_INVAL);
}

static int alive_count(weft_engine *e)
{
    weft_membership_stats ms;
    if (weft_membership_stats_get(e, &ms) < 0)
        return -1;
    return (int)ms.alive;
}

TEST(membership_join_meta_failure_and_leave)
{
    net w;
    memset(&w, 0, sizeof w);
    w.n = 3;
    w.now = 1000000;
    for (int i = 0; i < 3; i++) {
        make_node(&w, i, "mesh");
        REQUIRE(weft_membership_set_addr(w.e[i], &w.addr[i], w.now) == 0);
    }
    weft_tag tags[2] = {{"role", "camera"}, {"fps", "30"}};
    CHECK(weft_membership_set_meta(w.e[1], "cam1", "active", tags, 2, w.now) == 0);
    /* nodes 1 and 2 join through node 0 */
    CHECK(weft_membership_join(w.e[1], &w.addr[0], w.now) == 0);
    CHECK(weft_membership_join(w.e[2], &w.addr[0], w.now) == 0);
    run_until(&w, w.now + 5000000);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(alive_count(w.e[i]), 3);
    CHECK(w.member_ev[2][0] >= 2); /* joined: node 0 and node 1 */
    /* node 1's metadata is visible on node 2 */
    weft_member m;
    REQUIRE(weft_membership_find(w.e[2], &w.id[1], &m) == 0);
    CHECK(m.state == WEFT_MEMBER_ALIVE);
    CHECK(m.name_len == 4 && memcmp(m.name, "cam1", 4) == 0);
    CHECK(m.status_len == 6 && memcmp(m.status, "active", 6) == 0);
    size_t off = 0, kl, vl;
    const char *k, *v;
    int found = 0;
    while (weft_tag_next(m.tags, m.tags_len, &off, &k, &kl, &v, &vl))
        if (kl == 3 && !memcmp(k, "fps", 3) && vl == 2 && !memcmp(v, "30", 2))
            found = 1;
    CHECK(found);
    /* metadata too large is refused with a clear error */
    char big[100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(weft_membership_set_meta(w.e[1], big, NULL, NULL, 0, w.now) == WEFT_ERR_TOO_BIG);
    /* node 2 crashes: the others declare it failed */
    weft_engine_del(w.e[2]);
    w.e[2] = NULL;
    w.drop_to[2] = 1;
    run_until(&w, w.now + 10000000);
    REQUIRE(weft_membership_find(w.e[0], &w.id[2], &m) == 0);
    CHECK(m.state == WEFT_MEMBER_DEAD);
    CHECK(w.member_ev[0][WEFT_EV_MEMBER_FAILED - WEFT_EV_MEMBER_JOINED] == 1);
    CHECK(w.member_ev[1][WEFT_EV_MEMBER_FAILED - WEFT_EV_MEMBER_JOINED] == 1);
    /* node 1 leaves gracefully: node 0 sees it left, not failed */
    CHECK(weft_membership_leave(w.e[1], w.now) == 0);
    run_until(&w, w.now + 2000000);
    REQUIRE(weft_membership_find(w.e[0], &w.id[1], &m) == 0);
    CHECK(m.state == WEFT_MEMBER_LEFT);
    CHECK(w.member_ev[0][WEFT_EV_MEMBER_LEFT - WEFT_EV_MEMBER_JOINED] == 1);
    CHECK(w.member_ev[0][WEFT_EV_MEMBER_FAILED - WEFT_EV_MEMBER_JOINED] == 1);
    CHECK(strcmp(weft_event_name(w.e[0], WEFT_EV_MEMBER_LEFT), "member-left") == 0);
    net_free(&w);
}

TEST(membership_ignores_nodes_without_the_key)
{
    net w;
    memset(&w, 0, sizeof w);
    w.n = 2;
    w.now = 1000000;
    make_node(&w, 0, "mesh");
    make_node(&w, 1, "intruder");
    for (int i = 0; i < 2; i++)
        weft_membership_set_addr(w.e[i], &w.addr[i], w.now);
    weft_membership_join(w.e[1], &w.addr[0], w.now);
    run_until(&w, w.now + 5000000);
    CHECK_EQ_INT(alive_count(w.e[0]), 1);
    CHECK_EQ_INT(alive_count(w.e[1]), 1);
    weft_membership_stats ms;
    weft_membership_stats_get(w.e[0], &ms);
    CHECK(ms.drop_bad_mac > 0);
    net_free(&w);
}

int main(void)
{
    RUN(handshake_establishes_both_ways);
    RUN(wrong_network_key_gets_no_session);
    RUN(messages_of_every_kind_arrive);
    RUN(large_message_is_fragmented_and_reassembled);
    RUN(tampered_packets_are_dropped_and_counted);
    RUN(replayed_and_truncated_packets_are_dropped);
    RUN(silent_peer_is_reported_unreachable);
    RUN(dial_to_nobody_fails_with_unreachable);
    RUN(close_is_seen_by_the_peer);
    RUN(rekey_keeps_the_session_and_its_messages);
    RUN(rekey_after_a_packet_count);
    RUN(misuse_returns_clear_errors);
    RUN(addresses_and_ids_format_and_parse);
    RUN(membership_join_meta_failure_and_leave);
    RUN(membership_ignores_nodes_without_the_key);
    TEST_MAIN_END();
}
