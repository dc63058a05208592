/*
 * testutil.c - fixtures shared by the Check suites.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "testutil.h"
#include "plugins/chanfd.h"

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

static char slots[16][4096];
static unsigned next_slot;

static char *slot(void)
{
    return slots[next_slot++ % 16];
}

const char *tu_plugin(const char *name)
{
    char *p = slot();
    snprintf(p, sizeof slots[0], "%s/%s.so",
             env_or("DLPOOL_TEST_PLUGINS", "tests/plugins/.libs"), name);
    return p;
}

const char *tu_examples(void)
{
    char *p = slot();
    snprintf(p, sizeof slots[0], "%s/examples.so",
             env_or("DLPOOL_EXAMPLES", "plugins/.libs"));
    return p;
}

const char *tu_ref(const char *plugin, const char *symbol)
{
    char *p = slot();
    snprintf(p, sizeof slots[0], "%s:%s", plugin, symbol);
    return p;
}

double tu_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int tu_channel_fd(void)
{
    return test_channel_fd();
}

int tu_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

void tu_assert_clean(int fds_before)
{
    int st;
    pid_t r = waitpid(-1, &st, WNOHANG);
    ck_assert_msg(r == -1 && errno == ECHILD,
                  "expected no child process left, but waitpid returned %d "
                  "(errno %d)",
                  (int)r, errno);
    ck_assert_msg(tu_fd_count() == fds_before,
                  "expected %d open descriptors (as before), got %d",
                  fds_before, tu_fd_count());
}

dlp_pool *tu_pool_opts(const dlp_pool_options *o)
{
    dlp_error err = {0, ""};
    dlp_pool *p = NULL;
    int rc = dlp_pool_create(&p, o, &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(dlp_pool_workers(p), o->workers);
    return p;
}

dlp_pool *tu_pool_with(unsigned workers)
{
    dlp_pool_options o;
    dlp_pool_options_init(&o);
    o.workers = workers;
    return tu_pool_opts(&o);
}

/* One pool at a time per test: the count is the started pool's. */
static int pool_fds = -1;

dlp_pool *tu_pool_start_opts(const dlp_pool_options *o)
{
    pool_fds = tu_fd_count();
    return tu_pool_opts(o);
}

dlp_pool *tu_pool_start(unsigned workers)
{
    pool_fds = tu_fd_count();
    return tu_pool_with(workers);
}

void tu_pool_end(dlp_pool *p)
{
    ck_assert_msg(pool_fds >= 0, "tu_pool_end without tu_pool_start");
    dlp_pool_destroy(p);
    tu_assert_clean(pool_fds);
    pool_fds = -1;
}

int tu_resolve(dlp_pool *p, const char *plugin, const char *symbol,
               const char *sig)
{
    dlp_error err = {0, ""};
    int fn = dlp_pool_fn(p, tu_ref(plugin, symbol), sig, &err);
    ck_assert_msg(fn >= 0,
                  "resolving %s:%s: expected a function id, got %d (%s): "
                  "%s",
                  plugin, symbol, fn, dlp_strerror(fn), err.msg);
    return fn;
}

int tu_testplug(dlp_pool *p, const char *symbol)
{
    return tu_resolve(p, tu_plugin("testplug"), symbol, NULL);
}

dlp_job *tu_start(dlp_pool *p, int fn, dlp_iter_fn next, void *ud,
                  const dlp_job_options *opts)
{
    dlp_job *j = NULL;
    dlp_error err = {0, ""};
    int rc = dlp_job_create(&j, p, fn, next, ud, opts, &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(j);
    return j;
}

void tu_assert_has(const char *msg, const char *part)
{
    ck_assert_msg(msg && strstr(msg, part) != NULL,
                  "expected the message to contain '%s', got '%s'", part,
                  msg ? msg : "(null)");
}

int tu_ints_next(void *ud, uint64_t i, dlp_args *a)
{
    tu_ints *s = ud;
    if (i >= s->n)
        return 0;
    if (dlp_args_next_type(a) != DLP_T_VOID)
        dlp_args_int(a, s->vals ? s->vals[i] : (int64_t)i);
    return 1;
}

void tu_run_i64(dlp_pool *p, int fn, uint64_t n, const int64_t *vals,
                int64_t *out)
{
    tu_ints it = {n, vals};
    dlp_job *j = tu_start(p, fn, tu_ints_next, &it, NULL);
    dlp_result r;
    dlp_error err = {0, ""};
    uint64_t k = 0;
    int rc;
    while ((rc = dlp_job_next(j, &r, &err)) == 1) {
        ck_assert_msg(k < n, "expected %llu results, got more",
                      (unsigned long long)n);
        ck_assert_uint_eq(r.index, k);
        ck_assert_msg(r.fail == DLP_FAIL_NONE,
                      "task %llu: expected success, got %s failure: %s",
                      (unsigned long long)r.index,
                      dlp_fail_kind_name(r.fail), r.error);
        out[k++] = r.v.i;
    }
    ck_assert_msg(rc == 0,
                  "dlp_job_next: expected 0 at the end of the job, got %d "
                  "(%s): %s",
                  rc, dlp_strerror(rc), err.msg);
    ck_assert_uint_eq(k, n);
    dlp_job_destroy(j);
}

/* Each process's state and parent pid follow the parenthesised name in
 * /proc/PID/stat (the name may itself hold spaces and parentheses). */
unsigned tu_children(pid_t *pids, unsigned cap)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    unsigned n = 0;
    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d))) {
        char path[300], buf[512];
        FILE *f;
        const char *close_paren;
        long ppid;
        char state;
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        if (!(f = fopen(path, "r")))
            continue; /* gone meanwhile */
        buf[0] = 0;
        if (!fgets(buf, sizeof buf, f))
            buf[0] = 0;
        fclose(f);
        close_paren = strrchr(buf, ')');
        if (!close_paren ||
            sscanf(close_paren + 1, " %c %ld", &state, &ppid) != 2)
            continue;
        if (ppid == (long)getpid() && state != 'Z' && n < cap)
            pids[n++] = (pid_t)atol(e->d_name);
    }
    closedir(d);
    return n;
}

int tu_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int tu_futplug(dlp_pool *p, const char *symbol)
{
    return tu_resolve(p, tu_plugin("futplug"), symbol, NULL);
}

dlp_val *tu_val_ints(unsigned n, ...)
{
    va_list ap;
    dlp_val *l = dlp_val_list();
    ck_assert_ptr_nonnull(l);
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++)
        ck_assert_int_eq(dlp_val_push(l, dlp_val_int(va_arg(ap, int64_t))),
                         0);
    va_end(ap);
    return l;
}

dlp_future *tu_apply_async(dlp_pool *p, int fn, dlp_val *args,
                           const dlp_call_options *opts)
{
    dlp_error err = {0, ""};
    dlp_future *f = NULL;
    int rc = dlp_apply_async(&f, p, fn, args, opts, &err);
    tu_ok(rc, err);
    ck_assert_ptr_nonnull(f);
    dlp_val_free(args);
    return f;
}
