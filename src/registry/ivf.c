/*
 * ivf.c -- the registry's approximate index: an inverted file (IVF) whose
 * lists hold two compact codes of each vector's residual -- 1 bit and 8
 * bits per dimension -- searched in three stages, the last one exact.
 *
 * Build (weft_registry_index_build): k-means (Lloyd, random initial
 * centroids from a seeded sample, empty clusters split off the largest)
 * on a sample of the embeddings -- normalised first for COSINE, so the
 * index works on unit vectors and scores estimate cosines.  Every vector
 * is filed into the list of its nearest centroid, and its residual
 * r = x - c is stored twice:
 *   - as signs, one bit per dimension, with one float f = |r|^2 / sum|r_i|
 *     (the 1-bit estimator of RaBitQ, Gao and Long, SIGMOD 2024, without
 *     its random rotation): q . r ~ f (2 S - sum q_i), S = the sum of q_i
 *     over the dimensions whose bit is set;
 *   - as one byte per dimension, code = round((r - min) / scale), with
 *     per-dimension min and scale from the sample's residuals (values
 *     outside are clamped): q . r ~ q . min + sum_i (q_i scale_i) code_i.
 * Later adds are filed as they come with the same centroids and scales;
 * removals leave their list.
 *
 * Search, per query q (normalised for COSINE):
 *   1. score q . c for every centroid; keep the nprobe best lists; cut q
 *      to 4 bits per dimension in 4 bit planes, so S is 5 popcounts of
 *      ANDed words per 512 dimensions;
 *   2. in each list, estimate q . x = q . c + q . r from the 1-bit codes
 *      (64 bytes for 512 dimensions: 1/32 of the float32 row) and keep
 *      the `candidates` best that pass the filter bitmap; re-estimate
 *      those from their 8-bit codes and keep the `rerank` best;
 *   3. re-score those exactly in float32 and return the top k in the
 *      registry's total order (score, then hash).
 * Phases 1 and 3 run per query, phase 2 per (query, group of lists), all
 * through the caller's exec.  The estimates only choose candidates: every
 * score returned is exact.  On data without structure (random vectors)
 * no list is closer than another and nprobe must cover all lists; the
 * 1-bit stage is what still makes that pass 10-20x cheaper than float32.
 */
#include <math.h>
#include <string.h>

#include "base/util.h"
#include "registry/registry_internal.h"

typedef struct ivf_list {
    uint32_t n, cap;
    int owned;               /* arrays are the list's own, not the arena's */
    uint32_t *slots;
    uint8_t *codes;          /* cap rows of stride bytes: 8-bit codes */
    uint64_t *bits;          /* cap rows of bwords words: 1-bit codes */
    float *fac;              /* cap factors f of the 1-bit estimator */
} ivf_list;

struct weft__reg_ivf {
    uint32_t nlist;
    size_t stride;           /* floats per centroid row, = r->stride */
    float *cent;             /* nlist rows, 64-byte aligned */
    void *cent_raw;
    float *cn2h;             /* |c|^2 / 2: argmin L2 = argmax x.c - |c|^2/2 */
    float *vmin, *vscale;    /* per dimension (stride; padding: 0, 0) */
    ivf_list *lists;
    uint32_t *where, *pos;   /* per slot: its list and position there */
    uint32_t where_cap;
    size_t bwords;           /* 64-bit words per 1-bit row (multiple of 8) */
    uint32_t nprobe, rerank, cands; /* defaults */
    float *tmp;              /* nlist floats, for filing one vector */
    float *tmpv;             /* stride floats, aligned, ditto */
    void *tmpv_raw;
    /* the lists' rows as built, in list order, in one block each (so
     * that scans and candidate lookups stay within few pages); a list
     * that outgrows its part moves to arrays of its own */
    uint32_t *a_slots;
    uint8_t *a_codes;
    uint64_t *a_bits;
    float *a_fac;
    size_t bytes;
};

#define RERANK_MIN 64
#define RERANK_PER_K 8
#define NLIST_MAX 65536

/* ---------------------------------------------------------------------- */
/* Helpers                                                                */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void *alloc_aligned(const weft_allocator *a, size_t bytes, void **raw)
{
    *raw = weft__alloc(a, bytes + 63);
    if (!*raw)
        return NULL;
    return (void *)(((uintptr_t)*raw + 63) & ~(uintptr_t)63);
}

static void ivf_del(const weft_allocator *a, struct weft__reg_ivf *v)
{
    if (!v)
        return;
    if (v->lists)
        for (uint32_t i = 0; i < v->nlist; i++) {
            if (!v->lists[i].owned)
                continue;
            weft__free(a, v->lists[i].slots);
            weft__free(a, v->lists[i].codes);
            weft__free(a, v->lists[i].bits);
            weft__free(a, v->lists[i].fac);
        }
    weft__free(a, v->a_slots);
    weft__free(a, v->a_codes);
    weft__free(a, v->a_bits);
    weft__free(a, v->a_fac);
    weft__free(a, v->lists);
    weft__free(a, v->cent_raw);
    weft__free(a, v->cn2h);
    weft__free(a, v->vmin);
    weft__free(a, v->vscale);
    weft__free(a, v->where);
    weft__free(a, v->pos);
    weft__free(a, v->tmp);
    weft__free(a, v->tmpv_raw);
    weft__free(a, v);
}

void weft__reg_ivf_free(weft_registry *r)
{
    ivf_del(r->a, r->ivf);
    r->ivf = NULL;
}

void weft_registry_index_drop(weft_registry *r)
{
    if (r)
        weft__reg_ivf_free(r);
}

size_t weft__reg_ivf_bytes(const weft_registry *r)
{
    return r->ivf ? r->ivf->bytes : 0;
}

uint32_t weft__reg_ivf_nlist(const weft_registry *r)
{
    return r->ivf ? r->ivf->nlist : 0;
}

/* Encodes the residual r = x * scale_x - c into row pos of list L: the
 * 8-bit code, the sign bits and the 1-bit estimator's factor. */
static void encode(const struct weft__reg_ivf *v, const float *x, float scale_x,
                   const float *c, size_t dim, ivf_list *L, uint32_t pos)
{
    uint8_t *code = L->codes + (size_t)pos * v->stride;
    uint64_t *bits = L->bits + (size_t)pos * v->bwords;
    double n2 = 0, l1 = 0;
    memset(bits, 0, v->bwords * sizeof *bits);
    for (size_t i = 0; i < dim; i++) {
        float res = x[i] * scale_x - c[i];
        float q = v->vscale[i] > 0 ? (res - v->vmin[i]) / v->vscale[i] : 0.0f;
        q = q < 0 ? 0 : q > 255 ? 255 : q;
        code[i] = (uint8_t)lrintf(q);
        if (res > 0)
            bits[i >> 6] |= 1ULL << (i & 63);
        n2 += (double)res * res;
        l1 += fabs((double)res);
    }
    memset(code + dim, 0, v->stride - dim);
    L->fac[pos] = l1 > 0 ? (float)(n2 / l1) : 0.0f;
}

/* Room for cap rows in L: its own arrays, grown, or new ones when its
 * rows are in the arena.  0 or WEFT_ERR_NOMEM (L keeps what it had). */
static int list_grow(const weft_allocator *a, struct weft__reg_ivf *v, ivf_list *L,
                     uint32_t cap)
{
    size_t sb = (size_t)cap * sizeof *L->slots, cb = (size_t)cap * v->stride;
    size_t bb = (size_t)cap * v->bwords * sizeof *L->bits, fb = (size_t)cap * sizeof *L->fac;
    if (!L->owned) {
        uint32_t *s = weft__alloc(a, sb);
        uint8_t *c = weft__alloc(a, cb);
        uint64_t *b = weft__alloc(a, bb);
        float *f = weft__alloc(a, fb);
        if (!s || !c || !b || !f) {
            weft__free(a, s);
            weft__free(a, c);
            weft__free(a, b);
            weft__free(a, f);
            return WEFT_ERR_NOMEM;
        }
        if (L->n) {
            memcpy(s, L->slots, (size_t)L->n * sizeof *s);
            memcpy(c, L->codes, (size_t)L->n * v->stride);
            memcpy(b, L->bits, (size_t)L->n * v->bwords * sizeof *b);
            memcpy(f, L->fac, (size_t)L->n * sizeof *f);
        }
        L->slots = s;
        L->codes = c;
        L->bits = b;
        L->fac = f;
        L->owned = 1;
    } else {
        uint32_t *s = weft__realloc(a, L->slots, sb);
        if (!s)
            return WEFT_ERR_NOMEM;
        L->slots = s;
        uint8_t *c = weft__realloc(a, L->codes, cb);
        if (!c)
            return WEFT_ERR_NOMEM;
        L->codes = c;
        uint64_t *b = weft__realloc(a, L->bits, bb);
        if (!b)
            return WEFT_ERR_NOMEM;
        L->bits = b;
        float *f = weft__realloc(a, L->fac, fb);
        if (!f)
            return WEFT_ERR_NOMEM;
        L->fac = f;
    }
    if (cap > L->cap)
        v->bytes += (size_t)(cap - L->cap) * (v->stride + 8 + 8 * v->bwords);
    L->cap = cap;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Assignment to the nearest centroid (parallel over groups of rows)     */

#define ASSIGN_GROUP 8

typedef struct assign_job {
    const weft__reg_kernels *kern;
    const float *x;          /* rows */
    size_t nrows, stride;
    const float *inv;        /* per row scale (NULL = 1) */
    const uint64_t *mask;    /* rows to assign (NULL = all) */
    const float *cent, *cn2h;
    size_t nlist;
    uint32_t *out;           /* per row: nearest centroid */
    float *tmp;              /* per chunk: ASSIGN_GROUP * nlist floats */
    size_t per;              /* rows per chunk, multiple of ASSIGN_GROUP */
} assign_job;

static void assign_chunk(void *arg, size_t c)
{
    const assign_job *j = arg;
    float *tmp = j->tmp + c * ASSIGN_GROUP * j->nlist;
    size_t r0 = c * j->per, r1 = WEFT__MIN(j->nrows, r0 + j->per);
    for (size_t g = r0; g < r1; g += ASSIGN_GROUP) {
        size_t n = WEFT__MIN((size_t)ASSIGN_GROUP, r1 - g);
        if (j->mask) {
            int any = 0;
            for (size_t i = 0; i < n; i++)
                any |= weft__reg_bit(j->mask, (uint32_t)(g + i));
            if (!any)
                continue;
        }
        j->kern->dot_tile(j->x + g * j->stride, n, j->cent, j->nlist, j->stride,
                          tmp, j->nlist);
        for (size_t i = 0; i < n; i++) {
            float s = j->inv ? j->inv[g + i] : 1.0f;
            const float *t = tmp + i * j->nlist;
            uint32_t best = 0;
            float bv = t[0] * s - j->cn2h[0];
            for (size_t l = 1; l < j->nlist; l++) {
                float val = t[l] * s - j->cn2h[l];
                if (val > bv) { /* ties: the lower id */
                    bv = val;
                    best = (uint32_t)l;
                }
            }
            j->out[g + i] = best;
        }
    }
}

static void run_assign(assign_job *j, const weft_registry_exec *exec, size_t nchunks)
{
    j->per = (j->nrows + nchunks - 1) / nchunks;
    j->per = (j->per + ASSIGN_GROUP - 1) / ASSIGN_GROUP * ASSIGN_GROUP;
    size_t nc = j->per ? (j->nrows + j->per - 1) / j->per : 0;
    weft__reg_run(exec, nc, assign_chunk, j);
}

static void centroid_norms(struct weft__reg_ivf *v)
{
    for (uint32_t l = 0; l < v->nlist; l++) {
        const float *c = v->cent + (size_t)l * v->stride;
        double s = 0;
        for (size_t i = 0; i < v->stride; i++)
            s += (double)c[i] * c[i];
        v->cn2h[l] = (float)(s / 2);
    }
}

/* ---------------------------------------------------------------------- */
/* Build                                                                  */

int weft_registry_index_build(weft_registry *r, const weft_registry_index_params *pp,
                              const weft_registry_exec *exec)
{
    if (!r)
        return WEFT_ERR_INVAL;
    weft_registry_index_params p;
    if (pp)
        p = *pp;
    else
        memset(&p, 0, sizeof p);
    if (r->nemb == 0)
        return WEFT_ERR_STATE;
    uint32_t nlist = p.nlist;
    if (!nlist) {
        nlist = (uint32_t)lrint(sqrt((double)r->nemb));
        nlist = nlist ? nlist : 1;
    }
    if (nlist > r->nemb || nlist > NLIST_MAX || p.rerank > WEFT_REGISTRY_RERANK_MAX ||
        p.candidates > WEFT_REGISTRY_CANDIDATES_MAX)
        return WEFT_ERR_CONFIG;
    size_t ntrain = p.train_max ? p.train_max : (size_t)64 * nlist;
    if (ntrain > r->nemb)
        ntrain = r->nemb;
    if (ntrain < nlist)
        ntrain = nlist;
    uint32_t iters = p.iterations ? p.iterations : 10;
    const weft_allocator *a = r->a;
    size_t stride = r->stride, dim = r->cfg.dim;
    size_t nchunks = exec && exec->parallel_for && exec->nthreads > 1
                         ? (size_t)exec->nthreads * 4 : 1;

    struct weft__reg_ivf *v = weft__calloc(a, sizeof *v);
    uint32_t *ids = weft__alloc(a, (size_t)r->nemb * sizeof *ids);
    void *train_raw = NULL, *tmp = NULL;
    float *train = NULL;
    uint32_t *assign = NULL, *sizes = NULL;
    double *sums = NULL;
    int rc = WEFT_ERR_NOMEM;
    if (!v || !ids)
        goto fail;
    v->nlist = nlist;
    v->stride = stride;
    v->bwords = (dim + 511) / 512 * 8;
    v->cent = alloc_aligned(a, (size_t)nlist * stride * sizeof(float), &v->cent_raw);
    v->cn2h = weft__alloc(a, (size_t)nlist * sizeof(float));
    v->vmin = weft__calloc(a, stride * sizeof(float));
    v->vscale = weft__calloc(a, stride * sizeof(float));
    v->lists = weft__calloc(a, (size_t)nlist * sizeof *v->lists);
    v->where_cap = r->cap;
    v->where = weft__alloc(a, (size_t)r->cap * sizeof(uint32_t));
    v->pos = weft__alloc(a, (size_t)r->cap * sizeof(uint32_t));
    v->tmp = weft__alloc(a, (size_t)nlist * sizeof(float));
    v->tmpv = alloc_aligned(a, stride * sizeof(float), &v->tmpv_raw);
    train = alloc_aligned(a, ntrain * stride * sizeof(float), &train_raw);
    tmp = weft__alloc(a, nchunks * ASSIGN_GROUP * nlist * sizeof(float));
    assign = weft__alloc(a, WEFT__MAX(ntrain, (size_t)r->hw) * sizeof *assign);
    sizes = weft__alloc(a, (size_t)nlist * sizeof *sizes);
    sums = weft__alloc(a, (size_t)nlist * stride * sizeof *sums);
    if (!v->cent || !v->cn2h || !v->vmin || !v->vscale || !v->lists || !v->where ||
        !v->pos || !v->tmp || !v->tmpv || !train || !tmp || !assign || !sizes || !sums)
        goto fail;

    /* sample: a seeded partial Fisher-Yates over the embedding slots */
    size_t ne = 0;
    for (uint32_t w = 0; w < (r->hw + 63) / 64; w++)
        for (uint64_t b = r->emb_bits[w]; b; b &= b - 1)
            ids[ne++] = w * 64 + (uint32_t)__builtin_ctzll(b);
    uint64_t seed = p.seed;
    for (size_t i = 0; i < ntrain; i++) {
        size_t j = i + (size_t)(splitmix(&seed) % (ne - i));
        uint32_t t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
        const float *x = r->vec + (size_t)ids[i] * stride;
        float s = r->inv_norm[ids[i]];
        float *d = train + i * stride;
        for (size_t k = 0; k < stride; k++)
            d[k] = x[k] * s;
    }
    /* initial centroids: the first nlist sample points (random order) */
    memcpy(v->cent, train, (size_t)nlist * stride * sizeof(float));

    assign_job j;
    memset(&j, 0, sizeof j);
    j.kern = r->kern;
    j.stride = stride;
    j.cent = v->cent;
    j.cn2h = v->cn2h;
    j.nlist = nlist;
    j.tmp = tmp;
    for (uint32_t it = 0; it < iters; it++) {
        centroid_norms(v);
        j.x = train;
        j.nrows = ntrain;
        j.inv = NULL;
        j.mask = NULL;
        j.out = assign;
        run_assign(&j, exec, nchunks);
        /* new centroids: means of their points (summed in double, in
         * point order: the same on every run) */
        memset(sums, 0, (size_t)nlist * stride * sizeof *sums);
        memset(sizes, 0, (size_t)nlist * sizeof *sizes);
        for (size_t i = 0; i < ntrain; i++) {
            double *s = sums + (size_t)assign[i] * stride;
            const float *x = train + i * stride;
            for (size_t k = 0; k < dim; k++)
                s[k] += x[k];
            sizes[assign[i]]++;
        }
        for (uint32_t l = 0; l < nlist; l++) {
            if (!sizes[l])
                continue;
            float *c = v->cent + (size_t)l * stride;
            for (size_t k = 0; k < dim; k++)
                c[k] = (float)(sums[(size_t)l * stride + k] / sizes[l]);
        }
        /* an empty cluster takes half of the largest: both copies of its
         * centroid are pushed apart a little (as FAISS does) */
        for (uint32_t l = 0; l < nlist; l++) {
            if (sizes[l])
                continue;
            uint32_t big = 0;
            for (uint32_t m = 1; m < nlist; m++)
                if (sizes[m] > sizes[big])
                    big = m;
            float *c = v->cent + (size_t)l * stride, *cb = v->cent + (size_t)big * stride;
            for (size_t k = 0; k < dim; k++) {
                float eps = (k & 1) ? 1.0f / 1024 : -1.0f / 1024;
                c[k] = cb[k] * (1 + eps);
                cb[k] = cb[k] * (1 - eps);
            }
            sizes[l] = sizes[big] / 2;
            sizes[big] -= sizes[l];
        }
    }
    centroid_norms(v);

    /* quantiser ranges: the sample's residuals to their final centroids */
    j.x = train;
    j.nrows = ntrain;
    j.out = assign;
    run_assign(&j, exec, nchunks);
    for (size_t k = 0; k < dim; k++) {
        float lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < ntrain; i++) {
            float res = train[i * stride + k] - v->cent[(size_t)assign[i] * stride + k];
            lo = res < lo ? res : lo;
            hi = res > hi ? res : hi;
        }
        v->vmin[k] = lo;
        v->vscale[k] = (hi - lo) / 255.0f;
    }

    /* file every embedding */
    j.x = r->vec;
    j.nrows = r->hw;
    j.inv = r->inv_norm;
    j.mask = r->emb_bits;
    j.out = assign;
    run_assign(&j, exec, nchunks);
    memset(sizes, 0, (size_t)nlist * sizeof *sizes);
    for (uint32_t s = 0; s < r->hw; s++)
        if (weft__reg_bit(r->emb_bits, s))
            sizes[assign[s]]++;
    size_t total = 0;
    for (uint32_t l = 0; l < nlist; l++)
        total += sizes[l] + sizes[l] / 8 + 4; /* room to grow in place */
    v->a_slots = weft__alloc(a, total * sizeof *v->a_slots);
    v->a_codes = weft__alloc(a, total * stride);
    v->a_bits = weft__alloc(a, total * v->bwords * sizeof *v->a_bits);
    v->a_fac = weft__alloc(a, total * sizeof *v->a_fac);
    if (!v->a_slots || !v->a_codes || !v->a_bits || !v->a_fac)
        goto fail;
    v->bytes += total * (stride + 8 + 8 * v->bwords);
    for (uint32_t l = 0, at = 0; l < nlist; l++) {
        ivf_list *L = &v->lists[l];
        L->cap = sizes[l] + sizes[l] / 8 + 4;
        L->slots = v->a_slots + at;
        L->codes = v->a_codes + (size_t)at * stride;
        L->bits = v->a_bits + (size_t)at * v->bwords;
        L->fac = v->a_fac + at;
        at += L->cap;
    }
    for (uint32_t s = 0; s < r->hw; s++) {
        if (!weft__reg_bit(r->emb_bits, s))
            continue;
        ivf_list *L = &v->lists[assign[s]];
        encode(v, r->vec + (size_t)s * stride, r->inv_norm[s],
               v->cent + (size_t)assign[s] * stride, dim, L, L->n);
        L->slots[L->n] = s;
        v->where[s] = assign[s];
        v->pos[s] = L->n++;
    }
    v->nprobe = p.nprobe ? WEFT__MIN(p.nprobe, nlist) : WEFT__MAX(1u, nlist / 8);
    v->rerank = p.rerank;
    v->cands = p.candidates;
    v->bytes += (size_t)nlist * (stride * 4 + 4 + sizeof(ivf_list)) + stride * 8 +
                (size_t)r->cap * 8;
    weft__reg_ivf_free(r);
    r->ivf = v;
    v = NULL;
    rc = 0;
fail:
    ivf_del(a, v);
    weft__free(a, ids);
    weft__free(a, train_raw);
    weft__free(a, tmp);
    weft__free(a, assign);
    weft__free(a, sizes);
    weft__free(a, sums);
    return rc;
}

/* ---------------------------------------------------------------------- */
/* Filing one vector                                                      */

int weft__reg_ivf_reserve(weft_registry *r, const float *x, float inv_norm,
                          uint32_t *list)
{
    struct weft__reg_ivf *v = r->ivf;
    const weft_allocator *a = r->a;
    if (v->where_cap < r->cap) {
        uint32_t *w = weft__realloc(a, v->where, (size_t)r->cap * sizeof *w);
        if (!w)
            return WEFT_ERR_NOMEM;
        v->where = w;
        uint32_t *p = weft__realloc(a, v->pos, (size_t)r->cap * sizeof *p);
        if (!p)
            return WEFT_ERR_NOMEM;
        v->pos = p;
        v->bytes += (size_t)(r->cap - v->where_cap) * 8;
        v->where_cap = r->cap;
    }
    size_t dim = r->cfg.dim;
    for (size_t i = 0; i < dim; i++)
        v->tmpv[i] = x[i] * inv_norm;
    memset(v->tmpv + dim, 0, (v->stride - dim) * sizeof(float));
    r->kern->dot_rows(v->tmpv, v->cent, v->stride, v->nlist, v->tmp);
    uint32_t best = 0;
    for (uint32_t l = 1; l < v->nlist; l++)
        if (v->tmp[l] - v->cn2h[l] > v->tmp[best] - v->cn2h[best])
            best = l;
    ivf_list *L = &v->lists[best];
    if (L->n == L->cap && list_grow(a, v, L, L->cap ? 2 * L->cap : 8))
        return WEFT_ERR_NOMEM;
    *list = best;
    return 0;
}

void weft__reg_ivf_insert(weft_registry *r, uint32_t slot, uint32_t list)
{
    struct weft__reg_ivf *v = r->ivf;
    ivf_list *L = &v->lists[list];
    encode(v, r->vec + (size_t)slot * v->stride, r->inv_norm[slot],
           v->cent + (size_t)list * v->stride, r->cfg.dim, L, L->n);
    L->slots[L->n] = slot;
    v->where[slot] = list;
    v->pos[slot] = L->n++;
}

void weft__reg_ivf_remove(weft_registry *r, uint32_t slot)
{
    struct weft__reg_ivf *v = r->ivf;
    ivf_list *L = &v->lists[v->where[slot]];
    uint32_t p = v->pos[slot], last = --L->n;
    if (p != last) {
        uint32_t moved = L->slots[last];
        L->slots[p] = moved;
        memcpy(L->codes + (size_t)p * v->stride, L->codes + (size_t)last * v->stride,
               v->stride);
        memcpy(L->bits + (size_t)p * v->bwords, L->bits + (size_t)last * v->bwords,
               v->bwords * sizeof *L->bits);
        L->fac[p] = L->fac[last];
        v->pos[moved] = p;
    }
}

/* ---------------------------------------------------------------------- */
/* Search                                                                 */

#define CANDS_PER_RERANK 16   /* 1-bit survivors per float32 re-score */
#define CANDS_MIN 1024

static uint32_t eff_nprobe(const struct weft__reg_ivf *v,
                           const weft_registry_search_params *p)
{
    uint32_t n = p->nprobe ? p->nprobe : v->nprobe;
    return n > v->nlist ? v->nlist : n;
}

static size_t eff_rerank(const struct weft__reg_ivf *v,
                         const weft_registry_search_params *p)
{
    size_t n = p->rerank ? p->rerank : v->rerank;
    if (!n)
        n = WEFT__MAX((size_t)RERANK_MIN, (size_t)RERANK_PER_K * p->k);
    return n < p->k ? p->k : n;
}

static size_t eff_cands(const struct weft__reg_ivf *v,
                        const weft_registry_search_params *p)
{
    size_t R = eff_rerank(v, p);
    size_t n = p->candidates ? p->candidates : v->cands;
    if (!n)
        n = WEFT__MAX((size_t)CANDS_MIN, CANDS_PER_RERANK * R);
    return n < R ? R : n;
}

/* 1-bit survivors per task.  With G groups of lists per query each keeps
 * a quarter more than its share of C rather than all of C: the lists are
 * dealt round-robin, so the best C spread about evenly over the groups,
 * and the 8-bit stage then costs ~1.25 C in all instead of G C. */
static size_t task_cands(size_t C, size_t G)
{
    return G > 1 ? (5 * C + 4 * G - 1) / (4 * G) : C;
}

/* List groups per query: several only for a single query with threads. */
static size_t groups(const weft_registry_exec *exec, size_t nq, uint32_t nprobe)
{
    if (nq > 1 || !exec || !exec->parallel_for || exec->nthreads <= 1)
        return 1;
    size_t g = (size_t)exec->nthreads * 2;
    return g > nprobe ? nprobe : g;
}

static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Floats per query in s->w: the normalised query, the weights of the 8-bit
 * estimate, the centroid scores and the 4 bit planes of the 1-bit one. */
static size_t w_stride(const weft_registry *r)
{
    const struct weft__reg_ivf *v = r->ivf;
    return 2 * r->stride + round16(v->nlist) + 4 * v->bwords * 2;
}

void weft__reg_ivf_scratch_needs(const weft_registry *r,
                                 const weft_registry_search_params *p, size_t nq,
                                 const weft_registry_exec *exec, size_t *cands,
                                 size_t *wfloats, size_t *probes)
{
    const struct weft__reg_ivf *v = r->ivf;
    uint32_t np = eff_nprobe(v, p);
    size_t g = groups(exec, nq, np);
    /* per task: the 1-bit survivors' buffer (2C) and the 8-bit heap (R);
     * per query: the final and the probe heaps */
    *cands = nq * g * (2 * task_cands(eff_cands(v, p), g) + eff_rerank(v, p)) +
             nq * p->k + nq * np;
    *wfloats = nq * w_stride(r);
    *probes = nq * np;
}

/* Per-query values of the estimators. */
typedef struct qstate {
    float base8;      /* q . min: offset of the 8-bit estimate */
    float lo, step;   /* 4-bit query: q_i ~ lo + step * u_i */
    float qsum;       /* sum of the 4-bit query's values */
} qstate;

typedef struct ivf_job {
    const weft_registry *r;
    const struct weft__reg_ivf *v;
    const uint64_t *bits;    /* NULL = no filter */
    size_t nq, k, R, C, G;   /* C: 1-bit survivors per task, R: 8-bit ones */
    uint32_t nprobe;
    weft_registry_scratch *s;
    size_t wstride;
    qstate *qs;
    uint64_t codes;          /* scored, summed after the run */
} ivf_job;

/* Approximate candidates order by estimate, then slot (any fixed order
 * will do: only the exact re-scoring decides the result). */
static inline int cand_better(const weft__reg_cand *a, const weft__reg_cand *b)
{
    return a->score > b->score || (a->score == b->score && a->slot < b->slot);
}

static void cand_sift_down(weft__reg_cand *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, w = i;
        if (l < n && cand_better(&h[w], &h[l]))
            w = l;
        if (l + 1 < n && cand_better(&h[w], &h[l + 1]))
            w = l + 1;
        if (w == i)
            return;
        weft__reg_cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void cand_push(weft__reg_cand *h, size_t *n, size_t k, double score,
                      uint32_t slot)
{
    weft__reg_cand c = { score, slot };
    if (*n < k) {
        size_t i = (*n)++;
        h[i] = c;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!cand_better(&h[p], &h[i]))
                break;
            weft__reg_cand t = h[i];
            h[i] = h[p];
            h[p] = t;
            i = p;
        }
        return;
    }
    if (!cand_better(&c, &h[0]))
        return;
    h[0] = c;
    cand_sift_down(h, *n, 0);
}

static float *qw(const ivf_job *j, size_t qi) { return j->s->w + qi * j->wstride; }

/* Phase 1, per query: normalised and weighted query, bit planes, lists. */
static void phase_probe(void *arg, size_t qi)
{
    ivf_job *j = arg;
    const weft_registry *r = j->r;
    const struct weft__reg_ivf *v = j->v;
    weft_registry_scratch *s = j->s;
    size_t st = r->stride, dim = r->cfg.dim;
    float *qn = qw(j, qi), *wq = qn + st, *cs = wq + st;
    uint64_t *planes = (uint64_t *)(cs + round16(v->nlist));
    const float *q = s->q + qi * st;
    float qs = s->qinv[qi], lo = INFINITY, hi = -INFINITY;
    double base = 0;
    for (size_t i = 0; i < st; i++) {
        qn[i] = q[i] * qs;
        wq[i] = qn[i] * v->vscale[i];
        base += (double)qn[i] * v->vmin[i];
    }
    for (size_t i = 0; i < dim; i++) {
        lo = qn[i] < lo ? qn[i] : lo;
        hi = qn[i] > hi ? qn[i] : hi;
    }
    /* the query in 4 bits per dimension, as 4 bit planes */
    float step = hi > lo ? (hi - lo) / 15.0f : 0.0f;
    uint32_t usum = 0;
    memset(planes, 0, 4 * v->bwords * sizeof *planes);
    for (size_t i = 0; i < dim; i++) {
        uint32_t u = step > 0 ? (uint32_t)lrintf((qn[i] - lo) / step) : 0;
        u = u > 15 ? 15 : u;
        usum += u;
        for (int b = 0; b < 4; b++)
            if (u >> b & 1)
                planes[(size_t)b * v->bwords + (i >> 6)] |= 1ULL << (i & 63);
    }
    qstate *st8 = &j->qs[qi];
    st8->base8 = (float)base;
    st8->lo = lo;
    st8->step = step;
    st8->qsum = lo * (float)dim + step * (float)usum;
    r->kern->dot_rows(qn, v->cent, st, v->nlist, cs);
    /* the nprobe best lists, best first.  COSINE: unit query, lists filed
     * by L2, so probe by L2 too (argmin |q - c| = argmax q.c - |c|^2/2);
     * IP: by q.c, as FAISS does */
    weft__reg_cand *h = s->heaps + j->nq * (j->G * (2 * j->C + j->R) + j->k) + qi * j->nprobe;
    size_t n = 0;
    int cosine = r->cfg.metric == WEFT_REGISTRY_COSINE;
    for (uint32_t l = 0; l < v->nlist; l++)
        cand_push(h, &n, j->nprobe, cosine ? cs[l] - v->cn2h[l] : cs[l], l);
    for (size_t end = n; end > 1; end--) {
        weft__reg_cand t = h[0];
        h[0] = h[end - 1];
        h[end - 1] = t;
        cand_sift_down(h, end - 1, 0);
    }
    for (size_t i = 0; i < n; i++)
        s->probe[qi * j->nprobe + i] = h[i].slot;
}

/*
 * The value of rank k (0 = largest) among a[0..n), reordering a.
 * Quickselect with a branch-free partition: on random estimates a
 * branching one mispredicts half the time, and this runs on every
 * compaction of the survivors' buffer.
 */
float weft__reg_kth_largest(float *a, size_t n, size_t k)
{
    size_t lo = 0, hi = n;
    while (hi - lo > 16) {
        float x = a[lo], y = a[lo + (hi - lo) / 2], z = a[hi - 1];
        float piv = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y));
        size_t p = lo;
        for (size_t i = lo; i < hi; i++) { /* a[i] > piv to the front */
            float v = a[i], w = a[p];
            int gt = v > piv;
            a[p] = gt ? v : w;
            a[i] = gt ? w : v;
            p += (size_t)gt;
        }
        if (k < p) {
            hi = p;
            continue;
        }
        if (p > lo) {
            lo = p;
            continue;
        }
        /* nothing above the pivot: it is the range's maximum; move its
         * copies to the front */
        for (size_t i = lo; i < hi; i++) {
            float v = a[i], w = a[p];
            int eq = v == piv;
            a[p] = eq ? v : w;
            a[i] = eq ? w : v;
            p += (size_t)eq;
        }
        if (k < p)
            return piv;
        lo = p;
    }
    for (size_t i = lo + 1; i < hi; i++) { /* small range: insertion sort */
        float v = a[i];
        size_t j = i;
        while (j > lo && a[j - 1] < v) {
            a[j] = a[j - 1];
            j--;
        }
        a[j] = v;
    }
    return a[k];
}

#define TB_BINS 256

/* Keeps the elements above T, and of those equal to T as many as fit in
 * C (arrival order). */
static void topbuf_keep(weft__reg_topbuf *t, float T)
{
    size_t above = 0, m = 0;
    for (size_t i = 0; i < t->n; i++)
        above += t->score[i] > T;
    size_t ties = above < t->C ? t->C - above : 0;
    for (size_t i = 0; i < t->n; i++) {
        float v = t->score[i];
        if (v > T || (v == T && ties && ties--)) {
            t->score[m] = v;
            t->id[m++] = t->id[i];
        }
    }
    t->n = m;
    t->thr = T;
}

/* Cuts the buffer to exactly C (or fewer when it holds fewer). */
void weft__reg_topbuf_exact(weft__reg_topbuf *t)
{
    if (t->n <= t->C)
        return;
    memcpy(t->tmp, t->score, t->n * sizeof *t->tmp);
    topbuf_keep(t, weft__reg_kth_largest(t->tmp, t->n, t->C - 1));
}

void weft__reg_topbuf_compact(weft__reg_topbuf *t)
{
    float lo = t->score[0], hi = lo;
    for (size_t i = 1; i < t->n; i++) {
        lo = t->score[i] < lo ? t->score[i] : lo;
        hi = t->score[i] > hi ? t->score[i] : hi;
    }
    uint32_t hist[TB_BINS] = { 0 };
    /* a range too narrow to cut (or one that would overflow the scale)
     * leaves the work to the exact selection below */
    float scale = hi - lo > 1e-30f ? (float)TB_BINS / (hi - lo) : 0.0f;
    if (!(scale < INFINITY))
        scale = 0.0f;
    for (size_t i = 0; i < t->n; i++) {
        int b = (int)((t->score[i] - lo) * scale);
        hist[b < 0 ? 0 : b >= TB_BINS ? TB_BINS - 1 : b]++;
    }
    size_t cum = 0;
    int b = TB_BINS - 1;
    for (; b > 0; b--) {
        cum += hist[b];
        if (cum >= t->C)
            break;
    }
    size_t before = t->n;
    if (scale > 0 && b > 0) {
        /* keep bins b and up (binned as counted); the threshold becomes
         * the least score kept: at least C kept ones beat anything at or
         * below it */
        size_t m = 0, n = t->n;
        float least = INFINITY, *sc = t->score;
        uint64_t *id = t->id;
        for (size_t i = 0; i < n; i++) {
            /* branch-free: about half go either way */
            float v = sc[i];
            uint64_t d = id[i];
            int keep = (int)((v - lo) * scale) >= b;
            sc[m] = v;
            id[m] = d;
            m += (size_t)keep;
            least = keep && v < least ? v : least;
        }
        t->n = m;
        t->thr = least;
    }
    if (t->n > before - before / 4)
        weft__reg_topbuf_exact(t); /* a bin too full to gain much (equal scores) */
}


#define BIN_BLOCK 64

/* Phase 2, per (query, group): the group's lists by their 1-bit codes,
 * then the survivors by their 8-bit codes. */
static void phase_scan(void *arg, size_t task)
{
    ivf_job *j = arg;
    const weft_registry *r = j->r;
    const struct weft__reg_ivf *v = j->v;
    weft_registry_scratch *s = j->s;
    size_t qi = task / j->G, g = task % j->G, st = r->stride;
    const float *wq = qw(j, qi) + st, *cs = wq + st;
    const uint64_t *planes = (const uint64_t *)(cs + round16(v->nlist));
    const qstate *q = &j->qs[qi];
    weft__reg_cand *h2 = s->heaps + task * (2 * j->C + j->R) + 2 * j->C;
    /* the buffer's 2C scores, 2C scratch floats and 2C ids (list << 32 |
     * row) fill the 2C candidates of room this task has */
    float *tbf = (float *)(s->heaps + task * (2 * j->C + j->R));
    weft__reg_topbuf tb = { tbf, tbf + 2 * j->C, (uint64_t *)(tbf + 4 * j->C), 0, j->C,
                            -INFINITY };
    size_t n2 = 0;
    uint64_t scored = 0;
    float est[BIN_BLOCK];
    /* est = q.c + f (2 S - sum q), S = step W + lo ONES */
    float cc[5] = { 2 * q->step, 2 * q->lo, q->qsum, 0, 0 };
    for (size_t pi = g; pi < j->nprobe; pi += j->G) {
        uint32_t l = s->probe[qi * j->nprobe + pi];
        const ivf_list *L = &v->lists[l];
        cc[3] = cs[l];
        for (uint32_t e = 0; e < L->n; e += BIN_BLOCK) {
            size_t nb = WEFT__MIN((size_t)BIN_BLOCK, (size_t)(L->n - e));
            /* the kernel returns the mask of the few above the threshold:
             * then only those, no branch per entry to mispredict */
            cc[4] = tb.thr;
            uint64_t above = r->kern->bin_est(planes, L->bits + (size_t)e * v->bwords,
                                              v->bwords, nb, L->fac + e, cc, est);
            scored += nb;
            while (above) {
                unsigned t = (unsigned)__builtin_ctzll(above);
                above &= above - 1;
                if (j->bits && !weft__reg_bit(j->bits, L->slots[e + t]))
                    continue;
                weft__reg_topbuf_add(&tb, est[t], (uint64_t)l << 32 | (e + t));
            }
        }
    }
    weft__reg_topbuf_exact(&tb);
    /* the survivors' 8-bit codes are scattered: fetch a few ahead (more
     * would only fill the miss buffers: measured) */
#define PREFETCH_AHEAD 4
    for (size_t t = 0; t < tb.n && t < PREFETCH_AHEAD; t++) {
        const uint8_t *pc = v->lists[tb.id[t] >> 32].codes + (tb.id[t] & 0xffffffffu) * st;
        for (size_t b = 0; b < st; b += 64)
            __builtin_prefetch(pc + b, 0, 3);
    }
    for (size_t t = 0; t < tb.n; t++) {
        if (t + PREFETCH_AHEAD < tb.n) {
            uint64_t id = tb.id[t + PREFETCH_AHEAD];
            const uint8_t *pc = v->lists[id >> 32].codes + (id & 0xffffffffu) * st;
            for (size_t b = 0; b < st; b += 64)
                __builtin_prefetch(pc + b, 0, 3);
        }
        uint32_t l = (uint32_t)(tb.id[t] >> 32), row = (uint32_t)tb.id[t];
        const ivf_list *L = &v->lists[l];
        float est8 = r->kern->dot_u8(wq, L->codes + (size_t)row * st, st);
        double sc = (double)cs[l] + q->base8 + est8;
        if (n2 == j->R && sc < h2[0].score)
            continue;
        cand_push(h2, &n2, j->R, sc, L->slots[row]);
    }
    s->hn[task] = n2;
    __atomic_fetch_add(&j->codes, scored + tb.n, __ATOMIC_RELAXED);
}

/* Phase 3, per query: pool the groups' survivors, re-score exactly. */
static void phase_rerank(void *arg, size_t qi)
{
    ivf_job *j = arg;
    const weft_registry *r = j->r;
    weft_registry_scratch *s = j->s;
    size_t t0 = qi * j->G;
    weft__reg_cand *h0 = s->heaps + t0 * (2 * j->C + j->R) + 2 * j->C;
    size_t n0 = s->hn[t0];
    for (size_t g = 1; g < j->G; g++) {
        const weft__reg_cand *o = s->heaps + (t0 + g) * (2 * j->C + j->R) + 2 * j->C;
        for (size_t t = 0; t < s->hn[t0 + g]; t++)
            cand_push(h0, &n0, j->R, o[t].score, o[t].slot);
    }
    weft__reg_cand *fin = s->heaps + j->nq * j->G * (2 * j->C + j->R) + qi * j->k;
    size_t nf = 0;
    const float *q = s->q + qi * r->stride;
    int cosine = r->cfg.metric == WEFT_REGISTRY_COSINE;
    for (size_t t = 0; t < n0; t++) {
        uint32_t slot = h0[t].slot;
        float d;
        r->kern->dot_rows(q, r->vec + (size_t)slot * r->stride, r->stride, 1, &d);
        if (cosine)
            d = d * r->inv_norm[slot] * s->qinv[qi];
        weft__reg_cand c = { (double)d, slot };
        weft__reg_heap_push(r, fin, &nf, j->k, &c);
    }
    s->hn[j->nq * j->G + qi] = nf;
    s->hn[t0] = n0; /* for the info: candidates re-scored */
}

int weft__reg_ivf_search(const weft_registry *r, const weft_registry_search_params *p,
                         size_t nq, const uint64_t *bits, weft_registry_scratch *s,
                         const weft_registry_exec *exec, weft_registry_hit *hits,
                         size_t *counts, weft_registry_search_info *info)
{
    const struct weft__reg_ivf *v = r->ivf;
    ivf_job j;
    memset(&j, 0, sizeof j);
    j.r = r;
    j.v = v;
    j.bits = bits == r->emb_bits ? NULL : bits; /* lists hold embeddings only */
    j.nq = nq;
    j.k = p->k;
    j.nprobe = eff_nprobe(v, p);
    j.R = eff_rerank(v, p);
    j.G = groups(exec, nq, j.nprobe);
    j.C = task_cands(eff_cands(v, p), j.G);
    j.s = s;
    j.wstride = w_stride(r);
    qstate qs[WEFT_REGISTRY_BATCH_MAX];
    j.qs = qs;
    weft__reg_run(exec, nq, phase_probe, &j);
    weft__reg_run(exec, nq * j.G, phase_scan, &j);
    weft__reg_run(exec, nq, phase_rerank, &j);
    for (size_t qi = 0; qi < nq; qi++) {
        size_t nf = s->hn[nq * j.G + qi];
        weft__reg_heap_emit(r, s->heaps + nq * j.G * (2 * j.C + j.R) + qi * j.k, nf,
                            hits + qi * j.k);
        counts[qi] = nf;
    }
    info->codes = j.codes;
    info->scored = 0;
    for (size_t qi = 0; qi < nq; qi++)
        info->scored += s->hn[qi * j.G];
    return 0;
}
