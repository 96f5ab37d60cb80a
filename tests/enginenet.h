/*
 * enginenet.h -- a tiny network of engines in one process for the engine,
 * module and allocation-failure tests: up to NET_MAX engines, a 1 ms hop,
 * a virtual clock, fault hooks (drop everything to a node, mangle a
 * packet), and the events each node saw.  The full simulator has its own
 * tests; this harness is small enough to read in one sitting.  Real crypto
 * (libsodium) throughout; randomness from a counter-like LCG, so runs are
 * reproducible.
 */
#ifndef WEFT_TESTS_ENGINENET_H
#define WEFT_TESTS_ENGINENET_H

#include <stdlib.h>
#include <string.h>

#include "weft/crypto.h"
#include "weft/weft.h"

#define NET_MAX 4
#define NET_LOG_MAX 256

typedef struct net_pkt {
    int to;
    weft_addr from;
    size_t len;
    uint8_t data[65536];
} net_pkt;

/* One outcome event (DELIVERED / SEND_FAILED) a node saw. */
typedef struct net_outcome {
    int type;
    int error;
    uint64_t msg_id;
} net_outcome;

typedef struct net {
    weft_engine *e[NET_MAX];
    weft_node_id id[NET_MAX];
    weft_addr addr[NET_MAX];
    int n;
    uint64_t now;
    net_pkt *q;
    size_t qn, qcap;
    const weft_allocator *alloc;  /* for every engine made (NULL = libc) */
    int membership;               /* attach membership in net_make_node */
    uint8_t membership_profile;   /* its profile (enum weft_profile) */
    uint16_t mtu_max;             /* when set: the engines' mtu_max */
    int no_poll[NET_MAX];         /* leave node i's events unpolled */
    /* fault hooks */
    int drop_to[NET_MAX];         /* drop everything sent to node i */
    int (*mangle)(struct net *, net_pkt *);
    /* an extra look at every event (after the bookkeeping below) */
    void (*on_event)(struct net *, int i, const weft_event *ev);
    /* what was received */
    int up[NET_MAX][NET_MAX];
    int down_reason[NET_MAX][NET_MAX];
    int hs_failed[NET_MAX];       /* HANDSHAKE_FAILED events */
    int hs_failed_error[NET_MAX];
    weft_addr hs_failed_addr[NET_MAX];
    uint64_t msgs[NET_MAX];
    uint64_t bytes[NET_MAX];
    uint8_t last_msg[NET_MAX][64];
    size_t last_len[NET_MAX];
    uint32_t last_flags[NET_MAX];
    uint16_t last_channel[NET_MAX];
    int member_ev[NET_MAX][16];   /* count per WEFT_EV_MEMBER_* type */
    char last_member_name[NET_MAX][65];
    net_outcome outcomes[NET_MAX][NET_LOG_MAX];
    size_t noutcomes[NET_MAX];
} net;

static uint64_t net_rng = 1;
static inline void net_rand(void *ctx, uint8_t *b, size_t n)
{
    (void)ctx;
    for (size_t i = 0; i < n; i++) {
        net_rng = net_rng * 6364136223846793005ULL + 1442695040888963407ULL;
        b[i] = (uint8_t)(net_rng >> 56);
    }
}

static inline int net_idx_of(net *w, const weft_addr *a)
{
    for (int i = 0; i < w->n; i++)
        if (weft_addr_eq(&w->addr[i], a))
            return i;
    return -1;
}

static inline int net_idx_of_id(net *w, const weft_node_id *id)
{
    for (int i = 0; i < w->n; i++)
        if (memcmp(w->id[i].key, id->key, 32) == 0)
            return i;
    return -1;
}

/* The engine config of node i (identity from i, network key from a
 * seed string). */
static inline void net_config(weft_config *cfg, int i, const char *netkey_seed)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft_config_default(cfg);
    uint8_t seed[32], pk[32];
    memset(seed, 0x40 + i, 32);
    c->sign_keypair_seed(c->ctx, pk, cfg->identity_secret, seed);
    weft_iov iov = {netkey_seed, strlen(netkey_seed)};
    uint8_t h[64];
    c->hash(c->ctx, h, &iov, 1);
    memcpy(cfg->network_key, h, 32);
    cfg->unreachable_ms = 3000;
    cfg->keepalive_ms = 500;
}

/* Makes node i from cfg.  Returns 0 or the engine's (or membership's)
 * error; on error w->e[i] is NULL. */
static inline int net_make_node_cfg(net *w, int i, const weft_config *cfg)
{
    weft_env env = {w->alloc, weft_crypto_sodium(), {NULL, net_rand}, NULL, NULL};
    int rc = weft_engine_new(&w->e[i], cfg, &env, w->now);
    if (rc < 0) {
        w->e[i] = NULL;
        return rc;
    }
    if (w->membership) {
        weft_membership_config mc;
        weft_membership_config_default(&mc);
        mc.profile = w->membership_profile;
        rc = weft_membership_attach(w->e[i], &mc, w->now);
        if (rc == 0)
            rc = weft_membership_set_addr(w->e[i], &w->addr[i], w->now);
        if (rc < 0) {
            weft_engine_del(w->e[i]);
            w->e[i] = NULL;
            return rc;
        }
    }
    w->id[i] = *weft_engine_id(w->e[i]);
    return 0;
}

static inline int net_make_node(net *w, int i, const char *netkey_seed)
{
    weft_config cfg;
    net_config(&cfg, i, netkey_seed);
    memset(&w->addr[i], 0, sizeof w->addr[i]);
    w->addr[i].family = 4;
    w->addr[i].ip[0] = 127;
    w->addr[i].ip[3] = (uint8_t)(i + 1);
    w->addr[i].port = 7000;
    if (w->mtu_max)
        cfg.mtu_max = w->mtu_max;
    return net_make_node_cfg(w, i, &cfg);
}

static inline void net_drain_events(net *w, int i)
{
    weft_event ev;
    if (w->no_poll[i])
        return;
    while (w->e[i] && weft_engine_poll(w->e[i], &ev)) {
        int j = net_idx_of_id(w, &ev.peer);
        switch (WEFT_EV_FAMILY(ev.type)) {
        case WEFT_EVF_MEMBER:
            w->member_ev[i][(ev.type - WEFT_EV_MEMBER_JOINED) & 15]++;
            memcpy(w->last_member_name[i], ev.u.member.name, sizeof ev.u.member.name);
            break;
        case WEFT_EVF_DELIVERY:
            if (w->noutcomes[i] < NET_LOG_MAX)
                w->outcomes[i][w->noutcomes[i]++] =
                    (net_outcome){ev.type, ev.error, ev.u.delivery.msg_id};
            break;
        default:
            break;
        }
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
        case WEFT_EV_HANDSHAKE_FAILED:
            w->hs_failed[i]++;
            w->hs_failed_error[i] = ev.error;
            w->hs_failed_addr[i] = ev.addr;
            break;
        case WEFT_EV_MESSAGE:
            w->msgs[i]++;
            w->bytes[i] += ev.u.message.len;
            w->last_len[i] = ev.u.message.len;
            w->last_flags[i] = ev.u.message.flags;
            w->last_channel[i] = ev.u.message.channel;
            memcpy(w->last_msg[i], ev.u.message.data,
                   ev.u.message.len < 64 ? ev.u.message.len : 64);
            break;
        }
        if (w->on_event)
            w->on_event(w, i, &ev);
    }
}

/* Takes every datagram node i has to send into the queue (bounded). */
static inline void net_flush_out(net *w, int i)
{
    for (int k = 0; k < 100000; k++) {
        if (w->qn == w->qcap) {
            size_t ncap = w->qcap ? w->qcap * 2 : 64;
            net_pkt *nq = realloc(w->q, ncap * sizeof *w->q);
            if (!nq)
                abort();
            w->q = nq;
            w->qcap = ncap;
        }
        net_pkt *p = &w->q[w->qn];
        weft_addr to;
        ptrdiff_t n = weft_engine_write(w->e[i], &to, p->data, sizeof p->data, w->now);
        if (n <= 0)
            break;
        p->to = net_idx_of(w, &to);
        p->from = w->addr[i];
        p->len = (size_t)n;
        if (p->to < 0 || w->drop_to[p->to])
            continue;
        if (w->mangle && !w->mangle(w, p))
            continue;
        w->qn++;
    }
}

/* Delivers queued packets (1 ms hop) and runs timers until time t. */
static inline void net_run_until(net *w, uint64_t t)
{
    for (int guard = 0; w->now < t && guard < 10000000; guard++) {
        for (int i = 0; i < w->n; i++)
            if (w->e[i])
                net_flush_out(w, i);
        size_t n = w->qn;
        if (n) {
            w->now += 1000;
            /* copy out: delivery produces new packets */
            net_pkt *batch = malloc(n * sizeof *batch);
            if (!batch)
                abort();
            memcpy(batch, w->q, n * sizeof *batch);
            w->qn = 0;
            for (size_t k = 0; k < n; k++) {
                int to = batch[k].to;
                if (!w->e[to])
                    continue;
                weft_engine_recv(w->e[to], &batch[k].from, batch[k].data, batch[k].len, w->now);
                net_drain_events(w, to);
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
                net_drain_events(w, i);
            }
        }
    }
}

static inline void net_free(net *w)
{
    for (int i = 0; i < w->n; i++)
        weft_engine_del(w->e[i]);
    free(w->q);
    memset(w, 0, sizeof *w);
}

/* n nodes (make_node with the same network key); 0 or the first error. */
static inline int net_setup(net *w, int n, int membership, const char *key)
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->now = 1000000;
    w->membership = membership;
    for (int i = 0; i < n; i++) {
        int rc = net_make_node(w, i, key);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Count of outcome events of type (and error, when err != 0) at node i
 * for message id (0 = any). */
static inline int net_outcome_count(const net *w, int i, int type, int err, uint64_t id)
{
    int c = 0;
    for (size_t k = 0; k < w->noutcomes[i]; k++) {
        const net_outcome *o = &w->outcomes[i][k];
        c += o->type == type && (!err || o->error == err) && (!id || o->msg_id == id);
    }
    return c;
}

#endif
