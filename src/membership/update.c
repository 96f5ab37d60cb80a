/*
 * update.c -- what the dissemination messages do to the member table:
 * ALIVE (a member's own signed claim), SUSPECT, DEAD and LEAVE, ordered
 * by incarnation numbers, and our own claim with its refutations.
 *
 * SWIM §4.2 (the suspicion subprotocol: alive / suspect / confirm, an
 * incarnation number that only the member raises, "refutation" by a newer
 * alive) with Lifeguard §3.2 (dynamic suspicion: the timeout starts long
 * and shrinks, log-scaled, with each independent confirmation) and the
 * buddy system of §3.3 (the suspect is told at once, probe.c sends it).
 * Unlike SWIM, only a member can say it is alive or that it leaves: those
 * carry its Ed25519 signature, verified only when they would change
 * something (the stored signature is the cache), so a push-pull of an
 * unchanged mesh verifies nothing.  memberlist's state.go aliveNode /
 * suspectNode / deadNode and suspicion.go are the reference behaviour.
 */
#include <math.h>

#include "membership/swim_internal.h"

static int verify_claim(weft__swim *s, const weft__swim_claim *c)
{
    /* the received bytes are what was signed: ctx || claim - signature */
    uint8_t msg[16 + WEFT__SWIM_CLAIM_MAX_BYTES];
    size_t n = c->body_len - WEFT_SIG_BYTES;
    memcpy(msg, weft__swim_alive_ctx, 16);
    memcpy(msg + 16, c->body, n);
    s->st.verifies++;
    return s->cr->verify(s->cr->ctx, c->sig, msg, 16 + n, c->id.key);
}

static int verify_leave(weft__swim *s, const weft__swim_leave_msg *l)
{
    uint8_t msg[WEFT__SWIM_LEAVE_TBS_BYTES];
    weft__swim_leave_tbs(&l->id, l->inc, msg);
    s->st.verifies++;
    return s->cr->verify(s->cr->ctx, l->sig, msg, sizeof msg, l->id.key);
}

void weft__swim_self_resign(weft__swim *s, uint32_t inc)
{
    uint8_t msg[16 + WEFT__SWIM_CLAIM_MAX_BYTES];
    weft__swim_claim c;
    s->self.inc = s->self.claim_inc = inc;
    weft__swim_member_claim(&s->self, &c);
    size_t n = weft__swim_claim_tbs(&c, msg);
    s->cr->sign(s->cr->ctx, s->self.sig, msg, n, s->secret);
    if (!s->left)
        weft__swim_bcast(s, WEFT__SWIM_MSG_ALIVE, &s->self.id, NULL);
}

/* Outbids a suspicion or death of us (SWIM §4.2 "refutation"). */
static void refute(weft__swim *s, uint32_t inc)
{
    if (s->left)
        return;
    weft__swim_self_resign(s, inc + 1);
    s->st.refutations++;
    /* Lifeguard §3.1: being suspected hints that we are the slow one */
    weft__swim_health_worse(s, 1);
}

/* 1 when id was refused before (reported once), else remembers it. */
static int refused_before(weft__swim *s, const weft_node_id *id)
{
    uint64_t k = weft__swim_short_id(id);
    for (uint32_t i = 0; i < WEFT__SWIM_REFUSED_MEMO; i++)
        if (s->refused[i] == k)
            return 1;
    s->refused[s->refused_pos++ % WEFT__SWIM_REFUSED_MEMO] = k;
    return 0;
}

/* Stores claim c into m (address, metadata, signature).  0 or NOMEM. */
static WEFT__SWIM_WUR int store_claim(weft__swim *s, weft__swim_member *m,
                                      const weft__swim_claim *c)
{
    if (weft__swim_meta_is_empty(c->meta, c->meta_len)) {
        weft__free(s->env->alloc, m->meta);
        m->meta = NULL;
        m->meta_len = 0;
    } else if (!m->meta || m->meta_len != c->meta_len ||
               memcmp(m->meta, c->meta, c->meta_len)) {
        uint8_t *nm = weft__alloc(s->env->alloc, c->meta_len);
        if (!nm)
            return WEFT_ERR_NOMEM;
        memcpy(nm, c->meta, c->meta_len);
        weft__free(s->env->alloc, m->meta);
        m->meta = nm;
        m->meta_len = (uint16_t)c->meta_len;
    }
    m->addr = c->addr;
    m->claim_inc = c->inc;
    m->inc = c->inc;
    memcpy(m->sig, c->sig, WEFT_SIG_BYTES);
    return 0;
}

/* 1 when claim c says something else than what m holds (address or
 * metadata). */
static int claim_differs(const weft__swim_member *m, const weft__swim_claim *c)
{
    if (!weft_addr_eq(&m->addr, &c->addr))
        return 1;
    if (!m->meta)
        return !weft__swim_meta_is_empty(c->meta, c->meta_len);
    return m->meta_len != c->meta_len || memcmp(m->meta, c->meta, c->meta_len) != 0;
}

/*
 * An alive claim (SWIM §4.2 "alive", signed by the member itself).  Only a
 * claim newer than everything we know about the member changes anything;
 * then it is verified, stored and re-gossiped.  Returns 0 or a negative
 * drop reason (WEFT_ERR_LIMIT: refused at max_members, already counted).
 */
int weft__swim_apply_alive(weft__swim *s, const weft__swim_claim *c, uint64_t now_us)
{
    if (weft__swim_id_eq(&c->id, &s->self.id)) {
        /* our own claim from a previous life: outbid it */
        if (c->inc > s->self.inc && !s->left && verify_claim(s, c) == 0)
            refute(s, c->inc);
        return 0;
    }
    weft__swim_member *m = weft__swim_table_find(&s->table, &c->id);
    if (m && c->inc <= m->inc) {
        s->st.stale++;
        return 0;
    }
    if (!m && weft__swim_live_count(s) >= s->cfg.max_members) {
        /* refused before the signature is checked: it is the cheap test */
        s->st.refused_full++;
        if (!refused_before(s, &c->id)) {
            weft__swim_member tmp;
            memset(&tmp, 0, sizeof tmp);
            tmp.id = c->id;
            tmp.addr = c->addr;
            tmp.inc = c->inc;
            weft__swim_emit(s, WEFT__SWIM_EV_REFUSED, &tmp);
        }
        return WEFT_ERR_LIMIT;
    }
    if (verify_claim(s, c) != 0) {
        s->st.drop_bad_signature++;
        return WEFT_ERR_BAD_SIGNATURE;
    }
    int ev;
    if (!m) {
        m = weft__swim_table_add(&s->table, &c->id, &s->rng);
        if (!m)
            return WEFT_ERR_NOMEM;
        ev = WEFT__SWIM_EV_JOINED;
    } else if (m->state == WEFT__SWIM_DEAD || m->state == WEFT__SWIM_LEFT) {
        ev = WEFT__SWIM_EV_REJOINED;
    } else if (m->state == WEFT__SWIM_SUSPECT) {
        ev = WEFT__SWIM_EV_ALIVE;
    } else {
        ev = WEFT__SWIM_EV_UPDATED;
    }
    int changed = ev != WEFT__SWIM_EV_UPDATED || claim_differs(m, c);
    if (store_claim(s, m, c) < 0) {
        if (ev == WEFT__SWIM_EV_JOINED)
            weft__swim_table_remove(&s->table, m);
        return WEFT_ERR_NOMEM;
    }
    if (m->state != WEFT__SWIM_ALIVE || ev == WEFT__SWIM_EV_JOINED)
        m->since_us = now_us;
    m->state = WEFT__SWIM_ALIVE;
    m->nconfirm = 0;
    if (changed)
        weft__swim_emit(s, ev, m);
    /* a refuted suspicion or a comeback races timeouts elsewhere: urgent */
    weft__swim_bcast_u(s, WEFT__SWIM_MSG_ALIVE, &m->id, NULL,
                       ev == WEFT__SWIM_EV_ALIVE || ev == WEFT__SWIM_EV_REJOINED);
    return 0;
}

/* Lifeguard K: independent confirmations that shorten a suspicion. */
static uint32_t confirm_limit(const weft__swim *s)
{
    uint32_t k = s->cfg.suspicion_mult > 2 ? s->cfg.suspicion_mult - 2 : 0;
    return WEFT__MIN(k, (uint32_t)WEFT__SWIM_CONFIRM_MAX);
}

/* Lifeguard §3.2: suspicion timeout, from max down to min as independent
 * confirmations c arrive, log-scaled: max - (max - min) * log(c+1)/log(K+1),
 * with min = suspicion_mult * max(1, log10 N) * probe interval and max =
 * suspicion_max_mult * min. */
static uint64_t suspicion_timeout_us(const weft__swim *s, uint32_t c)
{
    uint32_t n = weft__swim_live_count(s);
    double scale = n > 1 ? log10((double)n) : 1.0;
    if (scale < 1.0)
        scale = 1.0;
    double min = s->cfg.suspicion_mult * scale * s->cfg.probe_interval_ms * 1000.0;
    double max = min * s->cfg.suspicion_max_mult;
    uint32_t k = confirm_limit(s);
    if (n < k + 2)
        k = n > 2 ? n - 2 : 0;
    if (k == 0)
        return (uint64_t)min;
    double t = max - (max - min) * log((double)c + 1.0) / log((double)k + 1.0);
    return (uint64_t)(t < min ? min : t);
}

/*
 * The part SUSPECT and DEAD share: an accusation against ourselves is
 * refuted (SWIM §4.2), one about an unknown, already dead or gone member,
 * or older than what we hold, is stale.  Returns the member to act on, or
 * NULL when there is nothing more to do.
 */
static weft__swim_member *accused(weft__swim *s, const weft_node_id *id, uint32_t inc)
{
    if (weft__swim_id_eq(id, &s->self.id)) {
        if (inc >= s->self.inc)
            refute(s, WEFT__MAX(inc, s->self.inc));
        else
            s->st.stale++;
        return NULL;
    }
    weft__swim_member *m = weft__swim_table_find(&s->table, id);
    if (!m)
        return NULL;
    if (inc < m->inc || m->state == WEFT__SWIM_DEAD || m->state == WEFT__SWIM_LEFT) {
        s->st.stale++;
        return NULL;
    }
    return m;
}

/* An independent confirmation of a suspicion we hold shortens its timeout
 * (Lifeguard §3.2); repeats and the originator do not count. */
static void confirm(weft__swim *s, weft__swim_member *m, const weft_node_id *from,
                    uint64_t now_us)
{
    uint64_t k = weft__swim_short_id(from);
    if (m->nconfirm >= confirm_limit(s))
        return;
    for (uint32_t i = 0; i < m->nconfirm; i++)
        if (m->confirmers[i] == k)
            return;
    if (m->confirmers[WEFT__SWIM_CONFIRM_MAX - 1] == k) /* the originator */
        return;
    m->confirmers[m->nconfirm++] = k;
    uint64_t d = m->since_us + suspicion_timeout_us(s, m->nconfirm);
    m->deadline_us = d < now_us ? now_us : d;
    weft__swim_arm_sweep(s, m->deadline_us);
    weft__swim_bcast(s, WEFT__SWIM_MSG_SUSPECT, &m->id, from);
}

void weft__swim_apply_suspect(weft__swim *s, const weft__swim_accuse *a, uint64_t now_us)
{
    weft__swim_member *m = accused(s, &a->id, a->inc);
    if (!m)
        return;
    if (m->state == WEFT__SWIM_SUSPECT && a->inc == m->inc) {
        confirm(s, m, &a->from, now_us);
        return;
    }
    if (m->state == WEFT__SWIM_SUSPECT && a->inc > m->inc) {
        m->inc = a->inc; /* keep the timer: same suspicion, newer number */
        return;
    }
    m->state = WEFT__SWIM_SUSPECT;
    m->inc = a->inc;
    m->since_us = now_us;
    m->nconfirm = 0;
    m->last_chance = 0;
    memset(m->confirmers, 0, sizeof m->confirmers);
    m->confirmers[WEFT__SWIM_CONFIRM_MAX - 1] = weft__swim_short_id(&a->from);
    m->deadline_us = now_us + suspicion_timeout_us(s, 0);
    weft__swim_arm_sweep(s, m->deadline_us);
    weft__swim_emit(s, WEFT__SWIM_EV_SUSPECT, m);
    weft__swim_bcast(s, WEFT__SWIM_MSG_SUSPECT, &a->id, &a->from);
    /* Lifeguard §3.3 buddy system, eagerly: the member itself must hear of
     * the suspicion to refute it before the timeout.  The originator tells
     * it at once; others who learn of it do so with probability 8/N, so a
     * few direct notices are sent whatever the size of the mesh. */
    if (weft__swim_id_eq(&a->from, &s->self.id) ||
        weft__swim_rnd_below(&s->rng, weft__swim_live_count(s)) < 8)
        weft__swim_send_suspect(s, m);
}

void weft__swim_mark_dead(weft__swim *s, weft__swim_member *m, uint32_t inc,
                          const weft_node_id *from, uint64_t now_us)
{
    m->state = WEFT__SWIM_DEAD;
    m->inc = inc;
    m->since_us = now_us;
    m->deadline_us = now_us + weft__swim_ms_us(s->cfg.dead_retain_ms);
    weft__swim_arm_sweep(s, m->deadline_us);
    weft__swim_emit(s, WEFT__SWIM_EV_FAILED, m);
    weft__swim_bcast(s, WEFT__SWIM_MSG_DEAD, &m->id, from);
}

void weft__swim_apply_dead(weft__swim *s, const weft__swim_accuse *a, uint64_t now_us)
{
    weft__swim_member *m = accused(s, &a->id, a->inc);
    if (m)
        weft__swim_mark_dead(s, m, a->inc, &a->from, now_us);
}

int weft__swim_apply_leave(weft__swim *s, const weft__swim_leave_msg *l, uint64_t now_us)
{
    if (weft__swim_id_eq(&l->id, &s->self.id)) {
        /* a signed leave of ours from a previous life */
        if (!s->left && l->inc >= s->self.inc && verify_leave(s, l) == 0)
            refute(s, l->inc);
        return 0;
    }
    weft__swim_member *m = weft__swim_table_find(&s->table, &l->id);
    if (!m)
        return 0;
    if (l->inc < m->inc || m->state == WEFT__SWIM_LEFT) {
        s->st.stale++;
        return 0;
    }
    if (verify_leave(s, l) != 0) {
        s->st.drop_bad_signature++;
        return WEFT_ERR_BAD_SIGNATURE;
    }
    m->state = WEFT__SWIM_LEFT;
    m->inc = l->inc;
    memcpy(m->sig, l->sig, WEFT_SIG_BYTES);
    m->since_us = now_us;
    m->deadline_us = now_us + weft__swim_ms_us(s->cfg.dead_retain_ms);
    weft__swim_arm_sweep(s, m->deadline_us);
    weft__swim_emit(s, WEFT__SWIM_EV_LEFT, m);
    weft__swim_bcast(s, WEFT__SWIM_MSG_LEAVE, &l->id, NULL);
    return 0;
}
