/*
 * check_faults.c - what the pool does when things go wrong: per-task
 * timeouts, retries, a worker killed from outside, the memory limit,
 * recycling workers after a number of tasks, the restart intensity, the
 * descriptors a worker holds, interrupting a wait, a job's counts, values
 * of a hundred megabytes, and the names of failure kinds.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---- fixtures -------------------------------------------------------- */

static void assert_ends_with(const char *msg, const char *tail)
{
    size_t n = msg ? strlen(msg) : 0, t = strlen(tail);
    ck_assert_msg(msg && n >= t && strcmp(msg + n - t, tail) == 0,
                  "expected the message to end with '%s', got '%s'", tail,
                  msg ? msg : "(null)");
}

static void assert_ok(const dlp_result *r)
{
    ck_assert_msg(r->fail == DLP_FAIL_NONE,
                  "task %llu: expected success, got %s failure: %s",
                  (unsigned long long)r->index, dlp_fail_kind_name(r->fail),
                  r->error);
}

static void assert_fail(const dlp_result *r, dlp_fail_kind want)
{
    ck_assert_msg(r->fail == want,
                  "task %llu: expected a %s failure, got %s (%s)",
                  (unsigned long long)r->index, dlp_fail_kind_name(want),
                  dlp_fail_kind_name(r->fail),
                  r->error ? r->error : "no message");
}

/* dlp_job_next returned rc at the job's end: it must be 0. */
static void assert_end(int rc, const dlp_error *err)
{
    ck_assert_msg(rc == 0,
                  "dlp_job_next: expected 0 at the end of the job, got %d "
                  "(%s): %s",
                  rc, dlp_strerror(rc), err->msg);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* sleepy(ms[i], i) for tasks 0..n-1. */
typedef struct naps {
    uint64_t n;
    const int64_t *ms;
    int64_t every; /* used when ms is NULL */
} naps;

static int naps_next(void *ud, uint64_t i, dlp_args *a)
{
    naps *s = ud;
    if (i >= s->n)
        return 0;
    dlp_args_int(a, s->ms ? s->ms[i] : s->every);
    dlp_args_int(a, (int64_t)i);
    return 1;
}

/* crash_once(marker, 7): one task. */
static int marker_next(void *ud, uint64_t i, dlp_args *a)
{
    const char *marker = ud;
    if (i >= 1)
        return 0;
    dlp_args_str(a, marker, strlen(marker));
    dlp_args_int(a, 7);
    return 1;
}

/* One task whose i64 argument is given as a string: bad input. */
static int bad_next(void *ud, uint64_t i, dlp_args *a)
{
    (void)ud;
    if (i >= 1)
        return 0;
    dlp_args_str(a, "seven", 5);
    return 1;
}

/* What one task of a one-task job came back with; the message is copied,
 * since a result's pointers are borrowed. */
typedef struct outcome {
    dlp_fail_kind fail;
    int signo;
    unsigned attempts;
    int64_t i;
    char error[512];
} outcome;

static outcome run_one(dlp_pool *p, int fn, dlp_iter_fn next, void *ud,
                       const dlp_job_options *o)
{
    dlp_job *j = tu_start(p, fn, next, ud, o);
    dlp_result r;
    dlp_error err = {0, ""};
    outcome out;
    int rc = dlp_job_next(j, &r, &err);
    memset(&out, 0, sizeof out);
    ck_assert_msg(rc == 1, "expected one result, got %d (%s): %s", rc,
                  dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(r.index, 0);
    out.fail = r.fail;
    out.signo = r.signo;
    out.attempts = r.attempts;
    out.i = r.v.i;
    snprintf(out.error, sizeof out.error, "%s", r.error ? r.error : "");
    rc = dlp_job_next(j, &r, &err);
    assert_end(rc, &err);
    dlp_job_destroy(j);
    return out;
}

/* The pool runs `want` live workers, and they are the ones answering. */
static void assert_workers(dlp_pool *p, int pid_fn, unsigned want)
{
    enum { N = 64 };
    int64_t seen[N];
    pid_t kids[64];
    unsigned nk = tu_children(kids, 64);
    ck_assert_msg(nk == want, "expected %u live worker processes, found %u",
                  want, nk);
    tu_run_i64(p, pid_fn, N, NULL, seen);
    for (unsigned i = 0; i < N; i++) {
        unsigned k;
        for (k = 0; k < nk && kids[k] != (pid_t)seen[i]; k++)
            ;
        ck_assert_msg(k < nk,
                      "worker_pid answered %lld, which is not a live child "
                      "of this process",
                      (long long)seen[i]);
    }
}

/* Sort v[0..n-1]; return how many distinct values it holds and, in
 * *most, how often the commonest one occurs. */
static size_t distinct(int64_t *v, size_t n, size_t *most)
{
    size_t k = 0, run = 0;
    *most = 0;
    qsort(v, n, sizeof *v, tu_cmp_i64);
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || v[i - 1] != v[i]) {
            k++;
            run = 0;
        }
        if (++run > *most)
            *most = run;
    }
    return k;
}

/* A fresh directory for marker files, and a path in it. */
typedef struct tmpdir {
    char dir[256];
    char path[4][300];
} tmpdir;

static void tmpdir_make(tmpdir *t)
{
    const char *base = getenv("TMPDIR");
    snprintf(t->dir, sizeof t->dir, "%s/dlpool-faults-XXXXXX",
             base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(t->dir) != NULL, "mkdtemp: %s", strerror(errno));
    for (unsigned i = 0; i < 4; i++)
        snprintf(t->path[i], sizeof t->path[i], "%s/marker%u", t->dir, i);
}

static void tmpdir_remove(tmpdir *t)
{
    for (unsigned i = 0; i < 4; i++)
        unlink(t->path[i]);
    ck_assert_msg(rmdir(t->dir) == 0, "rmdir %s: %s", t->dir,
                  strerror(errno));
}

/* ---- timeouts ----------------------------------------------------------- */

/* One task of 3 s among 1 ms tasks, with a timeout of 0.2 s: that task
 * alone fails, as a timeout; its worker is killed and replaced, and the
 * job does not wait for the task to finish. */
START_TEST(test_timeout_fails_only_the_slow_task)
{
    enum { N = 40, SLOW = 7 };
    dlp_pool *p = tu_pool_start(2);
    int sleepy = tu_testplug(p, "sleepy");
    int pid_fn = tu_testplug(p, "worker_pid");
    int64_t ms[N];
    naps it = {N, ms, 0};
    dlp_job_options o;
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    double t0;
    int rc;

    for (unsigned i = 0; i < N; i++)
        ms[i] = i == SLOW ? 3000 : 1;
    dlp_job_options_init(&o);
    o.timeout = 0.2;
    t0 = now_s();
    dlp_job *j = tu_start(p, sleepy, naps_next, &it, &o);
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        if (k == SLOW) {
            assert_fail(&r, DLP_FAIL_TIMEOUT);
            tu_assert_has(r.error, "timed out after 0.2 s");
            ck_assert_uint_eq(r.attempts, 1);
        } else {
            assert_ok(&r);
            ck_assert_int_eq(r.v.i, (int64_t)k);
        }
        k++;
    }
    assert_end(rc, &err);
    ck_assert_uint_eq(k, N);
    dlp_job_destroy(j);
    /* A bound for correctness, not speed: had the task run to its end,
     * the job would have taken 3 s. */
    double took = now_s() - t0;
    ck_assert_msg(took < 2.5,
                  "expected the job to end well before the slow task "
                  "would have (3 s), took %.2f s",
                  took);
    assert_workers(p, pid_fn, 2);
    tu_pool_end(p);
}
END_TEST

/* A timeout below a second with two decimals is kept as given. */
START_TEST(test_timeout_fraction)
{
    dlp_pool *p = tu_pool_start(1);
    int sleepy = tu_testplug(p, "sleepy");
    naps it = {1, NULL, 1000};
    dlp_job_options o;
    outcome out;
    double t0;

    dlp_job_options_init(&o);
    o.timeout = 0.05;
    t0 = now_s();
    out = run_one(p, sleepy, naps_next, &it, &o);
    ck_assert_msg(out.fail == DLP_FAIL_TIMEOUT,
                  "expected a timeout failure, got %s (%s)",
                  dlp_fail_kind_name(out.fail), out.error);
    tu_assert_has(out.error, "timed out after 0.05 s");
    ck_assert_msg(now_s() - t0 < 0.9,
                  "expected the task to be stopped before its 1 s ran "
                  "out, took %.2f s",
                  now_s() - t0);
    tu_pool_end(p);
}
END_TEST

/* ---- retries ------------------------------------------------------------ */

/* Retries cover a worker dying under a task, and nothing else: a crash is
 * retried until they run out, a crash that happens once is saved by one,
 * a plugin error and bad input never run again, and a timeout is retried
 * like a crash. */
START_TEST(test_retries)
{
    dlp_pool *p = tu_pool_start(2);
    int crash = tu_testplug(p, "crash");
    int crash_once = tu_testplug(p, "crash_once");
    int fail_odd = tu_testplug(p, "fail_odd");
    int echo = tu_testplug(p, "echo_i64");
    int sleepy = tu_testplug(p, "sleepy");
    static const int64_t minus_one[] = {-1}, one[] = {1};
    tu_ints crash_it = {1, minus_one}, odd_it = {1, one};
    naps slow_it = {1, NULL, 3000};
    dlp_job_options o;
    outcome out;
    tmpdir t;

    tmpdir_make(&t);
    dlp_job_options_init(&o);

    o.retries = 2;
    out = run_one(p, crash, tu_ints_next, &crash_it, &o);
    ck_assert_msg(out.fail == DLP_FAIL_SIGNAL,
                  "crash with 2 retries: expected a signal failure, got %s "
                  "(%s)",
                  dlp_fail_kind_name(out.fail), out.error);
    ck_assert_int_eq(out.signo, SIGSEGV);
    ck_assert_uint_eq(out.attempts, 3);
    assert_ends_with(out.error, "(after 3 attempts)");

    o.retries = 1;
    out = run_one(p, crash_once, marker_next, t.path[0], &o);
    ck_assert_msg(out.fail == DLP_FAIL_NONE,
                  "crash_once with 1 retry: expected success, got %s (%s)",
                  dlp_fail_kind_name(out.fail), out.error);
    ck_assert_int_eq(out.i, 7);
    ck_assert_uint_eq(out.attempts, 2);

    o.retries = 0;
    out = run_one(p, crash_once, marker_next, t.path[1], &o);
    ck_assert_msg(out.fail == DLP_FAIL_SIGNAL,
                  "crash_once without retries: expected a signal failure, "
                  "got %s (%s)",
                  dlp_fail_kind_name(out.fail), out.error);
    ck_assert_uint_eq(out.attempts, 1);
    ck_assert_msg(strstr(out.error, "attempts") == NULL,
                  "a task run once must not speak of attempts: '%s'",
                  out.error);

    o.retries = 5;
    out = run_one(p, fail_odd, tu_ints_next, &odd_it, &o);
    ck_assert_msg(out.fail == DLP_FAIL_PLUGIN,
                  "fail_odd with 5 retries: expected a plugin failure, got "
                  "%s (%s)",
                  dlp_fail_kind_name(out.fail), out.error);
    ck_assert_uint_eq(out.attempts, 1);
    tu_assert_has(out.error, "odd value 1");

    out = run_one(p, echo, bad_next, NULL, &o);
    ck_assert_msg(out.fail == DLP_FAIL_INPUT,
                  "bad input with 5 retries: expected an input failure, got "
                  "%s (%s)",
                  dlp_fail_kind_name(out.fail), out.error);
    ck_assert_uint_eq(out.attempts, 0);

    o.retries = 1;
    o.timeout = 0.1;
    out = run_one(p, sleepy, naps_next, &slow_it, &o);
    ck_assert_msg(out.fail == DLP_FAIL_TIMEOUT,
                  "a slow task with 1 retry: expected a timeout failure, "
                  "got %s (%s)",
                  dlp_fail_kind_name(out.fail), out.error);
    ck_assert_uint_eq(out.attempts, 2);
    tu_assert_has(out.error, "timed out after 0.1 s");
    assert_ends_with(out.error, "(after 2 attempts)");

    tmpdir_remove(&t);
    tu_pool_end(p);
}
END_TEST

/* ---- losses ------------------------------------------------------------- */

/* Kill one worker with SIGKILL while 60 tasks of 30 ms run on two; return
 * how many tasks failed (each checked), with the others checked to have
 * succeeded in order. */
static unsigned run_with_a_kill(dlp_pool *p, int sleepy, unsigned retries,
                                unsigned *retried)
{
    enum { N = 60, KILL_AFTER = 4 };
    naps it = {N, NULL, 30};
    dlp_job_options o;
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    unsigned failed = 0;
    int rc;

    dlp_job_options_init(&o);
    o.retries = retries;
    *retried = 0;
    dlp_job *j = tu_start(p, sleepy, naps_next, &it, &o);
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        if (r.fail != DLP_FAIL_NONE) {
            assert_fail(&r, DLP_FAIL_SIGNAL);
            ck_assert_int_eq(r.signo, SIGKILL);
            tu_assert_has(r.error, "killed by SIGKILL");
            failed++;
        } else {
            ck_assert_int_eq(r.v.i, (int64_t)k);
            if (r.attempts > 1)
                (*retried)++;
        }
        k++;
        if (k == KILL_AFTER) {
            /* Both workers are in the middle of the job now. */
            pid_t kids[8];
            unsigned nk = tu_children(kids, 8);
            ck_assert_uint_eq(nk, 2);
            ck_assert_int_eq(kill(kids[0], SIGKILL), 0);
        }
    }
    assert_end(rc, &err);
    ck_assert_uint_eq(k, N);
    dlp_job_destroy(j);
    return failed;
}

/* A worker killed from outside fails at most the one task it was running
 * (none, if it was between tasks), and with a retry none at all; every
 * other task comes back, in order, and the pool is whole again. */
START_TEST(test_worker_killed)
{
    dlp_pool *p = tu_pool_start(2);
    int sleepy = tu_testplug(p, "sleepy");
    int pid_fn = tu_testplug(p, "worker_pid");
    unsigned failed, retried;

    failed = run_with_a_kill(p, sleepy, 0, &retried);
    ck_assert_msg(failed <= 1,
                  "expected at most the killed worker's running task to "
                  "fail, %u failed",
                  failed);
    ck_assert_uint_eq(retried, 0);
    assert_workers(p, pid_fn, 2);

    failed = run_with_a_kill(p, sleepy, 1, &retried);
    ck_assert_msg(failed == 0,
                  "with a retry, expected no task to fail, %u failed",
                  failed);
    ck_assert_msg(retried <= 1,
                  "expected at most the killed worker's running task to "
                  "run twice, %u did",
                  retried);
    assert_workers(p, pid_fn, 2);
    tu_pool_end(p);
}
END_TEST

/* Tasks 0..n-1 for an i64 function, at most one every gap_s seconds:
 * between them the workers are idle. */
typedef struct paced {
    uint64_t n;
    double gap_s, last;
} paced;

static int paced_next(void *ud, uint64_t i, dlp_args *a)
{
    paced *s = ud;
    double t = now_s();
    if (i >= s->n)
        return 0;
    if (i > 0 && t - s->last < s->gap_s)
        return DLP_ITER_PAUSE;
    s->last = t;
    dlp_args_int(a, (int64_t)i);
    return 1;
}

/* Workers that die outside any task (idlecrash kills each one 20 ms after
 * it loads the plugin; the tasks come 10 ms apart, so the workers are
 * mostly idle when they die) are replaced only up to the restart
 * intensity: then the pool gives up with a message instead of forking in
 * a loop.  Without the limit the job would run its 1000 tasks, over 10 s,
 * replacing a worker every 10 ms. */
START_TEST(test_restart_intensity)
{
    dlp_pool_options po;
    dlp_pool *p;
    dlp_error err = {0, ""};
    double t0 = now_s();
    int fn, rc;

    dlp_pool_options_init(&po);
    po.workers = 2;
    po.restart_intensity = 5;
    po.restart_period = 1;
    p = tu_pool_start_opts(&po);
    fn = dlp_pool_fn(p, tu_ref(tu_plugin("idlecrash"), "slow"), NULL, &err);
    if (fn < 0) {
        /* The workers may die before they all answer the load. */
        ck_assert_msg(fn == DLP_EWORKER || fn == DLP_ENOPLUGIN,
                      "resolving idlecrash:slow: expected a function id, "
                      "DLP_EWORKER or DLP_ENOPLUGIN, got %d (%s): %s",
                      fn, dlp_strerror(fn), err.msg);
    } else {
        paced it = {1000, 0.010, 0};
        dlp_job *j = tu_start(p, fn, paced_next, &it, NULL);
        dlp_result r;
        uint64_t k = 0, failed = 0;
        while ((rc = dlp_job_next(j, &r, &err)) == 1) {
            ck_assert_uint_eq(r.index, k);
            failed += r.fail != DLP_FAIL_NONE;
            k++;
        }
        ck_assert_msg(rc == DLP_EWORKER,
                      "expected the job to stop with DLP_EWORKER, got %d "
                      "(%s) after %llu results (%llu failed): %s",
                      rc, dlp_strerror(rc), (unsigned long long)k,
                      (unsigned long long)failed, err.msg);
        ck_assert_int_eq(err.code, DLP_EWORKER);
        tu_assert_has(err.msg, "restart intensity");
        ck_assert_msg(k < 1000, "expected the job to stop early, after %llu "
                      "results", (unsigned long long)k);
        dlp_job_destroy(j);
    }
    double took = now_s() - t0;
    ck_assert_msg(took < 10,
                  "expected the pool to give up within seconds, took %.1f s",
                  took);
    tu_pool_end(p);
}
END_TEST

/* ---- limits ------------------------------------------------------------- */

/* With a 256 MiB address-space limit an allocation of 1 GiB fails inside
 * the task, which reports it; the worker survives and serves the next
 * task. */
START_TEST(test_memory_limit)
{
    dlp_pool_options po;
    dlp_pool *p;
    int hog, pid_fn;
    int64_t before, after;
    outcome out;

    dlp_pool_options_init(&po);
    po.workers = 1;
    po.memory_limit = 256u << 20;
    p = tu_pool_start_opts(&po);
    hog = tu_testplug(p, "hog");
    pid_fn = tu_testplug(p, "worker_pid");
    tu_run_i64(p, pid_fn, 1, NULL, &before);

    {
        static const int64_t gib[] = {(int64_t)1 << 30};
        tu_ints it = {1, gib};
        out = run_one(p, hog, tu_ints_next, &it, NULL);
        ck_assert_msg(out.fail == DLP_FAIL_PLUGIN,
                      "hog(1 GiB) under a 256 MiB limit: expected a plugin "
                      "failure, got %s (%s)",
                      dlp_fail_kind_name(out.fail), out.error);
        tu_assert_has(out.error, "cannot allocate");
    }
    {
        static const int64_t mib16[] = {(int64_t)16 << 20};
        tu_ints it = {1, mib16};
        out = run_one(p, hog, tu_ints_next, &it, NULL);
        ck_assert_msg(out.fail == DLP_FAIL_NONE,
                      "hog(16 MiB) under a 256 MiB limit: expected "
                      "success, got %s (%s)",
                      dlp_fail_kind_name(out.fail), out.error);
        ck_assert_int_eq(out.i, (int64_t)16 << 20);
    }
    tu_run_i64(p, pid_fn, 1, NULL, &after);
    ck_assert_msg(before == after,
                  "expected the worker to be kept (pid %lld), but pid %lld "
                  "answered",
                  (long long)before, (long long)after);
    tu_pool_end(p);
}
END_TEST

/* A worker leaves after 7 tasks and is replaced; no task is lost or run
 * twice by it. */
START_TEST(test_max_tasks_per_worker)
{
    enum { N = 100, MAX = 7, M = 1000 };
    dlp_pool_options po;
    dlp_pool *p;
    int pid_fn, echo;
    int64_t seen[N];
    size_t nd, most;

    dlp_pool_options_init(&po);
    po.workers = 2;
    po.max_tasks_per_worker = MAX;
    p = tu_pool_start_opts(&po);
    pid_fn = tu_testplug(p, "worker_pid");
    echo = tu_testplug(p, "echo_i64");

    tu_run_i64(p, pid_fn, N, NULL, seen);
    nd = distinct(seen, N, &most);
    ck_assert_msg(most <= MAX,
                  "expected no worker to run more than %d tasks, one ran "
                  "%zu",
                  MAX, most);
    ck_assert_msg(nd >= (N + MAX - 1) / MAX,
                  "expected at least %d workers to share %d tasks, got %zu",
                  (N + MAX - 1) / MAX, N, nd);

    {
        static int64_t vals[M];
        tu_ints it = {M, vals};
        dlp_job *j;
        dlp_result r;
        dlp_error err = {0, ""};
        uint64_t k = 0;
        int rc;
        for (unsigned i = 0; i < M; i++)
            vals[i] = (int64_t)i * 1000003 - 500000000;
        j = tu_start(p, echo, tu_ints_next, &it, NULL);
        while ((rc = dlp_job_next(j, &r, &err)) == 1) {
            ck_assert_msg(k < M, "expected %d results, got more", M);
            ck_assert_uint_eq(r.index, k);
            assert_ok(&r);
            ck_assert_uint_eq(r.attempts, 1);
            ck_assert_int_eq(r.v.i, vals[k]);
            k++;
        }
        assert_end(rc, &err);
        ck_assert_uint_eq(k, M);
        dlp_job_destroy(j);
    }
    tu_pool_end(p);
}
END_TEST

/* 100 MiB of bytes as an argument. */
typedef struct blob {
    const unsigned char *p;
    size_t len;
} blob;

static int blob_next(void *ud, uint64_t i, dlp_args *a)
{
    blob *b = ud;
    if (i >= 1)
        return 0;
    dlp_args_bytes(a, b->p, b->len);
    return 1;
}

/* A 100 MiB argument and a 100 MiB result cross the channel whole. */
START_TEST(test_huge_values)
{
    const size_t n = (size_t)100 << 20;
    dlp_pool *p = tu_pool_start(1);
    int length = tu_resolve(p, tu_examples(), "length", NULL);
    int big = tu_testplug(p, "big_str");
    dlp_result r;
    dlp_error err = {0, ""};
    dlp_job *j;
    int rc;

    {
        unsigned char *buf = malloc(n);
        blob b = {buf, n};
        ck_assert_ptr_nonnull(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)(i * 7);
        j = tu_start(p, length, blob_next, &b, NULL);
        rc = dlp_job_next(j, &r, &err);
        ck_assert_msg(rc == 1, "length: expected a result, got %d (%s): %s",
                      rc, dlp_strerror(rc), err.msg);
        assert_ok(&r);
        ck_assert_uint_eq(r.v.u, n);
        rc = dlp_job_next(j, &r, &err);
        assert_end(rc, &err);
        dlp_job_destroy(j);
        free(buf);
    }
    {
        static const int64_t size[] = {(int64_t)100 << 20};
        tu_ints it = {1, size};
        j = tu_start(p, big, tu_ints_next, &it, NULL);
        rc = dlp_job_next(j, &r, &err);
        ck_assert_msg(rc == 1, "big_str: expected a result, got %d (%s): %s",
                      rc, dlp_strerror(rc), err.msg);
        assert_ok(&r);
        ck_assert_uint_eq(r.v.s.len, n);
        ck_assert_int_eq(r.v.s.ptr[0], 'x');
        ck_assert_int_eq(r.v.s.ptr[n / 2], 'x');
        ck_assert_int_eq(r.v.s.ptr[n - 1], 'x');
        ck_assert_int_eq(r.v.s.ptr[n], 0);
        for (size_t i = 0; i < n; i += 4093)
            ck_assert_msg(r.v.s.ptr[i] == 'x',
                          "byte %zu of the result: expected 'x', got %#x", i,
                          (unsigned)(unsigned char)r.v.s.ptr[i]);
        rc = dlp_job_next(j, &r, &err);
        assert_end(rc, &err);
        dlp_job_destroy(j);
    }
    tu_pool_end(p);
}
END_TEST

/* ---- hygiene ------------------------------------------------------------ */

/* Descriptors below the limit a program may use (a tool running the test,
 * such as valgrind, keeps its own above it) open in process pid. */
static int fds_of(pid_t pid)
{
    char dir[64];
    DIR *d;
    struct dirent *e;
    struct rlimit lim;
    int n = 0;
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot list %s: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        long fd;
        if (e->d_name[0] == '.')
            continue;
        fd = atol(e->d_name);
        if (lim.rlim_cur != RLIM_INFINITY && (rlim_t)fd >= lim.rlim_cur)
            continue;
        n++;
    }
    closedir(d);
    return n - (pid == getpid()); /* our own listing's descriptor */
}

/* Run open_fds over n tasks; each worker must hold 0, 1, 2 and its
 * channel, nothing more. */
static void assert_fds_in_tasks(dlp_pool *p, int open_fds, uint64_t n,
                                const char *when)
{
    tu_ints it = {n, NULL};
    dlp_job *j = tu_start(p, open_fds, tu_ints_next, &it, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    int rc;
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        assert_ok(&r);
        ck_assert_msg(r.v.i == 4,
                      "%s: task %llu: expected the worker to hold 4 "
                      "descriptors (0, 1, 2, its channel), it holds %lld",
                      when, (unsigned long long)k, (long long)r.v.i);
        k++;
    }
    assert_end(rc, &err);
    ck_assert_uint_eq(k, n);
    dlp_job_destroy(j);
}

/* Every live worker, looked at from outside, holds 4 descriptors.  A
 * worker forked a moment ago may not have closed what it inherited yet:
 * give each up to 2 s to settle (one that leaks never does). */
static void assert_fds_of_workers(unsigned want, const char *when)
{
    pid_t kids[16];
    unsigned nk = tu_children(kids, 16);
    ck_assert_msg(nk == want, "%s: expected %u live workers, found %u", when,
                  want, nk);
    for (unsigned i = 0; i < nk; i++) {
        int n = fds_of(kids[i]);
        for (int tries = 0; n != 4 && tries < 200; tries++) {
            nap_ms(10);
            n = fds_of(kids[i]);
        }
        ck_assert_msg(n == 4,
                      "%s: worker %d holds %d descriptors, expected 4 (0, 1, "
                      "2, its channel)",
                      when, (int)kids[i], n);
    }
}

/* exit() in a task ends its worker at once: the program's atexit
 * handlers (copied by fork) do not run in the worker. */
static char exit_marker[64];
static pid_t exit_test_pid;

static void mark_if_worker(void)
{
    if (getpid() != exit_test_pid) {
        int fd = open(exit_marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
}

START_TEST(test_exit_skips_program_handlers)
{
    int fds = tu_fd_count();
    static const int64_t exit3[] = {-3, 4};
    tu_ints it = {2, exit3};
    dlp_result r;

    /* Registered before the pool forks its workers, as a program's are. */
    exit_test_pid = getpid();
    snprintf(exit_marker, sizeof exit_marker, "/tmp/dlpool-exit-%d",
             (int)exit_test_pid);
    unlink(exit_marker);
    ck_assert_int_eq(atexit(mark_if_worker), 0);
    dlp_pool *p = tu_pool_with(1);
    int crash = tu_testplug(p, "crash");
    dlp_job *j = tu_start(p, crash, tu_ints_next, &it, NULL);
    ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
    ck_assert_msg(r.fail == DLP_FAIL_EXIT && r.exit_status == 3,
                  "exit(3) in a task: expected an exit failure with status "
                  "3, got %s (status %d): %s",
                  dlp_fail_kind_name(r.fail), r.exit_status, r.error);
    ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
    ck_assert_int_eq(r.v.i, 4);
    dlp_job_destroy(j);
    dlp_pool_destroy(p);
    ck_assert_msg(access(exit_marker, F_OK) != 0,
                  "exit() in a task: expected the program's atexit handler "
                  "not to run in the worker, but it did (it made %s)",
                  exit_marker);
    tu_assert_clean(fds);
}
END_TEST

/* Every worker holds 0, 1, 2 and its channel and nothing else: the first
 * ones, their replacements after crashes, and while two jobs share them,
 * looked at from inside a task and from /proc. */
START_TEST(test_worker_descriptors)
{
    enum { W = 3 };
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(W);
    int open_fds = tu_testplug(p, "open_fds");
    int crash = tu_testplug(p, "crash");
    int sleepy = tu_testplug(p, "sleepy");
    static const int64_t crashes[] = {-1, 1, -1, 3, -2, 5};
    tu_ints crash_it = {6, crashes};
    naps slow_it = {40, NULL, 5};
    dlp_job *slow;
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    int rc;

    /* A second plugin in every worker: a descriptor kept by loading it
     * would show. */
    (void)tu_resolve(p, tu_examples(), "add", NULL);
    assert_fds_in_tasks(p, open_fds, 50, "fresh workers");
    assert_fds_of_workers(W, "fresh workers");

    /* Three crashes: three workers replaced. */
    {
        dlp_job *j = tu_start(p, crash, tu_ints_next, &crash_it, NULL);
        while ((rc = dlp_job_next(j, &r, &err)) == 1)
            ck_assert_msg((r.fail != DLP_FAIL_NONE) == (crashes[r.index] < 0),
                          "crash task %llu: unexpected outcome %s (%s)",
                          (unsigned long long)r.index,
                          dlp_fail_kind_name(r.fail), r.error);
        assert_end(rc, &err);
        dlp_job_destroy(j);
    }
    assert_fds_of_workers(W, "after workers were replaced");
    assert_fds_in_tasks(p, open_fds, 50, "after workers were replaced");

    /* A second job open at the same time, with tasks in flight. */
    slow = tu_start(p, sleepy, naps_next, &slow_it, NULL);
    rc = dlp_job_next(slow, &r, &err);
    ck_assert_msg(rc == 1, "sleepy: expected a result, got %d (%s): %s", rc,
                  dlp_strerror(rc), err.msg);
    assert_ok(&r);
    k = 1;
    assert_fds_in_tasks(p, open_fds, 50, "with two jobs open");
    assert_fds_of_workers(W, "with two jobs open");
    while ((rc = dlp_job_next(slow, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        assert_ok(&r);
        k++;
    }
    assert_end(rc, &err);
    ck_assert_uint_eq(k, 40);
    dlp_job_destroy(slow);

    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* With workers recycled every 3 tasks, every task runs in a new worker
 * soon, and each holds only its own channel. */
START_TEST(test_recycled_worker_descriptors)
{
    int fds = tu_fd_count();
    dlp_pool_options po;
    dlp_pool *p;
    int open_fds;

    dlp_pool_options_init(&po);
    po.workers = 3;
    po.max_tasks_per_worker = 3;
    p = tu_pool_opts(&po);
    open_fds = tu_testplug(p, "open_fds");
    (void)tu_testplug(p, "echo_i64");
    assert_fds_in_tasks(p, open_fds, 60, "workers recycled every 3 tasks");
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* ---- control ------------------------------------------------------------ */

typedef struct interrupter {
    dlp_pool *pool;
    long after_ms;
} interrupter;

static void *interrupt_later(void *arg)
{
    interrupter *x = arg;
    nap_ms(x->after_ms);
    dlp_pool_interrupt(x->pool);
    return NULL;
}

/* dlp_pool_interrupt wakes a thread waiting in dlp_job_next with -EINTR;
 * what finished meanwhile is read with dlp_job_poll; the job then goes on
 * to its end, every result handed out once, in order. */
START_TEST(test_interrupt_wait)
{
    enum { N = 6 };
    dlp_pool *p = tu_pool_start(2);
    int sleepy = tu_testplug(p, "sleepy");
    naps it = {N, NULL, 300};
    interrupter x = {p, 50};
    pthread_t t;
    dlp_result r;
    dlp_error err = {0, ""};
    dlp_job_counts c;
    uint64_t k = 0;
    int rc;

    dlp_job *j = tu_start(p, sleepy, naps_next, &it, NULL);
    ck_assert_int_eq(pthread_create(&t, NULL, interrupt_later, &x), 0);
    rc = dlp_job_next(j, &r, &err);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_msg(rc == -EINTR,
                  "expected dlp_job_next to be interrupted (-EINTR), got %d "
                  "(%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_int_eq(err.code, -EINTR);
    ck_assert_msg(err.msg[0] != 0, "expected a message with -EINTR");
    dlp_job_counts_get(j, &c);
    ck_assert_uint_eq(c.delivered, 0);

    /* The first tasks take 300 ms: nothing is ready yet. */
    rc = dlp_job_poll(j, &r, &err);
    ck_assert_msg(rc == -EAGAIN || rc == 1,
                  "dlp_job_poll: expected -EAGAIN or a result, got %d (%s): "
                  "%s",
                  rc, dlp_strerror(rc), err.msg);
    if (rc == -EAGAIN) {
        ck_assert_int_eq(err.code, -EAGAIN);
        /* Wait for the first result to be ready, then poll for it. */
        for (int tries = 0; tries < 200 && rc == -EAGAIN; tries++) {
            nap_ms(10);
            rc = dlp_job_poll(j, &r, &err);
        }
    }
    ck_assert_msg(rc == 1,
                  "dlp_job_poll: expected the first result within 2 s, got "
                  "%d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(r.index, 0);
    assert_ok(&r);
    ck_assert_int_eq(r.v.i, 0);
    k = 1;
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        assert_ok(&r);
        ck_assert_int_eq(r.v.i, (int64_t)k);
        k++;
    }
    assert_end(rc, &err);
    ck_assert_uint_eq(k, N);
    /* At the end, polling says so too. */
    rc = dlp_job_poll(j, &r, &err);
    ck_assert_msg(rc == 0, "dlp_job_poll at the end: expected 0, got %d (%s)",
                  rc, dlp_strerror(rc));
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* A job's counts follow the results handed out, and the window bounds how
 * far the iterator runs ahead. */
START_TEST(test_job_counts)
{
    enum { N = 300, WINDOW = 16 };
    dlp_pool *p = tu_pool_start(2);
    int echo = tu_testplug(p, "echo_i64");
    tu_ints it = {N, NULL};
    dlp_job_options o;
    dlp_job_counts c;
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    int rc;

    dlp_job_options_init(&o);
    o.window = WINDOW;
    dlp_job *j = tu_start(p, echo, tu_ints_next, &it, &o);
    dlp_job_counts_get(j, &c);
    ck_assert_uint_eq(c.pulled, 0);
    ck_assert_uint_eq(c.delivered, 0);
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        assert_ok(&r);
        k++;
        dlp_job_counts_get(j, &c);
        ck_assert_uint_eq(c.delivered, k);
        ck_assert_msg(c.pulled >= c.delivered,
                      "expected pulled (%llu) >= delivered (%llu)",
                      (unsigned long long)c.pulled,
                      (unsigned long long)c.delivered);
        /* Before the first result came back, the job had sent a task
         * ahead to each worker at least. */
        ck_assert_msg(k > 1 || c.pulled >= 2,
                      "expected the job to run ahead of the first result, "
                      "pulled %llu",
                      (unsigned long long)c.pulled);
        ck_assert_msg(c.pulled - c.delivered <= WINDOW,
                      "expected at most %d tasks in flight, pulled %llu and "
                      "delivered %llu",
                      WINDOW, (unsigned long long)c.pulled,
                      (unsigned long long)c.delivered);
    }
    assert_end(rc, &err);
    ck_assert_uint_eq(k, N);
    dlp_job_counts_get(j, &c);
    ck_assert_uint_eq(c.pulled, N);
    ck_assert_uint_eq(c.delivered, N);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- names -------------------------------------------------------------- */

START_TEST(test_fail_kind_names)
{
    static const struct {
        dlp_fail_kind kind;
        const char *name;
    } table[] = {
        {DLP_FAIL_NONE, "ok"},       {DLP_FAIL_PLUGIN, "plugin"},
        {DLP_FAIL_INPUT, "input"},   {DLP_FAIL_SIGNAL, "signal"},
        {DLP_FAIL_EXIT, "exit"},     {DLP_FAIL_RESULT, "result"},
        {DLP_FAIL_WORKER, "worker"}, {DLP_FAIL_TIMEOUT, "timeout"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        ck_assert_str_eq(dlp_fail_kind_name(table[i].kind), table[i].name);
    ck_assert_str_eq(dlp_fail_kind_name((dlp_fail_kind)99), "unknown");
}
END_TEST

/* ---- the suite ---------------------------------------------------------- */

/* RLIMIT_AS and AddressSanitizer do not mix: ASan reserves terabytes of
 * shadow memory and dies at its first mapping under the limit.  make check
 * exports the sanitizer flags of the build. */
static int sanitized(void)
{
    const char *s = getenv("SAN_CFLAGS");
    return s && *s;
}

Suite *dlp_test_faults(void);

Suite *dlp_test_faults(void)
{
    Suite *s = suite_create("faults");
    TCase *tc;

    tc = tcase_create("timeouts");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_timeout_fails_only_the_slow_task);
    tcase_add_test(tc, test_timeout_fraction);
    suite_add_tcase(s, tc);

    tc = tcase_create("retries");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_retries);
    suite_add_tcase(s, tc);

    tc = tcase_create("losses");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_worker_killed);
    tcase_add_test(tc, test_exit_skips_program_handlers);
    tcase_add_test(tc, test_restart_intensity);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 30);
    if (sanitized())
        printf("faults: skipping test_memory_limit: RLIMIT_AS cannot be "
               "used with AddressSanitizer (SAN_CFLAGS='%s')\n",
               getenv("SAN_CFLAGS"));
    else
        tcase_add_test(tc, test_memory_limit);
    tcase_add_test(tc, test_max_tasks_per_worker);
    tcase_add_test(tc, test_huge_values);
    suite_add_tcase(s, tc);

    tc = tcase_create("hygiene");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_worker_descriptors);
    tcase_add_test(tc, test_recycled_worker_descriptors);
    suite_add_tcase(s, tc);

    tc = tcase_create("control");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_interrupt_wait);
    tcase_add_test(tc, test_job_counts);
    suite_add_tcase(s, tc);

    tc = tcase_create("names");
    tcase_add_test(tc, test_fail_kind_names);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(dlp_test_faults)
