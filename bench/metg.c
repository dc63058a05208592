/*
 * metg - the C API's point of the task granularity search: TASKS tasks of
 * spin(US) (spin.c, US microseconds of the worker's CPU time each), an
 * ordered imap with the default job options over a pool of WORKERS that
 * already runs.  Prints the seconds the job took, from dlp_job_create() to
 * its last result; bench/run turns them into an efficiency against the
 * ideal TASKS * US / WORKERS.
 *
 * Usage: metg SPIN_SO TASKS US [WORKERS]   (default 2 workers)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <dlpool.h>

#include "bench.h"

struct tasks {
    uint64_t n;
    int64_t us;
};

static int next_task(void *ud, uint64_t index, dlp_args *args)
{
    const struct tasks *t = ud;
    if (index >= t->n)
        return 0;
    dlp_args_int(args, t->us);
    return 1;
}

/* Each result in its place, the duration it was given. */
static int result_ok(const dlp_result *res, int64_t nth, void *ud)
{
    const struct tasks *t = ud;
    return res->index == (uint64_t)nth && res->v.i == t->us;
}

int main(int argc, char **argv)
{
    dlp_pool_options popts;
    dlp_pool *pool;
    dlp_job *job;
    dlp_error err;
    struct tasks t;
    char ref[4096];
    int64_t got;
    int fn, rc;
    double t0, t1;

    if (argc < 4) {
        fprintf(stderr, "usage: metg SPIN_SO TASKS US [WORKERS]\n");
        return 2;
    }
    t.n = strtoull(argv[2], NULL, 10);
    t.us = strtoll(argv[3], NULL, 10);
    dlp_pool_options_init(&popts);
    popts.workers = argc > 4 ? (unsigned)atoi(argv[4]) : 2;
    if ((rc = dlp_pool_create(&pool, &popts, &err)) < 0) {
        fprintf(stderr, "metg: pool: %s\n", err.msg);
        return 2;
    }
    snprintf(ref, sizeof ref, "%s:spin", argv[1]);
    if ((fn = dlp_pool_fn(pool, ref, NULL, &err)) < 0) {
        fprintf(stderr, "metg: %s: %s\n", ref, err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    t0 = now();
    if ((rc = dlp_job_create(&job, pool, fn, next_task, &t, NULL, &err)) <
        0) {
        fprintf(stderr, "metg: job: %s\n", err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    got = bench_drain("metg", job, result_ok, &t);
    t1 = now();
    dlp_job_destroy(job);
    dlp_pool_destroy(pool);
    if (got < 0 || (uint64_t)got != t.n)
        return 1;
    printf("%.6f\n", t1 - t0);
    return 0;
}
