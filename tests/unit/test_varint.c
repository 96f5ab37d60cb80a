/*
 * test_varint.c -- QUIC varints: the RFC 9000 Appendix A.1 examples, every
 * length boundary, truncation, and random round trips.
 */
#include "test.h"
#include "base/varint.h"

static uint64_t rng = 0x1234567887654321ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

TEST(rfc9000_examples)
{
    struct { const char *hex; uint64_t v; } ex[] = {
        {"c2197c5eff14e88c", 151288809941952652ULL},
        {"9d7f3e7d", 494878333},
        {"7bbd", 15293},
        {"25", 37},
        {"4025", 37}, /* non-minimal two-byte form decodes too */
    };
    for (size_t i = 0; i < sizeof ex / sizeof ex[0]; i++) {
        uint8_t b[8];
        int n = test_unhex(b, sizeof b, ex[i].hex);
        uint64_t v = 0;
        CHECK_EQ_INT(weft__varint_get(b, (size_t)n, &v), n);
        CHECK(v == ex[i].v);
        if (i < 4) { /* the encoder emits the minimal form */
            uint8_t o[8];
            CHECK_EQ_INT(weft__varint_put(o, sizeof o, ex[i].v), n);
            CHECK(memcmp(o, b, (size_t)n) == 0);
        }
    }
}

TEST(boundaries)
{
    struct { uint64_t v; size_t len; } c[] = {
        {0, 1}, {63, 1}, {64, 2}, {16383, 2}, {16384, 4},
        {1073741823, 4}, {1073741824, 8}, {WEFT__VARINT_MAX, 8},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        uint8_t b[8];
        CHECK_EQ_INT(weft__varint_len(c[i].v), c[i].len);
        CHECK_EQ_INT(weft__varint_put(b, sizeof b, c[i].v), c[i].len);
        CHECK_EQ_INT(weft__varint_put(b, c[i].len - 1, c[i].v), 0); /* too small */
        uint64_t v;
        CHECK_EQ_INT(weft__varint_get(b, c[i].len, &v), c[i].len);
        CHECK(v == c[i].v);
        CHECK_EQ_INT(weft__varint_get(b, c[i].len - 1, &v), 0); /* truncated */
    }
    uint8_t b[8];
    CHECK_EQ_INT(weft__varint_put(b, sizeof b, WEFT__VARINT_MAX + 1), 0);
    uint64_t v;
    CHECK_EQ_INT(weft__varint_get(b, 0, &v), 0);
}

TEST(random_round_trip)
{
    for (int i = 0; i < 100000; i++) {
        /* spread over all magnitudes */
        uint64_t v = (rnd() >> (rnd() % 64)) & WEFT__VARINT_MAX;
        uint8_t b[9] = {0};
        size_t n = weft__varint_put(b, sizeof b, v);
        REQUIRE(n == weft__varint_len(v));
        uint64_t w = ~v;
        REQUIRE(weft__varint_get(b, sizeof b, &w) == n);
        REQUIRE(w == v);
    }
}

TEST(fixed_width_helpers)
{
    uint8_t b[8];
    weft__put_u16(b, 0xbeef);
    CHECK(b[0] == 0xef && b[1] == 0xbe);
    CHECK(weft__get_u16(b) == 0xbeef);
    weft__put_u32(b, 0xdeadbeef);
    CHECK(b[0] == 0xef && b[3] == 0xde);
    CHECK(weft__get_u32(b) == 0xdeadbeef);
    weft__put_u64(b, 0x0102030405060708ULL);
    CHECK(b[0] == 0x08 && b[7] == 0x01);
    CHECK(weft__get_u64(b) == 0x0102030405060708ULL);
}

int main(void)
{
    RUN(rfc9000_examples);
    RUN(boundaries);
    RUN(random_round_trip);
    RUN(fixed_width_helpers);
    TEST_MAIN_END();
}
