/*
 * test_kv_module.c -- the replicated store as a module (src/kv/module.c)
 * on three engines with membership (tests/enginenet.h), each with an
 * in-memory store: local reads and writes, pushes, anti-entropy alone
 * (pushes off), last-writer-wins under concurrent writes, watches (exactly
 * once, including changes that came by anti-entropy), node state and
 * forged writes, limits, far-future stamps, rate limits, restart from the
 * store, tombstone collection.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "enginenet.h"
#include "weft/kv.h"
#include "weft/sim.h"
#include "kv/entry.h"
#include "kv/recon.h"

static net W;
static weft_store *ST[NET_MAX];
static int64_t skew_ms[NET_MAX];
static const uint64_t WALL0 = 1700000000000ULL;

static uint64_t wall_of(void *ctx)
{
    int i = (int)(intptr_t)ctx;
    return WALL0 + W.now / 1000 + (uint64_t)skew_ms[i];
}

static void kv_cfg(weft_kv_config *c, int i)
{
    weft_kv_config_default(c);
    c->store = ST[i];
    c->wall_ms = wall_of;
    c->wall_ctx = (void *)(intptr_t)i;
}

static int attach(int i, const weft_kv_config *c)
{
    return weft_kv_attach(W.e[i], c, W.now);
}

/* n nodes joined through node 0, stores attached with cfg tweak. */
static void setup(int n, void (*tweak)(weft_kv_config *))
{
    REQUIRE(net_setup(&W, n, 1, "kv-test") == 0);
    for (int i = 0; i < n; i++) {
        if (!ST[i])
            ST[i] = weft_sim_memstore_new();
        skew_ms[i] = 0;
        weft_kv_config c;
        kv_cfg(&c, i);
        if (tweak)
            tweak(&c);
        REQUIRE(attach(i, &c) == 0);
    }
    for (int i = 1; i < n; i++)
        CHECK(weft_membership_join(W.e[i], &W.addr[0], W.now) == 0);
    net_run_until(&W, W.now + 3000000);
}

static void teardown(void)
{
    net_free(&W);
    for (int i = 0; i < NET_MAX; i++) {
        weft_sim_memstore_del(ST[i]);
        ST[i] = NULL;
    }
}

static int put_s(int i, const char *ns, const char *k, const char *v)
{
    return weft_kv_put(W.e[i], ns, strlen(ns), k, strlen(k), v, strlen(v), 0, W.now);
}

static int get_is(int i, const char *ns, const char *k, const char *v)
{
    weft_kv_item it;
    int rc = weft_kv_get(W.e[i], ns, strlen(ns), k, strlen(k), &it);
    if (!v)
        return rc == WEFT_ERR_NOT_FOUND;
    return rc == 0 && it.value_len == strlen(v) && memcmp(it.value, v, it.value_len) == 0;
}

static int digests_equal(int n)
{
    uint8_t d0[16], d[16];
    uint64_t c0, c;
    weft_kv_digest(W.e[0], d0, &c0);
    for (int i = 1; i < n; i++) {
        weft_kv_digest(W.e[i], d, &c);
        if (c != c0 || memcmp(d, d0, 16))
            return 0;
    }
    return 1;
}

TEST(local_reads_writes_lists_and_deletes)
{
    setup(1, NULL);
    CHECK(put_s(0, "cfg", "b", "2") == 0);
    CHECK(put_s(0, "cfg", "a", "1") == 0);
    CHECK(put_s(0, "cfg", "a/x", "3") == 0);
    CHECK(put_s(0, "cfg", "a/y", "4") == 0);
    CHECK(put_s(0, "other", "a/z", "5") == 0);
    CHECK(get_is(0, "cfg", "a", "1"));            /* read-your-writes */
    CHECK(put_s(0, "cfg", "a", "1b") == 0);
    CHECK(get_is(0, "cfg", "a", "1b"));
    CHECK(weft_kv_delete(W.e[0], "cfg", 3, "b", 1, W.now) == 0);
    CHECK(get_is(0, "cfg", "b", NULL));
    /* list by prefix, two pages of one */
    weft_kv_item it[4];
    size_t n;
    CHECK_EQ_INT(weft_kv_list(W.e[0], "cfg", 3, "a/", 2, NULL, 0, it, 1, &n), 1);
    REQUIRE(n == 1);
    CHECK(it[0].key_len == 3 && memcmp(it[0].key, "a/x", 3) == 0);
    CHECK_EQ_INT(weft_kv_list(W.e[0], "cfg", 3, "a/", 2, it[0].key, it[0].key_len, it, 1, &n), 0);
    CHECK(n == 1 && memcmp(it[0].key, "a/y", 3) == 0);
    CHECK_EQ_INT(weft_kv_list(W.e[0], "cfg", 3, NULL, 0, NULL, 0, it, 4, &n), 0);
    CHECK_EQ_INT(n, 3); /* a, a/x, a/y: b is deleted, "other" is another namespace */
    /* expiry */
    CHECK(weft_kv_put(W.e[0], "cfg", 3, "tmp", 3, "t", 1, wall_of(0) + 500, W.now) == 0);
    CHECK(get_is(0, "cfg", "tmp", "t"));
    net_run_until(&W, W.now + 600000);
    CHECK(get_is(0, "cfg", "tmp", NULL));
    /* misuse */
    CHECK_EQ_INT(weft_kv_put(W.e[0], "", 0, "k", 1, "v", 1, 0, W.now), WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft_kv_put(W.e[0], "n", 1, "", 0, "v", 1, 0, W.now), WEFT_ERR_INVAL);
    static char big[70000];
    CHECK_EQ_INT(weft_kv_put(W.e[0], "n", 1, "k", 1, big, sizeof big, 0, W.now), WEFT_ERR_TOO_BIG);
    CHECK_EQ_INT(weft_kv_put(W.e[0], "n", 1, big, 300, "v", 1, 0, W.now), WEFT_ERR_TOO_BIG);
    weft_kv_stats st;
    CHECK(weft_kv_stats_get(W.e[0], &st) == 0);
    CHECK_EQ_INT(st.entries, 5);
    CHECK_EQ_INT(st.tombstones, 1);
    teardown();
}

TEST(writes_are_pushed_at_once)
{
    setup(3, NULL);
    CHECK(put_s(1, "cfg", "mode", "fast") == 0);
    net_run_until(&W, W.now + 50000); /* 50 ms: far less than a sync round */
    CHECK(get_is(0, "cfg", "mode", "fast"));
    CHECK(get_is(2, "cfg", "mode", "fast"));
    weft_kv_stats st;
    weft_kv_stats_get(W.e[0], &st);
    CHECK_EQ_INT(st.applied_push, 1);
    teardown();
}

static void no_push(weft_kv_config *c) { c->push_fanout = 0; }

TEST(anti_entropy_alone_converges_and_lww_picks_one_winner)
{
    setup(3, no_push);
    char k[16];
    for (int i = 0; i < 300; i++) {
        snprintf(k, sizeof k, "k%03d", i);
        CHECK(put_s(i % 3, "data", k, i % 3 == 0 ? "zero" : i % 3 == 1 ? "one" : "two") == 0);
    }
    /* the same key written on every node "at once" (same wall ms) */
    for (int i = 0; i < 3; i++)
        CHECK(put_s(i, "data", "contested", i == 0 ? "A" : i == 1 ? "B" : "C") == 0);
    CHECK(weft_kv_delete(W.e[2], "data", 4, "k000", 4, W.now) == 0);
    net_run_until(&W, W.now + 10000000);
    CHECK(digests_equal(3));
    weft_kv_item it[3];
    for (int i = 0; i < 3; i++)
        CHECK(weft_kv_get(W.e[i], "data", 4, "contested", 9, &it[i]) == 0);
    CHECK(it[0].value_len == 1 && it[0].value[0] == it[1].value[0] && it[1].value[0] == it[2].value[0]);
    CHECK(get_is(1, "data", "k000", NULL));
    CHECK(get_is(0, "data", "k299", "two"));
    weft_kv_stats st;
    weft_kv_stats_get(W.e[1], &st);
    CHECK(st.applied_sync > 0 && st.applied_push == 0);
    teardown();
}

typedef struct wlog {
    int n;
    int deleted;
    char last[16];
} wlog;
static wlog WL[NET_MAX];

static void on_watch(void *ctx, uint32_t id, const weft_kv_item *it)
{
    wlog *l = ctx;
    (void)id;
    l->n++;
    l->deleted += it->deleted;
    size_t n = it->value_len < 15 ? it->value_len : 15;
    memcpy(l->last, it->value, n);
    l->last[n] = 0;
}

static int kv_events[NET_MAX];
static void count_events(net *w, int i, const weft_event *ev)
{
    (void)w;
    if (ev->type == WEFT_EV_KV_CHANGED) {
        weft_kv_item it;
        if (weft_kv_event_item(ev, &it) == 0 && it.ns_len == 3 && memcmp(it.ns, "cam", 3) == 0)
            kv_events[i]++;
    }
}

TEST(watches_see_each_change_once_in_order)
{
    setup(2, no_push);
    memset(WL, 0, sizeof WL);
    memset(kv_events, 0, sizeof kv_events);
    W.on_event = count_events;
    uint32_t id, id2;
    CHECK(weft_kv_watch(W.e[1], "cam", 3, "door/", 5, on_watch, &WL[1], &id) == 0);
    CHECK(weft_kv_watch(W.e[1], "cam", 3, NULL, 0, NULL, NULL, &id2) == 0);
    CHECK(put_s(0, "cam", "door/1", "open") == 0);
    CHECK(put_s(0, "cam", "door/1", "closed") == 0);  /* supersedes before sync */
    CHECK(put_s(0, "cam", "window", "x") == 0);
    net_run_until(&W, W.now + 5000000);
    CHECK_EQ_INT(WL[1].n, 1);                /* one change: the winner */
    CHECK(strcmp(WL[1].last, "closed") == 0);
    CHECK_EQ_INT(kv_events[1], 2);           /* door/1 and window */
    CHECK(weft_kv_delete(W.e[0], "cam", 3, "door/1", 6, W.now) == 0);
    net_run_until(&W, W.now + 5000000);
    CHECK_EQ_INT(WL[1].n, 2);
    CHECK_EQ_INT(WL[1].deleted, 1);
    /* a local write is a change too; rounds that find nothing are not */
    CHECK(put_s(1, "cam", "door/2", "open") == 0);
    net_run_until(&W, W.now + 5000000);
    CHECK_EQ_INT(WL[1].n, 3);
    CHECK(weft_kv_unwatch(W.e[1], id) == 0);
    CHECK(weft_kv_unwatch(W.e[1], id) == WEFT_ERR_NOT_FOUND);
    W.on_event = NULL;
    teardown();
}

/* A version of (ns, key) signed with node `signer`'s key, claiming writer
 * `writer`, into buf as a PUSH message. */
static size_t forge(uint8_t *buf, size_t cap, int signer, const weft_node_id *writer,
                    const char *ns, const char *key, size_t vlen, uint64_t hlc)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft_config cfg;
    net_config(&cfg, signer, "kv-test");
    weft__wr w;
    weft__wr_init(&w, buf, cap);
    weft__wr_u8(&w, WEFT__KV_MSG_PUSH);
    weft__wr_u32(&w, 0);
    weft__wr_u8(&w, WEFT__KV_REC_ENTRY);
    size_t start = w.pos;
    weft__wr_u8(&w, 0);
    weft__wr_u64(&w, hlc);
    weft__wr_bytes(&w, writer->key, 32);
    weft__wr_u8(&w, (uint8_t)strlen(ns));
    weft__wr_bytes(&w, ns, strlen(ns));
    weft__wr_varint(&w, strlen(key));
    weft__wr_bytes(&w, key, strlen(key));
    weft__wr_varint(&w, vlen);
    weft__wr_zero(&w, vlen);
    uint8_t d[64];
    weft__kv_entry_digest(c, buf + start, w.pos - start, d);
    uint8_t *sig = weft__wr_take(&w, 64);
    if (sig)
        c->sign(c->ctx, sig, d, 64, cfg.identity_secret);
    return w.pos;
}

TEST(node_state_is_owned_and_forgeries_are_counted)
{
    setup(2, NULL);
    CHECK(weft_kv_node_state_set(W.e[0], "fps", 3, "30", 2, W.now) == 0);
    net_run_until(&W, W.now + 100000);
    weft_kv_item it;
    CHECK(weft_kv_node_state_get(W.e[1], &W.id[0], "fps", 3, &it) == 0);
    CHECK(it.value_len == 2 && memcmp(it.value, "30", 2) == 0);
    /* writing into another node's namespace locally is refused */
    char ns[WEFT_KV_NODE_NS_LEN];
    weft_kv_node_ns(&W.id[0], ns);
    CHECK_EQ_INT(weft_kv_put(W.e[1], ns, sizeof ns, "fps", 3, "1", 1, 0, W.now), WEFT_ERR_INVAL);
    /* a remote forgery: node 1 signs a version of node 0's state as itself */
    static uint8_t buf[4096];
    char nsz[WEFT_KV_NODE_NS_LEN + 1];
    memcpy(nsz, ns, sizeof ns);
    nsz[sizeof ns] = 0;
    uint64_t hlc = (wall_of(0) + 1) << 16;
    size_t n = forge(buf, sizeof buf, 1, &W.id[1], nsz, "fps", 1, hlc);
    CHECK(weft_engine_send(W.e[1], &W.id[0], WEFT_KV_CHANNEL_PUSH, buf, n, 0, W.now) > 0);
    /* ... or claims to be node 0 with its own signature */
    n = forge(buf, sizeof buf, 1, &W.id[0], nsz, "fps", 1, hlc);
    CHECK(weft_engine_send(W.e[1], &W.id[0], WEFT_KV_CHANNEL_PUSH, buf, n, 0, W.now) > 0);
    net_run_until(&W, W.now + 100000);
    weft_kv_stats st;
    weft_kv_stats_get(W.e[0], &st);
    CHECK_EQ_INT(st.drop_forged, 1);
    CHECK_EQ_INT(st.drop_bad_signature, 1);
    CHECK(weft_kv_node_state_get(W.e[0], &W.id[0], "fps", 3, &it) == 0);
    CHECK(it.value_len == 2);
    teardown();
}

TEST(remote_input_over_limits_is_dropped_and_counted)
{
    setup(2, NULL);
    static uint8_t buf[200000];
    /* far future: an hour ahead of node 0's clock */
    size_t n = forge(buf, sizeof buf, 1, &W.id[1], "ns", "future", 1,
                     (wall_of(0) + 3600 * 1000) << 16);
    CHECK(weft_engine_send(W.e[1], &W.id[0], WEFT_KV_CHANNEL_PUSH, buf, n, 0, W.now) > 0);
    /* a value over node 0's cap (64 KiB) */
    n = forge(buf, sizeof buf, 1, &W.id[1], "ns", "big", 100000, wall_of(0) << 16);
    CHECK(weft_engine_send(W.e[1], &W.id[0], WEFT_KV_CHANNEL_PUSH, buf, n, 0, W.now) > 0);
    /* garbage */
    static const uint8_t junk[] = {3, 0, 0, 0, 0, 4, 1, 2, 3};
    CHECK(weft_engine_send(W.e[1], &W.id[0], WEFT_KV_CHANNEL_PUSH, junk, sizeof junk, 0, W.now) > 0);
    CHECK(weft_engine_send(W.e[1], &W.id[0], WEFT_KV_CHANNEL_SYNC, junk, sizeof junk, 0, W.now) > 0);
    net_run_until(&W, W.now + 100000);
    weft_kv_stats st;
    weft_kv_stats_get(W.e[0], &st);
    CHECK_EQ_INT(st.drop_future, 1);
    CHECK_EQ_INT(st.drop_too_big, 1);
    CHECK_EQ_INT(st.drop_malformed, 2);
    CHECK(get_is(0, "ns", "future", NULL));
    teardown();
}

static void tight(weft_kv_config *c)
{
    c->remote_rate_per_s = 10;
    c->remote_burst = 20;
    c->max_ns_entries = 50;
    c->sync_interval_ms = 60000;
}

TEST(writer_rate_and_namespace_caps)
{
    setup(2, tight);
    char k[16];
    for (int i = 0; i < 40; i++) {
        snprintf(k, sizeof k, "k%02d", i);
        CHECK(put_s(1, "r", k, "v") == 0);   /* local writes are not limited */
    }
    net_run_until(&W, W.now + 100000);
    weft_kv_stats st;
    weft_kv_stats_get(W.e[0], &st);
    CHECK_EQ_INT(st.applied_push, 20);
    CHECK_EQ_INT(st.drop_rate, 20);
    /* namespace cap, local: a clear error */
    int rc = 0;
    for (int i = 0; i < 60 && rc == 0; i++) {
        snprintf(k, sizeof k, "n%02d", i);
        rc = put_s(0, "cap", k, "v");
    }
    CHECK_EQ_INT(rc, WEFT_ERR_LIMIT);
    teardown();
}

TEST(restart_resumes_from_the_store_and_catches_up)
{
    setup(2, NULL);
    CHECK(put_s(0, "s", "a", "1") == 0);
    CHECK(put_s(1, "s", "b", "2") == 0);
    net_run_until(&W, W.now + 200000);
    CHECK(get_is(0, "s", "b", "2"));
    /* node 1 goes away; node 0 writes meanwhile; node 1 comes back */
    weft_engine_del(W.e[1]);
    W.e[1] = NULL;
    CHECK(put_s(0, "s", "c", "3") == 0);
    net_run_until(&W, W.now + 1000000);
    REQUIRE(net_make_node(&W, 1, "kv-test") == 0);
    weft_kv_config c;
    kv_cfg(&c, 1);
    REQUIRE(attach(1, &c) == 0);
    CHECK(get_is(1, "s", "a", "1") && get_is(1, "s", "b", "2")); /* from its store */
    CHECK(get_is(1, "s", "c", NULL));
    CHECK(weft_membership_join(W.e[1], &W.addr[0], W.now) == 0);
    net_run_until(&W, W.now + 5000000);
    CHECK(get_is(1, "s", "c", "3"));                            /* anti-entropy */
    CHECK(digests_equal(2));
    teardown();
}

static void short_retention(weft_kv_config *c) { c->tombstone_retention_ms = 20000; }

TEST(tombstones_are_collected_after_retention_once_all_synced)
{
    setup(3, short_retention);
    CHECK(put_s(0, "g", "k", "v") == 0);
    net_run_until(&W, W.now + 200000);
    CHECK(weft_kv_delete(W.e[1], "g", 1, "k", 1, W.now) == 0);
    net_run_until(&W, W.now + 5000000);
    weft_kv_stats st;
    weft_kv_stats_get(W.e[0], &st);
    CHECK_EQ_INT(st.tombstones, 1);           /* younger than the retention */
    net_run_until(&W, W.now + 40000000);
    for (int i = 0; i < 3; i++) {
        weft_kv_stats_get(W.e[i], &st);
        CHECK_EQ_INT(st.tombstones, 0);
        CHECK_EQ_INT(st.collected, 1);
        CHECK_EQ_INT(weft_sim_memstore_count(ST[i]), 0);
    }
    CHECK(get_is(2, "g", "k", NULL));
    CHECK(digests_equal(3));
    teardown();
}

int main(void)
{
    RUN(local_reads_writes_lists_and_deletes);
    RUN(writes_are_pushed_at_once);
    RUN(anti_entropy_alone_converges_and_lww_picks_one_winner);
    RUN(watches_see_each_change_once_in_order);
    RUN(node_state_is_owned_and_forgeries_are_counted);
    RUN(remote_input_over_limits_is_dropped_and_counted);
    RUN(writer_rate_and_namespace_caps);
    RUN(restart_resumes_from_the_store_and_catches_up);
    RUN(tombstones_are_collected_after_retention_once_all_synced);
    TEST_MAIN_END();
}
