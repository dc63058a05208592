/*
 * testplug - a plugin that exercises every type and misbehaves on purpose.
 */
#include <dirent.h>
#include <fcntl.h>
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

/* Appends v and a newline to the file named by DLPOOL_TEST_LOG (if set),
 * then sleeps ms milliseconds and returns v: a side effect that shows
 * which tasks ran, and how many times (the checkpoint tests). */
static int64_t logged(int64_t ms, int64_t v)
{
    const char *path = getenv("DLPOOL_TEST_LOG");
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    if (path) {
        char line[32];
        int n = snprintf(line, sizeof line, "%lld\n", (long long)v);
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, line, (size_t)n) != n)
            dlp_fail("cannot append to %s", path);
        if (fd >= 0)
            close(fd);
    }
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

/* The same, or the worker's parent's pid. */
static int64_t crash_or_ppid(int64_t v)
{
    crash(v);
    return (int64_t)getppid();
}

static int64_t fail_odd(int64_t v)
{
    if (v % 2)
        dlp_fail("odd value %lld\nrefused", (long long)v);
    return v;
}

/* Fails with its argument as the message, whatever its bytes. */
static int64_t fail_with(const char *msg)
{
    dlp_fail("%s", msg);
    return 0;
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

/* ---- arrays and values ------------------------------------------------ */

/* An i64[] arrives as (data, n). */
static int64_t sum_i64(const int64_t *p, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

static double sum_f32(const float *p, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

/* The first element, or -1 for an empty array. */
static int64_t first_u8(const uint8_t *p, size_t n)
{
    return n ? p[0] : -1;
}

/* Every array type at once, returned as a list of lists of numbers: shows
 * each (data, n) pair arrived in its place. */
static dlp_val *arrays_to_val(const int8_t *a, size_t na, const int16_t *b,
                              size_t nb, const int32_t *c, size_t nc,
                              const int64_t *d, size_t nd, const uint8_t *e,
                              size_t ne, const uint16_t *f, size_t nf,
                              const uint32_t *g, size_t ng, const uint64_t *h,
                              size_t nh, const float *x, size_t nx,
                              const double *y, size_t ny)
{
    dlp_val *out = dlp_val_list(), *l;
#define ADD(n, expr)                                                               do {                                                                               l = dlp_val_list();                                                            for (size_t i = 0; i < (n); i++)                                                   dlp_val_push(l, (expr));                                                   dlp_val_push(out, l);                                                      } while (0)
    ADD(na, dlp_val_int(a[i]));
    ADD(nb, dlp_val_int(b[i]));
    ADD(nc, dlp_val_int(c[i]));
    ADD(nd, dlp_val_int(d[i]));
    ADD(ne, dlp_val_uint(e[i]));
    ADD(nf, dlp_val_uint(f[i]));
    ADD(ng, dlp_val_uint(g[i]));
    ADD(nh, dlp_val_uint(h[i]));
    ADD(nx, dlp_val_float(x[i]));
    ADD(ny, dlp_val_float(y[i]));
#undef ADD
    return out;
}

/* A val argument is borrowed; the result is the worker's to free. */
static dlp_val *echo_val(const dlp_val *v)
{
    return dlp_val_copy(v);
}

static const char *val_kind(const dlp_val *v)
{
    return v ? dlp_val_kind_name(v->kind) : "NULL";
}

/* Lists nested n deep (n <= 0: null): past the wire's depth limit the
 * result cannot be carried back. */
static dlp_val *deep(int64_t n)
{
    dlp_val *v = n > 0 ? dlp_val_list() : dlp_val_null();
    for (int64_t i = 1; i < n; i++) {
        dlp_val *outer = dlp_val_list();
        dlp_val_push(outer, v);
        v = outer;
    }
    return v;
}

/* NULL is a null result. */
static dlp_val *null_val(void)
{
    return NULL;
}

/* Fails after making the value it returns: the worker frees it. */
static dlp_val *fail_val(const dlp_val *v)
{
    dlp_val *c = dlp_val_copy(v);
    dlp_fail("failed with a %s in hand", val_kind(v));
    return c;
}

/* A node of no known kind (the layout is public, so a plugin can write
 * one): the result is refused, the worker stays. */
static dlp_val *bad_kind_val(void)
{
    dlp_val *v = dlp_val_null();
    if (v)
        v->kind = (dlp_val_kind)42;
    return v;
}

/* A process function: it can be resolved, but not mapped over tasks. */
static int32_t chan_noop(dlp_chan *c)
{
    return c ? 0 : 1;
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
    DLP_FN(logged, "i64(i64,i64)"),
    DLP_FN(crash, "i64(i64)"),
    DLP_FN(crash_or_ppid, "i64(i64)"),
    DLP_FN(fail_odd, "i64(i64)"),
    DLP_FN(fail_with, "i64(str)"),
    DLP_FN(counter, "i64()"),
    DLP_FN(worker_pid, "i64(void)"),
    DLP_FN(null_str, "str()"),
    DLP_FN(bad_utf8, "str()"),
    DLP_FN(big_str, "str!(u64)"),
    DLP_FN(noisy, "i64(i64)"),
    DLP_FN(fail_literal, "str!()"),
    DLP_FN(crash_once, "i64(str,i64)"),
    DLP_FN(open_fds, "i64()"),
    DLP_FN(hog, "u64(u64)"),
    DLP_FN(sum_i64, "i64(i64[])"),
    DLP_FN(sum_f32, "f64(f32[])"),
    DLP_FN(first_u8, "i64(u8[])"),
    DLP_FN(arrays_to_val,
           "val(i8[],i16[],i32[],i64[],u8[],u16[],u32[],u64[],f32[],f64[])"),
    DLP_FN(echo_val, "val(val)"),
    DLP_FN(val_kind, "str(val)"),
    DLP_FN(deep, "val(i64)"),
    DLP_FN(null_val, "val()"),
    DLP_FN(fail_val, "val(val)"),
    DLP_FN(bad_kind_val, "val()"),
    DLP_FN(chan_noop, "i32(chan)"));
