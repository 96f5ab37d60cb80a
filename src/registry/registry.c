/*
 * registry.c -- one registry namespace: its slots and columns, the hash
 * table from entry hash to slot, add / get / remove with their limits and
 * counters, and the filter planner that turns a weft_registry_filter into
 * a bitmap of matching slots from the indexes (dict.c posting lists,
 * oindex.c ordered sets).  Searching over that bitmap is search.c's job.
 *
 * Changes are all or nothing (the noise.c habit: work on the side, commit
 * on success).  weft_registry_add validates the entry, then reserves
 * everything it may need (a slot, hash-table room, the record, posting
 * list room, ordered-index room, an IVF list slot); only when all of that
 * succeeded does it write, and nothing after that point can fail.  A
 * replace adds the new entry to the indexes before removing the old one,
 * so a value both share never drops to zero references in between.
 */
#include <math.h>
#include <string.h>

#include "base/util.h"
#include "registry/registry_internal.h"

void weft_registry_config_default_versioned(int version, weft_registry_config *cfg)
{
    if (version != WEFT_REGISTRY_CONFIG_V1 || !cfg)
        return;
    memset(cfg, 0, sizeof *cfg);
    cfg->dim = 512;
    cfg->metric = WEFT_REGISTRY_COSINE;
    cfg->max_entries = 1000000;
    cfg->entry_bytes_max = 4 * 512 + 4096 + 256;
    cfg->meta_bytes_max = 4096;
    cfg->k_max = 1000;
    cfg->batch_max = 64;
    cfg->types_max = 1024;
    cfg->owners_max = 65536;
    cfg->meta_values_max = 4194304;
}

static size_t words_of(size_t bits) { return (bits + 63) / 64; }

int weft_registry_new_versioned(weft_registry **out, int version,
                                const weft_registry_config *cfg, const weft_allocator *a)
{
    if (!out)
        return WEFT_ERR_INVAL;
    *out = NULL;
    if (version != WEFT_REGISTRY_CONFIG_V1)
        return WEFT_ERR_VERSION_MISMATCH;
    weft_registry_config c;
    if (cfg) {
        c = *cfg;
    } else {
        weft_registry_config_default(&c);
    }
    if (c.dim == 0 || c.dim > WEFT_REGISTRY_DIM_MAX ||
        c.metric > WEFT_REGISTRY_IP || c.max_entries == 0 ||
        c.max_entries > (1u << 31) || c.k_max == 0 ||
        c.k_max > WEFT_REGISTRY_K_MAX || c.batch_max == 0 ||
        c.batch_max > WEFT_REGISTRY_BATCH_MAX ||
        c.meta_bytes_max > WEFT_REGISTRY_META_BYTES_MAX ||
        c.entry_bytes_max < WEFT_REGISTRY_ENTRY_HEADER_BYTES + 2 ||
        c.types_max == 0 || c.types_max > UINT16_MAX + 1u ||
        c.owners_max == 0 || c.meta_values_max == 0)
        return WEFT_ERR_CONFIG;
    weft_registry *r = weft__calloc(a, sizeof *r);
    if (!r)
        return WEFT_ERR_NOMEM;
    r->cfg = c;
    r->a = a;
    r->kern = weft__reg_kernels_get(WEFT__REG_SIMD_AUTO);
    r->stride = ((size_t)c.dim + 15) & ~(size_t)15;
    /* the three dictionaries get different seeds so that one collision
     * pattern does not serve all */
    weft__reg_dict_init(&r->types, a, c.hash_seed ^ 0x7479706573ULL, c.types_max);
    weft__reg_dict_init(&r->owners, a, c.hash_seed ^ 0x6f776e657273ULL, c.owners_max);
    weft__reg_dict_init(&r->pairs, a, c.hash_seed ^ 0x7061697273ULL, c.meta_values_max);
    weft__reg_oindex_init(&r->by_time, a);
    weft__reg_oindex_init(&r->by_conf, a);
    *out = r;
    return 0;
}

void weft_registry_del(weft_registry *r)
{
    if (!r)
        return;
    weft__reg_ivf_free(r);
    for (uint32_t i = 0; i < r->hw; i++)
        weft__free(r->a, r->rec[i]);
    const weft_allocator *a = r->a;
    weft__free(a, r->vec_raw);
    weft__free(a, r->rec);
    weft__free(a, r->type_id);
    weft__free(a, r->owner_id);
    weft__free(a, r->time_ms);
    weft__free(a, r->conf);
    weft__free(a, r->inv_norm);
    weft__free(a, r->type_pos);
    weft__free(a, r->owner_pos);
    weft__free(a, r->live_bits);
    weft__free(a, r->emb_bits);
    weft__free(a, r->free_slots);
    weft__free(a, r->htab);
    weft__reg_dict_free(&r->types);
    weft__reg_dict_free(&r->owners);
    weft__reg_dict_free(&r->pairs);
    weft__reg_oindex_free(&r->by_time);
    weft__reg_oindex_free(&r->by_conf);
    weft__free(a, r);
}

const weft_registry_config *weft_registry_get_config(const weft_registry *r)
{
    return r ? &r->cfg : NULL;
}

size_t weft_registry_count(const weft_registry *r)
{
    return r ? r->count : 0;
}

int weft__reg_set_simd(weft_registry *r, int level)
{
    const weft__reg_kernels *k = weft__reg_kernels_get(level);
    if (!k)
        return WEFT_ERR_INVAL;
    r->kern = k;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Slots                                                                  */

#define GROW(field, n)                                                         \
    do {                                                                       \
        void *p_ = weft__realloc(r->a, r->field, (size_t)(n) * sizeof *r->field); \
        if (!p_)                                                               \
            return WEFT_ERR_NOMEM;                                             \
        r->field = p_;                                                         \
    } while (0)

/*
 * Grows every column to ncap slots.  A column that grew before a later one
 * failed is merely larger than cap: harmless, and reused next time.  The
 * embedding rows move to a new aligned block (the allocator hook has no
 * aligned allocation, so the block is over-allocated by 63 bytes).
 */
static int grow_slots(weft_registry *r, uint32_t ncap)
{
    size_t ow = words_of(r->cap), nw = words_of(ncap);
    GROW(rec, ncap);
    GROW(type_id, ncap);
    GROW(owner_id, ncap);
    GROW(time_ms, ncap);
    GROW(conf, ncap);
    GROW(inv_norm, ncap);
    GROW(type_pos, ncap);
    GROW(owner_pos, ncap);
    GROW(free_slots, ncap);
    GROW(live_bits, nw);
    GROW(emb_bits, nw);
    memset(r->live_bits + ow, 0, (nw - ow) * sizeof *r->live_bits);
    memset(r->emb_bits + ow, 0, (nw - ow) * sizeof *r->emb_bits);
    size_t row = r->stride * sizeof(float);
    void *raw = weft__alloc(r->a, (size_t)ncap * row + 63);
    if (!raw)
        return WEFT_ERR_NOMEM;
    float *v = (float *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    if (r->hw)
        memcpy(v, r->vec, (size_t)r->hw * row);
    weft__free(r->a, r->vec_raw);
    r->vec_raw = raw;
    r->vec = v;
    for (uint32_t i = r->cap; i < ncap; i++)
        r->rec[i] = NULL;
    r->cap = ncap;
    return 0;
}

/* Room for one more slot.  The cap may exceed max_entries by one: a
 * replace holds the old and the new entry for a moment. */
static int reserve_slot(weft_registry *r)
{
    if (r->nfree || r->hw < r->cap)
        return 0;
    uint64_t ncap = r->cap ? 2 * (uint64_t)r->cap : 64;
    uint64_t lim = (uint64_t)r->cfg.max_entries + 1;
    if (ncap > lim)
        ncap = lim;
    if (ncap <= r->cap)
        return WEFT_ERR_LIMIT; /* cannot happen: count is checked first */
    return grow_slots(r, (uint32_t)ncap);
}

/* ---------------------------------------------------------------------- */
/* Hash table: entry hash -> slot.  Each cell holds (tag << 32 | slot + 1),
 * tag = low 32 bits of the keyed hash; the home cell is tag & mask. */

static uint32_t hash_tag(const weft_registry *r, const uint8_t *h, size_t n)
{
    return (uint32_t)weft__reg_hash64(h, n, r->cfg.hash_seed);
}

static int rec_is(const weft__reg_rec *rc, const uint8_t *h, size_t n)
{
    return rc->hash_len == n && memcmp(weft__reg_rec_hash(rc), h, n) == 0;
}

/* Cell of hash h, or the empty cell where it would go (*found = 0). */
static size_t htab_find(const weft_registry *r, const uint8_t *h, size_t n,
                        uint32_t tag, int *found)
{
    size_t mask = r->htab_cap - 1;
    for (size_t i = tag & mask;; i = (i + 1) & mask) {
        uint64_t c = (r->htab)[i];
        if (!c) {
            *found = 0;
            return i;
        }
        if ((uint32_t)(c >> 32) == tag &&
            rec_is(r->rec[(uint32_t)c - 1], h, n)) {
            *found = 1;
            return i;
        }
    }
}

uint32_t weft__reg_lookup(const weft_registry *r, const uint8_t *hash,
                          size_t len)
{
    if (!r->htab_cap || !hash || len == 0 || len > WEFT_REGISTRY_HASH_BYTES_MAX)
        return WEFT__REG_NONE;
    int found;
    size_t i = htab_find(r, hash, len, hash_tag(r, hash, len), &found);
    return found ? (uint32_t)(r->htab)[i] - 1 : WEFT__REG_NONE;
}

static int htab_reserve(weft_registry *r, size_t n)
{
    if (2 * n <= r->htab_cap)
        return 0;
    size_t ncap = r->htab_cap ? 2 * r->htab_cap : 64;
    while (2 * n > ncap)
        ncap *= 2;
    uint64_t *t = weft__calloc(r->a, ncap * sizeof *t);
    if (!t)
        return WEFT_ERR_NOMEM;
    const uint64_t *old = r->htab;
    for (size_t i = 0; i < r->htab_cap; i++) {
        if (!old[i])
            continue;
        size_t j = (uint32_t)(old[i] >> 32) & (ncap - 1);
        while (t[j])
            j = (j + 1) & (ncap - 1);
        t[j] = old[i];
    }
    weft__free(r->a, r->htab);
    r->htab = t;
    r->htab_cap = ncap;
    return 0;
}

static void htab_delete(weft_registry *r, size_t i)
{
    uint64_t *t = r->htab;
    size_t mask = r->htab_cap - 1;
    for (size_t j = (i + 1) & mask; t[j]; j = (j + 1) & mask) {
        size_t home = (uint32_t)(t[j] >> 32) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t[i] = t[j];
            i = j;
        }
    }
    t[i] = 0;
}

/* ---------------------------------------------------------------------- */
/* Add                                                                    */

/* The dictionary key of a metadata pair: key length, key, value. */
static size_t pair_key(uint8_t *buf, const weft_registry_kv *kv)
{
    buf[0] = (uint8_t)kv->key_len;
    memcpy(buf + 1, kv->key, kv->key_len);
    if (kv->value_len)
        memcpy(buf + 1 + kv->key_len, kv->value, kv->value_len);
    return 1 + kv->key_len + kv->value_len;
}
#define PAIR_KEY_MAX (1 + WEFT_REGISTRY_KEY_BYTES_MAX + WEFT_REGISTRY_VALUE_BYTES_MAX)

/* Everything an add reserved before committing. */
typedef struct add_plan {
    weft__reg_rec *rec;
    uint32_t tid, oid, list;
    uint32_t pid[WEFT_REGISTRY_META_PAIRS_MAX];
    size_t npid;
    int have_tid, have_oid;
} add_plan;

static void unreserve(weft_registry *r, add_plan *ap)
{
    weft__free(r->a, ap->rec);
    if (ap->have_tid)
        weft__reg_dict_release_if_empty(&r->types, ap->tid);
    if (ap->have_oid)
        weft__reg_dict_release_if_empty(&r->owners, ap->oid);
    for (size_t i = 0; i < ap->npid; i++)
        weft__reg_dict_release_if_empty(&r->pairs, ap->pid[i]);
}

static int reserve_indexes(weft_registry *r, const weft_registry_entry *e,
                           add_plan *ap)
{
    int rc = weft__reg_dict_reserve(&r->types, e->type, e->type_len, &ap->tid);
    if (rc)
        return rc;
    ap->have_tid = 1;
    rc = weft__reg_dict_reserve(&r->owners, e->owner.key, WEFT_ID_BYTES, &ap->oid);
    if (rc)
        return rc;
    ap->have_oid = 1;
    uint8_t buf[PAIR_KEY_MAX];
    for (size_t i = 0; i < e->meta_count; i++) {
        size_t n = pair_key(buf, &e->meta[i]);
        rc = weft__reg_dict_reserve(&r->pairs, buf, n, &ap->pid[i]);
        if (rc)
            return rc;
        ap->npid = i + 1;
    }
    if ((rc = weft__reg_oindex_reserve(&r->by_time)) ||
        (rc = weft__reg_oindex_reserve(&r->by_conf)))
        return rc;
    return 0;
}

/* Removes slot from every index and frees it (the hash table is the
 * caller's business). */
static void remove_slot(weft_registry *r, uint32_t slot)
{
    weft__reg_rec *rc = r->rec[slot];
    uint32_t moved = weft__reg_dict_del(&r->types, r->type_id[slot], r->type_pos[slot]);
    if (moved != WEFT__REG_NONE)
        r->type_pos[moved] = r->type_pos[slot];
    moved = weft__reg_dict_del(&r->owners, r->owner_id[slot], r->owner_pos[slot]);
    if (moved != WEFT__REG_NONE)
        r->owner_pos[moved] = r->owner_pos[slot];
    for (size_t i = 0; i < rc->npairs; i++) {
        uint32_t id = rc->pairs[2 * i], pos = rc->pairs[2 * i + 1];
        moved = weft__reg_dict_del(&r->pairs, id, pos);
        if (moved == WEFT__REG_NONE)
            continue;
        weft__reg_rec *mr = r->rec[moved];
        for (size_t j = 0; j < mr->npairs; j++)
            if (mr->pairs[2 * j] == id) {
                mr->pairs[2 * j + 1] = pos;
                break;
            }
    }
    int ok = weft__reg_oindex_remove(&r->by_time, r->time_ms[slot], slot);
    ok |= weft__reg_oindex_remove(&r->by_conf, weft__reg_conf_key(r->conf[slot]), slot);
    (void)ok; /* both are present by construction */
    if (weft__reg_bit(r->emb_bits, slot)) {
        if (r->ivf)
            weft__reg_ivf_remove(r, slot);
        r->nemb--;
    }
    r->live_bits[slot >> 6] &= ~(1ULL << (slot & 63));
    r->emb_bits[slot >> 6] &= ~(1ULL << (slot & 63));
    weft__free(r->a, rc);
    r->rec[slot] = NULL;
    r->free_slots[r->nfree++] = slot;
    r->count--;
}

int weft_registry_add(weft_registry *r, const weft_registry_entry *e,
                      uint32_t flags)
{
    if (!r || !e)
        return WEFT_ERR_INVAL;
    if (e->embedding && e->dim != r->cfg.dim) {
        r->st.refused_dim++;
        return WEFT_ERR_INVAL;
    }
    ptrdiff_t size = weft_registry_entry_encoded_size(e);
    if (size == WEFT_ERR_TOO_BIG) {
        r->st.refused_meta_bytes++;
        return WEFT_ERR_TOO_BIG;
    }
    if (size < 0) {
        r->st.refused_invalid++;
        return (int)size;
    }
    ptrdiff_t meta_bytes = weft__reg_meta_size(e->meta, e->meta_count);
    if ((size_t)meta_bytes > r->cfg.meta_bytes_max) {
        r->st.refused_meta_bytes++;
        return WEFT_ERR_TOO_BIG;
    }
    if ((size_t)size > r->cfg.entry_bytes_max) {
        r->st.refused_entry_bytes++;
        return WEFT_ERR_TOO_BIG;
    }
    uint32_t old = weft__reg_lookup(r, e->hash, e->hash_len);
    if (old != WEFT__REG_NONE && !(flags & WEFT_REGISTRY_REPLACE)) {
        r->st.refused_exists++;
        return WEFT_ERR_EXISTS;
    }
    if (old == WEFT__REG_NONE && r->count >= r->cfg.max_entries) {
        r->st.refused_full++;
        return WEFT_ERR_LIMIT;
    }

    /* --- reserve ------------------------------------------------------ */
    double norm2 = e->embedding ? weft__reg_vector_norm2(e->embedding, e->dim) : 0;
    float inv_norm = 1.0f;
    if (r->cfg.metric == WEFT_REGISTRY_COSINE)
        inv_norm = norm2 > 0 ? (float)(1.0 / sqrt(norm2)) : 0.0f;
    add_plan ap;
    memset(&ap, 0, sizeof ap);
    int rc;
    if ((rc = reserve_slot(r)) || (rc = htab_reserve(r, (size_t)r->count + 1)))
        return rc;
    size_t rec_bytes = sizeof(weft__reg_rec) + 8 * e->meta_count + e->hash_len +
                       (size_t)meta_bytes;
    ap.rec = weft__alloc(r->a, rec_bytes);
    if (!ap.rec)
        return WEFT_ERR_NOMEM;
    rc = reserve_indexes(r, e, &ap);
    if (!rc && r->ivf && e->embedding)
        rc = weft__reg_ivf_reserve(r, e->embedding, inv_norm, &ap.list);
    if (rc) {
        unreserve(r, &ap);
        return rc;
    }

    /* --- commit: nothing below can fail -------------------------------- */
    uint32_t slot = r->nfree ? r->free_slots[--r->nfree] : r->hw++;
    weft__reg_rec *rec = ap.rec;
    rec->meta_len = (uint16_t)meta_bytes;
    rec->hash_len = (uint8_t)e->hash_len;
    rec->npairs = (uint8_t)e->meta_count;
    /* the record keeps the metadata sorted (the canonical form); the ids
     * reserved above follow the caller's order, so match them by pair */
    memcpy((uint8_t *)weft__reg_rec_hash(rec), e->hash, e->hash_len);
    weft__reg_meta_write(e->meta, e->meta_count, (uint8_t *)weft__reg_rec_meta(rec));
    for (size_t i = 0; i < e->meta_count; i++) {
        rec->pairs[2 * i] = ap.pid[i];
        rec->pairs[2 * i + 1] = weft__reg_dict_add(&r->pairs, ap.pid[i], slot);
    }
    r->rec[slot] = rec;
    r->type_id[slot] = (uint16_t)ap.tid;
    r->owner_id[slot] = ap.oid;
    r->type_pos[slot] = weft__reg_dict_add(&r->types, ap.tid, slot);
    r->owner_pos[slot] = weft__reg_dict_add(&r->owners, ap.oid, slot);
    r->time_ms[slot] = e->time_ms;
    r->conf[slot] = e->confidence == 0.0f ? 0.0f : e->confidence;
    r->inv_norm[slot] = inv_norm;
    weft__reg_oindex_insert(&r->by_time, e->time_ms, slot);
    weft__reg_oindex_insert(&r->by_conf, weft__reg_conf_key(r->conf[slot]), slot);
    float *row = r->vec + (size_t)slot * r->stride;
    if (e->embedding) {
        memcpy(row, e->embedding, e->dim * sizeof *row);
        memset(row + e->dim, 0, (r->stride - e->dim) * sizeof *row);
        r->emb_bits[slot >> 6] |= 1ULL << (slot & 63);
        r->nemb++;
        if (r->ivf)
            weft__reg_ivf_insert(r, slot, ap.list);
    } else {
        memset(row, 0, r->stride * sizeof *row);
    }
    r->live_bits[slot >> 6] |= 1ULL << (slot & 63);
    r->count++;

    uint32_t tag = hash_tag(r, e->hash, e->hash_len);
    int found;
    size_t cell = htab_find(r, e->hash, e->hash_len, tag, &found);
    if (old != WEFT__REG_NONE)
        remove_slot(r, old); /* after the new one holds its values */
    (r->htab)[cell] = (uint64_t)tag << 32 | (slot + 1);
    if (old != WEFT__REG_NONE)
        r->st.replaces++;
    else
        r->st.adds++;
    return 0;
}

int weft_registry_remove(weft_registry *r, const uint8_t *hash, size_t hash_len)
{
    if (!r || !hash)
        return WEFT_ERR_INVAL;
    uint32_t slot = weft__reg_lookup(r, hash, hash_len);
    if (slot == WEFT__REG_NONE)
        return WEFT_ERR_NOT_FOUND;
    int found;
    size_t cell = htab_find(r, hash, hash_len, hash_tag(r, hash, hash_len), &found);
    htab_delete(r, cell);
    remove_slot(r, slot);
    r->st.removes++;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Get                                                                    */

static void view(const weft_registry *r, uint32_t slot, weft_registry_entry *out,
                 weft_registry_kv *meta)
{
    const weft__reg_rec *rc = r->rec[slot];
    const weft__reg_dict_item *t = &r->types.items[r->type_id[slot]];
    memset(out, 0, sizeof *out);
    out->hash = weft__reg_rec_hash(rc);
    out->hash_len = rc->hash_len;
    out->type = (const char *)t->key;
    out->type_len = t->key_len;
    memcpy(out->owner.key, r->owners.items[r->owner_id[slot]].key, WEFT_ID_BYTES);
    out->time_ms = r->time_ms[slot];
    out->confidence = r->conf[slot];
    size_t off = 0, n = 0;
    while (n < rc->npairs &&
           weft__reg_meta_next(weft__reg_rec_meta(rc), rc->meta_len, &off, &meta[n]))
        n++;
    out->meta = n ? meta : NULL;
    out->meta_count = n;
    if (weft__reg_bit(r->emb_bits, slot)) {
        out->embedding = r->vec + (size_t)slot * r->stride;
        out->dim = r->cfg.dim;
    }
}

int weft_registry_get(const weft_registry *r, const uint8_t *hash,
                      size_t hash_len, weft_registry_entry *out,
                      weft_registry_kv *meta, size_t meta_cap)
{
    if (!r || !hash || !out)
        return WEFT_ERR_INVAL;
    uint32_t slot = weft__reg_lookup(r, hash, hash_len);
    if (slot == WEFT__REG_NONE)
        return WEFT_ERR_NOT_FOUND;
    if (r->rec[slot]->npairs > meta_cap || (r->rec[slot]->npairs && !meta))
        return WEFT_ERR_BUFSMALL;
    view(r, slot, out, meta);
    return 0;
}

ptrdiff_t weft_registry_get_encoded(const weft_registry *r, const uint8_t *hash,
                                    size_t hash_len, uint8_t *buf, size_t cap)
{
    if (!r || !hash)
        return WEFT_ERR_INVAL;
    uint32_t slot = weft__reg_lookup(r, hash, hash_len);
    if (slot == WEFT__REG_NONE)
        return WEFT_ERR_NOT_FOUND;
    weft_registry_entry e;
    weft_registry_kv meta[WEFT_REGISTRY_META_PAIRS_MAX];
    view(r, slot, &e, meta);
    return weft_registry_entry_encode(&e, buf, cap);
}

void weft_registry_get_stats(const weft_registry *r, weft_registry_stats *st)
{
    if (!r || !st)
        return;
    *st = r->st;
    st->searches = __atomic_load_n(&r->sst.searches, __ATOMIC_RELAXED);
    st->queries = __atomic_load_n(&r->sst.queries, __ATOMIC_RELAXED);
    st->plan_index = __atomic_load_n(&r->sst.plan_index, __ATOMIC_RELAXED);
    st->plan_scan = __atomic_load_n(&r->sst.plan_scan, __ATOMIC_RELAXED);
    st->refused_k = __atomic_load_n(&r->sst.refused_k, __ATOMIC_RELAXED);
    st->refused_batch = __atomic_load_n(&r->sst.refused_batch, __ATOMIC_RELAXED);
    st->entries = r->count;
    st->embeddings = r->nemb;
    st->types = r->types.live;
    st->owners = r->owners.live;
    st->meta_values = r->pairs.live;
    st->refused_types = r->types.refused;
    st->refused_owners = r->owners.refused;
    st->refused_meta_values = r->pairs.refused;
    st->index_lists = weft__reg_ivf_nlist(r);
    st->index_entries = r->ivf ? r->nemb : 0;
    size_t per_slot = sizeof(*r->rec) + sizeof(*r->type_id) + sizeof(*r->owner_id) +
                      sizeof(*r->time_ms) + sizeof(*r->conf) + sizeof(*r->inv_norm) +
                      sizeof(*r->type_pos) + sizeof(*r->owner_pos) +
                      sizeof(*r->free_slots) + r->stride * sizeof(float);
    size_t b = sizeof *r + (size_t)r->cap * per_slot + 2 * words_of(r->cap) * 8 +
               r->htab_cap * 8 + r->types.bytes + r->owners.bytes + r->pairs.bytes +
               (r->by_time.nblocks + r->by_conf.nblocks + 2) * sizeof(weft__reg_oblock) +
               weft__reg_ivf_bytes(r);
    for (uint32_t i = 0; i < r->hw; i++)
        if (r->rec[i])
            b += sizeof(weft__reg_rec) + 8 * r->rec[i]->npairs + r->rec[i]->hash_len +
                 r->rec[i]->meta_len;
    st->bytes = b;
}

/* ---------------------------------------------------------------------- */
/* The filter planner                                                     */

void weft_registry_filter_init(weft_registry_filter *f)
{
    memset(f, 0, sizeof *f);
    f->time_ms_max = UINT64_MAX;
}

int weft__reg_filter_check(const weft_registry_filter *f)
{
    if (!f)
        return 0;
    if ((f->type && (f->type_len == 0 || f->type_len > WEFT_REGISTRY_TYPE_BYTES_MAX)) ||
        isnan(f->confidence_min) || f->meta_count > WEFT_REGISTRY_FILTER_META_MAX ||
        (f->meta_count && !f->meta))
        return WEFT_ERR_INVAL;
    for (size_t i = 0; i < f->meta_count; i++)
        if (!f->meta[i].key || f->meta[i].key_len == 0 ||
            f->meta[i].key_len > WEFT_REGISTRY_KEY_BYTES_MAX ||
            f->meta[i].value_len > WEFT_REGISTRY_VALUE_BYTES_MAX ||
            (!f->meta[i].value && f->meta[i].value_len))
            return WEFT_ERR_INVAL;
    return 0;
}

/* A filter, resolved to ids and bounds. */
typedef struct terms {
    uint32_t tid, oid;                  /* WEFT__REG_NONE = no term */
    uint32_t pid[WEFT_REGISTRY_FILTER_META_MAX];
    size_t npid;
    int time, conf;                     /* term present */
    uint64_t tmin, tmax;
    float cmin;
} terms;

static int slot_passes(const weft_registry *r, const terms *t, uint32_t s)
{
    if (t->tid != WEFT__REG_NONE && r->type_id[s] != t->tid)
        return 0;
    if (t->oid != WEFT__REG_NONE && r->owner_id[s] != t->oid)
        return 0;
    if (t->time && (r->time_ms[s] < t->tmin || r->time_ms[s] > t->tmax))
        return 0;
    if (t->conf && !(r->conf[s] >= t->cmin))
        return 0;
    if (t->npid) {
        const weft__reg_rec *rc = r->rec[s];
        for (size_t i = 0; i < t->npid; i++) {
            size_t j = 0;
            while (j < rc->npairs && rc->pairs[2 * j] != t->pid[i])
                j++;
            if (j == rc->npairs)
                return 0;
        }
    }
    return 1;
}

/* A scan beats walking an index once the index names more than an
 * eighth of the slots: its reads are sequential, the index's random. */
#define INDEX_FRACTION 8

int weft__reg_plan(const weft_registry *r, const weft_registry_filter *f,
                   int need_emb, weft_registry_scratch *s,
                   const uint64_t **bits_out, uint64_t *matched)
{
    const uint64_t *base = need_emb ? r->emb_bits : r->live_bits;
    size_t nw = words_of(r->hw);
    *bits_out = base;
    *matched = need_emb ? r->nemb : r->count;
    terms t;
    memset(&t, 0, sizeof t);
    t.tid = t.oid = WEFT__REG_NONE;
    int any = 0;
    if (f) {
        /* resolve each term; one that names nothing empties the result */
        enum { D_NONE, D_TYPE, D_OWNER, D_PAIR, D_TIME, D_CONF } drv = D_NONE;
        size_t best = SIZE_MAX, drv_pair = 0;
        if (f->type) {
            any = 1;
            t.tid = weft__reg_dict_find(&r->types, f->type, f->type_len);
            if (t.tid == WEFT__REG_NONE)
                goto empty;
            best = r->types.items[t.tid].n;
            drv = D_TYPE;
        }
        if (f->owner) {
            any = 1;
            t.oid = weft__reg_dict_find(&r->owners, f->owner->key, WEFT_ID_BYTES);
            if (t.oid == WEFT__REG_NONE)
                goto empty;
            if (r->owners.items[t.oid].n < best) {
                best = r->owners.items[t.oid].n;
                drv = D_OWNER;
            }
        }
        for (size_t i = 0; i < f->meta_count; i++) {
            uint8_t buf[PAIR_KEY_MAX];
            size_t n = pair_key(buf, &f->meta[i]);
            any = 1;
            t.pid[i] = weft__reg_dict_find(&r->pairs, buf, n);
            if (t.pid[i] == WEFT__REG_NONE)
                goto empty;
            t.npid = i + 1;
            if (r->pairs.items[t.pid[i]].n < best) {
                best = r->pairs.items[t.pid[i]].n;
                drv = D_PAIR;
                drv_pair = i;
            }
        }
        if (f->time_ms_min > 0 || f->time_ms_max < UINT64_MAX) {
            any = 1;
            t.time = 1;
            t.tmin = f->time_ms_min;
            t.tmax = f->time_ms_max;
            size_t n = weft__reg_oindex_count(&r->by_time, t.tmin, t.tmax);
            if (n == 0)
                goto empty;
            if (n < best) {
                best = n;
                drv = D_TIME;
            }
        }
        if (f->confidence_min > 0) {
            any = 1;
            if (f->confidence_min > 1)
                goto empty;
            t.conf = 1;
            t.cmin = f->confidence_min;
            size_t n = weft__reg_oindex_count(&r->by_conf,
                                              weft__reg_conf_key(t.cmin), UINT64_MAX);
            if (n == 0)
                goto empty;
            if (n < best) {
                best = n;
                drv = D_CONF;
            }
        }
        if (!any)
            return WEFT_REGISTRY_PLAN_ALL;

        uint64_t *bits = s->bits;
        uint64_t m = 0;
        if (best * INDEX_FRACTION >= r->count) {
            /* not selective: one pass over the columns */
            for (size_t w = 0; w < nw; w++) {
                uint64_t b = base[w], o = 0;
                while (b) {
                    uint32_t slot = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(b));
                    b &= b - 1;
                    if (slot_passes(r, &t, slot))
                        o |= 1ULL << (slot & 63);
                }
                bits[w] = o;
                m += (uint64_t)__builtin_popcountll(o);
            }
            *bits_out = bits;
            *matched = m;
            return WEFT_REGISTRY_PLAN_SCAN;
        }
        /* selective: walk the driver's index, check the other terms */
        memset(bits, 0, nw * sizeof *bits);
        const uint32_t *list = NULL;
        size_t ln = 0;
        if (drv == D_TYPE) {
            list = r->types.items[t.tid].slots;
            ln = r->types.items[t.tid].n;
        } else if (drv == D_OWNER) {
            list = r->owners.items[t.oid].slots;
            ln = r->owners.items[t.oid].n;
        } else if (drv == D_PAIR) {
            list = r->pairs.items[t.pid[drv_pair]].slots;
            ln = r->pairs.items[t.pid[drv_pair]].n;
        }
        if (list) {
            for (size_t i = 0; i < ln; i++) {
                uint32_t slot = list[i];
                if (weft__reg_bit(base, slot) && slot_passes(r, &t, slot)) {
                    bits[slot >> 6] |= 1ULL << (slot & 63);
                    m++;
                }
            }
        } else {
            const weft__reg_oindex *o = drv == D_TIME ? &r->by_time : &r->by_conf;
            uint64_t lo = drv == D_TIME ? t.tmin : weft__reg_conf_key(t.cmin);
            uint64_t hi = drv == D_TIME ? t.tmax : UINT64_MAX;
            weft__reg_opos pos = weft__reg_oindex_lower(o, lo);
            weft__reg_oelem el;
            while (weft__reg_oindex_next(o, &pos, &el) && el.key <= hi) {
                if (weft__reg_bit(base, el.slot) && slot_passes(r, &t, el.slot)) {
                    bits[el.slot >> 6] |= 1ULL << (el.slot & 63);
                    m++;
                }
            }
        }
        *bits_out = bits;
        *matched = m;
        return WEFT_REGISTRY_PLAN_INDEX;
    }
    return WEFT_REGISTRY_PLAN_ALL;
empty:
    *matched = 0;
    *bits_out = NULL;
    return WEFT_REGISTRY_PLAN_EMPTY;
}
