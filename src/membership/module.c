/*
 * member.c -- membership inside the engine: the SWIM/Lifeguard instance
 * (swim.c) shares the engine's socket, clock and event queue.  Packets of
 * type 0x20 go to it, its datagrams leave before session data (probes must
 * not starve behind a bulk transfer, or a busy node would look dead), its
 * timer joins the engine's expiry, and its events become WEFT_EV_MEMBER_*.
 * No session is needed per member: membership traffic is sealed under a
 * key derived from the network key and self-claims are signed (swim.c).
 */
#include <string.h>

#include "core/engine_internal.h"
#include "membership/swim.h"
#include "base/util.h"

int weft__member_init(weft__engine *e, uint64_t now_us)
{
    const weft_config *c = &e->cfg;
    if (!c->membership)
        return 0;
    weft__swim_config sc;
    if (c->profile == WEFT_PROFILE_WAN)
        weft__swim_config_wan(&sc);
    else
        weft__swim_config_lan(&sc);
    if (c->max_peers)
        sc.max_members = c->max_peers;
    if (c->probe_interval_ms)
        sc.probe_interval_ms = c->probe_interval_ms;
    if (c->probe_timeout_ms)
        sc.probe_timeout_ms = c->probe_timeout_ms;
    if (c->suspicion_mult)
        sc.suspicion_mult = c->suspicion_mult;
    if (c->pushpull_interval_ms)
        sc.pushpull_interval_ms = c->pushpull_interval_ms;
    sc.incarnation_start = c->incarnation_start;
    e->swim_env.alloc = e->a;
    e->swim_env.crypto = e->c;
    e->swim_env.rand = e->rnd;
    return weft__swim_new(&e->swim, &sc, &e->swim_env, c->identity_secret,
                          c->network_key, NULL, now_us);
}

void weft__member_free(weft__engine *e)
{
    weft__swim_del(e->swim);
    e->swim = NULL;
}

/* Moves membership events into the engine's queue. */
void weft__member_pump(weft__engine *e)
{
    static const int map[] = {
        [WEFT__SWIM_EV_JOINED] = WEFT_EV_MEMBER_JOINED,
        [WEFT__SWIM_EV_UPDATED] = WEFT_EV_MEMBER_UPDATED,
        [WEFT__SWIM_EV_SUSPECT] = WEFT_EV_MEMBER_SUSPECT,
        [WEFT__SWIM_EV_ALIVE] = WEFT_EV_MEMBER_ALIVE,
        [WEFT__SWIM_EV_FAILED] = WEFT_EV_MEMBER_FAILED,
        [WEFT__SWIM_EV_LEFT] = WEFT_EV_MEMBER_LEFT,
        [WEFT__SWIM_EV_REJOINED] = WEFT_EV_MEMBER_REJOINED,
        [WEFT__SWIM_EV_REFUSED] = WEFT_EV_MEMBER_REFUSED,
    };
    weft__swim_event sev;
    if (!e->swim)
        return;
    while (weft__swim_poll(e->swim, &sev)) {
        if (sev.type <= 0 || sev.type > WEFT__SWIM_EV_REFUSED)
            continue;
        if (weft__ev_push(e, map[sev.type], NULL, 0, 0, NULL, 0, NULL, 0) < 0)
            return;
        weft__event_q *q = &e->evq[(e->evq_head + e->evq_n - 1) & (e->evq_cap - 1)];
        q->ev.peer = sev.id;
        q->ev.addr = sev.addr;
        q->ev.incarnation = sev.incarnation;
        memcpy(q->ev.name, sev.name, sizeof q->ev.name);
    }
}

/* The common entry check of the calls below: misuse, membership off, and
 * the engine's clock moved to now. */
static int enter(weft__engine *e, uint64_t now_us)
{
    if (!e)
        return WEFT_ERR_INVAL;
    if (!e->swim)
        return WEFT_ERR_STATE;
    e->now_us = now_us;
    return 0;
}

int weft_engine_set_addr(weft_engine *e, const weft_addr *addr, uint64_t now_us)
{
    int rc = addr ? enter(e, now_us) : WEFT_ERR_INVAL;
    if (rc < 0)
        return rc;
    rc = weft__swim_set_addr(e->swim, addr, now_us);
    weft__member_pump(e);
    return rc;
}

int weft_engine_join(weft_engine *e, const weft_addr *seed, uint64_t now_us)
{
    int rc = seed ? enter(e, now_us) : WEFT_ERR_INVAL;
    if (rc < 0)
        return rc;
    return weft__swim_join(e->swim, seed, now_us);
}

int weft_engine_leave(weft_engine *e, uint64_t now_us)
{
    int rc = enter(e, now_us);
    if (rc < 0)
        return rc;
    return weft__swim_leave(e->swim, now_us);
}

int weft_engine_set_meta(weft_engine *e, const char *name, const char *status,
                         const weft_tag *tags, size_t ntags, uint64_t now_us)
{
    int rc = ntags && !tags ? WEFT_ERR_INVAL : enter(e, now_us);
    if (rc < 0)
        return rc;
    /* weft_tag and weft__swim_tag have the same layout by design */
    return weft__swim_set_meta(e->swim, name, status, (const weft__swim_tag *)tags,
                               ntags, now_us);
}

static void to_public(const weft__swim_member_info *in, weft_member *out)
{
    memset(out, 0, sizeof *out);
    out->id = in->id;
    out->addr = in->addr;
    out->state = in->state;
    out->incarnation = in->incarnation;
    out->name = in->name;
    out->name_len = in->name_len;
    out->status = in->status;
    out->status_len = in->status_len;
    out->tags = in->tags;
    out->tags_len = in->tags_len;
    out->rtt_us = in->rtt_us;
    out->last_contact_us = in->last_contact_us;
    out->is_self = in->is_self;
}

size_t weft_engine_member_count(const weft_engine *e)
{
    return e && e->swim ? weft__swim_member_count(e->swim) : 0;
}

int weft_engine_member_at(const weft_engine *e, size_t i, weft_member *out)
{
    weft__swim_member_info mi;
    if (!e || !out)
        return WEFT_ERR_INVAL;
    if (!e->swim)
        return WEFT_ERR_STATE;
    int rc = weft__swim_member_at(e->swim, i, &mi);
    if (rc == 0)
        to_public(&mi, out);
    return rc;
}

int weft_engine_member_find(const weft_engine *e, const weft_node_id *id,
                            weft_member *out)
{
    weft__swim_member_info mi;
    if (!e || !id || !out)
        return WEFT_ERR_INVAL;
    if (!e->swim)
        return WEFT_ERR_STATE;
    int rc = weft__swim_member_find(e->swim, id, &mi);
    if (rc == 0)
        to_public(&mi, out);
    return rc;
}

int weft_tag_next(const uint8_t *tags, size_t len, size_t *off, const char **key,
                  size_t *klen, const char **val, size_t *vlen)
{
    return weft__swim_tag_next(tags, len, off, key, klen, val, vlen);
}

int weft_engine_membership_stats(const weft_engine *e, weft_membership_stats *out)
{
    if (!e || !out)
        return WEFT_ERR_INVAL;
    if (!e->swim)
        return WEFT_ERR_STATE;
    weft__swim_stats st;
    weft__swim_counts c;
    weft__swim_stats_get(e->swim, &st);
    weft__swim_counts_get(e->swim, &c);
    memset(out, 0, sizeof *out);
    out->alive = c.alive;
    out->suspect = c.suspect;
    out->dead = c.dead;
    out->left = c.left;
    out->pkts_in = st.pkts_in;
    out->pkts_out = st.pkts_out;
    out->bytes_in = st.bytes_in;
    out->bytes_out = st.bytes_out;
    out->drop_bad_mac = st.drop_bad_mac;
    out->drop_malformed = st.drop_malformed + st.drop_version;
    out->drop_bad_signature = st.drop_bad_signature;
    out->stale = st.stale;
    out->refused_full = st.refused_full;
    out->probes = st.probes;
    out->probe_failures = st.probe_failures;
    out->refutations = st.refutations;
    out->pushpulls = st.pushpulls;
    out->awareness = st.awareness;
    return 0;
}

const char *weft_member_state_name(int state)
{
    switch (state) {
    case WEFT_MEMBER_ALIVE: return "alive";
    case WEFT_MEMBER_SUSPECT: return "suspect";
    case WEFT_MEMBER_DEAD: return "failed";
    case WEFT_MEMBER_LEFT: return "left";
    default: return "unknown";
    }
}

const char *weft_event_name(int type)
{
    switch (type) {
    case WEFT_EV_PEER_UP: return "peer-up";
    case WEFT_EV_PEER_DOWN: return "peer-down";
    case WEFT_EV_MESSAGE: return "message";
    case WEFT_EV_HANDSHAKE_FAILED: return "handshake-failed";
    case WEFT_EV_MEMBER_JOINED: return "member-joined";
    case WEFT_EV_MEMBER_UPDATED: return "member-updated";
    case WEFT_EV_MEMBER_SUSPECT: return "member-suspect";
    case WEFT_EV_MEMBER_ALIVE: return "member-alive";
    case WEFT_EV_MEMBER_FAILED: return "member-failed";
    case WEFT_EV_MEMBER_LEFT: return "member-left";
    case WEFT_EV_MEMBER_REJOINED: return "member-rejoined";
    case WEFT_EV_MEMBER_REFUSED: return "member-refused";
    default: return "none";
    }
}
