/*
 * test_registry_search.c -- registry search against a brute-force
 * reference: every combination of filter terms (type, owner, time range,
 * minimum confidence, two metadata terms), ties, empty results, k larger
 * than the set, both metrics, newest-first selection without a query,
 * batches, every SIMD level this CPU has (forced through the internal
 * switch), serial and threaded execs, slot reuse after removals, the merge
 * of per-node lists, and the approximate index (recall against exact,
 * filters, changes after the build).
 *
 * Most data are small integers, so every dot product is exact in float32
 * whatever the summation order: then the kernels, the chunking and the
 * reference must agree bit for bit, ties included.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "registry/registry_internal.h"
#include "test.h"
#include "weft/registry.h"

static uint64_t rng = 7;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
static double urand(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }
static double gauss(void)
{
    double u = urand() + 1e-300, v = urand();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

#define DIM 40   /* not a multiple of 16: exercises the padding */
#define NMAX 6000
#define KMAX 4096

static const char *types[] = { "person", "face", "object", "car" };

/* The shadow model of one entry. */
typedef struct shadow {
    int live;
    uint8_t hash[16];
    size_t hl;
    int type, owner;
    uint64_t time;
    float conf;
    int pid, cam;        /* metadata "pid"="p<pid>", "cam"="c<cam>"; -1 none */
    int has_emb;
    float emb[DIM];
} shadow;

static shadow S[NMAX];
static size_t NS;

static void entry_of(const shadow *s, weft_registry_entry *e, weft_registry_kv *kv,
                     char vals[2][16])
{
    memset(e, 0, sizeof *e);
    e->hash = s->hash;
    e->hash_len = s->hl;
    e->type = types[s->type];
    e->type_len = strlen(types[s->type]);
    memset(e->owner.key, s->owner + 1, WEFT_ID_BYTES);
    e->time_ms = s->time;
    e->confidence = s->conf;
    size_t n = 0;
    if (s->pid >= 0) {
        snprintf(vals[0], 16, "p%d", s->pid);
        kv[n++] = (weft_registry_kv){ "pid", 3, vals[0], strlen(vals[0]) };
    }
    if (s->cam >= 0) {
        snprintf(vals[1], 16, "c%d", s->cam);
        kv[n++] = (weft_registry_kv){ "cam", 3, vals[1], strlen(vals[1]) };
    }
    e->meta = n ? kv : NULL;
    e->meta_count = n;
    if (s->has_emb) {
        e->embedding = s->emb;
        e->dim = DIM;
    }
}

static void random_shadow(shadow *s, size_t i, int integer)
{
    memset(s, 0, sizeof *s);
    s->live = 1;
    /* hashes of varying length, so ties exercise the length rule too */
    s->hl = 1 + rnd() % 12;
    for (size_t b = 0; b < s->hl; b++)
        s->hash[b] = (uint8_t)rnd();
    s->hash[0] = (uint8_t)i;
    s->hash[s->hl > 1 ? 1 : 0] ^= (uint8_t)(i >> 8);
    if (s->hl < 3) { /* keep hashes unique: i in the first bytes */
        s->hl = 3;
        s->hash[0] = (uint8_t)i;
        s->hash[1] = (uint8_t)(i >> 8);
        s->hash[2] = 0xee;
    }
    s->type = (int)(rnd() % 4);
    s->owner = (int)(rnd() % 5);
    s->time = 1000 + rnd() % 1000;
    s->conf = (float)(rnd() % 5) / 4.0f;
    s->pid = rnd() % 4 ? (int)(rnd() % 50) : -1;
    s->cam = rnd() % 3 ? (int)(rnd() % 4) : -1;
    s->has_emb = rnd() % 10 != 0;
    for (int d = 0; d < DIM; d++)
        s->emb[d] = integer ? (float)((int)(rnd() % 7) - 3) : (float)gauss();
    if (integer && rnd() % 8 == 0 && i > 0)
        memcpy(s->emb, S[i - 1].emb, sizeof s->emb); /* exact ties */
}

/* Makes hashes unique across the whole set (i in the first two bytes). */
static void unique_hash(shadow *s, size_t i)
{
    s->hash[0] = (uint8_t)i;
    s->hash[1] = (uint8_t)(i >> 8);
    if (s->hl < 2)
        s->hl = 2;
}

static weft_registry *build(int metric, size_t n, int integer)
{
    weft_registry_config c;
    weft_registry_config_default(&c);
    c.dim = DIM;
    c.metric = (uint32_t)metric;
    c.k_max = KMAX;
    c.hash_seed = 99;
    weft_registry *r = NULL;
    if (weft_registry_new(&r, &c, NULL))
        return NULL;
    NS = n;
    for (size_t i = 0; i < n; i++) {
        random_shadow(&S[i], i, integer);
        unique_hash(&S[i], i);
        weft_registry_entry e;
        weft_registry_kv kv[2];
        char vals[2][16];
        entry_of(&S[i], &e, kv, vals);
        int rc = weft_registry_add(r, &e, 0);
        if (rc) {
            fprintf(stderr, "add %zu: %s\n", i, weft_err_name(rc));
            weft_registry_del(r);
            return NULL;
        }
    }
    return r;
}

/* A filter description the reference understands. */
typedef struct tfilter {
    int type, owner, pid, cam;  /* -1 = no term */
    int time;
    uint64_t tmin, tmax;
    float cmin;                 /* 0 = no term */
} tfilter;

static int ref_pass(const shadow *s, const tfilter *f)
{
    return s->live && (f->type < 0 || s->type == f->type) &&
           (f->owner < 0 || s->owner == f->owner) &&
           (f->pid < 0 || s->pid == f->pid) && (f->cam < 0 || s->cam == f->cam) &&
           (!f->time || (s->time >= f->tmin && s->time <= f->tmax)) &&
           (f->cmin <= 0 || s->conf >= f->cmin);
}

typedef struct rhit {
    double score;
    const shadow *s;
} rhit;

static int rhit_before(const rhit *a, const rhit *b)
{
    if (a->score != b->score)
        return a->score > b->score;
    return weft__reg_bytes_cmp(a->s->hash, a->s->hl, b->s->hash, b->s->hl) < 0;
}

static rhit RH[NMAX];

/* The scores the library computes, computed the library's way. */
static float ref_score(const shadow *s, const float *q, int metric)
{
    float dot = 0;
    double n2 = 0, q2 = 0;
    for (int d = 0; d < DIM; d++) {
        dot += q[d] * s->emb[d]; /* exact on integer data */
        n2 += (double)s->emb[d] * s->emb[d];
        q2 += (double)q[d] * q[d];
    }
    if (metric == WEFT_REGISTRY_IP)
        return dot;
    float inv = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.0f;
    float qinv = q2 > 0 ? (float)(1.0 / sqrt(q2)) : 0.0f;
    return dot * inv * qinv;
}

/* Brute force: sorts every passing entry; returns min(k, matches). */
static size_t ref_search(const tfilter *f, const float *q, int metric, size_t k)
{
    size_t n = 0;
    for (size_t i = 0; i < NS; i++) {
        if (!ref_pass(&S[i], f) || (q && !S[i].has_emb))
            continue;
        RH[n].s = &S[i];
        RH[n].score = q ? (double)ref_score(&S[i], q, metric) : (double)S[i].time;
        n++;
    }
    /* insertion sort is too slow for 6000: simple merge-free selection */
    for (size_t i = 0; i < n && i < k; i++) {
        size_t b = i;
        for (size_t j = i + 1; j < n; j++)
            if (rhit_before(&RH[j], &RH[b]))
                b = j;
        rhit t = RH[i];
        RH[i] = RH[b];
        RH[b] = t;
    }
    return n < k ? n : k;
}

static int same_as_ref(const weft_registry_hit *h, size_t n, size_t want)
{
    if (n != want) {
        fprintf(stderr, "  %zu hits, reference %zu\n", n, want);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (h[i].score != RH[i].score || h[i].hash_len != RH[i].s->hl ||
            memcmp(h[i].hash, RH[i].s->hash, h[i].hash_len) != 0) {
            fprintf(stderr, "  hit %zu: score %.9g ref %.9g (entry %d/%d)\n", i,
                    h[i].score, RH[i].score, h[i].hash[0] | h[i].hash[1] << 8,
                    RH[i].s->hash[0] | RH[i].s->hash[1] << 8);
            return 0;
        }
    return 1;
}

/* Fills a weft_registry_filter from a tfilter (storage in the caller's). */
typedef struct ffill {
    weft_registry_filter f;
    weft_node_id owner;
    weft_registry_kv kv[2];
    char vals[2][16];
} ffill;

static void to_filter(const tfilter *t, ffill *o)
{
    weft_registry_filter_init(&o->f);
    if (t->type >= 0) {
        o->f.type = types[t->type];
        o->f.type_len = strlen(types[t->type]);
    }
    if (t->owner >= 0) {
        memset(o->owner.key, t->owner + 1, WEFT_ID_BYTES);
        o->f.owner = &o->owner;
    }
    size_t n = 0;
    if (t->pid >= 0) {
        snprintf(o->vals[0], 16, "p%d", t->pid);
        o->kv[n++] = (weft_registry_kv){ "pid", 3, o->vals[0], strlen(o->vals[0]) };
    }
    if (t->cam >= 0) {
        snprintf(o->vals[1], 16, "c%d", t->cam);
        o->kv[n++] = (weft_registry_kv){ "cam", 3, o->vals[1], strlen(o->vals[1]) };
    }
    o->f.meta = n ? o->kv : NULL;
    o->f.meta_count = n;
    if (t->time) {
        o->f.time_ms_min = t->tmin;
        o->f.time_ms_max = t->tmax;
    }
    o->f.confidence_min = t->cmin;
}

static void random_filter(tfilter *t, unsigned mask)
{
    t->type = mask & 1 ? (int)(rnd() % 5) % 4 : -1;
    t->owner = mask & 2 ? (int)(rnd() % 5) : -1;
    t->time = (mask & 4) != 0;
    t->tmin = 1000 + rnd() % 1000;
    t->tmax = t->tmin + (rnd() % 2 ? rnd() % 30 : rnd() % 1000);
    t->cmin = mask & 8 ? (float)(1 + rnd() % 4) / 4.0f : 0;
    t->pid = mask & 16 ? (int)(rnd() % 52) : -1; /* 50, 51: no such value */
    t->cam = mask & 32 ? (int)(rnd() % 4) : -1;
}

static void random_query(float *q, int integer)
{
    for (int d = 0; d < DIM; d++)
        q[d] = integer ? (float)((int)(rnd() % 7) - 3) : (float)gauss();
}

static weft_registry_hit HITS[64 * 64];

/* ---------------------------------------------------------------------- */

TEST(test_filters_all_combinations)
{
    int levels[3] = { WEFT__REG_SIMD_SCALAR, WEFT__REG_SIMD_AVX2, WEFT__REG_SIMD_AVX512 };
    weft_threadpool *tp2 = NULL, *tp3 = NULL;
    REQUIRE(weft_threadpool_new(&tp2, 2, NULL) == 0);
    REQUIRE(weft_threadpool_new(&tp3, 3, NULL) == 0);
    weft_registry_exec ex2 = weft_threadpool_exec(tp2), ex3 = weft_threadpool_exec(tp3);
    const weft_registry_exec *execs[3] = { NULL, &ex2, &ex3 };
    static weft_registry_hit hits[KMAX];
    int plans[4] = { 0 };
    for (int metric = 0; metric < 2; metric++) {
        weft_registry *r = build(metric, 5000, 1);
        REQUIRE(r);
        weft_registry_scratch *s;
        REQUIRE(weft_registry_scratch_new(&s, NULL) == 0);
        for (unsigned mask = 0; mask < 64; mask++) {
            for (int rep = 0; rep < 3; rep++) {
                tfilter tf;
                random_filter(&tf, mask);
                ffill ff;
                to_filter(&tf, &ff);
                float q[DIM];
                random_query(q, 1);
                size_t ks[4] = { 1, 10, 100, KMAX };
                size_t k = ks[rep + (mask & 1)];
                size_t want = ref_search(&tf, q, metric, k);
                weft_registry_search_params p;
                memset(&p, 0, sizeof p);
                p.k = (uint32_t)k;
                p.filter = &ff.f;
                for (int lv = 0; lv < 3; lv++) {
                    if (weft__reg_set_simd(r, levels[lv]))
                        continue; /* this CPU lacks it */
                    for (int ex = 0; ex < 3; ex++) {
                        weft_registry_search_info info;
                        int n = weft_registry_search(r, &p, q, s, execs[ex], hits, &info);
                        CHECK(n >= 0 && same_as_ref(hits, (size_t)n, want));
                        if (lv == 0 && ex == 0)
                            plans[info.plan]++;
                    }
                }
                weft__reg_set_simd(r, WEFT__REG_SIMD_AUTO);
                /* without a query: the newest matches */
                want = ref_search(&tf, NULL, metric, k);
                int n = weft_registry_search(r, &p, NULL, s, NULL, hits, NULL);
                CHECK(n >= 0 && same_as_ref(hits, (size_t)n, want));
            }
        }
        weft_registry_scratch_del(s);
        weft_registry_del(r);
    }
    /* every plan was taken */
    CHECK(plans[WEFT_REGISTRY_PLAN_ALL] > 0);
    CHECK(plans[WEFT_REGISTRY_PLAN_INDEX] > 0);
    CHECK(plans[WEFT_REGISTRY_PLAN_SCAN] > 0);
    CHECK(plans[WEFT_REGISTRY_PLAN_EMPTY] > 0);
    weft_threadpool_del(tp2);
    weft_threadpool_del(tp3);
}

TEST(test_batch_matches_single)
{
    weft_registry *r = build(WEFT_REGISTRY_COSINE, 4000, 1);
    REQUIRE(r);
    weft_registry_scratch *s;
    REQUIRE(weft_registry_scratch_new(&s, NULL) == 0);
    weft_threadpool *tp;
    REQUIRE(weft_threadpool_new(&tp, 2, NULL) == 0);
    weft_registry_exec ex = weft_threadpool_exec(tp);
    int levels[3] = { WEFT__REG_SIMD_SCALAR, WEFT__REG_SIMD_AVX2, WEFT__REG_SIMD_AVX512 };
    for (int rep = 0; rep < 20; rep++) {
        size_t nq = 1 + rnd() % 9, k = 1 + rnd() % 40;
        float q[9 * DIM];
        for (size_t i = 0; i < nq; i++)
            random_query(q + i * DIM, 1);
        tfilter tf;
        random_filter(&tf, (unsigned)(rnd() % 64));
        ffill ff;
        to_filter(&tf, &ff);
        weft_registry_search_params p;
        memset(&p, 0, sizeof p);
        p.k = (uint32_t)k;
        p.filter = rep % 2 ? &ff.f : NULL;
        for (int lv = 0; lv < 3; lv++) {
            if (weft__reg_set_simd(r, levels[lv]))
                continue;
            size_t counts[9];
            REQUIRE(weft_registry_search_batch(r, &p, q, nq, s, rep % 3 ? &ex : NULL,
                                               HITS, counts, NULL) == 0);
            for (size_t i = 0; i < nq; i++) {
                tfilter none = { -1, -1, -1, -1, 0, 0, 0, 0 };
                size_t want = ref_search(p.filter ? &tf : &none, q + i * DIM,
                                         WEFT_REGISTRY_COSINE, k);
                CHECK(same_as_ref(HITS + i * k, counts[i], want));
            }
        }
    }
    weft_threadpool_del(tp);
    weft_registry_scratch_del(s);
    weft_registry_del(r);
}

TEST(test_ties_empty_and_small)
{
    weft_registry_config c;
    weft_registry_config_default(&c);
    c.dim = DIM;
    c.metric = WEFT_REGISTRY_IP;
    weft_registry *r;
    REQUIRE(weft_registry_new(&r, &c, NULL) == 0);
    weft_registry_scratch *s;
    REQUIRE(weft_registry_scratch_new(&s, NULL) == 0);
    weft_registry_search_params p;
    memset(&p, 0, sizeof p);
    p.k = 10;
    float q[DIM] = { 1 };
    weft_registry_hit h[10];
    /* empty registry */
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, NULL), 0);
    CHECK_EQ_INT(weft_registry_search(r, &p, NULL, s, NULL, h, NULL), 0);
    /* five identical vectors: the order is by hash bytes, shorter first */
    const char *hs[5] = { "b", "ab", "a", "ba", "aa" };
    float v[DIM] = { 2 };
    for (int i = 0; i < 5; i++) {
        weft_registry_entry e;
        memset(&e, 0, sizeof e);
        e.hash = (const uint8_t *)hs[i];
        e.hash_len = strlen(hs[i]);
        e.type = "t";
        e.type_len = 1;
        e.time_ms = 5;
        e.embedding = v;
        e.dim = DIM;
        REQUIRE(weft_registry_add(r, &e, 0) == 0);
    }
    int n = weft_registry_search(r, &p, q, s, NULL, h, NULL);
    REQUIRE(n == 5); /* k larger than the set */
    const char *want[5] = { "a", "aa", "ab", "b", "ba" };
    for (int i = 0; i < 5; i++)
        CHECK(h[i].score == 2.0 && h[i].hash_len == strlen(want[i]) &&
              memcmp(h[i].hash, want[i], h[i].hash_len) == 0);
    /* k = 2 keeps the two first of that order */
    p.k = 2;
    n = weft_registry_search(r, &p, q, s, NULL, h, NULL);
    CHECK(n == 2 && h[0].hash_len == 1 && h[0].hash[0] == 'a' && h[1].hash_len == 2 &&
          memcmp(h[1].hash, "aa", 2) == 0);
    /* a filter that names nothing */
    weft_registry_filter f;
    weft_registry_filter_init(&f);
    f.type = "nope";
    f.type_len = 4;
    p.filter = &f;
    weft_registry_search_info info;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, &info), 0);
    CHECK_EQ_INT(info.plan, WEFT_REGISTRY_PLAN_EMPTY);
    weft_registry_filter_init(&f);
    f.time_ms_min = 6;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, &info), 0);
    f.time_ms_min = 5;
    f.time_ms_max = 4; /* inverted range */
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, &info), 0);
    weft_registry_filter_init(&f);
    f.confidence_min = 1.5f;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, &info), 0);
    /* argument and limit errors, counted */
    p.filter = NULL;
    p.k = 0;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, NULL), WEFT_ERR_LIMIT);
    p.k = c.k_max + 1;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, NULL), WEFT_ERR_LIMIT);
    p.k = 1;
    size_t counts[1];
    CHECK_EQ_INT(weft_registry_search_batch(r, &p, q, c.batch_max + 1, s, NULL, h, counts,
                                            NULL), WEFT_ERR_LIMIT);
    q[3] = NAN;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, NULL), WEFT_ERR_INVAL);
    q[3] = INFINITY;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, NULL), WEFT_ERR_INVAL);
    q[3] = 0;
    weft_registry_filter_init(&f);
    weft_registry_kv kv[9];
    for (int i = 0; i < 9; i++)
        kv[i] = (weft_registry_kv){ "k", 1, "v", 1 };
    f.meta = kv;
    f.meta_count = 9;
    p.filter = &f;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, NULL), WEFT_ERR_INVAL);
    f.confidence_min = NAN;
    f.meta_count = 0;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, NULL), WEFT_ERR_INVAL);
    p.filter = NULL;
    p.rerank = WEFT_REGISTRY_RERANK_MAX + 1;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, NULL), WEFT_ERR_INVAL);
    p.rerank = 0;
    p.candidates = WEFT_REGISTRY_CANDIDATES_MAX + 1;
    CHECK_EQ_INT(weft_registry_search(r, &p, q, s, NULL, h, NULL), WEFT_ERR_INVAL);
    p.candidates = 0;
    weft_registry_stats st;
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.refused_k, 2);
    CHECK_EQ_INT(st.refused_batch, 1);
    weft_registry_scratch_del(s);
    weft_registry_del(r);
}

TEST(test_changes_then_search)
{
    /* removals, re-adds into reused slots and replaces, then the
     * reference again */
    weft_registry *r = build(WEFT_REGISTRY_COSINE, 3000, 1);
    REQUIRE(r);
    weft_registry_scratch *s;
    REQUIRE(weft_registry_scratch_new(&s, NULL) == 0);
    static weft_registry_hit hits[200];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 800; i++) {
            size_t at = rnd() % NS;
            shadow *sh = &S[at];
            if (sh->live && rnd() % 2) {
                REQUIRE(weft_registry_remove(r, sh->hash, sh->hl) == 0);
                sh->live = 0;
            } else {
                /* a new entry under the same hash */
                uint8_t h[16];
                size_t hl = sh->hl;
                memcpy(h, sh->hash, sizeof h);
                random_shadow(sh, at, 1);
                memcpy(sh->hash, h, sizeof h);
                sh->hl = hl;
                weft_registry_entry e;
                weft_registry_kv kv[2];
                char vals[2][16];
                entry_of(sh, &e, kv, vals);
                /* re-adds reuse the hash: replace covers both cases */
                REQUIRE(weft_registry_add(r, &e, WEFT_REGISTRY_REPLACE) == 0);
            }
        }
        size_t live = 0;
        for (size_t i = 0; i < NS; i++)
            live += S[i].live;
        CHECK_EQ_INT(weft_registry_count(r), live);
        for (int q_ = 0; q_ < 40; q_++) {
            tfilter tf;
            random_filter(&tf, (unsigned)(rnd() % 64));
            ffill ff;
            to_filter(&tf, &ff);
            float q[DIM];
            random_query(q, 1);
            weft_registry_search_params p;
            memset(&p, 0, sizeof p);
            p.k = 1 + (uint32_t)(rnd() % 200);
            p.filter = &ff.f;
            size_t want = ref_search(&tf, q, WEFT_REGISTRY_COSINE, p.k);
            int n = weft_registry_search(r, &p, q, s, NULL, hits, NULL);
            CHECK(n >= 0 && same_as_ref(hits, (size_t)n, want));
        }
    }
    weft_registry_scratch_del(s);
    weft_registry_del(r);
}

TEST(test_float_data_tolerance)
{
    /* real-valued data at the default dimension: scores within float
     * rounding of a double-precision reference, and the same set except
     * where the reference itself has near-ties */
    weft_registry_config c;
    weft_registry_config_default(&c);
    weft_registry *r;
    REQUIRE(weft_registry_new(&r, &c, NULL) == 0);
    enum { N = 1500, D = 512 };
    static float data[N][D];
    for (int i = 0; i < N; i++) {
        for (int d = 0; d < D; d++)
            data[i][d] = (float)gauss();
        weft_registry_entry e;
        memset(&e, 0, sizeof e);
        uint8_t h[4] = { (uint8_t)i, (uint8_t)(i >> 8), 1, 2 };
        e.hash = h;
        e.hash_len = 4;
        e.type = "face";
        e.type_len = 4;
        e.embedding = data[i];
        e.dim = D;
        REQUIRE(weft_registry_add(r, &e, 0) == 0);
    }
    weft_registry_scratch *s;
    REQUIRE(weft_registry_scratch_new(&s, NULL) == 0);
    int levels[3] = { WEFT__REG_SIMD_SCALAR, WEFT__REG_SIMD_AVX2, WEFT__REG_SIMD_AVX512 };
    for (int rep = 0; rep < 10; rep++) {
        float q[D];
        for (int d = 0; d < D; d++)
            q[d] = (float)gauss();
        double ref[N];
        double qn = 0;
        for (int d = 0; d < D; d++)
            qn += (double)q[d] * q[d];
        for (int i = 0; i < N; i++) {
            double dot = 0, xn = 0;
            for (int d = 0; d < D; d++) {
                dot += (double)q[d] * data[i][d];
                xn += (double)data[i][d] * data[i][d];
            }
            ref[i] = dot / sqrt(xn * qn);
        }
        for (int lv = 0; lv < 3; lv++) {
            if (weft__reg_set_simd(r, levels[lv]))
                continue;
            weft_registry_search_params p;
            memset(&p, 0, sizeof p);
            p.k = 10;
            weft_registry_hit h[10];
            int n = weft_registry_search(r, &p, q, s, NULL, h, NULL);
            REQUIRE(n == 10);
            /* the 10th best reference score: anything clearly above it must
             * be returned, every hit must be close to its reference */
            double sorted[N];
            memcpy(sorted, ref, sizeof sorted);
            for (int i = 0; i < 11; i++)
                for (int j = i + 1; j < N; j++)
                    if (sorted[j] > sorted[i]) {
                        double t = sorted[i];
                        sorted[i] = sorted[j];
                        sorted[j] = t;
                    }
            for (int i = 0; i < n; i++) {
                int idx = h[i].hash[0] | h[i].hash[1] << 8;
                CHECK(fabs(h[i].score - ref[idx]) < 1e-5);
                CHECK(h[i].score >= sorted[10] - 1e-5);
            }
        }
    }
    weft_registry_scratch_del(s);
    weft_registry_del(r);
}

/* ---------------------------------------------------------------------- */

TEST(test_merge)
{
    /* three "nodes" hold parts of the set, some entries on two nodes; the
     * merge of their top-k equals the top-k of the whole */
    weft_registry *all = build(WEFT_REGISTRY_COSINE, 3000, 1);
    REQUIRE(all);
    weft_registry *node[3];
    weft_registry_config c = *weft_registry_get_config(all);
    for (int i = 0; i < 3; i++)
        REQUIRE(weft_registry_new(&node[i], &c, NULL) == 0);
    for (size_t i = 0; i < NS; i++) {
        weft_registry_entry e;
        weft_registry_kv kv[2];
        char vals[2][16];
        entry_of(&S[i], &e, kv, vals);
        REQUIRE(weft_registry_add(node[i % 3], &e, 0) == 0);
        if (i % 10 == 0)
            REQUIRE(weft_registry_add(node[(i + 1) % 3], &e, 0) == 0);
    }
    weft_registry_scratch *s;
    REQUIRE(weft_registry_scratch_new(&s, NULL) == 0);
    static weft_registry_hit lists[3][100], merged[100], whole[100];
    for (int rep = 0; rep < 30; rep++) {
        float q[DIM];
        random_query(q, 1);
        weft_registry_search_params p;
        memset(&p, 0, sizeof p);
        p.k = 1 + (uint32_t)(rnd() % 100);
        size_t counts[3];
        const weft_registry_hit *lp[3];
        for (int i = 0; i < 3; i++) {
            int n = weft_registry_search(node[i], &p, q, s, NULL, lists[i], NULL);
            REQUIRE(n >= 0);
            counts[i] = (size_t)n;
            lp[i] = lists[i];
        }
        /* unsorted input is fine: reverse one list */
        for (size_t a = 0, b = counts[1] ? counts[1] - 1 : 0; a < b; a++, b--) {
            weft_registry_hit t = lists[1][a];
            lists[1][a] = lists[1][b];
            lists[1][b] = t;
        }
        ptrdiff_t m = weft_registry_merge(lp, counts, 3, p.k, merged);
        int n = weft_registry_search(all, &p, q, s, NULL, whole, NULL);
        REQUIRE(m == n);
        for (int i = 0; i < n; i++)
            CHECK(merged[i].score == whole[i].score && merged[i].hash_len == whole[i].hash_len &&
                  memcmp(merged[i].hash, whole[i].hash, whole[i].hash_len) == 0);
    }
    /* duplicates keep their best score; time-ranked lists merge alike */
    weft_registry_hit a[3] = { { 0.5, 1, { 'x' } }, { 0.9, 1, { 'y' } }, { 0.1, 1, { 'z' } } };
    weft_registry_hit b[2] = { { 0.7, 1, { 'x' } }, { 0.9, 1, { 'w' } } };
    const weft_registry_hit *ab[2] = { a, b };
    size_t cn[2] = { 3, 2 };
    weft_registry_hit out[4];
    ptrdiff_t m = weft_registry_merge(ab, cn, 2, 4, out);
    REQUIRE(m == 4);
    CHECK(out[0].hash[0] == 'w' && out[1].hash[0] == 'y'); /* tie: by hash */
    CHECK(out[2].hash[0] == 'x' && out[2].score == 0.7);
    CHECK(out[3].hash[0] == 'z');
    m = weft_registry_merge(ab, cn, 2, 2, out);
    CHECK(m == 2 && out[0].hash[0] == 'w' && out[1].hash[0] == 'y');
    CHECK_EQ_INT(weft_registry_merge(ab, cn, 2, 0, out), WEFT_ERR_INVAL);
    a[0].hash_len = 0;
    CHECK_EQ_INT(weft_registry_merge(ab, cn, 2, 2, out), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft_registry_merge(NULL, NULL, 0, 2, out), 0);
    for (int i = 0; i < 3; i++)
        weft_registry_del(node[i]);
    weft_registry_scratch_del(s);
    weft_registry_del(all);
}

/* ---------------------------------------------------------------------- */
/* Approximate index                                                      */

/* Clustered real-valued data: ncl centres, each entry a centre + noise. */
static weft_registry *build_clustered(size_t n, size_t ncl, float noise,
                                      float (*data)[DIM], float (*centres)[DIM])
{
    weft_registry_config c;
    weft_registry_config_default(&c);
    c.dim = DIM;
    c.k_max = KMAX;
    weft_registry *r;
    if (weft_registry_new(&r, &c, NULL))
        return NULL;
    for (size_t j = 0; j < ncl; j++)
        for (int d = 0; d < DIM; d++)
            centres[j][d] = (float)gauss();
    NS = n;
    for (size_t i = 0; i < n; i++) {
        random_shadow(&S[i], i, 1);
        unique_hash(&S[i], i);
        S[i].has_emb = 1;
        size_t j = rnd() % ncl;
        for (int d = 0; d < DIM; d++)
            data[i][d] = S[i].emb[d] = centres[j][d] + noise * (float)gauss();
        weft_registry_entry e;
        weft_registry_kv kv[2];
        char vals[2][16];
        entry_of(&S[i], &e, kv, vals);
        if (weft_registry_add(r, &e, 0)) {
            weft_registry_del(r);
            return NULL;
        }
    }
    return r;
}

static size_t overlap(const weft_registry_hit *a, size_t na, const weft_registry_hit *b,
                      size_t nb)
{
    size_t o = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (a[i].hash_len == b[j].hash_len &&
                memcmp(a[i].hash, b[j].hash, a[i].hash_len) == 0) {
                o++;
                break;
            }
    return o;
}

TEST(test_approx_index)
{
    static float data[4000][DIM], centres[40][DIM];
    weft_registry *r = build_clustered(4000, 40, 0.3f, data, centres);
    REQUIRE(r);
    weft_registry_scratch *s;
    REQUIRE(weft_registry_scratch_new(&s, NULL) == 0);
    weft_registry_search_params p;
    memset(&p, 0, sizeof p);
    p.k = 10;
    p.flags = WEFT_REGISTRY_APPROX;
    weft_registry_hit ex[10], ap[10];
    float q[DIM];
    /* without an index, APPROX is exact */
    random_query(q, 0);
    weft_registry_search_info info;
    int n = weft_registry_search(r, &p, q, s, NULL, ap, &info);
    CHECK(n == 10 && info.approx == 0);
    weft_registry_index_params ip;
    memset(&ip, 0, sizeof ip);
    ip.nlist = 32;
    ip.seed = 1;
    weft_threadpool *tp;
    REQUIRE(weft_threadpool_new(&tp, 2, NULL) == 0);
    weft_registry_exec exec = weft_threadpool_exec(tp);
    REQUIRE(weft_registry_index_build(r, &ip, &exec) == 0);
    weft_registry_stats st;
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.index_lists, 32);
    CHECK_EQ_INT(st.index_entries, 4000);

    /* recall@10 against exact, queries near the data */
    size_t hit = 0, total = 0;
    for (int rep = 0; rep < 100; rep++) {
        size_t j = rnd() % 40;
        for (int d = 0; d < DIM; d++)
            q[d] = centres[j][d] + 0.3f * (float)gauss();
        weft_registry_search_params pe = p;
        pe.flags = 0;
        int ne = weft_registry_search(r, &pe, q, s, NULL, ex, NULL);
        p.nprobe = 4;
        int na = weft_registry_search(r, &p, q, s, rep % 2 ? &exec : NULL, ap, &info);
        REQUIRE(ne == 10 && na == 10 && info.approx == 1);
        CHECK(info.codes > 0 && info.codes < 4000);
        hit += overlap(ex, 10, ap, 10);
        total += 10;
        /* scores returned are exact, in order */
        for (int i = 1; i < na; i++)
            CHECK(ap[i - 1].score >= ap[i].score);
    }
    fprintf(stderr, "  approx recall@10 (clustered, nprobe 4/32): %.3f\n",
            (double)hit / (double)total);
    CHECK((double)hit / (double)total >= 0.9);

    /* every list, every candidate re-ranked: exactly the exact answer */
    for (int rep = 0; rep < 20; rep++) {
        random_query(q, 0);
        tfilter tf;
        random_filter(&tf, (unsigned)(rnd() % 64));
        ffill ff;
        to_filter(&tf, &ff);
        weft_registry_search_params pa = p, pe = p;
        pa.nprobe = 32;
        pa.rerank = 4000;
        pa.filter = pe.filter = rep % 2 ? &ff.f : NULL;
        pe.flags = 0;
        int ne = weft_registry_search(r, &pe, q, s, NULL, ex, NULL);
        int na = weft_registry_search(r, &pa, q, s, &exec, ap, NULL);
        REQUIRE(ne == na);
        for (int i = 0; i < na; i++)
            CHECK(ex[i].score == ap[i].score && ex[i].hash_len == ap[i].hash_len &&
                  memcmp(ex[i].hash, ap[i].hash, ex[i].hash_len) == 0);
    }

    /* filtered approximate search returns only matching entries */
    for (int rep = 0; rep < 30; rep++) {
        tfilter tf;
        random_filter(&tf, 1 | 8);
        ffill ff;
        to_filter(&tf, &ff);
        random_query(q, 0);
        weft_registry_search_params pa = p;
        pa.filter = &ff.f;
        pa.nprobe = 8;
        int na = weft_registry_search(r, &pa, q, s, NULL, ap, NULL);
        REQUIRE(na >= 0);
        for (int i = 0; i < na; i++) {
            int idx = ap[i].hash[0] | ap[i].hash[1] << 8;
            CHECK(ref_pass(&S[idx], &tf));
        }
    }

    /* a selective filter makes an approximate search exact */
    for (int rep = 0; rep < 20; rep++) {
        tfilter tf = { -1, -1, (int)(rnd() % 50), -1, 0, 0, 0, 0 };
        ffill ff;
        to_filter(&tf, &ff);
        random_query(q, 0);
        weft_registry_search_params pa = p, pe = p;
        pa.filter = pe.filter = &ff.f;
        pe.flags = 0;
        int ne = weft_registry_search(r, &pe, q, s, NULL, ex, NULL);
        int na = weft_registry_search(r, &pa, q, s, NULL, ap, &info);
        CHECK(info.plan == WEFT_REGISTRY_PLAN_INDEX && info.approx == 0);
        CHECK(ne == na);
        for (int i = 0; i < na && i < ne; i++)
            CHECK(ex[i].score == ap[i].score && ex[i].hash_len == ap[i].hash_len &&
                  memcmp(ex[i].hash, ap[i].hash, ex[i].hash_len) == 0);
    }

    /* changes after the build: removed entries vanish, added ones are found */
    for (int i = 0; i < 1000; i++)
        REQUIRE(weft_registry_remove(r, S[i].hash, S[i].hl) == 0);
    for (int rep = 0; rep < 50; rep++) {
        int i = (int)(rnd() % 1000);
        memcpy(q, data[i], sizeof q);
        int na = weft_registry_search(r, &p, q, s, NULL, ap, NULL);
        for (int t = 0; t < na; t++) {
            int idx = ap[t].hash[0] | ap[t].hash[1] << 8;
            CHECK(idx >= 1000);
        }
    }
    for (int i = 0; i < 500; i++) {
        weft_registry_entry e;
        weft_registry_kv kv[2];
        char vals[2][16];
        entry_of(&S[i], &e, kv, vals);
        REQUIRE(weft_registry_add(r, &e, 0) == 0);
    }
    int found = 0;
    for (int i = 0; i < 500; i++) {
        memcpy(q, data[i], sizeof q);
        int na = weft_registry_search(r, &p, q, s, NULL, ap, NULL);
        found += na > 0 && ap[0].hash_len == S[i].hl &&
                 memcmp(ap[0].hash, S[i].hash, S[i].hl) == 0;
    }
    CHECK(found >= 490); /* a vector finds itself (cosine 1) */
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.index_entries, 3500);
    /* the same seed on the same content builds the same index */
    weft_registry_hit a1[10], a2[10];
    random_query(q, 0);
    REQUIRE(weft_registry_index_build(r, &ip, NULL) == 0);
    int n1 = weft_registry_search(r, &p, q, s, NULL, a1, NULL);
    REQUIRE(weft_registry_index_build(r, &ip, &exec) == 0);
    int n2 = weft_registry_search(r, &p, q, s, NULL, a2, NULL);
    CHECK(n1 == n2);
    for (int i = 0; i < n1 && i < n2; i++)
        CHECK(a1[i].score == a2[i].score && a1[i].hash_len == a2[i].hash_len &&
              memcmp(a1[i].hash, a2[i].hash, a1[i].hash_len) == 0);
    /* drop: exact again */
    weft_registry_index_drop(r);
    n = weft_registry_search(r, &p, q, s, NULL, ap, &info);
    CHECK(info.approx == 0);
    ip.nlist = 5000;
    CHECK_EQ_INT(weft_registry_index_build(r, &ip, NULL), WEFT_ERR_CONFIG);
    weft_threadpool_del(tp);
    weft_registry_scratch_del(s);
    weft_registry_del(r);
}

/* ---------------------------------------------------------------------- */

typedef struct counting {
    long allocs;
} counting;
static void *c_alloc(void *ctx, size_t n)
{
    ((counting *)ctx)->allocs++;
    return malloc(n);
}
static void *c_realloc(void *ctx, void *p, size_t n)
{
    ((counting *)ctx)->allocs++;
    return realloc(p, n);
}
static void c_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

TEST(test_no_allocation_per_query)
{
    weft_registry *r = build(WEFT_REGISTRY_COSINE, 3000, 1);
    REQUIRE(r);
    weft_registry_index_params ip;
    memset(&ip, 0, sizeof ip);
    REQUIRE(weft_registry_index_build(r, &ip, NULL) == 0);
    counting cnt = { 0 };
    weft_allocator a = { &cnt, c_alloc, c_realloc, c_free };
    weft_registry_scratch *s;
    REQUIRE(weft_registry_scratch_new(&s, &a) == 0);
    weft_threadpool *tp;
    REQUIRE(weft_threadpool_new(&tp, 2, NULL) == 0);
    weft_registry_exec ex = weft_threadpool_exec(tp);
    weft_registry_search_params p;
    memset(&p, 0, sizeof p);
    p.k = 50;
    REQUIRE(weft_registry_scratch_reserve(s, r, &p, 8, &ex) == 0);
    p.flags = WEFT_REGISTRY_APPROX;
    REQUIRE(weft_registry_scratch_reserve(s, r, &p, 8, &ex) == 0);
    long before = cnt.allocs;
    float q[8 * DIM];
    size_t counts[8];
    for (int rep = 0; rep < 50; rep++) {
        for (int i = 0; i < 8 * DIM; i++)
            q[i] = (float)gauss();
        tfilter tf;
        random_filter(&tf, (unsigned)(rnd() % 64));
        ffill ff;
        to_filter(&tf, &ff);
        p.filter = rep % 2 ? &ff.f : NULL;
        p.k = 1 + (uint32_t)(rnd() % 50);
        p.flags = rep % 3 ? WEFT_REGISTRY_APPROX : 0;
        REQUIRE(weft_registry_search_batch(r, &p, q, 1 + rnd() % 8, s, rep % 4 ? &ex : NULL,
                                           HITS, counts, NULL) == 0);
        REQUIRE(weft_registry_search(r, &p, rep % 5 ? q : NULL, s, &ex, HITS, NULL) >= 0);
    }
    CHECK_EQ_INT(cnt.allocs, before);
    weft_threadpool_del(tp);
    weft_registry_scratch_del(s);
    weft_registry_del(r);
}

TEST(test_plan_counters)
{
    weft_registry *r = build(WEFT_REGISTRY_COSINE, 4000, 1);
    REQUIRE(r);
    weft_registry_scratch *s;
    REQUIRE(weft_registry_scratch_new(&s, NULL) == 0);
    weft_registry_search_params p;
    memset(&p, 0, sizeof p);
    p.k = 5;
    float q[DIM];
    random_query(q, 1);
    weft_registry_search_info info;
    weft_registry_hit h[5];
    /* one pid value names ~1/70 of the entries: walk its list */
    tfilter tf = { -1, -1, 7, -1, 0, 0, 0, 0 };
    ffill ff;
    to_filter(&tf, &ff);
    p.filter = &ff.f;
    REQUIRE(weft_registry_search(r, &p, q, s, NULL, h, &info) >= 0);
    CHECK_EQ_INT(info.plan, WEFT_REGISTRY_PLAN_INDEX);
    size_t want = 0;
    for (size_t i = 0; i < NS; i++)
        want += ref_pass(&S[i], &tf) && S[i].has_emb;
    CHECK_EQ_INT(info.matched, want);
    /* a type names a quarter: scan */
    tfilter tt = { 1, -1, -1, -1, 0, 0, 0, 0 };
    to_filter(&tt, &ff);
    REQUIRE(weft_registry_search(r, &p, q, s, NULL, h, &info) >= 0);
    CHECK_EQ_INT(info.plan, WEFT_REGISTRY_PLAN_SCAN);
    /* a narrow time window: the time index */
    tfilter tw = { -1, -1, -1, -1, 1, 1500, 1505, 0 };
    to_filter(&tw, &ff);
    REQUIRE(weft_registry_search(r, &p, q, s, NULL, h, &info) >= 0);
    CHECK_EQ_INT(info.plan, WEFT_REGISTRY_PLAN_INDEX);
    weft_registry_stats st;
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.plan_index, 2);
    CHECK_EQ_INT(st.plan_scan, 1);
    CHECK_EQ_INT(st.searches, 3);
    weft_registry_scratch_del(s);
    weft_registry_del(r);
}

/* Every kernel level against the portable one, on random inputs: the
 * float dot products exactly on integer data, the 8-bit and 1-bit code
 * kernels within float rounding (their counts are integers). */
TEST(test_kernels_agree)
{
    const weft__reg_kernels *ref = weft__reg_kernels_get(WEFT__REG_SIMD_SCALAR);
    int levels[2] = { WEFT__REG_SIMD_AVX2, WEFT__REG_SIMD_AVX512 };
    REQUIRE(ref);
    for (int lv = 0; lv < 2; lv++) {
        const weft__reg_kernels *k = weft__reg_kernels_get(levels[lv]);
        if (!k)
            continue;
        fprintf(stderr, "  %s against %s\n", k->name, ref->name);
        for (int rep = 0; rep < 50; rep++) {
            size_t n = 16 * (1 + rnd() % 40), nx = 1 + rnd() % 23, nq = 1 + rnd() % 9;
            static float q[9 * 640] __attribute__((aligned(64)));
            static float x[23 * 640] __attribute__((aligned(64)));
            static float o1[9 * 23], o2[9 * 23];
            for (size_t i = 0; i < nq * n; i++)
                q[i] = (float)((int)(rnd() % 9) - 4);
            for (size_t i = 0; i < nx * n; i++)
                x[i] = (float)((int)(rnd() % 9) - 4);
            ref->dot_rows(q, x, n, nx, o1);
            k->dot_rows(q, x, n, nx, o2);
            CHECK(memcmp(o1, o2, nx * sizeof *o1) == 0);
            ref->dot_tile(q, nq, x, nx, n, o1, nx);
            k->dot_tile(q, nq, x, nx, n, o2, nx);
            CHECK(memcmp(o1, o2, nq * nx * sizeof *o1) == 0);
            /* 8-bit codes: integer weights keep the sums exact too */
            static uint8_t code[640];
            for (size_t i = 0; i < n; i++)
                code[i] = (uint8_t)rnd();
            CHECK(ref->dot_u8(q, code, n) == k->dot_u8(q, code, n));
            /* 1-bit codes: rows of nw words, 4 planes */
            size_t nw = 8 * (1 + rnd() % 4), nrows = 1 + rnd() % 64;
            static uint64_t planes[4 * 32], bits[64 * 32];
            static float fac[64], e1[64], e2[64];
            for (size_t i = 0; i < 4 * nw; i++)
                planes[i] = rnd();
            for (size_t i = 0; i < nrows * nw; i++)
                bits[i] = rnd();
            for (size_t i = 0; i < nrows; i++)
                fac[i] = (float)(rnd() % 5);
            float cc[5] = { 2, -3, 7, 1, (float)(rnd() % 200) - 100.0f }; /* exact */
            uint64_t m1 = ref->bin_est(planes, bits, nw, nrows, fac, cc, e1);
            uint64_t m2 = k->bin_est(planes, bits, nw, nrows, fac, cc, e2);
            CHECK(memcmp(e1, e2, nrows * sizeof *e1) == 0);
            CHECK(m1 == m2);
            for (size_t i = 0; i < nrows; i++)
                CHECK(((m1 >> i) & 1) == (e1[i] > cc[4]));
            /* and the definition: W = sum of 4-bit values where a bit is set */
            size_t row = rnd() % nrows;
            int64_t w = 0, ones = 0;
            for (size_t i = 0; i < nw * 64; i++) {
                if (!(bits[row * nw + i / 64] >> (i % 64) & 1))
                    continue;
                ones++;
                for (int b = 0; b < 4; b++)
                    w += (int64_t)((planes[b * nw + i / 64] >> (i % 64)) & 1) << b;
            }
            CHECK(e1[row] == (float)(1 + fac[row] * (float)(2 * w - 3 * ones - 7)));
        }
    }
}

int main(void)
{
    RUN(test_kernels_agree);
    RUN(test_filters_all_combinations);
    RUN(test_batch_matches_single);
    RUN(test_ties_empty_and_small);
    RUN(test_changes_then_search);
    RUN(test_float_data_tolerance);
    RUN(test_merge);
    RUN(test_approx_index);
    RUN(test_no_allocation_per_query);
    RUN(test_plan_counters);
    TEST_MAIN_END();
}
