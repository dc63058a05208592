/*
 * fuzz_wire.c - libFuzzer target for every decoder that reads a peer's
 * bytes: the frame header, the payloads of LOAD, LOADED, BATCH, RESULTS and
 * INSPECTED, each argument type alone (arrays included), whole argument
 * lists (with vals and arrays), structured values (val results and
 * arguments), and the signature parser (a LOAD frame carries a signature
 * text).
 *
 * An input is read as follows; any byte string is an input.
 *
 *   byte 0    below 0x80: the signature is entry (byte % N) of sig_table.
 *             Otherwise a signature text follows, up to the first NUL or
 *             MAX_SIG_TEXT bytes, and is parsed with dlp_sig_parse; a text
 *             that does not parse falls back to the table.
 *   16 bytes  a frame header, unpacked (and packed back).
 *   the rest  the payload: at most the header's len bytes of it.  It is
 *             decoded as each payload a peer can send, with the arguments
 *             of every BATCH task decoded against the signature, and as a
 *             run of vals.
 *
 * Each piece is copied into a heap block of exactly its size, so that
 * AddressSanitizer reports a read one byte past it.  Every successful
 * decode is checked against an independent reading of the same bytes
 * (pointers inside the buffer, lengths as sent, strings NUL-terminated
 * where promised; a val re-encodes to exactly the bytes it came from, as
 * every value has one encoding), and every failure must leave the reader
 * bad and inside the buffer.  A broken invariant aborts, so libFuzzer
 * saves the input.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sig.h"
#include "val.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

/* Undefined behaviour must end the run like a crash, or libFuzzer would
 * carry on past it and keep no input to reproduce it. */
const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

/* The longest signature text taken from an input: room for more than
 * DLP_MAX_ARGS arguments, so the limit itself is reached. */
#define MAX_SIG_TEXT 256

/* Signatures that cover every type, as argument and as return, up to the
 * most arguments a signature may have. */
static const char *const sig_table[] = {
    "void()",
    "i8(i8)",
    "i16(i16)",
    "i32(i32,i32)",
    "i64(i64,i64)",
    "u8(u8)",
    "u16(u16)",
    "u32(u32)",
    "u64(u64)",
    "f32(f32)",
    "f64(f64,f64)",
    "bool(bool)",
    "str(str)",
    "str!(str,str)",
    "u64(bytes)",
    "i64(bytes,i64,str)",
    "str(i8,i16,i32,i64,u8,u16,u32,u64,f32,f64,bool,str,bytes)",
    "void(str,bytes,str,bytes,bool)",
    /* DLP_MAX_ARGS of the two types that take the most room in slots. */
    "void(bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes,"
    "bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes,"
    "bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes,bytes)",
    "i32(str,str,str,str,str,str,str,str,str,str,str,str,str,str,str,str,"
    "str,str,str,str,str,str,str,str,str,str,str,str,str,str,str,str)",
    "f64(u8,i16,u32,i64,f32,f64,bool,str,bytes,i8,u16,i32,u64,str,bytes,"
    "bool,u8,i16,u32,i64,f32,f64,bool,str,bytes,i8,u16,i32,u64,str,bytes,"
    "bool)",
    /* Values and arrays, alone and among the others. */
    "val(val)",
    "i64(i64[])",
    "void(val,f64[],str,u8[],val,bytes,i16[],bool)",
    "val(i8[],i16[],i32[],i64[],u8[],u16[],u32[],u64[],f32[],f64[])",
    "void(val,val,val,val,val,val,val,val,val,val,val,val,val,val,val,val,"
    "val,val,val,val,val,val,val,val,val,val,val,val,val,val,val,val)",
    "void(i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[],"
    "i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[],"
    "i64[],u8[],i64[],u8[],i64[],u8[],i64[],u8[])",
};
#define N_SIGS (sizeof sig_table / sizeof sig_table[0])

/* Argument types to decode alone: every type dlp__arg_decode takes (the
 * arrays too), and void, val, chan, arrays of non-numbers and a value past
 * the last type, which it must refuse (a val is read by
 * dlp__args_decode). */
static const dlp_type raw_types[] = {
    DLP_T_VOID,
    DLP_T_I8,
    DLP_T_I16,
    DLP_T_I32,
    DLP_T_I64,
    DLP_T_U8,
    DLP_T_U16,
    DLP_T_U32,
    DLP_T_U64,
    DLP_T_F32,
    DLP_T_F64,
    DLP_T_BOOL,
    DLP_T_STR,
    DLP_T_BYTES,
    DLP_T_VAL,
    DLP_T_CHAN,
    (dlp_type)(DLP_T_CHAN + 1),
    DLP_T_ARRAY_OF(DLP_T_I8),
    DLP_T_ARRAY_OF(DLP_T_I16),
    DLP_T_ARRAY_OF(DLP_T_I32),
    DLP_T_ARRAY_OF(DLP_T_I64),
    DLP_T_ARRAY_OF(DLP_T_U8),
    DLP_T_ARRAY_OF(DLP_T_U16),
    DLP_T_ARRAY_OF(DLP_T_U32),
    DLP_T_ARRAY_OF(DLP_T_U64),
    DLP_T_ARRAY_OF(DLP_T_F32),
    DLP_T_ARRAY_OF(DLP_T_F64),
    DLP_T_ARRAY_OF(DLP_T_BOOL),
    DLP_T_ARRAY_OF(DLP_T_STR),
};
#define N_RAW_TYPES (sizeof raw_types / sizeof raw_types[0])

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            broken(__LINE__, #cond);                                           \
    } while (0)

static void broken(int line, const char *what)
{
    fprintf(stderr, "fuzz_wire.c:%d: invariant broken: %s\n", line, what);
    abort();
}

/* A heap block of exactly n bytes holding p (n may be 0). */
static unsigned char *exact_copy(const void *p, size_t n)
{
    unsigned char *c = malloc(n);
    if (!c && n)
        abort();
    if (n)
        memcpy(c, p, n);
    return c;
}

static uint32_t load_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t load_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The wire size of a scalar, written out here rather than taken from the
 * code under test. */
static size_t ref_size(dlp_type t)
{
    switch (t) {
    case DLP_T_I8:
    case DLP_T_U8:
    case DLP_T_BOOL:
        return 1;
    case DLP_T_I16:
    case DLP_T_U16:
        return 2;
    case DLP_T_I32:
    case DLP_T_U32:
    case DLP_T_F32:
        return 4;
    case DLP_T_I64:
    case DLP_T_U64:
    case DLP_T_F64:
        return 8;
    default:
        return 0;
    }
}

/* After any call on r: the reader still spans [start, end]. */
static void check_bounds(const dlp__rd *r, const unsigned char *start,
                         const unsigned char *end)
{
    CHECK(r->end == end);
    CHECK(r->p >= start && r->p <= end);
}

/* After a failed call: the code is DLP_EPROTO, the reader is bad and stays
 * so (a later read fails and moves nothing). */
static void check_failed(dlp__rd *r, int rc, const unsigned char *start,
                         const unsigned char *end)
{
    const unsigned char *at = r->p, *q = NULL;
    uint8_t v;
    CHECK(rc == DLP_EPROTO);
    CHECK(r->bad);
    check_bounds(r, start, end);
    CHECK(dlp__get_u8(r, &v) == DLP_EPROTO);
    CHECK(dlp__get_bytes(r, 0, &q) == DLP_EPROTO);
    CHECK(q == NULL);
    CHECK(r->p == at && r->bad);
}

/* An array's element type is a number (i8 .. f64, not bool). */
static int ref_is_num(dlp_type t)
{
    return t >= DLP_T_I8 && t <= DLP_T_F64;
}

/*
 * How many bytes does the val at p (avail bytes left) take, as
 * framework/val.c documents the form?  0 if it is not one valid value:
 * an unknown tag, a uint that fits int64_t, a key with a NUL, a length or
 * count past the end, or a value deeper than DLP_VAL_MAX_DEPTH (depth is
 * this value's level, 1 at the top).
 */
static size_t ref_val(const unsigned char *p, size_t avail, unsigned depth)
{
    size_t used = 5;
    uint32_t n;
    if (depth > DLP_VAL_MAX_DEPTH || avail < 1)
        return 0;
    switch (p[0]) {
    case 0: /* null, false, true */
    case 1:
    case 2:
        return 1;
    case 3: /* int, float: 8 bytes */
    case 5:
        return avail >= 9 ? 9 : 0;
    case 4: /* uint: only above INT64_MAX */
        return avail >= 9 && load_u64(p + 1) > (uint64_t)INT64_MAX ? 9 : 0;
    case 6: /* str, bytes: u32 length, the bytes */
    case 7:
        if (avail < 5)
            return 0;
        n = load_u32(p + 1);
        return avail - 5 >= n ? 5 + (size_t)n : 0;
    case 8: /* list, map: u32 count, the items (keys before map items) */
    case 9:
        if (avail < 5)
            return 0;
        n = load_u32(p + 1);
        for (uint32_t i = 0; i < n; i++) {
            size_t k;
            if (p[0] == 9) {
                uint32_t kl;
                if (avail - used < 4)
                    return 0;
                kl = load_u32(p + used);
                if (avail - used - 4 < kl || memchr(p + used + 4, 0, kl))
                    return 0;
                used += 4 + (size_t)kl;
            }
            k = ref_val(p + used, avail - used, depth + 1);
            if (k == 0)
                return 0;
            used += k;
        }
        return used;
    default:
        return 0;
    }
}

/*
 * Does the argument of type t at p (avail bytes left) decode, and how many
 * bytes does it take?  The independent reading that decodes are compared
 * with.  Returns 0 if it cannot decode.
 */
static size_t ref_arg(dlp_type t, const unsigned char *p, size_t avail)
{
    size_t sz = ref_size(t);
    uint32_t len;
    if (t == DLP_T_VAL)
        return ref_val(p, avail, 1);
    if (DLP_T_IS_ARRAY(t)) {
        size_t esz = ref_size(DLP_T_ELEM(t));
        uint8_t pad;
        if (!ref_is_num(DLP_T_ELEM(t)) || avail < 5)
            return 0;
        len = load_u32(p);
        pad = p[4];
        if (pad > 7 || avail - 5 < pad || (avail - 5 - pad) / esz < len)
            return 0;
        return 5 + (size_t)pad + (size_t)len * esz;
    }
    if (sz) {
        if (avail < sz)
            return 0;
        if (t == DLP_T_BOOL && p[0] > 1)
            return 0;
        return sz;
    }
    if (t != DLP_T_STR && t != DLP_T_BYTES)
        return 0;
    if (avail < 4)
        return 0;
    len = load_u32(p);
    if (avail - 4 < len)
        return 0;
    if (t == DLP_T_BYTES)
        return 4 + (size_t)len;
    if (avail - 4 - len < 1 || p[4 + len] != 0 || memchr(p + 4, 0, len))
        return 0;
    return 5 + (size_t)len;
}

/* A decoded argument at p (taking used bytes) matches what was sent. */
static void check_arg(dlp_type t, const unsigned char *p, size_t used,
                      const dlp__slot *slot, const dlp__slot *len_slot,
                      const unsigned char *end)
{
    size_t sz = ref_size(t);
    if (sz) {
        CHECK(used == sz);
        CHECK(memcmp(slot, p, sz) == 0);
        if (t == DLP_T_BOOL)
            CHECK(slot->b <= 1);
        return;
    }
    uint32_t len = load_u32(p);
    const unsigned char *s = slot->ptr;
    if (DLP_T_IS_ARRAY(t)) {
        size_t esz = ref_size(DLP_T_ELEM(t));
        CHECK(s == p + 5 + p[4]);
        CHECK(used == 5 + (size_t)p[4] + (size_t)len * esz);
        CHECK(s + (size_t)len * esz <= end);
        if (len_slot)
            CHECK(len_slot->size == len);
        return;
    }
    CHECK(s == p + 4);
    CHECK(s + len <= end);
    if (len_slot)
        CHECK(len_slot->size == len);
    if (t == DLP_T_STR) {
        CHECK(used == 5 + (size_t)len);
        CHECK(s + len < end && s[len] == 0);
        CHECK(strlen((const char *)s) == len);
    } else {
        CHECK(used == 4 + (size_t)len);
    }
}

/* Decode a run of single arguments of type t from the whole payload,
 * with and without a length slot, until one fails. */
static void fuzz_raw(dlp_type t, const unsigned char *buf, size_t n,
                     int with_len)
{
    const unsigned char *end = buf + n;
    dlp__rd r;
    dlp__rd_init(&r, buf, n);
    for (;;) {
        const unsigned char *at = r.p;
        /* A val is decoded by dlp__args_decode, never alone. */
        size_t want = t == DLP_T_VAL ? 0 : ref_arg(t, at, (size_t)(end - at));
        dlp__slot slot, len;
        int rc;
        memset(&slot, 0xA5, sizeof slot);
        memset(&len, 0xA5, sizeof len);
        rc = dlp__arg_decode(&r, t, &slot, with_len ? &len : NULL);
        check_bounds(&r, buf, end);
        if (rc) {
            CHECK(want == 0);
            check_failed(&r, rc, buf, end);
            return;
        }
        CHECK(want != 0);
        CHECK(!r.bad);
        CHECK(r.p == at + want);
        check_arg(t, at, want, &slot, with_len ? &len : NULL, end);
        if (!with_len && (t == DLP_T_BYTES || DLP_T_IS_ARRAY(t)))
            CHECK(len.size == (size_t)0xA5A5A5A5A5A5A5A5ull);
    }
}

/* A decoded val is exactly the bytes it came from: encoding it again gives
 * them back (one encoding per value), and a copy of it is equal to it. */
static void check_val_bytes(const dlp_val *v, const unsigned char *p,
                            size_t used)
{
    dlp__buf again = {0};
    dlp_val *c;
    CHECK(v != NULL);
    CHECK(dlp__val_put(&again, v) == 0);
    CHECK(again.len == used && memcmp(again.p, p, used) == 0);
    dlp__buf_free(&again);
    c = dlp_val_copy(v);
    CHECK(c != NULL && dlp_val_equal(c, v) && dlp_val_equal(v, c));
    dlp_val_free(c);
}

/* Decode one task's arguments (a heap block of exactly n bytes) as a
 * worker does before a call, and compare with the independent reading. */
static void fuzz_args(const dlp_sig *sig, const unsigned char *args, size_t n)
{
    const unsigned char *end = args + n, *q = args;
    dlp__slot slots[2 * DLP_MAX_ARGS];
    dlp__argmem mem;
    dlp__rd r;
    int rc, valid = 1;
    unsigned k = 0, held = 0;

    /* The reference walk: every argument decodes and nothing trails. */
    for (unsigned i = 0; i < sig->nargs && valid; i++) {
        size_t used = ref_arg(sig->args[i], q, (size_t)(end - q));
        if (used == 0)
            valid = 0;
        else
            q += used;
    }
    if (q != end)
        valid = 0;

    memset(slots, 0xA5, sizeof slots);
    memset(&mem, 0xA5, sizeof mem);
    dlp__rd_init(&r, args, n);
    rc = dlp__args_decode(&r, sig, slots, &mem);
    check_bounds(&r, args, end);
    if (rc) {
        CHECK(!valid);
        check_failed(&r, rc, args, end);
        CHECK(mem.n == 0); /* released already */
        return;
    }
    CHECK(valid);
    CHECK(!r.bad && r.p == end);
    q = args;
    for (unsigned i = 0; i < sig->nargs; i++) {
        dlp_type t = sig->args[i];
        size_t used = ref_arg(t, q, (size_t)(end - q));
        if (t == DLP_T_VAL) {
            check_val_bytes(slots[k].ptr, q, used);
            held++;
            k++;
        } else if (DLP_T_IS_ARRAY(t)) {
            /* In place when the elements are aligned for their type, else
             * an aligned copy: the same elements either way. */
            size_t esz = ref_size(DLP_T_ELEM(t));
            uint32_t cnt = load_u32(q);
            const unsigned char *data = q + 5 + q[4];
            const unsigned char *got = slots[k].ptr;
            CHECK(slots[k + 1].size == cnt);
            CHECK((uintptr_t)got % esz == 0);
            if ((uintptr_t)data % esz == 0) {
                CHECK(got == data);
            } else {
                CHECK(got < args || got >= end);
                held++;
            }
            CHECK(cnt == 0 || memcmp(got, data, (size_t)cnt * esz) == 0);
            k += 2;
        } else {
            const dlp__slot *len = t == DLP_T_BYTES ? &slots[k + 1] : NULL;
            check_arg(t, q, used, &slots[k], len, end);
            k += t == DLP_T_BYTES ? 2 : 1;
        }
        q += used;
    }
    CHECK(k <= 2 * DLP_MAX_ARGS);
    /* What the decoder allocated is exactly the vals and the copies. */
    CHECK(mem.n == held);
    dlp__argmem_release(&mem);
    CHECK(mem.n == 0);
}

/* The payload as a run of vals, one after another, as far as they decode;
 * each is compared with the independent reading. */
static void fuzz_vals(const unsigned char *buf, size_t n)
{
    const unsigned char *end = buf + n;
    dlp__rd r;
    dlp__rd_init(&r, buf, n);
    while (r.p < end) {
        const unsigned char *at = r.p;
        size_t want = ref_val(at, (size_t)(end - at), 1);
        dlp_val *v = (dlp_val *)(uintptr_t)1;
        int rc = dlp__val_get(&r, &v);
        check_bounds(&r, buf, end);
        if (rc) {
            CHECK(want == 0);
            CHECK(v == NULL);
            check_failed(&r, rc, buf, end);
            return;
        }
        CHECK(want != 0);
        CHECK(!r.bad && r.p == at + want);
        check_val_bytes(v, at, want);
        dlp_val_free(v);
    }
}

/* A BATCH payload: u32 count, then count task records. */
static void fuzz_batch(const dlp_sig *sig, const unsigned char *buf, size_t n)
{
    const unsigned char *end = buf + n;
    uint32_t count;
    dlp__rd r;
    int rc;

    dlp__rd_init(&r, buf, n);
    rc = dlp__get_u32(&r, &count);
    check_bounds(&r, buf, end);
    if (rc) {
        CHECK(n < 4);
        check_failed(&r, rc, buf, end);
        return;
    }
    CHECK(count == load_u32(buf) && r.p == buf + 4);
    for (uint32_t i = 0; i < count; i++) {
        const unsigned char *at = r.p, *args = NULL;
        size_t avail = (size_t)(end - at);
        uint64_t index;
        uint32_t arglen;
        unsigned char *copy;

        rc = dlp__task_next(&r, &index, &args, &arglen);
        check_bounds(&r, buf, end);
        if (rc) {
            CHECK(avail < DLP_TASK_HDR ||
                  avail - DLP_TASK_HDR < load_u32(at + 8));
            check_failed(&r, rc, buf, end);
            return;
        }
        CHECK(avail >= DLP_TASK_HDR);
        CHECK(index == load_u64(at) && arglen == load_u32(at + 8));
        CHECK(args == at + DLP_TASK_HDR);
        CHECK(args + arglen == r.p && r.p <= end);
        CHECK(!r.bad);
        copy = exact_copy(args, arglen);
        fuzz_args(sig, copy, arglen);
        free(copy);
    }
}

/* A RESULTS payload: u64 busy_ns, then result records to the end. */
static void fuzz_results(const unsigned char *buf, size_t n)
{
    const unsigned char *end = buf + n;
    uint64_t busy;
    dlp__rd r;
    int rc;

    dlp__rd_init(&r, buf, n);
    rc = dlp__get_u64(&r, &busy);
    check_bounds(&r, buf, end);
    if (rc) {
        CHECK(n < 8);
        check_failed(&r, rc, buf, end);
        return;
    }
    CHECK(busy == load_u64(buf) && r.p == buf + 8);
    while (r.p < end) {
        const unsigned char *at = r.p;
        size_t avail = (size_t)(end - at);
        dlp__result_rec rec;
        memset(&rec, 0, sizeof rec);
        rc = dlp__result_next(&r, &rec);
        check_bounds(&r, buf, end);
        if (rc) {
            CHECK(avail < DLP_RESULT_HDR ||
                  avail - DLP_RESULT_HDR < load_u32(at + 9) ||
                  at[8] > DLP_R_LOST);
            check_failed(&r, rc, buf, end);
            return;
        }
        CHECK(avail >= DLP_RESULT_HDR);
        CHECK(rec.index == load_u64(at) && rec.kind == at[8] &&
              rec.len == load_u32(at + 9));
        CHECK(rec.kind <= DLP_R_LOST);
        CHECK(rec.data == at + DLP_RESULT_HDR);
        CHECK(rec.data + rec.len == r.p && r.p <= end);
        CHECK(!r.bad);
    }
}

/* Read one string; returns 0 when it decoded (and matches the bytes). */
static int fuzz_str(dlp__rd *r, int nul, const unsigned char *buf,
                    const unsigned char *end)
{
    const unsigned char *at = r->p;
    size_t avail = (size_t)(end - at);
    size_t want = ref_arg(nul ? DLP_T_STR : DLP_T_BYTES, at, avail);
    const char *s = NULL;
    uint32_t len = 0;
    int rc = dlp__get_str(r, &s, &len, nul);
    check_bounds(r, buf, end);
    if (rc) {
        CHECK(want == 0);
        check_failed(r, rc, buf, end);
        return rc;
    }
    CHECK(want != 0);
    CHECK(!r->bad);
    CHECK(len == load_u32(at) && (const unsigned char *)s == at + 4);
    CHECK(r->p == at + want);
    if (nul) {
        CHECK((const unsigned char *)s + len < end && s[len] == 0);
        CHECK(strlen(s) == len);
    }
    return 0;
}

/* A LOAD payload (str plugin, str symbol, str sig, each NUL-terminated) as
 * a worker reads it; a LOADED or INSPECTED payload (a string, then for
 * INSPECTED u32 n and n pairs of strings) as the pool reads it. */
static void fuzz_strings(const unsigned char *buf, size_t n)
{
    const unsigned char *end = buf + n;
    uint32_t cnt;
    dlp__rd r;
    int rc;

    dlp__rd_init(&r, buf, n);
    for (int i = 0; i < 3; i++)
        if (fuzz_str(&r, 1, buf, end))
            break;

    dlp__rd_init(&r, buf, n);
    if (fuzz_str(&r, 0, buf, end))
        return;
    {
        const unsigned char *at = r.p;
        rc = dlp__get_u32(&r, &cnt);
        check_bounds(&r, buf, end);
        if (rc) {
            CHECK(end - at < 4);
            check_failed(&r, rc, buf, end);
            return;
        }
        CHECK(cnt == load_u32(at) && r.p == at + 4);
    }
    for (uint32_t i = 0; i < cnt; i++)
        if (fuzz_str(&r, 0, buf, end) || fuzz_str(&r, 0, buf, end))
            return;
}

/* The frame header: its fields are the bytes at their offsets, and
 * packing them gives back the same 16 bytes. */
static void fuzz_hdr(const unsigned char *in, dlp__hdr *h)
{
    unsigned char *copy = exact_copy(in, DLP_HDR_SIZE);
    unsigned char *out = malloc(DLP_HDR_SIZE);
    uint16_t type, flags;
    if (!out)
        abort();
    dlp__hdr_unpack(copy, h);
    memcpy(&type, in + 4, 2);
    memcpy(&flags, in + 6, 2);
    CHECK(h->len == load_u32(in) && h->type == type && h->flags == flags &&
          h->a == load_u32(in + 8) && h->b == load_u32(in + 12));
    dlp__hdr_pack(out, h);
    CHECK(memcmp(out, in, DLP_HDR_SIZE) == 0);
    free(out);
    free(copy);
}

/* A parsed signature is well formed, and its canonical text parses back
 * to the same signature; the formatter never writes past its buffer. */
static void check_sig(const dlp_sig *sig)
{
    char buf[512], *small;
    dlp_sig again;
    dlp_error err;
    int n;

    CHECK((sig->ret >= DLP_T_VOID && sig->ret <= DLP_T_STR) ||
          sig->ret == DLP_T_VAL);
    CHECK(!sig->ret_owned || sig->ret == DLP_T_STR);
    CHECK(sig->nargs <= DLP_MAX_ARGS);
    for (unsigned i = 0; i < sig->nargs; i++) {
        dlp_type t = sig->args[i];
        CHECK((t >= DLP_T_I8 && t <= DLP_T_BYTES) || t == DLP_T_VAL ||
              (DLP_T_IS_ARRAY(t) && ref_is_num(DLP_T_ELEM(t))) ||
              (t == DLP_T_CHAN && sig->nargs == 1 &&
               sig->ret == DLP_T_I32));
    }

    n = dlp_sig_format(sig, buf, sizeof buf);
    CHECK(n > 0 && (size_t)n < sizeof buf && strlen(buf) == (size_t)n);
    CHECK(dlp_sig_format(sig, NULL, 0) == n);
    memset(&again, 0x5A, sizeof again);
    CHECK(dlp_sig_parse(buf, &again, &err) == 0);
    CHECK(dlp__sig_equal(sig, &again));

    /* A buffer too short by half: the text is cut, NUL-terminated, and
     * the length needed is still returned. */
    small = malloc((size_t)n / 2 + 1);
    if (!small)
        abort();
    CHECK(dlp_sig_format(sig, small, (size_t)n / 2 + 1) == n);
    CHECK(strlen(small) == (size_t)n / 2);
    CHECK(memcmp(small, buf, (size_t)n / 2) == 0);
    free(small);
}

/* Parse the signature text of an input (a NUL-terminated heap copy);
 * returns 0 and *sig, or DLP_ESIG. */
static int fuzz_sig_text(const unsigned char *text, size_t n, dlp_sig *sig)
{
    char *copy = malloc(n + 1);
    dlp_sig quiet;
    dlp_error err;
    int rc, rc2;

    if (!copy)
        abort();
    memcpy(copy, text, n);
    copy[n] = 0;
    memset(&err, 0x5A, sizeof err);
    rc = dlp_sig_parse(copy, sig, &err);
    /* Without an error record the answer is the same. */
    rc2 = dlp_sig_parse(copy, &quiet, NULL);
    CHECK(rc == rc2);
    if (rc) {
        CHECK(rc == DLP_ESIG);
        CHECK(err.code == rc);
        CHECK(memchr(err.msg, 0, sizeof err.msg) != NULL);
        CHECK(strncmp(err.msg, "signature '", 11) == 0);
    } else {
        CHECK(dlp__sig_equal(sig, &quiet));
        check_sig(sig);
    }
    free(copy);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const unsigned char *p = data, *end = data + size;
    unsigned char *payload;
    size_t n;
    dlp_sig sig;
    dlp_error err;

    if (size == 0)
        return 0;

    /* The signature. */
    memset(&sig, 0, sizeof sig);
    {
        unsigned sel = *p++;
        int have = 0;
        if (sel >= 0x80) {
            size_t avail = (size_t)(end - p), tn;
            const unsigned char *z;
            tn = avail < MAX_SIG_TEXT ? avail : MAX_SIG_TEXT;
            z = memchr(p, 0, tn);
            if (z)
                tn = (size_t)(z - p);
            have = fuzz_sig_text(p, tn, &sig) == 0;
            p += tn + (z ? 1 : 0);
        }
        if (!have) {
            CHECK(dlp_sig_parse(sig_table[sel % N_SIGS], &sig, &err) == 0);
            check_sig(&sig);
        }
    }

    /* The frame header, then the payload it announces. */
    n = (size_t)(end - p);
    if (n >= DLP_HDR_SIZE) {
        dlp__hdr h;
        fuzz_hdr(p, &h);
        p += DLP_HDR_SIZE;
        n -= DLP_HDR_SIZE;
        if (h.len < n)
            n = h.len;
    }
    payload = exact_copy(p, n);

    fuzz_batch(&sig, payload, n);
    fuzz_results(payload, n);
    fuzz_strings(payload, n);
    for (size_t i = 0; i < N_RAW_TYPES; i++) {
        fuzz_raw(raw_types[i], payload, n, 1);
        fuzz_raw(raw_types[i], payload, n, 0);
    }
    /* The arguments of a task can also be the whole payload, and so can
     * vals (a val result, or a run of them). */
    fuzz_args(&sig, payload, n);
    fuzz_vals(payload, n);

    free(payload);
    return 0;
}
