/*
 * search.c -- exact k-nearest-neighbour search over a registry namespace,
 * the newest-first selection of filter-only searches, the top-k heaps both
 * use, the scratch that keeps queries free of allocation, and the merge of
 * per-node top-k lists.
 *
 * An exact search (1) copies the queries into the scratch, padded to the
 * row stride and checked, (2) asks the planner (registry.c) for the bitmap
 * of slots that pass the filter, (3) cuts the slot range into chunks of
 * whole bitmap words and runs them through the caller's exec: each chunk
 * walks its words, turns each run of set bits into a run of consecutive
 * rows, scores the run with the SIMD kernels (one query: dot_rows; a
 * batch: dot_tile, so that each row is read from memory once for all
 * queries) and keeps its own top-k heap per query, and (4) merges the
 * chunks' heaps.  Since candidates are ordered totally (score, then hash),
 * the result does not depend on how the work was cut.
 */
#include <math.h>
#include <string.h>

#include "base/util.h"
#include "registry/registry_internal.h"

/* ---------------------------------------------------------------------- */
/* Top-k heaps: a min-heap whose root is the worst candidate kept.        */

int weft__reg_better(const weft_registry *r, const weft__reg_cand *a,
                     const weft__reg_cand *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    const weft__reg_rec *ra = r->rec[a->slot], *rb = r->rec[b->slot];
    return weft__reg_bytes_cmp(weft__reg_rec_hash(ra), ra->hash_len,
                               weft__reg_rec_hash(rb), rb->hash_len) < 0;
}

static void sift_down(const weft_registry *r, weft__reg_cand *h, size_t n,
                      size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, w = i;
        if (l < n && weft__reg_better(r, &h[w], &h[l]))
            w = l;
        if (l + 1 < n && weft__reg_better(r, &h[w], &h[l + 1]))
            w = l + 1;
        if (w == i)
            return;
        weft__reg_cand t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

void weft__reg_heap_push(const weft_registry *r, weft__reg_cand *h, size_t *n,
                         size_t k, const weft__reg_cand *c)
{
    if (*n < k) {
        size_t i = (*n)++;
        h[i] = *c;
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!weft__reg_better(r, &h[p], &h[i]))
                break;
            weft__reg_cand t = h[i];
            h[i] = h[p];
            h[p] = t;
            i = p;
        }
    } else if (weft__reg_better(r, c, &h[0])) {
        h[0] = *c;
        sift_down(r, h, *n, 0);
    }
}

void weft__reg_heap_emit(const weft_registry *r, weft__reg_cand *h, size_t n,
                         weft_registry_hit *out)
{
    /* heapsort: the worst goes last each round, so h ends best first */
    for (size_t end = n; end > 1; end--) {
        weft__reg_cand t = h[0];
        h[0] = h[end - 1];
        h[end - 1] = t;
        sift_down(r, h, end - 1, 0);
    }
    for (size_t i = 0; i < n; i++) {
        const weft__reg_rec *rc = r->rec[h[i].slot];
        out[i].score = h[i].score;
        out[i].hash_len = rc->hash_len;
        memset(out[i].hash, 0, sizeof out[i].hash);
        memcpy(out[i].hash, weft__reg_rec_hash(rc), rc->hash_len);
    }
}

/* The hot-loop push: most candidates lose to the root on score alone. */
static inline void push(const weft_registry *r, weft__reg_cand *h, size_t *n,
                        size_t k, double score, uint32_t slot)
{
    if (*n == k && score < h[0].score)
        return;
    weft__reg_cand c = { score, slot };
    weft__reg_heap_push(r, h, n, k, &c);
}

/* ---------------------------------------------------------------------- */
/* Scratch                                                                */

#define TILE_BYTES (128 * 1024) /* rows scored per kernel call: fits L2 */
#define CHUNKS_PER_THREAD 4     /* for balance between unequal threads */
#define CHUNKS_MAX 64
#define CHUNK_WORDS_MIN 16      /* 1024 rows: less is not worth a thread */

typedef struct needs {
    size_t bits_words, q_floats, qinv, cands, hn, tile_floats, w_floats,
        probes;
} needs;

int weft_registry_scratch_new(weft_registry_scratch **out, const weft_allocator *a)
{
    if (!out)
        return WEFT_ERR_INVAL;
    *out = weft__calloc(a, sizeof **out);
    if (!*out)
        return WEFT_ERR_NOMEM;
    (*out)->a = a;
    return 0;
}

void weft_registry_scratch_del(weft_registry_scratch *s)
{
    if (!s)
        return;
    weft__free(s->a, s->raw);
    weft__free(s->a, s);
}

static size_t up64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Makes every region of s at least as large as n asks.  The regions are
 * carved from one allocation, each 64-byte aligned. */
static int scratch_fit(weft_registry_scratch *s, const needs *n)
{
    if (n->bits_words <= s->bits_words && n->q_floats <= s->q_floats &&
        n->qinv <= s->qinv_n && n->cands <= s->heaps_n && n->hn <= s->hn_n &&
        n->tile_floats <= s->tile_floats && n->w_floats <= s->w_floats &&
        n->probes <= s->probe_n)
        return 0;
    needs m = {
        WEFT__MAX(n->bits_words, s->bits_words), WEFT__MAX(n->q_floats, s->q_floats),
        WEFT__MAX(n->qinv, s->qinv_n), WEFT__MAX(n->cands, s->heaps_n),
        WEFT__MAX(n->hn, s->hn_n), WEFT__MAX(n->tile_floats, s->tile_floats),
        WEFT__MAX(n->w_floats, s->w_floats), WEFT__MAX(n->probes, s->probe_n)
    };
    size_t off[8], total = 0;
    size_t sz[8] = { m.bits_words * 8, m.q_floats * 4, m.qinv * 4,
                     m.cands * sizeof(weft__reg_cand), m.hn * sizeof(size_t),
                     m.tile_floats * 4, m.w_floats * 4, m.probes * 4 };
    for (int i = 0; i < 8; i++) {
        off[i] = total;
        total += up64(sz[i]);
    }
    void *raw = weft__alloc(s->a, total + 63);
    if (!raw)
        return WEFT_ERR_NOMEM;
    weft__free(s->a, s->raw);
    s->raw = raw;
    s->raw_bytes = total + 63;
    uint8_t *b = (uint8_t *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    s->bits = (uint64_t *)(b + off[0]);
    s->bits_words = m.bits_words;
    s->q = (float *)(b + off[1]);
    s->q_floats = m.q_floats;
    s->qinv = (float *)(b + off[2]);
    s->qinv_n = m.qinv;
    s->heaps = (weft__reg_cand *)(b + off[3]);
    s->heaps_n = m.cands;
    s->hn = (size_t *)(b + off[4]);
    s->hn_n = m.hn;
    s->tile = (float *)(b + off[5]);
    s->tile_floats = m.tile_floats;
    s->w = (float *)(b + off[6]);
    s->w_floats = m.w_floats;
    s->probe = (uint32_t *)(b + off[7]);
    s->probe_n = m.probes;
    return 0;
}

static size_t tile_rows(const weft_registry *r)
{
    size_t n = TILE_BYTES / (r->stride * sizeof(float));
    n = n < 4 ? 4 : n > 64 ? 64 : n;
    return n & ~(size_t)3;
}

static size_t chunks_max(const weft_registry_exec *exec)
{
    if (!exec || !exec->parallel_for || exec->nthreads <= 1)
        return 1;
    size_t c = (size_t)exec->nthreads * CHUNKS_PER_THREAD;
    return c > CHUNKS_MAX ? CHUNKS_MAX : c;
}

static void needs_of(const weft_registry *r, const weft_registry_search_params *p,
                     size_t nq, const weft_registry_exec *exec, needs *n)
{
    size_t c = chunks_max(exec);
    memset(n, 0, sizeof *n);
    n->bits_words = (r->cap + 63) / 64;
    n->q_floats = nq * r->stride;
    n->qinv = nq;
    n->cands = c * nq * p->k;
    n->hn = c * nq;
    n->tile_floats = c * nq * tile_rows(r);
    if ((p->flags & WEFT_REGISTRY_APPROX) && r->ivf) {
        size_t cands, wf, probes;
        weft__reg_ivf_scratch_needs(r, p, nq, exec, &cands, &wf, &probes);
        n->cands = WEFT__MAX(n->cands, cands);
        n->hn = WEFT__MAX(n->hn, c * nq + nq);
        n->w_floats = wf;
        n->probes = probes;
    }
}

static int check_params(const weft_registry *r, const weft_registry_search_params *p,
                        size_t nq)
{
    if (p->k == 0 || p->k > r->cfg.k_max) {
        weft__reg_count(&r->sst.refused_k, 1);
        return WEFT_ERR_LIMIT;
    }
    if (nq == 0 || nq > r->cfg.batch_max) {
        weft__reg_count(&r->sst.refused_batch, 1);
        return WEFT_ERR_LIMIT;
    }
    if (p->rerank > WEFT_REGISTRY_RERANK_MAX || p->candidates > WEFT_REGISTRY_CANDIDATES_MAX)
        return WEFT_ERR_INVAL;
    return weft__reg_filter_check(p->filter);
}

int weft_registry_scratch_reserve(weft_registry_scratch *s, const weft_registry *r,
                                  const weft_registry_search_params *p, size_t nq,
                                  const weft_registry_exec *exec)
{
    if (!s || !r || !p)
        return WEFT_ERR_INVAL;
    int rc = check_params(r, p, nq);
    if (rc)
        return rc;
    needs n;
    needs_of(r, p, nq, exec, &n);
    return scratch_fit(s, &n);
}

void weft__reg_run(const weft_registry_exec *exec, size_t nchunks,
                   void (*fn)(void *arg, size_t chunk), void *arg)
{
    if (nchunks > 1 && exec && exec->parallel_for && exec->nthreads > 1) {
        exec->parallel_for(exec->ctx, nchunks, fn, arg);
        return;
    }
    for (size_t i = 0; i < nchunks; i++)
        fn(arg, i);
}

/* ---------------------------------------------------------------------- */
/* Exact search                                                           */

typedef struct exact_job {
    const weft_registry *r;
    const uint64_t *bits;
    size_t nw, wpc;          /* words in all, words per chunk */
    size_t nq, k, tile;
    const float *q, *qinv;
    weft__reg_cand *heaps;   /* chunk c, query i: heaps + (c * nq + i) * k */
    size_t *hn;
    float *out;              /* chunk c: out + c * nq * tile */
    int cosine;
} exact_job;

/* Scores rows [slot, slot + n) for every query and offers them to the
 * chunk's heaps.  n <= j->tile. */
static void score_rows(const exact_job *j, size_t c, uint32_t slot, size_t n)
{
    const weft_registry *r = j->r;
    const float *x = r->vec + (size_t)slot * r->stride;
    float *out = j->out + c * j->nq * j->tile;
    if (j->nq == 1) {
        r->kern->dot_rows(j->q, x, r->stride, n, out);
    } else {
        /* the tile is compute-bound: have the next rows fetched into L2
         * meanwhile (measured 4-7% on a 32-query batch) */
        size_t ahead = WEFT__MIN((size_t)n, (size_t)r->cap - slot - n);
        const char *next = (const char *)(x + n * r->stride);
        for (size_t b = 0; b < ahead * r->stride * sizeof(float); b += 64)
            __builtin_prefetch(next + b, 0, 2);
        r->kern->dot_tile(j->q, j->nq, x, n, r->stride, out, n);
    }
    for (size_t i = 0; i < j->nq; i++) {
        weft__reg_cand *h = j->heaps + (c * j->nq + i) * j->k;
        size_t *hn = &j->hn[c * j->nq + i];
        const float *o = out + i * n;
        if (j->cosine) {
            float qi = j->qinv[i];
            for (size_t t = 0; t < n; t++)
                push(r, h, hn, j->k, (double)(o[t] * r->inv_norm[slot + t] * qi),
                     slot + (uint32_t)t);
        } else {
            for (size_t t = 0; t < n; t++)
                push(r, h, hn, j->k, (double)o[t], slot + (uint32_t)t);
        }
    }
}

static void exact_chunk(void *arg, size_t c)
{
    const exact_job *j = arg;
    size_t w0 = c * j->wpc, w1 = WEFT__MIN(j->nw, w0 + j->wpc);
    for (size_t i = 0; i < j->nq; i++)
        j->hn[c * j->nq + i] = 0;
    for (size_t w = w0; w < w1; w++) {
        uint64_t b = j->bits[w];
        while (b) {
            /* the next run of set bits = a run of consecutive rows */
            unsigned start = (unsigned)__builtin_ctzll(b);
            uint64_t rest = ~(b >> start);
            unsigned len = rest ? (unsigned)__builtin_ctzll(rest) : 64 - start;
            b = start + len >= 64 ? 0 : b & ~(((1ULL << len) - 1) << start);
            uint32_t slot = (uint32_t)(w * 64 + start);
            for (unsigned off = 0; off < len; off += (unsigned)j->tile) {
                size_t n = WEFT__MIN((size_t)(len - off), j->tile);
                score_rows(j, c, slot + off, n);
            }
        }
    }
}

/* Copies and checks the queries into s->q (padded) and s->qinv. */
static int load_queries(const weft_registry *r, const float *queries, size_t nq,
                        weft_registry_scratch *s)
{
    size_t dim = r->cfg.dim;
    for (size_t i = 0; i < nq; i++) {
        const float *q = queries + i * dim;
        double n2 = weft__reg_vector_norm2(q, dim);
        if (n2 < 0)
            return WEFT_ERR_INVAL;
        float *d = s->q + i * r->stride;
        memcpy(d, q, dim * sizeof *d);
        memset(d + dim, 0, (r->stride - dim) * sizeof *d);
        s->qinv[i] = r->cfg.metric == WEFT_REGISTRY_IP ? 1.0f
                     : n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.0f;
    }
    return 0;
}

static void count_plan(const weft_registry *r, int plan)
{
    if (plan == WEFT_REGISTRY_PLAN_INDEX)
        weft__reg_count(&r->sst.plan_index, 1);
    else if (plan == WEFT_REGISTRY_PLAN_SCAN)
        weft__reg_count(&r->sst.plan_scan, 1);
}

int weft_registry_search_batch(const weft_registry *r,
                               const weft_registry_search_params *p,
                               const float *queries, size_t nq,
                               weft_registry_scratch *s,
                               const weft_registry_exec *exec,
                               weft_registry_hit *hits, size_t *counts,
                               weft_registry_search_info *info)
{
    if (!r || !p || !queries || !s || !hits || !counts)
        return WEFT_ERR_INVAL;
    int rc = check_params(r, p, nq);
    if (rc)
        return rc;
    needs nd;
    needs_of(r, p, nq, exec, &nd);
    if ((rc = scratch_fit(s, &nd)))
        return rc;
    if ((rc = load_queries(r, queries, nq, s)))
        return rc;
    weft__reg_count(&r->sst.searches, 1);
    weft__reg_count(&r->sst.queries, nq);

    const uint64_t *bits;
    uint64_t matched;
    int plan = weft__reg_plan(r, p->filter, 1, s, &bits, &matched);
    count_plan(r, plan);
    weft_registry_search_info inf = { matched, 0, 0, plan, 0 };
    for (size_t i = 0; i < nq; i++)
        counts[i] = 0;
    if (plan == WEFT_REGISTRY_PLAN_EMPTY || matched == 0)
        goto done;

    /* a selective filter (answered from an index) names few entries:
     * scoring just those exactly is cheap, and an index that visits only
     * some lists would miss most of them */
    if ((p->flags & WEFT_REGISTRY_APPROX) && r->ivf && plan != WEFT_REGISTRY_PLAN_INDEX) {
        rc = weft__reg_ivf_search(r, p, nq, bits, s, exec, hits, counts, &inf);
        inf.approx = 1;
        if (rc)
            return rc;
        goto done;
    }

    exact_job j;
    memset(&j, 0, sizeof j);
    j.r = r;
    j.bits = bits;
    j.nw = (r->hw + 63) / 64;
    j.nq = nq;
    j.k = p->k;
    j.tile = tile_rows(r);
    j.q = s->q;
    j.qinv = s->qinv;
    j.heaps = s->heaps;
    j.hn = s->hn;
    j.out = s->tile;
    j.cosine = r->cfg.metric == WEFT_REGISTRY_COSINE;
    size_t nc = chunks_max(exec);
    size_t most = (j.nw + CHUNK_WORDS_MIN - 1) / CHUNK_WORDS_MIN;
    if (nc > most)
        nc = most ? most : 1;
    j.wpc = (j.nw + nc - 1) / nc;
    weft__reg_run(exec, nc, exact_chunk, &j);
    /* merge the chunks' heaps into chunk 0's, then emit best first */
    for (size_t i = 0; i < nq; i++) {
        weft__reg_cand *h = j.heaps + i * j.k;
        size_t *n = &j.hn[i];
        for (size_t c = 1; c < nc; c++) {
            const weft__reg_cand *o = j.heaps + (c * nq + i) * j.k;
            for (size_t t = 0; t < j.hn[c * nq + i]; t++)
                weft__reg_heap_push(r, h, n, j.k, &o[t]);
        }
        weft__reg_heap_emit(r, h, *n, hits + i * j.k);
        counts[i] = *n;
    }
    inf.scored = matched * nq;
done:
    if (info)
        *info = inf;
    return 0;
}

/* Filter-only search: the k newest matches, by a single pass over the
 * filter's bitmap (the planner already walked the most selective index). */
static int search_newest(const weft_registry *r, const weft_registry_search_params *p,
                         weft_registry_scratch *s, weft_registry_hit *hits,
                         weft_registry_search_info *info)
{
    needs nd;
    memset(&nd, 0, sizeof nd);
    nd.bits_words = (r->cap + 63) / 64;
    nd.cands = p->k;
    int rc = scratch_fit(s, &nd);
    if (rc)
        return rc;
    weft__reg_count(&r->sst.searches, 1);
    weft__reg_count(&r->sst.queries, 1);
    const uint64_t *bits;
    uint64_t matched;
    int plan = weft__reg_plan(r, p->filter, 0, s, &bits, &matched);
    count_plan(r, plan);
    size_t n = 0;
    if (plan != WEFT_REGISTRY_PLAN_EMPTY && matched) {
        size_t nw = (r->hw + 63) / 64;
        for (size_t w = 0; w < nw; w++)
            for (uint64_t b = bits[w]; b; b &= b - 1) {
                uint32_t slot = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(b));
                push(r, s->heaps, &n, p->k, (double)r->time_ms[slot], slot);
            }
        weft__reg_heap_emit(r, s->heaps, n, hits);
    }
    if (info) {
        weft_registry_search_info inf = { matched, 0, 0, plan, 0 };
        *info = inf;
    }
    return (int)n;
}

int weft_registry_search(const weft_registry *r, const weft_registry_search_params *p,
                         const float *query, weft_registry_scratch *s,
                         const weft_registry_exec *exec, weft_registry_hit *hits,
                         weft_registry_search_info *info)
{
    if (!r || !p || !s || !hits)
        return WEFT_ERR_INVAL;
    if (!query) {
        int rc = check_params(r, p, 1);
        return rc ? rc : search_newest(r, p, s, hits, info);
    }
    size_t n = 0;
    int rc = weft_registry_search_batch(r, p, query, 1, s, exec, hits, &n, info);
    return rc ? rc : (int)n;
}

/* ---------------------------------------------------------------------- */
/* Merge of per-node lists                                                */

static int hit_better(const weft_registry_hit *a, const weft_registry_hit *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return weft__reg_bytes_cmp(a->hash, a->hash_len, b->hash, b->hash_len) < 0;
}

static void hit_sift_down(weft_registry_hit *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, w = i;
        if (l < n && hit_better(&h[w], &h[l]))
            w = l;
        if (l + 1 < n && hit_better(&h[w], &h[l + 1]))
            w = l + 1;
        if (w == i)
            return;
        weft_registry_hit t = h[i];
        h[i] = h[w];
        h[w] = t;
        i = w;
    }
}

static void hit_sift_up(weft_registry_hit *h, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hit_better(&h[p], &h[i]))
            break;
        weft_registry_hit t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/*
 * Keeps the k best distinct hashes in a min-heap (out).  A hash already
 * kept with a lower score is raised in place; one evicted earlier cannot
 * come back with a lower score (it would rank below the root), so each
 * hash is counted once with its best score.  The dedup check is linear in
 * k; lists are short (k <= WEFT_REGISTRY_K_MAX, a few per node).
 */
ptrdiff_t weft_registry_merge(const weft_registry_hit *const *lists,
                              const size_t *counts, size_t nlists, size_t k,
                              weft_registry_hit *out)
{
    if ((!lists && nlists) || (!counts && nlists) || !out || k == 0 ||
        k > WEFT_REGISTRY_K_MAX)
        return WEFT_ERR_INVAL;
    for (size_t l = 0; l < nlists; l++) {
        if (counts[l] && !lists[l])
            return WEFT_ERR_INVAL;
        for (size_t i = 0; i < counts[l]; i++)
            if (lists[l][i].hash_len == 0 ||
                lists[l][i].hash_len > WEFT_REGISTRY_HASH_BYTES_MAX ||
                isnan(lists[l][i].score))
                return WEFT_ERR_INVAL;
    }
    size_t n = 0;
    for (size_t l = 0; l < nlists; l++) {
        for (size_t i = 0; i < counts[l]; i++) {
            const weft_registry_hit *c = &lists[l][i];
            size_t at = n;
            for (size_t j = 0; j < n; j++)
                if (out[j].hash_len == c->hash_len &&
                    memcmp(out[j].hash, c->hash, c->hash_len) == 0) {
                    at = j;
                    break;
                }
            if (at < n) {
                if (c->score > out[at].score) {
                    out[at].score = c->score; /* better: moves away from root */
                    hit_sift_down(out, n, at);
                }
                continue;
            }
            if (n < k) {
                out[n] = *c;
                memset(out[n].hash + c->hash_len, 0,
                       sizeof out[n].hash - c->hash_len);
                hit_sift_up(out, n++);
            } else if (hit_better(c, &out[0])) {
                out[0] = *c;
                memset(out[0].hash + c->hash_len, 0,
                       sizeof out[0].hash - c->hash_len);
                hit_sift_down(out, n, 0);
            }
        }
    }
    for (size_t end = n; end > 1; end--) {
        weft_registry_hit t = out[0];
        out[0] = out[end - 1];
        out[end - 1] = t;
        hit_sift_down(out, end - 1, 0);
    }
    return (ptrdiff_t)n;
}
