/*
 * main.c -- the `weft` command-line tool: argument parsing, help and
 * dispatch to one command.
 *
 * Offline commands work on key files directly (keygen, id: cmd_keys.c);
 * the others talk to a running weftd over its unix control socket
 * (client.c) with the protocol of docs/DAEMON.md.  One table lists every
 * command with its synopsis, its help and the options it takes; another
 * every option, so `weft CMD --help` and the checks come from one place.
 */
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "weft/weft.h"

#define DAEMON_OPTS "  --control PATH | --data-dir DIR   which weftd (else $WEFT_CONTROL)\n"

typedef struct command {
    const char *name;
    int (*run)(cli_args *a);
    const char *synopsis; /* after "weft " */
    const char *summary;  /* one line for `weft --help` */
    const char *help;     /* the rest of `weft CMD --help` */
    unsigned opts;        /* OPT_* it accepts */
} command;

enum {
    OPT_CONTROL = 1 << 0, OPT_DATA_DIR = 1 << 1, OPT_NETWORK_KEY = 1 << 2, OPT_PRIORITY = 1 << 3,
    OPT_KIND = 1 << 4, OPT_RAW = 1 << 5, OPT_JSON = 1 << 6, OPT_CREATE = 1 << 7,
    OPT_WAIT_S = 1 << 8, OPT_WAIT = 1 << 9, OPT_TIMEOUT = 1 << 10, OPT_MAX_BYTES = 1 << 11,
};
#define JSON_OPT "  --json                            one JSON document instead\n"
#define OPT_DAEMON (OPT_CONTROL | OPT_DATA_DIR)

static const command commands[] = {
    {"keygen", cmd_keygen, "keygen --network-key FILE",
     "create a new random mesh key (mode 0600)",
     "Writes a new random 32-byte network key to FILE (64 hex digits, mode\n"
     "0600, created atomically; an existing FILE is left untouched).  Every\n"
     "node of a mesh needs the same key: nodes without it cannot join.\n",
     OPT_NETWORK_KEY},
    {"id", cmd_id, "id --data-dir DIR [--create] [--json]",
     "this node's id, from DIR/identity.key",
     "Prints the node id (the Ed25519 public key, 64 hex digits) kept in\n"
     "DIR/identity.key, creating the identity if DIR has none yet.  Works\n"
     "without a running daemon.  A DIR that does not exist is refused (a typo\n"
     "must not mint a new identity) unless --create is given.\n"
     "  --create                          create DIR (mode 0700) if missing\n" JSON_OPT,
     OPT_DATA_DIR | OPT_CREATE | OPT_JSON},
    {"status", cmd_status, "status [--wait SECONDS] [--json] [--control PATH | --data-dir DIR]",
     "is the daemon running? (and wait until it is)",
     "Asks the daemon how it is: state=running, id=, name=, version=,\n"
     "uptime_ms=, listening= per socket, peers= (sessions), membership=on|off,\n"
     "members=, alive=.  Exit 0 when it answers, 3 when it cannot be reached.\n"
     "  --wait SECONDS                    keep trying (every 50 ms) until the daemon\n"
     "                                    answers or SECONDS pass: the readiness\n"
     "                                    step after starting weftd in the background\n"
     JSON_OPT DAEMON_OPTS,
     OPT_DAEMON | OPT_WAIT_S | OPT_JSON},
    {"daemon-id", cmd_daemon_id, "daemon-id [--json] [--control PATH | --data-dir DIR]",
     "the running daemon's id, name and addresses",
     "Prints id=, name= and one listening= line per socket of the running\n"
     "weftd.\n" JSON_OPT DAEMON_OPTS,
     OPT_DAEMON | OPT_JSON},
    {"peers", cmd_peers, "peers [--json] [--control PATH | --data-dir DIR]",
     "established sessions: id, address, RTT, window, MTU",
     "One line per established session: peer id=<64hex> addr= established=\n"
     "srtt_us= rttvar_us= min_rtt_us= cwnd= mtu= inflight= queued=.\n"
     "  --json                            a JSON array of objects instead\n" DAEMON_OPTS,
     OPT_DAEMON | OPT_JSON},
    {"stats", cmd_stats, "stats [--json] [--control PATH | --data-dir DIR]",
     "engine and socket counters",
     "The engine's counters (packets, bytes, messages, drops by reason,\n"
     "handshakes, sessions) and the socket driver's (uv_*), key=value.\n"
     JSON_OPT DAEMON_OPTS,
     OPT_DAEMON | OPT_JSON},
    {"members", cmd_members, "members [--raw | --json] [--control PATH | --data-dir DIR]",
     "the membership view: who is alive",
     "A table of every member this node knows, itself marked '*': id, name,\n"
     "state (alive, suspect, failed, left), address, incarnation, RTT,\n"
     "status and tags.\n"
     "  --raw                             the daemon's `member id=... name=...` lines\n"
     "  --json                            a JSON array of objects (tags an object)\n"
     DAEMON_OPTS,
     OPT_DAEMON | OPT_RAW | OPT_JSON},
    {"membership", cmd_membership, "membership [--json] [--control PATH | --data-dir DIR]",
     "member counts and membership/beacon counters",
     "members=, alive=, suspect=, failed=, left=, then the membership\n"
     "protocol's counters and, with --beacon, the beacon counters; key=value.\n"
     JSON_OPT DAEMON_OPTS,
     OPT_DAEMON | OPT_JSON},
    {"send", cmd_send,
     "send PEER FILE|-|@TEXT [--priority P] [--kind K] [--wait [--timeout SECONDS]] [--json]\n"
     "          [--control PATH | --data-dir DIR]",
     "send a message to a peer",
     "Queues one message to PEER (its id, or a unique hex prefix of an\n"
     "established peer's id).  The message is FILE (a regular file, read by\n"
     "weft), - (standard input) or @TEXT (the rest of the argument); at most\n"
     "16 MiB.  Prints `ok queued to=... len=N sha256=...`; delivery shows in\n"
     "the receiver's log (and its `weft monitor`).\n"
     "  --priority critical|high|normal|low|0-3   default normal\n"
     "  --kind ordered|unordered|unreliable       default ordered; unreliable\n"
     "                                    messages must fit in one packet\n"
     "  --wait                            wait for this message's outcome: `ok\n"
     "                                    delivered ...` once the peer's application\n"
     "                                    took it (a receipt), or an error naming\n"
     "                                    why it failed (peer unreachable, closed,\n"
     "                                    restarted); not with --kind unreliable\n"
     "  --timeout SECONDS                 how long --wait waits (default 30)\n"
     JSON_OPT DAEMON_OPTS,
     OPT_DAEMON | OPT_PRIORITY | OPT_KIND | OPT_WAIT | OPT_TIMEOUT | OPT_JSON},
    {"connect", cmd_connect,
     "connect HOST:PORT [--timeout SECONDS] [--json] [--control PATH | --data-dir DIR]",
     "open a session with a node and wait for the outcome",
     "Asks the daemon to open a session with the node at HOST:PORT (numeric\n"
     "IPv4, [IPv6] or a name; port 1-65535) and waits for the outcome: prints\n"
     "`ok peer-up id=<64hex> addr=A already=0|1` (exit 0) or why it failed\n"
     "(exit 1): the handshake failed, the name does not resolve, or no outcome\n"
     "within the timeout (the daemon may still complete it: see its log).\n"
     "  --timeout SECONDS                 how long to wait (default 5; 0 = do not\n"
     "                                    wait: `ok connecting HOST:PORT`)\n"
     JSON_OPT DAEMON_OPTS,
     OPT_DAEMON | OPT_TIMEOUT | OPT_JSON},
    {"monitor", cmd_monitor,
     "monitor [--json] [--max-bytes N] [--control PATH | --data-dir DIR]",
     "stream the daemon's events, messages included, until interrupted",
     "Prints one line per event as it happens, until Ctrl-C (exit 0) or the\n"
     "daemon stops: member-joined|updated|suspect|alive|failed|left|rejoined\n"
     "id= name= addr= inc=; peer-up id= addr=; peer-down id= addr= reason=;\n"
     "handshake-failed addr= reason=; and each message received:\n"
     "  message from=<64hex> len=N prio=P kind=K sha256=H truncated=0|1 text=\"...\"\n"
     "with the payload as text=\"...\" when every byte is printable ASCII (\\n,\n"
     "\\t, \\\" and \\\\ escaped), else as base64=....  A reader too slow to keep up\n"
     "is dropped by the daemon (exit 3).\n"
     "  --json                            one JSON object per line (\"event\": the word)\n"
     "  --max-bytes N                     payload bytes shown per message (default\n"
     "                                    65536, at most 1048576; truncated=1 beyond)\n"
     DAEMON_OPTS,
     OPT_DAEMON | OPT_JSON | OPT_MAX_BYTES},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct {
    const char *name;
    unsigned bit;
    size_t field; /* offsetof the const char * in cli_args, or 0 for a flag */
} options[] = {
    {"--control", OPT_CONTROL, offsetof(cli_args, control)},
    {"--data-dir", OPT_DATA_DIR, offsetof(cli_args, data_dir)},
    {"--network-key", OPT_NETWORK_KEY, offsetof(cli_args, network_key)},
    {"--priority", OPT_PRIORITY, offsetof(cli_args, priority)},
    {"--kind", OPT_KIND, offsetof(cli_args, kind)},
    {"--raw", OPT_RAW, 0},
    {"--json", OPT_JSON, 0},
    {"--create", OPT_CREATE, 0},
    {"--wait", OPT_WAIT_S, offsetof(cli_args, wait)}, /* status --wait SECONDS */
    {"--wait", OPT_WAIT, 0},                          /* send --wait */
    {"--timeout", OPT_TIMEOUT, offsetof(cli_args, timeout)},
    {"--max-bytes", OPT_MAX_BYTES, offsetof(cli_args, max_bytes)},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: weft COMMAND [ARGS] [OPTIONS]\n"
               "\n"
               "Talks to a running weftd over its control socket (found by --control PATH,\n"
               "else DIR/weftd.sock with --data-dir DIR, else $WEFT_CONTROL), except\n"
               "keygen and id, which work on key files.\n"
               "\n"
               "Commands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n"
               "  weft COMMAND --help               what COMMAND does and its options\n"
               "  weft --help, weft --version\n"
               "\n"
               "Exit codes: 0 success; 1 the request failed (the daemon answered `error ...`,\n"
               "or a key file problem); 2 bad usage (unknown command or option, bad value,\n"
               "a FILE that is not a readable regular file); 3 the daemon could not be\n"
               "reached, turned the connection away (busy) or did not answer in time.\n"
               "docs/DAEMON.md documents every command and the control protocol.\n");
}

static void command_help(const command *c)
{
    printf("usage: weft %s\n\n%s", c->synopsis, c->help);
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

int cli_parse_seconds(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0 && v <= 3600))
        return -1;
    return (int)(v * 1000 + 0.5);
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, commands[i].name))
            return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr), EXIT_USAGE;
    /* A daemon that turns us away closes the socket: that is an answer
     * (exit 3), not a reason to die of SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    const char *name = argv[1];
    if (!strcmp(name, "--help") || !strcmp(name, "-h")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(name, "--version")) {
        printf("weft %s\n", WEFT_VERSION_STRING);
        return EXIT_OK;
    }
    if (!strcmp(name, "help")) {
        if (argc < 3) {
            usage(stdout);
            return EXIT_OK;
        }
        const command *c = find_command(argv[2]);
        if (!c)
            return cli_usage_error("no command '%s'", argv[2]);
        command_help(c);
        return EXIT_OK;
    }
    const command *c = find_command(name);
    if (!c)
        return cli_usage_error("unknown command '%s'", name);
    cli_args a = {.cmd = name};
    for (int i = 2; i < argc; i++) {
        const char *s = argv[i];
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
            command_help(c);
            return EXIT_OK;
        }
        if (s[0] == '-' && s[1] == '-') {
            size_t k = 0; /* the entry of that name this command takes */
            while (k < sizeof options / sizeof options[0] &&
                   (strcmp(s, options[k].name) || !(c->opts & options[k].bit)))
                k++;
            if (k == sizeof options / sizeof options[0] || !(c->opts & options[k].bit))
                return cli_usage_error("%s: unknown option '%s' (see weft %s --help)", name, s,
                                       name);
            if (!options[k].field) {
                int *flag = options[k].bit == OPT_RAW    ? &a.raw
                            : options[k].bit == OPT_JSON ? &a.json
                            : options[k].bit == OPT_WAIT ? &a.wait_flag
                                                         : &a.create;
                *flag = 1;
                continue;
            }
            if (i + 1 >= argc)
                return cli_usage_error("%s needs a value", s);
            *(const char **)((char *)&a + options[k].field) = argv[++i];
            continue;
        }
        if (a.npos == (int)(sizeof a.pos / sizeof a.pos[0]))
            return cli_usage_error("%s: too many arguments at '%s' (see weft %s --help)", name,
                                   s, name);
        a.pos[a.npos++] = s;
    }
    return c->run(&a);
}
