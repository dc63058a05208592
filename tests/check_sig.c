/*
 * check_sig.c - the signature language: parsing, printing, and the type
 * helpers other modules build on.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "sig.h"

/* Every type of the language, in the order of enum dlp_type. */
static const dlp_type all_types[] = {
    DLP_T_VOID, DLP_T_I8,  DLP_T_I16, DLP_T_I32,  DLP_T_I64,
    DLP_T_U8,   DLP_T_U16, DLP_T_U32, DLP_T_U64,  DLP_T_F32,
    DLP_T_F64,  DLP_T_BOOL, DLP_T_STR, DLP_T_BYTES,
};
#define N_TYPES (sizeof all_types / sizeof all_types[0])

/* Parse text and fail the test, naming the signature and the reason, if
 * the parser rejects it. */
static dlp_sig parse_ok(const char *text)
{
    dlp_sig sig;
    dlp_error err = {0, ""};
    int rc = dlp_sig_parse(text, &sig, &err);
    ck_assert_msg(rc == 0, "expected '%s' to parse, got %d (%s): %s", text,
                  rc, dlp_strerror(rc), err.msg);
    return sig;
}

/* True if msg says "column COL" with no further digit, so that column 9
 * is not taken for column 90. */
static int names_column(const char *msg, unsigned col)
{
    char want[32];
    const char *p = msg;
    size_t n = (size_t)snprintf(want, sizeof want, "column %u", col);
    while ((p = strstr(p, want)) != NULL) {
        if (p[n] < '0' || p[n] > '9')
            return 1;
        p += n;
    }
    return 0;
}

/* Parse text, expect DLP_ESIG, and expect the message to name the column
 * and the culprit (a fragment such as "'int'"), so that a person who typed
 * the signature can find the mistake. */
static void parse_fails(const char *text, unsigned col, const char *culprit)
{
    dlp_sig sig;
    dlp_error err = {0, ""};
    int rc = dlp_sig_parse(text, &sig, &err);
    ck_assert_msg(rc == DLP_ESIG,
                  "signature '%s': expected DLP_ESIG (%d), got %d (%s): %s",
                  text, DLP_ESIG, rc, dlp_strerror(rc), err.msg);
    ck_assert_msg(err.code == DLP_ESIG,
                  "signature '%s': expected err.code DLP_ESIG (%d), got %d",
                  text, DLP_ESIG, err.code);
    ck_assert_msg(names_column(err.msg, col),
                  "signature '%s': expected the message to name column %u, "
                  "got: %s",
                  text, col, err.msg);
    ck_assert_msg(strstr(err.msg, culprit) != NULL,
                  "signature '%s': expected the message to contain \"%s\", "
                  "got: %s",
                  text, culprit, err.msg);
    /* The message quotes the signature so it stands on its own. */
    ck_assert_msg(strstr(err.msg, text) != NULL,
                  "signature '%s': expected the message to quote it, got: %s",
                  text, err.msg);
}

/* Format sig and return the text in static storage. */
static const char *format(const dlp_sig *sig)
{
    static char buf[512];
    int n = dlp_sig_format(sig, buf, sizeof buf);
    ck_assert_msg(n >= 0 && (size_t)n < sizeof buf,
                  "expected dlp_sig_format to fit in %zu bytes, it returned "
                  "%d",
                  sizeof buf, n);
    ck_assert_uint_eq(strlen(buf), (size_t)n);
    return buf;
}

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

/* ---- core ------------------------------------------------------------- */

START_TEST(test_type_names)
{
    static const char *const names[] = {
        "void", "i8",  "i16", "i32", "i64",  "u8",  "u16",
        "u32",  "u64", "f32", "f64", "bool", "str", "bytes",
    };
    for (size_t i = 0; i < N_TYPES; i++)
        ck_assert_str_eq(dlp_type_name(all_types[i]), names[i]);
    /* An out-of-range value gets a placeholder, never NULL, so it can be
     * printed in a message as it is. */
    ck_assert_str_eq(dlp_type_name((dlp_type)(DLP_T_CHAN + 1)), "?");
    ck_assert_str_eq(dlp_type_name((dlp_type)99), "?");
    ck_assert_str_eq(dlp_type_name((dlp_type)-1), "?");
}
END_TEST

START_TEST(test_type_size)
{
    static const size_t sizes[] = {0, 1, 2, 4, 8, 1, 2, 4, 8, 4, 8, 1, 0, 0};
    for (size_t i = 0; i < N_TYPES; i++)
        ck_assert_msg(dlp__type_size(all_types[i]) == sizes[i],
                      "expected wire size %zu for %s, got %zu", sizes[i],
                      dlp_type_name(all_types[i]),
                      dlp__type_size(all_types[i]));
    ck_assert_uint_eq(dlp__type_size((dlp_type)99), 0);
}
END_TEST

START_TEST(test_type_classes)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        dlp_type t = all_types[i];
        int is_int = t >= DLP_T_I8 && t <= DLP_T_U64;
        int is_signed = t >= DLP_T_I8 && t <= DLP_T_I64;
        ck_assert_msg(!!dlp__type_is_int(t) == is_int,
                      "expected dlp__type_is_int(%s) to be %d", dlp_type_name(t),
                      is_int);
        ck_assert_msg(!!dlp__type_is_signed(t) == is_signed,
                      "expected dlp__type_is_signed(%s) to be %d",
                      dlp_type_name(t), is_signed);
    }
}
END_TEST

START_TEST(test_type_range)
{
    static const struct {
        dlp_type t;
        int64_t min;
        uint64_t max;
    } want[] = {
        {DLP_T_I8, INT8_MIN, INT8_MAX},
        {DLP_T_I16, INT16_MIN, INT16_MAX},
        {DLP_T_I32, INT32_MIN, INT32_MAX},
        {DLP_T_I64, INT64_MIN, INT64_MAX},
        {DLP_T_U8, 0, UINT8_MAX},
        {DLP_T_U16, 0, UINT16_MAX},
        {DLP_T_U32, 0, UINT32_MAX},
        {DLP_T_U64, 0, UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int64_t min = 1;
        uint64_t max = 0;
        dlp__type_range(want[i].t, &min, &max);
        ck_assert_msg(min == want[i].min && max == want[i].max,
                      "expected range [%lld, %llu] for %s, got [%lld, %llu]",
                      (long long)want[i].min, (unsigned long long)want[i].max,
                      dlp_type_name(want[i].t), (long long)min,
                      (unsigned long long)max);
    }
}
END_TEST

START_TEST(test_every_type_as_argument)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        dlp_type t = all_types[i];
        char text[64];
        dlp_sig sig;
        if (t == DLP_T_VOID)
            continue; /* As an argument, void means "no arguments". */
        snprintf(text, sizeof text, "i64(%s)", dlp_type_name(t));
        sig = parse_ok(text);
        ck_assert_int_eq(sig.ret, DLP_T_I64);
        ck_assert(!sig.ret_owned);
        ck_assert_uint_eq(sig.nargs, 1);
        ck_assert_msg(sig.args[0] == t, "'%s': expected argument %s, got %s",
                      text, dlp_type_name(t), dlp_type_name(sig.args[0]));
    }
}
END_TEST

START_TEST(test_every_type_as_return)
{
    for (size_t i = 0; i < N_TYPES; i++) {
        dlp_type t = all_types[i];
        char text[64];
        dlp_sig sig;
        if (t == DLP_T_BYTES)
            continue; /* A bytes return is an error: test_bytes_return. */
        snprintf(text, sizeof text, "%s(i32)", dlp_type_name(t));
        sig = parse_ok(text);
        ck_assert_msg(sig.ret == t, "'%s': expected return %s, got %s", text,
                      dlp_type_name(t), dlp_type_name(sig.ret));
        ck_assert_msg(!sig.ret_owned, "'%s': expected a borrowed return",
                      text);
        ck_assert_uint_eq(sig.nargs, 1);
        ck_assert_int_eq(sig.args[0], DLP_T_I32);
    }
}
END_TEST

START_TEST(test_all_types_in_one)
{
    dlp_sig sig = parse_ok(
        "void(i8,i16,i32,i64,u8,u16,u32,u64,f32,f64,bool,str,bytes)");
    ck_assert_int_eq(sig.ret, DLP_T_VOID);
    ck_assert_uint_eq(sig.nargs, N_TYPES - 1);
    for (unsigned i = 0; i < sig.nargs; i++)
        ck_assert_msg(sig.args[i] == all_types[i + 1],
                      "argument %u: expected %s, got %s", i,
                      dlp_type_name(all_types[i + 1]),
                      dlp_type_name(sig.args[i]));
}
END_TEST

START_TEST(test_owned_str)
{
    dlp_sig sig = parse_ok("str!(str)");
    ck_assert_int_eq(sig.ret, DLP_T_STR);
    ck_assert_msg(sig.ret_owned, "expected 'str!(str)' to have an owned "
                                 "return");
    ck_assert_uint_eq(sig.nargs, 1);
    ck_assert_int_eq(sig.args[0], DLP_T_STR);

    sig = parse_ok("str(str)");
    ck_assert_msg(!sig.ret_owned, "expected 'str(str)' to have a borrowed "
                                  "return");
}
END_TEST

START_TEST(test_no_arguments)
{
    /* The three spellings of "no arguments" mean the same thing. */
    static const char *const texts[] = {"i64()", "i64(void)", "i64( )",
                                        "i64( void )", " i64 ( \t) "};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        dlp_sig sig = parse_ok(texts[i]);
        ck_assert_msg(sig.ret == DLP_T_I64 && sig.nargs == 0,
                      "'%s': expected i64 with no arguments, got %s with %u",
                      texts[i], dlp_type_name(sig.ret), sig.nargs);
    }
    dlp_sig v = parse_ok("void(void)");
    ck_assert_int_eq(v.ret, DLP_T_VOID);
    ck_assert_uint_eq(v.nargs, 0);
}
END_TEST

START_TEST(test_spaces)
{
    /* Spaces, tabs and newlines may stand between any two tokens, because
     * signatures come from command lines and hand-written manifests. */
    static const char *const texts[] = {
        "i64(i64,bytes)",
        " i64(i64,bytes)",
        "i64 (i64,bytes)",
        "i64( i64,bytes)",
        "i64(i64 ,bytes)",
        "i64(i64, bytes)",
        "i64(i64,bytes )",
        "i64(i64,bytes) ",
        "\t i64 \r\n(\n i64\t,\tbytes\r\n)\n \t",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        dlp_sig sig = parse_ok(texts[i]);
        ck_assert_msg(sig.ret == DLP_T_I64 && sig.nargs == 2 &&
                          sig.args[0] == DLP_T_I64 &&
                          sig.args[1] == DLP_T_BYTES,
                      "'%s': expected i64(i64,bytes), got %s", texts[i],
                      format(&sig));
    }
    dlp_sig o = parse_ok("  str! ( str , str )  ");
    ck_assert_msg(o.ret == DLP_T_STR && o.ret_owned && o.nargs == 2,
                  "expected str!(str,str), got %s", format(&o));
    /* A space between str and its '!' is a space like any other. */
    o = parse_ok("str !(str)");
    ck_assert_msg(o.ret == DLP_T_STR && o.ret_owned && o.nargs == 1,
                  "'str !(str)': expected str!(str), got %s", format(&o));
}
END_TEST

START_TEST(test_bytes_arguments)
{
    dlp_sig sig = parse_ok("u64(bytes)");
    ck_assert_int_eq(sig.ret, DLP_T_U64);
    ck_assert_uint_eq(sig.nargs, 1);
    ck_assert_int_eq(sig.args[0], DLP_T_BYTES);

    sig = parse_ok("str!(bytes,i32,bytes)");
    ck_assert_uint_eq(sig.nargs, 3);
    ck_assert_int_eq(sig.args[0], DLP_T_BYTES);
    ck_assert_int_eq(sig.args[1], DLP_T_I32);
    ck_assert_int_eq(sig.args[2], DLP_T_BYTES);
}
END_TEST

START_TEST(test_format_canonical)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"i64(i64,i64)", "i64(i64,i64)"},
        {" i64 ( i64 , i64 ) ", "i64(i64,i64)"},
        {"str!(str)", "str!(str)"},
        {"i64(void)", "i64()"},
        {"void( )", "void()"},
        {"u64(bytes)", "u64(bytes)"},
        {"bool(f32,f64,u8)", "bool(f32,f64,u8)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dlp_sig sig = parse_ok(cases[i].in);
        ck_assert_str_eq(format(&sig), cases[i].out);
    }
}
END_TEST

START_TEST(test_format_round_trip)
{
    static const char *const texts[] = {
        "void()",
        "i8(i8)",
        "i16(i16,i16)",
        "i32(i32,i32,i32)",
        "i64(i64,i64)",
        "u8(u8)",
        "u16(u16)",
        "u32(u32)",
        "u64(bytes)",
        "f32(f32,f64)",
        "f64(f64)",
        "bool(bool)",
        "str(str)",
        "str!(str)",
        "str!(bytes,str,i64)",
        "void(i8,i16,i32,i64,u8,u16,u32,u64,f32,f64,bool,str,bytes)",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        dlp_sig a = parse_ok(texts[i]);
        const char *out = format(&a);
        dlp_sig b;
        ck_assert_str_eq(out, texts[i]);
        b = parse_ok(out);
        ck_assert_msg(dlp__sig_equal(&a, &b),
                      "'%s': parsing its own format gave a different "
                      "signature (%s)",
                      texts[i], format(&b));
    }
}
END_TEST

START_TEST(test_format_round_trip_random)
{
    /* parse(format(sig)) == sig over many generated signatures, including
     * every length up to the limit. */
    rng_state = 0x9e3779b97f4a7c15u;
    for (unsigned iter = 0; iter < 20000; iter++) {
        dlp_sig a, b;
        dlp_error err = {0, ""};
        char text[512];
        int n, rc;
        memset(&a, 0, sizeof a);
        /* Any type but bytes may be returned. */
        a.ret = (dlp_type)(rng() % DLP_T_BYTES);
        a.ret_owned = a.ret == DLP_T_STR && (rng() & 1);
        a.nargs = (unsigned)(iter % (DLP_MAX_ARGS + 1));
        for (unsigned i = 0; i < a.nargs; i++)
            a.args[i] = (dlp_type)(DLP_T_I8 + rng() % (DLP_T_BYTES));
        n = dlp_sig_format(&a, text, sizeof text);
        if (n < 0 || (size_t)n >= sizeof text)
            ck_abort_msg("iteration %u: dlp_sig_format returned %d", iter, n);
        rc = dlp_sig_parse(text, &b, &err);
        if (rc != 0)
            ck_abort_msg("iteration %u: '%s' did not parse back: %d (%s): %s",
                         iter, text, rc, dlp_strerror(rc), err.msg);
        if (!dlp__sig_equal(&a, &b))
            ck_abort_msg("iteration %u: '%s' parsed back to a different "
                         "signature",
                         iter, text);
    }
}
END_TEST

START_TEST(test_format_truncates)
{
    dlp_sig sig = parse_ok("str!(i64,bytes)");
    const char *full = "str!(i64,bytes)";
    int want = (int)strlen(full);
    char buf[8];

    /* Like snprintf: the needed length comes back whatever the size, and
     * the buffer holds a NUL-terminated prefix. */
    ck_assert_int_eq(dlp_sig_format(&sig, NULL, 0), want);
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(dlp_sig_format(&sig, buf, 0), want);
    ck_assert_msg(buf[0] == 'x', "expected size 0 to leave the buffer "
                                 "alone");
    ck_assert_int_eq(dlp_sig_format(&sig, buf, 1), want);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(dlp_sig_format(&sig, buf, sizeof buf), want);
    ck_assert_str_eq(buf, "str!(i6");
    for (size_t size = 1; size <= (size_t)want + 1; size++) {
        char *b = malloc(size);
        ck_assert_ptr_nonnull(b);
        ck_assert_int_eq(dlp_sig_format(&sig, b, size), want);
        ck_assert_uint_eq(strlen(b), size - 1 < (size_t)want ? size - 1
                                                             : (size_t)want);
        ck_assert_int_eq(strncmp(b, full, size - 1), 0);
        free(b);
    }
}
END_TEST

START_TEST(test_sig_equal)
{
    dlp_sig a = parse_ok("i64(i64,str)");
    dlp_sig b = parse_ok("i64 ( i64 , str )");
    dlp_sig c;
    ck_assert_msg(dlp__sig_equal(&a, &b), "expected equal signatures");

    c = a;
    c.ret = DLP_T_U64;
    ck_assert_msg(!dlp__sig_equal(&a, &c), "expected a different return to "
                                           "differ");
    c = a;
    c.args[1] = DLP_T_BYTES;
    ck_assert_msg(!dlp__sig_equal(&a, &c), "expected a different argument "
                                           "to differ");
    c = a;
    c.nargs = 1;
    ck_assert_msg(!dlp__sig_equal(&a, &c), "expected fewer arguments to "
                                           "differ");

    a = parse_ok("str!(str)");
    c = parse_ok("str(str)");
    ck_assert_msg(!dlp__sig_equal(&a, &c), "expected str! and str to differ");

    /* Slots past nargs are not part of the signature. */
    a = parse_ok("i64(i64)");
    c = a;
    c.args[5] = DLP_T_STR;
    ck_assert_msg(dlp__sig_equal(&a, &c), "expected unused argument slots to "
                                          "be ignored");
}
END_TEST

START_TEST(test_null_err)
{
    /* err is optional on failure as well as on success. */
    dlp_sig sig;
    ck_assert_int_eq(dlp_sig_parse("i64(i64)", &sig, NULL), 0);
    ck_assert_int_eq(dlp_sig_parse("i64(int)", &sig, NULL), DLP_ESIG);
    ck_assert_int_eq(dlp_sig_parse(NULL, &sig, NULL), DLP_EINVAL);
}
END_TEST

/* ---- limits ----------------------------------------------------------- */

/* Build "RET(T,T,...)" with n arguments, separated by sep. */
static void many_args(char *buf, size_t size, unsigned n, const char *type,
                      const char *sep)
{
    size_t len = (size_t)snprintf(buf, size, "i32(");
    for (unsigned i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? sep : "",
                                type);
    snprintf(buf + len, size - len, ")");
}

START_TEST(test_max_args)
{
    char text[1024];
    dlp_sig sig;
    ck_assert_int_eq(DLP_MAX_ARGS, 32);
    many_args(text, sizeof text, DLP_MAX_ARGS, "u16", ",");
    sig = parse_ok(text);
    ck_assert_uint_eq(sig.nargs, DLP_MAX_ARGS);
    for (unsigned i = 0; i < DLP_MAX_ARGS; i++)
        ck_assert_int_eq(sig.args[i], DLP_T_U16);
    ck_assert_str_eq(format(&sig), text);

    many_args(text, sizeof text, DLP_MAX_ARGS, "bytes", " , ");
    sig = parse_ok(text);
    ck_assert_uint_eq(sig.nargs, DLP_MAX_ARGS);
    ck_assert_int_eq(sig.args[DLP_MAX_ARGS - 1], DLP_T_BYTES);
}
END_TEST

START_TEST(test_too_many_args)
{
    char text[1024];
    /* "i32(" is 4 columns and each "u16," 4 more: argument 33 starts at
     * column 5 + 32 * 4. */
    many_args(text, sizeof text, DLP_MAX_ARGS + 1, "u16", ",");
    parse_fails(text, 5 + DLP_MAX_ARGS * 4, "more than 32 arguments");
    many_args(text, sizeof text, 100, "i8", ",");
    parse_fails(text, 5 + DLP_MAX_ARGS * 3, "more than 32 arguments");
}
END_TEST

START_TEST(test_long_text)
{
    /* A name far longer than the message buffer must not overflow it. */
    size_t n = 4000;
    char *text = malloc(n + 8);
    dlp_error err = {0, ""};
    dlp_sig sig;
    int rc;
    ck_assert_ptr_nonnull(text);
    memcpy(text, "i64(", 4);
    memset(text + 4, 'q', n);
    memcpy(text + 4 + n, ")", 2);
    rc = dlp_sig_parse(text, &sig, &err);
    ck_assert_msg(rc == DLP_ESIG, "expected DLP_ESIG, got %d (%s): %s", rc,
                  dlp_strerror(rc), err.msg);
    ck_assert_uint_lt(strlen(err.msg), sizeof err.msg);
    ck_assert_msg(strstr(err.msg, "signature 'i64(qqq") == err.msg,
                  "expected the message to start by quoting the signature, "
                  "got: %.80s",
                  err.msg);
    free(text);
}
END_TEST

/* ---- errors ----------------------------------------------------------- */

START_TEST(test_unknown_type)
{
    parse_fails("i64(i64,int)", 9, "unknown type 'int'");
    parse_fails("int(i64)", 1, "unknown type 'int'");
    parse_fails("  long(i64)", 3, "unknown type 'long'");
    /* Type names are case-sensitive. */
    parse_fails("i64(I64)", 5, "unknown type 'I64'");
    parse_fails("i64(i128)", 5, "unknown type 'i128'");
    parse_fails("i64(string)", 5, "unknown type 'string'");
    parse_fails("i64(i64, str, float)", 15, "unknown type 'float'");
    /* The known types are listed, to help whoever typed it. */
    parse_fails("i64(int)", 5, "known: i8 i16 i32 i64");
}
END_TEST

START_TEST(test_expected_type)
{
    parse_fails("(i64)", 1, "expected a type");
    parse_fails("i64(i64,%)", 9, "found '%'");
    parse_fails("i64(-)", 5, "found '-'");
}
END_TEST

START_TEST(test_missing_open)
{
    parse_fails("i64", 4, "expected '('");
    parse_fails("i64", 4, "end of signature");
    parse_fails("i64 i64)", 5, "expected '('");
    parse_fails("i64)", 4, "expected '('");
    parse_fails("i64[i64]", 4, "must be followed by ']'");
    parse_fails("str!", 5, "expected '('");
}
END_TEST

START_TEST(test_missing_close)
{
    parse_fails("i64(", 5, "end of signature");
    parse_fails("i64(i64", 8, "expected ',' or ')'");
    parse_fails("i64(i64", 8, "end of signature");
    parse_fails("i64(i64,i64", 12, "expected ',' or ')'");
    parse_fails("i64(i64 i64)", 9, "expected ',' or ')'");
    parse_fails("i64(i64;i64)", 8, "expected ',' or ')'");
    parse_fails("i64(void", 5, "void");
}
END_TEST

START_TEST(test_trailing_junk)
{
    parse_fails("i64(i64)x", 9, "unexpected 'x'");
    parse_fails("i64(i64) x", 10, "unexpected 'x'");
    parse_fails("i64(i64))", 9, "unexpected ')'");
    parse_fails("i64(i64)(i64)", 9, "unexpected '('");
    parse_fails("i64() ;", 7, "unexpected ';'");
}
END_TEST

START_TEST(test_empty_argument)
{
    parse_fails("i64(i64,,i64)", 9, "found ','");
    parse_fails("i64(,i64)", 5, "found ','");
    parse_fails("i64(i64,)", 9, "found ')'");
    parse_fails("i64(i64, )", 10, "found ')'");
    parse_fails("i64(i64, ,i64)", 10, "found ','");
}
END_TEST

START_TEST(test_bytes_return)
{
    parse_fails("bytes(i64)", 1, "bytes cannot be a return type");
    parse_fails("  bytes()", 3, "bytes cannot be a return type");
}
END_TEST

START_TEST(test_owned_non_str)
{
    parse_fails("i64!(i64)", 4, "'!'");
    parse_fails("void!()", 5, "only a str return can be owned");
    parse_fails("bytes!(i64)", 6, "only a str return can be owned");
    parse_fails(" f64!()", 5, "'!'");
}
END_TEST

START_TEST(test_owned_argument)
{
    parse_fails("str(str!)", 8, "only a return type can be owned");
    parse_fails("i64(i64, str!, i64)", 13, "'!'");
    parse_fails("str!(i64!)", 9, "only a return type can be owned");
}
END_TEST

START_TEST(test_void_among_args)
{
    parse_fails("i64(i64,void)", 9, "void");
    parse_fails("i64(void,i64)", 5, "only be the whole argument list");
    parse_fails("i64(void, void)", 5, "only be the whole argument list");
    parse_fails("i64(i64, void, i64)", 10, "only be the whole argument list");
}
END_TEST

START_TEST(test_empty)
{
    parse_fails("", 1, "end of signature");
    parse_fails("   ", 4, "end of signature");
    parse_fails("\t\n", 3, "expected a type");
}
END_TEST

START_TEST(test_null_arguments)
{
    dlp_sig sig;
    dlp_error err = {0, ""};
    int rc = dlp_sig_parse(NULL, &sig, &err);
    ck_assert_msg(rc == DLP_EINVAL, "expected DLP_EINVAL for a NULL text, got "
                                    "%d (%s)",
                  rc, dlp_strerror(rc));
    ck_assert_int_eq(err.code, DLP_EINVAL);
    ck_assert_msg(strstr(err.msg, "NULL") != NULL,
                  "expected the message to name the NULL argument, got: %s",
                  err.msg);
    memset(&err, 0, sizeof err);
    rc = dlp_sig_parse("i64(i64)", NULL, &err);
    ck_assert_msg(rc == DLP_EINVAL, "expected DLP_EINVAL for a NULL output, "
                                    "got %d (%s)",
                  rc, dlp_strerror(rc));
    ck_assert_int_eq(err.code, DLP_EINVAL);
}
END_TEST

/* ---- values, arrays and channels -------------------------------------- */

/* The numeric types: those that have arrays. */
static const dlp_type num_types[] = {
    DLP_T_I8,  DLP_T_I16, DLP_T_I32, DLP_T_I64, DLP_T_U8,
    DLP_T_U16, DLP_T_U32, DLP_T_U64, DLP_T_F32, DLP_T_F64,
};
#define N_NUM (sizeof num_types / sizeof num_types[0])

START_TEST(test_array_names)
{
    static const char *const names[] = {"i8[]",  "i16[]", "i32[]", "i64[]",
                                        "u8[]",  "u16[]", "u32[]", "u64[]",
                                        "f32[]", "f64[]"};
    for (size_t i = 0; i < N_NUM; i++) {
        dlp_type a = DLP_T_ARRAY_OF(num_types[i]);
        ck_assert_msg(DLP_T_IS_ARRAY(a) && DLP_T_ELEM(a) == num_types[i],
                      "%s[]: expected an array of its element type",
                      dlp_type_name(num_types[i]));
        ck_assert_str_eq(dlp_type_name(a), names[i]);
        /* An array has no fixed wire size and is no number itself. */
        ck_assert_uint_eq(dlp__type_size(a), 0);
        ck_assert_int_eq(dlp__type_is_num(a), 0);
        ck_assert_int_eq(dlp__type_is_int(a), 0);
        ck_assert_int_eq(dlp__type_is_num(num_types[i]), 1);
    }
    ck_assert_str_eq(dlp_type_name(DLP_T_VAL), "val");
    ck_assert_str_eq(dlp_type_name(DLP_T_CHAN), "chan");
    ck_assert_int_eq(dlp__type_is_num(DLP_T_BOOL), 0);
    ck_assert_int_eq(dlp__type_is_num(DLP_T_VAL), 0);
    /* Arrays the language has no name for print as a placeholder. */
    ck_assert_str_eq(dlp_type_name(DLP_T_ARRAY_OF(DLP_T_VOID)), "?");
    ck_assert_str_eq(dlp_type_name(DLP_T_ARRAY_OF(DLP_T_BOOL)), "?");
    ck_assert_str_eq(dlp_type_name(DLP_T_ARRAY_OF(DLP_T_STR)), "?");
    ck_assert_str_eq(dlp_type_name(DLP_T_ARRAY_OF(DLP_T_VAL)), "?");
    ck_assert_str_eq(dlp_type_name(DLP_T_ARRAY_OF(DLP_T_CHAN)), "?");
    ck_assert_str_eq(dlp_type_name(DLP_T_ARRAY_OF((dlp_type)0x7f)), "?");
}
END_TEST

START_TEST(test_array_arguments)
{
    /* Every T[] parses as an argument and formats back as written. */
    for (size_t i = 0; i < N_NUM; i++) {
        char text[64];
        dlp_sig sig;
        snprintf(text, sizeof text, "i64(%s[])", dlp_type_name(num_types[i]));
        sig = parse_ok(text);
        ck_assert_uint_eq(sig.nargs, 1);
        ck_assert_msg(sig.args[0] == DLP_T_ARRAY_OF(num_types[i]),
                      "'%s': expected argument %s[], got %s (%d)", text,
                      dlp_type_name(num_types[i]), dlp_type_name(sig.args[0]),
                      (int)sig.args[0]);
        ck_assert_str_eq(format(&sig), text);
    }
    /* Among others, with spaces anywhere between tokens. */
    {
        dlp_sig sig = parse_ok(" f64 ( u8 [ ] , str , f32[] , i64 ) ");
        ck_assert_uint_eq(sig.nargs, 4);
        ck_assert_int_eq(sig.args[0], DLP_T_ARRAY_OF(DLP_T_U8));
        ck_assert_int_eq(sig.args[1], DLP_T_STR);
        ck_assert_int_eq(sig.args[2], DLP_T_ARRAY_OF(DLP_T_F32));
        ck_assert_int_eq(sig.args[3], DLP_T_I64);
        ck_assert_str_eq(format(&sig), "f64(u8[],str,f32[],i64)");
    }
    /* As many arrays as arguments may be. */
    {
        char text[1024];
        dlp_sig sig;
        many_args(text, sizeof text, DLP_MAX_ARGS, "i16[]", ",");
        sig = parse_ok(text);
        ck_assert_uint_eq(sig.nargs, DLP_MAX_ARGS);
        ck_assert_int_eq(sig.args[DLP_MAX_ARGS - 1],
                         DLP_T_ARRAY_OF(DLP_T_I16));
        ck_assert_str_eq(format(&sig), text);
    }
}
END_TEST

START_TEST(test_val_types)
{
    static const char *const texts[] = {
        "val(val)", "val()", "void(val)", "i64(val,val)",
        "val(i64[],val,str,bytes,bool)", "str!(val)",
    };
    dlp_sig sig = parse_ok("val(val)");
    ck_assert_int_eq(sig.ret, DLP_T_VAL);
    ck_assert(!sig.ret_owned);
    ck_assert_uint_eq(sig.nargs, 1);
    ck_assert_int_eq(sig.args[0], DLP_T_VAL);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        dlp_sig a = parse_ok(texts[i]), b;
        ck_assert_str_eq(format(&a), texts[i]);
        b = parse_ok(format(&a));
        ck_assert_msg(dlp__sig_equal(&a, &b), "'%s' did not parse back to "
                                              "itself",
                      texts[i]);
    }
    sig = parse_ok(" val ( i8 , val ) ");
    ck_assert_int_eq(sig.ret, DLP_T_VAL);
    ck_assert_int_eq(sig.args[1], DLP_T_VAL);
}
END_TEST

START_TEST(test_chan_process)
{
    dlp_sig sig = parse_ok("i32(chan)");
    ck_assert_int_eq(sig.ret, DLP_T_I32);
    ck_assert_uint_eq(sig.nargs, 1);
    ck_assert_int_eq(sig.args[0], DLP_T_CHAN);
    ck_assert_str_eq(format(&sig), "i32(chan)");
    sig = parse_ok("  i32 ( chan )  ");
    ck_assert_int_eq(sig.args[0], DLP_T_CHAN);
    ck_assert_str_eq(format(&sig), "i32(chan)");
}
END_TEST

START_TEST(test_format_round_trip_new_types)
{
    /* parse(format(sig)) == sig over generated signatures that mix val
     * and arrays with the older types. */
    rng_state = 0x5851f42d4c957f2du;
    for (unsigned iter = 0; iter < 20000; iter++) {
        dlp_sig a, b;
        dlp_error err = {0, ""};
        char text[512];
        int n, rc;
        memset(&a, 0, sizeof a);
        a.ret = rng() % 4 == 0 ? DLP_T_VAL
                               : (dlp_type)(rng() % DLP_T_BYTES);
        a.ret_owned = a.ret == DLP_T_STR && (rng() & 1);
        a.nargs = (unsigned)(iter % (DLP_MAX_ARGS + 1));
        for (unsigned i = 0; i < a.nargs; i++) {
            switch (rng() % 3) {
            case 0:
                a.args[i] = DLP_T_ARRAY_OF(num_types[rng() % N_NUM]);
                break;
            case 1:
                a.args[i] = DLP_T_VAL;
                break;
            default:
                a.args[i] = (dlp_type)(DLP_T_I8 + rng() % DLP_T_BYTES);
            }
        }
        n = dlp_sig_format(&a, text, sizeof text);
        if (n < 0 || (size_t)n >= sizeof text)
            ck_abort_msg("iteration %u: dlp_sig_format returned %d", iter, n);
        rc = dlp_sig_parse(text, &b, &err);
        if (rc != 0)
            ck_abort_msg("iteration %u: '%s' did not parse back: %d (%s): %s",
                         iter, text, rc, dlp_strerror(rc), err.msg);
        if (!dlp__sig_equal(&a, &b))
            ck_abort_msg("iteration %u: '%s' parsed back to a different "
                         "signature",
                         iter, text);
    }
}
END_TEST

START_TEST(test_array_of_non_numeric)
{
    /* Only numbers have arrays; the message names the column of '['. */
    parse_fails("i64(str[])", 8, "only numeric types have arrays");
    parse_fails("i64(str[])", 8, "str");
    parse_fails("i64(bool[])", 9, "only numeric types have arrays");
    parse_fails("i64(val[])", 8, "only numeric types have arrays");
    parse_fails("i64(bytes[])", 10, "only numeric types have arrays");
    parse_fails("i64(void[])", 9, "only numeric types have arrays");
    parse_fails("i64(chan[])", 9, "only numeric types have arrays");
    parse_fails("i64(i64, str [])", 14, "only numeric types have arrays");
    parse_fails("val[](i64)", 4, "only numeric types have arrays");
}
END_TEST

START_TEST(test_array_unclosed)
{
    parse_fails("i64(i64[", 8, "must be followed by ']'");
    parse_fails("i64(i64[x])", 8, "must be followed by ']'");
    parse_fails("i64(i64[3])", 8, "must be followed by ']'");
    parse_fails("i64(i64[)", 8, "must be followed by ']'");
    parse_fails("i64(u8, f32 [ ,i64)", 13, "must be followed by ']'");
    /* One pair of brackets: an array of arrays is not a type. */
    parse_fails("i64(i64[][])", 10, "expected ',' or ')'");
    parse_fails("i64(i64])", 8, "expected ',' or ')'");
}
END_TEST

START_TEST(test_array_return)
{
    /* Arrays are arguments only: a function returns a val instead. */
    for (size_t i = 0; i < N_NUM; i++) {
        char text[64];
        snprintf(text, sizeof text, "%s[](i64)", dlp_type_name(num_types[i]));
        parse_fails(text, 1, "cannot be a return type");
        parse_fails(text, 1, dlp_type_name(DLP_T_ARRAY_OF(num_types[i])));
    }
    parse_fails("  f64 [] ()", 3, "f64[] cannot be a return type");
    parse_fails("i64[](i64)", 1, "return a val");
}
END_TEST

START_TEST(test_chan_misplaced)
{
    /* A channel is the one argument of an i32 process function. */
    parse_fails("chan(i64)", 1, "chan cannot be a return type");
    parse_fails("chan()", 1, "chan cannot be a return type");
    parse_fails("i32(chan,i64)", 5, "i32(chan)");
    parse_fails("i32(chan, chan)", 5, "i32(chan)");
    parse_fails("i64(chan)", 5, "i32(chan)");
    parse_fails("void(chan)", 6, "i32(chan)");
    parse_fails("val(chan)", 5, "i32(chan)");
    parse_fails("u32( chan )", 6, "i32(chan)");
    parse_fails("i32(i64,chan)", 9, "i32(chan)");
    parse_fails("i32(i64, chan)", 10, "chan at column 10");
}
END_TEST

Suite *dlp_test_sig(void);

Suite *dlp_test_sig(void)
{
    Suite *s = suite_create("sig");
    TCase *core = tcase_create("core");
    TCase *limits = tcase_create("limits");
    TCase *errors = tcase_create("errors");

    tcase_add_test(core, test_type_names);
    tcase_add_test(core, test_type_size);
    tcase_add_test(core, test_type_classes);
    tcase_add_test(core, test_type_range);
    tcase_add_test(core, test_every_type_as_argument);
    tcase_add_test(core, test_every_type_as_return);
    tcase_add_test(core, test_all_types_in_one);
    tcase_add_test(core, test_owned_str);
    tcase_add_test(core, test_no_arguments);
    tcase_add_test(core, test_spaces);
    tcase_add_test(core, test_bytes_arguments);
    tcase_add_test(core, test_format_canonical);
    tcase_add_test(core, test_format_round_trip);
    tcase_add_test(core, test_format_round_trip_random);
    tcase_add_test(core, test_format_truncates);
    tcase_add_test(core, test_sig_equal);
    tcase_add_test(core, test_null_err);
    tcase_add_test(core, test_array_names);
    tcase_add_test(core, test_array_arguments);
    tcase_add_test(core, test_val_types);
    tcase_add_test(core, test_chan_process);
    tcase_add_test(core, test_format_round_trip_new_types);
    suite_add_tcase(s, core);

    tcase_add_test(limits, test_max_args);
    tcase_add_test(limits, test_too_many_args);
    tcase_add_test(limits, test_long_text);
    suite_add_tcase(s, limits);

    tcase_add_test(errors, test_unknown_type);
    tcase_add_test(errors, test_expected_type);
    tcase_add_test(errors, test_missing_open);
    tcase_add_test(errors, test_missing_close);
    tcase_add_test(errors, test_trailing_junk);
    tcase_add_test(errors, test_empty_argument);
    tcase_add_test(errors, test_bytes_return);
    tcase_add_test(errors, test_owned_non_str);
    tcase_add_test(errors, test_owned_argument);
    tcase_add_test(errors, test_void_among_args);
    tcase_add_test(errors, test_empty);
    tcase_add_test(errors, test_null_arguments);
    tcase_add_test(errors, test_array_of_non_numeric);
    tcase_add_test(errors, test_array_unclosed);
    tcase_add_test(errors, test_array_return);
    tcase_add_test(errors, test_chan_misplaced);
    suite_add_tcase(s, errors);
    return s;
}

TU_MAIN(dlp_test_sig)
