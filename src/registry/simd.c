/*
 * simd.c -- the registry's inner loops: float32 dot products (one query
 * against consecutive rows, and a tile of several queries against several
 * rows), and the 8-bit and 1-bit code kernels of the approximate index, in
 * three versions: AVX-512F (with VPOPCNTDQ for the bit codes when the CPU
 * has it), AVX2+FMA and portable C.  The library is compiled
 * with plain flags; the x86 versions carry target attributes and are
 * chosen at run time from what the CPU reports (weft__reg_kernels_get),
 * so one binary runs everywhere and uses what it finds.
 *
 * All versions take rows of n floats, n a multiple of 16, rows 64-byte
 * aligned (the registry pads dim to 16 with zeros), so no version needs a
 * tail loop.  They sum in different orders, so their results may differ in
 * the last bits; tests compare them on data whose sums are exact.
 *
 * The tile kernel is what makes batched queries cheap: a group of 4 rows
 * is loaded once for 4 queries at a time (2 with AVX2), and the caller
 * hands it blocks of rows that stay in L2 while every query of the batch
 * passes over them, so memory is read once per batch, not once per query.
 */
#include <stddef.h>
#include <stdint.h>

#include "registry/registry_internal.h"

#if (defined(__x86_64__) || defined(__i386__)) &&                              \
    (defined(__GNUC__) || defined(__clang__))
#define WEFT__REG_X86 1
#include <immintrin.h>
#endif

/* ---------------------------------------------------------------------- */
/* Portable                                                               */

static float dot_scalar(const float *a, const float *b, size_t n)
{
    /* 8 partial sums: shorter dependency chains, and the compiler may
     * vectorise it for the baseline ISA */
    float s[8] = { 0 };
    for (size_t i = 0; i < n; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

static void dot_rows_scalar(const float *q, const float *x, size_t n,
                            size_t nx, float *out)
{
    for (size_t j = 0; j < nx; j++)
        out[j] = dot_scalar(q, x + j * n, n);
}

static void dot_tile_scalar(const float *q, size_t nq, const float *x,
                            size_t nx, size_t n, float *out, size_t ldo)
{
    for (size_t i = 0; i < nq; i++)
        for (size_t j = 0; j < nx; j++)
            out[i * ldo + j] = dot_scalar(q + i * n, x + j * n, n);
}

static float dot_u8_scalar(const float *w, const uint8_t *c, size_t n)
{
    float s[8] = { 0 };
    for (size_t i = 0; i < n; i += 8)
        for (int j = 0; j < 8; j++)
            s[j] += w[i + j] * (float)c[i + j];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* The body of the binary-code kernel for 64-bit words (see bin_rows in
 * registry_internal.h); compiled twice, plain and with the POPCNT
 * instruction. */
#define BIN_EST_BODY                                                           \
    uint64_t mask = 0;                                                         \
    for (size_t r = 0; r < nrows; r++, b += nw) {                              \
        uint32_t w = 0, o = 0;                                                 \
        for (size_t i = 0; i < nw; i++) {                                      \
            uint64_t x = b[i];                                                 \
            o += (uint32_t)__builtin_popcountll(x);                            \
            w += (uint32_t)__builtin_popcountll(x & p[i]) +                    \
                 2 * (uint32_t)__builtin_popcountll(x & p[nw + i]) +           \
                 4 * (uint32_t)__builtin_popcountll(x & p[2 * nw + i]) +       \
                 8 * (uint32_t)__builtin_popcountll(x & p[3 * nw + i]);        \
        }                                                                      \
        est[r] = c[3] + fac[r] * (c[0] * (float)w + c[1] * (float)o - c[2]);  \
        mask |= (uint64_t)(est[r] > c[4]) << r;                                \
    }                                                                          \
    return mask;

static uint64_t bin_est_scalar(const uint64_t *p, const uint64_t *b, size_t nw,
                               size_t nrows, const float *fac, const float c[5],
                               float *est)
{
    BIN_EST_BODY
}

static const weft__reg_kernels k_scalar = {
    WEFT__REG_SIMD_SCALAR, "portable", dot_rows_scalar, dot_tile_scalar,
    dot_u8_scalar, bin_est_scalar
};

#ifdef WEFT__REG_X86
/* ---------------------------------------------------------------------- */
/* AVX2 + FMA                                                             */

#define T2 __attribute__((target("avx2,fma")))

T2 static inline float hsum256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

T2 static float dot_avx2(const float *a, const float *b, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_load_ps(a + i), _mm256_load_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_load_ps(a + i + 8), _mm256_load_ps(b + i + 8), s1);
    }
    return hsum256(_mm256_add_ps(s0, s1));
}

T2 static void dot_rows_avx2(const float *q, const float *x, size_t n,
                             size_t nx, float *out)
{
    /* one row at a time, front to back (see dot_rows_avx512) */
    for (size_t j = 0; j < nx; j++) {
        const float *r = x + j * n;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t i = 0; i < n; i += 16) {
            a0 = _mm256_fmadd_ps(_mm256_load_ps(q + i), _mm256_load_ps(r + i), a0);
            a1 = _mm256_fmadd_ps(_mm256_load_ps(q + i + 8), _mm256_load_ps(r + i + 8), a1);
            if (i + 32 <= n) {
                a2 = _mm256_fmadd_ps(_mm256_load_ps(q + i + 16), _mm256_load_ps(r + i + 16), a2);
                a3 = _mm256_fmadd_ps(_mm256_load_ps(q + i + 24), _mm256_load_ps(r + i + 24), a3);
                i += 16;
            }
        }
        out[j] = hsum256(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    }
}

/* 2 queries x 4 rows, 8 accumulators. */
T2 static void tile_2x4_avx2(const float *q0, const float *q1, const float *x,
                             size_t n, float *o0, float *o1)
{
    const float *x0 = x, *x1 = x + n, *x2 = x + 2 * n, *x3 = x + 3 * n;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    __m256 b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    for (size_t i = 0; i < n; i += 8) {
        __m256 u = _mm256_load_ps(q0 + i), v = _mm256_load_ps(q1 + i);
        __m256 r0 = _mm256_load_ps(x0 + i), r1 = _mm256_load_ps(x1 + i);
        __m256 r2 = _mm256_load_ps(x2 + i), r3 = _mm256_load_ps(x3 + i);
        a0 = _mm256_fmadd_ps(u, r0, a0);
        a1 = _mm256_fmadd_ps(u, r1, a1);
        a2 = _mm256_fmadd_ps(u, r2, a2);
        a3 = _mm256_fmadd_ps(u, r3, a3);
        b0 = _mm256_fmadd_ps(v, r0, b0);
        b1 = _mm256_fmadd_ps(v, r1, b1);
        b2 = _mm256_fmadd_ps(v, r2, b2);
        b3 = _mm256_fmadd_ps(v, r3, b3);
    }
    o0[0] = hsum256(a0); o0[1] = hsum256(a1); o0[2] = hsum256(a2); o0[3] = hsum256(a3);
    o1[0] = hsum256(b0); o1[1] = hsum256(b1); o1[2] = hsum256(b2); o1[3] = hsum256(b3);
}

T2 static void dot_tile_avx2(const float *q, size_t nq, const float *x,
                             size_t nx, size_t n, float *out, size_t ldo)
{
    size_t i = 0;
    for (; i + 2 <= nq; i += 2) {
        size_t j = 0;
        for (; j + 4 <= nx; j += 4)
            tile_2x4_avx2(q + i * n, q + (i + 1) * n, x + j * n, n,
                          out + i * ldo + j, out + (i + 1) * ldo + j);
        for (; j < nx; j++) {
            out[i * ldo + j] = dot_avx2(q + i * n, x + j * n, n);
            out[(i + 1) * ldo + j] = dot_avx2(q + (i + 1) * n, x + j * n, n);
        }
    }
    if (i < nq)
        dot_rows_avx2(q + i * n, x, n, nx, out + i * ldo);
}

T2 static float dot_u8_avx2(const float *w, const uint8_t *c, size_t n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (size_t i = 0; i < n; i += 16) {
        __m128i b = _mm_loadu_si128((const __m128i *)(c + i));
        __m256 f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
        __m256 f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)));
        s0 = _mm256_fmadd_ps(_mm256_load_ps(w + i), f0, s0);
        s1 = _mm256_fmadd_ps(_mm256_load_ps(w + i + 8), f1, s1);
    }
    return hsum256(_mm256_add_ps(s0, s1));
}

__attribute__((target("popcnt"))) static uint64_t
bin_est_popcnt(const uint64_t *p, const uint64_t *b, size_t nw, size_t nrows,
               const float *fac, const float c[5], float *est)
{
    BIN_EST_BODY
}

static const weft__reg_kernels k_avx2 = {
    WEFT__REG_SIMD_AVX2, "avx2+fma", dot_rows_avx2, dot_tile_avx2, dot_u8_avx2,
    bin_est_popcnt
};

/* ---------------------------------------------------------------------- */
/* AVX-512F                                                               */

#define T5 __attribute__((target("avx512f")))

T5 static float dot_avx512(const float *a, const float *b, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_load_ps(a + i), _mm512_load_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_load_ps(a + i + 16), _mm512_load_ps(b + i + 16), s1);
    }
    if (i < n)
        s0 = _mm512_fmadd_ps(_mm512_load_ps(a + i), _mm512_load_ps(b + i), s0);
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/*
 * One query against consecutive rows: the single-query scan.  Memory-bound
 * for large sets, so what matters is the access pattern: one row at a
 * time, front to back, four accumulators.  (Interleaving two rows, as
 * dot_tile does, measured 1.7x slower here on a 200 MB scan: the hardware
 * prefetcher follows one sequential stream best.)
 */
T5 static void dot_rows_avx512(const float *q, const float *x, size_t n,
                               size_t nx, float *out)
{
    for (size_t j = 0; j < nx; j++) {
        const float *r = x + j * n;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t i = 0;
        for (; i + 64 <= n; i += 64) {
            a0 = _mm512_fmadd_ps(_mm512_load_ps(q + i), _mm512_load_ps(r + i), a0);
            a1 = _mm512_fmadd_ps(_mm512_load_ps(q + i + 16), _mm512_load_ps(r + i + 16), a1);
            a2 = _mm512_fmadd_ps(_mm512_load_ps(q + i + 32), _mm512_load_ps(r + i + 32), a2);
            a3 = _mm512_fmadd_ps(_mm512_load_ps(q + i + 48), _mm512_load_ps(r + i + 48), a3);
        }
        for (; i < n; i += 16)
            a0 = _mm512_fmadd_ps(_mm512_load_ps(q + i), _mm512_load_ps(r + i), a0);
        out[j] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1),
                                                    _mm512_add_ps(a2, a3)));
    }
}

/*
 * 4 queries x 4 rows, 16 accumulators: each step loads 4 row vectors and 4
 * query vectors for 16 FMAs.  (Measured 129 GFLOPS against 88 for a 2 x 4
 * block on a 32-query batch: fewer loads per FMA.)
 */
T5 static void tile_4x4_avx512(const float *q, const float *x, size_t n,
                               float *o, size_t ldo)
{
    const float *x0 = x, *x1 = x + n, *x2 = x + 2 * n, *x3 = x + 3 * n;
    const float *q0 = q, *q1 = q + n, *q2 = q + 2 * n, *q3 = q + 3 * n;
    __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c03 = c00;
    __m512 c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    __m512 c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    __m512 c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    for (size_t i = 0; i < n; i += 16) {
        __m512 r0 = _mm512_load_ps(x0 + i), r1 = _mm512_load_ps(x1 + i);
        __m512 r2 = _mm512_load_ps(x2 + i), r3 = _mm512_load_ps(x3 + i);
        __m512 u = _mm512_load_ps(q0 + i);
        c00 = _mm512_fmadd_ps(u, r0, c00); c01 = _mm512_fmadd_ps(u, r1, c01);
        c02 = _mm512_fmadd_ps(u, r2, c02); c03 = _mm512_fmadd_ps(u, r3, c03);
        u = _mm512_load_ps(q1 + i);
        c10 = _mm512_fmadd_ps(u, r0, c10); c11 = _mm512_fmadd_ps(u, r1, c11);
        c12 = _mm512_fmadd_ps(u, r2, c12); c13 = _mm512_fmadd_ps(u, r3, c13);
        u = _mm512_load_ps(q2 + i);
        c20 = _mm512_fmadd_ps(u, r0, c20); c21 = _mm512_fmadd_ps(u, r1, c21);
        c22 = _mm512_fmadd_ps(u, r2, c22); c23 = _mm512_fmadd_ps(u, r3, c23);
        u = _mm512_load_ps(q3 + i);
        c30 = _mm512_fmadd_ps(u, r0, c30); c31 = _mm512_fmadd_ps(u, r1, c31);
        c32 = _mm512_fmadd_ps(u, r2, c32); c33 = _mm512_fmadd_ps(u, r3, c33);
    }
    o[0] = _mm512_reduce_add_ps(c00); o[1] = _mm512_reduce_add_ps(c01);
    o[2] = _mm512_reduce_add_ps(c02); o[3] = _mm512_reduce_add_ps(c03);
    o += ldo;
    o[0] = _mm512_reduce_add_ps(c10); o[1] = _mm512_reduce_add_ps(c11);
    o[2] = _mm512_reduce_add_ps(c12); o[3] = _mm512_reduce_add_ps(c13);
    o += ldo;
    o[0] = _mm512_reduce_add_ps(c20); o[1] = _mm512_reduce_add_ps(c21);
    o[2] = _mm512_reduce_add_ps(c22); o[3] = _mm512_reduce_add_ps(c23);
    o += ldo;
    o[0] = _mm512_reduce_add_ps(c30); o[1] = _mm512_reduce_add_ps(c31);
    o[2] = _mm512_reduce_add_ps(c32); o[3] = _mm512_reduce_add_ps(c33);
}

T5 static void dot_tile_avx512(const float *q, size_t nq, const float *x,
                               size_t nx, size_t n, float *out, size_t ldo)
{
    size_t i = 0;
    for (; i + 4 <= nq; i += 4) {
        size_t j = 0;
        for (; j + 4 <= nx; j += 4)
            tile_4x4_avx512(q + i * n, x + j * n, n, out + i * ldo + j, ldo);
        for (; j < nx; j++)
            for (size_t t = 0; t < 4; t++)
                out[(i + t) * ldo + j] = dot_avx512(q + (i + t) * n, x + j * n, n);
    }
    for (; i < nq; i++)
        dot_rows_avx512(q + i * n, x, n, nx, out + i * ldo);
}

T5 static float dot_u8_avx512(const float *w, const uint8_t *c, size_t n)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 f0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
            _mm_loadu_si128((const __m128i *)(c + i))));
        __m512 f1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
            _mm_loadu_si128((const __m128i *)(c + i + 16))));
        s0 = _mm512_fmadd_ps(_mm512_load_ps(w + i), f0, s0);
        s1 = _mm512_fmadd_ps(_mm512_load_ps(w + i + 16), f1, s1);
    }
    if (i < n) {
        __m512 f0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(
            _mm_loadu_si128((const __m128i *)(c + i))));
        s0 = _mm512_fmadd_ps(_mm512_load_ps(w + i), f0, s0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

/* Binary codes with AVX512-VPOPCNTDQ: 512 bits per step; nw is a
 * multiple of 8 (code rows are padded to 512 bits).  The weighted count
 * and the count of ones share each 64-bit lane (ones in the high half),
 * so one horizontal sum per row yields both; the estimates are then
 * computed 16 rows at a time. */
#define T5P __attribute__((target("avx512f,avx512dq,avx512vpopcntdq")))

/* The combined count vector of one row (see bin_est_avx512). */
T5P static inline __m512i bin_acc_avx512(const uint64_t *p, const uint64_t *b, size_t nw)
{
    __m512i acc = _mm512_setzero_si512();
    for (size_t i = 0; i < nw; i += 8) {
        __m512i x = _mm512_loadu_si512((const void *)(b + i));
        __m512i c0 = _mm512_popcnt_epi64(
            _mm512_and_si512(x, _mm512_loadu_si512((const void *)(p + i))));
        __m512i c1 = _mm512_popcnt_epi64(
            _mm512_and_si512(x, _mm512_loadu_si512((const void *)(p + nw + i))));
        __m512i c2 = _mm512_popcnt_epi64(
            _mm512_and_si512(x, _mm512_loadu_si512((const void *)(p + 2 * nw + i))));
        __m512i c3 = _mm512_popcnt_epi64(
            _mm512_and_si512(x, _mm512_loadu_si512((const void *)(p + 3 * nw + i))));
        __m512i w = _mm512_add_epi64(
            _mm512_add_epi64(c0, _mm512_slli_epi64(c1, 1)),
            _mm512_add_epi64(_mm512_slli_epi64(c2, 2), _mm512_slli_epi64(c3, 3)));
        acc = _mm512_add_epi64(acc, _mm512_add_epi64(
            w, _mm512_slli_epi64(_mm512_popcnt_epi64(x), 32)));
    }
    return acc;
}

/* Horizontal sums of 8 vectors of 8 qwords: lane t of the result is the
 * sum of v[t] (a transpose-and-add tree: 7 adds for 8 rows). */
T5P static inline __m512i hsum8_epi64(const __m512i v[8])
{
    __m512i a0 = _mm512_add_epi64(_mm512_unpacklo_epi64(v[0], v[1]), _mm512_unpackhi_epi64(v[0], v[1]));
    __m512i a1 = _mm512_add_epi64(_mm512_unpacklo_epi64(v[2], v[3]), _mm512_unpackhi_epi64(v[2], v[3]));
    __m512i a2 = _mm512_add_epi64(_mm512_unpacklo_epi64(v[4], v[5]), _mm512_unpackhi_epi64(v[4], v[5]));
    __m512i a3 = _mm512_add_epi64(_mm512_unpacklo_epi64(v[6], v[7]), _mm512_unpackhi_epi64(v[6], v[7]));
    /* a0 = [r0 r1 | r0 r1 | r0 r1 | r0 r1] partial sums per 128-bit lane */
    __m512i b0 = _mm512_add_epi64(_mm512_shuffle_i64x2(a0, a1, 0x88), _mm512_shuffle_i64x2(a0, a1, 0xdd));
    __m512i b1 = _mm512_add_epi64(_mm512_shuffle_i64x2(a2, a3, 0x88), _mm512_shuffle_i64x2(a2, a3, 0xdd));
    /* b0 = [r0 r1 | r0 r1 | r2 r3 | r2 r3] */
    __m512i c0 = _mm512_add_epi64(_mm512_shuffle_i64x2(b0, b1, 0x88), _mm512_shuffle_i64x2(b0, b1, 0xdd));
    /* c0 = [r0 r1 | r2 r3 | r4 r5 | r6 r7] */
    return c0;
}

T5P static uint64_t bin_est_avx512(const uint64_t *p, const uint64_t *b, size_t nw,
                                   size_t nrows, const float *fac, const float c[5],
                                   float *est)
{
    const __m512 a = _mm512_set1_ps(c[0]), bo = _mm512_set1_ps(c[1]);
    const __m512 qs = _mm512_set1_ps(c[2]), base = _mm512_set1_ps(c[3]);
    const __m512 thr = _mm512_set1_ps(c[4]);
    uint64_t mask = 0;
    size_t r = 0;
    /* up to 512 dimensions (one vector per row): the planes stay in
     * registers */
    const __m512i p0 = _mm512_loadu_si512((const void *)p);
    const __m512i p1 = _mm512_loadu_si512((const void *)(p + nw));
    const __m512i p2 = _mm512_loadu_si512((const void *)(p + 2 * nw));
    const __m512i p3 = _mm512_loadu_si512((const void *)(p + 3 * nw));
    for (; r + 16 <= nrows; r += 16) {
        __m512i v[8], lo8 = _mm512_setzero_si512(), hi8 = lo8;
        for (int half = 0; half < 2; half++) {
            for (int t = 0; t < 8; t++) {
                const uint64_t *row = b + (r + (size_t)(8 * half + t)) * nw;
                if (nw == 8) {
                    __m512i x = _mm512_loadu_si512((const void *)row);
                    __m512i w = _mm512_add_epi64(
                        _mm512_add_epi64(_mm512_popcnt_epi64(_mm512_and_si512(x, p0)),
                                         _mm512_slli_epi64(_mm512_popcnt_epi64(_mm512_and_si512(x, p1)), 1)),
                        _mm512_add_epi64(_mm512_slli_epi64(_mm512_popcnt_epi64(_mm512_and_si512(x, p2)), 2),
                                         _mm512_slli_epi64(_mm512_popcnt_epi64(_mm512_and_si512(x, p3)), 3)));
                    v[t] = _mm512_add_epi64(w, _mm512_slli_epi64(_mm512_popcnt_epi64(x), 32));
                } else {
                    v[t] = bin_acc_avx512(p, row, nw);
                }
            }
            if (half)
                hi8 = hsum8_epi64(v);
            else
                lo8 = hsum8_epi64(v);
        }
        /* low halves: weighted counts; high halves: ones */
        __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo8)),
                                       _mm512_cvtepi64_epi32(hi8), 1);
        __m512i o = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm512_cvtepi64_epi32(_mm512_srli_epi64(lo8, 32))),
            _mm512_cvtepi64_epi32(_mm512_srli_epi64(hi8, 32)), 1);
        __m512 t = _mm512_add_ps(_mm512_mul_ps(a, _mm512_cvtepi32_ps(w)),
                                 _mm512_mul_ps(bo, _mm512_cvtepi32_ps(o)));
        t = _mm512_add_ps(base, _mm512_mul_ps(_mm512_loadu_ps(fac + r), _mm512_sub_ps(t, qs)));
        _mm512_storeu_ps(est + r, t);
        mask |= (uint64_t)_mm512_cmp_ps_mask(t, thr, _CMP_GT_OQ) << r;
    }
    for (; r < nrows; r++) {
        uint64_t x = (uint64_t)_mm512_reduce_add_epi64(bin_acc_avx512(p, b + r * nw, nw));
        est[r] = c[3] + fac[r] * (c[0] * (float)(uint32_t)x + c[1] * (float)(x >> 32) - c[2]);
        mask |= (uint64_t)(est[r] > c[4]) << r;
    }
    return mask;
}

static const weft__reg_kernels k_avx512 = {
    WEFT__REG_SIMD_AVX512, "avx512f", dot_rows_avx512, dot_tile_avx512,
    dot_u8_avx512, bin_est_popcnt
};
static const weft__reg_kernels k_avx512_vpop = {
    WEFT__REG_SIMD_AVX512, "avx512f+vpopcntdq", dot_rows_avx512, dot_tile_avx512,
    dot_u8_avx512, bin_est_avx512
};

#define AVX512_VPOPCNT 100 /* a level of this file only: AVX512 + VPOPCNTDQ */

static int cpu_has(int level)
{
    __builtin_cpu_init();
    if (level == AVX512_VPOPCNT)
        return __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vpopcntdq");
    if (level == WEFT__REG_SIMD_AVX512)
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("popcnt");
    if (level == WEFT__REG_SIMD_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("popcnt");
    return level == WEFT__REG_SIMD_SCALAR;
}
#endif /* WEFT__REG_X86 */

const weft__reg_kernels *weft__reg_kernels_get(int level)
{
#ifdef WEFT__REG_X86
    if (level == WEFT__REG_SIMD_AUTO || level == WEFT__REG_SIMD_AVX512) {
        if (cpu_has(AVX512_VPOPCNT))
            return &k_avx512_vpop;
        if (cpu_has(WEFT__REG_SIMD_AVX512))
            return &k_avx512;
        if (level == WEFT__REG_SIMD_AVX512)
            return NULL;
        if (cpu_has(WEFT__REG_SIMD_AVX2))
            return &k_avx2;
        return &k_scalar;
    }
    if (level == WEFT__REG_SIMD_AVX2)
        return cpu_has(level) ? &k_avx2 : NULL;
#endif
    if (level == WEFT__REG_SIMD_AUTO || level == WEFT__REG_SIMD_SCALAR)
        return &k_scalar;
    return NULL;
}
