/*
 * bench.h - what the benchmark programs share: a monotonic clock in
 * seconds, an order on doubles for qsort and, for those that include
 * <dlpool.h> first, a job's results taken and checked.  Each program is still
 * built alone from its one .c file (bench/run); this header is all they
 * include from here.
 */
#ifndef DLPOOL_BENCH_H
#define DLPOOL_BENCH_H

#include <time.h>

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#ifdef DLPOOL_H
#include <stdio.h>

/* Take every result of job, checking each with ok: the result, how many
 * came before it (its index, when the job is ordered) and ud.
 * Returns the number taken, or -1 after saying on standard error (prog:
 * the program's name) which result was wrong or why the job failed. */
static inline int64_t bench_drain(const char *prog, dlp_job *job,
                                  int (*ok)(const dlp_result *, int64_t,
                                            void *),
                                  void *ud)
{
    dlp_result res;
    dlp_error err;
    int64_t got = 0;
    int rc;
    while ((rc = dlp_job_next(job, &res, &err)) == 1) {
        if (res.fail != DLP_FAIL_NONE || !ok(&res, got, ud)) {
            fprintf(stderr, "%s: task %llu: %s\n", prog,
                    (unsigned long long)res.index,
                    res.error ? res.error : "wrong result");
            return -1;
        }
        got++;
    }
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return -1;
    }
    return got;
}
#endif

#endif
