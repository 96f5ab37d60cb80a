/*
 * weft-sim-store.c -- the weft-sim scenario for the replicated store
 * (src/kv/, docs/ARCHITECTURE.md §Replicated store).
 *
 *   store  --nodes (20) --loss --seed --seconds (30 of chaos) --messages
 *          (writes, default 600): engines with membership and the store,
 *          each on a real SQLite file in a temporary directory the scenario
 *          creates and removes.  Safety phase: random puts and deletes from
 *          every node (contested keys, node-state namespaces), random
 *          partitions into two groups, crashes (engine and database closed
 *          at once, as a kill would) and restarts from the file.  Liveness
 *          phase: partitions healed, crashed nodes restarted, writes
 *          stopped; every node must then hold identical state (same digest)
 *          equal key by key to a reference model of last-writer-wins over
 *          every write a node acknowledged -- none may be lost.
 * Reports convergence time after healing and the store's traffic.
 * Real crypto (weft_crypto_sodium()) unless --fast-crypto.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/weft-sim.h"
#include "weft/crypto.h"
#include "weft/kv.h"
#include "weft/membership.h"
#include "weft/store.h"

#define KEYS 64                 /* shared keys (contested) */
#define WALL0 1700000000000ULL
#define LIVENESS_US 120000000ULL

typedef struct snode {
    struct scen *c;
    int idx, up;
    weft_engine *e;
    weft_store *st;
    weft_env env;
    uint8_t secret[64];
    weft_node_id id;
    int64_t skew_ms;
    uint32_t lives;
    uint64_t rng;               /* splitmix64 state of env.rand */
} snode;

/* One key of the model: the greatest acknowledged version. */
typedef struct mkey {
    char ns[WEFT_KV_NODE_NS_LEN + 1];
    char key[16];
    uint64_t hlc;
    weft_node_id writer;
    int deleted;
    char value[48];
    int used;
} mkey;

typedef struct scen {
    const simopt *o;
    simreport *r;
    weft_sim *s;
    const weft_crypto *cr;
    snode *n;
    int count;
    char dir[64];
    uint8_t netkey[32];
    mkey *model;
    size_t nmodel, capmodel;
    uint64_t acked, refused;
} scen;

static uint64_t wall(void *ctx)
{
    snode *n = ctx;
    return (uint64_t)((int64_t)(WALL0 + weft_sim_now(n->c->s) / 1000) + n->skew_ms);
}

static void drain(snode *n)
{
    weft_event ev;
    for (int k = 0; k < 100000 && n->e && weft_engine_poll(n->e, &ev); k++)
        ;
}

static int op_recv(void *p, const weft_addr *f, const uint8_t *b, size_t l, uint64_t t)
{
    snode *n = p;
    int rc = weft_engine_recv(n->e, f, b, l, t);
    drain(n);
    return rc;
}
static ptrdiff_t op_write(void *p, weft_addr *to, uint8_t *b, size_t c, uint64_t t)
{
    return weft_engine_write(((snode *)p)->e, to, b, c, t);
}
static uint64_t op_expiry(void *p) { return weft_engine_expiry(((snode *)p)->e); }
static int op_expire(void *p, uint64_t t)
{
    snode *n = p;
    int rc = weft_engine_handle_expiry(n->e, t);
    drain(n);
    return rc;
}
static const weft_sim_node_ops node_ops = {op_recv, op_write, op_expiry, op_expire};

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

static double unif(scen *c) { return (double)(weft_sim_random(c->s) >> 11) / 9007199254740992.0; }

/* Brings node i up: database, engine, membership, store (same identity). */
static int boot(scen *c, int i, const weft_addr *seed)
{
    snode *n = &c->n[i];
    uint64_t now = weft_sim_now(c->s);
    char path[128], err[WEFT_STORE_ERRMSG_MAX];
    weft_config cfg;
    weft_config_default(&cfg);
    memcpy(cfg.identity_secret, n->secret, 64);
    memcpy(cfg.network_key, c->netkey, 32);
    cfg.unreachable_ms = 3000;
    int rc = weft_engine_new(&n->e, &cfg, &n->env, now);
    if (rc < 0)
        return rc;
    n->id = *weft_engine_id(n->e);
    uint8_t fp[32];
    weft_kv_mesh_fingerprint(n->e, fp);
    snprintf(path, sizeof path, "%s/node%d.db", c->dir, i);
    rc = weft_store_sqlite_open(&n->st, path, fp, WEFT_STORE_SYNC_OFF, err, sizeof err);
    if (rc < 0) {
        report_fail(c->r, "the store's database opens", "node %d: %s", i, err);
        return rc;
    }
    weft_membership_config mc;
    weft_membership_config_default(&mc);
    mc.incarnation_start = (uint32_t)(now / 1000000) + n->lives;
    rc = weft_membership_attach(n->e, &mc, now);
    if (rc == 0)
        rc = weft_membership_set_addr(n->e, weft_sim_addr(c->s, i), now);
    weft_kv_config kc;
    weft_kv_config_default(&kc);
    kc.store = n->st;
    kc.wall_ms = wall;
    kc.wall_ctx = n;
    if (rc == 0)
        rc = weft_kv_attach(n->e, &kc, now);
    if (rc == 0 && seed)
        rc = weft_membership_join(n->e, seed, now);
    drain(n);
    n->up = 1;
    return rc;
}

static void crash(scen *c, int i)
{
    snode *n = &c->n[i];
    weft_sim_crash(c->s, i);
    weft_engine_del(n->e);
    n->e = NULL;
    weft_store_sqlite_close(n->st); /* nothing is flushed that was not committed */
    n->st = NULL;
    n->up = 0;
    n->lives++;
}

static int restart(scen *c, int i)
{
    int seed = i;
    for (int k = 0; k < 1000 && (seed == i || !c->n[seed].up); k++)
        seed = (int)(weft_sim_random(c->s) % (uint64_t)c->count);
    int rc = boot(c, i, weft_sim_addr(c->s, seed));
    if (rc < 0)
        return rc;
    rc = weft_sim_restart(c->s, i, &node_ops, &c->n[i]);
    weft_sim_poke(c->s, i);
    return rc;
}

static mkey *model_slot(scen *c, const char *ns, const char *key)
{
    for (size_t i = 0; i < c->nmodel; i++)
        if (!strcmp(c->model[i].ns, ns) && !strcmp(c->model[i].key, key))
            return &c->model[i];
    if (c->nmodel == c->capmodel) {
        size_t cap = c->capmodel ? c->capmodel * 2 : 256;
        mkey *m = realloc(c->model, cap * sizeof *m);
        if (!m)
            return NULL;
        c->model = m;
        c->capmodel = cap;
    }
    mkey *m = &c->model[c->nmodel++];
    memset(m, 0, sizeof *m);
    snprintf(m->ns, sizeof m->ns, "%s", ns);
    snprintf(m->key, sizeof m->key, "%s", key);
    return m;
}

/* One random write from an up node, recorded in the model when acked. */
static void write_one(scen *c, uint64_t seq)
{
    int i = (int)(weft_sim_random(c->s) % (uint64_t)c->count);
    snode *n = &c->n[i];
    if (!n->up)
        return;
    char ns[WEFT_KV_NODE_NS_LEN + 1], key[16], val[48];
    int own = unif(c) < 0.2;
    if (own) {
        weft_kv_node_ns(&n->id, ns);
        ns[WEFT_KV_NODE_NS_LEN] = 0;
        snprintf(key, sizeof key, "st%d", (int)(weft_sim_random(c->s) % 4));
    } else {
        snprintf(ns, sizeof ns, "shared");
        snprintf(key, sizeof key, "k%02d", (int)(weft_sim_random(c->s) % KEYS));
    }
    int del = unif(c) < 0.2;
    snprintf(val, sizeof val, "v%llu-n%d", (unsigned long long)seq, i);
    uint64_t now = weft_sim_now(c->s);
    int rc = del ? weft_kv_delete(n->e, ns, strlen(ns), key, strlen(key), now)
                 : weft_kv_put(n->e, ns, strlen(ns), key, strlen(key), val, strlen(val), 0, now);
    weft_sim_poke(c->s, i);
    drain(n);
    if (rc < 0) {
        c->refused++;
        return;
    }
    c->acked++;
    weft_kv_stats st;
    weft_kv_stats_get(n->e, &st); /* st.hlc: the stamp of this write */
    mkey *m = model_slot(c, ns, key);
    if (!m)
        return;
    int newer = !m->used || st.hlc > m->hlc ||
                (st.hlc == m->hlc && memcmp(n->id.key, m->writer.key, 32) > 0);
    if (newer) {
        m->used = 1;
        m->hlc = st.hlc;
        m->writer = n->id;
        m->deleted = del;
        snprintf(m->value, sizeof m->value, "%s", val);
    }
}

static int converged(scen *c)
{
    uint8_t d0[16], d[16];
    uint64_t n0, n;
    if (weft_kv_digest(c->n[0].e, d0, &n0) < 0 || n0 != c->nmodel)
        return 0;
    for (int i = 1; i < c->count; i++)
        if (weft_kv_digest(c->n[i].e, d, &n) < 0 || n != n0 || memcmp(d, d0, 16))
            return 0;
    return 1;
}

/* Every node, every key of the model: the same winner. */
static void check_model(scen *c)
{
    for (int i = 0; i < c->count && !c->r->failed; i++) {
        for (size_t k = 0; k < c->nmodel; k++) {
            const mkey *m = &c->model[k];
            weft_kv_item it;
            int rc = weft_kv_get(c->n[i].e, m->ns, strlen(m->ns), m->key, strlen(m->key), &it);
            if (m->deleted) {
                if (rc != WEFT_ERR_NOT_FOUND)
                    report_fail(c->r, "a deleted key stays deleted on every node",
                                "node %d key %s/%s", i, m->ns, m->key);
            } else if (rc != 0 || it.hlc != m->hlc || it.value_len != strlen(m->value) ||
                       memcmp(it.value, m->value, it.value_len) ||
                       memcmp(it.writer.key, m->writer.key, 32)) {
                report_fail(c->r, "every acknowledged write's winner is on every node",
                            "node %d key %s/%s: rc %d", i, m->ns, m->key, rc);
            }
        }
    }
}

int scenario_store(const simopt *o, simreport *r)
{
    scen c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.r = r;
    c.count = o->given & OPT_NODES ? o->nodes : 20;
    c.cr = o->fast_crypto ? weft_sim_fast_crypto() : weft_crypto_sodium();
    double chaos_s = o->given & OPT_SECONDS ? o->seconds : 30;
    uint64_t writes = o->given & OPT_MESSAGES ? o->messages : 600;
    memset(c.netkey, 0x5a, 32);
    snprintf(c.dir, sizeof c.dir, "/tmp/weft-sim-store-XXXXXX");
    if (!mkdtemp(c.dir)) {
        report_fail(r, "a temporary directory", "mkdtemp failed");
        return 1;
    }
    weft_sim_link l;
    opt_link(o, &l);
    int rc = weft_sim_new(&c.s, o->seed, &l);
    c.n = calloc((size_t)c.count, sizeof *c.n);
    if (rc < 0 || !c.n) {
        report_fail(r, "setup", "out of memory");
        goto out;
    }
    for (int i = 0; i < c.count && !r->failed; i++) {
        snode *n = &c.n[i];
        n->c = &c;
        n->idx = i;
        n->env.crypto = c.cr;
        n->rng = o->seed * 1000003 + (uint64_t)i * 7919;
        n->env.rand.ctx = &n->rng;
        n->env.rand.fill = split_fill;
        uint8_t seed[32], pk[32];
        n->env.rand.fill(n->env.rand.ctx, seed, sizeof seed);
        c.cr->sign_keypair_seed(c.cr->ctx, pk, n->secret, seed);
        n->skew_ms = (int64_t)(weft_sim_random(c.s) % 401) - 200; /* +-200 ms */
        /* added first (nothing runs until the next poke), then booted with
         * the address the simulator gave it */
        const weft_addr *seed_addr =
            i ? weft_sim_addr(c.s, (int)(weft_sim_random(c.s) % (uint64_t)i)) : NULL;
        if (weft_sim_add_node(c.s, &node_ops, n, NULL) != i || boot(&c, i, seed_addr) < 0) {
            report_fail(r, "setup", "boot node %d", i);
            goto out;
        }
        weft_sim_poke(c.s, i);
    }
    weft_sim_run_until(c.s, 5000000);

    /* safety phase: writes, partitions, crashes */
    uint64_t t0 = weft_sim_now(c.s), chaos_us = (uint64_t)(chaos_s * 1e6);
    uint64_t step = writes ? chaos_us / writes : chaos_us;
    uint64_t next_fault = t0 + 2000000, heal_at = 0, seq = 0;
    int restart_at_count = 0;
    uint64_t restart_at[64];
    int restart_who[64];
    while (weft_sim_now(c.s) < t0 + chaos_us && !r->failed) {
        uint64_t now = weft_sim_now(c.s);
        if (seq < writes)
            write_one(&c, seq++);
        if (heal_at && now >= heal_at) {
            weft_sim_heal(c.s);
            heal_at = 0;
        }
        for (int k = 0; k < restart_at_count; k++)
            if (now >= restart_at[k]) {
                if (restart(&c, restart_who[k]) < 0)
                    report_fail(r, "a crashed node restarts", "node %d", restart_who[k]);
                restart_at[k] = restart_at[--restart_at_count];
                restart_who[k] = restart_who[restart_at_count];
                k--;
            }
        if (now >= next_fault) {
            if (unif(&c) < 0.5 && !heal_at) {
                /* a partition into two random groups for 2..8 s */
                for (int i = 0; i < c.count; i++)
                    weft_sim_set_group(c.s, i, (int)(weft_sim_random(c.s) & 1));
                heal_at = now + 2000000 + weft_sim_random(c.s) % 6000000;
            } else if (restart_at_count < 64) {
                int i = (int)(weft_sim_random(c.s) % (uint64_t)c.count);
                if (c.n[i].up) {
                    crash(&c, i);
                    restart_at[restart_at_count] = now + 1000000 + weft_sim_random(c.s) % 4000000;
                    restart_who[restart_at_count++] = i;
                }
            }
            next_fault = now + 1000000 + weft_sim_random(c.s) % 3000000;
        }
        int64_t ev = weft_sim_run_until(c.s, now + (step ? step : 1000));
        if (ev < 0) {
            report_fail(r, "no fatal engine error", "%lld", (long long)ev);
            break;
        }
    }
    /* liveness phase: heal everything, restart the crashed, no writes */
    weft_sim_heal(c.s);
    for (int k = 0; k < restart_at_count && !r->failed; k++)
        if (restart(&c, restart_who[k]) < 0)
            report_fail(r, "a crashed node restarts", "node %d", restart_who[k]);
    uint64_t healed = weft_sim_now(c.s), conv = 0;
    while (!r->failed && weft_sim_now(c.s) < healed + LIVENESS_US) {
        weft_sim_run_until(c.s, weft_sim_now(c.s) + 100000);
        if (converged(&c)) {
            conv = weft_sim_now(c.s);
            break;
        }
    }
    if (!r->failed && !conv)
        report_fail(r, "all nodes converge after healing", "not within %llu s",
                    (unsigned long long)(LIVENESS_US / 1000000));
    if (!r->failed)
        check_model(&c);
    uint64_t sync_bytes = 0, push_bytes = 0;
    for (int i = 0; i < c.count; i++) {
        weft_kv_stats st;
        if (c.n[i].e && weft_kv_stats_get(c.n[i].e, &st) == 0) {
            sync_bytes += st.sync_bytes_out;
            push_bytes += st.push_bytes_out;
        }
    }
    report_kv(r, "writes_acked", "%llu", (unsigned long long)c.acked);
    report_kv(r, "keys", "%zu", c.nmodel);
    report_kv(r, "converged_after_heal_s", "%.2f", conv ? (double)(conv - healed) / 1e6 : -1.0);
    report_kv(r, "sync_bytes", "%llu", (unsigned long long)sync_bytes);
    report_kv(r, "push_bytes", "%llu", (unsigned long long)push_bytes);
    report_sim(r, c.s);
out:
    for (int i = 0; c.n && i < c.count; i++) {
        weft_engine_del(c.n[i].e);
        weft_store_sqlite_close(c.n[i].st);
    }
    weft_sim_del(c.s);
    free(c.n);
    free(c.model);
    char path[160];
    for (int i = 0; i < c.count; i++)
        for (int k = 0; k < 3; k++) {
            static const char *const sfx[] = {"", "-wal", "-shm"};
            snprintf(path, sizeof path, "%s/node%d.db%s", c.dir, i, sfx[k]);
            unlink(path);
        }
    if (rmdir(c.dir) != 0)
        fprintf(stderr, "weft-sim store: could not remove %s\n", c.dir);
    return r->failed ? 1 : 0;
}
