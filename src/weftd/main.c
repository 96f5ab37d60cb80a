/*
 * main.c -- weftd, the weft daemon.
 *
 * One weft_uv_node on the sockets given with --listen (default
 * 127.0.0.1:7946 only: nothing is exposed beyond the host unless asked),
 * an Ed25519 identity kept in --data-dir, a mesh-wide network key, a list
 * of --peer addresses it keeps trying to reach (exponential backoff while
 * unanswered), a unix-socket control protocol for the `weft` CLI, and one
 * log line per event on stdout, flushed, in `word key=value ...` form so
 * scripts can grep them.  docs/DAEMON.md documents flags, the control
 * protocol and every log line.
 *
 * Exit codes: 0 after SIGINT/SIGTERM (sessions closed), 1 runtime failure
 * (bind, I/O, another daemon on the control socket), 2 bad flags or
 * configuration (including key files that are missing, malformed or
 * readable by others).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "weft/crypto.h"
#include "weft/discovery.h"
#include "weft/keys.h"
#include "weft/uv.h"

#define MAX_PEERS_CFG 64          /* --peer entries */
#define CTL_LINE_MAX 4096         /* one control request line */
#define CTL_CONNS_MAX 32          /* concurrent control connections */
#define CTL_IDLE_MS 10000         /* a control client must send its line by then */
#define RETRY_MS_MIN 500
#define RETRY_MS_MAX 30000
#define ATTEMPT_MS_MAX 30000      /* an attempt without any outcome is retried */
#define TICK_MS 100
#define TAGS_MAX 32               /* --tag entries */
#define PEERS_FILE_MAX 256        /* addresses remembered from --peers-file */
#define PEERS_FILE_CHECK_MS 1000  /* stat interval of --peers-file */
#define PEERS_FILE_BYTES_MAX (1u << 20)
#define LEAVE_GRACE_MS 300        /* time the leave gets to go out */

enum { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

typedef struct cfg_peer {
    char spec[300];  /* as given */
    weft_addr addr;  /* resolved once at start */
    int up;          /* a session with that address is established */
    int trying;      /* an attempt is in flight */
    uint64_t next_ms, attempt_ms;
    uint32_t backoff_ms;
} cfg_peer;

typedef struct ctl_conn {
    struct ctl_conn *next, *prev; /* D.conns: closed at shutdown */
    uv_pipe_t pipe;
    uv_timer_t idle;
    char line[CTL_LINE_MAX + 1];
    size_t len;
    int handled;
    int closing;
    int handles_open;
} ctl_conn;

static struct {
    uv_loop_t *loop;
    weft_uv_node *node;
    int log_level;
    char name[64];
    char data_dir[PATH_MAX];
    char control[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int control_bound;
    cfg_peer peers[MAX_PEERS_CFG];
    size_t npeers;
    uv_timer_t tick;
    uv_signal_t sigint, sigterm;
    uv_pipe_t ctl;
    int nconns;
    ctl_conn *conns;
    int stopping;
    int exit_code;
    uint32_t max_message_bytes;
    /* membership */
    int membership;
    weft_membership_config mcfg;
    char status[64];
    weft_tag tags[TAGS_MAX];
    size_t ntags;
    weft_addr advertise;
    int have_advertise;
    /* --peers-file: re-read when its inode, size or mtime changes */
    const char *peers_file;
    struct stat pf_st;
    int pf_seen;
    uint64_t pf_next_ms;
    weft_addr pf_addrs[PEERS_FILE_MAX];
    size_t pf_n;
    /* LAN beacons */
    weft_discovery *disc;
    weft_discovery_config disc_cfg;
    /* graceful leave on SIGTERM/SIGINT */
    uv_timer_t leave_timer;
    int leaving;
    const char *stop_why;
} D;

static void logf_(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(int level, const char *fmt, ...)
{
    if (level > D.log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

static void fmt_addr(const weft_addr *a, char out[WEFT_ADDR_STRLEN])
{
    if (a->family == 0 || weft_addr_format(a, out, WEFT_ADDR_STRLEN) < 0)
        snprintf(out, WEFT_ADDR_STRLEN, "-");
}

static const char *kind_name(uint32_t flags)
{
    switch (flags & WEFT_SEND_KIND_MASK) {
    case WEFT_SEND_UNORDERED: return "unordered";
    case WEFT_SEND_UNRELIABLE: return "unreliable";
    default: return "ordered";
    }
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char *d = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

/* Copies len bytes of peer-supplied text for a `key=value` line: bytes
 * outside printable ASCII, spaces, '=', ',' and quotes become '_' so a
 * member cannot forge fields in our log or control output; "" -> "-". */
static void clean(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[o++] = ch <= 0x20 || ch > 0x7e || ch == '=' || ch == ',' || ch == '"' ||
                           ch == '\\'
                       ? '_'
                       : (char)ch;
    }
    if (o == 0 && cap > 1)
        out[o++] = '-';
    out[o] = 0;
}

static uint64_t now_us(void) { return uv_hrtime() / 1000u; }

/* ---------------------------------------------------------------------- */
/* Events                                                                  */

static cfg_peer *peer_by_addr(const weft_addr *a)
{
    for (size_t i = 0; i < D.npeers; i++)
        if (a->family && weft_addr_eq(&D.peers[i].addr, a))
            return &D.peers[i];
    return NULL;
}

static void retry_later(cfg_peer *p)
{
    p->trying = 0;
    p->next_ms = now_ms() + p->backoff_ms;
    p->backoff_ms = p->backoff_ms * 2 > RETRY_MS_MAX ? RETRY_MS_MAX : p->backoff_ms * 2;
}

static void on_event(weft_uv_node *node, const weft_event *ev, void *ud)
{
    char id[WEFT_ID_SHORT_LEN], full[WEFT_ID_HEX_LEN], addr[WEFT_ADDR_STRLEN];
    weft_id_short(&ev->peer, id);
    fmt_addr(&ev->addr, addr);
    cfg_peer *p = peer_by_addr(&ev->addr);
    switch (ev->type) {
    case WEFT_EV_PEER_UP:
        weft_id_hex(&ev->peer, full);
        logf_(LOG_INFO, "peer-up id=%s addr=%s id_full=%s", id, addr, full);
        if (p) {
            p->up = 1;
            p->trying = 0;
            p->backoff_ms = RETRY_MS_MIN;
        }
        break;
    case WEFT_EV_PEER_DOWN:
        logf_(LOG_INFO, "peer-down id=%s addr=%s reason=%s", id, addr,
              weft_err_name(ev->error));
        if (p) {
            p->up = 0;
            retry_later(p);
        }
        break;
    case WEFT_EV_HANDSHAKE_FAILED:
        logf_(LOG_INFO, "handshake-failed addr=%s reason=%s", addr,
              weft_err_name(ev->error));
        if (p && !p->up)
            retry_later(p);
        break;
    case WEFT_EV_MESSAGE: {
        uint8_t h[crypto_hash_sha256_BYTES];
        char hh[2 * crypto_hash_sha256_BYTES + 1];
        crypto_hash_sha256(h, ev->u.message.data, ev->u.message.len);
        hex(h, sizeof h, hh);
        /* Short printable text is shown (quoted, last on the line) so a
         * human watching the log sees it; anything else only by hash. */
        char text[100] = "";
        int printable = ev->u.message.len > 0 && ev->u.message.len <= 80;
        for (size_t i = 0; printable && i < ev->u.message.len; i++)
            if (ev->u.message.data[i] < 0x20 || ev->u.message.data[i] > 0x7e || ev->u.message.data[i] == '"' ||
                ev->u.message.data[i] == '\\')
                printable = 0;
        if (printable)
            snprintf(text, sizeof text, " text=\"%.*s\"", (int)ev->u.message.len,
                     (const char *)ev->u.message.data);
        logf_(LOG_INFO, "message from=%s len=%zu prio=%u kind=%s sha256=%s%s", id,
              ev->u.message.len, (unsigned)(ev->u.message.flags & WEFT_SEND_PRIO_MASK),
              kind_name(ev->u.message.flags), hh, text);
        break;
    }
    case WEFT_EV_MEMBER_JOINED:
    case WEFT_EV_MEMBER_UPDATED:
    case WEFT_EV_MEMBER_SUSPECT:
    case WEFT_EV_MEMBER_ALIVE:
    case WEFT_EV_MEMBER_FAILED:
    case WEFT_EV_MEMBER_LEFT:
    case WEFT_EV_MEMBER_REJOINED:
    case WEFT_EV_MEMBER_REFUSED: {
        char name[sizeof ev->u.member.name];
        clean(ev->u.member.name, strnlen(ev->u.member.name, sizeof ev->u.member.name), name,
              sizeof name);
        logf_(ev->type == WEFT_EV_MEMBER_REFUSED ? LOG_WARN : LOG_INFO,
              "%s id=%s name=%s addr=%s inc=%u", weft_event_name(weft_uv_node_engine(D.node), ev->type), id,
              name, addr, ev->u.member.incarnation);
        return; /* member addresses are not --peer session addresses */
    }
    default:
        logf_(LOG_DEBUG, "event type=%d", ev->type);
    }
    (void)node;
    (void)ud;
}

static int resolve_peer(const char *spec, weft_addr *out);

/* Joins the membership through addr (bootstrap peer, peers file entry).
 * Membership itself retries with backoff until the seed answers. */
static void member_join(const weft_addr *addr, const char *source)
{
    if (!D.membership)
        return;
    char a[WEFT_ADDR_STRLEN];
    fmt_addr(addr, a);
    int rc = weft_membership_join(weft_uv_node_engine(D.node), addr, now_us());
    weft_uv_node_flush(D.node);
    if (rc == 0)
        logf_(LOG_DEBUG, "join addr=%s source=%s", a, source);
    else
        logf_(LOG_WARN, "join-error addr=%s source=%s reason=%s", a, source,
              weft_err_name(rc));
}

/*
 * Re-reads --peers-file when its inode, size or modification time changed
 * (so both in-place edits and atomic renames are seen): one HOST:PORT per
 * line, '#' starts a comment, blank lines are ignored.  New addresses are
 * joined; a bad line is logged and skipped; a missing file is not an error
 * (a registry may write it later).  At most PEERS_FILE_MAX addresses are
 * remembered; beyond that new entries are logged as refused.
 */
static void peers_file_check(void)
{
    struct stat st;
    if (stat(D.peers_file, &st) != 0) {
        if (D.pf_seen)
            logf_(LOG_WARN, "peers-file-missing path=%s", D.peers_file);
        D.pf_seen = 0;
        return;
    }
    if (D.pf_seen && st.st_ino == D.pf_st.st_ino && st.st_size == D.pf_st.st_size &&
        st.st_mtim.tv_sec == D.pf_st.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == D.pf_st.st_mtim.tv_nsec)
        return;
    D.pf_seen = 1;
    D.pf_st = st;
    if (st.st_size > (off_t)PEERS_FILE_BYTES_MAX) {
        logf_(LOG_WARN, "peers-file-error path=%s reason=too-big bytes=%lld max=%u",
              D.peers_file, (long long)st.st_size, PEERS_FILE_BYTES_MAX);
        return;
    }
    FILE *f = fopen(D.peers_file, "re");
    if (!f) {
        logf_(LOG_WARN, "peers-file-error path=%s reason=%s", D.peers_file, strerror(errno));
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
            logf_(LOG_WARN, "peers-file-error path=%s line=%u reason=line-too-long",
                  D.peers_file, lineno);
            bad_lines++;
            continue;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *b = line + strspn(line, " \t\r\n");
        char *e = b + strcspn(b, " \t\r\n");
        if (*(e + strspn(e, " \t\r\n"))) {
            logf_(LOG_WARN, "peers-file-error path=%s line=%u reason=more-than-one-word",
                  D.peers_file, lineno);
            bad_lines++;
            continue;
        }
        *e = 0;
        if (!*b)
            continue;
        weft_addr a;
        if (resolve_peer(b, &a) != 0 || a.port == 0) {
            logf_(LOG_WARN, "peers-file-error path=%s line=%u reason=bad-address", D.peers_file,
                  lineno);
            bad_lines++;
            continue;
        }
        int known = 0;
        for (size_t i = 0; i < D.pf_n && !known; i++)
            known = weft_addr_eq(&D.pf_addrs[i], &a);
        if (known)
            continue;
        if (D.pf_n == PEERS_FILE_MAX) {
            logf_(LOG_WARN, "peers-file-error path=%s line=%u reason=limit max=%d",
                  D.peers_file, lineno, PEERS_FILE_MAX);
            continue;
        }
        D.pf_addrs[D.pf_n++] = a;
        added++;
        member_join(&a, "peers-file");
    }
    fclose(f);
    logf_(LOG_INFO, "peers-file path=%s lines=%u new=%u bad=%u", D.peers_file, lineno,
          added, bad_lines);
}

/* Connects to every configured peer that is neither up nor being tried and
 * whose backoff has passed; checks the peers file. */
static void on_tick(uv_timer_t *t)
{
    if (D.stopping || D.leaving)
        return;
    uint64_t now = now_ms();
    if (D.peers_file && now >= D.pf_next_ms) {
        D.pf_next_ms = now + PEERS_FILE_CHECK_MS;
        peers_file_check();
    }
    for (size_t i = 0; i < D.npeers; i++) {
        cfg_peer *p = &D.peers[i];
        if (p->up)
            continue;
        if (p->trying && now - p->attempt_ms > ATTEMPT_MS_MAX)
            p->trying = 0; /* no outcome reported: try again */
        if (p->trying || now < p->next_ms)
            continue;
        char a[WEFT_ADDR_STRLEN];
        fmt_addr(&p->addr, a);
        int rc = weft_uv_node_connect_addr(D.node, &p->addr);
        logf_(LOG_DEBUG, "connect addr=%s rc=%s", a, rc ? weft_err_name(rc) : "0");
        p->attempt_ms = now;
        if (rc == 0)
            p->trying = 1;
        else
            retry_later(p);
    }
}

/* ---------------------------------------------------------------------- */
/* Control socket: one request line, response lines, an empty line.       */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0,
                          fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n + 1;
        char *q = realloc(b->p, cap);
        if (!q)
            return;
        b->p = q;
        b->cap = cap;
    }
}

static void conn_handle_closed(uv_handle_t *h)
{
    ctl_conn *c = h->data;
    if (--c->handles_open == 0) {
        if (c->prev)
            c->prev->next = c->next;
        else
            D.conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        free(c);
        D.nconns--;
    }
}

static void conn_close(ctl_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->pipe, conn_handle_closed);
    uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

static void on_written(uv_write_t *w, int status)
{
    ctl_conn *c = w->data;
    free(((char **)(w + 1))[0]);
    free(w);
    conn_close(c);
    (void)status;
}

/* Sends the response (ending with an empty line) and closes after it. */
static void conn_reply(ctl_conn *c, sbuf *b)
{
    sb_printf(b, "\n");
    if (!b->p) {
        conn_close(c);
        return;
    }
    uv_write_t *w = malloc(sizeof *w + sizeof(char *));
    if (!w) {
        free(b->p);
        conn_close(c);
        return;
    }
    ((char **)(w + 1))[0] = b->p;
    w->data = c;
    uv_buf_t buf = uv_buf_init(b->p, (unsigned)b->len);
    if (uv_write(w, (uv_stream_t *)&c->pipe, &buf, 1, on_written) != 0) {
        free(b->p);
        free(w);
        conn_close(c);
    }
}

/* Finds an established peer by 64 hex chars or a unique hex prefix. */
static int find_peer(const char *s, weft_node_id *out, sbuf *err)
{
    size_t l = strlen(s);
    if (l == 0 || l > 64 || strspn(s, "0123456789abcdef") != l) {
        sb_printf(err, "error WEFT_ERR_INVAL peer must be lowercase hex (a prefix of its id)\n");
        return -1;
    }
    if (l == 64 && weft_id_parse(out, s) == 0)
        return 0;
    weft_engine *e = weft_uv_node_engine(D.node);
    size_t n = weft_engine_peer_count(e);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        char h[WEFT_ID_HEX_LEN];
        weft_peer_info pi;
        if (weft_engine_peer_at(e, i, &pi) != 0)
            continue;
        weft_id_hex(&pi.id, h);
        if (!strncmp(h, s, l)) {
            *out = pi.id;
            found++;
        }
    }
    if (found == 1)
        return 0;
    sb_printf(err, "error %s %s peer %s\n",
              found ? "WEFT_ERR_INVAL" : "WEFT_ERR_NO_PEER",
              found ? "ambiguous" : "no established", s);
    return -1;
}

static int parse_prio(const char *s)
{
    static const char *names[] = {"critical", "high", "normal", "low"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i]) || (s[0] == '0' + i && s[1] == 0))
            return i;
    return -1;
}

static int parse_kind(const char *s)
{
    if (!strcmp(s, "ordered")) return WEFT_SEND_ORDERED;
    if (!strcmp(s, "unordered")) return WEFT_SEND_UNORDERED;
    if (!strcmp(s, "unreliable")) return WEFT_SEND_UNRELIABLE;
    return -1;
}

/* Reads a whole regular file of at most cap bytes. */
static int read_file(const char *path, uint32_t cap, uint8_t **out, size_t *len,
                     sbuf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        sb_printf(err, "error WEFT_ERR_INVAL cannot read %s: %s\n", path,
                  fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > cap) {
        sb_printf(err, "error WEFT_ERR_TOO_BIG file is %lld bytes, cap %u\n",
                  (long long)st.st_size, cap);
        close(fd);
        return -1;
    }
    uint8_t *b = malloc(st.st_size ? (size_t)st.st_size : 1);
    size_t got = 0;
    while (b && got < (size_t)st.st_size) {
        ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (!b || got != (size_t)st.st_size) {
        free(b);
        sb_printf(err, "error WEFT_ERR_IO short read of %s\n", path);
        return -1;
    }
    *out = b;
    *len = got;
    return 0;
}

static void cmd_send(char *args, sbuf *r)
{
    char *save = NULL;
    char *peer = strtok_r(args, " ", &save);
    char *prio = strtok_r(NULL, " ", &save);
    char *kind = strtok_r(NULL, " ", &save);
    char *what = save && *save ? save : NULL;
    if (!peer || !prio || !kind || !what) {
        sb_printf(r, "error WEFT_ERR_INVAL usage: send PEER PRIORITY ordered|unordered|unreliable FILE|@TEXT\n");
        return;
    }
    weft_node_id to;
    int p = parse_prio(prio), k = parse_kind(kind);
    if (p < 0 || k < 0) {
        sb_printf(r, "error WEFT_ERR_INVAL bad %s\n", p < 0 ? "priority (0-3|critical|high|normal|low)" : "kind");
        return;
    }
    if (find_peer(peer, &to, r) != 0)
        return;
    uint8_t *data = NULL;
    size_t len = 0;
    if (what[0] == '@') {
        len = strlen(what + 1);
        data = malloc(len ? len : 1);
        if (!data) {
            sb_printf(r, "error WEFT_ERR_NOMEM\n");
            return;
        }
        memcpy(data, what + 1, len);
    } else if (read_file(what, D.max_message_bytes, &data, &len, r) != 0) {
        return;
    }
    int64_t rc = weft_uv_node_send(D.node, &to, WEFT_CHANNEL_APP, data, len,
                                   (uint32_t)p | (uint32_t)k);
    if (rc > 0) {
        uint8_t h[crypto_hash_sha256_BYTES];
        char hh[2 * crypto_hash_sha256_BYTES + 1];
        crypto_hash_sha256(h, data, len);
        hex(h, sizeof h, hh);
        char id[WEFT_ID_SHORT_LEN];
        weft_id_short(&to, id);
        sb_printf(r, "ok queued to=%s len=%zu sha256=%s\n", id, len, hh);
        logf_(LOG_INFO, "sent to=%s len=%zu prio=%d kind=%s sha256=%s", id, len,
              p, kind_name((uint32_t)k), hh);
    } else {
        sb_printf(r, "error %s %s\n", weft_err_name((int)rc), weft_strerror((int)rc));
    }
    free(data);
}

static void cmd_peers(sbuf *r)
{
    weft_engine *e = weft_uv_node_engine(D.node);
    size_t n = weft_engine_peer_count(e);
    for (size_t i = 0; i < n; i++) {
        weft_peer_info pi;
        char h[WEFT_ID_HEX_LEN], a[WEFT_ADDR_STRLEN];
        if (weft_engine_peer_at(e, i, &pi) != 0)
            continue;
        weft_id_hex(&pi.id, h);
        fmt_addr(&pi.addr, a);
        sb_printf(r,
                  "peer id=%s addr=%s established=%d srtt_us=%u rttvar_us=%u "
                  "min_rtt_us=%u cwnd=%u mtu=%u inflight=%llu queued=%llu\n",
                  h, a, pi.established, pi.srtt_us, pi.rttvar_us, pi.min_rtt_us,
                  pi.cwnd_bytes, pi.mtu, (unsigned long long)pi.bytes_in_flight,
                  (unsigned long long)pi.queued_bytes);
    }
}

static void cmd_stats(sbuf *r)
{
    weft_stats s;
    weft_engine_stats(weft_uv_node_engine(D.node), &s);
#define S(f) sb_printf(r, #f "=%llu\n", (unsigned long long)s.f)
    S(pkts_in); S(pkts_out); S(bytes_in); S(bytes_out);
    S(msgs_sent); S(msgs_delivered); S(retransmits);
    S(drop_malformed); S(drop_decrypt); S(drop_replay); S(drop_unknown);
    S(drop_ratelimit); S(drop_wrong_mesh); S(drop_dup_msg);
    S(handshakes_ok); S(handshakes_failed); S(sessions);
#undef S
    weft_uv_stats u;
    weft_uv_node_stats(D.node, &u);
#define U(f) sb_printf(r, "uv_" #f "=%llu\n", (unsigned long long)u.f)
    U(recv_calls); U(recv_datagrams); U(send_calls); U(send_datagrams);
    U(send_eagain); U(send_emsgsize); U(send_errors); U(send_no_socket);
    U(recv_truncated); U(rcvbuf_bytes); U(sndbuf_bytes);
#undef U
}

static void cmd_id(sbuf *r)
{
    char h[WEFT_ID_HEX_LEN];
    weft_id_hex(weft_engine_id(weft_uv_node_engine(D.node)), h);
    sb_printf(r, "id=%s\nname=%s\n", h, D.name);
    for (size_t i = 0; i < weft_uv_node_listen_count(D.node); i++) {
        weft_addr a;
        char s[WEFT_ADDR_STRLEN];
        weft_uv_node_local_addr(D.node, i, &a);
        fmt_addr(&a, s);
        sb_printf(r, "listening=%s\n", s);
    }
}

/* `members`: one line per member, self included. */
static void cmd_members(sbuf *r)
{
    weft_engine *e = weft_uv_node_engine(D.node);
    if (!D.membership) {
        sb_printf(r, "error WEFT_ERR_STATE membership is off (--no-membership)\n");
        return;
    }
    uint64_t now = now_us();
    size_t n = weft_membership_count(e);
    for (size_t i = 0; i < n; i++) {
        weft_member m;
        if (weft_membership_at(e, i, &m) != 0)
            continue;
        char h[WEFT_ID_HEX_LEN], a[WEFT_ADDR_STRLEN], name[130], status[70];
        char tags[2048] = "";
        size_t tl = 0, off = 0;
        const char *k, *v;
        size_t kl, vl;
        weft_id_hex(&m.id, h);
        fmt_addr(&m.addr, a);
        clean(m.name, m.name_len, name, sizeof name);
        clean(m.status, m.status_len, status, sizeof status);
        while (weft_tag_next(m.tags, m.tags_len, &off, &k, &kl, &v, &vl) == 1 &&
               tl + 2 < sizeof tags) {
            char ck[300], cv[300];
            clean(k, kl, ck, sizeof ck);
            clean(v, vl, cv, sizeof cv);
            int w = snprintf(tags + tl, sizeof tags - tl, "%s%s=%s", tl ? "," : "", ck, cv);
            if (w < 0 || (size_t)w >= sizeof tags - tl)
                break;
            tl += (size_t)w;
        }
        long long ago = m.is_self ? 0
                        : m.last_contact_us ? (long long)((now - m.last_contact_us) / 1000)
                                            : -1;
        sb_printf(r,
                  "member id=%s name=%s state=%s addr=%s inc=%u rtt_us=%u "
                  "last_contact_ms=%lld self=%d status=%s tags=%s\n",
                  h, name, weft_member_state_name(m.state), a, m.incarnation, m.rtt_us,
                  ago, m.is_self, status, tl ? tags : "-");
    }
}

/* `membership`: counts and protocol counters, key=value per line. */
static void cmd_membership(sbuf *r)
{
    weft_membership_stats s;
    weft_engine *e = weft_uv_node_engine(D.node);
    if (weft_membership_stats_get(e, &s) != 0) {
        sb_printf(r, "error WEFT_ERR_STATE membership is off (--no-membership)\n");
        return;
    }
    sb_printf(r, "members=%zu\n", (size_t)weft_membership_count(e));
#define M(f) sb_printf(r, #f "=%llu\n", (unsigned long long)s.f)
    M(alive); M(suspect); sb_printf(r, "failed=%u\n", s.dead); M(left);
    M(pkts_in); M(pkts_out); M(bytes_in); M(bytes_out);
    M(drop_bad_mac); M(drop_malformed); M(drop_bad_signature); M(stale);
    M(refused_full); M(probes); M(probe_failures); M(refutations); M(pushpulls);
    M(awareness);
#undef M
    if (D.disc) {
        weft_discovery_stats d;
        weft_discovery_get_stats(D.disc, &d);
#define B(f) sb_printf(r, #f "=%llu\n", (unsigned long long)d.f)
        B(beacons_sent); B(send_errors); B(beacons_received); B(beacons_malformed);
        B(beacons_other_mesh); B(beacons_bad_sig); B(beacons_own); B(beacons_dup);
        B(beacons_known); B(beacons_wrong_iface); B(joins); B(join_errors);
        B(table_evictions); B(sockets);
#undef B
    }
}

static void handle_line(ctl_conn *c, char *line)
{
    sbuf r = {0};
    size_t l = strlen(line);
    if (l && line[l - 1] == '\r')
        line[--l] = 0;
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
            sb_printf(&r, "error WEFT_ERR_INVAL control characters in request\n");
            logf_(LOG_WARN, "control-error reason=control-characters");
            conn_reply(c, &r);
            return;
        }
    char *sp = strchr(line, ' ');
    char *args = sp ? sp + 1 : line + l;
    if (sp)
        *sp = 0;
    logf_(LOG_DEBUG, "control cmd=%.16s", line);
    if (!strcmp(line, "id") && !*args) {
        cmd_id(&r);
    } else if (!strcmp(line, "peers") && !*args) {
        cmd_peers(&r);
    } else if (!strcmp(line, "stats") && !*args) {
        cmd_stats(&r);
    } else if (!strcmp(line, "members") && !*args) {
        cmd_members(&r);
    } else if (!strcmp(line, "membership") && !*args) {
        cmd_membership(&r);
    } else if (!strcmp(line, "send")) {
        cmd_send(args, &r);
    } else if (!strcmp(line, "connect") && *args && !strchr(args, ' ')) {
        int rc = weft_uv_node_connect(D.node, args);
        if (rc == 0)
            sb_printf(&r, "ok connecting %s\n", args);
        else
            sb_printf(&r, "error %s %s\n", weft_err_name(rc), weft_strerror(rc));
    } else {
        sb_printf(&r, "error WEFT_ERR_INVAL unknown request (id, peers, stats, members, membership, send, connect)\n");
        logf_(LOG_WARN, "control-error reason=unknown-request");
    }
    conn_reply(c, &r);
}

static void conn_alloc(uv_handle_t *h, size_t sugg, uv_buf_t *buf)
{
    ctl_conn *c = h->data;
    size_t room = CTL_LINE_MAX - c->len;
    *buf = uv_buf_init(c->line + c->len, (unsigned)(room ? room : 1));
    (void)sugg;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    ctl_conn *c = s->data;
    if (nread < 0 || c->handled) {
        if (nread < 0 && !c->handled)
            conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    c->line[c->len] = 0;
    char *nl = memchr(c->line, '\n', c->len);
    if (!nl && strlen(c->line) != c->len) {
        nl = c->line + strlen(c->line); /* NUL byte: garbage, ends the line */
    }
    if (nl) {
        *nl = 0;
        c->handled = 1;
        uv_read_stop(s);
        handle_line(c, c->line);
        return;
    }
    if (c->len >= CTL_LINE_MAX) {
        c->handled = 1;
        uv_read_stop(s);
        sbuf r = {0};
        sb_printf(&r, "error WEFT_ERR_TOO_BIG request line over %d bytes\n", CTL_LINE_MAX);
        logf_(LOG_WARN, "control-error reason=line-too-long");
        conn_reply(c, &r);
    }
    (void)buf;
}

static void conn_idle(uv_timer_t *t)
{
    ctl_conn *c = t->data;
    if (!c->handled)
        conn_close(c);
}

static void on_ctl_conn(uv_stream_t *srv, int status)
{
    if (status < 0)
        return;
    ctl_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_pipe_init(D.loop, &c->pipe, 0);
    uv_timer_init(D.loop, &c->idle);
    c->pipe.data = c;
    c->idle.data = c;
    c->handles_open = 2;
    c->next = D.conns;
    if (c->next)
        c->next->prev = c;
    D.conns = c;
    D.nconns++;
    if (uv_accept(srv, (uv_stream_t *)&c->pipe) != 0 || D.nconns > CTL_CONNS_MAX ||
        D.stopping) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->idle, conn_idle, CTL_IDLE_MS, 0);
    uv_read_start((uv_stream_t *)&c->pipe, conn_alloc, conn_read);
}

/* Binds the control socket (mode 0600).  A leftover socket file from a
 * crashed daemon is removed; a live one is an error. */
static int control_start(void)
{
    struct stat st;
    if (lstat(D.control, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "weftd: %s exists and is not a socket\n", D.control);
            return -1;
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un su = {.sun_family = AF_UNIX};
        snprintf(su.sun_path, sizeof su.sun_path, "%s", D.control);
        int live = fd >= 0 && connect(fd, (struct sockaddr *)&su, sizeof su) == 0;
        if (fd >= 0)
            close(fd);
        if (live) {
            fprintf(stderr, "weftd: another weftd answers on %s\n", D.control);
            return -1;
        }
        unlink(D.control);
    }
    uv_pipe_init(D.loop, &D.ctl, 0);
    mode_t old = umask(0077);
    int rc = uv_pipe_bind(&D.ctl, D.control);
    umask(old);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&D.ctl, 16, on_ctl_conn);
    if (rc != 0) {
        fprintf(stderr, "weftd: control socket %s: %s\n", D.control, uv_strerror(rc));
        return -1;
    }
    D.control_bound = 1;
    return 0;
}

/* ---------------------------------------------------------------------- */
/* Shutdown                                                                */

static void on_node_closed(weft_uv_node *node, void *ud)
{
    D.node = NULL;
    (void)node;
    (void)ud;
}

static void stop(const char *why)
{
    if (D.stopping)
        return;
    D.stopping = 1;
    logf_(LOG_INFO, "shutdown reason=%s", why);
    if (D.disc)
        weft_discovery_close(D.disc);
    D.disc = NULL;
    if (D.node)
        weft_uv_node_close(D.node, on_node_closed);
    uv_timer_stop(&D.tick);
    uv_close((uv_handle_t *)&D.tick, NULL);
    uv_close((uv_handle_t *)&D.leave_timer, NULL);
    uv_close((uv_handle_t *)&D.sigint, NULL);
    uv_close((uv_handle_t *)&D.sigterm, NULL);
    if (D.control_bound) {
        uv_close((uv_handle_t *)&D.ctl, NULL);
        unlink(D.control);
    }
    for (ctl_conn *c = D.conns; c; c = c->next)
        conn_close(c);
}

static void on_leave_done(uv_timer_t *t)
{
    stop(D.stop_why);
    (void)t;
}

/*
 * First signal: a graceful leave (others log member-left instead of
 * member-failed after a suspicion timeout), flushed at once and given
 * LEAVE_GRACE_MS of gossip rounds to spread, then the normal stop.  A
 * second signal stops at once.
 */
static void on_signal(uv_signal_t *s, int signum)
{
    const char *why = signum == SIGINT ? "SIGINT" : "SIGTERM";
    if (D.leaving || !D.membership || !D.node) {
        stop(why);
        return;
    }
    D.leaving = 1;
    D.stop_why = why;
    int rc = weft_membership_leave(weft_uv_node_engine(D.node), now_us());
    weft_uv_node_flush(D.node);
    if (D.disc)
        weft_discovery_close(D.disc); /* a leaving node must not invite joins */
    D.disc = NULL;
    logf_(LOG_INFO, "leaving reason=%s rc=%s grace_ms=%d", why, rc ? weft_err_name(rc) : "0",
          LEAVE_GRACE_MS);
    uv_timer_start(&D.leave_timer, on_leave_done, LEAVE_GRACE_MS, 0);
    (void)s;
}

/* ---------------------------------------------------------------------- */
/* Flags                                                                   */

static void usage(FILE *f)
{
    fprintf(f,
"usage: weftd --data-dir DIR (--network-key FILE | --network-passphrase P) [options]\n"
"\n"
"Runs one weft node: encrypted, authenticated sessions (Noise_XXpsk3 over UDP)\n"
"with every node that holds the same network key.\n"
"\n"
"  --listen ADDR:PORT      UDP address to bind; repeatable, IPv4 or [IPv6]\n"
"                          (default 127.0.0.1:7946; nothing else is opened)\n"
"  --data-dir DIR          node state; the identity key DIR/identity.key is\n"
"                          created there on first start (mode 0600)\n"
"  --network-key FILE      32-byte mesh key (make one: weft keygen --network-key FILE)\n"
"  --network-passphrase P  derive the mesh key from P (demos and tests only:\n"
"                          visible in the process list)\n"
"  --peer HOST:PORT        connect to this node, retrying with backoff\n"
"                          (500 ms doubling to 30 s) while it is not up, and\n"
"                          join the mesh's membership through it; repeatable\n"
"  --name NAME             a human name for this node (logged, spread to all\n"
"                          members; at most 63 bytes)\n"
"\n"
"Membership (SWIM + Lifeguard; every node knows who is alive):\n"
"  --advertise ADDR:PORT   the address other nodes reach this one at; required\n"
"                          when --listen is 0.0.0.0 or [::] (port 0 = the\n"
"                          bound port); default: the first specific --listen\n"
"  --peers-file PATH       HOST:PORT per line ('#' comments); joined at start\n"
"                          and re-read (checked every second) when it changes\n"
"  --status WORD           active (default), idle, processing, offline, ...\n"
"  --tag KEY=VALUE         metadata spread to all members; repeatable (max 32;\n"
"                          512 bytes encoded in all)\n"
"  --profile lan|wan       failure detection timings (default lan: fast)\n"
"  --max-peers N           members tracked, self included (default 4096);\n"
"                          beyond it new members are refused (member-refused)\n"
"  --probe-interval-ms N, --probe-timeout-ms N, --suspicion-mult N\n"
"                          override the profile's values\n"
"  --no-membership         sessions only: no membership traffic at all\n"
"\n"
"LAN beacons (off unless an interface is named; see docs/DISCOVERY.md):\n"
"  --beacon IFACE          announce this node on IFACE every ~1 s (signed,\n"
"                          broadcast + multicast) and join nodes heard there;\n"
"                          repeatable (max 8)\n"
"  --beacon-port N         UDP port of the beacons (default 7947)\n"
"  --beacon-family F       4 (IPv4 broadcast + 239.255.77.77), 6 (ff02::7765),\n"
"                          broadcast (IPv4 broadcast only) or all (default)\n"
"  --beacon-interval-ms N  beacon period (default 1000, jittered +-20%%)\n"
"\n"
"  --unreachable-ms N      declare a silent peer down after N ms (default 10000)\n"
"  --log-level LEVEL       error | warn | info (default) | debug\n"
"  --control PATH          control socket for the weft CLI\n"
"                          (default DATA_DIR/weftd.sock)\n"
"  --help                  this text\n"
"  --version               print the version\n"
"\n"
"Logs one line per event on stdout: node, membership, peer-up, peer-down,\n"
"handshake-failed, message, sent, member-joined, member-updated,\n"
"member-suspect, member-alive, member-failed, member-left, member-rejoined,\n"
"member-refused, beacon-join, peers-file, leaving, shutdown, stopped\n"
"(see docs/DAEMON.md).\n"
"SIGINT/SIGTERM: leave the membership (300 ms for it to spread), close all\n"
"sessions and exit 0; a second signal exits at once.\n"
"Exit codes: 0 clean shutdown, 1 runtime failure (bind, I/O, control socket\n"
"in use), 2 bad usage or configuration (key file missing, malformed or\n"
"readable by others; data dir writable by others).\n");
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "weftd: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see weftd --help)\n");
    return 2;
}

static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

/* Resolves host:port (numeric or a name) to one address, at start-up. */
static int resolve_peer(const char *spec, weft_addr *out)
{
    if (weft_addr_parse(out, spec) == 0)
        return 0;
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec || (size_t)(colon - spec) >= 256)
        return -1;
    char host[256];
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = 0;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0)
        return -1;
    int rc = weft_uv_addr_from_sockaddr(out, res->ai_addr);
    freeaddrinfo(res);
    return rc;
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
    fmt_addr(addr, a);
    logf_(rc ? LOG_WARN : LOG_INFO, "beacon-join id=%s addr=%s iface=%s rc=%s", sid, a, iface,
          rc ? weft_err_name(rc) : "0");
    (void)d;
    (void)ud;
}

/*
 * Membership set-up once the sockets are bound: the advertised address,
 * our metadata, the bootstrap joins, the peers file and the beacons.
 * cfg still holds the identity and network key (the beacons sign with the
 * former and derive the mesh id from the latter).  Returns 0 or an exit
 * code (2: configuration, 1: runtime), after printing why on stderr.
 */
static int membership_start(const weft_uv_config *cfg)
{
    weft_engine *e = weft_uv_node_engine(D.node);
    int arc = weft_membership_attach(e, &D.mcfg, now_us());
    if (arc != 0) {
        fprintf(stderr, "weftd: membership: %s\n", weft_strerror(arc));
        return arc == WEFT_ERR_CONFIG ? 2 : 1;
    }
    size_t nl = weft_uv_node_listen_count(D.node);
    weft_addr adv = {0};
    if (D.have_advertise) {
        adv = D.advertise;
        for (size_t i = 0; i < nl && adv.port == 0; i++) {
            weft_addr a;
            if (weft_uv_node_local_addr(D.node, i, &a) == 0 && a.family == adv.family)
                adv.port = a.port;
        }
        if (adv.port == 0 || addr_unspecified(&adv)) {
            fprintf(stderr, "weftd: --advertise needs a specific address and a port (no --listen of that family)\n");
            return 2;
        }
    } else {
        for (size_t i = 0; i < nl && !adv.family; i++) {
            weft_addr a;
            if (weft_uv_node_local_addr(D.node, i, &a) == 0 && !addr_unspecified(&a))
                adv = a;
        }
        if (!adv.family) {
            fprintf(stderr, "weftd: bound to a wildcard address only: give --advertise ADDR:PORT "
                            "(the address other nodes reach this one at), or --no-membership\n");
            return 2;
        }
    }
    int rc = weft_membership_set_addr(e, &adv, now_us());
    if (rc == 0)
        rc = weft_membership_set_meta(e, strcmp(D.name, "-") ? D.name : NULL, D.status, D.tags,
                                  D.ntags, now_us());
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
    weft_uv_node_flush(D.node);
    for (size_t i = 0; i < D.npeers; i++)
        member_join(&D.peers[i].addr, "peer");
    if (D.peers_file) {
        peers_file_check();
        if (!D.pf_seen)
            logf_(LOG_WARN, "peers-file-missing path=%s (watching for it)", D.peers_file);
        D.pf_next_ms = now_ms() + PEERS_FILE_CHECK_MS;
    }
    if (D.disc_cfg.iface_count) {
        weft_discovery_config *dc = &D.disc_cfg;
        dc->advertise[0] = adv;
        dc->advertise_count = 1;
        for (size_t i = 0; i < nl && dc->advertise_count < WEFT_DISC_ADDRS_MAX; i++) {
            weft_addr a;
            if (weft_uv_node_local_addr(D.node, i, &a) == 0 && !addr_unspecified(&a) &&
                !weft_addr_eq(&a, &adv))
                dc->advertise[dc->advertise_count++] = a;
        }
        dc->on_join = on_beacon_join;
        rc = weft_discovery_new(&D.disc, D.loop, D.node, dc, cfg->engine.identity_secret,
                                cfg->engine.network_key);
        if (rc != 0) {
            fprintf(stderr, "weftd: --beacon: %s (%s) %s\n", weft_strerror(rc), weft_err_name(rc),
                    weft_discovery_last_error());
            return rc == WEFT_ERR_INVAL ? 2 : 1;
        }
        weft_discovery_stats ds;
        weft_discovery_get_stats(D.disc, &ds);
        char ifl[WEFT_DISC_IFACES_MAX * 17] = "";
        for (size_t i = 0; i < dc->iface_count; i++) {
            if (i)
                strcat(ifl, ",");
            strcat(ifl, dc->ifaces[i]);
        }
        logf_(LOG_INFO, "beacons ifaces=%s port=%u sockets=%u modes=%s%s%s", ifl,
              dc->port ? dc->port : WEFT_DISC_PORT_DEFAULT, ds.sockets,
              (!dc->modes || dc->modes & WEFT_DISC_V4_BROADCAST) ? "bcast4," : "",
              (!dc->modes || dc->modes & WEFT_DISC_V4_MULTICAST) ? "mcast4," : "",
              (!dc->modes || dc->modes & WEFT_DISC_V6_MULTICAST) ? "mcast6" : "");
    }
    char a[WEFT_ADDR_STRLEN];
    fmt_addr(&adv, a);
    logf_(LOG_INFO, "membership addr=%s profile=%s inc=%u", a,
          D.mcfg.profile == WEFT_PROFILE_WAN ? "wan" : "lan", D.mcfg.incarnation_start);
    return 0;
}

/* A key file the user must fix (permissions, contents, missing) is a
 * configuration error (2); anything else a runtime failure (1). */
static int key_exit(int rc)
{
    return rc == WEFT_ERR_KEY_PERMS || rc == WEFT_ERR_CORRUPT ||
                   rc == WEFT_ERR_NOT_FOUND || rc == WEFT_ERR_INVAL
               ? 2
               : 1;
}

int main(int argc, char **argv)
{
    enum { O_LISTEN = 1, O_DATA, O_NETKEY, O_NETPASS, O_PEER, O_NAME, O_UNREACH,
           O_LOG, O_CONTROL, O_HELP, O_VERSION, O_ADVERTISE, O_PEERS_FILE, O_STATUS,
           O_TAG, O_PROFILE, O_MAX_PEERS, O_NO_MEMBERSHIP, O_PROBE_INTERVAL,
           O_PROBE_TIMEOUT, O_SUSPICION_MULT, O_BEACON, O_BEACON_PORT, O_BEACON_FAMILY,
           O_BEACON_INTERVAL };
    static const struct option opts[] = {
        {"listen", required_argument, 0, O_LISTEN},
        {"data-dir", required_argument, 0, O_DATA},
        {"network-key", required_argument, 0, O_NETKEY},
        {"network-passphrase", required_argument, 0, O_NETPASS},
        {"peer", required_argument, 0, O_PEER},
        {"name", required_argument, 0, O_NAME},
        {"unreachable-ms", required_argument, 0, O_UNREACH},
        {"log-level", required_argument, 0, O_LOG},
        {"control", required_argument, 0, O_CONTROL},
        {"advertise", required_argument, 0, O_ADVERTISE},
        {"peers-file", required_argument, 0, O_PEERS_FILE},
        {"status", required_argument, 0, O_STATUS},
        {"tag", required_argument, 0, O_TAG},
        {"profile", required_argument, 0, O_PROFILE},
        {"max-peers", required_argument, 0, O_MAX_PEERS},
        {"no-membership", no_argument, 0, O_NO_MEMBERSHIP},
        {"probe-interval-ms", required_argument, 0, O_PROBE_INTERVAL},
        {"probe-timeout-ms", required_argument, 0, O_PROBE_TIMEOUT},
        {"suspicion-mult", required_argument, 0, O_SUSPICION_MULT},
        {"beacon", required_argument, 0, O_BEACON},
        {"beacon-port", required_argument, 0, O_BEACON_PORT},
        {"beacon-family", required_argument, 0, O_BEACON_FAMILY},
        {"beacon-interval-ms", required_argument, 0, O_BEACON_INTERVAL},
        {"help", no_argument, 0, O_HELP},
        {"version", no_argument, 0, O_VERSION},
        {0, 0, 0, 0}};
    weft_uv_config cfg;
    weft_uv_config_default(&cfg);
    const char *netkey = NULL, *netpass = NULL, *data_dir = NULL, *control = NULL;
    D.log_level = LOG_INFO;
    snprintf(D.name, sizeof D.name, "-");
    snprintf(D.status, sizeof D.status, "active");
    D.membership = 1;
    weft_membership_config_default(&D.mcfg);
    uint32_t u32;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case O_LISTEN:
            if (cfg.listen_count == WEFT_UV_MAX_LISTEN)
                return bad("too many --listen (max 8): %s", optarg);
            if (weft_addr_parse(&cfg.listen[cfg.listen_count], optarg) != 0)
                return bad("--listen wants a numeric ADDR:PORT like 127.0.0.1:7946 or [::1]:7946, got '%s'", optarg);
            cfg.listen_count++;
            break;
        case O_DATA: data_dir = optarg; break;
        case O_NETKEY: netkey = optarg; break;
        case O_NETPASS: netpass = optarg; break;
        case O_PEER:
            if (D.npeers == MAX_PEERS_CFG)
                return bad("too many --peer (max 64): %s", optarg);
            if (strlen(optarg) >= sizeof D.peers[0].spec)
                return bad("--peer too long: %s", optarg);
            snprintf(D.peers[D.npeers++].spec, sizeof D.peers[0].spec, "%s", optarg);
            break;
        case O_NAME:
            if (strlen(optarg) == 0 || strlen(optarg) >= sizeof D.name ||
                strcspn(optarg, " \t\r\n=\"") != strlen(optarg))
                return bad("--name must be 1-63 chars without spaces, '=' or quotes: '%s'", optarg);
            snprintf(D.name, sizeof D.name, "%s", optarg);
            break;
        case O_UNREACH:
            if (parse_u32(optarg, 100, 3600000, &cfg.engine.unreachable_ms) != 0)
                return bad("--unreachable-ms wants 100..3600000, got '%s'", optarg);
            break;
        case O_LOG:
            if (!strcmp(optarg, "error")) D.log_level = LOG_ERROR;
            else if (!strcmp(optarg, "warn")) D.log_level = LOG_WARN;
            else if (!strcmp(optarg, "info")) D.log_level = LOG_INFO;
            else if (!strcmp(optarg, "debug")) D.log_level = LOG_DEBUG;
            else return bad("--log-level wants error|warn|info|debug, got '%s'", optarg);
            break;
        case O_CONTROL: control = optarg; break;
        case O_ADVERTISE:
            if (weft_addr_parse(&D.advertise, optarg) != 0)
                return bad("--advertise wants a numeric ADDR:PORT (port 0 = the bound port), got '%s'", optarg);
            D.have_advertise = 1;
            break;
        case O_PEERS_FILE: D.peers_file = optarg; break;
        case O_STATUS:
            if (strlen(optarg) == 0 || strlen(optarg) >= sizeof D.status)
                return bad("--status must be 1-32 bytes (active, idle, processing, offline or your own word): '%s'", optarg);
            snprintf(D.status, sizeof D.status, "%s", optarg);
            break;
        case O_TAG: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg)
                return bad("--tag wants KEY=VALUE with a non-empty KEY, got '%s'", optarg);
            if (D.ntags == TAGS_MAX)
                return bad("too many --tag (max 32): %s", optarg);
            *eq = 0; /* argv is ours to split */
            D.tags[D.ntags].key = optarg;
            D.tags[D.ntags].value = eq + 1;
            D.ntags++;
            break;
        }
        case O_PROFILE:
            if (!strcmp(optarg, "lan")) D.mcfg.profile = WEFT_PROFILE_LAN;
            else if (!strcmp(optarg, "wan")) D.mcfg.profile = WEFT_PROFILE_WAN;
            else return bad("--profile wants lan or wan, got '%s'", optarg);
            break;
        case O_MAX_PEERS:
            if (parse_u32(optarg, 2, 1000000, &D.mcfg.max_peers) != 0)
                return bad("--max-peers wants 2..1000000 (members tracked, self included), got '%s'", optarg);
            break;
        case O_NO_MEMBERSHIP: D.membership = 0; break;
        case O_PROBE_INTERVAL:
            if (parse_u32(optarg, 10, 600000, &D.mcfg.probe_interval_ms) != 0)
                return bad("--probe-interval-ms wants 10..600000, got '%s'", optarg);
            break;
        case O_PROBE_TIMEOUT:
            if (parse_u32(optarg, 5, 600000, &D.mcfg.probe_timeout_ms) != 0)
                return bad("--probe-timeout-ms wants 5..600000, got '%s'", optarg);
            break;
        case O_SUSPICION_MULT:
            if (parse_u32(optarg, 1, 100, &D.mcfg.suspicion_mult) != 0)
                return bad("--suspicion-mult wants 1..100, got '%s'", optarg);
            break;
        case O_BEACON:
            if (D.disc_cfg.iface_count == WEFT_DISC_IFACES_MAX)
                return bad("too many --beacon (max 8): %s", optarg);
            if (!*optarg || strlen(optarg) >= sizeof D.disc_cfg.ifaces[0])
                return bad("--beacon wants an interface name (1-15 chars), got '%s'", optarg);
            snprintf(D.disc_cfg.ifaces[D.disc_cfg.iface_count++], sizeof D.disc_cfg.ifaces[0],
                     "%s", optarg);
            break;
        case O_BEACON_PORT:
            if (parse_u32(optarg, 1, 65535, &u32) != 0)
                return bad("--beacon-port wants 1..65535, got '%s'", optarg);
            D.disc_cfg.port = (uint16_t)u32;
            break;
        case O_BEACON_FAMILY:
            if (!strcmp(optarg, "4")) D.disc_cfg.modes = WEFT_DISC_V4_BROADCAST | WEFT_DISC_V4_MULTICAST;
            else if (!strcmp(optarg, "6")) D.disc_cfg.modes = WEFT_DISC_V6_MULTICAST;
            else if (!strcmp(optarg, "broadcast")) D.disc_cfg.modes = WEFT_DISC_V4_BROADCAST;
            else if (!strcmp(optarg, "all")) D.disc_cfg.modes = WEFT_DISC_ALL;
            else return bad("--beacon-family wants 4, 6, broadcast or all, got '%s'", optarg);
            break;
        case O_BEACON_INTERVAL:
            if (parse_u32(optarg, 50, 3600000, &D.disc_cfg.interval_ms) != 0)
                return bad("--beacon-interval-ms wants 50..3600000, got '%s'", optarg);
            break;
        case O_HELP: usage(stdout); return 0;
        case O_VERSION: printf("weftd %s\n", WEFT_VERSION_STRING); return 0;
        default:
            return bad("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad("unexpected argument '%s'", argv[optind]);
    if (!D.membership && (D.peers_file || D.disc_cfg.iface_count))
        return bad("%s", "--peers-file and --beacon need membership (drop --no-membership)");
    /* Wall-clock seconds: a restarted node outbids what others remember of
     * its previous life (only a node may assert its own liveness). */
    D.mcfg.incarnation_start = (uint32_t)time(NULL);
    if (!data_dir)
        return bad("%s", "--data-dir DIR is required");
    if (!netkey == !netpass)
        return bad("%s", "exactly one of --network-key FILE or --network-passphrase P is required");
    if (cfg.listen_count == 0) {
        weft_addr_parse(&cfg.listen[0], "127.0.0.1:7946");
        cfg.listen_count = 1;
    }
    if (strlen(data_dir) >= sizeof D.data_dir - 16)
        return bad("--data-dir path too long: %s", data_dir);
    snprintf(D.data_dir, sizeof D.data_dir, "%s", data_dir);
    if (control) {
        if (strlen(control) >= sizeof D.control)
            return bad("--control path too long (max 107 bytes): %s", control);
        snprintf(D.control, sizeof D.control, "%s", control);
    } else {
        if (strlen(data_dir) + strlen("/weftd.sock") >= sizeof D.control)
            return bad("DATA_DIR too long for the default control socket path; use --control: %s", data_dir);
        snprintf(D.control, sizeof D.control, "%s/weftd.sock", data_dir);
    }
    for (size_t i = 0; i < D.npeers; i++) {
        if (resolve_peer(D.peers[i].spec, &D.peers[i].addr) != 0)
            return bad("--peer wants HOST:PORT that resolves, got '%s'", D.peers[i].spec);
        D.peers[i].backoff_ms = RETRY_MS_MIN;
    }

    if (sodium_init() < 0) {
        fprintf(stderr, "weftd: libsodium failed to initialise\n");
        return 1;
    }
    /* Data directory: created private; an existing one must not be
     * writable by others (they could swap the identity key). */
    struct stat st;
    if (stat(data_dir, &st) != 0) {
        if (mkdir(data_dir, 0700) != 0) {
            fprintf(stderr, "weftd: cannot create %s: %s\n", data_dir, strerror(errno));
            return 1;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        return bad("--data-dir %s is not a directory", data_dir);
    } else if (st.st_mode & S_IWOTH) {
        fprintf(stderr, "weftd: %s is writable by others; chmod 700 it\n", data_dir);
        return 2;
    }
    int created = 0;
    weft_node_id id;
    int rc = weft_identity_load_or_create(data_dir, cfg.engine.identity_secret, &id,
                                          &created);
    if (rc != 0) {
        fprintf(stderr, "weftd: identity in %s: %s (%s)\n", data_dir,
                weft_strerror(rc), weft_err_name(rc));
        return key_exit(rc);
    }
    rc = netkey ? weft_network_key_load(netkey, cfg.engine.network_key)
                : weft_network_key_from_passphrase(netpass, cfg.engine.network_key);
    if (rc != 0) {
        fprintf(stderr, "weftd: network key %s: %s (%s)\n",
                netkey ? netkey : "from passphrase", weft_strerror(rc), weft_err_name(rc));
        return key_exit(rc);
    }
    D.max_message_bytes = cfg.engine.max_message_bytes;

    signal(SIGPIPE, SIG_IGN); /* a CLI that hangs up must not kill us */
    D.loop = uv_default_loop();
    cfg.on_event = on_event;
    rc = weft_uv_node_new(&D.node, D.loop, &cfg, NULL);
    if (rc != 0) {
        sodium_memzero(cfg.engine.identity_secret, sizeof cfg.engine.identity_secret);
        sodium_memzero(cfg.engine.network_key, sizeof cfg.engine.network_key);
        fprintf(stderr, "weftd: cannot start node: %s (%s) %s\n", weft_strerror(rc),
                weft_err_name(rc), weft_uv_last_error());
        uv_run(D.loop, UV_RUN_DEFAULT); /* let the half-made node finish closing */
        return 1;
    }
    if (control_start() != 0) {
        sodium_memzero(cfg.engine.identity_secret, sizeof cfg.engine.identity_secret);
        sodium_memzero(cfg.engine.network_key, sizeof cfg.engine.network_key);
        weft_uv_node_close(D.node, NULL);
        uv_run(D.loop, UV_RUN_DEFAULT);
        return 1;
    }
    uv_signal_init(D.loop, &D.sigint);
    uv_signal_init(D.loop, &D.sigterm);
    uv_signal_start(&D.sigint, on_signal, SIGINT);
    uv_signal_start(&D.sigterm, on_signal, SIGTERM);
    uv_timer_init(D.loop, &D.tick);
    uv_timer_init(D.loop, &D.leave_timer);
    uv_timer_start(&D.tick, on_tick, 0, TICK_MS);

    char hexid[WEFT_ID_HEX_LEN], listening[WEFT_UV_MAX_LISTEN * WEFT_ADDR_STRLEN] = "";
    weft_id_hex(weft_engine_id(weft_uv_node_engine(D.node)), hexid);
    for (size_t i = 0; i < weft_uv_node_listen_count(D.node); i++) {
        weft_addr a;
        char s[WEFT_ADDR_STRLEN];
        weft_uv_node_local_addr(D.node, i, &a);
        fmt_addr(&a, s);
        if (i)
            strcat(listening, ",");
        strcat(listening, s);
    }
    logf_(LOG_INFO, "node id=%s listening=%s name=%s identity=%s control=%s version=%s",
          hexid, listening, D.name, created ? "created" : "loaded", D.control,
          WEFT_VERSION_STRING);
    weft_uv_stats us;
    weft_uv_node_stats(D.node, &us);
    uint32_t want = 4u << 20;
    if (us.rcvbuf_bytes < want || us.sndbuf_bytes < want)
        logf_(LOG_WARN, "warn sockbuf rcvbuf=%u sndbuf=%u wanted=%u (raise net.core.rmem_max/wmem_max)",
              us.rcvbuf_bytes, us.sndbuf_bytes, want);

    if (D.membership) {
        int mrc = membership_start(&cfg);
        if (mrc != 0) {
            D.exit_code = mrc;
            stop("config");
        }
    }
    sodium_memzero(cfg.engine.identity_secret, sizeof cfg.engine.identity_secret);
    sodium_memzero(cfg.engine.network_key, sizeof cfg.engine.network_key);

    uv_run(D.loop, UV_RUN_DEFAULT);
    logf_(LOG_INFO, "stopped");
    uv_loop_close(D.loop);
    return D.exit_code;
}
