/*
 * swim_internal.h -- what the parts of the membership protocol share: the
 * instance struct and the functions each part offers the others.  Not for
 * use outside src/membership/ (the engine glue uses swim.h).
 *
 * The parts (each file opens with its purpose and the paper sections it
 * follows):
 *   wire.c      message layouts, sealing and opening (wire.h)
 *   table.c     the member table: id hash, probe order, random picks,
 *               counts and member info
 *   update.c    what ALIVE, SUSPECT, DEAD and LEAVE do to the table;
 *               our own signed claim and its refutations
 *   probe.c     probe rounds, ping-req relays, Lifeguard local health,
 *               the buddy system, suspicion deadlines and last chances
 *   pushpull.c  full-state exchange, joins and seeds, reconnects, claim
 *               requests
 *   swim.c      the instance: configuration, lifecycle, dispatch of
 *               decoded messages, output, timers, public entry points
 */
#ifndef WEFT_MEMBERSHIP_SWIM_INTERNAL_H
#define WEFT_MEMBERSHIP_SWIM_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/util.h"
#include "base/varint.h"
#include "gossip/queue.h"
#include "membership/swim.h"
#include "membership/wire.h"
#include "weft/crypto.h"

#define WEFT__SWIM_CONFIRM_MAX 6   /* Lifeguard K is capped here */
#define WEFT__SWIM_CTRL_MAX 128    /* control bytes of one queued datagram */
#define WEFT__SWIM_LAST_CHANCES 3  /* rounds of direct checks before death,
                                      plus one per point of local health */
#define WEFT__SWIM_PP_MAX 16       /* concurrent push-pull transfers (a seed
                                      answers many joins at once) */
#define WEFT__SWIM_PP_ONE 0x100    /* internal push-pull flag: send only the
                                      first chunk (reconnects, claim answers) */
#define WEFT__SWIM_REFUSED_MEMO 16

#define WEFT__SWIM_WUR __attribute__((warn_unused_result))

/* One member as this node sees it. */
typedef struct weft__swim_member {
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
    uint64_t confirmers[WEFT__SWIM_CONFIRM_MAX]; /* first 8 id bytes of
                                                    suspectors; the last slot
                                                    holds the originator */
} weft__swim_member;

/* Protocol choices (probe order, random picks): xorshift128+, seeded from
 * env->rand at creation.  Not key material. */
typedef struct weft__swim_rng {
    uint64_t s[2];
} weft__swim_rng;

static inline uint64_t weft__swim_rnd(weft__swim_rng *r)
{
    uint64_t a = r->s[0], b = r->s[1];
    r->s[0] = b;
    a ^= a << 23;
    r->s[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
    return r->s[1] + b;
}

static inline uint32_t weft__swim_rnd_below(weft__swim_rng *r, uint32_t n)
{
    return n ? (uint32_t)(weft__swim_rnd(r) % n) : 0;
}

/* The member table (table.c): an array in random order, probed
 * round-robin, plus an open-addressing hash from id to index. */
typedef struct weft__swim_table {
    const weft_allocator *alloc;
    weft__swim_member *members;
    uint32_t n, cap;
    uint32_t *slots;         /* index + 1; 0 = empty */
    uint32_t slots_cap;      /* power of two, >= 2 n */
    uint64_t hash_salt;
} weft__swim_table;

/* out_push flags */
enum {
    WEFT__SWIM_OUT_PIGGYBACK = 1, /* fill the packet with pending updates */
    WEFT__SWIM_OUT_CLAIM = 2      /* our own signed claim first (an answer
                                     to a claim request) */
};

typedef struct weft__swim_outmsg {
    weft_addr to;
    uint16_t len;
    uint8_t flags;        /* WEFT__SWIM_OUT_* */
    uint8_t msg[WEFT__SWIM_CTRL_MAX];
} weft__swim_outmsg;

typedef struct weft__swim_pptask {
    weft_addr to;
    uint32_t cursor;      /* next member index; 0 = self first */
    uint16_t flags;       /* WEFT__SWIM_PP_* wire flags | WEFT__SWIM_PP_ONE */
    uint8_t active;
} weft__swim_pptask;

typedef struct weft__swim_relay {
    uint32_t seq;         /* our ping's sequence number */
    uint32_t orig_seq;    /* requester's */
    weft_addr requester;
    uint64_t deadline_us; /* NACK when no ack by then (Lifeguard §3.1) */
    uint8_t used;
} weft__swim_relay;

typedef struct weft__swim_seed {
    weft_addr addr;
    uint64_t next_try_us;
    uint32_t backoff_ms;
    uint8_t answered;
} weft__swim_seed;

struct weft__swim {
    weft__swim_config cfg;
    const weft_env *env;
    const weft_crypto *cr;
    uint8_t secret[64];
    uint8_t mkey[32];        /* membership key (docs §2) */
    weft__swim_rng rng;

    weft__swim_member self;  /* ourselves, kept out of the table */
    uint8_t leave_sig[64];
    int left;

    weft__swim_table table;
    uint32_t probe_pos;      /* next index of the probe round */

    /* dissemination (SWIM §4.1): pending updates, keyed by member id */
    weft__gossip_queue *bq;
    uint64_t bcast_nomem;    /* updates lost to allocation failure */

    /* control messages waiting for write() */
    weft__swim_outmsg *outq;
    uint32_t out_head, out_len;

    /* push-pull (pushpull.c) */
    weft__swim_pptask pp[WEFT__SWIM_PP_MAX];
    uint32_t pp_rr;
    weft__swim_seed seeds[WEFT__SWIM_SEEDS_MAX];
    uint32_t nseeds;
    uint32_t join_extra;     /* quick push-pulls left after joining */

    weft__swim_relay *relays;

    weft__swim_event *events;
    uint32_t ev_head, ev_len;

    uint64_t refused[WEFT__SWIM_REFUSED_MEMO];
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

/* ---- small helpers -------------------------------------------------------- */

static inline uint64_t weft__swim_short_id(const weft_node_id *id)
{
    return weft__get_u64(id->key);
}

static inline int weft__swim_id_eq(const weft_node_id *a, const weft_node_id *b)
{
    return memcmp(a->key, b->key, WEFT_ID_BYTES) == 0;
}

static inline uint64_t weft__swim_ms_us(uint64_t ms) { return ms * 1000; }

/* Every member we remember, self included: the N of the SWIM and Lifeguard
 * formulas.  Dead members retained for dead_retain_ms count too: an upper
 * bound of the live N is the safe side for retransmission counts and
 * suspicion timeouts. */
static inline uint32_t weft__swim_live_count(const weft__swim *s)
{
    return 1 + s->table.n;
}

/* Moves the sweep timer earlier when t is. */
static inline void weft__swim_arm_sweep(weft__swim *s, uint64_t t)
{
    if (t < s->next_sweep_us)
        s->next_sweep_us = t;
}

/* The member record of id: ourselves, a table entry or NULL. */
static inline const weft__swim_member *weft__swim_lookup(const weft__swim *s,
                                                         const weft_node_id *id);

/* ---- table.c -------------------------------------------------------------- */

weft__swim_member *weft__swim_table_find(const weft__swim_table *t, const weft_node_id *id);
/* Adds a member at a random position of the probe order (SWIM §4.3).
 * NULL when out of memory. */
WEFT__SWIM_WUR weft__swim_member *weft__swim_table_add(weft__swim_table *t,
                                                       const weft_node_id *id,
                                                       weft__swim_rng *rng);
void weft__swim_table_remove(weft__swim_table *t, weft__swim_member *m);
void weft__swim_table_shuffle(weft__swim_table *t, weft__swim_rng *rng);
void weft__swim_table_free(weft__swim_table *t);
/* Up to k distinct random members accepted by ok(m, ctx), bounded
 * attempts; exclude may be NULL. */
uint32_t weft__swim_table_pick(const weft__swim_table *t, weft__swim_rng *rng,
                               weft__swim_member **out, uint32_t k,
                               const weft_node_id *exclude,
                               int (*ok)(const weft__swim_member *m, const void *ctx),
                               const void *ctx);
int weft__swim_is_alive(const weft__swim_member *m, const void *ctx);
int weft__swim_is_dead(const weft__swim_member *m, const void *ctx);
/* The wire view of m's signed claim (docs §4.5). */
void weft__swim_member_claim(const weft__swim_member *m, weft__swim_claim *c);
void weft__swim_member_info_fill(const weft__swim_member *m, int is_self,
                                 weft__swim_member_info *out);

static inline const weft__swim_member *weft__swim_lookup(const weft__swim *s,
                                                         const weft_node_id *id)
{
    return weft__swim_id_eq(id, &s->self.id) ? &s->self : weft__swim_table_find(&s->table, id);
}

/* ---- update.c ------------------------------------------------------------- */

int weft__swim_apply_alive(weft__swim *s, const weft__swim_claim *c, uint64_t now_us);
void weft__swim_apply_suspect(weft__swim *s, const weft__swim_accuse *a, uint64_t now_us);
void weft__swim_apply_dead(weft__swim *s, const weft__swim_accuse *a, uint64_t now_us);
int weft__swim_apply_leave(weft__swim *s, const weft__swim_leave_msg *l, uint64_t now_us);
void weft__swim_mark_dead(weft__swim *s, weft__swim_member *m, uint32_t inc,
                          const weft_node_id *from, uint64_t now_us);
/* Re-signs our alive claim at incarnation inc and queues it for gossip. */
void weft__swim_self_resign(weft__swim *s, uint32_t inc);

/* ---- probe.c -------------------------------------------------------------- */

void weft__swim_on_ping(weft__swim *s, const weft_addr *from, const weft__swim_ping *m);
void weft__swim_on_ping_req(weft__swim *s, const weft_addr *from, const weft__swim_ping *m,
                            uint64_t now_us);
void weft__swim_on_ack(weft__swim *s, const weft_addr *from, uint32_t seq, uint64_t now_us);
void weft__swim_on_nack(weft__swim *s, uint32_t seq);
/* Lifeguard §3.3: tells m directly that we suspect it. */
void weft__swim_send_suspect(weft__swim *s, const weft__swim_member *m);
/* Lifeguard §3.1: local health worsens by delta (capped). */
void weft__swim_health_worse(weft__swim *s, uint32_t delta);
/* Suspicion deadlines (last chances, then death) and forgetting. */
void weft__swim_sweep(weft__swim *s, uint64_t now_us);
void weft__swim_probe_tick(weft__swim *s, uint64_t now_us);
uint64_t weft__swim_probe_expiry(const weft__swim *s, uint64_t t);

/* ---- pushpull.c ----------------------------------------------------------- */

void weft__swim_pp_start(weft__swim *s, const weft_addr *to, int flags);
/* Writes the next chunk of a transfer in progress into pt (room bytes):
 * returns the plaintext length and sets *to, or 0 when none is due. */
size_t weft__swim_pp_write(weft__swim *s, weft_addr *to, uint8_t *pt, size_t room);
void weft__swim_on_pushpull(weft__swim *s, const weft_addr *from,
                            const weft_node_id *sender, weft__rd *body,
                            uint64_t now_us, int *err);
/* A sealed packet arrived from sender (sm: its record or NULL): claim
 * requests to strangers, dead notices, answered seeds. */
void weft__swim_heard_from(weft__swim *s, const weft_addr *from,
                           weft__swim_member *sm, uint64_t now_us);
void weft__swim_pp_tick(weft__swim *s, uint64_t now_us);
uint64_t weft__swim_pp_expiry(const weft__swim *s, uint64_t t);

/* ---- swim.c --------------------------------------------------------------- */

void weft__swim_emit(weft__swim *s, int type, const weft__swim_member *m);
/* Queues a control message (may be empty: a piggyback-only packet);
 * flags WEFT__SWIM_OUT_*.  0, WEFT_ERR_INVAL (no address) or
 * WEFT_ERR_AGAIN (out_queue_max, counted). */
int weft__swim_out_push(weft__swim *s, const weft_addr *to, const uint8_t *msg,
                        size_t len, int flags);
/* Queues (or replaces) the update of `kind` (a WEFT__SWIM_MSG_* update
 * type) about id for piggybacking; from: the accuser of SUSPECT/DEAD
 * (NULL = us). */
void weft__swim_bcast_u(weft__swim *s, int kind, const weft_node_id *id,
                        const weft_node_id *from, int urgent);
/* Failure news is urgent; alive claims are not, unless they refute. */
static inline void weft__swim_bcast(weft__swim *s, int kind, const weft_node_id *id,
                                    const weft_node_id *from)
{
    weft__swim_bcast_u(s, kind, id, from, kind != WEFT__SWIM_MSG_ALIVE);
}

#endif
