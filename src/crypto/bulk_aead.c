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
 * Open failures other than a bad tag cannot be told apart from one; both
 * drop the packet, as a bad tag would.
 */
#include <dlfcn.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#include "crypto/bulk_aead.h"

/*
 * libcrypto is loaded with dlopen on the first bulk packet, not linked:
 * merely linking it costs every process ~1.4 MB of resident memory
 * (relocations and start-up), which idle membership-only nodes should not
 * pay.  When it cannot be loaded, sodium.c falls back to libsodium.
 */
static struct {
    EVP_CIPHER_CTX *(*ctx_new)(void);
    const EVP_CIPHER *(*chacha)(void);
    int (*enc_init)(EVP_CIPHER_CTX *, const EVP_CIPHER *, ENGINE *,
                    const unsigned char *, const unsigned char *);
    int (*enc_update)(EVP_CIPHER_CTX *, unsigned char *, int *,
                      const unsigned char *, int);
    int (*enc_final)(EVP_CIPHER_CTX *, unsigned char *, int *);
    int (*dec_init)(EVP_CIPHER_CTX *, const EVP_CIPHER *, ENGINE *,
                    const unsigned char *, const unsigned char *);
    int (*dec_update)(EVP_CIPHER_CTX *, unsigned char *, int *,
                      const unsigned char *, int);
    int (*dec_final)(EVP_CIPHER_CTX *, unsigned char *, int *);
    int (*ctrl)(EVP_CIPHER_CTX *, int, int, void *);
    int ok;
} lc;

static pthread_once_t lc_once = PTHREAD_ONCE_INIT;

static void lc_load(void)
{
    void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return;
#define SYM(field, name)                                                       \
    do {                                                                       \
        *(void **)&lc.field = dlsym(h, name);                                  \
        if (!lc.field)                                                         \
            return;                                                            \
    } while (0)
    SYM(ctx_new, "EVP_CIPHER_CTX_new");
    SYM(chacha, "EVP_chacha20_poly1305");
    SYM(enc_init, "EVP_EncryptInit_ex");
    SYM(enc_update, "EVP_EncryptUpdate");
    SYM(enc_final, "EVP_EncryptFinal_ex");
    SYM(dec_init, "EVP_DecryptInit_ex");
    SYM(dec_update, "EVP_DecryptUpdate");
    SYM(dec_final, "EVP_DecryptFinal_ex");
    SYM(ctrl, "EVP_CIPHER_CTX_ctrl");
#undef SYM
    lc.ok = 1;
}

static _Thread_local EVP_CIPHER_CTX *tls_ctx;

static EVP_CIPHER_CTX *ctx_get(void)
{
    pthread_once(&lc_once, lc_load);
    if (!lc.ok)
        return NULL;
    if (!tls_ctx)
        tls_ctx = lc.ctx_new();
    return tls_ctx;
}

int weft__bulk_available(void)
{
    pthread_once(&lc_once, lc_load);
    return lc.ok;
}

int weft__bulk_seal(uint8_t *out, const uint8_t key[32], const uint8_t npub[12],
                    const uint8_t *ad, size_t adlen, const uint8_t *pt,
                    size_t ptlen)
{
    EVP_CIPHER_CTX *c = ctx_get();
    int l = 0, l2 = 0;
    if (!c || ptlen > (size_t)INT32_MAX || adlen > (size_t)INT32_MAX)
        return -1;
    if (lc.enc_init(c, lc.chacha(), NULL, key, npub) != 1 ||
        (adlen && lc.enc_update(c, NULL, &l, ad, (int)adlen) != 1) ||
        lc.enc_update(c, out, &l, pt, (int)ptlen) != 1 ||
        lc.enc_final(c, out + l, &l2) != 1 ||
        (size_t)l + (size_t)l2 != ptlen ||
        lc.ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + ptlen) != 1)
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
    if (lc.dec_init(c, lc.chacha(), NULL, key, npub) != 1 ||
        (adlen && lc.dec_update(c, NULL, &l, ad, (int)adlen) != 1) ||
        lc.dec_update(c, out, &l, ct, (int)(ctlen - 16)) != 1 ||
        lc.ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1 ||
        lc.dec_final(c, out + l, &l2) != 1)
        return -1;
    return 0;
}
