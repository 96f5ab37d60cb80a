/*
 * test_protocol_vectors.c -- the wire format, pinned.  Two engines with
 * fixed identities, a fixed network key and a counter as their random
 * source perform a handshake and send one message; every packet must equal
 * the bytes printed in docs/PROTOCOL.md §Test vectors.  A change to any
 * layout, label or derivation shows up here first.  Run with --print to
 * regenerate the hex after an intentional format change.
 */
#include <string.h>

#include "weft/crypto.h"
#include "weft/weft.h"
#include "test.h"

static int print_mode;

typedef struct ctr { uint8_t v; } ctr;
static void ctr_rand(void *c, uint8_t *b, size_t n)
{
    ctr *k = c;
    for (size_t i = 0; i < n; i++)
        b[i] = k->v++;
}

static const char *V_HS_INIT =
    "0101202122238f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba"
    "6f3e2138285feb790cc8f9c1a73778742e2d574890aa23b4f2ba2cab862eb5b3"
    "e51a6d96b3ce";
static const char *V_HS_RESP =
    "0201a0a1a2a320212223493e82fc74464a59268817623d2053c5eb8e2cc4a988"
    "b4fee179ec6b010d531d4c27736e79f6581d531477abf4c17b261986c5ea3679"
    "fe6f27ac96085e41d105d62529ea43f99ee63d7b980edcff259b44b39930491c"
    "3886e77261d04fbadf002b35e0f94aea466cb867bc4910db0e842544b58a78a2"
    "02fdbc8cde56fa22f9eb11728a618bbd2e21bc980e157fac19f1f3633dc44551"
    "2337dd9e04bf12d4946f";
static const char *V_HS_FIN =
    "0301a0a1a2a30f5aff09e6b7fc7f1683c8eefd8d5895306ad469be8fd5ae2385"
    "8ffbc233a500a5a676dd39a268d66035fce505aa347f9e814919121133106d01"
    "3c7c5a1e61b6d9c9727131dd71edc4e81837c5ca27eeb49207249b5bfcfcea6d"
    "be372ef0e13cebc91932885b5fa422627561c619337c76d8f0a4c626dfe52245"
    "64884f401829";
static const char *V_DATA =
    "10a0a1a2a30000000000000000db24231bb79956faf27a0999f6e32bfaa78f30"
    "bf24f3c9a786f29b";

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

static int same(const char *name, const uint8_t *p, size_t n, const char *want)
{
    char *h = malloc(2 * n + 1);
    hex(p, n, h);
    int ok = strcmp(h, want) == 0;
    if (print_mode)
        printf("%s (%zu bytes):\n%s\n", name, n, h);
    else if (!ok)
        fprintf(stderr, "%s differs:\n got  %s\n want %s\n", name, h, want);
    free(h);
    return ok || print_mode;
}

TEST(handshake_and_data_packets_match_the_spec)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft_engine *e[2];
    ctr rnd[2] = {{0x00}, {0x80}};
    weft_addr addr[2];
    for (int i = 0; i < 2; i++) {
        weft_config cfg;
        weft_config_default(&cfg);
        uint8_t seed[32], pk[32];
        memset(seed, i ? 0xbb : 0xaa, 32);
        c->sign_keypair_seed(c->ctx, pk, cfg.identity_secret, seed);
        memset(cfg.network_key, 0x11, 32);
        cfg.mtu_max = cfg.mtu_initial; /* no PMTU probe in the vectors */
        cfg.membership = 0;            /* session packets only */
        weft_env env = {NULL, c, {&rnd[i], ctr_rand}};
        REQUIRE(weft_engine_new(&e[i], &cfg, &env, 1000) == 0);
        weft_addr_parse(&addr[i], i ? "127.0.0.2:7946" : "127.0.0.1:7946");
    }
    uint8_t buf[65536];
    weft_addr to;
    ptrdiff_t n;
    uint64_t t = 1000;

    REQUIRE(weft_engine_connect(e[0], &addr[1], t) == 0);
    n = weft_engine_write(e[0], &to, buf, sizeof buf, t);
    REQUIRE(n > 0);
    CHECK(same("HS_INIT", buf, (size_t)n, V_HS_INIT));
    REQUIRE(weft_engine_recv(e[1], &addr[0], buf, (size_t)n, t) == 0);

    n = weft_engine_write(e[1], &to, buf, sizeof buf, t);
    REQUIRE(n > 0);
    CHECK(same("HS_RESP", buf, (size_t)n, V_HS_RESP));
    REQUIRE(weft_engine_recv(e[0], &addr[1], buf, (size_t)n, t + 100) == 0);

    n = weft_engine_write(e[0], &to, buf, sizeof buf, t + 100);
    REQUIRE(n > 0);
    CHECK(same("HS_FIN", buf, (size_t)n, V_HS_FIN));
    REQUIRE(weft_engine_recv(e[1], &addr[0], buf, (size_t)n, t + 100) == 0);

    REQUIRE(weft_engine_send(e[0], weft_engine_id(e[1]), "hello", 5,
                             WEFT_PRIO_NORMAL | WEFT_SEND_ORDERED, t + 100) == 0);
    n = weft_engine_write(e[0], &to, buf, sizeof buf, t + 100);
    REQUIRE(n > 0);
    CHECK(same("DATA", buf, (size_t)n, V_DATA));
    REQUIRE(weft_engine_recv(e[1], &addr[0], buf, (size_t)n, t + 200) == 0);
    weft_event ev;
    int got = 0;
    while (weft_engine_poll(e[1], &ev))
        if (ev.type == WEFT_EV_MESSAGE && ev.len == 5 && memcmp(ev.data, "hello", 5) == 0)
            got = 1;
    CHECK(got);
    weft_engine_del(e[0]);
    weft_engine_del(e[1]);
}

int main(int argc, char **argv)
{
    print_mode = argc > 1 && strcmp(argv[1], "--print") == 0;
    RUN(handshake_and_data_packets_match_the_spec);
    TEST_MAIN_END();
}
