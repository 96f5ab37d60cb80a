/*
 * noise.c -- Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b (Noise Protocol
 * Framework rev 34), the handshake that opens every weft session.
 *
 *   XXpsk3:
 *     -> e
 *     <- e, ee, s, es
 *     -> s, se, psk
 *
 * The psk is weft's mesh-wide network key: a node without it completes
 * messages 1 and 2 but the responder rejects message 3 (psk3 mixes the psk
 * last, so the initiator's read of message 2 cannot detect a wrong psk).
 * Because this is a psk handshake, each `e` token also does MixKey(e.pubkey)
 * (§9.2), so even the first message's payload is encrypted.
 *
 * Layout follows Noise: CipherState (§5.1), SymmetricState (§5.2) with the
 * HKDF of §4.3 built on HMAC-BLAKE2b (HMAC block size 128 bytes), and the
 * HandshakeState (§5.3) as one function per direction in which every step
 * is labelled with its token.  Each call works on a copy of the state and
 * commits it only on success, so a failed read or write leaves the caller's
 * state exactly as it was; temporaries holding secrets are wiped on every
 * exit path.  Sans-IO: all primitives come through struct weft_crypto and
 * ephemeral keys are passed in by the caller, which makes the module
 * deterministic and checkable against the cacophony test vectors.
 */
#include <string.h>

#include "core/noise.h"
#include "weft/weft.h"

#define HASHLEN 64
#define BLOCKLEN 128 /* BLAKE2b block size, the HMAC pad length (§4.3) */
#define DHLEN 32
#define TAGLEN 16

/* ---------------------------------------------------------------------- */
/* Hash, HMAC, HKDF (§4.3)                                                */

static void hash2(const weft_crypto *c, uint8_t out[HASHLEN], const void *a,
                  size_t alen, const void *b, size_t blen)
{
    weft_iov iov[2] = {{a, alen}, {b, blen}};
    c->hash(c->ctx, out, iov, 2);
}

/*
 * HMAC-BLAKE2b (RFC 2104) with a key of at most BLOCKLEN bytes (ours are
 * always HASHLEN): H((K ^ opad) || H((K ^ ipad) || data...)).  The data is
 * given as up to two parts so HKDF's "previous output || byte" needs no
 * concatenation buffer.
 */
static void hmac(const weft_crypto *c, uint8_t out[HASHLEN],
                 const uint8_t *key, size_t keylen, const void *d1,
                 size_t d1len, const void *d2, size_t d2len)
{
    uint8_t pad[BLOCKLEN], inner[HASHLEN];
    weft_iov iov[3];

    memset(pad, 0, sizeof pad);
    memcpy(pad, key, keylen);
    for (size_t i = 0; i < BLOCKLEN; i++)
        pad[i] ^= 0x36;
    iov[0] = (weft_iov){pad, BLOCKLEN};
    iov[1] = (weft_iov){d1, d1len};
    iov[2] = (weft_iov){d2, d2len};
    c->hash(c->ctx, inner, iov, 3);

    for (size_t i = 0; i < BLOCKLEN; i++)
        pad[i] ^= 0x36 ^ 0x5c; /* ipad -> opad */
    iov[0] = (weft_iov){pad, BLOCKLEN};
    iov[1] = (weft_iov){inner, HASHLEN};
    c->hash(c->ctx, out, iov, 2);

    c->wipe(c->ctx, pad, sizeof pad);
    c->wipe(c->ctx, inner, sizeof inner);
}

/*
 * Noise §4.3 HKDF(chaining_key, input_key_material, num_outputs):
 *   temp_key = HMAC(ck, ikm)
 *   o1 = HMAC(temp_key, 0x01)
 *   o2 = HMAC(temp_key, o1 || 0x02)
 *   o3 = HMAC(temp_key, o2 || 0x03)      (n == 3 only)
 * Outputs may alias ck (the caller often replaces ck by o1).
 */
void weft__noise_hkdf(const weft_crypto *c, const uint8_t ck[64],
                      const uint8_t *ikm, size_t ikm_len, int n,
                      uint8_t o1[64], uint8_t o2[64], uint8_t o3[64])
{
    uint8_t temp_key[HASHLEN], t1[HASHLEN], t2[HASHLEN];
    const uint8_t b1 = 1, b2 = 2, b3 = 3;

    hmac(c, temp_key, ck, HASHLEN, ikm, ikm_len, NULL, 0);
    hmac(c, t1, temp_key, HASHLEN, &b1, 1, NULL, 0);
    hmac(c, t2, temp_key, HASHLEN, t1, HASHLEN, &b2, 1);
    if (n == 3 && o3)
        hmac(c, o3, temp_key, HASHLEN, t2, HASHLEN, &b3, 1);
    memcpy(o1, t1, HASHLEN);
    memcpy(o2, t2, HASHLEN);
    c->wipe(c->ctx, temp_key, sizeof temp_key);
    c->wipe(c->ctx, t1, sizeof t1);
    c->wipe(c->ctx, t2, sizeof t2);
}

/* ---------------------------------------------------------------------- */
/* CipherState (§5.1) and SymmetricState (§5.2)                           */

/* InitializeKey(k): k = key (first 32 bytes of an HKDF output), n = 0. */
static void cs_init_key(weft__cipherstate *cs, const uint8_t *key)
{
    memcpy(cs->k, key, 32);
    cs->n = 0;
    cs->has_key = 1;
}

/* MixHash(data): h = HASH(h || data). */
static void mix_hash(weft__noise_hs *hs, const void *data, size_t len)
{
    hash2(hs->c, hs->h, hs->h, HASHLEN, data, len);
}

/* MixKey(ikm): ck, temp_k = HKDF(ck, ikm, 2); InitializeKey(temp_k). */
static void mix_key(weft__noise_hs *hs, const uint8_t *ikm, size_t len)
{
    uint8_t temp_k[HASHLEN];
    weft__noise_hkdf(hs->c, hs->ck, ikm, len, 2, hs->ck, temp_k, NULL);
    cs_init_key(&hs->cs, temp_k);
    hs->c->wipe(hs->c->ctx, temp_k, sizeof temp_k);
}

/* MixKeyAndHash(ikm): ck, temp_h, temp_k = HKDF(ck, ikm, 3);
 * MixHash(temp_h); InitializeKey(temp_k).  Used for the psk token (§9.2). */
static void mix_key_and_hash(weft__noise_hs *hs, const uint8_t *ikm,
                             size_t len)
{
    uint8_t temp_h[HASHLEN], temp_k[HASHLEN];
    weft__noise_hkdf(hs->c, hs->ck, ikm, len, 3, hs->ck, temp_h, temp_k);
    mix_hash(hs, temp_h, HASHLEN);
    cs_init_key(&hs->cs, temp_k);
    hs->c->wipe(hs->c->ctx, temp_h, sizeof temp_h);
    hs->c->wipe(hs->c->ctx, temp_k, sizeof temp_k);
}

/* MixKey(DH(sk, pk)).  Returns -1 when the DH output is all-zero (a
 * low-order point, §12.1): the handshake must then fail. */
static int mix_dh(weft__noise_hs *hs, const uint8_t sk[32],
                  const uint8_t pk[32])
{
    uint8_t shared[DHLEN];
    int rc = hs->c->dh(hs->c->ctx, shared, sk, pk);
    if (rc == 0)
        mix_key(hs, shared, DHLEN);
    hs->c->wipe(hs->c->ctx, shared, sizeof shared);
    return rc == 0 ? 0 : -1;
}

/* EncryptAndHash(pt) into out (len + 16 bytes when a key is set, else len).
 * The nonce cannot reach the reserved 2^64-1 within a handshake (at most
 * two encryptions per key), so no exhaustion check is needed here.
 * Returns the number of bytes written. */
static size_t encrypt_and_hash(weft__noise_hs *hs, uint8_t *out,
                               const uint8_t *pt, size_t len)
{
    size_t outlen = len;
    if (hs->cs.has_key) {
        hs->c->aead_seal(hs->c->ctx, out, hs->cs.k, hs->cs.n, hs->h, HASHLEN,
                         pt, len);
        hs->cs.n++;
        outlen += TAGLEN;
    } else if (len) {
        memmove(out, pt, len);
    }
    mix_hash(hs, out, outlen);
    return outlen;
}

/* DecryptAndHash(ct) into out (ctlen - 16 bytes when keyed).  Returns 0 or
 * -1 on authentication failure.  h is updated with the ciphertext only on
 * success (the state is a scratch copy anyway). */
static int decrypt_and_hash(weft__noise_hs *hs, uint8_t *out,
                            const uint8_t *ct, size_t ctlen)
{
    if (hs->cs.has_key) {
        if (ctlen < TAGLEN ||
            hs->c->aead_open(hs->c->ctx, out, hs->cs.k, hs->cs.n, hs->h,
                             HASHLEN, ct, ctlen) != 0)
            return -1;
        hs->cs.n++;
    } else if (ctlen) {
        memmove(out, ct, ctlen);
    }
    mix_hash(hs, ct, ctlen);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* HandshakeState (§5.3)                                                  */

/* Bytes a message adds around its payload, by message index.  psk mode
 * keys the cipher from message 0 on, so every payload carries a tag. */
static size_t msg_overhead(int step)
{
    _Static_assert(WEFT__NOISE_MSG0_OVERHEAD == DHLEN + TAGLEN, "msg 0");
    _Static_assert(WEFT__NOISE_MSG1_OVERHEAD ==
                   DHLEN + (DHLEN + TAGLEN) + TAGLEN, "msg 1");
    _Static_assert(WEFT__NOISE_MSG2_OVERHEAD == (DHLEN + TAGLEN) + TAGLEN,
                   "msg 2");
    switch (step) {
    case 0: return WEFT__NOISE_MSG0_OVERHEAD; /* e, payload */
    case 1: return WEFT__NOISE_MSG1_OVERHEAD; /* e, s, payload */
    case 2: return WEFT__NOISE_MSG2_OVERHEAD; /* s, payload */
    default: return 0;
    }
}

static int our_turn(const weft__noise_hs *hs)
{
    if (hs->step < 0 || hs->step > 2)
        return 0;
    /* The initiator writes messages 0 and 2, the responder message 1. */
    return (hs->step % 2 == 0) == (hs->initiator != 0);
}

int weft__noise_init(weft__noise_hs *hs, const weft_crypto *c, int initiator,
                     const uint8_t *prologue, size_t prologue_len,
                     const uint8_t s_sk[32], const uint8_t psk[32])
{
    static const char name[] = WEFT__NOISE_PROTOCOL_NAME;

    if (!hs || !c || !s_sk || !psk || (!prologue && prologue_len))
        return WEFT_ERR_INVAL;
    memset(hs, 0, sizeof *hs);
    hs->c = c;
    hs->initiator = initiator ? 1 : 0;

    /* InitializeSymmetric(protocol_name) §5.2: the name (37 bytes) fits in
     * HASHLEN, so h = name zero-padded; ck = h. */
    _Static_assert(sizeof name - 1 <= HASHLEN, "protocol name fits in h");
    memcpy(hs->h, name, sizeof name - 1);
    memcpy(hs->ck, hs->h, HASHLEN);
    mix_hash(hs, prologue ? (const void *)prologue : (const void *)"",
             prologue_len);

    memcpy(hs->s_sk, s_sk, 32);
    c->dh_public(c->ctx, hs->s_pk, s_sk);
    memcpy(hs->psk, psk, 32);
    /* XX has no pre-messages, so nothing else is hashed. */
    return 0;
}

/* Commits the scratch copy t into hs and wipes t. */
static void commit(weft__noise_hs *hs, weft__noise_hs *t)
{
    memcpy(hs, t, sizeof *hs);
    hs->c->wipe(hs->c->ctx, t, sizeof *t);
}

ptrdiff_t weft__noise_write(weft__noise_hs *hs, const uint8_t e_sk[32],
                            const uint8_t *payload, size_t plen,
                            uint8_t *out, size_t cap)
{
    weft__noise_hs t;
    uint8_t *p = out;
    size_t need;

    if (!hs || !hs->c || (!payload && plen) || !out)
        return WEFT_ERR_INVAL;
    if (!our_turn(hs))
        return WEFT_ERR_STATE;
    if (hs->step < 2 && !e_sk)
        return WEFT_ERR_INVAL;
    need = msg_overhead(hs->step);
    if (plen > WEFT__NOISE_MAX_MSG - need)
        return WEFT_ERR_TOO_BIG;
    if (cap < need + plen)
        return WEFT_ERR_BUFSMALL;

    memcpy(&t, hs, sizeof t);
    switch (t.step) {
    case 0: /* -> e */
        /* e */
        memcpy(t.e_sk, e_sk, 32);
        t.c->dh_public(t.c->ctx, t.e_pk, e_sk);
        memcpy(p, t.e_pk, DHLEN);
        p += DHLEN;
        mix_hash(&t, t.e_pk, DHLEN);
        mix_key(&t, t.e_pk, DHLEN); /* psk handshakes, §9.2 */
        break;
    case 1: /* <- e, ee, s, es */
        /* e */
        memcpy(t.e_sk, e_sk, 32);
        t.c->dh_public(t.c->ctx, t.e_pk, e_sk);
        memcpy(p, t.e_pk, DHLEN);
        p += DHLEN;
        mix_hash(&t, t.e_pk, DHLEN);
        mix_key(&t, t.e_pk, DHLEN);
        /* ee */
        if (mix_dh(&t, t.e_sk, t.re) != 0)
            goto fail;
        /* s */
        p += encrypt_and_hash(&t, p, t.s_pk, DHLEN);
        /* es: responder side is DH(s, re) */
        if (mix_dh(&t, t.s_sk, t.re) != 0)
            goto fail;
        break;
    case 2: /* -> s, se, psk */
        /* s */
        p += encrypt_and_hash(&t, p, t.s_pk, DHLEN);
        /* se: initiator side is DH(s, re) */
        if (mix_dh(&t, t.s_sk, t.re) != 0)
            goto fail;
        /* psk */
        mix_key_and_hash(&t, t.psk, 32);
        break;
    default:
        goto fail; /* unreachable: our_turn() checked the step */
    }
    /* payload */
    p += encrypt_and_hash(&t, p, payload, plen);
    t.step++;
    commit(hs, &t);
    return p - out;

fail:
    t.c->wipe(t.c->ctx, &t, sizeof t);
    hs->c->wipe(hs->c->ctx, out, cap < need + plen ? cap : need + plen);
    return WEFT_ERR_HANDSHAKE;
}

ptrdiff_t weft__noise_read(weft__noise_hs *hs, const uint8_t *msg, size_t len,
                           uint8_t *payload_out, size_t cap)
{
    weft__noise_hs t;
    const uint8_t *p = msg;
    size_t need, plen;

    if (!hs || !hs->c || (!msg && len) || (!payload_out && cap))
        return WEFT_ERR_INVAL;
    if (hs->step < 0 || hs->step > 2 || our_turn(hs))
        return WEFT_ERR_STATE;
    need = msg_overhead(hs->step);
    if (len < need || len > WEFT__NOISE_MAX_MSG)
        return WEFT_ERR_PROTO;
    plen = len - need;
    if (cap < plen)
        return WEFT_ERR_BUFSMALL;

    memcpy(&t, hs, sizeof t);
    switch (t.step) {
    case 0: /* -> e */
        /* e */
        memcpy(t.re, p, DHLEN);
        t.has_re = 1;
        p += DHLEN;
        mix_hash(&t, t.re, DHLEN);
        mix_key(&t, t.re, DHLEN); /* psk handshakes, §9.2 */
        break;
    case 1: /* <- e, ee, s, es */
        /* e */
        memcpy(t.re, p, DHLEN);
        t.has_re = 1;
        p += DHLEN;
        mix_hash(&t, t.re, DHLEN);
        mix_key(&t, t.re, DHLEN);
        /* ee */
        if (mix_dh(&t, t.e_sk, t.re) != 0)
            goto fail;
        /* s */
        if (decrypt_and_hash(&t, t.rs, p, DHLEN + TAGLEN) != 0)
            goto fail;
        t.has_rs = 1;
        p += DHLEN + TAGLEN;
        /* es: initiator side is DH(e, rs) */
        if (mix_dh(&t, t.e_sk, t.rs) != 0)
            goto fail;
        break;
    case 2: /* -> s, se, psk */
        /* s */
        if (decrypt_and_hash(&t, t.rs, p, DHLEN + TAGLEN) != 0)
            goto fail;
        t.has_rs = 1;
        p += DHLEN + TAGLEN;
        /* se: responder side is DH(e, rs) */
        if (mix_dh(&t, t.e_sk, t.rs) != 0)
            goto fail;
        /* psk */
        mix_key_and_hash(&t, t.psk, 32);
        break;
    default:
        goto fail; /* unreachable: checked above */
    }
    /* payload */
    if (decrypt_and_hash(&t, payload_out, p, plen + TAGLEN) != 0)
        goto fail;
    t.step++;
    commit(hs, &t);
    return (ptrdiff_t)plen;

fail:
    /* Nothing is committed: hs is unchanged, so the caller may keep
     * waiting for the genuine message (an injected forgery must not kill
     * a handshake) or discard the state. */
    hs->c->wipe(hs->c->ctx, &t, sizeof t);
    if (plen)
        hs->c->wipe(hs->c->ctx, payload_out, plen);
    return WEFT_ERR_HANDSHAKE;
}

int weft__noise_done(const weft__noise_hs *hs)
{
    return hs && hs->step == 3;
}

int weft__noise_split(weft__noise_hs *hs, uint8_t k_send[32],
                      uint8_t k_recv[32], uint8_t h_out[64])
{
    uint8_t k1[HASHLEN], k2[HASHLEN];

    if (!hs || !hs->c || !k_send || !k_recv)
        return WEFT_ERR_INVAL;
    if (hs->step != 3)
        return WEFT_ERR_STATE;
    /* Split() §5.2: temp_k1, temp_k2 = HKDF(ck, zerolen, 2); the
     * initiator sends with k1, the responder with k2. */
    weft__noise_hkdf(hs->c, hs->ck, NULL, 0, 2, k1, k2, NULL);
    memcpy(k_send, hs->initiator ? k1 : k2, 32);
    memcpy(k_recv, hs->initiator ? k2 : k1, 32);
    if (h_out)
        memcpy(h_out, hs->h, HASHLEN);
    hs->c->wipe(hs->c->ctx, k1, sizeof k1);
    hs->c->wipe(hs->c->ctx, k2, sizeof k2);
    weft__noise_wipe(hs);
    return 0;
}

const uint8_t *weft__noise_remote_static(const weft__noise_hs *hs)
{
    return hs && hs->has_rs ? hs->rs : NULL;
}

void weft__noise_wipe(weft__noise_hs *hs)
{
    const weft_crypto *c;

    if (!hs)
        return;
    c = hs->c;
    if (c)
        c->wipe(c->ctx, hs, sizeof *hs);
    else
        memset(hs, 0, sizeof *hs); /* nothing secret set yet without c */
    hs->c = c;
    hs->step = -1; /* any further read/write returns WEFT_ERR_STATE */
}
