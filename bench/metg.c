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

int main(int argc, char **argv)
{
    dlp_pool_options popts;
    dlp_pool *pool;
    dlp_job *job;
    dlp_result res;
    dlp_error err;
    struct tasks t;
    char ref[4096];
    uint64_t got = 0;
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
    while ((rc = dlp_job_next(job, &res, &err)) == 1) {
        if (res.fail != DLP_FAIL_NONE || res.index != got ||
            res.v.i != t.us) {
            fprintf(stderr, "metg: task %llu: %s\n",
                    (unsigned long long)res.index,
                    res.error ? res.error : "wrong result");
            rc = -1;
            break;
        }
        got++;
    }
    t1 = now();
    if (rc < -1)
        fprintf(stderr, "metg: %s\n", err.msg);
    dlp_job_destroy(job);
    dlp_pool_destroy(pool);
    if (rc != 0 || got != t.n)
        return 1;
    printf("%.6f\n", t1 - t0);
    return 0;
}
