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
#include "base/varint.h"

static const uint8_t MAGIC[4] = {'W', 'F', 'T', 'B'};
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
        need += 3 + (a->family == 4 ? 4u : 16u);
    }
    if (cap < need)
        return WEFT_ERR_BUFSMALL;
    uint8_t *p = buf;
    memcpy(p, MAGIC, 4);
    p[4] = WEFT__BEACON_VERSION;
    p[5] = (uint8_t)b->naddrs;
    p[6] = p[7] = 0;
    memcpy(p + 8, b->mesh_id, WEFT__MESH_ID_BYTES);
    memcpy(p + 16, b->id.key, WEFT_ID_BYTES);
    weft__put_u64(p + 48, b->seq);
    size_t o = WEFT__BEACON_HEADER_BYTES;
    for (size_t i = 0; i < b->naddrs; i++) {
        const weft_addr *a = &b->addrs[i];
        size_t iplen = a->family == 4 ? 4 : 16;
        p[o] = a->family;
        weft__put_u16(p + o + 1, a->port);
        memcpy(p + o + 3, a->ip, iplen);
        o += 3 + iplen;
    }
    uint8_t tbs[SIG_CTX_LEN + WEFT__BEACON_BYTES_MAX];
    size_t n = with_ctx(tbs, buf, o);
    c->sign(c->ctx, buf + o, tbs, n, sk);
    return (ptrdiff_t)(o + WEFT_SIG_BYTES);
}

int weft__beacon_decode(const weft_crypto *c, const uint8_t *buf, size_t len,
                        const uint8_t mesh_id[WEFT__MESH_ID_BYTES],
                        weft__beacon *out)
{
    if (!c || !buf || !out || len < WEFT__BEACON_HEADER_BYTES + WEFT_SIG_BYTES ||
        len > WEFT__BEACON_BYTES_MAX || memcmp(buf, MAGIC, 4) != 0)
        return WEFT_ERR_PROTO;
    if (buf[4] != WEFT__BEACON_VERSION)
        return WEFT_ERR_VERSION;
    size_t naddrs = buf[5];
    if (naddrs == 0 || naddrs > WEFT__BEACON_ADDRS_MAX || buf[6] || buf[7])
        return WEFT_ERR_PROTO;
    memset(out, 0, sizeof *out);
    size_t o = WEFT__BEACON_HEADER_BYTES, body = len - WEFT_SIG_BYTES;
    for (size_t i = 0; i < naddrs; i++) {
        if (o + 3 > body)
            return WEFT_ERR_PROTO;
        uint8_t fam = buf[o];
        size_t iplen = fam == 4 ? 4 : fam == 6 ? 16 : 0;
        if (!iplen || o + 3 + iplen > body)
            return WEFT_ERR_PROTO;
        weft_addr *a = &out->addrs[i];
        a->family = fam;
        a->port = weft__get_u16(buf + o + 1);
        if (a->port == 0)
            return WEFT_ERR_PROTO;
        memcpy(a->ip, buf + o + 3, iplen);
        o += 3 + iplen;
    }
    if (o != body) /* trailing bytes before the signature */
        return WEFT_ERR_PROTO;
    out->naddrs = naddrs;
    memcpy(out->mesh_id, buf + 8, WEFT__MESH_ID_BYTES);
    memcpy(out->id.key, buf + 16, WEFT_ID_BYTES);
    out->seq = weft__get_u64(buf + 48);
    if (memcmp(out->mesh_id, mesh_id, WEFT__MESH_ID_BYTES) != 0)
        return WEFT_ERR_WRONG_MESH;
    uint8_t tbs[SIG_CTX_LEN + WEFT__BEACON_BYTES_MAX];
    size_t n = with_ctx(tbs, buf, body);
    if (c->verify(c->ctx, buf + body, tbs, n, out->id.key) != 0)
        return WEFT_ERR_BAD_SIGNATURE;
    return 0;
}
