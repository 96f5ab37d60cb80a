/*
 * test_gossip_queue.c -- the dissemination queue (src/gossip/queue.c):
 * invalidation by key, the retransmission limit, the order (class, then
 * fewest transmissions, then turns), packing into a byte budget, encode
 * callbacks (and obsolete items), the cap and what it evicts, byte and
 * numeric keys, heap payloads, allocation failure, and a randomised run
 * against a straightforward model of the same contract.
 */
#include "gossip/queue.h"
#include "test.h"

static weft__gossip_queue *mk(uint32_t cap, uint32_t mult)
{
    weft__gossip_config c = {.cap = cap, .retransmit_mult = mult, .hash_salt = 42};
    weft__gossip_queue *q = NULL;
    if (weft__gossip_queue_new(&q, &c, NULL) != 0)
        return NULL;
    return q;
}

/* A verbatim item whose payload is "<tag>" (one byte) under byte key k. */
static int put1(weft__gossip_queue *q, const char *k, uint8_t tag, unsigned cls)
{
    weft__gossip_item it = {.key = (const uint8_t *)k, .key_len = strlen(k),
                            .payload = &tag, .payload_len = 1, .cls = cls};
    return weft__gossip_put(q, &it);
}

/* Fills a packet of `room` bytes; returns the tags as a string. */
static const char *fill(weft__gossip_queue *q, size_t room, uint32_t n)
{
    static char out[512];
    uint8_t buf[512];
    size_t w = weft__gossip_fill(q, buf, room, n);
    memcpy(out, buf, w);
    out[w] = 0;
    return out;
}

TEST(newer_item_invalidates_older)
{
    weft__gossip_queue *q = mk(8, 1);
    REQUIRE(q);
    REQUIRE(put1(q, "alice", 'a', 0) == 0);
    REQUIRE(put1(q, "bob", 'b', 0) == 0);
    REQUIRE(put1(q, "alice", 'A', 0) == 0);
    CHECK_EQ_INT(weft__gossip_count(q), 2);
    /* the old alice is never sent; the new one goes after bob (it came later) */
    CHECK(strcmp(fill(q, 100, 5), "bA") == 0);
    weft__gossip_stats st;
    weft__gossip_stats_get(q, &st);
    CHECK_EQ_INT(st.replaced, 1);
    CHECK_EQ_INT(st.puts, 3);
    weft__gossip_queue_del(q);
}

TEST(retransmit_limit_follows_log10_n)
{
    CHECK_EQ_INT(weft__gossip_limit(4, 0), 4);
    CHECK_EQ_INT(weft__gossip_limit(4, 1), 4);
    CHECK_EQ_INT(weft__gossip_limit(4, 9), 4);
    CHECK_EQ_INT(weft__gossip_limit(4, 10), 8);   /* ceil(log10(11)) = 2 */
    CHECK_EQ_INT(weft__gossip_limit(4, 99), 8);
    CHECK_EQ_INT(weft__gossip_limit(4, 100), 12);
    CHECK_EQ_INT(weft__gossip_limit(4, 4096), 16);
    CHECK_EQ_INT(weft__gossip_limit(100, 1000000), WEFT__GOSSIP_TRANSMITS_MAX);
    weft__gossip_queue *q = mk(8, 3);
    REQUIRE(q);
    REQUIRE(put1(q, "x", 'x', 0) == 0);
    int sent = 0;
    for (int i = 0; i < 10; i++)
        sent += (int)strlen(fill(q, 100, 50)); /* N = 50: limit 3 * 2 */
    CHECK_EQ_INT(sent, 6);
    CHECK_EQ_INT(weft__gossip_count(q), 0);
    weft__gossip_stats st;
    weft__gossip_stats_get(q, &st);
    CHECK_EQ_INT(st.done, 1);
    CHECK_EQ_INT(st.transmissions, 6);
    weft__gossip_queue_del(q);
}

TEST(order_class_then_fewest_then_turns)
{
    weft__gossip_queue *q = mk(16, 10);
    REQUIRE(q);
    REQUIRE(put1(q, "a", 'a', 0) == 0);
    REQUIRE(put1(q, "b", 'b', 0) == 0);
    REQUIRE(put1(q, "c", 'c', 0) == 0);
    REQUIRE(put1(q, "d", 'd', 0) == 0);
    /* two fit: a, b; then c, d (fewer sends); then a, b again (their turn) */
    CHECK(strcmp(fill(q, 2, 5), "ab") == 0);
    CHECK(strcmp(fill(q, 2, 5), "cd") == 0);
    CHECK(strcmp(fill(q, 2, 5), "ab") == 0);
    /* fresh news first, urgent news before everything */
    REQUIRE(put1(q, "e", 'e', 0) == 0);
    REQUIRE(put1(q, "U", 'U', 2) == 0);
    REQUIRE(put1(q, "u", 'u', 1) == 0);
    CHECK(strcmp(fill(q, 4, 5), "Uuec") == 0);
    /* an urgent item stays ahead while it has sends left */
    CHECK(strcmp(fill(q, 3, 5), "Uud") == 0);
    weft__gossip_queue_del(q);
}

TEST(fill_packs_until_an_item_does_not_fit)
{
    weft__gossip_queue *q = mk(16, 10);
    REQUIRE(q);
    uint8_t big[300];
    memset(big, 'B', sizeof big);
    weft__gossip_item it = {.key_u64 = 7, .payload = big, .payload_len = sizeof big};
    REQUIRE(put1(q, "a", 'a', 0) == 0);
    REQUIRE(weft__gossip_put(q, &it) == 0);
    REQUIRE(put1(q, "c", 'c', 0) == 0);
    /* room for a and c but not the big one between them: stop at it */
    CHECK(strcmp(fill(q, 100, 5), "a") == 0);
    uint8_t buf[512];
    CHECK_EQ_INT(weft__gossip_fill(q, buf, sizeof buf, 5), 300 + 1 + 1);
    CHECK(buf[0] == 'B' && buf[299] == 'B' && buf[300] == 'c' && buf[301] == 'a');
    weft__gossip_queue_del(q);
}

/* An encode callback: writes "<key bytes>=<payload>" and drops items
 * whose payload is "gone". */
static int encodes;
static ptrdiff_t enc(void *ctx, const weft__gossip_view *v, uint8_t *buf, size_t room)
{
    CHECK(ctx == (void *)&encodes);
    encodes++;
    if (v->payload_len == 4 && memcmp(v->payload, "gone", 4) == 0)
        return WEFT__GOSSIP_OBSOLETE;
    size_t kl = v->key ? v->key_len : 1;
    size_t need = kl + 1 + v->payload_len;
    if (need > room)
        return 0;
    if (v->key)
        memcpy(buf, v->key, kl);
    else
        buf[0] = (uint8_t)('0' + v->key_u64);
    buf[kl] = '=';
    memcpy(buf + kl + 1, v->payload, v->payload_len);
    return (ptrdiff_t)need;
}

TEST(encode_callback_and_obsolete_items)
{
    weft__gossip_config c = {.cap = 8, .retransmit_mult = 2, .hash_salt = 1, .ctx = &encodes};
    weft__gossip_queue *q = NULL;
    REQUIRE(weft__gossip_queue_new(&q, &c, NULL) == 0);
    weft__gossip_item a = {.key = (const uint8_t *)"k", .key_len = 1,
                           .payload = (const uint8_t *)"v1", .payload_len = 2, .encode = enc};
    weft__gossip_item g = {.key_u64 = 5, .payload = (const uint8_t *)"gone",
                           .payload_len = 4, .encode = enc};
    weft__gossip_item n = {.key_u64 = 3, .payload = (const uint8_t *)"x",
                           .payload_len = 1, .encode = enc};
    REQUIRE(weft__gossip_put(q, &a) == 0);
    REQUIRE(weft__gossip_put(q, &g) == 0);
    REQUIRE(weft__gossip_put(q, &n) == 0);
    CHECK(strcmp(fill(q, 100, 1), "k=v13=x") == 0);
    weft__gossip_stats st;
    weft__gossip_stats_get(q, &st);
    CHECK_EQ_INT(st.obsolete, 1);
    CHECK_EQ_INT(weft__gossip_count(q), 2);
    /* numeric and byte keys are separate namespaces: key "\x03\0..." as
     * bytes is another item than the number 3 */
    uint8_t k3[8] = {3};
    weft__gossip_item b3 = {.key = k3, .key_len = 8, .payload = (const uint8_t *)"y",
                            .payload_len = 1, .encode = enc};
    REQUIRE(weft__gossip_put(q, &b3) == 0);
    CHECK_EQ_INT(weft__gossip_count(q), 3);
    /* an item that does not fit (b3, 10 bytes, first: fewest sends) stops
     * the fill and is not charged a transmission */
    CHECK(strcmp(fill(q, 3, 1), "") == 0);
    uint8_t buf[64];
    static const uint8_t want[] = "\x03\0\0\0\0\0\0\0=yk=v13=x";
    CHECK_EQ_INT(weft__gossip_fill(q, buf, sizeof buf, 1), sizeof want - 1);
    CHECK(memcmp(buf, want, sizeof want - 1) == 0);
    CHECK_EQ_INT(weft__gossip_count(q), 1); /* k and 3 had their two sends */
    weft__gossip_queue_del(q);
}

TEST(cap_evicts_least_valuable_and_counts)
{
    weft__gossip_queue *q = mk(3, 10);
    REQUIRE(q);
    REQUIRE(put1(q, "a", 'a', 0) == 0);
    REQUIRE(put1(q, "b", 'b', 0) == 0);
    REQUIRE(put1(q, "u", 'u', 1) == 0);
    CHECK(strcmp(fill(q, 1, 5), "u") == 0);
    CHECK(strcmp(fill(q, 1, 5), "u") == 0);
    CHECK(strcmp(fill(q, 1, 5), "u") == 0);
    CHECK(strcmp(fill(q, 1, 5), "u") == 0);
    CHECK(strcmp(fill(q, 2, 5), "ua") == 0); /* a: 1 send, b: 0 */
    /* full: a new routine item evicts the most-sent routine one (a), never
     * the urgent one */
    REQUIRE(put1(q, "c", 'c', 0) == 0);
    CHECK(strcmp(fill(q, 10, 5), "ubc") == 0);
    weft__gossip_stats st;
    weft__gossip_stats_get(q, &st);
    CHECK_EQ_INT(st.drops, 1);
    /* full of urgent items: a routine one is refused (and counted) */
    weft__gossip_queue *u = mk(2, 10);
    REQUIRE(u);
    REQUIRE(put1(u, "x", 'x', 2) == 0);
    REQUIRE(put1(u, "y", 'y', 1) == 0);
    CHECK(put1(u, "r", 'r', 0) == WEFT_ERR_LIMIT);
    REQUIRE(put1(u, "z", 'z', 1) == 0); /* same class: evicts y */
    CHECK(strcmp(fill(u, 10, 5), "xz") == 0);
    weft__gossip_stats_get(u, &st);
    CHECK_EQ_INT(st.drops, 2);
    /* replacing a queued key never evicts */
    REQUIRE(put1(u, "x", 'X', 2) == 0);
    weft__gossip_stats_get(u, &st);
    CHECK_EQ_INT(st.drops, 2);
    CHECK_EQ_INT(weft__gossip_count(u), 2);
    weft__gossip_queue_del(u);
    weft__gossip_queue_del(q);
}

TEST(bad_arguments)
{
    weft__gossip_queue *q = NULL;
    weft__gossip_config c = {.cap = 0, .retransmit_mult = 1};
    CHECK(weft__gossip_queue_new(&q, &c, NULL) == WEFT_ERR_INVAL);
    c.cap = 4;
    c.retransmit_mult = 0;
    CHECK(weft__gossip_queue_new(&q, &c, NULL) == WEFT_ERR_INVAL);
    q = mk(4, 1);
    REQUIRE(q);
    uint8_t k[40] = {1};
    weft__gossip_item it = {.key = k, .key_len = 0, .payload = k, .payload_len = 1};
    CHECK(weft__gossip_put(q, &it) == WEFT_ERR_INVAL);
    it.key_len = 33;
    CHECK(weft__gossip_put(q, &it) == WEFT_ERR_INVAL);
    it.key_len = 32;
    it.cls = WEFT__GOSSIP_CLASSES;
    CHECK(weft__gossip_put(q, &it) == WEFT_ERR_INVAL);
    it.cls = 0;
    it.payload_len = 0; /* nothing to send verbatim */
    CHECK(weft__gossip_put(q, &it) == WEFT_ERR_INVAL);
    it.payload_len = WEFT__GOSSIP_PAYLOAD_MAX + 1;
    CHECK(weft__gossip_put(q, &it) == WEFT_ERR_TOO_BIG);
    CHECK_EQ_INT(weft__gossip_count(q), 0);
    weft__gossip_queue_del(q);
}

/* An allocator failing every allocation after `left` more. */
static int alloc_left;
static void *f_alloc(void *ctx, size_t n)
{
    (void)ctx;
    return alloc_left-- > 0 ? malloc(n) : NULL;
}
static void *f_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    return alloc_left-- > 0 ? realloc(p, n) : NULL;
}
static void f_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}
static const weft_allocator failing = {NULL, f_alloc, f_realloc, f_free};

TEST(heap_payloads_and_allocation_failure)
{
    weft__gossip_config c = {.cap = 4, .retransmit_mult = 1, .hash_salt = 3};
    weft__gossip_queue *q = NULL;
    for (int n = 0; n < 3; n++) { /* every allocation of new fails in turn */
        alloc_left = n;
        CHECK(weft__gossip_queue_new(&q, &c, &failing) == WEFT_ERR_NOMEM);
    }
    alloc_left = 3;
    REQUIRE(weft__gossip_queue_new(&q, &c, &failing) == 0);
    uint8_t big[200];
    memset(big, 'h', sizeof big);
    weft__gossip_item it = {.key = (const uint8_t *)"big", .key_len = 3,
                            .payload = big, .payload_len = sizeof big};
    CHECK(weft__gossip_put(q, &it) == WEFT_ERR_NOMEM); /* nothing changed */
    CHECK_EQ_INT(weft__gossip_count(q), 0);
    CHECK(put1(q, "big", 's', 0) == 0); /* inline: no allocation */
    alloc_left = 2;
    REQUIRE(weft__gossip_put(q, &it) == 0); /* replaces, on the heap */
    big[0] = 'H';
    REQUIRE(weft__gossip_put(q, &it) == 0); /* replaces the heap copy */
    uint8_t buf[300];
    CHECK_EQ_INT(weft__gossip_fill(q, buf, sizeof buf, 1), 200);
    CHECK(buf[0] == 'H' && buf[199] == 'h');
    CHECK_EQ_INT(weft__gossip_count(q), 0);
    alloc_left = 1;
    REQUIRE(weft__gossip_put(q, &it) == 0);
    weft__gossip_queue_del(q); /* frees the queued heap payload (ASan) */
    CHECK(weft__gossip_queue_sizeof(2048) < 2048 * 120);
    fprintf(stderr, "  queue of 2048: %zu bytes\n", weft__gossip_queue_sizeof(2048));
}

/* ---- the model: a list kept in the contract's order ----------------------- */

typedef struct mitem {
    int key;
    unsigned cls, transmits;
    uint64_t turn;           /* when it entered its (class, count) */
    uint8_t tag;
} mitem;

typedef struct model {
    mitem it[64];
    int n;
    uint64_t clock;
} model;

static int m_before(const mitem *a, const mitem *b)
{
    if (a->cls != b->cls)
        return a->cls > b->cls;
    if (a->transmits != b->transmits)
        return a->transmits < b->transmits;
    return a->turn < b->turn;
}

static void m_sort(model *m)
{
    for (int i = 1; i < m->n; i++)
        for (int j = i; j > 0 && m_before(&m->it[j], &m->it[j - 1]); j--) {
            mitem t = m->it[j];
            m->it[j] = m->it[j - 1];
            m->it[j - 1] = t;
        }
}

static void m_put(model *m, int cap, int key, unsigned cls, uint8_t tag)
{
    for (int i = 0; i < m->n; i++)
        if (m->it[i].key == key) {
            m->it[i] = (mitem){key, cls, 0, m->clock++, tag};
            return;
        }
    if (m->n == cap) {
        m_sort(m);
        /* least valuable: lowest class, most sent, earliest turn */
        int v = m->n - 1;
        for (int i = m->n - 1; i >= 0; i--) {
            const mitem *a = &m->it[i], *b = &m->it[v];
            if (a->cls < b->cls || (a->cls == b->cls && (a->transmits > b->transmits ||
                                                         (a->transmits == b->transmits &&
                                                          a->turn < b->turn))))
                v = i;
        }
        if (cls < m->it[v].cls)
            return;
        m->it[v] = m->it[--m->n];
    }
    m->it[m->n++] = (mitem){key, cls, 0, m->clock++, tag};
}

static size_t m_fill(model *m, uint8_t *out, size_t room, uint32_t limit)
{
    m_sort(m);
    size_t used = 0;
    int i = 0;
    while (i < m->n && used < room) {
        out[used++] = m->it[i].tag;
        if (++m->it[i].transmits >= limit) {
            for (int j = i; j + 1 < m->n; j++)
                m->it[j] = m->it[j + 1];
            m->n--;
            continue;
        }
        m->it[i].turn = m->clock++;
        i++;
    }
    return used;
}

TEST(randomised_against_model)
{
    uint64_t rs = 12345;
    for (int round = 0; round < 200; round++) {
        int cap = 1 + (int)(rs % 40);
        uint32_t mult = 1 + (uint32_t)(rs / 7 % 4);
        weft__gossip_queue *q = mk((uint32_t)cap, mult);
        REQUIRE(q);
        model m = {.n = 0};
        for (int step = 0; step < 400; step++) {
            rs = rs * 6364136223846793005ULL + 1442695040888963407ULL;
            uint32_t r = (uint32_t)(rs >> 33);
            if (r % 3) {
                int key = (int)(r / 3 % 48);
                unsigned cls = r / 200 % 7 < 5 ? 0 : r / 200 % 7 - 4; /* mostly 0 */
                uint8_t tag = (uint8_t)(32 + r / 1400 % 90);
                uint8_t kb[2] = {(uint8_t)key, 0xee}; /* odd keys: two bytes */
                weft__gossip_item it = {.key = kb, .key_len = 1 + (size_t)(key & 1),
                                        .payload = &tag, .payload_len = 1, .cls = cls};
                int rc = weft__gossip_put(q, &it);
                CHECK(rc == 0 || rc == WEFT_ERR_LIMIT);
                m_put(&m, cap, key, cls, tag);
            } else {
                uint8_t a[64], b[64];
                size_t room = r / 3 % 9;
                uint32_t n = r / 27 % 300;
                size_t wa = weft__gossip_fill(q, a, room, n);
                size_t wb = m_fill(&m, b, room, weft__gossip_limit(mult, n));
                CHECK_EQ_INT(wa, wb);
                if (wa != wb || memcmp(a, b, wa) != 0) {
                    fprintf(stderr, "  diverged at round %d step %d\n", round, step);
                    t_cur_failed_ = 1;
                    break;
                }
            }
            CHECK_EQ_INT(weft__gossip_count(q), m.n);
        }
        weft__gossip_queue_del(q);
        if (t_cur_failed_)
            break;
    }
}

int main(void)
{
    RUN(newer_item_invalidates_older);
    RUN(retransmit_limit_follows_log10_n);
    RUN(order_class_then_fewest_then_turns);
    RUN(fill_packs_until_an_item_does_not_fit);
    RUN(encode_callback_and_obsolete_items);
    RUN(cap_evicts_least_valuable_and_counts);
    RUN(bad_arguments);
    RUN(heap_payloads_and_allocation_failure);
    RUN(randomised_against_model);
    TEST_MAIN_END();
}
