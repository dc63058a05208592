/*
 * bench.h - what the benchmark programs share: a monotonic clock in
 * seconds and an order on doubles for qsort.  Each program is still
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

#endif
