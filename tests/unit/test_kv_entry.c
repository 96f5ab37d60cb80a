/*
 * test_kv_entry.c -- the store's versions (src/kv/entry.c): the test
 * vectors of docs/PROTOCOL.md §Replicated store (ENTRY encodings signed
 * by the key of seed 32 x 0x01, the SYNC opening message over them), the
 * hybrid logical clock, the version order and node-state namespaces.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "kv/recon.h"

static const char *PK_HEX = "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c";
static const char *ENTRY_PUT =
    "0001000068e5cf8b018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d9412"
    "1bf3748801b40f6f5c03636667046d6f646504666173740ca27151014ca2f834"
    "a8ca6f01283272f07322472a52a2aefa3a19b8366a577ea7a50c4fbcf9f10099"
    "d32a69301df75ba71d6133ac12f092436d2d2814bced00";
static const char *ENTRY_DEL =
    "0300000168e5cf8b018a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d9412"
    "1bf3748801b40f6f5c03636667036f6c646052e6cf8b01000000af8d2e9a1912"
    "f8f0ed0c06bb27fa85d014399bb814e0906f338d8a66f03f8a9cf0fbdb922a8c"
    "a953a994346352667151ef753fc02f9fa5c0707bf5e2f152490f";
static const char *SYNC_OPEN = "010403020101000097a4082d9d4fa97f5de6c244a60990d302";

TEST(entry_vectors_decode_verify_and_reencode)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t seed[32], pk[32], sk[64], want_pk[32];
    memset(seed, 1, 32);
    c->sign_keypair_seed(c->ctx, pk, sk, seed);
    REQUIRE(test_unhex(want_pk, 32, PK_HEX) == 32);
    CHECK(memcmp(pk, want_pk, 32) == 0);
    const char *vec[2] = {ENTRY_PUT, ENTRY_DEL};
    weft__kv_tree t = {NULL, 0};
    for (int i = 0; i < 2; i++) {
        uint8_t b[256], out[256];
        int n = test_unhex(b, sizeof b, vec[i]);
        REQUIRE(n > 0);
        weft__rd r;
        weft__rd_init(&r, b, (size_t)n);
        weft__kv_view v;
        REQUIRE(weft__kv_entry_read(&r, &v) == 0);
        CHECK(weft__rd_done(&r));
        CHECK(weft__kv_entry_verify(c, &v) == 0);
        CHECK(memcmp(v.writer, pk, 32) == 0);
        CHECK(v.ns_len == 3 && memcmp(v.ns, "cfg", 3) == 0);
        if (i == 0) {
            CHECK(v.hlc == ((1700000000000ULL << 16) | 1));
            CHECK(v.val_len == 4 && memcmp(v.val, "fast", 4) == 0 && v.flags == 0);
        } else {
            CHECK(v.flags == (WEFT__KV_F_TOMBSTONE | WEFT__KV_F_EXPIRES));
            CHECK(v.expires_ms == 1700000060000ULL && v.val_len == 0);
        }
        weft__kv_ent *x = weft__kv_ent_from_view(NULL, c, &v);
        REQUIRE(x);
        weft__wr w;
        weft__wr_init(&w, out, sizeof out);
        weft__kv_entry_write(&w, x);
        CHECK(w.pos == (size_t)n && memcmp(out, b, (size_t)n) == 0);
        CHECK(weft__kv_entry_size(x) == (size_t)n);
        free(weft__kv_tree_put(&t, x));
        /* any flipped bit breaks the signature or the layout */
        b[n / 2] ^= 1;
        weft__rd_init(&r, b, (size_t)n);
        CHECK(weft__kv_entry_read(&r, &v) < 0 || weft__kv_entry_verify(c, &v) < 0);
    }
    uint8_t s[64], want[64];
    ptrdiff_t n = weft__kv_recon_start(&t, 0x01020304, s, sizeof s);
    int wn = test_unhex(want, sizeof want, SYNC_OPEN);
    CHECK(n == wn && memcmp(s, want, (size_t)wn) == 0);
    weft__kv_ent *x;
    while ((x = t.root) != NULL)
        free(weft__kv_tree_del(&t, x->data, x->sk_len));
}

TEST(malformed_entries_are_refused)
{
    uint8_t b[256];
    int n = test_unhex(b, sizeof b, ENTRY_PUT);
    weft__rd r;
    weft__kv_view v;
    for (int cut = 0; cut < n; cut++) { /* every truncation */
        weft__rd_init(&r, b, (size_t)cut);
        CHECK(weft__kv_entry_read(&r, &v) < 0);
    }
    uint8_t bad[256];
    memcpy(bad, b, (size_t)n);
    bad[0] = 0x80; /* unknown flag */
    weft__rd_init(&r, bad, (size_t)n);
    CHECK(weft__kv_entry_read(&r, &v) < 0);
    memcpy(bad, b, (size_t)n);
    bad[WEFT__KV_ENTRY_NSLEN_OFF] = 0; /* empty namespace */
    weft__rd_init(&r, bad, (size_t)n);
    CHECK(weft__kv_entry_read(&r, &v) < 0);
    memcpy(bad, b, (size_t)n);
    bad[0] = WEFT__KV_F_TOMBSTONE; /* a tombstone with a value */
    weft__rd_init(&r, bad, (size_t)n);
    CHECK(weft__kv_entry_read(&r, &v) < 0);
}

TEST(hybrid_logical_clock)
{
    uint64_t h = 0;
    uint64_t a = weft__kv_hlc_tick(&h, 1000);
    CHECK(a == 1000ULL << 16);
    uint64_t b = weft__kv_hlc_tick(&h, 1000);     /* same ms: the counter */
    CHECK(b == a + 1);
    uint64_t c = weft__kv_hlc_tick(&h, 999);      /* wall clock went back */
    CHECK(c == b + 1);
    weft__kv_hlc_observe(&h, 5000ULL << 16);      /* a peer ahead of us */
    uint64_t d = weft__kv_hlc_tick(&h, 1001);
    CHECK(d == (5000ULL << 16) + 1);              /* stays after what we saw */
    weft__kv_hlc_observe(&h, 10);                 /* behind: no effect */
    CHECK(weft__kv_hlc_tick(&h, 6000) == 6000ULL << 16);
}

TEST(version_order_and_node_namespaces)
{
    uint8_t w1[32] = {1}, w2[32] = {2};
    CHECK(weft__kv_version_cmp(5, w1, 4, w2) > 0);  /* later stamp wins */
    CHECK(weft__kv_version_cmp(5, w1, 5, w2) < 0);  /* tie: greater writer */
    CHECK(weft__kv_version_cmp(5, w2, 5, w2) == 0);
    weft_node_id o;
    char ns[66] = "@";
    for (int i = 0; i < 64; i++)
        ns[1 + i] = "0123456789abcdef"[i % 16];
    CHECK(weft__kv_ns_owner((const uint8_t *)ns, 65, &o) == 1);
    CHECK(o.key[0] == 0x01 && o.key[1] == 0x23);
    CHECK(weft__kv_ns_owner((const uint8_t *)"cfg", 3, &o) == 0);
    CHECK(weft__kv_ns_owner((const uint8_t *)ns, 64, &o) == -1);
    ns[5] = 'A'; /* one spelling per node: lowercase */
    CHECK(weft__kv_ns_owner((const uint8_t *)ns, 65, &o) == -1);
}

int main(void)
{
    RUN(entry_vectors_decode_verify_and_reencode);
    RUN(malformed_entries_are_refused);
    RUN(hybrid_logical_clock);
    RUN(version_order_and_node_namespaces);
    TEST_MAIN_END();
}
