/*
 * test_sodium.c -- the libsodium adapter (src/crypto/sodium.c) against
 * published known answers: X25519 (RFC 7748 §6.1), ChaCha20-Poly1305 with
 * the Noise nonce layout (RFC 8439 Appendix A.5, whose nonce happens to be
 * 00000000 || 0102030405060708, i.e. Noise counter 0x0807060504030201),
 * BLAKE2b-512 (RFC 7693 Appendix A), keyed BLAKE2b (BLAKE2 reference KAT),
 * Ed25519 (RFC 8032 §7.1 test 1), plus low-order rejection, tampering and
 * the Ed25519 -> X25519 conversions.
 */
#include <sodium.h>
#include <stdlib.h>

#include "crypto/bulk_aead.h"
#include "test.h"

#include "weft/crypto.h"

static uint8_t B1[512], B2[512], B3[512];

static size_t unhex(uint8_t *out, size_t cap, const char *h)
{
    int n = test_unhex(out, cap, h);
    return n < 0 ? 0 : (size_t)n;
}

TEST(x25519_rfc7748)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t a[32], apk[32], b[32], bpk[32], k[32], k2[32], exp[32];
    unhex(a, 32, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    unhex(b, 32, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    c->dh_public(c->ctx, apk, a);
    c->dh_public(c->ctx, bpk, b);
    unhex(exp, 32, "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    CHECK(memcmp(apk, exp, 32) == 0);
    unhex(exp, 32, "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    CHECK(memcmp(bpk, exp, 32) == 0);
    unhex(exp, 32, "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    CHECK(c->dh(c->ctx, k, a, bpk) == 0);
    CHECK(c->dh(c->ctx, k2, b, apk) == 0);
    CHECK(memcmp(k, exp, 32) == 0);
    CHECK(memcmp(k2, exp, 32) == 0);
}

/* Low-order points give an all-zero shared secret, which must be refused
 * (Noise §12.1).  0 and 1 (little-endian) are two of them. */
TEST(x25519_low_order_rejected)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t sk[32], pk[32], out[32];
    memset(sk, 0x42, 32);
    memset(pk, 0, 32);
    CHECK(c->dh(c->ctx, out, sk, pk) == -1);
    pk[0] = 1;
    CHECK(c->dh(c->ctx, out, sk, pk) == -1);
}

static const char *A5_KEY =
    "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0";
static const char *A5_AAD = "f33388860000000000004e91";
static const char *A5_PT =
    "496e7465726e65742d4472616674732061726520647261667420646f63756d65"
    "6e74732076616c696420666f722061206d6178696d756d206f6620736978206d"
    "6f6e74687320616e64206d617920626520757064617465642c207265706c6163"
    "65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65"
    "6e747320617420616e792074696d652e20497420697320696e617070726f7072"
    "6961746520746f2075736520496e7465726e65742d4472616674732061732072"
    "65666572656e6365206d6174657269616c206f7220746f206369746520746865"
    "6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67"
    "726573732e2fe2809d";
static const char *A5_CT =
    "64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
    "4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
    "332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
    "9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
    "b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
    "af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
    "0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
    "49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
    "a6ad5cb4022b02709b"
    "eead9d67890cbb22392336fea1851f38"; /* tag */

/* RFC 8439 A.5 nonce 000000000102030405060708 = 4 zero bytes || LE64 of
 * 0x0807060504030201: exactly the Noise layout (§12.3). */
TEST(aead_rfc8439_a5)
{
    const weft_crypto *c = weft_crypto_sodium();
    const uint64_t nonce = 0x0807060504030201ULL;
    uint8_t key[32], aad[12];
    unhex(key, 32, A5_KEY);
    size_t adlen = unhex(aad, sizeof aad, A5_AAD);
    size_t ptlen = unhex(B1, sizeof B1, A5_PT);
    size_t ctlen = unhex(B2, sizeof B2, A5_CT);
    REQUIRE(ptlen == 265 && ctlen == 265 + 16);

    CHECK(c->aead_seal(c->ctx, B3, key, nonce, aad, adlen, B1, ptlen) == 0);
    CHECK(memcmp(B3, B2, ctlen) == 0);
    memset(B3, 0, sizeof B3);
    CHECK(c->aead_open(c->ctx, B3, key, nonce, aad, adlen, B2, ctlen) == 0);
    CHECK(memcmp(B3, B1, ptlen) == 0);

    /* In place. */
    memcpy(B3, B1, ptlen);
    c->aead_seal(c->ctx, B3, key, nonce, aad, adlen, B3, ptlen);
    CHECK(memcmp(B3, B2, ctlen) == 0);
    CHECK(c->aead_open(c->ctx, B3, key, nonce, aad, adlen, B3, ctlen) == 0);
    CHECK(memcmp(B3, B1, ptlen) == 0);

    /* Wrong nonce, wrong AD, flipped bit, short input: all refused. */
    CHECK(c->aead_open(c->ctx, B3, key, nonce + 1, aad, adlen, B2, ctlen) == -1);
    CHECK(c->aead_open(c->ctx, B3, key, nonce, aad, adlen - 1, B2, ctlen) == -1);
    B2[100] ^= 0x10;
    CHECK(c->aead_open(c->ctx, B3, key, nonce, aad, adlen, B2, ctlen) == -1);
    B2[100] ^= 0x10;
    CHECK(c->aead_open(c->ctx, B3, key, nonce, aad, adlen, B2, 15) == -1);
}

TEST(blake2b_rfc7693)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t out[64], exp[64];
    unhex(exp, 64,
          "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
          "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
    weft_iov one = {"abc", 3};
    c->hash(c->ctx, out, &one, 1);
    CHECK(memcmp(out, exp, 64) == 0);
    /* The iov parts are hashed as one concatenation. */
    weft_iov parts[3] = {{"a", 1}, {"", 0}, {"bc", 2}};
    memset(out, 0, 64);
    c->hash(c->ctx, out, parts, 3);
    CHECK(memcmp(out, exp, 64) == 0);
}

/* BLAKE2 reference KAT (blake2b-kat.txt): key = 00..3f, empty input. */
TEST(blake2b_keyed_kat)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t key[64], out[64], exp[64];
    for (int i = 0; i < 64; i++)
        key[i] = (uint8_t)i;
    unhex(exp, 64,
          "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786"
          "b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568");
    c->mac(c->ctx, out, 64, key, 64, NULL, 0);
    CHECK(memcmp(out, exp, 64) == 0);
    /* Shorter outputs are different functions, not truncations. */
    uint8_t o32[32];
    c->mac(c->ctx, o32, 32, key, 64, NULL, 0);
    CHECK(memcmp(o32, exp, 32) != 0);
}

TEST(ed25519_rfc8032_test1)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t seed[32], pk[32], sk[64], exp_pk[32], sig[64], exp_sig[64];
    unhex(seed, 32, "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    unhex(exp_pk, 32, "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    unhex(exp_sig, 64,
          "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
          "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    c->sign_keypair_seed(c->ctx, pk, sk, seed);
    CHECK(memcmp(pk, exp_pk, 32) == 0);
    CHECK(memcmp(sk, seed, 32) == 0 && memcmp(sk + 32, pk, 32) == 0);
    c->sign(c->ctx, sig, (const uint8_t *)"", 0, sk);
    CHECK(memcmp(sig, exp_sig, 64) == 0);
    CHECK(c->verify(c->ctx, sig, (const uint8_t *)"", 0, pk) == 0);
    sig[0] ^= 1;
    CHECK(c->verify(c->ctx, sig, (const uint8_t *)"", 0, pk) == -1);
    sig[0] ^= 1;
    CHECK(c->verify(c->ctx, sig, (const uint8_t *)"x", 1, pk) == -1);
}

/* The X25519 key derived from an Ed25519 secret matches the one derived
 * from its public key, so a node's identity doubles as its Noise static. */
TEST(ed_to_x_conversion)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t seed[32], pk[32], sk[64], xsk[32], xpk[32], xpk2[32];
    memset(seed, 7, 32);
    c->sign_keypair_seed(c->ctx, pk, sk, seed);
    CHECK(c->ed_sk_to_x(c->ctx, xsk, sk) == 0);
    CHECK(c->ed_pk_to_x(c->ctx, xpk, pk) == 0);
    c->dh_public(c->ctx, xpk2, xsk);
    CHECK(memcmp(xpk, xpk2, 32) == 0);
    /* A small-order Ed25519 point (the identity, y = 1) is refused. */
    uint8_t bad[32] = {1};
    CHECK(c->ed_pk_to_x(c->ctx, xpk, bad) == -1);
}

TEST(wipe_and_rand)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t buf[64], buf2[64];
    memset(buf, 0xaa, sizeof buf);
    c->wipe(c->ctx, buf, sizeof buf);
    for (size_t i = 0; i < sizeof buf; i++)
        CHECK(buf[i] == 0);
    weft_rand_os(NULL, buf, sizeof buf);
    weft_rand_os(NULL, buf2, sizeof buf2);
    CHECK(memcmp(buf, buf2, sizeof buf) != 0); /* 2^-512 false failure */
    CHECK(weft_crypto_sodium() == c);
}

/* Payloads of 4 KiB and more take libcrypto's code path (bulk_aead.c):
 * it must produce exactly libsodium's bytes, open what libsodium sealed and
 * the reverse, work in place, and reject tampering. */
TEST(aead_bulk_path_matches_libsodium)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t key[32], ad[13];
    CHECK(weft__bulk_available()); /* libcrypto (libssl3) is a dependency */
    for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 3 + 1);
    for (int i = 0; i < 13; i++) ad[i] = (uint8_t)i;
    static const size_t sizes[] = {4095, 4096, 4097, 65000 - 29};
    for (size_t k = 0; k < 4; k++) {
        size_t n = sizes[k];
        uint8_t *pt = malloc(n), *ct = malloc(n + 16), *ref = malloc(n + 16), *back = malloc(n + 16);
        REQUIRE(pt && ct && ref && back);
        for (size_t i = 0; i < n; i++) pt[i] = (uint8_t)(i * 7 + k);
        uint8_t npub[12] = {0};
        uint64_t nonce = 0x0102030405060708ULL + k;
        for (int i = 0; i < 8; i++) npub[4 + i] = (uint8_t)(nonce >> (8 * i));
        crypto_aead_chacha20poly1305_ietf_encrypt(ref, NULL, pt, n, ad, 13, NULL, npub, key);
        CHECK(c->aead_seal(c->ctx, ct, key, nonce, ad, 13, pt, n) == 0);
        CHECK(memcmp(ct, ref, n + 16) == 0);
        CHECK(c->aead_open(c->ctx, back, key, nonce, ad, 13, ref, n + 16) == 0);
        CHECK(memcmp(back, pt, n) == 0);
        /* in place */
        memcpy(back, pt, n);
        CHECK(c->aead_seal(c->ctx, back, key, nonce, ad, 13, back, n) == 0);
        CHECK(memcmp(back, ref, n + 16) == 0);
        CHECK(c->aead_open(c->ctx, back, key, nonce, ad, 13, back, n + 16) == 0);
        CHECK(memcmp(back, pt, n) == 0);
        /* tampering anywhere fails */
        ct[n / 2] ^= 1;
        CHECK(c->aead_open(c->ctx, back, key, nonce, ad, 13, ct, n + 16) == -1);
        ct[n / 2] ^= 1;
        ct[n + 15] ^= 0x80;
        CHECK(c->aead_open(c->ctx, back, key, nonce, ad, 13, ct, n + 16) == -1);
        ct[n + 15] ^= 0x80;
        CHECK(c->aead_open(c->ctx, back, key, nonce + 1, ad, 13, ct, n + 16) == -1);
        free(pt); free(ct); free(ref); free(back);
    }
}

int main(void)
{
    RUN(x25519_rfc7748);
    RUN(x25519_low_order_rejected);
    RUN(aead_rfc8439_a5);
    RUN(aead_bulk_path_matches_libsodium);
    RUN(blake2b_rfc7693);
    RUN(blake2b_keyed_kat);
    RUN(ed25519_rfc8032_test1);
    RUN(ed_to_x_conversion);
    RUN(wipe_and_rand);
    TEST_MAIN_END();
}
