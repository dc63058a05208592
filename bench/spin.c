/*
 * spin - a plugin for the scaling benchmark: spin(us) keeps the CPU busy
 * for us microseconds of the calling thread's CPU time and returns us.
 * Counting CPU time rather than wall time makes every task the same amount
 * of work however the workers are scheduled.
 */
#include <time.h>

#include <dlpool/plugin.h>

static int64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t spin(int64_t us)
{
    int64_t end = cpu_us() + us;
    volatile uint64_t x = 0;
    while (cpu_us() < end)
        for (int i = 0; i < 1000; i++)
            x += (uint64_t)i;
    return us;
}

DLP_PLUGIN("spin",
    DLP_FN(spin, "i64(i64)"));
