/* test_cursor.c -- the bounds-checked reader/writer (src/base/cursor.h):
 * fields round-trip, a short buffer fails every later read without
 * consuming, a full writer refuses and reports it. */
#include "base/cursor.h"
#include "test.h"

TEST(roundtrip)
{
    uint8_t buf[64];
    weft__wr w;
    weft__wr_init(&w, buf, sizeof buf);
    weft__wr_u8(&w, 0xab);
    weft__wr_u16(&w, 0x1234);
    weft__wr_u32(&w, 0xdeadbeef);
    weft__wr_u64(&w, 0x0102030405060708ull);
    weft__wr_varint(&w, 300);
    weft__wr_bytes(&w, "xyz", 3);
    weft__wr_zero(&w, 2);
    REQUIRE(weft__wr_ok(&w));
    CHECK_EQ_INT(w.pos, 1 + 2 + 4 + 8 + 2 + 3 + 2);
    CHECK_EQ_INT(buf[1], 0x34); /* little-endian */

    weft__rd r;
    weft__rd_init(&r, buf, w.pos);
    CHECK_EQ_INT(weft__rd_u8(&r), 0xab);
    CHECK_EQ_INT(weft__rd_u16(&r), 0x1234);
    CHECK(weft__rd_u32(&r) == 0xdeadbeefu);
    CHECK(weft__rd_u64(&r) == 0x0102030405060708ull);
    CHECK_EQ_INT(weft__rd_varint(&r), 300);
    const uint8_t *s = weft__rd_bytes(&r, 3);
    REQUIRE(s);
    CHECK(memcmp(s, "xyz", 3) == 0);
    CHECK_EQ_INT(weft__rd_left(&r), 2);
    weft__rd_skip(&r, 2);
    CHECK(weft__rd_done(&r));
}

TEST(short_read_is_sticky)
{
    uint8_t b[5] = {1, 2, 3, 4, 5};
    weft__rd r;
    weft__rd_init(&r, b, sizeof b);
    CHECK_EQ_INT(weft__rd_u32(&r), 0x04030201);
    CHECK_EQ_INT(weft__rd_u16(&r), 0); /* only one byte left */
    CHECK(!weft__rd_ok(&r));
    CHECK_EQ_INT(weft__rd_u8(&r), 0);  /* sticky: the last byte is not read */
    CHECK(weft__rd_bytes(&r, 0) == NULL);
    CHECK_EQ_INT(weft__rd_left(&r), 0);
    CHECK(!weft__rd_done(&r));
    size_t n = 99;
    CHECK(weft__rd_rest(&r, &n) == NULL);
    CHECK_EQ_INT(n, 0);
}

TEST(truncated_varint)
{
    uint8_t b[1] = {0x40}; /* a two-byte varint cut after its first byte */
    weft__rd r;
    weft__rd_init(&r, b, sizeof b);
    CHECK_EQ_INT(weft__rd_varint(&r), 0);
    CHECK(!weft__rd_ok(&r));
}

TEST(writer_full)
{
    uint8_t b[3];
    weft__wr w;
    weft__wr_init(&w, b, sizeof b);
    weft__wr_u16(&w, 7);
    CHECK(weft__wr_ok(&w));
    weft__wr_u16(&w, 8); /* one byte of room */
    CHECK(!weft__wr_ok(&w));
    CHECK_EQ_INT(w.pos, 2);
    weft__wr_u8(&w, 1); /* sticky */
    CHECK_EQ_INT(w.pos, 2);
    CHECK(weft__wr_take(&w, 0) == NULL);
    weft__wr_init(&w, b, sizeof b);
    weft__wr_varint(&w, WEFT__VARINT_MAX + 1);
    CHECK(!weft__wr_ok(&w));
}

TEST(fail_marks_field)
{
    uint8_t b[4] = {9, 0, 0, 0};
    weft__rd r;
    weft__rd_init(&r, b, sizeof b);
    if (weft__rd_u8(&r) > 8)
        weft__rd_fail(&r); /* a decoder refusing a value */
    CHECK(!weft__rd_ok(&r));
    CHECK_EQ_INT(weft__rd_u8(&r), 0);
}

int main(void)
{
    RUN(roundtrip);
    RUN(short_read_is_sticky);
    RUN(truncated_varint);
    RUN(writer_full);
    RUN(fail_marks_field);
    TEST_MAIN_END();
}
