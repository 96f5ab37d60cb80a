/*
 * conn.c -- the reliable transport of one session.
 *
 * Sending: messages wait in one queue per priority.  Each packet is filled
 * from the highest priority down -- first fragments to resend, then new
 * data -- so a critical message is never stuck behind a bulk transfer.
 * Fragments are cut to whatever room the packet has; the packet size is
 * the path MTU, raised by probing (RFC 8899) up to ~64 KiB on loopback.
 * Every sent packet remembers the fragments it carries; when it is
 * acknowledged they are done, when it is declared lost (RFC 9002 §6.1:
 * packet and time thresholds) they go to the resend queue.  A fragment is
 * owned by exactly one packet record or resend entry at a time, so a
 * message is finished when its count of outstanding fragments drops to 0.
 * Congestion control is NewReno with pacing (recovery.c); flow control is
 * a byte credit the receiver extends as the application consumes messages.
 *
 * Receiving: packet numbers feed an ACK range set (RFC 9000 §13.2);
 * ack-eliciting packets are acknowledged every second packet or after
 * WEFT__MAX_ACK_DELAY_US.  Message fragments are reassembled per lane
 * (priority x kind).  Ordered lanes deliver strictly by message id;
 * unordered lanes deliver on completion and remember delivered ids; both
 * drop duplicates.  A message that arrives whole in one fragment and in
 * order is delivered without copying, straight from the decrypted packet.
 *
 * Outcomes (the delivery promise, docs/ARCHITECTURE.md §Delivery): a
 * message that asked for a receipt moves, once fully acknowledged, to the
 * `awaiting` map until the peer's RECEIPT frame names it; the peer sends
 * one when its application took the message (weft__conn_receipt).  When
 * the conn is freed or reset, every unfinished message and every receipt
 * still awaited ends with an outcome through env->outcome.
 *
 * Allocation failures never leave a half-done state: the scratch array
 * that records a packet's fragments exists before any data is written into
 * the packet and becomes the packet record afterwards; resend queues are
 * grown before fragments move into them; a received packet whose messages
 * cannot be stored is left unacknowledged, so the sender resends it.
 *
 * The conn never calls into its owner: it reads env, bumps env->st and
 * hands messages and outcomes to env's sink.
 */
#include <string.h>

#include "core/conn.h"
#include "base/util.h"

#define PTO_MAX_BACKOFF 6
#define SENT_RING_MIN 64
#define SCRATCH_MIN 16
#define MTU_CANDIDATES 4

static const uint32_t mtu_cand[MTU_CANDIDATES] = {0, 16384, 8952, 1452};

static inline int msg_kind(uint8_t flags) { return flags & WEFT_SEND_KIND_MASK; }
static inline int msg_prio(uint8_t flags) { return flags & WEFT_SEND_PRIO_MASK; }
static inline int msg_lane(uint8_t flags) { return flags & WEFT__MSG_LANE_MASK; }

static weft__sent *sent_at(const weft__conn *c, uint64_t pn)
{
    return &c->sent[pn & (c->sent_cap - 1)];
}

static uint64_t awaiting_key(uint8_t lane, uint64_t msg_id)
{
    return (uint64_t)lane << 56 | (msg_id & ((1ull << 56) - 1));
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */

void weft__conn_bind(weft__conn *c, const weft__conn_env *env)
{
    memset(c, 0, sizeof *c);
    c->env = env;
    weft__u64map_init(&c->awaiting, env->a);
}

int weft__conn_start(weft__conn *c, uint64_t hs_rtt_us, uint32_t peer_window,
                     uint64_t now_us)
{
    const weft__conn_env *env = c->env;
    const weft_config *cfg = env->cfg;
    if (!c->sent) {
        c->sent = weft__calloc(env->a, SENT_RING_MIN * sizeof *c->sent);
        if (!c->sent)
            return WEFT_ERR_NOMEM;
        c->sent_cap = SENT_RING_MIN;
    }
    c->sent_base = c->pn_next;
    c->mtu = cfg->mtu_initial;
    c->mtu_probe_idx = cfg->mtu_max > cfg->mtu_initial ? 0 : -1;
    c->mtu_probe_due = c->mtu_probe_idx >= 0;
    weft__rtt_init(&c->rtt, WEFT__INITIAL_RTT_US);
    if (hs_rtt_us)
        weft__rtt_update(&c->rtt, hs_rtt_us, 0, WEFT__MAX_ACK_DELAY_US);
    weft__cc_init(&c->cc, c->mtu, (uint64_t)cfg->max_queued_bytes + (1u << 20));
    weft__pacer_init(&c->pacer, 16u * c->mtu, now_us);
    weft__rset_init(&c->rx_pns, env->a, 256);
    for (int l = 0; l < WEFT__LANES; l++) {
        weft__rset_init(&c->lanes[l].delivered, env->a, 4096);
        weft__u64map_init(&c->lanes[l].pending, env->a);
    }
    c->peer_window = peer_window;
    c->fc_limit = peer_window ? peer_window : (1u << 20);
    c->rx_limit_sent = cfg->recv_window_bytes;
    c->last_recv_us = c->last_send_us = c->last_app_us = now_us;
    c->live = 1;
    return 0;
}

static void free_rxmsg(weft__conn *c, weft__rxmsg *m)
{
    weft__rset_free(&m->got);
    weft__bufpool_put(c->env->pool, m->buf, m->total_len);
    weft__free(c->env->a, m);
}

static void clear_rx(weft__conn *c)
{
    for (int l = 0; l < WEFT__LANES; l++) {
        weft__lane_rx *L = &c->lanes[l];
        weft__u64map *m = &L->pending;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].val)
                free_rxmsg(c, m->slots[i].val);
        weft__u64map_free(m);
        weft__rset_free(&L->delivered);
        L->next_id = 0;
    }
    c->rx_msgs = 0;
    c->rx_buffered = 0;
}

static void free_sent_record(weft__conn *c, weft__sent *s)
{
    weft__free(c->env->a, s->frags);
    weft__free(c->env->a, s->rcpts);
    memset(s, 0, sizeof *s);
}

static void clear_sent(weft__conn *c)
{
    if (c->sent)
        for (uint64_t pn = c->sent_base; pn < c->pn_next; pn++)
            free_sent_record(c, sent_at(c, pn));
    c->sent_base = c->pn_next;
    for (int q = 0; q < WEFT_PRIO_COUNT; q++) {
        weft__free(c->env->a, c->rtx_q[q]);
        c->rtx_q[q] = NULL;
        c->rtx_head[q] = c->rtx_n[q] = c->rtx_cap[q] = 0;
    }
}

/* Every receipt still awaited ends with err (0: silently). */
static void fail_awaiting(weft__conn *c, int err)
{
    weft__u64map *m = &c->awaiting;
    for (size_t i = 0; i < m->cap && err; i++) {
        if (!m->slots[i].val)
            continue;
        uint64_t v = (uint64_t)(uintptr_t)m->slots[i].val;
        c->env->st->send_failed++;
        c->env->outcome(c->env->ctx, c, v >> 16, (uint16_t)v, err);
    }
    weft__u64map_free(m);
    weft__u64map_init(m, c->env->a);
}

void weft__conn_free(weft__conn *c, int err)
{
    const weft__conn_env *env = c->env;
    if (!env)
        return;
    clear_sent(c);
    weft__free(env->a, c->sent);
    clear_rx(c);
    weft__rset_free(&c->rx_pns);
    for (weft__omsg *m = c->live_head, *n; m; m = n) {
        n = m->lnext;
        if (err) {
            env->st->send_failed++;
            env->outcome(env->ctx, c, m->app_id, m->channel, err);
        }
        weft__bufpool_put(env->pool, m, sizeof *m + m->len);
    }
    fail_awaiting(c, err);
    weft__u64map_free(&c->awaiting);
    weft__free(env->a, c->rcpt_q);
    memset(c, 0, sizeof *c);
}

static void queue_append(weft__conn *c, weft__omsg *m)
{
    int q = msg_prio(m->flags);
    m->next = NULL;
    m->queued = 1;
    if (c->q_tail[q])
        c->q_tail[q]->next = m;
    else
        c->q_head[q] = m;
    c->q_tail[q] = m;
}

int weft__conn_reset(weft__conn *c, uint32_t peer_window, uint64_t now_us)
{
    /* A new transport session (the peer restarted, or a fresh dial): what
     * was in flight may or may not have reached the old incarnation, so
     * every unfinished message is sent again, in order, with new ids.
     * Receipts of the old session will never come: those messages may or
     * may not have reached the old incarnation's application. */
    clear_sent(c);
    clear_rx(c);
    weft__rset_free(&c->rx_pns);
    fail_awaiting(c, WEFT_ERR_PEER_RESTARTED);
    c->rcpt_head = c->rcpt_n = c->rcpt_held = 0;
    for (int q = 0; q < WEFT_PRIO_COUNT; q++)
        c->q_head[q] = c->q_tail[q] = NULL;
    memset(c->next_msg_id, 0, sizeof c->next_msg_id);
    c->fc_sent = 0;
    c->rx_consumed = 0;
    for (weft__omsg *m = c->live_head; m; m = m->lnext) {
        m->msg_id = c->next_msg_id[msg_lane(m->flags)]++;
        m->next_off = 0;
        m->frags_out = 0;
        queue_append(c, m);
    }
    c->has_largest_acked = 0;
    c->largest_acked = 0;
    c->loss_time_us = 0;
    c->pto_count = 0;
    c->probes_due = 0;
    c->ack_needed = c->ack_now = 0;
    c->ack_due_us = 0;
    c->unacked_eliciting = 0;
    c->max_data_due = 0;
    c->mtu_probe_out = 0;
    c->mtu_probe_losses = 0;
    return weft__conn_start(c, 0, peer_window, now_us);
}

uint64_t weft__conn_rx_largest(const weft__conn *c)
{
    return weft__rset_max(&c->rx_pns);
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                   */

static void live_remove(weft__conn *c, weft__omsg *m)
{
    if (m->lprev)
        m->lprev->lnext = m->lnext;
    else
        c->live_head = m->lnext;
    if (m->lnext)
        m->lnext->lprev = m->lprev;
    else
        c->live_tail = m->lprev;
    c->live_n--;
}

/* A message whose every byte was acknowledged is done; one that asked for
 * a receipt waits for it in `awaiting`. */
static void maybe_finish(weft__conn *c, weft__omsg *m)
{
    if (m->frags_out || m->queued || m->next_off < m->len)
        return;
    live_remove(c, m);
    c->queued_bytes -= m->len;
    if (m->receipt_got) {
        c->env->st->receipts++;
        c->env->outcome(c->env->ctx, c, m->app_id, m->channel, 0);
    } else if ((m->flags & WEFT__MSG_RECEIPT) &&
               msg_kind(m->flags) != WEFT_SEND_UNRELIABLE) {
        uint64_t v = m->app_id << 16 | m->channel;
        if (weft__u64map_put(&c->awaiting, awaiting_key(msg_lane(m->flags), m->msg_id),
                             (void *)(uintptr_t)v) < 0) {
            /* cannot remember it: say so rather than stay silent */
            c->env->st->send_failed++;
            c->env->outcome(c->env->ctx, c, m->app_id, m->channel, WEFT_ERR_NOMEM);
        }
    }
    weft__bufpool_put(c->env->pool, m, sizeof *m + m->len);
}

int weft__conn_queue(weft__conn *c, uint16_t channel, const void *msg, size_t len,
                     uint32_t flags, uint64_t app_id, uint64_t now_us)
{
    const weft__conn_env *env = c->env;
    if (len > env->cfg->max_message_bytes)
        return WEFT_ERR_TOO_BIG;
    uint32_t mtu = c->mtu ? c->mtu : env->cfg->mtu_initial;
    if (msg_kind((uint8_t)flags) == WEFT_SEND_UNRELIABLE &&
        len + 64 > (size_t)mtu - WEFT__DATA_OVERHEAD)
        return WEFT_ERR_TOO_BIG_DATAGRAM;
    if (c->queued_bytes + len > env->cfg->max_queued_bytes && c->queued_bytes)
        return WEFT_ERR_AGAIN;
    weft__omsg *m = weft__bufpool_get(env->pool, sizeof *m + len);
    if (!m)
        return WEFT_ERR_NOMEM;
    memset(m, 0, sizeof *m);
    m->flags = (uint8_t)(flags & WEFT__MSG_FLAGS_MASK);
    m->channel = channel;
    m->app_id = app_id;
    m->len = (uint32_t)len;
    m->msg_id = c->next_msg_id[msg_lane(m->flags)]++;
    if (len)
        memcpy(m->data, msg, len);
    m->lprev = c->live_tail;
    if (c->live_tail)
        c->live_tail->lnext = m;
    else
        c->live_head = m;
    c->live_tail = m;
    c->live_n++;
    queue_append(c, m);
    c->queued_bytes += len;
    c->last_app_us = now_us;
    env->st->msgs_sent++;
    return 0;
}

/* Makes room for n more fragments in resend queue q.  0 or NOMEM. */
static int rtx_reserve(weft__conn *c, int q, size_t n)
{
    if (c->rtx_n[q] + n <= c->rtx_cap[q])
        return 0;
    size_t ncap = c->rtx_cap[q] ? c->rtx_cap[q] : 64;
    while (ncap < c->rtx_n[q] + n)
        ncap *= 2;
    weft__frag *nq = weft__alloc(c->env->a, ncap * sizeof *nq);
    if (!nq)
        return WEFT_ERR_NOMEM;
    for (size_t i = 0; i < c->rtx_n[q]; i++)
        nq[i] = c->rtx_q[q][(c->rtx_head[q] + i) & (c->rtx_cap[q] - 1)];
    weft__free(c->env->a, c->rtx_q[q]);
    c->rtx_q[q] = nq;
    c->rtx_head[q] = 0;
    c->rtx_cap[q] = ncap;
    return 0;
}

/* Pushes into a queue that has room (rtx_reserve ran). */
static void rtx_push(weft__conn *c, int q, weft__frag f, int front)
{
    size_t mask = c->rtx_cap[q] - 1;
    if (front) {
        c->rtx_head[q] = (c->rtx_head[q] + mask) & mask;
        c->rtx_q[q][c->rtx_head[q]] = f;
    } else {
        c->rtx_q[q][(c->rtx_head[q] + c->rtx_n[q]) & mask] = f;
    }
    c->rtx_n[q]++;
}

/* Makes room for the receipts of a lost packet.  0 or NOMEM. */
static int rcpt_reserve(weft__conn *c, size_t n)
{
    if (c->rcpt_n + n <= c->rcpt_cap)
        return 0;
    size_t ncap = c->rcpt_cap ? c->rcpt_cap : 64;
    while (ncap < c->rcpt_n + n)
        ncap *= 2;
    weft__rcpt *nq = weft__alloc(c->env->a, ncap * sizeof *nq);
    if (!nq)
        return WEFT_ERR_NOMEM;
    for (size_t i = 0; i < c->rcpt_n; i++)
        nq[i] = c->rcpt_q[(c->rcpt_head + i) & (c->rcpt_cap - 1)];
    weft__free(c->env->a, c->rcpt_q);
    c->rcpt_q = nq;
    c->rcpt_head = 0;
    c->rcpt_cap = ncap;
    return 0;
}

/*
 * The packet record s is lost (or its contents must be sent again): its
 * fragments and receipts go back to the queues.  Returns 0, or NOMEM when
 * the queues cannot grow -- then nothing moved and s is left as it was.
 */
static int requeue(weft__conn *c, weft__sent *s)
{
    size_t need[WEFT_PRIO_COUNT] = {0};
    for (uint32_t i = 0; i < s->nfrag; i++)
        need[msg_prio(s->frags[i].m->flags)]++;
    for (int q = 0; q < WEFT_PRIO_COUNT; q++)
        if (need[q] && rtx_reserve(c, q, need[q]) < 0)
            return WEFT_ERR_NOMEM;
    if (s->nrcpt && rcpt_reserve(c, s->nrcpt) < 0)
        return WEFT_ERR_NOMEM;
    for (uint32_t i = 0; i < s->nfrag; i++)
        rtx_push(c, msg_prio(s->frags[i].m->flags), s->frags[i], 0);
    for (uint32_t i = 0; i < s->nrcpt; i++)
        c->rcpt_q[(c->rcpt_head + c->rcpt_n++) & (c->rcpt_cap - 1)] = s->rcpts[i];
    weft__free(c->env->a, s->frags);
    weft__free(c->env->a, s->rcpts);
    s->frags = NULL;
    s->rcpts = NULL;
    s->nfrag = s->nrcpt = 0;
    if (s->had_max_data)
        c->max_data_due = 1;
    return 0;
}

static int has_rtx(const weft__conn *c)
{
    for (int q = 0; q < WEFT_PRIO_COUNT; q++)
        if (c->rtx_n[q])
            return 1;
    return 0;
}

static int has_new_data(const weft__conn *c)
{
    for (int q = 0; q < WEFT_PRIO_COUNT; q++) {
        const weft__omsg *m = c->q_head[q];
        if (!m)
            continue;
        /* Blocked only when flow control forbids its next byte. */
        if (msg_kind(m->flags) == WEFT_SEND_UNRELIABLE || m->len == 0 ||
            c->fc_sent < c->fc_limit)
            return 1;
    }
    return 0;
}

/* 1 when data may go now: something to send, window open, pacer ready. */
static int data_ready(const weft__conn *c)
{
    /* probe packets are not blocked by congestion control (RFC 9002 §7.5) */
    return (has_rtx(c) || has_new_data(c)) &&
           (c->probes_due || weft__cc_can_send(&c->cc, c->mtu));
}

static int data_paced_ok(const weft__conn *c, uint64_t now_us)
{
    return c->probes_due ||
           weft__pacer_next_us((weft__pacer *)&c->pacer, &c->cc, &c->rtt, c->mtu, now_us) <= now_us;
}

int weft__conn_has_output(const weft__conn *c, uint64_t now_us)
{
    if (!c->live)
        return 0;
    if (c->ack_now || c->ping_due || c->max_data_due || c->close_due ||
        c->mtu_probe_due || c->rcpt_n)
        return 1;
    return data_ready(c) && data_paced_ok(c, now_us);
}

/* Room for one more fragment record in the scratch array.  0 or NOMEM. */
static int scratch_room(weft__conn *c, size_t n)
{
    const weft__conn_env *env = c->env;
    if (n < *env->scratch_cap)
        return 0;
    size_t ncap = *env->scratch_cap ? *env->scratch_cap * 2 : SCRATCH_MIN;
    weft__frag *nf = weft__realloc(env->a, *env->scratch, ncap * sizeof *nf);
    if (!nf)
        return WEFT_ERR_NOMEM;
    *env->scratch = nf;
    *env->scratch_cap = ncap;
    return 0;
}

static int sent_reserve(weft__conn *c, uint64_t pn)
{
    if (c->sent_cap && pn - c->sent_base < c->sent_cap)
        return 0;
    size_t ncap = c->sent_cap ? c->sent_cap * 2 : SENT_RING_MIN;
    while (pn - c->sent_base >= ncap)
        ncap *= 2;
    weft__sent *ns = weft__calloc(c->env->a, ncap * sizeof *ns);
    if (!ns)
        return WEFT_ERR_NOMEM;
    for (uint64_t q = c->sent_base; q < c->pn_next; q++)
        ns[q & (ncap - 1)] = c->sent[q & (c->sent_cap - 1)];
    weft__free(c->env->a, c->sent);
    c->sent = ns;
    c->sent_cap = ncap;
    return 0;
}

/* Writes one MSG frame for fragment f (clipped to the room left).  Returns
 * bytes of message data written (may be < f->len), or -1 when not even
 * the header and one byte fit. */
static ptrdiff_t put_frag(uint8_t *out, size_t room, const weft__frag *f,
                          size_t *used)
{
    const weft__omsg *m = f->m;
    size_t hdr = weft__frame_msg_hdr_len(m->channel, m->msg_id, m->len, f->off, f->len);
    size_t take = f->len;
    if (hdr + take > room) {
        if (f->len == 0 || room <= hdr + 1)
            return -1;
        take = room - hdr;
        hdr = weft__frame_msg_hdr_len(m->channel, m->msg_id, m->len, f->off, take);
        if (hdr + take > room)
            take = room - hdr;
        if (take == 0 || hdr >= room)
            return -1;
    }
    weft__msg_frame mf = {m->flags, m->channel, m->msg_id, m->len, f->off,
                          m->data + f->off, take};
    ptrdiff_t n = weft__frame_put_msg(out, room, &mf);
    if (n < 0)
        return -1;
    *used = (size_t)n;
    return (ptrdiff_t)take;
}

/* A PMTU probe is a PING padded to the candidate size (RFC 8899 §4.1); it
 * carries no data, so its loss costs nothing but the probe.  Returns the
 * body length, or 0 when no probe is due or fits. */
static size_t build_probe(weft__conn *c, uint8_t *out, size_t cap, uint64_t pn,
                          uint64_t now_us)
{
    if (!c->mtu_probe_due || c->mtu_probe_idx < 0)
        return 0;
    uint32_t size = c->mtu_probe_idx == 0 ? c->env->cfg->mtu_max : mtu_cand[c->mtu_probe_idx];
    c->mtu_probe_due = 0;
    if (size <= c->mtu || size - WEFT__DATA_OVERHEAD > cap)
        return 0;
    size_t body = size - WEFT__DATA_OVERHEAD;
    out[0] = WEFT__F_PING;
    memset(out + 1, 0, body - 1);
    weft__sent *s = sent_at(c, pn);
    memset(s, 0, sizeof *s);
    s->state = 1;
    s->sent_us = now_us;
    s->size = size;
    s->mtu_probe = 1;
    c->mtu_probe_pn = pn;
    c->mtu_probe_out = 1;
    return body;
}

/* Up to WEFT__RECEIPTS_MAX owed receipts into one frame; *rc receives the
 * record array for the packet (NULL when none fit or memory ran out). */
static size_t put_receipts(weft__conn *c, uint8_t *out, size_t room,
                           weft__rcpt **rc, uint32_t *nrc)
{
    uint8_t lanes[WEFT__RECEIPTS_MAX];
    uint64_t ids[WEFT__RECEIPTS_MAX];
    size_t n = WEFT__MIN(c->rcpt_n, (size_t)WEFT__RECEIPTS_MAX);
    *rc = NULL;
    *nrc = 0;
    /* each entry is at most 9 bytes: fit the count to the room */
    while (n && 2 + 9 * n > room)
        n--;
    if (!n)
        return 0;
    weft__rcpt *rec = weft__alloc(c->env->a, n * sizeof *rec);
    if (!rec)
        return 0; /* they stay queued */
    for (size_t i = 0; i < n; i++) {
        rec[i] = c->rcpt_q[(c->rcpt_head + i) & (c->rcpt_cap - 1)];
        lanes[i] = rec[i].lane;
        ids[i] = rec[i].msg_id;
    }
    ptrdiff_t w = weft__frame_put_receipt(out, room, lanes, ids, n);
    if (w <= 0) {
        weft__free(c->env->a, rec);
        return 0;
    }
    c->rcpt_head = (c->rcpt_head + n) & (c->rcpt_cap - 1);
    c->rcpt_n -= n;
    *rc = rec;
    *nrc = (uint32_t)n;
    return (size_t)w;
}

/* Data frames, highest priority first, resends before new data.  Every
 * fragment is recorded in the scratch array before its frame is written,
 * so running out of memory stops the filling, never loses track. */
static size_t put_data(weft__conn *c, uint8_t *out, size_t limit, size_t *nfrag,
                       int *eliciting)
{
    weft__frag *sc;
    size_t pos = 0;
    for (int q = 0; q < WEFT_PRIO_COUNT && limit - pos > 8; q++) {
        /* resends first: they hold up the receiver's ordered lanes */
        while (c->rtx_n[q] && limit - pos > 8) {
            if (scratch_room(c, *nfrag) < 0)
                return pos;
            weft__frag f = c->rtx_q[q][c->rtx_head[q]];
            size_t used;
            ptrdiff_t took = put_frag(out + pos, limit - pos, &f, &used);
            if (took < 0)
                break;
            c->rtx_head[q] = (c->rtx_head[q] + 1) & (c->rtx_cap[q] - 1);
            c->rtx_n[q]--;
            pos += used;
            *eliciting = 1;
            sc = *c->env->scratch;
            sc[(*nfrag)++] = (weft__frag){f.m, f.off, (uint32_t)took};
            if ((size_t)took < f.len) {
                weft__frag rest = {f.m, f.off + (uint32_t)took, f.len - (uint32_t)took};
                f.m->frags_out++;
                rtx_push(c, q, rest, 1); /* room: one entry was just taken */
            }
        }
        while (c->q_head[q] && limit - pos > 8) {
            weft__omsg *m = c->q_head[q];
            int unrel = msg_kind(m->flags) == WEFT_SEND_UNRELIABLE;
            uint32_t want = m->len - m->next_off;
            if (!unrel && want) {
                uint64_t credit = c->fc_limit > c->fc_sent ? c->fc_limit - c->fc_sent : 0;
                if (!credit)
                    break;
                if (want > credit)
                    want = (uint32_t)credit;
            }
            if (!unrel && scratch_room(c, *nfrag) < 0)
                return pos;
            weft__frag f = {m, m->next_off, want};
            size_t used;
            ptrdiff_t took = put_frag(out + pos, limit - pos, &f, &used);
            if (took < 0 || (unrel && (uint32_t)took < m->len))
                break; /* an unreliable message goes whole or waits */
            pos += used;
            *eliciting = 1;
            m->next_off += (uint32_t)took;
            if (!unrel) {
                c->fc_sent += (uint64_t)took;
                m->frags_out++;
                sc = *c->env->scratch;
                sc[(*nfrag)++] = (weft__frag){m, f.off, (uint32_t)took};
            }
            if (m->next_off == m->len) {
                c->q_head[q] = m->next;
                if (!m->next)
                    c->q_tail[q] = NULL;
                m->queued = 0;
                m->next = NULL;
                maybe_finish(c, m);
            } else if ((uint32_t)took < f.len) {
                break; /* packet full or credit used up */
            }
        }
    }
    return pos;
}

ptrdiff_t weft__conn_build(weft__conn *c, uint8_t *out, size_t cap, uint64_t pn,
                           uint64_t now_us)
{
    const weft__conn_env *env = c->env;
    size_t limit = WEFT__MIN(cap, (size_t)c->mtu) - WEFT__DATA_OVERHEAD;
    size_t pos = 0, nfrag = 0;
    int eliciting = 0, had_max_data = 0;
    weft__rcpt *rc = NULL;
    uint32_t nrc = 0;
    ptrdiff_t n;

    if (!c->live)
        return 0;
    if (sent_reserve(c, pn) < 0)
        return WEFT_ERR_NOMEM;

    size_t probe = build_probe(c, out, cap, pn, now_us);
    if (probe) {
        c->pn_next = pn + 1;
        return (ptrdiff_t)probe;
    }

    if (c->ack_needed && c->rx_pns.n) {
        weft__range r[WEFT__ACK_RANGES_MAX];
        size_t nr = 0;
        for (size_t i = c->rx_pns.n; i-- > 0 && nr < WEFT__ACK_RANGES_MAX;)
            r[nr++] = c->rx_pns.r[i];
        uint64_t delay = now_us > c->rx_largest_us ? now_us - c->rx_largest_us : 0;
        n = weft__frame_put_ack(out + pos, limit - pos, r, nr, delay);
        if (n > 0) {
            pos += (size_t)n;
            c->ack_needed = 0;
            c->ack_now = 0;
            c->ack_due_us = 0;
            c->unacked_eliciting = 0;
        }
    }
    if (c->close_due) {
        n = weft__frame_put_close(out + pos, limit - pos, c->close_reason);
        if (n > 0) {
            pos += (size_t)n;
            c->close_due = 0;
        }
        goto done; /* nothing follows a CLOSE */
    }
    if (c->rcpt_n) {
        size_t w = put_receipts(c, out + pos, limit - pos, &rc, &nrc);
        if (w) {
            pos += w;
            eliciting = 1;
        }
    }
    if (c->max_data_due) {
        uint64_t lim = c->rx_consumed + env->cfg->recv_window_bytes;
        n = weft__frame_put_max_data(out + pos, limit - pos, lim);
        if (n > 0) {
            pos += (size_t)n;
            c->rx_limit_sent = lim;
            c->max_data_due = 0;
            had_max_data = 1;
            eliciting = 1;
        }
    }
    if (c->ping_due) {
        n = weft__frame_put_ping(out + pos, limit - pos);
        if (n > 0) {
            pos += (size_t)n;
            c->ping_due = 0;
            eliciting = 1;
        }
    }
    if (data_ready(c) && data_paced_ok(c, now_us))
        pos += put_data(c, out + pos, limit - pos, &nfrag, &eliciting);

done:
    if (pos == 0)
        return 0;
    weft__sent *s = sent_at(c, pn);
    memset(s, 0, sizeof *s);
    s->state = 1;
    s->sent_us = now_us;
    s->size = (uint32_t)(pos + WEFT__DATA_OVERHEAD);
    s->ack_eliciting = (uint8_t)eliciting;
    s->in_flight = (uint8_t)eliciting; /* ACK-only packets: RFC 9002 §2 */
    s->had_max_data = (uint8_t)had_max_data;
    s->rcpts = rc;
    s->nrcpt = nrc;
    if (nfrag) {
        /* the scratch array becomes the record; a fresh one is grown at
         * the next packet (no allocation can fail from here on) */
        weft__frag *f = *env->scratch;
        *env->scratch = NULL;
        *env->scratch_cap = 0;
        weft__frag *shrunk = weft__realloc(env->a, f, nfrag * sizeof *f);
        s->frags = shrunk ? shrunk : f;
        s->nfrag = (uint32_t)nfrag;
    }
    if (eliciting && c->probes_due)
        c->probes_due--;
    if (eliciting) {
        weft__cc_on_sent(&c->cc, s->size);
        weft__pacer_on_sent(&c->pacer, &c->cc, &c->rtt, s->size, now_us);
        c->last_ack_eliciting_us = now_us;
    }
    c->pn_next = pn + 1;
    c->last_send_us = now_us;
    return (ptrdiff_t)pos;
}

/* ------------------------------------------------------------------------ */
/* Acknowledgements and loss (RFC 9002 §6)                                   */

static void on_frags_done(weft__conn *c, weft__sent *s)
{
    for (uint32_t i = 0; i < s->nfrag; i++) {
        weft__omsg *m = s->frags[i].m;
        m->frags_out--;
        maybe_finish(c, m);
    }
    free_sent_record(c, s);
}

static void mtu_probe_result(weft__conn *c, weft__sent *s, int ok)
{
    c->mtu_probe_out = 0;
    if (ok) {
        c->mtu = s->size;
        weft__cc_set_mss(&c->cc, c->mtu);
        c->pacer.burst_bytes = 16u * c->mtu;
        c->mtu_probe_idx = -1; /* largest candidates go first: done */
        return;
    }
    /* RFC 8899 §5.1.2 MAX_PROBES: a lost probe may be plain loss, so a
     * size is given up only after three losses. */
    if (++c->mtu_probe_losses < 3) {
        c->mtu_probe_due = 1;
        return;
    }
    c->mtu_probe_losses = 0;
    /* next smaller candidate that still beats the current MTU */
    while (++c->mtu_probe_idx < MTU_CANDIDATES && mtu_cand[c->mtu_probe_idx] <= c->mtu)
        ;
    if (c->mtu_probe_idx >= MTU_CANDIDATES)
        c->mtu_probe_idx = -1;
    else
        c->mtu_probe_due = 1;
}

static void detect_lost(weft__conn *c, uint64_t now_us)
{
    if (!c->has_largest_acked)
        return;
    uint64_t delay = weft__rtt_loss_delay_us(&c->rtt);
    uint64_t lost_before = now_us > delay ? now_us - delay : 0;
    uint64_t lost_bytes = 0, largest_lost_sent = 0;
    c->loss_time_us = 0;
    uint64_t top = WEFT__MIN(c->largest_acked, c->pn_next - 1);
    for (uint64_t pn = c->sent_base; pn <= top && pn < c->pn_next; pn++) {
        weft__sent *s = sent_at(c, pn);
        if (s->state != 1)
            continue;
        if (pn + WEFT__PACKET_THRESHOLD <= c->largest_acked || s->sent_us <= lost_before) {
            if (s->mtu_probe) {
                s->state = 0;
                mtu_probe_result(c, s, 0);
                continue;
            }
            if (requeue(c, s) < 0) {
                /* no memory for the resend queue: try again shortly */
                c->loss_time_us = now_us + WEFT__GRANULARITY_US;
                break;
            }
            s->state = 0;
            if (s->in_flight) {
                lost_bytes += s->size;
                if (s->sent_us > largest_lost_sent)
                    largest_lost_sent = s->sent_us;
            }
            if (s->ack_eliciting)
                c->env->st->retransmits++;
        } else {
            uint64_t t = s->sent_us + delay;
            if (!c->loss_time_us || t < c->loss_time_us)
                c->loss_time_us = t;
        }
    }
    if (lost_bytes)
        weft__cc_on_lost(&c->cc, lost_bytes, largest_lost_sent, now_us);
}

static void pop_done(weft__conn *c)
{
    while (c->sent_base < c->pn_next && sent_at(c, c->sent_base)->state == 0)
        c->sent_base++;
}

static int on_ack(weft__conn *c, const weft__ack_frame *a, uint64_t now_us)
{
    uint64_t largest = a->ranges[0].hi;
    if (largest >= c->pn_next)
        return WEFT_ERR_PROTO; /* acknowledges a packet never sent */
    int new_largest = !c->has_largest_acked || largest > c->largest_acked;
    int largest_newly = 0, any_eliciting = 0;
    uint64_t largest_sent_us = 0;
    for (size_t i = 0; i < a->nranges; i++) {
        uint64_t lo = WEFT__MAX(a->ranges[i].lo, c->sent_base);
        uint64_t hi = a->ranges[i].hi;
        for (uint64_t pn = lo; pn <= hi && pn < c->pn_next; pn++) {
            weft__sent *s = sent_at(c, pn);
            if (s->state != 1)
                continue;
            s->state = 0;
            if (pn == largest) {
                largest_newly = 1;
                largest_sent_us = s->sent_us;
            }
            any_eliciting |= s->ack_eliciting;
            if (s->mtu_probe) {
                mtu_probe_result(c, s, 1);
                continue;
            }
            if (s->in_flight)
                weft__cc_on_acked(&c->cc, s->size, s->sent_us);
            on_frags_done(c, s);
        }
    }
    if (new_largest) {
        c->largest_acked = largest;
        c->has_largest_acked = 1;
    }
    /* RTT sample only when the largest acknowledged is newly acknowledged
     * and something ack-eliciting was (RFC 9002 §5.1). */
    if (largest_newly && any_eliciting && now_us >= largest_sent_us)
        weft__rtt_update(&c->rtt, now_us - largest_sent_us, a->ack_delay_us,
                         WEFT__MAX_ACK_DELAY_US);
    if (largest_newly || any_eliciting)
        c->pto_count = 0;
    detect_lost(c, now_us);
    pop_done(c);
    return 0;
}

/* The peer's application took these messages. */
static void on_receipts(weft__conn *c, const weft__receipt_frame *f)
{
    size_t off = 0;
    uint8_t lane;
    uint64_t id;
    while (weft__frame_receipt_next(f, &off, &lane, &id)) {
        void *v = weft__u64map_del(&c->awaiting, awaiting_key(lane, id));
        if (!v) {
            /* The receipt overtook the ACK of the message's last bytes
             * (that ACK was lost): the message is still live.  Otherwise
             * it is a resent receipt, already counted. */
            for (weft__omsg *m = c->live_head; m; m = m->lnext)
                if (m->msg_id == id && msg_lane(m->flags) == lane &&
                    (m->flags & WEFT__MSG_RECEIPT))
                    m->receipt_got = 1;
            continue;
        }
        uint64_t x = (uint64_t)(uintptr_t)v;
        c->env->st->receipts++;
        c->env->outcome(c->env->ctx, c, x >> 16, (uint16_t)x, 0);
    }
}

/* ------------------------------------------------------------------------ */
/* Receiving messages                                                        */

/* Hands a whole message to the sink.  The sink cannot fail for lack of
 * room (the engine reserves event slots before it feeds a packet), so a
 * message marked delivered is always handed over. */
static int deliver(weft__conn *c, uint64_t msg_id, const uint8_t *data,
                   size_t len, uint8_t *owned, int in_rx, uint16_t channel,
                   uint8_t flags)
{
    weft__delivery d = {channel, flags, msg_id, data, len, owned, in_rx};
    c->env->st->msgs_delivered++;
    c->last_app_us = c->last_recv_us; /* the packet's time: not idle */
    int rc = c->env->deliver(c->env->ctx, c, &d);
    if (rc < 0)
        return rc;
    if (rc == 1)
        weft__conn_consumed(c, len);
    return 0;
}

static int lane_mark_delivered(weft__lane_rx *L, uint64_t id)
{
    int64_t rc = weft__rset_add(&L->delivered, id, id);
    if (rc < 0)
        return (int)rc;
    /* advance the floor over a contiguous prefix */
    if (L->delivered.n && L->delivered.r[0].lo <= L->next_id &&
        L->delivered.r[0].hi >= L->next_id) {
        L->next_id = L->delivered.r[0].hi + 1;
        weft__rset_drop_below(&L->delivered, L->next_id);
    }
    return 0;
}

static int drain_ordered(weft__conn *c, weft__lane_rx *L)
{
    weft__rxmsg *m;
    while ((m = weft__u64map_get(&L->pending, L->next_id)) && m->complete) {
        weft__u64map_del(&L->pending, L->next_id);
        c->rx_msgs--;
        c->rx_buffered -= m->total_len;
        L->next_id++;
        uint8_t *buf = m->buf;
        m->buf = NULL;
        int rc = deliver(c, m->msg_id, buf, m->total_len, buf, 0, m->channel, m->flags);
        free_rxmsg(c, m);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* A complete message that asked for a receipt holds a slot in the receipt
 * queue from now on, so the receipt can be queued without allocating when
 * the application takes it.  Returns 0, WEFT_ERR_AGAIN (too many receipts
 * owed: the packet is refused and resent) or WEFT_ERR_NOMEM. */
static int hold_receipt(weft__conn *c, uint8_t flags)
{
    if (!(flags & WEFT__MSG_RECEIPT))
        return 0;
    if (c->rcpt_n + c->rcpt_held >= WEFT__RCPT_PENDING_MAX) {
        c->env->st->rx_refused++;
        return WEFT_ERR_AGAIN;
    }
    if (rcpt_reserve(c, c->rcpt_held + 1) < 0)
        return WEFT_ERR_NOMEM;
    c->rcpt_held++;
    return 0;
}

static int on_msg(weft__conn *c, const weft__msg_frame *f)
{
    const weft__conn_env *env = c->env;
    int kind = msg_kind(f->flags);
    weft__lane_rx *L = &c->lanes[msg_lane(f->flags)];
    int whole = f->offset == 0 && f->len == f->total_len;

    if (f->total_len > env->cfg->max_message_bytes)
        return WEFT_ERR_PROTO;
    if (kind == WEFT_SEND_UNRELIABLE) {
        if (!whole || (f->flags & WEFT__MSG_RECEIPT))
            return WEFT_ERR_PROTO;
        return deliver(c, f->msg_id, f->data, f->len, NULL, 1, f->channel, f->flags);
    }
    if (f->msg_id < L->next_id ||
        (kind == WEFT_SEND_UNORDERED && weft__rset_contains(&L->delivered, f->msg_id))) {
        env->st->drop_dup_msg++;
        return 0;
    }
    if (f->msg_id - L->next_id > WEFT__ORDER_AHEAD_MAX)
        return WEFT_ERR_PROTO;

    weft__rxmsg *m = weft__u64map_get(&L->pending, f->msg_id);
    if (!m && whole && (kind == WEFT_SEND_UNORDERED || f->msg_id == L->next_id)) {
        int rc = hold_receipt(c, f->flags);
        if (rc < 0)
            return rc;
        if (kind == WEFT_SEND_UNORDERED) {
            rc = lane_mark_delivered(L, f->msg_id);
            if (rc < 0)
                return rc; /* unacknowledged: resent later */
            return deliver(c, f->msg_id, f->data, f->len, NULL, 1, f->channel, f->flags);
        }
        L->next_id++;
        rc = deliver(c, f->msg_id, f->data, f->len, NULL, 1, f->channel, f->flags);
        if (rc < 0)
            return rc;
        return drain_ordered(c, L);
    }
    if (!m) {
        /* Bounded: past the message count or buffer cap a new message is
         * refused -- the whole packet then goes unacknowledged, so the
         * sender resends it later.  The next message of an ordered lane is
         * always taken: it is what frees the buffer, so no deadlock. */
        int next_ordered = kind == WEFT_SEND_ORDERED && f->msg_id == L->next_id;
        if (!next_ordered &&
            (c->rx_msgs >= WEFT__RX_MSGS_MAX ||
             c->rx_buffered + f->total_len >
                 2ull * env->cfg->recv_window_bytes + env->cfg->max_message_bytes)) {
            env->st->rx_refused++;
            return WEFT_ERR_AGAIN;
        }
        /* the receipt's slot is held from the message's first byte */
        int rc = hold_receipt(c, f->flags);
        if (rc < 0)
            return rc;
        int held = (f->flags & WEFT__MSG_RECEIPT) != 0;
        m = weft__calloc(env->a, sizeof *m);
        if (!m) {
            c->rcpt_held -= (size_t)held;
            return WEFT_ERR_NOMEM;
        }
        m->buf = weft__bufpool_get(env->pool, f->total_len ? f->total_len : 1);
        if (!m->buf) {
            weft__free(env->a, m);
            c->rcpt_held -= (size_t)held;
            return WEFT_ERR_NOMEM;
        }
        m->msg_id = f->msg_id;
        m->flags = f->flags;
        m->channel = f->channel;
        m->total_len = (uint32_t)f->total_len;
        weft__rset_init(&m->got, env->a, 4096);
        if (weft__u64map_put(&L->pending, f->msg_id, m) < 0) {
            free_rxmsg(c, m);
            c->rcpt_held -= (size_t)held;
            return WEFT_ERR_NOMEM;
        }
        c->rx_msgs++;
        c->rx_buffered += f->total_len;
    } else if (m->total_len != f->total_len || m->flags != f->flags ||
               m->channel != f->channel) {
        return WEFT_ERR_PROTO;
    }
    if (m->complete) {
        env->st->drop_dup_msg++;
        return 0;
    }
    if (whole) {
        /* whole in one fragment: no range bookkeeping needed */
        memcpy(m->buf, f->data, f->len);
        m->have = f->len;
    } else if (f->len) {
        int64_t fresh = weft__rset_add(&m->got, f->offset, f->offset + f->len - 1);
        if (fresh < 0)
            return (int)fresh;
        if (fresh == 0)
            env->st->drop_dup_msg++;
        memcpy(m->buf + f->offset, f->data, f->len);
        m->have += (uint64_t)fresh;
    }
    if (m->have < m->total_len)
        return 0;
    if (kind == WEFT_SEND_UNORDERED) {
        int rc = lane_mark_delivered(L, m->msg_id);
        if (rc < 0) {
            c->rcpt_held -= (m->flags & WEFT__MSG_RECEIPT) != 0;
            return rc; /* kept incomplete-looking: redelivered on resend */
        }
        m->complete = 1;
        weft__u64map_del(&L->pending, m->msg_id);
        c->rx_msgs--;
        c->rx_buffered -= m->total_len;
        uint8_t *buf = m->buf;
        m->buf = NULL;
        rc = deliver(c, m->msg_id, buf, m->total_len, buf, 0, m->channel, m->flags);
        free_rxmsg(c, m);
        return rc;
    }
    m->complete = 1;
    return drain_ordered(c, L);
}

int weft__conn_consumed(weft__conn *c, size_t len)
{
    uint32_t win = c->env->cfg->recv_window_bytes;
    c->rx_consumed += len;
    /* Extend credit once a quarter of the window was used (RFC 9000 §4.2
     * leaves the policy open; a quarter keeps senders streaming). */
    if (c->live && c->rx_consumed + win - c->rx_limit_sent >= win / 4 && !c->max_data_due) {
        c->max_data_due = 1;
        return 1;
    }
    return 0;
}

int weft__conn_receipt(weft__conn *c, uint8_t lane, uint64_t msg_id)
{
    /* the slot was held when the message completed (hold_receipt) */
    if (!c->live || !c->rcpt_held)
        return 0;
    c->rcpt_held--;
    c->rcpt_q[(c->rcpt_head + c->rcpt_n++) & (c->rcpt_cap - 1)] =
        (weft__rcpt){msg_id, lane};
    return 1;
}

/* ------------------------------------------------------------------------ */
/* Packet input and timers                                                   */

int weft__conn_on_packet(weft__conn *c, uint64_t pn, uint8_t *pl, size_t len,
                         uint64_t now_us)
{
    int eliciting = 0, rc = 0, refused = 0;
    size_t pos = 0;
    weft__frame f;
    if (!c->live)
        return WEFT_ERR_STATE;
    c->last_recv_us = now_us;
    while (pos < len) {
        ptrdiff_t n = weft__frame_decode(pl + pos, len - pos, &f);
        if (n <= 0) {
            rc = WEFT_ERR_PROTO;
            break;
        }
        pos += (size_t)n;
        switch (f.type) {
        case WEFT__F_PADDING:
            break;
        case WEFT__F_PING:
            eliciting = 1;
            break;
        case WEFT__F_ACK:
            rc = on_ack(c, &f.u.ack, now_us);
            break;
        case WEFT__F_MSG:
            eliciting = 1;
            rc = on_msg(c, &f.u.msg);
            if (rc == WEFT_ERR_AGAIN) {
                refused = 1; /* keep going: later frames may be taken */
                rc = 0;
            }
            break;
        case WEFT__F_MAX_DATA:
            eliciting = 1;
            if (f.u.max_data > c->fc_limit)
                c->fc_limit = f.u.max_data;
            break;
        case WEFT__F_RECEIPT:
            eliciting = 1;
            on_receipts(c, &f.u.receipt);
            break;
        case WEFT__F_CLOSE:
            c->close_reason = f.u.close_reason;
            return WEFT_ERR_PEER_CLOSED;
        default:
            rc = WEFT_ERR_PROTO;
        }
        if (rc < 0)
            break;
    }
    c->last_recv_us = now_us;
    if (refused)
        return rc < 0 ? rc : WEFT_ERR_AGAIN; /* not acknowledged: resent */
    if (rc < 0)
        return rc;
    uint64_t largest = weft__rset_max(&c->rx_pns);
    int out_of_order = c->rx_pns.n && pn < largest;
    if (weft__rset_add(&c->rx_pns, pn, pn) < 0)
        return WEFT_ERR_NOMEM; /* not acknowledged: resent (duplicates of
                                  what was taken are recognised) */
    if (!out_of_order)
        c->rx_largest_us = now_us;
    if (eliciting) {
        c->ack_needed = 1;
        /* RFC 9000 §13.2.1-2: every second ack-eliciting packet, or at
         * once on reordering; otherwise within max_ack_delay. */
        if (++c->unacked_eliciting >= WEFT__ACK_EVERY || out_of_order) {
            c->ack_now = 1;
            c->ack_due_us = 0;
        } else if (!c->ack_due_us) {
            c->ack_due_us = now_us + WEFT__MAX_ACK_DELAY_US;
        }
    }
    return 0;
}

/*
 * On a probe timeout the two oldest outstanding packets are treated as
 * lost without a congestion signal: their fragments go to the resend
 * queue and the probes carry them (RFC 9002 §6.2.4 allows retransmitting
 * unacknowledged data in probes).  Under heavy loss this keeps a probe
 * useful even when its predecessors and their ACKs all vanished.
 */
static void pto_requeue(weft__conn *c)
{
    int n = 0;
    for (uint64_t pn = c->sent_base; pn < c->pn_next && n < 2; pn++) {
        weft__sent *s = sent_at(c, pn);
        if (s->state != 1 || !s->ack_eliciting || s->mtu_probe)
            continue;
        if (requeue(c, s) < 0)
            break; /* stays outstanding: the next PTO tries again */
        s->state = 0;
        if (s->in_flight)
            weft__cc_on_discarded(&c->cc, s->size);
        c->env->st->retransmits++;
        n++;
    }
    pop_done(c);
}

static uint64_t pto_deadline(const weft__conn *c)
{
    /* RFC 9002 §6.2.1: PTO from the last ack-eliciting packet, doubling
     * per consecutive expiry. */
    uint64_t pto = weft__rtt_pto_us(&c->rtt, WEFT__MAX_ACK_DELAY_US);
    return c->last_ack_eliciting_us + (pto << WEFT__MIN(c->pto_count, PTO_MAX_BACKOFF));
}

static int has_eliciting_in_flight(const weft__conn *c)
{
    return c->cc.bytes_in_flight > 0;
}

uint64_t weft__conn_deadline(const weft__conn *c, uint64_t now_us)
{
    const weft_config *cfg = c->env->cfg;
    if (!c->live)
        return UINT64_MAX;
    uint64_t t = c->last_recv_us + (uint64_t)cfg->unreachable_ms * 1000;
    if (c->loss_time_us && c->loss_time_us < t)
        t = c->loss_time_us;
    else if (!c->loss_time_us && has_eliciting_in_flight(c)) {
        uint64_t d = pto_deadline(c);
        if (d < t)
            t = d;
    }
    if (c->ack_due_us && c->ack_due_us < t)
        t = c->ack_due_us;
    uint64_t ka = c->last_send_us + (uint64_t)cfg->keepalive_ms * 1000;
    if (ka < t)
        t = ka;
    if (data_ready(c)) {
        uint64_t pace = weft__pacer_next_us((weft__pacer *)&c->pacer, &c->cc, &c->rtt, c->mtu, now_us);
        if (pace < t)
            t = pace;
    }
    return t;
}

int weft__conn_on_timer(weft__conn *c, uint64_t now_us)
{
    const weft_config *cfg = c->env->cfg;
    if (!c->live)
        return 0;
    if (now_us >= c->last_recv_us + (uint64_t)cfg->unreachable_ms * 1000)
        return 1;
    if (c->loss_time_us && now_us >= c->loss_time_us) {
        detect_lost(c, now_us);
        pop_done(c);
    } else if (!c->loss_time_us && has_eliciting_in_flight(c) &&
               now_us >= pto_deadline(c)) {
        /* Probe timeout: one ack-eliciting probe; its ACK lets the time
         * threshold find what was lost (RFC 9002 §6.2.4). */
        c->pto_count++;
        pto_requeue(c);
        c->ping_due = 1;
        c->probes_due = 2;
    }
    if (c->ack_due_us && now_us >= c->ack_due_us) {
        c->ack_due_us = 0;
        c->ack_now = 1;
    }
    if (now_us >= c->last_send_us + (uint64_t)cfg->keepalive_ms * 1000)
        c->ping_due = 1;
    return 0;
}
