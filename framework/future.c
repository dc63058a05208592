/*
 * future.c - futures (apply_async, map_async, broadcast), waiting on
 * them, completion callbacks, and the pool's join, terminate and
 * shutdown.
 *
 * A future is an internal job (ijob.c) whose tasks were encoded when it
 * was made.  Any thread that drives the pool feeds every internal job with
 * tasks left to send (the loop's pump hook), so a future makes progress
 * while any thread waits on the pool; results stay in the job's ring
 * until the future is destroyed.  When the last task of a future has its
 * result, the job calls the future's completion callback, which queues
 * the user's callback on the pool, and the next waiting thread runs it
 * with the lock released.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handle.h"
#include "ijob.h"
#include "loop.h"
#include "pool.h"
#include "supervise.h"
#include "val.h"

/* A callback being run, on the running thread's stack: until it returns,
 * its future is not done for other threads (the callback may still be
 * reading it), and join waits for it. */
struct dlp__cb_running {
    dlp_future *f;
    pthread_t thread;
    struct dlp__cb_running *next;
};

/*
 * Lifetime.  A callback may destroy its own future while other threads
 * wait on it, and the thread that runs the callback may itself be inside
 * a wait on it: each of them reads the future after the callback
 * returns.  So a future is freed by the last of its destroy and the uses
 * that hold it.  holds counts the threads inside a call on it (enter() to
 * leave()) and the one running its callback.  A hold is taken through
 * the registry of live handles (handle.h), atomically with the lookup, so
 * once dlp_future_destroy has dropped the handle no new hold can appear;
 * the destroy then detaches the future from its job and its queued
 * callback, sets destroyed, and frees it only if nobody holds it.
 * Otherwise the holder that drops the last hold frees it (future_free,
 * with mu released: freeing takes the lock).  A wait treats a destroyed
 * future as done.  holds is changed atomically (taken without mu), and
 * read with mu held; destroyed is (mu).
 */
struct dlp_future {
    dlp_pool *pool;
    struct dlp_job *job;
    dlp_future_cb cb;
    void *cb_ud;
    dlp__list cbq; /* in the pool's callback queue, or alone */
    int complete;
    unsigned holds;
    int destroyed;
};

DLP_API void dlp_call_options_init(dlp_call_options *opts)
{
    memset(opts, 0, sizeof *opts);
}

/* The future's job finished its last task (the job's done callback), mu
 * held.  Queue the callback; the waiters see it after the step. */
static void complete(void *ud)
{
    DLP_ASSERT_HELD(&((dlp_future *)ud)->pool->mu);
    dlp_future *f = ud;
    dlp_pool *p = f->pool;
    f->complete = 1;
    if (f->cb && dlp__list_empty(&f->cbq)) {
        dlp__list_push_tail(&p->cbq, &f->cbq);
    }
}

static void take_hold(void *f)
{
    __atomic_add_fetch(&((dlp_future *)f)->holds, 1, __ATOMIC_ACQ_REL);
}

/* Hold f if it is a live future: 1, else 0. */
static int enter(dlp_future *f)
{
    return dlp__handle_take(f, DLP__H_FUTURE, take_hold);
}

/* Drop a hold on f.  mu held.  Returns 1 when f was destroyed and this
 * was the last hold: the caller then frees it (future_free) once it has
 * released mu, and touches neither f nor its pool after. */
static int leave(dlp_future *f)
{
    DLP_ASSERT_HELD(&f->pool->mu);
    return __atomic_sub_fetch(&f->holds, 1, __ATOMIC_ACQ_REL) == 0 &&
           f->destroyed;
}

/* Free a future nothing holds.  mu NOT held.  This may free the pool too,
 * if it was destroyed with f open and f was its last. */
static void future_free(dlp_future *f)
{
    dlp_job_destroy(f->job);
    free(f);
}

/* Wake every thread waiting on the pool, the driver's poll included:
 * something completed outside the event loop. */
static void wake_all(dlp_pool *p)
{
    dlp__loop_wake(p);
    pthread_cond_broadcast(&p->cv);
}

/* Run the queued callbacks, one at a time, without the lock.  mu held on
 * entry and return.  The callback may destroy its future: the hold taken
 * here keeps it until the callback has returned.  Freeing it cannot free
 * the pool: whoever waits here holds the pool (a future of it that it
 * waits on, or the live pool it joins). */
static void run_callbacks(dlp_pool *p)
{
    DLP_ASSERT_HELD(&p->mu);
    while (!dlp__list_empty(&p->cbq)) {
        dlp_future *f = dlp__container_of(p->cbq.next, dlp_future, cbq);
        dlp_future_cb cb = f->cb;
        void *ud = f->cb_ud;
        struct dlp__cb_running me = {f, pthread_self(), p->cb_running};
        dlp__list_remove(&f->cbq);
        f->cb = NULL; /* once */
        p->cb_running = &me;
        take_hold(f);
        pthread_mutex_unlock(&p->mu);
        cb(f, ud);
        pthread_mutex_lock(&p->mu);
        for (struct dlp__cb_running **pp = &p->cb_running; *pp;
             pp = &(*pp)->next) {
            if (*pp == &me) {
                *pp = me.next;
                break;
            }
        }
        if (leave(f)) {
            pthread_mutex_unlock(&p->mu);
            future_free(f);
            pthread_mutex_lock(&p->mu);
        }
        /* Someone may wait for this callback to end (its future's waiters,
         * join), in the condition variable or driving the loop in poll. */
        wake_all(p);
    }
}

/* Is a callback of f (or, for NULL, any callback) running in another
 * thread?  A thread waiting inside a callback must not wait for itself. */
static int running_elsewhere(dlp_pool *p, const dlp_future *f)
{
    for (struct dlp__cb_running *r = p->cb_running; r; r = r->next)
        if ((!f || r->f == f) && !pthread_equal(r->thread, pthread_self()))
            return 1;
    return 0;
}

static void unqueue_callback(dlp_future *f)
{
    dlp__list_remove(&f->cbq);
}

/* With no worker left (the pool is broken, or terminated), nothing will
 * ever complete the futures: fail what they still wait for.  mu held. */
static void abort_if_dead(dlp_pool *p)
{
    DLP_ASSERT_HELD(&p->mu);
    if (dlp__loop_alive(p) > 0)
        return;
    for (struct dlp_job *j = dlp__ijob_first(p); j; j = dlp__ijob_next(j))
        dlp__ijob_abort(j,
                        p->terminated ? DLP_FAIL_CANCELLED : DLP_FAIL_WORKER,
                        p->terminated ? "the pool was terminated"
                        : p->last_loss[0]
                            ? p->last_loss
                            : "every worker of the pool is gone");
}

/*
 * Drive the pool until done(arg) is true: 0, -ETIMEDOUT, -EINTR.  Runs
 * callbacks as they come.  mu held.
 */
static int wait_for(dlp_pool *p, int (*done)(void *), void *arg,
                    uint64_t deadline)
{
    DLP_ASSERT_HELD(&p->mu);
    int polled = 0;
    for (;;) {
        run_callbacks(p);
        if (done(arg))
            return 0;
        if (__atomic_exchange_n(&p->interrupted, 0, __ATOMIC_ACQ_REL))
            return -EINTR;
        if (deadline && dlp__now_ns() >= deadline) {
            if (polled)
                return -ETIMEDOUT;
            /* Read what has arrived once before saying "not yet": a
             * timeout of 0 polls. */
            polled = 1;
            dlp__loop_drive_until(p, -1, 1);
            continue;
        }
        abort_if_dead(p);
        if (done(arg))
            continue; /* run the callbacks the abort queued */
        dlp__loop_drive_until(p, -1, deadline);
    }
}

/* Done for a waiter: complete and its callback run, or destroyed. */
static int future_done(void *arg)
{
    dlp_future *f = arg;
    return f->destroyed ||
           (f->complete && dlp__list_empty(&f->cbq) &&
            !running_elsewhere(f->pool, f));
}

static int make(dlp_future **out, dlp_pool *p, int fn,
                const dlp_val *const *args, size_t n, int pinned,
                const dlp_call_options *opts, const char *call,
                dlp_error *err)
{
    dlp_future *f;
    dlp__pre pre;
    dlp_sig sig;
    int rc;
    if (!out || !p || (n && !args))
        return dlp__err(err, DLP_EINVAL, "NULL argument");
    *out = NULL;
    if (!dlp__handle_live(p, DLP__H_POOL))
        return dlp__handle_bad(err, call, "pool");
    if (opts && (isnan(opts->timeout) || opts->timeout < 0))
        return dlp__err(err, DLP_EINVAL,
                        "%s: a task timeout of %g s: give seconds > 0, or 0 "
                        "for none",
                        call, opts->timeout);
    for (size_t i = 0; i < n; i++)
        if (!args[i])
            return dlp__err(err, DLP_EINVAL,
                            "argument list %zu is NULL (an empty list is "
                            "dlp_val_list())",
                            i);
    pthread_mutex_lock(&p->mu);
    if (p->closed) {
        pthread_mutex_unlock(&p->mu);
        return dlp__err(err, DLP_ECLOSED, "the pool is closed");
    }
    if (fn < 0 || (size_t)fn >= p->nfns || p->fns[fn]->state != DLP_FN_OK) {
        pthread_mutex_unlock(&p->mu);
        return dlp__err(err, DLP_EINVAL, "function id %d is not resolved",
                        fn);
    }
    sig = p->fns[fn]->sig;
    if (pinned) {
        n = dlp__loop_alive(p);
        if (n == 0) {
            pthread_mutex_unlock(&p->mu);
            return dlp__err(err, DLP_EWORKER,
                            "the pool has no live worker to broadcast to");
        }
    }
    pthread_mutex_unlock(&p->mu);
    if ((rc = dlp__pre_encode(&pre, &sig, args, n, pinned)))
        return dlp__err(err, rc, "out of memory encoding %zu calls", n);
    if (!(f = calloc(1, sizeof *f))) {
        dlp__pre_free(&pre);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    f->pool = p;
    dlp__list_init(&f->cbq);
    if (opts) {
        f->cb = opts->callback;
        f->cb_ud = opts->callback_ud;
    }
    rc = dlp__ijob_start(&f->job, p, fn, &pre, opts ? opts->timeout : 0,
                           opts ? opts->retries : 0, pinned, 0, 0, complete, f,
                           err);
    if (rc) {
        free(f);
        return rc;
    }
    if (dlp__handle_add(f, DLP__H_FUTURE)) {
        pthread_mutex_lock(&p->mu);
        dlp__ijob_unwatch(f->job);
        pthread_mutex_unlock(&p->mu);
        future_free(f);
        return dlp__err(err, -ENOMEM, "out of memory");
    }
    *out = f;
    return 0;
}

DLP_API int dlp_apply_async(dlp_future **out, dlp_pool *p, int fn,
                            const dlp_val *args,
                            const dlp_call_options *opts, dlp_error *err)
{
    if (!args)
        return dlp__err(err, DLP_EINVAL, "dlp_apply_async: NULL args (an "
                                         "empty list is dlp_val_list())");
    return make(out, p, fn, &args, 1, 0, opts, "dlp_apply_async", err);
}

DLP_API int dlp_map_async(dlp_future **out, dlp_pool *p, int fn,
                          const dlp_val *const *args, size_t n,
                          const dlp_call_options *opts, dlp_error *err)
{
    return make(out, p, fn, args, n, 0, opts, "dlp_map_async", err);
}

DLP_API int dlp_broadcast(dlp_future **out, dlp_pool *p, int fn,
                          const dlp_val *args, const dlp_call_options *opts,
                          dlp_error *err)
{
    if (!args)
        return dlp__err(err, DLP_EINVAL, "dlp_broadcast: NULL args");
    if (dlp__handle_live(p, DLP__H_POOL) && p->transport)
        return dlp__err(err, DLP_EINVAL,
                        "dlp_broadcast: the workers of an MPI pool are the "
                        "agents' (one task per agent is not one per "
                        "worker): broadcast on each agent's side instead");
    return make(out, p, fn, &args, 1, 1, opts, "dlp_broadcast", err);
}

/* The end of a call that entered f: drop the hold, release mu, and free
 * f if that was the last hold of a destroyed future. */
static void leave_unlock(dlp_future *f)
{
    dlp_pool *p = f->pool;
    int last = leave(f);
    pthread_mutex_unlock(&p->mu);
    if (last)
        future_free(f);
}

DLP_API int dlp_future_wait(dlp_future *f, double timeout)
{
    int rc;
    if (isnan(timeout) || !enter(f))
        return DLP_EINVAL;
    pthread_mutex_lock(&f->pool->mu);
    rc = wait_for(f->pool, future_done, f, dlp__loop_deadline(timeout));
    if (rc == 0 && !f->complete)
        rc = DLP_EINVAL; /* destroyed by another thread before it ended */
    leave_unlock(f);
    return rc;
}

DLP_API bool dlp_future_ready(dlp_future *f)
{
    bool done;
    if (!enter(f))
        return false;
    pthread_mutex_lock(&f->pool->mu);
    if (!f->complete) {
        dlp__loop_drive(f->pool, -1, 1); /* read what has arrived */
        abort_if_dead(f->pool);
    }
    done = f->complete != 0;
    leave_unlock(f);
    return done;
}

/* The first failed task of a complete future, or -1.  mu held. */
static long first_failure(dlp_future *f, dlp_result *res)
{
    DLP_ASSERT_HELD(&f->pool->mu);
    uint64_t n = dlp__ijob_total(f->job);
    for (uint64_t i = 0; i < n; i++)
        if (dlp__ijob_view(f->job, i, res) == 0 && res->fail)
            return (long)i;
    return -1;
}

DLP_API bool dlp_future_successful(dlp_future *f)
{
    dlp_result res;
    bool ok;
    if (!enter(f))
        return false;
    pthread_mutex_lock(&f->pool->mu);
    if (!f->complete) {
        dlp__loop_drive(f->pool, -1, 1);
        abort_if_dead(f->pool);
    }
    ok = f->complete && first_failure(f, &res) < 0;
    leave_unlock(f);
    return ok;
}

DLP_API size_t dlp_future_count(const dlp_future *f)
{
    return dlp__handle_live(f, DLP__H_FUTURE) ? (size_t)dlp__ijob_total(f->job)
                                              : 0;
}

DLP_API int dlp_future_result(dlp_future *f, size_t i, dlp_result *res)
{
    int rc;
    if (!res || !enter(f))
        return DLP_EINVAL;
    pthread_mutex_lock(&f->pool->mu);
    rc = dlp__ijob_view(f->job, i, res);
    leave_unlock(f);
    return rc;
}

/* The error of a failed task, for err. */
static int task_error(dlp_error *err, size_t i, const dlp_result *res)
{
    return dlp__err(err, DLP_ETASK, "task %zu failed (%s): %s", i,
                    dlp_fail_kind_name(res->fail), res->error);
}

DLP_API int dlp_future_get(dlp_future *f, double timeout, dlp_result *res,
                           dlp_error *err)
{
    long bad;
    int rc;
    if (!f || !res)
        return dlp__err(err, DLP_EINVAL, "dlp_future_get: NULL argument");
    if (isnan(timeout))
        return dlp__err(err, DLP_EINVAL,
                        "dlp_future_get: a timeout of NaN seconds");
    if (!enter(f))
        return dlp__handle_bad(err, "dlp_future_get", "future");
    pthread_mutex_lock(&f->pool->mu);
    rc = wait_for(f->pool, future_done, f, dlp__loop_deadline(timeout));
    if (rc)
        rc = dlp__err(err, rc, rc == -ETIMEDOUT ? "timed out" : "interrupted");
    else if (f->destroyed)
        /* Its results go with it: none can be lent. */
        rc = dlp__err(err, DLP_EINVAL,
                      "dlp_future_get: the future was destroyed while "
                      "waited on");
    else if ((bad = first_failure(f, res)) >= 0)
        rc = task_error(err, (size_t)bad, res);
    else if (dlp__ijob_total(f->job) == 0)
        rc = dlp__err(err, DLP_EINVAL, "the future has no task");
    else
        dlp__ijob_view(f->job, 0, res);
    leave_unlock(f);
    return rc;
}

DLP_API int dlp_future_cancel(dlp_future *f)
{
    int rc;
    if (!enter(f))
        return DLP_EINVAL;
    pthread_mutex_lock(&f->pool->mu);
    rc = f->complete && !dlp__ijob_cancelled(f->job) ? -EBUSY
                                                    : dlp__ijob_cancel(f->job);
    if (rc == 0)
        wake_all(f->pool); /* its waiters, and the driver's poll */
    leave_unlock(f);
    return rc;
}

DLP_API void dlp_future_destroy(dlp_future *f)
{
    dlp_pool *p;
    int now;
    /* A future destroyed already (or never made) is not touched: its
     * memory may be gone.  Once the handle is dropped, no call can take a
     * new hold on it. */
    if (!f || !dlp__handle_drop(f, DLP__H_FUTURE))
        return;
    p = f->pool;
    /* In one locked section: once the job forgets f, nothing can queue
     * its callback again. */
    pthread_mutex_lock(&p->mu);
    unqueue_callback(f);
    f->cb = NULL;
    dlp__ijob_unwatch(f->job);
    f->destroyed = 1;
    now = __atomic_load_n(&f->holds, __ATOMIC_ACQUIRE) == 0;
    if (!now)
        wake_all(p); /* its waiters: it is done for them now */
    pthread_mutex_unlock(&p->mu);
    if (now)
        future_free(f);
}

struct waitset {
    dlp_future *const *fs;
    size_t n;
    unsigned how;
    long hit;
};

static int waitset_done(void *arg)
{
    struct waitset *w = arg;
    size_t ndone = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (future_done(w->fs[i])) {
            if (w->how == DLP_WAIT_ANY) {
                w->hit = (long)i;
                return 1;
            }
            ndone++;
        }
    }
    if (ndone == w->n) {
        w->hit = 0;
        return 1;
    }
    return 0;
}

/* Drop the holds taken on fs[0..n) (mu held), release mu, and free the
 * futures whose last hold that was.  The same future twice in fs is held
 * twice, so only one leave can be its last. */
static void leave_all(dlp_pool *p, dlp_future *const *fs, size_t n)
{
    DLP_ASSERT_HELD(&p->mu);
    dlp__list dead;
    dlp__list_init(&dead);
    for (size_t i = 0; i < n; i++)
        if (leave(fs[i])) { /* destroyed: in no callback queue */
            dlp__list_remove(&fs[i]->cbq);
            dlp__list_push_tail(&dead, &fs[i]->cbq);
        }
    pthread_mutex_unlock(&p->mu);
    while (!dlp__list_empty(&dead)) {
        dlp_future *f = dlp__container_of(dead.next, dlp_future, cbq);
        dlp__list_remove(&f->cbq);
        future_free(f);
    }
}

DLP_API int dlp_wait(dlp_future *const *fs, size_t n, unsigned how,
                     double timeout)
{
    struct waitset w = {fs, n, how, -1};
    dlp_pool *p;
    size_t held;
    int rc = 0;
    if (!fs || n == 0 || how > DLP_WAIT_ALL || isnan(timeout))
        return DLP_EINVAL;
    for (held = 0; held < n; held++) {
        if (!enter(fs[held])) {
            rc = DLP_EINVAL; /* destroyed, or never made */
            break;
        }
        if (fs[held]->pool != fs[0]->pool) {
            held++; /* it is held: let it go below */
            rc = DLP_EINVAL;
            break;
        }
    }
    if (held == 0)
        return rc;
    p = fs[0]->pool;
    pthread_mutex_lock(&p->mu);
    if (!rc)
        rc = wait_for(p, waitset_done, &w, dlp__loop_deadline(timeout));
    leave_all(p, fs, held);
    return rc ? rc : (int)w.hit;
}

DLP_API dlp_val *dlp_result_value(const dlp_result *res)
{
    if (!res || res->fail)
        return NULL;
    switch (res->type) {
    case DLP_T_VOID:
        return dlp_val_null();
    case DLP_T_I8:
    case DLP_T_I16:
    case DLP_T_I32:
    case DLP_T_I64:
        return dlp_val_int(res->v.i);
    case DLP_T_U8:
    case DLP_T_U16:
    case DLP_T_U32:
    case DLP_T_U64:
        return dlp_val_uint(res->v.u);
    case DLP_T_F32:
    case DLP_T_F64:
        return dlp_val_float(res->v.f);
    case DLP_T_BOOL:
        return dlp_val_bool(res->v.b);
    case DLP_T_STR:
        return dlp_val_str(res->v.s.ptr, res->v.s.len);
    case DLP_T_VAL:
        return dlp_val_copy(res->v.val);
    default:
        return NULL;
    }
}

/* Take every result of a complete future as values into out[].  mu
 * held. */
static int take_values(dlp_future *f, dlp_val **out, dlp_error *err)
{
    size_t n = (size_t)dlp__ijob_total(f->job);
    dlp_result res;
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (dlp__ijob_view(f->job, i, &res) == 0 && res.fail) {
            for (size_t k = 0; k < i; k++) {
                dlp_val_free(out[k]);
                out[k] = NULL;
            }
            for (size_t k = i; k < n; k++)
                out[k] = NULL;
            return task_error(err, i, &res);
        }
        if (!(out[i] = dlp_result_value(&res))) {
            for (size_t k = 0; k < i; k++) {
                dlp_val_free(out[k]);
                out[k] = NULL;
            }
            return dlp__err(err, -ENOMEM, "out of memory");
        }
    }
    return 0;
}

static int call_and_wait(dlp_pool *p, int fn, const dlp_val *const *args,
                         size_t n, dlp_val **out, const char *call,
                         dlp_error *err)
{
    dlp_future *f;
    int rc;
    if (!out)
        return dlp__err(err, DLP_EINVAL, "NULL output");
    for (size_t i = 0; i < n; i++)
        out[i] = NULL;
    if ((rc = make(&f, p, fn, args, n, 0, NULL, call, err)))
        return rc;
    rc = dlp_future_wait(f, -1);
    if (rc) {
        rc = dlp__err(err, rc, "interrupted");
    } else {
        pthread_mutex_lock(&p->mu);
        rc = take_values(f, out, err);
        pthread_mutex_unlock(&p->mu);
    }
    dlp_future_destroy(f);
    return rc;
}

DLP_API int dlp_apply(dlp_pool *p, int fn, const dlp_val *args,
                      dlp_val **out, dlp_error *err)
{
    if (!args)
        return dlp__err(err, DLP_EINVAL, "dlp_apply: NULL args");
    return call_and_wait(p, fn, &args, 1, out, "dlp_apply", err);
}

DLP_API int dlp_map(dlp_pool *p, int fn, const dlp_val *const *args,
                    size_t n, dlp_val **out, dlp_error *err)
{
    return call_and_wait(p, fn, args, n, out, "dlp_map", err);
}

/* ---- join, terminate, shutdown ------------------------------------- */

static int all_futures_done(void *arg)
{
    dlp_pool *p = arg;
    if (!dlp__list_empty(&p->cbq) || running_elsewhere(p, NULL))
        return 0;
    for (struct dlp_job *j = dlp__ijob_first(p); j; j = dlp__ijob_next(j))
        if (dlp__ijob_done(j) < dlp__ijob_total(j))
            return 0;
    return 1;
}

DLP_API int dlp_pool_join(dlp_pool *p, double timeout, dlp_error *err)
{
    int rc;
    if (!p)
        return dlp__err(err, DLP_EINVAL, "dlp_pool_join: NULL pool");
    if (!dlp__handle_live(p, DLP__H_POOL))
        return dlp__handle_bad(err, "dlp_pool_join", "pool");
    if (isnan(timeout))
        return dlp__err(err, DLP_EINVAL,
                        "dlp_pool_join: a timeout of NaN seconds");
    pthread_mutex_lock(&p->mu);
    if (!p->closed) {
        pthread_mutex_unlock(&p->mu);
        return dlp__err(err, DLP_EINVAL,
                        "dlp_pool_join: close the pool first "
                        "(dlp_pool_close)");
    }
    if (p->open_jobs) {
        unsigned n = p->open_jobs;
        pthread_mutex_unlock(&p->mu);
        return dlp__err(err, -EBUSY,
                        "dlp_pool_join: %u job%s still open; destroy them "
                        "first",
                        n, n == 1 ? " is" : "s are");
    }
    rc = wait_for(p, all_futures_done, p, dlp__loop_deadline(timeout));
    if (rc) {
        pthread_mutex_unlock(&p->mu);
        return dlp__err(err, rc, rc == -ETIMEDOUT ? "timed out" : "interrupted");
    }
    if (!p->joined) {
        dlp__supervise_stop(p, 0);
        p->joined = 1;
    }
    pthread_mutex_unlock(&p->mu);
    return 0;
}

DLP_API void dlp_pool_terminate(dlp_pool *p)
{
    if (!dlp__handle_live(p, DLP__H_POOL))
        return;
    pthread_mutex_lock(&p->mu);
    dlp__pool_end(p, "the pool was terminated", 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

DLP_API int dlp_pool_shutdown(dlp_pool *p, bool cancel_futures,
                              dlp_error *err)
{
    if (!p)
        return dlp__err(err, DLP_EINVAL, "dlp_pool_shutdown: NULL pool");
    if (!dlp__handle_live(p, DLP__H_POOL))
        return dlp__handle_bad(err, "dlp_pool_shutdown", "pool");
    pthread_mutex_lock(&p->mu);
    p->closed = 1;
    if (cancel_futures) {
        for (struct dlp_job *j = dlp__ijob_first(p); j;
             j = dlp__ijob_next(j))
            dlp__ijob_cancel(j); /* -EBUSY for started ones: they run on */
        wake_all(p);
    }
    pthread_mutex_unlock(&p->mu);
    return dlp_pool_join(p, -1, err);
}
