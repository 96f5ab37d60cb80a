/*
 * log.c -- weftd's log lines (log.h).
 *
 * One line per event on stderr, written with a single write(2) so lines
 * of concurrent writers do not interleave and a process following the log
 * sees each event as it happens:
 *
 *     2025-06-01T12:00:00.123Z info peer-up id=... addr=...
 *
 * an ISO-8601 UTC timestamp with milliseconds, a level word (error, warn,
 * info, debug), then the body in `word key=value ...` form, so
 * `grep 'peer-up id=...'` works on the file as it is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LINE_MAX_BYTES 8192 /* longer bodies are cut and marked */

static const char *names[] = {"error", "warn", "info", "debug"};
static int level_max = LOG_INFO;

int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, names[i]))
            return i;
    return -1;
}

void log_setup(int level) { level_max = level; }

int log_enabled(int level) { return level <= level_max; }

void log_line(int level, const char *fmt, ...)
{
    if (level > level_max)
        return;
    char line[LINE_MAX_BYTES];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(line + n, sizeof line - n, ".%03ldZ %s ", ts.tv_nsec / 1000000L,
                          names[level < 0 ? 0 : level > 3 ? 3 : level]);
    va_list ap;
    va_start(ap, fmt);
    int b = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (b < 0)
        return;
    if ((size_t)b >= sizeof line - n - 1) {
        static const char cut[] = " ...(cut)";
        n = sizeof line - 1 - sizeof cut;
        memcpy(line + n, cut, sizeof cut - 1);
        n += sizeof cut - 1;
    } else {
        n += (size_t)b;
    }
    line[n++] = '\n';
    for (size_t off = 0; off < n;) {
        ssize_t w = write(STDERR_FILENO, line + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to say so */
        off += (size_t)w;
    }
}
