/*
 * noise.h -- Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b handshake state machine
 * (Noise Protocol Framework rev 34), over the weft_crypto interface.
 *
 *   XXpsk3:
 *     -> e
 *     <- e, ee, s, es
 *     -> s, se, psk
 *
 * The caller supplies ephemeral secret keys (drawn from its weft_rand), so
 * the module itself is deterministic and is checked against the cacophony
 * test vectors (tests/unit/test_noise.c).  Every read/write works on a copy
 * of the state and commits it only on success: after any error the state is
 * exactly as before the call (so a forged message injected by an attacker
 * does not kill a handshake; the caller may keep waiting or discard it).
 * Temporaries are wiped on every path; weft__noise_split() and
 * weft__noise_wipe() wipe the state itself.
 *
 * Message sizes (payload length p):  msg 0: 48 + p,  msg 1: 96 + p,
 * msg 2: 64 + p; at most WEFT__NOISE_MAX_MSG bytes in all.  With psk3 a
 * wrong psk is detected only by the responder, when it reads message 2.
 */
#ifndef WEFT_CORE_NOISE_H
#define WEFT_CORE_NOISE_H

#include <stddef.h>
#include <stdint.h>
#include "weft/crypto.h"

#define WEFT__NOISE_PROTOCOL_NAME "Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b"
#define WEFT__NOISE_MAX_MSG 65535
/* Bytes each handshake message adds to its payload (keys and tags). */
#define WEFT__NOISE_MSG0_OVERHEAD 48
#define WEFT__NOISE_MSG1_OVERHEAD 96
#define WEFT__NOISE_MSG2_OVERHEAD 64

typedef struct weft__cipherstate {
    uint8_t k[32];
    uint64_t n;
    int has_key;
} weft__cipherstate;

typedef struct weft__noise_hs {
    const weft_crypto *c;
    int initiator;           /* 1 initiator, 0 responder */
    int step;                /* next message index 0,1,2; 3 = done; -1 wiped */
    uint8_t ck[64];          /* chaining key */
    uint8_t h[64];           /* handshake hash */
    weft__cipherstate cs;
    uint8_t s_sk[32], s_pk[32];   /* local static X25519 */
    uint8_t e_sk[32], e_pk[32];   /* local ephemeral */
    uint8_t rs[32], re[32];       /* remote static / ephemeral */
    int has_rs, has_re;
    uint8_t psk[32];
} weft__noise_hs;

/*
 * Initialises the handshake.  prologue may be NULL/0.  s_sk is the local
 * static X25519 secret (its public key is computed).  Returns 0 or
 * WEFT_ERR_INVAL.
 */
int weft__noise_init(weft__noise_hs *hs, const weft_crypto *c, int initiator,
                     const uint8_t *prologue, size_t prologue_len,
                     const uint8_t s_sk[32], const uint8_t psk[32]);

/*
 * Writes the next handshake message (the caller's turn).  e_sk is the
 * ephemeral secret to use when the message carries an `e` token (messages
 * 0 and 1; required there); ignored otherwise.  The payload is always
 * encrypted (psk mode keys the cipher from the first `e` on).
 * Returns the message length, WEFT_ERR_INVAL (NULL argument),
 * WEFT_ERR_STATE (not our turn, done, or wiped), WEFT_ERR_TOO_BIG (message
 * would exceed WEFT__NOISE_MAX_MSG), WEFT_ERR_BUFSMALL, or
 * WEFT_ERR_HANDSHAKE (DH with the peer's key gave all-zero: low-order point).
 */
ptrdiff_t weft__noise_write(weft__noise_hs *hs, const uint8_t e_sk[32],
                            const uint8_t *payload, size_t plen,
                            uint8_t *out, size_t cap);

/*
 * Reads the peer's next handshake message; its payload is written to
 * payload_out (cap bytes).  Returns the payload length, WEFT_ERR_INVAL,
 * WEFT_ERR_STATE (our turn to write, done, or wiped), WEFT_ERR_PROTO (too
 * short or longer than WEFT__NOISE_MAX_MSG), WEFT_ERR_BUFSMALL or
 * WEFT_ERR_HANDSHAKE (decryption failed: tampered, or wrong psk at message
 * 2; or a low-order DH key).  On error hs is unchanged.
 */
ptrdiff_t weft__noise_read(weft__noise_hs *hs, const uint8_t *msg, size_t len,
                           uint8_t *payload_out, size_t cap);

/* 1 once all three messages are processed (and before split). */
int weft__noise_done(const weft__noise_hs *hs);

/*
 * After done: derives the transport keys (Noise §5.2 Split()).
 * k_send/k_recv are this side's sending and receiving keys; h_out (may be
 * NULL) receives the final handshake hash (channel binding).  Wipes the
 * handshake state (read the remote static key before).  Returns 0,
 * WEFT_ERR_INVAL or WEFT_ERR_STATE (not done).
 */
int weft__noise_split(weft__noise_hs *hs, uint8_t k_send[32],
                      uint8_t k_recv[32], uint8_t h_out[64]);

/* Remote static public key (valid after it was received), else NULL. */
const uint8_t *weft__noise_remote_static(const weft__noise_hs *hs);

/* Wipes all secrets in hs; afterwards every call returns WEFT_ERR_STATE. */
void weft__noise_wipe(weft__noise_hs *hs);

/* HKDF of Noise §4.3 with HMAC-BLAKE2b: derives n (2 or 3) 64-byte
 * outputs from chaining key ck and input key material ikm. */
void weft__noise_hkdf(const weft_crypto *c, const uint8_t ck[64],
                      const uint8_t *ikm, size_t ikm_len, int n,
                      uint8_t o1[64], uint8_t o2[64], uint8_t o3[64]);

#endif
