/*
 * swim.c -- the membership instance: configuration, lifecycle, the four
 * sans-IO entry points (recv, write, expiry, handle_expiry), dispatch of
 * decoded messages to the parts that handle them, dissemination of
 * updates, events and the public getters (swim.h, docs/MEMBERSHIP.md).
 *
 * SWIM (Das, Gupta, Motivala 2002) §4 with the Lifeguard refinements
 * (Dadgar, Phillips, Currey 2017) §3; the parts are listed in
 * swim_internal.h.  What lives here:
 *   - `outq`: control messages (ping, ack, ...) waiting for write(); the
 *     piggyback is added at write() time so that it is as fresh as
 *     possible (SWIM §4.1: dissemination rides on the failure detector's
 *     messages), then full-state chunks (pushpull.c) go out;
 *   - the broadcast queue (src/gossip/queue.h, after memberlist's
 *     TransmitLimitedQueue): pending updates keyed by member id, so at most
 *     one per member, encoded from the member's current record at send
 *     time (an entry is a reference, not a copy), each sent
 *     retransmit_mult * ceil(log10(N+1)) times (SWIM §4.1);
 *   - timers: handle_expiry() runs the sweep of suspicion deadlines, the
 *     probe round, relays, gossip ticks, push-pull and reconnects.
 * Per-packet work is O(1) in the number of members (hash lookups; the
 * broadcast queue has a fixed cap), except push-pull merging, which is
 * O(entries in the chunk).
 */
#include "membership/swim_internal.h"

/* ---- configuration -------------------------------------------------------- */

void weft__swim_config_lan(weft__swim_config *c)
{
    memset(c, 0, sizeof *c);
    c->probe_interval_ms = 200;
    c->probe_timeout_ms = 100;
    c->indirect_checks = 3;
    c->gossip_interval_ms = 50;
    c->gossip_fanout = 3;
    c->retransmit_mult = 4;
    c->suspicion_mult = 4;
    c->suspicion_max_mult = 6;
    c->awareness_max = 8;
    c->pushpull_interval_ms = 15000;
    c->reconnect_interval_ms = 2000;
    c->dead_retain_ms = 60000;
    c->gossip_to_dead_ms = 10000;
    c->join_retry_ms_min = 250;
    c->join_retry_ms_max = 8000;
    c->max_members = 4096;
    c->broadcast_max = 2048;
    c->event_max = 1024;
    c->out_queue_max = 128;
    c->relay_max = 32;
    c->packet_bytes = 1200;
    c->incarnation_start = 0;
}

void weft__swim_config_wan(weft__swim_config *c)
{
    weft__swim_config_lan(c);
    c->probe_interval_ms = 5000;
    c->probe_timeout_ms = 3000;
    c->gossip_interval_ms = 500;
    c->gossip_fanout = 4;
    c->retransmit_mult = 4;
    c->suspicion_mult = 6;
    c->suspicion_max_mult = 6;
    c->pushpull_interval_ms = 60000;
    c->reconnect_interval_ms = 30000;
    c->dead_retain_ms = 300000;
    c->gossip_to_dead_ms = 60000;
    c->join_retry_ms_min = 1000;
    c->join_retry_ms_max = 60000;
}

static int config_ok(const weft__swim_config *c)
{
    /* a packet must hold a sender id, a push-pull header and the largest
     * entry (a claim with full metadata) */
    size_t min_packet = WEFT__SWIM_OVERHEAD + WEFT__SWIM_PAYLOAD_HDR_BYTES +
                        WEFT__SWIM_MSG_HDR_BYTES + 1 + 4 + WEFT__SWIM_CLAIM_MAX_BYTES;
    return c->probe_interval_ms > 0 && c->probe_timeout_ms > 0 &&
           c->probe_timeout_ms < c->probe_interval_ms &&
           c->gossip_interval_ms > 0 && c->retransmit_mult > 0 &&
           c->suspicion_mult >= 1 && c->suspicion_max_mult >= 1 &&
           c->awareness_max <= 8 && c->max_members >= 1 &&
           c->broadcast_max >= 1 && c->event_max >= 1 &&
           c->out_queue_max >= 4 && c->relay_max >= 1 &&
           c->join_retry_ms_min > 0 &&
           c->join_retry_ms_max >= c->join_retry_ms_min &&
           c->packet_bytes >= min_packet && c->packet_bytes <= 65507;
}

/* ---- events --------------------------------------------------------------- */

void weft__swim_emit(weft__swim *s, int type, const weft__swim_member *m)
{
    if (s->ev_len == s->cfg.event_max) {
        s->st.event_drops++;
        return;
    }
    weft__swim_event *ev = &s->events[(s->ev_head + s->ev_len++) % s->cfg.event_max];
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->id = m->id;
    ev->addr = m->addr;
    ev->incarnation = m->inc;
    weft__swim_member_info mi;
    weft__swim_member_info_fill(m, 0, &mi);
    memcpy(ev->name, mi.name, WEFT__MIN(mi.name_len, (size_t)WEFT__SWIM_NAME_MAX));
}

int weft__swim_poll(weft__swim *s, weft__swim_event *ev)
{
    if (!s->ev_len)
        return 0;
    *ev = s->events[s->ev_head];
    s->ev_head = (s->ev_head + 1) % s->cfg.event_max;
    s->ev_len--;
    return 1;
}

/* ---- dissemination (SWIM §4.1) -------------------------------------------- */

/* Priority classes of the broadcast queue: updates about ourselves
 * (refutations, new metadata, leave) first, then urgent ones (suspicions,
 * deaths, leaves, refutations of others: they race a suspicion timeout),
 * then routine ones (joins, metadata).  When a thousand members join at
 * once, routine join claims would otherwise delay a refutation past its
 * deadline. */
enum { CLASS_ROUTINE = 0, CLASS_URGENT = 1, CLASS_SELF = 2 };

/* Queue payload: the update's kind and, for SUSPECT/DEAD, the accuser.
 * The message itself is encoded at send time from the member's record. */
enum { UPD_KIND = 0, UPD_FROM = 1, UPD_BYTES = 1 + WEFT_ID_BYTES };
_Static_assert(UPD_BYTES + WEFT_ID_BYTES <= WEFT__GOSSIP_INLINE_BYTES,
               "updates are kept inline in the queue");

static ptrdiff_t encode_queued(void *ctx, const weft__gossip_view *v, uint8_t *buf,
                               size_t room);

/* Queues (or replaces) the update about id: at most one per member, the
 * newest wins and starts with zero transmissions (the queue's key
 * invalidation).  When the queue is full the least valuable entry is
 * dropped and counted (broadcast_drops). */
void weft__swim_bcast_u(weft__swim *s, int kind, const weft_node_id *id,
                        const weft_node_id *from, int urgent)
{
    uint8_t upd[UPD_BYTES];
    weft__wr w;
    weft__wr_init(&w, upd, sizeof upd);
    weft__wr_u8(&w, (uint8_t)kind);                              /* UPD_KIND */
    weft__wr_bytes(&w, (from ? from : &s->self.id)->key, WEFT_ID_BYTES); /* UPD_FROM */
    weft__gossip_item it = {
        .key = id->key,
        .key_len = WEFT_ID_BYTES,
        .payload = upd,
        .payload_len = sizeof upd,
        .encode = encode_queued,
        .cls = weft__swim_id_eq(id, &s->self.id) ? CLASS_SELF
               : urgent                          ? CLASS_URGENT
                                                 : CLASS_ROUTINE,
    };
    int rc = weft__gossip_put(s->bq, &it);
    if (rc == WEFT_ERR_NOMEM) /* cannot happen: updates are inline */
        s->bcast_nomem++;
}

/* Encodes the update of `kind` about id through w.  Returns bytes written,
 * 0 when it does not fit, or -1 when it is obsolete (member forgotten, or
 * its state no longer the one the update announces). */
static ptrdiff_t encode_update(weft__swim *s, int kind, const weft_node_id *id,
                               const weft_node_id *from, weft__wr *w)
{
    const weft__swim_member *m = weft__swim_lookup(s, id);
    if (!m)
        return -1;
    size_t need, at = w->pos;
    switch (kind) {
    case WEFT__SWIM_MSG_ALIVE: {
        if (m->state == WEFT__SWIM_LEFT)
            return -1;
        weft__swim_claim c;
        weft__swim_member_claim(m, &c);
        need = WEFT__SWIM_MSG_HDR_BYTES + weft__swim_claim_bytes(&c);
        if (need > weft__wr_room(w))
            return 0;
        weft__swim_alive_create(w, &c);
        break;
    }
    case WEFT__SWIM_MSG_SUSPECT:
    case WEFT__SWIM_MSG_DEAD: {
        if (WEFT__SWIM_UPDATE_MIN_BYTES > weft__wr_room(w))
            return 0;
        weft__swim_accuse a = {.id = m->id, .inc = m->inc, .from = *from};
        weft__swim_accuse_create(w, kind, &a);
        break;
    }
    case WEFT__SWIM_MSG_LEAVE: {
        if (m->state != WEFT__SWIM_LEFT)
            return -1;
        if (WEFT__SWIM_MSG_HDR_BYTES + WEFT__SWIM_LEAVE_BYTES > weft__wr_room(w))
            return 0;
        weft__swim_leave_msg l = {.id = m->id, .inc = m->inc,
                                  .sig = m == &s->self ? s->leave_sig : m->sig};
        weft__swim_leave_create(w, &l);
        break;
    }
    default:
        return -1;
    }
    return (ptrdiff_t)(w->pos - at);
}

/* The broadcast queue's encoder (gossip/queue.h): key = member id. */
static ptrdiff_t encode_queued(void *ctx, const weft__gossip_view *v, uint8_t *buf,
                               size_t room)
{
    weft__swim *s = ctx;
    weft__rd r;
    weft__wr w;
    weft_node_id id, from;
    weft__rd_init(&r, v->key, v->key_len);
    weft__rd_copy(&r, id.key, WEFT_ID_BYTES);
    weft__rd_init(&r, v->payload, v->payload_len);
    int kind = weft__rd_u8(&r);
    weft__rd_copy(&r, from.key, WEFT_ID_BYTES);
    if (!weft__rd_ok(&r))
        return WEFT__GOSSIP_OBSOLETE; /* not ours: cannot happen */
    weft__wr_init(&w, buf, room);
    ptrdiff_t n = encode_update(s, kind, &id, &from, &w);
    return n < 0 ? WEFT__GOSSIP_OBSOLETE : n;
}

/* Appends pending updates through w until room runs out (gossip/queue.h:
 * class, then fewest transmissions; each is sent retransmit_mult *
 * ceil(log10(N + 1)) times).  Returns bytes appended. */
static size_t fill_piggyback(weft__swim *s, weft__wr *w)
{
    size_t room = weft__wr_room(w);
    uint8_t *at = weft__wr_take(w, 0);
    if (!at)
        return 0;
    size_t n = weft__gossip_fill(s->bq, at, room, weft__swim_live_count(s));
    weft__wr_take(w, n);
    return n;
}

/* ---- output --------------------------------------------------------------- */

int weft__swim_out_push(weft__swim *s, const weft_addr *to, const uint8_t *msg,
                        size_t len, int flags)
{
    if (to->family != 4 && to->family != 6)
        return WEFT_ERR_INVAL;
    if (s->out_len == s->cfg.out_queue_max) {
        s->st.out_drops++;
        return WEFT_ERR_AGAIN;
    }
    weft__swim_outmsg *o = &s->outq[(s->out_head + s->out_len++) % s->cfg.out_queue_max];
    o->to = *to;
    o->len = (uint16_t)len;
    o->flags = (uint8_t)flags;
    if (len)
        memcpy(o->msg, msg, len);
    return 0;
}

static ptrdiff_t seal(weft__swim *s, uint8_t *buf, const uint8_t *pt, size_t ptlen)
{
    size_t n = weft__swim_seal(s->cr, &s->env->rand, s->mkey, buf, pt, ptlen);
    s->st.pkts_out++;
    s->st.bytes_out += n;
    return (ptrdiff_t)n;
}

ptrdiff_t weft__swim_write(weft__swim *s, weft_addr *to, uint8_t *buf,
                           size_t cap, uint64_t now_us)
{
    (void)now_us;
    size_t limit = WEFT__MIN(cap, (size_t)s->cfg.packet_bytes);
    if (limit < s->cfg.packet_bytes)
        return WEFT_ERR_BUFSMALL;
    size_t room = limit - WEFT__SWIM_OVERHEAD;
    while (s->out_len) {
        weft__swim_outmsg *o = &s->outq[s->out_head];
        s->out_head = (s->out_head + 1) % s->cfg.out_queue_max;
        s->out_len--;
        weft__wr w;
        weft__wr_init(&w, s->txbuf, room);
        weft__swim_payload_create(&w, &s->self.id);
        weft__wr_bytes(&w, o->msg, o->len);
        if ((o->flags & WEFT__SWIM_OUT_CLAIM) && !s->left)
            (void)encode_update(s, WEFT__SWIM_MSG_ALIVE, &s->self.id, NULL, &w);
        size_t pb = o->flags & WEFT__SWIM_OUT_PIGGYBACK ? fill_piggyback(s, &w) : 0;
        if (w.pos == WEFT__SWIM_PAYLOAD_HDR_BYTES)
            continue; /* a gossip packet with nothing left to say */
        if (o->len)
            s->st.bytes_piggyback += pb;
        else
            s->st.bytes_gossip += w.pos + WEFT__SWIM_OVERHEAD;
        *to = o->to;
        return seal(s, buf, s->txbuf, w.pos);
    }
    size_t n = weft__swim_pp_write(s, to, s->txbuf, room);
    return n ? seal(s, buf, s->txbuf, n) : 0;
}

/* ---- receiving ------------------------------------------------------------ */

/* Applies one decoded message of the payload.  Returns 0, WEFT_ERR_PROTO
 * (malformed: parsing stops) or another drop reason (parsing goes on). */
static int dispatch(weft__swim *s, const weft_addr *from, const weft_node_id *sender,
                    int type, weft__rd *body, uint64_t now_us)
{
    int err = 0;
    switch (type) {
    case WEFT__SWIM_MSG_PING: {
        weft__swim_ping m;
        if (weft__swim_ping_consume(body, &m) < 0)
            return WEFT_ERR_PROTO;
        weft__swim_on_ping(s, from, &m);
        break;
    }
    case WEFT__SWIM_MSG_PING_REQ: {
        weft__swim_ping m;
        if (weft__swim_ping_req_consume(body, &m) < 0)
            return WEFT_ERR_PROTO;
        weft__swim_on_ping_req(s, from, &m, now_us);
        break;
    }
    case WEFT__SWIM_MSG_ACK:
    case WEFT__SWIM_MSG_NACK: {
        uint32_t seq;
        if (weft__swim_seq_consume(body, &seq) < 0)
            return WEFT_ERR_PROTO;
        if (type == WEFT__SWIM_MSG_ACK)
            weft__swim_on_ack(s, from, seq, now_us);
        else
            weft__swim_on_nack(s, seq);
        break;
    }
    case WEFT__SWIM_MSG_ALIVE: {
        weft__swim_claim c;
        if (weft__swim_alive_consume(body, &c) < 0)
            return WEFT_ERR_PROTO;
        int r = weft__swim_apply_alive(s, &c, now_us);
        if (r < 0 && r != WEFT_ERR_LIMIT)
            err = r;
        break;
    }
    case WEFT__SWIM_MSG_SUSPECT:
    case WEFT__SWIM_MSG_DEAD: {
        weft__swim_accuse a;
        if (weft__swim_accuse_consume(body, &a) < 0)
            return WEFT_ERR_PROTO;
        if (type == WEFT__SWIM_MSG_SUSPECT)
            weft__swim_apply_suspect(s, &a, now_us);
        else
            weft__swim_apply_dead(s, &a, now_us);
        break;
    }
    case WEFT__SWIM_MSG_LEAVE: {
        weft__swim_leave_msg l;
        if (weft__swim_leave_consume(body, &l) < 0)
            return WEFT_ERR_PROTO;
        err = weft__swim_apply_leave(s, &l, now_us);
        break;
    }
    case WEFT__SWIM_MSG_PUSHPULL:
        weft__swim_on_pushpull(s, from, sender, body, now_us, &err);
        break;
    default:
        break; /* unknown types are skipped: later versions may add some */
    }
    return err;
}

/* Parses and applies a decrypted payload (docs §3). */
static int handle_plain(weft__swim *s, const weft_addr *from, const uint8_t *pt,
                        size_t len, uint64_t now_us)
{
    weft__rd r;
    weft_node_id sender;
    weft__rd_init(&r, pt, len);
    if (weft__swim_payload_consume(&r, &sender) < 0) {
        s->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    if (weft__swim_id_eq(&sender, &s->self.id))
        return 0; /* our own packet reflected back */
    weft__swim_member *sm = weft__swim_table_find(&s->table, &sender);
    if (sm)
        sm->last_contact_us = now_us;
    weft__swim_heard_from(s, from, sm, now_us);
    int err = 0, type, rc;
    weft__rd body;
    while ((rc = weft__swim_msg_next(&r, &type, &body)) == 1) {
        int e = dispatch(s, from, &sender, type, &body, now_us);
        if (e < 0)
            err = e;
        if (err == WEFT_ERR_PROTO)
            break;
    }
    if (rc < 0)
        err = WEFT_ERR_PROTO;
    if (err == WEFT_ERR_PROTO)
        s->st.drop_malformed++;
    return err;
}

int weft__swim_recv_plain(weft__swim *s, const weft_addr *from,
                          const uint8_t *pt, size_t len, uint64_t now_us)
{
    return handle_plain(s, from, pt, len, now_us);
}

int weft__swim_recv(weft__swim *s, const weft_addr *from, const uint8_t *pkt,
                    size_t len, uint64_t now_us)
{
    s->st.pkts_in++;
    s->st.bytes_in += len;
    int rc = weft__swim_header_check(pkt, len);
    if (rc == WEFT_ERR_VERSION) {
        s->st.drop_version++;
        return rc;
    }
    if (rc < 0) {
        s->st.drop_malformed++;
        return rc;
    }
    size_t ptlen = len - WEFT__SWIM_OVERHEAD;
    if (ptlen > s->rxcap) {
        uint8_t *nb = weft__realloc(s->env->alloc, s->rxbuf, ptlen);
        if (!nb)
            return WEFT_ERR_NOMEM;
        s->rxbuf = nb;
        s->rxcap = ptlen;
    }
    if (weft__swim_open(s->cr, s->mkey, pkt, len, s->rxbuf) < 0) {
        s->st.drop_bad_mac++;
        return WEFT_ERR_DECRYPT;
    }
    return handle_plain(s, from, s->rxbuf, ptlen, now_us);
}

/* ---- timers --------------------------------------------------------------- */

typedef struct gossip_ctx {
    uint64_t now_us, window_us;
} gossip_ctx;

/* Gossip goes to live members and, for gossip_to_dead_ms, to newly dead
 * ones (memberlist's GossipToTheDeadTime): a falsely accused member learns
 * of it and refutes. */
static int gossip_target_ok(const weft__swim_member *m, const void *ctx)
{
    const gossip_ctx *g = ctx;
    if (m->state == WEFT__SWIM_ALIVE || m->state == WEFT__SWIM_SUSPECT)
        return 1;
    return m->state == WEFT__SWIM_DEAD && g->now_us - m->since_us < g->window_us;
}

/* Queues a piggyback-only packet to up to fanout random members. */
static void gossip_to(weft__swim *s, int (*ok)(const weft__swim_member *, const void *),
                      const void *ctx)
{
    weft__swim_member *pick[16];
    uint32_t got = weft__swim_table_pick(&s->table, &s->rng, pick,
                                         WEFT__MIN(s->cfg.gossip_fanout, 16u), NULL, ok, ctx);
    for (uint32_t i = 0; i < got; i++)
        weft__swim_out_push(s, &pick[i]->addr, NULL, 0, WEFT__SWIM_OUT_PIGGYBACK);
}

int weft__swim_handle_expiry(weft__swim *s, uint64_t now_us)
{
    if (now_us >= s->next_sweep_us)
        weft__swim_sweep(s, now_us);
    weft__swim_probe_tick(s, now_us);
    if (now_us >= s->next_gossip_us) {
        s->next_gossip_us = now_us + weft__swim_ms_us(s->cfg.gossip_interval_ms);
        if (weft__gossip_count(s->bq)) {
            gossip_ctx g = {now_us, weft__swim_ms_us(s->cfg.gossip_to_dead_ms)};
            gossip_to(s, gossip_target_ok, &g);
        }
    }
    weft__swim_pp_tick(s, now_us);
    return 0;
}

uint64_t weft__swim_expiry(const weft__swim *s)
{
    uint64_t t = WEFT__MIN(s->next_gossip_us, s->next_sweep_us);
    t = weft__swim_probe_expiry(s, t);
    return weft__swim_pp_expiry(s, t);
}

/* ---- lifecycle and API ---------------------------------------------------- */

int weft__swim_new(weft__swim **out, const weft__swim_config *cfg,
                   const weft_env *env, const uint8_t identity_secret[64],
                   const uint8_t network_key[32], const weft_addr *self_addr,
                   uint64_t now_us)
{
    if (!out || !cfg || !env || !env->crypto || !env->rand.fill ||
        !identity_secret || !network_key)
        return WEFT_ERR_INVAL;
    if (!config_ok(cfg))
        return WEFT_ERR_CONFIG;
    weft__swim *s = weft__calloc(env->alloc, sizeof *s);
    if (!s)
        return WEFT_ERR_NOMEM;
    s->cfg = *cfg;
    s->env = env;
    s->cr = env->crypto;
    s->table.alloc = env->alloc;
    s->outq = weft__calloc(env->alloc, cfg->out_queue_max * sizeof *s->outq);
    s->relays = weft__calloc(env->alloc, cfg->relay_max * sizeof *s->relays);
    s->events = weft__calloc(env->alloc, cfg->event_max * sizeof *s->events);
    s->txbuf = weft__alloc(env->alloc, cfg->packet_bytes);
    if (!s->outq || !s->relays || !s->events || !s->txbuf) {
        weft__swim_del(s);
        return WEFT_ERR_NOMEM;
    }
    memcpy(s->secret, identity_secret, 64);
    memcpy(s->self.id.key, identity_secret + 32, 32);
    weft__swim_key_derive(s->cr, network_key, s->mkey);
    uint8_t seedb[24];
    weft__rd r;
    env->rand.fill(env->rand.ctx, seedb, sizeof seedb);
    weft__rd_init(&r, seedb, sizeof seedb);
    s->rng.s[0] = weft__rd_u64(&r) | 1;
    s->rng.s[1] = weft__rd_u64(&r);
    s->table.hash_salt = weft__rd_u64(&r);
    weft__gossip_config gc = {.cap = cfg->broadcast_max,
                              .retransmit_mult = cfg->retransmit_mult,
                              .hash_salt = s->table.hash_salt * 0x9e3779b97f4a7c15ULL + 1,
                              .ctx = s};
    int rc = weft__gossip_queue_new(&s->bq, &gc, env->alloc);
    if (rc < 0) {
        weft__swim_del(s);
        return rc;
    }
    if (self_addr)
        s->self.addr = *self_addr;
    s->self.state = WEFT__SWIM_ALIVE;
    s->self.since_us = now_us;
    weft__swim_self_resign(s, cfg->incarnation_start);
    s->next_sweep_us = UINT64_MAX;
    /* spread the first timers so that nodes started together do not tick
     * in lockstep */
    s->next_probe_us = now_us + weft__swim_rnd_below(&s->rng, cfg->probe_interval_ms * 1000) + 1;
    s->next_gossip_us = now_us + weft__swim_rnd_below(&s->rng, cfg->gossip_interval_ms * 1000) + 1;
    s->next_pp_us = now_us + weft__swim_ms_us(cfg->pushpull_interval_ms) / 2 +
                    weft__swim_rnd_below(&s->rng, cfg->pushpull_interval_ms * 1000 + 1);
    s->next_reconnect_us = now_us + weft__swim_ms_us(cfg->reconnect_interval_ms) +
                           weft__swim_rnd_below(&s->rng, cfg->reconnect_interval_ms * 1000 + 1);
    *out = s;
    return 0;
}

void weft__swim_del(weft__swim *s)
{
    if (!s)
        return;
    const weft_allocator *a = s->env->alloc;
    weft__swim_table_free(&s->table);
    weft__free(a, s->self.meta);
    weft__gossip_queue_del(s->bq);
    weft__free(a, s->outq);
    weft__free(a, s->relays);
    weft__free(a, s->events);
    weft__free(a, s->rxbuf);
    weft__free(a, s->txbuf);
    s->cr->wipe(s->cr->ctx, s->secret, sizeof s->secret);
    s->cr->wipe(s->cr->ctx, s->mkey, sizeof s->mkey);
    weft__free(a, s);
}

const weft_node_id *weft__swim_id(const weft__swim *s)
{
    return &s->self.id;
}

int weft__swim_set_addr(weft__swim *s, const weft_addr *addr, uint64_t now_us)
{
    (void)now_us;
    if (!addr || (addr->family != 4 && addr->family != 6))
        return WEFT_ERR_INVAL;
    if (weft_addr_eq(addr, &s->self.addr))
        return 0;
    int first = s->self.addr.family == 0;
    s->self.addr = *addr;
    weft__swim_self_resign(s, first ? s->self.inc : s->self.inc + 1);
    return 0;
}

int weft__swim_leave(weft__swim *s, uint64_t now_us)
{
    if (s->left)
        return WEFT_ERR_STATE;
    uint8_t msg[WEFT__SWIM_LEAVE_TBS_BYTES];
    uint32_t inc = s->self.inc + 1;
    weft__swim_leave_tbs(&s->self.id, inc, msg);
    s->cr->sign(s->cr->ctx, s->leave_sig, msg, sizeof msg, s->secret);
    s->self.inc = inc;
    s->self.state = WEFT__SWIM_LEFT;
    s->left = 1;
    weft__swim_bcast(s, WEFT__SWIM_MSG_LEAVE, &s->self.id, NULL);
    /* tell a few members right away rather than waiting for a gossip tick */
    gossip_to(s, weft__swim_is_alive, NULL);
    (void)now_us;
    return 0;
}

int weft__swim_set_meta(weft__swim *s, const char *name, const char *status,
                        const weft__swim_tag *tags, size_t ntags,
                        uint64_t now_us)
{
    (void)now_us;
    if (s->left)
        return WEFT_ERR_STATE;
    ptrdiff_t len = weft__swim_meta_create(NULL, name, status, tags, ntags);
    if (len < 0)
        return (int)len;
    uint8_t *meta = NULL;
    if (len > WEFT__SWIM_META_EMPTY_BYTES) {
        meta = weft__alloc(s->env->alloc, (size_t)len);
        if (!meta)
            return WEFT_ERR_NOMEM;
        weft__wr w;
        weft__wr_init(&w, meta, (size_t)len);
        (void)weft__swim_meta_create(&w, name, status, tags, ntags);
    }
    if ((meta == NULL && s->self.meta == NULL) ||
        (meta && s->self.meta && s->self.meta_len == len &&
         memcmp(meta, s->self.meta, (size_t)len) == 0)) {
        weft__free(s->env->alloc, meta);
        return 0; /* unchanged: no new incarnation */
    }
    weft__free(s->env->alloc, s->self.meta);
    s->self.meta = meta;
    s->self.meta_len = (uint16_t)(meta ? len : 0);
    weft__swim_self_resign(s, s->self.inc + 1);
    return 0;
}

size_t weft__swim_member_count(const weft__swim *s)
{
    return weft__swim_live_count(s);
}

int weft__swim_member_at(const weft__swim *s, size_t i, weft__swim_member_info *out)
{
    if (i > s->table.n)
        return WEFT_ERR_NOT_FOUND;
    if (i == 0)
        weft__swim_member_info_fill(&s->self, 1, out);
    else
        weft__swim_member_info_fill(&s->table.members[i - 1], 0, out);
    return 0;
}

int weft__swim_member_find(const weft__swim *s, const weft_node_id *id,
                           weft__swim_member_info *out)
{
    const weft__swim_member *m = weft__swim_lookup(s, id);
    if (!m)
        return WEFT_ERR_NOT_FOUND;
    weft__swim_member_info_fill(m, m == &s->self, out);
    return 0;
}

void weft__swim_counts_get(const weft__swim *s, weft__swim_counts *out)
{
    memset(out, 0, sizeof *out);
    uint32_t *slot[4] = {&out->alive, &out->suspect, &out->dead, &out->left};
    (*slot[s->self.state])++;
    for (uint32_t i = 0; i < s->table.n; i++)
        (*slot[s->table.members[i].state & 3])++;
}

void weft__swim_stats_get(const weft__swim *s, weft__swim_stats *out)
{
    weft__gossip_stats gs;
    weft__gossip_stats_get(s->bq, &gs);
    *out = s->st;
    out->broadcast_drops = gs.drops + s->bcast_nomem;
    out->awareness = s->awareness;
}

size_t weft__swim_member_sizeof(void)
{
    return sizeof(weft__swim_member);
}
