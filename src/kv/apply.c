/*
 * apply.c -- versions into the store (state.h): the checks a version
 * passes (owner of a node-state namespace, caps, clock skew, signature),
 * last-writer-wins against the version held, persistence before
 * visibility, the watchers, and the rate limit of pushed versions.
 *
 * Every version enters here: local writes, pushed deltas, anti-entropy
 * entries and (at attach) the stored records.
 */
#include <string.h>

#include "weft/module.h"
#include "base/util.h"
#include "kv/state.h"

/* Token bucket of a writer's pushed versions: 1 when one may pass. */
int weft__kv_rate_ok(kv_mod *m, const uint8_t *writer, uint64_t now_ms)
{
    kv_bucket *b = NULL, *free_ = NULL, *old = NULL;
    for (size_t i = 0; i < BUCKETS_MAX && !b; i++) {
        kv_bucket *x = &m->buckets[i];
        if (x->used && memcmp(x->writer.key, writer, 32) == 0)
            b = x;
        else if (!x->used && !free_)
            free_ = x;
        else if (x->used && (!old || x->last_ms < old->last_ms))
            old = x;
    }
    uint64_t cap = (uint64_t)m->cfg.remote_burst * 1000;
    if (!b) {
        b = free_ ? free_ : old;
        b->used = 1;
        memcpy(b->writer.key, writer, 32);
        b->tokens_milli = cap;
        b->last_ms = now_ms;
    }
    if (now_ms > b->last_ms) {
        uint64_t add = (now_ms - b->last_ms) * m->cfg.remote_rate_per_s;
        b->tokens_milli = b->tokens_milli + add > cap ? cap : b->tokens_milli + add;
        b->last_ms = now_ms;
    }
    if (b->tokens_milli < 1000)
        return 0;
    b->tokens_milli -= 1000;
    return 1;
}

void weft__kv_to_record(const weft__kv_ent *x, weft_store_record *r)
{
    memset(r, 0, sizeof *r);
    (void)weft__kv_sk_split(x->data, x->sk_len, &r->ns, &r->ns_len, &r->key, &r->key_len);
    r->value = weft__kv_ent_val(x);
    r->value_len = x->val_len;
    r->hlc = x->hlc;
    r->expires_ms = x->expires_ms;
    r->writer = x->writer;
    memcpy(r->sig, x->sig, 64);
    r->flags = x->flags;
}

void weft__kv_to_item(const weft__kv_ent *x, weft_kv_item *it)
{
    memset(it, 0, sizeof *it);
    (void)weft__kv_sk_split(x->data, x->sk_len, &it->ns, &it->ns_len, &it->key,
                            &it->key_len);
    it->value = weft__kv_ent_val(x);
    it->value_len = x->val_len;
    it->hlc = x->hlc;
    it->expires_ms = x->expires_ms;
    it->writer = x->writer;
    it->deleted = !!(x->flags & WEFT__KV_F_TOMBSTONE);
}

/* Tells every watcher whose prefix covers x. */
static void notify(kv_mod *m, const weft__kv_ent *x)
{
    for (size_t i = 0; i < WEFT_KV_WATCHES_MAX; i++) {
        kv_watch *w = &m->watches[i];
        if (!w->id || !weft__kv_has_prefix(x, w->sk, w->sk_len))
            continue;
        weft_kv_item it;
        weft__kv_to_item(x, &it);
        if (w->cb) {
            m->in_callback = 1;
            w->cb(w->ctx, w->id, &it);
            m->in_callback = 0;
            continue;
        }
        /* event data: ns_len u8, ns, key_len varint, key, value */
        size_t klen = it.key_len;
        size_t n = 1 + it.ns_len + weft__varint_len(klen) + klen + it.value_len;
        uint8_t *d = weft__alloc(m->a, n);
        if (!d) {
            m->st.watch_dropped++;
            continue;
        }
        weft__wr wr;
        weft__wr_init(&wr, d, n);
        weft__wr_u8(&wr, (uint8_t)it.ns_len);
        weft__wr_bytes(&wr, it.ns, it.ns_len);
        weft__wr_varint(&wr, klen);
        weft__wr_bytes(&wr, it.key, klen);
        weft__wr_bytes(&wr, it.value, it.value_len);
        weft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = WEFT_EV_KV_CHANGED;
        ev.peer = x->writer;
        ev.u.module.channel = WEFT_KV_CHANNEL_PUSH;
        ev.u.module.code = w->id;
        ev.u.module.value[0] = x->hlc;
        ev.u.module.value[1] = x->expires_ms;
        ev.u.module.value[2] = (uint64_t)it.deleted;
        ev.u.module.data = d;
        ev.u.module.len = wr.pos;
        (void)weft_host_emit(m->e, m, &ev);
        weft__free(m->a, d);
    }
}

/* The first sort key above every key starting with p[0..n): p with its
 * last byte below 0xff incremented and what follows cut.  Sort keys start
 * with ns_len <= 128, so one such byte always exists.  Returns its length. */
static size_t prefix_end(const uint8_t *p, size_t n, uint8_t *out)
{
    memcpy(out, p, n);
    while (n && out[n - 1] == 0xff)
        n--;
    out[n - 1]++;
    return n;
}

/* Entries (tombstones included) of the namespace of sort key sk. */
static uint64_t ns_count(const kv_mod *m, const uint8_t *sk)
{
    uint8_t hi[1 + WEFT_KV_NS_MAX];
    size_t n = 1 + sk[0], hn = prefix_end(sk, n, hi);
    return weft__kv_tree_range(&m->tree, sk, n, hi, hn).count;
}

/*
 * Applies one version.  Returns 1 when it was kept (persisted, visible,
 * watchers told), 0 when the version held already beats or equals it, or
 * a negative reason (counted for remote input; for a local write the
 * caller's error).
 */
int weft__kv_apply(kv_mod *m, const weft__kv_view *v, int src)
{
    int remote = src == WEFT__KV_SRC_PUSH || src == WEFT__KV_SRC_SYNC;
    weft_node_id owner;
    int own = weft__kv_ns_owner(v->ns, v->ns_len, &owner);
    if (own < 0) {
        m->st.drop_malformed += remote;
        return WEFT_ERR_INVAL;
    }
    if (own && memcmp(owner.key, v->writer, 32) != 0) {
        m->st.drop_forged += remote;
        return WEFT_ERR_INVAL;
    }
    if (v->key_len > m->cfg.max_key_bytes || v->val_len > m->cfg.max_value_bytes) {
        m->st.drop_too_big += remote;
        return WEFT_ERR_TOO_BIG;
    }
    uint64_t now_ms = weft__kv_wall(m);
    if (remote && (v->hlc >> 16) > now_ms + m->cfg.max_clock_skew_ms) {
        m->st.drop_future++;
        return WEFT_ERR_PROTO;
    }
    uint8_t sk[WEFT__KV_SK_MAX];
    size_t sk_len = weft__kv_sk_make(sk, v->ns, v->ns_len, v->key, v->key_len);
    weft__kv_ent *old = weft__kv_tree_get(&m->tree, sk, sk_len);
    if (old && weft__kv_version_cmp(v->hlc, v->writer, old->hlc, old->writer.key) <= 0) {
        m->st.stale += remote; /* before the signature: a copy costs no verify */
        return 0;
    }
    if (remote && weft__kv_entry_verify(m->c, v) < 0) {
        m->st.drop_bad_signature++;
        return WEFT_ERR_BAD_SIGNATURE;
    }
    if (!old && (weft__kv_tree_count(&m->tree) >= m->cfg.max_entries ||
                 ns_count(m, sk) >= m->cfg.max_ns_entries)) {
        m->st.drop_limit += remote;
        return WEFT_ERR_LIMIT;
    }
    weft__kv_ent *x = weft__kv_ent_from_view(m->a, m->c, v);
    if (!x)
        return WEFT_ERR_NOMEM;
    x->seen_ms = now_ms;
    if (src != WEFT__KV_SRC_LOAD) {
        weft_store_record rec;
        weft__kv_to_record(x, &rec);
        int rc = m->cfg.store->put(m->cfg.store->ctx, &rec);
        if (rc < 0) {
            m->st.store_errors++;
            weft__free(m->a, x);
            return rc <= WEFT_ERR_FATAL || rc == WEFT_ERR_NOMEM ? rc : WEFT_ERR_IO;
        }
    }
    old = weft__kv_tree_put(&m->tree, x);
    if (old) {
        m->tombstones -= !!(old->flags & WEFT__KV_F_TOMBSTONE);
        m->expiring -= !!(old->flags & WEFT__KV_F_EXPIRES);
        weft__free(m->a, old);
    }
    m->tombstones += !!(x->flags & WEFT__KV_F_TOMBSTONE);
    m->expiring += !!(x->flags & WEFT__KV_F_EXPIRES);
    weft__kv_hlc_observe(&m->hlc, x->hlc);
    if (src == WEFT__KV_SRC_PUSH)
        m->st.applied_push++;
    else if (src == WEFT__KV_SRC_SYNC)
        m->st.applied_sync++;
    if (src != WEFT__KV_SRC_LOAD)
        notify(m, x);
    return 1;
}

int weft__kv_begin(kv_mod *m)
{
    if (m->cfg.store->begin && m->cfg.store->begin(m->cfg.store->ctx) < 0) {
        m->st.store_errors++;
        return -1;
    }
    return 0;
}

void weft__kv_commit(kv_mod *m, int began)
{
    if (began == 0 && m->cfg.store->commit && m->cfg.store->commit(m->cfg.store->ctx) < 0)
        m->st.store_errors++;
}
