/*
 * cmd_monitor.c -- `weft monitor`: the daemon's events as they happen,
 * one line each (or one JSON object per line with --json), until
 * interrupted.  Messages are shown with their payload: as text when every
 * byte is printable ASCII (tabs and line breaks escaped), else in base64.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define LINE_BYTES_MAX (4u << 20) /* a message line: 1 MiB payload in base64, and fields */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    interrupted = 1;
    (void)sig;
}

/* The value of key= in a monitor line (up to the next space). */
static const char *field(const char *line, const char *key, size_t *len)
{
    size_t kl = strlen(key);
    for (const char *p = line; (p = strstr(p, key)); p += kl)
        if ((p == line || p[-1] == ' ') && p[kl] == '=') {
            *len = strcspn(p + kl + 1, " ");
            return p + kl + 1;
        }
    *len = 0;
    return NULL;
}

static int printable(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((b[i] < 0x20 || b[i] > 0x7e) && b[i] != '\t' && b[i] != '\n' && b[i] != '\r')
            return 0;
    return 1;
}

/* Text on one line: quotes, backslashes and line breaks escaped. */
static void text_quoted(const uint8_t *b, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        if (b[i] == '"' || b[i] == '\\')
            printf("\\%c", b[i]);
        else if (b[i] == '\n')
            fputs("\\n", stdout);
        else if (b[i] == '\r')
            fputs("\\r", stdout);
        else if (b[i] == '\t')
            fputs("\\t", stdout);
        else
            putchar(b[i]);
    }
    putchar('"');
}

/*
 * A `message ... data=<base64>` line: cuts data= (it is last) off the line
 * and prints the fields, then the payload as text when every byte is
 * printable, else as base64 -- as key=value or, with json, as one object.
 */
static void print_message(char *line, int json)
{
    size_t dl;
    const char *data = field(line, "data", &dl);
    uint8_t *bin = malloc(dl + 1);
    size_t bl = 0;
    int text = data && bin &&
               sodium_base642bin(bin, dl + 1, data, dl, NULL, &bl, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) == 0 &&
               printable(bin, bl);
    char *end = data ? (char *)data - 5 : line + strlen(line);
    if (end > line && end[-1] == ' ')
        end--;
    *end = 0;
    if (!data)
        data = "";
    if (json) {
        json_word_line(stdout, "event", line, 0);
        fputs(text ? ",\"text\":" : ",\"base64\":", stdout);
        json_string(stdout, text ? (const char *)bin : data, text ? bl : dl);
        fputs("}\n", stdout);
    } else {
        fputs(line, stdout);
        if (text) {
            fputs(" text=", stdout);
            text_quoted(bin, bl);
        } else {
            printf(" base64=%.*s", (int)dl, data);
        }
        putchar('\n');
    }
    free(bin);
}

static void print_event(char *line, int json)
{
    if (!strncmp(line, "message ", 8)) {
        print_message(line, json);
    } else if (json) {
        json_word_line(stdout, "event", line, 1);
    } else {
        puts(line);
    }
}

int cmd_monitor(cli_args *a)
{
    if (a->npos)
        return cli_usage_error("monitor takes no arguments (see weft monitor --help)");
    uint32_t max = 65536;
    if (a->max_bytes) {
        char *end;
        unsigned long v = strtoul(a->max_bytes, &end, 10);
        if (end == a->max_bytes || *end || a->max_bytes[0] == '-' || v > (1u << 20))
            return cli_usage_error("--max-bytes wants 0..1048576, got '%s'", a->max_bytes);
        max = (uint32_t)v;
    }
    int rc = cli_find_socket(a);
    if (rc)
        return rc;
    int fd;
    if ((rc = cli_connect(a->socket, &fd, 0)) != 0)
        return rc;
    struct sigaction sa = {.sa_handler = on_interrupt}; /* no SA_RESTART: poll returns */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char req[64];
    int n = snprintf(req, sizeof req, "monitor max=%u\n", max);
    cli_send_all(fd, req, (size_t)n);

    size_t cap = 65536, len = 0;
    char *buf = malloc(cap + 1);
    int started = 0;
    rc = EXIT_NODAEMON;
    while (buf && !interrupted) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, started ? -1 : CLI_REPLY_TIMEOUT_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            fprintf(stderr, "weft: no answer from weftd at %s within %d ms\n", a->socket,
                    CLI_REPLY_TIMEOUT_MS);
            break;
        }
        if (len == cap) {
            if (cap >= LINE_BYTES_MAX) {
                fprintf(stderr, "weft: a monitor line over %u bytes\n", LINE_BYTES_MAX);
                break;
            }
            char *q = realloc(buf, cap * 2 + 1);
            if (!q)
                break;
            buf = q;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (!interrupted)
                fprintf(stderr, "weft: weftd at %s closed the monitor connection%s\n", a->socket,
                        started ? " (dropped as a slow reader, or gone)" : " without an answer");
            break;
        }
        len += (size_t)r;
        char *nl, *start = buf;
        int stop = 0;
        while (!stop && (nl = memchr(start, '\n', len - (size_t)(start - buf)))) {
            *nl = 0;
            if (!started) {
                if (!strncmp(start, "ok monitor", 10)) {
                    started = 1;
                } else {
                    fprintf(stderr, "weft: %s%s\n", !strncmp(start, "busy", 4) ? "weftd is " : "",
                            start);
                    rc = !strncmp(start, "error", 5) ? EXIT_FAIL : EXIT_NODAEMON;
                    stop = 1;
                }
            } else if (!strncmp(start, "end ", 4)) {
                fprintf(stderr, "weft: weftd stopped (%s)\n", start + 4);
                rc = EXIT_OK;
                stop = 1;
            } else if (*start) {
                print_event(start, a->json);
            }
            start = nl + 1;
        }
        if (stop)
            break;
        len -= (size_t)(start - buf);
        memmove(buf, start, len);
    }
    if (interrupted)
        rc = EXIT_OK;
    free(buf);
    close(fd);
    return rc;
}
