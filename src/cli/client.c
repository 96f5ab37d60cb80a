/*
 * client.c -- the `weft` side of weftd's control socket (docs/DAEMON.md):
 * one request line out, response lines back until an empty line, within
 * REPLY_TIMEOUT_MS.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define REPLY_MAX (8u << 20) /* bytes of response we accept */
#define REPLY_TIMEOUT_MS 10000

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
    } else if (!(p = getenv("WEFT_CONTROL"))) {
        return cli_usage_error("%s: which daemon? give --control PATH or --data-dir DIR (or "
                               "set WEFT_CONTROL)", a->cmd);
    }
    snprintf(a->socket, sizeof a->socket, "%s", p);
    return 0;
}

int cli_request(const char *path, const char *line, cli_reply_fn fmt)
{
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof su.sun_path)
        return cli_usage_error("control path too long: %s", path);
    snprintf(su.sun_path, sizeof su.sun_path, "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&su, sizeof su) != 0) {
        fprintf(stderr, "weft: cannot reach weftd at %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return EXIT_NODAEMON;
    }
    size_t l = strlen(line);
    char *req = malloc(l + 2);
    if (!req) {
        close(fd);
        return EXIT_FAIL;
    }
    memcpy(req, line, l);
    req[l] = '\n';
    size_t off = 0;
    while (off < l + 1) {
        ssize_t w = write(fd, req + off, l + 1 - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    free(req);
    char *buf = malloc(REPLY_MAX + 1);
    size_t n = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int done = 0;
    while (buf && n < REPLY_MAX && !done) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long left = REPLY_TIMEOUT_MS -
                    ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(fd, buf + n, REPLY_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        /* The response ends with an empty line. */
        if ((n == 1 && buf[0] == '\n') || (n >= 2 && buf[n - 1] == '\n' && buf[n - 2] == '\n'))
            done = 1;
    }
    close(fd);
    if (!buf || !done) {
        fprintf(stderr, "weft: no complete response from weftd at %s\n", path);
        free(buf);
        return EXIT_NODAEMON;
    }
    buf[n - 1] = 0; /* drop the terminating empty line */
    int err = !strncmp(buf, "error", 5);
    if (fmt && !err)
        fmt(buf);
    else
        fputs(buf, err ? stderr : stdout);
    free(buf);
    return err ? EXIT_FAIL : EXIT_OK;
}
