/*
 * test_handshake.c -- src/core/handshake.c through the engine: every
 * handshake rejection and limit is counted under its reason and leaves the
 * node able to make the sessions it should (an identity that does not bind
 * the Noise static key, a forged msg2 or msg3, dialling ourselves, the
 * handshake rate limit, max_sessions, the half-open caps per address and
 * in total with eviction), and the expiries users rely on: a half-open slot
 * goes, an idle session closes, a failed rekey keeps the session, and
 * packets sealed under the previous keys are still opened after a rekey.
 * Engines in one process (tests/enginenet.h), real crypto.
 */
#include <string.h>

#include "test.h"

#include "core/engine_internal.h"
#include "enginenet.h"
#include "weft/module.h"

enum { HS_RESP_MAC1 = 154, HS_FIN_MAC1 = 118, HS_INIT_LEN = 176 };

/* n nodes with the config from `tweak` (may be NULL) for node `who`. */
static void setup_n(net *w, int n, int who, void (*tweak)(weft_config *))
{
    memset(w, 0, sizeof *w);
    w->n = n;
    w->now = 1000000;
    for (int i = 0; i < n; i++) {
        weft_config cfg;
        net_config(&cfg, i, "mesh");
        if (i == who && tweak)
            tweak(&cfg);
        memset(&w->addr[i], 0, sizeof w->addr[i]);
        w->addr[i].family = 4;
        w->addr[i].ip[0] = 127;
        w->addr[i].ip[3] = (uint8_t)(i + 1);
        w->addr[i].port = 7000;
        if (net_make_node_cfg(w, i, &cfg) < 0)
            abort();
    }
}

/* setup_n, then node 0 dials node 1: 1 when both see the session. */
static int connected(net *w, int n, int who, void (*tweak)(weft_config *))
{
    setup_n(w, n, who, tweak);
    weft_engine_connect(w->e[0], &w->addr[1], w->now);
    net_run_until(w, w->now + 200000);
    return w->up[0][1] && w->up[1][0];
}

static weft_stats stats(net *w, int i)
{
    weft_stats st;
    weft_engine_stats(w->e[i], &st);
    return st;
}

/* mac1 of a handshake packet under engine e's network key. */
static void fix_mac1(const weft_engine *e, uint8_t *pkt, size_t mac_off)
{
    weft_iov iov = {pkt, mac_off};
    e->c->mac(e->c->ctx, pkt + mac_off, 16, e->mac1_key, 32, &iov, 1);
}

/* --- identities and forged messages ------------------------------------ */

TEST(an_identity_that_does_not_bind_the_static_key_is_refused)
{
    net w;
    memset(&w, 0, sizeof w);
    w.n = 2;
    w.now = 1000000;
    REQUIRE(net_make_node(&w, 0, "mesh") == 0);
    /* node 1 claims node 2's Ed25519 public key with its own secret: its
     * Noise static key (from the secret) does not map to the claim */
    weft_config cfg, other;
    net_config(&cfg, 1, "mesh");
    net_config(&other, 2, "mesh");
    memcpy(cfg.identity_secret + 32, other.identity_secret + 32, 32);
    w.addr[1] = w.addr[0];
    w.addr[1].ip[3] = 2;
    REQUIRE(net_make_node_cfg(&w, 1, &cfg) == 0);
    /* both directions: the claim is in msg3 (node 1 dials) and in msg2
     * (node 0 dials) */
    weft_engine_connect(w.e[1], &w.addr[0], w.now);
    net_run_until(&w, w.now + 500000);
    CHECK(!w.up[0][1]); /* node 0 refused msg3 */
    CHECK(stats(&w, 0).handshakes_failed >= 1);
    CHECK_EQ_INT(stats(&w, 0).sessions, 0);
    uint64_t failed0 = stats(&w, 0).handshakes_failed;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 500000);
    CHECK(stats(&w, 0).handshakes_failed > failed0);
    CHECK_EQ_INT(stats(&w, 0).sessions, 0);
    CHECK_EQ_INT(stats(&w, 0).handshakes_ok, 0);
    net_free(&w);
}

/* Flips a byte inside the Noise part of every packet of type `forge_type`
 * (with a valid mac1: the forger has the network key) until `forge_left`
 * runs out. */
static uint8_t forge_type;
static int forge_left;
static int forge(net *w, net_pkt *p)
{
    if (forge_left > 0 && p->data[0] == forge_type) {
        forge_left--;
        size_t mac_off = forge_type == 2 ? HS_RESP_MAC1 : HS_FIN_MAC1;
        p->data[40] ^= 0x20; /* in the encrypted static key */
        fix_mac1(w->e[p->to], p->data, mac_off);
    }
    return 1;
}

TEST(a_forged_msg2_is_counted_and_the_genuine_one_still_completes)
{
    net w;
    setup_n(&w, 2, -1, NULL);
    forge_type = 2;
    forge_left = 1;
    w.mangle = forge;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 3000000);
    /* the forged msg2 failed node 0's check; the resent msg1 got a
     * genuine msg2 and the session came up */
    CHECK_EQ_INT(forge_left, 0);
    CHECK(stats(&w, 0).handshakes_failed >= 1);
    CHECK(w.up[0][1] && w.up[1][0]);
    CHECK_EQ_INT(stats(&w, 0).handshakes_ok, 1);
    net_free(&w);
}

TEST(a_forged_msg3_is_counted_and_frees_the_half_open_slot)
{
    net w;
    setup_n(&w, 2, -1, NULL);
    forge_type = 3;
    forge_left = 1000;
    w.mangle = forge;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 200000);
    CHECK(stats(&w, 1).handshakes_failed >= 1);
    CHECK(!w.up[1][0]);
    CHECK_EQ_INT(stats(&w, 1).sessions, 0);
    CHECK_EQ_INT(stats(&w, 1).half_open, 0);
    /* once msg3 is no longer forged, a new attempt succeeds */
    forge_left = 0;
    net_run_until(&w, w.now + 6000000);
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 2000000);
    CHECK(w.up[1][0]);
    net_free(&w);
}

TEST(dialling_ourselves_fails_and_is_counted)
{
    net w;
    setup_n(&w, 1, -1, NULL);
    REQUIRE(weft_engine_connect(w.e[0], &w.addr[0], w.now) == 0);
    net_run_until(&w, w.now + 500000);
    CHECK(stats(&w, 0).handshakes_failed >= 1);
    CHECK_EQ_INT(stats(&w, 0).sessions, 0);
    CHECK(w.hs_failed[0] >= 1);
    CHECK_EQ_INT(w.hs_failed_error[0], WEFT_ERR_HANDSHAKE);
    /* a message to ourselves has no session */
    CHECK(weft_engine_send(w.e[0], &w.id[0], WEFT_CHANNEL_APP, "x", 1, 0, w.now) ==
          WEFT_ERR_NO_PEER);
    net_free(&w);
}

/* --- budgets and caps ------------------------------------------------------ */

static void one_per_second(weft_config *c)
{
    c->handshake_rate_per_s = 2;
}

TEST(the_handshake_rate_limit_drops_and_counts_then_lets_through)
{
    net w;
    setup_n(&w, 4, 0, one_per_second);
    /* three nodes dial node 0 at once: its budget (2/s) is spent by the
     * first; the others get cookies, then rate limiting, then, as tokens
     * come back, their sessions */
    for (int i = 1; i < 4; i++)
        weft_engine_connect(w.e[i], &w.addr[0], w.now);
    net_run_until(&w, w.now + 300000);
    weft_stats st = stats(&w, 0);
    CHECK(st.cookies_sent + st.drop_ratelimit >= 1);
    net_run_until(&w, w.now + 5000000);
    st = stats(&w, 0);
    CHECK(st.drop_ratelimit >= 1);
    CHECK_EQ_INT(st.sessions, 3);
    for (int i = 1; i < 4; i++)
        CHECK(w.up[0][i] && w.up[i][0]);
    net_free(&w);
}

static void one_session(weft_config *c)
{
    c->max_sessions = 1;
}

TEST(max_sessions_refuses_dials_and_answers_and_counts)
{
    net w;
    REQUIRE(connected(&w, 3, 0, one_session));
    /* our own dial is refused with LIMIT */
    CHECK(weft_engine_connect(w.e[0], &w.addr[2], w.now) == WEFT_ERR_LIMIT);
    /* a dial to us is refused once msg3 says who it is, and counted; the
     * dialler (which completed on its side with msg3) then finds its
     * session dead */
    uint64_t before = stats(&w, 0).drop_ratelimit;
    weft_engine_connect(w.e[2], &w.addr[0], w.now);
    net_run_until(&w, w.now + 200000);
    CHECK(stats(&w, 0).drop_ratelimit > before);
    CHECK_EQ_INT(stats(&w, 0).sessions, 1);
    CHECK(!w.up[0][2]);
    net_run_until(&w, w.now + 5000000);
    CHECK(!w.up[2][0]);
    CHECK_EQ_INT(w.down_reason[2][0], WEFT_ERR_UNREACHABLE);
    CHECK_EQ_INT(stats(&w, 0).sessions, 1);
    /* the session it has still works */
    CHECK(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "ok", 2, 0, w.now) > 0);
    net_run_until(&w, w.now + 100000);
    CHECK_EQ_INT(w.msgs[1], 1);
    net_free(&w);
}

/* An HS_INIT from `from` with the mac2 that e's cookie for that address
 * gives (what an initiator holds after a cookie reply). */
static void add_mac2(const weft_engine *e, const weft_addr *from, uint8_t *pkt)
{
    uint8_t b[19], cookie[16];
    b[0] = from->family;
    b[1] = (uint8_t)from->port;
    b[2] = (uint8_t)(from->port >> 8);
    memcpy(b + 3, from->ip, 16);
    weft_iov iov = {b, sizeof b};
    e->c->mac(e->c->ctx, cookie, 16, e->cookie_secret, 32, &iov, 1);
    weft_iov m = {pkt, 160};
    e->c->mac(e->c->ctx, pkt + 160, 16, cookie, 16, &m, 1);
}

/* Genuine HS_INITs (each from a fresh handshake of node 0 to a made-up
 * address, so each has its own index and ephemeral key). */
static int make_inits(net *w, uint8_t (*out)[HS_INIT_LEN], int n)
{
    int got = 0;
    for (int k = 0; k < n; k++) {
        weft_addr fake = w->addr[1];
        fake.ip[2] = 9;
        fake.ip[3] = (uint8_t)(k + 1);
        if (weft_engine_connect(w->e[0], &fake, w->now) < 0)
            break;
        uint8_t buf[65536];
        weft_addr to;
        ptrdiff_t len;
        while ((len = weft_engine_write(w->e[0], &to, buf, sizeof buf, w->now)) > 0)
            if (len == HS_INIT_LEN && buf[0] == 1 && got < n)
                memcpy(out[got++], buf, HS_INIT_LEN);
    }
    return got;
}

static void small_half_open(weft_config *c)
{
    c->half_open_max = 6;
    c->half_open_per_addr = 2;
    c->handshake_rate_per_s = 100000; /* never under load: no cookies */
}

TEST(half_open_caps_per_address_and_in_total_evict_the_oldest)
{
    net w;
    setup_n(&w, 3, 1, small_half_open);
    static uint8_t inits[20][HS_INIT_LEN];
    REQUIRE(make_inits(&w, inits, 20) == 20);
    /* five from one IP (different ports): two slots for it, the oldest
     * evicted each time */
    for (int k = 0; k < 5; k++) {
        weft_addr from = w.addr[0];
        from.ip[2] = 50;
        from.port = (uint16_t)(2000 + k);
        weft_engine_recv(w.e[1], &from, inits[k], HS_INIT_LEN, w.now);
        w.now += 1000;
    }
    weft_stats st = stats(&w, 1);
    CHECK_EQ_INT(st.half_open, 2);
    CHECK_EQ_INT(st.half_open_evicted, 3);
    /* one more from another IP takes a third slot; with half the slots
     * taken node 1 is under load, so an HS_INIT without mac2 now gets a
     * cookie reply and no slot */
    weft_addr from = w.addr[0];
    from.ip[2] = 60;
    from.ip[3] = 5;
    weft_engine_recv(w.e[1], &from, inits[5], HS_INIT_LEN, w.now);
    CHECK_EQ_INT(stats(&w, 1).half_open, 3);
    uint64_t cookies = stats(&w, 1).cookies_sent;
    from.ip[3] = 6;
    weft_engine_recv(w.e[1], &from, inits[6], HS_INIT_LEN, w.now);
    CHECK_EQ_INT(stats(&w, 1).cookies_sent, cookies + 1);
    CHECK_EQ_INT(stats(&w, 1).half_open, 3);
    /* with the cookie's mac2, from ten IPs: six slots in all, the oldest
     * evicted past them */
    for (int k = 6; k < 16; k++) {
        from.ip[3] = (uint8_t)k;
        add_mac2(w.e[1], &from, inits[k]);
        weft_engine_recv(w.e[1], &from, inits[k], HS_INIT_LEN, w.now);
        w.now += 1000;
    }
    st = stats(&w, 1);
    CHECK_EQ_INT(st.half_open, 6);
    CHECK_EQ_INT(st.half_open_evicted, 3 + 7);
    /* a wrong mac2 is counted, and answered with a cookie */
    uint64_t bad = st.drop_bad_cookie;
    from.ip[3] = 16;
    add_mac2(w.e[1], &from, inits[16]);
    inits[16][170] ^= 1;
    weft_engine_recv(w.e[1], &from, inits[16], HS_INIT_LEN, w.now);
    CHECK_EQ_INT(stats(&w, 1).drop_bad_cookie, bad + 1);
    /* a real node still gets through: the newest slot is its own */
    w.qn = 0;
    weft_engine_connect(w.e[2], &w.addr[1], w.now);
    net_run_until(&w, w.now + 200000);
    CHECK(w.up[1][2] && w.up[2][1]);
    /* and the half-open slots expire with unreachable_ms (3 s) */
    net_run_until(&w, w.now + 3500000);
    CHECK_EQ_INT(stats(&w, 1).half_open, 0);
    CHECK(w.up[1][2]);
    net_free(&w);
}

/* --- expiry ------------------------------------------------------------------ */

static void short_idle(weft_config *c)
{
    c->idle_timeout_ms = 2000;
}

TEST(an_idle_session_closes_after_idle_timeout_and_a_busy_one_does_not)
{
    net w;
    REQUIRE(connected(&w, 2, 0, short_idle));
    /* messages every 500 ms for 4 s: keepalives alone do not count, these
     * do */
    for (int i = 0; i < 8; i++) {
        weft_engine_send(w.e[1], &w.id[0], WEFT_CHANNEL_APP, "busy", 4, 0, w.now);
        net_run_until(&w, w.now + 500000);
    }
    CHECK(w.up[0][1]);
    /* then silence (keepalives go on): closed as expired */
    net_run_until(&w, w.now + 2600000);
    CHECK(!w.up[0][1]);
    CHECK_EQ_INT(w.down_reason[0][1], WEFT_ERR_EXPIRED);
    CHECK_EQ_INT(stats(&w, 0).sessions, 0);
    net_free(&w);
}

static int drop_handshakes;
static int drop_hs(net *w, net_pkt *p)
{
    (void)w;
    return !(drop_handshakes && p->data[0] >= 1 && p->data[0] <= 4);
}

static void fast_rekey(weft_config *c)
{
    c->rekey_after_ms = 1000;
}

TEST(a_failed_rekey_keeps_the_session_and_the_next_one_succeeds)
{
    net w;
    setup_n(&w, 2, 0, fast_rekey);
    w.mangle = drop_hs;
    drop_handshakes = 0;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    uint64_t ok0 = stats(&w, 0).handshakes_ok;
    /* every rekey handshake is lost for 5 s (unreachable_ms is 3 s) */
    drop_handshakes = 1;
    for (int i = 0; i < 10; i++) {
        CHECK(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "k", 1, 0, w.now) > 0);
        net_run_until(&w, w.now + 500000);
    }
    CHECK(stats(&w, 0).handshakes_failed >= 1);
    CHECK_EQ_INT(stats(&w, 0).handshakes_ok, ok0);
    CHECK(w.up[0][1] && w.up[1][0]); /* the old keys carried on */
    CHECK_EQ_INT(w.msgs[1], 10);
    drop_handshakes = 0;
    net_run_until(&w, w.now + 3000000);
    CHECK(stats(&w, 0).handshakes_ok > ok0);
    weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "k", 1, 0, w.now);
    net_run_until(&w, w.now + 100000);
    CHECK_EQ_INT(w.msgs[1], 11);
    net_free(&w);
}

/* Holds back the first DATA packet from node 0 after `hold_armed` is
 * set, to deliver it later by hand. */
static int hold_armed;
static net_pkt held;
static int have_held;
static int hold_data(net *w, net_pkt *p)
{
    (void)w;
    if (hold_armed && !have_held && p->data[0] == 0x10 && p->to == 1 && p->len > 40) {
        held = *p;
        have_held = 1;
        return 0;
    }
    return 1;
}

TEST(packets_under_the_previous_keys_are_opened_after_a_rekey_for_a_while)
{
    net w;
    setup_n(&w, 2, 0, fast_rekey);
    w.mangle = hold_data;
    hold_armed = have_held = 0;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    /* a message whose only packet is held back (and never resent, being
     * unreliable) under the first keys */
    hold_armed = 1;
    static const char msg[] = "sealed under the first keys";
    weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, msg, sizeof msg, WEFT_SEND_UNRELIABLE,
                     w.now);
    net_run_until(&w, w.now + 50000);
    REQUIRE(have_held);
    hold_armed = 0;
    /* a rekey completes */
    uint64_t ok0 = stats(&w, 1).handshakes_ok;
    net_run_until(&w, w.now + 1500000);
    REQUIRE(stats(&w, 1).handshakes_ok > ok0);
    uint64_t msgs0 = w.msgs[1];
    weft_engine_recv(w.e[1], &held.from, held.data, held.len, w.now);
    net_drain_events(&w, 1);
    CHECK_EQ_INT(w.msgs[1], msgs0 + 1);
    CHECK(memcmp(w.last_msg[1], msg, sizeof msg) == 0);
    /* the same packet again is a replay, under the old keys too */
    uint64_t replays = stats(&w, 1).drop_replay;
    weft_engine_recv(w.e[1], &held.from, held.data, held.len, w.now);
    CHECK_EQ_INT(stats(&w, 1).drop_replay, replays + 1);
    net_free(&w);
}

TEST(the_previous_keys_are_forgotten_after_ten_seconds)
{
    net w;
    setup_n(&w, 2, 0, NULL);
    w.mangle = hold_data;
    hold_armed = have_held = 0;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    hold_armed = 1;
    weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "late", 4, WEFT_SEND_UNRELIABLE, w.now);
    net_run_until(&w, w.now + 50000);
    REQUIRE(have_held);
    hold_armed = 0;
    /* node 0 dials again: a rekey on demand (the session stays) */
    uint64_t ok0 = stats(&w, 1).handshakes_ok;
    weft__peer *p = weft__peer_find(w.e[0], &w.id[1]);
    REQUIRE(p != NULL);
    REQUIRE(weft__hs_start(w.e[0], p, w.now) == 0);
    net_run_until(&w, w.now + 200000);
    REQUIRE(stats(&w, 1).handshakes_ok > ok0);
    /* 11 s later the first keys are gone */
    net_run_until(&w, w.now + 11000000);
    REQUIRE(w.up[1][0]);
    uint64_t unknown = stats(&w, 1).drop_unknown, msgs0 = w.msgs[1];
    weft_engine_recv(w.e[1], &held.from, held.data, held.len, w.now);
    CHECK_EQ_INT(stats(&w, 1).drop_unknown, unknown + 1);
    CHECK_EQ_INT(w.msgs[1], msgs0);
    net_free(&w);
}

/* --- crossing dials, a lost confirmation ------------------------------- */

TEST(simultaneous_dials_give_one_session_each_way)
{
    net w;
    setup_n(&w, 2, -1, NULL);
    REQUIRE(weft_engine_connect(w.e[0], &w.addr[1], w.now) == 0);
    REQUIRE(weft_engine_connect(w.e[1], &w.addr[0], w.now) == 0);
    net_run_until(&w, w.now + 500000);
    CHECK(w.up[0][1] && w.up[1][0]);
    CHECK_EQ_INT(stats(&w, 0).sessions, 1);
    CHECK_EQ_INT(stats(&w, 1).sessions, 1);
    CHECK_EQ_INT(weft_engine_peer_count(w.e[0]), 1);
    CHECK(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "a", 1, 0, w.now) > 0);
    CHECK(weft_engine_send(w.e[1], &w.id[0], WEFT_CHANNEL_APP, "b", 1, 0, w.now) > 0);
    net_run_until(&w, w.now + 200000);
    CHECK_EQ_INT(w.msgs[0], 1);
    CHECK_EQ_INT(w.msgs[1], 1);
    CHECK_EQ_INT(stats(&w, 0).sessions, 1);
    net_free(&w);
}

/* Drops the responder's first DATA packets (its confirmation of msg3). */
static int drop_confirm;
static int drop_first_data_from_1(net *w, net_pkt *p)
{
    if (drop_confirm > 0 && p->data[0] == 0x10 && weft_addr_eq(&p->from, &w->addr[1])) {
        drop_confirm--;
        return 0;
    }
    return 1;
}

TEST(a_lost_confirmation_makes_the_initiator_resend_msg3_and_it_is_answered)
{
    net w;
    setup_n(&w, 2, -1, NULL);
    drop_confirm = 2;
    w.mangle = drop_first_data_from_1;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 2000000);
    CHECK_EQ_INT(drop_confirm, 0);
    CHECK(w.up[0][1] && w.up[1][0]);
    /* the resent msg3 was recognised (answered, not dropped as unknown),
     * and the session carries data both ways */
    CHECK_EQ_INT(stats(&w, 1).drop_unknown, 0);
    CHECK_EQ_INT(stats(&w, 1).handshakes_ok, 1);
    CHECK(weft_engine_send(w.e[1], &w.id[0], WEFT_CHANNEL_APP, "b", 1, 0, w.now) > 0);
    CHECK(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "a", 1, 0, w.now) > 0);
    net_run_until(&w, w.now + 200000);
    CHECK_EQ_INT(w.msgs[0], 1);
    CHECK_EQ_INT(w.msgs[1], 1);
    net_free(&w);
}

/* --- a bad cookie, the wrong node ---------------------------------------- */

TEST(a_cookie_that_does_not_open_is_counted_and_ignored)
{
    net w;
    setup_n(&w, 2, -1, NULL);
    w.drop_to[1] = 1; /* node 0 dials, nobody answers */
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    uint8_t buf[65536];
    weft_addr to;
    ptrdiff_t n = weft_engine_write(w.e[0], &to, buf, sizeof buf, w.now);
    REQUIRE(n == HS_INIT_LEN);
    /* a COOKIE for that HS_INIT whose sealed part is not sealed for it */
    uint8_t ck[54];
    memset(ck, 0x5a, sizeof ck);
    ck[0] = 4;
    ck[1] = 2;
    memcpy(ck + 2, buf + 2, 4); /* the initiator's index */
    uint64_t dec = stats(&w, 0).drop_decrypt;
    CHECK(weft_engine_recv(w.e[0], &w.addr[1], ck, sizeof ck, w.now) == WEFT_ERR_DECRYPT);
    CHECK_EQ_INT(stats(&w, 0).drop_decrypt, dec + 1);
    /* the dial goes on as before: it fails only when unreachable */
    net_run_until(&w, w.now + 4000000);
    CHECK_EQ_INT(w.hs_failed_error[0], WEFT_ERR_UNREACHABLE);
    net_free(&w);
}

/* A module that says every node is at one address (a stale membership
 * view: the address now belongs to someone else). */
static weft_addr stale_addr;
static int stale_resolve(void *m, const weft_node_id *id, weft_addr *out)
{
    (void)m;
    (void)id;
    *out = stale_addr;
    return 0;
}
static const weft_module_ops stale_ops = {
    .version = WEFT_MODULE_OPS_VERSION,
    .name = "stale",
    .resolve = stale_resolve,
};

TEST(a_session_on_demand_to_an_address_that_is_another_node_fails_the_message)
{
    net w;
    setup_n(&w, 3, -1, NULL);
    stale_addr = w.addr[2]; /* node 2 listens where node 1 is believed to be */
    REQUIRE(weft_host_register(w.e[0], &stale_ops, NULL) == 0);
    int64_t id = weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "for node 1", 10,
                                  WEFT_SEND_RECEIPT, w.now);
    REQUIRE(id > 0);
    net_run_until(&w, w.now + 1000000);
    /* never delivered to the wrong node; the message fails */
    CHECK_EQ_INT(w.msgs[2], 0);
    CHECK(stats(&w, 0).handshakes_failed >= 1);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_SEND_FAILED, 0, (uint64_t)id), 1);
    CHECK_EQ_INT(net_outcome_count(&w, 0, WEFT_EV_DELIVERED, 0, (uint64_t)id), 0);
    CHECK(!w.up[0][1]);
    net_free(&w);
}

int main(void)
{
    RUN(an_identity_that_does_not_bind_the_static_key_is_refused);
    RUN(a_forged_msg2_is_counted_and_the_genuine_one_still_completes);
    RUN(a_forged_msg3_is_counted_and_frees_the_half_open_slot);
    RUN(dialling_ourselves_fails_and_is_counted);
    RUN(the_handshake_rate_limit_drops_and_counts_then_lets_through);
    RUN(max_sessions_refuses_dials_and_answers_and_counts);
    RUN(half_open_caps_per_address_and_in_total_evict_the_oldest);
    RUN(an_idle_session_closes_after_idle_timeout_and_a_busy_one_does_not);
    RUN(a_failed_rekey_keeps_the_session_and_the_next_one_succeeds);
    RUN(packets_under_the_previous_keys_are_opened_after_a_rekey_for_a_while);
    RUN(the_previous_keys_are_forgotten_after_ten_seconds);
    RUN(simultaneous_dials_give_one_session_each_way);
    RUN(a_lost_confirmation_makes_the_initiator_resend_msg3_and_it_is_answered);
    RUN(a_cookie_that_does_not_open_is_counted_and_ignored);
    RUN(a_session_on_demand_to_an_address_that_is_another_node_fails_the_message);
    TEST_MAIN_END();
}
