/*
 * weft.c -- the `weft` command-line tool.
 *
 * Offline commands work on key files directly (keygen, id); the others talk
 * to a running weftd over its unix control socket with the line protocol of
 * docs/DAEMON.md: one request line, response lines, an empty line.  The
 * tool prints the response as is, so scripts can grep `key=value` fields.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "weft/keys.h"
#include "weft/weft.h"

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_NODAEMON = 3 };
#define REPLY_MAX (8u << 20) /* bytes of response we accept */
#define REPLY_TIMEOUT_MS 10000

static void usage(FILE *f)
{
    fprintf(f,
"usage: weft COMMAND [ARGS] [--control PATH | --data-dir DIR]\n"
"\n"
"Offline commands:\n"
"  keygen --network-key FILE     create a new random 32-byte mesh key (mode 0600)\n"
"  id --data-dir DIR             print this node's id (creates the identity if\n"
"                                DIR has none yet)\n"
"\n"
"Commands for a running weftd (found by --control PATH, or DIR/weftd.sock\n"
"with --data-dir DIR, or $WEFT_CONTROL):\n"
"  peers                         one line per established peer: id, addr,\n"
"                                srtt_us, cwnd, mtu, ...\n"
"  stats                         counters, key=value per line\n"
"  send PEER FILE|@TEXT [--priority critical|high|normal|low|0-3]\n"
"       [--kind ordered|unordered|unreliable]\n"
"                                queue a message (default normal, ordered);\n"
"                                PEER is a peer id or a unique hex prefix\n"
"  connect HOST:PORT             start a session with a node\n"
"  daemon-id                     the running daemon's id and addresses\n"
"\n"
"  --help                        this text\n"
"  --version                     print the version\n"
"\n"
"Exit codes: 0 success, 1 the request failed (daemon answered `error ...`,\n"
"or a key file problem), 2 bad usage, 3 the daemon could not be reached.\n");
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "weft: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see weft --help)\n");
    return EXIT_USAGE;
}

/* Sends one request line and copies the response to stdout (error lines to
 * stderr).  Returns an exit code. */
static int request(const char *path, const char *line)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un su = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof su.sun_path)
        return bad("control path too long: %s", path);
    snprintf(su.sun_path, sizeof su.sun_path, "%s", path);
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
        long left = REPLY_TIMEOUT_MS - ((t1.tv_sec - t0.tv_sec) * 1000 +
                                        (t1.tv_nsec - t0.tv_nsec) / 1000000);
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
    fputs(buf, err ? stderr : stdout);
    free(buf);
    return err ? EXIT_FAIL : EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr), EXIT_USAGE;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "--version")) {
        printf("weft %s\n", WEFT_VERSION_STRING);
        return EXIT_OK;
    }
    const char *control = NULL, *data_dir = NULL, *netkey = NULL;
    const char *prio = "normal", *kind = "ordered";
    const char *pos[4];
    int npos = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;
        if (!strcmp(a, "--control")) dst = &control;
        else if (!strcmp(a, "--data-dir")) dst = &data_dir;
        else if (!strcmp(a, "--network-key")) dst = &netkey;
        else if (!strcmp(a, "--priority")) dst = &prio;
        else if (!strcmp(a, "--kind")) dst = &kind;
        else if (!strcmp(a, "--help")) { usage(stdout); return EXIT_OK; }
        else if (a[0] == '-' && a[1] == '-') return bad("unknown option '%s'", a);
        if (dst) {
            if (i + 1 >= argc)
                return bad("%s needs a value", a);
            *dst = argv[++i];
            continue;
        }
        if (npos == 4)
            return bad("too many arguments at '%s'", a);
        pos[npos++] = a;
    }

    if (!strcmp(cmd, "keygen")) {
        if (!netkey || npos)
            return bad("%s", "usage: weft keygen --network-key FILE");
        int rc = weft_network_key_generate(netkey);
        if (rc != 0) {
            fprintf(stderr, "weft: %s: %s (%s)\n", netkey, weft_strerror(rc), weft_err_name(rc));
            return EXIT_FAIL;
        }
        printf("network key written to %s (mode 0600); give it to every node of the mesh\n", netkey);
        return EXIT_OK;
    }
    if (!strcmp(cmd, "id")) {
        if (!data_dir || npos)
            return bad("%s", "usage: weft id --data-dir DIR");
        uint8_t secret[64];
        weft_node_id id;
        int created = 0;
        int rc = weft_identity_load_or_create(data_dir, secret, &id, &created);
        memset(secret, 0, sizeof secret); /* not needed here */
        if (rc != 0) {
            fprintf(stderr, "weft: identity in %s: %s (%s)\n", data_dir, weft_strerror(rc), weft_err_name(rc));
            return EXIT_FAIL;
        }
        char h[WEFT_ID_HEX_LEN];
        weft_id_hex(&id, h);
        printf("%s\n", h);
        if (created)
            fprintf(stderr, "weft: created a new identity in %s\n", data_dir);
        return EXIT_OK;
    }

    char path[PATH_MAX];
    if (control)
        snprintf(path, sizeof path, "%s", control);
    else if (data_dir)
        snprintf(path, sizeof path, "%s/weftd.sock", data_dir);
    else if (getenv("WEFT_CONTROL"))
        snprintf(path, sizeof path, "%s", getenv("WEFT_CONTROL"));
    else
        return bad("%s: which daemon? give --control PATH or --data-dir DIR (or set WEFT_CONTROL)", cmd);

    char line[PATH_MAX + 512];
    if (!strcmp(cmd, "peers") || !strcmp(cmd, "stats")) {
        if (npos)
            return bad("%s takes no arguments", cmd);
        return request(path, cmd);
    }
    if (!strcmp(cmd, "daemon-id")) {
        if (npos)
            return bad("%s takes no arguments", cmd);
        return request(path, "id");
    }
    if (!strcmp(cmd, "connect")) {
        if (npos != 1 || strchr(pos[0], ' '))
            return bad("%s", "usage: weft connect HOST:PORT");
        snprintf(line, sizeof line, "connect %s", pos[0]);
        return request(path, line);
    }
    if (!strcmp(cmd, "send")) {
        if (npos != 2)
            return bad("%s", "usage: weft send PEER FILE|@TEXT [--priority P] [--kind K]");
        if (strpbrk(pos[1], "\r\n"))
            return bad("%s", "the message may not contain line breaks (send a file instead)");
        const char *what = pos[1];
        char abs[PATH_MAX];
        if (what[0] != '@') {
            /* The daemon reads the file: give it an absolute path. */
            if (!realpath(what, abs)) {
                fprintf(stderr, "weft: %s: %s\n", what, strerror(errno));
                return EXIT_FAIL;
            }
            what = abs;
        }
        if (strlen(what) > 3500)
            return bad("%s", "message text or path too long for one request (max 3500 bytes)");
        snprintf(line, sizeof line, "send %s %s %s %s", pos[0], prio, kind, what);
        return request(path, line);
    }
    return bad("unknown command '%s'", cmd);
}
