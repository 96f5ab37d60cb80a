/*
 * peers.c -- the engine's peers and their schedule: the peer table and its
 * indices, the timer heap (by each peer's earliest deadline), the send
 * ring (peers that may have output), the one-shot datagram queue, and the
 * peer-state helpers the rest of the kernel shares.  Above events.c, below
 * host.c, handshake.c and engine.c: nothing here calls up
 * (tests/check_layers.py).
 */
#include <string.h>

#include "core/engine_internal.h"
#include "base/util.h"

uint64_t weft__id_key(const weft_node_id *id)
{
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | id->key[i];
    return k;
}

void weft__keys_wipe(weft__engine *e, weft__keys *k)
{
    e->c->wipe(e->c->ctx, k, sizeof *k);
}

void weft__hs_clear(weft__engine *e, weft__peer *p)
{
    weft__hs *h = &p->hs;
    if (h->noise) {
        weft__noise_wipe(h->noise);
        weft__free(e->a, h->noise);
        h->noise = NULL;
    }
    weft__free(e->a, h->pkt);
    h->pkt = NULL;
    h->pkt_len = 0;
    h->pkt_due = 0;
}

uint64_t weft__hs_deadline(const weft__engine *e, const weft__peer *p)
{
    uint64_t t = UINT64_MAX;
    if (p->hs.state == HS_INIT_SENT || p->hs.state == HS_RESP_SENT || p->hs.fin_unconfirmed)
        t = p->hs.retry_us;
    if (p->established && p->cur.valid && p->hs.state == HS_DONE && p->hs.initiator) {
        uint64_t rk = p->cur.established_us + (uint64_t)e->cfg.rekey_after_ms * 1000;
        if (rk < t)
            t = rk;
    }
    if (p->established && p->prev.valid && p->prev_expire_us < t)
        t = p->prev_expire_us;
    return t;
}

/* ------------------------------------------------------------------------ */
/* Timer heap and send ring                                                  */

static int heap_less(const weft__engine *e, size_t a, size_t b)
{
    return e->heap[a]->deadline_us < e->heap[b]->deadline_us;
}

static void heap_swap(weft__engine *e, size_t a, size_t b)
{
    weft__peer *t = e->heap[a];
    e->heap[a] = e->heap[b];
    e->heap[b] = t;
    e->heap[a]->heap_idx = a;
    e->heap[b]->heap_idx = b;
}

static void heap_fix(weft__engine *e, size_t i)
{
    while (i > 0 && heap_less(e, i, (i - 1) / 2)) {
        heap_swap(e, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < e->heap_n && heap_less(e, l, m))
            m = l;
        if (r < e->heap_n && heap_less(e, r, m))
            m = r;
        if (m == i)
            break;
        heap_swap(e, i, m);
        i = m;
    }
}

void weft__heap_push(weft__engine *e, weft__peer *p)
{
    p->heap_idx = e->heap_n;
    e->heap[e->heap_n++] = p;
    heap_fix(e, p->heap_idx);
}

void weft__heap_remove(weft__engine *e, weft__peer *p)
{
    size_t i = p->heap_idx;
    if (i >= e->heap_n || e->heap[i] != p)
        return;
    e->heap_n--;
    if (i != e->heap_n) {
        e->heap[i] = e->heap[e->heap_n];
        e->heap[i]->heap_idx = i;
        heap_fix(e, i);
    }
    p->heap_idx = SIZE_MAX;
}

static uint64_t peer_deadline(const weft__engine *e, const weft__peer *p)
{
    uint64_t t = weft__hs_deadline(e, p);
    if (p->established) {
        uint64_t c = weft__conn_deadline(&p->conn, e->now_us);
        if (c < t)
            t = c;
        uint64_t idle = p->conn.last_app_us + (uint64_t)e->cfg.idle_timeout_ms * 1000;
        if (idle < t)
            t = idle;
    }
    return t;
}

void weft__peer_wants_send(weft__engine *e, weft__peer *p)
{
    if (p->in_send_ring)
        return;
    if (e->ring_n == e->ring_cap) {
        size_t ncap = e->ring_cap ? e->ring_cap * 2 : 16;
        weft__peer **n = weft__alloc(e->a, ncap * sizeof *n);
        if (!n)
            return; /* the peer's timer brings it back */
        for (size_t i = 0; i < e->ring_n; i++)
            n[i] = e->ring[(e->ring_head + i) & (e->ring_cap - 1)];
        weft__free(e->a, e->ring);
        e->ring = n;
        e->ring_head = 0;
        e->ring_cap = ncap;
    }
    e->ring[(e->ring_head + e->ring_n) & (e->ring_cap - 1)] = p;
    e->ring_n++;
    p->in_send_ring = 1;
}

void weft__peer_touch(weft__engine *e, weft__peer *p)
{
    p->deadline_us = peer_deadline(e, p);
    if (p->heap_idx < e->heap_n && e->heap[p->heap_idx] == p)
        heap_fix(e, p->heap_idx);
    if (p->hs.pkt_due || (p->established && weft__conn_has_output(&p->conn, e->now_us)))
        weft__peer_wants_send(e, p);
}

/* ------------------------------------------------------------------------ */
/* Peers                                                                     */

weft__peer *weft__peer_new(weft__engine *e, const weft_addr *addr)
{
    if (e->npeers >= (size_t)e->cfg.max_sessions + e->cfg.half_open_max)
        return NULL;
    if (e->npeers == e->peers_cap) {
        size_t ncap = e->peers_cap ? e->peers_cap * 2 : 16;
        weft__peer **np = weft__realloc(e->a, e->peers, ncap * sizeof *np);
        if (!np)
            return NULL;
        e->peers = np;
        weft__peer **nh = weft__realloc(e->a, e->heap, ncap * sizeof *nh);
        if (!nh)
            return NULL;
        e->heap = nh;
        weft__peer **nd = weft__realloc(e->a, e->due, ncap * sizeof *nd);
        if (!nd)
            return NULL;
        e->due = nd;
        e->peers_cap = e->heap_cap = ncap;
    }
    weft__peer *p = weft__calloc(e->a, sizeof *p);
    if (!p)
        return NULL;
    p->addr = *addr;
    p->deadline_us = UINT64_MAX;
    weft__conn_bind(&p->conn, &e->conn_env);
    e->peers[e->npeers++] = p;
    weft__heap_push(e, p);
    return p;
}

static void peer_unindex(weft__engine *e, weft__peer *p)
{
    uint32_t idx[3] = {p->cur.valid ? p->cur.local_idx : 0,
                       p->prev.valid ? p->prev.local_idx : 0, p->hs.local_idx};
    for (int i = 0; i < 3; i++)
        if (idx[i] && weft__u64map_get(&e->by_idx, idx[i]) == p)
            weft__u64map_del(&e->by_idx, idx[i]);
    if (p->has_id && weft__u64map_get(&e->by_id, weft__id_key(&p->id)) == p)
        weft__u64map_del(&e->by_id, weft__id_key(&p->id));
}

void weft__peer_free(weft__engine *e, weft__peer *p, int err)
{
    peer_unindex(e, p);
    weft__heap_remove(e, p);
    for (size_t i = 0; i < e->ring_n; i++) {
        size_t k = (e->ring_head + i) & (e->ring_cap - 1);
        if (e->ring[k] == p)
            e->ring[k] = NULL;
    }
    weft__ev_forget_peer(e, p);
    for (size_t i = 0; i < e->npeers; i++) {
        if (e->peers[i] == p) {
            e->peers[i] = e->peers[--e->npeers];
            break;
        }
    }
    if (p->established) {
        e->nestablished--;
        e->st.sessions = e->nestablished;
    }
    if (p->half_open) {
        e->half_open--;
        e->st.half_open = e->half_open;
    }
    weft__hs_clear(e, p);
    weft__conn_free(&p->conn, err);
    weft__keys_wipe(e, &p->cur);
    weft__keys_wipe(e, &p->prev);
    weft__free(e->a, p);
}

weft__peer *weft__peer_find(const weft__engine *e, const weft_node_id *id)
{
    weft__peer *p = weft__u64map_get(&e->by_id, weft__id_key(id));
    if (p && memcmp(p->id.key, id->key, 32) == 0)
        return p;
    return NULL;
}

void weft__peer_down(weft__engine *e, weft__peer *p, int why)
{
    if (p->established)
        weft__ev_push(e, WEFT_EV_PEER_DOWN, p, why);
    else if (p->connect_pending)
        weft__ev_push(e, WEFT_EV_HANDSHAKE_FAILED, p, why);
    weft__peer_free(e, p, why);
}

int weft__oneshot_push(weft__engine *e, const weft_addr *to, const uint8_t *pkt, size_t len)
{
    if (e->oneshot_n == WEFT__ONESHOT_MAX) {
        e->st.drop_oneshot++;
        return WEFT_ERR_LIMIT;
    }
    uint8_t *b = weft__alloc(e->a, len);
    if (!b) {
        e->st.drop_oneshot++;
        return WEFT_ERR_NOMEM;
    }
    memcpy(b, pkt, len);
    weft__oneshot *o = &e->oneshot[(e->oneshot_head + e->oneshot_n++) % WEFT__ONESHOT_MAX];
    o->to = *to;
    o->len = len;
    o->buf = b;
    return 0;
}

