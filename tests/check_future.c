/*
 * check_future.c - Python's Pool API in C: apply and apply_async with
 * their futures, map, broadcast and worker state read back, callbacks,
 * waiting on several futures, cancelling, close / join / terminate /
 * shutdown, imap's next(timeout), chunksize, the initializer, and the
 * program's own functions.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---- fixtures -------------------------------------------------------- */

/* Result i of f, which must have succeeded: its i64. */
static int64_t result_i64(dlp_future *f, size_t i)
{
    dlp_result r;
    int rc = dlp_future_result(f, i, &r);
    ck_assert_msg(rc == 0, "result %zu: expected one, got %d (%s)", i, rc,
                  dlp_strerror(rc));
    ck_assert_msg(r.fail == DLP_FAIL_NONE,
                  "result %zu: expected success, got %s: %s", i,
                  dlp_fail_kind_name(r.fail), r.error);
    return r.v.i;
}

static unsigned live_children(void)
{
    pid_t kids[64];
    return tu_children(kids, 64);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- apply, map --------------------------------------------------- */

START_TEST(test_apply)
{
    dlp_pool *p = tu_pool_start(2);
    dlp_error err = {0, ""};
    dlp_val *args = tu_val_ints(2, (int64_t)2, (int64_t)40), *out = NULL;
    int rc = dlp_apply(p, tu_futplug(p, "add"), args, &out, &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(out);
    ck_assert_msg(out->kind == DLP_V_INT && out->v.i == 42,
                  "add(2, 40): expected the int 42, got kind %s",
                  dlp_val_kind_name(out->kind));
    dlp_val_free(out);

    /* A failing call: DLP_ETASK, the message names the task's error. */
    dlp_val_free(args);
    args = tu_val_ints(1, (int64_t)3);
    out = (dlp_val *)1;
    rc = dlp_apply(p, tu_futplug(p, "refuse"), args, &out, &err);
    ck_assert_msg(rc == DLP_ETASK, "refuse(3): expected DLP_ETASK, got %d (%s)",
                  rc, dlp_strerror(rc));
    ck_assert_ptr_null(out);
    tu_assert_has(err.msg, "odd value 3");
    dlp_val_free(args);

    /* A void function gives null. */
    args = dlp_val_list();
    rc = dlp_apply(p, tu_futplug(p, "nothing"), args, &out, &err);
    tu_ok(rc, err);
    ck_assert_int_eq(out->kind, DLP_V_NULL);
    dlp_val_free(out);
    dlp_val_free(args);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_apply_async_get)
{
    dlp_pool *p = tu_pool_start(2);
    dlp_error err = {0, ""};
    dlp_result r;
    dlp_future *f = tu_apply_async(p, tu_futplug(p, "nap"), tu_val_ints(2, (int64_t)300, (int64_t)7),
                          NULL);
    int rc = dlp_future_get(f, 0.02, &r, &err);
    ck_assert_msg(rc == -ETIMEDOUT,
                  "get(0.02 s) of a 300 ms task: expected -ETIMEDOUT, got "
                  "%d (%s)",
                  rc, dlp_strerror(rc));
    ck_assert(!dlp_future_ready(f));
    ck_assert(!dlp_future_successful(f));
    ck_assert_int_eq(dlp_future_wait(f, 0.01), -ETIMEDOUT);
    rc = dlp_future_get(f, -1, &r, &err);
    tu_ok(rc, err);
    ck_assert_int_eq(r.v.i, 7);
    ck_assert_int_eq(r.attempts, 1);
    ck_assert_msg(r.pid > 0, "expected the worker's pid, got %d", r.pid);
    ck_assert(dlp_future_ready(f));
    ck_assert(dlp_future_successful(f));
    ck_assert_uint_eq(dlp_future_count(f), 1);
    ck_assert_int_eq(dlp_future_result(f, 1, &r), DLP_EINVAL);
    dlp_future_destroy(f);

    /* A failed task: get returns DLP_ETASK with the task's result. */
    f = tu_apply_async(p, tu_futplug(p, "refuse"), tu_val_ints(1, (int64_t)5), NULL);
    rc = dlp_future_get(f, -1, &r, &err);
    ck_assert_msg(rc == DLP_ETASK, "expected DLP_ETASK, got %d (%s)", rc,
                  dlp_strerror(rc));
    ck_assert_int_eq(r.fail, DLP_FAIL_PLUGIN);
    tu_assert_has(r.error, "odd value 5");
    tu_assert_has(err.msg, "task 0 failed");
    ck_assert(dlp_future_ready(f));
    ck_assert(!dlp_future_successful(f));
    dlp_future_destroy(f);

    /* Arguments that do not fit fail the task as bad input, not the
     * call. */
    dlp_val *bad = dlp_val_list();
    dlp_val_push(bad, dlp_val_cstr("x"));
    dlp_val_push(bad, dlp_val_int(1));
    f = tu_apply_async(p, tu_futplug(p, "add"), bad, NULL);
    rc = dlp_future_get(f, -1, &r, &err);
    ck_assert_int_eq(rc, DLP_ETASK);
    ck_assert_int_eq(r.fail, DLP_FAIL_INPUT);
    tu_assert_has(r.error, "argument 1 (i64): expected an integer");
    dlp_future_destroy(f);
    f = tu_apply_async(p, tu_futplug(p, "add"), tu_val_ints(1, (int64_t)1), NULL);
    ck_assert_int_eq(dlp_future_get(f, -1, &r, &err), DLP_ETASK);
    tu_assert_has(r.error, "expected 2 arguments, got 1");
    dlp_future_destroy(f);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_map)
{
    enum { N = 2000 };
    dlp_pool *p = tu_pool_start(2);
    dlp_error err = {0, ""};
    dlp_val *args[N], *out[N];
    int fn = tu_futplug(p, "add");
    for (int i = 0; i < N; i++)
        args[i] = tu_val_ints(2, (int64_t)i, (int64_t)i * 1000);
    int rc = dlp_map(p, fn, (const dlp_val *const *)args, N, out, &err);
    tu_ok(rc, err);
    for (int i = 0; i < N; i++) {
        ck_assert_msg(out[i] && out[i]->kind == DLP_V_INT &&
                          out[i]->v.i == (int64_t)i * 1001,
                      "map result %d: expected %lld", i,
                      (long long)i * 1001);
        dlp_val_free(out[i]);
        dlp_val_free(args[i]);
    }

    /* map_async with failures: each task fails alone, in its place. */
    for (int i = 0; i < 10; i++)
        args[i] = tu_val_ints(1, (int64_t)i);
    dlp_future *f = NULL;
    rc = dlp_map_async(&f, p, tu_futplug(p, "refuse"),
                       (const dlp_val *const *)args, 10, NULL, &err);
    tu_ok(rc, err);
    ck_assert_int_eq(dlp_future_wait(f, -1), 0);
    ck_assert_uint_eq(dlp_future_count(f), 10);
    for (int i = 0; i < 10; i++) {
        dlp_result r;
        ck_assert_int_eq(dlp_future_result(f, (size_t)i, &r), 0);
        ck_assert_uint_eq(r.index, (uint64_t)i);
        if (i % 2) {
            ck_assert_int_eq(r.fail, DLP_FAIL_PLUGIN);
        } else {
            ck_assert_int_eq(r.fail, DLP_FAIL_NONE);
            ck_assert_int_eq(r.v.i, i);
        }
    }
    dlp_future_destroy(f);
    /* The blocking map reports the first failure and gives no values. */
    rc = dlp_map(p, tu_futplug(p, "refuse"), (const dlp_val *const *)args, 10, out,
                 &err);
    ck_assert_int_eq(rc, DLP_ETASK);
    tu_assert_has(err.msg, "task 1 failed");
    for (int i = 0; i < 10; i++) {
        ck_assert_ptr_null(out[i]);
        dlp_val_free(args[i]);
    }
    /* An empty map completes at once. */
    rc = dlp_map(p, fn, NULL, 0, out, &err);
    tu_ok(rc, err);
    tu_pool_end(p);
}
END_TEST

/* ---- broadcast and worker state ----------------------------------- */

START_TEST(test_broadcast_counter)
{
    /* The seed's counter: N calls spread over the pool; the per-worker
     * counts read back with a broadcast sum to N. */
    enum { N = 3000 };
    dlp_pool *p = tu_pool_start(3);
    dlp_error err = {0, ""};
    dlp_val *args[N], *out[N];
    dlp_future *f = NULL;
    for (int i = 0; i < N; i++)
        args[i] = tu_val_ints(1, (int64_t)i);
    int rc = dlp_map(p, tu_futplug(p, "tick"), (const dlp_val *const *)args, N, out,
                     &err);
    tu_ok(rc, err);
    for (int i = 0; i < N; i++) {
        dlp_val_free(out[i]);
        dlp_val_free(args[i]);
    }
    dlp_val *none = dlp_val_list();
    rc = dlp_broadcast(&f, p, tu_futplug(p, "ticks"), none, NULL, &err);
    tu_ok(rc, err);
    ck_assert_int_eq(dlp_future_wait(f, -1), 0);
    ck_assert_uint_eq(dlp_future_count(f), 3);
    int64_t sum = 0;
    int pids[3];
    for (size_t i = 0; i < 3; i++) {
        dlp_result r;
        sum += result_i64(f, i);
        dlp_future_result(f, i, &r);
        pids[i] = r.pid;
    }
    ck_assert_msg(sum == N, "the workers' counts sum to %lld, expected %d",
                  (long long)sum, N);
    ck_assert_msg(pids[0] != pids[1] && pids[1] != pids[2] &&
                      pids[0] != pids[2] && pids[0] > 0,
                  "expected three distinct workers, got %d %d %d", pids[0],
                  pids[1], pids[2]);
    dlp_future_destroy(f);

    /* Every worker answers the broadcast, with its own pid. */
    rc = dlp_broadcast(&f, p, tu_futplug(p, "pid"), none, NULL, &err);
    tu_ok(rc, err);
    ck_assert_int_eq(dlp_future_wait(f, -1), 0);
    for (size_t i = 0; i < 3; i++) {
        dlp_result r;
        int64_t got = result_i64(f, i);
        dlp_future_result(f, i, &r);
        ck_assert_int_eq(got, r.pid);
    }
    dlp_future_destroy(f);
    dlp_val_free(none);
    tu_pool_end(p);
}
END_TEST

/* ---- callbacks, waiting on several -------------------------------- */

typedef struct cb_log {
    int calls;
    int wrong_thread;
    pthread_t caller;
    int64_t sum;
} cb_log;

static void on_done(dlp_future *f, void *ud)
{
    cb_log *log = ud;
    dlp_result r;
    log->calls++;
    if (!pthread_equal(pthread_self(), log->caller))
        log->wrong_thread++;
    if (dlp_future_result(f, 0, &r) == 0 && !r.fail)
        log->sum += r.v.i;
}

START_TEST(test_callbacks_join)
{
    enum { N = 50 };
    dlp_pool *p = tu_pool_start(2);
    dlp_error err = {0, ""};
    dlp_call_options o;
    dlp_future *fs[N];
    cb_log log = {0, 0, pthread_self(), 0};
    int fn = tu_futplug(p, "add");
    dlp_call_options_init(&o);
    o.callback = on_done;
    o.callback_ud = &log;
    for (int i = 0; i < N; i++)
        fs[i] = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)i, (int64_t)1), &o);
    /* join before close is refused, as Python's is. */
    int rc = dlp_pool_join(p, -1, &err);
    ck_assert_int_eq(rc, DLP_EINVAL);
    tu_assert_has(err.msg, "close the pool first");
    tu_ok(dlp_pool_close(p), err);
    rc = dlp_pool_join(p, -1, &err);
    tu_ok(rc, err);
    ck_assert_msg(log.calls == N, "expected %d callbacks, got %d", N,
                  log.calls);
    ck_assert_int_eq(log.wrong_thread, 0);
    ck_assert_int_eq(log.sum, N * (N - 1) / 2 + N);
    /* After join the workers are gone, the results stay. */
    ck_assert_uint_eq(live_children(), 0);
    ck_assert_int_eq(result_i64(fs[N - 1], 0), N);
    for (int i = 0; i < N; i++)
        dlp_future_destroy(fs[i]);
    tu_pool_end(p);
}
END_TEST

static void destroy_self(dlp_future *f, void *ud)
{
    (void)ud;
    dlp_future_destroy(f);
}

START_TEST(test_callback_destroys)
{
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    dlp_call_options o;
    dlp_call_options_init(&o);
    o.callback = destroy_self;
    tu_apply_async(p, tu_futplug(p, "add"), tu_val_ints(2, (int64_t)1, (int64_t)2), &o);
    dlp_pool_close(p);
    tu_ok(dlp_pool_join(p, 5, &err), err);
    tu_pool_end(p);
}
END_TEST

/* A future whose callback destroys it, waited on by the thread that
 * then runs the callback (the wait's own loop runs it): the wait must not
 * read the future after the callback, in any of the three waits.  Under
 * ASan or valgrind a read of the freed future is an error; without them
 * the freed memory is usually still readable, so each wait also checks
 * its own result.  The callback runs once each time. */
typedef struct self_destroy {
    int calls;
} self_destroy;

static void destroy_self_counted(dlp_future *f, void *ud)
{
    ((self_destroy *)ud)->calls++;
    dlp_future_destroy(f);
}

static dlp_future *self_destroying(dlp_pool *p, self_destroy *sd)
{
    dlp_call_options o;
    dlp_call_options_init(&o);
    o.callback = destroy_self_counted;
    o.callback_ud = sd;
    return tu_apply_async(p, tu_futplug(p, "nap"),
                          tu_val_ints(2, (int64_t)50, (int64_t)7), &o);
}

/* After a self-destroying future: the callback ran once, and the pool is
 * whole (its callback queue and its waiters were left consistent). */
static void after_self_destroy(dlp_pool *p, const self_destroy *sd, int fds)
{
    dlp_error err = {0, ""};
    dlp_result r;
    dlp_future *f;
    ck_assert_msg(sd->calls == 1, "expected the callback to run once, it ran "
                                  "%d times",
                  sd->calls);
    f = tu_apply_async(p, tu_futplug(p, "add"),
                       tu_val_ints(2, (int64_t)20, (int64_t)22), NULL);
    tu_ok(dlp_future_get(f, 10, &r, &err), err);
    ck_assert_int_eq(r.v.i, 42);
    dlp_future_destroy(f);
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}

START_TEST(test_callback_destroys_in_wait)
{
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
    self_destroy sd = {0};
    dlp_future *f = self_destroying(p, &sd);
    /* It completed, so 0. */
    int rc = dlp_future_wait(f, 10);
    ck_assert_msg(rc == 0,
                  "dlp_future_wait on a future its callback destroys: "
                  "expected 0, got %d (%s)",
                  rc, dlp_strerror(rc));
    after_self_destroy(p, &sd, fds);
}
END_TEST

START_TEST(test_callback_destroys_in_get)
{
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
    dlp_error err = {0, ""};
    self_destroy sd = {0};
    dlp_result r;
    dlp_future *f = self_destroying(p, &sd);
    /* No result can be lent from a future that is gone. */
    int rc = dlp_future_get(f, 10, &r, &err);
    ck_assert_msg(rc == DLP_EINVAL,
                  "dlp_future_get on a future its callback destroys: "
                  "expected DLP_EINVAL (%d), got %d (%s)",
                  DLP_EINVAL, rc, dlp_strerror(rc));
    tu_assert_has(err.msg, "destroyed while waited on");
    after_self_destroy(p, &sd, fds);
}
END_TEST

START_TEST(test_callback_destroys_in_wait_set)
{
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
    self_destroy sd = {0};
    dlp_future *set[2];
    int rc;
    /* Next to a future that stays: ALL waits for both. */
    set[0] = tu_apply_async(p, tu_futplug(p, "add"),
                            tu_val_ints(2, (int64_t)1, (int64_t)1), NULL);
    set[1] = self_destroying(p, &sd);
    rc = dlp_wait(set, 2, DLP_WAIT_ALL, 10);
    ck_assert_msg(rc == 0,
                  "dlp_wait (ALL) over a set with a future its callback "
                  "destroys: expected 0, got %d (%s)",
                  rc, dlp_strerror(rc));
    ck_assert_int_eq(result_i64(set[0], 0), 2);
    dlp_future_destroy(set[0]);
    after_self_destroy(p, &sd, fds);
}
END_TEST

/* Another thread waits on the future while this one's wait runs its
 * callback, which destroys it: both waits end, neither reads it after it
 * is freed (the last of them frees it). */
typedef struct waiter {
    dlp_future *f;
    int rc;
    double t;
} waiter;

static void *wait_thread(void *arg)
{
    waiter *w = arg;
    w->rc = dlp_future_wait(w->f, 30);
    return NULL;
}

static void destroy_self_slowly(dlp_future *f, void *ud)
{
    struct timespec ms50 = {0, 50000000};
    (void)ud;
    /* Let the other waiter settle in the wait first. */
    nanosleep(&ms50, NULL);
    dlp_future_destroy(f);
}

START_TEST(test_callback_destroys_two_waiters)
{
    dlp_pool *p = tu_pool_start(1);
    dlp_call_options o;
    pthread_t t;
    waiter w = {NULL, -1, 0};
    int rc;
    dlp_call_options_init(&o);
    o.callback = destroy_self_slowly;
    w.f = tu_apply_async(p, tu_futplug(p, "nap"),
                         tu_val_ints(2, (int64_t)200, (int64_t)1), &o);
    ck_assert_int_eq(pthread_create(&t, NULL, wait_thread, &w), 0);
    rc = dlp_future_wait(w.f, 30);
    pthread_join(t, NULL);
    ck_assert_msg(rc == 0 && w.rc == 0,
                  "two waiters on a future its callback destroys: expected "
                  "0 and 0, got %d (%s) and %d (%s)",
                  rc, dlp_strerror(rc), w.rc, dlp_strerror(w.rc));
    tu_pool_end(p);
}
END_TEST

START_TEST(test_wait_any_all)
{
    dlp_pool *p = tu_pool_start(3);
    int fn = tu_futplug(p, "nap");
    dlp_future *fs[3];
    fs[0] = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)600, (int64_t)0), NULL);
    fs[1] = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)1, (int64_t)1), NULL);
    fs[2] = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)300, (int64_t)2), NULL);
    int rc = dlp_wait(fs, 3, DLP_WAIT_ANY, -1);
    ck_assert_msg(rc == 1, "FIRST_COMPLETED: expected future 1 (1 ms), got %d",
                  rc);
    ck_assert_int_eq(dlp_wait(fs, 3, DLP_WAIT_ALL, 0.01), -ETIMEDOUT);
    /* as_completed: the rest in the order they finish. */
    dlp_future *rest[2] = {fs[0], fs[2]};
    rc = dlp_wait(rest, 2, DLP_WAIT_ANY, -1);
    ck_assert_msg(rc == 1, "as_completed: expected the 300 ms task next, got "
                           "%d",
                  rc);
    ck_assert_int_eq(dlp_wait(fs, 3, DLP_WAIT_ALL, -1), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(result_i64(fs[i], 0), i);
        dlp_future_destroy(fs[i]);
    }
    ck_assert_int_eq(dlp_wait(fs, 0, DLP_WAIT_ANY, -1), DLP_EINVAL);
    tu_pool_end(p);
}
END_TEST

/* ---- cancel, shutdown, terminate, close ---------------------------- */

START_TEST(test_cancel)
{
    dlp_pool *p = tu_pool_start(1);
    int fn = tu_futplug(p, "nap");
    dlp_result r;
    /* One worker holds two batches; the third call waits in the pool. */
    dlp_future *a = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)200, (int64_t)1), NULL);
    dlp_future *b = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)1, (int64_t)2), NULL);
    dlp_future *c = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)1, (int64_t)3), NULL);
    ck_assert_int_eq(dlp_future_cancel(a), -EBUSY);
    int rc = dlp_future_cancel(c);
    ck_assert_msg(rc == 0, "cancel of a queued call: expected 0, got %d (%s)",
                  rc, dlp_strerror(rc));
    ck_assert(dlp_future_ready(c));
    ck_assert_int_eq(dlp_future_result(c, 0, &r), 0);
    ck_assert_int_eq(r.fail, DLP_FAIL_CANCELLED);
    ck_assert_int_eq(r.attempts, 0);
    ck_assert_int_eq(dlp_future_cancel(c), 0); /* again: still cancelled */
    ck_assert_int_eq(dlp_future_wait(b, -1), 0);
    ck_assert_int_eq(result_i64(a, 0), 1);
    ck_assert_int_eq(result_i64(b, 0), 2);
    ck_assert_int_eq(dlp_future_cancel(b), -EBUSY); /* finished */
    dlp_future_destroy(a);
    dlp_future_destroy(b);
    dlp_future_destroy(c);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_shutdown_cancel)
{
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    int fn = tu_futplug(p, "nap");
    dlp_future *fs[5];
    for (int i = 0; i < 5; i++)
        fs[i] = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)100, (int64_t)i), NULL);
    int rc = dlp_pool_shutdown(p, true, &err);
    tu_ok(rc, err);
    /* The two calls the worker held ran; the others were cancelled. */
    for (int i = 0; i < 5; i++) {
        dlp_result r;
        ck_assert_int_eq(dlp_future_result(fs[i], 0, &r), 0);
        if (i < 2) {
            ck_assert_msg(r.fail == DLP_FAIL_NONE && r.v.i == i,
                          "call %d: expected it to have run, got %s", i,
                          dlp_fail_kind_name(r.fail));
        } else {
            ck_assert_msg(r.fail == DLP_FAIL_CANCELLED,
                          "call %d: expected it cancelled, got %s", i,
                          dlp_fail_kind_name(r.fail));
        }
        dlp_future_destroy(fs[i]);
    }
    tu_pool_end(p);
}
END_TEST

START_TEST(test_shutdown_wait)
{
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    int fn = tu_futplug(p, "nap");
    dlp_future *fs[4];
    for (int i = 0; i < 4; i++)
        fs[i] = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)20, (int64_t)i), NULL);
    tu_ok(dlp_pool_shutdown(p, false, &err), err);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(result_i64(fs[i], 0), i);
        dlp_future_destroy(fs[i]);
    }
    tu_pool_end(p);
}
END_TEST

static int one_task(void *ud, uint64_t i, dlp_args *a)
{
    (void)ud;
    if (i > 0)
        return 0;
    dlp_args_int(a, 1);
    dlp_args_int(a, 2);
    return 1;
}

START_TEST(test_closed)
{
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    dlp_future *f = NULL;
    dlp_job *j = NULL;
    int fn = tu_futplug(p, "add");
    dlp_val *args = tu_val_ints(2, (int64_t)1, (int64_t)2);
    j = tu_start(p, fn, one_task, NULL, NULL);
    tu_ok(dlp_pool_close(p), err);
    ck_assert_int_eq(dlp_apply_async(&f, p, fn, args, NULL, &err),
                     DLP_ECLOSED);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(dlp_map_async(&f, p, fn, (const dlp_val *const *)&args,
                                   1, NULL, &err),
                     DLP_ECLOSED);
    ck_assert_int_eq(dlp_broadcast(&f, p, fn, args, NULL, &err), DLP_ECLOSED);
    ck_assert_int_eq(dlp_pool_fn(p, tu_ref(tu_plugin("futplug"), "pid"), NULL,
                                 &err),
                     DLP_ECLOSED);
    tu_assert_has(err.msg, "closed");
    /* A job still open: join refuses rather than wait on its reader. */
    int rc = dlp_pool_join(p, -1, &err);
    ck_assert_msg(rc == -EBUSY, "join with an open job: expected -EBUSY, got "
                                "%d (%s)",
                  rc, dlp_strerror(rc));
    tu_assert_has(err.msg, "1 job is still open");
    /* The job created before close runs to its end. */
    dlp_result r;
    ck_assert_int_eq(dlp_job_next(j, &r, &err), 1);
    ck_assert_int_eq(r.v.i, 3);
    dlp_job_destroy(j);
    tu_ok(dlp_pool_join(p, -1, &err), err);
    dlp_val_free(args);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_terminate)
{
    dlp_pool *p = tu_pool_start(2);
    dlp_error err = {0, ""};
    dlp_future *fs[4];
    int fn = tu_futplug(p, "nap");
    for (int i = 0; i < 4; i++)
        fs[i] = tu_apply_async(p, fn, tu_val_ints(2, (int64_t)20000, (int64_t)i), NULL);
    double t0 = now_s();
    dlp_pool_terminate(p);
    ck_assert_msg(now_s() - t0 < 5, "terminate took %.1f s", now_s() - t0);
    ck_assert_uint_eq(live_children(), 0);
    for (int i = 0; i < 4; i++) {
        dlp_result r;
        ck_assert_int_eq(dlp_future_wait(fs[i], 1), 0);
        ck_assert_int_eq(dlp_future_result(fs[i], 0, &r), 0);
        ck_assert_int_eq(r.fail, DLP_FAIL_CANCELLED);
        tu_assert_has(r.error, "terminated");
        dlp_future_destroy(fs[i]);
    }
    dlp_val *args = tu_val_ints(2, (int64_t)1, (int64_t)2);
    dlp_future *f = NULL;
    ck_assert_int_eq(dlp_apply_async(&f, p, fn, args, NULL, &err),
                     DLP_ECLOSED);
    dlp_val_free(args);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_destroy_running)
{
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    dlp_future *f = tu_apply_async(p, tu_futplug(p, "nap"), tu_val_ints(2, (int64_t)20000, (int64_t)0),
                          NULL);
    dlp_val *args = tu_val_ints(2, (int64_t)20, (int64_t)22), *out = NULL;
    /* Give the worker the call, then drop the future: the worker is
     * stopped and replaced, and the pool goes on. */
    ck_assert_int_eq(dlp_future_wait(f, 0.1), -ETIMEDOUT);
    dlp_future_destroy(f);
    double t0 = now_s();
    tu_ok(dlp_apply(p, tu_futplug(p, "add"), args, &out, &err), err);
    ck_assert_msg(now_s() - t0 < 10, "the pool stayed busy %.1f s",
                  now_s() - t0);
    ck_assert_int_eq(out->v.i, 42);
    dlp_val_free(out);
    dlp_val_free(args);
    tu_pool_end(p);
}
END_TEST

/* ---- jobs: next(timeout), chunksize -------------------------------- */

static int naps(void *ud, uint64_t i, dlp_args *a)
{
    (void)ud;
    if (i >= 2)
        return 0;
    dlp_args_int(a, 300);
    dlp_args_int(a, (int64_t)i);
    return 1;
}

START_TEST(test_next_timeout)
{
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    dlp_result r;
    dlp_job *j = tu_start(p, tu_futplug(p, "nap"), naps, NULL, NULL);
    int rc = dlp_job_next_timeout(j, &r, 0.03, &err);
    ck_assert_msg(rc == -ETIMEDOUT, "next(0.03 s): expected -ETIMEDOUT, got "
                                    "%d (%s)",
                  rc, dlp_strerror(rc));
    /* Nothing was lost by the timeout. */
    for (int i = 0; i < 2; i++) {
        rc = dlp_job_next_timeout(j, &r, 10, &err);
        ck_assert_msg(rc == 1, "next(10 s): expected a result, got %d (%s): "
                               "%s",
                      rc, dlp_strerror(rc), err.msg);
        ck_assert_uint_eq(r.index, (uint64_t)i);
        ck_assert_int_eq(r.v.i, i);
    }
    ck_assert_int_eq(dlp_job_next_timeout(j, &r, 0, &err), 0);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

static int no_args(void *ud, uint64_t i, dlp_args *a)
{
    (void)a;
    return i < *(uint64_t *)ud;
}

START_TEST(test_chunksize)
{
    /* With a chunksize of 7, every aligned run of 7 tasks goes to one
     * worker in one batch: the same pid answers all of them. */
    dlp_pool *p = tu_pool_start(2);
    dlp_error err = {0, ""};
    dlp_job_options o;
    uint64_t n = 700;
    int64_t pids[700];
    dlp_job_options_init(&o);
    o.chunksize = 7;
    dlp_job *j = tu_start(p, tu_futplug(p, "pid"), no_args, &n, &o);
    dlp_result r;
    for (uint64_t i = 0; i < n; i++) {
        ck_assert_int_eq(dlp_job_next(j, &r, &err), 1);
        pids[i] = r.v.i;
        ck_assert_int_eq(r.pid, r.v.i);
    }
    ck_assert_int_eq(dlp_job_next(j, &r, &err), 0);
    int switches = 0;
    for (uint64_t i = 1; i < n; i++) {
        if (pids[i] != pids[i - 1]) {
            switches++;
            ck_assert_msg(i % 7 == 0,
                          "task %llu ran in another worker than task %llu: "
                          "a batch of 7 was split",
                          (unsigned long long)i, (unsigned long long)i - 1);
        }
    }
    ck_assert_msg(switches > 0, "expected both workers to take batches");
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- many threads ----------------------------------------------------- */

typedef struct thr {
    dlp_pool *p;
    int fn;
    int base;
    int bad;
} thr;

static void *caller(void *arg)
{
    thr *t = arg;
    for (int i = 0; i < 200; i++) {
        dlp_error err = {0, ""};
        dlp_val *args = tu_val_ints(2, (int64_t)t->base, (int64_t)i), *out = NULL;
        if (dlp_apply(t->p, t->fn, args, &out, &err) != 0 || !out ||
            out->v.i != t->base + i)
            t->bad++;
        dlp_val_free(out);
        dlp_val_free(args);
    }
    return NULL;
}

START_TEST(test_threads)
{
    dlp_pool *p = tu_pool_start(2);
    pthread_t th[4];
    thr t[4];
    int fn = tu_futplug(p, "add");
    for (int i = 0; i < 4; i++) {
        t[i] = (thr){p, fn, (i + 1) * 100000, 0};
        ck_assert_int_eq(pthread_create(&th[i], NULL, caller, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_msg(t[i].bad == 0, "thread %d: %d of 200 calls came back "
                                     "wrong",
                      i, t[i].bad);
    }
    tu_pool_end(p);
}
END_TEST

/* ---- the initializer ------------------------------------------------ */

static void init_opts(dlp_pool_options *o, unsigned workers,
                      const char *symbol, dlp_val *args)
{
    dlp_pool_options_init(o);
    o->workers = workers;
    o->initializer = strdup(tu_ref(tu_plugin("futplug"), symbol));
    o->initargs = args;
}

/* Every worker's seed, read back by a broadcast, must be want. */
static void assert_seeded(dlp_pool *p, int64_t want)
{
    dlp_error err = {0, ""};
    dlp_future *f = NULL;
    dlp_val *none = dlp_val_list();
    int rc = dlp_broadcast(&f, p, tu_futplug(p, "seed_get"), none, NULL, &err);
    tu_ok(rc, err);
    ck_assert_int_eq(dlp_future_wait(f, -1), 0);
    ck_assert_uint_eq(dlp_future_count(f), dlp_pool_workers(p));
    for (size_t i = 0; i < dlp_future_count(f); i++)
        ck_assert_msg(result_i64(f, i) == want,
                      "worker %zu: expected the initializer's %lld, got %lld",
                      i, (long long)want, (long long)result_i64(f, i));
    dlp_future_destroy(f);
    dlp_val_free(none);
}

START_TEST(test_initializer)
{
    dlp_pool_options o;
    dlp_val *args = tu_val_ints(1, (int64_t)42);
    init_opts(&o, 2, "seed", args);
    dlp_pool *p = tu_pool_start_opts(&o);
    free((char *)o.initializer);
    dlp_val_free(args); /* borrowed only during create */
    assert_seeded(p, 42);

    /* A worker lost to a crash is replaced, and the replacement runs the
     * initializer before its first task. */
    dlp_error err = {0, ""};
    dlp_val *crash = tu_val_ints(1, (int64_t)-1), *out = NULL;
    ck_assert_int_eq(dlp_apply(p, tu_futplug(p, "boom"), crash, &out, &err),
                     DLP_ETASK);
    tu_assert_has(err.msg, "SIGSEGV");
    dlp_val_free(crash);
    assert_seeded(p, 42);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_initializer_errors)
{
    int fds = tu_fd_count();
    dlp_pool_options o;
    dlp_pool *p = NULL;
    dlp_error err = {0, ""};
    dlp_val *args = tu_val_ints(1, (int64_t)7);
    int rc;

    /* dlp_fail in the initializer: a clear error, not a fork loop. */
    init_opts(&o, 2, "seed_fail", args);
    rc = dlp_pool_create(&p, &o, &err);
    ck_assert_msg(rc == DLP_EINIT, "expected DLP_EINIT, got %d (%s): %s", rc,
                  dlp_strerror(rc), err.msg);
    ck_assert_ptr_null(p);
    tu_assert_has(err.msg, "seed_fail");
    tu_assert_has(err.msg, "cannot seed with 7");
    free((char *)o.initializer);
    tu_assert_clean(fds);

    /* A crash in the initializer. */
    init_opts(&o, 2, "seed_crash", NULL);
    rc = dlp_pool_create(&p, &o, &err);
    ck_assert_msg(rc == DLP_EINIT, "expected DLP_EINIT, got %d (%s): %s", rc,
                  dlp_strerror(rc), err.msg);
    tu_assert_has(err.msg, "seed_crash");
    tu_assert_has(err.msg, "SIGSEGV");
    free((char *)o.initializer);
    tu_assert_clean(fds);

    /* Arguments that do not fit its signature. */
    dlp_val *bad = dlp_val_list();
    dlp_val_push(bad, dlp_val_cstr("seven"));
    init_opts(&o, 1, "seed", bad);
    rc = dlp_pool_create(&p, &o, &err);
    ck_assert_int_eq(rc, DLP_EINVAL);
    tu_assert_has(err.msg, "initializer");
    tu_assert_has(err.msg, "expected an integer");
    free((char *)o.initializer);
    dlp_val_free(bad);

    /* An initializer that cannot be resolved names the plugin. */
    dlp_pool_options_init(&o);
    o.workers = 1;
    o.initializer = "/nonexistent/plug.so:seed";
    rc = dlp_pool_create(&p, &o, &err);
    ck_assert_int_eq(rc, DLP_ENOPLUGIN);
    tu_assert_has(err.msg, "initializer");
    tu_assert_has(err.msg, "/nonexistent/plug.so");
    dlp_val_free(args);
    tu_assert_clean(fds);
}
END_TEST

/* ---- the program's own functions ------------------------------------- */

/* Exported from this program (-export-dynamic): workers are forks of it,
 * so they can call these by ":SYMBOL" with no plugin. */
int64_t dlp_test_triple(int64_t x);
int64_t dlp_test_lookup(int64_t i);

int64_t dlp_test_triple(int64_t x)
{
    return 3 * x;
}

static int64_t table[16];

int64_t dlp_test_lookup(int64_t i)
{
    return i >= 0 && i < 16 ? table[i] : -1;
}

START_TEST(test_own_functions)
{
    dlp_error err = {0, ""};
    dlp_val *out = NULL, *args;
    /* Memory set up before the pool exists is visible in every worker:
     * the seed's "memory copy" route for what cannot be sent. */
    table[5] = 55;
    dlp_pool *p = tu_pool_start(2);
    int triple = dlp_pool_fn(p, ":dlp_test_triple", "i64(i64)", &err);
    ck_assert_msg(triple >= 0, "resolving :dlp_test_triple: %d (%s): %s",
                  triple, dlp_strerror(triple), err.msg);
    int lookup = dlp_pool_fn(p, ":dlp_test_lookup", "i64(i64)", &err);
    ck_assert_msg(lookup >= 0, "resolving :dlp_test_lookup: %s", err.msg);
    args = tu_val_ints(1, (int64_t)14);
    tu_ok(dlp_apply(p, triple, args, &out, &err), err);
    ck_assert_int_eq(out->v.i, 42);
    dlp_val_free(out);
    dlp_val_free(args);
    /* A later change in the parent is not: each worker has its copy. */
    table[5] = 66;
    args = tu_val_ints(1, (int64_t)5);
    tu_ok(dlp_apply(p, lookup, args, &out, &err), err);
    ck_assert_msg(out->v.i == 55, "expected the value from before the pool "
                                  "(55), got %lld",
                  (long long)out->v.i);
    dlp_val_free(out);
    dlp_val_free(args);
    /* Errors name what is missing. */
    int rc = dlp_pool_fn(p, ":dlp_test_missing", "i64(i64)", &err);
    ck_assert_int_eq(rc, DLP_ENOSYM);
    tu_assert_has(err.msg, "dlp_test_missing");
    tu_assert_has(err.msg, "-rdynamic");
    rc = dlp_pool_fn(p, ":dlp_test_triple", NULL, &err);
    ck_assert_int_eq(rc, DLP_ENOSIG);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_result_value)
{
    dlp_result r;
    dlp_val *v;
    memset(&r, 0, sizeof r);
    r.type = DLP_T_U64;
    r.v.u = UINT64_MAX;
    v = dlp_result_value(&r);
    ck_assert_int_eq(v->kind, DLP_V_UINT);
    ck_assert_uint_eq(v->v.u, UINT64_MAX);
    dlp_val_free(v);
    r.type = DLP_T_U8;
    r.v.u = 7;
    v = dlp_result_value(&r);
    ck_assert_int_eq(v->kind, DLP_V_INT);
    ck_assert_int_eq(v->v.i, 7);
    dlp_val_free(v);
    r.type = DLP_T_F32;
    r.v.f = 0.5;
    v = dlp_result_value(&r);
    ck_assert_int_eq(v->kind, DLP_V_FLOAT);
    ck_assert(v->v.f == 0.5);
    dlp_val_free(v);
    r.type = DLP_T_STR;
    r.v.s.ptr = "héllo";
    r.v.s.len = strlen("héllo");
    v = dlp_result_value(&r);
    ck_assert_int_eq(v->kind, DLP_V_STR);
    ck_assert_str_eq(v->v.s.ptr, "héllo");
    dlp_val_free(v);
    r.type = DLP_T_BOOL;
    r.v.b = true;
    v = dlp_result_value(&r);
    ck_assert(v->kind == DLP_V_BOOL && v->v.b);
    dlp_val_free(v);
    r.fail = DLP_FAIL_PLUGIN;
    ck_assert_ptr_null(dlp_result_value(&r));
}
END_TEST

Suite *dlp_test_future(void);

Suite *dlp_test_future(void)
{
    Suite *s = suite_create("future");
    TCase *core = tcase_create("core");
    TCase *life = tcase_create("lifecycle");
    TCase *setup = tcase_create("setup");
    tcase_set_timeout(core, 60);
    tcase_set_timeout(life, 60);
    tcase_set_timeout(setup, 60);
    tcase_add_test(core, test_apply);
    tcase_add_test(core, test_apply_async_get);
    tcase_add_test(core, test_map);
    tcase_add_test(core, test_broadcast_counter);
    tcase_add_test(core, test_callbacks_join);
    tcase_add_test(core, test_callback_destroys);
    tcase_add_test(core, test_callback_destroys_in_wait);
    tcase_add_test(core, test_callback_destroys_in_get);
    tcase_add_test(core, test_callback_destroys_in_wait_set);
    tcase_add_test(core, test_callback_destroys_two_waiters);
    tcase_add_test(core, test_wait_any_all);
    tcase_add_test(core, test_next_timeout);
    tcase_add_test(core, test_chunksize);
    tcase_add_test(core, test_threads);
    tcase_add_test(core, test_result_value);
    tcase_add_test(life, test_cancel);
    tcase_add_test(life, test_shutdown_cancel);
    tcase_add_test(life, test_shutdown_wait);
    tcase_add_test(life, test_closed);
    tcase_add_test(life, test_terminate);
    tcase_add_test(life, test_destroy_running);
    tcase_add_test(setup, test_initializer);
    tcase_add_test(setup, test_initializer_errors);
    tcase_add_test(setup, test_own_functions);
    suite_add_tcase(s, core);
    suite_add_tcase(s, life);
    suite_add_tcase(s, setup);
    return s;
}

TU_MAIN(dlp_test_future)
