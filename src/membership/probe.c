/*
 * probe.c -- the failure detector: probe rounds, indirect probes through
 * ping-req relays, Lifeguard's local health, the buddy system, and what
 * happens when a suspicion runs out (last chances, then death).
 *
 * SWIM §4.2 (each protocol period: PING one member; without an ACK within
 * the timeout, ask k others to PING_REQ it; still nothing by the end of the
 * period: suspect it) and §4.3 (round-robin target selection over a
 * shuffled list, table.c).  Lifeguard §3.1 (local health multiplier, LHM:
 * failed probes, missing NACKs and refutations raise it, acked probes
 * lower it; it stretches probe interval and timeout, so a node that is
 * itself slow accuses less) with NACKs from relays, and §3.3 (a ping to a
 * suspect carries the suspicion, so it can refute at once).  Like
 * memberlist (state.go probeNode) a second direct ping goes out with the
 * ping-reqs (memberlist sends it over TCP).  Suspicion deadlines are set
 * in update.c (Lifeguard §3.2); sweep() here acts on them.
 */
#include "membership/swim_internal.h"

/* Lifeguard §3.1: intervals and timeouts stretch with local health. */
static uint64_t scaled_us(const weft__swim *s, uint32_t ms)
{
    return weft__swim_ms_us(ms) * (s->awareness + 1);
}

void weft__swim_health_worse(weft__swim *s, uint32_t delta)
{
    s->awareness = WEFT__MIN(s->awareness + delta, s->cfg.awareness_max);
}

static void health_better(weft__swim *s)
{
    if (s->awareness)
        s->awareness--;
}

/* ---- sending -------------------------------------------------------------- */

static void send_seq(weft__swim *s, const weft_addr *to, int type, uint32_t seq)
{
    uint8_t b[WEFT__SWIM_MSG_HDR_BYTES + WEFT__SWIM_SEQ_BYTES];
    weft__wr w;
    weft__wr_init(&w, b, sizeof b);
    weft__swim_seq_create(&w, type, seq);
    weft__swim_out_push(s, to, b, w.pos, WEFT__SWIM_OUT_PIGGYBACK);
}

/* SUSPECT(m) asserted by us. */
static void accuse_create(weft__swim *s, weft__wr *w, const weft__swim_member *m)
{
    weft__swim_accuse a = {.id = m->id, .inc = m->inc, .from = s->self.id};
    weft__swim_accuse_create(w, WEFT__SWIM_MSG_SUSPECT, &a);
}

/* PING(seq, target) -- with the buddy-system SUSPECT first when we
 * suspect the target (Lifeguard §3.3): it learns at once and refutes. */
static void send_ping(weft__swim *s, const weft_addr *to, const weft_node_id *target,
                      uint32_t seq, const weft__swim_member *m)
{
    uint8_t b[WEFT__SWIM_CTRL_MAX];
    weft__wr w;
    weft__wr_init(&w, b, sizeof b);
    if (m && m->state == WEFT__SWIM_SUSPECT)
        accuse_create(s, &w, m);
    weft__swim_ping p = {.seq = seq, .target = *target};
    weft__swim_ping_create(&w, &p);
    weft__swim_out_push(s, to, b, w.pos, WEFT__SWIM_OUT_PIGGYBACK);
}

void weft__swim_send_suspect(weft__swim *s, const weft__swim_member *m)
{
    uint8_t b[WEFT__SWIM_UPDATE_MIN_BYTES];
    weft__wr w;
    weft__wr_init(&w, b, sizeof b);
    accuse_create(s, &w, m);
    weft__swim_out_push(s, &m->addr, b, w.pos, WEFT__SWIM_OUT_PIGGYBACK);
}

/* ---- receiving ------------------------------------------------------------ */

void weft__swim_on_ping(weft__swim *s, const weft_addr *from, const weft__swim_ping *m)
{
    /* answered only when meant for us: a new node at a dead node's address
     * must not ack for it */
    if (!weft__swim_id_eq(&m->target, &s->self.id)) {
        s->st.stale++;
        return;
    }
    send_seq(s, from, WEFT__SWIM_MSG_ACK, m->seq);
}

/* SWIM §4.2: ping the target with our own sequence number; its ACK goes
 * back to the requester under the requester's.  Lifeguard §3.1: without
 * an ACK by our probe timeout the requester gets a NACK. */
void weft__swim_on_ping_req(weft__swim *s, const weft_addr *from, const weft__swim_ping *m,
                            uint64_t now_us)
{
    weft__swim_relay *r = NULL;
    for (uint32_t i = 0; i < s->cfg.relay_max && !r; i++)
        if (!s->relays[i].used)
            r = &s->relays[i];
    if (!r) {
        s->st.out_drops++;
        return;
    }
    r->used = 1;
    r->seq = ++s->seq;
    r->orig_seq = m->seq;
    r->requester = *from;
    r->deadline_us = now_us + scaled_us(s, s->cfg.probe_timeout_ms);
    send_ping(s, &m->addr, &m->target, r->seq, NULL);
}

static weft__swim_relay *relay_find(weft__swim *s, uint32_t seq)
{
    for (uint32_t i = 0; i < s->cfg.relay_max; i++)
        if (s->relays[i].used && s->relays[i].seq == seq)
            return &s->relays[i];
    return NULL;
}

void weft__swim_on_ack(weft__swim *s, const weft_addr *from, uint32_t seq, uint64_t now_us)
{
    if (s->probe.active && !s->probe.acked && seq == s->probe.seq) {
        s->probe.acked = 1;
        weft__swim_member *m = weft__swim_table_find(&s->table, &s->probe.target);
        if (m && weft_addr_eq(from, &s->probe.target_addr)) {
            uint64_t rtt = now_us - s->probe.sent_us;
            m->rtt_us = rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt;
        }
        if (m)
            m->last_contact_us = now_us;
        health_better(s); /* Lifeguard §3.1: a successful probe */
        return;
    }
    weft__swim_relay *r = relay_find(s, seq);
    if (r) {
        send_seq(s, &r->requester, WEFT__SWIM_MSG_ACK, r->orig_seq);
        r->used = 0;
        return;
    }
    s->st.stale++;
}

void weft__swim_on_nack(weft__swim *s, uint32_t seq)
{
    if (s->probe.active && seq == s->probe.seq) {
        s->probe.nacks++;
        s->st.nacks_in++;
    }
}

/* ---- the probe round ------------------------------------------------------ */

/* End of a probe period: a target that acked neither directly nor
 * indirectly becomes suspect (SWIM §4.2, §5). */
static void probe_finish(weft__swim *s, uint64_t now_us)
{
    if (!s->probe.active)
        return;
    s->probe.active = 0;
    if (s->probe.acked)
        return;
    /* Lifeguard §3.1: +1 for the failed probe, +1 per missing nack (our
     * own links may be the problem) */
    uint32_t delta = 1;
    if (s->probe.nacks_expected > s->probe.nacks)
        delta += s->probe.nacks_expected - s->probe.nacks;
    weft__swim_health_worse(s, delta);
    s->st.probe_failures++;
    weft__swim_member *m = weft__swim_table_find(&s->table, &s->probe.target);
    if (m && (m->state == WEFT__SWIM_ALIVE || m->state == WEFT__SWIM_SUSPECT)) {
        weft__swim_accuse a = {.id = m->id, .inc = m->inc, .from = s->self.id};
        weft__swim_apply_suspect(s, &a, now_us);
    }
}

/* Starts the next probe: the next live member in the shuffled order. */
static void probe_start(weft__swim *s, uint64_t now_us)
{
    weft__swim_member *m = NULL;
    for (uint32_t n = 0; n <= s->table.n && !m; n++) {
        if (s->probe_pos >= s->table.n) {
            s->probe_pos = 0;
            weft__swim_table_shuffle(&s->table, &s->rng);
            if (!s->table.n)
                return;
        }
        weft__swim_member *c = &s->table.members[s->probe_pos++];
        if (c->state == WEFT__SWIM_ALIVE || c->state == WEFT__SWIM_SUSPECT)
            m = c;
    }
    if (!m)
        return;
    s->st.probes++;
    s->probe.active = 1;
    s->probe.acked = 0;
    s->probe.indirect_sent = 0;
    s->probe.nacks = s->probe.nacks_expected = 0;
    s->probe.target = m->id;
    s->probe.target_addr = m->addr;
    s->probe.seq = ++s->seq;
    s->probe.sent_us = now_us;
    s->probe.timeout_us = now_us + scaled_us(s, s->cfg.probe_timeout_ms);
    s->probe.end_us = now_us + scaled_us(s, s->cfg.probe_interval_ms);
    send_ping(s, &m->addr, &m->id, s->probe.seq, m);
}

/* Direct ping timed out: ask k others to ping the target (SWIM §4.2). */
static void probe_indirect(weft__swim *s)
{
    weft__swim_member *pick[16];
    uint32_t k = WEFT__MIN(s->cfg.indirect_checks, 16u);
    uint32_t got = weft__swim_table_pick(&s->table, &s->rng, pick, k, &s->probe.target,
                                         weft__swim_is_alive, NULL);
    uint8_t b[WEFT__SWIM_MSG_HDR_BYTES + WEFT__SWIM_PING_REQ_BYTES];
    weft__wr w;
    weft__wr_init(&w, b, sizeof b);
    weft__swim_ping p = {.seq = s->probe.seq, .target = s->probe.target,
                         .addr = s->probe.target_addr};
    weft__swim_ping_req_create(&w, &p);
    for (uint32_t i = 0; i < got; i++)
        weft__swim_out_push(s, &pick[i]->addr, b, w.pos, WEFT__SWIM_OUT_PIGGYBACK);
    /* and a second direct ping (memberlist adds a TCP ping here): under
     * 10 % loss it cuts failed probes of live members about five-fold, and
     * each failed probe is a suspicion the whole mesh must gossip */
    const weft__swim_member *t = weft__swim_table_find(&s->table, &s->probe.target);
    send_ping(s, &s->probe.target_addr, &s->probe.target, s->probe.seq, t);
    s->probe.indirect_sent = 1;
    s->probe.nacks_expected = got;
    s->st.indirect_probes += got;
}

void weft__swim_probe_tick(weft__swim *s, uint64_t now_us)
{
    if (s->probe.active && !s->probe.acked && !s->probe.indirect_sent &&
        now_us >= s->probe.timeout_us)
        probe_indirect(s);
    if (s->probe.active && now_us >= s->probe.end_us)
        probe_finish(s, now_us);
    if (now_us >= s->next_probe_us) {
        probe_finish(s, now_us);
        if (!s->left)
            probe_start(s, now_us);
        s->next_probe_us = now_us + scaled_us(s, s->cfg.probe_interval_ms);
    }
    for (uint32_t i = 0; i < s->cfg.relay_max; i++) {
        weft__swim_relay *r = &s->relays[i];
        if (r->used && now_us >= r->deadline_us) {
            send_seq(s, &r->requester, WEFT__SWIM_MSG_NACK, r->orig_seq);
            r->used = 0;
        }
    }
}

uint64_t weft__swim_probe_expiry(const weft__swim *s, uint64_t t)
{
    t = WEFT__MIN(t, s->next_probe_us);
    if (s->probe.active) {
        if (!s->probe.acked && !s->probe.indirect_sent)
            t = WEFT__MIN(t, s->probe.timeout_us);
        t = WEFT__MIN(t, s->probe.end_us);
    }
    for (uint32_t i = 0; i < s->cfg.relay_max; i++)
        if (s->relays[i].used)
            t = WEFT__MIN(t, s->relays[i].deadline_us);
    return t;
}

/* ---- suspicion deadlines -------------------------------------------------- */

/*
 * Before a suspicion becomes a death, ask the suspect itself: a SUSPECT (it
 * refutes if alive) and a claim request (it answers with its claim,
 * refuted by then), two copies, in LAST_CHANCES rounds one probe timeout
 * apart.  A rumour-mongering epidemic leaves a small fraction of nodes
 * without the refutation; under 10 % loss across hundreds of members that
 * fraction alone gave false positives in the simulator.  Costs
 * LAST_CHANCES probe timeouts of detection time.  (Not in SWIM or
 * Lifeguard.)
 */
static void last_chance(weft__swim *s, weft__swim_member *m)
{
    uint8_t b[WEFT__SWIM_UPDATE_MIN_BYTES + WEFT__SWIM_MSG_HDR_BYTES + 1];
    weft__wr w;
    weft__wr_init(&w, b, sizeof b);
    accuse_create(s, &w, m);
    weft__swim_pp_flags_create(&w, WEFT__SWIM_PP_CLAIM);
    weft__swim_out_push(s, &m->addr, b, w.pos, 0);
    weft__swim_out_push(s, &m->addr, b, w.pos, 0);
    m->last_chance++;
}

void weft__swim_sweep(weft__swim *s, uint64_t now_us)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < s->table.n;) {
        weft__swim_member *m = &s->table.members[i];
        if (m->state == WEFT__SWIM_SUSPECT && m->deadline_us <= now_us) {
            /* Lifeguard's local health scales the rounds too: a node
             * that sees loss around it asks longer before it accuses. */
            if (m->last_chance < WEFT__SWIM_LAST_CHANCES + s->awareness) {
                last_chance(s, m);
                m->deadline_us = now_us + scaled_us(s, s->cfg.probe_timeout_ms);
            } else {
                weft__swim_mark_dead(s, m, m->inc, &s->self.id, now_us);
            }
        }
        if ((m->state == WEFT__SWIM_DEAD || m->state == WEFT__SWIM_LEFT) &&
            m->deadline_us <= now_us) {
            weft__swim_table_remove(&s->table, m);
            continue; /* slot i now holds another member */
        }
        if (m->state != WEFT__SWIM_ALIVE && m->deadline_us < next)
            next = m->deadline_us;
        i++;
    }
    s->next_sweep_us = next;
}
