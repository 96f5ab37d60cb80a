/*
 * test_failmalloc.c -- allocation failure is an answer, not a crash or a
 * hang (SQLite's and ngtcp2's fault-injection tests are the model).
 *
 * Each scenario runs once to count its allocations, then once per N =
 * 1, 2, ... with the N-th allocation failing (a single fault).  For every N
 * the run must end (every loop in the harness is bounded and the scenario
 * has a deadline), leak nothing (the allocator counts live blocks; ASan
 * checks the rest in `make sanitize`), and end in one of two ways: the
 * scenario's goal is met (the engine recovered: a resend, a retried
 * handshake), or the failure was reported -- a call returned
 * WEFT_ERR_NOMEM, or the engine counted a dropped event.
 *
 * Scenarios: a handshake, a 300 KB transfer in ~260 fragments (MTU 1200)
 * with a receipt,
 * a membership join of three nodes, and the replicated store: two nodes
 * attach it, write, push and reconcile (a failed allocation in a remote
 * version's way is repaired by the next anti-entropy round).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "enginenet.h"
#include "weft/kv.h"
#include "weft/sim.h"

typedef struct fm {
    long count;      /* allocations so far */
    long fail_at;    /* the allocation to fail (1-based), 0 = none */
    long failed;     /* how many failed */
    long live;       /* blocks not yet freed */
} fm;

static fm F;

/* A size header in front of every block keeps realloc/free exact. */
static void *fm_alloc(void *ctx, size_t n)
{
    (void)ctx;
    if (++F.count == F.fail_at) {
        F.failed++;
        return NULL;
    }
    size_t *p = malloc(sizeof(size_t) * 2 + n);
    if (!p)
        return NULL;
    p[0] = n;
    F.live++;
    return p + 2;
}

static void fm_free(void *ctx, void *q)
{
    (void)ctx;
    if (!q)
        return;
    F.live--;
    free((size_t *)q - 2);
}

static void *fm_realloc(void *ctx, void *q, size_t n)
{
    if (!q)
        return fm_alloc(ctx, n);
    if (++F.count == F.fail_at) {
        F.failed++;
        return NULL;
    }
    size_t *p = realloc((size_t *)q - 2, sizeof(size_t) * 2 + n);
    if (!p)
        return NULL;
    p[0] = n;
    return p + 2;
}

static const weft_allocator fm_allocator = {NULL, fm_alloc, fm_realloc, fm_free};

/* Outcome of one run. */
enum { RUN_DONE = 1, RUN_REPORTED = 2 };

static int reported(net *w)
{
    for (int i = 0; i < w->n; i++) {
        if (!w->e[i])
            continue;
        if (w->hs_failed_error[i] == WEFT_ERR_NOMEM)
            return 1;
        for (int j = 0; j < w->n; j++)
            if (w->down_reason[i][j] == WEFT_ERR_NOMEM)
                return 1;
        weft_stats st;
        weft_engine_stats(w->e[i], &st);
        if (st.events_dropped || st.drop_oneshot)
            return 1;
    }
    return 0;
}

static int make_nodes(net *w, int n, int membership, uint16_t mtu_max)
{
    memset(w, 0, sizeof *w);
    w->mtu_max = mtu_max;
    w->n = n;
    w->now = 1000000;
    w->membership = membership;
    w->alloc = &fm_allocator;
    for (int i = 0; i < n; i++)
        if (net_make_node(w, i, "mesh") < 0)
            return WEFT_ERR_NOMEM;
    return 0;
}

static int scenario_handshake(void)
{
    net w;
    int out = 0;
    if (make_nodes(&w, 2, 0, 0) < 0) {
        out = RUN_REPORTED;
        goto end;
    }
    if (weft_engine_connect(w.e[0], &w.addr[1], w.now) < 0) {
        out = RUN_REPORTED;
        goto end;
    }
    net_run_until(&w, w.now + 8000000);
    if (w.up[0][1] && w.up[1][0])
        out = RUN_DONE;
    else if (reported(&w))
        out = RUN_REPORTED;
end:
    net_free(&w);
    return out;
}

static int scenario_transfer(void)
{
    static uint8_t big[300000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 13);
    net w;
    int out = 0;
    if (make_nodes(&w, 2, 0, 1200) < 0 || weft_engine_connect(w.e[0], &w.addr[1], w.now) < 0) {
        out = RUN_REPORTED;
        goto end;
    }
    net_run_until(&w, w.now + 3000000);
    int64_t id = 0;
    for (int tries = 0; tries < 50 && id <= 0; tries++) {
        id = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, big, sizeof big,
                              WEFT_SEND_RECEIPT, w.now);
        if (id == WEFT_ERR_NOMEM) {
            out = RUN_REPORTED;
            goto end;
        }
        if (id <= 0)
            net_run_until(&w, w.now + 200000); /* not up yet: wait */
    }
    net_run_until(&w, w.now + 8000000);
    if (w.msgs[1] == 1 && w.bytes[1] == sizeof big && memcmp(w.last_msg[1], big, 64) == 0 &&
        net_outcome_count(&w, 0, WEFT_EV_DELIVERED, 0, (uint64_t)id) == 1)
        out = RUN_DONE;
    else if (reported(&w) || net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, 0, 0))
        out = RUN_REPORTED;
    if (w.msgs[1] > 1)
        out = 0; /* delivered twice: never acceptable */
end:
    net_free(&w);
    return out;
}

static int scenario_join(void)
{
    net w;
    int out = 0;
    if (make_nodes(&w, 3, 1, 0) < 0) {
        out = RUN_REPORTED;
        goto end;
    }
    for (int i = 1; i < 3; i++)
        if (weft_membership_join(w.e[i], &w.addr[0], w.now) < 0) {
            out = RUN_REPORTED;
            goto end;
        }
    net_run_until(&w, w.now + 20000000);
    int full = 1;
    for (int i = 0; i < 3; i++) {
        weft_membership_stats ms;
        full &= weft_membership_stats_get(w.e[i], &ms) == 0 && ms.alive == 3;
    }
    if (full)
        out = RUN_DONE;
    else if (reported(&w))
        out = RUN_REPORTED;
end:
    net_free(&w);
    return out;
}

static uint64_t fm_wall(void *ctx)
{
    return 1700000000000ULL + ((net *)ctx)->now / 1000;
}

static int scenario_store(void)
{
    net w;
    weft_store *st[2] = {weft_sim_memstore_new(), weft_sim_memstore_new()};
    int out = 0, nomem = 0;
    if (make_nodes(&w, 2, 1, 0) < 0) {
        out = RUN_REPORTED;
        goto end;
    }
    for (int i = 0; i < 2; i++) {
        weft_kv_config c;
        weft_kv_config_default(&c);
        c.store = st[i];
        c.wall_ms = fm_wall;
        c.wall_ctx = &w;
        if (weft_kv_attach(w.e[i], &c, w.now) < 0) {
            out = RUN_REPORTED;
            goto end;
        }
    }
    if (weft_membership_join(w.e[1], &w.addr[0], w.now) < 0) {
        out = RUN_REPORTED;
        goto end;
    }
    net_run_until(&w, w.now + 2000000);
    for (int i = 0; i < 10; i++) {
        char k[8] = {'k', (char)('0' + i), 0};
        int rc = weft_kv_put(w.e[i & 1], "ns", 2, k, 2, "value", 5, 0, w.now);
        nomem |= rc == WEFT_ERR_NOMEM;
        if (rc < 0 && rc != WEFT_ERR_NOMEM) {
            out = 0;
            goto end;
        }
        net_run_until(&w, w.now + 10000);
    }
    net_run_until(&w, w.now + 20000000);
    uint8_t d0[16], d1[16];
    uint64_t c0 = 0, c1 = 0;
    weft_kv_digest(w.e[0], d0, &c0);
    weft_kv_digest(w.e[1], d1, &c1);
    if (!nomem && c0 == 10 && c1 == 10 && memcmp(d0, d1, 16) == 0)
        out = RUN_DONE;
    else if (nomem || reported(&w))
        out = RUN_REPORTED;
end:
    net_free(&w);
    weft_sim_memstore_del(st[0]);
    weft_sim_memstore_del(st[1]);
    return out;
}

/* Runs scenario with every single allocation failing in turn. */
static void sweep(const char *name, int (*scenario)(void))
{
    memset(&F, 0, sizeof F);
    net_rng = 1;
    int base = scenario();
    long total = F.count;
    CHECK_EQ_INT(base, RUN_DONE);
    CHECK_EQ_INT(F.live, 0);
    long done = 0, rep = 0, bad = 0;
    for (long n = 1; n <= total; n++) {
        memset(&F, 0, sizeof F);
        F.fail_at = n;
        net_rng = 1;
        int r = scenario();
        if (F.live != 0) {
            fprintf(stderr, "%s: failing allocation %ld of %ld leaks %ld blocks\n", name, n,
                    total, F.live);
            bad++;
        }
        if (r == RUN_DONE)
            done++;
        else if (r == RUN_REPORTED)
            rep++;
        else {
            fprintf(stderr, "%s: failing allocation %ld of %ld: neither done nor reported\n",
                    name, n, total);
            bad++;
        }
    }
    fprintf(stderr, "%s: %ld allocations, each failed once: %ld recovered, %ld reported\n",
            name, total, done, rep);
    CHECK_EQ_INT(bad, 0);
}

TEST(allocation_failures_in_a_handshake)
{
    sweep("handshake", scenario_handshake);
}

TEST(allocation_failures_in_a_fragmented_transfer)
{
    sweep("transfer", scenario_transfer);
}

TEST(allocation_failures_in_a_membership_join)
{
    sweep("join", scenario_join);
}

TEST(allocation_failures_in_the_replicated_store)
{
    sweep("store", scenario_store);
}

int main(void)
{
    RUN(allocation_failures_in_a_handshake);
    RUN(allocation_failures_in_a_fragmented_transfer);
    RUN(allocation_failures_in_a_membership_join);
    RUN(allocation_failures_in_the_replicated_store);
    TEST_MAIN_END();
}
