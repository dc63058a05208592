/*
 * check_lifecycle.c - futures and the pool's lifecycle under concurrency:
 * when a waiter may count a future as done while its callback runs, who
 * wakes a waiter when another thread completes its future, terminate
 * while a job's reader drives the loop, next(timeout) with a paused
 * iterator, the feed queue of futures, broadcasts with retries, and an
 * initializer that fails in a replacement worker.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dlpool/plugin.h>

#include "pool.h"
#include "testutil.h"

/* ---- the program's own functions, with a manifest ------------------- */

/* Workers are forks of this program, so a change made here before a
 * worker is forked is what that worker sees: set after the pool starts,
 * it reaches only replacement workers. */
static volatile int own_init_refuses;

static void own_init(void)
{
    if (own_init_refuses)
        dlp_fail("the initializer refuses in a replacement worker");
}

/* Sleep v milliseconds and return v; a negative v crashes the worker. */
static int64_t own_task(int64_t v)
{
    struct timespec ts;
    if (v < 0)
        raise(SIGSEGV);
    ts.tv_sec = (time_t)(v / 1000);
    ts.tv_nsec = (long)(v % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
    return v;
}

DLP_PLUGIN("check_lifecycle",
           DLP_FN(own_init, "void()"),
           DLP_FN(own_task, "i64(i64)"));

/* ---- fixtures -------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

/* Join thread t within seconds; 0 when it ended, ETIMEDOUT when not. */
static int join_within(pthread_t t, int seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    return pthread_timedjoin_np(t, NULL, &ts);
}

/* A callback that holds its thread until the test releases it. */
typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int started, released, finished;
} gate;

#define GATE_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0}

static void wait_flag(gate *g, const int *flag, int seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    pthread_mutex_lock(&g->mu);
    while (!*flag && pthread_cond_timedwait(&g->cv, &g->mu, &ts) == 0) {
    }
    pthread_mutex_unlock(&g->mu);
}

static void gated_callback(dlp_future *f, void *ud)
{
    gate *g = ud;
    (void)f;
    pthread_mutex_lock(&g->mu);
    g->started = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    wait_flag(g, &g->released, 20);
    pthread_mutex_lock(&g->mu);
    g->finished = 1;
    pthread_mutex_unlock(&g->mu);
}

static void release(gate *g)
{
    pthread_mutex_lock(&g->mu);
    g->released = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void *wait_future(void *arg)
{
    dlp_future_wait(arg, -1);
    return NULL;
}

/* ---- callbacks -------------------------------------------------------- */

START_TEST(test_wait_during_callback)
{
    /* "A future counts as done for its waiters only once its callback
     * has run": a second waiter must not see it done while another
     * thread is still inside the callback (it could destroy the future
     * under the callback). */
    dlp_pool *p = tu_pool_start(1);
    gate g = GATE_INIT;
    dlp_call_options o;
    pthread_t runner;
    dlp_call_options_init(&o);
    o.callback = gated_callback;
    o.callback_ud = &g;
    dlp_future *f = tu_apply_async(p, tu_futplug(p, "add"), tu_val_ints(2, (int64_t)1, (int64_t)2),
                          &o);
    ck_assert_int_eq(pthread_create(&runner, NULL, wait_future, f), 0);
    wait_flag(&g, &g.started, 10);
    ck_assert_msg(g.started, "the callback did not start within 10 s");
    int rc = dlp_future_wait(f, 0.3);
    int finished = g.finished;
    release(&g);
    ck_assert_int_eq(join_within(runner, 10), 0);
    ck_assert_msg(rc == -ETIMEDOUT,
                  "wait(0.3 s) while the callback still runs in another "
                  "thread: expected -ETIMEDOUT, got %d (%s); callback "
                  "finished: %d",
                  rc, dlp_strerror(rc), finished);
    dlp_future_destroy(f);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_join_during_callback)
{
    /* join "returns after every callback". */
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    gate g = GATE_INIT;
    dlp_call_options o;
    pthread_t runner;
    dlp_call_options_init(&o);
    o.callback = gated_callback;
    o.callback_ud = &g;
    dlp_future *f = tu_apply_async(p, tu_futplug(p, "add"), tu_val_ints(2, (int64_t)1, (int64_t)2),
                          &o);
    ck_assert_int_eq(pthread_create(&runner, NULL, wait_future, f), 0);
    wait_flag(&g, &g.started, 10);
    ck_assert_msg(g.started, "the callback did not start within 10 s");
    dlp_pool_close(p);
    int rc = dlp_pool_join(p, 0.3, &err);
    int finished = g.finished;
    release(&g);
    ck_assert_int_eq(join_within(runner, 10), 0);
    ck_assert_msg(rc == -ETIMEDOUT,
                  "join(0.3 s) while a callback still runs: expected "
                  "-ETIMEDOUT, got %d (%s); callback finished: %d",
                  rc, dlp_strerror(rc), finished);
    dlp_future_destroy(f);
    tu_pool_end(p);
}
END_TEST

/* ---- wake-ups ---------------------------------------------------------- */

typedef struct reader {
    dlp_job *j;
    int rc;
    dlp_error err;
} reader;

static void *read_one(void *arg)
{
    reader *r = arg;
    dlp_result res;
    r->rc = dlp_job_next(r->j, &res, &r->err);
    return NULL;
}

/* Tasks nap(ms, i) for i < 2, ms from ud. */
static int two_naps(void *ud, uint64_t i, dlp_args *a)
{
    if (i >= 2)
        return 0;
    dlp_args_int(a, *(int64_t *)ud);
    dlp_args_int(a, (int64_t)i);
    return 1;
}

START_TEST(test_cancel_wakes_waiter)
{
    /* Thread B drives the loop (dlp_job_next on two long tasks that fill
     * the only worker); thread A waits on a queued future; the main
     * thread cancels that future.  A must wake up now, not when B's
     * poll happens to return. */
    dlp_pool *p = tu_pool_start(1);
    int64_t ms = 8000;
    int fn = tu_futplug(p, "nap");
    reader b = {tu_start(p, fn, two_naps, &ms, NULL), 0, {0, ""}};
    pthread_t tb, ta;
    ck_assert_int_eq(pthread_create(&tb, NULL, read_one, &b), 0);
    sleep_ms(300);
    dlp_future *f = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)1, (int64_t)1), NULL);
    ck_assert_int_eq(pthread_create(&ta, NULL, wait_future, f), 0);
    sleep_ms(200);
    int rc = dlp_future_cancel(f);
    ck_assert_msg(rc == 0, "cancel of a queued call: expected 0, got %d (%s)",
                  rc, dlp_strerror(rc));
    rc = join_within(ta, 3);
    ck_assert_msg(rc == 0, "the waiter of a cancelled future was still "
                           "asleep 3 s after the cancel (the driver sleeps "
                           "in poll for 8 s)");
    dlp_pool_interrupt(p);
    ck_assert_int_eq(join_within(tb, 10), 0);
    dlp_job_destroy(b.j);
    dlp_future_destroy(f);
    tu_pool_end(p);
}
END_TEST

static void *terminate(void *arg)
{
    dlp_pool_terminate(arg);
    return NULL;
}

START_TEST(test_terminate_with_reader)
{
    /* terminate "returns at once", and an open job fails with
     * DLP_EWORKER, also while its reader is the thread driving the
     * loop. */
    dlp_pool *p = tu_pool_start(1);
    int64_t ms = 10000;
    reader r = {tu_start(p, tu_futplug(p, "nap"), two_naps, &ms, NULL), 0, {0, ""}};
    pthread_t tr, tt;
    ck_assert_int_eq(pthread_create(&tr, NULL, read_one, &r), 0);
    sleep_ms(300);
    ck_assert_int_eq(pthread_create(&tt, NULL, terminate, p), 0);
    int rc = join_within(tt, 3);
    ck_assert_msg(rc == 0, "dlp_pool_terminate had not returned 3 s later "
                           "(the running task lasts 10 s)");
    ck_assert_int_eq(join_within(tr, 3), 0);
    ck_assert_msg(r.rc == DLP_EWORKER,
                  "dlp_job_next on a terminated pool: expected DLP_EWORKER, "
                  "got %d (%s): %s",
                  r.rc, dlp_strerror(r.rc), r.err.msg);
    dlp_job_destroy(r.j);
    tu_pool_end(p);
}
END_TEST

/* ---- a paused iterator ------------------------------------------------ */

/* Pauses (no task ready, no wait_fd) for the first *ud calls, then says
 * there are no tasks. */
static int pauses(void *ud, uint64_t i, dlp_args *a)
{
    unsigned *left = ud;
    (void)i;
    (void)a;
    if (*left == 0)
        return 0;
    --*left;
    return DLP_ITER_PAUSE;
}

START_TEST(test_next_timeout_paused)
{
    /* next(0.1 s) while the iterator has nothing ready: -ETIMEDOUT after
     * about 0.1 s.  The iterator pauses for its first 3000 calls (at
     * least 3 s, one call per millisecond) and then ends the job. */
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    dlp_result r;
    unsigned left = 3000;
    dlp_job *j = tu_start(p, tu_futplug(p, "pid"), pauses, &left, NULL);
    int rc = dlp_job_next_timeout(j, &r, 0.1, &err);
    ck_assert_msg(rc == -ETIMEDOUT,
                  "next(0.1 s) with a paused iterator: expected -ETIMEDOUT, "
                  "got %d (%s) after %u calls of the iterator",
                  rc, dlp_strerror(rc), 3000 - left);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_terminated_paused_job)
{
    /* A pool that was terminated cannot run a task: dlp_job_next fails
     * with DLP_EWORKER, whatever the iterator says. */
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    dlp_result r;
    unsigned left = 2000;
    dlp_job *j = tu_start(p, tu_futplug(p, "pid"), pauses, &left, NULL);
    dlp_pool_terminate(p);
    int rc = dlp_job_next(j, &r, &err);
    ck_assert_msg(rc == DLP_EWORKER,
                  "next on a terminated pool with a paused iterator: "
                  "expected DLP_EWORKER, got %d (%s) after %u calls of the "
                  "iterator",
                  rc, dlp_strerror(rc), 2000 - left);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- the feed queue ---------------------------------------------------- */

START_TEST(test_feedq_drained)
{
    /* The feed queue holds "internal jobs that have tasks left to send";
     * a future whose only task has its result has none. */
    dlp_pool *p = tu_pool_start(1);
    dlp_future *f = tu_apply_async(p, tu_futplug(p, "add"), tu_val_ints(2, (int64_t)1, (int64_t)2),
                          NULL);
    ck_assert_int_eq(dlp_future_wait(f, -1), 0);
    pthread_mutex_lock(&p->mu);
    int queued = !dlp__list_empty(&p->feedq);
    pthread_mutex_unlock(&p->mu);
    ck_assert_msg(!queued, "a completed future is still in the pool's "
                           "queue of jobs to feed");
    dlp_future_destroy(f);
    tu_pool_end(p);
}
END_TEST

/* ---- broadcast -------------------------------------------------------- */

START_TEST(test_broadcast_retry_crash)
{
    /* A broadcast task that crashes its worker fails with the signal, as
     * it does without retries; it never ran "before" anything. */
    dlp_pool *p = tu_pool_start(2);
    dlp_error err = {0, ""};
    dlp_call_options o;
    dlp_future *f = NULL;
    dlp_val *args = tu_val_ints(1, (int64_t)-1);
    dlp_call_options_init(&o);
    o.retries = 1;
    int rc = dlp_broadcast(&f, p, tu_futplug(p, "boom"), args, &o, &err);
    tu_ok(rc, err);
    dlp_val_free(args);
    ck_assert_int_eq(dlp_future_wait(f, -1), 0);
    for (size_t i = 0; i < dlp_future_count(f); i++) {
        dlp_result r;
        ck_assert_int_eq(dlp_future_result(f, i, &r), 0);
        ck_assert_msg(r.fail == DLP_FAIL_SIGNAL && r.signo == SIGSEGV,
                      "task %zu: expected SIGSEGV, got %s: %s", i,
                      dlp_fail_kind_name(r.fail), r.error);
    }
    dlp_future_destroy(f);
    tu_pool_end(p);
}
END_TEST

/* ---- the initializer in a replacement --------------------------------- */

START_TEST(test_init_fails_in_replacement)
{
    /* Two workers.  F0 crashes worker 1; G keeps worker 2 busy for 3 s;
     * F1 (1.5 s) is queued behind F0 on worker 1, so it is sent again, to
     * worker 1's replacement, which has fewer batches than worker 2.  The
     * replacement refuses the initializer and is retired, but it starts
     * F1 before the pool reads the refusal.  F1 is innocent: it must run
     * on worker 2, not fail because the pool stopped the retired
     * worker under it. */
    dlp_pool_options po;
    dlp_error err = {0, ""};
    dlp_result r;
    dlp_pool_options_init(&po);
    po.workers = 2;
    po.initializer = ":own_init";
    dlp_pool *p = tu_pool_start_opts(&po);
    int fn = dlp_pool_fn(p, ":own_task", NULL, &err);
    ck_assert_msg(fn >= 0, "resolving :own_task: %d (%s): %s", fn,
                  dlp_strerror(fn), err.msg);
    own_init_refuses = 1;
    dlp_future *f0 = tu_apply_async(p, fn, tu_val_ints(1, (int64_t)-1), NULL);
    dlp_future *g = tu_apply_async(p, fn, tu_val_ints(1, (int64_t)3000), NULL);
    dlp_future *f1 = tu_apply_async(p, fn, tu_val_ints(1, (int64_t)1500), NULL);
    ck_assert_int_eq(dlp_future_wait(f0, -1), 0);
    ck_assert_int_eq(dlp_future_result(f0, 0, &r), 0);
    ck_assert_msg(r.fail == DLP_FAIL_SIGNAL, "F0: expected the crash, got "
                                             "%s: %s",
                  dlp_fail_kind_name(r.fail), r.error);
    /* Nobody drives for a while: the replacement runs the initializer
     * and goes on to F1. */
    sleep_ms(500);
    ck_assert_int_eq(dlp_future_wait(f1, -1), 0);
    ck_assert_int_eq(dlp_future_result(f1, 0, &r), 0);
    ck_assert_msg(r.fail == DLP_FAIL_NONE && r.v.i == 1500,
                  "F1: expected it to run on the other worker, got %s: %s",
                  dlp_fail_kind_name(r.fail), r.error);
    ck_assert_int_eq(dlp_future_wait(g, -1), 0);
    dlp_future_destroy(f0);
    dlp_future_destroy(f1);
    dlp_future_destroy(g);
    tu_pool_end(p);
}
END_TEST

static void seeded_opts(dlp_pool_options *o, dlp_val *args,
                        unsigned max_tasks)
{
    static char ref[4200];
    snprintf(ref, sizeof ref, "%s", tu_ref(tu_plugin("futplug"), "seed"));
    dlp_pool_options_init(o);
    o->workers = 1;
    o->max_tasks_per_worker = max_tasks;
    o->initializer = ref;
    o->initargs = args;
}

START_TEST(test_init_max_tasks_one)
{
    /* max_tasks_per_worker = 1 with an initializer: each worker must run
     * its initializer and then one task.  If the initializer's call
     * counts as the task, every worker leaves right after it, before any
     * task, and the pool forks replacements in a loop. */
    dlp_pool_options o;
    dlp_error err = {0, ""};
    dlp_result r;
    dlp_val *seed = tu_val_ints(1, (int64_t)5);
    seeded_opts(&o, seed, 1);
    dlp_pool *p = tu_pool_start_opts(&o);
    dlp_val_free(seed);
    /* Resolving a function sends a LOAD, which the worker must be there
     * to answer. */
    int fn = dlp_pool_fn(p, tu_ref(tu_plugin("futplug"), "seed_get"), NULL,
                         &err);
    ck_assert_msg(fn >= 0, "resolving seed_get with max_tasks_per_worker 1: "
                           "expected a function id, got %d (%s): %s",
                  fn, dlp_strerror(fn), err.msg);
    dlp_future *f = tu_apply_async(p, fn, dlp_val_list(), NULL);
    int rc = dlp_future_get(f, 5, &r, &err);
    ck_assert_msg(rc == 0, "seed_get with max_tasks_per_worker 1: expected "
                           "a result within 5 s, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_int_eq(r.v.i, 5);
    dlp_future_destroy(f);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_init_max_tasks_count)
{
    /* Python's maxtasksperchild counts tasks, not the initializer: with
     * 2 tasks per worker, 4 tasks on one worker slot run in 2 workers. */
    dlp_pool_options o;
    dlp_val *seed = tu_val_ints(1, (int64_t)5);
    int64_t pids[4];
    seeded_opts(&o, seed, 2);
    dlp_pool *p = tu_pool_start_opts(&o);
    dlp_val_free(seed);
    int fn = tu_futplug(p, "pid");
    for (int i = 0; i < 4; i++) {
        dlp_future *f = tu_apply_async(p, fn, dlp_val_list(), NULL);
        ck_assert_int_eq(dlp_future_wait(f, 10), 0);
        pids[i] = 0;
        dlp_result r;
        ck_assert_int_eq(dlp_future_result(f, 0, &r), 0);
        ck_assert_msg(r.fail == DLP_FAIL_NONE, "task %d: %s", i, r.error);
        pids[i] = r.v.i;
        dlp_future_destroy(f);
    }
    int workers = 1;
    for (int i = 1; i < 4; i++)
        workers += pids[i] != pids[i - 1];
    ck_assert_msg(workers == 2, "4 tasks with 2 per worker: expected 2 "
                                "workers, got %d",
                  workers);
    tu_pool_end(p);
}
END_TEST

/* ---- polling with a zero timeout --------------------------------------- */

START_TEST(test_wait_zero_polls)
{
    /* wait(f, 0) in a loop is a poll: it must see the result once it has
     * arrived, also when no other thread drives the pool. */
    dlp_pool *p = tu_pool_start(1);
    dlp_future *f = tu_apply_async(p, tu_futplug(p, "add"), tu_val_ints(2, (int64_t)1, (int64_t)2),
                          NULL);
    int rc = -ETIMEDOUT;
    for (int k = 0; k < 500 && rc == -ETIMEDOUT; k++) {
        rc = dlp_future_wait(f, 0);
        if (rc == -ETIMEDOUT)
            sleep_ms(10);
    }
    ck_assert_msg(rc == 0, "wait(f, 0) polled for 5 s: expected 0 once the "
                           "result arrived, got %d (%s)",
                  rc, dlp_strerror(rc));
    dlp_future_destroy(f);
    tu_pool_end(p);
}
END_TEST

static int one_add(void *ud, uint64_t i, dlp_args *a)
{
    (void)ud;
    if (i > 0)
        return 0;
    dlp_args_int(a, 1);
    dlp_args_int(a, 2);
    return 1;
}

START_TEST(test_next_timeout_zero_polls)
{
    /* The same for IMapIterator.next(timeout=0). */
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    dlp_result r;
    dlp_job *j = tu_start(p, tu_futplug(p, "add"), one_add, NULL, NULL);
    int rc = -ETIMEDOUT;
    for (int k = 0; k < 500 && rc == -ETIMEDOUT; k++) {
        rc = dlp_job_next_timeout(j, &r, 0, &err);
        if (rc == -ETIMEDOUT)
            sleep_ms(10);
    }
    ck_assert_msg(rc == 1, "next(0) polled for 5 s: expected the result, "
                           "got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_int_eq(r.v.i, 3);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_terminated_job_next)
{
    /* After terminate, next on a job with tasks in flight fails at once
     * with DLP_EWORKER, naming the termination. */
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    dlp_result r;
    int64_t ms = 20000;
    dlp_job *j = tu_start(p, tu_futplug(p, "nap"), two_naps, &ms, NULL);
    int rc = dlp_job_next_timeout(j, &r, 0.2, &err);
    ck_assert_int_eq(rc, -ETIMEDOUT);
    dlp_pool_terminate(p);
    rc = dlp_job_next_timeout(j, &r, 5, &err);
    ck_assert_msg(rc == DLP_EWORKER, "next after terminate: expected "
                                     "DLP_EWORKER, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    tu_assert_has(err.msg, "terminated");
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- order ---------------------------------------------------------------- */

typedef struct order_log {
    int seen[16];
    int n;
} order_log;

static void log_order(dlp_future *f, void *ud)
{
    order_log *log = ud;
    dlp_result r;
    if (dlp_future_result(f, 0, &r) == 0 && !r.fail && log->n < 16)
        log->seen[log->n++] = (int)r.v.i;
}

START_TEST(test_futures_fifo)
{
    /* Calls start in the order they were made, as Python's Pool takes
     * them from one queue: with one worker they finish in that order. */
    dlp_pool *p = tu_pool_start(1);
    order_log log = {{0}, 0};
    dlp_call_options o;
    dlp_future *fs[10];
    int fn = tu_futplug(p, "add");
    dlp_call_options_init(&o);
    o.callback = log_order;
    o.callback_ud = &log;
    for (int i = 0; i < 10; i++)
        fs[i] = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)i, (int64_t)0), &o);
    ck_assert_int_eq(dlp_wait(fs, 10, DLP_WAIT_ALL, -1), 0);
    ck_assert_int_eq(log.n, 10);
    char got[64] = "";
    for (int i = 0; i < 10; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), " %d",
                 log.seen[i]);
    for (int i = 0; i < 10; i++)
        ck_assert_msg(log.seen[i] == i, "expected the calls to finish in "
                                        "the order made, got:%s",
                      got);
    for (int i = 0; i < 10; i++)
        dlp_future_destroy(fs[i]);
    tu_pool_end(p);
}
END_TEST

/* ---- misuse: destroyed handles, NaN timeouts ------------------------ */

static unsigned live_children(void)
{
    pid_t kids[64];
    return tu_children(kids, 64);
}

/* A call's return and message, for a handle that is no longer live. */
static void expect_gone(int rc, const dlp_error *err, const char *call)
{
    ck_assert_msg(rc == DLP_EINVAL,
                  "%s on a destroyed handle: expected DLP_EINVAL (%d), got "
                  "%d (%s)",
                  call, DLP_EINVAL, rc, dlp_strerror(rc));
    if (err)
        ck_assert_msg(strstr(err->msg, "no such") != NULL,
                      "%s on a destroyed handle: expected a message with "
                      "\"no such\", got \"%s\"",
                      call, err->msg);
}

START_TEST(test_pool_destroy_twice)
{
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
    dlp_pool_destroy(p);
    /* The second is noticed, not acted on: freed memory is not read. */
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

START_TEST(test_pool_call_after_destroy)
{
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
    dlp_error err = {0, ""};
    int fn = tu_futplug(p, "add");
    dlp_val *args = tu_val_ints(2, (int64_t)1, (int64_t)2), *out = NULL;
    const dlp_val *argv[1] = {args};
    dlp_future *f = NULL;
    dlp_job *j = NULL;
    int64_t ms = 1;
    dlp_pool_destroy(p);

    expect_gone(dlp_pool_fn(p, tu_ref(tu_plugin("futplug"), "add"), NULL,
                            &err),
                &err, "dlp_pool_fn");
    expect_gone(dlp_pool_close(p), NULL, "dlp_pool_close");
    expect_gone(dlp_pool_join(p, 1, &err), &err, "dlp_pool_join");
    expect_gone(dlp_pool_shutdown(p, true, &err), &err, "dlp_pool_shutdown");
    expect_gone(dlp_job_create(&j, p, fn, two_naps, &ms, NULL, &err), &err,
                "dlp_job_create");
    ck_assert_ptr_null(j);
    expect_gone(dlp_apply_async(&f, p, fn, args, NULL, &err), &err,
                "dlp_apply_async");
    expect_gone(dlp_map_async(&f, p, fn, argv, 1, NULL, &err), &err,
                "dlp_map_async");
    expect_gone(dlp_broadcast(&f, p, fn, args, NULL, &err), &err,
                "dlp_broadcast");
    ck_assert_ptr_null(f);
    expect_gone(dlp_apply(p, fn, args, &out, &err), &err, "dlp_apply");
    expect_gone(dlp_map(p, fn, argv, 1, &out, &err), &err, "dlp_map");
    ck_assert_ptr_null(out);
    ck_assert_uint_eq(dlp_pool_workers(p), 0);
    ck_assert_ptr_null(dlp_pool_fn_sig(p, fn));
    dlp_pool_terminate(p); /* void: nothing to see, nothing done */
    dlp_val_free(args);
    tu_assert_clean(fds);
}
END_TEST

START_TEST(test_pool_destroy_job_open)
{
    /* A job still open: the destroy stops the workers at once (it does
     * not wait for the job's 20 s tasks), the job's reader is told, and
     * the job's destroy frees what is left of the pool. */
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(2);
    dlp_error err = {0, ""};
    dlp_result res;
    int64_t ms = 20000;
    dlp_job *j = tu_start(p, tu_futplug(p, "nap"), two_naps, &ms, NULL);
    ck_assert_int_eq(dlp_job_next_timeout(j, &res, 0.2, &err), -ETIMEDOUT);
    double t0 = tu_wall_now();
    dlp_pool_destroy(p);
    ck_assert_msg(tu_wall_now() - t0 < 10,
                  "dlp_pool_destroy with a job open took %.1f s",
                  tu_wall_now() - t0);
    ck_assert_uint_eq(live_children(), 0);
    int rc = dlp_job_next(j, &res, &err);
    ck_assert_msg(rc == DLP_EWORKER,
                  "dlp_job_next after its pool was destroyed: expected "
                  "DLP_EWORKER (%d), got %d (%s)",
                  DLP_EWORKER, rc, dlp_strerror(rc));
    tu_assert_has(err.msg, "the pool was destroyed");
    /* The pool is no longer a pool for calls, though its memory waits
     * for the job. */
    expect_gone(dlp_pool_close(p), NULL, "dlp_pool_close");
    dlp_job_destroy(j);
    tu_assert_clean(fds);
}
END_TEST

/* Many short naps, for as long as the reader wants them. */
static int many_naps(void *ud, uint64_t i, dlp_args *a)
{
    (void)ud;
    dlp_args_int(a, 2);
    dlp_args_int(a, (int64_t)i);
    return 1;
}

typedef struct racer {
    dlp_job *job;
    int stop;
} racer;

static void *read_then_destroy(void *arg)
{
    racer *r = arg;
    dlp_result res;
    while (dlp_job_next(r->job, &res, NULL) == 1 &&
           !__atomic_load_n(&r->stop, __ATOMIC_ACQUIRE))
        ;
    dlp_job_destroy(r->job);
    return NULL;
}

START_TEST(test_pool_destroy_job_racing)
{
    /* The job's last destroy may come from another thread while the
     * pool's destroy waits for its workers to stop (with the pool's lock
     * released): exactly one of the two frees the pool, and not under
     * the other.  A race, so tried many times; it hung (or, under ASan,
     * used freed memory) when the job's destroy freed the pool first. */
    int fds = tu_fd_count();
    for (int round = 0; round < 40; round++) {
        dlp_pool *p = tu_pool_with(4);
        dlp_job_options jo;
        racer r = {NULL, 0};
        pthread_t t;
        dlp_job_options_init(&jo);
        jo.flags = DLP_JOB_UNORDERED;
        jo.chunksize = 1;
        r.job = tu_start(p, tu_futplug(p, "nap"), many_naps, NULL, &jo);
        ck_assert_int_eq(pthread_create(&t, NULL, read_then_destroy, &r), 0);
        usleep(5000 + 1000 * (useconds_t)(round % 7));
        __atomic_store_n(&r.stop, 1, __ATOMIC_RELEASE);
        dlp_pool_destroy(p);
        ck_assert_int_eq(pthread_join(t, NULL), 0);
        ck_assert_uint_eq(live_children(), 0);
    }
    tu_assert_clean(fds);
}
END_TEST

START_TEST(test_pool_destroy_future_open)
{
    /* Futures still open, one of them running: both fail as cancelled,
     * their results stay readable, and the last destroy frees the pool. */
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
    dlp_result res;
    int fn = tu_futplug(p, "nap");
    dlp_future *f = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)20000,
                                                      (int64_t)1),
                                   NULL);
    dlp_future *g = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)1,
                                                      (int64_t)2),
                                   NULL);
    ck_assert_int_eq(dlp_future_wait(f, 0.2), -ETIMEDOUT);
    dlp_pool_destroy(p);
    ck_assert_uint_eq(live_children(), 0);
    ck_assert_int_eq(dlp_future_wait(f, 5), 0);
    ck_assert_int_eq(dlp_future_result(f, 0, &res), 0);
    ck_assert_msg(res.fail == DLP_FAIL_CANCELLED,
                  "a running call of a destroyed pool: expected it "
                  "cancelled, got %s",
                  dlp_fail_kind_name(res.fail));
    tu_assert_has(res.error, "the pool was destroyed");
    dlp_future_destroy(f);
    ck_assert_int_eq(dlp_future_wait(g, 5), 0);
    ck_assert(!dlp_future_successful(g));
    dlp_future_destroy(g);
    tu_assert_clean(fds);
}
END_TEST

START_TEST(test_future_destroy_twice)
{
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    dlp_result res;
    dlp_future *f = tu_apply_async(p, tu_futplug(p, "add"),
                                   tu_val_ints(2, (int64_t)1, (int64_t)2),
                                   NULL);
    ck_assert_int_eq(dlp_future_wait(f, 10), 0);
    dlp_future_destroy(f);
    dlp_future_destroy(f); /* noticed: nothing freed twice */
    expect_gone(dlp_future_wait(f, 1), NULL, "dlp_future_wait");
    expect_gone(dlp_future_get(f, 1, &res, &err), &err, "dlp_future_get");
    expect_gone(dlp_future_result(f, 0, &res), NULL, "dlp_future_result");
    expect_gone(dlp_future_cancel(f), NULL, "dlp_future_cancel");
    expect_gone(dlp_wait(&f, 1, DLP_WAIT_ALL, 1), NULL, "dlp_wait");
    ck_assert(!dlp_future_ready(f));
    ck_assert_uint_eq(dlp_future_count(f), 0);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_job_destroy_twice)
{
    dlp_pool *p = tu_pool_start(1);
    dlp_job_counts c = {7, 7};
    int64_t ms = 1;
    dlp_job *j = tu_start(p, tu_futplug(p, "nap"), two_naps, &ms, NULL);
    dlp_job_destroy(j);
    dlp_job_destroy(j); /* noticed: nothing freed twice */
    dlp_job_counts_get(j, &c);
    ck_assert_msg(c.pulled == 0 && c.delivered == 0,
                  "counts of a destroyed job: expected 0 and 0, got %llu "
                  "and %llu",
                  (unsigned long long)c.pulled,
                  (unsigned long long)c.delivered);
    /* The pool counts it closed once, not twice: join is not refused. */
    dlp_error err = {0, ""};
    tu_ok(dlp_pool_close(p), err);
    tu_ok(dlp_pool_join(p, 10, &err), err);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_nan_timeouts)
{
    /* NaN is no number of seconds: every call that takes a timeout
     * refuses it, rather than take it for "none" and wait for good. */
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    dlp_result res;
    dlp_job_options jo;
    dlp_call_options co;
    dlp_job *j = NULL;
    dlp_future *g = NULL;
    int64_t ms = 1;
    int fn = tu_futplug(p, "add");
    dlp_val *args = tu_val_ints(2, (int64_t)1, (int64_t)2);
    dlp_future *f = tu_apply_async(p, fn, dlp_val_copy(args), NULL);
    int rc;
#define EXPECT_EINVAL(call)                                                    \
    do {                                                                       \
        rc = (call);                                                           \
        ck_assert_msg(rc == DLP_EINVAL,                                        \
                      "%s: expected DLP_EINVAL (%d), got %d (%s)", #call,      \
                      DLP_EINVAL, rc, dlp_strerror(rc));                       \
    } while (0)
    EXPECT_EINVAL(dlp_future_wait(f, NAN));
    EXPECT_EINVAL(dlp_future_get(f, NAN, &res, &err));
    tu_assert_has(err.msg, "NaN");
    EXPECT_EINVAL(dlp_wait(&f, 1, DLP_WAIT_ALL, NAN));
    dlp_job_options_init(&jo);
    jo.timeout = NAN;
    EXPECT_EINVAL(dlp_job_create(&j, p, fn, two_naps, &ms, &jo, &err));
    tu_assert_has(err.msg, "timeout");
    ck_assert_ptr_null(j);
    dlp_call_options_init(&co);
    co.timeout = NAN;
    EXPECT_EINVAL(dlp_apply_async(&g, p, fn, args, &co, &err));
    co.timeout = -1;
    EXPECT_EINVAL(dlp_apply_async(&g, p, fn, args, &co, &err));
    ck_assert_ptr_null(g);
    j = tu_start(p, tu_futplug(p, "nap"), two_naps, &ms, NULL);
    EXPECT_EINVAL(dlp_job_next_timeout(j, &res, NAN, &err));
    dlp_job_destroy(j);
    tu_ok(dlp_pool_close(p), err);
    EXPECT_EINVAL(dlp_pool_join(p, NAN, &err));
    {
        /* A restart period is a number of seconds too. */
        dlp_pool_options po;
        dlp_pool *q = NULL;
        const double bad[] = {NAN, -1, INFINITY};
        for (unsigned k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            dlp_pool_options_init(&po);
            po.workers = 1;
            po.restart_period = bad[k];
            EXPECT_EINVAL(dlp_pool_create(&q, &po, &err));
            tu_assert_has(err.msg, "restart_period");
            ck_assert_ptr_null(q);
        }
    }
    /* An infinite or huge timeout is a long one, not an overflow. */
    tu_ok(dlp_future_wait(f, INFINITY), err);
    tu_ok(dlp_future_wait(f, 1e300), err);
    tu_ok(dlp_pool_join(p, INFINITY, &err), err);
#undef EXPECT_EINVAL
    dlp_future_destroy(f);
    dlp_val_free(args);
    tu_pool_end(p);
}
END_TEST

Suite *dlp_test_lifecycle(void);

Suite *dlp_test_lifecycle(void)
{
    Suite *s = suite_create("lifecycle");
    TCase *cb = tcase_create("callbacks");
    TCase *wake = tcase_create("wakeups");
    TCase *feedq = tcase_create("feed");
    TCase *init = tcase_create("initializer");
    TCase *misuse = tcase_create("misuse");
    tcase_set_timeout(cb, 60);
    tcase_set_timeout(wake, 60);
    tcase_set_timeout(feedq, 60);
    tcase_set_timeout(init, 60);
    tcase_set_timeout(misuse, 60);
    tcase_add_test(cb, test_wait_during_callback);
    tcase_add_test(cb, test_join_during_callback);
    tcase_add_test(wake, test_cancel_wakes_waiter);
    tcase_add_test(wake, test_terminate_with_reader);
    tcase_add_test(wake, test_next_timeout_paused);
    tcase_add_test(wake, test_terminated_paused_job);
    tcase_add_test(feedq, test_feedq_drained);
    tcase_add_test(feedq, test_broadcast_retry_crash);
    tcase_add_test(wake, test_wait_zero_polls);
    tcase_add_test(wake, test_next_timeout_zero_polls);
    tcase_add_test(wake, test_terminated_job_next);
    tcase_add_test(feedq, test_futures_fifo);
    tcase_add_test(init, test_init_fails_in_replacement);
    tcase_add_test(init, test_init_max_tasks_one);
    tcase_add_test(init, test_init_max_tasks_count);
    tcase_add_test(misuse, test_pool_destroy_twice);
    tcase_add_test(misuse, test_pool_call_after_destroy);
    tcase_add_test(misuse, test_pool_destroy_job_open);
    tcase_add_test(misuse, test_pool_destroy_future_open);
    tcase_add_test(misuse, test_pool_destroy_job_racing);
    tcase_add_test(misuse, test_future_destroy_twice);
    tcase_add_test(misuse, test_job_destroy_twice);
    tcase_add_test(misuse, test_nan_timeouts);
    suite_add_tcase(s, cb);
    suite_add_tcase(s, wake);
    suite_add_tcase(s, feedq);
    suite_add_tcase(s, init);
    suite_add_tcase(s, misuse);
    return s;
}

TU_MAIN(dlp_test_lifecycle)
