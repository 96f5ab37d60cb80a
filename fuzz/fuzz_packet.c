/*
 * fuzz_packet.c -- one hostile datagram against an engine in a chosen
 * state, built on fuzz/fuzzworld.h (the harness holds the keys: MACs are
 * made valid, DATA is sealed under the session's keys, so mutations land
 * past the checks that would otherwise stop the fuzzer).
 *
 * Input byte 0:
 *   bits 0-2  the state, and the honest datagram that is the base:
 *     0 fresh responder B                        base: A's HS_INIT to B
 *     1 A dialled B and waits for msg2           base: B's HS_RESP to A
 *     2 B is half-open, waits for msg3           base: A's HS_FIN to B
 *     3 a session; A sent a message          base: A's DATA to B
 *       (3,000 bytes: 3 fragments; with bit 5, 6,000 bytes in one packet)
 *     4 a session after a rekey                  base: A's DATA to B
 *     5 B under load (its handshake budget spent) base: A's HS_INIT
 *     6 A dialled B under load, got a cookie      base: B's COOKIE to A
 *     7 a session, B's receive buffer full        base: A's DATA to B
 *   bits 3-4  what the rest of the input is:
 *     0 bytes XORed over the base (DATA: over its plaintext, sealed
 *       again; handshakes: MACs fixed afterwards), longer inputs extend it
 *     1 the datagram itself (handshake types get valid MACs)
 *     2 frames, sealed as the sender's next DATA packet
 *     3 the datagram itself, MACs left as they are
 *   bit 5  real AEAD and a 9000-byte MTU (FW_REAL_AEAD | FW_BIG_MTU): the
 *          bulk decryption path (libcrypto, >= 4 KiB) is reached
 *   bit 6  membership attached (FW_MEMBERSHIP)
 *   bit 7  a module channel (FW_ECHO)
 * The datagram goes to the base's destination; then the world runs a few
 * rounds and timers, so what the datagram left behind is exercised too.
 */
#include "fuzzworld.h"

/* Removes and returns the first datagram in flight to node `to` whose
 * type is `type` (data NULL when there is none). */
static fw_pkt take(fw *w, int to, uint8_t type)
{
    for (size_t k = 0; k < w->qn; k++)
        if (w->q[k].to == to && w->q[k].len && w->q[k].data[0] == type) {
            fw_pkt p = w->q[k];
            memmove(&w->q[k], &w->q[k + 1], (w->qn - k - 1) * sizeof w->q[0]);
            w->qn--;
            return p;
        }
    return (fw_pkt){0, {0}, 0, NULL};
}

/* Delivers every datagram in flight to `to` of type `type`. */
static void pass(fw *w, int to, uint8_t type)
{
    for (;;) {
        fw_pkt p = take(w, to, type);
        if (!p.data)
            return;
        fw_deliver_pkt(w, p.to, &p.from, p.data, p.len);
        free(p.data);
    }
}

/* Sets the state up; returns the base datagram (data NULL: none). */
static fw_pkt setup(fw *w, int state)
{
    static const uint8_t flags[8] = {FW_NO_SESSION, FW_NO_SESSION, FW_NO_SESSION, 0,
                                     FW_FAST_REKEY, FW_NO_SESSION | FW_LOW_RATE,
                                     FW_NO_SESSION | FW_LOW_RATE, FW_SMALL_BUFS};
    w->flags |= flags[state];
    if (state == 7)
        w->no_poll[1] = 1;
    if (fw_init(w, w->flags) < 0)
        return (fw_pkt){0, {0}, 0, NULL};
    if (state == 7)
        w->no_poll[1] = 1; /* fw_init cleared it */
    if (state == 5 || state == 6) {
        /* spend B's handshake budget: it now asks for cookies */
        w->e[1]->hs_tokens = 0;
        w->e[1]->hs_tokens_us = w->now;
    }
    switch (state) {
    case 0:
    case 5:
        weft_engine_connect(w->e[0], &w->addr[1], w->now);
        fw_pump(w);
        return take(w, 1, WEFT__PKT_HS_INIT);
    case 1:
    case 2:
        weft_engine_connect(w->e[0], &w->addr[1], w->now);
        fw_pump(w);
        pass(w, 1, WEFT__PKT_HS_INIT);
        if (state == 1)
            return take(w, 0, WEFT__PKT_HS_RESP);
        pass(w, 0, WEFT__PKT_HS_RESP);
        return take(w, 1, WEFT__PKT_HS_FIN);
    case 6:
        weft_engine_connect(w->e[0], &w->addr[1], w->now);
        fw_pump(w);
        pass(w, 1, WEFT__PKT_HS_INIT);
        return take(w, 0, WEFT__PKT_COOKIE);
    case 4:
        fw_time(w, 1200000);
        fw_run(w, 6);
        /* fall through */
    default:
        fw_run(w, 4);
        fw_send(w, 0, WEFT_CHANNEL_APP, WEFT_SEND_RECEIPT,
                state == 7 ? 20000 : w->flags & FW_BIG_MTU ? 6000 : 3000);
        if (state == 7) {
            fw_run(w, 8);
            fw_send(w, 0, WEFT_CHANNEL_APP, 0, 3000);
        }
        return take(w, 1, WEFT__PKT_DATA);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fw w;
    static uint8_t pkt[65536], pt[65536];
    if (size < 1)
        return 0;
    int state = data[0] & 7, mode = (data[0] >> 3) & 3;
    w.flags = (data[0] & 0x20 ? FW_REAL_AEAD | FW_BIG_MTU : 0) |
              (data[0] & 0x80 ? FW_ECHO : 0);
    fw_pkt base = setup(&w, state);
    if (!w.e[0]) {
        free(base.data);
        return 0;
    }
    const uint8_t *in = data + 1;
    size_t n = size - 1, len = 0;
    int to = base.data ? base.to : 1;
    weft_addr from = w.addr[1 - to];
    if (n > sizeof pkt - WEFT__DATA_OVERHEAD)
        n = sizeof pkt - WEFT__DATA_OVERHEAD;
    if (mode == 0 && base.data) {
        ptrdiff_t ptl = fw_open(&w, 1 - to, base.data, base.len, pt);
        if (ptl >= 0) {
            /* XOR over the plaintext, then sealed again with its number */
            size_t m = n > (size_t)ptl ? n : (size_t)ptl;
            for (size_t i = 0; i < n; i++)
                pt[i] = (uint8_t)((i < (size_t)ptl ? pt[i] : 0) ^ in[i]);
            weft__peer *p = fw_session(w.e[1 - to]);
            uint64_t pn = weft__get_u64(base.data + 5);
            len = fw_seal(&w, 1 - to, (int)(weft__get_u32(base.data + 1) != p->cur.remote_idx), pn,
                          pt, m, pkt, sizeof pkt);
        } else {
            len = n > base.len ? n : base.len;
            memcpy(pkt, base.data, base.len);
            memset(pkt + base.len, 0, len - base.len);
            for (size_t i = 0; i < n; i++)
                pkt[i] ^= in[i];
            fw_fix_macs(w.e[to], &from, pkt, len);
        }
    } else if (mode == 2) {
        len = fw_seal(&w, 1 - to, 0, UINT64_MAX, in, n, pkt, sizeof pkt);
    } else {
        len = n;
        memcpy(pkt, in, n);
        if (mode == 1)
            fw_fix_macs(w.e[to], &from, pkt, len);
    }
    free(base.data);
    if (len || mode != 2)
        fw_deliver_pkt(&w, to, &from, pkt, len);
    fw_run(&w, 3);
    fw_time(&w, 50000);
    fw_run(&w, 2);
    fw_free(&w);
    return 0;
}
