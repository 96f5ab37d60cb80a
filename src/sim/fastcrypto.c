/*
 * fastcrypto.c -- weft_sim_fast_crypto(): an INSECURE stand-in for the
 * crypto vtable of include/weft/crypto.h, for very large simulations only.
 *
 * Real X25519 + ChaCha20-Poly1305 + BLAKE2b + Ed25519 dominate the CPU time
 * of a 10,000-node run.  This backend keeps every size and every contract
 * that the core relies on -- DH agreement, AEAD open failing on a wrong key
 * or a flipped bit, hash and MAC determinism, sign/verify agreement,
 * Ed25519 -> X25519 conversion agreeing with dh_public -- so wire formats
 * and code paths are unchanged, but it offers NO security at all:
 *
 *   - the X25519 "public key" is the secret XOR a constant, and DH is a hash
 *     of sk XOR pk XOR constant (symmetric, so both sides agree);
 *   - AEAD does not encrypt (ciphertext = plaintext); the tag is a keyed
 *     128-bit non-cryptographic checksum over (key, nonce, ad, pt);
 *   - hash/MAC are a 128-bit-state multiply-rotate hash expanded to 64 bytes;
 *   - a "signature" is a hash of (public key, message): anyone can forge it.
 *
 * Never link it into anything that touches a real network.
 */
#include <string.h>

#include "weft/sim.h"

#define K1 0x9e3779b97f4a7c15ull
#define K2 0xc2b2ae3d27d4eb4full
#define K3 0x165667b19e3779f9ull
#define K4 0x27d4eb2f165667c5ull

/* The "basepoint": pk = sk XOR XPK. */
static const uint8_t XPK = 0x5a;

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* MurmurHash3 finaliser: full avalanche of one word. */
static uint64_t fmix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* Streaming two-lane hash state; bytes are consumed 8 at a time. */
typedef struct fh {
    uint64_t a, b, total;
    uint8_t tail[8];
    size_t ntail;
} fh;

static uint64_t load64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void fh_word(fh *h, uint64_t w)
{
    h->a = rotl(h->a ^ (w * K1), 31) * K2;
    h->b = (rotl(h->b ^ (w * K3), 27) + h->a) * K4;
}

static void fh_init(fh *h, uint64_t domain)
{
    h->a = fmix(domain ^ K3);
    h->b = fmix(domain + K4);
    h->total = 0;
    h->ntail = 0;
}

static void fh_update(fh *h, const void *data, size_t len)
{
    const uint8_t *p = data;
    h->total += len;
    while (h->ntail && len) {
        h->tail[h->ntail++] = *p++;
        len--;
        if (h->ntail == 8) {
            fh_word(h, load64(h->tail));
            h->ntail = 0;
        }
    }
    for (; len >= 8; p += 8, len -= 8)
        fh_word(h, load64(p));
    if (len)
        memcpy(h->tail, p, len);
    h->ntail = len;
}

/* Absorbs a length-prefixed field, so (ab, c) and (a, bc) differ. */
static void fh_field(fh *h, const void *data, size_t len)
{
    uint8_t l[8];
    for (int i = 0; i < 8; i++)
        l[i] = (uint8_t)((uint64_t)len >> (8 * i));
    fh_update(h, l, 8);
    fh_update(h, data, len);
}

/* Finishes into outlen (<= 64) bytes. */
static void fh_final(fh *h, uint8_t *out, size_t outlen)
{
    uint64_t last = 0;
    for (size_t i = 0; i < h->ntail; i++)
        last |= (uint64_t)h->tail[i] << (8 * i);
    fh_word(h, last ^ ((uint64_t)h->ntail << 56));
    uint64_t a = fmix(h->a ^ h->total), b = fmix(h->b + h->total + a);
    a = fmix(a + b);
    for (size_t lane = 0; lane * 8 < outlen; lane++) {
        uint64_t v = fmix(a + lane * K1) ^ fmix(rotl(b, (int)(lane * 8 + 1)) + lane);
        for (size_t j = 0; j < 8 && lane * 8 + j < outlen; j++)
            out[lane * 8 + j] = (uint8_t)(v >> (8 * j));
    }
}

static void f_dh_public(void *ctx, uint8_t pk[32], const uint8_t sk[32])
{
    for (int i = 0; i < 32; i++)
        pk[i] = sk[i] ^ XPK;
}

static int f_dh(void *ctx, uint8_t out[32], const uint8_t sk[32],
                const uint8_t pk[32])
{
    uint8_t x[32], acc = 0;
    for (int i = 0; i < 32; i++)
        acc |= pk[i];
    if (!acc) { /* the all-zero "low-order point" still fails, as in X25519 */
        memset(out, 0, 32);
        return -1;
    }
    /* sk_a ^ pk_b ^ XPK == sk_a ^ sk_b == sk_b ^ pk_a ^ XPK: both agree. */
    for (int i = 0; i < 32; i++)
        x[i] = sk[i] ^ pk[i] ^ XPK;
    fh h;
    fh_init(&h, 0xd1);
    fh_update(&h, x, 32);
    fh_final(&h, out, 32);
    return 0;
}

static void aead_tag(uint8_t tag[16], const uint8_t key[32], uint64_t nonce,
                     const uint8_t *ad, size_t adlen, const uint8_t *pt,
                     size_t ptlen)
{
    fh h;
    fh_init(&h, 0xae ^ nonce * K2);
    fh_field(&h, key, 32);
    fh_field(&h, ad, adlen);
    fh_field(&h, pt, ptlen);
    fh_final(&h, tag, 16);
}

static int f_seal(void *ctx, uint8_t *out, const uint8_t key[32],
                  uint64_t nonce, const uint8_t *ad, size_t adlen,
                  const uint8_t *pt, size_t ptlen)
{
    uint8_t tag[16];
    aead_tag(tag, key, nonce, ad, adlen, pt, ptlen);
    if (ptlen) /* an empty payload may come as NULL (Noise msg1) */
        memmove(out, pt, ptlen);
    memcpy(out + ptlen, tag, 16);
    return 0;
}

static int f_open(void *ctx, uint8_t *out, const uint8_t key[32],
                  uint64_t nonce, const uint8_t *ad, size_t adlen,
                  const uint8_t *ct, size_t ctlen)
{
    uint8_t tag[16], diff = 0;
    if (ctlen < 16)
        return -1;
    aead_tag(tag, key, nonce, ad, adlen, ct, ctlen - 16);
    for (int i = 0; i < 16; i++)
        diff |= tag[i] ^ ct[ctlen - 16 + i];
    memmove(out, ct, ctlen - 16);
    return diff ? -1 : 0;
}

static void f_hash(void *ctx, uint8_t out[64], const weft_iov *iov, size_t n)
{
    fh h;
    fh_init(&h, 0x4a);
    for (size_t i = 0; i < n; i++)
        fh_update(&h, iov[i].base, iov[i].len);
    fh_final(&h, out, 64);
}

static void f_mac(void *ctx, uint8_t *out, size_t outlen, const uint8_t *key,
                  size_t keylen, const weft_iov *iov, size_t n)
{
    fh h;
    if (outlen > 64)
        outlen = 64;
    fh_init(&h, 0x3ac0 + outlen); /* like BLAKE2b, outlen changes the output */
    fh_field(&h, key, keylen);
    for (size_t i = 0; i < n; i++)
        fh_update(&h, iov[i].base, iov[i].len);
    fh_final(&h, out, outlen);
}

static void sig_of(uint8_t sig[64], const uint8_t *msg, size_t len,
                   const uint8_t pk[32])
{
    fh h;
    fh_init(&h, 0x5161);
    fh_field(&h, pk, 32);
    fh_field(&h, msg, len);
    fh_final(&h, sig, 64);
}

static void f_sign(void *ctx, uint8_t sig[64], const uint8_t *msg, size_t len,
                   const uint8_t sk[64])
{
    sig_of(sig, msg, len, sk + 32); /* sk = seed || pk */
}

static int f_verify(void *ctx, const uint8_t sig[64], const uint8_t *msg,
                    size_t len, const uint8_t pk[32])
{
    uint8_t want[64], diff = 0;
    sig_of(want, msg, len, pk);
    for (int i = 0; i < 64; i++)
        diff |= want[i] ^ sig[i];
    return diff ? -1 : 0;
}

/* X25519 secret := the Ed25519 public key (!), X25519 public := that XOR
 * XPK, so dh_public(ed_sk_to_x(sk)) == ed_pk_to_x(pk) as with the real
 * birational map. */
static int f_ed_pk_to_x(void *ctx, uint8_t xpk[32], const uint8_t edpk[32])
{
    uint8_t acc = 0;
    for (int i = 0; i < 32; i++)
        acc |= edpk[i];
    if (!acc)
        return -1;
    for (int i = 0; i < 32; i++)
        xpk[i] = edpk[i] ^ XPK;
    return 0;
}

static int f_ed_sk_to_x(void *ctx, uint8_t xsk[32], const uint8_t edsk[64])
{
    memcpy(xsk, edsk + 32, 32);
    return 0;
}

static void f_keypair(void *ctx, uint8_t pk[32], uint8_t sk[64],
                      const uint8_t seed[32])
{
    fh h;
    uint8_t p[32];
    fh_init(&h, 0x9c);
    fh_update(&h, seed, 32);
    fh_final(&h, p, 32);
    memcpy(sk, seed, 32);
    memcpy(sk + 32, p, 32);
    memcpy(pk, p, 32);
}

static void f_wipe(void *ctx, void *p, size_t n)
{
    memset(p, 0, n);
    /* the compiler must assume p's bytes are read: the memset stays */
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

static const weft_crypto fast = {
    NULL,        f_dh_public, f_dh,        f_seal,       f_open,
    f_hash,      f_mac,       f_sign,      f_verify,     f_ed_pk_to_x,
    f_ed_sk_to_x, f_keypair,  f_wipe,
};

const weft_crypto *weft_sim_fast_crypto(void)
{
    return &fast;
}
