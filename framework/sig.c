/*
 * sig.c - parsing and printing the signature language.
 *
 *   sig   := ws type ws ['!'] ws '(' ws [ args ] ws ')' ws
 *   args  := 'void' | type ws { ',' ws type ws }
 *
 * Errors name the 1-based column of the offending character, because a
 * signature is typed by hand on a command line or in a manifest.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "sig.h"

static const struct {
    const char *name;
    dlp_type type;
} type_names[] = {
    {"void", DLP_T_VOID}, {"i8", DLP_T_I8},     {"i16", DLP_T_I16},
    {"i32", DLP_T_I32},   {"i64", DLP_T_I64},   {"u8", DLP_T_U8},
    {"u16", DLP_T_U16},   {"u32", DLP_T_U32},   {"u64", DLP_T_U64},
    {"f32", DLP_T_F32},   {"f64", DLP_T_F64},   {"bool", DLP_T_BOOL},
    {"str", DLP_T_STR},   {"bytes", DLP_T_BYTES}, {"val", DLP_T_VAL},
    {"chan", DLP_T_CHAN},
};

/* The names of the array types, indexed by element type. */
static const char *const array_names[] = {
    [DLP_T_I8] = "i8[]",   [DLP_T_I16] = "i16[]", [DLP_T_I32] = "i32[]",
    [DLP_T_I64] = "i64[]", [DLP_T_U8] = "u8[]",   [DLP_T_U16] = "u16[]",
    [DLP_T_U32] = "u32[]", [DLP_T_U64] = "u64[]", [DLP_T_F32] = "f32[]",
    [DLP_T_F64] = "f64[]",
};

DLP_API const char *dlp_type_name(dlp_type t)
{
    if (DLP_T_IS_ARRAY(t)) {
        unsigned e = (unsigned)DLP_T_ELEM(t);
        return e < sizeof array_names / sizeof array_names[0] &&
                       array_names[e]
                   ? array_names[e]
                   : "?";
    }
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++)
        if (type_names[i].type == t)
            return type_names[i].name;
    return "?";
}

int dlp__type_is_num(dlp_type t)
{
    return t >= DLP_T_I8 && t <= DLP_T_F64;
}

size_t dlp__type_size(dlp_type t)
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

int dlp__type_is_int(dlp_type t)
{
    return t >= DLP_T_I8 && t <= DLP_T_U64;
}

int dlp__type_is_signed(dlp_type t)
{
    return t >= DLP_T_I8 && t <= DLP_T_I64;
}

void dlp__type_range(dlp_type t, int64_t *min, uint64_t *max)
{
    switch (t) {
    case DLP_T_I8:
        *min = INT8_MIN, *max = INT8_MAX;
        break;
    case DLP_T_I16:
        *min = INT16_MIN, *max = INT16_MAX;
        break;
    case DLP_T_I32:
        *min = INT32_MIN, *max = INT32_MAX;
        break;
    case DLP_T_I64:
        *min = INT64_MIN, *max = INT64_MAX;
        break;
    case DLP_T_U8:
        *min = 0, *max = UINT8_MAX;
        break;
    case DLP_T_U16:
        *min = 0, *max = UINT16_MAX;
        break;
    case DLP_T_U32:
        *min = 0, *max = UINT32_MAX;
        break;
    default:
        *min = 0, *max = UINT64_MAX;
        break;
    }
}

int dlp__sig_equal(const dlp_sig *a, const dlp_sig *b)
{
    return a->ret == b->ret && a->ret_owned == b->ret_owned &&
           a->nargs == b->nargs &&
           memcmp(a->args, b->args, a->nargs * sizeof a->args[0]) == 0;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* Read one type name at *pp.  Returns 0 and the type, or DLP_ESIG. */
static int parse_type(const char *text, const char **pp, dlp_type *out,
                      dlp_error *err)
{
    const char *p = *pp, *start = p;
    while (is_word(*p))
        p++;
    if (p == start) {
        if (*p == '\0')
            return dlp__err(err, DLP_ESIG,
                            "signature '%s': expected a type at column %zu "
                            "(end of signature)",
                            text, (size_t)(p - text) + 1);
        return dlp__err(err, DLP_ESIG,
                        "signature '%s': expected a type at column %zu, "
                        "found '%c'",
                        text, (size_t)(p - text) + 1, *p);
    }
    for (size_t i = 0; i < sizeof type_names / sizeof type_names[0]; i++) {
        if (strlen(type_names[i].name) == (size_t)(p - start) &&
            memcmp(type_names[i].name, start, (size_t)(p - start)) == 0) {
            const char *q = p;
            *out = type_names[i].type;
            while (is_space(*q))
                q++;
            if (*q == '[') {
                const char *open = q;
                q++;
                while (is_space(*q))
                    q++;
                if (*q != ']')
                    return dlp__err(err, DLP_ESIG,
                                    "signature '%s': '[' at column %zu must "
                                    "be followed by ']' (an array type, "
                                    "such as i64[])",
                                    text, (size_t)(open - text) + 1);
                if (!dlp__type_is_num(*out))
                    return dlp__err(err, DLP_ESIG,
                                    "signature '%s': '[]' at column %zu: "
                                    "only numeric types have arrays, not "
                                    "%s",
                                    text, (size_t)(open - text) + 1,
                                    type_names[i].name);
                *out = DLP_T_ARRAY_OF(*out);
                p = q + 1;
            }
            *pp = p;
            return 0;
        }
    }
    return dlp__err(err, DLP_ESIG,
                    "signature '%s': unknown type '%.*s' at column %zu "
                    "(known: i8 i16 i32 i64 u8 u16 u32 u64 f32 f64 bool "
                    "str bytes val void, and T[] for a numeric T)",
                    text, (int)(p - start), start, (size_t)(start - text) + 1);
}

static const char *skip_space(const char *p)
{
    while (is_space(*p))
        p++;
    return p;
}

#define COL(p) ((size_t)((p) - text) + 1)

DLP_API int dlp_sig_parse(const char *text, dlp_sig *out, dlp_error *err)
{
    dlp_sig sig;
    const char *p;
    int rc;

    if (!text || !out)
        return dlp__err(err, DLP_EINVAL, "dlp_sig_parse: NULL argument");
    memset(&sig, 0, sizeof sig);
    p = skip_space(text);
    if ((rc = parse_type(text, &p, &sig.ret, err)))
        return rc;
    p = skip_space(p); /* "str !" reads as "str!": spaces are free */
    if (*p == '!') {
        if (sig.ret != DLP_T_STR)
            return dlp__err(err, DLP_ESIG,
                            "signature '%s': '!' at column %zu: only a str "
                            "return can be owned (str!)",
                            text, COL(p));
        sig.ret_owned = true;
        p++;
    }
    if (sig.ret == DLP_T_BYTES)
        return dlp__err(err, DLP_ESIG,
                        "signature '%s': bytes cannot be a return type "
                        "(column %zu); return str, or str! for owned text",
                        text, COL(skip_space(text)));
    if (DLP_T_IS_ARRAY(sig.ret) || sig.ret == DLP_T_CHAN)
        return dlp__err(err, DLP_ESIG,
                        "signature '%s': %s cannot be a return type "
                        "(column %zu); return a val for structured results",
                        text, dlp_type_name(sig.ret), COL(skip_space(text)));
    p = skip_space(p);
    if (*p != '(')
        return dlp__err(err, DLP_ESIG,
                        "signature '%s': expected '(' at column %zu%s", text,
                        COL(p), *p ? "" : " (end of signature)");
    p = skip_space(p + 1);
    if (*p != ')') {
        for (;;) {
            const char *at = p;
            dlp_type t;
            if ((rc = parse_type(text, &p, &t, err)))
                return rc;
            if (*p == '!')
                return dlp__err(err, DLP_ESIG,
                                "signature '%s': '!' at column %zu: only a "
                                "return type can be owned",
                                text, COL(p));
            if (t == DLP_T_VOID) {
                /* void stands only as the whole argument list. */
                const char *q = skip_space(p);
                if (sig.nargs > 0 || *q != ')')
                    return dlp__err(err, DLP_ESIG,
                                    "signature '%s': void at column %zu can "
                                    "only be the whole argument list",
                                    text, COL(at));
                p = q;
                break;
            }
            if (t == DLP_T_CHAN && (sig.nargs > 0 || *skip_space(p) != ')' ||
                                    sig.ret != DLP_T_I32))
                return dlp__err(err, DLP_ESIG,
                                "signature '%s': chan at column %zu: a "
                                "process function is exactly i32(chan)",
                                text, COL(at));
            if (sig.nargs == DLP_MAX_ARGS)
                return dlp__err(err, DLP_ESIG,
                                "signature '%s': more than %d arguments "
                                "(column %zu)",
                                text, DLP_MAX_ARGS, COL(at));
            sig.args[sig.nargs++] = t;
            p = skip_space(p);
            if (*p == ',') {
                p = skip_space(p + 1);
                continue;
            }
            if (*p == ')')
                break;
            return dlp__err(err, DLP_ESIG,
                            "signature '%s': expected ',' or ')' at column "
                            "%zu%s",
                            text, COL(p), *p ? "" : " (end of signature)");
        }
    }
    p = skip_space(p + 1);
    if (*p)
        return dlp__err(err, DLP_ESIG,
                        "signature '%s': unexpected '%c' at column %zu after "
                        "the closing ')'",
                        text, *p, COL(p));
    *out = sig;
    return 0;
}

DLP_API int dlp_sig_format(const dlp_sig *sig, char *buf, size_t size)
{
    size_t n = 0;
    int w;
#define PUT(...)                                                               \
    do {                                                                       \
        w = snprintf(buf ? buf + (n < size ? n : size) : NULL,                 \
                     n < size ? size - n : 0, __VA_ARGS__);                    \
        if (w < 0)                                                             \
            return w;                                                          \
        n += (size_t)w;                                                        \
    } while (0)
    PUT("%s%s(", dlp_type_name(sig->ret), sig->ret_owned ? "!" : "");
    for (unsigned i = 0; i < sig->nargs; i++)
        PUT("%s%s", i ? "," : "", dlp_type_name(sig->args[i]));
    PUT(")");
#undef PUT
    return (int)n;
}
