/*
 * registry.h -- the local part of weft's hash registry: entries (a hash with
 * its type, owner, time, confidence, metadata and an optional embedding),
 * filters answered from indexes, and k-nearest-neighbour search by cosine
 * similarity or inner product, exact (SIMD float32) or approximate (IVF
 * lists of 8-bit codes re-ranked in float32).
 *
 * One weft_registry is one namespace: one embedding dimension and one
 * metric, declared at creation, and one set of limits.  Like the engine it
 * is sans-IO: it reads no clock (times are the caller's), draws no
 * randomness of its own (k-means takes a seed), creates no thread (large
 * searches are split into chunks handed to a weft_registry_exec the caller
 * supplies; src/platform/threadpool.c is a pthread one) and allocates only
 * through the weft_allocator hook.
 *
 * Layers above (replication through the CRDT store, SQLite persistence,
 * distributed top-k over the mesh) build on three things here:
 *   - entries are plain values with one canonical binary form
 *     (weft_registry_entry_encode / _decode: strict, bounds-checked, raw
 *     little-endian float32 embeddings);
 *   - search results are plain values (score + hash bytes), ordered by
 *     score, ties broken by hash, so per-node top-k lists merge into the
 *     global top-k with weft_registry_merge, deterministically;
 *   - every call is a pure function of the registry's content and its
 *     arguments (no hidden time or randomness).
 *
 * Concurrency: the registry has no lock.  Calls that change it (add,
 * remove, index build/drop) need exclusive access; searches only read it,
 * so several threads may search at once, each with its own scratch.
 *
 * Ownership: the caller owns everything it passes in; the registry copies
 * what it keeps.  Views it returns (weft_registry_get) point into its
 * storage and stay valid until the next call that changes it.
 *
 * Errors are WEFT_ERR_* codes (weft.h): misuse -1..-99 (INVAL, LIMIT,
 * TOO_BIG, ...), malformed input from a peer or from storage
 * WEFT_ERR_PROTO.  Every refusal at a limit is counted in
 * weft_registry_stats.
 */
#ifndef WEFT_REGISTRY_H
#define WEFT_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include <weft/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------- */
/* Hard limits of the format (a namespace may set lower caps).            */

#define WEFT_REGISTRY_HASH_BYTES_MAX 64     /* the key, e.g. a sha256 */
#define WEFT_REGISTRY_TYPE_BYTES_MAX 32     /* "person", "face", ... */
#define WEFT_REGISTRY_KEY_BYTES_MAX 255     /* a metadata key */
#define WEFT_REGISTRY_VALUE_BYTES_MAX 4096  /* a metadata value */
#define WEFT_REGISTRY_META_PAIRS_MAX 64     /* metadata pairs per entry */
#define WEFT_REGISTRY_META_BYTES_MAX 16384  /* encoded metadata per entry */
#define WEFT_REGISTRY_DIM_MAX 4096          /* embedding dimension */
#define WEFT_REGISTRY_K_MAX 4096            /* results per query */
#define WEFT_REGISTRY_BATCH_MAX 1024        /* query vectors per batch */
#define WEFT_REGISTRY_FILTER_META_MAX 8     /* key=value terms per filter */
#define WEFT_REGISTRY_RERANK_MAX 65536      /* approximate search: float32 */
#define WEFT_REGISTRY_CANDIDATES_MAX 262144 /* and 8-bit re-scores */
/* Fixed part of an encoded entry (see weft_registry_entry_encode). */
#define WEFT_REGISTRY_ENTRY_HEADER_BYTES 56
/* Largest encoded entry the format allows. */
#define WEFT_REGISTRY_ENTRY_BYTES_MAX                                          \
    (WEFT_REGISTRY_ENTRY_HEADER_BYTES + WEFT_REGISTRY_HASH_BYTES_MAX +         \
     WEFT_REGISTRY_TYPE_BYTES_MAX + WEFT_REGISTRY_META_BYTES_MAX +             \
     4 * WEFT_REGISTRY_DIM_MAX)
/*
 * Embeddings must be finite and their squared norm below this, so that no
 * score can overflow float32 (|q.x| <= |q||x| < 1e37 by Cauchy-Schwarz).
 */
#define WEFT_REGISTRY_NORM2_MAX 1e37

/* ---------------------------------------------------------------------- */
/* Entries                                                                */

/* A metadata pair; neither string needs a NUL (lengths are explicit). */
typedef struct weft_registry_kv {
    const char *key;   /* 1..WEFT_REGISTRY_KEY_BYTES_MAX bytes */
    size_t key_len;
    const char *value; /* 0..WEFT_REGISTRY_VALUE_BYTES_MAX bytes */
    size_t value_len;
} weft_registry_kv;

/* A pair from two string literals. */
#define WEFT_REGISTRY_KV(k, v)                                                 \
    { (k), sizeof(k) - 1, (v), sizeof(v) - 1 }

/*
 * One entry, as a plain value.  Nothing here is owned by the struct: the
 * caller keeps the pointed-to bytes alive for the duration of a call.
 *
 * Metadata is a set of key/value string pairs with distinct keys (JSON
 * objects of scalars map onto it: each value in its JSON text form).
 * Its encoded size (sum of 3 + key_len + value_len) is capped by the
 * namespace's meta_bytes_max (default 4 KiB).  Filters match a key's value
 * byte for byte.
 */
typedef struct weft_registry_entry {
    const uint8_t *hash;      /* 1..WEFT_REGISTRY_HASH_BYTES_MAX bytes: the key */
    size_t hash_len;
    const char *type;         /* 1..WEFT_REGISTRY_TYPE_BYTES_MAX bytes */
    size_t type_len;
    weft_node_id owner;       /* node that made the detection */
    uint64_t time_ms;         /* caller's clock, e.g. Unix ms */
    float confidence;         /* 0..1 */
    const weft_registry_kv *meta; /* meta_count pairs, distinct keys */
    size_t meta_count;        /* 0..WEFT_REGISTRY_META_PAIRS_MAX */
    const float *embedding;   /* NULL = none; else dim floats */
    size_t dim;               /* 0 with no embedding */
} weft_registry_entry;

/*
 * Encoded size of e (see weft_registry_entry_encode), or WEFT_ERR_INVAL
 * when e breaks a format rule (empty or oversized hash or type, confidence
 * outside 0..1 or NaN, a non-finite embedding component or squared norm
 * >= WEFT_REGISTRY_NORM2_MAX, dim > WEFT_REGISTRY_DIM_MAX, empty or
 * duplicate metadata keys, oversized keys or values), WEFT_ERR_TOO_BIG
 * when the encoded metadata exceeds WEFT_REGISTRY_META_BYTES_MAX.
 */
WEFT_EXTERN ptrdiff_t weft_registry_entry_encoded_size(const weft_registry_entry *e);

/*
 * Writes the canonical binary form of e into buf (cap bytes).  Returns the
 * bytes written, or the errors of weft_registry_entry_encoded_size, or
 * WEFT_ERR_BUFSMALL.  One entry has exactly one encoding: metadata pairs
 * are written sorted by key (bytewise, shorter first), so equal entries
 * give equal bytes whatever the order of the caller's pairs.
 *
 * Layout (little-endian; offsets in bytes):
 *    0  u8      format version (1)
 *    1  u8      flags: bit 0 = has embedding; other bits zero
 *    2  u8      hash_len (1..64)
 *    3  u8      type_len (1..32)
 *    4  u8      meta_count (0..64)
 *    5  u8      zero
 *    6  u16     dim (0 without embedding, else 1..4096)
 *    8  u64     time_ms
 *   16  f32     confidence (IEEE 754 binary32 bits)
 *   20  u32     meta_bytes: bytes of the metadata section
 *   24  u8[32]  owner node id
 *   56  hash, type, metadata (meta_count x {u8 key_len, u16 value_len,
 *       key, value}, keys strictly increasing), embedding (dim x f32)
 */
WEFT_EXTERN ptrdiff_t weft_registry_entry_encode(const weft_registry_entry *e,
                                     uint8_t *buf, size_t cap);

/*
 * Decodes one encoded entry occupying exactly len bytes of buf.  Fills
 * *out: hash, type and metadata strings point into buf (valid while buf
 * is); the metadata pairs are written to meta (meta_cap pairs) and the
 * embedding, converted to native floats, to emb (emb_cap floats).
 * Decoding treats buf as hostile: every length is checked before use.
 * Returns 0, or
 *   WEFT_ERR_PROTO    truncated or trailing bytes, unknown version or
 *                     flags, a length outside the format's limits,
 *                     unsorted or duplicate keys, NaN/Inf in the
 *                     embedding or its squared norm too large, confidence
 *                     outside 0..1, meta_bytes disagreeing with the pairs;
 *   WEFT_ERR_TOO_BIG  more pairs than meta_cap or a dim above emb_cap;
 *   WEFT_ERR_INVAL    NULL out or buf.
 * Pass meta_cap = WEFT_REGISTRY_META_PAIRS_MAX and emb_cap = the
 * namespace's dim to accept every entry the namespace could hold.
 */
WEFT_EXTERN int weft_registry_entry_decode(weft_registry_entry *out, const uint8_t *buf,
                               size_t len, weft_registry_kv *meta,
                               size_t meta_cap, float *emb, size_t emb_cap);

/* ---------------------------------------------------------------------- */
/* A namespace                                                            */

typedef struct weft_registry weft_registry;

enum weft_registry_metric {
    WEFT_REGISTRY_COSINE = 0, /* q.x / (|q| |x|); a zero vector scores 0 */
    WEFT_REGISTRY_IP = 1      /* inner product q.x */
};

typedef struct weft_registry_config {
    uint32_t dim;             /* embedding dimension; default 512,
                                 1..WEFT_REGISTRY_DIM_MAX */
    uint32_t metric;          /* enum weft_registry_metric; default COSINE */
    uint32_t max_entries;     /* default 1,000,000 (hard max 2^31) */
    uint32_t entry_bytes_max; /* encoded entry; default 4*dim + 4096 + 256 */
    uint32_t meta_bytes_max;  /* encoded metadata; default 4096 */
    uint32_t k_max;           /* results per query; default 1000 */
    uint32_t batch_max;       /* query vectors per batch; default 64 */
    uint32_t types_max;       /* distinct types; default 1024 */
    uint32_t owners_max;      /* distinct owners; default 65536 */
    uint32_t meta_values_max; /* distinct key=value pairs; default 4194304 */
    uint64_t hash_seed;       /* keys the internal hash tables: give random
                                 bytes (weft_rand) so that peers cannot
                                 aim collisions; default 0 */
} weft_registry_config;

#define WEFT_REGISTRY_CONFIG_V1 1
#define WEFT_REGISTRY_CONFIG_VERSION WEFT_REGISTRY_CONFIG_V1

/* Fills the defaults above (use weft_registry_config_default). */
WEFT_EXTERN void weft_registry_config_default_versioned(int version,
                                                        weft_registry_config *cfg);
#define weft_registry_config_default(cfg)                                      \
    weft_registry_config_default_versioned(WEFT_REGISTRY_CONFIG_VERSION, (cfg))

/*
 * Creates an empty namespace.  cfg NULL = defaults; cfg is copied.  a NULL
 * = libc; a must outlive the registry.  Returns 0, WEFT_ERR_CONFIG (a
 * field out of range: dim 0 or > WEFT_REGISTRY_DIM_MAX, metric unknown,
 * k_max > WEFT_REGISTRY_K_MAX, batch_max > WEFT_REGISTRY_BATCH_MAX,
 * meta_bytes_max > WEFT_REGISTRY_META_BYTES_MAX, a zero cap),
 * WEFT_ERR_INVAL (out NULL), WEFT_ERR_VERSION_MISMATCH or WEFT_ERR_NOMEM.
 */
WEFT_EXTERN int weft_registry_new_versioned(weft_registry **out, int version,
                                            const weft_registry_config *cfg,
                                            const weft_allocator *a);
#define weft_registry_new(out, cfg, a)                                         \
    weft_registry_new_versioned((out), WEFT_REGISTRY_CONFIG_VERSION, (cfg), (a))
/* Frees the namespace and everything in it.  NULL is fine. */
WEFT_EXTERN void weft_registry_del(weft_registry *r);

/* The configuration in force (defaults filled in). */
const weft_registry_config *weft_registry_get_config(const weft_registry *r);

/* Flags for weft_registry_add. */
enum weft_registry_add_flags {
    WEFT_REGISTRY_REPLACE = 1 /* an entry with the same hash is replaced */
};

/*
 * Adds a copy of e (the registry keeps nothing of the caller's).  The
 * embedding, when present, must have exactly the namespace's dim floats.
 * All or nothing: on error the registry is unchanged.  Returns 0, or
 *   WEFT_ERR_INVAL    a format rule is broken (see
 *                     weft_registry_entry_encoded_size), or the embedding
 *                     has a length other than the namespace's dim (the
 *                     namespace fixes one dimension for all its vectors;
 *                     counted in refused_dim, other faults in
 *                     refused_invalid);
 *   WEFT_ERR_TOO_BIG  encoded metadata over meta_bytes_max or the encoded
 *                     entry over entry_bytes_max (counted);
 *   WEFT_ERR_EXISTS   the hash is present and flags lacks
 *                     WEFT_REGISTRY_REPLACE (counted);
 *   WEFT_ERR_LIMIT    max_entries, types_max, owners_max or
 *                     meta_values_max reached (each counted);
 *   WEFT_ERR_NOMEM.
 * With an approximate index built, the entry is also assigned to its list.
 */
WEFT_EXTERN int weft_registry_add(weft_registry *r, const weft_registry_entry *e,
                      uint32_t flags);

/* Removes the entry with this hash.  Returns 0 or WEFT_ERR_NOT_FOUND. */
WEFT_EXTERN int weft_registry_remove(weft_registry *r, const uint8_t *hash,
                         size_t hash_len);

/* Number of entries. */
WEFT_EXTERN size_t weft_registry_count(const weft_registry *r);

/*
 * Looks an entry up by hash and fills *out as a view: hash, type, metadata
 * strings and the embedding (native floats, the caller's original values)
 * point into the registry and stay valid until the next call that changes
 * it.  The metadata pairs are written to meta (meta_cap pairs; sorted by
 * key).  Returns 0, WEFT_ERR_NOT_FOUND, WEFT_ERR_BUFSMALL (more pairs than
 * meta_cap; *out is not filled) or WEFT_ERR_INVAL.
 */
WEFT_EXTERN int weft_registry_get(const weft_registry *r, const uint8_t *hash,
                      size_t hash_len, weft_registry_entry *out,
                      weft_registry_kv *meta, size_t meta_cap);

/*
 * Writes the encoded form of the entry with this hash (what
 * weft_registry_entry_encode would write for it) into buf.  Returns the
 * bytes written, WEFT_ERR_NOT_FOUND or WEFT_ERR_BUFSMALL.
 */
WEFT_EXTERN ptrdiff_t weft_registry_get_encoded(const weft_registry *r,
                                    const uint8_t *hash, size_t hash_len,
                                    uint8_t *buf, size_t cap);

/* ---------------------------------------------------------------------- */
/* Filters                                                                */

/*
 * What an entry must satisfy to be a result; all given terms must hold
 * (AND).  Each term is answered from an index: per-type, per-owner and
 * per key=value posting lists, and ordered indexes on time and
 * confidence.  The search starts from the most selective term and checks
 * the others per candidate, so a selective filter never visits the rest;
 * when even the most selective term names over an eighth of the entries,
 * one sequential pass over the columns is cheaper and is taken instead
 * (weft_registry_search_info.plan says which).  The metadata terms match
 * a key's value byte for byte.  Start from weft_registry_filter_init
 * (matches everything).
 */
typedef struct weft_registry_filter {
    const char *type;               /* NULL = any type */
    size_t type_len;
    const weft_node_id *owner;      /* NULL = any owner */
    uint64_t time_ms_min;           /* inclusive; 0 = no lower bound */
    uint64_t time_ms_max;           /* inclusive; UINT64_MAX = no bound */
    float confidence_min;           /* inclusive; 0 = any */
    const weft_registry_kv *meta;   /* key=value terms (AND) */
    size_t meta_count;              /* 0..WEFT_REGISTRY_FILTER_META_MAX */
} weft_registry_filter;

WEFT_EXTERN void weft_registry_filter_init(weft_registry_filter *f);

/* ---------------------------------------------------------------------- */
/* Search                                                                 */

/*
 * One result.  A plain value: it stays meaningful after the registry
 * changes and can be sent to another node.  Results are ordered by score,
 * highest first, then by hash bytewise ascending (shorter first on a
 * common prefix): a total order, so top-k is unique.
 */
typedef struct weft_registry_hit {
    double score;   /* cosine or inner product; for a search without a
                       query vector, the entry's time_ms (newest first;
                       exact below 2^53) */
    uint8_t hash_len;
    uint8_t hash[WEFT_REGISTRY_HASH_BYTES_MAX];
} weft_registry_hit;

/*
 * How a search runs large jobs in parallel, supplied by the caller.
 * parallel_for must call fn(arg, i) once for every i in 0..nchunks-1, in
 * any order and on any threads (the calling thread may take part), and
 * return when all calls have returned.  The chunks touch disjoint memory.
 * nthreads is a hint for how many chunks to cut (0 or 1 = serial).  A NULL
 * exec runs everything on the calling thread.
 */
typedef struct weft_registry_exec {
    void *ctx;
    unsigned nthreads;
    void (*parallel_for)(void *ctx, size_t nchunks,
                         void (*fn)(void *arg, size_t chunk), void *arg);
} weft_registry_exec;

/*
 * Working memory of searches, so that a query allocates nothing: heaps,
 * the filter bitmap, padded query copies.  One per searching thread.  It
 * grows on first use and when a search needs more than it has (a larger
 * k or batch, more entries); weft_registry_scratch_reserve sizes it up
 * front so that searches never allocate.
 */
typedef struct weft_registry_scratch weft_registry_scratch;

/* Returns 0, WEFT_ERR_INVAL or WEFT_ERR_NOMEM.  a NULL = libc. */
WEFT_EXTERN int weft_registry_scratch_new(weft_registry_scratch **out,
                              const weft_allocator *a);
WEFT_EXTERN void weft_registry_scratch_del(weft_registry_scratch *s);

enum weft_registry_search_flags {
    /* use the approximate index (weft_registry_index_build); without one
     * the search is exact */
    WEFT_REGISTRY_APPROX = 1
};

typedef struct weft_registry_search_params {
    uint32_t k;                          /* 1..k_max */
    const weft_registry_filter *filter;  /* NULL = everything */
    uint32_t flags;                      /* enum weft_registry_search_flags */
    uint32_t nprobe;                     /* APPROX: lists visited; 0 = the
                                            index's default */
    uint32_t rerank;                     /* APPROX: candidates re-scored in
                                            float32; 0 = the default */
    uint32_t candidates;                 /* APPROX: survivors of the 1-bit
                                            stage, re-estimated from 8-bit
                                            codes; 0 = the default */
} weft_registry_search_params;

/*
 * Prepares s for searches of r with these parameters and up to nq query
 * vectors per call, so that they allocate nothing (until r grows beyond
 * its current capacity).  Returns 0, WEFT_ERR_INVAL, WEFT_ERR_LIMIT (k or
 * nq over the namespace's caps) or WEFT_ERR_NOMEM.
 */
WEFT_EXTERN int weft_registry_scratch_reserve(weft_registry_scratch *s,
                                  const weft_registry *r,
                                  const weft_registry_search_params *p,
                                  size_t nq, const weft_registry_exec *exec);

/* How a search went; optional output. */
enum weft_registry_plan {
    WEFT_REGISTRY_PLAN_ALL = 0,    /* no filter: every entry */
    WEFT_REGISTRY_PLAN_INDEX = 1,  /* candidates from the most selective
                                      index, other terms checked on each */
    WEFT_REGISTRY_PLAN_SCAN = 2,   /* filter not selective: all entries,
                                      terms checked on each */
    WEFT_REGISTRY_PLAN_EMPTY = 3   /* a term matches nothing */
};

typedef struct weft_registry_search_info {
    uint64_t matched;  /* entries passing the filter (with an embedding,
                          for a vector search) */
    uint64_t scored;   /* float32 scores computed (all queries) */
    uint64_t codes;    /* APPROX: 8-bit codes scored (all queries) */
    int plan;          /* enum weft_registry_plan */
    int approx;        /* 1 when the approximate index answered */
} weft_registry_search_info;

/*
 * k nearest neighbours of query (dim floats) among the entries that pass
 * p->filter and have an embedding, by the namespace's metric; or, with
 * query NULL, the k newest entries that pass the filter (score = time_ms).
 * Writes up to k hits to hits, best first, and returns how many (0 when
 * nothing matches; fewer than k when fewer match).  Exact search scores
 * every candidate in float32 (AVX-512, AVX2+FMA or portable code, chosen
 * at run time); with WEFT_REGISTRY_APPROX and a built index it visits the
 * nprobe closest lists, keeps the best `candidates` by their 1-bit codes,
 * of those the best `rerank` by their 8-bit codes, and re-scores these in
 * float32: every score returned is exact, only the candidate set is
 * approximate.  A selective filter (one answered from an index:
 * info->plan WEFT_REGISTRY_PLAN_INDEX) makes an APPROX search exact, since
 * scoring the few matches is cheap and an index visiting only some lists
 * would miss most of them.  Scores are float32 sums whose order depends on the kernel
 * and the batch, so they may differ in the last bits between machines or
 * batch sizes.  exec may be NULL.  info may be NULL.
 * Returns the hit count, or
 *   WEFT_ERR_INVAL   NULL r, p, s or hits; a query component NaN/Inf or
 *                    a query with squared norm >= WEFT_REGISTRY_NORM2_MAX;
 *                    a filter with too many meta terms; rerank or
 *                    candidates over WEFT_REGISTRY_RERANK_MAX or
 *                    WEFT_REGISTRY_CANDIDATES_MAX;
 *   WEFT_ERR_LIMIT   k is 0 or over k_max (counted in refused_k);
 *   WEFT_ERR_NOMEM   the scratch had to grow and could not.
 */
WEFT_EXTERN int weft_registry_search(const weft_registry *r,
                         const weft_registry_search_params *p,
                         const float *query, weft_registry_scratch *s,
                         const weft_registry_exec *exec,
                         weft_registry_hit *hits,
                         weft_registry_search_info *info);

/*
 * nq searches at once, sharing p (one filter, one k): queries holds nq
 * vectors of dim floats one after the other.  Exact search reads each
 * stored vector once for all nq queries, so a batch costs little more
 * than one query while the data exceed the caches.  hits receives nq rows
 * of k hits (row i at hits + i * k), counts[i] the hits of row i.
 * Returns 0 or the errors of weft_registry_search, and WEFT_ERR_LIMIT
 * when nq is 0 or over batch_max (counted in refused_batch).
 */
WEFT_EXTERN int weft_registry_search_batch(const weft_registry *r,
                               const weft_registry_search_params *p,
                               const float *queries, size_t nq,
                               weft_registry_scratch *s,
                               const weft_registry_exec *exec,
                               weft_registry_hit *hits, size_t *counts,
                               weft_registry_search_info *info);

/*
 * Merges per-node top-k lists into the global top-k: the k best hits of
 * all lists in the order defined at weft_registry_hit, a hash that occurs
 * in several lists counted once (with its best score).  The lists need not
 * be sorted.  out receives up to k hits (it must not overlap the lists).
 * Returns the number written, or WEFT_ERR_INVAL (NULL arguments, k 0 or
 * over WEFT_REGISTRY_K_MAX, a hit with hash_len 0 or over the maximum).
 */
WEFT_EXTERN ptrdiff_t weft_registry_merge(const weft_registry_hit *const *lists,
                              const size_t *counts, size_t nlists, size_t k,
                              weft_registry_hit *out);

/* ---------------------------------------------------------------------- */
/* Approximate index (IVF lists of 1-bit and 8-bit codes)                */

typedef struct weft_registry_index_params {
    uint32_t nlist;          /* lists (k-means centroids); 0 = about
                                sqrt(entries), at least 1 */
    uint32_t train_max;      /* vectors sampled for k-means; 0 = 64 per list */
    uint32_t iterations;     /* k-means iterations; 0 = 10 */
    uint32_t nprobe;         /* default lists visited per query; 0 = nlist/8 */
    uint32_t rerank;         /* default candidates re-scored in float32;
                                0 = 8 * k, at least 64 */
    uint32_t candidates;     /* default 1-bit survivors; 0 = 16 * rerank,
                                at least 1024 */
    uint64_t seed;           /* sampling and initialisation: the same seed
                                and content build the same index */
} weft_registry_index_params;

/*
 * Trains the approximate index on the embeddings present (k-means, then
 * the codes of each vector's residual to its centroid: its signs, 1 bit
 * per dimension, and a per-dimension 8-bit quantisation) and files every
 * entry into its list; later adds are filed as they come with the same
 * centroids, removals leave their list (rebuild after the data changed a
 * lot).  Replaces an index built before.  Extra memory per entry: about
 * dim + dim/8 + 16 bytes (640 for dim 512), plus 1/8 room to grow.
 * Uses exec for the k-means passes (may be NULL).  The float32 vectors are
 * kept: they answer exact searches, re-ranking and weft_registry_get.
 * Returns 0, WEFT_ERR_STATE (no embeddings yet), WEFT_ERR_CONFIG (nlist
 * above the number of embeddings or above 65536, rerank or candidates
 * over their maxima) or WEFT_ERR_NOMEM (the old index, if any, is kept).
 */
WEFT_EXTERN int weft_registry_index_build(weft_registry *r,
                              const weft_registry_index_params *p,
                              const weft_registry_exec *exec);
/* Drops the approximate index (searches become exact). */
WEFT_EXTERN void weft_registry_index_drop(weft_registry *r);

/* ---------------------------------------------------------------------- */
/* Counters                                                               */

typedef struct weft_registry_stats {
    uint64_t entries;              /* now */
    uint64_t embeddings;           /* entries with an embedding, now */
    uint64_t types, owners, meta_values; /* distinct values indexed, now */
    uint64_t adds, replaces, removes;
    uint64_t searches;             /* search and search_batch calls */
    uint64_t queries;              /* query vectors (or filter-only) */
    uint64_t plan_index, plan_scan;/* filtered searches by plan */
    uint64_t refused_invalid;      /* WEFT_ERR_INVAL on add */
    uint64_t refused_dim;          /* embedding length != dim */
    uint64_t refused_meta_bytes;   /* meta_bytes_max */
    uint64_t refused_entry_bytes;  /* entry_bytes_max */
    uint64_t refused_exists;       /* same hash without REPLACE */
    uint64_t refused_full;         /* max_entries */
    uint64_t refused_types;        /* types_max */
    uint64_t refused_owners;       /* owners_max */
    uint64_t refused_meta_values;  /* meta_values_max */
    uint64_t refused_k;            /* k = 0 or over k_max */
    uint64_t refused_batch;        /* nq = 0 or over batch_max */
    uint64_t index_lists;          /* approximate index: lists, 0 = none */
    uint64_t index_entries;        /* entries filed in it */
    uint64_t bytes;                /* memory held (approximate) */
} weft_registry_stats;

WEFT_EXTERN void weft_registry_get_stats(const weft_registry *r, weft_registry_stats *st);

/* ---------------------------------------------------------------------- */
/* A pthread implementation of weft_registry_exec (not sans-IO: it lives */
/* in src/platform/threadpool.c and is part of libweft's drivers).        */

typedef struct weft_threadpool weft_threadpool;

/*
 * Starts nthreads - 1 worker threads (the caller of parallel_for is the
 * nth); nthreads 0 = one per online CPU.  Returns 0, WEFT_ERR_INVAL
 * (nthreads over 1024) or WEFT_ERR_NOMEM (also when a thread could not be
 * started).
 */
WEFT_EXTERN int weft_threadpool_new(weft_threadpool **out, unsigned nthreads,
                        const weft_allocator *a);
/* Stops and joins the workers.  NULL is fine.  Not while a job runs. */
WEFT_EXTERN void weft_threadpool_del(weft_threadpool *tp);
/* The exec that runs parallel_for on this pool.  One job at a time: calls
 * from several threads are serialised. */
WEFT_EXTERN weft_registry_exec weft_threadpool_exec(weft_threadpool *tp);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_REGISTRY_H */
