/*
 * latency - the round trip of one blocking call on an idle pool: COUNT
 * calls of examples:add(1, 2), one at a time, each timed alone, after a
 * warm-up of WARMUP calls (which the timing leaves out: the first calls
 * fault in pages and caches on both sides).
 *
 * It measures both ways of making the call, each COUNT times:
 *   dlp_apply(pool, fn, [1, 2], &out)                  (Python's apply)
 *   dlp_apply_async(...) then dlp_future_get(...)      (apply_async().get())
 * and prints "apply_median apply_p99 async_median async_p99", in
 * microseconds.
 *
 * Usage: latency [COUNT [WORKERS [WARMUP]]]   (defaults 10000, 2, 1000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <dlpool.h>

#include "bench.h"

/* The q-quantile of n sorted samples, by the nearest rank. */
static double quantile(const double *v, size_t n, double q)
{
    size_t k = (size_t)(q * (double)n + 0.5);
    if (k > 0)
        k--;
    return v[k < n ? k : n - 1];
}

/* One call with dlp_apply; checks the answer. */
static int call_apply(dlp_pool *pool, int fn, const dlp_val *args)
{
    dlp_error err;
    dlp_val *out = NULL;
    int64_t v;
    int rc = dlp_apply(pool, fn, args, &out, &err);
    if (rc < 0) {
        fprintf(stderr, "latency: dlp_apply: %s: %s\n", dlp_strerror(rc),
                err.msg);
        return -1;
    }
    if (!dlp_val_as_int(out, &v) || v != 3) {
        fprintf(stderr, "latency: dlp_apply: wrong result\n");
        dlp_val_free(out);
        return -1;
    }
    dlp_val_free(out);
    return 0;
}

/* One call with dlp_apply_async and dlp_future_get; checks the answer. */
static int call_async(dlp_pool *pool, int fn, const dlp_val *args)
{
    dlp_error err;
    dlp_future *f;
    dlp_result res;
    int rc = dlp_apply_async(&f, pool, fn, args, NULL, &err);
    if (rc < 0) {
        fprintf(stderr, "latency: dlp_apply_async: %s: %s\n",
                dlp_strerror(rc), err.msg);
        return -1;
    }
    rc = dlp_future_get(f, -1, &res, &err);
    if (rc < 0 || res.v.i != 3) {
        fprintf(stderr, "latency: dlp_future_get: %s: %s\n",
                dlp_strerror(rc), rc < 0 ? err.msg : "wrong result");
        dlp_future_destroy(f);
        return -1;
    }
    dlp_future_destroy(f);
    return 0;
}

/* Time count calls of one kind into t (microseconds, sorted). */
static int measure(int (*call)(dlp_pool *, int, const dlp_val *),
                   dlp_pool *pool, int fn, const dlp_val *args, double *t,
                   size_t count, size_t warmup)
{
    for (size_t i = 0; i < warmup; i++)
        if (call(pool, fn, args) < 0)
            return -1;
    for (size_t i = 0; i < count; i++) {
        double t0 = now();
        if (call(pool, fn, args) < 0)
            return -1;
        t[i] = (now() - t0) * 1e6;
    }
    qsort(t, count, sizeof *t, cmp_double);
    return 0;
}

int main(int argc, char **argv)
{
    size_t count = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
    size_t warmup = argc > 3 ? strtoul(argv[3], NULL, 10) : 1000;
    dlp_pool_options popts;
    dlp_pool *pool;
    dlp_error err;
    dlp_val *args;
    double *ta, *tf;
    int fn, rc, status = 1;

    if (count == 0) {
        fprintf(stderr, "usage: latency [COUNT [WORKERS [WARMUP]]]\n");
        return 2;
    }
    dlp_pool_options_init(&popts);
    popts.workers = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
    if ((rc = dlp_pool_create(&pool, &popts, &err)) < 0) {
        fprintf(stderr, "latency: pool: %s\n", err.msg);
        return 2;
    }
    if ((fn = dlp_pool_fn(pool, "examples:add", NULL, &err)) < 0) {
        fprintf(stderr, "latency: examples:add: %s\n", err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    args = dlp_val_list();
    ta = malloc(count * sizeof *ta);
    tf = malloc(count * sizeof *tf);
    if (!args || !ta || !tf || dlp_val_push(args, dlp_val_int(1)) < 0 ||
        dlp_val_push(args, dlp_val_int(2)) < 0) {
        fprintf(stderr, "latency: out of memory\n");
        goto out;
    }
    if (measure(call_apply, pool, fn, args, ta, count, warmup) < 0 ||
        measure(call_async, pool, fn, args, tf, count, warmup) < 0)
        goto out;
    printf("%.2f %.2f %.2f %.2f\n", quantile(ta, count, 0.5),
           quantile(ta, count, 0.99), quantile(tf, count, 0.5),
           quantile(tf, count, 0.99));
    status = 0;
out:
    free(ta);
    free(tf);
    dlp_val_free(args);
    dlp_pool_destroy(pool);
    return status;
}
