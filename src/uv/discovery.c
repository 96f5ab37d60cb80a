/*
 * discovery.c -- LAN beacon sockets for weftd (see include/weft/discovery.h
 * and docs/DISCOVERY.md).  The codec is sans-IO (src/core/beacon.c); this
 * file only owns sockets, a timer and a small de-duplication table.
 *
 * Per named interface it opens at most two UDP sockets on the beacon port:
 * an IPv4 one (broadcast to the interface's broadcast address, multicast
 * 239.255.77.77) and an IPv6 one (multicast ff02::7765, link-local scope).
 * Each is tied to its interface with SO_BINDTODEVICE when the process may
 * (root or CAP_NET_RAW); otherwise IP_PKTINFO / IPV6_RECVPKTINFO tell
 * which interface a datagram came in on and others are dropped, and
 * IP_MULTICAST_IF / IPV6_MULTICAST_IF pick the outgoing interface.
 * Multicast TTL / hop limit is 1: beacons never leave the link.
 *
 * Sockets are read with uv_poll and recvmsg(2) because libuv's uv_udp does
 * not report the arrival interface.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "membership/beacon.h"
#include "weft/discovery.h"

#define DEDUP_MAX 256       /* nodes remembered for de-duplication */
#define RECV_BATCH_MAX 64   /* datagrams per readable callback */
#define MCAST4 "239.255.77.77"
#define MCAST6 "ff02::7765"

typedef struct bsock {
    struct weft_discovery *d;
    uv_poll_t poll;
    int fd;
    int family;             /* 4 or 6 */
    unsigned ifindex;
    int bound_dev;          /* SO_BINDTODEVICE took */
    int can_bcast, can_mcast;
    struct sockaddr_in bcast; /* IPv4 broadcast destination */
    const char *iface;
} bsock;

typedef struct dedup {
    weft_node_id id;
    uint64_t seq;
    uint64_t join_ms;       /* 0 = never joined */
    uint64_t seen_ms;
} dedup;

struct weft_discovery {
    uv_loop_t *loop;
    weft_uv_node *node;
    weft_discovery_config cfg;
    const weft_crypto *cr;
    uint8_t sk[64];
    weft_node_id self;
    uint8_t mesh_id[WEFT__MESH_ID_BYTES];
    bsock socks[2 * WEFT_DISC_IFACES_MAX];
    size_t nsocks;
    uv_timer_t timer;
    int open_handles;
    int closing;
    uint64_t seq_last;
    uint64_t rng;
    dedup table[DEDUP_MAX];
    size_t ntable;
    weft_discovery_stats st;
};

static char last_err[256];

const char *weft_discovery_last_error(void) { return last_err; }

static uint64_t mono_ms(void) { return uv_hrtime() / 1000000u; }

static uint64_t wall_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

/* ---------------------------------------------------------------------- */
/* Receiving                                                               */

static dedup *table_get(weft_discovery *d, const weft_node_id *id, uint64_t now)
{
    dedup *oldest = NULL;
    for (size_t i = 0; i < d->ntable; i++) {
        if (!memcmp(d->table[i].id.key, id->key, WEFT_ID_BYTES))
            return &d->table[i];
        if (!oldest || d->table[i].seen_ms < oldest->seen_ms)
            oldest = &d->table[i];
    }
    dedup *e;
    if (d->ntable < DEDUP_MAX) {
        e = &d->table[d->ntable++];
    } else {
        e = oldest; /* cap reached: forget the longest-silent node */
        d->st.table_evictions++;
    }
    memset(e, 0, sizeof *e);
    e->id = *id;
    e->seen_ms = now;
    return e;
}

static int addr_unspecified(const weft_addr *a)
{
    static const uint8_t z[16];
    return !memcmp(a->ip, z, a->family == 4 ? 4 : 16);
}

/* Picks the advertised address to join: the first of a family we have a
 * listen socket for.  Link-local IPv6 gets the arrival interface as scope;
 * an unspecified IP is replaced by the beacon's source. */
static int pick_addr(weft_discovery *d, const weft__beacon *b, const bsock *s,
                     const weft_addr *src, weft_addr *out)
{
    int have4 = 0, have6 = 0;
    for (size_t i = 0; i < weft_uv_node_listen_count(d->node); i++) {
        weft_addr a;
        if (weft_uv_node_local_addr(d->node, i, &a) == 0) {
            have4 |= a.family == 4;
            have6 |= a.family == 6;
        }
    }
    for (size_t i = 0; i < b->naddrs; i++) {
        weft_addr a = b->addrs[i];
        if ((a.family == 4 && !have4) || (a.family == 6 && !have6))
            continue;
        if (addr_unspecified(&a)) {
            if (src->family != a.family)
                continue;
            memcpy(a.ip, src->ip, 16);
        }
        if (a.family == 6 && a.ip[0] == 0xfe && (a.ip[1] & 0xc0) == 0x80)
            a.scope = s->ifindex;
        *out = a;
        return 0;
    }
    return -1;
}

static void on_beacon(weft_discovery *d, bsock *s, const uint8_t *buf, size_t len,
                      const weft_addr *src)
{
    weft__beacon b;
    d->st.beacons_received++;
    int rc = weft__beacon_decode(d->cr, buf, len, d->mesh_id, &b);
    if (rc == WEFT_ERR_WRONG_MESH) {
        d->st.beacons_other_mesh++;
        return;
    }
    if (rc == WEFT_ERR_BAD_SIGNATURE) {
        d->st.beacons_bad_sig++;
        return;
    }
    if (rc != 0) {
        d->st.beacons_malformed++;
        return;
    }
    if (!memcmp(b.id.key, d->self.key, WEFT_ID_BYTES)) {
        d->st.beacons_own++;
        return;
    }
    uint64_t now = mono_ms();
    dedup *e = table_get(d, &b.id, now);
    e->seen_ms = now;
    /* The same beacon arrives once per interface and family: only the
     * first copy (by seq) counts.  A restarted node's wall-clock seq is
     * higher than its previous life's. */
    if (e->seq && b.seq <= e->seq) {
        d->st.beacons_dup++;
        return;
    }
    e->seq = b.seq;
    weft_engine *eng = weft_uv_node_engine(d->node);
    weft_member m;
    if (weft_membership_find(eng, &b.id, &m) == 0 &&
        (m.state == WEFT_MEMBER_ALIVE || m.state == WEFT_MEMBER_SUSPECT)) {
        d->st.beacons_known++;
        return;
    }
    if (e->join_ms && now - e->join_ms < d->cfg.dedup_ms) {
        d->st.beacons_dup++;
        return;
    }
    weft_addr to;
    if (pick_addr(d, &b, s, src, &to) != 0) {
        d->st.join_errors++;
        return;
    }
    e->join_ms = now;
    rc = weft_membership_join(eng, &to, uv_hrtime() / 1000u);
    weft_uv_node_flush(d->node);
    if (rc == 0)
        d->st.joins++;
    else
        d->st.join_errors++;
    if (d->cfg.on_join)
        d->cfg.on_join(d, &b.id, &to, s->iface, rc, d->cfg.ud);
}

static void on_readable(uv_poll_t *p, int status, int events)
{
    bsock *s = p->data;
    weft_discovery *d = s->d;
    if (status < 0 || d->closing)
        return;
    for (int n = 0; n < RECV_BATCH_MAX; n++) {
        uint8_t buf[WEFT__BEACON_BYTES_MAX + 1];
        struct sockaddr_storage from;
        char ctl[256];
        struct iovec iov = {buf, sizeof buf};
        struct msghdr mh = {.msg_name = &from, .msg_namelen = sizeof from,
                            .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = ctl, .msg_controllen = sizeof ctl};
        ssize_t r = recvmsg(s->fd, &mh, MSG_DONTWAIT);
        if (r < 0)
            break; /* EAGAIN: drained; other errors: next readable */
        unsigned ifindex = 0;
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo pi;
                memcpy(&pi, CMSG_DATA(cm), sizeof pi);
                ifindex = (unsigned)pi.ipi_ifindex;
            } else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
                struct in6_pktinfo pi;
                memcpy(&pi, CMSG_DATA(cm), sizeof pi);
                ifindex = pi.ipi6_ifindex;
            }
        }
        if (!s->bound_dev && ifindex && ifindex != s->ifindex) {
            d->st.beacons_wrong_iface++;
            continue;
        }
        weft_addr src;
        if (weft_uv_addr_from_sockaddr(&src, (struct sockaddr *)&from) != 0)
            continue;
        if ((mh.msg_flags & MSG_TRUNC) || (size_t)r > WEFT__BEACON_BYTES_MAX) {
            d->st.beacons_received++;
            d->st.beacons_malformed++;
            continue;
        }
        on_beacon(d, s, buf, (size_t)r, &src);
    }
    (void)events;
}

/* ---------------------------------------------------------------------- */
/* Sending                                                                 */

static void send_to(weft_discovery *d, bsock *s, const uint8_t *buf, size_t len,
                    const struct sockaddr *to, socklen_t tolen)
{
    if (sendto(s->fd, buf, len, MSG_DONTWAIT, to, tolen) == (ssize_t)len)
        d->st.beacons_sent++;
    else
        d->st.send_errors++;
}

static void send_all(weft_discovery *d)
{
    weft__beacon b;
    memset(&b, 0, sizeof b);
    memcpy(b.mesh_id, d->mesh_id, sizeof b.mesh_id);
    b.id = d->self;
    uint64_t seq = wall_ms();
    b.seq = seq > d->seq_last ? seq : d->seq_last + 1; /* clock steps back */
    d->seq_last = b.seq;
    b.naddrs = d->cfg.advertise_count;
    memcpy(b.addrs, d->cfg.advertise, b.naddrs * sizeof b.addrs[0]);
    uint8_t buf[WEFT__BEACON_BYTES_MAX];
    ptrdiff_t n = weft__beacon_encode(d->cr, &b, d->sk, buf, sizeof buf);
    if (n <= 0) {
        d->st.send_errors++;
        return;
    }
    for (size_t i = 0; i < d->nsocks; i++) {
        bsock *s = &d->socks[i];
        if (s->family == 4) {
            if (s->can_bcast)
                send_to(d, s, buf, (size_t)n, (struct sockaddr *)&s->bcast, sizeof s->bcast);
            if (s->can_mcast) {
                struct sockaddr_in m = {.sin_family = AF_INET, .sin_port = htons(d->cfg.port)};
                inet_pton(AF_INET, MCAST4, &m.sin_addr);
                send_to(d, s, buf, (size_t)n, (struct sockaddr *)&m, sizeof m);
            }
        } else if (s->can_mcast) {
            struct sockaddr_in6 m = {.sin6_family = AF_INET6, .sin6_port = htons(d->cfg.port),
                                     .sin6_scope_id = s->ifindex};
            inet_pton(AF_INET6, MCAST6, &m.sin6_addr);
            send_to(d, s, buf, (size_t)n, (struct sockaddr *)&m, sizeof m);
        }
    }
}

static void on_timer(uv_timer_t *t)
{
    weft_discovery *d = t->data;
    if (d->closing)
        return;
    send_all(d);
    /* +-20% jitter so beacons of nodes started together drift apart */
    d->rng = d->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t span = d->cfg.interval_ms * 2 / 5 + 1;
    uint64_t next = d->cfg.interval_ms - d->cfg.interval_ms / 5 + (d->rng >> 33) % span;
    uv_timer_start(&d->timer, on_timer, next, 0);
}

/* ---------------------------------------------------------------------- */
/* Set-up and tear-down                                                    */

static int seterr(const char *what, const char *iface)
{
    snprintf(last_err, sizeof last_err, "%s %s: %s", what, iface, strerror(errno));
    return -1;
}

/* Finds the IPv4 broadcast address of iface: the top of its subnet (for
 * loopback 127.255.255.255, which the local routing table delivers to
 * every socket on the host). */
static int iface_bcast(const char *iface, struct sockaddr_in *out)
{
    struct ifaddrs *ifs, *i;
    int found = 0;
    if (getifaddrs(&ifs) != 0)
        return 0;
    for (i = ifs; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || strcmp(i->ifa_name, iface))
            continue;
        /* The configured broadcast address is not trusted: `ip addr add`
         * without `brd +` leaves none, and getifaddrs then reports the
         * local address itself.  The top of the subnet is what we want. */
        if ((i->ifa_flags & (IFF_LOOPBACK | IFF_BROADCAST)) && i->ifa_netmask) {
            struct sockaddr_in a, m;
            memcpy(&a, i->ifa_addr, sizeof a);
            memcpy(&m, i->ifa_netmask, sizeof m);
            memset(out, 0, sizeof *out);
            out->sin_family = AF_INET;
            out->sin_addr.s_addr = m.sin_addr.s_addr == 0xffffffffu
                                       ? 0xffffffffu /* /32: limited broadcast */
                                       : a.sin_addr.s_addr | ~m.sin_addr.s_addr;
            found = 1;
        }
    }
    freeifaddrs(ifs);
    return found;
}

static int open_sock(weft_discovery *d, bsock *s, const char *iface, unsigned ifindex,
                     int family)
{
    int one = 1;
    memset(s, 0, sizeof *s);
    s->d = d;
    s->iface = iface;
    s->ifindex = ifindex;
    s->family = family;
    s->fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s->fd < 0)
        return seterr("socket", iface);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    /* Needs CAP_NET_RAW; without it the PKTINFO filter does the job. */
    s->bound_dev = setsockopt(s->fd, SOL_SOCKET, SO_BINDTODEVICE, iface,
                              (socklen_t)strlen(iface) + 1) == 0;
    if (family == 4) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(d->cfg.port)};
        setsockopt(s->fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0)
            return seterr("bind IPv4 beacon port on", iface);
        if ((d->cfg.modes & WEFT_DISC_V4_BROADCAST) && iface_bcast(iface, &s->bcast) &&
            setsockopt(s->fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) == 0) {
            s->bcast.sin_port = htons(d->cfg.port);
            s->can_bcast = 1;
        }
        if (d->cfg.modes & WEFT_DISC_V4_MULTICAST) {
            struct ip_mreqn mr = {.imr_ifindex = (int)ifindex};
            unsigned char ttl = 1, loop = 1;
            inet_pton(AF_INET, MCAST4, &mr.imr_multiaddr);
            s->can_mcast =
                setsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr) == 0 &&
                setsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) == 0 &&
                setsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_LOOP, &loop, sizeof loop) == 0 &&
                setsockopt(s->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr) == 0;
        }
        if (!s->can_bcast && !s->can_mcast) {
            errno = EADDRNOTAVAIL;
            return seterr("no IPv4 broadcast or multicast on", iface);
        }
    } else {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(d->cfg.port)};
        int hops = 1;
        setsockopt(s->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        setsockopt(s->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
        if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0)
            return seterr("bind IPv6 beacon port on", iface);
        struct ipv6_mreq mr = {.ipv6mr_interface = ifindex};
        inet_pton(AF_INET6, MCAST6, &mr.ipv6mr_multiaddr);
        s->can_mcast =
            setsockopt(s->fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof ifindex) == 0 &&
            setsockopt(s->fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) == 0 &&
            setsockopt(s->fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one, sizeof one) == 0 &&
            setsockopt(s->fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mr, sizeof mr) == 0;
        if (!s->can_mcast) {
            errno = errno ? errno : EADDRNOTAVAIL;
            return seterr("no IPv6 multicast on", iface);
        }
    }
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    weft_discovery *d = h->data;
    if (h->type == UV_POLL) {
        bsock *s = ((uv_poll_t *)h)->data;
        d = s->d;
        close(s->fd);
        s->fd = -1;
    }
    if (--d->open_handles == 0) {
        d->cr->wipe(d->cr->ctx, d->sk, sizeof d->sk);
        free(d);
    }
}

int weft_discovery_new(weft_discovery **out, uv_loop_t *loop, weft_uv_node *node,
                       const weft_discovery_config *cfg,
                       const uint8_t identity_secret[64], const uint8_t network_key[32])
{
    last_err[0] = 0;
    if (!out || !loop || !node || !cfg || !identity_secret || !network_key ||
        cfg->iface_count == 0 || cfg->iface_count > WEFT_DISC_IFACES_MAX ||
        cfg->advertise_count == 0 || cfg->advertise_count > WEFT_DISC_ADDRS_MAX)
        return WEFT_ERR_INVAL;
    weft_discovery *d = calloc(1, sizeof *d);
    if (!d)
        return WEFT_ERR_NOMEM;
    d->loop = loop;
    d->node = node;
    d->cfg = *cfg;
    if (!d->cfg.port) d->cfg.port = WEFT_DISC_PORT_DEFAULT;
    if (!d->cfg.modes) d->cfg.modes = WEFT_DISC_ALL;
    if (!d->cfg.interval_ms) d->cfg.interval_ms = 1000;
    if (!d->cfg.dedup_ms) d->cfg.dedup_ms = 5000;
    d->cr = weft_crypto_sodium();
    memcpy(d->sk, identity_secret, 64);
    d->self = *weft_engine_id(weft_uv_node_engine(node));
    weft__beacon_mesh_id(d->cr, network_key, d->mesh_id);
    d->rng = uv_hrtime() ^ (uint64_t)getpid() << 32;
    int rc = 0;
    for (size_t i = 0; i < d->cfg.iface_count && rc == 0; i++) {
        const char *ifn = d->cfg.ifaces[i];
        unsigned idx = if_nametoindex(ifn);
        if (!idx) {
            seterr("no interface", ifn);
            rc = WEFT_ERR_IO;
            break;
        }
        int opened = 0;
        for (int fam = 4; fam <= 6; fam += 2) {
            if (fam == 4 && !(d->cfg.modes & (WEFT_DISC_V4_BROADCAST | WEFT_DISC_V4_MULTICAST)))
                continue;
            if (fam == 6 && !(d->cfg.modes & WEFT_DISC_V6_MULTICAST))
                continue;
            bsock *s = &d->socks[d->nsocks];
            errno = 0;
            if (open_sock(d, s, d->cfg.ifaces[i], idx, fam) != 0) {
                if (s->fd >= 0)
                    close(s->fd);
                continue; /* this family is not possible here; last_err says why */
            }
            d->nsocks++;
            opened++;
        }
        if (!opened)
            rc = WEFT_ERR_IO;
    }
    if (rc != 0) {
        for (size_t i = 0; i < d->nsocks; i++)
            close(d->socks[i].fd);
        d->cr->wipe(d->cr->ctx, d->sk, sizeof d->sk);
        free(d);
        return rc;
    }
    last_err[0] = 0;
    for (size_t i = 0; i < d->nsocks; i++) {
        bsock *s = &d->socks[i];
        uv_poll_init_socket(loop, &s->poll, s->fd);
        s->poll.data = s;
        d->open_handles++;
        uv_poll_start(&s->poll, UV_READABLE, on_readable);
    }
    uv_timer_init(loop, &d->timer);
    d->timer.data = d;
    d->open_handles++;
    uv_timer_start(&d->timer, on_timer, 0, 0); /* one beacon right away */
    d->st.sockets = (uint32_t)d->nsocks;
    *out = d;
    return 0;
}

void weft_discovery_close(weft_discovery *d)
{
    if (!d || d->closing)
        return;
    d->closing = 1;
    for (size_t i = 0; i < d->nsocks; i++) {
        uv_poll_stop(&d->socks[i].poll);
        uv_close((uv_handle_t *)&d->socks[i].poll, on_closed);
    }
    uv_timer_stop(&d->timer);
    uv_close((uv_handle_t *)&d->timer, on_closed);
}

void weft_discovery_get_stats(const weft_discovery *d, weft_discovery_stats *st)
{
    *st = d->st;
}
