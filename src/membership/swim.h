/*
 * swim.h -- weft's membership protocol: SWIM failure detection and
 * dissemination with the Lifeguard refinements, as a sans-IO state machine.
 *
 * One instance is one node's view of the mesh: who is alive, suspect, dead
 * or gone, with each member's signed address and metadata.  Like the engine
 * (include/weft/weft.h) it performs no I/O: the caller feeds received
 * membership datagrams (first byte 0x20) with weft__swim_recv(), drains
 * datagrams to send with weft__swim_write(), and calls
 * weft__swim_handle_expiry() at weft__swim_expiry().  The four entry points
 * have exactly the weft_engine_* contracts, so an instance is directly a
 * simulator node (wrap the four functions in a weft_sim_node_ops, as
 * tests/sim/test_membership.c and src/tools/weft-sim-membership.c do).
 *
 * Names: everything here is internal to libweft (`weft__swim_`); the node
 * layer re-exports what applications need.  The wire format is specified
 * byte by byte in docs/MEMBERSHIP.md.
 *
 * References: SWIM (Das, Gupta, Motivala 2002) §4-§5; Lifeguard (Dadgar,
 * Phillips, Currey 2017, arXiv 1707.00788) §3.1 (local health), §3.2
 * (dynamic suspicion), §3.3 (buddy system).
 */
#ifndef WEFT_CORE_SWIM_H
#define WEFT_CORE_SWIM_H

#include <stddef.h>
#include <stdint.h>
#include "weft/weft.h"

#define WEFT__SWIM_PKT_TYPE 0x20   /* first byte of every membership packet */
#define WEFT__SWIM_VERSION 0x01
#define WEFT__SWIM_NAME_MAX 64     /* bytes of a member name */
#define WEFT__SWIM_STATUS_MAX 32   /* bytes of a member status */
#define WEFT__SWIM_TAGS_MAX 512    /* encoded bytes of all tags */
#define WEFT__SWIM_HDR_BYTES 18    /* type, version, salt */
#define WEFT__SWIM_OVERHEAD 34     /* header + AEAD tag */
#define WEFT__SWIM_SEEDS_MAX 8     /* seeds joined at once */

typedef struct weft__swim weft__swim;

/*
 * Tuning.  Times in milliseconds.  Start from weft__swim_config_lan() or
 * weft__swim_config_wan() and change single knobs.
 */
typedef struct weft__swim_config {
    uint32_t probe_interval_ms;   /* SWIM protocol period T' (scaled by LHM) */
    uint32_t probe_timeout_ms;    /* wait for a direct ack before ping-req */
    uint32_t indirect_checks;     /* k members asked to ping-req (SWIM §4.2) */
    uint32_t gossip_interval_ms;  /* extra piggyback-only packets */
    uint32_t gossip_fanout;       /* members per gossip tick */
    uint32_t retransmit_mult;     /* lambda: an update is sent
                                     lambda * ceil(log10(N + 1)) times */
    uint32_t suspicion_mult;      /* min suspicion = mult * log10(N) * T' */
    uint32_t suspicion_max_mult;  /* max suspicion = this * min (Lifeguard) */
    uint32_t awareness_max;       /* Lifeguard LHM upper bound (0..8) */
    uint32_t pushpull_interval_ms;/* full state exchange (0 = never);
                                     scaled up with log2(N / 32) */
    uint32_t reconnect_interval_ms;/* push-pull with a dead member or an
                                     unseen seed, so partitions heal */
    uint32_t dead_retain_ms;      /* dead/left members are remembered this
                                     long, refusing stale resurrection */
    uint32_t gossip_to_dead_ms;   /* keep gossiping to newly dead members */
    uint32_t join_retry_ms_min;   /* join backoff: min, doubling to max */
    uint32_t join_retry_ms_max;
    uint32_t max_members;         /* table cap, self included; new members
                                     beyond it are refused and counted */
    uint32_t broadcast_max;       /* pending updates kept for piggybacking */
    uint32_t event_max;           /* pending events before drops (counted) */
    uint32_t out_queue_max;       /* datagrams waiting for write() */
    uint32_t relay_max;           /* ping-req relays in progress */
    uint32_t packet_bytes;        /* max datagram size, header included */
    uint32_t incarnation_start;   /* first incarnation (e.g. wall seconds
                                     from the driver, so a restart outbids
                                     its previous life); 0 is fine too */
} weft__swim_config;

/* Fast LAN profile: failure seen by all within ~3 s at N = 50. */
void weft__swim_config_lan(weft__swim_config *c);
/* Tolerant WAN profile (higher latency, more loss). */
void weft__swim_config_wan(weft__swim_config *c);

enum weft__swim_state {
    WEFT__SWIM_ALIVE = 0,
    WEFT__SWIM_SUSPECT = 1,
    WEFT__SWIM_DEAD = 2,
    WEFT__SWIM_LEFT = 3
};

enum weft__swim_event_type {
    WEFT__SWIM_EV_NONE = 0,
    WEFT__SWIM_EV_JOINED,    /* a new member is alive */
    WEFT__SWIM_EV_UPDATED,   /* newer claim: address or metadata changed */
    WEFT__SWIM_EV_SUSPECT,   /* member is suspected (may still refute) */
    WEFT__SWIM_EV_ALIVE,     /* suspected member refuted: alive again */
    WEFT__SWIM_EV_FAILED,    /* member declared dead */
    WEFT__SWIM_EV_LEFT,      /* member left gracefully */
    WEFT__SWIM_EV_REJOINED,  /* dead/left member back with a newer claim */
    WEFT__SWIM_EV_REFUSED    /* new member refused: max_members reached */
};

typedef struct weft__swim_event {
    int type;                      /* enum weft__swim_event_type */
    weft_node_id id;
    weft_addr addr;
    uint32_t incarnation;
    char name[WEFT__SWIM_NAME_MAX + 1]; /* NUL-terminated copy */
} weft__swim_event;

typedef struct weft__swim_tag {
    const char *key;    /* 1..255 bytes */
    const char *value;  /* 0..255 bytes */
} weft__swim_tag;

/* A member as seen by this node.  Pointers stay valid until the next call
 * into the instance. */
typedef struct weft__swim_member_info {
    weft_node_id id;
    weft_addr addr;
    int state;                     /* enum weft__swim_state */
    uint32_t incarnation;
    const char *name;    size_t name_len;    /* not NUL-terminated */
    const char *status;  size_t status_len;
    const uint8_t *tags; size_t tags_len;    /* see weft__swim_tag_next */
    uint32_t rtt_us;                /* last direct probe RTT, 0 = unknown */
    uint64_t last_contact_us;       /* last packet from it, 0 = never */
    int is_self;
} weft__swim_member_info;

typedef struct weft__swim_counts {
    uint32_t alive, suspect, dead, left; /* self counts as alive */
} weft__swim_counts;

typedef struct weft__swim_stats {
    uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
    uint64_t drop_bad_mac;     /* AEAD failed: no/other network key, or
                                  tampered (WEFT_ERR_DECRYPT) */
    uint64_t drop_version;     /* unknown version byte (WEFT_ERR_VERSION) */
    uint64_t drop_malformed;   /* WEFT_ERR_PROTO */
    uint64_t drop_bad_signature; /* forged claims (WEFT_ERR_BAD_SIGNATURE) */
    uint64_t stale;            /* messages older than what we know */
    uint64_t refused_full;     /* new members refused at max_members */
    uint64_t broadcast_drops;  /* updates dropped at broadcast_max */
    uint64_t event_drops;      /* events dropped at event_max */
    uint64_t out_drops;        /* datagrams dropped at out_queue_max */
    uint64_t probes, probe_failures, indirect_probes, nacks_in;
    uint64_t refutations;      /* times we outbid a suspicion of us */
    uint64_t pushpulls;        /* full-state exchanges started */
    uint64_t verifies;         /* signature verifications performed */
    uint64_t bytes_pushpull;   /* of bytes_out: full-state chunks */
    uint64_t bytes_gossip;     /* of bytes_out: piggyback-only packets */
    uint64_t bytes_piggyback;  /* of bytes_out: updates riding on others */
    uint32_t awareness;        /* current Lifeguard local health (0..max) */
} weft__swim_stats;

/*
 * Creates an instance.  env->crypto and env->rand are required; env must
 * outlive the instance.  identity_secret is the Ed25519 secret key (seed ||
 * public); network_key the mesh key.  self_addr may be NULL or family 0
 * when not yet known (set it with weft__swim_set_addr before joining).
 * Returns 0, WEFT_ERR_INVAL, WEFT_ERR_CONFIG or WEFT_ERR_NOMEM.
 */
int weft__swim_new(weft__swim **out, const weft__swim_config *cfg,
                   const weft_env *env, const uint8_t identity_secret[64],
                   const uint8_t network_key[32], const weft_addr *self_addr,
                   uint64_t now_us);
/* Frees the instance; keys are wiped.  NULL is fine. */
void weft__swim_del(weft__swim *s);

const weft_node_id *weft__swim_id(const weft__swim *s);

/* Sets our advertised address; a change re-signs our claim with a higher
 * incarnation and gossips it.  Returns 0 or WEFT_ERR_INVAL. */
int weft__swim_set_addr(weft__swim *s, const weft_addr *addr, uint64_t now_us);

/* Engine contracts (weft_engine_recv/write/expiry/handle_expiry). */
int weft__swim_recv(weft__swim *s, const weft_addr *from, const uint8_t *pkt,
                    size_t len, uint64_t now_us);
ptrdiff_t weft__swim_write(weft__swim *s, weft_addr *to, uint8_t *buf,
                           size_t cap, uint64_t now_us);
uint64_t weft__swim_expiry(const weft__swim *s);
int weft__swim_handle_expiry(weft__swim *s, uint64_t now_us);

/*
 * Joins through a seed: a push-pull state exchange with addr, retried with
 * exponential backoff (join_retry_ms_min..max) until the seed answers.  The
 * seed is remembered: if it is later unseen, reconnects try it so that
 * partitions heal.  When WEFT__SWIM_SEEDS_MAX seeds are known, an answered
 * one makes room.  Returns 0, WEFT_ERR_INVAL, WEFT_ERR_STATE (left),
 * WEFT_ERR_LIMIT (WEFT__SWIM_SEEDS_MAX seeds, none answered yet).
 */
int weft__swim_join(weft__swim *s, const weft_addr *addr, uint64_t now_us);

/* Graceful leave: a signed leave is gossiped; probing stops; the instance
 * keeps answering and disseminating until deleted.  Returns 0 or
 * WEFT_ERR_STATE when already left. */
int weft__swim_leave(weft__swim *s, uint64_t now_us);

/*
 * Sets our metadata (copied); a change re-signs our claim with a higher
 * incarnation and gossips it.  name/status may be NULL.  Returns 0,
 * WEFT_ERR_TOO_BIG (name > 64 B, status > 32 B, encoded tags > 512 B, a
 * key > 255 B or a value > 255 B), WEFT_ERR_INVAL (empty key),
 * WEFT_ERR_STATE (left) or WEFT_ERR_NOMEM.
 */
int weft__swim_set_meta(weft__swim *s, const char *name, const char *status,
                        const weft__swim_tag *tags, size_t ntags,
                        uint64_t now_us);

/* Walks an encoded tag list: returns 1 with the next pair, 0 at the end
 * (or on a malformed list).  *off starts at 0. */
int weft__swim_tag_next(const uint8_t *tags, size_t len, size_t *off,
                        const char **key, size_t *klen, const char **val,
                        size_t *vlen);

/* Takes the next event.  Returns 1 (filled) or 0 (none). */
int weft__swim_poll(weft__swim *s, weft__swim_event *ev);

/* Members, self included, in no particular order: index 0..count-1.  The
 * order changes when the instance runs. */
size_t weft__swim_member_count(const weft__swim *s);
int weft__swim_member_at(const weft__swim *s, size_t i,
                         weft__swim_member_info *out);
/* Returns 0 or WEFT_ERR_NOT_FOUND. */
int weft__swim_member_find(const weft__swim *s, const weft_node_id *id,
                           weft__swim_member_info *out);

void weft__swim_counts_get(const weft__swim *s, weft__swim_counts *out);
void weft__swim_stats_get(const weft__swim *s, weft__swim_stats *out);

/* Bytes of the per-member record (for docs and capacity planning). */
size_t weft__swim_member_sizeof(void);

/*
 * Fuzzing hook: parses and applies one decrypted payload (sender id +
 * messages, docs/MEMBERSHIP.md §3) as if it arrived from `from`.  Returns
 * what weft__swim_recv would.
 */
int weft__swim_recv_plain(weft__swim *s, const weft_addr *from,
                          const uint8_t *pt, size_t len, uint64_t now_us);

#endif
