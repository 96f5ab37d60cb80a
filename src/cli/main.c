/*
 * main.c -- the `weft` command-line tool: argument parsing, help and
 * dispatch to one command.
 *
 * Offline commands work on key files directly (keygen, id: cmd_keys.c);
 * the others talk to a running weftd over its unix control socket
 * (client.c) with the line protocol of docs/DAEMON.md.  The tool prints
 * the response as is, so scripts can grep `key=value` fields.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "weft/weft.h"

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
"  members [--raw]               the membership view: a table of every member\n"
"                                (id, name, state, address, incarnation, RTT,\n"
"                                status, tags); --raw prints the daemon's\n"
"                                `member id=... name=... state=...` lines\n"
"  membership                    member counts (alive, suspect, failed, left)\n"
"                                and membership/beacon counters, key=value\n"
"  send PEER FILE|-|@TEXT [--priority critical|high|normal|low|0-3]\n"
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

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "weft: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see weft --help)\n");
    va_end(ap);
    return EXIT_USAGE;
}

static const struct {
    const char *name;
    int (*run)(cli_args *a);
} commands[] = {
    {"keygen", cmd_keygen},   {"id", cmd_id},
    {"peers", cmd_peers},     {"stats", cmd_stats},
    {"members", cmd_members}, {"membership", cmd_membership},
    {"daemon-id", cmd_daemon_id}, {"send", cmd_send},
    {"connect", cmd_connect},
};

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr), EXIT_USAGE;
    cli_args a = {.cmd = argv[1]};
    /* A daemon that turns us away closes the socket: that is an answer
     * (exit 3), not a reason to die of SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(a.cmd, "--help") || !strcmp(a.cmd, "-h") || !strcmp(a.cmd, "help")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(a.cmd, "--version")) {
        printf("weft %s\n", WEFT_VERSION_STRING);
        return EXIT_OK;
    }
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        const char **dst = NULL;
        if (!strcmp(s, "--control")) dst = &a.control;
        else if (!strcmp(s, "--data-dir")) dst = &a.data_dir;
        else if (!strcmp(s, "--network-key")) dst = &a.network_key;
        else if (!strcmp(s, "--priority")) dst = &a.priority;
        else if (!strcmp(s, "--kind")) dst = &a.kind;
        else if (!strcmp(s, "--help")) { usage(stdout); return EXIT_OK; }
        else if (!strcmp(s, "--raw")) { a.raw = 1; continue; }
        else if (s[0] == '-' && s[1] == '-') return cli_usage_error("unknown option '%s'", s);
        if (dst) {
            if (i + 1 >= argc)
                return cli_usage_error("%s needs a value", s);
            *dst = argv[++i];
            continue;
        }
        if (a.npos == 4)
            return cli_usage_error("too many arguments at '%s'", s);
        a.pos[a.npos++] = s;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(a.cmd, commands[i].name))
            return commands[i].run(&a);
    return cli_usage_error("unknown command '%s'", a.cmd);
}
