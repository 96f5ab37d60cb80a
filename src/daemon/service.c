/*
 * service.c -- the node weftd runs (service.h).
 *
 * One weft_uv_node on the --listen sockets; the --peer addresses it keeps
 * dialling (500 ms doubling to 30 s while unanswered, reset once a session
 * is up, again after a peer-down); membership joined through those peers,
 * the --peers-file (re-read when it changes) and LAN beacons; and one log
 * line per event, after which the event goes to the watchers (the control
 * socket's monitors and waiters).
 *
 * This file is the only one in weftd that calls the engine and driver API
 * (weft_engine_*, weft_uv_*, weft_discovery_*).  It keeps its own list of
 * established peers from PEER_UP/PEER_DOWN events rather than asking the
 * driver for one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"
#include "service.h"
#include "text.h"
#include "weft/crypto.h"
#include "weft/discovery.h"
#include "weft/uv.h"

#define RETRY_MS_MIN 500
#define RETRY_MS_MAX 30000
#define ATTEMPT_MS_MAX 30000      /* an attempt without any outcome is retried */
#define TICK_MS 100
#define PEERS_FILE_MAX 256        /* addresses remembered from --peers-file */
#define PEERS_FILE_CHECK_MS 1000  /* stat interval of --peers-file */
#define PEERS_FILE_BYTES_MAX (1u << 20)
#define LEAVE_GRACE_MS 300        /* time the leave gets to go out */
#define WATCHERS_MAX 64           /* monitors and waiters of the front ends */
#define DUP_NAME_WARNED_MAX 16    /* members warned about for sharing our name */

typedef struct boot_peer {
    const char *spec; /* as given (points into the options) */
    weft_addr addr;   /* resolved once at start */
    int up;           /* a session with that address is established */
    int trying;       /* an attempt is in flight */
    uint64_t next_ms, attempt_ms;
    uint32_t backoff_ms;
} boot_peer;

typedef struct up_peer {
    weft_node_id id;
    weft_addr addr;
} up_peer;

/* One `connect HOST:PORT`: resolving its name, or dialled and waiting for
 * PEER_UP / HANDSHAKE_FAILED at addr when someone waits (fn). */
typedef struct pending_connect {
    struct pending_connect *next;
    service *s;
    uv_getaddrinfo_t req;
    int resolving;
    char spec[OPT_PEER_SPEC_MAX];
    weft_addr addr;       /* family 0 until resolved */
    svc_connect_fn fn;    /* NULL: nobody waits (or cancelled) */
    void *ud;
} pending_connect;

typedef struct watcher {
    svc_watch_fn fn; /* NULL: removed during a dispatch, compacted after */
    void *ud;
} watcher;

struct service {
    uv_loop_t *loop;
    const weftd_options *o;   /* main's; outlives the service */
    weft_uv_node *node;       /* NULL once closed */
    /* kept until service_begin (beacons sign with the identity and derive
     * the mesh id from the network key), then wiped */
    uint8_t identity_secret[64], network_key[32];
    int identity_created;
    uint32_t incarnation;     /* first membership incarnation */
    weft_membership_config mcfg; /* attached when membership is on */
    uint32_t max_message_bytes;
    uint64_t started_ms;
    boot_peer peers[OPT_PEERS_MAX];
    size_t npeers;
    /* established peers, from PEER_UP / PEER_DOWN */
    up_peer *up;
    size_t nup, up_cap;
    /* control `connect`s: resolving, or dialled and awaited */
    pending_connect *pending;
    /* --peers-file: re-read when its inode, size or mtime changes */
    struct stat pf_st;
    int pf_seen;
    uint64_t pf_next_ms;
    weft_addr pf_addrs[PEERS_FILE_MAX];
    size_t pf_n;
    weft_discovery *disc;
    uv_timer_t tick, leave_timer;
    int handles_open;         /* timers + node; freed at 0 after close */
    int closing, leaving;
    void (*leave_done)(void *ud);
    void *leave_ud;
    watcher watchers[WATCHERS_MAX];
    size_t nwatchers;
    int dispatching, watchers_dirty;
    /* members already named in a duplicate-name warning */
    weft_node_id dup_warned[DUP_NAME_WARNED_MAX];
    size_t ndup_warned;
};

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }
static uint64_t now_us(void) { return uv_hrtime() / 1000u; }

static const char *kind_name(uint32_t flags)
{
    switch (flags & WEFT_SEND_KIND_MASK) {
    case WEFT_SEND_UNORDERED: return "unordered";
    case WEFT_SEND_UNRELIABLE: return "unreliable";
    default: return "ordered";
    }
}

/* ---------------------------------------------------------------------- */
/* Established peers and watchers                                          */

static size_t up_find(const service *s, const weft_node_id *id)
{
    for (size_t i = 0; i < s->nup; i++)
        if (!memcmp(&s->up[i].id, id, sizeof *id))
            return i;
    return SIZE_MAX;
}

static void up_add(service *s, const weft_node_id *id, const weft_addr *addr)
{
    size_t i = up_find(s, id);
    if (i != SIZE_MAX) {
        s->up[i].addr = *addr;
        return;
    }
    if (s->nup == s->up_cap) {
        size_t cap = s->up_cap ? s->up_cap * 2 : 16;
        up_peer *p = realloc(s->up, cap * sizeof *p);
        if (!p) {
            log_line(LOG_ERROR, "out-of-memory what=peer-list");
            return;
        }
        s->up = p;
        s->up_cap = cap;
    }
    s->up[s->nup++] = (up_peer){*id, *addr};
}

static void up_remove(service *s, const weft_node_id *id)
{
    size_t i = up_find(s, id);
    if (i != SIZE_MAX)
        s->up[i] = s->up[--s->nup];
}

int service_watch(service *s, svc_watch_fn fn, void *ud)
{
    if (s->nwatchers == WATCHERS_MAX)
        return WEFT_ERR_LIMIT;
    s->watchers[s->nwatchers++] = (watcher){fn, ud};
    return 0;
}

void service_unwatch(service *s, svc_watch_fn fn, void *ud)
{
    for (size_t i = 0; i < s->nwatchers; i++) {
        if (s->watchers[i].fn != fn || s->watchers[i].ud != ud)
            continue;
        if (s->dispatching) {
            s->watchers[i].fn = NULL; /* compacted after the dispatch */
            s->watchers_dirty = 1;
        } else {
            s->watchers[i] = s->watchers[--s->nwatchers];
        }
        return;
    }
}

static void dispatch(service *s, const svc_event *ev)
{
    s->dispatching++;
    /* Watchers added during the dispatch see the next event, not this. */
    size_t n = s->nwatchers;
    for (size_t i = 0; i < n; i++)
        if (s->watchers[i].fn)
            s->watchers[i].fn(s->watchers[i].ud, ev);
    if (--s->dispatching == 0 && s->watchers_dirty) {
        size_t o = 0;
        for (size_t i = 0; i < s->nwatchers; i++)
            if (s->watchers[i].fn)
                s->watchers[o++] = s->watchers[i];
        s->nwatchers = o;
        s->watchers_dirty = 0;
    }
}

/* ---------------------------------------------------------------------- */
/* Events                                                                  */

static boot_peer *peer_by_addr(service *s, const weft_addr *a)
{
    for (size_t i = 0; i < s->npeers; i++)
        if (a->family && weft_addr_eq(&s->peers[i].addr, a))
            return &s->peers[i];
    return NULL;
}

static void retry_later(boot_peer *p)
{
    p->trying = 0;
    p->next_ms = now_ms() + p->backoff_ms;
    p->backoff_ms = p->backoff_ms * 2 > RETRY_MS_MAX ? RETRY_MS_MAX : p->backoff_ms * 2;
}

static void log_message(const weft_event *ev, const char *id, char hh[65])
{
    const uint8_t *data = ev->u.message.data;
    size_t len = ev->u.message.len;
    uint32_t flags = ev->u.message.flags;
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, data, len);
    text_hex(h, sizeof h, hh);
    /* Short printable text is shown (quoted, last on the line) so a human
     * watching the log sees it; anything else only by hash. */
    char text[100] = "";
    int printable = len > 0 && len <= 80;
    for (size_t i = 0; printable && i < len; i++)
        if (data[i] < 0x20 || data[i] > 0x7e || data[i] == '"' || data[i] == '\\')
            printable = 0;
    if (printable)
        snprintf(text, sizeof text, " text=\"%.*s\"", (int)len, (const char *)data);
    char ch[24] = "";
    if (ev->u.message.channel != WEFT_CHANNEL_APP)
        snprintf(ch, sizeof ch, " channel=%u", (unsigned)ev->u.message.channel);
    log_line(LOG_INFO, "message from=%s len=%zu prio=%u kind=%s%s sha256=%s%s", id, len,
             (unsigned)(flags & WEFT_SEND_PRIO_MASK), kind_name(flags), ch, hh, text);
}

/* ---------------------------------------------------------------------- */
/* Control `connect`s                                                      */

static void pending_unlink(service *s, pending_connect *pc)
{
    for (pending_connect **pp = &s->pending; *pp; pp = &(*pp)->next)
        if (*pp == pc) {
            *pp = pc->next;
            return;
        }
}

/* Reports the outcome to whoever waits and forgets the request. */
static void pending_finish(service *s, pending_connect *pc, const svc_connect_result *r)
{
    pending_unlink(s, pc);
    svc_connect_fn fn = pc->fn;
    void *ud = pc->ud;
    free(pc);
    if (fn)
        fn(ud, r);
}

/* A session came up at, or a handshake failed with, an address some
 * `connect` waits for. */
static void connects_settle(service *s, const svc_event *ev)
{
    for (pending_connect *pc = s->pending, *next; pc; pc = next) {
        next = pc->next;
        if (pc->resolving || !weft_addr_eq(&pc->addr, &ev->addr))
            continue;
        char why[200], a[WEFT_ADDR_STRLEN];
        svc_connect_result r = {.rc = ev->type == SVC_EV_PEER_UP ? 0 : ev->error,
                                .id = ev->id, .addr = ev->addr, .why = why};
        text_addr(&ev->addr, a);
        snprintf(why, sizeof why, "the handshake with %s failed: %s (%s)", a,
                 weft_err_name(ev->error),
                 ev->error == WEFT_ERR_UNREACHABLE ? "no answer: is a node listening there, "
                                                     "with the same network key?"
                                                   : weft_strerror(ev->error));
        pending_finish(s, pc, &r);
        next = s->pending; /* the callback may have cancelled others */
    }
}

/*
 * Names are metadata, not identity, so two nodes may carry the same one;
 * but an operator who gave --name meant it to pick one node.  Warn once
 * per member that shows up with our name: `duplicate-name name=X
 * ids=<ours>,<theirs>...` (every live member of that name).
 */
static void duplicate_name_check(service *s, const weft_event *ev)
{
    const char *ours = s->o->name;
    weft_engine *e = weft_uv_node_engine(s->node);
    if (!ours[0] || strncmp(ev->u.member.name, ours, sizeof ev->u.member.name) ||
        !memcmp(&ev->peer, weft_engine_id(e), sizeof ev->peer))
        return;
    for (size_t i = 0; i < s->ndup_warned; i++)
        if (!memcmp(&s->dup_warned[i], &ev->peer, sizeof ev->peer))
            return;
    if (s->ndup_warned < DUP_NAME_WARNED_MAX)
        s->dup_warned[s->ndup_warned++] = ev->peer;
    char ids[DUP_NAME_WARNED_MAX * 18 + 20] = "";
    size_t l = 0, n = weft_membership_count(e), shown = 0;
    for (size_t i = 0; i < n && shown < DUP_NAME_WARNED_MAX; i++) {
        weft_member m;
        if (weft_membership_at(e, i, &m) != 0 || m.name_len != strlen(ours) ||
            memcmp(m.name, ours, m.name_len) ||
            (m.state != WEFT_MEMBER_ALIVE && m.state != WEFT_MEMBER_SUSPECT))
            continue;
        char id[WEFT_ID_SHORT_LEN];
        weft_id_short(&m.id, id);
        l += (size_t)snprintf(ids + l, sizeof ids - l, "%s%s", l ? "," : "", id);
        shown++;
    }
    log_line(LOG_WARN, "duplicate-name name=%s ids=%s (several nodes carry this --name)", ours,
             ids);
}

static void on_event(weft_uv_node *node, const weft_event *ev, void *ud)
{
    service *s = ud;
    char id[WEFT_ID_SHORT_LEN], full[WEFT_ID_HEX_LEN], addr[WEFT_ADDR_STRLEN], sha[65];
    weft_id_short(&ev->peer, id);
    text_addr(&ev->addr, addr);
    boot_peer *p = peer_by_addr(s, &ev->addr);
    svc_event se = {.id = ev->peer, .addr = ev->addr, .error = ev->error,
                    .name = weft_event_name(weft_uv_node_engine(node), ev->type)};
    switch (ev->type) {
    case WEFT_EV_PEER_UP:
        weft_id_hex(&ev->peer, full);
        log_line(LOG_INFO, "peer-up id=%s addr=%s id_full=%s", id, addr, full);
        up_add(s, &ev->peer, &ev->addr);
        if (p) {
            p->up = 1;
            p->trying = 0;
            p->backoff_ms = RETRY_MS_MIN;
        }
        se.type = SVC_EV_PEER_UP;
        break;
    case WEFT_EV_PEER_DOWN:
        log_line(LOG_INFO, "peer-down id=%s addr=%s reason=%s", id, addr, weft_err_name(ev->error));
        up_remove(s, &ev->peer);
        if (p) {
            p->up = 0;
            retry_later(p);
        }
        se.type = SVC_EV_PEER_DOWN;
        break;
    case WEFT_EV_HANDSHAKE_FAILED:
        if (ev->error == WEFT_ERR_WRONG_MESH) {
            /* the engine reports a wrong-key sender once per 10 s per
             * address (and at most 10 a second) */
            weft_stats st;
            weft_engine_stats(weft_uv_node_engine(node), &st);
            log_line(LOG_WARN, "wrong-network-key addr=%s count=%llu (a node there dials us "
                     "with another network key: give it this mesh's key)", addr,
                     (unsigned long long)st.drop_wrong_mesh);
            se.type = SVC_EV_HANDSHAKE_FAILED;
            break;
        }
        log_line(LOG_INFO, "handshake-failed addr=%s reason=%s", addr, weft_err_name(ev->error));
        if (p && !p->up)
            retry_later(p);
        se.type = SVC_EV_HANDSHAKE_FAILED;
        break;
    case WEFT_EV_MESSAGE:
        log_message(ev, id, sha);
        se.sha256_hex = sha;
        se.type = SVC_EV_MESSAGE;
        se.data = ev->u.message.data;
        se.len = ev->u.message.len;
        se.prio = (int)(ev->u.message.flags & WEFT_SEND_PRIO_MASK);
        se.kind = kind_name(ev->u.message.flags);
        break;
    case WEFT_EV_DELIVERED:
        log_line(LOG_INFO, "delivered msg=%llu to=%s", (unsigned long long)ev->u.delivery.msg_id,
                 id);
        se.type = SVC_EV_DELIVERED;
        se.msg_id = ev->u.delivery.msg_id;
        break;
    case WEFT_EV_SEND_FAILED:
        log_line(LOG_WARN, "send-failed msg=%llu to=%s reason=%s",
                 (unsigned long long)ev->u.delivery.msg_id, id, weft_err_name(ev->error));
        se.type = SVC_EV_SEND_FAILED;
        se.msg_id = ev->u.delivery.msg_id;
        break;
    case WEFT_EV_MEMBER_JOINED:
    case WEFT_EV_MEMBER_UPDATED:
    case WEFT_EV_MEMBER_SUSPECT:
    case WEFT_EV_MEMBER_ALIVE:
    case WEFT_EV_MEMBER_FAILED:
    case WEFT_EV_MEMBER_LEFT:
    case WEFT_EV_MEMBER_REJOINED:
    case WEFT_EV_MEMBER_REFUSED: {
        char name[sizeof ev->u.member.name];
        text_clean(ev->u.member.name, strnlen(ev->u.member.name, sizeof ev->u.member.name), name,
                   sizeof name);
        log_line(ev->type == WEFT_EV_MEMBER_REFUSED ? LOG_WARN : LOG_INFO,
                 "%s id=%s name=%s addr=%s inc=%u", se.name, id, name, addr,
                 ev->u.member.incarnation);
        se.type = SVC_EV_MEMBER;
        se.member_name = ev->u.member.name;
        se.incarnation = ev->u.member.incarnation;
        if (ev->type == WEFT_EV_MEMBER_JOINED || ev->type == WEFT_EV_MEMBER_UPDATED ||
            ev->type == WEFT_EV_MEMBER_REJOINED)
            duplicate_name_check(s, ev);
        break;
    }
    default:
        log_line(LOG_DEBUG, "event type=%d", ev->type);
        return;
    }
    dispatch(s, &se);
    if (se.type == SVC_EV_PEER_UP || se.type == SVC_EV_HANDSHAKE_FAILED)
        connects_settle(s, &se);
    (void)node;
}

/* ---------------------------------------------------------------------- */
/* Discovery: bootstrap peers, peers file, beacons                         */

/*
 * Splits "host:port" / "[v6]:port" at the last colon into host (brackets
 * kept) and a port that must be 1-65535 in decimal.  Returns 0 or -1 with
 * why filled ("port 70000 is outside 1-65535", ...).
 */
static int split_hostport(const char *spec, char host[256], uint16_t *port, char *why,
                          size_t cap)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= 256) {
        snprintf(why, cap, "'%s' is not HOST:PORT", spec);
        return -1;
    }
    const char *p = colon + 1;
    size_t n = strlen(p);
    if (n == 0 || strspn(p, "0123456789") != n) {
        snprintf(why, cap, "'%s': the port must be a number 1-65535", spec);
        return -1;
    }
    uint32_t v;
    if (n > 5 || options_parse_u32(p, 1, 65535, &v) != 0) {
        snprintf(why, cap, "'%s': port %s is outside 1-65535", spec, p);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    *port = (uint16_t)v;
    return 0;
}

/*
 * Resolves host:port (numeric, or a name) to one address with a port in
 * 1-65535.  Names block (getaddrinfo): used at start and for the peers
 * file only.  Returns 0 or -1 with why filled.
 */
static int resolve(const char *spec, weft_addr *out, char *why, size_t cap)
{
    char host[256];
    uint16_t port;
    if (split_hostport(spec, host, &port, why, cap) != 0)
        return -1;
    if (weft_addr_parse(out, spec) == 0)
        return 0;
    if (host[0] == '[') {
        snprintf(why, cap, "'%s': not an IPv6 address", spec);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res;
    int gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0) {
        snprintf(why, cap, "'%s' does not resolve: %s", spec, gai_strerror(gai));
        return -1;
    }
    int rc = weft_uv_addr_from_sockaddr(out, res->ai_addr);
    freeaddrinfo(res);
    if (rc != 0) {
        snprintf(why, cap, "'%s' resolves to an address of an unknown family", spec);
        return -1;
    }
    out->port = port;
    return 0;
}

/* Joins the membership through addr (bootstrap peer, peers file entry).
 * Membership itself retries with backoff until the seed answers. */
static void member_join(service *s, const weft_addr *addr, const char *source)
{
    if (!s->o->membership)
        return;
    char a[WEFT_ADDR_STRLEN];
    text_addr(addr, a);
    int rc = weft_membership_join(weft_uv_node_engine(s->node), addr, now_us());
    weft_uv_node_flush(s->node);
    if (rc == 0)
        log_line(LOG_DEBUG, "join addr=%s source=%s", a, source);
    else
        log_line(LOG_WARN, "join-error addr=%s source=%s reason=%s", a, source, weft_err_name(rc));
}

/*
 * Re-reads --peers-file when its inode, size or modification time changed
 * (so both in-place edits and atomic renames are seen): one HOST:PORT per
 * line, '#' starts a comment, blank lines are ignored.  New addresses are
 * joined; a bad line is logged and skipped; a missing file is not an error
 * (a registry may write it later).  At most PEERS_FILE_MAX addresses are
 * remembered; beyond that new entries are logged as refused.
 */
static void peers_file_check(service *s)
{
    const char *path = s->o->peers_file;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (s->pf_seen)
            log_line(LOG_WARN, "peers-file-missing path=%s", path);
        s->pf_seen = 0;
        return;
    }
    if (s->pf_seen && st.st_ino == s->pf_st.st_ino && st.st_size == s->pf_st.st_size &&
        st.st_mtim.tv_sec == s->pf_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == s->pf_st.st_mtim.tv_nsec)
        return;
    s->pf_seen = 1;
    s->pf_st = st;
    if (st.st_size > (off_t)PEERS_FILE_BYTES_MAX) {
        log_line(LOG_WARN, "peers-file-error path=%s reason=too-big bytes=%lld max=%u", path,
                 (long long)st.st_size, PEERS_FILE_BYTES_MAX);
        return;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        log_line(LOG_WARN, "peers-file-error path=%s reason=%s", path, strerror(errno));
        return;
    }
    char line[512];
    unsigned lineno = 0, added = 0, bad_lines = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t l = strlen(line);
        if (l == sizeof line - 1 && line[l - 1] != '\n') {
            int ch;
            while ((ch = fgetc(f)) != EOF && ch != '\n') {}
            log_line(LOG_WARN, "peers-file-error path=%s line=%u reason=line-too-long", path,
                     lineno);
            bad_lines++;
            continue;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *b = line + strspn(line, " \t\r\n");
        char *e = b + strcspn(b, " \t\r\n");
        if (*(e + strspn(e, " \t\r\n"))) {
            log_line(LOG_WARN, "peers-file-error path=%s line=%u reason=more-than-one-word",
                     path, lineno);
            bad_lines++;
            continue;
        }
        *e = 0;
        if (!*b)
            continue;
        weft_addr a;
        char why[320];
        if (resolve(b, &a, why, sizeof why) != 0) {
            log_line(LOG_WARN, "peers-file-error path=%s line=%u reason=bad-address", path, lineno);
            bad_lines++;
            continue;
        }
        int known = 0;
        for (size_t i = 0; i < s->pf_n && !known; i++)
            known = weft_addr_eq(&s->pf_addrs[i], &a);
        if (known)
            continue;
        if (s->pf_n == PEERS_FILE_MAX) {
            log_line(LOG_WARN, "peers-file-error path=%s line=%u reason=limit max=%d", path,
                     lineno, PEERS_FILE_MAX);
            continue;
        }
        s->pf_addrs[s->pf_n++] = a;
        added++;
        member_join(s, &a, "peers-file");
    }
    fclose(f);
    log_line(LOG_INFO, "peers-file path=%s lines=%u new=%u bad=%u", path, lineno, added, bad_lines);
}

/* Connects to every bootstrap peer that is neither up nor being tried and
 * whose backoff has passed; checks the peers file. */
static void on_tick(uv_timer_t *t)
{
    service *s = t->data;
    if (s->closing || s->leaving)
        return;
    uint64_t now = now_ms();
    if (s->o->peers_file[0] && now >= s->pf_next_ms) {
        s->pf_next_ms = now + PEERS_FILE_CHECK_MS;
        peers_file_check(s);
    }
    for (size_t i = 0; i < s->npeers; i++) {
        boot_peer *p = &s->peers[i];
        if (p->up)
            continue;
        if (p->trying && now - p->attempt_ms > ATTEMPT_MS_MAX)
            p->trying = 0; /* no outcome reported: try again */
        if (p->trying || now < p->next_ms)
            continue;
        char a[WEFT_ADDR_STRLEN];
        text_addr(&p->addr, a);
        int rc = weft_uv_node_connect_addr(s->node, &p->addr);
        log_line(LOG_DEBUG, "connect addr=%s rc=%s", a, rc ? weft_err_name(rc) : "0");
        p->attempt_ms = now;
        if (rc == 0)
            p->trying = 1;
        else
            retry_later(p);
    }
}

static int addr_unspecified(const weft_addr *a)
{
    static const uint8_t z[16];
    return !memcmp(a->ip, z, a->family == 4 ? 4 : 16);
}

static void on_beacon_join(weft_discovery *d, const weft_node_id *id, const weft_addr *addr,
                           const char *iface, int rc, void *ud)
{
    char sid[WEFT_ID_SHORT_LEN], a[WEFT_ADDR_STRLEN];
    weft_id_short(id, sid);
    text_addr(addr, a);
    log_line(rc ? LOG_WARN : LOG_INFO, "beacon-join id=%s addr=%s iface=%s rc=%s", sid, a, iface,
             rc ? weft_err_name(rc) : "0");
    (void)d;
    (void)ud;
}

static int beacons_start(service *s, const weft_addr *adv)
{
    const weftd_options *o = s->o;
    weft_discovery_config dc;
    memset(&dc, 0, sizeof dc);
    memcpy(dc.ifaces, o->beacon_ifaces, sizeof dc.ifaces);
    dc.iface_count = o->beacon_count;
    dc.port = o->beacon_port;
    dc.modes = o->beacon_modes;
    dc.interval_ms = o->beacon_interval_ms;
    dc.advertise[0] = *adv;
    dc.advertise_count = 1;
    size_t nl = weft_uv_node_listen_count(s->node);
    for (size_t i = 0; i < nl && dc.advertise_count < WEFT_DISC_ADDRS_MAX; i++) {
        weft_addr a;
        if (weft_uv_node_local_addr(s->node, i, &a) == 0 && !addr_unspecified(&a) &&
            !weft_addr_eq(&a, adv))
            dc.advertise[dc.advertise_count++] = a;
    }
    dc.on_join = on_beacon_join;
    dc.ud = s;
    int rc = weft_discovery_new(&s->disc, s->loop, s->node, &dc, s->identity_secret,
                                s->network_key);
    if (rc != 0) {
        fprintf(stderr, "weftd: --beacon: %s (%s) %s\n", weft_strerror(rc), weft_err_name(rc),
                weft_discovery_last_error());
        return rc == WEFT_ERR_INVAL ? 2 : 1;
    }
    weft_discovery_stats ds;
    weft_discovery_get_stats(s->disc, &ds);
    char ifl[WEFT_DISC_IFACES_MAX * 17] = "";
    for (size_t i = 0; i < dc.iface_count; i++) {
        if (i)
            strcat(ifl, ",");
        strcat(ifl, dc.ifaces[i]);
    }
    log_line(LOG_INFO, "beacons ifaces=%s port=%u sockets=%u modes=%s%s%s", ifl,
             dc.port ? dc.port : WEFT_DISC_PORT_DEFAULT, ds.sockets,
             (!dc.modes || dc.modes & WEFT_DISC_V4_BROADCAST) ? "bcast4," : "",
             (!dc.modes || dc.modes & WEFT_DISC_V4_MULTICAST) ? "mcast4," : "",
             (!dc.modes || dc.modes & WEFT_DISC_V6_MULTICAST) ? "mcast6" : "");
    return 0;
}

/*
 * Membership set-up once the sockets are bound: the advertised address,
 * our metadata, the bootstrap joins, the peers file and the beacons.
 * Returns 0 or an exit code (2: configuration, 1: runtime), after printing
 * why on stderr.
 */
static int membership_start(service *s)
{
    const weftd_options *o = s->o;
    weft_engine *e = weft_uv_node_engine(s->node);
    size_t nl = weft_uv_node_listen_count(s->node);
    weft_addr adv = {0};
    if (o->have_advertise) {
        adv = o->advertise;
        for (size_t i = 0; i < nl && adv.port == 0; i++) {
            weft_addr a;
            if (weft_uv_node_local_addr(s->node, i, &a) == 0 && a.family == adv.family)
                adv.port = a.port;
        }
        if (adv.port == 0 || addr_unspecified(&adv)) {
            fprintf(stderr, "weftd: --advertise needs a specific address and a port (no "
                            "--listen of that family)\n");
            return 2;
        }
    } else {
        for (size_t i = 0; i < nl && !adv.family; i++) {
            weft_addr a;
            if (weft_uv_node_local_addr(s->node, i, &a) == 0 && !addr_unspecified(&a))
                adv = a;
        }
        if (!adv.family) {
            fprintf(stderr, "weftd: bound to a wildcard address only: give --advertise "
                            "ADDR:PORT (the address other nodes reach this one at), or "
                            "--no-membership\n");
            return 2;
        }
    }
    int rc = weft_membership_attach(e, &s->mcfg, now_us());
    if (rc != 0) {
        fprintf(stderr, "weftd: cannot start membership: %s (%s)\n", weft_strerror(rc),
                weft_err_name(rc));
        return rc == WEFT_ERR_CONFIG ? 2 : 1;
    }
    weft_tag tags[OPT_TAGS_MAX];
    for (size_t i = 0; i < o->ntags; i++)
        tags[i] = (weft_tag){o->tag_key[i], o->tag_value[i]};
    rc = weft_membership_set_addr(e, &adv, now_us());
    if (rc == 0)
        rc = weft_membership_set_meta(e, o->name[0] ? o->name : NULL, o->status, tags, o->ntags,
                                  now_us());
    if (rc == WEFT_ERR_TOO_BIG) {
        fprintf(stderr, "weftd: metadata too big: --name at most 64 bytes, --status at most 32, "
                        "each --tag KEY and VALUE at most 255 and all tags at most 512 bytes "
                        "encoded (%s)\n", weft_err_name(rc));
        return 2;
    }
    if (rc != 0) {
        fprintf(stderr, "weftd: membership set-up: %s (%s)\n", weft_strerror(rc), weft_err_name(rc));
        return rc == WEFT_ERR_INVAL ? 2 : 1;
    }
    weft_uv_node_flush(s->node);
    for (size_t i = 0; i < s->npeers; i++)
        member_join(s, &s->peers[i].addr, "peer");
    if (o->peers_file[0]) {
        peers_file_check(s);
        if (!s->pf_seen)
            log_line(LOG_WARN, "peers-file-missing path=%s (watching for it)", o->peers_file);
        s->pf_next_ms = now_ms() + PEERS_FILE_CHECK_MS;
    }
    if (o->beacon_count && (rc = beacons_start(s, &adv)) != 0)
        return rc;
    char a[WEFT_ADDR_STRLEN];
    text_addr(&adv, a);
    log_line(LOG_INFO, "membership addr=%s profile=%s inc=%u", a,
             o->profile == WEFT_PROFILE_WAN ? "wan" : "lan", s->incarnation);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                              */

static void wipe_keys(service *s)
{
    sodium_memzero(s->identity_secret, sizeof s->identity_secret);
    sodium_memzero(s->network_key, sizeof s->network_key);
}

static void handle_closed(uv_handle_t *h)
{
    service *s = h->data;
    if (--s->handles_open == 0) {
        free(s->up);
        free(s);
    }
}

static void on_node_closed(weft_uv_node *node, void *ud)
{
    service *s = ud;
    s->node = NULL;
    if (--s->handles_open == 0) {
        free(s->up);
        free(s);
    }
    (void)node;
}

int service_new(service **out, uv_loop_t *loop, const weftd_options *o,
                const uint8_t identity_secret[64], const uint8_t network_key[32],
                int identity_created)
{
    *out = NULL;
    service *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "weftd: out of memory\n");
        return 1;
    }
    s->loop = loop;
    s->o = o;
    s->identity_created = identity_created;
    memcpy(s->identity_secret, identity_secret, 64);
    memcpy(s->network_key, network_key, 32);
    /* A configuration error is one before anything starts. */
    for (size_t i = 0; i < o->beacon_count; i++)
        if (if_nametoindex(o->beacon_ifaces[i]) == 0) {
            fprintf(stderr, "weftd: --beacon %s: no such network interface (`ip link` lists "
                            "them)\n(see weftd --help)\n", o->beacon_ifaces[i]);
            wipe_keys(s);
            free(s);
            return 2;
        }
    for (size_t i = 0; i < o->npeers; i++) {
        s->peers[i].spec = o->peers[i];
        char why[320];
        if (resolve(o->peers[i], &s->peers[i].addr, why, sizeof why) != 0) {
            fprintf(stderr, "weftd: --peer wants HOST:PORT (port 1-65535) that resolves: %s\n"
                            "(see weftd --help)\n", why);
            wipe_keys(s);
            free(s);
            return 2;
        }
        s->peers[i].backoff_ms = RETRY_MS_MIN;
    }
    s->npeers = o->npeers;

    weft_uv_config cfg;
    weft_uv_config_default(&cfg);
    memcpy(cfg.listen, o->listen, sizeof cfg.listen);
    cfg.listen_count = o->listen_count;
    memcpy(cfg.engine.identity_secret, identity_secret, 64);
    memcpy(cfg.engine.network_key, network_key, 32);
    if (o->unreachable_ms)
        cfg.engine.unreachable_ms = o->unreachable_ms;
    weft_membership_config_default(&s->mcfg);
    s->mcfg.profile = (uint8_t)o->profile;
    if (o->max_peers)
        s->mcfg.max_peers = o->max_peers;
    s->mcfg.probe_interval_ms = o->probe_interval_ms;
    s->mcfg.probe_timeout_ms = o->probe_timeout_ms;
    s->mcfg.suspicion_mult = o->suspicion_mult;
    /* Wall-clock seconds: a restarted node outbids what others remember of
     * its previous life (only a node may assert its own liveness). */
    s->mcfg.incarnation_start = s->incarnation = (uint32_t)time(NULL);
    cfg.on_event = on_event;
    cfg.ud = s;
    s->max_message_bytes = cfg.engine.max_message_bytes;
    s->started_ms = now_ms();
    int rc = weft_uv_node_new(&s->node, loop, &cfg, NULL);
    sodium_memzero(&cfg.engine, sizeof cfg.engine);
    if (rc != 0) {
        fprintf(stderr, "weftd: cannot start node: %s (%s) %s\n", weft_strerror(rc),
                weft_err_name(rc), weft_uv_last_error());
        wipe_keys(s);
        free(s);
        uv_run(loop, UV_RUN_DEFAULT); /* let the half-made node finish closing */
        return 1;
    }
    uv_timer_init(loop, &s->tick);
    uv_timer_init(loop, &s->leave_timer);
    s->tick.data = s->leave_timer.data = s;
    s->handles_open = 3; /* tick, leave_timer, node */
    *out = s;
    return 0;
}

int service_begin(service *s)
{
    char hexid[WEFT_ID_HEX_LEN], listening[WEFT_UV_MAX_LISTEN * WEFT_ADDR_STRLEN] = "";
    weft_id_hex(weft_engine_id(weft_uv_node_engine(s->node)), hexid);
    for (size_t i = 0; i < weft_uv_node_listen_count(s->node); i++) {
        weft_addr a;
        char str[WEFT_ADDR_STRLEN];
        weft_uv_node_local_addr(s->node, i, &a);
        text_addr(&a, str);
        if (i)
            strcat(listening, ",");
        strcat(listening, str);
    }
    log_line(LOG_INFO, "node id=%s listening=%s name=%s identity=%s control=%s version=%s", hexid,
             listening, s->o->name[0] ? s->o->name : "-",
             s->identity_created ? "created" : "loaded", s->o->control, WEFT_VERSION_STRING);
    weft_uv_stats us;
    weft_uv_node_stats(s->node, &us);
    uint32_t want = 4u << 20;
    if (us.rcvbuf_bytes < want || us.sndbuf_bytes < want)
        log_line(LOG_WARN, "sockbuf rcvbuf=%u sndbuf=%u wanted=%u (raise "
                           "net.core.rmem_max/wmem_max)", us.rcvbuf_bytes, us.sndbuf_bytes, want);
    int rc = s->o->membership ? membership_start(s) : 0;
    wipe_keys(s);
    uv_timer_start(&s->tick, on_tick, 0, TICK_MS);
    return rc;
}

void service_reload(service *s, const char *why)
{
    if (s->closing || s->leaving)
        return;
    uint64_t now = now_ms();
    unsigned retried = 0;
    for (size_t i = 0; i < s->npeers; i++) {
        boot_peer *p = &s->peers[i];
        if (p->up || p->trying)
            continue;
        p->next_ms = now; /* dial on the next tick, backoff reset */
        p->backoff_ms = RETRY_MS_MIN;
        retried++;
    }
    log_line(LOG_INFO, "reload signal=%s peers_file=%s peers_retried=%u", why,
             s->o->peers_file[0] ? s->o->peers_file : "-", retried);
    if (s->o->peers_file[0]) {
        s->pf_seen = 0; /* read it whatever its stat says */
        peers_file_check(s);
        if (!s->pf_seen)
            log_line(LOG_WARN, "peers-file-missing path=%s (watching for it)", s->o->peers_file);
        s->pf_next_ms = now + PEERS_FILE_CHECK_MS;
    }
}

static void on_leave_done(uv_timer_t *t)
{
    service *s = t->data;
    if (s->leave_done)
        s->leave_done(s->leave_ud);
}

/*
 * A graceful leave: others log member-left instead of member-failed after
 * a suspicion timeout.  Flushed at once and given LEAVE_GRACE_MS of gossip
 * rounds to spread.
 */
void service_leave(service *s, const char *why, void (*done)(void *ud), void *ud)
{
    if (s->leaving || s->closing)
        return;
    s->leaving = 1;
    s->leave_done = done;
    s->leave_ud = ud;
    if (!s->o->membership || !s->node) {
        uv_timer_start(&s->leave_timer, on_leave_done, 0, 0);
        return;
    }
    int rc = weft_membership_leave(weft_uv_node_engine(s->node), now_us());
    weft_uv_node_flush(s->node);
    if (s->disc)
        weft_discovery_close(s->disc); /* a leaving node must not invite joins */
    s->disc = NULL;
    log_line(LOG_INFO, "leaving reason=%s rc=%s grace_ms=%d", why, rc ? weft_err_name(rc) : "0",
             LEAVE_GRACE_MS);
    uv_timer_start(&s->leave_timer, on_leave_done, LEAVE_GRACE_MS, 0);
}

void service_close(service *s)
{
    if (s->closing)
        return;
    s->closing = 1;
    s->nwatchers = 0;
    wipe_keys(s);
    for (pending_connect *pc = s->pending, *next; pc; pc = next) {
        next = pc->next;
        pc->fn = NULL;
        if (pc->resolving) {
            uv_cancel((uv_req_t *)&pc->req); /* on_resolved frees it */
        } else {
            pending_unlink(s, pc);
            free(pc);
        }
    }
    if (s->disc)
        weft_discovery_close(s->disc);
    s->disc = NULL;
    uv_close((uv_handle_t *)&s->tick, handle_closed);
    uv_close((uv_handle_t *)&s->leave_timer, handle_closed);
    weft_uv_node_close(s->node, on_node_closed);
}

/* ---------------------------------------------------------------------- */
/* Queries                                                                 */

void service_info(service *s, svc_info *out)
{
    memset(out, 0, sizeof *out);
    out->id = *weft_engine_id(weft_uv_node_engine(s->node));
    out->name = s->o->name[0] ? s->o->name : "-";
    out->listen_count = weft_uv_node_listen_count(s->node);
    for (size_t i = 0; i < out->listen_count; i++)
        weft_uv_node_local_addr(s->node, i, &out->listen[i]);
    out->membership = s->o->membership;
    out->max_message_bytes = s->max_message_bytes;
    out->peers = s->nup;
    out->uptime_ms = now_ms() - s->started_ms;
    weft_membership_stats m;
    if (s->o->membership &&
        weft_membership_stats_get(weft_uv_node_engine(s->node), &m) == 0) {
        out->members = m.alive + m.suspect + m.dead + m.left;
        out->alive = m.alive;
    }
}

void service_each_peer(service *s, svc_peer_fn fn, void *ud)
{
    weft_engine *e = weft_uv_node_engine(s->node);
    for (size_t i = 0; i < s->nup; i++) {
        weft_peer_info pi;
        if (weft_engine_peer_info(e, &s->up[i].id, &pi) != 0)
            continue;
        svc_peer p = {.id = pi.id, .addr = pi.addr, .established = pi.established,
                      .srtt_us = pi.srtt_us, .rttvar_us = pi.rttvar_us,
                      .min_rtt_us = pi.min_rtt_us, .cwnd_bytes = pi.cwnd_bytes, .mtu = pi.mtu,
                      .inflight_bytes = pi.bytes_in_flight, .queued_bytes = pi.queued_bytes};
        fn(ud, &p);
    }
}

void service_stats(service *s, svc_kv_fn fn, void *ud)
{
    weft_stats st;
    weft_engine_stats(weft_uv_node_engine(s->node), &st);
#define S(f) fn(ud, #f, st.f)
    S(pkts_in); S(pkts_out); S(bytes_in); S(bytes_out);
    S(msgs_sent); S(msgs_delivered); S(retransmits);
    S(drop_malformed); S(drop_decrypt); S(drop_replay); S(drop_unknown);
    S(drop_ratelimit); S(drop_wrong_mesh); S(drop_dup_msg);
    S(handshakes_ok); S(handshakes_failed); S(sessions);
#undef S
    weft_uv_stats u;
    weft_uv_node_stats(s->node, &u);
#define U(f) fn(ud, "uv_" #f, u.f)
    U(recv_calls); U(recv_datagrams); U(send_calls); U(send_datagrams);
    U(send_eagain); U(send_emsgsize); U(send_errors); U(send_no_socket);
    U(recv_truncated); U(rcvbuf_bytes); U(sndbuf_bytes);
#undef U
}

int service_membership(service *s, svc_kv_fn fn, void *ud)
{
    weft_membership_stats m;
    weft_engine *e = weft_uv_node_engine(s->node);
    if (weft_membership_stats_get(e, &m) != 0)
        return WEFT_ERR_STATE;
    fn(ud, "members", weft_membership_count(e));
#define M(f) fn(ud, #f, m.f)
    M(alive); M(suspect); fn(ud, "failed", m.dead); M(left);
    M(pkts_in); M(pkts_out); M(bytes_in); M(bytes_out);
    M(drop_bad_mac); M(drop_malformed); M(drop_bad_signature); M(stale);
    M(refused_full); M(probes); M(probe_failures); M(refutations); M(pushpulls);
    M(awareness);
#undef M
    if (s->disc) {
        weft_discovery_stats d;
        weft_discovery_get_stats(s->disc, &d);
#define B(f) fn(ud, #f, d.f)
        B(beacons_sent); B(send_errors); B(beacons_received); B(beacons_malformed);
        B(beacons_other_mesh); B(beacons_bad_sig); B(beacons_own); B(beacons_dup);
        B(beacons_known); B(beacons_wrong_iface); B(joins); B(join_errors);
        B(table_evictions); B(sockets);
#undef B
    }
    return 0;
}

int service_each_member(service *s, svc_member_fn fn, void *ud)
{
    weft_engine *e = weft_uv_node_engine(s->node);
    if (!s->o->membership)
        return WEFT_ERR_STATE;
    uint64_t now = now_us();
    size_t n = weft_membership_count(e);
    svc_member *sm = malloc(sizeof *sm); /* ~4 KiB: kept off the stack */
    if (!sm)
        return WEFT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        weft_member m;
        if (weft_membership_at(e, i, &m) != 0)
            continue;
        memset(sm, 0, sizeof *sm);
        sm->id = m.id;
        sm->addr = m.addr;
        sm->state = weft_member_state_name(m.state);
        sm->incarnation = m.incarnation;
        sm->name = m.name;
        sm->name_len = m.name_len;
        sm->status = m.status;
        sm->status_len = m.status_len;
        size_t off = 0;
        svc_tag *t = sm->tags;
        while (sm->ntags < SVC_TAGS_MAX &&
               weft_tag_next(m.tags, m.tags_len, &off, &t->key, &t->key_len, &t->value,
                             &t->value_len) == 1)
            t = &sm->tags[++sm->ntags];
        sm->rtt_us = m.rtt_us;
        sm->is_self = m.is_self;
        sm->last_contact_ms = m.is_self ? 0
                              : m.last_contact_us ? (int64_t)((now - m.last_contact_us) / 1000)
                                                  : -1;
        fn(ud, sm);
    }
    free(sm);
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Actions                                                                 */

int service_find_peer(service *s, const char *hex, weft_node_id *out, char *why, size_t cap)
{
    size_t l = strlen(hex);
    if (l == 0 || l > 64 || strspn(hex, "0123456789abcdef") != l) {
        snprintf(why, cap, "peer must be lowercase hex (a prefix of its id)");
        return WEFT_ERR_INVAL;
    }
    if (l == 64 && weft_id_parse(out, hex) == 0)
        return 0;
    int found = 0;
    for (size_t i = 0; i < s->nup; i++) {
        char h[WEFT_ID_HEX_LEN];
        weft_id_hex(&s->up[i].id, h);
        if (!strncmp(h, hex, l)) {
            *out = s->up[i].id;
            found++;
        }
    }
    if (found == 1)
        return 0;
    snprintf(why, cap, "%s peer %s", found ? "ambiguous" : "no established", hex);
    return found ? WEFT_ERR_INVAL : WEFT_ERR_NO_PEER;
}

int service_send(service *s, const weft_node_id *to, const void *data, size_t len, int prio,
                 uint32_t kind, int receipt, uint64_t *msg_id, char sha256_hex[65], char *why,
                 size_t cap)
{
    int64_t sent = weft_uv_node_send(s->node, to, WEFT_CHANNEL_APP, data, len,
                                     (uint32_t)prio | kind | (receipt ? WEFT_SEND_RECEIPT : 0));
    int rc = sent < 0 ? (int)sent : 0;
    weft_peer_info pi;
    if (rc == WEFT_ERR_TOO_BIG_DATAGRAM &&
        weft_engine_peer_info(weft_uv_node_engine(s->node), to, &pi) == 0) {
        /* Not the message cap: the one-packet limit of unreliable sends. */
        snprintf(why, cap, "an unreliable message must fit in one packet: the path MTU to this "
                 "peer is %u bytes, less about 100 bytes of headers, and this one is %zu bytes; "
                 "send it ordered or unordered (up to %u bytes)", pi.mtu, len,
                 s->max_message_bytes);
        return rc;
    }
    if (rc == WEFT_ERR_TOO_BIG_DATAGRAM) {
        snprintf(why, cap, "an unreliable message must fit in one packet (about 1100 bytes "
                 "before the path MTU is probed); this one is %zu bytes: send it ordered or "
                 "unordered", len);
        return rc;
    }
    if (rc != 0) {
        if (rc == WEFT_ERR_TOO_BIG)
            snprintf(why, cap, "a message of %zu bytes is over the message cap of %u bytes", len,
                     s->max_message_bytes);
        else if (rc == WEFT_ERR_AGAIN)
            snprintf(why, cap, "the queue to this peer is full (%s); try again later",
                     weft_strerror(rc));
        else
            snprintf(why, cap, "%s", weft_strerror(rc));
        return rc;
    }
    uint8_t h[crypto_hash_sha256_BYTES];
    char *hh = sha256_hex, id[WEFT_ID_SHORT_LEN];
    crypto_hash_sha256(h, data, len);
    text_hex(h, sizeof h, hh);
    weft_id_short(to, id);
    *msg_id = (uint64_t)sent;
    log_line(LOG_INFO, "sent msg=%lld to=%s len=%zu prio=%d kind=%s%s sha256=%s", (long long)sent,
             id, len, prio, kind_name(kind), receipt ? " receipt=1" : "", hh);
    return 0;
}

/* A socket of this address family is open. */
static int have_family(service *s, int family)
{
    for (size_t i = 0; i < weft_uv_node_listen_count(s->node); i++) {
        weft_addr a;
        if (weft_uv_node_local_addr(s->node, i, &a) == 0 && a.family == family)
            return 1;
    }
    return 0;
}

/* Dials pc->addr; reports at once when a session is up already or the
 * dial fails, else leaves pc waiting (or frees it when nobody waits). */
static void pending_dial(service *s, pending_connect *pc)
{
    char a[WEFT_ADDR_STRLEN], why[200];
    text_addr(&pc->addr, a);
    for (size_t i = 0; i < s->nup; i++)
        if (weft_addr_eq(&s->up[i].addr, &pc->addr)) {
            svc_connect_result r = {.id = s->up[i].id, .addr = pc->addr, .already = 1};
            pending_finish(s, pc, &r);
            return;
        }
    int rc = have_family(s, pc->addr.family) ? weft_uv_node_connect_addr(s->node, &pc->addr)
                                              : WEFT_ERR_INVAL;
    log_line(LOG_DEBUG, "connect addr=%s rc=%s", a, rc ? weft_err_name(rc) : "0");
    if (rc != 0) {
        snprintf(why, sizeof why, rc == WEFT_ERR_INVAL ? "no --listen socket of the family of %s"
                                                       : "cannot dial %s: %s",
                 a, weft_strerror(rc));
        svc_connect_result r = {.rc = rc, .addr = pc->addr, .why = why};
        pending_finish(s, pc, &r);
        return;
    }
    if (!pc->fn) {
        pending_unlink(s, pc);
        free(pc);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    pending_connect *pc = req->data;
    service *s = pc->s;
    pc->resolving = 0;
    if (s->closing) {
        pending_unlink(s, pc);
        free(pc);
        uv_freeaddrinfo(res);
        if (--s->handles_open == 0) {
            free(s->up);
            free(s);
        }
        return;
    }
    s->handles_open--;
    weft_addr a = {0};
    for (struct addrinfo *ai = status == 0 ? res : NULL; ai && !a.family; ai = ai->ai_next)
        if (weft_uv_addr_from_sockaddr(&a, ai->ai_addr) != 0 || !have_family(s, a.family))
            a.family = 0;
    uv_freeaddrinfo(res);
    if (!a.family) {
        char name[OPT_PEER_SPEC_MAX], why[OPT_PEER_SPEC_MAX + 120];
        text_clean(pc->spec, strlen(pc->spec), name, sizeof name);
        snprintf(why, sizeof why, status ? "%s does not resolve: %s"
                                         : "%s resolves to no address of a family this node "
                                           "listens on%s",
                 name, status ? uv_strerror(status) : "");
        log_line(LOG_INFO, "handshake-failed addr=- reason=WEFT_ERR_NOT_FOUND name=%s", name);
        svc_event se = {.type = SVC_EV_HANDSHAKE_FAILED, .name = "handshake-failed",
                        .error = WEFT_ERR_NOT_FOUND};
        dispatch(s, &se);
        svc_connect_result r = {.rc = WEFT_ERR_NOT_FOUND, .why = why};
        pending_finish(s, pc, &r);
        return;
    }
    uint16_t port = pc->addr.port;
    pc->addr = a;
    pc->addr.port = port;
    pending_dial(s, pc);
}

int service_connect(service *s, const char *hostport, svc_connect_fn fn, void *ud, char *why,
                    size_t cap)
{
    char host[256];
    uint16_t port;
    if (split_hostport(hostport, host, &port, why, cap) != 0)
        return WEFT_ERR_INVAL;
    pending_connect *pc = calloc(1, sizeof *pc);
    if (!pc) {
        snprintf(why, cap, "out of memory");
        return WEFT_ERR_NOMEM;
    }
    pc->s = s;
    pc->fn = fn;
    pc->ud = ud;
    snprintf(pc->spec, sizeof pc->spec, "%s", hostport);
    pc->next = s->pending;
    s->pending = pc;
    if (weft_addr_parse(&pc->addr, hostport) == 0) {
        if (!have_family(s, pc->addr.family)) {
            snprintf(why, cap, "no --listen socket of the family of %s", hostport);
            pending_unlink(s, pc);
            free(pc);
            return WEFT_ERR_INVAL;
        }
        pending_dial(s, pc);
        return 0;
    }
    if (host[0] == '[') {
        snprintf(why, cap, "'%s': not an IPv6 address", hostport);
        pending_unlink(s, pc);
        free(pc);
        return WEFT_ERR_INVAL;
    }
    pc->addr.port = port;
    pc->req.data = pc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
    int rc = uv_getaddrinfo(s->loop, &pc->req, on_resolved, host, NULL, &hints);
    if (rc != 0) {
        snprintf(why, cap, "cannot resolve %s: %s", host, uv_strerror(rc));
        pending_unlink(s, pc);
        free(pc);
        return WEFT_ERR_INVAL;
    }
    pc->resolving = 1;
    s->handles_open++; /* the service outlives the resolution */
    return 0;
}

void service_connect_cancel(service *s, void *ud)
{
    for (pending_connect *pc = s->pending, *next; pc; pc = next) {
        next = pc->next;
        if (pc->ud != ud || !pc->fn)
            continue;
        pc->fn = NULL;
        if (!pc->resolving) { /* dialled: nothing left to do for it */
            pending_unlink(s, pc);
            free(pc);
        }
    }
}

int service_peer_backlog(service *s, const weft_node_id *id, uint64_t *queued_bytes)
{
    weft_peer_info pi;
    if (up_find(s, id) == SIZE_MAX ||
        weft_engine_peer_info(weft_uv_node_engine(s->node), id, &pi) != 0 || !pi.established)
        return WEFT_ERR_NO_PEER;
    *queued_bytes = pi.queued_bytes;
    return 0;
}
