/*
 * main.c -- weftd, the weft daemon: the entry point, signals and exit
 * codes.
 *
 * The work is elsewhere: options.c turns flags into a weftd_options,
 * service.c runs the node, control.c serves the unix control socket for
 * the `weft` CLI, log.c writes the log.  main() loads the keys, starts the
 * three in order and runs the loop until SIGTERM or SIGINT stops it
 * (gracefully: the node leaves the membership first); SIGHUP reloads the
 * peers file and never stops it.
 * docs/DAEMON.md documents flags, the control protocol and every log line.
 *
 * Exit codes: 0 after SIGINT/SIGTERM (sessions closed), 1 runtime failure
 * (bind, I/O, another daemon on the data directory or control socket), 2
 * bad flags or configuration (including key files that are missing,
 * malformed, readable by others or owned by another user, and a data
 * directory that others may write).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "options.h"
#include "service.h"
#include "weft/keys.h"

/* The running daemon: what the signal handlers need to stop it. */
typedef struct daemon_state {
    uv_loop_t *loop;
    service *svc;
    control *ctl;
    uv_signal_t sigint, sigterm, sighup;
    int stopping;
    const char *why;
} daemon_state;

static void stop(daemon_state *d, const char *why)
{
    if (d->stopping)
        return;
    d->stopping = 1;
    log_line(LOG_INFO, "shutdown reason=%s", why);
    control_close(d->ctl);
    d->ctl = NULL;
    service_close(d->svc);
    d->svc = NULL;
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
}

static void on_left(void *ud)
{
    daemon_state *d = ud;
    stop(d, d->why);
}

/* First SIGINT/SIGTERM: a graceful leave, then the stop; a second signal
 * stops at once. */
static void on_signal(uv_signal_t *h, int signum)
{
    daemon_state *d = h->data;
    const char *why = signum == SIGINT ? "SIGINT" : "SIGTERM";
    if (d->why) {
        stop(d, why);
        return;
    }
    d->why = why;
    service_leave(d->svc, why, on_left, d);
}

/* SIGHUP reloads what can be reloaded; it never stops the daemon. */
static void on_sighup(uv_signal_t *h, int signum)
{
    daemon_state *d = h->data;
    if (!d->stopping && !d->why)
        service_reload(d->svc, "SIGHUP");
    (void)signum;
}

/* A key file the user must fix (permissions, contents, missing) is a
 * configuration error (2); anything else a runtime failure (1). */
static int key_exit(int rc)
{
    return rc == WEFT_ERR_KEY_PERMS || rc == WEFT_ERR_CORRUPT || rc == WEFT_ERR_NOT_FOUND ||
                   rc == WEFT_ERR_INVAL
               ? 2
               : 1;
}

/*
 * Data directory: created private (0700) on first start; an existing one
 * must be ours (or root's) and not writable by group or others -- whoever
 * can write it can replace the identity key.  Then it is locked for the
 * life of the process (flock on DIR/lock, which holds our pid), so a
 * second daemon on the same identity is refused instead of making every
 * session flap.  Returns 0 or an exit code (printed).
 */
static int data_dir_open(const char *dir, int *lock_fd)
{
    struct stat st;
    if (stat(dir, &st) != 0 && errno == ENOENT && mkdir(dir, 0700) != 0) {
        fprintf(stderr, "weftd: cannot create the data directory %s: %s\n", dir, strerror(errno));
        return 1;
    }
    int rc = weft_private_dir_check(dir);
    if (rc != 0) {
        fprintf(stderr, "weftd: --data-dir: %s\n", weft_keys_last_error());
        return rc == WEFT_ERR_KEY_PERMS || rc == WEFT_ERR_IO ? 2 : 1;
    }
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/lock", dir) >= (int)sizeof path) {
        fprintf(stderr, "weftd: --data-dir path too long: %s\n", dir);
        return 2;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd < 0) {
        fprintf(stderr, "weftd: cannot open the lock file %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char pid[32] = "";
        ssize_t n = e == EWOULDBLOCK ? pread(fd, pid, sizeof pid - 1, 0) : -1;
        close(fd);
        if (e != EWOULDBLOCK) {
            fprintf(stderr, "weftd: cannot lock %s: %s\n", path, strerror(e));
            return 1;
        }
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        fprintf(stderr, "weftd: the data directory %s is in use by another weftd (pid %s holds "
                        "%s); stop that one first, or give this one another --data-dir\n",
                dir, pid[0] ? pid : "unknown", path);
        return 1;
    }
    char line[32];
    int len = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len)
        log_line(LOG_WARN, "lock-file path=%s reason=%s (lock held; pid not recorded)", path,
                 strerror(errno));
    *lock_fd = fd; /* held open, and so locked, until the process exits */
    return 0;
}

/* Loads (or creates) the identity and loads the network key.  Returns 0
 * or an exit code (printed). */
static int load_keys(weftd_options *o, uint8_t secret[64], uint8_t netkey[32], int *created)
{
    weft_node_id id;
    int rc = weft_identity_load_or_create(o->data_dir, secret, &id, created);
    if (rc != 0) {
        fprintf(stderr, "weftd: identity: %s (%s)\n", weft_keys_last_error(), weft_err_name(rc));
        return key_exit(rc);
    }
    rc = o->network_key_file[0] ? weft_network_key_load(o->network_key_file, netkey)
                                : weft_network_key_from_passphrase(o->network_passphrase, netkey);
    sodium_memzero(o->network_passphrase, sizeof o->network_passphrase);
    if (rc != 0) {
        if (o->network_key_file[0])
            fprintf(stderr, "weftd: --network-key: %s (%s)\n", weft_keys_last_error(),
                    weft_err_name(rc));
        else
            fprintf(stderr, "weftd: network key from passphrase: %s (%s)\n", weft_strerror(rc),
                    weft_err_name(rc));
        sodium_memzero(secret, 64);
        return key_exit(rc);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static weftd_options o; /* ~60 KiB: off the stack */
    int action;
    char err[512];
    options_default(&o);
    int rc = options_parse_args(&o, argc, argv, &action);
    if (rc != 0)
        return rc;
    if (action == OPT_HELP) {
        options_usage(stdout);
        return 0;
    }
    if (action == OPT_VERSION) {
        printf("weftd %s\n", WEFT_VERSION_STRING);
        return 0;
    }
    if (options_finish(&o, err, sizeof err) != 0) {
        fprintf(stderr, "weftd: %s\n(see weftd --help)\n", err);
        return 2;
    }
    log_setup(o.log_level);
    if (sodium_init() < 0) {
        fprintf(stderr, "weftd: libsodium failed to initialise\n");
        return 1;
    }
    int lock_fd = -1;
    if ((rc = data_dir_open(o.data_dir, &lock_fd)) != 0)
        return rc;
    uint8_t secret[64], netkey[32];
    int created = 0;
    if ((rc = load_keys(&o, secret, netkey, &created)) != 0)
        return rc;

    signal(SIGPIPE, SIG_IGN); /* a CLI that hangs up must not kill us */
    daemon_state d = {.loop = uv_default_loop()};
    rc = service_new(&d.svc, d.loop, &o, secret, netkey, created);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(netkey, sizeof netkey);
    if (rc != 0)
        return rc;
    if ((rc = control_start(&d.ctl, d.loop, d.svc, o.control)) != 0) {
        service_close(d.svc);
        uv_run(d.loop, UV_RUN_DEFAULT);
        return rc;
    }
    uv_signal_init(d.loop, &d.sigint);
    uv_signal_init(d.loop, &d.sigterm);
    uv_signal_init(d.loop, &d.sighup);
    d.sigint.data = d.sigterm.data = d.sighup.data = &d;
    uv_signal_start(&d.sigint, on_signal, SIGINT);
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sighup, on_sighup, SIGHUP);

    int exit_code = service_begin(d.svc);
    if (exit_code != 0)
        stop(&d, "config");
    uv_run(d.loop, UV_RUN_DEFAULT);
    log_line(LOG_INFO, "stopped");
    uv_loop_close(d.loop);
    close(lock_fd); /* the lock goes with it */
    return exit_code;
}
