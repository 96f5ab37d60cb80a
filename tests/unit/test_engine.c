/*
 * test_engine.c -- weft_engine end to end between two or three engines in
 * one process, wired by a tiny hand-rolled loop on a virtual clock (the
 * full simulator has its own tests).  Real crypto (libsodium) throughout.
 */
#include <string.h>

#include "test.h"

#include "enginenet.h"

static void setup2(net *w, const char *k0, const char *k1)
{
    memset(w, 0, sizeof *w);
    w->n = 2;
    w->now = 1000000;
    net_make_node(w, 0, k0);
    net_make_node(w, 1, k1);
}

TEST(handshake_establishes_both_ways)
{
    net w;
    setup2(&w, "mesh", "mesh");
    REQUIRE(weft_engine_connect(w.e[0], &w.addr[1], w.now) == 0);
    net_run_until(&w, w.now + 100000);
    CHECK(w.up[0][1]);
    CHECK(w.up[1][0]);
    weft_peer_info pi;
    CHECK(weft_engine_peer_info(w.e[0], weft_engine_id(w.e[1]), &pi) == 0);
    CHECK(pi.established);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK_EQ_INT(st.handshakes_ok, 1);
    CHECK_EQ_INT(st.sessions, 1);
    net_free(&w);
}

TEST(wrong_network_key_gets_no_session)
{
    net w;
    setup2(&w, "mesh", "other mesh");
    REQUIRE(weft_engine_connect(w.e[0], &w.addr[1], w.now) == 0);
    net_run_until(&w, w.now + 20000000);
    CHECK(!w.up[0][1]);
    CHECK(!w.up[1][0]);
    CHECK(weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, "x", 1, 0, w.now) == WEFT_ERR_NO_PEER);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(st.drop_wrong_mesh > 0);
    CHECK_EQ_INT(st.sessions, 0);
    CHECK_EQ_INT(st.msgs_delivered, 0);
    net_free(&w);
}

TEST(messages_of_every_kind_arrive)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    const weft_node_id *b = weft_engine_id(w.e[1]);
    CHECK(weft_engine_send(w.e[0], b, WEFT_CHANNEL_APP, "hello", 5, WEFT_PRIO_NORMAL | WEFT_SEND_ORDERED, w.now) > 0);
    net_run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK(w.last_len[1] == 5 && memcmp(w.last_msg[1], "hello", 5) == 0);
    CHECK(weft_engine_send(w.e[0], b, WEFT_CHANNEL_APP, "u", 1, WEFT_PRIO_HIGH | WEFT_SEND_UNORDERED, w.now) > 0);
    net_run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[1], 2);
    CHECK_EQ_INT(w.last_flags[1], WEFT_PRIO_HIGH | WEFT_SEND_UNORDERED);
    CHECK(weft_engine_send(w.e[0], b, WEFT_CHANNEL_APP, "d", 1, WEFT_PRIO_LOW | WEFT_SEND_UNRELIABLE, w.now) > 0);
    net_run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[1], 3);
    CHECK(weft_engine_send(w.e[0], b, WEFT_CHANNEL_APP, "", 0, 0, w.now) > 0); /* empty */
    net_run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[1], 4);
    CHECK_EQ_INT(w.last_len[1], 0);
    /* the other direction */
    CHECK(weft_engine_send(w.e[1], weft_engine_id(w.e[0]), WEFT_CHANNEL_APP, "back", 4, 0, w.now) > 0);
    net_run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[0], 1);
    net_free(&w);
}

TEST(large_message_is_fragmented_and_reassembled)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    size_t n = 4u << 20;
    uint8_t *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 7 + (i >> 13));
    CHECK(weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, big, n, WEFT_PRIO_LOW, w.now) > 0);
    net_run_until(&w, w.now + 5000000);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK_EQ_INT(w.bytes[1], n);
    CHECK(memcmp(w.last_msg[1], big, 64) == 0);
    /* over the cap is refused with a clear error */
    uint8_t *huge = calloc(1, (16u << 20) + 1);
    CHECK(weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, huge, (16u << 20) + 1, 0, w.now) == WEFT_ERR_TOO_BIG);
    /* an unreliable message must fit one packet */
    CHECK(weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, huge, 100000, WEFT_SEND_UNRELIABLE, w.now) == WEFT_ERR_TOO_BIG_DATAGRAM);
    free(huge);
    free(big);
    net_free(&w);
}

static int flip_data(net *w, net_pkt *p)
{
    (void)w;
    if (p->data[0] == 0x10 && p->len > 20)
        p->data[p->len - 3] ^= 0x40;
    return 1;
}

TEST(tampered_packets_are_dropped_and_counted)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    w.mangle = flip_data;
    weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, "secret", 6, 0, w.now);
    net_run_until(&w, w.now + 200000);
    CHECK_EQ_INT(w.msgs[1], 0);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(st.drop_decrypt > 0);
    w.mangle = NULL; /* the retransmission then gets through, once */
    net_run_until(&w, w.now + 3000000);
    CHECK_EQ_INT(w.msgs[1], 1);
    net_free(&w);
}

static net_pkt saved;
static int have_saved;
static int save_data(net *w, net_pkt *p)
{
    (void)w;
    if (p->data[0] == 0x10 && !have_saved && p->len > 30) {
        saved = *p;
        have_saved = 1;
    }
    return 1;
}

TEST(replayed_and_truncated_packets_are_dropped)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    have_saved = 0;
    w.mangle = save_data;
    weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, "once", 4, WEFT_SEND_UNORDERED, w.now);
    net_run_until(&w, w.now + 100000);
    w.mangle = NULL;
    REQUIRE(have_saved);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK(weft_engine_recv(w.e[1], &saved.from, saved.data, saved.len, w.now) == WEFT_ERR_REPLAY);
    net_drain_events(&w, 1);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK(weft_engine_recv(w.e[1], &saved.from, saved.data, 10, w.now) == WEFT_ERR_PROTO);
    uint8_t junk[3] = {0x02, 1, 2};
    CHECK(weft_engine_recv(w.e[1], &saved.from, junk, 3, w.now) == WEFT_ERR_PROTO);
    uint8_t unknown[1] = {0x7f};
    CHECK(weft_engine_recv(w.e[1], &saved.from, unknown, 1, w.now) == WEFT_ERR_PROTO);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(st.drop_replay == 1);
    CHECK(st.drop_malformed >= 3);
    net_free(&w);
}

TEST(silent_peer_is_reported_unreachable)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    /* node 1 vanishes: nothing reaches it, it sends nothing */
    weft_engine_del(w.e[1]);
    w.e[1] = NULL;
    w.drop_to[1] = 1;
    uint64_t t0 = w.now;
    net_run_until(&w, t0 + 10000000);
    CHECK(!w.up[0][1]);
    CHECK_EQ_INT(w.down_reason[0][1], WEFT_ERR_UNREACHABLE);
    net_free(&w);
}

TEST(dial_to_nobody_fails_with_unreachable)
{
    net w;
    setup2(&w, "mesh", "mesh");
    w.drop_to[1] = 1;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 10000000);
    weft_stats st;
    weft_engine_stats(w.e[0], &st);
    CHECK(st.handshakes_failed >= 1);
    CHECK_EQ_INT(st.sessions, 0);
    net_free(&w);
}

TEST(close_is_seen_by_the_peer)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[1][0]);
    CHECK(weft_engine_close_peer(w.e[0], weft_engine_id(w.e[1]), w.now) == 0);
    net_run_until(&w, w.now + 100000);
    CHECK(!w.up[1][0]);
    CHECK_EQ_INT(w.down_reason[1][0], WEFT_ERR_PEER_CLOSED);
    net_free(&w);
}

TEST(rekey_keeps_the_session_and_its_messages)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    uint64_t hs0;
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    hs0 = st.handshakes_ok;
    /* keep traffic going past rekey_after_ms (120 s) */
    for (int i = 0; i < 130; i++) {
        weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, "tick", 4, 0, w.now);
        net_run_until(&w, w.now + 1000000);
    }
    weft_engine_stats(w.e[1], &st);
    CHECK(st.handshakes_ok > hs0);
    CHECK_EQ_INT(w.msgs[1], 130);
    CHECK(w.up[0][1] && w.up[1][0]);
    net_free(&w);
}

TEST(rekey_after_a_packet_count)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_del(w.e[0]);
    /* node 0 again, with a tiny packet budget per key */
    weft_config cfg;
    net_config(&cfg, 0, "mesh");
    cfg.unreachable_ms = 10000;
    cfg.keepalive_ms = 2000;
    cfg.rekey_after_packets = 200;
    REQUIRE(net_make_node_cfg(&w, 0, &cfg) == 0);
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    for (int i = 0; i < 600; i++) {
        CHECK(weft_engine_send(w.e[0], weft_engine_id(w.e[1]), WEFT_CHANNEL_APP, "n", 1, 0, w.now) > 0);
        net_run_until(&w, w.now + 2000);
    }
    net_run_until(&w, w.now + 1000000);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(st.handshakes_ok >= 3);
    CHECK_EQ_INT(w.msgs[1], 600);
    net_free(&w);
}

TEST(misuse_returns_clear_errors)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_node_id nobody;
    memset(&nobody, 9, sizeof nobody);
    CHECK(weft_engine_send(w.e[0], &nobody, WEFT_CHANNEL_APP, "x", 1, 0, w.now) == WEFT_ERR_NO_PEER);
    CHECK(weft_engine_send(w.e[0], &nobody, WEFT_CHANNEL_APP, "x", 1, 0x0c, w.now) == WEFT_ERR_INVAL);
    CHECK(weft_engine_send(w.e[0], &nobody, WEFT_CHANNEL_APP, "x", 1, 0x100, w.now) == WEFT_ERR_INVAL);
    weft_addr bad = {0};
    CHECK(weft_engine_connect(w.e[0], &bad, w.now) == WEFT_ERR_INVAL);
    weft_config cfg;
    weft_config_default(&cfg);
    cfg.mtu_initial = 100;
    weft_engine *e2 = NULL;
    weft_env env = {NULL, weft_crypto_sodium(), {NULL, net_rand}, NULL, NULL};
    CHECK(weft_engine_new(&e2, &cfg, &env, 0) == WEFT_ERR_CONFIG);
    CHECK(strcmp(weft_strerror(WEFT_ERR_TOO_BIG), "message larger than the configured cap") == 0);
    CHECK(strcmp(weft_err_name(WEFT_ERR_REPLAY), "WEFT_ERR_REPLAY") == 0);
    net_free(&w);
}

TEST(addresses_and_ids_format_and_parse)
{
    weft_addr a;
    char s[WEFT_ADDR_STRLEN];
    CHECK(weft_addr_parse(&a, "127.0.0.1:7946") == 0);
    CHECK(weft_addr_is_loopback(&a));
    weft_addr_format(&a, s, sizeof s);
    CHECK(strcmp(s, "127.0.0.1:7946") == 0);
    CHECK(weft_addr_parse(&a, "[::1]:80") == 0);
    CHECK(a.family == 6 && weft_addr_is_loopback(&a));
    weft_addr_format(&a, s, sizeof s);
    CHECK(strcmp(s, "[::1]:80") == 0);
    CHECK(weft_addr_parse(&a, "[fe80::1:2]:9") == 0);
    weft_addr_format(&a, s, sizeof s);
    CHECK(strcmp(s, "[fe80::1:2]:9") == 0);
    CHECK(weft_addr_parse(&a, "256.0.0.1:1") == WEFT_ERR_INVAL);
    CHECK(weft_addr_parse(&a, "1.2.3.4:70000") == WEFT_ERR_INVAL);
    CHECK(weft_addr_parse(&a, "1.2.3.4") == WEFT_ERR_INVAL);
    CHECK(weft_addr_parse(&a, "[::1:80") == WEFT_ERR_INVAL);
    weft_node_id id, id2;
    for (int i = 0; i < 32; i++)
        id.key[i] = (uint8_t)(i * 9);
    char hex[WEFT_ID_HEX_LEN], sh[WEFT_ID_SHORT_LEN];
    weft_id_hex(&id, hex);
    weft_id_short(&id, sh);
    CHECK(strncmp(hex, sh, 16) == 0 && strlen(sh) == 16);
    CHECK(weft_id_parse(&id2, hex) == 0 && memcmp(&id, &id2, 32) == 0);
    CHECK(weft_id_parse(&id2, "zz") == WEFT_ERR_INVAL);
}

static int alive_count(weft_engine *e)
{
    weft_membership_stats ms;
    if (weft_membership_stats_get(e, &ms) < 0)
        return -1;
    return (int)ms.alive;
}

TEST(membership_join_meta_failure_and_leave)
{
    net w;
    REQUIRE(net_setup(&w, 3, 1, "mesh") == 0);
    weft_tag tags[2] = {{"role", "camera"}, {"fps", "30"}};
    CHECK(weft_membership_set_meta(w.e[1], "cam1", "active", tags, 2, w.now) == 0);
    /* nodes 1 and 2 join through node 0 */
    CHECK(weft_membership_join(w.e[1], &w.addr[0], w.now) == 0);
    CHECK(weft_membership_join(w.e[2], &w.addr[0], w.now) == 0);
    net_run_until(&w, w.now + 5000000);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(alive_count(w.e[i]), 3);
    CHECK(w.member_ev[2][0] >= 2); /* joined: node 0 and node 1 */
    /* node 1's metadata is visible on node 2 */
    weft_member m;
    REQUIRE(weft_membership_find(w.e[2], &w.id[1], &m) == 0);
    CHECK(m.state == WEFT_MEMBER_ALIVE);
    CHECK(m.name_len == 4 && memcmp(m.name, "cam1", 4) == 0);
    CHECK(m.status_len == 6 && memcmp(m.status, "active", 6) == 0);
    size_t off = 0, kl, vl;
    const char *k, *v;
    int found = 0;
    while (weft_tag_next(m.tags, m.tags_len, &off, &k, &kl, &v, &vl))
        if (kl == 3 && !memcmp(k, "fps", 3) && vl == 2 && !memcmp(v, "30", 2))
            found = 1;
    CHECK(found);
    /* metadata too large is refused with a clear error */
    char big[100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    CHECK(weft_membership_set_meta(w.e[1], big, NULL, NULL, 0, w.now) == WEFT_ERR_TOO_BIG);
    /* node 2 crashes: the others declare it failed */
    weft_engine_del(w.e[2]);
    w.e[2] = NULL;
    w.drop_to[2] = 1;
    net_run_until(&w, w.now + 10000000);
    REQUIRE(weft_membership_find(w.e[0], &w.id[2], &m) == 0);
    CHECK(m.state == WEFT_MEMBER_DEAD);
    CHECK(w.member_ev[0][WEFT_EV_MEMBER_FAILED - WEFT_EV_MEMBER_JOINED] == 1);
    CHECK(w.member_ev[1][WEFT_EV_MEMBER_FAILED - WEFT_EV_MEMBER_JOINED] == 1);
    /* node 1 leaves gracefully: node 0 sees it left, not failed */
    CHECK(weft_membership_leave(w.e[1], w.now) == 0);
    net_run_until(&w, w.now + 2000000);
    REQUIRE(weft_membership_find(w.e[0], &w.id[1], &m) == 0);
    CHECK(m.state == WEFT_MEMBER_LEFT);
    CHECK(w.member_ev[0][WEFT_EV_MEMBER_LEFT - WEFT_EV_MEMBER_JOINED] == 1);
    CHECK(w.member_ev[0][WEFT_EV_MEMBER_FAILED - WEFT_EV_MEMBER_JOINED] == 1);
    CHECK(strcmp(weft_event_name(w.e[0], WEFT_EV_MEMBER_LEFT), "member-left") == 0);
    net_free(&w);
}

TEST(membership_ignores_nodes_without_the_key)
{
    net w;
    memset(&w, 0, sizeof w);
    w.n = 2;
    w.now = 1000000;
    w.membership = 1;
    REQUIRE(net_make_node(&w, 0, "mesh") == 0);
    REQUIRE(net_make_node(&w, 1, "intruder") == 0);
    weft_membership_join(w.e[1], &w.addr[0], w.now);
    net_run_until(&w, w.now + 5000000);
    CHECK_EQ_INT(alive_count(w.e[0]), 1);
    CHECK_EQ_INT(alive_count(w.e[1]), 1);
    weft_membership_stats ms;
    weft_membership_stats_get(w.e[0], &ms);
    CHECK(ms.drop_bad_mac > 0);
    net_free(&w);
}

/* --- the delivery promise (docs/ARCHITECTURE.md §Delivery) ------------- */

static void connect2(net *w)
{
    setup2(w, "mesh", "mesh");
    weft_engine_connect(w->e[0], &w->addr[1], w->now);
    net_run_until(w, w->now + 100000);
}

TEST(receipt_comes_only_after_the_application_polled)
{
    net w;
    connect2(&w);
    REQUIRE(w.up[0][1]);
    w.no_poll[1] = 1; /* node 1's application is slow */
    int64_t id = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "ask", 3,
                                  WEFT_SEND_RECEIPT, w.now);
    REQUIRE(id > 0);
    net_run_until(&w, w.now + 500000);
    weft_peer_info pi;
    REQUIRE(weft_engine_peer_info(w.e[0], &w.id[1], &pi) == 0);
    CHECK_EQ_INT(pi.queued_msgs, 0);      /* acknowledged by the transport */
    CHECK_EQ_INT(pi.receipts_pending, 1); /* but not yet taken */
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_DELIVERED, 0, 0), 0);
    w.no_poll[1] = 0;
    net_drain_events(&w, 1);
    CHECK_EQ_INT(w.msgs[1], 1);
    net_run_until(&w, w.now + 100000);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_DELIVERED, 0, (uint64_t)id), 1);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, 0, 0), 0);
    /* a receipt on an unreliable message is refused: it cannot be kept */
    CHECK(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "x", 1,
                           WEFT_SEND_RECEIPT | WEFT_SEND_UNRELIABLE, w.now) == WEFT_ERR_INVAL);
    weft_stats st;
    weft_engine_stats(w.e[0], &st);
    CHECK_EQ_INT(st.receipts, 1);
    net_free(&w);
}

TEST(every_queued_message_fails_when_the_peer_goes_down)
{
    net w;
    connect2(&w);
    REQUIRE(w.up[0][1]);
    /* node 1 vanishes with 5 messages (one of 3 MB) queued to it */
    weft_engine_del(w.e[1]);
    w.e[1] = NULL;
    w.drop_to[1] = 1;
    static uint8_t big[3u << 20];
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        ids[i] = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, big,
                                  i == 2 ? sizeof big : 10, i == 3 ? WEFT_SEND_RECEIPT : 0,
                                  w.now);
        REQUIRE(ids[i] > 0);
        CHECK(i == 0 || ids[i] > ids[i - 1]);
    }
    net_run_until(&w, w.now + 10000000);
    CHECK(!w.up[0][1]);
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, WEFT_ERR_UNREACHABLE,
                                       (uint64_t)ids[i]), 1);
    CHECK_EQ_INT(w.noutcomes[0], 5);
    weft_stats st;
    weft_engine_stats(w.e[0], &st);
    CHECK_EQ_INT(st.send_failed, 5);
    net_free(&w);
}

TEST(a_receipt_still_awaited_fails_on_close)
{
    net w;
    connect2(&w);
    REQUIRE(w.up[0][1]);
    w.no_poll[1] = 1;
    int64_t id = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "important", 9,
                                  WEFT_SEND_RECEIPT, w.now);
    REQUIRE(id > 0);
    net_run_until(&w, w.now + 200000); /* acknowledged, never polled */
    /* node 0 gives up on node 1 before its application took the message */
    REQUIRE(weft_engine_close_peer(w.e[0], &w.id[1], w.now) == 0);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, WEFT_ERR_PEER_CLOSED,
                                   (uint64_t)id), 0);
    net_drain_events(&w, 0);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, WEFT_ERR_PEER_CLOSED,
                                   (uint64_t)id), 1);
    CHECK_EQ_INT(w.msgs[1], 0);
    net_free(&w);
}

TEST(a_restarted_peer_gets_the_unfinished_messages_and_reports_the_rest)
{
    net w;
    connect2(&w);
    REQUIRE(w.up[0][1]);
    /* one message acknowledged and awaiting its receipt, one still in
     * flight when node 1 restarts */
    w.no_poll[1] = 1;
    int64_t acked = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "a", 1,
                                     WEFT_SEND_RECEIPT, w.now);
    net_run_until(&w, w.now + 200000);
    weft_engine_del(w.e[1]);
    w.e[1] = NULL;
    w.no_poll[1] = 0;
    w.drop_to[1] = 1;
    int64_t later = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "b", 1,
                                     WEFT_SEND_RECEIPT, w.now);
    REQUIRE(acked > 0 && later > 0);
    net_run_until(&w, w.now + 50000);
    w.drop_to[1] = 0;
    REQUIRE(net_make_node(&w, 1, "mesh") == 0);
    /* node 1 dials node 0: a new session id, so node 0 resets its
     * transport: "b" is sent again, "a"'s receipt will never come */
    weft_engine_connect(w.e[1], &w.addr[0], w.now);
    net_run_until(&w, w.now + 1000000);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, WEFT_ERR_PEER_RESTARTED,
                                   (uint64_t)acked), 1);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK(w.last_len[1] == 1 && w.last_msg[1][0] == 'b');
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_DELIVERED, 0, (uint64_t)later), 1);
    net_free(&w);
}

TEST(close_fails_what_is_still_queued)
{
    net w;
    connect2(&w);
    REQUIRE(w.up[0][1]);
    w.drop_to[1] = 1; /* nothing gets acknowledged any more */
    int64_t a = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "1", 1, 0, w.now);
    int64_t b = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "2", 1, 0, w.now);
    net_run_until(&w, w.now + 20000);
    REQUIRE(weft_engine_close_peer(w.e[0], &w.id[1], w.now) == 0);
    net_drain_events(&w, 0);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, WEFT_ERR_PEER_CLOSED,
                                   (uint64_t)a), 1);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, WEFT_ERR_PEER_CLOSED,
                                   (uint64_t)b), 1);
    CHECK(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "3", 1, 0, w.now) ==
          WEFT_ERR_NO_PEER);
    net_free(&w);
}

/* --- channels ----------------------------------------------------------- */

TEST(messages_carry_their_channel)
{
    net w;
    connect2(&w);
    REQUIRE(w.up[0][1]);
    CHECK(weft_engine_send(w.e[0], &w.id[1], 0x1234, "c", 1, 0, w.now) > 0);
    net_run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK_EQ_INT(w.last_channel[1], 0x1234);
    /* a protocol channel nobody registered: counted and dropped */
    CHECK(weft_engine_send(w.e[0], &w.id[1], 5, "p", 1, 0, w.now) > 0);
    net_run_until(&w, w.now + 50000);
    CHECK_EQ_INT(w.msgs[1], 1);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK_EQ_INT(st.drop_no_channel, 1);
    CHECK(weft_engine_send(w.e[0], &w.id[1], 0, "z", 1, 0, w.now) == WEFT_ERR_INVAL);
    net_free(&w);
}

/* --- sessions on demand ------------------------------------------------- */

TEST(send_to_a_member_opens_a_session_on_demand)
{
    net w;
    REQUIRE(net_setup(&w, 3, 1, "mesh") == 0);
    CHECK(weft_membership_join(w.e[1], &w.addr[0], w.now) == 0);
    CHECK(weft_membership_join(w.e[2], &w.addr[0], w.now) == 0);
    net_run_until(&w, w.now + 3000000);
    weft_member m;
    REQUIRE(weft_membership_find(w.e[1], &w.id[2], &m) == 0);
    CHECK(!w.up[1][2]);
    /* no connect: node 1 knows node 2 only from the membership */
    int64_t id = weft_engine_send(w.e[1], &w.id[2], WEFT_CHANNEL_APP, "hi", 2,
                                  WEFT_SEND_RECEIPT, w.now);
    CHECK(id > 0);
    net_run_until(&w, w.now + 500000);
    CHECK(w.up[1][2]);
    CHECK_EQ_INT(w.msgs[2], 1);
    CHECK_EQ_INT(net_outcome_count(&w, 1, WEFT_EV_DELIVERED, 0, (uint64_t)id), 1);
    /* an id nobody knows is still refused at once */
    weft_node_id nobody;
    memset(&nobody, 7, sizeof nobody);
    CHECK(weft_engine_send(w.e[1], &nobody, WEFT_CHANNEL_APP, "x", 1, 0, w.now) ==
          WEFT_ERR_NO_PEER);
    /* and a member that cannot be reached fails the message, not silently */
    w.drop_to[0] = 1;
    weft_engine_del(w.e[0]);
    w.e[0] = NULL;
    REQUIRE(weft_membership_find(w.e[1], &w.id[0], &m) == 0);
    int64_t lost = weft_engine_send(w.e[1], &w.id[0], WEFT_CHANNEL_APP, "x", 1, 0, w.now);
    CHECK(lost > 0);
    net_run_until(&w, w.now + 5000000);
    CHECK_EQ_INT(net_outcome_count(&w, 1, WEFT_EV_SEND_FAILED, 0, (uint64_t)lost), 1);
    net_free(&w);
}

/* --- events whose data outlives the packet ------------------------------ */

static char seen[8][32];
static int nseen;
static void remember(net *w, int i, const weft_event *ev)
{
    (void)w;
    if (i == 1 && ev->type == WEFT_EV_MESSAGE && nseen < 8) {
        size_t n = ev->u.message.len < 31 ? ev->u.message.len : 31;
        memcpy(seen[nseen], ev->u.message.data, n);
        seen[nseen++][n] = 0;
    }
}

TEST(events_stay_valid_when_packets_arrive_before_the_application_polls)
{
    net w;
    connect2(&w);
    REQUIRE(w.up[0][1]);
    nseen = 0;
    w.on_event = remember;
    w.no_poll[1] = 1;
    /* three messages in three packets, all received before any poll: the
     * first two point into the receive buffer until the next packet
     * arrives, and must be copied out then (run this under ASan) */
    static const char *m[3] = {"first message", "second message", "third message"};
    for (int i = 0; i < 3; i++) {
        REQUIRE(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, m[i], strlen(m[i]),
                                 WEFT_SEND_UNORDERED, w.now) > 0);
        net_run_until(&w, w.now + 2000);
    }
    net_run_until(&w, w.now + 50000);
    w.no_poll[1] = 0;
    net_drain_events(&w, 1);
    REQUIRE(nseen == 3);
    for (int i = 0; i < 3; i++)
        CHECK(strcmp(seen[i], m[i]) == 0);
    net_free(&w);
}

/* --- the side that can tell reports a wrong network key ----------------- */

TEST(wrong_network_key_is_reported_once_with_its_address)
{
    net w;
    setup2(&w, "mesh", "other mesh");
    REQUIRE(weft_engine_connect(w.e[0], &w.addr[1], w.now) == 0);
    net_run_until(&w, w.now + 5000000); /* node 0 retries several times */
    CHECK_EQ_INT(w.hs_failed[1], 1);
    CHECK_EQ_INT(w.hs_failed_error[1], WEFT_ERR_WRONG_MESH);
    CHECK(weft_addr_eq(&w.hs_failed_addr[1], &w.addr[0]));
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(st.drop_wrong_mesh >= 2); /* it was tried more than once */
    net_free(&w);
}

/* --- handshake floods (issue: no amplification, no lock-out) ------------ */

static net_pkt captured;
static int have_init;
static int capture_init(net *w, net_pkt *p)
{
    (void)w;
    if (p->data[0] == 0x01 && !have_init) {
        captured = *p;
        have_init = 1;
    }
    return 1;
}

/* Feeds `count` copies of the captured HS_INIT to node `to` from spoofed
 * sources (distinct when `distinct`), drains what node `to` answers to
 * addresses outside the net, and adds the bytes both ways. */
static void replay_init(net *w, int to, int count, int distinct, uint32_t *seq,
                        uint64_t *in, uint64_t *out)
{
    for (int k = 0; k < count; k++) {
        weft_addr from = {0};
        from.family = 4;
        from.ip[0] = 10;
        uint32_t v = distinct ? (*seq)++ : 7;
        from.ip[1] = (uint8_t)(v >> 16);
        from.ip[2] = (uint8_t)(v >> 8);
        from.ip[3] = (uint8_t)v;
        from.port = (uint16_t)(1000 + v % 50000);
        weft_engine_recv(w->e[to], &from, captured.data, captured.len, w->now);
        *in += captured.len;
    }
    /* what goes to the spoofed sources is counted; the rest is delivered */
    uint8_t buf[65536];
    weft_addr dst;
    ptrdiff_t n;
    while ((n = weft_engine_write(w->e[to], &dst, buf, sizeof buf, w->now)) > 0) {
        int j = net_idx_of(w, &dst);
        if (j < 0) {
            *out += (uint64_t)n;
            continue;
        }
        if (w->qn == w->qcap) {
            w->qcap = w->qcap ? w->qcap * 2 : 64;
            w->q = realloc(w->q, w->qcap * sizeof *w->q);
        }
        net_pkt *p = &w->q[w->qn++];
        p->to = j;
        p->from = w->addr[to];
        p->len = (size_t)n;
        memcpy(p->data, buf, (size_t)n);
    }
    net_drain_events(w, to);
}

TEST(replayed_handshake_starts_neither_lock_out_nor_amplify)
{
    net w;
    memset(&w, 0, sizeof w);
    w.n = 3;
    w.now = 1000000;
    for (int i = 0; i < 3; i++)
        REQUIRE(net_make_node(&w, i, "mesh") == 0);
    /* one genuine HS_INIT from node 0 to node 1, seen by an attacker */
    have_init = 0;
    w.mangle = capture_init;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_flush_out(&w, 0);
    w.mangle = NULL;
    REQUIRE(have_init);
    w.qn = 0;
    weft_engine_del(w.e[0]); /* the real initiator is gone */
    w.e[0] = NULL;
    uint64_t in = 0, out = 0;
    uint32_t seq = 1;
    /* a flood from thousands of spoofed sources while node 2 dials node 1 */
    weft_engine_connect(w.e[2], &w.addr[1], w.now);
    for (int ms = 0; ms < 3000; ms++) {
        replay_init(&w, 1, 20, 1, &seq, &in, &out);
        net_run_until(&w, w.now + 1000);
    }
    CHECK(w.up[2][1]);
    CHECK(w.up[1][2]);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(out <= in); /* never more bytes back than came in */
    CHECK(st.cookies_sent > 0);
    CHECK(st.half_open <= 256);
    CHECK_EQ_INT(st.handshakes_ok, 1);
    /* the same packet again and again from one address: one slot, never
     * extended: it is gone unreachable_ms (3 s) after it was made */
    net_run_until(&w, w.now + 4000000);
    weft_engine_stats(w.e[1], &st);
    CHECK_EQ_INT(st.half_open, 0);
    uint64_t in1 = 0, out1 = 0;
    for (int ms = 0; ms < 2500; ms++) {
        replay_init(&w, 1, 1, 0, &seq, &in1, &out1);
        net_run_until(&w, w.now + 1000);
    }
    weft_engine_stats(w.e[1], &st);
    CHECK(out1 <= in1);
    CHECK(st.half_open <= 1);
    net_run_until(&w, w.now + 600000); /* 3.1 s after the first */
    weft_engine_stats(w.e[1], &st);
    CHECK_EQ_INT(st.half_open, 0);
    net_free(&w);
}

/* --- back-pressure, receive buffer, path MTU, restarts ------------------ */

TEST(send_back_pressure_is_again_and_loses_nothing)
{
    net w;
    setup2(&w, "mesh", "mesh");
    weft_engine_del(w.e[0]);
    weft_config cfg;
    net_config(&cfg, 0, "mesh");
    cfg.max_queued_bytes = 100000;
    REQUIRE(net_make_node_cfg(&w, 0, &cfg) == 0);
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    /* fill the queue without letting time pass: AGAIN, and nothing the
     * engine accepted is dropped */
    static uint8_t msg[10000];
    int accepted = 0, again = 0;
    for (int i = 0; i < 30; i++) {
        memset(msg, i, sizeof msg);
        int64_t id = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, msg, sizeof msg,
                                      WEFT_SEND_RECEIPT, w.now);
        if (id > 0)
            accepted++;
        else if (id == WEFT_ERR_AGAIN)
            again++;
        else
            CHECK(0);
    }
    CHECK(accepted >= 9 && accepted <= 10);
    CHECK_EQ_INT(again, 30 - accepted);
    /* once the queue drains, sending works again */
    net_run_until(&w, w.now + 1000000);
    CHECK_EQ_INT(w.msgs[1], accepted);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_DELIVERED, 0, 0), accepted);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, 0, 0), 0);
    CHECK(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, msg, sizeof msg, 0, w.now) > 0);
    net_run_until(&w, w.now + 200000);
    CHECK_EQ_INT(w.msgs[1], accepted + 1);
    CHECK_EQ_INT(w.bytes[1], (uint64_t)(accepted + 1) * sizeof msg);
    net_free(&w);
}

/* Drops every packet larger than path_mtu bytes: a path whose MTU is
 * smaller than the engines' mtu_max. */
static size_t path_mtu;
static int small_path(net *w, net_pkt *p)
{
    (void)w;
    return p->len <= path_mtu;
}

/* Two engines (mtu_max 16384) with a session over a path of `mtu`. */
static int small_path_pair(net *w, size_t mtu)
{
    memset(w, 0, sizeof *w);
    w->n = 2;
    w->now = 1000000;
    w->mtu_max = 16384;
    if (net_make_node(w, 0, "mesh") < 0 || net_make_node(w, 1, "mesh") < 0)
        return 0;
    path_mtu = mtu;
    w->mangle = small_path;
    weft_engine_connect(w->e[0], &w->addr[1], w->now);
    net_run_until(w, w->now + 100000);
    return w->up[0][1];
}

TEST(path_mtu_falls_back_after_lost_probes_and_large_messages_still_arrive)
{
    net w;
    REQUIRE(small_path_pair(&w, 9000)); /* 16384 never passes; 8952 does */
    static uint8_t big[200000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)(i * 7);
    REQUIRE(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, big, sizeof big, 0, w.now) > 0);
    net_run_until(&w, w.now + 5000000);
    weft_peer_info pi;
    REQUIRE(weft_engine_peer_info(w.e[0], &w.id[1], &pi) == 0);
    CHECK_EQ_INT(pi.mtu, 8952);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK_EQ_INT(w.bytes[1], sizeof big);
    /* a path that only takes the initial MTU: probes all fail, the
     * session stays at 1200 and works */
    net_free(&w);
    REQUIRE(small_path_pair(&w, 1300));
    REQUIRE(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, big, 50000, 0, w.now) > 0);
    net_run_until(&w, w.now + 10000000);
    REQUIRE(weft_engine_peer_info(w.e[0], &w.id[1], &pi) == 0);
    CHECK_EQ_INT(pi.mtu, 1200);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK_EQ_INT(w.bytes[1], 50000);
    CHECK(w.up[0][1] && w.up[1][0]);
    net_free(&w);
}

TEST(a_full_receive_buffer_refuses_packets_and_they_are_resent)
{
    net w;
    connect2(&w);
    REQUIRE(w.up[0][1]);
    /* node 1's application does not poll: messages asking for receipts
     * pile up until it owes WEFT__RCPT_PENDING_MAX (65536) receipts; then
     * it refuses packets (left unacknowledged: the sender resends them).
     * Flow control bounds the bytes, this bounds the count. */
    w.no_poll[1] = 1;
    enum { N = 66000 };
    for (int i = 0; i < N; i++) {
        uint8_t b = (uint8_t)i;
        REQUIRE(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, &b, 1,
                                 WEFT_SEND_UNORDERED | WEFT_SEND_RECEIPT, w.now) > 0);
        if (i % 5000 == 0)
            net_run_until(&w, w.now + 10000);
    }
    net_run_until(&w, w.now + 2000000);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK(st.rx_refused > 0);
    CHECK_EQ_INT(w.msgs[1], 0);
    /* the application catches up: every message arrives exactly once */
    w.no_poll[1] = 0;
    net_drain_events(&w, 1);
    net_run_until(&w, w.now + 5000000);
    CHECK_EQ_INT(w.msgs[1], N);
    CHECK_EQ_INT(w.bytes[1], N);
    weft_engine_stats(w.e[1], &st);
    CHECK_EQ_INT(st.msgs_delivered, N);
    weft_engine_stats(w.e[0], &st);
    CHECK_EQ_INT(st.receipts, N);
    CHECK_EQ_INT(st.send_failed, 0);
    CHECK(w.up[0][1] && w.up[1][0]);
    net_free(&w);
}

TEST(a_restarted_peer_that_does_not_dial_gets_the_queued_messages_or_reports)
{
    net w;
    connect2(&w);
    REQUIRE(w.up[0][1]);
    /* node 1 restarts (fresh state, same identity); node 0 only sends */
    weft_engine_del(w.e[1]);
    w.e[1] = NULL;
    REQUIRE(net_make_node(&w, 1, "mesh") == 0);
    int64_t ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "q", 1,
                                  WEFT_SEND_RECEIPT, w.now);
        REQUIRE(ids[i] > 0);
    }
    net_run_until(&w, w.now + 15000000);
    /* each message ends in exactly one outcome at node 0: delivered to
     * the new incarnation, or reported */
    for (int i = 0; i < 3; i++) {
        int delivered = net_outcome_count(&w, 0, WEFT_EV_DELIVERED, 0, (uint64_t)ids[i]);
        int failed = net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, 0, (uint64_t)ids[i]);
        CHECK_EQ_INT(delivered + failed, 1);
    }
    CHECK(w.msgs[1] <= 3);
    /* and node 0 can reach the new incarnation afterwards */
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 500000);
    int64_t id = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "again", 5,
                                  WEFT_SEND_RECEIPT, w.now);
    REQUIRE(id > 0);
    net_run_until(&w, w.now + 500000);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_DELIVERED, 0, (uint64_t)id), 1);
    net_free(&w);
}

/* Drops about one membership datagram in ten (a fixed pattern: the run
 * replays). */
static int lossy_count;
static int lossy_membership(net *w, net_pkt *p)
{
    (void)w;
    return !(p->data[0] == 0x20 && ++lossy_count % 10 == 3);
}

TEST(membership_wan_profile_converges_and_detects_a_failure_under_loss)
{
    net w;
    memset(&w, 0, sizeof w);
    w.n = 4;
    w.now = 1000000;
    w.membership = 1;
    w.membership_profile = WEFT_PROFILE_WAN;
    for (int i = 0; i < 4; i++)
        REQUIRE(net_make_node(&w, i, "mesh") == 0);
    lossy_count = 0;
    w.mangle = lossy_membership;
    for (int i = 1; i < 4; i++)
        CHECK(weft_membership_join(w.e[i], &w.addr[0], w.now) == 0);
    /* WAN: probes every 5 s, gossip every 500 ms: a full view well within
     * a minute of simulated time */
    uint64_t t0 = w.now, conv = 0;
    for (int s = 0; s < 60 && !conv; s++) {
        net_run_until(&w, w.now + 1000000);
        int all = 1;
        for (int i = 0; i < 4; i++)
            all &= alive_count(w.e[i]) == 4;
        if (all)
            conv = w.now - t0;
    }
    CHECK(conv > 0);
    /* node 3 crashes: every survivor declares it failed, no one else */
    weft_engine_del(w.e[3]);
    w.e[3] = NULL;
    w.drop_to[3] = 1;
    t0 = w.now;
    uint64_t det = 0;
    for (int s = 0; s < 180 && !det; s++) {
        net_run_until(&w, w.now + 1000000);
        int all = 1;
        for (int i = 0; i < 3; i++) {
            weft_member m;
            all &= weft_membership_find(w.e[i], &w.id[3], &m) == 0 &&
                   m.state == WEFT_MEMBER_DEAD;
        }
        if (all)
            det = w.now - t0;
    }
    CHECK(det > 0);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ_INT(w.member_ev[i][WEFT_EV_MEMBER_FAILED - WEFT_EV_MEMBER_JOINED], 1);
        CHECK_EQ_INT(alive_count(w.e[i]), 3);
    }
    fprintf(stderr, "  wan, 4 nodes, 10%% loss: converged in %.1f s, failure seen by all "
            "in %.1f s\n", conv / 1e6, det / 1e6);
    net_free(&w);
}

/* Every malformed datagram is dropped and counted under its reason, and
 * the session it arrives on carries on. */
TEST(malformed_datagrams_are_counted_under_their_reason)
{
    net w;
    connect2(&w);
    REQUIRE(w.up[0][1]);
    weft_engine *e = w.e[1];
    const weft_addr *from = &w.addr[0];
    weft_stats st0, st;
    weft_engine_stats(e, &st0);
    uint8_t b[200];
    memset(b, 0, sizeof b);
    CHECK(weft_engine_recv(e, from, b, 0, w.now) == WEFT_ERR_PROTO);       /* empty */
    b[0] = 0x7f;                                                            /* no owner */
    CHECK(weft_engine_recv(e, from, b, 10, w.now) == WEFT_ERR_PROTO);
    b[0] = 0x05;                                                            /* unassigned */
    CHECK(weft_engine_recv(e, from, b, 10, w.now) == WEFT_ERR_PROTO);
    b[0] = 0x10;                                                            /* DATA, short */
    CHECK(weft_engine_recv(e, from, b, 20, w.now) == WEFT_ERR_PROTO);
    b[0] = 0x02;                                                            /* HS_RESP, short */
    CHECK(weft_engine_recv(e, from, b, 100, w.now) == WEFT_ERR_PROTO);
    b[0] = 0x03;                                                            /* HS_FIN v9 */
    b[1] = 9;
    CHECK(weft_engine_recv(e, from, b, 134, w.now) == WEFT_ERR_VERSION);
    b[0] = 0x04;                                                            /* COOKIE */
    b[1] = 2;
    CHECK(weft_engine_recv(e, from, b, 54, w.now) == WEFT_ERR_UNKNOWN_SESSION);
    b[0] = 0x10;                                                            /* DATA, idx 0 */
    CHECK(weft_engine_recv(e, from, b, 60, w.now) == WEFT_ERR_UNKNOWN_SESSION);
    weft_engine_stats(e, &st);
    CHECK_EQ_INT(st.drop_malformed - st0.drop_malformed, 6);
    CHECK_EQ_INT(st.drop_unknown - st0.drop_unknown, 2);
    CHECK_EQ_INT(st.pkts_in - st0.pkts_in, 8);
    /* misuse of the pump */
    CHECK(weft_engine_recv(NULL, from, b, 1, w.now) == WEFT_ERR_INVAL);
    CHECK(weft_engine_recv(e, NULL, b, 1, w.now) == WEFT_ERR_INVAL);
    CHECK(weft_engine_recv(e, from, NULL, 1, w.now) == WEFT_ERR_INVAL);
    CHECK(weft_engine_handle_expiry(NULL, w.now) == WEFT_ERR_INVAL);
    /* the session is untouched; a write into a buffer too small for a
     * packet is BUFSMALL, and the data waits for the next write */
    CHECK(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "still", 5, 0, w.now) > 0);
    weft_addr to;
    CHECK(weft_engine_write(w.e[0], &to, b, 40, w.now) == WEFT_ERR_BUFSMALL);
    net_run_until(&w, w.now + 100000);
    CHECK_EQ_INT(w.msgs[1], 1);
    net_free(&w);
}

/* Each invalid field of the configuration is refused on its own. */
static void bad_mtu_initial(weft_config *c) { c->mtu_initial = 500; }
static void bad_mtu_max(weft_config *c) { c->mtu_max = 1000; }
static void huge_mtu(weft_config *c) { c->mtu_max = 65535; }
static void no_sessions(weft_config *c) { c->max_sessions = 0; }
static void huge_message(weft_config *c) { c->max_message_bytes = (1u << 30) + 1; }
static void no_unreachable(weft_config *c) { c->unreachable_ms = 0; }
static void no_keepalive(weft_config *c) { c->keepalive_ms = 0; }
static void no_hs_timeout(weft_config *c) { c->handshake_timeout_ms = 0; }
static void small_window(weft_config *c) { c->recv_window_bytes = 65535; }
static void no_queue(weft_config *c) { c->max_queued_bytes = 0; }
static void no_half_open(weft_config *c) { c->half_open_max = 0; }
static void no_half_open_ip(weft_config *c) { c->half_open_per_addr = 0; }

TEST(every_invalid_config_field_is_refused)
{
    void (*const bad[])(weft_config *) = {bad_mtu_initial, bad_mtu_max, huge_mtu, no_sessions,
                                          huge_message, no_unreachable, no_keepalive,
                                          no_hs_timeout, small_window, no_queue, no_half_open,
                                          no_half_open_ip};
    weft_env env = {NULL, weft_crypto_sodium(), {NULL, net_rand}, NULL, NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        weft_config cfg;
        net_config(&cfg, 0, "mesh");
        bad[i](&cfg);
        weft_engine *e = (weft_engine *)&cfg; /* must be cleared on failure */
        CHECK_EQ_INT(weft_engine_new(&e, &cfg, &env, 0), WEFT_ERR_CONFIG);
        CHECK(e == NULL);
    }
    weft_config cfg;
    net_config(&cfg, 0, "mesh");
    weft_engine *e = NULL;
    CHECK(weft_engine_new_versioned(&e, 99, &cfg, &env, 0) == WEFT_ERR_VERSION_MISMATCH);
    CHECK(weft_engine_new(&e, NULL, &env, 0) == WEFT_ERR_INVAL);
    CHECK(weft_engine_new(&e, &cfg, NULL, 0) == WEFT_ERR_INVAL);
    weft_env nocrypto = {NULL, NULL, {NULL, net_rand}, NULL, NULL};
    CHECK(weft_engine_new(&e, &cfg, &nocrypto, 0) == WEFT_ERR_INVAL);
    CHECK(weft_engine_new(NULL, &cfg, &env, 0) == WEFT_ERR_INVAL);
    /* a valid one; stats asked with a version it does not know are left
     * as they were */
    REQUIRE(weft_engine_new(&e, &cfg, &env, 0) == 0);
    weft_stats st;
    memset(&st, 0xab, sizeof st);
    weft_engine_stats_versioned(e, 99, &st);
    CHECK_EQ_INT(st.pkts_in, 0xababababababababull);
    weft_peer_info pi;
    weft_node_id nobody;
    memset(&nobody, 7, sizeof nobody);
    CHECK(weft_engine_peer_info(e, &nobody, &pi) == WEFT_ERR_NO_PEER);
    CHECK(weft_engine_close_peer(e, &nobody, 0) == WEFT_ERR_NO_PEER);
    CHECK(weft_engine_peer_at(e, 0, &pi) < 0);
    CHECK_EQ_INT(weft_engine_expiry(e), UINT64_MAX);
    /* NULL where something is needed */
    weft_addr to;
    uint8_t out[2048];
    CHECK(weft_engine_peer_info(e, NULL, &pi) == WEFT_ERR_INVAL);
    CHECK(weft_engine_peer_at(e, 0, NULL) == WEFT_ERR_INVAL);
    CHECK(weft_engine_write(e, NULL, out, sizeof out, 0) == WEFT_ERR_INVAL);
    CHECK(weft_engine_write(e, &to, NULL, sizeof out, 0) == WEFT_ERR_INVAL);
    CHECK(weft_engine_close_peer(e, NULL, 0) == WEFT_ERR_INVAL);
    CHECK_EQ_INT(weft_engine_peer_count(NULL), 0);
    /* a buffer too small for the next datagram: BUFSMALL, and the
     * datagram waits for a large enough one */
    weft_addr peer;
    REQUIRE(weft_addr_parse(&peer, "127.0.0.9:9") == 0);
    REQUIRE(weft_engine_connect(e, &peer, 0) == 0);
    CHECK(weft_engine_write(e, &to, out, 100, 0) == WEFT_ERR_BUFSMALL);
    CHECK(weft_engine_write(e, &to, out, sizeof out, 0) == 176); /* the HS_INIT */
    CHECK(weft_addr_eq(&to, &peer));
    weft_engine_del(e);
    weft_engine_del(NULL);
    /* config defaults of an unknown version leave the struct alone */
    memset(&cfg, 0x5a, sizeof cfg);
    weft_config_default_versioned(99, &cfg);
    CHECK_EQ_INT(cfg.max_sessions, 0x5a5a5a5a);
    weft_config_default_versioned(WEFT_CONFIG_VERSION, NULL); /* no crash */
}

int main(void)
{
    RUN(handshake_establishes_both_ways);
    RUN(wrong_network_key_gets_no_session);
    RUN(messages_of_every_kind_arrive);
    RUN(large_message_is_fragmented_and_reassembled);
    RUN(tampered_packets_are_dropped_and_counted);
    RUN(replayed_and_truncated_packets_are_dropped);
    RUN(silent_peer_is_reported_unreachable);
    RUN(dial_to_nobody_fails_with_unreachable);
    RUN(close_is_seen_by_the_peer);
    RUN(rekey_keeps_the_session_and_its_messages);
    RUN(rekey_after_a_packet_count);
    RUN(misuse_returns_clear_errors);
    RUN(addresses_and_ids_format_and_parse);
    RUN(membership_join_meta_failure_and_leave);
    RUN(membership_ignores_nodes_without_the_key);
    RUN(receipt_comes_only_after_the_application_polled);
    RUN(every_queued_message_fails_when_the_peer_goes_down);
    RUN(a_receipt_still_awaited_fails_on_close);
    RUN(a_restarted_peer_gets_the_unfinished_messages_and_reports_the_rest);
    RUN(close_fails_what_is_still_queued);
    RUN(messages_carry_their_channel);
    RUN(send_to_a_member_opens_a_session_on_demand);
    RUN(events_stay_valid_when_packets_arrive_before_the_application_polls);
    RUN(wrong_network_key_is_reported_once_with_its_address);
    RUN(replayed_handshake_starts_neither_lock_out_nor_amplify);
    RUN(send_back_pressure_is_again_and_loses_nothing);
    RUN(path_mtu_falls_back_after_lost_probes_and_large_messages_still_arrive);
    RUN(a_full_receive_buffer_refuses_packets_and_they_are_resent);
    RUN(a_restarted_peer_that_does_not_dial_gets_the_queued_messages_or_reports);
    RUN(membership_wan_profile_converges_and_detects_a_failure_under_loss);
    RUN(malformed_datagrams_are_counted_under_their_reason);
    RUN(every_invalid_config_field_is_refused);
    TEST_MAIN_END();
}
