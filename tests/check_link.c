/*
 * check_link.c - a pool whose slots are links to agents (transport.h):
 * each agent is a process with a pool of its own, reached over a
 * socketpair, as it is over MPI between machines.  Results come back in
 * order and as a local pool gives them: values of every kind, plugin
 * errors, crashes, timeouts and retries (enforced by the agents), times;
 * futures run over links too; closing the pool ends the agents.
 */
#include "config.h"
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "pool.h"
#include "testutil.h"
#include "transport.h"
#include "wire.h"

#define AGENTS 2

/* Where the tests' files go: $TMPDIR, else /tmp. */
static const char *tmp_dir(void)
{
    const char *dir = getenv("TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

typedef struct agents {
    pid_t pid[AGENTS];
    dlp_pool *pool;
} agents;

/* Fork AGENTS agents of `workers` workers each, whose pools run
 * initializer (NULL: none), and make a pool of links to them. */
static void agents_start_init(agents *a, unsigned workers,
                              const char *initializer)
{
    int fds[AGENTS];
    dlp_error err = {0, ""};
    int rc;
    for (unsigned i = 0; i < AGENTS; i++) {
        int sv[2];
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
                                    sv),
                         0);
        a->pid[i] = fork();
        ck_assert_int_ge(a->pid[i], 0);
        if (a->pid[i] == 0) {
            dlp_pool_options o;
            for (unsigned k = 0; k < i; k++)
                close(fds[k]);
            close(sv[0]);
            dlp_pool_options_init(&o);
            o.workers = workers;
            o.initializer = initializer;
            _exit(dlp__agent_main(sv[1], &o));
        }
        close(sv[1]);
        fds[i] = sv[0];
    }
    rc = dlp__pool_create_links(&a->pool, fds, AGENTS, NULL, &err);
    tu_ok(rc, err);
}

static void agents_start(agents *a, unsigned workers)
{
    agents_start_init(a, workers, NULL);
}

/* Destroy the pool: every agent sees its link close and exits with 0. */
static void agents_stop(agents *a)
{
    dlp_pool_destroy(a->pool);
    for (unsigned i = 0; i < AGENTS; i++) {
        int st = 0;
        ck_assert_int_eq(waitpid(a->pid[i], &st, 0), a->pid[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                      "agent %u: expected exit status 0 once its link "
                      "closed, got wait status %#x",
                      i, (unsigned)st);
    }
}

/* ---- core -------------------------------------------------------------- */

typedef struct pairs {
    uint64_t n;
} pairs;

static int pairs_next(void *ud, uint64_t i, dlp_args *a)
{
    const pairs *p = ud;
    if (i >= p->n)
        return 0;
    dlp_args_int(a, (int64_t)i);
    dlp_args_int(a, (int64_t)(3 * i));
    return 1;
}

/* 20,000 tiny tasks, ordered and then unordered: every result once, with
 * its own value, in order when asked. */
START_TEST(test_many_tasks)
{
    int fds = tu_fd_count();
    agents a;
    agents_start(&a, 2);
    int fn = tu_resolve(a.pool, tu_examples(), "add", NULL);
    for (int unordered = 0; unordered <= 1; unordered++) {
        pairs it = {20000};
        dlp_job_options o;
        dlp_result r;
        dlp_error err = {0, ""};
        unsigned char *seen = calloc(it.n, 1);
        uint64_t k = 0;
        int rc;
        dlp_job_options_init(&o);
        o.flags = unordered ? DLP_JOB_UNORDERED : 0;
        dlp_job *j = tu_start(a.pool, fn, pairs_next, &it, &o);
        while ((rc = dlp_job_next(j, &r, &err)) == 1) {
            ck_assert_msg(r.fail == DLP_FAIL_NONE,
                          "task %" PRIu64 ": expected success, got %s: %s",
                          r.index, dlp_fail_kind_name(r.fail), r.error);
            if (!unordered)
                ck_assert_uint_eq(r.index, k);
            ck_assert_uint_lt(r.index, it.n);
            ck_assert_msg(!seen[r.index], "task %" PRIu64 " handed out twice",
                          r.index);
            seen[r.index] = 1;
            ck_assert_int_eq(r.v.i, (int64_t)(4 * r.index));
            ck_assert_msg(r.pid > 0 && r.pid != (int)a.pid[0] &&
                              r.pid != (int)a.pid[1],
                          "task %" PRIu64 ": expected the pid of an agent's "
                          "worker, got %d",
                          r.index, r.pid);
            k++;
        }
        tu_ok(rc, err);
        ck_assert_uint_eq(k, it.n);
        dlp_job_destroy(j);
        free(seen);
    }
    agents_stop(&a);
    tu_assert_clean(fds);
}
END_TEST

/* A list of the values given (taken over). */
static dlp_val *list_of(unsigned n, ...)
{
    va_list ap;
    dlp_val *l = dlp_val_list();
    ck_assert_ptr_nonnull(l);
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_int_eq(dlp_val_push(l, va_arg(ap, dlp_val *)), 0);
    va_end(ap);
    return l;
}

/* Values of each kind cross both hops: strings, vals, doubles. */
START_TEST(test_values)
{
    int fds = tu_fd_count();
    agents a;
    dlp_error err = {0, ""};
    agents_start(&a, 1);
    int echo = tu_testplug(a.pool, "echo_str");
    int concat = tu_resolve(a.pool, tu_examples(), "concat", NULL);
    int f64 = tu_testplug(a.pool, "echo_f64");
    dlp_val *args, *out = NULL;
    dlp_result r;
    int rc;

    args = list_of(1, dlp_val_cstr("over a link"));
    rc = dlp_apply(a.pool, echo, args, &out, &err);
    tu_ok(rc, err);
    ck_assert_int_eq(out->kind, DLP_V_STR);
    ck_assert_str_eq(out->v.s.ptr, "over a link");
    dlp_val_free(out);
    dlp_val_free(args);

    args = list_of(2, tu_val_ints(2, (int64_t)1, (int64_t)2),
                   tu_val_ints(2, (int64_t)3, (int64_t)4));
    rc = dlp_apply(a.pool, concat, args, &out, &err);
    tu_ok(rc, err);
    ck_assert_uint_eq(dlp_val_len(out), 4);
    for (unsigned i = 0; i < 4; i++) {
        int64_t v = 0;
        ck_assert(dlp_val_as_int(dlp_val_at(out, i), &v));
        ck_assert_int_eq(v, (int64_t)i + 1);
    }
    dlp_val_free(out);
    dlp_val_free(args);

    dlp_future *f = tu_apply_async(a.pool, f64, list_of(1, dlp_val_float(2.5)),
                                   NULL);
    rc = dlp_future_get(f, -1, &r, &err);
    tu_ok(rc, err);
    ck_assert_msg(r.fail == DLP_FAIL_NONE && r.v.f == 2.5,
                  "echo_f64(2.5): expected 2.5, got %s %g",
                  dlp_fail_kind_name(r.fail), r.v.f);
    dlp_future_destroy(f);
    agents_stop(&a);
    tu_assert_clean(fds);
}
END_TEST

/* ---- failures, as on a local pool -------------------------------------- */

static const int64_t crash_vals[] = {1, -1, 2, -2, 3};

/* A task that crashes its (remote) worker fails alone, with the signal
 * and the worker's pid; its neighbours succeed. */
START_TEST(test_crash_fails_alone)
{
    int fds = tu_fd_count();
    agents a;
    agents_start(&a, 2);
    int fn = tu_testplug(a.pool, "crash");
    tu_ints it = {5, crash_vals};
    dlp_job *j = tu_start(a.pool, fn, tu_ints_next, &it, NULL);
    dlp_result r;
    for (uint64_t i = 0; i < 5; i++) {
        ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
        ck_assert_uint_eq(r.index, i);
        if (crash_vals[i] >= 0) {
            ck_assert_msg(r.fail == DLP_FAIL_NONE && r.v.i == crash_vals[i],
                          "task %" PRIu64 ": expected %" PRId64 ", got %s %s",
                          i, crash_vals[i], dlp_fail_kind_name(r.fail),
                          r.error ? r.error : "");
            continue;
        }
        ck_assert_msg(r.fail == DLP_FAIL_SIGNAL,
                      "task %" PRIu64 ": expected a signal failure, got %s: "
                      "%s",
                      i, dlp_fail_kind_name(r.fail), r.error ? r.error : "");
        ck_assert_int_eq(r.signo, crash_vals[i] == -1 ? SIGSEGV : SIGABRT);
        ck_assert_uint_eq(r.attempts, 1);
        ck_assert_int_gt(r.pid, 0);
        tu_assert_has(r.error, crash_vals[i] == -1 ? "SIGSEGV" : "SIGABRT");
    }
    ck_assert_int_eq(dlp_job_next(j, &r, NULL), 0);
    dlp_job_destroy(j);
    agents_stop(&a);
    tu_assert_clean(fds);
}
END_TEST

/* An MPI agent's pool forks its replacements through a fork server
 * (worker.h): here a local pool of one worker with a server of its own.
 * Each task answers its worker's parent: the first worker is ours, the
 * replacements after a crash and an exit are the server's.  Without its
 * server the pool says why it has no worker left; stopping the server
 * leaves no process and no descriptor behind. */
START_TEST(test_fork_server)
{
    static const int64_t vals[] = {0, -1, 0, -3, 0};
    int fds = tu_fd_count();
    dlp_pool *p = tu_pool_with(1);
    dlp__fsrv *s;
    dlp_error err = {0, ""};
    int rc = dlp__fsrv_start(&s, &err);
    tu_ok(rc, err);
    p->fsrv = s;
    int fn = tu_testplug(p, "crash_or_ppid");
    tu_ints it = {5, vals};
    dlp_job *j = tu_start(p, fn, tu_ints_next, &it, NULL);
    dlp_result r;
    int64_t server = 0;
    for (uint64_t i = 0; i < 5; i++) {
        ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
        ck_assert_uint_eq(r.index, i);
        if (vals[i] < 0) {
            ck_assert_msg(r.fail == (vals[i] == -1 ? DLP_FAIL_SIGNAL
                                                   : DLP_FAIL_EXIT),
                          "task %" PRIu64 ": expected the crash, got %s: %s",
                          i, dlp_fail_kind_name(r.fail),
                          r.error ? r.error : "");
            continue;
        }
        ck_assert_msg(r.fail == DLP_FAIL_NONE, "task %" PRIu64 ": %s", i,
                      r.error ? r.error : "");
        if (i == 0) {
            ck_assert_msg(r.v.i == (int64_t)getpid(),
                          "the first worker's parent: expected this process "
                          "(%d), got %" PRId64,
                          (int)getpid(), r.v.i);
        } else if (i == 2) {
            server = r.v.i;
            ck_assert_msg(server > 0 && server != (int64_t)getpid(),
                          "a replacement's parent: expected the fork server, "
                          "got %" PRId64 " (this process is %d)",
                          server, (int)getpid());
        } else {
            ck_assert_msg(r.v.i == server,
                          "the second replacement's parent: expected the "
                          "fork server (%" PRId64 "), got %" PRId64,
                          server, r.v.i);
        }
    }
    ck_assert_int_eq(dlp_job_next(j, &r, NULL), 0);
    dlp_job_destroy(j);

    /* Without its server the pool cannot replace a worker, and says so. */
    static const int64_t after[] = {-1, 0};
    tu_ints it2 = {2, after};
    ck_assert_int_eq(kill((pid_t)server, SIGKILL), 0);
    ck_assert_int_eq(waitpid((pid_t)server, NULL, 0), (pid_t)server);
    j = tu_start(p, fn, tu_ints_next, &it2, NULL);
    ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
    ck_assert_msg(r.index == 0 && r.fail != DLP_FAIL_NONE,
                  "task 0: expected its crash, got index %" PRIu64 ", %s",
                  r.index, dlp_fail_kind_name(r.fail));
    rc = dlp_job_next_timeout(j, &r, 30.0, &err);
    ck_assert_msg(rc < 0, "expected the job to fail, got %d", rc);
    tu_assert_has(err.msg, "the fork server is gone");
    dlp_job_destroy(j);
    dlp_pool_destroy(p);
    dlp__fsrv_stop(s);
    tu_assert_clean(fds);
}
END_TEST

static const int64_t exit_vals[] = {-3};

/* dlp_fail, exit(), a timeout and retries: the agent enforces the job's
 * limits, and each failure reads as it would locally. */
START_TEST(test_failures_and_limits)
{
    int fds = tu_fd_count();
    agents a;
    agents_start(&a, 1);
    int odd = tu_testplug(a.pool, "fail_odd");
    int crash = tu_testplug(a.pool, "crash");
    int sleepy = tu_testplug(a.pool, "sleepy");
    static const int64_t three[] = {3};
    tu_ints odd_it = {1, three}, exit_it = {1, exit_vals};
    dlp_result r;
    dlp_job *j;

    j = tu_start(a.pool, odd, tu_ints_next, &odd_it, NULL);
    ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
    ck_assert_int_eq(r.fail, DLP_FAIL_PLUGIN);
    tu_assert_has(r.error, "odd");
    dlp_job_destroy(j);

    j = tu_start(a.pool, crash, tu_ints_next, &exit_it, NULL);
    ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
    ck_assert_msg(r.fail == DLP_FAIL_EXIT && r.exit_status == 3,
                  "exit(3) in a task: expected an exit failure with status "
                  "3, got %s, status %d: %s",
                  dlp_fail_kind_name(r.fail), r.exit_status, r.error);
    dlp_job_destroy(j);

    /* sleepy(2000 ms) with a timeout of 0.2 s, and 2 retries: it times out
     * three times, on the agent. */
    {
        dlp_val *args = list_of(2, dlp_val_int(2000), dlp_val_int(7));
        dlp_call_options co;
        dlp_error err = {0, ""};
        dlp_future *f;
        dlp_call_options_init(&co);
        co.timeout = 0.2;
        co.retries = 2;
        f = tu_apply_async(a.pool, sleepy, args, &co);
        ck_assert_int_eq(dlp_future_get(f, -1, &r, &err), DLP_ETASK);
        ck_assert_msg(r.fail == DLP_FAIL_TIMEOUT && r.attempts == 3,
                      "sleepy(2000) with a 0.2 s timeout and 2 retries: "
                      "expected a timeout after 3 attempts, got %s after %u: "
                      "%s",
                      dlp_fail_kind_name(r.fail), r.attempts, r.error);
        dlp_future_destroy(f);
    }
    agents_stop(&a);
    tu_assert_clean(fds);
}
END_TEST

/* DLP_JOB_TIMES over a link: the agent's workers time the tasks. */
START_TEST(test_times)
{
    int fds = tu_fd_count();
    agents a;
    agents_start(&a, 1);
    int sleepy = tu_testplug(a.pool, "sleepy");
    dlp_job_options o;
    dlp_result r;
    dlp_job_options_init(&o);
    o.flags = DLP_JOB_TIMES;
    double before = tu_wall_now();
    dlp_job *j = tu_start(a.pool, sleepy, pairs_next, &(pairs){1}, &o);
    ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
    double after = tu_wall_now();
    ck_assert_msg(r.fail == DLP_FAIL_NONE && r.start >= before - 0.001 &&
                      r.start + r.run_time <= after + 0.001,
                  "a timed task over a link: expected it within [%.6f, "
                  "%.6f], got %s start %.6f run %.6f",
                  before, after, dlp_fail_kind_name(r.fail), r.start,
                  r.run_time);
    dlp_job_destroy(j);
    agents_stop(&a);
    tu_assert_clean(fds);
}
END_TEST

/* A function resolved while batches are out: the agents answer the LOAD
 * after those batches, in the order the pool sent them. */
START_TEST(test_load_while_busy)
{
    int fds = tu_fd_count();
    agents a;
    dlp_result r;
    dlp_error err = {0, ""};
    agents_start(&a, 1);
    int sleepy = tu_testplug(a.pool, "sleepy");
    pairs it = {6};
    dlp_job *j = tu_start(a.pool, sleepy, pairs_next, &it, NULL);
    /* sleepy(i, 3i) sleeps i ms: the first result leaves the rest out. */
    ck_assert_int_eq(dlp_job_next(j, &r, &err), 1);
    int echo = dlp_pool_fn(a.pool, tu_ref(tu_plugin("testplug"), "echo_i64"),
                           NULL, &err);
    ck_assert_msg(echo >= 0,
                  "resolving a function with batches out: expected an id, "
                  "got %d (%s): %s",
                  echo, dlp_strerror(echo), err.msg);
    for (uint64_t i = 1; i < it.n; i++) {
        ck_assert_int_eq(dlp_job_next(j, &r, &err), 1);
        ck_assert_uint_eq(r.index, i);
        ck_assert_int_eq(r.v.i, (int64_t)(3 * i));
    }
    dlp_job_destroy(j);
    int64_t out[3];
    static const int64_t in[] = {5, 6, 7};
    tu_run_i64(a.pool, echo, 3, in, out);
    ck_assert_int_eq(out[2], 7);
    agents_stop(&a);
    tu_assert_clean(fds);
}
END_TEST

/* An agent whose workers are all gone for good (a replacement cannot load
 * the plugin: its file was removed) fails what it holds instead of
 * leaving the pool to wait forever. */
START_TEST(test_agent_without_workers)
{
    int fds = tu_fd_count();
    agents a;
    dlp_result r;
    dlp_error err = {0, ""};
    char copy[4096], cmd[8300];
    snprintf(copy, sizeof copy, "%s/dlpool-link-%d.so", tmp_dir(),
             (int)getpid());
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", tu_plugin("testplug"), copy);
    ck_assert_int_eq(system(cmd), 0);
    agents_start(&a, 1);
    int crash = tu_resolve(a.pool, copy, "crash", NULL);
    unlink(copy);
    /* One task per batch: each agent gets a crash first; its worker's
     * replacement cannot load the plugin, and the agent has no worker. */
    static const int64_t vals[] = {-1, -1, 1, 2};
    tu_ints it = {4, vals};
    dlp_job_options o;
    dlp_job_options_init(&o);
    o.chunksize = 1;
    dlp_job *j = tu_start(a.pool, crash, tu_ints_next, &it, &o);
    for (uint64_t i = 0; i < it.n; i++) {
        int rc = dlp_job_next(j, &r, &err);
        ck_assert_msg(rc == 1, "task %" PRIu64 ": expected a result, got %d "
                               "(%s): %s",
                      i, rc, dlp_strerror(rc), err.msg);
        ck_assert_msg(r.fail == (i < 2 ? DLP_FAIL_SIGNAL : DLP_FAIL_WORKER),
                      "task %" PRIu64 ": expected %s, got %s: %s", i,
                      dlp_fail_kind_name(i < 2 ? DLP_FAIL_SIGNAL
                                               : DLP_FAIL_WORKER),
                      dlp_fail_kind_name(r.fail), r.error ? r.error : "");
    }
    dlp_job_destroy(j);
    agents_stop(&a);
    tu_assert_clean(fds);
}
END_TEST

/* ---- errors ------------------------------------------------------------ */

/* A function the agents cannot load fails to resolve here, with their
 * message. */
START_TEST(test_unknown_symbol)
{
    int fds = tu_fd_count();
    agents a;
    dlp_error err = {0, ""};
    agents_start(&a, 1);
    int rc = dlp_pool_fn(a.pool, tu_ref(tu_examples(), "no_such_fn"), NULL,
                         &err);
    ck_assert_msg(rc < 0, "resolving a missing symbol over a link: expected "
                          "an error, got id %d",
                  rc);
    tu_assert_has(err.msg, "no_such_fn");
    agents_stop(&a);
    tu_assert_clean(fds);
}
END_TEST

/* An agent whose own pool cannot be made (its initializer does not
 * exist) answers a load with why, rather than leave the pool waiting. */
START_TEST(test_agent_cannot_start)
{
    int fds = tu_fd_count();
    agents a;
    dlp_error err = {0, ""};
    char init[4200];
    snprintf(init, sizeof init, "%s", tu_ref(tu_examples(), "no_such_init"));
    agents_start_init(&a, 1, init);
    int rc = dlp_pool_fn(a.pool, tu_ref(tu_examples(), "add"), NULL, &err);
    ck_assert_msg(rc < 0, "resolving over a link to agents without a pool: "
                          "expected an error, got id %d",
                  rc);
    tu_assert_has(err.msg, "the agent could not start its workers");
    tu_assert_has(err.msg, "no_such_init");
    agents_stop(&a);
    tu_assert_clean(fds);
}
END_TEST

/* An agent that goes away fails what it held; the pool says so. */
START_TEST(test_agent_lost)
{
    int fds = tu_fd_count();
    agents a;
    dlp_error err = {0, ""};
    dlp_result r;
    agents_start(&a, 1);
    int sleepy = tu_testplug(a.pool, "sleepy");
    kill(a.pid[0], SIGKILL);
    kill(a.pid[1], SIGKILL);
    dlp_job *j = tu_start(a.pool, sleepy, pairs_next, &(pairs){4}, NULL);
    int rc = dlp_job_next(j, &r, &err);
    ck_assert_msg(rc == DLP_EWORKER,
                  "every agent killed: expected DLP_EWORKER, got %d (%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    tu_assert_has(err.msg, "agent");
    dlp_job_destroy(j);
    dlp_pool_destroy(a.pool);
    for (unsigned i = 0; i < AGENTS; i++)
        waitpid(a.pid[i], NULL, 0);
    tu_assert_clean(fds);
}
END_TEST

/* crash_once(marker, index) for every index. */
static int marker_next(void *ud, uint64_t index, dlp_args *args)
{
    if (index >= 3000)
        return 0;
    dlp_args_str(args, ud, strlen(ud));
    dlp_args_int(args, (int64_t)index);
    return 1;
}

/* A crash in the middle of a batch of a thousand, with a retry: the agent
 * takes over the rest of the batch its worker held; the crashing task
 * runs once more and fails with both attempts counted, every other task
 * of the batch (before it, after it) answers in order. */
START_TEST(test_crash_mid_batch)
{
    enum { N = 3000 };
    static int64_t vals[N];
    int fds = tu_fd_count();
    agents a;
    dlp_job_options o;
    dlp_result r;
    for (int64_t i = 0; i < N; i++)
        vals[i] = i == 1500 ? -1 : i == 2200 ? -2 : i;
    agents_start(&a, 2);
    int fn = tu_testplug(a.pool, "crash");
    tu_ints it = {N, vals};
    dlp_job_options_init(&o);
    o.chunksize = 1000;
    o.retries = 1;
    dlp_job *j = tu_start(a.pool, fn, tu_ints_next, &it, &o);
    for (uint64_t i = 0; i < N; i++) {
        ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
        ck_assert_msg(r.index == i, "expected result %" PRIu64 ", got %"
                      PRIu64, i, r.index);
        if (vals[i] >= 0) {
            ck_assert_msg(r.fail == DLP_FAIL_NONE && r.v.i == vals[i] &&
                              r.attempts == 1,
                          "task %" PRIu64 ": expected %" PRId64 " at the "
                          "first attempt, got %s %s (%" PRId64 ", attempts "
                          "%u)",
                          i, vals[i], dlp_fail_kind_name(r.fail),
                          r.error ? r.error : "", r.v.i, r.attempts);
            continue;
        }
        ck_assert_msg(r.fail == DLP_FAIL_SIGNAL && r.attempts == 2,
                      "task %" PRIu64 ": expected a signal failure after 2 "
                      "attempts, got %s after %u: %s",
                      i, dlp_fail_kind_name(r.fail), r.attempts,
                      r.error ? r.error : "");
        ck_assert_int_eq(r.signo, vals[i] == -1 ? SIGSEGV : SIGABRT);
        ck_assert_int_gt(r.pid, 0);
        tu_assert_has(r.error, "(after 2 attempts)");
    }
    ck_assert_int_eq(dlp_job_next(j, &r, NULL), 0);
    dlp_job_destroy(j);

    /* crash_once: the first task to run (any) crashes, once; its retry
     * succeeds, and counts both attempts, the one made in the batch the
     * agent relayed and the one made after it took the batch over. */
    {
        char marker[4096];
        snprintf(marker, sizeof marker, "%s/dlpool-link-XXXXXX", tmp_dir());
        int mfd = mkstemp(marker);
        ck_assert_msg(mfd >= 0, "mkstemp %s: %s", marker, strerror(errno));
        close(mfd);
        unlink(marker); /* crash_once crashes while it is missing */
        int once = tu_testplug(a.pool, "crash_once");
        unsigned twice = 0;
        j = tu_start(a.pool, once, marker_next, marker, &o);
        for (uint64_t i = 0; i < N; i++) {
            ck_assert_int_eq(dlp_job_next(j, &r, NULL), 1);
            ck_assert_msg(r.index == i && r.fail == DLP_FAIL_NONE &&
                              r.v.i == (int64_t)i &&
                              (r.attempts == 1 || r.attempts == 2),
                          "crash_once task %" PRIu64 ": expected %" PRIu64
                          " after 1 or 2 attempts, got task %" PRIu64
                          " %s %s (%" PRId64 ", attempts %u)",
                          i, i, r.index, dlp_fail_kind_name(r.fail),
                          r.error ? r.error : "", r.v.i, r.attempts);
            twice += r.attempts == 2;
        }
        ck_assert_msg(twice >= 1 && twice <= 4,
                      "expected the task(s) that crashed once to count 2 "
                      "attempts (1 to 4 such tasks, one per worker at "
                      "most), got %u", twice);
        dlp_job_destroy(j);
        unlink(marker);
    }
    agents_stop(&a);
    tu_assert_clean(fds);
}
END_TEST

/* Read one whole frame from fd into b (its payload at b->p + 16). */
static void read_frame(int fd, dlp__buf *b, dlp__hdr *h)
{
    b->len = 0;
    for (;;) {
        if (b->len >= DLP_HDR_SIZE) {
            dlp__hdr_unpack(b->p, h);
            if (b->len >= DLP_HDR_SIZE + (size_t)h->len)
                return;
        }
        ck_assert_int_eq(dlp__buf_reserve(b, 4096), 0);
        /* One frame at a time: never read past the one being read. */
        size_t want = b->len < DLP_HDR_SIZE ? DLP_HDR_SIZE - b->len
                                            : DLP_HDR_SIZE + h->len - b->len;
        ssize_t n = read(fd, b->p + b->len, want < 4096 ? want : 4096);
        ck_assert_msg(n > 0, "reading a frame from the agent: expected "
                      "bytes, got %zd (%s)", n, n < 0 ? strerror(errno)
                                                      : "end of stream");
        b->len += (size_t)n;
    }
}

/* The agent's side of the protocol, spoken directly: a batch goes to a
 * local worker as it came and its results come back as the worker wrote
 * them, under the far job's id, with that worker's pid once per frame
 * (DLP_RESULTS_PID), never the agent's own. */
START_TEST(test_agent_relays_frames)
{
    int fds = tu_fd_count();
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    pid_t agent = fork();
    ck_assert_int_ge(agent, 0);
    if (agent == 0) {
        dlp_pool_options o;
        close(sv[0]);
        dlp_pool_options_init(&o);
        o.workers = 1;
        _exit(dlp__agent_main(sv[1], &o));
    }
    close(sv[1]);

    const char *plugin = tu_plugin("testplug");
    dlp__buf out = {0}, in = {0};
    dlp__hdr h;
    long off = dlp__frame_begin(&out, DLP_F_LOAD, 5, 0);
    ck_assert_int_ge(off, 0);
    ck_assert_int_eq(dlp__put_str(&out, plugin, strlen(plugin), 1), 0);
    ck_assert_int_eq(dlp__put_str(&out, "crash", 5, 1), 0);
    ck_assert_int_eq(dlp__put_str(&out, "", 0, 1), 0);
    ck_assert_int_eq(dlp__frame_end(&out, off), 0);
    off = dlp__frame_begin(&out, DLP_F_BATCH, 77, 5);
    ck_assert_int_eq(dlp__put_u32(&out, 3), 0);
    for (uint64_t i = 0; i < 3; i++) {
        ck_assert_int_eq(dlp__put_u64(&out, 40 + i), 0);
        ck_assert_int_eq(dlp__put_u32(&out, 8), 0);
        ck_assert_int_eq(dlp__put_u64(&out, 7 + i), 0);
    }
    ck_assert_int_eq(dlp__put_u64(&out, 0), 0); /* no timeout */
    ck_assert_int_eq(dlp__put_u32(&out, 0), 0); /* no retries */
    ck_assert_int_eq(dlp__frame_end(&out, off), 0);
    uint16_t limits = DLP_BATCH_LIMITS;
    memcpy(out.p + off + 6, &limits, 2);
    ck_assert_int_eq(write(sv[0], out.p, out.len), (ssize_t)out.len);

    read_frame(sv[0], &in, &h);
    ck_assert_msg(h.type == DLP_F_LOADED && h.a == 5 && h.b == 0,
                  "expected LOADED for function 5 with code 0, got frame "
                  "type %u a=%u b=%d",
                  h.type, h.a, (int)h.b);
    uint64_t next = 40;
    while (next < 43) {
        dlp__rd r;
        uint64_t busy;
        uint32_t pid;
        read_frame(sv[0], &in, &h);
        ck_assert_msg(h.type == DLP_F_RESULTS && h.a == 77 &&
                          (h.flags & DLP_RESULTS_PID) &&
                          !(h.flags & DLP_RESULTS_PIDS),
                      "expected RESULTS of job 77 with one pid per frame, "
                      "got frame type %u a=%u flags %#x",
                      h.type, h.a, h.flags);
        dlp__rd_init(&r, in.p + DLP_HDR_SIZE, h.len);
        ck_assert_int_eq(dlp__get_u64(&r, &busy), 0);
        ck_assert_int_eq(dlp__get_u32(&r, &pid), 0);
        ck_assert_msg(pid != 0 && (pid_t)pid != agent,
                      "expected the pid of the agent's worker, got %u "
                      "(agent %d)", pid, (int)agent);
        for (uint32_t k = 0; k < h.b; k++, next++) {
            dlp__result_rec rec;
            int64_t v;
            ck_assert_int_eq(dlp__result_next(&r, &rec), 0);
            ck_assert_msg(rec.index == next && rec.kind == DLP_R_OK &&
                              rec.len == 8,
                          "expected an 8-byte value for task %" PRIu64
                          ", got task %" PRIu64 " kind %u length %u",
                          next, rec.index, rec.kind, rec.len);
            memcpy(&v, rec.data, 8);
            ck_assert_int_eq(v, (int64_t)(next - 33));
        }
        ck_assert_msg(r.p == r.end, "%zu bytes after the last record",
                      (size_t)(r.end - r.p));
    }
    close(sv[0]);
    int st = 0;
    ck_assert_int_eq(waitpid(agent, &st, 0), agent);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "the agent: expected exit status 0 once its link closed, "
                  "got wait status %#x", (unsigned)st);
    dlp__buf_free(&out);
    dlp__buf_free(&in);
    tu_assert_clean(fds);
}
END_TEST

Suite *dlp_test_link(void);

Suite *dlp_test_link(void)
{
    Suite *s = suite_create("link");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_many_tasks);
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_times);
    tcase_add_test(tc, test_agent_relays_frames);
    suite_add_tcase(s, tc);

    tc = tcase_create("failures");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crash_fails_alone);
    tcase_add_test(tc, test_crash_mid_batch);
    tcase_add_test(tc, test_failures_and_limits);
    tcase_add_test(tc, test_load_while_busy);
    tcase_add_test(tc, test_agent_without_workers);
    tcase_add_test(tc, test_fork_server);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_unknown_symbol);
    tcase_add_test(tc, test_agent_cannot_start);
    tcase_add_test(tc, test_agent_lost);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(dlp_test_link)
