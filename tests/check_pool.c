/*
 * check_pool.c - pools end to end with real worker processes: the seed's
 * examples (the calculator, the pipe-EOF trap, state on a function),
 * starting and stopping workers, resolving functions and every way that
 * fails, crashing tasks, a worker's standard output, and inspecting
 * plugins.
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
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#ifdef DLP_DEBUG_LOCKS
#include "pool.h"
#endif

/* ---- fixtures -------------------------------------------------------- */

/* Resolve a reference that must fail with code `want`; returns the
 * message. */
static const char *resolve_fails(dlp_pool *p, const char *ref,
                                 const char *sig, int want)
{
    static dlp_error err;
    int rc;
    memset(&err, 0, sizeof err);
    rc = dlp_pool_fn(p, ref, sig, &err);
    ck_assert_msg(rc == want,
                  "resolving '%s': expected %d (%s), got %d (%s): %s", ref,
                  want, dlp_strerror(want), rc, dlp_strerror(rc), err.msg);
    ck_assert_int_eq(err.code, want);
    return err.msg;
}

/* Pairs (i, i*i) for the calculator. */
static int pairs_next(void *ud, uint64_t i, dlp_args *a)
{
    if (i >= *(uint64_t *)ud)
        return 0;
    dlp_args_int(a, (int64_t)i);
    dlp_args_int(a, (int64_t)(i * i));
    return 1;
}

/* The distinct values of v[0..n-1], sorted in place; returns how many. */
static size_t distinct(int64_t *v, size_t n)
{
    size_t k = 0;
    qsort(v, n, sizeof *v, tu_cmp_i64);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || v[k - 1] != v[i])
            v[k++] = v[i];
    return k;
}

/* The seed's lesson: a worker holds only its own channel.  Its
 * descriptors are stdin (/dev/null), stdout and stderr, and one socket at
 * 3; none of the pool's other channels, which would keep a sibling from
 * ever seeing EOF. */
static void assert_own_channel_only(pid_t pid)
{
    char dir[64], path[64 + 256], link[256];
    DIR *d;
    struct dirent *e;
    int have_chan = 0, chan = tu_channel_fd();
    ssize_t n;
    struct rlimit lim;

    /* Descriptors at or above the limit a program may use belong to a
     * tool running the test (valgrind keeps its own there). */
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
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        n = readlink(path, link, sizeof link - 1);
        link[n > 0 ? n : 0] = 0;
        ck_assert_msg(fd <= 2 || fd == chan,
                      "worker %d holds descriptor %ld (%s): expected only "
                      "0-2 and its channel at %d",
                      (int)pid, fd, link, chan);
        if (fd == chan) {
            have_chan = 1;
            ck_assert_msg(strncmp(link, "socket:", 7) == 0,
                          "worker %d: expected its channel, a socket, at "
                          "descriptor %d, found %s",
                          (int)pid, chan, link);
        } else if (fd == 0) {
            ck_assert_str_eq(link, "/dev/null");
        }
    }
    closedir(d);
    ck_assert_msg(have_chan, "worker %d has no channel at descriptor %d",
                  (int)pid, chan);
}

/* Assert that the live worker processes are exactly the pool's workers:
 * `want` children of this process, and a worker_pid job spread over many
 * tasks is answered by those same processes, each holding only its own
 * channel. */
static void assert_workers(dlp_pool *p, int pid_fn, unsigned want)
{
    enum { N = 400 };
    int64_t seen[N];
    pid_t kids[64];
    unsigned nk = tu_children(kids, 64);
    size_t nd;
    ck_assert_msg(nk == want, "expected %u worker processes, found %u", want,
                  nk);
    tu_run_i64(p, pid_fn, N, NULL, seen);
    nd = distinct(seen, N);
    ck_assert_msg(nd == want,
                  "expected %u distinct workers to answer worker_pid, got "
                  "%zu",
                  want, nd);
    for (size_t i = 0; i < nd; i++) {
        unsigned k;
        for (k = 0; k < nk && kids[k] != (pid_t)seen[i]; k++)
            ;
        ck_assert_msg(k < nk,
                      "worker_pid answered %lld, which is not a child of "
                      "this process",
                      (long long)seen[i]);
        /* It answered, so it is past its set-up. */
        assert_own_channel_only((pid_t)seen[i]);
    }
}

/* ---- core: the seed's examples and the pool's lifecycle -------------- */

/* The seed's calculator, a + b over many pairs, with the other example
 * functions: a plugin error for one task, and owned strings. */
START_TEST(test_add_calculator)
{
    dlp_pool *p = tu_pool_start(2);
    int add = tu_resolve(p, tu_examples(), "add", NULL);
    uint64_t n = 1000, k = 0;
    dlp_job *j = tu_start(p, add, pairs_next, &n, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    int rc;

    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        ck_assert_msg(r.fail == DLP_FAIL_NONE, "add task %llu failed: %s",
                      (unsigned long long)k, r.error);
        ck_assert_int_eq(r.type, DLP_T_I64);
        ck_assert_int_eq(r.v.i, (int64_t)(k + k * k));
        k++;
    }
    ck_assert_msg(rc == 0, "expected the end of the job, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(k, n);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* divide(100, b): dlp_fail() in a plugin fails that task only. */
static int divide_next(void *ud, uint64_t i, dlp_args *a)
{
    static const int64_t by[] = {4, 0, 5, 0, 10};
    (void)ud;
    if (i >= sizeof by / sizeof by[0])
        return 0;
    dlp_args_int(a, 100);
    dlp_args_int(a, by[i]);
    return 1;
}

static int shout_next(void *ud, uint64_t i, dlp_args *a)
{
    static const char *words[] = {"hello", "", "Mixed Case 42"};
    (void)ud;
    if (i >= 3)
        return 0;
    dlp_args_str(a, words[i], strlen(words[i]));
    return 1;
}

START_TEST(test_examples_fail_and_owned_strings)
{
    dlp_pool *p = tu_pool_start(2);
    int divide = tu_resolve(p, tu_examples(), "divide", NULL);
    int shout = tu_resolve(p, tu_examples(), "shout", NULL);
    static const char *loud[] = {"HELLO", "", "MIXED CASE 42"};
    dlp_job *j = tu_start(p, divide, divide_next, NULL, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    int rc;

    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        if (k == 1 || k == 3) {
            ck_assert_msg(r.fail == DLP_FAIL_PLUGIN,
                          "task %llu: expected DLP_FAIL_PLUGIN, got %d",
                          (unsigned long long)k, (int)r.fail);
            ck_assert_str_eq(r.error, "division by zero: 100 / 0");
        } else {
            ck_assert_msg(r.fail == DLP_FAIL_NONE, "task %llu failed: %s",
                          (unsigned long long)k, r.error);
            ck_assert_int_eq(r.v.i, k == 0 ? 25 : k == 2 ? 20 : 10);
        }
        k++;
    }
    ck_assert_msg(rc == 0, "expected the end of the job, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(k, 5);
    dlp_job_destroy(j);

    j = tu_start(p, shout, shout_next, NULL, NULL);
    for (k = 0; (rc = dlp_job_next(j, &r, &err)) == 1; k++) {
        ck_assert_uint_eq(r.index, k);
        ck_assert_msg(r.fail == DLP_FAIL_NONE, "shout %llu failed: %s",
                      (unsigned long long)k, r.error);
        ck_assert_int_eq(r.type, DLP_T_STR);
        ck_assert_str_eq(r.v.s.ptr, loud[k]);
        ck_assert_uint_eq(r.v.s.len, strlen(loud[k]));
    }
    ck_assert_msg(rc == 0, "expected the end of the job, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(k, 3);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_workers_started)
{
    dlp_pool *p = tu_pool_start(3);
    int pid_fn = tu_testplug(p, "worker_pid");
    assert_workers(p, pid_fn, 3);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_default_workers)
{
    /* workers = 0 means one per online CPU. */
    int fds = tu_fd_count();
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    dlp_pool *p = NULL;
    dlp_error err = {0, ""};
    pid_t kids[4096];
    int rc = dlp_pool_create(&p, NULL, &err);
    tu_ok(rc, err);
    ck_assert_int_eq((long)dlp_pool_workers(p), cpus > 0 ? cpus : 1);
    ck_assert_uint_eq(tu_children(kids, 4096), dlp_pool_workers(p));
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* State lives in the worker: one worker counts 1..N, and keeps counting
 * in the next job. */
START_TEST(test_counter_one_worker)
{
    enum { N = 50 };
    dlp_pool *p = tu_pool_start(1);
    int counter = tu_testplug(p, "counter");
    int64_t got[N];

    tu_run_i64(p, counter, N, NULL, got);
    for (int i = 0; i < N; i++)
        ck_assert_msg(got[i] == i + 1,
                      "task %d: expected count %d, got %lld", i, i + 1,
                      (long long)got[i]);
    tu_run_i64(p, counter, N, NULL, got);
    for (int i = 0; i < N; i++)
        ck_assert_msg(got[i] == N + i + 1,
                      "second job, task %d: expected count %d, got %lld", i,
                      N + i + 1, (long long)got[i]);
    tu_pool_end(p);
}
END_TEST

/* Split counts (in task order) into two per-worker runs.  A worker runs
 * its tasks in task order, so with per-worker state the counts are a
 * merge of from[0]+1, from[0]+2, ... and from[1]+1, ...: the count of a
 * task must be the next one of either run.  Returns the tasks each run
 * took in k[]. */
static void split_two_runs(const int64_t *got, unsigned n, const int64_t *from,
                           int64_t *k)
{
    int64_t next[2] = {from[0] + 1, from[1] + 1};
    for (unsigned i = 0; i < n; i++) {
        if (got[i] == next[0])
            next[0]++;
        else if (got[i] == next[1])
            next[1]++;
        else
            ck_abort_msg("task %u: count %lld continues neither worker's "
                         "count (next %lld or %lld)",
                         i, (long long)got[i], (long long)next[0],
                         (long long)next[1]);
    }
    k[0] = next[0] - 1 - from[0];
    k[1] = next[1] - 1 - from[1];
}

START_TEST(test_counter_two_workers)
{
    enum { N = 200 };
    dlp_pool *p = tu_pool_start(2);
    int counter = tu_testplug(p, "counter");
    int pid_fn = tu_testplug(p, "worker_pid");
    int64_t got[N], k[2], from[2] = {0, 0}, total[2];

    /* Two processes serve the pool... */
    assert_workers(p, pid_fn, 2);
    /* ...each counts its own calls from 1: the counts are two runs 1..k,
     * not one shared 1..N, and not all 1 (state lost between tasks). */
    tu_run_i64(p, counter, N, NULL, got);
    split_two_runs(got, N, from, k);
    ck_assert_int_eq(k[0] + k[1], N);
    ck_assert_msg(k[0] > 0 && k[1] > 0,
                  "expected both workers to count, got runs of %lld and %lld",
                  (long long)k[0], (long long)k[1]);
    /* A second job finds each worker's count where the first left it. */
    total[0] = k[0];
    total[1] = k[1];
    tu_run_i64(p, counter, N, NULL, got);
    /* The runs may be in either order; try both assignments. */
    {
        int64_t next[2] = {total[0] + 1, total[1] + 1};
        for (unsigned i = 0; i < N; i++) {
            if (got[i] == next[0])
                next[0]++;
            else if (got[i] == next[1])
                next[1]++;
            else
                ck_abort_msg("second job, task %u: count %lld continues "
                             "neither worker's count (next %lld or %lld)",
                             i, (long long)got[i], (long long)next[0],
                             (long long)next[1]);
        }
        ck_assert_int_eq(next[0] - 1 - total[0] + next[1] - 1 - total[1], N);
    }
    tu_pool_end(p);
}
END_TEST

START_TEST(test_same_ref_same_id)
{
    dlp_pool *p = tu_pool_start(2);
    int a = tu_testplug(p, "echo_i64");
    int b = tu_testplug(p, "echo_u8");
    int a2 = tu_testplug(p, "echo_i64");
    int c = tu_resolve(p, "libm.so.6", "cbrt", "f64(f64)");
    int c2 = tu_resolve(p, "libm.so.6", "cbrt", "f64(f64)");
    const dlp_sig *sig;

    ck_assert_int_ne(a, b);
    ck_assert_int_eq(a, a2);
    ck_assert_int_eq(c, c2);
    ck_assert_int_ne(c, a);
    sig = dlp_pool_fn_sig(p, b);
    ck_assert_ptr_nonnull(sig);
    ck_assert_int_eq(sig->ret, DLP_T_U8);
    ck_assert_uint_eq(sig->nargs, 1);
    ck_assert_int_eq(sig->args[0], DLP_T_U8);
    ck_assert_ptr_null(dlp_pool_fn_sig(p, 99));
    ck_assert_ptr_null(dlp_pool_fn_sig(p, -1));
    tu_pool_end(p);
}
END_TEST

static int cube_next(void *ud, uint64_t i, dlp_args *a)
{
    static const double x[] = {27.0, -8.0, 0.0, 1e-9};
    (void)ud;
    if (i >= 4)
        return 0;
    dlp_args_double(a, x[i]);
    return 1;
}

/* A plain shared library works with a signature given by the caller. */
START_TEST(test_libm_cbrt)
{
    static const double want[] = {3.0, -2.0, 0.0, 1e-3};
    dlp_pool *p = tu_pool_start(2);
    int cbrt_fn = tu_resolve(p, "libm.so.6", "cbrt", "f64(f64)");
    dlp_job *j = tu_start(p, cbrt_fn, cube_next, NULL, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    int rc;

    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        ck_assert_msg(r.fail == DLP_FAIL_NONE, "cbrt task %llu failed: %s",
                      (unsigned long long)k, r.error);
        ck_assert_int_eq(r.type, DLP_T_F64);
        ck_assert_double_eq_tol(r.v.f, want[k], 1e-12);
        k++;
    }
    ck_assert_msg(rc == 0, "expected the end of the job, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(k, 4);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* dlp_plugin_inspect reports the manifest, in manifest order. */
typedef struct listing {
    unsigned n;
    char name[16][64], sig[16][64];
} listing;

static void list_fn(void *ud, const char *name, const char *sig)
{
    listing *l = ud;
    if (l->n < 16) {
        snprintf(l->name[l->n], sizeof l->name[0], "%s", name);
        snprintf(l->sig[l->n], sizeof l->sig[0], "%s", sig);
    }
    l->n++;
}

START_TEST(test_inspect_examples)
{
    static const char *names[] = {"add",    "mean",   "shout", "divide",
                                  "count",  "length", "concat", "sum",
                                  "isum",   "stats",  "rgb",
                                  "calculator"};
    static const char *sigs[] = {"i64(i64,i64)", "f64(f64,f64)", "str!(str)",
                                 "i64(i64,i64)", "i64()",        "u64(bytes)",
                                 "val(val,val)", "f64(f64[])",   "i64(i64[])",
                                 "val(f64[])",   "str!(u8[])",
                                 "i32(chan)"};
    const unsigned nfns = sizeof names / sizeof names[0];
    int fds = tu_fd_count();
    listing l;
    char *name = NULL;
    unsigned abi = 0;
    dlp_error err = {0, ""};
    int rc;

    memset(&l, 0, sizeof l);
    rc = dlp_plugin_inspect(tu_examples(), NULL, &name, &abi, list_fn, &l,
                            &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(name);
    ck_assert_str_eq(name, "examples");
    ck_assert_uint_eq(abi, 1);
    ck_assert_uint_eq(l.n, nfns);
    for (unsigned i = 0; i < nfns; i++) {
        ck_assert_str_eq(l.name[i], names[i]);
        ck_assert_str_eq(l.sig[i], sigs[i]);
    }
    free(name);
    tu_assert_clean(fds);
}
END_TEST

/* ---- the pipe-EOF case ------------------------------------------------ */

/* The seed's hang: a child that inherits the other ends of its siblings'
 * pipes never sees EOF.  Workers hold only their own channel (checked
 * descriptor by descriptor), so closing the pool's ends is EOF for every
 * worker at once and they leave by themselves; destroy returns without
 * waiting out a grace period (the tcase's timeout catches a hang). */
START_TEST(test_destroy_idle_after_work)
{
    dlp_pool *p = tu_pool_start(16);
    int add = tu_resolve(p, tu_examples(), "add", NULL);
    uint64_t n = 200, k = 0;
    dlp_job *j = tu_start(p, add, pairs_next, &n, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    pid_t kids[64];
    int rc;

    unsigned nk;

    while ((rc = dlp_job_next(j, &r, &err)) == 1)
        k++;
    ck_assert_msg(rc == 0, "expected the end of the job, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(k, n);
    dlp_job_destroy(j);
    /* Every worker answered the LOAD of add, so each is past its set-up
     * and now sits in read() on its channel. */
    nk = tu_children(kids, 64);
    ck_assert_uint_eq(nk, 16);
    for (unsigned i = 0; i < nk; i++)
        assert_own_channel_only(kids[i]);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_destroy_fresh)
{
    /* A pool that never loaded anything: the workers wait for their first
     * frame. */
    dlp_pool *p = tu_pool_start(16);
    tu_pool_end(p);
    dlp_pool_destroy(NULL);
}
END_TEST

START_TEST(test_destroy_after_crashes)
{
    /* Replacement workers are forked late, while the pool holds the
     * channels of the others: they too must hold only their own. */
    static const int64_t vals[] = {0, -1, 2, -1, 4, -1, 6, -1, 8, -1};
    dlp_pool *p = tu_pool_start(4);
    int crash = tu_testplug(p, "crash");
    tu_ints it = {10, vals};
    dlp_job *j = tu_start(p, crash, tu_ints_next, &it, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    unsigned crashed = 0, k = 0;
    int rc;

    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        crashed += r.fail == DLP_FAIL_SIGNAL;
        k++;
    }
    ck_assert_msg(rc == 0, "expected the end of the job, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(crashed, 5);
    dlp_job_destroy(j);
    /* Replacements answer worker_pid, so they are past their set-up. */
    assert_workers(p, tu_testplug(p, "worker_pid"), 4);
    tu_pool_end(p);
}
END_TEST

/* ---- errors ----------------------------------------------------------- */

START_TEST(test_create_errors)
{
    int fds = tu_fd_count();
    dlp_pool_options o;
    dlp_pool *p = (dlp_pool *)&o; /* must be reset to NULL */
    dlp_error err = {0, ""};
    int rc;

    dlp_pool_options_init(&o);
    o.workers = 100000;
    rc = dlp_pool_create(&p, &o, &err);
    ck_assert_msg(rc == DLP_EINVAL, "expected DLP_EINVAL, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_ptr_null(p);
    tu_assert_has(err.msg, "100000");
    rc = dlp_pool_create(NULL, &o, &err);
    ck_assert_int_eq(rc, DLP_EINVAL);
    tu_assert_clean(fds);
}
END_TEST

START_TEST(test_fn_missing_plugin)
{
    dlp_pool *p = tu_pool_start(2);
    const char *msg;

    msg = resolve_fails(p, "/nonexistent/dir/nope.so:f", NULL,
                        DLP_ENOPLUGIN);
    tu_assert_has(msg, "/nonexistent/dir/nope.so");
    msg = resolve_fails(p, "no_such_plugin_anywhere:f", NULL, DLP_ENOPLUGIN);
    tu_assert_has(msg, "no_such_plugin_anywhere");
    /* The pool still works. */
    tu_testplug(p, "echo_i64");
    tu_pool_end(p);
}
END_TEST

START_TEST(test_fn_no_symbol)
{
    dlp_pool *p = tu_pool_start(2);
    const char *msg;

    msg = resolve_fails(p, tu_ref(tu_plugin("testplug"), "no_such_fn"), NULL,
                        DLP_ENOSYM);
    tu_assert_has(msg, "no_such_fn");
    tu_assert_has(msg, "testplug.so");
    msg = resolve_fails(p, "libm.so.6:no_such_fn", "f64(f64)", DLP_ENOSYM);
    tu_assert_has(msg, "no_such_fn");
    tu_assert_has(msg, "libm.so.6");
    tu_pool_end(p);
}
END_TEST

START_TEST(test_fn_no_sig)
{
    dlp_pool *p = tu_pool_start(2);
    const char *msg;

    msg = resolve_fails(p, "libm.so.6:cbrt", NULL, DLP_ENOSIG);
    tu_assert_has(msg, "cbrt");
    tu_assert_has(msg, "libm.so.6");
    /* An empty signature is no signature. */
    resolve_fails(p, "libm.so.6:cbrt", "", DLP_ENOSIG);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_fn_bad_sig)
{
    dlp_pool *p = tu_pool_start(2);
    const char *msg;

    msg = resolve_fails(p, "libm.so.6:cbrt", "f64(f6)", DLP_ESIG);
    tu_assert_has(msg, "column 5");
    tu_assert_has(msg, "f6");
    /* A signature that contradicts the manifest. */
    msg = resolve_fails(p, tu_ref(tu_plugin("testplug"), "echo_i64"),
                        "f64(f64)", DLP_ESIG);
    tu_assert_has(msg, "echo_i64");
    /* A malformed signature in a plugin's own manifest. */
    msg = resolve_fails(p, tu_ref(tu_plugin("badsig"), "wrong"), NULL,
                        DLP_ESIG);
    tu_assert_has(msg, "badsig.so");
    tu_assert_has(msg, "column");
    tu_pool_end(p);
}
END_TEST

static const char *const not_refs[] = {"nocolon", ":", "plugin:", ""};

START_TEST(test_fn_not_a_ref)
{
    dlp_pool *p = tu_pool_start(1);
    const char *msg = resolve_fails(p, not_refs[_i], NULL, DLP_EINVAL);
    tu_assert_has(msg, "PLUGIN:SYMBOL");
    tu_pool_end(p);
}
END_TEST

START_TEST(test_fn_null_args)
{
    dlp_pool *p = tu_pool_start(1);
    dlp_error err = {0, ""};
    ck_assert_int_eq(dlp_pool_fn(p, NULL, NULL, &err), DLP_EINVAL);
    ck_assert_int_eq(dlp_pool_fn(NULL, "libm.so.6:cbrt", "f64(f64)", &err),
                     DLP_EINVAL);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_fn_init_fails)
{
    dlp_pool *p = tu_pool_start(2);
    const char *msg = resolve_fails(p, tu_ref(tu_plugin("badinit"), "never"),
                                    NULL, DLP_EINIT);
    tu_assert_has(msg, "badinit.so");
    tu_assert_has(msg, "7");
    tu_pool_end(p);
}
END_TEST

/* A plugin that crashes its loader: the function fails with a message
 * naming the plugin and the signal, and the pool goes on. */
START_TEST(test_fn_crashload)
{
    dlp_pool *p = tu_pool_start(2);
    int pid_fn;
    const char *msg = resolve_fails(p, tu_ref(tu_plugin("crashload"), "never"),
                                    NULL, DLP_ENOPLUGIN);
    tu_assert_has(msg, "crashload.so");
    tu_assert_has(msg, "killed by SIGSEGV");
    /* A failed reference is not cached as a success. */
    resolve_fails(p, tu_ref(tu_plugin("crashload"), "never"), NULL,
                  DLP_ENOPLUGIN);
    pid_fn = tu_testplug(p, "worker_pid");
    assert_workers(p, pid_fn, 2);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_fn_after_close)
{
    dlp_pool *p = tu_pool_start(1);
    ck_assert_int_eq(dlp_pool_close(p), 0);
    resolve_fails(p, tu_ref(tu_plugin("testplug"), "echo_i64"), NULL,
                  DLP_ECLOSED);
    ck_assert_int_eq(dlp_pool_close(NULL), DLP_EINVAL);
    tu_pool_end(p);
}
END_TEST

START_TEST(test_inspect_errors)
{
    int fds = tu_fd_count();
    char *name = (char *)"unchanged";
    unsigned abi = 0;
    dlp_error err = {0, ""};
    int rc;

    rc = dlp_plugin_inspect(tu_plugin("crashload"), NULL, &name, &abi, NULL,
                            NULL, &err);
    ck_assert_msg(rc == DLP_ENOPLUGIN,
                  "inspecting crashload: expected DLP_ENOPLUGIN, got %d "
                  "(%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_ptr_null(name);
    tu_assert_has(err.msg, "crashload.so");
    tu_assert_has(err.msg, "killed by SIGSEGV");

    rc = dlp_plugin_inspect("/nonexistent/nope.so", NULL, &name, &abi, NULL,
                            NULL, &err);
    ck_assert_msg(rc == DLP_ENOPLUGIN,
                  "inspecting a missing plugin: expected DLP_ENOPLUGIN, got "
                  "%d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    tu_assert_has(err.msg, "/nonexistent/nope.so");

    /* A plain library has no manifest to report. */
    rc = dlp_plugin_inspect("libm.so.6", NULL, &name, &abi, NULL, NULL, &err);
    ck_assert_msg(rc == DLP_ENOSYM,
                  "inspecting libm: expected DLP_ENOSYM, got %d (%s): %s", rc,
                  dlp_strerror(rc), err.msg);
    tu_assert_has(err.msg, "libm.so.6");

    rc = dlp_plugin_inspect(NULL, NULL, &name, &abi, NULL, NULL, &err);
    ck_assert_int_eq(rc, DLP_EINVAL);
    tu_assert_clean(fds);
}
END_TEST

/* ---- crashes ---------------------------------------------------------- */

/* Tasks 3, 9 and 14 crash their worker in three ways; exactly those fail,
 * with the right kind, and every other task succeeds in order. */
START_TEST(test_crash_tasks)
{
    enum { N = 20 };
    int64_t vals[N];
    dlp_pool *p = tu_pool_start(2);
    int crash = tu_testplug(p, "crash");
    int pid_fn = tu_testplug(p, "worker_pid");
    tu_ints it = {N, vals};
    dlp_job *j;
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    int rc;

    for (int i = 0; i < N; i++)
        vals[i] = i;
    vals[3] = -1;
    vals[9] = -2;
    vals[14] = -3;
    j = tu_start(p, crash, tu_ints_next, &it, NULL);
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        if (k == 3) {
            ck_assert_msg(r.fail == DLP_FAIL_SIGNAL,
                          "task 3: expected DLP_FAIL_SIGNAL, got %d (%s)",
                          (int)r.fail, r.error ? r.error : "no message");
            ck_assert_int_eq(r.signo, SIGSEGV);
            tu_assert_has(r.error, "killed by SIGSEGV");
        } else if (k == 9) {
            ck_assert_msg(r.fail == DLP_FAIL_SIGNAL,
                          "task 9: expected DLP_FAIL_SIGNAL, got %d (%s)",
                          (int)r.fail, r.error ? r.error : "no message");
            ck_assert_int_eq(r.signo, SIGABRT);
            tu_assert_has(r.error, "killed by SIGABRT");
        } else if (k == 14) {
            ck_assert_msg(r.fail == DLP_FAIL_EXIT,
                          "task 14: expected DLP_FAIL_EXIT, got %d (%s)",
                          (int)r.fail, r.error ? r.error : "no message");
            ck_assert_int_eq(r.exit_status, 3);
            tu_assert_has(r.error, "exited with status 3");
        } else {
            ck_assert_msg(r.fail == DLP_FAIL_NONE,
                          "task %llu: expected success, got failure %d: %s",
                          (unsigned long long)k, (int)r.fail, r.error);
            ck_assert_int_eq(r.v.i, (int64_t)k);
        }
        k++;
    }
    ck_assert_msg(rc == 0, "expected the end of the job, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(k, N);
    dlp_job_destroy(j);
    /* Each dead worker was replaced. */
    assert_workers(p, pid_fn, 2);
    tu_pool_end(p);
}
END_TEST

/* Crashes inside large batches of tiny tasks: only the task that was
 * running when its worker died fails (the scoreboard names it), although
 * the tasks before it in the batch had finished without being reported
 * yet; they and the tasks after it are run again and succeed. */
START_TEST(test_crash_inside_batch)
{
    enum { N = 30000 };
    static int64_t vals[N];
    dlp_pool *p = tu_pool_start(2);
    int crash = tu_testplug(p, "crash");
    tu_ints it = {N, vals};
    dlp_job *j;
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0, failed = 0;
    int rc;

    for (int i = 0; i < N; i++)
        vals[i] = i;
    vals[12345] = -1;
    vals[25000] = -2;
    j = tu_start(p, crash, tu_ints_next, &it, NULL);
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        if (k == 12345 || k == 25000) {
            ck_assert_msg(r.fail == DLP_FAIL_SIGNAL,
                          "task %llu: expected DLP_FAIL_SIGNAL, got %d (%s)",
                          (unsigned long long)k, (int)r.fail,
                          r.error ? r.error : "no message");
            ck_assert_int_eq(r.signo, k == 12345 ? SIGSEGV : SIGABRT);
            failed++;
        } else {
            ck_assert_msg(r.fail == DLP_FAIL_NONE,
                          "task %llu: expected success, got failure %d: %s",
                          (unsigned long long)k, (int)r.fail, r.error);
            ck_assert_int_eq(r.v.i, (int64_t)k);
        }
        k++;
    }
    ck_assert_msg(rc == 0, "expected the end of the job, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(k, N);
    ck_assert_uint_eq(failed, 2);
    dlp_job_destroy(j);
    tu_pool_end(p);
}
END_TEST

/* Every task crashes: each one fails alone, and the job still ends. */
START_TEST(test_crash_every_task)
{
    enum { N = 12 };
    int64_t vals[N];
    dlp_pool *p = tu_pool_start(3);
    int crash = tu_testplug(p, "crash");
    int pid_fn = tu_testplug(p, "worker_pid");
    tu_ints it = {N, vals};
    dlp_job *j;
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    int rc;

    for (int i = 0; i < N; i++)
        vals[i] = -1 - i % 3;
    j = tu_start(p, crash, tu_ints_next, &it, NULL);
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        ck_assert_msg(r.fail == (k % 3 == 2 ? DLP_FAIL_EXIT : DLP_FAIL_SIGNAL),
                      "task %llu: expected a crash, got fail kind %d (%s)",
                      (unsigned long long)k, (int)r.fail,
                      r.error ? r.error : "no message");
        k++;
    }
    ck_assert_msg(rc == 0, "expected the end of the job, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(k, N);
    dlp_job_destroy(j);
    assert_workers(p, pid_fn, 3);
    tu_pool_end(p);
}
END_TEST

/* Read a descriptor to EOF into buf (NUL-terminated, cut at size - 1). */
static size_t slurp(int fd, char *buf, size_t size)
{
    size_t len = 0;
    for (;;) {
        char tmp[4096];
        ssize_t r = read(fd, tmp, sizeof tmp);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r && len + 1 < size; i++)
            buf[len++] = tmp[i];
    }
    buf[len] = 0;
    return len;
}

/* In a child whose stdout and stderr are pipes: run noisy over n tasks.
 * Exit status 0 if every task gave back its value, else the step that
 * went wrong. */
static int noisy_child(uint64_t n)
{
    dlp_pool_options o;
    dlp_pool *p = NULL;
    dlp_job *j = NULL;
    dlp_result r;
    tu_ints it = {n, NULL};
    uint64_t k = 0;
    int fn, rc;

    dlp_pool_options_init(&o);
    o.workers = 2;
    if (dlp_pool_create(&p, &o, NULL))
        return 10;
    fn = dlp_pool_fn(p, tu_ref(tu_plugin("testplug"), "noisy"), NULL, NULL);
    if (fn < 0)
        return 11;
    if (dlp_job_create(&j, p, fn, tu_ints_next, &it, NULL, NULL))
        return 12;
    while ((rc = dlp_job_next(j, &r, NULL)) == 1) {
        if (r.index != k || r.fail || r.v.i != (int64_t)k)
            return 13;
        k++;
    }
    if (rc != 0 || k != n)
        return 14;
    dlp_job_destroy(j);
    dlp_pool_destroy(p);
    return 0;
}

/* A task's printf() must not reach the caller's standard output, which
 * may be a data stream (the dlpool command writes results there): the
 * worker sends it to standard error. */
START_TEST(test_noisy_stdout)
{
    enum { N = 20 };
    int fds = tu_fd_count();
    int out[2], errp[2], st;
    char obuf[4096], ebuf[8192];
    const char *s;
    unsigned lines = 0;
    pid_t c;

    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(pipe(errp), 0);
    c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        dup2(out[1], 1);
        dup2(errp[1], 2);
        close(out[0]);
        close(out[1]);
        close(errp[0]);
        close(errp[1]);
        _exit(noisy_child(N));
    }
    close(out[1]);
    close(errp[1]);
    /* The noise is small enough to sit in the stderr pipe while stdout is
     * read to its end. */
    slurp(out[0], obuf, sizeof obuf);
    slurp(errp[0], ebuf, sizeof ebuf);
    close(out[0]);
    close(errp[0]);
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "the child running noisy failed: wait status %#x", st);
    ck_assert_msg(obuf[0] == 0,
                  "expected nothing on standard output, got '%s'", obuf);
    for (s = ebuf; (s = strstr(s, "noise from a task\n")); s++)
        lines++;
    ck_assert_msg(lines == N,
                  "expected %d lines of noise on standard error, got %u: "
                  "'%s'",
                  N, lines, ebuf);
    tu_assert_clean(fds);
}
END_TEST

/* In a child: leave text in stdout's buffer, unflushed, then run a task
 * that calls exit() in its worker. */
static int buffered_child(void)
{
    dlp_pool_options o;
    dlp_pool *p = NULL;
    dlp_job *j = NULL;
    dlp_result r;
    static const int64_t vals[] = {-3};
    tu_ints it = {1, vals};
    int fn, rc;

    /* A pipe makes stdout fully buffered: this stays in the buffer. */
    fputs("buffered by the caller\n", stdout);
    dlp_pool_options_init(&o);
    o.workers = 1;
    if (dlp_pool_create(&p, &o, NULL))
        return 10;
    fn = dlp_pool_fn(p, tu_ref(tu_plugin("testplug"), "crash"), NULL, NULL);
    if (fn < 0)
        return 11;
    if (dlp_job_create(&j, p, fn, tu_ints_next, &it, NULL, NULL))
        return 12;
    rc = dlp_job_next(j, &r, NULL);
    if (rc != 1 || r.fail != DLP_FAIL_EXIT)
        return 13;
    dlp_job_destroy(j);
    dlp_pool_destroy(p);
    fflush(stdout);
    return 0;
}

/* A worker is a fork of the caller, with a copy of the caller's stdio
 * buffers.  A task that calls exit() flushes them: text the caller had
 * buffered must not come out a second time (through the worker's stdout,
 * which is the caller's stderr). */
START_TEST(test_exit_does_not_repeat_output)
{
    int fds = tu_fd_count();
    int out[2], errp[2], st;
    char obuf[4096], ebuf[8192];
    pid_t c;

    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(pipe(errp), 0);
    c = fork();
    ck_assert_int_ge(c, 0);
    if (c == 0) {
        dup2(out[1], 1);
        dup2(errp[1], 2);
        close(out[0]);
        close(out[1]);
        close(errp[0]);
        close(errp[1]);
        _exit(buffered_child());
    }
    close(out[1]);
    close(errp[1]);
    slurp(out[0], obuf, sizeof obuf);
    slurp(errp[0], ebuf, sizeof ebuf);
    close(out[0]);
    close(errp[0]);
    ck_assert_int_eq(waitpid(c, &st, 0), c);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "the child running crash(-3) failed: wait status %#x", st);
    ck_assert_str_eq(obuf, "buffered by the caller\n");
    ck_assert_msg(strstr(ebuf, "buffered by the caller") == NULL,
                  "the caller's buffered output came out again on standard "
                  "error: '%s'",
                  ebuf);
    tu_assert_clean(fds);
}
END_TEST

/* ---- regressions: plugins that change under the pool ----------------- */

/* A template for mkdtemp/mkstemp in the temporary directory. */
static void temp_template(char *buf, size_t size, const char *what)
{
    const char *dir = getenv("TMPDIR");
    snprintf(buf, size, "%s/dlpool-check-%s-XXXXXX",
             dir && *dir ? dir : "/tmp", what);
}

static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY | O_CLOEXEC), out;
    ssize_t r;
    ck_assert_msg(in >= 0, "cannot open %s: %s", from, strerror(errno));
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
    ck_assert_msg(out >= 0, "cannot create %s: %s", to, strerror(errno));
    while ((r = read(in, buf, sizeof buf)) > 0)
        ck_assert_msg(write(out, buf, (size_t)r) == r,
                      "cannot write %s: %s", to, strerror(errno));
    ck_assert_msg(r == 0, "cannot read %s: %s", from, strerror(errno));
    close(in);
    ck_assert_int_eq(close(out), 0);
}

/* The plugin file is gone after its function was resolved, and a task
 * then crashes the only worker: its replacement cannot load the function
 * the pool serves.  The slot is retired with a clear error instead of
 * being replaced again and again (a fork loop in which dlp_job_next never
 * returns; the tcase's timeout catches that). */
START_TEST(test_plugin_removed_after_resolve)
{
    static const int64_t vals[] = {0, -1, 2};
    int fds = tu_fd_count();
    char dir[4096], copy[4200];
    tu_ints it = {3, vals};
    dlp_pool *p;
    dlp_job *j;
    dlp_result r;
    dlp_error err = {0, ""};
    int crash, rc;

    temp_template(dir, sizeof dir, "plugin");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir,
                  strerror(errno));
    snprintf(copy, sizeof copy, "%s/testplug.so", dir);
    copy_file(tu_plugin("testplug"), copy);
    p = tu_pool_with(1);
    crash = tu_resolve(p, copy, "crash", NULL);
    ck_assert_int_eq(unlink(copy), 0);
    ck_assert_int_eq(rmdir(dir), 0);

    j = tu_start(p, crash, tu_ints_next, &it, NULL);
    rc = dlp_job_next(j, &r, &err);
    ck_assert_msg(rc == 1, "task 0: expected a result, got %d (%s): %s", rc,
                  dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(r.index, 0);
    ck_assert_msg(r.fail == DLP_FAIL_NONE,
                  "task 0: expected success, got failure %d: %s",
                  (int)r.fail, r.error);
    ck_assert_int_eq(r.v.i, 0);
    rc = dlp_job_next(j, &r, &err);
    ck_assert_msg(rc == 1, "task 1: expected a result, got %d (%s): %s", rc,
                  dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(r.index, 1);
    ck_assert_msg(r.fail == DLP_FAIL_SIGNAL,
                  "task 1: expected DLP_FAIL_SIGNAL, got %d (%s)",
                  (int)r.fail, r.error ? r.error : "no message");
    ck_assert_int_eq(r.signo, SIGSEGV);
    /* Task 2 has no worker left to run it. */
    rc = dlp_job_next(j, &r, &err);
    ck_assert_msg(rc == DLP_EWORKER,
                  "expected DLP_EWORKER once the only slot is retired, got "
                  "%d (%s): %s",
                  rc, dlp_strerror(rc), rc < 0 ? err.msg : "a result");
    ck_assert_int_eq(err.code, DLP_EWORKER);
    tu_assert_has(err.msg, "could not load");
    tu_assert_has(err.msg, copy);
    dlp_job_destroy(j);
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* The same plugin file reached by two paths is one plugin in a worker:
 * initialised once (both functions see its init hook's value) and
 * finalised once when the pool is destroyed. */
START_TEST(test_same_plugin_two_paths)
{
    int fds = tu_fd_count();
    char mark[4096], text[256];
    const char *plain = tu_plugin("hooks"), *dotted = tu_plugin("./hooks");
    dlp_pool *p;
    int64_t got[2];
    int a, b, fd;
    ssize_t len;
    unsigned lines = 0;

    temp_template(mark, sizeof mark, "fini");
    fd = mkstemp(mark);
    ck_assert_msg(fd >= 0, "mkstemp %s: %s", mark, strerror(errno));
    close(fd);
    /* Workers are forks of this process: they see the variable. */
    ck_assert_int_eq(setenv("DLPOOL_TEST_FINI", mark, 1), 0);
    p = tu_pool_with(1);
    a = tu_resolve(p, plain, "initialised", NULL);
    b = tu_resolve(p, dotted, "initialised", NULL);
    ck_assert_int_ne(a, b); /* two references, one file */
    tu_run_i64(p, a, 1, NULL, got);
    tu_run_i64(p, b, 1, NULL, got + 1);
    ck_assert_int_eq(got[0], 42);
    ck_assert_int_eq(got[1], 42);
    dlp_pool_destroy(p);

    fd = open(mark, O_RDONLY | O_CLOEXEC);
    ck_assert_msg(fd >= 0, "cannot open %s: %s", mark, strerror(errno));
    len = read(fd, text, sizeof text - 1);
    close(fd);
    unlink(mark);
    ck_assert_int_ge(len, 0);
    text[len] = 0;
    for (ssize_t i = 0; i < len; i++)
        lines += text[i] == '\n';
    ck_assert_msg(lines == 1,
                  "expected the fini hook to run once, got %u lines: '%s'",
                  lines, text);
    ck_assert_str_eq(text, "fini\n");
    tu_assert_clean(fds);
}
END_TEST

/* A signature pointer from dlp_pool_fn_sig stays valid, and the same, as
 * the pool's table of functions grows (it used to move with the table). */
START_TEST(test_fn_sig_stable)
{
    static const char *const more[] = {
        "echo_i8",  "echo_i16",  "echo_i32", "echo_i64",   "echo_u16",
        "echo_u32", "echo_u64",  "echo_f32", "echo_f64",   "echo_bool",
        "echo_str", "bytes_hex", "mixed",    "concat",     "touch",
        "sleepy",   "fail_odd",  "counter",  "worker_pid", "big_str"};
    dlp_pool *p = tu_pool_start(1);
    int fn = tu_testplug(p, "echo_u8");
    const dlp_sig *sig = dlp_pool_fn_sig(p, fn);
    dlp_sig copy;
    int mixed = -1;

    ck_assert_ptr_nonnull(sig);
    copy = *sig;
    for (size_t k = 0; k < sizeof more / sizeof more[0]; k++) {
        int id = tu_testplug(p, more[k]);
        ck_assert_int_ne(id, fn);
        if (strcmp(more[k], "mixed") == 0)
            mixed = id;
    }
    ck_assert_int_eq(sig->ret, DLP_T_U8);
    ck_assert_uint_eq(sig->nargs, 1);
    ck_assert_int_eq(sig->args[0], DLP_T_U8);
    ck_assert_msg(memcmp(sig, &copy, sizeof copy) == 0,
                  "the signature of echo_u8 changed after 20 more "
                  "functions were resolved");
    ck_assert_ptr_eq(dlp_pool_fn_sig(p, fn), sig);
    /* The later entries are right too. */
    ck_assert_uint_eq(dlp_pool_fn_sig(p, mixed)->nargs, 11);
    tu_pool_end(p);
}
END_TEST

/* A plugin whose init hook forges a LOADED reply with the positive code
 * 5: the pool must take it for a corrupt frame, never hand 5 out as a
 * function id, and go on working. */
START_TEST(test_fn_forged_reply)
{
    dlp_pool *p = tu_pool_start(2);
    const char *msg;
    int fn, pid_fn;
    int64_t got[3];
    static const int64_t vals[] = {-7, 0, 1234567890123};

    msg = resolve_fails(p, tu_ref(tu_plugin("evil"), "never"), NULL,
                        DLP_ENOPLUGIN);
    tu_assert_has(msg, "evil.so");
    tu_assert_has(msg, "malformed frame");
    fn = tu_testplug(p, "echo_i64");
    tu_run_i64(p, fn, 3, vals, got);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(got[i], vals[i]);
    pid_fn = tu_testplug(p, "worker_pid");
    assert_workers(p, pid_fn, 2);
    tu_pool_end(p);
}
END_TEST

/* ---- regressions: the caller's process ------------------------------- */

/* No socket among a worker's descriptors but its own channel.  A
 * socket at 1 or 2 would be a channel of the pool taken for standard
 * output or error: a task's printf would write into it. */
static void assert_no_foreign_socket(pid_t pid)
{
    char dir[64], path[64 + 256], link[256];
    DIR *d;
    struct dirent *e;
    struct rlimit lim;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &lim), 0);
    snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
    d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot list %s: %s", dir, strerror(errno));
    while ((e = readdir(d))) {
        long fd;
        ssize_t n;
        if (e->d_name[0] == '.')
            continue;
        fd = atol(e->d_name);
        /* As in assert_own_channel_only: a tool's own descriptors. */
        if (lim.rlim_cur != RLIM_INFINITY && (rlim_t)fd >= lim.rlim_cur)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        n = readlink(path, link, sizeof link - 1);
        link[n > 0 ? n : 0] = 0;
        ck_assert_msg(fd == tu_channel_fd() ||
                          strncmp(link, "socket:", 7) != 0,
                      "worker %d holds a socket (%s) at descriptor %ld: "
                      "expected its channel at %d to be its only socket",
                      (int)pid, link, fd, tu_channel_fd());
    }
    closedir(d);
}

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

/* A caller that closed standard input and standard error: the pool must
 * not take descriptors 0 and 2 for its own (the caller's next open() or
 * its writes to stderr would land in a worker's channel), and no worker
 * may inherit a channel of the pool as its standard output or error (a
 * task's printf would corrupt another worker's frames).  The test runs in
 * its own process (Check's fork mode), so it closes them for good. */
START_TEST(test_caller_stdio_closed)
{
    enum { N = 2000 };
    static int64_t got[N];
    int fds, noisy, pid_fn;
    dlp_pool *p;
    pid_t kids[8];
    unsigned nk;

    close(0);
    close(2);
    fds = tu_fd_count();
    p = tu_pool_with(2);
    noisy = tu_testplug(p, "noisy");
    pid_fn = tu_testplug(p, "worker_pid");
    ck_assert_msg(!fd_is_open(0) && !fd_is_open(2),
                  "the pool took the caller's closed descriptors: 0 is %s, "
                  "2 is %s",
                  fd_is_open(0) ? "open" : "closed",
                  fd_is_open(2) ? "open" : "closed");
    /* Both workers answered the loads, so they are past their set-up. */
    nk = tu_children(kids, 8);
    ck_assert_uint_eq(nk, 2);
    for (unsigned i = 0; i < nk; i++) {
        assert_no_foreign_socket(kids[i]);
        assert_own_channel_only(kids[i]);
    }
    tu_run_i64(p, noisy, N, NULL, got);
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(got[i], i);
    assert_workers(p, pid_fn, 2);
    nk = tu_children(kids, 8);
    for (unsigned i = 0; i < nk; i++)
        assert_no_foreign_socket(kids[i]);
    dlp_pool_destroy(p);
    tu_assert_clean(fds);
}
END_TEST

/* Task i sleeps 15 ms and returns i. */
static int naps_next(void *ud, uint64_t i, dlp_args *a)
{
    if (i >= *(uint64_t *)ud)
        return 0;
    dlp_args_int(a, 15);
    dlp_args_int(a, (int64_t)i);
    return 1;
}

typedef struct creator {
    uint64_t n;
    dlp_pool *pool;
    dlp_job *job;
    int rc;
    dlp_result first;
    char msg[512];
} creator;

/* Create a pool and a job, take the first result (so that tasks are in
 * flight), and exit the thread. */
static void *creator_main(void *arg)
{
    creator *c = arg;
    dlp_pool_options o;
    dlp_error err = {0, ""};
    int fn;

    dlp_pool_options_init(&o);
    o.workers = 2;
    if ((c->rc = dlp_pool_create(&c->pool, &o, &err)))
        goto fail;
    fn = dlp_pool_fn(c->pool, tu_ref(tu_plugin("testplug"), "sleepy"), NULL,
                     &err);
    if (fn < 0) {
        c->rc = fn;
        goto fail;
    }
    if ((c->rc = dlp_job_create(&c->job, c->pool, fn, naps_next, &c->n,
                                NULL, &err)))
        goto fail;
    c->rc = dlp_job_next(c->job, &c->first, &err);
    if (c->rc < 0)
        goto fail;
    return NULL;
fail:
    snprintf(c->msg, sizeof c->msg, "%s", err.msg);
    return NULL;
}

/* Workers belong to the process, not to the thread that made the pool:
 * when that thread exits, the workers (busy with its job's tasks) go on,
 * and another thread reads the job to its end without a failure.
 * (Workers that asked to die with the thread that forked them were all
 * killed here.) */
START_TEST(test_creator_thread_exits)
{
    int fds = tu_fd_count();
    creator c;
    pthread_t t;
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 1;
    int rc;

    memset(&c, 0, sizeof c);
    c.n = 40;
    ck_assert_int_eq(pthread_create(&t, NULL, creator_main, &c), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_msg(c.rc == 1,
                  "in the creating thread: expected the first result, got "
                  "%d (%s): %s",
                  c.rc, dlp_strerror(c.rc), c.msg);
    ck_assert_uint_eq(c.first.index, 0);
    ck_assert_int_eq(c.first.fail, DLP_FAIL_NONE);
    while ((rc = dlp_job_next(c.job, &r, &err)) == 1) {
        ck_assert_uint_eq(r.index, k);
        ck_assert_msg(r.fail == DLP_FAIL_NONE,
                      "task %llu: expected success after the creating "
                      "thread exited, got failure %d: %s",
                      (unsigned long long)k, (int)r.fail, r.error);
        ck_assert_int_eq(r.v.i, (int64_t)k);
        k++;
    }
    ck_assert_msg(rc == 0, "expected the end of the job, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(k, c.n);
    dlp_job_destroy(c.job);
    dlp_pool_destroy(c.pool);
    tu_assert_clean(fds);
}
END_TEST

/* ---- regressions: creating a pool without descriptors ---------------- */

/* With the descriptor limit just above what is open, pool creation fails
 * at each step that needs a descriptor in turn (the wake-up descriptor,
 * the first channel, a later one): every failure is -EMFILE with a
 * message, closes none of the caller's descriptors (standard input
 * included: an early failure once closed descriptor 0, taken for a
 * worker's unset channel), and leaves no child behind. */
START_TEST(test_create_without_descriptors)
{
    int fds, lowest, failures = 0;
    struct rlimit old, low;

    /* Standard input must be open for its closing to show. */
    if (!fd_is_open(0))
        ck_assert_int_eq(open("/dev/null", O_RDONLY), 0);
    fds = tu_fd_count();
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    lowest = fcntl(0, F_DUPFD_CLOEXEC, 0);
    ck_assert_int_ge(lowest, 3);
    close(lowest);

    for (int extra = 0; extra < 16; extra++) {
        dlp_pool_options o;
        dlp_pool *p = (dlp_pool *)&o; /* must be reset to NULL */
        dlp_error err = {0, ""};
        pid_t kids[8];
        int rc;

        dlp_pool_options_init(&o);
        o.workers = 2;
        low = old;
        low.rlim_cur = (rlim_t)(lowest + extra);
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
        rc = dlp_pool_create(&p, &o, &err);
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
        if (rc == 0) {
            /* Enough descriptors at last. */
            ck_assert_msg(extra >= 2,
                          "expected pool creation to fail with a limit of "
                          "%d descriptors, %d open",
                          lowest + extra, lowest);
            dlp_pool_destroy(p);
            break;
        }
        failures++;
        ck_assert_msg(rc == -EMFILE,
                      "limit of %d descriptors, %d open: expected -EMFILE, "
                      "got %d (%s): %s",
                      lowest + extra, lowest, rc, dlp_strerror(rc), err.msg);
        ck_assert_int_eq(err.code, rc);
        tu_assert_has(err.msg, dlp_strerror(-EMFILE));
        ck_assert_ptr_null(p);
        ck_assert_msg(fd_is_open(0),
                      "limit of %d descriptors: the failed creation closed "
                      "standard input",
                      lowest + extra);
        ck_assert_uint_eq(tu_children(kids, 8), 0);
        tu_assert_clean(fds);
    }
    ck_assert_int_ge(failures, 2);
    tu_assert_clean(fds);
}
END_TEST

#ifdef DLP_DEBUG_LOCKS
/* A lock contract is code, not a comment: in the debug and sanitizer
 * builds a function that must be called with the pool's mutex held stops
 * a caller that does not hold it.  (Without the assert this test does not
 * abort, and fails.) */
START_TEST(test_lock_contract)
{
    dlp_pool p;
    memset(&p, 0, sizeof p);
    ck_assert_int_eq(pthread_mutex_init(&p.mu, NULL), 0);
    pthread_mutex_lock(&p.mu);
    dlp__batch *b = dlp__batch_take(&p); /* held: fine */
    ck_assert_msg(b != NULL, "expected a batch with the mutex held, got NULL");
    dlp__batch_free(b);
    pthread_mutex_unlock(&p.mu);
    (void)dlp__batch_take(&p); /* not held: the assert aborts */
}
END_TEST
#endif

Suite *dlp_test_pool(void);

Suite *dlp_test_pool(void)
{
    Suite *s = suite_create("pool");
    TCase *tc;

    tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_add_calculator);
    tcase_add_test(tc, test_examples_fail_and_owned_strings);
    tcase_add_test(tc, test_workers_started);
    tcase_add_test(tc, test_default_workers);
    tcase_add_test(tc, test_counter_one_worker);
    tcase_add_test(tc, test_counter_two_workers);
    tcase_add_test(tc, test_same_ref_same_id);
    tcase_add_test(tc, test_libm_cbrt);
    tcase_add_test(tc, test_inspect_examples);
    tcase_add_test(tc, test_fn_sig_stable);
    tcase_add_test(tc, test_same_plugin_two_paths);
    tcase_add_test(tc, test_creator_thread_exits);
    suite_add_tcase(s, tc);

    /* Destroy must not hang; see test_destroy_idle_after_work. */
    tc = tcase_create("eof");
    tcase_set_timeout(tc, 4);
    tcase_add_test(tc, test_destroy_idle_after_work);
    tcase_add_test(tc, test_destroy_fresh);
    tcase_add_test(tc, test_destroy_after_crashes);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_create_errors);
    tcase_add_test(tc, test_fn_missing_plugin);
    tcase_add_test(tc, test_fn_no_symbol);
    tcase_add_test(tc, test_fn_no_sig);
    tcase_add_test(tc, test_fn_bad_sig);
    tcase_add_loop_test(tc, test_fn_not_a_ref, 0,
                        sizeof not_refs / sizeof not_refs[0]);
    tcase_add_test(tc, test_fn_null_args);
    tcase_add_test(tc, test_fn_init_fails);
    tcase_add_test(tc, test_fn_crashload);
    tcase_add_test(tc, test_fn_after_close);
    tcase_add_test(tc, test_inspect_errors);
    tcase_add_test(tc, test_fn_forged_reply);
    tcase_add_test(tc, test_plugin_removed_after_resolve);
    suite_add_tcase(s, tc);

    /* A caller short of descriptors, or with its standard streams
     * closed. */
    tc = tcase_create("descriptors");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_create_without_descriptors);
    tcase_add_test(tc, test_caller_stdio_closed);
    suite_add_tcase(s, tc);

    tc = tcase_create("crash");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_crash_tasks);
    tcase_add_test(tc, test_crash_every_task);
    tcase_add_test(tc, test_crash_inside_batch);
    tcase_add_test(tc, test_noisy_stdout);
    tcase_add_test(tc, test_exit_does_not_repeat_output);
    suite_add_tcase(s, tc);

#ifdef DLP_DEBUG_LOCKS
    tc = tcase_create("contracts");
    tcase_add_test_raise_signal(tc, test_lock_contract, SIGABRT);
    suite_add_tcase(s, tc);
#endif
    return s;
}

TU_MAIN(dlp_test_pool)
