/*
 * swim.c -- SWIM membership with Lifeguard, sans-IO (see swim.h and
 * docs/MEMBERSHIP.md for the wire format).
 *
 * Shape of the state:
 *   - `members`: an array of records, kept in random order; probing walks it
 *     round-robin and reshuffles it at the end of each round (SWIM §4.3,
 *     "round-robin probe target selection"), new members are swapped into a
 *     random slot.  `slots` is an open-addressing hash (linear probing,
 *     backward-shift deletion) from node id to array index.  Ourselves are
 *     kept apart in `self`.
 *   - `bcast`: pending updates to piggyback, at most one per member, sent
 *     freshest (fewest transmissions) first and dropped after
 *     retransmit_mult * ceil(log10(N + 1)) sends (SWIM §4.1 dissemination).
 *     Messages are encoded from the member's current record at send time,
 *     so an entry is a reference, not a copy.
 *   - `outq`: control messages (ping, ack, ...) waiting for write(); the
 *     piggyback is added at write() time so that it is as fresh as possible.
 *   - `pp`: full-state (push-pull) transfers in progress; each is a cursor
 *     over `members`, emitted as self-contained chunks of one packet each.
 *
 * Per-packet work is O(1) in the number of members (hash lookups; the
 * broadcast queue has a fixed cap), except push-pull merging, which is
 * O(entries in the chunk).  Timers: see handle_expiry().
 */
#include <math.h>
#include <string.h>

#include "membership/swim.h"
#include "base/util.h"
#include "base/varint.h"
#include "weft/crypto.h"

/* Message types inside the decrypted payload (docs/MEMBERSHIP.md §4). */
enum {
    MSG_PING = 0x01,
    MSG_PING_REQ = 0x02,
    MSG_ACK = 0x03,
    MSG_NACK = 0x04,
    MSG_ALIVE = 0x10,
    MSG_SUSPECT = 0x11,
    MSG_DEAD = 0x12,
    MSG_LEAVE = 0x13,
    MSG_PUSHPULL = 0x20
};

enum { PP_REQUEST = 0x01, PP_JOIN = 0x02, PP_CLAIM = 0x04 };
#define PP_ONE 0x100 /* internal: send only the first chunk (reconnect) */

#define ADDR_WIRE 23           /* family, port, scope, ip[16] */
#define MSG_HDR 3              /* type u8, length u16 */
#define ALIVE_FIXED (32 + 4 + ADDR_WIRE + 64) /* plus the meta blob */
#define META_EMPTY 4           /* name_len, status_len, tags_len(2) */
#define META_MAX (1 + WEFT__SWIM_NAME_MAX + 1 + WEFT__SWIM_STATUS_MAX + 2 + WEFT__SWIM_TAGS_MAX)
#define CLAIM_MAX (ALIVE_FIXED + META_MAX)
#define CONFIRM_MAX 6          /* Lifeguard K is capped here */
#define CTRL_MAX 128           /* control bytes of one queued datagram */
#define LAST_CHANCES 3         /* rounds of direct checks before death,
                                  plus one per point of local health */
#define PP_MAX 16              /* concurrent push-pull transfers (a seed
                                  answers many joins at once) */
#define REFUSED_MEMO 16

static const char ALIVE_CTX[16] = "weft-swim-alive";
static const char LEAVE_CTX[16] = "weft-swim-leave";

/* One member as this node sees it. */
typedef struct member {
    weft_node_id id;
    weft_addr addr;          /* from its latest signed claim */
    uint8_t sig[64];         /* claim signature; the leave signature once LEFT */
    uint32_t inc;            /* incarnation of the current state */
    uint32_t claim_inc;      /* incarnation of the stored signed claim */
    uint8_t state;           /* enum weft__swim_state */
    uint8_t nconfirm;        /* independent suspicion confirmations */
    uint8_t last_chance;     /* rounds of direct checks done */
    uint16_t meta_len;       /* bytes at meta (wire form); 0 = empty */
    uint8_t *meta;           /* owned; NULL = empty metadata */
    uint64_t since_us;       /* when the current state began */
    uint64_t deadline_us;    /* SUSPECT: declare dead; DEAD/LEFT: forget */
    uint64_t last_contact_us;
    uint32_t rtt_us;
    uint64_t confirmers[CONFIRM_MAX]; /* first 8 id bytes of suspectors */
} member;

typedef struct bcast {
    weft_node_id id;      /* whom the update is about */
    weft_node_id from;    /* SUSPECT / DEAD: who asserts it */
    uint8_t kind;         /* MSG_ALIVE, MSG_SUSPECT, MSG_DEAD, MSG_LEAVE */
    uint8_t transmits;
    uint8_t urgent;       /* failure news and refutations: before joins */
} bcast;

typedef struct outmsg {
    weft_addr to;
    uint16_t len;
    uint8_t piggyback;
    uint8_t claim;        /* append our own signed claim (claim answers) */
    uint8_t msg[CTRL_MAX];
} outmsg;

typedef struct pptask {
    weft_addr to;
    uint32_t cursor;      /* next member index; 0 = self first */
    uint16_t flags;       /* PP_* wire flags | PP_ONE */
    uint8_t active;
} pptask;

typedef struct relay {
    uint32_t seq;         /* our ping's sequence number */
    uint32_t orig_seq;    /* requester's */
    weft_addr requester;
    uint64_t deadline_us; /* NACK when no ack by then (Lifeguard §3.1) */
    uint8_t used;
} relay;

typedef struct seed {
    weft_addr addr;
    uint64_t next_try_us;
    uint32_t backoff_ms;
    uint8_t answered;
} seed;

struct weft__swim {
    weft__swim_config cfg;
    const weft_env *env;
    const weft_crypto *cr;
    uint8_t secret[64];
    uint8_t mkey[32];        /* membership key (docs §2) */
    uint64_t rng[2];         /* protocol choices (not key material) */
    uint64_t hash_salt;

    member self;
    uint8_t leave_sig[64];
    int left;

    member *members;
    uint32_t nmembers, members_cap;
    uint32_t *slots;         /* index + 1; 0 = empty */
    uint32_t slots_cap;      /* power of two */
    uint32_t probe_pos;

    bcast *bcast;
    uint32_t nbcast;

    outmsg *outq;
    uint32_t out_head, out_len;

    pptask pp[PP_MAX];
    uint32_t pp_rr;

    relay *relays;

    seed seeds[WEFT__SWIM_SEEDS_MAX];
    uint32_t nseeds;
    uint32_t join_extra;     /* quick push-pulls left after joining */

    weft__swim_event *events;
    uint32_t ev_head, ev_len;

    uint64_t refused[REFUSED_MEMO];
    uint32_t refused_pos;

    /* the probe in progress (SWIM §4.2) */
    struct {
        int active, acked, indirect_sent;
        weft_node_id target;
        weft_addr target_addr;
        uint32_t seq;
        uint64_t sent_us, timeout_us, end_us;
        uint32_t nacks_expected, nacks;
    } probe;
    uint32_t seq;
    uint32_t awareness;      /* Lifeguard LHM, 0..awareness_max */

    uint64_t next_probe_us, next_gossip_us, next_pp_us, next_reconnect_us;
    uint64_t next_sweep_us;

    uint8_t *rxbuf;
    size_t rxcap;
    uint8_t *txbuf;          /* plaintext of the packet being written */

    weft__swim_stats st;
};

/* ---------------------------------------------------------------------- */
/* small helpers                                                          */

static uint64_t rnd(weft__swim *s)
{
    /* xorshift128+: fast, seeded from env->rand at creation */
    uint64_t a = s->rng[0], b = s->rng[1];
    s->rng[0] = b;
    a ^= a << 23;
    s->rng[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
    return s->rng[1] + b;
}

static uint32_t rnd_below(weft__swim *s, uint32_t n)
{
    return n ? (uint32_t)(rnd(s) % n) : 0;
}

static uint64_t short_id(const weft_node_id *id)
{
    return weft__get_u64(id->key);
}

static int id_eq(const weft_node_id *a, const weft_node_id *b)
{
    return memcmp(a->key, b->key, 32) == 0;
}

static uint64_t ms_us(uint64_t ms) { return ms * 1000; }

static void put_addr(uint8_t *p, const weft_addr *a)
{
    p[0] = a->family;
    weft__put_u16(p + 1, a->port);
    weft__put_u32(p + 3, a->scope);
    memcpy(p + 7, a->ip, 16);
}

/* Returns 0 or -1 for a family other than 4/6. */
static int get_addr(const uint8_t *p, weft_addr *a)
{
    memset(a, 0, sizeof *a);
    a->family = p[0];
    a->port = weft__get_u16(p + 1);
    a->scope = weft__get_u32(p + 3);
    memcpy(a->ip, p + 7, 16);
    if (a->family == 4) {
        a->scope = 0;
        memset(a->ip + 4, 0, 12);
        return 0;
    }
    return a->family == 6 ? 0 : -1;
}

/* Number of live members (alive + suspect), self included: the N of the
 * SWIM/Lifeguard formulas. */
static uint32_t live_count(const weft__swim *s);

/* ceil(log10(n + 1)), at least 1. */
static uint32_t log10_ceil(uint32_t n)
{
    uint32_t r = 0;
    for (uint64_t p = 1; p < (uint64_t)n + 1; p *= 10)
        r++;
    return r ? r : 1;
}

static uint32_t transmit_limit(const weft__swim *s)
{
    return s->cfg.retransmit_mult * log10_ceil(live_count(s));
}

/* ---------------------------------------------------------------------- */
/* configuration                                                          */

void weft__swim_config_lan(weft__swim_config *c)
{
    memset(c, 0, sizeof *c);
    c->probe_interval_ms = 200;
    c->probe_timeout_ms = 100;
    c->indirect_checks = 3;
    c->gossip_interval_ms = 50;
    c->gossip_fanout = 3;
    c->retransmit_mult = 4;
    c->suspicion_mult = 4;
    c->suspicion_max_mult = 6;
    c->awareness_max = 8;
    c->pushpull_interval_ms = 15000;
    c->reconnect_interval_ms = 2000;
    c->dead_retain_ms = 60000;
    c->gossip_to_dead_ms = 10000;
    c->join_retry_ms_min = 250;
    c->join_retry_ms_max = 8000;
    c->max_members = 4096;
    c->broadcast_max = 2048;
    c->event_max = 1024;
    c->out_queue_max = 128;
    c->relay_max = 32;
    c->packet_bytes = 1200;
    c->incarnation_start = 0;
}

void weft__swim_config_wan(weft__swim_config *c)
{
    weft__swim_config_lan(c);
    c->probe_interval_ms = 5000;
    c->probe_timeout_ms = 3000;
    c->gossip_interval_ms = 500;
    c->gossip_fanout = 4;
    c->retransmit_mult = 4;
    c->suspicion_mult = 6;
    c->suspicion_max_mult = 6;
    c->pushpull_interval_ms = 60000;
    c->reconnect_interval_ms = 30000;
    c->dead_retain_ms = 300000;
    c->gossip_to_dead_ms = 60000;
    c->join_retry_ms_min = 1000;
    c->join_retry_ms_max = 60000;
}

static int config_ok(const weft__swim_config *c)
{
    return c->probe_interval_ms > 0 && c->probe_timeout_ms > 0 &&
           c->probe_timeout_ms < c->probe_interval_ms &&
           c->gossip_interval_ms > 0 && c->retransmit_mult > 0 &&
           c->suspicion_mult >= 1 && c->suspicion_max_mult >= 1 &&
           c->awareness_max <= 8 && c->max_members >= 1 &&
           c->broadcast_max >= 1 && c->event_max >= 1 &&
           c->out_queue_max >= 4 && c->relay_max >= 1 &&
           c->join_retry_ms_min > 0 &&
           c->join_retry_ms_max >= c->join_retry_ms_min &&
           c->packet_bytes >= WEFT__SWIM_OVERHEAD + 32 + MSG_HDR + 1 + 4 + CLAIM_MAX &&
           c->packet_bytes <= 65507;
}

/* ---------------------------------------------------------------------- */
/* the member table                                                       */

static uint32_t slot_of(const weft__swim *s, const weft_node_id *id)
{
    uint64_t h = (short_id(id) ^ s->hash_salt) * 0x9e3779b97f4a7c15ULL;
    return (uint32_t)(h >> 32) & (s->slots_cap - 1);
}

static member *find(const weft__swim *s, const weft_node_id *id)
{
    if (!s->slots_cap)
        return NULL;
    for (uint32_t i = slot_of(s, id);; i = (i + 1) & (s->slots_cap - 1)) {
        uint32_t v = s->slots[i];
        if (!v)
            return NULL;
        if (id_eq(&s->members[v - 1].id, id))
            return &s->members[v - 1];
    }
}

/* The slot holding id, which must be present. */
static uint32_t slot_pos(const weft__swim *s, const weft_node_id *id)
{
    uint32_t i = slot_of(s, id);
    while (s->slots[i] && !id_eq(&s->members[s->slots[i] - 1].id, id))
        i = (i + 1) & (s->slots_cap - 1);
    return i;
}

/* Points id's slot at index idx, inserting when absent.  The table has room
 * (load factor <= 1/2 is kept by grow()). */
static void slot_set(weft__swim *s, const weft_node_id *id, uint32_t idx)
{
    for (uint32_t i = slot_of(s, id);; i = (i + 1) & (s->slots_cap - 1)) {
        uint32_t v = s->slots[i];
        if (!v || id_eq(&s->members[v - 1].id, id)) {
            s->slots[i] = idx + 1;
            return;
        }
    }
}

/* Removes id's slot; backward-shift deletion keeps probe chains intact. */
static void slot_del(weft__swim *s, const weft_node_id *id)
{
    uint32_t mask = s->slots_cap - 1, i = slot_of(s, id);
    while (s->slots[i] && !id_eq(&s->members[s->slots[i] - 1].id, id))
        i = (i + 1) & mask;
    if (!s->slots[i])
        return;
    uint32_t j = i;
    for (;;) {
        s->slots[i] = 0;
        for (;;) {
            j = (j + 1) & mask;
            if (!s->slots[j])
                return;
            uint32_t home = slot_of(s, &s->members[s->slots[j] - 1].id);
            /* move j back to i unless its home lies cyclically in (i, j] */
            if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
                continue;
            break;
        }
        s->slots[i] = s->slots[j];
        i = j;
    }
}

static void rehash(weft__swim *s)
{
    if (!s->slots_cap)
        return; /* no member yet */
    memset(s->slots, 0, s->slots_cap * sizeof *s->slots);
    for (uint32_t k = 0; k < s->nmembers; k++)
        slot_set(s, &s->members[k].id, k);
}

/* Makes room for one more member.  0 or WEFT_ERR_NOMEM. */
static int grow(weft__swim *s)
{
    if (s->nmembers + 1 > s->members_cap) {
        uint32_t cap = s->members_cap ? s->members_cap * 2 : 16;
        member *m = weft__realloc(s->env->alloc, s->members, cap * sizeof *m);
        if (!m)
            return WEFT_ERR_NOMEM;
        s->members = m;
        s->members_cap = cap;
    }
    if ((s->nmembers + 1) * 2 > s->slots_cap) {
        uint32_t cap = s->slots_cap ? s->slots_cap * 2 : 32;
        uint32_t *sl = weft__calloc(s->env->alloc, cap * sizeof *sl);
        if (!sl)
            return WEFT_ERR_NOMEM;
        weft__free(s->env->alloc, s->slots);
        s->slots = sl;
        s->slots_cap = cap;
        rehash(s);
    }
    return 0;
}

/* Adds a member at a random position of the probe order (SWIM §4.3). */
static member *member_add(weft__swim *s, const weft_node_id *id)
{
    if (grow(s) < 0)
        return NULL;
    uint32_t n = s->nmembers++;
    member *m = &s->members[n];
    memset(m, 0, sizeof *m);
    m->id = *id;
    slot_set(s, id, n);
    uint32_t j = rnd_below(s, n + 1);
    if (j != n) {
        /* find both slots before the swap: slots are matched through the
         * array, which the swap changes */
        uint32_t pn = slot_pos(s, &s->members[n].id);
        uint32_t pj = slot_pos(s, &s->members[j].id);
        member tmp = s->members[j];
        s->members[j] = s->members[n];
        s->members[n] = tmp;
        s->slots[pn] = j + 1;
        s->slots[pj] = n + 1;
    }
    return &s->members[j];
}

static void member_remove(weft__swim *s, member *m)
{
    uint32_t i = (uint32_t)(m - s->members), last = s->nmembers - 1;
    slot_del(s, &m->id);
    weft__free(s->env->alloc, m->meta);
    if (i != last) {
        /* last's slot is found while members[last] is still intact */
        s->slots[slot_pos(s, &s->members[last].id)] = i + 1;
        s->members[i] = s->members[last];
    }
    s->nmembers--;
}

static void shuffle(weft__swim *s)
{
    for (uint32_t i = s->nmembers; i > 1; i--) {
        uint32_t j = rnd_below(s, i);
        member tmp = s->members[i - 1];
        s->members[i - 1] = s->members[j];
        s->members[j] = tmp;
    }
    rehash(s);
}

static uint32_t live_count(const weft__swim *s)
{
    /* Every member we remember, self included.  Dead members retained for
     * dead_retain_ms are counted too: an upper bound of the live N is the
     * safe side for retransmission counts and suspicion timeouts. */
    return 1 + s->nmembers;
}

/* ---------------------------------------------------------------------- */
/* events                                                                 */

static void emit(weft__swim *s, int type, const member *m)
{
    if (s->ev_len == s->cfg.event_max) {
        s->st.event_drops++;
        return;
    }
    weft__swim_event *ev = &s->events[(s->ev_head + s->ev_len++) % s->cfg.event_max];
    memset(ev, 0, sizeof *ev);
    ev->type = type;
    ev->id = m->id;
    ev->addr = m->addr;
    ev->incarnation = m->inc;
    if (m->meta && m->meta_len >= 1) {
        size_t n = WEFT__MIN((size_t)m->meta[0], (size_t)WEFT__SWIM_NAME_MAX);
        memcpy(ev->name, m->meta + 1, n);
    }
}

int weft__swim_poll(weft__swim *s, weft__swim_event *ev)
{
    if (!s->ev_len)
        return 0;
    *ev = s->events[s->ev_head];
    s->ev_head = (s->ev_head + 1) % s->cfg.event_max;
    s->ev_len--;
    return 1;
}

/* ---------------------------------------------------------------------- */
/* broadcasts (piggybacked dissemination, SWIM §4.1)                      */

/* Queues (or replaces) the update about id: at most one per member, the
 * newest wins and starts with zero transmissions.  When the queue is full
 * the most-transmitted entry is dropped (counted). */
static void bcast_queue_u(weft__swim *s, int kind, const weft_node_id *id,
                          const weft_node_id *from, int urgent)
{
    bcast *b = NULL;
    for (uint32_t i = 0; i < s->nbcast; i++)
        if (id_eq(&s->bcast[i].id, id)) {
            b = &s->bcast[i];
            break;
        }
    if (!b) {
        if (s->nbcast == s->cfg.broadcast_max) {
            /* drop routine news before urgent news, most-sent first */
            uint32_t worst = 0;
            for (uint32_t i = 1; i < s->nbcast; i++) {
                const bcast *a = &s->bcast[i], *w = &s->bcast[worst];
                if (a->urgent < w->urgent ||
                    (a->urgent == w->urgent && a->transmits > w->transmits))
                    worst = i;
            }
            s->bcast[worst] = s->bcast[--s->nbcast];
            s->st.broadcast_drops++;
        }
        b = &s->bcast[s->nbcast++];
    }
    b->id = *id;
    b->from = from ? *from : s->self.id;
    b->kind = (uint8_t)kind;
    b->transmits = 0;
    b->urgent = (uint8_t)urgent;
}

/* Failure news is urgent; alive claims are not, unless they refute. */
static void bcast_queue(weft__swim *s, int kind, const weft_node_id *id,
                        const weft_node_id *from)
{
    bcast_queue_u(s, kind, id, from, kind != MSG_ALIVE);
}

/* Encodes the signed alive claim of m: docs §4.5. */
static size_t encode_claim(const member *m, uint8_t *p)
{
    size_t o = 0;
    memcpy(p, m->id.key, 32);
    o += 32;
    weft__put_u32(p + o, m->claim_inc);
    o += 4;
    put_addr(p + o, &m->addr);
    o += ADDR_WIRE;
    if (m->meta) {
        memcpy(p + o, m->meta, m->meta_len);
        o += m->meta_len;
    } else {
        memset(p + o, 0, META_EMPTY);
        o += META_EMPTY;
    }
    memcpy(p + o, m->sig, 64);
    return o + 64;
}

static size_t claim_len(const member *m)
{
    return ALIVE_FIXED + (m->meta ? m->meta_len : META_EMPTY);
}

static size_t put_hdr(uint8_t *p, int type, size_t len)
{
    p[0] = (uint8_t)type;
    weft__put_u16(p + 1, (uint16_t)len);
    return MSG_HDR;
}

/* Encodes update b into p (room bytes).  Returns bytes written, 0 when it
 * does not fit, or -1 when the entry is obsolete (member forgotten). */
static ptrdiff_t encode_bcast(weft__swim *s, const bcast *b, uint8_t *p,
                              size_t room)
{
    const member *m = id_eq(&b->id, &s->self.id) ? &s->self : find(s, &b->id);
    if (!m)
        return -1;
    size_t need;
    switch (b->kind) {
    case MSG_ALIVE:
        if (m->state == WEFT__SWIM_LEFT)
            return -1;
        need = MSG_HDR + claim_len(m);
        if (need > room)
            return 0;
        put_hdr(p, MSG_ALIVE, need - MSG_HDR);
        encode_claim(m, p + MSG_HDR);
        return (ptrdiff_t)need;
    case MSG_SUSPECT:
    case MSG_DEAD:
        need = MSG_HDR + 68;
        if (need > room)
            return 0;
        put_hdr(p, b->kind, 68);
        memcpy(p + 3, m->id.key, 32);
        weft__put_u32(p + 35, m->inc);
        memcpy(p + 39, b->from.key, 32);
        return (ptrdiff_t)need;
    case MSG_LEAVE:
        if (m->state != WEFT__SWIM_LEFT)
            return -1;
        need = MSG_HDR + 100;
        if (need > room)
            return 0;
        put_hdr(p, MSG_LEAVE, 100);
        memcpy(p + 3, m->id.key, 32);
        weft__put_u32(p + 35, m->inc);
        memcpy(p + 39, m == &s->self ? s->leave_sig : m->sig, 64);
        return (ptrdiff_t)need;
    }
    return -1;
}

/* Ordering of the piggyback: updates about ourselves (refutations, new
 * metadata, leave) first, then urgent ones (suspicions, deaths, leaves,
 * refutations of others: they race a suspicion timeout), then fewest
 * transmissions first.  When a thousand members join at once, routine
 * join claims would otherwise delay a refutation past its deadline. */
static int bcast_before(const weft__swim *s, const bcast *a, const bcast *b)
{
    int sa = id_eq(&a->id, &s->self.id), sb = id_eq(&b->id, &s->self.id);
    if (sa != sb)
        return sa;
    if (a->urgent != b->urgent)
        return a->urgent;
    return a->transmits < b->transmits;
}

/* Appends pending updates to a packet, fewest transmissions first, until
 * room runs out.  Returns bytes appended. */
static size_t fill_piggyback(weft__swim *s, uint8_t *p, size_t room)
{
    /* insertion sort by transmits: the array is nearly sorted already */
    for (uint32_t i = 1; i < s->nbcast; i++) {
        bcast t = s->bcast[i];
        uint32_t j = i;
        while (j > 0 && bcast_before(s, &t, &s->bcast[j - 1])) {
            s->bcast[j] = s->bcast[j - 1];
            j--;
        }
        s->bcast[j] = t;
    }
    uint32_t limit = transmit_limit(s);
    size_t used = 0;
    for (uint32_t i = 0; i < s->nbcast && room - used >= MSG_HDR + 68;) {
        ptrdiff_t n = encode_bcast(s, &s->bcast[i], p + used, room - used);
        if (n == 0)
            break; /* full: the rest waits (and the scan stays short) */
        if (n < 0 || (n > 0 && ++s->bcast[i].transmits >= limit)) {
            used += n > 0 ? (size_t)n : 0;
            memmove(&s->bcast[i], &s->bcast[i + 1],
                    (s->nbcast - i - 1) * sizeof *s->bcast);
            s->nbcast--;
            continue;
        }
        used += (size_t)n;
        i++;
    }
    return used;
}

/* ---------------------------------------------------------------------- */
/* output                                                                 */

/* Queues a control message (may be empty: a piggyback-only packet).
 * flags: bit 0 = fill with piggybacked updates, bit 1 = our own claim
 * first (an answer to a claim request). */
static int out_push(weft__swim *s, const weft_addr *to, const uint8_t *msg,
                    size_t len, int flags)
{
    if (to->family != 4 && to->family != 6)
        return WEFT_ERR_INVAL;
    if (s->out_len == s->cfg.out_queue_max) {
        s->st.out_drops++;
        return WEFT_ERR_AGAIN;
    }
    outmsg *o = &s->outq[(s->out_head + s->out_len++) % s->cfg.out_queue_max];
    o->to = *to;
    o->len = (uint16_t)len;
    o->piggyback = (uint8_t)(flags & 1);
    o->claim = (uint8_t)(flags >> 1 & 1);
    if (len)
        memcpy(o->msg, msg, len);
    return 0;
}

static void send_seq_msg(weft__swim *s, const weft_addr *to, int type,
                         uint32_t seq)
{
    uint8_t m[MSG_HDR + 4];
    put_hdr(m, type, 4);
    weft__put_u32(m + 3, seq);
    out_push(s, to, m, sizeof m, 1);
}

/* PING(seq, target) -- with the buddy-system suspect first when we
 * suspect the target (Lifeguard §3.3): it learns at once and refutes. */
static void send_ping(weft__swim *s, const weft_addr *to,
                      const weft_node_id *target, uint32_t seq,
                      const member *m)
{
    uint8_t b[CTRL_MAX];
    size_t o = 0;
    if (m && m->state == WEFT__SWIM_SUSPECT) {
        o += put_hdr(b, MSG_SUSPECT, 68);
        memcpy(b + o, m->id.key, 32);
        weft__put_u32(b + o + 32, m->inc);
        memcpy(b + o + 36, s->self.id.key, 32);
        o += 68;
    }
    o += put_hdr(b + o, MSG_PING, 36);
    weft__put_u32(b + o, seq);
    memcpy(b + o + 4, target->key, 32);
    o += 36;
    out_push(s, to, b, o, 1);
}

static void send_suspect_direct(weft__swim *s, const member *m)
{
    uint8_t b[MSG_HDR + 68];
    put_hdr(b, MSG_SUSPECT, 68);
    memcpy(b + 3, m->id.key, 32);
    weft__put_u32(b + 35, m->inc);
    memcpy(b + 39, s->self.id.key, 32);
    out_push(s, &m->addr, b, sizeof b, 1);
}

/* Seals plaintext pt (ptlen) into buf as a membership packet (docs §2). */
static ptrdiff_t seal(weft__swim *s, uint8_t *buf, const uint8_t *pt,
                      size_t ptlen)
{
    uint8_t key[32];
    buf[0] = WEFT__SWIM_PKT_TYPE;
    buf[1] = WEFT__SWIM_VERSION;
    s->env->rand.fill(s->env->rand.ctx, buf + 2, 16);
    weft_iov iov = {buf + 2, 16};
    s->cr->mac(s->cr->ctx, key, 32, s->mkey, 32, &iov, 1);
    s->cr->aead_seal(s->cr->ctx, buf + WEFT__SWIM_HDR_BYTES, key, 0, buf,
                     WEFT__SWIM_HDR_BYTES, pt, ptlen);
    s->cr->wipe(s->cr->ctx, key, sizeof key);
    size_t n = ptlen + WEFT__SWIM_OVERHEAD;
    s->st.pkts_out++;
    s->st.bytes_out += n;
    return (ptrdiff_t)n;
}

/* Encodes one push-pull entry for member m (docs §4.9).  Returns bytes or
 * 0 when it does not fit. */
static size_t encode_pp_entry(weft__swim *s, const member *m, uint8_t *p,
                              size_t room)
{
    if (m->state == WEFT__SWIM_LEFT) {
        if (room < 1 + 4 + 32 + 64)
            return 0;
        p[0] = WEFT__SWIM_LEFT;
        weft__put_u32(p + 1, m->inc);
        memcpy(p + 5, m->id.key, 32);
        memcpy(p + 37, m == &s->self ? s->leave_sig : m->sig, 64);
        return 101;
    }
    size_t need = 1 + 4 + claim_len(m);
    if (room < need)
        return 0;
    p[0] = m->state;
    weft__put_u32(p + 1, m->inc);
    encode_claim(m, p + 5);
    return need;
}

/* Emits the next chunk of push-pull transfer t into pt; returns plaintext
 * length (0 when the transfer is complete). */
static size_t pp_chunk(weft__swim *s, pptask *t, uint8_t *pt, size_t room)
{
    if (t->cursor > s->nmembers) {
        t->active = 0;
        return 0;
    }
    size_t o = 32;
    memcpy(pt, s->self.id.key, 32);
    size_t hdr = o;
    o += MSG_HDR;
    pt[o++] = (uint8_t)(t->cursor == 0 ? t->flags & 0xff : t->flags & ~PP_REQUEST & 0xff);
    size_t first = o;
    while (t->cursor <= s->nmembers) {
        if ((t->flags & PP_ONE) && t->cursor > 0)
            break; /* reconnects and claim answers: our own entry only */
        const member *m = t->cursor == 0 ? &s->self : &s->members[t->cursor - 1];
        size_t n = encode_pp_entry(s, m, pt + o, room - o);
        if (!n)
            break;
        o += n;
        t->cursor++;
    }
    if (o == first && t->cursor > 0) /* nothing fitted: cannot happen with a */
        t->cursor++;                 /* valid packet_bytes; skip defensively */
    put_hdr(pt + hdr, MSG_PUSHPULL, o - hdr - MSG_HDR);
    if (t->cursor > s->nmembers || (t->flags & PP_ONE))
        t->active = 0;
    return o;
}

ptrdiff_t weft__swim_write(weft__swim *s, weft_addr *to, uint8_t *buf,
                           size_t cap, uint64_t now_us)
{
    (void)now_us;
    size_t limit = WEFT__MIN(cap, (size_t)s->cfg.packet_bytes);
    if (limit < s->cfg.packet_bytes)
        return WEFT_ERR_BUFSMALL;
    size_t room = limit - WEFT__SWIM_OVERHEAD;
    uint8_t *pt = s->txbuf;
    while (s->out_len) {
        outmsg *o = &s->outq[s->out_head];
        s->out_head = (s->out_head + 1) % s->cfg.out_queue_max;
        s->out_len--;
        memcpy(pt, s->self.id.key, 32);
        size_t n = 32;
        memcpy(pt + n, o->msg, o->len);
        n += o->len;
        if (o->claim && !s->left) {
            bcast self = {.id = s->self.id, .kind = MSG_ALIVE};
            ptrdiff_t c = encode_bcast(s, &self, pt + n, room - n);
            n += c > 0 ? (size_t)c : 0;
        }
        size_t pb = o->piggyback ? fill_piggyback(s, pt + n, room - n) : 0;
        n += pb;
        if (n == 32)
            continue; /* a gossip packet with nothing left to say */
        if (o->len)
            s->st.bytes_piggyback += pb;
        else
            s->st.bytes_gossip += n + WEFT__SWIM_OVERHEAD;
        *to = o->to;
        return seal(s, buf, pt, n);
    }
    for (uint32_t k = 0; k < PP_MAX; k++) {
        pptask *t = &s->pp[(s->pp_rr + k) % PP_MAX];
        if (!t->active)
            continue;
        size_t n = pp_chunk(s, t, pt, room);
        if (!n)
            continue;
        s->pp_rr = (s->pp_rr + k + 1) % PP_MAX;
        s->st.bytes_pushpull += n + WEFT__SWIM_OVERHEAD;
        *to = t->to;
        return seal(s, buf, pt, n);
    }
    return 0;
}

static void pp_start(weft__swim *s, const weft_addr *to, int flags)
{
    pptask *freet = NULL;
    for (uint32_t k = 0; k < PP_MAX; k++) {
        if (s->pp[k].active && weft_addr_eq(&s->pp[k].to, to)) {
            if (!(flags & PP_ONE)) { /* restart: the peer asked again */
                s->pp[k].cursor = 0;
                s->pp[k].flags = (uint16_t)flags;
            }
            return;
        }
        if (!s->pp[k].active && !freet)
            freet = &s->pp[k];
    }
    if (!freet) {
        s->st.out_drops++;
        return;
    }
    freet->to = *to;
    freet->cursor = 0;
    freet->flags = (uint16_t)flags;
    freet->active = 1;
    if (flags & PP_REQUEST)
        s->st.pushpulls++;
}

/* ---------------------------------------------------------------------- */
/* signing our own claim                                                  */

/* Re-signs our alive claim at incarnation inc and queues it for gossip. */
static void self_resign(weft__swim *s, uint32_t inc)
{
    uint8_t msg[16 + CLAIM_MAX];
    s->self.inc = s->self.claim_inc = inc;
    memcpy(msg, ALIVE_CTX, 16);
    size_t n = encode_claim(&s->self, msg + 16) - 64;
    s->cr->sign(s->cr->ctx, s->self.sig, msg, 16 + n, s->secret);
    if (!s->left)
        bcast_queue(s, MSG_ALIVE, &s->self.id, NULL);
}

/* Outbids a suspicion/death of us (SWIM §4.2 "refutation"). */
static void refute(weft__swim *s, uint32_t inc)
{
    if (s->left)
        return;
    self_resign(s, inc + 1);
    s->st.refutations++;
    /* Lifeguard §3.1: being suspected hints that we are the slow one */
    if (s->awareness < s->cfg.awareness_max)
        s->awareness++;
}

/* ---------------------------------------------------------------------- */
/* applying updates                                                       */

typedef struct claim {
    weft_node_id id;
    uint32_t inc;
    weft_addr addr;
    const uint8_t *meta;
    size_t meta_len;
    const uint8_t *sig;
    const uint8_t *body;     /* start of the encoded claim */
    size_t body_len;         /* including the signature */
} claim;

/* Validates an encoded tag list. */
static int tags_ok(const uint8_t *t, size_t len)
{
    size_t off = 0;
    const char *k, *v;
    size_t kl, vl;
    while (off < len)
        if (!weft__swim_tag_next(t, len, &off, &k, &kl, &v, &vl))
            return 0;
    return 1;
}

int weft__swim_tag_next(const uint8_t *tags, size_t len, size_t *off,
                        const char **key, size_t *klen, const char **val,
                        size_t *vlen)
{
    size_t o = *off;
    if (o >= len || tags[o] == 0 || o + 1 + tags[o] >= len)
        return 0;
    size_t kl = tags[o];
    size_t vl = tags[o + 1 + kl];
    if (o + 2 + kl + vl > len)
        return 0;
    *key = (const char *)tags + o + 1;
    *klen = kl;
    *val = (const char *)tags + o + 2 + kl;
    *vlen = vl;
    *off = o + 2 + kl + vl;
    return 1;
}

/* Parses a claim at p (len bytes available).  Returns its length or 0. */
static size_t parse_claim(const uint8_t *p, size_t len, claim *c)
{
    if (len < ALIVE_FIXED + META_EMPTY)
        return 0;
    memcpy(c->id.key, p, 32);
    c->inc = weft__get_u32(p + 32);
    if (get_addr(p + 36, &c->addr) < 0)
        return 0;
    size_t o = 36 + ADDR_WIRE, ms = o;
    size_t nl = p[o];
    if (nl > WEFT__SWIM_NAME_MAX || o + 1 + nl + 1 > len)
        return 0;
    o += 1 + nl;
    size_t sl = p[o];
    if (sl > WEFT__SWIM_STATUS_MAX || o + 1 + sl + 2 > len)
        return 0;
    o += 1 + sl;
    size_t tl = weft__get_u16(p + o);
    if (tl > WEFT__SWIM_TAGS_MAX || o + 2 + tl + 64 > len)
        return 0;
    if (!tags_ok(p + o + 2, tl))
        return 0;
    o += 2 + tl;
    c->meta = p + ms;
    c->meta_len = o - ms;
    c->sig = p + o;
    c->body = p;
    c->body_len = o + 64;
    return o + 64;
}

static int verify_claim(weft__swim *s, const claim *c)
{
    uint8_t msg[16 + CLAIM_MAX];
    memcpy(msg, ALIVE_CTX, 16);
    memcpy(msg + 16, c->body, c->body_len - 64);
    s->st.verifies++;
    return s->cr->verify(s->cr->ctx, c->sig, msg, 16 + c->body_len - 64,
                         c->id.key);
}

static int verify_leave(weft__swim *s, const weft_node_id *id, uint32_t inc,
                        const uint8_t *sig)
{
    uint8_t msg[16 + 36];
    memcpy(msg, LEAVE_CTX, 16);
    memcpy(msg + 16, id->key, 32);
    weft__put_u32(msg + 48, inc);
    s->st.verifies++;
    return s->cr->verify(s->cr->ctx, sig, msg, sizeof msg, id->key);
}

static int refused_before(weft__swim *s, const weft_node_id *id)
{
    uint64_t k = short_id(id);
    for (uint32_t i = 0; i < REFUSED_MEMO; i++)
        if (s->refused[i] == k)
            return 1;
    s->refused[s->refused_pos++ % REFUSED_MEMO] = k;
    return 0;
}

static int meta_is_empty(const uint8_t *meta, size_t len)
{
    return len == META_EMPTY && !meta[0] && !meta[1] && !meta[2] && !meta[3];
}

/* Stores claim c into m (address, metadata, signature).  0 or NOMEM. */
static int store_claim(weft__swim *s, member *m, const claim *c)
{
    if (meta_is_empty(c->meta, c->meta_len)) {
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
    memcpy(m->sig, c->sig, 64);
    return 0;
}

/*
 * An alive claim (SWIM §4.2 "alive", signed by the member itself).  Only a
 * claim newer than everything we know about the member changes anything;
 * then it is verified, stored and re-gossiped.  Returns 0 or a negative
 * drop reason.
 */
static int apply_alive(weft__swim *s, const claim *c, uint64_t now_us)
{
    if (id_eq(&c->id, &s->self.id)) {
        /* our own claim from a previous life: outbid it */
        if (c->inc > s->self.inc && !s->left &&
            verify_claim(s, c) == 0)
            refute(s, c->inc);
        return 0;
    }
    member *m = find(s, &c->id);
    if (m && c->inc <= m->inc) {
        s->st.stale++;
        return 0;
    }
    if (!m && 1 + s->nmembers >= s->cfg.max_members) {
        s->st.refused_full++;
        if (!refused_before(s, &c->id)) {
            member tmp;
            memset(&tmp, 0, sizeof tmp);
            tmp.id = c->id;
            tmp.addr = c->addr;
            tmp.inc = c->inc;
            emit(s, WEFT__SWIM_EV_REFUSED, &tmp);
        }
        return WEFT_ERR_LIMIT;
    }
    if (verify_claim(s, c) != 0) {
        s->st.drop_bad_signature++;
        return WEFT_ERR_BAD_SIGNATURE;
    }
    int ev;
    if (!m) {
        m = member_add(s, &c->id);
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
    int changed = ev != WEFT__SWIM_EV_UPDATED || !weft_addr_eq(&m->addr, &c->addr) ||
                  (m->meta ? m->meta_len : META_EMPTY) != c->meta_len ||
                  (m->meta ? memcmp(m->meta, c->meta, c->meta_len) != 0
                           : !meta_is_empty(c->meta, c->meta_len));
    if (store_claim(s, m, c) < 0) {
        if (ev == WEFT__SWIM_EV_JOINED)
            member_remove(s, m);
        return WEFT_ERR_NOMEM;
    }
    if (m->state != WEFT__SWIM_ALIVE || ev == WEFT__SWIM_EV_JOINED)
        m->since_us = now_us;
    m->state = WEFT__SWIM_ALIVE;
    m->nconfirm = 0;
    if (changed)
        emit(s, ev, m);
    bcast_queue_u(s, MSG_ALIVE, &m->id, NULL,
                  ev == WEFT__SWIM_EV_ALIVE || ev == WEFT__SWIM_EV_REJOINED);
    return 0;
}

/* Lifeguard §3.2: suspicion timeout, from max down to min as independent
 * confirmations c arrive, log-scaled: max - (max - min) * log(c+1)/log(K+1). */
static uint64_t suspicion_timeout_us(const weft__swim *s, uint32_t c)
{
    uint32_t n = live_count(s);
    double scale = n > 1 ? log10((double)n) : 1.0;
    if (scale < 1.0)
        scale = 1.0;
    double min = s->cfg.suspicion_mult * scale * s->cfg.probe_interval_ms * 1000.0;
    double max = min * s->cfg.suspicion_max_mult;
    uint32_t k = s->cfg.suspicion_mult > 2 ? s->cfg.suspicion_mult - 2 : 0;
    if (k > CONFIRM_MAX)
        k = CONFIRM_MAX;
    if (n < k + 2)
        k = n > 2 ? n - 2 : 0;
    if (k == 0)
        return (uint64_t)min;
    double t = max - (max - min) * log((double)c + 1.0) / log((double)k + 1.0);
    return (uint64_t)(t < min ? min : t);
}

static void arm_sweep(weft__swim *s, uint64_t t)
{
    if (t < s->next_sweep_us)
        s->next_sweep_us = t;
}

/*
 * The part SUSPECT and DEAD share: an accusation against ourselves is
 * refuted (SWIM §4.2), one about an unknown, already dead or gone member,
 * or older than what we hold, is stale.  Returns the member to act on, or
 * NULL when there is nothing more to do.
 */
static member *accused(weft__swim *s, const weft_node_id *id, uint32_t inc)
{
    if (id_eq(id, &s->self.id)) {
        if (inc >= s->self.inc)
            refute(s, WEFT__MAX(inc, s->self.inc));
        else
            s->st.stale++;
        return NULL;
    }
    member *m = find(s, id);
    if (!m)
        return NULL;
    if (inc < m->inc || m->state == WEFT__SWIM_DEAD || m->state == WEFT__SWIM_LEFT) {
        s->st.stale++;
        return NULL;
    }
    return m;
}

/* A suspicion of member id at incarnation inc, asserted by `from`. */
static int apply_suspect(weft__swim *s, const weft_node_id *id, uint32_t inc,
                         const weft_node_id *from, uint64_t now_us)
{
    member *m = accused(s, id, inc);
    if (!m)
        return 0;
    if (m->state == WEFT__SWIM_SUSPECT && inc == m->inc) {
        /* an independent confirmation shortens the timeout (Lifeguard §3.2) */
        uint64_t k = short_id(from);
        uint32_t limit = WEFT__MIN(s->cfg.suspicion_mult > 2 ? s->cfg.suspicion_mult - 2 : 0,
                                   CONFIRM_MAX);
        if (m->nconfirm >= limit)
            return 0;
        for (uint32_t i = 0; i < m->nconfirm; i++)
            if (m->confirmers[i] == k)
                return 0;
        if (m->confirmers[CONFIRM_MAX - 1] == k) /* the originator */
            return 0;
        m->confirmers[m->nconfirm++] = k;
        uint64_t d = m->since_us + suspicion_timeout_us(s, m->nconfirm);
        m->deadline_us = d < now_us ? now_us : d;
        arm_sweep(s, m->deadline_us);
        bcast_queue(s, MSG_SUSPECT, id, from);
        return 0;
    }
    if (m->state == WEFT__SWIM_SUSPECT && inc > m->inc) {
        m->inc = inc; /* keep the timer: same suspicion, newer number */
        return 0;
    }
    m->state = WEFT__SWIM_SUSPECT;
    m->inc = inc;
    m->since_us = now_us;
    m->nconfirm = 0;
    m->last_chance = 0;
    memset(m->confirmers, 0, sizeof m->confirmers);
    m->confirmers[CONFIRM_MAX - 1] = short_id(from); /* originator slot */
    m->deadline_us = now_us + suspicion_timeout_us(s, 0);
    arm_sweep(s, m->deadline_us);
    emit(s, WEFT__SWIM_EV_SUSPECT, m);
    bcast_queue(s, MSG_SUSPECT, id, from);
    /* Lifeguard §3.3 buddy system, eagerly: the member itself must hear of
     * the suspicion to refute it before the timeout.  The originator tells
     * it at once; others who learn of it do so with probability 8/N, so a
     * few direct notices are sent whatever the size of the mesh. */
    if (id_eq(from, &s->self.id) || rnd_below(s, live_count(s)) < 8)
        send_suspect_direct(s, m);
    return 0;
}

static void mark_dead(weft__swim *s, member *m, uint32_t inc,
                      const weft_node_id *from, uint64_t now_us)
{
    m->state = WEFT__SWIM_DEAD;
    m->inc = inc;
    m->since_us = now_us;
    m->deadline_us = now_us + ms_us(s->cfg.dead_retain_ms);
    arm_sweep(s, m->deadline_us);
    emit(s, WEFT__SWIM_EV_FAILED, m);
    bcast_queue(s, MSG_DEAD, &m->id, from);
}

static int apply_dead(weft__swim *s, const weft_node_id *id, uint32_t inc,
                      const weft_node_id *from, uint64_t now_us)
{
    member *m = accused(s, id, inc);
    if (!m)
        return 0;
    mark_dead(s, m, inc, from, now_us);
    return 0;
}

static int apply_leave(weft__swim *s, const weft_node_id *id, uint32_t inc,
                       const uint8_t *sig, uint64_t now_us)
{
    if (id_eq(id, &s->self.id)) {
        /* a signed leave of ours from a previous life */
        if (!s->left && inc >= s->self.inc && verify_leave(s, id, inc, sig) == 0)
            refute(s, inc);
        return 0;
    }
    member *m = find(s, id);
    if (!m)
        return 0;
    if (inc < m->inc || m->state == WEFT__SWIM_LEFT) {
        s->st.stale++;
        return 0;
    }
    if (verify_leave(s, id, inc, sig) != 0) {
        s->st.drop_bad_signature++;
        return WEFT_ERR_BAD_SIGNATURE;
    }
    m->state = WEFT__SWIM_LEFT;
    m->inc = inc;
    memcpy(m->sig, sig, 64);
    m->since_us = now_us;
    m->deadline_us = now_us + ms_us(s->cfg.dead_retain_ms);
    arm_sweep(s, m->deadline_us);
    emit(s, WEFT__SWIM_EV_LEFT, m);
    bcast_queue(s, MSG_LEAVE, id, NULL);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* receiving                                                              */

static relay *relay_find(weft__swim *s, uint32_t seq)
{
    for (uint32_t i = 0; i < s->cfg.relay_max; i++)
        if (s->relays[i].used && s->relays[i].seq == seq)
            return &s->relays[i];
    return NULL;
}

static void on_ack(weft__swim *s, const weft_addr *from, uint32_t seq,
                   uint64_t now_us)
{
    if (s->probe.active && !s->probe.acked && seq == s->probe.seq) {
        s->probe.acked = 1;
        member *m = find(s, &s->probe.target);
        if (m && weft_addr_eq(from, &s->probe.target_addr)) {
            uint64_t rtt = now_us - s->probe.sent_us;
            m->rtt_us = rtt > UINT32_MAX ? UINT32_MAX : (uint32_t)rtt;
        }
        if (m)
            m->last_contact_us = now_us;
        /* Lifeguard §3.1: a successful probe lowers the local health score */
        if (s->awareness)
            s->awareness--;
        return;
    }
    relay *r = relay_find(s, seq);
    if (r) {
        send_seq_msg(s, &r->requester, MSG_ACK, r->orig_seq);
        r->used = 0;
        return;
    }
    s->st.stale++;
}

static void on_pushpull(weft__swim *s, const weft_addr *from,
                        const weft_node_id *sender, const uint8_t *p,
                        size_t len, uint64_t now_us, int *err)
{
    if (len < 1) {
        *err = WEFT_ERR_PROTO;
        return;
    }
    uint8_t flags = p[0];
    size_t o = 1;
    while (o < len) {
        uint8_t state = p[o];
        if (len - o < 5 || state > WEFT__SWIM_LEFT) {
            *err = WEFT_ERR_PROTO;
            return;
        }
        uint32_t inc = weft__get_u32(p + o + 1);
        o += 5;
        if (state == WEFT__SWIM_LEFT) {
            if (len - o < 96) {
                *err = WEFT_ERR_PROTO;
                return;
            }
            weft_node_id id;
            memcpy(id.key, p + o, 32);
            int r = apply_leave(s, &id, inc, p + o + 32, now_us);
            if (r < 0)
                *err = r;
            o += 96;
            continue;
        }
        claim c;
        size_t n = parse_claim(p + o, len - o, &c);
        if (!n) {
            *err = WEFT_ERR_PROTO;
            return;
        }
        o += n;
        int is_self = id_eq(&c.id, &s->self.id);
        if (state == WEFT__SWIM_ALIVE || is_self || find(s, &c.id)) {
            int r = apply_alive(s, &c, now_us);
            if (r < 0 && r != WEFT_ERR_LIMIT)
                *err = r;
        }
        /* A remote suspect/dead state matters here only when it is about
         * us: we refute it.  About others it is ignored: after a partition
         * heals, full states carry stale deaths of live members by the
         * hundred, and acting on them causes false positives faster than
         * refutations can spread.  Real failures are still found by our own
         * probes and by gossip. */
        if (state != WEFT__SWIM_ALIVE && is_self)
            apply_suspect(s, &c.id, inc, sender, now_us);
        (void)sender;
    }
    if (flags & PP_REQUEST)
        pp_start(s, from, 0);
    else if (flags & PP_CLAIM)
        out_push(s, from, NULL, 0, 3); /* our claim (+ piggyback), no pp slot */
}

/* Parses and applies the decrypted payload. */
static int handle_plain(weft__swim *s, const weft_addr *from, const uint8_t *pt,
                        size_t len, uint64_t now_us)
{
    if (len < 32) {
        s->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    weft_node_id sender;
    memcpy(sender.key, pt, 32);
    if (id_eq(&sender, &s->self.id))
        return 0; /* our own packet reflected back */
    member *sm = find(s, &sender);
    if (sm)
        sm->last_contact_us = now_us;
    if (sm && sm->state == WEFT__SWIM_DEAD && !s->left) {
        /* a member we hold dead talks to us (a healed partition, a restart
         * that does not know its old incarnation): tell it, so it refutes,
         * and ask for its claim, which will carry the refutation */
        uint8_t b[MSG_HDR + 68 + MSG_HDR + 1];
        put_hdr(b, MSG_DEAD, 68);
        memcpy(b + 3, sm->id.key, 32);
        weft__put_u32(b + 35, sm->inc);
        memcpy(b + 39, s->self.id.key, 32);
        put_hdr(b + 71, MSG_PUSHPULL, 1);
        b[74] = PP_CLAIM;
        out_push(s, from, b, sizeof b, 0);
    } else if (!sm && !s->left)
        /* a member we do not know (its join gossip or our push-pull chunk
         * was lost): ask for its signed claim, one packet each way */
        pp_start(s, from, PP_CLAIM | PP_ONE);
    for (uint32_t i = 0; i < s->nseeds; i++)
        if (!s->seeds[i].answered && weft_addr_eq(&s->seeds[i].addr, from)) {
            s->seeds[i].answered = 1;
            /* chunks of the seed's state may be lost: exchange again with
             * random members soon, twice, to fill the holes */
            s->join_extra = 2;
            s->next_pp_us = now_us + ms_us(s->cfg.join_retry_ms_min) * 4;
        }
    int err = 0;
    size_t o = 32;
    while (o < len) {
        if (len - o < MSG_HDR) {
            err = WEFT_ERR_PROTO;
            break;
        }
        int type = pt[o];
        size_t ml = weft__get_u16(pt + o + 1);
        o += MSG_HDR;
        if (ml > len - o) {
            err = WEFT_ERR_PROTO;
            break;
        }
        const uint8_t *b = pt + o;
        o += ml;
        weft_node_id id, fid;
        switch (type) {
        case MSG_PING:
            if (ml < 36) {
                err = WEFT_ERR_PROTO;
                break;
            }
            memcpy(id.key, b + 4, 32);
            if (!id_eq(&id, &s->self.id)) {
                s->st.stale++; /* meant for whoever had this address before */
                break;
            }
            send_seq_msg(s, from, MSG_ACK, weft__get_u32(b));
            break;
        case MSG_PING_REQ: {
            weft_addr ta;
            if (ml < 59 || get_addr(b + 36, &ta) < 0) {
                err = WEFT_ERR_PROTO;
                break;
            }
            memcpy(id.key, b + 4, 32);
            relay *r = NULL;
            for (uint32_t i = 0; i < s->cfg.relay_max && !r; i++)
                if (!s->relays[i].used)
                    r = &s->relays[i];
            if (!r) {
                s->st.out_drops++;
                break;
            }
            r->used = 1;
            r->seq = ++s->seq;
            r->orig_seq = weft__get_u32(b);
            r->requester = *from;
            r->deadline_us = now_us + ms_us(s->cfg.probe_timeout_ms) * (s->awareness + 1);
            send_ping(s, &ta, &id, r->seq, NULL);
            break;
        }
        case MSG_ACK:
            if (ml < 4) {
                err = WEFT_ERR_PROTO;
                break;
            }
            on_ack(s, from, weft__get_u32(b), now_us);
            break;
        case MSG_NACK:
            if (ml < 4) {
                err = WEFT_ERR_PROTO;
                break;
            }
            if (s->probe.active && weft__get_u32(b) == s->probe.seq) {
                s->probe.nacks++;
                s->st.nacks_in++;
            }
            break;
        case MSG_ALIVE: {
            claim c;
            if (!ml || parse_claim(b, ml, &c) != ml) {
                err = WEFT_ERR_PROTO;
                break;
            }
            int r = apply_alive(s, &c, now_us);
            if (r < 0 && r != WEFT_ERR_LIMIT)
                err = r;
            break;
        }
        case MSG_SUSPECT:
        case MSG_DEAD:
            if (ml < 68) {
                err = WEFT_ERR_PROTO;
                break;
            }
            memcpy(id.key, b, 32);
            memcpy(fid.key, b + 36, 32);
            if (type == MSG_SUSPECT)
                apply_suspect(s, &id, weft__get_u32(b + 32), &fid, now_us);
            else
                apply_dead(s, &id, weft__get_u32(b + 32), &fid, now_us);
            break;
        case MSG_LEAVE: {
            if (ml < 100) {
                err = WEFT_ERR_PROTO;
                break;
            }
            memcpy(id.key, b, 32);
            int r = apply_leave(s, &id, weft__get_u32(b + 32), b + 36, now_us);
            if (r < 0)
                err = r;
            break;
        }
        case MSG_PUSHPULL:
            on_pushpull(s, from, &sender, b, ml, now_us, &err);
            break;
        default:
            break; /* unknown types are skipped: later versions may add some */
        }
        if (err == WEFT_ERR_PROTO)
            break;
    }
    if (err == WEFT_ERR_PROTO)
        s->st.drop_malformed++;
    return err;
}

int weft__swim_recv_plain(weft__swim *s, const weft_addr *from,
                          const uint8_t *pt, size_t len, uint64_t now_us)
{
    return handle_plain(s, from, pt, len, now_us);
}

int weft__swim_recv(weft__swim *s, const weft_addr *from, const uint8_t *pkt,
                    size_t len, uint64_t now_us)
{
    s->st.pkts_in++;
    s->st.bytes_in += len;
    if (len < WEFT__SWIM_OVERHEAD + 32 || pkt[0] != WEFT__SWIM_PKT_TYPE) {
        s->st.drop_malformed++;
        return WEFT_ERR_PROTO;
    }
    if (pkt[1] != WEFT__SWIM_VERSION) {
        s->st.drop_version++;
        return WEFT_ERR_VERSION;
    }
    size_t ptlen = len - WEFT__SWIM_OVERHEAD;
    if (ptlen > s->rxcap) {
        uint8_t *nb = weft__realloc(s->env->alloc, s->rxbuf, ptlen);
        if (!nb)
            return WEFT_ERR_NOMEM;
        s->rxbuf = nb;
        s->rxcap = ptlen;
    }
    uint8_t key[32];
    weft_iov iov = {pkt + 2, 16};
    s->cr->mac(s->cr->ctx, key, 32, s->mkey, 32, &iov, 1);
    int r = s->cr->aead_open(s->cr->ctx, s->rxbuf, key, 0, pkt,
                             WEFT__SWIM_HDR_BYTES, pkt + WEFT__SWIM_HDR_BYTES,
                             len - WEFT__SWIM_HDR_BYTES);
    s->cr->wipe(s->cr->ctx, key, sizeof key);
    if (r != 0) {
        s->st.drop_bad_mac++;
        return WEFT_ERR_DECRYPT;
    }
    return handle_plain(s, from, s->rxbuf, ptlen, now_us);
}

/* ---------------------------------------------------------------------- */
/* timers                                                                 */

static uint64_t scaled_us(const weft__swim *s, uint32_t ms)
{
    /* Lifeguard §3.1: intervals and timeouts stretch with local health */
    return ms_us(ms) * (s->awareness + 1);
}

static uint64_t pushpull_interval_us(const weft__swim *s)
{
    /* bigger meshes exchange full state less often: the state grows with N */
    uint32_t n = live_count(s), scale = 1;
    if (n > 32)
        scale = (uint32_t)ceil(log2((double)n) - 5.0) + 1;
    return ms_us(s->cfg.pushpull_interval_ms) * scale;
}

static int gossip_target_ok(const weft__swim *s, const member *m, uint64_t now_us)
{
    if (m->state == WEFT__SWIM_ALIVE || m->state == WEFT__SWIM_SUSPECT)
        return 1;
    return m->state == WEFT__SWIM_DEAD &&
           now_us - m->since_us < ms_us(s->cfg.gossip_to_dead_ms);
}

/* Up to k distinct random members accepted by ok (bounded attempts). */
static uint32_t pick_random(weft__swim *s, member **out, uint32_t k,
                            const weft_node_id *exclude,
                            int (*ok)(const weft__swim *, const member *, uint64_t),
                            uint64_t now_us)
{
    uint32_t got = 0;
    if (!s->nmembers)
        return 0;
    for (uint32_t tries = 0; tries < 3 * k + 8 && got < k; tries++) {
        member *m = &s->members[rnd_below(s, s->nmembers)];
        if (!ok(s, m, now_us) || (exclude && id_eq(&m->id, exclude)))
            continue;
        int dup = 0;
        for (uint32_t i = 0; i < got; i++)
            dup |= out[i] == m;
        if (!dup)
            out[got++] = m;
    }
    return got;
}

static int alive_ok(const weft__swim *s, const member *m, uint64_t now_us)
{
    (void)s;
    (void)now_us;
    return m->state == WEFT__SWIM_ALIVE;
}

static int dead_ok(const weft__swim *s, const member *m, uint64_t now_us)
{
    (void)s;
    (void)now_us;
    return m->state == WEFT__SWIM_DEAD;
}

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
    s->awareness = WEFT__MIN(s->awareness + delta, s->cfg.awareness_max);
    s->st.probe_failures++;
    member *m = find(s, &s->probe.target);
    if (m && (m->state == WEFT__SWIM_ALIVE || m->state == WEFT__SWIM_SUSPECT))
        apply_suspect(s, &m->id, m->inc, &s->self.id, now_us);
}

/* Starts the next probe: the next member in the shuffled order. */
static void probe_start(weft__swim *s, uint64_t now_us)
{
    member *m = NULL;
    for (uint32_t n = 0; n <= s->nmembers && !m; n++) {
        if (s->probe_pos >= s->nmembers) {
            s->probe_pos = 0;
            shuffle(s);
            if (!s->nmembers)
                return;
        }
        member *c = &s->members[s->probe_pos++];
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
    member *pick[16];
    uint32_t k = WEFT__MIN(s->cfg.indirect_checks, 16u);
    uint32_t got = pick_random(s, pick, k, &s->probe.target, alive_ok, 0);
    uint8_t b[MSG_HDR + 59];
    put_hdr(b, MSG_PING_REQ, 59);
    weft__put_u32(b + 3, s->probe.seq);
    memcpy(b + 7, s->probe.target.key, 32);
    put_addr(b + 39, &s->probe.target_addr);
    for (uint32_t i = 0; i < got; i++)
        out_push(s, &pick[i]->addr, b, sizeof b, 1);
    /* and a second direct ping (memberlist adds a TCP ping here): under
     * 10 % loss it cuts failed probes of live members about five-fold, and
     * each failed probe is a suspicion the whole mesh must gossip */
    member *t = find(s, &s->probe.target);
    send_ping(s, &s->probe.target_addr, &s->probe.target, s->probe.seq, t);
    s->probe.indirect_sent = 1;
    s->probe.nacks_expected = got;
    s->st.indirect_probes += got;
}

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
static void last_chance(weft__swim *s, member *m)
{
    uint8_t b[MSG_HDR + 68 + MSG_HDR + 1];
    put_hdr(b, MSG_SUSPECT, 68);
    memcpy(b + 3, m->id.key, 32);
    weft__put_u32(b + 35, m->inc);
    memcpy(b + 39, s->self.id.key, 32);
    put_hdr(b + 71, MSG_PUSHPULL, 1);
    b[74] = PP_CLAIM;
    out_push(s, &m->addr, b, sizeof b, 0);
    out_push(s, &m->addr, b, sizeof b, 0);
    m->last_chance++;
}

/* Suspicion timeouts and the forgetting of dead members. */
static void sweep(weft__swim *s, uint64_t now_us)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = 0; i < s->nmembers;) {
        member *m = &s->members[i];
        if (m->state == WEFT__SWIM_SUSPECT && m->deadline_us <= now_us) {
            /* Lifeguard's local health scales the rounds too: a node
             * that sees loss around it asks longer before it accuses. */
            if (m->last_chance < LAST_CHANCES + s->awareness) {
                last_chance(s, m);
                m->deadline_us = now_us + scaled_us(s, s->cfg.probe_timeout_ms);
            } else {
                mark_dead(s, m, m->inc, &s->self.id, now_us);
            }
        }
        if ((m->state == WEFT__SWIM_DEAD || m->state == WEFT__SWIM_LEFT) &&
            m->deadline_us <= now_us) {
            member_remove(s, m);
            continue; /* slot i now holds another member */
        }
        if (m->state != WEFT__SWIM_ALIVE && m->deadline_us < next)
            next = m->deadline_us;
        i++;
    }
    s->next_sweep_us = next;
}

static void reconnect(weft__swim *s, uint64_t now_us)
{
    /* serf-style reconnect: after a partition each side has declared the
     * other dead and would never talk to it again.  Alternate between a
     * random dead member and a seed not currently seen alive. */
    member *pick[1];
    /* One packet (our own claim first, with PP_REQUEST): if the other side
     * is reachable again its full state comes back; if not, little is lost. */
    if (rnd(s) & 1 && pick_random(s, pick, 1, NULL, dead_ok, now_us)) {
        pp_start(s, &pick[0]->addr, PP_REQUEST | PP_ONE);
        return;
    }
    if (!s->nseeds)
        return;
    seed *sd = &s->seeds[rnd_below(s, s->nseeds)];
    for (uint32_t i = 0; i < s->nmembers; i++)
        if (s->members[i].state == WEFT__SWIM_ALIVE &&
            weft_addr_eq(&s->members[i].addr, &sd->addr))
            return;
    if (!weft_addr_eq(&sd->addr, &s->self.addr))
        pp_start(s, &sd->addr, PP_REQUEST | PP_ONE);
}

int weft__swim_handle_expiry(weft__swim *s, uint64_t now_us)
{
    if (now_us >= s->next_sweep_us)
        sweep(s, now_us);
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
        relay *r = &s->relays[i];
        if (r->used && now_us >= r->deadline_us) {
            send_seq_msg(s, &r->requester, MSG_NACK, r->orig_seq);
            r->used = 0;
        }
    }
    if (now_us >= s->next_gossip_us) {
        s->next_gossip_us = now_us + ms_us(s->cfg.gossip_interval_ms);
        if (s->nbcast) {
            member *pick[16];
            uint32_t got = pick_random(s, pick, WEFT__MIN(s->cfg.gossip_fanout, 16u),
                                       NULL, gossip_target_ok, now_us);
            for (uint32_t i = 0; i < got; i++)
                out_push(s, &pick[i]->addr, NULL, 0, 1);
        }
    }
    if (s->cfg.pushpull_interval_ms && now_us >= s->next_pp_us) {
        if (s->join_extra) {
            s->join_extra--;
            s->next_pp_us = now_us + ms_us(s->cfg.join_retry_ms_min) * 8;
        } else {
            s->next_pp_us = now_us + pushpull_interval_us(s);
        }
        member *pick[1];
        if (!s->left && pick_random(s, pick, 1, NULL, alive_ok, now_us))
            pp_start(s, &pick[0]->addr, PP_REQUEST);
    }
    if (s->cfg.reconnect_interval_ms && now_us >= s->next_reconnect_us) {
        s->next_reconnect_us = now_us + ms_us(s->cfg.reconnect_interval_ms);
        if (!s->left)
            reconnect(s, now_us);
    }
    for (uint32_t i = 0; i < s->nseeds; i++) {
        seed *sd = &s->seeds[i];
        if (!sd->answered && !s->left && now_us >= sd->next_try_us) {
            pp_start(s, &sd->addr, PP_REQUEST | PP_JOIN);
            sd->next_try_us = now_us + ms_us(sd->backoff_ms);
            sd->backoff_ms = WEFT__MIN(sd->backoff_ms * 2, s->cfg.join_retry_ms_max);
        }
    }
    return 0;
}

uint64_t weft__swim_expiry(const weft__swim *s)
{
    uint64_t t = s->next_probe_us;
    t = WEFT__MIN(t, s->next_gossip_us);
    t = WEFT__MIN(t, s->next_sweep_us);
    if (s->cfg.pushpull_interval_ms)
        t = WEFT__MIN(t, s->next_pp_us);
    if (s->cfg.reconnect_interval_ms)
        t = WEFT__MIN(t, s->next_reconnect_us);
    if (s->probe.active) {
        if (!s->probe.acked && !s->probe.indirect_sent)
            t = WEFT__MIN(t, s->probe.timeout_us);
        t = WEFT__MIN(t, s->probe.end_us);
    }
    for (uint32_t i = 0; i < s->cfg.relay_max; i++)
        if (s->relays[i].used)
            t = WEFT__MIN(t, s->relays[i].deadline_us);
    for (uint32_t i = 0; i < s->nseeds; i++)
        if (!s->seeds[i].answered && !s->left)
            t = WEFT__MIN(t, s->seeds[i].next_try_us);
    return t;
}

/* ---------------------------------------------------------------------- */
/* lifecycle and API                                                      */

int weft__swim_new(weft__swim **out, const weft__swim_config *cfg,
                   const weft_env *env, const uint8_t identity_secret[64],
                   const uint8_t network_key[32], const weft_addr *self_addr,
                   uint64_t now_us)
{
    if (!out || !cfg || !env || !env->crypto || !env->rand.fill ||
        !identity_secret || !network_key)
        return WEFT_ERR_INVAL;
    if (!config_ok(cfg))
        return WEFT_ERR_CONFIG;
    weft__swim *s = weft__calloc(env->alloc, sizeof *s);
    if (!s)
        return WEFT_ERR_NOMEM;
    s->cfg = *cfg;
    s->env = env;
    s->cr = env->crypto;
    s->bcast = weft__calloc(env->alloc, cfg->broadcast_max * sizeof *s->bcast);
    s->outq = weft__calloc(env->alloc, cfg->out_queue_max * sizeof *s->outq);
    s->relays = weft__calloc(env->alloc, cfg->relay_max * sizeof *s->relays);
    s->events = weft__calloc(env->alloc, cfg->event_max * sizeof *s->events);
    s->txbuf = weft__alloc(env->alloc, cfg->packet_bytes);
    if (!s->bcast || !s->outq || !s->relays || !s->events || !s->txbuf) {
        weft__swim_del(s);
        return WEFT_ERR_NOMEM;
    }
    memcpy(s->secret, identity_secret, 64);
    memcpy(s->self.id.key, identity_secret + 32, 32);
    /* docs §2: membership key = BLAKE2b-256(key = network key, "weft-swim-v1") */
    weft_iov iov = {"weft-swim-v1", 12};
    s->cr->mac(s->cr->ctx, s->mkey, 32, network_key, 32, &iov, 1);
    uint8_t seedb[24];
    env->rand.fill(env->rand.ctx, seedb, sizeof seedb);
    s->rng[0] = weft__get_u64(seedb) | 1;
    s->rng[1] = weft__get_u64(seedb + 8);
    s->hash_salt = weft__get_u64(seedb + 16);
    if (self_addr)
        s->self.addr = *self_addr;
    s->self.state = WEFT__SWIM_ALIVE;
    s->self.since_us = now_us;
    self_resign(s, cfg->incarnation_start);
    s->next_sweep_us = UINT64_MAX;
    /* spread the first timers so that nodes started together do not tick
     * in lockstep */
    s->next_probe_us = now_us + rnd_below(s, cfg->probe_interval_ms * 1000) + 1;
    s->next_gossip_us = now_us + rnd_below(s, cfg->gossip_interval_ms * 1000) + 1;
    s->next_pp_us = now_us + ms_us(cfg->pushpull_interval_ms) / 2 +
                    rnd_below(s, cfg->pushpull_interval_ms * 1000 + 1);
    s->next_reconnect_us = now_us + ms_us(cfg->reconnect_interval_ms) +
                           rnd_below(s, cfg->reconnect_interval_ms * 1000 + 1);
    *out = s;
    return 0;
}

void weft__swim_del(weft__swim *s)
{
    if (!s)
        return;
    const weft_allocator *a = s->env->alloc;
    for (uint32_t i = 0; i < s->nmembers; i++)
        weft__free(a, s->members[i].meta);
    weft__free(a, s->self.meta);
    weft__free(a, s->members);
    weft__free(a, s->slots);
    weft__free(a, s->bcast);
    weft__free(a, s->outq);
    weft__free(a, s->relays);
    weft__free(a, s->events);
    weft__free(a, s->rxbuf);
    weft__free(a, s->txbuf);
    s->cr->wipe(s->cr->ctx, s->secret, sizeof s->secret);
    s->cr->wipe(s->cr->ctx, s->mkey, sizeof s->mkey);
    weft__free(a, s);
}

const weft_node_id *weft__swim_id(const weft__swim *s)
{
    return &s->self.id;
}

int weft__swim_set_addr(weft__swim *s, const weft_addr *addr, uint64_t now_us)
{
    (void)now_us;
    if (!addr || (addr->family != 4 && addr->family != 6))
        return WEFT_ERR_INVAL;
    if (weft_addr_eq(addr, &s->self.addr))
        return 0;
    int first = s->self.addr.family == 0;
    s->self.addr = *addr;
    self_resign(s, first ? s->self.inc : s->self.inc + 1);
    return 0;
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
    seed *sd = NULL;
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

int weft__swim_leave(weft__swim *s, uint64_t now_us)
{
    (void)now_us;
    if (s->left)
        return WEFT_ERR_STATE;
    uint8_t msg[16 + 36];
    uint32_t inc = s->self.inc + 1;
    memcpy(msg, LEAVE_CTX, 16);
    memcpy(msg + 16, s->self.id.key, 32);
    weft__put_u32(msg + 48, inc);
    s->cr->sign(s->cr->ctx, s->leave_sig, msg, sizeof msg, s->secret);
    s->self.inc = inc;
    s->self.state = WEFT__SWIM_LEFT;
    s->left = 1;
    bcast_queue(s, MSG_LEAVE, &s->self.id, NULL);
    /* tell a few members right away rather than waiting for a gossip tick */
    member *pick[16];
    uint32_t got = pick_random(s, pick, WEFT__MIN(s->cfg.gossip_fanout, 16u),
                               NULL, alive_ok, now_us);
    for (uint32_t i = 0; i < got; i++)
        out_push(s, &pick[i]->addr, NULL, 0, 1);
    return 0;
}

int weft__swim_set_meta(weft__swim *s, const char *name, const char *status,
                        const weft__swim_tag *tags, size_t ntags,
                        uint64_t now_us)
{
    (void)now_us;
    if (s->left)
        return WEFT_ERR_STATE;
    size_t nl = name ? strlen(name) : 0, sl = status ? strlen(status) : 0;
    if (nl > WEFT__SWIM_NAME_MAX || sl > WEFT__SWIM_STATUS_MAX)
        return WEFT_ERR_TOO_BIG;
    size_t tl = 0;
    for (size_t i = 0; i < ntags; i++) {
        if (!tags[i].key || !*tags[i].key)
            return WEFT_ERR_INVAL;
        size_t kl = strlen(tags[i].key), vl = tags[i].value ? strlen(tags[i].value) : 0;
        if (kl > 255 || vl > 255)
            return WEFT_ERR_TOO_BIG;
        tl += 2 + kl + vl;
        if (tl > WEFT__SWIM_TAGS_MAX)
            return WEFT_ERR_TOO_BIG;
    }
    size_t len = 1 + nl + 1 + sl + 2 + tl;
    uint8_t *meta = NULL;
    if (len > META_EMPTY) {
        meta = weft__alloc(s->env->alloc, len);
        if (!meta)
            return WEFT_ERR_NOMEM;
        size_t o = 0;
        meta[o++] = (uint8_t)nl;
        if (nl)
            memcpy(meta + o, name, nl);
        o += nl;
        meta[o++] = (uint8_t)sl;
        if (sl)
            memcpy(meta + o, status, sl);
        o += sl;
        weft__put_u16(meta + o, (uint16_t)tl);
        o += 2;
        for (size_t i = 0; i < ntags; i++) {
            size_t kl = strlen(tags[i].key), vl = tags[i].value ? strlen(tags[i].value) : 0;
            meta[o++] = (uint8_t)kl;
            memcpy(meta + o, tags[i].key, kl);
            o += kl;
            meta[o++] = (uint8_t)vl;
            if (vl)
                memcpy(meta + o, tags[i].value, vl);
            o += vl;
        }
    }
    if ((meta == NULL && s->self.meta == NULL) ||
        (meta && s->self.meta && s->self.meta_len == len &&
         memcmp(meta, s->self.meta, len) == 0)) {
        weft__free(s->env->alloc, meta);
        return 0; /* unchanged: no new incarnation */
    }
    weft__free(s->env->alloc, s->self.meta);
    s->self.meta = meta;
    s->self.meta_len = (uint16_t)(meta ? len : 0);
    self_resign(s, s->self.inc + 1);
    return 0;
}

static void fill_info(const weft__swim *s, const member *m,
                      weft__swim_member_info *out)
{
    memset(out, 0, sizeof *out);
    out->id = m->id;
    out->addr = m->addr;
    out->state = m->state;
    out->incarnation = m->inc;
    out->rtt_us = m->rtt_us;
    out->last_contact_us = m->last_contact_us;
    out->is_self = m == &s->self;
    static const uint8_t empty[1] = {0};
    out->name = out->status = (const char *)empty;
    out->tags = empty;
    if (m->meta) {
        const uint8_t *p = m->meta;
        out->name_len = p[0];
        out->name = (const char *)p + 1;
        p += 1 + p[0];
        out->status_len = p[0];
        out->status = (const char *)p + 1;
        p += 1 + p[0];
        out->tags_len = weft__get_u16(p);
        out->tags = p + 2;
    }
}

size_t weft__swim_member_count(const weft__swim *s)
{
    return 1 + s->nmembers;
}

int weft__swim_member_at(const weft__swim *s, size_t i,
                         weft__swim_member_info *out)
{
    if (i > s->nmembers)
        return WEFT_ERR_NOT_FOUND;
    fill_info(s, i == 0 ? &s->self : &s->members[i - 1], out);
    return 0;
}

int weft__swim_member_find(const weft__swim *s, const weft_node_id *id,
                           weft__swim_member_info *out)
{
    const member *m = id_eq(id, &s->self.id) ? &s->self : find(s, id);
    if (!m)
        return WEFT_ERR_NOT_FOUND;
    fill_info(s, m, out);
    return 0;
}

void weft__swim_counts_get(const weft__swim *s, weft__swim_counts *out)
{
    memset(out, 0, sizeof *out);
    uint32_t *slot[4] = {&out->alive, &out->suspect, &out->dead, &out->left};
    (*slot[s->self.state])++;
    for (uint32_t i = 0; i < s->nmembers; i++)
        (*slot[s->members[i].state & 3])++;
}

void weft__swim_stats_get(const weft__swim *s, weft__swim_stats *out)
{
    *out = s->st;
    out->awareness = s->awareness;
}

size_t weft__swim_member_sizeof(void)
{
    return sizeof(member);
}
