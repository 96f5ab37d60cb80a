/*
 * handshake.c -- Noise_XXpsk3_25519_ChaChaPoly_BLAKE2b handshakes around
 * noise.c, the keys they produce, rekeying, and the defences that keep a
 * responder cheap to an attacker.  Byte layouts: docs/PROTOCOL.md §4.
 *
 *     -> e                       HS_INIT  (padded: never smaller than HS_RESP)
 *     <- e, ee, s, es            HS_RESP  (responder: Ed25519 id, session id)
 *     -> s, se, psk              HS_FIN   (initiator: Ed25519 id, session id)
 *
 * What an unverified packet can cost the responder (docs/PROTOCOL.md
 * §Costs), in the order the checks run:
 *   - mac1 (keyed BLAKE2b under a key derived from the network key, the
 *     idea of WireGuard's mac1, WireGuard paper §5.4.4): a sender without
 *     the network key costs one MAC and gets no answer;
 *   - a resent HS_INIT for a half-open slot is answered from the stored
 *     HS_RESP, at most once per WEFT__HS_RESEND_MIN_US, and never extends
 *     the slot's life: replays cannot keep state alive;
 *   - under load (half the handshake budget spent, or half the half-open
 *     slots taken) an HS_INIT must carry mac2, a MAC under a cookie bound
 *     to its source address (WireGuard §5.4.7; the principle of QUIC's
 *     Retry, RFC 9000 §8.1): without it the answer is a 54-byte sealed
 *     cookie reply and no state at all, so spoofed sources get nothing;
 *   - at most handshake_rate_per_s Diffie-Hellman handshakes per second
 *     (token bucket), and at most half_open_max half-open slots in total
 *     and half_open_per_addr per source IP, evicting the oldest;
 *   - HS_INIT is padded so that HS_RESP is never larger than the HS_INIT
 *     that caused it (the anti-amplification rule of RFC 9000 §8.1): no
 *     packet from an unverified address makes us send more bytes back.
 */
#include <string.h>

#include "core/engine_internal.h"
#include "base/cursor.h"
#include "base/util.h"

#define HS_PROLOGUE "weft-v2"
#define PREV_KEYS_KEEP_US 10000000ull   /* old receive keys live 10 s */
#define COOKIE_ROTATE_US 120000000ull   /* WireGuard's 2 minutes */
#define COOKIE_VALID_US 110000000ull    /* initiator uses a cookie this long */
#define WEFT__HS_RESEND_MIN_US 100000ull /* responder resends msg2 at most
                                            this often per slot */

/* HS_INIT: type, version, sender index, Noise msg1 (e + empty payload tag),
 * zero padding, mac1, mac2. */
enum {
    INIT_OFF_IDX = 2,
    INIT_OFF_NOISE = 6,
    INIT_NOISE_LEN = 48,
    INIT_OFF_PAD = INIT_OFF_NOISE + INIT_NOISE_LEN,
    INIT_PAD_LEN = 90,
    INIT_OFF_MAC1 = INIT_OFF_PAD + INIT_PAD_LEN,
    INIT_OFF_MAC2 = INIT_OFF_MAC1 + WEFT__MAC_BYTES,
    HS_INIT_LEN = INIT_OFF_MAC2 + WEFT__MAC_BYTES
};
/* HS_RESP: type, version, sender index, receiver index, Noise msg2
 * (e, encrypted s, encrypted payload), mac1. */
enum {
    RESP_OFF_IDX = 2,
    RESP_OFF_RIDX = 6,
    RESP_OFF_NOISE = 10,
    RESP_NOISE_LEN = 32 + 48 + WEFT__HS_PAYLOAD + 16,
    RESP_OFF_MAC1 = RESP_OFF_NOISE + RESP_NOISE_LEN,
    HS_RESP_LEN = RESP_OFF_MAC1 + WEFT__MAC_BYTES
};
/* HS_FIN: type, version, receiver index, Noise msg3 (encrypted s,
 * encrypted payload), mac1. */
enum {
    FIN_OFF_RIDX = 2,
    FIN_OFF_NOISE = 6,
    FIN_NOISE_LEN = 48 + WEFT__HS_PAYLOAD + 16,
    FIN_OFF_MAC1 = FIN_OFF_NOISE + FIN_NOISE_LEN,
    HS_FIN_LEN = FIN_OFF_MAC1 + WEFT__MAC_BYTES
};
/* COOKIE: type, version, receiver index (the initiator's), salt, the
 * cookie sealed under a key derived from the network key and the salt,
 * with the HS_INIT's mac1 as associated data. */
enum {
    COOKIE_OFF_RIDX = 2,
    COOKIE_OFF_SALT = 6,
    COOKIE_SALT_LEN = 16,
    COOKIE_OFF_SEALED = COOKIE_OFF_SALT + COOKIE_SALT_LEN,
    COOKIE_LEN = 16,
    HS_COOKIE_LEN = COOKIE_OFF_SEALED + COOKIE_LEN + 16
};

_Static_assert(HS_INIT_LEN == 176, "HS_INIT layout");
_Static_assert(HS_RESP_LEN == 170, "HS_RESP layout");
_Static_assert(HS_FIN_LEN == 134, "HS_FIN layout");
_Static_assert(HS_COOKIE_LEN == 54, "COOKIE layout");
_Static_assert((int)HS_RESP_LEN <= (int)HS_INIT_LEN && (int)HS_COOKIE_LEN <= (int)HS_INIT_LEN,
               "no answer to an unverified HS_INIT may be larger than it");
_Static_assert(INIT_NOISE_LEN == WEFT__NOISE_MSG0_OVERHEAD, "msg1 size");
_Static_assert(RESP_NOISE_LEN == WEFT__NOISE_MSG1_OVERHEAD + WEFT__HS_PAYLOAD, "msg2 size");
_Static_assert(FIN_NOISE_LEN == WEFT__NOISE_MSG2_OVERHEAD + WEFT__HS_PAYLOAD, "msg3 size");

/* ------------------------------------------------------------------------ */
/* Keys and MACs                                                             */

static void derive(const weft_crypto *c, uint8_t out[32], const char *label,
                   const uint8_t *key, size_t keylen)
{
    uint8_t h[64];
    weft_iov iov[2] = {{label, strlen(label)}, {key, keylen}};
    c->hash(c->ctx, h, iov, 2);
    memcpy(out, h, 32);
    c->wipe(c->ctx, h, sizeof h);
}

int weft__hs_keys_init(weft__engine *e)
{
    if (e->c->ed_sk_to_x(e->c->ctx, e->x_sk, e->cfg.identity_secret) < 0)
        return WEFT_ERR_CONFIG;
    derive(e->c, e->psk, "weft-psk-v1", e->cfg.network_key, 32);
    derive(e->c, e->mac1_key, "weft-mac1-v1", e->cfg.network_key, 32);
    derive(e->c, e->cookie_key, "weft-cookie-v1", e->cfg.network_key, 32);
    e->env.rand.fill(e->env.rand.ctx, e->cookie_secret, sizeof e->cookie_secret);
    e->cookie_secret_us = e->now_us;
    return 0;
}

static void mac(const weft__engine *e, uint8_t out[WEFT__MAC_BYTES],
                const uint8_t key[], size_t keylen, const uint8_t *msg, size_t len)
{
    weft_iov iov = {msg, len};
    e->c->mac(e->c->ctx, out, WEFT__MAC_BYTES, key, keylen, &iov, 1);
}

static int mac_eq(const uint8_t *a, const uint8_t *b)
{
    uint8_t d = 0;
    for (int i = 0; i < WEFT__MAC_BYTES; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

static int check_mac1(const weft__engine *e, const uint8_t *pkt, size_t mac_off)
{
    uint8_t m[WEFT__MAC_BYTES];
    mac(e, m, e->mac1_key, 32, pkt, mac_off);
    return mac_eq(m, pkt + mac_off);
}

/* The cookie of address a under the current responder secret. */
static void cookie_for(weft__engine *e, const weft_addr *a, uint8_t out[16])
{
    if (e->now_us - e->cookie_secret_us >= COOKIE_ROTATE_US) {
        e->env.rand.fill(e->env.rand.ctx, e->cookie_secret, sizeof e->cookie_secret);
        e->cookie_secret_us = e->now_us;
    }
    uint8_t b[19];
    weft__wr w;
    weft__wr_init(&w, b, sizeof b);
    weft__wr_u8(&w, a->family);
    weft__wr_u16(&w, a->port);
    weft__wr_bytes(&w, a->ip, 16);
    mac(e, out, e->cookie_secret, sizeof e->cookie_secret, b, w.pos);
}

/* Key sealing one cookie reply: BLAKE2b(cookie_key, salt). */
static void cookie_seal_key(const weft__engine *e, const uint8_t salt[16], uint8_t k[32])
{
    weft_iov iov = {salt, COOKIE_SALT_LEN};
    e->c->mac(e->c->ctx, k, 32, e->cookie_key, 32, &iov, 1);
}

/* ------------------------------------------------------------------------ */
/* Handshake state                                                           */

static uint32_t new_index(weft__engine *e)
{
    for (;;) {
        uint8_t b[4];
        e->env.rand.fill(e->env.rand.ctx, b, 4);
        uint32_t v = weft__get_u32(b);
        if (v && !weft__u64map_get(&e->by_idx, v))
            return v;
    }
}

static void half_open_done(weft__engine *e, weft__peer *p)
{
    if (p->half_open) {
        p->half_open = 0;
        e->half_open--;
        e->st.half_open = e->half_open;
    }
}

/* Our handshake payload: Ed25519 identity, session id, receive window. */
static void hs_payload(const weft__engine *e, const weft__peer *p,
                       uint8_t out[WEFT__HS_PAYLOAD])
{
    weft__wr w;
    weft__wr_init(&w, out, WEFT__HS_PAYLOAD);
    weft__wr_bytes(&w, e->id.key, 32);
    weft__wr_u64(&w, p->hs.sid);
    weft__wr_u32(&w, e->cfg.recv_window_bytes);
    weft__wr_zero(&w, 4);
}

/* Reads the peer's handshake message (msg2 or msg3) and checks its payload:
 * the Ed25519 key must map to the static key the handshake authenticated
 * (the node id is bound to the session).  Returns 0, noise_read's error
 * (WEFT_ERR_HANDSHAKE when decryption failed: tampered or wrong psk), or
 * WEFT_ERR_PROTO for a payload that does not bind the static key. */
static int hs_read_payload(weft__engine *e, weft__peer *p, const uint8_t *msg,
                           size_t len, weft_node_id *id, uint64_t *sid,
                           uint32_t *window)
{
    uint8_t x[32], pl[WEFT__HS_PAYLOAD + 16];
    ptrdiff_t n = weft__noise_read(p->hs.noise, msg, len, pl, sizeof pl);
    if (n < 0)
        return (int)n;
    const uint8_t *rs = weft__noise_remote_static(p->hs.noise);
    if (n != WEFT__HS_PAYLOAD || !rs)
        return WEFT_ERR_PROTO;
    weft__rd r;
    weft__rd_init(&r, pl, (size_t)n);
    weft__rd_copy(&r, id->key, 32);
    *sid = weft__rd_u64(&r);
    *window = weft__rd_u32(&r);
    if (e->c->ed_pk_to_x(e->c->ctx, x, id->key) < 0 || memcmp(x, rs, 32) != 0)
        return WEFT_ERR_PROTO;
    if (*window < 65536)
        *window = 65536;
    return 0;
}

/* mac1 and (with a fresh cookie) mac2 of our msg1. */
static void init_macs(weft__engine *e, weft__peer *p)
{
    uint8_t *pkt = p->hs.pkt;
    mac(e, pkt + INIT_OFF_MAC1, e->mac1_key, 32, pkt, INIT_OFF_MAC1);
    memcpy(p->hs.init_mac1, pkt + INIT_OFF_MAC1, WEFT__MAC_BYTES);
    if (p->hs.cookie_us && e->now_us - p->hs.cookie_us < COOKIE_VALID_US)
        mac(e, pkt + INIT_OFF_MAC2, p->hs.cookie, sizeof p->hs.cookie, pkt, INIT_OFF_MAC2);
    else
        memset(pkt + INIT_OFF_MAC2, 0, WEFT__MAC_BYTES);
}

int weft__hs_start(weft__engine *e, weft__peer *p, uint64_t now_us)
{
    uint8_t esk[32];
    weft__hs *h = &p->hs;
    weft__hs_clear(e, p);
    h->noise = weft__calloc(e->a, sizeof *h->noise);
    h->pkt = weft__calloc(e->a, HS_INIT_LEN);
    if (!h->noise || !h->pkt) {
        weft__hs_clear(e, p);
        return WEFT_ERR_NOMEM;
    }
    if (h->local_idx && weft__u64map_get(&e->by_idx, h->local_idx) == p)
        weft__u64map_del(&e->by_idx, h->local_idx);
    uint32_t idx = new_index(e);
    if (weft__u64map_put(&e->by_idx, idx, p) < 0) {
        h->local_idx = 0;
        weft__hs_clear(e, p);
        return WEFT_ERR_NOMEM;
    }
    h->local_idx = idx;
    weft__noise_init(h->noise, e->c, 1, (const uint8_t *)HS_PROLOGUE, strlen(HS_PROLOGUE),
                     e->x_sk, e->psk);
    e->env.rand.fill(e->env.rand.ctx, esk, 32);
    uint8_t *pkt = h->pkt;
    pkt[0] = WEFT__PKT_HS_INIT;
    pkt[1] = WEFT__PROTO_VERSION;
    weft__put_u32(pkt + INIT_OFF_IDX, h->local_idx);
    /* -> e (and the psk-mode tag over the empty payload) */
    ptrdiff_t n = weft__noise_write(h->noise, esk, NULL, 0, pkt + INIT_OFF_NOISE, INIT_NOISE_LEN);
    e->c->wipe(e->c->ctx, esk, sizeof esk);
    if (n != INIT_NOISE_LEN) {
        weft__hs_clear(e, p);
        return WEFT_ERR_INTERNAL;
    }
    init_macs(e, p);
    h->pkt_len = HS_INIT_LEN;
    h->pkt_due = 1;
    h->state = HS_INIT_SENT;
    h->initiator = 1;
    h->started_us = now_us;
    h->attempts = 1;
    h->retry_us = now_us + (uint64_t)e->cfg.handshake_timeout_ms * 1000;
    if (!p->established) {
        /* a new transport session unless we are rekeying a live one */
        uint8_t b[8];
        e->env.rand.fill(e->env.rand.ctx, b, 8);
        h->sid = weft__get_u64(b) | 1;
    } else {
        h->sid = p->sid;
    }
    weft__peer_touch(e, p);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Responder                                                                 */

static int take_hs_token(weft__engine *e, uint64_t now_us)
{
    double rate = e->cfg.handshake_rate_per_s;
    e->hs_tokens += (double)(now_us - e->hs_tokens_us) * rate / 1e6;
    if (e->hs_tokens > rate)
        e->hs_tokens = rate;
    e->hs_tokens_us = now_us;
    if (e->hs_tokens < 1.0)
        return 0;
    e->hs_tokens -= 1.0;
    return 1;
}

static int under_load(weft__engine *e, uint64_t now_us)
{
    double rate = e->cfg.handshake_rate_per_s;
    double tokens = e->hs_tokens + (double)(now_us - e->hs_tokens_us) * rate / 1e6;
    return tokens < rate / 2 || e->half_open * 2 >= e->cfg.half_open_max;
}

static int same_ip(const weft_addr *a, const weft_addr *b)
{
    return a->family == b->family && memcmp(a->ip, b->ip, 16) == 0;
}

/* Frees the oldest half-open slot (of address `from`'s IP when given). */
static void evict_half_open(weft__engine *e, const weft_addr *from)
{
    weft__peer *old = NULL;
    for (size_t i = 0; i < e->npeers; i++) {
        weft__peer *q = e->peers[i];
        if (!q->half_open || (from && !same_ip(&q->addr, from)))
            continue;
        if (!old || q->hs.started_us < old->hs.started_us)
            old = q;
    }
    if (old) {
        e->st.half_open_evicted++;
        weft__peer_free(e, old, 0);
    }
}

static void send_cookie(weft__engine *e, const weft_addr *from, const uint8_t *init)
{
    uint8_t out[HS_COOKIE_LEN], cookie[16], k[32];
    cookie_for(e, from, cookie);
    out[0] = WEFT__PKT_COOKIE;
    out[1] = WEFT__PROTO_VERSION;
    memcpy(out + COOKIE_OFF_RIDX, init + INIT_OFF_IDX, 4);
    e->env.rand.fill(e->env.rand.ctx, out + COOKIE_OFF_SALT, COOKIE_SALT_LEN);
    cookie_seal_key(e, out + COOKIE_OFF_SALT, k);
    /* a fresh key per reply, so the zero nonce is never reused */
    e->c->aead_seal(e->c->ctx, out + COOKIE_OFF_SEALED, k, 0, init + INIT_OFF_MAC1,
                    WEFT__MAC_BYTES, cookie, sizeof cookie);
    e->c->wipe(e->c->ctx, k, sizeof k);
    if (weft__oneshot_push(e, from, out, sizeof out) == 0)
        e->st.cookies_sent++;
}

static int on_hs_init(weft__engine *e, const weft_addr *from, const uint8_t *pkt,
                      uint64_t now_us)
{
    uint32_t sidx = weft__get_u32(pkt + INIT_OFF_IDX);
    /* A resent msg1 (our msg2 was lost): resend the same msg2, no new DH,
     * and the slot's life is not extended. */
    for (size_t i = 0; i < e->npeers; i++) {
        weft__peer *q = e->peers[i];
        if (q->hs.state == HS_RESP_SENT && !q->hs.initiator && q->hs.remote_idx == sidx &&
            weft_addr_eq(&q->addr, from)) {
            if (now_us - q->hs.resent_us >= WEFT__HS_RESEND_MIN_US && q->hs.pkt) {
                q->hs.resent_us = now_us;
                q->hs.pkt_due = 1;
                weft__peer_touch(e, q);
            }
            return 0;
        }
    }
    if (under_load(e, now_us)) {
        uint8_t cookie[16], m2[WEFT__MAC_BYTES];
        cookie_for(e, from, cookie);
        mac(e, m2, cookie, sizeof cookie, pkt, INIT_OFF_MAC2);
        if (!mac_eq(m2, pkt + INIT_OFF_MAC2)) {
            static const uint8_t zero[WEFT__MAC_BYTES];
            if (!mac_eq(zero, pkt + INIT_OFF_MAC2))
                e->st.drop_bad_cookie++;
            send_cookie(e, from, pkt);
            return WEFT_ERR_COOKIE;
        }
    }
    if (!take_hs_token(e, now_us)) {
        e->st.drop_ratelimit++;
        return WEFT_ERR_RATE_LIMITED;
    }
    /* bounded half-open state: per source IP, then in total */
    size_t from_ip = 0;
    for (size_t i = 0; i < e->npeers; i++)
        from_ip += e->peers[i]->half_open && same_ip(&e->peers[i]->addr, from);
    if (from_ip >= e->cfg.half_open_per_addr)
        evict_half_open(e, from);
    if (e->half_open >= e->cfg.half_open_max)
        evict_half_open(e, NULL);
    weft__peer *p = weft__peer_new(e, from);
    if (!p) {
        e->st.drop_ratelimit++;
        return WEFT_ERR_LIMIT;
    }
    weft__hs *h = &p->hs;
    h->noise = weft__calloc(e->a, sizeof *h->noise);
    h->pkt = weft__alloc(e->a, HS_RESP_LEN);
    if (!h->noise || !h->pkt) {
        weft__peer_free(e, p, 0);
        return WEFT_ERR_NOMEM;
    }
    weft__noise_init(h->noise, e->c, 0, (const uint8_t *)HS_PROLOGUE, strlen(HS_PROLOGUE),
                     e->x_sk, e->psk);
    uint8_t tmp[16];
    if (weft__noise_read(h->noise, pkt + INIT_OFF_NOISE, INIT_NOISE_LEN, tmp, sizeof tmp) != 0) {
        weft__peer_free(e, p, 0);
        e->st.handshakes_failed++;
        return WEFT_ERR_HANDSHAKE;
    }
    uint32_t idx = new_index(e);
    if (weft__u64map_put(&e->by_idx, idx, p) < 0) {
        weft__peer_free(e, p, 0);
        return WEFT_ERR_NOMEM;
    }
    h->local_idx = idx;
    h->remote_idx = sidx;
    uint8_t esk[32], pl[WEFT__HS_PAYLOAD];
    e->env.rand.fill(e->env.rand.ctx, esk, 32);
    hs_payload(e, p, pl);
    uint8_t *o = h->pkt;
    o[0] = WEFT__PKT_HS_RESP;
    o[1] = WEFT__PROTO_VERSION;
    weft__put_u32(o + RESP_OFF_IDX, h->local_idx);
    weft__put_u32(o + RESP_OFF_RIDX, sidx);
    /* <- e, ee, s, es (with our payload) */
    ptrdiff_t n = weft__noise_write(h->noise, esk, pl, sizeof pl, o + RESP_OFF_NOISE, RESP_NOISE_LEN);
    e->c->wipe(e->c->ctx, esk, sizeof esk);
    if (n != RESP_NOISE_LEN) {
        weft__peer_free(e, p, 0);
        e->st.handshakes_failed++;
        return WEFT_ERR_HANDSHAKE;
    }
    mac(e, o + RESP_OFF_MAC1, e->mac1_key, 32, o, RESP_OFF_MAC1);
    h->pkt_len = HS_RESP_LEN;
    h->pkt_due = 1;
    h->state = HS_RESP_SENT;
    h->started_us = h->resent_us = now_us;
    /* a fixed life, as long as the initiator keeps trying */
    h->retry_us = now_us + (uint64_t)e->cfg.unreachable_ms * 1000;
    p->half_open = 1;
    e->half_open++;
    e->st.half_open = e->half_open;
    weft__peer_touch(e, p);
    return 0;
}

/* The handshake on t cannot be completed for want of memory: say so on
 * this side (the other side's session then times out) and free t. */
static void hs_fail_nomem(weft__engine *e, weft__peer *t)
{
    e->st.handshakes_failed++;
    t->connect_pending = 1; /* reported even on the responder */
    weft__peer_down(e, t, WEFT_ERR_NOMEM);
}

/*
 * A handshake on temporary peer t completed with node id: install the keys
 * on the peer that owns that id (t itself, or an existing peer whose
 * queues survive), reset its transport when the session id changed, and
 * report PEER_UP.  Returns the peer that now holds the session, or NULL
 * when it could not be set up (t is then freed and the failure reported).
 */
static weft__peer *hs_complete(weft__engine *e, weft__peer *t, const weft_node_id *id,
                               uint64_t sid, uint32_t window, const uint8_t ks[32],
                               const uint8_t kr[32], uint64_t now_us)
{
    weft__peer *p = weft__peer_find(e, id);
    if (t->has_id && memcmp(t->id.key, id->key, 32) != 0) {
        /* we dialled t for another node (its advertised address now
         * belongs to someone else): its messages cannot go here */
        e->st.handshakes_failed++;
        weft__peer_down(e, t, WEFT_ERR_HANDSHAKE);
        return NULL;
    }
    if (!p && e->nestablished >= e->cfg.max_sessions) {
        /* a new node beyond max_sessions (a dial checks it before it
         * starts; a responder learns who it is only here) */
        e->st.drop_ratelimit++;
        weft__peer_down(e, t, WEFT_ERR_LIMIT);
        return NULL;
    }
    if (!p) {
        p = t;
        if (weft__u64map_put(&e->by_id, weft__id_key(id), p) < 0) {
            hs_fail_nomem(e, t);
            return NULL;
        }
        p->id = *id;
        p->has_id = 1;
    }
    if (weft__u64map_put(&e->by_idx, t->hs.local_idx, p) < 0) {
        if (t == p && weft__u64map_get(&e->by_id, weft__id_key(id)) == p && !p->established)
            weft__u64map_del(&e->by_id, weft__id_key(id));
        hs_fail_nomem(e, t);
        return NULL;
    }
    if (!p->established && !p->conn.live) {
        if (weft__conn_start(&p->conn, t->hs.rtt_us, window, now_us) < 0) {
            weft__u64map_del(&e->by_idx, t->hs.local_idx);
            hs_fail_nomem(e, t);
            return NULL;
        }
    } else if (p->established && sid != p->sid) {
        if (weft__conn_reset(&p->conn, window, now_us) < 0) {
            weft__u64map_del(&e->by_idx, t->hs.local_idx);
            weft__peer_down(e, p, WEFT_ERR_NOMEM);
            if (t != p)
                weft__peer_free(e, t, 0);
            return NULL;
        }
    }
    if (p->cur.valid) {
        if (p->prev.valid && weft__u64map_get(&e->by_idx, p->prev.local_idx) == p)
            weft__u64map_del(&e->by_idx, p->prev.local_idx);
        p->prev = p->cur;
        p->prev_expire_us = now_us + PREV_KEYS_KEEP_US;
    }
    memset(&p->cur, 0, sizeof p->cur);
    memcpy(p->cur.k_send, ks, 32);
    memcpy(p->cur.k_recv, kr, 32);
    p->cur.local_idx = t->hs.local_idx;
    p->cur.remote_idx = t->hs.remote_idx;
    p->cur.established_us = now_us;
    p->cur.first_pn = p->conn.pn_next;
    p->cur.first_rx_pn = weft__conn_rx_largest(&p->conn);
    p->cur.valid = 1;
    weft__replay_init(&p->cur.replay);
    t->hs.local_idx = 0; /* now the current keys' index */
    if (t != p && p->hs.state != HS_DONE && p->hs.local_idx) {
        /* our own handshake with this node crossed theirs: drop ours */
        if (weft__u64map_get(&e->by_idx, p->hs.local_idx) == p)
            weft__u64map_del(&e->by_idx, p->hs.local_idx);
        p->hs.local_idx = 0;
        weft__hs_clear(e, p);
    }
    p->addr = t->addr;
    p->peer_window = window;
    p->hs.initiator = t->hs.initiator;
    if (!p->hs.rtt_us)
        p->hs.rtt_us = t->hs.rtt_us;
    int was_up = p->established;
    uint64_t old_sid = p->sid;
    p->sid = sid;
    if (!was_up) {
        p->established = 1;
        e->nestablished++;
        e->st.sessions++;
    }
    half_open_done(e, t);
    p->hs.state = HS_DONE;
    e->st.handshakes_ok++;
    int connect_pending = t->connect_pending || p->connect_pending;
    if (t != p) {
        t->connect_pending = 0;
        weft__peer_free(e, t, 0);
    }
    p->connect_pending = 0;
    if (!was_up || connect_pending || sid != old_sid)
        weft__ev_push(e, WEFT_EV_PEER_UP, p, 0);
    return p;
}

/*
 * How long the initiator waits before resending msg3: about one probe
 * timeout of the path (the session's RTT estimate, else the handshake's),
 * doubling per attempt and capped at 1 s -- well inside the responder's
 * patience (unreachable_ms), so a lossy path still completes.
 */
static uint64_t fin_retry_us(const weft__peer *p)
{
    const weft__rtt *rtt = &p->conn.rtt;
    uint64_t base = rtt->has_sample ? weft__rtt_pto_us(rtt, WEFT__MAX_ACK_DELAY_US)
                                    : WEFT__MAX(3 * p->hs.rtt_us, 10000);
    if (!rtt->has_sample && !p->hs.rtt_us)
        base = 100000;
    uint64_t t = base << WEFT__MIN(p->hs.attempts - 1, 6);
    return WEFT__MIN(t, 1000000);
}

static int on_hs_resp(weft__engine *e, const weft_addr *from, const uint8_t *pkt,
                      uint64_t now_us)
{
    weft__peer *t = weft__u64map_get(&e->by_idx, weft__get_u32(pkt + RESP_OFF_RIDX));
    if (!t || t->hs.state != HS_INIT_SENT || !t->hs.noise ||
        t->hs.local_idx != weft__get_u32(pkt + RESP_OFF_RIDX)) {
        e->st.drop_unknown++;
        return WEFT_ERR_UNKNOWN_SESSION;
    }
    weft_node_id id;
    uint64_t sid;
    uint32_t window;
    if (hs_read_payload(e, t, pkt + RESP_OFF_NOISE, RESP_NOISE_LEN, &id, &sid, &window) < 0) {
        /* noise_read commits nothing on failure: a forged or damaged
         * msg2 leaves our handshake waiting for the genuine one */
        e->st.handshakes_failed++;
        return WEFT_ERR_HANDSHAKE;
    }
    if (memcmp(id.key, e->id.key, 32) == 0) {
        /* dialled ourselves */
        e->st.handshakes_failed++;
        weft__peer_down(e, t, WEFT_ERR_HANDSHAKE);
        return WEFT_ERR_HANDSHAKE;
    }
    t->hs.remote_idx = weft__get_u32(pkt + RESP_OFF_IDX);
    /* Karn's rule (RFC 6298 §3): no RTT sample from a resent msg1. */
    t->hs.rtt_us = t->hs.attempts == 1 ? now_us - t->hs.started_us : 0;
    t->addr = *from;
    /* -> s, se, psk with our payload */
    uint8_t mypl[WEFT__HS_PAYLOAD];
    hs_payload(e, t, mypl);
    uint8_t fin[HS_FIN_LEN];
    fin[0] = WEFT__PKT_HS_FIN;
    fin[1] = WEFT__PROTO_VERSION;
    weft__put_u32(fin + FIN_OFF_RIDX, t->hs.remote_idx);
    ptrdiff_t n = weft__noise_write(t->hs.noise, NULL, mypl, sizeof mypl, fin + FIN_OFF_NOISE,
                                    FIN_NOISE_LEN);
    uint8_t ks[32], kr[32];
    if (n != FIN_NOISE_LEN || weft__noise_split(t->hs.noise, ks, kr, NULL) < 0) {
        e->st.handshakes_failed++;
        weft__hs_clear(e, t);
        return WEFT_ERR_HANDSHAKE;
    }
    mac(e, fin + FIN_OFF_MAC1, e->mac1_key, 32, fin, FIN_OFF_MAC1);
    uint8_t *keep = weft__alloc(e->a, HS_FIN_LEN);
    weft__peer *p = hs_complete(e, t, &id, t->hs.sid, window, ks, kr, now_us);
    e->c->wipe(e->c->ctx, ks, 32);
    e->c->wipe(e->c->ctx, kr, 32);
    if (!p) {
        weft__free(e->a, keep);
        return WEFT_ERR_HANDSHAKE;
    }
    /* Keep msg3 to resend until the responder answers under the new keys
     * (our DATA is undecryptable to it until msg3 arrives).  Without
     * memory for the copy it goes once; the responder's PING or our
     * rekey timer recovers. */
    weft__hs_clear(e, p);
    if (keep) {
        memcpy(keep, fin, HS_FIN_LEN);
        p->hs.pkt = keep;
        p->hs.pkt_len = HS_FIN_LEN;
        p->hs.pkt_due = 1;
        p->hs.fin_unconfirmed = 1;
        p->hs.attempts = 1;
        p->hs.retry_us = now_us + fin_retry_us(p);
    } else {
        weft__oneshot_push(e, &p->addr, fin, HS_FIN_LEN);
    }
    weft__peer_touch(e, p);
    return 0;
}

static int on_hs_fin(weft__engine *e, const weft_addr *from, const uint8_t *pkt,
                     uint64_t now_us)
{
    uint32_t idx = weft__get_u32(pkt + FIN_OFF_RIDX);
    weft__peer *t = weft__u64map_get(&e->by_idx, idx);
    if (!t || t->hs.state != HS_RESP_SENT || !t->hs.noise || t->hs.local_idx != idx) {
        /* Usually a resent msg3 after we completed: our reply was lost.
         * Answer with a PING under the session so the initiator hears. */
        if (t && t->established && t->cur.local_idx == idx) {
            weft__conn_ping(&t->conn);
            weft__peer_touch(e, t);
            return 0;
        }
        e->st.drop_unknown++;
        return WEFT_ERR_UNKNOWN_SESSION;
    }
    weft_node_id id;
    uint64_t sid;
    uint32_t window;
    int rc = hs_read_payload(e, t, pkt + FIN_OFF_NOISE, FIN_NOISE_LEN, &id, &sid, &window);
    if (rc < 0) {
        e->st.handshakes_failed++;
        if (t->established) {
            weft__hs_clear(e, t);
            if (weft__u64map_get(&e->by_idx, idx) == t)
                weft__u64map_del(&e->by_idx, idx);
            t->hs.local_idx = 0;
            t->hs.state = HS_DONE;
        } else {
            weft__peer_free(e, t, 0);
        }
        return WEFT_ERR_HANDSHAKE;
    }
    uint8_t ks[32], kr[32];
    if (weft__noise_split(t->hs.noise, ks, kr, NULL) < 0) {
        weft__peer_free(e, t, 0);
        return WEFT_ERR_INTERNAL;
    }
    t->addr = *from;
    weft__hs_clear(e, t);
    t->hs.initiator = 0;
    weft__peer *p = hs_complete(e, t, &id, sid, window, ks, kr, now_us);
    e->c->wipe(e->c->ctx, ks, 32);
    e->c->wipe(e->c->ctx, kr, 32);
    if (!p)
        return WEFT_ERR_HANDSHAKE;
    weft__conn_ping(&p->conn); /* confirms the session to the initiator at once */
    weft__peer_touch(e, p);
    return 0;
}

static int on_cookie(weft__engine *e, const uint8_t *pkt, uint64_t now_us)
{
    uint32_t idx = weft__get_u32(pkt + COOKIE_OFF_RIDX);
    weft__peer *p = weft__u64map_get(&e->by_idx, idx);
    if (!p || p->hs.state != HS_INIT_SENT || !p->hs.pkt || p->hs.local_idx != idx) {
        e->st.drop_unknown++;
        return WEFT_ERR_UNKNOWN_SESSION;
    }
    uint8_t k[32], cookie[16];
    cookie_seal_key(e, pkt + COOKIE_OFF_SALT, k);
    int rc = e->c->aead_open(e->c->ctx, cookie, k, 0, p->hs.init_mac1, WEFT__MAC_BYTES,
                             pkt + COOKIE_OFF_SEALED, COOKIE_LEN + 16);
    e->c->wipe(e->c->ctx, k, sizeof k);
    if (rc < 0) {
        e->st.drop_decrypt++;
        return WEFT_ERR_DECRYPT;
    }
    memcpy(p->hs.cookie, cookie, sizeof cookie);
    p->hs.cookie_us = now_us;
    /* resend msg1 with mac2 at once (not counted as a retry) */
    init_macs(e, p);
    p->hs.pkt_due = 1;
    weft__peer_touch(e, p);
    return 0;
}

/* A wrong-key sender is reported (HANDSHAKE_FAILED, WEFT_ERR_WRONG_MESH)
 * at most once per address per 10 s, and at most 10 times a second. */
static void report_wrong_mesh(weft__engine *e, const weft_addr *from)
{
    uint64_t now = e->now_us;
    size_t oldest = 0;
    for (size_t i = 0; i < WEFT__WRONG_MESH_MEMO; i++) {
        if (e->wrong_mesh[i].at_us && weft_addr_eq(&e->wrong_mesh[i].addr, from) &&
            now - e->wrong_mesh[i].at_us < WEFT__WRONG_MESH_REPORT_US)
            return;
        if (e->wrong_mesh[i].at_us < e->wrong_mesh[oldest].at_us)
            oldest = i;
    }
    size_t last = (e->wrong_mesh_pos + WEFT__WRONG_MESH_MEMO - 1) % WEFT__WRONG_MESH_MEMO;
    if (e->wrong_mesh[last].at_us && now - e->wrong_mesh[last].at_us < 100000)
        return;
    e->wrong_mesh[oldest].addr = *from;
    e->wrong_mesh[oldest].at_us = now ? now : 1;
    e->wrong_mesh_pos = (oldest + 1) % WEFT__WRONG_MESH_MEMO;
    weft__event_q *q = weft__ev_push(e, WEFT_EV_HANDSHAKE_FAILED, NULL, WEFT_ERR_WRONG_MESH);
    if (q)
        q->ev.addr = *from;
}

int weft__hs_recv(weft__engine *e, const weft_addr *from, const uint8_t *pkt,
                  size_t len, uint64_t now_us)
{
    static const size_t want[] = {0, HS_INIT_LEN, HS_RESP_LEN, HS_FIN_LEN, HS_COOKIE_LEN};
    static const size_t mac1_off[] = {0, INIT_OFF_MAC1, RESP_OFF_MAC1, FIN_OFF_MAC1, 0};
    uint8_t type = pkt[0];
    if (type < WEFT__PKT_HS_INIT || type > WEFT__PKT_COOKIE || len != want[type]) {
        e->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    if (pkt[1] != WEFT__PROTO_VERSION) {
        e->st.drop_malformed++;
        return WEFT_ERR_VERSION;
    }
    if (type == WEFT__PKT_COOKIE)
        return on_cookie(e, pkt, now_us); /* authenticated by its AEAD */
    if (!check_mac1(e, pkt, mac1_off[type])) {
        e->st.drop_wrong_mesh++;
        if (type == WEFT__PKT_HS_INIT)
            report_wrong_mesh(e, from);
        return WEFT_ERR_WRONG_MESH;
    }
    if (type == WEFT__PKT_HS_INIT)
        return on_hs_init(e, from, pkt, now_us);
    if (type == WEFT__PKT_HS_RESP)
        return on_hs_resp(e, from, pkt, now_us);
    return on_hs_fin(e, from, pkt, now_us);
}

/* ------------------------------------------------------------------------ */
/* Timers and rekeying                                                       */

/* Packets sent, or received, under the current keys. */
static uint64_t pkts_on_keys(const weft__peer *p)
{
    uint64_t sent = p->conn.pn_next - p->cur.first_pn;
    uint64_t rx = weft__conn_rx_largest(&p->conn);
    uint64_t got = rx > p->cur.first_rx_pn ? rx - p->cur.first_rx_pn : 0;
    return sent > got ? sent : got;
}

/*
 * Rekey (Noise §11.3 prefers fresh handshakes to key ratchets, for forward
 * secrecy): after rekey_after_ms, or once half of rekey_after_packets went
 * either way under the current keys, the initiator of those keys redoes
 * XX.  Only the initiator does, so two rekeys never cross.  Without memory
 * for the handshake it is tried again at the next timer.
 */
void weft__hs_maybe_rekey(weft__engine *e, weft__peer *p, uint64_t now_us)
{
    if (!p->hs.initiator || p->hs.state != HS_DONE || p->hs.fin_unconfirmed ||
        !p->cur.valid)
        return;
    if (now_us < p->cur.established_us + (uint64_t)e->cfg.rekey_after_ms * 1000 &&
        pkts_on_keys(p) < e->cfg.rekey_after_packets / 2)
        return;
    if (weft__hs_start(e, p, now_us) < 0)
        return; /* no memory now: the next timer tries again */
}

int weft__hs_timers(weft__engine *e, weft__peer *p, uint64_t now_us)
{
    weft__hs *h = &p->hs;
    uint64_t unreach_us = (uint64_t)e->cfg.unreachable_ms * 1000;
    if (h->state == HS_INIT_SENT && now_us >= h->retry_us) {
        if (now_us - h->started_us >= unreach_us) {
            e->st.handshakes_failed++;
            if (p->established) {
                /* a rekey failed; the old keys may still work: carry on */
                weft__hs_clear(e, p);
                h->state = HS_DONE;
            } else {
                weft__peer_down(e, p, WEFT_ERR_UNREACHABLE);
                return 1;
            }
        } else if (!h->noise) {
            /* the last attempt failed part-way (or memory ran out): anew */
            int attempts = h->attempts;
            uint64_t started = h->started_us;
            if (weft__hs_start(e, p, now_us) == 0) {
                h->attempts = attempts + 1;
                h->started_us = started;
            } else {
                h->retry_us = now_us + (uint64_t)e->cfg.handshake_timeout_ms * 1000;
            }
        } else {
            /* RFC 6298 §5.5-style doubling, capped */
            h->attempts++;
            uint64_t step = (uint64_t)e->cfg.handshake_timeout_ms * 1000
                            << WEFT__MIN(h->attempts - 1, 3);
            h->retry_us = now_us + step;
            init_macs(e, p); /* a cookie may have gone stale */
            h->pkt_due = 1;
        }
    } else if (h->state == HS_RESP_SENT && now_us >= h->retry_us) {
        if (!p->established) {
            weft__peer_free(e, p, 0); /* the initiator never finished */
            return 1;
        }
        weft__hs_clear(e, p);
        h->state = HS_DONE;
    }
    if (h->fin_unconfirmed && now_us >= h->retry_us) {
        h->attempts++;
        h->pkt_due = 1;
        h->retry_us = now_us + fin_retry_us(p);
    }
    if (p->established && p->prev.valid && now_us >= p->prev_expire_us) {
        if (weft__u64map_get(&e->by_idx, p->prev.local_idx) == p)
            weft__u64map_del(&e->by_idx, p->prev.local_idx);
        weft__keys_wipe(e, &p->prev);
    }
    return 0;
}
