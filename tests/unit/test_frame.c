/*
 * test_frame.c -- the frame codec: byte-exact vectors (the same ones shown
 * in docs/PROTOCOL.md §5), random encode/decode round trips, every
 * truncation of every encoded frame, and each rejection rule for hostile
 * input (underflowing ACK ranges, MSG bounds, flags, padding, unknown
 * types).
 */
#include "test.h"
#include "core/frame.h"
#include "base/varint.h"

static uint64_t rng = 0x0ddba11c0ffee123ULL;
static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
/* Values of every varint length. */
static uint64_t rnd_v(void) { return (rnd() >> (rnd() % 64)) & WEFT__VARINT_MAX; }

static ptrdiff_t dec_hex(const char *hex, weft__frame *f, size_t *n)
{
    static uint8_t b[512];
    int k = test_unhex(b, sizeof b, hex);
    *n = (size_t)k;
    uint8_t *exact = malloc((size_t)k + 1);
    memcpy(exact, b, (size_t)k);
    ptrdiff_t rc = weft__frame_decode(exact, (size_t)k, f);
    free(exact);
    return rc;
}

static int enc_is(const uint8_t *p, ptrdiff_t n, const char *hex)
{
    uint8_t b[512];
    int k = test_unhex(b, sizeof b, hex);
    return n == k && memcmp(p, b, (size_t)k) == 0;
}

TEST(vectors)
{
    uint8_t b[256];
    weft__frame f;
    size_t n;

    CHECK(enc_is(b, weft__frame_put_ping(b, sizeof b), "01"));
    CHECK(enc_is(b, weft__frame_put_max_data(b, sizeof b, 1000000), "04800f4240"));
    CHECK(enc_is(b, weft__frame_put_close(b, sizeof b, 3), "0503"));

    /* ACK of {1..3, 7..10} with 25 us delay: largest 10, first_range 3,
     * one more range: gap = 7 - 3 - 2 = 2, len = 3 - 1 = 2. */
    weft__range r[2] = {{7, 10}, {1, 3}};
    CHECK(enc_is(b, weft__frame_put_ack(b, sizeof b, r, 2, 25), "020a1901030202"));
    CHECK_EQ_INT(dec_hex("020a1901030202", &f, &n), 7);
    CHECK_EQ_INT(f.type, WEFT__F_ACK);
    CHECK_EQ_INT(f.u.ack.nranges, 2);
    CHECK_EQ_INT(f.u.ack.ack_delay_us, 25);
    CHECK(f.u.ack.ranges[0].lo == 7 && f.u.ack.ranges[0].hi == 10);
    CHECK(f.u.ack.ranges[1].lo == 1 && f.u.ack.ranges[1].hi == 3);

    /* MSG: flags 0x06 (HIGH | UNORDERED), channel 0x100 (the first
     * application channel), id 5, total 300, offset 0, 3 bytes "abc". */
    weft__msg_frame m = {0x06, 0x100, 5, 300, 0, (const uint8_t *)"abc", 3};
    CHECK_EQ_INT(weft__frame_msg_hdr_len(0x100, 5, 300, 0, 3), 9);
    CHECK(enc_is(b, weft__frame_put_msg(b, sizeof b, &m), "0306410005412c0003616263"));
    CHECK_EQ_INT(dec_hex("0306410005412c0003616263", &f, &n), 12);
    CHECK_EQ_INT(f.type, WEFT__F_MSG);
    CHECK(f.u.msg.flags == 0x06 && f.u.msg.channel == 0x100 && f.u.msg.msg_id == 5 &&
          f.u.msg.total_len == 300 && f.u.msg.offset == 0 && f.u.msg.len == 3);

    /* Empty message on channel 1, with a receipt asked (flag 0x10) */
    CHECK_EQ_INT(dec_hex("03100109000000", &f, &n), 7);
    CHECK(f.u.msg.total_len == 0 && f.u.msg.len == 0 && f.u.msg.flags == 0x10 &&
          f.u.msg.channel == 1);

    /* RECEIPT: two entries, (lane 2, id 7) and (lane 0, id 300) */
    uint8_t lanes[2] = {2, 0};
    uint64_t ids[2] = {7, 300};
    CHECK(enc_is(b, weft__frame_put_receipt(b, sizeof b, lanes, ids, 2), "0602020700412c"));
    CHECK_EQ_INT(weft__frame_decode(b, 7, &f), 7);
    CHECK_EQ_INT(f.type, WEFT__F_RECEIPT);
    CHECK_EQ_INT(f.u.receipt.count, 2);
    size_t off = 0;
    uint8_t lane;
    uint64_t id;
    CHECK(weft__frame_receipt_next(&f.u.receipt, &off, &lane, &id) && lane == 2 && id == 7);
    CHECK(weft__frame_receipt_next(&f.u.receipt, &off, &lane, &id) && lane == 0 && id == 300);
    CHECK(!weft__frame_receipt_next(&f.u.receipt, &off, &lane, &id));
    CHECK_EQ_INT(weft__frame_count_events(b, 7), 2);
    /* a lane over 15, a count of 0 or over 64, a truncated entry: refused */
    CHECK_EQ_INT(dec_hex("0601100700", &f, &n), WEFT_ERR_PROTO);
    CHECK_EQ_INT(dec_hex("0600", &f, &n), WEFT_ERR_PROTO);
    CHECK_EQ_INT(dec_hex("064041", &f, &n), WEFT_ERR_PROTO);
    CHECK_EQ_INT(dec_hex("06020207", &f, &n), WEFT_ERR_PROTO);
    /* a MSG on channel 0, or with flag bits 5-7 set: refused */
    CHECK_EQ_INT(dec_hex("03000009000000", &f, &n), WEFT_ERR_PROTO);
    CHECK_EQ_INT(dec_hex("03200109000000", &f, &n), WEFT_ERR_PROTO);

    /* PADDING consumes the rest */
    CHECK_EQ_INT(dec_hex("00000000", &f, &n), 4);
    CHECK_EQ_INT(f.type, WEFT__F_PADDING);
    CHECK_EQ_INT(dec_hex("00", &f, &n), 1);
    CHECK_EQ_INT(dec_hex("01", &f, &n), 1);
    CHECK_EQ_INT(f.type, WEFT__F_PING);
    CHECK_EQ_INT(dec_hex("0503", &f, &n), 2);
    CHECK(f.type == WEFT__F_CLOSE && f.u.close_reason == 3);
    CHECK_EQ_INT(dec_hex("04800f4240", &f, &n), 5);
    CHECK(f.type == WEFT__F_MAX_DATA && f.u.max_data == 1000000);
    /* a non-minimal varint is accepted */
    CHECK_EQ_INT(dec_hex("044001", &f, &n), 3);
    CHECK(f.u.max_data == 1);
}

TEST(rejections)
{
    weft__frame f;
    size_t n;
    const char *bad[] = {
        "",                 /* nothing */
        "06", "ff", "40",   /* unknown types */
        "0001", "000000ff", /* padding followed by non-zero */
        "02050000" "06",    /* first_range 6 > largest 5 */
        "0205000105" "0000",/* range 2: smallest 0 -> largest would be -2 */
        "020500010201",     /* 3..5, gap 1, then the range length is missing */
        "020a0001000a00",   /* gap 10 below smallest 10 -> underflow */
        "020a000100" "0809",/* gap 8 -> hi 0, len 9 > hi */
        "020a00ff00",       /* range count 63 with no bytes for it */
        "032001000000" "00",/* flag bits 5-7 set */
        "030c01000000" "00",/* kind 0x0c invalid */
        "0300000100000000", /* channel 0 */
        "03000101050404" "00000000", /* offset 4 + len 4 > total 5 */
        "03000101050600",   /* offset 6 > total 5 */
        "0300010105000661626364", /* len 6 > 4 remaining bytes */
        /* offset + len would overflow 64 bits if added naively */
        "03000101" "ffffffffffffffff" "ffffffffffffffff" "ffffffffffffffff",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ptrdiff_t rc = dec_hex(bad[i], &f, &n);
        if (rc != WEFT_ERR_PROTO)
            fprintf(stderr, "vector %zu (%s) gave %td\n", i, bad[i], rc);
        CHECK_EQ_INT(rc, WEFT_ERR_PROTO);
    }
    /* the one vector above that is valid when it fits: sanity-check */
    CHECK_EQ_INT(dec_hex("02050001020000", &f, &n), 7); /* 4..5, gap 0 -> hi 1, len 0 */
    CHECK(f.u.ack.nranges == 2 && f.u.ack.ranges[1].lo == 1 && f.u.ack.ranges[1].hi == 1);
    CHECK_EQ_INT(dec_hex("02050001030000", &f, &n), 7); /* 2..5, gap 0 -> hi 0 */
    CHECK(f.u.ack.ranges[1].lo == 0 && f.u.ack.ranges[1].hi == 0);
    CHECK_EQ_INT(dec_hex("02050001040000", &f, &n), WEFT_ERR_PROTO); /* 1..5, hi -1 */
}

static void random_ranges(weft__range *r, size_t *nr, size_t max)
{
    size_t k = 1 + (size_t)(rnd() % max);
    uint64_t hi = rnd_v();
    size_t i = 0;
    for (; i < k; i++) {
        uint64_t len = rnd() % 4 ? rnd() % 10 : rnd_v();
        if (len > hi)
            len = hi;
        r[i].hi = hi;
        r[i].lo = hi - len;
        uint64_t gap = rnd() % 4 ? rnd() % 10 : rnd_v();
        if (r[i].lo < 2 || gap > r[i].lo - 2) {
            i++;
            break;
        }
        hi = r[i].lo - 2 - gap;
    }
    *nr = i;
}

TEST(ack_round_trip)
{
    uint8_t b[2048];
    weft__range r[WEFT__ACK_RANGES_MAX];
    for (int it = 0; it < 20000; it++) {
        size_t nr;
        random_ranges(r, &nr, WEFT__ACK_RANGES_MAX);
        uint64_t delay = rnd_v();
        ptrdiff_t n = weft__frame_put_ack(b, sizeof b, r, nr, delay);
        REQUIRE(n > 0);
        weft__frame f;
        REQUIRE(weft__frame_decode(b, (size_t)n, &f) == n);
        REQUIRE(f.type == WEFT__F_ACK && f.u.ack.ack_delay_us == delay);
        REQUIRE(f.u.ack.nranges == nr);
        for (size_t i = 0; i < nr; i++)
            REQUIRE(f.u.ack.ranges[i].lo == r[i].lo && f.u.ack.ranges[i].hi == r[i].hi);
        /* every truncation is rejected; every short buffer refused */
        for (ptrdiff_t k = 0; k < n; k++) {
            REQUIRE(weft__frame_decode(b, (size_t)k, &f) == WEFT_ERR_PROTO);
            REQUIRE(weft__frame_put_ack(b + 1024, (size_t)k, r, nr, delay) == WEFT_ERR_BUFSMALL);
        }
    }
}

TEST(ack_more_ranges_than_max)
{
    /* 100 single-packet ranges 1000, 998, ..., 802 */
    weft__range r[100];
    for (int i = 0; i < 100; i++)
        r[i].lo = r[i].hi = 1000 - 2 * (uint64_t)i;
    uint8_t b[1024];
    ptrdiff_t n = weft__frame_put_ack(b, sizeof b, r, 100, 0);
    REQUIRE(n > 0);
    weft__frame f;
    CHECK_EQ_INT(weft__frame_decode(b, (size_t)n, &f), n); /* fully parsed */
    CHECK_EQ_INT(f.u.ack.nranges, WEFT__ACK_RANGES_MAX);
    for (size_t i = 0; i < WEFT__ACK_RANGES_MAX; i++)
        CHECK(f.u.ack.ranges[i].lo == r[i].lo && f.u.ack.ranges[i].hi == r[i].hi);
    /* a frame after it still decodes */
    b[n] = WEFT__F_PING;
    CHECK_EQ_INT(weft__frame_decode(b + n, 1, &f), 1);
}

TEST(ack_encoder_rejects_bad_ranges)
{
    uint8_t b[64];
    weft__range adj[2] = {{5, 9}, {2, 4}};   /* adjacent: should be one range */
    weft__range ovl[2] = {{5, 9}, {2, 6}};   /* overlapping */
    weft__range asc[2] = {{2, 3}, {7, 9}};   /* ascending */
    weft__range inv[1] = {{9, 5}};           /* lo > hi */
    CHECK_EQ_INT(weft__frame_put_ack(b, sizeof b, adj, 2, 0), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__frame_put_ack(b, sizeof b, ovl, 2, 0), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__frame_put_ack(b, sizeof b, asc, 2, 0), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__frame_put_ack(b, sizeof b, inv, 1, 0), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft__frame_put_ack(b, sizeof b, inv, 0, 0), WEFT_ERR_INVAL);
}

TEST(msg_round_trip)
{
    uint8_t data[300], b[512];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)rnd();
    for (int it = 0; it < 20000; it++) {
        weft__msg_frame m;
        static const uint8_t kinds[3] = {0x00, 0x04, 0x08};
        m.flags = (uint8_t)(rnd() % 4) | kinds[rnd() % 3] | (rnd() % 2 ? 0x10 : 0);
        m.channel = (uint16_t)(1 + rnd() % 0xffff);
        m.msg_id = rnd_v();
        m.len = (size_t)(rnd() % (sizeof data + 1));
        m.total_len = m.len + (rnd() % 2 ? rnd_v() / 2 : rnd() % 3);
        m.offset = m.total_len - m.len - (rnd() % 2 ? 0 : (m.total_len - m.len) / 2);
        m.data = data;
        ptrdiff_t n = weft__frame_put_msg(b, sizeof b, &m);
        REQUIRE(n > 0);
        REQUIRE((size_t)n == weft__frame_msg_hdr_len(m.channel, m.msg_id, m.total_len, m.offset,
                                                      m.len) + m.len);
        weft__frame f;
        REQUIRE(weft__frame_decode(b, (size_t)n, &f) == n);
        REQUIRE(f.type == WEFT__F_MSG && f.u.msg.flags == m.flags && f.u.msg.channel == m.channel &&
                f.u.msg.msg_id == m.msg_id && f.u.msg.total_len == m.total_len &&
                f.u.msg.offset == m.offset && f.u.msg.len == m.len);
        REQUIRE(f.u.msg.data == b + (n - (ptrdiff_t)m.len));
        REQUIRE(memcmp(f.u.msg.data, data, m.len) == 0);
        for (ptrdiff_t k = 0; k < n; k += 1 + (ptrdiff_t)(rnd() % 17)) {
            REQUIRE(weft__frame_decode(b, (size_t)k, &f) == WEFT_ERR_PROTO);
            /* any capacity below n is refused (100 keeps b + 400 in bounds) */
            REQUIRE(weft__frame_put_msg(b + 400, (size_t)k < 100 ? (size_t)k : 100, &m) ==
                    WEFT_ERR_BUFSMALL);
        }
    }
}

TEST(msg_encoder_rejects_bad_args)
{
    uint8_t b[64];
    weft__msg_frame m = {0x0c, 1, 1, 10, 0, (const uint8_t *)"x", 1};
    CHECK_EQ_INT(weft__frame_put_msg(b, sizeof b, &m), WEFT_ERR_INVAL); /* kind */
    m.flags = 0x20;
    CHECK_EQ_INT(weft__frame_put_msg(b, sizeof b, &m), WEFT_ERR_INVAL);
    m.flags = 0;
    m.channel = 0;
    CHECK_EQ_INT(weft__frame_put_msg(b, sizeof b, &m), WEFT_ERR_INVAL); /* channel */
    m.channel = 1;
    m.offset = 10;
    CHECK_EQ_INT(weft__frame_put_msg(b, sizeof b, &m), WEFT_ERR_INVAL); /* 10+1 > 10 */
    m.offset = 9;
    CHECK_EQ_INT(weft__frame_put_msg(b, sizeof b, &m), 7 + 1); /* 7 header bytes */
}

TEST(frame_sequence)
{
    /* A packet payload: ACK, MSG, MAX_DATA, PING, PADDING. */
    uint8_t b[256];
    size_t pos = 0;
    weft__range r[1] = {{0, 41}};
    pos += (size_t)weft__frame_put_ack(b + pos, sizeof b - pos, r, 1, 7);
    weft__msg_frame m = {0x01, 0x100, 9, 4, 0, (const uint8_t *)"wxyz", 4};
    pos += (size_t)weft__frame_put_msg(b + pos, sizeof b - pos, &m);
    pos += (size_t)weft__frame_put_max_data(b + pos, sizeof b - pos, 1u << 20);
    pos += (size_t)weft__frame_put_ping(b + pos, sizeof b - pos);
    memset(b + pos, 0, 10);
    size_t len = pos + 10;
    int types[8], nt = 0;
    for (size_t at = 0; at < len && nt < 8;) {
        weft__frame f;
        ptrdiff_t n = weft__frame_decode(b + at, len - at, &f);
        REQUIRE(n > 0);
        types[nt++] = f.type;
        at += (size_t)n;
    }
    CHECK_EQ_INT(nt, 5);
    CHECK(types[0] == WEFT__F_ACK && types[1] == WEFT__F_MSG && types[2] == WEFT__F_MAX_DATA &&
          types[3] == WEFT__F_PING && types[4] == WEFT__F_PADDING);
}

TEST(random_garbage_never_overreads)
{
    /* Every decode result stays inside the buffer (ASan checks reads). */
    for (int it = 0; it < 200000; it++) {
        size_t len = (size_t)(rnd() % 40);
        uint8_t *p = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++)
            p[i] = (uint8_t)(rnd() % 3 ? rnd() % 8 : rnd());
        weft__frame f;
        ptrdiff_t n = weft__frame_decode(p, len, &f);
        REQUIRE(n == WEFT_ERR_PROTO || (n > 0 && (size_t)n <= len));
        if (n > 0 && f.type == WEFT__F_MSG)
            REQUIRE(f.u.msg.data >= p && f.u.msg.data + f.u.msg.len <= p + len);
        free(p);
    }
}

int main(void)
{
    RUN(vectors);
    RUN(rejections);
    RUN(ack_round_trip);
    RUN(ack_more_ranges_than_max);
    RUN(ack_encoder_rejects_bad_ranges);
    RUN(msg_round_trip);
    RUN(msg_encoder_rejects_bad_args);
    RUN(frame_sequence);
    RUN(random_garbage_never_overreads);
    TEST_MAIN_END();
}
