/*
 * test_simulator.c -- the simulator's network model and determinism, with
 * toy nodes instead of engines.
 *
 * A toy node sends `burst` pings every `period_us` (to a fixed target or a
 * peer drawn from its weft_sim_rand stream) for `rounds` rounds and answers
 * each ping with a pong.  Packets carry (type, source, seq, send time), so
 * the receiver can check latency, ordering and duplicates.  Each test
 * asserts one property users of the simulator rely on (sim.h).
 */
#include <string.h>

#include "test.h"
#include "weft/crypto.h"
#include "weft/sim.h"

#define OUTBOX 512
#define NOPEER (-1)

typedef struct toy_msg {
    int to;
    uint8_t type; /* 1 = ping, 2 = pong */
    uint32_t seq;
    uint64_t sent_us;
    uint16_t size;
} toy_msg;

typedef struct toy {
    weft_sim *s;
    int self, target, peers; /* target NOPEER: random among peers */
    uint64_t period_us, next_us;
    uint32_t rounds, burst, seq;
    uint16_t size;
    weft_rand rng;
    toy_msg out[OUTBOX];
    size_t head, count;
    /* observations */
    uint64_t pings_sent, pings_recv, pongs_recv, outbox_drops;
    uint64_t delay_min_us, delay_max_us;
    uint32_t last_seq;        /* last ping seq seen (single sender tests) */
    uint64_t inversions;      /* ping arrived with seq < a seen one */
    uint64_t recv_from[8];    /* per source, for small tests */
} toy;

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void enqueue(toy *t, int to, uint8_t type, uint32_t seq, uint64_t sent)
{
    if (t->count == OUTBOX) {
        t->outbox_drops++;
        return;
    }
    toy_msg *m = &t->out[(t->head + t->count++) % OUTBOX];
    m->to = to;
    m->type = type;
    m->seq = seq;
    m->sent_us = sent;
    m->size = t->size;
}

static int toy_recv(void *node, const weft_addr *from, const uint8_t *pkt,
                    size_t len, uint64_t now_us)
{
    toy *t = node;
    if (len < 17)
        return WEFT_ERR_PROTO;
    int src = weft_sim_find(t->s, from);
    if (src < 0 || (int)get32(pkt + 1) != src)
        return WEFT_ERR_PROTO;
    uint32_t seq = get32(pkt + 5);
    uint64_t sent = get64(pkt + 9);
    if (src < 8)
        t->recv_from[src]++;
    if (pkt[0] == 1) {
        uint64_t d = now_us - sent;
        if (!t->pings_recv || d < t->delay_min_us)
            t->delay_min_us = d;
        if (d > t->delay_max_us)
            t->delay_max_us = d;
        if (t->pings_recv && seq < t->last_seq)
            t->inversions++;
        if (seq > t->last_seq)
            t->last_seq = seq;
        t->pings_recv++;
        enqueue(t, src, 2, seq, sent);
    } else {
        t->pongs_recv++;
    }
    return 0;
}

static ptrdiff_t toy_write(void *node, weft_addr *to, uint8_t *buf, size_t cap,
                           uint64_t now_us)
{
    toy *t = node;
    if (!t->count)
        return 0;
    toy_msg *m = &t->out[t->head];
    t->head = (t->head + 1) % OUTBOX;
    t->count--;
    size_t len = m->size < 17 ? 17 : m->size;
    if (len > cap)
        return WEFT_ERR_BUFSMALL;
    memset(buf, 0, len);
    buf[0] = m->type;
    put32(buf + 1, (uint32_t)t->self);
    put32(buf + 5, m->seq);
    put64(buf + 9, m->sent_us);
    *to = *weft_sim_addr(t->s, m->to);
    return (ptrdiff_t)len;
}

static uint64_t toy_expiry(void *node)
{
    toy *t = node;
    return t->rounds ? t->next_us : UINT64_MAX;
}

static int toy_handle_expiry(void *node, uint64_t now_us)
{
    toy *t = node;
    if (!t->rounds || now_us < t->next_us)
        return 0;
    for (uint32_t b = 0; b < t->burst; b++) {
        int to = t->target;
        if (to == NOPEER) {
            uint8_t r[4];
            t->rng.fill(t->rng.ctx, r, 4);
            to = (int)(get32(r) % (uint32_t)(t->peers - 1));
            if (to >= t->self)
                to++;
        }
        enqueue(t, to, 1, ++t->seq, now_us);
        t->pings_sent++;
    }
    t->rounds--;
    t->next_us += t->period_us;
    return 0;
}

static const weft_sim_node_ops toy_ops = {toy_recv, toy_write, toy_expiry,
                                          toy_handle_expiry};

/* n toy nodes, each pinging `target` (or random) every period_us. */
static toy *toys_new(weft_sim *s, int n, int target, uint32_t rounds,
                     uint64_t period_us)
{
    toy *t = calloc((size_t)n, sizeof *t);
    if (!t)
        return NULL;
    for (int i = 0; i < n; i++) {
        t[i].s = s;
        t[i].self = i;
        t[i].target = target;
        t[i].peers = n;
        t[i].period_us = period_us;
        t[i].next_us = period_us;
        t[i].rounds = rounds;
        t[i].burst = 1;
        t[i].size = 64;
        int idx = weft_sim_add_node(s, &toy_ops, &t[i], NULL);
        if (idx != i) {
            free(t);
            return NULL;
        }
        t[i].rng = weft_sim_rand(s, i);
    }
    for (int i = 0; i < n; i++)
        weft_sim_poke(s, i);
    return t;
}

/* One lossy, jittery, duplicating, reordering run; returns its trace. */
static uint64_t chaos_run(uint64_t seed, weft_sim_stats *st)
{
    weft_sim_link l;
    weft_sim_link_default(&l);
    l.latency_us = 2000;
    l.jitter_us = 700;
    l.loss = 0.1;
    l.dup = 0.05;
    l.reorder = 0.1;
    weft_sim *s;
    if (weft_sim_new(&s, seed, &l))
        return 0;
    toy *t = toys_new(s, 50, NOPEER, 40, 1000);
    if (!t)
        return 0;
    int64_t ev = weft_sim_run_until(s, 1000000);
    uint64_t h = ev > 0 ? weft_sim_trace_hash(s) : 0;
    weft_sim_get_stats(s, st);
    weft_sim_del(s);
    free(t);
    return h;
}

TEST(same_seed_same_trace)
{
    weft_sim_stats a, b, c;
    uint64_t h1 = chaos_run(42, &a), h2 = chaos_run(42, &b), h3 = chaos_run(43, &c);
    REQUIRE(h1 != 0);
    CHECK(h1 == h2);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
    CHECK(h1 != h3);
    CHECK(a.sent > 1000);
    CHECK(a.lost > 0 && a.duplicated > 0 && a.reordered > 0);
    /* every datagram is accounted for exactly once */
    CHECK_EQ_INT(a.sent + a.duplicated, a.delivered + a.lost + a.queue_drops +
                                            a.partition_drops + a.crashed_drops +
                                            a.unroutable);
}

TEST(node_rand_independent_of_other_nodes)
{
    weft_sim *s1, *s2;
    REQUIRE(weft_sim_new(&s1, 7, NULL) == 0);
    REQUIRE(weft_sim_new(&s2, 7, NULL) == 0);
    toy *t1 = toys_new(s1, 3, 0, 0, 1000), *t2 = toys_new(s2, 3, 0, 0, 1000);
    REQUIRE(t1 && t2);
    weft_rand a0 = weft_sim_rand(s1, 0), a2 = weft_sim_rand(s1, 2);
    weft_rand b2 = weft_sim_rand(s2, 2);
    uint8_t x[32], y[32], z[32];
    a0.fill(a0.ctx, x, 32); /* node 0 draws in run 1 only */
    a2.fill(a2.ctx, y, 32);
    b2.fill(b2.ctx, z, 32);
    CHECK(memcmp(y, z, 32) == 0);
    CHECK(memcmp(x, y, 32) != 0);
    weft_sim_del(s1);
    weft_sim_del(s2);
    free(t1);
    free(t2);
}

TEST(addresses_map_to_indices)
{
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 1, NULL) == 0);
    toy *t = toys_new(s, 300, 0, 0, 1000);
    REQUIRE(t);
    for (int i = 0; i < 300; i++)
        CHECK_EQ_INT(weft_sim_find(s, weft_sim_addr(s, i)), i);
    weft_addr a = *weft_sim_addr(s, 299);
    a.ip[3]++;
    CHECK_EQ_INT(weft_sim_find(s, &a), -1);
    a = *weft_sim_addr(s, 5);
    a.port = 7001;
    CHECK_EQ_INT(weft_sim_find(s, &a), -1);
    CHECK(weft_sim_addr(s, 300) == NULL);
    weft_sim_del(s);
    free(t);
}

TEST(latency_and_jitter_respected)
{
    weft_sim_link l;
    weft_sim_link_default(&l);
    l.latency_us = 5000;
    l.jitter_us = 1000;
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 3, &l) == 0);
    toy *t = toys_new(s, 2, NOPEER, 200, 3000);
    REQUIRE(t);
    REQUIRE(weft_sim_run_until(s, 2000000) > 0);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_INT(t[i].pings_recv, 200);
        CHECK(t[i].delay_min_us >= 5000);
        CHECK(t[i].delay_max_us <= 6000);
        CHECK(t[i].delay_max_us > t[i].delay_min_us); /* jitter happened */
    }
    weft_sim_del(s);
    free(t);
}

TEST(total_loss_delivers_nothing)
{
    weft_sim_link l;
    weft_sim_link_default(&l);
    l.loss = 1.0;
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 4, &l) == 0);
    toy *t = toys_new(s, 10, NOPEER, 50, 1000);
    REQUIRE(t);
    REQUIRE(weft_sim_run_until(s, 1000000) > 0);
    weft_sim_stats st;
    weft_sim_get_stats(s, &st);
    CHECK_EQ_INT(st.sent, 500);
    CHECK_EQ_INT(st.lost, 500);
    CHECK_EQ_INT(st.delivered, 0);
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(t[i].pings_recv + t[i].pongs_recv, 0);
    weft_sim_del(s);
    free(t);
}

TEST(block_is_one_way)
{
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 5, NULL) == 0);
    toy *t = toys_new(s, 2, NOPEER, 100, 1000);
    REQUIRE(t);
    REQUIRE(weft_sim_block(s, 0, 1, 1) == 0);
    /* pings leave at 1, 2, ... ms and take 1 ms: by 51.5 ms 51 were sent
     * each way and 50 had time to arrive */
    REQUIRE(weft_sim_run_until(s, 51500) > 0);
    CHECK_EQ_INT(t[1].pings_recv, 0);  /* 0 -> 1 cut */
    CHECK_EQ_INT(t[1].pongs_recv, 0);  /* 0's pongs to 1 cut too */
    CHECK_EQ_INT(t[0].pings_recv, 50); /* 1 -> 0 flows */
    CHECK_EQ_INT(t[0].pongs_recv, 0);
    REQUIRE(weft_sim_block(s, 0, 1, 0) == 0);
    REQUIRE(weft_sim_run_until(s, 1000000) > 0);
    CHECK_EQ_INT(t[1].pings_recv, 100 - 51);
    CHECK_EQ_INT(t[0].pings_recv, 100);
    CHECK_EQ_INT(t[0].pongs_recv, 100 - 51);
    weft_sim_del(s);
    free(t);
}

TEST(partition_and_heal)
{
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 6, NULL) == 0);
    toy *t = toys_new(s, 6, NOPEER, 400, 1000);
    REQUIRE(t);
    for (int i = 3; i < 6; i++)
        REQUIRE(weft_sim_set_group(s, i, 1) == 0);
    REQUIRE(weft_sim_run_until(s, 200000) > 0);
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            if ((i < 3) != (j < 3))
                CHECK_EQ_INT(t[i].recv_from[j], 0);
    weft_sim_stats st;
    weft_sim_get_stats(s, &st);
    CHECK(st.partition_drops > 0);
    weft_sim_heal(s);
    REQUIRE(weft_sim_run_until(s, 1000000) > 0);
    uint64_t cross = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++)
            if ((i < 3) != (j < 3))
                cross += t[i].recv_from[j];
    CHECK(cross > 100);
    weft_sim_del(s);
    free(t);
}

TEST(partition_drops_in_flight)
{
    weft_sim_link l;
    weft_sim_link_default(&l);
    l.latency_us = 10000;
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 6, &l) == 0);
    toy *t = toys_new(s, 2, 1, 1, 1000); /* one ping 0 -> 1 at 1 ms */
    REQUIRE(t);
    t[1].rounds = 0;
    REQUIRE(weft_sim_run_until(s, 5000) > 0);
    REQUIRE(weft_sim_set_group(s, 1, 2) == 0);
    REQUIRE(weft_sim_run_until(s, 100000) >= 0);
    CHECK_EQ_INT(t[1].pings_recv, 0);
    weft_sim_stats st;
    weft_sim_get_stats(s, &st);
    CHECK_EQ_INT(st.partition_drops, 1);
    weft_sim_del(s);
    free(t);
}

TEST(crash_drops_in_flight_even_after_restart)
{
    weft_sim_link l;
    weft_sim_link_default(&l);
    l.latency_us = 10000;
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 8, &l) == 0);
    toy *t = toys_new(s, 2, 1, 1, 1000); /* one ping 0 -> 1, sent at 1 ms */
    REQUIRE(t);
    t[1].rounds = 0;
    weft_sim_poke(s, 1);
    REQUIRE(weft_sim_run_until(s, 5000) > 0);
    REQUIRE(weft_sim_crash(s, 1) == 0);
    CHECK(!weft_sim_is_up(s, 1));
    CHECK_EQ_INT(weft_sim_crash(s, 1), WEFT_ERR_STATE);
    REQUIRE(weft_sim_run_until(s, 7000) >= 0);
    toy fresh = t[1];
    REQUIRE(weft_sim_restart(s, 1, &toy_ops, &fresh) == 0);
    REQUIRE(weft_sim_run_until(s, 100000) >= 0);
    CHECK_EQ_INT(fresh.pings_recv, 0); /* was addressed to the old instance */
    CHECK_EQ_INT(t[1].pings_recv, 0);
    weft_sim_stats st;
    weft_sim_get_stats(s, &st);
    CHECK_EQ_INT(st.crashed_drops, 1);
    CHECK_EQ_INT(st.delivered, 0);
    weft_sim_del(s);
    free(t);
}

TEST(crashed_node_gets_nothing_and_restart_resumes_timers)
{
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 9, NULL) == 0);
    toy *t = toys_new(s, 3, NOPEER, 1000, 1000);
    REQUIRE(t);
    REQUIRE(weft_sim_run_until(s, 100000) > 0);
    REQUIRE(weft_sim_crash(s, 0) == 0);
    uint64_t sent0 = t[0].pings_sent, recv0 = t[0].pings_recv + t[0].pongs_recv;
    REQUIRE(weft_sim_run_until(s, 300000) > 0);
    CHECK_EQ_INT(t[0].pings_sent, sent0);  /* no timers while down */
    CHECK_EQ_INT(t[0].pings_recv + t[0].pongs_recv, recv0);
    weft_sim_stats st;
    weft_sim_get_stats(s, &st);
    CHECK(st.crashed_drops > 0);
    toy *fresh = calloc(1, sizeof *fresh);
    REQUIRE(fresh);
    *fresh = t[0];
    fresh->pings_sent = 0;
    fresh->pings_recv = fresh->pongs_recv = 0;
    fresh->rounds = 10;
    fresh->next_us = weft_sim_now(s) + 1000;
    REQUIRE(weft_sim_restart(s, 0, &toy_ops, fresh) == 0);
    CHECK(weft_sim_is_up(s, 0));
    CHECK(weft_sim_node(s, 0) == fresh);
    REQUIRE(weft_sim_run_until(s, 400000) > 0);
    CHECK_EQ_INT(fresh->pings_sent, 10);
    CHECK_EQ_INT(fresh->pongs_recv, 10);
    CHECK(fresh->pings_recv > 0);
    weft_sim_del(s);
    free(fresh);
    free(t);
}

TEST(dup_duplicates)
{
    weft_sim_link l;
    weft_sim_link_default(&l);
    l.dup = 1.0;
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 10, &l) == 0);
    toy *t = toys_new(s, 2, NOPEER, 10, 1000); /* ping only; pongs too */
    REQUIRE(t);
    REQUIRE(weft_sim_run_until(s, 1000000) > 0);
    /* each ping arrives twice; each arrival is ponged, each pong twice */
    CHECK_EQ_INT(t[1].pings_recv, 20);
    CHECK_EQ_INT(t[0].pongs_recv, 40);
    weft_sim_stats st;
    weft_sim_get_stats(s, &st);
    CHECK_EQ_INT(st.delivered, 2 * st.sent);
    weft_sim_del(s);
    free(t);
}

static uint64_t inversions_with(double reorder, uint64_t jitter_us)
{
    weft_sim_link l;
    weft_sim_link_default(&l);
    l.latency_us = 10000;
    l.jitter_us = jitter_us;
    l.reorder = reorder;
    weft_sim *s;
    if (weft_sim_new(&s, 11, &l))
        return UINT64_MAX;
    toy *t = toys_new(s, 2, 1, 500, 500); /* 0 -> 1 every 0.5 ms */
    if (!t)
        return UINT64_MAX;
    t[1].rounds = 0;
    weft_sim_run_until(s, 2000000);
    uint64_t inv = t[1].pings_recv == 500 ? t[1].inversions : UINT64_MAX;
    weft_sim_del(s);
    free(t);
    return inv;
}

TEST(reorder_reorders)
{
    CHECK_EQ_INT(inversions_with(0, 0), 0); /* FIFO without reorder/jitter */
    uint64_t inv = inversions_with(0.3, 0);
    CHECK(inv > 10 && inv != UINT64_MAX);
}

TEST(bandwidth_serialises_and_drops_tail)
{
    weft_sim_link l;
    weft_sim_link_default(&l);
    l.latency_us = 1000;
    l.bandwidth_bps = 8000; /* 1000 bytes/s: a 100-byte packet takes 100 ms */
    l.queue_bytes_max = 550;
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 12, &l) == 0);
    toy *t = toys_new(s, 2, 1, 1, 1000);
    REQUIRE(t);
    t[1].rounds = 0;
    t[0].burst = 10;
    t[0].size = 100;
    t[1].size = 17;
    REQUIRE(weft_sim_run_until(s, 10000000) > 0);
    /* queued bytes count the packet being serialised: 5 x 100 fit 550 */
    CHECK_EQ_INT(t[1].pings_recv, 5);
    CHECK_EQ_INT(t[1].delay_min_us, 100000 + 1000);
    CHECK_EQ_INT(t[1].delay_max_us, 500000 + 1000);
    weft_sim_stats st;
    weft_sim_get_stats(s, &st);
    CHECK_EQ_INT(st.queue_drops, 5);
    weft_sim_del(s);
    free(t);
}

TEST(per_link_override)
{
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 13, NULL) == 0);
    toy *t = toys_new(s, 3, NOPEER, 100, 1000);
    REQUIRE(t);
    weft_sim_link lossy;
    weft_sim_link_default(&lossy);
    lossy.loss = 1.0;
    REQUIRE(weft_sim_set_link(s, 0, 2, &lossy) == 0);
    REQUIRE(weft_sim_run_until(s, 1000000) > 0);
    CHECK_EQ_INT(t[2].recv_from[0], 0);
    CHECK(t[0].recv_from[2] > 0);
    CHECK(t[1].recv_from[0] > 0);
    weft_sim_del(s);
    free(t);
}

TEST(ten_thousand_nodes)
{
    weft_sim_link l;
    weft_sim_link_default(&l);
    l.jitter_us = 500;
    l.loss = 0.01;
    weft_sim *s;
    REQUIRE(weft_sim_new(&s, 14, &l) == 0);
    toy *t = toys_new(s, 10000, NOPEER, 20, 10000);
    REQUIRE(t);
    REQUIRE(weft_sim_node_count(s) == 10000);
    int64_t ev = weft_sim_run_until(s, 10000000);
    REQUIRE(ev > 0);
    weft_sim_stats st;
    weft_sim_get_stats(s, &st);
    uint64_t sent = 0, recv = 0;
    for (int i = 0; i < 10000; i++) {
        sent += t[i].pings_sent;
        recv += t[i].pings_recv + t[i].pongs_recv;
        CHECK_EQ_INT(t[i].rounds, 0);
    }
    CHECK_EQ_INT(sent, 200000);
    CHECK_EQ_INT(recv, st.delivered);
    CHECK_EQ_INT(st.sent, st.delivered + st.lost);
    CHECK(st.lost > 0);
    CHECK_EQ_INT(weft_sim_step(s), 0); /* queue drained */
    weft_sim_del(s);
    free(t);
}

TEST(fast_crypto_contracts)
{
    const weft_crypto *c = weft_sim_fast_crypto();
    uint8_t ska[32], skb[32], pka[32], pkb[32], k1[32], k2[32];
    for (int i = 0; i < 32; i++) {
        ska[i] = (uint8_t)(i * 7 + 1);
        skb[i] = (uint8_t)(i * 13 + 5);
    }
    c->dh_public(c->ctx, pka, ska);
    c->dh_public(c->ctx, pkb, skb);
    REQUIRE(c->dh(c->ctx, k1, ska, pkb) == 0);
    REQUIRE(c->dh(c->ctx, k2, skb, pka) == 0);
    CHECK(memcmp(k1, k2, 32) == 0);
    uint8_t zero[32] = {0};
    CHECK(c->dh(c->ctx, k2, ska, zero) == -1);

    uint8_t pt[100], ct[116], back[100];
    for (int i = 0; i < 100; i++)
        pt[i] = (uint8_t)i;
    c->aead_seal(c->ctx, ct, k1, 9, (const uint8_t *)"ad", 2, pt, 100);
    CHECK(c->aead_open(c->ctx, back, k1, 9, (const uint8_t *)"ad", 2, ct, 116) == 0);
    CHECK(memcmp(back, pt, 100) == 0);
    CHECK(c->aead_open(c->ctx, back, k1, 10, (const uint8_t *)"ad", 2, ct, 116) == -1);
    CHECK(c->aead_open(c->ctx, back, skb, 9, (const uint8_t *)"ad", 2, ct, 116) == -1);
    ct[50] ^= 1;
    CHECK(c->aead_open(c->ctx, back, k1, 9, (const uint8_t *)"ad", 2, ct, 116) == -1);

    uint8_t h1[64], h2[64];
    weft_iov one = {"abcdefghij", 10}, two[2] = {{"abc", 3}, {"defghij", 7}};
    c->hash(c->ctx, h1, &one, 1);
    c->hash(c->ctx, h2, two, 2);
    CHECK(memcmp(h1, h2, 64) == 0);
    c->mac(c->ctx, h2, 32, k1, 32, &one, 1);
    CHECK(memcmp(h1, h2, 32) != 0);

    uint8_t seed[32] = {1, 2, 3}, epk[32], esk[64], sig[64], xsk[32], xpk[32], x2[32];
    c->sign_keypair_seed(c->ctx, epk, esk, seed);
    c->sign(c->ctx, sig, pt, 100, esk);
    CHECK(c->verify(c->ctx, sig, pt, 100, epk) == 0);
    CHECK(c->verify(c->ctx, sig, pt, 99, epk) == -1);
    CHECK(c->verify(c->ctx, sig, pt, 100, pka) == -1);
    REQUIRE(c->ed_sk_to_x(c->ctx, xsk, esk) == 0);
    REQUIRE(c->ed_pk_to_x(c->ctx, xpk, epk) == 0);
    c->dh_public(c->ctx, x2, xsk);
    CHECK(memcmp(x2, xpk, 32) == 0);
    c->wipe(c->ctx, esk, 64);
    CHECK(esk[0] == 0 && esk[63] == 0);
}

int main(void)
{
    RUN(same_seed_same_trace);
    RUN(node_rand_independent_of_other_nodes);
    RUN(addresses_map_to_indices);
    RUN(latency_and_jitter_respected);
    RUN(total_loss_delivers_nothing);
    RUN(block_is_one_way);
    RUN(partition_and_heal);
    RUN(partition_drops_in_flight);
    RUN(crash_drops_in_flight_even_after_restart);
    RUN(crashed_node_gets_nothing_and_restart_resumes_timers);
    RUN(dup_duplicates);
    RUN(reorder_reorders);
    RUN(bandwidth_serialises_and_drops_tail);
    RUN(per_link_override);
    RUN(ten_thousand_nodes);
    RUN(fast_crypto_contracts);
    TEST_MAIN_END();
}
