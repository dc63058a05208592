/*
 * args.c - argument lists: the dlp_args_* calls that an iterator (or a
 * future's values) uses to encode one task's arguments by its signature,
 * checking each against its type, and lists encoded in advance (a
 * future's tasks, the initializer's call).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "sig.h"
#include "val.h"

static int args_vbad(dlp_args *a, const char *fmt, va_list ap)
{
    if (!a->bad) {
        a->bad = 1;
        if (vsnprintf(a->msg, sizeof a->msg, fmt, ap) >= (int)sizeof a->msg)
            dlp__utf8_trim(a->msg);
    }
    return DLP_EINVAL;
}

static int args_bad(dlp_args *a, const char *fmt, ...) DLP_FMT(2, 3);

static int args_bad(dlp_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    args_vbad(a, fmt, ap);
    va_end(ap);
    return DLP_EINVAL;
}

int dlp__args_bad(dlp_args *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    args_vbad(a, fmt, ap);
    va_end(ap);
    return DLP_EINVAL;
}

DLP_API int dlp_args_fail(dlp_args *a, const char *fmt, ...)
{
    if (a && !a->bad) {
        va_list ap;
        a->bad = 1;
        va_start(ap, fmt);
        if (vsnprintf(a->msg, sizeof a->msg, fmt, ap) >= (int)sizeof a->msg)
            dlp__utf8_trim(a->msg);
        va_end(ap);
    }
    return DLP_EINVAL;
}

DLP_API dlp_type dlp_args_next_type(const dlp_args *a)
{
    if (!a || a->argi >= a->sig->nargs)
        return DLP_T_VOID;
    return a->sig->args[a->argi];
}

/* The type of the next argument, or an error if there is none. */
static int arg_slot(dlp_args *a, dlp_type *t)
{
    if (a->bad)
        return DLP_EINVAL;
    if (a->argi >= a->sig->nargs)
        return args_bad(a, "too many arguments: the function takes %u",
                        a->sig->nargs);
    *t = a->sig->args[a->argi];
    return 0;
}

static int put_scalar(dlp_args *a, const void *p, size_t n)
{
    int rc = dlp__buf_put(a->b, p, n);
    if (rc)
        return args_bad(a, "out of memory");
    a->argi++;
    return 0;
}

static int put_int_as(dlp_args *a, dlp_type t, uint64_t bits)
{
    switch (dlp__type_size(t)) {
    case 1: {
        uint8_t v = (uint8_t)bits;
        return put_scalar(a, &v, 1);
    }
    case 2: {
        uint16_t v = (uint16_t)bits;
        return put_scalar(a, &v, 2);
    }
    case 4: {
        uint32_t v = (uint32_t)bits;
        return put_scalar(a, &v, 4);
    }
    default:
        return put_scalar(a, &bits, 8);
    }
}

static int put_float_as(dlp_args *a, dlp_type t, double v)
{
    if (t == DLP_T_F32) {
        float f = (float)v;
        if (isfinite(v) && !isfinite(f))
            return args_bad(a, "argument %u (f32): %g is out of range",
                            a->argi + 1, v);
        return put_scalar(a, &f, 4);
    }
    return put_scalar(a, &v, 8);
}

static const char *kind_of(dlp_type t)
{
    switch (t) {
    case DLP_T_BOOL:
        return "true or false";
    case DLP_T_STR:
    case DLP_T_BYTES:
        return "a string";
    case DLP_T_F32:
    case DLP_T_F64:
        return "a number";
    default:
        return DLP_T_IS_ARRAY(t) ? "an array of numbers" : "an integer";
    }
}

static int wrong_kind(dlp_args *a, dlp_type t, const char *got)
{
    return args_bad(a, "argument %u (%s): expected %s, got %s", a->argi + 1,
                    dlp_type_name(t), kind_of(t), got);
}

/* A scalar given for a val argument: encode it as that value. */
static int put_as_val(dlp_args *a, dlp_val *v)
{
    int rc;
    if (!v)
        return args_bad(a, "out of memory");
    rc = dlp__val_put(a->b, v);
    dlp_val_free(v);
    if (rc)
        return args_bad(a, "argument %u (val): %s", a->argi + 1,
                        dlp_strerror(rc));
    a->argi++;
    return 0;
}

/* An integer argument, given as its sign and magnitude: sv when neg, uv
 * otherwise, so both dlp_args_int and dlp_args_uint check ranges alike. */
static int put_integer(dlp_args *a, int neg, int64_t sv, uint64_t uv)
{
    dlp_type t = DLP_T_VOID;
    int64_t min;
    uint64_t max;
    if (!a || arg_slot(a, &t))
        return DLP_EINVAL;
    if (t == DLP_T_VAL)
        return put_as_val(a, neg ? dlp_val_int(sv) : dlp_val_uint(uv));
    if (t == DLP_T_F32 || t == DLP_T_F64)
        return put_float_as(a, t, neg ? (double)sv : (double)uv);
    if (!dlp__type_is_int(t))
        return wrong_kind(a, t, "an integer");
    dlp__type_range(t, &min, &max);
    if (neg ? sv < min : uv > max) {
        char val[32];
        if (neg)
            snprintf(val, sizeof val, "%lld", (long long)sv);
        else
            snprintf(val, sizeof val, "%llu", (unsigned long long)uv);
        return args_bad(a, "argument %u (%s): %s is out of range [%lld, "
                           "%llu]",
                        a->argi + 1, dlp_type_name(t), val, (long long)min,
                        (unsigned long long)max);
    }
    return put_int_as(a, t, neg ? (uint64_t)sv : uv);
}

/* The common case, a value of the argument's own type: 8 bytes as they
 * are, no conversion.  Returns 1 if it applied. */
static inline int put_same8(dlp_args *a, dlp_type want, const void *v)
{
    if (!a || a->bad || a->argi >= a->sig->nargs ||
        a->sig->args[a->argi] != want || a->b->cap - a->b->len < 8)
        return 0;
    memcpy(a->b->p + a->b->len, v, 8);
    a->b->len += 8;
    a->argi++;
    return 1;
}

DLP_API int dlp_args_int(dlp_args *a, int64_t v)
{
    if (put_same8(a, DLP_T_I64, &v))
        return 0;
    return v < 0 ? put_integer(a, 1, v, 0) : put_integer(a, 0, 0, (uint64_t)v);
}

DLP_API int dlp_args_uint(dlp_args *a, uint64_t v)
{
    if (put_same8(a, DLP_T_U64, &v))
        return 0;
    return put_integer(a, 0, 0, v);
}

DLP_API int dlp_args_double(dlp_args *a, double v)
{
    dlp_type t = DLP_T_VOID;
    if (put_same8(a, DLP_T_F64, &v))
        return 0;
    if (!a || arg_slot(a, &t))
        return DLP_EINVAL;
    if (t == DLP_T_VAL)
        return put_as_val(a, dlp_val_float(v));
    if (t == DLP_T_F32 || t == DLP_T_F64)
        return put_float_as(a, t, v);
    if (dlp__type_is_int(t))
        return args_bad(a, "argument %u (%s): expected an integer, got %.17g",
                        a->argi + 1, dlp_type_name(t), v);
    return wrong_kind(a, t, "a number");
}

DLP_API int dlp_args_bool(dlp_args *a, bool v)
{
    dlp_type t = DLP_T_VOID;
    uint8_t b = v ? 1 : 0;
    if (!a || arg_slot(a, &t))
        return DLP_EINVAL;
    if (t == DLP_T_VAL)
        return put_as_val(a, dlp_val_bool(v));
    if (t != DLP_T_BOOL)
        return wrong_kind(a, t, v ? "true" : "false");
    return put_scalar(a, &b, 1);
}

static int put_text(dlp_args *a, dlp_type t, const void *p, size_t len)
{
    int rc;
    if (len > DLP_FRAME_MAX - 64)
        return args_bad(a, "argument %u (%s): %zu bytes is over the 1 GiB "
                           "limit",
                        a->argi + 1, dlp_type_name(t), len);
    if (t == DLP_T_STR && memchr(p, 0, len))
        return args_bad(a, "argument %u (str): contains a NUL byte at "
                           "offset %zu",
                        a->argi + 1, (size_t)((const char *)memchr(p, 0, len) -
                                              (const char *)p));
    rc = dlp__put_str(a->b, p, len, t == DLP_T_STR);
    if (rc)
        return args_bad(a, "out of memory");
    a->argi++;
    return 0;
}

DLP_API int dlp_args_str(dlp_args *a, const char *s, size_t len)
{
    dlp_type t = DLP_T_VOID;
    if (!a || arg_slot(a, &t))
        return DLP_EINVAL;
    if (!s && len)
        return args_bad(a, "argument %u: NULL string", a->argi + 1);
    if (t == DLP_T_VAL)
        return put_as_val(a, dlp_val_str(s, len));
    if (t != DLP_T_STR && t != DLP_T_BYTES)
        return wrong_kind(a, t, "a string");
    return put_text(a, t, s ? s : "", len);
}

DLP_API int dlp_args_bytes(dlp_args *a, const void *p, size_t len)
{
    dlp_type t = DLP_T_VOID;
    if (!a || arg_slot(a, &t))
        return DLP_EINVAL;
    if (!p && len)
        return args_bad(a, "argument %u: NULL bytes", a->argi + 1);
    if (t == DLP_T_VAL)
        return put_as_val(a, dlp_val_bytes(p, len));
    if (t != DLP_T_STR && t != DLP_T_BYTES)
        return wrong_kind(a, t, "bytes");
    return put_text(a, t, p ? p : "", len);
}

/* One number, whatever its C type: integers by sign and magnitude. */
typedef struct num {
    int is_float, neg;
    int64_t sv;
    uint64_t uv;
    double dv;
} num;

static num num_at(dlp_type t, const void *data, size_t i)
{
    num n = {0, 0, 0, 0, 0};
    const unsigned char *p = (const unsigned char *)data +
                             i * dlp__type_size(t);
    switch (t) {
#define GET_(T, ctype)                                                         \
    case T: {                                                                  \
        ctype x;                                                               \
        memcpy(&x, p, sizeof x);                                               \
        n.sv = (int64_t)x;                                                     \
        break;                                                                 \
    }
        GET_(DLP_T_I8, int8_t)
        GET_(DLP_T_I16, int16_t)
        GET_(DLP_T_I32, int32_t)
        GET_(DLP_T_I64, int64_t)
#undef GET_
#define GET_(T, ctype)                                                         \
    case T: {                                                                  \
        ctype x;                                                               \
        memcpy(&x, p, sizeof x);                                               \
        n.uv = (uint64_t)x;                                                    \
        return n;                                                              \
    }
        GET_(DLP_T_U8, uint8_t)
        GET_(DLP_T_U16, uint16_t)
        GET_(DLP_T_U32, uint32_t)
        GET_(DLP_T_U64, uint64_t)
#undef GET_
    case DLP_T_F32: {
        float f;
        memcpy(&f, p, 4);
        n.is_float = 1, n.dv = f;
        return n;
    }
    default: {
        double d;
        memcpy(&d, p, 8);
        n.is_float = 1, n.dv = d;
        return n;
    }
    }
    /* A signed element: by sign and magnitude. */
    if (n.sv >= 0)
        n.uv = (uint64_t)n.sv, n.sv = 0;
    else
        n.neg = 1;
    return n;
}

/* Store number n as element i of an array of type te at out.  Returns 0
 * or marks the task bad with a message naming the element. */
static int num_store(dlp_args *a, dlp_type te, unsigned char *out, size_t i,
                     num n)
{
    size_t esz = dlp__type_size(te);
    if (te == DLP_T_F32 || te == DLP_T_F64) {
        double d = n.is_float ? n.dv : n.neg ? (double)n.sv : (double)n.uv;
        if (te == DLP_T_F32) {
            float f = (float)d;
            if (isfinite(d) && !isfinite(f))
                return args_bad(a, "argument %u (f32[]): element %zu: %g is "
                                   "out of range",
                                a->argi + 1, i, d);
            memcpy(out + i * 4, &f, 4);
        } else {
            memcpy(out + i * 8, &d, 8);
        }
        return 0;
    }
    if (n.is_float)
        return args_bad(a, "argument %u (%s): element %zu: expected an "
                           "integer, got %.17g",
                        a->argi + 1, dlp_type_name(DLP_T_ARRAY_OF(te)), i,
                        n.dv);
    int64_t min;
    uint64_t max;
    dlp__type_range(te, &min, &max);
    if (n.neg ? n.sv < min : n.uv > max) {
        char val[32];
        if (n.neg)
            snprintf(val, sizeof val, "%lld", (long long)n.sv);
        else
            snprintf(val, sizeof val, "%llu", (unsigned long long)n.uv);
        return args_bad(a, "argument %u (%s): element %zu: %s is out of "
                           "range [%lld, %llu]",
                        a->argi + 1, dlp_type_name(DLP_T_ARRAY_OF(te)), i, val,
                        (long long)min, (unsigned long long)max);
    }
    uint64_t bits = n.neg ? (uint64_t)n.sv : n.uv;
    /* Little- or big-endian alike: narrow through the typed value. */
    switch (esz) {
    case 1: {
        uint8_t v = (uint8_t)bits;
        memcpy(out + i, &v, 1);
        break;
    }
    case 2: {
        uint16_t v = (uint16_t)bits;
        memcpy(out + i * 2, &v, 2);
        break;
    }
    case 4: {
        uint32_t v = (uint32_t)bits;
        memcpy(out + i * 4, &v, 4);
        break;
    }
    default:
        memcpy(out + i * 8, &bits, 8);
    }
    return 0;
}

static int too_many(dlp_args *a, dlp_type t, size_t n)
{
    return args_bad(a, "argument %u (%s): %zu elements is over the 1 GiB "
                       "limit",
                    a->argi + 1, dlp_type_name(t), n);
}

/* Append an array argument of type t from elements already converted. */
static int args_array(dlp_args *a, dlp_type t, const void *data, size_t n)
{
    int rc = dlp__put_array(a->b, 0, data, n, dlp__type_size(DLP_T_ELEM(t)));
    if (rc == DLP_ETOOBIG)
        return too_many(a, t, n);
    if (rc)
        return args_bad(a, "out of memory");
    a->argi++;
    return 0;
}

DLP_API int dlp_args_array(dlp_args *a, dlp_type elem, const void *data,
                           size_t n)
{
    dlp_type t = DLP_T_VOID;
    unsigned char *conv;
    int rc = 0;
    if (!a || arg_slot(a, &t))
        return DLP_EINVAL;
    if (!dlp__type_is_num(elem))
        return args_bad(a, "argument %u: dlp_args_array of %s: not a "
                           "numeric type",
                        a->argi + 1, dlp_type_name(elem));
    if (!data && n)
        return args_bad(a, "argument %u: NULL array", a->argi + 1);
    if (t == DLP_T_VAL) {
        dlp_val *l = dlp_val_list();
        for (size_t i = 0; l && i < n; i++) {
            num x = num_at(elem, data, i);
            dlp_val *item = x.is_float ? dlp_val_float(x.dv)
                            : x.neg    ? dlp_val_int(x.sv)
                                       : dlp_val_uint(x.uv);
            if (!item || dlp_val_push(l, item)) {
                dlp_val_free(l);
                l = NULL;
            }
        }
        return put_as_val(a, l);
    }
    if (!DLP_T_IS_ARRAY(t))
        return wrong_kind(a, t, "an array");
    if (DLP_T_ELEM(t) == elem)
        return args_array(a, t, data ? data : "", n);
    if (n > (DLP_FRAME_MAX - 64) / dlp__type_size(DLP_T_ELEM(t)))
        return too_many(a, t, n);
    conv = malloc(n * dlp__type_size(DLP_T_ELEM(t)) + 1);
    if (!conv)
        return args_bad(a, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = num_store(a, DLP_T_ELEM(t), conv, i, num_at(elem, data, i));
    if (rc == 0)
        rc = args_array(a, t, conv, n);
    free(conv);
    return rc;
}

/* An array argument from a list of numbers. */
static int put_list_as_array(dlp_args *a, dlp_type t, const dlp_val *l)
{
    dlp_type te = DLP_T_ELEM(t);
    size_t n = l->v.c.len;
    unsigned char *conv;
    int rc = 0;
    if (n > (DLP_FRAME_MAX - 64) / dlp__type_size(te))
        return too_many(a, t, n);
    conv = malloc(n * dlp__type_size(te) + 1);
    if (!conv)
        return args_bad(a, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        const dlp_val *it = l->v.c.items[i];
        num x = {0, 0, 0, 0, 0};
        if (it->kind == DLP_V_INT) {
            if (it->v.i < 0)
                x.neg = 1, x.sv = it->v.i;
            else
                x.uv = (uint64_t)it->v.i;
        } else if (it->kind == DLP_V_UINT) {
            x.uv = it->v.u;
        } else if (it->kind == DLP_V_FLOAT) {
            x.is_float = 1, x.dv = it->v.f;
        } else {
            rc = args_bad(a, "argument %u (%s): element %zu: expected a "
                             "number, got %s",
                          a->argi + 1, dlp_type_name(t), i,
                          dlp_val_kind_name(it->kind));
            break;
        }
        rc = num_store(a, te, conv, i, x);
    }
    if (rc == 0)
        rc = args_array(a, t, conv, n);
    free(conv);
    return rc;
}

DLP_API int dlp_args_val(dlp_args *a, const dlp_val *v)
{
    dlp_type t = DLP_T_VOID;
    int rc;
    if (!a || arg_slot(a, &t))
        return DLP_EINVAL;
    if (!v)
        return args_bad(a, "argument %u: NULL value", a->argi + 1);
    if (t == DLP_T_VAL) {
        if ((rc = dlp__val_put(a->b, v)))
            return args_bad(a, "argument %u (val): %s", a->argi + 1,
                            rc == DLP_ETOOBIG
                                ? "over 1 GiB or nested too deep"
                                : dlp_strerror(rc));
        a->argi++;
        return 0;
    }
    if (DLP_T_IS_ARRAY(t) && v->kind == DLP_V_LIST)
        return put_list_as_array(a, t, v);
    switch (v->kind) {
    case DLP_V_BOOL:
        return dlp_args_bool(a, v->v.b);
    case DLP_V_INT:
        return dlp_args_int(a, v->v.i);
    case DLP_V_UINT:
        return dlp_args_uint(a, v->v.u);
    case DLP_V_FLOAT:
        return dlp_args_double(a, v->v.f);
    case DLP_V_STR:
        return dlp_args_str(a, v->v.s.ptr, v->v.s.len);
    case DLP_V_BYTES:
        return dlp_args_bytes(a, v->v.s.ptr, v->v.s.len);
    case DLP_V_NULL:
        return wrong_kind(a, t, "null");
    case DLP_V_LIST:
        return wrong_kind(a, t, "a list");
    case DLP_V_MAP:
        return wrong_kind(a, t, "a map");
    }
    return wrong_kind(a, t, "?");
}

DLP_API int dlp_args_tuple(dlp_args *a, const dlp_val *list)
{
    int rc = 0;
    if (!a)
        return DLP_EINVAL;
    if (!list || list->kind != DLP_V_LIST)
        return args_bad(a, "the arguments must be a list, got %s",
                        list ? dlp_val_kind_name(list->kind) : "NULL");
    for (size_t i = 0; i < list->v.c.len && rc == 0; i++)
        rc = dlp_args_val(a, list->v.c.items[i]);
    return rc;
}

/* ---- lists encoded in advance -------------------------------------- */

void dlp__pre_free(dlp__pre *pre)
{
    if (pre->bad)
        for (size_t i = 0; i < pre->n; i++)
            free(pre->bad[i]);
    free(pre->bad);
    free(pre->task);
    dlp__buf_free(&pre->bytes);
    memset(pre, 0, sizeof *pre);
}

int dlp__pre_encode(dlp__pre *pre, const dlp_sig *sig,
                    const dlp_val *const *tuples, size_t n, int same)
{
    dlp_args a;
    memset(pre, 0, sizeof *pre);
    pre->n = n;
    pre->task = calloc(n ? n : 1, sizeof *pre->task);
    if (!pre->task)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        size_t start = pre->bytes.len;
        if (same && i > 0) {
            pre->task[i] = pre->task[0];
            if (pre->bad && pre->bad[0] &&
                !(pre->bad[i] = strdup(pre->bad[0]))) {
                dlp__pre_free(pre);
                return -ENOMEM;
            }
            continue;
        }
        memset(&a, 0, sizeof a);
        a.sig = sig;
        a.b = &pre->bytes;
        dlp_args_tuple(&a, tuples[i]);
        if (!a.bad && a.argi != sig->nargs)
            args_bad(&a, "expected %u argument%s, got %u", sig->nargs,
                     sig->nargs == 1 ? "" : "s", a.argi);
        if (a.bad) {
            pre->bytes.len = start;
            if (!pre->bad && !(pre->bad = calloc(n, sizeof *pre->bad))) {
                dlp__pre_free(pre);
                return -ENOMEM;
            }
            if (!(pre->bad[i] = strdup(a.msg))) {
                dlp__pre_free(pre);
                return -ENOMEM;
            }
        }
        pre->task[i].off = start;
        pre->task[i].len = pre->bytes.len - start;
    }
    return 0;
}
