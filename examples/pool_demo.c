/*
 * pool_demo.c - the C API in one program: Python's Pool, in C.
 *
 *   apply_async   a call to the example plugin's add, with a callback
 *   imap          squares of a lazily generated input, in order, summed
 *   broadcast     each worker's call count, read back: they sum to the
 *                 number of calls made
 *
 * The squares are computed by this program's own function, `square`,
 * called by reference (":square") with no plugin: the workers are forks
 * of this program, which is linked with -rdynamic so they can find it.
 *
 *   cc -rdynamic pool_demo.c $(pkg-config --cflags --libs dlpool)
 *   ./a.out [PLUGIN_DIR]
 *
 * Exits 0 when every result is what it must be, 1 otherwise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <dlpool.h>

/* Per-worker state: each worker counts the squares it computed. */
static int64_t served;

/* Exported (not static): found by ":square" in every worker. */
int64_t square(int64_t x);
int64_t served_count(void);

int64_t square(int64_t x)
{
    served++;
    return x * x;
}

int64_t served_count(void)
{
    return served;
}

/* The imap input: 0, 1, 2, ... n-1, produced one at a time as the pool
 * asks for it (never more than the job's window ahead). */
static int numbers(void *ud, uint64_t i, dlp_args *args)
{
    uint64_t n = *(const uint64_t *)ud;
    if (i >= n)
        return 0; /* no more tasks */
    return dlp_args_int(args, (int64_t)i) == 0 ? 1 : -1;
}

static void on_add(dlp_future *f, void *ud)
{
    dlp_result r;
    if (dlp_future_result(f, 0, &r) == 0 && r.fail == DLP_FAIL_NONE)
        *(int64_t *)ud = r.v.i;
}

static int fail(const char *what, const dlp_error *err)
{
    fprintf(stderr, "pool_demo: %s: %s\n", what, err->msg);
    return 1;
}

int main(int argc, char **argv)
{
    dlp_pool_options po;
    dlp_pool *pool;
    dlp_error err;
    dlp_future *sum_f, *counts;
    dlp_call_options co;
    dlp_job *job;
    dlp_result r;
    int64_t from_callback = 0, total = 0, counted = 0;
    uint64_t n = 100000;
    int add, sq, cnt, rc;

    dlp_pool_options_init(&po);
    po.plugin_path = argc > 1 ? argv[1] : NULL; /* where "examples" is */
    if (dlp_pool_create(&pool, &po, &err))
        return fail("creating the pool", &err);
    if ((add = dlp_pool_fn(pool, "examples:add", NULL, &err)) < 0 ||
        (sq = dlp_pool_fn(pool, ":square", "i64(i64)", &err)) < 0 ||
        (cnt = dlp_pool_fn(pool, ":served_count", "i64()", &err)) < 0)
        return fail("resolving", &err);

    /* apply_async: the call goes out now; the callback runs in the
     * thread that waits for it. */
    dlp_val *args = dlp_val_list();
    dlp_val_push(args, dlp_val_int(2));
    dlp_val_push(args, dlp_val_int(40));
    dlp_call_options_init(&co);
    co.callback = on_add;
    co.callback_ud = &from_callback;
    rc = dlp_apply_async(&sum_f, pool, add, args, &co, &err);
    dlp_val_free(args); /* encoded already */
    if (rc)
        return fail("apply_async", &err);

    /* imap over a lazily generated input, in order. */
    if (dlp_job_create(&job, pool, sq, numbers, &n, NULL, &err))
        return fail("imap", &err);
    for (uint64_t want = 0; (rc = dlp_job_next(job, &r, &err)) == 1; want++) {
        if (r.index != want || r.fail != DLP_FAIL_NONE) {
            fprintf(stderr, "pool_demo: task %" PRIu64 ": %s\n", r.index,
                    r.fail ? r.error : "out of order");
            return 1;
        }
        total += r.v.i;
    }
    dlp_job_destroy(job);
    if (rc < 0)
        return fail("imap", &err);

    if (dlp_future_wait(sum_f, -1) != 0)
        return 1;
    dlp_future_destroy(sum_f);

    /* broadcast: every worker reports how many squares it computed. */
    args = dlp_val_list();
    rc = dlp_broadcast(&counts, pool, cnt, args, NULL, &err);
    dlp_val_free(args);
    if (rc || dlp_future_wait(counts, -1) != 0)
        return fail("broadcast", &err);
    for (size_t i = 0; i < dlp_future_count(counts); i++) {
        if (dlp_future_result(counts, i, &r) == 0 && !r.fail) {
            printf("worker %d computed %" PRId64 " squares\n", r.pid, r.v.i);
            counted += r.v.i;
        }
    }
    dlp_future_destroy(counts);

    dlp_pool_close(pool);
    if (dlp_pool_join(pool, -1, &err))
        return fail("join", &err);
    dlp_pool_destroy(pool);

    int64_t want_total = (int64_t)((n - 1) * n * (2 * n - 1) / 6);
    printf("add(2, 40) = %" PRId64 " (from the callback)\n", from_callback);
    printf("sum of squares below %" PRIu64 " = %" PRId64 "\n", n, total);
    printf("calls counted by the workers = %" PRId64 " of %" PRIu64 "\n",
           counted, n);
    return from_callback == 42 && total == want_total &&
                   counted == (int64_t)n
               ? 0
               : 1;
}
