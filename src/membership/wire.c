/*
 * wire.c -- the membership wire format (docs/MEMBERSHIP.md §2-§4): sealing
 * and opening packets, and one create/consume pair per message layout.
 *
 * Like memberlist's net.go (its encode/decode half), this file knows bytes,
 * not members: create functions write plain values through a weft__wr,
 * consume functions read through a weft__rd, whose error is sticky, so a
 * decoder reads its fields in order and checks once (src/base/cursor.h).
 * Each layout's offsets are named below and tied to its size with
 * _Static_assert; the cursor reads the fields in that order.  The messages
 * are SWIM's (§4: ping, ping-req, ack; §4.2 suspect/alive/confirm, our DEAD)
 * plus Lifeguard's NACK (§3.1), a signed LEAVE and the push-pull full state
 * exchange that memberlist adds.
 */
#include <string.h>

#include "membership/wire.h"

const char weft__swim_alive_ctx[16] = "weft-swim-alive";
const char weft__swim_leave_ctx[16] = "weft-swim-leave";

/* ---- layouts -------------------------------------------------------------- */

/* §2 packet: type | version | salt[16] | AEAD(payload) + tag[16] */
enum { PKT_TYPE = 0, PKT_VERSION = 1, PKT_SALT = 2, SALT_BYTES = 16, TAG_BYTES = 16 };
_Static_assert(PKT_SALT + SALT_BYTES == WEFT__SWIM_HDR_BYTES, "packet header");
_Static_assert(WEFT__SWIM_HDR_BYTES + TAG_BYTES == WEFT__SWIM_OVERHEAD, "packet overhead");

/* §3 message header: type u8 | length u16 */
enum { MSG_TYPE = 0, MSG_LEN = 1 };
_Static_assert(MSG_LEN + 2 == WEFT__SWIM_MSG_HDR_BYTES, "message header");

/* §4 addr: family u8 | port u16 | scope u32 | ip[16] */
enum { ADDR_FAMILY = 0, ADDR_PORT = 1, ADDR_SCOPE = 3, ADDR_IP = 7 };
_Static_assert(ADDR_IP + 16 == WEFT__SWIM_ADDR_BYTES, "addr");

/* §4.1 PING: seq u32 | target id; §4.2 PING_REQ: the same | target addr */
enum { PING_SEQ = 0, PING_TARGET = 4, PING_REQ_ADDR = 36 };
_Static_assert(PING_TARGET + WEFT_ID_BYTES == WEFT__SWIM_PING_BYTES, "PING");
_Static_assert(PING_REQ_ADDR == WEFT__SWIM_PING_BYTES &&
               PING_REQ_ADDR + WEFT__SWIM_ADDR_BYTES == WEFT__SWIM_PING_REQ_BYTES,
               "PING_REQ");
_Static_assert(PING_SEQ + 4 == WEFT__SWIM_SEQ_BYTES, "ACK, NACK");

/* §4.6/4.7 SUSPECT, DEAD: id | inc u32 | from id */
enum { ACCUSE_ID = 0, ACCUSE_INC = 32, ACCUSE_FROM = 36 };
_Static_assert(ACCUSE_FROM + WEFT_ID_BYTES == WEFT__SWIM_ACCUSE_BYTES, "SUSPECT, DEAD");

/* §4.8 LEAVE: id | inc u32 | sig[64] */
enum { LEAVE_ID = 0, LEAVE_INC = 32, LEAVE_SIG = 36 };
_Static_assert(LEAVE_SIG + WEFT_SIG_BYTES == WEFT__SWIM_LEAVE_BYTES, "LEAVE");

/* §4.5 claim: id | inc u32 | addr | meta (name_len u8, name, status_len u8,
 * status, tags_len u16, tags) | sig[64] */
enum { CLAIM_ID = 0, CLAIM_INC = 32, CLAIM_ADDR = 36, CLAIM_META = 59 };
_Static_assert(CLAIM_ADDR + WEFT__SWIM_ADDR_BYTES == CLAIM_META, "claim");
_Static_assert(CLAIM_META + WEFT_SIG_BYTES == WEFT__SWIM_CLAIM_FIXED_BYTES, "claim size");
_Static_assert(1 + 1 + 2 == WEFT__SWIM_META_EMPTY_BYTES, "empty metadata");

/* §4.9 push-pull entry: state u8 | inc u32 | claim, or (LEFT) id | sig */
enum { PPE_STATE = 0, PPE_INC = 1, PPE_BODY = 5 };
_Static_assert(PPE_BODY == WEFT__SWIM_PP_ENTRY_HDR_BYTES, "push-pull entry");
_Static_assert(PPE_BODY + WEFT_ID_BYTES + WEFT_SIG_BYTES == WEFT__SWIM_PP_LEFT_BYTES,
               "push-pull LEFT entry");

/* ---- the sealed packet ---------------------------------------------------- */

void weft__swim_key_derive(const weft_crypto *cr, const uint8_t network_key[32],
                           uint8_t mkey[32])
{
    weft_iov iov = {"weft-swim-v1", 12};
    cr->mac(cr->ctx, mkey, 32, network_key, 32, &iov, 1);
}

/* Per-packet key K = BLAKE2b(key = MK, salt); nonce 0: one packet a key. */
static void packet_key(const weft_crypto *cr, const uint8_t mkey[32],
                       const uint8_t *salt, uint8_t key[32])
{
    weft_iov iov = {salt, SALT_BYTES};
    cr->mac(cr->ctx, key, 32, mkey, 32, &iov, 1);
}

size_t weft__swim_seal(const weft_crypto *cr, const weft_rand *rand,
                       const uint8_t mkey[32], uint8_t *buf, const uint8_t *pt,
                       size_t ptlen)
{
    weft__wr w;
    uint8_t key[32];
    weft__wr_init(&w, buf, ptlen + WEFT__SWIM_OVERHEAD);
    weft__wr_u8(&w, WEFT__SWIM_PKT_TYPE);
    weft__wr_u8(&w, WEFT__SWIM_VERSION);
    uint8_t *salt = weft__wr_take(&w, SALT_BYTES);
    uint8_t *ct = weft__wr_take(&w, ptlen + TAG_BYTES);
    rand->fill(rand->ctx, salt, SALT_BYTES);
    packet_key(cr, mkey, salt, key);
    /* AD = the clear header */
    cr->aead_seal(cr->ctx, ct, key, 0, buf, WEFT__SWIM_HDR_BYTES, pt, ptlen);
    cr->wipe(cr->ctx, key, sizeof key);
    return w.pos;
}

int weft__swim_header_check(const uint8_t *pkt, size_t len)
{
    weft__rd r;
    weft__rd_init(&r, pkt, len);
    uint8_t type = weft__rd_u8(&r), version = weft__rd_u8(&r);
    if (len < WEFT__SWIM_OVERHEAD + WEFT__SWIM_PAYLOAD_HDR_BYTES ||
        type != WEFT__SWIM_PKT_TYPE)
        return WEFT_ERR_PROTO;
    return version == WEFT__SWIM_VERSION ? 0 : WEFT_ERR_VERSION;
}

int weft__swim_open(const weft_crypto *cr, const uint8_t mkey[32],
                    const uint8_t *pkt, size_t len, uint8_t *pt)
{
    weft__rd r;
    uint8_t key[32];
    size_t ctlen;
    weft__rd_init(&r, pkt, len);
    weft__rd_skip(&r, PKT_SALT);
    const uint8_t *salt = weft__rd_bytes(&r, SALT_BYTES);
    const uint8_t *ct = weft__rd_rest(&r, &ctlen);
    if (!weft__rd_ok(&r) || ctlen < TAG_BYTES)
        return WEFT_ERR_DECRYPT; /* header_check rules this out */
    packet_key(cr, mkey, salt, key);
    int rc = cr->aead_open(cr->ctx, pt, key, 0, pkt, WEFT__SWIM_HDR_BYTES, ct, ctlen);
    cr->wipe(cr->ctx, key, sizeof key);
    return rc == 0 ? 0 : WEFT_ERR_DECRYPT;
}

/* ---- fields --------------------------------------------------------------- */

static void id_create(weft__wr *w, const weft_node_id *id)
{
    weft__wr_bytes(w, id->key, WEFT_ID_BYTES);
}

static void id_consume(weft__rd *r, weft_node_id *id)
{
    if (weft__rd_copy(r, id->key, WEFT_ID_BYTES) < 0)
        memset(id->key, 0, WEFT_ID_BYTES);
}

static void addr_create(weft__wr *w, const weft_addr *a)
{
    weft__wr_u8(w, a->family);
    weft__wr_u16(w, a->port);
    weft__wr_u32(w, a->scope);
    weft__wr_bytes(w, a->ip, 16);
}

/* A family other than 4/6 fails the reader; IPv4 is normalised (no scope,
 * ip[4..15] zero) so that equal addresses compare equal. */
static void addr_consume(weft__rd *r, weft_addr *a)
{
    memset(a, 0, sizeof *a);
    a->family = weft__rd_u8(r);
    a->port = weft__rd_u16(r);
    a->scope = weft__rd_u32(r);
    weft__rd_copy(r, a->ip, 16);
    if (a->family == 4) {
        a->scope = 0;
        memset(a->ip + 4, 0, 12);
    } else if (a->family != 6) {
        weft__rd_fail(r);
    }
}

static void msg_hdr_create(weft__wr *w, int type, size_t len)
{
    weft__wr_u8(w, (uint8_t)type);
    weft__wr_u16(w, (uint16_t)len);
}

/* 0 when every read so far stayed in bounds, else WEFT_ERR_PROTO. */
static int result(const weft__rd *r)
{
    return weft__rd_ok(r) ? 0 : WEFT_ERR_PROTO;
}

/* ---- the payload ---------------------------------------------------------- */

void weft__swim_payload_create(weft__wr *w, const weft_node_id *sender)
{
    id_create(w, sender);
}

int weft__swim_payload_consume(weft__rd *r, weft_node_id *sender)
{
    id_consume(r, sender);
    return result(r);
}

int weft__swim_msg_next(weft__rd *r, int *type, weft__rd *body)
{
    if (!weft__rd_left(r))
        return weft__rd_ok(r) ? 0 : WEFT_ERR_PROTO;
    *type = weft__rd_u8(r);
    size_t len = weft__rd_u16(r);
    const uint8_t *b = weft__rd_bytes(r, len);
    if (!weft__rd_ok(r))
        return WEFT_ERR_PROTO;
    weft__rd_init(body, b, len);
    return 1;
}

/* ---- messages ------------------------------------------------------------- */

void weft__swim_seq_create(weft__wr *w, int type, uint32_t seq)
{
    msg_hdr_create(w, type, WEFT__SWIM_SEQ_BYTES);
    weft__wr_u32(w, seq); /* PING_SEQ */
}

int weft__swim_seq_consume(weft__rd *r, uint32_t *seq)
{
    *seq = weft__rd_u32(r);
    return result(r);
}

void weft__swim_ping_create(weft__wr *w, const weft__swim_ping *m)
{
    msg_hdr_create(w, WEFT__SWIM_MSG_PING, WEFT__SWIM_PING_BYTES);
    weft__wr_u32(w, m->seq);        /* PING_SEQ */
    id_create(w, &m->target);       /* PING_TARGET */
}

int weft__swim_ping_consume(weft__rd *r, weft__swim_ping *m)
{
    memset(&m->addr, 0, sizeof m->addr);
    m->seq = weft__rd_u32(r);
    id_consume(r, &m->target);
    return result(r);
}

void weft__swim_ping_req_create(weft__wr *w, const weft__swim_ping *m)
{
    msg_hdr_create(w, WEFT__SWIM_MSG_PING_REQ, WEFT__SWIM_PING_REQ_BYTES);
    weft__wr_u32(w, m->seq);
    id_create(w, &m->target);
    addr_create(w, &m->addr);       /* PING_REQ_ADDR */
}

int weft__swim_ping_req_consume(weft__rd *r, weft__swim_ping *m)
{
    m->seq = weft__rd_u32(r);
    id_consume(r, &m->target);
    addr_consume(r, &m->addr);
    return result(r);
}

void weft__swim_accuse_create(weft__wr *w, int type, const weft__swim_accuse *m)
{
    msg_hdr_create(w, type, WEFT__SWIM_ACCUSE_BYTES);
    id_create(w, &m->id);           /* ACCUSE_ID */
    weft__wr_u32(w, m->inc);        /* ACCUSE_INC */
    id_create(w, &m->from);         /* ACCUSE_FROM */
}

int weft__swim_accuse_consume(weft__rd *r, weft__swim_accuse *m)
{
    id_consume(r, &m->id);
    m->inc = weft__rd_u32(r);
    id_consume(r, &m->from);
    return result(r);
}

void weft__swim_leave_create(weft__wr *w, const weft__swim_leave_msg *m)
{
    msg_hdr_create(w, WEFT__SWIM_MSG_LEAVE, WEFT__SWIM_LEAVE_BYTES);
    id_create(w, &m->id);           /* LEAVE_ID */
    weft__wr_u32(w, m->inc);        /* LEAVE_INC */
    weft__wr_bytes(w, m->sig, WEFT_SIG_BYTES); /* LEAVE_SIG */
}

int weft__swim_leave_consume(weft__rd *r, weft__swim_leave_msg *m)
{
    id_consume(r, &m->id);
    m->inc = weft__rd_u32(r);
    m->sig = weft__rd_bytes(r, WEFT_SIG_BYTES);
    return result(r);
}

void weft__swim_alive_create(weft__wr *w, const weft__swim_claim *c)
{
    msg_hdr_create(w, WEFT__SWIM_MSG_ALIVE, weft__swim_claim_bytes(c));
    weft__swim_claim_create(w, c);
}

int weft__swim_alive_consume(weft__rd *r, weft__swim_claim *c)
{
    /* the body is exactly one claim */
    if (weft__swim_claim_consume(r, c) < 0 || !weft__rd_done(r))
        return WEFT_ERR_PROTO;
    return 0;
}

void weft__swim_pp_flags_create(weft__wr *w, uint8_t flags)
{
    msg_hdr_create(w, WEFT__SWIM_MSG_PUSHPULL, 1);
    weft__wr_u8(w, flags);
}

/* ---- claims --------------------------------------------------------------- */

static size_t meta_bytes(const weft__swim_claim *c)
{
    return c->meta ? c->meta_len : WEFT__SWIM_META_EMPTY_BYTES;
}

size_t weft__swim_claim_bytes(const weft__swim_claim *c)
{
    return WEFT__SWIM_CLAIM_FIXED_BYTES + meta_bytes(c);
}

/* The claim without its signature. */
static void claim_unsigned_create(weft__wr *w, const weft__swim_claim *c)
{
    id_create(w, &c->id);           /* CLAIM_ID */
    weft__wr_u32(w, c->inc);        /* CLAIM_INC */
    addr_create(w, &c->addr);       /* CLAIM_ADDR */
    if (c->meta)                    /* CLAIM_META */
        weft__wr_bytes(w, c->meta, c->meta_len);
    else
        weft__wr_zero(w, WEFT__SWIM_META_EMPTY_BYTES);
}

void weft__swim_claim_create(weft__wr *w, const weft__swim_claim *c)
{
    claim_unsigned_create(w, c);
    weft__wr_bytes(w, c->sig, WEFT_SIG_BYTES);
}

size_t weft__swim_claim_tbs(const weft__swim_claim *c, uint8_t *out)
{
    weft__wr w;
    weft__wr_init(&w, out, 16 + WEFT__SWIM_CLAIM_MAX_BYTES);
    weft__wr_bytes(&w, weft__swim_alive_ctx, 16);
    claim_unsigned_create(&w, c);
    return w.pos;
}

void weft__swim_leave_tbs(const weft_node_id *id, uint32_t inc,
                          uint8_t out[WEFT__SWIM_LEAVE_TBS_BYTES])
{
    weft__wr w;
    weft__wr_init(&w, out, WEFT__SWIM_LEAVE_TBS_BYTES);
    weft__wr_bytes(&w, weft__swim_leave_ctx, 16);
    id_create(&w, id);
    weft__wr_u32(&w, inc);
}

/* The metadata blob: name, status and a tag list whose every pair parses. */
static void meta_consume(weft__rd *r)
{
    size_t nl = weft__rd_u8(r);
    if (nl > WEFT__SWIM_NAME_MAX)
        weft__rd_fail(r);
    weft__rd_skip(r, nl);
    size_t sl = weft__rd_u8(r);
    if (sl > WEFT__SWIM_STATUS_MAX)
        weft__rd_fail(r);
    weft__rd_skip(r, sl);
    size_t tl = weft__rd_u16(r);
    if (tl > WEFT__SWIM_TAGS_MAX)
        weft__rd_fail(r);
    const uint8_t *tags = weft__rd_bytes(r, tl);
    size_t off = 0;
    const char *k, *v;
    size_t kl, vl;
    while (tags && off < tl)
        if (!weft__swim_tag_next(tags, tl, &off, &k, &kl, &v, &vl)) {
            weft__rd_fail(r);
            break;
        }
}

int weft__swim_claim_consume(weft__rd *r, weft__swim_claim *c)
{
    const uint8_t *start = weft__rd_bytes(r, 0);
    id_consume(r, &c->id);
    c->inc = weft__rd_u32(r);
    addr_consume(r, &c->addr);
    const uint8_t *meta = weft__rd_bytes(r, 0);
    meta_consume(r);
    const uint8_t *meta_end = weft__rd_bytes(r, 0);
    c->sig = weft__rd_bytes(r, WEFT_SIG_BYTES);
    const uint8_t *end = weft__rd_bytes(r, 0);
    if (!weft__rd_ok(r))
        return WEFT_ERR_PROTO;
    c->meta = meta;
    c->meta_len = (size_t)(meta_end - meta);
    c->body = start;
    c->body_len = (size_t)(end - start);
    return 0;
}

/* ---- metadata ------------------------------------------------------------- */

int weft__swim_tag_next(const uint8_t *tags, size_t len, size_t *off,
                        const char **key, size_t *klen, const char **val,
                        size_t *vlen)
{
    weft__rd r;
    if (!tags || *off >= len)
        return 0;
    weft__rd_init(&r, tags + *off, len - *off);
    size_t kl = weft__rd_u8(&r);
    const uint8_t *k = weft__rd_bytes(&r, kl);
    size_t vl = weft__rd_u8(&r);
    const uint8_t *v = weft__rd_bytes(&r, vl);
    if (!weft__rd_ok(&r) || kl == 0)
        return 0;
    *key = (const char *)k;
    *klen = kl;
    *val = (const char *)v;
    *vlen = vl;
    *off = len - weft__rd_left(&r);
    return 1;
}

ptrdiff_t weft__swim_meta_create(weft__wr *w, const char *name, const char *status,
                                 const weft__swim_tag *tags, size_t ntags)
{
    size_t nl = name ? strlen(name) : 0, sl = status ? strlen(status) : 0;
    if (nl > WEFT__SWIM_NAME_MAX || sl > WEFT__SWIM_STATUS_MAX)
        return WEFT_ERR_TOO_BIG;
    size_t tl = 0;
    for (size_t i = 0; i < ntags; i++) {
        if (!tags[i].key || !*tags[i].key)
            return WEFT_ERR_INVAL;
        size_t kl = strlen(tags[i].key), vl = tags[i].value ? strlen(tags[i].value) : 0;
        if (kl > 255 || vl > 255)
            return WEFT_ERR_TOO_BIG;
        tl += 2 + kl + vl;
        if (tl > WEFT__SWIM_TAGS_MAX)
            return WEFT_ERR_TOO_BIG;
    }
    if (w) {
        weft__wr_u8(w, (uint8_t)nl);
        weft__wr_bytes(w, name, nl);
        weft__wr_u8(w, (uint8_t)sl);
        weft__wr_bytes(w, status, sl);
        weft__wr_u16(w, (uint16_t)tl);
        for (size_t i = 0; i < ntags; i++) {
            size_t kl = strlen(tags[i].key), vl = tags[i].value ? strlen(tags[i].value) : 0;
            weft__wr_u8(w, (uint8_t)kl);
            weft__wr_bytes(w, tags[i].key, kl);
            weft__wr_u8(w, (uint8_t)vl);
            weft__wr_bytes(w, tags[i].value, vl);
        }
    }
    return (ptrdiff_t)(1 + nl + 1 + sl + 2 + tl);
}

void weft__swim_meta_split(const uint8_t *meta, size_t len, const char **name,
                           size_t *name_len, const char **status, size_t *status_len,
                           const uint8_t **tags, size_t *tags_len)
{
    static const uint8_t empty[1] = {0};
    weft__rd r;
    weft__rd_init(&r, meta, meta ? len : 0);
    size_t nl = weft__rd_u8(&r);
    const uint8_t *n = weft__rd_bytes(&r, nl);
    size_t sl = weft__rd_u8(&r);
    const uint8_t *st = weft__rd_bytes(&r, sl);
    size_t tl = weft__rd_u16(&r);
    const uint8_t *t = weft__rd_bytes(&r, tl);
    if (!weft__rd_ok(&r)) { /* empty (never stored malformed) */
        n = st = t = empty;
        nl = sl = tl = 0;
    }
    *name = (const char *)n;
    *name_len = nl;
    *status = (const char *)st;
    *status_len = sl;
    *tags = t;
    *tags_len = tl;
}

int weft__swim_meta_is_empty(const uint8_t *meta, size_t len)
{
    static const uint8_t zero[WEFT__SWIM_META_EMPTY_BYTES];
    return len == WEFT__SWIM_META_EMPTY_BYTES && memcmp(meta, zero, len) == 0;
}

/* ---- push-pull entries ---------------------------------------------------- */

size_t weft__swim_pp_entry_bytes(const weft__swim_pp_entry *e)
{
    if (e->state == WEFT__SWIM_LEFT)
        return WEFT__SWIM_PP_LEFT_BYTES;
    return WEFT__SWIM_PP_ENTRY_HDR_BYTES + weft__swim_claim_bytes(&e->claim);
}

void weft__swim_pp_entry_create(weft__wr *w, const weft__swim_pp_entry *e)
{
    weft__wr_u8(w, e->state);       /* PPE_STATE */
    weft__wr_u32(w, e->inc);        /* PPE_INC */
    if (e->state == WEFT__SWIM_LEFT) { /* PPE_BODY */
        id_create(w, &e->leave.id);
        weft__wr_bytes(w, e->leave.sig, WEFT_SIG_BYTES);
    } else {
        weft__swim_claim_create(w, &e->claim);
    }
}

int weft__swim_pp_entry_consume(weft__rd *r, weft__swim_pp_entry *e)
{
    e->state = weft__rd_u8(r);
    e->inc = weft__rd_u32(r);
    if (!weft__rd_ok(r) || e->state > WEFT__SWIM_LEFT)
        return WEFT_ERR_PROTO;
    if (e->state == WEFT__SWIM_LEFT) {
        id_consume(r, &e->leave.id);
        e->leave.inc = e->inc;
        e->leave.sig = weft__rd_bytes(r, WEFT_SIG_BYTES);
        return result(r);
    }
    return weft__swim_claim_consume(r, &e->claim);
}

size_t weft__swim_pp_begin(weft__wr *w, uint8_t flags)
{
    size_t mark = w->pos;
    msg_hdr_create(w, WEFT__SWIM_MSG_PUSHPULL, 0); /* length set by end() */
    weft__wr_u8(w, flags);
    return mark;
}

void weft__swim_pp_end(weft__wr *w, size_t mark)
{
    if (weft__wr_ok(w))
        weft__put_u16(w->p + mark + MSG_LEN,
                      (uint16_t)(w->pos - mark - WEFT__SWIM_MSG_HDR_BYTES));
}
