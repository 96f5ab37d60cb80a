/*
 * weft-sim-selftest.c -- the `selftest` scenario: checks the simulator's
 * own network model with toy nodes (no engine, no crypto).
 *
 * Every node pings a random node every 10 ms with a sequence number and
 * its send time; the target echoes a pong.  The run has four phases, in
 * the spirit of TigerBeetle's VOPR (a safety phase under faults, then a
 * liveness phase after healing):
 *   [0, 0.3T)     the requested faults only (--loss/--dup/--reorder/...);
 *   [0.3T, 0.6T)  plus a partition into two halves, ~1/8 of the links
 *                 i -> i+1 blocked one way, ~10% of the nodes crashed;
 *                 at 0.45T up to 3 more nodes crash and restart within
 *                 half a latency (in-flight datagrams to them must die);
 *   [0.6T, 0.75T) healed, unblocked, crashed nodes restarted as fresh
 *                 instances;
 *   [0.75T, T]    liveness window: every node must get a pong back.
 * Invariants checked on every delivery: no delivery to a crashed instance,
 * across a partition or over a blocked link; one-way delay >= latency;
 * pongs echo a sequence number this very instance sent.  The observed loss
 * rate is printed with a wide bound around --loss (informative only).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/varint.h"
#include "tools/weft-sim.h"

#define TOY_OUTBOX 64
#define TOY_PERIOD_US 10000
#define TOY_PKT 32

struct st;

typedef struct toy {
    struct st *ctx;
    int self;
    uint32_t inc;          /* incarnation: pongs must echo ours */
    int dead;              /* this instance was crashed */
    uint64_t crash_us;     /* when the predecessor crashed (0: none) */
    uint32_t seq;
    uint64_t next_us;
    struct {
        int to;
        uint8_t type;      /* 1 ping, 2 pong */
        uint32_t seq, inc;
        uint64_t sent_us;
    } out[TOY_OUTBOX];
    unsigned head, count;
    uint64_t pongs_window; /* pongs received in the liveness window */
} toy;

typedef struct st {
    weft_sim *s;
    const simopt *o;
    simreport *r;
    int n;
    toy **cur;             /* live instance per node */
    toy **graveyard;       /* crashed instances, freed at the end */
    int ngrave;
    int *group;            /* mirror of the simulator's groups */
    uint8_t *blocks_next;  /* link i -> i+1 blocked */
    uint64_t window_start_us;
    uint64_t pongs, pings, outbox_drops;
} st;


static void enqueue(toy *t, int to, uint8_t type, uint32_t seq, uint32_t inc,
                    uint64_t sent_us)
{
    if (t->count == TOY_OUTBOX) {
        t->ctx->outbox_drops++;
        return;
    }
    unsigned k = (t->head + t->count++) % TOY_OUTBOX;
    t->out[k].to = to;
    t->out[k].type = type;
    t->out[k].seq = seq;
    t->out[k].inc = inc;
    t->out[k].sent_us = sent_us;
}

static int toy_recv(void *node, const weft_addr *from, const uint8_t *pkt,
                    size_t len, uint64_t now_us)
{
    toy *t = node;
    st *c = t->ctx;
    int src = weft_sim_find(c->s, from);
    if (t->dead)
        report_fail(c->r, "no delivery to a crashed node", "node %d at %llu us",
                    t->self, (unsigned long long)now_us);
    if (len != TOY_PKT || src < 0 || (int)weft__get_u32(pkt + 1) != src) {
        report_fail(c->r, "datagrams arrive intact from their sender",
                    "node %d from %d len %zu", t->self, src, len);
        return WEFT_ERR_PROTO;
    }
    if (c->group[src] != c->group[t->self])
        report_fail(c->r, "no delivery across a partition", "%d -> %d at %llu us",
                    src, t->self, (unsigned long long)now_us);
    if (c->blocks_next[src] && t->self == (src + 1) % c->n)
        report_fail(c->r, "no delivery over a blocked link", "%d -> %d", src,
                    t->self);
    uint32_t seq = weft__get_u32(pkt + 5), inc = weft__get_u32(pkt + 9);
    uint64_t sent = (uint64_t)weft__get_u32(pkt + 13) | (uint64_t)weft__get_u32(pkt + 17) << 32;
    uint64_t written = (uint64_t)weft__get_u32(pkt + 21) | (uint64_t)weft__get_u32(pkt + 25) << 32;
    if (written < t->crash_us)
        report_fail(c->r, "datagrams in flight to a crashed node are dropped",
                    "%d -> %d written at %llu us, crash at %llu us", src,
                    t->self, (unsigned long long)written,
                    (unsigned long long)t->crash_us);
    uint64_t floor_us = c->o->latency_us * (pkt[0] == 2 ? 2 : 1);
    if (now_us < sent || now_us - sent < floor_us)
        report_fail(c->r, "delay >= latency", "%d -> %d took %llu us", src,
                    t->self, (unsigned long long)(now_us - sent));
    if (pkt[0] == 1) {
        c->pings++;
        enqueue(t, src, 2, seq, inc, sent);
    } else if (pkt[0] == 2) {
        /* A pong to a predecessor (inc < ours) is legitimate when the
         * ping was still in flight at the crash; the check above makes
         * sure it was written after the crash. */
        if (inc > t->inc || (inc == t->inc && (seq == 0 || seq > t->seq)))
            report_fail(c->r, "pongs echo a ping of this instance",
                        "node %d got seq %u inc %u (sent %u, inc %u)", t->self,
                        seq, inc, t->seq, t->inc);
        c->pongs++;
        if (now_us >= c->window_start_us && c->window_start_us)
            t->pongs_window++;
    }
    return 0;
}

static ptrdiff_t toy_write(void *node, weft_addr *to, uint8_t *buf, size_t cap,
                           uint64_t now_us)
{
    toy *t = node;
    if (!t->count || cap < TOY_PKT)
        return 0;
    unsigned k = t->head;
    t->head = (t->head + 1) % TOY_OUTBOX;
    t->count--;
    memset(buf, 0, TOY_PKT);
    buf[0] = t->out[k].type;
    weft__put_u32(buf + 1, (uint32_t)t->self);
    weft__put_u32(buf + 5, t->out[k].seq);
    weft__put_u32(buf + 9, t->out[k].inc);
    weft__put_u32(buf + 13, (uint32_t)t->out[k].sent_us);
    weft__put_u32(buf + 17, (uint32_t)(t->out[k].sent_us >> 32));
    weft__put_u32(buf + 21, (uint32_t)now_us);
    weft__put_u32(buf + 25, (uint32_t)(now_us >> 32));
    *to = *weft_sim_addr(t->ctx->s, t->out[k].to);
    return TOY_PKT;
}

static uint64_t toy_expiry(void *node)
{
    return ((toy *)node)->next_us;
}

static int toy_handle_expiry(void *node, uint64_t now_us)
{
    toy *t = node;
    if (now_us < t->next_us)
        return 0;
    if (t->ctx->n < 2) {
        t->next_us = UINT64_MAX; /* nobody to ping */
        return 0;
    }
    int to = (int)(weft_sim_random(t->ctx->s) % (uint64_t)(t->ctx->n - 1));
    if (to >= t->self)
        to++;
    enqueue(t, to, 1, ++t->seq, t->inc, now_us);
    t->next_us = now_us + TOY_PERIOD_US;
    return 0;
}

static const weft_sim_node_ops toy_ops = {toy_recv, toy_write, toy_expiry,
                                          toy_handle_expiry};

/* A fresh instance of node i; inc > 0 means it replaces a crashed one
 * (crash_us is then the time of that crash). */
static toy *toy_new(st *c, int i, uint32_t inc, uint64_t now_us,
                    uint64_t crash_us)
{
    toy *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ctx = c;
    t->self = i;
    t->inc = inc;
    t->crash_us = crash_us;
    /* Spread first pings over one period so nodes do not beat in step. */
    t->next_us = now_us + 1 + weft_sim_random(c->s) % TOY_PERIOD_US;
    return t;
}

int scenario_selftest(const simopt *o, simreport *r)
{
    st c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.r = r;
    c.n = o->given & OPT_NODES ? o->nodes : 100;
    double secs = o->given & OPT_SECONDS ? o->seconds : 10.0;
    uint64_t T = (uint64_t)(secs * 1e6);
    weft_sim_link l;
    opt_link(o, &l);
    int rc = weft_sim_new(&c.s, o->seed, &l);
    if (rc)
        return rc;
    c.cur = calloc((size_t)c.n, sizeof *c.cur);
    c.graveyard = calloc((size_t)c.n + 3, sizeof *c.graveyard);
    c.group = calloc((size_t)c.n, sizeof *c.group);
    c.blocks_next = calloc((size_t)c.n, 1);
    int *crashed = calloc((size_t)c.n, sizeof *crashed);
    uint64_t crash_us = 0, quick_crash_us = 0;
    int ncrashed = 0;
    if (!c.cur || !c.graveyard || !c.group || !c.blocks_next || !crashed) {
        rc = WEFT_ERR_NOMEM;
        goto out;
    }
    for (int i = 0; i < c.n; i++) {
        c.cur[i] = toy_new(&c, i, 0, 0, 0);
        if (!c.cur[i] || weft_sim_add_node(c.s, &toy_ops, c.cur[i], NULL) != i) {
            rc = WEFT_ERR_NOMEM;
            goto out;
        }
    }
    for (int i = 0; i < c.n; i++)
        weft_sim_poke(c.s, i);

    /* Phase 1: the requested faults only. */
    int64_t ev = weft_sim_run_until(c.s, T * 3 / 10);
    if (ev < 0) {
        rc = (int)ev;
        goto out;
    }
    /* Phase 2: partition, one-way blocks, crashes. */
    for (int i = 0; i < c.n; i++) {
        c.group[i] = i < c.n / 2 ? 0 : 1;
        weft_sim_set_group(c.s, i, c.group[i]);
    }
    for (int i = 0; i < c.n && c.n > 2; i++) {
        if (weft_sim_random(c.s) % 8 == 0) {
            c.blocks_next[i] = 1;
            weft_sim_block(c.s, i, (i + 1) % c.n, 1);
        }
    }
    crash_us = weft_sim_now(c.s);
    for (int i = 0; i < c.n && c.n > 2; i++) {
        if (weft_sim_random(c.s) % 10 == 0) {
            weft_sim_crash(c.s, i);
            c.cur[i]->dead = 1;
            c.graveyard[c.ngrave++] = c.cur[i];
            c.cur[i] = NULL;
            crashed[ncrashed++] = i;
        }
    }
    if (o->verbose)
        fprintf(stderr, "t=%.3fs partition 2 groups, %d crashed\n",
                (double)weft_sim_now(c.s) / 1e6, ncrashed);
    /* Mid-phase: up to 3 nodes crash and restart within one latency, so
     * datagrams in flight to the old instance must be dropped. */
    ev = weft_sim_run_until(c.s, T * 45 / 100);
    if (ev < 0) {
        rc = (int)ev;
        goto out;
    }
    int quick[3], nquick = 0;
    quick_crash_us = weft_sim_now(c.s);
    for (int k = 0; k < 3 && c.n > 2; k++) {
        int i = (int)(weft_sim_random(c.s) % (uint64_t)c.n);
        if (!c.cur[i] || weft_sim_crash(c.s, i))
            continue;
        c.cur[i]->dead = 1;
        c.graveyard[c.ngrave++] = c.cur[i];
        c.cur[i] = NULL;
        quick[nquick++] = i;
    }
    ev = weft_sim_run_until(c.s, weft_sim_now(c.s) + o->latency_us / 2);
    if (ev < 0) {
        rc = (int)ev;
        goto out;
    }
    for (int k = 0; k < nquick; k++) {
        int i = quick[k];
        c.cur[i] = toy_new(&c, i, 1, weft_sim_now(c.s), quick_crash_us);
        if (!c.cur[i] || weft_sim_restart(c.s, i, &toy_ops, c.cur[i])) {
            rc = WEFT_ERR_NOMEM;
            goto out;
        }
    }
    ev = weft_sim_run_until(c.s, T * 6 / 10);
    if (ev < 0) {
        rc = (int)ev;
        goto out;
    }
    /* Phase 3: heal everything, restart the crashed as fresh instances. */
    weft_sim_heal(c.s);
    for (int i = 0; i < c.n; i++) {
        c.group[i] = 0;
        if (c.blocks_next[i]) {
            weft_sim_block(c.s, i, (i + 1) % c.n, 0);
            c.blocks_next[i] = 0;
        }
    }
    for (int k = 0; k < ncrashed; k++) {
        int i = crashed[k];
        c.cur[i] = toy_new(&c, i, 1, weft_sim_now(c.s), crash_us);
        if (!c.cur[i] || weft_sim_restart(c.s, i, &toy_ops, c.cur[i])) {
            rc = WEFT_ERR_NOMEM;
            goto out;
        }
    }
    if (o->verbose)
        fprintf(stderr, "t=%.3fs healed, %d restarted\n",
                (double)weft_sim_now(c.s) / 1e6, ncrashed);
    ev = weft_sim_run_until(c.s, T * 3 / 4);
    if (ev < 0) {
        rc = (int)ev;
        goto out;
    }
    /* Phase 4: liveness window. */
    c.window_start_us = weft_sim_now(c.s);
    ev = weft_sim_run_until(c.s, T);
    if (ev < 0) {
        rc = (int)ev;
        goto out;
    }
    uint64_t window_pings = (T - c.window_start_us) / TOY_PERIOD_US;
    int live_checked = c.n >= 2 && o->loss <= 0.5 && window_pings >= 20;
    int silent = 0;
    for (int i = 0; i < c.n; i++)
        if (c.cur[i]->pongs_window == 0)
            silent++;
    if (live_checked && silent)
        report_fail(r, "liveness: every node gets a pong after healing",
                    "%d nodes got none", silent);

    weft_sim_stats ss;
    weft_sim_get_stats(c.s, &ss);
    /* Datagrams that reached the loss stage (in-flight drops slightly bias
     * this; the bound is wide and only printed). */
    uint64_t stage = ss.sent - ss.unroutable - ss.queue_drops -
                     ss.partition_drops - ss.crashed_drops;
    double obs = stage ? (double)ss.lost / (double)stage : 0.0;
    double p = o->loss;
    double w = stage ? 6.0 * sqrt(p * (1 - p) / (double)stage) + 0.01 : 1.0;
    report_sim(r, c.s);
    report_kv(r, "sent", "%llu", (unsigned long long)ss.sent);
    report_kv(r, "delivered", "%llu", (unsigned long long)ss.delivered);
    report_kv(r, "pings", "%llu", (unsigned long long)c.pings);
    report_kv(r, "pongs", "%llu", (unsigned long long)c.pongs);
    report_kv(r, "lost", "%llu", (unsigned long long)ss.lost);
    report_kv(r, "duplicated", "%llu", (unsigned long long)ss.duplicated);
    report_kv(r, "reordered", "%llu", (unsigned long long)ss.reordered);
    report_kv(r, "partition_drops", "%llu", (unsigned long long)ss.partition_drops);
    report_kv(r, "crashed_drops", "%llu", (unsigned long long)ss.crashed_drops);
    report_kv(r, "crashed", "%d", ncrashed);
    report_kv(r, "quick_restarts", "%d", nquick);
    report_kv(r, "loss_requested", "%.4f", p);
    report_kv(r, "loss_observed", "%.4f", obs);
    report_kv(r, "loss_bound", "%.4f..%.4f", p - w < 0 ? 0 : p - w,
              p + w > 1 ? 1 : p + w);
    report_kv(r, "loss_within", "%s", fabs(obs - p) <= w ? "yes" : "no");
    report_kv(r, "liveness", "%s", live_checked ? (silent ? "fail" : "ok") : "skipped");
    rc = r->failed ? 1 : 0;
out:
    if (c.cur)
        for (int i = 0; i < c.n; i++)
            free(c.cur[i]);
    if (c.graveyard)
        for (int i = 0; i < c.ngrave; i++)
            free(c.graveyard[i]);
    free(c.cur);
    free(c.graveyard);
    free(c.group);
    free(c.blocks_next);
    free(crashed);
    if (rc && !r->failed)
        report_fail(r, "scenario ran to completion", "error %d (%s)", rc,
                    weft_strerror(rc));
    if (c.s && !r->events)
        report_sim(r, c.s);
    weft_sim_del(c.s);
    return rc;
}
