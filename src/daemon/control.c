/*
 * control.c -- weftd's control socket (control.h, docs/DAEMON.md).
 *
 * A unix stream socket, mode 0600.  A client sends one request line, and
 * for `send` a binary body of the length the line announces; the daemon
 * answers with zero or more lines and an empty line, and closes.  Requests
 * become calls of the service; nothing here touches the engine, and
 * nothing here opens a file a client names: clients read their files and
 * send the bytes.
 *
 * No client can freeze the daemon.  All I/O is non-blocking on the loop,
 * and every connection is bounded: at most CTL_CONNS_MAX at once (more get
 * one `busy` line), a request line of at most CTL_LINE_MAX bytes, a body
 * of at most the engine's message cap and at most CTL_BODY_BUDGET bytes of
 * bodies held at once, CTL_IDLE_MS without a byte while a request is
 * incomplete or a reply unread, and CTL_REQUEST_MS for the whole request.
 * A client over a limit is dropped and the drop logged; nobody is waited
 * for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "control.h"
#include "log.h"
#include "options.h"
#include "text.h"

#define CTL_LINE_MAX 4096           /* one request line */
#define CTL_CONNS_MAX 32            /* connections at once */
#define CTL_IDLE_MS 10000           /* no byte while a request or reply is pending */
#define CTL_REQUEST_MS 30000        /* a whole request, line and body */
#define CTL_BODY_BUDGET (64u << 20) /* request bodies held at once, all connections */
#define CTL_OUT_MAX (8u << 20)      /* unwritten response bytes per connection */
#define CTL_CHECK_MS 500            /* how often the limits are checked */
#define CTL_WAIT_MS_MAX 600000      /* connect/send wait=MS */
#define CTL_POLL_MS 20              /* send wait=: how often the backlog is read */
#define MONITOR_BYTES_DEFAULT 65536 /* payload shown per message by `monitor` */
#define MONITOR_BYTES_MAX (1u << 20)

enum conn_state {
    ST_LINE,    /* reading the request line */
    ST_BODY,    /* reading the body it announced */
    ST_CONNECT, /* connect wait=: until the session is up or failed */
    ST_SENDWAIT,/* send wait=: until the message's outcome (receipt or failure) */
    ST_MONITOR, /* streaming events until the client hangs up */
    ST_REPLY,   /* response queued; closed once written */
};

static const char *state_names[] = {"request-line", "body", "connect-wait", "send-wait",
                                    "monitor", "reply"};

typedef struct conn {
    struct conn *next, *prev; /* ctl->conns: closed at shutdown */
    control *ctl;
    uv_pipe_t pipe;
    uv_timer_t timer;         /* limits */
    int state;                /* enum conn_state */
    char line[CTL_LINE_MAX + 1];
    size_t len;
    /* send: the request, then its body */
    weft_node_id to;
    int prio;
    uint32_t kind;
    uint8_t *body;
    size_t body_len, body_got;
    uint32_t wait_ms;            /* connect/send: wait=MS, 0 = answer at once */
    uint64_t deadline_ms;        /* ST_CONNECT, ST_SENDWAIT */
    char sha[65];                /* ST_SENDWAIT: the message queued */
    uint64_t msg_id;             /* ST_SENDWAIT: its id (outcome events) */
    char target[OPT_PEER_SPEC_MAX]; /* ST_CONNECT: HOST:PORT as asked */
    int watching;                /* registered with service_watch */
    int connecting;              /* a service_connect may still call back */
    size_t monitor_bytes;        /* ST_MONITOR: payload bytes shown per message */
    uint64_t accepted_ms, io_ms; /* accept time; last byte in or out */
    size_t out_bytes;            /* queued, not yet written */
    int closing, handles_open;
} conn;

struct control {
    uv_loop_t *loop;
    service *svc;
    uv_pipe_t listener;
    char path[OPT_CONTROL_MAX];
    int bound, closing, listener_open;
    conn *conns;
    int nconns;
    size_t body_bytes;            /* held by all connections */
    char scratch[256];            /* reads after a request: EOF detection */
    uint64_t busy_logged_ms;      /* busy lines are logged once a second */
    unsigned busy_count;
};

static uint64_t now_ms(void) { return uv_hrtime() / 1000000u; }

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

static void body_free(conn *c)
{
    if (c->body) {
        c->ctl->body_bytes -= c->body_len;
        free(c->body);
        c->body = NULL;
    }
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
    body_free(c);
    free(c);
    ctl->nconns--;
    control_maybe_free(ctl);
}

static void on_service_event(void *ud, const svc_event *ev);

/* Whatever the connection still waits for from the service, it no longer
 * does. */
static void conn_detach(conn *c)
{
    if (c->watching)
        service_unwatch(c->ctl->svc, on_service_event, c);
    c->watching = 0;
    if (c->connecting)
        service_connect_cancel(c->ctl->svc, c);
    c->connecting = 0;
}

static void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    conn_detach(c);
    body_free(c);
    uv_close((uv_handle_t *)&c->pipe, conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
}

/* Drops a client that broke a limit, with a log line saying which. */
static void conn_drop(conn *c, const char *reason)
{
    log_line(LOG_WARN, "control-drop reason=%s state=%s", reason, state_names[c->state]);
    conn_close(c);
}

typedef struct wreq {
    uv_write_t w;
    conn *c;
    size_t len;
    int close_after;
    char data[]; /* the bytes being written */
} wreq;

static void on_written(uv_write_t *w, int status)
{
    wreq *r = (wreq *)w;
    conn *c = r->c;
    c->out_bytes -= r->len;
    c->io_ms = now_ms();
    if (status < 0 || r->close_after)
        conn_close(c);
    free(r);
}

/* Queues bytes to the client; closes the connection once they are written
 * when close_after.  A client that lets CTL_OUT_MAX pile up is dropped. */
static void conn_write(conn *c, const char *p, size_t n, int close_after)
{
    if (c->closing)
        return;
    if (c->out_bytes + n > CTL_OUT_MAX) {
        conn_drop(c, "slow-reader");
        return;
    }
    if (c->out_bytes == 0)
        c->io_ms = now_ms(); /* a backlog starts: its progress is timed from here */
    wreq *r = malloc(sizeof *r + n);
    if (!r) {
        conn_close(c);
        return;
    }
    memcpy(r->data, p, n);
    r->c = c;
    r->len = n;
    r->close_after = close_after;
    uv_buf_t buf = uv_buf_init(r->data, (unsigned)n);
    if (uv_write(&r->w, (uv_stream_t *)&c->pipe, &buf, 1, on_written) != 0) {
        free(r);
        conn_close(c);
        return;
    }
    c->out_bytes += n;
}

/* Sends the response (ending with an empty line) and closes after it. */
static void conn_reply(conn *c, sbuf *b)
{
    sb_printf(b, "\n");
    conn_detach(c);
    c->state = ST_REPLY;
    c->io_ms = now_ms();
    body_free(c);
    if (b->failed || !b->p)
        conn_close(c);
    else
        conn_write(c, b->p, b->len, 1);
    free(b->p);
}

static void reply_error(conn *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reply_error(conn *c, int rc, const char *fmt, ...)
{
    char why[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    sbuf r = {0};
    sb_printf(&r, "error %s %s\n", weft_err_name(rc), why);
    conn_reply(c, &r);
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

#define SEND_USAGE                                                                          \
    "usage: send PEER prio=0-3|critical|high|normal|low kind=ordered|unordered|unreliable " \
    "len=N [wait=MS], then N bytes (the client reads files; the daemon opens none)"

static void conn_check(uv_timer_t *t);
static void on_service_event(void *ud, const svc_event *ev);

/* The body is complete: queue the message and answer. */
static void send_body_done(conn *c)
{
    char why[320], sha[65], id[WEFT_ID_SHORT_LEN];
    uint64_t msg_id = 0;
    int rc = service_send(c->ctl->svc, &c->to, c->body, c->body_len, c->prio, c->kind,
                          c->wait_ms != 0, &msg_id, sha, why, sizeof why);
    if (rc != 0) {
        reply_error(c, rc, "%s", why);
        return;
    }
    weft_id_short(&c->to, id);
    if (c->wait_ms) {
        /* Held until this message's outcome: the peer's receipt (its
         * application took it), a failure with its reason, or the time is
         * up.  The watcher is in place before the loop runs again, so the
         * outcome cannot be missed. */
        memcpy(c->sha, sha, sizeof c->sha);
        c->msg_id = msg_id;
        body_free(c);
        c->state = ST_SENDWAIT;
        c->deadline_ms = now_ms() + c->wait_ms;
        if (service_watch(c->ctl->svc, on_service_event, c) == 0)
            c->watching = 1;
        uv_timer_start(&c->timer, conn_check, CTL_POLL_MS, CTL_POLL_MS);
        return;
    }
    sbuf r = {0};
    sb_printf(&r, "ok queued to=%s msg=%llu len=%zu sha256=%s\n", id, (unsigned long long)msg_id,
              c->body_len, sha);
    conn_reply(c, &r);
}

/* ST_SENDWAIT: answered by the message's outcome event, or the deadline. */
static void send_wait_outcome(conn *c, const svc_event *ev)
{
    char id[WEFT_ID_SHORT_LEN];
    weft_id_short(&c->to, id);
    if (ev->type == SVC_EV_DELIVERED) {
        sbuf r = {0};
        sb_printf(&r, "ok delivered to=%s msg=%llu len=%zu sha256=%s\n", id,
                  (unsigned long long)c->msg_id, c->body_len, c->sha);
        conn_reply(c, &r);
        return;
    }
    reply_error(c, ev->error, "message %llu to %s failed: %s%s", (unsigned long long)c->msg_id,
                id, weft_strerror(ev->error),
                ev->error == WEFT_ERR_PEER_RESTARTED
                    ? " (the peer restarted after acknowledging it: it may or may not have "
                      "reached the old process's application)"
                    : "");
}

static void send_wait_check(conn *c, uint64_t now)
{
    char id[WEFT_ID_SHORT_LEN];
    weft_id_short(&c->to, id);
    if (now >= c->deadline_ms)
        reply_error(c, WEFT_ERR_AGAIN, "no outcome for message %llu to %s within %u ms (it stays "
                    "queued; its outcome will be logged as delivered or send-failed)",
                    (unsigned long long)c->msg_id, id, c->wait_ms);
}

/*
 * `send PEER prio=P kind=K len=N`: checks everything that can be checked
 * before the body (the peer, the fields, the size against the message cap
 * and the bodies budget), so a bad request is answered at once instead of
 * after N bytes.  extra/nextra: bytes already read past the line (the
 * start of the body).
 */
static void cmd_send(conn *c, char *args, const char *extra, size_t nextra)
{
    control *ctl = c->ctl;
    char *save = NULL, *peer = strtok_r(args, " ", &save);
    int prio = WEFT_PRIO_NORMAL, kind = WEFT_SEND_ORDERED, have_len = 0;
    uint32_t len = 0;
    if (!peer) {
        reply_error(c, WEFT_ERR_INVAL, SEND_USAGE);
        return;
    }
    for (char *t; (t = strtok_r(NULL, " ", &save));) {
        char *eq = strchr(t, '=');
        if (!eq) {
            reply_error(c, WEFT_ERR_INVAL, "'%.40s' is not key=value; " SEND_USAGE, t);
            return;
        }
        *eq = 0;
        const char *v = eq + 1;
        if (!strcmp(t, "prio")) {
            if ((prio = parse_prio(v)) < 0) {
                reply_error(c, WEFT_ERR_INVAL, "prio wants 0-3 or critical|high|normal|low, got '%.20s'", v);
                return;
            }
        } else if (!strcmp(t, "kind")) {
            if ((kind = parse_kind(v)) < 0) {
                reply_error(c, WEFT_ERR_INVAL, "kind wants ordered|unordered|unreliable, got '%.20s'", v);
                return;
            }
        } else if (!strcmp(t, "wait")) {
            if (options_parse_u32(v, 0, CTL_WAIT_MS_MAX, &c->wait_ms) != 0) {
                reply_error(c, WEFT_ERR_INVAL, "wait wants 0..%d ms, got '%.20s'", CTL_WAIT_MS_MAX, v);
                return;
            }
        } else if (!strcmp(t, "len")) {
            if (options_parse_u32(v, 0, UINT32_MAX, &len) != 0) {
                reply_error(c, WEFT_ERR_INVAL, "len wants a byte count, got '%.20s'", v);
                return;
            }
            have_len = 1;
        } else {
            reply_error(c, WEFT_ERR_INVAL, "unknown field '%.20s'; " SEND_USAGE, t);
            return;
        }
    }
    if (!have_len) {
        reply_error(c, WEFT_ERR_INVAL, "len=N missing; " SEND_USAGE);
        return;
    }
    if (c->wait_ms && kind == WEFT_SEND_UNRELIABLE) {
        reply_error(c, WEFT_ERR_INVAL, "wait needs a reliable kind (ordered or unordered): "
                                       "unreliable messages have no receipt");
        return;
    }
    svc_info in;
    service_info(ctl->svc, &in);
    if (len > in.max_message_bytes) {
        reply_error(c, WEFT_ERR_TOO_BIG, "a message of %u bytes is over the message cap of %u bytes",
                    len, in.max_message_bytes);
        return;
    }
    char why[256];
    int rc = service_find_peer(ctl->svc, peer, &c->to, why, sizeof why);
    if (rc != 0) {
        reply_error(c, rc, "%s", why);
        return;
    }
    if (ctl->body_bytes + len > CTL_BODY_BUDGET) {
        reply_error(c, WEFT_ERR_AGAIN, "other clients' messages fill the %u MiB the daemon holds "
                                       "for requests; try again", CTL_BODY_BUDGET >> 20);
        return;
    }
    if (nextra > len) {
        reply_error(c, WEFT_ERR_INVAL, "%zu bytes after the body of %u bytes", nextra - len, len);
        return;
    }
    c->body = malloc(len ? len : 1);
    if (!c->body) {
        reply_error(c, WEFT_ERR_NOMEM, "no memory for a body of %u bytes", len);
        return;
    }
    ctl->body_bytes += len;
    c->body_len = len;
    c->prio = prio;
    c->kind = (uint32_t)kind;
    memcpy(c->body, extra, nextra);
    c->body_got = nextra;
    c->state = ST_BODY;
    if (c->body_got == c->body_len)
        send_body_done(c);
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

/* `status`: is it up, who is it, how connected (weft status). */
static void cmd_status(control *ctl, sbuf *r)
{
    svc_info in;
    service_info(ctl->svc, &in);
    char h[WEFT_ID_HEX_LEN];
    weft_id_hex(&in.id, h);
    sb_printf(r, "state=running\nid=%s\nname=%s\nversion=%s\nuptime_ms=%llu\n", h, in.name,
              WEFT_VERSION_STRING, (unsigned long long)in.uptime_ms);
    for (size_t i = 0; i < in.listen_count; i++) {
        char s[WEFT_ADDR_STRLEN];
        text_addr(&in.listen[i], s);
        sb_printf(r, "listening=%s\n", s);
    }
    sb_printf(r, "peers=%zu\nmembership=%s\n", in.peers, in.membership ? "on" : "off");
    if (in.membership)
        sb_printf(r, "members=%u\nalive=%u\n", in.members, in.alive);
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

/* ---------------------------------------------------------------------- */
/* Requests answered later: connect wait=, send wait=, monitor              */

static void on_connected(void *ud, const svc_connect_result *res)
{
    conn *c = ud;
    c->connecting = 0;
    if (res->rc != 0) {
        reply_error(c, res->rc, "%s", res->why);
        return;
    }
    char h[WEFT_ID_HEX_LEN], a[WEFT_ADDR_STRLEN];
    weft_id_hex(&res->id, h);
    text_addr(&res->addr, a);
    sbuf r = {0};
    sb_printf(&r, "ok peer-up id=%s addr=%s already=%d\n", h, a, res->already);
    conn_reply(c, &r);
}

/* `connect HOST:PORT [wait=MS]`: without wait, answered once the dial is
 * started; with it, once the session is up or failed, or after MS. */
static void cmd_connect(conn *c, char *args)
{
    char *save = NULL, *target = strtok_r(args, " ", &save), *t;
    while ((t = strtok_r(NULL, " ", &save))) {
        if (strncmp(t, "wait=", 5) || options_parse_u32(t + 5, 0, CTL_WAIT_MS_MAX, &c->wait_ms)) {
            reply_error(c, WEFT_ERR_INVAL, "usage: connect HOST:PORT [wait=MS] (MS 0..%d)",
                        CTL_WAIT_MS_MAX);
            return;
        }
    }
    char why[320];
    snprintf(c->target, sizeof c->target, "%s", target);
    if (c->wait_ms) {
        c->state = ST_CONNECT;
        c->deadline_ms = now_ms() + c->wait_ms;
        c->connecting = 1;
    }
    int rc = service_connect(c->ctl->svc, c->target, c->wait_ms ? on_connected : NULL, c, why,
                             sizeof why);
    if (rc != 0) {
        c->connecting = 0;
        reply_error(c, rc, "%s", why);
    } else if (!c->wait_ms) {
        sbuf r = {0};
        sb_printf(&r, "ok connecting %s\n", c->target);
        conn_reply(c, &r);
    }
    /* else: on_connected or conn_check answers (maybe already did) */
}

/* One event as a monitor line: `word key=value ...`, full ids; a message
 * with its payload (up to monitor_bytes) in base64 as data=. */
static void monitor_line(conn *c, const svc_event *ev)
{
    char h[WEFT_ID_HEX_LEN], a[WEFT_ADDR_STRLEN];
    weft_id_hex(&ev->id, h);
    text_addr(&ev->addr, a);
    sbuf r = {0};
    switch (ev->type) {
    case SVC_EV_PEER_UP:
        sb_printf(&r, "peer-up id=%s addr=%s\n", h, a);
        break;
    case SVC_EV_PEER_DOWN:
        sb_printf(&r, "peer-down id=%s addr=%s reason=%s\n", h, a, weft_err_name(ev->error));
        break;
    case SVC_EV_HANDSHAKE_FAILED:
        sb_printf(&r, "handshake-failed addr=%s reason=%s\n", a, weft_err_name(ev->error));
        break;
    case SVC_EV_MEMBER: {
        char name[130];
        text_clean(ev->member_name, strlen(ev->member_name), name, sizeof name);
        sb_printf(&r, "%s id=%s name=%s addr=%s inc=%u\n", ev->name, h, name, a, ev->incarnation);
        break;
    }
    case SVC_EV_MESSAGE: {
        size_t shown = ev->len < c->monitor_bytes ? ev->len : c->monitor_bytes;
        size_t b64 = sodium_base64_encoded_len(shown, sodium_base64_VARIANT_ORIGINAL);
        char *enc = malloc(b64);
        if (!enc) {
            conn_drop(c, "out-of-memory");
            return;
        }
        sodium_bin2base64(enc, b64, ev->data, shown, sodium_base64_VARIANT_ORIGINAL);
        sb_printf(&r, "message from=%s len=%zu prio=%d kind=%s sha256=%s truncated=%d data=%s\n", h,
                  ev->len, ev->prio, ev->kind, ev->sha256_hex, shown < ev->len, enc);
        free(enc);
        break;
    }
    case SVC_EV_DELIVERED:
        sb_printf(&r, "delivered msg=%llu to=%s\n", (unsigned long long)ev->msg_id, h);
        break;
    case SVC_EV_SEND_FAILED:
        sb_printf(&r, "send-failed msg=%llu to=%s reason=%s\n", (unsigned long long)ev->msg_id, h,
                  weft_err_name(ev->error));
        break;
    default:
        return;
    }
    if (!r.failed && r.p)
        conn_write(c, r.p, r.len, 0);
    else
        conn_drop(c, "out-of-memory");
    free(r.p);
}

static void on_service_event(void *ud, const svc_event *ev)
{
    conn *c = ud;
    if (c->closing)
        return;
    if (c->state == ST_MONITOR)
        monitor_line(c, ev);
    else if (c->state == ST_SENDWAIT &&
             (ev->type == SVC_EV_DELIVERED || ev->type == SVC_EV_SEND_FAILED) &&
             ev->msg_id == c->msg_id)
        send_wait_outcome(c, ev);
}

/* `monitor [max=BYTES]`: `ok monitor ...`, then one line per event until
 * the client hangs up or the daemon stops (`end reason=shutdown`). */
static void cmd_monitor(conn *c, char *args)
{
    uint32_t max = MONITOR_BYTES_DEFAULT;
    if (*args && (strncmp(args, "max=", 4) || options_parse_u32(args + 4, 0, MONITOR_BYTES_MAX, &max))) {
        reply_error(c, WEFT_ERR_INVAL, "usage: monitor [max=BYTES] (payload bytes shown per "
                                       "message, 0..%u)", MONITOR_BYTES_MAX);
        return;
    }
    if (service_watch(c->ctl->svc, on_service_event, c) != 0) {
        reply_error(c, WEFT_ERR_LIMIT, "too many monitors; try again");
        return;
    }
    c->watching = 1;
    c->monitor_bytes = max;
    c->state = ST_MONITOR;
    char line[64];
    int n = snprintf(line, sizeof line, "ok monitor max_bytes=%u\n", max);
    conn_write(c, line, (size_t)n, 0);
    log_line(LOG_DEBUG, "control-monitor max_bytes=%u", max);
}

/* Handles one request line; extra/nextra are the bytes read past it. */
static void handle_line(conn *c, char *line, const char *extra, size_t nextra)
{
    control *ctl = c->ctl;
    sbuf r = {0};
    size_t l = strlen(line);
    if (l && line[l - 1] == '\r')
        line[--l] = 0;
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)line[i] < 0x20 && line[i] != '\t') {
            log_line(LOG_WARN, "control-error reason=control-characters");
            reply_error(c, WEFT_ERR_INVAL, "control characters in request");
            return;
        }
    char *sp = strchr(line, ' ');
    char *args = sp ? sp + 1 : line + l;
    if (sp)
        *sp = 0;
    log_line(LOG_DEBUG, "control cmd=%.16s", line);
    if (!strcmp(line, "send")) {
        cmd_send(c, args, extra, nextra);
        return;
    }
    if (nextra) {
        reply_error(c, WEFT_ERR_INVAL, "bytes after the request line (one request per connection)");
        return;
    }
    if (!strcmp(line, "id") && !*args) {
        cmd_id(ctl, &r);
    } else if (!strcmp(line, "status") && !*args) {
        cmd_status(ctl, &r);
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
    } else if (!strcmp(line, "connect") && *args) {
        cmd_connect(c, args);
        return;
    } else if (!strcmp(line, "monitor")) {
        cmd_monitor(c, args);
        return;
    } else {
        sb_printf(&r, "error WEFT_ERR_INVAL unknown request (id, status, peers, stats, "
                      "members, membership, send, connect, monitor)\n");
        log_line(LOG_WARN, "control-error reason=unknown-request");
    }
    conn_reply(c, &r);
}

/* ---------------------------------------------------------------------- */
/* Reading                                                                 */

static void conn_alloc(uv_handle_t *h, size_t sugg, uv_buf_t *buf)
{
    conn *c = h->data;
    if (c->state == ST_LINE)
        *buf = uv_buf_init(c->line + c->len, (unsigned)(CTL_LINE_MAX - c->len));
    else if (c->state == ST_BODY)
        *buf = uv_buf_init((char *)c->body + c->body_got,
                           (unsigned)(c->body_len - c->body_got > (1u << 20)
                                          ? 1u << 20
                                          : c->body_len - c->body_got));
    else
        *buf = uv_buf_init(c->ctl->scratch, sizeof c->ctl->scratch);
    (void)sugg;
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    conn *c = s->data;
    if (c->closing || nread == 0)
        return;
    if (nread < 0) {
        /* The client hung up: whatever it asked is off (a waiting connect
         * or send, a monitor).  After the request the reply may still be
         * on its way: libuv reports the failed write. */
        if (c->state != ST_REPLY)
            conn_close(c);
        else
            uv_read_stop(s);
        return;
    }
    c->io_ms = now_ms();
    if (c->state == ST_BODY) {
        c->body_got += (size_t)nread;
        if (c->body_got == c->body_len)
            send_body_done(c);
        return;
    }
    if (c->state != ST_LINE)
        return; /* after the request: only EOF matters */
    size_t old = c->len;
    c->len += (size_t)nread;
    c->line[c->len] = 0;
    char *nl = memchr(c->line + old, '\n', c->len - old);
    char *nul = memchr(c->line + old, 0, c->len - old);
    if (nul && (!nl || nul < nl)) {
        nl = nul; /* a NUL byte: garbage, ends the line */
        c->len = (size_t)(nul - c->line) + 1;
    }
    if (nl) {
        *nl = 0;
        size_t used = (size_t)(nl - c->line) + 1;
        handle_line(c, c->line, c->line + used, c->len - used);
        return;
    }
    if (c->len >= CTL_LINE_MAX) {
        log_line(LOG_WARN, "control-error reason=line-too-long");
        reply_error(c, WEFT_ERR_TOO_BIG, "request line over %d bytes", CTL_LINE_MAX);
    }
    (void)buf;
}

/* Enforces the limits: no client holds a connection by sending nothing,
 * by sending slowly, or by not reading its reply. */
static void conn_check(uv_timer_t *t)
{
    conn *c = t->data;
    uint64_t now = now_ms();
    if (c->closing)
        return;
    switch (c->state) {
    case ST_LINE:
    case ST_BODY:
        if (now - c->io_ms >= CTL_IDLE_MS)
            conn_drop(c, "idle");
        else if (now - c->accepted_ms >= CTL_REQUEST_MS)
            conn_drop(c, "too-slow");
        break;
    case ST_CONNECT:
        if (now >= c->deadline_ms)
            reply_error(c, WEFT_ERR_AGAIN, "%s: no outcome within %u ms (the handshake may still "
                        "complete: see weftd's log)", c->target, c->wait_ms);
        break;
    case ST_SENDWAIT:
        send_wait_check(c, now);
        break;
    case ST_MONITOR:
    case ST_REPLY:
        /* the client only reads: it must keep up */
        if ((c->out_bytes || c->state == ST_REPLY) && now - c->io_ms >= CTL_IDLE_MS)
            conn_drop(c, c->state == ST_REPLY ? "reply-unread" : "slow-reader");
        break;
    }
}

static void log_busy(control *ctl)
{
    uint64_t now = now_ms();
    ctl->busy_count++;
    if (now - ctl->busy_logged_ms < 1000)
        return;
    log_line(LOG_WARN, "control-busy connections=%d max=%d turned_away=%u", ctl->nconns - 1,
             CTL_CONNS_MAX, ctl->busy_count);
    ctl->busy_logged_ms = now;
    ctl->busy_count = 0;
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
    uv_timer_init(ctl->loop, &c->timer);
    c->pipe.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    c->next = ctl->conns;
    if (c->next)
        c->next->prev = c;
    ctl->conns = c;
    ctl->nconns++;
    c->accepted_ms = c->io_ms = now_ms();
    if (uv_accept(srv, (uv_stream_t *)&c->pipe) != 0 || ctl->closing) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, conn_check, CTL_CHECK_MS, CTL_CHECK_MS);
    if (ctl->nconns > CTL_CONNS_MAX) {
        /* Turned away with a word, so the client can tell it from a crash. */
        static const char busy[] = "busy too many control connections; try again\n\n";
        log_busy(ctl);
        c->state = ST_REPLY;
        conn_write(c, busy, sizeof busy - 1, 1);
        return;
    }
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
            fprintf(stderr, "weftd: --control %s exists and is not a socket (%s); give another "
                            "path\n", path, S_ISDIR(st.st_mode) ? "a directory" : "a file");
            return 2;
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
    mode_t old = umask(0177); /* srw------- : the owner only, as documented */
    int rc = uv_pipe_bind(&c->listener, path);
    umask(old);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&c->listener, 64, on_connection);
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
    static const char end[] = "end reason=shutdown\n\n";
    for (conn *k = c->conns; k; k = k->next) {
        if (k->state == ST_MONITOR && !k->out_bytes && !k->closing) {
            conn_detach(k);
            k->state = ST_REPLY;
            conn_write(k, end, sizeof end - 1, 1); /* closes once written */
        } else {
            conn_close(k);
        }
    }
}
