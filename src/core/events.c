/*
 * events.c -- the engine's event queue: a FIFO ring of weft__event_q
 * entries that grows by doubling.  The bottom of the kernel: it depends on
 * nothing but base (docs/ARCHITECTURE.md, tests/check_layers.py).
 *
 * Event data either points into the receive buffer of the packet being
 * processed (in_rx: the zero-copy path) or is owned by the entry; before
 * the receive buffer is reused, weft__ev_detach_rx gives the former a copy.
 * The data of the last polled event lives until the next engine call.
 */
#include <string.h>

#include "core/engine_internal.h"
#include "base/util.h"

int weft__ev_reserve(weft__engine *e, size_t need)
{
    if (e->evq_n + need <= e->evq_cap)
        return 0;
    size_t ncap = e->evq_cap ? e->evq_cap : 64;
    while (ncap < e->evq_n + need)
        ncap *= 2;
    weft__event_q *n = weft__alloc(e->a, ncap * sizeof *n);
    if (!n)
        return WEFT_ERR_NOMEM;
    for (size_t i = 0; i < e->evq_n; i++)
        n[i] = e->evq[(e->evq_head + i) & (e->evq_cap - 1)];
    weft__free(e->a, e->evq);
    e->evq = n;
    e->evq_head = 0;
    e->evq_cap = ncap;
    return 0;
}


weft__event_q *weft__ev_push(weft__engine *e, int type, const weft__peer *p, int err)
{
    if (weft__ev_reserve(e, 1) < 0) {
        e->st.events_dropped++;
        return NULL;
    }
    weft__event_q *q = &e->evq[(e->evq_head + e->evq_n) & (e->evq_cap - 1)];
    memset(q, 0, sizeof *q);
    q->ev.type = type;
    q->ev.error = err;
    q->src = -1;
    if (p) {
        q->ev.peer = p->id;
        q->ev.addr = p->addr;
    }
    e->evq_n++;
    e->evq_unnotified++;
    return q;
}

int weft__ev_detach_rx(weft__engine *e)
{
    for (size_t i = 0; i < e->evq_n; i++) {
        weft__event_q *q = &e->evq[(e->evq_head + i) & (e->evq_cap - 1)];
        if (!q->in_rx)
            continue;
        size_t len = q->ev.u.message.len;
        uint8_t *copy = weft__bufpool_get(&e->pool, len ? len : 1);
        if (!copy)
            return WEFT_ERR_NOMEM;
        memcpy(copy, q->ev.u.message.data, len);
        q->ev.u.message.data = copy;
        q->owned = copy;
        q->owned_cap = len ? len : 1;
        q->in_rx = 0;
    }
    return 0;
}

void weft__ev_release_last(weft__engine *e)
{
    weft__bufpool_put(&e->pool, e->last_owned, e->last_owned_cap);
    e->last_owned = NULL;
    e->last_owned_cap = 0;
}

void weft__ev_forget_peer(weft__engine *e, const weft__peer *p)
{
    for (size_t i = 0; i < e->evq_n; i++) {
        weft__event_q *q = &e->evq[(e->evq_head + i) & (e->evq_cap - 1)];
        if (q->peer == p)
            q->peer = NULL;
    }
}

