/*
 * fuzz_input.c - libFuzzer target for what `dlpool run` reads as tasks:
 * the lines of a JSON Lines input and the tokens of ::: sources, each
 * turned into a task's arguments against a signature by the command's own
 * code (framework/cli/input.c) and the library's dlp_args_* calls, through
 * the iterator path a job uses (dlp__job_args).
 *
 * An input is read as follows; any byte string is an input.
 *
 *   byte 0    below 0x80: the signature is entry (byte % N) of sig_table.
 *             Otherwise a signature text follows, up to the first NUL or
 *             MAX_SIG_TEXT bytes; one that does not parse (or has a chan)
 *             falls back to the table.
 *   1 byte    the mode: even, the rest is a JSON Lines input file (split
 *             at each newline, a last line without one included); odd, the
 *             rest is ::: tokens separated by NUL bytes, taken nargs at a
 *             time as one task's arguments, argument k from token k (as
 *             the command, which takes one source per argument).
 *
 * Properties checked for every task (a broken one aborts, so libFuzzer
 * keeps the input):
 *   - a task refused has a message of one line that names what was wrong
 *     (an argument of the signature, the JSON's column, the count), and
 *     nothing of it is encoded;
 *   - a task accepted decodes, as a worker decodes it, into exactly the
 *     signature's arguments;
 *   - each decoded argument has the value the JSON gave: an integer the
 *     same integer (so nothing out of range is ever accepted), a string
 *     the same bytes, an array the same elements, a val the same tree;
 *   - written back as a JSON line, the decoded arguments are accepted
 *     again and encode to the very same bytes.
 * Memory is bounded by libFuzzer's -rss_limit_mb and -malloc_limit_mb
 * (make fuzz sets both).
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/input.h"
#include "job.h"
#include "pool.h"
#include "val.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
const char *__ubsan_default_options(void);

const char *__ubsan_default_options(void)
{
    return "halt_on_error=1:print_stacktrace=1";
}

#define MAX_SIG_TEXT 256

/* Signatures a command-line user gives: every argument type, alone (a
 * single T[] argument reads a line's array as itself), and mixed. */
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
    "str(str,str)",
    "u64(bytes)",
    "i64(bytes,i64,str)",
    "str(i8,i16,i32,i64,u8,u16,u32,u64,f32,f64,bool,str,bytes)",
    "val(val)",
    "val(val,val)",
    "i64(i64[])",
    "i64(u64[])",
    "f64(f32[])",
    "f64(f64[])",
    "i64(u8[])",
    "i64(i8[],u16[])",
    "void(val,f64[],str,u8[],val,bytes,i16[],bool)",
    "val(i8[],i16[],i32[],i64[],u8[],u16[],u32[],u64[],f32[],f64[])",
};
#define N_SIGS (sizeof sig_table / sizeof sig_table[0])

static void broken(int line, const char *what, const char *msg)
{
    fprintf(stderr, "fuzz_input.c:%d: broken: %s%s%s\n", line, what,
            msg ? " -- message: " : "", msg ? msg : "");
    abort();
}

#define CHECK(cond) CHECK_MSG(cond, NULL)
#define CHECK_MSG(cond, msg)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            broken(__LINE__, #cond, msg);                                      \
    } while (0)

/* ---- the iterators: the command's, over one line or one task -------- */

typedef struct line_task {
    const dlp_sig *sig;
    int array_arg;
    const char *line;
    size_t n;
} line_task;

static int next_line(void *ud, uint64_t index, dlp_args *a)
{
    const line_task *t = ud;
    (void)index;
    return input_line_args(t->sig, t->array_arg, t->line, t->n, a);
}

typedef struct token_task {
    const char *const *tok;
    const size_t *len;
    unsigned n;
} token_task;

/* As the command's next_arg_task: token k is argument k + 1, the first
 * argument refused ends the task. */
static int next_tokens(void *ud, uint64_t index, dlp_args *a)
{
    const token_task *t = ud;
    (void)index;
    for (unsigned k = 0; k < t->n; k++)
        if (input_token_arg(a, k + 1, t->tok[k], t->len[k]))
            break;
    return 1;
}

/* ---- a refused task's message --------------------------------------- */

static int starts(const char *s, const char *prefix)
{
    return !strncmp(s, prefix, strlen(prefix));
}

/* The message names what was wrong: an argument of the signature (by its
 * number and type), the JSON's column, the count of arguments, or the
 * line as a whole. */
static void check_message(const dlp_sig *sig, const char *msg)
{
    unsigned k;
    char type[32];
    CHECK_MSG(msg[0] != 0, msg);
    CHECK_MSG(!strchr(msg, '\n'), msg);
    if (sscanf(msg, "argument %u (%31[^)])", &k, type) == 2) {
        CHECK_MSG(k >= 1 && k <= sig->nargs, msg);
        CHECK_MSG(!strcmp(type, dlp_type_name(sig->args[k - 1])), msg);
        return;
    }
    if (sscanf(msg, "argument %u:", &k) == 1) {
        CHECK_MSG(k >= 1 && k <= sig->nargs, msg);
        return;
    }
    CHECK_MSG(starts(msg, "bad JSON at column ") || starts(msg, "expected ") ||
                  !strcmp(msg, "empty line") ||
                  starts(msg, "too many arguments: the function takes ") ||
                  starts(msg, "the arguments take ") ||
                  !strcmp(msg, "out of memory"),
              msg);
}

/* ---- the oracle: decoded arguments against the JSON ----------------- */

/* A number of the JSON as the oracle reads it: an integer exactly when
 * jansson had it as one; else a double (on a line reparsed because of an
 * integer past the i64 range, every number is one, and the checks below
 * compare through double). */
static int is_int_type(dlp_type t)
{
    return t >= DLP_T_I8 && t <= DLP_T_U64;
}

static int is_signed_type(dlp_type t)
{
    return t >= DLP_T_I8 && t <= DLP_T_I64;
}

/* Element i of n at p, of numeric type t: as int64, uint64 and double. */
static void load_num(dlp_type t, const void *p, size_t i, int64_t *sv,
                     uint64_t *uv, double *dv)
{
    const unsigned char *b = p;
    *sv = 0;
    *uv = 0;
    *dv = 0;
    switch (t) {
    case DLP_T_I8: { int8_t x; memcpy(&x, b + i, 1); *sv = x; break; }
    case DLP_T_I16: { int16_t x; memcpy(&x, b + 2 * i, 2); *sv = x; break; }
    case DLP_T_I32: { int32_t x; memcpy(&x, b + 4 * i, 4); *sv = x; break; }
    case DLP_T_I64: { int64_t x; memcpy(&x, b + 8 * i, 8); *sv = x; break; }
    case DLP_T_U8: { uint8_t x; memcpy(&x, b + i, 1); *uv = x; break; }
    case DLP_T_U16: { uint16_t x; memcpy(&x, b + 2 * i, 2); *uv = x; break; }
    case DLP_T_U32: { uint32_t x; memcpy(&x, b + 4 * i, 4); *uv = x; break; }
    case DLP_T_U64: { uint64_t x; memcpy(&x, b + 8 * i, 8); *uv = x; break; }
    case DLP_T_F32: { float x; memcpy(&x, b + 4 * i, 4); *dv = x; break; }
    default: { double x; memcpy(&x, b + 8 * i, 8); *dv = x; break; }
    }
}

/* The line being checked was read again with integers as reals (it had
 * an integer past the i64 range). */
static int reparsed;

/* One decoded number of type t against JSON number j. */
static void check_num(dlp_type t, const void *p, size_t i, const json_t *j)
{
    int64_t sv;
    uint64_t uv;
    double dv, want;
    CHECK(json_is_number(j));
    load_num(t, p, i, &sv, &uv, &dv);
    if (is_int_type(t)) {
        if (json_is_integer(j)) {
            json_int_t x = json_integer_value(j);
            if (is_signed_type(t))
                CHECK(sv == (int64_t)x);
            else
                CHECK(x >= 0 && uv == (uint64_t)x);
        } else {
            /* Only a reparsed line gives an integer as a real. */
            want = json_real_value(j);
            CHECK(is_signed_type(t) ? (double)sv == want
                                    : (double)uv == want);
        }
        return;
    }
    want = json_is_integer(j) ? (double)json_integer_value(j)
                              : json_real_value(j);
    CHECK(isfinite(dv));
    if (t == DLP_T_F32)
        CHECK((float)dv == (float)want);
    else
        CHECK(dv == want);
    /* A zero keeps its sign, but on a reparsed line "-0" (an integer, so
     * 0) cannot be told from "-0.0" here. */
    if (!reparsed)
        CHECK(signbit(dv) == signbit(want));
}

static void check_val(const dlp_val *v, const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_NULL:
        CHECK(v->kind == DLP_V_NULL);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        CHECK(v->kind == DLP_V_BOOL && v->v.b == json_is_true(j));
        break;
    case JSON_STRING:
        CHECK(v->kind == DLP_V_STR && v->v.s.len == json_string_length(j) &&
              !memcmp(v->v.s.ptr, json_string_value(j), v->v.s.len));
        break;
    case JSON_INTEGER:
        CHECK(v->kind == DLP_V_INT && v->v.i == json_integer_value(j));
        break;
    case JSON_REAL:
        /* A real, or on a reparsed line an integer of any size. */
        if (v->kind == DLP_V_INT)
            CHECK((double)v->v.i == json_real_value(j));
        else if (v->kind == DLP_V_UINT)
            CHECK((double)v->v.u == json_real_value(j));
        else
            CHECK(v->kind == DLP_V_FLOAT && v->v.f == json_real_value(j));
        break;
    case JSON_ARRAY:
        CHECK(v->kind == DLP_V_LIST && v->v.c.len == json_array_size(j));
        for (size_t i = 0; i < v->v.c.len; i++)
            check_val(v->v.c.items[i], json_array_get(j, i));
        break;
    case JSON_OBJECT: {
        /* Keys in the order of the line. */
        const char *key;
        json_t *item;
        size_t i = 0;
        CHECK(v->kind == DLP_V_MAP && v->v.c.len == json_object_size(j));
        json_object_foreach((json_t *)j, key, item) {
            CHECK(!strcmp(v->v.c.keys[i], key));
            check_val(v->v.c.items[i], item);
            i++;
        }
        break;
    }
    }
}

/* Decoded argument of type t (slot s, and s[1] for bytes and arrays)
 * against JSON value j. */
static void check_arg(dlp_type t, const dlp__slot *s, const json_t *j)
{
    if (t == DLP_T_VAL) {
        check_val(s[0].ptr, j);
    } else if (DLP_T_IS_ARRAY(t)) {
        CHECK(json_is_array(j) && s[1].size == json_array_size(j));
        for (size_t i = 0; i < s[1].size; i++)
            check_num(DLP_T_ELEM(t), s[0].ptr, i, json_array_get(j, i));
    } else if (t == DLP_T_STR || t == DLP_T_BYTES) {
        size_t n = t == DLP_T_STR ? strlen(s[0].ptr) : s[1].size;
        CHECK(json_is_string(j) && n == json_string_length(j) &&
              !memcmp(s[0].ptr, json_string_value(j), n));
    } else if (t == DLP_T_BOOL) {
        CHECK(json_is_boolean(j) && s[0].b == json_is_true(j));
    } else {
        check_num(t, s, 0, j);
    }
}

/* The slots of each argument: bytes and arrays take two. */
static unsigned slot_of(const dlp_sig *sig, unsigned i)
{
    unsigned k = 0;
    for (unsigned x = 0; x < i; x++)
        k += sig->args[x] == DLP_T_BYTES || DLP_T_IS_ARRAY(sig->args[x]) ? 2
                                                                         : 1;
    return k;
}

/* ---- writing decoded arguments back as JSON ------------------------- */

static void put_real(dlp__buf *b, double d)
{
    char num[40];
    snprintf(num, sizeof num, "%.17g", d);
    if (!strpbrk(num, ".e"))
        strcat(num, ".0"); /* a real stays a real, and -0 keeps its sign */
    CHECK(dlp__buf_put(b, num, strlen(num)) == 0);
}

static void put_text(dlp__buf *b, const char *s)
{
    CHECK(dlp__buf_put(b, s, strlen(s)) == 0);
}

/* A JSON string of s[0, n): 0, or -1 when it is not UTF-8. */
static int put_jstring(dlp__buf *b, const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    char *text;
    if (!j)
        return -1;
    text = json_dumps(j, JSON_ENCODE_ANY);
    CHECK(text != NULL);
    put_text(b, text);
    free(text);
    json_decref(j);
    return 0;
}

static void put_num(dlp__buf *b, dlp_type t, const void *p, size_t i)
{
    int64_t sv;
    uint64_t uv;
    double dv;
    char num[32];
    load_num(t, p, i, &sv, &uv, &dv);
    if (!is_int_type(t)) {
        put_real(b, dv);
        return;
    }
    if (is_signed_type(t))
        snprintf(num, sizeof num, "%lld", (long long)sv);
    else
        snprintf(num, sizeof num, "%llu", (unsigned long long)uv);
    put_text(b, num);
}

static int put_json_val(dlp__buf *b, const dlp_val *v)
{
    char num[32];
    switch (v->kind) {
    case DLP_V_NULL:
        put_text(b, "null");
        return 0;
    case DLP_V_BOOL:
        put_text(b, v->v.b ? "true" : "false");
        return 0;
    case DLP_V_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->v.i);
        put_text(b, num);
        return 0;
    case DLP_V_UINT:
        snprintf(num, sizeof num, "%llu", (unsigned long long)v->v.u);
        put_text(b, num);
        return 0;
    case DLP_V_FLOAT:
        put_real(b, v->v.f);
        return 0;
    case DLP_V_STR:
        return put_jstring(b, v->v.s.ptr, v->v.s.len);
    case DLP_V_LIST:
    case DLP_V_MAP:
        put_text(b, v->kind == DLP_V_LIST ? "[" : "{");
        for (size_t i = 0; i < v->v.c.len; i++) {
            if (i)
                put_text(b, ",");
            if (v->kind == DLP_V_MAP) {
                if (put_jstring(b, v->v.c.keys[i], strlen(v->v.c.keys[i])))
                    return -1;
                put_text(b, ":");
            }
            if (put_json_val(b, v->v.c.items[i]))
                return -1;
        }
        put_text(b, v->kind == DLP_V_LIST ? "]" : "}");
        return 0;
    default:
        return -1; /* bytes: JSON has none */
    }
}

/* The decoded arguments as one JSON line, the array of the arguments:
 * 0, or -1 when one cannot be written in JSON (text that is not UTF-8,
 * from a ::: token). */
static int put_line(dlp__buf *b, const dlp_sig *sig, const dlp__slot *s)
{
    put_text(b, "[");
    for (unsigned i = 0; i < sig->nargs; i++) {
        dlp_type t = sig->args[i];
        const dlp__slot *x = &s[slot_of(sig, i)];
        if (i)
            put_text(b, ",");
        if (t == DLP_T_VAL) {
            if (put_json_val(b, x[0].ptr))
                return -1;
        } else if (DLP_T_IS_ARRAY(t)) {
            put_text(b, "[");
            for (size_t e = 0; e < x[1].size; e++) {
                if (e)
                    put_text(b, ",");
                put_num(b, DLP_T_ELEM(t), x[0].ptr, e);
            }
            put_text(b, "]");
        } else if (t == DLP_T_STR || t == DLP_T_BYTES) {
            size_t n = t == DLP_T_STR ? strlen(x[0].ptr) : x[1].size;
            if (put_jstring(b, x[0].ptr, n))
                return -1;
        } else if (t == DLP_T_BOOL) {
            put_text(b, x[0].b ? "true" : "false");
        } else {
            put_num(b, t, x, 0);
        }
    }
    put_text(b, "]");
    return 0;
}

/* ---- one task -------------------------------------------------------- */

/* The arguments of a JSON line, as the command reads them: the array of
 * the arguments, or for a function of one argument a bare value (and for
 * one T[] argument an array that is the argument itself, unless it holds
 * exactly one array).  NULL where the line gives no list of arguments;
 * *root is what to free. */
static json_t *json_args(const dlp_sig *sig, int array_arg, const char *line,
                         size_t n, json_t **root)
{
    json_error_t jerr;
    size_t flags = JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES;
    json_t *v = json_loadb(line, n, flags, &jerr), *list;
    reparsed = !v;
    if (!v)
        v = json_loadb(line, n, flags | JSON_DECODE_INT_AS_REAL, &jerr);
    *root = v;
    if (!v)
        return NULL;
    if (json_is_array(v) &&
        !(array_arg && !(json_array_size(v) == 1 &&
                         json_is_array(json_array_get(v, 0)))))
        return v;
    if (sig->nargs != 1)
        return NULL;
    list = json_array();
    CHECK(list && json_array_append(list, v) == 0);
    *root = list;
    json_decref(v);
    return list;
}

/* Decode a task's arguments, copied into a heap block of exactly their
 * size, as a worker does: they must be exactly the signature's. */
static void decode(const dlp_sig *sig, const dlp__buf *enc, unsigned char **copy,
                   dlp__slot *slots, dlp__argmem *mem)
{
    dlp__rd r;
    *copy = malloc(enc->len ? enc->len : 1);
    CHECK(*copy != NULL);
    if (enc->len)
        memcpy(*copy, enc->p, enc->len);
    dlp__rd_init(&r, *copy, enc->len);
    memset(mem, 0, sizeof *mem);
    CHECK(dlp__args_decode(&r, sig, slots, mem) == 0);
    CHECK(!r.bad && r.p == *copy + enc->len);
}

/* The task from iterator next: its checks.  line is the JSON line it was
 * read from (NULL for ::: tokens). */
static void run_task(const dlp_sig *sig, int array_arg, dlp_iter_fn next,
                     void *ud, const char *line, size_t n)
{
    dlp__buf enc = {0}, back = {0}, again = {0};
    dlp__slot slots[2 * DLP_MAX_ARGS];
    dlp__argmem mem;
    unsigned char *copy;
    char msg[512];
    int rc = dlp__job_args(sig, next, ud, 0, &enc, msg, sizeof msg);

    CHECK(rc == 1);
    if (msg[0]) {
        check_message(sig, msg);
        CHECK(enc.len == 0);
        dlp__buf_free(&enc);
        return;
    }
    decode(sig, &enc, &copy, slots, &mem);

    if (line) {
        json_t *root, *args = json_args(sig, array_arg, line, n, &root);
        CHECK(args != NULL && json_array_size(args) == sig->nargs);
        for (unsigned i = 0; i < sig->nargs; i++)
            check_arg(sig->args[i], &slots[slot_of(sig, i)],
                      json_array_get(args, i));
        json_decref(root);
    }

    /* Written back as a line, read again: the same bytes. */
    if (put_line(&back, sig, slots) == 0) {
        line_task t = {sig, array_arg, (const char *)back.p, back.len};
        rc = dlp__job_args(sig, next_line, &t, 0, &again, msg, sizeof msg);
        CHECK_MSG(rc == 1 && msg[0] == 0, msg);
        CHECK(again.len == enc.len &&
              (!enc.len || !memcmp(again.p, enc.p, enc.len)));
    }
    dlp__argmem_release(&mem);
    free(copy);
    dlp__buf_free(&enc);
    dlp__buf_free(&back);
    dlp__buf_free(&again);
}

/* ---- the input ------------------------------------------------------- */

static void json_lines(const dlp_sig *sig, int array_arg, const char *p,
                       const char *end)
{
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        /* Each line in a block of its own size: ASan sees a read past it. */
        char *line = malloc((size_t)(e - p) + 1);
        line_task t = {sig, array_arg, line, (size_t)(e - p)};
        CHECK(line != NULL);
        memcpy(line, p, t.n);
        run_task(sig, array_arg, next_line, &t, line, t.n);
        free(line);
        p = nl ? nl + 1 : end;
    }
}

static void tokens(const dlp_sig *sig, int array_arg, const char *p,
                   const char *end)
{
    char *tok[DLP_MAX_ARGS];
    size_t len[DLP_MAX_ARGS];
    unsigned k = 0;
    /* As the command: one source per argument (it refuses other counts
     * before it starts), so every task has nargs tokens; a last task
     * short of tokens is left out. */
    if (sig->nargs == 0)
        return;
    while (p < end) {
        const char *z = memchr(p, 0, (size_t)(end - p));
        const char *e = z ? z : end;
        /* NUL-terminated, as argv and a :::: file's lines are. */
        CHECK((tok[k] = malloc((size_t)(e - p) + 1)) != NULL);
        memcpy(tok[k], p, (size_t)(e - p));
        tok[k][e - p] = 0;
        len[k++] = (size_t)(e - p);
        p = z ? z + 1 : end;
        if (k == sig->nargs) {
            token_task t = {(const char *const *)tok, len, k};
            run_task(sig, array_arg, next_tokens, &t, NULL, 0);
            while (k)
                free(tok[--k]);
        }
    }
    while (k)
        free(tok[--k]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    dlp_sig sig;
    dlp_error err;
    int parsed = 0;

    if (size < 2)
        return 0;
    if (data[0] >= 0x80) {
        char text[MAX_SIG_TEXT + 1];
        size_t n = 0;
        p++;
        while (p < end && *p && n < MAX_SIG_TEXT)
            text[n++] = *p++;
        text[n] = 0;
        if (p < end && !*p)
            p++;
        parsed = dlp_sig_parse(text, &sig, &err) == 0;
        for (unsigned i = 0; parsed && i < sig.nargs; i++)
            if (sig.args[i] == DLP_T_CHAN)
                parsed = 0; /* a process function: not for `dlpool run` */
    } else {
        p++;
    }
    if (!parsed)
        CHECK(dlp_sig_parse(sig_table[data[0] % N_SIGS], &sig, &err) == 0);
    if (p >= end)
        return 0;
    {
        int array_arg = sig.nargs == 1 && DLP_T_IS_ARRAY(sig.args[0]);
        int mode = (unsigned char)*p++;
        if (mode % 2 == 0)
            json_lines(&sig, array_arg, p, end);
        else
            tokens(&sig, array_arg, p, end);
    }
    return 0;
}
