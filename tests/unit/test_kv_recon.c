/*
 * test_kv_recon.c -- range-based set reconciliation (src/kv/recon.c)
 * between two indexes, without engines: messages go back and forth until
 * a DONE, each side applying what it receives by last-writer-wins.
 *
 *   - random sets with random differences (missing keys on either side,
 *     newer versions on either side) end identical;
 *   - the cost bound: two sides sharing 1,000,000 keys of which 10 differ
 *     (at random places) converge in at most 12 messages and under 32 KiB
 *     in total (what docs/PROTOCOL.md promises); WEFT_RECON_KEYS changes N;
 *   - an empty side receives everything from a full one in bounded steps;
 *   - malformed messages are refused.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "weft/crypto.h"
#include "kv/recon.h"

typedef struct side {
    weft__kv_tree t;
} side;

static const weft_crypto *C;

static weft__kv_ent *mk(const char *key, uint64_t hlc, uint8_t writer)
{
    size_t kl = strlen(key);
    weft__kv_ent *x = calloc(1, sizeof *x + 2 + kl);
    x->data[0] = 1;
    x->data[1] = 't';
    memcpy(x->data + 2, key, kl);
    x->sk_len = (uint16_t)(2 + kl);
    x->hlc = hlc;
    x->writer.key[0] = writer;
    weft__kv_ent_hash(C, x);
    return x;
}

static void put(side *s, weft__kv_ent *x) { free(weft__kv_tree_put(&s->t, x)); }

/* LWW apply of a received entry (no signature: this tests the protocol) */
static void apply(void *ctx, const weft__kv_view *v)
{
    side *s = ctx;
    uint8_t sk[WEFT__KV_SK_MAX];
    size_t n = weft__kv_sk_make(sk, v->ns, v->ns_len, v->key, v->key_len);
    weft__kv_ent *old = weft__kv_tree_get(&s->t, sk, n);
    if (old && weft__kv_version_cmp(v->hlc, v->writer, old->hlc, old->writer.key) <= 0)
        return;
    put(s, weft__kv_ent_from_view(NULL, C, v));
}

static void clear(side *s)
{
    weft__kv_ent *x;
    while ((x = s->t.root) != NULL)
        free(weft__kv_tree_del(&s->t, x->data, x->sk_len));
}

static int same(side *a, side *b)
{
    weft__kv_fp x = weft__kv_tree_range(&a->t, NULL, 0, NULL, 0);
    weft__kv_fp y = weft__kv_tree_range(&b->t, NULL, 0, NULL, 0);
    return x.lo == y.lo && x.hi == y.hi && x.count == y.count;
}

/* Runs a round from a; returns messages exchanged (or -1), bytes in *bytes. */
static int round_(side *a, side *b, size_t *bytes, int max_msgs)
{
    uint8_t *buf[2] = {malloc(WEFT__KV_RECON_OUT_CAP), malloc(WEFT__KV_RECON_OUT_CAP)};
    ptrdiff_t n = weft__kv_recon_start(&a->t, 77, buf[0], WEFT__KV_RECON_OUT_CAP);
    int msgs = 1, cur = 0;
    *bytes = (size_t)n;
    side *sides[2] = {a, b};
    int to = 1;
    while (msgs < max_msgs) {
        weft__kv_recon_env env = {&sides[to]->t, apply, sides[to]};
        ptrdiff_t m = weft__kv_recon_process(&env, buf[cur], (size_t)n, buf[!cur],
                                             WEFT__KV_RECON_OUT_CAP);
        if (m < 0) {
            msgs = -1;
            break;
        }
        msgs++;
        *bytes += (size_t)m;
        if (buf[!cur][0] == WEFT__KV_MSG_DONE)
            break;
        cur = !cur;
        n = m;
        to = !to;
    }
    free(buf[0]);
    free(buf[1]);
    return msgs;
}

static uint64_t lcg = 99;
static uint32_t rnd(uint32_t n)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(lcg >> 33) % n;
}

TEST(random_differences_converge)
{
    for (int trial = 0; trial < 30; trial++) {
        side a = {{NULL, 1}}, b = {{NULL, 2}};
        int n = 50 + (int)rnd(3000);
        for (int i = 0; i < n; i++) {
            char k[32];
            snprintf(k, sizeof k, "key-%06d", (int)rnd(100000));
            uint64_t hlc = 1000 + rnd(50);
            int where = (int)rnd(10);
            if (where != 1)
                put(&a, mk(k, hlc, 1));
            if (where != 2)
                put(&b, mk(k, where == 3 ? hlc + 1 : hlc, where == 4 ? 2 : 1));
        }
        size_t bytes;
        int msgs = round_(&a, &b, &bytes, 200);
        CHECK(msgs > 0);
        CHECK(same(&a, &b));
        /* a second round finds nothing: two messages */
        msgs = round_(&b, &a, &bytes, 200);
        CHECK_EQ_INT(msgs, 2);
        clear(&a);
        clear(&b);
    }
}

TEST(ten_differences_in_a_million_cost_kilobytes)
{
    const char *env = getenv("WEFT_RECON_KEYS");
    int n = env ? atoi(env) : 1000000;
    side a = {{NULL, 1}}, b = {{NULL, 2}};
    for (int i = 0; i < n; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%07d", i);
        put(&a, mk(k, 5000 + (uint64_t)i, 1));
        put(&b, mk(k, 5000 + (uint64_t)i, 1));
    }
    /* 10 differences at random places: 4 keys only a has, 3 only b has
     * (sorting between existing keys), 3 keys newer on b */
    for (int d = 0; d < 10; d++) {
        char k[32];
        int i = (int)rnd((uint32_t)n);
        snprintf(k, sizeof k, d < 7 ? "k%07dx" : "k%07d", i);
        if (d < 4)
            put(&a, mk(k, 9, 1));
        else
            put(&b, mk(k, 9000000 + (uint64_t)d, 3));
    }
    CHECK(!same(&a, &b));
    size_t bytes;
    int msgs = round_(&a, &b, &bytes, 100);
    fprintf(stderr, "  %d keys, 10 differences: %d messages, %zu bytes\n", n, msgs, bytes);
    CHECK(same(&a, &b));
    CHECK(msgs > 0 && msgs <= 12);
    CHECK(bytes < 32 * 1024);
    clear(&a);
    clear(&b);
}

TEST(an_empty_side_gets_everything)
{
    side a = {{NULL, 1}}, b = {{NULL, 2}};
    for (int i = 0; i < 20000; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%07d", i);
        put(&a, mk(k, 1 + (uint64_t)i, 1));
    }
    size_t bytes;
    int msgs = round_(&b, &a, &bytes, 100); /* the empty side asks */
    CHECK(msgs > 0);
    CHECK(same(&a, &b));
    clear(&a);
    clear(&b);
}

TEST(malformed_messages_are_refused)
{
    side a = {{NULL, 1}};
    put(&a, mk("abc", 1, 1));
    uint8_t out[64], *big = malloc(WEFT__KV_RECON_OUT_CAP);
    weft__kv_recon_env env = {&a.t, apply, &a};
    static const uint8_t cases[][16] = {
        {1, 0, 0, 0, 0, 0x09},             /* unknown record */
        {1, 0, 0, 0, 0, 0x01, 1},          /* "previous" bound with none */
        {1, 0, 0, 0, 0, 0x01, 0, 0, 1},    /* truncated fingerprint */
        {2},                               /* short header */
    };
    size_t lens[] = {6, 7, 9, 1};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
        CHECK(weft__kv_recon_process(&env, cases[i], lens[i], big, WEFT__KV_RECON_OUT_CAP) < 0);
    CHECK(weft__kv_recon_start(&a.t, 1, out, 4) == WEFT_ERR_BUFSMALL);
    free(big);
    clear(&a);
}

int main(void)
{
    C = weft_crypto_sodium();
    RUN(random_differences_converge);
    RUN(ten_differences_in_a_million_cost_kilobytes);
    RUN(an_empty_side_gets_everything);
    RUN(malformed_messages_are_refused);
    TEST_MAIN_END();
}
