/*
 * control.h -- the unix-socket control protocol of weftd (docs/DAEMON.md,
 * "Control protocol").  It turns request lines into calls of the service
 * (service.h) and the results into response lines; it never calls the
 * engine itself.
 */
#ifndef WEFTD_CONTROL_H
#define WEFTD_CONTROL_H

#include <uv.h>

#include "service.h"

typedef struct control control;

/* Binds path (mode 0600) and serves it.  A leftover socket of a dead
 * daemon is replaced; a live one is an error.  Returns 0, or an exit code
 * after printing why: 1 (in use, bind failed), 2 (path is not a socket). */
int control_start(control **out, uv_loop_t *loop, service *svc, const char *path);

/* Stops listening, drops every connection and removes the socket file;
 * the memory goes once libuv has closed the handles. */
void control_close(control *c);

#endif
