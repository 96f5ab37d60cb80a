/*
 * test_module.c -- protocols are modules: two small ones registered from
 * outside the library through <weft/module.h> alone, the walk-through of
 * docs/ARCHITECTURE.md §Adding a protocol.
 *
 *   echo   owns message channel 0xf0: a question ('Q' + bytes) is answered
 *          with 'A' + the same bytes over the session; an answer becomes
 *          an event of the module's own family for the application.
 *   beep   owns datagram type 0x30: one-byte datagrams outside any
 *          session (the way membership works), sent on request.
 */
#include <string.h>

#include "test.h"
#include "enginenet.h"
#include "weft/module.h"

/* --- echo: a protocol on its own channel -------------------------------- */

#define ECHO_CHANNEL 0x00f0
#define ECHO_EVF 0x10                       /* its event family */
#define ECHO_EV_ANSWER ((ECHO_EVF << 8) | 1) /* u.module.data = the bytes */

typedef struct echo {
    weft_engine *e;
    int peer_ups;        /* PEER_UP events it observed */
    int questions, answers;
    int freed;
} echo;

static echo echo_state[NET_MAX];

static int echo_on_message(void *m, const weft_node_id *from, uint16_t channel,
                           const uint8_t *msg, size_t len, uint32_t flags, uint64_t now_us)
{
    echo *x = m;
    (void)flags;
    if (channel != ECHO_CHANNEL || len < 1)
        return WEFT_ERR_PROTO;
    if (msg[0] == 'Q') {
        uint8_t out[256];
        if (len > sizeof out)
            return WEFT_ERR_TOO_BIG;
        out[0] = 'A';
        memcpy(out + 1, msg + 1, len - 1);
        x->questions++;
        /* sending from a callback is allowed: dispatch is never re-entrant */
        int64_t rc = weft_engine_send(x->e, from, ECHO_CHANNEL, out, len, 0, now_us);
        return rc < 0 ? (int)rc : 0;
    }
    if (msg[0] == 'A') {
        weft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = ECHO_EV_ANSWER;
        ev.peer = *from;
        ev.u.module.channel = ECHO_CHANNEL;
        ev.u.module.data = msg + 1; /* copied by the host */
        ev.u.module.len = len - 1;
        x->answers++;
        return weft_host_emit(x->e, x, &ev);
    }
    return WEFT_ERR_PROTO;
}

static void echo_on_event(void *m, const weft_event *ev, uint64_t now_us)
{
    (void)now_us;
    if (ev->type == WEFT_EV_PEER_UP)
        ((echo *)m)->peer_ups++;
    /* its own answers are not echoed back to it */
    if (ev->type == ECHO_EV_ANSWER)
        abort();
}

static const char *echo_event_name(int type)
{
    return type == ECHO_EV_ANSWER ? "echo-answer" : NULL;
}

static void echo_free(void *m)
{
    ((echo *)m)->freed = 1;
}

static const weft_module_ops echo_ops = {
    .version = WEFT_MODULE_OPS_VERSION,
    .name = "echo",
    .channel_lo = ECHO_CHANNEL,
    .channel_hi = ECHO_CHANNEL,
    .event_family = ECHO_EVF,
    .on_message = echo_on_message,
    .on_event = echo_on_event,
    .event_name = echo_event_name,
    .free = echo_free,
};

/* The module's public call: the application asks a question. */
static int64_t echo_ask(weft_engine *e, const weft_node_id *to, const char *q, uint64_t now_us)
{
    uint8_t b[128];
    size_t n = strlen(q);
    b[0] = 'Q';
    memcpy(b + 1, q, n);
    weft_host_enter(e, now_us);
    int64_t rc = weft_engine_send(e, to, ECHO_CHANNEL, b, n + 1, 0, now_us);
    weft_host_leave(e);
    return rc;
}

/* --- beep: a protocol on its own datagram type --------------------------- */

#define BEEP_PKT 0x30

typedef struct beep {
    weft_addr to;      /* a beep is due to this address */
    int due;
    int heard;
    uint64_t timer_us; /* a module timer: beeps again once at this time */
    int timer_runs;
} beep;

static beep beep_state[NET_MAX];

static int beep_on_datagram(void *m, const weft_addr *from, const uint8_t *pkt, size_t len,
                            uint64_t now_us)
{
    (void)from;
    (void)now_us;
    if (len != 1 || pkt[0] != BEEP_PKT)
        return WEFT_ERR_PROTO;
    ((beep *)m)->heard++;
    return 0;
}

static ptrdiff_t beep_write(void *m, weft_addr *to, uint8_t *buf, size_t cap, uint64_t now_us)
{
    beep *b = m;
    (void)now_us;
    if (!b->due || cap < 1)
        return 0;
    b->due = 0;
    *to = b->to;
    buf[0] = BEEP_PKT;
    return 1;
}

static uint64_t beep_expiry(const void *m)
{
    return ((const beep *)m)->timer_us;
}

static int beep_handle_expiry(void *m, uint64_t now_us)
{
    beep *b = m;
    if (now_us >= b->timer_us) {
        b->timer_us = UINT64_MAX;
        b->timer_runs++;
        b->due = 1;
    }
    return 0;
}

static const weft_module_ops beep_ops = {
    .version = WEFT_MODULE_OPS_VERSION,
    .name = "beep",
    .pkt_type = BEEP_PKT,
    .on_datagram = beep_on_datagram,
    .write = beep_write,
    .expiry = beep_expiry,
    .handle_expiry = beep_handle_expiry,
};

/* --- tests ---------------------------------------------------------------- */

static weft_event answers[8];
static char answer_text[8][64];
static int nanswers;
static void take_answers(net *w, int i, const weft_event *ev)
{
    (void)w;
    if (i == 0 && ev->type == ECHO_EV_ANSWER && nanswers < 8) {
        answers[nanswers] = *ev;
        memcpy(answer_text[nanswers], ev->u.module.data, ev->u.module.len);
        answer_text[nanswers][ev->u.module.len] = 0;
        nanswers++;
    }
}

TEST(echo_module_on_its_own_channel)
{
    net w;
    REQUIRE(net_setup(&w, 2, 0, "mesh") == 0);
    for (int i = 0; i < 2; i++) {
        memset(&echo_state[i], 0, sizeof echo_state[i]);
        echo_state[i].e = w.e[i];
        REQUIRE(weft_host_register(w.e[i], &echo_ops, &echo_state[i]) == 0);
        CHECK(weft_host_module(w.e[i], "echo") == &echo_state[i]);
    }
    nanswers = 0;
    w.on_event = take_answers;
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    CHECK_EQ_INT(echo_state[0].peer_ups, 1);
    CHECK_EQ_INT(echo_state[1].peer_ups, 1);
    CHECK(echo_ask(w.e[0], &w.id[1], "ping?", w.now) > 0);
    net_run_until(&w, w.now + 100000);
    CHECK_EQ_INT(echo_state[1].questions, 1);
    CHECK_EQ_INT(echo_state[0].answers, 1);
    REQUIRE(nanswers == 1);
    CHECK(strcmp(answer_text[0], "ping?") == 0);
    CHECK(memcmp(&answers[0].peer, &w.id[1], sizeof w.id[1]) == 0);
    CHECK(strcmp(weft_event_name(w.e[0], ECHO_EV_ANSWER), "echo-answer") == 0);
    /* the module's channel never reaches the application as a message */
    CHECK_EQ_INT(w.msgs[0], 0);
    CHECK_EQ_INT(w.msgs[1], 0);
    /* application channels still do */
    CHECK(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "app", 3, 0, w.now) > 0);
    net_run_until(&w, w.now + 100000);
    CHECK_EQ_INT(w.msgs[1], 1);
    net_free(&w);
    CHECK(echo_state[0].freed && echo_state[1].freed);
}

TEST(beep_module_owns_a_datagram_type_and_a_timer)
{
    net w;
    REQUIRE(net_setup(&w, 2, 0, "mesh") == 0);
    for (int i = 0; i < 2; i++) {
        memset(&beep_state[i], 0, sizeof beep_state[i]);
        beep_state[i].timer_us = UINT64_MAX;
        REQUIRE(weft_host_register(w.e[i], &beep_ops, &beep_state[i]) == 0);
    }
    /* no session: node 0 beeps node 1 through its own datagram type */
    beep_state[0].to = w.addr[1];
    beep_state[0].due = 1;
    net_run_until(&w, w.now + 10000);
    CHECK_EQ_INT(beep_state[1].heard, 1);
    /* the module's timer joins the engine's expiry */
    beep_state[0].timer_us = w.now + 50000;
    CHECK(weft_engine_expiry(w.e[0]) <= w.now + 50000);
    net_run_until(&w, w.now + 100000);
    CHECK_EQ_INT(beep_state[0].timer_runs, 1);
    CHECK_EQ_INT(beep_state[1].heard, 2);
    weft_stats st;
    weft_engine_stats(w.e[1], &st);
    CHECK_EQ_INT(st.sessions, 0);
    /* a datagram type nobody owns is still malformed */
    uint8_t stray[1] = {0x31};
    CHECK(weft_engine_recv(w.e[1], &w.addr[0], stray, 1, w.now) == WEFT_ERR_PROTO);
    net_free(&w);
}

TEST(registration_refuses_conflicts_and_bad_tables)
{
    net w;
    REQUIRE(net_setup(&w, 1, 1, "mesh") == 0); /* membership holds 0x20 */
    echo x = {0};
    x.e = w.e[0];
    REQUIRE(weft_host_register(w.e[0], &echo_ops, &x) == 0);
    CHECK(weft_host_register(w.e[0], &echo_ops, &x) == WEFT_ERR_EXISTS); /* name */
    weft_module_ops o = echo_ops;
    o.name = "echo2";
    CHECK(weft_host_register(w.e[0], &o, &x) == WEFT_ERR_EXISTS); /* channel */
    o.channel_lo = 0xe0;
    o.channel_hi = 0x1f0;
    CHECK(weft_host_register(w.e[0], &o, &x) == WEFT_ERR_EXISTS); /* overlaps */
    o.channel_lo = 0x200;
    o.channel_hi = 0x100;
    CHECK(weft_host_register(w.e[0], &o, &x) == WEFT_ERR_INVAL); /* lo > hi */
    o = beep_ops;
    o.pkt_type = 0x20;
    CHECK(weft_host_register(w.e[0], &o, &x) == WEFT_ERR_EXISTS); /* membership's */
    o.pkt_type = 0x10;
    CHECK(weft_host_register(w.e[0], &o, &x) == WEFT_ERR_INVAL); /* the core's DATA */
    o.pkt_type = 0x30;
    o.version = 99;
    CHECK(weft_host_register(w.e[0], &o, &x) == WEFT_ERR_INVAL);
    o.version = WEFT_MODULE_OPS_VERSION;
    o.name = "";
    CHECK(weft_host_register(w.e[0], &o, &x) == WEFT_ERR_INVAL);
    CHECK(weft_host_module(w.e[0], "nope") == NULL);
    CHECK(weft_host_module(w.e[0], "membership") != NULL);
    /* a second membership is refused the same way */
    weft_membership_config mc;
    weft_membership_config_default(&mc);
    CHECK(weft_membership_attach(w.e[0], &mc, w.now) == WEFT_ERR_EXISTS);
    net_free(&w);
}

TEST(versioned_structures)
{
    /* a caller built against an unknown (future) version is refused with
     * a clear code, not misread */
    weft_config cfg;
    weft_config_default(&cfg);
    weft_env env = {NULL, weft_crypto_sodium(), {NULL, net_rand}, NULL, NULL};
    weft_engine *e = NULL;
    CHECK(weft_engine_new_versioned(&e, 999, &cfg, &env, 0) == WEFT_ERR_VERSION_MISMATCH);
    CHECK(e == NULL);
    weft_membership_config mc;
    memset(&mc, 0xab, sizeof mc);
    weft_membership_config_default_versioned(999, &mc); /* untouched */
    CHECK(mc.max_peers == 0xabababab);
    weft_membership_config_default(&mc);
    CHECK_EQ_INT(mc.max_peers, 4096);
    weft_stats st;
    memset(&st, 0xcd, sizeof st);
    net w;
    REQUIRE(net_setup(&w, 1, 0, "mesh") == 0);
    weft_engine_stats_versioned(w.e[0], 999, &st);
    CHECK(st.pkts_in == 0xcdcdcdcdcdcdcdcdull);
    weft_engine_stats(w.e[0], &st);
    CHECK_EQ_INT(st.pkts_in, 0);
    net_free(&w);
}

/* --- the host's services, as a module sees them ------------------------ */

TEST(host_services_do_what_modules_rely_on)
{
    net w;
    REQUIRE(net_setup(&w, 2, 0, "mesh") == 0);
    const weft_crypto *c = weft_host_crypto(w.e[0]);
    REQUIRE(c != NULL);
    /* a signature by the node's identity verifies under its id */
    static const uint8_t claim[] = "node 0 says hello";
    uint8_t sig[64];
    weft_host_sign(w.e[0], sig, claim, sizeof claim);
    CHECK(c->verify(c->ctx, sig, claim, sizeof claim, w.id[0].key) == 0);
    CHECK(c->verify(c->ctx, sig, claim, sizeof claim, w.id[1].key) != 0);
    /* derived keys: the documented formula, the same on every node of the
     * mesh, one per label */
    uint8_t k0[32], k1[32], k2[32], h[64];
    weft_host_derive_key(w.e[0], "weft-echo-v1", k0);
    weft_host_derive_key(w.e[1], "weft-echo-v1", k1);
    weft_host_derive_key(w.e[0], "weft-echo-v2", k2);
    CHECK(memcmp(k0, k1, 32) == 0);
    CHECK(memcmp(k0, k2, 32) != 0);
    const uint8_t *isk, *nk;
    weft_host_keys(w.e[0], &isk, &nk);
    CHECK(memcmp(isk + 32, w.id[0].key, 32) == 0);
    weft_iov iov[2] = {{"weft-echo-v1", 12}, {nk, 32}};
    c->hash(c->ctx, h, iov, 2);
    CHECK(memcmp(h, k0, 32) == 0);
    /* the clock is the time of the current call; randomness comes from
     * the engine's source */
    weft_host_enter(w.e[0], 4242);
    CHECK_EQ_INT(weft_host_now(w.e[0]), 4242);
    weft_host_leave(w.e[0]);
    uint8_t r1[16] = {0}, r2[16] = {0};
    weft_host_random(w.e[0], r1, sizeof r1);
    weft_host_random(w.e[0], r2, sizeof r2);
    CHECK(memcmp(r1, r2, sizeof r1) != 0);
    CHECK(weft_host_allocator(w.e[0]) == NULL); /* libc, as configured */
    /* peer_up follows the session */
    CHECK(!weft_host_peer_up(w.e[0], &w.id[1]));
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    CHECK(weft_host_peer_up(w.e[0], &w.id[1]));
    CHECK(weft_host_peer_up(w.e[1], &w.id[0]));
    CHECK_EQ_INT(weft_engine_peer_count(w.e[0]), 1);
    weft_peer_info pi;
    CHECK(weft_engine_peer_at(w.e[0], 0, &pi) == 0);
    CHECK(memcmp(pi.id.key, w.id[1].key, 32) == 0 && pi.established);
    CHECK(weft_engine_peer_at(w.e[0], 1, &pi) < 0);
    weft_engine_close_peer(w.e[0], &w.id[1], w.now);
    CHECK(!weft_host_peer_up(w.e[0], &w.id[1]));
    CHECK_EQ_INT(weft_engine_peer_count(w.e[0]), 0);
    net_free(&w);
}

/* --- the registry's limits, names, and events emitted as messages --------- */

static const char *const many_names[] = {"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7",
                                         "m8", "m9", "m10", "m11", "m12", "m13", "m14",
                                         "m15", "m16"};
static weft_module_ops many_ops[17];

TEST(the_registry_is_bounded_and_names_engine_events)
{
    net w;
    REQUIRE(net_setup(&w, 1, 0, "mesh") == 0);
    /* up to WEFT_MODULES_MAX modules, then LIMIT */
    int ok = 0, limit = 0;
    for (int i = 0; i < 17; i++) {
        many_ops[i] = (weft_module_ops){.version = WEFT_MODULE_OPS_VERSION,
                                         .name = many_names[i]};
        int rc = weft_host_register(w.e[0], &many_ops[i], &many_ops[i]);
        ok += rc == 0;
        limit += rc == WEFT_ERR_LIMIT;
    }
    CHECK_EQ_INT(ok, WEFT_MODULES_MAX);
    CHECK_EQ_INT(limit, 17 - WEFT_MODULES_MAX);
    CHECK(weft_host_module(w.e[0], "m3") == &many_ops[3]);
    CHECK(weft_host_module(w.e[0], "nobody") == NULL);
    CHECK(weft_host_module(w.e[0], NULL) == NULL);
    CHECK(weft_host_register(NULL, &many_ops[0], NULL) == WEFT_ERR_INVAL);
    CHECK(weft_host_emit(w.e[0], NULL, NULL) == WEFT_ERR_INVAL);
    /* the engine's own event names, and "none" for what nobody named */
    static const struct {
        int type;
        const char *name;
    } names[] = {{WEFT_EV_PEER_UP, "peer-up"},         {WEFT_EV_PEER_DOWN, "peer-down"},
                 {WEFT_EV_HANDSHAKE_FAILED, "handshake-failed"},
                 {WEFT_EV_MESSAGE, "message"},         {WEFT_EV_DELIVERED, "delivered"},
                 {WEFT_EV_SEND_FAILED, "send-failed"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(strcmp(weft_event_name(w.e[0], names[i].type), names[i].name) == 0);
    CHECK(weft_event_name(w.e[0], 0x7f01) != NULL);
    net_free(&w);
}

/* A module owning an application channel: messages on it go to the
 * module, not to the application; the module may hand the application a
 * message event of its own (copied by the host). */
#define APPMOD_CHANNEL (WEFT_CHANNEL_APP + 5)
static weft_engine *appmod_engine;
static int appmod_on_message(void *m, const weft_node_id *from, uint16_t ch,
                             const uint8_t *msg, size_t len, uint32_t flags, uint64_t now)
{
    (void)m;
    (void)now;
    weft_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = WEFT_EV_MESSAGE;
    ev.peer = *from;
    ev.u.message.channel = ch;
    ev.u.message.flags = flags;
    uint8_t buf[64];
    size_t n = len < 60 ? len : 60;
    memcpy(buf, "mod:", 4);
    memcpy(buf + 4, msg, n);
    ev.u.message.data = buf; /* on the stack: the host must copy it */
    ev.u.message.len = n + 4;
    return weft_host_emit(appmod_engine, m, &ev);
}
static const weft_module_ops appmod_ops = {
    .version = WEFT_MODULE_OPS_VERSION,
    .name = "appmod",
    .channel_lo = APPMOD_CHANNEL,
    .channel_hi = APPMOD_CHANNEL,
    .on_message = appmod_on_message,
};

static int appmod_seen_mod, appmod_seen_plain, appmod_seen_raw;
static void appmod_watch(net *w, int i, const weft_event *ev)
{
    (void)w;
    if (i != 1 || ev->type != WEFT_EV_MESSAGE)
        return;
    const uint8_t *d = ev->u.message.data;
    size_t n = ev->u.message.len;
    if (n == 6 && memcmp(d, "mod:hi", 6) == 0)
        appmod_seen_mod++;
    else if (n == 5 && memcmp(d, "plain", 5) == 0)
        appmod_seen_plain++;
    else if (n == 2 && memcmp(d, "hi", 2) == 0)
        appmod_seen_raw++;
}

TEST(a_module_on_an_application_channel_sees_its_messages_first)
{
    net w;
    REQUIRE(net_setup(&w, 2, 0, "mesh") == 0);
    appmod_engine = w.e[1];
    REQUIRE(weft_host_register(w.e[1], &appmod_ops, &w) == 0);
    weft_engine_connect(w.e[0], &w.addr[1], w.now);
    net_run_until(&w, w.now + 100000);
    REQUIRE(w.up[0][1]);
    REQUIRE(weft_engine_send(w.e[0], &w.id[1], APPMOD_CHANNEL, "hi", 2, 0, w.now) > 0);
    REQUIRE(weft_engine_send(w.e[0], &w.id[1], WEFT_CHANNEL_APP, "plain", 5, 0, w.now) > 0);
    appmod_seen_mod = appmod_seen_plain = appmod_seen_raw = 0;
    w.on_event = appmod_watch;
    net_run_until(&w, w.now + 100000);
    /* the application got the plain message and the module's own (a copy
     * the host made), never the raw message on the module's channel */
    CHECK_EQ_INT(w.msgs[1], 2);
    CHECK_EQ_INT(appmod_seen_plain, 1);
    CHECK_EQ_INT(appmod_seen_mod, 1);
    CHECK_EQ_INT(appmod_seen_raw, 0);
    net_free(&w);
}

int main(void)
{
    RUN(echo_module_on_its_own_channel);
    RUN(beep_module_owns_a_datagram_type_and_a_timer);
    RUN(registration_refuses_conflicts_and_bad_tables);
    RUN(versioned_structures);
    RUN(host_services_do_what_modules_rely_on);
    RUN(the_registry_is_bounded_and_names_engine_events);
    RUN(a_module_on_an_application_channel_sees_its_messages_first);
    TEST_MAIN_END();
}
