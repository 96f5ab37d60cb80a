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
    "010220212223f7161ac20bf80c387f05ca17363bfb96146d62e53b7786773b6b"
    "32b93ccf5e09c2aaabb09dce0631d3e0c86ad4a0df5900000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000053fdc010b9064ade17b2d72f816ee60c"
    "00000000000000000000000000000000";
static const char *V_HS_RESP =
    "0202a0a1a2a32021222320f999985e197e2df77c0b21c4348620937d4bcf649e"
    "a2d2b4bcaff560ed574de1be19b71ab452f9fa0812f1397e6da0dd8debb001e6"
    "20bb7c521b70b14d5e8da417da1458e1bdc3186dab65e430ca567180d2b10fb4"
    "b9d371b39f040e84591ff8a1d96f050be9add058ff4399b57af4d7476359c9c1"
    "a69ac8a16046897addcef82be7ae02ab65889b680d0b47c9e7243a001861231f"
    "219187b7141992d44efd";
static const char *V_HS_FIN =
    "0302a0a1a2a37514130aa0aeda2f9cebac9ef4a2f42f83da0b1624296bbb68f4"
    "641941ff21f880c032e4f983653124c94ec284cfe3667ccf2c327e35b451b8ea"
    "7569aef5f5fd32242b666c15ce9d86febee4b33ad9f919cb3360a6bf494052e7"
    "7d9531892ea3a98042d80a3fc10aade68ceed51caf7d4de9cb2ec293d9364e91"
    "7058f27d3fb3";
static const char *V_DATA =
    "10a0a1a2a30000000000000000dde2e97fa0d9d4420ed39dce803806902fa066"
    "1a49b8c1668c6db277f7";

static const char *V_COOKIE =
    "040260616263c4c5c6c7c8c9cacbcccdcecfd0d1d2d3115b5d40aa542da781ff"
    "d1e4df1c578458ee3db7a9a76844bcb6e7dd2384c2b8";
static const char *V_HS_INIT_MAC2 =
    "0102606162637d9c24316539825c1896e57f28197746793ce60cbee3ad47da9d"
    "07b85fa55e2a9722a40a59df0b254af199761cd93dba00000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000316bfd260353cd767ac2afb0513462f0"
    "9ac886786b27ba8c4f93fbf814a2f296";

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
    weft_engine *e[3];
    ctr rnd[3] = {{0x00}, {0x80}, {0x40}};
    weft_addr addr[3];
    for (int i = 0; i < 3; i++) {
        weft_config cfg;
        weft_config_default(&cfg);
        uint8_t seed[32], pk[32];
        memset(seed, i == 0 ? 0xaa : i == 1 ? 0xbb : 0xcc, 32);
        c->sign_keypair_seed(c->ctx, pk, cfg.identity_secret, seed);
        memset(cfg.network_key, 0x11, 32);
        cfg.mtu_max = cfg.mtu_initial; /* no PMTU probe in the vectors */
        cfg.handshake_rate_per_s = 1;  /* one handshake leaves 1 under load */
        weft_env env = {NULL, c, {&rnd[i], ctr_rand}, NULL, NULL};
        REQUIRE(weft_engine_new(&e[i], &cfg, &env, 1000) == 0);
        weft_addr_parse(&addr[i], i == 0 ? "127.0.0.1:7946" : i == 1 ? "127.0.0.2:7946"
                                                                 : "127.0.0.3:7946");
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

    REQUIRE(weft_engine_send(e[0], weft_engine_id(e[1]), WEFT_CHANNEL_APP, "hello", 5,
                             WEFT_PRIO_NORMAL | WEFT_SEND_ORDERED, t + 100) == 1);
    n = weft_engine_write(e[0], &to, buf, sizeof buf, t + 100);
    REQUIRE(n > 0);
    CHECK(same("DATA", buf, (size_t)n, V_DATA));
    REQUIRE(weft_engine_recv(e[1], &addr[0], buf, (size_t)n, t + 200) == 0);
    weft_event ev;
    int got = 0;
    while (weft_engine_poll(e[1], &ev))
        if (ev.type == WEFT_EV_MESSAGE && ev.u.message.len == 5 &&
            ev.u.message.channel == WEFT_CHANNEL_APP &&
            memcmp(ev.u.message.data, "hello", 5) == 0)
            got = 1;
    CHECK(got);

    /* A third node dials node 1, which spent its budget: a COOKIE, then
     * HS_INIT again with mac2, accepted a second later. */
    t += 300;
    REQUIRE(weft_engine_connect(e[2], &addr[1], t) == 0);
    n = weft_engine_write(e[2], &to, buf, sizeof buf, t);
    REQUIRE(n > 0);
    CHECK(weft_engine_recv(e[1], &addr[2], buf, (size_t)n, t) == WEFT_ERR_COOKIE);
    n = weft_engine_write(e[1], &to, buf, sizeof buf, t);
    REQUIRE(n > 0);
    CHECK(weft_addr_eq(&to, &addr[2]));
    CHECK(same("COOKIE", buf, (size_t)n, V_COOKIE));
    REQUIRE(weft_engine_recv(e[2], &addr[1], buf, (size_t)n, t + 100) == 0);
    n = weft_engine_write(e[2], &to, buf, sizeof buf, t + 100);
    REQUIRE(n > 0);
    CHECK(same("HS_INIT_MAC2", buf, (size_t)n, V_HS_INIT_MAC2));
    CHECK(weft_engine_recv(e[1], &addr[2], buf, (size_t)n, t + 1000000) == 0);
    weft_engine_del(e[0]);
    weft_engine_del(e[1]);
    weft_engine_del(e[2]);
}

int main(int argc, char **argv)
{
    print_mode = argc > 1 && strcmp(argv[1], "--print") == 0;
    RUN(handshake_and_data_packets_match_the_spec);
    TEST_MAIN_END();
}
