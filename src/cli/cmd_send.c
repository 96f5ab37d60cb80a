/*
 * cmd_send.c -- commands that make a running daemon act: send, connect.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

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

int cmd_connect(cli_args *a)
{
    if (a->npos != 1 || strchr(a->pos[0], ' '))
        return cli_usage_error("usage: weft connect HOST:PORT");
    if (check_hostport(a->pos[0]) != 0)
        return EXIT_USAGE;
    int rc = cli_find_socket(a);
    if (rc)
        return rc;
    char line[512];
    if (snprintf(line, sizeof line, "connect %s", a->pos[0]) >= (int)sizeof line)
        return cli_usage_error("HOST:PORT too long: %s", a->pos[0]);
    return cli_request(a->socket, line, NULL);
}

int cmd_send(cli_args *a)
{
    if (a->npos != 2)
        return cli_usage_error("usage: weft send PEER FILE|@TEXT [--priority P] [--kind K]");
    if (strpbrk(a->pos[1], "\r\n"))
        return cli_usage_error("the message may not contain line breaks (send a file instead)");
    int rc = cli_find_socket(a);
    if (rc)
        return rc;
    const char *what = a->pos[1];
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
        return cli_usage_error("message text or path too long for one request (max 3500 bytes)");
    char line[PATH_MAX + 512];
    snprintf(line, sizeof line, "send %s %s %s %s", a->pos[0], a->priority ? a->priority : "normal",
             a->kind ? a->kind : "ordered", what);
    return cli_request(a->socket, line, NULL);
}
