/*
 * engine.c -- weft_engine: one node's secure sessions, sans-IO.
 *
 * Packet dispatch, the Noise_XXpsk3 handshake around noise.c, session
 * indices and keys (current + previous, for rekeying), the timer heap,
 * the send ring and the event queue.  The reliable transport of an
 * established session lives in conn.c.  Byte layouts: docs/PROTOCOL.md.
 *
 * Handshake packets carry a 16-byte mac1 (keyed BLAKE2b under a key
 * derived from the network key) over everything before it, checked before
 * any public-key work: a node without the network key costs the responder
 * one MAC (the idea of WireGuard's mac1, WireGuard paper §5.4.4).  The
 * responder also spends at most handshake_rate_per_s Diffie-Hellman
 * handshakes per second (token bucket), bounding the work replayed
 * handshake messages can cause.
 */
#include <string.h>

#include "core/engine_internal.h"
#include "membership/swim.h"
#include "base/util.h"
#include "base/varint.h"

#define HS_PROLOGUE "weft-v1"
#define HS_INIT_LEN (6 + 48 + WEFT__MAC1_BYTES)
#define HS_RESP_LEN (10 + 32 + 48 + WEFT__HS_PAYLOAD + 16 + WEFT__MAC1_BYTES)
#define HS_FIN_LEN (6 + 48 + WEFT__HS_PAYLOAD + 16 + WEFT__MAC1_BYTES)
#define PREV_KEYS_KEEP_US 10000000ull /* old receive keys live 10 s */

void weft_config_default(weft_config *c)
{
    memset(c, 0, sizeof *c);
    c->max_message_bytes = 16u << 20;
    c->max_sessions = 1024;
    c->max_queued_bytes = 64u << 20;
    c->recv_window_bytes = 32u << 20;
    c->unreachable_ms = 10000;
    c->idle_timeout_ms = 180000;
    c->keepalive_ms = 2000;
    c->rekey_after_ms = 120000;
    c->rekey_after_packets = 1ull << 60;
    c->handshake_rate_per_s = 1000;
    c->handshake_timeout_ms = 1000;
    c->mtu_initial = 1200;
    c->mtu_max = 65000;
    c->membership = 1;
    c->profile = WEFT_PROFILE_LAN;
    c->max_peers = 4096;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */

static uint64_t id_key(const weft_node_id *id)
{
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | id->key[i];
    return k;
}

static uint32_t new_index(weft__engine *e)
{
    for (;;) {
        uint8_t b[4];
        e->rnd.fill(e->rnd.ctx, b, 4);
        uint32_t v = weft__get_u32(b);
        if (v && !weft__u64map_get(&e->by_idx, v))
            return v;
    }
}

static void derive(const weft_crypto *c, uint8_t out[32], const char *label,
                   const uint8_t key[32])
{
    uint8_t h[64];
    weft_iov iov[2] = {{label, strlen(label)}, {key, 32}};
    c->hash(c->ctx, h, iov, 2);
    memcpy(out, h, 32);
    c->wipe(c->ctx, h, sizeof h);
}

static void put_mac1(weft__engine *e, uint8_t *pkt, size_t len_before_mac)
{
    weft_iov iov = {pkt, len_before_mac};
    e->c->mac(e->c->ctx, pkt + len_before_mac, WEFT__MAC1_BYTES, e->mac1_key, 32, &iov, 1);
}

static int check_mac1(weft__engine *e, const uint8_t *pkt, size_t len)
{
    uint8_t m[WEFT__MAC1_BYTES];
    weft_iov iov = {pkt, len - WEFT__MAC1_BYTES};
    e->c->mac(e->c->ctx, m, sizeof m, e->mac1_key, 32, &iov, 1);
    uint8_t d = 0;
    for (int i = 0; i < WEFT__MAC1_BYTES; i++)
        d |= m[i] ^ pkt[len - WEFT__MAC1_BYTES + i];
    return d == 0;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */

int weft__ev_push(weft__engine *e, int type, weft__peer *p, int err,
                  uint32_t flags, const uint8_t *data, size_t len,
                  uint8_t *owned, int in_rx)
{
    if (e->evq_n == e->evq_cap) {
        size_t ncap = e->evq_cap ? e->evq_cap * 2 : 64;
        weft__event_q *n = weft__alloc(e->a, ncap * sizeof *n);
        if (!n) {
            weft__free(e->a, owned);
            return WEFT_ERR_NOMEM;
        }
        for (size_t i = 0; i < e->evq_n; i++)
            n[i] = e->evq[(e->evq_head + i) & (e->evq_cap - 1)];
        weft__free(e->a, e->evq);
        e->evq = n;
        e->evq_head = 0;
        e->evq_cap = ncap;
    }
    weft__event_q *q = &e->evq[(e->evq_head + e->evq_n) & (e->evq_cap - 1)];
    memset(q, 0, sizeof *q);
    q->ev.type = type;
    q->ev.error = err;
    if (p) {
        q->ev.peer = p->id;
        q->ev.addr = p->addr;
    }
    q->ev.flags = flags;
    q->ev.data = data;
    q->ev.len = len;
    q->owned = owned;
    q->in_rx = in_rx;
    q->peer = type == WEFT_EV_MESSAGE ? p : NULL;
    e->evq_n++;
    return 0;
}

/* Before rx_buf is reused, events still pointing into it get a copy. */
static int detach_rx_events(weft__engine *e)
{
    for (size_t i = 0; i < e->evq_n; i++) {
        weft__event_q *q = &e->evq[(e->evq_head + i) & (e->evq_cap - 1)];
        if (!q->in_rx)
            continue;
        uint8_t *copy = weft__alloc(e->a, q->ev.len);
        if (!copy)
            return WEFT_ERR_NOMEM;
        memcpy(copy, q->ev.data, q->ev.len);
        q->ev.data = copy;
        q->owned = copy;
        q->in_rx = 0;
    }
    return 0;
}

/*
 * Large message buffers are recycled through a small per-engine cache.  A
 * bulk transfer allocates and frees one 64 KiB-class buffer per message on
 * each side (the sender's queued copy, the receiver's reassembly buffer);
 * with glibc these frees often border the heap top, which is then trimmed
 * and faulted in again on the next allocation (perf: ~50k page faults and
 * ~4% of the CPU per GB delivered).  Only buffers of 16..256 KiB are kept,
 * at most WEFT__BUFCACHE_SLOTS of them, so the cache never holds more than
 * 2 MiB.
 */
void *weft__buf_get(weft__engine *e, size_t n)
{
    if (n >= WEFT__BUFCACHE_MIN_BYTES && n <= WEFT__BUFCACHE_MAX_BYTES) {
        for (size_t i = e->bufcache_n; i-- > 0;) {
            size_t cap = e->bufcache[i].cap;
            if (cap >= n && cap - n <= n / 4) {
                void *p = e->bufcache[i].p;
                e->bufcache[i] = e->bufcache[--e->bufcache_n];
                return p;
            }
        }
    }
    return weft__alloc(e->a, n);
}

void weft__buf_put(weft__engine *e, void *p, size_t cap)
{
    if (!p)
        return;
    if (cap >= WEFT__BUFCACHE_MIN_BYTES && cap <= WEFT__BUFCACHE_MAX_BYTES &&
        e->bufcache_n < WEFT__BUFCACHE_SLOTS) {
        e->bufcache[e->bufcache_n].p = p;
        e->bufcache[e->bufcache_n].cap = cap;
        e->bufcache_n++;
        return;
    }
    weft__free(e->a, p);
}

static void release_last(weft__engine *e)
{
    weft__buf_put(e, e->last_owned, e->last_owned_len);
    e->last_owned = NULL;
    e->last_owned_len = 0;
}

int weft_engine_poll(weft_engine *e, weft_event *ev)
{
    release_last(e);
    if (!e->evq_n) {
        memset(ev, 0, sizeof *ev);
        return 0;
    }
    weft__event_q *q = &e->evq[e->evq_head];
    e->evq_head = (e->evq_head + 1) & (e->evq_cap - 1);
    e->evq_n--;
    *ev = q->ev;
    e->last_owned = q->owned;
    e->last_owned_len = q->ev.len;
    if (q->peer) {
        /* Credit returns once the application has taken the message:
         * a receiver that does not poll stops its senders. */
        weft__conn_consumed(q->peer, q->ev.len);
        weft__peer_touch(q->peer);
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Timer heap and send ring                                                  */

static int heap_less(weft__engine *e, size_t a, size_t b)
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

static void heap_remove(weft__engine *e, weft__peer *p)
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

static uint64_t peer_deadline(weft__peer *p)
{
    weft__engine *e = p->e;
    uint64_t t = UINT64_MAX;
    if (p->hs_state == HS_INIT_SENT || p->hs_state == HS_RESP_SENT || p->hs_fin_unconfirmed)
        t = p->hs_retry_us;
    if (p->established) {
        uint64_t c = weft__conn_deadline(p);
        if (c < t)
            t = c;
        uint64_t idle = p->last_app_us + (uint64_t)e->cfg.idle_timeout_ms * 1000;
        if (idle < t)
            t = idle;
        if (p->prev.valid && p->prev_expire_us < t)
            t = p->prev_expire_us;
        if (p->cur.valid && p->hs_state == HS_DONE && p->hs_initiator) {
            uint64_t rk = p->cur.established_us + (uint64_t)e->cfg.rekey_after_ms * 1000;
            if (rk < t)
                t = rk;
        }
    }
    return t;
}

void weft__peer_wants_send(weft__peer *p)
{
    weft__engine *e = p->e;
    if (p->in_send_ring)
        return;
    if (e->ring_n == e->ring_cap) {
        size_t ncap = e->ring_cap ? e->ring_cap * 2 : 16;
        weft__peer **n = weft__alloc(e->a, ncap * sizeof *n);
        if (!n)
            return; /* the peer's timer will retry */
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

void weft__peer_touch(weft__peer *p)
{
    weft__engine *e = p->e;
    p->deadline_us = peer_deadline(p);
    if (p->heap_idx < e->heap_n && e->heap[p->heap_idx] == p)
        heap_fix(e, p->heap_idx);
    if (p->hs_pkt_due || (p->established && weft__conn_has_output(p, e->now_us)))
        weft__peer_wants_send(p);
}

/* ------------------------------------------------------------------------ */
/* Peers                                                                     */

static void heap_push(weft__engine *e, weft__peer *p);

static weft__peer *peer_new(weft__engine *e, const weft_addr *addr)
{
    if (e->npeers >= (size_t)e->cfg.max_sessions * 2)
        return NULL;
    if (e->heap_n == e->heap_cap || e->npeers == e->peers_cap) {
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
    p->e = e;
    p->addr = *addr;
    p->deadline_us = UINT64_MAX;
    e->peers[e->npeers++] = p;
    heap_push(e, p);
    return p;
}

static void wipe_keys(weft__engine *e, weft__keys *k)
{
    e->c->wipe(e->c->ctx, k, sizeof *k);
}

static void hs_clear(weft__peer *p)
{
    weft__engine *e = p->e;
    if (p->hs) {
        weft__noise_wipe(p->hs);
        weft__free(e->a, p->hs);
        p->hs = NULL;
    }
    weft__free(e->a, p->hs_pkt);
    p->hs_pkt = NULL;
    p->hs_pkt_len = 0;
    p->hs_pkt_due = 0;
}

static void peer_unindex(weft__peer *p)
{
    weft__engine *e = p->e;
    uint32_t idx[3] = {p->cur.valid ? p->cur.local_idx : 0,
                       p->prev.valid ? p->prev.local_idx : 0, p->hs_local_idx};
    for (int i = 0; i < 3; i++)
        if (idx[i] && weft__u64map_get(&e->by_idx, idx[i]) == p)
            weft__u64map_del(&e->by_idx, idx[i]);
    if (p->has_id && weft__u64map_get(&e->by_id, id_key(&p->id)) == p)
        weft__u64map_del(&e->by_id, id_key(&p->id));
}

static void peer_free(weft__peer *p)
{
    weft__engine *e = p->e;
    peer_unindex(p);
    heap_remove(e, p);
    for (size_t i = 0; i < e->ring_n; i++) {
        size_t k = (e->ring_head + i) & (e->ring_cap - 1);
        if (e->ring[k] == p)
            e->ring[k] = NULL;
    }
    for (size_t i = 0; i < e->evq_n; i++) {
        weft__event_q *q = &e->evq[(e->evq_head + i) & (e->evq_cap - 1)];
        if (q->peer == p)
            q->peer = NULL;
    }
    for (size_t i = 0; i < e->npeers; i++) {
        if (e->peers[i] == p) {
            e->peers[i] = e->peers[--e->npeers];
            break;
        }
    }
    if (p->established && e->st.sessions)
        e->st.sessions--;
    hs_clear(p);
    weft__conn_free(p);
    wipe_keys(e, &p->cur);
    wipe_keys(e, &p->prev);
    weft__free(e->a, p);
}

static weft__peer *find_peer(const weft__engine *e, const weft_node_id *id)
{
    weft__peer *p = weft__u64map_get(&e->by_id, id_key(id));
    if (p && memcmp(p->id.key, id->key, 32) == 0)
        return p;
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Engine lifecycle                                                          */

int weft_engine_new(weft_engine **out, const weft_config *cfg,
                    const weft_env *env, uint64_t now_us)
{
    if (!out || !cfg || !env || !env->crypto || !env->rand.fill)
        return WEFT_ERR_INVAL;
    *out = NULL;
    if (cfg->mtu_initial < 576 || cfg->mtu_max < cfg->mtu_initial ||
        cfg->mtu_max > WEFT__MAX_PKT || !cfg->max_sessions ||
        cfg->max_message_bytes > (1u << 30) || !cfg->unreachable_ms ||
        !cfg->keepalive_ms || !cfg->handshake_timeout_ms ||
        cfg->recv_window_bytes < 65536 || !cfg->max_queued_bytes)
        return WEFT_ERR_CONFIG;
    const weft_allocator *a = env->alloc;
    weft__engine *e = weft__calloc(a, sizeof *e);
    if (!e)
        return WEFT_ERR_NOMEM;
    e->cfg = *cfg;
    e->a = a;
    e->c = env->crypto;
    e->rnd = env->rand;
    e->now_us = now_us;
    memcpy(e->id.key, cfg->identity_secret + 32, 32);
    if (e->c->ed_sk_to_x(e->c->ctx, e->x_sk, cfg->identity_secret) < 0) {
        weft__free(a, e);
        return WEFT_ERR_CONFIG;
    }
    derive(e->c, e->psk, "weft-psk-v1", cfg->network_key);
    derive(e->c, e->mac1_key, "weft-mac1-v1", cfg->network_key);
    weft__u64map_init(&e->by_idx, a);
    weft__u64map_init(&e->by_id, a);
    e->rx_buf = weft__alloc(a, WEFT__MAX_PKT + 64);
    e->tx_buf = weft__alloc(a, WEFT__MAX_PKT + 64);
    if (!e->rx_buf || !e->tx_buf) {
        weft_engine_del(e);
        return WEFT_ERR_NOMEM;
    }
    e->hs_tokens = cfg->handshake_rate_per_s;
    e->hs_tokens_us = now_us;
    int rc = weft__member_init(e, now_us);
    if (rc < 0) {
        weft_engine_del(e);
        return rc;
    }
    *out = e;
    return 0;
}

void weft_engine_del(weft_engine *e)
{
    if (!e)
        return;
    weft__member_free(e);
    while (e->npeers)
        peer_free(e->peers[0]);
    release_last(e);
    for (size_t i = 0; i < e->evq_n; i++)
        weft__free(e->a, e->evq[(e->evq_head + i) & (e->evq_cap - 1)].owned);
    for (size_t i = 0; i < e->bufcache_n; i++)
        weft__free(e->a, e->bufcache[i].p);
    e->bufcache_n = 0;
    weft__free(e->a, e->evq);
    weft__free(e->a, e->ring);
    weft__free(e->a, e->heap);
    weft__free(e->a, e->due);
    weft__free(e->a, e->peers);
    weft__free(e->a, e->frags);
    weft__u64map_free(&e->by_idx);
    weft__u64map_free(&e->by_id);
    weft__free(e->a, e->rx_buf);
    weft__free(e->a, e->tx_buf);
    e->c->wipe(e->c->ctx, e->x_sk, sizeof e->x_sk);
    e->c->wipe(e->c->ctx, e->psk, sizeof e->psk);
    e->c->wipe(e->c->ctx, e->mac1_key, sizeof e->mac1_key);
    e->c->wipe(e->c->ctx, e->cfg.identity_secret, sizeof e->cfg.identity_secret);
    e->c->wipe(e->c->ctx, e->cfg.network_key, sizeof e->cfg.network_key);
    weft__free(e->a, e);
}

const weft_node_id *weft_engine_id(const weft_engine *e)
{
    return &e->id;
}

void weft_engine_stats(const weft_engine *e, weft_stats *st)
{
    *st = e->st;
}

int weft_engine_peer_info(const weft_engine *e, const weft_node_id *id,
                          weft_peer_info *out)
{
    weft__peer *p = find_peer(e, id);
    if (!p)
        return WEFT_ERR_NO_PEER;
    memset(out, 0, sizeof *out);
    out->id = p->id;
    out->addr = p->addr;
    out->established = p->established;
    out->srtt_us = (uint32_t)p->rtt.smoothed_us;
    out->rttvar_us = (uint32_t)p->rtt.var_us;
    out->min_rtt_us = (uint32_t)p->rtt.min_us;
    out->cwnd_bytes = (uint32_t)WEFT__MIN(p->cc.cwnd, UINT32_MAX);
    out->mtu = p->mtu;
    out->bytes_in_flight = p->cc.bytes_in_flight;
    out->queued_bytes = p->queued_bytes;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Handshake                                                                 */

/* Our handshake payload: Ed25519 identity, session id, receive window. */
static void hs_payload(weft__engine *e, weft__peer *p, uint8_t out[WEFT__HS_PAYLOAD])
{
    memset(out, 0, WEFT__HS_PAYLOAD);
    memcpy(out, e->id.key, 32);
    weft__put_u64(out + 32, p->hs_sid);
    weft__put_u32(out + 40, e->cfg.recv_window_bytes);
}

/* Reads the peer's handshake message (msg2 or msg3) and checks its payload:
 * the Ed25519 key must map to the static key the handshake authenticated
 * (the node id is bound to the session).  Returns 0, noise_read's error
 * (WEFT_ERR_HANDSHAKE when decryption failed: tampered or wrong psk), or
 * WEFT_ERR_PROTO for a payload that does not bind the static key. */
static int hs_read_payload(weft__engine *e, weft__peer *p, const uint8_t *msg,
                           size_t len, weft_node_id *id, uint64_t *sid,
                           uint32_t *window)
{
    uint8_t x[32], pl[WEFT__HS_PAYLOAD + 16];
    /* the peer's next Noise message; its payload is what we check */
    ptrdiff_t n = weft__noise_read(p->hs, msg, len, pl, sizeof pl);
    if (n < 0)
        return (int)n;
    const uint8_t *rs = weft__noise_remote_static(p->hs);
    if (n != WEFT__HS_PAYLOAD || !rs)
        return WEFT_ERR_PROTO;
    if (e->c->ed_pk_to_x(e->c->ctx, x, pl) < 0 || memcmp(x, rs, 32) != 0)
        return WEFT_ERR_PROTO;
    memcpy(id->key, pl, 32);
    *sid = weft__get_u64(pl + 32);
    *window = weft__get_u32(pl + 40);
    if (*window < 65536)
        *window = 65536;
    return 0;
}

static int hs_start(weft__engine *e, weft__peer *p, uint64_t now_us)
{
    uint8_t esk[32];
    hs_clear(p);
    p->hs = weft__alloc(e->a, sizeof *p->hs);
    p->hs_pkt = weft__alloc(e->a, HS_FIN_LEN + 64);
    if (!p->hs || !p->hs_pkt) {
        hs_clear(p);
        return WEFT_ERR_NOMEM;
    }
    if (p->hs_local_idx && weft__u64map_get(&e->by_idx, p->hs_local_idx) == p)
        weft__u64map_del(&e->by_idx, p->hs_local_idx);
    weft__noise_init(p->hs, e->c, 1, (const uint8_t *)HS_PROLOGUE, strlen(HS_PROLOGUE), e->x_sk, e->psk);
    e->rnd.fill(e->rnd.ctx, esk, 32);
    uint8_t *pkt = p->hs_pkt;
    pkt[0] = WEFT__PKT_HS_INIT;
    pkt[1] = WEFT__PROTO_VERSION;
    p->hs_local_idx = new_index(e);
    weft__put_u32(pkt + 2, p->hs_local_idx);
    ptrdiff_t n = weft__noise_write(p->hs, esk, NULL, 0, pkt + 6, 48);
    e->c->wipe(e->c->ctx, esk, sizeof esk);
    if (n != 48) {
        hs_clear(p);
        return WEFT_ERR_INTERNAL;
    }
    put_mac1(e, pkt, 6 + 48);
    p->hs_pkt_len = HS_INIT_LEN;
    p->hs_pkt_due = 1;
    p->hs_state = HS_INIT_SENT;
    p->hs_initiator = 1;
    p->hs_started_us = now_us;
    p->hs_attempts = 1;
    p->hs_retry_us = now_us + (uint64_t)e->cfg.handshake_timeout_ms * 1000;
    if (!p->hs_sid || !p->established) {
        /* a new transport session unless we are rekeying a live one */
        uint8_t b[8];
        e->rnd.fill(e->rnd.ctx, b, 8);
        p->hs_sid = weft__get_u64(b) | 1;
    } else {
        p->hs_sid = p->sid;
    }
    if (weft__u64map_put(&e->by_idx, p->hs_local_idx, p) < 0) {
        hs_clear(p);
        return WEFT_ERR_NOMEM;
    }
    weft__peer_touch(p);
    return 0;
}

int weft_engine_connect(weft_engine *e, const weft_addr *addr, uint64_t now_us)
{
    if (!e || !addr || (addr->family != 4 && addr->family != 6))
        return WEFT_ERR_INVAL;
    e->now_us = now_us;
    for (size_t i = 0; i < e->npeers; i++) {
        weft__peer *q = e->peers[i];
        if (weft_addr_eq(&q->addr, addr) && (q->established || q->hs_state == HS_INIT_SENT))
            return 0; /* already connected or dialling */
    }
    if (e->st.sessions >= e->cfg.max_sessions)
        return WEFT_ERR_LIMIT;
    weft__peer *p = peer_new(e, addr);
    if (!p)
        return WEFT_ERR_NOMEM;
    p->connect_pending = 1;
    int rc = hs_start(e, p, now_us);
    if (rc < 0)
        peer_free(p);
    return rc;
}

static int take_hs_token(weft__engine *e, uint64_t now_us)
{
    double rate = e->cfg.handshake_rate_per_s;
    e->hs_tokens += (double)(now_us - e->hs_tokens_us) * rate / 1e6;
    if (e->hs_tokens > rate)
        e->hs_tokens = rate;
    e->hs_tokens_us = now_us;
    if (e->hs_tokens < 1.0)
        return 0;
    e->hs_tokens -= 1.0;
    return 1;
}

static int on_hs_init(weft__engine *e, const weft_addr *from, const uint8_t *pkt,
                      size_t len, uint64_t now_us)
{
    uint32_t sidx = weft__get_u32(pkt + 2);
    /* A resent msg1 (our msg2 was lost): resend the same msg2, no new DH. */
    for (size_t i = 0; i < e->npeers; i++) {
        weft__peer *q = e->peers[i];
        if (q->hs_state == HS_RESP_SENT && q->hs_remote_idx == sidx &&
            weft_addr_eq(&q->addr, from)) {
            q->hs_pkt_due = 1;
            q->hs_retry_us = now_us + (uint64_t)e->cfg.unreachable_ms * 1000;
            weft__peer_touch(q);
            return 0;
        }
    }
    if (!take_hs_token(e, now_us)) {
        e->st.drop_ratelimit++;
        return WEFT_ERR_RATE_LIMITED;
    }
    weft__peer *p = peer_new(e, from);
    if (!p) {
        e->st.drop_ratelimit++;
        return WEFT_ERR_LIMIT;
    }
    p->hs = weft__alloc(e->a, sizeof *p->hs);
    p->hs_pkt = weft__alloc(e->a, HS_RESP_LEN + 64);
    if (!p->hs || !p->hs_pkt) {
        peer_free(p);
        return WEFT_ERR_NOMEM;
    }
    weft__noise_init(p->hs, e->c, 0, (const uint8_t *)HS_PROLOGUE, strlen(HS_PROLOGUE), e->x_sk, e->psk);
    uint8_t tmp[64];
    if (weft__noise_read(p->hs, pkt + 6, 48, tmp, sizeof tmp) != 0) {
        peer_free(p);
        e->st.handshakes_failed++;
        return WEFT_ERR_HANDSHAKE;
    }
    uint8_t esk[32], pl[WEFT__HS_PAYLOAD];
    e->rnd.fill(e->rnd.ctx, esk, 32);
    p->hs_remote_idx = sidx;
    p->hs_local_idx = new_index(e);
    hs_payload(e, p, pl);
    uint8_t *o = p->hs_pkt;
    o[0] = WEFT__PKT_HS_RESP;
    o[1] = WEFT__PROTO_VERSION;
    weft__put_u32(o + 2, p->hs_local_idx);
    weft__put_u32(o + 6, sidx);
    ptrdiff_t n = weft__noise_write(p->hs, esk, pl, sizeof pl, o + 10, HS_RESP_LEN - 10);
    e->c->wipe(e->c->ctx, esk, sizeof esk);
    if (n != HS_RESP_LEN - 10 - WEFT__MAC1_BYTES) {
        peer_free(p);
        e->st.handshakes_failed++;
        return WEFT_ERR_HANDSHAKE;
    }
    put_mac1(e, o, 10 + (size_t)n);
    p->hs_pkt_len = 10 + (size_t)n + WEFT__MAC1_BYTES;
    p->hs_pkt_due = 1;
    p->hs_state = HS_RESP_SENT;
    p->hs_started_us = now_us;
    /* wait as long as the initiator keeps trying before giving up */
    p->hs_retry_us = now_us + (uint64_t)e->cfg.unreachable_ms * 1000;
    if (weft__u64map_put(&e->by_idx, p->hs_local_idx, p) < 0) {
        peer_free(p);
        return WEFT_ERR_NOMEM;
    }
    (void)len;
    weft__peer_touch(p);
    return 0;
}

/*
 * A handshake on temporary peer t completed with node id: install the keys
 * on the peer that owns that id (t itself, or an existing peer whose
 * queues survive), reset its transport when the session id changed, and
 * report PEER_UP.  Returns the peer that now holds the session.
 */
static weft__peer *hs_complete(weft__engine *e, weft__peer *t, const weft_node_id *id,
                               uint64_t sid, uint32_t window, const uint8_t ks[32],
                               const uint8_t kr[32], uint64_t now_us)
{
    weft__peer *p = find_peer(e, id);
    if (!p) {
        p = t;
        p->id = *id;
        p->has_id = 1;
        weft__u64map_put(&e->by_id, id_key(id), p);
    }
    if (p->cur.valid) {
        if (p->prev.valid && weft__u64map_get(&e->by_idx, p->prev.local_idx) == p)
            weft__u64map_del(&e->by_idx, p->prev.local_idx);
        p->prev = p->cur;
        p->prev_expire_us = now_us + PREV_KEYS_KEEP_US;
    }
    memset(&p->cur, 0, sizeof p->cur);
    memcpy(p->cur.k_send, ks, 32);
    memcpy(p->cur.k_recv, kr, 32);
    p->cur.local_idx = t->hs_local_idx;
    p->cur.remote_idx = t->hs_remote_idx;
    p->cur.established_us = now_us;
    p->cur.first_pn = p->pn_next;
    p->cur.first_rx_pn = weft__rset_max(&p->rx_pns);
    p->cur.valid = 1;
    weft__replay_init(&p->cur.replay);
    weft__u64map_put(&e->by_idx, p->cur.local_idx, p);
    t->hs_local_idx = 0; /* now the current keys' index */
    p->hs_local_idx = 0;
    p->addr = t->addr;
    p->peer_window = window;
    p->hs_initiator = t->hs_initiator;
    if (!p->hs_rtt_us)
        p->hs_rtt_us = t->hs_rtt_us;
    int was_up = p->established;
    if (!was_up) {
        p->sid = sid;
        weft__conn_init(p, now_us);
        p->established = 1;
        e->st.sessions++;
    } else if (sid != p->sid) {
        p->sid = sid;
        p->peer_window = window;
        weft__conn_reset(p, now_us);
    }
    p->hs_state = HS_DONE;
    e->st.handshakes_ok++;
    int connect_pending = t->connect_pending;
    if (t != p) {
        t->connect_pending = 0;
        peer_free(t);
    }
    p->connect_pending = 0;
    if (!was_up || connect_pending || sid != p->sid)
        weft__ev_push(e, WEFT_EV_PEER_UP, p, 0, 0, NULL, 0, NULL, 0);
    return p;
}

/*
 * How long the initiator waits before resending msg3: about one probe
 * timeout of the path (the session's RTT estimate, else the handshake's),
 * doubling per attempt and capped at 1 s -- well inside the responder's
 * patience (unreachable_ms), so a lossy path still completes.
 */
static uint64_t fin_retry_us(const weft__peer *p)
{
    uint64_t base = p->rtt.has_sample ? weft__rtt_pto_us(&p->rtt, WEFT__MAX_ACK_DELAY_US)
                                      : WEFT__MAX(3 * p->hs_rtt_us, 10000);
    if (!p->rtt.has_sample && !p->hs_rtt_us)
        base = 100000;
    uint64_t t = base << WEFT__MIN(p->hs_attempts - 1, 6);
    return WEFT__MIN(t, 1000000);
}

static int on_hs_resp(weft__engine *e, const weft_addr *from, const uint8_t *pkt,
                      size_t len, uint64_t now_us)
{
    weft__peer *t = weft__u64map_get(&e->by_idx, weft__get_u32(pkt + 6));
    if (!t || t->hs_state != HS_INIT_SENT || !t->hs) {
        e->st.drop_unknown++;
        return WEFT_ERR_UNKNOWN_SESSION;
    }
    weft_node_id id;
    uint64_t sid;
    uint32_t window;
    if (hs_read_payload(e, t, pkt + 10, len - 10 - WEFT__MAC1_BYTES, &id, &sid, &window) < 0) {
        e->st.handshakes_failed++;
        return WEFT_ERR_HANDSHAKE;
    }
    if (memcmp(id.key, e->id.key, 32) == 0) {
        /* dialled ourselves */
        e->st.handshakes_failed++;
        weft__ev_push(e, WEFT_EV_HANDSHAKE_FAILED, t, WEFT_ERR_HANDSHAKE, 0, NULL, 0, NULL, 0);
        peer_free(t);
        return WEFT_ERR_HANDSHAKE;
    }
    t->hs_remote_idx = weft__get_u32(pkt + 2);
    /* Karn's rule (RFC 6298 §3): no RTT sample from a resent msg1. */
    t->hs_rtt_us = t->hs_attempts == 1 ? now_us - t->hs_started_us : 0;
    t->addr = *from;
    /* -> s, se, psk with our payload */
    uint8_t mypl[WEFT__HS_PAYLOAD];
    hs_payload(e, t, mypl);
    uint8_t fin[HS_FIN_LEN + 16];
    fin[0] = WEFT__PKT_HS_FIN;
    fin[1] = WEFT__PROTO_VERSION;
    weft__put_u32(fin + 2, t->hs_remote_idx);
    ptrdiff_t n = weft__noise_write(t->hs, NULL, mypl, sizeof mypl, fin + 6, sizeof fin - 6);
    uint8_t ks[32], kr[32];
    if (n != HS_FIN_LEN - 6 - WEFT__MAC1_BYTES || weft__noise_split(t->hs, ks, kr, NULL) < 0) {
        e->st.handshakes_failed++;
        return WEFT_ERR_HANDSHAKE;
    }
    put_mac1(e, fin, 6 + (size_t)n);
    uint64_t mysid = t->hs_sid;
    weft__peer *p = hs_complete(e, t, &id, mysid, window, ks, kr, now_us);
    e->c->wipe(e->c->ctx, ks, 32);
    e->c->wipe(e->c->ctx, kr, 32);
    /* Keep msg3 to resend until the responder answers under the new keys
     * (our DATA is undecryptable to it until msg3 arrives). */
    hs_clear(p);
    p->hs_pkt = weft__alloc(e->a, HS_FIN_LEN);
    if (p->hs_pkt) {
        memcpy(p->hs_pkt, fin, HS_FIN_LEN);
        p->hs_pkt_len = HS_FIN_LEN;
        p->hs_pkt_due = 1;
        p->hs_fin_unconfirmed = 1;
        p->hs_attempts = 1;
        p->hs_retry_us = now_us + fin_retry_us(p);
    }
    weft__peer_touch(p);
    return 0;
}

static int on_hs_fin(weft__engine *e, const weft_addr *from, const uint8_t *pkt,
                     size_t len, uint64_t now_us)
{
    weft__peer *t = weft__u64map_get(&e->by_idx, weft__get_u32(pkt + 2));
    if (!t || t->hs_state != HS_RESP_SENT || !t->hs) {
        /* Usually a resent msg3 after we completed: our reply was lost.
         * Answer with a PING under the session so the initiator hears. */
        if (t && t->established && t->cur.local_idx == weft__get_u32(pkt + 2)) {
            t->ping_due = 1;
            weft__peer_touch(t);
            return 0;
        }
        e->st.drop_unknown++;
        return WEFT_ERR_UNKNOWN_SESSION;
    }
    weft_node_id id;
    uint64_t sid;
    uint32_t window;
    int rc = hs_read_payload(e, t, pkt + 6, len - 6 - WEFT__MAC1_BYTES, &id, &sid, &window);
    if (rc < 0) {
        /* wrong psk shows here: the responder learns it at msg3 */
        e->st.handshakes_failed++;
        if (rc == WEFT_ERR_HANDSHAKE)
            e->st.drop_wrong_mesh++;
        peer_free(t);
        return WEFT_ERR_HANDSHAKE;
    }
    uint8_t ks[32], kr[32];
    if (weft__noise_split(t->hs, ks, kr, NULL) < 0) {
        peer_free(t);
        return WEFT_ERR_INTERNAL;
    }
    t->addr = *from;
    hs_clear(t);
    t->hs_initiator = 0;
    weft__peer *p = hs_complete(e, t, &id, sid, window, ks, kr, now_us);
    e->c->wipe(e->c->ctx, ks, 32);
    e->c->wipe(e->c->ctx, kr, 32);
    p->ping_due = 1; /* confirms the session to the initiator at once */
    weft__peer_touch(p);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Datagram input                                                            */

static int on_data(weft__engine *e, const weft_addr *from, const uint8_t *pkt,
                   size_t len, uint64_t now_us)
{
    if (len < WEFT__DATA_OVERHEAD) {
        e->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    uint32_t idx = weft__get_u32(pkt + 1);
    uint64_t pn = weft__get_u64(pkt + 5);
    weft__peer *p = weft__u64map_get(&e->by_idx, idx);
    weft__keys *k = NULL;
    if (p && p->cur.valid && p->cur.local_idx == idx)
        k = &p->cur;
    else if (p && p->prev.valid && p->prev.local_idx == idx)
        k = &p->prev;
    if (!k) {
        e->st.drop_unknown++;
        return WEFT_ERR_UNKNOWN_SESSION;
    }
    if (weft__replay_check(&k->replay, pn) < 0) {
        e->st.drop_replay++;
        return WEFT_ERR_REPLAY;
    }
    int rc = detach_rx_events(e);
    if (rc < 0)
        return rc;
    size_t plen = len - WEFT__DATA_OVERHEAD;
    if (e->c->aead_open(e->c->ctx, e->rx_buf, k->k_recv, pn, pkt, WEFT__DATA_HDR,
                        pkt + WEFT__DATA_HDR, len - WEFT__DATA_HDR) < 0) {
        e->st.drop_decrypt++;
        return WEFT_ERR_DECRYPT;
    }
    weft__replay_update(&k->replay, pn);
    /* Authenticated: the peer may have moved (roaming, NAT rebinding). */
    p->addr = *from;
    if (p->hs_fin_unconfirmed && k == &p->cur) {
        p->hs_fin_unconfirmed = 0;
        hs_clear(p);
    }
    rc = weft__conn_on_packet(p, pn, e->rx_buf, plen, now_us);
    if (rc == WEFT_ERR_PEER_CLOSED) {
        weft__ev_push(e, WEFT_EV_PEER_DOWN, p, WEFT_ERR_PEER_CLOSED, 0, NULL, 0, NULL, 0);
        peer_free(p);
        return 0;
    }
    if (rc == WEFT_ERR_PROTO)
        e->st.drop_malformed++;
    weft__peer_touch(p);
    return rc;
}

int weft_engine_recv(weft_engine *e, const weft_addr *from, const uint8_t *pkt,
                     size_t len, uint64_t now_us)
{
    if (!e || !from || (!pkt && len))
        return WEFT_ERR_INVAL;
    e->now_us = now_us;
    release_last(e);
    e->st.pkts_in++;
    e->st.bytes_in += len;
    if (len < 1) {
        e->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    switch (pkt[0]) {
    case WEFT__PKT_DATA:
        return on_data(e, from, pkt, len, now_us);
    case WEFT__PKT_MEMBERSHIP: {
        if (!e->swim) {
            e->st.drop_malformed++;
            return WEFT_ERR_PROTO;
        }
        int rc = weft__swim_recv(e->swim, from, pkt, len, now_us);
        weft__member_pump(e);
        return rc;
    }
    case WEFT__PKT_HS_INIT:
    case WEFT__PKT_HS_RESP:
    case WEFT__PKT_HS_FIN: {
        static const size_t want[] = {0, HS_INIT_LEN, HS_RESP_LEN, HS_FIN_LEN};
        if (len != want[pkt[0]] ) {
            e->st.drop_malformed++;
            return WEFT_ERR_PROTO;
        }
        if (pkt[1] != WEFT__PROTO_VERSION) {
            e->st.drop_malformed++;
            return WEFT_ERR_VERSION;
        }
        if (!check_mac1(e, pkt, len)) {
            e->st.drop_wrong_mesh++;
            return WEFT_ERR_WRONG_MESH;
        }
        if (pkt[0] == WEFT__PKT_HS_INIT)
            return on_hs_init(e, from, pkt, len, now_us);
        if (pkt[0] == WEFT__PKT_HS_RESP)
            return on_hs_resp(e, from, pkt, len, now_us);
        return on_hs_fin(e, from, pkt, len, now_us);
    }
    default:
        e->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

static void maybe_rekey(weft__engine *e, weft__peer *p, uint64_t now_us);

ptrdiff_t weft_engine_write(weft_engine *e, weft_addr *to, uint8_t *buf,
                            size_t cap, uint64_t now_us)
{
    if (!e || !to || !buf)
        return WEFT_ERR_INVAL;
    e->now_us = now_us;
    release_last(e);
    if (e->swim) {
        /* membership first: its probes must not queue behind bulk data */
        ptrdiff_t n = weft__swim_write(e->swim, to, buf, cap, now_us);
        if (n != 0)
            return n;
    }
    while (e->ring_n) {
        weft__peer *p = e->ring[e->ring_head];
        e->ring_head = (e->ring_head + 1) & (e->ring_cap - 1);
        e->ring_n--;
        if (!p)
            continue;
        p->in_send_ring = 0;
        if (p->hs_pkt_due && p->hs_pkt) {
            if (cap < p->hs_pkt_len)
                return WEFT_ERR_BUFSMALL;
            memcpy(buf, p->hs_pkt, p->hs_pkt_len);
            *to = p->addr;
            p->hs_pkt_due = 0;
            size_t n = p->hs_pkt_len;
            weft__peer_touch(p);
            e->st.pkts_out++;
            e->st.bytes_out += n;
            return (ptrdiff_t)n;
        }
        if (!p->established || !p->cur.valid)
            continue;
        maybe_rekey(e, p, now_us);
        if (p->pn_next - p->cur.first_pn >= e->cfg.rekey_after_packets) {
            continue; /* hard limit for these keys: wait for the rekey */
        }
        if (cap < WEFT__DATA_OVERHEAD + 64)
            return WEFT_ERR_BUFSMALL;
        uint64_t pn = p->pn_next;
        ptrdiff_t n = weft__conn_build(p, e->tx_buf, cap - WEFT__DATA_OVERHEAD, pn, now_us);
        if (n < 0)
            return n;
        if (n == 0) {
            weft__peer_touch(p); /* maybe paced: the timer brings it back */
            continue;
        }
        p->pn_next++;
        buf[0] = WEFT__PKT_DATA;
        weft__put_u32(buf + 1, p->cur.remote_idx);
        weft__put_u64(buf + 5, pn);
        e->c->aead_seal(e->c->ctx, buf + WEFT__DATA_HDR, p->cur.k_send, pn, buf,
                        WEFT__DATA_HDR, e->tx_buf, (size_t)n);
        *to = p->addr;
        /* the initiator keeps resending msg3 until the responder answers */
        weft__peer_touch(p);
        size_t total = (size_t)n + WEFT__DATA_OVERHEAD;
        e->st.pkts_out++;
        e->st.bytes_out += total;
        return (ptrdiff_t)total;
    }
    return 0;
}

uint64_t weft_engine_expiry(const weft_engine *e)
{
    uint64_t t = e->heap_n ? e->heap[0]->deadline_us : UINT64_MAX;
    if (e->swim) {
        uint64_t m = weft__swim_expiry(e->swim);
        if (m < t)
            t = m;
    }
    return t;
}

static void peer_down(weft__engine *e, weft__peer *p, int why)
{
    if (p->established)
        weft__ev_push(e, WEFT_EV_PEER_DOWN, p, why, 0, NULL, 0, NULL, 0);
    else if (p->connect_pending)
        weft__ev_push(e, WEFT_EV_HANDSHAKE_FAILED, p, why, 0, NULL, 0, NULL, 0);
    peer_free(p);
}

/* Packets sent, or received, under the current keys. */
static uint64_t pkts_on_keys(const weft__peer *p)
{
    uint64_t sent = p->pn_next - p->cur.first_pn;
    uint64_t rx = weft__rset_max(&p->rx_pns);
    uint64_t got = rx > p->cur.first_rx_pn ? rx - p->cur.first_rx_pn : 0;
    return sent > got ? sent : got;
}

/*
 * Rekey (Noise §11.3 prefers fresh handshakes to key ratchets, for forward
 * secrecy): after rekey_after_ms, or once half of rekey_after_packets went
 * either way under the current keys, the initiator of those keys redoes
 * XX.  Only the initiator does, so two rekeys never cross.
 */
static void maybe_rekey(weft__engine *e, weft__peer *p, uint64_t now_us)
{
    if (!p->hs_initiator || p->hs_state != HS_DONE || p->hs_fin_unconfirmed ||
        !p->cur.valid)
        return;
    if (now_us < p->cur.established_us + (uint64_t)e->cfg.rekey_after_ms * 1000 &&
        pkts_on_keys(p) < e->cfg.rekey_after_packets / 2)
        return;
    p->hs_sid = p->sid;
    if (hs_start(e, p, now_us) == 0)
        p->hs_sid = p->sid;
}

/* Runs one peer's due timers.  Returns 1 when the peer was freed. */
static int peer_timers(weft__engine *e, weft__peer *p, uint64_t now_us)
{
    uint64_t unreach_us = (uint64_t)e->cfg.unreachable_ms * 1000;
    /* handshakes in progress */
    if (p->hs_state == HS_INIT_SENT && now_us >= p->hs_retry_us) {
        if (now_us - p->hs_started_us >= unreach_us) {
            e->st.handshakes_failed++;
            if (p->established) {
                /* a rekey failed; the old keys may still work: carry on */
                hs_clear(p);
                p->hs_state = HS_DONE;
            } else {
                peer_down(e, p, WEFT_ERR_UNREACHABLE);
                return 1;
            }
        } else {
            /* RFC 6298 §5.5-style doubling, capped */
            p->hs_attempts++;
            uint64_t step = (uint64_t)e->cfg.handshake_timeout_ms * 1000
                            << WEFT__MIN(p->hs_attempts - 1, 3);
            p->hs_retry_us = now_us + step;
            p->hs_pkt_due = 1;
        }
    } else if (p->hs_state == HS_RESP_SENT && !p->established && now_us >= p->hs_retry_us) {
        peer_free(p); /* the initiator never finished */
        return 1;
    } else if (p->hs_state == HS_RESP_SENT && p->established && now_us >= p->hs_retry_us) {
        hs_clear(p);
        p->hs_state = HS_DONE;
    }
    if (p->hs_fin_unconfirmed && now_us >= p->hs_retry_us) {
        p->hs_attempts++;
        p->hs_pkt_due = 1;
        p->hs_retry_us = now_us + fin_retry_us(p);
    }
    if (!p->established)
        return 0;
    if (p->prev.valid && now_us >= p->prev_expire_us) {
        if (weft__u64map_get(&e->by_idx, p->prev.local_idx) == p)
            weft__u64map_del(&e->by_idx, p->prev.local_idx);
        wipe_keys(e, &p->prev);
    }
    if (weft__conn_on_timer(p, now_us)) {
        peer_down(e, p, WEFT_ERR_UNREACHABLE);
        return 1;
    }
    if (now_us >= p->last_app_us + (uint64_t)e->cfg.idle_timeout_ms * 1000 &&
        !p->queued_bytes) {
        peer_down(e, p, WEFT_ERR_EXPIRED);
        return 1;
    }
    maybe_rekey(e, p, now_us);
    return 0;
}

static void heap_push(weft__engine *e, weft__peer *p)
{
    p->heap_idx = e->heap_n;
    e->heap[e->heap_n++] = p;
    heap_fix(e, p->heap_idx);
}

int weft_engine_handle_expiry(weft_engine *e, uint64_t now_us)
{
    if (!e)
        return WEFT_ERR_INVAL;
    e->now_us = now_us;
    release_last(e);
    /* Take the due peers out first so each runs once per call: a peer
     * whose deadline stays due cannot make this loop spin. */
    size_t ndue = 0;
    while (e->heap_n && e->heap[0]->deadline_us <= now_us) {
        weft__peer *p = e->heap[0];
        heap_remove(e, p);
        e->due[ndue++] = p;
    }
    for (size_t i = 0; i < ndue; i++) {
        weft__peer *p = e->due[i];
        heap_push(e, p);
        if (!peer_timers(e, p, now_us))
            weft__peer_touch(p);
    }
    if (e->swim && weft__swim_expiry(e->swim) <= now_us) {
        int rc = weft__swim_handle_expiry(e->swim, now_us);
        weft__member_pump(e);
        if (rc <= WEFT_ERR_FATAL)
            return rc;
    }
    return 0;
}

int weft_engine_send(weft_engine *e, const weft_node_id *to, const void *msg,
                     size_t len, uint32_t flags, uint64_t now_us)
{
    if (!e || !to || (!msg && len) || (flags & ~0x0fu) ||
        (flags & WEFT_SEND_KIND_MASK) == WEFT_SEND_KIND_MASK)
        return WEFT_ERR_INVAL;
    e->now_us = now_us;
    release_last(e);
    weft__peer *p = find_peer(e, to);
    if (!p || !p->established)
        return WEFT_ERR_NO_PEER;
    int rc = weft__conn_queue(p, msg, len, flags, now_us);
    if (rc == 0)
        weft__peer_touch(p);
    return rc;
}

int weft_engine_close_peer(weft_engine *e, const weft_node_id *peer, uint64_t now_us)
{
    if (!e || !peer)
        return WEFT_ERR_INVAL;
    e->now_us = now_us;
    weft__peer *p = find_peer(e, peer);
    if (!p)
        return WEFT_ERR_NO_PEER;
    if (p->established && p->cur.valid) {
        /* One CLOSE, best effort: encrypt it now into the handshake slot
         * so the peer record can go immediately. */
        p->close_due = 1;
        p->close_reason = 0;
        uint8_t *pkt = weft__alloc(e->a, 128);
        if (pkt) {
            uint64_t pn = p->pn_next++;
            ptrdiff_t n = weft__conn_build(p, e->tx_buf, 128 - WEFT__DATA_OVERHEAD, pn, now_us);
            if (n > 0) {
                pkt[0] = WEFT__PKT_DATA;
                weft__put_u32(pkt + 1, p->cur.remote_idx);
                weft__put_u64(pkt + 5, pn);
                e->c->aead_seal(e->c->ctx, pkt + WEFT__DATA_HDR, p->cur.k_send, pn, pkt,
                                WEFT__DATA_HDR, e->tx_buf, (size_t)n);
                /* keep a detached peer only to carry this packet */
                weft__peer *z = peer_new(e, &p->addr);
                if (z) {
                    z->hs_pkt = pkt;
                    z->hs_pkt_len = (size_t)n + WEFT__DATA_OVERHEAD;
                    z->hs_pkt_due = 1;
                    z->hs_state = HS_RESP_SENT; /* expires on its own */
                    z->hs_retry_us = now_us + 1000000;
                    weft__peer_touch(z);
                    pkt = NULL;
                }
            }
            weft__free(e->a, pkt);
        }
    }
    weft__ev_push(e, WEFT_EV_PEER_DOWN, p, WEFT_ERR_PEER_CLOSED, 0, NULL, 0, NULL, 0);
    peer_free(p);
    return 0;
}
