/*
 * test_rangeset.c -- the range set against a bitmap model.  Random adds
 * and floor advances over a 128-value universe (placed at 0 and at the top
 * of the 64-bit space, to exercise wrap-around edges), with small caps so
 * the drop-lowest policy is hit often; after every step the structure's
 * invariants, its answers and its return values must match the model.
 * Plus the 2^64-element edge cases and allocation failure.
 */
#include "test.h"
#include "base/rangeset.h"
#include "base/util.h"

#define U 128

static uint64_t rng = 0xfeedfacecafebeefULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Sorted, lo <= hi, disjoint and non-adjacent, n <= cap. */
static int invariants_ok(const weft__rangeset *s)
{
    if (s->n > s->cap || s->n > s->alloc)
        return 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->r[i].lo > s->r[i].hi)
            return 0;
        if (i && (s->r[i - 1].hi == UINT64_MAX || s->r[i - 1].hi + 1 >= s->r[i].lo))
            return 0;
    }
    return 1;
}

/* Runs of set bits in the model; clears the lowest when over cap. */
static size_t model_runs(const unsigned char *m, size_t *first_lo, size_t *first_hi)
{
    size_t runs = 0;
    for (size_t i = 0; i < U; i++)
        if (m[i] && (i == 0 || !m[i - 1])) {
            if (runs == 0) {
                size_t j = i;
                while (j + 1 < U && m[j + 1])
                    j++;
                *first_lo = i;
                *first_hi = j;
            }
            runs++;
        }
    return runs;
}

static void differential(uint64_t base, size_t cap, int steps)
{
    weft__rangeset s;
    weft__rset_init(&s, NULL, cap);
    unsigned char m[U] = {0};
    uint64_t dropped = 0;
    for (int step = 0; step < steps; step++) {
        uint64_t op = rnd() % 16;
        if (op == 0) {
            /* advance the floor */
            /* base + U would wrap at the top of the space */
            size_t v = (size_t)(rnd() % (base ? U : U + 1));
            weft__rset_drop_below(&s, base + v);
            for (size_t i = 0; i < v && i < U; i++)
                m[i] = 0;
        } else {
            size_t lo = (size_t)(rnd() % U);
            size_t w = (rnd() % 4 == 0) ? (size_t)(rnd() % 32) : (size_t)(rnd() % 3);
            size_t hi = lo + w < U ? lo + w : U - 1;
            unsigned char before[U];
            memcpy(before, m, U);
            for (size_t i = lo; i <= hi; i++)
                m[i] = 1;
            size_t flo = 0, fhi = 0;
            if (model_runs(m, &flo, &fhi) > cap) {
                for (size_t i = flo; i <= fhi; i++)
                    m[i] = 0;
                dropped++;
            }
            int64_t fresh = 0;
            for (size_t i = 0; i < U; i++)
                fresh += m[i] && !before[i];
            int64_t got = weft__rset_add(&s, base + lo, base + hi);
            if (got != fresh) {
                fprintf(stderr, "step %d add [%zu,%zu]: got %lld want %lld\n", step,
                        lo, hi, (long long)got, (long long)fresh);
                CHECK(0);
                break;
            }
        }
        REQUIRE(invariants_ok(&s));
        REQUIRE(s.dropped == dropped);
        for (size_t i = 0; i < U; i++)
            REQUIRE(weft__rset_contains(&s, base + i) == m[i]);
        /* covers() over a few random intervals */
        for (int k = 0; k < 4; k++) {
            size_t lo = (size_t)(rnd() % U), hi = lo + (size_t)(rnd() % 8);
            if (hi >= U)
                hi = U - 1;
            int all = 1;
            for (size_t i = lo; i <= hi; i++)
                all &= m[i];
            REQUIRE(weft__rset_covers(&s, base + lo, base + hi) == all);
        }
        uint64_t mx = 0;
        for (size_t i = 0; i < U; i++)
            if (m[i])
                mx = base + i;
        REQUIRE(weft__rset_max(&s) == mx);
    }
    weft__rset_free(&s);
}

TEST(differential_low_uncapped) { differential(0, 1000, 20000); }
TEST(differential_low_cap3) { differential(0, 3, 20000); }
TEST(differential_low_cap1) { differential(0, 1, 5000); }
TEST(differential_top_uncapped) { differential(UINT64_MAX - (U - 1), 1000, 20000); }
TEST(differential_top_cap2) { differential(UINT64_MAX - (U - 1), 2, 20000); }

TEST(merge_adjacent)
{
    weft__rangeset s;
    weft__rset_init(&s, NULL, 16);
    CHECK_EQ_INT(weft__rset_add(&s, 1, 2), 2);
    CHECK_EQ_INT(weft__rset_add(&s, 5, 6), 2);
    CHECK_EQ_INT(weft__rset_add(&s, 3, 4), 2); /* bridges both */
    CHECK_EQ_INT(s.n, 1);
    CHECK(s.r[0].lo == 1 && s.r[0].hi == 6);
    CHECK_EQ_INT(weft__rset_add(&s, 2, 5), 0);
    CHECK_EQ_INT(weft__rset_add(&s, 0, 0), 1); /* adjacent below */
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(weft__rset_add(&s, 3, 2), WEFT_ERR_INVAL);
    weft__rset_free(&s);
}

TEST(in_order_stays_one_range)
{
    weft__rangeset s;
    weft__rset_init(&s, NULL, 4);
    for (uint64_t i = 0; i < 100000; i++)
        REQUIRE(weft__rset_add(&s, i, i) == 1);
    CHECK_EQ_INT(s.n, 1);
    CHECK(weft__rset_max(&s) == 99999);
    CHECK(weft__rset_covers(&s, 0, 99999));
    CHECK(!weft__rset_covers(&s, 0, 100000));
    weft__rset_free(&s);
}

TEST(full_64bit_range)
{
    weft__rangeset s;
    weft__rset_init(&s, NULL, 8);
    /* 2^64 integers: the count saturates, nothing wraps */
    CHECK(weft__rset_add(&s, 0, UINT64_MAX) == INT64_MAX);
    CHECK(weft__rset_contains(&s, UINT64_MAX));
    CHECK(weft__rset_covers(&s, 0, UINT64_MAX));
    CHECK_EQ_INT(weft__rset_add(&s, 5, 7), 0);
    CHECK(weft__rset_max(&s) == UINT64_MAX);
    weft__rset_drop_below(&s, UINT64_MAX);
    CHECK_EQ_INT(s.n, 1);
    CHECK(s.r[0].lo == UINT64_MAX);
    CHECK(weft__rset_add(&s, 0, UINT64_MAX) == INT64_MAX); /* 2^64 - 1 new */
    weft__rset_free(&s);

    weft__rset_init(&s, NULL, 8);
    CHECK_EQ_INT(weft__rset_add(&s, UINT64_MAX, UINT64_MAX), 1);
    CHECK_EQ_INT(weft__rset_add(&s, 0, 0), 1);
    CHECK_EQ_INT(weft__rset_add(&s, 10, 19), 10);
    CHECK_EQ_INT(s.n, 3);
    /* fills all but 12 integers: 2^64 - 12 new, clamped */
    CHECK(weft__rset_add(&s, 1, UINT64_MAX - 1) == INT64_MAX);
    CHECK_EQ_INT(s.n, 1);
    CHECK(s.r[0].lo == 0 && s.r[0].hi == UINT64_MAX);
    weft__rset_free(&s);
}

TEST(cap_drops_lowest)
{
    weft__rangeset s;
    weft__rset_init(&s, NULL, 2);
    CHECK_EQ_INT(weft__rset_add(&s, 10, 10), 1);
    CHECK_EQ_INT(weft__rset_add(&s, 20, 20), 1);
    CHECK_EQ_INT(weft__rset_add(&s, 30, 30), 1); /* drops [10,10] */
    CHECK_EQ_INT(s.dropped, 1);
    CHECK(!weft__rset_contains(&s, 10));
    CHECK(weft__rset_contains(&s, 20) && weft__rset_contains(&s, 30));
    CHECK_EQ_INT(weft__rset_add(&s, 5, 5), 0); /* lowest itself: dropped */
    CHECK_EQ_INT(s.dropped, 2);
    CHECK(!weft__rset_contains(&s, 5));
    CHECK_EQ_INT(weft__rset_add(&s, 21, 29), 9); /* merging never drops */
    CHECK_EQ_INT(s.n, 1);
    CHECK_EQ_INT(s.dropped, 2);
    weft__rset_free(&s);
}

static int fail_after = -1;
static void *f_alloc(void *c, size_t n) { (void)c; if (fail_after == 0) return NULL; if (fail_after > 0) fail_after--; return malloc(n); }
static void *f_realloc(void *c, void *p, size_t n) { (void)c; if (fail_after == 0) return NULL; if (fail_after > 0) fail_after--; return realloc(p, n); }
static void f_free(void *c, void *p) { (void)c; free(p); }

TEST(nomem_leaves_set_unchanged)
{
    weft_allocator fa = {NULL, f_alloc, f_realloc, f_free};
    weft__rangeset s;
    weft__rset_init(&s, &fa, 100);
    fail_after = 1;
    CHECK_EQ_INT(weft__rset_add(&s, 0, 0), 1); /* allocates 4 */
    for (uint64_t i = 1; i < 4; i++)
        CHECK_EQ_INT(weft__rset_add(&s, 2 * i, 2 * i), 1);
    CHECK_EQ_INT(s.n, 4);
    CHECK_EQ_INT(weft__rset_add(&s, 100, 100), WEFT_ERR_NOMEM);
    CHECK_EQ_INT(s.n, 4);
    CHECK(!weft__rset_contains(&s, 100));
    CHECK_EQ_INT(weft__rset_add(&s, 1, 1), 1); /* merge needs no memory */
    fail_after = -1;
    CHECK_EQ_INT(weft__rset_add(&s, 100, 100), 1);
    weft__rset_free(&s);
}

int main(void)
{
    RUN(differential_low_uncapped);
    RUN(differential_low_cap3);
    RUN(differential_low_cap1);
    RUN(differential_top_uncapped);
    RUN(differential_top_cap2);
    RUN(merge_adjacent);
    RUN(in_order_stays_one_range);
    RUN(full_64bit_range);
    RUN(cap_drops_lowest);
    RUN(nomem_leaves_set_unchanged);
    TEST_MAIN_END();
}
