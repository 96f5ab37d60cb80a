/*
 * cmd_query.c -- commands that read a running daemon's state: peers,
 * stats, members, membership, daemon-id.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int simple(cli_args *a, const char *request, cli_reply_fn fmt)
{
    if (a->npos)
        return cli_usage_error("%s takes no arguments", a->cmd);
    int rc = cli_find_socket(a);
    return rc ? rc : cli_request(a->socket, request, fmt);
}

int cmd_peers(cli_args *a) { return simple(a, "peers", NULL); }
int cmd_stats(cli_args *a) { return simple(a, "stats", NULL); }
int cmd_membership(cli_args *a) { return simple(a, "membership", NULL); }
int cmd_daemon_id(cli_args *a) { return simple(a, "id", NULL); }

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

int cmd_members(cli_args *a) { return simple(a, "members", a->raw ? NULL : members_table); }
