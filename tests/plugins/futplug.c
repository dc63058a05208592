/*
 * futplug.c - functions for the futures tests: per-worker state to read
 * back with a broadcast, an initializer and its failures, slow and
 * crashing calls.
 */
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <dlpool/plugin.h>

/* The seed's counter: state that lives in one worker. */
static int64_t calls;
static int64_t seeded = -1;

static int64_t tick(int64_t x)
{
    calls++;
    return x;
}

static int64_t ticks(void)
{
    return calls;
}

static int64_t pid(void)
{
    return (int64_t)getpid();
}

static int64_t add(int64_t a, int64_t b)
{
    return a + b;
}

static int64_t nap(int64_t ms, int64_t v)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
    return v;
}

static int64_t boom(int64_t v)
{
    if (v < 0)
        raise(SIGSEGV);
    return v;
}

static int64_t refuse(int64_t v)
{
    if (v % 2)
        dlp_fail("odd value %lld", (long long)v);
    return v;
}

/* Initializers: set per-worker state, fail, or crash. */
static void seed(int64_t v)
{
    seeded = v;
}

static int64_t seed_get(void)
{
    return seeded;
}

static void seed_fail(int64_t v)
{
    dlp_fail("cannot seed with %lld", (long long)v);
}

static void seed_crash(void)
{
    raise(SIGSEGV);
}

static const char *hello(const char *who)
{
    return who[0] ? "hello" : "";
}

static void nothing(void)
{
}

DLP_PLUGIN("futplug",
           DLP_FN(tick, "i64(i64)"),
           DLP_FN(ticks, "i64()"),
           DLP_FN(pid, "i64()"),
           DLP_FN(add, "i64(i64,i64)"),
           DLP_FN(nap, "i64(i64,i64)"),
           DLP_FN(boom, "i64(i64)"),
           DLP_FN(refuse, "i64(i64)"),
           DLP_FN(seed, "void(i64)"),
           DLP_FN(seed_get, "i64()"),
           DLP_FN(seed_fail, "void(i64)"),
           DLP_FN(seed_crash, "void()"),
           DLP_FN(hello, "str(str)"),
           DLP_FN(nothing, "void()"));
