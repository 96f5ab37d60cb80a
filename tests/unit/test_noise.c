/*
 * test_noise.c -- the Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b handshake
 * (src/core/noise.c) against the published cacophony test vector (as
 * shipped in mcginty/snow tests/vectors/cacophony.txt), plus the failure
 * behaviour weft relies on: a wrong network key (psk) is caught by the
 * responder at message 2, tampered messages fail, out-of-turn calls are
 * refused, and a failed read leaves the state usable.
 */
#include "test.h"

#include "core/noise.h"
#include "weft/crypto.h"
#include "weft/weft.h"

/* ---- cacophony vector: Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b ---------- */
static const char *V_PROLOGUE = "4a6f686e2047616c74";
static const char *V_PSK =
    "54686973206973206d7920417573747269616e20706572737065637469766521";
static const char *V_INIT_STATIC =
    "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
static const char *V_INIT_EPHEMERAL =
    "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
static const char *V_RESP_STATIC =
    "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
static const char *V_RESP_EPHEMERAL =
    "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
static const char *V_HANDSHAKE_HASH =
    "46b5997dfa51492ae9be5b611748455e83aebdbc2ea3c47d264ec6dd408cc076"
    "e962ff056890c60398fe3e7a430bbe057f34383a84df9ff99391266dcfd638b0";
static const struct {
    const char *payload, *ciphertext;
} V_MSG[6] = {
    {"4c756477696720766f6e204d69736573",
     "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
     "0aa831d1e3bbd16bd7ffda87e9f7b6eeca2510006499a573ac27af3392ed1b69"},
    {"4d757272617920526f746862617264",
     "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
     "81a78489d56c9e2ac962826f25684980b25244dbfd505b7d903a94d4f4fd8400"
     "4a1c7fbe94d686bc4c1f67259364f6f2a41cb40bf5198b9b3975be2cdd49d3e0"
     "65a554e12c477d82029fabc6555bc1"},
    {"462e20412e20486179656b",
     "291dfeff6eff386e29adb0bdbd5a1ae9e09de4449c8695d109adcb63e80e4895"
     "55792a3e9150eff75d6d45571f824ed231173cb66e31e7da914241f86d0cbb67"
     "8335ffe768a7445d2f5bc1"},
    {"4361726c204d656e676572",
     "6579dd60eb5e6a8b29dd60004289f5d3c2f69fcdbf683a869f59a8"},
    {"4a65616e2d426170746973746520536179",
     "24715fd39c3c7606e81b26e69e47b54d043d9d87c512f9417bae51ab48ebb17722"},
    {"457567656e2042f6686d20766f6e2042617765726b",
     "e49194a013d873712318643acbf0e3851086326bb168c500a766439ff543a7a1"
     "e2deb3215c"},
};

static uint8_t *hex(uint8_t *buf, size_t cap, const char *h, size_t *len)
{
    int n = test_unhex(buf, cap, h);
    *len = n < 0 ? 0 : (size_t)n;
    return buf;
}

/* Runs the vector: each handshake message written by one side must equal
 * the published ciphertext and read back by the other to the payload; then
 * the transport messages (alternating, responder first since the initiator
 * wrote the last handshake message) under the split keys. */
TEST(cacophony_vector)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft__noise_hs ini, res;
    uint8_t pro[16], psk[32], is[32], ie[32], rs[32], re[32], hh[64];
    uint8_t pl[64], ct[256], out[256], got[256];
    size_t prolen, n, ctlen;

    hex(pro, sizeof pro, V_PROLOGUE, &prolen);
    hex(psk, 32, V_PSK, &n);
    hex(is, 32, V_INIT_STATIC, &n);
    hex(ie, 32, V_INIT_EPHEMERAL, &n);
    hex(rs, 32, V_RESP_STATIC, &n);
    hex(re, 32, V_RESP_EPHEMERAL, &n);
    hex(hh, 64, V_HANDSHAKE_HASH, &n);

    REQUIRE(weft__noise_init(&ini, c, 1, pro, prolen, is, psk) == 0);
    REQUIRE(weft__noise_init(&res, c, 0, pro, prolen, rs, psk) == 0);

    for (int i = 0; i < 3; i++) {
        weft__noise_hs *w = i % 2 == 0 ? &ini : &res;
        weft__noise_hs *r = i % 2 == 0 ? &res : &ini;
        hex(pl, sizeof pl, V_MSG[i].payload, &n);
        hex(ct, sizeof ct, V_MSG[i].ciphertext, &ctlen);
        ptrdiff_t wl = weft__noise_write(w, i == 0 ? ie : re, pl, n, out,
                                         sizeof out);
        CHECK_EQ_INT(wl, ctlen);
        REQUIRE(wl == (ptrdiff_t)ctlen);
        CHECK(memcmp(out, ct, ctlen) == 0);
        ptrdiff_t rl = weft__noise_read(r, out, (size_t)wl, got, sizeof got);
        CHECK_EQ_INT(rl, n);
        REQUIRE(rl == (ptrdiff_t)n);
        CHECK(memcmp(got, pl, n) == 0);
    }
    REQUIRE(weft__noise_done(&ini) && weft__noise_done(&res));

    /* Each side learnt the other's static public key. */
    uint8_t is_pk[32], rs_pk[32];
    c->dh_public(c->ctx, is_pk, is);
    c->dh_public(c->ctx, rs_pk, rs);
    REQUIRE(weft__noise_remote_static(&ini) != NULL);
    REQUIRE(weft__noise_remote_static(&res) != NULL);
    CHECK(memcmp(weft__noise_remote_static(&ini), rs_pk, 32) == 0);
    CHECK(memcmp(weft__noise_remote_static(&res), is_pk, 32) == 0);

    uint8_t i_send[32], i_recv[32], r_send[32], r_recv[32], ih[64], rh[64];
    REQUIRE(weft__noise_split(&ini, i_send, i_recv, ih) == 0);
    REQUIRE(weft__noise_split(&res, r_send, r_recv, rh) == 0);
    CHECK(memcmp(ih, hh, 64) == 0);
    CHECK(memcmp(rh, hh, 64) == 0);
    CHECK(memcmp(i_send, r_recv, 32) == 0);
    CHECK(memcmp(i_recv, r_send, 32) == 0);
    CHECK(!weft__noise_done(&ini)); /* split wiped the state */

    /* Transport: msg 3 resp (n=0), msg 4 init (n=0), msg 5 resp (n=1). */
    uint64_t rn = 0, in = 0;
    for (int i = 3; i < 6; i++) {
        int from_resp = i % 2 == 1;
        hex(pl, sizeof pl, V_MSG[i].payload, &n);
        hex(ct, sizeof ct, V_MSG[i].ciphertext, &ctlen);
        REQUIRE(ctlen == n + 16);
        c->aead_seal(c->ctx, out, from_resp ? r_send : i_send,
                     from_resp ? rn : in, NULL, 0, pl, n);
        CHECK(memcmp(out, ct, ctlen) == 0);
        CHECK(c->aead_open(c->ctx, got, from_resp ? i_recv : r_recv,
                           from_resp ? rn : in, NULL, 0, ct, ctlen) == 0);
        CHECK(memcmp(got, pl, n) == 0);
        if (from_resp)
            rn++;
        else
            in++;
    }
}

/* ---- helpers for the behavioural tests -------------------------------- */

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + 7 * i);
}

static uint8_t IS[32], RS[32], IE[32], RE[32], PSK[32], PSK_BAD[32];

static void keys(void)
{
    fill(IS, 32, 1);
    fill(RS, 32, 2);
    fill(IE, 32, 3);
    fill(RE, 32, 4);
    fill(PSK, 32, 5);
    fill(PSK_BAD, 32, 5);
    PSK_BAD[31] ^= 1;
}

/* Full round trip with empty payloads and no prologue. */
TEST(round_trip_empty_payloads)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft__noise_hs a, b;
    uint8_t m[256], p[16];
    keys();
    REQUIRE(weft__noise_init(&a, c, 1, NULL, 0, IS, PSK) == 0);
    REQUIRE(weft__noise_init(&b, c, 0, NULL, 0, RS, PSK) == 0);
    ptrdiff_t l = weft__noise_write(&a, IE, NULL, 0, m, sizeof m);
    CHECK_EQ_INT(l, WEFT__NOISE_MSG0_OVERHEAD);
    CHECK_EQ_INT(weft__noise_read(&b, m, (size_t)l, p, sizeof p), 0);
    l = weft__noise_write(&b, RE, NULL, 0, m, sizeof m);
    CHECK_EQ_INT(l, WEFT__NOISE_MSG1_OVERHEAD);
    CHECK_EQ_INT(weft__noise_read(&a, m, (size_t)l, NULL, 0), 0);
    l = weft__noise_write(&a, NULL, NULL, 0, m, sizeof m);
    CHECK_EQ_INT(l, WEFT__NOISE_MSG2_OVERHEAD);
    CHECK_EQ_INT(weft__noise_read(&b, m, (size_t)l, p, sizeof p), 0);
    CHECK(weft__noise_done(&a) && weft__noise_done(&b));
    uint8_t as[32], ar[32], bs[32], br[32];
    REQUIRE(weft__noise_split(&a, as, ar, NULL) == 0);
    REQUIRE(weft__noise_split(&b, bs, br, NULL) == 0);
    CHECK(memcmp(as, br, 32) == 0 && memcmp(ar, bs, 32) == 0);
    CHECK(memcmp(as, ar, 32) != 0);
}

/* Wrong network key: with psk3 the initiator's read of message 1 still
 * succeeds (the psk is mixed only in message 2); the responder fails to
 * decrypt message 2. */
TEST(wrong_psk_fails_at_msg2_for_responder)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft__noise_hs a, b;
    uint8_t m[256], p[64];
    keys();
    REQUIRE(weft__noise_init(&a, c, 1, NULL, 0, IS, PSK_BAD) == 0);
    REQUIRE(weft__noise_init(&b, c, 0, NULL, 0, RS, PSK) == 0);
    ptrdiff_t l = weft__noise_write(&a, IE, (const uint8_t *)"hi", 2, m,
                                    sizeof m);
    REQUIRE(l > 0);
    CHECK_EQ_INT(weft__noise_read(&b, m, (size_t)l, p, sizeof p), 2);
    l = weft__noise_write(&b, RE, NULL, 0, m, sizeof m);
    REQUIRE(l > 0);
    CHECK_EQ_INT(weft__noise_read(&a, m, (size_t)l, p, sizeof p), 0);
    l = weft__noise_write(&a, NULL, NULL, 0, m, sizeof m);
    REQUIRE(l > 0);
    CHECK(weft__noise_done(&a));
    CHECK_EQ_INT(weft__noise_read(&b, m, (size_t)l, p, sizeof p),
                 WEFT_ERR_HANDSHAKE);
    CHECK(!weft__noise_done(&b));
    uint8_t ks[32], kr[32];
    CHECK_EQ_INT(weft__noise_split(&b, ks, kr, NULL), WEFT_ERR_STATE);
    weft__noise_wipe(&a);
    weft__noise_wipe(&b);
}

/* Different prologues (e.g. different protocol versions) also fail. */
TEST(prologue_mismatch_fails)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft__noise_hs a, b;
    uint8_t m[256], p[64];
    keys();
    REQUIRE(weft__noise_init(&a, c, 1, (const uint8_t *)"weft1", 5, IS,
                             PSK) == 0);
    REQUIRE(weft__noise_init(&b, c, 0, (const uint8_t *)"weft2", 5, RS,
                             PSK) == 0);
    ptrdiff_t l = weft__noise_write(&a, IE, NULL, 0, m, sizeof m);
    CHECK_EQ_INT(weft__noise_read(&b, m, (size_t)l, p, sizeof p),
                 WEFT_ERR_HANDSHAKE);
}

/* Every single-bit flip in every message is detected by its reader, and
 * a failed read leaves the reader's state intact: the genuine message is
 * then still accepted. */
TEST(tampered_messages_fail_and_state_survives)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft__noise_hs a, b;
    uint8_t m[256], bad[256], p[64];
    keys();
    REQUIRE(weft__noise_init(&a, c, 1, NULL, 0, IS, PSK) == 0);
    REQUIRE(weft__noise_init(&b, c, 0, NULL, 0, RS, PSK) == 0);
    const uint8_t *e_for[3] = {IE, RE, NULL};
    for (int i = 0; i < 3; i++) {
        weft__noise_hs *w = i % 2 == 0 ? &a : &b;
        weft__noise_hs *r = i % 2 == 0 ? &b : &a;
        ptrdiff_t l = weft__noise_write(w, e_for[i], (const uint8_t *)"xyz",
                                        3, m, sizeof m);
        REQUIRE(l > 0);
        int undetected = 0;
        for (size_t bit = 0; bit < (size_t)l * 8; bit++) {
            memcpy(bad, m, (size_t)l);
            bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            if (weft__noise_read(r, bad, (size_t)l, p, sizeof p) !=
                WEFT_ERR_HANDSHAKE)
                undetected++;
        }
        /* Flipping the top bit of an X25519 key (bytes 0..31 in msgs 0
         * and 1 carry `e`) is ignored by X25519 (RFC 7748 §5 masks it),
         * but the key is hashed as sent, so even that changes h and the
         * AEAD fails. */
        CHECK_EQ_INT(undetected, 0);
        /* Truncated and extended messages fail too. */
        CHECK(weft__noise_read(r, m, (size_t)l - 1, p, sizeof p) < 0);
        memcpy(bad, m, (size_t)l);
        bad[l] = 0;
        CHECK(weft__noise_read(r, bad, (size_t)l + 1, p, sizeof p) < 0);
        CHECK_EQ_INT(weft__noise_read(r, m, (size_t)l, p, sizeof p), 3);
        CHECK(memcmp(p, "xyz", 3) == 0);
    }
    CHECK(weft__noise_done(&a) && weft__noise_done(&b));
}

/* Out-of-turn calls, too-short messages and small buffers. */
TEST(state_and_length_errors)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft__noise_hs a, b;
    uint8_t m[256], p[64];
    keys();
    REQUIRE(weft__noise_init(&a, c, 1, NULL, 0, IS, PSK) == 0);
    REQUIRE(weft__noise_init(&b, c, 0, NULL, 0, RS, PSK) == 0);
    CHECK_EQ_INT(weft__noise_init(&a, NULL, 1, NULL, 0, IS, PSK),
                 WEFT_ERR_INVAL);
    REQUIRE(weft__noise_init(&a, c, 1, NULL, 0, IS, PSK) == 0);

    /* Responder may not write first; initiator may not read first. */
    CHECK_EQ_INT(weft__noise_write(&b, RE, NULL, 0, m, sizeof m),
                 WEFT_ERR_STATE);
    CHECK_EQ_INT(weft__noise_read(&a, m, 48, p, sizeof p), WEFT_ERR_STATE);
    /* e token needs an ephemeral key. */
    CHECK_EQ_INT(weft__noise_write(&a, NULL, NULL, 0, m, sizeof m),
                 WEFT_ERR_INVAL);
    /* Buffer too small leaves the state untouched. */
    CHECK_EQ_INT(weft__noise_write(&a, IE, NULL, 0, m, 47),
                 WEFT_ERR_BUFSMALL);
    CHECK_EQ_INT(weft__noise_write(&a, IE, m, WEFT__NOISE_MAX_MSG, m,
                                   sizeof m),
                 WEFT_ERR_TOO_BIG);
    ptrdiff_t l = weft__noise_write(&a, IE, (const uint8_t *)"abcd", 4, m,
                                    sizeof m);
    REQUIRE(l == 52);
    /* Initiator cannot write twice in a row. */
    CHECK_EQ_INT(weft__noise_write(&a, IE, NULL, 0, m + 100, 100),
                 WEFT_ERR_STATE);
    CHECK_EQ_INT(weft__noise_read(&b, m, 47, p, sizeof p), WEFT_ERR_PROTO);
    CHECK_EQ_INT(weft__noise_read(&b, m, 0, p, sizeof p), WEFT_ERR_PROTO);
    CHECK_EQ_INT(weft__noise_read(&b, m, (size_t)l, p, 3), WEFT_ERR_BUFSMALL);
    CHECK_EQ_INT(weft__noise_read(&b, m, (size_t)l, p, sizeof p), 4);
    /* Responder cannot read again before writing. */
    CHECK_EQ_INT(weft__noise_read(&b, m, (size_t)l, p, sizeof p),
                 WEFT_ERR_STATE);
    uint8_t k1[32], k2[32];
    CHECK_EQ_INT(weft__noise_split(&a, k1, k2, NULL), WEFT_ERR_STATE);
    CHECK(weft__noise_remote_static(&b) == NULL);

    /* After wipe nothing works. */
    weft__noise_wipe(&b);
    CHECK_EQ_INT(weft__noise_write(&b, RE, NULL, 0, m, sizeof m),
                 WEFT_ERR_STATE);
    CHECK_EQ_INT(weft__noise_read(&b, m, (size_t)l, p, sizeof p),
                 WEFT_ERR_STATE);
}

/* A low-order peer ephemeral (here the all-zero point) must fail the
 * handshake rather than produce a predictable key (Noise §12.1). */
TEST(low_order_ephemeral_rejected)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft__noise_hs a, b;
    uint8_t m[256], p[64], m1[256];
    keys();
    REQUIRE(weft__noise_init(&a, c, 1, NULL, 0, IS, PSK) == 0);
    REQUIRE(weft__noise_init(&b, c, 0, NULL, 0, RS, PSK) == 0);
    ptrdiff_t l = weft__noise_write(&a, IE, NULL, 0, m, sizeof m);
    REQUIRE(l > 0);
    REQUIRE(weft__noise_read(&b, m, (size_t)l, p, sizeof p) == 0);
    l = weft__noise_write(&b, RE, NULL, 0, m1, sizeof m1);
    REQUIRE(l > 0);
    memset(m1, 0, 32); /* replace the responder's e with a zero point */
    CHECK_EQ_INT(weft__noise_read(&a, m1, (size_t)l, p, sizeof p),
                 WEFT_ERR_HANDSHAKE);
}

/* HKDF with n = 3 extends n = 2 (same first two outputs), and outputs
 * differ from each other. */
TEST(hkdf_shape)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t ck[64], a1[64], a2[64], b1[64], b2[64], b3[64];
    fill(ck, 64, 9);
    weft__noise_hkdf(c, ck, (const uint8_t *)"ikm", 3, 2, a1, a2, NULL);
    weft__noise_hkdf(c, ck, (const uint8_t *)"ikm", 3, 3, b1, b2, b3);
    CHECK(memcmp(a1, b1, 64) == 0 && memcmp(a2, b2, 64) == 0);
    CHECK(memcmp(b1, b2, 64) != 0 && memcmp(b2, b3, 64) != 0);
    /* Output may alias the chaining key (MixKey replaces ck in place). */
    weft__noise_hkdf(c, ck, (const uint8_t *)"ikm", 3, 2, ck, a2, NULL);
    CHECK(memcmp(ck, b1, 64) == 0);
}

/* Arguments that cannot be right are refused before any state moves. */
TEST(invalid_arguments_are_refused)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft__noise_hs a;
    uint8_t m[256], p[64], k1[32], k2[32];
    keys();
    REQUIRE(weft__noise_init(&a, c, 1, NULL, 0, IS, PSK) == 0);
    CHECK_EQ_INT(weft__noise_write(NULL, IE, NULL, 0, m, sizeof m), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__noise_write(&a, IE, NULL, 4, m, sizeof m), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__noise_write(&a, IE, NULL, 0, NULL, sizeof m), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__noise_read(NULL, m, 48, p, sizeof p), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__noise_read(&a, NULL, 48, p, sizeof p), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__noise_read(&a, m, 48, NULL, sizeof p), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__noise_split(NULL, k1, k2, NULL), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__noise_split(&a, NULL, k2, NULL), WEFT_ERR_INVAL);
    CHECK(weft__noise_remote_static(NULL) == NULL);
    weft__noise_wipe(NULL); /* no crash */
    /* still usable after all that */
    CHECK_EQ_INT(weft__noise_write(&a, IE, NULL, 0, m, sizeof m), WEFT__NOISE_MSG0_OVERHEAD);
}

/* A crypto whose dh_public gives the zero point for one secret: what an
 * initiator that picks a low-order ephemeral sends. */
static weft_crypto zero_point;
static uint8_t ZERO_SK[32];
static void zero_dh_public(void *ctx, uint8_t pk[32], const uint8_t sk[32])
{
    if (memcmp(sk, ZERO_SK, 32) == 0)
        memset(pk, 0, 32);
    else
        weft_crypto_sodium()->dh_public(ctx, pk, sk);
}

/* The responder's ee step fails on a low-order initiator ephemeral: msg2
 * is not written, and nothing is committed (Noise §12.1). */
TEST(a_low_order_initiator_ephemeral_fails_the_responders_write)
{
    const weft_crypto *c = weft_crypto_sodium();
    zero_point = *c;
    zero_point.dh_public = zero_dh_public;
    memset(ZERO_SK, 0x99, 32);
    weft__noise_hs a, b;
    uint8_t m[256], p[64], m2[256];
    keys();
    REQUIRE(weft__noise_init(&a, &zero_point, 1, NULL, 0, IS, PSK) == 0);
    REQUIRE(weft__noise_init(&b, c, 0, NULL, 0, RS, PSK) == 0);
    ptrdiff_t l = weft__noise_write(&a, ZERO_SK, NULL, 0, m, sizeof m);
    REQUIRE(l == WEFT__NOISE_MSG0_OVERHEAD);
    static const uint8_t zero[32];
    REQUIRE(memcmp(m, zero, 32) == 0);
    /* msg1 itself carries no DH: it reads */
    REQUIRE(weft__noise_read(&b, m, (size_t)l, p, sizeof p) == 0);
    /* ee with the zero point fails: no msg2, and the output is wiped */
    memset(m2, 0xee, sizeof m2);
    CHECK_EQ_INT(weft__noise_write(&b, RE, NULL, 0, m2, sizeof m2), WEFT_ERR_HANDSHAKE);
    CHECK(memcmp(m2, zero, 32) == 0);
    /* the state did not move: it is still the responder's turn to write,
     * and it fails the same way */
    CHECK_EQ_INT(weft__noise_write(&b, RE, NULL, 0, m2, sizeof m2), WEFT_ERR_HANDSHAKE);
    CHECK_EQ_INT(weft__noise_read(&b, m, (size_t)l, p, sizeof p), WEFT_ERR_STATE);
}

int main(void)
{
    RUN(cacophony_vector);
    RUN(round_trip_empty_payloads);
    RUN(wrong_psk_fails_at_msg2_for_responder);
    RUN(prologue_mismatch_fails);
    RUN(tampered_messages_fail_and_state_survives);
    RUN(state_and_length_errors);
    RUN(low_order_ephemeral_rejected);
    RUN(hkdf_shape);
    RUN(invalid_arguments_are_refused);
    RUN(a_low_order_initiator_ephemeral_fails_the_responders_write);
    TEST_MAIN_END();
}
