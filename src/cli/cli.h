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
#include <stdint.h>
#include <stdio.h>

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_NODAEMON = 3 };

typedef struct cli_args {
    const char *cmd;
    const char *control, *data_dir, *network_key; /* --control, --data-dir, --network-key */
    const char *priority, *kind;                  /* send */
    const char *pos[4];                           /* positional arguments */
    int npos;
    int raw;                                      /* members --raw */
    int json;                                     /* --json: one JSON document */
    int create;                                   /* id --create */
    const char *wait;                             /* status --wait SECONDS */
    int wait_flag;                                /* send --wait */
    const char *timeout;                          /* connect, send --timeout SECONDS */
    const char *max_bytes;                        /* monitor --max-bytes N */
    char socket[PATH_MAX];                        /* the control socket found */
} cli_args;

/* Prints "weft: <message>" and a pointer to the help; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Finds the daemon's control socket (--control, --data-dir, $WEFT_CONTROL)
 * into a->socket.  Returns 0 or EXIT_USAGE (printed). */
int cli_find_socket(cli_args *a);

#define CLI_REPLY_TIMEOUT_MS 10000 /* a daemon answers within this */

/* CLOCK_MONOTONIC in milliseconds. */
int64_t cli_now_ms(void);

/* Connects to the control socket at path.  Returns 0 with *fd, EXIT_USAGE
 * (path is a directory or not a socket) or EXIT_NODAEMON, after printing
 * why (unless quiet, for EXIT_NODAEMON). */
int cli_connect(const char *path, int *fd, int quiet);

/* Writes all n bytes (MSG_NOSIGNAL).  0 or -1. */
int cli_send_all(int fd, const void *p, size_t n);

/* Called with a successful response (lines, without the final empty
 * line); prints it and returns an exit code. */
typedef int (*cli_reply_fn)(char *body);

/* Sends one request line (and len bytes of body), waits up to timeout_ms
 * for the response and prints it -- through fmt when given, error lines
 * to stderr.  Returns an exit code: 0, EXIT_FAIL (the daemon answered
 * `error ...`), EXIT_USAGE, EXIT_NODAEMON (not reachable, busy, or no
 * answer in time). */
int cli_request_body(const char *path, const char *line, const void *body, size_t len,
                     int timeout_ms, cli_reply_fn fmt);
int cli_request(const char *path, const char *line, cli_reply_fn fmt);

/* output.c: --json.  json_object prints `key=value` lines (or tokens) as
 * one object, json_records the `WORD key=value ...` lines as an array of
 * objects, json_word_line one `word key=value ...` line as an object with
 * key: word (closed with "}\n" when close); json_fields the members of an
 * object (first: no leading comma).  json_string escapes n bytes. */
void json_string(FILE *f, const char *s, size_t n);
int json_fields(FILE *f, const char *s, int first);
int json_object(char *body);
int json_records(char *body, const char *word);
void json_word_line(FILE *f, const char *key, const char *line, int close);

/* Parses SECONDS (0..3600, decimals allowed) into milliseconds; -1 when
 * bad. */
int cli_parse_seconds(const char *s);

/* The commands; each returns an exit code. */
int cmd_keygen(cli_args *a);
int cmd_id(cli_args *a);
int cmd_peers(cli_args *a);
int cmd_stats(cli_args *a);
int cmd_members(cli_args *a);
int cmd_membership(cli_args *a);
int cmd_daemon_id(cli_args *a);
int cmd_status(cli_args *a);
int cmd_send(cli_args *a);
int cmd_connect(cli_args *a);
int cmd_monitor(cli_args *a);

#endif
