/*
 * fuzz_packet.c -- hostile datagrams against an engine with a live session.
 *
 * Each input runs on fresh state (reproducible): two engines complete a
 * real handshake, then the input is delivered to the responder.  The first
 * byte picks the path:
 *   even  -> the rest is a raw datagram (any packet type, any bytes);
 *   odd   -> the rest is a frame sequence, sealed under the session's real
 *            keys as the next DATA packet, so the fuzzer reaches the frame
 *            handling (ACK processing, reassembly, ordering, flow control)
 *            behind the AEAD.
 * Afterwards the responder's output and events are drained and timers run,
 * so state left by the input is exercised too.
 */
#include <string.h>

#include "core/engine_internal.h"
#include "base/varint.h"
#include "weft/crypto.h"
#include "weft/weft.h"

static uint8_t ctr_v;
static void ctr_rand(void *c, uint8_t *b, size_t n)
{
    (void)c;
    for (size_t i = 0; i < n; i++)
        b[i] = ctr_v++;
}

static uint8_t buf[65536];

static void drain(weft_engine *e, uint64_t now)
{
    weft_addr to;
    weft_event ev;
    for (int k = 0; k < 64 && weft_engine_write(e, &to, buf, sizeof buf, now) > 0; k++)
        ;
    for (int k = 0; k < 1024 && weft_engine_poll(e, &ev); k++)
        ;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const weft_crypto *c = weft_crypto_sodium();
    weft_engine *e[2] = {NULL, NULL};
    weft_addr addr[2];
    ctr_v = 0;
    for (int i = 0; i < 2; i++) {
        weft_config cfg;
        weft_config_default(&cfg);
        uint8_t seed[32], pk[32];
        memset(seed, 0x31 + i, 32);
        c->sign_keypair_seed(c->ctx, pk, cfg.identity_secret, seed);
        memset(cfg.network_key, 0x11, 32);
        cfg.max_message_bytes = 1 << 20;
        weft_env env = {NULL, c, {NULL, ctr_rand}, NULL, NULL};
        if (weft_engine_new(&e[i], &cfg, &env, 1000) < 0)
            goto out;
        weft_addr_parse(&addr[i], i ? "127.0.0.2:1" : "127.0.0.1:1");
    }
    uint64_t now = 1000;
    weft_engine_connect(e[0], &addr[1], now);
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 2; i++) {
            weft_addr to;
            ptrdiff_t n;
            while ((n = weft_engine_write(e[i], &to, buf, sizeof buf, now)) > 0)
                weft_engine_recv(e[1 - i], &addr[i], buf, (size_t)n, now);
        }
    }
    if (data[0] & 1) {
        /* seal the frames under the initiator's live session keys */
        weft__peer *p = weft__u64map_get(&e[0]->by_id, 0);
        for (size_t i = 0; !p && i < e[0]->npeers; i++)
            if (e[0]->peers[i]->established)
                p = e[0]->peers[i];
        if (!p || !p->cur.valid || size - 1 > sizeof buf - WEFT__DATA_OVERHEAD)
            goto out;
        uint64_t pn = p->conn.pn_next++;
        buf[0] = WEFT__PKT_DATA;
        weft__put_u32(buf + 1, p->cur.remote_idx);
        weft__put_u64(buf + 5, pn);
        c->aead_seal(c->ctx, buf + WEFT__DATA_HDR, p->cur.k_send, pn, buf,
                     WEFT__DATA_HDR, data + 1, size - 1);
        weft_engine_recv(e[1], &addr[0], buf, size - 1 + WEFT__DATA_OVERHEAD, now);
    } else {
        weft_engine_recv(e[1], &addr[0], data + 1, size - 1, now);
    }
    drain(e[1], now);
    now += 50000;
    weft_engine_handle_expiry(e[1], now);
    drain(e[1], now);
out:
    weft_engine_del(e[0]);
    weft_engine_del(e[1]);
    return 0;
}
