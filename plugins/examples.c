/*
 * examples - the example plugin: the functions the README and the demo
 * use.  Build your own the same way (see README, "Writing a plugin").
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dlpool/plugin.h>

/* The seed's calculator: a + b. */
static int64_t add(int64_t a, int64_t b)
{
    return a + b;
}

static double mean(double a, double b)
{
    return (a + b) / 2;
}

/* Upper-cases its argument into new memory: "str!" tells dlpool to free
 * the result. */
static char *shout(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out) {
        dlp_fail("out of memory");
        return NULL;
    }
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)toupper((unsigned char)s[i]);
    return out;
}

/* Integer division that refuses to divide by zero: dlp_fail() makes this
 * one task an error and leaves the worker running. */
static int64_t divide(int64_t a, int64_t b)
{
    if (b == 0) {
        dlp_fail("division by zero: %lld / 0", (long long)a);
        return 0;
    }
    if (a == INT64_MIN && b == -1) {
        dlp_fail("overflow: %lld / -1", (long long)a);
        return 0;
    }
    return a / b;
}

/* State lives in the worker: each worker counts the calls it served. */
static int64_t counter;

static int64_t count(void)
{
    return ++counter;
}

/* The length of a byte string: bytes arrive as (data, length). */
static uint64_t length(const void *data, size_t len)
{
    (void)data;
    return len;
}

/* The seed's list calculator: concat([1,2], [3,4]) is [1,2,3,4].  A val
 * argument is borrowed for the call; the returned value is new, and the
 * worker frees it once it is sent. */
static dlp_val *concat(const dlp_val *a, const dlp_val *b)
{
    const dlp_val *args[2] = {a, b};
    dlp_val *out;
    for (int k = 0; k < 2; k++) {
        if (args[k]->kind != DLP_V_LIST) {
            dlp_fail("concat: argument %d: expected a list, got %s", k + 1,
                     dlp_val_kind_name(args[k]->kind));
            return NULL;
        }
    }
    if (!(out = dlp_val_list()))
        goto nomem;
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < dlp_val_len(args[k]); i++) {
            /* dlp_val_push takes the copy, and frees it if it fails. */
            dlp_val *item = dlp_val_copy(dlp_val_at(args[k], i));
            if (!item || dlp_val_push(out, item))
                goto nomem;
        }
    }
    return out;
nomem:
    dlp_val_free(out);
    dlp_fail("out of memory");
    return NULL;
}

/* An array argument arrives as (data, n): "f64[]" is (const double *,
 * size_t). */
static double sum(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    return s;
}

/* The sum of an i64[]; a sum past the i64 range is the task's error. */
static int64_t isum(const int64_t *x, size_t n)
{
    int64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] > 0 ? s > INT64_MAX - x[i] : s < INT64_MIN - x[i]) {
            dlp_fail("isum: overflow at element %zu", i);
            return 0;
        }
        s += x[i];
    }
    return s;
}

/* A record as a map: {"n": 3, "mean": 2.0, "min": 1.0, "max": 3.0}. */
static dlp_val *stats(const double *x, size_t n)
{
    dlp_val *m;
    double total = 0, lo, hi;
    if (n == 0) {
        dlp_fail("stats: the array is empty");
        return NULL;
    }
    lo = hi = x[0];
    for (size_t i = 0; i < n; i++) {
        total += x[i];
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    /* dlp_val_set takes the item, also when it fails, so nothing leaks. */
    if (!(m = dlp_val_map()) ||
        dlp_val_set(m, "n", dlp_val_uint(n)) ||
        dlp_val_set(m, "mean", dlp_val_float(total / (double)n)) ||
        dlp_val_set(m, "min", dlp_val_float(lo)) ||
        dlp_val_set(m, "max", dlp_val_float(hi))) {
        dlp_val_free(m);
        dlp_fail("out of memory");
        return NULL;
    }
    return m;
}

/* A colour as "#rrggbb" from its three channels: "u8[]" range-checks
 * every element before the call, so 256 never reaches the function. */
static char *rgb(const uint8_t *c, size_t n)
{
    char *out;
    if (n != 3) {
        dlp_fail("rgb: expected 3 channels, got %zu", n);
        return NULL;
    }
    if (!(out = malloc(8))) {
        dlp_fail("out of memory");
        return NULL;
    }
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
    return out;
}

/* Process and Pipe (dlp_process_start): the seed's calculator over a
 * channel.  Receives [a, b], sends a + b, until end of file; anything but
 * two integers gets null back. */
static int32_t calculator(dlp_chan *c)
{
    dlp_val *v;
    int rc;
    while ((rc = dlp_chan_recv(c, &v)) == 1) {
        int64_t a, b;
        int ok = dlp_val_len(v) == 2 && dlp_val_as_int(dlp_val_at(v, 0), &a) &&
                 dlp_val_as_int(dlp_val_at(v, 1), &b);
        dlp_val *sum = ok ? dlp_val_int(a + b) : dlp_val_null();
        dlp_val_free(v);
        if (!sum || dlp_chan_send(c, sum) != 0) {
            dlp_val_free(sum);
            return 1;
        }
        dlp_val_free(sum);
    }
    return rc == 0 ? 0 : 2; /* 0: a clean end of file */
}

DLP_PLUGIN("examples",
    DLP_FN(add, "i64(i64,i64)"),
    DLP_FN(mean, "f64(f64,f64)"),
    DLP_FN(shout, "str!(str)"),
    DLP_FN(divide, "i64(i64,i64)"),
    DLP_FN(count, "i64()"),
    DLP_FN(length, "u64(bytes)"),
    DLP_FN(concat, "val(val,val)"),
    DLP_FN(sum, "f64(f64[])"),
    DLP_FN(isum, "i64(i64[])"),
    DLP_FN(stats, "val(f64[])"),
    DLP_FN(rgb, "str!(u8[])"),
    DLP_FN(calculator, "i32(chan)"));
