/*
 * examples - the example plugin: the functions the README and the demo
 * use.  Build your own the same way (see README, "Writing a plugin").
 */
#include <ctype.h>
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

DLP_PLUGIN("examples",
    DLP_FN(add, "i64(i64,i64)"),
    DLP_FN(mean, "f64(f64,f64)"),
    DLP_FN(shout, "str!(str)"),
    DLP_FN(divide, "i64(i64,i64)"),
    DLP_FN(count, "i64()"),
    DLP_FN(length, "u64(bytes)"));
