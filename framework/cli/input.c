/*
 * input.c - part of the dlpool command (framework/cli/main.c): a task's
 * arguments from a line of JSON or a ::: token (see input.h).
 */
#include "config.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dlpool.h"
#include "input.h"

/* The shortest text of a finite double that reads back to the same value
 * (as a float when is_f32), always with a '.' or an exponent, so that it
 * reads back as a number with a fraction ("2.0").  buf has 32 bytes. */
void input_fmt_double(char *buf, double d, int is_f32)
{
    /* Most doubles need 15 to 17 digits; subnormals have fewer bits and
     * may need far fewer, so search those from 1. */
    int from = is_f32 ? 6 : fabs(d) < DBL_MIN ? 1 : 15;
    for (int prec = from; prec <= 17; prec++) {
        snprintf(buf, 32, "%.*g", prec, d);
        if (is_f32 ? (float)strtod(buf, NULL) == (float)d
                   : strtod(buf, NULL) == d)
            break;
    }
    if (!strpbrk(buf, ".e"))
        strcat(buf, ".0");
}

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return "null";
    }
}

/*
 * jansson holds JSON integers as signed 64-bit values and refuses larger
 * literals ("too big integer", "too big negative integer"), which a u64
 * argument above 2^63-1 needs, and a floating one may be given.
 * For such a line the input is parsed again with integers read as reals,
 * and the number literals of the line, found by this scan (outside
 * strings, in order), give each number its exact text back.
 */
typedef struct numtok {
    const char *p;
    size_t len;
    int is_int;
} numtok;

typedef struct numscan {
    numtok *t;
    size_t n, next;
} numscan;

static int scan_numbers(const char *s, size_t n, numscan *ns)
{
    size_t cap = 0;
    int in_str = 0;
    ns->t = NULL;
    ns->n = ns->next = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
            continue;
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            int is_int = 1;
            while (j < n && strchr("0123456789+-.eE", s[j])) {
                if (s[j] == '.' || s[j] == 'e' || s[j] == 'E')
                    is_int = 0;
                j++;
            }
            if (ns->n == cap) {
                numtok *t = realloc(ns->t, (cap = cap ? 2 * cap : 8) *
                                               sizeof *t);
                if (!t)
                    return -1;
                ns->t = t;
            }
            ns->t[ns->n++] = (numtok){s + i, j - i, is_int};
            i = j - 1;
        }
    }
    return 0;
}

/* A JSON number with the exact value of its literal.  On a reparsed line
 * (ns set) every number is a real, and its literal, the next one the scan
 * found, tells an integer from a real and gives integers past the i64
 * range back. */
typedef struct jnum {
    enum { JN_INT, JN_UINT, JN_REAL, JN_RANGE } kind;
    int64_t i;        /* JN_INT */
    uint64_t u;       /* JN_UINT: above INT64_MAX */
    double d;         /* JN_REAL; JN_RANGE: the nearest double */
    const numtok *lit; /* JN_RANGE: an integer literal outside i64 and u64 */
} jnum;

static jnum json_num(const json_t *j, numscan *ns)
{
    jnum x = {JN_REAL, 0, 0, 0, NULL};
    const numtok *t;
    char buf[32], *end;
    if (json_is_integer(j)) {
        x.kind = JN_INT;
        x.i = (int64_t)json_integer_value(j);
        return x;
    }
    x.d = json_real_value(j);
    t = ns && ns->next < ns->n ? &ns->t[ns->next++] : NULL;
    if (!t || !t->is_int)
        return x;
    x.kind = JN_RANGE;
    x.lit = t;
    /* The literal is copied: the line it lies in has no terminating NUL. */
    if (t->len >= sizeof buf)
        return x;
    memcpy(buf, t->p, t->len);
    buf[t->len] = 0;
    errno = 0;
    long long i = strtoll(buf, &end, 10);
    if (errno == 0 && !*end) {
        x.kind = JN_INT;
        x.i = i;
    } else if (buf[0] != '-') {
        errno = 0;
        unsigned long long u = strtoull(buf, &end, 10);
        if (errno == 0 && !*end) {
            x.kind = JN_UINT;
            x.u = u;
        }
    }
    return x;
}

/* An integer literal that fits no C integer type, given to argument k of
 * type t; at names its place in an array ("element 3: ") or is "". */
static int out_of_range(dlp_args *a, unsigned k, dlp_type t, const char *at,
                        const numtok *lit)
{
    int n = lit->len > 40 ? 40 : (int)lit->len;
    const char *cut = lit->len > 40 ? "..." : "";
    if (t == DLP_T_VAL)
        return dlp_args_fail(a, "argument %u (val): %s%.*s%s is out of range "
                                "[%" PRId64 ", %" PRIu64 "]",
                             k, at, n, lit->p, cut, INT64_MIN, UINT64_MAX);
    return dlp_args_fail(a, "argument %u (%s): %s%.*s%s is out of range", k,
                         dlp_type_name(t), at, n, lit->p, cut);
}

static dlp_val *json_to_val(dlp_args *a, unsigned k, const json_t *j,
                            numscan *ns, unsigned depth);

/* A JSON object as a map (see json_to_val). */
static dlp_val *json_to_map(dlp_args *a, unsigned k, const json_t *j,
                            numscan *ns, unsigned depth)
{
    dlp_val *v;
    const char *key;
    json_t *item;
    size_t n = json_object_size(j);
    /* Keys come in the order of the line (jansson keeps insertion
     * order) and are unique (the line was parsed with
     * JSON_REJECT_DUPLICATES), so they are appended to the map's
     * public arrays, malloc'd as dlp_val_free expects: dlp_val_set
     * looks each key up first, which makes a map of n keys cost n^2
     * string compares. */
    if (!(v = dlp_val_map()))
        goto oom;
    if (n && (!(v->v.c.items = malloc(n * sizeof *v->v.c.items)) ||
              !(v->v.c.keys = malloc(n * sizeof *v->v.c.keys)))) {
        dlp_val_free(v);
        goto oom;
    }
    v->v.c.cap = n;
    json_object_foreach((json_t *)j, key, item) {
        dlp_val *x;
        char *kc;
        if (v->v.c.len == n)
            break; /* the object cannot grow; this is only a guard */
        if (!(x = json_to_val(a, k, item, ns, depth + 1))) {
            dlp_val_free(v);
            return NULL;
        }
        if (!(kc = strdup(key))) {
            dlp_val_free(x);
            dlp_val_free(v);
            goto oom;
        }
        v->v.c.keys[v->v.c.len] = kc;
        v->v.c.items[v->v.c.len++] = x;
    }
    return v;
oom:
    dlp_args_fail(a, "out of memory");
    return NULL;
}

/* A JSON value as a new dlp_val for argument k, or NULL once the task is
 * marked bad.  depth counts as the library does: the argument itself is
 * at depth 1, an item in it at 2.  jansson stops nesting at 2048 levels,
 * so the recursion is bounded even before the depth check. */
static dlp_val *json_to_val(dlp_args *a, unsigned k, const json_t *j,
                            numscan *ns, unsigned depth)
{
    dlp_val *v = NULL;
    if (depth > DLP_VAL_MAX_DEPTH) {
        dlp_args_fail(a, "argument %u (val): nested deeper than %d levels",
                      k, DLP_VAL_MAX_DEPTH);
        return NULL;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return json_to_map(a, k, j, ns, depth);
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        if (!(v = dlp_val_list()))
            break;
        for (size_t i = 0; i < n; i++) {
            dlp_val *x = json_to_val(a, k, json_array_get(j, i), ns,
                                     depth + 1);
            if (!x || dlp_val_push(v, x)) {
                dlp_val_free(v);
                if (x)
                    dlp_args_fail(a, "out of memory");
                return NULL;
            }
        }
        return v;
    }
    case JSON_STRING:
        v = dlp_val_str(json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
    case JSON_REAL: {
        jnum x = json_num(j, ns);
        if (x.kind == JN_RANGE) {
            out_of_range(a, k, DLP_T_VAL, "", x.lit);
            return NULL;
        }
        v = x.kind == JN_INT    ? dlp_val_int(x.i)
            : x.kind == JN_UINT ? dlp_val_uint(x.u)
                                : dlp_val_float(x.d);
        break;
    }
    case JSON_TRUE:
    case JSON_FALSE:
        v = dlp_val_bool(json_is_true(j));
        break;
    default:
        v = dlp_val_null();
        break;
    }
    if (!v)
        dlp_args_fail(a, "out of memory");
    return v;
}

/* Any JSON value for a val argument. */
static int put_val_arg(dlp_args *a, unsigned k, const json_t *j, numscan *ns)
{
    dlp_val *v = json_to_val(a, k, j, ns, 1);
    int rc;
    if (!v)
        return DLP_EINVAL;
    rc = dlp_args_val(a, v);
    dlp_val_free(v);
    return rc;
}

/* Elements an array argument holds without an allocation. */
#define SMALL_ARRAY 64

/*
 * A JSON array for a T[] argument.  Its numbers go into one buffer of
 * int64_t, uint64_t or double, and dlp_args_array converts them to T and
 * checks each for range, naming the element; only what the library cannot
 * see (an element that is no number, a fraction in an integer array) is
 * checked here.
 */
static int put_json_array_arg(dlp_args *a, unsigned k, dlp_type t,
                              const json_t *arr, numscan *ns)
{
    size_t n = json_array_size(arr), mark = ns ? ns->next : 0;
    dlp_type te = DLP_T_ELEM(t);
    int fl = te == DLP_T_F32 || te == DLP_T_F64, has_neg = 0, has_big = 0;
    int rc = 0;
    int64_t ismall[SMALL_ARRAY];
    double dsmall[SMALL_ARRAY];
    int64_t *iv = ismall;
    double *dv = dsmall;
    void *heap = NULL;

    if (n > SMALL_ARRAY) {
        /* n elements of 8 bytes: jansson has already allocated a pointer
         * for each, so this cannot overflow. */
        if (!(heap = malloc(n * 8)))
            return dlp_args_fail(a, "out of memory");
        iv = heap;
        dv = heap;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const json_t *e = json_array_get(arr, i);
        jnum x;
        if (!json_is_number(e)) {
            rc = dlp_args_fail(a, "argument %u (%s): element %zu: expected a "
                                  "number, got %s",
                               k, dlp_type_name(t), i, json_kind(e));
            break;
        }
        x = json_num(e, ns);
        if (fl) {
            /* Out-of-range integer literals are still numbers for a
             * floating type: x.d is their nearest double. */
            dv[i] = x.kind == JN_INT    ? (double)x.i
                    : x.kind == JN_UINT ? (double)x.u
                                        : x.d;
            continue;
        }
        switch (x.kind) {
        case JN_INT:
            iv[i] = x.i;
            has_neg |= x.i < 0;
            break;
        case JN_UINT:
            /* Stored as its bits; read through uint64_t below. */
            ((uint64_t *)iv)[i] = x.u;
            has_big = 1;
            break;
        case JN_REAL: {
            char num[32];
            input_fmt_double(num, x.d, 0);
            rc = dlp_args_fail(a, "argument %u (%s): element %zu: expected "
                                  "an integer, got %s",
                               k, dlp_type_name(t), i, num);
            break;
        }
        case JN_RANGE: {
            char at[48];
            snprintf(at, sizeof at, "element %zu: ", i);
            rc = out_of_range(a, k, t, at, x.lit);
            break;
        }
        }
    }
    if (rc == 0) {
        if (fl) {
            rc = dlp_args_array(a, DLP_T_F64, dv, n);
        } else if (!has_big) {
            rc = dlp_args_array(a, DLP_T_I64, iv, n);
        } else if (!has_neg) {
            rc = dlp_args_array(a, DLP_T_U64, (uint64_t *)iv, n);
        } else {
            /* A negative element and one past INT64_MAX: no C type holds
             * both, and one of them is out of range whatever T is.  As a
             * list of values the library finds the first such element. */
            dlp_val *l;
            if (ns)
                ns->next = mark;
            l = json_to_val(a, k, arr, ns, 1);
            rc = l ? dlp_args_val(a, l) : DLP_EINVAL;
            dlp_val_free(l);
        }
    }
    free(heap);
    return rc;
}

static int put_arg(dlp_args *a, unsigned k, const json_t *v, numscan *ns)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return dlp_args_int(a, (int64_t)json_integer_value(v));
    case JSON_REAL:
        if (ns) {
            /* Reparsed line: the literal says what the number was. */
            jnum x = json_num(v, ns);
            dlp_type want = dlp_args_next_type(a);
            switch (x.kind) {
            case JN_INT:
                return dlp_args_int(a, x.i);
            case JN_UINT:
                return dlp_args_uint(a, x.u);
            case JN_REAL:
                break;
            case JN_RANGE:
                if (want == DLP_T_F32 || want == DLP_T_F64)
                    break;
                return out_of_range(a, k, want, "", x.lit);
            }
        }
        return dlp_args_double(a, json_real_value(v));
    case JSON_TRUE:
        return dlp_args_bool(a, true);
    case JSON_FALSE:
        return dlp_args_bool(a, false);
    case JSON_STRING:
        return dlp_args_str(a, json_string_value(v), json_string_length(v));
    default: {
        /* Arrays, objects and null: only val and T[] take them. */
        dlp_type want = dlp_args_next_type(a);
        if (want == DLP_T_VAL)
            return put_val_arg(a, k, v, ns);
        if (DLP_T_IS_ARRAY(want) && json_is_array(v))
            return put_json_array_arg(a, k, want, v, ns);
        return dlp_args_fail(a, "argument %u (%s): expected %s, got %s", k,
                             dlp_type_name(want),
                             want == DLP_T_BOOL       ? "true or false"
                             : DLP_T_IS_ARRAY(want) ? "an array of numbers"
                                                    : "a scalar value",
                             json_kind(v));
    }
    }
}

int input_line_args(const dlp_sig *sig, int array_arg, const char *line,
                    size_t n, dlp_args *a)
{
    json_error_t jerr;
    json_t *v;
    size_t i = 0;
    numscan nums = {NULL, 0, 0}, *ns = NULL;

    if (n > 0 && line[n - 1] == '\r')
        n--;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == n) {
        dlp_args_fail(a, "empty line");
        return 1;
    }
    /* A key given twice is refused: jansson would keep the last value at
     * the first key's place, and a val argument would silently lose a
     * value (and, on a reparsed line, its numbers their literals). */
    v = json_loadb(line, n,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES,
                   &jerr);
    if (!v && strstr(jerr.text, "too big")) {
        json_error_t again;
        v = json_loadb(line, n,
                       JSON_DECODE_ANY | JSON_ALLOW_NUL |
                           JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                       &again);
        if (v && scan_numbers(line, n, &nums) == 0) {
            ns = &nums;
        } else if (v) {
            json_decref(v);
            v = NULL;
        }
    }
    if (!v) {
        dlp_args_fail(a, "bad JSON at column %d: %s", jerr.column,
                      jerr.text);
        return 1;
    }
    /* A line that is an array is the list of arguments; but for a
     * function of one T[] argument, an array is that argument itself
     * ([1,2,3]) unless it holds exactly one array ([[1,2,3]]): the
     * elements of a T[] are never arrays. */
    if (json_is_array(v) &&
        !(array_arg && !(json_array_size(v) == 1 &&
                             json_is_array(json_array_get(v, 0))))) {
        size_t len = json_array_size(v);
        if (len != sig->nargs)
            dlp_args_fail(a, "expected %u argument%s, got %zu",
                          sig->nargs, sig->nargs == 1 ? "" : "s",
                          len);
        for (i = 0; i < len; i++)
            if (put_arg(a, (unsigned)i + 1, json_array_get(v, i), ns))
                break;
    } else if (sig->nargs == 1) {
        put_arg(a, 1, v, ns);
    } else {
        dlp_args_fail(a, "expected a JSON array of %u argument%s, got %s",
                      sig->nargs, sig->nargs == 1 ? "" : "s",
                      json_kind(v));
    }
    json_decref(v);
    free(nums.t);
    return 1;
}

/* One token as argument k: JSON when it is JSON, else the text itself; a
 * str or bytes argument takes the text unless it is a JSON string, so
 * "::: 42" passes "42" to a str. */
int input_token_arg(dlp_args *a, unsigned k, const char *tok,
                    size_t len)
{
    dlp_type want = dlp_args_next_type(a);
    numscan nums = {NULL, 0, 0}, *ns = NULL;
    json_error_t jerr;
    json_t *v;
    int rc;
    v = json_loadb(tok, len,
                   JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES,
                   &jerr);
    if (!v && strstr(jerr.text, "too big")) {
        /* Integers past the i64 range, as input_line_args reads them. */
        v = json_loadb(tok, len,
                       JSON_DECODE_ANY | JSON_ALLOW_NUL |
                           JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL,
                       &jerr);
        if (v && scan_numbers(tok, len, &nums) == 0) {
            ns = &nums;
        } else if (v) {
            json_decref(v);
            v = NULL;
        }
    }
    if (!v || ((want == DLP_T_STR || want == DLP_T_BYTES) &&
               !json_is_string(v))) {
        json_decref(v);
        free(nums.t);
        return want == DLP_T_BYTES ? dlp_args_bytes(a, tok, len)
                                   : dlp_args_str(a, tok, len);
    }
    rc = put_arg(a, k, v, ns);
    json_decref(v);
    free(nums.t);
    return rc;
}
