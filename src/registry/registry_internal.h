/*
 * registry_internal.h -- the structures behind weft_registry, shared by the
 * files of src/registry/:
 *
 *   entry.c    the entry format: validation, encode, decode
 *   dict.c     interned strings (types, owners, key=value pairs), each with
 *              a posting list of the slots that carry it
 *   oindex.c   ordered (key, slot) sets: the time and confidence indexes
 *   registry.c the namespace: slots, columns, hash table, add/get/remove,
 *              and the filter planner that turns a filter into a bitmap
 *   simd.c     the float32, 8-bit and 1-bit kernels (AVX-512, AVX2+FMA,
 *              portable), chosen at run time
 *   search.c   exact k-NN (chunked, batched, parallel through the exec),
 *              time-ranked selection, top-k heaps, scratch, merge
 *   ivf.c      the approximate index: k-means lists of 1-bit and 8-bit
 *              residual codes, three-stage search ending in float32
 *
 * Storage layout.  Every entry lives in a slot (0 .. cap-1); removed slots
 * are reused.  Per slot the hot fields are columns (type id, owner id,
 * time, confidence, inverse norm) and the embedding is a row of `stride`
 * floats (dim rounded up to 16, zero-padded) in one 64-byte aligned array,
 * so a scan streams through memory and every row starts on a cache line.
 * The cold fields (hash, metadata) sit in one allocation per entry (rec).
 * Bitmaps say which slots are live and which have an embedding.
 */
#ifndef WEFT_REGISTRY_INTERNAL_H
#define WEFT_REGISTRY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "weft/registry.h"

#if defined(__GNUC__) || defined(__clang__)
#define WEFT__REG_WUR __attribute__((warn_unused_result))
#else
#define WEFT__REG_WUR
#endif

#define WEFT__REG_NONE UINT32_MAX
#define WEFT__REG_ENTRY_VERSION 1
#define WEFT__REG_FLAG_EMB 0x01

/* Offsets of the encoded entry header (registry.h documents the layout). */
enum {
    WEFT__REG_OFF_VERSION = 0,
    WEFT__REG_OFF_FLAGS = 1,
    WEFT__REG_OFF_HASH_LEN = 2,
    WEFT__REG_OFF_TYPE_LEN = 3,
    WEFT__REG_OFF_META_COUNT = 4,
    WEFT__REG_OFF_ZERO = 5,
    WEFT__REG_OFF_DIM = 6,
    WEFT__REG_OFF_TIME = 8,
    WEFT__REG_OFF_CONF = 16,
    WEFT__REG_OFF_META_BYTES = 20,
    WEFT__REG_OFF_OWNER = 24,
    WEFT__REG_OFF_BODY = 56
};
_Static_assert(WEFT__REG_OFF_OWNER + WEFT_ID_BYTES == WEFT__REG_OFF_BODY,
               "owner ends the header");
_Static_assert(WEFT__REG_OFF_BODY == WEFT_REGISTRY_ENTRY_HEADER_BYTES,
               "header size");
_Static_assert(WEFT_REGISTRY_DIM_MAX <= UINT16_MAX, "dim fits u16");
_Static_assert(WEFT_REGISTRY_VALUE_BYTES_MAX <= UINT16_MAX, "value fits u16");

/* ---------------------------------------------------------------------- */
/* entry.c                                                                */

/* 64-bit keyed hash of bytes (tables only; not cryptographic). */
uint64_t weft__reg_hash64(const void *p, size_t n, uint64_t seed);

/*
 * Checks a vector: every component finite and the squared norm (summed in
 * double) below WEFT_REGISTRY_NORM2_MAX.  Returns the squared norm, or -1
 * when the vector is refused.
 */
double weft__reg_vector_norm2(const float *v, size_t n);

/* Encoded size of the metadata pairs, or WEFT_ERR_INVAL / _TOO_BIG (see
 * weft_registry_entry_encoded_size).  Also checks that keys are distinct. */
ptrdiff_t weft__reg_meta_size(const weft_registry_kv *kv, size_t n);

/* Writes the pairs sorted by key (n <= WEFT_REGISTRY_META_PAIRS_MAX, already
 * checked by weft__reg_meta_size) into out, which has room for them. */
void weft__reg_meta_write(const weft_registry_kv *kv, size_t n, uint8_t *out);

/* Walks an encoded (trusted) metadata section: fills *kv with the next pair
 * and advances *off; returns 0 at the end, 1 with a pair. */
int weft__reg_meta_next(const uint8_t *p, size_t len, size_t *off,
                        weft_registry_kv *kv);

/* Bytewise comparison, shorter first on a common prefix (keys, hashes). */
int weft__reg_bytes_cmp(const void *a, size_t alen, const void *b,
                        size_t blen);

/* ---------------------------------------------------------------------- */
/* dict.c: interned byte strings with posting lists                       */

typedef struct weft__reg_dict_item {
    uint8_t *key;        /* owned copy; NULL = id free */
    uint32_t key_len;
    uint32_t n, cap;     /* posting list length and capacity */
    uint64_t h;          /* weft__reg_hash64(key) */
    uint32_t *slots;     /* posting list, unordered (swap-remove) */
} weft__reg_dict_item;

typedef struct weft__reg_dict {
    const weft_allocator *a;
    uint64_t seed;
    uint32_t *table;        /* open addressing, id + 1, 0 = empty */
    size_t tcap;            /* power of two */
    weft__reg_dict_item *items;
    uint32_t nitems;        /* ids ever used (high-water mark) */
    uint32_t items_cap;
    uint32_t *free_ids;     /* released ids, reused first */
    uint32_t nfree, free_cap;
    uint32_t live;          /* ids in use */
    uint32_t max;           /* cap on live ids */
    uint64_t refused;       /* interns refused at max */
    size_t bytes;           /* memory held */
} weft__reg_dict;

void weft__reg_dict_init(weft__reg_dict *d, const weft_allocator *a,
                         uint64_t seed, uint32_t max);
void weft__reg_dict_free(weft__reg_dict *d);
/* id of key, or WEFT__REG_NONE. */
uint32_t weft__reg_dict_find(const weft__reg_dict *d, const void *key,
                             size_t len);
/*
 * Finds or creates the id of key and makes room for one more slot in its
 * posting list.  A new id has an empty list; if the caller then does not
 * add to it, it must call weft__reg_dict_release_if_empty.  Returns 0,
 * WEFT_ERR_LIMIT (max ids; counted) or WEFT_ERR_NOMEM.
 */
WEFT__REG_WUR int weft__reg_dict_reserve(weft__reg_dict *d, const void *key,
                                         size_t len, uint32_t *id);
/* Appends slot to id's list (room reserved); returns its position. */
uint32_t weft__reg_dict_add(weft__reg_dict *d, uint32_t id, uint32_t slot);
/*
 * Removes the element at pos of id's list by moving the last one into it.
 * Returns the slot that moved to pos (the caller updates that slot's
 * back-pointer) or WEFT__REG_NONE when pos was last.  An id whose list
 * becomes empty is released.
 */
uint32_t weft__reg_dict_del(weft__reg_dict *d, uint32_t id, uint32_t pos);
void weft__reg_dict_release_if_empty(weft__reg_dict *d, uint32_t id);

/* ---------------------------------------------------------------------- */
/* oindex.c: an ordered set of (key, slot), a two-level B+-tree           */

#define WEFT__REG_OBLOCK 256 /* elements per leaf block */

typedef struct weft__reg_oelem {
    uint64_t key;
    uint32_t slot;
} weft__reg_oelem;

typedef struct weft__reg_oblock {
    uint32_t n;
    weft__reg_oelem e[WEFT__REG_OBLOCK];
} weft__reg_oblock;

typedef struct weft__reg_oindex {
    const weft_allocator *a;
    weft__reg_oblock **blocks;  /* sorted; every block non-empty */
    size_t nblocks, blocks_cap;
    weft__reg_oblock *spare;    /* preallocated for the next split */
    size_t n;
} weft__reg_oindex;

void weft__reg_oindex_init(weft__reg_oindex *o, const weft_allocator *a);
void weft__reg_oindex_free(weft__reg_oindex *o);
/* Makes sure one insert cannot fail.  0 or WEFT_ERR_NOMEM. */
WEFT__REG_WUR int weft__reg_oindex_reserve(weft__reg_oindex *o);
/* Inserts (key, slot); room was reserved.  Duplicates are a bug. */
void weft__reg_oindex_insert(weft__reg_oindex *o, uint64_t key, uint32_t slot);
/* Removes (key, slot); returns 0 or WEFT_ERR_NOT_FOUND. */
int weft__reg_oindex_remove(weft__reg_oindex *o, uint64_t key, uint32_t slot);
/* Number of elements with lo <= key <= hi. */
size_t weft__reg_oindex_count(const weft__reg_oindex *o, uint64_t lo,
                              uint64_t hi);
/* A position: block and index within it. */
typedef struct weft__reg_opos {
    size_t b, i;
} weft__reg_opos;
/* First element with key >= lo. */
weft__reg_opos weft__reg_oindex_lower(const weft__reg_oindex *o, uint64_t lo);
/* The element at *pos, advancing it; 0 at the end. */
static inline int weft__reg_oindex_next(const weft__reg_oindex *o,
                                        weft__reg_opos *pos,
                                        weft__reg_oelem *out)
{
    if (pos->b >= o->nblocks)
        return 0;
    *out = o->blocks[pos->b]->e[pos->i];
    if (++pos->i == o->blocks[pos->b]->n) {
        pos->b++;
        pos->i = 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------- */
/* simd.c: kernels                                                        */

enum weft__reg_simd {
    WEFT__REG_SIMD_AUTO = 0,
    WEFT__REG_SIMD_SCALAR = 1,
    WEFT__REG_SIMD_AVX2 = 2,   /* AVX2 + FMA */
    WEFT__REG_SIMD_AVX512 = 3  /* AVX-512F */
};

/*
 * A set of kernels.  Vectors are rows of `n` floats where n is a multiple
 * of 16 and rows are 64-byte aligned; codes are rows of n bytes.
 */
typedef struct weft__reg_kernels {
    int level;       /* enum weft__reg_simd */
    const char *name;
    /* out[j] = q . x_j for nx consecutive rows x (stride n). */
    void (*dot_rows)(const float *q, const float *x, size_t n, size_t nx,
                     float *out);
    /* out[i * ldo + j] = q_i . x_j: nq queries (rows of q, stride n) against
     * nx consecutive rows of x; each x row is read from memory once. */
    void (*dot_tile)(const float *q, size_t nq, const float *x, size_t nx,
                     size_t n, float *out, size_t ldo);
    /* sum_i w[i] * c[i] for 8-bit codes c (n bytes, multiple of 16). */
    float (*dot_u8)(const float *w, const uint8_t *c, size_t n);
    /* 1-bit codes against a 4-bit query: b holds nrows (<= 64) rows of nw
     * 64-bit words (nw a multiple of 8), p the query's 4 bit planes (4
     * rows of nw).  With W = sum_j 2^j popcount(b_r & p_j) (the sum of the
     * query's 4-bit values where b_r has a 1) and ONES = popcount(b_r):
     * est[r] = c[3] + fac[r] * (c[0] W + c[1] ONES - c[2]).  Returns the
     * mask of the rows whose est > c[4]. */
    uint64_t (*bin_est)(const uint64_t *p, const uint64_t *b, size_t nw,
                        size_t nrows, const float *fac, const float c[5],
                        float *est);
} weft__reg_kernels;

/* The best kernels this CPU runs (level AUTO), or the level asked for;
 * NULL when this CPU (or build) cannot run that level. */
const weft__reg_kernels *weft__reg_kernels_get(int level);

/* ---------------------------------------------------------------------- */
/* The namespace                                                          */

typedef struct weft__reg_rec {
    uint16_t meta_len;    /* encoded metadata bytes */
    uint8_t hash_len;
    uint8_t npairs;
    uint32_t pairs[];     /* npairs x {pair id, position in its list},
                             then hash bytes, then metadata bytes */
} weft__reg_rec;

static inline const uint8_t *weft__reg_rec_hash(const weft__reg_rec *rc)
{
    return (const uint8_t *)(rc->pairs + 2 * (size_t)rc->npairs);
}
static inline const uint8_t *weft__reg_rec_meta(const weft__reg_rec *rc)
{
    return weft__reg_rec_hash(rc) + rc->hash_len;
}

struct weft__reg_ivf; /* ivf.c */

struct weft_registry {
    weft_registry_config cfg;
    const weft_allocator *a;
    const weft__reg_kernels *kern;
    size_t stride;              /* floats per row: dim rounded up to 16 */

    /* slots */
    uint32_t cap;               /* slots allocated */
    uint32_t hw;                /* high-water mark: slots >= hw never used */
    uint32_t count;             /* live entries */
    uint32_t nemb;              /* live entries with an embedding */
    uint32_t *free_slots;       /* stack of freed slots below hw */
    uint32_t nfree;
    uint64_t *live_bits;        /* cap bits */
    uint64_t *emb_bits;         /* cap bits: live with embedding */
    float *vec;                 /* cap * stride floats, 64-byte aligned */
    void *vec_raw;              /* the allocation behind vec */
    weft__reg_rec **rec;
    uint16_t *type_id;
    uint32_t *owner_id;
    uint64_t *time_ms;
    float *conf;
    float *inv_norm;            /* 1/|x| (COSINE) or 1 (IP); 0 for |x| = 0 */
    uint32_t *type_pos, *owner_pos; /* positions in the posting lists */

    /* hash -> slot, open addressing: tag << 32 | (slot + 1), 0 = empty */
    uint64_t *htab;
    size_t htab_cap;

    weft__reg_dict types, owners, pairs;
    weft__reg_oindex by_time, by_conf;

    struct weft__reg_ivf *ivf;  /* NULL = no approximate index */

    weft_registry_stats st;     /* counters of the changing calls */
    /* counters of searches, updated with relaxed atomics: searches may run
     * concurrently on a const registry */
    struct {
        uint64_t searches, queries, plan_index, plan_scan, refused_k,
            refused_batch;
    } sst;
};

/* Slot of hash, or WEFT__REG_NONE. */
uint32_t weft__reg_lookup(const weft_registry *r, const uint8_t *hash,
                          size_t len);

static inline int weft__reg_bit(const uint64_t *bits, uint32_t i)
{
    return (int)((bits[i >> 6] >> (i & 63)) & 1);
}

static inline uint64_t weft__reg_conf_key(float c)
{
    /* confidences are in [0, 1]: their bit patterns order like the values
     * (+0 and -0 both map to 0) */
    union { float f; uint32_t u; } v = { c };
    return c == 0.0f ? 0 : v.u;
}

/* Adds n to a search counter of a registry searches see as const. */
static inline void weft__reg_count(const uint64_t *ctr, uint64_t n)
{
    __atomic_fetch_add((uint64_t *)ctr, n, __ATOMIC_RELAXED);
}

/* ---------------------------------------------------------------------- */
/* search.c and ivf.c                                                     */

/* A candidate in a top-k heap. */
typedef struct weft__reg_cand {
    double score;
    uint32_t slot;
} weft__reg_cand;

struct weft_registry_scratch {
    const weft_allocator *a;
    void *raw;                  /* one allocation, carved below, each
                                   region 64-byte aligned */
    size_t raw_bytes;
    uint64_t *bits;             /* filter bitmap */
    size_t bits_words;
    float *q;                   /* padded queries, stride floats each */
    size_t q_floats;
    float *qinv;                /* per query: 1/|q| (COSINE) or 1 */
    size_t qinv_n;
    weft__reg_cand *heaps;      /* top-k heaps (chunks x queries x k) */
    size_t heaps_n;
    size_t *hn;                 /* their sizes */
    size_t hn_n;
    float *tile;                /* kernel output per chunk */
    size_t tile_floats;
    float *w;                   /* ivf: per-task weighted queries */
    size_t w_floats;
    uint32_t *probe;            /* ivf: per-query probed lists */
    size_t probe_n;
};

/*
 * The filter planner (registry.c): resolves f into a bitmap of the slots
 * that pass it (among those with an embedding when need_emb), in
 * s->bits, sized to r->cap.  Returns the plan (enum weft_registry_plan)
 * and the number of matches in *matched; *bits_out is the bitmap to use:
 * s->bits, or r's own bitmap when there is no filter.  The scratch must
 * have bits_words >= words of r->cap.
 */
int weft__reg_plan(const weft_registry *r, const weft_registry_filter *f,
                   int need_emb, weft_registry_scratch *s,
                   const uint64_t **bits_out, uint64_t *matched);

/* Validates a filter's shape.  0 or WEFT_ERR_INVAL. */
int weft__reg_filter_check(const weft_registry_filter *f);

/* 1 when candidate a ranks before b (higher score, then smaller hash). */
int weft__reg_better(const weft_registry *r, const weft__reg_cand *a,
                     const weft__reg_cand *b);
/* Pushes c into the min-heap h of n (< k or == k) elements. */
void weft__reg_heap_push(const weft_registry *r, weft__reg_cand *h,
                         size_t *n, size_t k, const weft__reg_cand *c);
/* Sorts a heap of n candidates best first (in place) and writes hits. */
void weft__reg_heap_emit(const weft_registry *r, weft__reg_cand *h, size_t n,
                         weft_registry_hit *out);

/* ivf.c */

/* The value of rank k (0 = largest) among a[0..n), reordering a. */
float weft__reg_kth_largest(float *a, size_t n, size_t k);

/*
 * The C best estimates of a stream, in a buffer of 2C (scores and slots
 * apart): an estimate at or below the threshold is dropped at once.  When
 * the buffer fills, it keeps the histogram bins (256 between the buffer's
 * minimum and maximum) from the top down to the one where the count
 * reaches C, and the threshold rises to the least score kept: C or a few
 * more survive, in arrival order, with three cheap passes instead of
 * an exact selection (which measured ~40 cycles per element here: its
 * partition mispredicts or serialises).  The end of the stream cuts the
 * buffer to exactly C with weft__reg_kth_largest.  Cheaper than a heap of
 * C when most of a long stream enters early (a heap pays log C per
 * entry).  No element of the true top C is ever dropped (ties aside).
 */
typedef struct weft__reg_topbuf {
    float *score, *tmp;  /* 2C each */
    uint64_t *id;        /* 2C: what each score belongs to */
    size_t n, C;
    float thr;           /* start at -INFINITY */
} weft__reg_topbuf;

void weft__reg_topbuf_compact(weft__reg_topbuf *t);
/* Cuts the buffer to exactly C (the C best seen, ties in arrival order). */
void weft__reg_topbuf_exact(weft__reg_topbuf *t);

static inline void weft__reg_topbuf_add(weft__reg_topbuf *t, float est,
                                        uint64_t id)
{
    if (est <= t->thr)
        return;
    t->score[t->n] = est;
    t->id[t->n] = id;
    if (++t->n == 2 * t->C)
        weft__reg_topbuf_compact(t);
}

void weft__reg_ivf_free(weft_registry *r);
/* Reserve room to file one more vector (before commit): 0 / NOMEM. */
WEFT__REG_WUR int weft__reg_ivf_reserve(weft_registry *r, const float *v,
                                        float inv_norm, uint32_t *list);
/* File slot (vector already in r->vec) into list (room reserved). */
void weft__reg_ivf_insert(weft_registry *r, uint32_t slot, uint32_t list);
void weft__reg_ivf_remove(weft_registry *r, uint32_t slot);
size_t weft__reg_ivf_bytes(const weft_registry *r);
uint32_t weft__reg_ivf_nlist(const weft_registry *r);
/* Approximate search of nq padded queries (s->q); see search.c. */
int weft__reg_ivf_search(const weft_registry *r,
                         const weft_registry_search_params *p, size_t nq,
                         const uint64_t *bits, weft_registry_scratch *s,
                         const weft_registry_exec *exec,
                         weft_registry_hit *hits, size_t *counts,
                         weft_registry_search_info *info);
/* Scratch needs of an approximate search (candidates, floats, probes). */
void weft__reg_ivf_scratch_needs(const weft_registry *r,
                                 const weft_registry_search_params *p,
                                 size_t nq, const weft_registry_exec *exec,
                                 size_t *cands, size_t *wfloats,
                                 size_t *probes);

/* Runs fn over nchunks through exec (or serially). */
void weft__reg_run(const weft_registry_exec *exec, size_t nchunks,
                   void (*fn)(void *arg, size_t chunk), void *arg);

/* Test hook: switches r to the kernels of level (enum weft__reg_simd).
 * Returns 0 or WEFT_ERR_INVAL when this CPU cannot run them. */
int weft__reg_set_simd(weft_registry *r, int level);

#endif
