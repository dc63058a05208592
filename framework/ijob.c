/*
 * ijob.c - internal jobs: the tasks of futures (and of an agent's
 * batches taken over after a loss), encoded when the job is made, fed by
 * whichever thread drives the pool (the loop's pump hook), their results
 * kept in the ring until the job is destroyed.  See DESIGN-NOTES.md,
 * "Futures: internal jobs".
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "batch.h"
#include "ijob.h"
#include "job.h"
#include "loop.h"
#include "pool.h"
#include "supervise.h"

/* The iterator of an internal job: copy task index's encoded arguments. */
static int pre_next(void *ud, uint64_t index, dlp_args *a)
{
    dlp_job *j = ud;
    const struct dlp__pre_task *t;
    if (index >= j->pre.n || j->cancelled)
        return 0;
    if (j->pre.bad && j->pre.bad[index])
        return dlp_args_fail(a, "%s", j->pre.bad[index]), 1;
    t = &j->pre.task[index];
    if (dlp__buf_put(a->b, j->pre.bytes.p + t->off, t->len))
        return dlp__args_bad(a, "out of memory"), 1;
    a->argi = j->sig.nargs;
    return 1;
}

/* Feed the internal jobs that have tasks to send (the loop's hook, after
 * each step).  mu held. */
static void pump(dlp_pool *p)
{
    DLP_ASSERT_HELD(&p->mu);
    dlp__list *n = dlp__list_next(&p->feedq, &p->feedq);
    while (n) {
        dlp_job *j = dlp__container_of(n, dlp_job, feed);
        if (!dlp__loop_pick(p, DLP_WORKER_DEPTH))
            return; /* every worker is full: nothing to do now */
        if (!j->cancelled && dlp__job_feed(j) < 0)
            dlp__ijob_abort(j, DLP_FAIL_RESULT, "out of memory sending it");
        /* Feeding may have queued other jobs (a lost worker's batches go
         * back to their jobs): they join at the tail, after j. */
        n = dlp__list_next(&p->feedq, n);
        if (j->cancelled || dlp__job_fed(j))
            dlp__job_feedq_remove(j);
    }
}

/* Fail every unfinished task of every internal job of p (dlp__pool_end,
 * through the hook).  mu held. */
static void abort_all(dlp_pool *p, dlp_fail_kind kind, const char *why)
{
    DLP_ASSERT_HELD(&p->mu);
    for (dlp_job *j = dlp__ijob_first(p); j; j = dlp__ijob_next(j))
        dlp__ijob_abort(j, kind, why);
}

static const dlp__jobs_hooks internal_jobs_hooks = {pump, abort_all};

int dlp__ijob_start(dlp_job **out, dlp_pool *p, int fn, dlp__pre *pre,
                      double timeout, unsigned retries, int pinned,
                      unsigned flags, unsigned chunksize,
                      void (*done)(void *ud), void *ud, dlp_error *err)
{
    dlp_job_options o;
    dlp_job *j;
    int rc;
    *out = NULL;
    if (pre->n > (1u << 24)) {
        dlp__pre_free(pre);
        return dlp__err(err, DLP_ETOOBIG,
                        "%zu tasks in one call: at most %u (use a job for "
                        "more)",
                        pre->n, 1u << 24);
    }
    dlp_job_options_init(&o);
    o.window = pre->n ? (unsigned)pre->n : 1;
    o.flags = flags & DLP_JOB_TIMES;
    o.chunksize = chunksize;
    o.timeout = timeout;
    o.retries = retries;
    if ((rc = dlp_job_create(&j, p, fn, pre_next, NULL, &o, err))) {
        dlp__pre_free(pre);
        return rc;
    }
    j->ud = j;
    j->pre = *pre;
    memset(pre, 0, sizeof *pre);
    j->done = done;
    j->done_ud = ud;
    pthread_mutex_lock(&p->mu);
    p->jobs = &internal_jobs_hooks;
    p->open_jobs--; /* dlp_job_create counted it as the caller's */
    j->internal = 1;
    dlp__list_push_head(&p->internal_jobs, &j->all);
    if (j->pre.n == 0) {
        j->iter_done = 1;
        if (done)
            done(ud);
    } else if (pinned) {
        unsigned *slots = malloc(p->nworkers * sizeof *slots);
        unsigned nlive = slots ? dlp__loop_live_slots(p, slots) : 0;
        j->pinned = 1;
        /* One task per live worker, each in its own batch sent to it,
         * whatever it holds already. */
        for (uint64_t i = 0; i < j->pre.n; i++) {
            rslot *s = &j->ring[i & j->mask];
            if (i >= nlive || p->w[slots[i]].fd < 0 || dlp__job_pull(j, 1) ||
                !j->fill || j->next_in != i + 1) {
                /* The worker left since the call counted them (or no
                 * memory): this task has nowhere to run. */
                if (j->next_in == i) {
                    s->index = i;
                    s->state = SLOT_PENDING;
                    j->next_in++;
                }
                if (s->state == SLOT_PENDING)
                    dlp__job_task_lost(j, i, DLP_FAIL_WORKER, 0,
                                  "no live worker to run it", 0);
            }
            if (s->state == SLOT_BAD)
                dlp__job_slot_done(j, s);
            if (j->fill && j->fill->count) {
                dlp__batch *b = j->fill;
                j->fill = NULL;
                dlp__batch_frame_set_count(b->frame.p, b->count);
                dlp__frame_end(&b->frame, 0);
                dlp__loop_send(p, &p->w[slots[i]], b);
            }
        }
        j->iter_done = 1;
        free(slots);
    } else {
        dlp__job_feedq_add(j);
        pump(p);
    }
    pthread_mutex_unlock(&p->mu);
    *out = j;
    return 0;
}

uint64_t dlp__ijob_total(const dlp_job *j)
{
    return j->pre.n;
}

uint64_t dlp__ijob_done(const dlp_job *j)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    return j->ndone;
}

int dlp__ijob_view(dlp_job *j, uint64_t i, dlp_result *res)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    rslot *s;
    if (i >= j->pre.n)
        return DLP_EINVAL;
    s = &j->ring[i & j->mask];
    if (s->state != SLOT_DONE || s->index != i)
        return -EAGAIN;
    dlp__job_slot_view(j, s, res);
    return 0;
}

/* Fail every task of j that is not done yet, and drop its unsent work. */
static void fail_rest(dlp_job *j, dlp_fail_kind kind, const char *why)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    dlp__supervise_withdraw(j->pool, j);
    while (j->redo) {
        dlp__batch *b = j->redo;
        j->redo = b->next;
        dlp__batch_free(b);
    }
    j->redo_tail = NULL;
    dlp__batch_free(j->fill);
    j->fill = NULL;
    dlp__job_feedq_remove(j);
    for (uint64_t i = 0; i < j->pre.n; i++) {
        rslot *s = &j->ring[i & j->mask];
        if (i >= j->next_in) {
            s->index = i;
            s->state = SLOT_PENDING;
        }
        if (s->state == SLOT_PENDING) {
            dlp__job_slot_fail(s, kind, why, strlen(why));
            dlp__job_slot_done(j, s);
        } else if (s->state == SLOT_BAD) {
            dlp__job_slot_done(j, s);
        }
    }
    j->next_in = j->pre.n;
    j->iter_done = 1;
}

int dlp__ijob_cancel(dlp_job *j)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    if (j->ndone == j->pre.n && j->cancelled)
        return 0;
    if (j->ndone > 0 || j->redo || dlp__supervise_sent(j->pool, j))
        return -EBUSY; /* (a batch to send again was sent once) */
    j->cancelled = 1;
    fail_rest(j, DLP_FAIL_CANCELLED, "cancelled before it started");
    return 0;
}

void dlp__ijob_abort(dlp_job *j, dlp_fail_kind kind, const char *why)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    if (j->ndone < j->pre.n)
        fail_rest(j, kind, why);
}

void dlp__ijob_unwatch(struct dlp_job *j)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    j->done = NULL;
}

struct dlp_job *dlp__ijob_first(dlp_pool *p)
{
    DLP_ASSERT_HELD(&p->mu);
    dlp__list *n = dlp__list_next(&p->internal_jobs, &p->internal_jobs);
    return n ? dlp__container_of(n, dlp_job, all) : NULL;
}

struct dlp_job *dlp__ijob_next(const struct dlp_job *j)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    dlp__list *n = dlp__list_next(&j->pool->internal_jobs, &j->all);
    return n ? dlp__container_of(n, dlp_job, all) : NULL;
}

int dlp__ijob_cancelled(const struct dlp_job *j)
{
    DLP_ASSERT_HELD(&j->pool->mu);
    return j->cancelled;
}
