/*
 * worker.h - starting a worker process and the loop it runs.
 */
#ifndef DLPOOL_FRAMEWORK_WORKER_H
#define DLPOOL_FRAMEWORK_WORKER_H

#include <sys/types.h>

#include "common.h"

/*
 * A worker's entry in the pool's scoreboard: a page of shared memory made
 * before any worker is forked.  The worker writes which task it is
 * running before the call and clears it after.  The parent reads it when
 * the worker is dead, so a lost worker's running task is known exactly,
 * and while it lives only for timeouts (busy, seq and start_ns, read with
 * acquire loads, a torn read costing one extra check) and to find which
 * worker runs a job's task when the job is destroyed: two stores per task
 * and no system call.
 */
typedef struct dlp__score {
    uint64_t index;    /* the task being run, when busy */
    uint32_t job;      /* its job */
    uint32_t busy;     /* DLP_SCORE_* */
    uint64_t seq;      /* tasks started by this worker, this one included */
    uint64_t start_ns; /* when it started (dlp__now_ns), for timeouts */
    char pad[32];      /* one cache line per worker */
} dlp__score;

/* What a worker is told at its start. */
typedef struct dlp__wopts {
    unsigned max_tasks;    /* leave cleanly after this many; 0: never */
    uint64_t memory_limit; /* RLIMIT_AS in bytes; 0: none */
} dlp__wopts;

enum { DLP_SCORE_IDLE = 0, DLP_SCORE_TASK = 1, DLP_SCORE_LOAD = 2 };

/*
 * Fork a worker.  On success *pid is the child and *fd the parent's end of
 * its channel (non-blocking, close-on-exec).  The child keeps only its
 * channel and stdio (standard input reads /dev/null, standard output goes
 * to standard error so that a plugin's printf cannot corrupt results),
 * leaves when the pool's end of the channel closes (at once if it is in a
 * task), and never returns into the caller's code.
 */
DLP_PRIV int dlp__worker_spawn(pid_t *pid, int *fd, dlp__score *score,
                               const dlp__wopts *opts, dlp_error *err);

/* The worker's loop on channel fd; exits the process when the channel
 * reaches EOF.  score may be NULL.  Exposed for tests. */
DLP_PRIV void dlp__worker_main(int fd, dlp__score *score,
                               const dlp__wopts *opts)
#if defined(__GNUC__)
    __attribute__((noreturn))
#endif
    ;

/* Where a child of the library (a worker, a process) has its channel:
 * this descriptor, or the highest the soft RLIMIT_NOFILE allows if that is
 * lower (dlp__channel_fd).  High, so that a plugin's descriptor mistakes
 * (closing 3, writing to a stale low descriptor) never reach it, yet below
 * 1024 so that no worker's descriptor table grows past a page or two.
 * tests/plugins/chanfd.h computes the same: change both together. */
#define DLP_CHANNEL_FD_MAX 1023
DLP_PRIV int dlp__channel_fd(void);

/* Set up a child the library forked, between fork and its own code: drop
 * the copied stdio buffers, its own process group, default signals (but a
 * SIGPIPE that only fails the write, and SIGTTOU, SIGTTIN and SIGTSTP
 * ignored) and an empty mask, stdin from /dev/null, stdout to stderr, chan
 * moved to dlp__channel_fd() close-on-exec, nothing else open; RLIMIT_AS
 * from opts (may be NULL).  Returns the channel's descriptor.  Exits at
 * once if the parent is already gone. */
DLP_PRIV int dlp__child_setup(int chan, pid_t parent, const dlp__wopts *opts);

/* Exit statuses of a worker that leaves on its own. */
#define DLP_WEXIT_PROTO 70 /* malformed frame from the parent */
#define DLP_WEXIT_NOMEM 71
#define DLP_WEXIT_IO 72
#define DLP_WEXIT_CHAN 73 /* plugin code closed or replaced the channel */

#endif
