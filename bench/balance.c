/*
 * balance - load balance of the automatic batching: TASKS tasks of
 * pseudo-random duration, 0 to 20 ms of CPU each (spin.c's spin(us), work
 * rather than sleep), mapped over a pool of WORKERS with the default job
 * options, on a pool that already runs.
 *
 * The durations come from a fixed 64-bit LCG (seed SEED), the same one
 * pool_bench.py balance uses, so both sides run the same tasks in the
 * same order.  The ideal makespan is max(sum / WORKERS, longest task).
 *
 * Prints "percent_over_ideal makespan_ms ideal_ms".
 *
 * Usage: balance SPIN_SO [TASKS [WORKERS [SEED]]]   (defaults 100, 2, 42)
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <dlpool.h>

#include "bench.h"

#define MAX_US 20000

struct tasks {
    uint64_t n;
    const int64_t *us;
};

static int next_task(void *ud, uint64_t index, dlp_args *args)
{
    const struct tasks *t = ud;
    if (index >= t->n)
        return 0;
    dlp_args_int(args, t->us[index]);
    return 1;
}

/* Each result the duration its task was given. */
static int result_ok(const dlp_result *res, int64_t nth, void *ud)
{
    const struct tasks *t = ud;
    (void)nth;
    return res->v.i == t->us[res->index];
}

int main(int argc, char **argv)
{
    const char *so = argc > 1 ? argv[1] : NULL;
    uint64_t n = argc > 2 ? strtoull(argv[2], NULL, 10) : 100;
    unsigned workers = argc > 3 ? (unsigned)atoi(argv[3]) : 2;
    uint64_t x = argc > 4 ? strtoull(argv[4], NULL, 10) : 42;
    int64_t *us, sum = 0, longest = 0;
    struct tasks t;
    dlp_pool_options popts;
    dlp_pool *pool;
    dlp_job *job;
    dlp_error err;
    char ref[4096];
    int64_t got;
    double t0, t1, ideal;
    int fn, rc;

    if (!so || n == 0 || workers == 0) {
        fprintf(stderr, "usage: balance SPIN_SO [TASKS [WORKERS [SEED]]]\n");
        return 2;
    }
    if (!(us = malloc(n * sizeof *us)))
        return 2;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        us[i] = (int64_t)((x >> 33) % (MAX_US + 1));
        sum += us[i];
        if (us[i] > longest)
            longest = us[i];
    }
    ideal = (double)sum / workers;
    if ((double)longest > ideal)
        ideal = (double)longest;

    dlp_pool_options_init(&popts);
    popts.workers = workers;
    if ((rc = dlp_pool_create(&pool, &popts, &err)) < 0) {
        fprintf(stderr, "balance: pool: %s\n", err.msg);
        return 2;
    }
    snprintf(ref, sizeof ref, "%s:spin", so);
    if ((fn = dlp_pool_fn(pool, ref, NULL, &err)) < 0) {
        fprintf(stderr, "balance: %s: %s\n", ref, err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    t.n = n;
    t.us = us;
    t0 = now();
    if ((rc = dlp_job_create(&job, pool, fn, next_task, &t, NULL, &err)) <
        0) {
        fprintf(stderr, "balance: job: %s\n", err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    got = bench_drain("balance", job, result_ok, &t);
    t1 = now();
    dlp_job_destroy(job);
    dlp_pool_destroy(pool);
    free(us);
    if (got < 0 || (uint64_t)got != n)
        return 1;
    printf("%.2f %.2f %.2f\n", ((t1 - t0) * 1e6 / ideal - 1) * 100,
           (t1 - t0) * 1e3, ideal / 1e3);
    return 0;
}
