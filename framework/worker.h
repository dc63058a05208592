/*
 * worker.h - starting a worker process and the loop it runs.
 */
#ifndef DLPOOL_FRAMEWORK_WORKER_H
#define DLPOOL_FRAMEWORK_WORKER_H

#include <sys/types.h>

#include "common.h"

/*
 * Fork a worker.  On success *pid is the child and *fd the parent's end of
 * its channel (non-blocking, close-on-exec).  The child keeps only its
 * channel and stdio (standard input reads /dev/null, standard output goes
 * to standard error so that a plugin's printf cannot corrupt results), dies
 * with its parent, and never returns into the caller's code.
 */
DLP_PRIV int dlp__worker_spawn(pid_t *pid, int *fd, dlp_error *err);

/* The worker's loop on channel fd; exits the process when the channel
 * reaches EOF.  Exposed for tests. */
DLP_PRIV void dlp__worker_main(int fd)
#if defined(__GNUC__)
    __attribute__((noreturn))
#endif
    ;

/* Exit statuses of a worker that leaves on its own. */
#define DLP_WEXIT_PROTO 70 /* malformed frame from the parent */
#define DLP_WEXIT_NOMEM 71
#define DLP_WEXIT_IO 72

#endif
