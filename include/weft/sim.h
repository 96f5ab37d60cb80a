/*
 * sim.h -- the deterministic simulator: many sans-IO nodes in one process
 * on a virtual clock over a virtual network (TigerBeetle VOPR style).
 *
 * A simulated node is anything with the four sans-IO entry points below
 * (a weft_engine, a membership instance, a test double).  The simulator
 * owns time and the network: it delivers datagrams after a per-link
 * latency with jitter, and may lose, duplicate, reorder or throttle them,
 * cut links (symmetric or one-way partitions), crash and restart nodes.
 * Every random choice comes from one seeded generator, so a seed replays a
 * run bit for bit; weft_sim_trace_hash() digests every delivery to prove it.
 *
 * No threads, no real time: a run of simulated minutes takes as long as the
 * nodes' CPU work.  Events sit in a binary heap ordered by (time, seq).
 */
#ifndef WEFT_SIM_H
#define WEFT_SIM_H

#include <stddef.h>
#include <stdint.h>
#include "weft/weft.h"
#include "weft/crypto.h"
#include "weft/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_sim weft_sim;

/* The sans-IO surface of a simulated node (same contracts as weft_engine_*). */
typedef struct weft_sim_node_ops {
    int (*recv)(void *node, const weft_addr *from, const uint8_t *pkt,
                size_t len, uint64_t now_us);
    ptrdiff_t (*write)(void *node, weft_addr *to, uint8_t *buf, size_t cap,
                       uint64_t now_us);
    uint64_t (*expiry)(void *node);
    int (*handle_expiry)(void *node, uint64_t now_us);
} weft_sim_node_ops;

/* Ops for a weft_engine (node = weft_engine *). */
extern const weft_sim_node_ops weft_sim_engine_ops;

typedef struct weft_sim_link {
    uint64_t latency_us;      /* one-way base latency; default 1000 */
    uint64_t jitter_us;       /* uniform extra 0..jitter; default 0 */
    double loss;              /* drop probability 0..1 */
    double dup;               /* duplicate probability */
    double reorder;           /* probability of an extra random delay of up
                                 to 4 * latency (reordering) */
    uint64_t bandwidth_bps;   /* 0 = unlimited; else serialisation delay
                                 and a bounded queue (drop tail) */
    uint32_t queue_bytes_max; /* bandwidth queue cap; default 1 MiB */
} weft_sim_link;

void weft_sim_link_default(weft_sim_link *l);

/* Network counters.  sent = datagrams written by nodes; each is then
 * delivered (twice when duplicated), or dropped under exactly one of lost,
 * queue_drops (bandwidth queue full, or event cap), partition_drops (block
 * or partition, at send or while in flight), crashed_drops (destination
 * down at send, or crashed while the datagram was in flight) or
 * unroutable (no simulated node at that address).  events = live events
 * processed (deliveries, drops at delivery time, timer fires). */
typedef struct weft_sim_stats {
    uint64_t sent, delivered, lost, duplicated, reordered, queue_drops,
        partition_drops, crashed_drops, events, unroutable;
} weft_sim_stats;

/* Creates a simulator; all links start as *link (NULL = defaults). */
int weft_sim_new(weft_sim **out, uint64_t seed, const weft_sim_link *link);
void weft_sim_del(weft_sim *s);

/* Adds a node; returns its index (>= 0) or an error.  The address assigned
 * to it (family 4, 10.x.y.z-like, port 7000; never a real socket) is
 * written to *addr when non-NULL.  node is not owned. */
int weft_sim_add_node(weft_sim *s, const weft_sim_node_ops *ops, void *node,
                      weft_addr *addr);
/* Address and node pointer of index i. */
const weft_addr *weft_sim_addr(const weft_sim *s, int i);
void *weft_sim_node(const weft_sim *s, int i);
int weft_sim_node_count(const weft_sim *s);
/* Index of the node owning addr, or -1. */
int weft_sim_find(const weft_sim *s, const weft_addr *addr);

/* A deterministic weft_rand for node i (its own stream from the seed). */
weft_rand weft_sim_rand(weft_sim *s, int i);
/* Uniform 64-bit value from the simulator's own stream (for scenarios). */
uint64_t weft_sim_random(weft_sim *s);

/* Link settings from a to b (one direction); -1 = every link. */
int weft_sim_set_link(weft_sim *s, int a, int b, const weft_sim_link *l);
/* Blocks (1) or unblocks (0) delivery from a to b (one direction). */
int weft_sim_block(weft_sim *s, int a, int b, int blocked);
/* Puts node i in partition group g; packets cross groups only when g is
 * equal.  All nodes start in group 0.  weft_sim_heal() resets all to 0. */
int weft_sim_set_group(weft_sim *s, int i, int g);
void weft_sim_heal(weft_sim *s);

/* Crash: the node stops receiving and its timers stop; packets in flight
 * to it are dropped.  Restart: the node is replaced by (ops, node) -- a
 * fresh instance the scenario built, typically with the same identity. */
int weft_sim_crash(weft_sim *s, int i);
int weft_sim_restart(weft_sim *s, int i, const weft_sim_node_ops *ops,
                     void *node);
int weft_sim_is_up(const weft_sim *s, int i);

/* Tells the simulator the application called into node i (send, connect):
 * it drains the node's outgoing packets and re-reads its expiry. */
void weft_sim_poke(weft_sim *s, int i);

uint64_t weft_sim_now(const weft_sim *s);
/* Runs events until virtual time t_us (inclusive) or until none remain.
 * Returns the number of events processed, or a negative error when a
 * node returned a fatal error. */
int64_t weft_sim_run_until(weft_sim *s, uint64_t t_us);
/* Runs one event; returns 1, or 0 when the queue is empty. */
int weft_sim_step(weft_sim *s);

void weft_sim_get_stats(const weft_sim *s, weft_sim_stats *st);
/* Running digest (FNV-1a 64) over (time, from, to, length, bytes) of every
 * delivered datagram. */
uint64_t weft_sim_trace_hash(const weft_sim *s);

/*
 * Fast, INSECURE crypto for very large simulations only: DH is XOR, the
 * AEAD "tag" is a 16-byte keyed checksum (tampering and wrong keys are
 * still detected, forgery is not hard), signatures are a keyed checksum
 * over the public key.  Same sizes as the real primitives, so wire formats
 * and code paths are unchanged.  Small runs always use weft_crypto_sodium().
 */
const weft_crypto *weft_sim_fast_crypto(void);

/*
 * An in-memory weft_store (<weft/store.h>) for simulations and tests: it
 * outlives the node it serves, so a simulated crash and restart finds
 * every record a put returned for.  begin/commit are no-ops (every put is
 * "durable" at once).  NULL on allocation failure.
 */
weft_store *weft_sim_memstore_new(void);
/* Records held. */
size_t weft_sim_memstore_count(const weft_store *s);
void weft_sim_memstore_del(weft_store *s);

#ifdef __cplusplus
}
#endif
#endif
