/*
 * fuzz_handshake.c -- feeds arbitrary bytes to weft__noise_read() in each
 * of the three reading positions of the XXpsk3 handshake.  The first input
 * byte picks the state (mod 3):
 *   0  responder reading message 0 (fresh state);
 *   1  initiator reading message 1, after writing message 0;
 *   2  responder reading message 2, after a real message 0 / 1 exchange.
 * The rest is the message.  All keys are fixed, so the seeds in
 * fuzz/corpus/fuzz_handshake/ (genuine messages, prefixed by their state
 * byte) decrypt and let the fuzzer reach past the AEAD checks.  Invariants
 * checked beyond "no crash": a failed read leaves the state unchanged, and
 * a successful read returns a payload length consistent with the message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/noise.h"
#include "weft/crypto.h"
#include "weft/weft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static weft__noise_hs fz_states[3];
static uint8_t fz_msg[3][256];
static size_t fz_msg_len[3];
static int fz_ready;

static void fz_fill(uint8_t *b, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed * 31 + i);
}

/* Builds the three reading states once (DH is slow; states are copied). */
static void fz_setup(void)
{
    const weft_crypto *c = weft_crypto_sodium();
    uint8_t is[32], rs[32], ie[32], re[32], psk[32], p[64];
    weft__noise_hs ini, res;
    static const uint8_t prologue[] = "weft fuzz";

    fz_fill(is, 32, 1);
    fz_fill(rs, 32, 2);
    fz_fill(ie, 32, 3);
    fz_fill(re, 32, 4);
    fz_fill(psk, 32, 5);
    if (weft__noise_init(&ini, c, 1, prologue, sizeof prologue - 1, is,
                         psk) != 0 ||
        weft__noise_init(&res, c, 0, prologue, sizeof prologue - 1, rs,
                         psk) != 0)
        abort();
    fz_states[0] = res;
    ptrdiff_t l = weft__noise_write(&ini, ie, (const uint8_t *)"hello", 5,
                                    fz_msg[0], sizeof fz_msg[0]);
    if (l < 0)
        abort();
    fz_msg_len[0] = (size_t)l;
    fz_states[1] = ini;
    if (weft__noise_read(&res, fz_msg[0], fz_msg_len[0], p, sizeof p) < 0)
        abort();
    l = weft__noise_write(&res, re, (const uint8_t *)"world", 5, fz_msg[1],
                          sizeof fz_msg[1]);
    if (l < 0)
        abort();
    fz_msg_len[1] = (size_t)l;
    fz_states[2] = res;
    if (weft__noise_read(&ini, fz_msg[1], fz_msg_len[1], p, sizeof p) < 0)
        abort();
    l = weft__noise_write(&ini, NULL, (const uint8_t *)"!", 1, fz_msg[2],
                          sizeof fz_msg[2]);
    if (l < 0)
        abort();
    fz_msg_len[2] = (size_t)l;
    fz_ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t overhead[3] = {WEFT__NOISE_MSG0_OVERHEAD,
                                       WEFT__NOISE_MSG1_OVERHEAD,
                                       WEFT__NOISE_MSG2_OVERHEAD};
    weft__noise_hs hs, before;
    uint8_t payload[512];

    if (!fz_ready)
        fz_setup();
    if (size < 1)
        return 0;
    int which = data[0] % 3;
    hs = fz_states[which];
    before = hs;
    /* Cap smaller than some inputs, so BUFSMALL is exercised too. */
    ptrdiff_t r = weft__noise_read(&hs, data + 1, size - 1, payload,
                                   sizeof payload);
    if (r < 0) {
        if (memcmp(&hs, &before, sizeof hs) != 0)
            abort(); /* a failed read must commit nothing */
    } else {
        if ((size_t)r + overhead[which] != size - 1)
            abort();
        if (!(hs.step == before.step + 1))
            abort();
    }
    weft__noise_wipe(&hs);
    return 0;
}
