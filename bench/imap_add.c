/*
 * imap_add - the C API benchmark: map examples:add over N tuples (i, i)
 * with the default job options (ordered results) and print the seconds the
 * job took, from dlp_job_create() to its last result.  Pool start-up is
 * left out on purpose: it is measured by the start-up benchmark.
 *
 * Usage: imap_add N [WORKERS]
 *
 * Under mpirun -n K (K >= 2) it runs the MPI transport: rank 0 maps as
 * above with its workers on the other ranks, each an agent with WORKERS
 * workers of its own; only rank 0 prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <dlpool.h>

#include "bench.h"

static int next_pair(void *ud, uint64_t index, dlp_args *args)
{
    uint64_t n = *(const uint64_t *)ud;
    if (index >= n)
        return 0;
    dlp_args_int(args, (int64_t)index);
    dlp_args_int(args, (int64_t)index);
    return 1;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    dlp_pool_options popts;
    dlp_pool *pool;
    dlp_job *job;
    dlp_result res;
    dlp_error err;
    int fn, rc;
    uint64_t got = 0;
    int64_t sum = 0;
    double t0, t1;

    dlp_pool_options_init(&popts);
    popts.workers = argc > 2 ? (unsigned)atoi(argv[2]) : 2;
    {
        int rank, size;
        if (dlp_mpi_launched(&rank, &size) && size > 1) {
            if (rank > 0) {
                if ((rc = dlp_mpi_agent(&popts, &err)) < 0)
                    fprintf(stderr, "imap_add: rank %d: %s\n", rank, err.msg);
                return rc < 0 ? 2 : 0;
            }
            popts.transport = DLP_TRANSPORT_MPI;
        }
    }
    if ((rc = dlp_pool_create(&pool, &popts, &err)) < 0) {
        fprintf(stderr, "imap_add: pool: %s\n", err.msg);
        return 2;
    }
    if ((fn = dlp_pool_fn(pool, "examples:add", NULL, &err)) < 0) {
        fprintf(stderr, "imap_add: examples:add: %s\n", err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    t0 = now();
    if ((rc = dlp_job_create(&job, pool, fn, next_pair, &n, NULL, &err)) < 0) {
        fprintf(stderr, "imap_add: job: %s\n", err.msg);
        dlp_pool_destroy(pool);
        return 2;
    }
    while ((rc = dlp_job_next(job, &res, &err)) == 1) {
        if (res.fail != DLP_FAIL_NONE || res.index != got) {
            fprintf(stderr, "imap_add: task %llu: %s\n",
                    (unsigned long long)res.index,
                    res.error ? res.error : "out of order");
            rc = -1;
            break;
        }
        sum += res.v.i;
        got++;
    }
    t1 = now();
    if (rc < 0 && rc != -1)
        fprintf(stderr, "imap_add: %s\n", err.msg);
    dlp_job_destroy(job);
    dlp_pool_destroy(pool);
    /* The sum of 2i for i < n is n(n - 1): a check that every result came
     * back exactly once. */
    if (rc != 0 || got != n || sum != (int64_t)(n * (n - 1))) {
        fprintf(stderr, "imap_add: wrong result: %llu results, sum %lld\n",
                (unsigned long long)got, (long long)sum);
        return 1;
    }
    printf("%.6f\n", t1 - t0);
    return 0;
}
