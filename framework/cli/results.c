/*
 * results.c - part of the dlpool command (framework/cli/main.c): each
 * result of a run as its output line.  See results.h.
 */
#include "config.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dlpool.h"
#include "input.h"
#include "progress.h"
#include "records.h"
#include "results.h"
#include "say.h"
#include "sources.h"
#include "text.h"

/* Print a double so that it reads back to the same value. */
static void put_double(FILE *out, double d, int is_f32)
{
    char buf[32];
    if (!isfinite(d)) {
        fputs("null", out); /* JSON has no NaN or infinity */
        return;
    }
    input_fmt_double(buf, d, is_f32);
    fputs(buf, out);
}

/* "dlpool: task 7 (line 8): MESSAGE" on standard error.  The message is
 * the plugin's, or quotes the input: its control characters are escaped,
 * so that none reaches the terminal to be obeyed. */
static void say_task_failed(const results *w, uint64_t index,
                            const char *msg)
{
    char where[160];
    fprintf(stderr, "%s: task %" PRIu64 " (", PROG, index);
    text_put_escaped(stderr,
                     sources_where(w->args, index, where, sizeof where));
    fputs("): ", stderr);
    text_put_escaped(stderr, msg);
    fputc('\n', stderr);
}

/* Write s as a JSON string.  Text that is not UTF-8 is refused (returns
 * -1) unless lossy is set, when each byte that is not part of a valid
 * character becomes '?' (the rest of the text is kept). */
static int put_json_string(FILE *out, const char *s, size_t len, int lossy)
{
    json_t *j = json_stringn(s, len);
    if (!j && lossy) {
        char *copy = text_lossy(s, len);
        if (!copy)
            return -1;
        j = json_stringn(copy, len);
        free(copy);
    }
    if (!j)
        return -1;
    json_dumpf(j, out, JSON_ENCODE_ANY);
    json_decref(j);
    return 0;
}

/* {"index":i,"error":{...}}: a failed task's line with --records. */
static void put_records_error(FILE *out, const dlp_result *res,
                              const char *msg)
{
    char *text;
    fprintf(out, "{\"index\":%" PRIu64 ",\"error\":{\"kind\":\"%s\","
                 "\"message\":",
            res->index, text_kind(res->fail));
    text = text_json(msg, strlen(msg));
    fputs(text ? text : "\"\"", out);
    free(text);
    if (res->fail == DLP_FAIL_SIGNAL)
        fprintf(out, ",\"signal\":%d", res->signo);
    if (res->fail == DLP_FAIL_EXIT)
        fprintf(out, ",\"exit_status\":%d", res->exit_status);
    if (res->attempts)
        fprintf(out, ",\"attempts\":%u", res->attempts);
    fputs("}}\n", out);
}

static void put_error(const results *w, FILE *out, const dlp_result *r,
                      const char *msg)
{
    char line[64] = "";
    char *arg_msg = NULL;
    if (r->fail == DLP_FAIL_INPUT && w->args)
        msg = (arg_msg = sources_arg_error(w->args, r->index, msg)) ? arg_msg
                                                                     : msg;
    else if (r->fail == DLP_FAIL_INPUT)
        snprintf(line, sizeof line, "line %" PRIu64 ": ", r->index + 1);
    rec_note_failure(w->rec, r->fail, msg);
    if (w->rec && rec_records(w->rec)) {
        /* The index is a field of its own: the message alone. */
        put_records_error(out, r, msg);
    } else {
        size_t n = strlen(line) + strlen(msg);
        char *full = malloc(n + 1);
        fputs("{\"error\":", out);
        if (full) {
            snprintf(full, n + 1, "%s%s", line, msg);
            put_json_string(out, full, n, 1);
            free(full);
        } else {
            put_json_string(out, msg, strlen(msg), 1);
        }
        fprintf(out, ",\"index\":%" PRIu64 "}\n", r->index);
    }
    fflush(out);
    progress_erase();
    say_task_failed(w, r->index, msg);
    free(arg_msg);
}

/* Append text to the path in where[size] (cut short when it is full). */
static void path_add(char *where, size_t size, size_t *used,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void path_add(char *where, size_t size, size_t *used,
                     const char *fmt, ...)
{
    va_list ap;
    int n;
    if (*used >= size)
        return;
    va_start(ap, fmt);
    n = vsnprintf(where + *used, size - *used, fmt, ap);
    va_end(ap);
    *used = n < 0 ? size : *used + (size_t)n;
}

/* Whether a val result holds a str, bytes or key that is not UTF-8 (JSON
 * output is text): 1 with its place in where ("$[2].name"), or 0. */
static int val_bad_text(const dlp_val *v, char *where, size_t size,
                        size_t used)
{
    if (!v)
        return 0;
    switch (v->kind) {
    case DLP_V_STR:
    case DLP_V_BYTES:
        return !text_is_utf8(v->v.s.ptr, v->v.s.len);
    case DLP_V_LIST:
    case DLP_V_MAP:
        for (size_t i = 0; i < v->v.c.len; i++) {
            size_t at = used;
            if (v->kind == DLP_V_LIST) {
                path_add(where, size, &at, "[%zu]", i);
            } else if (text_is_utf8(v->v.c.keys[i],
                                    strlen(v->v.c.keys[i]))) {
                path_add(where, size, &at, ".%s", v->v.c.keys[i]);
            } else {
                path_add(where, size, &at, " (key %zu)", i);
                return 1;
            }
            if (val_bad_text(v->v.c.items[i], where, size, at))
                return 1;
        }
        return 0;
    default:
        return 0;
    }
}

/* Write a val as compact JSON.  Its text has been checked: every string
 * is valid UTF-8. */
static void put_val(FILE *out, const dlp_val *v)
{
    if (!v) {
        fputs("null", out);
        return;
    }
    switch (v->kind) {
    case DLP_V_NULL:
        fputs("null", out);
        break;
    case DLP_V_BOOL:
        fputs(v->v.b ? "true" : "false", out);
        break;
    case DLP_V_INT:
        fprintf(out, "%" PRId64, v->v.i);
        break;
    case DLP_V_UINT:
        fprintf(out, "%" PRIu64, v->v.u);
        break;
    case DLP_V_FLOAT:
        put_double(out, v->v.f, 0);
        break;
    case DLP_V_STR:
    case DLP_V_BYTES:
        put_json_string(out, v->v.s.ptr, v->v.s.len, 0);
        break;
    case DLP_V_LIST:
    case DLP_V_MAP:
        fputc(v->kind == DLP_V_LIST ? '[' : '{', out);
        for (size_t i = 0; i < v->v.c.len; i++) {
            if (i)
                fputc(',', out);
            if (v->kind == DLP_V_MAP) {
                put_json_string(out, v->v.c.keys[i], strlen(v->v.c.keys[i]),
                                0);
                fputc(':', out);
            }
            put_val(out, v->v.c.items[i]);
        }
        fputc(v->kind == DLP_V_LIST ? ']' : '}', out);
        break;
    }
}

/* A result that arrived but cannot be written: the task fails. */
static void put_bad_result(results *w, FILE *out, const dlp_result *r,
                           const char *msg)
{
    counts *c = &w->n;
    dlp_result bad = *r;
    bad.fail = DLP_FAIL_RESULT;
    put_error(w, out, &bad, msg);
    c->failed++;
    c->by_kind[DLP_FAIL_RESULT]++;
}

static void put_result_line(results *w, FILE *out, const dlp_result *r)
{
    counts *c = &w->n;
    char where[160] = "$", msg[224];
    const char *end = "\n";
    if (r->fail) {
        put_error(w, out, r, r->error);
        c->failed++;
        if ((unsigned)r->fail <= DLP_FAIL_TIMEOUT)
            c->by_kind[r->fail]++;
        return;
    }
    /* Checked before anything is written: a task prints one whole line,
     * its result or its error. */
    if (r->type == DLP_T_STR && !text_is_utf8(r->v.s.ptr, r->v.s.len)) {
        put_bad_result(w, out, r, "the result is not valid UTF-8 text");
        return;
    }
    if (r->type == DLP_T_VAL &&
        val_bad_text(r->v.val, where, sizeof where, 1)) {
        snprintf(msg, sizeof msg, "the result is not valid UTF-8 text at %s",
                 where);
        put_bad_result(w, out, r, msg);
        return;
    }
    if (w->rec && rec_records(w->rec)) {
        fprintf(out, "{\"index\":%" PRIu64 ",\"value\":", r->index);
        end = "}\n";
    }
    switch (r->type) {
    case DLP_T_VOID:
        fputs("null", out);
        break;
    case DLP_T_BOOL:
        fputs(r->v.b ? "true" : "false", out);
        break;
    case DLP_T_F32:
    case DLP_T_F64:
        put_double(out, r->v.f, r->type == DLP_T_F32);
        break;
    case DLP_T_STR:
        /* Valid UTF-8, checked above: lossy never applies. */
        put_json_string(out, r->v.s.ptr, r->v.s.len, 1);
        break;
    case DLP_T_VAL:
        put_val(out, r->v.val);
        break;
    case DLP_T_I8:
    case DLP_T_I16:
    case DLP_T_I32:
    case DLP_T_I64:
        fprintf(out, "%" PRId64, r->v.i);
        break;
    default:
        fprintf(out, "%" PRIu64, r->v.u);
        break;
    }
    fputs(end, out);
    c->ok++;
}

void results_stored(void *ud, uint64_t index, dlp_fail_kind kind,
                    const char *msg)
{
    results *w = ud;
    counts *c = &w->n;
    if (kind == DLP_FAIL_NONE) {
        c->ok++;
        return;
    }
    c->failed++;
    if ((unsigned)kind <= DLP_FAIL_TIMEOUT)
        c->by_kind[kind]++;
    progress_erase();
    say_task_failed(w, index, msg);
}

/* One result: its line goes out through records.c, which turns the pool's
 * index into the input's, and may keep the line in the checkpoint, hold it
 * for its turn, and log the task. */
int results_write(results *w, dlp_result *r)
{
    put_result_line(w, rec_begin(w->rec, r), r);
    return rec_end(w->rec, r);
}
