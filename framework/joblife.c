/*
 * joblife.c - a job's life: made (its window and batch sizes chosen
 * from its options and the pool), counted, and destroyed (its work taken
 * off the workers, a task still running stopped).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "batch.h"
#include "handle.h"
#include "job.h"
#include "pool.h"
#include "supervise.h"
#include "val.h"

static size_t pow2_at_least(size_t n)
{
    size_t w = 1;
    while (w < n)
        w <<= 1;
    return w;
}

DLP_API void dlp_job_options_init(dlp_job_options *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->wait_fd = -1;
}

static void job_free(dlp_job *j);

/* Free a job that dlp_job_create could not finish making. */
static void job_free_early(dlp_job *j)
{
    free(j->times);
    free(j->doneq);
    free(j->ring);
    free(j);
}

DLP_API int dlp_job_create(dlp_job **out, dlp_pool *p, int fn,
                           dlp_iter_fn next, void *ud,
                           const dlp_job_options *opts, dlp_error *err)
{
    dlp_job *j;
    size_t w;
    if (!out || !p || !next)
        return dlp__err(err, DLP_EINVAL, "dlp_job_create: NULL argument");
    *out = NULL;
    if (!dlp__handle_live(p, DLP__H_POOL))
        return dlp__handle_bad(err, "dlp_job_create", "pool");
    if (opts && (isnan(opts->timeout) || opts->timeout < 0))
        return dlp__err(err, DLP_EINVAL,
                        "a task timeout of %g s: give seconds > 0, or 0 for "
                        "none",
                        opts->timeout);
    j = calloc(1, sizeof *j);
    if (!j)
        return dlp__err(err, -ENOMEM, "out of memory");
    w = pow2_at_least(opts && opts->window ? opts->window
                                           : DLP_WINDOW_DEFAULT);
    if (w > (1u << 24)) {
        free(j);
        return dlp__err(err, DLP_EINVAL, "window of %u tasks is too large",
                        opts->window);
    }
    j->ring = calloc(w, sizeof *j->ring);
    j->flags = opts ? opts->flags : 0;
    j->wait_fd = opts && (opts->flags & DLP_JOB_WAIT_FD) ? opts->wait_fd : -1;
    /* Past 10^9 s (31 years) a timeout is none: its nanoseconds would not
     * fit. */
    j->timeout_ns = opts && opts->timeout > 0 && opts->timeout <= 1e9
                        ? (uint64_t)(opts->timeout * 1e9 + 0.5)
                        : 0;
    if (j->timeout_ns && j->timeout_ns < 1000000)
        j->timeout_ns = 1000000; /* the event loop's resolution: 1 ms */
    j->retries = opts ? opts->retries : 0;
    if (j->ring && (j->flags & DLP_JOB_UNORDERED))
        j->doneq = malloc(w * sizeof *j->doneq);
    if (j->ring && (j->flags & DLP_JOB_TIMES))
        j->times = calloc(w, sizeof *j->times);
    if (!j->ring || ((j->flags & DLP_JOB_UNORDERED) && !j->doneq) ||
        ((j->flags & DLP_JOB_TIMES) && !j->times)) {
        job_free_early(j);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    j->mask = w - 1;
    j->limit = opts && opts->window ? opts->window : w;
    j->chunksize = opts ? opts->chunksize : 0;
    j->pool = p;
    j->fn = fn;
    j->next = next;
    j->ud = ud;
    j->target = 1;
    j->target_ns = p->nworkers && p->w[0].link ? DLP_LINK_BATCH_TARGET_NS
                                               : DLP_BATCH_TARGET_NS;

    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        pthread_mutex_unlock(&p->mu);
        job_free_early(j);
        return dlp__err(err, DLP_ECLOSED, "the pool is closed");
    }
    if (fn < 0 || (size_t)fn >= p->nfns || p->fns[fn]->state != DLP_FN_OK) {
        pthread_mutex_unlock(&p->mu);
        job_free_early(j);
        return dlp__err(err, DLP_EINVAL, "function id %d is not resolved",
                        fn);
    }
    if (p->fns[fn]->sig.nargs == 1 && p->fns[fn]->sig.args[0] == DLP_T_CHAN) {
        pthread_mutex_unlock(&p->mu);
        job_free_early(j);
        return dlp__err(err, DLP_EINVAL,
                        "'%s' is a process function (i32(chan)): start it "
                        "with dlp_process_start, it cannot run as tasks",
                        p->fns[fn]->ref);
    }
    j->sig = p->fns[fn]->sig;
    j->id = p->next_job++;
    p->open_jobs++;
    {
        size_t mb = w / (DLP_WORKER_DEPTH * p->nworkers + 2);
        size_t most = p->nworkers && p->w[0].link ? DLP_LINK_BATCH_MAX
                                                  : DLP_BATCH_MAX;
        j->max_batch = (uint32_t)(mb < 1 ? 1 : mb > most ? most : mb);
    }
    if (j->chunksize) {
        /* The caller's choice, within what the window can hold. */
        j->target = j->max_batch = j->chunksize < j->limit
                                       ? j->chunksize
                                       : (uint32_t)j->limit;
    }
    pthread_mutex_unlock(&p->mu);
    if (dlp__handle_add(j, DLP__H_JOB)) {
        job_free(j);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    *out = j;
    return 0;
}

DLP_API void dlp_job_counts_get(const dlp_job *j, dlp_job_counts *out)
{
    dlp_pool *p;
    if (!out)
        return;
    if (!dlp__handle_live(j, DLP__H_JOB)) {
        out->pulled = out->delivered = 0;
        return;
    }
    p = j->pool;
    pthread_mutex_lock(&p->mu);
    out->pulled = j->next_in;
    out->delivered = j->delivered;
    pthread_mutex_unlock(&p->mu);
}

DLP_API const char *dlp_fail_kind_name(dlp_fail_kind kind)
{
    switch (kind) {
    case DLP_FAIL_NONE:
        return "ok";
    case DLP_FAIL_PLUGIN:
        return "plugin";
    case DLP_FAIL_INPUT:
        return "input";
    case DLP_FAIL_SIGNAL:
        return "signal";
    case DLP_FAIL_EXIT:
        return "exit";
    case DLP_FAIL_RESULT:
        return "result";
    case DLP_FAIL_WORKER:
        return "worker";
    case DLP_FAIL_TIMEOUT:
        return "timeout";
    case DLP_FAIL_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

/* Free job j.  When its pool was destroyed while it was open and it was
 * the pool's last job, the pool goes too. */
static void job_free(dlp_job *j)
{
    dlp_pool *p = j->pool;
    int last;
    pthread_mutex_lock(&p->mu);
    if (j->internal) {
        dlp__job_feedq_remove(j);
        dlp__list_remove(&j->all);
    } else {
        p->open_jobs--;
    }
    dlp__supervise_withdraw(p, j);
    /* A task of this job still running would hold its worker for nobody:
     * stop it. */
    dlp__supervise_stop_job(p, j->id);
    last = p->destroyed && !p->open_jobs && dlp__list_empty(&p->internal_jobs);
    pthread_mutex_unlock(&p->mu);
    while (j->redo) {
        dlp__batch *b = j->redo;
        j->redo = b->next;
        dlp__batch_free(b);
    }
    dlp__batch_free(j->fill);
    /* Only the slots of the last ring's worth of tasks pulled can hold
     * anything: visiting all of a large window would fault in pages the
     * job never used (10 ms for the default 65,536 slots). */
    {
        uint64_t used = j->next_in < j->mask + 1 ? j->next_in : j->mask + 1;
        for (uint64_t i = j->next_in - used; i < j->next_in; i++)
            dlp__job_slot_clear(j, &j->ring[i & j->mask]);
    }
    free(j->ring);
    free(j->doneq);
    free(j->times);
    for (unsigned k = 0; k < DLP_SPARES; k++)
        free(j->spare[k]);
    free(j->held);
    dlp_val_free(j->held_val);
    dlp__pre_free(&j->pre);
    free(j);
    if (last)
        dlp__pool_free(p);
}

DLP_API void dlp_job_destroy(dlp_job *j)
{
    /* A job destroyed already (or never made) is not touched. */
    if (!j || !dlp__handle_drop(j, DLP__H_JOB))
        return;
    job_free(j);
}

