/*
 * engine.c -- weft_engine: one node's kernel, sans-IO.
 *
 * The entry points of <weft/engine.h>: datagram dispatch (handshake types
 * to handshake.c, DATA to the session it names, module types to their
 * module), the peers and their timer heap, the send ring and the one-shot
 * datagram queue, sending and closing.  The reliable transport of one
 * session is conn.c; modules and events are host.c.  This file names no
 * protocol: membership and every later protocol reach it through
 * <weft/module.h>.  Byte layouts: docs/PROTOCOL.md.
 */
#include <string.h>

#include "core/engine_internal.h"
#include "base/cursor.h"
#include "base/util.h"

/* DATA: type, receiver index, packet number (the AEAD nonce), sealed
 * frames. */
enum { DATA_OFF_IDX = 1, DATA_OFF_PN = 5, DATA_OFF_CT = 13 };
_Static_assert(DATA_OFF_CT == WEFT__DATA_HDR, "DATA header layout");

static size_t config_size(int version)
{
    switch (version) {
    case WEFT_CONFIG_V1: return sizeof(weft_config);
    default: return 0;
    }
}

void weft_config_default_versioned(int version, weft_config *c)
{
    size_t n = config_size(version);
    if (!c || !n)
        return;
    weft_config d;
    memset(&d, 0, sizeof d);
    d.max_message_bytes = 16u << 20;
    d.max_sessions = 1024;
    d.max_queued_bytes = 64u << 20;
    d.recv_window_bytes = 32u << 20;
    d.unreachable_ms = 10000;
    d.idle_timeout_ms = 180000;
    d.keepalive_ms = 2000;
    d.rekey_after_ms = 120000;
    d.rekey_after_packets = 1ull << 60;
    d.handshake_rate_per_s = 1000;
    d.handshake_timeout_ms = 1000;
    d.mtu_initial = 1200;
    d.mtu_max = 65000;
    d.half_open_max = 256;
    d.half_open_per_addr = 8;
    memcpy(c, &d, n);
}

/* ------------------------------------------------------------------------ */
/* Engine lifecycle                                                          */

int weft_engine_new_versioned(weft_engine **out, int config_version,
                              const weft_config *cfg, const weft_env *env, uint64_t now_us)
{
    if (!out)
        return WEFT_ERR_INVAL;
    *out = NULL;
    size_t csize = config_size(config_version);
    if (!csize)
        return WEFT_ERR_VERSION_MISMATCH;
    if (!cfg || !env || !env->crypto || !env->rand.fill)
        return WEFT_ERR_INVAL;
    weft_config c;
    weft_config_default(&c);
    memcpy(&c, cfg, csize);
    if (c.mtu_initial < 576 || c.mtu_max < c.mtu_initial || c.mtu_max > WEFT__MAX_PKT ||
        !c.max_sessions || c.max_message_bytes > (1u << 30) || !c.unreachable_ms ||
        !c.keepalive_ms || !c.handshake_timeout_ms || c.recv_window_bytes < 65536 ||
        !c.max_queued_bytes || !c.half_open_max || !c.half_open_per_addr)
        return WEFT_ERR_CONFIG;
    const weft_allocator *a = env->alloc;
    weft__engine *e = weft__calloc(a, sizeof *e);
    if (!e)
        return WEFT_ERR_NOMEM;
    e->cfg = c;
    e->env = *env;
    e->a = a;
    e->c = env->crypto;
    e->now_us = now_us;
    memcpy(e->id.key, c.identity_secret + 32, 32);
    weft__host_init(e);
    weft__u64map_init(&e->by_idx, a);
    weft__u64map_init(&e->by_id, a);
    weft__bufpool_init(&e->pool, a);
    e->conn_env = (weft__conn_env){a, &e->cfg, &e->pool, &e->st, &e->scratch, &e->scratch_cap,
                                   weft__host_deliver, weft__host_outcome, e};
    e->hs_tokens = c.handshake_rate_per_s;
    e->hs_tokens_us = now_us;
    int rc = weft__hs_keys_init(e);
    e->rx_buf = weft__alloc(a, WEFT__MAX_PKT + 64);
    e->tx_buf = weft__alloc(a, WEFT__MAX_PKT + 64);
    if (rc == 0 && (!e->rx_buf || !e->tx_buf))
        rc = WEFT_ERR_NOMEM;
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
    while (e->npeers)
        weft__peer_free(e, e->peers[0], 0);
    weft__host_free(e);
    while (e->oneshot_n) {
        weft__free(e->a, e->oneshot[e->oneshot_head].buf);
        e->oneshot_head = (e->oneshot_head + 1) % WEFT__ONESHOT_MAX;
        e->oneshot_n--;
    }
    weft__bufpool_free(&e->pool);
    weft__free(e->a, e->ring);
    weft__free(e->a, e->heap);
    weft__free(e->a, e->due);
    weft__free(e->a, e->peers);
    weft__free(e->a, e->scratch);
    weft__u64map_free(&e->by_idx);
    weft__u64map_free(&e->by_id);
    weft__free(e->a, e->rx_buf);
    weft__free(e->a, e->tx_buf);
    e->c->wipe(e->c->ctx, e->x_sk, sizeof e->x_sk);
    e->c->wipe(e->c->ctx, e->psk, sizeof e->psk);
    e->c->wipe(e->c->ctx, e->mac1_key, sizeof e->mac1_key);
    e->c->wipe(e->c->ctx, e->cookie_key, sizeof e->cookie_key);
    e->c->wipe(e->c->ctx, e->cookie_secret, sizeof e->cookie_secret);
    e->c->wipe(e->c->ctx, e->cfg.identity_secret, sizeof e->cfg.identity_secret);
    e->c->wipe(e->c->ctx, e->cfg.network_key, sizeof e->cfg.network_key);
    weft__free(e->a, e);
}

const weft_node_id *weft_engine_id(const weft_engine *e)
{
    return &e->id;
}

static size_t stats_size(int version)
{
    return version == WEFT_STATS_V1 ? sizeof(weft_stats) : 0;
}

void weft_engine_stats_versioned(const weft_engine *e, int version, weft_stats *st)
{
    size_t n = stats_size(version);
    if (e && st && n)
        memcpy(st, &e->st, n);
}

static void fill_info(const weft__peer *p, weft_peer_info *out)
{
    memset(out, 0, sizeof *out);
    out->id = p->id;
    out->addr = p->addr;
    out->established = p->established;
    out->srtt_us = (uint32_t)p->conn.rtt.smoothed_us;
    out->rttvar_us = (uint32_t)p->conn.rtt.var_us;
    out->min_rtt_us = (uint32_t)p->conn.rtt.min_us;
    out->cwnd_bytes = (uint32_t)WEFT__MIN(p->conn.cc.cwnd, UINT32_MAX);
    out->mtu = p->conn.mtu;
    out->bytes_in_flight = p->conn.cc.bytes_in_flight;
    out->queued_bytes = p->conn.queued_bytes;
    out->queued_msgs = p->conn.live_n;
    out->receipts_pending = (uint32_t)p->conn.awaiting.n;
}

int weft_engine_peer_info(const weft_engine *e, const weft_node_id *id,
                          weft_peer_info *out)
{
    if (!e || !id || !out)
        return WEFT_ERR_INVAL;
    const weft__peer *p = weft__peer_find(e, id);
    if (!p)
        return WEFT_ERR_NO_PEER;
    fill_info(p, out);
    return 0;
}

size_t weft_engine_peer_count(const weft_engine *e)
{
    return e ? e->nestablished : 0;
}

int weft_engine_peer_at(const weft_engine *e, size_t i, weft_peer_info *out)
{
    if (!e || !out)
        return WEFT_ERR_INVAL;
    for (size_t k = 0; k < e->npeers; k++) {
        const weft__peer *p = e->peers[k];
        if (!p->established)
            continue;
        if (i-- == 0) {
            fill_info(p, out);
            return 0;
        }
    }
    return WEFT_ERR_NOT_FOUND;
}

int weft_engine_poll(weft_engine *e, weft_event *ev)
{
    weft__ev_release_last(e);
    if (!e->evq_n) {
        memset(ev, 0, sizeof *ev);
        return 0;
    }
    weft__event_q *q = &e->evq[e->evq_head];
    e->evq_head = (e->evq_head + 1) & (e->evq_cap - 1);
    e->evq_n--;
    if (e->evq_unnotified > e->evq_n)
        e->evq_unnotified = e->evq_n; /* polled before modules heard: fine */
    *ev = q->ev;
    e->last_owned = q->owned;
    e->last_owned_cap = q->owned_cap;
    if (q->peer) {
        /* Credit returns once the application has taken the message: a
         * receiver that does not poll stops its senders.  A receipt, when
         * asked, says the application has it. */
        weft__peer *p = q->peer;
        int out = weft__conn_consumed(&p->conn, ev->u.message.len);
        if (q->receipt)
            out |= weft__conn_receipt(&p->conn, q->lane, q->lane_msg_id);
        if (out)
            weft__peer_touch(e, p);
    }
    return 1;
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
    weft__rd r;
    weft__rd_init(&r, pkt, len);
    weft__rd_skip(&r, DATA_OFF_IDX);
    uint32_t idx = weft__rd_u32(&r);
    uint64_t pn = weft__rd_u64(&r);
    weft__peer *p = weft__u64map_get(&e->by_idx, idx);
    weft__keys *k = NULL;
    if (p && p->cur.valid && p->cur.local_idx == idx)
        k = &p->cur;
    else if (p && p->prev.valid && p->prev.local_idx == idx)
        k = &p->prev;
    if (!k || !p->conn.live) {
        e->st.drop_unknown++;
        return WEFT_ERR_UNKNOWN_SESSION;
    }
    if (weft__replay_check(&k->replay, pn) < 0) {
        e->st.drop_replay++;
        return WEFT_ERR_REPLAY;
    }
    int rc = weft__ev_detach_rx(e);
    if (rc < 0)
        return rc; /* not processed: the sender resends */
    size_t plen = len - WEFT__DATA_OVERHEAD;
    if (e->c->aead_open(e->c->ctx, e->rx_buf, k->k_recv, pn, pkt, WEFT__DATA_HDR,
                        pkt + DATA_OFF_CT, len - DATA_OFF_CT) < 0) {
        e->st.drop_decrypt++;
        return WEFT_ERR_DECRYPT;
    }
    /* Room for every event the packet can produce, before any state moves
     * (a cheap bound first: an event takes at least 7 bytes of frames). */
    if (e->evq_cap - e->evq_n < plen / 7 + 1 || e->inbox_cap - e->inbox_n < plen / 7 + 1) {
        size_t n = weft__frame_count_events(e->rx_buf, plen);
        if (weft__ev_reserve(e, n) < 0 || weft__host_inbox_reserve(e, n) < 0)
            return WEFT_ERR_NOMEM; /* not acknowledged: resent */
    }
    weft__replay_update(&k->replay, pn);
    /* Authenticated: the peer may have moved (roaming, NAT rebinding). */
    p->addr = *from;
    if (p->hs.fin_unconfirmed && k == &p->cur) {
        p->hs.fin_unconfirmed = 0;
        weft__hs_clear(e, p);
    }
    rc = weft__conn_on_packet(&p->conn, pn, e->rx_buf, plen, now_us);
    if (rc == WEFT_ERR_PEER_CLOSED) {
        weft__peer_down(e, p, WEFT_ERR_PEER_CLOSED);
        return 0;
    }
    if (rc == WEFT_ERR_PROTO)
        e->st.drop_malformed++;
    weft__peer_touch(e, p);
    return rc == WEFT_ERR_AGAIN ? 0 : rc;
}

int weft_engine_recv(weft_engine *e, const weft_addr *from, const uint8_t *pkt,
                     size_t len, uint64_t now_us)
{
    if (!e || !from || (!pkt && len))
        return WEFT_ERR_INVAL;
    e->now_us = now_us;
    weft__ev_release_last(e);
    e->st.pkts_in++;
    e->st.bytes_in += len;
    if (len < 1) {
        e->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    int rc;
    uint8_t type = pkt[0];
    weft__api_enter(e, now_us);
    if (type == WEFT__PKT_DATA) {
        rc = on_data(e, from, pkt, len, now_us);
    } else if (type >= WEFT__PKT_HS_INIT && type <= WEFT__PKT_COOKIE && len >= 2) {
        rc = weft__hs_recv(e, from, pkt, len, now_us);
    } else if (type <= WEFT_PKT_MODULE_MAX && e->pkt_owner[type] >= 0) {
        const weft__module *md = &e->mods[e->pkt_owner[type]];
        rc = md->ops->on_datagram ? md->ops->on_datagram(md->m, from, pkt, len, now_us)
                                  : WEFT_ERR_PROTO;
    } else {
        e->st.drop_malformed++;
        rc = WEFT_ERR_PROTO;
    }
    weft__api_leave(e, 0);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Output                                                                    */

/* Seals plaintext frames of packet pn for p into out (header + ciphertext).
 * Returns the datagram length. */
static size_t seal_data(weft__engine *e, weft__peer *p, uint64_t pn, uint8_t *out,
                        const uint8_t *pt, size_t ptlen)
{
    weft__wr w;
    weft__wr_init(&w, out, WEFT__DATA_HDR);
    weft__wr_u8(&w, WEFT__PKT_DATA);
    weft__wr_u32(&w, p->cur.remote_idx);
    weft__wr_u64(&w, pn);
    e->c->aead_seal(e->c->ctx, out + DATA_OFF_CT, p->cur.k_send, pn, out, WEFT__DATA_HDR,
                    pt, ptlen);
    return ptlen + WEFT__DATA_OVERHEAD;
}

ptrdiff_t weft_engine_write(weft_engine *e, weft_addr *to, uint8_t *buf,
                            size_t cap, uint64_t now_us)
{
    if (!e || !to || !buf)
        return WEFT_ERR_INVAL;
    e->now_us = now_us;
    weft__ev_release_last(e);
    if (e->oneshot_n) {
        weft__oneshot *o = &e->oneshot[e->oneshot_head];
        if (cap < o->len)
            return WEFT_ERR_BUFSMALL;
        memcpy(buf, o->buf, o->len);
        *to = o->to;
        size_t n = o->len;
        weft__free(e->a, o->buf);
        o->buf = NULL;
        e->oneshot_head = (e->oneshot_head + 1) % WEFT__ONESHOT_MAX;
        e->oneshot_n--;
        e->st.pkts_out++;
        e->st.bytes_out += n;
        return (ptrdiff_t)n;
    }
    /* modules first: membership probes must not queue behind bulk data */
    for (size_t i = 0; i < e->nmods; i++) {
        const weft__module *md = &e->mods[i];
        if (!md->ops->write)
            continue;
        ptrdiff_t n = md->ops->write(md->m, to, buf, cap, now_us);
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
        if (p->hs.pkt_due && p->hs.pkt) {
            if (cap < p->hs.pkt_len) {
                weft__peer_touch(e, p); /* back in the ring: it is still due */
                return WEFT_ERR_BUFSMALL;
            }
            memcpy(buf, p->hs.pkt, p->hs.pkt_len);
            *to = p->addr;
            p->hs.pkt_due = 0;
            size_t n = p->hs.pkt_len;
            weft__peer_touch(e, p);
            e->st.pkts_out++;
            e->st.bytes_out += n;
            return (ptrdiff_t)n;
        }
        if (!p->established || !p->cur.valid)
            continue;
        weft__hs_maybe_rekey(e, p, now_us);
        if (p->conn.pn_next - p->cur.first_pn >= e->cfg.rekey_after_packets)
            continue; /* hard limit for these keys: wait for the rekey */
        if (cap < WEFT__DATA_OVERHEAD + 64) {
            weft__peer_touch(e, p);
            return WEFT_ERR_BUFSMALL;
        }
        uint64_t pn = p->conn.pn_next;
        ptrdiff_t n = weft__conn_build(&p->conn, e->tx_buf, cap - WEFT__DATA_OVERHEAD, pn, now_us);
        if (n < 0) {
            weft__peer_touch(e, p); /* out of memory: its timer retries */
            return n;
        }
        if (n == 0) {
            weft__peer_touch(e, p); /* maybe paced: the timer brings it back */
            continue;
        }
        size_t total = seal_data(e, p, pn, buf, e->tx_buf, (size_t)n);
        *to = p->addr;
        weft__peer_touch(e, p);
        e->st.pkts_out++;
        e->st.bytes_out += total;
        return (ptrdiff_t)total;
    }
    return 0;
}

uint64_t weft_engine_expiry(const weft_engine *e)
{
    uint64_t t = e->heap_n ? e->heap[0]->deadline_us : UINT64_MAX;
    for (size_t i = 0; i < e->nmods; i++) {
        const weft__module *md = &e->mods[i];
        if (md->ops->expiry) {
            uint64_t m = md->ops->expiry(md->m);
            if (m < t)
                t = m;
        }
    }
    return t;
}

/* Runs one peer's due timers.  Returns 1 when the peer was freed. */
static int peer_timers(weft__engine *e, weft__peer *p, uint64_t now_us)
{
    if (weft__hs_timers(e, p, now_us))
        return 1;
    if (!p->established)
        return 0;
    if (weft__conn_on_timer(&p->conn, now_us)) {
        weft__peer_down(e, p, WEFT_ERR_UNREACHABLE);
        return 1;
    }
    if (now_us >= p->conn.last_app_us + (uint64_t)e->cfg.idle_timeout_ms * 1000 &&
        !p->conn.queued_bytes && !p->conn.awaiting.n) {
        weft__peer_down(e, p, WEFT_ERR_EXPIRED);
        return 1;
    }
    weft__hs_maybe_rekey(e, p, now_us);
    return 0;
}

int weft_engine_handle_expiry(weft_engine *e, uint64_t now_us)
{
    if (!e)
        return WEFT_ERR_INVAL;
    e->now_us = now_us;
    weft__ev_release_last(e);
    /* Take the due peers out first so each runs once per call: a peer
     * whose deadline stays due cannot make this loop spin. */
    size_t ndue = 0;
    while (e->heap_n && e->heap[0]->deadline_us <= now_us) {
        weft__peer *p = e->heap[0];
        weft__heap_remove(e, p);
        e->due[ndue++] = p;
    }
    weft__api_enter(e, now_us);
    for (size_t i = 0; i < ndue; i++) {
        weft__peer *p = e->due[i];
        weft__heap_push(e, p);
        if (!peer_timers(e, p, now_us)) /* frees at most p itself */
            weft__peer_touch(e, p);
    }
    int rc = 0;
    for (size_t i = 0; i < e->nmods; i++) {
        const weft__module *md = &e->mods[i];
        if (md->ops->expiry && md->ops->handle_expiry && md->ops->expiry(md->m) <= now_us) {
            int r = md->ops->handle_expiry(md->m, now_us);
            if (r <= WEFT_ERR_FATAL)
                rc = r;
        }
    }
    weft__api_leave(e, 0);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Sessions and messages                                                     */

int weft_engine_connect(weft_engine *e, const weft_addr *addr, uint64_t now_us)
{
    if (!e || !addr || (addr->family != 4 && addr->family != 6) || addr->port == 0)
        return WEFT_ERR_INVAL;
    weft__api_enter(e, now_us);
    int rc = 0;
    for (size_t i = 0; i < e->npeers; i++) {
        weft__peer *q = e->peers[i];
        if (weft_addr_eq(&q->addr, addr) && (q->established || q->hs.state == HS_INIT_SENT)) {
            if (!q->established)
                q->connect_pending = 1;
            goto out; /* already connected or dialling */
        }
    }
    if (e->nestablished >= e->cfg.max_sessions) {
        rc = WEFT_ERR_LIMIT;
        goto out;
    }
    weft__peer *p = weft__peer_new(e, addr);
    if (!p) {
        rc = WEFT_ERR_NOMEM;
        goto out;
    }
    p->connect_pending = 1;
    rc = weft__hs_start(e, p, now_us);
    if (rc < 0)
        weft__peer_free(e, p, 0);
out:
    weft__api_leave(e, rc == 0);
    return rc;
}

/* A session opened on demand for `to`, at the address a module (the
 * membership) resolves it to.  NULL when no module knows it. */
static weft__peer *dial_on_demand(weft__engine *e, const weft_node_id *to, uint64_t now_us,
                                  int *rc)
{
    weft_addr addr;
    int found = 0;
    for (size_t i = 0; i < e->nmods && !found; i++) {
        const weft__module *md = &e->mods[i];
        found = md->ops->resolve && md->ops->resolve(md->m, to, &addr) == 0;
    }
    *rc = WEFT_ERR_NO_PEER;
    if (!found || memcmp(to->key, e->id.key, 32) == 0)
        return NULL;
    if (e->nestablished >= e->cfg.max_sessions) {
        *rc = WEFT_ERR_LIMIT;
        return NULL;
    }
    weft__peer *p = weft__peer_new(e, &addr);
    *rc = WEFT_ERR_NOMEM;
    if (!p)
        return NULL;
    p->id = *to;
    p->has_id = 1;
    p->connect_pending = 1;
    if (weft__u64map_put(&e->by_id, weft__id_key(to), p) < 0 ||
        (*rc = weft__hs_start(e, p, now_us)) < 0) {
        weft__peer_free(e, p, 0);
        if (*rc == 0)
            *rc = WEFT_ERR_NOMEM;
        return NULL;
    }
    *rc = 0;
    return p;
}

int64_t weft_engine_send(weft_engine *e, const weft_node_id *to, uint16_t channel,
                         const void *msg, size_t len, uint32_t flags, uint64_t now_us)
{
    if (!e || !to || (!msg && len) || (flags & ~(uint32_t)WEFT__MSG_FLAGS_MASK) ||
        (flags & WEFT_SEND_KIND_MASK) == WEFT_SEND_KIND_MASK || channel == 0 ||
        ((flags & WEFT_SEND_RECEIPT) &&
         (flags & WEFT_SEND_KIND_MASK) == WEFT_SEND_UNRELIABLE))
        return WEFT_ERR_INVAL;
    weft__api_enter(e, now_us);
    int rc = 0;
    weft__peer *p = weft__peer_find(e, to);
    if (!p)
        p = dial_on_demand(e, to, now_us, &rc);
    uint64_t id = 0;
    if (p) {
        id = ++e->next_app_id;
        rc = weft__conn_queue(&p->conn, channel, msg, len, flags, id, now_us);
        if (rc == 0)
            weft__peer_touch(e, p);
    }
    weft__api_leave(e, rc == 0);
    return rc < 0 ? rc : (int64_t)id;
}

int weft_engine_close_peer(weft_engine *e, const weft_node_id *peer, uint64_t now_us)
{
    if (!e || !peer)
        return WEFT_ERR_INVAL;
    weft__api_enter(e, now_us);
    weft__peer *p = weft__peer_find(e, peer);
    if (!p) {
        weft__api_leave(e, 0);
        return WEFT_ERR_NO_PEER;
    }
    if (p->established && p->cur.valid) {
        /* One CLOSE, best effort, sealed now into the one-shot queue so
         * the peer record can go at once. */
        uint8_t pkt[256];
        weft__conn_close(&p->conn, 0);
        uint64_t pn = p->conn.pn_next;
        ptrdiff_t n = weft__conn_build(&p->conn, e->tx_buf, 128, pn, now_us);
        if (n > 0)
            weft__oneshot_push(e, &p->addr, pkt,
                               seal_data(e, p, pn, pkt, e->tx_buf, (size_t)n));
    }
    weft__peer_down(e, p, WEFT_ERR_PEER_CLOSED);
    weft__api_leave(e, 1);
    return 0;
}
