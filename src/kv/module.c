/*
 * module.c -- the replicated store as a protocol module (<weft/kv.h>):
 * the in-memory index (tree.h) written through to the injected storage
 * (<weft/store.h>), last-writer-wins application of versions, local
 * writes and reads, pushes (push.h), anti-entropy rounds (recon.h),
 * watches, tombstone collection, limits and counters.
 *
 * This file: the module operations, pushes and the public API.  Versions
 * enter through apply.c (every source: local writes, pushes, anti-entropy,
 * the stored records at attach); anti-entropy rounds and tombstone
 * collection are sync.c; state.h is what they share.
 *
 * Channels: WEFT_KV_CHANNEL_PUSH (0x50) and WEFT_KV_CHANNEL_SYNC (0x51);
 * event family WEFT_EVF_KV (0x15).
 */
#include <string.h>

#include "weft/crypto.h"
#include "weft/kv.h"
#include "weft/membership.h"
#include "weft/module.h"
#include "base/util.h"
#include "kv/push.h"
#include "kv/recon.h"
#include "kv/state.h"

#define PUSH_FLUSH_BYTES (256u << 10)

static const char MOD_NAME[] = "kv";
static const char FP_LABEL[] = "weft-kv-mesh-fingerprint-v1";

static kv_mod *get(const weft_engine *e) { return e ? weft_host_module(e, MOD_NAME) : NULL; }

/* ------------------------------------------------------------------------ */
/* Pushes                                                                    */

static int push_flush(kv_mod *m, uint64_t now_us)
{
    if (m->push_len <= WEFT__KV_HDR_BYTES)
        return 0;
    int n = weft__kv_push_send(m->e, m->push, m->push_len, m->cfg.push_fanout,
                               &m->st.push_bytes_out, now_us);
    m->st.pushes_sent += n > 0 ? (uint64_t)n : 0;
    m->push_len = WEFT__KV_HDR_BYTES;
    return 0;
}

/* Queues x for the next push (flushed at the next engine turn). */
static void push_add(kv_mod *m, const weft__kv_ent *x, uint64_t now_us)
{
    size_t n = 1 + weft__kv_entry_size(x);
    if (m->push_len + n > m->push_cap) {
        size_t cap = m->push_cap ? m->push_cap : 4096;
        while (cap < m->push_len + n)
            cap *= 2;
        uint8_t *p = weft__realloc(m->a, m->push, cap);
        if (!p)
            return; /* anti-entropy will carry it */
        m->push = p;
        m->push_cap = cap;
    }
    if (m->push_len == 0) {
        weft__wr w;
        weft__wr_init(&w, m->push, WEFT__KV_HDR_BYTES);
        weft__wr_u8(&w, WEFT__KV_MSG_PUSH);
        weft__wr_u32(&w, 0);
        m->push_len = WEFT__KV_HDR_BYTES;
    }
    weft__wr w;
    weft__wr_init(&w, m->push + m->push_len, m->push_cap - m->push_len);
    weft__wr_u8(&w, WEFT__KV_REC_ENTRY);
    weft__kv_entry_write(&w, x);
    m->push_len += w.pos;
    if (m->push_len >= PUSH_FLUSH_BYTES)
        (void)push_flush(m, now_us);
}

static int on_push(kv_mod *m, const uint8_t *msg, size_t len)
{
    int type;
    uint32_t round;
    if (weft__kv_msg_header(msg, len, &type, &round) < 0 || type != WEFT__KV_MSG_PUSH) {
        m->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    weft__rd r;
    weft__rd_init(&r, msg + WEFT__KV_HDR_BYTES, len - WEFT__KV_HDR_BYTES);
    uint64_t now_ms = weft__kv_wall(m);
    int b = weft__kv_begin(m);
    while (weft__rd_ok(&r) && weft__rd_left(&r)) {
        weft__kv_view v;
        if (weft__rd_u8(&r) != WEFT__KV_REC_ENTRY || weft__kv_entry_read(&r, &v) < 0)
            break;
        if (!weft__kv_rate_ok(m, v.writer, now_ms)) {
            m->st.drop_rate++;
            continue;
        }
        (void)weft__kv_apply(m, &v, WEFT__KV_SRC_PUSH);
    }
    weft__kv_commit(m, b);
    if (!weft__rd_ok(&r)) {
        m->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Module operations                                                         */

static int on_message(void *mp, const weft_node_id *from, uint16_t ch, const uint8_t *msg,
                      size_t len, uint32_t flags, uint64_t now_us)
{
    kv_mod *m = mp;
    (void)flags;
    if (ch == WEFT_KV_CHANNEL_SYNC)
        return weft__kv_on_sync(m, from, msg, len, now_us);
    if (ch == WEFT_KV_CHANNEL_PUSH)
        return on_push(m, msg, len);
    m->st.drop_malformed++;
    return WEFT_ERR_NO_CHANNEL;
}

static void on_event(void *mp, const weft_event *ev, uint64_t now_us)
{
    weft__kv_on_member(mp, ev, now_us);
}

static uint64_t expiry(const void *mp)
{
    const kv_mod *m = mp;
    if (m->push_len > WEFT__KV_HDR_BYTES)
        return 0; /* at once */
    return m->next_sync_us < m->next_gc_us ? m->next_sync_us : m->next_gc_us;
}

static int handle_expiry(void *mp, uint64_t now_us)
{
    kv_mod *m = mp;
    (void)push_flush(m, now_us);
    if (now_us >= m->next_sync_us) {
        weft_node_id to;
        if (weft__kv_pick_member(m->e, &to) == 0)
            (void)weft__kv_sync_start(m, &to, now_us);
        /* interval +-25 %, so rounds of many nodes do not fall in step */
        uint64_t iv = (uint64_t)m->cfg.sync_interval_ms * 1000;
        m->next_sync_us = now_us + iv * 3 / 4 + (iv ? weft__kv_rnd32(m) % (iv / 2 + 1) : 0);
    }
    if (now_us >= m->next_gc_us) {
        weft__kv_gc(m);
        m->next_gc_us = now_us + GC_INTERVAL_US;
    }
    return 0;
}

static const char *event_name(int type)
{
    return type == WEFT_EV_KV_CHANGED ? "kv-changed" : NULL;
}

static void free_(void *mp)
{
    kv_mod *m = mp;
    const weft_allocator *a = m->a;
    weft__kv_ent *x;
    while ((x = m->tree.root) != NULL) {
        weft__kv_ent *y = weft__kv_tree_del(&m->tree, x->data, x->sk_len);
        weft__free(a, y);
    }
    for (size_t i = 0; i < WEFT_KV_WATCHES_MAX; i++)
        weft__free(a, m->watches[i].sk);
    weft__free(a, m->push);
    weft__free(a, m->out);
    weft__free(a, m);
}

static const weft_module_ops kv_ops = {
    .version = WEFT_MODULE_OPS_VERSION,
    .name = MOD_NAME,
    .channel_lo = WEFT_KV_CHANNEL_PUSH,
    .channel_hi = WEFT_KV_CHANNEL_SYNC,
    .event_family = WEFT_EVF_KV,
    .on_message = on_message,
    .on_event = on_event,
    .expiry = expiry,
    .handle_expiry = handle_expiry,
    .event_name = event_name,
    .free = free_,
};

/* ------------------------------------------------------------------------ */
/* Public API                                                                */

static size_t config_size(int version)
{
    return version == WEFT_KV_CONFIG_V1 ? sizeof(weft_kv_config) : 0;
}

void weft_kv_config_default_versioned(int version, weft_kv_config *c)
{
    size_t n = config_size(version);
    if (!c || !n)
        return;
    weft_kv_config d;
    memset(&d, 0, sizeof d);
    d.max_key_bytes = 256;
    d.max_value_bytes = 65536;
    d.max_entries = 4000000;
    d.max_ns_entries = 1000000;
    d.max_clock_skew_ms = 60000;
    d.remote_rate_per_s = 2000;
    d.remote_burst = 20000;
    d.sync_interval_ms = 1000;
    d.push_fanout = 32;
    d.tombstone_retention_ms = 7ULL * 24 * 3600 * 1000;
    memcpy(c, &d, n);
}

void weft_kv_mesh_fingerprint(const weft_engine *e, uint8_t out[32])
{
    weft_host_derive_key(e, FP_LABEL, out);
}

static int load_one(void *arg, const weft_store_record *r)
{
    kv_mod *m = arg;
    weft__kv_view v;
    memset(&v, 0, sizeof v);
    if (!r->ns_len || r->ns_len > WEFT_KV_NS_MAX || !r->key_len ||
        r->key_len > WEFT__KV_KEY_HARD_MAX || r->value_len > WEFT__KV_VALUE_HARD_MAX ||
        (r->flags & ~(uint32_t)(WEFT__KV_F_TOMBSTONE | WEFT__KV_F_EXPIRES)))
        return WEFT_ERR_CORRUPT;
    v.flags = (uint8_t)r->flags;
    v.hlc = r->hlc;
    v.writer = r->writer.key;
    v.ns = r->ns;
    v.ns_len = r->ns_len;
    v.key = r->key;
    v.key_len = r->key_len;
    v.expires_ms = r->expires_ms;
    v.val = r->value;
    v.val_len = r->value_len;
    v.sig = r->sig;
    int rc = weft__kv_apply(m, &v, WEFT__KV_SRC_LOAD);
    /* a stored version over today's caps is kept (the caps guard input) */
    return rc == WEFT_ERR_NOMEM ? rc : 0;
}

int weft_kv_attach_versioned(weft_engine *e, int version, const weft_kv_config *cfg,
                             uint64_t now_us)
{
    size_t n = config_size(version);
    if (!n)
        return WEFT_ERR_VERSION_MISMATCH;
    if (!e || !cfg)
        return WEFT_ERR_INVAL;
    if (get(e))
        return WEFT_ERR_EXISTS;
    weft_kv_config c;
    weft_kv_config_default(&c);
    memcpy(&c, cfg, n);
    if (!c.store || !c.store->load || !c.store->put || !c.store->remove || !c.wall_ms ||
        !c.max_key_bytes || c.max_key_bytes > WEFT__KV_KEY_HARD_MAX ||
        c.max_value_bytes > WEFT__KV_VALUE_HARD_MAX || !c.max_entries ||
        !c.max_ns_entries || !c.remote_rate_per_s || !c.remote_burst ||
        !c.sync_interval_ms)
        return WEFT_ERR_CONFIG;
    const weft_allocator *a = weft_host_allocator(e);
    kv_mod *m = weft__calloc(a, sizeof *m);
    if (!m)
        return WEFT_ERR_NOMEM;
    m->e = e;
    m->a = a;
    m->c = weft_host_crypto(e);
    m->cfg = c;
    m->self = *weft_engine_id(e);
    m->next_watch_id = 1;
    weft_host_enter(e, now_us);
    uint8_t seed[8];
    weft_host_random(e, seed, 8);
    m->tree.seed = weft__get_u64(seed);
    /* the stored versions weigh like the ones that won (no limits: they
     * were admitted when written) */
    m->cfg.max_key_bytes = WEFT__KV_KEY_HARD_MAX;
    m->cfg.max_value_bytes = WEFT__KV_VALUE_HARD_MAX;
    m->cfg.max_entries = UINT32_MAX;
    m->cfg.max_ns_entries = UINT32_MAX;
    int rc = c.store->load(c.store->ctx, load_one, m);
    m->cfg = c;
    if (rc == 0) {
        m->next_sync_us = now_us + (uint64_t)c.sync_interval_ms * 1000 / 4;
        m->next_gc_us = now_us + GC_INTERVAL_US;
        weft__kv_hlc_observe(&m->hlc, weft__kv_wall(m) << 16);
        rc = weft_host_register(e, &kv_ops, m);
    }
    if (rc < 0)
        free_(m);
    weft_host_leave(e);
    return rc;
}

/* Checks the arguments of a write and of a read of (ns, key). */
static int check_nk(const void *ns, size_t ns_len, const void *key, size_t key_len)
{
    if (!ns || !ns_len || ns_len > WEFT_KV_NS_MAX || !key || !key_len ||
        key_len > WEFT__KV_KEY_HARD_MAX)
        return WEFT_ERR_INVAL;
    return 0;
}

/* A local write: stamp, sign, apply, push.  value NULL = delete. */
static int write_local(weft_engine *e, const void *ns, size_t ns_len, const void *key,
                       size_t key_len, const void *value, size_t value_len,
                       uint64_t expires_ms, uint64_t now_us)
{
    kv_mod *m = get(e);
    if (!m)
        return e ? WEFT_ERR_STATE : WEFT_ERR_INVAL;
    int rc = check_nk(ns, ns_len, key, key_len);
    if (rc < 0)
        return rc;
    if (value_len && !value)
        return WEFT_ERR_INVAL;
    if (m->in_callback)
        return WEFT_ERR_STATE;
    if (key_len > m->cfg.max_key_bytes || value_len > m->cfg.max_value_bytes)
        return WEFT_ERR_TOO_BIG;
    weft_node_id owner;
    int own = weft__kv_ns_owner(ns, ns_len, &owner);
    if (own < 0 || (own && memcmp(owner.key, m->self.key, 32) != 0))
        return WEFT_ERR_INVAL;

    weft_host_enter(e, now_us);
    uint8_t flags = (uint8_t)((value ? 0 : WEFT__KV_F_TOMBSTONE) |
                              (expires_ms ? WEFT__KV_F_EXPIRES : 0));
    size_t cap = WEFT__KV_ENTRY_FIXED + ns_len + 8 + key_len + 8 + 8 + value_len + 64;
    uint8_t *buf = weft__alloc(m->a, cap);
    if (!buf) {
        weft_host_leave(e);
        return WEFT_ERR_NOMEM;
    }
    weft__wr w;
    weft__wr_init(&w, buf, cap);
    weft__wr_u8(&w, flags);
    weft__wr_u64(&w, weft__kv_hlc_tick(&m->hlc, weft__kv_wall(m)));
    weft__wr_bytes(&w, m->self.key, 32);
    weft__wr_u8(&w, (uint8_t)ns_len);
    weft__wr_bytes(&w, ns, ns_len);
    weft__wr_varint(&w, key_len);
    weft__wr_bytes(&w, key, key_len);
    if (expires_ms)
        weft__wr_u64(&w, expires_ms);
    weft__wr_varint(&w, value ? value_len : 0);
    if (value)
        weft__wr_bytes(&w, value, value_len);
    uint8_t d[64];
    weft__kv_entry_digest(m->c, buf, w.pos, d);
    uint8_t *sig = weft__wr_take(&w, 64);
    if (sig)
        weft_host_sign(e, sig, d, sizeof d);
    weft__kv_view v;
    weft__rd r;
    weft__rd_init(&r, buf, w.pos);
    rc = weft__wr_ok(&w) ? weft__kv_entry_read(&r, &v) : WEFT_ERR_INTERNAL;
    if (rc == 0)
        rc = weft__kv_apply(m, &v, WEFT__KV_SRC_LOCAL);
    if (rc == 1) {
        m->st.writes_local++;
        uint8_t sk[WEFT__KV_SK_MAX];
        size_t sk_len = weft__kv_sk_make(sk, ns, ns_len, key, key_len);
        const weft__kv_ent *x = weft__kv_tree_get(&m->tree, sk, sk_len);
        if (x)
            push_add(m, x, now_us);
        rc = 0;
    } else if (rc == 0) {
        rc = WEFT_ERR_INTERNAL; /* our own stamp lost: cannot happen */
    }
    weft__free(m->a, buf);
    weft_host_leave(e);
    return rc;
}

int weft_kv_put(weft_engine *e, const void *ns, size_t ns_len, const void *key,
                size_t key_len, const void *value, size_t value_len, uint64_t expires_ms,
                uint64_t now_us)
{
    static const uint8_t empty[1];
    return write_local(e, ns, ns_len, key, key_len, value ? value : (value_len ? NULL : empty),
                       value_len, expires_ms, now_us);
}

int weft_kv_delete(weft_engine *e, const void *ns, size_t ns_len, const void *key,
                   size_t key_len, uint64_t now_us)
{
    return write_local(e, ns, ns_len, key, key_len, NULL, 0, 0, now_us);
}

static int visible(const kv_mod *m, const weft__kv_ent *x)
{
    return !(x->flags & WEFT__KV_F_TOMBSTONE) &&
           !((x->flags & WEFT__KV_F_EXPIRES) && x->expires_ms <= weft__kv_wall(m));
}

int weft_kv_get(weft_engine *e, const void *ns, size_t ns_len, const void *key,
                size_t key_len, weft_kv_item *out)
{
    kv_mod *m = get(e);
    if (!m)
        return e ? WEFT_ERR_STATE : WEFT_ERR_INVAL;
    if (check_nk(ns, ns_len, key, key_len) < 0 || !out)
        return WEFT_ERR_INVAL;
    uint8_t sk[WEFT__KV_SK_MAX];
    size_t n = weft__kv_sk_make(sk, ns, ns_len, key, key_len);
    const weft__kv_ent *x = weft__kv_tree_get(&m->tree, sk, n);
    if (!x || !visible(m, x))
        return WEFT_ERR_NOT_FOUND;
    weft__kv_to_item(x, out);
    return 0;
}

int weft_kv_list(weft_engine *e, const void *ns, size_t ns_len, const void *prefix,
                 size_t prefix_len, const void *after, size_t after_len, weft_kv_item *out,
                 size_t cap, size_t *n)
{
    kv_mod *m = get(e);
    if (!m)
        return e ? WEFT_ERR_STATE : WEFT_ERR_INVAL;
    if (!ns || !ns_len || ns_len > WEFT_KV_NS_MAX || prefix_len > WEFT__KV_KEY_HARD_MAX ||
        (prefix_len && !prefix) || after_len > WEFT__KV_KEY_HARD_MAX ||
        (after_len && !after) || !n || (cap && !out))
        return WEFT_ERR_INVAL;
    *n = 0;
    uint8_t pre[WEFT__KV_SK_MAX], from[WEFT__KV_SK_MAX];
    pre[0] = (uint8_t)ns_len;
    memcpy(pre + 1, ns, ns_len);
    if (prefix_len)
        memcpy(pre + 1 + ns_len, prefix, prefix_len);
    size_t pre_len = 1 + ns_len + prefix_len;
    const weft__kv_ent *x;
    if (after && after_len) {
        size_t fl = weft__kv_sk_make(from, ns, ns_len, after, after_len);
        x = weft__kv_sk_cmp(from, fl, pre, pre_len) < 0
                ? weft__kv_tree_seek(&m->tree, pre, pre_len, 0)
                : weft__kv_tree_seek(&m->tree, from, fl, 1);
    } else {
        x = weft__kv_tree_seek(&m->tree, pre, pre_len, 0);
    }
    for (; x && weft__kv_has_prefix(x, pre, pre_len);
         x = weft__kv_tree_seek(&m->tree, x->data, x->sk_len, 1)) {
        if (!visible(m, x))
            continue;
        if (*n == cap)
            return 1;
        weft__kv_to_item(x, &out[(*n)++]);
    }
    return 0;
}

void weft_kv_node_ns(const weft_node_id *id, char out[WEFT_KV_NODE_NS_LEN])
{
    char hex[WEFT_ID_HEX_LEN];
    weft_id_hex(id, hex);
    out[0] = '@';
    memcpy(out + 1, hex, 64);
}

int weft_kv_node_state_set(weft_engine *e, const void *key, size_t key_len,
                           const void *value, size_t value_len, uint64_t now_us)
{
    if (!e)
        return WEFT_ERR_INVAL;
    char ns[WEFT_KV_NODE_NS_LEN];
    weft_kv_node_ns(weft_engine_id(e), ns);
    return weft_kv_put(e, ns, sizeof ns, key, key_len, value, value_len, 0, now_us);
}

int weft_kv_node_state_get(weft_engine *e, const weft_node_id *node, const void *key,
                           size_t key_len, weft_kv_item *out)
{
    if (!node)
        return WEFT_ERR_INVAL;
    char ns[WEFT_KV_NODE_NS_LEN];
    weft_kv_node_ns(node, ns);
    return weft_kv_get(e, ns, sizeof ns, key, key_len, out);
}

int weft_kv_watch(weft_engine *e, const void *ns, size_t ns_len, const void *prefix,
                  size_t prefix_len, weft_kv_watch_fn cb, void *ctx, uint32_t *id)
{
    kv_mod *m = get(e);
    if (!m)
        return e ? WEFT_ERR_STATE : WEFT_ERR_INVAL;
    if (!ns || !ns_len || ns_len > WEFT_KV_NS_MAX || (prefix_len && !prefix) ||
        prefix_len > WEFT__KV_KEY_HARD_MAX || !id)
        return WEFT_ERR_INVAL;
    kv_watch *w = NULL;
    for (size_t i = 0; i < WEFT_KV_WATCHES_MAX && !w; i++)
        if (!m->watches[i].id)
            w = &m->watches[i];
    if (!w)
        return WEFT_ERR_LIMIT;
    size_t n = 1 + ns_len + prefix_len;
    uint8_t *sk = weft__alloc(m->a, n);
    if (!sk)
        return WEFT_ERR_NOMEM;
    sk[0] = (uint8_t)ns_len;
    memcpy(sk + 1, ns, ns_len);
    if (prefix_len)
        memcpy(sk + 1 + ns_len, prefix, prefix_len);
    w->sk = sk;
    w->sk_len = n;
    w->cb = cb;
    w->ctx = ctx;
    w->id = m->next_watch_id++;
    if (!m->next_watch_id)
        m->next_watch_id = 1;
    *id = w->id;
    return 0;
}

int weft_kv_unwatch(weft_engine *e, uint32_t id)
{
    kv_mod *m = get(e);
    if (!m)
        return e ? WEFT_ERR_STATE : WEFT_ERR_INVAL;
    for (size_t i = 0; i < WEFT_KV_WATCHES_MAX; i++) {
        kv_watch *w = &m->watches[i];
        if (id && w->id == id) {
            weft__free(m->a, w->sk);
            memset(w, 0, sizeof *w);
            return 0;
        }
    }
    return WEFT_ERR_NOT_FOUND;
}

int weft_kv_event_item(const weft_event *ev, weft_kv_item *out)
{
    if (!ev || !out || ev->type != WEFT_EV_KV_CHANGED || !ev->u.module.data)
        return WEFT_ERR_INVAL;
    memset(out, 0, sizeof *out);
    weft__rd r;
    weft__rd_init(&r, ev->u.module.data, ev->u.module.len);
    out->ns_len = weft__rd_u8(&r);
    out->ns = weft__rd_bytes(&r, out->ns_len);
    out->key_len = (size_t)weft__rd_varint(&r);
    out->key = weft__rd_bytes(&r, out->key_len);
    out->value = weft__rd_rest(&r, &out->value_len);
    if (!weft__rd_ok(&r))
        return WEFT_ERR_INVAL;
    out->hlc = ev->u.module.value[0];
    out->expires_ms = ev->u.module.value[1];
    out->deleted = ev->u.module.value[2] != 0;
    out->writer = ev->peer;
    return 0;
}

int weft_kv_sync(weft_engine *e, const weft_node_id *peer, uint64_t now_us)
{
    kv_mod *m = get(e);
    if (!m)
        return e ? WEFT_ERR_STATE : WEFT_ERR_INVAL;
    weft_host_enter(e, now_us);
    weft_node_id to;
    int rc = 0;
    if (peer)
        to = *peer;
    else
        rc = weft__kv_pick_member(e, &to);
    if (rc == 0)
        rc = weft__kv_sync_start(m, &to, now_us);
    weft_host_leave(e);
    return rc;
}

int weft_kv_digest(const weft_engine *e, uint8_t out[16], uint64_t *count)
{
    kv_mod *m = get(e);
    if (!m)
        return e ? WEFT_ERR_STATE : WEFT_ERR_INVAL;
    weft__kv_fp fp = weft__kv_tree_range(&m->tree, NULL, 0, NULL, 0);
    if (out) {
        weft__put_u64(out, fp.lo);
        weft__put_u64(out + 8, fp.hi);
    }
    if (count)
        *count = fp.count;
    return 0;
}

int weft_kv_stats_get(const weft_engine *e, weft_kv_stats *out)
{
    kv_mod *m = get(e);
    if (!m)
        return e ? WEFT_ERR_STATE : WEFT_ERR_INVAL;
    if (!out)
        return WEFT_ERR_INVAL;
    *out = m->st;
    out->entries = weft__kv_tree_count(&m->tree) - m->tombstones;
    out->tombstones = m->tombstones;
    out->hlc = m->hlc;
    return 0;
}
