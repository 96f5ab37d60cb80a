/*
 * test_util.c -- src/base/util.c: the error table, node ids, addresses.
 * What users rely on: every code has its own name and description;
 * addresses print in the text form they parse back from (RFC 5952 for
 * IPv6), anything else is refused with WEFT_ERR_INVAL rather than wrapped
 * or guessed; ids round-trip through hex.
 */
#include <string.h>

#include "test.h"
#include "weft/weft.h"

static const int codes[] = {
#define X(name, val, desc) val,
    WEFT_ERROR_MAP(X)
#undef X
};

TEST(every_error_code_has_its_own_name_and_description)
{
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(codes[i] < 0);
        CHECK(strcmp(weft_strerror(codes[i]), "unknown error") != 0);
        CHECK(strncmp(weft_err_name(codes[i]), "WEFT_ERR_", 9) == 0);
        CHECK(strcmp(weft_err_name(codes[i]), "WEFT_ERR_UNKNOWN") != 0);
        for (size_t j = 0; j < i; j++) {
            CHECK(codes[i] != codes[j]);
            CHECK(strcmp(weft_err_name(codes[i]), weft_err_name(codes[j])) != 0);
        }
    }
    CHECK(strcmp(weft_strerror(0), "success") == 0);
    CHECK(strcmp(weft_err_name(0), "OK") == 0);
    CHECK(strcmp(weft_strerror(-99), "unknown error") == 0);
    CHECK(strcmp(weft_err_name(12345), "WEFT_ERR_UNKNOWN") == 0);
}

TEST(addresses_print_as_they_parse)
{
    static const char *const ok[] = {
        "127.0.0.1:7000",       "0.0.0.0:0",          "255.255.255.255:65535",
        "[::1]:7000",           "[::]:1",             "[fe80::1:2]:9",
        "[2001:db8::8:800:200c:417a]:443",            "[1:2:3:4:5:6:7:8]:80",
        "[1::8]:80",            "[1:0:0:4::8]:80",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        weft_addr a;
        char out[WEFT_ADDR_STRLEN];
        CHECK(weft_addr_parse(&a, ok[i]) == 0);
        CHECK(weft_addr_format(&a, out, sizeof out) == (int)strlen(ok[i]));
        if (strcmp(out, ok[i]) != 0)
            fprintf(stderr, "  %s printed as %s\n", ok[i], out);
        CHECK(strcmp(out, ok[i]) == 0);
    }
    /* RFC 5952: the longest zero run is the one shortened, lower case */
    weft_addr a;
    char out[WEFT_ADDR_STRLEN];
    REQUIRE(weft_addr_parse(&a, "[1:0:0:2:0:0:0:3]:5") == 0);
    weft_addr_format(&a, out, sizeof out);
    CHECK(strcmp(out, "[1:0:0:2::3]:5") == 0);
    REQUIRE(weft_addr_parse(&a, "[ABCD::EF]:5") == 0);
    weft_addr_format(&a, out, sizeof out);
    CHECK(strcmp(out, "[abcd::ef]:5") == 0);
    /* RFC 5952 §4.2.2: "::" never stands for a single zero group */
    REQUIRE(weft_addr_parse(&a, "[::2:3:4:5:6:7:8]:1") == 0);
    weft_addr_format(&a, out, sizeof out);
    CHECK(strcmp(out, "[0:2:3:4:5:6:7:8]:1") == 0);
    REQUIRE(weft_addr_parse(&a, "[1:2:3:4:5:6:7::]:1") == 0);
    weft_addr_format(&a, out, sizeof out);
    CHECK(strcmp(out, "[1:2:3:4:5:6:7:0]:1") == 0);
    /* no family prints as "-"; a buffer too small is cut, still a string */
    weft_addr none;
    memset(&none, 0, sizeof none);
    CHECK(weft_addr_format(&none, out, sizeof out) == 1 && strcmp(out, "-") == 0);
    REQUIRE(weft_addr_parse(&a, "127.0.0.1:7000") == 0);
    char small[6];
    weft_addr_format(&a, small, sizeof small);
    CHECK(strlen(small) < sizeof small);
    CHECK(weft_addr_format(&a, small, 1) == WEFT_ERR_INVAL);
    CHECK(weft_addr_format(NULL, out, sizeof out) == WEFT_ERR_INVAL);
}

TEST(malformed_addresses_are_refused)
{
    static const char *const bad[] = {
        "",              "127.0.0.1",        "127.0.0.1:",      "127.0.0.1:65536",
        "127.0.0.1:-1",  "127.0.0.1:7a",     "127.0.0:1",       "127.0.0.0.1:1",
        "256.0.0.1:1",   "1..2.3:1",         "1.2.3.4.:1",      "1234.0.0.1:1",
        "a.b.c.d:1",     "[::1]",            "[::1]7000",       "::1:7000",
        "[::1:7000",     "[1:2:3:4:5:6:7:8:9]:1", "[1::2::3]:1", "[12345::1]:1",
        "[1:2:3:4:5:6:7]:1", "[:1]:1",       "[1:]:1",          "[g::1]:1",
        "[1:2:3:4:5:6:7:8::]:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        weft_addr a;
        int rc = weft_addr_parse(&a, bad[i]);
        if (rc != WEFT_ERR_INVAL)
            fprintf(stderr, "  accepted: \"%s\"\n", bad[i]);
        CHECK_EQ_INT(rc, WEFT_ERR_INVAL);
    }
    weft_addr a;
    CHECK(weft_addr_parse(NULL, "1.2.3.4:5") == WEFT_ERR_INVAL);
    CHECK(weft_addr_parse(&a, NULL) == WEFT_ERR_INVAL);
}

TEST(address_equality_and_loopback)
{
    weft_addr a, b;
    REQUIRE(weft_addr_parse(&a, "127.0.0.1:1") == 0);
    REQUIRE(weft_addr_parse(&b, "127.0.0.1:1") == 0);
    CHECK(weft_addr_eq(&a, &b));
    b.port = 2;
    CHECK(!weft_addr_eq(&a, &b));
    REQUIRE(weft_addr_parse(&b, "127.0.0.2:1") == 0);
    CHECK(!weft_addr_eq(&a, &b));
    CHECK(weft_addr_is_loopback(&a) && weft_addr_is_loopback(&b));
    REQUIRE(weft_addr_parse(&b, "[::1]:1") == 0);
    CHECK(!weft_addr_eq(&a, &b));
    CHECK(weft_addr_is_loopback(&b));
    weft_addr c = b;
    CHECK(weft_addr_eq(&b, &c));
    c.scope = 3; /* a link-local scope is part of the address */
    CHECK(!weft_addr_eq(&b, &c));
    REQUIRE(weft_addr_parse(&b, "[::2]:1") == 0);
    CHECK(!weft_addr_is_loopback(&b));
    REQUIRE(weft_addr_parse(&b, "10.0.0.1:1") == 0);
    CHECK(!weft_addr_is_loopback(&b));
    memset(&c, 0, sizeof c);
    CHECK(!weft_addr_is_loopback(&c));
}

TEST(ids_round_trip_through_hex)
{
    weft_node_id id, back;
    for (int i = 0; i < 32; i++)
        id.key[i] = (uint8_t)(i * 37 + 5);
    char hex[WEFT_ID_HEX_LEN], sh[WEFT_ID_SHORT_LEN];
    weft_id_hex(&id, hex);
    weft_id_short(&id, sh);
    CHECK(strlen(hex) == 64 && strlen(sh) == 16);
    CHECK(strncmp(hex, sh, 16) == 0);
    CHECK(weft_id_parse(&back, hex) == 0);
    CHECK(memcmp(back.key, id.key, 32) == 0);
    /* upper case too */
    for (char *p = hex; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    CHECK(weft_id_parse(&back, hex) == 0);
    CHECK(memcmp(back.key, id.key, 32) == 0);
    /* wrong length or a non-hex digit */
    CHECK(weft_id_parse(&back, sh) < 0);
    hex[10] = 'g';
    CHECK(weft_id_parse(&back, hex) < 0);
    hex[10] = '0';
    hex[63] = 0;
    CHECK(weft_id_parse(&back, hex) < 0);
}

int main(void)
{
    RUN(every_error_code_has_its_own_name_and_description);
    RUN(addresses_print_as_they_parse);
    RUN(malformed_addresses_are_refused);
    RUN(address_equality_and_loopback);
    RUN(ids_round_trip_through_hex);
    TEST_MAIN_END();
}
