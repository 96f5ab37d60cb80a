/*
 * fuzz_session.c -- two engines driven through a sequence of operations:
 * the stateful fuzzer of the core (fuzz/fuzzworld.h says what the world
 * is and how the harness holds the keys).
 *
 * Input: byte 0 is the configuration (FW_* flags: membership, small
 * buffers, low handshake rate, fast rekey, no initial session, a module
 * channel, big MTU, real AEAD), then operations until the input ends
 * (at most 128 operations and FW_SEND_BUDGET bytes sent, so that every
 * input runs in well under a millisecond).
 * An operation is one byte, low nibble the op, high nibble its argument
 * (bit 0 of it: which node, A or B), followed by its operands:
 *
 *   0 DELIVER      deliver (arg>>1)+1 datagrams in flight, oldest first
 *   1 DELIVER_AT k deliver the k-th datagram in flight (reordering)
 *   2 DROP k       lose the k-th datagram in flight
 *   3 DUP k        deliver a copy of the k-th, keep it in flight
 *   4 REPLAY k     deliver again the k-th of the last 16 delivered
 *   5 MUTATE k n (pos xor)*n   change the k-th and deliver it (DATA in
 *                  plaintext, sealed again; handshakes with MACs fixed)
 *   6 INJECT lo hi src bytes   a datagram of (lo | hi << 8) bytes to the
 *                  node, from A, B or a third address; handshake types
 *                  get valid MACs unless arg bit 1
 *   7 SEAL lo hi bytes         frames sealed as DATA from the node's peer
 *                  to it: arg bit 1 previous keys, bit 2 a repeated number
 *   8 TIME t       advance the clock by t*t*50 us and run the timers
 *   9 SEND f s     the node sends: flags f, size class s (s < 64: 8*s
 *                  bytes, else (s-64) * 256), channel from arg (app, the
 *                  module's, a protocol channel nobody owns)
 *  10 POLL         the node stops (or resumes) polling its events
 *  11 CONNECT      the node dials its peer (arg bit 1: itself)
 *  12 CLOSE        the node closes its session
 *  13 RESTART      the node restarts with the same identity
 *  14 MEMBER       membership: the node joins through the other (arg
 *                  bit 1: leaves)
 *  15 RUN          deliver everything in flight, (arg>>1)+1 rounds
 *
 * Seeds in fuzz/corpus/fuzz_session/ (made by fuzz/make_seeds.py) reach
 * deep states: after a rekey, mid-fragmentation, a full receive buffer,
 * receipts pending, a module channel, a restart, cookies under load.
 */
#include "fuzzworld.h"

typedef struct rd {
    const uint8_t *p;
    size_t n, i;
} rd;

static int rd_u8(rd *r, uint8_t *v)
{
    if (r->i >= r->n)
        return 0;
    *v = r->p[r->i++];
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static fw w;
    static uint8_t pkt[65536];
    if (size < 1 || fw_init(&w, data[0]) < 0)
        return 0;
    rd r = {data, size, 1};
    uint8_t c, a, b, s;
    for (int ops = 0; ops < 128 && rd_u8(&r, &c); ops++) {
        int node = (c >> 4) & 1, arg = c >> 4;
        switch (c & 15) {
        case 0:
            for (int k = 0; k <= arg >> 1 && w.qn; k++)
                fw_deliver(&w, 0);
            break;
        case 1:
            if (rd_u8(&r, &a) && w.qn)
                fw_deliver(&w, a % w.qn);
            break;
        case 2:
            if (rd_u8(&r, &a) && w.qn)
                fw_qdel(&w, a % w.qn);
            break;
        case 3:
            if (rd_u8(&r, &a) && w.qn) {
                fw_pkt *p = &w.q[a % w.qn];
                fw_deliver_pkt(&w, p->to, &p->from, p->data, p->len);
            }
            break;
        case 4:
            if (rd_u8(&r, &a) && w.nhist) {
                fw_pkt *p = &w.hist[a % w.nhist];
                fw_deliver_pkt(&w, p->to, &p->from, p->data, p->len);
            }
            break;
        case 5: {
            if (!rd_u8(&r, &a) || !rd_u8(&r, &b))
                break;
            size_t n = (size_t)b * 2;
            if (n > r.n - r.i)
                n = r.n - r.i;
            if (w.qn)
                fw_mutate(&w, a % w.qn, r.p + r.i, n);
            r.i += n;
            break;
        }
        case 6:
        case 7: {
            if (!rd_u8(&r, &a) || !rd_u8(&r, &b))
                break;
            size_t n = (size_t)a | (size_t)b << 8;
            weft_addr from = w.addr[1 - node];
            if ((c & 15) == 6) {
                if (!rd_u8(&r, &s))
                    break;
                if (s % 3 == 1)
                    from = w.addr[node];
                else if (s % 3 == 2)
                    weft_addr_parse(&from, s & 4 ? "127.0.0.3:9" : "127.0.0.2:9");
            }
            if (n > r.n - r.i)
                n = r.n - r.i;
            if (n > sizeof pkt - WEFT__DATA_OVERHEAD)
                n = sizeof pkt - WEFT__DATA_OVERHEAD;
            const uint8_t *body = r.p + r.i;
            r.i += n;
            if ((c & 15) == 6) {
                memcpy(pkt, body, n);
                if (!(arg & 2) && w.e[node])
                    fw_fix_macs(w.e[node], &from, pkt, n);
                fw_deliver_pkt(&w, node, &from, pkt, n);
            } else {
                weft__peer *p = fw_session(w.e[1 - node]);
                uint64_t pn = (arg & 4) && p && p->conn.pn_next > 1 ? p->conn.pn_next - 2
                                                                    : UINT64_MAX;
                size_t len = fw_seal(&w, 1 - node, arg & 2, pn, body, n, pkt, sizeof pkt);
                if (len)
                    fw_deliver_pkt(&w, node, &w.addr[1 - node], pkt, len);
            }
            break;
        }
        case 8:
            if (rd_u8(&r, &a))
                fw_time(&w, (uint64_t)a * a * 50);
            break;
        case 9: {
            if (!rd_u8(&r, &a) || !rd_u8(&r, &b))
                break;
            static const uint16_t chans[4] = {WEFT_CHANNEL_APP, FW_ECHO_CHANNEL, 5,
                                              WEFT_CHANNEL_APP + 7};
            size_t len = b < 64 ? (size_t)b * 8 : (size_t)(b - 64) * 256;
            fw_send(&w, node, chans[(arg >> 1) & 3], a & 0x1f, len);
            break;
        }
        case 10:
            w.no_poll[node] ^= 1;
            fw_pump(&w);
            break;
        case 11:
            if (w.e[node])
                weft_engine_connect(w.e[node], &w.addr[arg & 2 ? node : 1 - node], w.now);
            fw_pump(&w);
            break;
        case 12:
            if (w.e[node] && w.e[1 - node])
                weft_engine_close_peer(w.e[node], weft_engine_id(w.e[1 - node]), w.now);
            fw_pump(&w);
            break;
        case 13:
            fw_restart(&w, node);
            fw_pump(&w);
            break;
        case 14:
            if (w.e[node] && (w.flags & FW_MEMBERSHIP)) {
                if (arg & 2)
                    weft_membership_leave(w.e[node], w.now);
                else
                    weft_membership_join(w.e[node], &w.addr[1 - node], w.now);
            }
            fw_pump(&w);
            break;
        case 15:
            fw_run(&w, (arg >> 1) + 1);
            break;
        }
    }
    fw_free(&w);
    return 0;
}
