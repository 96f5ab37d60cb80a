/*
 * log.h -- weftd's log: one line per event on stderr, a UTC timestamp, a
 * level word and `word key=value ...`.
 *
 * The log is process-wide state (like syslog): a level and a format set
 * once at start by main.c, then written to by every part of the daemon.
 * It is the only state shared across files besides the service object.
 * docs/DAEMON.md lists every line.
 */
#ifndef WEFTD_LOG_H
#define WEFTD_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Parses "error", "warn", "info", "debug"; -1 for anything else. */
int log_level_parse(const char *s);
void log_setup(int level);
/* 1 when lines of this level are written. */
int log_enabled(int level);
/* Writes one line (the body, without the newline) and flushes it. */
void log_line(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
