/*
 * entry.c -- the registry entry format: validation of entries given by the
 * application, the canonical binary encoding (used on the wire by
 * replication and as the storage form), and its strict decoder.
 *
 * The layout is documented at weft_registry_entry_encode in
 * include/weft/registry.h; the offsets are named in registry_internal.h.
 * The decoder treats its input as hostile: every length is checked against
 * the bytes left before it is used, and every value against the format's
 * limits, so that whatever it accepts re-encodes to the same bytes
 * (fuzz/fuzz_registry_entry.c checks this).
 */
#include <math.h>
#include <string.h>

#include "base/varint.h"
#include "registry/registry_internal.h"

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

static inline uint64_t mix64(uint64_t a, uint64_t b)
{
    __uint128_t m = (__uint128_t)a * b;
    return (uint64_t)m ^ (uint64_t)(m >> 64);
}

/*
 * A keyed 64-bit hash in the style of wyhash: 8-byte words folded with a
 * 64x64->128 multiply.  Used only for the registry's hash tables; the seed
 * (weft_registry_config.hash_seed) keeps peers from aiming collisions.
 */
uint64_t weft__reg_hash64(const void *p, size_t n, uint64_t seed)
{
    const uint8_t *b = p;
    uint64_t h = seed ^ 0x9e3779b97f4a7c15ULL ^ (n * 0xa0761d6478bd642fULL);
    while (n >= 8) {
        h = mix64(h ^ weft__get_u64(b), 0xe7037ed1a0b428dbULL);
        b += 8;
        n -= 8;
    }
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t |= (uint64_t)b[i] << (8 * i);
    h = mix64(h ^ t, 0x8ebc6af09c88c6e3ULL);
    return mix64(h, 0x589965cc75374cc3ULL);
}

int weft__reg_bytes_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

double weft__reg_vector_norm2(const float *v, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(v[i]))
            return -1;
        s += (double)v[i] * (double)v[i];
    }
    return s < WEFT_REGISTRY_NORM2_MAX ? s : -1;
}

/* ---------------------------------------------------------------------- */
/* Metadata                                                               */

/* Sorts idx[0..n) so that kv[idx[i]] are in key order (n <= 64: insertion
 * sort is the right tool). */
static void sort_pairs(const weft_registry_kv *kv, size_t n, uint8_t *idx)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint8_t)i;
    for (size_t i = 1; i < n; i++) {
        uint8_t x = idx[i];
        size_t j = i;
        while (j > 0 && weft__reg_bytes_cmp(kv[idx[j - 1]].key,
                                            kv[idx[j - 1]].key_len, kv[x].key,
                                            kv[x].key_len) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = x;
    }
}

ptrdiff_t weft__reg_meta_size(const weft_registry_kv *kv, size_t n)
{
    if (n == 0)
        return 0;
    if (!kv || n > WEFT_REGISTRY_META_PAIRS_MAX)
        return WEFT_ERR_INVAL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key || kv[i].key_len == 0 ||
            kv[i].key_len > WEFT_REGISTRY_KEY_BYTES_MAX ||
            kv[i].value_len > WEFT_REGISTRY_VALUE_BYTES_MAX ||
            (!kv[i].value && kv[i].value_len))
            return WEFT_ERR_INVAL;
        total += 3 + kv[i].key_len + kv[i].value_len;
    }
    uint8_t idx[WEFT_REGISTRY_META_PAIRS_MAX];
    sort_pairs(kv, n, idx);
    for (size_t i = 1; i < n; i++)
        if (weft__reg_bytes_cmp(kv[idx[i - 1]].key, kv[idx[i - 1]].key_len,
                                kv[idx[i]].key, kv[idx[i]].key_len) == 0)
            return WEFT_ERR_INVAL; /* duplicate key */
    if (total > WEFT_REGISTRY_META_BYTES_MAX)
        return WEFT_ERR_TOO_BIG;
    return (ptrdiff_t)total;
}

void weft__reg_meta_write(const weft_registry_kv *kv, size_t n, uint8_t *out)
{
    uint8_t idx[WEFT_REGISTRY_META_PAIRS_MAX];
    sort_pairs(kv, n, idx);
    for (size_t i = 0; i < n; i++) {
        const weft_registry_kv *p = &kv[idx[i]];
        out[0] = (uint8_t)p->key_len;
        weft__put_u16(out + 1, (uint16_t)p->value_len);
        memcpy(out + 3, p->key, p->key_len);
        if (p->value_len)
            memcpy(out + 3 + p->key_len, p->value, p->value_len);
        out += 3 + p->key_len + p->value_len;
    }
}

int weft__reg_meta_next(const uint8_t *p, size_t len, size_t *off,
                        weft_registry_kv *kv)
{
    if (*off + 3 > len)
        return 0;
    size_t kl = p[*off], vl = weft__get_u16(p + *off + 1);
    kv->key = (const char *)p + *off + 3;
    kv->key_len = kl;
    kv->value = (const char *)p + *off + 3 + kl;
    kv->value_len = vl;
    *off += 3 + kl + vl;
    return 1;
}

/* ---------------------------------------------------------------------- */
/* Encoding                                                               */

ptrdiff_t weft_registry_entry_encoded_size(const weft_registry_entry *e)
{
    if (!e || !e->hash || e->hash_len == 0 ||
        e->hash_len > WEFT_REGISTRY_HASH_BYTES_MAX || !e->type ||
        e->type_len == 0 || e->type_len > WEFT_REGISTRY_TYPE_BYTES_MAX)
        return WEFT_ERR_INVAL;
    if (!(e->confidence >= 0.0f && e->confidence <= 1.0f)) /* NaN too */
        return WEFT_ERR_INVAL;
    if ((e->embedding == NULL) != (e->dim == 0) ||
        e->dim > WEFT_REGISTRY_DIM_MAX)
        return WEFT_ERR_INVAL;
    if (e->embedding && weft__reg_vector_norm2(e->embedding, e->dim) < 0)
        return WEFT_ERR_INVAL;
    ptrdiff_t m = weft__reg_meta_size(e->meta, e->meta_count);
    if (m < 0)
        return m;
    return (ptrdiff_t)(WEFT__REG_OFF_BODY + e->hash_len + e->type_len) + m +
           (ptrdiff_t)(4 * e->dim);
}

ptrdiff_t weft_registry_entry_encode(const weft_registry_entry *e, uint8_t *buf,
                                     size_t cap)
{
    ptrdiff_t n = weft_registry_entry_encoded_size(e);
    if (n < 0)
        return n;
    if (!buf || (size_t)n > cap)
        return WEFT_ERR_BUFSMALL;
    ptrdiff_t meta_bytes = weft__reg_meta_size(e->meta, e->meta_count);
    union { float f; uint32_t u; } conf = { e->confidence };
    if (e->confidence == 0.0f)
        conf.u = 0; /* -0 and +0 are one value: one encoding */

    buf[WEFT__REG_OFF_VERSION] = WEFT__REG_ENTRY_VERSION;
    buf[WEFT__REG_OFF_FLAGS] = e->embedding ? WEFT__REG_FLAG_EMB : 0;
    buf[WEFT__REG_OFF_HASH_LEN] = (uint8_t)e->hash_len;
    buf[WEFT__REG_OFF_TYPE_LEN] = (uint8_t)e->type_len;
    buf[WEFT__REG_OFF_META_COUNT] = (uint8_t)e->meta_count;
    buf[WEFT__REG_OFF_ZERO] = 0;
    weft__put_u16(buf + WEFT__REG_OFF_DIM, (uint16_t)e->dim);
    weft__put_u64(buf + WEFT__REG_OFF_TIME, e->time_ms);
    weft__put_u32(buf + WEFT__REG_OFF_CONF, conf.u);
    weft__put_u32(buf + WEFT__REG_OFF_META_BYTES, (uint32_t)meta_bytes);
    memcpy(buf + WEFT__REG_OFF_OWNER, e->owner.key, WEFT_ID_BYTES);

    uint8_t *p = buf + WEFT__REG_OFF_BODY;
    memcpy(p, e->hash, e->hash_len);
    p += e->hash_len;
    memcpy(p, e->type, e->type_len);
    p += e->type_len;
    weft__reg_meta_write(e->meta, e->meta_count, p);
    p += meta_bytes;
    for (size_t i = 0; i < e->dim; i++, p += 4) {
        union { float f; uint32_t u; } v = { e->embedding[i] };
        weft__put_u32(p, v.u);
    }
    return n;
}

/* ---------------------------------------------------------------------- */
/* Decoding                                                               */

int weft_registry_entry_decode(weft_registry_entry *out, const uint8_t *buf,
                               size_t len, weft_registry_kv *meta,
                               size_t meta_cap, float *emb, size_t emb_cap)
{
    if (!out || (!buf && len))
        return WEFT_ERR_INVAL;
    if (len < WEFT__REG_OFF_BODY)
        return WEFT_ERR_PROTO;
    /* header */
    uint8_t flags = buf[WEFT__REG_OFF_FLAGS];
    size_t hash_len = buf[WEFT__REG_OFF_HASH_LEN];
    size_t type_len = buf[WEFT__REG_OFF_TYPE_LEN];
    size_t npairs = buf[WEFT__REG_OFF_META_COUNT];
    size_t dim = weft__get_u16(buf + WEFT__REG_OFF_DIM);
    uint32_t conf_bits = weft__get_u32(buf + WEFT__REG_OFF_CONF);
    size_t meta_bytes = weft__get_u32(buf + WEFT__REG_OFF_META_BYTES);
    union { uint32_t u; float f; } conf = { conf_bits };

    if (buf[WEFT__REG_OFF_VERSION] != WEFT__REG_ENTRY_VERSION ||
        (flags & ~WEFT__REG_FLAG_EMB) || buf[WEFT__REG_OFF_ZERO] != 0)
        return WEFT_ERR_PROTO;
    if (hash_len == 0 || hash_len > WEFT_REGISTRY_HASH_BYTES_MAX ||
        type_len == 0 || type_len > WEFT_REGISTRY_TYPE_BYTES_MAX ||
        npairs > WEFT_REGISTRY_META_PAIRS_MAX ||
        meta_bytes > WEFT_REGISTRY_META_BYTES_MAX)
        return WEFT_ERR_PROTO;
    if ((flags & WEFT__REG_FLAG_EMB) ? (dim == 0 || dim > WEFT_REGISTRY_DIM_MAX)
                                     : dim != 0)
        return WEFT_ERR_PROTO;
    /* confidence: a number in [0, 1], +0 only (one encoding per value) */
    if (!(conf.f >= 0.0f && conf.f <= 1.0f) || conf_bits == 0x80000000u)
        return WEFT_ERR_PROTO;
    /* all lengths are small (checked above), so this sum cannot overflow */
    size_t total = WEFT__REG_OFF_BODY + hash_len + type_len + meta_bytes + 4 * dim;
    if (total != len)
        return WEFT_ERR_PROTO; /* truncated, or bytes after the entry */
    if (npairs > meta_cap || (npairs && !meta))
        return WEFT_ERR_TOO_BIG;
    if (dim > emb_cap || (dim && !emb))
        return WEFT_ERR_TOO_BIG;

    const uint8_t *p = buf + WEFT__REG_OFF_BODY;
    const uint8_t *hash = p;
    const char *type = (const char *)p + hash_len;
    const uint8_t *m = p + hash_len + type_len;
    const uint8_t *v = m + meta_bytes;

    /* metadata: exactly npairs pairs filling exactly meta_bytes, keys
     * non-empty and strictly increasing */
    size_t off = 0;
    for (size_t i = 0; i < npairs; i++) {
        if (meta_bytes - off < 3)
            return WEFT_ERR_PROTO;
        size_t kl = m[off], vl = weft__get_u16(m + off + 1);
        if (kl == 0 || vl > WEFT_REGISTRY_VALUE_BYTES_MAX ||
            kl + vl > meta_bytes - off - 3)
            return WEFT_ERR_PROTO;
        meta[i].key = (const char *)m + off + 3;
        meta[i].key_len = kl;
        meta[i].value = (const char *)m + off + 3 + kl;
        meta[i].value_len = vl;
        if (i > 0 && weft__reg_bytes_cmp(meta[i - 1].key, meta[i - 1].key_len,
                                         meta[i].key, kl) >= 0)
            return WEFT_ERR_PROTO;
        off += 3 + kl + vl;
    }
    if (off != meta_bytes)
        return WEFT_ERR_PROTO;

    /* embedding: raw little-endian binary32, finite, bounded norm */
    double norm2 = 0;
    for (size_t i = 0; i < dim; i++) {
        union { uint32_t u; float f; } x = { weft__get_u32(v + 4 * i) };
        if (!isfinite(x.f))
            return WEFT_ERR_PROTO;
        emb[i] = x.f;
        norm2 += (double)x.f * (double)x.f;
    }
    if (!(norm2 < WEFT_REGISTRY_NORM2_MAX))
        return WEFT_ERR_PROTO;

    memset(out, 0, sizeof *out);
    out->hash = hash;
    out->hash_len = hash_len;
    out->type = type;
    out->type_len = type_len;
    memcpy(out->owner.key, buf + WEFT__REG_OFF_OWNER, WEFT_ID_BYTES);
    out->time_ms = weft__get_u64(buf + WEFT__REG_OFF_TIME);
    out->confidence = conf.f;
    out->meta = npairs ? meta : NULL;
    out->meta_count = npairs;
    out->embedding = dim ? emb : NULL;
    out->dim = dim;
    return 0;
}
