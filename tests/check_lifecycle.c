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
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

START_TEST(test_join_during_callback)
{
    /* join "returns after every callback". */
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
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
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
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
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
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
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

START_TEST(test_terminated_paused_job)
{
    /* A pool that was terminated cannot run a task: dlp_job_next fails
     * with DLP_EWORKER, whatever the iterator says. */
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* ---- the feed queue ---------------------------------------------------- */

START_TEST(test_feedq_drained)
{
    /* The feed queue holds "internal jobs that have tasks left to send";
     * a future whose only task has its result has none. */
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
    dlp_future *f = tu_apply_async(p, tu_futplug(p, "add"), tu_val_ints(2, (int64_t)1, (int64_t)2),
                          NULL);
    ck_assert_int_eq(dlp_future_wait(f, -1), 0);
    pthread_mutex_lock(&p->mu);
    int queued = p->feedq != NULL;
    pthread_mutex_unlock(&p->mu);
    ck_assert_msg(!queued, "a completed future is still in the pool's "
                           "queue of jobs to feed");
    dlp_future_destroy(f);
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* ---- broadcast -------------------------------------------------------- */

START_TEST(test_broadcast_retry_crash)
{
    /* A broadcast task that crashes its worker fails with the signal, as
     * it does without retries; it never ran "before" anything. */
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(2);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
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
    int fds = tu_fd_count();
    dlp_pool_options po;
    dlp_error err = {0, ""};
    dlp_result r;
    dlp_pool_options_init(&po);
    po.workers = 2;
    po.initializer = ":own_init";
    dlp_pool *p = tu_pool_opts(&po);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
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
    int fds = tu_fd_count();
    dlp_pool_options o;
    dlp_error err = {0, ""};
    dlp_result r;
    dlp_val *seed = tu_val_ints(1, (int64_t)5);
    seeded_opts(&o, seed, 1);
    dlp_pool *p = tu_pool_opts(&o);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

START_TEST(test_init_max_tasks_count)
{
    /* Python's maxtasksperchild counts tasks, not the initializer: with
     * 2 tasks per worker, 4 tasks on one worker slot run in 2 workers. */
    int fds = tu_fd_count();
    dlp_pool_options o;
    dlp_val *seed = tu_val_ints(1, (int64_t)5);
    int64_t pids[4];
    seeded_opts(&o, seed, 2);
    dlp_pool *p = tu_pool_opts(&o);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* ---- polling with a zero timeout --------------------------------------- */

START_TEST(test_wait_zero_polls)
{
    /* wait(f, 0) in a loop is a poll: it must see the result once it has
     * arrived, also when no other thread drives the pool. */
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
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
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

START_TEST(test_terminated_job_next)
{
    /* After terminate, next on a job with tasks in flight fails at once
     * with DLP_EWORKER, naming the termination. */
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
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
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
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
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
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
    tcase_set_timeout(cb, 60);
    tcase_set_timeout(wake, 60);
    tcase_set_timeout(feedq, 60);
    tcase_set_timeout(init, 60);
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
    suite_add_tcase(s, cb);
    suite_add_tcase(s, wake);
    suite_add_tcase(s, feedq);
    suite_add_tcase(s, init);
    return s;
}

TU_MAIN(dlp_test_lifecycle)
