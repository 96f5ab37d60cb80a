/*
 * discovery.h -- LAN beacons on real sockets (libuv), beside a weft_uv_node.
 *
 * A weft_discovery sends this node's signed beacon (src/membership/beacon.h) once
 * at start and then every interval (jittered +-20%) on each interface the
 * user names, and only there: IPv4 broadcast to the interface's broadcast
 * address, IPv4 multicast 239.255.77.77 and IPv6 link-local multicast
 * ff02::7765, all on one UDP port (default 7947, shared with other local
 * processes through SO_REUSEADDR/SO_REUSEPORT).  Received beacons are
 * verified (mesh id, then signature), de-duplicated across interfaces and
 * address families, and the sender is joined through membership
 * (weft_engine_join) unless it is already a live member or was joined
 * within dedup_ms.  Nothing here can add a member: the join is answered
 * only by a node holding the network key.  docs/DISCOVERY.md.
 *
 * Lifecycle: weft_discovery_new() ... weft_discovery_close(); the memory is
 * released once libuv has closed the handles (run the loop).  Close it
 * before (or together with) the node it joins through.
 */
#ifndef WEFT_DISCOVERY_H
#define WEFT_DISCOVERY_H

#include <uv.h>
#include <weft/uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_DISC_IFACES_MAX 8
#define WEFT_DISC_ADDRS_MAX 4
#define WEFT_DISC_PORT_DEFAULT 7947

enum weft_disc_mode {
    WEFT_DISC_V4_BROADCAST = 1,
    WEFT_DISC_V4_MULTICAST = 2,
    WEFT_DISC_V6_MULTICAST = 4,
    WEFT_DISC_ALL = 7
};

typedef struct weft_discovery weft_discovery;

/* Reports each join a beacon caused (rc = weft_engine_join's result). */
typedef void (*weft_discovery_join_cb)(weft_discovery *d, const weft_node_id *id,
                                       const weft_addr *addr, const char *iface,
                                       int rc, void *ud);

typedef struct weft_discovery_config {
    char ifaces[WEFT_DISC_IFACES_MAX][16]; /* interface names (IFNAMSIZ) */
    size_t iface_count;                    /* 1..WEFT_DISC_IFACES_MAX */
    uint16_t port;                         /* 0 = 7947 */
    unsigned modes;                        /* enum weft_disc_mode; 0 = all */
    uint32_t interval_ms;                  /* 0 = 1000 */
    uint32_t dedup_ms;                     /* 0 = 5000 */
    weft_addr advertise[WEFT_DISC_ADDRS_MAX]; /* our addresses, port set */
    size_t advertise_count;                /* 1..WEFT_DISC_ADDRS_MAX */
    weft_discovery_join_cb on_join;        /* may be NULL */
    void *ud;
} weft_discovery_config;

typedef struct weft_discovery_stats {
    uint64_t beacons_sent, send_errors;
    uint64_t beacons_received;   /* datagrams on the beacon port */
    uint64_t beacons_malformed;  /* not a beacon, or another version */
    uint64_t beacons_other_mesh; /* valid layout, another mesh id */
    uint64_t beacons_bad_sig;    /* our mesh id, signature fails */
    uint64_t beacons_own;        /* our own (multicast loop) */
    uint64_t beacons_dup;        /* same node and seq seen already */
    uint64_t beacons_known;      /* sender already a live member */
    uint64_t beacons_wrong_iface;/* arrived on an interface not named */
    uint64_t joins, join_errors; /* weft_engine_join calls caused */
    uint64_t table_evictions;    /* dedup table full: oldest reused */
    uint32_t sockets;            /* open beacon sockets */
} weft_discovery_stats;

/*
 * Opens the sockets and starts sending.  identity_secret (64 bytes: the
 * node's Ed25519 key) is copied and wiped at close; network_key only
 * serves to derive the mesh id and is not kept.  Returns 0,
 * WEFT_ERR_INVAL (config), WEFT_ERR_NOMEM or WEFT_ERR_IO (an interface is
 * missing or no socket could be opened: detail in
 * weft_discovery_last_error()).  A mode an interface cannot do (e.g.
 * broadcast on an interface without a broadcast address) is skipped, not
 * an error, as long as one socket per interface works.
 */
WEFT_EXTERN int weft_discovery_new(weft_discovery **out, uv_loop_t *loop, weft_uv_node *node,
                       const weft_discovery_config *cfg,
                       const uint8_t identity_secret[64],
                       const uint8_t network_key[32]);

/* Stops sending and receiving; memory is freed once the handles closed. */
WEFT_EXTERN void weft_discovery_close(weft_discovery *d);

WEFT_EXTERN void weft_discovery_get_stats(const weft_discovery *d, weft_discovery_stats *st);

WEFT_EXTERN const char *weft_discovery_last_error(void);

#ifdef __cplusplus
}
#endif
#endif
