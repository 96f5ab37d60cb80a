/*
 * pushpull.c -- full-state exchange (push-pull), joins and seeds,
 * reconnects after partitions, claim requests.
 *
 * SWIM alone spreads updates by gossip (§4.1); a node that missed some
 * (it joined late, its packets were lost, it was cut off) only learns
 * them when they change again.  memberlist adds a periodic anti-entropy
 * exchange of the whole table (state.go pushPull, over TCP); here a full
 * state is a stream of self-contained UDP packets, each merged on
 * arrival, so a lost packet costs only its entries (docs/MEMBERSHIP.md
 * §4.9).  Joining is a push-pull with a seed, retried with backoff until it
 * answers; serf's reconnect (a periodic attempt at a dead member or an
 * unseen seed) heals partitions; a packet from a stranger is answered with
 * a one-packet claim request.  Remote SUSPECT/DEAD states in a push-pull
 * are applied only to ourselves (refutation): see on_pushpull.
 */
#include <math.h>

#include "membership/swim_internal.h"

void weft__swim_pp_start(weft__swim *s, const weft_addr *to, int flags)
{
    weft__swim_pptask *freet = NULL;
    for (uint32_t k = 0; k < WEFT__SWIM_PP_MAX; k++) {
        weft__swim_pptask *t = &s->pp[k];
        if (t->active && weft_addr_eq(&t->to, to)) {
            if (!(flags & WEFT__SWIM_PP_ONE)) { /* restart: the peer asked again */
                t->cursor = 0;
                t->flags = (uint16_t)flags;
            }
            return;
        }
        if (!t->active && !freet)
            freet = t;
    }
    if (!freet) {
        s->st.out_drops++;
        return;
    }
    freet->to = *to;
    freet->cursor = 0;
    freet->flags = (uint16_t)flags;
    freet->active = 1;
    if (flags & WEFT__SWIM_PP_REQUEST)
        s->st.pushpulls++;
}

/* The push-pull entry of member m (ourselves when m is &s->self). */
static void pp_entry_of(const weft__swim *s, const weft__swim_member *m,
                        weft__swim_pp_entry *e)
{
    memset(e, 0, sizeof *e);
    e->state = m->state;
    e->inc = m->inc;
    if (m->state == WEFT__SWIM_LEFT) {
        e->leave.id = m->id;
        e->leave.inc = m->inc;
        e->leave.sig = m == &s->self ? s->leave_sig : m->sig;
    } else {
        weft__swim_member_claim(m, &e->claim);
    }
}

/* Emits the next chunk of transfer t into pt: our sender id, then one
 * PUSHPULL with as many entries as fit (ours first).  Returns the
 * plaintext length, 0 when the transfer is complete. */
static size_t pp_chunk(weft__swim *s, weft__swim_pptask *t, uint8_t *pt, size_t room)
{
    if (t->cursor > s->table.n) {
        t->active = 0;
        return 0;
    }
    weft__wr w;
    weft__wr_init(&w, pt, room);
    weft__swim_payload_create(&w, &s->self.id);
    /* REQUEST on the first chunk only */
    uint16_t flags = t->cursor == 0 ? t->flags : (uint16_t)(t->flags & ~WEFT__SWIM_PP_REQUEST);
    size_t mark = weft__swim_pp_begin(&w, (uint8_t)(flags & 0xff));
    size_t first = w.pos;
    while (t->cursor <= s->table.n) {
        if ((t->flags & WEFT__SWIM_PP_ONE) && t->cursor > 0)
            break; /* reconnects and claim answers: our own entry only */
        const weft__swim_member *m =
            t->cursor == 0 ? &s->self : &s->table.members[t->cursor - 1];
        weft__swim_pp_entry e;
        pp_entry_of(s, m, &e);
        if (weft__swim_pp_entry_bytes(&e) > weft__wr_room(&w))
            break;
        weft__swim_pp_entry_create(&w, &e);
        t->cursor++;
    }
    if (w.pos == first && t->cursor > 0) /* nothing fitted: cannot happen with */
        t->cursor++;                     /* a valid packet_bytes; skip defensively */
    weft__swim_pp_end(&w, mark);
    if (t->cursor > s->table.n || (t->flags & WEFT__SWIM_PP_ONE))
        t->active = 0;
    return w.pos;
}

size_t weft__swim_pp_write(weft__swim *s, weft_addr *to, uint8_t *pt, size_t room)
{
    for (uint32_t k = 0; k < WEFT__SWIM_PP_MAX; k++) {
        weft__swim_pptask *t = &s->pp[(s->pp_rr + k) % WEFT__SWIM_PP_MAX];
        if (!t->active)
            continue;
        size_t n = pp_chunk(s, t, pt, room);
        if (!n)
            continue;
        s->pp_rr = (s->pp_rr + k + 1) % WEFT__SWIM_PP_MAX; /* round-robin */
        s->st.bytes_pushpull += n + WEFT__SWIM_OVERHEAD;
        *to = t->to;
        return n;
    }
    return 0;
}

void weft__swim_on_pushpull(weft__swim *s, const weft_addr *from,
                            const weft_node_id *sender, weft__rd *body,
                            uint64_t now_us, int *err)
{
    uint8_t flags = weft__rd_u8(body);
    if (!weft__rd_ok(body)) {
        *err = WEFT_ERR_PROTO;
        return;
    }
    while (weft__rd_left(body)) {
        weft__swim_pp_entry e;
        if (weft__swim_pp_entry_consume(body, &e) < 0) {
            *err = WEFT_ERR_PROTO;
            return;
        }
        if (e.state == WEFT__SWIM_LEFT) {
            int r = weft__swim_apply_leave(s, &e.leave, now_us);
            if (r < 0)
                *err = r;
            continue;
        }
        int is_self = weft__swim_id_eq(&e.claim.id, &s->self.id);
        if (e.state == WEFT__SWIM_ALIVE || is_self ||
            weft__swim_table_find(&s->table, &e.claim.id)) {
            int r = weft__swim_apply_alive(s, &e.claim, now_us);
            if (r < 0 && r != WEFT_ERR_LIMIT)
                *err = r;
        }
        /* A remote suspect/dead state matters here only when it is about
         * us: we refute it.  About others it is ignored: after a partition
         * heals, full states carry stale deaths of live members by the
         * hundred, and acting on them causes false positives faster than
         * refutations can spread.  Real failures are still found by our own
         * probes and by gossip. */
        if (e.state != WEFT__SWIM_ALIVE && is_self) {
            weft__swim_accuse a = {.id = e.claim.id, .inc = e.inc, .from = *sender};
            weft__swim_apply_suspect(s, &a, now_us);
        }
    }
    if (flags & WEFT__SWIM_PP_REQUEST)
        weft__swim_pp_start(s, from, 0);
    else if (flags & WEFT__SWIM_PP_CLAIM) /* our claim (+ piggyback), no pp slot */
        weft__swim_out_push(s, from, NULL, 0, WEFT__SWIM_OUT_PIGGYBACK | WEFT__SWIM_OUT_CLAIM);
}

void weft__swim_heard_from(weft__swim *s, const weft_addr *from,
                           weft__swim_member *sm, uint64_t now_us)
{
    if (sm && sm->state == WEFT__SWIM_DEAD && !s->left) {
        /* a member we hold dead talks to us (a healed partition, a restart
         * that does not know its old incarnation): tell it, so it refutes,
         * and ask for its claim, which will carry the refutation */
        uint8_t b[WEFT__SWIM_UPDATE_MIN_BYTES + WEFT__SWIM_MSG_HDR_BYTES + 1];
        weft__wr w;
        weft__wr_init(&w, b, sizeof b);
        weft__swim_accuse a = {.id = sm->id, .inc = sm->inc, .from = s->self.id};
        weft__swim_accuse_create(&w, WEFT__SWIM_MSG_DEAD, &a);
        weft__swim_pp_flags_create(&w, WEFT__SWIM_PP_CLAIM);
        weft__swim_out_push(s, from, b, w.pos, 0);
    } else if (!sm && !s->left) {
        /* a member we do not know (its join gossip or our push-pull chunk
         * was lost): ask for its signed claim, one packet each way */
        weft__swim_pp_start(s, from, WEFT__SWIM_PP_CLAIM | WEFT__SWIM_PP_ONE);
    }
    for (uint32_t i = 0; i < s->nseeds; i++)
        if (!s->seeds[i].answered && weft_addr_eq(&s->seeds[i].addr, from)) {
            s->seeds[i].answered = 1;
            /* chunks of the seed's state may be lost: exchange again with
             * random members soon, twice, to fill the holes */
            s->join_extra = 2;
            s->next_pp_us = now_us + weft__swim_ms_us(s->cfg.join_retry_ms_min) * 4;
        }
}

/* Bigger meshes exchange full state less often: the state grows with N
 * (interval x (1 + ceil(log2 N - 5)) above 32 members). */
static uint64_t pushpull_interval_us(const weft__swim *s)
{
    uint32_t n = weft__swim_live_count(s), scale = 1;
    if (n > 32)
        scale = (uint32_t)ceil(log2((double)n) - 5.0) + 1;
    return weft__swim_ms_us(s->cfg.pushpull_interval_ms) * scale;
}

/* serf-style reconnect: after a partition each side has declared the other
 * dead and would never talk to it again.  Alternate between a random dead
 * member and a seed not currently seen alive.  One packet (our own claim,
 * with REQUEST): if the other side is reachable again its full state comes
 * back; if not, little is lost. */
static void reconnect(weft__swim *s)
{
    weft__swim_member *pick[1];
    if (weft__swim_rnd(&s->rng) & 1 &&
        weft__swim_table_pick(&s->table, &s->rng, pick, 1, NULL, weft__swim_is_dead, NULL)) {
        weft__swim_pp_start(s, &pick[0]->addr, WEFT__SWIM_PP_REQUEST | WEFT__SWIM_PP_ONE);
        return;
    }
    if (!s->nseeds)
        return;
    weft__swim_seed *sd = &s->seeds[weft__swim_rnd_below(&s->rng, s->nseeds)];
    for (uint32_t i = 0; i < s->table.n; i++)
        if (s->table.members[i].state == WEFT__SWIM_ALIVE &&
            weft_addr_eq(&s->table.members[i].addr, &sd->addr))
            return;
    if (!weft_addr_eq(&sd->addr, &s->self.addr))
        weft__swim_pp_start(s, &sd->addr, WEFT__SWIM_PP_REQUEST | WEFT__SWIM_PP_ONE);
}

void weft__swim_pp_tick(weft__swim *s, uint64_t now_us)
{
    if (s->cfg.pushpull_interval_ms && now_us >= s->next_pp_us) {
        if (s->join_extra) {
            s->join_extra--;
            s->next_pp_us = now_us + weft__swim_ms_us(s->cfg.join_retry_ms_min) * 8;
        } else {
            s->next_pp_us = now_us + pushpull_interval_us(s);
        }
        weft__swim_member *pick[1];
        if (!s->left &&
            weft__swim_table_pick(&s->table, &s->rng, pick, 1, NULL, weft__swim_is_alive, NULL))
            weft__swim_pp_start(s, &pick[0]->addr, WEFT__SWIM_PP_REQUEST);
    }
    if (s->cfg.reconnect_interval_ms && now_us >= s->next_reconnect_us) {
        s->next_reconnect_us = now_us + weft__swim_ms_us(s->cfg.reconnect_interval_ms);
        if (!s->left)
            reconnect(s);
    }
    for (uint32_t i = 0; i < s->nseeds; i++) {
        weft__swim_seed *sd = &s->seeds[i];
        if (!sd->answered && !s->left && now_us >= sd->next_try_us) {
            weft__swim_pp_start(s, &sd->addr, WEFT__SWIM_PP_REQUEST | WEFT__SWIM_PP_JOIN);
            sd->next_try_us = now_us + weft__swim_ms_us(sd->backoff_ms);
            sd->backoff_ms = WEFT__MIN(sd->backoff_ms * 2, s->cfg.join_retry_ms_max);
        }
    }
}

uint64_t weft__swim_pp_expiry(const weft__swim *s, uint64_t t)
{
    if (s->cfg.pushpull_interval_ms)
        t = WEFT__MIN(t, s->next_pp_us);
    if (s->cfg.reconnect_interval_ms)
        t = WEFT__MIN(t, s->next_reconnect_us);
    for (uint32_t i = 0; i < s->nseeds; i++)
        if (!s->seeds[i].answered && !s->left)
            t = WEFT__MIN(t, s->seeds[i].next_try_us);
    return t;
}

int weft__swim_join(weft__swim *s, const weft_addr *addr, uint64_t now_us)
{
    if (!addr || (addr->family != 4 && addr->family != 6))
        return WEFT_ERR_INVAL;
    if (s->left || s->self.addr.family == 0)
        return WEFT_ERR_STATE;
    for (uint32_t i = 0; i < s->nseeds; i++)
        if (weft_addr_eq(&s->seeds[i].addr, addr)) {
            s->seeds[i].answered = 0;
            s->seeds[i].next_try_us = now_us;
            s->seeds[i].backoff_ms = s->cfg.join_retry_ms_min;
            return 0;
        }
    weft__swim_seed *sd = NULL;
    if (s->nseeds == WEFT__SWIM_SEEDS_MAX) {
        /* Full: a seed that already answered has done its job (joins are
         * what the table is for); its slot goes to the new one.  Only
         * when every seed is still unanswered is the join refused. */
        for (uint32_t i = 0; i < s->nseeds && !sd; i++)
            if (s->seeds[i].answered)
                sd = &s->seeds[i];
        if (!sd)
            return WEFT_ERR_LIMIT;
    } else {
        sd = &s->seeds[s->nseeds++];
    }
    sd->addr = *addr;
    sd->answered = 0;
    sd->next_try_us = now_us;
    sd->backoff_ms = s->cfg.join_retry_ms_min;
    return 0;
}
