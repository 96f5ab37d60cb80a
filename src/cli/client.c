/*
 * client.c -- the `weft` side of weftd's control socket (docs/DAEMON.md,
 * "Control protocol"): a request line (and for `send` a binary body) out,
 * response lines back until an empty line, within a deadline.
 *
 * A daemon that hangs up on us (busy, or gone) is an answer, not a crash:
 * SIGPIPE is ignored (main.c) and writes use MSG_NOSIGNAL, so a failed
 * write is followed by reading whatever the daemon said before it closed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define REPLY_MAX (8u << 20) /* bytes of response we accept */

int cli_find_socket(cli_args *a)
{
    const char *p;
    if (a->control) {
        p = a->control;
    } else if (a->data_dir) {
        if (snprintf(a->socket, sizeof a->socket, "%s/weftd.sock", a->data_dir) >=
            (int)sizeof a->socket)
            return cli_usage_error("--data-dir path too long: %s", a->data_dir);
        return 0;
    } else if (!(p = getenv("WEFT_CONTROL")) || !*p) {
        return cli_usage_error("%s: which daemon? give --control PATH or --data-dir DIR (or "
                               "set WEFT_CONTROL)", a->cmd);
    }
    if (strlen(p) >= sizeof a->socket)
        return cli_usage_error("control socket path too long: %s", p);
    snprintf(a->socket, sizeof a->socket, "%s", p);
    return 0;
}

int64_t cli_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int cli_connect(const char *path, int *out, int quiet)
{
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    struct stat st;
    *out = -1;
    if (strlen(path) >= sizeof su.sun_path)
        return cli_usage_error("control socket path too long (max %zu bytes): %s",
                               sizeof su.sun_path - 1, path);
    if (stat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
        if (S_ISDIR(st.st_mode))
            return cli_usage_error("%s is a directory, not weftd's control socket (give the "
                                   "socket, e.g. %s/weftd.sock, or --data-dir %s)", path, path,
                                   path);
        return cli_usage_error("%s is not a socket (weftd's control socket is "
                               "DATA_DIR/weftd.sock, or what its --control names)", path);
    }
    snprintf(su.sun_path, sizeof su.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&su, sizeof su) != 0) {
        int e = errno;
        if (!quiet) {
            if (e == ENOENT)
                fprintf(stderr, "weft: cannot reach weftd at %s: no such socket (is weftd "
                                "running with this --data-dir or --control?)\n", path);
            else if (e == ECONNREFUSED)
                fprintf(stderr, "weft: cannot reach weftd at %s: nobody listens (weftd is not "
                                "running; the socket is left from an earlier one)\n", path);
            else
                fprintf(stderr, "weft: cannot reach weftd at %s: %s\n", path, strerror(e));
        }
        if (fd >= 0)
            close(fd);
        return EXIT_NODAEMON;
    }
    *out = fd;
    return 0;
}

int cli_send_all(int fd, const void *p, size_t n)
{
    const char *b = p;
    while (n) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/*
 * Reads a response up to its empty line (or EOF) within timeout_ms.
 * Returns 0 with *out (NUL-terminated, the empty line dropped; free it),
 * or EXIT_NODAEMON after printing why.
 */
static int read_reply(int fd, const char *path, int timeout_ms, char **out)
{
    char *buf = malloc(REPLY_MAX + 1);
    size_t n = 0;
    int64_t deadline = cli_now_ms() + timeout_ms;
    int done = 0, eof = 0, err = 0;
    while (buf && n < REPLY_MAX && !done && !eof) {
        int64_t left = deadline - cli_now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0)
            break;
        int pr = poll(&p, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t r = read(fd, buf + n, REPLY_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            err = errno;
        if (r <= 0) {
            eof = 1;
            break;
        }
        n += (size_t)r;
        /* The response ends with an empty line. */
        if ((n == 1 && buf[0] == '\n') || (n >= 2 && buf[n - 1] == '\n' && buf[n - 2] == '\n'))
            done = 1;
    }
    if (!buf) {
        fprintf(stderr, "weft: out of memory\n");
        return EXIT_FAIL;
    }
    if (!done && !(eof && n > 0 && buf[n - 1] == '\n')) {
        if (eof)
            fprintf(stderr, "weft: weftd at %s closed the connection without an answer%s%s\n",
                    path, err ? ": " : "", err ? strerror(err) : "");
        else
            fprintf(stderr, "weft: no answer from weftd at %s within %d ms\n", path, timeout_ms);
        free(buf);
        return EXIT_NODAEMON;
    }
    buf[n] = 0;
    if (done)
        buf[n - 1] = 0; /* drop the terminating empty line */
    *out = buf;
    return 0;
}

int cli_request_body(const char *path, const char *line, const void *body, size_t len,
                     int timeout_ms, cli_reply_fn fmt)
{
    int fd, rc = cli_connect(path, &fd, 0);
    if (rc)
        return rc;
    size_t l = strlen(line);
    char *req = malloc(l + 2);
    if (!req) {
        close(fd);
        return EXIT_FAIL;
    }
    memcpy(req, line, l);
    req[l] = '\n';
    /* A failed write is not the end: the daemon may have answered (busy,
     * or an error about the request line) before closing. */
    if (cli_send_all(fd, req, l + 1) == 0 && len)
        cli_send_all(fd, body, len);
    free(req);
    char *reply = NULL;
    rc = read_reply(fd, path, timeout_ms, &reply);
    close(fd);
    if (rc)
        return rc;
    if (!strncmp(reply, "busy", 4)) {
        fprintf(stderr, "weft: weftd at %s is busy (%s)\n", path, reply + (reply[4] ? 5 : 4));
        free(reply);
        return EXIT_NODAEMON;
    }
    int err = !strncmp(reply, "error", 5);
    if (fmt && !err)
        rc = fmt(reply);
    else
        fputs(reply, err ? stderr : stdout);
    free(reply);
    return err ? EXIT_FAIL : rc;
}

int cli_request(const char *path, const char *line, cli_reply_fn fmt)
{
    return cli_request_body(path, line, NULL, 0, CLI_REPLY_TIMEOUT_MS, fmt);
}
