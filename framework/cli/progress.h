/*
 * progress.h - part of the dlpool command (framework/cli/main.c): the
 * progress line of `dlpool run --progress`.
 *
 * One line on standard error, redrawn in place ("\r", then clear to the
 * end of the line) at most ten times a second: tasks done, tasks failed,
 * the rate, and, when the size of the work is known without reading ahead,
 * the percentage done and an estimate of the time left.  It is erased
 * before anything else is written on standard error and at the end.
 *
 * The redraws are paced by an interval timer (SIGALRM), not by reading the
 * clock for every result: a result costs two counter stores and a flag
 * test.  Each tick also calls the wake function given to progress_start
 * (dlp_pool_interrupt), so that a run whose results are slow still has
 * its line redrawn: the caller's dlp_job_next then returns -EINTR with no
 * signal caught, and the caller calls progress_tick and waits again.
 *
 * There is one progress line per process; the functions act on it.
 */
#ifndef DLPOOL_CLI_PROGRESS_H
#define DLPOOL_CLI_PROGRESS_H

#include <stdint.h>

#include "dlpool.h"

/* Where the reader of a file input is. */
typedef struct progress_pos {
    uint64_t bytes; /* bytes of the input handed out as tasks so far */
    int complete;   /* the input has been read to its end */
} progress_pos;

typedef void (*progress_where_fn)(void *ud, progress_pos *pos);

/* What the run knows about its size before it starts.  tasks: the number
 * of tasks, when known (arguments given on the command line), else 0.
 * bytes: the size of a regular file input from where reading starts, else
 * 0; where() then says how far the reader has got.  job gives the number
 * of tasks read so far. */
typedef struct progress_size {
    uint64_t tasks;
    uint64_t bytes;
    progress_where_fn where;
    void *where_ud;
    dlp_job *job;
} progress_size;

/*
 * Start drawing on descriptor fd (standard error) for a run of the given
 * size.  flush_output (NULL when standard output is not the same
 * terminal): standard output is a terminal too, so the line is erased
 * before results are written (progress_before_output), and before it is
 * drawn again the results so far are written out with flush_output.
 * wake is called from the timer's signal handler and must be
 * async-signal-safe.  Returns 0, or -errno when the timer cannot be set
 * (nothing is drawn then).
 */
int progress_start(int fd, const progress_size *size,
                   void (*flush_output)(void), void (*wake)(void));

/* Before a result is written on standard output. */
void progress_before_output(void);

/* After a result is written: the totals so far. */
void progress_update(uint64_t done, uint64_t failed);

/* The caller's wait was cut short by a tick: redraw if one is due.
 * Returns 1 if progress is running (the caller should wait again), 0 if
 * not (the interruption came from elsewhere). */
int progress_tick(void);

/* Erase the line if it is drawn, before other text on standard error; it
 * is drawn again at the next tick. */
void progress_erase(void);

/* Stop the timer and erase the line.  Safe to call when not started, and
 * more than once. */
void progress_end(void);

#endif
