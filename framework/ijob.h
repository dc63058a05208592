/*
 * ijob.h - internal jobs (ijob.c): the tasks of futures, and of an
 * agent's batches taken over after a loss.
 */
#ifndef DLPOOL_FRAMEWORK_IJOB_H
#define DLPOOL_FRAMEWORK_IJOB_H

#include "args.h"
#include "common.h"
#include "pool.h"

/* Make an internal job of function fn over pre (taken over, also on
 * failure) and start sending it: to every live worker once for pinned
 * (then pre has one task per live worker, see dlp__loop_live_slots).
 * flags are job flags (DLP_JOB_TIMES), chunksize the job option (0:
 * automatic); done, if not NULL, is called with ud (mu held) once the
 * last task has its result.  mu NOT held. */
DLP_PRIV int dlp__ijob_start(struct dlp_job **out, dlp_pool *p, int fn,
                               dlp__pre *pre, double timeout,
                               unsigned retries, int pinned, unsigned flags,
                               unsigned chunksize, void (*done)(void *ud),
                               void *ud, dlp_error *err);
/* Internal jobs: tasks in all (fixed when it is made: any time); done
 * so far and a view of result i (borrowed, valid while the job lives),
 * mu held. */
DLP_PRIV uint64_t dlp__ijob_total(const struct dlp_job *j);
DLP_PRIV uint64_t dlp__ijob_done(const struct dlp_job *j);
DLP_PRIV int dlp__ijob_view(struct dlp_job *j, uint64_t i, dlp_result *res);
/* Cancel an internal job none of whose tasks has started: 0, or -EBUSY
 * when one has (then nothing changes).  mu held. */
DLP_PRIV int dlp__ijob_cancel(struct dlp_job *j);
/* Fail every task of an internal job that has not finished.  mu held. */
DLP_PRIV void dlp__ijob_abort(struct dlp_job *j, dlp_fail_kind kind,
                             const char *why);
/* The first of the pool's internal jobs and the next after j (NULL at
 * the end), newest first; whether j was cancelled.  mu held. */
DLP_PRIV struct dlp_job *dlp__ijob_first(dlp_pool *p);
DLP_PRIV struct dlp_job *dlp__ijob_next(const struct dlp_job *j);
DLP_PRIV int dlp__ijob_cancelled(const struct dlp_job *j);
/* Whoever asked to be told of the job's end is going away: call done no
 * more.  mu held. */
DLP_PRIV void dlp__ijob_unwatch(struct dlp_job *j);

#endif
