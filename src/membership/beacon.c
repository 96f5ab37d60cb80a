/*
 * beacon.c -- encode and verify LAN beacons (see beacon.h and
 * docs/DISCOVERY.md §3).  No I/O: the driver (src/uv/discovery.c) hands in
 * datagrams and sends what this returns.
 *
 * Layout (integers little-endian, like the membership wire format):
 *
 *   0   4   magic "WFTB"
 *   4   1   version (1)
 *   5   1   naddrs (1..4)
 *   6   2   reserved, zero
 *   8   8   mesh id
 *   16  32  node id (Ed25519 public key)
 *   48  8   seq (sender's wall clock in ms: increases across restarts)
 *   56  ... naddrs x { family u8 (4|6), port u16, ip (4 or 16 bytes) }
 *   end-64  Ed25519 signature of "weft-beacon-v1" || bytes 0..end-64
 *
 * The signed context string keeps a beacon signature from ever being
 * valid as any other weft signature made with the same identity key.
 */
#include <string.h>

#include "membership/beacon.h"
#include "base/cursor.h"

static const uint8_t MAGIC[4] = {'W', 'F', 'T', 'B'};

/* Layout offsets (docs/DISCOVERY.md §3); the cursor reads them in order. */
enum { B_MAGIC = 0, B_VERSION = 4, B_NADDRS = 5, B_RESERVED = 6, B_MESH = 8,
       B_ID = 16, B_SEQ = 48, B_ADDRS = 56 };
_Static_assert(B_MESH + WEFT__MESH_ID_BYTES == B_ID, "beacon mesh id");
_Static_assert(B_ID + WEFT_ID_BYTES == B_SEQ, "beacon node id");
_Static_assert(B_SEQ + 8 == B_ADDRS && B_ADDRS == WEFT__BEACON_HEADER_BYTES, "beacon header");
/* address entry: family u8 | port u16 | ip (4 or 16) */
enum { A_FAMILY = 0, A_PORT = 1, A_IP = 3 };
_Static_assert(WEFT__BEACON_BYTES_MAX ==
               B_ADDRS + WEFT__BEACON_ADDRS_MAX * (A_IP + 16) + WEFT_SIG_BYTES, "beacon max");
static const char SIG_CTX[] = "weft-beacon-v1"; /* 14 bytes, no NUL */
#define SIG_CTX_LEN (sizeof SIG_CTX - 1)

void weft__beacon_mesh_id(const weft_crypto *c, const uint8_t network_key[32],
                          uint8_t out[WEFT__MESH_ID_BYTES])
{
    static const char label[] = "weft-mesh-id-v1";
    uint8_t h[WEFT_HASH_BYTES];
    weft_iov iov[2] = {{label, sizeof label - 1}, {network_key, 32}};
    c->hash(c->ctx, h, iov, 2);
    memcpy(out, h, WEFT__MESH_ID_BYTES);
    c->wipe(c->ctx, h, sizeof h);
}

/* Signs or verifies ctx || body without a second copy on the heap: the
 * body is at most WEFT__BEACON_BYTES_MAX, so a stack buffer does. */
static size_t with_ctx(uint8_t *dst, const uint8_t *body, size_t len)
{
    memcpy(dst, SIG_CTX, SIG_CTX_LEN);
    memcpy(dst + SIG_CTX_LEN, body, len);
    return SIG_CTX_LEN + len;
}

ptrdiff_t weft__beacon_encode(const weft_crypto *c, const weft__beacon *b,
                              const uint8_t sk[64], uint8_t *buf, size_t cap)
{
    if (!c || !b || !sk || !buf || b->naddrs == 0 ||
        b->naddrs > WEFT__BEACON_ADDRS_MAX)
        return WEFT_ERR_INVAL;
    size_t need = WEFT__BEACON_HEADER_BYTES + WEFT_SIG_BYTES;
    for (size_t i = 0; i < b->naddrs; i++) {
        const weft_addr *a = &b->addrs[i];
        if ((a->family != 4 && a->family != 6) || a->port == 0)
            return WEFT_ERR_INVAL;
        need += A_IP + (a->family == 4 ? 4u : 16u);
    }
    if (cap < need)
        return WEFT_ERR_BUFSMALL;
    weft__wr w;
    weft__wr_init(&w, buf, need);
    weft__wr_bytes(&w, MAGIC, sizeof MAGIC);          /* B_MAGIC */
    weft__wr_u8(&w, WEFT__BEACON_VERSION);            /* B_VERSION */
    weft__wr_u8(&w, (uint8_t)b->naddrs);              /* B_NADDRS */
    weft__wr_u16(&w, 0);                              /* B_RESERVED */
    weft__wr_bytes(&w, b->mesh_id, WEFT__MESH_ID_BYTES); /* B_MESH */
    weft__wr_bytes(&w, b->id.key, WEFT_ID_BYTES);     /* B_ID */
    weft__wr_u64(&w, b->seq);                         /* B_SEQ */
    for (size_t i = 0; i < b->naddrs; i++) {          /* B_ADDRS */
        const weft_addr *a = &b->addrs[i];
        weft__wr_u8(&w, a->family);
        weft__wr_u16(&w, a->port);
        weft__wr_bytes(&w, a->ip, a->family == 4 ? 4 : 16);
    }
    size_t body = w.pos;
    uint8_t *sig = weft__wr_take(&w, WEFT_SIG_BYTES);
    uint8_t tbs[SIG_CTX_LEN + WEFT__BEACON_BYTES_MAX];
    size_t n = with_ctx(tbs, buf, body);
    c->sign(c->ctx, sig, tbs, n, sk);
    return (ptrdiff_t)w.pos;
}

int weft__beacon_decode(const weft_crypto *c, const uint8_t *buf, size_t len,
                        const uint8_t mesh_id[WEFT__MESH_ID_BYTES],
                        weft__beacon *out)
{
    if (!c || !buf || !out || len < WEFT__BEACON_HEADER_BYTES + WEFT_SIG_BYTES ||
        len > WEFT__BEACON_BYTES_MAX)
        return WEFT_ERR_PROTO;
    weft__rd all, r;
    weft__rd_init(&all, buf, len);
    size_t body_len = len - WEFT_SIG_BYTES;
    const uint8_t *body = weft__rd_bytes(&all, body_len);
    const uint8_t *sig = weft__rd_bytes(&all, WEFT_SIG_BYTES);
    weft__rd_init(&r, body, body_len); /* what the signature covers */
    const uint8_t *magic = weft__rd_bytes(&r, sizeof MAGIC);
    if (!magic || memcmp(magic, MAGIC, sizeof MAGIC) != 0)
        return WEFT_ERR_PROTO;
    if (weft__rd_u8(&r) != WEFT__BEACON_VERSION)
        return WEFT_ERR_VERSION;
    size_t naddrs = weft__rd_u8(&r);
    if (naddrs == 0 || naddrs > WEFT__BEACON_ADDRS_MAX || weft__rd_u16(&r) != 0)
        return WEFT_ERR_PROTO;
    memset(out, 0, sizeof *out);
    weft__rd_copy(&r, out->mesh_id, WEFT__MESH_ID_BYTES);
    weft__rd_copy(&r, out->id.key, WEFT_ID_BYTES);
    out->seq = weft__rd_u64(&r);
    for (size_t i = 0; i < naddrs; i++) {
        weft_addr *a = &out->addrs[i];
        a->family = weft__rd_u8(&r);
        a->port = weft__rd_u16(&r);
        size_t iplen = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
        if (!iplen || a->port == 0)
            weft__rd_fail(&r);
        weft__rd_copy(&r, a->ip, iplen);
    }
    if (!weft__rd_done(&r)) /* short, bad entries, or bytes before the signature */
        return WEFT_ERR_PROTO;
    out->naddrs = naddrs;
    if (memcmp(out->mesh_id, mesh_id, WEFT__MESH_ID_BYTES) != 0)
        return WEFT_ERR_WRONG_MESH;
    uint8_t tbs[SIG_CTX_LEN + WEFT__BEACON_BYTES_MAX];
    size_t n = with_ctx(tbs, body, body_len);
    if (c->verify(c->ctx, sig, tbs, n, out->id.key) != 0)
        return WEFT_ERR_BAD_SIGNATURE;
    return 0;
}
