/*
 * sim.c -- weft's deterministic discrete-event simulator (include/weft/sim.h).
 *
 * Many sans-IO nodes live in one process.  Time is virtual (microseconds)
 * and only moves when the next event is taken from a binary min-heap
 * ordered by (time, insertion sequence); the sequence number breaks ties in
 * a fixed order, so two runs with the same seed and the same scenario make
 * the same calls in the same order (TigerBeetle VOPR style).
 *
 * There are two kinds of events:
 *   - delivery: a datagram reaches node `to` (unless it crashed, or a block
 *     or partition went up while it was in flight);
 *   - timer: a node's expiry() deadline is reached; handle_expiry() runs.
 * After every call into a node (recv, handle_expiry, weft_sim_poke,
 * weft_sim_restart) its write() is drained until it returns 0 -- each
 * datagram goes through the link model and becomes zero, one or two
 * delivery events -- and its expiry() is re-read.  A node has at most one
 * live timer event: rescheduling bumps a per-node generation counter and
 * stale heap entries are skipped when popped (lazy deletion).
 *
 * Scale: per event O(log n) heap work; node lookup by address is O(1)
 * because simulated addresses encode the node index (10.a.b.c:7000 with
 * a.b.c = index + 1); datagram buffers come from per-size-class free lists,
 * so the steady state does not call malloc.  Per-link overrides and the
 * bandwidth state of a directed link live in a sparse open-addressing hash
 * map keyed by (from, to): 10,000 nodes have 10^8 directed links.
 *
 * Randomness: one xoshiro256** stream for the network (loss, dup, jitter,
 * reorder), one for weft_sim_random(), and one splitmix64 stream per node
 * for weft_sim_rand(s, i), derived from (seed, i) only, so a node's draws
 * do not depend on how much other nodes drew.
 */
#include <stdint.h>
#include <string.h>

#include "base/util.h"
#include "weft/sim.h"

#define SIM_PORT 7000
#define SIM_NODES_MAX ((1 << 24) - 2)   /* index + 1 fits in 24 bits */
#define SIM_DGRAM_MAX 65536             /* write() buffer size */
#define SIM_CLASS_MIN_SHIFT 6           /* smallest buffer class: 64 B */
#define SIM_CLASSES 11                  /* 64 B .. 64 KiB */
#define SIM_EVENTS_MAX (1u << 24)       /* datagrams beyond this are dropped */
#define SIM_DRAIN_MAX (1u << 20)        /* datagrams per drain: a node
                                           writing more is broken */
#define SIM_SPIN_MAX 1000000u           /* timer fires without time moving */

/* A datagram in flight; shared by its duplicate (refs). */
typedef struct dgram {
    struct dgram *next;   /* free-list link */
    uint32_t len;
    uint16_t refs;        /* delivery events still pointing here */
    uint8_t cls;          /* size class index */
    int32_t from;         /* sender index */
    uint8_t data[];
} dgram;

/* One heap entry.  d == NULL: a timer for node with generation aux;
 * else a delivery to node, sent while node was in incarnation aux. */
typedef struct event {
    uint64_t t_us;
    uint64_t seq;
    dgram *d;
    uint32_t node;
    uint32_t aux;
} event;

/* splitmix64 state of a node's weft_rand stream. */
typedef struct node_rng {
    uint64_t x;
} node_rng;

typedef struct simnode {
    const weft_sim_node_ops *ops;
    void *node;
    weft_addr addr;
    int up;
    int group;              /* partition group; 0 by default */
    uint32_t incarnation;   /* bumped by crash: kills in-flight datagrams */
    uint32_t timer_gen;     /* generation of the live timer event */
    uint64_t timer_at_us;   /* deadline currently scheduled, or UINT64_MAX */
    uint64_t spin_at_us;    /* time of the last timer fire */
    uint32_t spins;         /* consecutive fires at spin_at_us */
    node_rng rng;
} simnode;

/* Per directed link state, created only when needed. */
typedef struct pair {
    uint64_t key;           /* (from << 32 | to) + 1; 0 = empty slot */
    uint8_t has_link;       /* link overrides the default */
    uint8_t blocked;
    weft_sim_link link;
    uint64_t busy_until_us; /* bandwidth: serialisation of queued bytes ends */
} pair;

struct weft_sim {
    uint64_t seed;
    uint64_t now_us;
    uint64_t net[4];        /* xoshiro256** for the network */
    uint64_t user[4];       /* xoshiro256** for weft_sim_random */
    weft_sim_link deflink;

    simnode **nodes;
    int n, cap;

    event *heap;
    size_t heap_n, heap_cap;
    uint64_t seq;

    pair *pairs;            /* open addressing, power-of-two capacity */
    size_t pairs_n, pairs_cap;

    dgram *free_list[SIM_CLASSES];
    uint8_t *buf;           /* SIM_DGRAM_MAX scratch for write() */

    int err;                /* first fatal error from a node */
    weft_sim_stats st;
    uint64_t trace;
};

/* ---------------------------------------------------------------------- */
/* Random streams                                                         */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** (Blackman & Vigna 2018). */
static uint64_t xoshiro(uint64_t s[4])
{
    uint64_t r = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return r;
}

static void xoshiro_seed(uint64_t s[4], uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        s[i] = splitmix64(&x);
}

/* Uniform double in [0, 1) with 53 random bits. */
static double net_unit(weft_sim *s)
{
    return (double)(xoshiro(s->net) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform in [0, n] (n + 1 values); the modulo bias is irrelevant here. */
static uint64_t net_upto(weft_sim *s, uint64_t n)
{
    uint64_t r = xoshiro(s->net);
    return n == UINT64_MAX ? r : r % (n + 1);
}

static void node_rng_fill(void *ctx, uint8_t *buf, size_t len)
{
    node_rng *r = ctx;
    while (len) {
        uint64_t v = splitmix64(&r->x);
        size_t k = len < 8 ? len : 8;
        for (size_t j = 0; j < k; j++)
            buf[j] = (uint8_t)(v >> (8 * j));
        buf += k;
        len -= k;
    }
}

/* ---------------------------------------------------------------------- */
/* Event heap: binary min-heap on (t_us, seq)                              */

static int ev_less(const event *a, const event *b)
{
    return a->t_us < b->t_us || (a->t_us == b->t_us && a->seq < b->seq);
}

/* Pushes an event at t_us.  Returns 0 or WEFT_ERR_NOMEM. */
static int heap_push(weft_sim *s, uint64_t t_us, dgram *d, uint32_t node,
                     uint32_t aux)
{
    if (s->heap_n == s->heap_cap) {
        size_t nc = s->heap_cap ? s->heap_cap * 2 : 1024;
        event *h = weft__realloc(NULL, s->heap, nc * sizeof *h);
        if (!h)
            return WEFT_ERR_NOMEM;
        s->heap = h;
        s->heap_cap = nc;
    }
    event e = {t_us, s->seq++, d, node, aux};
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!ev_less(&e, &s->heap[p]))
            break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
    return 0;
}

static event heap_pop(weft_sim *s)
{
    event top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && ev_less(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!ev_less(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n)
        s->heap[i] = last;
    return top;
}

/* ---------------------------------------------------------------------- */
/* Datagram pool                                                          */

static dgram *dgram_get(weft_sim *s, size_t len)
{
    int cls = 0;
    while (cls < SIM_CLASSES - 1 &&
           ((size_t)1 << (cls + SIM_CLASS_MIN_SHIFT)) < len)
        cls++;
    dgram *d = s->free_list[cls];
    if (d) {
        s->free_list[cls] = d->next;
    } else {
        d = weft__alloc(NULL, sizeof *d +
                                  ((size_t)1 << (cls + SIM_CLASS_MIN_SHIFT)));
        if (!d)
            return NULL;
        d->cls = (uint8_t)cls;
    }
    d->len = (uint32_t)len;
    return d;
}

static void dgram_put(weft_sim *s, dgram *d)
{
    if (--d->refs)
        return;
    d->next = s->free_list[d->cls];
    s->free_list[d->cls] = d;
}

/* ---------------------------------------------------------------------- */
/* Sparse per-link map                                                    */

static uint64_t pair_key(int a, int b)
{
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

static size_t pair_slot(uint64_t key, size_t cap)
{
    uint64_t x = key;
    return (size_t)(splitmix64(&x) & (cap - 1));
}

static pair *pair_find(const weft_sim *s, int a, int b)
{
    if (!s->pairs_n)
        return NULL;
    uint64_t key = pair_key(a, b);
    for (size_t i = pair_slot(key, s->pairs_cap);; i = (i + 1) & (s->pairs_cap - 1)) {
        if (s->pairs[i].key == key)
            return &s->pairs[i];
        if (!s->pairs[i].key)
            return NULL;
    }
}

/* Finds or creates the state of link a -> b.  NULL on NOMEM.  Invalidates
 * earlier pair pointers when the table grows. */
static pair *pair_get(weft_sim *s, int a, int b)
{
    pair *p = pair_find(s, a, b);
    if (p)
        return p;
    if ((s->pairs_n + 1) * 10 > s->pairs_cap * 7) {
        size_t nc = s->pairs_cap ? s->pairs_cap * 2 : 64;
        pair *np = weft__calloc(NULL, nc * sizeof *np);
        if (!np)
            return NULL;
        for (size_t i = 0; i < s->pairs_cap; i++) {
            if (!s->pairs[i].key)
                continue;
            size_t j = pair_slot(s->pairs[i].key, nc);
            while (np[j].key)
                j = (j + 1) & (nc - 1);
            np[j] = s->pairs[i];
        }
        weft__free(NULL, s->pairs);
        s->pairs = np;
        s->pairs_cap = nc;
    }
    uint64_t key = pair_key(a, b);
    size_t i = pair_slot(key, s->pairs_cap);
    while (s->pairs[i].key)
        i = (i + 1) & (s->pairs_cap - 1);
    memset(&s->pairs[i], 0, sizeof s->pairs[i]);
    s->pairs[i].key = key;
    s->pairs_n++;
    return &s->pairs[i];
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                              */

void weft_sim_link_default(weft_sim_link *l)
{
    memset(l, 0, sizeof *l);
    l->latency_us = 1000;
    l->queue_bytes_max = 1u << 20;
}

int weft_sim_new(weft_sim **out, uint64_t seed, const weft_sim_link *link)
{
    if (!out)
        return WEFT_ERR_INVAL;
    *out = NULL;
    weft_sim *s = weft__calloc(NULL, sizeof *s);
    if (!s)
        return WEFT_ERR_NOMEM;
    s->buf = weft__alloc(NULL, SIM_DGRAM_MAX);
    if (!s->buf) {
        weft__free(NULL, s);
        return WEFT_ERR_NOMEM;
    }
    s->seed = seed;
    xoshiro_seed(s->net, seed);
    xoshiro_seed(s->user, seed ^ 0x5ca1ab1e0ddba11ull);
    if (link)
        s->deflink = *link;
    else
        weft_sim_link_default(&s->deflink);
    s->trace = 0xcbf29ce484222325ull; /* FNV-1a 64 offset basis */
    *out = s;
    return 0;
}

void weft_sim_del(weft_sim *s)
{
    if (!s)
        return;
    /* In-flight datagrams are owned by heap entries. */
    for (size_t i = 0; i < s->heap_n; i++)
        if (s->heap[i].d)
            dgram_put(s, s->heap[i].d);
    for (int c = 0; c < SIM_CLASSES; c++) {
        dgram *d = s->free_list[c];
        while (d) {
            dgram *nx = d->next;
            weft__free(NULL, d);
            d = nx;
        }
    }
    for (int i = 0; i < s->n; i++)
        weft__free(NULL, s->nodes[i]);
    weft__free(NULL, s->nodes);
    weft__free(NULL, s->heap);
    weft__free(NULL, s->pairs);
    weft__free(NULL, s->buf);
    weft__free(NULL, s);
}

/* ---------------------------------------------------------------------- */
/* Nodes and addresses                                                    */

static void make_addr(weft_addr *a, int i)
{
    uint32_t v = (uint32_t)i + 1;
    memset(a, 0, sizeof *a);
    a->family = 4;
    a->port = SIM_PORT;
    a->ip[0] = 10;
    a->ip[1] = (uint8_t)(v >> 16);
    a->ip[2] = (uint8_t)(v >> 8);
    a->ip[3] = (uint8_t)v;
}

int weft_sim_find(const weft_sim *s, const weft_addr *addr)
{
    if (!addr || addr->family != 4 || addr->port != SIM_PORT || addr->ip[0] != 10)
        return -1;
    uint32_t v = ((uint32_t)addr->ip[1] << 16) | ((uint32_t)addr->ip[2] << 8) |
                 addr->ip[3];
    if (v == 0 || v > (uint32_t)s->n)
        return -1;
    return (int)(v - 1);
}

static int valid(const weft_sim *s, int i)
{
    return s && i >= 0 && i < s->n;
}

int weft_sim_add_node(weft_sim *s, const weft_sim_node_ops *ops, void *node,
                      weft_addr *addr)
{
    if (!s || !ops || !ops->recv || !ops->write || !ops->expiry ||
        !ops->handle_expiry)
        return WEFT_ERR_INVAL;
    if (s->n >= SIM_NODES_MAX)
        return WEFT_ERR_LIMIT;
    if (s->n == s->cap) {
        int nc = s->cap ? s->cap * 2 : 64;
        simnode **nn = weft__realloc(NULL, s->nodes, (size_t)nc * sizeof *nn);
        if (!nn)
            return WEFT_ERR_NOMEM;
        s->nodes = nn;
        s->cap = nc;
    }
    /* Individually allocated: weft_sim_rand() hands out &rng, which must not
     * move when the array grows. */
    simnode *sn = weft__calloc(NULL, sizeof *sn);
    if (!sn)
        return WEFT_ERR_NOMEM;
    int i = s->n++;
    s->nodes[i] = sn;
    sn->ops = ops;
    sn->node = node;
    sn->up = 1;
    sn->timer_at_us = UINT64_MAX;
    make_addr(&sn->addr, i);
    /* The node's stream depends on (seed, i) only. */
    uint64_t x = s->seed ^ 0x6a09e667f3bcc909ull;
    uint64_t y = (uint64_t)i * 0x9e3779b97f4a7c15ull + 0xbb67ae8584caa73bull;
    sn->rng.x = splitmix64(&x) ^ splitmix64(&y);
    if (addr)
        *addr = sn->addr;
    return i;
}

const weft_addr *weft_sim_addr(const weft_sim *s, int i)
{
    return valid(s, i) ? &s->nodes[i]->addr : NULL;
}

void *weft_sim_node(const weft_sim *s, int i)
{
    return valid(s, i) ? s->nodes[i]->node : NULL;
}

int weft_sim_node_count(const weft_sim *s)
{
    return s ? s->n : 0;
}

weft_rand weft_sim_rand(weft_sim *s, int i)
{
    weft_rand r = {NULL, NULL};
    if (valid(s, i)) {
        r.ctx = &s->nodes[i]->rng;
        r.fill = node_rng_fill;
    }
    return r;
}

uint64_t weft_sim_random(weft_sim *s)
{
    return xoshiro(s->user);
}

/* ---------------------------------------------------------------------- */
/* Network configuration                                                  */

int weft_sim_set_link(weft_sim *s, int a, int b, const weft_sim_link *l)
{
    if (!s || !l || (a != -1 && !valid(s, a)) || (b != -1 && !valid(s, b)))
        return WEFT_ERR_INVAL;
    if (a == -1 && b == -1) {
        /* Every link: the default, and no override survives. */
        s->deflink = *l;
        for (size_t i = 0; i < s->pairs_cap; i++)
            s->pairs[i].has_link = 0;
        return 0;
    }
    /* One wildcard side: an override for each existing node. */
    for (int x = (a == -1 ? 0 : a); x <= (a == -1 ? s->n - 1 : a); x++) {
        for (int y = (b == -1 ? 0 : b); y <= (b == -1 ? s->n - 1 : b); y++) {
            pair *p = pair_get(s, x, y);
            if (!p)
                return WEFT_ERR_NOMEM;
            p->link = *l;
            p->has_link = 1;
        }
    }
    return 0;
}

int weft_sim_block(weft_sim *s, int a, int b, int blocked)
{
    if (!valid(s, a) || !valid(s, b))
        return WEFT_ERR_INVAL;
    pair *p = blocked ? pair_get(s, a, b) : pair_find(s, a, b);
    if (!p)
        return blocked ? WEFT_ERR_NOMEM : 0;
    p->blocked = blocked ? 1 : 0;
    return 0;
}

int weft_sim_set_group(weft_sim *s, int i, int g)
{
    if (!valid(s, i))
        return WEFT_ERR_INVAL;
    s->nodes[i]->group = g;
    return 0;
}

void weft_sim_heal(weft_sim *s)
{
    for (int i = 0; i < s->n; i++)
        s->nodes[i]->group = 0;
}

/* 1 when a datagram from a to b must not pass now (block or partition). */
static int cut(const weft_sim *s, int a, int b, const pair *p)
{
    if (s->nodes[a]->group != s->nodes[b]->group)
        return 1;
    return p && p->blocked;
}

/* ---------------------------------------------------------------------- */
/* The link model                                                         */

/*
 * Routes one datagram written by node `from` at s->now_us.  Order of the
 * model: reachability (block, partition, crashed destination), then the
 * sender's bandwidth queue (drop tail when queue_bytes_max would be
 * exceeded; otherwise a serialisation delay after what is queued), then
 * loss, duplication, and per copy latency + jitter + optional reorder
 * delay.  The network PRNG is drawn only for knobs that are non-zero, so a
 * run's draws depend only on the seed and the configuration.
 */
static void route(weft_sim *s, int from, const weft_addr *to_addr,
                  const uint8_t *pkt, size_t len)
{
    s->st.sent++;
    int to = weft_sim_find(s, to_addr);
    if (to < 0) {
        s->st.unroutable++;
        return;
    }
    pair *p = pair_find(s, from, to);
    const weft_sim_link *l = p && p->has_link ? &p->link : &s->deflink;
    if (cut(s, from, to, p)) {
        s->st.partition_drops++;
        return;
    }
    if (!s->nodes[to]->up) {
        s->st.crashed_drops++;
        return;
    }
    uint64_t base = s->now_us;
    if (l->bandwidth_bps) {
        weft_sim_link lc = *l; /* pair_get may move *l */
        p = pair_get(s, from, to);
        if (!p) {
            s->st.queue_drops++;
            return;
        }
        uint64_t start = p->busy_until_us > base ? p->busy_until_us : base;
        double queued = (double)(start - base) * (double)lc.bandwidth_bps / 8e6;
        if (queued + (double)len > (double)lc.queue_bytes_max) {
            s->st.queue_drops++;
            return;
        }
        uint64_t ser = ((uint64_t)len * 8000000u + lc.bandwidth_bps - 1) /
                       lc.bandwidth_bps;
        p->busy_until_us = start + ser;
        base = p->busy_until_us;
        l = p->has_link ? &p->link : &s->deflink;
    }
    if (l->loss > 0 && net_unit(s) < l->loss) {
        s->st.lost++;
        return;
    }
    int copies = 1;
    if (l->dup > 0 && net_unit(s) < l->dup) {
        copies = 2;
        s->st.duplicated++;
    }
    if (s->heap_n + (size_t)copies > SIM_EVENTS_MAX) {
        s->st.queue_drops++;
        return;
    }
    dgram *d = dgram_get(s, len);
    if (!d) {
        s->st.queue_drops++;
        return;
    }
    memcpy(d->data, pkt, len);
    d->from = from;
    d->refs = (uint16_t)copies;
    for (int c = 0; c < copies; c++) {
        uint64_t t = base + l->latency_us;
        if (l->jitter_us)
            t += net_upto(s, l->jitter_us);
        if (l->reorder > 0 && net_unit(s) < l->reorder) {
            t += net_upto(s, 4 * l->latency_us);
            s->st.reordered++;
        }
        if (heap_push(s, t, d, (uint32_t)to, s->nodes[to]->incarnation)) {
            s->st.queue_drops++;
            dgram_put(s, d);
        }
    }
}

static void note_err(weft_sim *s, int rc)
{
    if (rc <= WEFT_ERR_FATAL && !s->err)
        s->err = rc;
}

/*
 * After any call into node i: drain write() until it returns 0, routing
 * each datagram, then re-read expiry() and reschedule the node's timer
 * if the deadline changed.  A deadline in the past fires at now.
 */
static void after_call(weft_sim *s, int i)
{
    simnode *sn = s->nodes[i];
    uint32_t k;
    for (k = 0; k < SIM_DRAIN_MAX; k++) {
        weft_addr to;
        memset(&to, 0, sizeof to);
        ptrdiff_t n = sn->ops->write(sn->node, &to, s->buf, SIM_DGRAM_MAX,
                                     s->now_us);
        if (n <= 0) {
            if (n < 0)
                note_err(s, (int)n);
            break;
        }
        route(s, i, &to, s->buf, (size_t)(n > SIM_DGRAM_MAX ? SIM_DGRAM_MAX : n));
    }
    if (k == SIM_DRAIN_MAX && !s->err)
        s->err = WEFT_ERR_INTERNAL; /* a node that never stops writing */
    if (!sn->up)
        return;
    uint64_t exp = sn->ops->expiry(sn->node);
    if (exp == sn->timer_at_us)
        return;
    sn->timer_gen++;
    sn->timer_at_us = exp;
    if (exp != UINT64_MAX &&
        heap_push(s, exp > s->now_us ? exp : s->now_us, NULL, (uint32_t)i,
                  sn->timer_gen) &&
        !s->err)
        s->err = WEFT_ERR_NOMEM; /* a lost timer would stall the node */
}

void weft_sim_poke(weft_sim *s, int i)
{
    if (!valid(s, i) || !s->nodes[i]->up)
        return;
    after_call(s, i);
}

/* ---------------------------------------------------------------------- */
/* Crash and restart                                                      */

int weft_sim_crash(weft_sim *s, int i)
{
    if (!valid(s, i))
        return WEFT_ERR_INVAL;
    simnode *sn = s->nodes[i];
    if (!sn->up)
        return WEFT_ERR_STATE;
    sn->up = 0;
    sn->incarnation++;  /* in-flight deliveries to it become stale */
    sn->timer_gen++;    /* and so does its timer */
    sn->timer_at_us = UINT64_MAX;
    return 0;
}

int weft_sim_restart(weft_sim *s, int i, const weft_sim_node_ops *ops,
                     void *node)
{
    if (!valid(s, i) || !ops)
        return WEFT_ERR_INVAL;
    simnode *sn = s->nodes[i];
    if (sn->up)
        return WEFT_ERR_STATE;
    sn->ops = ops;
    sn->node = node;
    sn->up = 1;
    sn->spins = 0;
    after_call(s, i);
    return 0;
}

int weft_sim_is_up(const weft_sim *s, int i)
{
    return valid(s, i) && s->nodes[i]->up;
}

/* ---------------------------------------------------------------------- */
/* Running                                                                */

uint64_t weft_sim_now(const weft_sim *s)
{
    return s->now_us;
}

static void trace_bytes(weft_sim *s, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = s->trace;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull; /* FNV-1a 64 prime */
    }
    s->trace = h;
}

static void trace_u64(weft_sim *s, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    trace_bytes(s, b, (size_t)bytes);
}

/* Processes e (already popped).  Returns 1 when it was a live event. */
static int process(weft_sim *s, const event *e)
{
    simnode *sn = s->nodes[e->node];
    if (!e->d) {
        /* Timer: stale entries (rescheduled or crashed) are skipped. */
        if (!sn->up || e->aux != sn->timer_gen)
            return 0;
        s->now_us = e->t_us;
        s->st.events++;
        if (sn->spin_at_us == e->t_us) {
            if (++sn->spins > SIM_SPIN_MAX && !s->err)
                s->err = WEFT_ERR_INTERNAL; /* deadline never moves on */
        } else {
            sn->spin_at_us = e->t_us;
            sn->spins = 0;
        }
        sn->timer_at_us = UINT64_MAX; /* consumed */
        note_err(s, sn->ops->handle_expiry(sn->node, s->now_us));
        after_call(s, (int)e->node);
        return 1;
    }
    dgram *d = e->d;
    s->now_us = e->t_us;
    s->st.events++;
    if (!sn->up || e->aux != sn->incarnation) {
        s->st.crashed_drops++;
    } else if (cut(s, d->from, (int)e->node, pair_find(s, d->from, (int)e->node))) {
        s->st.partition_drops++; /* the cut went up while in flight */
    } else {
        s->st.delivered++;
        trace_u64(s, e->t_us, 8);
        trace_u64(s, (uint32_t)d->from, 4);
        trace_u64(s, e->node, 4);
        trace_u64(s, d->len, 4);
        trace_bytes(s, d->data, d->len);
        note_err(s, sn->ops->recv(sn->node, &s->nodes[d->from]->addr, d->data,
                                  d->len, s->now_us));
        after_call(s, (int)e->node);
    }
    dgram_put(s, d);
    return 1;
}

int weft_sim_step(weft_sim *s)
{
    if (s->err)
        return s->err;
    while (s->heap_n) {
        event e = heap_pop(s);
        if (process(s, &e))
            return s->err ? s->err : 1;
    }
    return 0;
}

int64_t weft_sim_run_until(weft_sim *s, uint64_t t_us)
{
    int64_t n = 0;
    if (s->err)
        return s->err;
    while (s->heap_n && s->heap[0].t_us <= t_us) {
        event e = heap_pop(s);
        n += process(s, &e);
        if (s->err)
            return s->err;
    }
    if (t_us != UINT64_MAX && t_us > s->now_us)
        s->now_us = t_us;
    return n;
}

void weft_sim_get_stats(const weft_sim *s, weft_sim_stats *st)
{
    *st = s->st;
}

uint64_t weft_sim_trace_hash(const weft_sim *s)
{
    return s->trace;
}
