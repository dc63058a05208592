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
#include <signal.h>
#include <unistd.h>

#include <jansson.h>

#include "dlpool.h"

#define EXIT_TASKS_FAILED 1
#define EXIT_SETUP 2

static const char *prog = "dlpool";

static void usage(FILE *to)
{
    fprintf(to,
            "Usage: dlpool run [OPTIONS] PLUGIN:FUNCTION [INPUT]\n"
            "       dlpool inspect PLUGIN\n"
            "       dlpool --help | --version\n"
            "\n"
            "Map FUNCTION of a plugin over JSON Lines in a pool of worker\n"
            "processes.  Each input line is one task: a JSON array of the\n"
            "arguments (or a bare value for a one-argument function).  Each\n"
            "result is one line on standard output, in input order.\n"
            "\n"
            "run options:\n"
            "  -j, --jobs N       worker processes (default: online CPUs)\n"
            "      --sig SIG      signature of a function with no manifest\n"
            "                     entry, e.g. 'f64(f64)' for libm.so.6:cbrt\n"
            "      --unordered    print results as they finish\n"
            "      --timeout S    fail a task running over S seconds\n"
            "      --retries N    rerun a task whose worker died, N times\n"
            "      --halt POLICY  never | now,fail=N | soon,fail=N\n"
            "      --max-tasks-per-worker N, --memory-limit SIZE,\n"
            "      --restarts R/T (see the README)\n"
            "\n"
            "PLUGIN is a path (with a '/'), or a name searched in\n"
            "DLPOOL_PLUGIN_PATH, then %s, then the\n"
            "system's library path.  INPUT defaults to standard input.\n"
            "\n"
            "A failed task prints {\"error\": MESSAGE, \"index\": N} in its\n"
            "place and the message on standard error.\n"
            "Exit status: 0 all tasks succeeded, 1 some failed (or --halt),\n"
            "2 usage or set-up error, 130/143 SIGINT/SIGTERM, 141 output\n"
            "closed.\n",
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
    int eof;
    const dlp_sig *sig;
    int io_errno;
    int paused; /* the input has made us wait: do not hold results back */
    int stop;   /* read no more (--halt soon) */
} input;

#define INPUT_PAUSE 2

/* The next line (without its newline) in *line, *len: returns 1, 0 at the
 * end of the input, -errno on a read error, or INPUT_PAUSE when may_pause
 * is set and no whole line can be had without blocking. */
static int read_line(input *in, const char **line, size_t *len,
                     int may_pause)
{
    for (;;) {
        char *nl = in->end > in->start
                       ? memchr(in->buf + in->start, '\n', in->end - in->start)
                       : NULL;
        if (nl) {
            *line = in->buf + in->start;
            *len = (size_t)(nl - *line);
            in->start = (size_t)(nl - in->buf) + 1;
            return 1;
        }
        if (in->eof) {
            if (in->end == in->start)
                return 0;
            *line = in->buf + in->start; /* a last line with no newline */
            *len = in->end - in->start;
            in->start = in->end;
            return 1;
        }
        if (in->start) {
            memmove(in->buf, in->buf + in->start, in->end - in->start);
            in->end -= in->start;
            in->start = 0;
        }
        if (in->end == in->cap) {
            size_t cap = in->cap ? in->cap * 2 : 1 << 16;
            char *b = realloc(in->buf, cap);
            if (!b)
                return -ENOMEM;
            in->buf = b;
            in->cap = cap;
        }
        if (may_pause) {
            struct pollfd pfd = {in->fd, POLLIN, 0};
            if (poll(&pfd, 1, 0) == 0)
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
 * literals ("too big integer"), which a u64 argument above 2^63-1 needs.
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

/* An integer literal too big for jansson, given to argument k. */
static int put_big_int(dlp_args *a, unsigned k, const numtok *t)
{
    char buf[64], *end;
    dlp_type want = dlp_args_next_type(a);
    if (t->len >= sizeof buf)
        return dlp_args_fail(a, "argument %u (%s): %.40s... is out of "
                                "range",
                             k, dlp_type_name(want), t->p);
    memcpy(buf, t->p, t->len);
    buf[t->len] = 0;
    errno = 0;
    if (want == DLP_T_F32 || want == DLP_T_F64)
        return dlp_args_double(a, strtod(buf, NULL));
    if (buf[0] != '-') {
        unsigned long long u = strtoull(buf, &end, 10);
        if (errno == 0 && !*end)
            return dlp_args_uint(a, u);
    }
    return dlp_args_fail(a, "argument %u (%s): %s is out of range", k,
                         dlp_type_name(want), buf);
}

static int put_arg(dlp_args *a, unsigned k, const json_t *v, numscan *ns)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        return dlp_args_int(a, (int64_t)json_integer_value(v));
    case JSON_REAL:
        if (ns) {
            /* Reparsed line: every number is a real; its literal says
             * whether it was an integer. */
            const numtok *t = ns->next < ns->n ? &ns->t[ns->next++] : NULL;
            if (t && t->is_int) {
                char *end;
                errno = 0;
                long long i = strtoll(t->p, &end, 10);
                if (errno == 0 && end == t->p + t->len)
                    return dlp_args_int(a, i);
                return put_big_int(a, k, t);
            }
        }
        return dlp_args_double(a, json_real_value(v));
    case JSON_TRUE:
        return dlp_args_bool(a, true);
    case JSON_FALSE:
        return dlp_args_bool(a, false);
    case JSON_STRING:
        return dlp_args_str(a, json_string_value(v), json_string_length(v));
    default:
        return dlp_args_fail(a, "argument %u (%s): expected %s, got %s", k,
                             dlp_type_name(dlp_args_next_type(a)),
                             dlp_args_next_type(a) == DLP_T_BOOL
                                 ? "true or false"
                                 : "a scalar value",
                             json_kind(v));
    }
}

static int next_task(void *ud, uint64_t index, dlp_args *a)
{
    input *in = ud;
    json_error_t jerr;
    json_t *v;
    const char *line = NULL;
    size_t n = 0, i = 0;
    numscan nums = {NULL, 0, 0}, *ns = NULL;
    int rc;
    (void)index;

    if (in->stop)
        return 0;
    rc = read_line(in, &line, &n, 1);
    if (rc == INPUT_PAUSE) {
        /* Input is slow: from now on results are written as they come. */
        in->paused = 1;
        fflush(stdout);
        return DLP_ITER_PAUSE;
    }
    if (rc < 0) {
        in->io_errno = -rc;
        return -EIO;
    }
    if (rc == 0)
        return 0;
    if (n > 0 && line[n - 1] == '\r')
        n--;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == n) {
        dlp_args_fail(a, "empty line");
        return 1;
    }
    v = json_loadb(line, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v && strstr(jerr.text, "too big integer")) {
        json_error_t again;
        v = json_loadb(line, n,
                       JSON_DECODE_ANY | JSON_ALLOW_NUL |
                           JSON_DECODE_INT_AS_REAL,
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
    if (json_is_array(v)) {
        size_t len = json_array_size(v);
        if (len != in->sig->nargs)
            dlp_args_fail(a, "expected %u argument%s, got %zu",
                          in->sig->nargs, in->sig->nargs == 1 ? "" : "s",
                          len);
        for (i = 0; i < len; i++)
            if (put_arg(a, (unsigned)i + 1, json_array_get(v, i), ns))
                break;
    } else if (in->sig->nargs == 1) {
        put_arg(a, 1, v, ns);
    } else {
        dlp_args_fail(a, "expected a JSON array of %u argument%s, got %s",
                      in->sig->nargs, in->sig->nargs == 1 ? "" : "s",
                      json_kind(v));
    }
    json_decref(v);
    free(nums.t);
    return 1;
}

/* ---- writing results ------------------------------------------------- */

/* Write s as a JSON string.  Text that is not UTF-8 is refused (returns
 * -1) unless lossy is set, when invalid bytes become '?'. */
static int put_json_string(FILE *out, const char *s, size_t len, int lossy)
{
    json_t *j = json_stringn(s, len);
    if (!j && lossy) {
        char *copy = malloc(len ? len : 1);
        if (!copy)
            return -1;
        for (size_t i = 0; i < len; i++)
            copy[i] = (s[i] & 0x80) ? '?' : s[i];
        j = json_stringn(copy, len);
        free(copy);
    }
    if (!j)
        return -1;
    json_dumpf(j, out, JSON_ENCODE_ANY);
    json_decref(j);
    return 0;
}

/* Print a double so that it reads back to the same value. */
static void put_double(FILE *out, double d, int is_f32)
{
    char buf[64];
    if (!isfinite(d)) {
        fputs("null", out); /* JSON has no NaN or infinity */
        return;
    }
    /* Most doubles need 15 to 17 digits; subnormals have fewer bits and
     * may need far fewer, so search those from 1. */
    int from = is_f32 ? 6 : fabs(d) < DBL_MIN ? 1 : 15;
    for (int prec = from; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (is_f32 ? (float)strtod(buf, NULL) == (float)d
                   : strtod(buf, NULL) == d)
            break;
    }
    fputs(buf, out);
    if (!strpbrk(buf, ".e"))
        fputs(".0", out);
}

typedef struct counts {
    uint64_t ok, failed;
    uint64_t by_kind[DLP_FAIL_TIMEOUT + 1];
} counts;

static void put_error(FILE *out, const dlp_result *r, const char *msg)
{
    char line[64] = "";
    if (r->fail == DLP_FAIL_INPUT)
        snprintf(line, sizeof line, "line %" PRIu64 ": ", r->index + 1);
    fputs("{\"error\":", out);
    {
        size_t n = strlen(line) + strlen(msg);
        char *full = malloc(n + 1);
        if (full) {
            snprintf(full, n + 1, "%s%s", line, msg);
            put_json_string(out, full, n, 1);
            free(full);
        } else {
            put_json_string(out, msg, strlen(msg), 1);
        }
    }
    fprintf(out, ",\"index\":%" PRIu64 "}\n", r->index);
    fflush(out);
    fprintf(stderr, "%s: task %" PRIu64 " (line %" PRIu64 "): %s\n", prog,
            r->index, r->index + 1, msg);
}

static void put_result(FILE *out, const dlp_result *r, counts *c)
{
    if (r->fail) {
        put_error(out, r, r->error);
        c->failed++;
        if ((unsigned)r->fail <= DLP_FAIL_TIMEOUT)
            c->by_kind[r->fail]++;
        return;
    }
    switch (r->type) {
    case DLP_T_VOID:
        fputs("null\n", out);
        break;
    case DLP_T_BOOL:
        fputs(r->v.b ? "true\n" : "false\n", out);
        break;
    case DLP_T_F32:
    case DLP_T_F64:
        put_double(out, r->v.f, r->type == DLP_T_F32);
        fputc('\n', out);
        break;
    case DLP_T_STR:
        if (put_json_string(out, r->v.s.ptr, r->v.s.len, 0)) {
            dlp_result bad = *r;
            bad.fail = DLP_FAIL_RESULT;
            put_error(out, &bad, "the result is not valid UTF-8 text");
            c->failed++;
            c->by_kind[DLP_FAIL_RESULT]++;
            return;
        }
        fputc('\n', out);
        break;
    case DLP_T_I8:
    case DLP_T_I16:
    case DLP_T_I32:
    case DLP_T_I64:
        fprintf(out, "%" PRId64 "\n", r->v.i);
        break;
    default:
        fprintf(out, "%" PRIu64 "\n", r->v.u);
        break;
    }
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
    /* SA_RESTART: a write of results in progress completes (no half
     * line); waiting in the pool is cut short by dlp_pool_interrupt. */
    sa.sa_flags = SA_RESTART;
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
                n.pulled + 1);
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
    int halt_when = HALT_NEVER, halted = 0;
    uint64_t halt_fails = 0;
    static char outbuf[1 << 16];

    memset(&c, 0, sizeof c);
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
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            die_usage("run: option '%s' needs a value", argv[optind - 1]);
        default:
            die_usage("run: unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        die_usage("run: missing PLUGIN:FUNCTION");
    ref = argv[optind++];
    if (optind < argc)
        path = argv[optind++];
    if (optind < argc)
        die_usage("run: unexpected argument '%s'", argv[optind]);
    if (!strchr(ref, ':'))
        die_usage("run: '%s' is not PLUGIN:FUNCTION", ref);
    if (sig) {
        dlp_sig parsed;
        if (dlp_sig_parse(sig, &parsed, &err)) {
            fprintf(stderr, "%s: --sig: %s\n", prog, err.msg);
            return EXIT_SETUP;
        }
    }

    memset(&in, 0, sizeof in);
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

    catch_signals();
    if ((rc = dlp_pool_create(&pool, &popts, &err))) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        status = EXIT_SETUP;
        goto out;
    }
    sig_pool = pool;
    if (sig_caught)
        dlp_pool_interrupt(pool); /* a signal came during start-up */
    if ((fn = dlp_pool_fn(pool, ref, sig, &err)) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        status = EXIT_SETUP;
        goto out;
    }
    in.sig = dlp_pool_fn_sig(pool, fn);
    jopts.flags |= DLP_JOB_WAIT_FD;
    jopts.wait_fd = in.fd;
    if ((rc = dlp_job_create(&job, pool, fn, next_task, &in, &jopts,
                             &err))) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        status = EXIT_SETUP;
        goto out;
    }
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    for (;;) {
        dlp_result r;
        rc = dlp_job_next(job, &r, &err);
        if (rc <= 0)
            break;
        put_result(stdout, &r, &c);
        if (in.paused)
            fflush(stdout);
        if (ferror(stdout))
            break;
        if (halt_when != HALT_NEVER && !halted && c.failed >= halt_fails) {
            halted = 1;
            if (halt_when == HALT_NOW)
                break;
            in.stop = 1; /* soon: read no more input, finish the rest */
        }
    }
    fflush(stdout);
    if (ferror(stdout)) {
        /* The reader went away (| head): stop quietly, as a SIGPIPE
         * would, but reap the workers first. */
        status = 128 + SIGPIPE;
        goto out;
    }
    if (rc == -EINTR && sig_caught) {
        /* Hand out what has already finished, in order, then say what was
         * not run. */
        dlp_result r;
        while (dlp_job_poll(job, &r, NULL) == 1 && !ferror(stdout))
            put_result(stdout, &r, &c);
        fflush(stdout);
        say_not_run(sig_caught == SIGINT ? "interrupted by SIGINT"
                                         : "terminated by SIGTERM",
                    job, &in, c.ok + c.failed);
        status = 128 + sig_caught;
        goto out;
    }
    if (halted) {
        char why[96];
        snprintf(why, sizeof why, "halted (%s, fail=%" PRIu64 ")",
                 halt_when == HALT_NOW ? "now" : "soon", halt_fails);
        say_not_run(why, job, &in, c.ok + c.failed);
    }
    if (rc < 0) {
        if (in.io_errno)
            fprintf(stderr, "%s: reading %s: %s\n", prog, in.name,
                    strerror(in.io_errno));
        else
            fprintf(stderr, "%s: %s\n", prog, err.msg);
        status = EXIT_SETUP;
    } else if (c.failed) {
        static const char *const names[] = {
            "", "plugin error", "bad input", "killed by a signal",
            "exited", "bad result", "worker lost", "timed out"};
        fprintf(stderr, "%s: %" PRIu64 " of %" PRIu64 " tasks failed (",
                prog, c.failed, c.failed + c.ok);
        for (unsigned k = 1, first = 1; k <= DLP_FAIL_TIMEOUT; k++) {
            if (c.by_kind[k]) {
                fprintf(stderr, "%s%" PRIu64 " %s", first ? "" : ", ",
                        c.by_kind[k], names[k]);
                first = 0;
            }
        }
        fprintf(stderr, ")\n");
        status = EXIT_TASKS_FAILED;
    }
out:
    dlp_job_destroy(job);
    sig_pool = NULL;
    dlp_pool_destroy(pool);
    free(in.buf);
    if (in.fd > 0)
        close(in.fd);
    if (status != 128 + SIGPIPE && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "%s: writing results: %s\n", prog, strerror(errno));
        status = EXIT_SETUP;
    }
    return status;
}

static void print_fn(void *ud, const char *name, const char *sig)
{
    fprintf((FILE *)ud, "%s\t%s\n", name, sig);
}

static int cmd_inspect(int argc, char **argv)
{
    dlp_error err = {0, ""};
    char *name = NULL, *lines = NULL;
    size_t len = 0;
    unsigned abi = 0;
    FILE *mem;
    int rc;
    if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (argc != 2)
        die_usage("inspect: expected one PLUGIN");
    /* Collect the lines first, so a failure prints nothing on stdout. */
    if (!(mem = open_memstream(&lines, &len))) {
        fprintf(stderr, "%s: %s\n", prog, strerror(errno));
        return EXIT_SETUP;
    }
    rc = dlp_plugin_inspect(argv[1], NULL, &name, &abi, print_fn, mem, &err);
    fclose(mem);
    if (rc) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        free(lines);
        return EXIT_SETUP;
    }
    printf("# plugin %s, manifest ABI %u\n%s", name, abi, lines);
    free(name);
    free(lines);
    return fflush(stdout) ? EXIT_SETUP : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die_usage("missing command");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("dlpool %s\n", DLPOOL_VERSION_STRING);
        return 0;
    }
    if (!strcmp(argv[1], "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "inspect"))
        return cmd_inspect(argc - 1, argv + 1);
    die_usage("unknown command '%s'", argv[1]);
}
