/*
 * fuzzworld.h -- the stateful world of the engine fuzzers (fuzz_packet.c,
 * fuzz_session.c), in the style of ngtcp2's and WireGuard's harnesses: two
 * engines, A (127.0.0.1:1) and B (127.0.0.2:1), a queue of the datagrams in
 * flight between them, a virtual clock, and operations an input drives --
 * deliver, reorder, drop, duplicate, replay, mutate, inject, seal, advance
 * time, send, stop polling, connect, close, restart, join.
 *
 * Authenticity must not stop the fuzzer, so the harness plays the part of
 * someone who holds the keys (it includes the engine's internals):
 *   - a handshake-typed input gets a valid mac1 under the target's network
 *     key, and a valid mac2 for the target's cookie when it is under load,
 *     so mutations land past the MAC checks in noise and the handshake
 *     logic;
 *   - a COOKIE-typed input is sealed for the target's outstanding HS_INIT;
 *   - a queued DATA packet is mutated in plaintext and sealed again under
 *     the sender's session keys; frames from the input are sealed as the
 *     next DATA packet (or under the previous keys, or with an old number);
 *   - crypto is weft_sim_fast_crypto() (cheap DH, hash and signatures), so
 *     a whole handshake per input costs microseconds; with the config flag
 *     FW_REAL_AEAD the AEAD is libsodium's (and libcrypto's bulk path for
 *     payloads >= 4 KiB), so the real decryption of large packets is
 *     fuzzed too.
 *
 * Invariants checked on every event (abort() fails the input): an outcome
 * (DELIVERED / SEND_FAILED) names an id weft_engine_send returned, and no id
 * gets two outcomes (the delivery promise, docs/ARCHITECTURE.md §Delivery).
 *
 * Everything is deterministic: the same input replays the same run.
 */
#ifndef WEFT_FUZZWORLD_H
#define WEFT_FUZZWORLD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_internal.h"
#include "base/util.h"
#include "base/varint.h"
#include "weft/crypto.h"
#include "weft/sim.h"
#include "weft/weft.h"

/* Wire constants of docs/PROTOCOL.md §4 (handshake packets). */
enum {
    FW_INIT_LEN = 176, FW_INIT_MAC1 = 144, FW_INIT_MAC2 = 160, FW_INIT_IDX = 2,
    FW_RESP_LEN = 170, FW_RESP_MAC1 = 154,
    FW_FIN_LEN = 134, FW_FIN_MAC1 = 118,
    FW_COOKIE_LEN = 54, FW_COOKIE_RIDX = 2, FW_COOKIE_SALT = 6, FW_COOKIE_SEALED = 22
};

/* Config flags: the first byte of an input. */
enum {
    FW_MEMBERSHIP = 0x01,  /* membership attached on both */
    FW_SMALL_BUFS = 0x02,  /* 16 KiB receive window, 64 KiB send queue */
    FW_LOW_RATE = 0x04,    /* 4 handshakes/s, 4 half-open (2 per IP):
                              cookies, rate limits and eviction */
    FW_FAST_REKEY = 0x08,  /* rekey after 1 s or 64 packets */
    FW_NO_SESSION = 0x10,  /* start without a session */
    FW_ECHO = 0x20,        /* a module owning channel 0xf0 on both */
    FW_BIG_MTU = 0x40,     /* mtu_max 9000 (else 1200): path-MTU probes,
                              packets past 4 KiB */
    FW_REAL_AEAD = 0x80    /* libsodium's AEAD (bulk path >= 4 KiB) */
};

#define FW_QMAX 128          /* datagrams in flight (more are dropped) */
#define FW_HIST 16           /* delivered datagrams kept for replays */
#define FW_HIST_BYTES 2048   /* ... when at most this long */
#define FW_IDS 4096          /* message ids tracked for the invariants */
#define FW_ECHO_CHANNEL 0xf0
#define FW_SEND_BUDGET (128u << 10) /* bytes sent per input: keeps it fast */

struct fw;
typedef struct fw_node {
    struct fw *w;
    int i;
} fw_node;

typedef struct fw_pkt {
    int to;                  /* 0 = A, 1 = B */
    weft_addr from;
    size_t len;
    uint8_t *data;
} fw_pkt;

typedef struct fw {
    weft_engine *e[2];
    weft_config cfg[2];
    weft_addr addr[2];
    weft_env env;
    weft_crypto crypto;      /* fast crypto, maybe with sodium's AEAD */
    uint8_t flags;
    uint64_t now;
    fw_pkt q[FW_QMAX];
    size_t qn;
    fw_pkt hist[FW_HIST];
    size_t nhist, hist_pos;
    int no_poll[2];
    uint64_t rng;
    /* outcomes per message id, per sender: bit 0 sent, bit 1 outcome */
    uint8_t ids[2][FW_IDS];
    fw_node node[2];         /* the echo module's state */
    size_t sent;             /* bytes the nodes were asked to send */
} fw;

static inline void fw_mark_sent(fw *w, int i, int64_t id)
{
    if (id > 0 && id < FW_IDS)
        w->ids[i][id] |= 1;
}

/* echo: a question ('Q'...) is answered on the same channel. */
static inline int fw_echo_on_message(void *m, const weft_node_id *from, uint16_t ch,
                                     const uint8_t *msg, size_t len, uint32_t flags,
                                     uint64_t now)
{
    fw_node *n = m;
    (void)flags;
    if (len >= 1 && msg[0] == 'Q') {
        uint8_t out[64];
        size_t k = len < sizeof out ? len : sizeof out;
        memcpy(out, msg, k);
        out[0] = 'A';
        int64_t rc = weft_engine_send(n->w->e[n->i], from, ch, out, k, WEFT_SEND_UNORDERED, now);
        fw_mark_sent(n->w, n->i, rc);
        return rc < 0 ? (int)rc : 0;
    }
    return 0;
}

static uint8_t fw_buf[65536];

static inline void fw_rand(void *ctx, uint8_t *b, size_t n)
{
    uint64_t *s = ctx;
    for (size_t i = 0; i < n; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        b[i] = (uint8_t)(*s >> 56);
    }
}

/* --- echo: a small module on its own channel, so module dispatch (the
 * inbox, receipts for module messages, sending from a callback) is in
 * reach.  Its state is the node's slot in the world. ------------------ */

static inline int fw_echo_on_message(void *m, const weft_node_id *from, uint16_t ch,
                                     const uint8_t *msg, size_t len, uint32_t flags,
                                     uint64_t now);

static const weft_module_ops fw_echo_ops = {
    .version = WEFT_MODULE_OPS_VERSION,
    .name = "echo",
    .channel_lo = FW_ECHO_CHANNEL,
    .channel_hi = FW_ECHO_CHANNEL,
    .on_message = fw_echo_on_message,
};

/* --- memory: big blocks are kept between inputs ----------------------
 * An engine (and membership) allocates a few large buffers; under ASan
 * every fresh large block costs page faults that dominated the time of an
 * input.  Blocks of FW_BIG bytes or more are kept in a small cache when
 * freed and handed out again for the same size; while cached they are
 * poisoned, so a use after free is still reported. */

#if defined(__SANITIZE_ADDRESS__)
#define FW_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FW_ASAN 1
#endif
#endif
#ifdef FW_ASAN
#include <sanitizer/asan_interface.h>
#endif
#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n) ((void)(p), (void)(n))
#endif

#define FW_BIG 16384
#define FW_BIG_SLOTS 32

static struct {
    void *p;
    size_t n;
    int cached;
} fw_big[FW_BIG_SLOTS];

static inline void *fw_alloc(void *ctx, size_t n)
{
    (void)ctx;
    if (n < FW_BIG)
        return malloc(n);
    int freeslot = -1;
    for (int i = 0; i < FW_BIG_SLOTS; i++) {
        if (fw_big[i].p && fw_big[i].cached && fw_big[i].n == n) {
            fw_big[i].cached = 0;
            ASAN_UNPOISON_MEMORY_REGION(fw_big[i].p, n);
            memset(fw_big[i].p, 0xbe, n); /* no stale contents */
            return fw_big[i].p;
        }
        if (!fw_big[i].p && freeslot < 0)
            freeslot = i;
    }
    void *p = malloc(n);
    if (p && freeslot >= 0)
        fw_big[freeslot].p = p, fw_big[freeslot].n = n, fw_big[freeslot].cached = 0;
    return p;
}

static inline void fw_dealloc(void *ctx, void *p)
{
    (void)ctx;
    for (int i = 0; p && i < FW_BIG_SLOTS; i++)
        if (fw_big[i].p == p && !fw_big[i].cached) {
            fw_big[i].cached = 1;
            ASAN_POISON_MEMORY_REGION(p, fw_big[i].n);
            return;
        }
    free(p);
}

static inline void *fw_realloc(void *ctx, void *p, size_t n)
{
    size_t old = 0;
    int big = 0;
    for (int i = 0; p && i < FW_BIG_SLOTS; i++)
        if (fw_big[i].p == p && !fw_big[i].cached)
            big = 1, old = fw_big[i].n;
    if (!big)
        return realloc(p, n); /* grown from small: not cached, plain free */
    void *q = fw_alloc(ctx, n);
    if (q) {
        memcpy(q, p, old < n ? old : n);
        fw_dealloc(ctx, p);
    }
    return q;
}

static const weft_allocator fw_allocator = {NULL, fw_alloc, fw_realloc, fw_dealloc};

/* --- set-up ------------------------------------------------------------- */

static inline int fw_make(fw *w, int i)
{
    if (weft_engine_new(&w->e[i], &w->cfg[i], &w->env, w->now) < 0) {
        w->e[i] = NULL;
        return -1;
    }
    if (w->flags & FW_MEMBERSHIP) {
        weft_membership_config mc;
        weft_membership_config_default(&mc);
        if (weft_membership_attach(w->e[i], &mc, w->now) < 0 ||
            weft_membership_set_addr(w->e[i], &w->addr[i], w->now) < 0)
            return -1;
    }
    w->node[i] = (fw_node){w, i};
    if ((w->flags & FW_ECHO) && weft_host_register(w->e[i], &fw_echo_ops, &w->node[i]) < 0)
        return -1;
    return 0;
}

static inline void fw_qdel(fw *w, size_t k)
{
    free(w->q[k].data);
    memmove(&w->q[k], &w->q[k + 1], (w->qn - k - 1) * sizeof w->q[0]);
    w->qn--;
}

/* Takes what node i has to send into the queue. */
static inline void fw_flush(fw *w, int i)
{
    if (!w->e[i])
        return;
    for (int k = 0; k < 256; k++) {
        weft_addr to;
        ptrdiff_t n = weft_engine_write(w->e[i], &to, fw_buf, sizeof fw_buf, w->now);
        if (n <= 0)
            break;
        int dst = weft_addr_eq(&to, &w->addr[0]) ? 0 : weft_addr_eq(&to, &w->addr[1]) ? 1 : -1;
        if (dst < 0 || w->qn == FW_QMAX)
            continue; /* nobody there, or the wire is full: lost */
        uint8_t *d = malloc((size_t)n);
        if (!d)
            abort();
        memcpy(d, fw_buf, (size_t)n);
        w->q[w->qn++] = (fw_pkt){dst, w->addr[i], (size_t)n, d};
    }
}

/* Takes node i's events (unless it stopped polling) and checks the
 * delivery promise. */
static inline void fw_poll(fw *w, int i)
{
    weft_event ev;
    if (!w->e[i] || w->no_poll[i])
        return;
    for (int k = 0; k < 4096 && weft_engine_poll(w->e[i], &ev); k++) {
        if (ev.type != WEFT_EV_DELIVERED && ev.type != WEFT_EV_SEND_FAILED)
            continue;
        uint64_t id = ev.u.delivery.msg_id;
        if (id < FW_IDS) {
            if (!(w->ids[i][id] & 1) || (w->ids[i][id] & 2)) {
                /* an outcome for an id never given, or a second one */
                fprintf(stderr, "fuzzworld: node %d: %s (error %d) for message %llu, %s\n", i,
                        weft_event_name(w->e[i], ev.type), ev.error, (unsigned long long)id,
                        w->ids[i][id] & 2 ? "which already had its outcome" : "never sent");
                abort();
            }
            w->ids[i][id] |= 2;
        }
    }
}

static inline void fw_pump(fw *w)
{
    for (int i = 0; i < 2; i++) {
        fw_poll(w, i);
        fw_flush(w, i);
    }
}

static inline void fw_free(fw *w)
{
    for (int i = 0; i < 2; i++)
        weft_engine_del(w->e[i]);
    for (size_t k = 0; k < w->qn; k++)
        free(w->q[k].data);
    for (size_t k = 0; k < w->nhist; k++)
        free(w->hist[k].data);
    memset(w, 0, sizeof *w);
}

static inline void fw_deliver_pkt(fw *w, int to, const weft_addr *from, const uint8_t *d, size_t len)
{
    if (!w->e[to])
        return;
    uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */
    if (!copy)
        abort();
    memcpy(copy, d, len);
    weft_engine_recv(w->e[to], from, copy, len, w->now);
    free(copy);
    fw_pump(w);
}

/* Delivers queued datagram k (and keeps a copy for replays). */
static inline void fw_deliver(fw *w, size_t k)
{
    fw_pkt p = w->q[k];
    memmove(&w->q[k], &w->q[k + 1], (w->qn - k - 1) * sizeof w->q[0]);
    w->qn--;
    fw_deliver_pkt(w, p.to, &p.from, p.data, p.len);
    if (p.len <= FW_HIST_BYTES) {
        size_t h = w->hist_pos++ % FW_HIST;
        if (h < w->nhist)
            free(w->hist[h].data);
        else
            w->nhist++;
        w->hist[h] = p;
    } else {
        free(p.data);
    }
}

/* Delivers everything in flight, in order, for up to `rounds` rounds. */
static inline void fw_run(fw *w, int rounds)
{
    for (int r = 0; r < rounds && w->qn; r++) {
        size_t n = w->qn;
        for (size_t k = 0; k < n && w->qn; k++)
            fw_deliver(w, 0);
    }
}

/* Advances the clock by dt and runs the timers that are due. */
static inline void fw_time(fw *w, uint64_t dt)
{
    w->now += dt;
    for (int i = 0; i < 2; i++)
        if (w->e[i] && weft_engine_expiry(w->e[i]) <= w->now)
            weft_engine_handle_expiry(w->e[i], w->now);
    fw_pump(w);
}

/*
 * Two engines with flags' configuration (and the same identities every
 * time); unless FW_NO_SESSION, A dials B and the handshake completes.
 * Returns 0, or -1 when the world could not be made (w is freed).
 */
static inline int fw_init(fw *w, uint8_t flags)
{
    memset(w, 0, sizeof *w);
    w->flags = flags;
    w->now = 1000000;
    w->rng = 1;
    w->crypto = *weft_sim_fast_crypto();
    if (flags & FW_REAL_AEAD) {
        const weft_crypto *s = weft_crypto_sodium();
        w->crypto.aead_seal = s->aead_seal;
        w->crypto.aead_open = s->aead_open;
        w->crypto.ctx = s->ctx; /* both tolerate the other's (NULL) context */
    }
    w->env = (weft_env){&fw_allocator, &w->crypto, {&w->rng, fw_rand}, NULL, NULL};
    for (int i = 0; i < 2; i++) {
        weft_config *c = &w->cfg[i];
        weft_config_default(c);
        uint8_t seed[32], pk[32];
        memset(seed, 0x31 + i, 32);
        w->crypto.sign_keypair_seed(w->crypto.ctx, pk, c->identity_secret, seed);
        memset(c->network_key, 0x11, 32);
        c->max_message_bytes = 1 << 20;
        c->unreachable_ms = 3000;
        c->keepalive_ms = 500;
        c->handshake_timeout_ms = 200;
        c->idle_timeout_ms = 20000;
        c->mtu_max = flags & FW_BIG_MTU ? 9000 : 1200;
        if (flags & FW_SMALL_BUFS) {
            c->recv_window_bytes = 16384;
            c->max_queued_bytes = 65536;
        }
        if (flags & FW_LOW_RATE) {
            c->handshake_rate_per_s = 4;
            c->half_open_max = 4;
            c->half_open_per_addr = 2;
        }
        if (flags & FW_FAST_REKEY) {
            c->rekey_after_ms = 1000;
            c->rekey_after_packets = 128;
        }
        weft_addr_parse(&w->addr[i], i ? "127.0.0.2:1" : "127.0.0.1:1");
    }
    for (int i = 0; i < 2; i++)
        if (fw_make(w, i) < 0) {
            fw_free(w);
            return -1;
        }
    if (!(flags & FW_NO_SESSION)) {
        weft_engine_connect(w->e[0], &w->addr[1], w->now);
        fw_pump(w);
        fw_run(w, 6);
    }
    return 0;
}

/* --- the keys the harness plays with ---------------------------------- */

static inline void fw_mac(const weft_engine *e, uint8_t out[16], const uint8_t *key, size_t keylen,
                   const uint8_t *msg, size_t len)
{
    weft_iov iov = {msg, len};
    e->c->mac(e->c->ctx, out, 16, key, keylen, &iov, 1);
}

/* The cookie engine e expects from address a (handshake.c cookie_for). */
static inline void fw_cookie(const weft_engine *e, const weft_addr *a, uint8_t out[16])
{
    uint8_t b[19];
    b[0] = a->family;
    weft__put_u16(b + 1, a->port);
    memcpy(b + 3, a->ip, 16);
    fw_mac(e, out, e->cookie_secret, sizeof e->cookie_secret, b, sizeof b);
}

/* Makes a handshake-typed datagram for engine e (from address from) pass
 * its MAC checks: mac1 always, mac2 for HS_INIT, and a COOKIE sealed for
 * e's outstanding HS_INIT (the index the packet names, else the first
 * handshake e has in progress). */
static inline void fw_fix_macs(const weft_engine *e, const weft_addr *from, uint8_t *p, size_t len)
{
    if (len < 2)
        return;
    if (p[0] == WEFT__PKT_HS_INIT && len == FW_INIT_LEN) {
        uint8_t ck[16];
        fw_mac(e, p + FW_INIT_MAC1, e->mac1_key, 32, p, FW_INIT_MAC1);
        fw_cookie(e, from, ck);
        fw_mac(e, p + FW_INIT_MAC2, ck, 16, p, FW_INIT_MAC2);
    } else if (p[0] == WEFT__PKT_HS_RESP && len == FW_RESP_LEN) {
        fw_mac(e, p + FW_RESP_MAC1, e->mac1_key, 32, p, FW_RESP_MAC1);
    } else if (p[0] == WEFT__PKT_HS_FIN && len == FW_FIN_LEN) {
        fw_mac(e, p + FW_FIN_MAC1, e->mac1_key, 32, p, FW_FIN_MAC1);
    } else if (p[0] == WEFT__PKT_COOKIE && len == FW_COOKIE_LEN) {
        weft__peer *t = weft__u64map_get(&e->by_idx, weft__get_u32(p + FW_COOKIE_RIDX));
        for (size_t i = 0; !t && i < e->npeers; i++)
            if (e->peers[i]->hs.state == HS_INIT_SENT)
                t = e->peers[i];
        if (!t)
            return;
        weft__put_u32(p + FW_COOKIE_RIDX, t->hs.local_idx);
        uint8_t k[32], ck[16];
        weft_iov iov = {p + FW_COOKIE_SALT, 16};
        e->c->mac(e->c->ctx, k, 32, e->cookie_key, 32, &iov, 1);
        memcpy(ck, p + FW_COOKIE_SEALED, 16);
        e->c->aead_seal(e->c->ctx, p + FW_COOKIE_SEALED, k, 0, t->hs.init_mac1, 16, ck, 16);
    }
}

/* The peer of engine `of` that holds a session (any, else NULL). */
static weft__peer *fw_session(weft_engine *of)
{
    for (size_t i = 0; of && i < of->npeers; i++)
        if (of->peers[i]->established && of->peers[i]->cur.valid)
            return of->peers[i];
    return NULL;
}

/* Seals plaintext frames as a DATA packet from node `src`'s session to
 * its peer: under the current keys (or the previous ones when prev and
 * they exist), with packet number pn (UINT64_MAX: the next one).  Returns
 * the packet length in out, 0 when there is no session. */
static inline size_t fw_seal(fw *w, int src, int prev, uint64_t pn, const uint8_t *pt, size_t len,
                      uint8_t *out, size_t cap)
{
    weft__peer *p = fw_session(w->e[src]);
    if (!p || len + WEFT__DATA_OVERHEAD > cap)
        return 0;
    const weft__keys *k = prev && p->prev.valid ? &p->prev : &p->cur;
    if (pn == UINT64_MAX)
        pn = p->conn.pn_next++;
    out[0] = WEFT__PKT_DATA;
    weft__put_u32(out + 1, k->remote_idx);
    weft__put_u64(out + 5, pn);
    w->e[src]->c->aead_seal(w->e[src]->c->ctx, out + WEFT__DATA_HDR, k->k_send, pn, out,
                            WEFT__DATA_HDR, pt, len);
    return len + WEFT__DATA_OVERHEAD;
}

/* Opens a DATA packet that node src sealed (current or previous keys).
 * Returns the plaintext length in pt, or -1. */
static inline ptrdiff_t fw_open(fw *w, int src, const uint8_t *pkt, size_t len, uint8_t *pt)
{
    weft__peer *p = fw_session(w->e[src]);
    if (!p || len < WEFT__DATA_OVERHEAD || pkt[0] != WEFT__PKT_DATA)
        return -1;
    uint32_t ridx = weft__get_u32(pkt + 1);
    const weft__keys *k = ridx == p->cur.remote_idx ? &p->cur
                          : p->prev.valid && ridx == p->prev.remote_idx ? &p->prev : NULL;
    if (!k)
        return -1;
    uint64_t pn = weft__get_u64(pkt + 5);
    if (w->e[src]->c->aead_open(w->e[src]->c->ctx, pt, k->k_send, pn, pkt, WEFT__DATA_HDR,
                                pkt + WEFT__DATA_HDR, len - WEFT__DATA_HDR) < 0)
        return -1;
    return (ptrdiff_t)(len - WEFT__DATA_OVERHEAD);
}

/* Mutates queued datagram k with (pos, xor) pairs from m[0..n) and
 * delivers it: a DATA packet is opened, changed in plaintext and sealed
 * again under the same keys and number; a handshake packet gets its MACs
 * fixed afterwards. */
static inline void fw_mutate(fw *w, size_t k, const uint8_t *m, size_t n)
{
    fw_pkt p = w->q[k];
    memmove(&w->q[k], &w->q[k + 1], (w->qn - k - 1) * sizeof w->q[0]);
    w->qn--;
    int src = 1 - p.to;
    static uint8_t pt[65536];
    ptrdiff_t ptl = fw_open(w, src, p.data, p.len, pt);
    if (ptl >= 0) {
        for (size_t i = 0; i + 1 < n && ptl > 0; i += 2)
            pt[m[i] * 257u % (size_t)ptl] ^= m[i + 1];
        uint32_t ridx = weft__get_u32(p.data + 1);
        uint64_t pn = weft__get_u64(p.data + 5);
        weft__peer *s = fw_session(w->e[src]);
        const weft__keys *key = ridx == s->cur.remote_idx ? &s->cur : &s->prev;
        w->e[src]->c->aead_seal(w->e[src]->c->ctx, p.data + WEFT__DATA_HDR, key->k_send, pn,
                                p.data, WEFT__DATA_HDR, pt, (size_t)ptl);
    } else {
        for (size_t i = 0; i + 1 < n && p.len > 0; i += 2)
            p.data[m[i] % p.len] ^= m[i + 1];
        if (w->e[p.to])
            fw_fix_macs(w->e[p.to], &p.from, p.data, p.len);
    }
    fw_deliver_pkt(w, p.to, &p.from, p.data, p.len);
    free(p.data);
}

/* Node i sends a message of len bytes (a pattern) with flags on channel
 * ch to the other node. */
static inline void fw_send(fw *w, int i, uint16_t ch, uint32_t flags, size_t len)
{
    if (!w->e[i] || !w->e[1 - i])
        return;
    static uint8_t msg[FW_SEND_BUDGET];
    if (len > FW_SEND_BUDGET - w->sent)
        len = FW_SEND_BUDGET - w->sent;
    w->sent += len;
    for (size_t k = 0; k < len; k++)
        msg[k] = (uint8_t)(k * 31 + len);
    if (len)
        msg[0] = 'Q';
    int64_t id = weft_engine_send(w->e[i], weft_engine_id(w->e[1 - i]), ch, msg, len, flags,
                                  w->now);
    fw_mark_sent(w, i, id);
    fw_pump(w);
}

/* Node i restarts: same identity and configuration, fresh state.  Its
 * events and ids start over. */
static inline void fw_restart(fw *w, int i)
{
    weft_engine_del(w->e[i]);
    w->e[i] = NULL;
    memset(w->ids[i], 0, sizeof w->ids[i]);
    if (fw_make(w, i) < 0) {
        weft_engine_del(w->e[i]);
        w->e[i] = NULL;
    }
}

#endif
