/*
 * cli.h -- the parts of the `weft` command shared by its files: parsed
 * arguments, exit codes, the control-socket client and the commands.
 *
 * main.c parses the command line into a cli_args and runs one command;
 * client.c talks to weftd (docs/DAEMON.md, "Control protocol"); each
 * cmd_*.c holds one group of commands.
 */
#ifndef WEFT_CLI_H
#define WEFT_CLI_H

#include <limits.h>
#include <stddef.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_NODAEMON = 3 };

typedef struct cli_args {
    const char *cmd;
    const char *control, *data_dir, *network_key; /* --control, --data-dir, --network-key */
    const char *priority, *kind;                  /* send */
    const char *pos[4];                           /* positional arguments */
    int npos;
    int raw;                                      /* members --raw */
    char socket[PATH_MAX];                        /* the control socket found */
} cli_args;

/* Prints "weft: <message>" and a pointer to the help; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Finds the daemon's control socket (--control, --data-dir, $WEFT_CONTROL)
 * into a->socket.  Returns 0 or EXIT_USAGE (printed). */
int cli_find_socket(cli_args *a);

/* Sends one request line and copies the response to stdout (error lines to
 * stderr), through fmt when given.  Returns an exit code. */
typedef void (*cli_reply_fn)(char *body);
int cli_request(const char *path, const char *line, cli_reply_fn fmt);

/* The commands; each returns an exit code. */
int cmd_keygen(cli_args *a);
int cmd_id(cli_args *a);
int cmd_peers(cli_args *a);
int cmd_stats(cli_args *a);
int cmd_members(cli_args *a);
int cmd_membership(cli_args *a);
int cmd_daemon_id(cli_args *a);
int cmd_send(cli_args *a);
int cmd_connect(cli_args *a);

#endif
