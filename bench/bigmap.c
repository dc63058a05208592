/*
 * bigmap - the large-values benchmark: TASKS tasks of big.c's str(SIZE),
 * each returning SIZE bytes, through an ordered job with the default
 * options on a pool of WORKERS that already runs.  Every result is checked
 * for its length and its first and last byte.
 *
 * Prints "GB_per_s seconds", GB being 10^9 bytes of results.
 *
 * Usage: bigmap BIG_SO [TASKS [SIZE [WORKERS]]]
 *        (defaults 10000, 1048576, 2)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <dlpool.h>

#include "bench.h"

struct spec {
    uint64_t n, size;
};

static int next_task(void *ud, uint64_t index, dlp_args *args)
{
    const struct spec *s = ud;
    if (index >= s->n)
        return 0;
    dlp_args_uint(args, s->size);
    return 1;
}

/* Each result in its place, size bytes, 'x' at both ends. */
static int result_ok(const dlp_result *res, int64_t nth, void *ud)
{
    const struct spec *s = ud;
    return res->index == (uint64_t)nth && res->v.s.len == s->size &&
           res->v.s.ptr[0] == 'x' && res->v.s.ptr[s->size - 1] == 'x';
}

int main(int argc, char **argv)
{
    const char *so = argc > 1 ? argv[1] : NULL;
    struct spec s;
    dlp_pool_options popts;
    dlp_pool *pool;
    dlp_job *job;
    dlp_error err;
    char ref[4096];
    int64_t got;
    double t0, t1;
    int fn, rc;

    s.n = argc > 2 ? strtoull(argv[2], NULL, 10) : 10000;
    s.size = argc > 3 ? strtoull(argv[3], NULL, 10) : 1u << 20;
    if (!so || s.n == 0 || s.size == 0) {
        fprintf(stderr, "usage: bigmap BIG_SO [TASKS [SIZE [WORKERS]]]\n");
        return 2;
    }
    dlp_pool_options_init(&popts);
    popts.workers = argc > 4 ? (unsigned)atoi(argv[4]) : 2;
    if ((rc = dlp_pool_create(&pool, &popts, &err)) < 0) {
        fprintf(stderr, "bigmap: pool: %s\n", err.msg);
        return 2;
    }
    snprintf(ref, sizeof ref, "%s:str", so);
    if ((fn = dlp_pool_fn(pool, ref, NULL, &err)) < 0) {
        fprintf(stderr, "bigmap: %s: %s\n", ref, err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    t0 = now();
    if ((rc = dlp_job_create(&job, pool, fn, next_task, &s, NULL, &err)) <
        0) {
        fprintf(stderr, "bigmap: job: %s\n", err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    got = bench_drain("bigmap", job, result_ok, &s);
    t1 = now();
    dlp_job_destroy(job);
    dlp_pool_destroy(pool);
    if (got < 0 || (uint64_t)got != s.n)
        return 1;
    printf("%.3f %.6f\n", (double)s.n * (double)s.size / (t1 - t0) / 1e9,
           t1 - t0);
    return 0;
}
