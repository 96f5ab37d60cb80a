/*
 * cmd_query.c -- commands that read a running daemon's state: status,
 * peers, stats, members, membership, daemon-id; each as the daemon's
 * `key=value` lines, a table (members) or, with --json, one JSON document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int simple(cli_args *a, const char *request, cli_reply_fn fmt)
{
    if (a->npos)
        return cli_usage_error("%s takes no arguments (see weft %s --help)", a->cmd, a->cmd);
    int rc = cli_find_socket(a);
    return rc ? rc : cli_request(a->socket, request, fmt);
}

static int peers_json(char *body) { return json_records(body, "peer"); }
static int members_json(char *body) { return json_records(body, "member"); }

int cmd_peers(cli_args *a) { return simple(a, "peers", a->json ? peers_json : NULL); }
int cmd_stats(cli_args *a) { return simple(a, "stats", a->json ? json_object : NULL); }
int cmd_membership(cli_args *a) { return simple(a, "membership", a->json ? json_object : NULL); }
int cmd_daemon_id(cli_args *a) { return simple(a, "id", a->json ? json_object : NULL); }

/* Value of " key=" in a `member ...` line (tags= is last and may hold
 * '='), copied into out. */
static const char *field(const char *line, const char *key, char *out, size_t cap)
{
    char pat[32];
    snprintf(pat, sizeof pat, " %s=", key);
    const char *p = strstr(line, pat);
    if (!p) {
        snprintf(out, cap, "?");
        return out;
    }
    p += strlen(pat);
    size_t n = !strcmp(key, "tags") ? strcspn(p, "\n") : strcspn(p, " \n");
    snprintf(out, cap, "%.*s", (int)n, p);
    return out;
}

/* `weft members`: the daemon's lines as a table, self marked with '*'. */
static int members_table(char *body)
{
    printf("%-17s %-16s %-8s %-23s %10s %8s %-10s %s\n", "ID", "NAME", "STATE", "ADDRESS", "INC",
           "RTT_MS", "STATUS", "TAGS");
    unsigned n = 0, alive = 0;
    for (char *save = NULL, *l = strtok_r(body, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "member ", 7))
            continue;
        char id[80], name[130], st[16], addr[80], inc[16], rtt[16], self[4], status[70], tags[2100];
        field(l, "id", id, sizeof id);
        id[16] = 0;
        field(l, "name", name, sizeof name);
        field(l, "state", st, sizeof st);
        field(l, "addr", addr, sizeof addr);
        field(l, "inc", inc, sizeof inc);
        field(l, "rtt_us", rtt, sizeof rtt);
        field(l, "self", self, sizeof self);
        field(l, "status", status, sizeof status);
        field(l, "tags", tags, sizeof tags);
        char rtts[24] = "-";
        if (strcmp(rtt, "0") && strcmp(rtt, "?"))
            snprintf(rtts, sizeof rtts, "%.2f", atof(rtt) / 1000.0);
        printf("%s%-16s %-16s %-8s %-23s %10s %8s %-10s %s\n", strcmp(self, "1") ? " " : "*", id,
               name, st, addr, inc, rtts, status, tags);
        n++;
        alive += !strcmp(st, "alive");
    }
    printf("%u members, %u alive (* = this node)\n", n, alive);
    return EXIT_OK;
}

int cmd_members(cli_args *a)
{
    return simple(a, "members", a->json ? members_json : a->raw ? NULL : members_table);
}

/*
 * `weft status [--wait SECONDS]`: is the daemon up?  Without --wait one
 * try; with it, the control socket is polled every 50 ms until the daemon
 * answers or the time is up -- the readiness step for scripts that start
 * weftd in the background.
 */
int cmd_status(cli_args *a)
{
    if (a->npos)
        return cli_usage_error("status takes no arguments (see weft status --help)");
    int wait_ms = 0;
    if (a->wait && (wait_ms = cli_parse_seconds(a->wait)) < 0)
        return cli_usage_error("--wait wants SECONDS (0-3600), got '%s'", a->wait);
    int rc = cli_find_socket(a);
    if (rc)
        return rc;
    int64_t deadline = cli_now_ms() + wait_ms;
    for (;;) {
        int fd;
        rc = cli_connect(a->socket, &fd, cli_now_ms() < deadline);
        if (rc == EXIT_USAGE)
            return rc;
        if (rc == 0) {
            close(fd);
            rc = cli_request(a->socket, "status", a->json ? json_object : NULL);
            if (rc != EXIT_NODAEMON || cli_now_ms() >= deadline)
                return rc;
        } else if (cli_now_ms() >= deadline) {
            if (wait_ms)
                fprintf(stderr, "weft: weftd at %s did not answer within %d ms\n", a->socket,
                        wait_ms);
            return EXIT_NODAEMON;
        }
        usleep(50 * 1000);
    }
}
