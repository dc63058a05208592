/*
 * testplug - a plugin that exercises every type and misbehaves on purpose.
 */
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dlpool/plugin.h>

#define ECHO(T, CT) static CT echo_##T(CT v) { return v; }
ECHO(i8, int8_t)
ECHO(i16, int16_t)
ECHO(i32, int32_t)
ECHO(i64, int64_t)
ECHO(u8, uint8_t)
ECHO(u16, uint16_t)
ECHO(u32, uint32_t)
ECHO(u64, uint64_t)
ECHO(f32, float)
ECHO(f64, double)
ECHO(bool, bool)

/* A borrowed str result: the argument itself. */
static const char *echo_str(const char *s)
{
    return s;
}

/* bytes arrive as (data, len): return them as owned text. */
static char *bytes_hex(const void *data, size_t len)
{
    const unsigned char *p = data;
    char *out = malloc(2 * len + 1);
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * len] = 0;
    return out;
}

/* Every scalar type in one call, summed into a double. */
static double mixed(int8_t a, uint8_t b, int16_t c, uint16_t d, int32_t e,
                    uint32_t f, int64_t g, uint64_t h, float i, double j,
                    bool k)
{
    return a + b + c + d + e + (double)f + (double)g + (double)h + i + j +
           (k ? 1000000 : 0);
}

static char *concat(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *out = malloc(na + nb + 1);
    if (!out)
        return NULL;
    memcpy(out, a, na);
    memcpy(out + na, b, nb + 1);
    return out;
}

static int64_t void_calls;
static void touch(int64_t v)
{
    void_calls += v;
}

/* Sleep ms milliseconds, then return v: makes results finish out of
 * order. */
static int64_t sleepy(int64_t ms, int64_t v)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
    return v;
}

/* v < 0 crashes the worker: -1 SIGSEGV, -2 abort(), -3 exit(3). */
static int64_t crash(int64_t v)
{
    if (v == -1)
        raise(SIGSEGV);
    if (v == -2)
        abort();
    if (v == -3)
        exit(3);
    return v;
}

static int64_t fail_odd(int64_t v)
{
    if (v % 2)
        dlp_fail("odd value %lld\nrefused", (long long)v);
    return v;
}

static int64_t calls;
static int64_t counter(void)
{
    return ++calls;
}

static int64_t worker_pid(void)
{
    return (int64_t)getpid();
}

static const char *null_str(void)
{
    return NULL;
}

static const char *bad_utf8(void)
{
    return "\xff\xfe";
}

static char *big_str(uint64_t n)
{
    char *s = malloc(n + 1);
    if (!s) {
        dlp_fail("cannot allocate %llu bytes", (unsigned long long)n);
        return NULL;
    }
    memset(s, 'x', n);
    s[n] = 0;
    return s;
}

/* Writes to standard output, which a worker sends to standard error. */
static int64_t noisy(int64_t v)
{
    printf("noise from a task\n");
    fflush(stdout);
    return v;
}

/* Crashes the first time it runs for a given marker path (creating the
 * file), then returns v: a task that a retry saves. */
static int64_t crash_once(const char *marker, int64_t v)
{
    FILE *f = fopen(marker, "r");
    if (!f) {
        f = fopen(marker, "w");
        if (f)
            fclose(f);
        raise(SIGSEGV);
    }
    fclose(f);
    return v;
}

/* The number of descriptors open in this worker (entries of
 * /proc/self/fd, less the one reading it). */
static int64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int64_t n = 0;
    if (!d) {
        dlp_fail("cannot read /proc/self/fd");
        return -1;
    }
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* Allocates and touches n bytes, then frees them: for memory limits. */
static uint64_t hog(uint64_t n)
{
    char *p = malloc(n);
    if (!p) {
        dlp_fail("cannot allocate %llu bytes", (unsigned long long)n);
        return 0;
    }
    for (uint64_t i = 0; i < n; i += 4096)
        p[i] = 1;
    /* Keep the compiler from proving the memory unused and dropping the
     * allocation altogether (clang does at -O2). */
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
    return n;
}

/* Fails, then returns a string literal: dlpool must not free it. */
static char *fail_literal(void)
{
    dlp_fail("failed after all");
    return "a literal, not malloc'd";
}

DLP_PLUGIN("testplug",
    DLP_FN(echo_i8, "i8(i8)"),
    DLP_FN(echo_i16, "i16(i16)"),
    DLP_FN(echo_i32, "i32(i32)"),
    DLP_FN(echo_i64, "i64(i64)"),
    DLP_FN(echo_u8, "u8(u8)"),
    DLP_FN(echo_u16, "u16(u16)"),
    DLP_FN(echo_u32, "u32(u32)"),
    DLP_FN(echo_u64, "u64(u64)"),
    DLP_FN(echo_f32, "f32(f32)"),
    DLP_FN(echo_f64, "f64(f64)"),
    DLP_FN(echo_bool, "bool(bool)"),
    DLP_FN(echo_str, "str(str)"),
    DLP_FN(bytes_hex, "str!(bytes)"),
    DLP_FN(mixed, "f64(i8,u8,i16,u16,i32,u32,i64,u64,f32,f64,bool)"),
    DLP_FN(concat, "str!(str,str)"),
    DLP_FN(touch, "void(i64)"),
    DLP_FN(sleepy, "i64(i64,i64)"),
    DLP_FN(crash, "i64(i64)"),
    DLP_FN(fail_odd, "i64(i64)"),
    DLP_FN(counter, "i64()"),
    DLP_FN(worker_pid, "i64(void)"),
    DLP_FN(null_str, "str()"),
    DLP_FN(bad_utf8, "str()"),
    DLP_FN(big_str, "str!(u64)"),
    DLP_FN(noisy, "i64(i64)"),
    DLP_FN(fail_literal, "str!()"),
    DLP_FN(crash_once, "i64(str,i64)"),
    DLP_FN(open_fds, "i64()"),
    DLP_FN(hog, "u64(u64)"));
