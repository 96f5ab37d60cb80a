/*
 * test_kv_tree.c -- the store's ordered index (src/kv/tree.c): inserts,
 * replacements and deletes in random order against a brute-force model;
 * range fingerprints, ranks, rank selection and seeks agree with it.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "kv/tree.h"

#define N 2000

static weft__kv_ent *mk(const char *key, uint64_t h)
{
    size_t n = strlen(key);
    weft__kv_ent *x = calloc(1, sizeof *x + n);
    memcpy(x->data, key, n);
    x->sk_len = (uint16_t)n;
    x->h_lo = h * 0x9e3779b97f4a7c15ULL;
    x->h_hi = ~h;
    return x;
}

static uint64_t lcg = 7;
static uint32_t rnd(uint32_t n)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(lcg >> 33) % n;
}

/* model: present[i], version hash[i] for key "k%05d" */
static int present[N];
static uint64_t hv[N];

static void key_of(int i, char *buf) { snprintf(buf, 16, "k%05d", i); }

static weft__kv_fp model_range(int lo, int hi) /* [lo, hi) by index */
{
    weft__kv_fp s = {0, 0, 0};
    for (int i = lo; i < hi; i++) {
        if (!present[i])
            continue;
        uint64_t l = hv[i] * 0x9e3779b97f4a7c15ULL, h = ~hv[i];
        uint64_t t = s.lo + l;
        s.hi += h + (t < l);
        s.lo = t;
        s.count++;
    }
    return s;
}

static int walk_count(void *arg, weft__kv_ent *x)
{
    (void)x;
    (*(int *)arg)++;
    return 0;
}

TEST(tree_matches_a_model)
{
    weft__kv_tree t = {NULL, 42};
    char k[16], k2[16];
    for (int step = 0; step < 20000; step++) {
        int i = (int)rnd(N);
        key_of(i, k);
        if (rnd(4) == 0) {
            weft__kv_ent *x = weft__kv_tree_del(&t, (const uint8_t *)k, strlen(k));
            CHECK((x != NULL) == present[i]);
            free(x);
            present[i] = 0;
        } else {
            uint64_t h = rnd(1000000) + 1;
            weft__kv_ent *old = weft__kv_tree_put(&t, mk(k, h));
            CHECK((old != NULL) == present[i]);
            free(old);
            present[i] = 1;
            hv[i] = h;
        }
        if (step % 500 == 0) {
            int a = (int)rnd(N), b = (int)rnd(N);
            if (a > b) {
                int c = a;
                a = b;
                b = c;
            }
            key_of(a, k);
            key_of(b, k2);
            weft__kv_fp m = model_range(a, b);
            weft__kv_fp f = weft__kv_tree_range(&t, (const uint8_t *)k, 6, (const uint8_t *)k2, 6);
            CHECK(m.lo == f.lo && m.hi == f.hi && m.count == f.count);
            weft__kv_fp all = weft__kv_tree_range(&t, NULL, 0, NULL, 0);
            weft__kv_fp mall = model_range(0, N);
            CHECK(all.lo == mall.lo && all.count == mall.count);
            CHECK_EQ_INT(weft__kv_tree_rank(&t, (const uint8_t *)k, 6), model_range(0, a).count);
            /* rank selection and seek agree */
            if (m.count) {
                uint64_t r = weft__kv_tree_rank(&t, (const uint8_t *)k, 6);
                const weft__kv_ent *x = weft__kv_tree_at(&t, r);
                const weft__kv_ent *y = weft__kv_tree_seek(&t, (const uint8_t *)k, 6, 0);
                CHECK(x == y);
                int first = a;
                while (!present[first])
                    first++;
                char fk[16];
                key_of(first, fk);
                CHECK(x && memcmp(x->data, fk, 6) == 0);
            }
        }
    }
    int n = 0;
    (void)weft__kv_tree_walk(&t, walk_count, &n);
    CHECK_EQ_INT(n, weft__kv_tree_count(&t));
    weft__kv_ent *x;
    while ((x = t.root) != NULL)
        free(weft__kv_tree_del(&t, x->data, x->sk_len));
    CHECK(weft__kv_tree_count(&t) == 0);
}

TEST(sort_keys_compare_bytewise_shorter_first)
{
    CHECK(weft__kv_sk_cmp((const uint8_t *)"ab", 2, (const uint8_t *)"abc", 3) < 0);
    CHECK(weft__kv_sk_cmp((const uint8_t *)"b", 1, (const uint8_t *)"abc", 3) > 0);
    CHECK(weft__kv_sk_cmp((const uint8_t *)"abc", 3, (const uint8_t *)"abc", 3) == 0);
    CHECK(weft__kv_sk_cmp((const uint8_t *)"\xff", 1, (const uint8_t *)"\x01", 1) > 0);
}

int main(void)
{
    RUN(tree_matches_a_model);
    RUN(sort_keys_compare_bytewise_shorter_first);
    TEST_MAIN_END();
}
