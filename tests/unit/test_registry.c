/*
 * test_registry.c -- the registry namespace without search: configuration,
 * add / get / remove / replace, every limit refused and counted, the entry
 * codec (round trips, one encoding per entry, refusal of every malformed
 * input), the ordered index and the dictionaries against simple reference
 * models, and failing allocations (the i-th allocation fails for every i
 * through a whole scenario: no leak, no half-applied change).
 * Search is tested in test_registry_search.c.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "registry/registry_internal.h"
#include "test.h"
#include "weft/registry.h"

static uint64_t rng = 1;
static uint64_t rnd(void)
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#define DIM 24

/* An entry with owned storage, for building test cases. */
typedef struct tentry {
    uint8_t hash[64];
    char type[32];
    weft_registry_kv kv[8];
    char keys[8][16], vals[8][16];
    float emb[DIM];
    weft_registry_entry e;
} tentry;

static void make_entry(tentry *t, int i, int with_emb)
{
    memset(t, 0, sizeof *t);
    int hl = snprintf((char *)t->hash, sizeof t->hash, "hash-%d", i);
    int tl = snprintf(t->type, sizeof t->type, "%s", i % 3 ? "person" : "face");
    t->e.hash = t->hash;
    t->e.hash_len = (size_t)hl;
    t->e.type = t->type;
    t->e.type_len = (size_t)tl;
    memset(t->e.owner.key, i % 4, WEFT_ID_BYTES);
    t->e.time_ms = 1000 + (uint64_t)i;
    t->e.confidence = (float)(i % 10) / 10.0f;
    size_t nm = (size_t)(i % 3);
    for (size_t m = 0; m < nm; m++) {
        snprintf(t->keys[m], 16, "k%zu", nm - m); /* unsorted on purpose */
        snprintf(t->vals[m], 16, "v%d", i % 7);
        t->kv[m].key = t->keys[m];
        t->kv[m].key_len = strlen(t->keys[m]);
        t->kv[m].value = t->vals[m];
        t->kv[m].value_len = strlen(t->vals[m]);
    }
    t->e.meta = nm ? t->kv : NULL;
    t->e.meta_count = nm;
    if (with_emb) {
        for (int d = 0; d < DIM; d++)
            t->emb[d] = (float)((i * 7 + d * 3) % 11) - 5.0f;
        t->e.embedding = t->emb;
        t->e.dim = DIM;
    }
}

static weft_registry *new_reg(void)
{
    weft_registry_config c;
    weft_registry_config_default(&c);
    c.dim = DIM;
    weft_registry *r = NULL;
    if (weft_registry_new(&r, &c, NULL))
        return NULL;
    return r;
}

TEST(test_config)
{
    weft_registry_config c;
    weft_registry *r = NULL;
    weft_registry_config_default(&c);
    CHECK_EQ_INT(c.dim, 512);
    CHECK_EQ_INT(c.meta_bytes_max, 4096);
    REQUIRE(weft_registry_new(&r, NULL, NULL) == 0);
    CHECK_EQ_INT(weft_registry_get_config(r)->dim, 512);
    weft_registry_del(r);
    c.dim = 0;
    CHECK_EQ_INT(weft_registry_new(&r, &c, NULL), WEFT_ERR_CONFIG);
    c.dim = WEFT_REGISTRY_DIM_MAX + 1;
    CHECK_EQ_INT(weft_registry_new(&r, &c, NULL), WEFT_ERR_CONFIG);
    weft_registry_config_default(&c);
    c.metric = 7;
    CHECK_EQ_INT(weft_registry_new(&r, &c, NULL), WEFT_ERR_CONFIG);
    weft_registry_config_default(&c);
    c.k_max = WEFT_REGISTRY_K_MAX + 1;
    CHECK_EQ_INT(weft_registry_new(&r, &c, NULL), WEFT_ERR_CONFIG);
    weft_registry_config_default(&c);
    c.meta_bytes_max = WEFT_REGISTRY_META_BYTES_MAX + 1;
    CHECK_EQ_INT(weft_registry_new(&r, &c, NULL), WEFT_ERR_CONFIG);
    CHECK_EQ_INT(weft_registry_new(NULL, NULL, NULL), WEFT_ERR_INVAL);
    weft_registry_del(NULL);
}

TEST(test_add_get_remove)
{
    weft_registry *r = new_reg();
    REQUIRE(r);
    tentry t;
    for (int i = 0; i < 200; i++) {
        make_entry(&t, i, i % 5 != 0);
        REQUIRE(weft_registry_add(r, &t.e, 0) == 0);
    }
    CHECK_EQ_INT(weft_registry_count(r), 200);
    for (int i = 0; i < 200; i++) {
        make_entry(&t, i, i % 5 != 0);
        weft_registry_entry g;
        weft_registry_kv kv[WEFT_REGISTRY_META_PAIRS_MAX];
        REQUIRE(weft_registry_get(r, t.e.hash, t.e.hash_len, &g, kv, 64) == 0);
        CHECK(g.hash_len == t.e.hash_len && memcmp(g.hash, t.e.hash, g.hash_len) == 0);
        CHECK(g.type_len == t.e.type_len && memcmp(g.type, t.e.type, g.type_len) == 0);
        CHECK(memcmp(g.owner.key, t.e.owner.key, 32) == 0);
        CHECK(g.time_ms == t.e.time_ms);
        CHECK(g.confidence == t.e.confidence);
        CHECK_EQ_INT(g.meta_count, t.e.meta_count);
        /* get returns pairs sorted by key */
        for (size_t m = 1; m < g.meta_count; m++)
            CHECK(weft__reg_bytes_cmp(g.meta[m - 1].key, g.meta[m - 1].key_len,
                                      g.meta[m].key, g.meta[m].key_len) < 0);
        for (size_t m = 0; m < t.e.meta_count; m++) {
            int found = 0;
            for (size_t n = 0; n < g.meta_count; n++)
                found |= g.meta[n].key_len == t.kv[m].key_len &&
                         memcmp(g.meta[n].key, t.kv[m].key, t.kv[m].key_len) == 0 &&
                         g.meta[n].value_len == t.kv[m].value_len &&
                         memcmp(g.meta[n].value, t.kv[m].value, t.kv[m].value_len) == 0;
            CHECK(found);
        }
        if (t.e.embedding) {
            REQUIRE(g.embedding && g.dim == DIM);
            CHECK(memcmp(g.embedding, t.emb, sizeof t.emb) == 0);
        } else {
            CHECK(!g.embedding && g.dim == 0);
        }
        /* BUFSMALL when the pairs do not fit */
        if (t.e.meta_count)
            CHECK_EQ_INT(weft_registry_get(r, t.e.hash, t.e.hash_len, &g, kv, 0),
                         WEFT_ERR_BUFSMALL);
        /* get_encoded = encode of the original */
        uint8_t a[4096], b[4096];
        ptrdiff_t na = weft_registry_entry_encode(&t.e, a, sizeof a);
        ptrdiff_t nb = weft_registry_get_encoded(r, t.e.hash, t.e.hash_len, b, sizeof b);
        CHECK(na > 0 && na == nb && memcmp(a, b, (size_t)na) == 0);
        CHECK_EQ_INT(weft_registry_get_encoded(r, t.e.hash, t.e.hash_len, b, 10),
                     WEFT_ERR_BUFSMALL);
    }
    make_entry(&t, 5, 1);
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_EXISTS);
    for (int i = 0; i < 200; i += 2) {
        make_entry(&t, i, 0);
        CHECK_EQ_INT(weft_registry_remove(r, t.e.hash, t.e.hash_len), 0);
        CHECK_EQ_INT(weft_registry_remove(r, t.e.hash, t.e.hash_len), WEFT_ERR_NOT_FOUND);
        weft_registry_entry g;
        CHECK_EQ_INT(weft_registry_get(r, t.e.hash, t.e.hash_len, &g, NULL, 0),
                     WEFT_ERR_NOT_FOUND);
    }
    CHECK_EQ_INT(weft_registry_count(r), 100);
    /* slots are reused: 100 more entries do not raise the high-water mark */
    uint32_t hw = r->hw;
    for (int i = 1000; i < 1100; i++) {
        make_entry(&t, i, 1);
        REQUIRE(weft_registry_add(r, &t.e, 0) == 0);
    }
    CHECK_EQ_INT(r->hw, hw);
    weft_registry_stats st;
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.entries, 200);
    CHECK_EQ_INT(st.adds, 300);
    CHECK_EQ_INT(st.removes, 100);
    CHECK_EQ_INT(st.refused_exists, 1);
    CHECK_EQ_INT(st.types, 2);
    CHECK_EQ_INT(st.owners, 4);
    CHECK(st.bytes > 200 * DIM * 4);
    weft_registry_del(r);
}

TEST(test_replace)
{
    weft_registry *r = new_reg();
    REQUIRE(r);
    tentry t;
    make_entry(&t, 1, 1);
    REQUIRE(weft_registry_add(r, &t.e, 0) == 0);
    t.e.time_ms = 99;
    t.emb[0] = 42;
    t.e.type = "car";
    t.e.type_len = 3;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_EXISTS);
    CHECK_EQ_INT(weft_registry_add(r, &t.e, WEFT_REGISTRY_REPLACE), 0);
    CHECK_EQ_INT(weft_registry_count(r), 1);
    weft_registry_entry g;
    weft_registry_kv kv[64];
    REQUIRE(weft_registry_get(r, t.e.hash, t.e.hash_len, &g, kv, 64) == 0);
    CHECK(g.time_ms == 99 && g.embedding[0] == 42);
    CHECK(g.type_len == 3 && memcmp(g.type, "car", 3) == 0);
    weft_registry_stats st;
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.replaces, 1);
    CHECK_EQ_INT(st.types, 1); /* "face" was released with the old entry */
    /* replace with the same values: shared ids survive */
    CHECK_EQ_INT(weft_registry_add(r, &t.e, WEFT_REGISTRY_REPLACE), 0);
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.types, 1);
    CHECK_EQ_INT(st.owners, 1);
    /* replace at max_entries works (the cap allows the moment of overlap) */
    weft_registry_del(r);
    weft_registry_config c;
    weft_registry_config_default(&c);
    c.dim = DIM;
    c.max_entries = 1;
    REQUIRE(weft_registry_new(&r, &c, NULL) == 0);
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), 0);
    CHECK_EQ_INT(weft_registry_add(r, &t.e, WEFT_REGISTRY_REPLACE), 0);
    tentry u;
    make_entry(&u, 2, 1);
    CHECK_EQ_INT(weft_registry_add(r, &u.e, 0), WEFT_ERR_LIMIT);
    CHECK_EQ_INT(weft_registry_count(r), 1);
    weft_registry_del(r);
}

TEST(test_refusals_counted)
{
    weft_registry_config c;
    weft_registry_config_default(&c);
    c.dim = DIM;
    c.max_entries = 10;
    c.types_max = 2;
    c.owners_max = 3;
    c.meta_values_max = 4;
    c.meta_bytes_max = 64;
    c.entry_bytes_max = 56 + 10 + 6 + 64 + 4 * DIM - 1;
    weft_registry *r = NULL;
    REQUIRE(weft_registry_new(&r, &c, NULL) == 0);
    tentry t;
    weft_registry_stats st;

    /* wrong dimension */
    make_entry(&t, 1, 1);
    t.e.dim = DIM - 1;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    t.e.dim = 512;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    /* invalid fields */
    make_entry(&t, 1, 1);
    t.e.confidence = NAN;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    t.e.confidence = 1.01f;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    t.e.confidence = -0.1f;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    make_entry(&t, 1, 1);
    t.emb[3] = NAN;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    t.emb[3] = INFINITY;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    t.emb[3] = 1e19f; /* norm^2 1e38 >= WEFT_REGISTRY_NORM2_MAX */
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    make_entry(&t, 1, 1);
    t.e.hash_len = 0;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    t.e.hash_len = 65;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    make_entry(&t, 1, 1);
    t.e.type_len = 33;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    make_entry(&t, 2, 1); /* 2 pairs */
    t.kv[1].key = t.kv[0].key;
    t.kv[1].key_len = t.kv[0].key_len; /* duplicate key */
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    make_entry(&t, 1, 0);
    t.e.dim = 3; /* dim without embedding */
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_INVAL);
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.refused_dim, 2);
    CHECK_EQ_INT(st.refused_invalid, 11);

    /* metadata over meta_bytes_max (64) */
    make_entry(&t, 1, 1);
    char big[100];
    memset(big, 'x', sizeof big);
    weft_registry_kv kv = { "k", 1, big, 61 }; /* 3 + 1 + 61 = 65 */
    t.e.meta = &kv;
    t.e.meta_count = 1;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_TOO_BIG);
    kv.value_len = 60; /* 64: fits the meta cap, but the entry is one over */
    t.e.hash_len = 10;
    memcpy(t.hash, "0123456789", 10);
    t.e.type = "person";
    t.e.type_len = 6;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), WEFT_ERR_TOO_BIG);
    t.e.hash_len = 9;
    CHECK_EQ_INT(weft_registry_add(r, &t.e, 0), 0);
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.refused_meta_bytes, 1);
    CHECK_EQ_INT(st.refused_entry_bytes, 1);
    weft_registry_remove(r, t.hash, 9);

    /* dictionaries: types_max 2, owners_max 3, meta_values_max 4; a refusal
     * leaves no trace (the type reserved before the owner failed is
     * released) */
    tentry u;
    make_entry(&u, 1, 1); /* person, owner 1, 1 pair */
    REQUIRE(weft_registry_add(r, &u.e, 0) == 0);
    make_entry(&u, 3, 1); /* face, owner 3 */
    REQUIRE(weft_registry_add(r, &u.e, 0) == 0);
    make_entry(&u, 4, 1);
    u.e.type = "car";
    u.e.type_len = 3;
    CHECK_EQ_INT(weft_registry_add(r, &u.e, 0), WEFT_ERR_LIMIT);
    make_entry(&u, 6, 1); /* face, owner 2 */
    REQUIRE(weft_registry_add(r, &u.e, 0) == 0);
    make_entry(&u, 7, 1); /* person, owner 3, 1 pair */
    memset(u.e.owner.key, 9, 32);
    weft_registry_get_stats(r, &st);
    uint64_t pairs_before = st.meta_values;
    CHECK_EQ_INT(weft_registry_add(r, &u.e, 0), WEFT_ERR_LIMIT);
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.types, 2);
    CHECK_EQ_INT(st.owners, 3);
    CHECK_EQ_INT(st.meta_values, pairs_before);
    CHECK_EQ_INT(st.refused_types, 1);
    CHECK_EQ_INT(st.refused_owners, 1);
    /* meta values: 4 distinct key=value at most */
    int added = 0, refused = 0;
    for (int i = 10; i < 30; i++) {
        make_entry(&u, i * 3 + 2, 1); /* 2 pairs, person */
        memset(u.e.owner.key, 1, 32);
        int rc = weft_registry_add(r, &u.e, 0);
        if (rc == 0)
            added++;
        else if (rc == WEFT_ERR_LIMIT)
            refused++;
    }
    weft_registry_get_stats(r, &st);
    CHECK(st.meta_values <= 4);
    CHECK(refused > 0 && st.refused_meta_values == (uint64_t)refused);
    /* max_entries 10 */
    int full = 0;
    for (int i = 100; i < 130; i++) {
        make_entry(&u, i * 3, 1); /* face, no pairs */
        memset(u.e.owner.key, 1, 32);
        if (weft_registry_add(r, &u.e, 0) == WEFT_ERR_LIMIT)
            full++;
    }
    CHECK_EQ_INT(weft_registry_count(r), 10);
    weft_registry_get_stats(r, &st);
    CHECK_EQ_INT(st.refused_full, (uint64_t)full);
    weft_registry_del(r);
}

/* ---------------------------------------------------------------------- */
/* Codec                                                                  */

TEST(test_codec_roundtrip)
{
    for (int i = 0; i < 300; i++) {
        tentry t;
        make_entry(&t, i, i % 4 != 0);
        if (i % 7 == 0)
            t.e.confidence = -0.0f; /* encodes as +0 */
        uint8_t buf[8192];
        ptrdiff_t n = weft_registry_entry_encode(&t.e, buf, sizeof buf);
        REQUIRE(n > 0);
        CHECK_EQ_INT(n, weft_registry_entry_encoded_size(&t.e));
        CHECK_EQ_INT(weft_registry_entry_encode(&t.e, buf, (size_t)n - 1), WEFT_ERR_BUFSMALL);
        weft_registry_entry d;
        weft_registry_kv kv[WEFT_REGISTRY_META_PAIRS_MAX];
        float emb[DIM];
        REQUIRE(weft_registry_entry_decode(&d, buf, (size_t)n, kv, 64, emb, DIM) == 0);
        CHECK(d.hash_len == t.e.hash_len && memcmp(d.hash, t.e.hash, d.hash_len) == 0);
        CHECK(d.type_len == t.e.type_len && memcmp(d.type, t.e.type, d.type_len) == 0);
        CHECK(d.time_ms == t.e.time_ms && d.confidence == t.e.confidence);
        CHECK(memcmp(d.owner.key, t.e.owner.key, 32) == 0);
        CHECK_EQ_INT(d.meta_count, t.e.meta_count);
        CHECK_EQ_INT(d.dim, t.e.dim);
        if (t.e.dim)
            CHECK(memcmp(emb, t.emb, sizeof emb) == 0);
        /* re-encoding gives the same bytes */
        uint8_t buf2[8192];
        ptrdiff_t n2 = weft_registry_entry_encode(&d, buf2, sizeof buf2);
        CHECK(n2 == n && memcmp(buf, buf2, (size_t)n) == 0);
        /* the pairs' order does not change the encoding */
        if (t.e.meta_count == 2) {
            weft_registry_kv sw[2] = { t.kv[1], t.kv[0] };
            t.e.meta = sw;
            n2 = weft_registry_entry_encode(&t.e, buf2, sizeof buf2);
            CHECK(n2 == n && memcmp(buf, buf2, (size_t)n) == 0);
        }
        /* embeddings are raw little-endian float32 at the end */
        if (t.e.dim) {
            const uint8_t *p = buf + n - 4 * DIM;
            union { float f; uint32_t u; } v = { t.emb[0] };
            CHECK(p[0] == (uint8_t)v.u && p[3] == (uint8_t)(v.u >> 24));
        }
    }
}

/* Builds one valid encoded entry with 2 pairs and an embedding. */
static size_t valid_bytes(uint8_t *buf, size_t cap)
{
    tentry t;
    make_entry(&t, 5, 1); /* i % 3 == 2: two pairs */
    ptrdiff_t n = weft_registry_entry_encode(&t.e, buf, cap);
    return n > 0 ? (size_t)n : 0;
}

static int dec(const uint8_t *b, size_t n)
{
    weft_registry_entry d;
    weft_registry_kv kv[WEFT_REGISTRY_META_PAIRS_MAX];
    float emb[WEFT_REGISTRY_DIM_MAX];
    return weft_registry_entry_decode(&d, b, n, kv, 64, emb, WEFT_REGISTRY_DIM_MAX);
}

TEST(test_codec_refusals)
{
    uint8_t good[4096], b[4200];
    size_t n = valid_bytes(good, sizeof good);
    REQUIRE(n > 0);
    REQUIRE(dec(good, n) == 0);
    /* every truncation, and a trailing byte */
    for (size_t i = 0; i < n; i++)
        CHECK_EQ_INT(dec(good, i), WEFT_ERR_PROTO);
    memcpy(b, good, n);
    b[n] = 0;
    CHECK_EQ_INT(dec(b, n + 1), WEFT_ERR_PROTO);
    CHECK_EQ_INT(dec(NULL, 0), WEFT_ERR_PROTO);
    size_t hl = good[2], tl = good[3];
    size_t meta_at = 56 + hl + tl, meta_bytes = good[20] | (size_t)good[21] << 8;
    size_t emb_at = meta_at + meta_bytes;
#define MUT(stmt, want)                                                        \
    do {                                                                       \
        memcpy(b, good, n);                                                    \
        size_t len = n;                                                        \
        stmt;                                                                  \
        CHECK_EQ_INT(dec(b, len), want);                                       \
    } while (0)
    MUT(b[0] = 2, WEFT_ERR_PROTO);                      /* version */
    MUT(b[1] = 3, WEFT_ERR_PROTO);                      /* unknown flag */
    MUT(b[1] = 0, WEFT_ERR_PROTO);                      /* dim without flag */
    MUT(b[5] = 1, WEFT_ERR_PROTO);                      /* reserved byte */
    MUT(b[2] = 0, WEFT_ERR_PROTO);                      /* empty hash */
    MUT(b[2] = 65, WEFT_ERR_PROTO);                     /* hash too long */
    MUT(b[3] = 0, WEFT_ERR_PROTO);                      /* empty type */
    MUT(b[3] = 33, WEFT_ERR_PROTO);                     /* type too long */
    MUT(b[4] = 65, WEFT_ERR_PROTO);                     /* too many pairs */
    MUT(b[4] = 1, WEFT_ERR_PROTO);                      /* pairs vs bytes */
    MUT(b[4] = 3, WEFT_ERR_PROTO);
    MUT((b[6] = 0, b[7] = 0), WEFT_ERR_PROTO);          /* flag, dim 0 */
    MUT((b[6] = 0x01, b[7] = 0x10), WEFT_ERR_PROTO);    /* dim 4097 */
    MUT(b[6] = DIM + 1, WEFT_ERR_PROTO);                /* wrong length */
    MUT(b[6] = DIM - 1, WEFT_ERR_PROTO);
    MUT(b[20]++, WEFT_ERR_PROTO);                       /* meta_bytes */
    MUT(b[22] = 1, WEFT_ERR_PROTO);                     /* oversized */
    /* confidence: NaN, > 1, negative, -0 */
    MUT((b[16] = 0, b[17] = 0, b[18] = 0xc0, b[19] = 0x7f), WEFT_ERR_PROTO);
    MUT((b[16] = 0, b[17] = 0, b[18] = 0xc0, b[19] = 0x3f), WEFT_ERR_PROTO);
    MUT((b[16] = 0, b[17] = 0, b[18] = 0x80, b[19] = 0xbf), WEFT_ERR_PROTO);
    MUT((b[16] = 0, b[17] = 0, b[18] = 0, b[19] = 0x80), WEFT_ERR_PROTO);
    MUT((b[16] = 0, b[17] = 0, b[18] = 0x80, b[19] = 0x3f), 0); /* 1.0 */
    /* metadata: empty key, keys out of order, value length past the end */
    MUT(b[meta_at] = 0, WEFT_ERR_PROTO);
    MUT(b[meta_at + 3] = 'z', WEFT_ERR_PROTO);          /* "z1" > "k2" */
    MUT(b[meta_at + 1] = 0xff, WEFT_ERR_PROTO);
    MUT(b[meta_at + 3 + 1] = '2', WEFT_ERR_PROTO);      /* duplicate "k2" */
    /* embedding: NaN, +Inf, -Inf, and a squared norm too large */
    MUT((b[emb_at + 2] = 0xc0, b[emb_at + 3] = 0x7f), WEFT_ERR_PROTO);
    MUT((b[emb_at] = 0, b[emb_at + 1] = 0, b[emb_at + 2] = 0x80, b[emb_at + 3] = 0x7f),
        WEFT_ERR_PROTO);
    MUT((b[emb_at] = 0, b[emb_at + 1] = 0, b[emb_at + 2] = 0x80, b[emb_at + 3] = 0xff),
        WEFT_ERR_PROTO);
    MUT((b[emb_at] = 0, b[emb_at + 1] = 0, b[emb_at + 2] = 0x7f, b[emb_at + 3] = 0x5f),
        WEFT_ERR_PROTO); /* ~1.8e19: squared 3.4e38 */
#undef MUT
    /* caller's capacities */
    weft_registry_entry d;
    weft_registry_kv kv[2];
    float emb[DIM];
    CHECK_EQ_INT(weft_registry_entry_decode(&d, good, n, kv, 1, emb, DIM), WEFT_ERR_TOO_BIG);
    CHECK_EQ_INT(weft_registry_entry_decode(&d, good, n, kv, 2, emb, DIM - 1),
                 WEFT_ERR_TOO_BIG);
    CHECK_EQ_INT(weft_registry_entry_decode(&d, good, n, kv, 2, emb, DIM), 0);
    CHECK_EQ_INT(weft_registry_entry_decode(NULL, good, n, kv, 2, emb, DIM), WEFT_ERR_INVAL);
    /* random garbage never crashes and is almost always refused */
    for (int i = 0; i < 20000; i++) {
        size_t len = rnd() % 200;
        for (size_t j = 0; j < len; j++)
            b[j] = (uint8_t)rnd();
        if (len > 1)
            b[0] = 1;
        (void)dec(b, len);
    }
    /* encoder refuses what the decoder would */
    tentry t;
    make_entry(&t, 5, 1);
    char big[WEFT_REGISTRY_VALUE_BYTES_MAX + 1];
    memset(big, 'a', sizeof big);
    weft_registry_kv many[WEFT_REGISTRY_META_PAIRS_MAX + 1];
    char keys[WEFT_REGISTRY_META_PAIRS_MAX + 1][8];
    for (int i = 0; i <= WEFT_REGISTRY_META_PAIRS_MAX; i++) {
        snprintf(keys[i], 8, "k%d", i);
        many[i].key = keys[i];
        many[i].key_len = strlen(keys[i]);
        many[i].value = big;
        many[i].value_len = 300;
    }
    t.e.meta = many;
    t.e.meta_count = WEFT_REGISTRY_META_PAIRS_MAX + 1;
    CHECK_EQ_INT(weft_registry_entry_encoded_size(&t.e), WEFT_ERR_INVAL);
    t.e.meta_count = 60; /* 60 * 305 > 16384 */
    CHECK_EQ_INT(weft_registry_entry_encoded_size(&t.e), WEFT_ERR_TOO_BIG);
    many[0].value_len = WEFT_REGISTRY_VALUE_BYTES_MAX + 1;
    t.e.meta_count = 1;
    CHECK_EQ_INT(weft_registry_entry_encoded_size(&t.e), WEFT_ERR_INVAL);
}

/* ---------------------------------------------------------------------- */
/* Internal structures against reference models                           */

static int oelem_cmp(const void *a, const void *b)
{
    const weft__reg_oelem *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->slot < y->slot ? -1 : x->slot > y->slot;
}

TEST(test_oindex_model)
{
    weft__reg_oindex o;
    weft__reg_oindex_init(&o, NULL);
    enum { N = 20000 };
    static weft__reg_oelem ref[N];
    size_t n = 0;
    uint32_t next_slot = 0;
    for (int round = 0; round < 60000; round++) {
        int op = (int)(rnd() % 10);
        int grow = round < 30000 ? 6 : 3; /* fill, then drain (merges) */
        if ((op < grow || n == 0) && n < N) {
            weft__reg_oelem e = { rnd() % 500, next_slot++ };
            if (rnd() % 3 == 0)
                e.key = 1000 + (uint64_t)round; /* append pattern */
            REQUIRE(weft__reg_oindex_reserve(&o) == 0);
            weft__reg_oindex_insert(&o, e.key, e.slot);
            ref[n++] = e;
        } else {
            size_t i = rnd() % n;
            CHECK_EQ_INT(weft__reg_oindex_remove(&o, ref[i].key, ref[i].slot), 0);
            CHECK_EQ_INT(weft__reg_oindex_remove(&o, ref[i].key, ref[i].slot),
                         WEFT_ERR_NOT_FOUND);
            ref[i] = ref[--n];
        }
        if (round % 5000 == 4999 || round == 59999) {
            qsort(ref, n, sizeof *ref, oelem_cmp);
            CHECK_EQ_INT(o.n, n);
            /* full walk in order */
            weft__reg_opos p = weft__reg_oindex_lower(&o, 0);
            weft__reg_oelem e;
            size_t i = 0;
            int ok = 1;
            while (weft__reg_oindex_next(&o, &p, &e)) {
                ok &= i < n && e.key == ref[i].key && e.slot == ref[i].slot;
                i++;
            }
            CHECK(ok && i == n);
            /* range counts */
            for (int q = 0; q < 50; q++) {
                uint64_t lo = rnd() % 600, hi = lo + rnd() % 200;
                if (q == 0)
                    hi = UINT64_MAX;
                size_t want = 0;
                for (size_t j = 0; j < n; j++)
                    want += ref[j].key >= lo && ref[j].key <= hi;
                CHECK_EQ_INT(weft__reg_oindex_count(&o, lo, hi), want);
            }
            /* memory stays proportional: blocks at least 1/8 full on
             * average */
            CHECK(o.nblocks <= n / (WEFT__REG_OBLOCK / 8) + 2);
        }
    }
    weft__reg_oindex_free(&o);
}

TEST(test_dict_model)
{
    weft__reg_dict d;
    weft__reg_dict_init(&d, NULL, 42, 1000);
    enum { KEYS = 300 };
    uint32_t ids[KEYS];
    uint32_t refn[KEYS] = { 0 };
    for (int i = 0; i < KEYS; i++)
        ids[i] = WEFT__REG_NONE;
    /* positions: pos_of[key][slot] tracked through the moved slots */
    static uint32_t list_pos[KEYS][64];
    static uint32_t members[KEYS][64];
    for (int round = 0; round < 50000; round++) {
        int k = (int)(rnd() % KEYS);
        char key[16];
        int kl = snprintf(key, sizeof key, "key%d", k);
        if (refn[k] < 64 && (rnd() % 2 || refn[k] == 0)) {
            uint32_t id;
            REQUIRE(weft__reg_dict_reserve(&d, key, (size_t)kl, &id) == 0);
            CHECK(ids[k] == WEFT__REG_NONE || ids[k] == id);
            ids[k] = id;
            uint32_t slot = (uint32_t)round;
            uint32_t pos = weft__reg_dict_add(&d, id, slot);
            members[k][refn[k]] = slot;
            list_pos[k][refn[k]] = pos;
            refn[k]++;
        } else {
            uint32_t m = (uint32_t)(rnd() % refn[k]);
            uint32_t moved = weft__reg_dict_del(&d, ids[k], list_pos[k][m]);
            /* fix the moved member's recorded position */
            if (moved != WEFT__REG_NONE)
                for (uint32_t j = 0; j < refn[k]; j++)
                    if (members[k][j] == moved)
                        list_pos[k][j] = list_pos[k][m];
            members[k][m] = members[k][refn[k] - 1];
            list_pos[k][m] = list_pos[k][refn[k] - 1];
            if (--refn[k] == 0)
                ids[k] = WEFT__REG_NONE;
        }
        if (round % 1000 == 0) {
            for (int j = 0; j < KEYS; j++) {
                char kk[16];
                int n = snprintf(kk, sizeof kk, "key%d", j);
                uint32_t id = weft__reg_dict_find(&d, kk, (size_t)n);
                CHECK(id == ids[j]);
                if (id != WEFT__REG_NONE) {
                    CHECK_EQ_INT(d.items[id].n, refn[j]);
                    for (uint32_t m = 0; m < refn[j]; m++)
                        CHECK(d.items[id].slots[list_pos[j][m]] == members[j][m]);
                }
            }
        }
    }
    weft__reg_dict_free(&d);
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

TEST(test_selection)
{
    static float a[5000], b[5000], sorted[5000];
    for (int rep = 0; rep < 300; rep++) {
        size_t n = 1 + rnd() % 5000;
        int dup = rep % 3 == 0; /* many equal values */
        for (size_t i = 0; i < n; i++)
            a[i] = dup ? (float)(rnd() % 7) : (float)(rnd() % 100000) / 7.0f;
        memcpy(sorted, a, n * sizeof *a);
        qsort(sorted, n, sizeof *sorted, cmp_desc);
        size_t k = rnd() % n;
        memcpy(b, a, n * sizeof *a);
        CHECK(weft__reg_kth_largest(b, n, k) == sorted[k]);
        /* the survivors' buffer keeps exactly the C best of a stream */
        size_t C = 1 + rnd() % 300;
        static float sc[600], tmp[600];
        static uint64_t sl[600];
        weft__reg_topbuf t = { sc, tmp, sl, 0, C, -INFINITY };
        for (size_t i = 0; i < n; i++)
            weft__reg_topbuf_add(&t, a[i], i);
        weft__reg_topbuf_exact(&t);
        CHECK_EQ_INT(t.n, n < C ? n : C);
        memcpy(b, t.score, t.n * sizeof *b);
        qsort(b, t.n, sizeof *b, cmp_desc);
        int same = 1;
        for (size_t i = 0; i < t.n; i++)
            same &= b[i] == sorted[i] && a[t.id[i]] == t.score[i];
        CHECK(same);
    }
}

/* ---------------------------------------------------------------------- */
/* Failing allocations                                                    */

typedef struct failalloc {
    long n, fail_at, live;
} failalloc;

static void *fa_alloc(void *ctx, size_t n)
{
    failalloc *f = ctx;
    if (++f->n == f->fail_at)
        return NULL;
    void *p = malloc(n);
    if (p)
        f->live++;
    return p;
}
static void *fa_realloc(void *ctx, void *p, size_t n)
{
    failalloc *f = ctx;
    if (++f->n == f->fail_at)
        return NULL;
    void *q = realloc(p, n);
    if (q && !p)
        f->live++;
    return q;
}
static void fa_free(void *ctx, void *p)
{
    failalloc *f = ctx;
    if (p)
        f->live--;
    free(p);
}

/* A scenario touching every allocation site; returns 0 when it ran to the
 * end, or the first error.  Whatever happened, the registry must be
 * consistent: its count matches what was added minus removed. */
static int scenario(const weft_allocator *a, int *consistent)
{
    weft_registry_config c;
    weft_registry_config_default(&c);
    c.dim = DIM;
    weft_registry *r = NULL;
    weft_registry_scratch *s = NULL;
    int rc = weft_registry_new(&r, &c, a);
    *consistent = 1;
    if (rc)
        return rc;
    size_t expect = 0;
    tentry t;
    for (int i = 0; i < 150 && !rc; i++) {
        make_entry(&t, i, i % 4 != 0);
        rc = weft_registry_add(r, &t.e, 0);
        if (!rc)
            expect++;
        if (i == 100 && !rc) {
            weft_registry_index_params ip;
            memset(&ip, 0, sizeof ip);
            ip.nlist = 4;
            rc = weft_registry_index_build(r, &ip, NULL);
        }
    }
    for (int i = 0; i < 150 && !rc; i += 3) {
        make_entry(&t, i, 1);
        t.e.time_ms = 7;
        rc = weft_registry_add(r, &t.e, WEFT_REGISTRY_REPLACE);
        if (!rc && i % 2) {
            rc = weft_registry_remove(r, t.e.hash, t.e.hash_len);
            if (!rc)
                expect--;
        }
    }
    if (!rc)
        rc = weft_registry_scratch_new(&s, a);
    if (!rc) {
        weft_registry_search_params p;
        memset(&p, 0, sizeof p);
        p.k = 5;
        p.flags = WEFT_REGISTRY_APPROX;
        weft_registry_hit hits[5];
        int n = weft_registry_search(r, &p, t.emb, s, NULL, hits, NULL);
        rc = n < 0 ? n : 0;
    }
    *consistent = weft_registry_count(r) == expect;
    weft_registry_scratch_del(s);
    weft_registry_del(r);
    return rc;
}

TEST(test_failing_allocations)
{
    int done = 0, ok = 1, leak_free = 1, consistent = 1;
    long i;
    for (i = 1; i < 100000 && !done; i++) {
        failalloc f = { 0, i, 0 };
        weft_allocator a = { &f, fa_alloc, fa_realloc, fa_free };
        int cons;
        int rc = scenario(&a, &cons);
        consistent &= cons;
        leak_free &= f.live == 0;
        if (rc == 0)
            done = 1;
        else
            ok &= rc == WEFT_ERR_NOMEM;
    }
    CHECK(done);
    CHECK(i > 200); /* the scenario makes hundreds of allocations */
    fprintf(stderr, "  failing allocations: %ld runs\n", i - 1);
    CHECK(ok);
    CHECK(leak_free);
    CHECK(consistent);
}

int main(void)
{
    RUN(test_config);
    RUN(test_add_get_remove);
    RUN(test_replace);
    RUN(test_refusals_counted);
    RUN(test_codec_roundtrip);
    RUN(test_codec_refusals);
    RUN(test_oindex_model);
    RUN(test_dict_model);
    RUN(test_selection);
    RUN(test_failing_allocations);
    TEST_MAIN_END();
}
