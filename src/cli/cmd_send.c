/*
 * cmd_send.c -- commands that make a running daemon act: send, connect.
 *
 * `send` reads the message itself (a file, standard input or @TEXT) and
 * gives the daemon the bytes: the daemon never opens a path a client
 * names, so a FIFO or a slow disk can only hold up this process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define SEND_MAX_BYTES (16u << 20) /* weftd's default message cap */

/* HOST:PORT with a port 1-65535: checked here so a typo is a usage error
 * (exit 2) rather than a dial to a wrapped port. */
static int check_hostport(const char *s)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s)
        return cli_usage_error("'%s' is not HOST:PORT", s);
    const char *p = colon + 1;
    size_t n = strlen(p);
    if (n == 0 || n > 5 || strspn(p, "0123456789") != n || atol(p) < 1 || atol(p) > 65535)
        return cli_usage_error("'%s': port '%s' is not a number 1-65535", s, p);
    return 0;
}

/* Prints an `ok WORD key=value ...` answer, as JSON with --json. */
static int ok_json(char *body)
{
    body[strcspn(body, "\n")] = 0;
    json_word_line(stdout, "result", !strncmp(body, "ok ", 3) ? body + 3 : body, 1);
    return EXIT_OK;
}

int cmd_connect(cli_args *a)
{
    if (a->npos != 1 || strchr(a->pos[0], ' '))
        return cli_usage_error("usage: weft connect HOST:PORT [--timeout SECONDS] (see weft "
                               "connect --help)");
    if (check_hostport(a->pos[0]) != 0)
        return EXIT_USAGE;
    int wait_ms = 5000;
    if (a->timeout && (wait_ms = cli_parse_seconds(a->timeout)) < 0)
        return cli_usage_error("--timeout wants SECONDS (0-600), got '%s'", a->timeout);
    if (wait_ms > 600000)
        return cli_usage_error("--timeout wants SECONDS (0-600), got '%s'", a->timeout);
    int rc = cli_find_socket(a);
    if (rc)
        return rc;
    char line[512];
    if (snprintf(line, sizeof line, "connect %s wait=%d", a->pos[0], wait_ms) >= (int)sizeof line)
        return cli_usage_error("HOST:PORT too long: %s", a->pos[0]);
    return cli_request_body(a->socket, line, NULL, 0, wait_ms + CLI_REPLY_TIMEOUT_MS,
                            a->json ? ok_json : NULL);
}

/* Reads all of fd (at most cap bytes; more is an error).  Returns 0 with
 * *out and *len, or -1 with errno set (EFBIG when over cap). */
static int read_all(int fd, size_t cap, uint8_t **out, size_t *len)
{
    size_t n = 0, sz = 65536;
    uint8_t *b = malloc(sz);
    while (b) {
        if (n == sz) {
            if (sz > cap) {
                free(b);
                errno = EFBIG;
                return -1;
            }
            uint8_t *q = realloc(b, sz * 2);
            if (!q)
                break;
            b = q;
            sz *= 2;
        }
        ssize_t r = read(fd, b + n, sz - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(b);
            errno = e;
            return -1;
        }
        if (r == 0) {
            if (n > cap) {
                free(b);
                errno = EFBIG;
                return -1;
            }
            *out = b;
            *len = n;
            return 0;
        }
        n += (size_t)r;
    }
    free(b);
    errno = ENOMEM;
    return -1;
}

/*
 * The message a `send` argument names: @TEXT (the rest of the argument),
 * - (standard input) or a regular file.  Returns 0 with the bytes, or an
 * exit code after saying what is wrong with the argument.
 */
static int load_message(const char *what, uint8_t **out, size_t *len)
{
    if (!*what)
        return cli_usage_error("send: the message argument is empty: expected FILE, - (standard "
                               "input) or @TEXT");
    if (what[0] == '@') {
        *len = strlen(what + 1);
        *out = malloc(*len ? *len : 1);
        if (!*out)
            return EXIT_FAIL;
        memcpy(*out, what + 1, *len);
        return 0;
    }
    int fd = strcmp(what, "-") ? open(what, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) : 0;
    struct stat st = {0};
    if (fd < 0)
        return cli_usage_error("send: cannot open %s: %s (expected FILE, - or @TEXT)", what,
                               strerror(errno));
    if (fd > 0) {
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            int dir = S_ISDIR(st.st_mode);
            close(fd);
            return cli_usage_error("send: %s is %s, not a regular file (to send a stream, pipe "
                                   "it in: ... | weft send PEER -)", what,
                                   dir ? "a directory" : "a FIFO, socket or device");
        }
        if ((uint64_t)st.st_size > SEND_MAX_BYTES) {
            close(fd);
            return cli_usage_error("send: %s is %lld bytes, over the 16 MiB message cap", what,
                                   (long long)st.st_size);
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    }
    int rc = read_all(fd, SEND_MAX_BYTES, out, len);
    int e = errno;
    if (fd > 0)
        close(fd);
    if (rc != 0) {
        if (e == EFBIG)
            return cli_usage_error("send: %s is over the 16 MiB message cap", fd ? what : "standard input");
        fprintf(stderr, "weft: send: cannot read %s: %s\n", fd ? what : "standard input", strerror(e));
        return EXIT_FAIL;
    }
    return 0;
}

int cmd_send(cli_args *a)
{
    if (a->npos != 2)
        return cli_usage_error("usage: weft send PEER FILE|-|@TEXT [--priority P] [--kind K] "
                               "[--wait [--timeout SECONDS]] (see weft send --help)");
    int wait_ms = 0;
    if (a->wait_flag) {
        wait_ms = 30000;
        if (a->timeout && ((wait_ms = cli_parse_seconds(a->timeout)) <= 0 || wait_ms > 600000))
            return cli_usage_error("--timeout wants SECONDS (0.001-600), got '%s'", a->timeout);
    } else if (a->timeout) {
        return cli_usage_error("send: --timeout goes with --wait");
    }
    const char *prio = a->priority ? a->priority : "normal";
    const char *kind = a->kind ? a->kind : "ordered";
    if (strchr(prio, ' ') || strchr(kind, ' ') || strchr(a->pos[0], ' ') || !a->pos[0][0])
        return cli_usage_error("send: PEER, --priority and --kind are single words");
    int rc = cli_find_socket(a);
    if (rc)
        return rc;
    uint8_t *msg = NULL;
    size_t len = 0;
    if ((rc = load_message(a->pos[1], &msg, &len)) != 0)
        return rc;
    char line[512];
    int n = snprintf(line, sizeof line, "send %.100s prio=%.20s kind=%.20s len=%zu", a->pos[0],
                     prio, kind, len);
    if (wait_ms)
        snprintf(line + n, sizeof line - (size_t)n, " wait=%d", wait_ms);
    rc = cli_request_body(a->socket, line, msg, len, wait_ms + CLI_REPLY_TIMEOUT_MS,
                          a->json ? ok_json : NULL);
    free(msg);
    return rc;
}
