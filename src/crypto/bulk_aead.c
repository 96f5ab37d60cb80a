/*
 * bulk_aead.c -- ChaCha20-Poly1305 for large packets through OpenSSL's
 * libcrypto (Debian libssl-dev).
 *
 * Why a second implementation of the same cipher: on this CPU class
 * libcrypto's assembly runs ChaCha20-Poly1305 at about 4.5 GB/s per core,
 * libsodium 1.0.18's at 1.2-1.45 GB/s (bench/experiments/aead_speed.c), and
 * bulk transfer on loopback is bounded by exactly this cost (80 % of CPU in
 * profiles, bench/README.md).  For small packets libsodium's simpler call
 * path is faster (about 3 us per round trip less), so sodium.c sends only
 * payloads of WEFT__BULK_AEAD_MIN bytes and more here.  The output is the
 * same RFC 8439 AEAD, byte for byte: the wire does not change, and
 * tests/unit/test_sodium.c checks both paths against the RFC vector and
 * against each other.
 *
 * One EVP context per thread, created on first use and reused (an EVP
 * context costs an allocation; the driver is single-threaded per node).
 */
#include <openssl/evp.h>
#include <string.h>

#include "crypto/bulk_aead.h"

static _Thread_local EVP_CIPHER_CTX *tls_ctx;

static EVP_CIPHER_CTX *ctx_get(void)
{
    if (!tls_ctx)
        tls_ctx = EVP_CIPHER_CTX_new();
    return tls_ctx;
}

int weft__bulk_seal(uint8_t *out, const uint8_t key[32], const uint8_t npub[12],
                    const uint8_t *ad, size_t adlen, const uint8_t *pt,
                    size_t ptlen)
{
    EVP_CIPHER_CTX *c = ctx_get();
    int l = 0, l2 = 0;
    if (!c || ptlen > (size_t)INT32_MAX || adlen > (size_t)INT32_MAX)
        return -1;
    if (EVP_EncryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, npub) != 1 ||
        (adlen && EVP_EncryptUpdate(c, NULL, &l, ad, (int)adlen) != 1) ||
        EVP_EncryptUpdate(c, out, &l, pt, (int)ptlen) != 1 ||
        EVP_EncryptFinal_ex(c, out + l, &l2) != 1 ||
        (size_t)l + (size_t)l2 != ptlen ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + ptlen) != 1)
        return -1;
    return 0;
}

int weft__bulk_open(uint8_t *out, const uint8_t key[32], const uint8_t npub[12],
                    const uint8_t *ad, size_t adlen, const uint8_t *ct,
                    size_t ctlen)
{
    EVP_CIPHER_CTX *c = ctx_get();
    int l = 0, l2 = 0;
    uint8_t tag[16];
    if (!c || ctlen < 16 || ctlen > (size_t)INT32_MAX || adlen > (size_t)INT32_MAX)
        return -1;
    /* the tag may be overwritten when decrypting in place: copy it first */
    memcpy(tag, ct + ctlen - 16, 16);
    if (EVP_DecryptInit_ex(c, EVP_chacha20_poly1305(), NULL, key, npub) != 1 ||
        (adlen && EVP_DecryptUpdate(c, NULL, &l, ad, (int)adlen) != 1) ||
        EVP_DecryptUpdate(c, out, &l, ct, (int)(ctlen - 16)) != 1 ||
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1 ||
        EVP_DecryptFinal_ex(c, out + l, &l2) != 1)
        return -1;
    return 0;
}
