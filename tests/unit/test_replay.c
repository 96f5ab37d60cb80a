/*
 * test_replay.c -- the anti-replay window against an exact model: a
 * counter is accepted iff it was never accepted and is no more than
 * WINDOW = 8192 - 64 below the highest accepted one.  Random streams mix
 * in-order counters, reordering inside the window, duplicates, stale
 * counters, slides across word and ring boundaries, and huge jumps; check()
 * must never change state, and update() must agree with check().
 */
#include "test.h"
#include "core/replay.h"
#include "weft/weft.h"

#define WINDOW ((uint64_t)WEFT__REPLAY_BITS - 64)
#define SEEN_MAX 400000

static uint64_t rng = 0x5eed5eed12345678ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Model: accepted counters in a sorted-insert array (small enough). */
static uint64_t seen[SEEN_MAX];
static size_t nseen;
static int have_top;
static uint64_t top_model;

static int model_has(uint64_t n)
{
    size_t lo = 0, hi = nseen;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (seen[mid] < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < nseen && seen[lo] == n;
}

static void model_add(uint64_t n)
{
    size_t lo = 0, hi = nseen;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (seen[mid] < n)
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(&seen[lo + 1], &seen[lo], (nseen - lo) * sizeof seen[0]);
    seen[lo] = n;
    nseen++;
    if (!have_top || n > top_model)
        top_model = n;
    have_top = 1;
}

static int model_ok(uint64_t n)
{
    if (n == UINT64_MAX)
        return 0;
    if (have_top && n < top_model && top_model - n > WINDOW)
        return 0;
    return !model_has(n);
}

static void run(uint64_t start, int steps, int jumpy)
{
    weft__replay r;
    weft__replay_init(&r);
    nseen = 0;
    have_top = 0;
    uint64_t hi = start;
    for (int i = 0; i < steps && nseen + 1 < SEEN_MAX; i++) {
        uint64_t n;
        uint64_t k = rnd() % 100;
        if (k < 40)
            n = hi + 1 + rnd() % 3;                    /* forward */
        else if (k < 75)
            n = hi - (hi - start < WINDOW + 100 ? rnd() % (hi - start + 1)
                                                 : rnd() % (WINDOW + 100)); /* around the edge */
        else if (k < 85 && nseen)
            n = seen[rnd() % nseen];                   /* exact duplicate */
        else if (k < 95)
            n = hi + rnd() % (3 * WEFT__REPLAY_BITS);  /* slides over words/ring */
        else
            n = jumpy ? hi + (rnd() >> (rnd() % 40)) : hi + 64; /* huge jump */
        if (n < start)
            n = start;
        int want = model_ok(n);
        weft__replay before = r;
        int c = weft__replay_check(&r, n);
        REQUIRE(memcmp(&before, &r, sizeof r) == 0); /* check is pure */
        if ((c == 0) != want) {
            fprintf(stderr, "step %d n=%" PRIu64 " top=%" PRIu64 ": check %d, model %d\n", i,
                    n, r.top, c, want);
            REQUIRE(0);
        }
        if (rnd() % 8 == 0)
            continue; /* failed authentication: no update, nothing recorded */
        int u = weft__replay_update(&r, n);
        REQUIRE((u == 0) == want);
        REQUIRE(u == 0 || u == WEFT_ERR_REPLAY);
        if (want) {
            model_add(n);
            if (n > hi)
                hi = n;
        }
        REQUIRE(weft__replay_update(&r, n) == WEFT_ERR_REPLAY); /* now a replay */
    }
}

TEST(model_from_zero) { run(0, 200000, 0); }
TEST(model_with_huge_jumps) { run(0, 200000, 1); }
TEST(model_near_top_of_space) { run(UINT64_MAX - ((uint64_t)1 << 41), 100000, 0); }

TEST(basics)
{
    weft__replay r;
    weft__replay_init(&r);
    CHECK_EQ_INT(weft__replay_check(&r, 0), 0);
    CHECK_EQ_INT(weft__replay_update(&r, 0), 0);
    CHECK_EQ_INT(weft__replay_check(&r, 0), WEFT_ERR_REPLAY);
    CHECK_EQ_INT(weft__replay_update(&r, 0), WEFT_ERR_REPLAY);
    CHECK_EQ_INT(weft__replay_update(&r, 10000), 0);
    /* 10000 - 0 > WINDOW: too old, even though never seen */
    CHECK_EQ_INT(weft__replay_check(&r, 1), WEFT_ERR_REPLAY);
    CHECK_EQ_INT(weft__replay_check(&r, 10000 - WINDOW), 0);     /* oldest allowed */
    CHECK_EQ_INT(weft__replay_check(&r, 10000 - WINDOW - 1), WEFT_ERR_REPLAY);
    CHECK_EQ_INT(weft__replay_update(&r, 10000 - WINDOW), 0);
    /* a huge jump clears the whole ring: old bits must not alias */
    CHECK_EQ_INT(weft__replay_update(&r, 10000 + 64 * 8192), 0);
    CHECK_EQ_INT(weft__replay_check(&r, 10000 + 64 * 8192 - 8000), 0);
    CHECK_EQ_INT(weft__replay_check(&r, UINT64_MAX), WEFT_ERR_REPLAY);
    CHECK_EQ_INT(weft__replay_update(&r, UINT64_MAX - 1), 0);
    CHECK_EQ_INT(weft__replay_check(&r, UINT64_MAX - 1), WEFT_ERR_REPLAY);
    CHECK_EQ_INT(weft__replay_check(&r, UINT64_MAX - 2), 0);
}

TEST(aliasing_after_exact_ring_slide)
{
    /* Counter n and n + 8192 share a bit; after sliding by exactly the
     * ring size, the old mark must be gone. */
    weft__replay r;
    weft__replay_init(&r);
    for (uint64_t n = 0; n < 200; n++)
        CHECK_EQ_INT(weft__replay_update(&r, n), 0);
    CHECK_EQ_INT(weft__replay_update(&r, 199 + WEFT__REPLAY_BITS), 0);
    for (uint64_t n = 200; n < 199 + WEFT__REPLAY_BITS; n += 7)
        CHECK_EQ_INT(weft__replay_check(&r, n), (199 + WEFT__REPLAY_BITS) - n > WINDOW ? WEFT_ERR_REPLAY : 0);
}

int main(void)
{
    RUN(basics);
    RUN(aliasing_after_exact_ring_slide);
    RUN(model_from_zero);
    RUN(model_with_huge_jumps);
    RUN(model_near_top_of_space);
    TEST_MAIN_END();
}
