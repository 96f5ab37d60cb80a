/*
 * test_swim.c -- unit tests of the membership protocol (src/membership/).
 *
 * A handful of instances are wired by a tiny hand-rolled network: a virtual
 * clock advanced in 1 ms steps, a fixed 1 ms one-way latency, per-node
 * "down" flags and per-link blocks.  Everything is deterministic (seeded
 * randomness), every loop is bounded by simulated time, and assertions poll
 * the instances' state between steps.  Crypto is real
 * (weft_crypto_sodium()); libsodium is used directly only to forge test
 * claims.
 */
#include <sodium.h>

#include "membership/swim.h"
#include "base/varint.h"
#include "test.h"
#include "weft/crypto.h"

static void rand_fill(void *ctx, uint8_t *buf, size_t len)
{
    uint64_t *st = ctx;
    for (size_t i = 0; i < len; i++) {
        uint64_t z = (*st += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        buf[i] = (uint8_t)(z ^ (z >> 31));
    }
}

/* ---- the tiny network ---------------------------------------------------- */

#define NMAX 8
#define INFLIGHT_MAX 4096

typedef struct pkt {
    uint64_t at_us;
    int from, to;
    size_t len;
    uint8_t data[1500];
} pkt;

typedef struct net {
    weft__swim *n[NMAX];
    weft_env env[NMAX];
    uint64_t rstate[NMAX];
    uint8_t sk[NMAX][64];
    weft_addr addr[NMAX];
    int down[NMAX];
    int blocked[NMAX][NMAX];
    int count;
    uint64_t now_us;
    pkt *q;
    int nq;
    uint64_t delivered;
} net;

static const uint8_t NETKEY[32] = "weft test network key 0123456!!";

static void mk_addr(weft_addr *a, int i)
{
    memset(a, 0, sizeof *a);
    a->family = 4;
    a->ip[0] = 127;
    a->ip[3] = 1;
    a->port = (uint16_t)(7000 + i);
}

static int node_of(const net *w, const weft_addr *a)
{
    for (int i = 0; i < w->count; i++)
        if (weft_addr_eq(&w->addr[i], a))
            return i;
    return -1;
}

/* Creates instance i (fresh state; keeps its identity when it existed). */
static int node_start(net *w, int i, const weft__swim_config *cfg, const uint8_t *netkey)
{
    weft__swim_config c;
    if (cfg)
        c = *cfg;
    else
        weft__swim_config_lan(&c);
    w->rstate[i] = 1000 + (uint64_t)i * 77 + w->now_us;
    w->env[i].alloc = NULL;
    w->env[i].crypto = weft_crypto_sodium();
    w->env[i].rand.ctx = &w->rstate[i];
    w->env[i].rand.fill = rand_fill;
    mk_addr(&w->addr[i], i);
    w->down[i] = 0;
    return weft__swim_new(&w->n[i], &c, &w->env[i], w->sk[i], netkey ? netkey : NETKEY,
                          &w->addr[i], w->now_us);
}

static void net_init(net *w, int count, const weft__swim_config *cfg)
{
    memset(w, 0, sizeof *w);
    w->count = count;
    w->now_us = 1000000;
    w->q = calloc(INFLIGHT_MAX, sizeof *w->q);
    for (int i = 0; i < count; i++) {
        uint8_t seed[32] = {0}, pk[32];
        seed[0] = (uint8_t)(i + 1);
        crypto_sign_seed_keypair(pk, w->sk[i], seed);
        node_start(w, i, cfg, NULL);
    }
}

static void net_free(net *w)
{
    for (int i = 0; i < w->count; i++)
        weft__swim_del(w->n[i]);
    free(w->q);
}

static void drain(net *w, int i)
{
    uint8_t buf[1500];
    weft_addr to;
    ptrdiff_t n;
    for (int guard = 0; guard < 10000 && (n = weft__swim_write(w->n[i], &to, buf, sizeof buf, w->now_us)) > 0; guard++) {
        int j = node_of(w, &to);
        if (j < 0 || w->nq == INFLIGHT_MAX)
            continue;
        pkt *p = &w->q[w->nq++];
        p->at_us = w->now_us + 1000;
        p->from = i;
        p->to = j;
        p->len = (size_t)n;
        memcpy(p->data, buf, (size_t)n);
    }
}

/* Advances the virtual clock by dt_us in 1 ms steps. */
static void run(net *w, uint64_t dt_us)
{
    uint64_t end = w->now_us + dt_us;
    while (w->now_us < end) {
        w->now_us += 1000;
        for (int k = 0; k < w->nq;) {
            pkt *p = &w->q[k];
            if (p->at_us > w->now_us) {
                k++;
                continue;
            }
            pkt cp = *p;
            w->q[k] = w->q[--w->nq];
            if (w->down[cp.to] || w->down[cp.from] || w->blocked[cp.from][cp.to])
                continue;
            weft__swim_recv(w->n[cp.to], &w->addr[cp.from], cp.data, cp.len, w->now_us);
            w->delivered++;
            drain(w, cp.to);
        }
        for (int i = 0; i < w->count; i++) {
            if (w->down[i])
                continue;
            if (weft__swim_expiry(w->n[i]) <= w->now_us)
                weft__swim_handle_expiry(w->n[i], w->now_us);
            drain(w, i);
        }
    }
}

static const weft_node_id *nid(net *w, int i) { return weft__swim_id(w->n[i]); }

static int state_of(net *w, int at, int who)
{
    weft__swim_member_info mi;
    if (weft__swim_member_find(w->n[at], nid(w, who), &mi) < 0)
        return -1;
    return mi.state;
}

static uint32_t inc_of(net *w, int at, int who)
{
    weft__swim_member_info mi;
    if (weft__swim_member_find(w->n[at], nid(w, who), &mi) < 0)
        return 0;
    return mi.incarnation;
}

/* 1 when every up node sees every up node alive. */
static int converged(net *w)
{
    for (int i = 0; i < w->count; i++) {
        if (w->down[i])
            continue;
        for (int j = 0; j < w->count; j++)
            if (!w->down[j] && state_of(w, i, j) != WEFT__SWIM_ALIVE)
                return 0;
    }
    return 1;
}

/* Runs until cond holds, in 100 ms slices, for at most max_us. */
#define RUN_UNTIL(w, cond, max_us)                                             \
    do {                                                                       \
        for (uint64_t t_ = 0; t_ < (max_us) && !(cond); t_ += 100000)          \
            run((w), 100000);                                                  \
    } while (0)

static void join_all(net *w)
{
    for (int i = 1; i < w->count; i++)
        weft__swim_join(w->n[i], &w->addr[0], w->now_us);
}

static int count_events(net *w, int at, int type, int who)
{
    weft__swim_event ev;
    int n = 0;
    while (weft__swim_poll(w->n[at], &ev))
        if (ev.type == type && (who < 0 || memcmp(&ev.id, nid(w, who), 32) == 0))
            n++;
    return n;
}

/* Builds an alive claim for identity sk (signed by sk_signer) into p: the
 * layout of docs/MEMBERSHIP.md §4.5, with empty metadata. */
static size_t make_claim(uint8_t *p, const uint8_t sk[64], const uint8_t signer[64],
                         uint32_t inc, const weft_addr *a)
{
    size_t o = 0;
    memcpy(p, sk + 32, 32);
    o += 32;
    weft__put_u32(p + o, inc);
    o += 4;
    p[o] = a->family;
    weft__put_u16(p + o + 1, a->port);
    weft__put_u32(p + o + 3, a->scope);
    memcpy(p + o + 7, a->ip, 16);
    o += 23;
    memset(p + o, 0, 4);
    o += 4;
    uint8_t msg[16 + 128];
    memcpy(msg, "weft-swim-alive", 16);
    memcpy(msg + 16, p, o);
    crypto_sign_detached(p + o, NULL, msg, 16 + o, signer);
    return o + 64;
}

/* A plaintext payload: sender id + one message. */
static size_t make_plain(uint8_t *out, const uint8_t sender[32], int type,
                         const uint8_t *body, size_t len)
{
    memcpy(out, sender, 32);
    out[32] = (uint8_t)type;
    weft__put_u16(out + 33, (uint16_t)len);
    memcpy(out + 35, body, len);
    return 35 + len;
}

/* ---- tests ---------------------------------------------------------------- */

TEST(test_join_converges)
{
    net w;
    net_init(&w, 5, NULL);
    join_all(&w);
    RUN_UNTIL(&w, converged(&w), 10000000);
    CHECK(converged(&w));
    weft__swim_counts c;
    weft__swim_counts_get(w.n[3], &c);
    CHECK_EQ_INT(c.alive, 5);
    CHECK_EQ_INT(count_events(&w, 4, WEFT__SWIM_EV_JOINED, -1), 4);
    /* a steady mesh has no suspicion and no drops */
    run(&w, 10000000);
    for (int i = 0; i < 5; i++) {
        weft__swim_stats st;
        weft__swim_stats_get(w.n[i], &st);
        CHECK_EQ_INT(st.drop_bad_mac + st.drop_malformed + st.drop_bad_signature, 0);
        CHECK_EQ_INT(count_events(&w, i, WEFT__SWIM_EV_SUSPECT, -1), 0);
        CHECK(st.probes > 0);
    }
    /* RTT measured from direct probes (2 x 1 ms latency + step) */
    weft__swim_member_info mi;
    REQUIRE(weft__swim_member_find(w.n[0], nid(&w, 1), &mi) == 0);
    CHECK(mi.rtt_us >= 2000 && mi.rtt_us <= 4000);
    CHECK(mi.last_contact_us > 0);
    net_free(&w);
}

TEST(test_join_retries_until_seed_answers)
{
    net w;
    net_init(&w, 2, NULL);
    w.down[0] = 1;
    CHECK(weft__swim_join(w.n[1], &w.addr[0], w.now_us) == 0);
    run(&w, 3000000);
    w.down[0] = 0;
    RUN_UNTIL(&w, converged(&w), 20000000);
    CHECK(converged(&w));
    net_free(&w);
}

TEST(test_metadata_spreads)
{
    net w;
    net_init(&w, 4, NULL);
    join_all(&w);
    RUN_UNTIL(&w, converged(&w), 10000000);
    REQUIRE(converged(&w));
    for (int i = 0; i < 4; i++)
        count_events(&w, i, 0, -1); /* flush */
    uint32_t inc0 = inc_of(&w, 0, 2);
    weft__swim_tag tags[] = {{"role", "camera"}, {"fps", "30"}};
    CHECK(weft__swim_set_meta(w.n[2], "camera_002", "recording", tags, 2, w.now_us) == 0);
    weft__swim_member_info mi;
    int seen = 0;
    for (int t = 0; t < 50 && !seen; t++) {
        run(&w, 100000);
        seen = 1;
        for (int i = 0; i < 4; i++)
            if (weft__swim_member_find(w.n[i], nid(&w, 2), &mi) < 0 || mi.name_len != 10)
                seen = 0;
    }
    CHECK(seen);
    REQUIRE(weft__swim_member_find(w.n[3], nid(&w, 2), &mi) == 0);
    CHECK(memcmp(mi.name, "camera_002", 10) == 0);
    CHECK(mi.status_len == 9 && memcmp(mi.status, "recording", 9) == 0);
    CHECK(mi.incarnation > inc0);
    size_t off = 0, kl, vl;
    const char *k, *v;
    REQUIRE(weft__swim_tag_next(mi.tags, mi.tags_len, &off, &k, &kl, &v, &vl));
    CHECK(kl == 4 && memcmp(k, "role", 4) == 0 && vl == 6 && memcmp(v, "camera", 6) == 0);
    REQUIRE(weft__swim_tag_next(mi.tags, mi.tags_len, &off, &k, &kl, &v, &vl));
    CHECK(kl == 3 && memcmp(v, "30", 2) == 0);
    CHECK(!weft__swim_tag_next(mi.tags, mi.tags_len, &off, &k, &kl, &v, &vl));
    CHECK_EQ_INT(count_events(&w, 1, WEFT__SWIM_EV_UPDATED, 2), 1);

    /* limits */
    char big[80];
    memset(big, 'x', sizeof big - 1);
    big[79] = 0;
    CHECK(weft__swim_set_meta(w.n[2], big, NULL, NULL, 0, w.now_us) == WEFT_ERR_TOO_BIG);
    big[33] = 0;
    CHECK(weft__swim_set_meta(w.n[2], NULL, big, NULL, 0, w.now_us) == WEFT_ERR_TOO_BIG);
    big[33] = 'x';
    weft__swim_tag many[8];
    for (int i = 0; i < 8; i++) {
        many[i].key = "k";
        many[i].value = big; /* 8 * (2 + 1 + 79) > 512 */
    }
    CHECK(weft__swim_set_meta(w.n[2], NULL, NULL, many, 8, w.now_us) == WEFT_ERR_TOO_BIG);
    CHECK(weft__swim_set_meta(w.n[2], NULL, NULL, many, 6, w.now_us) == 0);
    run(&w, 2000000);
    REQUIRE(weft__swim_member_find(w.n[0], nid(&w, 2), &mi) == 0);
    CHECK_EQ_INT(mi.tags_len, 6 * 82);
    net_free(&w);
}

TEST(test_graceful_leave)
{
    net w;
    net_init(&w, 4, NULL);
    join_all(&w);
    RUN_UNTIL(&w, converged(&w), 10000000);
    REQUIRE(converged(&w));
    for (int i = 0; i < 4; i++)
        count_events(&w, i, 0, -1);
    CHECK(weft__swim_leave(w.n[3], w.now_us) == 0);
    CHECK(weft__swim_leave(w.n[3], w.now_us) == WEFT_ERR_STATE);
    int all = 0;
    for (int t = 0; t < 30 && !all; t++) {
        run(&w, 100000);
        all = 1;
        for (int i = 0; i < 3; i++)
            all &= state_of(&w, i, 3) == WEFT__SWIM_LEFT;
    }
    CHECK(all);
    w.down[3] = 1;
    run(&w, 10000000);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(state_of(&w, i, 3), WEFT__SWIM_LEFT);
        CHECK_EQ_INT(count_events(&w, i, WEFT__SWIM_EV_LEFT, 3), 1);
        CHECK_EQ_INT(count_events(&w, i, WEFT__SWIM_EV_FAILED, -1), 0);
    }
    net_free(&w);
}

TEST(test_foreign_key_ignored)
{
    net w;
    net_init(&w, 4, NULL);
    static const uint8_t other[32] = "a different mesh key, not ours!";
    weft__swim_del(w.n[3]);
    node_start(&w, 3, NULL, other);
    join_all(&w);
    RUN_UNTIL(&w, 0, 5000000);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(state_of(&w, i, 3), -1);
        CHECK_EQ_INT(weft__swim_member_count(w.n[i]), 3);
    }
    CHECK_EQ_INT(weft__swim_member_count(w.n[3]), 1);
    weft__swim_stats st;
    weft__swim_stats_get(w.n[0], &st);
    CHECK(st.drop_bad_mac > 0);
    weft__swim_stats_get(w.n[3], &st);
    CHECK_EQ_INT(st.drop_bad_mac, 0); /* nobody answers it */
    net_free(&w);
}

TEST(test_forged_claim_rejected)
{
    net w;
    net_init(&w, 3, NULL);
    join_all(&w);
    RUN_UNTIL(&w, converged(&w), 10000000);
    REQUIRE(converged(&w));
    uint8_t claim[256], pt[300], intruder[64], pk[32], seed[32] = {99};
    crypto_sign_seed_keypair(pk, intruder, seed);
    /* a claim for a new id signed by someone else */
    uint8_t victim[64], vpk[32], vseed[32] = {42};
    crypto_sign_seed_keypair(vpk, victim, vseed);
    weft_addr a;
    mk_addr(&a, 6);
    size_t cl = make_claim(claim, victim, intruder, 1, &a);
    size_t n = make_plain(pt, pk, 0x10, claim, cl);
    CHECK(weft__swim_recv_plain(w.n[0], &w.addr[1], pt, n, w.now_us) == WEFT_ERR_BAD_SIGNATURE);
    /* a higher incarnation for an existing member, not signed by it */
    cl = make_claim(claim, w.sk[2], intruder, 1000, &a);
    n = make_plain(pt, pk, 0x10, claim, cl);
    CHECK(weft__swim_recv_plain(w.n[0], &w.addr[1], pt, n, w.now_us) == WEFT_ERR_BAD_SIGNATURE);
    weft__swim_stats st;
    weft__swim_stats_get(w.n[0], &st);
    CHECK_EQ_INT(st.drop_bad_signature, 2);
    CHECK_EQ_INT(weft__swim_member_count(w.n[0]), 3);
    CHECK(inc_of(&w, 0, 2) < 1000);
    weft__swim_member_info mi;
    REQUIRE(weft__swim_member_find(w.n[0], nid(&w, 2), &mi) == 0);
    CHECK(weft_addr_eq(&mi.addr, &w.addr[2]));
    /* the same claim properly signed is accepted: address change keeps id */
    cl = make_claim(claim, w.sk[2], w.sk[2], 1000, &a);
    n = make_plain(pt, pk, 0x10, claim, cl);
    CHECK(weft__swim_recv_plain(w.n[0], &w.addr[1], pt, n, w.now_us) == 0);
    REQUIRE(weft__swim_member_find(w.n[0], nid(&w, 2), &mi) == 0);
    CHECK(weft_addr_eq(&mi.addr, &a));
    CHECK_EQ_INT(mi.incarnation, 1000);
    /* a truncated message is malformed */
    CHECK(weft__swim_recv_plain(w.n[0], &w.addr[1], pt, n - 1, w.now_us) == WEFT_ERR_PROTO);
    /* a garbage packet on the wire is a MAC failure */
    uint8_t junk[100] = {0x20, 0x01};
    CHECK(weft__swim_recv(w.n[0], &w.addr[1], junk, sizeof junk, w.now_us) == WEFT_ERR_DECRYPT);
    junk[1] = 9;
    CHECK(weft__swim_recv(w.n[0], &w.addr[1], junk, sizeof junk, w.now_us) == WEFT_ERR_VERSION);
    net_free(&w);
}

TEST(test_refutation)
{
    net w;
    net_init(&w, 4, NULL);
    join_all(&w);
    RUN_UNTIL(&w, converged(&w), 10000000);
    REQUIRE(converged(&w));
    for (int i = 0; i < 4; i++)
        count_events(&w, i, 0, -1);
    uint32_t inc = inc_of(&w, 0, 1);
    /* node 0 hears a (false) suspicion of node 1 from node 2 */
    uint8_t body[68], pt[120];
    memcpy(body, nid(&w, 1)->key, 32);
    weft__put_u32(body + 32, inc);
    memcpy(body + 36, nid(&w, 2)->key, 32);
    size_t n = make_plain(pt, nid(&w, 2)->key, 0x11, body, 68);
    CHECK(weft__swim_recv_plain(w.n[0], &w.addr[2], pt, n, w.now_us) == 0);
    CHECK_EQ_INT(state_of(&w, 0, 1), WEFT__SWIM_SUSPECT);
    RUN_UNTIL(&w, converged(&w) && inc_of(&w, 0, 1) > inc, 5000000);
    CHECK(converged(&w));
    CHECK(inc_of(&w, 0, 1) > inc);
    weft__swim_stats st;
    weft__swim_stats_get(w.n[1], &st);
    CHECK(st.refutations >= 1);
    CHECK_EQ_INT(count_events(&w, 0, WEFT__SWIM_EV_ALIVE, 1), 1);
    CHECK_EQ_INT(count_events(&w, 2, WEFT__SWIM_EV_FAILED, -1), 0);
    /* a stale "dead" (old incarnation) does not kill the refuted member */
    n = make_plain(pt, nid(&w, 2)->key, 0x12, body, 68);
    CHECK(weft__swim_recv_plain(w.n[3], &w.addr[2], pt, n, w.now_us) == 0);
    CHECK_EQ_INT(state_of(&w, 3, 1), WEFT__SWIM_ALIVE);
    net_free(&w);
}

TEST(test_failure_detected_and_stale_alive_ignored)
{
    net w;
    net_init(&w, 5, NULL);
    join_all(&w);
    RUN_UNTIL(&w, converged(&w), 10000000);
    REQUIRE(converged(&w));
    uint32_t inc4 = inc_of(&w, 0, 4);
    w.down[4] = 1;
    uint64_t t0 = w.now_us;
    int all = 0;
    for (int t = 0; t < 200 && !all; t++) {
        run(&w, 100000);
        all = 1;
        for (int i = 0; i < 4; i++)
            all &= state_of(&w, i, 4) == WEFT__SWIM_DEAD;
    }
    CHECK(all);
    fprintf(stderr, "  5 nodes: crash seen dead by all after %.1f s\n",
            (double)(w.now_us - t0) / 1e6);
    /* stale alive gossip (the member's own old claim) cannot resurrect it */
    uint8_t claim[256], pt[300];
    size_t cl = make_claim(claim, w.sk[4], w.sk[4], inc4, &w.addr[4]);
    size_t n = make_plain(pt, nid(&w, 1)->key, 0x10, claim, cl);
    CHECK(weft__swim_recv_plain(w.n[0], &w.addr[1], pt, n, w.now_us) == 0);
    CHECK_EQ_INT(state_of(&w, 0, 4), WEFT__SWIM_DEAD);
    run(&w, 3000000);
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(state_of(&w, i, 4), WEFT__SWIM_DEAD);
    /* restart with the same identity and incarnation 0: it learns its
     * previous incarnation and rejoins with a higher one */
    weft__swim_del(w.n[4]);
    node_start(&w, 4, NULL, NULL);
    for (int i = 0; i < 4; i++)
        count_events(&w, i, 0, -1);
    weft__swim_join(w.n[4], &w.addr[0], w.now_us);
    RUN_UNTIL(&w, converged(&w), 20000000);
    CHECK(converged(&w));
    CHECK(inc_of(&w, 0, 4) > inc4);
    CHECK_EQ_INT(count_events(&w, 2, WEFT__SWIM_EV_REJOINED, 4), 1);
    net_free(&w);
}

TEST(test_max_members)
{
    weft__swim_config c;
    weft__swim_config_lan(&c);
    net w;
    net_init(&w, 5, NULL);
    weft__swim_del(w.n[0]);
    c.max_members = 3;
    node_start(&w, 0, &c, NULL);
    join_all(&w);
    run(&w, 10000000);
    CHECK_EQ_INT(weft__swim_member_count(w.n[0]), 3);
    weft__swim_stats st;
    weft__swim_stats_get(w.n[0], &st);
    CHECK(st.refused_full > 0);
    int refused = count_events(&w, 0, WEFT__SWIM_EV_REFUSED, -1);
    CHECK(refused == 2); /* once per refused member, not per message */
    /* the others (no cap) still see everybody */
    weft__swim_counts cnt;
    weft__swim_counts_get(w.n[4], &cnt);
    CHECK_EQ_INT(cnt.alive, 5);
    net_free(&w);
}

/* The id -> member hash stays consistent through random inserts (swaps
 * into the probe order), deaths, forgetting (swap-removes) and reshuffles. */
TEST(test_member_table_consistency)
{
    net w;
    weft__swim_config c;
    weft__swim_config_lan(&c);
    c.max_members = 1000;
    net_init(&w, 1, &c);
    static uint8_t sks[200][64];
    uint8_t claim[256], pt[300], pk[32];
    for (int i = 0; i < 200; i++) {
        uint8_t seed[32] = {7, (uint8_t)i, (uint8_t)(i >> 8)};
        crypto_sign_seed_keypair(pk, sks[i], seed);
        weft_addr a;
        mk_addr(&a, 100 + i);
        size_t cl = make_claim(claim, sks[i], sks[i], 1, &a);
        size_t n = make_plain(pt, sks[i] + 32, 0x10, claim, cl);
        CHECK(weft__swim_recv_plain(w.n[0], &a, pt, n, w.now_us) == 0);
    }
    CHECK_EQ_INT(weft__swim_member_count(w.n[0]), 201);
    /* half are declared dead by someone */
    for (int i = 0; i < 100; i++) {
        uint8_t body[68];
        memcpy(body, sks[i] + 32, 32);
        weft__put_u32(body + 32, 1);
        memcpy(body + 36, sks[150] + 32, 32);
        size_t n = make_plain(pt, sks[150] + 32, 0x12, body, 68);
        CHECK(weft__swim_recv_plain(w.n[0], &w.addr[0], pt, n, w.now_us) == 0);
    }
    weft__swim_counts k;
    weft__swim_counts_get(w.n[0], &k);
    CHECK_EQ_INT(k.dead, 100);
    /* no network: run the timers past the retention time (everyone else is
     * suspected, declared dead and forgotten too, in some order) */
    uint8_t buf[1500];
    weft_addr to;
    for (int step = 0; step < 200000; step++) {
        uint64_t t = weft__swim_expiry(w.n[0]);
        if (t > w.now_us + 200000000)
            break;
        if (t > w.now_us)
            w.now_us = t;
        weft__swim_handle_expiry(w.n[0], w.now_us);
        for (int g = 0; g < 10000 && weft__swim_write(w.n[0], &to, buf, sizeof buf, w.now_us) > 0; g++)
            ;
        size_t cnt = weft__swim_member_count(w.n[0]);
        if (step % 97 == 0)
            for (size_t i = 0; i < cnt; i++) {
                weft__swim_member_info a, b;
                REQUIRE(weft__swim_member_at(w.n[0], i, &a) == 0);
                REQUIRE(weft__swim_member_find(w.n[0], &a.id, &b) == 0);
                CHECK(b.state == a.state && b.incarnation == a.incarnation);
            }
        if (cnt == 1)
            break;
    }
    CHECK_EQ_INT(weft__swim_member_count(w.n[0]), 1);
    weft__swim_member_info mi;
    for (int i = 0; i < 200; i++)
        CHECK(weft__swim_member_find(w.n[0], (const weft_node_id *)(sks[i] + 32), &mi) ==
              WEFT_ERR_NOT_FOUND);
    net_free(&w);
}

TEST(test_member_sizeof)
{
    fprintf(stderr, "  sizeof(member) = %zu bytes\n", weft__swim_member_sizeof());
    CHECK(weft__swim_member_sizeof() <= 1024);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_join_converges);
    RUN(test_join_retries_until_seed_answers);
    RUN(test_metadata_spreads);
    RUN(test_graceful_leave);
    RUN(test_foreign_key_ignored);
    RUN(test_forged_claim_rejected);
    RUN(test_refutation);
    RUN(test_failure_detected_and_stale_alive_ignored);
    RUN(test_max_members);
    RUN(test_member_table_consistency);
    RUN(test_member_sizeof);
    TEST_MAIN_END();
}
