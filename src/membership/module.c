/*
 * module.c -- membership as a protocol module of the engine
 * (<weft/module.h>, <weft/membership.h>).
 *
 * The SWIM/Lifeguard instance (swim.h) owns datagram type 0x20: the
 * engine hands it those datagrams, sends its datagrams before session data
 * (probes must not starve behind a bulk transfer, or a busy node would
 * look dead), runs its timer, and queues its events (WEFT_EVF_MEMBER) for
 * the application and the other modules.  It also tells the engine where
 * a member can be reached, so weft_engine_send opens sessions on demand.
 * No session is needed per member: membership traffic is sealed under a
 * key derived from the network key and self-claims are signed (swim.c).
 *
 * This file includes only public headers and its own folder: the engine is
 * reached through <weft/module.h> alone.
 */
#include <string.h>

#include "weft/crypto.h"
#include "weft/membership.h"
#include "weft/module.h"
#include "base/util.h"
#include "membership/swim.h"

typedef struct member_mod {
    weft_engine *e;
    weft__swim *swim;
    weft_env env;              /* what the SWIM instance draws on */
} member_mod;

static const char MOD_NAME[] = "membership";

static void rand_fill(void *ctx, uint8_t *buf, size_t len)
{
    weft_host_random(ctx, buf, len);
}

/* Moves the instance's events into the engine's queue. */
static void pump(member_mod *mm)
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
    static const int state[] = {
        [WEFT__SWIM_EV_JOINED] = WEFT_MEMBER_ALIVE,
        [WEFT__SWIM_EV_UPDATED] = WEFT_MEMBER_ALIVE,
        [WEFT__SWIM_EV_SUSPECT] = WEFT_MEMBER_SUSPECT,
        [WEFT__SWIM_EV_ALIVE] = WEFT_MEMBER_ALIVE,
        [WEFT__SWIM_EV_FAILED] = WEFT_MEMBER_DEAD,
        [WEFT__SWIM_EV_LEFT] = WEFT_MEMBER_LEFT,
        [WEFT__SWIM_EV_REJOINED] = WEFT_MEMBER_ALIVE,
        [WEFT__SWIM_EV_REFUSED] = WEFT_MEMBER_DEAD,
    };
    weft__swim_event sev;
    while (weft__swim_poll(mm->swim, &sev)) {
        if (sev.type <= 0 || sev.type > WEFT__SWIM_EV_REFUSED)
            continue;
        weft_event ev;
        memset(&ev, 0, sizeof ev);
        ev.type = map[sev.type];
        ev.peer = sev.id;
        ev.addr = sev.addr;
        ev.u.member.incarnation = sev.incarnation;
        ev.u.member.state = state[sev.type];
        _Static_assert(sizeof ev.u.member.name == sizeof sev.name, "member name size");
        memcpy(ev.u.member.name, sev.name, sizeof ev.u.member.name);
        if (weft_host_emit(mm->e, mm, &ev) < 0)
            return; /* counted by the engine (events_dropped) */
    }
}

/* ------------------------------------------------------------------------ */
/* Module operations                                                         */

static int on_datagram(void *m, const weft_addr *from, const uint8_t *pkt, size_t len,
                       uint64_t now_us)
{
    member_mod *mm = m;
    int rc = weft__swim_recv(mm->swim, from, pkt, len, now_us);
    pump(mm);
    return rc;
}

static ptrdiff_t write_(void *m, weft_addr *to, uint8_t *buf, size_t cap, uint64_t now_us)
{
    return weft__swim_write(((member_mod *)m)->swim, to, buf, cap, now_us);
}

static uint64_t expiry(const void *m)
{
    return weft__swim_expiry(((const member_mod *)m)->swim);
}

static int handle_expiry(void *m, uint64_t now_us)
{
    member_mod *mm = m;
    int rc = weft__swim_handle_expiry(mm->swim, now_us);
    pump(mm);
    return rc;
}

static int resolve(void *m, const weft_node_id *id, weft_addr *out)
{
    weft__swim_member_info mi;
    if (weft__swim_member_find(((member_mod *)m)->swim, id, &mi) < 0 || mi.is_self ||
        (mi.state != WEFT__SWIM_ALIVE && mi.state != WEFT__SWIM_SUSPECT) || !mi.addr.family)
        return WEFT_ERR_NOT_FOUND;
    *out = mi.addr;
    return 0;
}

static const char *event_name(int type)
{
    switch (type) {
    case WEFT_EV_MEMBER_JOINED: return "member-joined";
    case WEFT_EV_MEMBER_UPDATED: return "member-updated";
    case WEFT_EV_MEMBER_SUSPECT: return "member-suspect";
    case WEFT_EV_MEMBER_ALIVE: return "member-alive";
    case WEFT_EV_MEMBER_FAILED: return "member-failed";
    case WEFT_EV_MEMBER_LEFT: return "member-left";
    case WEFT_EV_MEMBER_REJOINED: return "member-rejoined";
    case WEFT_EV_MEMBER_REFUSED: return "member-refused";
    default: return NULL;
    }
}

static void free_(void *m)
{
    member_mod *mm = m;
    weft__swim_del(mm->swim);
    weft__free(weft_host_allocator(mm->e), mm);
}

static const weft_module_ops member_ops = {
    .version = WEFT_MODULE_OPS_VERSION,
    .name = MOD_NAME,
    .pkt_type = WEFT__SWIM_PKT_TYPE,
    .event_family = WEFT_EVF_MEMBER,
    .on_datagram = on_datagram,
    .write = write_,
    .expiry = expiry,
    .handle_expiry = handle_expiry,
    .resolve = resolve,
    .event_name = event_name,
    .free = free_,
};

/* ------------------------------------------------------------------------ */
/* Public API                                                                */

static size_t config_size(int version)
{
    return version == WEFT_MEMBERSHIP_CONFIG_V1 ? sizeof(weft_membership_config) : 0;
}

void weft_membership_config_default_versioned(int version, weft_membership_config *c)
{
    size_t n = config_size(version);
    if (!c || !n)
        return;
    weft_membership_config d;
    memset(&d, 0, sizeof d);
    d.profile = WEFT_PROFILE_LAN;
    d.max_peers = 4096;
    memcpy(c, &d, n);
}

int weft_membership_attach_versioned(weft_engine *e, int version,
                                     const weft_membership_config *cfg, uint64_t now_us)
{
    size_t n = config_size(version);
    if (!n)
        return WEFT_ERR_VERSION_MISMATCH;
    if (!e || !cfg)
        return WEFT_ERR_INVAL;
    if (weft_host_module(e, MOD_NAME))
        return WEFT_ERR_EXISTS;
    weft_membership_config c;
    weft_membership_config_default(&c);
    memcpy(&c, cfg, n);
    if (c.profile != WEFT_PROFILE_LAN && c.profile != WEFT_PROFILE_WAN)
        return WEFT_ERR_CONFIG;

    weft__swim_config sc;
    if (c.profile == WEFT_PROFILE_WAN)
        weft__swim_config_wan(&sc);
    else
        weft__swim_config_lan(&sc);
    if (c.max_peers)
        sc.max_members = c.max_peers;
    if (c.probe_interval_ms)
        sc.probe_interval_ms = c.probe_interval_ms;
    if (c.probe_timeout_ms)
        sc.probe_timeout_ms = c.probe_timeout_ms;
    if (c.suspicion_mult)
        sc.suspicion_mult = c.suspicion_mult;
    if (c.pushpull_interval_ms)
        sc.pushpull_interval_ms = c.pushpull_interval_ms;
    sc.incarnation_start = c.incarnation_start;

    const weft_allocator *a = weft_host_allocator(e);
    member_mod *mm = weft__calloc(a, sizeof *mm);
    if (!mm)
        return WEFT_ERR_NOMEM;
    mm->e = e;
    mm->env.alloc = a;
    mm->env.crypto = weft_host_crypto(e);
    mm->env.rand.ctx = e;
    mm->env.rand.fill = rand_fill;
    const uint8_t *secret, *netkey;
    weft_host_keys(e, &secret, &netkey);
    weft_host_enter(e, now_us);
    int rc = weft__swim_new(&mm->swim, &sc, &mm->env, secret, netkey, NULL, now_us);
    if (rc == 0)
        rc = weft_host_register(e, &member_ops, mm);
    if (rc < 0) {
        weft__swim_del(mm->swim);
        weft__free(a, mm);
    }
    weft_host_leave(e);
    return rc;
}

static member_mod *get(const weft_engine *e)
{
    return e ? weft_host_module(e, MOD_NAME) : NULL;
}

/* The common frame of the calls below that change state: misuse,
 * membership off, the engine's clock moved to now; events pumped and the
 * driver woken at the end. */
#define MEMBER_CALL(e, now_us, expr)                                           \
    do {                                                                       \
        member_mod *mm_ = get(e);                                              \
        if (!mm_)                                                              \
            return (e) ? WEFT_ERR_STATE : WEFT_ERR_INVAL;                      \
        weft_host_enter((e), (now_us));                                        \
        weft__swim *swim = mm_->swim;                                          \
        int rc_ = (expr);                                                      \
        pump(mm_);                                                             \
        weft_host_leave(e);                                                    \
        return rc_;                                                            \
    } while (0)

int weft_membership_set_addr(weft_engine *e, const weft_addr *addr, uint64_t now_us)
{
    if (!addr)
        return WEFT_ERR_INVAL;
    MEMBER_CALL(e, now_us, weft__swim_set_addr(swim, addr, now_us));
}

int weft_membership_join(weft_engine *e, const weft_addr *seed, uint64_t now_us)
{
    if (!seed)
        return WEFT_ERR_INVAL;
    MEMBER_CALL(e, now_us, weft__swim_join(swim, seed, now_us));
}

int weft_membership_leave(weft_engine *e, uint64_t now_us)
{
    MEMBER_CALL(e, now_us, weft__swim_leave(swim, now_us));
}

int weft_membership_set_meta(weft_engine *e, const char *name, const char *status,
                             const weft_tag *tags, size_t ntags, uint64_t now_us)
{
    if (ntags && !tags)
        return WEFT_ERR_INVAL;
    /* weft_tag and weft__swim_tag have the same layout by design */
    _Static_assert(sizeof(weft_tag) == sizeof(weft__swim_tag), "tag layout");
    MEMBER_CALL(e, now_us,
                weft__swim_set_meta(swim, name, status, (const weft__swim_tag *)tags, ntags,
                                    now_us));
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

size_t weft_membership_count(const weft_engine *e)
{
    member_mod *mm = get(e);
    return mm ? weft__swim_member_count(mm->swim) : 0;
}

int weft_membership_at(const weft_engine *e, size_t i, weft_member *out)
{
    weft__swim_member_info mi;
    if (!e || !out)
        return WEFT_ERR_INVAL;
    member_mod *mm = get(e);
    if (!mm)
        return WEFT_ERR_STATE;
    int rc = weft__swim_member_at(mm->swim, i, &mi);
    if (rc == 0)
        to_public(&mi, out);
    return rc;
}

int weft_membership_find(const weft_engine *e, const weft_node_id *id, weft_member *out)
{
    weft__swim_member_info mi;
    if (!e || !id || !out)
        return WEFT_ERR_INVAL;
    member_mod *mm = get(e);
    if (!mm)
        return WEFT_ERR_STATE;
    int rc = weft__swim_member_find(mm->swim, id, &mi);
    if (rc == 0)
        to_public(&mi, out);
    return rc;
}

int weft_tag_next(const uint8_t *tags, size_t len, size_t *off, const char **key,
                  size_t *klen, const char **val, size_t *vlen)
{
    return weft__swim_tag_next(tags, len, off, key, klen, val, vlen);
}

int weft_membership_stats_get(const weft_engine *e, weft_membership_stats *out)
{
    if (!e || !out)
        return WEFT_ERR_INVAL;
    member_mod *mm = get(e);
    if (!mm)
        return WEFT_ERR_STATE;
    weft__swim_stats st;
    weft__swim_counts c;
    weft__swim_stats_get(mm->swim, &st);
    weft__swim_counts_get(mm->swim, &c);
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
