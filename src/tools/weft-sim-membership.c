/*
 * weft-sim-membership.c -- weft-sim scenarios for the membership protocol
 * (src/membership/, docs/MEMBERSHIP.md).
 *
 *   membership  --nodes (100) --loss --seed --seconds (120, the deadline of
 *               each phase): nodes join through five seeds, converge (every
 *               node sees every node), run steady for 10 s (bytes/s per
 *               node), then 1 % of the nodes (at least 1) crash; reports
 *               convergence time, detection time (all survivors see all
 *               crashed dead), false positives (a live node declared failed
 *               by anyone: must be 0) and traffic.  --partition T splits
 *               the nodes 50/50 for T s before the crash and reports the
 *               time to the full view after healing (heal_s).
 *   churn       --nodes (50) --seconds (60 of churn): every second one
 *               random node crashes or a crashed one restarts with its
 *               identity and a fresh state (incarnation 0: it must learn
 *               its previous one); then churn stops, crashed nodes restart,
 *               and views must converge; after that, 20 s without a single
 *               false positive.
 * Real crypto (weft_crypto_sodium()) unless --fast-crypto.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "membership/swim.h"
#include "tools/weft-sim.h"
#include "weft/crypto.h"

static int op_recv(void *n, const weft_addr *f, const uint8_t *p, size_t l, uint64_t t)
{
    return weft__swim_recv(n, f, p, l, t);
}
static ptrdiff_t op_write(void *n, weft_addr *to, uint8_t *b, size_t c, uint64_t t)
{
    return weft__swim_write(n, to, b, c, t);
}
static uint64_t op_expiry(void *n) { return weft__swim_expiry(n); }
static int op_expire(void *n, uint64_t t) { return weft__swim_handle_expiry(n, t); }
static const weft_sim_node_ops swim_ops = {op_recv, op_write, op_expiry, op_expire};

typedef struct mnode {
    weft__swim *sw;
    weft_env env;
    uint64_t rng;
    uint8_t sk[64];
    int up;
    uint32_t lives;
} mnode;

typedef struct mcluster {
    weft_sim *sim;
    mnode *n;
    int count;
    uint64_t seed;
    const weft_crypto *cr;
    weft__swim_config cfg;
    int check_fp;
    uint64_t false_positives;
    int fp_first_at, fp_first_who;
    uint32_t fp_inc_declared, fp_inc_own; /* did the victim refute? */
    double fp_at_s;
} mcluster;

static void split_fill(void *ctx, uint8_t *buf, size_t len)
{
    uint64_t *st = ctx;
    for (size_t i = 0; i < len; i += 8) {
        uint64_t z = (*st += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        for (size_t k = 0; k < 8 && i + k < len; k++)
            buf[i + k] = (uint8_t)(z >> (8 * k));
    }
}

static const uint8_t NETKEY[32] = "weft-sim membership network key";

static weft__swim *mk_node(mcluster *c, int i, const weft_addr *addr, uint64_t now)
{
    mnode *n = &c->n[i];
    n->rng = c->seed * 1000003 + (uint64_t)i * 7919 + n->lives * 104729;
    n->env.alloc = NULL;
    n->env.crypto = c->cr;
    n->env.rand.ctx = &n->rng;
    n->env.rand.fill = split_fill;
    weft__swim *sw = NULL;
    if (weft__swim_new(&sw, &c->cfg, &n->env, n->sk, NETKEY, addr, now) < 0)
        return NULL;
    return sw;
}

static int mc_init(mcluster *c, const simopt *o, int count)
{
    memset(c, 0, sizeof *c);
    c->count = count;
    c->seed = o->seed;
    c->cr = o->fast_crypto ? weft_sim_fast_crypto() : weft_crypto_sodium();
    weft__swim_config_lan(&c->cfg);
    weft_sim_link l;
    opt_link(o, &l);
    if (weft_sim_new(&c->sim, o->seed, &l) < 0)
        return -1;
    c->n = calloc((size_t)count, sizeof *c->n);
    if (!c->n)
        return -1;
    for (int i = 0; i < count; i++) {
        uint8_t s32[32] = {0}, pk[32];
        for (int k = 0; k < 8; k++)
            s32[k] = (uint8_t)(o->seed >> (8 * k));
        s32[8] = (uint8_t)i;
        s32[9] = (uint8_t)(i >> 8);
        s32[10] = (uint8_t)(i >> 16);
        c->cr->sign_keypair_seed(c->cr->ctx, pk, c->n[i].sk, s32);
        c->n[i].sw = mk_node(c, i, NULL, 0);
        weft_addr a;
        if (!c->n[i].sw || weft_sim_add_node(c->sim, &swim_ops, c->n[i].sw, &a) != i)
            return -1;
        weft__swim_set_addr(c->n[i].sw, &a, 0);
        c->n[i].up = 1;
    }
    return 0;
}

static void mc_free(mcluster *c)
{
    for (int i = 0; i < c->count; i++)
        weft__swim_del(c->n[i].sw);
    weft_sim_del(c->sim);
    free(c->n);
}

static void mc_poll(mcluster *c)
{
    weft__swim_event ev;
    for (int i = 0; i < c->count; i++) {
        if (!c->n[i].up)
            continue;
        while (weft__swim_poll(c->n[i].sw, &ev)) {
            if (ev.type != WEFT__SWIM_EV_FAILED || !c->check_fp)
                continue;
            int who = weft_sim_find(c->sim, &ev.addr);
            if (who >= 0 && c->n[who].up) {
                if (!c->false_positives++) {
                    weft__swim_member_info mi;
                    c->fp_first_at = i;
                    c->fp_first_who = who;
                    c->fp_inc_declared = ev.incarnation;
                    weft__swim_member_at(c->n[who].sw, 0, &mi);
                    c->fp_inc_own = mi.incarnation;
                    c->fp_at_s = weft_sim_now(c->sim) / 1e6;
                }
            }
        }
    }
}

static int mc_all_see_all(mcluster *c)
{
    int up = 0;
    for (int i = 0; i < c->count; i++)
        up += c->n[i].up;
    for (int i = 0; i < c->count; i++) {
        if (!c->n[i].up)
            continue;
        weft__swim_counts k;
        weft__swim_counts_get(c->n[i].sw, &k);
        if ((int)(k.alive + k.suspect) != up)
            return 0;
    }
    return 1;
}

static int mc_all_see_dead(mcluster *c)
{
    for (int i = 0; i < c->count; i++) {
        if (!c->n[i].up)
            continue;
        for (int j = 0; j < c->count; j++) {
            weft__swim_member_info mi;
            if (!c->n[j].up &&
                weft__swim_member_find(c->n[i].sw, weft__swim_id(c->n[j].sw), &mi) == 0 &&
                mi.state != WEFT__SWIM_DEAD)
                return 0;
        }
    }
    return 1;
}

static uint64_t mc_wait(mcluster *c, int (*cond)(mcluster *), uint64_t max_us, uint64_t step_us)
{
    uint64_t t0 = weft_sim_now(c->sim);
    for (uint64_t t = t0; t <= t0 + max_us; t += step_us) {
        if (weft_sim_run_until(c->sim, t) < 0)
            return UINT64_MAX;
        mc_poll(c);
        if (cond(c))
            return weft_sim_now(c->sim) - t0;
    }
    return UINT64_MAX;
}

static uint64_t mc_bytes_out(mcluster *c, uint64_t *pp, uint64_t *gossip, uint64_t *piggy)
{
    uint64_t b = 0;
    *pp = *gossip = *piggy = 0;
    for (int i = 0; i < c->count; i++) {
        weft__swim_stats st;
        weft__swim_stats_get(c->n[i].sw, &st);
        b += st.bytes_out;
        *pp += st.bytes_pushpull;
        *gossip += st.bytes_gossip;
        *piggy += st.bytes_piggyback;
    }
    return b;
}

static void mc_join_all(mcluster *c, uint64_t gap_us)
{
    int seeds = c->count < 5 ? 1 : 5;
    for (int i = 1; i < c->count; i++) {
        weft_sim_run_until(c->sim, weft_sim_now(c->sim) + gap_us);
        int via = (int)(weft_sim_random(c->sim) % (uint64_t)(i < seeds ? i : seeds));
        weft__swim_join(c->n[i].sw, weft_sim_addr(c->sim, via), weft_sim_now(c->sim));
        weft_sim_poke(c->sim, i);
        if (i % 64 == 0)
            mc_poll(c);
    }
}

int scenario_membership(const simopt *o, simreport *r)
{
    mcluster c;
    int nodes = o->given & OPT_NODES ? o->nodes : 100;
    uint64_t deadline = (uint64_t)((o->given & OPT_SECONDS ? o->seconds : 120.0) * 1e6);
    if (nodes < 2 || mc_init(&c, o, nodes) < 0) {
        report_fail(r, "setup", "cannot build %d nodes", nodes);
        return 1;
    }
    c.check_fp = 1;
    mc_join_all(&c, 10000);
    uint64_t conv = mc_wait(&c, mc_all_see_all, deadline, 100000);
    if (conv == UINT64_MAX)
        report_fail(r, "every node sees every node after the joins", "not within %.0f s",
                    deadline / 1e6);
    /* let the join wave drain (every join is an update sent
     * retransmit_mult * log10(N) times by every node), then measure */
    weft_sim_run_until(c.sim, weft_sim_now(c.sim) + 30000000);
    mc_poll(&c);
    uint64_t p0, g0, y0, p1, g1, y1;
    uint64_t b0 = mc_bytes_out(&c, &p0, &g0, &y0), t0 = weft_sim_now(c.sim);
    weft_sim_run_until(c.sim, t0 + 10000000);
    mc_poll(&c);
    double bps = (double)(mc_bytes_out(&c, &p1, &g1, &y1) - b0) / 10.0 / nodes;
    double pps = (double)(p1 - p0) / 10.0 / nodes, gps = (double)(g1 - g0) / 10.0 / nodes,
           yps = (double)(y1 - y0) / 10.0 / nodes;
    /* --partition T: split 50/50 for T s; each side gives up on the other
     * (no false positive is counted meanwhile: both sides are right); after
     * healing the full view must come back, with no false positive */
    uint64_t heal = 0;
    if (o->given & OPT_PARTITION) {
        c.check_fp = 0;
        for (int i = nodes / 2; i < nodes; i++)
            weft_sim_set_group(c.sim, i, 1);
        weft_sim_run_until(c.sim, weft_sim_now(c.sim) + (uint64_t)(o->partition_s * 1e6));
        mc_poll(&c);
        weft_sim_heal(c.sim);
        c.check_fp = 1;
        heal = mc_wait(&c, mc_all_see_all, deadline, 100000);
        if (heal == UINT64_MAX)
            report_fail(r, "the full view comes back after the partition heals",
                        "not within %.0f s", deadline / 1e6);
    }
    int kill = nodes / 100 ? nodes / 100 : 1;
    for (int k = 0; k < kill;) {
        int v = (int)(weft_sim_random(c.sim) % (uint64_t)nodes);
        if (c.n[v].up) {
            weft_sim_crash(c.sim, v);
            c.n[v].up = 0;
            k++;
        }
    }
    uint64_t det = mc_wait(&c, mc_all_see_dead, deadline, 100000);
    if (det == UINT64_MAX)
        report_fail(r, "every survivor marks every crashed node failed", "not within %.0f s",
                    deadline / 1e6);
    weft_sim_run_until(c.sim, weft_sim_now(c.sim) + 5000000);
    mc_poll(&c);
    if (c.false_positives)
        report_fail(r, "no live node is ever declared failed",
                    "%llu false positives, first: node %d declared %d at %.1f s "
                    "(incarnation %u; its own now %u)",
                    (unsigned long long)c.false_positives, c.fp_first_at, c.fp_first_who,
                    c.fp_at_s, c.fp_inc_declared, c.fp_inc_own);
    report_sim(r, c.sim);
    report_kv(r, "converge_s", "%.2f", conv == UINT64_MAX ? -1.0 : conv / 1e6);
    if (o->given & OPT_PARTITION)
        report_kv(r, "heal_s", "%.2f", heal == UINT64_MAX ? -1.0 : heal / 1e6);
    report_kv(r, "crashed", "%d", kill);
    report_kv(r, "detect_s", "%.2f", det == UINT64_MAX ? -1.0 : det / 1e6);
    report_kv(r, "false_positives", "%llu", (unsigned long long)c.false_positives);
    report_kv(r, "bytes_per_s_per_node", "%.0f", bps);
    report_kv(r, "of_which_pushpull", "%.0f", pps);
    report_kv(r, "of_which_gossip", "%.0f", gps);
    report_kv(r, "of_which_piggyback", "%.0f", yps);
    report_kv(r, "member_bytes", "%zu", weft__swim_member_sizeof());
    uint64_t bdrops = 0, odrops = 0;
    for (int i = 0; i < nodes; i++) {
        weft__swim_stats st;
        weft__swim_stats_get(c.n[i].sw, &st);
        bdrops += st.broadcast_drops;
        odrops += st.out_drops;
    }
    report_kv(r, "broadcast_drops", "%llu", (unsigned long long)bdrops);
    report_kv(r, "out_drops", "%llu", (unsigned long long)odrops);
    mc_free(&c);
    return r->failed != NULL;
}

int scenario_churn(const simopt *o, simreport *r)
{
    mcluster c;
    int nodes = o->given & OPT_NODES ? o->nodes : 50;
    uint64_t churn_us = (uint64_t)((o->given & OPT_SECONDS ? o->seconds : 60.0) * 1e6);
    if (nodes < 4 || mc_init(&c, o, nodes) < 0) {
        report_fail(r, "setup", "cannot build %d nodes", nodes);
        return 1;
    }
    mc_join_all(&c, 10000);
    if (mc_wait(&c, mc_all_see_all, 120000000, 100000) == UINT64_MAX)
        report_fail(r, "every node sees every node after the joins", "no");
    /* churn: one action per second; at most a quarter of the nodes down */
    uint64_t end = weft_sim_now(c.sim) + churn_us;
    int crashes = 0, restarts = 0, down = 0;
    while (weft_sim_now(c.sim) < end) {
        weft_sim_run_until(c.sim, weft_sim_now(c.sim) + 1000000);
        mc_poll(&c);
        int v = 1 + (int)(weft_sim_random(c.sim) % (uint64_t)(nodes - 1));
        if (c.n[v].up && down < nodes / 4) {
            weft_sim_crash(c.sim, v);
            c.n[v].up = 0;
            down++;
            crashes++;
        } else if (!c.n[v].up) {
            weft__swim_del(c.n[v].sw);
            c.n[v].lives++;
            c.n[v].sw = mk_node(&c, v, weft_sim_addr(c.sim, v), weft_sim_now(c.sim));
            if (!c.n[v].sw) {
                report_fail(r, "setup", "restart failed");
                break;
            }
            weft_sim_restart(c.sim, v, &swim_ops, c.n[v].sw);
            c.n[v].up = 1;
            down--;
            restarts++;
            weft__swim_join(c.n[v].sw, weft_sim_addr(c.sim, 0), weft_sim_now(c.sim));
            weft_sim_poke(c.sim, v);
        }
    }
    /* stop churning: bring everyone back */
    for (int v = 0; v < nodes; v++) {
        if (c.n[v].up)
            continue;
        weft__swim_del(c.n[v].sw);
        c.n[v].lives++;
        c.n[v].sw = mk_node(&c, v, weft_sim_addr(c.sim, v), weft_sim_now(c.sim));
        weft_sim_restart(c.sim, v, &swim_ops, c.n[v].sw);
        c.n[v].up = 1;
        restarts++;
        weft__swim_join(c.n[v].sw, weft_sim_addr(c.sim, 0), weft_sim_now(c.sim));
        weft_sim_poke(c.sim, v);
    }
    uint64_t conv = mc_wait(&c, mc_all_see_all, 120000000, 100000);
    if (conv == UINT64_MAX)
        report_fail(r, "views converge after churn stops", "not within 120 s");
    /* stabilised: from now on nobody may be declared failed */
    mc_poll(&c);
    c.check_fp = 1;
    weft_sim_run_until(c.sim, weft_sim_now(c.sim) + 20000000);
    mc_poll(&c);
    if (c.false_positives)
        report_fail(r, "no false positives among live nodes after stabilisation",
                    "%llu, first: node %d declared %d", (unsigned long long)c.false_positives,
                    c.fp_first_at, c.fp_first_who);
    if (!mc_all_see_all(&c))
        report_fail(r, "views stay converged", "no");
    report_sim(r, c.sim);
    report_kv(r, "crashes", "%d", crashes);
    report_kv(r, "restarts", "%d", restarts);
    report_kv(r, "converge_after_churn_s", "%.2f", conv == UINT64_MAX ? -1.0 : conv / 1e6);
    report_kv(r, "false_positives", "%llu", (unsigned long long)c.false_positives);
    mc_free(&c);
    return r->failed != NULL;
}
