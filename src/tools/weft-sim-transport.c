/*
 * weft-sim-transport.c -- the `transport` scenario: two weft_engines (real
 * libsodium crypto unless --fast-crypto) connect over the simulated network
 * and node 0 sends --messages reliable messages to node 1: sizes from 16 B
 * to 1 MiB (70% under 1 KiB, 25% up to 64 KiB, 5% up to 1 MiB), all four
 * priorities, ordered and unordered kinds, under --loss/--dup/--reorder/
 * --latency-us/--jitter-us.
 *
 * Invariants: every message is delivered exactly once, intact (a header
 * with its index, length and flags, then a pattern derived from the index),
 * with the flags it was sent with; ORDERED messages arrive in send order
 * within their priority (weft.h, enum weft_send_flags); all M arrive
 * before --seconds of simulated time (default 120).
 *
 * ENGINE SLOT: compiled only with WEFT_HAVE_ENGINE defined (the engine is
 * not in the tree yet).  Without it the scenario reports itself as
 * unavailable and weft-sim exits 77.  To enable, add to CMakeLists.txt:
 *   target_compile_definitions(weft-sim PRIVATE WEFT_HAVE_ENGINE)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/varint.h"
#include "tools/weft-sim.h"

#ifdef WEFT_HAVE_ENGINE

#include "weft/crypto.h"

#define TR_MSG_MAX (1u << 20)
#define TR_HDR 16
#define TR_SLICE_US 10000     /* the app sends every 10 ms of virtual time */
#define TR_POLL_MAX 1000000   /* events drained per engine call */

struct tctx;

typedef struct host {
    struct tctx *c;
    int idx;
    weft_engine *e;
    weft_env env;
    weft_node_id peer;
    int peer_up;
    uint64_t peer_downs;
} host;

typedef struct tctx {
    weft_sim *s;
    simreport *r;
    const simopt *o;
    host h[2];
    uint64_t m;              /* messages to send */
    uint32_t *size;          /* per message */
    uint8_t *flags;          /* per message: priority | kind */
    uint8_t *got;            /* deliveries per message */
    uint64_t delivered, sent, bytes;
    int64_t last_ordered[WEFT_PRIO_COUNT];
    uint8_t *buf;            /* TR_MSG_MAX scratch for building messages */
    uint64_t tampered, tamper_accepted;  /* --tamper: forgeries fed, taken */
    uint64_t replayed, replay_accepted;  /* --tamper: DATA replays fed, taken */
} tctx;


static uint8_t pattern(uint32_t idx, size_t j)
{
    return (uint8_t)(idx * 131u + (uint32_t)j * 7u + (uint32_t)(j >> 8));
}

static void on_message(tctx *c, const weft_event *ev)
{
    if (ev->u.message.len < TR_HDR) {
        report_fail(c->r, "messages arrive intact", "short message (%zu B)",
                    ev->u.message.len);
        return;
    }
    uint32_t idx = weft__get_u32(ev->u.message.data), len = weft__get_u32(ev->u.message.data + 4);
    uint32_t fl = weft__get_u32(ev->u.message.data + 8);
    if (idx >= c->m || len != ev->u.message.len || len != c->size[idx] ||
        fl != c->flags[idx]) {
        report_fail(c->r, "messages arrive intact", "bad header idx %u len %u",
                    idx, len);
        return;
    }
    for (size_t j = TR_HDR; j < ev->u.message.len; j++) {
        if (ev->u.message.data[j] != pattern(idx, j)) {
            report_fail(c->r, "messages arrive intact",
                        "message %u differs at byte %zu", idx, j);
            return;
        }
    }
    uint32_t want = WEFT_SEND_PRIO_MASK | WEFT_SEND_KIND_MASK;
    if ((ev->u.message.flags & want) != fl)
        report_fail(c->r, "delivered with the flags it was sent with",
                    "message %u flags 0x%x, sent 0x%x", idx, ev->u.message.flags, fl);
    if (++c->got[idx] > 1)
        report_fail(c->r, "each message delivered exactly once",
                    "message %u delivered twice", idx);
    if ((fl & WEFT_SEND_KIND_MASK) == WEFT_SEND_ORDERED) {
        int p = (int)(fl & WEFT_SEND_PRIO_MASK);
        if ((int64_t)idx <= c->last_ordered[p])
            report_fail(c->r, "ordered messages in order within their priority",
                        "message %u after %lld (priority %d)", idx,
                        (long long)c->last_ordered[p], p);
        c->last_ordered[p] = idx;
    }
    c->delivered++;
    c->bytes += ev->u.message.len;
}

/* Drains the engine's events after each call into it. */
static void pump(host *h)
{
    weft_event ev;
    for (int k = 0; k < TR_POLL_MAX && weft_engine_poll(h->e, &ev); k++) {
        switch (ev.type) {
        case WEFT_EV_PEER_UP:
            h->peer = ev.peer;
            h->peer_up = 1;
            break;
        case WEFT_EV_PEER_DOWN:
            h->peer_up = 0;
            h->peer_downs++;
            break;
        case WEFT_EV_MESSAGE:
            if (h->idx == 1)
                on_message(h->c, &ev);
            else
                report_fail(h->c->r, "only node 1 receives messages",
                            "node 0 got %zu B", ev.u.message.len);
            break;
        default:
            break;
        }
    }
}

/*
 * --tamper P: with probability P the datagram is attacked before the
 * engine sees it -- one bit flipped, cut short, or delivered twice (a
 * replay).  The engine must drop and count each forgery and still deliver
 * every message exactly once.
 */
static int host_recv(void *node, const weft_addr *from, const uint8_t *pkt,
                     size_t len, uint64_t now_us)
{
    host *h = node;
    tctx *c = h->c;
    int rc;
    if (c->o->tamper > 0 && len > 1 &&
        (double)(weft_sim_random(c->s) >> 11) / 9007199254740992.0 < c->o->tamper) {
        uint64_t r = weft_sim_random(c->s);
        uint8_t *copy = malloc(len);
        if (!copy)
            return WEFT_ERR_NOMEM;
        memcpy(copy, pkt, len);
        switch (r % 3) {
        case 0: /* bit flip anywhere after the type byte */
            copy[1 + (r >> 8) % (len - 1)] ^= (uint8_t)(1u << ((r >> 40) % 8));
            rc = weft_engine_recv(h->e, from, copy, len, now_us);
            if (rc == 0)
                c->tamper_accepted++;
            c->tampered++;
            break;
        case 1: /* truncation */
            rc = weft_engine_recv(h->e, from, copy, 1 + (r >> 8) % (len - 1), now_us);
            if (rc == 0)
                c->tamper_accepted++;
            c->tampered++;
            break;
        default: /* replay: the genuine packet twice */
            rc = weft_engine_recv(h->e, from, copy, len, now_us);
            pump(h);
            if (weft_engine_recv(h->e, from, copy, len, now_us) == 0 &&
                copy[0] == 0x10)
                c->replay_accepted++;
            c->replayed++;
            break;
        }
        free(copy);
        pump(h);
        return rc < 0 && rc > WEFT_ERR_FATAL ? 0 : rc;
    }
    rc = weft_engine_recv(h->e, from, pkt, len, now_us);
    pump(h);
    return rc;
}

static ptrdiff_t host_write(void *node, weft_addr *to, uint8_t *buf,
                            size_t cap, uint64_t now_us)
{
    return weft_engine_write(((host *)node)->e, to, buf, cap, now_us);
}

static uint64_t host_expiry(void *node)
{
    return weft_engine_expiry(((host *)node)->e);
}

static int host_handle_expiry(void *node, uint64_t now_us)
{
    host *h = node;
    int rc = weft_engine_handle_expiry(h->e, now_us);
    pump(h);
    return rc;
}

static const weft_sim_node_ops host_ops = {host_recv, host_write, host_expiry,
                                           host_handle_expiry};

/* Plans message i: size class, priority and kind from the scenario stream. */
static void plan(tctx *c, uint64_t i)
{
    uint64_t r = weft_sim_random(c->s), k = r % 100, v = r >> 8;
    uint32_t size;
    if (k < 70)
        size = TR_HDR + (uint32_t)(v % 1000);
    else if (k < 95)
        size = 1024 + (uint32_t)(v % (65536 - 1024 + 1));
    else
        size = 65536 + (uint32_t)(v % (TR_MSG_MAX - 65536 + 1));
    uint64_t r2 = weft_sim_random(c->s);
    uint32_t prio = (uint32_t)(r2 % WEFT_PRIO_COUNT);
    uint32_t kind = (r2 >> 8) % 10 < 6 ? WEFT_SEND_ORDERED : WEFT_SEND_UNORDERED;
    c->size[i] = size;
    c->flags[i] = (uint8_t)(prio | kind);
}

static int send_pending(tctx *c, uint64_t now_us)
{
    host *h = &c->h[0];
    while (h->peer_up && c->sent < c->m) {
        uint64_t i = c->sent;
        uint32_t len = c->size[i];
        weft__put_u32(c->buf, (uint32_t)i);
        weft__put_u32(c->buf + 4, len);
        weft__put_u32(c->buf + 8, c->flags[i]);
        weft__put_u32(c->buf + 12, 0);
        for (size_t j = TR_HDR; j < len; j++)
            c->buf[j] = pattern((uint32_t)i, j);
        int rc = (int)weft_engine_send(h->e, &h->peer, WEFT_CHANNEL_APP, c->buf, len,
                                       c->flags[i], now_us);
        if (rc == WEFT_ERR_AGAIN)
            break; /* queue full: retry next slice */
        if (rc < 0) {
            report_fail(c->r, "weft_engine_send accepts valid messages",
                        "message %llu: %s", (unsigned long long)i,
                        weft_err_name(rc));
            return rc;
        }
        c->sent++;
    }
    weft_sim_poke(c->s, 0);
    return 0;
}

int scenario_transport(const simopt *o, simreport *r)
{
    tctx c;
    memset(&c, 0, sizeof c);
    c.o = o;
    c.r = r;
    c.m = o->given & OPT_MESSAGES ? o->messages : 1000;
    double secs = o->given & OPT_SECONDS ? o->seconds : 120.0;
    uint64_t deadline_us = (uint64_t)(secs * 1e6);
    for (int p = 0; p < WEFT_PRIO_COUNT; p++)
        c.last_ordered[p] = -1;
    const weft_crypto *cr = o->fast_crypto ? weft_sim_fast_crypto()
                                           : weft_crypto_sodium();
    weft_sim_link l;
    opt_link(o, &l);
    int rc = weft_sim_new(&c.s, o->seed, &l);
    if (rc)
        return rc;
    c.size = calloc(c.m ? c.m : 1, sizeof *c.size);
    c.flags = calloc(c.m ? c.m : 1, 1);
    c.got = calloc(c.m ? c.m : 1, 1);
    c.buf = malloc(TR_MSG_MAX);
    if (!c.size || !c.flags || !c.got || !c.buf) {
        rc = WEFT_ERR_NOMEM;
        goto out;
    }
    for (uint64_t i = 0; i < c.m; i++)
        plan(&c, i);

    weft_addr addr[2];
    for (int i = 0; i < 2; i++) {
        host *h = &c.h[i];
        h->c = &c;
        h->idx = i;
        if (weft_sim_add_node(c.s, &host_ops, h, &addr[i]) != i) {
            rc = WEFT_ERR_NOMEM;
            goto out;
        }
        h->env.alloc = NULL;
        h->env.crypto = cr;
        h->env.rand = weft_sim_rand(c.s, i);
        weft_config cfg;
        weft_config_default(&cfg);
        uint8_t seed[32], pk[32];
        h->env.rand.fill(h->env.rand.ctx, seed, sizeof seed);
        cr->sign_keypair_seed(cr->ctx, pk, cfg.identity_secret, seed);
        /* --wrong-key: node 1 belongs to another mesh */
        memset(cfg.network_key, o->wrong_key && i == 1 ? 0x43 : 0x42,
               sizeof cfg.network_key);
        rc = weft_engine_new(&h->e, &cfg, &h->env, 0);
        cr->wipe(cr->ctx, &cfg, sizeof cfg);
        if (rc)
            goto out;
    }
    rc = weft_engine_connect(c.h[0].e, &addr[1], 0);
    if (rc)
        goto out;
    weft_sim_poke(c.s, 0);

    while (weft_sim_now(c.s) < deadline_us && c.delivered < c.m && !r->failed) {
        int64_t ev = weft_sim_run_until(c.s, weft_sim_now(c.s) + TR_SLICE_US);
        if (ev < 0) {
            rc = (int)ev;
            goto out;
        }
        rc = send_pending(&c, weft_sim_now(c.s));
        if (rc)
            goto out;
        if (o->verbose && weft_sim_now(c.s) % 1000000 < TR_SLICE_US)
            fprintf(stderr, "t=%.0fs sent=%llu delivered=%llu\n",
                    (double)weft_sim_now(c.s) / 1e6, (unsigned long long)c.sent,
                    (unsigned long long)c.delivered);
    }
    if (o->wrong_key) {
        weft_stats w1;
        weft_engine_stats(c.h[1].e, &w1);
        if (c.h[0].peer_up || c.h[1].peer_up || w1.sessions)
            report_fail(r, "no session without the network key", "a session formed");
        if (c.delivered)
            report_fail(r, "nothing delivered without the network key",
                        "%llu delivered", (unsigned long long)c.delivered);
        if (!w1.drop_wrong_mesh)
            report_fail(r, "foreign handshakes are counted", "drop_wrong_mesh=0");
        report_kv(r, "drop_wrong_mesh", "%llu", (unsigned long long)w1.drop_wrong_mesh);
    } else if (c.delivered < c.m)
        report_fail(r, "all messages delivered before the deadline",
                    "%llu of %llu by %.1f s", (unsigned long long)c.delivered,
                    (unsigned long long)c.m, secs);
    if (getenv("WEFT_SIM_DEBUG")) {
        for (int i = 0; i < 2; i++) {
            weft_peer_info pi;
            weft_stats st;
            weft_engine_stats(c.h[i].e, &st);
            int prc = weft_engine_peer_info(c.h[i].e, &c.h[i].peer, &pi);
            fprintf(stderr, "node%d: peer_info rc=%d est=%d srtt=%u cwnd=%u inflight=%llu queued=%llu mtu=%u | hs_ok=%llu hs_fail=%llu sessions=%llu unknown=%llu decrypt=%llu replay=%llu malformed=%llu refused=%llu retx=%llu pkts_in=%llu pkts_out=%llu\n",
                    i, prc, pi.established, pi.srtt_us, pi.cwnd_bytes, (unsigned long long)pi.bytes_in_flight,
                    (unsigned long long)pi.queued_bytes, pi.mtu, (unsigned long long)st.handshakes_ok,
                    (unsigned long long)st.handshakes_failed, (unsigned long long)st.sessions,
                    (unsigned long long)st.drop_unknown, (unsigned long long)st.drop_decrypt,
                    (unsigned long long)st.drop_replay, (unsigned long long)st.drop_malformed,
                    (unsigned long long)st.rx_refused, (unsigned long long)st.retransmits,
                    (unsigned long long)st.pkts_in, (unsigned long long)st.pkts_out);
        }
    }
    weft_stats s0, s1;
    weft_engine_stats(c.h[0].e, &s0);
    weft_engine_stats(c.h[1].e, &s1);
    weft_sim_stats ss;
    weft_sim_get_stats(c.s, &ss);
    report_sim(r, c.s);
    report_kv(r, "messages", "%llu", (unsigned long long)c.m);
    report_kv(r, "delivered", "%llu", (unsigned long long)c.delivered);
    report_kv(r, "bytes", "%llu", (unsigned long long)c.bytes);
    report_kv(r, "pkts_sent", "%llu", (unsigned long long)ss.sent);
    report_kv(r, "pkts_lost", "%llu", (unsigned long long)ss.lost);
    report_kv(r, "retransmits", "%llu",
              (unsigned long long)(s0.retransmits + s1.retransmits));
    report_kv(r, "peer_downs", "%llu",
              (unsigned long long)(c.h[0].peer_downs + c.h[1].peer_downs));
    report_kv(r, "crypto", "%s", o->fast_crypto ? "fast-insecure" : "sodium");
    if (o->tamper > 0) {
        report_kv(r, "tampered", "%llu", (unsigned long long)c.tampered);
        report_kv(r, "replayed", "%llu", (unsigned long long)c.replayed);
        report_kv(r, "drops_decrypt", "%llu", (unsigned long long)(s0.drop_decrypt + s1.drop_decrypt));
        report_kv(r, "drops_replay", "%llu", (unsigned long long)(s0.drop_replay + s1.drop_replay));
        report_kv(r, "drops_malformed", "%llu", (unsigned long long)(s0.drop_malformed + s1.drop_malformed));
        if (c.tamper_accepted)
            report_fail(r, "tampered and truncated packets are dropped",
                        "%llu accepted", (unsigned long long)c.tamper_accepted);
        if (c.replay_accepted)
            report_fail(r, "replayed packets are dropped",
                        "%llu accepted", (unsigned long long)c.replay_accepted);
        if (!c.tampered || !c.replayed)
            report_fail(r, "tampering was exercised", "tampered=%llu replayed=%llu",
                        (unsigned long long)c.tampered, (unsigned long long)c.replayed);
    }
    rc = r->failed ? 1 : 0;
out:
    if (rc && !r->failed)
        report_fail(r, "scenario ran to completion", "error %d (%s)", rc,
                    weft_strerror(rc));
    if (c.s && !r->events)
        report_sim(r, c.s);
    for (int i = 0; i < 2; i++)
        weft_engine_del(c.h[i].e);
    weft_sim_del(c.s);
    free(c.size);
    free(c.flags);
    free(c.got);
    free(c.buf);
    return rc;
}

#else /* !WEFT_HAVE_ENGINE */

int scenario_transport(const simopt *o, simreport *r)
{
    (void)o;
    r->skipped = 1; /* slot reserved: the engine is not in this build */
    return 0;
}

#endif
