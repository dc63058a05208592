/*
 * dlpool - the command line: map a plugin function over JSON Lines.
 *
 * It uses only the public API in <dlpool.h>: the command is one client of
 * the library among others.  JSON is read and written with jansson.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "dlpool.h"
#include "input.h"
#include "output.h"
#include "progress.h"
#include "records.h"
#include "text.h"

#define EXIT_TASKS_FAILED 1
#define EXIT_SETUP 2

static const char *prog = "dlpool";

/* "dlpool: MSG" on standard error, and "dlpool: WHAT: MSG": a message may
 * carry a plugin's words or a file's name, so its control characters are
 * escaped (text.h) rather than obeyed by a terminal. */
static void say2(const char *what, const char *msg)
{
    fprintf(stderr, "%s: ", prog);
    if (what)
        fprintf(stderr, "%s: ", what);
    text_put_escaped(stderr, msg);
    fputc('\n', stderr);
}

static void say(const char *msg)
{
    say2(NULL, msg);
}

/* Where the results go: standard output, through a writer of our own
 * (output.c). */
static output *run_out;

static void usage(FILE *to)
{
    /* One screen: at most 24 lines of 80 columns, common options first
     * (the installed plugin directory, on a line of its own, is as long
     * as the prefix makes it). */
    fprintf(to,
            "Usage: dlpool run [OPTIONS] PLUGIN:FUNCTION [INPUT | ::: ARG... "
            "| :::: FILE]\n"
            "       dlpool inspect [--json] PLUGIN\n"
            "       dlpool --help | --version\n"
            "\n"
            "Map FUNCTION over JSON Lines in a pool of worker processes: each "
            "line of\n"
            "INPUT (default: standard input) is a task, a JSON array of its "
            "arguments (a\n"
            "bare value for one argument); each result is a JSON line, in "
            "input order.\n"
            "::: gives the arguments on the command line instead, one source "
            "per\n"
            "argument: each combination is a task, as in GNU parallel.\n"
            "\n"
            "  -j, --jobs N        worker processes (default: online CPUs)\n"
            "      --progress      progress on stderr (default if a terminal; "
            "--no-progress)\n"
            "      --unordered     print results as they finish\n"
            "      --timeout S     fail a task running over S seconds\n"
            "      --retries N     rerun a task whose worker died, up to N "
            "times\n"
            "      --halt POLICY   never | now,fail=N | soon,fail=N\n"
            "      --sig SIG       signature of a function with no manifest "
            "entry\n"
            "      --checkpoint FILE, --records, --joblog FILE, --trace FILE, "
            "--restarts R/T\n"
            "      --max-tasks-per-worker N, --memory-limit SIZE, "
            "--max-line-length SIZE\n"
            "PLUGIN: a path (with a '/'), or a name found in "
            "DLPOOL_PLUGIN_PATH, then in\n"
            "  %s\n"
            "then in the system's library path.\n"
            "Exit status: 0 all tasks succeeded, 1 some failed (or --halt), "
            "2 usage or\n"
            "set-up error, 130/143 SIGINT/SIGTERM, 141 output's reader gone.  "
            "See "
            "dlpool(1).\n",
            DLP_PLUGINDIR);
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'dlpool --help'.\n");
    exit(EXIT_SETUP);
}

/* ---- reading tasks --------------------------------------------------- */

/* The input, read in blocks straight from its descriptor: the reader
 * can tell whether a whole line is at hand without blocking, so a task
 * from a slow pipe is sent at once instead of waiting for a full batch. */
typedef struct input {
    int fd;
    const char *name;
    char *buf;
    size_t cap, start, end; /* unread bytes are buf[start, end) */
    size_t clean;           /* buf[start, start + clean) has no newline */
    int eof;
    const dlp_sig *sig;
    int array_arg; /* the function has one argument, of an array type */
    int io_errno;
    int paused; /* the input has made us wait: do not hold results back */
    int stop;   /* read no more (--halt soon) */
    rec *rec;   /* records.c: sees every line read */
    /* --max-line-length: a longer line is read past, not held (never
     * more than this and a block are in memory), and fails alone. */
    size_t max_line;
    uint64_t skipped;   /* bytes of the current line read past so far */
    uint64_t skip_hash; /* their hash, for the checkpoint (records.c) */
    uint64_t long_len;  /* the line just read was over max_line: its
                           length; 0 otherwise */
} input;

/* The default --max-line-length: the largest frame, in which a task's
 * arguments travel (a line longer than that is never one task). */
#define MAX_LINE_DEFAULT ((size_t)1 << 30)

#define INPUT_PAUSE 2

/* The next line (without its newline) in *line, *len: returns 1, 0 at the
 * end of the input, -errno on a read error, or INPUT_PAUSE when may_pause
 * is set and no whole line can be had without blocking.  A line longer
 * than in->max_line is returned with in->long_len set to its length and
 * only its last piece in *line: the rest was read past, its hash kept in
 * in->skip_hash (when a checkpoint checks lines). */
static int read_line(input *in, const char **line, size_t *len,
                     int may_pause)
{
    for (;;) {
        size_t have = in->end - in->start;
        /* Only the bytes read since the last look are searched: a long
         * line read in blocks is scanned once, not once per block. */
        char *nl = have > in->clean ? memchr(in->buf + in->start + in->clean,
                                             '\n', have - in->clean)
                                    : NULL;
        in->clean = have;
        if (nl || (in->eof && (have || in->skipped))) {
            in->clean = 0;
            /* A line, or a last line with no newline. */
            *line = in->buf + in->start;
            *len = nl ? (size_t)(nl - *line) : have;
            in->start += *len + (nl != NULL);
            in->long_len = in->skipped + *len > in->max_line
                               ? in->skipped + *len
                               : 0;
            if (in->skipped && rec_skips(in->rec))
                in->skip_hash = rec_hash_add(in->skip_hash, *line, *len);
            in->skipped = 0;
            return 1;
        }
        if (in->eof)
            return 0;
        if (in->skipped || have > in->max_line) {
            /* No newline in more than max_line bytes: the line is too
             * long to be a task.  Read past it, keeping its hash. */
            if (rec_skips(in->rec))
                in->skip_hash = rec_hash_add(
                    in->skipped ? in->skip_hash : REC_HASH_START,
                    in->buf + in->start, have);
            in->skipped += have;
            in->start = in->end = in->clean = 0;
        }
        if (in->start) {
            memmove(in->buf, in->buf + in->start, in->end - in->start);
            in->end -= in->start;
            in->start = 0;
        }
        if (in->end == in->cap) {
            /* Room for max_line bytes and one more, to see that a line
             * is longer: never more. */
            size_t cap = in->cap ? in->cap * 2 : 1 << 16;
            if (cap > in->max_line + 1)
                cap = in->max_line + 1;
            char *b = realloc(in->buf, cap);
            if (!b)
                return -ENOMEM;
            in->buf = b;
            in->cap = cap;
        }
        if (may_pause) {
            /* Nothing to read now: pause rather than block.  A signal in
             * the poll asks again (falling through to a read that blocks
             * would leave the signal unheeded until input came). */
            struct pollfd pfd = {in->fd, POLLIN, 0};
            int pr = poll(&pfd, 1, 0);
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr == 0)
                return INPUT_PAUSE;
        }
        ssize_t r = read(in->fd, in->buf + in->end, in->cap - in->end);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            in->eof = 1;
        in->end += (size_t)r;
    }
}

/* How many tasks a small regular file holds (its lines, at most), read
 * whole into the input's buffer now (the reader takes them from there):
 * a pool needs no more workers than that, and each costs a fork.  Returns
 * 0 for anything else (a pipe, a large or growing file): unknown. */
static size_t small_input_tasks(input *in)
{
    struct stat st;
    size_t lines = 0;
    if (fstat(in->fd, &st) || !S_ISREG(st.st_mode) || st.st_size >= 1 << 16)
        return 0;
    if (!(in->buf = malloc(in->cap = 1 << 16)))
        return 0;
    while (in->end < in->cap) {
        ssize_t r = read(in->fd, in->buf + in->end, in->cap - in->end);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            in->eof = r == 0;
            break;
        }
        in->end += (size_t)r;
    }
    if (!in->eof)
        return 0; /* a read error (the reader meets it again) or it grew */
    for (const char *p = in->buf, *e = in->buf + in->end; p < e; lines++) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        p = nl ? nl + 1 : e;
    }
    return lines ? lines : 1;
}

/* Print a double so that it reads back to the same value. */
static void put_double(FILE *out, double d, int is_f32)
{
    char buf[32];
    if (!isfinite(d)) {
        fputs("null", out); /* JSON has no NaN or infinity */
        return;
    }
    fmt_double(buf, d, is_f32);
    fputs(buf, out);
}

static int next_task(void *ud, uint64_t index, dlp_args *a)
{
    input *in = ud;
    const char *line = NULL;
    size_t n = 0;
    int rc;

    /* A line whose result is in the checkpoint is skipped (records.c
     * writes its stored line in its place): read on. */
    do {
        if (in->stop)
            return 0;
        rc = read_line(in, &line, &n, 1);
        if (rc == INPUT_PAUSE) {
            /* Input is slow: from now on results are written as they
             * come. */
            in->paused = 1;
            output_flush(run_out);
            return DLP_ITER_PAUSE;
        }
        if (rc < 0) {
            in->io_errno = -rc;
            return -EIO;
        }
        if (rc == 0)
            return rec_input_end(in->rec) ? -EINVAL : 0;
    } while ((rc = in->long_len > n /* read past: its hash was kept */
                       ? rec_line_hash(in->rec, index, in->skip_hash)
                       : rec_line(in->rec, index, line, n)) == 1);
    if (rc < 0)
        return -EINVAL; /* the checkpoint is of other input */
    if (in->long_len) {
        dlp_args_fail(a, "the line is longer than --max-line-length (%zu "
                         "bytes): %" PRIu64 " bytes",
                      in->max_line, in->long_len);
        return 1;
    }
    return input_line_args(in->sig, in->array_arg, line, n, a);
}

/* ---- arguments on the command line: ::: and :::: -------------------- */

/*
 * GNU parallel's input sources: "::: A B C" lists arguments, ":::: FILE"
 * reads one argument per line.  Source k fills argument k of the function,
 * and every combination is one task, the first source varying slowest:
 * "::: 1 2 ::: a b" runs [1,a], [1,b], [2,a], [2,b].  Task i's
 * combination is computed from i (its digits in the mixed radix of the
 * source sizes), so the product is never held in memory.
 */
typedef struct argsrc {
    const char *file; /* ":::: FILE"; NULL for "::: ..." */
    char **tok;       /* the arguments, NUL-terminated */
    size_t *len;
    size_t n;
    char *text; /* a file's contents, which tok points into */
} argsrc;

typedef struct arglist {
    argsrc *src;
    unsigned nsrc;
    uint64_t total; /* tasks: the product of the source sizes */
    input *in;      /* its stop flag (--halt soon) */
    uint64_t next;  /* with --checkpoint: the next combination to read */
} arglist;

/* The arguments of the run, when they come from the command line; put_error
 * names the token of a task that failed on it. */
static const arglist *cmdline_args;

/* A set-up error before the pool starts: the message, and status 2. */
static void die_setup(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die_setup(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_SETUP);
}

static int is_source_mark(const char *s)
{
    return !strcmp(s, ":::") || !strcmp(s, "::::");
}

/* The lines of a :::: FILE ("-": standard input) as a source.  A line
 * longer than max_line is a set-up error, found as it is read: the file
 * is held whole, and one endless line must not take all memory. */
static void read_arg_file(argsrc *s, unsigned k, size_t max_line)
{
    int fd = strcmp(s->file, "-") ? open(s->file, O_RDONLY | O_CLOEXEC) : 0;
    size_t cap = 1 << 12, used = 0, lines = 0, line_at = 0, nl_n = 0;
    char *p, *end;
    if (fd < 0)
        die_setup(":::: source %u: cannot open '%s': %s", k, s->file,
                  strerror(errno));
    for (;;) {
        ssize_t r;
        if (!s->text || used + 1 >= cap) {
            char *t = realloc(s->text, cap *= 2);
            if (!t)
                die_setup(":::: source %u: '%s': out of memory", k, s->file);
            s->text = t;
        }
        r = read(fd, s->text + used, cap - used - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die_setup(":::: source %u: reading '%s': %s", k, s->file,
                      strerror(errno));
        if (r == 0)
            break;
        for (char *q = s->text + used, *e = q + r;
             (q = memchr(q, '\n', (size_t)(e - q))); q++, nl_n++)
            line_at = (size_t)(q - s->text) + 1;
        used += (size_t)r;
        if (used - line_at > max_line)
            die_setup(":::: source %u: '%s': line %zu is longer than "
                      "--max-line-length (%zu bytes)",
                      k, s->file, nl_n + 1, max_line);
    }
    if (fd > 0)
        close(fd);
    s->text[used] = 0;
    for (p = s->text, end = s->text + used; p < end; lines++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        p = nl ? nl + 1 : end;
    }
    s->tok = malloc((lines ? lines : 1) * sizeof *s->tok);
    s->len = malloc((lines ? lines : 1) * sizeof *s->len);
    if (!s->tok || !s->len)
        die_setup(":::: source %u: '%s': out of memory", k, s->file);
    for (p = s->text; p < end; s->n++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        if (e > p && e[-1] == '\r')
            e--;
        *e = 0;
        s->tok[s->n] = p;
        s->len[s->n] = (size_t)(e - p);
        p = nl ? nl + 1 : end;
    }
}

/* The sources in argv[i, argc), which starts with ::: or ::::. */
static void parse_sources(int argc, char **argv, int i, arglist *al,
                          size_t max_line)
{
    unsigned cap = 0;
    int stdin_used = 0;
    memset(al, 0, sizeof *al);
    al->total = 1;
    while (i < argc) {
        int files = !strcmp(argv[i], "::::"), j = ++i;
        while (j < argc && !is_source_mark(argv[j]))
            j++;
        if (j == i)
            die_usage("run: '%s' with nothing after it (source %u)",
                      files ? "::::" : ":::", al->nsrc + 1);
        for (; i < j; i++) {
            argsrc *s;
            if (al->nsrc == cap) {
                argsrc *t = realloc(al->src, (cap = cap ? 2 * cap : 4) *
                                                 sizeof *t);
                if (!t)
                    die_setup("out of memory");
                al->src = t;
            }
            s = &al->src[al->nsrc++];
            memset(s, 0, sizeof *s);
            if (files) {
                s->file = argv[i];
                if (!strcmp(s->file, "-") && stdin_used++)
                    die_usage("run: ':::: -' (standard input) given twice");
                read_arg_file(s, al->nsrc, max_line);
            } else {
                s->tok = argv + i;
                s->n = (size_t)(j - i);
                if (!(s->len = malloc(s->n * sizeof *s->len)))
                    die_setup("out of memory");
                for (size_t t = 0; t < s->n; t++)
                    s->len[t] = strlen(s->tok[t]);
                i = j - 1; /* one source for all the arguments */
            }
            if (s->n && al->total > UINT64_MAX / s->n)
                die_usage("run: the ::: sources make more than 2^64 tasks");
            al->total *= s->n;
        }
    }
}

static void free_sources(arglist *al)
{
    for (unsigned k = 0; k < al->nsrc; k++) {
        if (al->src[k].file) {
            free(al->src[k].text);
            free(al->src[k].tok);
        }
        free(al->src[k].len);
    }
    free(al->src);
}

/* The position of task index's argument in each source. */
static void arg_positions(const arglist *al, uint64_t index, size_t *pos)
{
    for (unsigned k = al->nsrc; k-- > 0;) {
        pos[k] = (size_t)(index % al->src[k].n);
        index /= al->src[k].n;
    }
}


/* Combination pos as one line for the checkpoint (records.c), which
 * hashes it: its tokens, each followed by a NUL.  As rec_line. */
static int arg_line(const arglist *al, uint64_t index, const size_t *pos)
{
    size_t n = 0;
    char *text, *p;
    int rc;
    for (unsigned k = 0; k < al->nsrc; k++)
        n += al->src[k].len[pos[k]] + 1;
    if (!(p = text = malloc(n)))
        return -1;
    for (unsigned k = 0; k < al->nsrc; k++) {
        memcpy(p, al->src[k].tok[pos[k]], al->src[k].len[pos[k]]);
        p += al->src[k].len[pos[k]];
        *p++ = 0;
    }
    rc = rec_line(al->in->rec, index, text, n);
    free(text);
    return rc;
}

static int next_arg_task(void *ud, uint64_t index, dlp_args *a)
{
    arglist *al = ud;
    size_t pos[DLP_MAX_ARGS];
    if (rec_skips(al->in->rec)) {
        /* Combinations already in the checkpoint are skipped, so task
         * index runs combination al->next. */
        int rc;
        do {
            if (al->in->stop)
                return 0;
            if (al->next >= al->total)
                return rec_input_end(al->in->rec) ? -EINVAL : 0;
            arg_positions(al, al->next++, pos);
        } while ((rc = arg_line(al, index, pos)) == 1);
        if (rc < 0)
            return -EINVAL;
    } else {
        if (index >= al->total || al->in->stop)
            return 0;
        arg_positions(al, index, pos);
    }
    for (unsigned k = 0; k < al->nsrc; k++) {
        const argsrc *s = &al->src[k];
        if (input_token_arg(a, k + 1, s->tok[pos[k]], s->len[pos[k]]))
            break;
    }
    return 1;
}

/* Append a token to buf for a message: control characters as '?', cut at
 * max bytes (or a little less: never in the middle of a character). */
static void put_token_text(char *buf, size_t size, const char *tok,
                           size_t len, size_t max)
{
    size_t at = strlen(buf), keep = text_cut(tok, len, max);
    for (size_t i = 0; i < keep && at + 4 < size; i++)
        buf[at++] = (unsigned char)tok[i] < 0x20 || tok[i] == 0x7f ? '?'
                                                                  : tok[i];
    if (len > max && at + 4 < size) {
        memcpy(buf + at, "...", 3);
        at += 3;
    }
    buf[at] = 0;
}

/* Where task index came from, for messages: "line 8", or its arguments
 * "::: 2 b". */
static const char *task_where(uint64_t index, char *buf, size_t size)
{
    size_t pos[DLP_MAX_ARGS];
    if (!cmdline_args) {
        snprintf(buf, size, "line %" PRIu64, index + 1);
        return buf;
    }
    arg_positions(cmdline_args, index, pos);
    snprintf(buf, size, ":::");
    for (unsigned k = 0; k < cmdline_args->nsrc; k++) {
        const argsrc *s = &cmdline_args->src[k];
        if (strlen(buf) + 2 < size)
            strcat(buf, " ");
        put_token_text(buf, size, s->tok[pos[k]], s->len[pos[k]], 24);
    }
    return buf;
}

/* "dlpool: task 7 (line 8): MESSAGE" on standard error.  The message is
 * the plugin's, or quotes the input: its control characters are escaped,
 * so that none reaches the terminal to be obeyed. */
static void say_task_failed(uint64_t index, const char *msg)
{
    char where[160];
    fprintf(stderr, "%s: task %" PRIu64 " (", prog, index);
    text_put_escaped(stderr, task_where(index, where, sizeof where));
    fputs("): ", stderr);
    text_put_escaped(stderr, msg);
    fputc('\n', stderr);
}

/*
 * The message of a task whose argument did not fit, as the user should
 * read it: the library says "argument K (T): ..." of the function, and
 * argument K is a token of source K, which the message names instead:
 * "::: source 2, argument 3 'abc' (i64): expected an integer, got a
 * string".  A new string (NULL when out of memory).
 */
static char *arg_error(const arglist *al, uint64_t index, const char *msg)
{
    size_t pos[DLP_MAX_ARGS];
    unsigned k = 0;
    int skip = 0;
    char head[256] = "";
    char *out;
    if (sscanf(msg, "argument %u%n", &k, &skip) < 1 || k < 1 ||
        k > al->nsrc) {
        task_where(index, head, sizeof head);
        skip = 0;
        strcat(head, ": ");
    } else {
        const argsrc *s = &al->src[k - 1];
        arg_positions(al, index, pos);
        if (s->file)
            snprintf(head, sizeof head, ":::: source %u (%.*s), line %zu '",
                     k, (int)text_cut(s->file, strlen(s->file), 64), s->file,
                     pos[k - 1] + 1);
        else
            snprintf(head, sizeof head, "::: source %u, argument %zu '", k,
                     pos[k - 1] + 1);
        put_token_text(head, sizeof head - 2, s->tok[pos[k - 1]],
                       s->len[pos[k - 1]], 40);
        strcat(head, "'");
    }
    if (asprintf(&out, "%s%s", head, msg + skip) < 0)
        return NULL;
    return out;
}

/* ---- writing results ------------------------------------------------- */

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

typedef struct counts {
    uint64_t ok, failed;
    uint64_t by_kind[DLP_FAIL_TIMEOUT + 1];
} counts;

/* The run's records (records.c): --records, --checkpoint, --joblog,
 * --trace. */
static rec *run_rec;

static void put_error(FILE *out, const dlp_result *r, const char *msg)
{
    char line[64] = "";
    char *arg_msg = NULL;
    if (r->fail == DLP_FAIL_INPUT && cmdline_args)
        msg = (arg_msg = arg_error(cmdline_args, r->index, msg)) ? arg_msg
                                                                  : msg;
    else if (r->fail == DLP_FAIL_INPUT)
        snprintf(line, sizeof line, "line %" PRIu64 ": ", r->index + 1);
    rec_note_failure(run_rec, r->fail, msg);
    if (run_rec && rec_records(run_rec)) {
        /* The index is a field of its own: the message alone. */
        rec_put_error(out, r, msg);
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
    say_task_failed(r->index, msg);
    free(arg_msg);
}

/* Append text to the path in where[size] (cut short when it is full). */
static void path_add(char *where, size_t size, size_t *used,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

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
static void put_bad_result(FILE *out, const dlp_result *r, counts *c,
                           const char *msg)
{
    dlp_result bad = *r;
    bad.fail = DLP_FAIL_RESULT;
    put_error(out, &bad, msg);
    c->failed++;
    c->by_kind[DLP_FAIL_RESULT]++;
}

static void put_result(FILE *out, const dlp_result *r, counts *c)
{
    char where[160] = "$", msg[224];
    const char *end = "\n";
    if (r->fail) {
        put_error(out, r, r->error);
        c->failed++;
        if ((unsigned)r->fail <= DLP_FAIL_TIMEOUT)
            c->by_kind[r->fail]++;
        return;
    }
    /* Checked before anything is written: a task prints one whole line,
     * its result or its error. */
    if (r->type == DLP_T_STR && !text_is_utf8(r->v.s.ptr, r->v.s.len)) {
        put_bad_result(out, r, c, "the result is not valid UTF-8 text");
        return;
    }
    if (r->type == DLP_T_VAL &&
        val_bad_text(r->v.val, where, sizeof where, 1)) {
        snprintf(msg, sizeof msg, "the result is not valid UTF-8 text at %s",
                 where);
        put_bad_result(out, r, c, msg);
        return;
    }
    if (run_rec && rec_records(run_rec)) {
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

/* ---- commands -------------------------------------------------------- */

/* --halt: GNU parallel's policies, by failure count. */
enum { HALT_NEVER, HALT_NOW, HALT_SOON };

static void parse_halt(const char *arg, int *when, uint64_t *fails)
{
    const char *rest;
    char *end;
    if (!strcmp(arg, "never")) {
        *when = HALT_NEVER;
        return;
    }
    if (!strncmp(arg, "now,", 4))
        *when = HALT_NOW, rest = arg + 4;
    else if (!strncmp(arg, "soon,", 5))
        *when = HALT_SOON, rest = arg + 5;
    else
        die_usage("--halt: expected never, now,fail=N or soon,fail=N, got "
                  "'%s'",
                  arg);
    if (strncmp(rest, "fail=", 5))
        die_usage("--halt: expected fail=N after '%.*s', got '%s'",
                  (int)(rest - arg), arg, rest);
    errno = 0;
    unsigned long long n = strtoull(rest + 5, &end, 10);
    if (errno || *end || end == rest + 5 || n < 1 || rest[5] == '-')
        die_usage("--halt: fail=N needs a whole number of at least 1, got "
                  "'%s'",
                  rest + 5);
    *fails = n;
}

static unsigned long parse_count(const char *opt, const char *arg,
                                 unsigned long min, unsigned long max)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(arg, &end, 10);
    if (errno || *end || end == arg || arg[0] == '-' || n < min || n > max)
        die_usage("%s: expected a whole number from %lu to %lu, got '%s'",
                  opt, min, max, arg);
    return n;
}

static double parse_seconds(const char *opt, const char *arg)
{
    char *end;
    errno = 0;
    double d = strtod(arg, &end);
    if (errno || *end || end == arg || !(d > 0) || d > 1e7)
        die_usage("%s: expected a number of seconds above 0 (decimals "
                  "allowed), got '%s'",
                  opt, arg);
    return d;
}

/* "512M", "2G", "100000": bytes, with binary K/M/G/T suffixes. */
static uint64_t parse_size(const char *opt, const char *arg)
{
    char *end;
    errno = 0;
    double d = strtod(arg, &end);
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; end++; break;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (errno || *end || end == arg || !(d > 0) || d * mult < 1 << 20 ||
        d * mult > 1e18)
        die_usage("%s: expected a size of at least 1M such as 512M or 2G, "
                  "got '%s'",
                  opt, arg);
    return (uint64_t)(d * mult);
}

/* The pool the signal handler interrupts; the command runs one. */
static dlp_pool *volatile sig_pool;
static volatile sig_atomic_t sig_caught;

static void on_signal(int sig)
{
    if (sig_caught) {
        /* A second signal: leave at once, as the signal would. */
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    sig_caught = sig;
    if (sig_pool)
        dlp_pool_interrupt(sig_pool);
}

static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    /* No SA_RESTART: a write of results blocked by a reader that does
     * not read must end (once sig_caught is set, output.c writes only
     * while the reader makes room; every other call here is retried on
     * EINTR); waiting in the pool is cut short by dlp_pool_interrupt. */
    sa.sa_flags = 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A closed output is seen as EPIPE from write, not as a signal. */
    signal(SIGPIPE, SIG_IGN);
}

/* Say what was not run: tasks read but unfinished, and input not read. */
static void say_not_run(const char *why, dlp_job *job, const input *in,
                        uint64_t written)
{
    dlp_job_counts n;
    dlp_job_counts_get(job, &n);
    fprintf(stderr, "%s: %s: %" PRIu64 " task%s read but not finished or "
            "not written",
            prog, why, n.pulled - written, n.pulled - written == 1 ? "" : "s");
    if (in->eof && in->start == in->end)
        fprintf(stderr, "\n");
    else
        fprintf(stderr, "; input from line %" PRIu64 " on was not read\n",
                rec_lines(in->rec) + 1);
}

/* The closing line when tasks failed: "dlpool: 3 of 5 tasks failed (2
 * killed by a signal, 1 timed out)", each count with its kind. */
static void say_failures(const counts *c)
{
    static const char *const kinds[][2] = {
        {"", ""},
        {"plugin error", "plugin errors"},
        {"bad input", "bad inputs"},
        {"killed by a signal", "killed by a signal"},
        {"exited", "exited"},
        {"bad result", "bad results"},
        {"worker lost", "workers lost"},
        {"timed out", "timed out"}};
    uint64_t total = c->failed + c->ok, named = 0;
    const char *sep = "";
    fprintf(stderr, "%s: %" PRIu64 " of %" PRIu64 " task%s failed (", prog,
            c->failed, total, total == 1 ? "" : "s");
    for (unsigned k = 1; k <= DLP_FAIL_TIMEOUT; k++) {
        if (c->by_kind[k]) {
            fprintf(stderr, "%s%" PRIu64 " %s", sep, c->by_kind[k],
                    kinds[k][c->by_kind[k] != 1]);
            named += c->by_kind[k];
            sep = ", ";
        }
    }
    if (named < c->failed)
        fprintf(stderr, "%s%" PRIu64 " cancelled", sep, c->failed - named);
    fprintf(stderr, ")\n");
}

/* The counts of the lines the output holds (records.c counts them as
 * they are written, stored ones included): a line finished but never
 * written (held for its turn at --halt now) is not in the closing line. */
static void written_counts(const rec *r, counts *c)
{
    memset(c, 0, sizeof *c);
    c->ok = rec_lines_of(r, DLP_FAIL_NONE);
    c->failed = rec_failures(r);
    for (unsigned k = 1; k <= DLP_FAIL_TIMEOUT; k++)
        c->by_kind[k] = rec_lines_of(r, (dlp_fail_kind)k);
}

/* ---- the progress line (progress.c) ----------------------------------- */

/* Where the reader is in a regular file: base is the offset of the first
 * byte of the input in the file. */
typedef struct input_at {
    input *in;
    uint64_t base;
} input_at;

/* Bytes handed out as tasks: those read from the file, less those still in
 * the buffer.  Nothing is read for it. */
static void input_where(void *ud, progress_pos *pos)
{
    const input_at *at = ud;
    const input *in = at->in;
    off_t off = lseek(in->fd, 0, SEEK_CUR);
    uint64_t behind = at->base + (in->end - in->start);
    pos->bytes = off >= 0 && (uint64_t)off > behind ? (uint64_t)off - behind
                                                    : 0;
    pos->complete = in->eof && in->start == in->end;
}

/* Called from the progress timer's signal handler. */
/* Before the progress line is drawn again on the terminal that standard
 * output is too: the results so far go out first (not from the timer's
 * handler: draws happen in the command's own loop).  A failure is kept
 * by the writer and said when the run ends. */
static void flush_results(void)
{
    if (run_out)
        output_flush(run_out);
}

static void wake_pool(void)
{
    dlp_pool *p = sig_pool;
    if (p)
        dlp_pool_interrupt(p);
}

/* Draw progress for a run of this job: its size is the number of
 * combinations of command-line arguments, or the size of a regular input
 * file, or not known (a pipe). */
static void start_progress(input *in, const arglist *args, dlp_job *job)
{
    static input_at at;
    progress_size size = {0, 0, NULL, NULL, job};
    struct stat st;
    int rc;
    if (args->nsrc) {
        size.tasks = args->total;
    } else if (fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode)) {
        /* No task has been read yet: the buffer holds only what was read
         * ahead, which is still to come. */
        off_t off = lseek(in->fd, 0, SEEK_CUR);
        if (off >= 0 && (uint64_t)off >= in->end - in->start) {
            at.in = in;
            at.base = (uint64_t)off - (in->end - in->start);
            if ((uint64_t)st.st_size > at.base) {
                size.bytes = (uint64_t)st.st_size - at.base;
                size.where = input_where;
                size.where_ud = &at;
            }
        }
    }
    if ((rc = progress_start(2, &size, isatty(1) ? flush_results : NULL,
                             wake_pool)))
        fprintf(stderr, "%s: --progress: cannot start its timer: %s\n", prog,
                strerror(-rc));
}

/* Options without a short form (records.c's). */
enum {
    OPT_RECORDS = 0x201,
    OPT_CHECKPOINT,
    OPT_JOBLOG,
    OPT_TRACE,
    OPT_MAX_LINE
};

/* A task whose line came from the checkpoint: counted, and its failure
 * reported, as when it ran. */
static void stored_task(void *ud, uint64_t index, dlp_fail_kind kind,
                        const char *msg)
{
    counts *c = ud;
    if (kind == DLP_FAIL_NONE) {
        c->ok++;
        return;
    }
    c->failed++;
    if ((unsigned)kind <= DLP_FAIL_TIMEOUT)
        c->by_kind[kind]++;
    progress_erase();
    say_task_failed(index, msg);
}

/* A step of the start-up failed with msg: status 2, unless a signal
 * interrupted it (loading a plugin that takes long): then the signal's. */
static int setup_failed(const char *msg)
{
    if (sig_caught) {
        fprintf(stderr, "%s: %s: ", prog,
                sig_caught == SIGINT ? "interrupted by SIGINT"
                                     : "terminated by SIGTERM");
        text_put_escaped(stderr, msg);
        fputs("; no task was run\n", stderr);
        return 128 + sig_caught;
    }
    say(msg);
    return EXIT_SETUP;
}

/* Writing the results failed: 141 for a reader that went away (as
 * SIGPIPE would, silently); any other error is said, with status 2. */
static int output_failed(void)
{
    int e = output_error(run_out);
    if (e == EPIPE)
        return 128 + SIGPIPE;
    progress_erase();
    fprintf(stderr, "%s: writing results to %s: %s\n", prog,
            output_name(run_out), strerror(e));
    return EXIT_SETUP;
}

/* The end of a command that wrote to standard output through stdio: 0,
 * or (a closed output, a full disk) a message and status 2. */
static int stdout_written(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    fprintf(stderr, "%s: writing to standard output: %s\n", prog,
            strerror(errno));
    return EXIT_SETUP;
}

/* One result: its line goes out through records.c, which turns the pool's
 * index into the input's, and may keep the line in the checkpoint, hold it
 * for its turn, and log the task. */
static int write_result(dlp_result *r, counts *c)
{
    put_result(rec_begin(run_rec, r), r, c);
    return rec_end(run_rec, r);
}

static int cmd_run(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"jobs", required_argument, NULL, 'j'},
        {"sig", required_argument, NULL, 's'},
        {"unordered", no_argument, NULL, 'u'},
        {"timeout", required_argument, NULL, 't'},
        {"retries", required_argument, NULL, 'r'},
        {"max-tasks-per-worker", required_argument, NULL, 'm'},
        {"memory-limit", required_argument, NULL, 'M'},
        {"halt", required_argument, NULL, 'H'},
        {"restarts", required_argument, NULL, 'R'},
        {"progress", no_argument, NULL, 'P'},
        {"no-progress", no_argument, NULL, 'N'},
        {"records", no_argument, NULL, OPT_RECORDS},
        {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
        {"joblog", required_argument, NULL, OPT_JOBLOG},
        {"trace", required_argument, NULL, OPT_TRACE},
        {"max-line-length", required_argument, NULL, OPT_MAX_LINE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    dlp_pool_options popts;
    dlp_job_options jopts;
    const char *sig = NULL, *ref, *path = NULL;
    dlp_pool *pool = NULL;
    dlp_job *job = NULL;
    dlp_error err = {0, ""};
    input in;
    counts c;
    int opt, fn, rc, status = 0;
    int halt_when = HALT_NEVER, halted = 0, out_said = 0, by_signal = 0;
    uint64_t halt_fails = 0;
    int show_progress = -1; /* -1: when standard error is a terminal */
    arglist args = {NULL, 0, 0, NULL, 0};
    rec_config rcfg;
    char sources[64];
    size_t max_line = MAX_LINE_DEFAULT;

    memset(&c, 0, sizeof c);
    memset(&rcfg, 0, sizeof rcfg);
    dlp_pool_options_init(&popts);
    dlp_job_options_init(&jopts);
    optind = 1;
    opterr = 0; /* we say what was wrong, in our own words */
    while ((opt = getopt_long(argc, argv, "+:j:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'j': {
            char *end;
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || n < 1 || n > 4096)
                die_usage("-j: expected a number of workers from 1 to "
                          "4096, got '%s'",
                          optarg);
            popts.workers = (unsigned)n;
            break;
        }
        case 's':
            sig = optarg;
            break;
        case 'u':
            jopts.flags |= DLP_JOB_UNORDERED;
            break;
        case 't':
            jopts.timeout = parse_seconds("--timeout", optarg);
            break;
        case 'r':
            jopts.retries =
                (unsigned)parse_count("--retries", optarg, 0, 1000000);
            break;
        case 'm':
            popts.max_tasks_per_worker = (unsigned)parse_count(
                "--max-tasks-per-worker", optarg, 1, 4000000000ul);
            break;
        case 'M':
            popts.memory_limit = parse_size("--memory-limit", optarg);
            break;
        case 'H':
            parse_halt(optarg, &halt_when, &halt_fails);
            break;
        case 'R': {
            char *slash = strchr(optarg, '/');
            if (!slash)
                die_usage("--restarts: expected R/T (restarts per seconds), "
                          "got '%s'",
                          optarg);
            *slash = 0;
            popts.restart_intensity =
                (unsigned)parse_count("--restarts", optarg, 1, 1000000);
            popts.restart_period = parse_seconds("--restarts", slash + 1);
            *slash = '/';
            break;
        }
        case 'P':
        case 'N':
            show_progress = opt == 'P';
            break;
        case OPT_RECORDS:
            rcfg.records = 1;
            break;
        case OPT_CHECKPOINT:
            rcfg.checkpoint = optarg;
            break;
        case OPT_JOBLOG:
            rcfg.joblog = optarg;
            break;
        case OPT_TRACE:
            rcfg.trace = optarg;
            break;
        case OPT_MAX_LINE:
            max_line = (size_t)parse_size("--max-line-length", optarg);
            break;
        case 'h':
            usage(stdout);
            return stdout_written();
        case ':':
            die_usage("run: option '%s' needs a value", argv[optind - 1]);
        default:
            die_usage("run: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        die_usage("run: missing PLUGIN:FUNCTION");
    ref = argv[optind++];
    if (is_source_mark(ref))
        die_usage("run: missing PLUGIN:FUNCTION before '%s'", ref);
    if (optind < argc && !is_source_mark(argv[optind]))
        path = argv[optind++];
    if (optind < argc && is_source_mark(argv[optind]) && path)
        die_usage("run: both INPUT '%s' and '%s' arguments: give one or "
                  "the other",
                  path, argv[optind]);
    if (optind < argc && !is_source_mark(argv[optind]))
        die_usage("run: unexpected argument '%s'", argv[optind]);
    if (!strchr(ref, ':'))
        die_usage("run: '%s' is not PLUGIN:FUNCTION", ref);
    if (sig) {
        dlp_sig parsed;
        if (dlp_sig_parse(sig, &parsed, &err)) {
            say2("--sig", err.msg);
            return EXIT_SETUP;
        }
    }
    if (optind < argc)
        parse_sources(argc, argv, optind, &args, max_line);
    {
        /* Under mpirun -n K: rank 0 is this command as usual, with its
         * workers on the other ranks; every other rank is an agent. */
        int rank = 0, size = 1;
        if (dlp_mpi_launched(&rank, &size) && size > 1) {
            if (rank > 0) {
                if (dlp_mpi_agent(&popts, &err)) {
                    char who[32];
                    snprintf(who, sizeof who, "rank %d", rank);
                    say2(who, err.msg);
                    return EXIT_SETUP;
                }
                return 0;
            }
            popts.transport = DLP_TRANSPORT_MPI;
        }
    }

    memset(&in, 0, sizeof in);
    in.max_line = max_line;
    in.fd = 0;
    in.name = "standard input";
    if (path && strcmp(path, "-") != 0) {
        in.fd = open(path, O_RDONLY | O_CLOEXEC);
        in.name = path;
        if (in.fd < 0) {
            fprintf(stderr, "%s: cannot open input '%s': %s\n", prog, path,
                    strerror(errno));
            return EXIT_SETUP;
        }
    }

    if (args.nsrc) {
        /* The tasks come from the command line: nothing is read. */
        in.fd = -1;
        in.eof = 1;
        args.in = &in;
        cmdline_args = &args;
    }
    /* Before the pool starts: a checkpoint of another run is refused. */
    rcfg.unordered = !!(jopts.flags & DLP_JOB_UNORDERED);
    rcfg.ref = ref;
    rcfg.sig = sig;
    if (args.nsrc)
        snprintf(sources, sizeof sources, "::: (%" PRIu64 " tasks)",
                 args.total);
    rcfg.input_name = args.nsrc ? sources : in.name;
    rcfg.input_fd = in.fd;
    if (!(run_out = output_open(1, "standard output", &sig_caught, 0))) {
        fprintf(stderr, "%s: out of memory\n", prog);
        status = EXIT_SETUP;
        goto out;
    }
    rcfg.out = output_stream(run_out);
    rcfg.halt_now_after = halt_when == HALT_NOW ? halt_fails : 0;
    rcfg.stored = stored_task;
    rcfg.stored_ud = &c;
    {
        char msg[1024];
        if (rec_open(&run_rec, &rcfg, msg, sizeof msg)) {
            say(msg);
            status = EXIT_SETUP;
            goto out;
        }
        if (rec_note(run_rec))
            say(rec_note(run_rec));
    }
    in.rec = run_rec;
    {
        size_t tasks = args.nsrc ? (size_t)args.total : small_input_tasks(&in);
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned want = popts.workers ? popts.workers
                                      : (unsigned)(cpus > 0 ? cpus : 1);
        if (tasks && tasks < want)
            popts.workers = (unsigned)tasks;
    }
    catch_signals();
    if ((rc = dlp_pool_create(&pool, &popts, &err))) {
        status = setup_failed(err.msg);
        goto out;
    }
    sig_pool = pool;
    if (sig_caught)
        dlp_pool_interrupt(pool); /* a signal came during start-up */
    if ((fn = dlp_pool_fn(pool, ref, sig, &err)) < 0) {
        status = setup_failed(err.msg);
        goto out;
    }
    in.sig = dlp_pool_fn_sig(pool, fn);
    in.array_arg = in.sig->nargs == 1 && DLP_T_IS_ARRAY(in.sig->args[0]);
    if (args.nsrc && args.nsrc != in.sig->nargs) {
        fprintf(stderr, "%s: %s takes %u argument%s, got %u source%s of "
                "arguments (one ::: or :::: FILE per argument)\n",
                prog, ref, in.sig->nargs, in.sig->nargs == 1 ? "" : "s",
                args.nsrc, args.nsrc == 1 ? "" : "s");
        status = EXIT_SETUP;
        goto out;
    }
    if (!args.nsrc) {
        jopts.flags |= DLP_JOB_WAIT_FD;
        jopts.wait_fd = in.fd;
    }
    jopts.flags |= rec_job_flags(run_rec);
    if ((rc = dlp_job_create(&job, pool, fn,
                             args.nsrc ? next_arg_task : next_task,
                             args.nsrc ? (void *)&args : (void *)&in, &jopts,
                             &err))) {
        status = setup_failed(err.msg);
        goto out;
    }
    if (rec_start(run_rec)) {
        say(rec_error(run_rec));
        status = EXIT_SETUP;
        goto out;
    }
    if (show_progress == 1 || (show_progress < 0 && isatty(2)))
        start_progress(&in, &args, job);
    for (;;) {
        dlp_result r;
        rc = dlp_job_next_timeout(job, &r, rec_wait(run_rec), &err);
        if (rc == -ETIMEDOUT) {
            rec_idle(run_rec); /* a pause: the files are flushed */
            continue;
        }
        if (rc == -EINTR && !sig_caught && progress_tick())
            continue; /* a redraw of the progress line */
        if (rc <= 0)
            break;
        progress_before_output();
        if (write_result(&r, &c))
            break; /* a file of records.c cannot be written */
        progress_update(c.ok + c.failed, c.failed);
        if (in.paused)
            output_flush(run_out);
        if (output_error(run_out))
            break;
        /* Failures written, in output order (with --checkpoint, results
         * come as they finish and are put in order by records.c). */
        if (halt_when != HALT_NEVER && !halted &&
            rec_failures(run_rec) >= halt_fails) {
            halted = 1;
            if (halt_when == HALT_NOW)
                break;
            in.stop = 1; /* soon: read no more input, finish the rest */
        }
    }
    /* A rerun whose checkpoint already holds the failures that halt it
     * stops on stored lines alone (records.c writes no line past them):
     * it halted all the same, and says so. */
    if (halt_when != HALT_NEVER && !halted && rc >= 0 &&
        rec_failures(run_rec) >= halt_fails)
        halted = 1;
    progress_end(); /* before the results and messages that follow */
    output_flush(run_out);
    /* Stopped by a signal: a write it cut short (EINTR) is part of that
     * stop, and so is a reader gone meanwhile (EPIPE: Ctrl-C ends every
     * process of the pipeline, the reader too): the signal's status and
     * message win over 141. */
    by_signal = sig_caught && (rc == -EINTR || output_error(run_out) == EINTR ||
                               output_error(run_out) == EPIPE);
    if (output_error(run_out) && !by_signal) {
        /* The reader went away (| head), or the output cannot be
         * written: stop, but reap the workers first. */
        status = output_failed();
        out_said = 1;
        if (rec_error(run_rec)) /* a file of the run failed too */
            say(rec_error(run_rec));
        goto out;
    }
    if (by_signal) {
        /* Hand out what has already finished, in order, then say what was
         * not run. */
        dlp_result r;
        int prc, ticks = 0;
        /* A progress tick may have interrupted the pool once more: that
         * is no reason to stop handing out what has finished. */
        while (((prc = dlp_job_poll(job, &r, NULL)) == 1 ||
                (prc == -EINTR && ++ticks < 4)) &&
               !output_error(run_out))
            if (prc == 1)
                write_result(&r, &c);
        rec_finish(run_rec, 1);
        output_flush(run_out);
        say_not_run(sig_caught == SIGINT ? "interrupted by SIGINT"
                                         : "terminated by SIGTERM",
                    job, &in, rec_written(run_rec) - output_lost(run_out));
        if (rec_error(run_rec))
            say(rec_error(run_rec));
        status = 128 + sig_caught;
        goto out;
    }
    /* The lines whose turn has come (not after --halt now); the files
     * flushed and closed. */
    rec_finish(run_rec, !(halted && halt_when == HALT_NOW));
    output_flush(run_out);
    if (halted) {
        char why[96];
        snprintf(why, sizeof why, "halted (%s, fail=%" PRIu64 ")",
                 halt_when == HALT_NOW ? "now" : "soon", halt_fails);
        say_not_run(why, job, &in, rec_written(run_rec));
    }
    if (rc < 0 || rec_error(run_rec)) {
        if (in.io_errno)
            fprintf(stderr, "%s: reading %s: %s\n", prog, in.name,
                    strerror(in.io_errno));
        else if (rec_error(run_rec))
            say(rec_error(run_rec));
        else
            say(err.msg);
        status = EXIT_SETUP;
    } else {
        written_counts(run_rec, &c);
        if (c.failed) {
            say_failures(&c);
            status = EXIT_TASKS_FAILED;
        }
    }
out:
    progress_end();
    /* The files flushed and closed after a run that stopped early (the
     * output failed): a file that cannot be written is said too. */
    if (run_rec && !rec_error(run_rec) && rec_finish(run_rec, 0)) {
        say(rec_error(run_rec));
        if (status < EXIT_SETUP || status == 128 + SIGPIPE)
            status = EXIT_SETUP;
    }
    rec_close(run_rec); /* after a failure too: the checkpoint is flushed */
    run_rec = NULL;
    dlp_job_destroy(job);
    sig_pool = NULL;
    dlp_pool_destroy(pool);
    free(in.buf);
    cmdline_args = NULL;
    free_sources(&args);
    if (in.fd > 0)
        close(in.fd);
    /* The last lines (a failure that stopped the run early leaves some);
     * a write cut short by the signal that ended the run is no failure. */
    if (run_out && !out_said && output_flush(run_out) && !by_signal &&
        output_error(run_out) != EINTR)
        status = output_failed();
    output_close(run_out);
    run_out = NULL;
    return status;
}

static void print_fn(void *ud, const char *name, const char *sig)
{
    fprintf((FILE *)ud, "%s\t%s\n", name, sig);
}

/* --json: the functions as [{"name":..., "signature":...}, ...]. */
typedef struct fn_list {
    json_t *fns;
    int failed; /* out of memory: the list is short */
} fn_list;

static void json_fn(void *ud, const char *name, const char *sig)
{
    fn_list *l = ud;
    json_t *f = json_pack("{s:s, s:s}", "name", name, "signature", sig);
    if (!f || json_array_append_new(l->fns, f))
        l->failed = 1;
}

static int cmd_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    dlp_error err = {0, ""};
    char *name = NULL, *lines = NULL;
    size_t len = 0;
    unsigned abi = 0;
    FILE *mem;
    fn_list l = {NULL, 0};
    int rc, opt, as_json = 0;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'J':
            as_json = 1;
            break;
        case 'h':
            usage(stdout);
            return stdout_written();
        default:
            die_usage("inspect: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (argc - optind != 1)
        die_usage("inspect: expected one PLUGIN");
    if (as_json) {
        json_t *out;
        if (!(l.fns = json_array()))
            die_setup("out of memory");
        rc = dlp_plugin_inspect(argv[optind], NULL, &name, &abi, json_fn,
                                &l, &err);
        if (rc) {
            say(err.msg);
            json_decref(l.fns);
            return EXIT_SETUP;
        }
        out = l.failed ? NULL : json_object();
        if (!out) {
            json_decref(l.fns);
        } else if (json_object_set_new(out, "plugin",
                                       json_string(argv[optind])) |
                   json_object_set_new(out, "name", json_string(name)) |
                   json_object_set_new(out, "abi", json_integer(abi)) |
                   json_object_set_new(out, "functions", l.fns)) {
            /* Each set was made (| evaluates them all), and each took its
             * value over, also when it failed. */
            json_decref(out);
            out = NULL;
        }
        free(name);
        if (!out || json_dumpf(out, stdout, JSON_COMPACT) ||
            putchar('\n') == EOF) {
            json_decref(out);
            fprintf(stderr, "%s: inspect: cannot write the JSON: %s\n", prog,
                    out ? strerror(errno) : "out of memory");
            return EXIT_SETUP;
        }
        json_decref(out);
        return stdout_written();
    }
    /* Collect the lines first, so a failure prints nothing on stdout. */
    if (!(mem = open_memstream(&lines, &len))) {
        say(strerror(errno));
        return EXIT_SETUP;
    }
    rc = dlp_plugin_inspect(argv[optind], NULL, &name, &abi, print_fn, mem,
                            &err);
    fclose(mem);
    if (rc) {
        say(err.msg);
        free(lines);
        return EXIT_SETUP;
    }
    printf("# plugin %s, manifest ABI %u\n%s", name, abi, lines);
    free(name);
    free(lines);
    return stdout_written();
}

/*
 * Descriptors 0-2 made valid before anything is opened, so that none of
 * the command's own files (input, checkpoint, job log, trace) ever takes
 * one and gets results or messages written into it.  A closed one gets
 * /dev/null opened the other way round for standard input and output:
 * reading or writing it fails (EBADF), and the command says so (a closed
 * output is a write error, status 2).  A closed standard error gets
 * /dev/null for writing: messages vanish, as they would have.
 */
static void open_std_fds(void)
{
    static const int mode[3] = {O_WRONLY, O_RDONLY, O_WRONLY};
    for (int fd = 0; fd < 3; fd++) {
        int got;
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        /* The lowest free descriptor: this one, the lower being valid. */
        got = open("/dev/null", mode[fd]);
        if (got != fd) {
            if (fcntl(2, F_GETFD) >= 0)
                fprintf(stderr, "%s: descriptor %d is closed and /dev/null "
                        "cannot be opened in its place: %s\n", prog, fd,
                        got < 0 ? strerror(errno) : "took another number");
            exit(EXIT_SETUP);
        }
    }
}

/* Messages go through a writer of ours too, so that a non-blocking
 * standard error that is full is waited on instead of losing them; a
 * worker (a fork) gets back the stream its plugin expects. */
static FILE *stderr_stdio;

static void stderr_in_child(void)
{
    stderr = stderr_stdio;
}

static void stderr_through_writer(void)
{
    static output *err_out;
    if (!(err_out = output_open(2, "standard error", &sig_caught, 1)))
        return;
    stderr_stdio = stderr;
    if (pthread_atfork(NULL, NULL, stderr_in_child) == 0)
        stderr = output_stream(err_out);
}

int main(int argc, char **argv)
{
    open_std_fds();
    stderr_through_writer();
    if (argc < 2)
        die_usage("missing command");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return stdout_written();
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("dlpool %s\n", DLPOOL_VERSION_STRING);
        return stdout_written();
    }
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "inspect"))
        return cmd_inspect(argc - 1, argv + 1);
    die_usage("unknown command '%s'", argv[1]);
}
