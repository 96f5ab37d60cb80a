/*
 * options.c -- weftd's settings: defaults, one setter per setting, the
 * command line, the cross-checks and the --help text (options.h).
 *
 * One table names every setting once; the command line is parsed through
 * it with getopt_long, and a later config.c (YAML, WEFT_* variables) will
 * call options_set with the same names, so a setting added here is known
 * to every source.  Nothing here touches a socket or a file: values are
 * checked for form and range only (whether a file exists or an interface
 * is up is found out when the node starts).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "options.h"

enum {
    O_LISTEN = 1, O_DATA, O_NETKEY, O_NETPASS, O_PEER, O_NAME, O_UNREACH, O_LOG,
    O_CONTROL, O_ADVERTISE, O_PEERS_FILE, O_STATUS, O_TAG, O_PROFILE, O_MAX_PEERS,
    O_NO_MEMBERSHIP, O_PROBE_INTERVAL, O_PROBE_TIMEOUT, O_SUSPICION_MULT, O_BEACON,
    O_BEACON_PORT, O_BEACON_FAMILY, O_BEACON_INTERVAL, O_HELP, O_VERSION
};

/* Every setting: its name (flag, YAML key, WEFT_ variable) and whether it
 * takes a value.  help and version are command-line only. */
static const struct option table[] = {
    {"listen", required_argument, 0, O_LISTEN},
    {"data-dir", required_argument, 0, O_DATA},
    {"network-key", required_argument, 0, O_NETKEY},
    {"network-passphrase", required_argument, 0, O_NETPASS},
    {"peer", required_argument, 0, O_PEER},
    {"name", required_argument, 0, O_NAME},
    {"unreachable-ms", required_argument, 0, O_UNREACH},
    {"log-level", required_argument, 0, O_LOG},
    {"control", required_argument, 0, O_CONTROL},
    {"advertise", required_argument, 0, O_ADVERTISE},
    {"peers-file", required_argument, 0, O_PEERS_FILE},
    {"status", required_argument, 0, O_STATUS},
    {"tag", required_argument, 0, O_TAG},
    {"profile", required_argument, 0, O_PROFILE},
    {"max-peers", required_argument, 0, O_MAX_PEERS},
    {"no-membership", no_argument, 0, O_NO_MEMBERSHIP},
    {"probe-interval-ms", required_argument, 0, O_PROBE_INTERVAL},
    {"probe-timeout-ms", required_argument, 0, O_PROBE_TIMEOUT},
    {"suspicion-mult", required_argument, 0, O_SUSPICION_MULT},
    {"beacon", required_argument, 0, O_BEACON},
    {"beacon-port", required_argument, 0, O_BEACON_PORT},
    {"beacon-family", required_argument, 0, O_BEACON_FAMILY},
    {"beacon-interval-ms", required_argument, 0, O_BEACON_INTERVAL},
    {"help", no_argument, 0, O_HELP},
    {"version", no_argument, 0, O_VERSION},
    {0, 0, 0, 0}};

void options_default(weftd_options *o)
{
    memset(o, 0, sizeof *o);
    weft_addr_parse(&o->listen[0], "127.0.0.1:7946");
    o->listen_count = 1;
    o->log_level = LOG_INFO;
    o->membership = 1;
    o->profile = WEFT_PROFILE_LAN;
    snprintf(o->status, sizeof o->status, "active");
}

int options_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || s[0] == '+' || s[0] == ' ' || v < lo ||
        v > hi)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

/* A repeatable setting: the first entry from a source above the one that
 * filled the list replaces the list. */
static void list_claim(uint8_t *src, size_t *count, int source)
{
    if (*src < source) {
        *count = 0;
        *src = (uint8_t)source;
    }
}

static int copy_path(char *dst, size_t cap, const char *v, const char *flag, char *err,
                     size_t ecap)
{
    if (!*v)
        return fail(err, ecap, "--%s wants a path, got an empty string", flag);
    if (strlen(v) >= cap)
        return fail(err, ecap, "--%s path too long (max %zu bytes): %s", flag, cap - 1, v);
    snprintf(dst, cap, "%s", v);
    return 0;
}

int options_set(weftd_options *o, int source, const char *name, const char *v, char *err,
                size_t cap)
{
    int id = 0;
    for (const struct option *t = table; t->name; t++)
        if (!strcmp(t->name, name))
            id = t->val;
    if (!id || id == O_HELP || id == O_VERSION)
        return -2;
    if (!v && id != O_NO_MEMBERSHIP)
        return fail(err, cap, "--%s needs a value", name);
    uint32_t u32;
    switch (id) {
    case O_LISTEN:
        list_claim(&o->src_listen, &o->listen_count, source);
        if (o->listen_count == WEFT_UV_MAX_LISTEN)
            return fail(err, cap, "too many --listen (max %d): %s", WEFT_UV_MAX_LISTEN, v);
        if (weft_addr_parse(&o->listen[o->listen_count], v) != 0)
            return fail(err, cap, "--listen wants a numeric ADDR:PORT like 127.0.0.1:7946 or "
                                  "[::1]:7946, got '%s'", v);
        o->listen_count++;
        return 0;
    case O_DATA:
        return copy_path(o->data_dir, sizeof o->data_dir - 16, v, name, err, cap);
    case O_NETKEY:
        return copy_path(o->network_key_file, sizeof o->network_key_file, v, name, err, cap);
    case O_NETPASS:
        if (!*v)
            return fail(err, cap, "--network-passphrase must not be empty (an empty passphrase "
                                  "is a key anyone can guess; better, use --network-key FILE)");
        if (strlen(v) >= sizeof o->network_passphrase)
            return fail(err, cap, "--network-passphrase too long (max %zu bytes)",
                        sizeof o->network_passphrase - 1);
        snprintf(o->network_passphrase, sizeof o->network_passphrase, "%s", v);
        o->have_passphrase = 1;
        return 0;
    case O_PEER:
        list_claim(&o->src_peers, &o->npeers, source);
        if (o->npeers == OPT_PEERS_MAX)
            return fail(err, cap, "too many --peer (max %d): %s", OPT_PEERS_MAX, v);
        if (strlen(v) >= OPT_PEER_SPEC_MAX)
            return fail(err, cap, "--peer too long: %s", v);
        snprintf(o->peers[o->npeers++], OPT_PEER_SPEC_MAX, "%s", v);
        return 0;
    case O_NAME:
        if (strlen(v) == 0 || strlen(v) >= sizeof o->name || strcspn(v, " \t\r\n=\"") != strlen(v))
            return fail(err, cap, "--name must be 1-63 chars without spaces, '=' or quotes: '%s'", v);
        snprintf(o->name, sizeof o->name, "%s", v);
        return 0;
    case O_UNREACH:
        if (options_parse_u32(v, 100, 3600000, &o->unreachable_ms) != 0)
            return fail(err, cap, "--unreachable-ms wants 100..3600000, got '%s'", v);
        return 0;
    case O_LOG:
        if ((o->log_level = log_level_parse(v)) < 0)
            return fail(err, cap, "--log-level wants error|warn|info|debug, got '%s'", v);
        return 0;
    case O_CONTROL:
        if (!*v || strlen(v) >= sizeof o->control)
            return fail(err, cap, "--control wants a socket path of 1-%zu bytes, got '%s'",
                        sizeof o->control - 1, v);
        snprintf(o->control, sizeof o->control, "%s", v);
        return 0;
    case O_ADVERTISE:
        if (weft_addr_parse(&o->advertise, v) != 0)
            return fail(err, cap, "--advertise wants a numeric ADDR:PORT (port 0 = the bound "
                                  "port), got '%s'", v);
        o->have_advertise = 1;
        return 0;
    case O_PEERS_FILE:
        return copy_path(o->peers_file, sizeof o->peers_file, v, name, err, cap);
    case O_STATUS:
        if (strlen(v) == 0 || strlen(v) >= sizeof o->status)
            return fail(err, cap, "--status must be 1-32 bytes (active, idle, processing, "
                                  "offline or your own word): '%s'", v);
        snprintf(o->status, sizeof o->status, "%s", v);
        return 0;
    case O_TAG: {
        const char *eq = strchr(v, '=');
        list_claim(&o->src_tags, &o->ntags, source);
        if (!eq || eq == v)
            return fail(err, cap, "--tag wants KEY=VALUE with a non-empty KEY, got '%s'", v);
        if (o->ntags == OPT_TAGS_MAX)
            return fail(err, cap, "too many --tag (max %d): %s", OPT_TAGS_MAX, v);
        /* Longer parts than the wire allows are refused by the engine with
         * the caps spelt out (metadata too big); these only bound copies. */
        if ((size_t)(eq - v) >= OPT_TAG_PART_MAX || strlen(eq + 1) >= OPT_TAG_PART_MAX)
            return fail(err, cap, "metadata too big: each --tag KEY and VALUE at most 255 bytes: '%.40s...'", v);
        snprintf(o->tag_key[o->ntags], OPT_TAG_PART_MAX, "%.*s", (int)(eq - v), v);
        snprintf(o->tag_value[o->ntags], OPT_TAG_PART_MAX, "%s", eq + 1);
        o->ntags++;
        return 0;
    }
    case O_PROFILE:
        if (!strcmp(v, "lan"))
            o->profile = WEFT_PROFILE_LAN;
        else if (!strcmp(v, "wan"))
            o->profile = WEFT_PROFILE_WAN;
        else
            return fail(err, cap, "--profile wants lan or wan, got '%s'", v);
        return 0;
    case O_MAX_PEERS:
        if (options_parse_u32(v, 2, 1000000, &o->max_peers) != 0)
            return fail(err, cap, "--max-peers wants 2..1000000 (members tracked, self "
                                  "included), got '%s'", v);
        return 0;
    case O_NO_MEMBERSHIP:
        o->membership = 0;
        return 0;
    case O_PROBE_INTERVAL:
        if (options_parse_u32(v, 10, 600000, &o->probe_interval_ms) != 0)
            return fail(err, cap, "--probe-interval-ms wants 10..600000, got '%s'", v);
        return 0;
    case O_PROBE_TIMEOUT:
        if (options_parse_u32(v, 5, 600000, &o->probe_timeout_ms) != 0)
            return fail(err, cap, "--probe-timeout-ms wants 5..600000, got '%s'", v);
        return 0;
    case O_SUSPICION_MULT:
        if (options_parse_u32(v, 1, 100, &o->suspicion_mult) != 0)
            return fail(err, cap, "--suspicion-mult wants 1..100, got '%s'", v);
        return 0;
    case O_BEACON:
        list_claim(&o->src_beacons, &o->beacon_count, source);
        if (o->beacon_count == WEFT_DISC_IFACES_MAX)
            return fail(err, cap, "too many --beacon (max %d): %s", WEFT_DISC_IFACES_MAX, v);
        if (!*v || strlen(v) >= sizeof o->beacon_ifaces[0])
            return fail(err, cap, "--beacon wants an interface name (1-15 chars), got '%s'", v);
        snprintf(o->beacon_ifaces[o->beacon_count++], sizeof o->beacon_ifaces[0], "%s", v);
        return 0;
    case O_BEACON_PORT:
        if (options_parse_u32(v, 1, 65535, &u32) != 0)
            return fail(err, cap, "--beacon-port wants 1..65535, got '%s'", v);
        o->beacon_port = (uint16_t)u32;
        return 0;
    case O_BEACON_FAMILY:
        if (!strcmp(v, "4"))
            o->beacon_modes = WEFT_DISC_V4_BROADCAST | WEFT_DISC_V4_MULTICAST;
        else if (!strcmp(v, "6"))
            o->beacon_modes = WEFT_DISC_V6_MULTICAST;
        else if (!strcmp(v, "broadcast"))
            o->beacon_modes = WEFT_DISC_V4_BROADCAST;
        else if (!strcmp(v, "all"))
            o->beacon_modes = WEFT_DISC_ALL;
        else
            return fail(err, cap, "--beacon-family wants 4, 6, broadcast or all, got '%s'", v);
        return 0;
    case O_BEACON_INTERVAL:
        if (options_parse_u32(v, 50, 3600000, &o->beacon_interval_ms) != 0)
            return fail(err, cap, "--beacon-interval-ms wants 50..3600000, got '%s'", v);
        return 0;
    }
    return -2;
}

static int bad(const char *msg)
{
    fprintf(stderr, "weftd: %s\n(see weftd --help)\n", msg);
    return 2;
}

int options_parse_args(weftd_options *o, int argc, char **argv, int *action)
{
    char err[512];
    *action = OPT_RUN;
    opterr = 0;
    optind = 1;
    int c, idx;
    while ((c = getopt_long(argc, argv, "hV", table, &idx)) != -1) {
        if (c == 'h')
            c = O_HELP;
        if (c == 'V')
            c = O_VERSION;
        if (c == O_HELP || c == O_VERSION) {
            *action = c == O_HELP ? OPT_HELP : OPT_VERSION;
            return 0;
        }
        if (c == '?' || c == ':') {
            snprintf(err, sizeof err, "unknown or incomplete option '%s'", argv[optind - 1]);
            return bad(err);
        }
        const char *name = NULL;
        for (const struct option *t = table; t->name; t++)
            if (t->val == c)
                name = t->name;
        if (!name || options_set(o, OPT_SRC_FLAG, name, optarg, err, sizeof err) != 0)
            return bad(name ? err : "unknown option");
    }
    if (optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%s'", argv[optind]);
        return bad(err);
    }
    return 0;
}

int options_finish(weftd_options *o, char *err, size_t cap)
{
    if (!o->membership && (o->peers_file[0] || o->beacon_count))
        return fail(err, cap, "--peers-file and --beacon need membership (drop --no-membership)");
    if (!o->data_dir[0])
        return fail(err, cap, "--data-dir DIR is required");
    if (!o->network_key_file[0] == !o->have_passphrase)
        return fail(err, cap, "exactly one of --network-key FILE or --network-passphrase P is required");
    if (!o->control[0] &&
        snprintf(o->control, sizeof o->control, "%.*s/weftd.sock", (int)sizeof o->control,
                 o->data_dir) >= (int)sizeof o->control) {
        o->control[0] = 0;
        return fail(err, cap, "DATA_DIR too long for the default control socket path; use "
                              "--control: %s", o->data_dir);
    }
    return 0;
}

void options_usage(FILE *f)
{
    fprintf(f,
"usage: weftd --data-dir DIR (--network-key FILE | --network-passphrase P) [options]\n"
"\n"
"Runs one weft node: encrypted, authenticated sessions (Noise_XXpsk3 over UDP)\n"
"with every node that holds the same network key.\n"
"\n"
"  --listen ADDR:PORT      UDP address to bind; repeatable, IPv4 or [IPv6]\n"
"                          (default 127.0.0.1:7946; nothing else is opened)\n"
"  --data-dir DIR          node state; created (mode 0700) on first start with\n"
"                          the identity key DIR/identity.key (mode 0600);\n"
"                          refused if another user owns it or group/others\n"
"                          may write it; locked (DIR/lock): one weftd per DIR\n"
"  --network-key FILE      32-byte mesh key (make one: weft keygen --network-key FILE)\n"
"  --network-passphrase P  derive the mesh key from P (demos and tests only:\n"
"                          visible in the process list)\n"
"  --peer HOST:PORT        connect to this node (port 1-65535), retrying with backoff\n"
"                          (500 ms doubling to 30 s) while it is not up, and\n"
"                          join the mesh's membership through it; repeatable\n"
"  --name NAME             a human name for this node (logged, spread to all\n"
"                          members; at most 63 bytes)\n"
"\n"
"Membership (SWIM + Lifeguard; every node knows who is alive):\n"
"  --advertise ADDR:PORT   the address other nodes reach this one at; required\n"
"                          when --listen is 0.0.0.0 or [::] (port 0 = the\n"
"                          bound port); default: the first specific --listen\n"
"  --peers-file PATH       HOST:PORT per line ('#' comments); joined at start\n"
"                          and re-read (checked every second) when it changes\n"
"  --status WORD           active (default), idle, processing, offline, ...\n"
"  --tag KEY=VALUE         metadata spread to all members; repeatable (max 32;\n"
"                          512 bytes encoded in all)\n"
"  --profile lan|wan       failure detection timings (default lan: fast)\n"
"  --max-peers N           members tracked, self included (default 4096);\n"
"                          beyond it new members are refused (member-refused)\n"
"  --probe-interval-ms N, --probe-timeout-ms N, --suspicion-mult N\n"
"                          override the profile's values\n"
"  --no-membership         sessions only: no membership traffic at all\n"
"\n"
"LAN beacons (off unless an interface is named; see docs/DISCOVERY.md):\n"
"  --beacon IFACE          announce this node on IFACE every ~1 s (signed,\n"
"                          broadcast + multicast) and join nodes heard there;\n"
"                          repeatable (max 8)\n"
"  --beacon-port N         UDP port of the beacons (default 7947)\n"
"  --beacon-family F       4 (IPv4 broadcast + 239.255.77.77), 6 (ff02::7765),\n"
"                          broadcast (IPv4 broadcast only) or all (default)\n"
"  --beacon-interval-ms N  beacon period (default 1000, jittered +-20%%)\n"
"\n"
"  --unreachable-ms N      declare a silent peer down after N ms (default 10000)\n"
"  --log-level LEVEL       error | warn | info (default) | debug\n"
"  --control PATH          control socket for the weft CLI, mode 0600\n"
"                          (default DATA_DIR/weftd.sock)\n"
"  -h, --help              this text\n"
"  -V, --version           print the version\n"
"\n"
"Logs one line per event on stderr -- a UTC timestamp, a level word, then\n"
"`word key=value ...` -- node, membership, peer-up, peer-down,\n"
"handshake-failed, message, sent, member-joined, member-updated,\n"
"member-suspect, member-alive, member-failed, member-left, member-rejoined,\n"
"member-refused, duplicate-name, wrong-network-key, beacon-join, peers-file,\n"
"reload, control-drop, control-busy, leaving, shutdown, stopped\n"
"(see docs/DAEMON.md).\n"
"SIGINT/SIGTERM: leave the membership (300 ms for it to spread), close all\n"
"sessions and exit 0; a second signal exits at once.  SIGHUP: re-read the\n"
"peers file and dial the --peer addresses that are down now (logged\n"
"`reload ...`); it does not stop the daemon.\n"
"The weft CLI talks to the control socket (mode 0600): weft --help.\n"
"Exit codes: 0 clean shutdown; 1 runtime failure (bind, I/O, the data\n"
"directory or control socket in use by another weftd); 2 bad usage or\n"
"configuration (a bad flag value, a key file missing, malformed, readable by\n"
"others or owned by another user, a data directory others may write, a\n"
"--beacon interface that does not exist).\n");
}
