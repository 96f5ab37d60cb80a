/*
 * sodium.c -- the libsodium implementation of struct weft_crypto
 * (include/weft/crypto.h) and the OS random source weft_rand_os().
 *
 * The primitives are those of Noise rev 34 §12 plus Ed25519 identities:
 *   DH      X25519 (crypto_scalarmult), all-zero output rejected (§12.1:
 *           a low-order peer key must fail the handshake, not yield a
 *           predictable shared secret);
 *   cipher  ChaCha20-Poly1305 IETF; the 96-bit nonce is 4 zero bytes
 *           followed by the 64-bit counter in little endian (§12.3);
 *   hash    BLAKE2b with 64-byte output (§12.8), fed part by part from an
 *           iov so callers never concatenate into scratch buffers;
 *   mac     keyed BLAKE2b;
 *   sign    Ed25519 (RFC 8032), with the RFC 7748 birational map to X25519.
 * This is a driver-level file: only here (and src/platform) may libsodium be
 * included; the sans-IO core sees the vtable alone.
 */
#include <sodium.h>
#include <string.h>

#include "crypto/bulk_aead.h"
#include "weft/crypto.h"

/* Noise §12.3: nonce = 32 zero bits || LE64(n). */
static void noise_nonce(uint8_t out[12], uint64_t n)
{
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)(n >> (8 * i));
}

static void s_dh_public(void *ctx, uint8_t pk[32], const uint8_t sk[32])
{
    (void)ctx;
    crypto_scalarmult_base(pk, sk);
}

/* crypto_scalarmult already returns -1 for an all-zero result; we check
 * again with sodium_is_zero so the contract does not hinge on that. */
static int s_dh(void *ctx, uint8_t out[32], const uint8_t sk[32],
                const uint8_t pk[32])
{
    (void)ctx;
    if (crypto_scalarmult(out, sk, pk) != 0 || sodium_is_zero(out, 32)) {
        sodium_memzero(out, 32);
        return -1;
    }
    return 0;
}

static int s_aead_seal(void *ctx, uint8_t *out, const uint8_t key[32],
                       uint64_t nonce, const uint8_t *ad, size_t adlen,
                       const uint8_t *pt, size_t ptlen)
{
    uint8_t npub[12];
    (void)ctx;
    noise_nonce(npub, nonce);
    /* large payloads: the faster libcrypto code path, same bytes out */
    if (ptlen >= WEFT__BULK_AEAD_MIN &&
        weft__bulk_seal(out, key, npub, ad, adlen, pt, ptlen) == 0)
        return 0;
    crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, ptlen, ad, adlen,
                                              NULL, npub, key);
    return 0;
}

static int s_aead_open(void *ctx, uint8_t *out, const uint8_t key[32],
                       uint64_t nonce, const uint8_t *ad, size_t adlen,
                       const uint8_t *ct, size_t ctlen)
{
    uint8_t npub[12];
    (void)ctx;
    if (ctlen < crypto_aead_chacha20poly1305_ietf_ABYTES)
        return -1;
    noise_nonce(npub, nonce);
    if (ctlen - crypto_aead_chacha20poly1305_ietf_ABYTES >= WEFT__BULK_AEAD_MIN &&
        weft__bulk_available())
        return weft__bulk_open(out, key, npub, ad, adlen, ct, ctlen);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, ctlen,
                                                  ad, adlen, npub, key) != 0)
        return -1;
    return 0;
}

static void s_hash(void *ctx, uint8_t out[64], const weft_iov *iov, size_t n)
{
    crypto_generichash_state st;
    (void)ctx;
    crypto_generichash_init(&st, NULL, 0, 64);
    for (size_t i = 0; i < n; i++)
        crypto_generichash_update(&st, iov[i].base, iov[i].len);
    crypto_generichash_final(&st, out, 64);
    sodium_memzero(&st, sizeof st);
}

static void s_mac(void *ctx, uint8_t *out, size_t outlen, const uint8_t *key,
                  size_t keylen, const weft_iov *iov, size_t n)
{
    crypto_generichash_state st;
    (void)ctx;
    crypto_generichash_init(&st, key, keylen, outlen);
    for (size_t i = 0; i < n; i++)
        crypto_generichash_update(&st, iov[i].base, iov[i].len);
    crypto_generichash_final(&st, out, outlen);
    sodium_memzero(&st, sizeof st);
}

static void s_sign(void *ctx, uint8_t sig[64], const uint8_t *msg, size_t len,
                   const uint8_t sk[64])
{
    (void)ctx;
    crypto_sign_detached(sig, NULL, msg, len, sk);
}

static int s_verify(void *ctx, const uint8_t sig[64], const uint8_t *msg,
                    size_t len, const uint8_t pk[32])
{
    (void)ctx;
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0 ? 0 : -1;
}

static int s_ed_pk_to_x(void *ctx, uint8_t xpk[32], const uint8_t edpk[32])
{
    (void)ctx;
    return crypto_sign_ed25519_pk_to_curve25519(xpk, edpk) == 0 ? 0 : -1;
}

static int s_ed_sk_to_x(void *ctx, uint8_t xsk[32], const uint8_t edsk[64])
{
    (void)ctx;
    return crypto_sign_ed25519_sk_to_curve25519(xsk, edsk) == 0 ? 0 : -1;
}

static void s_sign_keypair_seed(void *ctx, uint8_t pk[32], uint8_t sk[64],
                                const uint8_t seed[32])
{
    (void)ctx;
    crypto_sign_seed_keypair(pk, sk, seed);
}

static void s_wipe(void *ctx, void *p, size_t n)
{
    (void)ctx;
    sodium_memzero(p, n);
}

static const weft_crypto sodium_crypto = {
    .ctx = NULL,
    .dh_public = s_dh_public,
    .dh = s_dh,
    .aead_seal = s_aead_seal,
    .aead_open = s_aead_open,
    .hash = s_hash,
    .mac = s_mac,
    .sign = s_sign,
    .verify = s_verify,
    .ed_pk_to_x = s_ed_pk_to_x,
    .ed_sk_to_x = s_ed_sk_to_x,
    .sign_keypair_seed = s_sign_keypair_seed,
    .wipe = s_wipe,
};

/*
 * sodium_init() is itself thread-safe and idempotent (returns 1 once
 * initialised), so calling it on every entry costs one atomic check and
 * needs no once-flag of our own.  Never returns NULL: if libsodium cannot
 * initialise (no usable entropy source) we abort via sodium_misuse(), since
 * no caller could continue securely and a NULL would only crash later.
 */
const weft_crypto *weft_crypto_sodium(void)
{
    if (sodium_init() < 0)
        sodium_misuse();
    return &sodium_crypto;
}

void weft_rand_os(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    /* randombytes_buf would initialise lazily too, but sodium_init first
     * makes the choice of generator explicit and thread-safe. */
    if (sodium_init() < 0)
        sodium_misuse(); /* aborts: never hand out non-random bytes */
    randombytes_buf(buf, len);
}
