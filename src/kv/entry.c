/*
 * entry.c -- the ENTRY layout (entry.h): decode, encode, signature digest
 * and check, item hash, sort keys, node-state namespaces, version order.
 */
#include <string.h>

#include "base/util.h"
#include "kv/entry.h"

static const char SIG_LABEL[] = "weft-kv-entry-v1";
static const char ITEM_LABEL[] = "weft-kv-item-v1";

int weft__kv_entry_read(weft__rd *r, weft__kv_view *v)
{
    memset(v, 0, sizeof *v);
    size_t start = r->pos;
    v->flags = weft__rd_u8(r);
    v->hlc = weft__rd_u64(r);
    v->writer = weft__rd_bytes(r, 32);
    v->ns_len = weft__rd_u8(r);
    v->ns = weft__rd_bytes(r, v->ns_len);
    v->key_len = (size_t)weft__rd_varint(r);
    if (v->key_len > WEFT__KV_KEY_HARD_MAX)
        weft__rd_fail(r);
    v->key = weft__rd_bytes(r, v->key_len);
    if (v->flags & WEFT__KV_F_EXPIRES)
        v->expires_ms = weft__rd_u64(r);
    uint64_t vl = weft__rd_varint(r);
    if (vl > WEFT__KV_VALUE_HARD_MAX)
        weft__rd_fail(r);
    v->val_len = (size_t)vl;
    v->val = weft__rd_bytes(r, v->val_len);
    if (weft__rd_ok(r)) {
        v->signed_p = r->p + start;
        v->signed_len = r->pos - start;
    }
    v->sig = weft__rd_bytes(r, WEFT__KV_SIG_BYTES);
    if (v->flags & ~(WEFT__KV_F_TOMBSTONE | WEFT__KV_F_EXPIRES) || !v->ns_len ||
        v->ns_len > 128 || !v->key_len || ((v->flags & WEFT__KV_F_TOMBSTONE) && v->val_len) ||
        ((v->flags & WEFT__KV_F_EXPIRES) && !v->expires_ms))
        weft__rd_fail(r);
    return weft__rd_ok(r) ? 0 : WEFT_ERR_PROTO;
}

size_t weft__kv_entry_size(const weft__kv_ent *x)
{
    size_t klen = x->sk_len - 1u - x->data[0];
    return WEFT__KV_ENTRY_FIXED + x->data[0] + weft__varint_len(klen) + klen +
           ((x->flags & WEFT__KV_F_EXPIRES) ? 8 : 0) + weft__varint_len(x->val_len) +
           x->val_len + WEFT__KV_SIG_BYTES;
}

void weft__kv_entry_write(weft__wr *w, const weft__kv_ent *x)
{
    size_t nslen = x->data[0], klen = x->sk_len - 1u - nslen;
    weft__wr_u8(w, x->flags);
    weft__wr_u64(w, x->hlc);
    weft__wr_bytes(w, x->writer.key, 32);
    weft__wr_u8(w, (uint8_t)nslen);
    weft__wr_bytes(w, x->data + 1, nslen);
    weft__wr_varint(w, klen);
    weft__wr_bytes(w, x->data + 1 + nslen, klen);
    if (x->flags & WEFT__KV_F_EXPIRES)
        weft__wr_u64(w, x->expires_ms);
    weft__wr_varint(w, x->val_len);
    weft__wr_bytes(w, weft__kv_ent_val(x), x->val_len);
    weft__wr_bytes(w, x->sig, WEFT__KV_SIG_BYTES);
}

void weft__kv_entry_digest(const weft_crypto *c, const uint8_t *signed_p, size_t len,
                           uint8_t out[64])
{
    weft_iov iov[2] = {{SIG_LABEL, sizeof SIG_LABEL - 1}, {signed_p, len}};
    c->hash(c->ctx, out, iov, 2);
}

int weft__kv_entry_verify(const weft_crypto *c, const weft__kv_view *v)
{
    uint8_t d[64];
    weft__kv_entry_digest(c, v->signed_p, v->signed_len, d);
    return c->verify(c->ctx, v->sig, d, sizeof d, v->writer) == 0 ? 0
                                                                  : WEFT_ERR_BAD_SIGNATURE;
}

size_t weft__kv_sk_make(uint8_t *out, const uint8_t *ns, size_t ns_len, const uint8_t *key,
                        size_t key_len)
{
    out[0] = (uint8_t)ns_len;
    memcpy(out + 1, ns, ns_len);
    memcpy(out + 1 + ns_len, key, key_len);
    return 1 + ns_len + key_len;
}

int weft__kv_sk_split(const uint8_t *sk, size_t len, const uint8_t **ns, size_t *ns_len,
                      const uint8_t **key, size_t *key_len)
{
    if (len < 3 || !sk[0] || sk[0] > 128 || 1u + sk[0] >= len)
        return WEFT_ERR_PROTO;
    *ns = sk + 1;
    *ns_len = sk[0];
    *key = sk + 1 + sk[0];
    *key_len = len - 1 - sk[0];
    return 0;
}

void weft__kv_ent_hash(const weft_crypto *c, weft__kv_ent *x)
{
    uint8_t hlc[8], h[64];
    weft__put_u64(hlc, x->hlc);
    weft_iov iov[4] = {{ITEM_LABEL, sizeof ITEM_LABEL - 1},
                       {x->data, x->sk_len},
                       {hlc, 8},
                       {x->writer.key, 32}};
    c->hash(c->ctx, h, iov, 4);
    x->h_lo = weft__get_u64(h);
    x->h_hi = weft__get_u64(h + 8);
}

weft__kv_ent *weft__kv_ent_from_view(const weft_allocator *a, const weft_crypto *c,
                                     const weft__kv_view *v)
{
    size_t sk_len = 1 + v->ns_len + v->key_len;
    weft__kv_ent *x = weft__alloc(a, sizeof *x + sk_len + v->val_len);
    if (!x)
        return NULL;
    memset(x, 0, sizeof *x);
    weft__kv_sk_make(x->data, v->ns, v->ns_len, v->key, v->key_len);
    if (v->val_len)
        memcpy(x->data + sk_len, v->val, v->val_len);
    x->sk_len = (uint16_t)sk_len;
    x->val_len = (uint32_t)v->val_len;
    x->hlc = v->hlc;
    x->expires_ms = v->expires_ms;
    x->flags = v->flags;
    memcpy(x->writer.key, v->writer, 32);
    memcpy(x->sig, v->sig, WEFT__KV_SIG_BYTES);
    weft__kv_ent_hash(c, x);
    return x;
}

void weft__kv_ent_view(const weft__kv_ent *x, weft__kv_view *v)
{
    memset(v, 0, sizeof *v);
    v->flags = x->flags;
    v->hlc = x->hlc;
    v->writer = x->writer.key;
    (void)weft__kv_sk_split(x->data, x->sk_len, &v->ns, &v->ns_len, &v->key, &v->key_len);
    v->expires_ms = x->expires_ms;
    v->val = weft__kv_ent_val(x);
    v->val_len = x->val_len;
    v->sig = x->sig;
}

int weft__kv_version_cmp(uint64_t hlc_a, const uint8_t *writer_a, uint64_t hlc_b,
                         const uint8_t *writer_b)
{
    if (hlc_a != hlc_b)
        return hlc_a > hlc_b ? 1 : -1;
    return memcmp(writer_a, writer_b, 32);
}

int weft__kv_ns_owner(const uint8_t *ns, size_t ns_len, weft_node_id *owner)
{
    if (!ns_len || ns[0] != '@')
        return 0;
    if (ns_len != 65)
        return -1;
    for (size_t i = 1; i < 65; i++) /* lowercase only: one spelling per node */
        if (!((ns[i] >= '0' && ns[i] <= '9') || (ns[i] >= 'a' && ns[i] <= 'f')))
            return -1;
    char hex[65];
    memcpy(hex, ns + 1, 64);
    hex[64] = 0;
    return weft__unhex(owner->key, 32, hex) == 0 ? 1 : -1;
}
