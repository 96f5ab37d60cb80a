/*
 * conn.c -- the reliable transport of one established session.
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
 */
#include <string.h>

#include "core/engine_internal.h"
#include "base/util.h"

#define PTO_MAX_BACKOFF 6
#define SENT_RING_MIN 64

static inline int msg_kind(uint8_t flags) { return flags & WEFT_SEND_KIND_MASK; }
static inline int msg_prio(uint8_t flags) { return flags & WEFT_SEND_PRIO_MASK; }

static weft__sent *sent_at(const weft__peer *p, uint64_t pn)
{
    return &p->sent[(pn - 0) & (p->sent_cap - 1)];
}

/* ------------------------------------------------------------------------ */
/* Lifecycle                                                                 */

int weft__conn_init(weft__peer *p, uint64_t now_us)
{
    weft__engine *e = p->e;
    if (!p->sent) {
        p->sent = weft__calloc(e->a, SENT_RING_MIN * sizeof *p->sent);
        if (!p->sent)
            return WEFT_ERR_NOMEM;
        p->sent_cap = SENT_RING_MIN;
    }
    p->sent_base = p->pn_next;
    p->mtu = e->cfg.mtu_initial;
    p->mtu_probe_idx = e->cfg.mtu_max > e->cfg.mtu_initial ? 0 : -1;
    p->mtu_probe_due = p->mtu_probe_idx >= 0;
    weft__rtt_init(&p->rtt, WEFT__INITIAL_RTT_US);
    if (p->hs_rtt_us)
        weft__rtt_update(&p->rtt, p->hs_rtt_us, 0, WEFT__MAX_ACK_DELAY_US);
    weft__cc_init(&p->cc, p->mtu, (uint64_t)e->cfg.max_queued_bytes + (1u << 20));
    weft__pacer_init(&p->pacer, 16u * p->mtu, now_us);
    weft__rset_init(&p->rx_pns, e->a, 256);
    for (int l = 0; l < WEFT__LANES; l++) {
        weft__rset_init(&p->lanes[l].delivered, e->a, 4096);
        weft__u64map_init(&p->lanes[l].pending, e->a);
    }
    p->fc_limit = p->peer_window ? p->peer_window : (1u << 20);
    p->rx_limit_sent = e->cfg.recv_window_bytes;
    p->last_recv_us = p->last_send_us = p->last_app_us = now_us;
    return 0;
}

static void free_rxmsg(weft__peer *p, weft__rxmsg *m)
{
    weft__rset_free(&m->got);
    weft__buf_put(p->e, m->buf, m->total_len);
    weft__free(p->e->a, m);
}

static void clear_rx(weft__peer *p)
{
    for (int l = 0; l < WEFT__LANES; l++) {
        weft__lane_rx *L = &p->lanes[l];
        weft__u64map *m = &L->pending;
        for (size_t i = 0; i < m->cap; i++)
            if (m->slots[i].val)
                free_rxmsg(p, m->slots[i].val);
        weft__u64map_free(m);
        weft__rset_free(&L->delivered);
        L->next_id = 0;
    }
    p->rx_msgs = 0;
    p->rx_buffered = 0;
}

static void clear_sent(weft__peer *p)
{
    for (uint64_t pn = p->sent_base; pn < p->pn_next; pn++) {
        weft__sent *s = sent_at(p, pn);
        weft__free(p->e->a, s->frags);
        memset(s, 0, sizeof *s);
    }
    p->sent_base = p->pn_next;
    for (int q = 0; q < WEFT_PRIO_COUNT; q++) {
        weft__free(p->e->a, p->rtx_q[q]);
        p->rtx_q[q] = NULL;
        p->rtx_head[q] = p->rtx_n[q] = p->rtx_cap[q] = 0;
    }
}

void weft__conn_free(weft__peer *p)
{
    clear_sent(p);
    weft__free(p->e->a, p->sent);
    p->sent = NULL;
    p->sent_cap = 0;
    clear_rx(p);
    weft__rset_free(&p->rx_pns);
    for (weft__omsg *m = p->live_head, *n; m; m = n) {
        n = m->lnext;
        weft__free(p->e->a, m);
    }
    p->live_head = p->live_tail = NULL;
    for (int q = 0; q < WEFT_PRIO_COUNT; q++)
        p->q_head[q] = p->q_tail[q] = NULL;
    p->queued_bytes = 0;
}

static void queue_append(weft__peer *p, weft__omsg *m)
{
    int q = msg_prio(m->flags);
    m->next = NULL;
    m->queued = 1;
    if (p->q_tail[q])
        p->q_tail[q]->next = m;
    else
        p->q_head[q] = m;
    p->q_tail[q] = m;
}

void weft__conn_reset(weft__peer *p, uint64_t now_us)
{
    /* A new transport session (the peer restarted, or a fresh dial): what
     * was in flight may or may not have reached the old incarnation, so
     * every unfinished message is sent again, in order, with new ids. */
    clear_sent(p);
    clear_rx(p);
    weft__rset_free(&p->rx_pns);
    for (int q = 0; q < WEFT_PRIO_COUNT; q++)
        p->q_head[q] = p->q_tail[q] = NULL;
    memset(p->next_msg_id, 0, sizeof p->next_msg_id);
    p->fc_sent = 0;
    p->rx_consumed = 0;
    for (weft__omsg *m = p->live_head; m; m = m->lnext) {
        m->msg_id = p->next_msg_id[m->flags & 0x0f]++;
        m->next_off = 0;
        m->frags_out = 0;
        queue_append(p, m);
    }
    p->has_largest_acked = 0;
    p->largest_acked = 0;
    p->loss_time_us = 0;
    p->pto_count = 0;
    p->ack_needed = p->ack_now = 0;
    p->ack_due_us = 0;
    p->unacked_eliciting = 0;
    weft__conn_init(p, now_us);
}

/* ------------------------------------------------------------------------ */
/* Sending                                                                   */

static void live_remove(weft__peer *p, weft__omsg *m)
{
    if (m->lprev)
        m->lprev->lnext = m->lnext;
    else
        p->live_head = m->lnext;
    if (m->lnext)
        m->lnext->lprev = m->lprev;
    else
        p->live_tail = m->lprev;
}

static void maybe_finish(weft__peer *p, weft__omsg *m)
{
    if (m->frags_out || m->queued || m->next_off < m->len)
        return;
    live_remove(p, m);
    p->queued_bytes -= m->len;
    weft__buf_put(p->e, m, sizeof *m + m->len);
}

int weft__conn_queue(weft__peer *p, const void *msg, size_t len,
                     uint32_t flags, uint64_t now_us)
{
    weft__engine *e = p->e;
    if (len > e->cfg.max_message_bytes)
        return WEFT_ERR_TOO_BIG;
    if (msg_kind((uint8_t)flags) == WEFT_SEND_UNRELIABLE &&
        len + 64 > (size_t)p->mtu - WEFT__DATA_OVERHEAD)
        return WEFT_ERR_TOO_BIG;
    if (p->queued_bytes + len > e->cfg.max_queued_bytes && p->queued_bytes)
        return WEFT_ERR_AGAIN;
    weft__omsg *m = weft__buf_get(e, sizeof *m + len);
    if (!m)
        return WEFT_ERR_NOMEM;
    memset(m, 0, sizeof *m);
    m->flags = (uint8_t)(flags & 0x0f);
    m->len = (uint32_t)len;
    m->msg_id = p->next_msg_id[m->flags]++;
    if (len)
        memcpy(m->data, msg, len);
    m->lprev = p->live_tail;
    if (p->live_tail)
        p->live_tail->lnext = m;
    else
        p->live_head = m;
    p->live_tail = m;
    queue_append(p, m);
    p->queued_bytes += len;
    p->last_app_us = now_us;
    e->st.msgs_sent++;
    return 0;
}

static int rtx_push(weft__peer *p, int q, weft__frag f, int front)
{
    if (p->rtx_n[q] == p->rtx_cap[q]) {
        size_t ncap = p->rtx_cap[q] ? p->rtx_cap[q] * 2 : 64;
        weft__frag *n = weft__alloc(p->e->a, ncap * sizeof *n);
        if (!n)
            return WEFT_ERR_NOMEM;
        for (size_t i = 0; i < p->rtx_n[q]; i++)
            n[i] = p->rtx_q[q][(p->rtx_head[q] + i) & (p->rtx_cap[q] - 1)];
        weft__free(p->e->a, p->rtx_q[q]);
        p->rtx_q[q] = n;
        p->rtx_head[q] = 0;
        p->rtx_cap[q] = ncap;
    }
    size_t mask = p->rtx_cap[q] - 1;
    if (front) {
        p->rtx_head[q] = (p->rtx_head[q] + mask) & mask;
        p->rtx_q[q][p->rtx_head[q]] = f;
    } else {
        p->rtx_q[q][(p->rtx_head[q] + p->rtx_n[q]) & mask] = f;
    }
    p->rtx_n[q]++;
    return 0;
}

static int has_rtx(const weft__peer *p)
{
    for (int q = 0; q < WEFT_PRIO_COUNT; q++)
        if (p->rtx_n[q])
            return 1;
    return 0;
}

static int has_new_data(const weft__peer *p)
{
    for (int q = 0; q < WEFT_PRIO_COUNT; q++) {
        const weft__omsg *m = p->q_head[q];
        if (!m)
            continue;
        /* Blocked only when flow control forbids its next byte. */
        if (msg_kind(m->flags) == WEFT_SEND_UNRELIABLE || m->len == 0 ||
            p->fc_sent < p->fc_limit)
            return 1;
    }
    return 0;
}

/* 1 when data may go now: something to send, window open, pacer ready. */
static int data_ready(const weft__peer *p)
{
    /* probe packets are not blocked by congestion control (RFC 9002 §7.5) */
    return (has_rtx(p) || has_new_data(p)) &&
           (p->probes_due || weft__cc_can_send(&p->cc, p->mtu));
}

static int data_paced_ok(const weft__peer *p, uint64_t now_us)
{
    return p->probes_due || weft__pacer_next_us((weft__pacer *)&p->pacer, &p->cc, &p->rtt, p->mtu, now_us) <= now_us;
}

int weft__conn_has_output(const weft__peer *p, uint64_t now_us)
{
    if (p->ack_now || p->ping_due || p->max_data_due || p->close_due ||
        p->mtu_probe_due)
        return 1;
    return data_ready(p) && data_paced_ok(p, now_us);
}

static int frag_push(weft__engine *e, size_t *n, weft__frag f)
{
    if (*n == e->frags_cap) {
        size_t ncap = e->frags_cap ? e->frags_cap * 2 : 256;
        weft__frag *nf = weft__realloc(e->a, e->frags, ncap * sizeof *nf);
        if (!nf)
            return WEFT_ERR_NOMEM;
        e->frags = nf;
        e->frags_cap = ncap;
    }
    e->frags[(*n)++] = f;
    return 0;
}

static int sent_reserve(weft__peer *p, uint64_t pn)
{
    if (pn - p->sent_base < p->sent_cap)
        return 0;
    size_t ncap = p->sent_cap * 2;
    while (pn - p->sent_base >= ncap)
        ncap *= 2;
    weft__sent *ns = weft__calloc(p->e->a, ncap * sizeof *ns);
    if (!ns)
        return WEFT_ERR_NOMEM;
    for (uint64_t q = p->sent_base; q < p->pn_next; q++)
        ns[q & (ncap - 1)] = p->sent[q & (p->sent_cap - 1)];
    weft__free(p->e->a, p->sent);
    p->sent = ns;
    p->sent_cap = ncap;
    return 0;
}

/* Writes one MSG frame for fragment f (clipped to the room left).  Returns
 * bytes of message data written (may be < f->len), or -1 when not even
 * the header and one byte fit. */
static ptrdiff_t put_frag(uint8_t *out, size_t room, const weft__frag *f,
                          size_t *used)
{
    const weft__omsg *m = f->m;
    size_t hdr = weft__frame_msg_hdr_len(m->msg_id, m->len, f->off, f->len);
    size_t take = f->len;
    if (hdr + take > room) {
        if (f->len == 0 || room <= hdr + 1)
            return -1;
        take = room - hdr;
        hdr = weft__frame_msg_hdr_len(m->msg_id, m->len, f->off, take);
        if (hdr + take > room)
            take = room - hdr;
        if (take == 0 || hdr >= room)
            return -1;
    }
    weft__msg_frame mf = {m->flags, m->msg_id, m->len, f->off, m->data + f->off, take};
    ptrdiff_t n = weft__frame_put_msg(out, room, &mf);
    if (n < 0)
        return -1;
    *used = (size_t)n;
    return (ptrdiff_t)take;
}

ptrdiff_t weft__conn_build(weft__peer *p, uint8_t *out, size_t cap,
                           uint64_t pn, uint64_t now_us)
{
    weft__engine *e = p->e;
    size_t limit = WEFT__MIN(cap, (size_t)p->mtu) - WEFT__DATA_OVERHEAD;
    size_t pos = 0, nfrag = 0;
    int eliciting = 0, probe = 0, had_max_data = 0;
    ptrdiff_t n;

    if (sent_reserve(p, pn) < 0)
        return WEFT_ERR_NOMEM;

    /* A PMTU probe is a PING padded to the candidate size (RFC 8899 §4.1);
     * it carries no data, so its loss costs nothing but the probe. */
    if (p->mtu_probe_due && p->mtu_probe_idx >= 0) {
        static const uint32_t cand[] = {0, 16384, 8952, 1452};
        uint32_t size = p->mtu_probe_idx == 0 ? e->cfg.mtu_max : cand[p->mtu_probe_idx];
        p->mtu_probe_due = 0;
        if (size > p->mtu && size - WEFT__DATA_OVERHEAD <= cap) {
            size_t body = size - WEFT__DATA_OVERHEAD;
            out[0] = WEFT__F_PING;
            memset(out + 1, 0, body - 1);
            weft__sent *s = sent_at(p, pn);
            memset(s, 0, sizeof *s);
            s->state = 1;
            s->sent_us = now_us;
            s->size = size;
            s->mtu_probe = 1;
            p->mtu_probe_pn = pn;
            p->mtu_probe_out = 1;
            return (ptrdiff_t)body;
        }
    }

    if (p->ack_needed && p->rx_pns.n) {
        weft__range r[WEFT__ACK_RANGES_MAX];
        size_t nr = 0;
        for (size_t i = p->rx_pns.n; i-- > 0 && nr < WEFT__ACK_RANGES_MAX;)
            r[nr++] = p->rx_pns.r[i];
        uint64_t delay = now_us > p->rx_largest_us ? now_us - p->rx_largest_us : 0;
        n = weft__frame_put_ack(out + pos, limit - pos, r, nr, delay);
        if (n > 0) {
            pos += (size_t)n;
            p->ack_needed = 0;
            p->ack_now = 0;
            p->ack_due_us = 0;
            p->unacked_eliciting = 0;
        }
    }
    if (p->close_due) {
        n = weft__frame_put_close(out + pos, limit - pos, p->close_reason);
        if (n > 0) {
            pos += (size_t)n;
            p->close_due = 0;
        }
        goto done; /* nothing follows a CLOSE */
    }
    if (p->max_data_due) {
        uint64_t lim = p->rx_consumed + e->cfg.recv_window_bytes;
        n = weft__frame_put_max_data(out + pos, limit - pos, lim);
        if (n > 0) {
            pos += (size_t)n;
            p->rx_limit_sent = lim;
            p->max_data_due = 0;
            had_max_data = 1;
            eliciting = 1;
        }
    }
    if (p->ping_due) {
        n = weft__frame_put_ping(out + pos, limit - pos);
        if (n > 0) {
            pos += (size_t)n;
            p->ping_due = 0;
            eliciting = 1;
        }
    }

    if (data_ready(p) && data_paced_ok(p, now_us)) {
        for (int q = 0; q < WEFT_PRIO_COUNT && limit - pos > 8; q++) {
            /* resends first: they hold up the receiver's ordered lanes */
            while (p->rtx_n[q] && limit - pos > 8) {
                weft__frag f = p->rtx_q[q][p->rtx_head[q]];
                size_t used;
                ptrdiff_t took = put_frag(out + pos, limit - pos, &f, &used);
                if (took < 0)
                    break;
                p->rtx_head[q] = (p->rtx_head[q] + 1) & (p->rtx_cap[q] - 1);
                p->rtx_n[q]--;
                pos += used;
                eliciting = 1;
                weft__frag sentf = {f.m, f.off, (uint32_t)took};
                if ((size_t)took < f.len) {
                    weft__frag rest = {f.m, f.off + (uint32_t)took, f.len - (uint32_t)took};
                    f.m->frags_out++;
                    rtx_push(p, q, rest, 1);
                }
                frag_push(e, &nfrag, sentf);
            }
            while (p->q_head[q] && limit - pos > 8) {
                weft__omsg *m = p->q_head[q];
                int unrel = msg_kind(m->flags) == WEFT_SEND_UNRELIABLE;
                uint32_t want = m->len - m->next_off;
                if (!unrel && want) {
                    uint64_t credit = p->fc_limit > p->fc_sent ? p->fc_limit - p->fc_sent : 0;
                    if (!credit)
                        break;
                    if (want > credit)
                        want = (uint32_t)credit;
                }
                weft__frag f = {m, m->next_off, want};
                size_t used;
                ptrdiff_t took = put_frag(out + pos, limit - pos, &f, &used);
                if (took < 0 || (unrel && (uint32_t)took < m->len))
                    break; /* an unreliable message goes whole or waits */
                pos += used;
                eliciting = 1;
                m->next_off += (uint32_t)took;
                if (!unrel) {
                    p->fc_sent += (uint64_t)took;
                    m->frags_out++;
                    weft__frag sentf = {m, f.off, (uint32_t)took};
                    frag_push(e, &nfrag, sentf);
                }
                if (m->next_off == m->len) {
                    p->q_head[q] = m->next;
                    if (!m->next)
                        p->q_tail[q] = NULL;
                    m->queued = 0;
                    m->next = NULL;
                    maybe_finish(p, m);
                } else if ((uint32_t)took < f.len) {
                    break; /* packet full or credit used up */
                }
            }
        }
    }

done:
    if (pos == 0)
        return 0;
    weft__sent *s = sent_at(p, pn);
    memset(s, 0, sizeof *s);
    s->state = 1;
    s->sent_us = now_us;
    s->size = (uint32_t)(pos + WEFT__DATA_OVERHEAD);
    s->ack_eliciting = (uint8_t)eliciting;
    s->in_flight = (uint8_t)eliciting; /* ACK-only packets: RFC 9002 §2 */
    s->mtu_probe = (uint8_t)probe;
    s->had_max_data = (uint8_t)had_max_data;
    if (nfrag) {
        s->frags = weft__alloc(e->a, nfrag * sizeof *s->frags);
        if (!s->frags) {
            /* keep going: the fragments look lost and are resent */
            for (size_t i = 0; i < nfrag; i++)
                rtx_push(p, msg_prio(e->frags[i].m->flags), e->frags[i], 0);
        } else {
            memcpy(s->frags, e->frags, nfrag * sizeof *s->frags);
            s->nfrag = (uint32_t)nfrag;
        }
    }
    if (eliciting && p->probes_due)
        p->probes_due--;
    if (eliciting) {
        weft__cc_on_sent(&p->cc, s->size);
        weft__pacer_on_sent(&p->pacer, &p->cc, &p->rtt, s->size, now_us);
        p->last_ack_eliciting_us = now_us;
    }
    p->last_send_us = now_us;
    return (ptrdiff_t)pos;
}

/* ------------------------------------------------------------------------ */
/* Acknowledgements and loss (RFC 9002 §6)                                   */

static void on_frags_done(weft__peer *p, weft__sent *s)
{
    for (uint32_t i = 0; i < s->nfrag; i++) {
        weft__omsg *m = s->frags[i].m;
        m->frags_out--;
        maybe_finish(p, m);
    }
    weft__free(p->e->a, s->frags);
    s->frags = NULL;
    s->nfrag = 0;
}

static void mtu_probe_result(weft__peer *p, weft__sent *s, int ok)
{
    static const uint32_t cand[] = {0, 16384, 8952, 1452};
    p->mtu_probe_out = 0;
    if (ok) {
        p->mtu = s->size;
        weft__cc_set_mss(&p->cc, p->mtu);
        p->pacer.burst_bytes = 16u * p->mtu;
        p->mtu_probe_idx = -1; /* largest candidates go first: done */
        return;
    }
    /* RFC 8899 §5.1.2 MAX_PROBES: a lost probe may be plain loss, so a
     * size is given up only after three losses. */
    if (++p->mtu_probe_losses < 3) {
        p->mtu_probe_due = 1;
        return;
    }
    p->mtu_probe_losses = 0;
    /* next smaller candidate that still beats the current MTU */
    while (++p->mtu_probe_idx < 4 && cand[p->mtu_probe_idx] <= p->mtu)
        ;
    if (p->mtu_probe_idx >= 4)
        p->mtu_probe_idx = -1;
    else
        p->mtu_probe_due = 1;
}

static void detect_lost(weft__peer *p, uint64_t now_us)
{
    if (!p->has_largest_acked)
        return;
    uint64_t delay = weft__rtt_loss_delay_us(&p->rtt);
    uint64_t lost_before = now_us > delay ? now_us - delay : 0;
    uint64_t lost_bytes = 0, largest_lost_sent = 0;
    p->loss_time_us = 0;
    uint64_t top = WEFT__MIN(p->largest_acked, p->pn_next - 1);
    for (uint64_t pn = p->sent_base; pn <= top && pn < p->pn_next; pn++) {
        weft__sent *s = sent_at(p, pn);
        if (s->state != 1)
            continue;
        if (pn + WEFT__PACKET_THRESHOLD <= p->largest_acked || s->sent_us <= lost_before) {
            s->state = 0;
            if (s->mtu_probe) {
                mtu_probe_result(p, s, 0);
                continue;
            }
            if (s->in_flight) {
                lost_bytes += s->size;
                if (s->sent_us > largest_lost_sent)
                    largest_lost_sent = s->sent_us;
            }
            for (uint32_t i = 0; i < s->nfrag; i++)
                rtx_push(p, msg_prio(s->frags[i].m->flags), s->frags[i], 0);
            weft__free(p->e->a, s->frags);
            s->frags = NULL;
            s->nfrag = 0;
            if (s->had_max_data)
                p->max_data_due = 1;
            if (s->ack_eliciting)
                p->e->st.retransmits++;
        } else {
            uint64_t t = s->sent_us + delay;
            if (!p->loss_time_us || t < p->loss_time_us)
                p->loss_time_us = t;
        }
    }
    if (lost_bytes)
        weft__cc_on_lost(&p->cc, lost_bytes, largest_lost_sent, now_us);
}

static void pop_done(weft__peer *p)
{
    while (p->sent_base < p->pn_next && sent_at(p, p->sent_base)->state == 0)
        p->sent_base++;
}

static int on_ack(weft__peer *p, const weft__ack_frame *a, uint64_t now_us)
{
    uint64_t largest = a->ranges[0].hi;
    if (largest >= p->pn_next)
        return WEFT_ERR_PROTO; /* acknowledges a packet never sent */
    int new_largest = !p->has_largest_acked || largest > p->largest_acked;
    int largest_newly = 0, any_eliciting = 0;
    uint64_t largest_sent_us = 0;
    for (size_t i = 0; i < a->nranges; i++) {
        uint64_t lo = WEFT__MAX(a->ranges[i].lo, p->sent_base);
        uint64_t hi = a->ranges[i].hi;
        for (uint64_t pn = lo; pn <= hi && pn < p->pn_next; pn++) {
            weft__sent *s = sent_at(p, pn);
            if (s->state != 1)
                continue;
            s->state = 0;
            if (pn == largest) {
                largest_newly = 1;
                largest_sent_us = s->sent_us;
            }
            any_eliciting |= s->ack_eliciting;
            if (s->mtu_probe) {
                mtu_probe_result(p, s, 1);
                continue;
            }
            if (s->in_flight)
                weft__cc_on_acked(&p->cc, s->size, s->sent_us);
            on_frags_done(p, s);
        }
    }
    if (new_largest) {
        p->largest_acked = largest;
        p->has_largest_acked = 1;
    }
    /* RTT sample only when the largest acknowledged is newly acknowledged
     * and something ack-eliciting was (RFC 9002 §5.1). */
    if (largest_newly && any_eliciting && now_us >= largest_sent_us)
        weft__rtt_update(&p->rtt, now_us - largest_sent_us, a->ack_delay_us,
                         WEFT__MAX_ACK_DELAY_US);
    if (largest_newly || any_eliciting)
        p->pto_count = 0;
    detect_lost(p, now_us);
    pop_done(p);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Receiving messages                                                        */

static void deliver(weft__peer *p, uint8_t flags, const uint8_t *data,
                    size_t len, uint8_t *owned, int in_rx)
{
    p->e->st.msgs_delivered++;
    p->last_app_us = p->e->now_us;
    weft__ev_push(p->e, WEFT_EV_MESSAGE, p, 0, flags, data, len, owned, in_rx);
}

static void lane_mark_delivered(weft__lane_rx *L, uint64_t id)
{
    weft__rset_add(&L->delivered, id, id);
    /* advance the floor over a contiguous prefix */
    if (L->delivered.n && L->delivered.r[0].lo <= L->next_id &&
        L->delivered.r[0].hi >= L->next_id) {
        L->next_id = L->delivered.r[0].hi + 1;
        weft__rset_drop_below(&L->delivered, L->next_id);
    }
}

static void drain_ordered(weft__peer *p, weft__lane_rx *L)
{
    weft__rxmsg *m;
    while ((m = weft__u64map_get(&L->pending, L->next_id)) && m->complete) {
        weft__u64map_del(&L->pending, L->next_id);
        p->rx_msgs--;
        p->rx_buffered -= m->total_len;
        L->next_id++;
        uint8_t *buf = m->buf;
        m->buf = NULL;
        deliver(p, m->flags, buf, m->total_len, buf, 0);
        free_rxmsg(p, m);
    }
}

static int on_msg(weft__peer *p, const weft__msg_frame *f)
{
    weft__engine *e = p->e;
    int kind = msg_kind(f->flags);
    weft__lane_rx *L = &p->lanes[f->flags & 0x0f];
    int whole = f->offset == 0 && f->len == f->total_len;

    if (f->total_len > e->cfg.max_message_bytes)
        return WEFT_ERR_PROTO;
    if (kind == WEFT_SEND_UNRELIABLE) {
        if (!whole)
            return WEFT_ERR_PROTO;
        deliver(p, f->flags, f->data, f->len, NULL, 1);
        return 0;
    }
    if (f->msg_id < L->next_id ||
        (kind == WEFT_SEND_UNORDERED && weft__rset_contains(&L->delivered, f->msg_id))) {
        e->st.drop_dup_msg++;
        return 0;
    }
    if (f->msg_id - L->next_id > WEFT__ORDER_AHEAD_MAX)
        return WEFT_ERR_PROTO;

    weft__rxmsg *m = weft__u64map_get(&L->pending, f->msg_id);
    if (!m && whole) {
        if (kind == WEFT_SEND_UNORDERED) {
            lane_mark_delivered(L, f->msg_id);
            deliver(p, f->flags, f->data, f->len, NULL, 1);
            return 0;
        }
        if (f->msg_id == L->next_id) {
            L->next_id++;
            deliver(p, f->flags, f->data, f->len, NULL, 1);
            drain_ordered(p, L);
            return 0;
        }
    }
    if (!m) {
        /* Bounded: past the message count or buffer cap a new message is
         * refused -- the whole packet then goes unacknowledged, so the
         * sender resends it later.  The next message of an ordered lane is
         * always taken: it is what frees the buffer, so no deadlock. */
        int next_ordered = kind == WEFT_SEND_ORDERED && f->msg_id == L->next_id;
        if (!next_ordered &&
            (p->rx_msgs >= WEFT__RX_MSGS_MAX ||
             p->rx_buffered + f->total_len >
                 2ull * e->cfg.recv_window_bytes + e->cfg.max_message_bytes)) {
            e->st.rx_refused++;
            return WEFT_ERR_AGAIN;
        }
        m = weft__calloc(e->a, sizeof *m);
        if (!m)
            return WEFT_ERR_NOMEM;
        m->buf = weft__buf_get(e, f->total_len);
        if (!m->buf) {
            weft__free(e->a, m);
            return WEFT_ERR_NOMEM;
        }
        m->msg_id = f->msg_id;
        m->flags = f->flags;
        m->total_len = (uint32_t)f->total_len;
        weft__rset_init(&m->got, e->a, 4096);
        if (weft__u64map_put(&L->pending, f->msg_id, m) < 0) {
            free_rxmsg(p, m);
            return WEFT_ERR_NOMEM;
        }
        p->rx_msgs++;
        p->rx_buffered += f->total_len;
    } else if (m->total_len != f->total_len || m->flags != f->flags) {
        return WEFT_ERR_PROTO;
    }
    if (m->complete) {
        e->st.drop_dup_msg++;
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
            e->st.drop_dup_msg++;
        memcpy(m->buf + f->offset, f->data, f->len);
        m->have += (uint64_t)fresh;
    }
    if (m->have < m->total_len)
        return 0;
    m->complete = 1;
    if (kind == WEFT_SEND_UNORDERED) {
        weft__u64map_del(&L->pending, m->msg_id);
        p->rx_msgs--;
        p->rx_buffered -= m->total_len;
        lane_mark_delivered(L, m->msg_id);
        uint8_t *buf = m->buf;
        m->buf = NULL;
        deliver(p, m->flags, buf, m->total_len, buf, 0);
        free_rxmsg(p, m);
    } else {
        drain_ordered(p, L);
    }
    return 0;
}

void weft__conn_consumed(weft__peer *p, size_t len)
{
    uint32_t win = p->e->cfg.recv_window_bytes;
    p->rx_consumed += len;
    /* Extend credit once a quarter of the window was used (RFC 9000 §4.2
     * leaves the policy open; a quarter keeps senders streaming). */
    if (p->rx_consumed + win - p->rx_limit_sent >= win / 4 && !p->max_data_due) {
        p->max_data_due = 1;
        weft__peer_wants_send(p);
    }
}

/* ------------------------------------------------------------------------ */
/* Packet input and timers                                                   */

int weft__conn_on_packet(weft__peer *p, uint64_t pn, uint8_t *pl, size_t len,
                         uint64_t now_us)
{
    int eliciting = 0, rc = 0, refused = 0;
    size_t pos = 0;
    weft__frame f;
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
            rc = on_ack(p, &f.u.ack, now_us);
            break;
        case WEFT__F_MSG:
            eliciting = 1;
            rc = on_msg(p, &f.u.msg);
            if (rc == WEFT_ERR_AGAIN) {
                refused = 1; /* keep going: later frames may be taken */
                rc = 0;
            }
            break;
        case WEFT__F_MAX_DATA:
            eliciting = 1;
            if (f.u.max_data > p->fc_limit)
                p->fc_limit = f.u.max_data;
            break;
        case WEFT__F_CLOSE:
            p->close_reason = f.u.close_reason;
            return WEFT_ERR_PEER_CLOSED;
        default:
            rc = WEFT_ERR_PROTO;
        }
        if (rc < 0)
            break;
    }
    p->last_recv_us = now_us;
    if (refused)
        return rc; /* not acknowledged: the sender will resend it all */
    uint64_t largest = weft__rset_max(&p->rx_pns);
    int out_of_order = p->rx_pns.n && pn < largest;
    weft__rset_add(&p->rx_pns, pn, pn);
    if (!out_of_order)
        p->rx_largest_us = now_us;
    if (eliciting) {
        p->ack_needed = 1;
        /* RFC 9000 §13.2.1-2: every second ack-eliciting packet, or at
         * once on reordering; otherwise within max_ack_delay. */
        if (++p->unacked_eliciting >= WEFT__ACK_EVERY || out_of_order) {
            p->ack_now = 1;
            p->ack_due_us = 0;
        } else if (!p->ack_due_us) {
            p->ack_due_us = now_us + WEFT__MAX_ACK_DELAY_US;
        }
    }
    p->last_recv_us = now_us;
    return rc;
}

/*
 * On a probe timeout the two oldest outstanding packets are treated as
 * lost without a congestion signal: their fragments go to the resend
 * queue and the probes carry them (RFC 9002 §6.2.4 allows retransmitting
 * unacknowledged data in probes).  Under heavy loss this keeps a probe
 * useful even when its predecessors and their ACKs all vanished.
 */
static void pto_requeue(weft__peer *p)
{
    int n = 0;
    for (uint64_t pn = p->sent_base; pn < p->pn_next && n < 2; pn++) {
        weft__sent *s = sent_at(p, pn);
        if (s->state != 1 || !s->ack_eliciting || s->mtu_probe)
            continue;
        s->state = 0;
        if (s->in_flight)
            weft__cc_on_discarded(&p->cc, s->size);
        for (uint32_t i = 0; i < s->nfrag; i++)
            rtx_push(p, msg_prio(s->frags[i].m->flags), s->frags[i], 0);
        weft__free(p->e->a, s->frags);
        s->frags = NULL;
        s->nfrag = 0;
        if (s->had_max_data)
            p->max_data_due = 1;
        p->e->st.retransmits++;
        n++;
    }
    pop_done(p);
}

static uint64_t pto_deadline(const weft__peer *p)
{
    /* RFC 9002 §6.2.1: PTO from the last ack-eliciting packet, doubling
     * per consecutive expiry. */
    uint64_t pto = weft__rtt_pto_us(&p->rtt, WEFT__MAX_ACK_DELAY_US);
    return p->last_ack_eliciting_us + (pto << WEFT__MIN(p->pto_count, PTO_MAX_BACKOFF));
}

static int has_eliciting_in_flight(const weft__peer *p)
{
    return p->cc.bytes_in_flight > 0;
}

uint64_t weft__conn_deadline(const weft__peer *p)
{
    const weft_config *c = &p->e->cfg;
    uint64_t t = p->last_recv_us + (uint64_t)c->unreachable_ms * 1000;
    if (p->loss_time_us && p->loss_time_us < t)
        t = p->loss_time_us;
    else if (!p->loss_time_us && has_eliciting_in_flight(p)) {
        uint64_t d = pto_deadline(p);
        if (d < t)
            t = d;
    }
    if (p->ack_due_us && p->ack_due_us < t)
        t = p->ack_due_us;
    uint64_t ka = p->last_send_us + (uint64_t)c->keepalive_ms * 1000;
    if (ka < t)
        t = ka;
    if (data_ready(p)) {
        uint64_t pace = weft__pacer_next_us((weft__pacer *)&p->pacer, &p->cc, &p->rtt, p->mtu, p->e->now_us);
        if (pace < t)
            t = pace;
    }
    return t;
}

int weft__conn_on_timer(weft__peer *p, uint64_t now_us)
{
    const weft_config *c = &p->e->cfg;
    if (now_us >= p->last_recv_us + (uint64_t)c->unreachable_ms * 1000)
        return 1;
    if (p->loss_time_us && now_us >= p->loss_time_us) {
        detect_lost(p, now_us);
        pop_done(p);
    } else if (!p->loss_time_us && has_eliciting_in_flight(p) &&
               now_us >= pto_deadline(p)) {
        /* Probe timeout: one ack-eliciting probe; its ACK lets the time
         * threshold find what was lost (RFC 9002 §6.2.4). */
        p->pto_count++;
        pto_requeue(p);
        p->ping_due = 1;
        p->probes_due = 2;
    }
    if (p->ack_due_us && now_us >= p->ack_due_us) {
        p->ack_due_us = 0;
        p->ack_now = 1;
    }
    if (now_us >= p->last_send_us + (uint64_t)c->keepalive_ms * 1000)
        p->ping_due = 1;
    return 0;
}
