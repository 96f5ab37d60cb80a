/*
 * sync.c -- anti-entropy rounds of the store (state.h, recon.h): opening a
 * round with a random member or one that (re)joins, answering each step,
 * remembering when a round with each partner last completed, and the
 * collection of tombstones that watermark makes safe.
 */
#include <string.h>

#include "weft/membership.h"
#include "weft/module.h"
#include "base/util.h"
#include "kv/recon.h"
#include "kv/state.h"

static kv_peer *peer_get(kv_mod *m, const weft_node_id *id, uint64_t now_us)
{
    kv_peer *free_ = NULL, *old = NULL;
    for (size_t i = 0; i < PEERS_MAX; i++) {
        kv_peer *p = &m->peers[i];
        if (p->used && memcmp(p->id.key, id->key, 32) == 0) {
            p->last_used_us = now_us;
            return p;
        }
        if (!p->used && !free_)
            free_ = p;
        if (p->used && (!old || p->last_used_us < old->last_used_us))
            old = p;
    }
    kv_peer *p = free_ ? free_ : old;
    memset(p, 0, sizeof *p);
    p->used = 1;
    p->id = *id;
    p->last_used_us = now_us;
    return p;
}

static const kv_peer *peer_find(const kv_mod *m, const weft_node_id *id)
{
    for (size_t i = 0; i < PEERS_MAX; i++)
        if (m->peers[i].used && memcmp(m->peers[i].id.key, id->key, 32) == 0)
            return &m->peers[i];
    return NULL;
}

uint32_t weft__kv_rnd32(kv_mod *m)
{
    uint8_t b[4];
    weft_host_random(m->e, b, 4);
    return weft__get_u32(b);
}

int weft__kv_sync_start(kv_mod *m, const weft_node_id *to, uint64_t now_us)
{
    uint8_t msg[64];
    kv_peer *p = peer_get(m, to, now_us);
    p->round_mine = weft__kv_rnd32(m) | 1; /* never 0 */
    p->start_mine = weft__kv_wall(m);
    ptrdiff_t n = weft__kv_recon_start(&m->tree, p->round_mine, msg, sizeof msg);
    if (n < 0)
        return (int)n;
    int64_t rc = weft_engine_send(m->e, to, WEFT_KV_CHANNEL_SYNC, msg, (size_t)n,
                                  WEFT_PRIO_NORMAL | WEFT_SEND_ORDERED, now_us);
    if (rc < 0)
        return (int)rc;
    m->st.sync_rounds++;
    m->st.sync_msgs_out++;
    m->st.sync_bytes_out += (uint64_t)n;
    return 0;
}

/* Round `round` with p completed: p held, at the round's start, every
 * version we held then (or newer). */
static void round_done(kv_peer *p, uint32_t round)
{
    uint64_t start = 0;
    if (round && round == p->round_mine)
        start = p->start_mine;
    else if (round && round == p->round_theirs)
        start = p->start_theirs;
    if (start > p->synced_ms)
        p->synced_ms = start;
}

static void apply_sync(void *ctx, const weft__kv_view *v)
{
    (void)weft__kv_apply(ctx, v, WEFT__KV_SRC_SYNC);
}

int weft__kv_on_sync(kv_mod *m, const weft_node_id *from, const uint8_t *msg, size_t len,
                   uint64_t now_us)
{
    int type;
    uint32_t round;
    if (weft__kv_msg_header(msg, len, &type, &round) < 0) {
        m->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    m->st.sync_msgs_in++;
    m->st.sync_bytes_in += len;
    kv_peer *p = peer_get(m, from, now_us);
    if (type == WEFT__KV_MSG_DONE) {
        round_done(p, round);
        return 0;
    }
    if (type != WEFT__KV_MSG_SYNC) {
        m->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    if (round != p->round_mine && round != p->round_theirs) { /* it began one */
        p->round_theirs = round;
        p->start_theirs = weft__kv_wall(m);
    }
    if (!m->out) {
        m->out = weft__alloc(m->a, WEFT__KV_RECON_OUT_CAP);
        if (!m->out)
            return WEFT_ERR_NOMEM;
    }
    weft__kv_recon_env env = {&m->tree, apply_sync, m};
    int b = weft__kv_begin(m);
    ptrdiff_t n = weft__kv_recon_process(&env, msg, len, m->out, WEFT__KV_RECON_OUT_CAP);
    weft__kv_commit(m, b);
    if (n < 0) {
        m->st.drop_malformed++;
        return (int)n;
    }
    if (n == WEFT__KV_HDR_BYTES && m->out[0] == WEFT__KV_MSG_DONE)
        round_done(p, round);
    int64_t rc = weft_engine_send(m->e, from, WEFT_KV_CHANNEL_SYNC, m->out, (size_t)n,
                                  WEFT_PRIO_NORMAL | WEFT_SEND_ORDERED, now_us);
    if (rc > 0) {
        m->st.sync_msgs_out++;
        m->st.sync_bytes_out += (uint64_t)n;
    }
    return 0;
}

void weft__kv_on_member(kv_mod *m, const weft_event *ev, uint64_t now_us)
{
    if ((ev->type != WEFT_EV_MEMBER_JOINED && ev->type != WEFT_EV_MEMBER_REJOINED) ||
        memcmp(ev->peer.key, m->self.key, 32) == 0)
        return;
    /* one round per member per half interval: a member flapping between
     * failed and rejoined does not start a round per flap */
    const kv_peer *p = peer_find(m, &ev->peer);
    if (p && p->round_mine && p->start_mine + m->cfg.sync_interval_ms / 2 > weft__kv_wall(m))
        return;
    (void)weft__kv_sync_start(m, &ev->peer, now_us);
}

/* ------------------------------------------------------------------------ */
/* Tombstone collection                                                      */

/*
 * A tombstone (or an entry expired for good) may go once no member can
 * still hold an older version of its key that anti-entropy would bring
 * back.  We know that when (1) it is older than the retention, and (2)
 * every alive member completed an anti-entropy round with us that began
 * after we had it (seen_ms): at the end of such a round the member holds
 * it or something newer, and a member never goes back to an older
 * version.  docs/ARCHITECTURE.md §Replicated store states the limits.
 */
static uint64_t sync_watermark(kv_mod *m)
{
    uint64_t low = UINT64_MAX;
    size_t n = weft_membership_count(m->e);
    for (size_t i = 0; i < n; i++) {
        weft_member mb;
        if (weft_membership_at(m->e, i, &mb) < 0 || mb.is_self ||
            (mb.state != WEFT_MEMBER_ALIVE && mb.state != WEFT_MEMBER_SUSPECT))
            continue;
        const kv_peer *p = peer_find(m, &mb.id);
        uint64_t s = p ? p->synced_ms : 0;
        if (s < low)
            low = s;
    }
    return low;
}

typedef struct gc_scan {
    kv_mod *m;
    uint64_t cutoff_ms, watermark_ms;
    weft__kv_ent *found[GC_BATCH];
    size_t n;
} gc_scan;

static int gc_visit(void *arg, weft__kv_ent *x)
{
    gc_scan *g = arg;
    uint64_t t;
    if (x->flags & WEFT__KV_F_TOMBSTONE)
        t = x->hlc >> 16;
    else if (x->flags & WEFT__KV_F_EXPIRES)
        t = x->expires_ms;
    else
        return 0;
    if (t < g->cutoff_ms && x->seen_ms < g->watermark_ms)
        g->found[g->n++] = x;
    return g->n == GC_BATCH;
}

void weft__kv_gc(kv_mod *m)
{
    if (!m->tombstones && !m->expiring)
        return;
    uint64_t now_ms = weft__kv_wall(m);
    if (now_ms < m->cfg.tombstone_retention_ms)
        return;
    gc_scan *g = weft__alloc(m->a, sizeof *g);
    if (!g)
        return;
    g->m = m;
    g->n = 0;
    g->cutoff_ms = now_ms - m->cfg.tombstone_retention_ms;
    g->watermark_ms = sync_watermark(m);
    (void)weft__kv_tree_walk(&m->tree, gc_visit, g);
    int b = g->n ? weft__kv_begin(m) : -1;
    for (size_t i = 0; i < g->n; i++) {
        weft__kv_ent *x = g->found[i];
        weft_store_record r;
        weft__kv_to_record(x, &r);
        if (m->cfg.store->remove(m->cfg.store->ctx, r.ns, r.ns_len, r.key, r.key_len) < 0) {
            m->st.store_errors++;
            continue;
        }
        weft__kv_ent *y = weft__kv_tree_del(&m->tree, x->data, x->sk_len);
        m->tombstones -= !!(y->flags & WEFT__KV_F_TOMBSTONE);
        m->expiring -= !!(y->flags & WEFT__KV_F_EXPIRES);
        weft__free(m->a, y);
        m->st.collected++;
    }
    if (g->n)
        weft__kv_commit(m, b);
    weft__free(m->a, g);
}
