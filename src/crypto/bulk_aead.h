/*
 * bulk_aead.h -- RFC 8439 ChaCha20-Poly1305 through libcrypto, used by
 * sodium.c for payloads of WEFT__BULK_AEAD_MIN bytes and more (see
 * bulk_aead.c for why).  Both return 0, or -1 (failure or, for open, a
 * bad tag); out may equal the input.
 */
#ifndef WEFT_CRYPTO_BULK_AEAD_H
#define WEFT_CRYPTO_BULK_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define WEFT__BULK_AEAD_MIN 4096

/* 1 when libcrypto could be loaded (dlopen, on first use). */
int weft__bulk_available(void);

int weft__bulk_seal(uint8_t *out, const uint8_t key[32], const uint8_t npub[12],
                    const uint8_t *ad, size_t adlen, const uint8_t *pt,
                    size_t ptlen);
int weft__bulk_open(uint8_t *out, const uint8_t key[32], const uint8_t npub[12],
                    const uint8_t *ad, size_t adlen, const uint8_t *ct,
                    size_t ctlen);

#endif
