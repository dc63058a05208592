/*
 * testutil.h - fixtures shared by the Check suites.
 */
#ifndef DLPOOL_TESTS_TESTUTIL_H
#define DLPOOL_TESTS_TESTUTIL_H

#include <check.h>
#include <stdint.h>
#include <sys/types.h>

#include "dlpool.h"

/* Path of a test plugin (tests/plugins/NAME.so) or of the example plugin
 * (plugins/examples.so) in the build tree.  Static storage, one per name
 * slot: valid for the rest of the test. */
const char *tu_plugin(const char *name);
const char *tu_examples(void);

/* "PATH:SYMBOL" for a test plugin's function (static storage). */
const char *tu_ref(const char *plugin, const char *symbol);

/* Open descriptors of this process. */
int tu_fd_count(void);

/* The descriptor a worker (or a started process) has its channel at:
 * 1023, or the highest below the soft RLIMIT_NOFILE (framework/worker.h). */
int tu_channel_fd(void);

/* Wall-clock time in seconds since the Epoch, as dlp_result.start. */
double tu_wall_now(void);

/* Fail the test unless this process has no child left (waitpid reports
 * ECHILD) and fds_before descriptors are open again. */
void tu_assert_clean(int fds_before);

/* ck_assert that rc is 0, printing dlp_strerror(rc) and err's message. */
#define tu_ok(rc, err)                                                         \
    ck_assert_msg((rc) == 0, "expected success, got %d (%s): %s", (rc),       \
                  dlp_strerror(rc), (err).msg)

/* A pool made with options o, which must start o->workers workers. */
dlp_pool *tu_pool_opts(const dlp_pool_options *o);

/* A pool of `workers` workers (nonzero) with the default options. */
dlp_pool *tu_pool_with(unsigned workers);

/* The set-up most pool tests share: count the descriptors open now, then
 * make a pool of `workers` workers (nonzero) with the default options. */
dlp_pool *tu_pool_start(unsigned workers);

/* tu_pool_start with options o, which must start o->workers workers. */
dlp_pool *tu_pool_start_opts(const dlp_pool_options *o);

/* The teardown to match: destroy p, then fail the test unless no child
 * is left and the descriptors counted by tu_pool_start are open again
 * (tu_assert_clean). */
void tu_pool_end(dlp_pool *p);

/* The id of PLUGIN:SYMBOL with signature sig (NULL: the manifest's);
 * fails the test, naming the reference, when it cannot be resolved. */
int tu_resolve(dlp_pool *p, const char *plugin, const char *symbol,
               const char *sig);

/* tu_resolve for a function of the test plugin testplug. */
int tu_testplug(dlp_pool *p, const char *symbol);

/* A job of fn over next's tasks (opts may be NULL); fails the test when
 * it cannot be created. */
dlp_job *tu_start(dlp_pool *p, int fn, dlp_iter_fn next, void *ud,
                  const dlp_job_options *opts);

/* tu_resolve for a function of the test plugin futplug. */
int tu_futplug(dlp_pool *p, const char *symbol);

/* A new list of the n int64_t arguments that follow. */
dlp_val *tu_val_ints(unsigned n, ...);

/* dlp_apply_async of fn with args (which it frees), opts may be NULL;
 * fails the test when the call cannot be made. */
dlp_future *tu_apply_async(dlp_pool *p, int fn, dlp_val *args,
                           const dlp_call_options *opts);

/* Fail the test unless msg is set and contains part. */
void tu_assert_has(const char *msg, const char *part);

/* An iterator (tu_ints_next) over tasks 0..n-1: functions that take an
 * i64 receive vals[i] (or i without vals); functions without arguments
 * get none. */
typedef struct tu_ints {
    uint64_t n;
    const int64_t *vals;
} tu_ints;

int tu_ints_next(void *ud, uint64_t i, dlp_args *a);

/* Run fn over n tasks (arguments as tu_ints_next gives them) and store
 * the i64 results in out[], failing the test unless every task succeeds,
 * in order. */
void tu_run_i64(dlp_pool *p, int fn, uint64_t n, const int64_t *vals,
                int64_t *out);

/* The live children of this process (zombies left out), at most cap of
 * them into pids; returns how many were stored. */
unsigned tu_children(pid_t *pids, unsigned cap);

/* qsort comparison of two int64_t. */
int tu_cmp_i64(const void *a, const void *b);

/* Run one suite, in Check's fork mode unless CK_FORK says otherwise;
 * returns the process exit status. */
int tu_run(Suite *s);

#define TU_MAIN(suite_fn)                                                      \
    int main(void)                                                             \
    {                                                                          \
        return tu_run(suite_fn());                                             \
    }

#endif
