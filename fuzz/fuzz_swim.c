/*
 * fuzz_swim.c -- feeds arbitrary bytes to the membership protocol
 * (src/membership/) and demands no crash, no sanitizer report, and bounded
 * output.  The first input byte picks the path:
 *   even: the rest is a datagram for weft__swim_recv() (AEAD and all);
 *   odd:  the rest is a decrypted payload for weft__swim_recv_plain(), so
 *         the fuzzer reaches the message decoders past the AEAD.
 * A fresh instance (fixed identity and network key, small caps) per input
 * keeps runs reproducible; after the input its output is drained and its
 * timers run, so replies to fuzzed messages are encoded too.  The seed
 * corpus (fuzz/corpus/fuzz_swim/) holds real packets and payloads of a
 * two-node exchange under the same keys, prefixed with the mode byte.
 */
#include <stdint.h>
#include <string.h>

#include "membership/swim.h"
#include "weft/crypto.h"

static void fixed_rand(void *ctx, uint8_t *buf, size_t len)
{
    uint64_t *st = ctx;
    for (size_t i = 0; i < len; i++) {
        *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
        buf[i] = (uint8_t)(*st >> 56);
    }
}

/* Keys shared with the corpus generator (see the commit adding the corpus):
 * identity seed = 32 x 0x01, network key = 32 x 0x4e. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t sk[64];
    static int init;
    const weft_crypto *cr = weft_crypto_sodium();
    if (!init) {
        uint8_t seed[32], pk[32];
        memset(seed, 0x01, sizeof seed);
        cr->sign_keypair_seed(cr->ctx, pk, sk, seed);
        init = 1;
    }
    if (size < 1)
        return 0;
    uint8_t netkey[32];
    memset(netkey, 0x4e, sizeof netkey);
    uint64_t rs = 42;
    weft_env env = {NULL, cr, {&rs, fixed_rand}, NULL, NULL};
    weft__swim_config cfg;
    weft__swim_config_lan(&cfg);
    cfg.event_max = 32;
    cfg.broadcast_max = 32;
    cfg.max_members = 16;
    cfg.out_queue_max = 16;
    cfg.relay_max = 4;
    weft_addr self = {4, 0, 7000, 0, {10, 0, 0, 1}};
    weft_addr from = {4, 0, 7000, 0, {10, 0, 0, 2}};
    weft__swim *s;
    if (weft__swim_new(&s, &cfg, &env, sk, netkey, &self, 1000000) < 0)
        return 0;
    if (data[0] & 1)
        weft__swim_recv_plain(s, &from, data + 1, size - 1, 1000000);
    else
        weft__swim_recv(s, &from, data + 1, size - 1, 1000000);
    uint8_t buf[1500];
    weft_addr to;
    for (int i = 0; i < 256 && weft__swim_write(s, &to, buf, sizeof buf, 1000000) > 0; i++)
        ;
    uint64_t t = weft__swim_expiry(s);
    if (t < 1000000 + 5000000)
        weft__swim_handle_expiry(s, t);
    for (int i = 0; i < 256 && weft__swim_write(s, &to, buf, sizeof buf, t) > 0; i++)
        ;
    weft__swim_event ev;
    for (int i = 0; i < 64 && weft__swim_poll(s, &ev); i++)
        ;
    weft__swim_member_info mi;
    for (size_t i = 0; i < weft__swim_member_count(s); i++)
        weft__swim_member_at(s, i, &mi);
    weft__swim_del(s);
    return 0;
}
