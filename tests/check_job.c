/*
 * check_job.c - jobs end to end with real worker processes: results in
 * input order (or as they finish), the reorder window, iterators and their
 * errors, bad input, every result type, and several jobs on one pool.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#include "common.h" /* DLP_FRAME_MAX */

/* ---- fixtures -------------------------------------------------------- */

/* Take the next result, which must exist and succeed. */
static void next_ok(dlp_job *j, dlp_result *r)
{
    dlp_error err = {0, ""};
    int rc = dlp_job_next(j, r, &err);
    ck_assert_msg(rc == 1, "dlp_job_next: expected a result, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_msg(r->fail == DLP_FAIL_NONE,
                  "task %llu: expected success, got failure %d: %s",
                  (unsigned long long)r->index, (int)r->fail, r->error);
}

/* The job must be over: dlp_job_next returns 0, and again 0. */
static void assert_end(dlp_job *j)
{
    dlp_result r;
    dlp_error err = {0, ""};
    for (int k = 0; k < 2; k++) {
        int rc = dlp_job_next(j, &r, &err);
        ck_assert_msg(rc == 0,
                      "dlp_job_next: expected 0 (no more results), got %d "
                      "(%s): %s",
                      rc, dlp_strerror(rc), err.msg);
    }
}

/* The sleepy iterator: task i sleeps ms(i) milliseconds and returns
 * i * 10 + 1.  It also records how far ahead of the reader it was asked
 * to go. */
typedef struct sleepy_it {
    uint64_t n;
    unsigned mod; /* ms = (7 * i) % mod */
    unsigned window; /* 0: do not check how far ahead */
    uint64_t handed;  /* results handed out so far, kept by the reader */
    uint64_t highest; /* highest index asked for, + 1 (0: none yet) */
    uint64_t too_far; /* first index asked for too far ahead, + 1 */
} sleepy_it;

static int64_t sleepy_value(uint64_t i)
{
    return (int64_t)i * 10 + 1;
}

static int sleepy_next(void *ud, uint64_t i, dlp_args *a)
{
    sleepy_it *s = ud;
    if (i + 1 > s->highest)
        s->highest = i + 1;
    if (s->window && i >= s->handed + s->window && !s->too_far)
        s->too_far = i + 1;
    if (i >= s->n)
        return 0;
    dlp_args_int(a, (int64_t)((7 * i) % s->mod));
    dlp_args_int(a, sleepy_value(i));
    return 1;
}

/* Tasks 0..n-1 with one i64 argument i + base (for echo_i64), or none. */
typedef struct count_it {
    uint64_t n;
    int64_t base;
    uint64_t calls;
} count_it;

static int count_next(void *ud, uint64_t i, dlp_args *a)
{
    count_it *c = ud;
    c->calls++;
    if (i >= c->n)
        return 0;
    if (dlp_args_next_type(a) != DLP_T_VOID)
        dlp_args_int(a, (int64_t)i + c->base);
    return 1;
}

/* ---- core: order ------------------------------------------------------ */

/* Task durations vary (0..12 ms, not monotonic in i), so on four workers
 * results finish out of order; they must still come back in input order
 * with their own values. */
START_TEST(test_ordered)
{
    dlp_pool *p = tu_pool_start(4);
    int fn = tu_testplug(p, "sleepy");
    sleepy_it it = {.n = 60, .mod = 13};
    dlp_job *j = tu_start(p, fn, sleepy_next, &it, NULL);
    dlp_result r;

    for (uint64_t i = 0; i < it.n; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.type, DLP_T_I64);
        ck_assert_int_eq(r.v.i, sleepy_value(i));
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* DLP_JOB_TIMES: each result says when its task started (within the
 * run's wall-clock window) and how long it ran (at least its sleep); a
 * task that killed its worker is timed to the worker's death; a job that
 * did not ask gets zeros. */
START_TEST(test_times)
{
    dlp_pool *p = tu_pool_start(2);
    int sleepy = tu_testplug(p, "sleepy"), crash = tu_testplug(p, "crash");
    static const int64_t minus_one[] = {-1};
    tu_ints crash_it = {1, minus_one};
    dlp_job_options o;
    dlp_result r;
    dlp_job *j;

    for (int timed = 1; timed >= 0; timed--) {
        sleepy_it it = {.n = 6, .mod = 13};
        double before = tu_wall_now(), after;
        dlp_job_options_init(&o);
        o.flags = timed ? DLP_JOB_TIMES : 0;
        j = tu_start(p, sleepy, sleepy_next, &it, &o);
        double starts[6], runs[6];
        for (uint64_t i = 0; i < it.n; i++) {
            next_ok(j, &r);
            starts[i] = r.start;
            runs[i] = r.run_time;
        }
        assert_end(j);
        dlp_job_destroy(j);
        after = tu_wall_now();
        for (uint64_t i = 0; i < it.n; i++) {
            double ms = (double)((7 * i) % it.mod);
            if (!timed) {
                ck_assert_msg(starts[i] == 0 && runs[i] == 0,
                              "task %" PRIu64 " without DLP_JOB_TIMES: "
                              "expected start 0 and run time 0, got %.6f "
                              "and %.6f",
                              i, starts[i], runs[i]);
                continue;
            }
            ck_assert_msg(starts[i] >= before - 0.001 &&
                              starts[i] + runs[i] <= after + 0.001,
                          "task %" PRIu64 ": expected to run within "
                          "[%.6f, %.6f], got start %.6f run %.6f",
                          i, before, after, starts[i], runs[i]);
            ck_assert_msg(runs[i] >= ms / 1000 - 0.0005,
                          "task %" PRIu64 " sleeps %.0f ms: expected a run "
                          "time of at least that, got %.6f s",
                          i, ms, runs[i]);
        }
    }

    double before = tu_wall_now();
    dlp_job_options_init(&o);
    o.flags = DLP_JOB_TIMES;
    j = tu_start(p, crash, tu_ints_next, &crash_it, &o);
    ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
    double after = tu_wall_now();
    ck_assert_int_eq(r.fail, DLP_FAIL_SIGNAL);
    ck_assert_msg(r.start >= before - 0.001 &&
                      r.start + r.run_time <= after + 0.001 &&
                      r.run_time >= 0,
                  "a crashed task: expected its time within [%.6f, %.6f], "
                  "got start %.6f run %.6f",
                  before, after, r.start, r.run_time);
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* Unordered: every index exactly once, each with its own value. */
START_TEST(test_unordered)
{
    enum { N = 60 };
    dlp_pool *p = tu_pool_start(4);
    int fn = tu_testplug(p, "sleepy");
    sleepy_it it = {.n = N, .mod = 13};
    dlp_job_options o;
    dlp_job *j;
    unsigned seen[N] = {0};
    dlp_result r;

    dlp_job_options_init(&o);
    o.flags = DLP_JOB_UNORDERED;
    j = tu_start(p, fn, sleepy_next, &it, &o);

    for (unsigned k = 0; k < N; k++) {
        next_ok(j, &r);
        ck_assert_msg(r.index < N, "index %llu is out of range",
                      (unsigned long long)r.index);
        ck_assert_msg(seen[r.index] == 0, "index %llu handed out twice",
                      (unsigned long long)r.index);
        seen[r.index]++;
        ck_assert_int_eq(r.v.i, sleepy_value(r.index));
    }
    assert_end(j);
    for (unsigned i = 0; i < N; i++)
        ck_assert_msg(seen[i] == 1, "index %u: handed out %u times", i,
                      seen[i]);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* A window of 4 over many tasks: the job completes (in order, or with
 * every index once), and the iterator is never asked for task i before
 * i - window + 1 results were handed out, so at most `window` tasks are
 * in flight. */
static const unsigned window_flags[] = {0, DLP_JOB_UNORDERED};

START_TEST(test_small_window)
{
    enum { N = 400, W = 4 };
    dlp_pool *p = tu_pool_start(3);
    int fn = tu_testplug(p, "sleepy");
    sleepy_it it = {.n = N, .mod = 3, .window = W};
    dlp_job_options o;
    dlp_job *j;
    static unsigned char seen[N];
    dlp_result r;

    dlp_job_options_init(&o);
    o.flags = window_flags[_i];
    o.window = W;
    j = tu_start(p, fn, sleepy_next, &it, &o);
    memset(seen, 0, sizeof seen);
    for (uint64_t k = 0; k < N; k++) {
        next_ok(j, &r);
        /* k results were handed out before this call. */
        ck_assert_msg(it.highest <= k + W,
                      "after %llu results the iterator was asked for task "
                      "%llu, more than %d ahead",
                      (unsigned long long)k,
                      (unsigned long long)(it.highest - 1), W);
        if (!window_flags[_i])
            ck_assert_uint_eq(r.index, k);
        ck_assert_msg(r.index < N && !seen[r.index],
                      "index %llu out of range or handed out twice",
                      (unsigned long long)r.index);
        seen[r.index] = 1;
        ck_assert_int_eq(r.v.i, sleepy_value(r.index));
        it.handed = k + 1;
    }
    assert_end(j);
    ck_assert_msg(it.too_far == 0,
                  "the iterator was asked for task %llu with only %llu "
                  "results handed out",
                  (unsigned long long)(it.too_far - 1),
                  (unsigned long long)it.handed);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* The seed's calculator at scale: 100,000 tiny add tasks. */
static int add_next(void *ud, uint64_t i, dlp_args *a)
{
    if (i >= *(uint64_t *)ud)
        return 0;
    dlp_args_int(a, (int64_t)i);
    dlp_args_int(a, 7 - 2 * (int64_t)i);
    return 1;
}

START_TEST(test_many_tiny_tasks)
{
    uint64_t n = 100000;
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_resolve(p, tu_examples(), "add", NULL);
    dlp_job *j = tu_start(p, fn, add_next, &n, NULL);
    dlp_result r;
    int64_t sum = 0;

    for (uint64_t i = 0; i < n; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.v.i, 7 - (int64_t)i);
        sum += r.v.i;
    }
    ck_assert_int_eq(sum, 7 * (int64_t)n - (int64_t)(n * (n - 1) / 2));
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- core: iterators -------------------------------------------------- */

START_TEST(test_empty_job)
{
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, "echo_i64");
    count_it it = {0, 0, 0};
    dlp_job *j = tu_start(p, fn, count_next, &it, NULL);

    assert_end(j);
    ck_assert_msg(it.calls == 1,
                  "expected the iterator to be asked once, got %llu calls",
                  (unsigned long long)it.calls);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* An iterator that fails at task `at` (after `at` good tasks). */
typedef struct failing_it {
    uint64_t at;
    int code;
} failing_it;

static int failing_next(void *ud, uint64_t i, dlp_args *a)
{
    failing_it *f = ud;
    if (i == f->at)
        return f->code;
    dlp_args_int(a, (int64_t)i);
    return 1;
}

static const uint64_t fail_at[] = {0, 5, 300};

START_TEST(test_iterator_error)
{
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, "echo_i64");
    failing_it it = {fail_at[_i], -EIO};
    dlp_job *j = tu_start(p, fn, failing_next, &it, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    int rc;

    /* Results of the good tasks may come first, in order; then the
     * iterator's code. */
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        ck_assert_msg(r.fail == DLP_FAIL_NONE, "task %llu failed: %s",
                      (unsigned long long)k, r.error);
        ck_assert_int_eq(r.v.i, (int64_t)k);
        k++;
    }
    ck_assert_msg(rc == -EIO,
                  "expected the iterator's -EIO, got %d (%s) after %llu "
                  "results: %s",
                  rc, dlp_strerror(rc), (unsigned long long)k, err.msg);
    ck_assert_int_eq(err.code, -EIO);
    ck_assert_msg(err.msg[0] != 0, "expected a message with the error");
    tu_assert_has(err.msg, dlp_strerror(-EIO));
    ck_assert_uint_le(k, fail_at[_i]);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- core: pausing iterators ----------------------------------------- */

/* A stream that arrives one line at a time: the iterator reads numbers
 * from a non-blocking pipe and pauses when no whole line is there. */
typedef struct stream_it {
    int fd;
    char buf[64];
    size_t len;
    uint64_t pauses;
    int eof;
} stream_it;

static int stream_next(void *ud, uint64_t i, dlp_args *a)
{
    stream_it *st = ud;
    (void)i;
    for (;;) {
        char *nl = memchr(st->buf, '\n', st->len);
        ssize_t r;
        if (nl) {
            long long v = strtoll(st->buf, NULL, 10);
            size_t used = (size_t)(nl - st->buf) + 1;
            memmove(st->buf, nl + 1, st->len - used);
            st->len -= used;
            dlp_args_int(a, v);
            return 1;
        }
        if (st->eof)
            return 0;
        r = read(st->fd, st->buf + st->len, sizeof st->buf - st->len);
        if (r > 0) {
            st->len += (size_t)r;
        } else if (r == 0) {
            st->eof = 1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            st->pauses++;
            return DLP_ITER_PAUSE;
        } else if (errno != EINTR) {
            return -errno;
        }
    }
}

/* Lock-step: line k is written only after result k-1 was handed out, so
 * the job must send the task it holds and hand its result out while the
 * iterator is paused; a job that waited for more input would hang. */
START_TEST(test_pause_wait_fd)
{
    enum { N = 40 };
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, "echo_i64");
    stream_it st;
    dlp_job_options o;
    dlp_job *j;
    dlp_result r;
    int pfd[2];

    ck_assert_int_eq(pipe(pfd), 0);
    ck_assert_int_eq(fcntl(pfd[0], F_SETFL, O_NONBLOCK), 0);
    memset(&st, 0, sizeof st);
    st.fd = pfd[0];
    dlp_job_options_init(&o);
    o.flags = DLP_JOB_WAIT_FD;
    o.wait_fd = pfd[0];
    j = tu_start(p, fn, stream_next, &st, &o);
    for (uint64_t i = 0; i < N; i++) {
        char line[32];
        int n = snprintf(line, sizeof line, "%llu\n",
                         (unsigned long long)(i * 3));
        ck_assert_int_eq(write(pfd[1], line, (size_t)n), n);
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.v.i, (int64_t)(i * 3));
    }
    /* The iterator was asked for task i + 1 before line i + 1 existed. */
    ck_assert_uint_ge(st.pauses, N);
    close(pfd[1]);
    assert_end(j);
    dlp_job_destroy(j);
    close(pfd[0]);
    tu_pool_end(p);
}
END_TEST

/* Without a descriptor to wait on, a paused iterator is simply asked
 * again: every task still arrives once and in order. */
typedef struct coy_it {
    uint64_t n, pauses, asked_for;
    int paused_this; /* the last call for asked_for paused */
} coy_it;

static int coy_next(void *ud, uint64_t i, dlp_args *a)
{
    coy_it *c = ud;
    if (i != c->asked_for) {
        c->asked_for = i;
        c->paused_this = 0;
    }
    if (!c->paused_this) {
        c->paused_this = 1;
        c->pauses++;
        return DLP_ITER_PAUSE;
    }
    if (i >= c->n)
        return 0;
    dlp_args_int(a, (int64_t)i + 1);
    return 1;
}

START_TEST(test_pause_no_fd)
{
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, "echo_i64");
    coy_it c = {200, 0, UINT64_MAX, 0};
    dlp_job *j = tu_start(p, fn, coy_next, &c, NULL);
    dlp_result r;

    for (uint64_t i = 0; i < c.n; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.v.i, (int64_t)i + 1);
    }
    assert_end(j);
    ck_assert_uint_eq(c.pauses, c.n + 1);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- errors: bad input ------------------------------------------------ */

enum {
    BAD_RANGE_I8,
    BAD_NEGATIVE_U8,
    BAD_UINT_I64,
    BAD_F32_RANGE,
    BAD_NUL,
    BAD_FEW,
    BAD_MANY,
    BAD_STR_FOR_I64,
    BAD_DOUBLE_FOR_I64,
    BAD_BOOL_FOR_STR,
    BAD_FAIL
};

static const struct bad_case {
    const char *symbol;
    int what;
    const char *part1, *part2; /* the message names these */
} bad_cases[] = {
    {"echo_i8", BAD_RANGE_I8, "argument 1 (i8)", "300"},
    {"echo_u8", BAD_NEGATIVE_U8, "argument 1 (u8)", "-1"},
    {"echo_i64", BAD_UINT_I64, "argument 1 (i64)", "18446744073709551615"},
    {"echo_f32", BAD_F32_RANGE, "argument 1 (f32)", "out of range"},
    {"echo_str", BAD_NUL, "argument 1 (str)", "NUL"},
    {"sleepy", BAD_FEW, "expected 2 arguments", "got 1"},
    {"sleepy", BAD_MANY, "too many arguments", "2"},
    {"echo_i64", BAD_STR_FOR_I64, "argument 1 (i64)", "string"},
    {"echo_i64", BAD_DOUBLE_FOR_I64, "argument 1 (i64)", "2.5"},
    {"echo_str", BAD_BOOL_FOR_STR, "argument 1 (str)", "true"},
    {"echo_i64", BAD_FAIL, "record 3 is unreadable", "record 3"},
};

/* Every third task (0, 3, 6) is bad in the case's way; the others are
 * good: an argument whose value is the task's index. */
typedef struct bad_it {
    const struct bad_case *c;
    uint64_t n;
    int bad_rc; /* a failing dlp_args_* call's return, if not DLP_EINVAL */
} bad_it;

static int bad_next(void *ud, uint64_t i, dlp_args *a)
{
    bad_it *b = ud;
    int rc = DLP_EINVAL;
    if (i >= b->n)
        return 0;
    if (i % 3) {
        if (dlp_args_next_type(a) == DLP_T_STR)
            dlp_args_str(a, "ok", 2);
        else if (b->c->what == BAD_FEW || b->c->what == BAD_MANY) {
            dlp_args_int(a, 0);
            dlp_args_int(a, (int64_t)i);
        } else
            dlp_args_int(a, (int64_t)i);
        return 1;
    }
    switch (b->c->what) {
    case BAD_RANGE_I8:
        rc = dlp_args_int(a, 300);
        break;
    case BAD_NEGATIVE_U8:
        rc = dlp_args_int(a, -1);
        break;
    case BAD_UINT_I64:
        rc = dlp_args_uint(a, UINT64_MAX);
        break;
    case BAD_F32_RANGE:
        rc = dlp_args_double(a, 1e300);
        break;
    case BAD_NUL:
        rc = dlp_args_str(a, "ab\0c", 4);
        break;
    case BAD_FEW:
        /* No call fails: the job notices the missing argument. */
        rc = dlp_args_int(a, 0) == 0 ? DLP_EINVAL : -1;
        break;
    case BAD_MANY:
        dlp_args_int(a, 0);
        dlp_args_int(a, (int64_t)i);
        rc = dlp_args_int(a, 99);
        break;
    case BAD_STR_FOR_I64:
        rc = dlp_args_str(a, "12", 2);
        break;
    case BAD_DOUBLE_FOR_I64:
        rc = dlp_args_double(a, 2.5);
        break;
    case BAD_BOOL_FOR_STR:
        rc = dlp_args_bool(a, true);
        break;
    case BAD_FAIL:
        rc = dlp_args_fail(a, "record %d is unreadable", 3);
        /* Arguments given after the failure change nothing. */
        dlp_args_int(a, 1);
        break;
    }
    if (rc != DLP_EINVAL && !b->bad_rc)
        b->bad_rc = rc ? rc : 1;
    return 1;
}

START_TEST(test_bad_input)
{
    const struct bad_case *c = &bad_cases[_i];
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, c->symbol);
    bad_it it = {c, 8, 0};
    dlp_job *j = tu_start(p, fn, bad_next, &it, NULL);
    dlp_result r;
    dlp_error err = {0, ""};

    for (uint64_t i = 0; i < it.n; i++) {
        int rc = dlp_job_next(j, &r, &err);
        ck_assert_msg(rc == 1,
                      "%s: expected a result, got %d (%s): %s", c->symbol,
                      rc, dlp_strerror(rc), err.msg);
        ck_assert_uint_eq(r.index, i);
        if (i % 3 == 0) {
            ck_assert_msg(r.fail == DLP_FAIL_INPUT,
                          "%s, task %llu: expected DLP_FAIL_INPUT, got %d",
                          c->symbol, (unsigned long long)i, (int)r.fail);
            tu_assert_has(r.error, c->part1);
            tu_assert_has(r.error, c->part2);
        } else {
            ck_assert_msg(r.fail == DLP_FAIL_NONE,
                          "%s, task %llu: expected success, got failure %d: "
                          "%s",
                          c->symbol, (unsigned long long)i, (int)r.fail,
                          r.error);
            if (r.type == DLP_T_STR)
                ck_assert_str_eq(r.v.s.ptr, "ok");
            else if (r.type == DLP_T_F32)
                ck_assert_double_eq(r.v.f, (double)i);
            else if (r.type == DLP_T_U8)
                ck_assert_uint_eq(r.v.u, i);
            else
                ck_assert_int_eq(r.v.i, (int64_t)i);
        }
    }
    assert_end(j);
    ck_assert_msg(it.bad_rc == 0,
                  "the failing dlp_args_* call returned %d, expected "
                  "DLP_EINVAL",
                  it.bad_rc);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* A job in which every task is bad input never needs a worker, and still
 * ends. */
static int all_bad_next(void *ud, uint64_t i, dlp_args *a)
{
    if (i >= *(uint64_t *)ud)
        return 0;
    dlp_args_fail(a, "bad %llu", (unsigned long long)i);
    return 1;
}

START_TEST(test_all_bad_input)
{
    dlp_pool *p = tu_pool_start(1);
    int fn = tu_testplug(p, "echo_i64");
    uint64_t n = 50;
    dlp_job *j = tu_start(p, fn, all_bad_next, &n, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    char want[32];

    for (uint64_t i = 0; i < n; i++) {
        int rc = dlp_job_next(j, &r, &err);
        ck_assert_msg(rc == 1, "expected a result, got %d (%s): %s", rc,
                      dlp_strerror(rc), err.msg);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.fail, DLP_FAIL_INPUT);
        snprintf(want, sizeof want, "bad %llu", (unsigned long long)i);
        ck_assert_str_eq(r.error, want);
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- every result type through the pool ------------------------------- */

static const struct signed_case {
    const char *symbol;
    dlp_type type;
    int64_t lo, hi;
} signed_cases[] = {
    {"echo_i8", DLP_T_I8, INT8_MIN, INT8_MAX},
    {"echo_i16", DLP_T_I16, INT16_MIN, INT16_MAX},
    {"echo_i32", DLP_T_I32, INT32_MIN, INT32_MAX},
    {"echo_i64", DLP_T_I64, INT64_MIN, INT64_MAX},
};

static int signed_next(void *ud, uint64_t i, dlp_args *a)
{
    const int64_t *v = ud;
    if (i >= 5)
        return 0;
    dlp_args_int(a, v[i]);
    return 1;
}

START_TEST(test_signed_results)
{
    const struct signed_case *c = &signed_cases[_i];
    int64_t v[5] = {c->lo, c->hi, 0, -1, 1};
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, c->symbol);
    dlp_job *j = tu_start(p, fn, signed_next, v, NULL);
    dlp_result r;

    for (uint64_t i = 0; i < 5; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.type, c->type);
        ck_assert_int_eq(r.v.i, v[i]);
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

static const struct unsigned_case {
    const char *symbol;
    dlp_type type;
    uint64_t hi;
} unsigned_cases[] = {
    {"echo_u8", DLP_T_U8, UINT8_MAX},
    {"echo_u16", DLP_T_U16, UINT16_MAX},
    {"echo_u32", DLP_T_U32, UINT32_MAX},
    {"echo_u64", DLP_T_U64, UINT64_MAX},
};

static int unsigned_next(void *ud, uint64_t i, dlp_args *a)
{
    const uint64_t *v = ud;
    if (i >= 4)
        return 0;
    dlp_args_uint(a, v[i]);
    return 1;
}

START_TEST(test_unsigned_results)
{
    const struct unsigned_case *c = &unsigned_cases[_i];
    uint64_t v[4] = {0, c->hi, 1, c->hi - 1};
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, c->symbol);
    dlp_job *j = tu_start(p, fn, unsigned_next, v, NULL);
    dlp_result r;

    for (uint64_t i = 0; i < 4; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.type, c->type);
        ck_assert_uint_eq(r.v.u, v[i]);
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

typedef struct doubles {
    size_t n;
    const double *v;
} doubles;

static int doubles_next(void *ud, uint64_t i, dlp_args *a)
{
    doubles *d = ud;
    if (i >= d->n)
        return 0;
    dlp_args_double(a, d->v[i]);
    return 1;
}

/* Run echo_f32 or echo_f64 over v and check each result against want. */
static void check_floats(const char *symbol, dlp_type type, const double *v,
                         const double *want, size_t n)
{
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(2);
    int fn = tu_testplug(p, symbol);
    doubles d = {n, v};
    dlp_job *j = tu_start(p, fn, doubles_next, &d, NULL);
    dlp_result r;

    for (uint64_t i = 0; i < n; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.type, type);
        if (isnan(want[i]))
            ck_assert_msg(isnan(r.v.f), "%s task %llu: expected NaN, got %g",
                          symbol, (unsigned long long)i, r.v.f);
        else
            ck_assert_msg(r.v.f == want[i] &&
                              signbit(r.v.f) == signbit(want[i]),
                          "%s task %llu: expected %.17g, got %.17g", symbol,
                          (unsigned long long)i, want[i], r.v.f);
    }
    assert_end(j);
    dlp_job_destroy(j);
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}

START_TEST(test_f32_results)
{
    const double v[] = {1.5, -0.25, FLT_MAX, FLT_MIN, 0.1, -0.0, -INFINITY};
    double want[sizeof v / sizeof v[0]];
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        want[i] = (double)(float)v[i]; /* what an f32 can hold */
    check_floats("echo_f32", DLP_T_F32, v, want, sizeof v / sizeof v[0]);
}
END_TEST

START_TEST(test_f64_results)
{
    const double v[] = {0.1,     -1e300,   DBL_MAX, DBL_MIN,
                        5e-324, -0.0,     INFINITY, NAN};
    check_floats("echo_f64", DLP_T_F64, v, v, sizeof v / sizeof v[0]);
}
END_TEST

static int bool_next(void *ud, uint64_t i, dlp_args *a)
{
    (void)ud;
    if (i >= 4)
        return 0;
    dlp_args_bool(a, i % 2 == 0);
    return 1;
}

START_TEST(test_bool_results)
{
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, "echo_bool");
    dlp_job *j = tu_start(p, fn, bool_next, NULL, NULL);
    dlp_result r;

    for (uint64_t i = 0; i < 4; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.type, DLP_T_BOOL);
        ck_assert_msg(r.v.b == (i % 2 == 0), "task %llu: expected %s",
                      (unsigned long long)i, i % 2 == 0 ? "true" : "false");
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* Strings: a borrowed str result (the argument itself), an owned str!
 * result, and bytes arguments. */
typedef struct texts {
    size_t n;
    const char *const *s;
    const size_t *len;
    int as_bytes; /* give them with dlp_args_bytes */
    unsigned nargs;
} texts;

static int texts_next(void *ud, uint64_t i, dlp_args *a)
{
    texts *t = ud;
    if (i >= t->n)
        return 0;
    for (unsigned k = 0; k < t->nargs; k++) {
        const char *s = t->s[i * t->nargs + k];
        size_t len = t->len ? t->len[i * t->nargs + k] : strlen(s);
        if (t->as_bytes)
            dlp_args_bytes(a, s, len);
        else
            dlp_args_str(a, s, len);
    }
    return 1;
}

/* Run symbol over t and compare each str result with want. */
static void check_texts(const char *symbol, texts *t,
                        const char *const *want)
{
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(2);
    int fn = tu_testplug(p, symbol);
    dlp_job *j = tu_start(p, fn, texts_next, t, NULL);
    dlp_result r;

    for (uint64_t i = 0; i < t->n; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.type, DLP_T_STR);
        ck_assert_ptr_nonnull(r.v.s.ptr);
        ck_assert_uint_eq(r.v.s.len, strlen(want[i]));
        ck_assert_str_eq(r.v.s.ptr, want[i]); /* also NUL-terminated */
    }
    assert_end(j);
    dlp_job_destroy(j);
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}

START_TEST(test_str_borrowed)
{
    static char big[20001];
    const char *s[] = {"plain", "", "h\xc3\xa9llo w\xc3\xb6rld", big};
    texts t = {4, s, NULL, 0, 1};
    memset(big, 'q', sizeof big - 1);
    check_texts("echo_str", &t, s);
}
END_TEST

START_TEST(test_str_owned)
{
    const char *s[] = {"ab", "cd", "", "", "x", "yz"};
    const char *want[] = {"abcd", "", "xyz"};
    texts t = {3, s, NULL, 0, 2};
    check_texts("concat", &t, want);
}
END_TEST

START_TEST(test_bytes_argument)
{
    /* Bytes may hold NULs; a str given for a bytes argument is taken as
     * bytes too. */
    const char *s[] = {"\x00\xff\x10\x7f", "", "AB"};
    const size_t len[] = {4, 0, 2};
    const char *want[] = {"00ff107f", "", "4142"};
    texts as_bytes = {2, s, len, 1, 1};
    texts as_str = {1, s + 2, len + 2, 0, 1};
    check_texts("bytes_hex", &as_bytes, want);
    check_texts("bytes_hex", &as_str, want + 2);
}
END_TEST

START_TEST(test_void_result)
{
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, "touch");
    count_it it = {5, 1, 0};
    dlp_job *j = tu_start(p, fn, count_next, &it, NULL);
    dlp_result r;

    for (uint64_t i = 0; i < 5; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.type, DLP_T_VOID);
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

static int mixed_next(void *ud, uint64_t i, dlp_args *a)
{
    (void)ud;
    if (i >= 1)
        return 0;
    dlp_args_int(a, -1);
    dlp_args_uint(a, 2);
    dlp_args_int(a, -3);
    dlp_args_uint(a, 4);
    dlp_args_int(a, -5);
    dlp_args_uint(a, 6);
    dlp_args_int(a, -7);
    dlp_args_uint(a, 8);
    dlp_args_double(a, 0.5);
    dlp_args_double(a, 0.25);
    dlp_args_bool(a, true);
    return 1;
}

START_TEST(test_mixed_arguments)
{
    dlp_pool *p = tu_pool_start(1);
    int fn = tu_testplug(p, "mixed");
    dlp_job *j = tu_start(p, fn, mixed_next, NULL, NULL);
    dlp_result r;

    next_ok(j, &r);
    ck_assert_int_eq(r.type, DLP_T_F64);
    ck_assert_double_eq(r.v.f, 1000004.75);
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* Failures a function reports itself, and a result that cannot be
 * carried back: the task fails, its neighbours do not. */
START_TEST(test_plugin_failures)
{
    dlp_pool *p = tu_pool_start(2);
    int odd = tu_testplug(p, "fail_odd");
    int null_str = tu_testplug(p, "null_str");
    count_it it = {6, 0, 0};
    dlp_job *j = tu_start(p, odd, count_next, &it, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    char want[64];

    for (uint64_t i = 0; i < 6; i++) {
        ck_assert_int_eq(dlp_job_next(j, &r, &err), 1);
        ck_assert_uint_eq(r.index, i);
        if (i % 2) {
            ck_assert_int_eq(r.fail, DLP_FAIL_PLUGIN);
            /* The message is kept on one line. */
            snprintf(want, sizeof want, "odd value %llu refused",
                     (unsigned long long)i);
            ck_assert_str_eq(r.error, want);
        } else {
            ck_assert_msg(r.fail == DLP_FAIL_NONE, "task %llu failed: %s",
                          (unsigned long long)i, r.error);
            ck_assert_int_eq(r.v.i, (int64_t)i);
        }
    }
    assert_end(j);
    dlp_job_destroy(j);

    it.n = 2;
    j = tu_start(p, null_str, count_next, &it, NULL);
    for (uint64_t i = 0; i < 2; i++) {
        ck_assert_int_eq(dlp_job_next(j, &r, &err), 1);
        ck_assert_int_eq(r.fail, DLP_FAIL_RESULT);
        tu_assert_has(r.error, "NULL");
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* A result much larger than a worker's flush size (256 KiB) arrives
 * whole. */
static int big_next(void *ud, uint64_t i, dlp_args *a)
{
    static const uint64_t sizes[] = {3000000, 1, 0, 300000};
    (void)ud;
    if (i >= 4)
        return 0;
    dlp_args_uint(a, sizes[i]);
    return 1;
}

START_TEST(test_big_result)
{
    static const size_t sizes[] = {3000000, 1, 0, 300000};
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, "big_str");
    dlp_job *j = tu_start(p, fn, big_next, NULL, NULL);
    dlp_result r;

    for (uint64_t i = 0; i < 4; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_uint_eq(r.v.s.len, sizes[i]);
        ck_assert_int_eq(r.v.s.ptr[sizes[i]], 0);
        for (size_t k = 0; k < sizes[i]; k++)
            if (r.v.s.ptr[k] != 'x')
                ck_abort_msg("task %llu: byte %zu is %#x, expected 'x'",
                             (unsigned long long)i, k,
                             (unsigned)(unsigned char)r.v.s.ptr[k]);
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* Large results of many sizes, each with its own bytes: the job reuses
 * the buffers of results handed out for the next large ones, and no
 * result may show another's bytes or length. */
#define REUSE_TASKS 120

static size_t reuse_size(uint64_t i)
{
    return 65536 + (size_t)((i * 7919) % 200000);
}

static int reuse_next(void *ud, uint64_t i, dlp_args *a)
{
    char *buf = ud;
    size_t n = reuse_size(i);
    if (i >= REUSE_TASKS)
        return 0;
    memset(buf, 'a' + (int)(i % 26), n);
    buf[n] = 0;
    dlp_args_str(a, buf, n);
    return 1;
}

START_TEST(test_big_results_reuse)
{
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, "echo_str");
    char *buf = malloc(300000);
    dlp_job *j;
    dlp_result r;

    ck_assert_ptr_nonnull(buf);
    j = tu_start(p, fn, reuse_next, buf, NULL);
    for (uint64_t i = 0; i < REUSE_TASKS; i++) {
        size_t n = reuse_size(i);
        char want = (char)('a' + (int)(i % 26));
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_msg(r.v.s.len == n && r.v.s.ptr[n] == 0,
                      "task %" PRIu64 ": expected %zu bytes and a NUL, got "
                      "%zu",
                      i, n, r.v.s.len);
        for (size_t k = 0; k < n; k++)
            if (r.v.s.ptr[k] != want)
                ck_abort_msg("task %" PRIu64 ": byte %zu is '%c', expected "
                             "'%c'",
                             i, k, r.v.s.ptr[k], want);
    }
    assert_end(j);
    dlp_job_destroy(j);
    free(buf);
    tu_pool_end(p);
}
END_TEST

/* ---- several jobs on one pool ----------------------------------------- */

/* Destroying a job with tasks in flight: the next job on the pool gets
 * only its own results. */
START_TEST(test_destroy_mid_job)
{
    dlp_pool *p = tu_pool_start(2);
    int slow = tu_testplug(p, "sleepy");
    int echo = tu_testplug(p, "echo_i64");
    sleepy_it sit = {.n = 200, .mod = 13};
    count_it cit = {300, 5000, 0};
    dlp_job *j = tu_start(p, slow, sleepy_next, &sit, NULL);
    dlp_result r;

    for (uint64_t i = 0; i < 3; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
    }
    dlp_job_destroy(j);
    /* A job destroyed before it was ever read. */
    j = tu_start(p, slow, sleepy_next, &sit, NULL);
    dlp_job_destroy(j);

    j = tu_start(p, echo, count_next, &cit, NULL);
    for (uint64_t i = 0; i < cit.n; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.type, DLP_T_I64);
        ck_assert_int_eq(r.v.i, (int64_t)i + 5000);
    }
    assert_end(j);
    dlp_job_destroy(j);
    dlp_job_destroy(NULL);
    tu_pool_end(p);
}
END_TEST

/* Two jobs open at once, read alternately (zip), each in its own order
 * with its own values. */
START_TEST(test_two_jobs_zip)
{
    dlp_pool *p = tu_pool_start(3);
    int slow = tu_testplug(p, "sleepy");
    int echo = tu_testplug(p, "echo_i64");
    sleepy_it sit = {.n = 40, .mod = 5};
    count_it cit = {70, -1000, 0};
    dlp_job *a = tu_start(p, slow, sleepy_next, &sit, NULL);
    dlp_job *b = tu_start(p, echo, count_next, &cit, NULL);
    dlp_result r;
    uint64_t ka = 0, kb = 0;

    while (ka < sit.n || kb < cit.n) {
        if (ka < sit.n) {
            next_ok(a, &r);
            ck_assert_uint_eq(r.index, ka);
            ck_assert_int_eq(r.v.i, sleepy_value(ka));
            ka++;
        }
        if (kb < cit.n) {
            next_ok(b, &r);
            ck_assert_uint_eq(r.index, kb);
            ck_assert_int_eq(r.v.i, (int64_t)kb - 1000);
            kb++;
        }
    }
    assert_end(a);
    assert_end(b);
    dlp_job_destroy(a);
    dlp_job_destroy(b);
    tu_pool_end(p);
}
END_TEST

/* Each thread runs its own job on the shared pool and records what it
 * saw; the main thread checks. */
typedef struct thread_run {
    dlp_pool *pool;
    int fn;
    int sleepy; /* the job maps sleepy, else echo_i64 */
    uint64_t n;
    uint64_t good;  /* results that came in order with the right value */
    int rc;         /* dlp_job_next's last return */
    char msg[512];
} thread_run;

static void *thread_main(void *arg)
{
    thread_run *t = arg;
    sleepy_it sit = {.n = t->n, .mod = 4};
    count_it cit = {t->n, 77, 0};
    dlp_job *j = NULL;
    dlp_result r;
    dlp_error err = {0, ""};

    t->rc = dlp_job_create(&j, t->pool, t->fn,
                           t->sleepy ? sleepy_next : count_next,
                           t->sleepy ? (void *)&sit : (void *)&cit, NULL,
                           &err);
    if (t->rc) {
        snprintf(t->msg, sizeof t->msg, "%s", err.msg);
        return NULL;
    }
    while ((t->rc = dlp_job_next(j, &r, &err)) == 1) {
        int64_t want = t->sleepy ? sleepy_value(t->good)
                                 : (int64_t)t->good + 77;
        if (r.index != t->good || r.fail != DLP_FAIL_NONE || r.v.i != want) {
            snprintf(t->msg, sizeof t->msg,
                     "result %llu: index %llu, fail %d, value %lld "
                     "(expected %lld)",
                     (unsigned long long)t->good,
                     (unsigned long long)r.index, (int)r.fail,
                     (long long)r.v.i, (long long)want);
            break;
        }
        t->good++;
    }
    if (t->rc < 0)
        snprintf(t->msg, sizeof t->msg, "%s", err.msg);
    dlp_job_destroy(j);
    return NULL;
}

START_TEST(test_threads_share_pool)
{
    dlp_pool *p = tu_pool_start(3);
    thread_run t[2];
    pthread_t th[2];

    memset(t, 0, sizeof t);
    t[0].pool = t[1].pool = p;
    t[0].fn = tu_testplug(p, "sleepy");
    t[0].sleepy = 1;
    t[0].n = 150;
    t[1].fn = tu_testplug(p, "echo_i64");
    t[1].n = 20000;
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(pthread_create(&th[k], NULL, thread_main, &t[k]), 0);
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(pthread_join(th[k], NULL), 0);
    for (int k = 0; k < 2; k++) {
        ck_assert_msg(t[k].rc == 0,
                      "thread %d: expected the job to end with 0, got %d "
                      "(%s) after %llu good results: %s",
                      k, t[k].rc, dlp_strerror(t[k].rc),
                      (unsigned long long)t[k].good, t[k].msg);
        ck_assert_msg(t[k].good == t[k].n,
                      "thread %d: expected %llu good results, got %llu",
                      k, (unsigned long long)t[k].n,
                      (unsigned long long)t[k].good);
    }
    tu_pool_end(p);
}
END_TEST

/* ---- errors: creating jobs -------------------------------------------- */

START_TEST(test_create_after_close)
{
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_testplug(p, "echo_i64");
    count_it before = {30, 0, 0}, after = {30, 0, 0};
    dlp_job *j = tu_start(p, fn, count_next, &before, NULL);
    dlp_job *late = (dlp_job *)&after; /* must be reset to NULL */
    dlp_error err = {0, ""};
    dlp_result r;
    int rc;

    ck_assert_int_eq(dlp_pool_close(p), 0);
    rc = dlp_job_create(&late, p, fn, count_next, &after, NULL, &err);
    ck_assert_msg(rc == DLP_ECLOSED, "expected DLP_ECLOSED, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_int_eq(err.code, DLP_ECLOSED);
    ck_assert_ptr_null(late);
    ck_assert_uint_eq(after.calls, 0);
    /* A job created before the close runs to its end. */
    for (uint64_t i = 0; i < before.n; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.v.i, (int64_t)i);
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_create_unresolved)
{
    dlp_pool *p = tu_pool_start(1);
    count_it it = {3, 0, 0};
    dlp_error err = {0, ""};
    dlp_job *j;
    int rc, fn, failed;

    /* A reference that failed to resolve still took an id; it must not be
     * usable. */
    failed = dlp_pool_fn(p, tu_ref(tu_plugin("testplug"), "no_such_fn"),
                         NULL, &err);
    ck_assert_msg(failed == DLP_ENOSYM,
                  "expected DLP_ENOSYM, got %d (%s): %s", failed,
                  dlp_strerror(failed), err.msg);
    fn = tu_testplug(p, "echo_i64");
    {
        const int bad_ids[] = {-1, fn - 1, fn + 1, 99};
        for (size_t k = 0; k < sizeof bad_ids / sizeof bad_ids[0]; k++) {
            j = (dlp_job *)&it; /* must be reset to NULL */
            rc = dlp_job_create(&j, p, bad_ids[k], count_next, &it, NULL,
                                &err);
            ck_assert_msg(rc == DLP_EINVAL,
                          "fn %d: expected DLP_EINVAL, got %d (%s): %s",
                          bad_ids[k], rc, dlp_strerror(rc), err.msg);
            ck_assert_int_eq(err.code, DLP_EINVAL);
            ck_assert_ptr_null(j);
        }
    }
    /* NULL iterator, NULL out, NULL pool. */
    ck_assert_int_eq(dlp_job_create(&j, p, fn, NULL, NULL, NULL, &err),
                     DLP_EINVAL);
    ck_assert_int_eq(dlp_job_create(NULL, p, fn, count_next, &it, NULL, &err),
                     DLP_EINVAL);
    ck_assert_int_eq(
        dlp_job_create(&j, NULL, fn, count_next, &it, NULL, &err),
        DLP_EINVAL);
    ck_assert_uint_eq(it.calls, 0);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_window_too_large)
{
    dlp_pool *p = tu_pool_start(1);
    int fn = tu_testplug(p, "echo_i64");
    count_it it = {3, 0, 0};
    dlp_job_options o;
    dlp_error err = {0, ""};
    dlp_job *j = NULL;
    int rc;

    dlp_job_options_init(&o);
    o.window = (1u << 24) + 1;
    rc = dlp_job_create(&j, p, fn, count_next, &it, &o, &err);
    ck_assert_msg(rc == DLP_EINVAL, "expected DLP_EINVAL, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_ptr_null(j);
    tu_pool_end(p);
}
END_TEST

/* ---- regressions ------------------------------------------------------ */

/* A window that is not a power of two is kept exactly: the iterator is
 * never more than 5 tasks ahead of the results handed out (the ring
 * behind it holds 8, which once let it run 8 ahead). */
START_TEST(test_window_not_power_of_two)
{
    enum { N = 300, W = 5 };
    dlp_pool *p = tu_pool_start(3);
    int fn = tu_testplug(p, "sleepy");
    sleepy_it it = {.n = N, .mod = 3, .window = W};
    dlp_job_options o;
    dlp_job *j;
    static unsigned char seen[N];
    dlp_result r;
    uint64_t most = 0;

    dlp_job_options_init(&o);
    o.flags = window_flags[_i];
    o.window = W;
    j = tu_start(p, fn, sleepy_next, &it, &o);
    memset(seen, 0, sizeof seen);
    for (uint64_t k = 0; k < N; k++) {
        next_ok(j, &r);
        ck_assert_msg(it.highest <= k + W,
                      "after %llu results the iterator was asked for task "
                      "%llu, more than %d ahead",
                      (unsigned long long)k,
                      (unsigned long long)(it.highest - 1), W);
        if (it.highest - k > most)
            most = it.highest - k;
        if (!window_flags[_i])
            ck_assert_uint_eq(r.index, k);
        ck_assert_msg(r.index < N && !seen[r.index],
                      "index %llu out of range or handed out twice",
                      (unsigned long long)r.index);
        seen[r.index] = 1;
        ck_assert_int_eq(r.v.i, sleepy_value(r.index));
        it.handed = k + 1;
    }
    assert_end(j);
    ck_assert_msg(it.too_far == 0,
                  "the iterator was asked for task %llu with only %llu "
                  "results handed out",
                  (unsigned long long)(it.too_far - 1),
                  (unsigned long long)it.handed);
    /* The whole window was used, not a smaller one. */
    ck_assert_uint_eq(most, W);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* An iterator that pauses without a descriptor to wait on, for about
 * 100 ms while nothing is in flight, then gives n tasks.  It counts the
 * calls that paused. */
typedef struct idle_it {
    uint64_t n;
    uint64_t paused_calls;
    struct timespec start;
    int started;
} idle_it;

static double ms_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
           (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static int idle_next(void *ud, uint64_t i, dlp_args *a)
{
    idle_it *t = ud;
    if (!t->started) {
        clock_gettime(CLOCK_MONOTONIC, &t->start);
        t->started = 1;
    }
    if (ms_since(&t->start) < 100) {
        t->paused_calls++;
        return DLP_ITER_PAUSE;
    }
    if (i >= t->n)
        return 0;
    dlp_args_int(a, (int64_t)i);
    return 1;
}

/* With nothing in flight and no descriptor to wait on, a paused iterator
 * is asked again after a moment, not in a busy loop (which called it
 * millions of times in 100 ms).  A bound on calls, not on time: a slow
 * machine makes fewer. */
START_TEST(test_pause_no_fd_no_spin)
{
    dlp_pool *p = tu_pool_start(1);
    int fn = tu_testplug(p, "echo_i64");
    idle_it it;
    dlp_job *j;
    dlp_result r;

    memset(&it, 0, sizeof it);
    it.n = 3;
    j = tu_start(p, fn, idle_next, &it, NULL);
    for (uint64_t i = 0; i < it.n; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.v.i, (int64_t)i);
    }
    assert_end(j);
    ck_assert_uint_ge(it.paused_calls, 1);
    ck_assert_msg(it.paused_calls < 1000,
                  "the paused iterator was called %llu times in about "
                  "100 ms: expected fewer than 1000 (a busy loop?)",
                  (unsigned long long)it.paused_calls);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* A function that calls dlp_fail() and then returns a string literal
 * from a str! function: the task fails with the message, and the worker
 * does not free() the literal (which crashed it). */
START_TEST(test_fail_then_literal)
{
    dlp_pool *p = tu_pool_start(1);
    int fn = tu_testplug(p, "fail_literal");
    int pid_fn = tu_testplug(p, "worker_pid");
    count_it it = {1, 0, 0};
    dlp_job *j;
    dlp_result r, pid1, pid2;
    dlp_error err = {0, ""};

    /* The worker that runs the failing tasks survives them: the same
     * process answers worker_pid before and after. */
    j = tu_start(p, pid_fn, count_next, &it, NULL);
    next_ok(j, &pid1);
    assert_end(j);
    dlp_job_destroy(j);

    it.n = 3;
    j = tu_start(p, fn, count_next, &it, NULL);
    for (uint64_t i = 0; i < it.n; i++) {
        int rc = dlp_job_next(j, &r, &err);
        ck_assert_msg(rc == 1, "expected a result, got %d (%s): %s", rc,
                      dlp_strerror(rc), err.msg);
        ck_assert_uint_eq(r.index, i);
        ck_assert_msg(r.fail == DLP_FAIL_PLUGIN,
                      "task %llu: expected DLP_FAIL_PLUGIN, got %d (%s)",
                      (unsigned long long)i, (int)r.fail,
                      r.error ? r.error : "no message");
        ck_assert_str_eq(r.error, "failed after all");
    }
    assert_end(j);
    dlp_job_destroy(j);

    it.n = 1;
    j = tu_start(p, pid_fn, count_next, &it, NULL);
    next_ok(j, &pid2);
    assert_end(j);
    dlp_job_destroy(j);
    ck_assert_int_eq(pid2.v.i, pid1.v.i);
    tu_pool_end(p);
}
END_TEST

/* `small` tasks with empty bytes, then `big` tasks with big_len bytes
 * each.  The iterator pauses once between the two kinds: the job sends
 * the small tasks it holds, and the big ones start a batch of their own,
 * sized by the small ones' timing. */
typedef struct blobs {
    uint64_t small, big;
    size_t big_len;
    const unsigned char *data;
    int paused;
} blobs;

static int blobs_next(void *ud, uint64_t i, dlp_args *a)
{
    blobs *b = ud;
    if (i >= b->small + b->big)
        return 0;
    if (i == b->small && !b->paused) {
        b->paused = 1;
        return DLP_ITER_PAUSE;
    }
    dlp_args_bytes(a, b->data, i < b->small ? 0 : b->big_len);
    return 1;
}

/* Batches are bounded in bytes as well as in tasks.  Tiny tasks grow the
 * batch to thousands of tasks (up to 4096); 1,100 tasks of 1 MiB in one
 * such batch would pass the 1 GiB frame limit, and the whole job failed
 * with "value too large".  Every task must succeed with its own length. */
START_TEST(test_batch_bytes_bounded)
{
    enum { BIG = 1024 * 1024 };
    static unsigned char data[BIG];
    dlp_pool *p = tu_pool_start(2);
    int fn = tu_resolve(p, tu_examples(), "length", NULL);
    blobs b = {20000, 1100, BIG, data, 0};
    dlp_job *j;
    dlp_result r;

    memset(data, 0xa5, sizeof data);
    j = tu_start(p, fn, blobs_next, &b, NULL);
    for (uint64_t i = 0; i < b.small + b.big; i++) {
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.type, DLP_T_U64);
        ck_assert_uint_eq(r.v.u, i < b.small ? 0 : BIG);
    }
    assert_end(j);
    ck_assert_int_eq(b.paused, 1);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- values: arrays, vals and val results ------------------------------ */

/* A value from a small text notation, so that tables of cases stay
 * readable: null, true, false, integers (INT, or UINT above INT64_MAX),
 * numbers with '.', 'e', or nan/inf (FLOAT), "text" (STR) and b"text"
 * (BYTES) with \0, \xHH, \" and \\ escapes, [lists] and {"maps": ...}. */
static dlp_val *parse_val(const char **pp)
{
    const char *p = *pp;
    dlp_val *v = NULL;
    while (*p == ' ')
        p++;
    if (*p == '[' || *p == '{') {
        int map = *p == '{';
        v = map ? dlp_val_map() : dlp_val_list();
        p++;
        while (*p == ' ')
            p++;
        while (*p != (map ? '}' : ']')) {
            dlp_val *item, *key = NULL;
            if (map) {
                key = parse_val(&p);
                ck_assert_msg(key->kind == DLP_V_STR, "a key must be a str");
                while (*p == ' ')
                    p++;
                ck_assert_msg(*p == ':', "expected ':' at \"%s\"", p);
                p++;
            }
            item = parse_val(&p);
            if (map)
                ck_assert_int_eq(dlp_val_set(v, key->v.s.ptr, item), 0);
            else
                ck_assert_int_eq(dlp_val_push(v, item), 0);
            dlp_val_free(key);
            while (*p == ' ')
                p++;
            if (*p == ',')
                p++;
            while (*p == ' ')
                p++;
        }
        p++;
    } else if (*p == '"' || (p[0] == 'b' && p[1] == '"')) {
        int bytes = *p == 'b';
        char buf[256];
        size_t n = 0;
        p += bytes ? 2 : 1;
        while (*p != '"') {
            ck_assert_msg(*p && n < sizeof buf, "an unterminated string");
            if (*p == '\\') {
                p++;
                if (*p == '0')
                    buf[n++] = 0, p++;
                else if (*p == 'x')
                    buf[n++] = (char)strtol((char[]){p[1], p[2], 0}, NULL,
                                            16),
                    p += 3;
                else
                    buf[n++] = *p++;
            } else {
                buf[n++] = *p++;
            }
        }
        p++;
        v = bytes ? dlp_val_bytes(buf, n) : dlp_val_str(buf, n);
    } else if (strncmp(p, "null", 4) == 0) {
        v = dlp_val_null(), p += 4;
    } else if (strncmp(p, "true", 4) == 0) {
        v = dlp_val_bool(true), p += 4;
    } else if (strncmp(p, "false", 5) == 0) {
        v = dlp_val_bool(false), p += 5;
    } else {
        char *end;
        size_t len = strcspn(p, ",]}: ");
        if (memchr(p, '.', len) || memchr(p, 'e', len) ||
            memchr(p, 'n', len)) {
            v = dlp_val_float(strtod(p, &end));
        } else if (*p == '-') {
            v = dlp_val_int(strtoll(p, &end, 10));
        } else {
            v = dlp_val_uint(strtoull(p, &end, 10));
        }
        ck_assert_msg(end == p + len && len > 0, "a bad number at \"%s\"", p);
        p = end;
    }
    ck_assert_ptr_nonnull(v);
    *pp = p;
    return v;
}

static dlp_val *V(const char *text)
{
    const char *p = text;
    dlp_val *v = parse_val(&p);
    ck_assert_msg(*p == 0, "'%s': text after the value: \"%s\"", text, p);
    return v;
}

/* Lists nested n deep. */
static dlp_val *nested(unsigned n)
{
    dlp_val *v = dlp_val_list();
    for (unsigned i = 1; i < n; i++) {
        dlp_val *outer = dlp_val_list();
        ck_assert_int_eq(dlp_val_push(outer, v), 0);
        v = outer;
    }
    return v;
}

/* A job whose task i is filled by fill(a, i, ud). */
typedef struct fill_it {
    uint64_t n;
    void (*fill)(dlp_args *a, uint64_t i, void *ud);
    void *ud;
} fill_it;

static int fill_next(void *ud, uint64_t i, dlp_args *a)
{
    fill_it *f = ud;
    if (i >= f->n)
        return 0;
    f->fill(a, i, f->ud);
    return 1;
}

/* What a task must end with. */
enum {
    X_I64 = 1, /* r.v.i == i */
    X_U64,     /* r.v.u == u */
    X_F64,     /* r.v.f == f */
    X_BOOL,    /* r.v.b == (i != 0) */
    X_STR,     /* r.v.s is s */
    X_VAL,     /* r.v.val equals V(s) */
    X_INPUT    /* DLP_FAIL_INPUT, the message has p1 and p2 */
};

typedef struct expect {
    int what;
    int64_t i;
    uint64_t u;
    double f;
    const char *s;
    const char *p1, *p2;
} expect;

/* Check one result against what it must be; name says which case. */
static void check_expect(const char *name, const dlp_result *r,
                         const expect *x)
{
    if (x->what == X_INPUT) {
        ck_assert_msg(r->fail == DLP_FAIL_INPUT,
                      "%s: expected bad input (%d), got failure %d (%s): %s",
                      name, DLP_FAIL_INPUT, (int)r->fail,
                      dlp_fail_kind_name(r->fail),
                      r->error ? r->error : "");
        ck_assert_uint_eq(r->attempts, 0);
        tu_assert_has(r->error, x->p1);
        if (x->p2)
            tu_assert_has(r->error, x->p2);
        return;
    }
    ck_assert_msg(r->fail == DLP_FAIL_NONE,
                  "%s: expected success, got failure %d (%s): %s", name,
                  (int)r->fail, dlp_fail_kind_name(r->fail), r->error);
    switch (x->what) {
    case X_I64:
        ck_assert_msg(r->v.i == x->i, "%s: expected %lld, got %lld", name,
                      (long long)x->i, (long long)r->v.i);
        break;
    case X_U64:
        ck_assert_msg(r->v.u == x->u, "%s: expected %llu, got %llu", name,
                      (unsigned long long)x->u, (unsigned long long)r->v.u);
        break;
    case X_F64:
        ck_assert_msg(r->v.f == x->f || (isnan(x->f) && isnan(r->v.f)),
                      "%s: expected %.17g, got %.17g", name, x->f, r->v.f);
        break;
    case X_BOOL:
        ck_assert_msg(r->v.b == (x->i != 0), "%s: expected %s", name,
                      x->i ? "true" : "false");
        break;
    case X_STR:
        ck_assert_msg(r->v.s.len == strlen(x->s) &&
                          memcmp(r->v.s.ptr, x->s, r->v.s.len) == 0,
                      "%s: expected \"%s\", got \"%.*s\"", name, x->s,
                      (int)r->v.s.len, r->v.s.ptr);
        break;
    case X_VAL: {
        dlp_val *want = V(x->s);
        ck_assert_int_eq(r->type, DLP_T_VAL);
        ck_assert_msg(r->v.val != NULL, "%s: a val result is never NULL",
                      name);
        ck_assert_msg(dlp_val_equal(r->v.val, want),
                      "%s: expected the value %s back (got a %s of %zu "
                      "items)",
                      name, x->s, dlp_val_kind_name(r->v.val->kind),
                      dlp_val_len(r->v.val));
        dlp_val_free(want);
        break;
    }
    default:
        ck_abort_msg("%s: no expectation", name);
    }
}

/* ---- dlp_args_array ---- */

static const int64_t d_i64[] = {1, 2, 3, 4, 5};
static const int64_t d_i64_256[] = {1, 2, 256};
static const int64_t d_i64_255[] = {255, 0};
static const int64_t d_i64_mixed[] = {3, -1};
static const int32_t d_i32[] = {-1, -2, INT32_MAX};
static const uint8_t d_u8[] = {255, 1};
static const uint8_t d_u8b[] = {200, 1};
static const uint64_t d_u64_max[] = {(uint64_t)INT64_MAX};
static const uint64_t d_u64_over[] = {1, UINT64_MAX};
static const int8_t d_i8[] = {-128};
static const int16_t d_i16_neg[] = {-1};
static const uint16_t d_u16[] = {65535};
static const float d_f32[] = {1.5f, 2.5f};
static const float d_f32_frac[] = {2.5f};
static const double d_f64[] = {0.25, 0.5};
static const double d_f64_int[] = {1.0};
static const double d_f64_inf[] = {INFINITY};
static const double d_f64_big[] = {1, 1e300};

static const struct array_case {
    const char *symbol;
    dlp_type elem;
    const void *data;
    size_t n;
    expect x;
} array_cases[] = {
    /* The same type, passed as it is. */
    {"sum_i64", DLP_T_I64, d_i64, 5, {X_I64, 15, 0, 0, 0, 0, 0}},
    {"sum_i64", DLP_T_I64, NULL, 0, {X_I64, 0, 0, 0, 0, 0, 0}},
    {"sum_f32", DLP_T_F32, d_f32, 2, {X_F64, 0, 0, 4.0, 0, 0, 0}},
    {"first_u8", DLP_T_U8, d_u8b, 2, {X_I64, 200, 0, 0, 0, 0, 0}},
    {"first_u8", DLP_T_U8, d_u8b, 0, {X_I64, -1, 0, 0, 0, 0, 0}},
    /* Converted element by element, each in range. */
    {"sum_i64", DLP_T_I32, d_i32, 3, {X_I64, 2147483644, 0, 0, 0, 0, 0}},
    {"sum_i64", DLP_T_U8, d_u8, 2, {X_I64, 256, 0, 0, 0, 0, 0}},
    {"sum_i64", DLP_T_U64, d_u64_max, 1, {X_I64, INT64_MAX, 0, 0, 0, 0, 0}},
    {"sum_i64", DLP_T_I8, d_i8, 1, {X_I64, -128, 0, 0, 0, 0, 0}},
    {"sum_f32", DLP_T_F64, d_f64, 2, {X_F64, 0, 0, 0.75, 0, 0, 0}},
    {"sum_f32", DLP_T_I64, d_i64_mixed, 2, {X_F64, 0, 0, 2.0, 0, 0, 0}},
    {"sum_f32", DLP_T_U16, d_u16, 1, {X_F64, 0, 0, 65535.0, 0, 0, 0}},
    {"sum_f32", DLP_T_F64, d_f64_inf, 1, {X_F64, 0, 0, INFINITY, 0, 0, 0}},
    {"first_u8", DLP_T_I64, d_i64_255, 2, {X_I64, 255, 0, 0, 0, 0, 0}},
    /* Out of range, or a fraction for integers: the element is named. */
    {"first_u8", DLP_T_I64, d_i64_256, 3,
     {X_INPUT, 0, 0, 0, 0, "argument 1 (u8[]): element 2", "256"}},
    {"first_u8", DLP_T_I16, d_i16_neg, 1,
     {X_INPUT, 0, 0, 0, 0, "argument 1 (u8[]): element 0", "-1"}},
    {"sum_i64", DLP_T_U64, d_u64_over, 2,
     {X_INPUT, 0, 0, 0, 0, "element 1", "18446744073709551615"}},
    {"sum_i64", DLP_T_F64, d_f64_int, 1,
     {X_INPUT, 0, 0, 0, 0, "argument 1 (i64[]): element 0",
      "expected an integer"}},
    {"first_u8", DLP_T_F32, d_f32_frac, 1,
     {X_INPUT, 0, 0, 0, 0, "element 0", "expected an integer, got 2.5"}},
    {"sum_f32", DLP_T_F64, d_f64_big, 2,
     {X_INPUT, 0, 0, 0, 0, "argument 1 (f32[]): element 1", "out of range"}},
    /* Not arrays of numbers at all. */
    {"sum_i64", DLP_T_STR, "abc", 3,
     {X_INPUT, 0, 0, 0, 0, "argument 1", "not a numeric type"}},
    {"sum_i64", DLP_T_ARRAY_OF(DLP_T_I64), d_i64, 1,
     {X_INPUT, 0, 0, 0, 0, "argument 1", "not a numeric type"}},
    {"sum_i64", DLP_T_I64, NULL, 3,
     {X_INPUT, 0, 0, 0, 0, "argument 1", "NULL array"}},
    {"echo_i64", DLP_T_I64, d_i64, 1,
     {X_INPUT, 0, 0, 0, 0, "argument 1 (i64)", "got an array"}},
    {"echo_str", DLP_T_I64, d_i64, 1,
     {X_INPUT, 0, 0, 0, 0, "argument 1 (str)", "got an array"}},
};
#define N_ARRAY_CASES (sizeof array_cases / sizeof array_cases[0])

/* Task 1 is the case; tasks 0 and 2 are good ones around it, to show
 * that a bad task fails alone. */
static void array_fill(dlp_args *a, uint64_t i, void *ud)
{
    const struct array_case *c = ud;
    static const int64_t good[] = {1, 2};
    if (i == 1) {
        dlp_args_array(a, c->elem, c->data, c->n);
        return;
    }
    if (dlp_args_next_type(a) == DLP_T_STR)
        dlp_args_str(a, "ok", 2);
    else if (DLP_T_IS_ARRAY(dlp_args_next_type(a)))
        dlp_args_array(a, DLP_T_I64, good, 2);
    else
        dlp_args_int(a, 3);
}

START_TEST(test_values_arrays)
{
    dlp_pool *p = tu_pool_start(2);
    for (size_t k = 0; k < N_ARRAY_CASES; k++) {
        const struct array_case *c = &array_cases[k];
        fill_it it = {3, array_fill, (void *)c};
        dlp_job *j = tu_start(p, tu_testplug(p, c->symbol), fill_next, &it,
                              NULL);
        dlp_result r;
        char name[96];
        snprintf(name, sizeof name, "case %zu (%s of %zu %s)", k, c->symbol,
                 c->n, dlp_type_name(c->elem));
        for (uint64_t i = 0; i < 3; i++) {
            dlp_error err = {0, ""};
            int rc = dlp_job_next(j, &r, &err);
            ck_assert_msg(rc == 1, "%s: expected a result, got %d (%s): %s",
                          name, rc, dlp_strerror(rc), err.msg);
            ck_assert_uint_eq(r.index, i);
            if (i == 1) {
                check_expect(name, &r, &c->x);
            } else {
                ck_assert_msg(r.fail == DLP_FAIL_NONE,
                              "%s: the good task %llu failed: %s", name,
                              (unsigned long long)i, r.error);
            }
        }
        assert_end(j);
        dlp_job_destroy(j);
    }
    tu_pool_end(p);
}
END_TEST

/* Every element type at once, from arrays of its own type (task 0) and
 * converted from i64 data (task 1). */
static void every_array_fill(dlp_args *a, uint64_t i, void *ud)
{
    static const int8_t a8[] = {INT8_MIN, 0, INT8_MAX};
    static const int16_t a16[] = {INT16_MIN, -1};
    static const int32_t a32[] = {INT32_MAX};
    static const int64_t a64[] = {INT64_MIN, 5, INT64_MAX, 0};
    static const uint8_t u8[] = {UINT8_MAX};
    static const uint16_t u16[] = {0, UINT16_MAX};
    static const uint32_t u32[] = {UINT32_MAX, 1, 2};
    static const uint64_t u64[] = {UINT64_MAX, (uint64_t)INT64_MAX};
    static const float f32[] = {-0.0f, 3.5f};
    static const double f64[] = {1e-300, -2.0, 0.0};
    static const int64_t small[] = {-1, 0, 1};
    static const int64_t nonneg[] = {0, 1, 2};
    (void)ud;
    if (i == 0) {
        dlp_args_array(a, DLP_T_I8, a8, 3);
        dlp_args_array(a, DLP_T_I16, a16, 2);
        dlp_args_array(a, DLP_T_I32, a32, 1);
        dlp_args_array(a, DLP_T_I64, a64, 4);
        dlp_args_array(a, DLP_T_U8, u8, 1);
        dlp_args_array(a, DLP_T_U16, u16, 2);
        dlp_args_array(a, DLP_T_U32, u32, 3);
        dlp_args_array(a, DLP_T_U64, u64, 2);
        dlp_args_array(a, DLP_T_F32, f32, 2);
        dlp_args_array(a, DLP_T_F64, f64, 3);
        return;
    }
    for (int k = 0; k < 4; k++)
        dlp_args_array(a, DLP_T_I64, small, 3);
    for (int k = 0; k < 4; k++)
        dlp_args_array(a, DLP_T_I64, nonneg, (size_t)k);
    dlp_args_array(a, DLP_T_I64, small, 3);
    dlp_args_array(a, DLP_T_I64, small, 3);
}

START_TEST(test_values_every_array_type)
{
    static const expect want[] = {
        {X_VAL, 0, 0, 0,
         "[[-128, 0, 127], [-32768, -1], [2147483647],"
         " [-9223372036854775808, 5, 9223372036854775807, 0], [255],"
         " [0, 65535], [4294967295, 1, 2],"
         " [18446744073709551615, 9223372036854775807], [-0.0, 3.5],"
         " [1e-300, -2.0, 0.0]]",
         0, 0},
        {X_VAL, 0, 0, 0,
         "[[-1, 0, 1], [-1, 0, 1], [-1, 0, 1], [-1, 0, 1], [], [0], [0, 1],"
         " [0, 1, 2], [-1.0, 0.0, 1.0], [-1.0, 0.0, 1.0]]",
         0, 0},
    };
    dlp_pool *p = tu_pool_start(1);
    fill_it it = {2, every_array_fill, NULL};
    dlp_job *j = tu_start(p, tu_testplug(p, "arrays_to_val"), fill_next, &it,
                          NULL);
    dlp_result r;
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "task %d", i);
        next_ok(j, &r);
        check_expect(name, &r, &want[i]);
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- dlp_args_val and dlp_args_tuple ---- */

enum { BY_VAL = 0, BY_TUPLE, BY_NULL_VAL, BY_NULL_TUPLE, BY_TOO_DEEP };

static const struct val_case {
    const char *symbol;
    int by;
    const char *arg; /* the value (BY_VAL) or the list (BY_TUPLE) */
    expect x;
} val_cases[] = {
    /* Each kind of value into a typed argument converts as the
     * dlp_args_* call of that kind would. */
    {"echo_i64", BY_VAL, "-5", {X_I64, -5, 0, 0, 0, 0, 0}},
    {"echo_u64", BY_VAL, "18446744073709551615",
     {X_U64, 0, UINT64_MAX, 0, 0, 0, 0}},
    {"echo_u8", BY_VAL, "255", {X_U64, 0, 255, 0, 0, 0, 0}},
    {"echo_f64", BY_VAL, "2.5", {X_F64, 0, 0, 2.5, 0, 0, 0}},
    {"echo_f64", BY_VAL, "3", {X_F64, 0, 0, 3.0, 0, 0, 0}},
    {"echo_bool", BY_VAL, "true", {X_BOOL, 1, 0, 0, 0, 0, 0}},
    {"echo_str", BY_VAL, "\"h\\xc3\\xa9llo\"",
     {X_STR, 0, 0, 0, "h\xc3\xa9llo", 0, 0}},
    {"echo_str", BY_VAL, "b\"abc\"", {X_STR, 0, 0, 0, "abc", 0, 0}},
    {"bytes_hex", BY_VAL, "b\"\\0\\xff\"", {X_STR, 0, 0, 0, "00ff", 0, 0}},
    {"bytes_hex", BY_VAL, "\"ab\"", {X_STR, 0, 0, 0, "6162", 0, 0}},
    /* Lists into arrays. */
    {"sum_i64", BY_VAL, "[1, 2, 3]", {X_I64, 6, 0, 0, 0, 0, 0}},
    {"sum_i64", BY_VAL, "[]", {X_I64, 0, 0, 0, 0, 0, 0}},
    {"sum_f32", BY_VAL, "[1, 2.5, -0.5]", {X_F64, 0, 0, 3.0, 0, 0, 0}},
    {"first_u8", BY_VAL, "[7, 300]",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (u8[]): element 1", "300"}},
    {"first_u8", BY_VAL, "[-1]",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (u8[]): element 0", "-1"}},
    {"first_u8", BY_VAL, "[9]", {X_I64, 9, 0, 0, 0, 0, 0}},
    {"sum_i64", BY_VAL, "[1, \"x\"]",
     {X_INPUT, 0, 0, 0, 0, "element 1", "expected a number, got str"}},
    {"sum_i64", BY_VAL, "[1, [2]]",
     {X_INPUT, 0, 0, 0, 0, "element 1", "got list"}},
    {"sum_i64", BY_VAL, "[1, 2.5]",
     {X_INPUT, 0, 0, 0, 0, "element 1", "expected an integer"}},
    {"sum_i64", BY_VAL, "[18446744073709551615]",
     {X_INPUT, 0, 0, 0, 0, "element 0", "out of range"}},
    /* Wrong kinds name what was got. */
    {"sum_i64", BY_VAL, "{\"a\": 1}",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (i64[])", "got a map"}},
    {"sum_i64", BY_VAL, "5",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (i64[])", "got an integer"}},
    {"echo_i64", BY_VAL, "\"12\"",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (i64)", "got a string"}},
    {"echo_i64", BY_VAL, "null",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (i64)", "got null"}},
    {"echo_i64", BY_VAL, "[1]",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (i64)", "got a list"}},
    {"echo_i64", BY_VAL, "{}",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (i64)", "got a map"}},
    {"echo_i64", BY_VAL, "2.5",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (i64)", "2.5"}},
    {"echo_i64", BY_VAL, "9223372036854775808",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (i64)", "9223372036854775808"}},
    {"echo_u8", BY_VAL, "256",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (u8)", "256"}},
    {"echo_f32", BY_VAL, "1e300",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (f32)", "out of range"}},
    {"echo_bool", BY_VAL, "1",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (bool)", "got an integer"}},
    {"echo_str", BY_VAL, "true",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (str)", "got true"}},
    {"echo_str", BY_VAL, "\"a\\0b\"",
     {X_INPUT, 0, 0, 0, 0, "argument 1 (str)", "NUL"}},
    {"echo_i64", BY_NULL_VAL, NULL,
     {X_INPUT, 0, 0, 0, 0, "argument 1", "NULL value"}},
    /* Any value for a val argument, and back as a val result. */
    {"echo_val", BY_VAL, "null", {X_VAL, 0, 0, 0, "null", 0, 0}},
    {"echo_val", BY_VAL, "false", {X_VAL, 0, 0, 0, "false", 0, 0}},
    {"echo_val", BY_VAL, "-9223372036854775808",
     {X_VAL, 0, 0, 0, "-9223372036854775808", 0, 0}},
    {"echo_val", BY_VAL, "18446744073709551615",
     {X_VAL, 0, 0, 0, "18446744073709551615", 0, 0}},
    {"echo_val", BY_VAL, "nan", {X_VAL, 0, 0, 0, "nan", 0, 0}},
    {"echo_val", BY_VAL, "-0.0", {X_VAL, 0, 0, 0, "-0.0", 0, 0}},
    {"echo_val", BY_VAL, "\"a\\0b\"", {X_VAL, 0, 0, 0, "\"a\\0b\"", 0, 0}},
    {"echo_val", BY_VAL, "b\"\\xff\\0\"",
     {X_VAL, 0, 0, 0, "b\"\\xff\\0\"", 0, 0}},
    {"echo_val", BY_VAL, "[]", {X_VAL, 0, 0, 0, "[]", 0, 0}},
    {"echo_val", BY_VAL, "{\"z\": 1, \"a\": [true, null, {}], \"\": b\"\"}",
     {X_VAL, 0, 0, 0, "{\"z\": 1, \"a\": [true, null, {}], \"\": b\"\"}", 0,
      0}},
    {"echo_val", BY_TOO_DEEP, NULL,
     {X_INPUT, 0, 0, 0, 0, "argument 1 (val)", "nested too deep"}},
    {"val_kind", BY_VAL, "{\"k\": 1}", {X_STR, 0, 0, 0, "map", 0, 0}},
    {"val_kind", BY_VAL, "b\"\"", {X_STR, 0, 0, 0, "bytes", 0, 0}},
    {"val_kind", BY_VAL, "18446744073709551615",
     {X_STR, 0, 0, 0, "uint", 0, 0}},
    {"val_kind", BY_VAL, "1", {X_STR, 0, 0, 0, "int", 0, 0}},
    /* Whole argument lists. */
    {"concat", BY_TUPLE, "[\"ab\", \"cd\"]", {X_STR, 0, 0, 0, "abcd", 0, 0}},
    {"mixed", BY_TUPLE,
     "[-1, 2, 3, 4, 5, 6, 7, 8, 9.5, 10.25, true]",
     {X_F64, 0, 0, 1000053.75, 0, 0, 0}},
    {"sum_i64", BY_TUPLE, "[[1, 2, 3]]", {X_I64, 6, 0, 0, 0, 0, 0}},
    {"echo_val", BY_TUPLE, "[{\"k\": [1, 2]}]",
     {X_VAL, 0, 0, 0, "{\"k\": [1, 2]}", 0, 0}},
    {"null_val", BY_TUPLE, "[]", {X_VAL, 0, 0, 0, "null", 0, 0}},
    {"sleepy", BY_TUPLE, "[0]",
     {X_INPUT, 0, 0, 0, 0, "expected 2 arguments", "got 1"}},
    {"echo_i64", BY_TUPLE, "[1, 2]",
     {X_INPUT, 0, 0, 0, 0, "too many arguments", "1"}},
    {"sleepy", BY_TUPLE, "[1, \"x\"]",
     {X_INPUT, 0, 0, 0, 0, "argument 2 (i64)", "got a string"}},
    {"echo_i64", BY_TUPLE, "{\"a\": 1}",
     {X_INPUT, 0, 0, 0, 0, "must be a list", "got map"}},
    {"echo_i64", BY_TUPLE, "7",
     {X_INPUT, 0, 0, 0, 0, "must be a list", "got int"}},
    {"echo_i64", BY_NULL_TUPLE, NULL,
     {X_INPUT, 0, 0, 0, 0, "must be a list", "got NULL"}},
};
#define N_VAL_CASES (sizeof val_cases / sizeof val_cases[0])

/* Task 1 is the case; tasks 0 and 2 are good ones around it.  A case
 * whose call must fail checks that it returns DLP_EINVAL. */
static void val_fill(dlp_args *a, uint64_t i, void *ud)
{
    const struct val_case *c = ud;
    dlp_val *v = NULL;
    int rc;
    if (i != 1) {
        dlp_type t = dlp_args_next_type(a);
        if (strcmp(c->symbol, "mixed") == 0) {
            dlp_val *l = V("[0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, false]");
            dlp_args_tuple(a, l);
            dlp_val_free(l);
        } else if (strcmp(c->symbol, "sleepy") == 0) {
            dlp_args_int(a, 0);
            dlp_args_int(a, 1);
        } else if (t == DLP_T_STR || t == DLP_T_BYTES) {
            dlp_args_str(a, "ok", 2);
            if (dlp_args_next_type(a) == DLP_T_STR)
                dlp_args_str(a, "!", 1);
        } else if (DLP_T_IS_ARRAY(t)) {
            dlp_val *l = V("[1]");
            dlp_args_val(a, l);
            dlp_val_free(l);
        } else if (t == DLP_T_BOOL) {
            dlp_args_bool(a, false);
        } else if (t != DLP_T_VOID) {
            dlp_args_int(a, 1);
        }
        return;
    }
    switch (c->by) {
    case BY_VAL:
        v = V(c->arg);
        rc = dlp_args_val(a, v);
        break;
    case BY_TUPLE:
        v = V(c->arg);
        rc = dlp_args_tuple(a, v);
        break;
    case BY_NULL_VAL:
        rc = dlp_args_val(a, NULL);
        break;
    case BY_NULL_TUPLE:
        rc = dlp_args_tuple(a, NULL);
        break;
    default:
        v = nested(DLP_VAL_MAX_DEPTH + 1);
        rc = dlp_args_val(a, v);
        break;
    }
    dlp_val_free(v);
    /* A missing argument is noticed by the job, after the calls: they
     * all succeeded. */
    if (c->x.what == X_INPUT && strncmp(c->x.p1, "expected ", 9) != 0)
        ck_assert_msg(rc == DLP_EINVAL,
                      "%s with %s: expected the failing call to return "
                      "DLP_EINVAL, got %d",
                      c->symbol, c->arg ? c->arg : "NULL", rc);
    else if (c->x.what != X_INPUT)
        ck_assert_msg(rc == 0, "%s with %s: expected 0, got %d (%s)",
                      c->symbol, c->arg ? c->arg : "NULL", rc,
                      dlp_strerror(rc));
}

START_TEST(test_values_vals)
{
    dlp_pool *p = tu_pool_start(2);
    for (size_t k = 0; k < N_VAL_CASES; k++) {
        const struct val_case *c = &val_cases[k];
        fill_it it = {3, val_fill, (void *)c};
        dlp_job *j = tu_start(p, tu_testplug(p, c->symbol), fill_next, &it,
                              NULL);
        dlp_result r;
        char name[160];
        snprintf(name, sizeof name, "case %zu (%s with %s)", k, c->symbol,
                 c->arg ? c->arg : "NULL");
        for (uint64_t i = 0; i < 3; i++) {
            dlp_error err = {0, ""};
            int rc = dlp_job_next(j, &r, &err);
            ck_assert_msg(rc == 1, "%s: expected a result, got %d (%s): %s",
                          name, rc, dlp_strerror(rc), err.msg);
            ck_assert_uint_eq(r.index, i);
            if (i == 1)
                check_expect(name, &r, &c->x);
            else
                ck_assert_msg(r.fail == DLP_FAIL_NONE,
                              "%s: the good task %llu failed: %s", name,
                              (unsigned long long)i, r.error);
        }
        assert_end(j);
        dlp_job_destroy(j);
    }
    tu_pool_end(p);
}
END_TEST

/* The scalar and array calls into a val argument make the value of that
 * kind. */
static void scalars_fill(dlp_args *a, uint64_t i, void *ud)
{
    static const int64_t i64s[] = {-1, 2};
    static const uint64_t u64s[] = {UINT64_MAX, 3};
    static const double f64s[] = {0.5};
    static const uint8_t u8s[] = {255};
    (void)ud;
    switch (i) {
    case 0: dlp_args_int(a, -3); break;
    case 1: dlp_args_uint(a, UINT64_MAX); break;
    case 2: dlp_args_uint(a, 5); break;
    case 3: dlp_args_double(a, -0.25); break;
    case 4: dlp_args_bool(a, true); break;
    case 5: dlp_args_str(a, "a\0b", 3); break;
    case 6: dlp_args_bytes(a, "\xff", 1); break;
    case 7: dlp_args_array(a, DLP_T_I64, i64s, 2); break;
    case 8: dlp_args_array(a, DLP_T_U64, u64s, 2); break;
    case 9: dlp_args_array(a, DLP_T_F64, f64s, 1); break;
    case 10: dlp_args_array(a, DLP_T_U8, u8s, 1); break;
    default: dlp_args_array(a, DLP_T_I64, NULL, 0); break;
    }
}

START_TEST(test_values_scalars_into_val)
{
    static const char *const want[] = {
        "-3", "18446744073709551615", "5", "-0.25", "true", "\"a\\0b\"",
        "b\"\\xff\"", "[-1, 2]", "[18446744073709551615, 3]", "[0.5]",
        "[255]", "[]",
    };
    enum { N = sizeof want / sizeof want[0] };
    dlp_pool *p = tu_pool_start(2);
    fill_it it = {N, scalars_fill, NULL};
    dlp_job *j = tu_start(p, tu_testplug(p, "echo_val"), fill_next, &it,
                          NULL);
    dlp_result r;
    for (uint64_t i = 0; i < N; i++) {
        expect x = {X_VAL, 0, 0, 0, want[i], 0, 0};
        char name[32];
        snprintf(name, sizeof name, "task %llu", (unsigned long long)i);
        next_ok(j, &r);
        ck_assert_uint_eq(r.index, i);
        check_expect(name, &r, &x);
    }
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* ---- val results ---- */

static void deep_fill(dlp_args *a, uint64_t i, void *ud)
{
    /* 64 deep, 65 deep (too deep to carry), 3 deep, 1000 deep, 1. */
    static const int64_t n[] = {DLP_VAL_MAX_DEPTH, DLP_VAL_MAX_DEPTH + 1, 3,
                                1000, 1};
    (void)ud;
    dlp_args_int(a, n[i]);
}

START_TEST(test_values_deep_result)
{
    /* A result too deep to carry fails alone (DLP_FAIL_RESULT, naming
     * the limit, the worker kept); the tasks after it succeed. */
    dlp_pool *p = tu_pool_start(1);
    fill_it it = {5, deep_fill, NULL};
    dlp_job *j = tu_start(p, tu_testplug(p, "deep"), fill_next, &it, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    char limit[16];
    dlp_val *want;
    int rc;

    snprintf(limit, sizeof limit, "%d", DLP_VAL_MAX_DEPTH);
    next_ok(j, &r);
    want = nested(DLP_VAL_MAX_DEPTH);
    ck_assert_msg(dlp_val_equal(r.v.val, want),
                  "expected lists nested 64 deep");
    dlp_val_free(want);
    for (int k = 1; k <= 3; k += 2) {
        rc = dlp_job_next(j, &r, &err);
        ck_assert_msg(rc == 1, "expected a result, got %d (%s): %s", rc,
                      dlp_strerror(rc), err.msg);
        ck_assert_uint_eq(r.index, (uint64_t)k);
        ck_assert_msg(r.fail == DLP_FAIL_RESULT,
                      "task %d: expected DLP_FAIL_RESULT (%d), got %d (%s): "
                      "%s",
                      k, DLP_FAIL_RESULT, (int)r.fail,
                      dlp_fail_kind_name(r.fail), r.error ? r.error : "");
        tu_assert_has(r.error, limit);
        ck_assert_uint_eq(r.attempts, 1);
        if (k == 1) {
            next_ok(j, &r);
            ck_assert_uint_eq(r.index, 2);
            want = nested(3);
            ck_assert(dlp_val_equal(r.v.val, want));
            dlp_val_free(want);
        }
    }
    next_ok(j, &r);
    ck_assert_uint_eq(r.index, 4);
    ck_assert_int_eq(r.v.val->kind, DLP_V_LIST);
    ck_assert_uint_eq(dlp_val_len(r.v.val), 0);
    assert_end(j);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

static void one_val_fill(dlp_args *a, uint64_t i, void *ud)
{
    (void)i;
    if (dlp_args_next_type(a) == DLP_T_VAL) {
        dlp_val *v = V((const char *)ud);
        dlp_args_val(a, v);
        dlp_val_free(v);
    }
}

/* Run symbol over n tasks of one_val_fill and return the job. */
static dlp_job *start_vals(dlp_pool *p, const char *symbol, fill_it *it,
                           uint64_t n, const char *arg)
{
    it->n = n;
    it->fill = one_val_fill;
    it->ud = (void *)arg;
    return tu_start(p, tu_testplug(p, symbol), fill_next, it, NULL);
}

static int64_t one_pid(dlp_pool *p)
{
    int64_t pid = 0;
    tu_run_i64(p, tu_testplug(p, "worker_pid"), 1, NULL, &pid);
    return pid;
}

START_TEST(test_values_other_results)
{
    dlp_pool *p = tu_pool_start(1);
    int64_t pid = one_pid(p);
    fill_it it;
    dlp_job *j;
    dlp_result r;
    dlp_error err = {0, ""};
    int rc;

    /* NULL from the function is a null node, never a NULL pointer. */
    j = start_vals(p, "null_val", &it, 2, NULL);
    for (int i = 0; i < 2; i++) {
        next_ok(j, &r);
        ck_assert_int_eq(r.type, DLP_T_VAL);
        ck_assert_ptr_nonnull(r.v.val);
        ck_assert_int_eq(r.v.val->kind, DLP_V_NULL);
    }
    assert_end(j);
    dlp_job_destroy(j);

    /* dlp_fail wins over the value the function returns. */
    j = start_vals(p, "fail_val", &it, 3, "{\"k\": [1, 2, 3]}");
    for (int i = 0; i < 3; i++) {
        rc = dlp_job_next(j, &r, &err);
        ck_assert_msg(rc == 1, "expected a result, got %d (%s): %s", rc,
                      dlp_strerror(rc), err.msg);
        ck_assert_msg(r.fail == DLP_FAIL_PLUGIN,
                      "expected DLP_FAIL_PLUGIN, got %d (%s)", (int)r.fail,
                      dlp_fail_kind_name(r.fail));
        ck_assert_str_eq(r.error, "failed with a map in hand");
    }
    assert_end(j);
    dlp_job_destroy(j);

    /* A node of no known kind is a bad result of its task only. */
    j = start_vals(p, "bad_kind_val", &it, 2, NULL);
    for (int i = 0; i < 2; i++) {
        rc = dlp_job_next(j, &r, &err);
        ck_assert_msg(rc == 1, "expected a result, got %d (%s): %s", rc,
                      dlp_strerror(rc), err.msg);
        ck_assert_msg(r.fail == DLP_FAIL_RESULT,
                      "expected DLP_FAIL_RESULT, got %d (%s): %s",
                      (int)r.fail, dlp_fail_kind_name(r.fail),
                      r.error ? r.error : "");
    }
    assert_end(j);
    dlp_job_destroy(j);

    /* The one worker ran all of it and is still the same process. */
    ck_assert_int_eq(one_pid(p), pid);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_values_held_until_next)
{
    /* A val result stays valid until the next dlp_job_next, unordered
     * too, over many tasks (valgrind: each is freed once). */
    dlp_pool *p = tu_pool_start(3);
    fill_it it;
    dlp_job_options o;
    dlp_job *j;
    dlp_result r;
    const dlp_val *prev = NULL;
    dlp_val *want = V("[\"kept\", {\"n\": 1}, b\"\\0\"]");
    uint64_t n = 0;
    dlp_error err = {0, ""};
    int rc;

    dlp_job_options_init(&o);
    o.flags = DLP_JOB_UNORDERED;
    it.n = 500;
    it.fill = one_val_fill;
    it.ud = (void *)"[\"kept\", {\"n\": 1}, b\"\\0\"]";
    j = tu_start(p, tu_testplug(p, "echo_val"), fill_next, &it, &o);
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_msg(r.fail == DLP_FAIL_NONE, "task %llu failed: %s",
                      (unsigned long long)r.index, r.error);
        ck_assert(dlp_val_equal(r.v.val, want));
        ck_assert_ptr_ne(r.v.val, prev);
        prev = r.v.val;
        n++;
    }
    ck_assert_msg(rc == 0, "expected the end, got %d (%s): %s", rc,
                  dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(n, 500);
    dlp_job_destroy(j);
    dlp_val_free(want);

    /* Destroyed with val results done but not handed out. */
    it.n = 200;
    j = tu_start(p, tu_testplug(p, "echo_val"), fill_next, &it, NULL);
    next_ok(j, &r);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_values_chan_not_a_task)
{
    /* A process function (i32(chan)) resolves, but a job of it is
     * refused: its channel cannot come from an iterator. */
    dlp_pool *p = tu_pool_start(1);
    int fn = tu_testplug(p, "chan_noop");
    count_it it = {3, 0, 0};
    dlp_job *j = NULL;
    dlp_error err = {0, ""};
    int rc = dlp_job_create(&j, p, fn, count_next, &it, NULL, &err);
    ck_assert_msg(rc == DLP_EINVAL,
                  "a job of an i32(chan) function: expected DLP_EINVAL (%d), "
                  "got %d (%s): %s",
                  DLP_EINVAL, rc, dlp_strerror(rc), err.msg);
    ck_assert_ptr_null(j);
    tu_assert_has(err.msg, "chan_noop");
    tu_assert_has(err.msg, "i32(chan)");
    ck_assert_uint_eq(it.calls, 0);
    tu_pool_end(p);
}
END_TEST

/* A tree of about n nodes, for churning a worker's heap. */
static dlp_val *bushy(unsigned n)
{
    dlp_val *l = dlp_val_list();
    for (unsigned i = 0; i < n; i++) {
        dlp_val *m = dlp_val_map();
        ck_assert_int_eq(dlp_val_set(m, "k", dlp_val_cstr("some text")), 0);
        ck_assert_int_eq(dlp_val_push(l, m), 0);
    }
    return l;
}

static void bushy_fill(dlp_args *a, uint64_t i, void *ud)
{
    dlp_val *v = bushy(500 + 100 * (unsigned)i);
    (void)ud;
    dlp_args_val(a, v);
    dlp_val_free(v);
}

START_TEST(test_values_many_functions)
{
    /* A worker holds every function the pool resolved, in a table that
     * grows as more are loaded; a function loaded early must still be
     * called right after the table has grown and the worker's heap has
     * been used (here by big val trees).  Each call of the early
     * functions checks its result. */
    static const char *const symbols[] = {
        "echo_i64", "echo_f64", "sum_i64", "echo_str", "echo_i8",
        "echo_i16", "echo_i32", "echo_u8",  "echo_u16", "echo_u32",
        "echo_u64", "echo_f32", "echo_bool", "bytes_hex", "concat",
        "touch",    "sleepy",   "crash",    "fail_odd", "counter",
        "worker_pid", "noisy",  "echo_val", "val_kind", "sum_f32",
        "first_u8", "deep",     "null_val", "fail_val", "mixed",
        "open_fds", "hog",      "big_str",
    };
    enum { NSYM = sizeof symbols / sizeof symbols[0] };
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
    int fns[NSYM];
    int64_t vals[4] = {-7, 0, 123456789, INT64_MIN}, out[4];
    fill_it it = {6, bushy_fill, NULL};
    dlp_job *j;
    dlp_result r;

    for (size_t k = 0; k < NSYM; k++)
        fns[k] = tu_testplug(p, symbols[k]);
    for (int round = 0; round < 3; round++) {
        j = tu_start(p, fns[22], fill_next, &it, NULL); /* echo_val */
        for (int i = 0; i < 6; i++)
            next_ok(j, &r);
        assert_end(j);
        dlp_job_destroy(j);
        tu_run_i64(p, fns[0], 4, vals, out); /* echo_i64 */
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(out[i], vals[i]);
        tu_run_i64(p, fns[4], 4, NULL, out); /* echo_i8 */
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(out[i], i);
    }
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* ---- large arrays ---- */

typedef struct big_array {
    dlp_type elem;
    const void *data;
    size_t n;
    int rc; /* what dlp_args_array returned */
} big_array;

static void big_array_fill(dlp_args *a, uint64_t i, void *ud)
{
    big_array *b = ud;
    (void)i;
    b->rc = dlp_args_array(a, b->elem, b->data, b->n);
}

START_TEST(test_values_big_arrays)
{
    dlp_pool *p = tu_pool_start(1);
    size_t n = 1u << 20;
    int64_t *d = malloc(n * sizeof *d), want = 0;
    big_array b = {DLP_T_I64, d, n, -1};
    fill_it it = {1, big_array_fill, &b};
    dlp_job *j;
    dlp_result r;
    ck_assert_ptr_nonnull(d);
    for (size_t i = 0; i < n; i++) {
        d[i] = (int64_t)(i * 7) - 5;
        want += d[i];
    }
    /* A million elements of the same type, in place. */
    j = tu_start(p, tu_testplug(p, "sum_i64"), fill_next, &it, NULL);
    next_ok(j, &r);
    ck_assert_int_eq(b.rc, 0);
    ck_assert_int_eq(r.v.i, want);
    assert_end(j);
    dlp_job_destroy(j);
    free(d);

    /* More i64 elements than would fit a frame as i64, converted to u8,
     * where they fit: the conversion is sized by the target type. */
    {
        size_t big = (DLP_FRAME_MAX - 64) / 8 + 1;
        int64_t *z = mmap(NULL, big * 8, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        ck_assert_msg(z != MAP_FAILED, "mmap of %zu bytes failed",
                      big * 8);
        z[0] = 7; /* the rest reads as zeros, from one shared page */
        b.elem = DLP_T_I64;
        b.data = z;
        b.n = big;
        b.rc = -1;
        j = tu_start(p, tu_testplug(p, "first_u8"), fill_next, &it, NULL);
        next_ok(j, &r);
        ck_assert_msg(b.rc == 0, "dlp_args_array of %zu i64 into u8[]: "
                                 "expected 0, got %d",
                      big, b.rc);
        ck_assert_int_eq(r.v.i, 7);
        assert_end(j);
        dlp_job_destroy(j);
        munmap(z, big * 8);
    }
    tu_pool_end(p);
}
END_TEST

Suite *dlp_test_job(void);

Suite *dlp_test_job(void)
{
    Suite *s = suite_create("job");
    TCase *tc;

    tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_ordered);
    tcase_add_test(tc, test_times);
    tcase_add_test(tc, test_unordered);
    tcase_add_loop_test(tc, test_small_window, 0,
                        sizeof window_flags / sizeof window_flags[0]);
    tcase_add_test(tc, test_many_tiny_tasks);
    tcase_add_test(tc, test_empty_job);
    tcase_add_loop_test(tc, test_iterator_error, 0,
                        sizeof fail_at / sizeof fail_at[0]);
    tcase_add_test(tc, test_pause_wait_fd);
    tcase_add_test(tc, test_pause_no_fd);
    tcase_add_loop_test(tc, test_window_not_power_of_two, 0,
                        sizeof window_flags / sizeof window_flags[0]);
    tcase_add_test(tc, test_pause_no_fd_no_spin);
    suite_add_tcase(s, tc);

    tc = tcase_create("types");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_signed_results, 0,
                        sizeof signed_cases / sizeof signed_cases[0]);
    tcase_add_loop_test(tc, test_unsigned_results, 0,
                        sizeof unsigned_cases / sizeof unsigned_cases[0]);
    tcase_add_test(tc, test_f32_results);
    tcase_add_test(tc, test_f64_results);
    tcase_add_test(tc, test_bool_results);
    tcase_add_test(tc, test_str_borrowed);
    tcase_add_test(tc, test_str_owned);
    tcase_add_test(tc, test_bytes_argument);
    tcase_add_test(tc, test_void_result);
    tcase_add_test(tc, test_mixed_arguments);
    tcase_add_test(tc, test_plugin_failures);
    tcase_add_test(tc, test_fail_then_literal);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_big_result);
    tcase_add_test(tc, test_big_results_reuse);
    tcase_add_test(tc, test_window_too_large);
    suite_add_tcase(s, tc);

    /* Over a gigabyte of arguments: seconds, and much longer under the
     * sanitizers. */
    tc = tcase_create("large");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_batch_bytes_bounded);
    suite_add_tcase(s, tc);

    tc = tcase_create("jobs");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_destroy_mid_job);
    tcase_add_test(tc, test_two_jobs_zip);
    tcase_add_test(tc, test_threads_share_pool);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, test_bad_input, 0,
                        sizeof bad_cases / sizeof bad_cases[0]);
    tcase_add_test(tc, test_all_bad_input);
    tcase_add_test(tc, test_create_after_close);
    tcase_add_test(tc, test_create_unresolved);
    suite_add_tcase(s, tc);

    /* Arrays, vals and val results; one case moves a gigabyte of zero
     * pages through a conversion, which takes seconds under the
     * sanitizers. */
    tc = tcase_create("values");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_values_arrays);
    tcase_add_test(tc, test_values_every_array_type);
    tcase_add_test(tc, test_values_vals);
    tcase_add_test(tc, test_values_scalars_into_val);
    tcase_add_test(tc, test_values_deep_result);
    tcase_add_test(tc, test_values_other_results);
    tcase_add_test(tc, test_values_held_until_next);
    tcase_add_test(tc, test_values_chan_not_a_task);
    tcase_add_test(tc, test_values_many_functions);
    tcase_add_test(tc, test_values_big_arrays);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(dlp_test_job)
