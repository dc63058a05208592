/*
 * supervise.h - the worker table's supervisor (supervise.c).
 */
#ifndef DLPOOL_FRAMEWORK_SUPERVISE_H
#define DLPOOL_FRAMEWORK_SUPERVISE_H

#include "pool.h"

/* How long a worker whose channel closed may take to exit before it is
 * killed (a pool's end), and how long a worker that closed its channel
 * may take to die (a loss). */
#define DLP_EXIT_GRACE_MS 500
#define DLP_LOST_GRACE_MS 200

/* Start a worker in slot w and queue every function resolved so far and
 * the initializer's call on it.  A link is not started: it is given its
 * channel when the pool is made.  mu held, or the pool not yet shared. */
DLP_PRIV int dlp__supervise_start(dlp_pool *p, dlp__worker *w,
                                  dlp_error *err);
/* Worker w's channel ended or failed (why: NULL, or what was wrong):
 * reap it, blame or hand back what it held, count the loss, replace it.
 * The pool's lost hook.  mu held. */
DLP_PRIV void dlp__supervise_lost(dlp_pool *p, dlp__worker *w,
                                  const char *why);
/* Resolve opts' initializer, encode its arguments, send its call to every
 * worker and wait for all of them to answer.  mu NOT held. */
DLP_PRIV int dlp__supervise_initializer(dlp_pool *p,
                                        const dlp_pool_options *opts,
                                        dlp_error *err);
/* Close every channel and reap every worker (killing them first with
 * kill_now, else after a grace period); no worker is replaced after it.
 * Waits for the driving thread to step aside.  mu held. */
DLP_PRIV void dlp__supervise_stop(dlp_pool *p, int kill_now);
/* The supervisor's side for a batch owner going away (a job destroyed or
 * failed), mu held.  withdraw: take owner's batches out of every worker's
 * queue (the unsent ones are freed, the sent ones orphaned: their
 * results are dropped).  stop_job: stop every worker running a task of
 * job id (killed as for a timeout, so nothing is charged; a link is shut
 * down), to be replaced.  sent: whether a batch of owner has been written
 * to a worker, even in part. */
DLP_PRIV void dlp__supervise_withdraw(dlp_pool *p, const void *owner);
DLP_PRIV void dlp__supervise_stop_job(dlp_pool *p, uint32_t job_id);
DLP_PRIV int dlp__supervise_sent(dlp_pool *p, const void *owner);

#endif
