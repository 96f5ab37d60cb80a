/*
 * control.c -- weftd's control socket (control.h, docs/DAEMON.md).
 *
 * A unix stream socket.  A client sends one request line; the daemon
 * answers with zero or more lines and an empty line, and closes.  Requests
 * become calls of the service; nothing here touches the engine.  Every
 * connection is bounded: one line of at most CTL_LINE_MAX bytes within
 * CTL_IDLE_MS, at most CTL_CONNS_MAX connections at once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "text.h"

#define CTL_LINE_MAX 4096         /* one control request line */
#define CTL_CONNS_MAX 32          /* concurrent control connections */
#define CTL_IDLE_MS 10000         /* a control client must send its line by then */
#define CTL_FILE_MAX (16u << 20)  /* a file named in `send` */

typedef struct conn {
    struct conn *next, *prev; /* ctl->conns: closed at shutdown */
    control *ctl;
    uv_pipe_t pipe;
    uv_timer_t idle;
    char line[CTL_LINE_MAX + 1];
    size_t len;
    int handled;
    int closing;
    int handles_open;
} conn;

struct control {
    uv_loop_t *loop;
    service *svc;
    uv_pipe_t listener;
    char path[108];
    int bound, closing, listener_open;
    conn *conns;
    int nconns;
};

/* A growing response buffer; a failed allocation drops the response (the
 * connection is then closed without one). */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    int failed;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->failed; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap ? b->cap * 2 : 1024) + (size_t)n + 1;
        char *q = realloc(b->p, cap);
        if (!q) {
            b->failed = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
}

/* ---------------------------------------------------------------------- */
/* Connections                                                             */

static void control_maybe_free(control *c)
{
    if (c->closing && !c->listener_open && c->nconns == 0)
        free(c);
}

static void conn_handle_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (--c->handles_open)
        return;
    control *ctl = c->ctl;
    if (c->prev)
        c->prev->next = c->next;
    else
        ctl->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
    ctl->nconns--;
    control_maybe_free(ctl);
}

static void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->pipe, conn_handle_closed);
    uv_close((uv_handle_t *)&c->idle, conn_handle_closed);
}

static void on_written(uv_write_t *w, int status)
{
    conn *c = w->data;
    free(((char **)(w + 1))[0]);
    free(w);
    conn_close(c);
    (void)status;
}

/* Sends the response (ending with an empty line) and closes after it. */
static void conn_reply(conn *c, sbuf *b)
{
    sb_printf(b, "\n");
    if (b->failed || !b->p) {
        free(b->p);
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

/* ---------------------------------------------------------------------- */
/* Requests                                                                */

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
static int read_file(const char *path, uint32_t cap, uint8_t **out, size_t *len, sbuf *err)
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

static void cmd_send(control *ctl, char *args, sbuf *r)
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
    char why[256];
    int p = parse_prio(prio), k = parse_kind(kind);
    if (p < 0 || k < 0) {
        sb_printf(r, "error WEFT_ERR_INVAL bad %s\n", p < 0 ? "priority (0-3|critical|high|normal|low)" : "kind");
        return;
    }
    int rc = service_find_peer(ctl->svc, peer, &to, why, sizeof why);
    if (rc != 0) {
        sb_printf(r, "error %s %s\n", weft_err_name(rc), why);
        return;
    }
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
    } else if (read_file(what, CTL_FILE_MAX, &data, &len, r) != 0) {
        return;
    }
    char sha[65];
    rc = service_send(ctl->svc, &to, data, len, p, (uint32_t)k, sha, why, sizeof why);
    if (rc == 0) {
        char id[WEFT_ID_SHORT_LEN];
        weft_id_short(&to, id);
        sb_printf(r, "ok queued to=%s len=%zu sha256=%s\n", id, len, sha);
    } else {
        sb_printf(r, "error %s %s\n", weft_err_name(rc), why);
    }
    free(data);
}

static void peer_line(void *ud, const svc_peer *p)
{
    char h[WEFT_ID_HEX_LEN], a[WEFT_ADDR_STRLEN];
    weft_id_hex(&p->id, h);
    text_addr(&p->addr, a);
    sb_printf(ud,
              "peer id=%s addr=%s established=%d srtt_us=%u rttvar_us=%u "
              "min_rtt_us=%u cwnd=%u mtu=%u inflight=%llu queued=%llu\n",
              h, a, p->established, p->srtt_us, p->rttvar_us, p->min_rtt_us, p->cwnd_bytes,
              p->mtu, (unsigned long long)p->inflight_bytes, (unsigned long long)p->queued_bytes);
}

static void kv_line(void *ud, const char *key, uint64_t value)
{
    sb_printf(ud, "%s=%llu\n", key, (unsigned long long)value);
}

static void cmd_id(control *ctl, sbuf *r)
{
    svc_info in;
    service_info(ctl->svc, &in);
    char h[WEFT_ID_HEX_LEN];
    weft_id_hex(&in.id, h);
    sb_printf(r, "id=%s\nname=%s\n", h, in.name);
    for (size_t i = 0; i < in.listen_count; i++) {
        char s[WEFT_ADDR_STRLEN];
        text_addr(&in.listen[i], s);
        sb_printf(r, "listening=%s\n", s);
    }
}

static void member_line(void *ud, const svc_member *m)
{
    char h[WEFT_ID_HEX_LEN], a[WEFT_ADDR_STRLEN], name[130], status[70];
    char tags[2048] = "";
    size_t tl = 0;
    weft_id_hex(&m->id, h);
    text_addr(&m->addr, a);
    text_clean(m->name, m->name_len, name, sizeof name);
    text_clean(m->status, m->status_len, status, sizeof status);
    for (size_t i = 0; i < m->ntags && tl + 2 < sizeof tags; i++) {
        char ck[300], cv[300];
        text_clean(m->tags[i].key, m->tags[i].key_len, ck, sizeof ck);
        text_clean(m->tags[i].value, m->tags[i].value_len, cv, sizeof cv);
        int w = snprintf(tags + tl, sizeof tags - tl, "%s%s=%s", tl ? "," : "", ck, cv);
        if (w < 0 || (size_t)w >= sizeof tags - tl)
            break;
        tl += (size_t)w;
    }
    sb_printf(ud,
              "member id=%s name=%s state=%s addr=%s inc=%u rtt_us=%u "
              "last_contact_ms=%lld self=%d status=%s tags=%s\n",
              h, name, m->state, a, m->incarnation, m->rtt_us, (long long)m->last_contact_ms,
              m->is_self, status, tl ? tags : "-");
}

static void handle_line(conn *c, char *line)
{
    control *ctl = c->ctl;
    sbuf r = {0};
    size_t l = strlen(line);
    if (l && line[l - 1] == '\r')
        line[--l] = 0;
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
            sb_printf(&r, "error WEFT_ERR_INVAL control characters in request\n");
            log_line(LOG_WARN, "control-error reason=control-characters");
            conn_reply(c, &r);
            return;
        }
    char *sp = strchr(line, ' ');
    char *args = sp ? sp + 1 : line + l;
    if (sp)
        *sp = 0;
    log_line(LOG_DEBUG, "control cmd=%.16s", line);
    if (!strcmp(line, "id") && !*args) {
        cmd_id(ctl, &r);
    } else if (!strcmp(line, "peers") && !*args) {
        service_each_peer(ctl->svc, peer_line, &r);
    } else if (!strcmp(line, "stats") && !*args) {
        service_stats(ctl->svc, kv_line, &r);
    } else if (!strcmp(line, "members") && !*args) {
        int rc = service_each_member(ctl->svc, member_line, &r);
        if (rc == WEFT_ERR_STATE)
            sb_printf(&r, "error WEFT_ERR_STATE membership is off (--no-membership)\n");
        else if (rc != 0)
            sb_printf(&r, "error %s %s\n", weft_err_name(rc), weft_strerror(rc));
    } else if (!strcmp(line, "membership") && !*args) {
        if (service_membership(ctl->svc, kv_line, &r) != 0)
            sb_printf(&r, "error WEFT_ERR_STATE membership is off (--no-membership)\n");
    } else if (!strcmp(line, "send")) {
        cmd_send(ctl, args, &r);
    } else if (!strcmp(line, "connect") && *args && !strchr(args, ' ')) {
        char why[256];
        int rc = service_connect(ctl->svc, args, why, sizeof why);
        if (rc == 0)
            sb_printf(&r, "ok connecting %s\n", args);
        else
            sb_printf(&r, "error %s %s\n", weft_err_name(rc), why);
    } else {
        sb_printf(&r, "error WEFT_ERR_INVAL unknown request (id, peers, stats, members, "
                      "membership, send, connect)\n");
        log_line(LOG_WARN, "control-error reason=unknown-request");
    }
    conn_reply(c, &r);
}

static void conn_alloc(uv_handle_t *h, size_t sugg, uv_buf_t *buf)
{
    conn *c = h->data;
    size_t room = CTL_LINE_MAX - c->len;
    *buf = uv_buf_init(c->line + c->len, (unsigned)(room ? room : 1));
    (void)sugg;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (nread < 0 || c->handled) {
        if (nread < 0 && !c->handled)
            conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    c->line[c->len] = 0;
    char *nl = memchr(c->line, '\n', c->len);
    if (!nl && strlen(c->line) != c->len)
        nl = c->line + strlen(c->line); /* NUL byte: garbage, ends the line */
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
        log_line(LOG_WARN, "control-error reason=line-too-long");
        conn_reply(c, &r);
    }
    (void)buf;
}

static void conn_idle(uv_timer_t *t)
{
    conn *c = t->data;
    if (!c->handled)
        conn_close(c);
}

static void on_connection(uv_stream_t *srv, int status)
{
    control *ctl = srv->data;
    if (status < 0)
        return;
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->ctl = ctl;
    uv_pipe_init(ctl->loop, &c->pipe, 0);
    uv_timer_init(ctl->loop, &c->idle);
    c->pipe.data = c;
    c->idle.data = c;
    c->handles_open = 2;
    c->next = ctl->conns;
    if (c->next)
        c->next->prev = c;
    ctl->conns = c;
    ctl->nconns++;
    if (uv_accept(srv, (uv_stream_t *)&c->pipe) != 0 || ctl->nconns > CTL_CONNS_MAX ||
        ctl->closing) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->idle, conn_idle, CTL_IDLE_MS, 0);
    uv_read_start((uv_stream_t *)&c->pipe, conn_alloc, conn_read);
}

/* ---------------------------------------------------------------------- */
/* The listening socket                                                    */

static void listener_closed(uv_handle_t *h)
{
    control *c = h->data;
    c->listener_open = 0;
    control_maybe_free(c);
}

int control_start(control **out, uv_loop_t *loop, service *svc, const char *path)
{
    *out = NULL;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            fprintf(stderr, "weftd: %s exists and is not a socket\n", path);
            return 1;
        }
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un su = {.sun_family = AF_UNIX};
        snprintf(su.sun_path, sizeof su.sun_path, "%s", path);
        int live = fd >= 0 && connect(fd, (struct sockaddr *)&su, sizeof su) == 0;
        if (fd >= 0)
            close(fd);
        if (live) {
            fprintf(stderr, "weftd: another weftd answers on %s\n", path);
            return 1;
        }
        unlink(path);
    }
    control *c = calloc(1, sizeof *c);
    if (!c) {
        fprintf(stderr, "weftd: out of memory\n");
        return 1;
    }
    c->loop = loop;
    c->svc = svc;
    snprintf(c->path, sizeof c->path, "%s", path);
    uv_pipe_init(loop, &c->listener, 0);
    c->listener.data = c;
    c->listener_open = 1;
    mode_t old = umask(0077);
    int rc = uv_pipe_bind(&c->listener, path);
    umask(old);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->listener, 16, on_connection);
    if (rc != 0) {
        fprintf(stderr, "weftd: control socket %s: %s\n", path, uv_strerror(rc));
        c->closing = 1;
        uv_close((uv_handle_t *)&c->listener, listener_closed); /* frees c */
        return 1;
    }
    c->bound = 1;
    *out = c;
    return 0;
}

void control_close(control *c)
{
    if (!c || c->closing)
        return;
    c->closing = 1;
    uv_close((uv_handle_t *)&c->listener, listener_closed);
    if (c->bound)
        unlink(c->path);
    for (conn *k = c->conns; k; k = k->next)
        conn_close(k);
}
