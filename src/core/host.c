/*
 * host.c -- the engine as a protocol host: registered modules, the event
 * queue, the inbox of module messages, and the services modules draw on
 * (<weft/module.h>).
 *
 * Dispatch is deferred, never re-entrant: while a packet is processed, the
 * transport hands whole messages to weft__host_deliver, which queues an
 * event (application channels) or an inbox entry (module channels).  Only
 * when the packet is done does weft__host_dispatch call the modules'
 * on_message, then tell every module of the events queued since (on_event),
 * which may queue more, until none are new (bounded).  So a module may
 * send, emit or close a session from any callback without pulling the
 * ground from under the code that called it.
 *
 * Room for events is reserved before a packet is fed (weft__ev_reserve): a
 * message the transport marked delivered always finds its slot.  When the
 * room cannot be had, the packet is refused unacknowledged and resent.
 */
#include <string.h>

#include "core/engine_internal.h"
#include "base/util.h"

#define NOTIFY_ROUNDS_MAX 4096 /* events modules may chain per entry point */

/* ------------------------------------------------------------------------ */
/* Event queue                                                               */

static int inbox_grow(weft__engine *e, size_t need)
{
    if (e->inbox_n + need <= e->inbox_cap)
        return 0;
    size_t ncap = e->inbox_cap ? e->inbox_cap : 16;
    while (ncap < e->inbox_n + need)
        ncap *= 2;
    weft__inbox *n = weft__realloc(e->a, e->inbox, ncap * sizeof *n);
    if (!n)
        return WEFT_ERR_NOMEM;
    e->inbox = n;
    e->inbox_cap = ncap;
    return 0;
}

int weft__host_inbox_reserve(weft__engine *e, size_t n)
{
    return e->nmods ? inbox_grow(e, n) : 0;
}

/* ------------------------------------------------------------------------ */
/* The transport's sinks                                                     */

int weft__host_channel_owner(const weft__engine *e, uint16_t channel)
{
    if (channel >= WEFT_CHANNEL_APP && !e->app_channel_mods)
        return -1;
    for (size_t i = 0; i < e->nmods; i++) {
        const weft_module_ops *o = e->mods[i].ops;
        if (o->channel_lo && channel >= o->channel_lo && channel <= o->channel_hi)
            return (int)i;
    }
    return -1;
}

int weft__host_deliver(void *ctx, weft__conn *c, const weft__delivery *d)
{
    weft__engine *e = ctx;
    weft__peer *p = weft__peer_of(c);
    int mod = weft__host_channel_owner(e, d->channel);
    if (mod < 0 && d->channel < WEFT_CHANNEL_APP) {
        /* a protocol channel nobody here speaks */
        e->st.drop_no_channel++;
        weft__bufpool_put(&e->pool, d->owned, d->len);
        return 1;
    }
    if (mod >= 0) {
        if (inbox_grow(e, 1) < 0) {
            e->st.events_dropped++;
            weft__bufpool_put(&e->pool, d->owned, d->len);
            return 1;
        }
        weft__inbox *b = &e->inbox[e->inbox_n++];
        b->from = p->id;
        b->channel = d->channel;
        b->flags = d->flags;
        b->in_rx = (uint8_t)d->in_rx;
        b->mod = mod;
        b->data = d->data;
        b->len = d->len;
        b->owned = d->owned;
        b->owned_cap = d->len;
        b->lane_msg_id = d->msg_id;
        return 1;
    }
    weft__event_q *q = weft__ev_push(e, WEFT_EV_MESSAGE, p, 0);
    if (!q) {
        weft__bufpool_put(&e->pool, d->owned, d->len);
        return 1;
    }
    q->ev.u.message.channel = d->channel;
    q->ev.u.message.flags = d->flags & (WEFT_SEND_PRIO_MASK | WEFT_SEND_KIND_MASK |
                                        WEFT_SEND_RECEIPT);
    q->ev.u.message.data = d->data;
    q->ev.u.message.len = d->len;
    q->owned = d->owned;
    q->owned_cap = d->len;
    q->in_rx = (uint8_t)d->in_rx;
    q->peer = p;
    q->receipt = (d->flags & WEFT__MSG_RECEIPT) != 0;
    q->lane = d->flags & WEFT__MSG_LANE_MASK;
    q->lane_msg_id = d->msg_id;
    q->notified = 1; /* modules are not told of application messages */
    return 0;
}

void weft__host_outcome(void *ctx, weft__conn *c, uint64_t app_id, uint16_t channel,
                        int err)
{
    weft__engine *e = ctx;
    weft__peer *p = weft__peer_of(c);
    weft__event_q *q = weft__ev_push(e, err ? WEFT_EV_SEND_FAILED : WEFT_EV_DELIVERED, p, err);
    if (!q)
        return;
    q->ev.u.delivery.msg_id = app_id;
    q->ev.u.delivery.channel = channel;
}

/* ------------------------------------------------------------------------ */
/* Dispatch to modules                                                       */

static void dispatch_inbox(weft__engine *e)
{
    for (size_t i = 0; i < e->inbox_n; i++) {
        weft__inbox *b = &e->inbox[i];
        const weft__module *md = &e->mods[b->mod];
        if (md->ops->on_message)
            md->ops->on_message(md->m, &b->from, b->channel, b->data, b->len, b->flags,
                                e->now_us);
        weft__bufpool_put(&e->pool, b->owned, b->owned_cap);
        b->owned = NULL;
        if (b->flags & WEFT__MSG_RECEIPT) {
            /* the module has it: that is delivery for module channels */
            weft__peer *p = weft__peer_find(e, &b->from);
            if (p && p->established &&
                weft__conn_receipt(&p->conn, b->flags & WEFT__MSG_LANE_MASK, b->lane_msg_id))
                weft__peer_touch(e, p);
        }
    }
    e->inbox_n = 0;
}

static void notify(weft__engine *e)
{
    size_t rounds = 0;
    while (e->evq_unnotified && rounds++ < NOTIFY_ROUNDS_MAX) {
        size_t idx = e->evq_n - e->evq_unnotified;
        weft__event_q *q = &e->evq[(e->evq_head + idx) & (e->evq_cap - 1)];
        e->evq_unnotified--;
        if (q->notified)
            continue;
        q->notified = 1;
        weft_event ev = q->ev; /* the queue may grow under the callbacks */
        int src = q->src;
        for (size_t i = 0; i < e->nmods; i++)
            if ((int)i != src && e->mods[i].ops->on_event)
                e->mods[i].ops->on_event(e->mods[i].m, &ev, e->now_us);
    }
    e->evq_unnotified = 0;
}

void weft__host_dispatch(weft__engine *e)
{
    if (e->inbox_n)
        dispatch_inbox(e);
    if (e->evq_unnotified)
        notify(e);
}

/* Every entry point is bracketed by these.  The outermost leave hands the
 * inbox and new events to the modules -- still counted as inside the
 * engine, so a module calling back in (weft_engine_send from on_message)
 * does not start a second dispatch -- and then wakes the driver once if
 * any call asked for it. */
void weft__api_enter(weft__engine *e, uint64_t now_us)
{
    e->now_us = now_us;
    e->api_depth++;
}

void weft__api_leave(weft__engine *e, int wake)
{
    e->wake_pending |= wake;
    if (e->api_depth > 1) {
        e->api_depth--;
        return;
    }
    weft__host_dispatch(e);
    e->api_depth = 0;
    if (e->wake_pending && e->env.wakeup) {
        e->wake_pending = 0;
        e->env.wakeup(e->env.wakeup_ctx);
    }
    e->wake_pending = 0;
}

/* ------------------------------------------------------------------------ */
/* Modules                                                                   */

void weft__host_init(weft__engine *e)
{
    memset(e->pkt_owner, -1, sizeof e->pkt_owner);
}

void weft__host_free(weft__engine *e)
{
    for (size_t i = e->nmods; i-- > 0;)
        if (e->mods[i].ops->free)
            e->mods[i].ops->free(e->mods[i].m);
    e->nmods = 0;
    for (size_t i = 0; i < e->inbox_n; i++)
        weft__bufpool_put(&e->pool, e->inbox[i].owned, e->inbox[i].owned_cap);
    weft__free(e->a, e->inbox);
    for (size_t i = 0; i < e->evq_n; i++) {
        weft__event_q *q = &e->evq[(e->evq_head + i) & (e->evq_cap - 1)];
        weft__bufpool_put(&e->pool, q->owned, q->owned_cap);
    }
    weft__free(e->a, e->evq);
    weft__ev_release_last(e);
}

int weft_host_register(weft_engine *e, const weft_module_ops *ops, void *m)
{
    if (!e || !ops || ops->version != WEFT_MODULE_OPS_V1 || !ops->name || !ops->name[0])
        return WEFT_ERR_INVAL;
    if (ops->pkt_type && (ops->pkt_type < WEFT_PKT_MODULE_MIN ||
                          ops->pkt_type > WEFT_PKT_MODULE_MAX))
        return WEFT_ERR_INVAL;
    if ((ops->channel_hi || ops->channel_lo) &&
        (!ops->channel_lo || ops->channel_lo > ops->channel_hi))
        return WEFT_ERR_INVAL;
    if (e->nmods == WEFT_MODULES_MAX)
        return WEFT_ERR_LIMIT;
    for (size_t i = 0; i < e->nmods; i++) {
        const weft_module_ops *o = e->mods[i].ops;
        if (strcmp(o->name, ops->name) == 0)
            return WEFT_ERR_EXISTS;
        if (ops->channel_lo && o->channel_lo && ops->channel_lo <= o->channel_hi &&
            o->channel_lo <= ops->channel_hi)
            return WEFT_ERR_EXISTS;
    }
    if (ops->pkt_type && e->pkt_owner[ops->pkt_type] >= 0)
        return WEFT_ERR_EXISTS;
    if (ops->channel_lo && inbox_grow(e, 16) < 0)
        return WEFT_ERR_NOMEM;
    e->mods[e->nmods].ops = ops;
    e->mods[e->nmods].m = m;
    if (ops->pkt_type)
        e->pkt_owner[ops->pkt_type] = (int8_t)e->nmods;
    if (ops->channel_hi >= WEFT_CHANNEL_APP)
        e->app_channel_mods = 1;
    e->nmods++;
    return 0;
}

void *weft_host_module(const weft_engine *e, const char *name)
{
    if (!e || !name)
        return NULL;
    for (size_t i = 0; i < e->nmods; i++)
        if (strcmp(e->mods[i].ops->name, name) == 0)
            return e->mods[i].m;
    return NULL;
}

void weft_host_enter(weft_engine *e, uint64_t now_us)
{
    weft__api_enter(e, now_us);
}

void weft_host_leave(weft_engine *e)
{
    weft__api_leave(e, 1);
}

static int module_index(const weft__engine *e, const void *m)
{
    for (size_t i = 0; i < e->nmods; i++)
        if (e->mods[i].m == m)
            return (int)i;
    return -1;
}

/* A copy of data for an event, from the pool.  0 or NOMEM. */
static int copy_data(weft__engine *e, weft__event_q *q, const uint8_t **data, size_t len)
{
    if (!*data)
        return 0;
    uint8_t *c = weft__bufpool_get(&e->pool, len ? len : 1);
    if (!c)
        return WEFT_ERR_NOMEM;
    if (len)
        memcpy(c, *data, len);
    *data = c;
    q->owned = c;
    q->owned_cap = len ? len : 1;
    return 0;
}

int weft_host_emit(weft_engine *e, const void *m, const weft_event *ev)
{
    if (!e || !ev)
        return WEFT_ERR_INVAL;
    weft__event_q *q = weft__ev_push(e, ev->type, NULL, ev->error);
    if (!q)
        return WEFT_ERR_NOMEM;
    q->ev = *ev;
    q->src = (int8_t)module_index(e, m);
    int rc = 0;
    int fam = WEFT_EV_FAMILY(ev->type);
    if (fam == WEFT_EVF_MESSAGE)
        rc = copy_data(e, q, &q->ev.u.message.data, q->ev.u.message.len);
    else if (fam >= WEFT_EVF_MODULE)
        rc = copy_data(e, q, &q->ev.u.module.data, q->ev.u.module.len);
    if (rc < 0) {
        /* undo: the entry is the last one */
        e->evq_n--;
        e->evq_unnotified--;
        e->st.events_dropped++;
        return rc;
    }
    return 0;
}

uint64_t weft_host_now(const weft_engine *e) { return e->now_us; }
const weft_allocator *weft_host_allocator(const weft_engine *e) { return e->a; }
const struct weft_crypto *weft_host_crypto(const weft_engine *e) { return e->c; }

void weft_host_random(weft_engine *e, uint8_t *buf, size_t len)
{
    e->env.rand.fill(e->env.rand.ctx, buf, len);
}

void weft_host_sign(const weft_engine *e, uint8_t sig[64], const uint8_t *msg, size_t len)
{
    e->c->sign(e->c->ctx, sig, msg, len, e->cfg.identity_secret);
}

void weft_host_derive_key(const weft_engine *e, const char *label, uint8_t out[32])
{
    uint8_t h[64];
    weft_iov iov[2] = {{label, strlen(label)}, {e->cfg.network_key, 32}};
    e->c->hash(e->c->ctx, h, iov, 2);
    memcpy(out, h, 32);
    e->c->wipe(e->c->ctx, h, sizeof h);
}

void weft_host_keys(const weft_engine *e, const uint8_t **identity_secret,
                    const uint8_t **network_key)
{
    *identity_secret = e->cfg.identity_secret;
    *network_key = e->cfg.network_key;
}

int weft_host_peer_up(const weft_engine *e, const weft_node_id *id)
{
    const weft__peer *p = weft__peer_find(e, id);
    return p && p->established;
}

const char *weft_event_name(const weft_engine *e, int type)
{
    switch (type) {
    case WEFT_EV_PEER_UP: return "peer-up";
    case WEFT_EV_PEER_DOWN: return "peer-down";
    case WEFT_EV_HANDSHAKE_FAILED: return "handshake-failed";
    case WEFT_EV_MESSAGE: return "message";
    case WEFT_EV_DELIVERED: return "delivered";
    case WEFT_EV_SEND_FAILED: return "send-failed";
    default: break;
    }
    for (size_t i = 0; e && i < e->nmods; i++) {
        const weft_module_ops *o = e->mods[i].ops;
        if (o->event_family && o->event_family == WEFT_EV_FAMILY(type) && o->event_name) {
            const char *n = o->event_name(type);
            if (n)
                return n;
        }
    }
    return "none";
}
