/*
 * membership.h -- who is alive: SWIM with the Lifeguard refinements, as a
 * protocol module of the engine (src/membership/).
 *
 * Membership packets (datagram type 0x20) share the engine's socket but
 * need no session: they are sealed under a key derived from the network
 * key, and each member's own claims (address, metadata) carry its
 * signature.  Only a node itself can say it is alive.  Its events are the
 * WEFT_EVF_MEMBER family (payload ev->u.member; ev->peer and ev->addr name
 * the member).  With membership attached, weft_engine_send reaches any
 * alive member: a session is opened on demand at its advertised address.
 * See docs/MEMBERSHIP.md.
 */
#ifndef WEFT_MEMBERSHIP_H
#define WEFT_MEMBERSHIP_H

#include <weft/engine.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_MEMBERSHIP_CONFIG_V1 1
#define WEFT_MEMBERSHIP_CONFIG_VERSION WEFT_MEMBERSHIP_CONFIG_V1

/* Profiles: LAN (fast: a failure is seen by all within ~3 s at 50 nodes)
 * and WAN (tolerant of latency and loss, slower). */
enum weft_profile { WEFT_PROFILE_LAN = 0, WEFT_PROFILE_WAN = 1 };

typedef struct weft_membership_config {
    uint8_t profile;               /* enum weft_profile; default LAN */
    uint32_t max_peers;            /* members tracked, self included;
                                      default 4096; beyond it new members
                                      are refused (WEFT_EV_MEMBER_REFUSED) */
    uint32_t probe_interval_ms;    /* 0 = the profile's value */
    uint32_t probe_timeout_ms;     /* 0 = the profile's value */
    uint32_t suspicion_mult;       /* 0 = the profile's value */
    uint32_t pushpull_interval_ms; /* 0 = the profile's value */
    uint32_t incarnation_start;    /* first incarnation; drivers pass wall
                                      seconds so a restart outbids its past */
} weft_membership_config;

WEFT_EXTERN void weft_membership_config_default_versioned(int version,
                                                          weft_membership_config *c);
#define weft_membership_config_default(c)                                      \
    weft_membership_config_default_versioned(WEFT_MEMBERSHIP_CONFIG_VERSION, (c))

/*
 * Attaches membership to engine e (one per engine; freed with it).
 * Returns 0, WEFT_ERR_INVAL, WEFT_ERR_CONFIG, WEFT_ERR_VERSION_MISMATCH,
 * WEFT_ERR_EXISTS (already attached) or WEFT_ERR_NOMEM.
 */
WEFT_EXTERN int weft_membership_attach_versioned(weft_engine *e, int version,
                                                 const weft_membership_config *c,
                                                 uint64_t now_us);
#define weft_membership_attach(e, c, now_us)                                   \
    weft_membership_attach_versioned((e), WEFT_MEMBERSHIP_CONFIG_VERSION, (c), (now_us))

/* The calls below return WEFT_ERR_STATE when e has no membership. */

/* Our advertised address (what other members use to reach us).  Drivers
 * call it once the socket is bound.  Returns 0, WEFT_ERR_INVAL or
 * WEFT_ERR_STATE. */
WEFT_EXTERN int weft_membership_set_addr(weft_engine *e, const weft_addr *addr,
                                         uint64_t now_us);

/* Joins the mesh through a seed address (bootstrap peer, peers file, LAN
 * beacon): full state exchange, retried with backoff until it answers.
 * Returns 0, WEFT_ERR_INVAL, WEFT_ERR_STATE (membership off or left),
 * WEFT_ERR_LIMIT (too many seeds pending). */
WEFT_EXTERN int weft_membership_join(weft_engine *e, const weft_addr *seed,
                                     uint64_t now_us);

/* Graceful leave: others see WEFT_EV_MEMBER_LEFT.  WEFT_ERR_STATE when
 * already left or membership is off. */
WEFT_EXTERN int weft_membership_leave(weft_engine *e, uint64_t now_us);

typedef struct weft_tag {
    const char *key;   /* 1..255 bytes */
    const char *value; /* 0..255 bytes */
} weft_tag;

/* Our metadata: name (<= 64 B), status (<= 32 B: "active", "idle",
 * "processing", "offline" or an application value) and tags (encoded total
 * <= 512 B).  Spread within seconds; may be called at any time.  Returns
 * 0, WEFT_ERR_TOO_BIG, WEFT_ERR_INVAL, WEFT_ERR_STATE or WEFT_ERR_NOMEM. */
WEFT_EXTERN int weft_membership_set_meta(weft_engine *e, const char *name,
                                         const char *status, const weft_tag *tags,
                                         size_t ntags, uint64_t now_us);

enum weft_member_state {
    WEFT_MEMBER_ALIVE = 0,
    WEFT_MEMBER_SUSPECT = 1,
    WEFT_MEMBER_DEAD = 2,
    WEFT_MEMBER_LEFT = 3
};
/* "alive", "suspect", "failed", "left". */
WEFT_EXTERN const char *weft_member_state_name(int state);

/* Membership events: ev->peer, ev->addr, ev->u.member filled. */
enum weft_member_event_type {
    WEFT_EV_MEMBER_JOINED = 0x0401, /* a new member is alive */
    WEFT_EV_MEMBER_UPDATED,  /* its address or metadata changed */
    WEFT_EV_MEMBER_SUSPECT,  /* suspected of failure (may refute) */
    WEFT_EV_MEMBER_ALIVE,    /* a suspicion was refuted */
    WEFT_EV_MEMBER_FAILED,   /* declared dead */
    WEFT_EV_MEMBER_LEFT,     /* left gracefully */
    WEFT_EV_MEMBER_REJOINED, /* back after failing or leaving */
    WEFT_EV_MEMBER_REFUSED   /* not tracked: max_peers reached */
};

/* A member as this node sees it; pointers valid until the next engine call. */
typedef struct weft_member {
    weft_node_id id;
    weft_addr addr;
    int state;                 /* enum weft_member_state */
    uint32_t incarnation;
    const char *name;   size_t name_len;    /* not NUL-terminated */
    const char *status; size_t status_len;
    const uint8_t *tags; size_t tags_len;   /* walk with weft_tag_next */
    uint32_t rtt_us;           /* last direct probe round trip, 0 unknown */
    uint64_t last_contact_us;  /* engine time of the last packet, 0 never */
    int is_self;
} weft_member;

/* Members (self included), index 0 .. count-1, in no particular order. */
WEFT_EXTERN size_t weft_membership_count(const weft_engine *e);
WEFT_EXTERN int weft_membership_at(const weft_engine *e, size_t i, weft_member *out);
/* 0 or WEFT_ERR_NOT_FOUND. */
WEFT_EXTERN int weft_membership_find(const weft_engine *e, const weft_node_id *id,
                                     weft_member *out);
/* Walks encoded tags: 1 with the next pair, 0 at the end.  *off starts 0. */
WEFT_EXTERN int weft_tag_next(const uint8_t *tags, size_t len, size_t *off,
                              const char **key, size_t *klen, const char **val,
                              size_t *vlen);

typedef struct weft_membership_stats {
    uint32_t alive, suspect, dead, left;  /* self counts as alive */
    uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
    uint64_t drop_bad_mac, drop_malformed, drop_bad_signature, stale;
    uint64_t refused_full, probes, probe_failures, refutations, pushpulls;
    uint32_t awareness;        /* Lifeguard local health, 0 = healthy */
} weft_membership_stats;

/* Returns 0 or WEFT_ERR_STATE (membership off). */
WEFT_EXTERN int weft_membership_stats_get(const weft_engine *e,
                                          weft_membership_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* WEFT_MEMBERSHIP_H */
