/*
 * check_invoke.c - libffi calls of every supported type, in this process.
 *
 * Each test loads functions of testplug.so, encodes an argument list the
 * way the parent does (see framework/wire.h), runs dlp__invoke and decodes
 * the result record it appends: u64 index, u8 kind, u32 len, payload.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"
#include "testutil.h"
#include "val.h"

/* The loader and the result buffer of the running test; the checked
 * fixture resets them for every test and frees them afterwards. */
static dlp__loader loader;
static dlp__buf out;

static void setup(void)
{
    memset(&loader, 0, sizeof loader);
    memset(&out, 0, sizeof out);
}

static void teardown(void)
{
    dlp__buf_free(&out);
    dlp__unload_all(&loader);
}

/* Resolve a function of testplug.so. */
static void load(const char *symbol, dlp__fn *fn)
{
    dlp_error err = {0};
    int rc = dlp__load_fn(&loader, tu_plugin("testplug"), symbol, NULL, fn,
                          &err);
    tu_ok(rc, err);
}

/* ---- encoding arguments, as the parent does --------------------------- */

static void put(dlp__buf *b, const void *p, size_t n)
{
    int rc = dlp__buf_put(b, p, n);
    ck_assert_msg(rc == 0, "expected to grow the argument buffer, got %d (%s)",
                  rc, dlp_strerror(rc));
}

static void put_i8(dlp__buf *b, int8_t v) { put(b, &v, 1); }
static void put_u8(dlp__buf *b, uint8_t v) { put(b, &v, 1); }
static void put_i16(dlp__buf *b, int16_t v) { put(b, &v, 2); }
static void put_u16(dlp__buf *b, uint16_t v) { put(b, &v, 2); }
static void put_i32(dlp__buf *b, int32_t v) { put(b, &v, 4); }
static void put_u32(dlp__buf *b, uint32_t v) { put(b, &v, 4); }
static void put_i64(dlp__buf *b, int64_t v) { put(b, &v, 8); }
static void put_u64(dlp__buf *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(dlp__buf *b, float v) { put(b, &v, 4); }
static void put_f64(dlp__buf *b, double v) { put(b, &v, 8); }
static void put_bool(dlp__buf *b, bool v) { put_u8(b, v ? 1 : 0); }

/* str: u32 length, the bytes and a NUL. */
static void put_str(dlp__buf *b, const char *s, size_t n)
{
    int rc = dlp__put_str(b, s, n, 1);
    ck_assert_msg(rc == 0, "expected to encode a str, got %d (%s)", rc,
                  dlp_strerror(rc));
}

/* bytes: u32 length and the bytes. */
static void put_bytes(dlp__buf *b, const void *p, size_t n)
{
    int rc = dlp__put_str(b, p, n, 0);
    ck_assert_msg(rc == 0, "expected to encode bytes, got %d (%s)", rc,
                  dlp_strerror(rc));
}

/* ---- calling and decoding the result record --------------------------- */

typedef struct rec {
    uint64_t index;
    uint8_t kind;
    uint32_t len;
    const unsigned char *payload; /* in out: valid until the next call */
} rec;

static void init_reader(dlp__rd *r, const dlp__buf *args)
{
    /* An empty buffer has no storage; give the reader a real pointer. */
    static const unsigned char none[1];
    dlp__rd_init(r, args->p ? args->p : none, args->len);
}

/* Invoke fn on args as task index, expecting success, and decode the one
 * record it appended to out. */
static void call(const dlp__fn *fn, uint64_t index, const dlp__buf *args,
                 rec *res)
{
    size_t before = out.len;
    dlp__rd r;
    int rc;

    init_reader(&r, args);
    rc = dlp__invoke(fn, index, &r, &out);
    ck_assert_msg(rc == 0, "task %llu: expected dlp__invoke to succeed, got "
                           "%d (%s)",
                  (unsigned long long)index, rc, dlp_strerror(rc));
    ck_assert_msg(out.len >= before + DLP_RESULT_HDR,
                  "task %llu: expected a result record of at least %u "
                  "bytes, got %zu",
                  (unsigned long long)index, DLP_RESULT_HDR,
                  out.len - before);

    dlp__rd_init(&r, out.p + before, out.len - before);
    ck_assert_int_eq(dlp__get_u64(&r, &res->index), 0);
    ck_assert_int_eq(dlp__get_u8(&r, &res->kind), 0);
    ck_assert_int_eq(dlp__get_u32(&r, &res->len), 0);
    ck_assert_msg(dlp__get_bytes(&r, res->len, &res->payload) == 0,
                  "task %llu: the record says %u payload bytes, only %zu "
                  "follow",
                  (unsigned long long)index, res->len,
                  out.len - before - DLP_RESULT_HDR);
    ck_assert_msg(r.p == r.end,
                  "task %llu: expected one record, got %zu bytes after it",
                  (unsigned long long)index, (size_t)(r.end - r.p));
    ck_assert_uint_eq(res->index, index);
}

/* Call and return the 8-byte scalar of a successful result. */
static uint64_t call_scalar(const dlp__fn *fn, uint64_t index,
                            const dlp__buf *args)
{
    rec res;
    uint64_t w;
    call(fn, index, args, &res);
    ck_assert_msg(res.kind == DLP_R_OK,
                  "task %llu: expected kind %d (ok), got %u: %.*s",
                  (unsigned long long)index, DLP_R_OK, res.kind,
                  (int)res.len, (const char *)res.payload);
    ck_assert_uint_eq(res.len, 8);
    memcpy(&w, res.payload, 8);
    return w;
}

static double bits_to_double(uint64_t w)
{
    double d;
    memcpy(&d, &w, 8);
    return d;
}

static uint64_t double_bits(double d)
{
    uint64_t w;
    memcpy(&w, &d, 8);
    return w;
}

/* Assert that a result carries exactly the text want (kind and payload). */
#define expect_text(res, want_kind, want)                                      \
    do {                                                                       \
        size_t want_len_ = strlen(want);                                       \
        ck_assert_msg((res).kind == (want_kind),                               \
                      "expected kind %d, got %u: %.*s", (want_kind),           \
                      (res).kind, (int)(res).len,                              \
                      (const char *)(res).payload);                            \
        ck_assert_msg((res).len == want_len_ &&                                \
                          memcmp((res).payload, (want), want_len_) == 0,       \
                      "expected \"%s\" (%zu bytes), got \"%.*s\" (%u bytes)",  \
                      (want), want_len_, (int)(res).len,                       \
                      (const char *)(res).payload, (res).len);                 \
    } while (0)

/* ---- core: every scalar type round trip ------------------------------- */

/* Echo each value through a signed function of the given width and expect
 * it back, sign-extended to i64. */
static void echo_signed(const char *symbol, unsigned width,
                        const int64_t *vals, size_t n)
{
    dlp__fn fn;
    load(symbol, &fn);
    for (size_t i = 0; i < n; i++) {
        dlp__buf a = {0};
        int64_t got;
        switch (width) {
        case 1:
            put_i8(&a, (int8_t)vals[i]);
            break;
        case 2:
            put_i16(&a, (int16_t)vals[i]);
            break;
        case 4:
            put_i32(&a, (int32_t)vals[i]);
            break;
        default:
            put_i64(&a, vals[i]);
            break;
        }
        got = (int64_t)call_scalar(&fn, i, &a);
        ck_assert_msg(got == vals[i], "%s(%lld): expected %lld, got %lld",
                      symbol, (long long)vals[i], (long long)vals[i],
                      (long long)got);
        dlp__buf_free(&a);
    }
}

/* The same for unsigned types: zero-extended to u64. */
static void echo_unsigned(const char *symbol, unsigned width,
                          const uint64_t *vals, size_t n)
{
    dlp__fn fn;
    load(symbol, &fn);
    for (size_t i = 0; i < n; i++) {
        dlp__buf a = {0};
        uint64_t got;
        switch (width) {
        case 1:
            put_u8(&a, (uint8_t)vals[i]);
            break;
        case 2:
            put_u16(&a, (uint16_t)vals[i]);
            break;
        case 4:
            put_u32(&a, (uint32_t)vals[i]);
            break;
        default:
            put_u64(&a, vals[i]);
            break;
        }
        got = call_scalar(&fn, i, &a);
        ck_assert_msg(got == vals[i], "%s(%llu): expected %llu, got %llu",
                      symbol, (unsigned long long)vals[i],
                      (unsigned long long)vals[i], (unsigned long long)got);
        dlp__buf_free(&a);
    }
}

#define NVALS(a) (sizeof(a) / sizeof((a)[0]))

START_TEST(test_echo_i8)
{
    static const int64_t v[] = {INT8_MIN, INT8_MAX, 0, -1, 1, 42};
    echo_signed("echo_i8", 1, v, NVALS(v));
}
END_TEST

START_TEST(test_echo_i16)
{
    static const int64_t v[] = {INT16_MIN, INT16_MAX, 0, -1, 0x1234, -300};
    echo_signed("echo_i16", 2, v, NVALS(v));
}
END_TEST

START_TEST(test_echo_i32)
{
    static const int64_t v[] = {INT32_MIN, INT32_MAX, 0, -1, 65536, -70000};
    echo_signed("echo_i32", 4, v, NVALS(v));
}
END_TEST

START_TEST(test_echo_i64)
{
    static const int64_t v[] = {INT64_MIN, INT64_MAX,         0, -1,
                                INT64_C(1) << 40, INT64_C(-5000000000)};
    echo_signed("echo_i64", 8, v, NVALS(v));
}
END_TEST

START_TEST(test_echo_u8)
{
    static const uint64_t v[] = {0, UINT8_MAX, 1, 0x80, 0x7f};
    echo_unsigned("echo_u8", 1, v, NVALS(v));
}
END_TEST

START_TEST(test_echo_u16)
{
    static const uint64_t v[] = {0, UINT16_MAX, 1, 0x8000, 0x1234};
    echo_unsigned("echo_u16", 2, v, NVALS(v));
}
END_TEST

START_TEST(test_echo_u32)
{
    static const uint64_t v[] = {0, UINT32_MAX, 1, UINT32_C(0x80000000),
                                 UINT32_C(4000000000)};
    echo_unsigned("echo_u32", 4, v, NVALS(v));
}
END_TEST

START_TEST(test_echo_u64)
{
    static const uint64_t v[] = {0, UINT64_MAX, 1, UINT64_C(1) << 63,
                                 UINT64_C(0x0123456789abcdef)};
    echo_unsigned("echo_u64", 8, v, NVALS(v));
}
END_TEST

START_TEST(test_echo_f32)
{
    /* Values a float holds exactly, so the double that comes back must
     * have exactly the bits of the widened float (signed zero too). */
    static const float v[] = {0.0f,         -0.0f,    1.5f,     -2.25f,
                              FLT_MIN,      FLT_MAX,  -FLT_MAX, FLT_TRUE_MIN,
                              16777216.0f, 0.1f,     INFINITY, -INFINITY};
    dlp__fn fn;
    load("echo_f32", &fn);
    for (size_t i = 0; i < NVALS(v); i++) {
        dlp__buf a = {0};
        uint64_t got, want = double_bits((double)v[i]);
        put_f32(&a, v[i]);
        got = call_scalar(&fn, i, &a);
        ck_assert_msg(got == want,
                      "echo_f32(%a): expected %a (bits %016llx), got %a "
                      "(bits %016llx)",
                      (double)v[i], (double)v[i], (unsigned long long)want,
                      bits_to_double(got), (unsigned long long)got);
        dlp__buf_free(&a);
    }
}
END_TEST

START_TEST(test_echo_f64)
{
    static const double v[] = {0.0,     -0.0,     DBL_MIN,      DBL_MAX,
                               -DBL_MAX, 1.0 / 3, DBL_TRUE_MIN, -1e300,
                               INFINITY, -INFINITY};
    dlp__fn fn;
    load("echo_f64", &fn);
    for (size_t i = 0; i < NVALS(v); i++) {
        dlp__buf a = {0};
        uint64_t got, want = double_bits(v[i]);
        put_f64(&a, v[i]);
        got = call_scalar(&fn, i, &a);
        ck_assert_msg(got == want,
                      "echo_f64(%a): expected bits %016llx, got %a (bits "
                      "%016llx)",
                      v[i], (unsigned long long)want, bits_to_double(got),
                      (unsigned long long)got);
        dlp__buf_free(&a);
    }
}
END_TEST

START_TEST(test_echo_nan)
{
    dlp__fn f32, f64;
    dlp__buf a = {0};
    double got;
    load("echo_f32", &f32);
    load("echo_f64", &f64);
    put_f32(&a, NAN);
    got = bits_to_double(call_scalar(&f32, 0, &a));
    ck_assert_msg(isnan(got), "echo_f32(NaN): expected NaN, got %a", got);
    dlp__buf_free(&a);
    put_f64(&a, NAN);
    got = bits_to_double(call_scalar(&f64, 1, &a));
    ck_assert_msg(isnan(got), "echo_f64(NaN): expected NaN, got %a", got);
    dlp__buf_free(&a);
}
END_TEST

START_TEST(test_echo_bool)
{
    dlp__fn fn;
    load("echo_bool", &fn);
    for (unsigned i = 0; i < 2; i++) {
        dlp__buf a = {0};
        put_bool(&a, i == 1);
        ck_assert_uint_eq(call_scalar(&fn, i, &a), i);
        dlp__buf_free(&a);
    }
}
END_TEST

START_TEST(test_plain_library)
{
    /* A function of a library without a manifest, with its signature
     * given. */
    dlp_error err = {0};
    dlp__fn fn;
    dlp__buf a = {0};
    int rc = dlp__load_fn(&loader, "libm.so.6", "cbrt", "f64(f64)", &fn,
                          &err);
    tu_ok(rc, err);
    put_f64(&a, 27.0);
    /* cbrt is not required to be correctly rounded: allow an ulp. */
    ck_assert_double_eq_tol(bits_to_double(call_scalar(&fn, 0, &a)), 3.0,
                            1e-15);
    dlp__buf_free(&a);
}
END_TEST

/* ---- core: strings, bytes, many arguments, void ------------------------ */

START_TEST(test_echo_str)
{
    /* echo_str returns its argument: a borrowed pointer into the frame,
     * which the result record must copy. */
    static const char *const v[] = {"hello", "", "h\xc3\xa9llo \xe2\x9c\x93",
                                    "with\ttab and\nnewline"};
    dlp__fn fn;
    rec res;
    load("echo_str", &fn);
    for (size_t i = 0; i < NVALS(v); i++) {
        dlp__buf a = {0};
        put_str(&a, v[i], strlen(v[i]));
        call(&fn, i, &a, &res);
        expect_text(res, DLP_R_OK, v[i]);
        dlp__buf_free(&a);
    }
}
END_TEST

START_TEST(test_concat_owned)
{
    /* str! results are malloc'd by the plugin and freed after copying;
     * a missing free() shows up as a leak under valgrind. */
    static const char *const v[][3] = {{"foo", "bar", "foobar"},
                                       {"", "", ""},
                                       {"", "x", "x"},
                                       {"y", "", "y"}};
    dlp__fn fn;
    rec res;
    load("concat", &fn);
    for (size_t i = 0; i < NVALS(v); i++) {
        dlp__buf a = {0};
        put_str(&a, v[i][0], strlen(v[i][0]));
        put_str(&a, v[i][1], strlen(v[i][1]));
        call(&fn, i, &a, &res);
        expect_text(res, DLP_R_OK, v[i][2]);
        dlp__buf_free(&a);
    }
}
END_TEST

START_TEST(test_bytes_hex)
{
    static const unsigned char data[] = {0x00, 0xff, 0x10, 0x00, 0x7f};
    dlp__fn fn;
    dlp__buf a = {0};
    rec res;
    load("bytes_hex", &fn);

    /* Embedded and trailing NULs are data, not terminators. */
    put_bytes(&a, data, sizeof data);
    call(&fn, 0, &a, &res);
    expect_text(res, DLP_R_OK, "00ff10007f");
    dlp__buf_free(&a);

    put_bytes(&a, "", 0);
    call(&fn, 1, &a, &res);
    expect_text(res, DLP_R_OK, "");
    dlp__buf_free(&a);
}
END_TEST

/* Encode the 11 arguments of testplug's mixed(). */
static void put_mixed(dlp__buf *a, int8_t i8, uint8_t u8, int16_t i16,
                      uint16_t u16, int32_t i32, uint32_t u32, int64_t i64,
                      uint64_t u64, float f32, double f64, bool b)
{
    put_i8(a, i8);
    put_u8(a, u8);
    put_i16(a, i16);
    put_u16(a, u16);
    put_i32(a, i32);
    put_u32(a, u32);
    put_i64(a, i64);
    put_u64(a, u64);
    put_f32(a, f32);
    put_f64(a, f64);
    put_bool(a, b);
}

START_TEST(test_mixed)
{
    dlp__fn fn;
    dlp__buf a = {0};
    double got;
    load("mixed", &fn);

    /* Every value exact in a double, so the sum is exact:
     * -1 + 200 - 300 + 60000 - 70000 + 4e9 - 5e9 + 6e9 + 0.5 + 0.25 + 1e6 */
    put_mixed(&a, -1, 200, -300, 60000, -70000, UINT32_C(4000000000),
              INT64_C(-5000000000), UINT64_C(6000000000), 0.5f, 0.25, true);
    got = bits_to_double(call_scalar(&fn, 0, &a));
    ck_assert_double_eq(got, 5000989899.75);
    dlp__buf_free(&a);

    /* Powers of two: a value dropped, repeated or read with the wrong
     * width changes the sum. */
    put_mixed(&a, 1, 2, 4, 8, 16, 32, 64, 128, 256.0f, 512.0, false);
    got = bits_to_double(call_scalar(&fn, 1, &a));
    ck_assert_double_eq(got, 1023.0);
    dlp__buf_free(&a);
}
END_TEST

START_TEST(test_void)
{
    dlp__fn fn;
    dlp__buf a = {0};
    rec res;
    load("touch", &fn);
    put_i64(&a, 5);
    call(&fn, 7, &a, &res);
    ck_assert_uint_eq(res.kind, DLP_R_OK);
    ck_assert_uint_eq(res.len, 0);
    dlp__buf_free(&a);
}
END_TEST

START_TEST(test_no_arguments)
{
    /* "i64()" and "i64(void)" both take no argument bytes. */
    dlp__fn counter, pid;
    dlp__buf none = {0};
    uint64_t first;
    load("counter", &counter);
    load("worker_pid", &pid);
    first = call_scalar(&counter, 0, &none);
    ck_assert_uint_eq(call_scalar(&counter, 1, &none), first + 1);
    ck_assert_uint_eq(call_scalar(&pid, 2, &none), (uint64_t)getpid());
}
END_TEST

START_TEST(test_records_appended)
{
    /* Results of a batch go into one buffer, one record after another,
     * each with its own index. */
    dlp__fn fn;
    dlp__buf a = {0};
    dlp__rd r;
    load("echo_i64", &fn);
    for (int64_t i = 0; i < 3; i++) {
        dlp__buf_free(&a);
        put_i64(&a, 100 + i);
        init_reader(&r, &a);
        ck_assert_int_eq(dlp__invoke(&fn, UINT64_MAX - (uint64_t)i, &r, &out),
                         0);
    }
    dlp__buf_free(&a);
    ck_assert_uint_eq(out.len, 3 * (DLP_RESULT_HDR + 8));
    dlp__rd_init(&r, out.p, out.len);
    for (int64_t i = 0; i < 3; i++) {
        uint64_t index, v;
        uint8_t kind;
        uint32_t len;
        ck_assert_int_eq(dlp__get_u64(&r, &index), 0);
        ck_assert_int_eq(dlp__get_u8(&r, &kind), 0);
        ck_assert_int_eq(dlp__get_u32(&r, &len), 0);
        ck_assert_int_eq(dlp__get_u64(&r, &v), 0);
        ck_assert_uint_eq(index, UINT64_MAX - (uint64_t)i);
        ck_assert_uint_eq(kind, DLP_R_OK);
        ck_assert_uint_eq(len, 8);
        ck_assert_int_eq((int64_t)v, 100 + i);
    }
}
END_TEST

START_TEST(test_str_not_checked_for_utf8)
{
    /* The worker carries a str result's bytes as they are; whether they
     * are text is for the consumer to judge. */
    dlp__fn fn;
    dlp__buf none = {0};
    rec res;
    load("bad_utf8", &fn);
    call(&fn, 0, &none, &res);
    expect_text(res, DLP_R_OK, "\xff\xfe");
}
END_TEST

/* ---- limits ------------------------------------------------------------ */

/* A function of this program with DLP_MAX_ARGS arguments, half of them
 * floating point, so that many are passed on the stack.  Each argument is
 * weighted by its position, so arguments in the wrong order change the
 * result. */
#define W(k, x) ((double)(x) * (k))
static double many(int64_t a1, double a2, int64_t a3, double a4, int64_t a5,
                   double a6, int64_t a7, double a8, int64_t a9, double a10,
                   int64_t a11, double a12, int64_t a13, double a14,
                   int64_t a15, double a16, int64_t a17, double a18,
                   int64_t a19, double a20, int64_t a21, double a22,
                   int64_t a23, double a24, int64_t a25, double a26,
                   int64_t a27, double a28, int64_t a29, double a30,
                   int64_t a31, double a32)
{
    return W(1, a1) + W(2, a2) + W(3, a3) + W(4, a4) + W(5, a5) + W(6, a6) +
           W(7, a7) + W(8, a8) + W(9, a9) + W(10, a10) + W(11, a11) +
           W(12, a12) + W(13, a13) + W(14, a14) + W(15, a15) + W(16, a16) +
           W(17, a17) + W(18, a18) + W(19, a19) + W(20, a20) + W(21, a21) +
           W(22, a22) + W(23, a23) + W(24, a24) + W(25, a25) + W(26, a26) +
           W(27, a27) + W(28, a28) + W(29, a29) + W(30, a30) + W(31, a31) +
           W(32, a32);
}
#undef W


/* ---- direct calls: every signature shape that skips libffi ---------- */

/* One function per shape: it returns the arguments weighted by position
 * (the void ones store it), so a swapped or dropped argument shows. */
static double direct_out;
#define DT_I int64_t
#define DT_D double
#define DT_V void
#define DRET_I(x) return (int64_t)(x)
#define DRET_D(x) return (x)
#define DRET_V(x) direct_out = (x)

static DT_I shape_I_none(void)
{
    DRET_I(7.0);
}

static DT_I shape_I_I(DT_I a0)
{
    DRET_I(1.0 * (double)a0);
}

static DT_I shape_I_D(DT_D a0)
{
    DRET_I(1.0 * (double)a0);
}

static DT_I shape_I_II(DT_I a0, DT_I a1)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_I shape_I_ID(DT_I a0, DT_D a1)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_I shape_I_DI(DT_D a0, DT_I a1)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_I shape_I_DD(DT_D a0, DT_D a1)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_I shape_I_III(DT_I a0, DT_I a1, DT_I a2)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_I shape_I_IID(DT_I a0, DT_I a1, DT_D a2)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_I shape_I_IDI(DT_I a0, DT_D a1, DT_I a2)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_I shape_I_IDD(DT_I a0, DT_D a1, DT_D a2)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_I shape_I_DII(DT_D a0, DT_I a1, DT_I a2)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_I shape_I_DID(DT_D a0, DT_I a1, DT_D a2)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_I shape_I_DDI(DT_D a0, DT_D a1, DT_I a2)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_I shape_I_DDD(DT_D a0, DT_D a1, DT_D a2)
{
    DRET_I(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_D shape_D_none(void)
{
    DRET_D(7.0);
}

static DT_D shape_D_I(DT_I a0)
{
    DRET_D(1.0 * (double)a0);
}

static DT_D shape_D_D(DT_D a0)
{
    DRET_D(1.0 * (double)a0);
}

static DT_D shape_D_II(DT_I a0, DT_I a1)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_D shape_D_ID(DT_I a0, DT_D a1)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_D shape_D_DI(DT_D a0, DT_I a1)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_D shape_D_DD(DT_D a0, DT_D a1)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_D shape_D_III(DT_I a0, DT_I a1, DT_I a2)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_D shape_D_IID(DT_I a0, DT_I a1, DT_D a2)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_D shape_D_IDI(DT_I a0, DT_D a1, DT_I a2)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_D shape_D_IDD(DT_I a0, DT_D a1, DT_D a2)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_D shape_D_DII(DT_D a0, DT_I a1, DT_I a2)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_D shape_D_DID(DT_D a0, DT_I a1, DT_D a2)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_D shape_D_DDI(DT_D a0, DT_D a1, DT_I a2)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_D shape_D_DDD(DT_D a0, DT_D a1, DT_D a2)
{
    DRET_D(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_V shape_V_none(void)
{
    DRET_V(7.0);
}

static DT_V shape_V_I(DT_I a0)
{
    DRET_V(1.0 * (double)a0);
}

static DT_V shape_V_D(DT_D a0)
{
    DRET_V(1.0 * (double)a0);
}

static DT_V shape_V_II(DT_I a0, DT_I a1)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_V shape_V_ID(DT_I a0, DT_D a1)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_V shape_V_DI(DT_D a0, DT_I a1)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_V shape_V_DD(DT_D a0, DT_D a1)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1);
}

static DT_V shape_V_III(DT_I a0, DT_I a1, DT_I a2)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_V shape_V_IID(DT_I a0, DT_I a1, DT_D a2)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_V shape_V_IDI(DT_I a0, DT_D a1, DT_I a2)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_V shape_V_IDD(DT_I a0, DT_D a1, DT_D a2)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_V shape_V_DII(DT_D a0, DT_I a1, DT_I a2)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_V shape_V_DID(DT_D a0, DT_I a1, DT_D a2)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_V shape_V_DDI(DT_D a0, DT_D a1, DT_I a2)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static DT_V shape_V_DDD(DT_D a0, DT_D a1, DT_D a2)
{
    DRET_V(1.0 * (double)a0 + 2.0 * (double)a1 + 3.0 * (double)a2);
}

static const struct {
    const char *sig;
    void (*fn)(void);
} shapes[] = {
    {"i64()", (void (*)(void))shape_I_none},
    {"i64(i64)", (void (*)(void))shape_I_I},
    {"i64(f64)", (void (*)(void))shape_I_D},
    {"i64(i64,i64)", (void (*)(void))shape_I_II},
    {"i64(i64,f64)", (void (*)(void))shape_I_ID},
    {"i64(f64,i64)", (void (*)(void))shape_I_DI},
    {"i64(f64,f64)", (void (*)(void))shape_I_DD},
    {"i64(i64,i64,i64)", (void (*)(void))shape_I_III},
    {"i64(i64,i64,f64)", (void (*)(void))shape_I_IID},
    {"i64(i64,f64,i64)", (void (*)(void))shape_I_IDI},
    {"i64(i64,f64,f64)", (void (*)(void))shape_I_IDD},
    {"i64(f64,i64,i64)", (void (*)(void))shape_I_DII},
    {"i64(f64,i64,f64)", (void (*)(void))shape_I_DID},
    {"i64(f64,f64,i64)", (void (*)(void))shape_I_DDI},
    {"i64(f64,f64,f64)", (void (*)(void))shape_I_DDD},
    {"f64()", (void (*)(void))shape_D_none},
    {"f64(i64)", (void (*)(void))shape_D_I},
    {"f64(f64)", (void (*)(void))shape_D_D},
    {"f64(i64,i64)", (void (*)(void))shape_D_II},
    {"f64(i64,f64)", (void (*)(void))shape_D_ID},
    {"f64(f64,i64)", (void (*)(void))shape_D_DI},
    {"f64(f64,f64)", (void (*)(void))shape_D_DD},
    {"f64(i64,i64,i64)", (void (*)(void))shape_D_III},
    {"f64(i64,i64,f64)", (void (*)(void))shape_D_IID},
    {"f64(i64,f64,i64)", (void (*)(void))shape_D_IDI},
    {"f64(i64,f64,f64)", (void (*)(void))shape_D_IDD},
    {"f64(f64,i64,i64)", (void (*)(void))shape_D_DII},
    {"f64(f64,i64,f64)", (void (*)(void))shape_D_DID},
    {"f64(f64,f64,i64)", (void (*)(void))shape_D_DDI},
    {"f64(f64,f64,f64)", (void (*)(void))shape_D_DDD},
    {"void()", (void (*)(void))shape_V_none},
    {"void(i64)", (void (*)(void))shape_V_I},
    {"void(f64)", (void (*)(void))shape_V_D},
    {"void(i64,i64)", (void (*)(void))shape_V_II},
    {"void(i64,f64)", (void (*)(void))shape_V_ID},
    {"void(f64,i64)", (void (*)(void))shape_V_DI},
    {"void(f64,f64)", (void (*)(void))shape_V_DD},
    {"void(i64,i64,i64)", (void (*)(void))shape_V_III},
    {"void(i64,i64,f64)", (void (*)(void))shape_V_IID},
    {"void(i64,f64,i64)", (void (*)(void))shape_V_IDI},
    {"void(i64,f64,f64)", (void (*)(void))shape_V_IDD},
    {"void(f64,i64,i64)", (void (*)(void))shape_V_DII},
    {"void(f64,i64,f64)", (void (*)(void))shape_V_DID},
    {"void(f64,f64,i64)", (void (*)(void))shape_V_DDI},
    {"void(f64,f64,f64)", (void (*)(void))shape_V_DDD},
};

START_TEST(test_direct_shapes)
{
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        dlp_error err = {0};
        dlp__fn fn;
        dlp__buf a = {0};
        double want = 7.0;
        int rc;
        memset(&fn, 0, sizeof fn);
        rc = dlp_sig_parse(shapes[i].sig, &fn.sig, &err);
        tu_ok(rc, err);
        fn.addr = shapes[i].fn;
        rc = dlp__invoke_prep(&fn, shapes[i].sig, &err);
        tu_ok(rc, err);
        ck_assert_msg(fn.direct != NULL, "%s: expected a direct call",
                      shapes[i].sig);
        if (fn.sig.nargs)
            want = 0;
        for (unsigned k = 0; k < fn.sig.nargs; k++) {
            if (fn.sig.args[k] == DLP_T_I64) {
                int64_t v = 1000 * (int64_t)(k + 1) + 3;
                put_i64(&a, v);
                want += (double)(k + 1) * (double)v;
            } else {
                double v = (double)(k + 1) + 0.25;
                put_f64(&a, v);
                want += (double)(k + 1) * v;
            }
        }
        direct_out = -1;
        if (fn.sig.ret == DLP_T_VOID) {
            rec res;
            call(&fn, i, &a, &res);
            ck_assert_msg(res.kind == DLP_R_OK && res.len == 0,
                          "%s: expected an empty ok result", shapes[i].sig);
            ck_assert_msg(direct_out == want, "%s: stored %g, expected %g",
                          shapes[i].sig, direct_out, want);
        } else {
            uint64_t w = call_scalar(&fn, i, &a);
            double got = fn.sig.ret == DLP_T_F64 ? bits_to_double(w)
                                                 : (double)(int64_t)w;
            if (fn.sig.ret == DLP_T_I64)
                want = (double)(int64_t)want; /* the function truncates */
            ck_assert_msg(got == want, "%s: returned %g, expected %g",
                          shapes[i].sig, got, want);
        }
        dlp__buf_free(&a);
    }

    /* Other shapes go through libffi. */
    static const char *const others[] = {"i32(i64)", "i64(i64,i64,i64,i64)",
                                         "u64(u64)", "i64(str)", "f32()"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        dlp_error err = {0};
        dlp__fn fn;
        memset(&fn, 0, sizeof fn);
        tu_ok(dlp_sig_parse(others[i], &fn.sig, &err), err);
        fn.addr = (void (*)(void))many;
        tu_ok(dlp__invoke_prep(&fn, others[i], &err), err);
        ck_assert_msg(fn.direct == NULL, "%s: expected libffi, got a direct "
                                         "call",
                      others[i]);
    }
}
END_TEST

START_TEST(test_max_args_prep)
{
    dlp_error err = {0};
    dlp__fn fn;
    char text[512];
    int n, rc;

    memset(&fn, 0, sizeof fn);
    n = snprintf(text, sizeof text, "i64(i64");
    for (int i = 1; i < DLP_MAX_ARGS; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, ",i64");
    snprintf(text + n, sizeof text - (size_t)n, ")");
    rc = dlp_sig_parse(text, &fn.sig, &err);
    tu_ok(rc, err);
    ck_assert_uint_eq(fn.sig.nargs, DLP_MAX_ARGS);
    rc = dlp__invoke_prep(&fn, "thirty_two", &err);
    tu_ok(rc, err);
    ck_assert_uint_eq(fn.ncargs, DLP_MAX_ARGS);

    /* bytes takes two C parameters: the most a call can have. */
    memset(&fn, 0, sizeof fn);
    n = snprintf(text, sizeof text, "u64(bytes");
    for (int i = 1; i < DLP_MAX_ARGS; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, ",bytes");
    snprintf(text + n, sizeof text - (size_t)n, ")");
    rc = dlp_sig_parse(text, &fn.sig, &err);
    tu_ok(rc, err);
    rc = dlp__invoke_prep(&fn, "sixty_four", &err);
    tu_ok(rc, err);
    ck_assert_uint_eq(fn.ncargs, 2 * DLP_MAX_ARGS);
}
END_TEST

START_TEST(test_max_args_call)
{
    dlp_error err = {0};
    dlp__fn fn;
    dlp__buf a = {0};
    double want = 0;
    char text[512];
    int n, rc;
    void (*addr)(void) = (void (*)(void))many;

    memset(&fn, 0, sizeof fn);
    n = snprintf(text, sizeof text, "f64(");
    for (int i = 1; i <= DLP_MAX_ARGS; i++) {
        n += snprintf(text + n, sizeof text - (size_t)n, "%s%s",
                      i > 1 ? "," : "", i % 2 ? "i64" : "f64");
        /* Argument k is k + 100, weighted by k. */
        if (i % 2)
            put_i64(&a, i + 100);
        else
            put_f64(&a, i + 100.5);
        want += (i % 2 ? i + 100 : i + 100.5) * i;
    }
    snprintf(text + n, sizeof text - (size_t)n, ")");
    rc = dlp_sig_parse(text, &fn.sig, &err);
    tu_ok(rc, err);
    fn.addr = addr;
    rc = dlp__invoke_prep(&fn, "many", &err);
    tu_ok(rc, err);
    ck_assert_double_eq(bits_to_double(call_scalar(&fn, 0, &a)), want);
    dlp__buf_free(&a);
}
END_TEST

START_TEST(test_long_str)
{
    /* A str far longer than any register or small buffer. */
    size_t n = 1u << 20;
    char *s = malloc(n + 1);
    dlp__fn fn;
    dlp__buf a = {0};
    rec res;
    ck_assert_ptr_nonnull(s);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)('a' + i % 26);
    s[n] = 0;
    load("echo_str", &fn);
    put_str(&a, s, n);
    call(&fn, 0, &a, &res);
    ck_assert_uint_eq(res.kind, DLP_R_OK);
    ck_assert_uint_eq(res.len, n);
    ck_assert_msg(memcmp(res.payload, s, n) == 0,
                  "expected the %zu-byte string back unchanged", n);
    dlp__buf_free(&a);
    free(s);
}
END_TEST

/* ---- errors ------------------------------------------------------------ */

START_TEST(test_fail_odd)
{
    dlp__fn fn;
    dlp__buf a = {0};
    rec res;
    load("fail_odd", &fn);

    /* The plugin's message has a newline; the result is one line. */
    put_i64(&a, 3);
    call(&fn, 0, &a, &res);
    expect_text(res, DLP_R_FAIL, "odd value 3 refused");
    dlp__buf_free(&a);

    /* A failure belongs to its task only: the next task succeeds. */
    put_i64(&a, 4);
    ck_assert_int_eq((int64_t)call_scalar(&fn, 1, &a), 4);
    dlp__buf_free(&a);

    put_i64(&a, -5);
    call(&fn, 2, &a, &res);
    expect_text(res, DLP_R_FAIL, "odd value -5 refused");
    dlp__buf_free(&a);
}
END_TEST

START_TEST(test_null_str)
{
    dlp__fn fn;
    dlp__buf none = {0};
    rec res;
    load("null_str", &fn);
    call(&fn, 0, &none, &res);
    ck_assert_msg(res.kind == DLP_R_BADRESULT,
                  "expected kind %d (bad result), got %u: %.*s",
                  DLP_R_BADRESULT, res.kind, (int)res.len,
                  (const char *)res.payload);
    ck_assert_msg(res.len > 0 && memchr(res.payload, '\n', res.len) == NULL,
                  "expected a one-line message, got \"%.*s\"", (int)res.len,
                  (const char *)res.payload);
}
END_TEST

/* Invoke symbol on malformed arguments: expect DLP_EPROTO and out exactly
 * as it was (here: holding one earlier record). */
static void expect_eproto(const char *symbol, const dlp__buf *args,
                          const char *why)
{
    static const unsigned char marker[] = "earlier record";
    dlp__fn fn;
    dlp__rd r;
    int rc;

    load(symbol, &fn);
    out.len = 0;
    put(&out, marker, sizeof marker);
    init_reader(&r, args);
    rc = dlp__invoke(&fn, 9, &r, &out);
    ck_assert_msg(rc == DLP_EPROTO, "%s, %s: expected %d (%s), got %d (%s)",
                  symbol, why, DLP_EPROTO, dlp_strerror(DLP_EPROTO), rc,
                  dlp_strerror(rc));
    ck_assert_msg(out.len == sizeof marker &&
                      memcmp(out.p, marker, sizeof marker) == 0,
                  "%s, %s: expected nothing appended to the results, but "
                  "they grew from %zu to %zu bytes",
                  symbol, why, sizeof marker, out.len);
}

START_TEST(test_malformed_scalars)
{
    dlp__buf a = {0};

    expect_eproto("echo_i8", &a, "no argument");

    put(&a, "\1\2\3\4\5\6\7", 7);
    expect_eproto("echo_i64", &a, "7 of 8 bytes");
    dlp__buf_free(&a);

    put_i64(&a, 1);
    put_u8(&a, 0);
    expect_eproto("echo_i64", &a, "a byte after the argument");
    dlp__buf_free(&a);

    put_u8(&a, 2);
    expect_eproto("echo_bool", &a, "bool byte 2");
    dlp__buf_free(&a);

    put_f32(&a, 1.0f);
    expect_eproto("echo_f64", &a, "an f32 where an f64 belongs");
    dlp__buf_free(&a);

    put_mixed(&a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, true);
    a.len--;
    expect_eproto("mixed", &a, "the last of 11 arguments missing");
    dlp__buf_free(&a);

    put_i64(&a, 1);
    put_str(&a, "x", 1);
    expect_eproto("touch", &a, "a str after the argument");
    dlp__buf_free(&a);
}
END_TEST

START_TEST(test_malformed_strings)
{
    dlp__buf a = {0};

    put_u32(&a, 5);
    put(&a, "abc", 3);
    expect_eproto("echo_str", &a, "length 5, 3 bytes");
    dlp__buf_free(&a);

    put_u32(&a, 3);
    put(&a, "abc", 3);
    expect_eproto("echo_str", &a, "no NUL after the str");
    dlp__buf_free(&a);

    put_u32(&a, 3);
    put(&a, "abcx", 4);
    expect_eproto("echo_str", &a, "'x' where the NUL belongs");
    dlp__buf_free(&a);

    put_u32(&a, 3);
    put(&a, "a\0c", 4); /* the literal's own NUL terminates it */
    expect_eproto("echo_str", &a, "a NUL inside the str");
    dlp__buf_free(&a);

    put(&a, "\3\0", 2);
    expect_eproto("echo_str", &a, "half a length");
    dlp__buf_free(&a);

    put_str(&a, "abc", 3);
    expect_eproto("concat", &a, "one str of two");
    dlp__buf_free(&a);

    put_str(&a, "abc", 3);
    put_str(&a, "def", 3);
    put_u8(&a, 0);
    expect_eproto("concat", &a, "a byte after the last str");
    dlp__buf_free(&a);

    put_u32(&a, UINT32_MAX);
    put(&a, "abcd", 4);
    expect_eproto("bytes_hex", &a, "bytes length 4294967295, 4 bytes");
    dlp__buf_free(&a);

    put(&a, "\1\0", 2);
    expect_eproto("bytes_hex", &a, "half a length");
    dlp__buf_free(&a);
}
END_TEST

START_TEST(test_malformed_not_called)
{
    /* Arguments are decoded completely before the call: a task with
     * malformed arguments never runs. */
    dlp__fn fn;
    dlp__buf none = {0}, extra = {0};
    uint64_t before;
    load("counter", &fn);
    before = call_scalar(&fn, 0, &none);
    put_u8(&extra, 0);
    expect_eproto("counter", &extra, "a byte for a function of no argument");
    dlp__buf_free(&extra);
    ck_assert_uint_eq(call_scalar(&fn, 1, &none), before + 1);
}
END_TEST

/* ---- arrays and values ------------------------------------------------- */

/* T[]: u32 n, a pad byte, pad zeros, the elements 8-aligned from the start
 * of the buffer (which stands for the frame here). */
static void put_array(dlp__buf *b, const void *p, size_t n, size_t esz)
{
    int rc = dlp__put_array(b, 0, p, n, esz);
    ck_assert_msg(rc == 0, "expected to encode an array, got %d (%s)", rc,
                  dlp_strerror(rc));
}

/* val: its tagged form. */
static void put_val(dlp__buf *b, const dlp_val *v)
{
    int rc = dlp__val_put(b, v);
    ck_assert_msg(rc == 0, "expected to encode a val, got %d (%s)", rc,
                  dlp_strerror(rc));
}

/* Call a function returning val, expect success, and decode the value in
 * the record (new: free it). */
static dlp_val *call_val(const dlp__fn *fn, uint64_t index,
                         const dlp__buf *args)
{
    rec res;
    dlp__rd r;
    dlp_val *v = NULL;
    int rc;
    call(fn, index, args, &res);
    ck_assert_msg(res.kind == DLP_R_OK,
                  "task %llu: expected kind %d (ok), got %u: %.*s",
                  (unsigned long long)index, DLP_R_OK, res.kind,
                  (int)res.len, (const char *)res.payload);
    dlp__rd_init(&r, res.payload, res.len);
    rc = dlp__val_get(&r, &v);
    ck_assert_msg(rc == 0, "task %llu: the val result does not decode: %d "
                           "(%s)",
                  (unsigned long long)index, rc, dlp_strerror(rc));
    ck_assert_msg(r.p == r.end, "task %llu: %zu bytes after the val result",
                  (unsigned long long)index, (size_t)(r.end - r.p));
    return v;
}

static dlp_val *nested_lists(unsigned n)
{
    dlp_val *v = dlp_val_list();
    ck_assert_ptr_nonnull(v);
    for (unsigned i = 1; i < n; i++) {
        dlp_val *outer = dlp_val_list();
        ck_assert_ptr_nonnull(outer);
        ck_assert_int_eq(dlp_val_push(outer, v), 0);
        v = outer;
    }
    return v;
}

START_TEST(test_sum_i64)
{
    int64_t a[100], want = 0;
    dlp__fn fn;
    dlp__buf args = {0};
    load("sum_i64", &fn);
    ck_assert_uint_eq(fn.ncargs, 2); /* (const int64_t *, size_t) */
    for (int i = 0; i < 100; i++) {
        a[i] = (int64_t)i * 1000003 - 7;
        want += a[i];
    }
    put_array(&args, a, 100, 8);
    ck_assert_int_eq((int64_t)call_scalar(&fn, 0, &args), want);
    dlp__buf_free(&args);

    put_array(&args, NULL, 0, 8);
    ck_assert_int_eq((int64_t)call_scalar(&fn, 1, &args), 0);
    dlp__buf_free(&args);

    a[0] = INT64_MIN;
    a[1] = INT64_MAX;
    put_array(&args, a, 2, 8);
    ck_assert_int_eq((int64_t)call_scalar(&fn, 2, &args), -1);

    /* The same bytes one past an aligned address: the function still
     * gets an aligned array (a copy, freed after the call). */
    {
        unsigned char *block = malloc(args.len + 1);
        dlp__buf shifted = {0};
        ck_assert_ptr_nonnull(block);
        memcpy(block + 1, args.p, args.len);
        shifted.p = block + 1;
        shifted.len = shifted.cap = args.len;
        ck_assert_int_eq((int64_t)call_scalar(&fn, 3, &shifted), -1);
        free(block);
    }
    dlp__buf_free(&args);
}
END_TEST

START_TEST(test_sum_f32)
{
    float a[3] = {1.5f, 2.25f, -0.75f};
    dlp__fn fn;
    dlp__buf args = {0};
    load("sum_f32", &fn);
    put_array(&args, a, 3, 4);
    ck_assert_double_eq(bits_to_double(call_scalar(&fn, 0, &args)), 3.0);
    dlp__buf_free(&args);
    put_array(&args, a, 0, 4);
    ck_assert_double_eq(bits_to_double(call_scalar(&fn, 1, &args)), 0.0);
    dlp__buf_free(&args);
}
END_TEST

START_TEST(test_first_u8)
{
    uint8_t a[2] = {200, 1};
    dlp__fn fn;
    dlp__buf args = {0};
    load("first_u8", &fn);
    put_array(&args, a, 2, 1);
    ck_assert_int_eq((int64_t)call_scalar(&fn, 0, &args), 200);
    dlp__buf_free(&args);
    put_array(&args, a, 0, 1);
    ck_assert_int_eq((int64_t)call_scalar(&fn, 1, &args), -1);
    dlp__buf_free(&args);
}
END_TEST

START_TEST(test_arrays_every_type)
{
    /* Ten arrays, twenty C parameters: each (data, n) pair lands in its
     * place, at the edges of each element type. */
    int8_t a8[] = {INT8_MIN, 0, INT8_MAX};
    int16_t a16[] = {INT16_MIN, -1};
    int32_t a32[] = {INT32_MAX};
    int64_t a64[] = {INT64_MIN, 5, INT64_MAX, 0};
    uint8_t u8[] = {UINT8_MAX};
    uint16_t u16[] = {0, UINT16_MAX};
    uint32_t u32[] = {UINT32_MAX, 1, 2};
    uint64_t u64[] = {UINT64_MAX, (uint64_t)INT64_MAX};
    float f32[] = {-0.0f, 3.5f};
    double f64[] = {1e-300, -2.0, 0.0};
    dlp__fn fn;
    dlp__buf args = {0};
    dlp_val *got, *want = dlp_val_list(), *l;
    load("arrays_to_val", &fn);
    ck_assert_uint_eq(fn.ncargs, 20);
    put_array(&args, a8, 3, 1);
    put_array(&args, a16, 2, 2);
    put_array(&args, a32, 1, 4);
    put_array(&args, a64, 4, 8);
    put_array(&args, u8, 1, 1);
    put_array(&args, u16, 2, 2);
    put_array(&args, u32, 3, 4);
    put_array(&args, u64, 2, 8);
    put_array(&args, f32, 2, 4);
    put_array(&args, f64, 3, 8);
#define WANT(arr, n, ctor)                                                     \
    do {                                                                       \
        l = dlp_val_list();                                                    \
        for (size_t i = 0; i < (n); i++)                                       \
            ck_assert_int_eq(dlp_val_push(l, ctor(arr[i])), 0);                \
        ck_assert_int_eq(dlp_val_push(want, l), 0);                            \
    } while (0)
    WANT(a8, 3, dlp_val_int);
    WANT(a16, 2, dlp_val_int);
    WANT(a32, 1, dlp_val_int);
    WANT(a64, 4, dlp_val_int);
    WANT(u8, 1, dlp_val_uint);
    WANT(u16, 2, dlp_val_uint);
    WANT(u32, 3, dlp_val_uint);
    WANT(u64, 2, dlp_val_uint);
    WANT(f32, 2, dlp_val_float);
    WANT(f64, 3, dlp_val_float);
#undef WANT
    got = call_val(&fn, 0, &args);
    ck_assert_msg(dlp_val_equal(got, want),
                  "expected the ten arrays back as lists, element by element");
    dlp_val_free(got);
    dlp_val_free(want);
    dlp__buf_free(&args);
}
END_TEST

START_TEST(test_echo_val)
{
    /* A val argument is decoded into a tree for the call (released after
     * it), and the returned tree is encoded and freed by the worker:
     * valgrind shows a leak of either. */
    dlp__fn fn;
    dlp__buf args = {0};
    dlp_val *m = dlp_val_map(), *l = dlp_val_list(), *got;
    load("echo_val", &fn);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(dlp_val_push(l, dlp_val_float(NAN)), 0);
    ck_assert_int_eq(dlp_val_push(l, dlp_val_bytes("\0\1\2", 3)), 0);
    ck_assert_int_eq(dlp_val_push(l, dlp_val_uint(UINT64_MAX)), 0);
    ck_assert_int_eq(dlp_val_set(m, "list", l), 0);
    ck_assert_int_eq(dlp_val_set(m, "s", dlp_val_cstr("text")), 0);
    ck_assert_int_eq(dlp_val_set(m, "deep", nested_lists(60)), 0);
    put_val(&args, m);
    got = call_val(&fn, 0, &args);
    ck_assert_msg(dlp_val_equal(got, m), "expected the map back unchanged");
    dlp_val_free(got);
    dlp__buf_free(&args);

    /* A null argument is a node, never a NULL pointer. */
    put_val(&args, NULL);
    got = call_val(&fn, 1, &args);
    ck_assert_int_eq(got->kind, DLP_V_NULL);
    dlp_val_free(got);
    dlp__buf_free(&args);

    /* The deepest value that travels goes there and back. */
    {
        dlp_val *d = nested_lists(DLP_VAL_MAX_DEPTH);
        put_val(&args, d);
        got = call_val(&fn, 2, &args);
        ck_assert(dlp_val_equal(got, d));
        dlp_val_free(got);
        dlp_val_free(d);
        dlp__buf_free(&args);
    }
    dlp_val_free(m);
}
END_TEST

START_TEST(test_val_kind)
{
    dlp__fn fn;
    load("val_kind", &fn);
    for (int k = DLP_V_NULL; k <= DLP_V_MAP; k++) {
        dlp_val *v;
        dlp__buf args = {0};
        rec res;
        switch (k) {
        case DLP_V_NULL: v = dlp_val_null(); break;
        case DLP_V_BOOL: v = dlp_val_bool(true); break;
        case DLP_V_INT: v = dlp_val_int(-1); break;
        case DLP_V_UINT: v = dlp_val_uint(UINT64_MAX); break;
        case DLP_V_FLOAT: v = dlp_val_float(1); break;
        case DLP_V_STR: v = dlp_val_cstr("s"); break;
        case DLP_V_BYTES: v = dlp_val_bytes("b", 1); break;
        case DLP_V_LIST: v = dlp_val_list(); break;
        default: v = dlp_val_map(); break;
        }
        ck_assert_ptr_nonnull(v);
        put_val(&args, v);
        call(&fn, (uint64_t)k, &args, &res);
        expect_text(res, DLP_R_OK, dlp_val_kind_name((dlp_val_kind)k));
        dlp_val_free(v);
        dlp__buf_free(&args);
    }
}
END_TEST

START_TEST(test_null_val)
{
    /* NULL from a val function is the value null. */
    dlp__fn fn;
    dlp__buf none = {0};
    dlp_val *got;
    load("null_val", &fn);
    got = call_val(&fn, 0, &none);
    ck_assert_int_eq(got->kind, DLP_V_NULL);
    dlp_val_free(got);
}
END_TEST

START_TEST(test_deep_result)
{
    /* A result nested deeper than the wire allows fails alone, as a bad
     * result naming the limit; the tree is freed all the same; the next
     * task is unaffected. */
    dlp__fn fn;
    dlp__buf a = {0};
    dlp_val *got, *want;
    rec res;
    char limit[16];
    load("deep", &fn);

    put_i64(&a, DLP_VAL_MAX_DEPTH);
    got = call_val(&fn, 0, &a);
    want = nested_lists(DLP_VAL_MAX_DEPTH);
    ck_assert(dlp_val_equal(got, want));
    dlp_val_free(got);
    dlp_val_free(want);
    dlp__buf_free(&a);

    snprintf(limit, sizeof limit, "%d", DLP_VAL_MAX_DEPTH);
    for (int64_t n = DLP_VAL_MAX_DEPTH + 1; n < 1000; n *= 5) {
        size_t before = out.len;
        put_i64(&a, n);
        call(&fn, 1, &a, &res);
        ck_assert_msg(res.kind == DLP_R_BADRESULT,
                      "deep(%lld): expected kind %d (bad result), got %u: "
                      "%.*s",
                      (long long)n, DLP_R_BADRESULT, res.kind, (int)res.len,
                      (const char *)res.payload);
        ck_assert_msg(res.len < 200 && memmem(res.payload, res.len, limit,
                                              strlen(limit)) != NULL,
                      "deep(%lld): expected the message to name the limit "
                      "%s, got \"%.*s\"",
                      (long long)n, limit, (int)res.len,
                      (const char *)res.payload);
        /* The record is all that was appended: no half value. */
        ck_assert_uint_eq(out.len, before + DLP_RESULT_HDR + res.len);
        dlp__buf_free(&a);
    }
    put_i64(&a, 2);
    got = call_val(&fn, 2, &a);
    ck_assert_uint_eq(dlp_val_len(got), 1);
    dlp_val_free(got);
    dlp__buf_free(&a);
}
END_TEST

START_TEST(test_fail_val)
{
    /* dlp_fail wins over the returned value, which the worker frees
     * (valgrind shows the leak otherwise). */
    dlp__fn fn;
    dlp__buf a = {0};
    dlp_val *m = dlp_val_map();
    rec res;
    load("fail_val", &fn);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(dlp_val_set(m, "k", dlp_val_cstr("v")), 0);
    put_val(&a, m);
    call(&fn, 0, &a, &res);
    expect_text(res, DLP_R_FAIL, "failed with a map in hand");
    dlp__buf_free(&a);
    put_val(&a, NULL);
    call(&fn, 1, &a, &res);
    expect_text(res, DLP_R_FAIL, "failed with a null in hand");
    dlp__buf_free(&a);
    dlp_val_free(m);
}
END_TEST

START_TEST(test_bad_kind_result)
{
    /* A returned node of no known kind is a bad result of that task, not
     * an error of the worker: dlp__invoke succeeds, and the next call
     * works. */
    dlp__fn fn;
    dlp__buf none = {0};
    rec res;
    load("bad_kind_val", &fn);
    call(&fn, 0, &none, &res);
    ck_assert_msg(res.kind == DLP_R_BADRESULT,
                  "expected kind %d (bad result), got %u: %.*s",
                  DLP_R_BADRESULT, res.kind, (int)res.len,
                  (const char *)res.payload);
    call(&fn, 1, &none, &res);
    ck_assert_uint_eq(res.kind, DLP_R_BADRESULT);
}
END_TEST

START_TEST(test_malformed_arrays_and_vals)
{
    dlp__buf a = {0};
    int64_t x[2] = {1, 2};

    expect_eproto("sum_i64", &a, "no array");

    put_u32(&a, 3);
    put_u8(&a, 3);
    put(&a, "\0\0\0", 3);
    put(&a, x, 16);
    expect_eproto("sum_i64", &a, "3 elements, 2 sent");
    dlp__buf_free(&a);

    put_u32(&a, 1);
    put_u8(&a, 9);
    put(&a, "\0\0\0\0\0\0\0\0\0", 9);
    put(&a, x, 8);
    expect_eproto("sum_i64", &a, "pad byte 9");
    dlp__buf_free(&a);

    put_array(&a, x, 2, 8);
    put_u8(&a, 0);
    expect_eproto("sum_i64", &a, "a byte after the array");
    dlp__buf_free(&a);

    expect_eproto("echo_val", &a, "no val");
    put_u8(&a, 10);
    expect_eproto("echo_val", &a, "tag 10");
    dlp__buf_free(&a);
    put_val(&a, NULL);
    put_u8(&a, 0);
    expect_eproto("val_kind", &a, "a byte after the val");
    dlp__buf_free(&a);
    /* A list that claims more items than follow. */
    put_u8(&a, 8);
    put_u32(&a, 2);
    put_u8(&a, 0);
    expect_eproto("echo_val", &a, "a list of 2 with 1 item");
    dlp__buf_free(&a);
}
END_TEST

Suite *dlp_test_invoke(void);

Suite *dlp_test_invoke(void)
{
    Suite *s = suite_create("invoke");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_checked_fixture(core, setup, teardown);
    tcase_add_test(core, test_echo_i8);
    tcase_add_test(core, test_direct_shapes);
    tcase_add_test(core, test_echo_i16);
    tcase_add_test(core, test_echo_i32);
    tcase_add_test(core, test_echo_i64);
    tcase_add_test(core, test_echo_u8);
    tcase_add_test(core, test_echo_u16);
    tcase_add_test(core, test_echo_u32);
    tcase_add_test(core, test_echo_u64);
    tcase_add_test(core, test_echo_f32);
    tcase_add_test(core, test_echo_f64);
    tcase_add_test(core, test_echo_nan);
    tcase_add_test(core, test_echo_bool);
    tcase_add_test(core, test_plain_library);
    tcase_add_test(core, test_echo_str);
    tcase_add_test(core, test_concat_owned);
    tcase_add_test(core, test_bytes_hex);
    tcase_add_test(core, test_mixed);
    tcase_add_test(core, test_void);
    tcase_add_test(core, test_no_arguments);
    tcase_add_test(core, test_records_appended);
    tcase_add_test(core, test_str_not_checked_for_utf8);
    tcase_add_test(core, test_sum_i64);
    tcase_add_test(core, test_sum_f32);
    tcase_add_test(core, test_first_u8);
    tcase_add_test(core, test_arrays_every_type);
    tcase_add_test(core, test_echo_val);
    tcase_add_test(core, test_val_kind);
    tcase_add_test(core, test_null_val);
    suite_add_tcase(s, core);

    tcase_add_checked_fixture(limits, setup, teardown);
    tcase_add_test(limits, test_max_args_prep);
    tcase_add_test(limits, test_max_args_call);
    tcase_add_test(limits, test_long_str);
    tcase_add_test(limits, test_deep_result);
    suite_add_tcase(s, limits);

    tcase_add_checked_fixture(errors, setup, teardown);
    tcase_add_test(errors, test_fail_odd);
    tcase_add_test(errors, test_null_str);
    tcase_add_test(errors, test_malformed_scalars);
    tcase_add_test(errors, test_malformed_strings);
    tcase_add_test(errors, test_malformed_not_called);
    tcase_add_test(errors, test_fail_val);
    tcase_add_test(errors, test_bad_kind_result);
    tcase_add_test(errors, test_malformed_arrays_and_vals);
    suite_add_tcase(s, errors);
    return s;
}

TU_MAIN(dlp_test_invoke)
