/*
 * crypto.h -- the crypto interface the sans-IO core draws on.
 *
 * The core includes no crypto library.  It calls these primitives through
 * a vtable.  weft_crypto_sodium() (libweft, src/crypto/sodium.c) implements
 * them with libsodium; the simulator also offers a documented fast, insecure
 * variant for very large runs (weft_sim_fast_crypto()).
 *
 * Primitives follow the Noise Protocol Framework rev 34 (§4, §12):
 * DH = X25519, cipher = ChaCha20-Poly1305 (IETF, 96-bit nonce = 32 zero
 * bits || 64-bit little-endian counter), hash = BLAKE2b with 64-byte output.
 * Identity signatures are Ed25519.
 */
#ifndef WEFT_CRYPTO_H
#define WEFT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <weft/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_DH_BYTES 32
#define WEFT_KEY_BYTES 32
#define WEFT_TAG_BYTES 16
#define WEFT_HASH_BYTES 64
#define WEFT_SIG_BYTES 64
#define WEFT_SIGN_SK_BYTES 64

typedef struct weft_iov {
    const void *base;
    size_t len;
} weft_iov;

typedef struct weft_crypto {
    void *ctx;
    /* pk = X25519(sk, basepoint). */
    void (*dh_public)(void *ctx, uint8_t pk[32], const uint8_t sk[32]);
    /* out = X25519(sk, pk).  Returns 0, or -1 when the result is all-zero
     * (low-order point): the caller must then fail the handshake. */
    int (*dh)(void *ctx, uint8_t out[32], const uint8_t sk[32],
              const uint8_t pk[32]);
    /* ChaCha20-Poly1305 IETF.  out receives ptlen + 16 bytes; out may
     * equal pt (in place).  Returns 0. */
    int (*aead_seal)(void *ctx, uint8_t *out, const uint8_t key[32],
                     uint64_t nonce, const uint8_t *ad, size_t adlen,
                     const uint8_t *pt, size_t ptlen);
    /* Opens ct (ctlen >= 16) into out (ctlen - 16 bytes, may equal ct).
     * Returns 0, or -1 when authentication fails (out is then garbage). */
    int (*aead_open)(void *ctx, uint8_t *out, const uint8_t key[32],
                     uint64_t nonce, const uint8_t *ad, size_t adlen,
                     const uint8_t *ct, size_t ctlen);
    /* BLAKE2b-512 of the concatenation of iov[0..n). */
    void (*hash)(void *ctx, uint8_t out[64], const weft_iov *iov, size_t n);
    /* Keyed BLAKE2b (key 1..64 bytes) with outlen 16..64: a MAC. */
    void (*mac)(void *ctx, uint8_t *out, size_t outlen, const uint8_t *key,
                size_t keylen, const weft_iov *iov, size_t n);
    /* Ed25519 detached signature with sk = seed || public key. */
    void (*sign)(void *ctx, uint8_t sig[64], const uint8_t *msg, size_t len,
                 const uint8_t sk[64]);
    /* Returns 0 when sig is a valid signature of msg by pk, else -1. */
    int (*verify)(void *ctx, const uint8_t sig[64], const uint8_t *msg,
                  size_t len, const uint8_t pk[32]);
    /* Ed25519 -> X25519 conversions (RFC 7748 birational map).
     * Return 0, or -1 for an invalid key. */
    int (*ed_pk_to_x)(void *ctx, uint8_t xpk[32], const uint8_t edpk[32]);
    int (*ed_sk_to_x)(void *ctx, uint8_t xsk[32], const uint8_t edsk[64]);
    /* Ed25519 key pair from a 32-byte seed. */
    void (*sign_keypair_seed)(void *ctx, uint8_t pk[32], uint8_t sk[64],
                              const uint8_t seed[32]);
    /* Zeroes n bytes in a way the compiler may not elide. */
    void (*wipe)(void *ctx, void *p, size_t n);
} weft_crypto;

/* The libsodium implementation (calls sodium_init() once; thread-safe). */
WEFT_EXTERN const weft_crypto *weft_crypto_sodium(void);

/* Fills buf from the OS CSPRNG (libsodium randombytes); a weft_rand.fill. */
WEFT_EXTERN void weft_rand_os(void *ctx, uint8_t *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_CRYPTO_H */
