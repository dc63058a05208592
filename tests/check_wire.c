/*
 * check_wire.c - frame headers and the bounds-checked codec.  Frames come
 * from another process and are decoded as untrusted input, so most of this
 * suite feeds the decoder what a broken or hostile peer could send.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "sig.h"
#include "val.h"
#include "wire.h"

/* The types an argument can have (everything but void). */
static const dlp_type arg_types[] = {
    DLP_T_I8,  DLP_T_I16, DLP_T_I32,  DLP_T_I64, DLP_T_U8,  DLP_T_U16,
    DLP_T_U32, DLP_T_U64, DLP_T_F32,  DLP_T_F64, DLP_T_BOOL, DLP_T_STR,
    DLP_T_BYTES,
};
#define N_ARG_TYPES (sizeof arg_types / sizeof arg_types[0])

/* A small deterministic generator, so a failure can be replayed. */
static uint64_t rng_state;

static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* Append n raw bytes, failing the test if memory runs out. */
static void put_raw(dlp__buf *b, const void *p, size_t n)
{
    int rc = dlp__buf_put(b, p, n);
    ck_assert_msg(rc == 0, "dlp__buf_put of %zu bytes failed: %d (%s)", n, rc,
                  dlp_strerror(rc));
}

/* A heap copy of exactly n bytes: decoding it under AddressSanitizer or
 * valgrind shows any read past its end. */
static unsigned char *exact_copy(const void *p, size_t n)
{
    unsigned char *c = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

/* Decode one argument of type t from exactly the n bytes at p, which must
 * succeed and consume all of them. */
static dlp__slot decode_one(dlp_type t, const void *p, size_t n,
                            size_t *len_out)
{
    unsigned char *copy = exact_copy(p, n);
    dlp__rd r;
    dlp__slot slot, len;
    int rc;
    memset(&slot, 0xA5, sizeof slot);
    memset(&len, 0xA5, sizeof len);
    dlp__rd_init(&r, copy, n);
    rc = dlp__arg_decode(&r, t, &slot, &len);
    ck_assert_msg(rc == 0, "decoding a %s of %zu bytes: expected success, got "
                           "%d (%s)",
                  dlp_type_name(t), n, rc, dlp_strerror(rc));
    ck_assert_msg(!r.bad, "decoding a %s: expected the reader to stay good",
                  dlp_type_name(t));
    ck_assert_msg(r.p == r.end,
                  "decoding a %s: expected all %zu bytes consumed, %td left",
                  dlp_type_name(t), n, r.end - r.p);
    if (t == DLP_T_STR || t == DLP_T_BYTES) {
        /* The value points into the frame, not into a copy. */
        ck_assert_ptr_eq(slot.ptr, copy + 4);
        if (len_out)
            *len_out = len.size;
        /* Keep the result usable after the copy is gone: point it at the
         * caller's bytes instead. */
        slot.ptr = (const unsigned char *)p + 4;
    }
    free(copy);
    return slot;
}

/* Decode type t from exactly the n bytes at p and expect DLP_EPROTO with
 * the reader marked bad. */
static void decode_fails(dlp_type t, const void *p, size_t n, const char *what)
{
    unsigned char *copy = exact_copy(p, n);
    dlp__rd r;
    dlp__slot slot, len;
    uint8_t u8;
    int rc;
    dlp__rd_init(&r, copy, n);
    rc = dlp__arg_decode(&r, t, &slot, &len);
    ck_assert_msg(rc == DLP_EPROTO,
                  "%s: expected DLP_EPROTO (%d) decoding a %s, got %d (%s)",
                  what, DLP_EPROTO, dlp_type_name(t), rc, dlp_strerror(rc));
    ck_assert_msg(r.bad, "%s: expected the reader to be marked bad", what);
    ck_assert_msg(r.p >= copy && r.p <= r.end,
                  "%s: the reader left its buffer", what);
    /* Once bad, always bad: a caller that checks only the last read still
     * sees the failure. */
    ck_assert_int_eq(dlp__get_u8(&r, &u8), DLP_EPROTO);
    free(copy);
}

/* Encode a scalar of type t from its wire-ready bytes. */
static void enc_scalar(dlp__buf *b, dlp_type t, const void *v)
{
    put_raw(b, v, dlp__type_size(t));
}

/* Encode a str (with its NUL) or bytes argument. */
static void enc_str(dlp__buf *b, dlp_type t, const void *p, size_t n)
{
    int rc = dlp__put_str(b, p, n, t == DLP_T_STR);
    ck_assert_msg(rc == 0, "dlp__put_str of %zu bytes failed: %d (%s)", n, rc,
                  dlp_strerror(rc));
}

/* ---- core ------------------------------------------------------------- */

START_TEST(test_hdr_round_trip)
{
    static const dlp__hdr hs[] = {
        {0, 0, 0, 0, 0},
        {1, DLP_F_LOAD, 0, 1, 2},
        {UINT32_MAX, UINT16_MAX, UINT16_MAX, UINT32_MAX, UINT32_MAX},
        {0x01020304u, 0x0506u, 0x0708u, 0x090a0b0cu, 0x0d0e0f10u},
        {(uint32_t)DLP_FRAME_MAX, DLP_F_INSPECTED, 0x8000u, 0x80000000u, 7},
    };
    for (size_t i = 0; i < sizeof hs / sizeof hs[0]; i++) {
        unsigned char raw[DLP_HDR_SIZE + 1];
        dlp__hdr h;
        memset(raw, 0xEE, sizeof raw);
        memset(&h, 0, sizeof h);
        dlp__hdr_pack(raw, &hs[i]);
        ck_assert_msg(raw[DLP_HDR_SIZE] == 0xEE,
                      "header %zu: packing wrote past %u bytes", i,
                      DLP_HDR_SIZE);
        dlp__hdr_unpack(raw, &h);
        ck_assert_uint_eq(h.len, hs[i].len);
        ck_assert_uint_eq(h.type, hs[i].type);
        ck_assert_uint_eq(h.flags, hs[i].flags);
        ck_assert_uint_eq(h.a, hs[i].a);
        ck_assert_uint_eq(h.b, hs[i].b);
    }
}
END_TEST

START_TEST(test_hdr_layout)
{
    /* The layout of wire.h: u32 len, u16 type, u16 flags, u32 a, u32 b, in
     * host byte order. */
    dlp__hdr h = {0x11223344u, 0x5566u, 0x7788u, 0x99aabbccu, 0xddeeff00u};
    unsigned char raw[DLP_HDR_SIZE];
    uint32_t u32;
    uint16_t u16;
    ck_assert_uint_eq(DLP_HDR_SIZE, 16);
    dlp__hdr_pack(raw, &h);
    memcpy(&u32, raw, 4);
    ck_assert_uint_eq(u32, h.len);
    memcpy(&u16, raw + 4, 2);
    ck_assert_uint_eq(u16, h.type);
    memcpy(&u16, raw + 6, 2);
    ck_assert_uint_eq(u16, h.flags);
    memcpy(&u32, raw + 8, 4);
    ck_assert_uint_eq(u32, h.a);
    memcpy(&u32, raw + 12, 4);
    ck_assert_uint_eq(u32, h.b);
}
END_TEST

START_TEST(test_frames)
{
    dlp__buf b = {0};
    dlp__hdr h;
    long f1, f2, f3;
    int rc;

    f1 = dlp__frame_begin(&b, DLP_F_BATCH, 3, 9);
    ck_assert_int_eq(f1, 0);
    ck_assert_uint_eq(b.len, DLP_HDR_SIZE);
    ck_assert_int_eq(dlp__put_u32(&b, 2), 0);
    ck_assert_int_eq(dlp__put_u64(&b, 77), 0);
    ck_assert_int_eq(dlp__put_str(&b, "hi", 2, 1), 0);
    rc = dlp__frame_end(&b, f1);
    ck_assert_msg(rc == 0, "dlp__frame_end: %d (%s)", rc, dlp_strerror(rc));

    /* A second frame follows the first, and an empty third one ends the
     * buffer. */
    f2 = dlp__frame_begin(&b, DLP_F_RESULTS, UINT32_MAX, 0);
    ck_assert_int_eq(f2, DLP_HDR_SIZE + 4 + 8 + 4 + 3);
    ck_assert_int_eq(dlp__put_u8(&b, 1), 0);
    ck_assert_int_eq(dlp__frame_end(&b, f2), 0);
    f3 = dlp__frame_begin(&b, DLP_F_INSPECT, 0, 0);
    ck_assert_int_eq(f3, f2 + (long)DLP_HDR_SIZE + 1);
    ck_assert_int_eq(dlp__frame_end(&b, f3), 0);
    ck_assert_uint_eq(b.len, (size_t)f3 + DLP_HDR_SIZE);

    dlp__hdr_unpack(b.p + f1, &h);
    ck_assert_uint_eq(h.len, 4 + 8 + 4 + 3);
    ck_assert_uint_eq(h.type, DLP_F_BATCH);
    ck_assert_uint_eq(h.flags, 0);
    ck_assert_uint_eq(h.a, 3);
    ck_assert_uint_eq(h.b, 9);

    dlp__hdr_unpack(b.p + f2, &h);
    ck_assert_uint_eq(h.len, 1);
    ck_assert_uint_eq(h.type, DLP_F_RESULTS);
    ck_assert_uint_eq(h.a, UINT32_MAX);
    ck_assert_uint_eq(h.b, 0);

    dlp__hdr_unpack(b.p + f3, &h);
    ck_assert_uint_eq(h.len, 0);
    ck_assert_uint_eq(h.type, DLP_F_INSPECT);

    /* The payload of the first frame reads back. */
    {
        dlp__rd r;
        uint32_t count, n;
        uint64_t idx;
        const char *s;
        dlp__rd_init(&r, b.p + f1 + DLP_HDR_SIZE, 4 + 8 + 4 + 3);
        ck_assert_int_eq(dlp__get_u32(&r, &count), 0);
        ck_assert_uint_eq(count, 2);
        ck_assert_int_eq(dlp__get_u64(&r, &idx), 0);
        ck_assert_uint_eq(idx, 77);
        ck_assert_int_eq(dlp__get_str(&r, &s, &n, 1), 0);
        ck_assert_uint_eq(n, 2);
        ck_assert_str_eq(s, "hi");
        ck_assert_ptr_eq(r.p, r.end);
    }
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_ints_round_trip)
{
    static const uint8_t u8s[] = {0, 1, 0x7f, 0x80, 0xfe, UINT8_MAX};
    static const uint32_t u32s[] = {0,           1,          0xff,
                                    0x100,       0x7fffffffu, 0x80000000u,
                                    0xfffffffeu, UINT32_MAX};
    static const uint64_t u64s[] = {0,
                                    1,
                                    UINT32_MAX,
                                    (uint64_t)UINT32_MAX + 1,
                                    INT64_MAX,
                                    (uint64_t)INT64_MAX + 1,
                                    UINT64_MAX - 1,
                                    UINT64_MAX};
    const size_t n8 = sizeof u8s / sizeof u8s[0];
    const size_t n32 = sizeof u32s / sizeof u32s[0];
    const size_t n64 = sizeof u64s / sizeof u64s[0];
    dlp__buf b = {0};
    dlp__rd r;
    unsigned char *copy;

    /* The values are interleaved, so each reader must advance by exactly
     * its width. */
    for (size_t i = 0; i < n64; i++) {
        ck_assert_int_eq(dlp__put_u8(&b, u8s[i % n8]), 0);
        ck_assert_int_eq(dlp__put_u32(&b, u32s[i % n32]), 0);
        ck_assert_int_eq(dlp__put_u64(&b, u64s[i]), 0);
    }
    ck_assert_uint_eq(b.len, n64 * 13);
    copy = exact_copy(b.p, b.len);
    dlp__rd_init(&r, copy, b.len);
    for (size_t i = 0; i < n64; i++) {
        uint8_t v8;
        uint32_t v32;
        uint64_t v64;
        ck_assert_int_eq(dlp__get_u8(&r, &v8), 0);
        ck_assert_uint_eq(v8, u8s[i % n8]);
        ck_assert_int_eq(dlp__get_u32(&r, &v32), 0);
        ck_assert_uint_eq(v32, u32s[i % n32]);
        ck_assert_int_eq(dlp__get_u64(&r, &v64), 0);
        ck_assert_uint_eq(v64, u64s[i]);
    }
    ck_assert_ptr_eq(r.p, r.end);
    ck_assert_int_eq(r.bad, 0);
    free(copy);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_str_round_trip)
{
    static const char *const strs[] = {"", "a", "hello, world",
                                       "\xe4\xb8\xad\xe6\x96\x87"};
    dlp__buf b = {0};
    dlp__rd r;
    unsigned char *copy;

    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        ck_assert_int_eq(dlp__put_str(&b, strs[i], strlen(strs[i]), 1), 0);
        ck_assert_int_eq(dlp__put_str(&b, strs[i], strlen(strs[i]), 0), 0);
    }
    /* Without the NUL a string may hold any byte, NUL included. */
    ck_assert_int_eq(dlp__put_str(&b, "a\0b", 3, 0), 0);

    copy = exact_copy(b.p, b.len);
    dlp__rd_init(&r, copy, b.len);
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const char *s;
        uint32_t n;
        ck_assert_int_eq(dlp__get_str(&r, &s, &n, 1), 0);
        ck_assert_uint_eq(n, strlen(strs[i]));
        /* The string is NUL-terminated inside the frame. */
        ck_assert_str_eq(s, strs[i]);
        ck_assert_int_eq(dlp__get_str(&r, &s, &n, 0), 0);
        ck_assert_uint_eq(n, strlen(strs[i]));
        ck_assert_int_eq(memcmp(s, strs[i], n), 0);
    }
    {
        const char *s;
        uint32_t n;
        ck_assert_int_eq(dlp__get_str(&r, &s, &n, 0), 0);
        ck_assert_uint_eq(n, 3);
        ck_assert_int_eq(memcmp(s, "a\0b", 3), 0);
    }
    ck_assert_ptr_eq(r.p, r.end);
    free(copy);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_get_bytes)
{
    const unsigned char data[] = {1, 2, 3};
    const unsigned char *p = NULL;
    dlp__rd r;
    dlp__rd_init(&r, data, sizeof data);
    ck_assert_int_eq(dlp__get_bytes(&r, 0, &p), 0);
    ck_assert_ptr_eq(p, data);
    ck_assert_int_eq(dlp__get_bytes(&r, 3, &p), 0);
    ck_assert_ptr_eq(p, data);
    /* Zero bytes at the very end is still in bounds. */
    ck_assert_int_eq(dlp__get_bytes(&r, 0, &p), 0);
    ck_assert_ptr_eq(p, data + 3);
    ck_assert_int_eq(r.bad, 0);

    dlp__rd_init(&r, NULL, 0);
    ck_assert_int_eq(dlp__get_bytes(&r, 0, &p), 0);
    ck_assert_int_eq(dlp__get_bytes(&r, 1, &p), DLP_EPROTO);
    ck_assert_int_eq(r.bad, 1);
}
END_TEST

START_TEST(test_decode_ints)
{
    int8_t i8s[] = {INT8_MIN, -1, 0, 1, INT8_MAX};
    int16_t i16s[] = {INT16_MIN, -1, 0, 1, INT16_MAX};
    int32_t i32s[] = {INT32_MIN, -1, 0, 1, INT32_MAX};
    int64_t i64s[] = {INT64_MIN, -1, 0, 1, INT64_MAX};
    uint8_t u8s[] = {0, 1, 0x80, UINT8_MAX};
    uint16_t u16s[] = {0, 1, 0x8000, UINT16_MAX};
    uint32_t u32s[] = {0, 1, 0x80000000u, UINT32_MAX};
    uint64_t u64s[] = {0, 1, (uint64_t)1 << 63, UINT64_MAX};

#define DECODE_EACH(arr, T, member, fmt, cast)                                 \
    for (size_t i = 0; i < sizeof arr / sizeof arr[0]; i++) {                  \
        dlp__slot s = decode_one(T, &arr[i], sizeof arr[i], NULL);             \
        ck_assert_msg(s.member == arr[i], "%s: expected " fmt ", got " fmt,    \
                      dlp_type_name(T), (cast)arr[i], (cast)s.member);         \
    }
    DECODE_EACH(i8s, DLP_T_I8, i8, "%lld", long long)
    DECODE_EACH(i16s, DLP_T_I16, i16, "%lld", long long)
    DECODE_EACH(i32s, DLP_T_I32, i32, "%lld", long long)
    DECODE_EACH(i64s, DLP_T_I64, i64, "%lld", long long)
    DECODE_EACH(u8s, DLP_T_U8, u8, "%llu", unsigned long long)
    DECODE_EACH(u16s, DLP_T_U16, u16, "%llu", unsigned long long)
    DECODE_EACH(u32s, DLP_T_U32, u32, "%llu", unsigned long long)
    DECODE_EACH(u64s, DLP_T_U64, u64, "%llu", unsigned long long)
#undef DECODE_EACH
}
END_TEST

START_TEST(test_decode_floats)
{
    float f32s[] = {0.0f, 1.5f, -1.5f, FLT_MIN, -FLT_MAX, FLT_MAX,
                    FLT_TRUE_MIN, INFINITY, -INFINITY};
    double f64s[] = {0.0, 1.5, -1.5, DBL_MIN, -DBL_MAX, DBL_MAX,
                     DBL_TRUE_MIN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof f32s / sizeof f32s[0]; i++) {
        dlp__slot s = decode_one(DLP_T_F32, &f32s[i], sizeof f32s[i], NULL);
        ck_assert_msg(memcmp(&s.f32, &f32s[i], sizeof(float)) == 0,
                      "f32: expected %a, got %a", (double)f32s[i],
                      (double)s.f32);
    }
    for (size_t i = 0; i < sizeof f64s / sizeof f64s[0]; i++) {
        dlp__slot s = decode_one(DLP_T_F64, &f64s[i], sizeof f64s[i], NULL);
        ck_assert_msg(memcmp(&s.f64, &f64s[i], sizeof(double)) == 0,
                      "f64: expected %a, got %a", f64s[i], s.f64);
    }
    /* Negative zero and NaN keep their bits: a float is not re-parsed. */
    {
        float nz = -0.0f, nan32 = NAN;
        double nz64 = -0.0, nan64 = NAN;
        dlp__slot s = decode_one(DLP_T_F32, &nz, sizeof nz, NULL);
        ck_assert_msg(s.f32 == 0.0f && signbit(s.f32), "f32: expected -0");
        s = decode_one(DLP_T_F32, &nan32, sizeof nan32, NULL);
        ck_assert_msg(isnan(s.f32), "f32: expected NaN, got %a",
                      (double)s.f32);
        s = decode_one(DLP_T_F64, &nz64, sizeof nz64, NULL);
        ck_assert_msg(s.f64 == 0.0 && signbit(s.f64), "f64: expected -0");
        s = decode_one(DLP_T_F64, &nan64, sizeof nan64, NULL);
        ck_assert_msg(isnan(s.f64), "f64: expected NaN, got %a", s.f64);
    }
}
END_TEST

START_TEST(test_decode_bool)
{
    unsigned char v;
    dlp__slot s;
    v = 0;
    s = decode_one(DLP_T_BOOL, &v, 1, NULL);
    ck_assert_uint_eq(s.b, 0);
    v = 1;
    s = decode_one(DLP_T_BOOL, &v, 1, NULL);
    ck_assert_uint_eq(s.b, 1);
}
END_TEST

START_TEST(test_decode_str)
{
    static const char *const strs[] = {"", "x", "hello", "caf\xc3\xa9"};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        dlp__buf b = {0};
        size_t len = 99;
        dlp__slot s;
        enc_str(&b, DLP_T_STR, strs[i], strlen(strs[i]));
        ck_assert_uint_eq(b.len, 4 + strlen(strs[i]) + 1);
        s = decode_one(DLP_T_STR, b.p, b.len, &len);
        ck_assert_uint_eq(len, strlen(strs[i]));
        ck_assert_str_eq((const char *)s.ptr, strs[i]);
        dlp__buf_free(&b);
    }
}
END_TEST

START_TEST(test_decode_bytes)
{
    static const unsigned char data[] = {0, 1, 0, 0xff, 0};
    dlp__buf b = {0};
    size_t len = 99;
    dlp__slot s;

    /* Bytes may hold NULs and need no terminator. */
    enc_str(&b, DLP_T_BYTES, data, sizeof data);
    ck_assert_uint_eq(b.len, 4 + sizeof data);
    s = decode_one(DLP_T_BYTES, b.p, b.len, &len);
    ck_assert_uint_eq(len, sizeof data);
    ck_assert_int_eq(memcmp(s.ptr, data, sizeof data), 0);
    dlp__buf_free(&b);

    enc_str(&b, DLP_T_BYTES, "", 0);
    ck_assert_uint_eq(b.len, 4);
    len = 99;
    (void)decode_one(DLP_T_BYTES, b.p, b.len, &len);
    ck_assert_uint_eq(len, 0);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_decode_no_len_slot)
{
    /* The length slot is optional. */
    dlp__buf b = {0};
    dlp__rd r;
    dlp__slot s;
    enc_str(&b, DLP_T_STR, "abc", 3);
    enc_str(&b, DLP_T_BYTES, "de", 2);
    dlp__rd_init(&r, b.p, b.len);
    ck_assert_int_eq(dlp__arg_decode(&r, DLP_T_STR, &s, NULL), 0);
    ck_assert_str_eq((const char *)s.ptr, "abc");
    ck_assert_int_eq(dlp__arg_decode(&r, DLP_T_BYTES, &s, NULL), 0);
    ck_assert_int_eq(memcmp(s.ptr, "de", 2), 0);
    ck_assert_ptr_eq(r.p, r.end);
    dlp__buf_free(&b);
}
END_TEST

/* Encode one argument of every type, in order, as a task's argument list
 * would be; the values are the ones check_list() expects. */
static void encode_list(dlp__buf *b)
{
    int8_t i8 = INT8_MIN;
    int16_t i16 = INT16_MAX;
    int32_t i32 = -123456;
    int64_t i64 = INT64_MIN;
    uint8_t u8 = UINT8_MAX;
    uint16_t u16 = 0x1234;
    uint32_t u32 = UINT32_MAX;
    uint64_t u64 = UINT64_MAX;
    float f32 = 2.5f;
    double f64 = -0.125;
    unsigned char bl = 1;
    enc_scalar(b, DLP_T_I8, &i8);
    enc_scalar(b, DLP_T_I16, &i16);
    enc_scalar(b, DLP_T_I32, &i32);
    enc_scalar(b, DLP_T_I64, &i64);
    enc_scalar(b, DLP_T_U8, &u8);
    enc_scalar(b, DLP_T_U16, &u16);
    enc_scalar(b, DLP_T_U32, &u32);
    enc_scalar(b, DLP_T_U64, &u64);
    enc_scalar(b, DLP_T_F32, &f32);
    enc_scalar(b, DLP_T_F64, &f64);
    enc_scalar(b, DLP_T_BOOL, &bl);
    enc_str(b, DLP_T_STR, "text", 4);
    enc_str(b, DLP_T_BYTES, "\0\1", 2);
}

START_TEST(test_decode_list)
{
    dlp__buf b = {0};
    dlp__slot s[N_ARG_TYPES], lens[N_ARG_TYPES];
    dlp__rd r;
    unsigned char *copy;

    encode_list(&b);
    copy = exact_copy(b.p, b.len);
    dlp__rd_init(&r, copy, b.len);
    for (size_t i = 0; i < N_ARG_TYPES; i++) {
        int rc = dlp__arg_decode(&r, arg_types[i], &s[i], &lens[i]);
        ck_assert_msg(rc == 0, "argument %zu (%s): expected success, got %d "
                               "(%s)",
                      i, dlp_type_name(arg_types[i]), rc, dlp_strerror(rc));
    }
    ck_assert_ptr_eq(r.p, r.end);
    ck_assert_int_eq(s[0].i8, INT8_MIN);
    ck_assert_int_eq(s[1].i16, INT16_MAX);
    ck_assert_int_eq(s[2].i32, -123456);
    ck_assert_int_eq(s[3].i64, INT64_MIN);
    ck_assert_uint_eq(s[4].u8, UINT8_MAX);
    ck_assert_uint_eq(s[5].u16, 0x1234);
    ck_assert_uint_eq(s[6].u32, UINT32_MAX);
    ck_assert_uint_eq(s[7].u64, UINT64_MAX);
    ck_assert_float_eq(s[8].f32, 2.5f);
    ck_assert_double_eq(s[9].f64, -0.125);
    ck_assert_uint_eq(s[10].b, 1);
    ck_assert_str_eq((const char *)s[11].ptr, "text");
    ck_assert_uint_eq(lens[11].size, 4);
    ck_assert_uint_eq(lens[12].size, 2);
    ck_assert_int_eq(memcmp(s[12].ptr, "\0\1", 2), 0);
    free(copy);
    dlp__buf_free(&b);
}
END_TEST

/* ---- limits ----------------------------------------------------------- */

START_TEST(test_decode_large)
{
    /* Values of 1 MiB decode as str (no NUL inside) and as bytes (any
     * byte). */
    size_t n = (size_t)1 << 20;
    char *big = malloc(n);
    dlp__buf b = {0};
    size_t len = 0;
    dlp__slot s;
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);

    enc_str(&b, DLP_T_STR, big, n);
    ck_assert_uint_eq(b.len, 4 + n + 1);
    s = decode_one(DLP_T_STR, b.p, b.len, &len);
    ck_assert_uint_eq(len, n);
    ck_assert_int_eq(memcmp(s.ptr, big, n), 0);
    ck_assert_uint_eq(strlen(s.ptr), n);
    dlp__buf_free(&b);

    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7);
    enc_str(&b, DLP_T_BYTES, big, n);
    ck_assert_uint_eq(b.len, 4 + n);
    s = decode_one(DLP_T_BYTES, b.p, b.len, &len);
    ck_assert_uint_eq(len, n);
    ck_assert_int_eq(memcmp(s.ptr, big, n), 0);
    dlp__buf_free(&b);
    free(big);
}
END_TEST

START_TEST(test_frame_max)
{
    /* The size checks come before any byte is touched, so they can be
     * tested at 1 GiB without 1 GiB of memory: a buffer that claims to
     * hold more than it does, and a source pointer that is never read. */
    unsigned char hdr[DLP_HDR_SIZE];
    dlp__buf fake = {hdr, 0, 0};
    dlp__buf b = {0};
    uint32_t len;

    memset(hdr, 0xEE, sizeof hdr);
    fake.len = fake.cap = DLP_HDR_SIZE + DLP_FRAME_MAX + 1;
    ck_assert_int_eq(dlp__frame_end(&fake, 0), DLP_ETOOBIG);
    ck_assert_msg(hdr[0] == 0xEE && hdr[3] == 0xEE,
                  "expected a refused frame to keep its header");

    fake.len = fake.cap = DLP_HDR_SIZE + DLP_FRAME_MAX;
    ck_assert_int_eq(dlp__frame_end(&fake, 0), 0);
    memcpy(&len, hdr, 4);
    ck_assert_uint_eq(len, DLP_FRAME_MAX);

    ck_assert_int_eq(dlp__put_str(&b, "", DLP_FRAME_MAX + 1, 0),
                     DLP_ETOOBIG);
    ck_assert_int_eq(dlp__put_str(&b, "", DLP_FRAME_MAX + 1, 1),
                     DLP_ETOOBIG);
    ck_assert_uint_eq(b.len, 0);
    dlp__buf_free(&b);
}
END_TEST

/* Decode one garbage buffer as a run of types until a read fails, and
 * check every result against the bounds.  Counts successes per type. */
static void decode_garbage(const unsigned char *buf, size_t n,
                           const dlp_type *types, size_t ntypes,
                           unsigned long *ok, unsigned long *bad,
                           unsigned iter)
{
    dlp__rd r;
    dlp__rd_init(&r, buf, n);
    for (size_t k = 0; k < ntypes; k++) {
        dlp_type t = types[k];
        const unsigned char *before = r.p;
        dlp__slot s, len;
        int rc;
        len.size = (size_t)-1;
        rc = dlp__arg_decode(&r, t, &s, &len);
        if (r.p < buf || r.p > buf + n || r.end != buf + n)
            ck_abort_msg("iteration %u: decoding a %s moved the reader out "
                         "of its %zu bytes",
                         iter, dlp_type_name(t), n);
        if (rc != 0) {
            uint8_t u8;
            if (rc != DLP_EPROTO || !r.bad)
                ck_abort_msg("iteration %u: decoding a %s: expected "
                             "DLP_EPROTO and a bad reader, got %d (%s), "
                             "bad=%d",
                             iter, dlp_type_name(t), rc, dlp_strerror(rc),
                             r.bad);
            if (dlp__get_u8(&r, &u8) != DLP_EPROTO)
                ck_abort_msg("iteration %u: a read after a failed %s "
                             "succeeded",
                             iter, dlp_type_name(t));
            bad[t]++;
            return;
        }
        if (r.bad)
            ck_abort_msg("iteration %u: a %s decoded but the reader is bad",
                         iter, dlp_type_name(t));
        ok[t]++;
        if (t == DLP_T_STR || t == DLP_T_BYTES) {
            const unsigned char *p = s.ptr;
            size_t need = 4 + len.size + (t == DLP_T_STR);
            if (p != before + 4 || (size_t)(r.p - before) != need)
                ck_abort_msg("iteration %u: a %s of %zu bytes consumed %td "
                             "bytes, expected %zu",
                             iter, dlp_type_name(t), len.size, r.p - before,
                             need);
            if (t == DLP_T_STR &&
                (p[len.size] != 0 || memchr(p, 0, len.size) != NULL))
                ck_abort_msg("iteration %u: a str decoded that is not one "
                             "NUL-terminated string",
                             iter);
        } else if ((size_t)(r.p - before) != dlp__type_size(t)) {
            ck_abort_msg("iteration %u: a %s consumed %td bytes", iter,
                         dlp_type_name(t), r.p - before);
        } else if (t == DLP_T_BOOL && s.b > 1) {
            ck_abort_msg("iteration %u: a bool decoded as %u", iter, s.b);
        }
    }
}

START_TEST(test_garbage)
{
    /* Random bytes decoded as random runs of types: each read either
     * succeeds inside the buffer or fails with DLP_EPROTO, never reads
     * past the end (an exact-size heap buffer lets AddressSanitizer and
     * valgrind see that).  Lengths are often made small, or made to match
     * what is left, so that strings decode as well as fail. */
    unsigned long ok[DLP_T_BYTES + 1] = {0}, bad[DLP_T_BYTES + 1] = {0};
    rng_state = 0x2545f4914f6cdd1du;
    for (unsigned iter = 0; iter < 200000; iter++) {
        size_t n = (size_t)(rng() % 48);
        unsigned char *buf = malloc(n ? n : 1);
        dlp_type types[4];
        size_t ntypes = 1 + (size_t)(rng() % 4);
        unsigned mode = (unsigned)(rng() % 4);
        ck_assert_ptr_nonnull(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)rng();
        for (size_t k = 0; k < ntypes; k++)
            types[k] = iter % 97 == 0 ? DLP_T_VOID
                                      : arg_types[rng() % N_ARG_TYPES];
        if (n >= 4 && mode == 1) {
            /* This length fits, or runs over by a little. */
            uint32_t l = (uint32_t)(rng() % (n + 2));
            memcpy(buf, &l, 4);
        } else if (n >= 4 && mode == 2) {
            /* A length that uses the rest of the buffer, with or without
             * room for the NUL; the last byte is often a NUL. */
            uint32_t l = (uint32_t)(n - 4 - (rng() & 1 && n > 4));
            memcpy(buf, &l, 4);
            if (rng() & 1)
                buf[n - 1] = 0;
            for (size_t i = 4; i + 1 < n; i++)
                if (buf[i] == 0)
                    buf[i] = (unsigned char)(1 + rng() % 255);
        } else if (n >= 1 && mode == 3) {
            /* A first byte of 0, 1 or 2 makes bools decode as often as fail. */
            buf[0] = (unsigned char)(rng() % 3);
        }
        decode_garbage(buf, n, types, ntypes, ok, bad, iter);
        free(buf);
    }
    /* Both outcomes were reached for every type, so the run above tested
     * decoding and rejection, not just one of them. */
    for (size_t i = 0; i < N_ARG_TYPES; i++) {
        dlp_type t = arg_types[i];
        ck_assert_msg(ok[t] > 0 && bad[t] > 0,
                      "%s: expected garbage to both decode and fail, got "
                      "%lu decoded, %lu failed",
                      dlp_type_name(t), ok[t], bad[t]);
    }
    ck_assert_msg(ok[DLP_T_VOID] == 0 && bad[DLP_T_VOID] > 0,
                  "void: expected every decode to fail");
}
END_TEST

/* ---- errors ----------------------------------------------------------- */

START_TEST(test_truncated_list)
{
    /* Every proper prefix of a valid argument list is truncated somewhere;
     * decoding it must fail with DLP_EPROTO, never succeed or overread. */
    dlp__buf b = {0};
    encode_list(&b);
    for (size_t cut = 0; cut < b.len; cut++) {
        unsigned char *copy = exact_copy(b.p, cut);
        dlp__rd r;
        int rc = 0;
        size_t i;
        dlp__rd_init(&r, copy, cut);
        for (i = 0; i < N_ARG_TYPES; i++) {
            dlp__slot s, len;
            rc = dlp__arg_decode(&r, arg_types[i], &s, &len);
            if (rc)
                break;
        }
        if (rc != DLP_EPROTO || !r.bad)
            ck_abort_msg("prefix of %zu of %zu bytes: expected DLP_EPROTO "
                         "and a bad reader, got %d (%s), bad=%d",
                         cut, b.len, rc, dlp_strerror(rc), r.bad);
        if (r.p > r.end)
            ck_abort_msg("prefix of %zu bytes: the reader ran past the end",
                         cut);
        free(copy);
    }
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_truncated_scalars)
{
    /* Each scalar, cut short by every number of bytes. */
    unsigned char full[8] = {1, 2, 3, 4, 5, 6, 7, 1};
    for (size_t i = 0; i < N_ARG_TYPES; i++) {
        size_t sz = dlp__type_size(arg_types[i]);
        for (size_t n = 0; n < sz; n++)
            decode_fails(arg_types[i], full, n, "truncated scalar");
    }
}
END_TEST

/* Write a u32 length in host order followed by body_n raw bytes, as a
 * peer could send them whether or not they form a valid value. */
static size_t raw_str(unsigned char *out, uint32_t len, const void *body,
                      size_t body_n)
{
    memcpy(out, &len, 4);
    memcpy(out + 4, body, body_n);
    return 4 + body_n;
}

START_TEST(test_str_without_nul)
{
    /* A str of "abc" must be followed by a NUL; here it is followed by
     * 'x', or by nothing at all. */
    unsigned char buf[16];
    size_t n = raw_str(buf, 3, "abcx", 4);
    decode_fails(DLP_T_STR, buf, n, "str ending in 'x'");
    n = raw_str(buf, 3, "abc", 3);
    decode_fails(DLP_T_STR, buf, n, "str without its NUL");
    /* The same bytes are a valid bytes argument, which has no NUL. */
    (void)decode_one(DLP_T_BYTES, buf, n, NULL);
}
END_TEST

START_TEST(test_str_embedded_nul)
{
    /* A str must not contain a NUL: the function would see it cut short. */
    unsigned char buf[16];
    size_t n = raw_str(buf, 3, "a\0c", 4);
    decode_fails(DLP_T_STR, buf, n, "str with a NUL inside");
    n = raw_str(buf, 3, "\0bc", 4);
    decode_fails(DLP_T_STR, buf, n, "str starting with a NUL");
    n = raw_str(buf, 3, "ab\0", 4);
    decode_fails(DLP_T_STR, buf, n, "str ending with a NUL");
    /* As bytes, the same value is fine. */
    n = raw_str(buf, 3, "a\0c", 3);
    (void)decode_one(DLP_T_BYTES, buf, n, NULL);
}
END_TEST

START_TEST(test_bad_bool)
{
    for (unsigned v = 2; v <= 0xff; v++) {
        unsigned char byte = (unsigned char)v;
        char what[32];
        snprintf(what, sizeof what, "bool byte %u", v);
        decode_fails(DLP_T_BOOL, &byte, 1, what);
    }
}
END_TEST

START_TEST(test_length_too_large)
{
    unsigned char buf[4 + 8];
    uint32_t lens[] = {UINT32_MAX, 0x80000000u, 9, 8};
    memset(buf, 'z', sizeof buf);
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char what[64];
        memcpy(buf, &lens[i], 4);
        snprintf(what, sizeof what, "length %u with 8 bytes left", lens[i]);
        /* 8 is enough for bytes, but str needs one more for its NUL. */
        if (lens[i] != 8)
            decode_fails(DLP_T_BYTES, buf, sizeof buf, what);
        decode_fails(DLP_T_STR, buf, sizeof buf, what);
    }
    {
        const char *s;
        uint32_t n;
        dlp__rd r;
        memcpy(buf, &lens[0], 4);
        dlp__rd_init(&r, buf, sizeof buf);
        ck_assert_int_eq(dlp__get_str(&r, &s, &n, 0), DLP_EPROTO);
        ck_assert_int_eq(r.bad, 1);
    }
}
END_TEST

START_TEST(test_no_void_argument)
{
    /* void and unknown types have no encoding: decoding them is an error
     * in the frame, not a crash. */
    const unsigned char buf[8] = {0};
    decode_fails(DLP_T_VOID, buf, sizeof buf, "void argument");
    decode_fails((dlp_type)99, buf, sizeof buf, "type 99");
}
END_TEST

START_TEST(test_sticky_failure)
{
    /* After one failed read every later read fails, even one that would
     * fit, so a caller may check once at the end. */
    const unsigned char buf[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const unsigned char *p;
    const char *s;
    uint32_t n, v32;
    uint64_t v64;
    uint8_t v8;
    dlp__slot slot, len;
    dlp__rd r;

    dlp__rd_init(&r, buf, sizeof buf);
    ck_assert_int_eq(dlp__get_bytes(&r, 17, &p), DLP_EPROTO);
    ck_assert_int_eq(r.bad, 1);
    ck_assert_int_eq(dlp__get_u8(&r, &v8), DLP_EPROTO);
    ck_assert_int_eq(dlp__get_u32(&r, &v32), DLP_EPROTO);
    ck_assert_int_eq(dlp__get_u64(&r, &v64), DLP_EPROTO);
    ck_assert_int_eq(dlp__get_bytes(&r, 0, &p), DLP_EPROTO);
    ck_assert_int_eq(dlp__get_str(&r, &s, &n, 0), DLP_EPROTO);
    ck_assert_int_eq(dlp__arg_decode(&r, DLP_T_U8, &slot, &len), DLP_EPROTO);
    ck_assert_int_eq(r.bad, 1);

    /* The same after a corrupt value rather than a short read. */
    {
        const unsigned char two[2] = {2, 0};
        dlp__rd_init(&r, two, sizeof two);
        ck_assert_int_eq(dlp__arg_decode(&r, DLP_T_BOOL, &slot, &len),
                         DLP_EPROTO);
        ck_assert_int_eq(dlp__arg_decode(&r, DLP_T_U8, &slot, &len),
                         DLP_EPROTO);
    }
    {
        unsigned char str[8];
        size_t n8 = raw_str(str, 1, "\0\0\7", 3);
        dlp__rd_init(&r, str, n8);
        ck_assert_int_eq(dlp__arg_decode(&r, DLP_T_STR, &slot, &len),
                         DLP_EPROTO);
        ck_assert_int_eq(dlp__get_u8(&r, &v8), DLP_EPROTO);
    }
}
END_TEST

START_TEST(test_empty_without_buffer)
{
    /* A worker whose first frame has an empty payload decodes it from a
     * buffer that was never allocated, so the reader spans (NULL, 0).  Every
     * read must fail but a read of nothing, and none may do arithmetic on
     * the null pointer: that is undefined, and clang's UBSan stops on it
     * (with halt_on_error=1) in dlp__rd_init and dlp__get_bytes. */
    const unsigned char *p = (const unsigned char *)"x";
    const char *s;
    uint32_t n, v32;
    uint8_t v8;
    dlp__slot slots[2];
    dlp__argmem mem;
    dlp_sig sig;
    dlp_error err;
    dlp__rd r;
    int rc;

    dlp__rd_init(&r, NULL, 0);
    ck_assert_msg(r.p == r.end, "a reader over no bytes: expected p == end, "
                                "%td bytes apart",
                  r.end - r.p);
    rc = dlp__get_bytes(&r, 0, &p);
    ck_assert_msg(rc == 0, "reading 0 bytes of none: expected success, got "
                           "%d (%s)",
                  rc, dlp_strerror(rc));
    ck_assert_int_eq(r.bad, 0);
    ck_assert_int_eq(dlp__get_u8(&r, &v8), DLP_EPROTO);
    ck_assert_int_eq(r.bad, 1);

    dlp__rd_init(&r, NULL, 0);
    ck_assert_int_eq(dlp__get_u32(&r, &v32), DLP_EPROTO);
    dlp__rd_init(&r, NULL, 0);
    ck_assert_int_eq(dlp__get_str(&r, &s, &n, 1), DLP_EPROTO);

    /* An empty argument list is a valid one. */
    rc = dlp_sig_parse("void()", &sig, &err);
    ck_assert_msg(rc == 0, "parsing void(): %d (%s) %s", rc, dlp_strerror(rc),
                  err.msg);
    dlp__rd_init(&r, NULL, 0);
    rc = dlp__args_decode(&r, &sig, slots, &mem);
    ck_assert_msg(rc == 0, "decoding no arguments from no bytes: expected "
                           "success, got %d (%s)",
                  rc, dlp_strerror(rc));
    ck_assert_int_eq(r.bad, 0);
}
END_TEST

/* ---- arrays and values as arguments ------------------------------------ */

/* The numeric types, which have arrays, and their element sizes. */
static const dlp_type num_types[] = {
    DLP_T_I8,  DLP_T_I16, DLP_T_I32, DLP_T_I64, DLP_T_U8,
    DLP_T_U16, DLP_T_U32, DLP_T_U64, DLP_T_F32, DLP_T_F64,
};
#define N_NUM (sizeof num_types / sizeof num_types[0])

/* Append an array argument, which must succeed. */
static void enc_array(dlp__buf *b, size_t frame_off, const void *data,
                      size_t n, size_t esz)
{
    int rc = dlp__put_array(b, frame_off, data, n, esz);
    ck_assert_msg(rc == 0, "dlp__put_array of %zu x %zu bytes failed: %d (%s)",
                  n, esz, rc, dlp_strerror(rc));
}

/* Append a val argument, which must succeed. */
static void enc_val(dlp__buf *b, const dlp_val *v)
{
    int rc = dlp__val_put(b, v);
    ck_assert_msg(rc == 0, "dlp__val_put failed: %d (%s)", rc,
                  dlp_strerror(rc));
}

START_TEST(test_put_array_alignment)
{
    /* Whatever comes before it, an array's elements start 8-aligned
     * counted from the start of its frame, and the pad byte says how many
     * zero bytes were put in to get there. */
    static const size_t frame_offs[] = {0, 3, 8, 13};
    static const size_t eszs[] = {1, 2, 4, 8};
    unsigned char data[8 * 5];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(0xA0 + i);
    for (size_t f = 0; f < sizeof frame_offs / sizeof frame_offs[0]; f++)
        for (size_t e = 0; e < sizeof eszs / sizeof eszs[0]; e++)
            for (size_t start = 0; start < 16; start++)
                for (size_t n = 0; n <= 5; n += 5) {
                    size_t fo = frame_offs[f], esz = eszs[e];
                    dlp__buf b = {0};
                    unsigned char junk[32];
                    uint32_t cnt;
                    uint8_t pad;
                    size_t at, dstart;
                    memset(junk, 0x77, sizeof junk);
                    put_raw(&b, junk, fo + start);
                    at = b.len;
                    enc_array(&b, fo, data, n, esz);
                    memcpy(&cnt, b.p + at, 4);
                    pad = b.p[at + 4];
                    dstart = at + 5 + pad;
                    if (cnt != n || pad > 7 || (dstart - fo) % 8 != 0 ||
                        b.len != dstart + n * esz)
                        ck_abort_msg("frame at %zu, array at +%zu, %zu x %zu "
                                     "bytes: expected count %zu and data "
                                     "8-aligned from the frame, got count %u, "
                                     "pad %u (data at +%zu), %zu bytes in all",
                                     fo, start, n, esz, n, cnt, pad,
                                     dstart - fo, b.len);
                    for (size_t k = 0; k < pad; k++)
                        ck_assert_msg(b.p[at + 5 + k] == 0,
                                      "pad byte %zu is 0x%02x, expected 0", k,
                                      b.p[at + 5 + k]);
                    ck_assert_int_eq(memcmp(b.p + dstart, data, n * esz), 0);
                    dlp__buf_free(&b);
                }
}
END_TEST

START_TEST(test_put_array_too_big)
{
    /* The size is checked before any byte is read or written: the data
     * pointer of a refused array is never followed. */
    dlp__buf b = {0};
    static const size_t eszs[] = {1, 2, 4, 8};
    put_raw(&b, "x", 1);
    for (size_t e = 0; e < 4; e++) {
        size_t esz = eszs[e];
        size_t over = (DLP_FRAME_MAX - 64) / esz + 1;
        int rc = dlp__put_array(&b, 0, (const void *)16, over, esz);
        ck_assert_msg(rc == DLP_ETOOBIG,
                      "%zu elements of %zu bytes: expected DLP_ETOOBIG (%d), "
                      "got %d (%s)",
                      over, esz, DLP_ETOOBIG, rc, dlp_strerror(rc));
        ck_assert_uint_eq(b.len, 1);
    }
    ck_assert_int_eq(dlp__put_array(&b, 0, (const void *)16,
                                    (size_t)UINT32_MAX + 1, 1),
                     DLP_ETOOBIG);
    ck_assert_int_eq(dlp__put_array(&b, 0, (const void *)16, SIZE_MAX, 8),
                     DLP_ETOOBIG);
    ck_assert_uint_eq(b.len, 1);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_decode_array)
{
    /* Decoded in place: the slot points into the frame, the length slot
     * holds the count. */
    for (size_t i = 0; i < N_NUM; i++) {
        dlp_type t = DLP_T_ARRAY_OF(num_types[i]);
        size_t esz = dlp__type_size(num_types[i]);
        unsigned char data[7 * 8];
        dlp__buf b = {0};
        dlp__slot s, len;
        dlp__rd r;
        int rc;
        for (size_t k = 0; k < sizeof data; k++)
            data[k] = (unsigned char)(k * 13 + i);
        enc_array(&b, 0, data, 7, esz);
        for (size_t n = 0; n < 2; n++) {
            /* Twice: the second one after the first, at another pad. */
            size_t before = b.len;
            enc_array(&b, 0, data, 3 + n, esz);
            ck_assert_uint_gt(b.len, before);
        }
        dlp__rd_init(&r, b.p, b.len);
        for (size_t n = 0; n < 3; n++) {
            size_t want = n == 0 ? 7 : 3 + (n - 1);
            len.size = 12345;
            rc = dlp__arg_decode(&r, t, &s, &len);
            ck_assert_msg(rc == 0, "%s, array %zu: expected success, got %d "
                                   "(%s)",
                          dlp_type_name(t), n, rc, dlp_strerror(rc));
            ck_assert_uint_eq(len.size, want);
            ck_assert_msg((const unsigned char *)s.ptr >= b.p &&
                              (const unsigned char *)s.ptr + want * esz <=
                                  b.p + b.len,
                          "%s: expected the data to point into the frame",
                          dlp_type_name(t));
            ck_assert_uint_eq(((const unsigned char *)s.ptr - b.p) % 8, 0);
            ck_assert_int_eq(memcmp(s.ptr, data, want * esz), 0);
        }
        ck_assert_ptr_eq(r.p, r.end);
        dlp__buf_free(&b);
    }
    /* An empty array decodes too. */
    {
        dlp__buf b = {0};
        size_t len = 99;
        enc_array(&b, 0, "", 0, 8);
        decode_one(DLP_T_ARRAY_OF(DLP_T_F64), b.p, b.len, &len);
        dlp__buf_free(&b);
    }
}
END_TEST

/* An array argument by hand: count, pad byte, pad zeros, body bytes. */
static void raw_array(dlp__buf *b, uint32_t n, uint8_t pad, const void *body,
                      size_t body_n)
{
    static const unsigned char zeros[256];
    put_raw(b, &n, 4);
    put_raw(b, &pad, 1);
    put_raw(b, zeros, pad);
    put_raw(b, body, body_n);
}

START_TEST(test_decode_array_bad)
{
    static const unsigned char body[64];
    dlp__buf b = {0};

    /* A pad byte larger than 7 is never written: refused. */
    for (unsigned pad = 8; pad < 256; pad += 31) {
        b.len = 0;
        raw_array(&b, 1, (uint8_t)pad, body, 8);
        decode_fails(DLP_T_ARRAY_OF(DLP_T_I64), b.p, b.len, "pad over 7");
    }
    b.len = 0;
    raw_array(&b, 1, 7, body, 8);
    {
        size_t len = 0;
        decode_one(DLP_T_ARRAY_OF(DLP_T_I64), b.p, b.len, &len);
    }

    /* More elements than bytes left. */
    b.len = 0;
    raw_array(&b, 3, 0, body, 23);
    decode_fails(DLP_T_ARRAY_OF(DLP_T_U64), b.p, b.len,
                 "3 u64 in 23 bytes");
    b.len = 0;
    raw_array(&b, UINT32_MAX, 0, body, 64);
    decode_fails(DLP_T_ARRAY_OF(DLP_T_F64), b.p, b.len,
                 "4294967295 f64 in 64 bytes");
    decode_fails(DLP_T_ARRAY_OF(DLP_T_I8), b.p, b.len,
                 "4294967295 i8 in 64 bytes");
    /* The pad itself missing. */
    b.len = 0;
    raw_array(&b, 0, 5, body, 0);
    b.len -= 2;
    decode_fails(DLP_T_ARRAY_OF(DLP_T_I16), b.p, b.len, "pad cut short");
    /* The count or the pad byte cut. */
    b.len = 0;
    raw_array(&b, 1, 0, body, 4);
    for (size_t cut = 0; cut < 5; cut++)
        decode_fails(DLP_T_ARRAY_OF(DLP_T_I32), b.p, cut, "header cut");
    /* No arrays of non-numbers exist, whatever the bytes. */
    decode_fails(DLP_T_ARRAY_OF(DLP_T_STR), b.p, b.len, "str[]");
    decode_fails(DLP_T_ARRAY_OF(DLP_T_BOOL), b.p, b.len, "bool[]");
    decode_fails(DLP_T_ARRAY_OF(DLP_T_VOID), b.p, b.len, "void[]");
    /* A val alone is not decoded by dlp__arg_decode (dlp__args_decode
     * handles it), and a channel never travels in a task. */
    decode_fails(DLP_T_VAL, b.p, b.len, "val through dlp__arg_decode");
    decode_fails(DLP_T_CHAN, b.p, b.len, "chan");
    dlp__buf_free(&b);
}
END_TEST

/* Parse a signature that must parse. */
static dlp_sig sig_of(const char *text)
{
    dlp_sig sig;
    dlp_error err = {0, ""};
    int rc = dlp_sig_parse(text, &sig, &err);
    ck_assert_msg(rc == 0, "parsing '%s': %d (%s): %s", text, rc,
                  dlp_strerror(rc), err.msg);
    return sig;
}

START_TEST(test_args_misaligned_copy)
{
    /* Arrays encoded for an aligned frame but read from a misaligned
     * buffer (a batch whose records were moved): each array whose
     * elements would be misaligned for their type is copied to an
     * aligned place, which dlp__argmem_release frees (valgrind shows a
     * leak otherwise); u8[] never needs a copy. */
    dlp_sig sig = sig_of("void(i64[],u8[],f32[],u16[])");
    int64_t a64[5] = {1, -2, 3, INT64_MIN, INT64_MAX};
    uint8_t a8[3] = {7, 8, 9};
    float af[4] = {1.5f, -2.5f, 0.0f, 1e30f};
    uint16_t a16[2] = {65535, 1};
    dlp__buf b = {0};
    enc_array(&b, 0, a64, 5, 8);
    enc_array(&b, 0, a8, 3, 1);
    enc_array(&b, 0, af, 4, 4);
    enc_array(&b, 0, a16, 2, 2);
    for (size_t shift = 0; shift < 8; shift++) {
        /* A buffer shift bytes past an 8-aligned address. */
        unsigned char *block = malloc(b.len + 8);
        unsigned char *at = block + shift;
        dlp__slot slots[2 * DLP_MAX_ARGS];
        dlp__argmem mem;
        dlp__rd r;
        int rc, copies = 0;
        ck_assert_ptr_nonnull(block);
        ck_assert_uint_eq((uintptr_t)block % 8, 0);
        memcpy(at, b.p, b.len);
        dlp__rd_init(&r, at, b.len);
        rc = dlp__args_decode(&r, &sig, slots, &mem);
        ck_assert_msg(rc == 0, "shift %zu: expected success, got %d (%s)",
                      shift, rc, dlp_strerror(rc));
        ck_assert_uint_eq(slots[1].size, 5);
        ck_assert_uint_eq(slots[3].size, 3);
        ck_assert_uint_eq(slots[5].size, 4);
        ck_assert_uint_eq(slots[7].size, 2);
        ck_assert_int_eq(memcmp(slots[0].ptr, a64, sizeof a64), 0);
        ck_assert_int_eq(memcmp(slots[2].ptr, a8, sizeof a8), 0);
        ck_assert_int_eq(memcmp(slots[4].ptr, af, sizeof af), 0);
        ck_assert_int_eq(memcmp(slots[6].ptr, a16, sizeof a16), 0);
        for (unsigned k = 0; k < 8; k += 2) {
            size_t esz = k == 0 ? 8 : k == 2 ? 1 : k == 4 ? 4 : 2;
            const unsigned char *p = slots[k].ptr;
            int inside = p >= at && p < at + b.len;
            ck_assert_msg((uintptr_t)p % esz == 0,
                          "shift %zu, argument %u: %zu-byte elements at a "
                          "misaligned address",
                          shift, k / 2 + 1, esz);
            /* In place exactly when the place was aligned already. */
            ck_assert_msg(inside == (shift % esz == 0),
                          "shift %zu, argument %u: expected the data %s",
                          shift, k / 2 + 1,
                          shift % esz == 0 ? "in place" : "copied");
            copies += !inside;
        }
        ck_assert_msg(mem.n == (unsigned)copies,
                      "shift %zu: expected %d copies to release, mem holds %u",
                      shift, copies, mem.n);
        dlp__argmem_release(&mem);
        ck_assert_uint_eq(mem.n, 0);
        free(block);
    }
    dlp__buf_free(&b);
}
END_TEST

/* A val of several kinds, for argument lists. */
static dlp_val *sample_val(int seed)
{
    dlp_val *m = dlp_val_map(), *l = dlp_val_list();
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(dlp_val_push(l, dlp_val_int(seed)), 0);
    ck_assert_int_eq(dlp_val_push(l, dlp_val_cstr("in a list")), 0);
    ck_assert_int_eq(dlp_val_push(l, dlp_val_uint(UINT64_MAX)), 0);
    ck_assert_int_eq(dlp_val_set(m, "list", l), 0);
    ck_assert_int_eq(dlp_val_set(m, "f", dlp_val_float(seed + 0.5)), 0);
    ck_assert_int_eq(dlp_val_set(m, "b", dlp_val_bytes("\0\1", 2)), 0);
    return m;
}

/* Encode the argument list of mixed_sig: scalars, vals, arrays, str and
 * bytes interleaved.  The values are the ones check_mixed expects. */
static const char *const mixed_sig =
    "i64(i8,val,f64[],str,u16[],val,bytes,bool,i32[],u64)";

static void encode_mixed(dlp__buf *b, dlp_val *v1, dlp_val *v2)
{
    int8_t i8 = -5;
    double f64s[3] = {0.25, -1e300, 3};
    uint16_t u16s[4] = {1, 2, 65535, 0};
    unsigned char bl = 1;
    int32_t i32s[1] = {INT32_MIN};
    uint64_t u64 = 0x1122334455667788ull;
    enc_scalar(b, DLP_T_I8, &i8);
    enc_val(b, v1);
    enc_array(b, 0, f64s, 3, 8);
    enc_str(b, DLP_T_STR, "text", 4);
    enc_array(b, 0, u16s, 4, 2);
    enc_val(b, v2);
    enc_str(b, DLP_T_BYTES, "\0\xff", 2);
    enc_scalar(b, DLP_T_BOOL, &bl);
    enc_array(b, 0, i32s, 1, 4);
    enc_scalar(b, DLP_T_U64, &u64);
}

START_TEST(test_args_decode_mixed)
{
    dlp_sig sig = sig_of(mixed_sig);
    dlp_val *v1 = sample_val(1), *v2 = dlp_val_null();
    dlp__buf b = {0};
    dlp__slot s[2 * DLP_MAX_ARGS];
    dlp__argmem mem;
    dlp__rd r;
    unsigned char *copy;
    int rc;
    static const double f64s[3] = {0.25, -1e300, 3};
    static const uint16_t u16s[4] = {1, 2, 65535, 0};

    encode_mixed(&b, v1, v2);
    /* A malloc'd copy is 8-aligned, as a worker's frame is (its payload
     * starts 16 bytes into the frame): no array is copied. */
    copy = exact_copy(b.p, b.len);
    dlp__rd_init(&r, copy, b.len);
    rc = dlp__args_decode(&r, &sig, s, &mem);
    ck_assert_msg(rc == 0, "decoding %s: expected success, got %d (%s)",
                  mixed_sig, rc, dlp_strerror(rc));
    ck_assert_ptr_eq(r.p, r.end);
    /* C parameters: i8, val, (f64*, n), str, (u16*, n), val, (bytes, n),
     * bool, (i32*, n), u64. */
    ck_assert_int_eq(s[0].i8, -5);
    ck_assert_msg(dlp_val_equal(s[1].ptr, v1), "expected the first val back");
    ck_assert_int_eq(memcmp(s[2].ptr, f64s, sizeof f64s), 0);
    ck_assert_uint_eq(s[3].size, 3);
    ck_assert_str_eq(s[4].ptr, "text");
    ck_assert_int_eq(memcmp(s[5].ptr, u16s, sizeof u16s), 0);
    ck_assert_uint_eq(s[6].size, 4);
    ck_assert_msg(dlp_val_equal(s[7].ptr, v2), "expected null back");
    ck_assert_int_eq(memcmp(s[8].ptr, "\0\xff", 2), 0);
    ck_assert_uint_eq(s[9].size, 2);
    ck_assert_uint_eq(s[10].b, 1);
    ck_assert_int_eq(*(const int32_t *)s[11].ptr, INT32_MIN);
    ck_assert_uint_eq(s[12].size, 1);
    ck_assert_uint_eq(s[13].u64, 0x1122334455667788ull);
    /* The two vals are the decoder's, to be released after the call. */
    ck_assert_uint_eq(mem.n, 2);
    dlp__argmem_release(&mem);
    free(copy);

    /* Every proper prefix fails, and a byte too many fails: nothing is
     * left allocated either way (valgrind). */
    for (size_t cut = 0; cut <= b.len; cut++) {
        size_t n = cut < b.len ? cut : b.len + 1;
        unsigned char *c = malloc(n ? n : 1);
        ck_assert_ptr_nonnull(c);
        memcpy(c, b.p, cut);
        if (n > cut)
            c[cut] = 0;
        dlp__rd_init(&r, c, n);
        mem.n = 77;
        rc = dlp__args_decode(&r, &sig, s, &mem);
        if (rc != DLP_EPROTO || !r.bad || mem.n != 0)
            ck_abort_msg("%zu of %zu bytes: expected DLP_EPROTO, a bad reader "
                         "and nothing held, got %d (%s), bad=%d, %u held",
                         n, b.len, rc, dlp_strerror(rc), r.bad, mem.n);
        free(c);
    }
    dlp_val_free(v1);
    dlp_val_free(v2);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_args_decode_val_fails_late)
{
    /* A bad val after a good val and a copied array: the decoder gives
     * back what it had taken (valgrind shows a leak otherwise). */
    dlp_sig sig = sig_of("void(val,i64[],val)");
    dlp_val *v = sample_val(3);
    int64_t a[2] = {5, 6};
    dlp__buf b = {0};
    dlp__slot s[2 * DLP_MAX_ARGS];
    dlp__argmem mem;
    dlp__rd r;
    unsigned char *block;
    int rc;

    enc_val(&b, v);
    enc_array(&b, 0, a, 2, 8);
    put_raw(&b, "\x04\x05\0\0\0\0\0\0\0", 9); /* a uint of 5: refused */
    block = malloc(b.len + 1);
    ck_assert_ptr_nonnull(block);
    memcpy(block + 1, b.p, b.len); /* misaligned: the array is copied */
    dlp__rd_init(&r, block + 1, b.len);
    rc = dlp__args_decode(&r, &sig, s, &mem);
    ck_assert_msg(rc == DLP_EPROTO, "expected DLP_EPROTO (%d), got %d (%s)",
                  DLP_EPROTO, rc, dlp_strerror(rc));
    ck_assert_int_eq(r.bad, 1);
    ck_assert_uint_eq(mem.n, 0);
    free(block);

    /* A val nested past the limit is refused the same way. */
    b.len = 0;
    enc_val(&b, v);
    enc_array(&b, 0, a, 2, 8);
    for (int i = 0; i <= DLP_VAL_MAX_DEPTH; i++)
        put_raw(&b, "\x08\x01\0\0\0", 5);
    put_raw(&b, "\0", 1);
    dlp__rd_init(&r, b.p, b.len);
    rc = dlp__args_decode(&r, &sig, s, &mem);
    ck_assert_int_eq(rc, DLP_EPROTO);
    ck_assert_uint_eq(mem.n, 0);
    dlp_val_free(v);
    dlp__buf_free(&b);
}
END_TEST

START_TEST(test_args_decode_most)
{
    /* DLP_MAX_ARGS vals, and DLP_MAX_ARGS misaligned arrays: the decoder
     * holds one allocation per argument at most. */
    char text[1024];
    size_t len = (size_t)snprintf(text, sizeof text, "void(");
    dlp_val *v = sample_val(9);
    int64_t a[3] = {1, 2, 3};
    dlp__buf b = {0};
    dlp__slot s[2 * DLP_MAX_ARGS];
    dlp__argmem mem;
    dlp__rd r;
    dlp_sig sig;
    unsigned char *block;
    int rc;

    for (int i = 0; i < DLP_MAX_ARGS; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%sval",
                                i ? "," : "");
    snprintf(text + len, sizeof text - len, ")");
    sig = sig_of(text);
    for (int i = 0; i < DLP_MAX_ARGS; i++)
        enc_val(&b, v);
    dlp__rd_init(&r, b.p, b.len);
    rc = dlp__args_decode(&r, &sig, s, &mem);
    ck_assert_msg(rc == 0, "%d vals: expected success, got %d (%s)",
                  DLP_MAX_ARGS, rc, dlp_strerror(rc));
    ck_assert_uint_eq(mem.n, DLP_MAX_ARGS);
    for (int i = 0; i < DLP_MAX_ARGS; i++)
        ck_assert(dlp_val_equal(s[i].ptr, v));
    dlp__argmem_release(&mem);

    len = (size_t)snprintf(text, sizeof text, "void(");
    for (int i = 0; i < DLP_MAX_ARGS; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%si64[]",
                                i ? "," : "");
    snprintf(text + len, sizeof text - len, ")");
    sig = sig_of(text);
    b.len = 0;
    for (int i = 0; i < DLP_MAX_ARGS; i++)
        enc_array(&b, 0, a, 3, 8);
    block = malloc(b.len + 3);
    ck_assert_ptr_nonnull(block);
    memcpy(block + 3, b.p, b.len);
    dlp__rd_init(&r, block + 3, b.len);
    rc = dlp__args_decode(&r, &sig, s, &mem);
    ck_assert_msg(rc == 0, "%d arrays: expected success, got %d (%s)",
                  DLP_MAX_ARGS, rc, dlp_strerror(rc));
    ck_assert_uint_eq(mem.n, DLP_MAX_ARGS);
    for (int i = 0; i < DLP_MAX_ARGS; i++) {
        ck_assert_uint_eq(s[2 * i + 1].size, 3);
        ck_assert_int_eq(memcmp(s[2 * i].ptr, a, sizeof a), 0);
    }
    dlp__argmem_release(&mem);
    free(block);
    dlp_val_free(v);
    dlp__buf_free(&b);
}
END_TEST

Suite *dlp_test_wire(void);

Suite *dlp_test_wire(void)
{
    Suite *s = suite_create("wire");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, test_hdr_round_trip);
    tcase_add_test(core, test_hdr_layout);
    tcase_add_test(core, test_frames);
    tcase_add_test(core, test_ints_round_trip);
    tcase_add_test(core, test_str_round_trip);
    tcase_add_test(core, test_get_bytes);
    tcase_add_test(core, test_decode_ints);
    tcase_add_test(core, test_decode_floats);
    tcase_add_test(core, test_decode_bool);
    tcase_add_test(core, test_decode_str);
    tcase_add_test(core, test_decode_bytes);
    tcase_add_test(core, test_decode_no_len_slot);
    tcase_add_test(core, test_decode_list);
    tcase_add_test(core, test_put_array_alignment);
    tcase_add_test(core, test_decode_array);
    tcase_add_test(core, test_args_misaligned_copy);
    tcase_add_test(core, test_args_decode_mixed);
    suite_add_tcase(s, core);

    /* The garbage run is long under valgrind; give it room. */
    tcase_set_timeout(limits, 120);
    tcase_add_test(limits, test_decode_large);
    tcase_add_test(limits, test_frame_max);
    tcase_add_test(limits, test_garbage);
    tcase_add_test(limits, test_put_array_too_big);
    tcase_add_test(limits, test_args_decode_most);
    suite_add_tcase(s, limits);

    tcase_add_test(errors, test_truncated_list);
    tcase_add_test(errors, test_truncated_scalars);
    tcase_add_test(errors, test_str_without_nul);
    tcase_add_test(errors, test_str_embedded_nul);
    tcase_add_test(errors, test_bad_bool);
    tcase_add_test(errors, test_length_too_large);
    tcase_add_test(errors, test_no_void_argument);
    tcase_add_test(errors, test_sticky_failure);
    tcase_add_test(errors, test_empty_without_buffer);
    tcase_add_test(errors, test_decode_array_bad);
    tcase_add_test(errors, test_args_decode_val_fails_late);
    suite_add_tcase(s, errors);
    return s;
}

TU_MAIN(dlp_test_wire)
