/*
 * test_beacon.c -- the LAN beacon codec (src/membership/beacon.c): round trip,
 * the wire layout of docs/DISCOVERY.md §3 at fixed offsets, the mesh id
 * derivation, and every rejection a receiver relies on (other mesh, bad
 * signature, a signature by someone else than the claimed node, truncation
 * and trailing bytes, unknown version, bad address entries).  Crypto is
 * real (libsodium through weft_crypto_sodium()).
 */
#include <sodium.h>

#include "membership/beacon.h"
#include "test.h"

static const weft_crypto *C;
static uint8_t SK[64], SK2[64];
static weft_node_id ID, ID2;
static uint8_t NETKEY[32];

static void setup(void)
{
    uint8_t seed[32];
    C = weft_crypto_sodium();
    memset(seed, 7, sizeof seed);
    C->sign_keypair_seed(C->ctx, ID.key, SK, seed);
    memset(seed, 8, sizeof seed);
    C->sign_keypair_seed(C->ctx, ID2.key, SK2, seed);
    memset(NETKEY, 0x4e, sizeof NETKEY);
}

static void sample(weft__beacon *b)
{
    memset(b, 0, sizeof *b);
    weft__beacon_mesh_id(C, NETKEY, b->mesh_id);
    b->id = ID;
    b->seq = 1790000000123ull;
    weft_addr_parse(&b->addrs[0], "10.213.0.2:7001");
    weft_addr_parse(&b->addrs[1], "[fd00:213::2]:7001");
    b->naddrs = 2;
}

TEST(mesh_id_is_blake2b_prefix)
{
    uint8_t want[64], got[8];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 64);
    crypto_generichash_update(&st, (const uint8_t *)"weft-mesh-id-v1", 15);
    crypto_generichash_update(&st, NETKEY, 32);
    crypto_generichash_final(&st, want, 64);
    weft__beacon_mesh_id(C, NETKEY, got);
    CHECK(memcmp(want, got, 8) == 0);
    /* a different key gives a different id, and the id is not the key */
    uint8_t k2[32], got2[8];
    memcpy(k2, NETKEY, 32);
    k2[31] ^= 1;
    weft__beacon_mesh_id(C, k2, got2);
    CHECK(memcmp(got, got2, 8) != 0);
    CHECK(memcmp(got, NETKEY, 8) != 0);
}

TEST(round_trip_and_layout)
{
    weft__beacon b, d;
    uint8_t buf[WEFT__BEACON_BYTES_MAX];
    sample(&b);
    ptrdiff_t n = weft__beacon_encode(C, &b, SK, buf, sizeof buf);
    REQUIRE(n == 56 + 7 + 19 + 64);
    CHECK(memcmp(buf, "WFTB", 4) == 0);
    CHECK_EQ_INT(buf[4], 1);
    CHECK_EQ_INT(buf[5], 2);
    CHECK(memcmp(buf + 8, b.mesh_id, 8) == 0);
    CHECK(memcmp(buf + 16, ID.key, 32) == 0);
    CHECK_EQ_INT(buf[48], 1790000000123ull & 0xff); /* little-endian */
    CHECK_EQ_INT(buf[56], 4);
    CHECK_EQ_INT(buf[57] | buf[58] << 8, 7001);
    CHECK(buf[59] == 10 && buf[60] == 213 && buf[61] == 0 && buf[62] == 2);
    CHECK_EQ_INT(buf[63], 6);
    REQUIRE(weft__beacon_decode(C, buf, (size_t)n, b.mesh_id, &d) == 0);
    CHECK(memcmp(&d.id, &ID, sizeof ID) == 0);
    CHECK(d.seq == b.seq);
    CHECK_EQ_INT(d.naddrs, 2);
    CHECK(weft_addr_eq(&d.addrs[0], &b.addrs[0]));
    CHECK(weft_addr_eq(&d.addrs[1], &b.addrs[1]));
    /* the signature covers the context string: a plain signature of the
     * same bytes (no context) must not verify as a beacon */
    uint8_t sig[64];
    C->sign(C->ctx, sig, buf, (size_t)n - 64, SK);
    memcpy(buf + n - 64, sig, 64);
    CHECK_EQ_INT(weft__beacon_decode(C, buf, (size_t)n, b.mesh_id, &d), WEFT_ERR_BAD_SIGNATURE);
}

TEST(rejects_other_mesh_and_forgeries)
{
    weft__beacon b, d;
    uint8_t buf[WEFT__BEACON_BYTES_MAX], other[8];
    sample(&b);
    ptrdiff_t n = weft__beacon_encode(C, &b, SK, buf, sizeof buf);
    REQUIRE(n > 0);
    memcpy(other, b.mesh_id, 8);
    other[0] ^= 0x80;
    CHECK_EQ_INT(weft__beacon_decode(C, buf, (size_t)n, other, &d), WEFT_ERR_WRONG_MESH);
    /* any flipped bit after the header checks is a bad signature */
    for (ptrdiff_t i = 16; i < n; i++) {
        if (i >= 56 && i < 56 + 1) continue;           /* family byte: PROTO */
        if (i >= 63 && i < 64) continue;
        buf[i] ^= 0x01;
        int rc = weft__beacon_decode(C, buf, (size_t)n, b.mesh_id, &d);
        CHECK(rc == WEFT_ERR_BAD_SIGNATURE || rc == WEFT_ERR_PROTO);
        buf[i] ^= 0x01;
    }
    /* claiming node ID but signed by node ID2 */
    ptrdiff_t n2 = weft__beacon_encode(C, &b, SK2, buf, sizeof buf);
    REQUIRE(n2 == n);
    CHECK_EQ_INT(weft__beacon_decode(C, buf, (size_t)n2, b.mesh_id, &d), WEFT_ERR_BAD_SIGNATURE);
}

TEST(rejects_malformed)
{
    weft__beacon b, d;
    uint8_t buf[WEFT__BEACON_BYTES_MAX + 8];
    sample(&b);
    ptrdiff_t n = weft__beacon_encode(C, &b, SK, buf, sizeof buf);
    REQUIRE(n > 0);
    for (size_t l = 0; l < (size_t)n; l++)
        CHECK(weft__beacon_decode(C, buf, l, b.mesh_id, &d) < 0);
    CHECK_EQ_INT(weft__beacon_decode(C, buf, (size_t)n + 1, b.mesh_id, &d), WEFT_ERR_PROTO);
    buf[4] = 2;
    CHECK_EQ_INT(weft__beacon_decode(C, buf, (size_t)n, b.mesh_id, &d), WEFT_ERR_VERSION);
    buf[4] = 1;
    buf[5] = 0;
    CHECK_EQ_INT(weft__beacon_decode(C, buf, (size_t)n, b.mesh_id, &d), WEFT_ERR_PROTO);
    buf[5] = 2;
    buf[0] = 'X';
    CHECK_EQ_INT(weft__beacon_decode(C, buf, (size_t)n, b.mesh_id, &d), WEFT_ERR_PROTO);
    /* encoder refuses what a decoder would refuse */
    b.naddrs = 0;
    CHECK_EQ_INT(weft__beacon_encode(C, &b, SK, buf, sizeof buf), WEFT_ERR_INVAL);
    b.naddrs = 5;
    CHECK_EQ_INT(weft__beacon_encode(C, &b, SK, buf, sizeof buf), WEFT_ERR_INVAL);
    b.naddrs = 1;
    b.addrs[0].port = 0;
    CHECK_EQ_INT(weft__beacon_encode(C, &b, SK, buf, sizeof buf), WEFT_ERR_INVAL);
    sample(&b);
    CHECK_EQ_INT(weft__beacon_encode(C, &b, SK, buf, 100), WEFT_ERR_BUFSMALL);
    /* the largest beacon fits the declared maximum */
    for (int i = 0; i < 4; i++)
        weft_addr_parse(&b.addrs[i], "[fd00:213::2]:7001");
    b.naddrs = 4;
    n = weft__beacon_encode(C, &b, SK, buf, WEFT__BEACON_BYTES_MAX);
    CHECK_EQ_INT(n, WEFT__BEACON_BYTES_MAX);
    CHECK_EQ_INT(weft__beacon_decode(C, buf, (size_t)n, b.mesh_id, &d), 0);
}

int main(void)
{
    setup();
    RUN(mesh_id_is_blake2b_prefix);
    RUN(round_trip_and_layout);
    RUN(rejects_other_mesh_and_forgeries);
    RUN(rejects_malformed);
    TEST_MAIN_END();
}
