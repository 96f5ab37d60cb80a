/*
 * log.c -- weftd's log lines (log.h).  One line per event on stdout,
 * flushed at once so a process watching the log sees each event as it
 * happens.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static int level_max = LOG_INFO;

int log_level_parse(const char *s)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
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
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}
